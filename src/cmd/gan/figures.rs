//! `ebgan gan figures --profile P`: tables and figures of the grid experiments from the
//! per-run CSV files alone (no training), next to each other in `results/`:
//! - `gans_<P>_grid.csv`: every finished grid configuration (its final.csv rows);
//! - `gans_<P>_summary.{csv,md}`: per Figure 2 panel and variant, the counts (finished,
//!   diverged, missing), the median and best I', and the fraction of configurations whose I'
//!   exceeds each threshold of [`THRESHOLDS`];
//! - `gans_<P>_fig2.png`: I' histograms EBGAN vs GAN, as fractions of each variant's runs, for
//!   (a) all, (b) nLayerG, nLayerD ≤ 4, (c) ≤ 3; diverged runs form a bin left of 0;
//! - `gans_<P>_fig3.png`: the GAN histograms split by (optimD, optimG, lr);
//! - `gans_<P>_margins.{csv,md,png}`: Figure 9, one sample row per margin with I' and the
//!   entropy of the class histogram;
//! - `gans_<P>_fig4.png`: samples of the best configurations found and the paper's named ones;
//! - `gans_<P>_named.{csv,md}` and `gans_<P>_named_curves.png`: the named configurations'
//!   final scores and their I' over training (the `paper` profile trains them at full length).
//!
//! Each part is skipped while none of its runs has finished.

use super::list::{ids, Set, MARGINS};
use super::run::{GanCurveRow, GanFinalRow};
use super::{load_profile, Paths};
use crate::cmd::plot::{draw_digit, draw_legend, line_key, plot_err, read_samples};
use crate::io::{read_csv, write_atomic, write_csv};
use anyhow::Result;
use gan_variants::grid::gan_cells;
use gan_variants::Arch;
use plotters::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// I' thresholds of the summary's "fraction above" columns.
pub const THRESHOLDS: [f64; 3] = [1.0, 2.0, 4.0];

const EBGAN_COLOR: RGBColor = RGBColor(31, 119, 180);
const GAN_COLOR: RGBColor = RGBColor(214, 39, 40);

/// Finished runs of a profile by id (final.csv present).
pub fn finished_runs(paths: &Paths, profile: &str) -> Result<BTreeMap<String, GanFinalRow>> {
    finished_in(&paths.results.join("gans").join(profile))
}

/// Finished runs in the subfolders of `dir`.
pub fn finished_in(dir: &Path) -> Result<BTreeMap<String, GanFinalRow>> {
    let mut runs = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let f = e.path().join("final.csv");
            if f.exists() {
                let r = crate::results::read_gan_final(&f)?;
                runs.insert(r.id.clone(), r);
            }
        }
    }
    Ok(runs)
}

/// One row of the summary.
#[derive(Clone, Debug, Serialize)]
pub struct SummaryRow {
    pub panel: String,
    pub variant: String,
    pub configs: usize,
    pub finished: usize,
    pub diverged: usize,
    pub missing: usize,
    pub median_i_prime: Option<f64>,
    pub best_i_prime: Option<f64>,
    pub best_id: String,
    pub frac_above_1: Option<f64>,
    pub frac_above_2: Option<f64>,
    pub frac_above_4: Option<f64>,
}

/// A panel of Figure 2: the ids with both layer counts ≤ `max_layers`.
fn in_panel(a: &Arch, max_layers: usize) -> bool {
    a.n_layer_g <= max_layers && a.n_layer_d <= max_layers
}

const PANELS: [(&str, usize); 3] = [("(a) all", 5), ("(b) nLayer ≤ 4", 4), ("(c) nLayer ≤ 3", 3)];

