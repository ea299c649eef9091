//! The admin queue: the SP4N-LAPOR! workflow ([`workflow`]), units and people
//! ([`people`]), the queue's operations ([`service`]), the working-day calendar
//! ([`calendar`]), the scheduled jobs that keep deadlines ([`jobs`]) and what the
//! console reads besides the queue ([`insight`]).

pub mod calendar;
mod claims;
pub mod insight;
pub mod jobs;
pub mod people;
pub mod service;
pub mod workflow;

pub use service::{
    answer_message_body, Acted, ActionRequest, AnswerRoutes, DeliveryState, ListQuery, Page, Queue,
    QueueError, QueueItem,
};
pub use workflow::{ActionKind, Actor, Refusal, Role, Status};
