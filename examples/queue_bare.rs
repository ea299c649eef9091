//! The bare SQL behind the admin queue, served over the bare HTTP stack: the baseline
//! `bench/queue.sh` measures aduan's HTTP API against, like for like.
//!
//!   queue_bare DATABASE_URL LISTEN_ADDR
//!
//! It answers the requests `queue_bench http` makes, on the same paths, with the
//! statements `bench/queue.sh` gives pgbench and `bench/queue_client.py` gives sqlite3,
//! through the drivers aduan uses (rusqlite for SQLite's reads, sqlx for PostgreSQL), on
//! the same HTTP server (axum on a multi-threaded tokio runtime) and allocator. It does
//! nothing else: no token, no roles, no privacy, no pool checks, no typed rows; each row
//! goes out as a JSON object of its columns. SQLite's reads run on the handler's own
//! thread, the cheapest way there is. Whatever aduan's API costs beyond this is aduan's.
//!
//!   GET  /api/v1/complaints?status=new&limit=50   the first page of a status
//!   GET  /api/v1/complaints?q=jalan+rusak&limit=50 the first page of a search
//!   GET  /healthz                                 reads nothing
//!
//! Reads only: claim-next's baseline is the bare SQL, one statement per claim, which
//! aduan's batched claims already stay far below.

use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Column, Connection, Row, TypeInfo};
use tokio::sync::{Semaphore, SemaphorePermit};

// As the daemon (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The columns and joins of a page, as `bench/queue.sh` and `bench/queue_client.py`.
const SELECT: &str = "SELECT c.id, c.tracking_id, c.channel, c.channel_name, c.external_id, c.status, c.title, c.body,
    c.category, c.unit, c.reporter_name, c.reporter_handle, c.reporter_email, c.reporter_phone, c.reporter_user_id,
    c.anonymous, c.confidential, c.received_at, c.occurred_on, c.location_text, c.location_lat, c.location_lon,
    c.classification, c.claimed_by, c.claim_until, c.due_at, c.overdue_at, c.merged_into, c.held_from,
    u.username AS claimed_by_name, m.tracking_id AS merged_into_tracking
    FROM complaints c LEFT JOIN users u ON u.id = c.claimed_by LEFT JOIN complaints m ON m.id = c.merged_into";
/// Complaints per page; the statement reads one more, as aduan's does, to know whether
/// another page follows.
const PAGE: usize = 50;
const ORDER: &str = "ORDER BY c.received_at, c.id LIMIT 51";
/// At most this many PostgreSQL connections (one client reads at a time).
const PG_CONNECTIONS: usize = 4;

#[derive(serde::Deserialize)]
struct ListQuery {
    status: Option<String>,
    q: Option<String>,
}

enum Db {
    Sqlite(r2d2::Pool<r2d2_sqlite::SqliteConnectionManager>),
    Pg(Box<PgConns>),
}

/// The plainest pool: connections opened when first needed, handed back as they are.
struct PgConns {
    options: PgConnectOptions,
    idle: Mutex<Vec<PgConnection>>,
    permits: Semaphore,
}

struct Lease<'a> {
    conns: &'a PgConns,
    conn: Option<PgConnection>,
    _permit: SemaphorePermit<'a>,
}

impl PgConns {
    async fn get(&self) -> anyhow::Result<Lease<'_>> {
        let permit = self.permits.acquire().await?;
        let idle = self
            .idle
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .pop();
        let conn = match idle {
            Some(c) => c,
            None => {
                let mut conn = PgConnection::connect_with(&self.options).await?;
                // Planned for each execution, as pgbench's simple protocol and aduan's
                // list do: a kept generic plan would skip the planning they pay for.
                sqlx::Executor::execute(&mut conn, "SET plan_cache_mode = force_custom_plan")
                    .await?;
                conn
            }
        };
        Ok(Lease {
            conns: self,
            conn: Some(conn),
            _permit: permit,
        })
    }
}

impl Lease<'_> {
    fn conn(&mut self) -> anyhow::Result<&mut PgConnection> {
        self.conn
            .as_mut()
            .ok_or_else(|| anyhow::anyhow!("no connection"))
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let (Some(c), Ok(mut idle)) = (self.conn.take(), self.conns.idle.lock()) {
            idle.push(c);
        }
    }
}

struct Failed(anyhow::Error);

impl<E: Into<anyhow::Error>> From<E> for Failed {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for Failed {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, format!("{:#}", self.0)).into_response()
    }
}

