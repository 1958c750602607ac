//! Barnes & Noble Press sales export (CSV): preamble rows, the 17-column header, then one row
//! per book × format × sale date, with text and ids written as Excel formulas (`="…"`).
//!
//! royalty = `Total Royalty` in `Payment Currency` (the `Selling Currency` may differ); units =
//! `Net Units Sold` (a return is negative); period = `Sale Date` (one day, `MM/DD/YYYY`); final
//! (the export has no estimate flag: its rows are reported sales). The header is the first row
//! that, once unwrapped, holds `Sale Date` and `Total Royalty` (the preamble is usually 5 rows,
//! never counted on). UTF-8 with or without a BOM, or Windows-1252. The export has no payment
//! columns (`Payment Currency` is only the currency of `Total Royalty`). Rows have no ids:
//! identical rows are separate sales, and a file replaces the events of the same format inside
//! [min, max `Sale Date`], widened to the `Date Range` the preamble states when it holds the rows
//! (families `barnes_noble_sales:ebook`, `…:paperback`, `…:hardcover`), so an ebook-only
//! download never removes print sales.

use std::io::Read;
use std::path::Path;

use chrono::NaiveDate;

use super::csvutil;
use super::records::{self, Input, Magic, Records, Table};
use super::{EventSink, InputError, ParseSummary, PlatformError};
use crate::model::{Coverage, Format, Platform, RawLayout, SaleEvent};

const LAYOUT: &str = "B&N Press sales export";

/// How the rejection of the 2011 PubIt workbook starts (detection looks for it).
pub const PUBIT: &str = "this is the 2011 PubIt sales workbook";

const REQUIRED: [&str; 7] = [
    "Sale Date",
    "Title",
    "Format",
    "BN ID / ISBN",
    "Net Units Sold",
    "Total Royalty",
    "Payment Currency",
];

/// Unwrap a cell written as an Excel formula: trim; `="X"` → `X` (with `""` inside read as
/// `"`); then one pair of surrounding `"` or `'` removed. `=""` is empty.
pub fn unwrap_cell(text: &str) -> String {
    let t = text.trim_start_matches('\u{feff}').trim();
    let t = match t.strip_prefix("=\"").and_then(|r| r.strip_suffix('"')) {
        Some(inner) => std::borrow::Cow::Owned(inner.replace("\"\"", "\"")),
        None => std::borrow::Cow::Borrowed(t),
    };
    let t = t.trim();
    let t = ['"', '\'']
        .iter()
        .find_map(|&q| {
            t.strip_prefix(q)
                .and_then(|r| r.strip_suffix(q))
                .filter(|_| t.len() >= 2)
        })
        .unwrap_or(t);
    t.trim().to_string()
}

