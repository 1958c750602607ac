//! KDP XLSX workbooks, read with calamine one sheet at a time through its streaming cell
//! reader (rows are assembled as they come; a sheet is never held whole in memory).

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use calamine::{DataRef, Reader, Xlsx};
use chrono::NaiveDate;

use super::{class_error, classify, non_sales_sheet_name, period_label, Class, Sheet, SheetKind};
use crate::model::Format;
use crate::platforms::{EventSink, InputError, ParseSummary, PlatformError};

type Workbook = Xlsx<BufReader<File>>;

/// How many rows at the top of a sheet may hold the period label and the header.
const HEADER_SEARCH_ROWS: u32 = 6;

fn broken(file: &str, sheet: Option<&str>, detail: &str) -> PlatformError {
    PlatformError::Rejected(InputError {
        file: file.to_string(),
        sheet: sheet.map(str::to_string),
        message: format!(
            "not a valid XLSX workbook (the file may be truncated): download it again ({detail})"
        ),
        ..InputError::default()
    })
}

/// A calamine cell as text. Numbers become exact decimal strings (never f64 arithmetic
/// downstream): floats are written with 10 decimals and trimmed, so `46.51` stays `46.51`.
fn cell_text(v: &DataRef<'_>) -> String {
    match v {
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) => float_text(*f),
        DataRef::String(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_string(),
        DataRef::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        DataRef::DateTime(d) => {
            let (y, m, day, ..) = d.to_ymd_hms_milli();
            format!("{y:04}-{m:02}-{day:02}")
        }
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(e) => format!("#{e}"),
        DataRef::Empty => String::new(),
    }
}

/// An f64 cell as a plain decimal string with at most 10 decimals, trailing zeros removed.
pub(super) fn float_text(f: f64) -> String {
    if !f.is_finite() {
        return format!("{f}");
    }
    let mut s = format!("{f:.10}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".to_string();
    }
    s
}

thread_local! {
    /// Set while this thread is inside calamine (see `in_reader`).
    static IN_READER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run one calamine call so that a panic inside it is a rejected file, not a crash. calamine is
/// a third-party reader of a binary format, and fuzzing found it panicking on malformed
/// workbooks: 0.32's cell-reference parser overflows (`attempt to multiply with overflow`) on a
/// reference like `r="A99999999999"` when overflow checks are on (debug builds, fuzzing); in a
/// release build the same file wraps and is then rejected. The panic hook is wrapped once, so
/// a panic inside calamine prints nothing (the error says what happened) while every other
/// panic reaches the previous hook as before — our own parsing code is not covered and stays
/// visible to the fuzzers. Cheap when nothing panics: one thread-local flag and an unwind
/// landing pad per call.
fn in_reader<T>(
    file: &str,
    sheet: Option<&str>,
    f: impl FnOnce() -> T,
) -> Result<T, PlatformError> {
    static QUIET_HOOK: std::sync::Once = std::sync::Once::new();
    QUIET_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_READER.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
    IN_READER.with(|r| r.set(true));
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    IN_READER.with(|r| r.set(false));
    out.map_err(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown error".to_string());
        broken(
            file,
            sheet,
            &format!("the XLSX reader failed on it: {what}"),
        )
    })
}

/// Stream the rows of one sheet: `f(row_number_1_based, cells)`; `f` returns `false` to stop.
fn for_each_row(
    wb: &mut Workbook,
    file: &str,
    sheet: &str,
    mut f: impl FnMut(u64, &Vec<String>) -> Result<bool, PlatformError>,
) -> Result<(), PlatformError> {
    let mut reader = in_reader(file, Some(sheet), || wb.worksheet_cells_reader(sheet))?
        .map_err(|e| broken(file, Some(sheet), &e.to_string()))?;
    let mut current: Option<u32> = None;
    let mut cells: Vec<String> = Vec::new();
    loop {
        let next = in_reader(file, Some(sheet), || reader.next_cell())?
            .map_err(|e| broken(file, Some(sheet), &e.to_string()))?;
        let Some(cell) = next else { break };
        let (r, c) = cell.get_position();
        if current != Some(r) {
            if let Some(prev) = current {
                if !f(u64::from(prev) + 1, &cells)? {
                    return Ok(());
                }
            }
            current = Some(r);
            cells.clear();
        }
        let c = c as usize;
        if c > 16_384 {
            continue; // beyond Excel's last column: ignore rather than allocate
        }
        if cells.len() <= c {
            cells.resize(c + 1, String::new());
        }
        cells[c] = cell_text(cell.get_value());
    }
    if let Some(prev) = current {
        f(u64::from(prev) + 1, &cells)?;
    }
    Ok(())
}

