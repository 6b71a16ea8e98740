//! `ebgan plot`: rebuilds every figure from CSV files alone (no training), so committed or
//! downloaded results can be re-plotted. Figures sit next to the tables:
//! - `table2_<P>.png`: grouped bars LN, LN-matched and EBGAN-LN per label count, ± sample
//!   std, with the paper's values as markers;
//! - `table2_<P>_curves.png`: test error against step, mean over seeds with a min–max band;
//! - `table2_<P>_energies.png`: EBGAN-LN real energy, fake energy and margin against step;
//! - `table2_<P>_samples.png`: a 10×10 grid of EBGAN-LN generator samples (the paper's Fig. 10).

use crate::cmd::run::{CurveRow, Paths};
use crate::cmd::table2::{TableRow, PAPER_LABELS, PAPER_ROWS};
use crate::config::{load_profile, resolve, Layout, Model};
use crate::io::read_csv;
use anyhow::Result;
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

const LN_COLOR: RGBColor = RGBColor(31, 119, 180);
const EB_COLOR: RGBColor = RGBColor(214, 39, 40);
const MATCHED_COLOR: RGBColor = RGBColor(255, 127, 14);

fn color(m: Model) -> RGBColor {
    match m {
        Model::Ln => LN_COLOR,
        Model::LnMatched => MATCHED_COLOR,
        Model::EbganLn => EB_COLOR,
    }
}

pub fn plot_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("plotting failed: {e:?}")
}

/// A legend key for a line series: a 15-pixel line in `style`.
pub fn line_key(style: ShapeStyle) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], style)
}

/// Draws `chart`'s legend at `pos`: a black border around a translucent white box.
pub fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    pos: SeriesLabelPosition,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(pos)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()
        .map_err(plot_err)
}

/// Draws a 28 × 28 grey image (bytes, row-major) with its top-left corner at (x0, y0), each
/// pixel as 2 × 2.
pub fn draw_digit<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    img: &[u8],
    (x0, y0): (i32, i32),
) -> Result<()> {
    for (i, &v) in img.iter().enumerate() {
        let (x, y) = (x0 + 2 * (i % 28) as i32, y0 + 2 * (i / 28) as i32);
        for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            root.draw_pixel((x + dx, y + dy), &RGBColor(v, v, v))
                .map_err(plot_err)?;
        }
    }
    Ok(())
}

/// A step-axis tick: whole numbers, thousands as "k" (180000 → "180k", 2500 → "2.5k", 300 →
/// "300"), so that paper-length axes stay readable in a small panel.
pub fn step_tick(x: f64) -> String {
    let x = x.round();
    if x.abs() >= 1000.0 {
        let k = x / 1000.0;
        if (k - k.round()).abs() < 1e-9 {
            format!("{}k", k.round())
        } else {
            format!("{:.1}k", k)
        }
    } else {
        format!("{x}")
    }
}

