//! `ebgan images table --profile P`: from the face runs' `final.csv` files alone,
//! - `results/faces_<P>.{csv,md}`: DCGAN vs EBGAN vs EBGAN-PT at the default margin: runs,
//!   finished runs, FID and KID (mean ± sample std over seeds), the real-vs-real floor at the
//!   same n, and Welch's test of each EBGAN model against DCGAN;
//! - `results/faces_<P>_margins.{csv,md}`: EBGAN at every margin of the profile;
//! - `results/faces_<P>.png`: FID per model and per margin (bars, ± std, seeds as points);
//! - `results/faces_<P>_samples.png`: real faces and each model's samples (seed 1) side by side.
//!
//! Diverged runs are counted (the `ok` column) and have no FID; a model with a diverged seed
//! is marked, never silently averaged over fewer seeds.

use super::run::{run_dir, run_id, FaceFinalRow, Model};
use super::{load_config, load_faces, Paths};
use crate::cmd::plot::{draw_legend, plot_err};
use crate::io::{write_atomic, write_csv, TempFile};
use crate::stats::{mean, median, sample_std, welch_t_test};
use anyhow::{Context, Result};
use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Profile of configs/images.toml.
    #[arg(long, default_value = "quick")]
    pub profile: String,
    #[command(flatten)]
    pub paths: Paths,
}

/// One row of the face table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaceTableRow {
    pub model: String,
    pub margin: Option<f32>,
    pub runs: usize,
    pub ok: usize,
    pub fid_mean: Option<f64>,
    pub fid_std: Option<f64>,
    pub kid_mean: Option<f64>,
    pub kid_std: Option<f64>,
    pub fid_floor: Option<f64>,
    pub kid_floor: Option<f64>,
    pub fid_n: Option<usize>,
    /// Welch's t-test of FID against DCGAN's (two-sided p), where both have ≥ 2 values.
    pub p_vs_dcgan: Option<f64>,
    /// The median over the runs of their training milliseconds per G update (`final.csv`'s
    /// `ms_per_step`: one thread beside another run, pauses included; clean step times are the
    /// bench rows).
    pub ms_per_step: Option<f64>,
    /// `seed:status@build` per run (the build: the first 7 hex digits of `final.csv`'s `code`).
    pub seeds: String,
}

pub(crate) fn read_final(path: &Path) -> Result<FaceFinalRow> {
    let rows: Vec<FaceFinalRow> = crate::io::read_csv(path)?;
    let [row]: [FaceFinalRow; 1] = rows
        .try_into()
        .map_err(|r: Vec<_>| anyhow::anyhow!("{}: {} rows, expected 1", path.display(), r.len()))?;
    let ok = row.status == "ok";
    let valid = if ok {
        row.fid.is_some_and(|f| f.is_finite() && f >= 0.0) && row.kid.is_some_and(f64::is_finite)
    } else {
        row.status.starts_with("diverged@") && row.fid.is_none()
    };
    if !valid {
        anyhow::bail!(
            "{}: status {} with FID {:?}, KID {:?} is not a valid result",
            path.display(),
            row.status,
            row.fid,
            row.kid
        );
    }
    Ok(row)
}

