//! `ebgan gan …`: the scoring classifier, a smoke run of each variant, reproducibility, the
//! id sets, and CLI errors.

mod common;

use dfdx::prelude::Cpu;
use ebgan::cmd::gan::classifier::{row_path, ClassifierRow, MIN_ACCURACY};
use ebgan::cmd::gan::list::{ids, Set};
use ebgan::cmd::gan::parzen::ParzenRow;
use ebgan::cmd::gan::run::{execute, resolve, Extras, GanCurveRow, GanFinalRow};
use ebgan::cmd::gan::{padded, Paths};
use ebgan::data::load_mnist;
use ebgan::io::read_csv;
use gan_variants::classifier::Classifier;
use gan_variants::score::scores;
use std::path::PathBuf;
use std::process::Command;

fn paths() -> Paths {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    Paths {
        configs: common::configs(),
        results: root.join("results"),
        classifier: root.join("results/classifier/mnist-classifier.safetensors"),
    }
}

fn classifier() -> Classifier {
    let dev = Default::default();
    let mut c = Classifier::new(&dev);
    use dfdx::prelude::LoadFromSafetensors;
    c.load_safetensors(paths().classifier)
        .expect("the committed classifier (make classifier)");
    c
}

/// The committed classifier reaches its saved accuracy, and that is at least 99 %.
#[test]
fn classifier_accuracy_is_at_least_99_percent() {
    let data = load_mnist(&common::mnist_dir()).unwrap();
    let acc = classifier().accuracy(&padded(&data.test), &data.test.labels);
    let saved: Vec<ClassifierRow> = read_csv(&row_path(&paths().classifier)).unwrap();
    assert!(acc >= MIN_ACCURACY, "test accuracy {acc}");
    assert_eq!(acc, saved[0].test_accuracy);
}

const SMALL: [&str; 3] = [
    "gan_g3x400_d3x128_drop_sgd-adam_lr0.01",
    "ebgan_g3x400_d3x128_drop_adam-adam_lr0.001_m10",
    "ebgan-pt_g2x400_d2x128_nodrop_adam-adam_lr0.001_m10_pt0.1",
];

/// Each variant trains a few updates, scores its samples, and reproduces itself exactly.
#[test]
fn smoke_run_of_each_variant_is_reproducible() {
    let data = load_mnist(&common::mnist_dir()).unwrap();
    let c = classifier();
    for id in SMALL {
        let (mut cfg, _) = resolve(&paths(), "smoke", id, None).unwrap();
        cfg.config.train.g_updates = 12;
        cfg.curve_every = 5;
        cfg.curve_samples = 100;
        cfg.final_samples = 200;
        // parzen.csv: σ on the last 200 training images, held out of training.
        cfg.train_images = 60_000 - 200;
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let extras = Extras {
            samples: true,
            parzen: Some((300, 200)),
            quiet: true,
        };
        let ra = execute(&cfg, &data, &c, a.path(), extras).unwrap();
        let rb = execute(&cfg, &data, &c, b.path(), extras).unwrap();
        assert_eq!(ra.status, "ok", "{id}");
        assert_eq!(ra.g_updates, 12);
        // The reported scores are those of the run's own final samples: a run of 0 G updates
        // reports exactly the scores of the samples of a freshly built generator (same seed),
        // and 12 updates change them.
        let mut untrained_cfg = cfg.clone();
        untrained_cfg.config.train.g_updates = 0;
        let c0 = tempfile::tempdir().unwrap();
        let r0 = execute(&untrained_cfg, &data, &c, c0.path(), extras).unwrap();
        let dev = Cpu::seed_from_u64(cfg.seed);
        let fresh = gan_variants::variants::build(&dev, &cfg.config, cfg.seed).unwrap();
        let expected = scores(&c.log_probs(&fresh.samples(cfg.final_samples, 0)));
        assert_eq!(r0.i_prime, Some(expected.i_prime), "{id}");
        assert_eq!(r0.inception_score, Some(expected.inception), "{id}");
        assert_ne!(
            ra.i_prime, r0.i_prime,
            "{id}: 12 G updates left the scores unchanged"
        );
        let total: usize = ra
            .histogram
            .split(' ')
            .map(|c| c.parse::<usize>().unwrap())
            .sum();
        assert_eq!(total, 200);
        assert_eq!((ra.i_prime, &ra.histogram), (rb.i_prime, &rb.histogram));
        let ca: Vec<GanCurveRow> = read_csv(&a.path().join("curve.csv")).unwrap();
        let cb: Vec<GanCurveRow> = read_csv(&b.path().join("curve.csv")).unwrap();
        assert_eq!(ca.len(), 3, "rows at 5, 10 and the end");
        for (x, y) in ca.iter().zip(&cb) {
            assert_eq!(
                (x.d_loss, x.g_loss, x.i_prime),
                (y.d_loss, y.g_loss, y.i_prime)
            );
        }
        assert_eq!(ca[0].pt.is_some(), id.starts_with("ebgan-pt"));
        let f: Vec<GanFinalRow> = read_csv(&a.path().join("final.csv")).unwrap();
        assert_eq!(f[0], ra);
        assert!(a.path().join("samples.csv").exists());
        let pa: Vec<ParzenRow> = read_csv(&a.path().join("parzen.csv")).unwrap();
        let pb: Vec<ParzenRow> = read_csv(&b.path().join("parzen.csv")).unwrap();
        assert_eq!(pa, pb);
        assert!(pa[0].test_ll.is_finite() && pa[0].test_ll_stderr > 0.0);
    }
}

