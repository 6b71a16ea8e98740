//! Counter-based random streams. Every random draw of a training step comes from a stream
//! keyed by (run seed, purpose, step), so a run resumed from a checkpoint at any step draws
//! exactly what an uninterrupted run draws, with no generator state to save.

use crate::shapes::{Rows, WIDTHS};
use dfdx::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};
use rand_distr::StandardNormal;

/// What a stream is for; part of its key, so that streams never overlap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Purpose {
    /// Corruption noise of the discriminator / LN step.
    NoiseD = 1,
    /// Corruption noise of the EBGAN-LN generator step.
    NoiseG = 2,
    /// Latent codes z of the generator.
    Latent = 3,
    /// Order of the unlabeled pool (counter: epoch).
    UnlabeledOrder = 4,
    /// Order of the labeled set (counter: pass).
    LabeledOrder = 5,
    /// Latent codes of the figure samples.
    Samples = 6,
}

/// SplitMix64 finaliser: a bijective mix of 64 bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The stream for (seed, purpose, counter).
pub fn stream(seed: u64, purpose: Purpose, counter: u64) -> StdRng {
    keyed_stream(seed, purpose as u64, counter)
}

/// The stream for (seed, key, counter), for crates with purposes of their own; keys 1–6 are
/// the ladder's [`Purpose`]s.
pub fn keyed_stream(seed: u64, key: u64, counter: u64) -> StdRng {
    StdRng::seed_from_u64(mix(mix(mix(seed) ^ key) ^ counter))
}

/// `rows` × N standard-normal values times `std`, drawn from `rng`.
pub fn normal_rows<const N: usize>(dev: &Cpu, rng: &mut StdRng, rows: usize, std: f32) -> Rows<N> {
    dev.tensor_from_vec(normal_vec(rng, rows * N, std), (rows, Const::<N>))
}

/// `n` standard-normal values times `std`, drawn from `rng` (the values of [`normal_rows`]).
pub fn normal_vec(rng: &mut StdRng, n: usize, std: f32) -> Vec<f32> {
    (0..n)
        .map(|_| std * rng.sample::<f32, _>(StandardNormal))
        .collect()
}

/// The corruption noise of one corrupted pass: for every layer l = 0..=L, `rows` × width(l)
/// values of N(0, std²), stored feature-major (unit by unit, each unit's `rows` values
/// contiguous), which is the layout of [`crate::fast`].
///
/// The values come from counter-based streams keyed by (seed, purpose, step, layer, block of
/// [`NOISE_UNITS_PER_BLOCK`] units), drawn in parallel: the draw is parallel and yet the same
/// at any thread count, and any step's noise can be drawn without drawing the steps before it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LayerNoise {
    pub rows: usize,
    /// `layers[l]`: width(l) × rows values, unit-major.
    pub layers: Vec<Vec<f32>>,
}

/// Units per noise stream (one parallel task).
pub const NOISE_UNITS_PER_BLOCK: usize = 32;

impl LayerNoise {
    /// Draws the noise of the pass of step `step` over `rows` rows (see the type's doc).
    pub fn draw(seed: u64, purpose: Purpose, step: u64, rows: usize, std: f32) -> Self {
        let mut noise = Self::default();
        noise.redraw(seed, purpose, step, rows, std);
        noise
    }

    /// [`LayerNoise::draw`] into this value's buffers (no allocation once they are large
    /// enough).
    pub fn redraw(&mut self, seed: u64, purpose: Purpose, step: u64, rows: usize, std: f32) {
        use rayon::prelude::*;
        self.rows = rows;
        self.layers.resize(WIDTHS.len(), Vec::new());
        let key = mix(mix(mix(seed) ^ purpose as u64) ^ step);
        for (l, buf) in self.layers.iter_mut().enumerate() {
            buf.resize(WIDTHS[l] * rows, 0.0);
            buf.par_chunks_mut(NOISE_UNITS_PER_BLOCK * rows)
                .enumerate()
                .for_each(|(block, values)| {
                    let mut rng =
                        StdRng::seed_from_u64(mix(key ^ ((l as u64) << 40 | block as u64)));
                    for v in values {
                        *v = std * rng.sample::<f32, _>(StandardNormal);
                    }
                });
        }
    }

    /// Layer `l`'s noise as rows × width(l), row-major (the layout of dfdx's tensors).
    pub fn row_major(&self, l: usize) -> Vec<f32> {
        let (n, r) = (WIDTHS[l], self.rows);
        let src = &self.layers[l];
        let mut out = vec![0f32; n * r];
        for c in 0..n {
            for row in 0..r {
                out[row * n + c] = src[c * r + row];
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_fixed_by_their_key_and_differ_between_keys() {
        let a: Vec<u32> = (0..4)
            .map(|_| stream(1, Purpose::NoiseD, 7).gen())
            .collect();
        let b: Vec<u32> = (0..4)
            .map(|_| stream(1, Purpose::NoiseD, 7).gen())
            .collect();
        assert_eq!(a, b);
        let first = |s, p, c| stream(s, p, c).gen::<u64>();
        let keys = [
            (1, Purpose::NoiseD, 7),
            (2, Purpose::NoiseD, 7),
            (1, Purpose::NoiseG, 7),
            (1, Purpose::NoiseD, 8),
        ];
        let values: Vec<u64> = keys.iter().map(|&(s, p, c)| first(s, p, c)).collect();
        for i in 0..values.len() {
            for j in i + 1..values.len() {
                assert_ne!(values[i], values[j], "{:?} vs {:?}", keys[i], keys[j]);
            }
        }
    }
}
