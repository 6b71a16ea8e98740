//! Fused CPU kernels of the corrupted pass as dfdx ops (the training steps' hot path until the
//! whole-pass kernels of [`crate::fast`] replaced the dfdx graph in training; kept as the
//! dfdx-graph version of the pass, which `Ladder::corrupted` runs and the tests compare with).
//!
//! dfdx runs each elementwise op as its own single-threaded pass that allocates its output and
//! reduces broadcast parameters with a generic strided iterator in its backward pass. These
//! kernels do a layer's non-matmul work in one forward and one backward pass, in parallel over
//! fixed blocks of [`ROWS_PER_TASK`] rows (fixed, so that results do not depend on the number
//! of threads). They compute the same functions as the op-by-op versions
//! ([`crate::model::Kernels::Reference`]); `fused_pass_matches_the_op_by_op_reference` in
//! `ladder/tests/whole_model.rs` holds them to it.

use crate::bn::{backward_segments, normalize_segments};
use crate::shapes::Rows;
use dfdx::prelude::*;
use rayon::prelude::*;

/// Rows per parallel task.
pub const ROWS_PER_TASK: usize = 16;

/// Encoder layer l ≥ 1 of the corrupted pass (spec, corrupted pass steps 2–4) as one op:
/// the lateral z̃ = BN_groups(pre) + noise, and h̃ = ReLU(z̃ + β). Returns (z̃, h̃); z̃ carries the
/// tape with this op, h̃ an empty tape (as `with_empty_tape` gives), so both can be used downstream.
/// `noise` holds rows × N values already scaled by the noise std, drawn by the caller in the
/// order of the op-by-op version.
pub fn corrupt_and_activate<const N: usize, T: Tape<f32, Cpu>>(
    pre: Rows<N, T>,
    beta: &Tensor<Rank1<N>, f32, Cpu>,
    segments: &[usize],
    eps: f32,
    noise: &[f32],
) -> (Rows<N, T>, Rows<N, T>) {
    let (pre, mut tape) = pre.split_tape();
    let rows = pre.shape().0;
    assert_eq!(noise.len(), rows * N, "one noise value per element");
    let mut y = pre.as_vec();
    let (_, inv_std) = normalize_segments(&mut y, N, segments, eps);
    let b = beta.as_vec();
    let mut zt = vec![0f32; rows * N];
    let mut h = vec![0f32; rows * N];
    let block = ROWS_PER_TASK * N;
    zt.par_chunks_mut(block)
        .zip(h.par_chunks_mut(block))
        .zip(y.par_chunks(block).zip(noise.par_chunks(block)))
        .for_each(|((zt, h), (y, noise))| {
            for (((zt, h), y), noise) in zt
                .chunks_exact_mut(N)
                .zip(h.chunks_exact_mut(N))
                .zip(y.chunks_exact(N))
                .zip(noise.chunks_exact(N))
            {
                for c in 0..N {
                    zt[c] = y[c] + noise[c];
                    h[c] = (zt[c] + b[c]).max(0.0);
                }
            }
        });
    let dev = pre.device().clone();
    let zt = dev.tensor_from_vec(zt, (rows, Const::<N>));
    let h = dev.tensor_from_vec(h, (rows, Const::<N>));
    if T::OWNS_TAPE {
        let (zt_out, h_out, beta) = (zt.clone(), h.clone(), beta.clone());
        let segments = segments.to_vec();
        tape.add_backward_op(move |grads| {
            // ∂L/∂y = ∂L/∂z̃ (lateral use) + ∂L/∂h̃ ⊙ [h̃ > 0]; ∂L/∂β = Σ_rows ∂L/∂h̃ ⊙ [h̃ > 0].
            let mut gy: Vec<f32> = grads.get_or_alloc_mut(&zt_out)?.to_vec();
            let gh: Vec<f32> = grads.get_or_alloc_mut(&h_out)?.to_vec();
            let hv = h_out.as_vec();
            gy.par_chunks_mut(block)
                .zip(gh.par_chunks(block).zip(hv.par_chunks(block)))
                .for_each(|(gy, (gh, hv))| {
                    for ((gy, gh), hv) in gy.iter_mut().zip(gh).zip(hv) {
                        if *hv > 0.0 {
                            *gy += gh;
                        }
                    }
                });
            let mut gb = vec![0f32; N];
            for (gh, hv) in gh.chunks_exact(N).zip(hv.chunks_exact(N)) {
                for c in 0..N {
                    if hv[c] > 0.0 {
                        gb[c] += gh[c];
                    }
                }
            }
            add_into(grads.get_or_alloc_mut(&beta)?, &gb);
            let gx = grads.get_or_alloc_mut(&pre)?;
            backward_segments(&gy, &y, gx, N, &segments, &inv_std);
            Ok(())
        });
    }
    (zt.put_tape(tape), h.put_tape(T::default()))
}

/// h · Wᵀ whose backward computes only the weight gradient ∂L/∂W = gᵀ·h, not the input
/// gradient: for the first encoder layer when nothing upstream of the input is trained
/// (the LN step and the D step; the G step needs the input gradient and uses
/// [`crate::model::Projection::apply`]). Saves one of the step's largest matmuls.
pub fn project_without_input_grad<const I: usize, const O: usize, T: Tape<f32, Cpu>>(
    weight: &Tensor<Rank2<O, I>, f32, Cpu>,
    h: Rows<I, T>,
) -> Rows<O, T> {
    let (h, mut tape) = h.split_tape();
    let out = h.clone().matmul(weight.clone().permute());
    if T::OWNS_TAPE {
        let (out_ghost, weight) = (out.clone(), weight.clone());
        tape.add_backward_op(move |grads| {
            let rows = out_ghost.shape().0;
            let g: Vec<f32> = grads.get_or_alloc_mut(&out_ghost)?.to_vec();
            let g: Rows<O> = out_ghost.device().tensor_from_vec(g, (rows, Const::<O>));
            let gw = g.permute::<(Const<O>, usize), _>().matmul(h.clone());
            add_into(grads.get_or_alloc_mut(&weight)?, &gw.as_vec());
            Ok(())
        });
    }
    out.put_tape(tape)
}

pub(crate) fn add_into(dst: &mut [f32], src: &[f32]) {
    dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
}
