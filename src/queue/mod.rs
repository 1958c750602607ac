//! The durable job queue: job states, the retry policy, the `JobStore` trait and the worker loop.
//!
//! Owns: what a job is, which transitions exist, when a failed attempt is retried, and the loop
//! that claims → runs a `Handler` → records the outcome with a fenced write.
//! Must not: know platforms or SQL. Payloads are opaque JSON. Time is the store's: every
//! comparison that decides a lease, a due job or retention uses the backend's clock (the
//! database's `now()` on PostgreSQL), and the queue passes durations, never timestamps, so that
//! the clocks of the hosts running workers never matter.

pub mod retry;
pub mod worker;

use std::fmt;

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC. The one time representation in the store.
pub type Millis = i64;

/// The current time in `Millis`.
pub fn now_ms() -> Millis {
    chrono::Utc::now().timestamp_millis()
}

/// A job's state, in the words users see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Processing,
    Retrying,
    Completed,
    Failed,
    Cancelled,
}

impl JobState {
    /// Every state.
    pub const ALL: [JobState; 6] = [
        JobState::Queued,
        JobState::Processing,
        JobState::Retrying,
        JobState::Completed,
        JobState::Failed,
        JobState::Cancelled,
    ];

    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Processing => "processing",
            JobState::Retrying => "retrying",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Parse a stored name.
    pub fn parse(s: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// True for states a job never leaves on its own.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Completed | JobState::Failed | JobState::Cancelled
        )
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// The platform name (opaque to the queue).
    pub platform: String,
    /// The JSON payload (opaque to the queue).
    pub input: String,
    pub priority: i64,
    /// When it is due: `None` for now (the store's clock), else this instant (a user's
    /// `--run-at`).
    pub run_at: Option<Millis>,
    pub max_attempts: i64,
    /// Jobs with the same `(platform, unique_key)` are never pending twice.
    pub unique_key: Option<String>,
}

/// The result of an enqueue: the new job, or the pending one it duplicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueued {
    pub id: i64,
    pub deduplicated: bool,
}

/// Who holds a lease: `host:pid:process-start-time`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerId(pub String);

impl WorkerId {
    /// The identity of this process.
    pub fn current() -> WorkerId {
        WorkerId(format!(
            "{}:{}:{}",
            hostname(),
            std::process::id(),
            process_start_time(std::process::id()).unwrap_or(0)
        ))
    }

    /// The host part.
    pub fn host(&self) -> &str {
        self.0.rsplitn(3, ':').nth(2).unwrap_or("")
    }
}

/// The host name workers record in their identity and judge leases by: `SALESINGEST_HOST` when
/// set (containers that share one host name, or several workers simulated on one machine),
/// else this machine's. A worker never judges the owner of a lease on another host dead; it
/// waits for that lease to expire.
pub fn hostname() -> String {
    match std::env::var("SALESINGEST_HOST") {
        Ok(h) if !h.trim().is_empty() => h.trim().replace(':', "_"),
        _ => gethostname::gethostname().to_string_lossy().into_owned(),
    }
}

/// The start time of a process in clock ticks since boot (`/proc/<pid>/stat` field 22), so a
/// reused pid is never mistaken for the worker that died. `None` when the process is gone or
/// `/proc` is unavailable.
pub fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces.
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the worker named by `owner` is certainly dead: it ran on this host and its pid is
/// gone or now belongs to another process. Owners on other hosts are never judged dead here
/// (their leases expire instead).
pub fn owner_is_dead(owner: &str, this_host: &str) -> bool {
    let mut parts = owner.rsplitn(3, ':');
    let (Some(start), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    if host != this_host || !std::path::Path::new("/proc/self/stat").exists() {
        return false;
    }
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
        return false;
    };
    process_start_time(pid) != Some(start)
}

/// A job claimed by this worker, with the fence that every later write must match.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: i64,
    pub platform: String,
    pub input: String,
    /// Attempts used so far, including this one.
    pub attempts: i64,
    pub max_attempts: i64,
    pub lease: Lease,
}

/// The fence of one attempt: a write only counts while the job is still processing under
/// this owner and this claim number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub job_id: i64,
    pub owner: String,
    /// The attempt-history number of this claim.
    pub claim: i64,
}

/// What a heartbeat found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heartbeat {
    Held { cancel_requested: bool },
    Lost,
}

/// Counts of what a job did to the sales events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventCounts {
    pub inserted: u64,
    pub updated: u64,
    pub removed: u64,
}

/// What a successful job reports. Stored as the job's `result`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobResult {
    pub events: EventCounts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<String>,
    #[serde(default)]
    pub rows: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Effects a handler staged that the store must make visible in the same transaction as the
/// fenced completion (so a completed job and its sales are one atomic fact).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    /// A staged import to publish (replace-by-coverage happens then).
    pub import_id: Option<i64>,
    /// Payouts the imported file records (opaque to the queue): written to the payouts table
    /// in the same transaction.
    pub payouts: Vec<crate::model::Payout>,
}

