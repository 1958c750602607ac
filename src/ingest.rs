//! The job handler and enqueue-time checks: decode a job's input, run the platform adapter,
//! stage or upsert its events through the store.
//!
//! Owns: wiring adapters to the store, inbox copies, content hashes, error classification.
//! Must not: parse formats itself or write SQL.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::NaiveDate;
use sha2::{Digest, Sha256};

use crate::config::Settings;
use crate::model::{JobInput, Platform, SaleEvent};
use crate::output::Progress;
use crate::platforms::{
    self, gumroad, CountingSink, EventSink, ParseSummary, PlatformError, SinkError,
};
use crate::queue::worker::{Handler, JobControl};
use crate::queue::{ClaimedJob, Effects, EventCounts, JobError, JobResult};
use crate::store::Store;
use crate::store::{ImportStaging, LocalBlob, StagingDone};

/// Events staged per transaction: large enough to be fast, small enough that other workers get
/// the write lock between chunks.
const STAGE_CHUNK: usize = 5_000;

/// Text staged per transaction at most, in bytes: a chunk of rows far wider than any report's
/// (a text report's row may be up to 1 MB) is cut short, so that the two chunks in memory stay
/// a few MB whatever the rows. A D2D chunk of 5,000 rows holds about 1.6 MB.
const STAGE_CHUNK_BYTES: usize = 4 << 20;

/// The text an event holds, as counted against `STAGE_CHUNK_BYTES`.
fn text_bytes(e: &SaleEvent) -> usize {
    e.raw.len()
        + e.title.len()
        + e.product_id.len()
        + e.family.len()
        + e.source.len()
        + e.marketplace.len()
        + e.retailer.len()
        + e.country.len()
        + e.currency.len()
        + e.status.len()
        + e.natural_key.as_ref().map_or(0, String::len)
}

/// A file checked and copied into the inbox, ready to enqueue.
#[derive(Debug, Clone)]
pub struct CheckedFile {
    pub input: JobInput,
    pub sha256: String,
    pub summary: ParseSummary,
    pub events: u64,
}

/// Why enqueueing a file failed: the input itself (exit 5), or the environment (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{0}")]
    Rejected(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// SHA-256 of a file, streamed.
///
/// # Errors
/// I/O errors.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut f = File::open(path)?;
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

/// Check a report file at enqueue time (exists, readable, a valid report of `platform`, read in
/// full without storing anything) and keep its content in the store's blob store under its
/// hash, where every worker can read it.
///
/// # Errors
/// `Rejected` for unreadable or invalid files (exit 5), `Other` for blob store errors.
pub fn check_file(
    store: &dyn Store,
    platform: Platform,
    path: &Path,
) -> Result<CheckedFile, CheckError> {
    check_file_unless(store, platform, path, &|_| false)
}

/// As `check_file`, but when `already_imported(sha256)` says this content was imported
/// before, skip the parse (re-enqueueing yesterday's 200 MB download must not cost a full
/// parse just to say "already imported").
///
/// # Errors
/// As `check_file`.
pub fn check_file_unless(
    store: &dyn Store,
    platform: Platform,
    path: &Path,
    already_imported: &dyn Fn(&str) -> bool,
) -> Result<CheckedFile, CheckError> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path)
        .map_err(|e| CheckError::Rejected(format!("cannot read `{shown}`: {e}")))?;
    if !meta.is_file() {
        return Err(CheckError::Rejected(format!("`{shown}` is not a file")));
    }
    let sha256 = sha256_file(path)
        .map_err(|e| CheckError::Rejected(format!("cannot read `{shown}`: {e}")))?;
    if already_imported(&sha256) {
        return Ok(CheckedFile {
            input: JobInput::File {
                file: shown,
                sha256: sha256.clone(),
                size: meta.len(),
            },
            sha256,
            summary: ParseSummary::default(),
            events: 0,
        });
    }
    let mut counter = CountingSink::default();
    let summary =
        platforms::parse_file(platform, path, &shown, &mut counter).map_err(|e| match e {
            PlatformError::Rejected(ie) => CheckError::Rejected(format!("{ie}")),
            other => CheckError::Rejected(format!("cannot read `{shown}`: {other}")),
        })?;
    store.put_blob_file(&sha256, path)?;
    Ok(CheckedFile {
        input: JobInput::File {
            file: shown,
            sha256: sha256.clone(),
            size: meta.len(),
        },
        sha256,
        summary,
        events: counter.events,
    })
}

/// The job handler `run-worker` uses.
pub struct IngestHandler<'a> {
    pub db: &'a dyn Store,
    pub settings: &'a Settings,
    /// Draw progress bars (only on a terminal, never with `--json`/`--quiet`).
    pub progress: bool,
}

