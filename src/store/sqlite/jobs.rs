//! `impl JobStore for Db`: the queue's statements, each one short `BEGIN IMMEDIATE` transaction.

use anyhow::Result;
use rusqlite::{params, Connection, OptionalExtension};

use super::effects::{self, holds, FENCE};
use super::Db;
use crate::queue::retry::Retention;
use crate::queue::{
    complete_all_then_claim_apart, complete_then_claim_apart, CancelOutcome, ClaimRequest,
    ClaimedJob, Effects, Enqueued, FailDecision, Heartbeat, JobError, JobResult, JobState,
    JobStore, Lease, Millis, NewJob, Rescued, RetryOutcome, RunCounts, WorkerId,
};

impl JobStore for Db {
    fn enqueue(&self, job: &NewJob) -> Result<Enqueued> {
        let now = self.now();
        self.immediate(|c| enqueue_in(c, job, now))
    }

    fn rescue(&self, is_dead: &dyn Fn(&str) -> bool) -> Result<Vec<Rescued>> {
        let now = self.now();
        // Owners are judged outside the transaction (it reads /proc), then the rescue UPDATE
        // re-checks state and owner so a job that finished meanwhile is never touched.
        let owners: Vec<String> = {
            let mut stmt = self.conn().prepare_cached(
                "SELECT DISTINCT lease_owner FROM jobs WHERE state = 'processing'",
            )?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let dead: Vec<String> = owners.into_iter().filter(|o| is_dead(o)).collect();
        self.immediate(|c| {
            let mut rescued = Vec::new();
            for owner in &dead {
                rescued.extend(rescue_where(
                    c,
                    now,
                    "state = 'processing' AND lease_owner = ?2",
                    owner,
                    "worker_died",
                    "the worker running this job died (killed or crashed); rescued for another attempt",
                )?);
            }
            rescued.extend(rescue_where(
                c,
                now,
                "state = 'processing' AND lease_expires_at < ?1 AND ?2 = ?2",
                "",
                "lease_expired",
                "the worker's lease expired without a heartbeat; rescued for another attempt",
            )?);
            Ok(rescued)
        })
    }

    fn claim(&self, req: &ClaimRequest<'_>) -> Result<Option<ClaimedJob>> {
        if let Some(e) = self.storage_error() {
            // The disk is full or the database read-only: every next job would fail the same
            // way and use up an attempt. Stop the run instead (exit 1).
            anyhow::bail!("stopped claiming jobs: {e}");
        }
        let now = self.now();
        self.immediate(|c| claim_in(c, req, now))
    }

    fn heartbeat(&self, lease: &Lease, lease_ms: i64) -> Result<Heartbeat> {
        let now = self.now();
        self.immediate(|c| {
            let cancel: Option<bool> = c
                .query_row(
                    &format!(
                        "UPDATE jobs SET lease_expires_at = ?4 + ?5 WHERE {FENCE} RETURNING cancel_requested"
                    ),
                    params![lease.job_id, lease.owner, lease.claim, now, lease_ms],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(match cancel {
                Some(cancel_requested) => Heartbeat::Held { cancel_requested },
                None => Heartbeat::Lost,
            })
        })
    }

    fn complete(
        &self,
        lease: &Lease,
        result: &JobResult,
        effects: &Effects,
    ) -> Result<Option<JobResult>> {
        let now = self.now();
        self.completing(effects, || {
            self.immediate(|c| complete_in(c, lease, now, result, effects))
        })
    }

    fn complete_then_claim(
        &self,
        lease: &Lease,
        result: &JobResult,
        effects: &Effects,
        next: &ClaimRequest<'_>,
    ) -> Result<(Option<JobResult>, Option<ClaimedJob>)> {
        if self.storage_error().is_some() {
            // `claim` refuses to go on after a disk-full or read-only error: keep its message.
            return complete_then_claim_apart(self, lease, result, effects, next);
        }
        let now = self.now();
        self.completing(effects, || {
            self.immediate(|c| {
                let done = complete_in(c, lease, now, result, effects)?;
                let job = claim_in(c, next, now)?;
                Ok((done, job))
            })
        })
    }

    fn complete_all_then_claim(
        &self,
        done: &[(Lease, JobResult)],
        next: &ClaimRequest<'_>,
        limit: usize,
    ) -> Result<(Vec<Option<JobResult>>, Vec<ClaimedJob>)> {
        if self.storage_error().is_some() {
            // As in `complete_then_claim`: `claim` keeps the disk-full or read-only message.
            return complete_all_then_claim_apart(self, done, next, limit);
        }
        let now = self.now();
        let none = Effects::default();
        self.immediate(|c| {
            let recorded = done
                .iter()
                .map(|(lease, result)| complete_in(c, lease, now, result, &none))
                .collect::<Result<Vec<_>>>()?;
            let mut claimed = Vec::new();
            while claimed.len() < limit {
                match claim_in(c, next, now)? {
                    Some(job) => claimed.push(job),
                    None => break,
                }
            }
            Ok((recorded, claimed))
        })
    }

    fn fail(&self, lease: &Lease, error: &JobError, decision: &FailDecision) -> Result<bool> {
        let now = self.now();
        self.immediate(|c| {
            if !holds(c, lease)? {
                return Ok(false);
            }
            let msg = error.message();
            let (sql_set, outcome, run_at): (&str, &str, Option<Millis>) = match decision {
                FailDecision::Retry { after_ms } => (
                    "state = 'retrying', finished_at = NULL",
                    "retrying",
                    Some(now.saturating_add(*after_ms)),
                ),
                FailDecision::Snooze { after_ms } => (
                    "state = 'retrying', finished_at = NULL, attempts = MAX(attempts - 1, 0)",
                    "rate_limited",
                    Some(now.saturating_add(*after_ms)),
                ),
                FailDecision::Fail => ("state = 'failed', finished_at = ?4", "failed", None),
                FailDecision::Cancel => ("state = 'cancelled', finished_at = ?4", "cancelled", None),
            };
            let n = c.execute(
                &format!(
                    "UPDATE jobs SET {sql_set}, run_at = COALESCE(?6, run_at), lease_owner = NULL, lease_expires_at = NULL,
                            cancel_requested = 0, last_error = ?5 WHERE {FENCE}"
                ),
                params![lease.job_id, lease.owner, lease.claim, now, msg, run_at],
            )?;
            if n != 1 {
                anyhow::bail!("job {} changed under its lease", lease.job_id);
            }
            close_attempt(c, lease, now, outcome, Some(msg))?;
            effects::discard(c, lease.job_id)?;
            Ok(true)
        })
    }

    fn cancel(&self, id: i64) -> Result<CancelOutcome> {
        let now = self.now();
        self.immediate(|c| {
            let Some(state) = job_state(c, id)? else {
                return Ok(CancelOutcome::NotFound);
            };
            Ok(match state {
                JobState::Queued | JobState::Retrying => {
                    c.execute(
                        "UPDATE jobs SET state = 'cancelled', finished_at = ?2,
                                last_error = 'cancelled by the user'
                          WHERE id = ?1 AND state IN ('queued','retrying')",
                        params![id, now],
                    )?;
                    CancelOutcome::Cancelled
                }
                JobState::Processing => {
                    c.execute(
                        "UPDATE jobs SET cancel_requested = 1 WHERE id = ?1 AND state = 'processing'",
                        params![id],
                    )?;
                    CancelOutcome::Requested
                }
                // Its error and finish time stay: the attempt history and pruning are unchanged.
                JobState::Failed => {
                    c.execute(
                        "UPDATE jobs SET state = 'cancelled' WHERE id = ?1 AND state = 'failed'",
                        params![id],
                    )?;
                    CancelOutcome::Dismissed
                }
                s => CancelOutcome::AlreadyFinished(s),
            })
        })
    }

    fn revive(&self, id: i64, extra_attempts: i64) -> Result<RetryOutcome> {
        let now = self.now();
        self.immediate(|c| {
            let Some(state) = job_state(c, id)? else {
                return Ok(RetryOutcome::NotFound);
            };
            if !matches!(state, JobState::Failed | JobState::Cancelled) {
                return Ok(RetryOutcome::NotFailed(state));
            }
            let res = c.execute(
                "UPDATE jobs SET state = 'queued', run_at = ?2, finished_at = NULL,
                        cancel_requested = 0,
                        max_attempts = MAX(max_attempts, attempts + ?3)
                  WHERE id = ?1 AND state IN ('failed','cancelled')",
                params![id, now, extra_attempts.max(1)],
            );
            match res {
                Ok(_) => Ok(RetryOutcome::Revived),
                Err(e)
                    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) =>
                {
                    let other: i64 = c.query_row(
                        "SELECT b.id FROM jobs a JOIN jobs b ON b.platform = a.platform
                           AND b.unique_key = a.unique_key AND b.id != a.id
                           AND b.state IN ('queued','retrying','processing')
                          WHERE a.id = ?1",
                        params![id],
                        |r| r.get(0),
                    )?;
                    Ok(RetryOutcome::Duplicate(other))
                }
                Err(e) => Err(e.into()),
            }
        })
    }

    fn start_run(&self, owner: &WorkerId, args: &str) -> Result<(i64, Millis)> {
        let now = self.now();
        let mut parts = owner.0.rsplitn(3, ':');
        let _start = parts.next();
        let pid: i64 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        self.immediate(|c| {
            c.execute(
                "INSERT INTO cron_runs (host, pid, owner, args, started_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![owner.host(), pid, owner.0, args, now],
            )?;
            Ok((c.last_insert_rowid(), now))
        })
    }

    fn finish_run(&self, run_id: i64, counts: &RunCounts, exit_code: i32) -> Result<Millis> {
        let now = self.now();
        self.immediate(|c| {
            c.execute(
                "UPDATE cron_runs SET finished_at = ?2, claimed = ?3, completed = ?4, retrying = ?5,
                        failed = ?6, rescued = ?7, exit_code = ?8 WHERE id = ?1",
                params![
                    run_id,
                    now,
                    counts.claimed,
                    counts.completed,
                    counts.retrying,
                    counts.failed,
                    counts.rescued,
                    exit_code
                ],
            )?;
            Ok(now)
        })
    }

    fn fault(&self) -> Option<String> {
        self.storage_error()
    }

    fn prune(&self, policy: &Retention) -> Result<(u64, u64)> {
        let now = self.now();
        let mut jobs = 0u64;
        for (state, horizon) in [
            ("completed", policy.completed_ms),
            ("failed", policy.failed_ms),
            ("cancelled", policy.failed_ms),
        ] {
            jobs += self.delete_batches(
                &format!(
                    "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs
                       WHERE finished_at IS NOT NULL AND finished_at < ?1 AND state = '{state}'
                       LIMIT ?2)"
                ),
                now - horizon,
                policy.batch,
            )?;
        }
        let runs = self.delete_batches(
            "DELETE FROM cron_runs WHERE id IN (SELECT id FROM cron_runs
               WHERE finished_at IS NOT NULL AND finished_at < ?1 LIMIT ?2)",
            now - policy.runs_ms,
            policy.batch,
        )?;
        self.immediate(effects::discard_orphans)?;
        Ok((jobs, runs))
    }
}

