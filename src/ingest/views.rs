//! The JSON objects the CLI's `--json` prints, built in one place so that `serve`'s API answers
//! with the same objects (DESIGN §3: their field names are a contract).

use anyhow::Result;
use chrono::{Datelike, NaiveDate};
use serde_json::json;

use super::{FileOutcome, Pass};
use crate::config::Settings;
use crate::model::JobInput;
use crate::model::{format_micros, Platform};
use crate::output::{
    rfc3339, rfc3339_opt, AttemptView, EnqueueView, EventsView, FileView, JobListView, LogView,
    OverviewView, ProblemView, RoyaltyView, RunJobView, RunView, ScheduledView, StatusView,
};
use crate::queue::{now_ms, owner_is_dead, CancelOutcome, JobState, Millis, RetryOutcome};
use crate::store::Store;

/// The `input` object shown to users: never a stored path or a secret.
pub fn input_view(input: &JobInput) -> serde_json::Value {
    match input {
        JobInput::File {
            file, sha256, size, ..
        } => {
            json!({"kind": "file", "file": file, "sha256": sha256, "size": size})
        }
        JobInput::Sync { since, until } => json!({
            "kind": "sync",
            "since": since.map(|d| d.to_string()),
            "until": until.map(|d| d.to_string()),
            "incremental": since.is_none() && until.is_none(),
        }),
        JobInput::Ping { file, sha256, .. } => {
            json!({"kind": "ping", "file": file, "sha256": sha256})
        }
    }
}

/// A stored job's `input` as shown to users (`null` when it does not decode).
pub fn stored_input_view(input: &str) -> serde_json::Value {
    serde_json::from_str::<JobInput>(input)
        .map(|i| input_view(&i))
        .unwrap_or(serde_json::Value::Null)
}

/// A job's state and due time (`completed` with no time when it is no longer stored).
///
/// # Errors
/// Database errors.
pub fn status_of(db: &dyn Store, id: i64) -> Result<(String, Option<i64>)> {
    Ok(db.job(id)?.map_or_else(
        || ("completed".to_string(), None),
        |j| (j.state, Some(j.run_at)),
    ))
}

/// `enqueue --json`'s object for a job just queued (or found pending: `deduplicated`).
///
/// # Errors
/// Database errors.
pub fn enqueue_view(
    db: &dyn Store,
    platform: &str,
    e: &crate::queue::Enqueued,
    run_at: Option<i64>,
    input: &JobInput,
) -> Result<EnqueueView> {
    let (status, due) = status_of(db, e.id)?;
    Ok(EnqueueView {
        id: e.id,
        platform: platform.to_string(),
        status,
        run_at: rfc3339(match due.or(run_at) {
            Some(t) => t,
            None => db.now()?,
        }),
        deduplicated: e.deduplicated,
        input: input_view(input),
    })
}

/// `status <id> --json`; `None` for an unknown id.
///
/// # Errors
/// Database errors.
pub fn status_view(db: &dyn Store, id: i64) -> Result<Option<StatusView>> {
    let Some(job) = db.job(id)? else {
        return Ok(None);
    };
    let attempts = db.attempts(id)?;
    let result = job
        .result
        .as_deref()
        .and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok());
    Ok(Some(StatusView {
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
        input: stored_input_view(&job.input),
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
    }))
}

/// `jobs --json`: newest first, filtered by state and platform names.
///
/// # Errors
/// Database errors.
pub fn job_list_view(
    db: &dyn Store,
    state: Option<&str>,
    platform: Option<&str>,
    limit: i64,
) -> Result<Vec<JobListView>> {
    Ok(db
        .jobs(state, platform, limit)?
        .iter()
        .map(|j| JobListView {
            id: j.id,
            platform: j.platform.clone(),
            status: j.state.clone(),
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            created_at: rfc3339(j.created_at),
            run_at: rfc3339(j.run_at),
            finished_at: rfc3339_opt(j.finished_at),
            last_error: j.last_error.clone(),
            input: stored_input_view(&j.input),
        })
        .collect())
}

/// `import --json`'s object for one file.
pub fn file_view(o: &FileOutcome) -> FileView {
    FileView {
        file: o.path.display().to_string(),
        sha256: o.sha256.clone(),
        platform: o.platform.map(|p| p.as_str().to_string()),
        layout: o.layout.clone(),
        period_start: o.period.map(|(a, _)| a.to_string()),
        period_end: o.period.map(|(_, b)| b.to_string()),
        rows: o.rows,
        status: o.status.as_str().to_string(),
        job_id: o.job_id,
        message: o.message.clone(),
    }
}

/// `run-worker --json`: the pass's summary.
pub fn run_view(pass: &Pass) -> RunView {
    let report = &pass.report;
    RunView {
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
        scheduled: pass
            .fired
            .iter()
            .map(|f| ScheduledView {
                name: f.name.clone(),
                platform: f.platform.as_str().to_string(),
                job_id: f.job_id,
                deduplicated: f.deduplicated,
            })
            .collect(),
        inbox: pass.inbox.iter().map(file_view).collect(),
    }
}

