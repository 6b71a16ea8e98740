//! Table 2 aggregation against a golden Markdown file, on hand-made run folders:
//! LN errors {1.0, 2.0, 3.0} %, LN-matched {1.0, 2.0} % (seed 3 missing), EBGAN-LN
//! {1.0, 1.5} % plus one diverged run, at 100 labels.
//! Hand-computed: LN 2.00 ± 1.00, LN-matched 1.50 ± 0.71, EBGAN-LN 1.25 ± 0.35
//! (sqrt(0.125) = 0.3536).
//! vs LN: improvement 100 · 0.75 / 2 = 37.5 %; Welch t = 0.75 / sqrt(1/3 + 0.125/2) = 1.19208,
//! df = (1/3 + 0.0625)² / ((1/3)²/2 + 0.0625²/1) = 2.63504.
//! vs LN-matched: improvement 100 · 0.25 / 1.5 = 16.667 %; Welch t = 0.25 / sqrt(0.25 + 0.0625)
//! = 0.447214, df = 0.3125² / (0.25²/1 + 0.0625²/1) = 1.470588.
//! One more finished run (LN, 200 labels, seed 1, 0.5 %) was trained with another λ₀ than
//! `configs/` gives: it must be left out of the table and listed.

use ebgan::cmd::run::FinalRow;
use ebgan::cmd::table2::{aggregate, render_markdown};
use ebgan::config::{resolve, Layout, Model};

fn write_run(
    layout: &Layout,
    model: Model,
    labels: usize,
    seed: u64,
    err: Option<f64>,
    status: &str,
    lambda0: Option<f32>,
) {
    let dir = layout.run_dir("golden", model, labels, seed);
    let mut cfg = resolve(&layout.configs, "golden", model, labels, seed).unwrap();
    if let Some(l) = lambda0 {
        cfg.ladder.lambda0 = l;
    }
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), toml::to_string(&cfg).unwrap()).unwrap();
    let row = FinalRow {
        model,
        labels,
        seed,
        profile: "golden".into(),
        steps: cfg.total_steps(),
        test_error: err,
        wall_seconds: 1.0,
        status: status.into(),
        code: "test".into(),
        cpu: String::new(),
    };
    ebgan::io::write_csv(&dir.join("final.csv"), &[row]).unwrap();
}

/// The golden fixture: a configs folder with the `golden` profile and the runs described at
/// the top of this file. The tempdir must outlive the layout.
fn fixture() -> (tempfile::TempDir, Layout) {
    let tmp = tempfile::tempdir().unwrap();
    let configs = tmp.path().join("configs");
    std::fs::create_dir_all(&configs).unwrap();
    let repo_configs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    for f in ["ln.toml", "ebgan-ln.toml"] {
        std::fs::copy(repo_configs.join(f), configs.join(f)).unwrap();
    }
    std::fs::write(configs.join("profiles.toml"), "[golden]\nstep_scale = 1.0\nlr_scale = 1.0\ncurve_every = 1\neval_every = 1\nlabels = [100, 200]\nseeds = [1, 2, 3]\n").unwrap();
    let layout = Layout {
        configs,
        results: tmp.path().join("results"),
    };
    for (seed, e) in [(1, 0.01), (2, 0.02), (3, 0.03)] {
        write_run(&layout, Model::Ln, 100, seed, Some(e), "ok", None);
    }
    write_run(&layout, Model::LnMatched, 100, 1, Some(0.01), "ok", None);
    write_run(&layout, Model::LnMatched, 100, 2, Some(0.02), "ok", None);
    write_run(&layout, Model::EbganLn, 100, 1, Some(0.01), "ok", None);
    write_run(&layout, Model::EbganLn, 100, 2, None, "diverged@7", None);
    write_run(&layout, Model::EbganLn, 100, 3, Some(0.015), "ok", None);
    write_run(&layout, Model::Ln, 200, 1, Some(0.005), "ok", Some(500.0));
    (tmp, layout)
}

