//! `aduan attachments migrate`: copies the content of every attachment from the other
//! place to `to`, checking each copy's SHA-256 and size against the attachment's record
//! before it is written and after. Content already in `to` is left as it is, so the
//! command can run again after an interruption, or while daemons keep filing (a second
//! run picks up what arrived meanwhile). The source is removed only when asked, and then
//! only once the copy in `to` has been read back and checked.

use super::{sha256_hex, valid_digest, BlobBackend, BlobStore};
use crate::store::StoreError;

/// Attachment digests read per query.
const PAGE: i64 = 256;
/// A progress line every this many attachments.
const EVERY: u64 = 100;

/// What a migration did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MigrateReport {
    /// Distinct contents the attachments reference.
    pub checked: u64,
    /// Copied now.
    pub copied: u64,
    pub copied_bytes: u64,
    /// In the target already.
    pub present: u64,
    /// Removed from the source after their copy was checked.
    pub removed: u64,
    /// In neither place.
    pub missing: Vec<String>,
    /// Not copied (or the source not removed), with why.
    pub refused: Vec<(String, String)>,
}

impl MigrateReport {
    pub fn ok(&self) -> bool {
        self.missing.is_empty() && self.refused.is_empty()
    }
}

/// One line of progress, for the command to print.
pub type Progress<'a> = &'a mut (dyn FnMut(String) + Send);

/// Why `bytes` cannot be the content `sha256` of `size` bytes, if it cannot.
fn mismatch(sha256: &str, size: i64, bytes: &[u8]) -> Option<String> {
    let actual = sha256_hex(bytes);
    if actual != sha256 {
        return Some(format!("its content hashes to {actual}"));
    }
    if i64::try_from(bytes.len()).ok() != Some(size) {
        return Some(format!(
            "it holds {} bytes where the attachment has {size}",
            bytes.len()
        ));
    }
    None
}

impl BlobStore {
    /// Copies every attachment's content to `to` (see the module); with `remove_source`
    /// removes it from the other place once the copy is checked.
    pub async fn migrate(
        &self,
        to: BlobBackend,
        remove_source: bool,
        progress: Progress<'_>,
    ) -> Result<MigrateReport, StoreError> {
        let from = to.other();
        let total: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT sha256) FROM attachments")
            .fetch_one(&self.pool)
            .await?;
        progress(format!(
            "{total} attachment contents to copy from the {} to the {}",
            from.as_str(),
            to.as_str()
        ));
        let mut report = MigrateReport::default();
        let mut after = String::new();
        loop {
            let page: Vec<(String, i64)> = sqlx::query_as(
                "SELECT sha256, MAX(size) FROM attachments WHERE sha256 > $1
                 GROUP BY sha256 ORDER BY sha256 LIMIT $2",
            )
            .bind(&after)
            .bind(PAGE)
            .fetch_all(&self.pool)
            .await?;
            let Some((last, _)) = page.last() else { break };
            after = last.clone();
            for (sha256, size) in page {
                if let Err(why) = self
                    .migrate_one(&sha256, size, from, to, remove_source, &mut report)
                    .await?
                {
                    progress(format!("{sha256}: {why}"));
                    report.refused.push((sha256, why));
                }
                report.checked += 1;
                if report.checked % EVERY == 0 {
                    progress(format!(
                        "{} of {total} checked: {} copied ({} bytes), {} there already",
                        report.checked, report.copied, report.copied_bytes, report.present
                    ));
                }
            }
        }
        for sha256 in &report.missing {
            progress(format!(
                "{sha256}: in neither place; its attachment cannot be served"
            ));
        }
        progress(format!(
            "done: {} checked, {} copied ({} bytes), {} there already, {} removed from the {}, {} missing, {} refused",
            report.checked,
            report.copied,
            report.copied_bytes,
            report.present,
            report.removed,
            from.as_str(),
            report.missing.len(),
            report.refused.len()
        ));
        Ok(report)
    }

    /// One content; `Err(why)` when it was refused (nothing else goes wrong with it).
    async fn migrate_one(
        &self,
        sha256: &str,
        size: i64,
        from: BlobBackend,
        to: BlobBackend,
        remove_source: bool,
        report: &mut MigrateReport,
    ) -> Result<Result<(), String>, StoreError> {
        if !valid_digest(sha256) {
            return Ok(Err("not a SHA-256 digest; skipped".into()));
        }
        if self.has(to, sha256).await? {
            report.present += 1;
        } else {
            let Some(bytes) = self.read(from, sha256).await? else {
                report.missing.push(sha256.to_owned());
                return Ok(Ok(()));
            };
            if let Some(why) = mismatch(sha256, size, &bytes) {
                return Ok(Err(format!(
                    "the {} copy is damaged ({why}); not copied",
                    from.as_str()
                )));
            }
            self.write(to, sha256, bytes).await?;
            report.copied += 1;
            report.copied_bytes += u64::try_from(size).unwrap_or(0);
        }
        let copy = self.read(to, sha256).await?.unwrap_or_default();
        if let Some(why) = mismatch(sha256, size, &copy) {
            return Ok(Err(format!(
                "the {} copy does not check ({why}); the source is kept",
                to.as_str()
            )));
        }
        if remove_source && self.has(from, sha256).await? {
            self.remove(from, sha256).await?;
            report.removed += 1;
        }
        Ok(Ok(()))
    }
}
