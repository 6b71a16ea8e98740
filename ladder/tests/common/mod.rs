//! Helpers shared by the ladder's integration tests.

use dfdx::nn::tensor_collection::{RecursiveWalker, TensorOptions, TensorVisitor, ViewTensorMut};
use dfdx::prelude::*;
use ladder::Ladder;

/// Every parameter gradient of `ladder` in `grads`, in visiting order (zeros for a parameter
/// the pass does not use, such as the unused tenth slot of "sig").
pub fn gradient_values(ladder: &Ladder, grads: &mut Gradients<f32, Cpu>) -> Vec<Vec<f32>> {
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
            _: TensorOptions<S, f32, Cpu>,
            p: &mut Tensor<S, f32, Cpu>,
        ) -> Result<Option<Tensor<S, f32, Cpu>>, Self::Err> {
            self.out.push(self.grads.get_or_alloc_mut(p)?.to_vec());
            Ok(None)
        }
    }
    let mut model = ladder.clone();
    let mut visitor = Collect {
        grads,
        out: Vec::new(),
    };
    Ladder::iter_tensors(&mut RecursiveWalker {
        m: &mut model,
        f: &mut visitor,
    })
    .unwrap();
    visitor.out
}
