//! Image data: the CIFAR-10 batches (layout, labels, the published channel means, bad files
//! named), image folders (centre crop and resize on synthetic PNGs, the CelebA faces, bad
//! files named), the cache (equal on reload, a damaged cache file rebuilt), MNIST padded; the
//! FID feature network's lock.

mod common;

use ebgan::images::{
    cached, decode_cache, encode_cache, folder_key, load_cifar10, load_image_folder, mnist_padded,
    FolderPrep, Images,
};
use std::io::Read;

#[test]
fn cifar10_loads_with_its_published_statistics_and_bad_files_are_named() {
    let dir = common::shared_data("CIFAR_DIR", "cifar10");
    let set = load_cifar10(&dir).unwrap();
    assert_eq!((set.n, set.side, set.channels), (50_000, 32, 3));
    let labels = set.labels.as_ref().unwrap();
    let mut counts = [0usize; 10];
    labels.iter().for_each(|&l| counts[l as usize] += 1);
    assert_eq!(counts, [5_000; 10]);
    // Per-channel mean of pixel/255 (README of the data: 0.4914, 0.4822, 0.4465).
    let mut sum = [0f64; 3];
    for px in set.pixels.chunks_exact(3) {
        (0..3).for_each(|c| sum[c] += px[c] as f64);
    }
    let mean: Vec<f64> = sum
        .iter()
        .map(|s| s / 255.0 / (50_000.0 * 1024.0))
        .collect();
    for (m, want) in mean.iter().zip([0.4914, 0.4822, 0.4465]) {
        assert!((m - want).abs() < 1e-4, "{mean:?}");
    }
    // NHWC from the planar records: record 0 of batch 1, pixel (0, 1), channels R, G, B.
    let mut raw = Vec::new();
    xz2::read::XzDecoder::new(std::fs::File::open(dir.join("data_batch_1.bin.xz")).unwrap())
        .read_to_end(&mut raw)
        .unwrap();
    assert_eq!(labels[0], raw[0]);
    assert_eq!(
        set.image(0)[3..6],
        [raw[1 + 1], raw[1 + 1024 + 1], raw[1 + 2048 + 1]]
    );
    // Bad copies: a truncated batch, a flipped byte, a missing batch; each names the file.
    let bad = tempfile::tempdir().unwrap();
    for (name, _) in ebgan::images::CIFAR_FILES {
        std::os::unix::fs::symlink(
            dir.join(format!("{name}.xz")),
            bad.path().join(format!("{name}.xz")),
        )
        .unwrap();
    }
    let b1 = bad.path().join("data_batch_1.bin");
    std::fs::write(&b1, &raw[..raw.len() - 1]).unwrap();
    let e = format!("{:#}", load_cifar10(bad.path()).unwrap_err());
    assert!(
        e.contains(&b1.display().to_string()) && e.contains("30730000"),
        "{e}"
    );
    let mut flipped = raw.clone();
    flipped[5000] ^= 1;
    std::fs::write(&b1, &flipped).unwrap();
    let e = format!("{:#}", load_cifar10(bad.path()).unwrap_err());
    assert!(
        e.contains(&b1.display().to_string()) && e.contains("SHA-256"),
        "{e}"
    );
    std::fs::remove_file(&b1).unwrap();
    std::fs::remove_file(bad.path().join("data_batch_1.bin.xz")).unwrap();
    let e = format!("{:#}", load_cifar10(bad.path()).unwrap_err());
    assert!(
        e.contains("data_batch_1.bin (or data_batch_1.bin.xz) not found"),
        "{e}"
    );
}

/// Writes an RGB PNG whose pixel (x, y) is f(x, y).
fn png(path: &std::path::Path, w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) {
    image::RgbImage::from_fn(w, h, |x, y| image::Rgb(f(x, y)))
        .save(path)
        .unwrap();
}

