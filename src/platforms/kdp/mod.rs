//! Amazon KDP royalty reports: the XLSX workbooks KDP writes (old 9-sheet Dashboard /
//! Royalties Estimator workbook, Prior Months' Royalties 2023–2025 variants, the new KDP
//! Reports `KENP` sheet), in English or Spanish, and CSV copies of any one of their sales sheets.
//!
//! Detection is by content: `PK\x03\x04` → XLSX, otherwise delimited text; then sheet names
//! (trimmed) and header sets, Spanish ones mapped to the English names first (`lang`).
//! Estimator/Dashboard sheets carry a `Royalty Date`/`Date` column and are estimates; Prior
//! Months' Royalties have a `Sales Period` label instead and are final (period = that whole
//! month).
//!
//! Every event's replace-by-coverage family names its report family and kind (DESIGN §5):
//! `kdp_estimate.ebook`, `.paperback`, `.hardcover`, `.kenp`, `.kenp_royalty` (the KENP royalty
//! KDP's Summary sheet adds, `summary`) and `kdp_final.ebook`, `.paperback`, `.hardcover`,
//! `.kenp`, so that a file replaces only the kinds it carries. A file also declares what it
//! covers beyond its rows (`ParseSummary::coverage`): every kind its sheets stand for, over its
//! period, even when a sheet has no rows, and whether its figures are month totals.
//!
//! Only the per-format sheets (`eBook Royalty`, `Paperback Royalty`, `Hardcover Royalty`,
//! `KENP Read`/`KENP`) are imported; a union sheet (`Combined Sales`, `Total Earnings`,
//! `Total Royalty`, `Combined Royalty Report`) only supplies the formats that no per-format
//! sheet of the same workbook covers. `Orders Processed`, `eBook Orders Placed`,
//! `Report Definitions` and `Payments` are never imported; `Summary` only for the KENP royalty
//! no other sheet carries. Rows have no ids: identical rows are separate sales and are all kept.

mod lang;
mod payments;
mod summary;
mod text;
mod xlsx;

#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate};

use super::csvutil;
use super::{EventSink, InputError, ParseSummary, PlatformError};
use crate::model::{Format, Platform, RawLayout, SaleEvent};

/// Parse a KDP report (XLSX workbook or a CSV copy of one sheet), sending events to `sink`.
///
/// # Errors
/// `Rejected` for an unsupported, localised, truncated or malformed report (naming the file and
/// the sheet, row and column where relevant), `Transient` for I/O errors, `Sink` when the sink
/// fails.
pub fn parse_file(
    path: &Path,
    display_name: &str,
    sink: &mut dyn EventSink,
) -> Result<ParseSummary, PlatformError> {
    let mut head = [0u8; 4];
    let n = File::open(path)
        .and_then(|mut f| read_up_to(&mut f, &mut head))
        .map_err(|e| csvutil::io_error(display_name, &e))?;
    match &head[..n] {
        b"PK\x03\x04" => xlsx::parse(path, display_name, sink),
        [0xD0, 0xCF, 0x11, 0xE0] => Err(PlatformError::Rejected(InputError::file(
            display_name,
            BINARY_XLS,
        ))),
        _ => text::parse(path, display_name, sink),
    }
}

/// Why a binary Excel 97–2003 file (OLE2, `D0 CF 11 E0`) is not read, and what to do: KDP has
/// written `.xlsx` since 2016, so this is either an old (2011–2016) KDP report or another
/// platform's file, and the message does not guess which.
const BINARY_XLS: &str = "this is a binary Excel 97–2003 workbook (.xls), which salesingest does not read: KDP reports are read as .xlsx workbooks or CSV copies of their sheets. If it is a KDP report, open it in Excel or LibreOffice and save it as .xlsx (or save a sheet as CSV), then import that copy (KDP's 2011–2016 per-store reports are not supported even then)";

