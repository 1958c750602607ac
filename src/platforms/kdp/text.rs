//! CSV copies of one KDP sheet (the author re-saved it from Excel): streamed row by row.

use std::path::Path;

use super::{class_error, classify, period_label, Class, Sheet, SheetKind};
use crate::platforms::csvutil::{self, Delimiter, TextReport};
use crate::platforms::{EventSink, InputError, ParseSummary, PlatformError};

/// The sheet a CSV copy came from, for the layout name and the event `source`.
fn canonical_name(kind: SheetKind, headers: &[String], is_final: bool) -> &'static str {
    let has = |n: &str| headers.iter().any(|h| h == n);
    match kind {
        SheetKind::Ebook => "eBook Royalty",
        SheetKind::Print => "Print Royalty",
        SheetKind::Kenp => {
            if has("KENP") {
                "KENP"
            } else {
                "KENP Read"
            }
        }
        SheetKind::Union => {
            if has("Earnings") {
                "Total Earnings"
            } else if is_final {
                "Total Royalty"
            } else {
                "Combined Sales"
            }
        }
    }
}

pub(super) fn parse(
    path: &Path,
    display_name: &str,
    sink: &mut dyn EventSink,
) -> Result<ParseSummary, PlatformError> {
    let first = csvutil::first_line(path, display_name)?;
    let delimiter = if first.contains('\t') && !first.contains(',') {
        Delimiter::Tab
    } else {
        Delimiter::Comma
    };
    let mut report = TextReport::open(path, display_name, delimiter)?;
    let mut rec = csv::StringRecord::new();
    let mut headers = report.headers.clone();
    let mut header_line = 1;
    let mut period = None;
    // A CSV copy of a Prior Months' Royalties sheet starts with `Sales Period | July 2025`.
    let first_cell = headers.first().map(String::as_str).unwrap_or("");
    if first_cell == "Sales Period" || first_cell.starts_with("Sales report for the period") {
        period = headers
            .iter()
            .find_map(|h| period_label(h).filter(|_| h != "Sales Period"))
            .or_else(|| period_label(first_cell));
        if period.is_none() {
            return Err(PlatformError::Rejected(InputError::at(
                display_name,
                1,
                None,
                format!(
                    "expected a sales period such as `July 2025` after `Sales Period`, found: {}",
                    headers.join(", ")
                ),
            )));
        }
        if !report.next_record(&mut rec)? {
            return Err(PlatformError::Rejected(InputError::at(
                display_name,
                2,
                None,
                "the file ends after the `Sales Period` row: expected the header row",
            )));
        }
        headers = rec.iter().map(csvutil::clean_header).collect();
        while headers.last().is_some_and(String::is_empty) && headers.len() > 1 {
            headers.pop();
        }
        header_line = report.line;
    }
    let kind = match classify(&headers) {
        Class::Sales(kind) => kind,
        other => {
            return Err(PlatformError::Rejected(class_error(
                display_name,
                None,
                &other,
                &headers,
            )))
        }
    };
    let name = canonical_name(kind, &headers, period.is_some());
    let mut sheet = Sheet::new(display_name, None, name, kind, headers, period, header_line)?;
    let mut summary = ParseSummary {
        layout: format!(
            "KDP {} ({}, CSV copy)",
            name,
            if sheet.is_final {
                "Prior Months' Royalties"
            } else {
                "estimate"
            }
        ),
        ..ParseSummary::default()
    };
    while report.next_record(&mut rec)? {
        summary.rows += 1;
        if let Some(event) = sheet.event(report.line, &rec)? {
            sink.event(event)?;
        }
        if summary.rows % 4096 == 0 {
            sink.progress(report.bytes_read());
        }
    }
    sink.progress(report.bytes_read());
    summary.warnings.extend(sheet.warnings());
    if summary.rows == 0 {
        summary
            .warnings
            .push(format!("`{display_name}` has a header but no sales rows"));
    }
    Ok(summary)
}
