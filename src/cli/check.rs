//! `salesingest status --check`: data-freshness problems (and payouts overdue by the
//! platforms' schedules) for cron or a monitoring system.

use anyhow::Result;

use super::{Ctx, EXIT_UNHEALTHY};
use crate::config::Settings;
use crate::output::ProblemView;
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
    crate::ingest::views::problems(db, settings, now)
}

#[cfg(test)]
mod tests {
    use crate::ingest::views::final_deadline;
    use chrono::NaiveDate;

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
