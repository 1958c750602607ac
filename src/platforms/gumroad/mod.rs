//! Gumroad: the HTTP API v2 sales sync (`api`), the Ping (webhook) parser (`ping`) and the
//! dashboard's Sales CSV export (`web_csv`), all three giving the same event for a sale.
//!
//! `price` and `gumroad_fee` are USD cents whatever the product currency; royalty =
//! `price - gumroad_fee` in USD; units = `quantity`. Refunds are state, not rows: a sale that is
//! `refunded` or `chargedback` keeps its natural key (`gumroad:sale:<id>`) and counts zero units
//! and zero royalty, so a re-sync updates it in place (the original numbers stay in `raw`).
//! A `partially_refunded` sale keeps the share of its royalty that was not refunded:
//! `amount_refundable_in_currency` against its price in the product currency (USD cents for
//! `$`, else `formatted_total_price`), rounded down to the cent as Gumroad does; when that share
//! cannot be derived the sale keeps its full royalty and the job warns, naming it. A Ping with
//! `test=true` (the seller buying their own product) is never counted.
//!
//! Buyers' personal data (e-mail, names, addresses, IP, card, custom fields, license keys…)
//! never leaves this module: an event's `raw` keeps only the allow-listed fields of `privacy`,
//! and a Ping is stored scrubbed the same way.
//!
//! Owns: planning the date windows of a sync, talking to `GET /v2/sales`, turning sale objects
//! and Ping bodies into `SaleEvent`s. Must not: write SQL, print, read the environment, read
//! the clock to plan (the caller passes `today`; only a `Retry-After` HTTP date is compared with
//! the current time), or let the access token reach a URL, a log or an error.

mod api;
mod ping;
pub mod privacy;
pub mod web_csv;

pub use api::{
    fetch_sale, parse_page, retry_after, sync, Client, Page, PageSink, SyncSummary,
    MAX_SYNC_WARNINGS,
};
pub use ping::{parse_ping, parse_ping_opts, ParsedPing, MAX_PING_BYTES};

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
    /// What the seller keeps of a partly refunded sale.
    kept: Kept,
}

/// The part of its price a sale keeps after partial refunds (FORMATS §3.3, §3.7).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kept {
    /// Not partly refunded: all of it.
    All,
    /// Partly refunded: `kept / price` of it, both in micro-units of the product currency,
    /// `0 < kept < price`.
    Share { kept: i64, price: i64 },
    /// Partly refunded, but the share cannot be derived: why (the sale keeps its full royalty,
    /// with a warning that names it).
    Unknown(String),
}

/// Micro-units per cent.
const MICROS_PER_CENT: i64 = 10_000;

/// The kept share of a partly refunded sale from `amount_refundable_in_currency` (`refundable`,
/// what can still be refunded, in the product currency) and the sale's price in that currency
/// (`price`, micro-units). Both come from the same USD→currency conversion at Gumroad
/// (`usd_cents_to_currency(price_cents − refunded_cents)` and `(price_cents)`), so their ratio is
/// the share kept.
fn kept_share(refundable: Option<&str>, price: Result<i64, String>) -> Kept {
    let Some(text) = refundable.map(str::trim).filter(|t| !t.is_empty()) else {
        return Kept::Unknown("`amount_refundable_in_currency` is missing".to_string());
    };
    let kept = match parse_amount(text) {
        Some(k) => k,
        None => {
            return Kept::Unknown(format!(
                "`amount_refundable_in_currency` is `{text}`, not an amount"
            ))
        }
    };
    let price = match price {
        Ok(p) => p,
        Err(why) => return Kept::Unknown(why),
    };
    if price <= 0 {
        return Kept::Unknown("its price is zero".to_string());
    }
    if kept <= 0 || kept >= price {
        return Kept::Unknown(format!(
            "`amount_refundable_in_currency` `{text}` is not between zero and the price {}",
            crate::model::format_micros(price, "")
        ));
    }
    Kept::Share { kept, price }
}

/// An amount as Gumroad formats it without a symbol: `8`, `9.99`, `1,234.50` (`,` groups
/// thousands, `.` marks decimals), in micro-units. `None` for anything else.
fn parse_amount(text: &str) -> Option<i64> {
    let t = text.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let mut groups = int.split(',');
    let first = groups.next()?;
    let grouped: Vec<&str> = groups.collect();
    let first_ok = !first.is_empty()
        && first.bytes().all(|b| b.is_ascii_digit())
        && (grouped.is_empty() || first.len() <= 3);
    if !first_ok || grouped.iter().any(|g| g.len() != 3) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: String = int.chars().filter(|c| *c != ',').collect();
    let plain = if frac.is_empty() {
        digits
    } else {
        format!("{digits}.{frac}")
    };
    if !plain.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    crate::model::parse_micros(&plain).ok()
}

