//! `ebgan energy run --profile P --mi λ₂ --seed S`: trains the energy GAN (spec
//! energy-gan-mcmc.md, "Model") through the MNIST GAN run (`config.toml`, `curve.csv` with the
//! gradient penalty and latent error, `final.csv`), then, before `final.csv`, samples its latent
//! energy (spec, "Sampling in latent space"):
//!
//! - `mcmc.toml`: the sweep's settings; `scores.csv`: for z from the prior and for every
//!   (sampler, ε, T), the acceptance rate, the chains' mean energy, I', the class histogram and
//!   its entropy, and the FID on the classifier's features against MNIST test images, with the
//!   real-vs-real floor at the same sample count; `chain.csv`: the mean energy after every step
//!   t = 0..T_max of every (sampler, ε); `samples_*.csv`: the first 100 chains' images.
//!
//! Every sampler starts from the same z ~ N(0, I) and, for one ε, Langevin and MALA draw the same
//! noise (common random numbers), so their differences are not sampling noise of the start.
//! Prior and chains are decoded the same way (G with population statistics), so the prior row is
//! the baseline of the chains; `final.csv`'s scores use G with batch statistics, as in training.

use super::{load_profile, run_dir, EnergyProfile};
use crate::cmd::gan::run::{execute_with, Extras, GanRunConfig, MNIST_TRAIN};
use crate::cmd::gan::Paths;
use crate::cmd::run::write_samples;
use crate::io::write_csv;
use anyhow::{Context, Result};
use gan_variants::classifier::{Classifier, HIDDEN};
use gan_variants::harness::{stream, GanTrainer, Stream};
use gan_variants::metrics::fid::{fid, fid_and_kid, kid, Gaussian};
use gan_variants::sampling::{run_chains_from, Kind, LatentModel};
use gan_variants::score::scores;
use gan_variants::shapes::{crop_to_28, LATENT, PIXELS};
use gan_variants::{Arch, GanConfig};
use indicatif::{ProgressBar, ProgressStyle};
use rand::Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// The sweep's settings, saved as `mcmc.toml` beside the run's `config.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McmcConfig {
    pub chains: usize,
    pub eps: Vec<f64>,
    pub steps: Vec<u64>,
    pub prior_energy: bool,
    /// FID reference: the first `chains` MNIST test images; floor: the first `chains`
    /// training images against the same reference.
    pub fid_reference: String,
}

/// One row of `scores.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoreRow {
    /// The run's λ₂ and seed.
    pub lambda_mi: f32,
    pub seed: u64,
    /// prior, langevin or mala.
    pub sampler: String,
    /// Step size (empty for the prior).
    pub eps: Option<f64>,
    /// Chain steps T (0 for the prior).
    pub steps: u64,
    /// Accepted fraction of proposals over steps 1..T (Langevin: 1).
    pub acceptance: Option<f64>,
    /// Mean latent energy of the chains at T.
    pub mean_energy: f64,
    pub i_prime: f64,
    pub histogram_entropy: f64,
    /// Samples per arg-max class 0..9, space-separated.
    pub histogram: String,
    pub fid: f64,
    /// FID of real training images against the same reference, at the same count.
    pub fid_floor: f64,
    /// KID (unbiased MMD², cubic kernel) against the same reference, and its real floor
    /// (empty in files written before the column existed).
    #[serde(default)]
    pub kid: Option<f64>,
    #[serde(default)]
    pub kid_floor: Option<f64>,
    /// Seconds of chain steps to reach T (0 for the prior).
    pub seconds: f64,
}

/// One row of `chain.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChainRow {
    pub sampler: String,
    pub eps: f64,
    pub t: u64,
    pub mean_energy: f64,
}

/// The scoring of a set of images: classifier scores, FID and KID against fixed references.
pub struct Scorer<'a> {
    pub classifier: &'a Classifier,
    /// The reference images' features and their Gaussian.
    pub reference: Vec<f32>,
    pub reference_gaussian: Gaussian,
    /// (FID, KID) of real training images against the reference.
    pub floor: (f64, f64),
}