fn read_up_to(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = f.read(&mut buf[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

/// A row of cell texts, from a CSV record or an assembled sheet row.
pub(crate) trait Row {
    fn cell(&self, i: usize) -> &str;
    fn width(&self) -> usize;
}

impl Row for csv::StringRecord {
    fn cell(&self, i: usize) -> &str {
        self.get(i).unwrap_or("")
    }
    fn width(&self) -> usize {
        self.len()
    }
}

impl Row for Vec<String> {
    fn cell(&self, i: usize) -> &str {
        self.get(i).map_or("", String::as_str)
    }
    fn width(&self) -> usize {
        self.len()
    }
}

/// What a sheet's header says it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SheetKind {
    /// `eBook Royalty` (estimate or final), `eBook Royalty Report` (2023).
    Ebook,
    /// `Paperback Royalty` / `Hardcover Royalty`.
    Print,
    /// `KENP Read` (old and Prior-Month) and the new `KENP` sheet.
    Kenp,
    /// A union sheet: `Combined Sales`, `Total Earnings`, `Total Royalty`, `Combined Royalty Report`.
    Union,
}

/// The outcome of looking at a header row.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Class {
    Sales(SheetKind),
    /// A sheet that is not sales (totals, order counts, payouts); the text says which.
    NonSales(&'static str),
    Payments,
    Legacy,
    /// A report in a language other than English and Spanish (the name of the language).
    Foreign(&'static str),
    Unknown,
}

const KENP_PAGES: [&str; 2] = ["Kindle Edition Normalized Page (KENP) Read", "KENP"];
const NET_UNION: [&str; 4] = [
    "Net Units Sold or KENP Read**",
    "Net Units Sold or Combined KENP",
    "Net Units Sold or KENP Read",
    "Net Units Sold",
];
const NET_SINGLE: [&str; 2] = ["Net Units Sold", "Net Units Sold or KENP Read**"];
const TYPE_COLS: [&str; 3] = ["Payout Plan", "Transaction Type*", "Transaction Type"];
const LEGACY: [&str; 7] = [
    "Net Units Sold or Borrowed**",
    "Percentage of Borrows***",
    "Average List Price",
    "Royalty %",
    "Net Units Sold or KENP Read (1)",
    "Transaction Type (3)",
    "Royalty Type(2)",
];

fn has(headers: &[String], name: &str) -> bool {
    headers.iter().any(|h| h == name)
}

fn has_any(headers: &[String], names: &[&str]) -> bool {
    names.iter().any(|n| has(headers, n))
}

/// Classify a header row (trimmed, Spanish names already mapped to English ones).
fn classify(headers: &[String]) -> Class {
    if has_any(headers, &LEGACY) {
        return Class::Legacy;
    }
    if has_any(
        headers,
        &["Payment Number", "Payout Amount", "Accrued Royalty"],
    ) {
        return Class::Payments;
    }
    if has_any(headers, &["Paid Units", "Free Units"]) {
        return Class::NonSales("an order-count sheet (Orders Processed / eBook Orders Placed), which repeats the sales of the royalty sheets");
    }
    if has_any(headers, &["Royalty (USD)", "Paid Units Sold (eBook)"]) {
        return Class::NonSales("the Summary sheet, which holds monthly totals only");
    }
    if has(headers, "Report") && has(headers, "Definition") {
        return Class::NonSales("the Report Definitions sheet");
    }
    if has(headers, "ASIN/ISBN") {
        return Class::Sales(SheetKind::Union);
    }
    if has(headers, "ISBN") {
        return Class::Sales(SheetKind::Print);
    }
    if has_any(headers, &KENP_PAGES) && !has(headers, "Units Sold") {
        return Class::Sales(SheetKind::Kenp);
    }
    if has_any(headers, &["ASIN", "eBook ASIN"]) && has(headers, "Marketplace") {
        return Class::Sales(SheetKind::Ebook);
    }
    Class::Unknown
}

/// The error for a sheet class that is not imported, when it is all the file holds.
fn class_error(file: &str, sheet: Option<&str>, class: &Class, headers: &[String]) -> InputError {
    let message = match class {
        Class::Foreign(language) => format!("this KDP report is in {language} (KDP writes reports in the account's language), and salesingest reads KDP reports in English and Spanish only: switch the KDP account language to English or Spanish (Account → language), download the report again and import that"),
        Class::Legacy => "this is a KDP report from 2011–2016 (per-store blocks); KDP reports from 2011–2016 are not supported: download the Prior Months' Royalties report for the months you need from KDP Reports instead".to_string(),
        Class::Payments => "a KDP Payments report lists payouts, not sales: import the Prior Months' Royalties or Royalties Estimator report instead".to_string(),
        Class::NonSales(what) => format!("this is {what}; it is not imported: import the Royalties Estimator or Prior Months' Royalties workbook (or a CSV copy of its eBook/Paperback/Hardcover Royalty or KENP Read sheet)"),
        Class::Sales(_) | Class::Unknown => format!(
            "not a recognised KDP sales sheet (expected the headers of eBook Royalty, Paperback Royalty, Hardcover Royalty, KENP Read, Combined Sales or Total Earnings; found header: {})",
            headers.join(", ")
        ),
    };
    InputError {
        file: file.to_string(),
        sheet: sheet.map(str::to_string),
        line: Some(1),
        column: None,
        message,
    }
}

/// A sheet name that never holds importable sales, compared trimmed and case-insensitively.
fn non_sales_sheet_name(name: &str) -> Option<Class> {
    match name.trim().to_ascii_lowercase().as_str() {
        "summary" => Some(Class::NonSales(
            "the Summary sheet, which holds monthly totals only",
        )),
        "orders processed" | "ebook orders placed" | "orders" => Some(Class::NonSales(
            "an order-count sheet, which repeats the sales of the royalty sheets",
        )),
        "report definitions" => Some(Class::NonSales("the Report Definitions sheet")),
        "payments" => Some(Class::Payments),
        _ => None,
    }
}

/// The period of a label such as `July 2025`, `julio 2025`, `Sales report for the period
/// August - 2023`, `2025-07` or `2025-07-01`: the whole month.
fn period_label(text: &str) -> Option<(NaiveDate, NaiveDate)> {
    let t = text.trim();
    let t = t
        .strip_prefix("Sales report for the period")
        .unwrap_or(t)
        .trim();
    if let Some(d) = parse_day_or_month(t) {
        return Some(month_of(d.0));
    }
    let mut month = None;
    let mut year = None;
    for tok in t
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|s| !s.is_empty())
    {
        if tok.len() == 4 && tok.bytes().all(|b| b.is_ascii_digit()) {
            year = tok.parse::<i32>().ok();
        } else if let Some(m) = month_number(tok) {
            month = Some(m);
        } else {
            return None;
        }
    }
    let first = NaiveDate::from_ymd_opt(year?, month?, 1)?;
    Some(month_of(first))
}

fn month_number(tok: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let t = tok.to_ascii_lowercase();
    if t.len() < 3 {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| *m == t || (t.len() == 3 && m.starts_with(&t)))
        .and_then(|i| u32::try_from(i + 1).ok())
        .or_else(|| lang::spanish_month(tok))
}

/// First and last day of the month containing `d`.
fn month_of(d: NaiveDate) -> (NaiveDate, NaiveDate) {
    let first = d.with_day(1).unwrap_or(d);
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    };
    let last = next.and_then(|n| n.pred_opt()).unwrap_or(first);
    (first, last)
}

/// `YYYY-MM-DD` (optionally followed by a time) → that day; `YYYY-MM` → the whole month.
fn parse_day_or_month(text: &str) -> Option<(NaiveDate, NaiveDate)> {
    let t = text.trim();
    let day_part = if t.len() > 10 && matches!(t.as_bytes().get(10), Some(b'T' | b' ')) {
        &t[..10]
    } else {
        t
    };
    if let Ok(d) = NaiveDate::parse_from_str(day_part, "%Y-%m-%d") {
        return Some((d, d));
    }
    if t.len() == 7 && t.as_bytes()[4] == b'-' {
        let d = NaiveDate::parse_from_str(&format!("{t}-01"), "%Y-%m-%d").ok()?;
        return Some(month_of(d));
    }
    None
}

/// ISO 3166 alpha-2 country of an Amazon marketplace; empty when unknown.
pub(crate) fn marketplace_country(marketplace: &str) -> &'static str {
    match marketplace.trim().to_ascii_lowercase().as_str() {
        "amazon.com" => "US",
        "amazon.co.uk" => "GB",
        "amazon.de" => "DE",
        "amazon.fr" => "FR",
        "amazon.es" => "ES",
        "amazon.it" => "IT",
        "amazon.nl" => "NL",
        "amazon.co.jp" => "JP",
        "amazon.ca" => "CA",
        "amazon.com.au" => "AU",
        "amazon.com.br" => "BR",
        "amazon.com.mx" => "MX",
        "amazon.in" => "IN",
        "amazon.se" => "SE",
        "amazon.pl" => "PL",
        _ => "",
    }
}

