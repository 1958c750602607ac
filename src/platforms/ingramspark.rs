//! IngramSpark / Lightning Source reports: the publisher compensation report
//! (`sales_comp.xls`, which is text despite its name: tab-, pipe- or comma-delimited, or an
//! HTML table) and the newer Sales Report (units only).
//!
//! Compensation: royalty = `MTD_net_pub_comp` in `reporting_currency_code` (what the
//! publisher is paid after print cost and discount, net of returns; never `MTD_pub_comp`, and
//! never a `YTD_` column, which repeats the earlier months); units = `MTD_net_quantity`; period
//! = the month of `period_name` (`JUL-25`; a `CUSTOM` download has no month and is rejected);
//! final (paid 90 days after the month). Files with `PTD_` instead of `MTD_` columns are read
//! the same way. A file replaces, for each month it holds, the events of the same kind
//! (print or ebook), currency, market and sales category (family
//! `ingramspark_compensation:<kind>:<currency>:<market>:<category>`), so reports downloaded
//! per operating unit or currency never replace each other.
//!
//! Sales Report: units = `Units Sold` per ISBN and country, royalty 0 in the currency of the
//! market; not final (reported sales, not compensation); the period comes from a date column
//! or the date range in the lines above the header (family `ingramspark_sales:<kind>`).

use std::path::Path;

use chrono::{Datelike, NaiveDate};

use super::csvutil;
use super::records::{self, Input, Magic, Records, Table};
use super::{EventSink, InputError, ParseSummary, PlatformError, ReportedPayment};
use crate::model::{Format, Platform, RawLayout, SaleEvent};

const COMPENSATION: &str = "IngramSpark compensation report";
const SALES: &str = "IngramSpark Sales Report";

/// Days after the end of the month until IngramSpark pays its compensation (FORMATS §14.9).
pub const PAYMENT_DAYS: i64 = 90;

/// The most (month, currency) pairs summed per file: a real report has a few; the bound keeps
/// memory flat whatever the file holds.
const MAX_TOTALS: usize = 1_000;

/// Column names only the compensation report has (any two make a header of that report).
const COMPENSATION_MARKS: [&str; 6] = [
    "period_name",
    "reporting_currency_code",
    "isbn_13",
    "publisher_number",
    "mtd_net_pub_comp",
    "ptd_net_pub_comp",
];

/// What a compensation report says IngramSpark owes for one month, in one currency: Σ
/// `MTD_net_pub_comp` (and of `deferral_balance`, when the file has it). Parsed for the payouts
/// view; not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compensation {
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub currency: String,
    pub amount_micros: i64,
    pub deferral_balance_micros: Option<i64>,
    /// When the compensation is due: 90 days after the end of the month.
    pub due_on: NaiveDate,
}

/// Parse an IngramSpark compensation report or Sales Report, streaming its rows into `sink`.
///
/// # Errors
/// As `parse_report`.
pub fn parse_file(
    path: &Path,
    display_name: &str,
    sink: &mut dyn EventSink,
) -> Result<ParseSummary, PlatformError> {
    parse_report(path, display_name, sink).map(|(summary, _)| summary)
}

