//! `salesingest logs`: the run-worker log, newest first.

use anyhow::Result;

use super::Ctx;
use crate::output::{new_table, num_cell, rfc3339, Fit, LogView};

/// Show the run log.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "A run writes its counts when it finishes. For a run that never finished \
(`killed`: its process is gone; or still `running`) they are counted from the attempts it \
started, so a run killed mid-job shows the job it claimed. Times are RFC 3339 UTC."
)]
pub struct Args {
    /// Show at most N runs
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: u32,

    /// Only runs with a failed job, an error exit, or that were killed
    #[arg(long)]
    pub failed: bool,
}

/// Run `logs`.
///
/// # Errors
/// Database errors.
pub fn run(args: &Args, ctx: &Ctx) -> Result<i32> {
    let db = ctx.open_existing_db()?;
    let db = db.as_ref();
    let views: Vec<LogView> =
        crate::ingest::views::log_view(db, i64::from(args.limit), args.failed)?;
    if ctx.out.json {
        ctx.out.json(&views);
        return Ok(0);
    }
    if views.is_empty() {
        ctx.out
            .line("no runs yet: `salesingest run-worker` records one per invocation");
        return Ok(0);
    }
    let mut t = new_table(&[
        "run",
        "started",
        "duration",
        "host",
        "pid",
        "claimed",
        "completed",
        "retrying",
        "failed",
        "rescued",
        "exit",
    ]);
    for v in &views {
        let started = chrono::DateTime::parse_from_rfc3339(&v.started_at)
            .map(|t| t.timestamp_millis())
            .unwrap_or(0);
        let duration = match &v.finished_at {
            Some(f) => {
                let end = chrono::DateTime::parse_from_rfc3339(f)
                    .map(|t| t.timestamp_millis())
                    .unwrap_or(started);
                format!("{:.1}s", (end - started) as f64 / 1000.0)
            }
            None => v.state.clone(),
        };
        t.add_row(vec![
            num_cell(v.id),
            rfc3339(started).into(),
            num_cell(duration),
            v.host.clone().into(),
            num_cell(v.pid),
            num_cell(v.claimed),
            num_cell(v.completed),
            num_cell(v.retrying),
            num_cell(v.failed),
            num_cell(v.rescued),
            num_cell(
                v.exit_code
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "-".into()),
            ),
        ]);
    }
    let mut fits = [Fit::Whole; 11];
    fits[3] = Fit::Wrap(8);
    ctx.out.fitted_table(t, &fits, &[3, 4, 10, 9, 2, 7]);
    Ok(0)
}
