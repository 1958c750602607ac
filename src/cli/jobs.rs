//! `salesingest jobs`: list jobs, newest first.

use anyhow::Result;

use super::Ctx;
use crate::model::Platform;
use crate::output::{new_table, num_cell, Fit, JobListView};
use crate::queue::JobState;

/// List jobs.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "The `due` column says when a queued or retrying job runs next (run-worker \
runs the jobs that are due). Times are RFC 3339 UTC. On a narrow terminal the creation time, \
the error, the attempts and then the input give way; --json has every field."
)]
pub struct Args {
    /// Only jobs in this state
    #[arg(long, value_name = "STATUS", value_parser = super::state_arg())]
    pub status: Option<JobState>,

    /// Only jobs of this platform
    #[arg(long, value_name = "PLATFORM", value_parser = super::platform_arg())]
    pub platform: Option<Platform>,

    /// Show at most N jobs
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: u32,
}

/// Run `jobs`.
///
/// # Errors
/// Database errors.
pub fn run(args: &Args, ctx: &Ctx) -> Result<i32> {
    let db = ctx.open_existing_db()?;
    let db = db.as_ref();
    let views: Vec<JobListView> = crate::ingest::views::job_list_view(
        db,
        args.status.map(JobState::as_str),
        args.platform.map(Platform::as_str),
        i64::from(args.limit),
    )?;
    if ctx.out.json {
        ctx.out.json(&views);
        return Ok(0);
    }
    if views.is_empty() {
        ctx.out.line("no jobs");
        return Ok(0);
    }
    let mut t = new_table(&[
        "job", "platform", "status", "attempts", "due", "created", "input", "error",
    ]);
    for v in &views {
        let what = v.input.get("file").and_then(|f| f.as_str()).map_or_else(
            || v.input["kind"].as_str().unwrap_or("").to_string(),
            str::to_string,
        );
        let due = match v.status.as_str() {
            "queued" | "retrying" => v.run_at.clone(),
            "processing" => "running".to_string(),
            _ => String::new(),
        };
        t.add_row(vec![
            num_cell(v.id),
            v.platform.clone().into(),
            v.status.clone().into(),
            num_cell(format!("{}/{}", v.attempts, v.max_attempts)),
            due.into(),
            v.created_at.clone().into(),
            what.into(),
            v.last_error.clone().unwrap_or_default().into(),
        ]);
    }
    let fits = [
        Fit::Whole,
        Fit::Whole,
        Fit::Whole,
        Fit::Whole,
        Fit::Whole,
        Fit::Whole,
        Fit::Wrap(14),
        Fit::Wrap(16),
    ];
    ctx.out.fitted_table(t, &fits, &[5, 7, 3, 6]);
    Ok(0)
}
