//! The admin queue: the SP4N-LAPOR! workflow ([`workflow`]), units and people
//! ([`people`]), the queue's operations ([`service`]), the working-day calendar
//! ([`calendar`]) and the scheduled jobs that keep deadlines ([`jobs`]).

pub mod calendar;
mod claims;
pub mod jobs;
pub mod people;
pub mod service;
pub mod workflow;

pub use service::{
    Acted, ActionRequest, AnswerRoutes, ListQuery, Page, Queue, QueueError, QueueItem,
};
pub use workflow::{ActionKind, Actor, Refusal, Role, Status};
