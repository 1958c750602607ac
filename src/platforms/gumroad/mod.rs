//! Gumroad: the HTTP API v2 sales sync (`api`) and the Ping (webhook) parser (`ping`).
//!
//! `price` and `gumroad_fee` are USD cents whatever the product currency; royalty =
//! `price - gumroad_fee` in USD; units = `quantity`. Refunds are state, not rows: a sale that is
//! `refunded` or `chargedback` keeps its natural key (`gumroad:sale:<id>`) and counts zero units
//! and zero royalty, so a re-sync updates it in place (the original numbers stay in `raw`).
//! `partially_refunded` sales keep their full numbers: the refunded part is only known in the
//! product currency, never in USD (FORMATS §3.7).
//!
//! Owns: planning the date windows of a sync, talking to `GET /v2/sales`, turning sale objects
//! and Ping bodies into `SaleEvent`s. Must not: write SQL, print, read the environment, read
//! the clock to plan (the caller passes `today`; only a `Retry-After` HTTP date is compared with
//! the current time), or let the access token reach a URL, a log or an error.

mod api;
mod ping;

pub use api::{parse_page, retry_after, sync, Client, Page, PageSink, SyncSummary};
pub use ping::{parse_ping, MAX_PING_BYTES};

use std::fmt;

use chrono::{Datelike, Days, NaiveDate};

use crate::model::{Format, Platform, SaleEvent};

/// The production API base URL. The caller may override it (tests use a local server).
pub const DEFAULT_BASE_URL: &str = "https://api.gumroad.com";

/// How many days before the stored cursor an incremental sync starts again, to pick up refunds
/// and chargebacks of recent sales.
pub const DEFAULT_TRAILING_DAYS: u32 = 30;

/// Where a first sync without dates starts by default: Gumroad launched in 2011.
///
/// A first sync from here fetches one calendar month per window, about 190 windows (requests)
/// for a seller with no sales in most of them. That is acceptable once, but callers should pass
/// a later date from the configuration when the seller knows when they started selling.
pub fn default_first_sync_start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2011, 1, 1).unwrap_or(NaiveDate::MIN)
}

/// One `/v2/sales` query window: `after` inclusive, `before` exclusive (the API compares
/// `created_at >= after` and `created_at < before`, at 00:00 UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub after: NaiveDate,
    pub before: NaiveDate,
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{} (before exclusive)", self.after, self.before)
    }
}

/// The windows a sync covers, oldest first, one calendar month (or part of one) each.
///
/// Pure. The range is:
/// - start: `since` when given; else `cursor - trailing_days` (re-reading a trailing window to
///   pick up refunds); else, on a first sync, `first_sync_start` (see
///   [`default_first_sync_start`]; pass the configured value when there is one).
/// - end (exclusive): the day after `until` (the user's `--until` is inclusive), else the day
///   after `today`. Never later than the day after `today`, so a cursor stored from a window's
///   `before` never runs ahead of what was actually read.
///
/// The start is never before `first_sync_start` when it comes from the cursor (the trailing
/// re-read stops there), and never before Gumroad's launch ([`default_first_sync_start`]).
/// An empty range (start on or after end) gives no windows.
pub fn plan_windows(
    since: Option<NaiveDate>,
    until: Option<NaiveDate>,
    cursor: Option<NaiveDate>,
    today: NaiveDate,
    trailing_days: u32,
    first_sync_start: NaiveDate,
) -> Vec<Window> {
    let start = match (since, cursor) {
        (Some(since), _) => since,
        (None, Some(cursor)) => cursor
            .checked_sub_days(Days::new(u64::from(trailing_days)))
            .unwrap_or(NaiveDate::MIN)
            .max(first_sync_start),
        (None, None) => first_sync_start,
    };
    // Nothing was sold on Gumroad before it launched: never plan thousands of empty windows.
    let start = start.max(default_first_sync_start());
    let tomorrow = today.succ_opt().unwrap_or(today);
    let end = match until {
        Some(until) => until.succ_opt().unwrap_or(until).min(tomorrow),
        None => tomorrow,
    };
    let mut windows = Vec::new();
    let mut after = start;
    while after < end {
        let next_month = first_of_next_month(after).unwrap_or(end);
        let before = next_month.min(end);
        windows.push(Window { after, before });
        after = before;
    }
    windows
}