/// Grouped bars of our mean ± std per label count, the paper's LN (as reproduced in the EBGAN
/// paper) and EBGAN-LN as markers. Without a finished run there is nothing of ours to show:
/// the figure is not drawn (an existing one is kept) and `false` is returned, with a message.
pub fn table2_figure(rows: &[TableRow], path: &Path, profile: &str) -> Result<bool> {
    let ours: Vec<&TableRow> = rows
        .iter()
        .filter(|r| r.source == "ours" && r.mean_error_pct.is_some())
        .collect();
    if ours.is_empty() {
        eprintln!(
            "{}: no finished run to plot, figure not drawn",
            path.display()
        );
        return Ok(false);
    }
    let tmp = crate::io::TempFile::beside(path)?;
    let tmp_path = tmp.path().to_path_buf();
    let root = BitMapBackend::new(&tmp_path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let mut labels: Vec<usize> = rows
        .iter()
        .filter(|r| r.source == "ours")
        .map(|r| r.labels)
        .collect();
    labels.dedup();
    let top = ours
        .iter()
        .map(|r| r.mean_error_pct.unwrap() + r.std_error_pct.unwrap_or(0.0))
        .fold(2.0f64, f64::max)
        * 1.15;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Table 2 ({profile}): test error, LN, LN-matched, EBGAN-LN"),
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(-0.6f64..(labels.len() as f64 - 0.4), 0f64..top)
        .map_err(plot_err)?;
    let names = labels.clone();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(labels.len().max(1))
        .x_label_formatter(&|x| {
            let i = x.round() as usize;
            if (x - x.round()).abs() < 1e-6 && i < names.len() {
                format!("{} labels", names[i])
            } else {
                String::new()
            }
        })
        .y_desc("test error (%)")
        .draw()
        .map_err(plot_err)?;
    let width = 0.8 / Model::ALL.len() as f64;
    for (k, model) in Model::ALL.iter().enumerate() {
        let dx = (k as f64 - (Model::ALL.len() as f64 - 1.0) / 2.0) * width;
        let c = color(*model);
        let bars: Vec<(f64, f64, f64)> = labels
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                ours.iter()
                    .find(|r| r.model == model.label() && r.labels == *l)
                    .map(|r| {
                        (
                            i as f64 + dx,
                            r.mean_error_pct.unwrap(),
                            r.std_error_pct.unwrap_or(0.0),
                        )
                    })
            })
            .collect();
        chart
            .draw_series(bars.iter().map(|&(x, m, _)| {
                Rectangle::new(
                    [(x - 0.42 * width, 0.0), (x + 0.42 * width, m)],
                    c.mix(0.75).filled(),
                )
            }))
            .map_err(plot_err)?
            .label(format!("{} (ours)", model.label()))
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
        chart
            .draw_series(bars.iter().map(|&(x, m, s)| {
                PathElement::new(vec![(x, m - s), (x, m + s)], BLACK.stroke_width(2))
            }))
            .map_err(plot_err)?;
        // The paper's value for the same model: LN as reproduced in the EBGAN paper, and EBGAN-LN
        // (the paper has no budget-matched control).
        let paper = match model {
            Model::Ln => &PAPER_ROWS[2].1,
            Model::EbganLn => &PAPER_ROWS[3].1,
            Model::LnMatched => continue,
        };
        let marks: Vec<(f64, f64)> = labels
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                PAPER_LABELS
                    .iter()
                    .position(|p| p == l)
                    .and_then(|j| paper[j])
                    .map(|(m, _)| (i as f64 + dx, m))
            })
            .collect();
        let drawn = chart
            .draw_series(
                marks
                    .iter()
                    .map(|&p| Cross::new(p, 7, BLACK.stroke_width(2))),
            )
            .map_err(plot_err)?;
        if k == 0 {
            drawn
                .label("paper (× markers)")
                .legend(|(x, y)| Cross::new((x + 6, y), 5, BLACK.stroke_width(2)));
        }
    }
    draw_legend(&mut chart, SeriesLabelPosition::MiddleRight)?;
    root.present().map_err(plot_err)?;
    tmp.commit()?;
    Ok(true)
}

/// One plotted series: name, colour, and per step (step, mean, min, max) over seeds.
type Series = (String, RGBColor, Vec<(f64, f64, f64, f64)>);

/// Makes the series of one panel from a model's runs.
type SeriesOf<'a> = &'a dyn Fn(Model, &[Vec<CurveRow>]) -> Vec<Series>;

/// Curves of every finished run of a profile: model → labels → seeds' rows.
type Curves = BTreeMap<Model, BTreeMap<usize, Vec<Vec<CurveRow>>>>;

fn load_curves(layout: &Layout, profile: &str) -> Result<Curves> {
    let p = load_profile(&layout.configs, profile)?;
    let mut out: Curves = BTreeMap::new();
    for model in Model::ALL {
        for &labels in &p.labels {
            for &seed in &p.seeds {
                let dir = layout.run_dir(profile, model, labels, seed);
                if dir.join("final.csv").exists() {
                    // As in the table: only runs of the config `configs/` gives now.
                    let expected = resolve(&layout.configs, profile, model, labels, seed)?;
                    let saved = std::fs::read_to_string(dir.join("config.toml"))
                        .ok()
                        .and_then(|t| crate::config::RunConfig::parse_saved(&t));
                    if saved.as_ref() != Some(&expected) {
                        eprintln!(
                            "{}: another config than configs/ gives, left out of the curves",
                            dir.display()
                        );
                        continue;
                    }
                    let steps = expected.total_steps();
                    let rows = crate::results::read_curve(&dir.join("curve.csv"), steps)?;
                    out.entry(model)
                        .or_default()
                        .entry(labels)
                        .or_default()
                        .push(rows);
                }
            }
        }
    }
    Ok(out)
}

