//! What was earned against what was paid (`sales payouts`, and `status --check`'s overdue
//! payouts): each stored payout matched to the final royalty of the sales periods it pays, and
//! per platform the final royalty no payout covers yet, with the date the platform's published
//! schedule says it is due (FORMATS §14.9). The schedule table is here and nowhere else.
//!
//! Rules:
//! - A payout pays its stated sales period (KDP's `Sales Period`, a statement's rows); one
//!   without a period (Smashwords' `payment` rows, which pay the balance) pays the days after
//!   the platform's previous payout in the same currency, up to its own date.
//! - Earned = the final effective royalty of the platform's events whose period ends inside
//!   that period, in the payout's royalty currency, and of its marketplace when it names one
//!   (KDP pays per marketplace). Difference = what was paid before conversion (KDP `Net
//!   Earnings`) − earned: withholding, adjustments, and sales the store does not hold.
//! - Unpaid: per month (× marketplace for KDP) and currency, final royalty > 0 that no payout's
//!   period covers. It is overdue once its due date has passed, but only where payouts are
//!   tracked: for a platform with at least one payout stored (in that currency, unless one
//!   report lists all the platform's payments as KDP's does) and a month on or after the first
//!   period those payouts cover (payments never imported are never flagged), and not while the
//!   platform's unpaid total in the minimum's currency is below its minimum payment.

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::{Datelike, Duration, NaiveDate};
use serde::Serialize;

use crate::model::{format_micros, iso_date, Platform};
use crate::store::{Dim, PayoutFilter, PayoutRow, ReportFilter, Store};

/// When a month's royalty is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// This many days after the last day of the month.
    DaysAfterMonthEnd(i64),
    /// On `day` of the month `months` after it (Kobo: the 15th, 2 months on).
    DayOfMonth { months: u32, day: u32 },
    /// On `day` of the month after the end of its calendar quarter (StreetLib outside the US).
    AfterQuarter { day: u32 },
}

/// A platform's published payment schedule.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub due: Option<Due>,
    /// The rule in words, as FORMATS §14.9 gives it.
    pub rule: &'static str,
    /// Whether the platform pays each marketplace separately.
    pub per_marketplace: bool,
    /// The smallest payment, below which the balance is carried over: (currency, micros).
    pub minimum: Option<(&'static str, i64)>,
}

/// The schedule of `platform` (FORMATS §14.9).
pub fn schedule(platform: Platform) -> Schedule {
    let s = |due, rule, minimum| Schedule {
        due,
        rule,
        per_marketplace: false,
        minimum,
    };
    match platform {
        Platform::AmazonKdp => Schedule {
            due: Some(Due::DaysAfterMonthEnd(60)),
            rule: "about 60 days after the end of the month, per marketplace",
            per_marketplace: true,
            minimum: None,
        },
        Platform::Kobo => s(
            Some(Due::DayOfMonth { months: 2, day: 15 }),
            "45 days after the end of the month, on the 15th (January is paid on 15 March), once CAD 50 is reached",
            Some(("CAD", 50_000_000)),
        ),
        Platform::GooglePlay => s(
            Some(Due::DayOfMonth { months: 1, day: 28 }),
            "monthly, per payment profile, in the month after the sales",
            None,
        ),
        Platform::AppleBooks => s(
            Some(Due::DaysAfterMonthEnd(33)),
            "about 33 days after the end of each fiscal month, per region",
            None,
        ),
        Platform::BarnesNoble => s(
            Some(Due::DaysAfterMonthEnd(60)),
            "about 60 days after the month closes, once USD 10 is reached",
            Some(("USD", 10_000_000)),
        ),
        Platform::Ingramspark => s(
            Some(Due::DaysAfterMonthEnd(90)),
            "90 days after the end of the month the sales are reported in",
            None,
        ),
        Platform::Streetlib => s(
            Some(Due::AfterQuarter { day: 5 }),
            "monthly (US, Canada) or quarterly (elsewhere, around the 5th after the quarter)",
            None,
        ),
        Platform::Draft2digital => s(
            Some(Due::DayOfMonth { months: 1, day: 15 }),
            "by the 15th of the following month, once USD 10 is reached",
            Some(("USD", 10_000_000)),
        ),
        Platform::Smashwords => s(
            None,
            "as the report's payment rows show (no published schedule)",
            None,
        ),
        Platform::Gumroad => s(None, "no schedule known", None),
    }
}

