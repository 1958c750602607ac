//! The store: everything salesingest keeps, behind one backend-neutral API, with one
//! implementation per database engine: `sqlite/` (one machine, the default) and `postgres/`
//! (workers on several hosts). The CLI and the ingest code see only this module's traits and row
//! types, and open a store from its location (`--db PATH` or `--db postgres://…`).
//!
//! The API is split by concern:
//! - the queue (`queue::JobStore`: enqueue, claim, heartbeat, fenced completion, …);
//! - sales (`SalesStore`: staged file imports published with their job's completion, upserts of
//!   API sales, sync cursors);
//! - reports (`ReportStore`: jobs, attempts and runs as stored, sales summaries and exports);
//! - upkeep (`UpkeepStore`: schedules, the inbox scan's records, health checks, backups);
//! - blobs (`BlobStore`: job inputs kept by content hash, readable by every worker, so that a
//!   job enqueued on one host runs on another).
//!
//! Every time that decides a lease, a due job or retention is the backend's clock; callers pass
//! durations, never timestamps.
//!
//! Owns: every SQL statement in the program (each backend's own), opening the database and its
//! migrations. Must not: make retry decisions (it records what the queue decides), parse
//! reports, or print.

pub(crate) mod location;
pub mod postgres;
pub mod rows;
pub mod sqlite;

use std::path::Path;

use anyhow::Result;
use chrono::NaiveDate;

pub use location::Location;
pub use rows::*;

use crate::model::SaleEvent;
use crate::queue::{Enqueued, JobStore, Lease, Millis, NewJob};

#[cfg(test)]
pub(crate) use sqlite::testutil;

/// How long an inbox claim (`checking`) may stay before another worker takes the file over
/// (its worker died between claiming and recording).
pub const INBOX_CLAIM_STALE_MS: Millis = 10 * 60 * 1000;

/// 64 lower-case hex digits: a blob name can never leave its folder or table.
pub(crate) fn is_content_hash(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// SHA-256 of a file, streamed: the name a blob is kept under.
///
/// # Errors
/// I/O errors.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// How to open a store, besides where it is.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// How long each queue commit waits for the disk (SQLite's `synchronous`).
    pub durability: crate::queue::Durability,
    /// Connections a PostgreSQL store keeps for this process (`[postgres] pool_size`; 2 when
    /// unset: a worker and its heartbeat).
    pub pool_size: Option<u32>,
}

/// Open the store at `location`, creating (SQLite) or upgrading its schema as needed.
///
/// # Errors
/// When it cannot be reached, created or migrated; each message names the location (password
/// redacted) and what to do.
pub fn open(location: &Location, opts: &OpenOptions) -> Result<Box<dyn Store>> {
    match location {
        Location::Sqlite(path) => Ok(Box::new(sqlite::Db::open_with(path, opts)?)),
        Location::Postgres(url) => Ok(Box::new(postgres::PgStore::connect(url, opts)?)),
    }
}

/// Open the store at `location` only if it exists (commands that read must not create an empty
/// database at a mistyped `--db`); otherwise as `open`.
///
/// # Errors
/// When there is no SQLite file there, and as `open`.
pub fn open_existing(location: &Location, opts: &OpenOptions) -> Result<Box<dyn Store>> {
    match location {
        Location::Sqlite(path) => Ok(Box::new(sqlite::Db::open_existing_with(path, opts)?)),
        Location::Postgres(_) => open(location, opts),
    }
}

/// What to do when `e` says the database at `location` is itself damaged, naming it; `None`
/// for any other error.
pub fn damaged_message(location: &Location, e: &anyhow::Error) -> Option<String> {
    match location {
        Location::Sqlite(path) => sqlite::damaged_message(path, e),
        Location::Postgres(_) => None,
    }
}

/// A file import being staged: chunks of events written in short transactions, invisible until
/// the job's fenced completion publishes them (`Effects::import_id`).
pub trait ImportStaging {
    /// Stage a chunk. The first call discards what an interrupted earlier attempt of the same
    /// job staged; the call with `done` (the last) records the layout and coverage that the
    /// completion will replace. Each chunk is fenced by the attempt's lease.
    ///
    /// # Errors
    /// Database errors, and a lost lease (nothing is written).
    fn stage(&mut self, events: &[SaleEvent], done: Option<StagingDone<'_>>) -> Result<()>;

    /// The import's id, once its first chunk is staged.
    fn import_id(&self) -> Option<i64>;

    /// Events staged so far.
    fn staged(&self) -> u64;
}

/// How [`SalesStore::upsert_events`] treats a sale already stored under the same natural key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precedence {
    /// The events are the source of truth (the Gumroad API, a Ping): a stored sale is
    /// overwritten with them, whatever source it came from.
    Authoritative,
    /// The events only fill in (the Gumroad Sales CSV export): a new sale is inserted, and a
    /// stored sale is updated only when it came from the same source as the event; a sale
    /// stored from another source (the API's) is kept as it is, fields and amounts.
    FillIn,
}