fn summarise(
    model: Model,
    margin: Option<f32>,
    rows: &[FaceFinalRow],
    dcgan: &[f64],
) -> FaceTableRow {
    let fids: Vec<f64> = rows.iter().filter_map(|r| r.fid).collect();
    let kids: Vec<f64> = rows.iter().filter_map(|r| r.kid).collect();
    let opt = |v: &[f64], f: fn(&[f64]) -> f64, min: usize| (v.len() >= min).then(|| f(v));
    FaceTableRow {
        model: model.name().into(),
        margin,
        runs: rows.len(),
        ok: fids.len(),
        fid_mean: opt(&fids, mean, 1),
        fid_std: opt(&fids, sample_std, 2),
        kid_mean: opt(&kids, mean, 1),
        kid_std: opt(&kids, sample_std, 2),
        fid_floor: rows.first().map(|r| r.fid_floor),
        kid_floor: rows.first().map(|r| r.kid_floor),
        fid_n: rows.first().map(|r| r.fid_n),
        p_vs_dcgan: (model != Model::Dcgan)
            .then(|| welch_t_test(&fids, dcgan).map(|t| t.2))
            .flatten(),
        ms_per_step: (!rows.is_empty())
            .then(|| median(&rows.iter().map(|r| r.ms_per_step).collect::<Vec<_>>())),
        seeds: rows
            .iter()
            .map(|r| format!("{}:{}@{:.7}", r.seed, r.status, r.code))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

fn fmt(v: Option<f64>, d: usize) -> String {
    v.map_or("–".into(), |v| format!("{v:.d$}"))
}

fn markdown(title: &str, rows: &[FaceTableRow], note: &str) -> String {
    let mut s = format!("# {title}\n\n| model | margin | runs (ok) | FID | KID | p vs DCGAN (FID) | run ms / G update | seed:status@build |\n|---|---|---|---|---|---|---|---|\n");
    for r in rows {
        s += &format!(
            "| {} | {} | {} ({}) | {} ± {} | {} ± {} | {} | {} | {} |\n",
            r.model,
            r.margin.map_or("–".into(), |m| m.to_string()),
            r.runs,
            r.ok,
            fmt(r.fid_mean, 2),
            fmt(r.fid_std, 2),
            fmt(r.kid_mean, 4),
            fmt(r.kid_std, 4),
            r.p_vs_dcgan.map_or("–".into(), |p| format!("{p:.3}")),
            fmt(r.ms_per_step, 0),
            r.seeds
        );
    }
    if let Some(r) = rows.iter().find(|r| r.fid_floor.is_some()) {
        s += &format!(
            "| real vs real (floor) | – | – | {} | {} | – | – | – |\n",
            fmt(r.fid_floor, 2),
            fmt(r.kid_floor, 4)
        );
    }
    s + "\n" + note
}

/// Pixel size of the bars' labels. Below 14 px plotters' TrueType path drops almost all of a
/// "j" (DejaVu Sans' j starts left of its origin): "t5_js" read "t5_s" at the default size.
const BAR_LABEL_PX: u32 = 14;

/// Bars of mean FID (± std) per row with each seed's FID as a point.
pub(crate) fn fid_figure(
    path: &Path,
    title: &str,
    groups: &[(String, Vec<f64>)],
    floor: Option<f64>,
) -> Result<()> {
    let tmp = TempFile::beside(path)?;
    let tmp_path = tmp.path().to_path_buf();
    {
        // Wide enough for every bar's label (≈ 170 px each at BAR_LABEL_PX).
        let width = (170 * groups.len() as u32 + 100).max(800);
        let root = BitMapBackend::new(&tmp_path, (width, 450)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let top = groups
            .iter()
            .flat_map(|(_, v)| v.iter().copied())
            .chain(floor)
            .fold(1.0f64, f64::max)
            * 1.3;
        let names: Vec<String> = groups.iter().map(|g| g.0.clone()).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(-0.6f64..(groups.len() as f64 - 0.4), 0f64..top)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(groups.len().max(1))
            .x_label_style(("sans-serif", BAR_LABEL_PX))
            .x_label_formatter(&|x| {
                let i = x.round() as usize;
                if (x - x.round()).abs() < 1e-6 && i < names.len() {
                    names[i].clone()
                } else {
                    String::new()
                }
            })
            .y_desc("FID-cifar-cnn (lower is better)")
            .draw()
            .map_err(plot_err)?;
        for (i, (_, v)) in groups.iter().enumerate() {
            let x = i as f64;
            if v.is_empty() {
                // An empty slot (no run finished, or every run diverged) would read as FID 0.
                chart
                    .draw_series(std::iter::once(Text::new(
                        "no FID",
                        (x - 0.25, 0.08 * top),
                        ("sans-serif", 14),
                    )))
                    .map_err(plot_err)?;
                continue;
            }
            let m = mean(v);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x - 0.3, 0.0), (x + 0.3, m)],
                    BLUE.mix(0.35).filled(),
                )))
                .map_err(plot_err)?;
            if v.len() > 1 {
                let s = sample_std(v);
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(x, m - s), (x, m + s)],
                        BLACK.stroke_width(2),
                    )))
                    .map_err(plot_err)?;
            }
            chart
                .draw_series(v.iter().map(|f| Circle::new((x, *f), 4, BLACK.filled())))
                .map_err(plot_err)?;
        }
        if let Some(f) = floor {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(-0.6, f), (groups.len() as f64 - 0.4, f)],
                    RED.stroke_width(2),
                )))
                .map_err(plot_err)?
                .label("real vs real (floor)")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
            // In the top 10 % of the plot, which the headroom above (× 1.3) keeps free of data.
            draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        }
        root.present().map_err(plot_err)?;
    }
    tmp.commit()
}