/// The last day of the month `months` after the month of `d`, or its `day`.
fn month_after(d: NaiveDate, months: u32, day: Option<u32>) -> Option<NaiveDate> {
    let total = d.year() * 12 + d.month0() as i32 + months as i32;
    let (y, m) = (total.div_euclid(12), total.rem_euclid(12) as u32 + 1);
    match day {
        Some(day) => NaiveDate::from_ymd_opt(y, m, day),
        None => {
            let next = y * 12 + m as i32;
            NaiveDate::from_ymd_opt(next.div_euclid(12), next.rem_euclid(12) as u32 + 1, 1)?
                .pred_opt()
        }
    }
}

/// When the royalty of the month holding `month_end` is due on `platform`, if it has a schedule.
pub fn due_date(platform: Platform, month_end: NaiveDate) -> Option<NaiveDate> {
    let end = month_after(month_end, 0, None)?;
    match schedule(platform).due? {
        Due::DaysAfterMonthEnd(n) => end.checked_add_signed(Duration::days(n)),
        Due::DayOfMonth { months, day } => month_after(end, months, Some(day)),
        Due::AfterQuarter { day } => {
            let to_quarter_end = 2 - end.month0() % 3;
            month_after(end, to_quarter_end + 1, Some(day))
        }
    }
}

/// One payout, matched.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PayoutView {
    pub paid_on: String,
    pub reference: String,
    pub source: String,
    pub marketplace: String,
    /// What was paid, in `currency`.
    pub amount: String,
    pub currency: String,
    /// The sales periods it pays (`period_start` null: from the beginning).
    pub period_start: Option<String>,
    pub period_end: Option<String>,
    /// Whether the period is the report's own (else derived from the previous payout).
    pub period_stated: bool,
    pub royalty_currency: String,
    pub accrued: Option<String>,
    pub withholding: Option<String>,
    pub adjustments: Option<String>,
    /// What was paid before conversion, in `royalty_currency`.
    pub net: String,
    pub fx_rate: Option<String>,
    pub status: String,
    /// The final royalty the store holds for the period, in `royalty_currency`.
    pub earned: String,
    /// `net` − `earned`.
    pub difference: String,
    #[serde(skip)]
    pub difference_micros: i64,
}

/// Final royalty that no payout covers yet.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UnpaidView {
    pub month: String,
    /// The marketplace (KDP), else empty.
    pub marketplace: String,
    pub currency: String,
    pub earned: String,
    /// When the schedule says it is due (null: no published schedule).
    pub due_on: Option<String>,
    pub overdue: bool,
    #[serde(skip)]
    pub earned_micros: i64,
}

/// One platform's payouts and unpaid royalty.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PlatformPayouts {
    pub platform: String,
    pub schedule: String,
    pub payouts: Vec<PayoutView>,
    pub unpaid: Vec<UnpaidView>,
}

fn date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// The period a payout pays: its own, or from the day after the platform's previous payout in
/// the same royalty currency to its date.
fn periods(rows: &[PayoutRow]) -> Vec<(Option<String>, Option<String>, bool)> {
    let mut last: BTreeMap<&str, &str> = BTreeMap::new();
    rows.iter()
        .map(|p| {
            let out = match (&p.period_start, &p.period_end) {
                (Some(s), Some(e)) => (Some(s.clone()), Some(e.clone()), true),
                _ => {
                    let start = last
                        .get(p.royalty_currency.as_str())
                        .and_then(|d| date(d))
                        .and_then(|d| d.succ_opt())
                        .map(iso_date);
                    (start, Some(p.paid_on.clone()), false)
                }
            };
            last.insert(p.royalty_currency.as_str(), p.paid_on.as_str());
            out
        })
        .collect()
}

/// The report for every platform with payouts or final royalty the filter keeps, at `today`.
/// `filter` picks payouts by payment date; unpaid months are those whose last day lies in the
/// same range.
///
/// # Errors
/// Database errors.
pub fn reconcile(
    db: &dyn Store,
    filter: &PayoutFilter,
    today: NaiveDate,
) -> Result<Vec<PlatformPayouts>> {
    reconcile_with(db, filter, today, false)
}

