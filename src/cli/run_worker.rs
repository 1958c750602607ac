//! `salesingest run-worker`: process up to N due jobs, then exit. What cron runs.

use anyhow::Result;

use super::{coded, Ctx};
use crate::ingest::{self, FileOutcome, Fired};
use crate::model::Platform;
use crate::notify::{PingKind, Pinger, PING_TIMEOUT};
use crate::output::{new_table, num_cell, rfc3339, Fit, Printer};
use crate::queue::worker::{JobReport, RunReport, WorkerConfig};
use crate::queue::JobState;

/// Process due jobs.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Under cron (stdout not a terminal, no --json) it prints nothing when all \
went well, and one line per failed job on stderr otherwise, so cron's mail is the alert.

Before claiming, it enqueues every due [[schedule]] of the config file (exactly once, even \
when runs overlap) and scans the [inbox] folder for new report files, so one crontab line keeps \
everything current. With a ping URL it pings URL/start, then URL on success or URL/fail when a \
job ended failed or the run errored, with the run summary as the body; a failed ping never fails \
the run.

Example crontab line:
  */5 * * * * salesingest run-worker --batch 10 --ping-url https://hc-ping.com/<uuid>"
)]
pub struct Args {
    /// Process at most N jobs
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch: u32,

    /// Only jobs of this platform
    #[arg(long, value_name = "PLATFORM", value_parser = super::platform_arg())]
    pub platform: Option<Platform>,

    /// Lease length in seconds, renewed by a heartbeat while a job runs [default: 60]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub lease: Option<u64>,

    /// Healthcheck ping URL (healthchecks.io style: URL/start, URL, URL/fail)
    /// [default: SALESINGEST_PING_URL, or [healthcheck] ping_url in the config]
    #[arg(long, value_name = "URL")]
    pub ping_url: Option<String>,
}

/// Run `run-worker`.
///
/// # Errors
/// Database errors (exit 1).
pub fn run(args: &Args, ctx: &Ctx) -> Result<i32> {
    let url = match &args.ping_url {
        Some(u) => Some(
            crate::config::validate_ping_url(u)
                .map_err(|e| coded(2, format!("--ping-url: {e:#}")))?,
        ),
        None => ctx.settings.ping_url.clone(),
    };
    let pinger = url.and_then(|u| match Pinger::new(&u, PING_TIMEOUT) {
        Ok(p) => Some(p),
        Err(e) => {
            ctx.out.warn(&e);
            None
        }
    });
    let ping = |kind: PingKind, body: &str| {
        if let Some(p) = &pinger {
            match p.send(kind, body) {
                Ok(status) => ctx.out.info(&format!(
                    "healthcheck ping{} sent (HTTP {status})",
                    kind.suffix()
                )),
                // A ping failure is reported but never fails the run.
                Err(e) => ctx.out.warn(&e),
            }
        }
    };
    ping(PingKind::Start, "");
    match run_inner(args, ctx) {
        Ok((code, body)) => {
            ping(
                if code == 0 {
                    PingKind::Success
                } else {
                    PingKind::Fail
                },
                &body,
            );
            Ok(code)
        }
        Err(e) => {
            ping(PingKind::Fail, &format!("run-worker failed: {e:#}\n"));
            Err(e)
        }
    }
}

