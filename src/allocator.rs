//! The C allocator's settings for a training process (glibc only; elsewhere nothing changes).
//!
//! A training step allocates and frees the same tensors every step, the largest tens to
//! hundreds of MB (the column matrix of the EDGAN discriminator's first (4,2,1) convolution
//! for the real and fake halves at batch 64: 128 images · 256 positions · 1,024 taps of f32
//! = 134 MB). glibc's defaults give such blocks back to the kernel on `free` — each block
//! above its dynamic `mmap` threshold (at most 32 MiB) is its own `mmap`, and each thread's
//! arena is a heap that is unmapped or trimmed as it empties — so the next step faults every
//! page in again, and a page first read (a matmul accumulating into its freshly zeroed output)
//! maps the shared zero page and faults a second time on the first write, flushing the other
//! core's TLB. Measured 2026-12-05 (`results/bench/2026-12-05d/`, build fe7074a, 2 threads,
//! `ebgan bench --only edgan`, batch 64, two rounds each): one EDGAN-paper G update with two D
//! steps took 5.3–6.8 s with glibc's defaults, 119–129 s of each bench's 194–204 s of CPU time
//! in the kernel, and 2.1–2.6 s with these settings, 1.9–6.0 s in the kernel; peak RSS
//! 1.91–1.94 GiB and 2.00 GiB. The face models' steps are 1.8–3.1× faster; the ladder's, whose
//! tensors are small, unchanged within the machine's drift (README "Performance").
//!
//! The settings: one arena for every thread (`M_ARENA_MAX` = 1), never `mmap` a block
//! (`M_MMAP_MAX` = 0: the heap grows by `brk` and a freed block is reused), never trim the
//! heap (`M_TRIM_THRESHOLD` = −1, "disables trimming completely", mallopt(3)). The process
//! keeps its peak footprint until it exits. Allocation changes no arithmetic: results are
//! bit-identical with and without the settings (`tests/test_edgan.rs`,
//! `allocator_settings_change_no_number_and_save_page_faults`). `EBGAN_SYSTEM_MALLOC=1` in the
//! environment keeps glibc's defaults (a process that should give memory back, or to measure
//! the difference).

/// The environment variable that keeps glibc's defaults when set to anything but `0` or empty.
pub const OPT_OUT: &str = "EBGAN_SYSTEM_MALLOC";

/// Applies the settings above to the process's allocator unless [`OPT_OUT`] is set. Call it
/// first in `main`, before any other thread exists: glibc fixes its arena limit when the first
/// thread arena is made, and a thread that already has its own arena still gives large blocks
/// back. Returns whether all three were applied (`false` when opted out or off glibc, where
/// nothing is changed; each setting is tried even when another is refused); never fails.
#[must_use = "false means glibc's defaults (or some of them) are in force"]
pub fn keep_freed_memory() -> bool {
    if std::env::var_os(OPT_OUT).is_some_and(|v| !v.is_empty() && v != "0") {
        return false;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets allocator parameters and may be called at any time; being
        // called before other threads exist matters for its effect, not for soundness.
        let set = |param, value| unsafe { libc::mallopt(param, value) } == 1;
        // `&`, not `&&`: every setting is tried.
        set(libc::M_ARENA_MAX, 1) & set(libc::M_MMAP_MAX, 0) & set(libc::M_TRIM_THRESHOLD, -1)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
