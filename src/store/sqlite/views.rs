//! Read-only queries behind `status`, `jobs`, `logs` and the overview.

use anyhow::Result;
use rusqlite::{params, OptionalExtension, Row};

use super::Db;
use crate::queue::Millis;

/// One job as stored.
#[derive(Debug, Clone)]
pub struct JobRow {
    pub id: i64,
    pub platform: String,
    pub state: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub priority: i64,
    pub created_at: Millis,
    pub run_at: Millis,
    pub finished_at: Option<Millis>,
    pub last_error: Option<String>,
    pub input: String,
    pub result: Option<String>,
    pub cancel_requested: bool,
}

/// One attempt of a job.
#[derive(Debug, Clone)]
pub struct AttemptRow {
    pub attempt: i64,
    pub started_at: Millis,
    pub finished_at: Option<Millis>,
    pub outcome: Option<String>,
    pub error: Option<String>,
    pub worker: String,
}

/// One `run-worker` invocation.
#[derive(Debug, Clone)]
pub struct RunRow {
    pub id: i64,
    pub started_at: Millis,
    pub finished_at: Option<Millis>,
    pub host: String,
    pub pid: i64,
    pub owner: String,
    pub claimed: i64,
    pub completed: i64,
    pub retrying: i64,
    pub failed: i64,
    pub rescued: i64,
    pub exit_code: Option<i64>,
}

/// Totals of effective sales for one platform and currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencyTotal {
    pub platform: String,
    pub currency: String,
    pub events: i64,
    pub units: i64,
    pub kenp_pages: i64,
    pub royalty_micros: i64,
}

/// The per-platform overview of `status` without a job id.
#[derive(Debug, Clone, Default)]
pub struct PlatformOverview {
    pub platform: String,
    pub events: i64,
    pub first_period: Option<String>,
    pub last_period: Option<String>,
    pub final_through: Option<String>,
    pub estimated_through: Option<String>,
    pub last_success: Option<Millis>,
    pub last_success_job: Option<i64>,
    pub queued: i64,
    pub processing: i64,
    pub retrying: i64,
    pub failed: i64,
    pub sync_cursor: Option<String>,
}

const JOB_COLS: &str = "id, platform, state, attempts, max_attempts, priority, created_at, run_at,
    finished_at, last_error, input, result, cancel_requested";

fn job_row(r: &Row<'_>) -> rusqlite::Result<JobRow> {
    Ok(JobRow {
        id: r.get(0)?,
        platform: r.get(1)?,
        state: r.get(2)?,
        attempts: r.get(3)?,
        max_attempts: r.get(4)?,
        priority: r.get(5)?,
        created_at: r.get(6)?,
        run_at: r.get(7)?,
        finished_at: r.get(8)?,
        last_error: r.get(9)?,
        input: r.get(10)?,
        result: r.get(11)?,
        cancel_requested: r.get(12)?,
    })
}

