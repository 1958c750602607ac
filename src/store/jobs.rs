//! `impl JobStore for Db`: the queue's statements, each one short `BEGIN IMMEDIATE` transaction.

use anyhow::Result;
use rusqlite::{params, Connection, OptionalExtension};

use super::{sales, Db};
use crate::queue::retry::Retention;
use crate::queue::{
    CancelOutcome, ClaimedJob, Effects, Enqueued, FailDecision, Heartbeat, JobError, JobResult,
    JobState, JobStore, Lease, Millis, NewJob, Rescued, RetryOutcome, RunCounts, WorkerId,
};

/// The fence every write of an attempt carries.
const FENCE: &str = "id = ?1 AND state = 'processing' AND lease_owner = ?2 AND claims = ?3";

impl JobStore for Db {
    fn enqueue(&self, job: &NewJob, now: Millis) -> Result<Enqueued> {
        self.immediate(|c| {
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
                        job.run_at,
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
        })
    }

    fn rescue(&self, now: Millis, is_dead: &dyn Fn(&str) -> bool) -> Result<Vec<Rescued>> {
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

    fn claim(
        &self,
        owner: &WorkerId,
        run_id: Option<i64>,
        platform: Option<&str>,
        now: Millis,
        lease_ms: i64,
    ) -> Result<Option<ClaimedJob>> {
        self.immediate(|c| {
            let row = c
                .query_row(
                    "UPDATE jobs SET state = 'processing', attempts = attempts + 1, claims = claims + 1,
                            lease_owner = ?1, lease_expires_at = ?2 + ?3
                      WHERE id = (SELECT id FROM jobs
                                   WHERE state IN ('queued','retrying') AND run_at <= ?2
                                     AND (?4 IS NULL OR platform = ?4)
                                   ORDER BY priority DESC, run_at, id LIMIT 1)
                      RETURNING id, platform, input, attempts, max_attempts, claims",
                    params![owner.0, now, lease_ms, platform],
                    |r| {
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
                    },
                )
                .optional()?;
            if let Some(job) = &row {
                c.execute(
                    "INSERT INTO attempts (job_id, attempt, run_id, worker, started_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![job.id, job.lease.claim, run_id, owner.0, now],
                )?;
            }
            Ok(row)
        })
    }

    fn heartbeat(&self, lease: &Lease, now: Millis, lease_ms: i64) -> Result<Heartbeat> {
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
        now: Millis,
        result: &JobResult,
        effects: &Effects,
    ) -> Result<Option<JobResult>> {
        self.immediate(|c| {
            if !holds(c, lease)? {
                return Ok(None);
            }
            let mut result = result.clone();
            if let Some(import_id) = effects.import_id {
                result.events.removed += sales::publish_import(c, import_id, now)?;
            }
            let json = serde_json::to_string(&result)?;
            let n = c.execute(
                &format!(
                    "UPDATE jobs SET state = 'completed', finished_at = ?4, lease_owner = NULL,
                            lease_expires_at = NULL, result = ?5, last_error = NULL WHERE {FENCE}"
                ),
                params![lease.job_id, lease.owner, lease.claim, now, json],
            )?;
            if n != 1 {
                anyhow::bail!("job {} changed under its lease", lease.job_id);
            }
            close_attempt(c, lease, now, "completed", None)?;
            Ok(Some(result))
        })
    }

    fn fail(
        &self,
        lease: &Lease,
        now: Millis,
        error: &JobError,
        decision: &FailDecision,
    ) -> Result<bool> {
        self.immediate(|c| {
            if !holds(c, lease)? {
                return Ok(false);
            }
            let msg = error.message();
            let (sql_set, outcome, run_at): (&str, &str, Option<Millis>) = match decision {
                FailDecision::Retry { run_at } => (
                    "state = 'retrying', run_at = ?6, finished_at = NULL",
                    "retrying",
                    Some(*run_at),
                ),
                FailDecision::Snooze { run_at } => (
                    "state = 'retrying', run_at = ?6, finished_at = NULL, attempts = MAX(attempts - 1, 0)",
                    "rate_limited",
                    Some(*run_at),
                ),
                FailDecision::Fail => ("state = 'failed', finished_at = ?4", "failed", None),
                FailDecision::Cancel => ("state = 'cancelled', finished_at = ?4", "cancelled", None),
            };
            let n = c.execute(
                &format!(
                    "UPDATE jobs SET {sql_set}, lease_owner = NULL, lease_expires_at = NULL,
                            cancel_requested = 0, last_error = ?5 WHERE {FENCE}"
                ),
                params![lease.job_id, lease.owner, lease.claim, now, msg, run_at],
            )?;
            if n != 1 {
                anyhow::bail!("job {} changed under its lease", lease.job_id);
            }
            close_attempt(c, lease, now, outcome, Some(msg))?;
            sales::discard_staged_imports(c, lease.job_id)?;
            Ok(true)
        })
    }

    fn cancel(&self, id: i64, now: Millis) -> Result<CancelOutcome> {
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
                s => CancelOutcome::AlreadyFinished(s),
            })
        })
    }

    fn revive(&self, id: i64, now: Millis, extra_attempts: i64) -> Result<RetryOutcome> {
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

    fn start_run(&self, owner: &WorkerId, args: &str, now: Millis) -> Result<i64> {
        let mut parts = owner.0.rsplitn(3, ':');
        let _start = parts.next();
        let pid: i64 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        self.immediate(|c| {
            c.execute(
                "INSERT INTO cron_runs (host, pid, owner, args, started_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![owner.host(), pid, owner.0, args, now],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    fn finish_run(
        &self,
        run_id: i64,
        now: Millis,
        counts: &RunCounts,
        exit_code: i32,
    ) -> Result<()> {
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
            Ok(())
        })
    }

    fn prune(&self, policy: &Retention, now: Millis) -> Result<(u64, u64)> {
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
        self.immediate(|c| sales::discard_orphan_staging(c))?;
        Ok((jobs, runs))
    }
}

impl Db {
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

    /// How many rows `prune` would delete now (for `prune --dry-run`).
    ///
    /// # Errors
    /// Database errors.
    pub fn prune_preview(&self, policy: &Retention, now: Millis) -> Result<(u64, u64)> {
        let jobs: i64 = self.conn().query_row(
            "SELECT count(*) FROM jobs WHERE finished_at IS NOT NULL AND
               ((state = 'completed' AND finished_at < ?1) OR
                (state IN ('failed','cancelled') AND finished_at < ?2))",
            params![now - policy.completed_ms, now - policy.failed_ms],
            |r| r.get(0),
        )?;
        let runs: i64 = self.conn().query_row(
            "SELECT count(*) FROM cron_runs WHERE finished_at IS NOT NULL AND finished_at < ?1",
            params![now - policy.runs_ms],
            |r| r.get(0),
        )?;
        Ok((jobs as u64, runs as u64))
    }
}

fn holds(c: &Connection, lease: &Lease) -> Result<bool> {
    Ok(c.query_row(
        &format!("SELECT 1 FROM jobs WHERE {FENCE}"),
        params![lease.job_id, lease.owner, lease.claim],
        |_| Ok(()),
    )
    .optional()?
    .is_some())
}

fn close_attempt(
    c: &Connection,
    lease: &Lease,
    now: Millis,
    outcome: &str,
    error: Option<&str>,
) -> Result<()> {
    c.execute(
        "UPDATE attempts SET finished_at = ?3, outcome = ?4, error = ?5
          WHERE job_id = ?1 AND attempt = ?2 AND finished_at IS NULL",
        params![lease.job_id, lease.claim, now, outcome, error],
    )?;
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
        sales::discard_staged_imports(c, id)?;
        out.push(Rescued {
            job_id: id,
            now_failed: state == "failed",
        });
    }
    Ok(out)
}