impl Handler for IngestHandler<'_> {
    fn handle(
        &mut self,
        job: &ClaimedJob,
        ctl: &JobControl,
    ) -> Result<(JobResult, Effects), JobError> {
        let input: JobInput = serde_json::from_str(&job.input).map_err(|e| {
            JobError::Permanent(format!("job {} has an unreadable payload: {e}", job.id))
        })?;
        let platform = Platform::parse(&job.platform).ok_or_else(|| {
            JobError::Permanent(format!(
                "job {} names an unknown platform `{}`",
                job.id, job.platform
            ))
        })?;
        match input {
            JobInput::File { file, sha256, size } => {
                self.import_file(job, ctl, platform, &file, &sha256, size)
            }
            JobInput::Sync { since, until } => self.sync_gumroad(job, ctl, since, until),
            JobInput::Ping { file, sha256 } => self.ingest_ping(job, &file, &sha256),
        }
    }
}

impl IngestHandler<'_> {
    /// The job's input from the blob store; a missing one fails the job for good (it will not
    /// come back by retrying), a store error is worth a retry.
    fn kept_input(&self, sha256: &str, file: &str, what: &str) -> Result<LocalBlob, JobError> {
        match self.db.fetch_blob(sha256) {
            Ok(Some(blob)) => Ok(blob),
            Ok(None) => Err(JobError::Permanent(format!(
                "the kept copy `{}` of `{file}` is missing: enqueue the {what} again",
                self.db.blob_location(sha256)
            ))),
            Err(e) => Err(JobError::Transient(format!(
                "cannot read the kept copy of `{file}`: {e:#}"
            ))),
        }
    }

    fn import_file(
        &self,
        job: &ClaimedJob,
        ctl: &JobControl,
        platform: Platform,
        file: &str,
        sha256: &str,
        size: u64,
    ) -> Result<(JobResult, Effects), JobError> {
        let blob = self.kept_input(sha256, file, "file")?;
        let stored = blob.path();
        let mut import = self
            .db
            .begin_import(&job.lease, platform.as_str(), file, sha256);
        let progress = if self.progress {
            Progress::bytes(size, &format!("job {} {file}", job.id))
        } else {
            Progress::hidden()
        };
        let parsed = stage_parsed(import.as_mut(), ctl, &progress, |sink| {
            platforms::parse_file(platform, stored, file, sink)
        });
        progress.finish();
        match (parsed, import.import_id()) {
            (Ok(summary), Some(import_id)) => {
                let result = JobResult {
                    events: EventCounts {
                        inserted: import.staged(),
                        updated: 0,
                        removed: 0,
                    },
                    layout: Some(summary.layout),
                    rows: summary.rows,
                    warnings: summary.warnings,
                };
                Ok((
                    result,
                    Effects {
                        import_id: Some(import_id),
                    },
                ))
            }
            (Ok(_), None) => Err(JobError::Transient(
                "the import was not recorded (database error?)".to_string(),
            )),
            (Err(e), id) => {
                // Best effort: the store also discards staging when the failure is recorded.
                if let Some(id) = id {
                    let _ = self.db.discard_import(id);
                }
                Err(ctl.should_stop().unwrap_or_else(|| classify(e)))
            }
        }
    }
}

impl IngestHandler<'_> {
    fn sync_gumroad(
        &self,
        job: &ClaimedJob,
        ctl: &JobControl,
        since: Option<NaiveDate>,
        until: Option<NaiveDate>,
    ) -> Result<(JobResult, Effects), JobError> {
        let g = &self.settings.gumroad;
        let token = g.access_token.as_ref().ok_or_else(|| {
            JobError::Permanent(
                "no Gumroad access token: create one under Gumroad Settings → Advanced → Applications, \
                 then set GUMROAD_ACCESS_TOKEN or `[gumroad] access_token` in the config file (chmod 600)"
                    .to_string(),
            )
        })?;
        let db_err = |e: anyhow::Error| JobError::Transient(format!("database error: {e:#}"));
        let cursor = self.db.sync_cursor("gumroad").map_err(db_err)?;
        let today = chrono::Utc::now().date_naive();
        let windows =
            gumroad::plan_windows(since, until, cursor, today, g.trailing_days, g.first_sync);
        let client = gumroad::Client::new(g.api_url.clone(), token.expose());
        let progress = if self.progress {
            Progress::spinner(&format!("job {} gumroad sync", job.id))
        } else {
            Progress::hidden()
        };
        let mut sink = GumroadSink {
            db: self.db,
            job_id: job.id,
            ctl,
            // Only a sync that starts from the cursor (or the first sync) is contiguous, so
            // only it may move the cursor: an old --since window must not skip history.
            store_cursor: since.is_none(),
            counts: EventCounts::default(),
            progress,
        };
        let res = gumroad::sync(&client, &windows, &mut sink);
        sink.progress.finish();
        let summary = res.map_err(|e| ctl.should_stop().unwrap_or_else(|| classify(e)))?;
        Ok((
            JobResult {
                events: sink.counts,
                layout: Some(format!(
                    "Gumroad API v2 sales: {} window(s), {} page(s)",
                    summary.windows, summary.pages
                )),
                rows: summary.sales,
                warnings: summary.warnings,
            },
            Effects::default(),
        ))
    }

    fn ingest_ping(
        &self,
        job: &ClaimedJob,
        file: &str,
        sha256: &str,
    ) -> Result<(JobResult, Effects), JobError> {
        let blob = self.kept_input(sha256, file, "Ping")?;
        let body = std::fs::read(blob.path()).map_err(|e| {
            JobError::Transient(format!("cannot read `{}`: {e}", blob.path().display()))
        })?;
        let ping = gumroad::parse_ping(&body, file).map_err(classify)?;
        // A test purchase is never stored: the job completes with the warning naming it.
        let (inserted, updated) = match &ping.event {
            Some(event) => self
                .db
                .upsert_events("gumroad", job.id, std::slice::from_ref(event), None)
                .map_err(|e| JobError::Transient(format!("database error: {e:#}")))?,
            None => (0, 0),
        };
        Ok((
            JobResult {
                events: EventCounts {
                    inserted,
                    updated,
                    removed: 0,
                },
                layout: Some("Gumroad Ping".to_string()),
                rows: 1,
                warnings: ping.warnings,
            },
            Effects::default(),
        ))
    }
}

