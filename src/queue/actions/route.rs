//! Where a complaint is worked: the coordinator forwards it to a unit, and a unit
//! says it is not its authority (it goes back to the coordinator to forward again).
//! Either way the unit's deadline starts over.

use super::{Acting, Change, Set};
use crate::queue::error::QueueError;
use crate::queue::sql::Arg;
use crate::queue::workflow::Refusal;

pub(super) async fn forward(
    cx: &Acting<'_>,
    conn: &mut sqlx::AnyConnection,
) -> Result<Change, QueueError> {
    let unit = cx
        .req
        .unit
        .as_deref()
        .ok_or_else(|| Refusal::Invalid("forward: give the unit".into()))?;
    let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM units WHERE code = $1")
        .bind(unit)
        .fetch_optional(conn)
        .await?;
    if exists.is_none() {
        return Err(Refusal::Invalid(format!("forward: no unit {unit:?}")).into());
    }
    let mut change = Change::default();
    change.set("unit", Arg::Text(unit.to_owned()));
    change.recompute_due();
    change.detail = Some(format!("unit={unit}"));
    Ok(change)
}

pub(super) fn not_authority(cx: &Acting<'_>) -> Change {
    let mut change = Change::default();
    change.recompute_due();
    change.sets.push(Set::Null("unit"));
    change.detail = cx.row.unit.as_ref().map(|u| format!("unit={u}"));
    change
}
