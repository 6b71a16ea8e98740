//! Image data for the image GANs (spec conv-gans-edgan.md, "Data for the image experiments"):
//! the CIFAR-10 binary training batches, any folder of JPEG/PNG images (CelebA faces, or an
//! LSUN / ImageNet folder a user points at), and MNIST padded to 32 × 32. Images are bytes in
//! NHWC order (row-major pixels, channels together); [`Images::signed`] gives the models'
//! pixels in [−1, 1]. Every file is checked; a bad one is one error naming it.
//!
//! A decoded and resized set is cached as one flat file (`<cache>/<key>.imgs`: a header, the
//! bytes and their SHA-256), so later runs do not decode the JPEGs again; a cache file whose
//! checksum or header does not match is ignored and rebuilt, never trusted.

use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// A set of square images as bytes, NHWC.
#[derive(Clone, Debug, PartialEq)]
pub struct Images {
    pub n: usize,
    pub side: usize,
    pub channels: usize,
    /// n · side · side · channels bytes.
    pub pixels: Vec<u8>,
    /// Class of each image, when the set has labels.
    pub labels: Option<Vec<u8>>,
}

impl Images {
    /// Bytes per image.
    pub fn len_of_one(&self) -> usize {
        self.side * self.side * self.channels
    }

    /// Image `i`, side · side · channels bytes.
    pub fn image(&self, i: usize) -> &[u8] {
        let k = self.len_of_one();
        &self.pixels[i * k..(i + 1) * k]
    }

    /// Images `range` as the models' pixels: v / 127.5 − 1, in [−1, 1].
    pub fn signed(&self, range: std::ops::Range<usize>) -> Vec<f32> {
        let k = self.len_of_one();
        self.pixels[range.start * k..range.end * k]
            .iter()
            .map(|&v| v as f32 / 127.5 - 1.0)
            .collect()
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The five CIFAR-10 training batches and the SHA-256 of each decompressed file (the
/// published checksums of the official binary release).
pub const CIFAR_FILES: [(&str, &str); 5] = [
    (
        "data_batch_1.bin",
        "cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5",
    ),
    (
        "data_batch_2.bin",
        "a591ca11fa1708a91ee40f54b3da4784ccd871ecf2137de63f51ada8b3fa57ed",
    ),
    (
        "data_batch_3.bin",
        "bbe8596564c0f86427f876058170b84dac6670ddf06d79402899d93ceea26f67",
    ),
    (
        "data_batch_4.bin",
        "014e562d6e23c72197cc727519169a60359f5eccd8945ad5a09d710285ff4e48",
    ),
    (
        "data_batch_5.bin",
        "755304fc0b379caeae8c14f0dac912fbc7d6cd469eb67a1029a08a39453a9add",
    ),
];

/// Records per batch and bytes per record (1 label, then 1,024 red, green, blue bytes).
const CIFAR_RECORDS: usize = 10_000;
const CIFAR_RECORD: usize = 1 + 3 * 1024;

const CIFAR_HOW: &str = "put the CIFAR-10 binary training batches (data_batch_1.bin … data_batch_5.bin, raw or .xz) in that folder, or point --cifar-dir / CIFAR_DIR at a folder that has them";

/// Reads `<dir>/<name>` or `<dir>/<name>.xz`, decompressing if needed.
fn read_maybe_xz(dir: &Path, name: &str) -> Result<(PathBuf, Vec<u8>)> {
    let raw = dir.join(name);
    let xz = dir.join(format!("{name}.xz"));
    if raw.exists() {
        let b = std::fs::read(&raw).with_context(|| format!("cannot read {}", raw.display()))?;
        Ok((raw, b))
    } else if xz.exists() {
        let f =
            std::fs::File::open(&xz).with_context(|| format!("cannot open {}", xz.display()))?;
        let mut out = Vec::new();
        xz2::read::XzDecoder::new_multi_decoder(f)
            .read_to_end(&mut out)
            .with_context(|| {
                format!(
                    "{}: corrupt or truncated xz data; copy the file again",
                    xz.display()
                )
            })?;
        Ok((xz, out))
    } else {
        bail!(
            "CIFAR-10 file {name} (or {name}.xz) not found in {}: {CIFAR_HOW}",
            dir.display()
        )
    }
}

/// The 50,000 CIFAR-10 training images (32 × 32 × 3) with their labels, each batch's size
/// and SHA-256 checked.
pub fn load_cifar10(dir: &Path) -> Result<Images> {
    if !dir.is_dir() {
        bail!(
            "CIFAR-10 folder {} does not exist: {CIFAR_HOW}",
            dir.display()
        );
    }
    let mut pixels = Vec::with_capacity(5 * CIFAR_RECORDS * 3072);
    let mut labels = Vec::with_capacity(5 * CIFAR_RECORDS);
    for (name, sha) in CIFAR_FILES {
        let (path, bytes) = read_maybe_xz(dir, name)?;
        if bytes.len() != CIFAR_RECORDS * CIFAR_RECORD {
            bail!(
                "{}: {} bytes, expected {} (10,000 records of 3,073); copy the file again",
                path.display(),
                bytes.len(),
                CIFAR_RECORDS * CIFAR_RECORD
            );
        }
        let digest = sha256_hex(&bytes);
        if digest != sha {
            bail!(
                "{}: the content has SHA-256 {digest}, not the published {sha}; the file is corrupt or not the original: copy it again",
                path.display()
            );
        }
        for rec in bytes.chunks_exact(CIFAR_RECORD) {
            if rec[0] > 9 {
                bail!("{}: label {} is not a class 0–9", path.display(), rec[0]);
            }
            labels.push(rec[0]);
            let planes = &rec[1..];
            for i in 0..1024 {
                pixels.extend_from_slice(&[planes[i], planes[1024 + i], planes[2048 + i]]);
            }
        }
    }
    Ok(Images {
        n: labels.len(),
        side: 32,
        channels: 3,
        pixels,
        labels: Some(labels),
    })
}

/// MNIST images (28 × 28 in [0, 1]) padded with black to 32 × 32, one channel, as bytes.
pub fn mnist_padded(split: &crate::data::Split) -> Images {
    let n = split.len();
    let mut pixels = vec![0u8; n * 32 * 32];
    for i in 0..n {
        let img = split.image(i);
        for y in 0..28 {
            for x in 0..28 {
                pixels[i * 1024 + (y + 2) * 32 + x + 2] = (img[y * 28 + x] * 255.0).round() as u8;
            }
        }
    }
    Images {
        n,
        side: 32,
        channels: 1,
        pixels,
        labels: Some(split.labels.clone()),
    }
}

/// How a folder's images are brought to `side` × `side`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FolderPrep {
    /// Output side (64 or 32 for the face models).
    pub side: u32,
    /// Side of the centred square cut before resizing, in source pixels; None: the largest
    /// centred square. For the half-resolution CelebA copy (89 × 109) 70 is the usual 140 of
    /// the originals.
    pub crop: Option<u32>,
}

/// The JPEG and PNG files of a folder, sorted by name.
fn image_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "image folder {} cannot be read: point --image-dir at a folder of JPEG or PNG files",
            dir.display()
        )
    })?;
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{} holds no .jpg, .jpeg or .png file", dir.display());
    }
    Ok(files)
}

