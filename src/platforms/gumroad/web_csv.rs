//! The Gumroad dashboard's Sales CSV export (Sales → Export, or the e-mailed chunks of a big
//! export), FORMATS §3.6 and §14.7.
//!
//! One row per purchase, the header of 64, 65 (with `Tax Type`) or more fixed columns (newer
//! exports add `Access Revoked?`, `Buyer Currency`…) followed by one column per custom field:
//! every column is found by its name, never its position (a custom field may repeat a fixed
//! name: the first is the fixed one). The last row, `Totals`, is skipped; its `Sale Price ($)`
//! is compared with the rows' sum and a difference is a warning (a cut-short file).
//!
//! Each row becomes the event the API gives for that sale (`super::Sale::into_event`, so both
//! paths apply one rule): key `gumroad:sale:<Purchase ID>` (the API's sale `id`), royalty =
//! `Sale Price ($)` − `Fees ($)` in USD (the API's `price − gumroad_fee`), units = `Quantity`,
//! period = `Purchase Date` (UTC), final. `Fully Refunded?` = 1, or `Disputed?` = 1 without
//! `Dispute Won?` = 1, counts zero units and zero royalty; a partial refund (`Partial Refund ($)`
//! above zero: `Refunded?` is 1 for those too, so it is never used to zero a row) keeps the
//! share `(price − refunded) / price` of the royalty, rounded down to the cent as the API path
//! does. The export lists successful purchases only (Gumroad's own test purchases are not in
//! it). `country` is left empty as for a Ping: the file names the buyer's country in words
//! (kept in `raw`), not as an ISO code. `product_id` is the permalink (`Product ID`).
//!
//! Buyers' personal data (names, e-mails, addresses, referrer, custom fields, license keys,
//! reviews, gift and affiliate e-mails, transaction ids, UTM tags) is never read into an event:
//! `raw` holds only the columns of `privacy::CSV_FIELDS`.

use std::path::Path;

use serde_json::{Map, Value};

use super::{privacy, Kept, Sale, MICROS_PER_CENT};
use crate::platforms::csvutil::{self, Delimiter, TextReport};
use crate::platforms::{EventSink, InputError, ParseSummary, PlatformError};

/// The layout name shown to users.
pub const LAYOUT: &str = "Gumroad Sales CSV export";

/// Columns that say "this is Gumroad's export" (checked before anything else is required).
const SIGNATURE: [&str; 3] = ["Purchase ID", "Sale Price ($)", "Fees ($)"];

/// Columns every row is read from.
const REQUIRED: [&str; 12] = [
    "Purchase ID",
    "Item Name",
    "Purchase Date",
    "Sale Price ($)",
    "Fees ($)",
    "Refunded?",
    "Partial Refund ($)",
    "Fully Refunded?",
    "Disputed?",
    "Dispute Won?",
    "Product ID",
    "Quantity",
];

/// Column indices, in `REQUIRED` order.
struct Cols {
    id: usize,
    title: usize,
    date: usize,
    price: usize,
    fees: usize,
    refunded: usize,
    partial: usize,
    fully: usize,
    disputed: usize,
    dispute_won: usize,
    product: usize,
    quantity: usize,
    /// `(index, name)` of every allow-listed column present, for `raw`.
    kept: Vec<(usize, String)>,
}

fn reject(file: &str, line: u64, column: Option<&str>, message: String) -> PlatformError {
    PlatformError::Rejected(InputError::at(file, line, column, message))
}

