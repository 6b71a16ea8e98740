//! `ebgan table2`: aggregates the finished runs of a profile into
//! `results/table2_<profile>.csv` and `.md` (and the figure `.png`): per model and label
//! count the mean ± sample std of the test error over seeds and their count, the relative
//! improvement of EBGAN-LN over each baseline (LN, and the budget-matched LN-matched) with
//! Welch's t-test, each model's optimisation budget, and the paper's rows beside ours.
//! Missing and failed runs are listed and counted, never dropped silently; so are finished
//! runs whose saved `config.toml` is not the config `configs/` gives now (a changed setting
//! must not mix into a table: delete those runs and `make table2` reruns them).

use crate::cmd::run::{FinalRow, Paths};
use crate::config::{load_profile, resolve, Budget, Layout, Model, RunConfig};
use crate::io::{read_csv, write_atomic, write_csv};
use crate::stats::{mean, sample_std, welch_t_test};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// A paper cell: (mean, std) of the test error in %, None where not reported.
pub type PaperCell = Option<(f64, f64)>;

/// Table 2 of the paper (test error %, mean ± std over 15 seeds), per label count of
/// [`PAPER_LABELS`].
pub const PAPER_ROWS: [(&str, [PaperCell; 3]); 4] = [
    (
        "LN bottom-layer-cost, Pezeshki et al. 2015",
        [Some((1.69, 0.18)), None, Some((1.05, 0.02))],
    ),
    (
        "LN bottom-layer-cost, Rasmus et al. 2015",
        [Some((1.09, 0.32)), None, Some((0.90, 0.05))],
    ),
    (
        "LN bottom-layer-cost, reproduced in the EBGAN paper",
        [Some((1.36, 0.21)), Some((1.24, 0.09)), Some((1.04, 0.06))],
    ),
    (
        "EBGAN-LN",
        [Some((1.04, 0.12)), Some((0.99, 0.12)), Some((0.89, 0.04))],
    ),
];
/// The paper's label counts (the columns of its Table 2).
pub const PAPER_LABELS: [usize; 3] = [100, 200, 1000];

/// One row of `table2_<profile>.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableRow {
    /// `paper` or `ours`.
    pub source: String,
    /// A model name, or `relative improvement vs <baseline>`.
    pub model: String,
    pub labels: usize,
    pub mean_error_pct: Option<f64>,
    pub std_error_pct: Option<f64>,
    pub seeds_ok: Option<usize>,
    pub seeds_failed: Option<usize>,
    pub seeds_missing: Option<usize>,
    /// Finished runs left out because their `config.toml` differs from `configs/`.
    pub seeds_other_config: Option<usize>,
    /// 100 · (baseline − EBGAN-LN) / baseline, on the `relative improvement vs …` rows.
    pub improvement_pct: Option<f64>,
    pub welch_t: Option<f64>,
    pub welch_df: Option<f64>,
    /// Two-sided p-value of Welch's t-test, baseline vs EBGAN-LN.
    pub welch_p: Option<f64>,
}

/// The aggregated table and the runs that are not in it.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub profile: String,
    pub labels: Vec<usize>,
    pub rows: Vec<TableRow>,
    /// Expected runs without `final.csv`: (model, labels, seed).
    pub missing: Vec<(Model, usize, u64)>,
    /// Finished runs whose status is not `ok`: (model, labels, seed, status).
    pub failed: Vec<(Model, usize, u64, String)>,
    /// Finished runs whose `config.toml` is not what `configs/` resolves to now.
    pub other_config: Vec<(Model, usize, u64)>,
    /// Each model's optimisers' budgets under this profile.
    pub budgets: Vec<(Model, Vec<Budget>)>,
    /// The build (commit) most finished runs were made by.
    pub majority_build: Option<String>,
    /// Finished runs made by another build: (model, labels, seed, build).
    pub other_build: Vec<(Model, usize, u64, String)>,
}

/// The baselines EBGAN-LN is compared with, in the table's order.
pub const BASELINES: [Model; 2] = [Model::Ln, Model::LnMatched];

/// The model name of the comparison row of EBGAN-LN against `baseline`.
pub fn improvement_row(baseline: Model) -> String {
    format!("relative improvement vs {}", baseline.label())
}

fn empty_row(source: &str, model: &str, labels: usize) -> TableRow {
    TableRow {
        source: source.into(),
        model: model.into(),
        labels,
        mean_error_pct: None,
        std_error_pct: None,
        seeds_ok: None,
        seeds_failed: None,
        seeds_missing: None,
        seeds_other_config: None,
        improvement_pct: None,
        welch_t: None,
        welch_df: None,
        welch_p: None,
    }
}