/// One image: decoded, centre-cropped to a square, resized (triangle filter) to RGB bytes.
fn prepare(path: &Path, prep: FolderPrep) -> Result<Vec<u8>> {
    let img = image::open(path)
        .with_context(|| format!("{}: not a readable JPEG/PNG image", path.display()))?
        .to_rgb8();
    let (w, h) = img.dimensions();
    let c = prep.crop.unwrap_or(w.min(h));
    if c == 0 || c > w || c > h {
        bail!(
            "{}: a {c} × {c} centre crop does not fit the {w} × {h} image",
            path.display()
        );
    }
    let (x0, y0) = ((w - c) / 2, (h - c) / 2);
    let cropped = image::imageops::crop_imm(&img, x0, y0, c, c).to_image();
    let out = if c == prep.side {
        cropped
    } else {
        image::imageops::resize(
            &cropped,
            prep.side,
            prep.side,
            image::imageops::FilterType::Triangle,
        )
    };
    Ok(out.into_raw())
}

/// Every JPEG/PNG image of `dir` (sorted by name), centre-cropped and resized, decoded in
/// parallel. No labels.
pub fn load_image_folder(dir: &Path, prep: FolderPrep) -> Result<Images> {
    if prep.side == 0 {
        bail!("the image side must be ≥ 1");
    }
    let files = image_files(dir)?;
    let per = (prep.side * prep.side * 3) as usize;
    let decoded: Vec<Vec<u8>> = files
        .par_iter()
        .map(|f| prepare(f, prep))
        .collect::<Result<_>>()?;
    let mut pixels = Vec::with_capacity(files.len() * per);
    decoded.iter().for_each(|d| pixels.extend_from_slice(d));
    Ok(Images {
        n: files.len(),
        side: prep.side as usize,
        channels: 3,
        pixels,
        labels: None,
    })
}

const CACHE_MAGIC: &[u8; 8] = b"EBIMGS1\0";

/// A fingerprint of a folder's image files (names, sizes, modification times) and the
/// preparation, naming its cache file.
pub fn folder_key(dir: &Path, prep: FolderPrep) -> Result<String> {
    let mut h = Sha256::new();
    for f in image_files(dir)? {
        let m = std::fs::metadata(&f).with_context(|| format!("cannot read {}", f.display()))?;
        let t = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        h.update(f.file_name().unwrap_or_default().as_encoded_bytes());
        h.update(m.len().to_le_bytes());
        h.update(t.to_le_bytes());
    }
    h.update(format!("{prep:?}").as_bytes());
    let digest: String = h
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(format!("folder-{digest}-{}px", prep.side))
}