/// How a failed attempt failed, as the handler classifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError {
    /// Retrying cannot help (malformed input, HTTP 401/403).
    Permanent(String),
    /// Worth retrying after a backoff.
    Transient(String),
    /// Retry after this many milliseconds without using up an attempt.
    RateLimited { after_ms: i64, message: String },
    /// The handler stopped because the lease was lost or a cancel was requested.
    Aborted { cancelled: bool, message: String },
}

impl JobError {
    /// The message.
    pub fn message(&self) -> &str {
        match self {
            JobError::Permanent(m) | JobError::Transient(m) => m,
            JobError::RateLimited { message, .. } | JobError::Aborted { message, .. } => message,
        }
    }
}

/// What the queue decided for a failed attempt; the store records it under the lease fence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailDecision {
    /// Due again `after_ms` from now (the store's clock), attempt used.
    Retry { after_ms: i64 },
    /// Due again `after_ms` from now, attempt given back (rate limit).
    Snooze { after_ms: i64 },
    /// Out of attempts, or permanent.
    Fail,
    /// Cancelled on request while running.
    Cancel,
}

/// A job rescued from a dead or expired lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rescued {
    pub job_id: i64,
    pub now_failed: bool,
}

/// A `run-worker` invocation's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunCounts {
    pub claimed: u64,
    pub completed: u64,
    pub retrying: u64,
    pub failed: u64,
    pub rescued: u64,
}

/// Outcome of a cancel request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    Cancelled,
    /// The job had failed and is now cancelled: dismissed, so `status --check` no longer
    /// reports it (`retry` still revives it).
    Dismissed,
    /// The job is running: it stops at its next heartbeat.
    Requested,
    NotFound,
    /// Already terminal, in this state.
    AlreadyFinished(JobState),
}

/// Outcome of a retry request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryOutcome {
    Revived,
    NotFound,
    /// Only failed (or cancelled) jobs can be revived; the job is in this state.
    NotFailed(JobState),
    /// An equivalent job is already pending; this is its id.
    Duplicate(i64),
}

/// How long each queue commit waits for the disk (`[queue] synchronous`, SQLite's
/// `synchronous` pragma in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Every commit is on the disk before it returns (fsync per commit): a power cut loses
    /// nothing. The default.
    #[default]
    Full,
    /// Commits reach the disk at checkpoints: still atomic, and a killed process loses nothing,
    /// but a power cut or OS crash can roll back the last commits (the database stays
    /// consistent): a job recorded as completed may run again, which re-imports the same sales
    /// in place. Several times the job throughput on a slow disk.
    Normal,
}

impl Durability {
    /// Parse a config value (`full` or `normal`, any case).
    pub fn parse(s: &str) -> Option<Durability> {
        match s.trim().to_ascii_lowercase().as_str() {
            "full" => Some(Durability::Full),
            "normal" => Some(Durability::Normal),
            _ => None,
        }
    }

    /// The pragma value.
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        }
    }
}

/// Who claims, for what: the arguments of a claim, so a completion can carry the next claim.
/// The lease runs `lease_ms` from the claim, by the store's clock.
#[derive(Debug, Clone, Copy)]
pub struct ClaimRequest<'a> {
    pub owner: &'a WorkerId,
    pub run_id: Option<i64>,
    pub platform: Option<&'a str>,
    pub lease_ms: i64,
}

/// `complete`, then `claim` for `next`, as two transactions: `JobStore::complete_then_claim`'s
/// default, and what a store does when it cannot join them.
///
/// # Errors
/// The store's.
pub fn complete_then_claim_apart<S: JobStore + ?Sized>(
    store: &S,
    lease: &Lease,
    result: &JobResult,
    effects: &Effects,
    next: &ClaimRequest<'_>,
) -> anyhow::Result<(Option<JobResult>, Option<ClaimedJob>)> {
    let done = store.complete(lease, result, effects)?;
    let job = store.claim(next)?;
    Ok((done, job))
}

/// Each `complete`, then up to `limit` `claim`s, each its own transaction:
/// `JobStore::complete_all_then_claim`'s default, and what a store does when it cannot join them.
///
/// # Errors
/// The store's.
pub fn complete_all_then_claim_apart<S: JobStore + ?Sized>(
    store: &S,
    done: &[(Lease, JobResult)],
    next: &ClaimRequest<'_>,
    limit: usize,
) -> anyhow::Result<(Vec<Option<JobResult>>, Vec<ClaimedJob>)> {
    let none = Effects::default();
    let recorded = done
        .iter()
        .map(|(lease, result)| store.complete(lease, result, &none))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut claimed = Vec::new();
    while claimed.len() < limit {
        match store.claim(next)? {
            Some(job) => claimed.push(job),
            None => break,
        }
    }
    Ok((recorded, claimed))
}

