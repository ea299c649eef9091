//! The audit trail's one writer: every workflow action, identity view, scheduled change
//! and intake event records an event through [`audit_on`], in the transaction that
//! makes it; a change of status or an approved answer is also recorded there as an
//! event for the forwarders.

use super::time::now_micros;

#[allow(clippy::too_many_arguments)]
pub(crate) async fn audit_on(
    conn: &mut sqlx::AnyConnection,
    complaint_id: i64,
    actor: &str,
    action: &str,
    reason: Option<&str>,
    before: Option<&str>,
    after: Option<&str>,
    public: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_events (complaint_id, actor, action, reason, before_state, after_state, public, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(complaint_id)
    .bind(actor)
    .bind(action)
    .bind(reason)
    .bind(before)
    .bind(after)
    .bind(public)
    .bind(now_micros())
    .execute(&mut *conn)
    .await?;
    super::record_change(conn, complaint_id, action, before, after).await
}
