//! `salesingest retry <ID>`: revive a failed (or cancelled) job with fresh attempts.

use anyhow::Result;

use super::{coded, Ctx, EXIT_NOT_FOUND, EXIT_STATE};
use crate::ingest::views::ActionError;

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
    match crate::ingest::views::retry(db, args.id, args.attempts)? {
        Ok(json) => {
            if ctx.out.json {
                ctx.out.json(&json);
            } else {
                ctx.out.line(&format!(
                    "job {} queued again; the next `salesingest run-worker` runs it",
                    args.id
                ));
            }
            Ok(0)
        }
        Err(ActionError::NotFound(m)) => Err(coded(EXIT_NOT_FOUND, m)),
        Err(ActionError::State(m)) => Err(coded(EXIT_STATE, m)),
    }
}
