//! `salesingest run-worker`: process up to N due jobs, then exit. What cron runs.

use anyhow::Result;

use super::{parse_platform, Ctx};
use crate::ingest::IngestHandler;
use crate::model::Platform;
use crate::output::{new_table, num_cell, rfc3339, EventsView, Printer, RunJobView, RunView};
use crate::queue::worker::{self, JobReport, WorkerConfig};
use crate::queue::JobState;

/// Process due jobs.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Under cron (stdout not a terminal, no --json) it prints nothing when all \
went well, and one line per failed job on stderr otherwise, so cron's mail is the alert.

Example crontab line:
  */5 * * * * salesingest run-worker --batch 10"
)]
pub struct Args {
    /// Process at most N jobs
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch: u32,

    /// Only jobs of this platform
    #[arg(long, value_name = "PLATFORM", value_parser = parse_platform)]
    pub platform: Option<Platform>,

    /// Lease length in seconds, renewed by a heartbeat while a job runs [default: 60]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub lease: Option<u64>,
}

/// Run `run-worker`.
///
/// # Errors
/// Database errors (exit 1).
pub fn run(args: &Args, ctx: &Ctx) -> Result<i32> {
    let db = ctx.open_db()?;
    let cfg = WorkerConfig {
        batch: args.batch,
        platform: args.platform.map(|p| p.as_str().to_string()),
        lease_ms: args.lease.map_or(ctx.settings.queue.lease_ms, |s| {
            i64::try_from(s * 1000).unwrap_or(60_000)
        }),
        policy: ctx.settings.queue.retry.clone(),
        retention: ctx.settings.queue.retention.clone(),
        args: std::env::args().collect::<Vec<_>>().join(" "),
    };
    let mut handler = IngestHandler {
        db: &db,
        settings: &ctx.settings,
        progress: ctx.out.progress_allowed(),
    };
    let path = db.path().to_path_buf();
    let open_hb = move || -> Result<Box<dyn crate::queue::JobStore + Send>> {
        Ok(Box::new(crate::store::Db::open(&path)?))
    };
    let interactive = Printer::stdout_is_tty();
    let out = ctx.out;
    let mut on_job = |j: &JobReport| {
        if j.status == JobState::Failed {
            // Under cron this is the alert; with --json it stays on stderr too.
            out.alert(&format!(
                "job {} ({}) failed: {}",
                j.id,
                j.platform,
                j.error.as_deref().unwrap_or("unknown error")
            ));
        } else if interactive && !out.json {
            out.info(&format!("job {} ({}): {}", j.id, j.platform, j.status));
        }
    };
    let report = worker::run(&db, &open_hb, &mut handler, &cfg, &mut on_job)?;
    for w in &report.warnings {
        ctx.out.warn(w);
    }
    if ctx.out.json {
        ctx.out.json(&RunView {
            run_id: report.run_id,
            started_at: rfc3339(report.started_at),
            finished_at: rfc3339(report.finished_at),
            claimed: report.counts.claimed,
            completed: report.counts.completed,
            retrying: report.counts.retrying,
            failed: report.counts.failed,
            rescued: report.counts.rescued,
            jobs: report
                .jobs
                .iter()
                .map(|j| RunJobView {
                    id: j.id,
                    platform: j.platform.clone(),
                    status: j.status.to_string(),
                    attempt: j.attempt,
                    error: j.error.clone(),
                    events: EventsView {
                        inserted: j.events.inserted,
                        updated: j.events.updated,
                        removed: j.events.removed,
                    },
                })
                .collect(),
        });
    } else if interactive {
        if report.jobs.is_empty() {
            ctx.out.line(&format!(
                "no due jobs (run {}{})",
                report.run_id,
                if report.counts.rescued > 0 {
                    format!(", rescued {}", report.counts.rescued)
                } else {
                    String::new()
                }
            ));
        } else {
            let mut t = new_table(&[
                "job", "platform", "status", "attempt", "inserted", "updated", "removed", "error",
            ]);
            for j in &report.jobs {
                t.add_row(vec![
                    num_cell(j.id),
                    j.platform.clone().into(),
                    j.status.to_string().into(),
                    num_cell(j.attempt),
                    num_cell(j.events.inserted),
                    num_cell(j.events.updated),
                    num_cell(j.events.removed),
                    j.error.clone().unwrap_or_default().into(),
                ]);
            }
            ctx.out.table(&t);
            let c = &report.counts;
            ctx.out.line(&format!(
                "run {}: {} claimed, {} completed, {} retrying, {} failed, {} rescued",
                report.run_id, c.claimed, c.completed, c.retrying, c.failed, c.rescued
            ));
        }
    }
    Ok(report.exit_code)
}
