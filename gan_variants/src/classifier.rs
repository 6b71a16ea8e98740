//! The MNIST classifier that scores samples (I', inception score, class histogram): the
//! paper used a 3-layer ConvNet; any classifier of ≥ 99 % test accuracy serves (spec).
//!
//! Input: 32 × 32 images in [−1, 1] (the generator's space). Two 5 × 5 convolutions with
//! stride 2 and padding 2 (32 maps on 16 × 16, then 64 maps on 8 × 8), each written as im2col
//! and one matmul, since stable dfdx has no convolution: the input's patches are cut on the
//! host (no gradient needed), the hidden maps' by [`hidden_patches`], a custom op whose
//! backward adds each patch gradient back to its source. Then ReLU, a 256-unit ReLU layer
//! with dropout 0.5, and 10 logits.

use crate::shapes::{Rows, Traced, CLASSES, PIXELS, SIDE};
use dfdx::nn::modules::Linear;
use dfdx::prelude::*;
use rand::{rngs::StdRng, Rng};

/// Kernel side, stride and padding of the convolution.
pub const KERNEL: usize = 5;
pub const STRIDE: usize = 2;
pub const PAD: usize = 2;
/// Values per input patch, first grid side, first maps.
pub const PATCH: usize = KERNEL * KERNEL;
pub const GRID: usize = SIDE / STRIDE;
pub const MAPS: usize = 32;
/// Values per hidden patch, second grid side, second maps, features after the convolutions.
pub const PATCH2: usize = KERNEL * KERNEL * MAPS;
pub const GRID2: usize = GRID / STRIDE;
pub const MAPS2: usize = 64;
pub const FEATURES: usize = GRID2 * GRID2 * MAPS2;
/// Width of the fully connected hidden layer.
pub const HIDDEN: usize = 256;

/// The classifier's parameters.
#[derive(Clone, Debug)]
pub struct Classifier<E: Dtype = f32, D: Device<E> = Cpu> {
    pub conv: Linear<PATCH, MAPS, E, D>,
    pub conv2: Linear<PATCH2, MAPS2, E, D>,
    pub fc: Linear<FEATURES, HIDDEN, E, D>,
    pub out: Linear<HIDDEN, CLASSES, E, D>,
}

impl<D: Device<f32>> TensorCollection<f32, D> for Classifier<f32, D> {
    type To<E2: Dtype, D2: Device<E2>> = Classifier<E2, D2>;
    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("conv", |s| &s.conv, |s| &mut s.conv),
                Self::module("conv2", |s| &s.conv2, |s| &mut s.conv2),
                Self::module("fc", |s| &s.fc, |s| &mut s.fc),
                Self::module("out", |s| &s.out, |s| &mut s.out),
            ),
            |(conv, conv2, fc, out)| Classifier {
                conv,
                conv2,
                fc,
                out,
            },
        )
    }
}

/// im2col of 32 × 32 images: for every image, every output position (row-major on the
/// 16 × 16 grid) and every kernel offset, the input pixel (−1, background, outside).
pub fn patches(images: &[f32]) -> Vec<f32> {
    let n = images.len() / PIXELS;
    patch_index(n, SIDE)
        .into_iter()
        .map(|src| src.map_or(-1.0, |i| images[i]))
        .collect()
}

/// For `n` images of `side` × `side` positions (row-major, one image after another), the source
/// position of every entry of their 5 × 5, stride-2, padding-2 patches (images, then output
/// positions row-major, then kernel offsets row-major), or None outside the image (padding).
fn patch_index(n: usize, side: usize) -> Vec<Option<usize>> {
    let out_side = side / STRIDE;
    let mut index = Vec::with_capacity(n * out_side * out_side * PATCH);
    let inside = |v: isize| (0..side as isize).contains(&v);
    for img in 0..n {
        for gr in 0..out_side {
            for gc in 0..out_side {
                for kr in 0..KERNEL {
                    for kc in 0..KERNEL {
                        let r = (gr * STRIDE + kr) as isize - PAD as isize;
                        let c = (gc * STRIDE + kc) as isize - PAD as isize;
                        index.push(
                            (inside(r) && inside(c))
                                .then(|| (img * side + r as usize) * side + c as usize),
                        );
                    }
                }
            }
        }
    }
    index
}

