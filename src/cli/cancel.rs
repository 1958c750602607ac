//! `salesingest cancel <ID>`: cancel a queued or retrying job, ask a running one to stop, or
//! dismiss a failed one.

use anyhow::Result;

use super::{coded, Ctx, EXIT_NOT_FOUND, EXIT_STATE};
use crate::ingest::views::ActionError;

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
    let (json, msg) = match crate::ingest::views::cancel(db, id)? {
        Ok(done) => done,
        Err(ActionError::NotFound(m)) => return Err(coded(EXIT_NOT_FOUND, m)),
        Err(ActionError::State(m)) => return Err(coded(EXIT_STATE, m)),
    };
    if ctx.out.json {
        ctx.out.json(&json);
    } else {
        ctx.out.line(&msg);
    }
    Ok(0)
}