#[test]
fn image_folders_are_centre_cropped_resized_and_bad_files_named() {
    let dir = tempfile::tempdir().unwrap();
    // 6 × 4: the largest centred square is columns 1..5; at side 4 no resampling happens.
    png(&dir.path().join("a.png"), 6, 4, |x, y| {
        [x as u8 * 10, y as u8 * 10, 7]
    });
    // Uniform 10 × 8 stays uniform at any size.
    png(&dir.path().join("b.png"), 10, 8, |_, _| [200, 100, 50]);
    let prep = FolderPrep {
        side: 4,
        crop: None,
    };
    let set = load_image_folder(dir.path(), prep).unwrap();
    assert_eq!((set.n, set.side, set.channels), (2, 4, 3));
    for y in 0..4 {
        for x in 0..4 {
            let p = &set.image(0)[(y * 4 + x) * 3..(y * 4 + x) * 3 + 3];
            assert_eq!(p, [(x as u8 + 1) * 10, y as u8 * 10, 7], "({x}, {y})");
        }
    }
    assert!(set.image(1).chunks_exact(3).all(|p| p == [200, 100, 50]));
    // An explicit 2 × 2 crop of a.png: columns 2..4, rows 1..3.
    let small = load_image_folder(
        dir.path(),
        FolderPrep {
            side: 2,
            crop: Some(2),
        },
    )
    .unwrap();
    assert_eq!(&small.image(0)[..3], [20, 10, 7]);
    // [−1, 1]: 0 → −1, 255 → 1.
    let s = Images {
        n: 1,
        side: 1,
        channels: 2,
        pixels: vec![0, 255],
        labels: None,
    };
    assert_eq!(s.signed(0..1), [-1.0, 1.0]);
    // A crop larger than an image, a corrupt file, an empty folder: errors naming them.
    let e = format!(
        "{:#}",
        load_image_folder(
            dir.path(),
            FolderPrep {
                side: 2,
                crop: Some(5)
            }
        )
        .unwrap_err()
    );
    assert!(e.contains("a.png") && e.contains("does not fit"), "{e}");
    std::fs::write(dir.path().join("c.jpg"), b"not a jpeg at all").unwrap();
    let e = format!("{:#}", load_image_folder(dir.path(), prep).unwrap_err());
    assert!(e.contains("c.jpg") && e.contains("not a readable"), "{e}");
    let empty = tempfile::tempdir().unwrap();
    let e = format!("{:#}", load_image_folder(empty.path(), prep).unwrap_err());
    assert!(e.contains("no .jpg"), "{e}");
}

#[test]
fn the_faces_load_through_the_cache_and_a_damaged_cache_is_rebuilt() {
    let dir = common::shared_data("CELEBA_DIR", "celeba-10k").join("img_align_celeba");
    let prep = FolderPrep {
        side: 32,
        crop: Some(70),
    };
    let cache = tempfile::tempdir().unwrap();
    let key = folder_key(&dir, prep).unwrap();
    let set = cached(cache.path(), &key, || load_image_folder(&dir, prep)).unwrap();
    assert_eq!((set.n, set.side, set.channels), (10_000, 32, 3));
    let mean = set.pixels.iter().map(|&v| v as f64).sum::<f64>() / set.pixels.len() as f64;
    assert!((60.0..200.0).contains(&mean), "mean pixel {mean}");
    let file = cache.path().join(format!("{key}.imgs"));
    assert!(file.exists());
    // From the cache: equal, without decoding (the builder must not run).
    let again = cached(cache.path(), &key, || panic!("decoded again")).unwrap();
    assert_eq!(again, set);
    // A damaged cache file is not trusted: rebuilt.
    let mut b = std::fs::read(&file).unwrap();
    b[100] ^= 1;
    assert!(decode_cache(&b).is_none());
    std::fs::write(&file, &b).unwrap();
    let mut rebuilt = false;
    let third = cached(cache.path(), &key, || {
        rebuilt = true;
        Ok(set.clone())
    })
    .unwrap();
    assert!(rebuilt && third == set);
    assert_eq!(decode_cache(&encode_cache(&set)).unwrap(), set);
}