/// What `status --check` needs: the report of the platforms with payouts only (no other can
/// be overdue), so that a store without payouts costs one query.
///
/// # Errors
/// Database errors.
pub fn overdue(db: &dyn Store, today: NaiveDate) -> Result<Vec<PlatformPayouts>> {
    reconcile_with(db, &PayoutFilter::default(), today, true)
}

fn reconcile_with(
    db: &dyn Store,
    filter: &PayoutFilter,
    today: NaiveDate,
    tracked_only: bool,
) -> Result<Vec<PlatformPayouts>> {
    // Every payout of the platform is needed to derive periods and cover months; the filter
    // only decides which are listed.
    let all = db.payouts(&PayoutFilter {
        platforms: filter.platforms.clone(),
        ..PayoutFilter::default()
    })?;
    let platforms: Vec<Platform> = Platform::ALL
        .iter()
        .copied()
        .filter(|p| filter.platforms.is_empty() || filter.platforms.iter().any(|f| f == p.as_str()))
        .collect();
    let mut out = Vec::new();
    for platform in platforms {
        let name = platform.as_str();
        let sched = schedule(platform);
        let rows: Vec<PayoutRow> = all.iter().filter(|r| r.platform == name).cloned().collect();
        if tracked_only && rows.is_empty() {
            continue;
        }
        let spans = periods(&rows);
        let mut views = Vec::new();
        for (row, (start, end, stated)) in rows.iter().zip(&spans) {
            // `status --check` needs the unpaid months only.
            if tracked_only || !filter.keeps(row) {
                continue;
            }
            // By marketplace only when the payout names one: the rollup (platform, month,
            // currency) answers the rest without reading events.
            let dim = if row.marketplace.is_empty() {
                Dim::Platform
            } else {
                Dim::Marketplace
            };
            let groups = db.sales_groups(
                &ReportFilter {
                    since: start.clone(),
                    until: end.clone(),
                    platforms: vec![name.to_string()],
                    final_only: true,
                },
                &[dim],
            )?;
            let earned: i64 = groups
                .iter()
                .filter(|g| g.currency == row.royalty_currency)
                .filter(|g| dim == Dim::Platform || g.keys[0] == row.marketplace)
                .map(|g| g.royalty_micros)
                .fold(0i64, i64::saturating_add);
            let difference = row.net_micros.saturating_sub(earned);
            let m = |v: i64| format_micros(v, &row.royalty_currency);
            views.push(PayoutView {
                paid_on: row.paid_on.clone(),
                reference: row.reference.clone(),
                source: row.source.clone(),
                marketplace: row.marketplace.clone(),
                amount: format_micros(row.amount_micros, &row.currency),
                currency: row.currency.clone(),
                period_start: start.clone(),
                period_end: end.clone(),
                period_stated: *stated,
                royalty_currency: row.royalty_currency.clone(),
                accrued: row.accrued_micros.map(m),
                withholding: row.withholding_micros.map(m),
                adjustments: row.adjustments_micros.map(m),
                net: m(row.net_micros),
                fx_rate: row.fx_rate.clone(),
                status: row.status.clone(),
                earned: m(earned),
                difference: m(difference),
                difference_micros: difference,
            });
        }
        // Unpaid: final royalty per month (× marketplace) and currency no payout covers.
        let groups = db.sales_groups(
            &ReportFilter {
                since: filter.since.clone(),
                until: filter.until.clone(),
                platforms: vec![name.to_string()],
                final_only: true,
            },
            if sched.per_marketplace {
                &[Dim::Month, Dim::Marketplace]
            } else {
                &[Dim::Month]
            },
        )?;
        let mut earned: BTreeMap<(String, String, String), i64> = BTreeMap::new();
        for g in &groups {
            let market = if sched.per_marketplace {
                g.keys[1].clone()
            } else {
                String::new()
            };
            let e = earned
                .entry((g.keys[0].clone(), market, g.currency.clone()))
                .or_insert(0);
            *e = e.saturating_add(g.royalty_micros);
        }
        // From when payouts are tracked: per platform when one report lists every payment
        // (KDP's Payments report, all marketplaces), else per currency (Google Play writes one
        // earnings report per payment profile).
        let tracked_from = |currency: &str| -> Option<String> {
            rows.iter()
                .zip(&spans)
                .filter(|(p, _)| sched.per_marketplace || p.royalty_currency == currency)
                .map(|(_, (s, _, _))| s.clone().unwrap_or_default())
                .min()
        };
        let mut unpaid = Vec::new();
        for ((month, market, currency), micros) in earned {
            if micros <= 0 {
                continue;
            }
            let Some(first) = date(&format!("{month}-01")) else {
                continue;
            };
            let last = month_after(first, 0, None).unwrap_or(first);
            let (first_s, last_s) = (iso_date(first), iso_date(last));
            let covered = rows.iter().zip(&spans).any(|(p, (s, e, _))| {
                p.royalty_currency == currency
                    && (p.marketplace.is_empty()
                        || !sched.per_marketplace
                        || p.marketplace == market)
                    && s.as_ref().is_none_or(|s| *s <= last_s)
                    && e.as_ref().is_none_or(|e| *e >= first_s)
            });
            if covered {
                continue;
            }
            let due = due_date(platform, last);
            let overdue = due.is_some_and(|d| d < today)
                && tracked_from(&currency).is_some_and(|t| last_s >= t);
            unpaid.push(UnpaidView {
                month,
                marketplace: market,
                earned: format_micros(micros, &currency),
                currency,
                due_on: due.map(iso_date),
                overdue,
                earned_micros: micros,
            });
        }
        if let Some((cur, min)) = sched.minimum {
            let total: i64 = unpaid
                .iter()
                .filter(|u| u.currency == cur)
                .map(|u| u.earned_micros)
                .fold(0, i64::saturating_add);
            if total < min {
                for u in unpaid.iter_mut().filter(|u| u.currency == cur) {
                    u.overdue = false;
                }
            }
        }
        if views.is_empty() && unpaid.is_empty() {
            continue;
        }
        out.push(PlatformPayouts {
            platform: name.to_string(),
            schedule: sched.rule.to_string(),
            payouts: views,
            unpaid,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn due_dates_follow_each_published_schedule() {
        let cases = [
            (Platform::AmazonKdp, "2025-07-31", Some("2025-09-29")),
            (Platform::AmazonKdp, "2025-07-15", Some("2025-09-29")),
            (Platform::Kobo, "2025-01-31", Some("2025-03-15")),
            (Platform::Kobo, "2025-11-30", Some("2026-01-15")),
            (Platform::Ingramspark, "2025-07-31", Some("2025-10-29")),
            (Platform::AppleBooks, "2025-06-28", Some("2025-08-02")),
            (Platform::Draft2digital, "2025-12-31", Some("2026-01-15")),
            (Platform::Streetlib, "2025-08-31", Some("2025-10-05")),
            (Platform::Streetlib, "2025-09-30", Some("2025-10-05")),
            (Platform::Streetlib, "2025-12-31", Some("2026-01-05")),
            (Platform::Smashwords, "2025-07-31", None),
        ];
        for (p, end, want) in cases {
            assert_eq!(due_date(p, d(end)), want.map(d), "{p:?} {end}");
        }
    }

    #[test]
    fn a_payout_without_a_period_pays_since_the_previous_one() {
        let row = |paid: &str, cur: &str| PayoutRow {
            platform: "smashwords".into(),
            source: "smashwords.payment".into(),
            reference: "1".into(),
            paid_on: paid.into(),
            amount_micros: 1,
            currency: cur.into(),
            period_start: None,
            period_end: None,
            marketplace: String::new(),
            royalty_currency: cur.into(),
            accrued_micros: None,
            withholding_micros: None,
            adjustments_micros: None,
            net_micros: 1,
            fx_rate: None,
            status: "paid".into(),
            import_id: None,
        };
        let spans = periods(&[
            row("2011-02-03", "USD"),
            row("2011-03-01", "EUR"),
            row("2011-05-01", "USD"),
        ]);
        assert_eq!(spans[0], (None, Some("2011-02-03".into()), false));
        assert_eq!(spans[1], (None, Some("2011-03-01".into()), false));
        assert_eq!(
            spans[2],
            (Some("2011-02-04".into()), Some("2011-05-01".into()), false)
        );
    }
}