#[test]
fn aggregation_matches_golden_markdown() {
    let (_tmp, layout) = fixture();
    let table = aggregate(&layout, "golden", false).unwrap();
    let imp_vs = |base: &str| {
        table
            .rows
            .iter()
            .find(|r| {
                r.source == "ours"
                    && r.model == format!("relative improvement vs {base}")
                    && r.labels == 100
            })
            .unwrap()
    };
    let m = imp_vs("LN-matched");
    assert!((m.improvement_pct.unwrap() - 100.0 / 6.0).abs() < 1e-9);
    assert!(
        (m.welch_t.unwrap() - 0.447214).abs() < 1e-5,
        "{:?}",
        m.welch_t
    );
    assert!(
        (m.welch_df.unwrap() - 1.470588).abs() < 1e-5,
        "{:?}",
        m.welch_df
    );
    let imp = imp_vs("LN");
    assert!((imp.improvement_pct.unwrap() - 37.5).abs() < 1e-9);
    assert!(
        (imp.welch_t.unwrap() - 1.19208).abs() < 1e-4,
        "{:?}",
        imp.welch_t
    );
    assert!(
        (imp.welch_df.unwrap() - 2.63504).abs() < 1e-4,
        "{:?}",
        imp.welch_df
    );
    assert_eq!(
        table.missing.len(),
        9,
        "LN-matched seed 3 at 100 labels; labels 200: all but one run"
    );
    assert_eq!(table.other_config, vec![(Model::Ln, 200, 1)]);
    let ln200 = table
        .rows
        .iter()
        .find(|r| r.source == "ours" && r.model == "LN" && r.labels == 200)
        .unwrap();
    assert_eq!(
        ln200.mean_error_pct, None,
        "the other-config run is not averaged"
    );
    assert_eq!(ln200.seeds_other_config, Some(1));
    assert_eq!(
        table.failed,
        vec![(Model::EbganLn, 100, 2, "diverged@7".to_string())]
    );
    let md = render_markdown(&table);
    let golden_path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/table2.md");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden_path, &md).unwrap();
        panic!(
            "tests/golden/table2.md rewritten: check its diff, then rerun without UPDATE_GOLDEN"
        );
    }
    let golden = std::fs::read_to_string(&golden_path)
        .expect("tests/golden/table2.md (UPDATE_GOLDEN=1 writes it)");
    assert_eq!(md, golden);
}

