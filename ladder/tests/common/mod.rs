//! Helpers shared by the ladder's integration tests.

use dfdx::nn::tensor_collection::TensorCollection;
use dfdx::prelude::*;

/// Every trainable parameter's gradient of `model` (the ladder or the generator) in `grads`, in
/// visiting order (zeros for a parameter the pass does not use, such as the unused tenth slot
/// of "sig").
pub fn gradient_values<M: TensorCollection<f32, Cpu>>(
    model: &M,
    grads: &mut Gradients<f32, Cpu>,
) -> Vec<Vec<f32>> {
    let mut out = Vec::new();
    ladder::params::for_each(model, |p| {
        if p.trainable() {
            out.push(p.grad_mut(grads).clone());
        }
    });
    out
}

#[allow(dead_code)] // not every test crate uses it
/// Sets every trainable parameter's gradient of `model` in `grads` from `flat` (in visiting
/// order, as [`ladder::fast::flatten`] lays the parameters out).
pub fn set_gradients<M: TensorCollection<f32, Cpu>>(
    model: &M,
    grads: &mut Gradients<f32, Cpu>,
    flat: &[f32],
) {
    let mut pos = 0;
    ladder::params::for_each(model, |p| {
        if p.trainable() {
            let g = p.grad_mut(grads);
            let n = g.len();
            g.copy_from_slice(&flat[pos..pos + n]);
            pos += n;
        }
    });
    assert_eq!(pos, flat.len(), "flat gradient size");
}
