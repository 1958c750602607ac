//! Checking a report file at enqueue time, named by platform or recognised by its content, and
//! keeping its content in the store's blob store under its hash.

use std::io;
use std::path::Path;

use crate::model::{JobInput, Platform};
use crate::platforms::{self, CountingSink, ParseSummary, PlatformError};
use crate::store::Store;

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

pub use crate::store::sha256_file;

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