/// `status --json`: the per-platform overview.
///
/// # Errors
/// Database errors.
pub fn overview_view(db: &dyn Store) -> Result<Vec<OverviewView>> {
    let names: Vec<&str> = Platform::ALL.iter().map(|p| p.as_str()).collect();
    let rows = db.overview(&names)?;
    let totals = db.totals()?;
    Ok(rows
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
        .collect())
}

/// `logs --json`: the runs, newest first (`failed_only`: those with a failed job, an error
/// exit, or killed).
///
/// # Errors
/// Database errors.
pub fn log_view(db: &dyn Store, limit: i64, failed_only: bool) -> Result<Vec<LogView>> {
    let host = crate::queue::hostname();
    Ok(db
        .runs(limit, failed_only)?
        .into_iter()
        // `--failed` keeps killed runs, not those still running.
        .filter(|r| !failed_only || r.finished_at.is_some() || owner_is_dead(&r.owner, &host))
        .map(|r| {
            let state = if r.finished_at.is_some() {
                "finished"
            } else if owner_is_dead(&r.owner, &host) {
                "killed"
            } else {
                "running"
            };
            LogView {
                id: r.id,
                started_at: rfc3339(r.started_at),
                finished_at: rfc3339_opt(r.finished_at),
                host: r.host,
                pid: r.pid,
                claimed: r.claimed,
                completed: r.completed,
                retrying: r.retrying,
                failed: r.failed,
                rescued: r.rescued,
                exit_code: r.exit_code,
                state: state.to_string(),
            }
        })
        .collect())
}

/// Why `retry` or `cancel` did nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionError {
    /// No such job (exit 4, HTTP 404).
    NotFound(String),
    /// The job's state does not allow it (exit 7, HTTP 409).
    State(String),
}

/// `retry <id> --json`: revive a failed or cancelled job with `attempts` more attempts.
///
/// # Errors
/// Database errors; `Ok(Err(..))` when nothing was done.
pub fn retry(
    db: &dyn Store,
    id: i64,
    attempts: i64,
) -> Result<std::result::Result<serde_json::Value, ActionError>> {
    Ok(match db.revive(id, attempts)? {
        RetryOutcome::Revived => Ok(json!({"id": id, "status": "queued"})),
        RetryOutcome::NotFound => Err(ActionError::NotFound(format!(
            "no job with id {id}: see `salesingest jobs --status failed`"
        ))),
        RetryOutcome::NotFailed(s) => Err(ActionError::State(format!(
            "job {id} is {s}: only failed or cancelled jobs can be retried"
        ))),
        RetryOutcome::Duplicate(other) => Err(ActionError::State(format!(
            "job {other} already covers the same input and is pending: nothing to retry"
        ))),
    })
}

/// `cancel <id> --json`, with the sentence the CLI prints without `--json`.
///
/// # Errors
/// Database errors; `Ok(Err(..))` when nothing was done.
pub fn cancel(
    db: &dyn Store,
    id: i64,
) -> Result<std::result::Result<(serde_json::Value, String), ActionError>> {
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
            return Ok(Err(ActionError::NotFound(format!(
                "no job with id {id}: see `salesingest jobs`"
            ))))
        }
        CancelOutcome::AlreadyFinished(s) => {
            return Ok(Err(ActionError::State(format!(
                "job {id} is already {s}: nothing to cancel (its imported sales stay; a newer \
                 report of the same period replaces them)"
            ))))
        }
    };
    Ok(Ok((
        json!({"id": id, "status": status, "cancel_requested": status == "processing"}),
        msg,
    )))
}