/// Real faces and each model's seed-1 samples (the runs' samples.png) side by side, labelled.
fn samples_figure(
    path: &Path,
    real: &image::RgbImage,
    panels: &[(String, image::RgbImage)],
) -> Result<()> {
    let mut all = vec![("real faces".to_string(), real.clone())];
    all.extend(panels.iter().cloned());
    let (w, h) = (real.width(), real.height());
    let gap = 12u32;
    let label = 28u32;
    let width = all.len() as u32 * (w + gap) + gap;
    let height = h + label + gap;
    let mut buf = vec![255u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (width, height)).into_drawing_area();
        for (k, (name, _)) in all.iter().enumerate() {
            let x0 = gap + k as u32 * (w + gap);
            root.draw(&Text::new(name.clone(), (x0 as i32, 6), ("sans-serif", 18)))
                .map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
    }
    for (k, (name, img)) in all.iter().enumerate() {
        if img.dimensions() != (w, h) {
            anyhow::bail!(
                "{name}: a {:?} grid beside {w} × {h} real faces",
                img.dimensions()
            );
        }
        let x0 = gap + k as u32 * (w + gap);
        for (x, y, p) in img.enumerate_pixels() {
            let at = (((label + y) * width + x0 + x) * 3) as usize;
            buf[at..at + 3].copy_from_slice(&p.0);
        }
    }
    let out = image::RgbImage::from_raw(width, height, buf).context("figure buffer size")?;
    let tmp = TempFile::beside(path)?;
    out.save_with_format(tmp.path(), image::ImageFormat::Png)
        .with_context(|| format!("cannot write {}", path.display()))?;
    tmp.commit()
}

pub fn main(args: Args) -> Result<()> {
    let cfg = load_config(&args.paths.config)?;
    let p = cfg.profile(&args.profile, &args.paths.config)?;
    let load = |model: Model, margin: f32| -> Result<Vec<FaceFinalRow>> {
        let mut rows = Vec::new();
        for &seed in &p.seeds {
            let f =
                run_dir(&args.paths, &args.profile, &run_id(model, margin, seed)).join("final.csv");
            if f.exists() {
                rows.push(read_final(&f)?);
            }
        }
        Ok(rows)
    };
    let m0 = cfg.faces.margin;
    let dcgan = load(Model::Dcgan, m0)?;
    let dcgan_fid: Vec<f64> = dcgan.iter().filter_map(|r| r.fid).collect();
    let main_rows: Vec<FaceTableRow> = Model::ALL
        .iter()
        .map(|&m| -> Result<FaceTableRow> {
            let rows = if m == Model::Dcgan {
                dcgan.clone()
            } else {
                load(m, m0)?
            };
            Ok(summarise(
                m,
                (m != Model::Dcgan).then_some(m0),
                &rows,
                &dcgan_fid,
            ))
        })
        .collect::<Result<_>>()?;
    let mut margins = p.margins.clone();
    margins.sort_by(f32::total_cmp);
    let margin_rows: Vec<FaceTableRow> = margins
        .iter()
        .map(|&m| {
            Ok(summarise(
                Model::Ebgan,
                Some(m),
                &load(Model::Ebgan, m)?,
                &dcgan_fid,
            ))
        })
        .collect::<Result<_>>()?;
    let results = &args.paths.results;
    let base = results.join(format!("faces_{}", args.profile));
    let n = main_rows.iter().find_map(|r| r.fid_n);
    let fair = format!(
        "Fair comparison: the three models share the generator, its initialisation seed, the data order, Adam 2e-4 (β₁ 0.5) for D and G, the batch ({}) and the number of G updates ({}); they differ only in the discriminator and its loss (DCGAN: one logit; EBGAN(-PT): the autoencoder of appendix C), as in the paper's figure 5/6 comparison. Run ms / G update: the median over the row's runs of their training time per G update (one thread, a second run sharing the two cores, pauses included): a record of these runs, not a benchmark; the clean D + G step times are the `ebgan bench` rows (faces32_*, faces64_*; results/bench/). FID and KID are on the features of this project's CIFAR-10 network (FID-cifar-cnn), not Inception features, at n = {} samples against the first n faces; the floor compares the first n faces with the next n. Profile {}: {} × {} images. p: Welch's two-sided t-test of the seeds' FIDs against DCGAN's.\n",
        p.batch,
        p.g_updates,
        n.map_or("–".into(), |n| n.to_string()),
        args.profile,
        p.side,
        p.side
    );
    write_csv(&base.with_extension("csv"), &main_rows)?;
    write_atomic(
        &base.with_extension("md"),
        markdown(
            &format!("Faces ({}): DCGAN vs EBGAN vs EBGAN-PT", args.profile),
            &main_rows,
            &fair,
        )
        .as_bytes(),
    )?;
    let mbase = results.join(format!("faces_{}_margins", args.profile));
    write_csv(&mbase.with_extension("csv"), &margin_rows)?;
    write_atomic(
        &mbase.with_extension("md"),
        markdown(
            &format!("Faces ({}): EBGAN's margin", args.profile),
            &margin_rows,
            "Every margin run has the same budget and settings as the EBGAN row of the face table; only m differs. p: against DCGAN's FIDs.\n",
        )
        .as_bytes(),
    )?;
    let mut groups: Vec<(String, Vec<f64>)> = Vec::new();
    for m in Model::ALL {
        let rows = if m == Model::Dcgan {
            dcgan.clone()
        } else {
            load(m, m0)?
        };
        groups.push((m.name().into(), rows.iter().filter_map(|r| r.fid).collect()));
    }
    for &m in &margins {
        groups.push((
            format!("ebgan m={m}"),
            load(Model::Ebgan, m)?
                .iter()
                .filter_map(|r| r.fid)
                .collect(),
        ));
    }
    let floor = main_rows.iter().find_map(|r| r.fid_floor);
    fid_figure(
        &base.with_extension("png"),
        &format!(
            "Faces ({}): FID-cifar-cnn per model and EBGAN margin",
            args.profile
        ),
        &groups,
        floor,
    )?;
    // Side-by-side samples of seed 1 with real faces at the same size.
    let seed = p.seeds[0];
    let mut panels = Vec::new();
    for m in Model::ALL {
        let png = run_dir(&args.paths, &args.profile, &run_id(m, m0, seed)).join("samples.png");
        if png.exists() {
            let img = image::open(&png)
                .with_context(|| format!("{}: not a readable PNG", png.display()))?
                .to_rgb8();
            panels.push((format!("{} (seed {seed})", m.name()), img));
        }
    }
    if !panels.is_empty() {
        let faces = load_faces(&args.paths, p.side, cfg.faces.crop)?;
        let tmp = tempfile_grid(&faces, p.side)?;
        samples_figure(
            &results.join(format!("faces_{}_samples.png", args.profile)),
            &tmp,
            &panels,
        )?;
    }
    println!("{}", std::fs::read_to_string(base.with_extension("md"))?);
    Ok(())
}