struct GumroadSink<'a> {
    db: &'a dyn Store,
    job_id: i64,
    ctl: &'a JobControl,
    store_cursor: bool,
    counts: EventCounts,
    progress: Progress,
}

impl gumroad::PageSink for GumroadSink<'_> {
    fn page(
        &mut self,
        events: Vec<SaleEvent>,
        window_done: Option<NaiveDate>,
    ) -> Result<(), SinkError> {
        if let Some(stop) = self.ctl.should_stop() {
            return Err(SinkError(anyhow::anyhow!("{}", stop.message())));
        }
        let cursor = window_done.filter(|_| self.store_cursor);
        let (inserted, updated) = self
            .db
            .upsert_events("gumroad", self.job_id, &events, cursor)
            .map_err(SinkError)?;
        self.counts.inserted += inserted;
        self.counts.updated += updated;
        Ok(())
    }

    fn progress(&mut self, pages: u64, sales: u64) {
        self.progress
            .message(format!("gumroad sync: {pages} page(s), {sales} sale(s)"));
    }
}

/// Map an adapter error to the queue's classification.
pub fn classify(e: PlatformError) -> JobError {
    match e {
        PlatformError::Rejected(ie) => JobError::Permanent(format!(
            "input rejected: {ie}; fix or re-download the report, then enqueue it again"
        )),
        PlatformError::Permanent(m) => JobError::Permanent(m),
        PlatformError::Transient(m) => JobError::Transient(m),
        PlatformError::RateLimited {
            retry_after,
            message,
        } => JobError::RateLimited {
            after_ms: i64::try_from(retry_after.as_millis()).unwrap_or(i64::MAX),
            message,
        },
        PlatformError::Sink(e) => JobError::Transient(format!("{e}")),
    }
}

/// What the parser thread hands to the staging thread.
enum Parsed {
    /// A full chunk of events.
    Chunk(Vec<SaleEvent>),
    /// The last events and the parse's summary: the file parsed to its end.
    Done(Vec<SaleEvent>, ParseSummary),
}

