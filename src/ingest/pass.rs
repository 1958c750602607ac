//! One worker pass, as `run-worker` runs it and `serve` (`POST /api/run`, `--worker`) too:
//! fire the due schedules, scan the inbox, then claim and run up to `batch` jobs.

use anyhow::Result;

use super::{fire_schedules, scan_inbox, FileOutcome, Fired, IngestHandler};
use crate::config::Settings;
use crate::queue::worker::{self, JobReport, RunReport, WorkerConfig};
use crate::store::{OpenOptions, Store};

/// What one pass did.
#[derive(Debug)]
pub struct Pass {
    pub fired: Vec<Fired>,
    pub inbox: Vec<FileOutcome>,
    /// The worker's report; its `warnings` start with the inbox scan's.
    pub report: RunReport,
}

/// Run one pass. `announce` is told what the schedules and the inbox did before any job runs;
/// `on_job` after each job.
///
/// # Errors
/// Store errors.
pub fn run_pass(
    db: &dyn Store,
    settings: &Settings,
    open: &OpenOptions,
    cfg: &WorkerConfig,
    progress: bool,
    announce: &mut dyn FnMut(&[Fired], &[FileOutcome]),
    on_job: &mut dyn FnMut(&JobReport),
) -> Result<Pass> {
    let fired = fire_schedules(db, settings)?;
    let (inbox, mut early_warnings) = match &settings.inbox_path {
        Some(dir) => scan_inbox(db, settings, dir)?,
        None => (Vec::new(), Vec::new()),
    };
    announce(&fired, &inbox);
    let mut handler = IngestHandler {
        db,
        settings,
        progress,
    };
    // The heartbeat thread's own connection to the same store.
    let (location, opts) = (settings.db.clone(), open.clone());
    let open_hb = move || -> Result<Box<dyn crate::queue::JobStore + Send>> {
        Ok(crate::store::open(&location, &opts)?.into_queue())
    };
    let mut report = worker::run(db.queue(), &open_hb, &mut handler, cfg, on_job)?;
    early_warnings.append(&mut report.warnings);
    report.warnings = early_warnings;
    Ok(Pass {
        fired,
        inbox,
        report,
    })
}