impl Db {
    /// One job.
    ///
    /// # Errors
    /// Database errors.
    pub fn job(&self, id: i64) -> Result<Option<JobRow>> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {JOB_COLS} FROM jobs WHERE id = ?1"),
                params![id],
                job_row,
            )
            .optional()?)
    }

    /// Jobs, newest first, optionally filtered.
    ///
    /// # Errors
    /// Database errors.
    pub fn jobs(
        &self,
        state: Option<&str>,
        platform: Option<&str>,
        limit: i64,
    ) -> Result<Vec<JobRow>> {
        let mut stmt = self.conn().prepare(&format!(
            "SELECT {JOB_COLS} FROM jobs WHERE (?1 IS NULL OR state = ?1)
               AND (?2 IS NULL OR platform = ?2) ORDER BY id DESC LIMIT ?3"
        ))?;
        let rows = stmt.query_map(params![state, platform, limit], job_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A job's attempt history, oldest first.
    ///
    /// # Errors
    /// Database errors.
    pub fn attempts(&self, job_id: i64) -> Result<Vec<AttemptRow>> {
        let mut stmt = self.conn().prepare(
            "SELECT attempt, started_at, finished_at, outcome, error, worker FROM attempts
              WHERE job_id = ?1 ORDER BY attempt",
        )?;
        let rows = stmt.query_map(params![job_id], |r| {
            Ok(AttemptRow {
                attempt: r.get(0)?,
                started_at: r.get(1)?,
                finished_at: r.get(2)?,
                outcome: r.get(3)?,
                error: r.get(4)?,
                worker: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Cron runs, newest first; `failed_only` keeps runs with a failed job or a bad exit.
    ///
    /// # Errors
    /// Database errors.
    pub fn runs(&self, limit: i64, failed_only: bool) -> Result<Vec<RunRow>> {
        let mut stmt = self.conn().prepare(
            "SELECT id, started_at, finished_at, host, pid, owner, claimed, completed, retrying,
                    failed, rescued, exit_code
               FROM cron_runs
              WHERE (?2 = 0 OR failed > 0 OR exit_code != 0)
              ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit, failed_only], |r| {
            Ok(RunRow {
                id: r.get(0)?,
                started_at: r.get(1)?,
                finished_at: r.get(2)?,
                host: r.get(3)?,
                pid: r.get(4)?,
                owner: r.get(5)?,
                claimed: r.get(6)?,
                completed: r.get(7)?,
                retrying: r.get(8)?,
                failed: r.get(9)?,
                rescued: r.get(10)?,
                exit_code: r.get(11)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Totals of effective sales per platform and currency (estimates shadowed by finals), read
    /// from the rollup, which the store and the triggers keep equal to the live events.
    ///
    /// # Errors
    /// Database errors.
    pub fn totals(&self) -> Result<Vec<CurrencyTotal>> {
        let mut stmt = self.conn().prepare(
            "SELECT platform, currency, sum(events), sum(units), sum(kenp_pages), sum(royalty_micros)
               FROM effective_rollup GROUP BY platform, currency ORDER BY platform, currency",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(CurrencyTotal {
                platform: r.get(0)?,
                currency: r.get(1)?,
                events: r.get(2)?,
                units: r.get(3)?,
                kenp_pages: r.get(4)?,
                royalty_micros: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The per-platform overview for the given platforms.
    ///
    /// # Errors
    /// Database errors.
    pub fn overview(&self, platforms: &[&str]) -> Result<Vec<PlatformOverview>> {
        let c = self.conn();
        let mut out = Vec::new();
        for p in platforms {
            let mut o = PlatformOverview {
                platform: (*p).to_string(),
                ..PlatformOverview::default()
            };
            (o.events, o.first_period, o.last_period) = c.query_row(
                "SELECT coalesce(sum(events), 0), min(period_start), max(period_end)
                   FROM effective_rollup WHERE platform = ?1",
                params![p],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            (o.final_through, o.estimated_through) = c.query_row(
                "SELECT max(CASE WHEN is_final THEN period_end END),
                        max(CASE WHEN NOT is_final THEN period_end END)
                   FROM effective_rollup WHERE platform = ?1",
                params![p],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let last: Option<(i64, Millis)> = c
                .query_row(
                    "SELECT id, finished_at FROM jobs WHERE platform = ?1 AND state = 'completed'
                      ORDER BY finished_at DESC LIMIT 1",
                    params![p],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if let Some((id, at)) = last {
                o.last_success_job = Some(id);
                o.last_success = Some(at);
            }
            let mut stmt = c.prepare_cached(
                "SELECT state, count(*) FROM jobs WHERE platform = ?1
                   AND state IN ('queued','processing','retrying','failed') GROUP BY state",
            )?;
            let counts = stmt.query_map(params![p], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?;
            for row in counts {
                let (state, n) = row?;
                match state.as_str() {
                    "queued" => o.queued = n,
                    "processing" => o.processing = n,
                    "retrying" => o.retrying = n,
                    _ => o.failed = n,
                }
            }
            o.sync_cursor = c
                .query_row(
                    "SELECT cursor FROM sync_cursors WHERE platform = ?1",
                    params![p],
                    |r| r.get(0),
                )
                .optional()?;
            out.push(o);
        }
        Ok(out)
    }

    /// `EXPLAIN QUERY PLAN` detail lines of a statement (for the index tests and `doctor`);
    /// its parameters, if any, are NULL.
    ///
    /// # Errors
    /// Database errors.
    pub fn query_plan(&self, sql: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn().prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
        // The plan of a statement with parameters, planned as it is when they are bound.
        let nulls = std::iter::repeat(rusqlite::types::Null).take(stmt.parameter_count());
        let rows = stmt.query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