/// Parse an IngramSpark report, streaming its rows into `sink`; for a compensation report
/// also return what it says is owed, per month and currency.
///
/// # Errors
/// `Rejected` for a file that is neither report, a `CUSTOM` period, or a malformed row (naming
/// the line and column); `Transient` for I/O errors; `Sink` when the sink fails.
pub fn parse_report(
    path: &Path,
    display_name: &str,
    sink: &mut dyn EventSink,
) -> Result<(ParseSummary, Vec<Compensation>), PlatformError> {
    let input = Input::open(path, display_name, false)?;
    match input.magic {
        Magic::Ole | Magic::Zip => {
            return Err(PlatformError::Rejected(InputError::file(
                display_name,
                "this is a spreadsheet workbook (XLSX/XLS), not an IngramSpark report as text: run the compensation report again with \"Tab-Delimited (Excel)\" output, or save the sheet as tab-separated text",
            )))
        }
        Magic::Gzip => {
            return Err(PlatformError::Rejected(InputError::file(
                display_name,
                format!("not a recognised {COMPENSATION}: the file is gzip-compressed"),
            )))
        }
        Magic::Text => {}
    }
    let (mut table, container) = if input.looks_like_html() {
        (
            Table::Html(records::HtmlRows::new(input)),
            "HTML table".to_string(),
        )
    } else {
        let (delimiter, name) = sniff_delimiter(&input.head_lines(20));
        (
            Table::Text(Records::new(input, delimiter, delimiter == b',')),
            name.to_string(),
        )
    };
    let mut rec = csv::StringRecord::new();
    let found = records::find_header(&mut table, &mut rec, 20, clean, |cells| {
        is_compensation_header(cells) || is_sales_header(cells)
    })?;
    let Some((headers, header_line)) = found.header.clone() else {
        if let Table::Html(h) = &table {
            if !h.saw_table() {
                return Err(PlatformError::Rejected(InputError::file(
                    display_name,
                    format!("not a recognised {COMPENSATION}: the file is HTML without a table"),
                )));
            }
        }
        return Err(PlatformError::Rejected(InputError::file(
            display_name,
            format!(
                "not a recognised {COMPENSATION} or {SALES}: expected a header with `isbn_13`, `period_name` and `MTD_net_pub_comp`, or with `ISBN` and `Units Sold` (found: {})",
                found.first_row()
            ),
        )));
    };
    let file = display_name.to_string();
    let ctx = Ctx {
        file: &file,
        headers: &headers,
        header_line,
        raw_layout: std::sync::Arc::new(RawLayout::new(&headers, true)),
        want_raw: sink.wants_raw(),
    };
    if is_compensation_header(&headers) {
        let (mut summary, comp) = compensation(&ctx, &mut table, &mut rec, sink)?;
        summary.layout = format!("{COMPENSATION} ({container})");
        Ok((summary, comp))
    } else {
        let mut summary = sales_report(&ctx, &found.preamble, &mut table, &mut rec, sink)?;
        summary.layout = format!("{SALES} ({container})");
        Ok((summary, Vec::new()))
    }
}

/// What every row of a file needs.
struct Ctx<'a> {
    file: &'a str,
    headers: &'a [String],
    header_line: u64,
    raw_layout: std::sync::Arc<RawLayout>,
    want_raw: bool,
}

impl Ctx<'_> {
    fn col(&self, name: &str) -> Option<usize> {
        records::position(self.headers, name)
    }

    fn missing(&self, layout: &str, names: &[&str]) -> Result<(), PlatformError> {
        let missing: Vec<String> = names
            .iter()
            .filter(|n| self.col(n).is_none())
            .map(|n| format!("`{n}`"))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(PlatformError::Rejected(InputError::at(
            self.file,
            self.header_line,
            None,
            format!(
                "not a complete {layout}: missing column{} {} (found header: {})",
                if missing.len() == 1 { "" } else { "s" },
                missing.join(", "),
                self.headers.join(", ")
            ),
        )))
    }

    /// Read the next data row into `cells` (cleaned); `None` at the end. Checks the width.
    fn next_row(
        &self,
        table: &mut Table,
        rec: &mut csv::StringRecord,
        cells: &mut Vec<String>,
    ) -> Result<Option<u64>, PlatformError> {
        loop {
            if !table.next(rec)? {
                return Ok(None);
            }
            if records::is_blank(rec) {
                continue;
            }
            let line = table.line();
            let n = self.headers.len();
            let extra_empty = rec.len() > n && rec.iter().skip(n).all(|c| c.trim().is_empty());
            if rec.len() != n && !extra_empty {
                let hint = if rec.len() > n {
                    " (an unquoted delimiter inside a value, such as a decimal comma `4,19`?)"
                } else {
                    " (the file looks truncated or the row is cut short)"
                };
                return Err(PlatformError::Rejected(InputError::at(
                    self.file,
                    line,
                    None,
                    format!(
                        "expected {n} fields as in the header, found {}{hint}",
                        rec.len()
                    ),
                )));
            }
            cells.clear();
            cells.extend(rec.iter().take(n).map(clean));
            return Ok(Some(line));
        }
    }

    fn raw(&self, rec: &csv::StringRecord) -> (String, Option<std::sync::Arc<RawLayout>>) {
        if self.want_raw {
            (
                self.raw_layout
                    .cells_json(rec.as_slice().len(), |i| rec.get(i).unwrap_or("")),
                Some(self.raw_layout.clone()),
            )
        } else {
            (String::new(), None)
        }
    }
}

