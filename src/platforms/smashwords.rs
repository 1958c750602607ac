//! Smashwords "Sales & Payment Report": a tab- (or comma-) separated text file, often named
//! `.xls`, with CR-only line endings in the 2011 downloads, and exactly 21 columns.
//!
//! royalty = `net` in `currency`; units = `qty`; list price = `price`; period = the `date`'s
//! day (`YYYY-MM-DD H:MM`, unpadded hour); `balanceAdjusted` non-empty marks a row final.
//! Rows have no ids: identical rows are separate sales (family `smashwords`, replaced by
//! coverage in the store).

use std::path::Path;

use chrono::NaiveDate;

use super::csvutil::{self, Delimiter, TextReport};
use super::{EventSink, InputError, ParseSummary, PlatformError};
use crate::model::{Format, Platform, SaleEvent};

/// The 21 columns of the report, in order.
pub const COLUMNS: [&str; 21] = [
    "type",
    "channel",
    "location",
    "id",
    "isbn",
    "title",
    "author",
    "price",
    "qty",
    "amount",
    "couponCode",
    "retailerCut",
    "smashwordsCut",
    "affiliateCut",
    "transFee",
    "vat",
    "net",
    "currency",
    "amountFinal (USD)",
    "date",
    "balanceAdjusted",
];

/// Columns that must hold plain decimals (or be empty).
const MONEY_COLUMNS: [&str; 8] = [
    "amount",
    "retailerCut",
    "smashwordsCut",
    "affiliateCut",
    "transFee",
    "vat",
    "amountFinal (USD)",
    "price",
];

/// The day of a `date` cell: `2025-07-02 14:03`, `2025-06-14 0:00` or a bare `2025-06-14`.
fn parse_day(text: &str) -> Option<NaiveDate> {
    let t = text.trim();
    let (day, time) = match t.split_once(' ') {
        Some((d, tm)) => (d, Some(tm.trim())),
        None => (t, None),
    };
    if let Some(tm) = time {
        let (h, m) = tm.split_once(':')?;
        let m = m.get(..2).unwrap_or(m);
        let ok = (1..=2).contains(&h.len())
            && h.bytes().all(|b| b.is_ascii_digit())
            && m.len() == 2
            && m.bytes().all(|b| b.is_ascii_digit());
        if !ok {
            return None;
        }
    }
    NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()
}

/// `country_CA` → `CA`; `_`, empty or anything else → empty.
fn country(location: &str) -> String {
    match location.trim().strip_prefix("country_") {
        Some(cc) if cc.len() == 2 && cc.bytes().all(|b| b.is_ascii_alphabetic()) => {
            cc.to_ascii_uppercase()
        }
        _ => String::new(),
    }
}

