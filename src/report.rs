//! Pure logic behind `sales`: the rates file, exact currency conversion, and the layout of the
//! terminal chart.
//!
//! Owns: parsing a `date,currency,rate` file, looking up the rate of an event, converting
//! micro-units with exact integer arithmetic, and turning monthly totals into bar segments.
//! Must not: read files, query the database or print (callers hand it text and numbers).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;

/// Why a rates file was rejected (exit 5).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct RatesError {
    pub file: String,
    pub message: String,
}

/// A rate that is not in the file (exit 5).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no {currency} rate on or before {date} in `{file}` (rates are {currency} per 1 {target}): add a line `{date},{currency},RATE`")]
pub struct MissingRate {
    pub file: String,
    pub currency: String,
    pub date: NaiveDate,
    pub target: String,
}

/// One rate: `rate` units of a currency per one unit of the target currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// The date of the line used.
    pub date: NaiveDate,
    pub rate: Decimal,
}

/// Reference rates against one target currency (`--in CUR`), by currency then date.
#[derive(Debug, Clone)]
pub struct Rates {
    file: String,
    target: String,
    by_currency: BTreeMap<String, BTreeMap<NaiveDate, Decimal>>,
}

fn is_currency_code(s: &str) -> bool {
    s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase())
}

/// Check a `--in` currency: three upper-case letters (ISO 4217).
///
/// # Errors
/// A message naming the value.
pub fn parse_currency(s: &str) -> Result<String, String> {
    let up = s.trim().to_ascii_uppercase();
    if is_currency_code(&up) {
        Ok(up)
    } else {
        Err(format!(
            "`{s}` is not a currency code: expected three letters such as USD or EUR"
        ))
    }
}

impl Rates {
    /// Parse a rates file (see `salesingest sales --help`): a header row naming the columns
    /// `date`, `currency` and `rate` (any order, case-insensitive), then one line per rate:
    /// an ISO date `YYYY-MM-DD`, an ISO 4217 code, and a positive plain decimal with a `.`
    /// (units of that currency per one `target`). Commas separate fields; no quoting. Blank
    /// lines, a UTF-8 BOM and CRLF line endings are fine. Lines for `target` itself are ignored.
    /// The same currency and date twice with different rates is an error.
    ///
    /// # Errors
    /// `RatesError` naming the line and column.
    pub fn parse(file: &str, text: &str, target: &str) -> Result<Rates, RatesError> {
        let err = |message: String| RatesError {
            file: file.to_string(),
            message,
        };
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
            .filter(|(_, l)| !l.trim().is_empty());
        let Some((_, header)) = lines.next() else {
            return Err(err(
                "empty rates file: expected a header row `date,currency,rate`".into(),
            ));
        };
        let names: Vec<String> = header
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        let col = |name: &str| -> Result<usize, RatesError> {
            names.iter().position(|n| n == name).ok_or_else(|| {
                err(format!(
                    "line 1: the header has no `{name}` column: expected a header row `date,currency,rate`"
                ))
            })
        };
        let (di, ci, ri) = (col("date")?, col("currency")?, col("rate")?);
        let mut by_currency: BTreeMap<String, BTreeMap<NaiveDate, Decimal>> = BTreeMap::new();
        for (no, line) in lines {
            let cells: Vec<&str> = line.split(',').map(str::trim).collect();
            if cells.len() != names.len() {
                return Err(err(format!(
                    "line {no}: {} fields, expected {} as in the header (no quoting, `.` as the decimal point)",
                    cells.len(),
                    names.len()
                )));
            }
            let date = NaiveDate::parse_from_str(cells[di], "%Y-%m-%d").map_err(|_| {
                err(format!(
                    "line {no}, column `date`: `{}` is not an ISO date YYYY-MM-DD",
                    cells[di]
                ))
            })?;
            let currency = cells[ci].to_ascii_uppercase();
            if !is_currency_code(&currency) {
                return Err(err(format!(
                    "line {no}, column `currency`: `{}` is not a three-letter currency code",
                    cells[ci]
                )));
            }
            let rate = parse_rate(cells[ri]).ok_or_else(|| {
                err(format!(
                    "line {no}, column `rate`: `{}` is not a positive plain decimal such as 1.0834",
                    cells[ri]
                ))
            })?;
            if currency == target {
                continue;
            }
            let dates = by_currency.entry(currency.clone()).or_default();
            if let Some(old) = dates.insert(date, rate) {
                if old != rate {
                    return Err(err(format!(
                        "line {no}: a second {currency} rate for {date} ({old} and {rate})"
                    )));
                }
            }
        }
        Ok(Rates {
            file: file.to_string(),
            target: target.to_string(),
            by_currency,
        })
    }

