//! The EDGAN experiments (`ebgan edgan …`) end to end on the real CIFAR-10 batches with the
//! committed FID network: a smoke run stopped half-way and resumed equals an uninterrupted one
//! (OAdam states and the ρ column through a checkpoint; u of EDGAN's one-output SN_in_P layer
//! cannot matter — SNGAN's seven u are tested in gan_variants/tests/edgan_nets.rs); the table
//! (sections, orderings, a stale folder listed and not counted); ρ on the FID network's features
//! through a resume; bad input as one clear error.

mod common;

use std::path::{Path, PathBuf};

/// A fresh results folder holding a copy of the committed FID network.
fn results(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ebgan-edgan-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let net = dir.join("features").join("cifar-cnn");
    std::fs::create_dir_all(&net).unwrap();
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("results/features/cifar-cnn");
    for f in std::fs::read_dir(&src).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, net.join(f.file_name().unwrap())).unwrap();
    }
    dir
}

fn run(results: &Path, args: &[&str]) -> (i32, String) {
    let results = results.display().to_string();
    let all: Vec<&str> = args
        .iter()
        .copied()
        .chain(["--results", &results])
        .collect();
    common::ebgan_images(&all, false)
}

/// Runs EDGAN's smoke run on two threads in a fresh results folder, with the binary's allocator
/// settings or, with `system`, glibc's defaults ([`ebgan::allocator::OPT_OUT`]; glibc's own
/// environment tunables removed, so "defaults" means defaults); returns its numbers, the minor
/// page faults and the peak resident KB of that process alone (`wait4`'s usage, so the other
/// tests' processes do not count).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn smoke_run_faults(name: &str, system: bool) -> ((Vec<String>, Vec<String>), i64, i64) {
    let dir = results(name);
    let log = dir.join("stderr.txt");
    let results_arg = dir.display().to_string();
    let args = [
        "edgan",
        "run",
        "--run",
        "smoke/edgan_l1_s1",
        "--quiet",
        "--results",
    ];
    let mut cmd = common::ebgan_images_command(&[&args[..], &[&results_arg]].concat(), false, 2);
    for var in [
        ebgan::allocator::OPT_OUT,
        "GLIBC_TUNABLES",
        "MALLOC_ARENA_MAX",
        "MALLOC_MMAP_MAX_",
        "MALLOC_MMAP_THRESHOLD_",
        "MALLOC_TRIM_THRESHOLD_",
        "MALLOC_TOP_PAD_",
    ] {
        cmd.env_remove(var);
    }
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    if system {
        cmd.env(ebgan::allocator::OPT_OUT, "1");
    }
    // Reaped by wait4 below (nothing between can panic), which also returns the child's own
    // resource usage.
    #[allow(clippy::zombie_processes)]
    let child = cmd.spawn().unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: wait4 reaps this child (never waited on through `child`) and fills one rusage.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::wait4(pid, &mut status, 0, &mut usage) }, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let numbers = common::image_run_numbers(&dir.join("edgan/smoke/edgan_l1_s1"));
    (numbers, usage.ru_minflt, usage.ru_maxrss)
}

/// The allocator settings (`ebgan::allocator`, glibc only) change no number of a run — curve
/// and scores bit for bit against glibc's defaults — and save page faults: the run with the
/// defaults must fault at least twice as often (measured 2026-12-05: 348,019–351,546 against
/// 1,167,187–1,194,964, a ratio of 3.3–3.4, so a margin of 1.7×; most of the 350,000 are the
/// first touch of the data, the FID network and the heap, which no setting avoids; on a host
/// with transparent huge pages always on, or 64 KiB pages, the counts would shift). The
/// defaults' run is the control that the count tells the two apart.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn allocator_settings_change_no_number_and_save_page_faults() {
    let (kept, kept_faults, kept_kb) = smoke_run_faults("malloc-kept", false);
    let (system, system_faults, system_kb) = smoke_run_faults("malloc-system", true);
    assert_eq!(kept, system, "the allocator changed a number");
    println!(
        "minor page faults: {kept_faults} with the settings, {system_faults} without; \
         peak RSS {kept_kb} KB and {system_kb} KB"
    );
    assert!(
        system_faults >= 2 * kept_faults,
        "{system_faults} faults with glibc's defaults, {kept_faults} with the settings"
    );
}

