//! The worker loop behind `run-worker`: record the run, rescue orphans, then claim → handle →
//! fenced completion, one job at a time, with a heartbeat thread renewing the lease.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::Duration;

use super::retry::{Retention, RetryPolicy};
use super::{
    owner_is_dead, ClaimRequest, ClaimedJob, Effects, EventCounts, FailDecision, Heartbeat,
    JobError, JobResult, JobState, JobStore, Lease, Millis, RunCounts, WorkerId,
};

/// What a job handler does with a claimed job.
pub trait Handler {
    /// Run the job. Long handlers should check `ctl.should_stop()` now and then.
    ///
    /// # Errors
    /// A classified `JobError`; the queue decides retry or failure.
    fn handle(
        &mut self,
        job: &ClaimedJob,
        ctl: &JobControl,
    ) -> Result<(JobResult, Effects), JobError>;
}

const LOST: u8 = 1;
const CANCEL: u8 = 2;

/// Signals from the heartbeat to the running handler.
#[derive(Debug, Clone, Default)]
pub struct JobControl {
    flag: Arc<AtomicU8>,
}

impl JobControl {
    /// `Some(error)` when the handler should stop: the lease was lost or a cancel was requested.
    pub fn should_stop(&self) -> Option<JobError> {
        match self.flag.load(Ordering::SeqCst) {
            LOST => Some(JobError::Aborted {
                cancelled: false,
                message: "lease lost: another worker took the job over".into(),
            }),
            CANCEL => Some(JobError::Aborted {
                cancelled: true,
                message: "cancelled by the user while running".into(),
            }),
            _ => None,
        }
    }
}

/// Settings for one `run-worker` invocation.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub batch: u32,
    pub platform: Option<String>,
    pub lease_ms: i64,
    pub policy: RetryPolicy,
    pub retention: Retention,
    /// The command line, recorded in the cron-run row.
    pub args: String,
}

/// What happened to one job in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobReport {
    pub id: i64,
    pub platform: String,
    pub status: JobState,
    pub attempt: i64,
    pub error: Option<String>,
    pub events: EventCounts,
}

/// What one `run-worker` invocation did.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub run_id: i64,
    pub started_at: Millis,
    pub finished_at: Millis,
    pub counts: RunCounts,
    pub jobs: Vec<JobReport>,
    pub exit_code: i32,
    /// Problems that did not fail the run.
    pub warnings: Vec<String>,
}

/// Opens a second store handle for the heartbeat thread (its own connection).
pub type StoreFactory<'a> = dyn Fn() -> anyhow::Result<Box<dyn JobStore + Send>> + Sync + 'a;

/// Run one worker invocation: at most `cfg.batch` jobs, then return.
///
/// # Errors
/// Database errors that stop the run (the cron-run row is still finished with exit code 1 when
/// possible).
pub fn run(
    store: &dyn JobStore,
    open_heartbeat: &StoreFactory<'_>,
    handler: &mut dyn Handler,
    cfg: &WorkerConfig,
    on_job: &mut dyn FnMut(&JobReport),
) -> anyhow::Result<RunReport> {
    let me = WorkerId::current();
    let (run_id, started_at) = store.start_run(&me, &cfg.args)?;
    let mut report = RunReport {
        run_id,
        started_at,
        finished_at: started_at,
        counts: RunCounts::default(),
        jobs: Vec::new(),
        exit_code: 0,
        warnings: Vec::new(),
    };
    let outcome = run_inner(
        store,
        open_heartbeat,
        handler,
        cfg,
        &me,
        &mut report,
        on_job,
    );
    report.exit_code = match &outcome {
        Err(_) => 1,
        Ok(()) if report.counts.failed > 0 => 3,
        Ok(()) => 0,
    };
    let finished = store.finish_run(run_id, &report.counts, report.exit_code);
    outcome?;
    report.finished_at = finished?;
    Ok(report)
}

fn run_inner(
    store: &dyn JobStore,
    open_heartbeat: &StoreFactory<'_>,
    handler: &mut dyn Handler,
    cfg: &WorkerConfig,
    me: &WorkerId,
    report: &mut RunReport,
    on_job: &mut dyn FnMut(&JobReport),
) -> anyhow::Result<()> {
    let host = me.host().to_string();
    let rescued = store.rescue(&|owner| owner_is_dead(owner, &host))?;
    report.counts.rescued = rescued.len() as u64;

    // One heartbeat thread for the whole run. It renews whatever lease is in `running` at each
    // tick; the worker only swaps that slot as jobs start and stop, so a job that ends before
    // a tick (nearly all of them) costs the thread nothing (a thread per job was a sixth of a
    // no-op job's cost, a message per job a tenth).
    let running = Mutex::new(None::<Running>);
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let slot = &running;
        scope.spawn(move || heartbeat_thread(&stop_rx, slot, open_heartbeat, cfg.lease_ms));
        // Dropped when this closure returns (also on error): the thread stops at once.
        let _stop = stop_tx;
        let req = ClaimRequest {
            owner: me,
            run_id: Some(report.run_id),
            platform: cfg.platform.as_deref(),
            lease_ms: cfg.lease_ms,
        };
        let mut next = if cfg.batch > 0 {
            store.claim(&req)?
        } else {
            None
        };
        while let Some(job) = next.take() {
            report.counts.claimed += 1;
            let outcome = run_with_heartbeat(slot, handler, &job);
            // The next job is claimed in the transaction that records this one (one commit per
            // job), unless the batch is used up.
            let more = report.counts.claimed < u64::from(cfg.batch);
            let (job_report, claimed) = record(
                store,
                cfg,
                &job,
                outcome,
                &mut report.counts,
                more.then_some(&req),
            )?;
            on_job(&job_report);
            report.jobs.push(job_report);
            next = claimed;
        }
        Ok(())
    })?;
    // Retention is upkeep: a failure here is reported but never fails the run.
    if let Err(e) = store.prune(&cfg.retention) {
        report
            .warnings
            .push(format!("pruning old jobs failed: {e:#}"));
    }
    Ok(())
}

