//! aduan: collects citizens' complaints from every channel into one SP4N-LAPOR! queue.

pub mod app;
pub mod cli;
pub mod config;
pub mod dispatch;
pub mod forward;
pub mod http;
pub mod queue;
pub mod registry;
pub mod store;
pub mod supervisor;
pub mod telemetry;

/// Tracking numbers live in the connector kit so channels can recognize them too.
pub use aduan_kit::tracking;
