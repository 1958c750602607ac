//! `impl UpkeepStore for PgStore`: schedules fired exactly once by workers on any number of
//! hosts, the inbox scan's records, the queries behind `status --check` and `doctor` (with the
//! queue's own health: dead tuples, long transactions holding vacuum back), and backups (which
//! PostgreSQL does with `pg_dump`).

use std::path::Path;

use anyhow::{bail, Result};

use super::jobs::enqueue_in;
use super::{args, ms, ms_opt, PgStore, SCHEMA_VERSION};
use crate::queue::retry::Retention;
use crate::queue::{Enqueued, Millis, NewJob};
use crate::store::{
    Diagnostic, DiagnosticStatus, FailedJob, InboxRow, OpenRun, ProcessingJob, ScheduleRow,
    UpkeepStore, INBOX_CLAIM_STALE_MS,
};

impl UpkeepStore for PgStore {
    fn now(&self) -> Result<Millis> {
        Ok(ms(self.query_one("SELECT now()", &[])?.get(0)))
    }

    fn location(&self) -> String {
        self.shown.clone()
    }

    fn schema_version(&self) -> Result<i64> {
        Ok(self
            .query_one("SELECT max(version) FROM salesingest_schema", &[])?
            .get::<_, Option<i64>>(0)
            .unwrap_or(0))
    }

    fn fire_schedule(&self, name: &str, every_ms: i64, job: &NewJob) -> Result<Option<Enqueued>> {
        self.tx(|tx| {
            // One statement claims the firing (a row only for the one transaction that moves
            // the time forward; the others wait on the row, then find it not due).
            let won = tx.query_typed_opt(
                "INSERT INTO schedules (name, platform, every_ms, first_enqueued_at, last_enqueued_at)
                 VALUES ($1, $2, $3, now(), now())
                 ON CONFLICT (name) DO UPDATE SET platform = excluded.platform,
                   every_ms = excluded.every_ms, last_enqueued_at = excluded.last_enqueued_at
                   WHERE schedules.last_enqueued_at <= now() - $3::float8 * interval '1 millisecond'
                 RETURNING name",
                args![name, job.platform.as_str(), every_ms],
            )?;
            if won.is_none() {
                return Ok(None);
            }
            let e = enqueue_in(tx, job)?;
            tx.execute_typed(
                "UPDATE schedules SET last_job_id = $2 WHERE name = $1",
                args![name, e.id],
            )?;
            Ok(Some(e))
        })
    }

    fn schedule_rows(&self) -> Result<Vec<ScheduleRow>> {
        Ok(self
            .query(
                "SELECT s.name, s.platform, s.first_enqueued_at, s.last_enqueued_at, s.last_job_id,
                        j.state
                   FROM schedules s LEFT JOIN jobs j ON j.id = s.last_job_id
                  ORDER BY s.name COLLATE \"C\"",
                &[],
            )?
            .iter()
            .map(|r| ScheduleRow {
                name: r.get(0),
                platform: r.get(1),
                first_enqueued_at: ms(r.get(2)),
                last_enqueued_at: ms(r.get(3)),
                last_job_id: r.get(4),
                last_job_state: r.get(5),
            })
            .collect())
    }

    fn inbox_file(&self, sha256: &str) -> Result<Option<InboxRow>> {
        Ok(self
            .query_opt(
                "SELECT sha256, path, platform, status, message, job_id, seen_at
                   FROM inbox_files WHERE sha256 = $1",
                args![sha256],
            )?
            .map(|r| InboxRow {
                sha256: r.get(0),
                path: r.get(1),
                platform: r.get(2),
                status: r.get(3),
                message: r.get(4),
                job_id: r.get(5),
                seen_at: ms(r.get(6)),
            }))
    }

    fn inbox_claim(&self, sha256: &str, path: &str) -> Result<bool> {
        Ok(self
            .query_opt(
                "INSERT INTO inbox_files (sha256, path, status, seen_at) VALUES ($1, $2, 'checking', now())
                 ON CONFLICT (sha256) DO UPDATE SET path = excluded.path, seen_at = excluded.seen_at
                   WHERE inbox_files.status = 'checking'
                     AND inbox_files.seen_at < now() - $3::float8 * interval '1 millisecond'
                 RETURNING sha256",
                args![sha256, path, INBOX_CLAIM_STALE_MS],
            )?
            .is_some())
    }

