//! The job handler and enqueue-time checks: decode a job's input, run the platform adapter,
//! stage or upsert its events through the store.
//!
//! Owns: wiring adapters to the store, inbox copies, content hashes, error classification.
//! Must not: parse formats itself or write SQL.

use std::fs::File;
use std::io::{self, Read, Write};
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
use crate::queue::{now_ms, ClaimedJob, Effects, EventCounts, JobError, JobResult};
use crate::store::sales::StagedImport;
use crate::store::Db;

/// Events staged per transaction: large enough to be fast, small enough that other workers get
/// the write lock between chunks.
const STAGE_CHUNK: usize = 5_000;

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
/// full without storing anything) and copy it into the inbox under its hash.
///
/// # Errors
/// `Rejected` for unreadable or invalid files (exit 5), `Other` for inbox I/O errors.
pub fn check_file(
    settings: &Settings,
    platform: Platform,
    path: &Path,
) -> Result<CheckedFile, CheckError> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path)
        .map_err(|e| CheckError::Rejected(format!("cannot read `{shown}`: {e}")))?;
    if !meta.is_file() {
        return Err(CheckError::Rejected(format!("`{shown}` is not a file")));
    }
    let sha256 = sha256_file(path)
        .map_err(|e| CheckError::Rejected(format!("cannot read `{shown}`: {e}")))?;
    let mut counter = CountingSink::default();
    let summary =
        platforms::parse_file(platform, path, &shown, &mut counter).map_err(|e| match e {
            PlatformError::Rejected(ie) => CheckError::Rejected(format!("{ie}")),
            other => CheckError::Rejected(format!("cannot read `{shown}`: {other}")),
        })?;
    let stored = copy_to_inbox(&settings.inbox_dir, path, &sha256)?;
    Ok(CheckedFile {
        input: JobInput::File {
            file: shown,
            sha256: sha256.clone(),
            stored_path: stored.display().to_string(),
            size: meta.len(),
        },
        sha256,
        summary,
        events: counter.events,
    })
}

/// Copy `src` to `<inbox>/<sha256>` (atomically, owner-only), unless it is already there.
///
/// # Errors
/// I/O errors naming the paths.
pub fn copy_to_inbox(inbox: &Path, src: &Path, sha256: &str) -> Result<PathBuf> {
    let dest = inbox.join(sha256);
    if dest.exists() {
        return Ok(dest);
    }
    create_private_dir(inbox)?;
    let tmp = inbox.join(format!(".{sha256}.{}.tmp", std::process::id()));
    let copied = copy_file_synced(src, &tmp, inbox);
    if copied.is_err() {
        // A partial copy (disk full) must not keep holding the space it took.
        let _ = std::fs::remove_file(&tmp);
    }
    copied?;
    std::fs::rename(&tmp, &dest)
        .with_context(|| format!("cannot move `{}` into place", tmp.display()))?;
    Ok(dest)
}

fn copy_file_synced(src: &Path, tmp: &Path, inbox: &Path) -> Result<()> {
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut out = opts
            .open(tmp)
            .with_context(|| format!("cannot write into the inbox `{}`", inbox.display()))?;
        let mut input =
            File::open(src).with_context(|| format!("cannot read `{}`", src.display()))?;
        io::copy(&mut input, &mut out).with_context(|| {
            format!(
                "cannot copy `{}` into the inbox `{}` (is that disk full?)",
                src.display(),
                inbox.display()
            )
        })?;
        out.sync_all()
            .with_context(|| format!("cannot sync `{}`", tmp.display()))?;
    }
    Ok(())
}

/// Store raw bytes (a Ping body read from stdin) in the inbox under their hash.
///
/// # Errors
/// I/O errors naming the inbox.
pub fn store_bytes_in_inbox(inbox: &Path, bytes: &[u8]) -> Result<(String, PathBuf)> {
    let sha256 = hex::encode(Sha256::digest(bytes));
    let dest = inbox.join(&sha256);
    if !dest.exists() {
        create_private_dir(inbox)?;
        let tmp = inbox.join(format!(".{sha256}.{}.tmp", std::process::id()));
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut out = opts
            .open(&tmp)
            .with_context(|| format!("cannot write into the inbox `{}`", inbox.display()))?;
        out.write_all(bytes)?;
        out.sync_all()?;
        std::fs::rename(&tmp, &dest)?;
    }
    Ok((sha256, dest))
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
        .with_context(|| format!("cannot create the inbox `{}`", dir.display()))
}