/// The compensation report's rows.
fn compensation(
    ctx: &Ctx<'_>,
    table: &mut Table,
    rec: &mut csv::StringRecord,
    sink: &mut dyn EventSink,
) -> Result<(ParseSummary, Vec<Compensation>), PlatformError> {
    // Month-to-date measures; some files call them period-to-date.
    let prefix = if ctx.col("MTD_net_pub_comp").is_none() && ctx.col("PTD_net_pub_comp").is_some() {
        "PTD_"
    } else {
        "MTD_"
    };
    let net_comp = format!("{prefix}net_pub_comp");
    let net_qty = format!("{prefix}net_quantity");
    let isbn_name = if ctx.col("isbn_13").is_some() {
        "isbn_13"
    } else {
        "isbn"
    };
    ctx.missing(
        COMPENSATION,
        &[
            isbn_name,
            "title",
            "market",
            "period_name",
            "reporting_currency_code",
            &net_qty,
            &net_comp,
        ],
    )?;
    let need = |n: &str| ctx.col(n).unwrap_or(0);
    let (c_isbn, c_title, c_market, c_period, c_currency) = (
        need(isbn_name),
        need("title"),
        need("market"),
        need("period_name"),
        need("reporting_currency_code"),
    );
    let (c_net_qty, c_net_comp) = (need(&net_qty), need(&net_comp));
    let c_isbn10 = ctx.col("isbn").filter(|&i| i != c_isbn);
    let c_binding = ctx.col("binding_type");
    let c_category = ctx.col("sales_category");
    let c_list = ctx.col("list_price");
    let c_deferral = ctx.col("deferral_balance");
    // Every measure of the chosen prefix is a number, as are a few others; checked on every
    // row though only two are used. `YTD_` columns are not read at all.
    let numeric: Vec<(usize, &str)> = ctx
        .headers
        .iter()
        .enumerate()
        .filter(|(_, h)| {
            let l = h.to_ascii_lowercase();
            l.starts_with(&prefix.to_ascii_lowercase())
                || [
                    "list_price",
                    "wholesale_discount_%",
                    "deferral_balance",
                    "original_deferral_amount",
                ]
                .contains(&l.as_str())
        })
        .map(|(i, h)| (i, h.as_str()))
        .collect();
    let mut summary = ParseSummary::default();
    // Per (month, currency): compensation, deferral balance, rows.
    let mut totals: std::collections::BTreeMap<(NaiveDate, String), (i64, Option<i64>, u64)> =
        std::collections::BTreeMap::new();
    let mut overflow = false;
    let mut cells = Vec::with_capacity(ctx.headers.len());
    let file = ctx.file;
    while let Some(line) = ctx.next_row(table, rec, &mut cells)? {
        summary.rows += 1;
        let get = |i: usize| cells.get(i).map_or("", String::as_str);
        let reject = |column: &str, message: String| {
            PlatformError::Rejected(InputError::at(file, line, Some(column), message))
        };
        let (start, end) = period_name(get(c_period)).map_err(|m| reject("period_name", m))?;
        for (i, name) in &numeric {
            csvutil::money_opt(file, line, name, get(*i))?;
        }
        let units = csvutil::units_opt(file, line, &net_qty, get(c_net_qty))?.unwrap_or(0);
        let royalty = csvutil::money(file, line, &net_comp, get(c_net_comp))?;
        let currency = currency_code(get(c_currency)).ok_or_else(|| {
            reject(
                "reporting_currency_code",
                format!(
                    "expected a three-letter currency code such as USD, found `{}`",
                    get(c_currency)
                ),
            )
        })?;
        let product_id = match isbn_cell(get(c_isbn)) {
            Ok(id) if !id.is_empty() => id,
            other => {
                let fallback = c_isbn10
                    .and_then(|i| isbn_cell(get(i)).ok())
                    .filter(|s| !s.is_empty());
                match (fallback, other) {
                    (Some(id), _) => id,
                    (None, Err(lost)) => return Err(reject(isbn_name, lost)),
                    (None, Ok(_)) => {
                        return Err(reject(
                            isbn_name,
                            "expected an ISBN, found an empty cell".to_string(),
                        ))
                    }
                }
            }
        };
        let market = strip_ls(get(c_market));
        let category = c_category.map_or("", get).to_string();
        let format = c_binding.map_or(Format::Paperback, |i| binding_format(get(i)));
        let kind = if format == Format::Ebook {
            "ebook"
        } else {
            "print"
        };
        let list = match c_list {
            Some(i) => csvutil::money_opt(file, line, "list_price", get(i))?,
            None => None,
        };
        let deferral = match c_deferral {
            Some(i) => csvutil::money_opt(file, line, "deferral_balance", get(i))?,
            None => None,
        };
        let key = (start, currency.clone());
        if totals.len() < MAX_TOTALS || totals.contains_key(&key) {
            let t = totals.entry(key).or_insert((0, c_deferral.map(|_| 0), 0));
            t.0 = t.0.saturating_add(royalty);
            if let (Some(d), Some(sum)) = (deferral, t.1.as_mut()) {
                *sum = sum.saturating_add(d);
            }
            t.2 += 1;
        } else {
            overflow = true;
        }
        let (raw, raw_layout) = ctx.raw(rec);
        let event = SaleEvent {
            platform: Platform::Ingramspark,
            family: format!("ingramspark_compensation:{kind}:{currency}:{market}:{category}"),
            source: "ingramspark.compensation".to_string(),
            natural_key: None,
            period_start: start,
            period_end: end,
            title: get(c_title).to_string(),
            product_id,
            format,
            country: market_country(&market).to_string(),
            marketplace: market,
            retailer: category,
            units,
            kenp_pages: 0,
            list_price_micros: list,
            royalty_micros: royalty,
            currency,
            is_final: true,
            status: String::new(),
            raw,
            raw_layout,
            line,
        };
        sink.event(event)?;
        if summary.rows % 4096 == 0 {
            sink.progress(table.bytes_read());
        }
    }
    sink.progress(table.bytes_read());
    if summary.rows == 0 {
        summary
            .warnings
            .push(format!("`{file}` has a header but no compensation rows"));
    }
    if overflow {
        summary.warnings.push(format!(
            "`{file}` names more than {MAX_TOTALS} months and currencies: what it says is owed was not summarised"
        ));
        totals.clear();
    }
    for ((start, currency), (amount, _, rows)) in &totals {
        summary.payments.push(ReportedPayment {
            source: "ingramspark.compensation".to_string(),
            date: None,
            currency: currency.clone(),
            amount_micros: *amount,
            period: month_bounds(start.year(), start.month()),
            rows: *rows,
        });
    }
    let comp = totals
        .into_iter()
        .map(|((start, currency), (amount, deferral, _))| {
            let (_, end) = month_bounds(start.year(), start.month()).unwrap_or((start, start));
            Compensation {
                period_start: start,
                period_end: end,
                currency,
                amount_micros: amount,
                deferral_balance_micros: deferral,
                due_on: end + chrono::Duration::days(PAYMENT_DAYS),
            }
        })
        .collect();
    Ok((summary, comp))
}