/// Per step, (mean, min, max) of `f` over the runs that have that step.
fn band(runs: &[Vec<CurveRow>], f: impl Fn(&CurveRow) -> Option<f64>) -> Vec<(f64, f64, f64, f64)> {
    let mut by_step: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for run in runs {
        for r in run {
            if let Some(v) = f(r).filter(|v| v.is_finite()) {
                by_step.entry(r.step + 1).or_default().push(v);
            }
        }
    }
    by_step
        .into_iter()
        .map(|(s, v)| {
            (
                s as f64,
                v.iter().sum::<f64>() / v.len() as f64,
                v.iter().cloned().fold(f64::INFINITY, f64::min),
                v.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
            )
        })
        .collect()
}

/// One panel per label count, each with the series that `series` makes of its runs.
fn panels(path: &Path, title: &str, y_desc: &str, curves: &Curves, series: SeriesOf) -> Result<()> {
    let labels: Vec<usize> = {
        let mut l: Vec<usize> = curves.values().flat_map(|m| m.keys().copied()).collect();
        l.sort_unstable();
        l.dedup();
        l
    };
    if labels.is_empty() {
        return Ok(());
    }
    let tmp = crate::io::TempFile::beside(path)?;
    let tmp_path = tmp.path().to_path_buf();
    let root = BitMapBackend::new(&tmp_path, (420 * labels.len() as u32, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let areas = root.split_evenly((1, labels.len()));
    for (area, l) in areas.iter().zip(&labels) {
        let mut all = Vec::new();
        for (model, by_labels) in curves {
            if let Some(runs) = by_labels.get(l) {
                for (name, c, b) in series(*model, runs) {
                    all.push((format!("{name} (n={})", runs.len()), c, b));
                }
            }
        }
        let xmax = all
            .iter()
            .flat_map(|s| s.2.iter().map(|p| p.0))
            .fold(1.0, f64::max);
        let ymax = all
            .iter()
            .flat_map(|s| s.2.iter().map(|p| p.3))
            .fold(f64::MIN, f64::max);
        let ymin = all
            .iter()
            .flat_map(|s| s.2.iter().map(|p| p.2))
            .fold(f64::MAX, f64::min);
        if !(ymax.is_finite() && ymin.is_finite()) {
            continue;
        }
        let mut cb = ChartBuilder::on(area);
        cb.caption(format!("{title}, {l} labels"), ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(55);
        {
            let mut chart = cb
                .build_cartesian_2d(0f64..xmax, ymin.min(0.0)..ymax * 1.1)
                .map_err(plot_err)?;
            chart
                .configure_mesh()
                .x_labels(5)
                .x_label_formatter(&|x| step_tick(*x))
                .x_desc("step")
                .y_desc(y_desc)
                .draw()
                .map_err(plot_err)?;
            for (name, c, b) in &all {
                let c = *c;
                let mut poly: Vec<(f64, f64)> = b.iter().map(|p| (p.0, p.3)).collect();
                poly.extend(b.iter().rev().map(|p| (p.0, p.2)));
                chart
                    .draw_series(std::iter::once(Polygon::new(poly, c.mix(0.15))))
                    .map_err(plot_err)?;
                chart
                    .draw_series(LineSeries::new(
                        b.iter().map(|p| (p.0, p.1)),
                        c.stroke_width(2),
                    ))
                    .map_err(plot_err)?
                    .label(name.clone())
                    .legend(line_key(c.stroke_width(2)));
            }
            draw_legend(&mut chart, SeriesLabelPosition::MiddleRight)?;
        }
    }
    root.present().map_err(plot_err)?;
    tmp.commit()?;
    Ok(())
}

/// A 10×10 grid of 28×28 samples (bytes), each pixel drawn 2×2.
pub fn sample_grid(samples: &[Vec<u8>], path: &Path) -> Result<()> {
    let tmp = crate::io::TempFile::beside(path)?;
    let tmp_path = tmp.path().to_path_buf();
    let root = BitMapBackend::new(&tmp_path, (10 * 28 * 2, 10 * 28 * 2)).into_drawing_area();
    root.fill(&BLACK).map_err(plot_err)?;
    for (k, img) in samples.iter().take(100).enumerate() {
        draw_digit(&root, img, ((k % 10) as i32 * 56, (k / 10) as i32 * 56))?;
    }
    root.present().map_err(plot_err)?;
    tmp.commit()?;
    Ok(())
}

pub use crate::results::read_samples;

/// Every figure of one profile, from its CSV files.
pub fn profile_figures(layout: &Layout, profile: &str) -> Result<Vec<std::path::PathBuf>> {
    let mut made = Vec::new();
    let base = layout.results.join(format!("table2_{profile}"));
    let table = base.with_extension("csv");
    if table.exists() {
        let png = base.with_extension("png");
        if table2_figure(&read_csv(&table)?, &png, profile)? {
            made.push(png);
        }
    }
    let curves = load_curves(layout, profile)?;
    if curves.is_empty() {
        eprintln!("profile {profile}: no finished run, curve and sample figures not drawn");
        return Ok(made);
    }
    let p = |suffix: &str| {
        layout
            .results
            .join(format!("table2_{profile}_{suffix}.png"))
    };
    panels(
        &p("curves"),
        "test error",
        "test error (%)",
        &curves,
        &|m, runs| {
            vec![(
                m.label().to_string(),
                color(m),
                band(runs, |r| r.test_error.map(|e| 100.0 * e)),
            )]
        },
    )?;
    made.push(p("curves"));
    let eb_only: Curves = curves
        .iter()
        .filter(|(m, _)| **m == Model::EbganLn)
        .map(|(m, v)| (*m, v.clone()))
        .collect();
    if !eb_only.is_empty() {
        panels(
            &p("energies"),
            "EBGAN-LN energies",
            "energy",
            &eb_only,
            &|_, runs| {
                vec![
                    (
                        "real energy".into(),
                        LN_COLOR,
                        band(runs, |r| Some(r.real_energy)),
                    ),
                    (
                        "fake energy".into(),
                        EB_COLOR,
                        band(runs, |r| r.fake_energy),
                    ),
                    (
                        "margin".into(),
                        RGBColor(44, 160, 44),
                        band(runs, |r| r.margin.map(f64::from)),
                    ),
                ]
            },
        )?;
        made.push(p("energies"));
    }
    // Samples: the lowest-numbered finished EBGAN-LN run at the fewest labels.
    let pr = load_profile(&layout.configs, profile)?;
    let first = pr
        .labels
        .iter()
        .flat_map(|&l| pr.seeds.iter().map(move |&s| (l, s)))
        .map(|(l, s)| {
            layout
                .run_dir(profile, Model::EbganLn, l, s)
                .join("samples.csv")
        })
        .find(|f| f.exists());
    if let Some(f) = first {
        sample_grid(&read_samples(&f)?, &p("samples"))?;
        made.push(p("samples"));
    }
    Ok(made)
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Profile to plot (default: every profile with a results/runs/<profile> folder).
    #[arg(long)]
    pub profile: Option<String>,
    #[command(flatten)]
    pub paths: Paths,
}

pub fn main(args: Args) -> Result<()> {
    let layout = args.paths.layout();
    let profiles: Vec<String> = match args.profile {
        Some(p) => vec![p],
        None => crate::config::load_profiles(&layout.configs)?
            .into_keys()
            .filter(|p| layout.results.join("runs").join(p).is_dir())
            .collect(),
    };
    for p in profiles {
        for f in profile_figures(&layout, &p)? {
            println!("{}", f.display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::step_tick;

    #[test]
    fn step_ticks_are_short_whole_numbers() {
        assert_eq!(step_tick(0.0), "0");
        assert_eq!(step_tick(300.0), "300");
        assert_eq!(step_tick(2000.0), "2k");
        assert_eq!(step_tick(2500.0), "2.5k");
        assert_eq!(step_tick(180_000.0), "180k");
        assert_eq!(step_tick(39_999.6), "40k");
    }
}