/// EDGAN's smoke run (OAdam for both networks, SN_in_P, R311, orthogonal weights, 2 D steps,
/// z ∈ ℝ¹²⁸) stopped after 3 of its 4 updates and resumed ends with the same curve (ρ
/// included) and scores as an uninterrupted run; the curve reports ρ; no checkpoint is left.
#[test]
fn a_resumed_edgan_run_equals_an_uninterrupted_one() {
    let (a, b) = (results("resume-a"), results("resume-b"));
    let args = ["edgan", "run", "--run", "smoke/edgan_l1_s1", "--quiet"];
    let (code, err) = run(&a, &[&args[..], &["--stop-after", "3"]].concat());
    assert_eq!(code, 0, "{err}");
    let folder = |r: &Path| r.join("edgan/smoke/edgan_l1_s1");
    assert!(!folder(&a).join("final.csv").exists());
    assert!(
        folder(&a).join("checkpoint").is_dir(),
        "stopped with a checkpoint"
    );
    let (code, err) = run(&a, &args);
    assert_eq!(code, 0, "{err}");
    let (code, err) = run(&b, &args);
    assert_eq!(code, 0, "{err}");
    let (ca, fa) = common::image_run_numbers(&folder(&a));
    let (cb, fb) = common::image_run_numbers(&folder(&b));
    assert_eq!(ca, cb);
    assert_eq!(fa, fb);
    assert!(ca[0].contains(",ced,"), "{}", ca[0]);
    let rho: f64 = ca[1].split(',').nth(6).unwrap().parse().unwrap();
    assert!(rho > 0.0, "{}", ca[1]);
    assert_eq!(fa[7], "ok");
    for f in ["config.toml", "samples.png", "samples_2.png"] {
        assert!(folder(&a).join(f).exists(), "{f}");
    }
    assert!(!folder(&a).join("checkpoint").exists());
    // A finished run is kept.
    let (code, err) = run(&a, &args);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("is finished"), "{err}");
}

/// ρ on the FID network's features (`arch.ced_on = "fid-features"`) end to end: a run stopped
/// after 3 of its 4 updates and resumed equals an uninterrupted one, and its config.toml records
/// the switch. (The map's standardisation is tested against hand computation in
/// `variants::edgan`, not here.) Control: its ρ differs from the pixel run's of the same seed at
/// every curve row (a map that was never applied would give the pixel run's ρ; measured
/// 2026-12-06: 5.17 and 5.15 nats on features against 6.11 and 5.65 on pixels).
#[test]
fn an_edgan_run_with_rho_on_features_resumes_exactly() {
    let (a, b, pixels) = (
        results("features-a"),
        results("features-b"),
        results("features-pixels"),
    );
    let base = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("configs/edgan.toml");
    let text = std::fs::read_to_string(base).unwrap();
    let switched = text.replacen(
        "[edgan.arch]\n",
        "[edgan.arch]\nced_on = \"fid-features\"\n",
        1,
    );
    assert_ne!(
        switched, text,
        "configs/edgan.toml has an [edgan.arch] table"
    );
    let config = a.join("edgan-features.toml");
    std::fs::write(&config, switched).unwrap();
    let config = config.display().to_string();
    let args = ["edgan", "run", "--run", "smoke/edgan_l1_s1", "--quiet"];
    let featured = [&args[..], &["--config", &config]].concat();
    let (code, err) = run(&a, &[&featured[..], &["--stop-after", "3"]].concat());
    assert_eq!(code, 0, "{err}");
    let folder = |r: &Path| r.join("edgan/smoke/edgan_l1_s1");
    assert!(
        folder(&a).join("checkpoint").is_dir(),
        "stopped with a checkpoint"
    );
    for r in [&a, &b] {
        let (code, err) = run(r, &featured);
        assert_eq!(code, 0, "{err}");
    }
    let (code, err) = run(&pixels, &args);
    assert_eq!(code, 0, "{err}");
    let (ca, fa) = common::image_run_numbers(&folder(&a));
    let (cb, fb) = common::image_run_numbers(&folder(&b));
    assert_eq!((ca.clone(), fa), (cb, fb), "resumed against uninterrupted");
    let saved = std::fs::read_to_string(folder(&a).join("config.toml")).unwrap();
    assert!(saved.contains("ced_on = \"fid-features\""), "{saved}");
    let (cp, _) = common::image_run_numbers(&folder(&pixels));
    let rho = |rows: &[String]| -> Vec<f64> {
        rows[1..]
            .iter()
            .map(|r| r.split(',').nth(6).unwrap().parse().unwrap())
            .collect()
    };
    let (rf, rp) = (rho(&ca), rho(&cp));
    assert_eq!((rf.len(), rp.len()), (2, 2), "{ca:?} {cp:?}");
    for (f, p) in rf.iter().zip(&rp) {
        assert!(
            f.is_finite() && *f > 0.0 && f != p,
            "ρ on features {rf:?}, on pixels {rp:?}"
        );
    }
}