/// The Sales Report's rows (units only).
fn sales_report(
    ctx: &Ctx<'_>,
    preamble: &[String],
    table: &mut Table,
    rec: &mut csv::StringRecord,
    sink: &mut dyn EventSink,
) -> Result<ParseSummary, PlatformError> {
    ctx.missing(SALES, &["ISBN", "Title", "Units Sold"])?;
    let need = |n: &str| ctx.col(n).unwrap_or(0);
    let (c_isbn, c_title, c_units) = (need("ISBN"), need("Title"), need("Units Sold"));
    let c_format = ctx.col("Format");
    let c_country = ctx.col("Country");
    let start_col = ["Start Date", "Period Start", "From"]
        .iter()
        .find_map(|n| ctx.col(n));
    let end_col = ["End Date", "Period End", "To"]
        .iter()
        .find_map(|n| ctx.col(n));
    let day_col = ["Sale Date", "Date", "Transaction Date"]
        .iter()
        .find_map(|n| ctx.col(n));
    let month_col = ["Period", "Month", "Sales Period", "period_name"]
        .iter()
        .find_map(|n| ctx.col(n));
    let from = if let Some((s, e)) = start_col.zip(end_col) {
        PeriodFrom::Range(s, e)
    } else if let Some(d) = day_col {
        PeriodFrom::Day(d)
    } else if let Some(m) = month_col {
        PeriodFrom::Month(m)
    } else if let Some((s, e)) = preamble_period(preamble) {
        PeriodFrom::File(s, e)
    } else {
        return Err(PlatformError::Rejected(InputError::at(
            ctx.file,
            ctx.header_line,
            None,
            format!(
                "this {SALES} says no period (no date column, and no date range above the header), so its units cannot be placed in a month: download the report again with its date range, or import the compensation report for the month instead"
            ),
        )));
    };
    // List prices per market: a header holding `list price` and the market's code.
    let list_cols: Vec<(usize, &str)> = ctx
        .headers
        .iter()
        .enumerate()
        .filter(|(_, h)| h.to_ascii_lowercase().contains("list price"))
        .filter_map(|(i, h)| market_of_header(h).map(|m| (i, m)))
        .collect();
    let mut summary = ParseSummary::default();
    let mut cells = Vec::with_capacity(ctx.headers.len());
    let file = ctx.file;
    while let Some(line) = ctx.next_row(table, rec, &mut cells)? {
        summary.rows += 1;
        let get = |i: usize| cells.get(i).map_or("", String::as_str);
        let reject = |column: &str, message: String| {
            PlatformError::Rejected(InputError::at(file, line, Some(column), message))
        };
        let date = |i: usize| {
            csvutil::parse_date(get(i)).ok_or_else(|| {
                reject(
                    &ctx.headers[i],
                    format!("expected a date like 07/31/2025, found `{}`", get(i)),
                )
            })
        };
        let (start, end) = match from {
            PeriodFrom::Range(s, e) => (date(s)?, date(e)?),
            PeriodFrom::Day(d) => {
                let d = date(d)?;
                (d, d)
            }
            PeriodFrom::Month(m) => month_label(get(m)).ok_or_else(|| {
                reject(
                    &ctx.headers[m],
                    format!(
                        "expected a month like JUL-25, 2025-07 or July 2025, found `{}`",
                        get(m)
                    ),
                )
            })?,
            PeriodFrom::File(s, e) => (s, e),
        };
        if end < start {
            return Err(reject(
                "End Date",
                format!("the end date {end} is before the start date {start}"),
            ));
        }
        let units = csvutil::units_opt(file, line, "Units Sold", get(c_units))?.unwrap_or(0);
        for (i, _) in &list_cols {
            csvutil::money_opt(file, line, &ctx.headers[*i], get(*i))?;
        }
        let isbn = isbn_cell(get(c_isbn)).map_err(|m| reject("ISBN", m))?;
        if isbn.is_empty() {
            return Err(reject(
                "ISBN",
                "expected an ISBN, found an empty cell".to_string(),
            ));
        }
        let format = match c_format {
            Some(i) => sales_format(get(i)).ok_or_else(|| {
                reject(
                    "Format",
                    format!(
                        "expected `PF` (paperback), `TC` (hardcover) or an ebook format, found `{}`",
                        get(i)
                    ),
                )
            })?,
            None => Format::Paperback,
        };
        let country_text = c_country.map_or("", get);
        let (country, currency, market) = country_market(country_text);
        let list = list_cols
            .iter()
            .find(|(_, m)| *m == market)
            .map(|(i, _)| csvutil::money_opt(file, line, &ctx.headers[*i], get(*i)))
            .transpose()?
            .flatten();
        let kind = if format == Format::Ebook {
            "ebook"
        } else {
            "print"
        };
        let (raw, raw_layout) = ctx.raw(rec);
        let event = SaleEvent {
            platform: Platform::Ingramspark,
            family: format!("ingramspark_sales:{kind}"),
            source: "ingramspark.sales_report".to_string(),
            natural_key: None,
            period_start: start,
            period_end: end,
            title: get(c_title).to_string(),
            product_id: isbn,
            format,
            marketplace: country_text.to_string(),
            retailer: String::new(),
            country: country.to_string(),
            units,
            kenp_pages: 0,
            list_price_micros: list,
            royalty_micros: 0,
            currency: currency.to_string(),
            is_final: false,
            status: String::new(),
            raw,
            raw_layout,
            line,
        };
        sink.event(event)?;
        if summary.rows % 4096 == 0 {
            sink.progress(table.bytes_read());
        }
    }
    sink.progress(table.bytes_read());
    summary.warnings.push(format!(
        "`{file}`: the {SALES} carries units only (no compensation): its rows count units with zero royalty"
    ));
    if summary.rows == 0 {
        summary
            .warnings
            .push(format!("`{file}` has a header but no sales rows"));
    }
    Ok(summary)
}

