//! The SQLite backend, for one machine: opening the database (pragmas, permissions,
//! migrations) and the store API's SQLite statements, one file per concern: `jobs.rs` (the
//! queue), `sales.rs`, `reports.rs`, `upkeep.rs`.
//!
//! SQLite has one writer at a time: every write is a short `BEGIN IMMEDIATE` transaction, so a
//! read followed by a write inside one is never interleaved with another process's write.

mod blobs;
mod effects;
mod jobs;
mod payouts;
mod reports;
pub(crate) mod sales;
mod upkeep;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rusqlite::{Connection, OpenFlags};

use crate::queue::{Durability, Millis};
use crate::store::OpenOptions;

/// Append-only migrations; `PRAGMA user_version` is the number applied. Never edit or remove
/// an entry once released: add a new one.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/001_init.sql"),
    include_str!("migrations/002_reports.sql"),
    include_str!("migrations/003_unattended.sql"),
    include_str!("migrations/004_lean_events.sql"),
    include_str!("migrations/005_lean_queue.sql"),
    include_str!("migrations/006_report_rows_skip_the_key_index.sql"),
    include_str!("migrations/007_kdp_families_per_kind.sql"),
    GUMROAD_BUYER_DATA,
    include_str!("migrations/009_one_rollup_mechanism.sql"),
    include_str!("migrations/010_ingramspark_sales_report_gives_way.sql"),
    include_str!("migrations/011_payouts.sql"),
];

/// Migration 008: scrubs Gumroad buyers' personal data from `raw` (see `migrate`).
const GUMROAD_BUYER_DATA: &str = include_str!("migrations/008_gumroad_buyer_data.sql");

/// How long a statement waits for another process's write lock before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// Page cache per connection, in KiB (see `configure`).
const CACHE_KIB: i64 = 8 * 1024;

/// WAL pages between automatic checkpoints (see `configure`).
const WAL_AUTOCHECKPOINT_PAGES: i64 = 8192;

/// An open database: one connection, used by one thread.
pub struct Db {
    conn: Connection,
    path: PathBuf,
    /// Set by the first write that failed because the disk is full or the database is
    /// read-only; from then on this handle refuses to claim jobs (see `storage_error`).
    storage_error: std::cell::RefCell<Option<String>>,
    /// A fixed time for tests (`set_clock`); the host's clock otherwise.
    clock: std::cell::Cell<Option<Millis>>,
    /// The `synchronous` setting in force.
    durability: std::cell::Cell<Durability>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.path).finish()
    }
}

impl Db {
    /// Open (creating if needed) the database at `path`: owner-only permissions, WAL (checked),
    /// `synchronous=FULL`, busy timeout, foreign keys, then migrations.
    ///
    /// # Errors
    /// When the folder or file cannot be created, the pragmas do not take, or a migration fails.
    pub fn open(path: &Path) -> Result<Db> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir)?;
        }
        create_private_file(path).map_err(|e| storage_open_error(path, e))?;
        Db::open_flags(path, OpenFlags::SQLITE_OPEN_CREATE)
    }

    /// Open the database at `path` only if it exists: as `open_with`, but nothing is created,
    /// and SQLite is asked to open without `SQLITE_OPEN_CREATE`, so a file removed meanwhile is
    /// an error too.
    ///
    /// # Errors
    /// When there is no file at `path`, and as `open_with`.
    pub fn open_existing_with(path: &Path, opts: &OpenOptions) -> Result<Db> {
        if !path.is_file() {
            bail!("no database at `{}`", path.display());
        }
        let db = Db::open_flags(path, OpenFlags::empty())?;
        if opts.durability != Durability::Full {
            db.set_durability(opts.durability)?;
        }
        Ok(db)
    }

    fn open_flags(path: &Path, create: OpenFlags) -> Result<Db> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | create
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )
        .with_context(|| format!("cannot open the database `{}`", path.display()))?;
        let db = Db {
            conn,
            path: path.to_path_buf(),
            storage_error: std::cell::RefCell::new(None),
            clock: std::cell::Cell::new(None),
            durability: std::cell::Cell::new(Durability::Full),
        };
        db.configure()
            .with_context(|| format!("cannot set up the database `{}`", path.display()))
            .map_err(|e| db.explain_storage(e))?;
        db.migrate()
            .with_context(|| format!("cannot migrate the database `{}`", path.display()))
            .map_err(|e| db.explain_storage(e))?;
        Ok(db)
    }

    /// `open`, then apply `opts`.
    ///
    /// # Errors
    /// As `open`, or a durability setting that does not take.
    pub fn open_with(path: &Path, opts: &OpenOptions) -> Result<Db> {
        let db = Db::open(path)?;
        if opts.durability != Durability::Full {
            db.set_durability(opts.durability)?;
        }
        Ok(db)
    }

    /// The durability in force (`set_durability`).
    pub fn durability(&self) -> Durability {
        self.durability.get()
    }

    /// The time that decides leases, due jobs and retention. SQLite serves one machine, so it
    /// is the host's clock (PostgreSQL uses the database's `now()` instead).
    pub fn now(&self) -> Millis {
        self.clock.get().unwrap_or_else(crate::queue::now_ms)
    }

    /// Fix this handle's clock at `now` (`None`: the host's clock again), so that tests can
    /// move time without sleeping.
    pub fn set_clock(&self, now: Option<Millis>) {
        self.clock.set(now);
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The message of the first write on this handle that failed because the disk is full or
    /// the database is read-only, if any. Such a failure is about the machine, not the job: the
    /// queue stops claiming (so jobs do not burn their attempts on it) and `run-worker` exits 1.
    pub fn storage_error(&self) -> Option<String> {
        self.storage_error.borrow().clone()
    }

    /// Add what failed, where and what to do to a disk-full or read-only error, and remember it.
    fn explain_storage(&self, e: anyhow::Error) -> anyhow::Error {
        let Some(msg) = storage_message(&self.path, &e) else {
            return e;
        };
        self.storage_error.borrow_mut().get_or_insert(msg.clone());
        e.context(msg)
    }

    /// `PRAGMA journal_mode=WAL`, retried while another process holds the lock. Turning a new
    /// file to WAL needs it alone, and SQLite answers `SQLITE_BUSY` at once there instead of
    /// calling the busy handler: four `run-worker`s starting together on a new database failed
    /// 13–17 times in 400 opens ("cannot set up the database … database is locked", exit 1).
    fn set_wal(&self) -> Result<String> {
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        loop {
            match self
                .conn
                .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            {
                Err(e)
                    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(fastrand::u64(5..50)));
                }
                done => return Ok(done?),
            }
        }
    }

    fn configure(&self) -> Result<()> {
        self.conn.busy_timeout(BUSY_TIMEOUT)?;
        // Room for every statement of the claim → complete path and of an import's chunk (the
        // default 16 would evict some of them at every job).
        self.conn.set_prepared_statement_cache_capacity(64);
        let mode = self.set_wal()?;
        if !mode.eq_ignore_ascii_case("wal") {
            bail!("the database refused WAL mode (journal_mode is `{mode}`); is it on a network filesystem?");
        }
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        self.conn.pragma_update(None, "foreign_keys", "ON")?;
        self.conn
            .pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
        // Statement journals (statements that fire the rollup's update and delete triggers need
        // one) and small sorts in memory, not in temporary files. Publishing a big import
        // switches to files (`with_file_temp_store`) so memory stays flat.
        self.conn.pragma_update(None, "temp_store", "MEMORY")?;
        // A page cache that holds a staged chunk's dirty pages and the right edges of the
        // sales_events b-trees (the default 2 MB made every chunk re-read index pages). It is
        // only filled as pages are used. 8 MB imports as fast as 16 or 24 MB did (measured with
        // the pipelined import, BENCHMARKS.md) and leaves the 64 MB budget room for the chunks
        // in flight between the parser and the staging thread.
        self.conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
        // Checkpoint every 32 MB of WAL instead of every 4 MB: an import's chunks otherwise
        // each paid a checkpoint that rewrote the same index pages (about a sixth of an import's
        // time). Still well under `journal_size_limit`.
        self.conn
            .pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
        let fk: i64 = self
            .conn
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))?;
        let sync: i64 = self
            .conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))?;
        if fk != 1 || sync != 2 {
            bail!("pragmas did not take (foreign_keys={fk}, synchronous={sync})");
        }
        Ok(())
    }

    fn migrate(&self) -> Result<()> {
        if self.user_version()? == MIGRATIONS.len() as i64 {
            return Ok(());
        }
        // A migration that copies a table (migration 6 copies every event) needs a statement
        // journal as large as the table: in files, not in memory.
        let from = self.with_file_temp_store(|| self.migrate_now())?;
        // Migration 008 removed buyers' personal data from the rows, but copies of the old rows
        // stay in the file's free pages and in the unused space of its pages (SQLite does not
        // clear those). The process that applied it to an existing database rebuilds the file
        // once, so that none of it is left on disk. Best effort: the rows are scrubbed already,
        // and a failure here (no room for the copy) must not stop the command.
        let scrub = MIGRATIONS
            .iter()
            .position(|m| *m == GUMROAD_BUYER_DATA)
            .unwrap_or(usize::MAX);
        if from > 0 && from <= scrub {
            let _ = self.with_file_temp_store(|| Ok(self.conn.execute_batch("VACUUM")?));
        }
        Ok(())
    }

    /// Apply the missing migrations; returns the version the database was at.
    fn migrate_now(&self) -> Result<usize> {
        // BEGIN IMMEDIATE so that several processes opening a new file at once migrate it once.
        self.immediate(|c| {
            let mut version: usize =
                c.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))? as usize;
            // Development builds between the two merges listed migration 008 seventh, before
            // 007 was: a database they wrote is at version 7 without 007's column. It gets 007
            // now, and 008 again (which only rewrites what it already rewrote).
            let missing_007: i64 = c.query_row(
                "SELECT count(*) = 0 FROM pragma_table_info('import_coverage')
                  WHERE name = 'month_totals'",
                [],
                |r| r.get(0),
            )?;
            if version == 7 && missing_007 == 1 {
                version = 6;
            }
            if version > MIGRATIONS.len() {
                bail!(
                    "the database is at schema version {version}, newer than this salesingest ({}): upgrade salesingest",
                    MIGRATIONS.len()
                );
            }
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
                c.execute_batch(sql)
                    .with_context(|| format!("migration {} failed", i + 1))?;
                c.pragma_update(None, "user_version", (i + 1) as i64)?;
            }
            Ok(version)
        })
    }

    /// The schema version applied (`PRAGMA user_version`).
    ///
    /// # Errors
    /// Database errors.
    pub fn user_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// Run `f` inside `BEGIN IMMEDIATE … COMMIT` (rolled back on error). Taking the write lock
    /// up front means the busy timeout always applies: no deferred read→write upgrade can fail
    /// with `database is locked`.
    ///
    /// # Errors
    /// Whatever `f` returns, or the database's.
    pub(crate) fn immediate<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.immediate_inner(f).map_err(|e| self.explain_storage(e))
    }

    fn immediate_inner<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let mut tries = 0;
        loop {
            // Cached like the statements inside: a no-op job's whole cost is a few statements.
            match self
                .conn
                .prepare_cached("BEGIN IMMEDIATE")
                .and_then(|mut st| st.execute([]))
            {
                Ok(_) => break,
                Err(e) if is_busy(&e) && tries < 5 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(20 + fastrand::u64(0..80)));
                }
                Err(e) => return Err(e).context("cannot start a write transaction"),
            }
        }
        match f(&self.conn) {
            Ok(v) => {
                let commit = self
                    .conn
                    .prepare_cached("COMMIT")
                    .and_then(|mut st| st.execute([]));
                if let Err(e) = commit {
                    let _ = self.conn.execute_batch("ROLLBACK");
                    return Err(e).context("cannot commit");
                }
                Ok(v)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Run `f` with SQLite's temporary storage (sorters, statement journals) in files rather
    /// than memory, so a statement over millions of rows cannot grow the process; restores the
    /// in-memory default afterwards.
    ///
    /// # Errors
    /// Whatever `f` returns, or the pragma's.
    pub(crate) fn with_file_temp_store<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.conn.pragma_update(None, "temp_store", "FILE")?;
        let out = f();
        let restored = self.conn.pragma_update(None, "temp_store", "MEMORY");
        let out = out?;
        restored?;
        Ok(out)
    }

    /// The connection, for read-only queries.
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Set how long commits wait for the disk (`FULL` after `open`).
    ///
    /// # Errors
    /// When the pragma does not take.
    pub fn set_durability(&self, d: Durability) -> Result<()> {
        self.conn.pragma_update(None, "synchronous", d.as_str())?;
        let now: i64 = self
            .conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))?;
        let want = match d {
            Durability::Full => 2,
            Durability::Normal => 1,
        };
        if now != want {
            bail!(
                "PRAGMA synchronous did not take (asked {}, got {now})",
                d.as_str()
            );
        }
        self.durability.set(d);
        Ok(())
    }

    /// `EXPLAIN QUERY PLAN` detail lines of a statement (for the index tests and `doctor`);
    /// its parameters, if any, are NULL.
    ///
    /// # Errors
    /// Database errors.
    pub fn query_plan(&self, sql: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn().prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
        // The plan of a statement with parameters, planned as it is when they are bound.
        let nulls = std::iter::repeat_n(rusqlite::types::Null, stmt.parameter_count());
        let rows = stmt.query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// `PRAGMA integrity_check` result (`ok` when healthy).
    ///
    /// # Errors
    /// Database errors.
    pub fn integrity_check(&self) -> Result<String> {
        Ok(self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }

    /// The journal mode in force.
    ///
    /// # Errors
    /// Database errors.
    pub fn journal_mode(&self) -> Result<String> {
        Ok(self
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))?)
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("cannot create the folder `{}`", dir.display()))
}

