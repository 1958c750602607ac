//! Apple Books financial report (Payments and Financial Reports): one tab-separated file per
//! region (currency) and Apple fiscal month, plain `.txt` or gzipped `.txt.gz`.
//!
//! royalty = `Extended Partner Share` in `Partner Share Currency`; units = `Quantity`; both
//! signed by `Sales or Return` (`S` positive, `R` negative, whatever sign the file writes);
//! period = `Start Date`..`End Date` (`MM/DD/YYYY`, Apple's fiscal month: the event month is the
//! month of the end); final (this is the report Apple pays from). Preamble lines (`Vendor
//! Name`, `Start Date`, `End Date`) before the header are skipped; the `Total_Rows` /
//! `Total_Amount` / `Total_Units` trailer is checked against the rows; reading of sales stops at
//! the per-country summary block (`Country Of Sale`, …), which is read as the statement's
//! per-country totals. Lines have no ids: identical lines are separate sales, and a file
//! replaces the events of the same currency inside its period (the preamble's, when it names
//! one that holds the lines; family `apple_books_financial:<currency>`, so the files of two
//! regions never replace each other). What the file says Apple owes, per currency, is returned
//! as `ParseSummary::payments` (and as `Statement`s with the summary block and a due date).

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;

use super::csvutil;
use super::records::{self, Input, Magic, Records, Table};
use super::{EventSink, InputError, ParseSummary, PlatformError, ReportedPayment};
use crate::model::{format_micros, Coverage, Format, Platform, RawLayout, SaleEvent};

const LAYOUT: &str = "Apple Books financial report";

/// Columns every financial report has (the 22-column header; older files say `ISAN`).
const REQUIRED: [&str; 9] = [
    "Start Date",
    "End Date",
    "Quantity",
    "Extended Partner Share",
    "Partner Share Currency",
    "Sales or Return",
    "Title",
    "Country Of Sale",
    "ISRC/ISBN",
];

/// Days after the end of a fiscal month until Apple pays it (FORMATS §14.9: a guess).
pub const PAYMENT_DAYS: i64 = 33;

/// What one report says Apple owes for the period, in one currency: the report is Apple's
/// payment statement. Parsed for the payouts view; not stored as sales.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub currency: String,
    /// Earliest `Start Date` and latest `End Date` of the currency's lines.
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    /// Σ of the signed `Extended Partner Share` of the lines.
    pub amount_micros: i64,
    /// Σ of the signed units.
    pub units: i64,
    /// The trailer's `Total_Amount`, when the file has one (and holds one currency).
    pub stated_total_micros: Option<i64>,
    /// The per-country summary lines of this currency, when the file has the block.
    pub countries: Vec<CountryTotal>,
    /// When the payment is due by Apple's schedule (about 33 days after the fiscal month).
    pub due_on: NaiveDate,
}

/// One line of the per-country summary block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountryTotal {
    pub country: String,
    pub currency: String,
    pub units: i64,
    pub amount_micros: i64,
}

/// Parse an Apple Books financial report, streaming its lines into `sink`.
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

/// The trailer line kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trailer {
    Rows,
    Amount,
    Units,
}

/// The most currencies, countries, summary lines or trailer lines kept per file: a real report
/// has a few dozen at most; the bound keeps memory flat whatever the file holds.
const MAX_KEPT: usize = 1_000;

/// Running sums of the file's lines.
#[derive(Debug, Default)]
struct Sums {
    rows: i64,
    /// Signed (by `S`/`R`) and as written.
    units: (i64, i64),
    amount: (i64, i64),
    /// Per currency: period, signed amount, signed units, lines.
    per_currency: BTreeMap<String, (NaiveDate, NaiveDate, i64, i64, u64)>,
    /// Per (country, currency): signed units and amount, to compare with the summary block.
    per_country: BTreeMap<(String, String), (i64, i64)>,
    /// Set when a file holds more currencies or countries than `MAX_KEPT`.
    overflow: bool,
}

