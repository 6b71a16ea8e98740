//! LeakyReLU(α) as one custom op (dfdx 0.13 has none): y = x for x > 0, α·x otherwise;
//! ∂y/∂x = 1 or α (1 at x = 0⁺ only: the subgradient α is taken at 0). DCGAN discriminators
//! use α = 0.2 (Radford et al. 2016).

use dfdx::prelude::*;
use ladder::fast::values;
use rayon::prelude::*;

/// Elements per parallel task.
const CHUNK: usize = 1 << 14;

/// LeakyReLU of every element of `x`, any shape.
pub fn leaky_relu<S: Shape, T: Tape<f32, Cpu>>(
    x: Tensor<S, f32, Cpu, T>,
    alpha: f32,
) -> Tensor<S, f32, Cpu, T> {
    let (x, mut tape) = x.split_tape();
    let mut v = values(&x);
    v.par_chunks_mut(CHUNK).for_each(|c| {
        c.iter_mut().for_each(|e| {
            if *e <= 0.0 {
                *e *= alpha;
            }
        })
    });
    let y = x.device().tensor_from_vec(v, *x.shape());
    if T::OWNS_TAPE {
        let y_out = y.clone();
        tape.add_backward_op(move |grads| {
            let gy: Vec<f32> = grads.get_or_alloc_mut(&y_out)?.to_vec();
            let xv = values(&x);
            let gx = grads.get_or_alloc_mut(&x)?;
            gx.par_chunks_mut(CHUNK)
                .zip(gy.par_chunks(CHUNK).zip(xv.par_chunks(CHUNK)))
                .for_each(|(g, (d, xs))| {
                    for ((g, d), x) in g.iter_mut().zip(d).zip(xs) {
                        *g += if *x > 0.0 { *d } else { alpha * d };
                    }
                });
            Ok(())
        });
    }
    y.put_tape(tape)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values by hand, and the gradient of Σ w ⊙ y against central differences away from 0.
    #[test]
    fn values_and_gradient() {
        let dev = Cpu::default();
        let x = dev.tensor([-2.0f32, -0.5, 0.0, 0.25, 3.0]);
        assert_eq!(
            leaky_relu(x.clone(), 0.2).array(),
            [-0.4, -0.1, 0.0, 0.25, 3.0]
        );
        let w = dev.tensor([1.0f32, 2.0, 3.0, 4.0, 5.0]);
        let g = (leaky_relu(x.leaky_trace(), 0.2) * w.clone())
            .sum()
            .backward();
        // d/dx: w·α for x ≤ 0, w for x > 0.
        assert_eq!(g.get(&x).array(), [0.2, 0.4, 0.2 * 3.0, 4.0, 5.0]);
        let f = |v: f32| leaky_relu(dev.tensor([v]), 0.2).array()[0];
        for v in [-1.3f32, 0.7] {
            let fd = (f(v + 1e-2) - f(v - 1e-2)) / 2e-2;
            let an = if v > 0.0 { 1.0 } else { 0.2 };
            assert!((fd - an).abs() < 1e-4, "{v}: {fd}");
        }
    }
}
