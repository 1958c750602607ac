//! `salesingest import PATH...`: queue report files (or folders of them) without naming the
//! platform: each file is recognised by its content.

use std::path::PathBuf;

use anyhow::Result;

use super::{coded, Ctx, EXIT_REJECTED};
use crate::ingest::{self, EnqueueOptions, FileOutcome, FileStatus};
use crate::output::{new_table, num_cell, FileView, Fit};

/// Queue report files, recognising each file's platform, layout and period by its content.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Files are recognised by content (magic bytes, sheet names, headers), \
never by name. Folders are walked (hidden files and unfinished downloads are skipped). Good \
files are queued even when others are rejected or a path does not exist; the exit code is then \
5 and each file not queued is named with the reason. Jobs record each file's absolute path.

Examples:
  salesingest import ~/Downloads/KDP_Prior_Month_Royalties-2025-07.xlsx
  salesingest import ~/Downloads/sales-reports/"
)]
pub struct Args {
    /// Report files or folders
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,

    /// Import a file again even if the same content was already imported
    #[arg(long)]
    pub force: bool,

    /// Attempts before a job ends failed [default: 3, or queue.max_attempts in the config]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..=100))]
    pub max_attempts: Option<i64>,
}

/// Run `import`.
///
/// # Errors
/// Exit 5 when a path is missing or a file was not recognised or is malformed (the others are
/// still queued), 1 for I/O and database errors.
pub fn run(args: &Args, ctx: &Ctx) -> Result<i32> {
    // Each path on its own: a missing one is reported with the others' outcomes, and the good
    // files are queued all the same. Paths are made absolute so that jobs record where the
    // files were.
    let mut files = Vec::new();
    let mut missing = Vec::new();
    for p in &args.paths {
        let p = std::path::absolute(p).unwrap_or_else(|_| p.clone());
        match ingest::collect_files(std::slice::from_ref(&p)) {
            Ok(found) => files.extend(found),
            Err(e) => missing.push(unreadable(p, &e)),
        }
    }
    if files.is_empty() && missing.is_empty() {
        return Err(coded(EXIT_REJECTED, "no files found under the given paths"));
    }
    let db = ctx.open_db()?;
    let db = db.as_ref();
    let opts = EnqueueOptions {
        max_attempts: args.max_attempts.unwrap_or(ctx.settings.queue.max_attempts),
        force: args.force,
        ..EnqueueOptions::defaults(&ctx.settings)
    };
    let mut outcomes = Vec::with_capacity(files.len() + missing.len());
    for path in &files {
        let o = ingest::import_file(db, path, &opts)?;
        for w in &o.warnings {
            ctx.out.warn(w);
        }
        outcomes.push(o);
    }
    outcomes.extend(missing);
    let bad = outcomes
        .iter()
        .filter(|o| o.status.needs_attention())
        .count();
    if ctx.out.json {
        for o in &outcomes {
            ctx.out.json_line(&file_view(o));
        }
    } else {
        let mut t = new_table(&["file", "platform", "layout", "period", "status", "job"]);
        for o in &outcomes {
            let v = file_view(o);
            t.add_row(vec![
                v.file.into(),
                v.platform.unwrap_or_default().into(),
                v.layout.unwrap_or_default().into(),
                match (v.period_start, v.period_end) {
                    (Some(a), Some(b)) => format!("{a} ..\n{b}"),
                    _ => String::new(),
                }
                .into(),
                v.status.into(),
                v.job_id.map(num_cell).unwrap_or_else(|| num_cell("")),
            ]);
        }
        let fits = [
            Fit::Wrap(16),
            Fit::Whole,
            Fit::Wrap(12),
            Fit::Whole,
            Fit::Whole,
            Fit::Whole,
        ];
        ctx.out.fitted_table(t, &fits, &[2, 3]);
    }
    for o in outcomes.iter().filter(|o| o.status.needs_attention()) {
        ctx.out.alert(&describe(o, Source::Import));
    }
    if bad > 0 {
        let total = outcomes.len();
        let queued = total - bad;
        return Err(coded(
            EXIT_REJECTED,
            if total == 1 {
                "the file was not queued (see above)".to_string()
            } else if queued == 0 {
                format!("none of the {total} files was queued (see above)")
            } else {
                format!(
                    "{bad} of {total} files not queued (see above); {}",
                    if queued == 1 {
                        "the other one was queued".to_string()
                    } else {
                        format!("the other {queued} were queued")
                    }
                )
            },
        ));
    }
    Ok(0)
}

/// A path that could not be read (missing, unreadable folder): a rejected outcome naming it.
fn unreadable(path: PathBuf, e: &anyhow::Error) -> FileOutcome {
    FileOutcome {
        path,
        sha256: None,
        platform: None,
        layout: None,
        period: None,
        rows: 0,
        status: FileStatus::Rejected,
        job_id: None,
        message: Some(format!("{e:#}")),
        warnings: Vec::new(),
    }
}

/// The JSON view of one file's outcome.
pub(crate) fn file_view(o: &FileOutcome) -> FileView {
    ingest::views::file_view(o)
}

/// Which command handled a file, for the words of `describe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// `salesingest import`: a file not queued is simply not queued.
    Import,
    /// The `[inbox]` scan of `run-worker`: a file not queued stays in the folder.
    Inbox,
}

/// One line about one file's outcome.
pub(crate) fn describe(o: &FileOutcome, source: Source) -> String {
    let file = o.path.display();
    let period = o
        .period
        .map(|(a, b)| format!(", {a} .. {b}"))
        .unwrap_or_default();
    let what = match (&o.platform, &o.layout) {
        (Some(p), Some(l)) => format!("{p} ({l}{period})"),
        (Some(p), None) => p.to_string(),
        _ => String::new(),
    };
    let job = o.job_id.map(|j| format!(" job {j}")).unwrap_or_default();
    let left = match source {
        Source::Import => "not queued",
        Source::Inbox => "left in the inbox folder (read again once its content changes)",
    };
    // The messages name the file already.
    let message = o.message.as_deref().unwrap_or("");
    match o.status {
        ingest::FileStatus::Queued => format!("{file}: {what} queued as{job}"),
        ingest::FileStatus::Deduplicated => format!("{file}: {what} already queued as{job}"),
        ingest::FileStatus::AlreadyImported => {
            format!("{file}: {what} already imported by{job}")
        }
        ingest::FileStatus::Rejected if o.platform.is_some() => {
            format!("{what} report rejected, {left}: {message}")
        }
        ingest::FileStatus::Rejected | ingest::FileStatus::Unknown => {
            format!("{left}: {message}")
        }
    }
}