/// The currency of an Amazon marketplace (for KENP estimate rows, which have no currency column).
pub(crate) fn marketplace_currency(marketplace: &str) -> Option<&'static str> {
    Some(match marketplace_country(marketplace) {
        "US" => "USD",
        "GB" => "GBP",
        "DE" | "FR" | "ES" | "IT" | "NL" => "EUR",
        "JP" => "JPY",
        "CA" => "CAD",
        "AU" => "AUD",
        "BR" => "BRL",
        "MX" => "MXN",
        "IN" => "INR",
        "SE" => "SEK",
        "PL" => "PLN",
        _ => return None,
    })
}

/// Lower-case `snake_case` of a sheet name, for the event `source`.
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// Resolved column indices of one sales sheet.
#[derive(Debug, Clone, Default)]
struct Cols {
    date: Option<usize>,
    title: Option<usize>,
    product: usize,
    marketplace: usize,
    sold: Option<usize>,
    refunded: Option<usize>,
    net: Option<usize>,
    pages: Option<usize>,
    list: Option<usize>,
    royalty: Option<usize>,
    currency: Option<usize>,
    kind: Option<usize>,
    royalty_type: Option<usize>,
}

/// The replace-by-coverage family of a KDP event: its report family and kind (DESIGN §5).
pub(crate) fn family(is_final: bool, format: Format) -> String {
    let report = if is_final {
        "kdp_final"
    } else {
        "kdp_estimate"
    };
    format!("{report}.{}", format.as_str())
}