/// Every problem found at `now`.
///
/// # Errors
/// Database errors.
pub fn problems(db: &dyn Store, settings: &Settings, now: Millis) -> Result<Vec<ProblemView>> {
    let mut out = Vec::new();
    let rows = db.schedule_rows()?;
    for s in &settings.schedules {
        let platform = s.platform.as_str();
        let limit = 2 * s.every_ms;
        let last = db.last_sync_success(platform)?;
        let row = rows.iter().find(|r| r.name == s.name);
        let message = match (last, row) {
            (Some(t), _) if now - t > limit => Some(format!(
                "last successful sync {} is older than twice the schedule period ({} × 2); see `salesingest jobs --platform {platform}`",
                rfc3339(t),
                s.every
            )),
            (Some(_), _) => None,
            (None, Some(r)) if now - r.first_enqueued_at > limit => Some(format!(
                "no successful sync since schedule `{}` started at {} (every {}); see `salesingest jobs --platform {platform}`",
                s.name,
                rfc3339(r.first_enqueued_at),
                s.every
            )),
            (None, Some(_)) => None,
            (None, None) => Some(format!(
                "schedule `{}` has never fired and nothing was ever synced: is `salesingest run-worker` in cron (or its systemd timer enabled)?",
                s.name
            )),
        };
        if let Some(message) = message {
            out.push(ProblemView {
                kind: "stale_sync".into(),
                platform: platform.to_string(),
                message,
                job_id: None,
                month: None,
            });
        }
    }
    for f in db.unresolved_failed_jobs()? {
        out.push(ProblemView {
            kind: "failed_job".into(),
            platform: f.platform.clone(),
            message: format!(
                "job {} failed at {}: {}; fix the cause, then `salesingest retry {}` (or `salesingest cancel {}` to dismiss it)",
                f.id,
                rfc3339(f.finished_at),
                f.last_error.as_deref().unwrap_or("unknown error"),
                f.id,
                f.id
            ),
            job_id: Some(f.id),
            month: None,
        });
    }
    let today = chrono::DateTime::from_timestamp_millis(now)
        .map(|t| t.date_naive())
        .unwrap_or_default();
    for month in db.kdp_months_without_final()? {
        if let Some(deadline) = final_deadline(&month) {
            if today > deadline {
                out.push(ProblemView {
                    kind: "kdp_not_final".into(),
                    platform: "amazon_kdp".into(),
                    message: format!(
                        "{month} has estimates but no final report (Prior Months' Royalties) although it was due by {deadline}: download it from KDP Reports and import it"
                    ),
                    job_id: None,
                    month: Some(month),
                });
            }
        }
    }
    // Royalty a platform's published schedule says should have been paid by now, for the
    // platforms whose payouts are imported (src/payouts.rs).
    for p in crate::payouts::overdue(db, today)? {
        for u in p.unpaid.iter().filter(|u| u.overdue) {
            let market = if u.marketplace.is_empty() {
                String::new()
            } else {
                format!(" on {}", u.marketplace)
            };
            out.push(ProblemView {
                kind: "payout_overdue".into(),
                platform: p.platform.clone(),
                message: format!(
                    "{} {} earned in {}{market} is not paid although it was due by {} ({}): import the platform's latest payment report, or ask the platform; see `salesingest sales payouts --platform {}`",
                    u.earned,
                    u.currency,
                    u.month,
                    u.due_on.as_deref().unwrap_or(""),
                    p.schedule,
                    p.platform
                ),
                job_id: None,
                month: Some(u.month.clone()),
            });
        }
    }
    Ok(out)
}

/// The 20th of the month after `YYYY-MM`: by then KDP's final report for that month is out.
pub(crate) fn final_deadline(month: &str) -> Option<NaiveDate> {
    let first = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").ok()?;
    let (y, m) = if first.month() == 12 {
        (first.year() + 1, 1)
    } else {
        (first.year(), first.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 20)
}

/// `status --check --json` now: every problem (empty when healthy).
///
/// # Errors
/// Database errors.
pub fn check_view(db: &dyn Store, settings: &Settings) -> Result<Vec<ProblemView>> {
    problems(db, settings, now_ms())
}

/// One exported event, unconverted (`sales export`).
pub fn export_record(e: &crate::store::EventRow) -> crate::output::ExportRecord<'_> {
    crate::output::ExportRecord {
        platform: &e.platform,
        source: &e.source,
        period_start: &e.period_start,
        period_end: &e.period_end,
        month: &e.month,
        title: &e.title,
        product_id: &e.product_id,
        format: &e.format,
        marketplace: &e.marketplace,
        retailer: &e.retailer,
        country: &e.country,
        units: e.units,
        kenp_pages: e.kenp_pages,
        list_price: e.list_price_micros.map(|m| format_micros(m, &e.currency)),
        royalty: format_micros(e.royalty_micros, &e.currency),
        currency: &e.currency,
        is_final: e.is_final,
        status: &e.status,
        job_id: e.job_id,
        raw: &e.raw,
        converted_royalty: None,
        converted_currency: None,
        rate: None,
        rate_date: None,
    }
}

/// The rows of a summary and each row's (currency, totals).
pub type SummaryGroups = (
    Vec<crate::output::SummaryRowView>,
    Vec<(String, crate::report::Totals)>,
);

/// `sales summary --json` without conversion: one row per group of `dims` (with the currency,
/// always), and the totals per currency.
///
/// # Errors
/// Database errors.
pub fn summary_groups(
    db: &dyn Store,
    filter: &crate::store::ReportFilter,
    dims: &[crate::store::Dim],
) -> Result<SummaryGroups> {
    use crate::store::Dim;
    let key_dims: Vec<Dim> = dims
        .iter()
        .copied()
        .filter(|d| *d != Dim::Currency)
        .collect();
    let mut rows = Vec::new();
    let mut totals = Vec::new();
    for g in db.sales_groups(filter, dims)? {
        let t = crate::report::Totals {
            events: g.events,
            units: g.units,
            kenp_pages: g.kenp_pages,
            royalty_micros: g.royalty_micros,
            all_final: g.all_final,
            rates: Vec::new(),
        };
        totals.push((g.currency.clone(), t));
        rows.push(crate::output::SummaryRowView {
            keys: key_dims
                .iter()
                .zip(&g.keys)
                .map(|(d, v)| (d.name().to_string(), v.clone()))
                .collect(),
            royalty: format_micros(g.royalty_micros, &g.currency),
            currency: g.currency,
            source_currency: None,
            units: g.units,
            kenp_pages: g.kenp_pages,
            events: g.events,
            is_final: g.all_final,
            rates: None,
        });
    }
    Ok((rows, totals))
}