/// Parse on one thread and stage on this one, so that a big file's parsing (CSV, decimals,
/// the raw row) overlaps its writing instead of adding to it. Chunks of `STAGE_CHUNK` events
/// (or `STAGE_CHUNK_BYTES` of text, whichever comes first) are handed over without a queue (a
/// rendezvous channel): at most two chunks are in memory, the one being staged and the next,
/// parsed and waiting. Parsing is the faster side, so a queue would only hold more memory. The
/// last chunk is staged with the summary, which makes the import complete.
///
/// When staging fails (database error, lost lease, the worker told to stop) the channel is
/// closed, the parser's next send fails and it stops; the staging error is the one returned.
fn stage_parsed<F>(
    import: &mut dyn ImportStaging,
    ctl: &JobControl,
    progress: &Progress,
    parse: F,
) -> Result<ParseSummary, PlatformError>
where
    F: FnOnce(&mut dyn EventSink) -> Result<ParseSummary, PlatformError> + Send,
{
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Parsed>(0);
        let parser = scope.spawn(move || {
            let mut sink = ChannelSink {
                tx,
                buf: Vec::with_capacity(STAGE_CHUNK),
                buf_bytes: 0,
                progress,
            };
            let summary = parse(&mut sink)?;
            let last = std::mem::take(&mut sink.buf);
            // A closed channel means staging failed; its error is reported instead.
            let _ = sink.tx.send(Parsed::Done(last, summary.clone()));
            Ok(summary)
        });
        let mut staged: Result<bool, SinkError> = Ok(false);
        while let Ok(msg) = rx.recv() {
            let (events, done) = match &msg {
                Parsed::Chunk(events) => (events, None),
                Parsed::Done(events, summary) => (
                    events,
                    Some(StagingDone {
                        layout: &summary.layout,
                        rows: summary.rows,
                    }),
                ),
            };
            let finished = done.is_some();
            let step = match ctl.should_stop() {
                Some(stop) => Err(anyhow::anyhow!("{}", stop.message())),
                None => import.stage(events, done),
            };
            if let Err(e) = step {
                staged = Err(SinkError(e));
                break;
            }
            staged = Ok(finished);
        }
        drop(rx);
        let parsed: Result<ParseSummary, PlatformError> = parser
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        match (staged, parsed) {
            (Err(e), _) => Err(PlatformError::from(e)),
            (Ok(_), Err(e)) => Err(e),
            (Ok(true), Ok(summary)) => Ok(summary),
            (Ok(false), Ok(_)) => Err(PlatformError::from(SinkError(anyhow::anyhow!(
                "the parser finished without handing over its last events"
            )))),
        }
    })
}

/// The parser thread's sink: events in chunks to the staging thread.
struct ChannelSink<'a> {
    tx: std::sync::mpsc::SyncSender<Parsed>,
    buf: Vec<SaleEvent>,
    /// `text_bytes` of the events in `buf`.
    buf_bytes: usize,
    progress: &'a Progress,
}

impl EventSink for ChannelSink<'_> {
    fn event(&mut self, event: SaleEvent) -> Result<(), SinkError> {
        self.buf_bytes += text_bytes(&event);
        self.buf.push(event);
        if self.buf.len() >= STAGE_CHUNK || self.buf_bytes >= STAGE_CHUNK_BYTES {
            self.buf_bytes = 0;
            let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(STAGE_CHUNK));
            self.tx.send(Parsed::Chunk(chunk)).map_err(|_| {
                SinkError(anyhow::anyhow!(
                    "staging stopped before the file was parsed"
                ))
            })?;
        }
        Ok(())
    }

    fn progress(&mut self, bytes_read: u64) {
        self.progress.set(bytes_read);
    }
}

// ----- enqueueing, shared by `enqueue`, `import`, the inbox scan and schedules -----

/// How to enqueue: the knobs `enqueue` exposes as flags.
#[derive(Debug, Clone, Copy)]
pub struct EnqueueOptions {
    pub priority: i64,
    /// `None`: due now (the store's clock).
    pub run_at: Option<crate::queue::Millis>,
    pub max_attempts: i64,
    /// Import a file again even if the same content was already imported.
    pub force: bool,
}

impl EnqueueOptions {
    /// The defaults for unattended enqueues: due now, the configured attempts.
    pub fn defaults(settings: &Settings) -> Self {
        EnqueueOptions {
            priority: 0,
            run_at: None,
            max_attempts: settings.queue.max_attempts,
            force: false,
        }
    }
}

/// What enqueueing a checked file did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileEnqueue {
    /// A new job, or the pending job for the same content (`deduplicated`).
    Queued(crate::queue::Enqueued),
    /// The same content was already imported by this job (and `force` was off).
    AlreadyImported {
        job_id: Option<i64>,
        finished_at: Option<crate::queue::Millis>,
    },
}

/// Enqueue a checked file: unique by content hash, skipped when that content is already live
/// unless `opts.force`.
///
/// # Errors
/// Database errors.
pub fn enqueue_checked(
    db: &dyn Store,
    platform: Platform,
    checked: &CheckedFile,
    opts: &EnqueueOptions,
) -> Result<FileEnqueue> {
    use crate::queue::NewJob;
    if !opts.force {
        if let Some(prior) = db
            .live_import_by_sha(&checked.sha256)?
            .filter(|p| p.platform == platform.as_str())
        {
            return Ok(FileEnqueue::AlreadyImported {
                job_id: prior.job_id,
                finished_at: prior.finished_at,
            });
        }
    }
    let job = NewJob {
        platform: platform.as_str().to_string(),
        input: serde_json::to_string(&checked.input)?,
        priority: opts.priority,
        run_at: opts.run_at,
        max_attempts: opts.max_attempts,
        unique_key: Some(checked.sha256.clone()),
    };
    Ok(FileEnqueue::Queued(db.enqueue(&job)?))
}

