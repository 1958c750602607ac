//! The worker loop behind `run-worker`: record the run, rescue orphans, then claim → handle →
//! fenced completion, one job at a time, with a heartbeat thread renewing the leases. Quick jobs
//! are claimed in growing windows (up to `[queue] window`) and recorded together with the next claim.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

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
    /// The most jobs claimed at once once jobs prove quick (`[queue] window`; 1: one at a time,
    /// each recorded with the claim of the next).
    pub window: u32,
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
        let mut held = VecDeque::new();
        if cfg.batch > 0 {
            held.extend(store.claim(&req)?);
        }
        report.counts.claimed += held.len() as u64;
        let mut window = Window::new(cfg.window);
        // Quick jobs that completed without effects, recorded together with the next claim.
        let mut pending: Vec<(ClaimedJob, JobResult)> = Vec::new();
        let mut drain = || -> anyhow::Result<()> {
            loop {
                let remaining = u64::from(cfg.batch).saturating_sub(report.counts.claimed);
                let Some(job) = held.pop_front() else {
                    // The window is used up: record its quick jobs and claim the next window in one
                    // transaction (one commit for the lot).
                    let limit = window
                        .next_size()
                        .min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    let claimed = flush(store, &mut pending, &req, limit, report, on_job)?;
                    if claimed.is_empty() {
                        return Ok(());
                    }
                    report.counts.claimed += claimed.len() as u64;
                    held.extend(claimed);
                    continue;
                };
                let waiting = held
                    .iter()
                    .chain(pending.iter().map(|(j, _)| j))
                    .map(|j| j.lease.clone())
                    .collect();
                let started = Instant::now();
                let outcome = run_with_heartbeat(slot, handler, &job, waiting);
                // A quick success with nothing to publish waits for the window's commit; anything
                // else is recorded now and sends the window back to one job.
                let batched = started.elapsed() < QUICK
                    && matches!(&outcome, Ok((_, effects)) if *effects == Effects::default());
                window.saw(batched);
                match outcome {
                    Ok((result, _)) if batched => pending.push((job, result)),
                    outcome => {
                        // Recorded at once, and the quick jobs before it first, so that no finished
                        // job waits for the next one; the next job is claimed in the same
                        // transaction when none is held, as one at a time always did.
                        flush(store, &mut pending, &req, 0, report, on_job)?;
                        let more = held.is_empty() && remaining > 0;
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
                        if let Some(next) = claimed {
                            report.counts.claimed += 1;
                            held.push_back(next);
                        }
                    }
                }
            }
        };
        let drained = drain();
        if drained.is_err() {
            // The run stops (a fault of the store, most often): give the jobs of the window that
            // never started their attempt back, due at once, as the running job's is (best
            // effort: the store may refuse these writes too, and then the next run rescues them).
            let stopped = JobError::Transient("the run stopped before this job started".into());
            for job in &held {
                let _ = store.fail(&job.lease, &stopped, &FailDecision::Snooze { after_ms: 0 });
            }
        }
        drained
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
    /// The worker's other leases: jobs of the window not started yet, and quick jobs finished
    /// but not yet recorded. Renewed with the running one, so none expires behind a slow job.
    waiting: Vec<Lease>,
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
            .map(|r| (r.lease.clone(), r.flag.clone(), r.waiting.clone()));
        let Some((lease, flag, waiting)) = current else {
            continue;
        };
        if hb_store.is_none() {
            // A failed open is retried at the next beat; the lease has room for two more.
            hb_store = open_heartbeat().ok();
        }
        let Some(store) = hb_store.as_ref() else {
            continue;
        };
        for other in &waiting {
            // A lost one is found by its fenced completion (or its own beats once it runs).
            let _ = store.heartbeat(other, lease_ms);
        }
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
    waiting: Vec<Lease>,
) -> Result<(JobResult, Effects), JobError> {
    let ctl = JobControl::default();
    *lock(running) = Some(Running {
        lease: job.lease.clone(),
        flag: ctl.flag.clone(),
        waiting,
    });
    let out = handler.handle(job, &ctl);
    *lock(running) = None;
    match (out, ctl.should_stop()) {
        (Ok(_), Some(stop)) | (Err(_), Some(stop)) => Err(stop),
        (out, None) => out,
    }
}

