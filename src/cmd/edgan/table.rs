//! `ebgan edgan table --profile P`: from the run folders' `final.csv` files alone,
//! `results/edgan_<P>.md` (one section per table of the profile: every row's runs, FID and KID
//! as mean ± sample std over seeds, the real-vs-real floor at the same n, the paper's value
//! where the spec gives it, the fairness of the comparison, and which of the paper's orderings
//! held), `results/edgan_<P>.csv` (one line per (table, row, seed)) and one figure per table,
//! `results/edgan_<P>_table<N>.png` (FID per row, ± std, seeds as points, floor).
//!
//! Diverged runs are counted and have no FID; a run folder whose `config.toml` is not the arm's
//! current configuration is stale: listed, never averaged.

use super::arms::{arms, paper_fid, run_id, Arm, NOT_BUILT};
use super::run::EdganRunConfig;
use super::{load, run_dir, Paths};
use crate::cmd::images::run::FaceFinalRow;
use crate::cmd::images::table::{fid_figure, read_final};
use crate::io::{write_atomic, write_csv};
use crate::stats::{mean, sample_std, welch_t_test};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Profile of configs/edgan.toml.
    #[arg(long, default_value = "quick")]
    pub profile: String,
    #[command(flatten)]
    pub paths: Paths,
}

/// One line of `results/edgan_<P>.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EdganTableRow {
    pub table: u8,
    pub row: String,
    pub arm: String,
    pub seed: u64,
    /// ok, diverged@t, missing or stale.
    pub status: String,
    pub fid: Option<f64>,
    pub kid: Option<f64>,
    pub fid_floor: Option<f64>,
    pub kid_floor: Option<f64>,
    pub fid_n: Option<usize>,
    /// The run's training time per G update (one thread beside another run, pauses included;
    /// clean step times are the bench rows).
    pub ms_per_step: Option<f64>,
    /// The build that wrote the run (`final.csv`'s `code`).
    pub code: Option<String>,
}

/// An arm's runs: (seed, final row or the reason it has none).
#[derive(Clone)]
struct ArmRuns {
    arm: Arm,
    runs: Vec<(u64, Result<FaceFinalRow, String>)>,
}

impl ArmRuns {
    fn values(&self, f: fn(&FaceFinalRow) -> Option<f64>) -> Vec<f64> {
        self.runs
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok().and_then(f))
            .collect()
    }
    fn fid_mean(&self) -> Option<f64> {
        let v = self.values(|r| r.fid);
        (!v.is_empty()).then(|| mean(&v))
    }
    fn counts(&self) -> String {
        let ok = self.values(|r| r.fid).len();
        let diverged = self
            .runs
            .iter()
            .filter(|(_, r)| r.as_ref().is_ok_and(|r| r.status != "ok"))
            .count();
        format!("{ok} / {diverged} / {}", self.runs.len() - ok - diverged)
    }
}

fn pm(v: &[f64], d: usize) -> String {
    match v.len() {
        0 => "–".into(),
        1 => format!("{:.d$}", v[0]),
        _ => format!("{:.d$} ± {:.d$}", mean(v), sample_std(v)),
    }
}

/// "held", "did not hold" or why it cannot be said, for "`better` has a lower mean FID than
/// `worse`" (the paper's ordering); with ≥ 2 seeds on both sides Welch's two-sided p.
fn ordering(better: Option<&ArmRuns>, worse: Option<&ArmRuns>) -> String {
    let evidence = || {
        let fids = |a: Option<&ArmRuns>| a.map(|a| a.values(|r| r.fid)).unwrap_or_default();
        match welch_t_test(&fids(better), &fids(worse)) {
            Some((_, _, p)) => format!("Welch p = {p:.2}"),
            None => "fewer than 2 seeds on a side: no significance test".into(),
        }
    };
    match (
        better.and_then(ArmRuns::fid_mean),
        worse.and_then(ArmRuns::fid_mean),
    ) {
        (Some(b), Some(w)) if b < w => format!("held ({b:.2} < {w:.2}; {})", evidence()),
        (Some(b), Some(w)) => format!("did not hold ({b:.2} ≥ {w:.2}; {})", evidence()),
        _ => "not measured yet (runs missing)".into(),
    }
}

