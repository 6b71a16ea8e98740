//! The grid of Table 1 and its stratified subsample.
//!
//! EBGAN: nLayerG, nLayerD ∈ {2, 3, 4, 5}, sizeG ∈ {400, 800, 1600, 3200},
//! sizeD ∈ {128, 256, 512, 1024}, dropoutD ∈ {true, false}, Adam/Adam at lr 0.001, m = 10:
//! 4·4·4·4·2 = 512 configurations. GAN: the same, with optimD, optimG ∈ {adam, sgd} and
//! lr ∈ {0.01, 0.001, 0.0001}: 512 · 12 = 6144.
//!
//! The subsample keeps every layer pair (nLayerG, nLayerD) equally represented, n/16 each —
//! in the full grid each pair has the same count, so every panel of Figure 2 (all; both ≤ 4;
//! both ≤ 3) is a proportional sample of its part of the grid. For GAN the 12
//! (optimD, optimG, lr) cells of Figure 3 are balanced too, n/12 each. The other factors are
//! drawn uniformly; no configuration repeats; the result depends only on the seed.

use crate::config::{Arch, Optim, VariantKind, D_WIDTHS, G_WIDTHS, LAYERS};
use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};
use std::collections::{HashMap, HashSet};

/// A (nLayerG, nLayerD) layer pair and an (optimD, optimG, lr) cell.
type Slot = ((usize, usize), (Optim, Optim, f32));

/// (sizeG, sizeD, dropoutD) configurations per (layer pair, cell): 4 · 4 · 2.
const CHOICES: usize = 32;

