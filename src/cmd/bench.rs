//! `ebgan bench`: median, minimum and maximum milliseconds per training step of the LN step
//! and of the EBGAN-LN D+G step, and of the clean evaluation pass over 10,000 images, on
//! random data of MNIST's shape; beside them the counted matmul GFLOP, the achieved GFLOP/s,
//! this machine's sgemm ceiling through the same backend (dfdx's gemm), and the ratio. Beside
//! each step, its matmuls alone (`*_matmuls_only`, same shapes, same backend): the floor the
//! step would reach if nothing but matmul took time. The image rows (DCGAN discriminator,
//! convolutions alone, their matmuls alone, face-model D + G steps) are
//! [`super::bench_images`].
//! Results go to `results/bench/<commit>.csv`.

use crate::cmd::run::CODE_VERSION;
use crate::io::write_csv;
use anyhow::Result;
use dfdx::prelude::*;
use ladder::fast;
use ladder::model::PopulationStats;
use ladder::shapes::*;
use ladder::train::{Batch, Trainer};
use ladder::{EbganLnTrainer, EbganProtocol, LadderConfig, LnProtocol, LnTrainer};
use serde::Serialize;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Timed steps per measurement, ≥ 1 (at least 30 for the record).
    #[arg(long, default_value_t = 30, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub steps: usize,
    /// Untimed warm-up steps.
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
    /// Where to write `<commit>.csv` (nothing is written with --no-save).
    #[arg(long, default_value = "results/bench")]
    pub out: std::path::PathBuf,
    /// Print the measurements only; write no CSV.
    #[arg(long)]
    pub no_save: bool,
    /// Time only these measurements (for profiling one step, or beside a peer library); all by
    /// default. A partial run is saved to its own file, `<commit>_<measurements>.csv`, so it
    /// never mixes with a commit's full runs.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Measurement>,
    /// Time nothing: summarise saved bench files instead (each run of a build is appended to
    /// its file): per measurement, the median of the runs' medians and its spread.
    #[arg(long, num_args = 1..)]
    pub summarize: Vec<std::path::PathBuf>,
}

/// The timed measurements.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum Measurement {
    Ln,
    Ebgan,
    Eval,
    /// The image rows ([`super::bench_images`]): the DCGAN discriminator and the face models.
    Images,
    /// The EDGAN paper's models ([`super::bench_images::measure_edgan`]): D and G steps of the
    /// figure-2 DCGAN, OptimizedDCGAN and EDGAN at batch 64.
    Edgan,
}

