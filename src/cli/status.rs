//! `salesingest status [ID]`: one job with its attempt history, or the per-platform overview.

use anyhow::Result;

use super::{coded, Ctx, EXIT_NOT_FOUND};
use crate::output::{new_table, num_cell, Fit, OverviewView, StatusView};
use crate::store::Store;

/// Show a job, or the overview.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The job id; without it, the per-platform overview
    #[arg(value_name = "JOB_ID")]
    pub id: Option<i64>,

    /// Exit 6 with one line per problem when data is stale (a scheduled sync overdue, failed
    /// jobs not retried, a KDP month without its final report after the 20th of the next
    /// month, royalty not paid by the date the platform's payment schedule gives, for a
    /// platform whose payouts are imported); print nothing and exit 0 when healthy. With
    /// --json: an array of problems
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
    let db = ctx.open_existing_db()?;
    let db = db.as_ref();
    match args.id {
        Some(id) => job_status(db, id, ctx),
        None => overview(db, ctx),
    }
}

fn job_status(db: &dyn Store, id: i64, ctx: &Ctx) -> Result<i32> {
    let Some(view) = crate::ingest::views::status_view(db, id)? else {
        return Err(coded(
            EXIT_NOT_FOUND,
            format!("no job with id {id}: see `salesingest jobs`"),
        ));
    };
    if ctx.out.json {
        ctx.out.json(&view);
        return Ok(0);
    }
    print_job(ctx, &view);
    Ok(0)
}

/// The text view of `status <id>`: the facts of the JSON view, times in RFC 3339 UTC.
fn print_job(ctx: &Ctx, view: &StatusView) {
    let out = &ctx.out;
    let field = |name: &str, value: &str| out.line(&format!("  {name:<10}{value}"));
    out.line(&format!(
        "job {}  {}  {}",
        view.id,
        view.platform,
        out.paint(&view.status, "1")
    ));
    let input = &view.input;
    let text = |k: &str| input.get(k).and_then(|v| v.as_str());
    match text("kind") {
        Some("file") | Some("ping") => {
            field("input", text("file").unwrap_or(""));
            if text("kind") == Some("ping") {
                field("", "(a Gumroad Ping)");
            }
            if let Some(h) = text("sha256") {
                field("sha256", h);
            }
            if let Some(size) = input.get("size").and_then(serde_json::Value::as_u64) {
                field("size", &format!("{size} bytes"));
            }
        }
        Some("sync") => field(
            "input",
            &match (text("since"), text("until")) {
                (None, None) => "sync, incremental from the stored cursor".to_string(),
                (s, u) => format!(
                    "sync {} .. {}",
                    s.unwrap_or("(first sale)"),
                    u.unwrap_or("(today)")
                ),
            },
        ),
        _ => field("input", &input.to_string()),
    }
    field(
        "attempts",
        &format!("{} of {}", view.attempts, view.max_attempts),
    );
    field("priority", &view.priority.to_string());
    field("created", &view.created_at);
    match &view.finished_at {
        Some(f) => field("finished", f),
        None => field("due", &view.run_at),
    }
    if view.cancel_requested {
        field("cancel", "requested: it stops at its next heartbeat");
    }
    if let Some(r) = &view.result {
        let ev = &r["events"];
        field(
            "events",
            &format!(
                "{} inserted, {} updated, {} removed",
                ev["inserted"], ev["updated"], ev["removed"]
            ),
        );
        if let Some(l) = r.get("layout").and_then(|l| l.as_str()) {
            field("layout", l);
        }
        if let Some(n) = r.get("rows").and_then(serde_json::Value::as_u64) {
            field("rows", &n.to_string());
        }
        let warnings: Vec<&str> = r
            .get("warnings")
            .and_then(|w| w.as_array())
            .map(|w| w.iter().filter_map(|x| x.as_str()).collect())
            .unwrap_or_default();
        for (i, w) in warnings.iter().enumerate() {
            field(if i == 0 { "warnings" } else { "" }, w);
        }
    }
    if let Some(e) = &view.last_error {
        field("error", e);
    }
    if !view.attempt_history.is_empty() {
        let mut t = new_table(&[
            "attempt", "started", "finished", "outcome", "worker", "error",
        ]);
        for a in &view.attempt_history {
            t.add_row(vec![
                num_cell(a.attempt),
                a.started_at.clone().into(),
                a.finished_at.clone().unwrap_or_default().into(),
                a.outcome.clone().unwrap_or_else(|| "running".into()).into(),
                a.worker.clone().into(),
                a.error.clone().unwrap_or_default().into(),
            ]);
        }
        out.fitted_table(
            t,
            &[
                Fit::Whole,
                Fit::Whole,
                Fit::Whole,
                Fit::Whole,
                Fit::Wrap(12),
                Fit::Wrap(16),
            ],
            &[4, 2],
        );
    }
}

fn overview(db: &dyn Store, ctx: &Ctx) -> Result<i32> {
    let views: Vec<OverviewView> = crate::ingest::views::overview_view(db)?;
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
        "jobs",
    ]);
    for v in &views {
        let royalty = v
            .royalty
            .iter()
            .map(|r| format!("{} {}", r.royalty, r.currency))
            .collect::<Vec<_>>()
            .join("\n");
        let periods = match (&v.first_period, &v.last_period) {
            (Some(a), Some(b)) => format!("{a} ..\n{b}"),
            _ => String::new(),
        };
        // One line per pending or failed state, so the counts never need their own columns.
        let jobs = [
            (v.queued, "queued"),
            (v.processing, "running"),
            (v.retrying, "retrying"),
            (v.failed, "failed"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect::<Vec<_>>()
        .join("\n");
        t.add_row(vec![
            v.platform.clone().into(),
            num_cell(v.events),
            num_cell(royalty),
            periods.into(),
            v.final_through.clone().unwrap_or_default().into(),
            v.estimated_through.clone().unwrap_or_default().into(),
            v.last_success_at.clone().unwrap_or_default().into(),
            jobs.into(),
        ]);
    }
    // Narrow terminals lose the periods, then the last success, then the event counts.
    let fits = [
        Fit::Whole,
        Fit::Whole,
        Fit::Whole,
        Fit::Whole,
        Fit::Wrap(10),
        Fit::Wrap(10),
        Fit::Whole,
        Fit::Whole,
    ];
    ctx.out.fitted_table(t, &fits, &[3, 6, 1]);
    for v in views.iter().filter(|v| v.sync_cursor.is_some()) {
        ctx.out.line(&format!(
            "{} sync cursor {} (sales before it are synced)",
            v.platform,
            v.sync_cursor.as_deref().unwrap_or_default()
        ));
    }
    Ok(0)
}
