//! Between the CLI and the store: the job handler that runs each claimed job, and everything
//! that puts work into the queue.
//!
//! - `handler.rs`: the job handler `run-worker` uses: decode a job's input, run the platform
//!   adapter, stage or upsert its events through the store, classify failures;
//! - `staging.rs`: a big file parsed on one thread while its events are staged on another;
//! - `check.rs`: checking a report file at enqueue time (by platform, or recognised by content)
//!   and keeping it in the blob store;
//! - `enqueue.rs`: enqueueing checked files, syncs and due schedules;
//! - `inbox.rs`: collecting files from folders, and the inbox scan.
//!
//! Owns: wiring adapters to the store. Must not: parse formats itself or write SQL.

mod check;
mod enqueue;
mod handler;
mod inbox;
mod pass;
mod staging;
pub mod views;

pub use check::{
    check_detected, check_file, check_file_unless, sha256_file, CheckError, CheckedFile,
    DetectFailure,
};
pub use enqueue::{
    enqueue_checked, enqueue_ping, fire_schedules, import_file, import_file_as, sync_job,
    EnqueueOptions, FileEnqueue, FileOutcome, FileStatus, Fired, PingEnqueue,
};
pub use handler::{classify, IngestHandler};
pub use inbox::{collect_files, scan_inbox};
pub use pass::{run_pass, Pass};
