//! CSV copies of one KDP sheet (the author re-saved it from Excel): streamed row by row.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{Datelike, NaiveDate};

use super::lang::{self, Lang};
use super::xlsx::header_language;
use super::{
    class_error, classify, family, month_of, parse_day_or_month, period_label, Class, Sheet,
    SheetKind,
};
use crate::model::Coverage;
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

/// The delimiter of a CSV copy, from its first line: tabs, semicolons (what Excel writes in
/// locales with a decimal comma, FORMATS §10.3 rule 4: such a copy is then read, and a decimal
/// comma in it is refused naming the cell), or commas.
fn delimiter(first: &str) -> Delimiter {
    let count = |c: char| first.matches(c).count();
    if count('\t') > 0 && count(',') == 0 {
        Delimiter::Tab
    } else if count(';') > count(',') && count('\t') == 0 {
        Delimiter::Semicolon
    } else {
        Delimiter::Comma
    }
}

/// The KENP dates of a KENP copy: whether one is not the 1st, and the months they fall in.
fn kenp_dates(
    path: &Path,
    display_name: &str,
    delimiter: Delimiter,
    column: usize,
) -> Result<(bool, BTreeSet<String>), PlatformError> {
    let mut report = TextReport::open(path, display_name, delimiter)?;
    let mut rec = csv::StringRecord::new();
    let mut not_first = false;
    let mut months = BTreeSet::new();
    while report.next_record(&mut rec)? {
        if let Some((start, end)) = rec.get(column).and_then(parse_day_or_month) {
            not_first |= start == end && start.day() != 1;
            months.insert(crate::model::iso_date(start)[..7].to_string());
        }
    }
    Ok((not_first, months))
}

