//! y = x · W as a custom dfdx op through the `gemm` crate 0.19 (`ladder::fast::matmul`), which
//! reaches 97 GFLOP/s on one core here against 71 for dfdx's own matmul (gemm 0.15; `ebgan
//! bench`'s sgemm rows). Backward: ∂x += ∂y · Wᵀ, ∂W += xᵀ · ∂y, both read through strides
//! (no transposed copies). W's gradient is recorded on x's tape under W's identity, as dfdx's
//! own matmul does for a parameter without a tape.

use super::conv::Mat;
use dfdx::prelude::*;
use ladder::fast::{matmul, values};

/// x (m × k) · w (k × n) → (m × n).
///
/// # Panics
/// When the inner dimensions differ.
pub fn matmul_w<T: Tape<f32, Cpu>>(x: Mat<T>, w: &Mat) -> Mat<T> {
    let (x, mut tape) = x.split_tape();
    let (m, k) = *x.shape();
    let (k2, n) = *w.shape();
    assert_eq!(k, k2, "x is {m} × {k}, W is {k2} × {n}");
    let xv = values(&x);
    let wv = values(w);
    let mut y = vec![0f32; m * n];
    matmul((m, n, k), &xv, (k, 1), &wv, (n, 1), &mut y, false);
    let y = x.device().tensor_from_vec(y, (m, n));
    if T::OWNS_TAPE {
        let y_out = y.clone();
        let w = w.clone();
        tape.add_backward_op(move |grads| {
            let gy: Vec<f32> = grads.get_or_alloc_mut(&y_out)?.to_vec();
            let wv = values(&w);
            let gx = grads.get_or_alloc_mut(&x)?;
            matmul((m, k, n), &gy, (n, 1), &wv, (1, n), gx, true);
            let xv = values(&x);
            let gw = grads.get_or_alloc_mut(&w)?;
            matmul((k, n, m), &xv, (1, k), &gy, (n, 1), gw, true);
            Ok(())
        });
    }
    y.put_tape(tape)
}

/// x (m × n) · wᵀ for w (k × n) → (m × k), reading w through strides; w's gradient is recorded
/// under w's identity (so a penalty built on Wᵀ trains W itself). Backward: ∂x += ∂y · w,
/// ∂w += ∂yᵀ · x.
///
/// # Panics
/// When the widths differ.
pub fn matmul_wt<T: Tape<f32, Cpu>>(x: Mat<T>, w: &Mat) -> Mat<T> {
    let (x, mut tape) = x.split_tape();
    let (m, n) = *x.shape();
    let (k, n2) = *w.shape();
    assert_eq!(n, n2, "x is {m} × {n}, W is {k} × {n2}");
    let xv = values(&x);
    let wv = values(w);
    let mut y = vec![0f32; m * k];
    matmul((m, k, n), &xv, (n, 1), &wv, (1, n), &mut y, false);
    let y = x.device().tensor_from_vec(y, (m, k));
    if T::OWNS_TAPE {
        let y_out = y.clone();
        let w = w.clone();
        tape.add_backward_op(move |grads| {
            let gy: Vec<f32> = grads.get_or_alloc_mut(&y_out)?.to_vec();
            let wv = values(&w);
            let gx = grads.get_or_alloc_mut(&x)?;
            matmul((m, n, k), &gy, (k, 1), &wv, (n, 1), gx, true);
            let xv = values(&x);
            let gw = grads.get_or_alloc_mut(&w)?;
            matmul((k, n, m), &gy, (1, k), &xv, (n, 1), gw, true);
            Ok(())
        });
    }
    y.put_tape(tape)
}
