//! KDP's `Summary` sheet (`Resumen`): one row per month of the download, units and pages summed
//! over every marketplace, royalty per currency (FORMATS §11). It is never imported as sales,
//! but it is read for two things:
//!
//! * a check: its units and pages equal the detail sheets' exactly (§11.2); a month that does
//!   not match is named in a warning (the workbook was edited or cut short);
//! * the KENP royalty that no detail sheet carries: K(m, c) = Summary royalty of month m in
//!   currency c − the eBook, paperback and hardcover royalty of m in c (§11.3). It is imported
//!   as estimate events of its own kind (`kdp_estimate.kenp_royalty`, format `kenp`, royalty
//!   only), so that a workbook's totals equal its Summary. A month of month totals gets one
//!   event per currency; a daily download gets one per day with pages, K shared out by the
//!   pages read that day (exactly, to the cent), so that overlapping daily downloads replace
//!   each other's days as they do for the pages. EUR is one currency of several marketplaces
//!   (their rates differ, so the Summary cannot split it): its events name no marketplace; the
//!   other currencies name their single marketplace.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::NaiveDate;

use super::{csvutil, marketplace_country, Row, KENP_ROYALTY_FAMILY};
use crate::model::{format_micros, Format, Platform, RawLayout, SaleEvent};
use crate::platforms::{InputError, PlatformError};

/// What the detail sheets of an estimate workbook hold, per month (`YYYY-MM`).
#[derive(Debug, Default)]
pub(super) struct Tally {
    months: BTreeMap<String, Month>,
    /// Earliest start and latest end of every detail event.
    pub(super) range: Option<(NaiveDate, NaiveDate)>,
}

#[derive(Debug, Default)]
struct Month {
    paid_ebook: i64,
    free_ebook: i64,
    paperback: i64,
    hardcover: i64,
    pages: i64,
    /// eBook + print royalty per currency.
    royalty: BTreeMap<String, i64>,
    /// KENP pages per currency and period (the whole month, or days).
    pages_by: BTreeMap<String, BTreeMap<(NaiveDate, NaiveDate), i64>>,
}

impl Tally {
    /// Count one detail event (`free`: a free download of an eBook).
    pub(super) fn add(&mut self, e: &SaleEvent, free: bool) {
        self.range = Some(match self.range {
            None => (e.period_start, e.period_end),
            Some((a, b)) => (a.min(e.period_start), b.max(e.period_end)),
        });
        let month = &crate::model::iso_date(e.period_end)[..7];
        if !self.months.contains_key(month) {
            self.months.insert(month.to_string(), Month::default());
        }
        let Some(m) = self.months.get_mut(month) else {
            return;
        };
        match e.format {
            Format::Kenp => {
                m.pages += e.kenp_pages;
                if !m.pages_by.contains_key(&e.currency) {
                    m.pages_by.insert(e.currency.clone(), BTreeMap::new());
                }
                if let Some(by_period) = m.pages_by.get_mut(&e.currency) {
                    *by_period.entry((e.period_start, e.period_end)).or_default() += e.kenp_pages;
                }
                return;
            }
            Format::Ebook if free => m.free_ebook += e.units,
            Format::Ebook => m.paid_ebook += e.units,
            Format::Paperback => m.paperback += e.units,
            Format::Hardcover => m.hardcover += e.units,
            Format::Audiobook | Format::Digital | Format::Subscription => {}
        }
        match m.royalty.get_mut(&e.currency) {
            Some(r) => *r += e.royalty_micros,
            None => {
                m.royalty.insert(e.currency.clone(), e.royalty_micros);
            }
        }
    }
}

/// The Summary sheet's columns, found by their English names.
#[derive(Debug)]
pub(super) struct Layout {
    date: usize,
    /// (column, what it counts, its header as written).
    counts: Vec<(usize, Count)>,
    /// (column, currency).
    royalty: Vec<(usize, String)>,
    shown: Vec<String>,
    raw: Arc<RawLayout>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Count {
    Paid,
    Free,
    Paperback,
    Hardcover,
    Pages,
}

impl Count {
    fn what(self) -> &'static str {
        match self {
            Count::Paid => "paid eBook units",
            Count::Free => "free eBook units",
            Count::Paperback => "paperback units",
            Count::Hardcover => "hardcover units",
            Count::Pages => "KENP pages",
        }
    }
}