/// The family of the KENP royalty estimate that KDP's Summary sheet adds (`summary`): a kind of
/// its own, so that these month figures of money are never taken for month totals of pages.
pub(crate) const KENP_ROYALTY_FAMILY: &str = "kdp_estimate.kenp_royalty";

/// The formats of KDP events, in the order of `Sheet::families`.
const FORMATS: [Format; 4] = [
    Format::Ebook,
    Format::Paperback,
    Format::Hardcover,
    Format::Kenp,
];

fn format_index(f: Format) -> usize {
    FORMATS.iter().position(|x| *x == f).unwrap_or(0)
}

/// The shapes of the sales dates seen (R of FORMATS §12.2): the first `YYYY-MM` and the first
/// `YYYY-MM-DD`, each with its sheet (`None` for a CSV copy), row and text.
#[derive(Debug, Clone, Default)]
struct DateShapes {
    month: Option<(Option<String>, u64, String)>,
    day: Option<(Option<String>, u64, String)>,
}

impl DateShapes {
    fn note(&mut self, sheet: Option<&str>, line: u64, text: &str) {
        if let Some(period) = parse_day_or_month(text) {
            self.note_parsed(sheet, line, text, period);
        }
    }

    /// Note a date already parsed into `period` (`text` as written, for the message).
    fn note_parsed(
        &mut self,
        sheet: Option<&str>,
        line: u64,
        text: &str,
        period: (NaiveDate, NaiveDate),
    ) {
        let slot = if period.0 == period.1 {
            &mut self.day
        } else {
            &mut self.month
        };
        if slot.is_none() {
            *slot = Some((sheet.map(str::to_string), line, text.trim().to_string()));
        }
    }

    fn merge(&mut self, other: DateShapes) {
        if self.month.is_none() {
            self.month = other.month;
        }
        if self.day.is_none() {
            self.day = other.day;
        }
    }

    /// `Some(true)` when every date is a month, `Some(false)` when every date is a day, `None`
    /// when there is none; mixed shapes are refused, naming one of each (FORMATS §12.2 rule 5).
    fn monthly(&self, file: &str) -> Result<Option<bool>, PlatformError> {
        match (&self.month, &self.day) {
            (None, None) => Ok(None),
            (Some(_), None) => Ok(Some(true)),
            (None, Some(_)) => Ok(Some(false)),
            (Some((ms, ml, mt)), Some((ds, dl, dt))) => {
                let place = match ds {
                    Some(s) => format!("sheet `{s}`, row {dl}"),
                    None => format!("line {dl}"),
                };
                Err(PlatformError::Rejected(InputError {
                    file: file.to_string(),
                    sheet: ms.clone(),
                    line: Some(*ml),
                    column: None,
                    message: format!(
                        "the sales dates mix months and days: `{mt}` here is a month, `{dt}` ({place}) a day. A KDP download holds either months (a lifetime or multi-month download) or days (a Dashboard download), never both: download the report again"
                    ),
                }))
            }
        }
    }
}