fn summarise(
    panel: &str,
    variant: &str,
    wanted: &[&String],
    runs: &BTreeMap<String, GanFinalRow>,
) -> SummaryRow {
    let got: Vec<&GanFinalRow> = wanted.iter().filter_map(|id| runs.get(*id)).collect();
    let mut ips: Vec<(f64, &str)> = got
        .iter()
        .filter_map(|r| r.i_prime.map(|v| (v, r.id.as_str())))
        .collect();
    ips.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n_all = got.len();
    let frac = |t: f64| {
        (n_all > 0).then(|| ips.iter().filter(|(v, _)| *v > t).count() as f64 / n_all as f64)
    };
    SummaryRow {
        panel: panel.to_string(),
        variant: variant.to_string(),
        configs: wanted.len(),
        finished: got.len(),
        diverged: got.iter().filter(|r| r.status != "ok").count(),
        missing: wanted.len() - got.len(),
        median_i_prime: (!ips.is_empty()).then(|| ips[ips.len() / 2].0),
        best_i_prime: ips.last().map(|b| b.0),
        best_id: ips.last().map(|b| b.1.to_string()).unwrap_or_default(),
        frac_above_1: frac(THRESHOLDS[0]),
        frac_above_2: frac(THRESHOLDS[1]),
        frac_above_4: frac(THRESHOLDS[2]),
    }
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "–".into())
}

/// A histogram panel: for each series the fraction of its runs per I' bin, diverged runs in
/// one bin of the same width left of 0.
fn histogram<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    series: &[(&str, RGBColor, Vec<Option<f64>>)],
    top: f64,
    bins: usize,
) -> Result<()> {
    let width = top / bins as f64;
    let bin_of = |v: &Option<f64>| match v {
        None => 0,
        Some(x) => 1 + ((x / width).floor().max(0.0) as usize).min(bins - 1),
    };
    let fractions: Vec<Vec<f64>> = series
        .iter()
        .map(|(_, _, values)| {
            let mut counts = vec![0usize; bins + 1];
            for v in values {
                counts[bin_of(v)] += 1;
            }
            let n = values.len().max(1) as f64;
            counts.iter().map(|&c| c as f64 / n).collect()
        })
        .collect();
    // The y axis fits the tallest bar, with room above it for the legend.
    let tallest = fractions.iter().flatten().fold(0f64, |a, &b| a.max(b));
    let y_top = ((tallest * 1.4 * 20.0).ceil() / 20.0).clamp(0.1, 1.0);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(-width..top, 0f64..y_top)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .x_desc("I'  (the bin left of 0: diverged runs)")
        .y_desc("fraction of configurations")
        .draw()
        .map_err(plot_err)?;
    let k = series.len() as f64;
    for (s, ((name, color, values), fraction)) in series.iter().zip(&fractions).enumerate() {
        let c = *color;
        chart
            .draw_series(fraction.iter().enumerate().map(|(b, f)| {
                let x0 = (b as f64 - 1.0) * width + s as f64 * width / k;
                Rectangle::new([(x0, 0.0), (x0 + width / k, *f)], c.mix(0.8).filled())
            }))
            .map_err(plot_err)?
            .label(format!(
                "{name} (n = {}, diverged {})",
                values.len(),
                values.iter().filter(|v| v.is_none()).count()
            ))
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
}

fn scores_of<'a>(
    ids: impl Iterator<Item = &'a String>,
    runs: &BTreeMap<String, GanFinalRow>,
) -> Vec<Option<f64>> {
    ids.filter_map(|id| runs.get(id))
        .map(|r| r.i_prime)
        .collect()
}

