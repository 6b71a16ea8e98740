//! One walk over a model's tensors with a closure, in dfdx's visiting order (the order of every
//! flat parameter vector, optimiser state and checkpoint in the project): [`for_each`] sees
//! each tensor read-only, [`for_each_mut`] lets the closure overwrite values and reach the
//! tensor's gradient entry. The closure gets the tensor behind [`Param`] / [`ParamMut`], so one
//! walk serves every shape (a dfdx `TensorVisitor` is generic over the shape; a closure is not).

use dfdx::nn::tensor_collection::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut, ViewTensorRef,
};
use dfdx::prelude::*;

/// A tensor of a model as the walks show it.
pub trait Param {
    /// Whether the optimiser updates it (false for batch-norm running statistics).
    fn trainable(&self) -> bool;
    /// Its number of dimensions (weights ≥ 2, biases and BN parameters 1).
    fn rank(&self) -> usize;
    /// Its number of values.
    fn len(&self) -> usize;
    /// Whether it holds no values.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Copies its values into `out` (length [`Param::len`]), in storage order.
    fn read_into(&self, out: &mut [f32]);
    /// Its values as a new vector.
    fn values(&self) -> Vec<f32> {
        let mut v = vec![0.0; self.len()];
        self.read_into(&mut v);
        v
    }
    /// Its entry of `grads`, allocated (zeros) when absent.
    fn grad_mut<'g>(&self, grads: &'g mut Gradients<f32, Cpu>) -> &'g mut Vec<f32>;
    /// A copy of its entry of `grads`.
    ///
    /// # Panics
    /// When `grads` has no entry for it (dfdx's `Gradients::get`).
    fn grad(&self, grads: &Gradients<f32, Cpu>) -> Vec<f32>;
}

/// A tensor the walk may overwrite.
pub trait ParamMut: Param {
    /// Overwrites its values from `src`.
    ///
    /// # Panics
    /// When `src.len()` differs from [`Param::len`].
    fn write(&mut self, src: &[f32]);
}

struct View<'t, S: Shape, T> {
    t: T,
    trainable: bool,
    shape: std::marker::PhantomData<&'t S>,
}

macro_rules! param_impl {
    ($t:ty) => {
        impl<'t, S: Shape> Param for View<'t, S, $t> {
            fn trainable(&self) -> bool {
                self.trainable
            }
            fn rank(&self) -> usize {
                S::NUM_DIMS
            }
            fn len(&self) -> usize {
                self.t.shape().num_elements()
            }
            fn read_into(&self, out: &mut [f32]) {
                self.t.copy_into(out);
            }
            fn grad_mut<'g>(&self, grads: &'g mut Gradients<f32, Cpu>) -> &'g mut Vec<f32> {
                grads
                    .get_or_alloc_mut(&*self.t)
                    .expect("CPU allocation cannot fail")
            }
            fn grad(&self, grads: &Gradients<f32, Cpu>) -> Vec<f32> {
                grads.get(&*self.t).as_vec()
            }
        }
    };
}
param_impl!(&'t Tensor<S, f32, Cpu>);
param_impl!(&'t mut Tensor<S, f32, Cpu>);

impl<'t, S: Shape> ParamMut for View<'t, S, &'t mut Tensor<S, f32, Cpu>> {
    fn write(&mut self, src: &[f32]) {
        self.t.copy_from(src);
    }
}

struct Walk<F>(F);

impl<F: FnMut(&dyn Param)> TensorVisitor<f32, Cpu> for Walk<F> {
    type Viewer = ViewTensorRef;
    type Err = <Cpu as HasErr>::Err;
    type E2 = f32;
    type D2 = Cpu;
    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, Cpu>,
        t: &Tensor<S, f32, Cpu>,
    ) -> Result<Option<Tensor<S, f32, Cpu>>, Self::Err> {
        (self.0)(&View {
            t,
            trainable: opts.do_gradient_update,
            shape: std::marker::PhantomData,
        });
        Ok(None)
    }
}

struct WalkMut<F>(F);

impl<F: FnMut(&mut dyn ParamMut)> TensorVisitor<f32, Cpu> for WalkMut<F> {
    type Viewer = ViewTensorMut;
    type Err = <Cpu as HasErr>::Err;
    type E2 = f32;
    type D2 = Cpu;
    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, Cpu>,
        t: &mut Tensor<S, f32, Cpu>,
    ) -> Result<Option<Tensor<S, f32, Cpu>>, Self::Err> {
        (self.0)(&mut View {
            t,
            trainable: opts.do_gradient_update,
            shape: std::marker::PhantomData,
        });
        Ok(None)
    }
}

/// Calls `f` on every tensor of `model` (trainable or not: check [`Param::trainable`]), in
/// visiting order.
pub fn for_each<M: TensorCollection<f32, Cpu>>(model: &M, f: impl FnMut(&dyn Param)) {
    M::iter_tensors(&mut RecursiveWalker {
        m: model,
        f: &mut Walk(f),
    })
    .expect("a CPU walk cannot fail");
}

/// Calls `f` on every tensor of `model`, which it may overwrite, in visiting order.
pub fn for_each_mut<M: TensorCollection<f32, Cpu>>(
    model: &mut M,
    f: impl FnMut(&mut dyn ParamMut),
) {
    M::iter_tensors(&mut RecursiveWalker {
        m: model,
        f: &mut WalkMut(f),
    })
    .expect("a CPU walk cannot fail");
}

#[cfg(test)]
mod tests {
    use super::*;

    type Net = (Linear<3, 2>, BatchNorm1D<2>);

    #[test]
    fn walks_visit_every_tensor_in_order_and_write_back() {
        let dev = Cpu::default();
        let mut net = dev.build_module::<Net, f32>();
        // Linear: weight (2, 3), bias (2); BatchNorm1D: scale, bias (trainable), running mean
        // and var (not).
        let mut seen = Vec::new();
        for_each(&net, |p| seen.push((p.rank(), p.len(), p.trainable())));
        assert_eq!(
            seen,
            [
                (2, 6, true),
                (1, 2, true),
                (1, 2, true),
                (1, 2, true),
                (1, 2, false),
                (1, 2, false)
            ]
        );
        let mut next = 0.0;
        for_each_mut(&mut net, |p| {
            let v: Vec<f32> = (0..p.len()).map(|i| next + i as f32).collect();
            next += 100.0;
            p.write(&v);
        });
        assert_eq!(net.0.weight.as_vec(), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(net.0.bias.as_vec(), [100.0, 101.0]);
        assert_eq!(net.1.running_var.as_vec(), [500.0, 501.0]);
        let mut read = Vec::new();
        for_each(&net, |p| read.extend(p.values()));
        assert_eq!(read.len(), 16);
        assert_eq!(read[6..8], [100.0, 101.0]);
    }

    #[test]
    fn grad_entries_are_the_tensors_own() {
        let dev = Cpu::default();
        let mut net = dev.build_module::<Linear<2, 1>, f32>();
        let mut grads = net.alloc_grads();
        let mut k = 0.0;
        for_each_mut(&mut net, |p| {
            k += 1.0;
            p.grad_mut(&mut grads).iter_mut().for_each(|g| *g = k);
        });
        assert_eq!(grads.get(&net.weight).as_vec(), [1.0, 1.0]);
        assert_eq!(grads.get(&net.bias).as_vec(), [2.0]);
        let mut back = Vec::new();
        for_each(&net, |p| back.push(p.grad(&grads)));
        assert_eq!(back, [vec![1.0, 1.0], vec![2.0]]);
    }
}