/// Reads every expected run of `profile` (its labels × seeds × every model). A result file
/// that fails validation ([`crate::results::read_final`]) is an error, or with `skip_bad` a
/// failed run listed with the reason.
pub fn aggregate(layout: &Layout, profile: &str, skip_bad: bool) -> Result<Table> {
    let p = load_profile(&layout.configs, profile)?;
    let mut rows = Vec::new();
    for (name, cells) in PAPER_ROWS {
        for (labels, cell) in PAPER_LABELS.iter().zip(cells) {
            if let Some((m, s)) = cell {
                rows.push(TableRow {
                    mean_error_pct: Some(m),
                    std_error_pct: Some(s),
                    seeds_ok: Some(15),
                    ..empty_row("paper", name, *labels)
                });
            }
        }
    }
    let mut missing = Vec::new();
    let mut failed = Vec::new();
    let mut other_config = Vec::new();
    let mut builds: Vec<(Model, usize, u64, String)> = Vec::new();
    for &labels in &p.labels {
        let mut errors: Vec<Vec<f64>> = Vec::new();
        for model in Model::ALL {
            let mut ok = Vec::new();
            let (mut n_failed, mut n_missing, mut n_other) = (0, 0, 0);
            for &seed in &p.seeds {
                let dir = layout.run_dir(profile, model, labels, seed);
                let path = dir.join("final.csv");
                if !path.exists() {
                    missing.push((model, labels, seed));
                    n_missing += 1;
                    continue;
                }
                let expected = resolve(&layout.configs, profile, model, labels, seed)?;
                let saved = std::fs::read_to_string(dir.join("config.toml"))
                    .ok()
                    .and_then(|t| RunConfig::parse_saved(&t));
                if saved.as_ref() != Some(&expected) {
                    other_config.push((model, labels, seed));
                    n_other += 1;
                    continue;
                }
                let row: FinalRow = match crate::results::read_final(&path, &expected) {
                    Ok(row) => row,
                    Err(e) if skip_bad => {
                        failed.push((model, labels, seed, format!("bad result file: {e:#}")));
                        n_failed += 1;
                        continue;
                    }
                    Err(e) => {
                        return Err(e.context(
                            "a result file is invalid: fix or delete the run (make reruns it), or pass --skip-bad to count it as failed",
                        ))
                    }
                };
                match (row.status.as_str(), row.test_error) {
                    ("ok", Some(e)) => {
                        ok.push(100.0 * e);
                        builds.push((model, labels, seed, row.code.clone()));
                    }
                    _ => {
                        failed.push((model, labels, seed, row.status.clone()));
                        n_failed += 1;
                    }
                }
            }
            rows.push(TableRow {
                mean_error_pct: (!ok.is_empty()).then(|| mean(&ok)),
                std_error_pct: (ok.len() > 1).then(|| sample_std(&ok)),
                seeds_ok: Some(ok.len()),
                seeds_failed: Some(n_failed),
                seeds_missing: Some(n_missing),
                seeds_other_config: Some(n_other),
                ..empty_row("ours", model.label(), labels)
            });
            errors.push(ok);
        }
        let of = |m: Model| &errors[Model::ALL.iter().position(|x| *x == m).unwrap()];
        let eb = of(Model::EbganLn);
        for base in BASELINES {
            let ln = of(base);
            let mut imp = empty_row("ours", &improvement_row(base), labels);
            if !ln.is_empty() && !eb.is_empty() {
                imp.improvement_pct = Some(100.0 * (mean(ln) - mean(eb)) / mean(ln));
            }
            if let Some((t, df, pv)) = welch_t_test(ln, eb) {
                (imp.welch_t, imp.welch_df, imp.welch_p) = (Some(t), Some(df), Some(pv));
            }
            rows.push(imp);
        }
    }
    let mut budgets = Vec::new();
    if let (Some(&l), Some(&seed)) = (p.labels.first(), p.seeds.first()) {
        for model in Model::ALL {
            budgets.push((
                model,
                resolve(&layout.configs, profile, model, l, seed)?.budget,
            ));
        }
    }
    // The build most runs came from; runs of other builds are listed in the notes.
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for (.., code) in &builds {
        *counts.entry(code.as_str()).or_default() += 1;
    }
    let majority = counts
        .iter()
        .max_by_key(|(code, n)| (**n, std::cmp::Reverse(**code)))
        .map(|(code, _)| code.to_string());
    let other_build = builds
        .iter()
        .filter(|b| Some(&b.3) != majority.as_ref())
        .cloned()
        .collect();
    Ok(Table {
        profile: profile.into(),
        labels: p.labels.clone(),
        rows,
        missing,
        failed,
        other_config,
        budgets,
        majority_build: majority,
        other_build,
    })
}