/// `n` (pair, cell) slots with n/16 of each pair, n/cells of each cell and at most
/// ⌈n / (16·cells)⌉ of each (pair, cell): q = n / (16·cells) full rounds of every
/// combination, then r = n mod (16·cells) more, slot k taking pair k mod 16 and cell
/// (k + ⌊k / lcm(16, cells)⌋) mod cells (distinct combinations for r < 16·cells), with pairs
/// and cells relabelled by random permutations and the slot order shuffled.
fn balanced_pairing(
    pairs: &[(usize, usize)],
    cells: &[(Optim, Optim, f32)],
    n: usize,
    rng: &mut StdRng,
) -> Vec<Slot> {
    let (np, nc) = (pairs.len(), cells.len());
    let mut pp = pairs.to_vec();
    let mut cc = cells.to_vec();
    pp.shuffle(rng);
    cc.shuffle(rng);
    let period = np * nc / gcd(np, nc);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n / (np * nc) {
        for p in &pp {
            for c in &cc {
                out.push((*p, *c));
            }
        }
    }
    for k in 0..n % (np * nc) {
        out.push((pp[k % np], cc[(k + k / period) % nc]));
    }
    out.shuffle(rng);
    out
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// EBGAN's margin in the grid search.
pub const GRID_MARGIN: f32 = 10.0;
/// Learning rates of the GAN grid.
pub const GAN_LRS: [f32; 3] = [0.01, 0.001, 0.0001];
/// (optimD, optimG, lr) of a GAN cell of Figure 3, in a fixed order.
pub fn gan_cells() -> Vec<(Optim, Optim, f32)> {
    let mut cells = Vec::new();
    for od in [Optim::Adam, Optim::Sgd] {
        for og in [Optim::Adam, Optim::Sgd] {
            for lr in GAN_LRS {
                cells.push((od, og, lr));
            }
        }
    }
    cells
}

fn arch(
    variant: VariantKind,
    (n_layer_g, n_layer_d): (usize, usize),
    (size_g, size_d, dropout_d): (usize, usize, bool),
    (optim_d, optim_g, lr): (Optim, Optim, f32),
) -> Arch {
    Arch {
        variant,
        n_layer_g,
        n_layer_d,
        size_g,
        size_d,
        dropout_d,
        optim_d,
        optim_g,
        lr,
        margin: if variant == VariantKind::Gan {
            0.0
        } else {
            GRID_MARGIN
        },
        pt_weight: 0.0,
        lambda_gp: 10.0,
        lambda_mi: 1.0,
    }
}

fn layer_pairs() -> Vec<(usize, usize)> {
    LAYERS
        .iter()
        .flat_map(|g| LAYERS.iter().map(move |d| (*g, *d)))
        .collect()
}

fn cells_of(variant: VariantKind) -> Vec<(Optim, Optim, f32)> {
    match variant {
        VariantKind::Gan => gan_cells(),
        _ => vec![(Optim::Adam, Optim::Adam, 0.001)],
    }
}

/// Every configuration of Table 1 for `variant` (GAN or EBGAN), in a fixed order.
pub fn table1(variant: VariantKind) -> Vec<Arch> {
    assert!(variant != VariantKind::EbganPt, "Table 1 has no EBGAN-PT");
    let mut all = Vec::new();
    for pair in layer_pairs() {
        for sg in G_WIDTHS {
            for sd in D_WIDTHS {
                for drop in [true, false] {
                    for cell in cells_of(variant) {
                        all.push(arch(variant, pair, (sg, sd, drop), cell));
                    }
                }
            }
        }
    }
    all
}

/// A stratified subsample of `n` configurations of Table 1 (see the module doc); `n` must
/// be a multiple of 16 (EBGAN) or 48 (GAN: 16 layer pairs × 12 cells / gcd).
pub fn subsample(variant: VariantKind, n: usize, seed: u64) -> Result<Vec<Arch>, String> {
    let cells = cells_of(variant);
    let pairs = layer_pairs();
    let unit = if cells.len() == 1 { 16 } else { 48 };
    let total = table1(variant).len();
    if n == 0 || !n.is_multiple_of(unit) || n > total {
        return Err(format!(
            "a stratified {} subsample needs a multiple of {unit} configurations up to {total}, not {n}",
            variant.name()
        ));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut pair_slots: Vec<(usize, usize)> = pairs
        .iter()
        .flat_map(|p| std::iter::repeat_n(*p, n / 16))
        .collect();
    let mut cell_slots: Vec<(Optim, Optim, f32)> = cells
        .iter()
        .flat_map(|c| std::iter::repeat_n(*c, n / cells.len()))
        .collect();
    pair_slots.shuffle(&mut rng);
    cell_slots.shuffle(&mut rng);
    // Each (pair, cell) has CHOICES (sizeG, sizeD, dropout) configurations. The random pairing
    // of the slots can give a (pair, cell) more slots than that when n is large (for example
    // 4,800 of the 6,144 GAN configurations); then the slots are paired in the balanced way of
    // `balanced_pairing` instead, which gives every (pair, cell) at most ⌈n / (16·cells)⌉.
    let mut count: HashMap<(usize, usize, usize), usize> = HashMap::new();
    let cell_index = |c: &(Optim, Optim, f32)| cells.iter().position(|x| x == c).unwrap();
    for (p, c) in pair_slots.iter().zip(&cell_slots) {
        *count.entry((p.0, p.1, cell_index(c))).or_default() += 1;
    }
    let slots: Vec<Slot> = if count.values().all(|&k| k <= CHOICES) {
        pair_slots.into_iter().zip(cell_slots).collect()
    } else {
        balanced_pairing(&pairs, &cells, n, &mut rng)
    };
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(n);
    for (pair, cell) in slots {
        // At most CHOICES slots per (pair, cell) (checked above), so a free choice exists.
        loop {
            let pick = (
                G_WIDTHS[rng.gen_range(0..4)],
                D_WIDTHS[rng.gen_range(0..4)],
                rng.gen_bool(0.5),
            );
            let a = arch(variant, pair, pick, cell);
            if seen.insert(a.id()) {
                out.push(a);
                break;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table1_counts_and_uniqueness() {
        let e = table1(VariantKind::Ebgan);
        let g = table1(VariantKind::Gan);
        assert_eq!(e.len(), 512);
        assert_eq!(g.len(), 6144);
        let ids: HashSet<String> = e.iter().chain(&g).map(|a| a.id()).collect();
        assert_eq!(ids.len(), 512 + 6144);
        assert!(e.iter().all(|a| a.margin == 10.0 && a.lr == 0.001));
        assert!(g.contains(&Arch::paper_best_gan()));
        assert!(e.contains(&Arch::paper_best_ebgan()));
    }

    #[test]
    fn subsample_is_deterministic_balanced_and_populates_every_panel() {
        let a = subsample(VariantKind::Gan, 96, 7).unwrap();
        assert_eq!(a, subsample(VariantKind::Gan, 96, 7).unwrap());
        assert_ne!(a, subsample(VariantKind::Gan, 96, 8).unwrap());
        let ids: HashSet<String> = a.iter().map(|x| x.id()).collect();
        assert_eq!(ids.len(), 96);
        for cell in gan_cells() {
            let k = a
                .iter()
                .filter(|x| (x.optim_d, x.optim_g, x.lr) == cell)
                .count();
            assert_eq!(k, 8, "{cell:?}");
        }
        let e = subsample(VariantKind::Ebgan, 64, 7).unwrap();
        for set in [&a, &e] {
            let n = set.len();
            let le = |m: usize| {
                set.iter()
                    .filter(|x| x.n_layer_g <= m && x.n_layer_d <= m)
                    .count()
            };
            assert_eq!((le(3), le(4), le(5)), (n / 4, n * 9 / 16, n));
        }
        assert!(subsample(VariantKind::Ebgan, 60, 1).is_err());
        assert!(subsample(VariantKind::Gan, 64, 1).is_err());
        assert_eq!(subsample(VariantKind::Ebgan, 512, 1).unwrap().len(), 512);
    }

    /// Every size the check accepts terminates with n distinct configurations, balanced per
    /// layer pair and per cell, including the edges (one unit; the whole grid; one unit
    /// short of it) and sizes where random pairing would give a (pair, cell) more slots than
    /// it has configurations (4,800 of the GAN grid never returned before).
    #[test]
    fn subsample_terminates_and_balances_at_every_accepted_size() {
        for (variant, sizes) in [
            (VariantKind::Gan, vec![48, 144, 2400, 4800, 6096, 6144]),
            (VariantKind::Ebgan, vec![16, 256, 496, 512]),
        ] {
            let cells = cells_of(variant);
            for n in sizes {
                let a = subsample(variant, n, 3).unwrap();
                let ids: HashSet<String> = a.iter().map(|x| x.id()).collect();
                assert_eq!(ids.len(), n, "{variant:?} {n}: distinct");
                for pair in layer_pairs() {
                    let k = a
                        .iter()
                        .filter(|x| (x.n_layer_g, x.n_layer_d) == pair)
                        .count();
                    assert_eq!(k, n / 16, "{variant:?} {n} {pair:?}");
                }
                for cell in &cells {
                    let k = a
                        .iter()
                        .filter(|x| (x.optim_d, x.optim_g, x.lr) == *cell)
                        .count();
                    assert_eq!(k, n / cells.len(), "{variant:?} {n} {cell:?}");
                }
            }
        }
        assert!(subsample(VariantKind::Gan, 6192, 1).is_err());
    }
}