/// Sales events: file imports (staged, then published by replace-by-coverage), upserts by
/// natural key (API platforms), sync cursors.
pub trait SalesStore {
    /// Start staging a file import for the attempt holding `lease` (nothing is written yet).
    fn begin_import<'a>(
        &'a self,
        lease: &Lease,
        platform: &str,
        file: &str,
        sha256: &str,
    ) -> Box<dyn ImportStaging + 'a>;

    /// Throw away a staged import (its job failed).
    ///
    /// # Errors
    /// Database errors.
    fn discard_import(&self, import_id: i64) -> Result<()>;

    /// The live import of a file with this content hash, if any.
    ///
    /// # Errors
    /// Database errors.
    fn live_import_by_sha(&self, sha256: &str) -> Result<Option<PriorImport>>;

    /// Upsert events by natural key and advance the platform's sync cursor, in one transaction.
    /// `precedence` says what happens to a sale already stored under the same key (see
    /// [`Precedence`]). Returns (inserted, updated); a kept sale counts as neither.
    ///
    /// # Errors
    /// Database errors, or an event without a natural key.
    fn upsert_events(
        &self,
        platform: &str,
        job_id: i64,
        events: &[SaleEvent],
        cursor: Option<NaiveDate>,
        precedence: Precedence,
    ) -> Result<(u64, u64)>;

    /// The stored sync cursor of a platform.
    ///
    /// # Errors
    /// Database errors or a corrupt cursor.
    fn sync_cursor(&self, platform: &str) -> Result<Option<NaiveDate>>;
}

/// Read-only views: jobs, attempts and runs as stored, and reports over the effective sales
/// (staged imports hidden; KDP estimates of a month with a final report shadowed).
pub trait ReportStore {
    /// One job.
    ///
    /// # Errors
    /// Database errors.
    fn job(&self, id: i64) -> Result<Option<JobRow>>;

    /// Jobs, newest first, optionally filtered.
    ///
    /// # Errors
    /// Database errors.
    fn jobs(&self, state: Option<&str>, platform: Option<&str>, limit: i64) -> Result<Vec<JobRow>>;

    /// A job's attempt history, oldest first.
    ///
    /// # Errors
    /// Database errors.
    fn attempts(&self, job_id: i64) -> Result<Vec<AttemptRow>>;

    /// Cron runs, newest first; `failed_only` keeps runs with a failed job or a bad exit, and
    /// runs that never finished (running or killed: the caller tells them apart). A run that
    /// never finished has the counts of the attempts it started.
    ///
    /// # Errors
    /// Database errors.
    fn runs(&self, limit: i64, failed_only: bool) -> Result<Vec<RunRow>>;

    /// The pending (queued or retrying) job due first, of `platform` if given: `(id, run_at)`.
    ///
    /// # Errors
    /// Database errors.
    fn next_due_job(&self, platform: Option<&str>) -> Result<Option<(i64, Millis)>>;

    /// Totals of effective sales per platform and currency.
    ///
    /// # Errors
    /// Database errors.
    fn totals(&self) -> Result<Vec<CurrencyTotal>>;

    /// The per-platform overview for the given platforms.
    ///
    /// # Errors
    /// Database errors.
    fn overview(&self, platforms: &[&str]) -> Result<Vec<PlatformOverview>>;

    /// Totals of effective events grouped by `dims` (currency is always a group key, never
    /// summed across), ordered by the keys as given (currency last unless among them).
    ///
    /// # Errors
    /// Database errors.
    fn sales_groups(&self, filter: &ReportFilter, dims: &[Dim]) -> Result<Vec<GroupRow>>;

    /// Call `f` with the keys, currency, period end and amounts of each effective event,
    /// unsorted and without collecting them. Returns how many were passed.
    ///
    /// # Errors
    /// Database errors, or the first error `f` returns.
    fn for_each_amount(
        &self,
        filter: &ReportFilter,
        dims: &[Dim],
        f: &mut dyn FnMut(&AmountRow) -> Result<()>,
    ) -> Result<u64>;

    /// Per currency, the earliest period end among the effective events the filter keeps.
    ///
    /// # Errors
    /// Database errors.
    fn currency_first_periods(&self, filter: &ReportFilter) -> Result<Vec<(String, String)>>;

