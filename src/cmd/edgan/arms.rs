//! The arms of the EDGAN experiments: each row of the paper's tables as one configuration,
//! derived from the two base protocols of `configs/edgan.toml` by changing only what the row
//! is about (spec conv-gans-edgan.md, "Ablations and peers"):
//!
//! - **Table 1** (the figure-2 DCGAN base, GAN losses): DCGAN, SN_in_P, R311, both; at batch
//!   128 and 64.
//! - **Table 3** (EDGAN base): λ of ρ over the profile's `lambdas`.
//! - **Table 4** (a reduced set, this project's choice: each row flips one of EDGAN's choices
//!   back, so every row is a paired comparison with EDGAN itself): learning rates
//!   (2e-4, 2e-4) instead of (1e-4, 4e-4); D:G 1:1 instead of 2:1; N(0, 0.02²) instead of
//!   orthogonal initialisation for both; Adam instead of OAdam for both (β unchanged).
//! - **Table 5**: no penalty (λ = 0: OptimizedDCGAN with GAN losses), EDGAN, a JS-divergence
//!   penalty on G instead of ρ (same λ), and the bi-penalty: EDGAN plus WGAN-GP's penalty on D
//!   (λ_GP = 10), which needs the critic D (no batch norm, no SN_in_P) — compared with EDGAN
//!   on the same critic without the penalty (`t5_critic`), so that pair differs only in it.
//! - **Table 6** (equal budgets: the same G, D trunk, optimisers, learning rates, D:G ratio and
//!   updates as EDGAN; only the method differs): EDGAN, LSGAN (least-squares losses), SNGAN
//!   (GAN losses, spectral norm on every D layer and no batch norm), WGAN-GP and GAN-0GP (on the
//!   critic D, λ = 10; WGAN-GP's own protocol — 5 critic steps, Adam (0, 0.9) — is not used:
//!   the budgets are EDGAN's), and SAGAN (hinge losses; R311's G and SNGAN's D, each with the
//!   self-attention block at 16 × 16 — `gan_variants::nets::edgan::SaganGenerator`, `SaganD`;
//!   SAGAN's TTUR learning rates and Adam (0, 0.9) are not used, the budgets are EDGAN's).
//!
//! An arm used by several tables (EDGAN at λ = 1) is one set of runs.

use super::{EdganFile, EdganProfile};
use gan_variants::config::{GPenalty, Optim, WeightInit};
use gan_variants::{ImageGanConfig, VariantKind};

/// One configuration and the tables it appears in.
#[derive(Clone, Debug, PartialEq)]
pub struct Arm {
    /// Folder-name stem, e.g. `edgan_l1`, `t1_both_b64`.
    pub name: String,
    /// Row label per table it appears in.
    pub rows: Vec<(u8, String)>,
    pub config: ImageGanConfig,
    pub seeds: Vec<u64>,
}

/// The folder name of (arm, seed).
pub fn run_id(arm: &str, seed: u64) -> String {
    format!("{arm}_s{seed}")
}

/// The stem of EDGAN at weight `lambda`.
pub fn edgan_name(lambda: f32) -> String {
    format!("edgan_l{lambda}")
}

/// Table 6's peers not built yet, with the paper's FID (its Table 6): none since SAGAN was
/// built; kept so that the table can list a future peer.
pub const NOT_BUILT: [(&str, f64); 0] = [];

/// The paper's Table 6 FIDs (Inception features; not comparable to FID-cifar-cnn, only the
/// ordering is) of the arms built here.
pub fn paper_fid(arm: &str) -> Option<f64> {
    match arm {
        "edgan_l1" => Some(14.02),
        "lsgan" => Some(21.64),
        "sngan" => Some(20.70),
        "wgan-gp" => Some(21.89),
        "gan-0gp" => Some(16.19),
        "sagan" => Some(35.18),
        _ => None,
    }
}

