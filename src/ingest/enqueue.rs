//! Enqueueing: checked files (unique by content hash, skipped when already imported), API syncs,
//! the due `[[schedule]]` entries, and files recognised by content (`import`, the inbox scan).

use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::NaiveDate;

use super::check::{check_detected, CheckedFile, DetectFailure};
use crate::config::Settings;
use crate::model::{JobInput, Platform};
use crate::store::Store;

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

/// A Gumroad Ping queued: the job, its input, what the store did, the parser's warnings.
#[derive(Debug)]
pub struct PingEnqueue {
    pub job: crate::queue::NewJob,
    pub input: JobInput,
    pub enqueued: crate::queue::Enqueued,
    pub warnings: Vec<String>,
}

/// Check one Gumroad Ping body, keep its scrubbed form (no buyer e-mail, name, card, custom
/// fields…) in the blob store, and queue its job, unique by the scrubbed body's hash (so a
/// second delivery of the same Ping is the same job): `enqueue gumroad --ping-file` and
/// `POST /hooks/gumroad/{secret}`. `name` is what the job records as the file. With
/// `api_fetch` (a Gumroad token is configured: the job stores the API's version of the sale)
/// a Ping without `gumroad_fee` is accepted; without it, it is rejected.
///
/// # Errors
/// `Rejected` with the parser's message for a body that is not a Ping; `Other` for store errors.
pub fn enqueue_ping(
    db: &dyn Store,
    name: &str,
    bytes: &[u8],
    opts: &EnqueueOptions,
    api_fetch: bool,
) -> Result<PingEnqueue, super::CheckError> {
    let parsed = crate::platforms::gumroad::parse_ping_opts(bytes, name, !api_fetch)
        .map_err(|e| super::CheckError::Rejected(e.to_string()))?;
    let sha256 = db.put_blob_bytes(&parsed.scrubbed)?;
    let input = JobInput::Ping {
        file: name.to_string(),
        sha256: sha256.clone(),
    };
    let job = crate::queue::NewJob {
        platform: Platform::Gumroad.as_str().to_string(),
        input: serde_json::to_string(&input).map_err(anyhow::Error::from)?,
        priority: opts.priority,
        run_at: opts.run_at,
        max_attempts: opts.max_attempts,
        unique_key: Some(format!("ping:{sha256}")),
    };
    let enqueued = db.enqueue(&job)?;
    Ok(PingEnqueue {
        job,
        input,
        enqueued,
        warnings: parsed.warnings,
    })
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
    import_file_as(db, path, None, opts)
}

/// As `import_file`, the job (and the messages) naming the file `name` instead of `path`: an
/// upload's client-side name, where `path` is a temporary copy gone once queued.
///
/// # Errors
/// As `import_file`.
pub fn import_file_as(
    db: &dyn Store,
    path: &Path,
    name: Option<&str>,
    opts: &EnqueueOptions,
) -> Result<FileOutcome> {
    let shown = path.display().to_string();
    let named = |m: String| match name {
        Some(n) => m.replace(&shown, n),
        None => m,
    };
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
        Ok((detected, mut checked)) => {
            if let (Some(n), crate::model::JobInput::File { file, .. }) = (name, &mut checked.input)
            {
                *file = n.to_string();
            }
            out.sha256 = Some(checked.sha256.clone());
            out.platform = Some(detected.platform);
            out.layout = Some(detected.summary.layout.clone());
            out.period = detected.period;
            out.rows = detected.summary.rows;
            out.warnings = detected.summary.warnings.into_iter().map(named).collect();
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
            out.message = Some(named(message));
        }
        Err(DetectFailure::Rejected { platform, message }) => {
            out.platform = Some(platform);
            out.status = FileStatus::Rejected;
            out.message = Some(named(message));
        }
        Err(DetectFailure::Other(e)) => return Err(e),
    }
    Ok(out)
}