/// Parse an Apple Books financial report, streaming its lines into `sink`; also return what
/// it says Apple owes, per currency.
///
/// # Errors
/// `Rejected` for a file that is not a financial report, broken gzip data, a malformed line
/// (naming the line and column) or a trailer that disagrees with the lines; `Transient` for
/// I/O errors; `Sink` when the sink fails.
pub fn parse_report(
    path: &Path,
    display_name: &str,
    sink: &mut dyn EventSink,
) -> Result<(ParseSummary, Vec<Statement>), PlatformError> {
    let input = Input::open(path, display_name, true)?;
    if matches!(input.magic, Magic::Zip | Magic::Ole) {
        return Err(PlatformError::Rejected(InputError::file(
            display_name,
            "this is a spreadsheet workbook (XLSX/XLS) or a zip archive, not an Apple Books financial report: import the tab-separated `.txt` or `.txt.gz` files inside it",
        )));
    }
    let gzip = input.magic == Magic::Gzip;
    let mut table = Table::Text(Records::new(input, b'\t', false));
    let mut rec = csv::StringRecord::new();
    let found = records::find_header(&mut table, &mut rec, 20, records::clean_cell, |c| {
        let has = |n: &str| records::position(c, n).is_some();
        has("Start Date") && has("Extended Partner Share") && has("Partner Share Currency")
    })?;
    let (headers, header_line) = match found.header.clone() {
        Some(h) => h,
        None => {
            let first = found.first_row();
            let what = if first.is_empty() {
                "the file has no text".to_string()
            } else {
                format!("found: {first}")
            };
            let message = if gzip {
                format!("the gzip-compressed file holds no {LAYOUT}: expected a header line with `Start Date`, `Extended Partner Share` and `Partner Share Currency` ({what})")
            } else if first.starts_with("Vendor Name") {
                format!("an {LAYOUT} preamble without its header line: expected a line with `Start Date`, `Extended Partner Share` and `Partner Share Currency` after `Vendor Name`, `Start Date` and `End Date` ({what}); download the report again")
            } else {
                format!("not a recognised {LAYOUT}: expected a header line with `Start Date`, `Extended Partner Share` and `Partner Share Currency` ({what})")
            };
            return Err(PlatformError::Rejected(InputError::file(
                display_name,
                message,
            )));
        }
    };
    let missing: Vec<String> = REQUIRED
        .iter()
        .filter(|n| records::position(&headers, n).is_none())
        .map(|n| format!("`{n}`"))
        .collect();
    if !missing.is_empty() {
        return Err(PlatformError::Rejected(InputError::at(
            display_name,
            header_line,
            None,
            format!(
                "not an {LAYOUT}: missing column{} {} (found header: {})",
                if missing.len() == 1 { "" } else { "s" },
                missing.join(", "),
                headers.join(", ")
            ),
        )));
    }
    let col = |n: &str| records::position(&headers, n);
    let need = |n: &str| col(n).unwrap_or(0);
    let c = Cols {
        start: need("Start Date"),
        end: need("End Date"),
        isbn: need("ISRC/ISBN"),
        vendor_id: col("Vendor Identifier"),
        apple_id: col("Apple Identifier"),
        quantity: need("Quantity"),
        share: col("Partner Share"),
        extended: need("Extended Partner Share"),
        currency: need("Partner Share Currency"),
        sale_or_return: need("Sales or Return"),
        title: need("Title"),
        country: need("Country Of Sale"),
        customer_price: col("Customer Price"),
        customer_currency: col("Customer Currency"),
    };
    let raw_layout = std::sync::Arc::new(RawLayout::new(&headers, true));
    let want_raw = sink.wants_raw();
    let file = display_name.to_string();
    let mut summary = ParseSummary {
        layout: format!(
            "{LAYOUT} ({})",
            if gzip { "gzip" } else { "tab-separated text" }
        ),
        ..ParseSummary::default()
    };
    let mut sums = Sums::default();
    let mut trailer: Vec<(Trailer, u64, i64, String)> = Vec::new();
    let mut summary_block: Option<Vec<String>> = None;
    let mut countries: Vec<CountryTotal> = Vec::new();
    while table.next(&mut rec)? {
        let line = table.line();
        if records::is_blank(&rec) {
            continue;
        }
        let first = rec
            .iter()
            .map(str::trim)
            .find(|c| !c.is_empty())
            .unwrap_or("");
        if first.starts_with("Total_") || first == "Total" {
            if let Some(t) = parse_trailer(&file, line, &rec)? {
                if trailer.len() < MAX_KEPT {
                    trailer.push(t);
                }
            }
            continue;
        }
        if let Some(cols) = &summary_block {
            if let Some(ct) = country_total(&file, line, cols, &rec)? {
                if countries.len() < MAX_KEPT {
                    countries.push(ct);
                } else {
                    sums.overflow = true;
                }
            }
            continue;
        }
        if rec
            .get(0)
            .map(records::clean_cell)
            .is_some_and(|c| c.to_ascii_lowercase().starts_with("country"))
        {
            summary_block = Some(rec.iter().map(records::clean_cell).collect());
            continue;
        }
        summary.rows += 1;
        let event = row_event(&file, line, &headers, &c, &rec, &mut sums)?;
        let event = SaleEvent {
            raw: if want_raw {
                raw_layout.cells_json(rec.as_slice().len(), |i| rec.get(i).unwrap_or(""))
            } else {
                String::new()
            },
            raw_layout: want_raw.then(|| raw_layout.clone()),
            ..event
        };
        sink.event(event)?;
        if summary.rows % 4096 == 0 {
            sink.progress(table.bytes_read());
        }
    }
    sink.progress(table.bytes_read());
    check_trailer(&file, &trailer, &sums)?;
    let stated = trailer
        .iter()
        .find(|t| t.0 == Trailer::Amount)
        .map(|t| t.2)
        .filter(|_| sums.per_currency.len() == 1);
    if sums.overflow {
        summary.warnings.push(format!(
            "`{file}` names more than {MAX_KEPT} currencies, countries or summary lines: what it says is owed was not summarised"
        ));
        sums.per_currency.clear();
        countries.clear();
    }
    for ct in &countries {
        let key = (ct.country.clone(), ct.currency.clone());
        let rows = sums.per_country.get(&key).copied().unwrap_or((0, 0));
        if rows != (ct.units, ct.amount_micros) {
            summary.warnings.push(format!(
                "`{file}`: the summary line for {} {} says {} units and {} {}, the sales lines add up to {} units and {} {}",
                ct.country,
                ct.currency,
                ct.units,
                format_micros(ct.amount_micros, &ct.currency),
                ct.currency,
                rows.0,
                format_micros(rows.1, &ct.currency),
                ct.currency
            ));
        }
    }
    // The fiscal period the preamble names (`Start Date` / `End Date` lines): a newer download
    // of it replaces that period's lines of the currencies it holds, whatever its lines span.
    let line_date = |name: &str| {
        found.preamble.iter().find_map(|l| {
            l.strip_prefix(name)
                .and_then(|rest| records::dates_in(rest, 1).first().copied())
        })
    };
    if let (Some(start), Some(end)) = (line_date("Start Date"), line_date("End Date")) {
        for (cur, (first, last, ..)) in &sums.per_currency {
            if start <= *first && *last <= end {
                summary.coverage.push(Coverage {
                    family: family(cur),
                    start,
                    end,
                    month_totals: false,
                });
            }
        }
    }
    let statements = sums
        .per_currency
        .iter()
        .map(|(cur, (start, end, amount, units, _))| Statement {
            currency: cur.clone(),
            period_start: *start,
            period_end: *end,
            amount_micros: *amount,
            units: *units,
            stated_total_micros: stated,
            countries: countries
                .iter()
                .filter(|c| &c.currency == cur)
                .cloned()
                .collect(),
            due_on: *end + chrono::Duration::days(PAYMENT_DAYS),
        })
        .collect();
    summary.payments = sums
        .per_currency
        .iter()
        .map(|(cur, (start, end, amount, _, lines))| ReportedPayment {
            source: "apple_books.financial".to_string(),
            date: None,
            currency: cur.clone(),
            amount_micros: *amount,
            period: Some((*start, *end)),
            rows: *lines,
        })
        .collect();
    if summary.rows == 0 {
        summary
            .warnings
            .push(format!("`{display_name}` has a header but no sales lines"));
    }
    Ok((summary, statements))
}

