//! How the queue names actors in the audit trail; the trail's one writer, [`audit_on`],
//! is the store's, as intake records events too.

use super::workflow::Actor;
pub(crate) use crate::store::audit_on;

/// How an admin is named in the audit trail.
pub(super) fn actor_label(actor: &Actor) -> String {
    format!("user:{}", actor.username)
}
