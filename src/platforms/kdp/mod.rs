//! Amazon KDP royalty reports: the XLSX workbooks KDP writes (old 9-sheet Dashboard /
//! Royalties Estimator workbook, Prior Months' Royalties 2023–2025 variants, the new KDP
//! Reports `KENP` sheet) and CSV copies of any one of their sales sheets.
//!
//! Detection is by content: `PK\x03\x04` → XLSX, otherwise delimited text; then sheet names
//! (trimmed) and header sets. Estimator/Dashboard sheets carry a `Royalty Date`/`Date` column
//! and are estimates (family `kdp_estimate`); Prior Months' Royalties have a `Sales Period`
//! label instead and are final (family `kdp_final`, period = that whole month).
//!
//! Only the per-format sheets (`eBook Royalty`, `Paperback Royalty`, `Hardcover Royalty`,
//! `KENP Read`/`KENP`) are imported; a union sheet (`Combined Sales`, `Total Earnings`,
//! `Total Royalty`, `Combined Royalty Report`) only supplies the formats that no per-format
//! sheet of the same workbook covers. `Summary`, `Orders Processed`, `eBook Orders Placed`,
//! `Report Definitions` and `Payments` are never imported. Rows have no ids: identical rows
//! are separate sales and are all kept.

mod text;
mod xlsx;

#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;

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
            "this is an old binary Excel (.xls) workbook; KDP reports from 2011–2016 (per-store blocks) are not supported: download the Prior Months' Royalties or Royalties Estimator report as .xlsx from KDP Reports",
        ))),
        _ => text::parse(path, display_name, sink),
    }
}

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
    Spanish,
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
const SPANISH: [&str; 8] = [
    "Fecha de las regalías",
    "Tienda",
    "Regalías",
    "Moneda",
    "Título",
    "Unidades vendidas",
    "Nombre del autor",
    "Tipo de regalía",
];
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

/// Classify a header row (already trimmed).
fn classify(headers: &[String]) -> Class {
    if has_any(headers, &SPANISH) {
        return Class::Spanish;
    }
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
        Class::Spanish => "the headers are in Spanish (KDP localises reports to the account language): switch the KDP account language to English and download the report again".to_string(),
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

/// The period of a label such as `July 2025`, `Sales report for the period August - 2023`,
/// `2025-07` or `2025-07-01`: the whole month.
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
}

/// First and last day of the month containing `d`.
fn month_of(d: NaiveDate) -> (NaiveDate, NaiveDate) {
    use chrono::Datelike;
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

/// One sales sheet ready to turn rows into events.
struct Sheet {
    kind: SheetKind,
    /// Format of a `Print` sheet from its name; `None` when unknown (CSV copies).
    print_format: Option<Format>,
    is_final: bool,
    family: &'static str,
    source: String,
    headers: Vec<String>,
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
}

impl Sheet {
    /// Build from a classified header row, checking the required columns.
    ///
    /// `period` is the `Sales Period` month when the report is a Prior Months' Royalties one.
    fn new(
        file: &str,
        sheet_name: Option<&str>,
        canonical_name: &str,
        kind: SheetKind,
        headers: Vec<String>,
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
                        .map(|n| format!("`{n}`"))
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
                    "not a KDP {what} sheet{}: missing column{} {} (found header: {})",
                    if is_final {
                        " of Prior Months' Royalties"
                    } else {
                        ""
                    },
                    if missing.len() == 1 { "" } else { "s" },
                    missing.join(", "),
                    headers.join(", ")
                ),
            }));
        }
        let print_format = sheet_name.and_then(|n| {
            let l = n.to_ascii_lowercase();
            if l.contains("hardcover") {
                Some(Format::Hardcover)
            } else if l.contains("paperback") {
                Some(Format::Paperback)
            } else {
                None
            }
        });
        let (family, prefix) = if is_final {
            ("kdp_final", "kdp.final.")
        } else {
            ("kdp_estimate", "kdp.estimate.")
        };
        Ok(Sheet {
            kind,
            print_format,
            is_final,
            family,
            source: format!("{prefix}{}", slug(sheet_name.unwrap_or(canonical_name))),
            raw_layout: Arc::new(RawLayout::new(&headers, true)),
            headers,
            cols,
            period,
            skip_formats: Vec::new(),
            sheet_name: sheet_name.map(str::to_string),
            file: file.to_string(),
            unknown_marketplaces: Vec::new(),
        })
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

    fn header(&self, i: usize) -> &str {
        self.headers.get(i).map_or("", String::as_str)
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
        let lower = type_text.to_ascii_lowercase();
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
        if first.starts_with("Sales report for the period") || first == "Sales Period" {
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
        let format = self.row_format(row);
        if self.skip_formats.contains(&format) {
            return Ok(None);
        }
        let (start, end) = if let Some(c) = self.cols.date {
            let text = row.cell(c).trim();
            parse_day_or_month(text).ok_or_else(|| {
                self.reject(
                    line,
                    Some(self.header(c)),
                    format!("expected a date like 2025-07 or 2025-07-31, found `{text}`"),
                )
            })?
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
        Ok(Some(SaleEvent {
            platform: Platform::AmazonKdp,
            family: self.family.to_string(),
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
