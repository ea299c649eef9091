//! Attachment content, stored once per SHA-256 under `<data_dir>/blobs/ab/cdef…`.
//!
//! A blob is written to a temporary file, fsynced and renamed into place before the
//! transaction that references it commits, so a committed attachment always has its
//! bytes. A crash between the two leaves an unreferenced blob, never a missing one.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub struct BlobStore {
    root: PathBuf,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl BlobStore {
    pub fn new(root: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(root.join("tmp"))?;
        Ok(Self { root })
    }

    pub fn path_of(&self, sha256: &str) -> Option<PathBuf> {
        let valid = sha256.len() == 64
            && sha256
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        valid.then(|| self.root.join(&sha256[..2]).join(&sha256[2..]))
    }

    /// Stores `bytes` durably; returns the hex SHA-256. Idempotent.
    pub fn put(&self, bytes: &[u8]) -> std::io::Result<String> {
        let hash = sha256_hex(bytes);
        let Some(dest) = self.path_of(&hash) else {
            return Err(std::io::Error::other("bad hash"));
        };
        if dest.exists() {
            return Ok(hash);
        }
        let dir = dest
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.root.clone());
        std::fs::create_dir_all(&dir)?;
        let mut tmp = tempfile_in(&self.root.join("tmp"))?;
        tmp.1.write_all(bytes)?;
        tmp.1.sync_all()?;
        std::fs::rename(&tmp.0, &dest)?;
        std::fs::File::open(&dir)?.sync_all()?;
        Ok(hash)
    }

    pub fn get(&self, sha256: &str) -> std::io::Result<Vec<u8>> {
        let path = self
            .path_of(sha256)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "bad hash"))?;
        std::fs::read(path)
    }
}

fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let name = format!("{}.part", uuid::Uuid::new_v4());
    let path = dir.join(name);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    Ok((path, f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_once_and_reads_back() {
        let dir = tempfile::tempdir().expect("tmp");
        let b = BlobStore::new(dir.path().join("blobs")).expect("store");
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
}
