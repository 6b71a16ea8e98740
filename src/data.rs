//! MNIST from IDX files (raw or `.gz`), checked against the published SHA-256 of the
//! uncompressed bytes, and the class-balanced labeled subsets of the spec.
//!
//! The folder comes from `--data-dir`, then `$MNIST_DIR`, then `data/mnist`.

use anyhow::{bail, Context, Result};
use rand::rngs::StdRng;
use rand::{seq::SliceRandom, SeedableRng};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Pixels per image.
pub const PIXELS: usize = 784;

/// SHA-256 of the four uncompressed MNIST files (`../shared/data/mnist/SHA256SUMS.uncompressed`).
pub const MNIST_FILES: [(&str, &str); 4] = [
    (
        "train-images-idx3-ubyte",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    (
        "train-labels-idx1-ubyte",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    (
        "t10k-images-idx3-ubyte",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    (
        "t10k-labels-idx1-ubyte",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
];

/// SHA-256 of the four uncompressed Fashion-MNIST files (Xiao et al. 2017) as the Debian
/// package `dataset-fashion-mnist` (0.0~git20200523.55506a9-1) installs them under
/// /usr/share/datasets/fashion-mnist; their content has the published statistics (6,000
/// training images per class, mean pixel 0.2860; tested).
pub const FASHION_MNIST_FILES: [(&str, &str); 4] = [
    (
        "train-images-idx3-ubyte",
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    ),
    (
        "train-labels-idx1-ubyte",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    ),
    (
        "t10k-images-idx3-ubyte",
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ),
    (
        "t10k-labels-idx1-ubyte",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ),
];

/// Where Debian's `dataset-fashion-mnist` puts the files (the default folder).
pub const FASHION_MNIST_DEFAULT_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// A data set in MNIST's four-file IDX layout.
#[derive(Clone, Copy, Debug)]
pub struct IdxSet {
    pub name: &'static str,
    pub files: [(&'static str, &'static str); 4],
    /// What to do when a file is missing.
    pub how: &'static str,
}

/// MNIST.
pub const MNIST: IdxSet = IdxSet {
    name: "MNIST",
    files: MNIST_FILES,
    how: HOW_TO_GET,
};

/// Fashion-MNIST.
pub const FASHION_MNIST: IdxSet = IdxSet {
    name: "Fashion-MNIST",
    files: FASHION_MNIST_FILES,
    how: "install the Debian package dataset-fashion-mnist (files in /usr/share/datasets/fashion-mnist), or point FASHION_MNIST_DIR at a folder with its four IDX files (raw or .gz)",
};

const HOW_TO_GET: &str =
    "put the four MNIST IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, \
t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; raw or .gz) in that folder, or point --data-dir / \
MNIST_DIR at a folder that has them (`make data MNIST_DIR=...` links them into data/mnist)";

/// One split: images as f32 in [0, 1] (x = byte / 255), row-major, and labels 0..=9.
#[derive(Clone, Debug)]
pub struct Split {
    pub images: Vec<f32>,
    pub labels: Vec<u8>,
}

impl Split {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    pub fn image(&self, i: usize) -> &[f32] {
        &self.images[i * PIXELS..(i + 1) * PIXELS]
    }
    /// A copy of images `range`.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Split {
        Split {
            images: self.images[range.start * PIXELS..range.end * PIXELS].to_vec(),
            labels: self.labels[range].to_vec(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Mnist {
    pub train: Split,
    pub test: Split,
}

/// The data folder: `flag`, else `$MNIST_DIR`, else `data/mnist`.
pub fn resolve_dir(flag: Option<&Path>) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| std::env::var_os("MNIST_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("data/mnist"))
}

/// A parsed IDX file: its dimensions and its bytes.
#[derive(Debug, PartialEq)]
pub struct Idx {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Parses an IDX file of unsigned bytes (type code 0x08). Errors say what is wrong.
pub fn parse_idx(bytes: &[u8]) -> Result<Idx> {
    if bytes.len() < 4 {
        bail!("too short for an IDX header ({} bytes)", bytes.len());
    }
    if bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 {
        bail!(
            "bad magic number {:02x}{:02x}{:02x}{:02x}: not an IDX file of unsigned bytes (expected 0000 08 followed by the rank)",
            bytes[0], bytes[1], bytes[2], bytes[3]
        );
    }
    let rank = bytes[3] as usize;
    if rank == 0 || bytes.len() < 4 + 4 * rank {
        bail!(
            "truncated header: rank {rank} needs {} bytes, the file has {}",
            4 + 4 * rank,
            bytes.len()
        );
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| {
            u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize
        })
        .collect();
    let want = dims
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .with_context(|| {
            format!("the header promises {dims:?} values: more than memory can hold")
        })?;
    let data = &bytes[4 + 4 * rank..];
    if data.len() < want {
        bail!(
            "truncated: the header promises {dims:?} = {want} values, the file holds {}",
            data.len()
        );
    }
    if data.len() > want {
        bail!(
            "{} bytes beyond the {want} values that the header {dims:?} promises",
            data.len() - want
        );
    }
    Ok(Idx {
        dims,
        data: data.to_vec(),
    })
}

/// Reads `<dir>/<name>.gz` or `<dir>/<name>`, decompressing if needed. A `.gz` file may hold
/// several gzip members (RFC 1952 allows it; `cat a.gz b.gz` makes one): all are read.
fn read_maybe_gz(dir: &Path, name: &str, set: &IdxSet) -> Result<(PathBuf, Vec<u8>)> {
    let gz = dir.join(format!("{name}.gz"));
    let raw = dir.join(name);
    if gz.exists() {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(
            std::fs::File::open(&gz).with_context(|| format!("cannot open {}", gz.display()))?,
        )
        .read_to_end(&mut out)
        .with_context(|| {
            format!(
                "{}: corrupt or truncated gzip data; copy the file again",
                gz.display()
            )
        })?;
        Ok((gz, out))
    } else if raw.exists() {
        let bytes =
            std::fs::read(&raw).with_context(|| format!("cannot read {}", raw.display()))?;
        Ok((raw, bytes))
    } else {
        bail!(
            "{} file {name} (or {name}.gz) not found in {}: {}",
            set.name,
            dir.display(),
            set.how
        )
    }
}

/// Reads one MNIST file, checks its SHA-256, its magic number and its dimensions.
fn load_file(dir: &Path, set: &IdxSet, k: usize, dims: &[usize]) -> Result<Vec<u8>> {
    let (name, sha) = set.files[k];
    let (path, bytes) = read_maybe_gz(dir, name, set)?;
    let idx = parse_idx(&bytes).with_context(|| {
        format!(
            "{}: not a valid {} IDX file; copy it again",
            path.display(),
            set.name
        )
    })?;
    if idx.dims != dims {
        bail!(
            "{}: dimensions {:?}, expected {dims:?} (count mismatch); copy the file again",
            path.display(),
            idx.dims
        );
    }
    let digest = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    if digest != sha {
        bail!(
            "{}: the uncompressed content has SHA-256 {digest}, not the published {sha}; the file is corrupt or not the original {}: copy it again",
            path.display(),
            set.name
        );
    }
    Ok(idx.data)
}

/// Loads and verifies the four MNIST files from `dir`.
pub fn load_mnist(dir: &Path) -> Result<Mnist> {
    load_idx_set(dir, &MNIST)
}

/// Loads and verifies the four files of an MNIST-layout set (60,000 + 10,000 images of
/// 28 × 28) from `dir`.
pub fn load_idx_set(dir: &Path, set: &IdxSet) -> Result<Mnist> {
    if !dir.is_dir() {
        bail!(
            "{} folder {} does not exist: {}",
            set.name,
            dir.display(),
            set.how
        );
    }
    let to_f32 = |b: Vec<u8>| b.into_iter().map(|v| v as f32 / 255.0).collect();
    Ok(Mnist {
        train: Split {
            images: to_f32(load_file(dir, set, 0, &[60_000, 28, 28])?),
            labels: load_file(dir, set, 1, &[60_000])?,
        },
        test: Split {
            images: to_f32(load_file(dir, set, 2, &[10_000, 28, 28])?),
            labels: load_file(dir, set, 3, &[10_000])?,
        },
    })
}

/// The labeled subset of `n` examples (spec: Data): n/10 per class, the first n/10 of each class
/// in a permutation of the training set drawn from `seed`. Returns training indices, sorted.
pub fn labeled_subset(labels: &[u8], n: usize, seed: u64) -> Result<Vec<usize>> {
    if n == 0 || !n.is_multiple_of(10) {
        bail!("the number of labels must be a positive multiple of 10 (n/10 per class), not {n}");
    }
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    let mut taken = [0usize; 10];
    let mut out = Vec::with_capacity(n);
    for i in order {
        let c = labels[i] as usize;
        if taken[c] < n / 10 {
            taken[c] += 1;
            out.push(i);
        }
    }
    if out.len() != n {
        bail!("the training set has too few examples of some class for {n} labels");
    }
    out.sort_unstable();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn parses_a_small_file() {
        let f = parse_idx(&idx(&[2, 3], &[1, 2, 3, 4, 5, 6])).unwrap();
        assert_eq!(
            f,
            Idx {
                dims: vec![2, 3],
                data: vec![1, 2, 3, 4, 5, 6]
            }
        );
    }

    #[test]
    fn rejects_truncated_data_bad_magic_and_extra_bytes() {
        let e = parse_idx(&idx(&[2, 3], &[1, 2, 3]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("truncated"), "{e}");
        let mut bad = idx(&[2], &[1, 2]);
        bad[2] = 0x0d; // float type code
        assert!(parse_idx(&bad)
            .unwrap_err()
            .to_string()
            .contains("bad magic"));
        assert!(parse_idx(&[0, 0])
            .unwrap_err()
            .to_string()
            .contains("too short"));
        assert!(parse_idx(&[0, 0, 8, 3, 0, 0])
            .unwrap_err()
            .to_string()
            .contains("truncated header"));
        assert!(parse_idx(&idx(&[2], &[1, 2, 3]))
            .unwrap_err()
            .to_string()
            .contains("beyond"));
    }

    #[test]
    fn labeled_subset_is_balanced_and_seeded() {
        let labels: Vec<u8> = (0..5000).map(|i| ((i * 7 + i / 13) % 10) as u8).collect();
        for n in [100, 200, 1000] {
            let a = labeled_subset(&labels, n, 3).unwrap();
            assert_eq!(a.len(), n);
            let mut count = [0; 10];
            a.iter().for_each(|&i| count[labels[i] as usize] += 1);
            assert_eq!(count, [n / 10; 10]);
            assert_eq!(a, labeled_subset(&labels, n, 3).unwrap());
            assert_ne!(a, labeled_subset(&labels, n, 4).unwrap());
        }
        assert!(labeled_subset(&labels, 105, 1).is_err());
    }
}