/// 64 real faces (the last 64 of the folder) as a grid like the runs' samples.png.
fn tempfile_grid(faces: &crate::images::Images, side: usize) -> Result<image::RgbImage> {
    let n = faces.n;
    let x = faces.signed(n.saturating_sub(64)..n);
    let dir = std::env::temp_dir().join(format!("ebgan-grid-{}", std::process::id()));
    let path = dir.join("real.png");
    crate::images::write_grid_png(&path, &x, side, 3, 8)?;
    let img = image::open(&path)
        .with_context(|| format!("cannot read back {}", path.display()))?
        .to_rgb8();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(img)
}

#[cfg(test)]
mod tests {
    use super::BAR_LABEL_PX;
    use plotters::prelude::*;

    /// Ink (channel values below 200) of `text` drawn at `px` on a white bitmap.
    fn ink(text: &str, px: u32) -> usize {
        let mut buf = vec![255u8; 200 * 40 * 3];
        {
            let root = BitMapBackend::with_buffer(&mut buf, (200, 40)).into_drawing_area();
            root.draw_text(text, &("sans-serif", px).into_text_style(&root), (10, 10))
                .unwrap();
            root.present().unwrap();
        }
        buf.iter().filter(|&&b| b < 200).count()
    }

    /// The "j" of an arm name is drawn at the bars' label size. Measured with DejaVu Sans:
    /// "t5_js" has 36 more inked values than "t5_s" at 14 px (≥ 15 required, margin 2.4×);
    /// control: 6 at 12 px, plotters' default tick size, where the figure read "t5_s".
    #[test]
    fn bar_labels_draw_every_letter() {
        let extra = |px| ink("t5_js", px).saturating_sub(ink("t5_s", px));
        assert!(extra(BAR_LABEL_PX) >= 15, "{}", extra(BAR_LABEL_PX));
        assert!(extra(12) < 15, "control: {}", extra(12));
    }
}