    /// The target currency.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The rate for `currency` on `date`: the line of that date, or the nearest earlier one.
    /// `None` for the target currency itself (no conversion).
    ///
    /// # Errors
    /// `MissingRate` when the file has no line for that currency on or before `date`.
    pub fn rate(&self, currency: &str, date: NaiveDate) -> Result<Option<Rate>, MissingRate> {
        if currency == self.target {
            return Ok(None);
        }
        self.by_currency
            .get(currency)
            .and_then(|d| d.range(..=date).next_back())
            .map(|(d, r)| Some(Rate { date: *d, rate: *r }))
            .ok_or_else(|| MissingRate {
                file: self.file.clone(),
                currency: currency.to_string(),
                date,
                target: self.target.clone(),
            })
    }
}

/// A positive plain decimal (digits, one optional `.`), exactly.
fn parse_rate(s: &str) -> Option<Decimal> {
    let ok = !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && s.bytes().filter(|b| *b == b'.').count() <= 1
        && s.bytes().any(|b| b.is_ascii_digit());
    if !ok {
        return None;
    }
    let d: Decimal = s.parse().ok()?;
    (d > Decimal::ZERO).then_some(d)
}

/// Convert `micros` of a currency into the target currency at `rate` (units of the currency per
/// one target unit): `micros / rate`, rounded half to even to a whole micro-unit. Exact: the
/// division is done on integers (the rate's mantissa and scale), never in floating point.
///
/// # Panics
/// Never for rates from `Rates::parse` (positive, at most 28 decimals).
pub fn convert_micros(micros: i64, rate: Decimal) -> i64 {
    let mantissa = rate.mantissa(); // rate = mantissa / 10^scale, mantissa > 0
    let scale = rate.scale();
    let num = i128::from(micros) * 10i128.pow(scale);
    let q = num / mantissa;
    let r = num % mantissa;
    // Round half to even on the remainder (same sign as num).
    let twice = 2 * r.abs();
    let q = if twice > mantissa || (twice == mantissa && q % 2 != 0) {
        q + num.signum()
    } else {
        q
    };
    i64::try_from(q).unwrap_or(if q > 0 { i64::MAX } else { i64::MIN })
}

/// Format a rate as a plain decimal string (`1.0834`).
pub fn format_rate(rate: Decimal) -> String {
    rate.normalize().to_string()
}

/// Royalty of one month for one chart, per platform (platform order as given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthTotals {
    pub month: String,
    /// Micro-units per platform, in the chart's platform order.
    pub by_platform: Vec<i64>,
}

impl MonthTotals {
    /// The month's net total.
    pub fn total(&self) -> i64 {
        self.by_platform.iter().sum()
    }
}

/// Every month from `first` to `last` (`YYYY-MM`), inclusive, so gaps show as empty bars.
pub fn month_range(first: &str, last: &str) -> Vec<String> {
    let parse = |m: &str| -> Option<(i32, u32)> {
        let (y, mo) = m.split_once('-')?;
        Some((y.parse().ok()?, mo.parse().ok()?))
    };
    let (Some((mut y, mut m)), Some(end)) = (parse(first), parse(last)) else {
        return vec![first.to_string()];
    };
    let mut out = Vec::new();
    while (y, m) <= end && out.len() < 10_000 {
        out.push(format!("{y:04}-{m:02}"));
        m += 1;
        if m > 12 {
            m = 1;
            y += 1;
        }
    }
    out
}