/// Where a Sales Report row's period comes from.
#[derive(Debug, Clone, Copy)]
enum PeriodFrom {
    /// Start and end date columns.
    Range(usize, usize),
    /// One date column: that day.
    Day(usize),
    /// A month column.
    Month(usize),
    /// The date range above the header, for every row.
    File(NaiveDate, NaiveDate),
}

fn is_compensation_header(cells: &[String]) -> bool {
    COMPENSATION_MARKS
        .iter()
        .filter(|m| records::position(cells, m).is_some())
        .count()
        >= 2
}

fn is_sales_header(cells: &[String]) -> bool {
    records::position(cells, "ISBN").is_some() && records::position(cells, "Units Sold").is_some()
}

/// The delimiter of the text report, from its header line (the first of the first lines
/// naming `period_name`, `isbn` or `Units Sold`; else the first non-blank one): tab, `|` or `,`.
fn sniff_delimiter(lines: &[String]) -> (u8, &'static str) {
    let header = lines
        .iter()
        .find(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("period_name") || l.contains("isbn") || l.contains("units sold")
        })
        .or_else(|| lines.iter().find(|l| !l.trim().is_empty()));
    match header {
        Some(h) if h.contains('\t') => (b'\t', "tab-delimited"),
        Some(h) if h.contains('|') => (b'|', "pipe-delimited"),
        _ => (b',', "comma-delimited"),
    }
}

