//! `ebgan images features`: trains the FID-cifar-cnn feature network
//! (gan_variants::metrics::feature_net) on the first `train_images` CIFAR-10 training images
//! with the standard augmentation (translations of up to 4 pixels, horizontal flips), checks it
//! on the held-out rest, and writes `<results>/features/cifar-cnn/`:
//! `config.toml`, `curve.csv` (per epoch: lr, loss, training and held-out accuracy),
//! `model.safetensors`, `population.csv` (the batch-norm population statistics), and last
//! `final.csv` (held-out accuracy, the weights' SHA-256). Resumable: a checkpoint after every
//! epoch (`checkpoint/`), so an interrupted training continues where it stopped. A network below
//! `min_accuracy` is not saved.

use super::{load_config, FeatureSettings, Paths};
use crate::cmd::run::{RunLock, CODE_VERSION};
use crate::io::{write_atomic, write_csv, TempFile};
use anyhow::{bail, Context, Result};
use dfdx::nn::{LoadFromSafetensors, SaveToSafetensors};
use dfdx::prelude::*;
use gan_variants::harness::{stream, Stream};
use gan_variants::metrics::feature_net::{augment, FeatureNet, INPUT};
use gan_variants::nets::Net;
use indicatif::{ProgressBar, ProgressStyle};
use ladder::bn::ColumnStats;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub paths: Paths,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Retrain even if a finished network exists.
    #[arg(long)]
    pub force: bool,
}

/// What the network was trained with; its `config.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureRunConfig {
    pub settings: FeatureSettings,
    pub code: String,
}

/// One row of `curve.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureCurveRow {
    pub epoch: usize,
    pub lr: f32,
    pub train_loss: f64,
    pub train_accuracy: f64,
    /// On the held-out images, with population statistics of 5,000 training images.
    pub heldout_accuracy: f64,
    pub wall_seconds: f64,
}

/// `final.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureFinalRow {
    pub network: String,
    pub heldout_accuracy: f64,
    pub train_images: usize,
    pub heldout_images: usize,
    pub epochs: usize,
    pub seed: u64,
    pub wall_seconds: f64,
    /// SHA-256 of model.safetensors followed by population.csv: names the exact features.
    pub weights_sha256: String,
    pub code: String,
}

/// One row of `population.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct PopulationRow {
    layer: usize,
    channel: usize,
    mean: f32,
    var: f32,
}

/// The name FID and KID carry when computed on this network's features.
pub const NETWORK: &str = "cifar-cnn";