impl<'a> Scorer<'a> {
    /// The reference Gaussian of the first `n` test images and the floor of the first `n`
    /// training images (both padded, [−1, 1]).
    pub fn new(classifier: &'a Classifier, data: &crate::data::Mnist, n: usize) -> Result<Self> {
        let feats = |split: &crate::data::Split| {
            classifier.features(&crate::cmd::gan::padded(&split.slice(0..n)))
        };
        let reference = feats(&data.test);
        let floor =
            fid_and_kid(&feats(&data.train), &reference, HIDDEN).map_err(anyhow::Error::msg)?;
        Ok(Self {
            classifier,
            reference_gaussian: Gaussian::fit(&reference, HIDDEN).map_err(anyhow::Error::msg)?,
            reference,
            floor,
        })
    }

    /// A score row (sampler fields filled by the caller) of `images`.
    fn row(&self, images: &[f32]) -> Result<ScoreRow> {
        let s = scores(&self.classifier.log_probs(images));
        let f = self.classifier.features(images);
        let g = Gaussian::fit(&f, HIDDEN).map_err(anyhow::Error::msg)?;
        let kid = kid(&f, &self.reference, HIDDEN).map_err(anyhow::Error::msg)?;
        Ok(ScoreRow {
            lambda_mi: f32::NAN,
            seed: 0,
            sampler: String::new(),
            eps: None,
            steps: 0,
            acceptance: None,
            mean_energy: f64::NAN,
            i_prime: s.i_prime,
            histogram_entropy: s.histogram_entropy,
            histogram: s
                .histogram
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(" "),
            fid: fid(&g, &self.reference_gaussian),
            fid_floor: self.floor.0,
            kid: Some(kid),
            kid_floor: Some(self.floor.1),
            seconds: 0.0,
        })
    }
}

/// `chains` latents z ~ N(0, I) of the run's stream (seed, Samples, 2) — counters 0 and 1 are
/// the final scores' and samples.csv's.
pub fn prior_latents(seed: u64, chains: usize) -> Vec<f32> {
    normal_latents(stream(seed, Stream::Samples, 2), chains)
}

fn normal_latents(mut rng: rand::rngs::StdRng, n: usize) -> Vec<f32> {
    (0..n * LATENT)
        .map(|_| rng.sample::<f32, _>(StandardNormal))
        .collect()
}

/// The sampler name of the independent prior redraw (the noise control) in `scores.csv`.
pub const REDRAW: &str = "prior-redraw";

/// The sampler's name in the files.
pub fn sampler_name(k: Kind) -> &'static str {
    match k {
        Kind::Langevin => "langevin",
        Kind::Mala => "mala",
    }
}

/// The samples file of a (sampler, ε) at T_max, or of the prior (`None`).
pub fn samples_file(which: Option<(Kind, f64)>) -> String {
    match which {
        None => "samples_prior.csv".into(),
        Some((k, e)) => format!("samples_{}_eps{e}.csv", sampler_name(k)),
    }
}

/// The first 100 of `images` (padded, [−1, 1]) as 28 × 28 in [0, 1], for the sample grids.
fn first_100(images: &[f32]) -> Vec<f32> {
    crop_to_28(&images[..images.len().min(100 * PIXELS)])
}

