//! Atomic file output: every file the suite writes (CSV, TOML, checkpoints, PNG figures) is
//! written to a temporary file beside its destination, then renamed into place, so an
//! interruption or a full disk never leaves a half-written result; a failed write removes its
//! temporary file and names the file it could not write.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// A temporary file beside `dest` (`.<name>.<pid>.tmp.<ext>`, same folder, so the rename is
/// atomic; same extension, so writers that choose the format by extension still work). Removed
/// on drop unless [`TempFile::commit`] renamed it into place.
pub struct TempFile {
    tmp: PathBuf,
    dest: PathBuf,
    done: bool,
}

impl TempFile {
    /// Creates `dest`'s folder if needed and names the temporary file.
    pub fn beside(dest: &Path) -> Result<Self> {
        let dir = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create folder {}", dir.display()))?;
        let name = dest.file_name().and_then(|n| n.to_str()).unwrap_or("out");
        let ext = dest.extension().and_then(|e| e.to_str()).unwrap_or("tmp");
        Ok(Self {
            tmp: dir.join(format!(".{name}.{}.tmp.{ext}", std::process::id())),
            dest: dest.to_path_buf(),
            done: false,
        })
    }

    /// Where to write.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Renames the finished temporary file onto the destination.
    pub fn commit(mut self) -> Result<()> {
        if std::fs::metadata(&self.tmp).map(|m| m.len()).unwrap_or(0) == 0 {
            anyhow::bail!("{} was not written (empty or missing)", self.dest.display());
        }
        std::fs::rename(&self.tmp, &self.dest).with_context(|| {
            format!(
                "cannot move {} to {}",
                self.tmp.display(),
                self.dest.display()
            )
        })?;
        self.done = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` to `path` atomically (temporary file in the same folder, then rename). On
/// error (a full disk, say) the temporary file is removed and the error names `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = TempFile::beside(path)?;
    std::fs::write(tmp.path(), bytes)
        .and_then(|()| std::fs::File::open(tmp.path())?.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    if bytes.is_empty() {
        // commit() refuses empty files (a figure that drew nothing); an empty text file is fine.
        std::fs::rename(tmp.path(), path)
            .with_context(|| format!("cannot move {} into place", path.display()))?;
        std::mem::forget(tmp);
        return Ok(());
    }
    tmp.commit()
}

/// Serialises `rows` as CSV (with a header from the first row's fields) and writes it atomically.
pub fn write_csv<T: serde::Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r)?;
    }
    write_atomic(path, &w.into_inner().context("CSV buffer")?)
}

/// Reads every row of a CSV file with a header.
pub fn read_csv<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("cannot open {}", path.display()))?;
    r.deserialize()
        .collect::<Result<Vec<T>, _>>()
        .with_context(|| format!("malformed CSV {}", path.display()))
}
