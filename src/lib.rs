//! salesingest: gather a self-published author's sales from every platform into one SQLite
//! database, through a crash-safe job queue driven by cron.
//!
//! Imports point down only: `cli → ingest → {store, platforms, output, config} → {queue, model}`.

pub mod model;
pub mod platforms;