fn first_of_next_month(d: NaiveDate) -> Option<NaiveDate> {
    if d.month() == 12 {
        NaiveDate::from_ymd_opt(d.year().checked_add(1)?, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1)
    }
}

/// The fields of one sale, validated, common to the API and the Ping.
#[derive(Debug, Clone)]
struct Sale {
    id: String,
    date: NaiveDate,
    title: String,
    product_id: String,
    country: String,
    quantity: i64,
    price_cents: i64,
    fee_cents: i64,
    refunded: bool,
    chargedback: bool,
    partially_refunded: bool,
}

/// Micro-units per cent.
const MICROS_PER_CENT: i64 = 10_000;

impl Sale {
    /// The normalised event. `Err(field)` names the field whose value overflows.
    fn into_event(self, source: &str, raw: String) -> Result<SaleEvent, &'static str> {
        let list = self
            .price_cents
            .checked_mul(MICROS_PER_CENT)
            .ok_or("price")?;
        let royalty = self
            .price_cents
            .checked_sub(self.fee_cents)
            .and_then(|c| c.checked_mul(MICROS_PER_CENT))
            .ok_or("gumroad_fee")?;
        let (status, units, royalty) = if self.refunded {
            ("refunded", 0, 0)
        } else if self.chargedback {
            ("chargedback", 0, 0)
        } else if self.partially_refunded {
            ("partially_refunded", self.quantity, royalty)
        } else {
            ("", self.quantity, royalty)
        };
        Ok(SaleEvent {
            platform: Platform::Gumroad,
            family: "gumroad".to_string(),
            source: source.to_string(),
            natural_key: Some(format!("gumroad:sale:{}", self.id)),
            period_start: self.date,
            period_end: self.date,
            title: self.title,
            product_id: self.product_id,
            format: Format::Digital,
            marketplace: "gumroad".to_string(),
            retailer: "Gumroad".to_string(),
            country: self.country.to_ascii_uppercase(),
            units,
            kenp_pages: 0,
            list_price_micros: Some(list),
            royalty_micros: royalty,
            currency: "USD".to_string(),
            is_final: true,
            status: status.to_string(),
            raw,
            raw_layout: None,
            line: 0,
        })
    }
}

