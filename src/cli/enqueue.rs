//! `salesingest enqueue <PLATFORM>`: check and queue report files, or queue an API sync.

use std::path::PathBuf;

use anyhow::Result;
use chrono::NaiveDate;

use super::{coded, Ctx, EXIT_REJECTED};
use crate::ingest::{self, CheckError};
use crate::model::{JobInput, Platform};
use crate::output::{new_table, num_cell, rfc3339, EnqueueView, Fit};

/// Queue an import.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "A Gumroad sync needs a token (GUMROAD_ACCESS_TOKEN or [gumroad] \
access_token): without one it is refused here (exit 5), unless --run-at is later than now (the \
token must then be there when it runs). --ping-file needs no token.

Examples:
  salesingest enqueue d2d --file ~/Downloads/sales_2025-07.csv
  salesingest enqueue kdp --file KDP_Prior_Month_Royalties-2025-07.xlsx
  salesingest enqueue kobo --file sales_invoice_PUB_2025-07.xlsx
  salesingest enqueue google_play --file GoogleEarnings_2025-07.csv
  salesingest enqueue gumroad                      # incremental sync from the stored cursor
  salesingest enqueue gumroad --file Sales.csv     # the dashboard's Sales CSV export
  salesingest enqueue gumroad --since 2025-01-01 --until 2025-06-30"
)]
pub struct Args {
    /// The platform (aliases: kdp, d2d, kwl for kobo, google for google_play, apple, bn, ingram)
    #[arg(value_parser = super::platform_arg(), value_name = "PLATFORM")]
    pub platform: Platform,

    /// A report file to import (repeatable; each file becomes one job, which records the
    /// file's absolute path); for gumroad, the dashboard's Sales CSV export
    #[arg(long = "file", value_name = "PATH")]
    pub files: Vec<PathBuf>,

    /// API platforms: sync sales from this date (YYYY-MM-DD)
    #[arg(long, value_name = "DATE")]
    pub since: Option<NaiveDate>,

    /// API platforms: sync sales up to and including this date (YYYY-MM-DD)
    #[arg(long, value_name = "DATE")]
    pub until: Option<NaiveDate>,

    /// API platforms: the sync window as JSON, e.g. '{"since":"2025-01-01"}'
    #[arg(long, value_name = "JSON")]
    pub payload: Option<String>,

    /// Gumroad: ingest one Gumroad Ping body from FILE (`-` for stdin) instead of syncing
    #[arg(long, value_name = "FILE", conflicts_with_all = ["files", "since", "until", "payload"])]
    pub ping_file: Option<PathBuf>,

    /// Attempts before the job ends failed [default: 3, or queue.max_attempts in the config]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..=100))]
    pub max_attempts: Option<i64>,

    /// Higher runs first
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub priority: i64,

    /// Do not run before this time (RFC 3339, or YYYY-MM-DD for midnight UTC)
    #[arg(long, value_name = "TIMESTAMP", value_parser = parse_timestamp)]
    pub run_at: Option<i64>,

    /// Import a file again even if the same content was already imported
    #[arg(long)]
    pub force: bool,
}

fn parse_timestamp(s: &str) -> Result<i64, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc()
            .timestamp_millis());
    }
    Err(format!(
        "`{s}` is not a timestamp: use RFC 3339 (2026-11-28T16:05:00Z) or YYYY-MM-DD"
    ))
}

