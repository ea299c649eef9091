//! Merge: a complaint that duplicates another joins it. Its thread, messages,
//! attachments and revisions move to the survivor, which answers both reporters.

use sqlx::Row;

use super::{Acting, Change};
use crate::queue::error::QueueError;
use crate::queue::sql::Arg;
use crate::queue::workflow::Refusal;

pub(super) async fn merge(
    cx: &Acting<'_>,
    conn: &mut sqlx::AnyConnection,
) -> Result<Change, QueueError> {
    let row = cx.row;
    let into = cx
        .req
        .into
        .as_deref()
        .ok_or_else(|| Refusal::Invalid("merge: give `into`".into()))?;
    let target = sqlx::query("SELECT id, status, unit FROM complaints WHERE tracking_id = $1")
        .bind(into)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Refusal::Invalid(format!("merge: no complaint {into}")))?;
    let target_id: i64 = target.try_get(0)?;
    let target_status: String = target.try_get(1)?;
    if target_id == row.id || matches!(target_status.as_str(), "merged" | "rejected" | "archived") {
        return Err(Refusal::Invalid(format!(
            "merge: {into} cannot take other complaints ({target_status})"
        ))
        .into());
    }
    // The thread follows: later replies to this complaint join the survivor.
    sqlx::query("UPDATE thread_keys SET complaint_id = $1 WHERE complaint_id = $2")
        .bind(target_id)
        .bind(row.id)
        .execute(&mut *conn)
        .await?;
    // Its messages move to the survivor: the first one (the complaint itself, with its
    // raw original and attachments) becomes a message there, without the provider's id
    // when its reporter chose to be anonymous; its other messages keep theirs (later
    // edits and duplicates are found by them) but are marked, so that no reader of the
    // survivor's thread sees them.
    let first_id: i64 = sqlx::query_scalar(
        "INSERT INTO messages (complaint_id, direction, channel, channel_name, external_id, body, at,
             raw_content_type, raw, public, anonymous)
         SELECT $1, 'in', channel, channel_name,
             CASE WHEN anonymous THEN 'merged:' || tracking_id ELSE external_id END,
             title || '\n\n' || body, received_at,
             raw_content_type, raw, $2, anonymous
         FROM complaints WHERE id = $3 RETURNING id",
    )
    .bind(target_id)
    .bind(false)
    .bind(row.id)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE attachments SET complaint_id = $1, message_id = $2 WHERE complaint_id = $3 AND message_id IS NULL",
    )
    .bind(target_id)
    .bind(first_id)
    .bind(row.id)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE attachments SET complaint_id = $1 WHERE complaint_id = $2")
        .bind(target_id)
        .bind(row.id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE message_revisions SET complaint_id = $1, message_id = COALESCE(message_id, $2) WHERE complaint_id = $3",
    )
    .bind(target_id)
    .bind(first_id)
    .bind(row.id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(if row.anonymous {
        "UPDATE messages SET complaint_id = $1, anonymous = TRUE WHERE complaint_id = $2 AND id <> $3"
    } else {
        "UPDATE messages SET complaint_id = $1 WHERE complaint_id = $2 AND id <> $3"
    })
    .bind(target_id)
    .bind(row.id)
    .bind(first_id)
    .execute(&mut *conn)
    .await?;
    let mut change = Change::default();
    change.set("merged_into", Arg::Int(target_id));
    change.detail = Some(format!("into={into}"));
    Ok(change)
}