/// The job the heartbeat thread renews: its lease, and the flag through which the thread tells
/// the handler to stop.
struct Running {
    lease: Lease,
    flag: Arc<AtomicU8>,
}

/// Renew the running job's lease every `lease_ms / 3` on its own connection (opened at the first
/// beat: most jobs end long before it), until the worker drops its end of `stop`. A job's lease
/// is renewed at most one interval after its claim, as the lease (three intervals) requires. A
/// beat that comes late, after its job was recorded, finds the lease gone and changes nothing
/// (the renewal is fenced like every write of an attempt), and its flag is no longer read.
fn heartbeat_thread(
    stop: &mpsc::Receiver<()>,
    running: &Mutex<Option<Running>>,
    open_heartbeat: &StoreFactory<'_>,
    lease_ms: i64,
) {
    let interval = Duration::from_millis(u64::try_from((lease_ms / 3).max(100)).unwrap_or(1000));
    let mut hb_store: Option<Box<dyn JobStore + Send>> = None;
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(interval) {
        let current = lock(running)
            .as_ref()
            .map(|r| (r.lease.clone(), r.flag.clone()));
        let Some((lease, flag)) = current else {
            continue;
        };
        if hb_store.is_none() {
            // A failed open is retried at the next beat; the lease has room for two more.
            hb_store = open_heartbeat().ok();
        }
        let Some(store) = hb_store.as_ref() else {
            continue;
        };
        match store.heartbeat(&lease, lease_ms) {
            Ok(Heartbeat::Held {
                cancel_requested: true,
            }) => flag.store(CANCEL, Ordering::SeqCst),
            Ok(Heartbeat::Lost) => {
                flag.store(LOST, Ordering::SeqCst);
                // Stop renewing it, unless the worker has moved on to another job meanwhile.
                let mut slot = lock(running);
                if slot.as_ref().is_some_and(|r| r.lease == lease) {
                    *slot = None;
                }
            }
            // A busy database delays one beat; the lease has room for two more.
            Ok(Heartbeat::Held { .. }) | Err(_) => {}
        }
    }
}

/// The slot holds plain data, so a panic elsewhere cannot leave it half-written.
fn lock(running: &Mutex<Option<Running>>) -> std::sync::MutexGuard<'_, Option<Running>> {
    running.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Run the handler while the heartbeat thread renews the job's lease.
fn run_with_heartbeat(
    running: &Mutex<Option<Running>>,
    handler: &mut dyn Handler,
    job: &ClaimedJob,
) -> Result<(JobResult, Effects), JobError> {
    let ctl = JobControl::default();
    *lock(running) = Some(Running {
        lease: job.lease.clone(),
        flag: ctl.flag.clone(),
    });
    let out = handler.handle(job, &ctl);
    *lock(running) = None;
    match (out, ctl.should_stop()) {
        (Ok(_), Some(stop)) | (Err(_), Some(stop)) => Err(stop),
        (out, None) => out,
    }
}

/// Record a job's outcome under its lease fence and, when `next` is given, claim the next job
/// (in the same transaction when the job completed).
fn record(
    store: &dyn JobStore,
    cfg: &WorkerConfig,
    job: &ClaimedJob,
    outcome: Result<(JobResult, Effects), JobError>,
    counts: &mut RunCounts,
    next: Option<&ClaimRequest<'_>>,
) -> anyhow::Result<(JobReport, Option<ClaimedJob>)> {
    let mut rep = JobReport {
        id: job.id,
        platform: job.platform.clone(),
        status: JobState::Processing,
        attempt: job.lease.claim,
        error: None,
        events: EventCounts::default(),
    };
    let mut claimed = None;
    match outcome {
        Ok((result, effects)) => {
            let done = match next {
                Some(req) => {
                    let (done, job) =
                        store.complete_then_claim(&job.lease, &result, &effects, req)?;
                    claimed = job;
                    done
                }
                None => store.complete(&job.lease, &result, &effects)?,
            };
            match done {
                Some(done) => {
                    counts.completed += 1;
                    rep.status = JobState::Completed;
                    rep.events = done.events;
                }
                None => rep.error = Some(LEASE_LOST.into()),
            }
        }
        Err(error) => {
            if let Some(fault) = store.fault() {
                // The store itself failed (disk full, connection lost, server gone), not the
                // job: give the attempt back, due at once (best effort: the store may refuse
                // this write too, and then the next run rescues the job), and stop the run, so
                // that no job burns its attempts on a fault of the machine.
                let _ = store.fail(&job.lease, &error, &FailDecision::Snooze { after_ms: 0 });
                anyhow::bail!("{fault}");
            }
            let decision =
                cfg.policy
                    .decide(&error, job.attempts, job.max_attempts, fastrand::f64());
            if store.fail(&job.lease, &error, &decision)? {
                rep.status = match decision {
                    FailDecision::Retry { .. } | FailDecision::Snooze { .. } => {
                        counts.retrying += 1;
                        JobState::Retrying
                    }
                    FailDecision::Fail => {
                        counts.failed += 1;
                        JobState::Failed
                    }
                    FailDecision::Cancel => JobState::Cancelled,
                };
                rep.error = Some(error.message().to_string());
            } else {
                rep.error = Some(LEASE_LOST.into());
            }
            if let Some(req) = next {
                claimed = store.claim(req)?;
            }
        }
    }
    Ok((rep, claimed))
}

const LEASE_LOST: &str =
    "lease lost: another worker took the job over, so this attempt's result was discarded";