impl Layout {
    /// The layout of a Summary header row (`headers` in English, `shown` as written); `None`
    /// when it has no `Date` or no royalty column.
    pub(super) fn new(headers: &[String], shown: &[String]) -> Option<Layout> {
        let pos = |name: &str| headers.iter().position(|h| h == name);
        let date = pos("Date")?;
        let counts: Vec<(usize, Count)> = [
            ("Paid Units Sold (eBook)", Count::Paid),
            ("Free Units Sold (eBook)", Count::Free),
            ("Net Units Sold (Paperback)", Count::Paperback),
            ("Net Units Sold (Hardcover)", Count::Hardcover),
            ("Kindle Edition Normalized Page (KENP) Read", Count::Pages),
        ]
        .into_iter()
        .filter_map(|(name, what)| pos(name).map(|i| (i, what)))
        .collect();
        let royalty: Vec<(usize, String)> = headers
            .iter()
            .enumerate()
            .filter_map(|(i, h)| {
                let code = h.strip_prefix("Royalty (")?.strip_suffix(')')?;
                (code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()))
                    .then(|| (i, code.to_string()))
            })
            .collect();
        if royalty.is_empty() {
            return None;
        }
        Some(Layout {
            date,
            counts,
            royalty,
            shown: shown.to_vec(),
            raw: Arc::new(RawLayout::new(shown, true)),
        })
    }
}

/// One month row of the Summary.
#[derive(Debug)]
pub(super) struct SummaryRow {
    line: u64,
    label: String,
    month: (NaiveDate, NaiveDate),
    counts: Vec<(Count, i64)>,
    royalty: Vec<(String, i64)>,
    raw: String,
}

/// Read one data row of the Summary (`None` for a blank row).
///
/// # Errors
/// `Rejected`, naming the sheet, row and column, for a month label or number that does not
/// parse: the KENP royalty is never guessed from a cell that cannot be read.
pub(super) fn read_row(
    file: &str,
    sheet: &str,
    layout: &Layout,
    line: u64,
    row: &dyn Row,
) -> Result<Option<SummaryRow>, PlatformError> {
    if (0..row.width()).all(|i| row.cell(i).trim().is_empty()) {
        return Ok(None);
    }
    let in_sheet = |e: PlatformError| match e {
        PlatformError::Rejected(mut ie) => {
            ie.sheet = Some(sheet.to_string());
            PlatformError::Rejected(ie)
        }
        other => other,
    };
    let header = |i: usize| layout.shown.get(i).map_or("", String::as_str);
    let label = row.cell(layout.date).trim().to_string();
    let month = super::period_label(&label).ok_or_else(|| {
        PlatformError::Rejected(InputError {
            file: file.to_string(),
            sheet: Some(sheet.to_string()),
            line: Some(line),
            column: Some(header(layout.date).to_string()),
            message: format!("expected a month such as `July 2025`, found `{label}`"),
        })
    })?;
    let mut counts = Vec::new();
    for (i, what) in &layout.counts {
        let n = csvutil::units_opt(file, line, header(*i), row.cell(*i)).map_err(in_sheet)?;
        counts.push((*what, n.unwrap_or(0)));
    }
    let mut royalty = Vec::new();
    for (i, currency) in &layout.royalty {
        let r = csvutil::money_opt(file, line, header(*i), row.cell(*i)).map_err(in_sheet)?;
        royalty.push((currency.clone(), r.unwrap_or(0)));
    }
    Ok(Some(SummaryRow {
        line,
        label,
        month,
        counts,
        royalty,
        raw: layout.raw.cells_json(0, |i| row.cell(i)),
    }))
}

/// The single Amazon marketplace paid in a currency (`None` for EUR, paid by several).
fn marketplace_of(currency: &str) -> Option<&'static str> {
    Some(match currency {
        "USD" => "Amazon.com",
        "GBP" => "Amazon.co.uk",
        "JPY" => "Amazon.co.jp",
        "CAD" => "Amazon.ca",
        "AUD" => "Amazon.com.au",
        "BRL" => "Amazon.com.br",
        "MXN" => "Amazon.com.mx",
        "INR" => "Amazon.in",
        "SEK" => "Amazon.se",
        "PLN" => "Amazon.pl",
        _ => return None,
    })
}

/// `total` shared out by `weights`, exactly: in steps of one cent when `total` is whole cents
/// (KDP rounds KENP royalty to cents, even in JPY: FORMATS §11.3), largest remainders first.
fn share(total: i64, weights: &[i64]) -> Vec<i64> {
    let sum: i128 = weights.iter().map(|w| i128::from(*w)).sum();
    if sum <= 0 {
        return vec![0; weights.len()];
    }
    let step: i64 = if total % 10_000 == 0 { 10_000 } else { 1 };
    let steps = i128::from(total / step);
    let mut out: Vec<i128> = Vec::with_capacity(weights.len());
    let mut rest: Vec<(i128, usize)> = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let exact = steps * i128::from(*w);
        out.push(exact / sum);
        rest.push((exact % sum, i));
    }
    let given: i128 = out.iter().sum();
    rest.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in rest
        .iter()
        .take(usize::try_from(steps - given).unwrap_or(0))
    {
        out[*i] += 1;
    }
    out.into_iter()
        .map(|n| i64::try_from(n).unwrap_or(0) * step)
        .collect()
}

