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
        steps: 10,
        test_error: err,
        wall_seconds: 1.0,
        status: status.into(),
        code: "test".into(),
    };
    ebgan::io::write_csv(&dir.join("final.csv"), &[row]).unwrap();
}

#[test]
fn aggregation_matches_golden_markdown() {
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
    let table = aggregate(&layout, "golden").unwrap();
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