/// A final.csv that does not hold what its folder says is one error naming the file (or, with
/// `skip_bad`, a failed run listed with the reason); never a silent "ok" or a crash. Each case
/// rewrites LN seed 2's file (a valid 2.0 % run). Control: the untouched fixture aggregates.
#[test]
fn invalid_final_csv_is_an_error_naming_the_file_or_a_listed_failure() {
    let header = "model,labels,seed,profile,steps,test_error,wall_seconds,status,code";
    let cases = [
        ("renamed column", format!("{}\nln,100,2,golden,120000,0.02,1.0,ok,test\n", header.replace("test_error", "error")), "columns"),
        ("missing column", "model,labels,seed,profile,steps,wall_seconds,status,code\nln,100,2,golden,120000,1.0,ok,test\n".to_string(), "columns"),
        ("500 % error", format!("{header}\nln,100,2,golden,120000,5.0,1.0,ok,test\n"), "not a fraction"),
        ("NaN error", format!("{header}\nln,100,2,golden,120000,NaN,1.0,ok,test\n"), "not a fraction"),
        ("another model", format!("{header}\nebgan-ln,100,2,golden,180000,0.02,1.0,ok,test\n"), "its folder holds"),
        ("another seed", format!("{header}\nln,100,3,golden,120000,0.02,1.0,ok,test\n"), "its folder holds"),
        ("another label count", format!("{header}\nln,1000,2,golden,120000,0.02,1.0,ok,test\n"), "its folder holds"),
        ("two rows", format!("{header}\nln,100,2,golden,120000,0.02,1.0,ok,test\nln,100,2,golden,120000,0.03,1.0,ok,test\n"), "2 rows"),
        ("no row", format!("{header}\n"), "0 rows"),
        ("empty file", String::new(), "columns"),
        ("ok without error", format!("{header}\nln,100,2,golden,120000,,1.0,ok,test\n"), "without a test_error"),
        ("unknown status", format!("{header}\nln,100,2,golden,120000,0.02,1.0,fine,test\n"), "status 'fine'"),
        ("diverged past the end", format!("{header}\nln,100,2,golden,120000,,1.0,diverged@120000,test\n"), "status"),
        ("negative wall time", format!("{header}\nln,100,2,golden,120000,0.02,-1.0,ok,test\n"), "wall_seconds"),
        ("not a number", format!("{header}\nln,100,2,golden,120000,abc,1.0,ok,test\n"), "malformed"),
    ];
    let (_tmp, layout) = fixture();
    let control = aggregate(&layout, "golden", false).unwrap();
    assert_eq!(control.failed.len(), 1);
    let path = layout
        .run_dir("golden", Model::Ln, 100, 2)
        .join("final.csv");
    for (what, text, needle) in cases {
        std::fs::write(&path, text).unwrap();
        let err = format!("{:#}", aggregate(&layout, "golden", false).unwrap_err());
        assert!(err.contains(&path.display().to_string()), "{what}: {err}");
        assert!(err.contains(needle), "{what}: {err}");
        let t = aggregate(&layout, "golden", true).unwrap();
        let ln = t
            .rows
            .iter()
            .find(|r| r.source == "ours" && r.model == "LN" && r.labels == 100)
            .unwrap();
        assert_eq!((ln.seeds_ok, ln.seeds_failed), (Some(2), Some(1)), "{what}");
        assert_eq!(ln.mean_error_pct, Some(2.0), "{what}: seeds 1 and 3 only");
        assert!(
            t.failed
                .iter()
                .any(|f| f.2 == 2 && f.3.starts_with("bad result file")),
            "{what}"
        );
    }
}

/// A run of another build than most of the table's is listed in its notes.
#[test]
fn runs_of_another_build_are_reported() {
    let (_tmp, layout) = fixture();
    let path = layout
        .run_dir("golden", Model::Ln, 100, 3)
        .join("final.csv");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace(",test,", ",abc123,");
    std::fs::write(&path, text).unwrap();
    let t = aggregate(&layout, "golden", false).unwrap();
    assert_eq!(t.majority_build.as_deref(), Some("test"));
    assert_eq!(
        t.other_build,
        vec![(Model::Ln, 100, 3, "abc123".to_string())]
    );
    assert!(render_markdown(&t).contains("- LN labels=100 seed=3: `abc123`"));
}

/// `ebgan table2` does not replace a table with one of fewer finished runs unless
/// `--allow-partial`; a bad final.csv stops it with exit code 1 naming the file.
#[test]
fn a_table_with_fewer_runs_does_not_replace_the_saved_one() {
    let (tmp, layout) = fixture();
    let table2 = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ebgan"))
            .args(["table2", "--profile", "golden", "--configs"])
            .arg(&layout.configs)
            .arg("--results")
            .arg(&layout.results)
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(table2(&[]).0, 0);
    let csv = layout.results.join("table2_golden.csv");
    let saved = std::fs::read_to_string(&csv).unwrap();
    std::fs::remove_file(
        layout
            .run_dir("golden", Model::Ln, 100, 3)
            .join("final.csv"),
    )
    .unwrap();
    let (code, err) = table2(&[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("8 finished runs, this table only 7"), "{err}");
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), saved, "kept");
    assert_eq!(table2(&["--allow-partial"]).0, 0);
    assert_ne!(
        std::fs::read_to_string(&csv).unwrap(),
        saved,
        "replaced when asked"
    );
    let bad = layout
        .run_dir("golden", Model::Ln, 100, 1)
        .join("final.csv");
    std::fs::write(&bad, "nonsense\n1\n").unwrap();
    let (code, err) = table2(&["--allow-partial"]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&bad.display().to_string()) && err.contains("--skip-bad"),
        "{err}"
    );
    assert_eq!(table2(&["--allow-partial", "--skip-bad"]).0, 0);
    drop(tmp);
}
