//! `impl JobStore for PgStore`: the queue on PostgreSQL. Claims choose due jobs in a CTE with
//! `FOR UPDATE SKIP LOCKED` (an optimization fence: the UPDATE never touches more rows than the
//! LIMIT, QUEUE.md §2.1) feeding one `UPDATE … RETURNING`; leases run on the database's clock;
//! every write of an attempt is fenced on its owner and claim number. A job without effects is
//! completed and the next one claimed in one statement (one round trip, one commit), and a
//! window of quick jobs likewise (migration 4).

use anyhow::Result;
use postgres::error::SqlState;
use postgres::Transaction;

use super::effects::{self, FENCE};
use super::{args, ms, PgStore};
use crate::queue::retry::Retention;
use crate::queue::{
    CancelOutcome, ClaimRequest, ClaimedJob, Effects, Enqueued, FailDecision, Heartbeat, JobError,
    JobResult, JobStore, Lease, Millis, NewJob, Rescued, RetryOutcome, RunCounts, WorkerId,
};

/// The claim (migration 3's `salesingest_claim`): `$1` owner, `$2` lease in ms, `$3` run id,
/// `$4` platform or NULL. Due jobs are chosen in a CTE with `FOR UPDATE SKIP LOCKED` feeding
/// one `UPDATE … RETURNING`, and the attempt row is opened in the same statement. Returns the
/// claimed job's `id, platform, input, attempts, max_attempts, claims` (no row: nothing due).
const CLAIM: &str = "SELECT * FROM salesingest_claim($1, $2::float8, $3, $4::text)";

fn claimed_job(row: &postgres::Row, owner: &WorkerId) -> ClaimedJob {
    let id: i64 = row.get("id");
    ClaimedJob {
        id,
        platform: row.get("platform"),
        input: row.get("input"),
        attempts: i64::from(row.get::<_, i32>("attempts")),
        max_attempts: i64::from(row.get::<_, i32>("max_attempts")),
        lease: Lease {
            job_id: id,
            owner: owner.0.clone(),
            claim: i64::from(row.get::<_, i32>("claims")),
        },
    }
}

fn claim_in(tx: &mut Transaction<'_>, req: &ClaimRequest<'_>) -> Result<Option<ClaimedJob>> {
    let platform = req.platform.map(str::to_string);
    let row = tx.query_typed_opt(
        CLAIM,
        args![req.owner.0.as_str(), req.lease_ms, req.run_id, platform],
    )?;
    Ok(row.map(|r| claimed_job(&r, req.owner)))
}

/// Insert a job inside `tx`, or return the pending job with the same unique key (shared by
/// `enqueue` and the schedule firing).
pub(super) fn enqueue_in(tx: &mut Transaction<'_>, job: &NewJob) -> Result<Enqueued> {
    let run_at = job.run_at.map(super::ts);
    // The pending job it duplicates may finish between the two statements (each sees what was
    // committed when it started): try again.
    for _ in 0..5 {
        let row = tx.query_typed_opt(
            "INSERT INTO jobs (platform, input, priority, run_at, max_attempts, unique_key, created_at)
             VALUES ($1, $2::text::jsonb, $3, coalesce($4, now()), $5, $6, now())
             ON CONFLICT (platform, unique_key)
               WHERE unique_key IS NOT NULL AND state IN ('queued','retrying','processing')
             DO NOTHING
             RETURNING id",
            args![
                job.platform.as_str(),
                job.input.as_str(),
                job.priority,
                run_at,
                job.max_attempts as i32,
                job.unique_key
            ],
        )?;
        if let Some(r) = row {
            return Ok(Enqueued {
                id: r.get(0),
                deduplicated: false,
            });
        }
        let existing = tx.query_typed_opt(
            "SELECT id FROM jobs WHERE platform = $1 AND unique_key = $2
               AND state IN ('queued','retrying','processing')",
            args![job.platform.as_str(), job.unique_key],
        )?;
        if let Some(r) = existing {
            return Ok(Enqueued {
                id: r.get(0),
                deduplicated: true,
            });
        }
    }
    anyhow::bail!(
        "could not enqueue the {} job: its unique key kept changing hands",
        job.platform
    )
}

