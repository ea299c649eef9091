//! One integration test binary (links once): the store on both back ends, the HTTP
//! surface, the runtime, and the built binary end to end.

mod api;
mod blobs;
mod console;
mod docs;
mod e2e;
mod email;
mod facebook;
mod fault;
mod form;
mod forwards;
pub mod harness;
mod import;
mod lease;
mod login;
mod open311;
mod pg_tls;
mod privacy;
mod queue;
mod runtime;
mod server;
mod store;
mod telegram;
mod threads;
mod webhook;
mod whatsapp;
mod x;
