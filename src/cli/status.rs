//! `salesingest status [ID]`: one job with its attempt history, or the per-platform overview.

use anyhow::Result;

use super::{coded, Ctx, EXIT_NOT_FOUND};
use crate::model::{format_micros, JobInput, Platform};
use crate::output::{
    new_table, num_cell, rfc3339, rfc3339_opt, short_time, AttemptView, OverviewView, RoyaltyView,
    StatusView,
};
use crate::store::Store;

/// Show a job, or the overview.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The job id; without it, the per-platform overview
    #[arg(value_name = "JOB_ID")]
    pub id: Option<i64>,

    /// Exit 6 with one line per problem when data is stale (a scheduled sync overdue, failed
    /// jobs not retried, a KDP month without its final report after the 20th of the next
    /// month); print nothing and exit 0 when healthy. With --json: an array of problems
    #[arg(long, conflicts_with = "id")]
    pub check: bool,
}

/// Run `status`.
///
/// # Errors
/// Exit 4 for an unknown id; database errors.
pub fn run(args: &Args, ctx: &Ctx) -> Result<i32> {
    if args.check {
        return super::check::run(ctx);
    }
    let db = ctx.open_db()?;
    let db = db.as_ref();
    match args.id {
        Some(id) => job_status(db, id, ctx),
        None => overview(db, ctx),
    }
}

fn job_status(db: &dyn Store, id: i64, ctx: &Ctx) -> Result<i32> {
    let Some(job) = db.job(id)? else {
        return Err(coded(
            EXIT_NOT_FOUND,
            format!("no job with id {id}: see `salesingest jobs`"),
        ));
    };
    let attempts = db.attempts(id)?;
    let input = serde_json::from_str::<JobInput>(&job.input)
        .map(|i| super::enqueue::input_view(&i))
        .unwrap_or(serde_json::Value::Null);
    let result = job
        .result
        .as_deref()
        .and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok());
    let view = StatusView {
        id: job.id,
        platform: job.platform.clone(),
        status: job.state.clone(),
        attempts: job.attempts,
        max_attempts: job.max_attempts,
        priority: job.priority,
        created_at: rfc3339(job.created_at),
        run_at: rfc3339(job.run_at),
        finished_at: rfc3339_opt(job.finished_at),
        last_error: job.last_error.clone(),
        cancel_requested: job.cancel_requested,
        input,
        result,
        attempt_history: attempts
            .iter()
            .map(|a| AttemptView {
                attempt: a.attempt,
                started_at: rfc3339(a.started_at),
                finished_at: rfc3339_opt(a.finished_at),
                outcome: a.outcome.clone(),
                error: a.error.clone(),
                worker: a.worker.clone(),
            })
            .collect(),
    };
    if ctx.out.json {
        ctx.out.json(&view);
        return Ok(0);
    }
    let what = view
        .input
        .get("file")
        .and_then(|f| f.as_str())
        .map_or_else(|| view.input.to_string(), str::to_string);
    ctx.out.line(&format!(
        "job {}  {}  {}",
        view.id,
        view.platform,
        ctx.out.paint(&view.status, "1")
    ));
    ctx.out.line(&format!("  input     {what}"));
    ctx.out.line(&format!(
        "  attempts  {} of {}",
        view.attempts, view.max_attempts
    ));
    ctx.out.line(&format!("  created   {}", view.created_at));
    if view.finished_at.is_none() {
        ctx.out.line(&format!("  due       {}", view.run_at));
    }
    if let Some(f) = &view.finished_at {
        ctx.out.line(&format!("  finished  {f}"));
    }
    if let Some(r) = &view.result {
        let ev = &r["events"];
        ctx.out.line(&format!(
            "  events    {} inserted, {} updated, {} removed",
            ev["inserted"], ev["updated"], ev["removed"]
        ));
    }
    if let Some(e) = &view.last_error {
        ctx.out.line(&format!("  error     {e}"));
    }
    if !attempts.is_empty() {
        let mut t = new_table(&["attempt", "started", "finished", "outcome", "error"]);
        for a in &attempts {
            t.add_row(vec![
                num_cell(a.attempt),
                short_time(a.started_at).into(),
                a.finished_at.map(short_time).unwrap_or_default().into(),
                a.outcome.clone().unwrap_or_else(|| "running".into()).into(),
                a.error.clone().unwrap_or_default().into(),
            ]);
        }
        ctx.out.table(&t);
    }
    Ok(0)
}

fn overview(db: &dyn Store, ctx: &Ctx) -> Result<i32> {
    let names: Vec<&str> = Platform::ALL.iter().map(|p| p.as_str()).collect();
    let rows = db.overview(&names)?;
    let totals = db.totals()?;
    let views: Vec<OverviewView> = rows
        .into_iter()
        .map(|o| OverviewView {
            royalty: totals
                .iter()
                .filter(|t| t.platform == o.platform)
                .map(|t| RoyaltyView {
                    currency: t.currency.clone(),
                    royalty: format_micros(t.royalty_micros, &t.currency),
                    units: t.units,
                    kenp_pages: t.kenp_pages,
                    events: t.events,
                })
                .collect(),
            platform: o.platform,
            events: o.events,
            first_period: o.first_period,
            last_period: o.last_period,
            final_through: o.final_through,
            estimated_through: o.estimated_through,
            last_success_at: rfc3339_opt(o.last_success),
            last_success_job: o.last_success_job,
            queued: o.queued,
            processing: o.processing,
            retrying: o.retrying,
            failed: o.failed,
            sync_cursor: o.sync_cursor,
        })
        .collect();
    if ctx.out.json {
        ctx.out.json(&views);
        return Ok(0);
    }
    ctx.out.line(&format!("database: {}", ctx.settings.db));
    let mut t = new_table(&[
        "platform",
        "events",
        "royalty",
        "periods",
        "final through",
        "estimated through",
        "last success",
        "queued",
        "retrying",
        "failed",
    ]);
    for v in &views {
        let royalty = v
            .royalty
            .iter()
            .map(|r| format!("{} {}", r.royalty, r.currency))
            .collect::<Vec<_>>()
            .join("\n");
        let periods = match (&v.first_period, &v.last_period) {
            (Some(a), Some(b)) => format!("{a} .. {b}"),
            _ => String::new(),
        };
        t.add_row(vec![
            v.platform.clone().into(),
            num_cell(v.events),
            num_cell(royalty),
            periods.into(),
            v.final_through.clone().unwrap_or_default().into(),
            v.estimated_through.clone().unwrap_or_default().into(),
            v.last_success_at.clone().unwrap_or_default().into(),
            num_cell(v.queued + v.processing),
            num_cell(v.retrying),
            num_cell(v.failed),
        ]);
    }
    ctx.out.table(&t);
    for v in views.iter().filter(|v| v.sync_cursor.is_some()) {
        ctx.out.line(&format!(
            "{} sync cursor {} (sales before it are synced)",
            v.platform,
            v.sync_cursor.as_deref().unwrap_or_default()
        ));
    }
    Ok(0)
}
