//! What a run records about the processor it ran on.
//!
//! The `gemm` crates choose their SIMD kernels and their cache blocking (the order in which a
//! product's sums are accumulated) from the processor at run time. Training is chaotic, so a
//! last-bit difference in one product grows into a different run: a seed reproduces a run on
//! the same build *and* the same processor kind, not across kinds (measured 2026-12-04: the
//! quick LN run of seed 1 at 100 labels ended at 3.31 % on the machine that made it and 2.95 %
//! on an AMD EPYC with AVX-512, same commit of the training code). Each is an equally valid
//! sample of the seed-to-seed distribution; `final.csv` keeps this string so a reader can tell.

use std::path::Path;

/// `"<model name>; <widest SIMD>; L1d <size> L2 <size> L3 <size>"`, with no commas (it is a CSV
/// field), e.g. `"AMD EPYC; avx512f; L1d 48K L2 1024K L3 32768K"`. Parts that cannot be read
/// are left out; never fails.
pub fn cpu() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let mut parts = vec![model, simd().to_string()];
    let caches = caches(Path::new("/sys/devices/system/cpu/cpu0/cache"));
    if !caches.is_empty() {
        parts.push(caches);
    }
    parts.join("; ").replace([',', '\n', '"'], " ")
}

/// The widest vector extension the matmul kernels can use here.
fn simd() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return "avx512f";
        }
        if std::arch::is_x86_feature_detected!("fma") {
            return "avx2+fma";
        }
        if std::arch::is_x86_feature_detected!("avx") {
            return "avx";
        }
        "sse"
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        std::env::consts::ARCH
    }
}

/// Data and unified cache sizes per level, e.g. `"L1d 48K L2 1024K L3 32768K"` (per core for
/// L1/L2 as Linux reports them); empty when sysfs is not there.
fn caches(dir: &Path) -> String {
    let mut out = Vec::new();
    for i in 0..8 {
        let d = dir.join(format!("index{i}"));
        let read = |f: &str| std::fs::read_to_string(d.join(f)).map(|s| s.trim().to_string());
        let (Ok(level), Ok(kind), Ok(size)) = (read("level"), read("type"), read("size")) else {
            continue;
        };
        match kind.as_str() {
            "Data" => out.push(format!("L{level}d {size}")),
            "Unified" => out.push(format!("L{level} {size}")),
            _ => {}
        }
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_one_csv_field_naming_the_simd_level() {
        let s = cpu();
        assert!(!s.contains(',') && !s.contains('\n'), "{s}");
        assert!(
            ["avx512f", "avx2+fma", "avx", "sse", std::env::consts::ARCH]
                .iter()
                .any(|k| s.contains(k)),
            "{s}"
        );
    }

    #[test]
    fn caches_are_read_from_sysfs_layout() {
        let dir = std::env::temp_dir().join(format!("ebgan-caches-{}", std::process::id()));
        for (i, level, kind, size) in [
            (0, "1", "Data", "48K"),
            (1, "1", "Instruction", "32K"),
            (2, "2", "Unified", "1024K"),
        ] {
            let d = dir.join(format!("index{i}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("level"), format!("{level}\n")).unwrap();
            std::fs::write(d.join("type"), format!("{kind}\n")).unwrap();
            std::fs::write(d.join("size"), format!("{size}\n")).unwrap();
        }
        assert_eq!(caches(&dir), "L1d 48K L2 1024K");
        assert_eq!(caches(&dir.join("absent")), "");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