#[allow(clippy::too_many_lines)]
pub(super) fn parse(
    path: &Path,
    display_name: &str,
    sink: &mut dyn EventSink,
) -> Result<ParseSummary, PlatformError> {
    let first = csvutil::first_line(path, display_name)?;
    let delimiter = delimiter(&first);
    let mut report = TextReport::open(path, display_name, delimiter)?;
    let mut rec = csv::StringRecord::new();
    let mut shown = report.headers.clone();
    let mut header_line = 1;
    let mut period = None;
    // A CSV copy of a Prior Months' Royalties sheet starts with `Sales Period | July 2025`.
    let first_cell = lang::english_header(shown.first().map(String::as_str).unwrap_or(""));
    if first_cell == "Sales Period" || first_cell.starts_with("Sales report for the period") {
        period = shown
            .iter()
            .skip(1)
            .find_map(|h| period_label(h))
            .or_else(|| period_label(&first_cell));
        if period.is_none() {
            return Err(PlatformError::Rejected(InputError::at(
                display_name,
                1,
                None,
                format!(
                    "expected a sales period such as `July 2025` after `{}`, found: {}",
                    shown.first().map(String::as_str).unwrap_or(""),
                    shown.join(", ")
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
        shown = rec.iter().map(csvutil::clean_header).collect();
        while shown.last().is_some_and(String::is_empty) && shown.len() > 1 {
            shown.pop();
        }
        header_line = report.line;
    }
    let spanish = header_language(display_name, None, header_line, &shown)? == Some(Lang::Spanish);
    let headers: Vec<String> = shown
        .iter()
        .map(|h| lang::english_header(h).into_owned())
        .collect();
    let kind = match classify(&headers) {
        Class::Sales(kind) => kind,
        Class::Payments if period.is_none() => {
            if !super::payments::is_header(&shown) {
                return Err(PlatformError::Rejected(InputError::at(
                    display_name,
                    header_line,
                    None,
                    super::payments::header_problem(&shown),
                )));
            }
            let mut reader = super::payments::Reader::new(display_name, None);
            let mut cells: Vec<String> = Vec::new();
            while report.next_record(&mut rec)? {
                cells.clear();
                cells.extend(rec.iter().map(str::to_string));
                reader.row(report.line, &cells)?;
            }
            let (payouts, warnings, rows) = reader.finish();
            return Ok(ParseSummary {
                layout: "KDP Payments report (CSV copy)".to_string(),
                rows,
                warnings,
                payouts,
                ..ParseSummary::default()
            });
        }
        Class::Unknown => {
            let cells: Vec<&str> = shown.iter().map(String::as_str).collect();
            let class = lang::foreign(&cells).map_or(Class::Unknown, Class::Foreign);
            return Err(PlatformError::Rejected(class_error(
                display_name,
                None,
                &class,
                &shown,
            )));
        }
        other => {
            return Err(PlatformError::Rejected(class_error(
                display_name,
                None,
                &other,
                &shown,
            )))
        }
    };
    let name = canonical_name(kind, &headers, period.is_some());
    let mut sheet = Sheet::new(
        display_name,
        None,
        name,
        kind,
        headers,
        shown,
        spanish,
        period,
        header_line,
    )?;
    if kind == SheetKind::Print && sheet.is_final && sheet.cols.kind.is_none() {
        // Prior Months' Paperback and Hardcover sheets have the same columns and no transaction
        // type: a copy of one cannot say which it is, and guessing would put one format's money
        // in the other's place.
        return Err(PlatformError::Rejected(InputError::at(
            display_name,
            header_line,
            None,
            "a CSV copy of a Prior Months' Paperback Royalty or Hardcover Royalty sheet does not say which of the two it is (they have the same columns): import the workbook itself, or a CSV copy of its Total Earnings sheet",
        )));
    }
    if kind == SheetKind::Kenp && !sheet.is_final {
        if let Some(c) = sheet.cols.date {
            // Without the workbook's sales dates, KENP dates that are all the 1st of several
            // months are month totals (a lifetime download's sheet); any other day, or a single
            // month, means days (FORMATS §12.2).
            let (not_first, months) = kenp_dates(path, display_name, delimiter, c)?;
            sheet.kenp_months = !not_first && months.len() > 1;
        }
    }
    let mut summary = ParseSummary {
        layout: format!(
            "KDP {} ({}{}, CSV copy)",
            name,
            if sheet.is_final {
                "Prior Months' Royalties"
            } else {
                "estimate"
            },
            if spanish { ", Spanish" } else { "" }
        ),
        ..ParseSummary::default()
    };
    let mut range: Option<(NaiveDate, NaiveDate)> = None;
    while report.next_record(&mut rec)? {
        summary.rows += 1;
        if let Some(event) = sheet.event(report.line, &rec)? {
            range = Some(match range {
                None => (event.period_start, event.period_end),
                Some((a, b)) => (a.min(event.period_start), b.max(event.period_end)),
            });
            sink.event(event)?;
        }
        if summary.rows % 4096 == 0 {
            sink.progress(report.bytes_read());
        }
    }
    sink.progress(report.bytes_read());
    let monthly = sheet.dates.monthly(display_name)?;
    summary.warnings.extend(sheet.warnings());
    if summary.rows == 0 {
        summary
            .warnings
            .push(format!("`{display_name}` has a header but no sales rows"));
    }
    // What the copy covers beyond its rows (DESIGN §5): every kind its sheet stands for, over
    // its month (a final report) or the dates of its rows.
    let mut formats = sheet.natural_formats();
    for f in &sheet.formats_seen {
        if !formats.contains(f) {
            formats.push(*f);
        }
    }
    let (range, month_totals) = match (sheet.period, range) {
        (Some(p), _) if sheet.is_final => (Some(p), true),
        (_, r) if kind == SheetKind::Kenp => (r, sheet.kenp_months),
        (_, r) => (r, monthly == Some(true)),
    };
    if let Some(range) = range {
        let range = if month_totals {
            (month_of(range.0).0, month_of(range.1).1)
        } else {
            range
        };
        for f in formats {
            summary.coverage.push(Coverage {
                family: family(sheet.is_final, f),
                start: range.0,
                end: range.1,
                month_totals,
            });
        }
    }
    Ok(summary)
}
