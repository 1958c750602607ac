//! `salesingest backup FILE`: a consistent copy of the database, safe while workers run.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::json;

use super::{coded, Ctx};

/// Copy the database with SQLite's online backup API.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "The copy is one self-contained SQLite file (no -wal), owner-only \
(0600), checked with PRAGMA integrity_check. It is safe to run while run-worker writes. An \
existing FILE is never overwritten unless --force (the rule of every file salesingest writes), \
and FILE's folder must exist. On a terminal one line says what was written; under cron nothing \
(with -v, on stderr).

Restore: stop the timer or cron line, then copy FILE over the database (and delete its -wal and \
-shm files).

Example:
  salesingest backup ~/backups/salesingest-$(date +%F).db"
)]
pub struct Args {
    /// Where to write the copy
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Replace FILE if it exists
    #[arg(long)]
    pub force: bool,
}

/// Run `backup`.
///
/// # Errors
/// Exit 1 when FILE exists (without --force), or on database and I/O errors.
pub fn run(args: &Args, ctx: &Ctx) -> Result<i32> {
    let dest = if args.file.is_absolute() {
        args.file.clone()
    } else {
        std::env::current_dir()
            .context("cannot read the current directory")?
            .join(&args.file)
    };
    if ctx.settings.db.sqlite_path() == Some(dest.as_path()) {
        return Err(coded(2, "the backup file cannot be the database itself"));
    }
    // Checked as given, so that the message names the folder the user typed; the same rule
    // as every output file (`sales export -o`, `sales chart --svg`).
    if let Some(problem) = crate::output::output_file_problem(&args.file, args.force) {
        return Err(coded(1, problem));
    }
    let db = ctx.open_existing_db()?;
    let db = db.as_ref();
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "backup".into());
    let tmp = dest.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let pages = match db.backup_to(&tmp) {
        Ok(p) => p,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let placed = if args.force {
        std::fs::rename(&tmp, &dest)
    } else {
        // A hard link never replaces an existing file: no race with another backup.
        // (Filesystems without hard links: check, then rename.)
        match std::fs::hard_link(&tmp, &dest) {
            Ok(()) => std::fs::remove_file(&tmp),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(e),
            Err(_) if !dest.exists() => std::fs::rename(&tmp, &dest),
            Err(e) => Err(e),
        }
    };
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot create `{}`", dest.display()));
    }
    let bytes = std::fs::metadata(&dest).map(|m| m.len()).unwrap_or(0);
    let schema = db.schema_version()?;
    if ctx.out.json {
        ctx.out.json(&json!({
            "file": dest.display().to_string(),
            "bytes": bytes,
            "pages": pages,
            "schema_version": schema,
            "integrity": "ok",
        }));
    } else {
        ctx.out.done(&format!(
            "backed up {} to {} ({bytes} bytes, schema version {schema}, integrity ok)",
            ctx.settings.db,
            dest.display()
        ));
    }
    Ok(0)
}