/// The run; returns the exit code and the plain-text summary for the ping body.
fn run_inner(args: &Args, ctx: &Ctx) -> Result<(i32, String)> {
    let db = ctx.open_db()?;
    let db = db.as_ref();
    // On a terminal, say what the schedules and the inbox did; under cron only with -v.
    let tell = |text: &str| {
        if Printer::stdout_is_tty() && !ctx.out.json {
            ctx.out.line(text);
        } else {
            ctx.out.info(text);
        }
    };
    let cfg = WorkerConfig {
        batch: args.batch,
        platform: args.platform.map(|p| p.as_str().to_string()),
        lease_ms: args.lease.map_or(ctx.settings.queue.lease_ms, |s| {
            i64::try_from(s * 1000).unwrap_or(60_000)
        }),
        policy: ctx.settings.queue.retry.clone(),
        retention: ctx.settings.queue.retention.clone(),
        window: ctx.settings.queue.window,
        args: std::env::args().collect::<Vec<_>>().join(" "),
    };
    let mut announce = |fired: &[Fired], inbox: &[FileOutcome]| {
        for f in fired {
            tell(&format!(
                "schedule `{}`: {} sync job {}{}",
                f.name,
                f.platform,
                f.job_id,
                if f.deduplicated {
                    " (already pending)"
                } else {
                    " queued"
                }
            ));
        }
        for f in inbox {
            let line = super::import::describe(f, super::import::Source::Inbox);
            if f.status.needs_attention() {
                // Recorded by content hash, so this alert is sent once per file content.
                ctx.out.alert(&format!("inbox: {line}"));
            } else {
                tell(&format!("inbox: {line}"));
            }
        }
    };
    let interactive = Printer::stdout_is_tty();
    let out = ctx.out;
    let mut on_job = |j: &JobReport| {
        if j.status == JobState::Failed && !(interactive && !out.json && !out.quiet) {
            // Under cron this is the alert; with --json it stays on stderr too. On a terminal
            // the table below shows it (once), unless --quiet hides the table.
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
    let mut pass = ingest::run_pass(
        db,
        &ctx.settings,
        &ctx.open_options(),
        &cfg,
        ctx.out.progress_allowed(),
        &mut announce,
        &mut on_job,
    )?;
    let run_view = ingest::views::run_view(&pass);
    let ingest::Pass {
        fired,
        inbox,
        report,
    } = &mut pass;
    for w in &report.warnings {
        ctx.out.warn(w);
    }
    if ctx.out.json {
        ctx.out.json(&run_view);
    } else if report.jobs.is_empty() {
        // What is pending, so "nothing to do" is not mistaken for "nothing queued".
        let next = match db.next_due_job(cfg.platform.as_deref())? {
            Some((id, at)) => format!("; next: job {id} at {}", rfc3339(at)),
            None => "; none pending".to_string(),
        };
        let line = format!(
            "no due jobs{next} (run {}{})",
            report.run_id,
            if report.counts.rescued > 0 {
                format!(", rescued {}", report.counts.rescued)
            } else {
                String::new()
            }
        );
        if interactive {
            ctx.out.line(&line);
        } else {
            ctx.out.info(&line);
        }
    } else if interactive {
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
        let mut fits = [Fit::Whole; 8];
        fits[7] = Fit::Wrap(16);
        ctx.out.fitted_table(t, &fits, &[3, 5, 6]);
        let c = &report.counts;
        ctx.out.line(&format!(
            "run {}: {} claimed, {} completed, {} retrying, {} failed, {} rescued",
            report.run_id, c.claimed, c.completed, c.retrying, c.failed, c.rescued
        ));
    }
    Ok((report.exit_code, ping_body(report, fired, inbox)))
}

/// The healthcheck ping body: one summary line, then one line per schedule, inbox file, job
/// and warning.
fn ping_body(report: &RunReport, fired: &[Fired], inbox: &[FileOutcome]) -> String {
    let c = &report.counts;
    let mut out = format!(
        "salesingest run-worker on {}: run {}, exit {}: {} claimed, {} completed, {} retrying, {} failed, {} rescued\n",
        crate::queue::hostname(),
        report.run_id,
        report.exit_code,
        c.claimed,
        c.completed,
        c.retrying,
        c.failed,
        c.rescued
    );
    for f in fired {
        out.push_str(&format!(
            "schedule {}: {} sync job {}{}\n",
            f.name,
            f.platform,
            f.job_id,
            if f.deduplicated {
                " (already pending)"
            } else {
                ""
            }
        ));
    }
    for f in inbox {
        out.push_str(&format!(
            "inbox: {}\n",
            super::import::describe(f, super::import::Source::Inbox)
        ));
    }
    for j in &report.jobs {
        out.push_str(&format!(
            "job {} {} {} (attempt {}): {} inserted, {} updated, {} removed{}\n",
            j.id,
            j.platform,
            j.status,
            j.attempt,
            j.events.inserted,
            j.events.updated,
            j.events.removed,
            j.error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ));
    }
    for w in &report.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    out
}
