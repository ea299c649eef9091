//! The admin queue: the SP4N-LAPOR! workflow ([`workflow`]), units and people
//! ([`people`]), the queue and its operations on one complaint ([`service`]), its list
//! ([`list`]), the workflow actions ([`actions`]), the working-day calendar
//! ([`calendar`]), the scheduled jobs that keep deadlines ([`jobs`]) and what the
//! console reads besides the queue ([`insight`]).
//!
//! Below those, shared one way: a complaint as the queue shows it (`item`), the
//! error (`error`), the audit writer (`audit`) and statement arguments (`sql`).

pub mod actions;
mod audit;
pub mod calendar;
mod claims;
mod error;
pub mod insight;
mod item;
pub mod jobs;
pub mod list;
pub mod people;
pub mod service;
mod sql;
pub mod workflow;

pub use actions::{answer_message_body, Acted, ActionRequest};
pub use error::QueueError;
pub use item::{DeliveryState, QueueItem};
pub use list::{ListQuery, Page};
pub use service::{AnswerRoutes, Queue};
pub use workflow::{ActionKind, Actor, Refusal, Role, Status};