/// How many cells each platform's segment gets in a bar `width` cells wide, where `max` (the
/// largest month's positive total) fills the whole width. Negative amounts get no cells (the
/// net amount is printed beside the bar). Cells are allotted on the cumulative sum, so the
/// segments of a bar always add up to its rounded length.
pub fn bar_cells(by_platform: &[i64], max: i64, width: usize) -> Vec<usize> {
    if max <= 0 || width == 0 {
        return vec![0; by_platform.len()];
    }
    let mut out = Vec::with_capacity(by_platform.len());
    let mut cum: i128 = 0;
    let mut drawn = 0usize;
    for v in by_platform {
        cum += i128::from((*v).max(0));
        // Round half up: cum * width / max.
        let end = ((cum * width as i128 * 2 + i128::from(max)) / (2 * i128::from(max))) as usize;
        let end = end.min(width);
        out.push(end.saturating_sub(drawn));
        drawn = drawn.max(end);
    }
    out
}

/// One source currency (and rate line) that went into a converted total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateUse {
    pub currency: String,
    /// `None` when the currency is the target itself (rate 1).
    pub rate: Option<Rate>,
    pub events: i64,
    /// The royalty in the source currency.
    pub source_micros: i64,
    /// The same royalty in the target currency (each event rounded, then summed).
    pub converted_micros: i64,
}

/// Running totals of a report row, with the rates used when converting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totals {
    pub events: i64,
    pub units: i64,
    pub kenp_pages: i64,
    pub royalty_micros: i64,
    pub all_final: bool,
    /// Per (currency, rate date), sorted; empty when nothing was converted.
    pub rates: Vec<RateUse>,
}

impl Default for Totals {
    fn default() -> Self {
        Totals {
            events: 0,
            units: 0,
            kenp_pages: 0,
            royalty_micros: 0,
            all_final: true,
            rates: Vec::new(),
        }
    }
}

/// A group of `events` events of one currency, each with royalty `each_micros`.
#[derive(Debug, Clone, Copy)]
pub struct EventGroup<'a> {
    pub currency: &'a str,
    pub events: i64,
    pub units: i64,
    pub kenp_pages: i64,
    pub each_micros: i64,
    pub all_final: bool,
}

