//! TLS to PostgreSQL: `sslmode` and `sslrootcert` in the database URL, against the local
//! server with a throwaway CA (`scripts/pg-tls.sh`, which `scripts/test.sh` runs).

use std::path::PathBuf;

use aduan::store::Store;
use sqlx::Row;

use crate::harness::{Backend, TestDb};

fn tls_dir() -> PathBuf {
    let dir = std::env::var("ADUAN_TEST_PG_TLS_DIR").unwrap_or_else(|_| {
        panic!(
            "ADUAN_TEST_PG_TLS_DIR is not set: run `scripts/pg-tls.sh` (as root) to turn TLS \
             on in the local PostgreSQL with a throwaway CA and export the directory it \
             prints (scripts/test.sh does both)"
        )
    });
    PathBuf::from(dir)
}

/// The test database's URL with `host` in place of 127.0.0.1 and `params` added.
fn url_of(db: &TestDb, host: &str, params: &str) -> String {
    let url = db.url.replacen("@127.0.0.1:", &format!("@{host}:"), 1);
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{params}")
}

async fn connect(db: &TestDb, url: &str) -> Result<Store, String> {
    Store::connect(url, &db.data_dir(), 4)
        .await
        .map_err(|e| format!("{e:#}"))
}

/// Every connection the store opened to the test database is encrypted.
async fn assert_all_encrypted(store: &Store, how: &str) {
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("{how}: migrate: {e}"));
    assert!(store
        .complaint("ABCD-EFGH")
        .await
        .unwrap_or_else(|e| panic!("{how}: read: {e}"))
        .is_none());
    let row = sqlx::query(
        "SELECT COUNT(*) FILTER (WHERE s.ssl) AS tls, COUNT(*) FILTER (WHERE NOT s.ssl) AS plain
           FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
          WHERE a.datname = current_database()",
    )
    .fetch_one(&store.pool_for_tests())
    .await
    .expect("pg_stat_ssl");
    let (tls, plain): (i64, i64) = (row.get("tls"), row.get("plain"));
    assert!(
        tls >= 1 && plain == 0,
        "{how}: {tls} TLS and {plain} plain connections"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_speaks_tls_to_postgres_as_the_url_asks() {
    let dir = tls_dir();
    let ca = dir.join("ca.crt");
    let other = dir.join("other-ca.crt");
    for f in [&ca, &other] {
        assert!(
            f.exists(),
            "{} is missing: run scripts/pg-tls.sh",
            f.display()
        );
    }
    let db = TestDb::new(Backend::Postgres).await;

    // Encrypted without checking the certificate, as libpq's `require`.
    let url = url_of(&db, "127.0.0.1", "sslmode=require");
    let store = connect(&db, &url).await.expect("sslmode=require");
    assert_all_encrypted(&store, "require").await;
    store.close().await;

    // The certificate is checked against sslrootcert; the name is not.
    let url = url_of(
        &db,
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={}", ca.display()),
    );
    let store = connect(&db, &url).await.expect("verify-ca");
    assert_all_encrypted(&store, "verify-ca").await;
    store.close().await;

    // The certificate and the host name (the certificate names `localhost` only).
    let url = url_of(
        &db,
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={}", ca.display()),
    );
    let store = connect(&db, &url).await.expect("verify-full by name");
    assert_all_encrypted(&store, "verify-full").await;
    store.close().await;

    // Refused: a host name the certificate does not carry, and a CA that did not sign it.
    let url = url_of(
        &db,
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={}", ca.display()),
    );
    let err = connect(&db, &url)
        .await
        .err()
        .expect("verify-full refuses a name the certificate does not carry");
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    for mode in ["verify-ca", "verify-full"] {
        let url = url_of(
            &db,
            "localhost",
            &format!("sslmode={mode}&sslrootcert={}", other.display()),
        );
        let err = connect(&db, &url)
            .await
            .err()
            .unwrap_or_else(|| panic!("{mode} trusts only sslrootcert"));
        assert!(err.to_lowercase().contains("certificate"), "{mode}: {err}");
    }
}
