//! Attachment content as files, once per SHA-256, under `<data_dir>/blobs/ab/cdef…`.
//!
//! A blob is written to a temporary file, fsynced and renamed into place before the
//! transaction that references it commits, so a committed attachment always has its
//! bytes. A crash between the two leaves an unreferenced blob, never a missing one; the
//! collector (`collect`) removes those once they are older than its grace period.
//!
//! Reusing a blob that is already there refreshes its modification time, and the
//! collector moves a blob aside before it deletes it and puts it back if its time was
//! refreshed meanwhile; a `put` that finds it moved aside writes it again. So a blob a
//! transaction in flight is about to reference is never collected.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::sha256_hex;

pub(crate) struct BlobFiles {
    root: PathBuf,
}

/// What the collector does with a file it found unreferenced.
pub(crate) enum Removal {
    Removed,
    /// Gone already, or reused meanwhile (and so kept).
    Kept,
}

impl BlobFiles {
    pub(crate) fn new(root: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(root.join("tmp"))?;
        Ok(Self { root })
    }

    pub(crate) fn path_of(&self, sha256: &str) -> Option<PathBuf> {
        super::valid_digest(sha256).then(|| self.root.join(&sha256[..2]).join(&sha256[2..]))
    }

    fn path_or_not_found(&self, sha256: &str) -> std::io::Result<PathBuf> {
        self.path_of(sha256)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "bad hash"))
    }

    /// Stores `bytes` durably; returns the hex SHA-256. Idempotent.
    pub(crate) fn put(&self, bytes: &[u8]) -> std::io::Result<String> {
        let hash = sha256_hex(bytes);
        self.write(&hash, bytes)?;
        Ok(hash)
    }

    /// Stores `bytes` as the blob `sha256` (which the caller has checked). When it is
    /// there already, its modification time is refreshed instead (see the module).
    pub(crate) fn write(&self, sha256: &str, bytes: &[u8]) -> std::io::Result<()> {
        let dest = self.path_or_not_found(sha256)?;
        match touch(&dest) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let dir = dest
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.root.clone());
        std::fs::create_dir_all(&dir)?;
        let mut tmp = tempfile_in(&self.tmp_dir(), "part")?;
        tmp.1.write_all(bytes)?;
        tmp.1.sync_all()?;
        std::fs::rename(&tmp.0, &dest)?;
        std::fs::File::open(&dir)?.sync_all()?;
        Ok(())
    }

    pub(crate) fn get(&self, sha256: &str) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.path_or_not_found(sha256)?)
    }

    pub(crate) fn exists(&self, sha256: &str) -> bool {
        self.path_of(sha256).is_some_and(|p| p.is_file())
    }

    pub(crate) fn remove(&self, sha256: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.path_or_not_found(sha256)?) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// The digests of the blobs last written or reused before `cutoff`.
    pub(crate) fn older_than(&self, cutoff: SystemTime) -> std::io::Result<Vec<String>> {
        let mut out = Vec::new();
        for dir in std::fs::read_dir(&self.root)? {
            let dir = dir?;
            let prefix = dir.file_name().to_string_lossy().into_owned();
            if prefix.len() != 2 || !dir.file_type()?.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(dir.path())? {
                let f = f?;
                let sha = format!("{prefix}{}", f.file_name().to_string_lossy());
                if super::valid_digest(&sha) && modified(&f)?.is_some_and(|t| t < cutoff) {
                    out.push(sha);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Removes the blob `sha256` unless it was reused since `cutoff` (see the module).
    pub(crate) fn remove_unless_reused(
        &self,
        sha256: &str,
        cutoff: SystemTime,
    ) -> std::io::Result<Removal> {
        let dest = self.path_or_not_found(sha256)?;
        let aside = self
            .tmp_dir()
            .join(format!("{sha256}.{}.gc", uuid::Uuid::new_v4().simple()));
        match std::fs::rename(&dest, &aside) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Removal::Kept),
            Err(e) => return Err(e),
        }
        if std::fs::metadata(&aside)?.modified()? >= cutoff {
            // Reused between the look at its time and the move: back in place (over a
            // copy a `put` may have written meanwhile, with the same bytes).
            std::fs::rename(&aside, &dest)?;
            return Ok(Removal::Kept);
        }
        std::fs::remove_file(&aside)?;
        Ok(Removal::Removed)
    }

    /// Tidies the temporary directory after a crash: partial writes older than `cutoff`
    /// go; a blob the collector had moved aside goes too when it is that old, and is put
    /// back when it was reused (it may be referenced now). Returns the files removed.
    pub(crate) fn tidy_tmp(&self, cutoff: SystemTime) -> std::io::Result<u64> {
        let mut removed = 0;
        for f in std::fs::read_dir(self.tmp_dir())? {
            let f = f?;
            let name = f.file_name().to_string_lossy().into_owned();
            // A `put` renames its temporary file into place at any moment.
            let Some(at) = modified(&f)? else { continue };
            let old = at < cutoff;
            let aside_of = name
                .strip_suffix(".gc")
                .and_then(|n| n.split('.').next())
                .and_then(|sha| self.path_of(sha));
            match aside_of {
                Some(dest) if !old => std::fs::rename(f.path(), dest)?,
                _ if old => match std::fs::remove_file(f.path()) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                },
                _ => {}
            }
        }
        Ok(removed)
    }
}

