//! 2-D convolution and transposed convolution on stable dfdx (whose `Conv2D` is nightly-only):
//! im2col / col2im as custom ops with their own backward, plus one matmul (threaded) per
//! layer. Spec: conv-gans-edgan.md, "Convolution in dfdx 0.13 on stable Rust".
//!
//! Layout: a batch of feature maps is a 2-D tensor of *rows* `(N · H · W, C)`, row
//! `(n · H + y) · W + x` holding the C channels of pixel (y, x) of image n (NHWC). With
//! channels as columns, batch norm per channel over (N, H, W) is the column batch norm of the
//! MLP harness, segments included.
//!
//! - Convolution (kernel k, stride s, padding p, C_in → C_out), output side
//!   ⌊(H + 2p − k)/s⌋ + 1:  `im2col(x) · W`, with W of shape (k · k · C_in, C_out) whose rows
//!   are ordered (ky, kx, c_in).
//! - Transposed convolution, output side (H − 1)·s − 2p + k (kernel 4, stride 2, padding 1
//!   doubles exactly): `col2im(x · W)`, with W of shape (C_in, k · k · C_out), columns ordered
//!   (ky, kx, c_out). It is the adjoint of the convolution of the same geometry from the
//!   output grid back to the input grid: ⟨conv(x; W), y⟩ = ⟨x, convT(y; Wᵀ)⟩ (tested).
//!
//! The matmul is [`matmul_w`] (gemm 0.19). Both column transforms run in parallel across the batch (rayon): each image's rows are
//! written by one task, so the scatter-adds need no atomics.

use super::matmul::matmul_w;
use dfdx::prelude::*;
use ladder::fast::values;
use rayon::prelude::*;

/// A 2-D tensor of rows with a runtime width (pixels × channels, or patches × kernel taps).
pub type Mat<T = NoneTape> = Tensor<(usize, usize), f32, Cpu, T>;

/// Geometry of a convolution (or, read backwards, of a transposed convolution).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
}

impl Geometry {
    pub const fn new(kernel: usize, stride: usize, pad: usize) -> Self {
        Self {
            kernel,
            stride,
            pad,
        }
    }

    /// Output side of the convolution of a side `n`: ⌊(n + 2p − k)/s⌋ + 1; None when the
    /// kernel does not fit or the stride is 0.
    pub fn conv_out(&self, n: usize) -> Option<usize> {
        if self.stride == 0 || self.kernel == 0 || n + 2 * self.pad < self.kernel {
            return None;
        }
        Some((n + 2 * self.pad - self.kernel) / self.stride + 1)
    }

    /// Output side of the transposed convolution of a side `n`: (n − 1)·s − 2p + k; None when
    /// that is not positive.
    pub fn conv_t_out(&self, n: usize) -> Option<usize> {
        if n == 0 || self.stride == 0 {
            return None;
        }
        ((n - 1) * self.stride + self.kernel)
            .checked_sub(2 * self.pad)
            .filter(|v| *v > 0)
    }
}

/// For every patch of a convolution over an `h` × `w` image and every kernel tap (ky, kx):
/// the input pixel it reads (its index within the image), or `u32::MAX` for zero padding.
/// Returns the map (ho · wo · k · k entries, per image) and (ho, wo).
fn taps(h: usize, w: usize, g: Geometry) -> (Vec<u32>, usize, usize) {
    let ho = g.conv_out(h).expect("kernel fits the image");
    let wo = g.conv_out(w).expect("kernel fits the image");
    let k = g.kernel;
    let mut map = Vec::with_capacity(ho * wo * k * k);
    for oy in 0..ho {
        for ox in 0..wo {
            for ky in 0..k {
                for kx in 0..k {
                    let y = (oy * g.stride + ky) as isize - g.pad as isize;
                    let x = (ox * g.stride + kx) as isize - g.pad as isize;
                    map.push(
                        if y >= 0 && x >= 0 && (y as usize) < h && (x as usize) < w {
                            (y as usize * w + x as usize) as u32
                        } else {
                            u32::MAX
                        },
                    );
                }
            }
        }
    }
    (map, ho, wo)
}

/// cols[n, patch, tap, :] = src[n, taps[patch, tap], :] (0 for padding), per image in parallel.
fn gather(src: &[f32], pixels: usize, c: usize, map: &[u32], dst: &mut [f32]) {
    let per_src = pixels * c;
    let per_dst = map.len() * c;
    dst.par_chunks_mut(per_dst)
        .zip(src.par_chunks(per_src))
        .for_each(|(d, s)| {
            for (chunk, &t) in d.chunks_exact_mut(c).zip(map) {
                if t == u32::MAX {
                    chunk.fill(0.0);
                } else {
                    let t = t as usize * c;
                    chunk.copy_from_slice(&s[t..t + c]);
                }
            }
        });
}