#[test]
fn mnist_is_padded_to_32_with_black() {
    let data = ebgan::data::load_mnist(&common::mnist_dir()).unwrap();
    let set = mnist_padded(&data.test);
    assert_eq!((set.n, set.side, set.channels), (10_000, 32, 1));
    let img = set.image(0);
    for i in 0..32 {
        for border in [0, 1, 30, 31] {
            assert_eq!(img[border * 32 + i], 0);
            assert_eq!(img[i * 32 + border], 0);
        }
    }
    let src = data.test.image(0);
    assert_eq!(
        img[(2 + 14) * 32 + 2 + 14],
        (src[14 * 28 + 14] * 255.0).round() as u8
    );
}

/// Fashion-MNIST from Debian's package (or FASHION_MNIST_DIR): 6,000 training images per
/// class and the published mean pixel 0.2860 (Xiao et al. 2017's normalisation constant).
#[test]
fn fashion_mnist_loads_with_its_published_statistics() {
    let dir = std::env::var_os("FASHION_MNIST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| ebgan::data::FASHION_MNIST_DEFAULT_DIR.into());
    let set = ebgan::data::load_idx_set(&dir, &ebgan::data::FASHION_MNIST).unwrap_or_else(|e| {
        panic!("{e:#} (these tests need Fashion-MNIST: apt-get install dataset-fashion-mnist)")
    });
    let mut counts = [0usize; 10];
    set.train
        .labels
        .iter()
        .for_each(|&l| counts[l as usize] += 1);
    assert_eq!(counts, [6_000; 10]);
    let mean =
        set.train.images.iter().map(|&v| v as f64).sum::<f64>() / set.train.images.len() as f64;
    assert!((mean - 0.2860).abs() < 1e-4, "{mean}");
    assert_eq!(mnist_padded(&set.train).n, 60_000);
    // The MNIST checksums do not accept it (a control that the check is per set).
    let e = format!("{:#}", ebgan::data::load_mnist(&dir).unwrap_err());
    assert!(e.contains("not the original MNIST"), "{e}");
}

/// Training the FID feature network takes its folder's lock. A folder held by another live
/// process (this test's pid in `run.lock`) is refused even with `--force`, before any file is
/// written. Without `--force`, a network another process finished while this one loaded the
/// data (`final.csv` present once the lock is held; `train` called directly stands for that
/// window, as the command checks `final.csv` first) is refused, not trained over; with the
/// plain lock this call would retrain the network (not run here: it takes minutes).
#[test]
fn feature_network_training_respects_the_lock() {
    use ebgan::cmd::images::{features, load_config, Paths};
    let dir = tempfile::tempdir().unwrap();
    let net = dir.path().join("features").join("cifar-cnn");
    std::fs::create_dir_all(&net).unwrap();
    let paths = Paths {
        config: common::configs().join("images.toml"),
        results: dir.path().into(),
        cifar_dir: Some(common::shared_data("CIFAR_DIR", "cifar10")),
        faces_dir: None,
        cache: dir.path().join("cache"),
    };
    let settings = load_config(&paths.config).unwrap().features;
    std::fs::write(net.join("run.lock"), std::process::id().to_string()).unwrap();
    let e = format!(
        "{:#}",
        features::train(&paths, &settings, true, true).unwrap_err()
    );
    assert!(e.contains("being trained by another process"), "{e}");
    assert!(!net.join("config.toml").exists());
    std::fs::remove_file(net.join("run.lock")).unwrap();
    std::fs::write(net.join("final.csv"), "finished elsewhere").unwrap();
    let e = format!(
        "{:#}",
        features::train(&paths, &settings, true, false).unwrap_err()
    );
    assert!(e.contains("finished by another process"), "{e}");
    assert_eq!(
        std::fs::read_to_string(net.join("final.csv")).unwrap(),
        "finished elsewhere"
    );
    assert!(!net.join("config.toml").exists());
    assert!(!net.join("run.lock").exists(), "the lock is released");
}