/// The most jobs a worker claims at once by default (`[queue] window`), the most it may be set
/// to, and how quick each job must be for the next window to grow (doubling from one). Jobs of a
/// few milliseconds (webhook pings, small syncs) then share one commit per window; a slower job
/// sends the window back to one job at a time, so no job of the window waits behind a long one
/// for long, and workers never hoard jobs of that kind.
pub const DEFAULT_WINDOW: u32 = 16;
pub const MAX_WINDOW: u32 = 64;
const QUICK: Duration = Duration::from_millis(20);

/// The size of the next claim window.
struct Window {
    size: usize,
    max: usize,
    all_quick: bool,
}

impl Window {
    fn new(max: u32) -> Window {
        Window {
            size: 1,
            max: usize::try_from(max.max(1)).unwrap_or(1),
            all_quick: true,
        }
    }

    fn saw(&mut self, batched: bool) {
        if !batched {
            self.size = 1;
            self.all_quick = false;
        }
    }

    /// Twice the last window when all its jobs were quick, else one.
    fn next_size(&mut self) -> usize {
        if self.all_quick {
            self.size = (self.size * 2).min(self.max);
        }
        self.all_quick = true;
        self.size
    }
}

/// Record the pending quick jobs (each under its own fence) and claim up to `limit` more, in one
/// transaction; report each recorded job.
fn flush(
    store: &dyn JobStore,
    pending: &mut Vec<(ClaimedJob, JobResult)>,
    req: &ClaimRequest<'_>,
    limit: usize,
    report: &mut RunReport,
    on_job: &mut dyn FnMut(&JobReport),
) -> anyhow::Result<Vec<ClaimedJob>> {
    let (recorded, claimed) = match (pending.as_slice(), limit) {
        ([], 0) => return Ok(Vec::new()),
        // One job and one claim: the backends' one-job statement.
        ([(job, result)], 1) => {
            let (done, next) =
                store.complete_then_claim(&job.lease, result, &Effects::default(), req)?;
            (vec![done], next.into_iter().collect())
        }
        (jobs, limit) => {
            let done: Vec<(Lease, JobResult)> = jobs
                .iter()
                .map(|(j, r)| (j.lease.clone(), r.clone()))
                .collect();
            store.complete_all_then_claim(&done, req, limit)?
        }
    };
    for ((job, _), done) in pending.drain(..).zip(recorded) {
        let mut rep = JobReport {
            id: job.id,
            platform: job.platform,
            status: JobState::Processing,
            attempt: job.lease.claim,
            error: None,
            events: EventCounts::default(),
        };
        completed(&mut rep, done, &mut report.counts);
        on_job(&rep);
        report.jobs.push(rep);
    }
    Ok(claimed)
}

/// A job's report after its fenced completion (`None`: the lease was lost).
fn completed(rep: &mut JobReport, done: Option<JobResult>, counts: &mut RunCounts) {
    match done {
        Some(done) => {
            counts.completed += 1;
            rep.status = JobState::Completed;
            rep.events = done.events;
        }
        None => rep.error = Some(LEASE_LOST.into()),
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
            completed(&mut rep, done, counts);
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

#[cfg(test)]
mod tests {
    use super::Window;

    #[test]
    fn the_window_doubles_while_jobs_are_quick_and_falls_back_to_one() {
        let mut w = Window::new(16);
        let sizes: Vec<usize> = (0..6).map(|_| w.next_size()).collect();
        assert_eq!(sizes, [2, 4, 8, 16, 16, 16]);
        w.saw(true);
        w.saw(false);
        w.saw(true);
        assert_eq!(
            w.next_size(),
            1,
            "a slow job in the window did not reset it"
        );
        assert_eq!(w.next_size(), 2);
        let mut one = Window::new(1);
        assert_eq!((one.next_size(), one.next_size()), (1, 1));
        let mut zero = Window::new(0);
        assert_eq!(zero.next_size(), 1, "a zero window never claims");
    }
}