/// The job for an API sync (`enqueue gumroad` and `[[schedule]]`): a window, or incremental
/// from the stored cursor when both bounds are `None`. Unique key `sync:incremental` (or
/// `sync:<since>:<until>`), so a second pending incremental sync is never queued.
///
/// # Errors
/// JSON encoding errors.
pub fn sync_job(
    platform: Platform,
    since: Option<NaiveDate>,
    until: Option<NaiveDate>,
    opts: &EnqueueOptions,
) -> Result<(crate::queue::NewJob, JobInput)> {
    let key = match (since, until) {
        (None, None) => "sync:incremental".to_string(),
        (s, u) => format!(
            "sync:{}:{}",
            s.map(|d| d.to_string()).unwrap_or_default(),
            u.map(|d| d.to_string()).unwrap_or_default()
        ),
    };
    let input = JobInput::Sync { since, until };
    Ok((
        crate::queue::NewJob {
            platform: platform.as_str().to_string(),
            input: serde_json::to_string(&input)?,
            priority: opts.priority,
            run_at: opts.run_at,
            max_attempts: opts.max_attempts,
            unique_key: Some(key),
        },
        input,
    ))
}

/// A schedule that fired in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    pub name: String,
    pub platform: Platform,
    pub job_id: i64,
    /// The sync was already pending (queued, retrying or running).
    pub deduplicated: bool,
}

/// Enqueue the incremental sync of every due `[[schedule]]`, each due-check and enqueue in one
/// write transaction so overlapping workers fire a schedule exactly once.
///
/// # Errors
/// Database errors.
pub fn fire_schedules(db: &dyn Store, settings: &Settings) -> Result<Vec<Fired>> {
    let mut fired = Vec::new();
    for s in &settings.schedules {
        let opts = EnqueueOptions::defaults(settings);
        let (job, _) = sync_job(s.platform, None, None, &opts)?;
        if let Some(e) = db.fire_schedule(&s.name, s.every_ms, &job)? {
            fired.push(Fired {
                name: s.name.clone(),
                platform: s.platform,
                job_id: e.id,
                deduplicated: e.deduplicated,
            });
        }
    }
    Ok(fired)
}

/// Why a file could not be enqueued without naming its platform.
#[derive(Debug, thiserror::Error)]
pub enum DetectFailure {
    /// No known layout; `header` is what was found.
    #[error("{message}")]
    Unknown { header: String, message: String },
    /// `platform`'s layout, but the file is malformed.
    #[error("{message}")]
    Rejected { platform: Platform, message: String },
    /// Reading the file or writing the inbox copy failed.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Recognise a report file by content (`platforms::detect`), then check it and copy it into the
/// inbox exactly as `enqueue <platform> --file` does.
///
/// # Errors
/// `DetectFailure` as above.
pub fn check_detected(
    store: &dyn Store,
    path: &Path,
) -> Result<(platforms::Detected, CheckedFile), DetectFailure> {
    let shown = path.display().to_string();
    let detected = platforms::detect(path, &shown).map_err(|e| match e {
        platforms::DetectError::Unknown { header, error } => DetectFailure::Unknown {
            header,
            message: error.to_string(),
        },
        platforms::DetectError::Invalid { platform, error } => DetectFailure::Rejected {
            platform,
            message: error.to_string(),
        },
        platforms::DetectError::Io(e) => DetectFailure::Other(anyhow::anyhow!("{e}")),
    })?;
    // `detect` has read the whole file as its platform's report: only the hash and the kept
    // copy remain (parsing it a second time would double the cost of `import`).
    let io = |e: io::Error| DetectFailure::Rejected {
        platform: detected.platform,
        message: format!("cannot read `{shown}`: {e}"),
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    let sha256 = sha256_file(path).map_err(io)?;
    store
        .put_blob_file(&sha256, path)
        .map_err(DetectFailure::Other)?;
    let checked = CheckedFile {
        input: JobInput::File {
            file: shown,
            sha256: sha256.clone(),
            size,
        },
        sha256,
        summary: detected.summary.clone(),
        events: detected.events,
    };
    Ok((detected, checked))
}

/// What happened to one file found in the inbox folder (or named to `import`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOutcome {
    pub path: PathBuf,
    pub sha256: Option<String>,
    pub platform: Option<Platform>,
    pub layout: Option<String>,
    pub period: Option<(NaiveDate, NaiveDate)>,
    pub rows: u64,
    pub status: FileStatus,
    pub job_id: Option<i64>,
    /// Why it was not enqueued (unknown layout with its header, or the adapter's error).
    pub message: Option<String>,
    pub warnings: Vec<String>,
}

/// The fate of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    /// A new job.
    Queued,
    /// The same content is already pending.
    Deduplicated,
    /// The same content was already imported.
    AlreadyImported,
    /// A known layout with an error: left for the user.
    Rejected,
    /// No known layout: left for the user.
    Unknown,
}

