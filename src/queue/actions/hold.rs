//! Hold and resume: a held complaint waits, with the reason given, and resumes in the
//! status it was held from.

use super::{Acting, Change, Set};
use crate::queue::sql::Arg;

pub(super) fn hold(cx: &Acting<'_>) -> Change {
    let mut change = Change::default();
    change.set("held_from", Arg::Text(cx.row.status.as_str().into()));
    change
}

/// Where it resumes, [`plan`](crate::queue::workflow::plan) decided from `held_from`.
pub(super) fn resume() -> Change {
    let mut change = Change::default();
    change.sets.push(Set::Null("held_from"));
    change
}
