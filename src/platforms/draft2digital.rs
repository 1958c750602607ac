//! Draft2Digital sales reports: the ebook (26 columns) and print (25 columns) CSVs.
//!
//! royalty = `Publisher Share` in `Currency Code`; units = `Net Unit Sales`; period =
//! `Start Date`..`End Date` (Apple rows span a multi-day fiscal period); `Verified` marks a row
//! final. Rows have no ids: identical rows are separate sales, and idempotency comes from
//! replace-by-coverage in the store (families `d2d_ebook` and `d2d_print`).

use std::path::Path;

use super::csvutil::{self, Delimiter, TextReport};
use super::{EventSink, InputError, ParseSummary, PlatformError};
use crate::model::{Format, Platform, SaleEvent};

/// Which of the two D2D report files this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ebook,
    Print,
}

const COMMON: [&str; 16] = [
    "Start Date",
    "End Date",
    "Title ID",
    "Title",
    "Distributor",
    "Vendor",
    "Country",
    "Units Sold",
    "Units Returned",
    "Net Unit Sales",
    "List Price Per Unit",
    "Currency Code",
    "Publisher Share",
    "Publisher Share USD (estimated)",
    "Verified",
    "Sales Model",
];

/// Parse a D2D ebook or print sales CSV, streaming rows into `sink`.
///
/// # Errors
/// `Rejected` for a file that is not a D2D sales report or has a malformed row (naming the line
/// and column), `Transient` for I/O errors.
pub fn parse_file(
    path: &Path,
    display_name: &str,
    sink: &mut dyn EventSink,
) -> Result<ParseSummary, PlatformError> {
    if csvutil::is_binary_container(path) {
        return Err(PlatformError::Rejected(InputError::file(
            display_name,
            "this is a spreadsheet workbook (XLSX/XLS), not a Draft2Digital CSV: download the sales report as CSV from Reports → Downloads",
        )));
    }
    let mut report = TextReport::open(path, display_name, Delimiter::Comma)?;
    let kind = if report.headers.iter().any(|h| h == "Ebook ISBN") {
        Kind::Ebook
    } else if report.headers.iter().any(|h| h == "Paperback ISBN") {
        Kind::Print
    } else {
        return Err(PlatformError::Rejected(InputError::at(
            display_name,
            1,
            None,
            format!(
                "not a Draft2Digital sales report: expected an `Ebook ISBN` or `Paperback ISBN` column (found header: {})",
                report.headers.join(", ")
            ),
        )));
    };
    let (layout, isbn_col, family, source, format) = match kind {
        Kind::Ebook => (
            "Draft2Digital ebook sales report",
            "Ebook ISBN",
            "d2d_ebook",
            "d2d.ebook",
            Format::Ebook,
        ),
        Kind::Print => (
            "Draft2Digital print sales report",
            "Paperback ISBN",
            "d2d_print",
            "d2d.print",
            Format::Paperback,
        ),
    };
    let mut names: Vec<&str> = COMMON.to_vec();
    names.push(isbn_col);
    let idx = report.require(layout, &names)?;
    let col = |name: &str| idx[names.iter().position(|n| *n == name).unwrap_or(0)];
    let (c_start, c_end, c_title_id, c_title) = (
        col("Start Date"),
        col("End Date"),
        col("Title ID"),
        col("Title"),
    );
    let (c_dist, c_vendor, c_country) = (col("Distributor"), col("Vendor"), col("Country"));
    let (c_sold, c_returned, c_net) = (
        col("Units Sold"),
        col("Units Returned"),
        col("Net Unit Sales"),
    );
    let (c_list, c_cur, c_share, c_share_usd, c_verified, c_isbn) = (
        col("List Price Per Unit"),
        col("Currency Code"),
        col("Publisher Share"),
        col("Publisher Share USD (estimated)"),
        col("Verified"),
        col(isbn_col),
    );

    let mut summary = ParseSummary {
        layout: layout.to_string(),
        ..ParseSummary::default()
    };
    let mut rec = csv::StringRecord::new();
    let file = display_name.to_string();
    let want_raw = sink.wants_raw();
    while report.next_record(&mut rec)? {
        let line = report.line;
        summary.rows += 1;
        let get = |i: usize| rec.get(i).unwrap_or("").trim();
        let reject = |column: &str, message: String| {
            PlatformError::Rejected(InputError::at(&file, line, Some(column), message))
        };
        let start = csvutil::parse_date(get(c_start)).ok_or_else(|| {
            reject(
                "Start Date",
                format!("expected a date like 2025-07-31, found `{}`", get(c_start)),
            )
        })?;
        let end = csvutil::parse_date(get(c_end)).ok_or_else(|| {
            reject(
                "End Date",
                format!("expected a date like 2025-07-31, found `{}`", get(c_end)),
            )
        })?;
        if end < start {
            return Err(reject(
                "End Date",
                format!("the end date {end} is before the start date {start}"),
            ));
        }
        // Checked for well-formedness even though units come from `Net Unit Sales`.
        csvutil::units_opt(&file, line, "Units Sold", get(c_sold))?;
        csvutil::units_opt(&file, line, "Units Returned", get(c_returned))?;
        let units = csvutil::units_opt(&file, line, "Net Unit Sales", get(c_net))?.unwrap_or(0);
        let list = csvutil::money_opt(&file, line, "List Price Per Unit", get(c_list))?;
        let royalty = csvutil::money(&file, line, "Publisher Share", get(c_share))?;
        csvutil::money_opt(
            &file,
            line,
            "Publisher Share USD (estimated)",
            get(c_share_usd),
        )?;
        let currency = get(c_cur).to_ascii_uppercase();
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(reject(
                "Currency Code",
                format!("expected a three-letter currency code such as USD, found `{currency}`"),
            ));
        }
        let is_final = match get(c_verified).to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" | "y" => true,
            "false" | "no" | "0" | "n" | "" => false,
            other => {
                return Err(reject(
                    "Verified",
                    format!("expected true or false, found `{other}`"),
                ))
            }
        };
        let isbn = csvutil::normalise_isbn(get(c_isbn));
        let product_id = if isbn.is_empty() {
            format!("d2d:{}", get(c_title_id))
        } else {
            isbn
        };
        let event = SaleEvent {
            platform: Platform::Draft2digital,
            family: family.to_string(),
            source: source.to_string(),
            natural_key: None,
            period_start: start,
            period_end: end,
            title: get(c_title).to_string(),
            product_id,
            format,
            marketplace: get(c_vendor).to_string(),
            retailer: get(c_dist).to_string(),
            country: get(c_country).to_ascii_uppercase(),
            units,
            kenp_pages: 0,
            list_price_micros: list,
            royalty_micros: royalty,
            currency,
            is_final,
            status: String::new(),
            raw: if want_raw {
                report.raw_cells(&rec)
            } else {
                String::new()
            },
            raw_layout: want_raw.then(|| report.raw_layout.clone()),
            line,
        };
        sink.event(event)?;
        if summary.rows % 4096 == 0 {
            sink.progress(report.bytes_read());
        }
    }
    sink.progress(report.bytes_read());
    if summary.rows == 0 {
        summary
            .warnings
            .push(format!("`{display_name}` has a header but no sales rows"));
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platforms::testutil::Collect;
    use std::io::Write;

    const HEADER: &str = "Start Date,End Date,Publisher,Title ID,Ebook ISBN,Title,Primary Author,Distributor,Vendor,Country,Units Sold,Units Returned,Net Unit Sales,Sales Model,Retailer,List Price Per Unit,Currency Code,Offer Price Per Unit,Royalty Percent,Sales Channel Fee/Taxes Per Unit,Extended Sales Channel Revenue,Sales Channel Share,D2D Share,Publisher Share,Publisher Share USD (estimated),Verified";

    fn parse(text: &str) -> Result<Vec<SaleEvent>, PlatformError> {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        let mut sink = Collect::default();
        parse_file(f.path(), "d2d.csv", &mut sink)?;
        Ok(sink.0)
    }

    #[test]
    fn apple_period_and_return_row() {
        let text = format!(
            "{HEADER}\n2025-03-30,2025-05-03,P,1,978-1-73246-101-7,T,A,Apple,iTunes,US,0,1,-1,Retail,Apple Books,4.99,USD,4.99,70,0.00,-4.99,-1.50,-0.35,-3.49,-3.49,true\n"
        );
        let ev = parse(&text).unwrap();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].units, -1);
        assert_eq!(ev[0].royalty_micros, -3_490_000);
        assert_eq!(ev[0].month(), "2025-05");
        assert_eq!(ev[0].product_id, "9781732461017");
        assert!(ev[0].is_final);
    }

    #[test]
    fn decimal_comma_is_rejected_with_line() {
        let text = format!(
            "{HEADER}\n2025-07-03,2025-07-03,P,1,9781732461017,T,A,Kobo,Kobo,CA,1,0,1,Retail,Kobo,6.99,CAD,6.99,70,0.00,4.89,2.10,0.70,4,19,3.05,true\n"
        );
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("expected 26 fields"), "{err}");
    }

    #[test]
    fn currency_symbol_is_rejected_with_column() {
        let text = format!(
            "{HEADER}\n2025-07-03,2025-07-03,P,1,9781732461017,T,A,Kobo,Kobo,CA,1,0,1,Retail,Kobo,6.99,CAD,6.99,70,0.00,4.89,2.10,0.70,$4.19,3.05,true\n"
        );
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("column `Publisher Share`"), "{err}");
    }

    #[test]
    fn cr_only_line_endings_are_accepted() {
        let text = format!(
            "{HEADER}\r2025-07-03,2025-07-03,P,1,9781732461017,T,A,Kobo,Kobo,CA,1,0,1,Retail,Kobo,6.99,CAD,6.99,70,0.00,4.89,2.10,0.70,4.19,3.05,true\r"
        );
        assert_eq!(parse(&text).unwrap().len(), 1);
    }
}
