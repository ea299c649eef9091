//! Verify: the coordinator confirms a new complaint, classifies it and may correct
//! its title and the reporter's wishes.

use super::{Acting, Change, Set};
use crate::queue::error::QueueError;
use crate::queue::sql::Arg;
use crate::queue::workflow::Refusal;

pub const CLASSIFICATIONS: [&str; 3] = ["pengaduan", "aspirasi", "permintaan_informasi"];

pub(super) async fn verify(
    cx: &Acting<'_>,
    conn: &mut sqlx::AnyConnection,
) -> Result<Change, QueueError> {
    let req = cx.req;
    let mut change = Change::default();
    if let Some(c) = &req.classification {
        if !CLASSIFICATIONS.contains(&c.as_str()) {
            return Err(Refusal::Invalid(format!(
                "classification: one of {}",
                CLASSIFICATIONS.join(", ")
            ))
            .into());
        }
        change.set("classification", Arg::Text(c.clone()));
    }
    if let Some(c) = &req.category {
        let known: Option<i64> = sqlx::query_scalar("SELECT 1 FROM categories WHERE code = $1")
            .bind(c)
            .fetch_optional(&mut *conn)
            .await?;
        if known.is_none() {
            return Err(Refusal::Invalid(format!("category: no category {c:?}")).into());
        }
        change.set("category", Arg::Text(c.clone()));
    }
    if let Some(t) = req
        .title
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        change.set("title", Arg::Text(t.to_owned()));
    }
    if let Some(a) = req.anonymous {
        if a != cx.row.anonymous {
            change.anonymity = Some(if a {
                "anonymity_set"
            } else {
                "anonymity_lifted"
            });
        }
        change.sets.push(Set::Flag("anonymous", a));
    }
    if let Some(c) = req.confidential {
        change.sets.push(Set::Flag("confidential", c));
    }
    change.recompute_due();
    Ok(change)
}