/// A header name compared without case or spaces (`BN ID / ISBN` = `BN ID/ISBN`).
fn key(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

fn position(headers: &[String], name: &str) -> Option<usize> {
    let k = key(name);
    headers.iter().position(|h| key(h) == k)
}

/// Parse a B&N Press sales export, streaming its rows into `sink`.
///
/// # Errors
/// `Rejected` for a file that is not a B&N Press export (naming the 2011 PubIt workbook when it
/// is one) or has a malformed row (naming the line and column), `Transient` for I/O errors,
/// `Sink` when the sink fails.
pub fn parse_file(
    path: &Path,
    display_name: &str,
    sink: &mut dyn EventSink,
) -> Result<ParseSummary, PlatformError> {
    let input = Input::open(path, display_name, false)?;
    match input.magic {
        Magic::Ole if has_pubit_marks(path) => {
            return Err(PlatformError::Rejected(InputError::file(
                display_name,
                format!("{PUBIT} (.xls with `Date Of Sale` and `Total Publisher's Revenue`), an older Barnes & Noble layout that is not supported: export the sales from B&N Press instead (Sales → choose the months → export to a spreadsheet, CSV)"),
            )))
        }
        Magic::Ole | Magic::Zip => {
            return Err(PlatformError::Rejected(InputError::file(
                display_name,
                "this is a spreadsheet workbook (XLSX/XLS), not a B&N Press sales export: export the sales from B&N Press as CSV (Sales → choose the months → export to a spreadsheet)",
            )))
        }
        Magic::Gzip => {
            return Err(PlatformError::Rejected(InputError::file(
                display_name,
                format!("not a recognised {LAYOUT}: the file is gzip-compressed"),
            )))
        }
        Magic::Text => {}
    }
    let mut table = Table::Text(Records::new(input, b',', true));
    let mut rec = csv::StringRecord::new();
    let mut mentions_bn = false;
    let found = records::find_header(&mut table, &mut rec, 20, unwrap_cell, |cells| {
        // A preamble row is one or two cells, such as `Barnes & Noble Press - Sales Report`.
        mentions_bn |= cells.iter().filter(|c| !c.is_empty()).count() <= 2
            && cells
                .iter()
                .any(|c| c.contains("Barnes & Noble Press") || c.contains("B&N Press"));
        position(cells, "Sale Date").is_some() && position(cells, "Total Royalty").is_some()
    })?;
    let (headers, header_line) = match found.header.clone() {
        Some(h) => h,
        None => {
            let first = found.first_row();
            let message = if mentions_bn {
                format!("a {LAYOUT} without its header row: expected a row with `Sale Date` and `Total Royalty` within the first 20 rows (found: {first}); export the report again")
            } else {
                format!("not a recognised {LAYOUT}: expected a header row with `Sale Date` and `Total Royalty` (found: {first})")
            };
            return Err(PlatformError::Rejected(InputError::file(
                display_name,
                message,
            )));
        }
    };
    let missing: Vec<String> = REQUIRED
        .iter()
        .filter(|n| position(&headers, n).is_none())
        .map(|n| format!("`{n}`"))
        .collect();
    if !missing.is_empty() {
        return Err(PlatformError::Rejected(InputError::at(
            display_name,
            header_line,
            None,
            format!(
                "not a complete {LAYOUT}: missing column{} {} (found header: {})",
                if missing.len() == 1 { "" } else { "s" },
                missing.join(", "),
                headers.join(", ")
            ),
        )));
    }
    let need = |n: &str| position(&headers, n).unwrap_or(0);
    let opt = |n: &str| position(&headers, n);
    let (c_date, c_title, c_format, c_bn_id) = (
        need("Sale Date"),
        need("Title"),
        need("Format"),
        need("BN ID / ISBN"),
    );
    let (c_net, c_royalty, c_pay_cur) = (
        need("Net Units Sold"),
        need("Total Royalty"),
        need("Payment Currency"),
    );
    let c_ebook_isbn = opt("eBook ISBN (Optional)").or_else(|| opt("eBook ISBN"));
    let (c_list, c_sell_cur) = (opt("List Price"), opt("Selling Currency"));
    let money_checks: Vec<(usize, &str)> = ["Sale Price", "Royalty per Unit"]
        .iter()
        .filter_map(|n| opt(n).map(|i| (i, *n)))
        .collect();
    let unit_checks: Vec<(usize, &str)> = ["Units Sold", "Units Returned"]
        .iter()
        .filter_map(|n| opt(n).map(|i| (i, *n)))
        .collect();
    let c_rate = opt("Royalty %");

    let raw_layout = std::sync::Arc::new(RawLayout::new(&headers, true));
    let want_raw = sink.wants_raw();
    let file = display_name.to_string();
    let mut summary = ParseSummary {
        layout: LAYOUT.to_string(),
        ..ParseSummary::default()
    };
    // The range the export says it covers (`Date Range: 07/01/2025 - 07/31/2025` above the
    // header): a newer download of it replaces the rows of that range, of the formats it holds,
    // even where its own rows start later or end earlier.
    let declared = found
        .preamble
        .iter()
        .filter(|l| l.to_ascii_lowercase().contains("range"))
        .find_map(|l| match records::dates_in(l, 2).as_slice() {
            [a, b] if a <= b => Some((*a, *b)),
            _ => None,
        });
    // Per format held (three at most): the range of its rows.
    let mut carried: Vec<(Format, NaiveDate, NaiveDate)> = Vec::new();
    let mut cells: Vec<String> = Vec::with_capacity(headers.len());
    while table.next(&mut rec)? {
        let line = table.line();
        if records::is_blank(&rec) {
            continue;
        }
        if rec.len() != headers.len() {
            let trailing_empty = rec.len() > headers.len()
                && rec.iter().skip(headers.len()).all(|c| c.trim().is_empty());
            if !trailing_empty {
                let hint = if rec.len() > headers.len() {
                    " (an unquoted comma inside a value, such as a decimal comma `4,19`?)"
                } else {
                    " (the file looks truncated or the row is cut short)"
                };
                return Err(PlatformError::Rejected(InputError::at(
                    &file,
                    line,
                    None,
                    format!(
                        "expected {} fields as in the header, found {}{hint}",
                        headers.len(),
                        rec.len()
                    ),
                )));
            }
        }
        summary.rows += 1;
        cells.clear();
        cells.extend(rec.iter().take(headers.len()).map(unwrap_cell));
        let get = |i: usize| cells.get(i).map_or("", String::as_str);
        let reject = |column: &str, message: String| {
            PlatformError::Rejected(InputError::at(&file, line, Some(column), message))
        };
        let day = csvutil::parse_date(get(c_date)).ok_or_else(|| {
            reject(
                "Sale Date",
                format!("expected a date like 07/31/2025, found `{}`", get(c_date)),
            )
        })?;
        for (i, name) in &money_checks {
            csvutil::money_opt(&file, line, name, get(*i))?;
        }
        for (i, name) in &unit_checks {
            csvutil::units_opt(&file, line, name, get(*i))?;
        }
        if let Some(i) = c_rate {
            let t = get(i);
            csvutil::money_opt(&file, line, "Royalty %", t.strip_suffix('%').unwrap_or(t))?;
        }
        let units =
            csvutil::units_opt(&file, line, "Net Units Sold", get(c_net))?.ok_or_else(|| {
                reject(
                    "Net Units Sold",
                    "expected a number of units, found an empty cell".to_string(),
                )
            })?;
        let royalty = csvutil::money(&file, line, "Total Royalty", get(c_royalty))?;
        let currency = currency_code(get(c_pay_cur))
            .ok_or_else(|| reject("Payment Currency", currency_message(get(c_pay_cur))))?;
        let selling = match c_sell_cur {
            Some(i) if !get(i).is_empty() => Some(
                currency_code(get(i))
                    .ok_or_else(|| reject("Selling Currency", currency_message(get(i))))?,
            ),
            _ => None,
        };
        let list = match c_list {
            Some(i) => csvutil::money_opt(&file, line, "List Price", get(i))?,
            None => None,
        };
        let format = format_of(get(c_format)).ok_or_else(|| {
            reject(
                "Format",
                format!(
                    "expected `NOOK Book`, `Paperback` or `Hardcover`, found `{}`",
                    get(c_format)
                ),
            )
        })?;
        let ebook_isbn = c_ebook_isbn.map_or(String::new(), |i| csvutil::normalise_isbn(get(i)));
        let product_id = if ebook_isbn.is_empty() {
            csvutil::normalise_isbn(get(c_bn_id))
        } else {
            ebook_isbn
        };
        if product_id.is_empty() {
            return Err(reject(
                "BN ID / ISBN",
                "expected a BN ID or an ISBN, found an empty cell".to_string(),
            ));
        }
        match carried.iter_mut().find(|c| c.0 == format) {
            Some(c) => (c.1, c.2) = (c.1.min(day), c.2.max(day)),
            None => carried.push((format, day, day)),
        }
        let event = SaleEvent {
            platform: Platform::BarnesNoble,
            family: family(format),
            source: "barnes_noble.sales".to_string(),
            natural_key: None,
            period_start: day,
            period_end: day,
            title: get(c_title).to_string(),
            product_id,
            format,
            marketplace: "Barnes & Noble".to_string(),
            retailer: "Barnes & Noble".to_string(),
            country: String::new(),
            units,
            kenp_pages: 0,
            // The list price is in the selling currency: kept only when that is the royalty's.
            list_price_micros: list.filter(|_| selling.as_ref() == Some(&currency)),
            royalty_micros: royalty,
            currency,
            is_final: true,
            status: String::new(),
            raw: if want_raw {
                raw_layout.cells_json(rec.as_slice().len(), |i| rec.get(i).unwrap_or(""))
            } else {
                String::new()
            },
            raw_layout: want_raw.then(|| raw_layout.clone()),
            line,
        };
        sink.event(event)?;
        if summary.rows % 4096 == 0 {
            sink.progress(table.bytes_read());
        }
    }
    sink.progress(table.bytes_read());
    if let Some((start, end)) = declared {
        for (format, first, last) in &carried {
            if start <= *first && *last <= end {
                summary.coverage.push(Coverage {
                    family: family(*format),
                    start,
                    end,
                    month_totals: false,
                });
            } else {
                summary.warnings.push(format!(
                    "`{display_name}` says it covers {start} to {end}, but has {} sales from {first} to {last}: only the range of its rows replaces earlier imports",
                    format.as_str()
                ));
            }
        }
    }
    if summary.rows == 0 {
        summary
            .warnings
            .push(format!("`{display_name}` has a header but no sales rows"));
    }
    Ok(summary)
}

/// The replace-by-coverage family of a format's rows.
fn family(format: Format) -> String {
    format!("barnes_noble_sales:{}", format.as_str())
}

/// `NOOK Book`, `eBook`, `Digital` → ebook; `Paperback`, `Softcover` → paperback;
/// `Hardcover`, `Hardback` → hardcover.
fn format_of(text: &str) -> Option<Format> {
    let t = text.to_ascii_lowercase();
    if t.contains("nook") || t.contains("ebook") || t.contains("e-book") || t.contains("digital") {
        Some(Format::Ebook)
    } else if t.contains("hard") {
        Some(Format::Hardcover)
    } else if t.contains("paper") || t.contains("soft") {
        Some(Format::Paperback)
    } else {
        None
    }
}

fn currency_code(text: &str) -> Option<String> {
    let t = text.trim();
    (t.len() == 3 && t.bytes().all(|b| b.is_ascii_alphabetic())).then(|| t.to_ascii_uppercase())
}

fn currency_message(found: &str) -> String {
    format!("expected a three-letter currency code such as USD, found `{found}`")
}

/// Whether an OLE2 file holds the 2011 PubIt sales workbook's header text (BIFF8 stores the
/// strings as 8-bit or UTF-16LE characters), looking at its first 8 MB.
fn has_pubit_marks(path: &Path) -> bool {
    let mut bytes = Vec::new();
    let read = std::fs::File::open(path).and_then(|f| f.take(8 << 20).read_to_end(&mut bytes));
    if read.is_err() {
        return false;
    }
    let found = |text: &str| {
        let wide: Vec<u8> = text.bytes().flat_map(|b| [b, 0]).collect();
        memchr::memmem::find(&bytes, text.as_bytes()).is_some()
            || memchr::memmem::find(&bytes, &wide).is_some()
    };
    found("Total Publisher's Revenue") || (found("Date Of Sale") && found("B&N Identifier"))
}

#[cfg(test)]
mod tests;
