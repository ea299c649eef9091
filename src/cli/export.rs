//! `aduan export`: the queue to CSV, with the list's filters. An anonymous reporter's
//! identity is never exported: the queue's list leaves it out, and so does the file
//! (its name, e-mail and phone columns are blank). Revealing one takes
//! `aduan complaints show --reveal-identity`, which is audited.

use std::io::Write;

use crate::queue::{Actor, AnswerRoutes, ListQuery, Queue, Role};
use crate::store::Store;

/// The columns, named as `aduan import` recognises them, so an export imports again.
pub const HEADERS: [&str; 17] = [
    "tracking_id",
    "date",
    "status",
    "channel",
    "channel_name",
    "category",
    "unit",
    "title",
    "body",
    "name",
    "email",
    "phone",
    "location",
    "anonymous",
    "confidential",
    "classification",
    "overdue",
];

/// Writes every complaint `filter` selects (its `after` and `limit` are the export's
/// own) to `out` as CSV, oldest first. Returns how many.
pub async fn export(store: &Store, filter: &ListQuery, out: &mut dyn Write) -> anyhow::Result<u64> {
    let queue = Queue::new(store.clone(), AnswerRoutes::default());
    // The whole queue, as a central role sees it in the list (never an anonymous
    // reporter's identity).
    let everyone = Actor {
        user_id: 0,
        username: "export".into(),
        role: Role::Coordinator,
        unit: None,
    };
    let mut w = csv::Writer::from_writer(out);
    w.write_record(HEADERS)?;
    let mut q = ListQuery {
        after: None,
        limit: Some(500),
        ..filter.clone()
    };
    let mut n = 0;
    loop {
        let page = queue
            .list(&everyone, &q)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for item in &page.items {
            let c = &item.record;
            // The list hid it already; the file holds to the same rule on its own.
            let reporter = c.reporter.as_ref().filter(|_| !c.anonymous);
            let who = |f: fn(&crate::store::ReporterRecord) -> Option<&String>| {
                reporter.and_then(f).cloned().unwrap_or_default()
            };
            w.write_record([
                c.tracking_id.clone(),
                c.received_at.to_rfc3339(),
                c.status.clone(),
                c.channel.clone(),
                c.channel_name.clone(),
                c.category.clone().unwrap_or_default(),
                c.unit.clone().unwrap_or_default(),
                c.title.clone(),
                c.body.clone(),
                who(|r| r.name.as_ref()),
                who(|r| r.email.as_ref()),
                who(|r| r.phone.as_ref()),
                c.location
                    .as_ref()
                    .and_then(|l| l.text.clone())
                    .unwrap_or_default(),
                c.anonymous.to_string(),
                c.confidential.to_string(),
                item.classification.clone().unwrap_or_default(),
                item.overdue.to_string(),
            ])?;
            n += 1;
        }
        match page.next {
            Some(next) => q.after = Some(next),
            None => break,
        }
    }
    w.flush()?;
    Ok(n)
}
