//! `salesingest schedules`: the `[[schedule]]` entries with their last and next run.

use anyhow::Result;

use super::Ctx;
use crate::output::{new_table, rfc3339, rfc3339_opt, Fit, ScheduleView};
use crate::queue::now_ms;

/// List the schedules of the config file.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Schedules live in the config file; run-worker enqueues each one when due:
  [[schedule]]
  platform = \"gumroad\"   # API platforms only
  every = \"6h\"
  # name = \"gumroad\"     # optional, unique; defaults to the platform"
)]
pub struct Args {}

/// Run `schedules`.
///
/// # Errors
/// Database errors.
pub fn run(_args: &Args, ctx: &Ctx) -> Result<i32> {
    let db = ctx.open_existing_db()?;
    let db = db.as_ref();
    let rows = db.schedule_rows()?;
    let now = now_ms();
    let mut views = Vec::with_capacity(ctx.settings.schedules.len());
    for s in &ctx.settings.schedules {
        let row = rows.iter().find(|r| r.name == s.name);
        let last = row.map(|r| r.last_enqueued_at);
        let next = last.map_or(now, |t| t + s.every_ms);
        views.push(ScheduleView {
            name: s.name.clone(),
            platform: s.platform.as_str().to_string(),
            every: s.every.clone(),
            every_seconds: s.every_ms / 1000,
            last_enqueued_at: rfc3339_opt(last),
            next_run_at: rfc3339(next.max(now)),
            due: next <= now,
            last_job_id: row.and_then(|r| r.last_job_id),
            last_job_status: row.and_then(|r| r.last_job_state.clone()),
            last_success_at: rfc3339_opt(db.last_sync_success(s.platform.as_str())?),
        });
    }
    if ctx.out.json {
        ctx.out.json(&views);
        return Ok(0);
    }
    if views.is_empty() {
        ctx.out.line(
            "no schedules: add [[schedule]] entries to the config file (see `salesingest schedules --help`)",
        );
        return Ok(0);
    }
    let mut t = new_table(&[
        "name",
        "platform",
        "every",
        "last run",
        "next run",
        "last job",
        "last success",
    ]);
    for v in &views {
        t.add_row(vec![
            v.name.clone(),
            v.platform.clone(),
            v.every.clone(),
            v.last_enqueued_at.clone().unwrap_or_else(|| "never".into()),
            if v.due {
                "due (next run-worker)".to_string()
            } else {
                v.next_run_at.clone()
            },
            match (&v.last_job_id, &v.last_job_status) {
                (Some(id), Some(st)) => format!("{id} ({st})"),
                (Some(id), None) => id.to_string(),
                _ => String::new(),
            },
            v.last_success_at.clone().unwrap_or_default(),
        ]);
    }
    let fits = [
        Fit::Wrap(10),
        Fit::Whole,
        Fit::Whole,
        Fit::Whole,
        Fit::Wrap(12),
        Fit::Whole,
        Fit::Whole,
    ];
    ctx.out.fitted_table(t, &fits, &[6, 3]);
    Ok(0)
}
