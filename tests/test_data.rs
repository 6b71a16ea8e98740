//! MNIST loading: the real files load and verify; bad files give one clear error each.

mod common;

use ebgan::data::{labeled_subset, load_mnist};
use std::io::Write;

fn write_gz(path: &std::path::Path, bytes: &[u8]) {
    let mut e = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::fast(),
    );
    e.write_all(bytes).unwrap();
    e.finish().unwrap();
}

fn idx_header(dims: &[u32]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    dims.iter()
        .for_each(|d| v.extend_from_slice(&d.to_be_bytes()));
    v
}

#[test]
fn real_mnist_loads_with_known_statistics() {
    let m = load_mnist(&common::mnist_dir()).unwrap();
    assert_eq!((m.train.len(), m.test.len()), (60_000, 10_000));
    // The well-known normalisation constant: mean pixel / 255 = 0.1306604762738429 (f32 pixels
    // give 0.1306604774, within 2e-9).
    let mean = m.train.images.iter().map(|&v| v as f64).sum::<f64>() / m.train.images.len() as f64;
    assert!((mean - 0.1306604762738429).abs() < 1e-8, "{mean}");
    assert!(m.train.images.iter().all(|v| (0.0..=1.0).contains(v)));
    // The labeled subsets: n/10 per class, fixed by the seed.
    for n in [100, 200, 1000] {
        let s = labeled_subset(&m.train.labels, n, 1).unwrap();
        let mut count = [0; 10];
        s.iter()
            .for_each(|&i| count[m.train.labels[i] as usize] += 1);
        assert_eq!(count, [n / 10; 10]);
        assert_eq!(s, labeled_subset(&m.train.labels, n, 1).unwrap());
    }
}

#[test]
fn missing_folder_names_what_to_do() {
    let e = load_mnist(std::path::Path::new("/nonexistent/mnist")).unwrap_err();
    let msg = format!("{e:#}");
    assert!(
        msg.contains("/nonexistent/mnist") && msg.contains("MNIST_DIR"),
        "{msg}"
    );
}

#[test]
fn count_mismatch_truncation_and_checksum_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("train-images-idx3-ubyte.gz");
    // 5 images instead of 60,000: a count mismatch.
    let mut f = idx_header(&[5, 28, 28]);
    f.extend(vec![0u8; 5 * 784]);
    write_gz(&images, &f);
    let msg = format!("{:#}", load_mnist(dir.path()).unwrap_err());
    assert!(
        msg.contains("count mismatch") && msg.contains("train-images-idx3-ubyte.gz"),
        "{msg}"
    );
    // A truncated file: the header says 60,000 images, the data stop early.
    let mut f = idx_header(&[60_000, 28, 28]);
    f.extend(vec![0u8; 1000]);
    write_gz(&images, &f);
    let msg = format!("{:#}", load_mnist(dir.path()).unwrap_err());
    assert!(msg.contains("truncated"), "{msg}");
    // The right shape but not MNIST's content: the SHA-256 check names the file.
    let mut f = idx_header(&[60_000, 28, 28]);
    f.extend(vec![0u8; 60_000 * 784]);
    write_gz(&images, &f);
    let msg = format!("{:#}", load_mnist(dir.path()).unwrap_err());
    assert!(
        msg.contains("SHA-256") && msg.contains("train-images"),
        "{msg}"
    );
    // A corrupt gzip stream.
    std::fs::write(&images, b"\x1f\x8b\x08\x00garbage").unwrap();
    let msg = format!("{:#}", load_mnist(dir.path()).unwrap_err());
    assert!(msg.contains("corrupt or truncated gzip"), "{msg}");
}

/// A `.gz` of two gzip members (as `cat a.gz b.gz` makes; `gzip -t` accepts it, `zcat` gives
/// the whole file) is read whole: the MNIST training labels split in two members load and
/// pass the SHA-256 check. Control: the first member alone is rejected.
#[test]
fn multi_member_gzip_is_read_whole() {
    let src = common::mnist_dir();
    let dir = tempfile::tempdir().unwrap();
    let read = |name: &str| -> Vec<u8> {
        let gz = src.join(format!("{name}.gz"));
        if gz.exists() {
            let mut out = Vec::new();
            use std::io::Read;
            flate2::read::MultiGzDecoder::new(std::fs::File::open(gz).unwrap())
                .read_to_end(&mut out)
                .unwrap();
            out
        } else {
            std::fs::read(src.join(name)).unwrap()
        }
    };
    for name in [
        "train-images-idx3-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ] {
        std::fs::write(dir.path().join(name), read(name)).unwrap();
    }
    let labels = read("train-labels-idx1-ubyte");
    let (a, b) = labels.split_at(labels.len() / 3);
    let member = |bytes: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    };
    let path = dir.path().join("train-labels-idx1-ubyte.gz");
    std::fs::write(&path, member(a)).unwrap();
    let msg = format!("{:#}", load_mnist(dir.path()).unwrap_err());
    assert!(msg.contains("train-labels-idx1-ubyte.gz"), "{msg}");
    let mut two = member(a);
    two.extend(member(b));
    std::fs::write(&path, two).unwrap();
    let m = load_mnist(dir.path()).unwrap();
    assert_eq!(m.train.labels.len(), 60_000);
}