/// Column indexes of the data lines.
struct Cols {
    start: usize,
    end: usize,
    isbn: usize,
    vendor_id: Option<usize>,
    apple_id: Option<usize>,
    quantity: usize,
    share: Option<usize>,
    extended: usize,
    currency: usize,
    sale_or_return: usize,
    title: usize,
    country: usize,
    customer_price: Option<usize>,
    customer_currency: Option<usize>,
}

/// One data line as an event (without `raw`), its sums added to `sums`.
fn row_event(
    file: &str,
    line: u64,
    headers: &[String],
    c: &Cols,
    rec: &csv::StringRecord,
    sums: &mut Sums,
) -> Result<SaleEvent, PlatformError> {
    // A trailing tab adds an empty cell; anything else off the header's width is damage.
    let width = (0..rec.len())
        .rev()
        .find(|&i| !rec.get(i).unwrap_or("").trim().is_empty())
        .map_or(0, |i| i + 1);
    if rec.len() != headers.len() && (rec.len() < headers.len() || width > headers.len()) {
        return Err(PlatformError::Rejected(InputError::at(
            file,
            line,
            None,
            format!(
                "expected {} tab-separated fields as in the header, found {}{}",
                headers.len(),
                rec.len(),
                if rec.len() < headers.len() {
                    " (the file looks truncated or the line is cut short)"
                } else {
                    ""
                }
            ),
        )));
    }
    let get = |i: usize| rec.get(i).unwrap_or("").trim();
    let reject = |column: &str, message: String| {
        PlatformError::Rejected(InputError::at(file, line, Some(column), message))
    };
    let date = |i: usize, name: &str| {
        csvutil::parse_date(get(i)).ok_or_else(|| {
            reject(
                name,
                format!("expected a date like 06/28/2025, found `{}`", get(i)),
            )
        })
    };
    let start = date(c.start, "Start Date")?;
    let end = date(c.end, "End Date")?;
    if end < start {
        return Err(reject(
            "End Date",
            format!("the end date {end} is before the start date {start}"),
        ));
    }
    let quantity =
        csvutil::units_opt(file, line, "Quantity", get(c.quantity))?.ok_or_else(|| {
            reject(
                "Quantity",
                "expected a quantity, found an empty cell".to_string(),
            )
        })?;
    if let Some(i) = c.share {
        csvutil::money_opt(file, line, "Partner Share", get(i))?;
    }
    let extended = csvutil::money(file, line, "Extended Partner Share", get(c.extended))?;
    let currency = currency_code(get(c.currency))
        .ok_or_else(|| reject("Partner Share Currency", currency_message(get(c.currency))))?;
    let sign = match get(c.sale_or_return).to_ascii_uppercase().as_str() {
        "S" => 1,
        "R" => -1,
        other => {
            return Err(reject(
                "Sales or Return",
                format!("expected `S` (sale) or `R` (return), found `{other}`"),
            ))
        }
    };
    let customer_price = match c.customer_price {
        Some(i) => csvutil::money_opt(file, line, "Customer Price", get(i))?,
        None => None,
    };
    let customer_currency = match c.customer_currency {
        Some(i) if !get(i).is_empty() => Some(
            currency_code(get(i))
                .ok_or_else(|| reject("Customer Currency", currency_message(get(i))))?,
        ),
        _ => None,
    };
    let units = sign * quantity.abs();
    let royalty = sign * extended.abs();
    sums.rows += 1;
    sums.units.0 = sums.units.0.saturating_add(units);
    sums.units.1 = sums.units.1.saturating_add(quantity);
    sums.amount.0 = sums.amount.0.saturating_add(royalty);
    sums.amount.1 = sums.amount.1.saturating_add(extended);
    let country = get(c.country).to_ascii_uppercase();
    let room = sums.per_currency.len() < MAX_KEPT && sums.per_country.len() < MAX_KEPT;
    if !sums.overflow
        && (room
            || (sums.per_currency.contains_key(&currency)
                && sums
                    .per_country
                    .contains_key(&(country.clone(), currency.clone()))))
    {
        let entry = sums
            .per_currency
            .entry(currency.clone())
            .or_insert((start, end, 0, 0, 0));
        entry.0 = entry.0.min(start);
        entry.1 = entry.1.max(end);
        entry.2 = entry.2.saturating_add(royalty);
        entry.3 = entry.3.saturating_add(units);
        entry.4 += 1;
        let pc = sums
            .per_country
            .entry((country.clone(), currency.clone()))
            .or_insert((0, 0));
        pc.0 = pc.0.saturating_add(units);
        pc.1 = pc.1.saturating_add(royalty);
    } else {
        sums.overflow = true;
    }
    let isbn = csvutil::normalise_isbn(get(c.isbn));
    let id_of = |i: Option<usize>| i.map(get).filter(|s| !s.is_empty());
    let product_id = if !isbn.is_empty() {
        isbn
    } else if let Some(id) = id_of(c.apple_id) {
        format!("apple:{id}")
    } else if let Some(id) = id_of(c.vendor_id) {
        format!("apple_vendor:{id}")
    } else {
        return Err(reject(
            "ISRC/ISBN",
            "expected an ISBN, an Apple Identifier or a Vendor Identifier, found none".to_string(),
        ));
    };
    Ok(SaleEvent {
        platform: Platform::AppleBooks,
        family: family(&currency),
        source: "apple_books.financial".to_string(),
        natural_key: None,
        period_start: start,
        period_end: end,
        title: get(c.title).to_string(),
        product_id,
        format: Format::Ebook,
        marketplace: "Apple Books".to_string(),
        retailer: "Apple Books".to_string(),
        country,
        units,
        kenp_pages: 0,
        // The customer's price is in the customer's currency: kept only when that is the
        // currency of the royalty.
        list_price_micros: customer_price.filter(|_| customer_currency.as_ref() == Some(&currency)),
        royalty_micros: royalty,
        currency,
        is_final: true,
        status: String::new(),
        raw: String::new(),
        raw_layout: None,
        line,
    })
}