/// The amount of a formatted price in the product currency (`formatted_total_price`): the
/// currency `symbol` first or after the number, then maybe a recurrence (`€6`, `$5 a month`,
/// `CAD$1,200.50`, `379 zł a year`), in micro-units.
fn parse_formatted_price(text: &str, symbol: &str) -> Option<i64> {
    let t = text.trim();
    let symbol = symbol.trim();
    let rest = if symbol.is_empty() {
        t
    } else {
        t.strip_prefix(symbol).unwrap_or(t).trim_start()
    };
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == ',' || c == '.'))
        .unwrap_or(rest.len());
    let (number, tail) = rest.split_at(end);
    // After the number: nothing, or a space and the symbol or the recurrence.
    if !(tail.is_empty() || tail.starts_with(' ')) {
        return None;
    }
    if rest.len() == t.len() && !symbol.is_empty() && !tail.trim_start().starts_with(symbol) {
        // No symbol before the number and none after it: not this currency's price.
        return None;
    }
    parse_amount(number.trim_end_matches('.'))
}

impl Sale {
    /// The normalised event, and a warning when the sale is partly refunded by a share that
    /// cannot be derived. `Err(field)` names the field whose value overflows.
    ///
    /// Royalty: `price − gumroad_fee` USD cents; zero when refunded or charged back; for a
    /// partly refunded sale, that royalty times the kept share, rounded down to the cent (as
    /// Gumroad itself does: it refunds `floor(fee × refunded / price)` of its fee, so the
    /// seller's net is `floor(royalty × kept / price)`).
    fn into_event(
        self,
        source: &str,
        raw: String,
    ) -> Result<(SaleEvent, Option<String>), &'static str> {
        let list = self
            .price_cents
            .checked_mul(MICROS_PER_CENT)
            .ok_or("price")?;
        let royalty_cents = self
            .price_cents
            .checked_sub(self.fee_cents)
            .ok_or("gumroad_fee")?;
        let royalty = royalty_cents
            .checked_mul(MICROS_PER_CENT)
            .ok_or("gumroad_fee")?;
        let mut warning = None;
        let (status, units, royalty) = if self.refunded {
            ("refunded", 0, 0)
        } else if self.chargedback {
            ("chargedback", 0, 0)
        } else {
            match &self.kept {
                Kept::All => ("", self.quantity, royalty),
                Kept::Share { kept, price } => {
                    let cents = (i128::from(royalty_cents) * i128::from(*kept))
                        .div_euclid(i128::from(*price));
                    let cents = i64::try_from(cents).map_err(|_| "gumroad_fee")?;
                    ("partially_refunded", self.quantity, cents * MICROS_PER_CENT)
                }
                Kept::Unknown(why) => {
                    warning = Some(format!(
                        "Gumroad sale `{}` (`{}`, product `{}`) is partly refunded, but the refunded share cannot be derived ({why}): it is counted at its full royalty of {} USD; check the sale in Gumroad, and sync it again (`salesingest enqueue gumroad --since {}`) once Gumroad shows the refund",
                        self.id,
                        self.title,
                        self.product_id,
                        crate::model::format_micros(royalty, "USD"),
                        self.date
                    ));
                    ("partially_refunded", self.quantity, royalty)
                }
            }
        };
        let event = SaleEvent {
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
        };
        Ok((event, warning))
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
    fn amounts_and_formatted_prices_as_gumroad_writes_them() {
        for (text, want) in [
            ("8", Some(8_000_000)),
            ("9.99", Some(9_990_000)),
            ("1,234.50", Some(1_234_500_000)),
            ("12,345,678", Some(12_345_678_000_000)),
            ("0", Some(0)),
            ("6,67", None),
            ("1,23", None),
            ("1234,567", None),
            ("-1", None),
            ("$5", None),
            ("", None),
            ("1e3", None),
        ] {
            assert_eq!(parse_amount(text), want, "{text}");
        }
        for (text, symbol, want) in [
            ("€6", "€", Some(6_000_000)),
            ("$5 a month", "$", Some(5_000_000)),
            ("CAD$1,200.50", "CAD$", Some(1_200_500_000)),
            ("¥1,000", "¥", Some(1_000_000_000)),
            ("379 zł", "zł", Some(379_000_000)),
            ("40 zł a year", "zł", Some(40_000_000)),
            ("€6", "£", None),
            ("6", "€", None),
            ("EUR 6", "€", None),
            ("€6x", "€", None),
            ("€", "€", None),
        ] {
            assert_eq!(parse_formatted_price(text, symbol), want, "{text} {symbol}");
        }
    }

    #[test]
    fn window_display_says_before_is_exclusive() {
        assert_eq!(
            w("2025-08-01", "2025-09-01").to_string(),
            "2025-08-01..2025-09-01 (before exclusive)"
        );
    }
}