/// Complete `lease`'s job inside `tx` (the fence is re-checked under the row lock), publishing
/// its effects first. `None` when the lease was lost: nothing is written.
fn complete_in(
    tx: &mut Transaction<'_>,
    lease: &Lease,
    result: &JobResult,
    fx: &Effects,
) -> Result<Option<JobResult>> {
    let held = tx
        .query_typed_opt(
            &format!("SELECT 1 FROM jobs WHERE {FENCE} FOR UPDATE"),
            args![lease.job_id, lease.owner.as_str(), lease.claim as i32],
        )?
        .is_some();
    if !held {
        return Ok(None);
    }
    let mut result = result.clone();
    result.events.removed += effects::publish(tx, fx)?;
    let json = serde_json::to_string(&result)?;
    tx.query_typed(
        &format!(
            "WITH done AS (
               UPDATE jobs SET state = 'completed', finished_at = now(), lease_owner = NULL,
                      lease_expires_at = NULL, result = $4::text::jsonb, last_error = NULL
                WHERE {FENCE} RETURNING id)
             UPDATE attempts SET finished_at = now(), outcome = 'completed', error = NULL
              WHERE job_id = $1 AND attempt = $3 AND finished_at IS NULL
                AND EXISTS (SELECT 1 FROM done)"
        ),
        args![lease.job_id, lease.owner.as_str(), lease.claim as i32, json],
    )?;
    Ok(Some(result))
}

impl JobStore for PgStore {
    fn enqueue(&self, job: &NewJob) -> Result<Enqueued> {
        self.tx(|tx| enqueue_in(tx, job))
    }

