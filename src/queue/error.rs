//! What a queue operation fails with.

use super::workflow::Refusal;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("claimed by {0} until their claim expires or is released")]
    ClaimedByOther(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for QueueError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(StoreError::Db(e))
    }
}
