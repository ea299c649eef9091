//! The PostgreSQL side of the pools: each connection's setup, the read pool, the
//! queue's list on connections of its own, and claim-next's.

use std::str::FromStr;
use std::time::Duration;

use sqlx::{ConnectOptions, Executor};

use super::{native_pool, ACQUIRE_TIMEOUT, CHECK_IF_IDLE_FOR};
use crate::store::error::StoreError;

/// What every PostgreSQL connection runs first: nothing. sqlx prepares every statement,
/// and after five runs PostgreSQL may keep one generic plan for it instead of planning
/// each execution: for a lookup by key that is the same plan without planning it again
/// for every execution, which claim-next makes many of. The queue's list, whose best
/// plan depends on the values (a rare status, a rare word), runs on connections of its
/// own that plan each execution (`Store::lists`).
pub(super) const SESSION: &[&str] = &[];

/// How many claim-next batches may run at once on PostgreSQL, each on a connection of
/// the claims pool. Those connections keep one generic plan for the batch statement:
/// its probe's size is a parameter, for which the planner guesses a tenth of the table,
/// so PostgreSQL judged every generic plan dearer than a custom one and planned each
/// batch anew (`custom_plans` in `pg_prepared_statements`), though the generic plan
/// walks the same index and stops as soon.
pub(crate) const PG_CLAIM_LANES: u32 = 2;

fn options(url: &str) -> Result<sqlx::postgres::PgConnectOptions, StoreError> {
    Ok(sqlx::postgres::PgConnectOptions::from_str(url)?.disable_statement_logging())
}

/// The read pool (see `Reads`).
pub(super) fn reads(url: &str, max: u32) -> Result<sqlx::PgPool, StoreError> {
    Ok(native_pool(options(url)?, SESSION, max))
}

/// The list's pool, of at most `lists_max` connections, and the claims pool.
pub(super) fn lists_and_claims(
    url: &str,
    lists_max: u32,
) -> Result<(PgLists, sqlx::PgPool), StoreError> {
    let opts = options(url)?;
    let lists = pg_lists(opts.clone(), lists_max as usize, ACQUIRE_TIMEOUT)?;
    let claims = native_pool(
        opts,
        &["SET plan_cache_mode = force_generic_plan"],
        PG_CLAIM_LANES,
    );
    Ok((lists, claims))
}

/// The list's PostgreSQL connections, pooled by deadpool rather than sqlx. sqlx's pool
/// pings every connection it takes back (a Sync and its ReadyForQuery, in a task of its
/// own), as well as on acquire (see `checked_when_idle`): under the list that was a
/// second exchange with the server for every page, competing for the same two cores.
/// Here a connection goes back as it is; one not handed out for
/// [`CHECK_IF_IDLE_FOR`] is pinged first, and one whose query failed is not reused.
pub(crate) type PgLists = deadpool::managed::Pool<PgListConnections>;

pub(crate) struct PgListConnections {
    opts: sqlx::postgres::PgConnectOptions,
}

impl deadpool::managed::Manager for PgListConnections {
    type Type = sqlx::PgConnection;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<sqlx::PgConnection, sqlx::Error> {
        let mut conn = self.opts.connect().await?;
        conn.execute("SET plan_cache_mode = force_custom_plan")
            .await?;
        Ok(conn)
    }

    async fn recycle(
        &self,
        conn: &mut sqlx::PgConnection,
        metrics: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<sqlx::Error> {
        // `last_used` counts from when it was last handed out: a long read is checked too.
        if metrics.last_used() >= CHECK_IF_IDLE_FOR {
            sqlx::Connection::ping(conn).await?;
        }
        Ok(())
    }
}

/// The list's pool: waiting for a free connection, opening one and checking one each
/// give up after `timeout` (deadpool waits for ever by default).
fn pg_lists(
    opts: sqlx::postgres::PgConnectOptions,
    max: usize,
    timeout: Duration,
) -> Result<PgLists, StoreError> {
    PgLists::builder(PgListConnections { opts })
        .max_size(max)
        .runtime(deadpool::Runtime::Tokio1)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .build()
        .map_err(|_| StoreError::Unavailable("the list's pool"))
}

/// Runs `read` on a list connection; a connection whose read failed is dropped, not
/// handed out again (it may be broken, and no ping would catch it within
/// [`CHECK_IF_IDLE_FOR`]).
pub(crate) async fn on_pg_list<T>(
    lists: &PgLists,
    read: impl AsyncFnOnce(&mut sqlx::PgConnection) -> Result<T, sqlx::Error>,
) -> Result<T, StoreError> {
    use deadpool::managed::{Object, PoolError};
    let mut conn = lists.get().await.map_err(|e| match e {
        PoolError::Backend(e) => StoreError::Db(e),
        PoolError::Closed => StoreError::Unavailable("the store is closed"),
        _ => StoreError::Unavailable("no list connection"),
    })?;
    let result = read(&mut conn).await;
    if result.is_err() {
        drop(Object::take(conn));
    }
    Ok(result?)
}

/// How the claims pool's connections planned claim-next's batch statement so far, as
/// (generic, custom) plans (see [`PG_CLAIM_LANES`]).
pub(in crate::store) async fn claim_plans(pool: &sqlx::PgPool) -> Result<(i64, i64), StoreError> {
    // Every connection at once, so that each is asked once.
    let mut conns = Vec::new();
    for _ in 0..PG_CLAIM_LANES {
        conns.push(pool.acquire().await?);
    }
    let (mut generic, mut custom) = (0, 0);
    for conn in &mut conns {
        let (g, c): (i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(generic_plans), 0)::bigint, COALESCE(SUM(custom_plans), 0)::bigint
             FROM pg_prepared_statements WHERE statement LIKE 'WITH w0 AS%'",
        )
        .fetch_one(&mut **conn)
        .await?;
        generic += g;
        custom += c;
    }
    Ok((generic, custom))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PostgreSQL that accepts connections and never answers: a list fails as
    /// unavailable once the pool's timeout has passed, rather than waiting for ever.
    #[tokio::test]
    async fn a_list_whose_database_does_not_answer_fails_as_unavailable() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let opts = sqlx::postgres::PgConnectOptions::new()
            .host("127.0.0.1")
            .port(port)
            .username("aduan");
        let lists = pg_lists(opts, 1, Duration::from_millis(200)).expect("pool");
        // The guard turns a hang into a failure; it is not a measure of speed.
        let read = tokio::time::timeout(
            Duration::from_secs(60),
            on_pg_list(&lists, async |conn| {
                sqlx::query("SELECT 1").execute(conn).await.map(|_| ())
            }),
        )
        .await
        .expect("the list waited for a database that never answers");
        assert!(matches!(read, Err(StoreError::Unavailable(_))), "{read:?}");
        silent.abort();
    }
}