/// Run `enqueue`.
///
/// # Errors
/// Exit 5 for rejected input, 1 for database errors, 2 for wrong flag combinations.
pub fn run(args: &Args, ctx: &Ctx) -> Result<i32> {
    let max_attempts = args.max_attempts.unwrap_or(ctx.settings.queue.max_attempts);
    let run_at = args.run_at;
    // Gumroad takes its dashboard's Sales CSV export as well as API syncs and Pings.
    if args.platform.is_file_platform() || !args.files.is_empty() {
        if args.files.is_empty() {
            return Err(coded(
                2,
                format!(
                    "{} imports report files: pass at least one --file PATH",
                    args.platform
                ),
            ));
        }
        if args.since.is_some()
            || args.until.is_some()
            || args.payload.is_some()
            || args.ping_file.is_some()
        {
            return Err(coded(2, format!(
                "--since, --until, --payload and --ping-file are for API syncs and Pings; {} --file imports report files (one or the other)",
                args.platform
            )));
        }
        return enqueue_files(args, ctx, max_attempts, run_at);
    }
    // A sync that would run now without a token can only fail: say so now, with the
    // worker's words. One set for later may find the token configured by then.
    if args.platform == Platform::Gumroad
        && args.ping_file.is_none()
        && ctx.settings.gumroad.access_token.is_none()
        && run_at.is_none_or(|t| t <= crate::queue::now_ms())
    {
        return Err(coded(EXIT_REJECTED, crate::config::NO_GUMROAD_TOKEN));
    }
    let db = ctx.open_db()?;
    let db = db.as_ref();
    let opts = ingest::EnqueueOptions {
        priority: args.priority,
        run_at,
        max_attempts,
        force: args.force,
    };
    let (job, input, e) = if let Some(ping) = &args.ping_file {
        let (name, bytes) = read_ping(ping)?;
        let p = match ingest::enqueue_ping(
            db,
            &name,
            &bytes,
            &opts,
            ctx.settings.gumroad.access_token.is_some(),
        ) {
            Ok(p) => p,
            Err(CheckError::Rejected(msg)) => return Err(coded(EXIT_REJECTED, msg)),
            Err(CheckError::Other(e)) => return Err(e),
        };
        for w in &p.warnings {
            ctx.out.warn(w);
        }
        (p.job, p.input, p.enqueued)
    } else {
        // The same job `[[schedule]]` enqueues (ingest::sync_job).
        let (since, until) = sync_window(args)?;
        let (job, input) = ingest::sync_job(args.platform, since, until, &opts)?;
        let e = db.enqueue(&job)?;
        (job, input, e)
    };
    let view = ingest::views::enqueue_view(db, &job.platform, &e, run_at, &input)?;
    print_views(ctx, &[view]);
    Ok(0)
}

fn read_ping(path: &PathBuf) -> Result<(String, Vec<u8>)> {
    use std::io::Read;
    // One byte past the largest Ping, so that a larger input is rejected by the parser without
    // being read whole.
    let limit = crate::platforms::gumroad::MAX_PING_BYTES as u64 + 1;
    let mut buf = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .take(limit)
            .read_to_end(&mut buf)
            .map_err(|e| {
                coded(
                    EXIT_REJECTED,
                    format!("cannot read the Ping body from stdin: {e}"),
                )
            })?;
        Ok(("<stdin>".to_string(), buf))
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(limit).read_to_end(&mut buf))
            .map_err(|e| {
                coded(
                    EXIT_REJECTED,
                    format!("cannot read `{}`: {e}", path.display()),
                )
            })?;
        Ok((path.display().to_string(), buf))
    }
}

fn sync_window(args: &Args) -> Result<(Option<NaiveDate>, Option<NaiveDate>)> {
    let (mut since, mut until) = (args.since, args.until);
    if let Some(p) = &args.payload {
        let v: serde_json::Value = serde_json::from_str(p)
            .map_err(|e| coded(EXIT_REJECTED, format!("--payload is not valid JSON: {e}")))?;
        let obj = v.as_object().ok_or_else(|| {
            coded(
                EXIT_REJECTED,
                "--payload must be a JSON object such as {\"since\":\"2025-01-01\"}",
            )
        })?;
        for (k, val) in obj {
            let date = val
                .as_str()
                .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
                .ok_or_else(|| {
                    coded(
                        EXIT_REJECTED,
                        format!("--payload: `{k}` must be a date string YYYY-MM-DD"),
                    )
                })?;
            match k.as_str() {
                "since" => since = since.or(Some(date)),
                "until" => until = until.or(Some(date)),
                other => {
                    return Err(coded(
                        EXIT_REJECTED,
                        format!("--payload: unknown key `{other}` (expected since, until)"),
                    ))
                }
            }
        }
    }
    if let (Some(s), Some(u)) = (since, until) {
        if u < s {
            return Err(coded(
                EXIT_REJECTED,
                format!("--until {u} is before --since {s}"),
            ));
        }
    }
    Ok((since, until))
}

