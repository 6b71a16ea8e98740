//! Helpers shared by the ladder's integration tests.

use dfdx::nn::tensor_collection::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut,
};
use dfdx::prelude::*;

/// Every trainable parameter's gradient of `model` (the ladder or the generator) in `grads`, in
/// visiting order (zeros for a parameter the pass does not use, such as the unused tenth slot
/// of "sig").
pub fn gradient_values<M: TensorCollection<f32, Cpu> + Clone>(
    model: &M,
    grads: &mut Gradients<f32, Cpu>,
) -> Vec<Vec<f32>> {
    struct Collect<'a> {
        grads: &'a mut Gradients<f32, Cpu>,
        out: Vec<Vec<f32>>,
    }
    impl TensorVisitor<f32, Cpu> for Collect<'_> {
        type Viewer = ViewTensorMut;
        type Err = <Cpu as HasErr>::Err;
        type E2 = f32;
        type D2 = Cpu;
        fn visit<S: Shape>(
            &mut self,
            opts: TensorOptions<S, f32, Cpu>,
            p: &mut Tensor<S, f32, Cpu>,
        ) -> Result<Option<Tensor<S, f32, Cpu>>, Self::Err> {
            if opts.do_gradient_update {
                self.out.push(self.grads.get_or_alloc_mut(p)?.to_vec());
            }
            Ok(None)
        }
    }
    let mut model = model.clone();
    let mut visitor = Collect {
        grads,
        out: Vec::new(),
    };
    M::iter_tensors(&mut RecursiveWalker {
        m: &mut model,
        f: &mut visitor,
    })
    .unwrap();
    visitor.out
}

#[allow(dead_code)] // not every test crate uses it
/// Sets every trainable parameter's gradient of `model` in `grads` from `flat` (in visiting
/// order, as [`ladder::fast::flatten`] lays the parameters out).
pub fn set_gradients<M: TensorCollection<f32, Cpu> + Clone>(
    model: &M,
    grads: &mut Gradients<f32, Cpu>,
    flat: &[f32],
) {
    struct Fill<'a> {
        grads: &'a mut Gradients<f32, Cpu>,
        flat: &'a [f32],
        pos: usize,
    }
    impl TensorVisitor<f32, Cpu> for Fill<'_> {
        type Viewer = ViewTensorMut;
        type Err = <Cpu as HasErr>::Err;
        type E2 = f32;
        type D2 = Cpu;
        fn visit<S: Shape>(
            &mut self,
            opts: TensorOptions<S, f32, Cpu>,
            p: &mut Tensor<S, f32, Cpu>,
        ) -> Result<Option<Tensor<S, f32, Cpu>>, Self::Err> {
            if opts.do_gradient_update {
                let g = self.grads.get_or_alloc_mut(p)?;
                let n = g.len();
                g.copy_from_slice(&self.flat[self.pos..self.pos + n]);
                self.pos += n;
            }
            Ok(None)
        }
    }
    let mut model = model.clone();
    let mut visitor = Fill {
        grads,
        flat,
        pos: 0,
    };
    M::iter_tensors(&mut RecursiveWalker {
        m: &mut model,
        f: &mut visitor,
    })
    .unwrap();
    assert_eq!(visitor.pos, flat.len(), "flat gradient size");
}