/// The sweep of one trained model: writes `scores.csv`, `chain.csv` and the samples into
/// `out`; returns the score rows.
pub fn sweep(
    model: &dyn LatentModel,
    mcmc: &McmcConfig,
    scorer: &Scorer,
    (lambda_mi, seed): (f32, u64),
    out: &Path,
    quiet: bool,
) -> Result<Vec<ScoreRow>> {
    let z0 = prior_latents(seed, mcmc.chains);
    let energy_of = |z: &[f32]| {
        let (e, _) = model.energy_and_grad(z);
        e.iter().sum::<f64>() / e.len() as f64
    };
    let images = model.decode(&z0);
    let mut rows = vec![ScoreRow {
        lambda_mi,
        seed,
        sampler: "prior".into(),
        mean_energy: energy_of(&z0),
        ..scorer.row(&images)?
    }];
    write_samples(&out.join(samples_file(None)), &first_100(&images))?;
    // The control: another `chains` draws from the prior, scored the same way. Its distance
    // from the prior row is the scores' resampling noise at this sample count; a chain that
    // has mixed for long is, at worst, such a redraw.
    let z1 = normal_latents(stream(seed, Stream::PriorRedraw, 0), mcmc.chains);
    rows.push(ScoreRow {
        lambda_mi,
        seed,
        sampler: REDRAW.into(),
        mean_energy: energy_of(&z1),
        ..scorer.row(&model.decode(&z1))?
    });
    let t_max = *mcmc.steps.last().expect("validated non-empty");
    let kinds = [Kind::Langevin, Kind::Mala];
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(kinds.len() as u64 * mcmc.eps.len() as u64 * t_max)
    };
    bar.set_style(
        ProgressStyle::with_template("MCMC {bar:30} {pos}/{len} chain steps, ETA {eta}  {msg}")
            .expect("valid template"),
    );
    let mut chain = Vec::new();
    for kind in kinds {
        for &eps in &mcmc.eps {
            bar.set_message(format!("{} ε = {eps}", sampler_name(kind)));
            let mut z = z0.clone();
            let mut accepted = 0u64;
            let mut t0 = 0;
            let start = Instant::now();
            chain.push(ChainRow {
                sampler: sampler_name(kind).into(),
                eps,
                t: 0,
                mean_energy: rows[0].mean_energy,
            });
            for &t in &mcmc.steps {
                let st = run_chains_from(model, &mut z, eps, t0..t, kind, seed);
                accepted += st.accepted.iter().sum::<u64>();
                for (i, e) in st.mean_energy.iter().enumerate() {
                    chain.push(ChainRow {
                        sampler: sampler_name(kind).into(),
                        eps,
                        t: t0 + i as u64 + 1,
                        mean_energy: *e,
                    });
                }
                bar.inc(t - t0);
                t0 = t;
                let images = model.decode(&z);
                if t == t_max {
                    write_samples(
                        &out.join(samples_file(Some((kind, eps)))),
                        &first_100(&images),
                    )?;
                }
                rows.push(ScoreRow {
                    lambda_mi,
                    seed,
                    sampler: sampler_name(kind).into(),
                    eps: Some(eps),
                    steps: t,
                    acceptance: Some(accepted as f64 / (t as f64 * mcmc.chains as f64)),
                    mean_energy: st.mean_energy.last().copied().unwrap_or(f64::NAN),
                    seconds: start.elapsed().as_secs_f64(),
                    ..scorer.row(&images)?
                });
            }
            write_csv(&out.join("scores.csv"), &rows)?;
        }
    }
    bar.finish_and_clear();
    write_csv(&out.join("chain.csv"), &chain)?;
    write_csv(&out.join("scores.csv"), &rows)?;
    Ok(rows)
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Profile of configs/energy.toml: paper, quick or smoke.
    #[arg(long, default_value = "quick")]
    pub profile: String,
    /// λ₂, the weight of the MI term (0: the model without it); required unless --run.
    #[arg(long, required_unless_present = "run")]
    pub mi: Option<f32>,
    /// Training seed (one of the profile's, or any other); required unless --run.
    #[arg(long, required_unless_present = "run")]
    pub seed: Option<u64>,
    /// The run as `<profile>/<id>/seed<S>` (its folder under <results>/energy/, as
    /// `ebgan energy list` prints it), instead of --profile, --mi and --seed (for make).
    #[arg(long, conflicts_with_all = ["mi", "seed"])]
    pub run: Option<String>,
    /// MNIST folder (default: $MNIST_DIR, then data/mnist).
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub paths: Paths,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

/// The run's GAN config and sweep settings.
pub fn resolve(
    paths: &Paths,
    profile: &str,
    mi: f32,
    seed: u64,
) -> Result<(GanRunConfig, McmcConfig, EnergyProfile)> {
    let (train, p) = load_profile(&paths.configs, profile)?;
    if !(mi.is_finite() && mi >= 0.0) {
        anyhow::bail!("invalid setting: --mi = {mi} must be a finite weight ≥ 0");
    }
    let arch = Arch::energy(mi);
    let cfg = GanRunConfig {
        id: arch.id(),
        profile: profile.to_string(),
        seed,
        curve_every: p.curve_every,
        curve_samples: p.curve_samples,
        final_samples: p.final_samples,
        train_images: MNIST_TRAIN,
        config: GanConfig { arch, train },
    };
    cfg.config
        .validate()
        .map_err(|e| anyhow::anyhow!("invalid setting: {e}"))?;
    let mcmc = McmcConfig {
        chains: p.chains,
        eps: p.eps.clone(),
        steps: p.steps.clone(),
        prior_energy: p.prior_energy,
        fid_reference: format!(
            "classifier features (last hidden layer, {HIDDEN}); reference: MNIST test images 0..{n}; floor: training images 0..{n}",
            n = p.chains
        ),
    };
    Ok((cfg, mcmc, p))
}

