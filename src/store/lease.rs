//! Channel leases: which instance polls each pull channel when several share the
//! database. A lease is taken only when it has run out or is already the taker's, is
//! renewed well inside its time, and carries a generation that grows with every
//! take-over. The ingest transaction checks that generation (the fence) before it
//! writes a batch, so an instance that lost its lease, however long it was paused,
//! cannot commit a stale batch or move a cursor back.
//!
//! Every time is taken from the database's clock, so the instances' clocks may disagree.

use std::collections::HashMap;
use std::time::Duration;

use aduan_kit::ChannelName;
use chrono::{DateTime, Utc};
use sqlx::{Any, Row, Transaction};

use super::{from_micros, Backend, Store, StoreError};

/// The lease a batch was produced under: the supervisor attaches it to every batch of
/// the channel it polls, and the batch commits only while it is still current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub channel: ChannelName,
    pub generation: i64,
}

impl Fence {
    /// What a batch under this fence gets once the lease was taken over.
    pub(super) fn refused(&self) -> StoreError {
        StoreError::LeaseLost {
            channel: self.channel.clone(),
            generation: self.generation,
        }
    }
}

/// One channel's lease as the database holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub channel_name: String,
    pub holder: String,
    pub generation: i64,
    pub expires_at: DateTime<Utc>,
    /// Not run out by the database's clock: `holder` may be polling.
    pub live: bool,
}

/// The database's clock in microseconds since the epoch, as an SQL expression.
fn db_now(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)",
        Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)",
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

impl Store {
    /// Takes `channel`'s lease for `holder` for `ttl` when nobody holds it, it has run
    /// out, or `holder` has it already; returns the new generation, or `None` while
    /// another instance holds it. Taking it always starts a new generation, so batches
    /// of an earlier hold (a poll loop being stopped) are refused.
    pub async fn acquire_lease(
        &self,
        channel: &ChannelName,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<i64>, StoreError> {
        let now = db_now(self.backend);
        let generation: Option<i64> = sqlx::query_scalar(&format!(
            "INSERT INTO channel_leases (channel_name, holder, generation, expires_at, acquired_at, renewed_at)
             VALUES ($1, $2, 1, {now} + $3, {now}, {now})
             ON CONFLICT (channel_name) DO UPDATE SET holder = excluded.holder,
                 generation = channel_leases.generation + 1, expires_at = excluded.expires_at,
                 acquired_at = excluded.acquired_at, renewed_at = excluded.renewed_at
             WHERE channel_leases.expires_at < excluded.acquired_at
                OR channel_leases.holder = excluded.holder
             RETURNING generation"
        ))
        .bind(channel.as_str())
        .bind(holder)
        .bind(micros(ttl))
        .fetch_optional(&self.pool)
        .await?;
        Ok(generation)
    }

    /// Extends the lease of `fence` by `ttl` from now; `false` when another instance
    /// took it over (its generation moved on). A lease that ran out but was not taken
    /// over is still this one: nobody else committed under it.
    pub async fn renew_lease(
        &self,
        fence: &Fence,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now = db_now(self.backend);
        let renewed = sqlx::query(&format!(
            "UPDATE channel_leases SET expires_at = {now} + $4, renewed_at = {now}
             WHERE channel_name = $1 AND holder = $2 AND generation = $3"
        ))
        .bind(fence.channel.as_str())
        .bind(holder)
        .bind(fence.generation)
        .bind(micros(ttl))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(renewed == 1)
    }

    /// Gives up `holder`'s lease on `channel` (on a clean stop), so that another
    /// instance takes it at its next try instead of waiting for it to run out.
    pub async fn release_lease(
        &self,
        channel: &ChannelName,
        holder: &str,
    ) -> Result<bool, StoreError> {
        let released = sqlx::query(
            "UPDATE channel_leases SET expires_at = 0 WHERE channel_name = $1 AND holder = $2",
        )
        .bind(channel.as_str())
        .bind(holder)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(released == 1)
    }

    /// The holder of each live lease, by channel name, for health pages: a database
    /// that does not answer shows no holders (the page says what else it knows).
    pub async fn lease_holders(&self) -> std::collections::BTreeMap<String, String> {
        match self.leases().await {
            Ok(leases) => leases
                .into_iter()
                .filter(|l| l.live)
                .map(|l| (l.channel_name, l.holder))
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the channel leases");
                Default::default()
            }
        }
    }

    /// Every channel's lease, by channel name.
    pub async fn leases(&self) -> Result<Vec<Lease>, StoreError> {
        let now = db_now(self.backend);
        let rows = sqlx::query(&format!(
            "SELECT channel_name, holder, generation, expires_at, expires_at - {now}
             FROM channel_leases ORDER BY channel_name"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let remaining: i64 = r.try_get(4)?;
                Ok(Lease {
                    channel_name: r.try_get(0)?,
                    holder: r.try_get(1)?,
                    generation: r.try_get(2)?,
                    expires_at: from_micros(r.try_get(3)?),
                    live: remaining > 0,
                })
            })
            .collect()
    }
}

/// For each fence (`None`: a batch that carries none), the fence again when it is
/// stale (its channel's lease is now of another generation, or gone), else `None`.
/// On PostgreSQL the lease rows
/// stay share-locked until the transaction ends, so a take-over waits for this commit
/// and cannot slip in between the check and it; SQLite has one writer at a time.
pub(super) async fn stale_fences<'a>(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    fences: impl Iterator<Item = Option<&'a Fence>>,
) -> Result<Vec<Option<&'a Fence>>, sqlx::Error> {
    let lock = match backend {
        Backend::Postgres => "FOR SHARE",
        Backend::Sqlite => "",
    };
    let sql = format!("SELECT generation FROM channel_leases WHERE channel_name = $1 {lock}");
    let mut current: HashMap<ChannelName, Option<i64>> = HashMap::new();
    let mut stale = Vec::new();
    for fence in fences {
        let Some(fence) = fence else {
            stale.push(None);
            continue;
        };
        let generation = match current.get(&fence.channel) {
            Some(g) => *g,
            None => {
                let g: Option<i64> = sqlx::query_scalar(&sql)
                    .bind(fence.channel.as_str())
                    .fetch_optional(&mut **tx)
                    .await?;
                current.insert(fence.channel.clone(), g);
                g
            }
        };
        stale.push((generation != Some(fence.generation)).then_some(fence));
    }
    Ok(stale)
}
