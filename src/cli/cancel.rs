//! `salesingest cancel <ID>`: cancel a queued or retrying job, ask a running one to stop, or
//! dismiss a failed one.

use anyhow::Result;
use serde_json::json;

use super::{coded, Ctx, EXIT_NOT_FOUND, EXIT_STATE};
use crate::queue::{CancelOutcome, JobState};

/// Cancel a job, or dismiss a failed one.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "A queued or retrying job is cancelled at once; a running job stops at its \
next heartbeat. A failed job is dismissed: it becomes cancelled, keeps its error and attempt \
history, and `status --check` no longer reports it (`salesingest retry ID` still revives it). \
Cancelling a cancelled job again changes nothing and succeeds.

Exit codes: 0 cancelled, dismissed or already cancelled; 4 no such job; 7 the job completed \
(its sales stay; nothing to cancel)."
)]
pub struct Args {
    /// The job id
    #[arg(value_name = "ID")]
    pub id: i64,
}

/// Run `cancel`.
///
/// # Errors
/// Exit 4 for an unknown id, 7 when the job already completed.
pub fn run(args: &Args, ctx: &Ctx) -> Result<i32> {
    let db = ctx.open_existing_db()?;
    let db = db.as_ref();
    let id = args.id;
    let (status, msg) = match db.cancel(id)? {
        CancelOutcome::Cancelled => ("cancelled", format!("job {id} cancelled")),
        CancelOutcome::Dismissed => (
            "cancelled",
            format!(
                "job {id} had failed: dismissed (now cancelled), so `status --check` no longer \
                 reports it; `salesingest retry {id}` would still revive it"
            ),
        ),
        CancelOutcome::AlreadyFinished(JobState::Cancelled) => {
            ("cancelled", format!("job {id} is already cancelled"))
        }
        CancelOutcome::Requested => (
            "processing",
            format!("job {id} is running: it will stop and be cancelled at its next heartbeat"),
        ),
        CancelOutcome::NotFound => {
            return Err(coded(
                EXIT_NOT_FOUND,
                format!("no job with id {id}: see `salesingest jobs`"),
            ))
        }
        CancelOutcome::AlreadyFinished(s) => {
            return Err(coded(
                EXIT_STATE,
                format!(
                    "job {id} is already {s}: nothing to cancel (its imported sales stay; a newer \
                     report of the same period replaces them)"
                ),
            ))
        }
    };
    if ctx.out.json {
        ctx.out
            .json(&json!({"id": id, "status": status, "cancel_requested": status == "processing"}));
    } else {
        ctx.out.line(&msg);
    }
    Ok(0)
}
