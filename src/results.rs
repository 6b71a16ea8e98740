//! Readers of the suite's result files that believe nothing they read: the header must be the
//! expected one, the row count right, the row's identity (model, label count, seed, profile,
//! steps; a GAN run's id) the folder's own, and every value in its range. A file that fails is
//! one error naming it and saying what is wrong; `table2 --skip-bad` lists such runs instead
//! and counts them as failed.

use crate::cmd::gan::run::GanFinalRow;
use crate::cmd::run::{CurveRow, FinalRow};
use crate::config::RunConfig;
use anyhow::{bail, Context, Result};
use std::path::Path;

/// Columns of `final.csv` (Table 2 runs), in order.
pub const FINAL_COLUMNS: [&str; 10] = [
    "model",
    "labels",
    "seed",
    "profile",
    "steps",
    "test_error",
    "wall_seconds",
    "status",
    "code",
    "cpu",
];

/// `final.csv` of runs made before the `cpu` column existed (read as `cpu` = "").
const FINAL_COLUMNS_NO_CPU: usize = 9;

/// Columns of `curve.csv` (Table 2 runs), in order.
pub const CURVE_COLUMNS: [&str; 10] = [
    "step",
    "lr",
    "margin",
    "ce",
    "real_energy",
    "fake_energy",
    "hinge",
    "g_loss",
    "test_error",
    "wall_seconds",
];

/// Columns of a GAN run's `final.csv`, in order.
pub const GAN_FINAL_COLUMNS: [&str; 22] = [
    "id",
    "variant",
    "n_layer_g",
    "n_layer_d",
    "size_g",
    "size_d",
    "dropout_d",
    "optim_d",
    "optim_g",
    "lr",
    "margin",
    "pt_weight",
    "profile",
    "seed",
    "g_updates",
    "i_prime",
    "inception_score",
    "histogram_entropy",
    "histogram",
    "status",
    "wall_seconds",
    "code",
];

/// Columns of a GAN run's `curve.csv`, in order.
pub const GAN_CURVE_COLUMNS: [&str; 8] = [
    "g_update",
    "d_loss",
    "g_loss",
    "d_real",
    "d_fake",
    "pt",
    "i_prime",
    "wall_seconds",
];

/// Writes `curve.csv` atomically, with its header even when there is no row yet (a run
/// interrupted before its first row).
pub fn write_curve(path: &Path, rows: &[CurveRow]) -> Result<()> {
    if rows.is_empty() {
        return crate::io::write_atomic(path, format!("{}\n", CURVE_COLUMNS.join(",")).as_bytes());
    }
    crate::io::write_csv(path, rows)
}

/// Every row of a CSV file whose header is exactly `columns`; errors name the file and the
/// row (1 = the first data row).
pub fn read_rows<T: serde::de::DeserializeOwned>(path: &Path, columns: &[&str]) -> Result<Vec<T>> {
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("cannot open {}", path.display()))?;
    let header: Vec<String> = r
        .headers()
        .with_context(|| format!("{}: unreadable header", path.display()))?
        .iter()
        .map(str::to_string)
        .collect();
    if header != columns {
        bail!(
            "{}: the columns are [{}], expected [{}]",
            path.display(),
            header.join(","),
            columns.join(",")
        );
    }
    r.deserialize()
        .enumerate()
        .map(|(i, row)| {
            row.with_context(|| format!("{}: row {} is malformed", path.display(), i + 1))
        })
        .collect()
}

/// A fraction in [0, 1].
fn fraction(path: &Path, what: &str, v: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&v) {
        bail!(
            "{}: {what} = {v} is not a fraction in [0, 1]",
            path.display()
        );
    }
    Ok(())
}

/// `ok`, or `diverged@<step>` with step < `steps`.
fn check_status(path: &Path, status: &str, steps: u64) -> Result<bool> {
    if status == "ok" {
        return Ok(true);
    }
    match status.strip_prefix("diverged@").map(str::parse::<u64>) {
        Some(Ok(t)) if t < steps => Ok(false),
        _ => bail!(
            "{}: status '{status}' is neither 'ok' nor 'diverged@<step>' with step < {steps}",
            path.display()
        ),
    }
}

/// The rows of a Table 2 `final.csv` with [`FINAL_COLUMNS`], or without its last column `cpu`
/// (runs made before it existed; `cpu` is then empty). The error names the current columns.
fn read_final_rows(path: &Path) -> Result<Vec<FinalRow>> {
    let old = &FINAL_COLUMNS[..FINAL_COLUMNS_NO_CPU];
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot open {}", path.display()))?;
    let first = text.lines().next().unwrap_or("");
    if first.split(',').eq(old.iter().copied()) {
        read_rows(path, old)
    } else {
        read_rows(path, &FINAL_COLUMNS)
    }
}