fn cell(r: Option<&TableRow>) -> String {
    match r {
        Some(TableRow {
            mean_error_pct: Some(m),
            std_error_pct,
            seeds_ok,
            seeds_failed,
            seeds_missing,
            seeds_other_config,
            source,
            ..
        }) => {
            let sd = std_error_pct
                .map(|s| format!(" ± {s:.2}"))
                .unwrap_or_default();
            if source == "ours" {
                let count = |n: &Option<usize>, what: &str| match n {
                    Some(n) if *n > 0 => format!(", {n} {what}"),
                    _ => String::new(),
                };
                format!(
                    "{m:.2}{sd} (n={}{}{}{})",
                    seeds_ok.unwrap_or(0),
                    count(seeds_failed, "failed"),
                    count(seeds_missing, "missing"),
                    count(seeds_other_config, "of another config")
                )
            } else {
                format!("{m:.2}{sd}")
            }
        }
        _ => "–".into(),
    }
}

/// The Markdown rendering: our rows beside the paper's, then missing and failed runs.
pub fn render_markdown(t: &Table) -> String {
    let mut labels: Vec<usize> = PAPER_LABELS.to_vec();
    labels.extend(t.labels.iter().filter(|l| !PAPER_LABELS.contains(l)));
    let find = |src: &str, model: &str, l: usize| {
        t.rows
            .iter()
            .find(|r| r.source == src && r.model == model && r.labels == l)
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Table 2, profile `{}`: permutation-invariant MNIST test error (%)\n",
        t.profile
    );
    let _ = writeln!(
        s,
        "Mean ± sample standard deviation over seeds; n = seeds that finished with status ok, with failed and missing runs counted beside it and listed below.\n"
    );
    let _ = writeln!(
        s,
        "| model | {} |",
        labels
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(s, "|---|{}", "---|".repeat(labels.len()));
    for (name, _) in PAPER_ROWS {
        let cells: Vec<String> = labels
            .iter()
            .map(|&l| cell(find("paper", name, l)))
            .collect();
        let _ = writeln!(s, "| {name} (paper) | {} |", cells.join(" | "));
    }
    let paper_imp: Vec<String> = labels
        .iter()
        .map(|&l| {
            match (
                find("paper", PAPER_ROWS[2].0, l),
                find("paper", "EBGAN-LN", l),
            ) {
                (Some(a), Some(b)) => format!(
                    "{:.1} %",
                    100.0 * (a.mean_error_pct.unwrap() - b.mean_error_pct.unwrap())
                        / a.mean_error_pct.unwrap()
                ),
                _ => "–".into(),
            }
        })
        .collect();
    let _ = writeln!(
        s,
        "| relative improvement (paper) | {} |",
        paper_imp.join(" | ")
    );
    for model in Model::ALL {
        let cells: Vec<String> = labels
            .iter()
            .map(|&l| cell(find("ours", model.label(), l)))
            .collect();
        let _ = writeln!(s, "| {} (ours) | {} |", model.label(), cells.join(" | "));
    }
    for base in BASELINES {
        let name = improvement_row(base);
        let imp: Vec<String> = labels
            .iter()
            .map(
                |&l| match find("ours", &name, l).and_then(|r| r.improvement_pct) {
                    Some(v) => format!("{v:.1} %"),
                    None => "–".into(),
                },
            )
            .collect();
        let _ = writeln!(
            s,
            "| relative improvement of EBGAN-LN vs {} (ours) | {} |",
            base.label(),
            imp.join(" | ")
        );
        let p: Vec<String> = labels
            .iter()
            .map(|&l| match find("ours", &name, l) {
                Some(TableRow {
                    welch_p: Some(p),
                    welch_t: Some(t),
                    ..
                }) => {
                    if *p < 1e-3 {
                        format!("p = {p:.1e} (t = {t:.2})")
                    } else {
                        format!("p = {p:.3} (t = {t:.2})")
                    }
                }
                _ => "–".into(),
            })
            .collect();
        let _ = writeln!(
            s,
            "| Welch's t-test, {} vs EBGAN-LN, two-sided | {} |",
            base.label(),
            p.join(" | ")
        );
    }
    let _ = writeln!(
        s,
        "\n**Which comparison is fair.** Optimisation budget of each model's ladder under this profile \
(peak lr × steps, and Σₜ lrₜ, the area under the learning-rate schedule):\n"
    );
    for (m, bs) in &t.budgets {
        let parts: Vec<String> = bs
            .iter()
            .map(|b| {
                format!(
                    "{} lr {:.3e} × {} steps = {:.3} (Σ lr {:.3})",
                    b.optimiser, b.lr, b.steps, b.lr_x_steps, b.lr_sum
                )
            })
            .collect();
        let _ = writeln!(s, "- {}: {}", m.label(), parts.join("; "));
    }
    let _ = writeln!(
        s,
        "\nLN follows the paper's LN protocol; its ladder gets a smaller budget than EBGAN-LN's \
discriminator, so EBGAN-LN vs LN mixes the generator's effect with the extra optimisation (the \
paper's own comparison). LN-matched is the same ladder trained alone with exactly EBGAN-LN's \
discriminator schedule (same lr, decay and steps; same initial weights, labeled set, batches and \
noise per seed): EBGAN-LN vs LN-matched is the budget-matched comparison and measures what the \
generator adds."
    );
    let _ = writeln!(
        s,
        "\nRuns expected: {} label counts × {} models × the profile's seeds.",
        t.labels.len(),
        Model::ALL.len()
    );
    let _ = writeln!(s, "Missing runs (no final.csv): {}", t.missing.len());
    for (m, l, k) in &t.missing {
        let _ = writeln!(s, "- {} labels={l} seed={k}", m.label());
    }
    let _ = writeln!(s, "Failed runs: {}", t.failed.len());
    for (m, l, k, st) in &t.failed {
        let _ = writeln!(s, "- {} labels={l} seed={k}: {st}", m.label());
    }
    if let Some(b) = &t.majority_build {
        let ok: usize = t
            .rows
            .iter()
            .filter(|r| r.source == "ours")
            .filter_map(|r| r.seeds_ok)
            .sum();
        let _ = writeln!(
            s,
            "Build: {} of the {ok} runs with status ok were made by `{b}`; by other builds: {}",
            ok - t.other_build.len(),
            t.other_build.len()
        );
        for (m, l, k, code) in &t.other_build {
            let _ = writeln!(s, "- {} labels={l} seed={k}: `{code}`", m.label());
        }
    }
    if !t.other_config.is_empty() {
        let _ = writeln!(
            s,
            "Runs left out because their config.toml differs from configs/ (delete them to rerun): {}",
            t.other_config.len()
        );
        for (m, l, k) in &t.other_config {
            let _ = writeln!(s, "- {} labels={l} seed={k}", m.label());
        }
    }
    s
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Profile of configs/profiles.toml.
    #[arg(long, default_value = "quick")]
    pub profile: String,
    #[command(flatten)]
    pub paths: Paths,
    /// List runs whose final.csv is invalid and count them as failed, instead of stopping
    /// with an error that names the file.
    #[arg(long)]
    pub skip_bad: bool,
    /// Write the table even if it has fewer finished runs than the table already there
    /// (otherwise that is an error, so that a partial rerun never replaces a committed table).
    #[arg(long)]
    pub allow_partial: bool,
}

fn finished_in_saved_rows(rows: &[TableRow]) -> usize {
    rows.iter()
        .filter(|r| r.source == "ours")
        .map(|r| r.seeds_ok.unwrap_or(0) + r.seeds_failed.unwrap_or(0))
        .sum()
}

/// Finished runs (status ok or failed) of a saved `table2_<profile>.csv`; 0 when absent or
/// unreadable (a table that cannot be read is no table to protect).
fn finished_in_saved(path: &std::path::Path) -> usize {
    read_csv::<TableRow>(path)
        .map(|rows| finished_in_saved_rows(&rows))
        .unwrap_or(0)
}

pub fn main(args: Args) -> Result<()> {
    let layout = args.paths.layout();
    let table = aggregate(&layout, &args.profile, args.skip_bad)?;
    let base = layout.results.join(format!("table2_{}", args.profile));
    let (before, now) = (
        finished_in_saved(&base.with_extension("csv")),
        finished_in_saved_rows(&table.rows),
    );
    if now < before && !args.allow_partial {
        anyhow::bail!(
            "{} has {before} finished runs, this table only {now}: not replaced (--allow-partial, or ALLOW_PARTIAL=1 for make, replaces it)",
            base.with_extension("csv").display()
        );
    }
    write_csv(&base.with_extension("csv"), &table.rows)?;
    let md = render_markdown(&table);
    write_atomic(&base.with_extension("md"), md.as_bytes())?;
    crate::cmd::plot::table2_figure(&table.rows, &base.with_extension("png"), &args.profile)?;
    print!("{md}");
    Ok(())
}
