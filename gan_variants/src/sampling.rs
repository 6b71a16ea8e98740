//! Sampling a latent energy by Langevin dynamics and by MALA (spec energy-gan-mcmc.md,
//! "Sampling in latent space"), for any energy E(z) with a gradient — in the energy view,
//! E(z) = U(G(z)) + ½‖z‖² (the prior's energy, on by default).
//!
//! - Langevin (unadjusted): z ← z − (ε/2)·∇E(z) + √ε·ξ, ξ ~ N(0, I). Its stationary law is
//!   biased by O(ε): for E = z²/(2σ²) the chain's variance is σ²/(1 − ε/(4σ²)).
//! - MALA: the Langevin step as a proposal z̃, accepted with probability
//!   min{1, exp(log α)}, log α = −E(z̃) + E(z) − ‖z − z̃ + (ε/2)∇E(z̃)‖²/(2ε) plus
//!   ‖z̃ − z + (ε/2)∇E(z)‖²/(2ε) (both proposal densities, in log space); otherwise z stays.
//!   Exact for any ε; acceptance → 1 as ε → 0.
//!
//! Chains are the rows of a batch; every draw of step t comes from the stream (seed, t), chain c
//! taking the c-th slice, so a run is reproducible. Two calls with the same seed give their
//! chains the same noise: sampling many chains in several batches must use a different seed
//! per batch (or one batch).

use crate::harness::{stream, Stream};
use crate::nets::{ColumnStats, Net};
use crate::shapes::{Rows, LATENT};
use dfdx::prelude::*;
use rand::Rng;
use rand_distr::StandardNormal;

/// An energy over rows of `dim()` values: per row E(z) and ∇E(z).
pub trait LatentEnergy {
    fn dim(&self) -> usize;
    /// (E per row, ∇E row-major) for the rows of `z`.
    fn energy_and_grad(&self, z: &[f32]) -> (Vec<f64>, Vec<f32>);
}

/// Which chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Langevin,
    Mala,
}

/// What a run of chains did.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainStats {
    /// Accepted proposals per chain (Langevin: every step).
    pub accepted: Vec<u64>,
    pub steps: u64,
    /// Mean energy over the chains after each step.
    pub mean_energy: Vec<f64>,
}

impl ChainStats {
    /// Accepted fraction over all chains and steps.
    pub fn acceptance(&self) -> f64 {
        let total: u64 = self.accepted.iter().sum();
        total as f64 / (self.accepted.len() as f64 * self.steps.max(1) as f64)
    }
}

/// log α of MALA for one chain: current z (energy e, gradient g) and proposal z̃ (e_new,
/// g_new), step ε.
pub fn mala_log_ratio(
    z: &[f32],
    e: f64,
    g: &[f32],
    z_new: &[f32],
    e_new: f64,
    g_new: &[f32],
    eps: f64,
) -> f64 {
    let h = eps / 2.0;
    // ‖z − z̃ + h∇E(z̃)‖² (reverse move) and ‖z̃ − z + h∇E(z)‖² (forward move).
    let mut back = 0.0;
    let mut fwd = 0.0;
    for i in 0..z.len() {
        let b = z[i] as f64 - z_new[i] as f64 + h * g_new[i] as f64;
        let f = z_new[i] as f64 - z[i] as f64 + h * g[i] as f64;
        back += b * b;
        fwd += f * f;
    }
    -e_new + e - back / (2.0 * eps) + fwd / (2.0 * eps)
}

/// Runs `steps` steps of `kind` with step size `eps` from `z` (rows of `energy.dim()`), in
/// place; draws from the streams (seed, t).
///
/// # Panics
/// When `eps` is not positive or `z` is not whole rows.
pub fn run_chains<E: LatentEnergy + ?Sized>(
    energy: &E,
    z: &mut [f32],
    eps: f64,
    steps: u64,
    kind: Kind,
    seed: u64,
) -> ChainStats {
    run_chains_from(energy, z, eps, 0..steps, kind, seed)
}

/// [`run_chains`] for the chain steps `ts` (draws from the streams (seed, t), t ∈ `ts`): a
/// chain run in pieces 0..a, a..b gives the same z as one run 0..b.
///
/// # Panics
/// As [`run_chains`].
pub fn run_chains_from<E: LatentEnergy + ?Sized>(
    energy: &E,
    z: &mut [f32],
    eps: f64,
    ts: std::ops::Range<u64>,
    kind: Kind,
    seed: u64,
) -> ChainStats {
    let steps = ts.end.saturating_sub(ts.start);
    assert!(eps > 0.0 && eps.is_finite(), "ε must be positive");
    let d = energy.dim();
    assert!(
        d > 0 && z.len().is_multiple_of(d),
        "z must be rows of {d} values"
    );
    let n = z.len() / d;
    let (mut e, mut g) = energy.energy_and_grad(z);
    let mut accepted = vec![0u64; n];
    let mut mean_energy = Vec::with_capacity(steps as usize);
    let (h, s) = (eps / 2.0, eps.sqrt());
    let mut proposal = vec![0f32; z.len()];
    for t in ts {
        let mut rng = stream(seed, Stream::Mcmc, t);
        for i in 0..z.len() {
            let xi: f64 = rng.sample(StandardNormal);
            proposal[i] = (z[i] as f64 - h * g[i] as f64 + s * xi) as f32;
        }
        let (e_new, g_new) = energy.energy_and_grad(&proposal);
        for c in 0..n {
            let r = c * d..(c + 1) * d;
            let accept = match kind {
                Kind::Langevin => true,
                Kind::Mala => {
                    let log_a = mala_log_ratio(
                        &z[r.clone()],
                        e[c],
                        &g[r.clone()],
                        &proposal[r.clone()],
                        e_new[c],
                        &g_new[r.clone()],
                        eps,
                    );
                    let u: f64 = rng.gen();
                    u.ln() < log_a
                }
            };
            if accept {
                z[r.clone()].copy_from_slice(&proposal[r.clone()]);
                g[r].copy_from_slice(&g_new[c * d..(c + 1) * d]);
                e[c] = e_new[c];
                accepted[c] += 1;
            }
        }
        mean_energy.push(e.iter().sum::<f64>() / n as f64);
    }
    ChainStats {
        accepted,
        steps,
        mean_energy,
    }
}