/// Figures 2 and 3 and the summary table.
fn grid_figures(
    paths: &Paths,
    profile: &str,
    grid: &[String],
    runs: &BTreeMap<String, GanFinalRow>,
) -> Result<Vec<PathBuf>> {
    let res = &paths.results;
    let archs: Vec<(String, Arch)> = grid
        .iter()
        .map(|id| Ok((id.clone(), Arch::from_id(id).map_err(anyhow::Error::msg)?)))
        .collect::<Result<_>>()?;
    let grid_rows: Vec<&GanFinalRow> = grid.iter().filter_map(|id| runs.get(id)).collect();
    if grid_rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut made = Vec::new();
    let p = res.join(format!("gans_{profile}_grid.csv"));
    write_csv(&p, &grid_rows)?;
    made.push(p);
    let top = grid_rows
        .iter()
        .filter_map(|r| r.i_prime)
        .fold(1.0f64, f64::max)
        .ceil();
    let bins = 20;
    // Summary and Figure 2.
    let mut summary = Vec::new();
    let p = res.join(format!("gans_{profile}_fig2.png"));
    {
        let tmp = crate::io::TempFile::beside(&p)?;
        let tmp_path = tmp.path().to_path_buf();
        let root = BitMapBackend::new(&tmp_path, (1500, 450)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let areas = root.split_evenly((1, 3));
        for ((title, max), area) in PANELS.iter().zip(areas.iter()) {
            let of = |v: &str| -> Vec<&String> {
                archs
                    .iter()
                    .filter(|(_, a)| a.variant.name() == v && in_panel(a, *max))
                    .map(|(id, _)| id)
                    .collect()
            };
            let (e, g) = (of("ebgan"), of("gan"));
            summary.push(summarise(title, "EBGAN", &e, runs));
            summary.push(summarise(title, "GAN", &g, runs));
            histogram(
                area,
                &format!("{title} ({profile})"),
                &[
                    ("EBGAN", EBGAN_COLOR, scores_of(e.into_iter(), runs)),
                    ("GAN", GAN_COLOR, scores_of(g.into_iter(), runs)),
                ],
                top,
                bins,
            )?;
        }
        root.present().map_err(plot_err)?;
        tmp.commit()?;
    }
    made.push(p);
    // Figure 3: the GAN histograms per (optimD, optimG, lr).
    let p = res.join(format!("gans_{profile}_fig3.png"));
    {
        let tmp = crate::io::TempFile::beside(&p)?;
        let tmp_path = tmp.path().to_path_buf();
        let root = BitMapBackend::new(&tmp_path, (1600, 1000)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let areas = root.split_evenly((3, 4));
        for (cell, area) in gan_cells().iter().zip(areas.iter()) {
            let ids = archs
                .iter()
                .filter(|(_, a)| a.variant.name() == "gan" && (a.optim_d, a.optim_g, a.lr) == *cell)
                .map(|(id, _)| id);
            histogram(
                area,
                &format!("GAN {}/{} lr {}", cell.0.name(), cell.1.name(), cell.2),
                &[("GAN", GAN_COLOR, scores_of(ids, runs))],
                top,
                bins,
            )?;
        }
        root.present().map_err(plot_err)?;
        tmp.commit()?;
    }
    made.push(p);
    let p = res.join(format!("gans_{profile}_summary.csv"));
    write_csv(&p, &summary)?;
    made.push(p);
    let mut md = format!(
        "# Grid search ({profile}): I' of EBGAN vs GAN (EBGAN paper, Table 1 / Figure 2)\n\n\
         | panel | variant | configs | finished | diverged | missing | median I' | best I' | I' > {} | I' > {} | I' > {} |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
        THRESHOLDS[0], THRESHOLDS[1], THRESHOLDS[2]
    );
    for r in &summary {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.panel,
            r.variant,
            r.configs,
            r.finished,
            r.diverged,
            r.missing,
            fmt(r.median_i_prime, 3),
            fmt(r.best_i_prime, 3),
            fmt(r.frac_above_1, 2),
            fmt(r.frac_above_2, 2),
            fmt(r.frac_above_4, 2)
        ));
    }
    md.push_str("\nFractions are of all configurations of the panel that finished, diverged ones included (they count as below every threshold).\n");
    for r in summary.iter().filter(|r| r.panel.starts_with("(a)")) {
        if !r.best_id.is_empty() {
            md.push_str(&format!(
                "\nBest {}: `{}` (I' {:.3}).",
                r.variant,
                r.best_id,
                r.best_i_prime.unwrap_or(f64::NAN)
            ));
        }
    }
    md.push('\n');
    let p = res.join(format!("gans_{profile}_summary.md"));
    write_atomic(&p, md.as_bytes())?;
    made.push(p);
    Ok(made)
}

/// Draws rows of 28 × 28 byte images, `per_row` per row, with a caption per row.
pub fn sample_rows(path: &Path, rows: &[(String, Vec<Vec<u8>>)], per_row: usize) -> Result<()> {
    // Captions are 15 px sans-serif: about 8 px per character leaves room for the longest.
    let longest = rows
        .iter()
        .map(|(c, _)| c.chars().count())
        .max()
        .unwrap_or(0);
    let (cell, label_w) = (56i32, 16 + 8 * longest as i32);
    let h = rows.len().max(1) as i32 * cell;
    let tmp = crate::io::TempFile::beside(path)?;
    let tmp_path = tmp.path().to_path_buf();
    let root = BitMapBackend::new(
        &tmp_path,
        ((label_w + per_row as i32 * cell) as u32, h as u32),
    )
    .into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    for (r, (caption, imgs)) in rows.iter().enumerate() {
        let y0 = r as i32 * cell;
        root.draw(&Text::new(
            caption.clone(),
            (6, y0 + cell / 2 - 8),
            ("sans-serif", 15),
        ))
        .map_err(plot_err)?;
        for (k, img) in imgs.iter().take(per_row).enumerate() {
            draw_digit(&root, img, (label_w + k as i32 * cell, y0))?;
        }
    }
    root.present().map_err(plot_err)?;
    tmp.commit()?;
    Ok(())
}

