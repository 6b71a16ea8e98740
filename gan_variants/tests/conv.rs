//! Convolution and transposed convolution (gan_variants::ops::conv) against direct nested
//! loops on small odd shapes, their input and weight gradients against finite differences,
//! the adjoint identity ⟨conv(x), y⟩ = ⟨x, convT(y)⟩, and the output sides of every layer of
//! the image architectures of the spec.

use dfdx::prelude::*;
use gan_variants::ops::conv::{conv2d, conv_t2d, Geometry, Mat};
use rand::{rngs::StdRng, Rng, SeedableRng};

/// Every geometry the specs use: (3,1,1), (4,2,1), (4,1,0), and an odd (3,2,1).
const GEOMETRIES: [Geometry; 4] = [
    Geometry::new(3, 1, 1),
    Geometry::new(4, 2, 1),
    Geometry::new(4, 1, 0),
    Geometry::new(3, 2, 1),
];

fn random(rng: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

fn mat(dev: &Cpu, v: Vec<f32>, rows: usize, cols: usize) -> Mat {
    dev.tensor_from_vec(v, (rows, cols))
}

/// out[n, oy, ox, co] = Σ x[n, oy·s + ky − p, ox·s + kx − p, ci] · W[(ky·k + kx)·C_in + ci, co].
#[allow(clippy::too_many_arguments)]
fn conv_loops(
    x: &[f32],
    wt: &[f32],
    n: usize,
    h: usize,
    w: usize,
    ci: usize,
    co: usize,
    g: Geometry,
) -> Vec<f32> {
    let (ho, wo, k) = (g.conv_out(h).unwrap(), g.conv_out(w).unwrap(), g.kernel);
    let mut out = vec![0f32; n * ho * wo * co];
    for b in 0..n {
        for oy in 0..ho {
            for ox in 0..wo {
                for ky in 0..k {
                    for kx in 0..k {
                        let y = (oy * g.stride + ky) as isize - g.pad as isize;
                        let xx = (ox * g.stride + kx) as isize - g.pad as isize;
                        if y < 0 || xx < 0 || y >= h as isize || xx >= w as isize {
                            continue;
                        }
                        for c in 0..ci {
                            let v = x[((b * h + y as usize) * w + xx as usize) * ci + c];
                            for o in 0..co {
                                out[((b * ho + oy) * wo + ox) * co + o] +=
                                    v * wt[((ky * k + kx) * ci + c) * co + o];
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// Each input pixel (iy, ix) adds x · W[ci, (ky·k + kx)·C_out + co] to output pixel
/// (iy·s + ky − p, ix·s + kx − p) when that is inside the (H − 1)·s − 2p + k grid.
#[allow(clippy::too_many_arguments)]
fn conv_t_loops(
    x: &[f32],
    wt: &[f32],
    n: usize,
    h: usize,
    w: usize,
    ci: usize,
    co: usize,
    g: Geometry,
) -> Vec<f32> {
    let (ho, wo, k) = (g.conv_t_out(h).unwrap(), g.conv_t_out(w).unwrap(), g.kernel);
    let mut out = vec![0f32; n * ho * wo * co];
    for b in 0..n {
        for iy in 0..h {
            for ix in 0..w {
                for ky in 0..k {
                    for kx in 0..k {
                        let y = (iy * g.stride + ky) as isize - g.pad as isize;
                        let xx = (ix * g.stride + kx) as isize - g.pad as isize;
                        if y < 0 || xx < 0 || y >= ho as isize || xx >= wo as isize {
                            continue;
                        }
                        for c in 0..ci {
                            let v = x[((b * h + iy) * w + ix) * ci + c];
                            for o in 0..co {
                                out[((b * ho + y as usize) * wo + xx as usize) * co + o] +=
                                    v * wt[c * k * k * co + (ky * k + kx) * co + o];
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Forward values equal the nested loops (to f32 rounding, 1e-5) for every geometry on a
/// batch of two 5 × 7 images with 3 channels; control: another weight differs.
#[test]
fn forward_matches_nested_loops() {
    let dev = Cpu::default();
    let mut rng = StdRng::seed_from_u64(1);
    let (n, h, w, ci, co) = (2, 5, 7, 3, 2);
    for g in GEOMETRIES {
        let k = g.kernel;
        let x = random(&mut rng, n * h * w * ci);
        let wc = random(&mut rng, k * k * ci * co);
        let want = conv_loops(&x, &wc, n, h, w, ci, co, g);
        let got = conv2d(
            mat(&dev, x.clone(), n * h * w, ci),
            &mat(&dev, wc.clone(), k * k * ci, co),
            h,
            w,
            g,
        );
        assert_eq!(
            got.shape().0,
            n * g.conv_out(h).unwrap() * g.conv_out(w).unwrap()
        );
        assert!(max_abs_diff(&got.as_vec(), &want) < 1e-5, "conv {g:?}");
        let other = conv_loops(&x, &random(&mut rng, wc.len()), n, h, w, ci, co, g);
        assert!(max_abs_diff(&got.as_vec(), &other) > 1e-2, "control {g:?}");

        let wt = random(&mut rng, ci * k * k * co);
        let want = conv_t_loops(&x, &wt, n, h, w, ci, co, g);
        let got = conv_t2d(
            mat(&dev, x, n * h * w, ci),
            &mat(&dev, wt, ci, k * k * co),
            h,
            w,
            g,
        );
        assert_eq!(
            got.shape().0,
            n * g.conv_t_out(h).unwrap() * g.conv_t_out(w).unwrap()
        );
        assert!(max_abs_diff(&got.as_vec(), &want) < 1e-5, "conv_t {g:?}");
    }
}

/// The gradients of L = Σ out ⊙ R with respect to the input, the weight (and, through the
/// transposed convolution, its input and weight) equal central differences at every entry.
/// L is linear in each, so the difference quotient with step 0.5 is exact up to rounding:
/// tolerance 2e-3 absolute on values of order 1–10.
#[test]
fn gradients_match_finite_differences() {
    let dev = Cpu::default();
    let mut rng = StdRng::seed_from_u64(2);
    let (n, h, w, ci, co) = (2, 5, 4, 2, 3);
    for g in GEOMETRIES {
        for transposed in [false, true] {
            let k = g.kernel;
            let (wr, wc) = if transposed {
                (ci, k * k * co)
            } else {
                (k * k * ci, co)
            };
            let (ho, wo) = if transposed {
                (g.conv_t_out(h).unwrap(), g.conv_t_out(w).unwrap())
            } else {
                (g.conv_out(h).unwrap(), g.conv_out(w).unwrap())
            };
            let x = random(&mut rng, n * h * w * ci);
            let wt = random(&mut rng, wr * wc);
            let r = random(&mut rng, n * ho * wo * co);
            let loss = |x: &[f32], wt: &[f32]| -> f32 {
                let xm = mat(&dev, x.to_vec(), n * h * w, ci);
                let wm = mat(&dev, wt.to_vec(), wr, wc);
                let out = if transposed {
                    conv_t2d(xm, &wm, h, w, g)
                } else {
                    conv2d(xm, &wm, h, w, g)
                };
                out.as_vec().iter().zip(&r).map(|(a, b)| a * b).sum()
            };
            let xm = mat(&dev, x.clone(), n * h * w, ci);
            let wm = mat(&dev, wt.clone(), wr, wc);
            let rm = mat(&dev, r.clone(), n * ho * wo, co);
            let out = if transposed {
                conv_t2d(xm.leaky_trace(), &wm, h, w, g)
            } else {
                conv2d(xm.leaky_trace(), &wm, h, w, g)
            };
            let grads = (out * rm).sum().backward();
            let (gx, gw) = (grads.get(&xm).as_vec(), grads.get(&wm).as_vec());
            let eps = 0.5;
            for i in 0..x.len() {
                let (mut a, mut b) = (x.clone(), x.clone());
                a[i] += eps;
                b[i] -= eps;
                let fd = (loss(&a, &wt) - loss(&b, &wt)) / (2.0 * eps);
                assert!(
                    (fd - gx[i]).abs() < 2e-3,
                    "{g:?} T={transposed} x[{i}]: {fd} vs {}",
                    gx[i]
                );
            }
            for i in 0..wt.len() {
                let (mut a, mut b) = (wt.clone(), wt.clone());
                a[i] += eps;
                b[i] -= eps;
                let fd = (loss(&x, &a) - loss(&x, &b)) / (2.0 * eps);
                assert!(
                    (fd - gw[i]).abs() < 2e-3,
                    "{g:?} T={transposed} W[{i}]: {fd} vs {}",
                    gw[i]
                );
            }
            assert!(
                gx.iter().any(|v| v.abs() > 0.1),
                "a zero gradient would pass"
            );
        }
    }
}

/// The transposed convolution is the adjoint of the convolution of the same geometry:
/// ⟨conv(x; W), y⟩ = ⟨x, convT(y; Wᵀ)⟩ (relative 1e-5), on grids where the convolution's
/// output maps back exactly (8 × 6 for stride 2).
#[test]
fn transposed_convolution_is_the_adjoint() {
    let dev = Cpu::default();
    let mut rng = StdRng::seed_from_u64(3);
    let (n, ci, co) = (3, 3, 4);
    for g in GEOMETRIES {
        let (h, w) = if g.stride == 2 && g.kernel == 3 {
            (9, 7)
        } else if g.stride == 2 {
            (8, 6)
        } else {
            (7, 5)
        };
        let (ho, wo) = (g.conv_out(h).unwrap(), g.conv_out(w).unwrap());
        assert_eq!(
            (g.conv_t_out(ho), g.conv_t_out(wo)),
            (Some(h), Some(w)),
            "{g:?}"
        );
        let k = g.kernel;
        let x = random(&mut rng, n * h * w * ci);
        let y = random(&mut rng, n * ho * wo * co);
        let wv = random(&mut rng, k * k * ci * co);
        let wm = mat(&dev, wv, k * k * ci, co);
        let wt = wm.clone().permute::<_, Axes2<1, 0>>();
        let wt = mat(&dev, wt.as_vec(), co, k * k * ci);
        let lhs: f64 = conv2d(mat(&dev, x.clone(), n * h * w, ci), &wm, h, w, g)
            .as_vec()
            .iter()
            .zip(&y)
            .map(|(a, b)| (*a as f64) * (*b as f64))
            .sum();
        let rhs: f64 = conv_t2d(mat(&dev, y, n * ho * wo, co), &wt, ho, wo, g)
            .as_vec()
            .iter()
            .zip(&x)
            .map(|(a, b)| (*a as f64) * (*b as f64))
            .sum();
        assert!(
            (lhs - rhs).abs() < 1e-5 * lhs.abs().max(1.0),
            "{g:?}: {lhs} vs {rhs}"
        );
    }
}

/// Output sides of every layer of the spec's architectures.
#[test]
fn output_sides_of_every_architecture() {
    let c = |k, s, p| Geometry::new(k, s, p);
    let chain = |mut side: usize, layers: &[(Geometry, bool)]| -> Vec<usize> {
        let mut out = vec![side];
        for (g, transposed) in layers {
            side = if *transposed {
                g.conv_t_out(side)
            } else {
                g.conv_out(side)
            }
            .unwrap();
            out.push(side);
        }
        out
    };
    // EDGAN's DCGAN D (32 × 32): (3,1,1)/(4,2,1) pairs, then the (4,1,0) compression to 1.
    let d = [
        (c(3, 1, 1), false),
        (c(4, 2, 1), false),
        (c(3, 1, 1), false),
        (c(4, 2, 1), false),
        (c(3, 1, 1), false),
        (c(4, 2, 1), false),
        (c(4, 1, 0), false),
    ];
    assert_eq!(chain(32, &d), [32, 32, 16, 16, 8, 8, 4, 1]);
    // Its G: 4 × 4 → deconv pairs to 32, then deconv(3,3,1,1).
    let g = [
        (c(3, 1, 1), true),
        (c(4, 2, 1), true),
        (c(3, 1, 1), true),
        (c(4, 2, 1), true),
        (c(3, 1, 1), true),
        (c(4, 2, 1), true),
        (c(3, 1, 1), true),
    ];
    assert_eq!(chain(4, &g), [4, 4, 8, 8, 16, 16, 32, 32]);
    // OptimizedDCGAN's G (R311): only the last (3,1,1).
    assert_eq!(
        chain(
            4,
            &[
                (c(4, 2, 1), true),
                (c(4, 2, 1), true),
                (c(4, 2, 1), true),
                (c(3, 1, 1), true)
            ]
        ),
        [4, 8, 16, 32, 32]
    );
    // EBGAN's autoencoder D on 64 × 64 faces: (64)4c2s-(128)4c2s-(256)4c2s, then back.
    let s2 = c(4, 2, 1);
    assert_eq!(
        chain(
            64,
            &[
                (s2, false),
                (s2, false),
                (s2, false),
                (s2, true),
                (s2, true),
                (s2, true)
            ]
        ),
        [64, 32, 16, 8, 16, 32, 64]
    );
    // DCGAN G from 4 × 4 to 64 × 64 and 32 × 32.
    assert_eq!(chain(4, &[(s2, true); 4]), [4, 8, 16, 32, 64]);
    // ImageNet 128 × 128: G 4c then five 4c2s and a 3c; Enc four 4c2s, Dec four 4c2s.
    let mut g128 = vec![(s2, true); 5];
    g128.push((c(3, 1, 1), false));
    assert_eq!(chain(4, &g128), [4, 8, 16, 32, 64, 128, 128]);
    assert_eq!(chain(128, &[(s2, false); 4]), [128, 64, 32, 16, 8]);
    assert_eq!(chain(8, &[(s2, true); 4]), [8, 16, 32, 64, 128]);
    // ImageNet 256 × 256: six 4c2s after the 4 × 4 projection.
    assert_eq!(*chain(4, &[(s2, true); 6]).last().unwrap(), 256);
    // Kernel larger than the padded image: no output.
    assert_eq!(c(4, 1, 0).conv_out(3), None);
}

/// The gemm 0.19 matmul op against dfdx's matmul: the product and both gradients (of
/// Σ y ⊙ r for a random r) agree to rounding on odd shapes, and W's gradient lands under W's
/// own identity.
#[test]
fn fast_matmul_matches_dfdx_matmul() {
    use gan_variants::ops::matmul::matmul_w;
    let dev = Cpu::seed_from_u64(0);
    let mut rng = StdRng::seed_from_u64(11);
    for (m, k, n) in [(7, 5, 3), (33, 17, 9), (1, 4, 6)] {
        let x = mat(&dev, random(&mut rng, m * k), m, k);
        let w = mat(&dev, random(&mut rng, k * n), k, n);
        let r = mat(&dev, random(&mut rng, m * n), m, n);
        let ours = matmul_w(x.clone().leaky_trace(), &w);
        let theirs = x.clone().leaky_trace().matmul(w.clone());
        let (a, b) = (ours.as_vec(), theirs.as_vec());
        for (p, q) in a.iter().zip(&b) {
            assert!((p - q).abs() < 1e-5, "{m}×{k}·{k}×{n}: {p} vs {q}");
        }
        let g1 = (ours * r.clone()).sum().backward();
        let g2 = (theirs * r.clone()).sum().backward();
        for (name, t) in [("x", &x), ("W", &w)] {
            for (p, q) in g1.get(t).as_vec().iter().zip(&g2.get(t).as_vec()) {
                assert!((p - q).abs() < 1e-5, "∂{name}: {p} vs {q}");
            }
        }
    }
}