/// Parse a Gumroad Sales CSV export, sending one event per purchase to `sink`.
///
/// # Errors
/// `Rejected` (naming the file, line and column) for a file that is not this export or has a
/// bad cell; `Transient` for I/O errors; `Sink` when the sink fails.
pub fn parse_file(
    path: &Path,
    display_name: &str,
    sink: &mut dyn EventSink,
) -> Result<ParseSummary, PlatformError> {
    if csvutil::is_binary_container(path) {
        return Err(PlatformError::Rejected(InputError::file(
            display_name,
            format!("not a recognised {LAYOUT}: this is a spreadsheet workbook, and Gumroad exports CSV text"),
        )));
    }
    let mut report = TextReport::open(path, display_name, Delimiter::Comma)?;
    let first = |name: &str| report.headers.iter().position(|h| h == name);
    if SIGNATURE.iter().any(|s| first(s).is_none()) {
        return Err(reject(
            display_name,
            1,
            None,
            format!(
                "not a recognised {LAYOUT} (expected the columns {})",
                SIGNATURE
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let mut missing = Vec::new();
    let mut idx = Vec::with_capacity(REQUIRED.len());
    for name in REQUIRED {
        match first(name) {
            Some(i) => idx.push(i),
            None => missing.push(format!("`{name}`")),
        }
    }
    if !missing.is_empty() {
        return Err(reject(
            display_name,
            1,
            None,
            format!(
                "this looks like a {LAYOUT} but is missing column{} {} (found header: {}); export the sales again from Gumroad (Sales → Export) without editing the file",
                if missing.len() == 1 { "" } else { "s" },
                missing.join(", "),
                report.headers.join(", ")
            ),
        ));
    }
    let mut kept = Vec::new();
    for (i, h) in report.headers.iter().enumerate() {
        if privacy::CSV_FIELDS.contains(&h.as_str()) && !kept.iter().any(|(_, k)| k == h) {
            kept.push((i, h.clone()));
        }
    }
    let c = Cols {
        id: idx[0],
        title: idx[1],
        date: idx[2],
        price: idx[3],
        fees: idx[4],
        refunded: idx[5],
        partial: idx[6],
        fully: idx[7],
        disputed: idx[8],
        dispute_won: idx[9],
        product: idx[10],
        quantity: idx[11],
        kept,
    };
    let want_raw = sink.wants_raw();
    let mut summary = ParseSummary {
        layout: LAYOUT.to_string(),
        ..ParseSummary::default()
    };
    let mut rec = csv::StringRecord::new();
    let mut price_sum: i64 = 0;
    let mut totals: Option<(u64, i64)> = None;
    let mut partial_unknown = 0u64;
    while report.next_record(&mut rec)? {
        let line = report.line;
        let cell = |i: usize| rec.get(i).unwrap_or("").trim();
        summary.rows += 1;
        if cell(0) == "Totals" || cell(c.id) == "Totals" {
            // The sums Gumroad appends; a second one (two chunks pasted together) is skipped too.
            if let Ok(sum) = crate::model::parse_micros(cell(c.price)) {
                totals = Some((line, sum));
            }
            continue;
        }
        let (sale, price_micros) = row_sale(display_name, line, &c, &rec)?;
        price_sum = price_sum.saturating_add(price_micros);
        let raw = if want_raw {
            let mut m = Map::new();
            for (i, name) in &c.kept {
                m.insert(name.clone(), Value::String(cell(*i).to_string()));
            }
            Value::Object(m).to_string()
        } else {
            String::new()
        };
        let (mut event, warning) = sale.into_event("gumroad.csv", raw).map_err(|_| {
            reject(
                display_name,
                line,
                Some("Sale Price ($)"),
                "the amount is too large".to_string(),
            )
        })?;
        event.line = line;
        if let Some(w) = warning {
            partial_unknown += 1;
            if partial_unknown <= 20 {
                summary
                    .warnings
                    .push(format!("`{display_name}` line {line}: {w}"));
            }
        }
        sink.event(event)?;
        if summary.rows % 4096 == 0 {
            sink.progress(report.bytes_read());
        }
    }
    sink.progress(report.bytes_read());
    if partial_unknown > 20 {
        summary.warnings.push(format!(
            "`{display_name}`: … and {} more partly refunded sale(s) like these",
            partial_unknown - 20
        ));
    }
    if let Some((line, sum)) = totals {
        // Gumroad sums floats and rounds to the cent: a difference of a cent or more means
        // rows are missing (a cut-short download) or were edited.
        if (sum - price_sum).abs() >= MICROS_PER_CENT {
            summary.warnings.push(format!(
                "`{display_name}` line {line}: the `Totals` row gives `Sale Price ($)` {} USD but the rows add up to {} USD: rows may be missing or edited; export the sales again if this file was cut short",
                crate::model::format_micros(sum, "USD"),
                crate::model::format_micros(price_sum, "USD"),
            ));
        }
    }
    if summary.rows == 0 || (summary.rows == 1 && totals.is_some()) {
        summary
            .warnings
            .push(format!("`{display_name}` is a {LAYOUT} without purchases"));
    }
    Ok(summary)
}

/// A dollar amount with at most two decimals, in cents (and micro-units).
fn dollars(
    file: &str,
    line: u64,
    column: &str,
    text: &str,
    required: bool,
) -> Result<Option<(i64, i64)>, PlatformError> {
    let micros = if required {
        Some(csvutil::money(file, line, column, text)?)
    } else {
        csvutil::money_opt(file, line, column, text)?
    };
    let Some(micros) = micros else {
        return Ok(None);
    };
    if micros < 0 {
        return Err(reject(
            file,
            line,
            Some(column),
            format!("expected an amount of 0 or more in dollars, found `{text}`"),
        ));
    }
    if micros % MICROS_PER_CENT != 0 {
        return Err(reject(
            file,
            line,
            Some(column),
            format!("expected dollars and cents (at most two decimals), found `{text}`"),
        ));
    }
    Ok(Some((micros / MICROS_PER_CENT, micros)))
}

/// A `0`/`1` flag (`true`/`false` and empty accepted too; empty is 0).
fn flag(file: &str, line: u64, column: &str, text: &str) -> Result<bool, PlatformError> {
    match text.to_ascii_lowercase().as_str() {
        "" | "0" | "false" => Ok(false),
        "1" | "true" => Ok(true),
        _ => Err(reject(
            file,
            line,
            Some(column),
            format!("expected 0 or 1, found `{text}`"),
        )),
    }
}

/// The sale of one purchase row, and its price in micro-units.
fn row_sale(
    file: &str,
    line: u64,
    c: &Cols,
    rec: &csv::StringRecord,
) -> Result<(Sale, i64), PlatformError> {
    let cell = |i: usize| rec.get(i).unwrap_or("").trim();
    let id = cell(c.id);
    if id.is_empty() {
        return Err(reject(
            file,
            line,
            Some("Purchase ID"),
            "the purchase id is empty, so the sale cannot be identified".to_string(),
        ));
    }
    let date_text = cell(c.date);
    let date = csvutil::parse_date(date_text).ok_or_else(|| {
        reject(
            file,
            line,
            Some("Purchase Date"),
            format!("expected a date like 2025-08-14, found `{date_text}`"),
        )
    })?;
    // Required amounts are present (or `dollars` rejected the row).
    let (price_cents, price_micros) =
        dollars(file, line, "Sale Price ($)", cell(c.price), true)?.unwrap_or((0, 0));
    let (fee_cents, _) = dollars(file, line, "Fees ($)", cell(c.fees), true)?.unwrap_or((0, 0));
    let refunded_micros =
        dollars(file, line, "Partial Refund ($)", cell(c.partial), false)?.map_or(0, |(_, m)| m);
    let quantity = match cell(c.quantity) {
        "" => 1,
        q => q.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            reject(
                file,
                line,
                Some("Quantity"),
                format!("expected a whole number of 0 or more, found `{q}`"),
            )
        })?,
    };
    let any_refund = flag(file, line, "Refunded?", cell(c.refunded))?;
    let fully = flag(file, line, "Fully Refunded?", cell(c.fully))?;
    let disputed = flag(file, line, "Disputed?", cell(c.disputed))?;
    let won = flag(file, line, "Dispute Won?", cell(c.dispute_won))?;
    let kept = if fully || refunded_micros == 0 && !any_refund {
        Kept::All
    } else if refunded_micros > 0 && refunded_micros < price_micros {
        Kept::Share {
            kept: price_micros - refunded_micros,
            price: price_micros,
        }
    } else if refunded_micros == 0 {
        // `Refunded?` = 1 without an amount and not fully refunded.
        Kept::Unknown("`Refunded?` is 1 but `Partial Refund ($)` gives no amount".to_string())
    } else {
        Kept::Unknown(format!(
            "`Partial Refund ($)` `{}` is not between zero and the price `{}`",
            cell(c.partial),
            cell(c.price)
        ))
    };
    Ok((
        Sale {
            id: id.to_string(),
            date,
            title: cell(c.title).to_string(),
            product_id: cell(c.product).to_string(),
            country: String::new(),
            quantity,
            price_cents,
            fee_cents,
            refunded: fully,
            chargedback: disputed && !won,
            kept,
        },
        price_micros,
    ))
}

#[cfg(test)]
mod tests;