fn enqueue_files(args: &Args, ctx: &Ctx, max_attempts: i64, run_at: Option<i64>) -> Result<i32> {
    // Check every file before queueing any, so a bad file in a batch queues nothing.
    let db = ctx.open_db()?;
    let db = db.as_ref();
    // Content already imported *as this platform* needs no second parse; the same bytes named
    // as another platform still get the full check (and its exit 5).
    let already = |sha: &str| {
        !args.force
            && matches!(db.live_import_by_sha(sha), Ok(Some(p)) if p.platform == args.platform.as_str())
    };
    let mut checked = Vec::with_capacity(args.files.len());
    for path in &args.files {
        // The job records where the file was, whatever the current folder of later commands.
        let path = std::path::absolute(path).unwrap_or_else(|_| path.clone());
        match ingest::check_file_unless(db, args.platform, &path, &already) {
            Ok(c) => {
                for w in &c.summary.warnings {
                    ctx.out.warn(w);
                }
                checked.push(c);
            }
            Err(CheckError::Rejected(msg)) => return Err(coded(EXIT_REJECTED, msg)),
            Err(CheckError::Other(e)) => return Err(e),
        }
    }
    let mut views = Vec::with_capacity(checked.len());
    for c in checked {
        let opts = ingest::EnqueueOptions {
            priority: args.priority,
            run_at,
            max_attempts,
            force: args.force,
        };
        match ingest::enqueue_checked(db, args.platform, &c, &opts)? {
            ingest::FileEnqueue::AlreadyImported {
                job_id,
                finished_at,
            } => {
                let id = job_id.unwrap_or(0);
                ctx.out.info(&format!(
                    "{}: already imported by job {id}; pass --force to import it again",
                    file_name(&c.input)
                ));
                let status = status_of(db, id).map_or_else(|_| "completed".into(), |s| s.0);
                views.push(EnqueueView {
                    id,
                    platform: args.platform.as_str().to_string(),
                    status,
                    run_at: rfc3339(match finished_at {
                        Some(t) => t,
                        None => db.now()?,
                    }),
                    deduplicated: true,
                    input: input_view(&c.input),
                });
            }
            ingest::FileEnqueue::Queued(e) => {
                views.push(ingest::views::enqueue_view(
                    db,
                    args.platform.as_str(),
                    &e,
                    run_at,
                    &c.input,
                )?);
            }
        }
    }
    print_views(ctx, &views);
    Ok(0)
}

/// A job's state and due time (`completed` with no time when it is no longer stored).
pub(crate) fn status_of(db: &dyn crate::store::Store, id: i64) -> Result<(String, Option<i64>)> {
    ingest::views::status_of(db, id)
}

fn file_name(input: &JobInput) -> String {
    match input {
        JobInput::File { file, .. } | JobInput::Ping { file, .. } => file.clone(),
        JobInput::Sync { .. } => "sync".into(),
    }
}

/// The `input` object shown to users: never a stored path or a secret.
pub fn input_view(input: &JobInput) -> serde_json::Value {
    ingest::views::input_view(input)
}

pub(crate) fn print_views(ctx: &Ctx, views: &[EnqueueView]) {
    if ctx.out.json {
        for v in views {
            ctx.out.json_line(v);
        }
        return;
    }
    let mut t = new_table(&["job", "platform", "status", "input", "note"]);
    for v in views {
        let what = v.input.get("file").and_then(|f| f.as_str()).map_or_else(
            || v.input["kind"].as_str().unwrap_or("").to_string(),
            str::to_string,
        );
        let note = if v.deduplicated {
            if v.status == "completed" {
                "already imported (use --force to import again)"
            } else {
                "already queued"
            }
        } else {
            ""
        };
        t.add_row(vec![
            num_cell(v.id),
            v.platform.clone().into(),
            v.status.clone().into(),
            what.into(),
            note.into(),
        ]);
    }
    let fits = [
        Fit::Whole,
        Fit::Whole,
        Fit::Whole,
        Fit::Wrap(16),
        Fit::Wrap(12),
    ];
    ctx.out.fitted_table(t, &fits, &[]);
}