#[derive(Clone, Debug, Serialize)]
struct MarginRow {
    margin: f32,
    id: String,
    status: String,
    i_prime: Option<f64>,
    inception_score: Option<f64>,
    histogram_entropy: Option<f64>,
    histogram: String,
}

/// Figure 9 and its table.
fn margin_figure(
    paths: &Paths,
    profile: &str,
    runs: &BTreeMap<String, GanFinalRow>,
) -> Result<Vec<PathBuf>> {
    let dir = paths.results.join("gans").join(profile);
    let mut table = Vec::new();
    let mut rows = Vec::new();
    for m in MARGINS {
        let id = Arch::margin_sweep(m).id();
        let Some(r) = runs.get(&id) else { continue };
        table.push(MarginRow {
            margin: m,
            id: id.clone(),
            status: r.status.clone(),
            i_prime: r.i_prime,
            inception_score: r.inception_score,
            histogram_entropy: r.histogram_entropy,
            histogram: r.histogram.clone(),
        });
        let s = dir.join(&id).join("samples.csv");
        let imgs = if s.exists() {
            read_samples(&s)?
        } else {
            Vec::new()
        };
        rows.push((
            format!(
                "m = {m}: I' {}, H {}",
                fmt(r.i_prime, 2),
                fmt(r.histogram_entropy, 2)
            ),
            imgs,
        ));
    }
    if table.is_empty() {
        return Ok(Vec::new());
    }
    let base = paths.results.join(format!("gans_{profile}_margins"));
    write_csv(&base.with_extension("csv"), &table)?;
    let mut md = format!(
        "# Margin sweep ({profile}): EBGAN nLayerG = 5, nLayerD = 2, sizeG = 1600, sizeD = 1024, Adam lr 0.001 (Figure 9)\n\n\
         | m | status | I' | inception score | class-histogram entropy (nats, max ln 10 = 2.303) | histogram (classes 0–9) |\n| --- | --- | --- | --- | --- | --- |\n"
    );
    for r in &table {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r.margin,
            r.status,
            fmt(r.i_prime, 3),
            fmt(r.inception_score, 2),
            fmt(r.histogram_entropy, 3),
            r.histogram
        ));
    }
    write_atomic(&base.with_extension("md"), md.as_bytes())?;
    sample_rows(&base.with_extension("png"), &rows, 10)?;
    Ok(vec![
        base.with_extension("csv"),
        base.with_extension("md"),
        base.with_extension("png"),
    ])
}

/// The folder of the best runs' reruns (samples and Parzen estimate).
pub fn best_dir(paths: &Paths, profile: &str) -> PathBuf {
    paths.results.join("gans_best").join(profile)
}

/// Figure 4: samples of the best configurations found and of the paper's named ones.
fn named_figure(
    paths: &Paths,
    profile: &str,
    runs: &BTreeMap<String, GanFinalRow>,
) -> Result<Vec<PathBuf>> {
    let dir = paths.results.join("gans").join(profile);
    let best = best_dir(paths, profile);
    let best_runs = finished_in(&best)?;
    let mut entries: Vec<(String, PathBuf, Option<f64>)> = Vec::new();
    for r in best_runs.values() {
        entries.push((
            format!("best {} of the grid", r.variant.to_uppercase()),
            best.join(&r.id),
            r.i_prime,
        ));
    }
    for (name, a) in [
        ("paper's best GAN", Arch::paper_best_gan()),
        ("paper's best EBGAN", Arch::paper_best_ebgan()),
        ("paper's best EBGAN-PT", Arch::paper_best_ebgan_pt()),
    ] {
        let id = a.id();
        entries.push((
            format!("{name} (trained directly)"),
            dir.join(&id),
            runs.get(&id).and_then(|r| r.i_prime),
        ));
    }
    let mut rows = Vec::new();
    for (name, folder, i_prime) in entries {
        let s = folder.join("samples.csv");
        if s.exists() {
            let imgs = read_samples(&s)?;
            for (k, chunk) in imgs.chunks(10).take(3).enumerate() {
                let id = folder
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let caption = match k {
                    0 => name.clone(),
                    1 => id,
                    _ => format!("I' {}", fmt(i_prime, 2)),
                };
                rows.push((caption, chunk.to_vec()));
            }
        }
    }
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let p = paths.results.join(format!("gans_{profile}_fig4.png"));
    sample_rows(&p, &rows, 10)?;
    Ok(vec![p])
}