    fn inbox_record(
        &self,
        sha256: &str,
        path: &str,
        platform: Option<&str>,
        status: &str,
        message: Option<&str>,
        job_id: Option<i64>,
    ) -> Result<()> {
        let (platform, message) = (platform.map(str::to_string), message.map(str::to_string));
        self.query(
            "INSERT INTO inbox_files (sha256, path, platform, status, message, job_id, seen_at)
             VALUES ($1, $2, $3, $4, $5, $6, now())
             ON CONFLICT (sha256) DO UPDATE SET path = excluded.path, platform = excluded.platform,
               status = excluded.status, message = excluded.message, job_id = excluded.job_id,
               seen_at = excluded.seen_at",
            args![sha256, path, platform, status, message, job_id],
        )?;
        Ok(())
    }

    fn inbox_unchanged(&self, path: &str, size: i64, mtime_ms: i64) -> Result<bool> {
        Ok(self
            .query_opt(
                "SELECT 1 FROM inbox_files WHERE path = $1 AND size = $2 AND mtime_ms = $3
                   AND status != 'checking' LIMIT 1",
                args![path, size, mtime_ms],
            )?
            .is_some())
    }

    fn inbox_stat(&self, sha256: &str, size: i64, mtime_ms: i64) -> Result<()> {
        self.query(
            "UPDATE inbox_files SET size = $2, mtime_ms = $3 WHERE sha256 = $1",
            args![sha256, size, mtime_ms],
        )?;
        Ok(())
    }

    fn inbox_forget(&self, sha256: &str) -> Result<()> {
        self.query(
            "DELETE FROM inbox_files WHERE sha256 = $1 AND status = 'checking'",
            args![sha256],
        )?;
        Ok(())
    }