/// What the top of a sheet says.
struct Peek {
    class: Class,
    headers: Vec<String>,
    header_row: u64,
    period: Option<(NaiveDate, NaiveDate)>,
    empty: bool,
}

fn trimmed_headers(cells: &[String]) -> Vec<String> {
    let mut h: Vec<String> = cells.iter().map(|c| c.trim().to_string()).collect();
    while h.last().is_some_and(String::is_empty) {
        h.pop();
    }
    h
}

/// Find the period label and the header row among the first rows of a sheet.
fn peek(wb: &mut Workbook, file: &str, sheet: &str) -> Result<Peek, PlatformError> {
    let mut out = Peek {
        class: Class::Unknown,
        headers: Vec::new(),
        header_row: 1,
        period: None,
        empty: true,
    };
    let mut first_headers: Option<(Vec<String>, u64)> = None;
    for_each_row(wb, file, sheet, |row, cells| {
        if row > u64::from(HEADER_SEARCH_ROWS) {
            return Ok(false);
        }
        let h = trimmed_headers(cells);
        if h.is_empty() {
            return Ok(true);
        }
        out.empty = false;
        let first = h[0].as_str();
        if first == "Sales Period" || first.starts_with("Sales report for the period") {
            out.period = h
                .iter()
                .skip(1)
                .find_map(|c| period_label(c))
                .or_else(|| period_label(first));
            return Ok(true);
        }
        if first_headers.is_none() {
            first_headers = Some((h.clone(), row));
        }
        match classify(&h) {
            Class::Unknown => {
                // A label row above the header, e.g. `Total Royalty` | `March 2024`.
                if out.period.is_none() {
                    out.period = h.iter().skip(1).find_map(|c| period_label(c));
                }
                Ok(true)
            }
            class => {
                out.class = class;
                out.headers = h;
                out.header_row = row;
                Ok(false)
            }
        }
    })?;
    if out.class == Class::Unknown {
        if let Some((h, row)) = first_headers {
            out.headers = h;
            out.header_row = row;
        }
    }
    Ok(out)
}

/// Also look for a `Sales report for the period …` label anywhere in the first rows
/// (the 2023 `eBook Royalty Report` has it below the header).
fn find_period_in_sheet(
    wb: &mut Workbook,
    file: &str,
    sheet: &str,
) -> Result<Option<(NaiveDate, NaiveDate)>, PlatformError> {
    let mut found = None;
    for_each_row(wb, file, sheet, |row, cells| {
        if row > u64::from(HEADER_SEARCH_ROWS) {
            return Ok(false);
        }
        for (i, c) in cells.iter().enumerate() {
            let t = c.trim();
            if t.starts_with("Sales report for the period") {
                found = period_label(t);
            } else if t == "Sales Period" {
                found = cells.iter().skip(i + 1).find_map(|c| period_label(c));
            }
            if found.is_some() {
                return Ok(false);
            }
        }
        Ok(true)
    })?;
    Ok(found)
}

fn per_format(kind: SheetKind, name: &str) -> Vec<Format> {
    match kind {
        SheetKind::Ebook => vec![Format::Ebook],
        SheetKind::Kenp => vec![Format::Kenp],
        SheetKind::Print => {
            let l = name.to_ascii_lowercase();
            if l.contains("hardcover") {
                vec![Format::Hardcover]
            } else if l.contains("paperback") {
                vec![Format::Paperback]
            } else {
                vec![Format::Paperback, Format::Hardcover]
            }
        }
        SheetKind::Union => Vec::new(),
    }
}