/// A point of a curve: (G update, I').
type Point = (f64, f64);

/// The paper's named configurations trained directly: their final scores and I' over
/// training (a check of the training length: the `paper` profile runs them at 20,000 updates).
fn named_curves(
    paths: &Paths,
    profile: &str,
    runs: &BTreeMap<String, GanFinalRow>,
) -> Result<Vec<PathBuf>> {
    let dir = paths.results.join("gans").join(profile);
    let mut table = Vec::new();
    // (legend, colour, (G update, I') points) per configuration
    let mut series: Vec<(String, RGBColor, Vec<Point>)> = Vec::new();
    for (name, a, color) in [
        ("GAN", Arch::paper_best_gan(), GAN_COLOR),
        ("EBGAN", Arch::paper_best_ebgan(), EBGAN_COLOR),
        (
            "EBGAN-PT",
            Arch::paper_best_ebgan_pt(),
            RGBColor(44, 160, 44),
        ),
    ] {
        let id = a.id();
        let Some(r) = runs.get(&id) else { continue };
        table.push((format!("paper's best {name}"), r));
        let curve: Vec<GanCurveRow> = crate::results::read_rows(
            &dir.join(&id).join("curve.csv"),
            &crate::results::GAN_CURVE_COLUMNS,
        )?;
        let points = curve
            .iter()
            .filter(|c| c.i_prime.is_finite())
            .map(|c| (c.g_update as f64, c.i_prime))
            .collect();
        series.push((format!("{name}: {id}"), color, points));
    }
    if table.is_empty() {
        return Ok(Vec::new());
    }
    let base = paths.results.join(format!("gans_{profile}_named"));
    let finals: Vec<&GanFinalRow> = table.iter().map(|(_, r)| *r).collect();
    write_csv(&base.with_extension("csv"), &finals)?;
    let mut md = format!(
        "# The paper's named configurations trained directly ({profile})\n\n\
         | configuration | id | status | G updates | I' | inception score | class-histogram entropy | wall s |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |\n"
    );
    for (name, r) in &table {
        md.push_str(&format!(
            "| {} | `{}` | {} | {} | {} | {} | {} | {:.0} |\n",
            name,
            r.id,
            r.status,
            r.g_updates,
            fmt(r.i_prime, 3),
            fmt(r.inception_score, 2),
            fmt(r.histogram_entropy, 3),
            r.wall_seconds
        ));
    }
    md.push_str(&format!(
        "\nI' over training: `gans_{profile}_named_curves.png` (`curve_samples` samples per point; the last point is the final I' above).\n"
    ));
    write_atomic(&base.with_extension("md"), md.as_bytes())?;

    let png = paths
        .results
        .join(format!("gans_{profile}_named_curves.png"));
    let xmax = series
        .iter()
        .flat_map(|s| s.2.iter().map(|p| p.0))
        .fold(1.0f64, f64::max);
    let ymax = series
        .iter()
        .flat_map(|s| s.2.iter().map(|p| p.1))
        .fold(1.0f64, f64::max);
    let tmp = crate::io::TempFile::beside(&png)?;
    let tmp_path = tmp.path().to_path_buf();
    let root = BitMapBackend::new(&tmp_path, (900, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("The paper's named configurations: I' during training ({profile})"),
            ("sans-serif", 18),
        )
        .margin(10)
        .margin_right(30)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(0f64..xmax, 0f64..(ymax * 1.15).ceil())
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_label_formatter(&|x| crate::cmd::plot::step_tick(*x))
        .x_desc("generator updates")
        .y_desc("I'")
        .draw()
        .map_err(plot_err)?;
    for (name, c, points) in &series {
        let c = *c;
        chart
            .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))
            .map_err(plot_err)?
            .label(name.clone())
            .legend(line_key(c.stroke_width(2)));
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, c.filled())))
            .map_err(plot_err)?;
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    root.present().map_err(plot_err)?;
    tmp.commit()?;
    Ok(vec![
        base.with_extension("csv"),
        base.with_extension("md"),
        png,
    ])
}