/// Every arm of the profile's tables, Table 6's first; seeds: the profile's `seeds` for arms
/// in Table 6, `ablation_seeds` for the others.
pub fn arms(file: &EdganFile, p: &EdganProfile) -> Vec<Arm> {
    let sized = |base: &ImageGanConfig| {
        let mut c = base.clone();
        c.train.g_updates = p.g_updates;
        c
    };
    let batch = |c: &mut ImageGanConfig, b: usize| c.train.batch = p.batch.unwrap_or(b);
    let edgan = |lambda: f32| {
        let mut c = sized(&file.edgan);
        c.arch.lambda_ced = lambda;
        batch(&mut c, file.edgan.train.batch);
        c
    };
    let mut out: Vec<Arm> = Vec::new();
    let mut add = |name: String, table: u8, row: &str, config: ImageGanConfig| {
        if let Some(a) = out.iter_mut().find(|a| a.name == name) {
            a.rows.push((table, row.to_string()));
        } else {
            out.push(Arm {
                name,
                rows: vec![(table, row.to_string())],
                config,
                seeds: Vec::new(),
            });
        }
    };
    let on = |t: u8| p.tables.contains(&t);
    let reference = edgan_name(file.edgan.arch.lambda_ced);
    let ref_lambda = file.edgan.arch.lambda_ced;
    if on(6) {
        add(reference.clone(), 6, "EDGAN", edgan(ref_lambda));
        let mut ls = edgan(ref_lambda);
        ls.arch.variant = VariantKind::Lsgan;
        add("lsgan".into(), 6, "LSGAN", ls);
        let mut sn = edgan(ref_lambda);
        sn.arch.variant = VariantKind::Gan;
        sn.arch.sn_in_p = false;
        sn.arch.sn_all = true;
        add("sngan".into(), 6, "SNGAN", sn);
        for (name, row, v) in [
            ("wgan-gp", "WGAN-GP", VariantKind::WganGp),
            ("gan-0gp", "GAN-0GP", VariantKind::Gan0Gp),
        ] {
            let mut c = edgan(ref_lambda);
            c.arch.variant = v;
            (c.arch.sn_in_p, c.arch.critic, c.arch.lambda_gp) = (false, true, 10.0);
            add(name.into(), 6, row, c);
        }
        let mut sa = edgan(ref_lambda);
        sa.arch.variant = VariantKind::Hinge;
        (sa.arch.sn_in_p, sa.arch.sn_all, sa.arch.attention) = (false, true, true);
        add("sagan".into(), 6, "SAGAN", sa);
    }
    if on(5) {
        let mut none = edgan(ref_lambda);
        none.arch.variant = VariantKind::Gan;
        add(
            "t5_none".into(),
            5,
            "no penalty (OptimizedDCGAN, GAN losses)",
            none,
        );
        add(reference.clone(), 5, "EDGAN (ρ on G)", edgan(ref_lambda));
        let mut js = edgan(ref_lambda);
        js.arch.g_penalty = GPenalty::Js;
        add("t5_js".into(), 5, "JS-divergence penalty on G", js);
        // The bi-penalty needs the critic D; its matched reference is EDGAN on that critic,
        // so that the pair differs only in D's penalty.
        let mut critic = edgan(ref_lambda);
        (critic.arch.sn_in_p, critic.arch.critic) = (false, true);
        add(
            "t5_critic".into(),
            5,
            "EDGAN on the critic D (no batch norm, no SN_in_P): the bi-penalty's reference",
            critic.clone(),
        );
        critic.arch.lambda_gp = 10.0;
        add(
            "t5_bi".into(),
            5,
            "bi-penalty (ρ on G, WGAN-GP's penalty on the critic D)",
            critic,
        );
    }
    if on(1) {
        for b in [128, 64] {
            for (stem, row, r311, sn) in [
                ("dcgan", "DCGAN (figure 2)", false, false),
                ("sn", "SN_in_P", false, true),
                ("r311", "R311", true, false),
                ("both", "SN_in_P + R311", true, true),
            ] {
                let mut c = sized(&file.dcgan);
                c.arch.r311 = r311;
                c.arch.sn_in_p = sn;
                batch(&mut c, b);
                add(
                    format!("t1_{stem}_b{b}"),
                    1,
                    &format!("{row}, batch {b}"),
                    c,
                );
            }
        }
    }
    if on(3) {
        for &l in &p.lambdas {
            add(edgan_name(l), 3, &format!("λ = {l}"), edgan(l));
        }
    }
    if on(4) {
        add(
            reference.clone(),
            4,
            "EDGAN (lr 1e-4 / 4e-4, D:G 2:1, orth/orth, OAdam)",
            edgan(ref_lambda),
        );
        let mut lr = edgan(ref_lambda);
        (lr.arch.lr_d, lr.arch.lr_g) = (2e-4, 2e-4);
        add("t4_lr2e-4".into(), 4, "lr_D = lr_G = 2e-4", lr);
        let mut k = edgan(ref_lambda);
        k.train.d_steps = 1;
        add("t4_dg1".into(), 4, "D:G 1:1", k);
        let mut init = edgan(ref_lambda);
        (init.arch.init_d, init.arch.init_g) = (WeightInit::Normal, WeightInit::Normal);
        add(
            "t4_init_normal".into(),
            4,
            "N(0, 0.02²) / N(0, 0.02²) initialisation",
            init,
        );
        let mut adam = edgan(ref_lambda);
        (adam.arch.optim_d, adam.arch.optim_g) = (Optim::Adam, Optim::Adam);
        add("t4_adam".into(), 4, "Adam / Adam (β = 0.5, 0.9)", adam);
    }
    for a in &mut out {
        // Table 6's seeds for its arms, the ablation seeds for the ablation rows: EDGAN, in
        // both, runs the union (so an ablation seed outside Table 6's still has its reference).
        let in6 = a.rows.iter().any(|(t, _)| *t == 6);
        let in_ablation = a.rows.iter().any(|(t, _)| *t != 6);
        let mut seeds: Vec<u64> = if in6 { p.seeds.clone() } else { Vec::new() };
        if in_ablation {
            for &s in &p.ablation_seeds {
                if !seeds.contains(&s) {
                    seeds.push(s);
                }
            }
        }
        a.seeds = seeds;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The leaf keys (dotted) where two configurations differ.
    fn diff(a: &ImageGanConfig, b: &ImageGanConfig) -> Vec<String> {
        fn walk(prefix: &str, a: &toml::Value, b: &toml::Value, out: &mut Vec<String>) {
            match (a, b) {
                (toml::Value::Table(x), toml::Value::Table(y)) => {
                    for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                        match (x.get(k), y.get(k)) {
                            (Some(va), Some(vb)) => walk(&format!("{prefix}{k}."), va, vb, out),
                            _ => out.push(format!("{prefix}{k}")),
                        }
                    }
                }
                _ if a != b => out.push(prefix.trim_end_matches('.').to_string()),
                _ => {}
            }
        }
        let v = |c: &ImageGanConfig| toml::Value::try_from(c).unwrap();
        let mut out = Vec::new();
        walk("", &v(a), &v(b), &mut out);
        out.sort();
        out
    }

    /// Each arm differs from its table's reference in exactly what its row is about: Table 6's
    /// peers only in the method (equal budgets), Table 4's rows in one choice each, Table 5's in
    /// G's penalty, Table 3's in λ, Table 1's in its switches and batch. Control: the diff sees
    /// a changed learning rate.
    #[test]
    fn every_arm_changes_only_its_row() {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/edgan.toml"),
        )
        .unwrap();
        let file: EdganFile = toml::from_str(&text).unwrap();
        let p = file.profiles["quick"].clone();
        let all = arms(&file, &p);
        let get = |n: &str| &all.iter().find(|a| a.name == n).unwrap().config;
        let e = get("edgan_l1");
        let cases: [(&str, &[&str]); 14] = [
            ("lsgan", &["arch.variant"]),
            (
                "wgan-gp",
                &[
                    "arch.critic",
                    "arch.lambda_gp",
                    "arch.sn_in_p",
                    "arch.variant",
                ],
            ),
            (
                "gan-0gp",
                &[
                    "arch.critic",
                    "arch.lambda_gp",
                    "arch.sn_in_p",
                    "arch.variant",
                ],
            ),
            ("t5_critic", &["arch.critic", "arch.sn_in_p"]),
            ("t5_bi", &["arch.critic", "arch.lambda_gp", "arch.sn_in_p"]),
            ("sngan", &["arch.sn_all", "arch.sn_in_p", "arch.variant"]),
            (
                "sagan",
                &[
                    "arch.attention",
                    "arch.sn_all",
                    "arch.sn_in_p",
                    "arch.variant",
                ],
            ),
            ("t5_none", &["arch.variant"]),
            ("t5_js", &["arch.g_penalty"]),
            ("edgan_l5", &["arch.lambda_ced"]),
            ("t4_lr2e-4", &["arch.lr_d", "arch.lr_g"]),
            ("t4_dg1", &["train.d_steps"]),
            ("t4_init_normal", &["arch.init_d", "arch.init_g"]),
            ("t4_adam", &["arch.optim_d", "arch.optim_g"]),
        ];
        for (arm, keys) in cases {
            assert_eq!(diff(e, get(arm)), keys.to_vec(), "{arm}");
        }
        assert_eq!(
            diff(get("t1_dcgan_b128"), get("t1_both_b64")),
            ["arch.r311", "arch.sn_in_p", "train.batch"]
        );
        assert_eq!(diff(get("t5_critic"), get("t5_bi")), ["arch.lambda_gp"]);
        assert_eq!(e.train.g_updates, p.g_updates);
        // Seeds: Table 6's arms get the profile's seeds, the others the ablation seeds.
        assert_eq!(all[0].seeds, p.seeds);
        assert_eq!(
            all.iter().find(|a| a.name == "t4_dg1").unwrap().seeds,
            p.ablation_seeds
        );
        // An ablation seed outside Table 6's: EDGAN (the ablations' reference) runs it too,
        // a Table 6 peer does not (control: before, EDGAN had only Table 6's seeds).
        let mut q = p.clone();
        q.ablation_seeds = vec![1, 7];
        let other = arms(&file, &q);
        let mut want = p.seeds.clone();
        want.push(7);
        assert_eq!(other[0].seeds, want);
        assert_eq!(
            other.iter().find(|a| a.name == "lsgan").unwrap().seeds,
            p.seeds
        );
        assert_eq!(
            other.iter().find(|a| a.name == "t4_dg1").unwrap().seeds,
            [1, 7]
        );
        // Arms are unique; EDGAN at λ = 1 serves Tables 6, 5, 3 and 4.
        let mut names: Vec<&str> = all.iter().map(|a| a.name.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all.len());
        let tables: Vec<u8> = all[0].rows.iter().map(|r| r.0).collect();
        assert_eq!(tables, [6, 5, 3, 4]);
        // Control.
        let mut lr = e.clone();
        lr.arch.lr_g = 1e-3;
        assert_eq!(diff(e, &lr), ["arch.lr_g"]);
    }
}
