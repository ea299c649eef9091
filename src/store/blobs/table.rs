//! Attachment content in the database's `blobs` table, once per SHA-256, written in the
//! transaction of the complaint or message that references it.
//!
//! Writing content that is there already refreshes its `stored_at` (an upsert, which
//! also locks the row until the transaction ends), and the collector deletes only rows
//! older than its grace period that no attachment references: on PostgreSQL it waits for
//! that lock and then sees the fresh time, on SQLite the two transactions take turns. So
//! content a transaction in flight is about to reference is never collected.

use sqlx::{Any, AnyPool, Executor, Transaction};

/// One statement per blob: attachments can be megabytes each, so they are not gathered
/// into one multi-row statement.
const UPSERT: &str = "INSERT INTO blobs (sha256, size, content, stored_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (sha256) DO UPDATE SET stored_at = excluded.stored_at";

/// Writes `contents` (digest, bytes) in `tx`. Sorted and without repeats, so two
/// transactions writing the same content lock its rows in the same order.
pub(crate) async fn put_in(
    tx: &mut Transaction<'static, Any>,
    contents: &mut Vec<(&str, &[u8])>,
    now: i64,
) -> Result<(), sqlx::Error> {
    contents.sort_by(|a, b| a.0.cmp(b.0));
    contents.dedup_by(|a, b| a.0 == b.0);
    for (sha256, bytes) in contents.iter() {
        put(&mut **tx, sha256, bytes, now).await?;
    }
    Ok(())
}

pub(crate) async fn put<'c, E: Executor<'c, Database = Any>>(
    db: E,
    sha256: &str,
    bytes: &[u8],
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(UPSERT)
        .bind(sha256)
        .bind(i64::try_from(bytes.len()).unwrap_or(i64::MAX))
        .bind(bytes)
        .bind(now)
        .execute(db)
        .await?;
    Ok(())
}

pub(crate) async fn get(pool: &AnyPool, sha256: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar("SELECT content FROM blobs WHERE sha256 = $1")
        .bind(sha256)
        .fetch_optional(pool)
        .await
}

pub(crate) async fn exists(pool: &AnyPool, sha256: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM blobs WHERE sha256 = $1")
        .bind(sha256)
        .fetch_one(pool)
        .await?;
    Ok(n > 0)
}

pub(crate) async fn remove(pool: &AnyPool, sha256: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM blobs WHERE sha256 = $1")
        .bind(sha256)
        .execute(pool)
        .await?;
    Ok(())
}

/// Deletes the content stored before `cutoff` that no attachment references; returns how
/// many rows went.
pub(crate) async fn collect(pool: &AnyPool, cutoff: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "DELETE FROM blobs WHERE stored_at < $1
         AND NOT EXISTS (SELECT 1 FROM attachments a WHERE a.sha256 = blobs.sha256)",
    )
    .bind(cutoff)
    .execute(pool)
    .await?
    .rows_affected())
}
