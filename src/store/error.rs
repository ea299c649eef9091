//! What can go wrong in the store.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("attachment storage: {0}")]
    Blob(#[from] std::io::Error),
    #[error("the ingest writer has stopped")]
    WriterStopped,
    /// The batch was produced under a lease another instance has since taken over:
    /// nothing of it was kept, and the source must not acknowledge it.
    #[error("channel {channel}: lease generation {generation} was taken over; batch refused")]
    LeaseLost {
        channel: aduan_kit::ChannelName,
        generation: i64,
    },
    /// A part of the daemon a request needs is not there (stopped, or not built for this
    /// back end): the server's failure, not the caller's.
    #[error("{0}")]
    Unavailable(&'static str),
    #[error("{0}")]
    Invalid(String),
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database connection: {0}")]
    SqlitePool(#[from] r2d2::Error),
}
