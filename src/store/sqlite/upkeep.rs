//! Unattended operation: schedules (fired exactly once across overlapping workers), what the
//! inbox scan has seen, the queries behind `status --check` and `doctor`, and online backups.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::{jobs, Db};
use crate::queue::retry::Retention;
use crate::queue::{Enqueued, Millis, NewJob};
use crate::store::{
    Diagnostic, DiagnosticStatus, FailedJob, InboxRow, OpenRun, ProcessingJob, ScheduleRow,
    UpkeepStore, INBOX_CLAIM_STALE_MS,
};

impl UpkeepStore for Db {
    fn now(&self) -> Result<Millis> {
        Ok(Db::now(self))
    }

    fn location(&self) -> String {
        self.path().display().to_string()
    }

    fn schema_version(&self) -> Result<i64> {
        self.user_version()
    }

    fn prune_preview(&self, policy: &Retention) -> Result<(u64, u64)> {
        let now = Db::now(self);
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

    fn diagnostics(&self) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let mut add = |check: &str, status, detail: String| {
            out.push(Diagnostic {
                check: check.to_string(),
                status,
                detail,
            });
        };
        match self.user_version() {
            Ok(v) => add(
                "database",
                DiagnosticStatus::Ok,
                format!("`{}`, schema version {v}", self.path().display()),
            ),
            Err(e) => add("database", DiagnosticStatus::Fail, format!("{e:#}")),
        }
        match self.integrity_check() {
            Ok(r) if r == "ok" => add("integrity", DiagnosticStatus::Ok, "ok".into()),
            Ok(r) => add(
                "integrity",
                DiagnosticStatus::Fail,
                format!("{r}: restore a backup (`salesingest backup` makes them)"),
            ),
            Err(e) => add("integrity", DiagnosticStatus::Fail, format!("{e:#}")),
        }
        match self.journal_mode() {
            Ok(m) if m.eq_ignore_ascii_case("wal") => {
                add("journal mode", DiagnosticStatus::Ok, "wal".into());
            }
            Ok(m) => add(
                "journal mode",
                DiagnosticStatus::Fail,
                format!("{m} (expected wal)"),
            ),
            Err(e) => add("journal mode", DiagnosticStatus::Fail, format!("{e:#}")),
        }
        out
    }

    fn backup_to(&self, dest: &Path) -> Result<i64> {
        self.backup_file(dest)
    }

    fn fire_schedule(&self, name: &str, every_ms: i64, job: &NewJob) -> Result<Option<Enqueued>> {
        let now = Db::now(self);
        self.immediate(|c| {
            // One statement claims the firing: it writes the new time only when the schedule is
            // new or due, and returns a row only then, so of several workers (on any backend,
            // at any isolation) exactly one fires it; the enqueue joins the same transaction.
            let won = c
                .query_row(
                    "INSERT INTO schedules (name, platform, every_ms, first_enqueued_at, last_enqueued_at)
                     VALUES (?1, ?2, ?3, ?4, ?4)
                     ON CONFLICT (name) DO UPDATE SET platform = excluded.platform,
                       every_ms = excluded.every_ms, last_enqueued_at = excluded.last_enqueued_at
                       WHERE schedules.last_enqueued_at <= ?4 - ?3
                     RETURNING name",
                    params![name, job.platform, every_ms, now],
                    |_| Ok(()),
                )
                .optional()?;
            if won.is_none() {
                return Ok(None);
            }
            let e = jobs::enqueue_in(c, job, now)?;
            c.execute(
                "UPDATE schedules SET last_job_id = ?2 WHERE name = ?1",
                params![name, e.id],
            )?;
            Ok(Some(e))
        })
    }