    fn rescue(&self, is_dead: &dyn Fn(&str) -> bool) -> Result<Vec<Rescued>> {
        // Owners are judged here (this host's /proc), then each UPDATE re-checks state and owner
        // under row locks, skipping rows another transaction holds (a heartbeat renewing one:
        // that job is alive), so a job that finished or was renewed meanwhile is never touched.
        let owners: Vec<String> = self
            .query(
                "SELECT DISTINCT lease_owner FROM jobs WHERE state = 'processing'",
                &[],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let dead: Vec<String> = owners.into_iter().filter(|o| is_dead(o)).collect();
        self.tx(|tx| {
            let mut out = Vec::new();
            if !dead.is_empty() {
                out.extend(rescue_where(
                    tx,
                    "lease_owner = ANY($3)",
                    &dead,
                    "worker_died",
                    "the worker running this job died (killed or crashed); rescued for another attempt",
                )?);
            }
            out.extend(rescue_where(
                tx,
                "lease_expires_at < now() AND cardinality($3) >= 0",
                &[],
                "lease_expired",
                "the worker's lease expired without a heartbeat; rescued for another attempt",
            )?);
            Ok(out)
        })
    }

    fn claim(&self, req: &ClaimRequest<'_>) -> Result<Option<ClaimedJob>> {
        self.tx(|tx| claim_in(tx, req))
    }

    fn heartbeat(&self, lease: &Lease, lease_ms: i64) -> Result<Heartbeat> {
        let row = self.query_opt(
            &format!(
                "UPDATE jobs SET lease_expires_at = now() + $4::float8 * interval '1 millisecond'
                  WHERE {FENCE} RETURNING cancel_requested"
            ),
            args![
                lease.job_id,
                lease.owner.as_str(),
                lease.claim as i32,
                lease_ms
            ],
        )?;
        Ok(match row {
            Some(r) => Heartbeat::Held {
                cancel_requested: r.get(0),
            },
            None => Heartbeat::Lost,
        })
    }

    fn complete(
        &self,
        lease: &Lease,
        result: &JobResult,
        fx: &Effects,
    ) -> Result<Option<JobResult>> {
        self.tx(|tx| complete_in(tx, lease, result, fx))
    }

    fn complete_then_claim(
        &self,
        lease: &Lease,
        result: &JobResult,
        fx: &Effects,
        next: &ClaimRequest<'_>,
    ) -> Result<(Option<JobResult>, Option<ClaimedJob>)> {
        if fx.import_id.is_some() {
            return self.tx(|tx| {
                let done = complete_in(tx, lease, result, fx)?;
                let job = claim_in(tx, next)?;
                Ok((done, job))
            });
        }
        // No effects to publish: the fenced completion, its attempt row, the next claim and its
        // attempt row are one call of migration 3's function (one round trip, one commit).
        let json = serde_json::to_string(result)?;
        let platform = next.platform.map(str::to_string);
        let row = self.query_one(
            "SELECT * FROM salesingest_complete_then_claim($1, $2, $3, $4, $5, $6::float8, $7, $8::text)",
            args![
                lease.job_id,
                lease.owner.as_str(),
                lease.claim as i32,
                json,
                next.owner.0.as_str(),
                next.lease_ms,
                next.run_id,
                platform
            ],
        )?;
        let done = (row.get::<_, i64>("completed") == 1).then(|| result.clone());
        let job = row
            .get::<_, Option<i64>>("id")
            .map(|_| claimed_job(&row, next.owner));
        Ok((done, job))
    }

    fn complete_all_then_claim(
        &self,
        done: &[(Lease, JobResult)],
        next: &ClaimRequest<'_>,
        limit: usize,
    ) -> Result<(Vec<Option<JobResult>>, Vec<ClaimedJob>)> {
        // One call of migration 4's function: every fenced completion and its attempt row, then
        // up to `limit` claims and their attempt rows (one round trip, one commit).
        let jobs: Vec<i64> = done.iter().map(|(l, _)| l.job_id).collect();
        let owners: Vec<String> = done.iter().map(|(l, _)| l.owner.clone()).collect();
        let claims: Vec<i32> = done.iter().map(|(l, _)| l.claim as i32).collect();
        let results = done
            .iter()
            .map(|(_, r)| serde_json::to_string(r))
            .collect::<serde_json::Result<Vec<String>>>()?;
        let platform = next.platform.map(str::to_string);
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        let rows = self.query(
            "SELECT * FROM salesingest_complete_all_then_claim($1, $2, $3, $4, $5, $6::float8,
                                                               $7, $8::text, $9)",
            args![
                jobs,
                owners,
                claims,
                results,
                next.owner.0.as_str(),
                next.lease_ms,
                next.run_id,
                platform,
                limit
            ],
        )?;
        let completed: Vec<i64> = rows.first().map(|r| r.get(0)).unwrap_or_default();
        let recorded = done
            .iter()
            .zip(1i64..)
            .map(|((_, result), i)| completed.contains(&i).then(|| result.clone()))
            .collect();
        let claimed = rows
            .iter()
            .filter(|r| r.get::<_, Option<i64>>("id").is_some())
            .map(|r| claimed_job(r, next.owner))
            .collect();
        Ok((recorded, claimed))
    }

    fn fail(&self, lease: &Lease, error: &JobError, decision: &FailDecision) -> Result<bool> {
        let msg = error.message();
        let (set, outcome, after): (&str, &str, Option<i64>) = match decision {
            FailDecision::Retry { after_ms } => (
                "state = 'retrying', finished_at = NULL",
                "retrying",
                Some(*after_ms),
            ),
            FailDecision::Snooze { after_ms } => (
                "state = 'retrying', finished_at = NULL, attempts = greatest(attempts - 1, 0)",
                "rate_limited",
                Some(*after_ms),
            ),
            FailDecision::Fail => ("state = 'failed', finished_at = now()", "failed", None),
            FailDecision::Cancel => (
                "state = 'cancelled', finished_at = now()",
                "cancelled",
                None,
            ),
        };
        self.tx(|tx| {
            let row = tx.query_typed_opt(
                &format!(
                    "UPDATE jobs SET {set},
                            run_at = CASE WHEN $5::int8 IS NULL THEN run_at
                                          ELSE now() + $5::float8 * interval '1 millisecond' END,
                            lease_owner = NULL, lease_expires_at = NULL, cancel_requested = false,
                            last_error = $4
                      WHERE {FENCE} RETURNING id"
                ),
                args![
                    lease.job_id,
                    lease.owner.as_str(),
                    lease.claim as i32,
                    msg,
                    after
                ],
            )?;
            if row.is_none() {
                return Ok(false);
            }
            tx.query_typed(
                "UPDATE attempts SET finished_at = now(), outcome = $3, error = $4
                  WHERE job_id = $1 AND attempt = $2 AND finished_at IS NULL",
                args![lease.job_id, lease.claim as i32, outcome, msg],
            )?;
            effects::discard(tx, lease.job_id)?;
            Ok(true)
        })
    }