    fn last_sync_success(&self, platform: &str) -> Result<Option<Millis>> {
        let r = self.query_one(
            "SELECT greatest(
                 (SELECT max(finished_at) FROM jobs WHERE platform = $1 AND state = 'completed'
                     AND input->>'kind' = 'sync'),
                 (SELECT updated_at FROM sync_cursors WHERE platform = $1))",
            args![platform],
        )?;
        Ok(ms_opt(r.get(0)))
    }

    fn unresolved_failed_jobs(&self) -> Result<Vec<FailedJob>> {
        Ok(self
            .query(
                "SELECT f.id, f.platform, f.finished_at, f.last_error FROM jobs f
                  WHERE f.state = 'failed'
                    AND NOT EXISTS (SELECT 1 FROM jobs l WHERE l.platform = f.platform
                                       AND l.unique_key = f.unique_key AND l.id > f.id
                                       AND l.state = 'completed')
                  ORDER BY f.id",
                &[],
            )?
            .iter()
            .map(|r| FailedJob {
                id: r.get(0),
                platform: r.get(1),
                finished_at: ms(r.get(2)),
                last_error: r.get(3),
            })
            .collect())
    }

    fn kdp_months_without_final(&self) -> Result<Vec<String>> {
        Ok(self
            .query(
                "SELECT DISTINCT month FROM live_rollup WHERE starts_with(family, 'kdp_estimate.')
                   AND month NOT IN (SELECT month FROM kdp_final_months)
                  ORDER BY month",
                &[],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn processing_jobs(&self) -> Result<Vec<ProcessingJob>> {
        Ok(self
            .query(
                "SELECT id, platform, lease_owner, lease_expires_at FROM jobs
                  WHERE state = 'processing' ORDER BY id",
                &[],
            )?
            .iter()
            .map(|r| ProcessingJob {
                id: r.get(0),
                platform: r.get(1),
                owner: r.get(2),
                lease_expires_at: ms(r.get(3)),
            })
            .collect())
    }

    fn open_runs(&self) -> Result<Vec<OpenRun>> {
        Ok(self
            .query(
                "SELECT id, owner, started_at FROM cron_runs WHERE finished_at IS NULL ORDER BY id",
                &[],
            )?
            .iter()
            .map(|r| OpenRun {
                id: r.get(0),
                owner: r.get(1),
                started_at: ms(r.get(2)),
            })
            .collect())
    }

    fn prune_preview(&self, policy: &Retention) -> Result<(u64, u64)> {
        let r = self.query_one(
            "SELECT (SELECT count(*) FROM jobs WHERE finished_at IS NOT NULL AND
                       ((state = 'completed'
                         AND finished_at < now() - $1::float8 * interval '1 millisecond') OR
                        (state IN ('failed','cancelled')
                         AND finished_at < now() - $2::float8 * interval '1 millisecond'))),
                    (SELECT count(*) FROM cron_runs WHERE finished_at IS NOT NULL
                        AND finished_at < now() - $3::float8 * interval '1 millisecond')",
            args![policy.completed_ms, policy.failed_ms, policy.runs_ms],
        )?;
        Ok((r.get::<_, i64>(0) as u64, r.get::<_, i64>(1) as u64))
    }

    fn diagnostics(&self) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let mut add = |check: &str, status, detail: String| {
            out.push(Diagnostic {
                check: check.to_string(),
                status,
                detail,
            });
        };
        match self.query_one(
            "SELECT current_setting('server_version'), (SELECT max(version) FROM salesingest_schema),
                    pg_is_in_recovery()",
            &[],
        ) {
            Ok(r) => {
                let version: Option<i64> = r.get(1);
                let standby: bool = r.get(2);
                let status = if version == Some(SCHEMA_VERSION) && !standby {
                    DiagnosticStatus::Ok
                } else {
                    DiagnosticStatus::Fail
                };
                add(
                    "database",
                    status,
                    format!(
                        "`{}`, PostgreSQL {}, schema version {}{}",
                        self.shown,
                        r.get::<_, String>(0),
                        version.unwrap_or(0),
                        if standby { " (a read-only standby)" } else { "" }
                    ),
                );
            }
            Err(e) => add("database", DiagnosticStatus::Fail, format!("{e:#}")),
        }
        // The queue's table stays small only if vacuum keeps up (POSTGRES.md §1.5 #1, #2).
        match self.query_one(
            "SELECT coalesce(n_live_tup, 0), coalesce(n_dead_tup, 0) FROM pg_stat_user_tables
              WHERE relname = 'jobs'",
            &[],
        ) {
            Ok(r) => {
                let (live, dead): (i64, i64) = (r.get(0), r.get(1));
                if dead > 10_000 && dead > 2 * live {
                    add(
                        "queue table",
                        DiagnosticStatus::Warn,
                        format!(
                            "{dead} dead rows beside {live} live ones in `jobs`: autovacuum is \
                             not keeping up (a long transaction?); run VACUUM jobs"
                        ),
                    );
                } else {
                    add(
                        "queue table",
                        DiagnosticStatus::Ok,
                        format!("{live} rows, {dead} dead"),
                    );
                }
            }
            Err(e) => add("queue table", DiagnosticStatus::Warn, format!("{e:#}")),
        }
        match self.query_one(
            "SELECT coalesce(max(extract(epoch FROM now() - xact_start))::int8, 0)
               FROM pg_stat_activity WHERE datname = current_database() AND pid != pg_backend_pid()
                AND state != 'idle' AND xact_start IS NOT NULL",
            &[],
        ) {
            Ok(r) => {
                let oldest: i64 = r.get(0);
                if oldest > 300 {
                    add(
                        "long transactions",
                        DiagnosticStatus::Warn,
                        format!(
                            "a transaction has been open for {oldest} s: it holds vacuum back and \
                             the queue's tables bloat (see pg_stat_activity)"
                        ),
                    );
                } else {
                    add(
                        "long transactions",
                        DiagnosticStatus::Ok,
                        format!("oldest open transaction {oldest} s"),
                    );
                }
            }
            Err(e) => add(
                "long transactions",
                DiagnosticStatus::Warn,
                format!("{e:#}"),
            ),
        }
        out
    }

    fn backup_to(&self, _dest: &Path) -> Result<i64> {
        bail!(
            "a PostgreSQL store is backed up with PostgreSQL's own tools: run \
             `pg_dump --format=custom --file=salesingest.dump '{}'` (restore into an empty \
             database with `pg_restore --dbname=URL salesingest.dump`); it is consistent while \
             workers run",
            self.shown
        )
    }
}