/// lr at `epoch` of `epochs`: constant for the first half (epochs < E/2), then lowered by
/// lr/(E/2 + 1) per epoch — for E = 15: 1e-3 to epoch 7, then 7/8.5 … down to 2/8.5 ≈ 23.5 % of
/// the peak in the last epoch (it does not reach 0).
pub fn lr_at(lr: f32, epoch: usize, epochs: usize) -> f32 {
    let half = epochs as f32 / 2.0;
    let e = epoch as f32;
    if e < half {
        lr
    } else {
        lr * (1.0 - (e - half) / (epochs as f32 - half + 1.0))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct EpochState {
    /// Epochs finished.
    epochs_done: usize,
    wall_seconds: f64,
}

fn save_checkpoint(
    dir: &Path,
    net: &mut FeatureNet,
    state: &EpochState,
    curve: &[FeatureCurveRow],
) -> Result<()> {
    let ck = dir.join("checkpoint");
    std::fs::create_dir_all(&ck).with_context(|| format!("cannot create {}", ck.display()))?;
    let s = net.model.state().map_err(anyhow::Error::msg)?;
    write_atomic(&ck.join("net.bin"), &crate::checkpoint::encode_net(&s))?;
    write_csv(&ck.join("curve.csv"), curve)?;
    // state.toml last: it marks the checkpoint complete.
    write_atomic(&ck.join("state.toml"), toml::to_string(state)?.as_bytes())
}

fn load_checkpoint(
    dir: &Path,
    net: &mut FeatureNet,
) -> Result<Option<(EpochState, Vec<FeatureCurveRow>)>> {
    let ck = dir.join("checkpoint");
    let Ok(text) = std::fs::read_to_string(ck.join("state.toml")) else {
        return Ok(None);
    };
    let bad = |what: &str, e: String| {
        anyhow::anyhow!(
            "checkpoint {}: {what} is unreadable ({e}); delete the folder to start afresh",
            ck.display()
        )
    };
    let state: EpochState = toml::from_str(&text).map_err(|e| bad("state.toml", e.to_string()))?;
    let bytes = std::fs::read(ck.join("net.bin")).map_err(|e| bad("net.bin", e.to_string()))?;
    let s = crate::checkpoint::decode_net(&bytes).map_err(|e| bad("net.bin", format!("{e:#}")))?;
    net.model.set_state(&s).map_err(|e| bad("net.bin", e))?;
    let curve: Vec<FeatureCurveRow> = crate::io::read_csv(&ck.join("curve.csv"))
        .map_err(|e| bad("curve.csv", format!("{e:#}")))?;
    if curve.len() != state.epochs_done {
        return Err(bad(
            "curve.csv",
            format!("{} rows for {} epochs", curve.len(), state.epochs_done),
        ));
    }
    Ok(Some((state, curve)))
}

fn sha256_files(files: &[&Path]) -> Result<String> {
    let mut h = Sha256::new();
    for f in files {
        h.update(std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Trains, checks and saves the network; returns its final row.
///
/// Without `force`, refuses once it holds the lock if another process finished the network
/// meanwhile ([`RunLock::acquire_unfinished`]); with it, retrains over a finished one.
pub fn train(
    paths: &Paths,
    s: &FeatureSettings,
    quiet: bool,
    force: bool,
) -> Result<FeatureFinalRow> {
    let data = crate::images::load_cifar10(&paths.cifar())?;
    let labels = data.labels.clone().context("CIFAR-10 has labels")?;
    let n = s.train_images;
    let x_train = data.signed(0..n);
    let held = n..n + s.heldout_images;
    let x_held = data.signed(held.clone());
    let (y_train, y_held) = (&labels[..n], &labels[held]);
    let dir = paths.feature_net();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let _lock = if force {
        RunLock::acquire(&dir)?
    } else {
        RunLock::acquire_unfinished(&dir)?
    };
    let cfg = FeatureRunConfig {
        settings: s.clone(),
        code: CODE_VERSION.into(),
    };
    write_atomic(&dir.join("config.toml"), toml::to_string(&cfg)?.as_bytes())?;
    let dev = Cpu::seed_from_u64(s.seed);
    let mut net = FeatureNet::new(&dev, s.lr, &mut stream(s.seed, Stream::InitD, 0));
    let (mut state, mut curve) = match load_checkpoint(&dir, &mut net)? {
        Some(c) => {
            eprintln!(
                "resuming the feature network after epoch {}",
                c.0.epochs_done
            );
            c
        }
        None => (
            EpochState {
                epochs_done: 0,
                wall_seconds: 0.0,
            },
            Vec::new(),
        ),
    };
    let start = Instant::now();
    let steps_per_epoch = n / s.batch;
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new((s.epochs * steps_per_epoch) as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("cifar-cnn {bar:30} {pos}/{len} steps, ETA {eta}  {msg}")
            .expect("valid template"),
    );
    bar.set_position((state.epochs_done * steps_per_epoch) as u64);
    // Population statistics for the per-epoch check: 5,000 training images (fixed).
    let stats_x = &x_train[..5000.min(n) * INPUT];
    let mut x = Vec::with_capacity(s.batch * INPUT);
    let mut y = Vec::with_capacity(s.batch);
    for epoch in state.epochs_done..s.epochs {
        let lr = lr_at(s.lr, epoch, s.epochs);
        net.set_lr(lr);
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut stream(s.seed, Stream::DataOrder, epoch as u64));
        let mut rng = stream(s.seed, Stream::DropoutD, epoch as u64);
        let (mut loss_sum, mut acc_sum) = (0f64, 0f64);
        // The last partial batch of an epoch is dropped (its images come first another epoch).
        for idx in order.chunks_exact(s.batch) {
            x.clear();
            y.clear();
            for &i in idx {
                x.extend_from_slice(&x_train[i * INPUT..(i + 1) * INPUT]);
                y.push(y_train[i]);
            }
            augment(&mut x, &mut rng);
            let (loss, acc) = net.train_step(&x, &y);
            if !loss.is_finite() {
                bail!("feature network training diverged in epoch {}", epoch + 1);
            }
            loss_sum += loss as f64;
            acc_sum += acc as f64;
            bar.inc(1);
        }
        net.fit_population_stats(stats_x);
        let held = net.accuracy(&x_held, y_held);
        curve.push(FeatureCurveRow {
            epoch: epoch + 1,
            lr,
            train_loss: loss_sum / steps_per_epoch as f64,
            train_accuracy: acc_sum / steps_per_epoch as f64,
            heldout_accuracy: held,
            wall_seconds: state.wall_seconds + start.elapsed().as_secs_f64(),
        });
        bar.set_message(format!(
            "epoch {}: held-out accuracy {:.1} %",
            epoch + 1,
            100.0 * held
        ));
        let done = EpochState {
            epochs_done: epoch + 1,
            wall_seconds: state.wall_seconds + start.elapsed().as_secs_f64(),
        };
        if epoch + 1 < s.epochs {
            save_checkpoint(&dir, &mut net, &done, &curve)?;
        }
        write_csv(&dir.join("curve.csv"), &curve)?;
        if epoch + 1 == s.epochs {
            state = done;
        }
    }
    bar.finish_and_clear();
    // Final population statistics over all training images.
    net.fit_population_stats(&x_train);
    let accuracy = net.accuracy(&x_held, y_held);
    if accuracy < s.min_accuracy {
        bail!(
            "the feature network reached {:.2} % on the {} held-out images, below the {:.0} % required (features.min_accuracy); train longer (features.epochs)",
            100.0 * accuracy,
            y_held.len(),
            100.0 * s.min_accuracy
        );
    }
    let model = dir.join("model.safetensors");
    let tmp = TempFile::beside(&model)?;
    net.model
        .net
        .save_safetensors(tmp.path())
        .map_err(|e| anyhow::anyhow!("cannot save {}: {e:?}", model.display()))?;
    tmp.commit()?;
    let pop: Vec<PopulationRow> = net
        .stats
        .iter()
        .enumerate()
        .flat_map(|(layer, st)| {
            st.mean
                .iter()
                .zip(&st.var)
                .enumerate()
                .map(move |(channel, (m, v))| PopulationRow {
                    layer,
                    channel,
                    mean: *m,
                    var: *v,
                })
        })
        .collect();
    let pop_path = dir.join("population.csv");
    write_csv(&pop_path, &pop)?;
    let row = FeatureFinalRow {
        network: NETWORK.into(),
        heldout_accuracy: accuracy,
        train_images: n,
        heldout_images: y_held.len(),
        epochs: s.epochs,
        seed: s.seed,
        wall_seconds: state.wall_seconds,
        weights_sha256: sha256_files(&[&model, &pop_path])?,
        code: CODE_VERSION.into(),
    };
    write_csv(&dir.join("final.csv"), std::slice::from_ref(&row))?;
    crate::checkpoint::remove(&dir)?;
    Ok(row)
}

/// The network's record (`final.csv`'s row, with the SHA-256 of its files), without loading
/// the weights; None when it has not been trained.
pub fn record(paths: &Paths) -> Result<Option<FeatureFinalRow>> {
    let final_csv = paths.feature_net().join("final.csv");
    if !final_csv.exists() {
        return Ok(None);
    }
    let rows: Vec<FeatureFinalRow> = crate::io::read_csv(&final_csv)?;
    rows.into_iter()
        .next()
        .with_context(|| format!("{} has no row", final_csv.display()))
        .map(Some)
}

/// The trained network of `paths` with its population statistics and the SHA-256 naming it;
/// an error saying how to train it when it is missing.
pub fn load(paths: &Paths) -> Result<(FeatureNet, String)> {
    let dir = paths.feature_net();
    let final_csv = dir.join("final.csv");
    let Some(row) = record(paths)? else {
        bail!(
            "the FID feature network is missing ({} not found): train it with `ebgan images features` (make features), about 1–2 hours here",
            final_csv.display()
        );
    };
    let (model, pop_path) = (dir.join("model.safetensors"), dir.join("population.csv"));
    let sha = sha256_files(&[&model, &pop_path])?;
    if sha != row.weights_sha256 {
        bail!(
            "{} and {} do not match the SHA-256 recorded in {}: retrain the network (ebgan images features --force)",
            model.display(),
            pop_path.display(),
            final_csv.display()
        );
    }
    let dev = Cpu::default();
    let mut net = FeatureNet::new(&dev, 1e-3, &mut stream(0, Stream::InitD, 0));
    net.model
        .net
        .load_safetensors(&model)
        .map_err(|e| anyhow::anyhow!("cannot load {}: {e:?}", model.display()))?;
    let pop: Vec<PopulationRow> = crate::io::read_csv(&pop_path)?;
    let mut stats: Vec<ColumnStats> = Vec::new();
    for r in pop {
        if r.layer == stats.len() {
            stats.push(ColumnStats {
                mean: Vec::new(),
                var: Vec::new(),
            });
        }
        if r.layer + 1 != stats.len() {
            bail!("{}: layers out of order", pop_path.display());
        }
        let st = stats.last_mut().expect("pushed above");
        st.mean.push(r.mean);
        st.var.push(r.var);
    }
    // The layers and widths the network's batch norm expects, from one pass over two images.
    let probe: Tensor<(usize, Const<INPUT>), f32, Cpu> = dev.zeros_like(&(2, Const));
    let widths: Vec<usize> = net
        .model
        .batch_stats(probe)
        .iter()
        .map(|s| s.mean.len())
        .collect();
    let found: Vec<usize> = stats.iter().map(|s| s.mean.len()).collect();
    if found != widths {
        bail!(
            "{}: batch-norm statistics of widths {found:?}, the network has layers of widths {widths:?}",
            pop_path.display()
        );
    }
    net.stats = stats;
    Ok((net, sha))
}

pub fn main(args: Args) -> Result<()> {
    let cfg = load_config(&args.paths.config)?;
    let done = args.paths.feature_net().join("final.csv");
    if done.exists() && !args.force {
        eprintln!(
            "{} exists: the feature network is trained (--force retrains it)",
            done.display()
        );
        return Ok(());
    }
    let row = train(&args.paths, &cfg.features, args.quiet, args.force)?;
    eprintln!(
        "feature network {}: {:.2} % on {} held-out CIFAR-10 images after {} epochs ({:.0} s) -> {}",
        row.network,
        100.0 * row.heldout_accuracy,
        row.heldout_images,
        row.epochs,
        row.wall_seconds,
        args.paths.feature_net().display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed network loads; a copy whose population.csv lacks the last layer's rows
    /// (its SHA-256 recorded anew, so only the shape check can catch it) is refused with an
    /// error naming population.csv, where a missing layer used to surface later as a panic.
    #[test]
    fn load_checks_the_population_statistics_shape() {
        let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
        let paths = |results: &Path| Paths {
            config: "configs/images.toml".into(),
            results: results.to_path_buf(),
            cifar_dir: None,
            faces_dir: None,
            cache: "data/cache".into(),
        };
        load(&paths(&committed)).expect("the committed FID network loads");
        let tmp = std::env::temp_dir().join(format!("ebgan-fnet-{}", std::process::id()));
        let dir = tmp.join("features").join("cifar-cnn");
        std::fs::create_dir_all(&dir).unwrap();
        let src = paths(&committed).feature_net();
        for f in ["config.toml", "model.safetensors", "final.csv"] {
            std::fs::copy(src.join(f), dir.join(f)).unwrap();
        }
        let pop = std::fs::read_to_string(src.join("population.csv")).unwrap();
        let last = pop
            .lines()
            .last()
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .to_string();
        let cut: String = pop
            .lines()
            .filter(|l| !l.starts_with(&format!("{last},")))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(dir.join("population.csv"), cut).unwrap();
        let sha =
            sha256_files(&[&dir.join("model.safetensors"), &dir.join("population.csv")]).unwrap();
        let mut rows: Vec<FeatureFinalRow> = crate::io::read_csv(&dir.join("final.csv")).unwrap();
        rows[0].weights_sha256 = sha;
        write_csv(&dir.join("final.csv"), &rows).unwrap();
        let e = format!("{:#}", load(&paths(&tmp)).err().expect("refused"));
        std::fs::remove_dir_all(&tmp).unwrap();
        assert!(e.contains("population.csv") && e.contains("widths"), "{e}");
    }

    /// 12 epochs at 1e-3: 1e-3 for epochs 0–5, then 1e-3·(1 − (e − 6)/7): 1 at 6, …, 2/7 at 11.
    #[test]
    fn lr_schedule_is_constant_then_linear() {
        assert_eq!(lr_at(1e-3, 0, 12), 1e-3);
        assert_eq!(lr_at(1e-3, 5, 12), 1e-3);
        assert!((lr_at(1e-3, 6, 12) - 1e-3).abs() < 1e-9);
        assert!((lr_at(1e-3, 11, 12) - 1e-3 * 2.0 / 7.0).abs() < 1e-9);
        assert!(lr_at(1e-3, 11, 12) > 0.0);
    }
}