/// For every entry (patch row, kernel offset) of the (N · GRID2², PATCH2) hidden patch matrix,
/// the row of the (N · GRID², MAPS) hidden maps it copies, or None (zero padding after ReLU).
fn hidden_patch_index(n: usize) -> Vec<Option<usize>> {
    patch_index(n, GRID)
}

/// im2col of the first convolution's maps, (N · 256, 32) → (N · 64, 800): each patch is the
/// 5 × 5 neighbourhood (stride 2, zero padding 2) with the 32 maps of each position together.
pub fn hidden_patches<T: Tape<f32, Cpu>>(x: Rows<MAPS, T>) -> Rows<PATCH2, T> {
    let (x, mut tape) = x.split_tape();
    let n = x.shape().0 / (GRID * GRID);
    let index = hidden_patch_index(n);
    let xv = x.as_vec();
    let mut y = vec![0f32; index.len() * MAPS];
    for (dst, src) in y.chunks_exact_mut(MAPS).zip(&index) {
        if let Some(s) = src {
            dst.copy_from_slice(&xv[s * MAPS..(s + 1) * MAPS]);
        }
    }
    let y = x
        .device()
        .tensor_from_vec(y, (n * GRID2 * GRID2, Const::<PATCH2>));
    if T::OWNS_TAPE {
        let y_out = y.clone();
        tape.add_backward_op(move |grads| {
            let gy: Vec<f32> = grads.get_or_alloc_mut(&y_out)?.to_vec();
            let gx = grads.get_or_alloc_mut(&x)?;
            for (g, src) in gy.chunks_exact(MAPS).zip(&index) {
                if let Some(s) = src {
                    for (a, b) in gx[s * MAPS..(s + 1) * MAPS].iter_mut().zip(g) {
                        *a += b;
                    }
                }
            }
            Ok(())
        });
    }
    y.put_tape(tape)
}

/// Shifts each image by (dy, dx) pixels, filling with background (training augmentation).
pub fn shift(img: &[f32], dy: isize, dx: isize) -> Vec<f32> {
    let mut out = vec![-1.0; PIXELS];
    for r in 0..SIDE as isize {
        for c in 0..SIDE as isize {
            let (sr, sc) = (r - dy, c - dx);
            if (0..SIDE as isize).contains(&sr) && (0..SIDE as isize).contains(&sc) {
                out[(r * SIDE as isize + c) as usize] = img[(sr * SIDE as isize + sc) as usize];
            }
        }
    }
    out
}

impl Classifier {
    pub fn new(dev: &Cpu) -> Self {
        Self::build(dev)
    }

    /// The patches of `n` images as rows (N · 256, 25).
    fn patch_rows(dev: &Cpu, images: &[f32]) -> Rows<PATCH> {
        let n = images.len() / PIXELS;
        dev.tensor_from_vec(patches(images), (n * GRID * GRID, Const))
    }

    /// The hidden layer after ReLU, (N, HIDDEN).
    fn hidden<T: Tape<f32, Cpu>>(&self, p: Rows<PATCH, T>) -> Rows<HIDDEN, T> {
        let n = p.shape().0 / (GRID * GRID);
        let maps = self.conv.forward(p).relu();
        let maps2 = self.conv2.forward(hidden_patches(maps)).relu();
        let flat = maps2.reshape_like(&(n, Const::<FEATURES>));
        self.fc.forward(flat).relu()
    }

    fn logits<T: Tape<f32, Cpu>>(
        &self,
        p: Rows<PATCH, T>,
        drop: Option<&mut StdRng>,
    ) -> Rows<CLASSES, T> {
        let n = p.shape().0 / (GRID * GRID);
        let dev = p.device().clone();
        let mut h = self.hidden(p);
        if let Some(rng) = drop {
            let mask: Vec<f32> = (0..n * HIDDEN)
                .map(|_| if rng.gen::<bool>() { 2.0 } else { 0.0 })
                .collect();
            let mask: Rows<HIDDEN> = dev.tensor_from_vec(mask, (n, Const));
            h = h * mask;
        }
        self.out.forward(h)
    }

