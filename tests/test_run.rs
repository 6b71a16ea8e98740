//! `ebgan run`: the outputs of a run, their reproducibility, divergence, and CLI errors.

mod common;

use ebgan::cmd::run::{execute, CurveRow, FinalRow, RunOptions};
use ebgan::config::{resolve, Model, RunConfig};
use ebgan::data::load_mnist;
use ebgan::io::read_csv;

/// A smoke-profile config cut down to a few steps (the structure of the protocol kept).
fn tiny(model: Model) -> RunConfig {
    let mut cfg = resolve(&common::configs(), "smoke", model, 100, 5).unwrap();
    cfg.curve_every = 2;
    cfg.eval_every = 3;
    if let Some(p) = cfg.ln.as_mut() {
        (p.steps, p.decay_start) = (6, 4);
    }
    if let Some(p) = cfg.ebgan_ln.as_mut() {
        (p.g_steps, p.margin_steps, p.d_steps, p.d_decay_start) = (3, 3, 6, 4);
    }
    cfg.budget = cfg.budgets();
    cfg
}

/// Profiles keep the protocol's shape: every boundary at the same fraction of the run, every
/// learning rate times lr_scale, the budget recorded; LN-matched is LN with exactly EBGAN-LN's
/// discriminator schedule; `paper` is the paper.
#[test]
fn profiles_scale_steps_and_learning_rates_and_ln_matched_has_the_d_schedule() {
    let c = common::configs();
    let paper_ln = resolve(&c, "paper", Model::Ln, 100, 1).unwrap();
    let p = paper_ln.ln.as_ref().unwrap();
    assert_eq!((p.steps, p.decay_start, p.adam.lr), (120_000, 80_000, 2e-4));
    let paper_eb = resolve(&c, "paper", Model::EbganLn, 100, 1).unwrap();
    let e = paper_eb.ebgan_ln.as_ref().unwrap();
    assert_eq!(
        (
            e.g_steps,
            e.margin_steps,
            e.d_steps,
            e.d_decay_start,
            e.adam_d.lr,
            e.adam_g.lr
        ),
        (60_000, 60_000, 180_000, 120_000, 5e-4, 2.5e-4)
    );
    let matched = resolve(&c, "paper", Model::LnMatched, 100, 1).unwrap();
    let m = matched.ln.as_ref().unwrap();
    assert_eq!(
        (m.steps, m.decay_start, m.adam),
        (180_000, 120_000, e.adam_d)
    );
    assert_eq!(matched.ladder, paper_eb.ladder);
    // Budgets: Σ lr over a constant phase and a linear decay to 0 = lr·(start + (n − start + 1)/2)
    // for n steps (the decay's last step has lr·1/(n − start)).
    let b = &matched.budget[0];
    assert_eq!(
        (b.steps, b.lr_x_steps),
        (180_000, 5e-4f32 as f64 * 180_000.0)
    );
    let want = 5e-4f32 as f64 * (120_000.0 + 60_001.0 / 2.0);
    assert!(
        (b.lr_sum - want).abs() < 1e-6 * want,
        "{} vs {want}",
        b.lr_sum
    );
    assert_eq!(matched.budget[0], paper_eb.budget[0], "same ladder budget");
    assert_eq!(paper_eb.budget[1].optimiser, "generator");
    for profile in ["medium", "quick", "smoke"] {
        let ln = resolve(&c, profile, Model::Ln, 100, 1).unwrap();
        let eb = resolve(&c, profile, Model::EbganLn, 100, 1).unwrap();
        let (s, r) = (ln.step_scale, ln.lr_scale);
        let p = ln.ln.as_ref().unwrap();
        let e = eb.ebgan_ln.as_ref().unwrap();
        let close = |a: u64, b: f64| (a as f64 - b).abs() <= 0.5;
        assert!(close(p.steps, 120_000.0 * s) && close(p.decay_start, 80_000.0 * s));
        assert!(close(e.d_steps, 180_000.0 * s) && close(e.d_decay_start, 120_000.0 * s));
        assert!(close(e.g_steps, 60_000.0 * s) && close(e.margin_steps, 60_000.0 * s));
        assert!((p.adam.lr as f64 - 2e-4 * r).abs() < 1e-9 * r, "{profile}");
        assert!(
            (e.adam_d.lr as f64 - 5e-4 * r).abs() < 1e-9 * r,
            "{profile}"
        );
        assert!(
            (e.adam_g.lr as f64 - 2.5e-4 * r).abs() < 1e-9 * r,
            "{profile}"
        );
        let m = resolve(&c, profile, Model::LnMatched, 100, 1).unwrap();
        assert_eq!(
            m.budget[0], eb.budget[0],
            "{profile}: LN-matched has D's budget"
        );
    }
}