/// The one row of a Table 2 run's `final.csv`, checked against the run's config: one row;
/// model, labels, seed, profile and steps those of `cfg`; status `ok` with a test error in
/// [0, 1], or `diverged@t` without one; wall time finite and ≥ 0; a build stamp.
pub fn read_final(path: &Path, cfg: &RunConfig) -> Result<FinalRow> {
    let mut rows = read_final_rows(path)?;
    if rows.len() != 1 {
        bail!(
            "{}: {} rows, expected exactly 1",
            path.display(),
            rows.len()
        );
    }
    let row = rows.pop().expect("one row");
    let expected = (
        cfg.model,
        cfg.labels,
        cfg.seed,
        cfg.profile.as_str(),
        cfg.total_steps(),
    );
    let found = (
        row.model,
        row.labels,
        row.seed,
        row.profile.as_str(),
        row.steps,
    );
    if found != expected {
        bail!(
            "{}: the row is the run (model {}, labels {}, seed {}, profile {}, steps {}), but its folder holds (model {}, labels {}, seed {}, profile {}, steps {})",
            path.display(),
            row.model.name(), row.labels, row.seed, row.profile, row.steps,
            cfg.model.name(), cfg.labels, cfg.seed, cfg.profile, cfg.total_steps()
        );
    }
    let ok = check_status(path, &row.status, row.steps)?;
    match (ok, row.test_error) {
        (true, Some(e)) => fraction(path, "test_error", e)?,
        (true, None) => bail!("{}: status ok without a test_error", path.display()),
        (false, Some(_)) => bail!("{}: a diverged run with a test_error", path.display()),
        (false, None) => {}
    }
    if !(row.wall_seconds.is_finite() && row.wall_seconds >= 0.0) {
        bail!(
            "{}: wall_seconds = {} is not a finite number ≥ 0",
            path.display(),
            row.wall_seconds
        );
    }
    if row.code.trim().is_empty() {
        bail!("{}: no build stamp in column code", path.display());
    }
    Ok(row)
}

/// The rows of a Table 2 run's `curve.csv`: steps strictly increasing and below `steps`,
/// learning rates and wall times finite and ≥ 0, test errors in [0, 1], losses finite except
/// in the last row (a run that diverged ends with its non-finite losses).
pub fn read_curve(path: &Path, steps: u64) -> Result<Vec<CurveRow>> {
    let rows: Vec<CurveRow> = read_rows(path, &CURVE_COLUMNS)?;
    let mut prev: Option<u64> = None;
    for (i, r) in rows.iter().enumerate() {
        let at = || format!("{}: row {} (step {})", path.display(), i + 1, r.step);
        if prev.is_some_and(|p| r.step <= p) || r.step >= steps {
            bail!("{}: steps must increase and stay below {steps}", at());
        }
        prev = Some(r.step);
        let finite_non_negative = |v: f64| v.is_finite() && v >= 0.0;
        if !(finite_non_negative(r.lr as f64) && finite_non_negative(r.wall_seconds)) {
            bail!("{}: lr and wall_seconds must be finite and ≥ 0", at());
        }
        if let Some(e) = r.test_error {
            fraction(path, "test_error", e).with_context(at)?;
        }
        let losses = [
            Some(r.ce),
            Some(r.real_energy),
            r.fake_energy,
            r.hinge,
            r.g_loss,
        ];
        if i + 1 < rows.len() && losses.iter().flatten().any(|v| !v.is_finite()) {
            bail!("{}: a non-finite loss before the last row", at());
        }
    }
    Ok(rows)
}

/// The one row of a GAN run's `final.csv` in folder `<…>/<id>/`: one row; its id the
/// folder's; status `ok` with I' finite and ≥ 0, inception score in [1, 10] and histogram entropy in
/// [0, ln 10] (all finite), or `diverged@t` without scores; a histogram of 10 counts.
pub fn read_gan_final(path: &Path) -> Result<GanFinalRow> {
    let mut rows: Vec<GanFinalRow> = read_rows(path, &GAN_FINAL_COLUMNS)?;
    if rows.len() != 1 {
        bail!(
            "{}: {} rows, expected exactly 1",
            path.display(),
            rows.len()
        );
    }
    let row = rows.pop().expect("one row");
    let folder = path
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("");
    if row.id != folder {
        bail!(
            "{}: the row is run '{}', but its folder is '{folder}'",
            path.display(),
            row.id
        );
    }
    let ok = check_status(path, &row.status, row.g_updates)?;
    let scores = [row.i_prime, row.inception_score, row.histogram_entropy];
    let in_range =
        |v: Option<f64>, lo: f64, hi: f64| v.is_some_and(|v| v >= lo - 1e-9 && v <= hi + 1e-9);
    if ok {
        // I' = E KL(p(y) ‖ p(y|x)) ≥ 0; IS = exp E KL(p(y|x) ‖ p(y)) in [1, 10]; H in [0, ln 10].
        if !(in_range(row.i_prime, 0.0, f64::MAX)
            && in_range(row.inception_score, 1.0, 10.0)
            && in_range(row.histogram_entropy, 0.0, 10f64.ln()))
        {
            bail!(
                "{}: scores out of range (I' {:?} finite ≥ 0, inception score {:?} in [1, 10], histogram entropy {:?} in [0, ln 10])",
                path.display(), row.i_prime, row.inception_score, row.histogram_entropy
            );
        }
    } else if scores.iter().any(Option::is_some) {
        bail!("{}: a diverged run with scores", path.display());
    }
    let counts: Vec<Option<u64>> = row
        .histogram
        .split_whitespace()
        .map(|c| c.parse().ok())
        .collect();
    if ok && (counts.len() != 10 || counts.iter().any(Option::is_none)) {
        bail!(
            "{}: histogram '{}' is not 10 counts",
            path.display(),
            row.histogram
        );
    }
    if !(row.wall_seconds.is_finite() && row.wall_seconds >= 0.0) {
        bail!(
            "{}: wall_seconds = {} is not a finite number ≥ 0",
            path.display(),
            row.wall_seconds
        );
    }
    Ok(row)
}