    /// log p(y|x) for images (N × 1024, [−1, 1]), evaluated in batches of 500.
    pub fn log_probs(&self, images: &[f32]) -> Vec<f32> {
        let dev = self.conv.weight.device().clone();
        let mut out = Vec::with_capacity(images.len() / PIXELS * CLASSES);
        for chunk in images.chunks(500 * PIXELS) {
            let l = self.logits(Self::patch_rows(&dev, chunk), None);
            out.extend(l.log_softmax::<Axis<1>>().as_vec());
        }
        out
    }

    /// The features of the FID on MNIST: the last hidden layer (after ReLU), N × [`HIDDEN`]
    /// values for images (N × 1024, [−1, 1]), evaluated in batches of 500.
    pub fn features(&self, images: &[f32]) -> Vec<f32> {
        let dev = self.conv.weight.device().clone();
        let mut out = Vec::with_capacity(images.len() / PIXELS * HIDDEN);
        for chunk in images.chunks(500 * PIXELS) {
            out.extend(self.hidden(Self::patch_rows(&dev, chunk)).as_vec());
        }
        out
    }

    /// Fraction of `labels` that the arg-max of [`Classifier::log_probs`] gets right.
    pub fn accuracy(&self, images: &[f32], labels: &[u8]) -> f64 {
        let lp = self.log_probs(images);
        let right = lp
            .chunks_exact(CLASSES)
            .zip(labels)
            .filter(|(row, y)| {
                let best = (0..CLASSES)
                    .max_by(|a, b| row[*a].total_cmp(&row[*b]))
                    .expect("ten classes");
                best == **y as usize
            })
            .count();
        right as f64 / labels.len() as f64
    }
}

/// Adam on the mean cross-entropy, with dropout on the hidden layer.
pub struct ClassifierTrainer {
    pub model: Classifier,
    opt: dfdx::optim::Adam<Classifier, f32, Cpu>,
    grads: Gradients<f32, Cpu>,
    dev: Cpu,
}

impl ClassifierTrainer {
    pub fn new(dev: &Cpu, lr: f64) -> Self {
        let model = Classifier::new(dev);
        let opt = dfdx::optim::Adam::new(
            &model,
            AdamConfig {
                lr,
                ..Default::default()
            },
        );
        Self {
            grads: model.alloc_grads(),
            model,
            opt,
            dev: dev.clone(),
        }
    }

    /// Sets the learning rate (for a schedule).
    pub fn set_lr(&mut self, lr: f64) {
        self.opt.cfg.lr = lr;
    }