/// The replace-by-coverage family of a currency's lines.
fn family(currency: &str) -> String {
    format!("apple_books_financial:{currency}")
}

/// An ISO 4217 code (three letters), upper-cased.
fn currency_code(text: &str) -> Option<String> {
    let t = text.trim();
    (t.len() == 3 && t.bytes().all(|b| b.is_ascii_alphabetic())).then(|| t.to_ascii_uppercase())
}

fn currency_message(found: &str) -> String {
    format!("expected a three-letter currency code such as USD, found `{found}`")
}

/// A trailer line: `Total_Rows<TAB>n`, `Total_Amount<TAB>x`, `Total_Units<TAB>n`, the
/// pre-2010 `Total_Amount:x`, or the pre-2009 `…Total<TAB>x CUR` (not checked).
fn parse_trailer(
    file: &str,
    line: u64,
    rec: &csv::StringRecord,
) -> Result<Option<(Trailer, u64, i64, String)>, PlatformError> {
    let cells: Vec<&str> = rec
        .iter()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    let head = cells.first().copied().unwrap_or("");
    let (name, value) = match head.split_once(':') {
        Some((n, v)) => (n.trim(), v.trim()),
        None => (head, cells.get(1).copied().unwrap_or("")),
    };
    let kind = match name {
        "Total_Rows" => Trailer::Rows,
        "Total_Amount" => Trailer::Amount,
        "Total_Units" => Trailer::Units,
        // The oldest layout's totals line, and trailer names we do not know: not checked.
        _ => return Ok(None),
    };
    let value_num = if kind == Trailer::Amount {
        csvutil::money(file, line, name, value)?
    } else {
        csvutil::units_opt(file, line, name, value)?.ok_or_else(|| {
            PlatformError::Rejected(InputError::at(
                file,
                line,
                Some(name),
                "expected a number after the trailer's name, found none".to_string(),
            ))
        })?
    };
    Ok(Some((kind, line, value_num, value.to_string())))
}

