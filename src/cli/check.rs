//! `salesingest status --check`: data-freshness problems (and payouts overdue by the
//! platforms' schedules) for cron or a monitoring system.

use anyhow::Result;
use chrono::{Datelike, NaiveDate};

use super::{Ctx, EXIT_UNHEALTHY};
use crate::config::Settings;
use crate::output::{rfc3339, ProblemView};
use crate::queue::{now_ms, Millis};
use crate::store::Store;

/// Run the check: quiet and 0 when healthy, one line per problem and exit 6 otherwise.
///
/// # Errors
/// Database errors (exit 1).
pub fn run(ctx: &Ctx) -> Result<i32> {
    let db = ctx.open_existing_db()?;
    let db = db.as_ref();
    let problems = problems(db, &ctx.settings, now_ms())?;
    if ctx.out.json {
        ctx.out.json(&problems);
    } else {
        for p in &problems {
            // Always printed (even with --quiet): the output is the point of the check.
            ctx.out
                .alert_stdout(&format!("{}: {}", p.platform, p.message));
        }
    }
    Ok(if problems.is_empty() {
        0
    } else {
        EXIT_UNHEALTHY
    })
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
fn final_deadline(month: &str) -> Option<NaiveDate> {
    let first = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").ok()?;
    let (y, m) = if first.month() == 12 {
        (first.year() + 1, 1)
    } else {
        (first.year(), first.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_is_the_20th_of_the_next_month() {
        assert_eq!(
            final_deadline("2025-07"),
            NaiveDate::from_ymd_opt(2025, 8, 20)
        );
        assert_eq!(
            final_deadline("2025-12"),
            NaiveDate::from_ymd_opt(2026, 1, 20)
        );
        assert_eq!(final_deadline("July"), None);
    }
}