pub fn main(args: Args) -> Result<()> {
    let file = load(&args.paths.config)?;
    let p = file.profile(&args.profile, &args.paths.config)?;
    let mut all = Vec::new();
    let mut stale = Vec::new();
    for arm in arms(&file, p) {
        let mut runs = Vec::new();
        for &seed in &arm.seeds {
            let dir = run_dir(&args.paths.results, &args.profile, &run_id(&arm.name, seed));
            let fin = dir.join("final.csv");
            let r = if !fin.exists() {
                Err("missing".to_string())
            } else {
                let saved = std::fs::read_to_string(dir.join("config.toml"))
                    .ok()
                    .and_then(|t| toml::from_str::<EdganRunConfig>(&t).ok());
                if saved.as_ref().map(|s| &s.config) != Some(&arm.config) {
                    stale.push(dir.display().to_string());
                    Err("stale".to_string())
                } else {
                    Ok(read_final(&fin)?)
                }
            };
            runs.push((seed, r));
        }
        all.push(ArmRuns { arm, runs });
    }
    let reference = super::arms::edgan_name(file.edgan.arch.lambda_ced);
    let mut md = format!(
        "# EDGAN on CIFAR-10, profile `{}`\n\nGenerated by `ebgan edgan table --profile {}` from `results/edgan/{}/`. {} G updates per run; Table 6's arms with seeds {:?}, the ablation arms with seeds {:?}. FID and KID on the 128 features of FID-cifar-cnn (this project's CIFAR-10 network, not Inception: the paper's FIDs are not comparable in value, only in ordering), samples against the first `fid_n` CIFAR-10 training images; the floor is those against the next `fid_n`. Runs: ok / diverged / missing. Values: mean ± sample std over the finished seeds (a single seed shows its value: no spread, no significance).\n",
        args.profile, args.profile, args.profile, p.g_updates, p.seeds, p.ablation_seeds
    );
    let mut csv = Vec::new();
    for &t in &super::TABLES {
        if !p.tables.contains(&t) {
            continue;
        }
        // A table's rows share its seeds: Table 6's, or the ablation seeds (EDGAN at λ = 1 also
        // runs Table 6's seeds; the ablation tables use only the seeds their other rows have).
        let seeds = if t == 6 { &p.seeds } else { &p.ablation_seeds };
        let owned: Vec<(ArmRuns, String)> = all
            .iter()
            .flat_map(|a| {
                a.arm.rows.iter().filter(|r| r.0 == t).map(move |r| {
                    let mut a = a.clone();
                    a.runs.retain(|(s, _)| seeds.contains(s));
                    (a, r.1.clone())
                })
            })
            .collect();
        let rows: Vec<(&ArmRuns, &String)> = owned.iter().map(|(a, r)| (a, r)).collect();
        let find = |name: &str| {
            rows.iter()
                .find(|(a, _)| a.arm.name == name)
                .map(|(a, _)| *a)
        };
        let (title, fair) = match t {
            1 => ("Table 1: DCGAN vs SN_in_P vs R311 vs both (GAN losses, figure-2 settings)", "every row trains the figure-2 DCGAN protocol (Adam 2e-4, z ~ U[−1, 1], N(0, 0.02²)) for the same updates and seeds; only the two switches and the batch differ (SN_in_P also drops the compression layer's bias, as the spec's \"no biases before BN or SN\" says; a batch-128 run sees twice the images of a batch-64 one, as in the paper)."),
            3 => ("Table 3: λ of the conditional entropy distance", "the same EDGAN protocol, updates and seeds; only λ differs."),
            4 => ("Table 4 (reduced): EDGAN's choices flipped one at a time", "each row is EDGAN with one choice flipped, the same updates and seeds (D:G 1:1 gives D half the steps: that is the choice under test)."),
            5 => ("Table 5: the penalty", "the same EDGAN protocol, updates and seeds. No penalty, EDGAN and the JS penalty share OptimizedDCGAN's D and differ only in G's penalty; the bi-penalty needs a critic D (no batch norm, no SN_in_P), so it is compared with EDGAN on that same critic (`t5_critic`), the pair differing only in D's penalty."),
            _ => ("Table 6: EDGAN against its peers", "equal budgets: the same G (R311), optimisers (OAdam), learning rates, D:G ratio, batch, updates and seeds; the method differs, and with it the D each method requires: OptimizedDCGAN's (batch norm, SN_in_P) for EDGAN and LSGAN, spectral norm on every layer and no batch norm for SNGAN, the critic (no batch norm) for WGAN-GP and GAN-0GP."),
        };
        let _ = writeln!(md, "\n## {title}\n\nFair comparison: {fair}\n");
        let paper_col = t == 6;
        let _ = writeln!(
            md,
            "| row | arm | runs | FID | KID | FID floor | n |{}",
            if paper_col {
                " paper FID (Inception) |"
            } else {
                ""
            }
        );
        let _ = writeln!(
            md,
            "|---|---|---|---|---|---|---|{}",
            if paper_col { "---|" } else { "" }
        );
        let mut groups = Vec::new();
        let mut floor = None;
        for (a, label) in &rows {
            let fid = a.values(|r| r.fid);
            let kid = a.values(|r| r.kid);
            let floors = a.values(|r| Some(r.fid_floor));
            floor = floor.or(floors.first().copied());
            let n = a
                .runs
                .iter()
                .find_map(|(_, r)| r.as_ref().ok().map(|r| r.fid_n.to_string()))
                .unwrap_or_else(|| "–".into());
            let _ = writeln!(
                md,
                "| {label} | `{}` | {} | {} | {} | {} | {n} |{}",
                a.arm.name,
                a.counts(),
                pm(&fid, 2),
                pm(&kid, 4),
                pm(&floors, 2),
                if paper_col {
                    format!(
                        " {} |",
                        paper_fid(&a.arm.name).map_or("–".into(), |f| format!("{f:.2}"))
                    )
                } else {
                    String::new()
                }
            );
            groups.push((a.arm.name.clone(), fid));
            for (seed, r) in &a.runs {
                let ok = r.as_ref().ok();
                csv.push(EdganTableRow {
                    table: t,
                    row: label.to_string(),
                    arm: a.arm.name.clone(),
                    seed: *seed,
                    status: match r {
                        Ok(r) => r.status.clone(),
                        Err(e) => e.clone(),
                    },
                    fid: ok.and_then(|r| r.fid),
                    kid: ok.and_then(|r| r.kid),
                    fid_floor: ok.map(|r| r.fid_floor),
                    kid_floor: ok.map(|r| r.kid_floor),
                    fid_n: ok.map(|r| r.fid_n),
                    ms_per_step: ok.map(|r| r.ms_per_step),
                    code: ok.map(|r| r.code.clone()),
                });
            }
        }
        if t == 6 {
            for (name, fid) in NOT_BUILT {
                let _ = writeln!(
                    md,
                    "| {name} | not built yet | – | – | – | – | – | {fid:.2} |"
                );
            }
            let _ = writeln!(md, "| real data (the paper's floor) | | | | | | | 0.45 |");
        }
        // The paper's orderings (spec and the paper's text), checked on the means.
        let _ = writeln!(md, "\nThe paper's orderings here:\n");
        let check = |md: &mut String, what: &str, b: &str, w: &str| {
            let _ = writeln!(md, "- {what}: {}", ordering(find(b), find(w)));
        };
        match t {
            1 => {
                for b in [128, 64] {
                    check(
                        &mut md,
                        &format!("SN_in_P + R311 better than DCGAN at batch {b}"),
                        &format!("t1_both_b{b}"),
                        &format!("t1_dcgan_b{b}"),
                    );
                }
                for s in ["dcgan", "sn", "r311", "both"] {
                    check(
                        &mut md,
                        &format!(
                            "batch 64 better than 128 ({s}; the spec: the paper found 64 better)"
                        ),
                        &format!("t1_{s}_b64"),
                        &format!("t1_{s}_b128"),
                    );
                }
            }
            3 => {
                for &l in &p.lambdas {
                    if l != file.edgan.arch.lambda_ced {
                        check(
                            &mut md,
                            &format!(
                                "λ = {} (the paper's choice) better than λ = {l}",
                                file.edgan.arch.lambda_ced
                            ),
                            &reference,
                            &super::arms::edgan_name(l),
                        );
                    }
                }
            }
            4 => {
                for (arm, what) in [
                    ("t4_lr2e-4", "lr 1e-4 / 4e-4 better than 2e-4 / 2e-4"),
                    ("t4_dg1", "D:G 2:1 better than 1:1"),
                    (
                        "t4_init_normal",
                        "orthogonal initialisation better than N(0, 0.02²)",
                    ),
                    ("t4_adam", "OAdam better than Adam"),
                ] {
                    check(&mut md, what, &reference, arm);
                }
            }
            5 => {
                check(
                    &mut md,
                    "EDGAN better than no penalty",
                    &reference,
                    "t5_none",
                );
                check(
                    &mut md,
                    "EDGAN better than the JS penalty",
                    &reference,
                    "t5_js",
                );
                let _ = writeln!(
                    md,
                    "- D's penalty on top of ρ (bi-penalty better than EDGAN on the same critic): {} (the spec gives no ordering for this row)",
                    ordering(find("t5_bi"), find("t5_critic"))
                );
            }
            _ => {
                // Every pair of built peers the paper's Table 6 orders.
                let built: Vec<&ArmRuns> = rows.iter().map(|(a, _)| *a).collect();
                let mut held = (0, 0);
                for a in &built {
                    for b in &built {
                        let (Some(pa), Some(pb)) = (paper_fid(&a.arm.name), paper_fid(&b.arm.name))
                        else {
                            continue;
                        };
                        if pa < pb {
                            let verdict = ordering(Some(a), Some(b));
                            held.1 += usize::from(a.fid_mean().is_some() && b.fid_mean().is_some());
                            held.0 += usize::from(verdict.starts_with("held"));
                            let _ = writeln!(
                                md,
                                "- `{}` better than `{}` (paper {pa:.2} < {pb:.2}): {verdict}",
                                a.arm.name, b.arm.name
                            );
                        }
                    }
                }
                let _ = writeln!(
                    md,
                    "\n{} of the {} measured pairwise orderings of the paper's Table 6 held.",
                    held.0, held.1
                );
            }
        }
        let fig = args
            .paths
            .results
            .join(format!("edgan_{}_table{t}.png", args.profile));
        fid_figure(
            &fig,
            &format!("EDGAN {} table {t}: FID-cifar-cnn", args.profile),
            &groups,
            floor,
        )?;
        let _ = writeln!(
            md,
            "\nFigure: `{}`.",
            fig.file_name().unwrap_or_default().to_string_lossy()
        );
    }
    if !stale.is_empty() {
        let _ = writeln!(
            md,
            "\n## Stale run folders (made with another configuration; not counted)\n\n{}",
            stale
                .iter()
                .map(|s| format!("- `{s}`"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    let stem = format!("edgan_{}", args.profile);
    write_csv(&args.paths.results.join(format!("{stem}.csv")), &csv)?;
    write_atomic(
        &args.paths.results.join(format!("{stem}.md")),
        md.as_bytes(),
    )?;
    eprintln!(
        "wrote {} and {} ({} runs of {} finished)",
        args.paths.results.join(format!("{stem}.md")).display(),
        args.paths.results.join(format!("{stem}.csv")).display(),
        all.iter()
            .map(|a| a.values(|r| Some(r.fid_floor)).len())
            .sum::<usize>(),
        all.iter().map(|a| a.runs.len()).sum::<usize>()
    );
    Ok(())
}