    fn cancel(&self, id: i64) -> Result<CancelOutcome> {
        self.tx(|tx| {
            let Some(row) =
                tx.query_typed_opt("SELECT state FROM jobs WHERE id = $1 FOR UPDATE", args![id])?
            else {
                return Ok(CancelOutcome::NotFound);
            };
            let state: String = row.get(0);
            Ok(match state.as_str() {
                "queued" | "retrying" => {
                    tx.query_typed(
                        "UPDATE jobs SET state = 'cancelled', finished_at = now(),
                                last_error = 'cancelled by the user' WHERE id = $1",
                        args![id],
                    )?;
                    CancelOutcome::Cancelled
                }
                "processing" => {
                    tx.query_typed(
                        "UPDATE jobs SET cancel_requested = true WHERE id = $1",
                        args![id],
                    )?;
                    CancelOutcome::Requested
                }
                // Its error and finish time stay: the attempt history and pruning are unchanged.
                "failed" => {
                    tx.query_typed(
                        "UPDATE jobs SET state = 'cancelled' WHERE id = $1",
                        args![id],
                    )?;
                    CancelOutcome::Dismissed
                }
                other => CancelOutcome::AlreadyFinished(parse_state(other)?),
            })
        })
    }

    fn revive(&self, id: i64, extra_attempts: i64) -> Result<RetryOutcome> {
        self.tx(|tx| {
            let Some(row) =
                tx.query_typed_opt("SELECT state FROM jobs WHERE id = $1 FOR UPDATE", args![id])?
            else {
                return Ok(RetryOutcome::NotFound);
            };
            let state = parse_state(row.get::<_, &str>(0))?;
            if !matches!(
                state,
                crate::queue::JobState::Failed | crate::queue::JobState::Cancelled
            ) {
                return Ok(RetryOutcome::NotFailed(state));
            }
            // A pending job with the same unique key makes the revival a duplicate; the
            // savepoint lets the transaction go on after the unique index says so.
            let mut sp = tx.transaction()?;
            let revived = sp.query_typed(
                "UPDATE jobs SET state = 'queued', run_at = now(), finished_at = NULL,
                        cancel_requested = false,
                        max_attempts = greatest(max_attempts, attempts + $2::int4)
                  WHERE id = $1",
                args![id, extra_attempts.max(1) as i32],
            );
            match revived {
                Ok(_) => {
                    sp.commit()?;
                    Ok(RetryOutcome::Revived)
                }
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    sp.rollback()?;
                    let other: i64 = tx
                        .query_typed_one(
                            "SELECT b.id FROM jobs a JOIN jobs b ON b.platform = a.platform
                               AND b.unique_key = a.unique_key AND b.id != a.id
                               AND b.state IN ('queued','retrying','processing')
                              WHERE a.id = $1",
                            args![id],
                        )?
                        .get(0);
                    Ok(RetryOutcome::Duplicate(other))
                }
                Err(e) => Err(e.into()),
            }
        })
    }

    fn start_run(&self, owner: &WorkerId, args_text: &str) -> Result<(i64, Millis)> {
        let mut parts = owner.0.rsplitn(3, ':');
        let _start = parts.next();
        let pid: i64 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let row = self.query_one(
            "INSERT INTO cron_runs (host, pid, owner, args, started_at)
             VALUES ($1, $2, $3, $4, now()) RETURNING id, started_at",
            args![owner.host(), pid, owner.0.as_str(), args_text],
        )?;
        Ok((row.get(0), ms(row.get(1))))
    }

    fn finish_run(&self, run_id: i64, counts: &RunCounts, exit_code: i32) -> Result<Millis> {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let row = self.query_one(
            "UPDATE cron_runs SET finished_at = now(), claimed = $2, completed = $3, retrying = $4,
                    failed = $5, rescued = $6, exit_code = $7
              WHERE id = $1 RETURNING finished_at",
            args![
                run_id,
                n(counts.claimed),
                n(counts.completed),
                n(counts.retrying),
                n(counts.failed),
                n(counts.rescued),
                exit_code
            ],
        )?;
        Ok(ms(row.get(0)))
    }

    fn fault(&self) -> Option<String> {
        self.fault
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn prune(&self, policy: &Retention) -> Result<(u64, u64)> {
        let mut jobs = 0u64;
        for (state, horizon) in [
            ("completed", policy.completed_ms),
            ("failed", policy.failed_ms),
            ("cancelled", policy.failed_ms),
        ] {
            jobs += self.delete_batches(
                "DELETE FROM jobs WHERE id IN (
                   SELECT id FROM jobs WHERE state = $1 AND finished_at IS NOT NULL
                      AND finished_at < now() - $2::float8 * interval '1 millisecond'
                    ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)",
                state,
                horizon,
                policy.batch,
            )?;
        }
        let runs = self.delete_batches(
            "DELETE FROM cron_runs WHERE id IN (
               SELECT id FROM cron_runs WHERE finished_at IS NOT NULL AND $1 = $1
                  AND finished_at < now() - $2::float8 * interval '1 millisecond'
                ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)",
            "",
            policy.runs_ms,
            policy.batch,
        )?;
        self.tx(effects::discard_orphans)?;
        Ok((jobs, runs))
    }
}