    /// Call `f` with each effective event in the order they were imported, without collecting
    /// them. Returns how many were passed.
    ///
    /// # Errors
    /// Database errors, or the first error `f` returns (which stops the walk).
    fn for_each_sale(
        &self,
        filter: &ReportFilter,
        f: &mut dyn FnMut(&EventRow) -> Result<()>,
    ) -> Result<u64>;
}

/// Payouts: what platforms paid, kept in a table of their own (never mixed with sales). They
/// are written only by the fenced completion that publishes their file's import
/// (`Effects::payouts`): per platform and source, the payouts dated inside the range of the
/// file's payouts are replaced by the file's, and a payout is keyed by (platform, source,
/// reference, date, currency), so a re-import changes nothing.
pub trait PayoutStore {
    /// The stored payouts the filter keeps, by platform, date, reference and currency.
    ///
    /// # Errors
    /// Database errors.
    fn payouts(&self, filter: &PayoutFilter) -> Result<Vec<PayoutRow>>;
}

/// Per (platform, source, currency scope): the first and last payment date of the file's
/// payouts, the range whose stored payouts the file replaces. The scope is the currency for a
/// payment a report states (one report per payment profile: Google Play's USD and EUR reports
/// of one date never replace each other), empty for a payments report, which lists every
/// payment of its dates (a KDP download no longer listing a payment removes it).
pub(crate) fn payouts_coverage(
    payouts: &[crate::model::Payout],
) -> std::collections::BTreeMap<(String, String, String), (String, String)> {
    let mut out: std::collections::BTreeMap<(String, String, String), (String, String)> =
        std::collections::BTreeMap::new();
    for p in payouts {
        let d = crate::model::iso_date(p.date);
        let scope = if p.status == "stated" {
            p.currency.clone()
        } else {
            String::new()
        };
        let e = out
            .entry((p.platform.as_str().to_string(), p.source.clone(), scope))
            .or_insert_with(|| (d.clone(), d.clone()));
        if d < e.0 {
            e.0 = d.clone();
        }
        if d > e.1 {
            e.1 = d;
        }
    }
    out
}

/// One finding of a backend's own health checks (`doctor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub check: String,
    pub status: DiagnosticStatus,
    pub detail: String,
}

/// How a health check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiagnosticStatus {
    Ok,
    Warn,
    Fail,
}

/// Unattended operation and upkeep: schedules, the inbox scan's records, the queries behind
/// `status --check` and `doctor`, backups.
pub trait UpkeepStore {
    /// The backend's clock (the one that decides leases and due jobs).
    ///
    /// # Errors
    /// Database errors (PostgreSQL asks the server).
    fn now(&self) -> Result<Millis>;

    /// Where the store is, for messages (a password is never shown).
    fn location(&self) -> String;

    /// The schema version applied.
    ///
    /// # Errors
    /// Database errors.
    fn schema_version(&self) -> Result<i64>;

    /// Fire a schedule if it is due: if it last enqueued at least `every_ms` ago (or never),
    /// enqueue `job` (deduplicated against a pending job with the same unique key) and record
    /// the time, in one transaction, so that workers on any number of hosts fire it exactly
    /// once. `None` when it was not due.
    ///
    /// # Errors
    /// Database errors.
    fn fire_schedule(&self, name: &str, every_ms: i64, job: &NewJob) -> Result<Option<Enqueued>>;

    /// The stored state of every schedule that has fired at least once.
    ///
    /// # Errors
    /// Database errors.
    fn schedule_rows(&self) -> Result<Vec<ScheduleRow>>;

    /// What the inbox scan recorded for a content hash.
    ///
    /// # Errors
    /// Database errors.
    fn inbox_file(&self, sha256: &str) -> Result<Option<InboxRow>>;

    /// Claim a content hash for checking: true for the one worker that may check it now (the
    /// hash is new, or an earlier claim went stale because its worker died).
    ///
    /// # Errors
    /// Database errors.
    fn inbox_claim(&self, sha256: &str, path: &str) -> Result<bool>;

    /// Record what checking an inbox file found.
    ///
    /// # Errors
    /// Database errors.
    fn inbox_record(
        &self,
        sha256: &str,
        path: &str,
        platform: Option<&str>,
        status: &str,
        message: Option<&str>,
        job_id: Option<i64>,
    ) -> Result<()>;

    /// Whether a file at `path` with this size and modification time was already checked.
    ///
    /// # Errors
    /// Database errors.
    fn inbox_unchanged(&self, path: &str, size: i64, mtime_ms: i64) -> Result<bool>;