/// Parse a Smashwords sales report, streaming rows into `sink`.
///
/// # Errors
/// `Rejected` for a binary workbook, a header that is not the 21-column Smashwords header
/// (including one that mixes commas and tabs) or a malformed row (naming the line and
/// column), `Transient` for I/O errors.
pub fn parse_file(
    path: &Path,
    display_name: &str,
    sink: &mut dyn EventSink,
) -> Result<ParseSummary, PlatformError> {
    if csvutil::is_binary_container(path) {
        return Err(PlatformError::Rejected(InputError::file(
            display_name,
            "this is a binary spreadsheet workbook (XLSX/XLS), not the Smashwords sales report: download the Sales & Payment Report again (it is a tab-separated text file even when named .xls), or save the sheet as tab-separated text",
        )));
    }
    let first = csvutil::first_line(path, display_name)?;
    let (tabs, commas) = (first.contains('\t'), first.contains(','));
    let delimiter = match (tabs, commas) {
        (true, true) => {
            return Err(PlatformError::Rejected(InputError::at(
                display_name,
                1,
                None,
                format!(
                    "the header mixes commas and tabs, so its columns cannot be told apart: expected the 21 Smashwords columns separated by tabs (or by commas), found header `{}`",
                    first.replace('\t', "\\t")
                ),
            )))
        }
        (true, false) => Delimiter::Tab,
        _ => Delimiter::Comma,
    };
    let mut report = TextReport::open(path, display_name, delimiter)?;
    let layout = "Smashwords sales report";
    let idx = report.require(layout, &COLUMNS)?;
    if report.headers.len() != COLUMNS.len() {
        return Err(PlatformError::Rejected(InputError::at(
            display_name,
            1,
            None,
            format!(
                "not a {layout}: expected exactly {} columns, found {} (header: {})",
                COLUMNS.len(),
                report.headers.len(),
                report.headers.join(", ")
            ),
        )));
    }
    let col = |name: &str| idx[COLUMNS.iter().position(|n| *n == name).unwrap_or(0)];
    let (c_type, c_channel, c_location, c_id, c_isbn, c_title) = (
        col("type"),
        col("channel"),
        col("location"),
        col("id"),
        col("isbn"),
        col("title"),
    );
    let (c_price, c_qty, c_net, c_currency, c_date, c_balance) = (
        col("price"),
        col("qty"),
        col("net"),
        col("currency"),
        col("date"),
        col("balanceAdjusted"),
    );
    let money_cols: Vec<(usize, &str)> = MONEY_COLUMNS.iter().map(|n| (col(n), *n)).collect();

    let mut summary = ParseSummary {
        layout: format!(
            "{layout} ({})",
            match delimiter {
                Delimiter::Tab => "tab-separated",
                Delimiter::Comma => "comma-separated",
            }
        ),
        ..ParseSummary::default()
    };
    let mut unknown_types: Vec<String> = Vec::new();
    let mut rec = csv::StringRecord::new();
    let file = display_name.to_string();
    while report.next_record(&mut rec)? {
        let line = report.line;
        summary.rows += 1;
        let get = |i: usize| rec.get(i).unwrap_or("").trim();
        let reject = |column: &str, message: String| {
            PlatformError::Rejected(InputError::at(&file, line, Some(column), message))
        };
        let kind = get(c_type);
        let source = match kind {
            "sale" => "smashwords.store",
            "retailer sale" => "smashwords.retailer",
            "" => return Err(reject("type", "expected `sale` or `retailer sale`, found an empty cell".to_string())),
            other => {
                if !unknown_types.iter().any(|t| t == other) {
                    unknown_types.push(other.to_string());
                }
                "smashwords.other"
            }
        };
        let day = parse_day(get(c_date)).ok_or_else(|| {
            reject(
                "date",
                format!("expected a date like 2025-07-02 14:03, found `{}`", get(c_date)),
            )
        })?;
        for (i, name) in &money_cols {
            csvutil::money_opt(&file, line, name, get(*i))?;
        }
        let units = csvutil::units_opt(&file, line, "qty", get(c_qty))?
            .ok_or_else(|| reject("qty", "expected a quantity, found an empty cell".to_string()))?;
        let list = csvutil::money_opt(&file, line, "price", get(c_price))?;
        let royalty = csvutil::money(&file, line, "net", get(c_net))?;
        let currency = get(c_currency).to_ascii_uppercase();
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(reject(
                "currency",
                format!("expected a three-letter currency code such as USD, found `{currency}`"),
            ));
        }
        let isbn = csvutil::normalise_isbn(get(c_isbn));
        let product_id = if isbn.is_empty() {
            let id = get(c_id);
            if id.is_empty() {
                return Err(reject(
                    "id",
                    "expected a Smashwords book id or an ISBN, found neither".to_string(),
                ));
            }
            format!("smashwords:{id}")
        } else {
            isbn
        };
        let channel = get(c_channel).to_string();
        let event = SaleEvent {
            platform: Platform::Smashwords,
            family: "smashwords".to_string(),
            source: source.to_string(),
            natural_key: None,
            period_start: day,
            period_end: day,
            title: get(c_title).to_string(),
            product_id,
            format: Format::Ebook,
            marketplace: channel.clone(),
            retailer: channel,
            country: country(get(c_location)),
            units,
            kenp_pages: 0,
            list_price_micros: list,
            royalty_micros: royalty,
            currency,
            is_final: !get(c_balance).is_empty(),
            status: String::new(),
            raw: report.raw_json(&rec),
            line,
        };
        sink.event(event)?;
        if summary.rows % 4096 == 0 {
            sink.progress(report.bytes_read());
        }
    }
    sink.progress(report.bytes_read());
    for t in unknown_types {
        summary.warnings.push(format!(
            "`{display_name}`: rows of unknown type `{t}` were imported with source `smashwords.other`"
        ));
    }
    if summary.rows == 0 {
        summary
            .warnings
            .push(format!("`{display_name}` has a header but no sales rows"));
    }
    Ok(summary)
}