impl FileStatus {
    /// The word shown to users and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            FileStatus::Queued => "queued",
            FileStatus::Deduplicated => "deduplicated",
            FileStatus::AlreadyImported => "already_imported",
            FileStatus::Rejected => "rejected",
            FileStatus::Unknown => "unknown",
        }
    }

    /// True when nothing was enqueued and the user must act.
    pub fn needs_attention(self) -> bool {
        matches!(self, FileStatus::Rejected | FileStatus::Unknown)
    }
}

/// Detect, check and enqueue one file (no inbox bookkeeping): `import` and the inbox scan.
///
/// # Errors
/// I/O errors reading the file or writing the inbox copy; database errors.
pub fn import_file(db: &dyn Store, path: &Path, opts: &EnqueueOptions) -> Result<FileOutcome> {
    let mut out = FileOutcome {
        path: path.to_path_buf(),
        sha256: None,
        platform: None,
        layout: None,
        period: None,
        rows: 0,
        status: FileStatus::Unknown,
        job_id: None,
        message: None,
        warnings: Vec::new(),
    };
    match check_detected(db, path) {
        Ok((detected, checked)) => {
            out.sha256 = Some(checked.sha256.clone());
            out.platform = Some(detected.platform);
            out.layout = Some(detected.summary.layout.clone());
            out.period = detected.period;
            out.rows = detected.summary.rows;
            out.warnings.clone_from(&detected.summary.warnings);
            match enqueue_checked(db, detected.platform, &checked, opts)? {
                FileEnqueue::Queued(e) => {
                    out.job_id = Some(e.id);
                    out.status = if e.deduplicated {
                        FileStatus::Deduplicated
                    } else {
                        FileStatus::Queued
                    };
                }
                FileEnqueue::AlreadyImported { job_id, .. } => {
                    out.job_id = job_id;
                    out.status = FileStatus::AlreadyImported;
                }
            }
        }
        Err(DetectFailure::Unknown { message, .. }) => {
            out.status = FileStatus::Unknown;
            out.message = Some(message);
        }
        Err(DetectFailure::Rejected { platform, message }) => {
            out.platform = Some(platform);
            out.status = FileStatus::Rejected;
            out.message = Some(message);
        }
        Err(DetectFailure::Other(e)) => return Err(e),
    }
    Ok(out)
}

/// Names that are never report files: hidden files and downloads still in progress.
fn skip_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    name.starts_with('.')
        || name.starts_with('~')
        || [".part", ".crdownload", ".download", ".tmp", ".partial"]
            .iter()
            .any(|s| lower.ends_with(s))
}