fn json(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `{"items":[{column: value, ...}, ...]}` from rows of (name, value) pairs.
struct Page(Vec<u8>);

impl Page {
    fn new() -> Self {
        let mut out = Vec::with_capacity(64 * 1024);
        out.extend_from_slice(b"{\"items\":[");
        Self(out)
    }
    fn row_start(&mut self, first: bool) {
        if !first {
            self.0.push(b',');
        }
        self.0.push(b'{');
    }
    fn field(
        &mut self,
        first: bool,
        name: &str,
        value: impl serde::Serialize,
    ) -> anyhow::Result<()> {
        if !first {
            self.0.push(b',');
        }
        serde_json::to_writer(&mut self.0, name)?;
        self.0.push(b':');
        serde_json::to_writer(&mut self.0, &value)?;
        Ok(())
    }
    fn row_end(&mut self) {
        self.0.push(b'}');
    }
    fn finish(mut self) -> Vec<u8> {
        self.0.extend_from_slice(b"]}");
        self.0
    }
}

fn sqlite_page(conn: &rusqlite::Connection, sql: &str, arg: &str) -> anyhow::Result<Vec<u8>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let names: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let mut rows = stmt.query([arg])?;
    let mut page = Page::new();
    let mut n = 0;
    while let Some(row) = rows.next()? {
        if n == PAGE {
            break;
        }
        page.row_start(n == 0);
        for (i, name) in names.iter().enumerate() {
            use rusqlite::types::ValueRef;
            match row.get_ref(i)? {
                ValueRef::Null => page.field(i == 0, name, ())?,
                ValueRef::Integer(v) => page.field(i == 0, name, v)?,
                ValueRef::Real(v) => page.field(i == 0, name, v)?,
                ValueRef::Text(v) => page.field(i == 0, name, std::str::from_utf8(v)?)?,
                ValueRef::Blob(v) => page.field(i == 0, name, v.len())?,
            }
        }
        page.row_end();
        n += 1;
    }
    Ok(page.finish())
}

async fn pg_page(conns: &PgConns, sql: &str, arg: &str) -> anyhow::Result<Vec<u8>> {
    let mut lease = conns.get().await?;
    let rows = sqlx::query(sql).bind(arg).fetch_all(lease.conn()?).await?;
    drop(lease);
    let mut page = Page::new();
    for (n, row) in rows.iter().take(PAGE).enumerate() {
        page.row_start(n == 0);
        for (i, col) in row.columns().iter().enumerate() {
            let first = i == 0;
            let name = col.name();
            match col.type_info().name() {
                "INT8" => page.field(first, name, row.try_get::<Option<i64>, _>(i)?)?,
                "INT4" => page.field(first, name, row.try_get::<Option<i32>, _>(i)?)?,
                "BOOL" => page.field(first, name, row.try_get::<Option<bool>, _>(i)?)?,
                "FLOAT8" => page.field(first, name, row.try_get::<Option<f64>, _>(i)?)?,
                "TEXT" | "VARCHAR" => {
                    page.field(first, name, row.try_get::<Option<&str>, _>(i)?)?
                }
                other => anyhow::bail!("column {name}: type {other} not handled"),
            }
        }
        page.row_end();
    }
    Ok(page.finish())
}

async fn list(State(db): State<Arc<Db>>, Query(q): Query<ListQuery>) -> Result<Response, Failed> {
    let body = match (&*db, q.q) {
        (Db::Sqlite(pool), Some(q)) => {
            let fts: Vec<String> = q.split_whitespace().map(|w| format!("\"{w}\"")).collect();
            let sql = format!(
                "{SELECT} WHERE TRUE AND c.id IN (SELECT rowid FROM complaints_fts WHERE complaints_fts MATCH ?1) {ORDER}"
            );
            sqlite_page(&*pool.get()?, &sql, &fts.join(" "))?
        }
        (Db::Sqlite(pool), None) => {
            let sql = format!("{SELECT} WHERE TRUE AND c.status = ?1 {ORDER}");
            sqlite_page(&*pool.get()?, &sql, q.status.as_deref().unwrap_or("new"))?
        }
        (Db::Pg(conns), Some(q)) => {
            let sql = format!(
                "{SELECT} WHERE TRUE AND c.search @@ plainto_tsquery('simple', $1) {ORDER}"
            );
            pg_page(conns, &sql, &q).await?
        }
        (Db::Pg(conns), None) => {
            let sql = format!("{SELECT} WHERE TRUE AND c.status = $1 {ORDER}");
            pg_page(conns, &sql, q.status.as_deref().unwrap_or("new")).await?
        }
    };
    Ok(json(body))
}

fn open(url: &str) -> anyhow::Result<Db> {
    if url.starts_with("postgres") {
        return Ok(Db::Pg(Box::new(PgConns {
            options: url.parse()?,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(PG_CONNECTIONS),
        })));
    }
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or(path).to_owned();
    // As aduan's connections (src/store/pool/sqlite.rs) and bench/queue_client.py.
    let setup = |c: &mut rusqlite::Connection| {
        c.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
             PRAGMA busy_timeout = 10000; PRAGMA mmap_size = 1073741824;",
        )
    };
    let manager = r2d2_sqlite::SqliteConnectionManager::file(path).with_init(setup);
    Ok(Db::Sqlite(
        r2d2::Pool::builder()
            .max_size(8)
            .min_idle(Some(1))
            .test_on_check_out(false)
            .build(manager)?,
    ))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, listen] = args.as_slice() else {
        anyhow::bail!("usage: queue_bare DATABASE_URL LISTEN_ADDR");
    };
    let db = Arc::new(open(url)?);
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/v1/complaints", get(list))
        .with_state(db);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