pub(super) fn parse(
    path: &Path,
    display_name: &str,
    sink: &mut dyn EventSink,
) -> Result<ParseSummary, PlatformError> {
    crate::platforms::workbook::check_inflate(path, display_name, "KDP")?;
    let opened: Result<Workbook, _> =
        in_reader(display_name, None, || calamine::open_workbook(path))?;
    let mut wb: Workbook = opened.map_err(|e| match e {
        calamine::XlsxError::Io(io) => crate::platforms::csvutil::io_error(display_name, &io),
        other => broken(display_name, None, &other.to_string()),
    })?;
    let names = wb.sheet_names();
    let mut sales: Vec<(String, Peek)> = Vec::new();
    let mut skipped: Vec<(String, Class)> = Vec::new();
    let mut unknown: Vec<(String, Peek)> = Vec::new();
    let mut period = None;
    for name in &names {
        if let Some(class) = non_sales_sheet_name(name) {
            skipped.push((name.clone(), class));
            continue;
        }
        let p = peek(&mut wb, display_name, name)?;
        if p.empty {
            continue;
        }
        match &p.class {
            Class::Spanish | Class::Legacy => {
                return Err(PlatformError::Rejected(class_error(
                    display_name,
                    Some(name.trim()),
                    &p.class,
                    &p.headers,
                )));
            }
            Class::Sales(_) => {
                let sheet_period = match p.period {
                    Some(pp) => Some(pp),
                    None => find_period_in_sheet(&mut wb, display_name, name)?,
                };
                if period.is_none() {
                    period = sheet_period;
                }
                sales.push((name.clone(), p));
            }
            Class::Payments | Class::NonSales(_) => skipped.push((name.clone(), p.class.clone())),
            Class::Unknown => unknown.push((name.clone(), p)),
        }
    }
    if sales.is_empty() {
        let pick = skipped
            .iter()
            .find(|(_, c)| *c == Class::Payments)
            .or_else(|| skipped.first());
        if let Some((name, class)) = pick {
            return Err(PlatformError::Rejected(class_error(
                display_name,
                Some(name.trim()),
                class,
                &[],
            )));
        }
        if let Some((name, p)) = unknown.first() {
            return Err(PlatformError::Rejected(class_error(
                display_name,
                Some(name.trim()),
                &Class::Unknown,
                &p.headers,
            )));
        }
        return Err(PlatformError::Rejected(InputError::file(
            display_name,
            format!(
                "the workbook has no KDP sales sheet (sheets: {}): export the Royalties Estimator or Prior Months' Royalties report",
                names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
            ),
        )));
    }
    // Formats covered by per-format sheets; union sheets only supply the rest.
    let mut covered: Vec<Format> = Vec::new();
    for (name, p) in &sales {
        if let Class::Sales(kind) = p.class {
            covered.extend(per_format(kind, name));
        }
    }
    let all = [
        Format::Ebook,
        Format::Paperback,
        Format::Hardcover,
        Format::Kenp,
    ];
    let is_final = period.is_some();
    let mut summary = ParseSummary {
        layout: String::new(),
        ..ParseSummary::default()
    };
    let mut used: Vec<String> = Vec::new();
    for (name, p) in &sales {
        let Class::Sales(kind) = p.class else {
            continue;
        };
        if kind == SheetKind::Union && all.iter().all(|f| covered.contains(f)) {
            continue;
        }
        let sheet_period = if is_final { p.period.or(period) } else { None };
        let mut sheet = Sheet::new(
            display_name,
            Some(name.trim()),
            name.trim(),
            kind,
            p.headers.clone(),
            sheet_period,
            p.header_row,
        )?;
        if kind == SheetKind::Union {
            sheet.skip_formats.clone_from(&covered);
        }
        let header_row = p.header_row;
        let mut result: Result<(), PlatformError> = Ok(());
        for_each_row(&mut wb, display_name, name, |row, cells| {
            if row <= header_row {
                return Ok(true);
            }
            summary.rows += 1;
            if let Some(event) = sheet.event(row, cells)? {
                if let Err(e) = sink.event(event) {
                    result = Err(e.into());
                    return Ok(false);
                }
            }
            Ok(true)
        })?;
        result?;
        summary.warnings.extend(sheet.warnings());
        used.push(name.trim().to_string());
    }
    for (name, _) in &unknown {
        summary.warnings.push(format!(
            "`{display_name}`: sheet `{}` is not a known KDP sheet and was skipped",
            name.trim()
        ));
    }
    if summary.rows == 0 {
        summary.warnings.push(format!(
            "`{display_name}` has KDP sales sheets but no sales rows"
        ));
    }
    summary.layout = format!(
        "KDP {} workbook (sheets imported: {})",
        if is_final {
            "Prior Months' Royalties"
        } else {
            "Royalties Estimator/Dashboard"
        },
        used.join(", ")
    );
    Ok(summary)
}