impl PgStore {
    /// Run a batched DELETE until it deletes fewer than `batch` rows, one short transaction per
    /// batch (so vacuum is never held back by one long one).
    fn delete_batches(&self, sql: &str, key: &str, horizon: i64, batch: i64) -> Result<u64> {
        let mut total = 0u64;
        loop {
            let n = self.tx(|tx| Ok(tx.execute_typed(sql, args![key, horizon, batch])?))?;
            total += n;
            if (n as i64) < batch {
                return Ok(total);
            }
        }
    }
}

fn parse_state(s: &str) -> Result<crate::queue::JobState> {
    crate::queue::JobState::parse(s).ok_or_else(|| anyhow::anyhow!("unknown job state `{s}`"))
}

/// Release every processing job matching `cond` (`$3`: the dead owners): back to retrying at
/// once, or failed when out of attempts; their attempt rows are closed and what they staged is
/// discarded.
fn rescue_where(
    tx: &mut Transaction<'_>,
    cond: &str,
    owners: &[String],
    outcome: &str,
    message: &str,
) -> Result<Vec<Rescued>> {
    let owners = owners.to_vec();
    let rows = tx.query_typed(
        &format!(
            "WITH r AS (
               UPDATE jobs SET
                      state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'retrying' END,
                      finished_at = CASE WHEN attempts >= max_attempts THEN now() END,
                      run_at = now(), lease_owner = NULL, lease_expires_at = NULL, last_error = $2
                WHERE id IN (SELECT id FROM jobs WHERE state = 'processing' AND {cond}
                              ORDER BY id FOR UPDATE SKIP LOCKED)
               RETURNING id, claims, state),
             a AS (
               UPDATE attempts SET finished_at = now(), outcome = $1, error = $2
                 FROM r WHERE attempts.job_id = r.id AND attempts.attempt = r.claims
                  AND attempts.finished_at IS NULL)
             SELECT id, state FROM r ORDER BY id"
        ),
        args![outcome, message, owners],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let id: i64 = r.get(0);
        effects::discard(tx, id)?;
        out.push(Rescued {
            job_id: id,
            now_failed: r.get::<_, &str>(1) == "failed",
        });
    }
    Ok(out)
}