/// The entry's modification time; `None` when it has gone since it was listed.
fn modified(entry: &std::fs::DirEntry) -> std::io::Result<Option<SystemTime>> {
    match entry.metadata().and_then(|m| m.modified()) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Sets the file's modification time to now; `NotFound` when it is not there.
fn touch(path: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)?
        .set_modified(SystemTime::now())
}

fn tempfile_in(dir: &Path, suffix: &str) -> std::io::Result<(PathBuf, std::fs::File)> {
    let name = format!("{}.{suffix}", uuid::Uuid::new_v4());
    let path = dir.join(name);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    Ok((path, f))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn stores_once_and_reads_back() {
        let dir = tempfile::tempdir().expect("tmp");
        let b = BlobFiles::new(dir.path().join("blobs")).expect("store");
        let h1 = b.put(b"foto").expect("put");
        let h2 = b.put(b"foto").expect("put again");
        assert_eq!(h1, h2);
        assert_eq!(b.get(&h1).expect("get"), b"foto");
        assert!(b.path_of("../../etc/passwd").is_none());
        let files = std::fs::read_dir(dir.path().join("blobs/tmp"))
            .expect("tmp dir")
            .count();
        assert_eq!(files, 0, "temporary files left behind");
    }

    fn age(path: &Path, by: Duration) {
        let f = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .expect("open");
        f.set_modified(SystemTime::now() - by).expect("set time");
    }

    #[test]
    fn reuse_refreshes_the_time_and_a_reused_blob_is_kept() {
        let dir = tempfile::tempdir().expect("tmp");
        let b = BlobFiles::new(dir.path().join("blobs")).expect("store");
        let hash = b.put(b"foto lama").expect("put");
        let path = b.path_of(&hash).expect("path");
        age(&path, Duration::from_secs(7200));
        let cutoff = SystemTime::now() - Duration::from_secs(3600);
        assert_eq!(b.older_than(cutoff).expect("list"), vec![hash.clone()]);
        // A new report with the same photo, between the collector's look and its move.
        b.put(b"foto lama").expect("reused");
        assert!(matches!(
            b.remove_unless_reused(&hash, cutoff).expect("collect"),
            Removal::Kept
        ));
        assert_eq!(b.get(&hash).expect("still there"), b"foto lama");
        age(&path, Duration::from_secs(7200));
        assert!(matches!(
            b.remove_unless_reused(&hash, cutoff).expect("collect"),
            Removal::Removed
        ));
        assert!(!b.exists(&hash));
    }

    #[test]
    fn tidying_puts_back_a_reused_blob_and_drops_old_parts() {
        let dir = tempfile::tempdir().expect("tmp");
        let b = BlobFiles::new(dir.path().join("blobs")).expect("store");
        let hash = b.put(b"foto").expect("put");
        let path = b.path_of(&hash).expect("path");
        // A collector that crashed after moving a (since reused) blob aside.
        let aside = b.tmp_dir().join(format!("{hash}.x.gc"));
        std::fs::rename(&path, &aside).expect("move aside");
        let part = b.tmp_dir().join("y.part");
        std::fs::write(&part, b"setengah").expect("part");
        age(&part, Duration::from_secs(7200));
        let cutoff = SystemTime::now() - Duration::from_secs(3600);
        assert_eq!(b.tidy_tmp(cutoff).expect("tidy"), 1);
        assert_eq!(b.get(&hash).expect("back in place"), b"foto");
        assert!(!part.exists());
    }
}