/// The adjoint of [`gather`]: dst[n, taps[patch, tap], :] += cols[n, patch, tap, :].
fn scatter_add(cols: &[f32], pixels: usize, c: usize, map: &[u32], dst: &mut [f32]) {
    let per_dst = pixels * c;
    let per_src = map.len() * c;
    dst.par_chunks_mut(per_dst)
        .zip(cols.par_chunks(per_src))
        .for_each(|(d, s)| {
            for (chunk, &t) in s.chunks_exact(c).zip(map) {
                if t != u32::MAX {
                    let t = t as usize * c;
                    for (a, b) in d[t..t + c].iter_mut().zip(chunk) {
                        *a += b;
                    }
                }
            }
        });
}

/// im2col: the rows `(N · h · w, C)` of a batch of `h` × `w` maps → the patch matrix
/// `(N · ho · wo, k · k · C)` of the convolution `g`, columns ordered (ky, kx, c). Backward:
/// each patch gradient added back to its pixels (col2im).
///
/// Panics if the rows are not a whole number of `h` × `w` images or the kernel does not fit.
pub fn im2col<T: Tape<f32, Cpu>>(x: Mat<T>, h: usize, w: usize, g: Geometry) -> Mat<T> {
    let (x, mut tape) = x.split_tape();
    let (rows, c) = *x.shape();
    assert!(
        h * w > 0 && rows % (h * w) == 0,
        "rows must be whole {h} × {w} images"
    );
    let n = rows / (h * w);
    let (map, ho, wo) = taps(h, w, g);
    let taps_per_image = map.len();
    let xv = values(&x);
    let mut cols = vec![0f32; n * taps_per_image * c];
    gather(&xv, h * w, c, &map, &mut cols);
    let y = x
        .device()
        .tensor_from_vec(cols, (n * ho * wo, g.kernel * g.kernel * c));
    if T::OWNS_TAPE {
        let y_out = y.clone();
        tape.add_backward_op(move |grads| {
            let gy: Vec<f32> = grads.get_or_alloc_mut(&y_out)?.to_vec();
            let gx = grads.get_or_alloc_mut(&x)?;
            scatter_add(&gy, h * w, c, &map, gx);
            Ok(())
        });
    }
    y.put_tape(tape)
}

/// col2im: the per-pixel kernel contributions `(N · h · w, k · k · C)` of a transposed
/// convolution `g` over an `h` × `w` input grid → the output rows `(N · ho · wo, C)` with
/// ho = (h − 1)·s − 2p + k, each contribution added to the output pixel it lands on. It is
/// the adjoint of [`im2col`] over the output grid; its backward is that im2col.
///
/// Panics if the rows are not whole images or the width is not a multiple of k².
pub fn col2im<T: Tape<f32, Cpu>>(x: Mat<T>, h: usize, w: usize, g: Geometry) -> Mat<T> {
    let (x, mut tape) = x.split_tape();
    let (rows, width) = *x.shape();
    let kk = g.kernel * g.kernel;
    assert!(
        h * w > 0 && rows % (h * w) == 0,
        "rows must be whole {h} × {w} images"
    );
    assert!(
        width % kk == 0,
        "width {width} is not a multiple of k² = {kk}"
    );
    let (n, c) = (rows / (h * w), width / kk);
    let ho = g.conv_t_out(h).expect("positive output side");
    let wo = g.conv_t_out(w).expect("positive output side");
    // The convolution of the same geometry maps the output grid back onto the input grid.
    let (map, hi, wi) = taps(ho, wo, g);
    debug_assert_eq!((hi, wi), (h, w));
    let xv = values(&x);
    let mut out = vec![0f32; n * ho * wo * c];
    scatter_add(&xv, ho * wo, c, &map, &mut out);
    let y = x.device().tensor_from_vec(out, (n * ho * wo, c));
    if T::OWNS_TAPE {
        let y_out = y.clone();
        tape.add_backward_op(move |grads| {
            let gy: Vec<f32> = grads.get_or_alloc_mut(&y_out)?.to_vec();
            let gx = grads.get_or_alloc_mut(&x)?;
            let mut cols = vec![0f32; gx.len()];
            gather(&gy, ho * wo, c, &map, &mut cols);
            gx.iter_mut().zip(&cols).for_each(|(a, b)| *a += b);
            Ok(())
        });
    }
    y.put_tape(tape)
}

/// Convolution of the rows `x` (N · h · w, C_in) with `weight` (k · k · C_in, C_out): the rows
/// (N · ho · wo, C_out). Bias, batch norm and activation are the caller's.
/// The weight's gradient is recorded on `x`'s tape (as for dfdx's own modules).
pub fn conv2d<T: Tape<f32, Cpu>>(
    x: Mat<T>,
    weight: &Mat,
    h: usize,
    w: usize,
    g: Geometry,
) -> Mat<T> {
    matmul_w(im2col(x, h, w, g), weight)
}

/// Transposed convolution of the rows `x` (N · h · w, C_in) with `weight` (C_in, k · k ·
/// C_out): the rows (N · ho · wo, C_out), ho = (h − 1)·s − 2p + k.
pub fn conv_t2d<T: Tape<f32, Cpu>>(
    x: Mat<T>,
    weight: &Mat,
    h: usize,
    w: usize,
    g: Geometry,
) -> Mat<T> {
    col2im(matmul_w(x, weight), h, w, g)
}