/// Parse an RFC 3339 timestamp to its UTC date.
fn utc_date(text: &str) -> Option<NaiveDate> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc).date_naive())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn w(a: &str, b: &str) -> Window {
        Window {
            after: d(a),
            before: d(b),
        }
    }

    #[test]
    fn since_until_split_by_month_with_exclusive_before() {
        let got = plan_windows(
            Some(d("2025-06-15")),
            Some(d("2025-08-31")),
            None,
            d("2025-10-01"),
            30,
            default_first_sync_start(),
        );
        assert_eq!(
            got,
            vec![
                w("2025-06-15", "2025-07-01"),
                w("2025-07-01", "2025-08-01"),
                w("2025-08-01", "2025-09-01"),
            ]
        );
    }

    #[test]
    fn until_is_inclusive_single_day() {
        let got = plan_windows(
            Some(d("2025-08-14")),
            Some(d("2025-08-14")),
            None,
            d("2025-10-01"),
            30,
            default_first_sync_start(),
        );
        assert_eq!(got, vec![w("2025-08-14", "2025-08-15")]);
    }

    #[test]
    fn incremental_rereads_trailing_window_up_to_tomorrow() {
        let got = plan_windows(
            None,
            None,
            Some(d("2025-08-20")),
            d("2025-09-10"),
            30,
            d("2011-01-01"),
        );
        assert_eq!(
            got,
            vec![
                w("2025-07-21", "2025-08-01"),
                w("2025-08-01", "2025-09-01"),
                w("2025-09-01", "2025-09-11")
            ]
        );
        let none_trailing = plan_windows(
            None,
            None,
            Some(d("2025-09-10")),
            d("2025-09-10"),
            0,
            d("2011-01-01"),
        );
        assert_eq!(none_trailing, vec![w("2025-09-10", "2025-09-11")]);
    }

    #[test]
    fn first_sync_goes_month_by_month_from_start() {
        let got = plan_windows(
            None,
            None,
            None,
            d("2011-03-05"),
            30,
            default_first_sync_start(),
        );
        assert_eq!(
            got,
            vec![
                w("2011-01-01", "2011-02-01"),
                w("2011-02-01", "2011-03-01"),
                w("2011-03-01", "2011-03-06")
            ]
        );
        let long = plan_windows(
            None,
            None,
            None,
            d("2025-10-15"),
            30,
            default_first_sync_start(),
        );
        // 2011-01 ..= 2025-10: 14 whole years and 10 months.
        assert_eq!(long.len(), 14 * 12 + 10);
        assert_eq!(long.first(), Some(&w("2011-01-01", "2011-02-01")));
        assert_eq!(long.last(), Some(&w("2025-10-01", "2025-10-16")));
        // Contiguous, no gaps or overlaps.
        for pair in long.windows(2) {
            assert_eq!(pair[0].before, pair[1].after);
        }
    }

    #[test]
    fn year_boundary_and_since_beats_cursor() {
        let got = plan_windows(
            Some(d("2024-12-20")),
            None,
            Some(d("2025-06-01")),
            d("2025-01-02"),
            30,
            d("2011-01-01"),
        );
        assert_eq!(
            got,
            vec![w("2024-12-20", "2025-01-01"), w("2025-01-01", "2025-01-03")]
        );
    }

    #[test]
    fn future_until_is_capped_and_empty_ranges_give_nothing() {
        let got = plan_windows(
            Some(d("2025-09-01")),
            Some(d("2030-01-01")),
            None,
            d("2025-09-02"),
            30,
            d("2011-01-01"),
        );
        assert_eq!(got, vec![w("2025-09-01", "2025-09-03")]);
        assert!(plan_windows(
            Some(d("2025-09-05")),
            Some(d("2025-09-01")),
            None,
            d("2025-10-01"),
            30,
            d("2011-01-01")
        )
        .is_empty());
        assert!(plan_windows(
            Some(d("2026-01-01")),
            None,
            None,
            d("2025-10-01"),
            30,
            d("2011-01-01")
        )
        .is_empty());
    }

    #[test]
    fn start_is_clamped_to_first_sync_start_and_gumroad_launch() {
        let got = plan_windows(
            None,
            None,
            Some(d("2025-08-20")),
            d("2025-08-25"),
            30,
            d("2025-08-10"),
        );
        assert_eq!(got, vec![w("2025-08-10", "2025-08-26")]);
        let huge = plan_windows(
            None,
            None,
            Some(d("2011-02-10")),
            d("2011-02-11"),
            u32::MAX,
            d("1900-01-01"),
        );
        assert_eq!(
            huge,
            vec![w("2011-01-01", "2011-02-01"), w("2011-02-01", "2011-02-12")]
        );
        let early = plan_windows(
            Some(d("1999-05-05")),
            Some(d("2011-01-31")),
            None,
            d("2025-01-01"),
            30,
            d("2011-01-01"),
        );
        assert_eq!(early, vec![w("2011-01-01", "2011-02-01")]);
    }

    #[test]
    fn window_display_says_before_is_exclusive() {
        assert_eq!(
            w("2025-08-01", "2025-09-01").to_string(),
            "2025-08-01..2025-09-01 (before exclusive)"
        );
    }
}
