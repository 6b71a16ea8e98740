//! `ebgan gan list --profile P --set S`: the configuration ids of a set, one per line, for
//! make, GNU parallel or a Slurm array:
//! - `grid`: the profile's stratified subsample of Table 1, EBGAN then GAN (all of it when the
//!   profile asks for 512 / 6144);
//! - `margins`: Figure 9's margin sweep, m ∈ {1, 2, 4, 6, 8, 12, 16, 32};
//! - `named`: the paper's best GAN, EBGAN and EBGAN-PT (Figure 4);
//! - `best`: the best GAN and the best EBGAN of the finished grid runs (highest I'), and that
//!   EBGAN with the pulling-away term (weight 0.1) as the best EBGAN-PT: rerun with samples and
//!   the Parzen estimate into `results/gans_best/<profile>/` (`make best`).

use super::run::GanFinalRow;
use super::{load_profile, Paths};
use anyhow::Result;
use gan_variants::grid::{subsample, table1};
use gan_variants::{Arch, VariantKind};
use std::collections::BTreeMap;

/// Figure 9's margins.
pub const MARGINS: [f32; 8] = [1.0, 2.0, 4.0, 6.0, 8.0, 12.0, 16.0, 32.0];

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Set {
    Grid,
    Margins,
    Named,
    Best,
}

/// The best GAN and EBGAN among `runs` of the grid, and the EBGAN-PT of that EBGAN.
pub fn best(grid: &[String], runs: &BTreeMap<String, GanFinalRow>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for v in [VariantKind::Gan, VariantKind::Ebgan] {
        let best = grid
            .iter()
            .filter_map(|id| runs.get(id))
            .filter(|r| r.variant == v.name())
            .filter_map(|r| r.i_prime.map(|ip| (ip, &r.id)))
            .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(a.1)));
        let Some((_, id)) = best else {
            anyhow::bail!(
                "no finished {} grid run yet: run `make grid` first",
                v.name()
            )
        };
        out.push(id.clone());
        if v == VariantKind::Ebgan {
            let a = Arch::from_id(id).map_err(anyhow::Error::msg)?;
            out.push(
                Arch {
                    variant: VariantKind::EbganPt,
                    pt_weight: 0.1,
                    ..a
                }
                .id(),
            );
        }
    }
    Ok(out)
}

/// The ids of `set` under a profile with the given subsample sizes (not `best`).
pub fn ids(set: Set, ebgan: usize, gan: usize, seed: u64) -> Result<Vec<String>> {
    let pick = |v: VariantKind, n: usize| -> Result<Vec<Arch>> {
        if n == table1(v).len() {
            Ok(table1(v))
        } else {
            subsample(v, n, seed).map_err(anyhow::Error::msg)
        }
    };
    Ok(match set {
        Set::Grid => pick(VariantKind::Ebgan, ebgan)?
            .into_iter()
            .chain(pick(VariantKind::Gan, gan)?)
            .map(|a| a.id())
            .collect(),
        Set::Margins => MARGINS
            .iter()
            .map(|m| Arch::margin_sweep(*m).id())
            .collect(),
        Set::Named => [
            Arch::paper_best_gan(),
            Arch::paper_best_ebgan(),
            Arch::paper_best_ebgan_pt(),
        ]
        .iter()
        .map(Arch::id)
        .collect(),
        Set::Best => anyhow::bail!("the best set depends on the finished runs (see `best`)"),
    })
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Profile of configs/gans.toml: paper, quick or smoke.
    #[arg(long, default_value = "quick")]
    pub profile: String,
    /// Which configurations to list.
    #[arg(long, value_enum)]
    pub set: Set,
    #[command(flatten)]
    pub paths: Paths,
}

pub fn main(args: Args) -> Result<()> {
    let (_, p) = load_profile(&args.paths.configs, &args.profile)?;
    let list = match args.set {
        Set::Best => {
            let grid = ids(Set::Grid, p.ebgan_configs, p.gan_configs, p.subsample_seed)?;
            best(
                &grid,
                &super::figures::finished_runs(&args.paths, &args.profile)?,
            )?
        }
        set => ids(set, p.ebgan_configs, p.gan_configs, p.subsample_seed)?,
    };
    for id in list {
        println!("{id}");
    }
    Ok(())
}