    fn schedule_rows(&self) -> Result<Vec<ScheduleRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT s.name, s.platform, s.first_enqueued_at, s.last_enqueued_at, s.last_job_id, j.state
               FROM schedules s LEFT JOIN jobs j ON j.id = s.last_job_id ORDER BY s.name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(ScheduleRow {
                name: r.get(0)?,
                platform: r.get(1)?,
                first_enqueued_at: r.get(2)?,
                last_enqueued_at: r.get(3)?,
                last_job_id: r.get(4)?,
                last_job_state: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn inbox_file(&self, sha256: &str) -> Result<Option<InboxRow>> {
        Ok(self
            .conn
            .query_row(
                "SELECT sha256, path, platform, status, message, job_id, seen_at
                   FROM inbox_files WHERE sha256 = ?1",
                params![sha256],
                |r| {
                    Ok(InboxRow {
                        sha256: r.get(0)?,
                        path: r.get(1)?,
                        platform: r.get(2)?,
                        status: r.get(3)?,
                        message: r.get(4)?,
                        job_id: r.get(5)?,
                        seen_at: r.get(6)?,
                    })
                },
            )
            .optional()?)
    }

    fn inbox_claim(&self, sha256: &str, path: &str) -> Result<bool> {
        let now = self.now();
        self.immediate(|c| {
            let n = c.execute(
                "INSERT INTO inbox_files (sha256, path, status, seen_at) VALUES (?1, ?2, 'checking', ?3)
                 ON CONFLICT (sha256) DO UPDATE SET path = excluded.path, seen_at = excluded.seen_at
                   WHERE inbox_files.status = 'checking' AND inbox_files.seen_at < ?4",
                params![sha256, path, now, now - INBOX_CLAIM_STALE_MS],
            )?;
            Ok(n == 1)
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn inbox_record(
        &self,
        sha256: &str,
        path: &str,
        platform: Option<&str>,
        status: &str,
        message: Option<&str>,
        job_id: Option<i64>,
    ) -> Result<()> {
        let now = self.now();
        self.immediate(|c| {
            c.execute(
                "INSERT INTO inbox_files (sha256, path, platform, status, message, job_id, seen_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (sha256) DO UPDATE SET path = excluded.path, platform = excluded.platform,
                   status = excluded.status, message = excluded.message, job_id = excluded.job_id,
                   seen_at = excluded.seen_at",
                params![sha256, path, platform, status, message, job_id, now],
            )?;
            Ok(())
        })
    }

    fn inbox_unchanged(&self, path: &str, size: i64, mtime_ms: i64) -> Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM inbox_files WHERE path = ?1 AND size = ?2 AND mtime_ms = ?3
                   AND status != 'checking' LIMIT 1",
                params![path, size, mtime_ms],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    fn inbox_stat(&self, sha256: &str, size: i64, mtime_ms: i64) -> Result<()> {
        self.immediate(|c| {
            c.execute(
                "UPDATE inbox_files SET size = ?2, mtime_ms = ?3 WHERE sha256 = ?1",
                params![sha256, size, mtime_ms],
            )?;
            Ok(())
        })
    }

    fn inbox_forget(&self, sha256: &str) -> Result<()> {
        self.immediate(|c| {
            c.execute(
                "DELETE FROM inbox_files WHERE sha256 = ?1 AND status = 'checking'",
                params![sha256],
            )?;
            Ok(())
        })
    }

    fn last_sync_success(&self, platform: &str) -> Result<Option<Millis>> {
        let job: Option<Millis> = self.conn.query_row(
            "SELECT max(finished_at) FROM jobs WHERE platform = ?1 AND state = 'completed'
               AND json_extract(input, '$.kind') = 'sync'",
            params![platform],
            |r| r.get(0),
        )?;
        let cursor: Option<Millis> = self
            .conn
            .query_row(
                "SELECT updated_at FROM sync_cursors WHERE platform = ?1",
                params![platform],
                |r| r.get(0),
            )
            .optional()?;
        Ok(job.max(cursor))
    }

    fn unresolved_failed_jobs(&self) -> Result<Vec<FailedJob>> {
        let mut stmt = self.conn.prepare(
            "SELECT f.id, f.platform, f.finished_at, f.last_error FROM jobs f
              WHERE f.state = 'failed'
                AND NOT EXISTS (SELECT 1 FROM jobs l WHERE l.platform = f.platform
                                   AND l.unique_key = f.unique_key AND l.id > f.id
                                   AND l.state = 'completed')
              ORDER BY f.id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(FailedJob {
                id: r.get(0)?,
                platform: r.get(1)?,
                finished_at: r.get(2)?,
                last_error: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn kdp_months_without_final(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare(
            "SELECT DISTINCT month FROM live_rollup WHERE family GLOB 'kdp_estimate.*'
               AND month NOT IN (SELECT month FROM kdp_final_months)
              ORDER BY month",
        )?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn processing_jobs(&self) -> Result<Vec<ProcessingJob>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, platform, lease_owner, lease_expires_at FROM jobs
              WHERE state = 'processing' ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(ProcessingJob {
                id: r.get(0)?,
                platform: r.get(1)?,
                owner: r.get(2)?,
                lease_expires_at: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn open_runs(&self) -> Result<Vec<OpenRun>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, owner, started_at FROM cron_runs WHERE finished_at IS NULL ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(OpenRun {
                id: r.get(0)?,
                owner: r.get(1)?,
                started_at: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

impl Db {
    /// Copy the database to `dest` with SQLite's online backup API: a consistent snapshot,
    /// safe while workers write (WAL readers never block them). `dest` must not exist; it is
    /// created owner-only, switched to a self-contained rollback journal, and checked.
    ///
    /// Returns the number of pages copied.
    ///
    /// # Errors
    /// Database or I/O errors; an integrity check of the copy that fails.
    pub fn backup_file(&self, dest: &Path) -> Result<i64> {
        {
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            opts.open(dest)
                .with_context(|| format!("cannot create `{}`", dest.display()))?;
        }
        let mut out = Connection::open_with_flags(
            dest,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("cannot open `{}`", dest.display()))?;
        out.busy_timeout(super::BUSY_TIMEOUT)?;
        {
            let backup = rusqlite::backup::Backup::new(&self.conn, &mut out)
                .context("cannot start the backup")?;
            // -1: every page in one step, under one read transaction: a consistent snapshot
            // that concurrent writers cannot force to restart.
            let mut waits = 0;
            loop {
                match backup.step(-1).context("the backup failed")? {
                    rusqlite::backup::StepResult::Done => break,
                    rusqlite::backup::StepResult::More => {}
                    // Busy/Locked: another connection holds a lock; wait and try again.
                    _ if waits < 600 => {
                        waits += 1;
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    _ => anyhow::bail!("the database stayed locked for a minute: try again"),
                }
            }
        }
        let mode: String = out.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("delete") {
            anyhow::bail!("the backup kept journal mode `{mode}`");
        }
        let check: String = out.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if check != "ok" {
            anyhow::bail!("the backup copy fails its integrity check: {check}");
        }
        let pages: i64 = out.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        out.close().map_err(|(_, e)| e)?;
        std::fs::File::open(dest)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("cannot sync `{}`", dest.display()))?;
        Ok(pages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testutil::{temp_db, At as _};
    #[allow(unused_imports)]
    use crate::store::{ReportStore as _, SalesStore as _, UpkeepStore as _};

    fn sync_job() -> NewJob {
        NewJob {
            platform: "gumroad".into(),
            input: r#"{"kind":"sync","since":null,"until":null}"#.into(),
            priority: 0,
            run_at: Some(0),
            max_attempts: 3,
            unique_key: Some("sync:incremental".into()),
        }
    }

    #[test]
    fn schedule_fires_once_per_period() {
        let (_d, db) = temp_db();
        const H: i64 = 3_600_000;
        let a = db
            .fire_schedule_at("gumroad", 6 * H, &sync_job(), 0)
            .unwrap();
        assert!(a.is_some_and(|e| !e.deduplicated));
        assert!(db
            .fire_schedule_at("gumroad", 6 * H, &sync_job(), H)
            .unwrap()
            .is_none());
        // Due again after the period; the first job is still queued, so it is deduplicated.
        let b = db
            .fire_schedule_at("gumroad", 6 * H, &sync_job(), 6 * H)
            .unwrap()
            .unwrap();
        assert!(b.deduplicated);
        let rows = db.schedule_rows().unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].first_enqueued_at, rows[0].last_enqueued_at),
            (0, 6 * H)
        );
        assert_eq!(rows[0].last_job_state.as_deref(), Some("queued"));
    }

    #[test]
    fn inbox_claims_are_exclusive_until_stale() {
        let (_d, db) = temp_db();
        assert!(db.inbox_claim_at("h", "/x", 0).unwrap());
        assert!(!db.inbox_claim_at("h", "/x", 1).unwrap());
        assert!(db
            .inbox_claim_at("h", "/x", INBOX_CLAIM_STALE_MS + 1)
            .unwrap());
        db.inbox_record_at("h", "/x", None, "unknown", Some("m"), None, 5)
            .unwrap();
        assert!(!db
            .inbox_claim_at("h", "/x", 10 * INBOX_CLAIM_STALE_MS)
            .unwrap());
        assert_eq!(db.inbox_file("h").unwrap().unwrap().status, "unknown");
    }

    #[test]
    fn failed_jobs_superseded_by_a_later_success_are_resolved() {
        let (_d, db) = temp_db();
        let me = crate::queue::WorkerId("h:1:1".into());
        let id = db.enqueue_at(&sync_job(), 0).unwrap().id;
        let c = db.claim_at(&me, None, None, 0, 60_000).unwrap().unwrap();
        db.fail_at(
            &c.lease,
            1,
            &crate::queue::JobError::Permanent("401".into()),
            &crate::queue::FailDecision::Fail,
        )
        .unwrap();
        let failed = db.unresolved_failed_jobs().unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].id, id);
        db.enqueue_at(&sync_job(), 2).unwrap();
        let c = db.claim_at(&me, None, None, 2, 60_000).unwrap().unwrap();
        db.complete_at(
            &c.lease,
            3,
            &crate::queue::JobResult::default(),
            &crate::queue::Effects::default(),
        )
        .unwrap();
        assert!(db.unresolved_failed_jobs().unwrap().is_empty());
        assert_eq!(db.last_sync_success("gumroad").unwrap(), Some(3));
    }
}