impl Totals {
    /// Add a group of events converted at `rate` (`None`: already in the target currency):
    /// each event is converted and rounded on its own, then the results are summed.
    pub fn add_converted(&mut self, g: EventGroup<'_>, rate: Option<Rate>) {
        let each = rate.map_or(g.each_micros, |r| convert_micros(g.each_micros, r.rate));
        let converted = each * g.events;
        self.events += g.events;
        self.units += g.units;
        self.kenp_pages += g.kenp_pages;
        self.royalty_micros += converted;
        self.all_final &= g.all_final;
        let key = (g.currency, rate.map(|r| r.date));
        let pos = self
            .rates
            .binary_search_by(|u| (u.currency.as_str(), u.rate.map(|r| r.date)).cmp(&key));
        let use_ = match pos {
            Ok(i) => &mut self.rates[i],
            Err(i) => {
                self.rates.insert(
                    i,
                    RateUse {
                        currency: g.currency.to_string(),
                        rate,
                        events: 0,
                        source_micros: 0,
                        converted_micros: 0,
                    },
                );
                &mut self.rates[i]
            }
        };
        use_.events += g.events;
        use_.source_micros += g.each_micros * g.events;
        use_.converted_micros += converted;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str =
        "date,currency,rate\n2025-06-30,USD,1.1720\n2025-07-31,USD,1.1446\n2025-07-31,GBP,0.86\n\n";

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn looks_up_the_nearest_earlier_date() {
        let r = Rates::parse("r.csv", FILE, "EUR").unwrap();
        let at = |c, s| r.rate(c, d(s)).unwrap().unwrap();
        assert_eq!(at("USD", "2025-07-31").date, d("2025-07-31"));
        assert_eq!(at("USD", "2025-07-30").date, d("2025-06-30"));
        assert_eq!(at("USD", "2025-12-31").rate.to_string(), "1.1446");
        assert_eq!(r.rate("EUR", d("2000-01-01")).unwrap(), None);
        let e = r.rate("USD", d("2025-06-29")).unwrap_err();
        assert!(e
            .to_string()
            .contains("no USD rate on or before 2025-06-29"));
        assert!(r.rate("JPY", d("2025-07-31")).is_err());
    }

    #[test]
    fn rejects_bad_files_naming_the_line() {
        for (text, want) in [
            ("", "empty"),
            ("day,currency,rate\n", "no `date` column"),
            ("date,currency,rate\n2025-07-31,USD,1,1\n", "line 2"),
            ("date,currency,rate\n31/07/2025,USD,1.1\n", "ISO date"),
            ("date,currency,rate\n2025-07-31,US,1.1\n", "currency code"),
            (
                "date,currency,rate\n2025-07-31,USD,1e3\n",
                "positive plain decimal",
            ),
            (
                "date,currency,rate\n2025-07-31,USD,0\n",
                "positive plain decimal",
            ),
            (
                "date,currency,rate\n2025-07-31,USD,-1.2\n",
                "positive plain decimal",
            ),
            (
                "date,currency,rate\n2025-07-31,USD,1.1\n2025-07-31,USD,1.2\n",
                "a second USD rate",
            ),
        ] {
            let e = Rates::parse("r.csv", text, "EUR").unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn accepts_bom_crlf_and_column_order() {
        let r = Rates::parse(
            "r.csv",
            "\u{feff}Currency,Rate,Date\r\nusd,1.5,2025-01-01\r\n",
            "EUR",
        )
        .unwrap();
        assert_eq!(
            r.rate("USD", d("2025-02-01")).unwrap().unwrap().rate,
            "1.5".parse::<Decimal>().unwrap()
        );
    }

    #[test]
    fn converts_exactly_with_half_even_rounding() {
        let rate = |s: &str| s.parse::<Decimal>().unwrap();
        // 46.51 USD at 1.1446 USD per EUR = 40.634282719...EUR
        assert_eq!(convert_micros(46_510_000, rate("1.1446")), 40_634_283);
        assert_eq!(convert_micros(-46_510_000, rate("1.1446")), -40_634_283);
        // Ties: 1 micro / 2 = 0.5 → 0 (even); 3 micro / 2 = 1.5 → 2.
        assert_eq!(convert_micros(1, rate("2")), 0);
        assert_eq!(convert_micros(3, rate("2")), 2);
        assert_eq!(convert_micros(-3, rate("2")), -2);
        assert_eq!(convert_micros(5, rate("2")), 2);
        assert_eq!(convert_micros(10_000_000, rate("0.8")), 12_500_000);
        assert_eq!(convert_micros(0, rate("3")), 0);
    }

    #[test]
    fn totals_round_each_event_then_sum() {
        let r = Rates::parse("r.csv", FILE, "EUR").unwrap();
        let mut t = Totals::default();
        let g = |currency, events, each| EventGroup {
            currency,
            events,
            units: events,
            kenp_pages: 0,
            each_micros: each,
            all_final: true,
        };
        // 3 events of 0.000001 USD at 2 would round to 0 each (half-even), not 0.0000015 → 2.
        let two = Rate {
            date: d("2025-07-01"),
            rate: "2".parse().unwrap(),
        };
        t.add_converted(g("USD", 3, 1), Some(two));
        assert_eq!(t.royalty_micros, 0);
        let usd = r.rate("USD", d("2025-07-31")).unwrap();
        t.add_converted(g("USD", 2, 46_510_000), usd);
        t.add_converted(g("EUR", 1, 5_000_000), None);
        assert_eq!(t.royalty_micros, 2 * 40_634_283 + 5_000_000);
        assert_eq!(t.events, 6);
        let names: Vec<_> = t
            .rates
            .iter()
            .map(|u| (u.currency.as_str(), u.events))
            .collect();
        assert_eq!(names, [("EUR", 1), ("USD", 3), ("USD", 2)]);
        assert_eq!(t.rates[2].source_micros, 93_020_000);
    }

    #[test]
    fn month_ranges_fill_gaps() {
        assert_eq!(
            month_range("2024-11", "2025-02"),
            ["2024-11", "2024-12", "2025-01", "2025-02"]
        );
        assert_eq!(month_range("2025-07", "2025-07"), ["2025-07"]);
    }

    #[test]
    fn bar_cells_add_up() {
        assert_eq!(bar_cells(&[50, 50], 100, 10), [5, 5]);
        assert_eq!(bar_cells(&[100], 100, 40), [40]);
        assert_eq!(bar_cells(&[33, 33, 34], 100, 10), [3, 4, 3]);
        assert_eq!(bar_cells(&[-20, 60], 100, 10), [0, 6]);
        assert_eq!(bar_cells(&[0, 0], 0, 10), [0, 0]);
        let c = bar_cells(&[1, 2, 3, 4], 10, 57);
        assert_eq!(c.iter().sum::<usize>(), 57);
    }
}