/// The Summary's check against the detail sheets and its KENP royalty events.
pub(super) fn kenp_royalty(
    file: &str,
    sheet: &str,
    layout: &Layout,
    rows: &[SummaryRow],
    tally: &Tally,
) -> (Vec<SaleEvent>, Vec<String>) {
    let mut events = Vec::new();
    let mut warnings = Vec::new();
    let empty = Month::default();
    let at = |row: &SummaryRow| {
        format!(
            "`{file}`, sheet `{sheet}`, row {} ({})",
            row.line, row.label
        )
    };
    for row in rows {
        let key = crate::model::iso_date(row.month.1)[..7].to_string();
        let t = tally.months.get(&key).unwrap_or(&empty);
        let mismatches: Vec<String> = row
            .counts
            .iter()
            .filter_map(|(what, n)| {
                let detail = match what {
                    Count::Paid => t.paid_ebook,
                    Count::Free => t.free_ebook,
                    Count::Paperback => t.paperback,
                    Count::Hardcover => t.hardcover,
                    Count::Pages => t.pages,
                };
                (detail != *n)
                    .then(|| format!("{n} {} where the detail sheets hold {detail}", what.what()))
            })
            .collect();
        if !mismatches.is_empty() {
            warnings.push(format!(
                "{}: the Summary says {}; the workbook may have been edited or cut short: check it or download it again (KDP's estimate of that month's KENP royalty was not imported)",
                at(row),
                mismatches.join(", ")
            ));
            continue;
        }
        for (currency, summary) in &row.royalty {
            let detail = t.royalty.get(currency).copied().unwrap_or(0);
            let k = summary - detail;
            if k == 0 {
                continue;
            }
            let pages: Vec<((NaiveDate, NaiveDate), i64)> = t
                .pages_by
                .get(currency)
                .map(|p| {
                    p.iter()
                        .map(|(k, v)| (*k, *v))
                        .filter(|(_, v)| *v > 0)
                        .collect()
                })
                .unwrap_or_default();
            if k < 0 || pages.is_empty() {
                warnings.push(format!(
                    "{}: the Summary's royalty in {currency} ({}) is {} {} the detail sheets' ({}), which only KENP pages read could explain{}; it was not imported: check the workbook or download it again",
                    at(row),
                    format_micros(*summary, currency),
                    format_micros(k.abs(), currency),
                    if k < 0 { "below" } else { "above" },
                    format_micros(detail, currency),
                    if pages.is_empty() && k > 0 {
                        format!(", but no KENP pages were read in its {currency} marketplaces")
                    } else {
                        String::new()
                    }
                ));
                continue;
            }
            let shares = share(k, &pages.iter().map(|(_, p)| *p).collect::<Vec<_>>());
            let marketplace = marketplace_of(currency).unwrap_or("");
            for (((start, end), _), royalty) in pages.iter().zip(shares) {
                if royalty == 0 {
                    continue;
                }
                events.push(SaleEvent {
                    platform: Platform::AmazonKdp,
                    family: KENP_ROYALTY_FAMILY.to_string(),
                    source: "kdp.estimate.summary".to_string(),
                    natural_key: None,
                    period_start: *start,
                    period_end: *end,
                    title: "KENP royalty estimated by KDP (Summary sheet)".to_string(),
                    product_id: String::new(),
                    format: Format::Kenp,
                    marketplace: marketplace.to_string(),
                    retailer: "Amazon".to_string(),
                    country: marketplace_country(marketplace).to_string(),
                    units: 0,
                    kenp_pages: 0,
                    list_price_micros: None,
                    royalty_micros: royalty,
                    currency: currency.clone(),
                    is_final: false,
                    status: String::new(),
                    raw: row.raw.clone(),
                    raw_layout: Some(layout.raw.clone()),
                    line: row.line,
                });
            }
        }
    }
    let listed: Vec<String> = rows
        .iter()
        .map(|r| crate::model::iso_date(r.month.1)[..7].to_string())
        .collect();
    for month in tally.months.keys() {
        if !listed.contains(month) {
            warnings.push(format!(
                "`{file}`, sheet `{sheet}`: the detail sheets hold sales of {month}, a month the Summary does not list; the workbook may have been edited: check it or download it again"
            ));
        }
    }
    (events, warnings)
}

#[cfg(test)]
mod tests {
    use super::share;

    #[test]
    fn shares_are_exact_and_in_cents() {
        assert_eq!(
            share(650_000, &[63, 160, 3]),
            vec![180_000, 460_000, 10_000]
        );
        assert_eq!(share(650_000, &[63, 160, 3]).iter().sum::<i64>(), 650_000);
        assert_eq!(share(10_000, &[1, 1]), vec![10_000, 0]);
        assert_eq!(share(5, &[1, 1, 1]), vec![2, 2, 1]);
        assert_eq!(share(255_000_000, &[1]), vec![255_000_000]);
        assert_eq!(share(100, &[0, 0]), vec![0, 0]);
    }
}