/// A cell: BOM, white space and one pair of surrounding double quotes removed (tab- and
/// pipe-delimited files are read without CSV quoting).
fn clean(text: &str) -> String {
    let t = text.trim_start_matches('\u{feff}').trim();
    t.strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .filter(|_| t.len() >= 2)
        .unwrap_or(t)
        .trim()
        .to_string()
}

fn currency_code(text: &str) -> Option<String> {
    let t = text.trim();
    (t.len() == 3 && t.bytes().all(|b| b.is_ascii_alphabetic())).then(|| t.to_ascii_uppercase())
}

/// An ISBN cell as digits. Excel writes a 13-digit number as `9.78173246101E+12`: read when
/// the digits are all there, an error when the round trip lost some.
fn isbn_cell(text: &str) -> Result<String, String> {
    let t = text.trim();
    let Some((mantissa, exp)) = t.split_once(['E', 'e']) else {
        return Ok(csvutil::normalise_isbn(t));
    };
    let exp: usize = exp
        .trim_start_matches('+')
        .parse()
        .map_err(|_| format!("expected an ISBN, found `{t}`"))?;
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let ok = int.len() == 1
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
        && exp < 20;
    if !ok {
        return Err(format!("expected an ISBN, found `{t}`"));
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > exp {
        return Err(format!("expected an ISBN, found `{t}`"));
    }
    if exp >= 12 && frac.len() < exp {
        return Err(format!(
            "the ISBN `{t}` lost its last digits in a spreadsheet (it was saved as a number in scientific notation): download the report again and import it without opening it in Excel"
        ));
    }
    Ok(format!("{int}{frac}{}", "0".repeat(exp - frac.len())))
}

/// `JUL-25` (or `JUL-2025`, `Jul 25`) → the whole month. `CUSTOM` has no month.
fn period_name(text: &str) -> Result<(NaiveDate, NaiveDate), String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("custom") {
        return Err(
            "period_name is CUSTOM (a custom date range), so the month of these sales is unknown: download a monthly compensation report instead"
                .to_string(),
        );
    }
    month_label(t).ok_or_else(|| format!("expected a month like JUL-25, found `{t}`"))
}