#[test]
fn id_sets_have_the_profile_sizes() {
    let grid = ids(Set::Grid, 64, 96, 1).unwrap();
    assert_eq!(grid.len(), 160);
    assert_eq!(grid.iter().filter(|i| i.starts_with("ebgan_")).count(), 64);
    assert_eq!(ids(Set::Margins, 64, 96, 1).unwrap().len(), 8);
    assert_eq!(ids(Set::Grid, 512, 6144, 1).unwrap().len(), 6656);
}

#[test]
fn bad_id_is_one_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_ebgan"))
        .args([
            "gan",
            "run",
            "--profile",
            "smoke",
            "--id",
            "gan_g9x400_d2x128_nodrop_adam-adam_lr0.001",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("nLayerG"), "{err}");
}

/// Samples come from whole batches of the training size: 70 samples (batch 64) are the first
/// 70 of 128, so the last 6 were normalised with 58 others, not among themselves (the
/// previous sampler, which normalised them alone, fails this).
#[test]
fn samples_use_whole_batches() {
    let (cfg, _) = resolve(&paths(), "smoke", SMALL[1], None).unwrap();
    assert_eq!(cfg.config.train.batch, 64);
    let dev = Cpu::seed_from_u64(cfg.seed);
    let g = gan_variants::variants::build(&dev, &cfg.config, cfg.seed).unwrap();
    let px = gan_variants::shapes::PIXELS;
    let a = g.samples(70, 3);
    let b = g.samples(128, 3);
    assert_eq!(a.len(), 70 * px);
    assert_eq!(a[..], b[..70 * px]);
}

/// A finished GAN run folder is kept unless `--force` (as `ebgan run`); a folder finished with
/// another config is an error.
#[test]
fn a_finished_gan_run_is_not_retrained_without_force() {
    let res = tempfile::tempdir().unwrap();
    let id = "ebgan_g2x400_d2x128_nodrop_adam-adam_lr0.001_m10";
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ebgan"))
            .args([
                "gan",
                "run",
                "--quiet",
                "--profile",
                "smoke",
                "--id",
                id,
                "--results",
            ])
            .arg(res.path())
            .args(extra)
            .env("MNIST_DIR", common::mnist_dir())
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&[]);
    assert_eq!(code, Some(0), "{err}");
    let final_csv = res.path().join("gans/smoke").join(id).join("final.csv");
    let stamp = std::fs::metadata(&final_csv).unwrap().modified().unwrap();
    let (code, err) = run(&[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("is finished") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        std::fs::metadata(&final_csv).unwrap().modified().unwrap(),
        stamp
    );
    let (code, err) = run(&["--seed", "7"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("another config"), "{err}");
    let (code, err) = run(&["--force"]);
    assert_eq!(code, Some(0), "{err}");
    assert_ne!(
        std::fs::metadata(&final_csv).unwrap().modified().unwrap(),
        stamp
    );
}