/// Encodes a set for the cache: magic, n, side, channels, label flag (u64 each, LE), the
/// pixels, the labels, then the SHA-256 of everything before it.
pub fn encode_cache(set: &Images) -> Vec<u8> {
    let mut b = CACHE_MAGIC.to_vec();
    for v in [set.n, set.side, set.channels, set.labels.is_some() as usize] {
        b.extend((v as u64).to_le_bytes());
    }
    b.extend(&set.pixels);
    if let Some(l) = &set.labels {
        b.extend(l);
    }
    let digest = Sha256::digest(&b);
    b.extend(digest);
    b
}

/// Inverse of [`encode_cache`]; None when anything does not match (then the set is rebuilt).
pub fn decode_cache(b: &[u8]) -> Option<Images> {
    if b.len() < 8 + 32 + 32 || &b[..8] != CACHE_MAGIC {
        return None;
    }
    let (body, digest) = b.split_at(b.len() - 32);
    if Sha256::digest(body).as_slice() != digest {
        return None;
    }
    let word = |i: usize| u64::from_le_bytes(body[8 + 8 * i..16 + 8 * i].try_into().unwrap());
    let (n, side, channels, has_labels) = (word(0), word(1), word(2), word(3));
    let px = n
        .checked_mul(side)?
        .checked_mul(side)?
        .checked_mul(channels)? as usize;
    let want =
        40usize
            .checked_add(px)?
            .checked_add(if has_labels == 1 { n as usize } else { 0 })?;
    if body.len() != want || has_labels > 1 {
        return None;
    }
    Some(Images {
        n: n as usize,
        side: side as usize,
        channels: channels as usize,
        pixels: body[40..40 + px].to_vec(),
        labels: (has_labels == 1).then(|| body[40 + px..].to_vec()),
    })
}

/// `build()` once, then from `<cache>/<key>.imgs` (written atomically); a cache file that does
/// not verify is rebuilt.
pub fn cached(cache: &Path, key: &str, build: impl FnOnce() -> Result<Images>) -> Result<Images> {
    let path = cache.join(format!("{key}.imgs"));
    if let Some(set) = std::fs::read(&path).ok().and_then(|b| decode_cache(&b)) {
        return Ok(set);
    }
    let set = build()?;
    crate::io::write_atomic(&path, &encode_cache(&set))?;
    Ok(set)
}

/// Writes `images` (n · side² · channels values in [−1, 1], NHWC, one or three channels) as a
/// PNG grid of `cols` columns with 2-pixel grey borders, atomically (temporary file, then
/// rename).
pub fn write_grid_png(
    path: &Path,
    images: &[f32],
    side: usize,
    channels: usize,
    cols: usize,
) -> Result<()> {
    let per = side * side * channels;
    if per == 0
        || images.is_empty()
        || !images.len().is_multiple_of(per)
        || ![1, 3].contains(&channels)
    {
        bail!(
            "{}: {} values are not whole {side} × {side} × {channels} images",
            path.display(),
            images.len()
        );
    }
    let n = images.len() / per;
    let cols = cols.clamp(1, n);
    let rows = n.div_ceil(cols);
    let b = 2;
    let (w, h) = (cols * (side + b) + b, rows * (side + b) + b);
    let mut img = image::RgbImage::from_pixel(w as u32, h as u32, image::Rgb([128, 128, 128]));
    let byte = |v: f32| (((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round()) as u8;
    for (k, im) in images.chunks_exact(per).enumerate() {
        let (x0, y0) = (b + (k % cols) * (side + b), b + (k / cols) * (side + b));
        for y in 0..side {
            for x in 0..side {
                let p = &im[(y * side + x) * channels..(y * side + x + 1) * channels];
                let rgb = if channels == 3 {
                    [byte(p[0]), byte(p[1]), byte(p[2])]
                } else {
                    [byte(p[0]); 3]
                };
                img.put_pixel((x0 + x) as u32, (y0 + y) as u32, image::Rgb(rgb));
            }
        }
    }
    let tmp = crate::io::TempFile::beside(path)?;
    img.save_with_format(tmp.path(), image::ImageFormat::Png)
        .with_context(|| format!("cannot write {}", path.display()))?;
    tmp.commit()
}

/// 2 × 2 average pooling of NHWC images of side `side` (even) and 3 channels: the 64 × 64
/// faces brought to the 32 × 32 input of the FID feature network.
pub fn pool2(images: &[f32], side: usize) -> Vec<f32> {
    let per = side * side * 3;
    let h = side / 2;
    let mut out = Vec::with_capacity(images.len() / 4);
    for im in images.chunks_exact(per) {
        for y in 0..h {
            for x in 0..h {
                for c in 0..3 {
                    let at = |yy: usize, xx: usize| im[(yy * side + xx) * 3 + c];
                    out.push(
                        (at(2 * y, 2 * x)
                            + at(2 * y, 2 * x + 1)
                            + at(2 * y + 1, 2 * x)
                            + at(2 * y + 1, 2 * x + 1))
                            / 4.0,
                    );
                }
            }
        }
    }
    out
}