/// (profile, λ₂, seed) of a `--run` value `<profile>/<id>/seed<S>`.
pub fn parse_run(run: &str) -> Result<(String, f32, u64)> {
    let bad = |why: String| anyhow::anyhow!("invalid setting: --run = '{run}': {why}");
    let parts: Vec<&str> = run.trim_end_matches('/').split('/').collect();
    let [profile, id, seed] = parts[..] else {
        return Err(bad("expected <profile>/<id>/seed<S>".into()));
    };
    let arch = Arch::from_id(id).map_err(bad)?;
    if arch.variant != gan_variants::config::VariantKind::Energy {
        return Err(bad(format!("{id} is not an energy-GAN id")));
    }
    let seed = seed
        .strip_prefix("seed")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("'{seed}' is not seed<S>")))?;
    Ok((profile.to_string(), arch.lambda_mi, seed))
}

pub fn main(args: Args) -> Result<()> {
    let (profile, mi, seed) = match &args.run {
        Some(r) => parse_run(r)?,
        None => (
            args.profile.clone(),
            args.mi.expect("clap requires --mi without --run"),
            args.seed.expect("clap requires --seed without --run"),
        ),
    };
    let (cfg, mcmc, _) = resolve(&args.paths, &profile, mi, seed)?;
    if let Some(r) = &args.run {
        // Only the canonical spelling names the folder make expects (else make reruns it).
        let canonical = format!("{profile}/{}/seed{seed}", cfg.id);
        if r.trim_end_matches('/') != canonical {
            anyhow::bail!(
                "invalid setting: --run = '{r}' is not canonical; write it as {canonical}"
            );
        }
    }
    let out = run_dir(&args.paths.results, &profile, &cfg.id, seed);
    if out.join("final.csv").exists() {
        let same = |f: &str| std::fs::read_to_string(out.join(f)).ok();
        let saved_cfg = same("config.toml").and_then(|t| toml::from_str::<GanRunConfig>(&t).ok());
        let saved_mcmc = same("mcmc.toml").and_then(|t| toml::from_str::<McmcConfig>(&t).ok());
        if saved_cfg.as_ref() != Some(&cfg) || saved_mcmc.as_ref() != Some(&mcmc) {
            anyhow::bail!(
                "{} holds a run finished with other settings; delete the folder to rerun it",
                out.display()
            );
        }
        eprintln!("{} is finished (final.csv exists): kept", out.display());
        return Ok(());
    }
    let data = crate::data::load_mnist(&crate::data::resolve_dir(args.data_dir.as_deref()))?;
    let classifier = crate::cmd::gan::classifier::load_or_train(&args.paths.classifier, &data)?;
    let scorer = Scorer::new(&classifier, &data, mcmc.chains)?;
    let quiet = args.quiet;
    // Written beside config.toml from the start (once the run's lock is held), so a finished
    // run (a diverged one included) is recognised by both files.
    let mcmc_toml = toml::to_string(&mcmc)?;
    let mut after = |trainer: &dyn GanTrainer| -> Result<()> {
        let model = trainer
            .latent_model(mcmc.prior_energy)
            .context("the energy GAN has a latent energy")?;
        sweep(model.as_ref(), &mcmc, &scorer, (mi, cfg.seed), &out, quiet)?;
        Ok(())
    };
    let extras = Extras {
        samples: true,
        parzen: None,
        quiet,
    };
    let row = execute_with(
        &cfg,
        &data,
        &classifier,
        &out,
        extras,
        &[("mcmc.toml", mcmc_toml.as_bytes())],
        &mut after,
    )?;
    eprintln!(
        "{} seed {}: {} (I' {}) -> {}",
        row.id,
        row.seed,
        row.status,
        row.i_prime.map_or("-".into(), |v| format!("{v:.3}")),
        out.display()
    );
    Ok(())
}
