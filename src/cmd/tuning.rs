//! `ebgan tuning --profile P`: summarises the validation runs under `results/tuning/<P>/`
//! (made by `make tuning`, i.e. `ebgan run --split validation` with `--step-scale` /
//! `--lr-scale`) into `results/tuning/<P>.{csv,md,png}`: per (step scale, lr scale, model,
//! labels) the mean ± sample std of the validation error over seeds, failed runs counted.
//! The test set plays no part in any of these numbers.

use crate::cmd::plot::{draw_legend, line_key, plot_err};
use crate::cmd::run::{FinalRow, Paths};
use crate::config::{EvalSplit, Model, RunConfig};
use crate::io::{write_atomic, write_csv};
use crate::stats::{mean, sample_std};
use anyhow::{Context, Result};
use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// One row of `results/tuning/<profile>.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TuningRow {
    pub step_scale: f64,
    pub lr_scale: f64,
    pub model: String,
    pub labels: usize,
    /// Steps of the model's ladder (LN's steps, or EBGAN-LN's discriminator steps).
    pub ladder_steps: u64,
    /// Peak learning rate of the ladder's optimiser.
    pub ladder_lr: f64,
    pub seeds_ok: usize,
    pub seeds_failed: usize,
    /// Mean and sample std of the validation error (%) over the seeds that finished `ok`.
    pub mean_val_error_pct: Option<f64>,
    pub std_val_error_pct: Option<f64>,
    /// `seed:error%` of every finished run, failed ones as `seed:<status>`.
    pub per_seed: String,
    pub mean_wall_seconds: f64,
}

/// Every finished validation run under `dir` (any depth), with its config.
fn finished_runs(dir: &Path) -> Result<Vec<(RunConfig, FinalRow, PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries =
            std::fs::read_dir(&d).with_context(|| format!("cannot read {}", d.display()))?;
        for e in entries {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "final.csv") {
                let run = p.parent().unwrap_or(Path::new(".")).to_path_buf();
                let cfg_path = run.join("config.toml");
                let text = std::fs::read_to_string(&cfg_path)
                    .with_context(|| format!("cannot read {}", cfg_path.display()))?;
                let cfg = RunConfig::parse_saved(&text)
                    .with_context(|| format!("malformed {}", cfg_path.display()))?;
                if cfg.split != EvalSplit::Validation {
                    anyhow::bail!(
                        "{} is not a validation run (split = test): tuning must not see the test set",
                        run.display()
                    );
                }
                let row: FinalRow = crate::results::read_final(&p, &cfg)?;
                out.push((cfg, row, run));
            }
        }
    }
    Ok(out)
}

/// Groups the runs by (step scale, lr scale, model, labels).
pub fn summarise(dir: &Path) -> Result<Vec<TuningRow>> {
    type Key = (u64, u64, Model, usize);
    let mut groups: BTreeMap<Key, Vec<(RunConfig, FinalRow)>> = BTreeMap::new();
    for (cfg, row, _) in finished_runs(dir)? {
        let key = (
            cfg.step_scale.to_bits(),
            cfg.lr_scale.to_bits(),
            cfg.model,
            cfg.labels,
        );
        groups.entry(key).or_default().push((cfg, row));
    }
    let mut rows = Vec::new();
    for ((s, r, model, labels), mut runs) in groups {
        runs.sort_by_key(|(c, _)| c.seed);
        let ok: Vec<f64> = runs
            .iter()
            .filter(|(_, f)| f.status == "ok")
            .filter_map(|(_, f)| f.test_error.map(|e| 100.0 * e))
            .collect();
        let per_seed: Vec<String> = runs
            .iter()
            .map(|(c, f)| match (f.status.as_str(), f.test_error) {
                ("ok", Some(e)) => format!("{}:{:.2}", c.seed, 100.0 * e),
                (st, _) => format!("{}:{st}", c.seed),
            })
            .collect();
        let ladder = &runs[0].0.budget[0];
        rows.push(TuningRow {
            step_scale: f64::from_bits(s),
            lr_scale: f64::from_bits(r),
            model: model.name().into(),
            labels,
            ladder_steps: ladder.steps,
            ladder_lr: ladder.lr,
            seeds_ok: ok.len(),
            seeds_failed: runs.len() - ok.len(),
            mean_val_error_pct: (!ok.is_empty()).then(|| mean(&ok)),
            std_val_error_pct: (ok.len() > 1).then(|| sample_std(&ok)),
            per_seed: per_seed.join(" "),
            mean_wall_seconds: runs.iter().map(|(_, f)| f.wall_seconds).sum::<f64>()
                / runs.len() as f64,
        });
    }
    Ok(rows)
}