/// The trailer must agree with the lines: `Total_Rows` = lines, `Total_Units` and
/// `Total_Amount` = their sums (signed by `S`/`R`, or as written; the amount only for a file of
/// one currency).
fn check_trailer(
    file: &str,
    trailer: &[(Trailer, u64, i64, String)],
    sums: &Sums,
) -> Result<(), PlatformError> {
    for (kind, line, value, text) in trailer {
        let (name, ok, found) = match kind {
            Trailer::Rows => ("Total_Rows", *value == sums.rows, sums.rows.to_string()),
            Trailer::Units => (
                "Total_Units",
                *value == sums.units.0 || *value == sums.units.1,
                sums.units.0.to_string(),
            ),
            Trailer::Amount => {
                if sums.per_currency.len() > 1 {
                    continue;
                }
                let cur = sums.per_currency.keys().next().map_or("", String::as_str);
                (
                    "Total_Amount",
                    *value == sums.amount.0 || *value == sums.amount.1,
                    format_micros(sums.amount.0, cur),
                )
            }
        };
        if !ok {
            return Err(PlatformError::Rejected(InputError::at(
                file,
                *line,
                Some(name),
                format!(
                    "the trailer says {name} {text} but the sales lines add up to {found}: the file is damaged or incomplete; download the report again"
                ),
            )));
        }
    }
    Ok(())
}