/// The smoke table from two runs and one stale folder: Tables 5 and 6 with their rows (SAGAN's
/// among them, missing), each seed's build, FID at each curve checkpoint per run, the orderings computed (one seed
/// a side: the direction only), the stale folder
/// listed and counted as missing (control: the same folder under its own arm counts), the CSV
/// and both figures written; the real-vs-real floor row once `edgan floor` has run (equal to
/// the runs' own floor), and not for another FID network.
#[test]
fn the_table_counts_runs_and_refuses_stale_folders() {
    let r = results("table");
    for id in ["edgan_l1_s1", "lsgan_s1"] {
        let (code, err) = run(
            &r,
            &["edgan", "run", "--run", &format!("smoke/{id}"), "--quiet"],
        );
        assert_eq!(code, 0, "{err}");
    }
    // EDGAN's folder copied under SNGAN's name: its config is not SNGAN's.
    let base = r.join("edgan/smoke");
    std::fs::create_dir_all(base.join("sngan_s1")).unwrap();
    for f in ["config.toml", "final.csv", "curve.csv"] {
        std::fs::copy(
            base.join("edgan_l1_s1").join(f),
            base.join("sngan_s1").join(f),
        )
        .unwrap();
    }
    let (code, err) = run(&r, &["edgan", "table", "--profile", "smoke"]);
    assert_eq!(code, 0, "{err}");
    let md = std::fs::read_to_string(r.join("edgan_smoke.md")).unwrap();
    assert!(
        md.contains("## Table 5") && md.contains("## Table 6"),
        "{md}"
    );
    // The seed's build beside its runs (final.csv's `code`, 7 characters).
    let fin = std::fs::read_to_string(base.join("edgan_l1_s1/final.csv")).unwrap();
    let code: String = fin
        .trim_end()
        .rsplit(',')
        .next()
        .unwrap()
        .chars()
        .take(7)
        .collect();
    assert!(
        md.contains(&format!("| EDGAN | `edgan_l1` | 1 / 0 / 0 | {code} (1) |")),
        "{md}"
    );
    // FID at the curve's checkpoints, and one seed a side gives the direction only.
    assert!(
        md.contains("| run | 2 (n=200) | 4 (n=200) |") && md.contains("| `lsgan_s1` | "),
        "{md}"
    );
    assert!(
        md.contains("- `edgan_l1` better than `lsgan` (paper 14.02 < 21.64): direction only"),
        "{md}"
    );
    // One seed per arm in smoke: no seed-to-seed spread (the range itself is unit-tested in
    // src/cmd/edgan/table.rs).
    assert!(
        md.contains("with two or more finished seeds: none yet."),
        "{md}"
    );
    assert!(md.contains("| SNGAN | `sngan` | 0 / 0 / 1 |"), "{md}");
    assert!(md.contains("| SAGAN | `sagan` | 0 / 0 / 1 |"), "{md}");
    assert!(md.contains("| WGAN-GP | `wgan-gp` | 0 / 0 / 1 |"), "{md}");
    assert!(
        md.contains("Stale run folders") && md.contains("sngan_s1"),
        "{md}"
    );
    assert!(
        md.contains("- `edgan_l1` better than `lsgan` (paper 14.02 < 21.64): "),
        "{md}"
    );
    assert!(
        md.contains("EDGAN better than no penalty (the paper's claim): not measured yet"),
        "{md}"
    );
    for f in [
        "edgan_smoke.csv",
        "edgan_smoke_table5.png",
        "edgan_smoke_table6.png",
    ] {
        assert!(r.join(f).exists(), "{f}");
    }
    let csv = std::fs::read_to_string(r.join("edgan_smoke.csv")).unwrap();
    assert!(
        csv.lines().any(|l| l.starts_with("6,SNGAN,sngan,1,stale")),
        "{csv}"
    );
    // The real-vs-real floor at the curve's n: not computed yet (the table says how, and has no
    // floor row). `edgan floor` cuts the runs' own real sets to each n the profile scores at: with
    // the curve at n = 150 (a copy of the settings), two rows, n = 200 exactly the runs'
    // final.csv floor and n = 150 from images 200..350, higher (FID's small-n bias); the table
    // under the real settings (one n) refuses that file (no row, a sentence), then shows the
    // floor once computed for them, and refuses it again for another FID network.
    let floor_row = "| real vs real (floor) |";
    assert!(
        md.contains("is not computed (`ebgan edgan floor --profile smoke`)")
            && !md.contains(floor_row),
        "{md}"
    );
    let field = |text: &str, row: usize, name: &str| -> String {
        let head: Vec<&str> = text.lines().next().unwrap().split(',').collect();
        let i = head.iter().position(|h| *h == name).unwrap();
        text.lines()
            .nth(row)
            .unwrap()
            .split(',')
            .nth(i)
            .unwrap()
            .to_string()
    };
    let settings = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("configs/edgan.toml"),
    )
    .unwrap();
    let smoke_at = settings.find("[profiles.smoke]").unwrap();
    let (head, smoke) = settings.split_at(smoke_at);
    let two_n = r.join("edgan-two-n.toml");
    std::fs::write(
        &two_n,
        format!(
            "{head}{}",
            smoke.replacen("curve_fid_n = 200", "curve_fid_n = 150", 1)
        ),
    )
    .unwrap();
    let (code, err) = run(
        &r,
        &[
            "edgan",
            "floor",
            "--profile",
            "smoke",
            "--config",
            &two_n.display().to_string(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let floor_csv = std::fs::read_to_string(base.join("floor.csv")).unwrap();
    assert_eq!(floor_csv.lines().count(), 3, "{floor_csv}");
    assert_eq!(
        (field(&floor_csv, 1, "n"), field(&floor_csv, 2, "n")),
        ("150".into(), "200".into())
    );
    assert_eq!(field(&floor_csv, 1, "comparison"), "200..350");
    assert_eq!(
        field(&floor_csv, 2, "fid_floor"),
        field(&fin, 1, "fid_floor")
    );
    let f150: f64 = field(&floor_csv, 1, "fid_floor").parse().unwrap();
    let f200: f64 = field(&floor_csv, 2, "fid_floor").parse().unwrap();
    assert!(f150 > f200, "{floor_csv}");
    let table = |expect: &str, row: bool| {
        let (code, err) = run(&r, &["edgan", "table", "--profile", "smoke"]);
        assert_eq!(code, 0, "{err}");
        let md = std::fs::read_to_string(r.join("edgan_smoke.md")).unwrap();
        assert!(md.contains(expect) && md.contains(floor_row) == row, "{md}");
    };
    let refused = "was computed for other n's, real sets or FID network than the current ones";
    table(refused, false);
    let (code, err) = run(&r, &["edgan", "floor", "--profile", "smoke"]);
    assert_eq!(code, 0, "{err}");
    let floor_csv = std::fs::read_to_string(base.join("floor.csv")).unwrap();
    assert_eq!(
        floor_csv.lines().count(),
        2,
        "smoke scores at one n: {floor_csv}"
    );
    let floor = field(&floor_csv, 1, "fid_floor");
    assert_eq!(floor, field(&fin, 1, "fid_floor"), "{floor_csv}\n{fin}");
    let shown = format!("{:.2}", floor.parse::<f64>().unwrap());
    table(&format!("{floor_row} {shown} | {shown} |"), true);
    table(&format!("is {shown} at n = 200"), true);
    let sha = field(&floor_csv, 1, "feature_net_sha256");
    std::fs::write(base.join("floor.csv"), floor_csv.replace(&sha, "00")).unwrap();
    table(refused, false);
    // Scoring settings count too: LSGAN's run with its training settings intact but scored at
    // another n, or by another FID network, is stale (control: before, each row read
    // `| LSGAN | `lsgan` | 1 / 0 / 0 |`, which the first assertion also checks).
    assert!(md.contains("| LSGAN | `lsgan` | 1 / 0 / 0 |"), "{md}");
    let cfg = base.join("lsgan_s1/config.toml");
    let original = std::fs::read_to_string(&cfg).unwrap();
    let edit = |key: &str, value: &str| -> String {
        let out: Vec<String> = original
            .lines()
            .map(|l| {
                if l.starts_with(&format!("{key} = ")) {
                    format!("{key} = {value}")
                } else {
                    l.to_string()
                }
            })
            .collect();
        assert_ne!(out.join("\n") + "\n", original, "{key} not in {original}");
        out.join("\n") + "\n"
    };
    for (key, value) in [("fid_n", "123"), ("feature_net_sha256", "\"00\"")] {
        std::fs::write(&cfg, edit(key, value)).unwrap();
        let (code, err) = run(&r, &["edgan", "table", "--profile", "smoke"]);
        assert_eq!(code, 0, "{err}");
        let md = std::fs::read_to_string(r.join("edgan_smoke.md")).unwrap();
        assert!(
            md.contains("| LSGAN | `lsgan` | 0 / 0 / 1 |")
                && md
                    .split("## Stale run folders")
                    .nth(1)
                    .is_some_and(|s| s.contains("lsgan_s1")),
            "{key}: {md}"
        );
    }
}

/// Bad input is one clear error and a non-zero exit: an unknown run, a malformed --run, a
/// settings file with an out-of-range key (named), a missing CIFAR-10 folder (named).
#[test]
fn bad_edgan_input_is_one_clear_error() {
    let r = results("bad");
    let (code, err) = run(&r, &["edgan", "run", "--run", "smoke/nope_s1"]);
    assert_ne!(code, 0);
    assert!(err.contains("no such run in profile smoke"), "{err}");
    let (code, err) = run(&r, &["edgan", "run", "--run", "nonsense"]);
    assert_ne!(code, 0);
    assert!(err.contains("expected <profile>/<arm>_s<seed>"), "{err}");
    let text = std::fs::read_to_string(common::configs().join("edgan.toml")).unwrap();
    let bad = r.join("edgan.toml");
    std::fs::write(&bad, text.replace("fid_n = 200", "fid_n = 30000")).unwrap();
    let (code, err) = run(
        &r,
        &[
            "edgan",
            "list",
            "--profile",
            "smoke",
            "--config",
            &bad.display().to_string(),
        ],
    );
    assert_ne!(code, 0);
    assert!(err.contains("profiles.smoke.fid_n"), "{err}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ebgan"))
        .args(["edgan", "run", "--run", "smoke/edgan_l1_s1", "--quiet"])
        .args(["--results", &r.display().to_string()])
        .args(["--cifar-dir", "/nonexistent/cifar"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(err.contains("/nonexistent/cifar"), "{err}");
    let errors = err
        .lines()
        .filter(|l| l.to_lowercase().starts_with("error"));
    assert_eq!(errors.count(), 1, "{err}");
    // --force on a folder another live process is training (this test's pid in run.lock) is
    // refused with every file left in place. Control: build 6c68d2f removed the checkpoint and
    // final.csv first and only then stopped at the lock.
    let held = r.join("edgan/smoke/edgan_l1_s1");
    std::fs::create_dir_all(held.join("checkpoint")).unwrap();
    std::fs::write(held.join("run.lock"), std::process::id().to_string()).unwrap();
    std::fs::write(held.join("final.csv"), "kept").unwrap();
    let (code, err) = run(
        &r,
        &["edgan", "run", "--run", "smoke/edgan_l1_s1", "--force"],
    );
    assert_ne!(code, 0);
    assert!(err.contains("being trained by another process"), "{err}");
    assert_eq!(
        std::fs::read_to_string(held.join("final.csv")).unwrap(),
        "kept"
    );
    assert!(held.join("checkpoint").is_dir());
}
