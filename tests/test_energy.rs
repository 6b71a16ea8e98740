//! `ebgan energy …` (issue 18): a smoke run of each λ₂ end to end — its files, the sweep's
//! behaviour (MALA rejects proposals at a large ε and fewer at a small one, an untrained G is
//! far above the real-vs-real FID floor), the table with both λ₂ and its figures, a finished
//! run kept, a folder of other settings listed as stale, a folder held by another process left
//! untouched, and the `--run` form's errors.

mod common;

use ebgan::cmd::energy::run::{parse_run, ChainRow, ScoreRow};
use ebgan::cmd::gan::run::{GanCurveRow, GanFinalRow};
use ebgan::io::read_csv;
use gan_variants::Arch;

const ID1: &str = "energy_g3x800_d3x512_nodrop_adam-adam_lr0.0002_gp10_mi1";
const ID0: &str = "energy_g3x800_d3x512_nodrop_adam-adam_lr0.0002_gp10_mi0";

#[test]
fn smoke_runs_write_the_sweep_and_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let res = results.to_str().unwrap();
    for id in [ID1, ID0] {
        let run = format!("smoke/{id}/seed1");
        let (code, err) =
            common::ebgan(&["energy", "run", "--quiet", "--run", &run, "--results", res]);
        assert_eq!(code, 0, "{err}");
    }
    // The smoke profile (configs/energy.toml): ε ∈ {0.01, 1}, T ∈ {2, 5}, 300 chains.
    for (id, mi) in [(ID1, true), (ID0, false)] {
        let run = results.join("energy/smoke").join(id).join("seed1");
        let fin: Vec<GanFinalRow> = read_csv(&run.join("final.csv")).unwrap();
        assert_eq!(fin[0].status, "ok");
        let curve: Vec<GanCurveRow> = read_csv(&run.join("curve.csv")).unwrap();
        assert!(curve.iter().all(|r| r.grad_penalty.is_some()));
        assert!(curve.iter().all(|r| r.latent_error.is_some() == mi));
        let scores: Vec<ScoreRow> = read_csv(&run.join("scores.csv")).unwrap();
        assert_eq!(
            scores.len(),
            2 + 2 * 2 * 2,
            "prior, redraw, 2 samplers × 2 ε × 2 T"
        );
        // The noise control: an independent prior draw, scored the same way, differs.
        assert_eq!(scores[1].sampler, "prior-redraw");
        assert!(scores[1].fid != scores[0].fid && scores[1].fid < 3.0 * scores[0].fid);
        let prior = &scores[0];
        assert_eq!((prior.sampler.as_str(), prior.steps), ("prior", 0));
        // 20 updates leave G far from the data: its FID is far above the real floor (measured
        // 985 against 78, 12.7×; the bound 3× leaves a margin of 4), and so is its KID.
        assert!(prior.fid > 3.0 * prior.fid_floor, "{prior:?}");
        assert!(prior.kid.unwrap() > prior.kid_floor.unwrap(), "{prior:?}");
        let acc = |sampler: &str, eps: f64| {
            scores
                .iter()
                .find(|s| s.sampler == sampler && s.eps == Some(eps) && s.steps == 5)
                .and_then(|s| s.acceptance)
                .unwrap()
        };
        // MALA rejects at ε = 1 and accepts nearly everything at ε = 0.01 (measured at T = 5:
        // 0.22 and 0.9993 for λ₂ = 1; the bound 0.9 leaves a margin of 4 over 0.22).
        assert!(acc("mala", 1.0) < 0.9, "{}", acc("mala", 1.0));
        assert!(acc("mala", 0.01) > acc("mala", 1.0));
        assert_eq!(acc("langevin", 1.0), 1.0);
        for s in &scores[1..] {
            assert!(s.fid.is_finite() && s.kid.is_some());
            assert_eq!(s.lambda_mi, if mi { 1.0 } else { 0.0 });
        }
        let chain: Vec<ChainRow> = read_csv(&run.join("chain.csv")).unwrap();
        assert_eq!(chain.len(), 2 * 2 * 6, "t = 0..=5 per (sampler, ε)");
        for f in [
            "config.toml",
            "mcmc.toml",
            "samples.csv",
            "samples_prior.csv",
            "samples_langevin_eps0.01.csv",
            "samples_mala_eps0.01.csv",
        ] {
            assert!(run.join(f).exists(), "{f}");
        }
    }
    // Finished: kept, nothing done.
    let run = format!("smoke/{ID1}/seed1");
    let (code, err) = common::ebgan(&["energy", "run", "--quiet", "--run", &run, "--results", res]);
    assert_eq!(code, 0);
    assert!(err.contains("is finished"), "{err}");
    // The table: both λ₂, the verdict, the figures.
    let (code, err) = common::ebgan(&["energy", "table", "--profile", "smoke", "--results", res]);
    assert_eq!(code, 0, "{err}");
    let md = std::fs::read_to_string(results.join("energy_smoke.md")).unwrap();
    assert!(
        md.contains("| 1 | 1 / 0 / 0 |") && md.contains("| 0 | 1 / 0 / 0 |"),
        "{md}"
    );
    assert!(md.contains("λ₂ = 1, mala: best of the 2 ε tried"), "{md}");
    let rows: Vec<ScoreRow> = read_csv(&results.join("energy_smoke.csv")).unwrap();
    assert_eq!(rows.len(), 2 * 10);
    assert!(md.contains("| 1 | prior-redraw |"), "{md}");
    assert!(md.contains("redraw"), "{md}");
    for f in [
        "energy_smoke_chain.png",
        "energy_smoke_fid.png",
        "energy_smoke_samples_mi1.png",
        "energy_smoke_samples_mi0.png",
    ] {
        assert!(results.join(f).metadata().unwrap().len() > 1000, "{f}");
    }
    // Another chain count in the profile: the finished folders are stale, not averaged in.
    let configs = dir.path().join("configs");
    std::fs::create_dir(&configs).unwrap();
    for f in std::fs::read_dir(common::configs()).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, configs.join(f.file_name().unwrap())).unwrap();
    }
    let text = std::fs::read_to_string(configs.join("energy.toml")).unwrap();
    assert!(text.contains("chains = 300"));
    std::fs::write(
        configs.join("energy.toml"),
        text.replace("chains = 300", "chains = 400"),
    )
    .unwrap();
    let (code, err) = common::ebgan(&[
        "energy",
        "table",
        "--profile",
        "smoke",
        "--results",
        res,
        "--configs",
        configs.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let md = std::fs::read_to_string(results.join("energy_smoke.md")).unwrap();
    assert!(
        md.contains("Stale folders") && md.contains("| 1 | 0 / 0 / 1 |"),
        "{md}"
    );
}

/// A run folder held by another live process (here: this test's pid in `run.lock`) is refused
/// before any of its files is written: `mcmc.toml` keeps its contents. Control: before this
/// was fixed the run wrote `mcmc.toml` before taking the lock, and this assertion failed (the
/// build 6c68d2f replaced the contents, then stopped at the lock).
#[test]
fn a_held_run_folder_is_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let res = dir.path().to_str().unwrap();
    let run = dir.path().join("energy/smoke").join(ID1).join("seed1");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("run.lock"), std::process::id().to_string()).unwrap();
    std::fs::write(run.join("mcmc.toml"), "held by another process").unwrap();
    let id = format!("smoke/{ID1}/seed1");
    let (code, err) = common::ebgan(&["energy", "run", "--quiet", "--run", &id, "--results", res]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("another process"), "{err}");
    assert_eq!(
        std::fs::read_to_string(run.join("mcmc.toml")).unwrap(),
        "held by another process"
    );
    assert!(!run.join("config.toml").exists());
}

#[test]
fn run_names_parse_and_bad_ones_are_one_error() {
    assert_eq!(
        parse_run(&format!("quick/{ID1}/seed3")).unwrap(),
        ("quick".to_string(), 1.0, 3)
    );
    assert_eq!(parse_run(&format!("paper/{ID0}/seed1/")).unwrap().1, 0.0);
    // Parses, but only the canonical spelling runs (else make would rerun it forever).
    let (code, err) = common::ebgan(&["energy", "run", "--run", &format!("smoke/{ID1}/seed01")]);
    assert_eq!(code, 1);
    assert!(
        err.contains("not canonical") && err.contains("seed1"),
        "{err}"
    );
    let ebgan = Arch::paper_best_ebgan().id();
    for bad in [
        format!("quick/{ID1}"),
        format!("quick/{ID1}/3"),
        format!("quick/{ebgan}/seed1"),
        "quick/junk/seed1".to_string(),
    ] {
        let e = parse_run(&bad).unwrap_err().to_string();
        assert!(e.contains("--run"), "{bad}: {e}");
    }
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = common::ebgan(&[
        "energy",
        "run",
        "--run",
        "smoke/junk/seed1",
        "--results",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--run"), "{err}");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}