/// What failed, where, and what to do, for errors that are about the machine (disk full,
/// read-only database, disk I/O) rather than the data.
fn storage_message(path: &Path, e: &anyhow::Error) -> Option<String> {
    let code = e.chain().find_map(|c| {
        c.downcast_ref::<rusqlite::Error>()
            .and_then(rusqlite::Error::sqlite_error_code)
    })?;
    let path = path.display();
    Some(match code {
        rusqlite::ErrorCode::DiskFull => format!(
            "the disk holding the database `{path}` is full: free some space on that filesystem \
             (the database also needs room for its `-wal` file), then run again; the failed \
             transaction was rolled back, nothing already stored was lost"
        ),
        rusqlite::ErrorCode::ReadOnly => format!(
            "the database `{path}` is read-only (a read-only mount, an immutable file, or no \
             write permission on it or its folder): salesingest must be able to write it and \
             create `-wal`/`-shm` files next to it; make them writable, then run again"
        ),
        rusqlite::ErrorCode::SystemIoFailure => format!(
            "disk I/O error on the database `{path}` or its `-wal`/`-shm` files: is that disk \
             full (`df -h`) or failing? Fix it, then run again; the failed transaction was \
             rolled back"
        ),
        _ => return None,
    })
}

/// What to do when `e` says the database file itself is damaged (SQLite's "database disk image
/// is malformed", or "file is not a database"), naming `path`; `None` for any other error.
pub fn damaged_message(path: &Path, e: &anyhow::Error) -> Option<String> {
    let code = e.chain().find_map(|c| {
        c.downcast_ref::<rusqlite::Error>()
            .and_then(rusqlite::Error::sqlite_error_code)
    })?;
    let what = match code {
        rusqlite::ErrorCode::DatabaseCorrupt => "is damaged (database disk image is malformed)",
        rusqlite::ErrorCode::NotADatabase => "is not an SQLite database (file is not a database)",
        _ => return None,
    };
    Some(format!(
        "the database `{}` {what}: run `salesingest doctor` to see what is wrong; restore from \
         `backup`: stop run-worker, copy your latest `salesingest backup` file over it and delete \
         its `-wal` and `-shm` files",
        path.display()
    ))
}

/// A clear message for a database file that cannot be opened for writing.
fn storage_open_error(path: &Path, e: anyhow::Error) -> anyhow::Error {
    let Some(io) = e.downcast_ref::<std::io::Error>() else {
        return e;
    };
    if !path.exists() {
        return e;
    }
    let hint = match io.raw_os_error() {
        Some(30) => "the filesystem is mounted read-only",
        Some(1) => "the file is immutable (`lsattr` shows `i`; `chattr -i` clears it)",
        Some(13) => "no write permission on the file",
        Some(28) => "the disk is full",
        _ => return e,
    };
    anyhow::anyhow!(
        "cannot open the database `{}` for writing: {io} ({hint}); salesingest needs to write \
         the database and create `-wal`/`-shm` files next to it: make them writable, then run again",
        path.display()
    )
}