/// A month written `JUL-25`, `JUL-2025`, `July 2025`, `2025-07` or `07/2025`.
fn month_label(text: &str) -> Option<(NaiveDate, NaiveDate)> {
    let t = text.trim();
    let parts: Vec<&str> = t.split(['-', ' ', '/']).filter(|p| !p.is_empty()).collect();
    let [a, b] = parts.as_slice() else {
        return None;
    };
    let year = |y: &str| -> Option<i32> {
        if !y.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        match y.len() {
            2 => y.parse::<i32>().ok().map(|v| 2000 + v),
            4 => y.parse().ok(),
            _ => None,
        }
    };
    let month_num = |m: &str| -> Option<u32> {
        if m.bytes().all(|c| c.is_ascii_digit()) && (1..=2).contains(&m.len()) {
            return m.parse().ok();
        }
        month_number(m)
    };
    let (y, m) = if a.len() == 4 && a.bytes().all(|c| c.is_ascii_digit()) {
        (year(a)?, month_num(b)?)
    } else {
        (year(b)?, month_num(a)?)
    };
    month_bounds(y, m)
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

/// First and last day of a month.
fn month_bounds(year: i32, month: u32) -> Option<(NaiveDate, NaiveDate)> {
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year.checked_add(1)?, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    Some((first, next.pred_opt()?))
}

/// The date range in the lines above a Sales Report's header (`Date Range: 07/01/2025 -
/// 07/31/2025`, `2025-07-01 to 2025-07-31`): the first two dates found, in order.
fn preamble_period(lines: &[String]) -> Option<(NaiveDate, NaiveDate)> {
    let dates: Vec<NaiveDate> = lines
        .iter()
        .flat_map(|l| records::dates_in(l, 2))
        .take(2)
        .collect();
    match dates.as_slice() {
        [a, b] => Some(((*a).min(*b), (*a).max(*b))),
        _ => None,
    }
}

/// `LS-United States`, `LS - Australia` → `United States`, `Australia`.
fn strip_ls(market: &str) -> String {
    let t = market.trim();
    let rest = t
        .strip_prefix("LS")
        .map(str::trim_start)
        .and_then(|r| r.strip_prefix('-'))
        .map_or(t, str::trim);
    rest.to_string()
}

/// The country of a compensation market, when it is one country.
fn market_country(market: &str) -> &'static str {
    match market.to_ascii_lowercase().as_str() {
        "united states" | "us" | "usa" => "US",
        "united kingdom" | "uk" | "great britain" => "GB",
        "australia" => "AU",
        "canada" => "CA",
        "new zealand" => "NZ",
        "germany" => "DE",
        "france" => "FR",
        "italy" => "IT",
        "spain" => "ES",
        "brazil" => "BR",
        "india" => "IN",
        "russia" => "RU",
        "poland" => "PL",
        "south korea" | "korea" => "KR",
        "china" => "CN",
        _ => "",
    }
}