/// One sales sheet ready to turn rows into events.
struct Sheet {
    kind: SheetKind,
    /// Format of a `Print` sheet from its name; `None` when unknown (CSV copies).
    print_format: Option<Format>,
    is_final: bool,
    /// The family of each format (`FORMATS` order).
    families: [String; 4],
    source: String,
    /// The header in English (Spanish names mapped), to find the columns.
    headers: Vec<String>,
    /// The header as written, for messages and the `raw` row.
    shown: Vec<String>,
    /// The header as a `raw` layout (unnamed columns left out), shared by the sheet's events.
    raw_layout: Arc<RawLayout>,
    cols: Cols,
    period: Option<(NaiveDate, NaiveDate)>,
    /// Formats a union sheet must not emit because a per-format sheet covers them.
    skip_formats: Vec<Format>,
    /// Sheet name for error messages (`None` for CSV copies).
    sheet_name: Option<String>,
    file: String,
    /// KENP estimate rows whose marketplace had no known currency.
    unknown_marketplaces: Vec<String>,
    /// KENP dates `YYYY-MM-01` are month totals (FORMATS §12.2), decided from the workbook.
    kenp_months: bool,
    /// The shapes of the sales dates of the rows read (KENP dates are not sales dates).
    dates: DateShapes,
    /// Whether the row the last `event` call returned is a free download.
    last_free: bool,
    /// The formats of the events returned so far.
    formats_seen: Vec<Format>,
}