fn create_private_file(path: &Path) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
        .map(drop)
        .with_context(|| format!("cannot create the database `{}`", path.display()))
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::Db;
    use crate::model::SaleEvent;
    use crate::queue::retry::Retention;
    use crate::queue::{
        CancelOutcome, ClaimRequest, ClaimedJob, Effects, Enqueued, FailDecision, Heartbeat,
        JobError, JobResult, JobStore, Lease, Millis, NewJob, Rescued, RetryOutcome, RunCounts,
        WorkerId,
    };
    use crate::store::{SalesStore as _, UpkeepStore as _};

    /// The store's operations at a given time: each sets the handle's clock, then runs the
    /// operation, so tests move time without sleeping.
    #[allow(clippy::too_many_arguments, dead_code)]
    pub(crate) trait At {
        fn db(&self) -> &Db;
        fn enqueue_at(&self, job: &NewJob, now: Millis) -> anyhow::Result<Enqueued> {
            self.db().set_clock(Some(now));
            self.db().enqueue(job)
        }
        fn rescue_at(
            &self,
            now: Millis,
            is_dead: &dyn Fn(&str) -> bool,
        ) -> anyhow::Result<Vec<Rescued>> {
            self.db().set_clock(Some(now));
            self.db().rescue(is_dead)
        }
        fn claim_at(
            &self,
            owner: &WorkerId,
            run_id: Option<i64>,
            platform: Option<&str>,
            now: Millis,
            lease_ms: i64,
        ) -> anyhow::Result<Option<ClaimedJob>> {
            self.db().set_clock(Some(now));
            self.db().claim(&ClaimRequest {
                owner,
                run_id,
                platform,
                lease_ms,
            })
        }
        fn heartbeat_at(
            &self,
            lease: &Lease,
            now: Millis,
            lease_ms: i64,
        ) -> anyhow::Result<Heartbeat> {
            self.db().set_clock(Some(now));
            self.db().heartbeat(lease, lease_ms)
        }
        fn complete_at(
            &self,
            lease: &Lease,
            now: Millis,
            result: &JobResult,
            effects: &Effects,
        ) -> anyhow::Result<Option<JobResult>> {
            self.db().set_clock(Some(now));
            self.db().complete(lease, result, effects)
        }
        fn complete_then_claim_at(
            &self,
            lease: &Lease,
            now: Millis,
            result: &JobResult,
            effects: &Effects,
            next: &ClaimRequest<'_>,
        ) -> anyhow::Result<(Option<JobResult>, Option<ClaimedJob>)> {
            self.db().set_clock(Some(now));
            self.db().complete_then_claim(lease, result, effects, next)
        }
        fn fail_at(
            &self,
            lease: &Lease,
            now: Millis,
            error: &JobError,
            decision: &FailDecision,
        ) -> anyhow::Result<bool> {
            self.db().set_clock(Some(now));
            self.db().fail(lease, error, decision)
        }
        fn cancel_at(&self, id: i64, now: Millis) -> anyhow::Result<CancelOutcome> {
            self.db().set_clock(Some(now));
            self.db().cancel(id)
        }
        fn revive_at(&self, id: i64, now: Millis, extra: i64) -> anyhow::Result<RetryOutcome> {
            self.db().set_clock(Some(now));
            self.db().revive(id, extra)
        }
        fn start_run_at(&self, owner: &WorkerId, args: &str, now: Millis) -> anyhow::Result<i64> {
            self.db().set_clock(Some(now));
            Ok(self.db().start_run(owner, args)?.0)
        }
        fn finish_run_at(
            &self,
            run_id: i64,
            now: Millis,
            counts: &RunCounts,
            exit_code: i32,
        ) -> anyhow::Result<()> {
            self.db().set_clock(Some(now));
            self.db().finish_run(run_id, counts, exit_code).map(drop)
        }
        fn prune_at(&self, policy: &Retention, now: Millis) -> anyhow::Result<(u64, u64)> {
            self.db().set_clock(Some(now));
            self.db().prune(policy)
        }
        fn prune_preview_at(&self, policy: &Retention, now: Millis) -> anyhow::Result<(u64, u64)> {
            self.db().set_clock(Some(now));
            self.db().prune_preview(policy)
        }
        fn stage_events_at(
            &self,
            import: &mut crate::store::sqlite::sales::StagedImport,
            events: &[SaleEvent],
            done: Option<crate::store::StagingDone<'_>>,
            now: Millis,
        ) -> anyhow::Result<()> {
            self.db().set_clock(Some(now));
            self.db().stage_events(import, events, done)
        }
        fn upsert_events_at(
            &self,
            platform: &str,
            job_id: i64,
            events: &[SaleEvent],
            cursor: Option<chrono::NaiveDate>,
            now: Millis,
        ) -> anyhow::Result<(u64, u64)> {
            self.db().set_clock(Some(now));
            self.db().upsert_events(
                platform,
                job_id,
                events,
                cursor,
                crate::store::Precedence::Authoritative,
            )
        }
        fn fire_schedule_at(
            &self,
            name: &str,
            every_ms: i64,
            job: &NewJob,
            now: Millis,
        ) -> anyhow::Result<Option<Enqueued>> {
            self.db().set_clock(Some(now));
            self.db().fire_schedule(name, every_ms, job)
        }
        fn inbox_claim_at(&self, sha256: &str, path: &str, now: Millis) -> anyhow::Result<bool> {
            self.db().set_clock(Some(now));
            self.db().inbox_claim(sha256, path)
        }
        fn inbox_record_at(
            &self,
            sha256: &str,
            path: &str,
            platform: Option<&str>,
            status: &str,
            message: Option<&str>,
            job_id: Option<i64>,
            now: Millis,
        ) -> anyhow::Result<()> {
            self.db().set_clock(Some(now));
            self.db()
                .inbox_record(sha256, path, platform, status, message, job_id)
        }
    }

    impl At for Db {
        fn db(&self) -> &Db {
            self
        }
    }

    /// A fresh database in a temporary folder (real SQLite, real file, WAL).
    pub(crate) fn temp_db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        (dir, db)
    }

    /// How many events an import holds (staged or live).
    pub(crate) fn import_events(db: &Db, import_id: i64) -> i64 {
        db.conn()
            .query_row(
                "SELECT count(*) FROM sales_events WHERE import_id = ?1",
                [import_id],
                |r| r.get(0),
            )
            .unwrap()
    }

    /// The lease of a new job claimed by a test worker (what staging an import needs).
    pub(crate) fn claimed_lease(db: &Db, platform: &str) -> crate::queue::Lease {
        use crate::queue::{NewJob, WorkerId};
        let job = NewJob {
            platform: platform.into(),
            input: "{}".into(),
            priority: 0,
            run_at: Some(0),
            max_attempts: 3,
            unique_key: None,
        };
        db.enqueue_at(&job, 0).unwrap();
        let me = WorkerId("testhost:1:1".into());
        db.claim_at(&me, None, Some(platform), 0, 60_000)
            .unwrap()
            .expect("the job just enqueued")
            .lease
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::{temp_db, At as _};
    #[allow(unused_imports)]
    use crate::store::{ReportStore as _, SalesStore as _, UpkeepStore as _};

    #[test]
    fn opens_with_wal_and_latest_schema() {
        let (_d, db) = temp_db();
        assert_eq!(db.journal_mode().unwrap(), "wal");
        assert_eq!(db.schema_version().unwrap(), super::MIGRATIONS.len() as i64);
        assert_eq!(db.integrity_check().unwrap(), "ok");
    }

    /// A database written by version 3 of the schema (whole-object `raw`, the two dropped
    /// indexes, the publish trigger) upgrades in place: its events export as before, its
    /// rollup is untouched, and an import staged before the upgrade still publishes exactly.
    #[test]
    fn a_version_3_database_upgrades_with_its_sales() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v3.db");
        {
            let c = rusqlite::Connection::open(&path).unwrap();
            c.pragma_update(None, "journal_mode", "WAL").unwrap();
            for m in &super::MIGRATIONS[..3] {
                c.execute_batch(m).unwrap();
            }
            c.pragma_update(None, "user_version", 3).unwrap();
            c.execute_batch(
                "INSERT INTO imports (id, platform, file, sha256, state, started_at, events)
                   VALUES (1, 'draft2digital', 'a.csv', 'a', 'live', 0, 2),
                          (2, 'draft2digital', 'b.csv', 'b', 'staging', 0, 1);
                 INSERT INTO import_coverage VALUES (1, 'd2d_ebook', '2025-01-01', '2025-01-31'),
                                                    (2, 'd2d_ebook', '2025-01-01', '2025-01-15');
                 INSERT INTO sales_events (platform, family, source, import_id, period_start,
                     period_end, month, title, product_id, format, marketplace, retailer, country,
                     units, kenp_pages, royalty_micros, currency, is_final, raw, line, updated_at)
                   VALUES ('draft2digital', 'd2d_ebook', 'd2d.ebook', 1, '2025-01-10', '2025-01-10',
                           '2025-01', 'Sea Glass', '1', 'ebook', '', '', '', 1, 0, 4930000, 'USD', 1,
                           '{\"Title\":\"Sea Glass\"}', 2, 0),
                          ('draft2digital', 'd2d_ebook', 'd2d.ebook', 1, '2025-01-20', '2025-01-20',
                           '2025-01', 'Fox', '2', 'ebook', '', '', '', 2, 0, 1000000, 'USD', 1,
                           '{\"Title\":\"Fox\"}', 3, 0),
                          ('draft2digital', 'd2d_ebook', 'd2d.ebook', 2, '2025-01-10', '2025-01-10',
                           '2025-01', 'Sea Glass', '1', 'ebook', '', '', '', 3, 0, 7000000, 'USD', 1,
                           '{\"Title\":\"Sea Glass\"}', 2, 0);",
            )
            .unwrap();
        }
        let db = super::Db::open(&path).unwrap();
        assert_eq!(db.schema_version().unwrap(), super::MIGRATIONS.len() as i64);
        let rollup = |db: &super::Db| -> (i64, i64) {
            db.conn()
                .query_row(
                    "SELECT sum(events), sum(royalty_micros) FROM live_rollup",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap()
        };
        assert_eq!(rollup(&db), (2, 5_930_000));
        let mut raws = Vec::new();
        db.for_each_sale(&crate::store::ReportFilter::default(), &mut |e| {
            raws.push(e.raw.clone());
            Ok(())
        })
        .unwrap();
        assert_eq!(raws, [r#"{"Title":"Sea Glass"}"#, r#"{"Title":"Fox"}"#]);
        // The staged import replaces the first row (inside its coverage) and keeps the second.
        db.immediate(|c| super::sales::publish_import(c, 2, 1))
            .unwrap();
        assert_eq!(rollup(&db), (2, 8_000_000));
        assert_eq!(db.integrity_check().unwrap(), "ok");
    }

    /// A version-4 database keeps its jobs and attempt history through migration 5 (which
    /// rebuilds `attempts` and swaps the job indexes), and its queue goes on where it stopped:
    /// the orphaned job is rescued, claimed and completed, and pruning still cascades.
    #[test]
    fn a_version_4_database_upgrades_with_its_queue_history() {
        use crate::queue::retry::Retention;
        use crate::queue::{Effects, JobResult, WorkerId};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v4.db");
        {
            let c = rusqlite::Connection::open(&path).unwrap();
            c.pragma_update(None, "journal_mode", "WAL").unwrap();
            for m in &super::MIGRATIONS[..4] {
                c.execute_batch(m).unwrap();
            }
            c.pragma_update(None, "user_version", 4).unwrap();
            c.execute_batch(
                "INSERT INTO cron_runs (id, host, pid, owner, args, started_at, finished_at)
                   VALUES (1, 'h', 9, 'h:9:1', 'run-worker', 0, 10);
                 INSERT INTO jobs (id, platform, input, state, run_at, attempts, claims,
                                   created_at, finished_at, result)
                   VALUES (1, 'gumroad', '{}', 'completed', 0, 2, 2, 0, 10, '{}');
                 INSERT INTO jobs (id, platform, input, state, run_at, attempts, claims,
                                   lease_owner, lease_expires_at, created_at)
                   VALUES (2, 'gumroad', '{}', 'processing', 0, 1, 1, 'otherhost:9:1', 20, 0);
                 INSERT INTO jobs (id, platform, input, run_at, created_at)
                   VALUES (3, 'gumroad', '{}', 5000, 0);
                 INSERT INTO attempts (job_id, attempt, run_id, worker, started_at, finished_at,
                                       outcome, error)
                   VALUES (1, 1, 1, 'h:9:1', 0, 5, 'worker_died', 'killed'),
                          (1, 2, 1, 'h:9:1', 5, 10, 'completed', NULL),
                          (2, 1, NULL, 'otherhost:9:1', 0, NULL, NULL, NULL);",
            )
            .unwrap();
        }
        let db = super::Db::open(&path).unwrap();
        assert_eq!(db.schema_version().unwrap(), super::MIGRATIONS.len() as i64);
        let history: Vec<_> = db
            .attempts(1)
            .unwrap()
            .into_iter()
            .map(|a| (a.outcome.unwrap(), a.error, a.worker))
            .collect();
        assert_eq!(
            history,
            [
                ("worker_died".into(), Some("killed".into()), "h:9:1".into()),
                ("completed".into(), None, "h:9:1".into())
            ]
        );
        let schema = |name: &str| -> Option<String> {
            db.conn()
                .query_row(
                    "SELECT sql FROM sqlite_schema WHERE name = ?1",
                    [name],
                    |r| r.get(0),
                )
                .ok()
        };
        assert!(schema("attempts").unwrap().contains("WITHOUT ROWID"));
        assert!(schema("jobs_state").is_some());
        for gone in [
            "jobs_lease",
            "jobs_retain",
            "jobs_platform_state",
            "attempts_run",
        ] {
            assert_eq!(schema(gone), None, "{gone}");
        }
        // The rebuilt tables keep their constraints: states, outcomes, and the cascade to jobs.
        let parent: String = db
            .conn()
            .query_row(
                "SELECT \"table\" FROM pragma_foreign_key_list('attempts')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(parent, "jobs");
        for bad in [
            "UPDATE jobs SET state = 'done' WHERE id = 3",
            "UPDATE jobs SET finished_at = 1 WHERE id = 3",
            "UPDATE attempts SET outcome = 'done' WHERE job_id = 1",
        ] {
            assert!(db.conn().execute(bad, []).is_err(), "{bad}");
        }
        // The orphan (lease expired at 20) is rescued and claimed; job 3 is not due before 5000.
        let rescued = db.rescue_at(1_000, &|_| false).unwrap();
        assert_eq!(rescued.len(), 1);
        assert_eq!(rescued[0].job_id, 2);
        let me = WorkerId("otherhost:10:1".into());
        let job = db
            .claim_at(&me, None, None, 1_000, 60_000)
            .unwrap()
            .unwrap();
        assert_eq!((job.id, job.lease.claim), (2, 2));
        db.complete_at(
            &job.lease,
            1_001,
            &JobResult::default(),
            &Effects::default(),
        )
        .unwrap()
        .unwrap();
        // Pruning everything finished removes jobs 1 and 2 with their attempts, and the run.
        let all = Retention {
            completed_ms: 0,
            failed_ms: 0,
            runs_ms: 0,
            batch: 1,
        };
        assert_eq!(db.prune_at(&all, 2_000).unwrap(), (2, 1));
        let left: i64 = db
            .conn()
            .query_row("SELECT count(*) FROM attempts", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
        assert_eq!(db.integrity_check().unwrap(), "ok");
        let fk_problems: i64 = db
            .conn()
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(fk_problems, 0);
    }

    /// A database written by a development build that listed migration 008 seventh (version 7,
    /// without migration 007's column) gets migration 007 when opened, then 008 again.
    #[test]
    fn a_database_with_008_listed_seventh_gets_007() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dev.db");
        {
            let c = rusqlite::Connection::open(&path).unwrap();
            for m in &super::MIGRATIONS[..6] {
                c.execute_batch(m).unwrap();
            }
            c.execute_batch(super::GUMROAD_BUYER_DATA).unwrap();
            c.pragma_update(None, "user_version", 7).unwrap();
        }
        let db = super::Db::open(&path).unwrap();
        assert_eq!(db.user_version().unwrap(), super::MIGRATIONS.len() as i64);
        let views: i64 = db
            .conn()
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name IN ('kdp_final_months', 'month_total_months')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(views, 2);
    }

    /// A version-6 database (KDP events in the two families `kdp_estimate` and `kdp_final`)
    /// upgrades to families per kind without changing any total: every KDP event gets its
    /// format's family, the rollup follows (a staged import's rollup is summed again when it
    /// turns live), a final import's coverage stands for all four kinds (so it shadows what it
    /// shadowed), an estimate import's coverage is per kind, and nothing is month totals.
    #[test]
    fn a_version_6_database_upgrades_to_families_per_kind_with_every_total() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v6.db");
        // Totals per (month, format, currency) and per (month, platform, currency) through
        // both effective views, and the events' ids with their families.
        let totals = |c: &rusqlite::Connection| -> Vec<String> {
            let mut out = Vec::new();
            for sql in [
                "SELECT month, format, currency, count(*), sum(units), sum(kenp_pages),
                        sum(royalty_micros) FROM effective_sales GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
                "SELECT month, platform, currency, sum(events), sum(units), sum(kenp_pages),
                        sum(royalty_micros) FROM effective_rollup GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
            ] {
                let mut stmt = c.prepare(sql).unwrap();
                let rows = stmt
                    .query_map([], |r| {
                        Ok(format!(
                            "{}|{}|{}|{}|{}|{}|{}",
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, i64>(3)?,
                            r.get::<_, i64>(4)?,
                            r.get::<_, i64>(5)?,
                            r.get::<_, i64>(6)?
                        ))
                    })
                    .unwrap();
                out.extend(rows.map(Result::unwrap));
                out.push("--".into());
            }
            out
        };
        let before = {
            let c = rusqlite::Connection::open(&path).unwrap();
            c.pragma_update(None, "journal_mode", "WAL").unwrap();
            for m in &super::MIGRATIONS[..6] {
                c.execute_batch(m).unwrap();
            }
            c.pragma_update(None, "user_version", 6).unwrap();
            // 1: a live estimator (July sales and KENP days, June hardcover), 2: a live final
            // report of July (eBook and KENP only), 3: an estimator being staged (rollup
            // written with its last chunk), 4: a live D2D file, and a Gumroad sale.
            c.execute_batch(
                "INSERT INTO imports (id, job_id, platform, file, sha256, layout, state, rows, events,
                                      started_at, finished_at, rollup_staged)
                   VALUES (1, 1, 'amazon_kdp', 'e.xlsx', 'a', 'est', 'live', 5, 5, 0, 1, 1),
                          (2, 2, 'amazon_kdp', 'f.xlsx', 'b', 'fin', 'live', 2, 2, 0, 2, 1),
                          (3, 3, 'amazon_kdp', 'g.xlsx', 'c', NULL, 'staging', 0, 1, 0, NULL, 1),
                          (4, 4, 'draft2digital', 'd.csv', 'd', 'd2d', 'live', 1, 1, 0, 4, 1);
                 INSERT INTO import_coverage VALUES
                   (1, 'kdp_estimate', '2025-06-01', '2025-07-31'),
                   (2, 'kdp_final', '2025-07-01', '2025-07-31'),
                   (3, 'kdp_estimate', '2025-08-01', '2025-08-31'),
                   (4, 'd2d_ebook', '2025-07-02', '2025-07-02');
                 INSERT INTO sales_events (id, platform, family, source, import_id, job_id,
                     natural_key, period_start, period_end, month, title, product_id, format,
                     marketplace, retailer, country, units, kenp_pages, list_price_micros,
                     royalty_micros, currency, is_final, status, raw, line, updated_at)
                   VALUES
                   (1, 'amazon_kdp', 'kdp_estimate', 'kdp.estimate.ebook_royalty', 1, 1, NULL,
                    '2025-07-01', '2025-07-31', '2025-07', 'B', 'B0A', 'ebook', 'Amazon.com',
                    'Amazon', 'US', 3, 0, NULL, 9000000, 'USD', 0, '', '{}', 2, 1),
                   (2, 'amazon_kdp', 'kdp_estimate', 'kdp.estimate.paperback_royalty', 1, 1, NULL,
                    '2025-07-01', '2025-07-31', '2025-07', 'B', '979', 'paperback', 'Amazon.com',
                    'Amazon', 'US', 1, 0, NULL, 4000000, 'USD', 0, '', '{}', 2, 1),
                   (3, 'amazon_kdp', 'kdp_estimate', 'kdp.estimate.kenp_read', 1, 1, NULL,
                    '2025-07-30', '2025-07-30', '2025-07', 'B', 'B0A', 'kenp', 'Amazon.com',
                    'Amazon', 'US', 0, 120, NULL, 0, 'USD', 0, '', '{}', 2, 1),
                   (4, 'amazon_kdp', 'kdp_estimate', 'kdp.estimate.hardcover_royalty', 1, 1, NULL,
                    '2025-06-01', '2025-06-30', '2025-06', 'B', '978', 'hardcover', 'Amazon.com',
                    'Amazon', 'US', 1, 0, NULL, 7140000, 'USD', 0, '', '{}', 2, 1),
                   (5, 'amazon_kdp', 'kdp_estimate', 'kdp.estimate.kenp_read', 1, 1, NULL,
                    '2025-06-12', '2025-06-12', '2025-06', 'B', 'B0A', 'kenp', 'Amazon.de',
                    'Amazon', 'DE', 0, 40, NULL, 0, 'EUR', 0, '', '{}', 3, 1),
                   (6, 'amazon_kdp', 'kdp_final', 'kdp.final.ebook_royalty', 2, 2, NULL,
                    '2025-07-01', '2025-07-31', '2025-07', 'B', 'B0A', 'ebook', 'Amazon.com',
                    'Amazon', 'US', 3, 0, NULL, 9100000, 'USD', 1, '', '{}', 3, 2),
                   (7, 'amazon_kdp', 'kdp_final', 'kdp.final.kenp_read', 2, 2, NULL,
                    '2025-07-01', '2025-07-31', '2025-07', 'B', 'B0A', 'kenp', 'Amazon.com',
                    'Amazon', 'US', 0, 130, NULL, 560000, 'USD', 1, '', '{}', 3, 2),
                   (8, 'amazon_kdp', 'kdp_estimate', 'kdp.estimate.ebook_royalty', 3, 3, NULL,
                    '2025-08-01', '2025-08-31', '2025-08', 'B', 'B0A', 'ebook', 'Amazon.com',
                    'Amazon', 'US', 2, 0, NULL, 6000000, 'USD', 0, '', '{}', 2, 3),
                   (9, 'draft2digital', 'd2d_ebook', 'd2d.ebook', 4, 4, NULL,
                    '2025-07-02', '2025-07-02', '2025-07', 'B', '97811', 'ebook', 'Kobo', 'Kobo',
                    'CA', 1, 0, NULL, 2000000, 'CAD', 1, '', '{}', 2, 4),
                   (10, 'gumroad', 'gumroad', 'gumroad.api', NULL, 5, 'gumroad:sale:S1',
                    '2025-07-03', '2025-07-03', '2025-07', 'Zine', 'p1', 'ebook', '', '', 'DE',
                    1, 0, NULL, 4200000, 'USD', 1, '', '{\"id\":\"S1\"}', 0, 5);
                 INSERT INTO sales_rollup
                   SELECT platform, family, coalesce(import_id, 0), month, period_start, period_end,
                          currency, is_final, count(*), sum(units), sum(kenp_pages), sum(royalty_micros)
                     FROM sales_events
                    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;",
            )
            .unwrap();
            totals(&c)
        };
        // June's hardcover and KENP estimates count, July's estimates are shadowed by the final,
        // the staged August row is not counted.
        assert!(
            before.contains(&"2025-06|hardcover|USD|1|1|0|7140000".to_string()),
            "{before:?}"
        );
        assert!(
            !before.iter().any(|r| r.starts_with("2025-07|paperback")),
            "{before:?}"
        );
        let db = super::Db::open(&path).unwrap();
        assert_eq!(db.user_version().unwrap(), super::MIGRATIONS.len() as i64);
        let c = db.conn();
        assert_eq!(totals(c), before, "no total changes");
        let families: Vec<(i64, String)> = {
            let mut stmt = c
                .prepare("SELECT id, family FROM sales_events ORDER BY id")
                .unwrap();
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
            rows.map(Result::unwrap).collect()
        };
        let expected: Vec<(i64, String)> = [
            "kdp_estimate.ebook",
            "kdp_estimate.paperback",
            "kdp_estimate.kenp",
            "kdp_estimate.hardcover",
            "kdp_estimate.kenp",
            "kdp_final.ebook",
            "kdp_final.kenp",
            "kdp_estimate.ebook",
            "d2d_ebook",
            "gumroad",
        ]
        .iter()
        .enumerate()
        .map(|(i, f)| (i as i64 + 1, (*f).to_string()))
        .collect();
        assert_eq!(families, expected);
        let coverage: Vec<String> = {
            let mut stmt = c
                .prepare(
                    "SELECT import_id || ' ' || family || ' ' || period_start || ' ' || period_end
                            || ' ' || month_totals
                       FROM import_coverage ORDER BY import_id, family",
                )
                .unwrap();
            let rows = stmt.query_map([], |r| r.get(0)).unwrap();
            rows.map(Result::unwrap).collect()
        };
        assert_eq!(
            coverage,
            [
                "1 kdp_estimate.ebook 2025-07-01 2025-07-31 0",
                "1 kdp_estimate.hardcover 2025-06-01 2025-06-30 0",
                "1 kdp_estimate.kenp 2025-06-12 2025-07-30 0",
                "1 kdp_estimate.paperback 2025-07-01 2025-07-31 0",
                "2 kdp_final.ebook 2025-07-01 2025-07-31 0",
                "2 kdp_final.hardcover 2025-07-01 2025-07-31 0",
                "2 kdp_final.kenp 2025-07-01 2025-07-31 0",
                "2 kdp_final.paperback 2025-07-01 2025-07-31 0",
                "3 kdp_estimate.ebook 2025-08-01 2025-08-31 0",
                "4 d2d_ebook 2025-07-02 2025-07-02 0",
            ]
        );
        // The rollup equals the live events under their new families, and the staged import
        // turns live with its rows summed again.
        let rollup_vs_events = |c: &rusqlite::Connection| -> (Vec<String>, Vec<String>) {
            let q = |sql: &str| -> Vec<String> {
                let mut stmt = c.prepare(sql).unwrap();
                let rows = stmt.query_map([], |r| r.get(0)).unwrap();
                rows.map(Result::unwrap).collect()
            };
            (
                q("SELECT family || month || currency || events || units || kenp_pages || royalty_micros
                     FROM live_rollup ORDER BY 1"),
                q("SELECT family || month || currency || count(*) || sum(units) || sum(kenp_pages)
                          || sum(royalty_micros)
                     FROM live_sales GROUP BY family, import_id, month, period_start, period_end,
                          currency, is_final ORDER BY 1"),
            )
        };
        let (rollup, events) = rollup_vs_events(c);
        assert_eq!(rollup, events);
        db.immediate(|c| super::sales::publish_import(c, 3, 9))
            .unwrap();
        let (rollup, events) = rollup_vs_events(c);
        assert_eq!(rollup, events);
        assert!(rollup
            .iter()
            .any(|r| r.starts_with("kdp_estimate.ebook2025-08")));
        let check: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
    }

    /// A version-5 database keeps every event, column for column and with its id, through
    /// migration 6 (which rebuilds `sales_events` without the NULL-filled key index); the key is
    /// still unique, the upsert still finds it through the new index, and the rollup triggers
    /// and views work on the rebuilt table.
    #[test]
    fn a_version_5_database_upgrades_with_its_events() {
        use crate::model::{Format, Platform, SaleEvent};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v5.db");
        let dump = |c: &rusqlite::Connection| -> Vec<String> {
            let mut stmt = c
                .prepare(
                    "SELECT quote(id) || '|' || platform || '|' || family || '|' || source || '|'
                       || quote(import_id) || '|' || quote(job_id) || '|' || quote(natural_key)
                       || '|' || period_start || '|' || period_end || '|' || month || '|' || title
                       || '|' || product_id || '|' || format || '|' || marketplace || '|'
                       || retailer || '|' || country || '|' || units || '|' || kenp_pages || '|'
                       || quote(list_price_micros) || '|' || royalty_micros || '|' || currency
                       || '|' || is_final || '|' || status || '|' || raw || '|' || line || '|'
                       || updated_at || '|' || quote(raw_layout)
                     FROM sales_events ORDER BY id",
                )
                .unwrap();
            let rows = stmt.query_map([], |r| r.get(0)).unwrap();
            rows.map(Result::unwrap).collect()
        };
        let sums = |c: &rusqlite::Connection, view: &str, count: &str| -> (i64, i64) {
            c.query_row(
                &format!("SELECT coalesce(sum({count}), 0), coalesce(sum(royalty_micros), 0) FROM {view}"),
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
        };
        let before = {
            let c = rusqlite::Connection::open(&path).unwrap();
            c.pragma_update(None, "journal_mode", "WAL").unwrap();
            for m in &super::MIGRATIONS[..5] {
                c.execute_batch(m).unwrap();
            }
            c.pragma_update(None, "user_version", 5).unwrap();
            c.execute_batch(
                "INSERT INTO imports (id, job_id, platform, file, sha256, layout, state, rows, events,
                                      started_at, finished_at, rollup_staged)
                   VALUES (1, 1, 'draft2digital', 'a.csv', 'aaa', 'ebook', 'live', 2, 2, 0, 5, 1),
                          (2, 2, 'draft2digital', 'b.csv', 'bbb', NULL, 'staging', 0, 1, 6, NULL, 0);
                 INSERT INTO raw_layouts (id, import_id, keys) VALUES (1, 1, '[\"A\",\"B\"]');
                 INSERT INTO sales_events (id, platform, family, source, import_id, job_id,
                     natural_key, period_start, period_end, month, title, product_id, format,
                     marketplace, retailer, country, units, kenp_pages, list_price_micros,
                     royalty_micros, currency, is_final, status, raw, line, updated_at, raw_layout)
                   VALUES (3, 'draft2digital', 'd2d_ebook', 'd2d.ebook', 1, 1, NULL, '2025-03-01',
                           '2025-03-01', '2025-03', 'Book', '97811', 'ebook', '', 'Kobo', 'CA', 2, 0,
                           7850000, 5490000, 'CAD', 1, '', '[\"x\",\"y\"]', 2, 5, 1),
                          (7, 'draft2digital', 'd2d_ebook', 'd2d.ebook', 1, 1, NULL, '2025-03-02',
                           '2025-03-02', '2025-03', 'Book', '97811', 'ebook', '', 'Kobo', 'US', -1, 0,
                           NULL, -3950000, 'USD', 1, '', '[\"z\",\"w\"]', 3, 5, 1),
                          (8, 'draft2digital', 'd2d_ebook', 'd2d.ebook', 2, 2, NULL, '2025-04-01',
                           '2025-04-01', '2025-04', 'Staged', '97812', 'ebook', '', 'Kobo', 'CA', 1, 0,
                           NULL, 1000000, 'CAD', 1, '', '[\"s\",\"t\"]', 2, 6, 1),
                          (9, 'gumroad', 'gumroad', 'gumroad.api', NULL, 3, 'gumroad:sale:S1',
                           '2025-05-01', '2025-05-01', '2025-05', 'Zine', 'p1', 'ebook', '', '', 'DE',
                           1, 0, 5000000, 4200000, 'USD', 1, '', '{\"id\":\"S1\"}', 0, 7, NULL);
                 INSERT INTO sales_rollup
                   SELECT platform, family, coalesce(import_id, 0), month, period_start, period_end,
                          currency, is_final, count(*), sum(units), sum(kenp_pages), sum(royalty_micros)
                     FROM live_sales
                    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;",
            )
            .unwrap();
            assert!(c
                .query_row(
                    "SELECT count(*) FROM pragma_index_list('sales_events') WHERE origin = 'u'",
                    [],
                    |r| r.get::<_, i64>(0)
                )
                .unwrap()
                .eq(&1));
            dump(&c)
        };
        let db = super::Db::open(&path).unwrap();
        assert_eq!(db.schema_version().unwrap(), super::MIGRATIONS.len() as i64);
        let c = db.conn();
        assert_eq!(dump(c), before, "every event is kept as it was");
        // The key index is partial now, and no automatic index is left.
        let indexes: Vec<(String, String, i64, i64)> = {
            let mut stmt = c
                .prepare("SELECT name, origin, \"unique\", partial FROM pragma_index_list('sales_events') ORDER BY name")
                .unwrap();
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .unwrap();
            rows.map(Result::unwrap).collect()
        };
        assert_eq!(
            indexes,
            [
                ("sales_import".into(), "c".into(), 0, 0),
                ("sales_natural_key".into(), "c".into(), 1, 1)
            ]
        );
        let plan = db
            .query_plan("SELECT id FROM sales_events WHERE natural_key = ?1")
            .unwrap()
            .join("\n");
        assert!(plan.contains("sales_natural_key"), "{plan}");
        // Same rule as before: keys are unique, NULLs are not keys.
        let copy_of = |id: i64, key: &str| {
            format!(
                "INSERT INTO sales_events (platform, family, source, import_id, job_id, natural_key,
                   period_start, period_end, month, title, product_id, format, marketplace, retailer,
                   country, units, kenp_pages, royalty_micros, currency, is_final, raw, line, updated_at)
                 SELECT platform, family, source, import_id, job_id, {key}, period_start, period_end,
                   month, title, product_id, format, marketplace, retailer, country, units,
                   kenp_pages, royalty_micros, currency, is_final, raw, line, updated_at
                   FROM sales_events WHERE id = {id}"
            )
        };
        assert!(c.execute(&copy_of(9, "'gumroad:sale:S1'"), []).is_err());
        c.execute(&copy_of(8, "NULL"), []).unwrap();
        c.execute(
            "DELETE FROM sales_events WHERE id = last_insert_rowid()",
            [],
        )
        .unwrap();
        // The upsert finds the stored sale by its key and updates it in place.
        let date = chrono::NaiveDate::from_ymd_opt(2025, 5, 1).unwrap();
        let refund = SaleEvent {
            platform: Platform::Gumroad,
            family: "gumroad".into(),
            source: "gumroad.api".into(),
            natural_key: Some("gumroad:sale:S1".into()),
            period_start: date,
            period_end: date,
            title: "Zine".into(),
            product_id: "p1".into(),
            format: Format::Ebook,
            marketplace: String::new(),
            retailer: String::new(),
            country: "DE".into(),
            units: 0,
            kenp_pages: 0,
            list_price_micros: Some(5_000_000),
            royalty_micros: 0,
            currency: "USD".into(),
            is_final: true,
            status: "refunded".into(),
            raw: "{\"id\":\"S1\",\"refunded\":true}".into(),
            raw_layout: None,
            line: 0,
        };
        assert_eq!(
            db.upsert_events_at("gumroad", 4, &[refund], None, 8)
                .unwrap(),
            (0, 1)
        );
        // The upsert moved the sale's rollup (the store's delta; migration 9 dropped the
        // triggers): the live rollup still equals the live events; the staged event stays out.
        assert_eq!(sums(c, "live_rollup", "events"), sums(c, "live_sales", "1"));
        assert_eq!(sums(c, "effective_sales", "1"), sums(c, "live_sales", "1"));
        let triggers: i64 = c
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            triggers, 0,
            "one mechanism keeps the rollup: no trigger is left"
        );
        let check: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        let orphans: i64 = c
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(orphans, 0);
    }

    /// The schema version just before migration 008 (Gumroad buyers' data): the upgrade test
    /// starts there, whatever migrations precede it (version 6 on main today; 7 once KDP's
    /// migration 007 is listed before it).
    fn version_before_008() -> usize {
        super::MIGRATIONS
            .iter()
            .position(|m| *m == super::GUMROAD_BUYER_DATA)
            .expect("migration 008 is listed")
    }

    /// A database written before migration 008 holds Gumroad buyers' personal data in `raw`
    /// (the whole sale object or Ping body) and a Ping test purchase. The upgrade keeps only the
    /// allow-listed fields (values and JSON types unchanged), deletes the test purchase with
    /// its share of the rollup (which stays equal to the live events), changes no other column,
    /// row or table, and leaves none of the personal data in the database file.
    #[test]
    fn the_upgrade_to_008_scrubs_buyers_data_and_drops_test_purchases() {
        use rusqlite::types::Value as V;
        let before_version = version_before_008();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let pii = [
            "ana.reader@example.com",
            "Ana Reader",
            "12 Harbour Road",
            "83DB262A-C19D",
            "partner@example.com",
            "555-0100",
            "Cosy mystery",
            "203.0.113.9",
            "seller.self@example.com",
            "5530311507801",
        ];
        let api_raw = r#"{"affiliate":{"amount":"$1.50","email":"partner@example.com"},"amount_refundable_in_currency":"6","card":{"type":"paypal","visual":"ana.reader@example.com"},"chargedback":false,"country":"Germany","country_iso2":"DE","created_at":"2025-05-01T10:00:00Z","currency_symbol":"€","custom_fields":{"Phone":"555-0100"},"disputed":null,"email":"ana.reader@example.com","formatted_total_price":"€6","full_name":"Ana Reader","gumroad_fee":100,"id":"S1","license_key":"83DB262A-C19D","partially_refunded":false,"price":650,"product_id":"p1","product_name":"Nordlicht – Kurzgeschichten","purchase_email":"ana.reader@example.com","purchaser_id":"5530311507801","quantity":1,"street_address":"12 Harbour Road","variants":["a"]}"#;
        let api_kept = r#"{"amount_refundable_in_currency":"6","chargedback":false,"country":"Germany","country_iso2":"DE","created_at":"2025-05-01T10:00:00Z","currency_symbol":"€","disputed":null,"formatted_total_price":"€6","gumroad_fee":100,"id":"S1","partially_refunded":false,"price":650,"product_id":"p1","product_name":"Nordlicht – Kurzgeschichten","quantity":1}"#;
        let ping_raw = r#"{"Favourite genre":"Cosy mystery","card[visual]":"**** 4242","currency":"eur","custom_fields[Favourite genre]":"Cosy mystery","email":"ana.reader@example.com","full_name":"Ana Reader","gumroad_fee":"100","ip":"203.0.113.9","ip_country":"France","price":"650","product_id":"p2","product_name":"Zine","purchaser_id":"5530311507801","resource_name":"sale","sale_id":"S2","sale_timestamp":"2025-05-02T10:00:00Z","test":"false"}"#;
        let ping_kept = r#"{"currency":"eur","gumroad_fee":"100","ip_country":"France","price":"650","product_id":"p2","product_name":"Zine","resource_name":"sale","sale_id":"S2","sale_timestamp":"2025-05-02T10:00:00Z","test":"false"}"#;
        let test_raw =
            r#"{"email":"seller.self@example.com","price":"1598","sale_id":"S3","test":"true"}"#;
        let dump_events = |c: &rusqlite::Connection| -> Vec<String> {
            let mut st = c
                .prepare(
                    "SELECT quote(id) || '|' || platform || '|' || family || '|' || source || '|'
                       || quote(import_id) || '|' || quote(job_id) || '|' || quote(natural_key)
                       || '|' || period_start || '|' || period_end || '|' || month || '|' || title
                       || '|' || product_id || '|' || format || '|' || marketplace || '|'
                       || retailer || '|' || country || '|' || units || '|' || kenp_pages || '|'
                       || quote(list_price_micros) || '|' || royalty_micros || '|' || currency
                       || '|' || is_final || '|' || status || '|'
                       || CASE WHEN platform = 'gumroad' THEN '(raw)' ELSE raw END || '|' || line
                       || '|' || updated_at || '|' || quote(raw_layout)
                     FROM sales_events ORDER BY id",
                )
                .unwrap();
            let rows = st.query_map([], |r| r.get(0)).unwrap();
            rows.map(Result::unwrap).collect()
        };
        let dump_table = |c: &rusqlite::Connection, sql: &str| -> Vec<Vec<V>> {
            let mut st = c.prepare(sql).unwrap();
            let n = st.column_count();
            let rows = st
                .query_map([], |r| (0..n).map(|i| r.get::<_, V>(i)).collect())
                .unwrap();
            rows.map(Result::unwrap).collect()
        };
        let rollup_sql = "SELECT * FROM sales_rollup ORDER BY 1, 2, 3, 4, 5, 6, 7, 8";
        let recomputed_sql =
            "SELECT platform, family, coalesce(import_id, 0), month, period_start, period_end,
                    currency, is_final, count(*), sum(units), sum(kenp_pages), sum(royalty_micros)
               FROM live_sales GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8";
        let others = [
            "SELECT * FROM imports ORDER BY id",
            "SELECT * FROM import_coverage ORDER BY 1, 2",
            "SELECT * FROM raw_layouts ORDER BY id",
            "SELECT * FROM jobs ORDER BY id",
        ];
        let (events_before, others_before) = {
            let c = rusqlite::Connection::open(&path).unwrap();
            c.pragma_update(None, "journal_mode", "WAL").unwrap();
            for m in &super::MIGRATIONS[..before_version] {
                c.execute_batch(m).unwrap();
            }
            c.pragma_update(None, "user_version", before_version as i64)
                .unwrap();
            c.execute_batch(
                "INSERT INTO jobs (id, platform, input, state, run_at, attempts, claims, created_at,
                                   finished_at, result)
                   VALUES (1, 'gumroad', '{\"kind\":\"ping\",\"file\":\"p.txt\"}', 'completed', 0, 1,
                           1, 0, 5, '{}');
                 INSERT INTO imports (id, job_id, platform, file, sha256, layout, state, rows, events,
                                      started_at, finished_at, rollup_staged)
                   VALUES (1, 2, 'draft2digital', 'a.csv', 'aaa', 'ebook', 'live', 1, 1, 0, 5, 1);
                 INSERT INTO import_coverage (import_id, family, period_start, period_end)
                   VALUES (1, 'd2d_ebook', '2025-03-01', '2025-03-31');
                 INSERT INTO raw_layouts (id, import_id, keys) VALUES (1, 1, '[\"A\",\"B\"]');
                 INSERT INTO sales_events (id, platform, family, source, import_id, job_id,
                     natural_key, period_start, period_end, month, title, product_id, format,
                     marketplace, retailer, country, units, kenp_pages, list_price_micros,
                     royalty_micros, currency, is_final, status, raw, line, updated_at, raw_layout)
                   VALUES (3, 'draft2digital', 'd2d_ebook', 'd2d.ebook', 1, 2, NULL, '2025-03-01',
                           '2025-03-01', '2025-03', 'Book', '97811', 'ebook', '', 'Kobo', 'CA', 2, 0,
                           7850000, 5490000, 'CAD', 1, '', '[\"x\",\"y\"]', 2, 5, 1);",
            )
            .unwrap();
            let gumroad = |id: i64,
                           source: &str,
                           key: &str,
                           day: &str,
                           units: i64,
                           royalty: i64,
                           raw: &str| {
                c.execute(
                    "INSERT INTO sales_events (id, platform, family, source, import_id, job_id,
                         natural_key, period_start, period_end, month, title, product_id, format,
                         marketplace, retailer, country, units, kenp_pages, list_price_micros,
                         royalty_micros, currency, is_final, status, raw, line, updated_at)
                     VALUES (?1, 'gumroad', 'gumroad', ?2, NULL, 1, ?3, ?4, ?4, substr(?4, 1, 7),
                             'T', 'p', 'digital', 'gumroad', 'Gumroad', '', ?5, 0, 6500000, ?6,
                             'USD', 1, '', ?7, 0, 7)",
                    rusqlite::params![id, source, key, day, units, royalty, raw],
                )
                .unwrap();
            };
            gumroad(
                9,
                "gumroad.api",
                "gumroad:sale:S1",
                "2025-05-01",
                1,
                5_500_000,
                api_raw,
            );
            gumroad(
                10,
                "gumroad.ping",
                "gumroad:sale:S2",
                "2025-05-02",
                1,
                5_500_000,
                ping_raw,
            );
            gumroad(
                11,
                "gumroad.ping",
                "gumroad:sale:S3",
                "2025-05-02",
                2,
                14_080_000,
                test_raw,
            );
            // A test flag written as a JSON boolean, and a `raw` that is not an object.
            gumroad(
                12,
                "gumroad.ping",
                "gumroad:sale:S4",
                "2025-05-03",
                1,
                1_000_000,
                r#"{"sale_id":"S4","test":true}"#,
            );
            gumroad(
                13,
                "gumroad.api",
                "gumroad:sale:S5",
                "2025-05-03",
                1,
                2_000_000,
                r#"["ana.reader@example.com"]"#,
            );
            // Old copies of rows in the file's free space: sales deleted, and a row whose `raw`
            // was rewritten (as a re-sync does), before the upgrade.
            for id in 100..400 {
                gumroad(
                    id,
                    "gumroad.api",
                    &format!("gumroad:sale:X{id}"),
                    "2025-05-04",
                    1,
                    1,
                    api_raw,
                );
            }
            c.execute("DELETE FROM sales_events WHERE id >= 100", [])
                .unwrap();
            c.execute(
                "UPDATE sales_events SET raw = ?1 WHERE id = 9",
                [api_raw.replace("S1", "S0")],
            )
            .unwrap();
            c.execute("UPDATE sales_events SET raw = ?1 WHERE id = 9", [api_raw])
                .unwrap();
            c.execute_batch(&format!("INSERT INTO sales_rollup {recomputed_sql}"))
                .unwrap();
            let others_before: Vec<_> = others.iter().map(|q| dump_table(&c, q)).collect();
            (dump_events(&c), others_before)
        };
        let bytes = |p: &std::path::Path| std::fs::read(p).unwrap_or_default();
        let has =
            |hay: &[u8], needle: &str| hay.windows(needle.len()).any(|w| w == needle.as_bytes());
        assert!(
            has(&bytes(&path), "ana.reader@example.com"),
            "the old file holds the e-mail"
        );

        let db = super::Db::open(&path).unwrap();
        assert_eq!(db.user_version().unwrap(), super::MIGRATIONS.len() as i64);
        let c = db.conn();
        // The two test purchases are gone, everything else is as it was (but `raw`).
        let want: Vec<String> = events_before
            .iter()
            .filter(|r| !r.starts_with("11|") && !r.starts_with("12|"))
            .cloned()
            .collect();
        assert_eq!(dump_events(c), want);
        let others_after: Vec<_> = others.iter().map(|q| dump_table(c, q)).collect();
        assert_eq!(others_after, others_before);
        // The rollup lost exactly the test purchases and still equals the live events.
        assert_eq!(dump_table(c, rollup_sql), dump_table(c, recomputed_sql));
        let total: (i64, i64) = c
            .query_row(
                "SELECT sum(events), sum(royalty_micros) FROM sales_rollup",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(total, (4, 5_490_000 + 5_500_000 + 5_500_000 + 2_000_000));
        // `raw` keeps the allow-listed fields with their JSON types.
        let raw = |id: i64| -> String {
            c.query_row("SELECT raw FROM sales_events WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap()
        };
        let json = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        assert_eq!(json(&raw(9)), json(api_kept));
        assert_eq!(raw(9), api_kept, "same text, same key order");
        assert_eq!(json(&raw(10)), json(ping_kept));
        assert_eq!(raw(13), "{}");
        assert_eq!(raw(3), "[\"x\",\"y\"]");
        assert_eq!(db.integrity_check().unwrap(), "ok");
        drop(db);
        // And no personal data is left in the file, its free pages and unused space included
        // (the upgrade rebuilt it).
        let file = bytes(&path);
        let wal = bytes(&path.with_extension("db-wal"));
        for p in pii {
            assert!(!has(&file, p) && !has(&wal, p), "`{p}` is still on disk");
        }
    }

    #[test]
    fn durability_sets_the_synchronous_pragma() {
        use crate::queue::Durability;
        let (_d, db) = temp_db();
        let sync = |db: &super::Db| -> i64 {
            db.conn()
                .pragma_query_value(None, "synchronous", |r| r.get(0))
                .unwrap()
        };
        assert_eq!(sync(&db), 2, "FULL after open");
        db.set_durability(Durability::Normal).unwrap();
        assert_eq!(sync(&db), 1);
        db.set_durability(Durability::Full).unwrap();
        assert_eq!(sync(&db), 2);
        assert_eq!(Durability::parse(" Normal "), Some(Durability::Normal));
        assert_eq!(Durability::parse("off"), None);
    }

    #[test]
    fn reopening_does_not_migrate_twice() {
        let (_d, db) = temp_db();
        let again = super::Db::open(db.path()).unwrap();
        assert_eq!(
            again.schema_version().unwrap(),
            super::MIGRATIONS.len() as i64
        );
    }

    #[cfg(unix)]
    #[test]
    fn file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let (_d, db) = temp_db();
        let mode = std::fs::metadata(db.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
    }
}
