//! Files from folders (`import DIR`), and the inbox scan that `run-worker` does before claiming.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::check::sha256_file;
use super::enqueue::{import_file, EnqueueOptions, FileOutcome, FileStatus};
use crate::config::Settings;
use crate::model::Platform;
use crate::store::Store;

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
