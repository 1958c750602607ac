//! `salesingest cancel <ID>`: cancel a queued or retrying job; ask a running one to stop.

use anyhow::Result;
use serde_json::json;

use super::{coded, Ctx, EXIT_NOT_FOUND};
use crate::queue::CancelOutcome;

/// Cancel a job.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The job id
    #[arg(value_name = "ID")]
    pub id: i64,
}

/// Run `cancel`.
///
/// # Errors
/// Exit 4 for an unknown id, 1 when the job already finished.
pub fn run(args: &Args, ctx: &Ctx) -> Result<i32> {
    let db = ctx.open_db()?;
    let db = db.as_ref();
    let (status, msg) = match db.cancel(args.id)? {
        CancelOutcome::Cancelled => ("cancelled", format!("job {} cancelled", args.id)),
        CancelOutcome::Requested => (
            "processing",
            format!(
                "job {} is running: it will stop and be cancelled at its next heartbeat",
                args.id
            ),
        ),
        CancelOutcome::NotFound => {
            return Err(coded(
                EXIT_NOT_FOUND,
                format!("no job with id {}: see `salesingest jobs`", args.id),
            ))
        }
        CancelOutcome::AlreadyFinished(s) => {
            return Err(coded(
                1,
                format!("job {} is already {s}: nothing to cancel", args.id),
            ))
        }
    };
    if ctx.out.json {
        ctx.out.json(
            &json!({"id": args.id, "status": status, "cancel_requested": status == "processing"}),
        );
    } else {
        ctx.out.line(&msg);
    }
    Ok(0)
}