/// CSV text with the wall-clock column removed (the only column that may differ).
fn without_wall_seconds(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let wall = header.iter().position(|h| *h == "wall_seconds").unwrap();
    text.lines()
        .map(|l| {
            l.split(',')
                .enumerate()
                .filter(|(i, _)| *i != wall)
                .map(|(_, v)| v)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn same_seed_gives_identical_results() {
    let data = load_mnist(&common::mnist_dir()).unwrap();
    for model in Model::ALL {
        let cfg = tiny(model);
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let ra = execute(&cfg, &data, a.path(), &RunOptions::default())
            .unwrap()
            .unwrap();
        let rb = execute(&cfg, &data, b.path(), &RunOptions::default())
            .unwrap()
            .unwrap();
        assert_eq!(ra.status, "ok");
        assert_eq!(ra.test_error, rb.test_error);
        for f in ["final.csv", "curve.csv"] {
            assert_eq!(
                without_wall_seconds(&a.path().join(f)),
                without_wall_seconds(&b.path().join(f)),
                "{model:?} {f}"
            );
        }
        // The resolved config is saved beside the result and reads back to the same config.
        let saved: RunConfig =
            toml::from_str(&std::fs::read_to_string(a.path().join("config.toml")).unwrap())
                .unwrap();
        assert_eq!(saved, cfg);
        let curve: Vec<CurveRow> = read_csv(&a.path().join("curve.csv")).unwrap();
        assert_eq!(
            curve.iter().map(|r| r.step).collect::<Vec<_>>(),
            vec![1, 2, 3, 5],
            "{model:?}: rows every 2 steps and at evaluations"
        );
        assert_eq!(curve.iter().filter(|r| r.test_error.is_some()).count(), 2);
        if model == Model::EbganLn {
            assert_eq!(
                std::fs::read(a.path().join("samples.csv")).unwrap(),
                std::fs::read(b.path().join("samples.csv")).unwrap()
            );
            assert!(curve[0].fake_energy.is_some() && curve[0].g_loss.is_some());
            // The first row ends at step 1 (0-based): m = 16 · (1 − 1/3).
            assert!((curve[0].margin.unwrap() - 16.0 * (1.0 - 1.0 / 3.0)).abs() < 1e-5);
        }
        // A different seed changes the result.
        let mut other = cfg.clone();
        other.seed = 6;
        let c = tempfile::tempdir().unwrap();
        execute(&other, &data, c.path(), &RunOptions::default()).unwrap();
        assert_ne!(
            without_wall_seconds(&a.path().join("curve.csv")),
            without_wall_seconds(&c.path().join("curve.csv"))
        );
    }
}

/// A run interrupted after its checkpoint and resumed gives the same files as an
/// uninterrupted run (all draws are counter-based; model, optimiser and curve are saved).
#[test]
fn a_resumed_run_is_identical_to_an_uninterrupted_one() {
    let data = load_mnist(&common::mnist_dir()).unwrap();
    // Steps 3 and 5 are inside a curve row (curve_every 2): the open row is checkpointed.
    // Step 1: before the first row (curve.csv has only its header).
    for (model, stop) in [
        (Model::Ln, 1),
        (Model::Ln, 2),
        (Model::Ln, 3),
        (Model::Ln, 4),
        (Model::EbganLn, 2),
        (Model::EbganLn, 5),
    ] {
        let cfg = tiny(model);
        let (whole, parts) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        execute(&cfg, &data, whole.path(), &RunOptions::default())
            .unwrap()
            .unwrap();
        let interrupted = RunOptions {
            stop_after: Some(stop),
            ..RunOptions::default()
        };
        assert!(execute(&cfg, &data, parts.path(), &interrupted)
            .unwrap()
            .is_none());
        assert!(
            parts.path().join("checkpoint/state.toml").exists()
                && !parts.path().join("final.csv").exists()
        );
        execute(&cfg, &data, parts.path(), &RunOptions::default())
            .unwrap()
            .unwrap();
        for f in ["final.csv", "curve.csv"] {
            assert_eq!(
                without_wall_seconds(&whole.path().join(f)),
                without_wall_seconds(&parts.path().join(f)),
                "{model:?} stop {stop}: {f}"
            );
        }
        if model == Model::EbganLn {
            assert_eq!(
                std::fs::read(whole.path().join("samples.csv")).unwrap(),
                std::fs::read(parts.path().join("samples.csv")).unwrap()
            );
        }
        assert!(
            !parts.path().join("checkpoint").exists(),
            "a finished run removes its checkpoint"
        );
    }
    // A checkpoint made with another config is refused, not silently mixed.
    let cfg = tiny(Model::Ln);
    let dir = tempfile::tempdir().unwrap();
    execute(
        &cfg,
        &data,
        dir.path(),
        &RunOptions {
            stop_after: Some(2),
            ..RunOptions::default()
        },
    )
    .unwrap();
    let mut other = cfg.clone();
    other.ladder.noise_std = 0.2;
    let e = execute(&other, &data, dir.path(), &RunOptions::default()).unwrap_err();
    assert!(format!("{e:#}").contains("another config"), "{e:#}");
}

/// A run folder held by a live process is refused; a lock left by a dead process is taken over;
/// an unreadable lock or one without a pid is an error.
#[test]
fn a_run_held_by_another_process_is_refused() {
    let data = load_mnist(&common::mnist_dir()).unwrap();
    let cfg = tiny(Model::Ln);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("run.lock"), std::process::id().to_string()).unwrap();
    let e = execute(&cfg, &data, dir.path(), &RunOptions::default()).unwrap_err();
    assert!(format!("{e:#}").contains("another process"), "{e:#}");
    assert!(!dir.path().join("config.toml").exists());
    // A lock that holds no pid, or cannot be read (here: a folder), is an error and stays.
    std::fs::write(dir.path().join("run.lock"), "garbage").unwrap();
    let e = execute(&cfg, &data, dir.path(), &RunOptions::default()).unwrap_err();
    assert!(
        format!("{e:#}").contains("does not hold a process id"),
        "{e:#}"
    );
    assert!(dir.path().join("run.lock").exists());
    std::fs::remove_file(dir.path().join("run.lock")).unwrap();
    std::fs::create_dir(dir.path().join("run.lock")).unwrap();
    let e = execute(&cfg, &data, dir.path(), &RunOptions::default()).unwrap_err();
    assert!(format!("{e:#}").contains("cannot read the lock"), "{e:#}");
    std::fs::remove_dir(dir.path().join("run.lock")).unwrap();
    std::fs::write(dir.path().join("run.lock"), "4294967").unwrap();
    execute(&cfg, &data, dir.path(), &RunOptions::default())
        .unwrap()
        .unwrap();
    assert!(
        !dir.path().join("run.lock").exists(),
        "the lock is released at the end"
    );
}

/// A run that another process finished after this one's `final.csv` check (the command's check
/// comes before its data loads; `execute` called directly stands for that window) is refused
/// once the lock is held: its files are untouched and no lock is left. Control: without
/// `final.csv` the same call trains again.
#[test]
fn a_run_finished_while_starting_is_not_trained_again() {
    let data = load_mnist(&common::mnist_dir()).unwrap();
    let cfg = tiny(Model::Ln);
    let dir = tempfile::tempdir().unwrap();
    execute(&cfg, &data, dir.path(), &RunOptions::default())
        .unwrap()
        .unwrap();
    let read = |f: &str| std::fs::read(dir.path().join(f)).unwrap();
    let (fin, curve) = (read("final.csv"), read("curve.csv"));
    let e = execute(&cfg, &data, dir.path(), &RunOptions::default()).unwrap_err();
    assert!(
        format!("{e:#}").contains("finished by another process"),
        "{e:#}"
    );
    assert_eq!(read("final.csv"), fin);
    assert_eq!(read("curve.csv"), curve);
    assert!(!dir.path().join("run.lock").exists());
    std::fs::remove_file(dir.path().join("final.csv")).unwrap();
    execute(&cfg, &data, dir.path(), &RunOptions::default())
        .unwrap()
        .unwrap();
    assert!(dir.path().join("final.csv").exists());
}

#[test]
fn a_non_finite_loss_is_recorded_as_diverged() {
    let data = load_mnist(&common::mnist_dir()).unwrap();
    let mut cfg = tiny(Model::Ln);
    cfg.ladder.lambda0 = f32::INFINITY;
    let dir = tempfile::tempdir().unwrap();
    let row = execute(&cfg, &data, dir.path(), &RunOptions::default())
        .unwrap()
        .unwrap();
    assert_eq!(row.status, "diverged@0");
    let saved: Vec<FinalRow> = read_csv(&dir.path().join("final.csv")).unwrap();
    assert_eq!(saved[0].status, "diverged@0");
    assert_eq!(saved[0].test_error, None);
}

#[test]
fn bad_input_gives_one_clear_error_and_exit_code_1() {
    let (code, err) = common::ebgan(&[
        "run",
        "--model",
        "ln",
        "--labels",
        "100",
        "--seed",
        "1",
        "--profile",
        "smoke",
        "--data-dir",
        "/nonexistent/mnist",
        "--out-dir",
        "/tmp/never-written",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("error: MNIST folder /nonexistent/mnist does not exist"),
        "{err}"
    );
    assert!(
        !std::path::Path::new("/tmp/never-written").exists(),
        "a run that cannot start creates nothing"
    );
    let (code, err) = common::ebgan(&[
        "run",
        "--model",
        "ln",
        "--labels",
        "105",
        "--seed",
        "1",
        "--profile",
        "smoke",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("positive multiple of 10"), "{err}");
    let (code, err) = common::ebgan(&["table2", "--profile", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown profile 'nope'"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// LN-matched is EBGAN-LN without its generator, bit for bit: EBGAN-LN with the generator
/// disabled (margin 0, no G steps) gives LN-matched's curve and error, because both start from
/// the same ladder, labeled set, batches and noise for a seed. (So the table's comparison
/// EBGAN-LN vs LN-matched differs in the generator only.) Control: with the generator on, the
/// curve differs.
#[test]
fn ln_matched_is_ebgan_ln_without_its_generator() {
    let data = load_mnist(&common::mnist_dir()).unwrap();
    let eb = tiny(Model::EbganLn);
    let mut matched = tiny(Model::LnMatched);
    {
        let e = eb.ebgan_ln.as_ref().unwrap();
        let m = matched.ln.as_mut().unwrap();
        (m.steps, m.decay_start, m.adam) = (e.d_steps, e.d_decay_start, e.adam_d);
    }
    let mut off = eb.clone();
    {
        let p = off.ebgan_ln.as_mut().unwrap();
        (p.margin, p.g_steps) = (0.0, 0);
    }
    let run = |cfg: &RunConfig| {
        let d = tempfile::tempdir().unwrap();
        let row = execute(cfg, &data, d.path(), &RunOptions::default())
            .unwrap()
            .unwrap();
        let curve: Vec<CurveRow> = read_csv(&d.path().join("curve.csv")).unwrap();
        (row.test_error, curve)
    };
    let (e_off, c_off) = run(&off);
    let (e_m, c_m) = run(&matched);
    let (_, c_on) = run(&eb);
    assert_eq!(e_off, e_m);
    let key = |c: &[CurveRow]| -> Vec<(u64, f64, f64)> {
        c.iter().map(|r| (r.step, r.ce, r.real_energy)).collect()
    };
    assert_eq!(key(&c_off), key(&c_m));
    assert_ne!(key(&c_on), key(&c_m));
}

/// `ebgan run` on a folder finished with the same config keeps it and does nothing (exit 0,
/// says so; the data folder is not even read); finished with another config it is an error.
/// Control: without a final.csv the same command does start (and here fails on the missing
/// data). Tuning overrides without the validation split need an explicit --out-dir.
#[test]
fn a_finished_run_is_not_retrained_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("final.csv"), "finished\n").unwrap();
    let args = [
        "run",
        "--model",
        "ln",
        "--labels",
        "100",
        "--seed",
        "1",
        "--profile",
        "smoke",
        "--data-dir",
        "/nonexistent/mnist",
        "--out-dir",
        out.to_str().unwrap(),
    ];
    // A finished run of another config is an error, not silently kept.
    let (code, err) = common::ebgan(&args);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("another config"), "{err}");
    let cfg = resolve(&common::configs(), "smoke", Model::Ln, 100, 1).unwrap();
    std::fs::write(out.join("config.toml"), toml::to_string(&cfg).unwrap()).unwrap();
    let (code, err) = common::ebgan(&args);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("is finished") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("final.csv")).unwrap(),
        "finished\n"
    );
    std::fs::remove_file(out.join("final.csv")).unwrap();
    let (code, err) = common::ebgan(&args);
    assert_eq!(code, 1, "{err}");
    let (code, err) = common::ebgan(&[
        "run",
        "--model",
        "ln",
        "--labels",
        "100",
        "--seed",
        "1",
        "--profile",
        "smoke",
        "--lr-scale",
        "3",
        "--data-dir",
        "/nonexistent/mnist",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--split validation"), "{err}");
}