/// The narrow storage interface the queue needs. Each backend of `store` implements it (SQLite
/// on one machine, PostgreSQL across hosts); every method is one short transaction, and every
/// time it compares or records is the backend's own clock.
pub trait JobStore {
    /// Insert a job, or return the pending job with the same unique key.
    ///
    /// # Errors
    /// Database errors.
    fn enqueue(&self, job: &NewJob) -> anyhow::Result<Enqueued>;

    /// Release leases whose owner is dead (`is_dead`) or whose lease expired; out of attempts →
    /// failed. One guarded statement, so live jobs are never touched.
    ///
    /// # Errors
    /// Database errors.
    fn rescue(&self, is_dead: &dyn Fn(&str) -> bool) -> anyhow::Result<Vec<Rescued>>;

    /// Claim the next due job (optionally of one platform) and record its attempt row.
    ///
    /// # Errors
    /// Database errors.
    fn claim(&self, req: &ClaimRequest<'_>) -> anyhow::Result<Option<ClaimedJob>>;

    /// Extend a lease to `lease_ms` from now; reports whether it is still held and whether a
    /// cancel was requested.
    ///
    /// # Errors
    /// Database errors.
    fn heartbeat(&self, lease: &Lease, lease_ms: i64) -> anyhow::Result<Heartbeat>;

    /// Fenced completion, publishing `effects` atomically. `Ok(None)` when the lease was lost
    /// (nothing is written).
    ///
    /// # Errors
    /// Database errors.
    fn complete(
        &self,
        lease: &Lease,
        result: &JobResult,
        effects: &Effects,
    ) -> anyhow::Result<Option<JobResult>>;

    /// `complete`, then the claim of the next job (`claim` with `next`) in the **same**
    /// transaction: one commit, so one fsync, per job instead of two. The completion is exactly
    /// as fenced and as atomic as `complete`. This default does the two steps apart (for a
    /// backend without the shortcut).
    ///
    /// # Errors
    /// Database errors.
    fn complete_then_claim(
        &self,
        lease: &Lease,
        result: &JobResult,
        effects: &Effects,
        next: &ClaimRequest<'_>,
    ) -> anyhow::Result<(Option<JobResult>, Option<ClaimedJob>)> {
        complete_then_claim_apart(self, lease, result, effects, next)
    }

    /// Record several jobs that completed without effects (`done`, each fenced on its own
    /// lease exactly as `complete` is), then claim up to `limit` due jobs for `next`, in **one**
    /// transaction: one commit for a whole window of quick jobs. The claimed jobs come in claim
    /// order (priority, due time, id), each with its own lease and attempt row. `limit` 0 only
    /// records. The first vector answers `done` in order (`None`: that lease was lost, nothing
    /// written for it). This default does each step apart (for a backend without the shortcut).
    ///
    /// # Errors
    /// Database errors.
    fn complete_all_then_claim(
        &self,
        done: &[(Lease, JobResult)],
        next: &ClaimRequest<'_>,
        limit: usize,
    ) -> anyhow::Result<(Vec<Option<JobResult>>, Vec<ClaimedJob>)> {
        complete_all_then_claim_apart(self, done, next, limit)
    }

    /// Fenced failure recording the queue's decision. `Ok(false)` when the lease was lost.
    ///
    /// # Errors
    /// Database errors.
    fn fail(
        &self,
        lease: &Lease,
        error: &JobError,
        decision: &FailDecision,
    ) -> anyhow::Result<bool>;

    /// Cancel a queued or retrying job, dismiss a failed one (it becomes cancelled), or request
    /// the cancel of a running one.
    ///
    /// # Errors
    /// Database errors.
    fn cancel(&self, id: i64) -> anyhow::Result<CancelOutcome>;

    /// Revive a failed job with fresh attempts, due now.
    ///
    /// # Errors
    /// Database errors.
    fn revive(&self, id: i64, extra_attempts: i64) -> anyhow::Result<RetryOutcome>;

    /// Start a cron-run row; returns its id and start time.
    ///
    /// # Errors
    /// Database errors.
    fn start_run(&self, owner: &WorkerId, args: &str) -> anyhow::Result<(i64, Millis)>;

    /// Finish a cron-run row; returns its finish time.
    ///
    /// # Errors
    /// Database errors.
    fn finish_run(&self, run_id: i64, counts: &RunCounts, exit_code: i32)
        -> anyhow::Result<Millis>;

    /// A failure of the store itself that this handle has seen (a full disk, a read-only
    /// database, a lost connection or a stopped server), as opposed to a failure of a job:
    /// the worker then stops instead of failing job after job on it.
    fn fault(&self) -> Option<String> {
        None
    }

    /// Delete finished jobs and cron runs older than the horizons, in small batches, by finish
    /// time. Returns (jobs, runs) deleted.
    ///
    /// # Errors
    /// Database errors.
    fn prune(&self, policy: &retry::Retention) -> anyhow::Result<(u64, u64)>;
}