impl Sheet {
    /// Build from a classified header row, checking the required columns.
    ///
    /// `period` is the `Sales Period` month when the report is a Prior Months' Royalties one.
    /// `sheet_name` is the name as written (`None` for a CSV copy), `canonical_name` the
    /// English name of the sheet it is; `headers` are English, `shown` as written (`spanish`
    /// says which language, for messages).
    #[allow(clippy::too_many_arguments)]
    fn new(
        file: &str,
        sheet_name: Option<&str>,
        canonical_name: &str,
        kind: SheetKind,
        headers: Vec<String>,
        shown: Vec<String>,
        spanish: bool,
        period: Option<(NaiveDate, NaiveDate)>,
        header_line: u64,
    ) -> Result<Sheet, PlatformError> {
        let is_final = period.is_some();
        let idx = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| headers.iter().position(|h| h == n))
        };
        let mut missing: Vec<String> = Vec::new();
        let need = |names: &[&str], missing: &mut Vec<String>| -> usize {
            idx(names).unwrap_or_else(|| {
                missing.push(
                    names
                        .iter()
                        .map(|n| match lang::spanish_header(n).filter(|_| spanish) {
                            Some(es) => format!("`{es}` ({n})"),
                            None => format!("`{n}`"),
                        })
                        .collect::<Vec<_>>()
                        .join(" or "),
                );
                0
            })
        };
        let product_names: &[&str] = match kind {
            SheetKind::Ebook => &["ASIN", "eBook ASIN"],
            SheetKind::Print => &["ISBN"],
            SheetKind::Kenp => &["ASIN", "eBook ASIN"],
            SheetKind::Union => &["ASIN/ISBN"],
        };
        let mut cols = Cols {
            product: need(product_names, &mut missing),
            marketplace: need(&["Marketplace"], &mut missing),
            title: idx(&["Title"]),
            list: idx(&["Avg. List Price without tax"]),
            kind: idx(&TYPE_COLS),
            royalty_type: idx(&["Royalty Type"]),
            sold: idx(&["Units Sold"]),
            refunded: idx(&["Units Refunded"]),
            ..Cols::default()
        };
        if !is_final {
            let date_names: &[&str] = if kind == SheetKind::Kenp {
                &["Date"]
            } else {
                &["Royalty Date"]
            };
            cols.date = Some(need(date_names, &mut missing));
        }
        match kind {
            SheetKind::Kenp => {
                cols.pages = Some(need(&KENP_PAGES, &mut missing));
                if is_final {
                    cols.royalty = Some(need(&["Royalty"], &mut missing));
                    cols.currency = Some(need(&["Currency"], &mut missing));
                }
            }
            SheetKind::Ebook | SheetKind::Print => {
                cols.royalty = Some(need(&["Royalty"], &mut missing));
                cols.currency = Some(need(&["Currency"], &mut missing));
                cols.net = idx(&NET_SINGLE);
                if cols.net.is_none() {
                    cols.sold = Some(need(&["Units Sold"], &mut missing));
                    cols.refunded = Some(need(&["Units Refunded"], &mut missing));
                }
            }
            SheetKind::Union => {
                cols.royalty = Some(need(&["Earnings", "Royalty"], &mut missing));
                cols.currency = Some(need(&["Currency"], &mut missing));
                cols.net = Some(need(&NET_UNION, &mut missing));
            }
        }
        if !missing.is_empty() {
            let what = match kind {
                SheetKind::Ebook => "eBook Royalty",
                SheetKind::Print => "Paperback/Hardcover Royalty",
                SheetKind::Kenp => "KENP Read",
                SheetKind::Union => "Combined Sales / Total Earnings",
            };
            return Err(PlatformError::Rejected(InputError {
                file: file.to_string(),
                sheet: sheet_name.map(str::to_string),
                line: Some(header_line),
                column: None,
                message: format!(
                    "not a KDP {what} sheet{}{}: missing column{} {} (found header: {})",
                    if is_final {
                        " of Prior Months' Royalties"
                    } else {
                        ""
                    },
                    if spanish { " in Spanish" } else { "" },
                    if missing.len() == 1 { "" } else { "s" },
                    missing.join(", "),
                    shown.join(", ")
                ),
            }));
        }
        let print_format = sheet_name.map(|_| canonical_name).and_then(|n| {
            let l = n.to_ascii_lowercase();
            if l.contains("hardcover") {
                Some(Format::Hardcover)
            } else if l.contains("paperback") {
                Some(Format::Paperback)
            } else {
                None
            }
        });
        let prefix = if is_final {
            "kdp.final."
        } else {
            "kdp.estimate."
        };
        // A known sheet is named by its English name (a Spanish workbook's events look like its
        // English twin's); a sheet of no known name by its own.
        let source_name = match sheet_name {
            Some(n) if lang::sheet_name(n).is_none() => n,
            _ => canonical_name,
        };
        Ok(Sheet {
            kind,
            print_format,
            is_final,
            families: FORMATS.map(|f| family(is_final, f)),
            source: format!("{prefix}{}", slug(source_name)),
            raw_layout: Arc::new(RawLayout::new(&shown, true)),
            headers,
            shown,
            cols,
            period,
            skip_formats: Vec::new(),
            sheet_name: sheet_name.map(str::to_string),
            file: file.to_string(),
            unknown_marketplaces: Vec::new(),
            kenp_months: false,
            dates: DateShapes::default(),
            last_free: false,
            formats_seen: Vec::new(),
        })
    }

    /// The formats this sheet stands for, whether or not it has rows of them: its own; for a
    /// union sheet every format it holds by its nature (KENP only in the final ones, whose
    /// units column also holds pages).
    fn natural_formats(&self) -> Vec<Format> {
        match self.kind {
            SheetKind::Ebook => vec![Format::Ebook],
            SheetKind::Kenp => vec![Format::Kenp],
            SheetKind::Print => self.print_format.into_iter().collect(),
            SheetKind::Union => {
                let mut v = vec![Format::Ebook, Format::Paperback, Format::Hardcover];
                if has_any(&self.headers, &NET_UNION[..3]) {
                    v.push(Format::Kenp);
                }
                v
            }
        }
    }

    fn reject(&self, line: u64, column: Option<&str>, message: String) -> PlatformError {
        PlatformError::Rejected(InputError {
            file: self.file.clone(),
            sheet: self.sheet_name.clone(),
            line: Some(line),
            column: column.map(str::to_string),
            message,
        })
    }

    /// Add the sheet name to a cell error raised by the csvutil helpers.
    fn in_sheet(&self, e: PlatformError) -> PlatformError {
        match e {
            PlatformError::Rejected(mut ie) => {
                ie.sheet.clone_from(&self.sheet_name);
                PlatformError::Rejected(ie)
            }
            other => other,
        }
    }

    /// A column's header as written in the file.
    fn header(&self, i: usize) -> &str {
        self.shown.get(i).map_or("", String::as_str)
    }

    fn money_opt(
        &self,
        line: u64,
        col: Option<usize>,
        row: &dyn Row,
    ) -> Result<Option<i64>, PlatformError> {
        match col {
            None => Ok(None),
            Some(i) => csvutil::money_opt(&self.file, line, self.header(i), row.cell(i))
                .map_err(|e| self.in_sheet(e)),
        }
    }

    fn units_opt(
        &self,
        line: u64,
        col: Option<usize>,
        row: &dyn Row,
    ) -> Result<Option<i64>, PlatformError> {
        match col {
            None => Ok(None),
            Some(i) => csvutil::units_opt(&self.file, line, self.header(i), row.cell(i))
                .map_err(|e| self.in_sheet(e)),
        }
    }

    /// The format of one row.
    fn row_format(&self, row: &dyn Row) -> Format {
        let type_text = self.cols.kind.map_or("", |i| row.cell(i).trim());
        let lower = lang::english_value(type_text).to_ascii_lowercase();
        match self.kind {
            SheetKind::Ebook => Format::Ebook,
            SheetKind::Kenp => Format::Kenp,
            SheetKind::Print => self.print_format.unwrap_or(if lower.contains("hardcover") {
                Format::Hardcover
            } else {
                Format::Paperback
            }),
            SheetKind::Union => {
                if lower.contains("kenp") || lower.contains("normalized page") {
                    Format::Kenp
                } else if lower.contains("hardcover") {
                    Format::Hardcover
                } else if lower.contains("paperback") || lower.contains("expanded distribution") {
                    Format::Paperback
                } else {
                    let id = row.cell(self.cols.product).trim();
                    let digits = csvutil::normalise_isbn(id);
                    let looks_isbn = (digits.len() == 13 || digits.len() == 10)
                        && digits.bytes().all(|b| b.is_ascii_digit());
                    let rt = self.cols.royalty_type.map_or("", |i| row.cell(i).trim());
                    if looks_isbn || rt == "60%" || rt == "40%" {
                        Format::Paperback
                    } else {
                        Format::Ebook
                    }
                }
            }
        }
    }

    /// Turn one data row into an event, or `None` for rows that carry no sale (blank rows,
    /// period labels, footnotes, formats covered by another sheet).
    fn event(&mut self, line: u64, row: &dyn Row) -> Result<Option<SaleEvent>, PlatformError> {
        let first = (0..row.width())
            .map(|i| row.cell(i).trim())
            .find(|c| !c.is_empty());
        let Some(first) = first else {
            return Ok(None);
        };
        if first.starts_with("Sales report for the period")
            || first == "Sales Period"
            || first == "Periodo de ventas"
        {
            if let Some(p) = period_label(first)
                .or_else(|| (1..row.width()).find_map(|i| period_label(row.cell(i))))
            {
                if self.is_final {
                    self.period = Some(p);
                }
            }
            return Ok(None);
        }
        let product_raw = row.cell(self.cols.product).trim();
        let marketplace = row.cell(self.cols.marketplace).trim();
        if product_raw.is_empty() && marketplace.is_empty() {
            if first.starts_with('*') || first.starts_with("N/A") {
                return Ok(None); // footnote
            }
            return Err(self.reject(
                line,
                Some(self.header(self.cols.product)),
                format!(
                    "expected an ASIN/ISBN and a Marketplace, found neither (row starts `{first}`)"
                ),
            ));
        }
        if product_raw.is_empty() {
            return Err(self.reject(
                line,
                Some(self.header(self.cols.product)),
                "expected an ASIN or ISBN, found an empty cell".to_string(),
            ));
        }
        let date = self.cols.date.map(|c| (c, parse_day_or_month(row.cell(c))));
        if let (Some((c, Some(period))), false) = (date, self.kind == SheetKind::Kenp) {
            // Every sales row's date shape counts, whether or not this sheet imports it.
            self.dates
                .note_parsed(self.sheet_name.as_deref(), line, row.cell(c), period);
        }
        let format = self.row_format(row);
        if self.skip_formats.contains(&format) {
            return Ok(None);
        }
        let (start, end) = if let Some((c, parsed)) = date {
            let text = row.cell(c).trim();
            let (start, end) = parsed.ok_or_else(|| {
                self.reject(
                    line,
                    Some(self.header(c)),
                    format!("expected a date like 2025-07 or 2025-07-31, found `{text}`"),
                )
            })?;
            // In a download of month totals a KENP row dated the 1st is the whole month
            // (FORMATS §12.2); any other day is a day.
            if format == Format::Kenp && self.kenp_months && start == end && start.day() == 1 {
                month_of(start)
            } else {
                (start, end)
            }
        } else {
            self.period.ok_or_else(|| {
                self.reject(
                    line,
                    None,
                    "no `Sales Period` label was found for this Prior Months' Royalties sheet"
                        .to_string(),
                )
            })?
        };
        let product_id = match format {
            Format::Paperback | Format::Hardcover => csvutil::normalise_isbn(product_raw),
            _ => product_raw.to_string(),
        };
        // Checked for well-formedness in every row, whether or not they give the units.
        let sold = self.units_opt(line, self.cols.sold, row)?;
        let refunded = self.units_opt(line, self.cols.refunded, row)?;
        let net = self.units_opt(line, self.cols.net, row)?;
        let (units, kenp_pages) = if format == Format::Kenp {
            let pages_col = self.cols.pages.or(self.cols.net);
            (0, self.units_opt(line, pages_col, row)?.unwrap_or(0))
        } else if self.cols.net.is_some() {
            match net {
                Some(n) => (n, 0),
                None => (sold.unwrap_or(0) - refunded.unwrap_or(0), 0),
            }
        } else {
            (sold.unwrap_or(0) - refunded.unwrap_or(0), 0)
        };
        let list = self.money_opt(line, self.cols.list, row)?;
        let royalty = match (
            self.cols.royalty,
            self.money_opt(line, self.cols.royalty, row)?,
        ) {
            (_, Some(r)) => r,
            (None, None) => 0,
            (Some(c), None) => {
                if format == Format::Kenp && !self.is_final {
                    0
                } else {
                    return Err(self.reject(
                        line,
                        Some(self.header(c)),
                        format!("expected an amount, found `{}`", row.cell(c).trim()),
                    ));
                }
            }
        };
        let currency = match self.cols.currency {
            Some(c) => {
                let cur = row.cell(c).trim().to_ascii_uppercase();
                if cur.len() != 3 || !cur.bytes().all(|b| b.is_ascii_alphabetic()) {
                    return Err(self.reject(
                        line,
                        Some(self.header(c)),
                        format!("expected a three-letter currency code such as USD, found `{cur}`"),
                    ));
                }
                cur
            }
            None => match marketplace_currency(marketplace) {
                Some(c) => c.to_string(),
                None => {
                    if !self.unknown_marketplaces.iter().any(|m| m == marketplace) {
                        self.unknown_marketplaces.push(marketplace.to_string());
                    }
                    String::new()
                }
            },
        };
        self.last_free = self.cols.kind.is_some_and(|i| {
            lang::english_value(row.cell(i))
                .to_ascii_lowercase()
                .starts_with("free")
        });
        if !self.formats_seen.contains(&format) {
            self.formats_seen.push(format);
        }
        Ok(Some(SaleEvent {
            platform: Platform::AmazonKdp,
            family: self.families[format_index(format)].clone(),
            source: self.source.clone(),
            natural_key: None,
            period_start: start,
            period_end: end,
            title: self
                .cols
                .title
                .map_or("", |i| row.cell(i).trim())
                .to_string(),
            product_id,
            format,
            marketplace: marketplace.to_string(),
            retailer: "Amazon".to_string(),
            country: marketplace_country(marketplace).to_string(),
            units,
            kenp_pages,
            list_price_micros: list,
            royalty_micros: royalty,
            currency,
            is_final: self.is_final,
            status: String::new(),
            raw: self.raw_layout.cells_json(0, |i| row.cell(i)),
            raw_layout: Some(self.raw_layout.clone()),
            line,
        }))
    }

    /// Warnings collected while parsing.
    fn warnings(&self) -> Vec<String> {
        self.unknown_marketplaces
            .iter()
            .map(|m| {
                format!(
                    "`{}`{}: KENP rows for marketplace `{m}` have no known currency; their currency is left empty",
                    self.file,
                    self.sheet_name
                        .as_ref()
                        .map(|s| format!(", sheet `{s}`"))
                        .unwrap_or_default()
                )
            })
            .collect()
    }
}
