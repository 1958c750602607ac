//! `salesingest prune`: delete old finished jobs and cron-run rows now (run-worker also prunes
//! after every run, by the `[retention]` horizons). Sales events are never pruned.

use anyhow::Result;
use serde_json::json;

use super::Ctx;

/// Delete finished jobs and cron-run rows older than the retention horizons.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "By finish time: completed jobs after retention.completed (30d), failed \
and cancelled jobs after retention.failed (90d), cron runs after retention.cron_runs (30d). Queued, \
retrying and running jobs, and sales events, are never pruned.

Examples:
  salesingest prune --dry-run
  salesingest prune --older-than 7d"
)]
pub struct Args {
    /// One horizon for everything instead of the [retention] settings (e.g. 7d, 12h)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub older_than: Option<i64>,

    /// Only count what would be deleted
    #[arg(long)]
    pub dry_run: bool,
}

fn parse_duration(s: &str) -> Result<i64, String> {
    crate::config::parse_duration_ms(s).map_err(|e| format!("{e:#}"))
}

/// Run `prune`.
///
/// # Errors
/// Database errors.
pub fn run(args: &Args, ctx: &Ctx) -> Result<i32> {
    let db = ctx.open_existing_db()?;
    let db = db.as_ref();
    let mut policy = ctx.settings.queue.retention.clone();
    if let Some(ms) = args.older_than {
        policy.completed_ms = ms;
        policy.failed_ms = ms;
        policy.runs_ms = ms;
    }
    let (jobs, runs) = if args.dry_run {
        db.prune_preview(&policy)?
    } else {
        db.prune(&policy)?
    };
    if ctx.out.json {
        ctx.out.json(&json!({
            "dry_run": args.dry_run,
            "jobs": jobs,
            "cron_runs": runs,
            "completed_older_than_seconds": policy.completed_ms / 1000,
            "failed_older_than_seconds": policy.failed_ms / 1000,
            "cron_runs_older_than_seconds": policy.runs_ms / 1000,
        }));
    } else {
        ctx.out.line(&format!(
            "{} {jobs} finished job(s) and {runs} cron run(s)",
            if args.dry_run {
                "would delete"
            } else {
                "deleted"
            }
        ));
    }
    Ok(0)
}