/// `samples.csv`: the header `p0 … p783`, then at least one row of 784 pixel bytes.
pub fn read_samples(path: &Path) -> Result<Vec<Vec<u8>>> {
    let pixels = crate::data::PIXELS;
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("cannot open {}", path.display()))?;
    let header = r
        .headers()
        .with_context(|| format!("{}: unreadable header", path.display()))?;
    if header.len() != pixels || header.iter().enumerate().any(|(i, h)| h != format!("p{i}")) {
        bail!(
            "{}: the header must be p0,p1,…,p{}",
            path.display(),
            pixels - 1
        );
    }
    let mut out = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: row {} is malformed", path.display(), i + 1))?;
        let img = rec
            .iter()
            .map(|v| v.parse::<u8>().ok())
            .collect::<Option<Vec<u8>>>()
            .with_context(|| {
                format!(
                    "{}: row {} has a pixel outside 0..=255",
                    path.display(),
                    i + 1
                )
            })?;
        out.push(img);
    }
    if out.is_empty() {
        bail!("{}: no samples", path.display());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The column lists are the serialised headers of the row types (a renamed field would
    /// otherwise make every file "bad").
    #[test]
    fn column_lists_match_the_row_types() {
        fn header<T: serde::Serialize>(row: &T) -> Vec<String> {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.serialize(row).unwrap();
            let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
            text.lines()
                .next()
                .unwrap()
                .split(',')
                .map(str::to_string)
                .collect()
        }
        let f = FinalRow {
            model: crate::config::Model::Ln,
            labels: 100,
            seed: 1,
            profile: "quick".into(),
            steps: 10,
            test_error: Some(0.01),
            wall_seconds: 1.0,
            status: "ok".into(),
            code: "abc".into(),
            cpu: "x".into(),
        };
        assert_eq!(header(&f), FINAL_COLUMNS);
        let c = CurveRow {
            step: 0,
            lr: 0.1,
            margin: None,
            ce: 1.0,
            real_energy: 1.0,
            fake_energy: None,
            hinge: None,
            g_loss: None,
            test_error: None,
            wall_seconds: 0.0,
        };
        assert_eq!(header(&c), CURVE_COLUMNS);
    }

    #[test]
    fn final_csv_without_the_cpu_column_still_reads() {
        let dir = std::env::temp_dir().join(format!("ebgan-final-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let head = "model,labels,seed,profile,steps,test_error,wall_seconds,status,code";
        let row = "ln,100,1,quick,4000,0.0331,164.4,ok,4ddf23d9cab1";
        let old = dir.join("old.csv");
        std::fs::write(&old, format!("{head}\n{row}\n")).unwrap();
        let new = dir.join("new.csv");
        std::fs::write(&new, format!("{head},cpu\n{row},AMD EPYC; avx512f\n")).unwrap();
        let bad = dir.join("bad.csv");
        std::fs::write(&bad, "model,labels\nln,100\n").unwrap();
        let o = read_final_rows(&old).unwrap();
        let n = read_final_rows(&new).unwrap();
        assert_eq!((o[0].cpu.as_str(), o[0].test_error), ("", Some(0.0331)));
        assert_eq!(n[0].cpu, "AMD EPYC; avx512f");
        assert_eq!(
            FinalRow {
                cpu: String::new(),
                ..n[0].clone()
            },
            o[0]
        );
        let e = format!("{:#}", read_final_rows(&bad).unwrap_err());
        assert!(e.contains("bad.csv") && e.contains("code,cpu"), "{e}");
        // A malformed row of an old file is reported as such, not as a column mismatch.
        let junk = dir.join("junk.csv");
        std::fs::write(
            &junk,
            format!("{head}\nln,100,1,quick,4000,abc,164.4,ok,x\n"),
        )
        .unwrap();
        let e = format!("{:#}", read_final_rows(&junk).unwrap_err());
        assert!(e.contains("malformed"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