/// One line of the per-country summary block (`Country Of Sale, Partner Share Currency,
/// Quantity, Extended Partner Share`, …); a line without a country is not one.
fn country_total(
    file: &str,
    line: u64,
    cols: &[String],
    rec: &csv::StringRecord,
) -> Result<Option<CountryTotal>, PlatformError> {
    let at = |name: &str| records::position(cols, name).map(|i| rec.get(i).unwrap_or("").trim());
    let country = at("Country Of Sale").unwrap_or("").to_ascii_uppercase();
    if country.is_empty() {
        return Ok(None);
    }
    let currency = at("Partner Share Currency").unwrap_or("");
    let currency = currency_code(currency).ok_or_else(|| {
        PlatformError::Rejected(InputError::at(
            file,
            line,
            Some("Partner Share Currency"),
            currency_message(currency),
        ))
    })?;
    let units = match at("Quantity") {
        Some(q) => csvutil::units_opt(file, line, "Quantity", q)?.unwrap_or(0),
        None => 0,
    };
    let amount = match at("Extended Partner Share") {
        Some(a) => csvutil::money_opt(file, line, "Extended Partner Share", a)?.unwrap_or(0),
        None => 0,
    };
    Ok(Some(CountryTotal {
        country,
        currency,
        units,
        amount_micros: amount,
    }))
}

#[cfg(test)]
mod tests;