/// Milliseconds of each timed call of `f`.
pub fn time_steps(warmup: usize, steps: usize, mut f: impl FnMut(u64)) -> Vec<f64> {
    for t in 0..warmup {
        f(t as u64);
    }
    (0..steps)
        .map(|t| {
            let start = Instant::now();
            f((warmup + t) as u64);
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect()
}

/// (median, min, max).
pub fn summary(mut ms: Vec<f64>) -> (f64, f64, f64) {
    ms.sort_by(f64::total_cmp);
    (ms[ms.len() / 2], ms[0], ms[ms.len() - 1])
}

/// Σ I·O over the ladder's encoder (the decoder's V matrices have the same sizes).
const LADDER_MACS_PER_ROW: f64 =
    (PIXELS * H1 + H1 * H2 + H2 * H3 + H3 * H4 + H4 * H5 + H5 * CLASSES) as f64;
/// Σ I·O over the generator.
const GENERATOR_MACS_PER_ROW: f64 =
    (LATENT * G_HIDDEN + 3 * G_HIDDEN * G_HIDDEN + G_HIDDEN * PIXELS) as f64;

/// Multiply-adds of the first encoder layer's input gradient, per row: the LN step and the
/// D step skip that matmul (nothing upstream of the input is trained), so it is not counted.
const SKIPPED_INPUT_GRAD_MACS_PER_ROW: f64 = (PIXELS * H1) as f64;

/// Counted matmul GFLOP of one LN step with batch b: the encoder over 2b rows and the decoder
/// over b rows, forward (2 FLOP per multiply-add) and backward (two matmuls per forward one:
/// the input gradient and the weight gradient), less the skipped first-layer input gradient.
pub fn ln_step_gflop(b: f64) -> f64 {
    let executed =
        3.0 * LADDER_MACS_PER_ROW * (2.0 * b + b) - SKIPPED_INPUT_GRAD_MACS_PER_ROW * 2.0 * b;
    2.0 * executed / 1e9
}

/// Counted matmul GFLOP of one EBGAN-LN D+G step: the D step (encoder 3b rows, decoder 2b, no
/// first-layer input gradient), the generator forward and backward (without z's gradient), and
/// the G step's ladder
/// pass (encoder b, decoder b) with its input gradients but without weight gradients (the
/// ladder is frozen there; since the whole-pass kernels they are not computed).
pub fn ebgan_step_gflop(b: f64) -> f64 {
    let d =
        3.0 * LADDER_MACS_PER_ROW * (3.0 * b + 2.0 * b) - SKIPPED_INPUT_GRAD_MACS_PER_ROW * 3.0 * b;
    let g = (3.0 * GENERATOR_MACS_PER_ROW - (LATENT * G_HIDDEN) as f64) * b;
    let g_ladder = 2.0 * LADDER_MACS_PER_ROW * (b + b);
    2.0 * (d + g + g_ladder) / 1e9
}

/// The matmuls of one linear layer in a training step, over `rows` rows: the forward product,
/// the weight gradient if `weight_grad`, and the input gradient if `input_grad`.
#[derive(Clone, Copy, Debug)]
pub struct LayerMatmuls {
    pub rows: usize,
    pub inputs: usize,
    pub outputs: usize,
    pub input_grad: bool,
    pub weight_grad: bool,
}

impl LayerMatmuls {
    pub fn gflop(&self) -> f64 {
        let products = 1.0 + self.input_grad as u8 as f64 + self.weight_grad as u8 as f64;
        2.0 * products * (self.rows * self.inputs * self.outputs) as f64 / 1e9
    }
}

const LADDER_LAYERS: [(usize, usize); 6] = [
    (PIXELS, H1),
    (H1, H2),
    (H2, H3),
    (H3, H4),
    (H4, H5),
    (H5, CLASSES),
];

/// The ladder's encoder over `rows` rows (its first layer's input gradient only if asked) and,
/// over `decoder_rows` rows, its decoder (the V matrices, same sizes); weight gradients if
/// `weight_grad`.
fn ladder_matmuls(
    rows: usize,
    first_input_grad: bool,
    decoder_rows: usize,
    weight_grad: bool,
) -> Vec<LayerMatmuls> {
    let encoder = LADDER_LAYERS
        .iter()
        .enumerate()
        .map(|(l, &(inputs, outputs))| LayerMatmuls {
            rows,
            inputs,
            outputs,
            input_grad: l > 0 || first_input_grad,
            weight_grad,
        });
    let decoder = LADDER_LAYERS.iter().rev().map(|&(i, o)| LayerMatmuls {
        rows: decoder_rows,
        inputs: o,
        outputs: i,
        input_grad: true,
        weight_grad,
    });
    encoder.chain(decoder).collect()
}

/// Every matmul of an LN step with batch b, as [`ln_step_gflop`] counts them.
pub fn ln_step_matmuls(b: usize) -> Vec<LayerMatmuls> {
    ladder_matmuls(2 * b, false, b, true)
}

/// Every matmul of an EBGAN-LN D+G step with batch b, as [`ebgan_step_gflop`] counts them.
pub fn ebgan_step_matmuls(b: usize) -> Vec<LayerMatmuls> {
    let generator = [
        (LATENT, G_HIDDEN),
        (G_HIDDEN, G_HIDDEN),
        (G_HIDDEN, G_HIDDEN),
        (G_HIDDEN, G_HIDDEN),
        (G_HIDDEN, PIXELS),
    ]
    .map(|(inputs, outputs)| LayerMatmuls {
        rows: b,
        inputs,
        outputs,
        // z's gradient is not needed (nothing upstream of it trains).
        input_grad: inputs != LATENT,
        weight_grad: true,
    });
    let mut all = ladder_matmuls(3 * b, false, 2 * b, true);
    all.extend(generator);
    all.extend(ladder_matmuls(b, true, b, false));
    all
}

/// A step's matmuls alone, through the library the step runs them through (the whole-pass
/// kernels of the ladder and the generator: gemm 0.19 into preallocated outputs): h·Wᵀ, gᵀ·h
/// and g·W on random values. Their time is the floor a step reaches if everything
/// else in it took no time.
fn time_matmuls(dev: &Cpu, layers: &[LayerMatmuls], warmup: usize, steps: usize) -> Vec<f64> {
    type Matrix = Tensor<(usize, usize), f32, Cpu>;
    struct Operands {
        raw: [Vec<f32>; 3],
        out: [Vec<f32>; 3],
        layer: LayerMatmuls,
    }
    let mut operands: Vec<Operands> = layers
        .iter()
        .map(|l| {
            let h: Matrix = dev.sample_normal_like(&(l.rows, l.inputs));
            let w: Matrix = dev.sample_normal_like(&(l.outputs, l.inputs));
            let g: Matrix = dev.sample_normal_like(&(l.rows, l.outputs));
            let raw = [h.as_vec(), w.as_vec(), g.as_vec()];
            let out = [
                vec![0f32; l.rows * l.outputs],
                vec![0f32; l.outputs * l.inputs],
                vec![0f32; l.rows * l.inputs],
            ];
            Operands {
                raw,
                out,
                layer: *l,
            }
        })
        .collect();
    time_steps(warmup, steps, |_| {
        for o in operands.iter_mut() {
            let l = o.layer;
            let (r, i, n) = (l.rows, l.inputs, l.outputs);
            let [h, w, g] = &o.raw;
            let [out, gw, gh] = &mut o.out;
            // Row-major here; the kernels use the transposed (feature-major) layout, the same
            // three products with the operands' roles swapped.
            fast::matmul((r, n, i), h, (i, 1), w, (1, i), out, false);
            if l.weight_grad {
                fast::matmul((n, i, r), g, (1, n), h, (i, 1), gw, false);
            }
            if l.input_grad {
                fast::matmul((r, i, n), g, (n, 1), w, (i, 1), gh, false);
            }
        }
    })
}

/// One row of `results/bench/<commit>.csv`.
#[derive(Serialize, serde::Deserialize, Clone, Debug)]
pub struct Row {
    commit: String,
    measurement: String,
    threads: usize,
    runs: usize,
    median_ms: f64,
    min_ms: f64,
    max_ms: f64,
    gflop: f64,
    gflops_at_median: f64,
    sgemm_ceiling_gflops: f64,
    ratio_to_ceiling: f64,
    /// The same 2048³ sgemm through the ladder kernels' gemm 0.19 (absent in files written
    /// before it was measured).
    #[serde(default)]
    fast_sgemm_ceiling_gflops: Option<f64>,
    #[serde(default)]
    ratio_to_fast_ceiling: Option<f64>,
}

/// GFLOP/s of a 2048³ sgemm through dfdx (gemm 0.15) and through the ladder kernels' gemm
/// 0.19 (best of 5 after a warm-up each).
fn sgemm_ceilings(dev: &Cpu) -> (f64, f64) {
    const K: usize = 2048;
    let a: Tensor<Rank2<K, K>, f32, Cpu> = dev.sample_normal();
    let b: Tensor<Rank2<K, K>, f32, Cpu> = dev.sample_normal();
    let gflops = |ms: Vec<f64>| {
        let best = ms.iter().cloned().fold(f64::INFINITY, f64::min);
        2.0 * (K as f64).powi(3) / (best / 1e3) / 1e9
    };
    let dfdx = gflops(time_steps(1, 5, |_| {
        let _ = a.clone().matmul(b.clone());
    }));
    let (av, bv) = (a.as_vec(), b.as_vec());
    let mut c = vec![0f32; K * K];
    let fast = gflops(time_steps(1, 5, |_| {
        fast::matmul((K, K, K), &av, (K, 1), &bv, (K, 1), &mut c, false);
    }));
    (dfdx, fast)
}

pub fn main(args: Args) -> Result<()> {
    if !args.summarize.is_empty() {
        for path in &args.summarize {
            println!("{}", path.display());
            for line in summarize(&crate::io::read_csv::<Row>(path)?) {
                println!("  {line}");
            }
        }
        return Ok(());
    }
    let dev = Cpu::seed_from_u64(0);
    let cfg = LadderConfig::default();
    let b = cfg.batch_size;
    let threads = rayon_threads();
    let (ceiling, fast_ceiling) = sgemm_ceilings(&dev);
    println!(
        "sgemm 2048³: {ceiling:.0} GFLOP/s through dfdx (gemm 0.15), {fast_ceiling:.0} GFLOP/s through gemm 0.19"
    );
    let x_l: Vec<f32> = dev.sample_uniform_like(&(b, Const::<PIXELS>)).as_vec();
    let x_u: Vec<f32> = dev.sample_uniform_like(&(b, Const::<PIXELS>)).as_vec();
    let y: Vec<u8> = (0..b).map(|i| (i % 10) as u8).collect();
    let batch = Batch {
        labeled_x: &x_l,
        labeled_y: &y,
        unlabeled_x: &x_u,
    };
    let mut rows = Vec::new();
    let mut record = |name: &str, ms: Vec<f64>, gflop: f64| {
        let runs = ms.len();
        let (m, lo, hi) = summary(ms);
        let gflops = gflop / (m / 1e3);
        println!(
            "{name:<26} median {m:7.1} ms  min {lo:7.1}  max {hi:7.1}  {gflop:6.2} GFLOP  {gflops:6.1} GFLOP/s  {:4.0} % of gemm 0.15's {ceiling:.0}, {:4.0} % of gemm 0.19's {fast_ceiling:.0} GFLOP/s",
            100.0 * gflops / ceiling,
            100.0 * gflops / fast_ceiling
        );
        rows.push(Row {
            commit: CODE_VERSION.into(),
            measurement: name.into(),
            threads,
            runs,
            median_ms: m,
            min_ms: lo,
            max_ms: hi,
            gflop,
            gflops_at_median: gflops,
            sgemm_ceiling_gflops: ceiling,
            ratio_to_ceiling: gflops / ceiling,
            fast_sgemm_ceiling_gflops: Some(fast_ceiling),
            ratio_to_fast_ceiling: Some(gflops / fast_ceiling),
        });
    };
    let wanted = |m: Measurement| args.only.is_empty() || args.only.contains(&m);
    let mut ln = LnTrainer::new(&dev, 0, cfg.clone(), LnProtocol::default());
    if wanted(Measurement::Ln) {
        record(
            "ln_step",
            time_steps(args.warmup, args.steps, |t| {
                ln.train_step(t, &batch);
            }),
            ln_step_gflop(b as f64),
        );
        record(
            "ln_step_matmuls_only",
            time_matmuls(&dev, &ln_step_matmuls(b), args.warmup, args.steps),
            ln_step_gflop(b as f64),
        );
    }
    if wanted(Measurement::Ebgan) {
        let mut eb = EbganLnTrainer::new(&dev, 0, cfg.clone(), EbganProtocol::default());
        record(
            "ebgan_ln_step",
            time_steps(args.warmup, args.steps, |t| {
                eb.train_step(t, &batch);
            }),
            ebgan_step_gflop(b as f64),
        );
        record(
            "ebgan_ln_step_matmuls_only",
            time_matmuls(&dev, &ebgan_step_matmuls(b), args.warmup, args.steps),
            ebgan_step_gflop(b as f64),
        );
    }
    if wanted(Measurement::Eval) {
        // The clean evaluation pass over 10,000 images (test-time statistics from the batch).
        let test: Vec<f32> = dev.sample_uniform_like(&(10_000, Const::<PIXELS>)).as_vec();
        let stats = PopulationStats::from_batches(
            &[ln.ladder.clean_batch_stats(
                &cfg,
                &dev.tensor_from_vec(x_l.clone(), (b, Const::<PIXELS>)),
            )],
            &[b],
        );
        let eval_runs = (args.steps / 3).max(5);
        record(
            "eval_10000",
            time_steps(1, eval_runs, |_| {
                for chunk in test.chunks(1000 * PIXELS) {
                    drop(ln.ladder.predict(
                        &cfg,
                        dev.tensor_from_vec(chunk.to_vec(), (1000, Const::<PIXELS>)),
                        &stats,
                    ));
                }
            }),
            2.0 * LADDER_MACS_PER_ROW * 10_000.0 / 1e9,
        );
    }
    if wanted(Measurement::Images) {
        for (name, ms, gflop) in super::bench_images::measure(args.warmup, args.steps) {
            record(&name, ms, gflop);
        }
    }
    if wanted(Measurement::Edgan) {
        for (name, ms, gflop) in super::bench_images::measure_edgan(args.steps) {
            record(&name, ms, gflop);
        }
    }
    if !args.no_save {
        let mut only: Vec<String> = args.only.iter().map(|m| format!("{m:?}")).collect();
        only.sort();
        only.dedup();
        let suffix = if only.is_empty() {
            String::new()
        } else {
            format!("_{}", only.join("+").to_lowercase())
        };
        let path = args.out.join(format!("{CODE_VERSION}{suffix}.csv"));
        let n = append_run(&path, &rows)?;
        println!("-> {} (run {n} of this build)", path.display());
    }
    Ok(())
}

/// Appends one bench run's rows to a build's file (created if missing) and returns how many
/// runs the file now holds, so repeated runs of one build are kept side by side for
/// `--summarize` instead of replacing each other. Written atomically.
pub fn append_run(path: &std::path::Path, run: &[Row]) -> Result<usize> {
    let mut rows: Vec<Row> = if path.exists() {
        crate::io::read_csv(path)?
    } else {
        Vec::new()
    };
    rows.extend_from_slice(run);
    write_csv(path, &rows)?;
    let first = run.first().map(|r| r.measurement.as_str());
    Ok(rows
        .iter()
        .filter(|r| Some(r.measurement.as_str()) == first)
        .count())
}

/// One line per measurement, in file order: the median of the runs' median ms (the lower
/// middle for an even count), the range of those medians, and the ratio to the ceiling at the
/// median run.
pub fn summarize(rows: &[Row]) -> Vec<String> {
    let mut names: Vec<&str> = Vec::new();
    for r in rows {
        if !names.contains(&r.measurement.as_str()) {
            names.push(&r.measurement);
        }
    }
    names
        .into_iter()
        .map(|name| {
            let mut runs: Vec<&Row> = rows.iter().filter(|r| r.measurement == name).collect();
            runs.sort_by(|a, b| a.median_ms.total_cmp(&b.median_ms));
            let mid = runs[(runs.len() - 1) / 2];
            let fast = mid
                .ratio_to_fast_ceiling
                .map(|r| format!(" (gemm 0.19's: {:.0} %)", 100.0 * r))
                .unwrap_or_default();
            format!(
                "{name:<27} median of {} medians {:7.1} ms (from {:.1} to {:.1}), {:.0} % of that run's ceiling{fast}",
                runs.len(),
                mid.median_ms,
                runs[0].median_ms,
                runs[runs.len() - 1].median_ms,
                100.0 * mid.ratio_to_ceiling
            )
        })
        .collect()
}

/// Threads of rayon's pool (RAYON_NUM_THREADS, else one per core), which dfdx's matmul uses.
fn rayon_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand count: Σ I·O = 784·1000 + 1000·500 + 500·250 + 2·250·250 + 250·10 = 1,536,500.
    /// LN, b = 100: 3 · 2 · 1,536,500 · 300 = 2.7657 GFLOP, less the skipped first-layer input
    /// gradient 2 · 784,000 · 200 = 0.3136: 2.4521 GFLOP. EBGAN-LN: D 3·2·1,536,500·500 = 4.6095
    /// less 2 · 784,000 · 300 = 0.4704; G Σ I·O = 100·800 + 3·800² + 800·784 = 2,627,200
    /// → 3·2·2,627,200·100 = 1.5763 less z's gradient 2·80,000·100 = 0.0160; G-step ladder
    /// without weight gradients 2·2·1,536,500·200 = 1.2292; total 6.9286.
    #[test]
    fn flop_counts_match_hand_counts() {
        assert!((ln_step_gflop(100.0) - 2.4521).abs() < 1e-4);
        assert!((ebgan_step_gflop(100.0) - 6.9286).abs() < 1e-4);
    }

    /// A bench row of measurement `m` at `ms` ms (1 GFLOP, ceiling 100 GFLOP/s).
    fn row(m: &str, ms: f64) -> Row {
        Row {
            commit: "c".into(),
            measurement: m.into(),
            threads: 2,
            runs: 30,
            median_ms: ms,
            min_ms: ms,
            max_ms: ms,
            gflop: 1.0,
            gflops_at_median: 1e3 / ms,
            sgemm_ceiling_gflops: 100.0,
            ratio_to_ceiling: 10.0 / ms,
            fast_sgemm_ceiling_gflops: None,
            ratio_to_fast_ceiling: None,
        }
    }

    #[test]
    fn summary_takes_the_median_run_per_measurement() {
        let rows = [
            row("a", 70.0),
            row("b", 5.0),
            row("a", 90.0),
            row("a", 50.0),
            row("b", 7.0),
        ];
        let lines = summarize(&rows);
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("a "), "{}", lines[0]);
        assert!(
            lines[0].contains("3 medians    70.0 ms (from 50.0 to 90.0), 14 %"),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].contains("2 medians     5.0 ms (from 5.0 to 7.0), 200 %"),
            "{}",
            lines[1]
        );
    }

    /// A second run of one build is appended to its file, not written over the first.
    #[test]
    fn runs_of_one_build_accumulate_in_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.csv");
        assert_eq!(
            append_run(&path, &[row("a", 70.0), row("b", 5.0)]).unwrap(),
            1
        );
        assert_eq!(
            append_run(&path, &[row("a", 50.0), row("b", 7.0)]).unwrap(),
            2
        );
        let back: Vec<Row> = crate::io::read_csv(&path).unwrap();
        let ms: Vec<f64> = back.iter().map(|r| r.median_ms).collect();
        assert_eq!(ms, [70.0, 5.0, 50.0, 7.0]);
    }

    /// The layer lists the matmul-only floor times are the work the hand counts count.
    #[test]
    fn timed_matmul_lists_match_the_counts() {
        let sum = |l: Vec<LayerMatmuls>| l.iter().map(LayerMatmuls::gflop).sum::<f64>();
        assert!((sum(ln_step_matmuls(100)) - ln_step_gflop(100.0)).abs() < 1e-9);
        assert!((sum(ebgan_step_matmuls(100)) - ebgan_step_gflop(100.0)).abs() < 1e-9);
        assert_eq!(ln_step_matmuls(100).len(), 12);
        assert_eq!(ebgan_step_matmuls(100).len(), 12 + 5 + 12);
    }
}
