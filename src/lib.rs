//! salesingest: gather a self-published author's sales from every platform into one SQLite
//! database, through a crash-safe job queue driven by cron.
//!
//! Imports point down only: `main → cli → ingest → {store, platforms, output, config} →
//! {queue, model}`.

pub mod cli;
pub mod config;
pub mod dashboard;
pub mod exit;
pub mod ingest;
pub mod model;
pub mod notify;
pub mod output;
pub mod payouts;
pub mod platforms;
pub mod queue;
pub mod report;
pub mod report_views;
pub mod serve;
pub mod store;