/// The Parzen table: the best runs' estimates beside the GAN paper's.
fn parzen_table(paths: &Paths, profile: &str) -> Result<Vec<PathBuf>> {
    use super::parzen::{ParzenRow, PAPER};
    let best = best_dir(paths, profile);
    let runs = finished_in(&best)?;
    let mut rows: Vec<ParzenRow> = Vec::new();
    for id in runs.keys() {
        let p = best.join(id).join("parzen.csv");
        if p.exists() {
            rows.extend(read_csv::<ParzenRow>(&p)?);
        }
    }
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let base = paths.results.join(format!("gans_{profile}_parzen"));
    write_csv(&base.with_extension("csv"), &rows)?;
    let mut md = format!(
        "# Parzen-window test log-likelihood on MNIST ({profile}), mean ± standard error over the test images\n\n\
         | model | log-likelihood | σ (chosen on validation) | samples |\n| --- | --- | --- | --- |\n"
    );
    for r in &rows {
        md.push_str(&format!(
            "| ours: `{}` | {:.1} ± {:.1} | {:.3}{} | {} |\n",
            r.id,
            r.test_ll,
            r.test_ll_stderr,
            r.sigma,
            if r.sigma_at_edge {
                " (edge of the grid)"
            } else {
                ""
            },
            r.samples
        ));
    }
    for (name, m, se) in PAPER {
        md.push_str(&format!(
            "| Goodfellow et al. 2014: {name} | {m:.0} ± {se} | | |\n"
        ));
    }
    md.push_str(&format!(
        "\nThe Parzen estimate has a high variance and depends strongly on σ and the dimension \
         (Theis et al. 2016); it ranks models only roughly. Our σ is chosen on the last {} training \
         images, held out of these generators' training (they train on the rest, as in the GAN \
         paper); {} test images are scored.\n",
        rows[0].validation_images, rows[0].test_images
    ));
    write_atomic(&base.with_extension("md"), md.as_bytes())?;
    Ok(vec![base.with_extension("csv"), base.with_extension("md")])
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Profile of configs/gans.toml: paper, quick or smoke.
    #[arg(long, default_value = "quick")]
    pub profile: String,
    #[command(flatten)]
    pub paths: Paths,
}

pub fn main(args: Args) -> Result<()> {
    let (_, p) = load_profile(&args.paths.configs, &args.profile)?;
    let runs = finished_runs(&args.paths, &args.profile)?;
    let best = finished_in(&best_dir(&args.paths, &args.profile))?;
    if runs.is_empty() && best.is_empty() {
        anyhow::bail!(
            "no finished GAN run of profile '{}' under {}: no figure drawn (run `make gans PROFILE={}` first)",
            args.profile,
            args.paths.results.display(),
            args.profile
        );
    }
    let grid = ids(Set::Grid, p.ebgan_configs, p.gan_configs, p.subsample_seed)?;
    let mut made = grid_figures(&args.paths, &args.profile, &grid, &runs)?;
    made.extend(margin_figure(&args.paths, &args.profile, &runs)?);
    made.extend(named_figure(&args.paths, &args.profile, &runs)?);
    made.extend(named_curves(&args.paths, &args.profile, &runs)?);
    made.extend(parzen_table(&args.paths, &args.profile)?);
    let missing = grid.iter().filter(|id| !runs.contains_key(*id)).count();
    for m in &made {
        eprintln!("wrote {}", m.display());
    }
    if missing > 0 {
        eprintln!(
            "{missing} of {} grid configurations have no final.csv yet",
            grid.len()
        );
    }
    Ok(())
}