    /// One step on a batch; returns the loss.
    pub fn step(&mut self, images: &[f32], labels: &[u8], rng: &mut StdRng) -> f32 {
        let n = labels.len();
        let grads = std::mem::replace(&mut self.grads, Gradients::leaky());
        let p = Classifier::patch_rows(&self.dev, images).trace(grads);
        let logits: Rows<CLASSES, Traced> = self.model.logits(p, Some(rng));
        let mut target = vec![0f32; n * CLASSES];
        for (i, y) in labels.iter().enumerate() {
            target[i * CLASSES + *y as usize] = 1.0;
        }
        let target: Rows<CLASSES> = self.dev.tensor_from_vec(target, (n, Const));
        let loss = cross_entropy_with_logits_loss(logits, target);
        let value = loss.array();
        self.grads = loss.backward();
        self.opt
            .update(&mut self.model, &self.grads)
            .expect("every parameter is used");
        self.model.zero_grads(&mut self.grads);
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The FID features are the layer the logits are computed from: log-softmax of the output
    /// layer on [`Classifier::features`] equals [`Classifier::log_probs`] (to rounding), the
    /// features are ReLU outputs (≥ 0, some positive), and rows are independent of the batch
    /// (one image alone gives its row of three, to rounding).
    #[test]
    fn features_are_the_hidden_layer_of_the_logits() {
        let dev: Cpu = Cpu::seed_from_u64(3);
        let c = Classifier::new(&dev);
        let images: Vec<f32> = (0..3 * PIXELS)
            .map(|i| ((i * 7919) % 23) as f32 / 11.0 - 1.0)
            .collect();
        let f = c.features(&images);
        assert_eq!(f.len(), 3 * HIDDEN);
        assert!(f.iter().all(|v| *v >= 0.0) && f.iter().any(|v| *v > 0.0));
        let h: Rows<HIDDEN> = dev.tensor_from_vec(f.clone(), (3, Const));
        let lp = c.out.forward(h).log_softmax::<Axis<1>>().as_vec();
        let want = c.log_probs(&images);
        let gap = lp
            .iter()
            .zip(&want)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(gap < 1e-5, "log-probs from the features differ by {gap}");
        // Equal up to the matmul's rounding at another row count (measured ≈ 6e-8).
        let one = c.features(&images[PIXELS..2 * PIXELS]);
        let gap = one
            .iter()
            .zip(&f[HIDDEN..2 * HIDDEN])
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(gap < 1e-5, "one image alone differs by {gap}");
    }

    #[test]
    fn patches_cut_the_right_pixels() {
        let img: Vec<f32> = (0..PIXELS).map(|i| i as f32).collect();
        let p = patches(&img);
        assert_eq!(p.len(), GRID * GRID * PATCH);
        // Position (0, 0): rows −2..2, cols −2..2 → only (0..2, 0..2) inside.
        assert_eq!(p[0], -1.0);
        assert_eq!(p[2 * KERNEL + 2], 0.0);
        assert_eq!(p[4 * KERNEL + 4], (2 * SIDE + 2) as f32);
        // Position (1, 3): top-left input pixel (2·1 − 2, 2·3 − 2) = (0, 4).
        let q = &p[(GRID + 3) * PATCH..];
        assert_eq!(q[0], 4.0);
        // Hidden patches: (position (0, 0), offset (2, 2)) reads map position (0, 0).
        let dev: Cpu = Default::default();
        let maps: Rows<MAPS> = dev.tensor_from_vec(
            (0..GRID * GRID * MAPS).map(|i| i as f32).collect(),
            (GRID * GRID, Const),
        );
        let h = hidden_patches(maps.leaky_trace());
        let hv = h.as_vec();
        assert_eq!(hv.len(), GRID2 * GRID2 * PATCH2);
        assert_eq!(hv[..MAPS], [0.0; MAPS]);
        assert_eq!(hv[(2 * KERNEL + 2) * MAPS + 3], 3.0);
        // Backward: each source position gets the sum of the gradients of its copies; with
        // ones upstream, that is how many patches read it (position (1, 1): 4 patches × …).
        let g = h.sum().backward();
        let gm = g.get(&maps).as_vec();
        // Counted by hand (5×5 kernel, stride 2, padding 2, 16×16 → 8×8): map row r is read
        // by the hidden rows p with 2p − 2 ≤ r ≤ 2p + 2, 0 ≤ p < 8: 2 for r = 0, 1; 3 for even
        // r in 2..=12 and 2 for odd r in 3..=13; 2 for r = 14; 1 for r = 15 — 37 in all.
        let at = |r: usize, c: usize| gm[(r * GRID + c) * MAPS];
        assert_eq!(
            [at(0, 0), at(1, 1), at(2, 2), at(15, 15), at(2, 15)],
            [4.0, 4.0, 9.0, 1.0, 3.0]
        );
        let per_map: f32 = (0..GRID * GRID).map(|i| gm[i * MAPS + 5]).sum();
        assert_eq!(per_map, 37.0 * 37.0);
        let s = shift(&img, 1, -2);
        assert_eq!(s[SIDE], 2.0);
        assert_eq!(s[0], -1.0);
    }
}