pub fn render_markdown(profile: &str, rows: &[TuningRow]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Tuning of profile `{profile}`: validation error (%)\n\n\
         Validation runs (`--split validation`): the last 10,000 training images are held out of \
         the labeled and the unlabeled pools and of the test-time BN statistics, and scored; the \
         test set is never read. Mean ± sample std over the seeds that finished; failed runs are \
         counted and shown per seed.\n"
    );
    let _ = writeln!(
        s,
        "| step scale | lr scale | model | labels | ladder steps | ladder lr | validation error (%) | per seed | s per run |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let err = match (r.mean_val_error_pct, r.std_val_error_pct) {
            (Some(m), Some(sd)) => format!("{m:.2} ± {sd:.2}"),
            (Some(m), None) => format!("{m:.2}"),
            _ => "–".into(),
        };
        let failed = if r.seeds_failed > 0 {
            format!(", {} failed", r.seeds_failed)
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "| {:.6} | {} | {} | {} | {} | {:.2e} | {err} (n={}{failed}) | {} | {:.0} |",
            r.step_scale,
            r.lr_scale,
            r.model,
            r.labels,
            r.ladder_steps,
            r.ladder_lr,
            r.seeds_ok,
            r.per_seed,
            r.mean_wall_seconds
        );
    }
    s
}

/// Validation error against lr scale (log axis), one line per (model, step scale, labels).
pub fn figure(rows: &[TuningRow], path: &Path, profile: &str) -> Result<()> {
    let tmp = crate::io::TempFile::beside(path)?;
    let tmp_path = tmp.path().to_path_buf();
    let root = BitMapBackend::new(&tmp_path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let ok: Vec<&TuningRow> = rows
        .iter()
        .filter(|r| r.mean_val_error_pct.is_some())
        .collect();
    let (lo, hi) = ok.iter().fold((f64::MAX, f64::MIN), |(a, b), r| {
        (a.min(r.lr_scale), b.max(r.lr_scale))
    });
    let (lo, hi) = if lo <= hi {
        (lo / 1.5, hi * 1.5)
    } else {
        (0.5, 2.0)
    };
    let top = ok
        .iter()
        .map(|r| r.mean_val_error_pct.unwrap() + r.std_val_error_pct.unwrap_or(0.0))
        .fold(1.0, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Tuning of `{profile}`: validation error"),
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d((lo..hi).log_scale(), 0f64..top)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_labels(8)
        .x_label_formatter(&|x| {
            format!("{x:.3}")
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
        })
        .light_line_style(WHITE)
        .x_desc("lr scale (× the paper's learning rates)")
        .y_desc("validation error (%)")
        .draw()
        .map_err(plot_err)?;
    // (model, step scale bits, labels) → (lr scale, mean, std) points.
    type Line = Vec<(f64, f64, f64)>;
    let mut lines: BTreeMap<(String, u64, usize), Line> = BTreeMap::new();
    for r in &ok {
        lines
            .entry((r.model.clone(), r.step_scale.to_bits(), r.labels))
            .or_default()
            .push((
                r.lr_scale,
                r.mean_val_error_pct.unwrap(),
                r.std_val_error_pct.unwrap_or(0.0),
            ));
    }
    for (k, ((model, s, labels), mut pts)) in lines.into_iter().enumerate() {
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let c = Palette99::pick(k).to_rgba();
        chart
            .draw_series(LineSeries::new(
                pts.iter().map(|p| (p.0, p.1)),
                c.stroke_width(2),
            ))
            .map_err(plot_err)?
            .label(format!(
                "{model}, step scale {:.4}, {labels} labels",
                f64::from_bits(s)
            ))
            .legend(line_key(c.stroke_width(2)));
        chart
            .draw_series(pts.iter().map(|p| {
                PathElement::new(vec![(p.0, p.1 - p.2), (p.0, p.1 + p.2)], c.stroke_width(1))
            }))
            .map_err(plot_err)?;
        chart
            .draw_series(pts.iter().map(|p| Circle::new((p.0, p.1), 4, c.filled())))
            .map_err(plot_err)?;
    }
    draw_legend(&mut chart, SeriesLabelPosition::MiddleRight)?;
    root.present().map_err(plot_err)?;
    tmp.commit()?;
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The profile whose tuning runs to summarise (results/tuning/<profile>/).
    #[arg(long, default_value = "quick")]
    pub profile: String,
    #[command(flatten)]
    pub paths: Paths,
}

pub fn main(args: Args) -> Result<()> {
    let dir = args.paths.results.join("tuning").join(&args.profile);
    if !dir.is_dir() {
        anyhow::bail!(
            "{} does not exist: run `make tuning TUNE_PROFILE={}` first",
            dir.display(),
            args.profile
        );
    }
    let rows = summarise(&dir)?;
    if rows.is_empty() {
        anyhow::bail!(
            "{} holds no finished validation run: nothing to summarise (the summary files are left as they are)",
            dir.display()
        );
    }
    let base = args.paths.results.join("tuning").join(&args.profile);
    write_csv(&base.with_extension("csv"), &rows)?;
    let md = render_markdown(&args.profile, &rows);
    write_atomic(&base.with_extension("md"), md.as_bytes())?;
    figure(&rows, &base.with_extension("png"), &args.profile)?;
    print!("{md}");
    Ok(())
}
