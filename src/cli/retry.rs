//! `salesingest retry <ID>`: revive a failed (or cancelled) job with fresh attempts.

use anyhow::Result;
use serde_json::json;

use super::{coded, Ctx, EXIT_NOT_FOUND, EXIT_STATE};
use crate::queue::RetryOutcome;

/// Revive a failed job.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The job id
    #[arg(value_name = "ID")]
    pub id: i64,

    /// Attempts to grant on top of those used
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(i64).range(1..=100))]
    pub attempts: i64,
}

/// Run `retry`.
///
/// # Errors
/// Exit 4 for an unknown id, 7 when the job is not failed or cancelled, or another pending job
/// covers its input.
pub fn run(args: &Args, ctx: &Ctx) -> Result<i32> {
    let db = ctx.open_existing_db()?;
    let db = db.as_ref();
    match db.revive(args.id, args.attempts)? {
        RetryOutcome::Revived => {
            if ctx.out.json {
                ctx.out.json(&json!({"id": args.id, "status": "queued"}));
            } else {
                ctx.out.line(&format!(
                    "job {} queued again; the next `salesingest run-worker` runs it",
                    args.id
                ));
            }
            Ok(0)
        }
        RetryOutcome::NotFound => Err(coded(
            EXIT_NOT_FOUND,
            format!(
                "no job with id {}: see `salesingest jobs --status failed`",
                args.id
            ),
        )),
        RetryOutcome::NotFailed(s) => Err(coded(
            EXIT_STATE,
            format!(
                "job {} is {s}: only failed or cancelled jobs can be retried",
                args.id
            ),
        )),
        RetryOutcome::Duplicate(other) => Err(coded(
            EXIT_STATE,
            format!("job {other} already covers the same input and is pending: nothing to retry"),
        )),
    }
}