    /// Remember the size and modification time a checked file had.
    ///
    /// # Errors
    /// Database errors.
    fn inbox_stat(&self, sha256: &str, size: i64, mtime_ms: i64) -> Result<()>;

    /// Forget an inbox claim (an I/O error while checking: try again next scan).
    ///
    /// # Errors
    /// Database errors.
    fn inbox_forget(&self, sha256: &str) -> Result<()>;

    /// When `platform` last synced successfully.
    ///
    /// # Errors
    /// Database errors.
    fn last_sync_success(&self, platform: &str) -> Result<Option<Millis>>;

    /// Failed jobs not revived and not superseded by a later completed job with the same
    /// platform and unique key.
    ///
    /// # Errors
    /// Database errors.
    fn unresolved_failed_jobs(&self) -> Result<Vec<FailedJob>>;

    /// KDP months (`YYYY-MM`) that have live estimates but no final report.
    ///
    /// # Errors
    /// Database errors.
    fn kdp_months_without_final(&self) -> Result<Vec<String>>;

    /// Jobs marked processing (for `doctor` to judge: lease expired, or owner dead).
    ///
    /// # Errors
    /// Database errors.
    fn processing_jobs(&self) -> Result<Vec<ProcessingJob>>;

    /// Cron-run rows never finished (running now, or killed).
    ///
    /// # Errors
    /// Database errors.
    fn open_runs(&self) -> Result<Vec<OpenRun>>;

    /// How many rows `prune` would delete now (for `prune --dry-run`).
    ///
    /// # Errors
    /// Database errors.
    fn prune_preview(&self, policy: &crate::queue::retry::Retention) -> Result<(u64, u64)>;

    /// The backend's own health checks (integrity, journal mode, server state, …).
    fn diagnostics(&self) -> Vec<Diagnostic>;

    /// Write a consistent copy of the store to `dest` (which must not exist). Returns the
    /// number of pages copied. A backend that cannot (PostgreSQL) fails with the exact command
    /// to use instead.
    ///
    /// # Errors
    /// Database or I/O errors.
    fn backup_to(&self, dest: &Path) -> Result<i64>;
}

/// A blob as a file this process can read: the kept file itself (SQLite), or a temporary copy
/// (PostgreSQL) removed when this is dropped.
#[derive(Debug)]
pub struct LocalBlob {
    path: std::path::PathBuf,
    temporary: bool,
}

impl LocalBlob {
    /// A kept file, left in place when dropped.
    pub fn kept(path: std::path::PathBuf) -> LocalBlob {
        LocalBlob {
            path,
            temporary: false,
        }
    }

    /// A temporary copy, removed when dropped.
    pub fn temporary(path: std::path::PathBuf) -> LocalBlob {
        LocalBlob {
            path,
            temporary: true,
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LocalBlob {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Job inputs (report files, Ping bodies) kept by content hash where every worker of the store
/// can read them, so that a job enqueued on one host runs on any other: SQLite keeps them as
/// files next to the database, PostgreSQL in the database.
pub trait BlobStore {
    /// Keep the content of `src`, whose SHA-256 the caller computed, unless it is already kept.
    ///
    /// # Errors
    /// I/O or database errors, naming the file and where it was being kept.
    fn put_blob_file(&self, sha256: &str, src: &Path) -> Result<()>;

    /// Keep `bytes`; returns their SHA-256.
    ///
    /// # Errors
    /// I/O or database errors.
    fn put_blob_bytes(&self, bytes: &[u8]) -> Result<String>;

    /// The blob as a readable local file, or `None` when it is not kept.
    ///
    /// # Errors
    /// I/O or database errors, or a name that is not a content hash.
    fn fetch_blob(&self, sha256: &str) -> Result<Option<LocalBlob>>;

    /// Where a blob is kept, for messages.
    fn blob_location(&self, sha256: &str) -> String;
}

/// The whole store, as the CLI and the ingest code use it.
pub trait Store:
    JobStore + SalesStore + ReportStore + PayoutStore + UpkeepStore + BlobStore + Send
{
    /// The queue concern on its own (what the worker loop takes).
    fn queue(&self) -> &dyn JobStore;

    /// This handle as the queue concern alone (what the heartbeat thread holds).
    fn into_queue(self: Box<Self>) -> Box<dyn JobStore + Send>;
}

impl<
        T: JobStore
            + SalesStore
            + ReportStore
            + PayoutStore
            + UpkeepStore
            + BlobStore
            + Send
            + 'static,
    > Store for T
{
    fn queue(&self) -> &dyn JobStore {
        self
    }

    fn into_queue(self: Box<Self>) -> Box<dyn JobStore + Send> {
        self
    }
}