/// E(z) = ½ Σ_i (z_i − μ_i)² / σ_i²: a Gaussian target N(μ, diag σ²) (tests, and the prior's
/// energy ½‖z‖² with μ = 0, σ = 1).
#[derive(Clone, Debug)]
pub struct Quadratic {
    pub mean: Vec<f32>,
    pub var: Vec<f32>,
}

impl LatentEnergy for Quadratic {
    fn dim(&self) -> usize {
        self.mean.len()
    }
    fn energy_and_grad(&self, z: &[f32]) -> (Vec<f64>, Vec<f32>) {
        let d = self.dim();
        let mut e = Vec::with_capacity(z.len() / d);
        let mut g = Vec::with_capacity(z.len());
        for row in z.chunks_exact(d) {
            let mut s = 0.0;
            for ((x, m), v) in row.iter().zip(&self.mean).zip(&self.var) {
                let dz = (x - m) as f64;
                s += 0.5 * dz * dz / *v as f64;
                g.push((dz / *v as f64) as f32);
            }
            e.push(s);
        }
        (e, g)
    }
}

/// A latent energy whose z can be turned into images: what the MCMC experiments need of a
/// trained model (spec energy-gan-mcmc.md, "What to show").
pub trait LatentModel: LatentEnergy {
    /// The images G(z) (rows of the image width, in [−1, 1]) for the rows of `z`, computed as
    /// the energy sees them (for [`GanLatentEnergy`]: G with its population statistics, so a
    /// sample does not depend on the other rows).
    fn decode(&self, z: &[f32]) -> Vec<f32>;
}

/// E(z) = U(G(z)) (+ ½‖z‖² with `prior`, the default of the spec): the latent energy of a
/// trained energy GAN (spec energy-gan-mcmc.md, "Sampling in latent space"). G runs with the
/// fixed batch-norm statistics `g_stats` (from [`crate::nets::population_stats`]), so E is a
/// function of each z alone, not of the other chains; ∇_z E by dfdx's backward pass through
/// G (tanh output) and U. Taking U(G(z)) as the energy of z is an approximation, exact only
/// for a volume-preserving G (the spec's caveat). U must have no batch norm (the energy
/// network has none): it runs with no statistics. U has `O` = 1 output (a row's energy is the
/// sum of its outputs, which is that one value).
pub struct GanLatentEnergy<'a, const X: usize, const O: usize = 1, const Z: usize = LATENT> {
    pub g: &'a dyn Net<Z, X>,
    pub g_stats: Vec<ColumnStats>,
    pub u: &'a dyn Net<X, O>,
    /// Add the prior's energy ½‖z‖² (keeps chains where G was trained).
    pub prior: bool,
}

fn latent_rows<const Z: usize>(z: &[f32]) -> Rows<Z> {
    Cpu::default().tensor_from_vec(z.to_vec(), (z.len() / Z, Const))
}

impl<const X: usize, const O: usize, const Z: usize> LatentEnergy for GanLatentEnergy<'_, X, O, Z> {
    fn dim(&self) -> usize {
        Z
    }

    fn energy_and_grad(&self, z: &[f32]) -> (Vec<f64>, Vec<f32>) {
        let zt = latent_rows::<Z>(z);
        let x = self
            .g
            .forward_population(zt.leaky_trace(), &self.g_stats)
            .tanh();
        let u = self.u.forward_population(x, &[]);
        let mut e: Vec<f64> = u
            .as_vec()
            .chunks_exact(O)
            .map(|r| r.iter().map(|v| *v as f64).sum())
            .collect();
        let grads = u.sum().backward();
        let mut g = grads.get(&zt).as_vec();
        if self.prior {
            for (c, row) in z.chunks_exact(Z).enumerate() {
                e[c] += 0.5 * row.iter().map(|v| (*v as f64).powi(2)).sum::<f64>();
            }
            for (gi, zi) in g.iter_mut().zip(z) {
                *gi += zi;
            }
        }
        (e, g)
    }
}

impl<const X: usize, const O: usize, const Z: usize> LatentModel for GanLatentEnergy<'_, X, O, Z> {
    fn decode(&self, z: &[f32]) -> Vec<f32> {
        let mut out = Vec::with_capacity(z.len() / Z * X);
        // In chunks: the pass is row-wise, so the chunking does not change any value.
        for chunk in z.chunks(512 * Z) {
            let x = self
                .g
                .forward_population(latent_rows::<Z>(chunk).leaky_trace(), &self.g_stats)
                .tanh();
            out.extend(x.as_vec());
        }
        out
    }
}