impl Db {
    /// Run a completion; one that publishes an import lets SQLite's sorter and statement
    /// journal spill to temporary files (publishing groups every staged row into the report
    /// rollup and may delete as many replaced rows), so memory stays flat however big the file
    /// (in-memory temp storage made a 1,000,000-row import peak at 138 MB).
    fn completing<T>(&self, effects: &Effects, f: impl FnOnce() -> Result<T>) -> Result<T> {
        if effects.import_id.is_some() {
            self.with_file_temp_store(f)
        } else {
            f()
        }
    }

    fn delete_batches(&self, sql: &str, before: Millis, batch: i64) -> Result<u64> {
        let mut total = 0u64;
        loop {
            let n = self.immediate(|c| Ok(c.execute(sql, params![before, batch])?))?;
            total += n as u64;
            if (n as i64) < batch {
                return Ok(total);
            }
        }
    }
}

/// Insert a job inside the caller's write transaction, or return the pending job with the same
/// unique key (shared by `enqueue` and the schedule firing in `upkeep`).
pub(super) fn enqueue_in(c: &Connection, job: &NewJob, now: Millis) -> Result<Enqueued> {
    let inserted: Option<i64> = c
        .query_row(
            "INSERT INTO jobs (platform, input, priority, run_at, max_attempts, unique_key, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (platform, unique_key)
               WHERE unique_key IS NOT NULL AND state IN ('queued','retrying','processing')
             DO NOTHING
             RETURNING id",
            params![
                job.platform,
                job.input,
                job.priority,
                job.run_at.unwrap_or(now),
                job.max_attempts,
                job.unique_key,
                now
            ],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(id) = inserted {
        return Ok(Enqueued {
            id,
            deduplicated: false,
        });
    }
    let id: i64 = c.query_row(
        "SELECT id FROM jobs WHERE platform = ?1 AND unique_key = ?2
           AND state IN ('queued','retrying','processing')",
        params![job.platform, job.unique_key],
        |r| r.get(0),
    )?;
    Ok(Enqueued {
        id,
        deduplicated: true,
    })
}

/// The claim statement (QUEUE.md §5.4): `?1` owner, `?2` now, `?3` lease length, `?4` platform or
/// NULL. `INDEXED BY`: the planner would otherwise take `jobs_state` for `state IN (…)` and sort
/// every pending job to find the first.
const CLAIM: &str =
    "UPDATE jobs SET state = 'processing', attempts = attempts + 1, claims = claims + 1,
        lease_owner = ?1, lease_expires_at = ?2 + ?3
  WHERE id = (SELECT id FROM jobs INDEXED BY jobs_claim
               WHERE state IN ('queued','retrying') AND run_at <= ?2
                 AND (?4 IS NULL OR platform = ?4)
               ORDER BY priority DESC, run_at, id LIMIT 1)
  RETURNING id, platform, input, attempts, max_attempts, claims";

/// The claim: the next due job (by priority, due time, id) turns `processing` under a new lease,
/// and its attempt row is written, in the caller's transaction.
fn claim_in(c: &Connection, req: &ClaimRequest<'_>, now: Millis) -> Result<Option<ClaimedJob>> {
    let ClaimRequest {
        owner,
        run_id,
        platform,
        lease_ms,
    } = *req;
    // Cached statements: the claim → complete path runs once per job.
    let row = c
        .prepare_cached(CLAIM)?
        .query_row(params![owner.0, now, lease_ms, platform], |r| {
            Ok(ClaimedJob {
                id: r.get(0)?,
                platform: r.get(1)?,
                input: r.get(2)?,
                attempts: r.get(3)?,
                max_attempts: r.get(4)?,
                lease: Lease {
                    job_id: r.get(0)?,
                    owner: owner.0.clone(),
                    claim: r.get(5)?,
                },
            })
        })
        .optional()?;
    if let Some(job) = &row {
        c.prepare_cached(
            "INSERT INTO attempts (job_id, attempt, run_id, worker, started_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![job.id, job.lease.claim, run_id, owner.0, now])?;
    }
    Ok(row)
}

/// The fenced completion, publishing the job's staged import, in the caller's transaction.
/// `None` when the lease was lost (nothing is written).
fn complete_in(
    c: &Connection,
    lease: &Lease,
    now: Millis,
    result: &JobResult,
    effects: &Effects,
) -> Result<Option<JobResult>> {
    let mut result = result.clone();
    if effects.import_id.is_some() {
        // Effects are published only under the lease: check it first.
        if !holds(c, lease)? {
            return Ok(None);
        }
        result.events.removed += effects::publish(c, effects, now)?;
    }
    let json = serde_json::to_string(&result)?;
    let n = c
        .prepare_cached(&format!(
            "UPDATE jobs SET state = 'completed', finished_at = ?4, lease_owner = NULL,
                    lease_expires_at = NULL, result = ?5, last_error = NULL WHERE {FENCE}"
        ))?
        .execute(params![lease.job_id, lease.owner, lease.claim, now, json])?;
    match (n, effects.import_id) {
        (1, _) => {}
        // Without an import, the fenced UPDATE is the lease check: nothing was written.
        (0, None) => return Ok(None),
        // Checked above in this same write transaction: roll the publication back.
        _ => anyhow::bail!("job {} changed under its lease", lease.job_id),
    }
    close_attempt(c, lease, now, "completed", None)?;
    Ok(Some(result))
}

fn close_attempt(
    c: &Connection,
    lease: &Lease,
    now: Millis,
    outcome: &str,
    error: Option<&str>,
) -> Result<()> {
    c.prepare_cached(
        "UPDATE attempts SET finished_at = ?3, outcome = ?4, error = ?5
          WHERE job_id = ?1 AND attempt = ?2 AND finished_at IS NULL",
    )?
    .execute(params![lease.job_id, lease.claim, now, outcome, error])?;
    Ok(())
}

fn job_state(c: &Connection, id: i64) -> Result<Option<JobState>> {
    let s: Option<String> = c
        .query_row("SELECT state FROM jobs WHERE id = ?1", params![id], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(s.as_deref().and_then(JobState::parse))
}

/// Release every processing job matching `cond` (with `?1` = now, `?2` = `arg`): back to
/// retrying at once, or failed when out of attempts; close their attempt rows.
fn rescue_where(
    c: &Connection,
    now: Millis,
    cond: &str,
    arg: &str,
    outcome: &str,
    message: &str,
) -> Result<Vec<Rescued>> {
    let mut stmt = c.prepare(&format!(
        "UPDATE jobs SET
            state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'retrying' END,
            finished_at = CASE WHEN attempts >= max_attempts THEN ?1 END,
            run_at = ?1, lease_owner = NULL, lease_expires_at = NULL, last_error = ?3
          WHERE {cond}
          RETURNING id, claims, state"
    ))?;
    let rows = stmt
        .query_map(params![now, arg, message], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, claim, state) in rows {
        c.execute(
            "UPDATE attempts SET finished_at = ?3, outcome = ?4, error = ?5
              WHERE job_id = ?1 AND attempt = ?2 AND finished_at IS NULL",
            params![id, claim, now, outcome, message],
        )?;
        effects::discard(c, id)?;
        out.push(Rescued {
            job_id: id,
            now_failed: state == "failed",
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testutil::{temp_db, At as _};
    #[allow(unused_imports)]
    use crate::store::{ReportStore as _, SalesStore as _, UpkeepStore as _};

    fn job(key: Option<&str>) -> NewJob {
        NewJob {
            platform: "draft2digital".into(),
            input: "{}".into(),
            priority: 0,
            run_at: Some(0),
            max_attempts: 3,
            unique_key: key.map(str::to_string),
        }
    }

    fn me(name: &str) -> WorkerId {
        WorkerId(format!("otherhost:{name}:1"))
    }

    #[test]
    fn unique_pending_jobs_are_deduplicated() {
        let (_d, db) = temp_db();
        let a = db.enqueue_at(&job(Some("h1")), 1).unwrap();
        let b = db.enqueue_at(&job(Some("h1")), 2).unwrap();
        assert_eq!(a.id, b.id);
        assert!(b.deduplicated && !a.deduplicated);
        // Once completed, the same key may be queued again.
        let c = db
            .claim_at(&me("1"), None, None, 10, 60_000)
            .unwrap()
            .unwrap();
        db.complete_at(&c.lease, 11, &JobResult::default(), &Effects::default())
            .unwrap()
            .unwrap();
        let d = db.enqueue_at(&job(Some("h1")), 12).unwrap();
        assert_ne!(d.id, a.id);
        assert!(!d.deduplicated);
    }

    #[test]
    fn claim_respects_run_at_priority_and_platform() {
        let (_d, db) = temp_db();
        let mut late = job(None);
        late.run_at = Some(1_000);
        db.enqueue_at(&late, 0).unwrap();
        let mut high = job(None);
        high.priority = 5;
        let high_id = db.enqueue_at(&high, 0).unwrap().id;
        let low_id = db.enqueue_at(&job(None), 0).unwrap().id;
        let w = me("1");
        assert_eq!(
            db.claim_at(&w, None, None, 10, 60_000).unwrap().unwrap().id,
            high_id
        );
        assert!(db
            .claim_at(&w, None, Some("gumroad"), 10, 60_000)
            .unwrap()
            .is_none());
        assert_eq!(
            db.claim_at(&w, None, None, 10, 60_000).unwrap().unwrap().id,
            low_id
        );
        assert!(
            db.claim_at(&w, None, None, 10, 60_000).unwrap().is_none(),
            "not due yet"
        );
        assert!(db
            .claim_at(&w, None, None, 1_000, 60_000)
            .unwrap()
            .is_some());
    }

    /// The completion of one job and the claim of the next are one transaction (one commit,
    /// counted with SQLite's commit hook), the completion fenced exactly as `complete` is.
    #[test]
    fn completion_and_next_claim_commit_together() {
        let (_d, db) = temp_db();
        let first = db.enqueue_at(&job(None), 0).unwrap().id;
        let second = db.enqueue_at(&job(None), 0).unwrap().id;
        let w = me("a");
        let req = ClaimRequest {
            owner: &w,
            run_id: None,
            platform: None,
            lease_ms: 60_000,
        };
        let a = db.claim_at(&w, None, None, 1, 60_000).unwrap().unwrap();
        assert_eq!(a.id, first);
        let commits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = commits.clone();
        db.conn().commit_hook(Some(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            false
        }));
        let (done, next) = db
            .complete_then_claim_at(
                &a.lease,
                2,
                &JobResult::default(),
                &Effects::default(),
                &req,
            )
            .unwrap();
        db.conn().commit_hook(None::<fn() -> bool>);
        assert_eq!(
            commits.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "the completion and the next claim are one commit"
        );
        assert!(done.is_some());
        let b = next.expect("the second job is claimed with the first's completion");
        assert_eq!((b.id, b.lease.claim, b.attempts), (second, 1, 1));
        let states: Vec<(i64, String, Option<String>)> = {
            let mut st = db
                .conn()
                .prepare(
                    "SELECT j.id, j.state, a.outcome FROM jobs j JOIN attempts a ON a.job_id = j.id
                      ORDER BY j.id",
                )
                .unwrap();
            let rows = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap();
            rows.collect::<rusqlite::Result<_>>().unwrap()
        };
        assert_eq!(
            states,
            vec![
                (first, "completed".into(), Some("completed".into())),
                (second, "processing".into(), None)
            ]
        );
        // Lease lost (another worker took the job over): nothing is completed, and with the
        // queue empty nothing is claimed.
        db.conn()
            .execute(
                "UPDATE jobs SET claims = claims + 1 WHERE id = ?1",
                [second],
            )
            .unwrap();
        let (done, next) = db
            .complete_then_claim_at(
                &b.lease,
                3,
                &JobResult::default(),
                &Effects::default(),
                &req,
            )
            .unwrap();
        assert!(done.is_none() && next.is_none());
        assert_eq!(
            job_state(db.conn(), second).unwrap(),
            Some(JobState::Processing)
        );
    }

    #[test]
    fn completion_is_fenced_after_takeover() {
        let (_d, db) = temp_db();
        db.enqueue_at(&job(None), 0).unwrap();
        let a = db
            .claim_at(&me("a"), None, None, 0, 1_000)
            .unwrap()
            .unwrap();
        // A's lease expires; the next run rescues the job and B claims it.
        let rescued = db.rescue_at(5_000, &|_| false).unwrap();
        assert_eq!(rescued.len(), 1);
        let b = db
            .claim_at(&me("b"), None, None, 5_000, 60_000)
            .unwrap()
            .unwrap();
        assert_eq!(b.lease.claim, 2);
        // The stale worker can neither complete nor fail the newer attempt.
        assert!(db
            .complete_at(&a.lease, 6_000, &JobResult::default(), &Effects::default())
            .unwrap()
            .is_none());
        assert!(!db
            .fail_at(
                &a.lease,
                6_000,
                &JobError::Permanent("x".into()),
                &FailDecision::Fail
            )
            .unwrap());
        assert_eq!(
            db.heartbeat_at(&a.lease, 6_000, 1_000).unwrap(),
            Heartbeat::Lost
        );
        assert_eq!(
            db.heartbeat_at(&b.lease, 6_000, 1_000).unwrap(),
            Heartbeat::Held {
                cancel_requested: false
            }
        );
        assert!(db
            .complete_at(&b.lease, 7_000, &JobResult::default(), &Effects::default())
            .unwrap()
            .is_some());
        let history = db.attempts(b.id).unwrap();
        let outcomes: Vec<_> = history.iter().map(|a| a.outcome.clone().unwrap()).collect();
        assert_eq!(outcomes, ["lease_expired", "completed"]);
    }

    /// Staging and a completion that carries an import check the lease before writing (the
    /// completion without an import lets its fenced UPDATE do it): a stale worker's staging
    /// fails and its completion writes nothing and reports the lost lease, and the new owner's
    /// import publishes.
    #[test]
    fn a_stale_completion_publishes_nothing() {
        use crate::store::sqlite::sales::StagedImport;
        use crate::store::StagingDone;
        let (_d, db) = temp_db();
        let id = db.enqueue_at(&job(None), 0).unwrap().id;
        let done = Some(StagingDone {
            layout: "ebook",
            rows: 0,
            coverage: &[],
        });
        let a = db
            .claim_at(&me("a"), None, None, 0, 1_000)
            .unwrap()
            .unwrap();
        let mut a_import = StagedImport::new(&a.lease, "draft2digital", "a.csv", "aaa");
        db.stage_events_at(&mut a_import, &[], done, 0).unwrap();
        assert_eq!(db.rescue_at(5_000, &|_| false).unwrap().len(), 1);
        let b = db
            .claim_at(&me("b"), None, None, 5_000, 60_000)
            .unwrap()
            .unwrap();
        let mut b_import = StagedImport::new(&b.lease, "draft2digital", "b.csv", "bbb");
        db.stage_events_at(&mut b_import, &[], done, 5_000).unwrap();
        // The stale worker, still running, can neither restart its staging (which would discard
        // B's) nor add to it.
        let mut a_again = StagedImport::new(&a.lease, "draft2digital", "a.csv", "aaa");
        let err = db
            .stage_events_at(&mut a_again, &[], done, 5_500)
            .unwrap_err();
        assert!(format!("{err:#}").contains("lease lost"), "{err:#}");
        assert!(db.stage_events_at(&mut a_import, &[], done, 5_500).is_err());
        let imports = |db: &Db| -> Vec<(String, String)> {
            let mut stmt = db
                .conn()
                .prepare("SELECT file, state FROM imports ORDER BY id")
                .unwrap();
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
            rows.map(Result::unwrap).collect()
        };
        let staged = vec![("b.csv".to_string(), "staging".to_string())];
        assert_eq!(imports(&db), staged);
        for import_id in [a_import.id, b_import.id] {
            let stale = db
                .complete_at(
                    &a.lease,
                    6_000,
                    &JobResult::default(),
                    &Effects {
                        import_id,
                        ..Effects::default()
                    },
                )
                .unwrap();
            assert!(stale.is_none(), "{import_id:?}");
            assert_eq!(imports(&db), staged);
        }
        assert_eq!(
            job_state(db.conn(), id).unwrap(),
            Some(JobState::Processing)
        );
        let fresh = db
            .complete_at(
                &b.lease,
                7_000,
                &JobResult::default(),
                &Effects {
                    import_id: b_import.id,
                    ..Effects::default()
                },
            )
            .unwrap();
        assert!(fresh.is_some());
        assert_eq!(imports(&db), [("b.csv".to_string(), "live".to_string())]);
        let outcomes: Vec<_> = db
            .attempts(id)
            .unwrap()
            .into_iter()
            .map(|a| a.outcome.unwrap())
            .collect();
        assert_eq!(outcomes, ["lease_expired", "completed"]);
    }

    #[test]
    fn dead_owner_is_rescued_at_once_and_live_ones_are_not() {
        let (_d, db) = temp_db();
        db.enqueue_at(&job(None), 0).unwrap();
        db.enqueue_at(&job(None), 0).unwrap();
        let dead = db
            .claim_at(&me("dead"), None, None, 0, 60_000)
            .unwrap()
            .unwrap();
        let alive = db
            .claim_at(&me("alive"), None, None, 0, 60_000)
            .unwrap()
            .unwrap();
        let rescued = db.rescue_at(1, &|o| o == me("dead").0).unwrap();
        assert_eq!(
            rescued,
            vec![Rescued {
                job_id: dead.id,
                now_failed: false
            }]
        );
        assert_eq!(db.job(alive.id).unwrap().unwrap().state, "processing");
        assert_eq!(db.job(dead.id).unwrap().unwrap().state, "retrying");
        // Due at once: the next claim takes it as attempt 2.
        let again = db
            .claim_at(&me("new"), None, None, 2, 60_000)
            .unwrap()
            .unwrap();
        assert_eq!((again.id, again.attempts), (dead.id, 2));
    }

    #[test]
    fn rescue_out_of_attempts_fails_the_job() {
        let (_d, db) = temp_db();
        let mut j = job(None);
        j.max_attempts = 1;
        let id = db.enqueue_at(&j, 0).unwrap().id;
        db.claim_at(&me("x"), None, None, 0, 10).unwrap().unwrap();
        let r = db.rescue_at(100, &|_| false).unwrap();
        assert!(r[0].now_failed);
        let row = db.job(id).unwrap().unwrap();
        assert_eq!(row.state, "failed");
        assert!(row.last_error.unwrap().contains("lease expired"));
    }

    #[test]
    fn retry_snooze_fail_and_revive() {
        let (_d, db) = temp_db();
        let id = db.enqueue_at(&job(Some("k")), 0).unwrap().id;
        let c = db
            .claim_at(&me("w"), None, None, 0, 60_000)
            .unwrap()
            .unwrap();
        let rl = JobError::RateLimited {
            after_ms: 7_000,
            message: "429".into(),
        };
        db.fail_at(&c.lease, 1, &rl, &FailDecision::Snooze { after_ms: 7_000 })
            .unwrap();
        let row = db.job(id).unwrap().unwrap();
        assert_eq!(
            (row.state.as_str(), row.attempts, row.run_at),
            ("retrying", 0, 7_001)
        );
        assert!(db
            .claim_at(&me("w"), None, None, 7_000, 60_000)
            .unwrap()
            .is_none());
        let c = db
            .claim_at(&me("w"), None, None, 7_001, 60_000)
            .unwrap()
            .unwrap();
        assert_eq!((c.attempts, c.lease.claim), (1, 2));
        db.fail_at(
            &c.lease,
            8_000,
            &JobError::Permanent("bad".into()),
            &FailDecision::Fail,
        )
        .unwrap();
        assert_eq!(db.job(id).unwrap().unwrap().state, "failed");
        assert_eq!(db.revive_at(id, 9_000, 1).unwrap(), RetryOutcome::Revived);
        let row = db.job(id).unwrap().unwrap();
        assert_eq!((row.state.as_str(), row.max_attempts), ("queued", 3));
        assert_eq!(
            db.revive_at(id, 9_000, 1).unwrap(),
            RetryOutcome::NotFailed(JobState::Queued)
        );
        assert_eq!(db.revive_at(999, 9_000, 1).unwrap(), RetryOutcome::NotFound);
    }

    #[test]
    fn cancel_queued_and_running() {
        let (_d, db) = temp_db();
        let a = db.enqueue_at(&job(None), 0).unwrap().id;
        assert_eq!(db.cancel_at(a, 1).unwrap(), CancelOutcome::Cancelled);
        assert_eq!(
            db.cancel_at(a, 1).unwrap(),
            CancelOutcome::AlreadyFinished(JobState::Cancelled)
        );
        let b = db.enqueue_at(&job(None), 0).unwrap().id;
        let c = db
            .claim_at(&me("w"), None, None, 0, 60_000)
            .unwrap()
            .unwrap();
        assert_eq!(c.id, b);
        assert_eq!(db.cancel_at(b, 1).unwrap(), CancelOutcome::Requested);
        assert_eq!(
            db.heartbeat_at(&c.lease, 2, 60_000).unwrap(),
            Heartbeat::Held {
                cancel_requested: true
            }
        );
        assert_eq!(db.cancel_at(404, 1).unwrap(), CancelOutcome::NotFound);
    }

    #[test]
    fn cancelling_a_failed_job_dismisses_it() {
        let (_d, db) = temp_db();
        let a = db.enqueue_at(&job(None), 0).unwrap().id;
        db.conn()
            .execute(
                "UPDATE jobs SET state = 'failed', finished_at = 5, last_error = 'bad row' WHERE id = ?1",
                [a],
            )
            .unwrap();
        assert_eq!(db.unresolved_failed_jobs().unwrap().len(), 1);
        assert_eq!(db.cancel_at(a, 9).unwrap(), CancelOutcome::Dismissed);
        let j = db.job(a).unwrap().unwrap();
        assert_eq!(
            (j.state.as_str(), j.finished_at, j.last_error.as_deref()),
            ("cancelled", Some(5), Some("bad row"))
        );
        assert!(db.unresolved_failed_jobs().unwrap().is_empty());
        assert_eq!(
            db.cancel_at(a, 9).unwrap(),
            CancelOutcome::AlreadyFinished(JobState::Cancelled)
        );
        assert_eq!(db.revive_at(a, 10, 1).unwrap(), RetryOutcome::Revived);
    }

    #[test]
    fn prune_uses_finish_time_and_keeps_recent_jobs() {
        let (_d, db) = temp_db();
        const MIN: i64 = 60_000;
        const DAY: i64 = 24 * 60 * MIN;
        let now = 100 * DAY;
        // A job created long ago but finished a minute ago must survive.
        db.enqueue_at(&job(None), 0).unwrap();
        let c = db
            .claim_at(&me("w"), None, None, 0, 60_000)
            .unwrap()
            .unwrap();
        db.complete_at(
            &c.lease,
            now - MIN,
            &JobResult::default(),
            &Effects::default(),
        )
        .unwrap();
        // A job finished 31 days ago goes.
        let old = db.enqueue_at(&job(None), 0).unwrap().id;
        let c = db
            .claim_at(&me("w"), None, None, 0, 60_000)
            .unwrap()
            .unwrap();
        assert_eq!(c.id, old);
        db.complete_at(
            &c.lease,
            now - 31 * DAY,
            &JobResult::default(),
            &Effects::default(),
        )
        .unwrap();
        let policy = Retention {
            batch: 1,
            ..Retention::default()
        };
        assert_eq!(db.prune_preview_at(&policy, now).unwrap().0, 1);
        assert_eq!(db.prune_at(&policy, now).unwrap().0, 1);
        assert!(db.job(old).unwrap().is_none());
        assert_eq!(db.jobs(None, None, 10).unwrap().len(), 1);
    }

    /// The claim, rescue and prune statements must walk their indexes, never scan the table or
    /// sort in a temporary B-tree, so throughput does not fall as history grows.
    #[test]
    fn queue_statements_use_their_indexes() {
        let (_d, db) = temp_db();
        // Give the planner real statistics: many finished rows, a few pending ones.
        db.immediate(|c| {
            c.execute_batch(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
                 INSERT INTO jobs (platform, input, state, run_at, created_at, finished_at)
                 SELECT 'draft2digital', '{}', 'completed', i, i, i FROM n;
                 INSERT INTO jobs (platform, input, run_at, created_at) VALUES ('gumroad', '{}', 1, 1);
                 ANALYZE;",
            )?;
            Ok(())
        })
        .unwrap();
        let rescue = "SELECT id FROM jobs WHERE state = 'processing' AND lease_expires_at < 5";
        let owners = "SELECT DISTINCT lease_owner FROM jobs WHERE state = 'processing'";
        let prune = "SELECT id FROM jobs WHERE finished_at IS NOT NULL AND finished_at < 5
                       AND state = 'completed' LIMIT 1000";
        let runs =
            "SELECT id FROM cron_runs WHERE finished_at IS NOT NULL AND finished_at < 5 LIMIT 1000";
        // `status`: a platform's pending counts and its latest completed job.
        let counts = "SELECT state, count(*) FROM jobs WHERE platform = 'gumroad'
                        AND state IN ('queued','processing','retrying','failed') GROUP BY state";
        let last = "SELECT id, finished_at FROM jobs WHERE platform = 'gumroad'
                      AND state = 'completed' ORDER BY finished_at DESC LIMIT 1";
        for (sql, index) in [
            (CLAIM, "jobs_claim"),
            (rescue, "jobs_state"),
            (owners, "jobs_state"),
            (prune, "jobs_state"),
            (runs, "cron_runs_retain"),
            (counts, "jobs_state"),
            (last, "jobs_state"),
        ] {
            let plan = db.query_plan(sql).unwrap().join(" | ");
            assert!(plan.contains(index), "{index} not used: {plan}");
            // (A DISTINCT over the processing rows, a handful, may use one.)
            assert!(!plan.contains("TEMP B-TREE FOR ORDER BY"), "sorts: {plan}");
            assert!(!plan.contains("TEMP B-TREE FOR GROUP BY"), "sorts: {plan}");
            assert!(!plan.contains("MULTI-INDEX OR"), "{plan}");
            assert!(
                !plan.contains("SCAN jobs") || plan.contains("USING INDEX"),
                "{plan}"
            );
        }
    }
}

#[cfg(test)]
mod worker_tests {
    use std::time::Duration;

    use crate::queue::retry::{Retention, RetryPolicy};
    use crate::queue::worker::{self, Handler, JobControl, WorkerConfig};
    use crate::queue::{ClaimedJob, Effects, JobError, JobResult, JobStore, NewJob};
    use crate::store::sqlite::Db;
    use crate::store::testutil::{temp_db, At as _};

    /// A handler that runs longer than the lease, checking that nobody rescued its job.
    struct Slow {
        db: Db,
        rescued_meanwhile: usize,
    }

    impl Handler for Slow {
        fn handle(
            &mut self,
            _job: &ClaimedJob,
            ctl: &JobControl,
        ) -> Result<(JobResult, Effects), JobError> {
            for _ in 0..12 {
                std::thread::sleep(Duration::from_millis(100));
                // Another run's rescue pass, with nobody judged dead: only expired leases go.
                let r = self
                    .db
                    .rescue_at(crate::queue::now_ms(), &|_| false)
                    .map_err(|e| JobError::Transient(e.to_string()))?;
                self.rescued_meanwhile += r.len();
                if let Some(stop) = ctl.should_stop() {
                    return Err(stop);
                }
            }
            Ok((JobResult::default(), Effects::default()))
        }
    }

    #[test]
    fn a_long_job_is_never_rescued_while_its_heartbeat_runs() {
        let (_d, db) = temp_db();
        db.enqueue(&NewJob {
            platform: "draft2digital".into(),
            input: "{}".into(),
            priority: 0,
            run_at: Some(0),
            max_attempts: 3,
            unique_key: None,
        })
        .unwrap();
        let mut handler = Slow {
            db: Db::open(db.path()).unwrap(),
            rescued_meanwhile: 0,
        };
        let path = db.path().to_path_buf();
        let open =
            move || -> anyhow::Result<Box<dyn JobStore + Send>> { Ok(Box::new(Db::open(&path)?)) };
        let cfg = WorkerConfig {
            batch: 1,
            platform: None,
            // 300 ms lease, the job runs 1.2 s: only the heartbeat (every 100 ms) keeps it.
            lease_ms: 300,
            policy: RetryPolicy::default(),
            retention: Retention::default(),
            window: worker::DEFAULT_WINDOW,
            args: "test".into(),
        };
        let report = worker::run(&db, &open, &mut handler, &cfg, &mut |_| {}).unwrap();
        assert_eq!(handler.rescued_meanwhile, 0, "a live job was rescued");
        assert_eq!(report.counts.completed, 1);
        assert_eq!(
            crate::store::ReportStore::attempts(&db, 1).unwrap().len(),
            1
        );
    }
}