/// The files under `paths` (files as given; folders walked, up to 4 levels, hidden entries and
/// partial downloads skipped), sorted.
///
/// # Errors
/// A path that does not exist or a folder that cannot be read.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    fn walk(dir: &Path, depth: u32, out: &mut Vec<PathBuf>) -> Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read the folder `{}`", dir.display()))?
            .filter_map(std::result::Result::ok)
            .collect();
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            if skip_name(&name) {
                continue;
            }
            let p = e.path();
            let meta = std::fs::metadata(&p);
            match meta {
                Ok(m) if m.is_dir() && depth < 4 => walk(&p, depth + 1, out)?,
                Ok(m) if m.is_file() => out.push(p),
                _ => {}
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        let meta =
            std::fs::metadata(p).with_context(|| format!("cannot read `{}`", p.display()))?;
        if meta.is_dir() {
            walk(p, 0, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Scan the inbox folder: every file whose content was not seen before is recognised, checked
/// and enqueued once per content hash; a file of no known layout (or a broken one) is recorded,
/// reported once, and left where it is. Files already seen are not parsed again until their
/// content changes. Overlapping workers claim each hash in the store, so one file is handled
/// by one worker.
///
/// Returns the files handled in this scan and warnings (unreadable files, a missing folder).
///
/// # Errors
/// Database errors.
pub fn scan_inbox(
    db: &dyn Store,
    settings: &Settings,
    dir: &Path,
) -> Result<(Vec<FileOutcome>, Vec<String>)> {
    let mut warnings = Vec::new();
    if !dir.is_dir() {
        warnings.push(format!(
            "the inbox folder `{}` does not exist or is not a folder: create it or fix `[inbox] path`",
            dir.display()
        ));
        return Ok((Vec::new(), warnings));
    }
    let files = match collect_files(&[dir.to_path_buf()]) {
        Ok(f) => f,
        Err(e) => {
            warnings.push(format!("{e:#}"));
            return Ok((Vec::new(), warnings));
        }
    };
    let mut outcomes = Vec::new();
    for path in files {
        let shown = path.display().to_string();
        let stat = std::fs::metadata(&path).ok().map(|m| {
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            (i64::try_from(m.len()).unwrap_or(i64::MAX), mtime)
        });
        if let Some((size, mtime)) = stat {
            if db.inbox_unchanged(&shown, size, mtime)? {
                continue;
            }
        }
        let sha = match sha256_file(&path) {
            Ok(s) => s,
            Err(e) => {
                warnings.push(format!("cannot read `{shown}`: {e}"));
                continue;
            }
        };
        if let Some(r) = db.inbox_file(&sha)? {
            if r.status != "checking" {
                // Seen before (maybe under another name or before a touch): remember this
                // path's size and time so it is not hashed again.
                if r.path == shown {
                    if let Some((size, mtime)) = stat {
                        db.inbox_stat(&sha, size, mtime)?;
                    }
                }
                continue;
            }
            if r.seen_at >= db.now()? - crate::store::INBOX_CLAIM_STALE_MS {
                continue;
            }
        }
        if !db.inbox_claim(&sha, &shown)? {
            continue;
        }
        let opts = EnqueueOptions::defaults(settings);
        let outcome = match import_file(db, &path, &opts) {
            Ok(o) => o,
            Err(e) => {
                db.inbox_forget(&sha)?;
                warnings.push(format!("{e:#}"));
                continue;
            }
        };
        let status = match outcome.status {
            FileStatus::Queued | FileStatus::Deduplicated => "enqueued",
            FileStatus::AlreadyImported => "already_imported",
            FileStatus::Rejected => "rejected",
            FileStatus::Unknown => "unknown",
        };
        let message = outcome.message.clone().or_else(|| outcome.layout.clone());
        db.inbox_record(
            &sha,
            &shown,
            outcome.platform.map(Platform::as_str),
            status,
            message.as_deref(),
            outcome.job_id,
        )?;
        if let Some((size, mtime)) = stat {
            db.inbox_stat(&sha, size, mtime)?;
        }
        outcomes.push(FileOutcome {
            sha256: Some(sha),
            ..outcome
        });
    }
    Ok((outcomes, warnings))
}

#[cfg(test)]
mod tests {
    #[allow(unused_imports)]
    use crate::store::{ReportStore as _, SalesStore as _, UpkeepStore as _};
    use std::io::Write as _;

    use super::{stage_parsed, STAGE_CHUNK};
    use crate::model::Platform;
    use crate::output::Progress;
    use crate::platforms::{self, PlatformError, SinkError};
    use crate::queue::worker::JobControl;
    use crate::queue::Lease;
    use crate::store::testutil::{claimed_lease, import_events, temp_db};
    use crate::store::ImportStaging;

    const HEADER: &str = "Start Date,End Date,Publisher,Title ID,Ebook ISBN,Title,Primary Author,Distributor,Vendor,Country,Units Sold,Units Returned,Net Unit Sales,Sales Model,Retailer,List Price Per Unit,Currency Code,Offer Price Per Unit,Royalty Percent,Sales Channel Fee/Taxes Per Unit,Extended Sales Channel Revenue,Sales Channel Share,D2D Share,Publisher Share,Publisher Share USD (estimated),Verified";

    fn row(day: u32) -> String {
        format!(
            "2025-03-{:02},2025-03-{:02},Lantern Lane Press,1203346,9781732461031,A Harbor in Winter,Jane Q. Writer,Kobo,Kobo,CA,1,0,1,Retail,Kobo,7.85,CAD,7.85,70,0.00,7.85,2.36,0.00,5.49,3.95,true",
            day % 28 + 1,
            day % 28 + 1
        )
    }

    /// A D2D report of `good` rows, then `bad` if given.
    fn report(dir: &std::path::Path, good: u32, bad: Option<&str>) -> std::path::PathBuf {
        let path = dir.join("report.csv");
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        writeln!(f, "{HEADER}").unwrap();
        for i in 0..good {
            writeln!(f, "{}", row(i)).unwrap();
        }
        if let Some(bad) = bad {
            writeln!(f, "{bad}").unwrap();
        }
        f.into_inner().unwrap();
        path
    }

    /// One event as the D2D adapter makes it from `row(0)`.
    fn one_event() -> crate::model::SaleEvent {
        struct Keep(Option<crate::model::SaleEvent>);
        impl platforms::EventSink for Keep {
            fn event(&mut self, e: crate::model::SaleEvent) -> Result<(), SinkError> {
                self.0 = Some(e);
                Ok(())
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = report(dir.path(), 1, None);
        let mut keep = Keep(None);
        platforms::parse_file(Platform::Draft2digital, &path, "report.csv", &mut keep).unwrap();
        keep.0.expect("one event")
    }

    /// Stage the D2D report at `path` through `stage_parsed`, as a claimed job's import.
    fn stage_report<'a>(
        db: &'a crate::store::sqlite::Db,
        path: &std::path::Path,
    ) -> (
        Box<dyn ImportStaging + 'a>,
        Result<platforms::ParseSummary, PlatformError>,
    ) {
        let lease = claimed_lease(db, "draft2digital");
        let mut import = db.begin_import(&lease, "draft2digital", "report.csv", "abc");
        let parsed = stage_parsed(
            import.as_mut(),
            &JobControl::default(),
            &Progress::hidden(),
            |sink| platforms::parse_file(Platform::Draft2digital, path, "report.csv", sink),
        );
        (import, parsed)
    }

    /// A bad row after whole chunks were staged fails the import with the parser's error (what
    /// and where), after the chunks before it were staged by the other thread.
    #[test]
    fn a_bad_row_after_staged_chunks_fails_with_the_parse_error() {
        let (dir, db) = temp_db();
        let good = 2 * STAGE_CHUNK as u32 + 7;
        let bad = row(1).replacen("2025-03-02", "2025-13-45", 1);
        let path = report(dir.path(), good, Some(&bad));
        let (import, parsed) = stage_report(&db, &path);
        let err = parsed.unwrap_err();
        let PlatformError::Rejected(e) = &err else {
            panic!("expected the parse error, got {err:?}");
        };
        let line = good as usize + 2;
        assert!(
            format!("{e}").contains(&format!("line {line}")),
            "the error names the line: {e}"
        );
        assert_eq!(
            import.staged(),
            2 * STAGE_CHUNK as u64,
            "two chunks were staged"
        );
    }

    /// The whole file is staged, the last chunk with the summary, and nothing is lost between
    /// the threads.
    #[test]
    fn every_event_is_staged_once_with_the_summary() {
        let (dir, db) = temp_db();
        let good = 2 * STAGE_CHUNK as u32 + 7;
        let path = report(dir.path(), good, None);
        let (import, parsed) = stage_report(&db, &path);
        let summary = parsed.unwrap();
        assert_eq!(summary.rows, u64::from(good));
        assert_eq!(import.staged(), u64::from(good));
        let staged = import_events(&db, import.import_id().unwrap());
        assert_eq!(staged, i64::from(good));
    }

    /// Rows far wider than a report's are staged in chunks cut by their text, not by count: the
    /// chunks in memory stay a few MB.
    #[test]
    fn wide_rows_are_chunked_by_their_text() {
        let (tx, rx) = std::sync::mpsc::sync_channel(100);
        let progress = Progress::hidden();
        let mut sink = super::ChannelSink {
            tx,
            buf: Vec::new(),
            buf_bytes: 0,
            progress: &progress,
        };
        let one = one_event();
        let mut wide = one.clone();
        wide.title = "w".repeat(1 << 20);
        for _ in 0..10 {
            platforms::EventSink::event(&mut sink, wide.clone()).unwrap();
        }
        let Ok(super::Parsed::Chunk(first)) = rx.try_recv() else {
            panic!("a chunk is handed over before 5,000 events");
        };
        assert_eq!(first.len(), super::STAGE_CHUNK_BYTES >> 20);
        assert!(rx.try_recv().is_ok(), "and the next one");
        assert_eq!(sink.buf.len(), 2);
        // Ordinary rows go by count.
        for _ in 0..STAGE_CHUNK {
            platforms::EventSink::event(&mut sink, one.clone()).unwrap();
        }
        let Ok(super::Parsed::Chunk(third)) = rx.try_recv() else {
            panic!("a chunk of ordinary rows");
        };
        assert_eq!(third.len(), STAGE_CHUNK);
    }

    /// When staging fails (here: the job's lease is not held), its error is returned and the
    /// parser stops at its next chunk instead of reading the rest of the file.
    #[test]
    fn a_staging_error_stops_the_parser() {
        let (_dir, db) = temp_db();
        let one = one_event();
        let lease = Lease {
            job_id: 999,
            owner: "nobody:1:1".into(),
            claim: 1,
        };
        let mut import = db.begin_import(&lease, "draft2digital", "report.csv", "abc");
        let sent = std::sync::atomic::AtomicUsize::new(0);
        let err = stage_parsed(
            import.as_mut(),
            &JobControl::default(),
            &Progress::hidden(),
            |sink| {
                for _ in 0..100 * STAGE_CHUNK {
                    sink.event(one.clone())?;
                    sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Ok(platforms::ParseSummary::default())
            },
        )
        .unwrap_err();
        assert!(format!("{err}").contains("lease lost"), "{err}");
        let sent = sent.into_inner();
        assert!(
            sent < 4 * STAGE_CHUNK,
            "the parser stopped early ({sent} events)"
        );
        assert_eq!(import.staged(), 0);
    }
}