/// The job handler `run-worker` uses.
pub struct IngestHandler<'a> {
    pub db: &'a Db,
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
            JobInput::File {
                file,
                sha256,
                stored_path,
                size,
            } => self.import_file(
                job,
                ctl,
                platform,
                &file,
                &sha256,
                Path::new(&stored_path),
                size,
            ),
            JobInput::Sync { since, until } => self.sync_gumroad(job, ctl, since, until),
            JobInput::Ping {
                file, stored_path, ..
            } => self.ingest_ping(job, &file, Path::new(&stored_path)),
        }
    }
}

impl IngestHandler<'_> {
    #[allow(clippy::too_many_arguments)]
    fn import_file(
        &self,
        job: &ClaimedJob,
        ctl: &JobControl,
        platform: Platform,
        file: &str,
        sha256: &str,
        stored: &Path,
        size: u64,
    ) -> Result<(JobResult, Effects), JobError> {
        if !stored.exists() {
            return Err(JobError::Permanent(format!(
                "the inbox copy `{}` of `{file}` is missing: enqueue the file again",
                stored.display()
            )));
        }
        let db_err = |e: anyhow::Error| JobError::Transient(format!("database error: {e:#}"));
        let import = self
            .db
            .begin_import(job.id, platform.as_str(), file, sha256, now_ms())
            .map_err(db_err)?;
        let progress = if self.progress {
            Progress::bytes(size, &format!("job {} {file}", job.id))
        } else {
            Progress::hidden()
        };
        let mut sink = StagingSink {
            db: self.db,
            job_id: job.id,
            import,
            buf: Vec::with_capacity(STAGE_CHUNK),
            ctl,
            progress,
        };
        let parsed = platforms::parse_file(platform, stored, file, &mut sink)
            .and_then(|summary| sink.flush().map(|()| summary).map_err(PlatformError::from));
        sink.progress.finish();
        let import = sink.import;
        match parsed {
            Ok(summary) => {
                self.db
                    .finish_staging(&import, &summary.layout, summary.rows)
                    .map_err(db_err)?;
                let result = JobResult {
                    events: EventCounts {
                        inserted: import.events,
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
                        import_id: Some(import.id),
                    },
                ))
            }
            Err(e) => {
                // Best effort: the store also discards staging when the failure is recorded.
                let _ = self.db.discard_import(import.id);
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
                warnings: Vec::new(),
            },
            Effects::default(),
        ))
    }

    fn ingest_ping(
        &self,
        job: &ClaimedJob,
        file: &str,
        stored: &Path,
    ) -> Result<(JobResult, Effects), JobError> {
        let body = std::fs::read(stored).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                JobError::Permanent(format!(
                    "the inbox copy `{}` of `{file}` is missing: enqueue the Ping again",
                    stored.display()
                ))
            } else {
                JobError::Transient(format!("cannot read `{}`: {e}", stored.display()))
            }
        })?;
        let event = gumroad::parse_ping(&body, file).map_err(classify)?;
        let (inserted, updated) = self
            .db
            .upsert_events("gumroad", job.id, &[event], None, now_ms())
            .map_err(|e| JobError::Transient(format!("database error: {e:#}")))?;
        Ok((
            JobResult {
                events: EventCounts {
                    inserted,
                    updated,
                    removed: 0,
                },
                layout: Some("Gumroad Ping".to_string()),
                rows: 1,
                warnings: Vec::new(),
            },
            Effects::default(),
        ))
    }
}

struct GumroadSink<'a> {
    db: &'a Db,
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
            .upsert_events("gumroad", self.job_id, &events, cursor, now_ms())
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

struct StagingSink<'a> {
    db: &'a Db,
    job_id: i64,
    import: StagedImport,
    buf: Vec<SaleEvent>,
    ctl: &'a JobControl,
    progress: Progress,
}

impl StagingSink<'_> {
    fn flush(&mut self) -> Result<(), SinkError> {
        if let Some(stop) = self.ctl.should_stop() {
            return Err(SinkError(anyhow::anyhow!("{}", stop.message())));
        }
        self.db
            .stage_events(&mut self.import, self.job_id, &self.buf, now_ms())
            .map_err(SinkError)?;
        self.buf.clear();
        Ok(())
    }
}

impl EventSink for StagingSink<'_> {
    fn event(&mut self, event: SaleEvent) -> Result<(), SinkError> {
        self.buf.push(event);
        if self.buf.len() >= STAGE_CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn progress(&mut self, bytes_read: u64) {
        self.progress.set(bytes_read);
    }
}