/// `binding_type`: `Perfectbound (Trade Paper` (sic), `Saddle Stitch`, … → paperback; `Cloth`,
/// `Case Laminate`, `Jacketed Case` → hardcover; an e-book binding → ebook.
fn binding_format(binding: &str) -> Format {
    let b = binding.to_ascii_lowercase();
    if b.contains("ebook") || b.contains("e-book") || b.contains("epub") || b.contains("digital") {
        Format::Ebook
    } else if b.contains("cloth")
        || b.contains("case")
        || b.contains("hard")
        || b.contains("jacket")
    {
        Format::Hardcover
    } else {
        Format::Paperback
    }
}

/// The Sales Report's `Format`: `PF` paperback, `TC` hardcover, ebook names.
fn sales_format(text: &str) -> Option<Format> {
    let t = text.trim().to_ascii_lowercase();
    match t.as_str() {
        "pf" => Some(Format::Paperback),
        "tc" => Some(Format::Hardcover),
        "" => Some(Format::Paperback),
        _ if t.contains("ebook") || t.contains("e-book") || t.contains("epub") || t == "eb" => {
            Some(Format::Ebook)
        }
        _ if t.contains("paper") || t.contains("perfect") => Some(Format::Paperback),
        _ if t.contains("hard") || t.contains("cloth") || t.contains("case") => {
            Some(Format::Hardcover)
        }
        _ => None,
    }
}

/// The Sales Report's markets (list price and discount columns per market).
const MARKETS: [(&str, &str); 6] = [
    ("US", "USD"),
    ("UK", "GBP"),
    ("CA", "CAD"),
    ("EU", "EUR"),
    ("AU", "AUD"),
    ("UAE", "AED"),
];

/// The market a column header is about (`List Price US`, `US List Price`, `List Price (UK)`).
fn market_of_header(header: &str) -> Option<&'static str> {
    let tokens: Vec<String> = header
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_ascii_uppercase)
        .collect();
    MARKETS
        .iter()
        .map(|(m, _)| *m)
        .find(|m| tokens.iter().any(|t| t == m))
        .or_else(|| {
            [
                ("UNITED STATES", "US"),
                ("UNITED KINGDOM", "UK"),
                ("CANADA", "CA"),
                ("EUROPE", "EU"),
                ("AUSTRALIA", "AU"),
                ("UNITED ARAB EMIRATES", "UAE"),
            ]
            .iter()
            .find(|(name, _)| header.to_ascii_uppercase().contains(name))
            .map(|(_, m)| *m)
        })
}

/// A Sales Report `Country` → (ISO country, currency of its market, market). Countries outside
/// the five named markets are reported in US dollars.
fn country_market(country: &str) -> (&'static str, &'static str, &'static str) {
    const EURO: [&str; 20] = [
        "AT", "BE", "CY", "DE", "EE", "ES", "FI", "FR", "GR", "HR", "IE", "IT", "LT", "LU", "LV",
        "MT", "NL", "PT", "SI", "SK",
    ];
    let c = country.trim().to_ascii_uppercase();
    let iso: &'static str = match c.as_str() {
        "US" | "USA" | "UNITED STATES" => "US",
        "GB" | "UK" | "UNITED KINGDOM" => "GB",
        "CA" | "CANADA" => "CA",
        "AU" | "AUSTRALIA" => "AU",
        "AE" | "UAE" | "UNITED ARAB EMIRATES" => "AE",
        "DE" | "GERMANY" => "DE",
        "FR" | "FRANCE" => "FR",
        "IT" | "ITALY" => "IT",
        "ES" | "SPAIN" => "ES",
        "NL" | "NETHERLANDS" => "NL",
        "IE" | "IRELAND" => "IE",
        other => EURO.iter().copied().find(|e| *e == other).unwrap_or(""),
    };
    match iso {
        "GB" => ("GB", "GBP", "UK"),
        "CA" => ("CA", "CAD", "CA"),
        "AU" => ("AU", "AUD", "AU"),
        "AE" => ("AE", "AED", "UAE"),
        "US" => ("US", "USD", "US"),
        "" => ("", "USD", "US"),
        eu => (eu, "EUR", "EU"),
    }
}

#[cfg(test)]
mod tests;
