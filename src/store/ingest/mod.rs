//! Intake into the store. Every inbound item goes through one writer task that groups
//! whatever is waiting into one transaction (group commit). Callers are answered only
//! after the commit, so a 201, a webhook 2xx, an IMAP `\Seen` or a cursor advance always
//! follows a durable write; and many concurrent requests cost one fsync instead of one
//! each.
//!
//! The parts, each depending only on those before it: the rows an item becomes and the
//! multi-row insert ([`rows`]); which complaint a message follows up on ([`threads`]);
//! one item at a time, with edits, removals, rejects and receipts ([`item`]); a whole
//! batch of plain new complaints at once ([`batch`]); the writer tasks and their careful
//! retry ([`writer`]); and the sink connectors commit through ([`sink`]).

mod batch;
mod item;
mod rows;
mod sink;
mod threads;
mod writer;

pub use sink::StoreSink;
pub(crate) use writer::is_transient;
pub use writer::IngestWriter;
