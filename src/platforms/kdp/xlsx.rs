//! KDP XLSX workbooks, read with calamine one sheet at a time through its streaming cell
//! reader (rows are assembled as they come; a sheet is never held whole in memory).

use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use calamine::{DataRef, Reader, Xlsx};
use chrono::{Datelike, NaiveDate};

use super::lang::{self, Lang};
use super::{
    class_error, classify, family, month_of, non_sales_sheet_name, parse_day_or_month, payments,
    period_label, summary, Class, DateShapes, Sheet, SheetKind, KENP_ROYALTY_FAMILY,
};
use crate::model::{Coverage, Format};
use crate::platforms::{EventSink, InputError, ParseSummary, PlatformError};

type Workbook = Xlsx<BufReader<File>>;

/// A period: its first and last day.
type Period = (NaiveDate, NaiveDate);

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
    /// The header row in English (Spanish names mapped).
    headers: Vec<String>,
    /// The header row as written.
    shown: Vec<String>,
    /// The language its header cells are in, when they say.
    lang: Option<Lang>,
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

fn english(cells: &[String]) -> Vec<String> {
    cells
        .iter()
        .map(|c| lang::english_header(c).into_owned())
        .collect()
}

/// The language of a header row: refused when it mixes English and Spanish names.
pub(super) fn header_language(
    file: &str,
    sheet: Option<&str>,
    line: u64,
    cells: &[String],
) -> Result<Option<Lang>, PlatformError> {
    let find = |l: Lang| cells.iter().find(|c| lang::header_lang(c) == Some(l));
    match (find(Lang::Spanish), find(Lang::English)) {
        (Some(es), Some(en)) => Err(PlatformError::Rejected(InputError {
            file: file.to_string(),
            sheet: sheet.map(str::to_string),
            line: Some(line),
            column: None,
            message: format!(
                "the header mixes Spanish and English column names (`{es}` is Spanish, `{en}` English); KDP writes a whole report in the account's language, so this one was edited: download the report again"
            ),
        })),
        (Some(_), None) => Ok(Some(Lang::Spanish)),
        (None, Some(_)) => Ok(Some(Lang::English)),
        (None, None) => Ok(None),
    }
}

/// Find the period label and the header row among the first rows of a sheet.
fn peek(wb: &mut Workbook, file: &str, sheet: &str) -> Result<Peek, PlatformError> {
    let mut out = Peek {
        class: Class::Unknown,
        headers: Vec::new(),
        shown: Vec::new(),
        lang: None,
        header_row: 1,
        period: None,
        empty: true,
    };
    let mut first_headers: Option<(Vec<String>, u64)> = None;
    for_each_row(wb, file, sheet, |row, cells| {
        if row > u64::from(HEADER_SEARCH_ROWS) {
            return Ok(false);
        }
        let shown = trimmed_headers(cells);
        if shown.is_empty() {
            return Ok(true);
        }
        out.empty = false;
        let h = english(&shown);
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
            first_headers = Some((shown.clone(), row));
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
                out.shown = shown;
                out.header_row = row;
                Ok(false)
            }
        }
    })?;
    if out.class == Class::Unknown {
        if let Some((shown, row)) = first_headers {
            out.headers = english(&shown);
            out.shown = shown;
            out.header_row = row;
        }
    }
    out.lang = header_language(file, Some(sheet.trim()), out.header_row, &out.shown)?;
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
            } else if t == "Sales Period" || t == "Periodo de ventas" {
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

/// One sheet of the workbook as found: its name as written, the English name of the sheet it
/// is (its own name when it has no known one), and what its top says.
struct Found {
    name: String,
    canonical: String,
    peek: Peek,
}

/// The sheets that name the workbook's languages, first per language.
#[derive(Default)]
struct Languages {
    english: Option<String>,
    spanish: Option<String>,
}

impl Languages {
    fn note(&mut self, lang: Lang, sheet: &str) {
        let slot = match lang {
            Lang::English => &mut self.english,
            Lang::Spanish => &mut self.spanish,
        };
        slot.get_or_insert_with(|| sheet.to_string());
    }

    /// A workbook mixing English and Spanish is refused (FORMATS §10.3 rule 1).
    fn check(&self, file: &str) -> Result<bool, PlatformError> {
        match (&self.english, &self.spanish) {
            (Some(en), Some(es)) => Err(PlatformError::Rejected(InputError::file(
                file,
                format!(
                    "the workbook mixes Spanish and English (sheet `{es}` is in Spanish, sheet `{en}` in English); KDP writes a whole report in the account's language, so this one was edited or put together by hand: download the report again"
                ),
            ))),
            (None, Some(_)) => Ok(true),
            _ => Ok(false),
        }
    }
}

/// Read the date cells of a sheet's date column only (a union sheet the per-format sheets make
/// redundant, `Orders Processed`): their shapes decide how to read KENP dates (FORMATS §12.2).
fn scan_dates(
    wb: &mut Workbook,
    file: &str,
    name: &str,
    peek: &Peek,
    column: &str,
    out: &mut DateShapes,
) -> Result<(), PlatformError> {
    let Some(c) = peek.headers.iter().position(|h| h == column) else {
        return Ok(());
    };
    let sheet = name.trim().to_string();
    let header_row = peek.header_row;
    for_each_row(wb, file, name, |row, cells| {
        if row > header_row {
            if let Some(text) = cells.get(c) {
                out.note(Some(&sheet), row, text);
            }
        }
        Ok(true)
    })
}

/// The KENP dates of a KENP sheet: whether one is not the 1st, and the months they fall in.
fn scan_kenp_dates(
    wb: &mut Workbook,
    file: &str,
    name: &str,
    peek: &Peek,
) -> Result<(bool, BTreeSet<String>), PlatformError> {
    let mut not_first = false;
    let mut months = BTreeSet::new();
    let Some(c) = peek.headers.iter().position(|h| h == "Date") else {
        return Ok((not_first, months));
    };
    let header_row = peek.header_row;
    for_each_row(wb, file, name, |row, cells| {
        if row > header_row {
            if let Some((start, end)) = cells.get(c).and_then(|t| parse_day_or_month(t)) {
                not_first |= start == end && start.day() != 1;
                months.insert(crate::model::iso_date(start)[..7].to_string());
            }
        }
        Ok(true)
    })?;
    Ok((not_first, months))
}

/// The Summary sheet's layout and month rows, if it has a usable one.
fn read_summary(
    wb: &mut Workbook,
    file: &str,
    name: &str,
    warnings: &mut Vec<String>,
) -> Result<Option<(summary::Layout, Vec<summary::SummaryRow>)>, PlatformError> {
    let sheet = name.trim().to_string();
    let mut layout: Option<summary::Layout> = None;
    let mut rows = Vec::new();
    for_each_row(wb, file, name, |row, cells| match &layout {
        None => {
            let shown = trimmed_headers(cells);
            if shown.is_empty() {
                return Ok(true);
            }
            layout = summary::Layout::new(&english(&shown), &shown);
            Ok(layout.is_some())
        }
        Some(l) => {
            if let Some(r) = summary::read_row(file, &sheet, l, row, cells)? {
                rows.push(r);
            }
            Ok(true)
        }
    })?;
    if layout.is_none() {
        warnings.push(format!(
            "`{file}`, sheet `{sheet}`: not the Summary layout (no `Date` and `Royalty (USD)` … columns), so the workbook could not be checked against it and KDP's estimate of the KENP royalty was not imported"
        ));
    }
    Ok(layout.map(|l| (l, rows)))
}

/// A KDP Payments workbook's `Payments` sheet: payouts, never events (FORMATS §2.4).
fn read_payments(wb: &mut Workbook, file: &str, name: &str) -> Result<ParseSummary, PlatformError> {
    let sheet = name.trim();
    let mut reader = payments::Reader::new(file, Some(sheet));
    let mut header = false;
    for_each_row(wb, file, name, |line, cells| {
        if header {
            reader.row(line, cells)?;
        } else if !cells.iter().all(|c| c.trim().is_empty()) {
            if !payments::is_header(cells) {
                return Err(PlatformError::Rejected(InputError {
                    file: file.to_string(),
                    sheet: Some(sheet.to_string()),
                    line: Some(line),
                    column: None,
                    message: payments::header_problem(cells),
                }));
            }
            header = true;
        }
        Ok(true)
    })?;
    if !header {
        return Err(PlatformError::Rejected(InputError {
            file: file.to_string(),
            sheet: Some(sheet.to_string()),
            line: None,
            column: None,
            message:
                "the Payments sheet is empty: download the Payments report again from KDP Reports"
                    .to_string(),
        }));
    }
    let (payouts, warnings, rows) = reader.finish();
    Ok(ParseSummary {
        layout: "KDP Payments report".to_string(),
        rows,
        warnings,
        payouts,
        ..ParseSummary::default()
    })
}

/// Declare `formats` of a report over `range` (rounded out to whole months for month totals).
fn declare(
    out: &mut Vec<Coverage>,
    is_final: bool,
    formats: &[Format],
    range: (NaiveDate, NaiveDate),
    month_totals: bool,
) {
    for f in formats {
        out.push(coverage(family(is_final, *f), range, month_totals));
    }
}

fn coverage(family: String, range: (NaiveDate, NaiveDate), month_totals: bool) -> Coverage {
    let (start, end) = if month_totals {
        (month_of(range.0).0, month_of(range.1).1)
    } else {
        range
    };
    Coverage {
        family,
        start,
        end,
        month_totals,
    }
}

#[allow(clippy::too_many_lines)]
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
    let mut languages = Languages::default();
    let mut sales: Vec<Found> = Vec::new();
    let mut skipped: Vec<(String, Class)> = Vec::new();
    let mut unknown: Vec<Found> = Vec::new();
    let mut foreign: Option<(String, &'static str)> = None;
    let mut summary_sheet: Option<String> = None;
    let mut orders_sheet: Option<String> = None;
    let mut period = None;
    for name in &names {
        let trimmed = name.trim();
        let known = lang::sheet_name(trimmed);
        if let Some((l, _)) = known {
            languages.note(l, trimmed);
        }
        let canonical = known.map_or(trimmed, |(_, en)| en);
        if let Some(class) = non_sales_sheet_name(canonical) {
            match canonical {
                "Summary" => summary_sheet = Some(name.clone()),
                "Orders Processed" => orders_sheet = Some(name.clone()),
                _ => {}
            }
            skipped.push((trimmed.to_string(), class));
            continue;
        }
        let p = peek(&mut wb, display_name, name)?;
        if p.empty {
            continue;
        }
        if let Some(l) = p.lang {
            languages.note(l, trimmed);
        }
        let found = Found {
            name: name.clone(),
            canonical: canonical.to_string(),
            peek: p,
        };
        match &found.peek.class {
            Class::Legacy | Class::Foreign(_) => {
                return Err(PlatformError::Rejected(class_error(
                    display_name,
                    Some(trimmed),
                    &found.peek.class,
                    &found.peek.shown,
                )));
            }
            Class::Sales(_) => {
                let sheet_period = match found.peek.period {
                    Some(pp) => Some(pp),
                    None => find_period_in_sheet(&mut wb, display_name, name)?,
                };
                if period.is_none() {
                    period = sheet_period;
                }
                sales.push(found);
            }
            Class::Payments | Class::NonSales(_) => {
                skipped.push((trimmed.to_string(), found.peek.class.clone()));
            }
            Class::Unknown => {
                if known.is_none() && foreign.is_none() {
                    let mut cells: Vec<&str> = vec![trimmed];
                    cells.extend(found.peek.shown.iter().map(String::as_str));
                    if let Some(language) = lang::foreign(&cells) {
                        foreign = Some((trimmed.to_string(), language));
                    }
                }
                unknown.push(found);
            }
        }
    }
    let spanish = languages.check(display_name)?;
    if sales.is_empty() {
        if let Some((sheet, language)) = foreign {
            return Err(PlatformError::Rejected(class_error(
                display_name,
                Some(&sheet),
                &Class::Foreign(language),
                &[],
            )));
        }
        if let Some((sheet, _)) = skipped.iter().find(|(_, c)| *c == Class::Payments) {
            let name = names
                .iter()
                .find(|n| n.trim() == sheet)
                .cloned()
                .unwrap_or_else(|| sheet.clone());
            return read_payments(&mut wb, display_name, &name);
        }
        let pick = skipped.first();
        if let Some((name, class)) = pick {
            return Err(PlatformError::Rejected(class_error(
                display_name,
                Some(name),
                class,
                &[],
            )));
        }
        if let Some(f) = unknown.first() {
            return Err(PlatformError::Rejected(class_error(
                display_name,
                Some(f.name.trim()),
                &Class::Unknown,
                &f.peek.shown,
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
    for f in &sales {
        if let Class::Sales(kind) = f.peek.class {
            covered.extend(per_format(kind, &f.canonical));
        }
    }
    let is_final = period.is_some();
    let mut summary = ParseSummary::default();
    let mut used: Vec<String> = Vec::new();
    let mut tally = summary::Tally::default();
    let mut dates = DateShapes::default();
    // The kinds each imported sheet stands for (and, in a final report, its month).
    let mut stands_for: Vec<(Vec<Format>, Option<Period>)> = Vec::new();
    let mut kenp_months_seen: Option<bool> = None;
    let mut summary_rows: Option<(summary::Layout, Vec<summary::SummaryRow>)> = None;
    // Sales sheets first, then the KENP sheets: how to read a KENP date depends on the shapes
    // of every sales date of the workbook (FORMATS §12.2).
    for pass in [false, true] {
        if pass && !is_final {
            if let Some(name) = &orders_sheet {
                let p = peek(&mut wb, display_name, name)?;
                scan_dates(&mut wb, display_name, name, &p, "Date", &mut dates)?;
            }
            if let Some(name) = &summary_sheet {
                summary_rows = read_summary(&mut wb, display_name, name, &mut summary.warnings)?;
            }
        }
        for f in &sales {
            let Class::Sales(kind) = f.peek.class else {
                continue;
            };
            if (kind == SheetKind::Kenp) != pass {
                continue;
            }
            let sheet_period = if is_final {
                f.peek.period.or(period)
            } else {
                None
            };
            let mut sheet = Sheet::new(
                display_name,
                Some(f.name.trim()),
                &f.canonical,
                kind,
                f.peek.headers.clone(),
                f.peek.shown.clone(),
                spanish,
                sheet_period,
                f.peek.header_row,
            )?;
            let mut wanted = sheet.natural_formats();
            if kind == SheetKind::Union {
                wanted.retain(|x| !covered.contains(x));
                sheet.skip_formats.clone_from(&covered);
                if wanted.is_empty() {
                    // The per-format sheets hold all of it: only its dates are read.
                    if !is_final {
                        scan_dates(
                            &mut wb,
                            display_name,
                            &f.name,
                            &f.peek,
                            "Royalty Date",
                            &mut dates,
                        )?;
                    }
                    continue;
                }
            }
            if kind == SheetKind::Kenp && !is_final {
                let (not_first, months) = scan_kenp_dates(&mut wb, display_name, &f.name, &f.peek)?;
                let sales_monthly = dates.monthly(display_name)?;
                sheet.kenp_months = !not_first
                    && match sales_monthly {
                        Some(monthly) => monthly,
                        // No sales row says: a download of several months holds month totals.
                        None => match &summary_rows {
                            Some((_, rows)) => rows.len() > 1,
                            None => months.len() > 1,
                        },
                    };
                kenp_months_seen = Some(kenp_months_seen.unwrap_or(true) && sheet.kenp_months);
            }
            let header_row = f.peek.header_row;
            let mut result: Result<(), PlatformError> = Ok(());
            for_each_row(&mut wb, display_name, &f.name, |row, cells| {
                if row <= header_row {
                    return Ok(true);
                }
                summary.rows += 1;
                if let Some(event) = sheet.event(row, cells)? {
                    tally.add(&event, sheet.last_free);
                    if let Err(e) = sink.event(event) {
                        result = Err(e.into());
                        return Ok(false);
                    }
                }
                Ok(true)
            })?;
            result?;
            summary.warnings.extend(sheet.warnings());
            dates.merge(std::mem::take(&mut sheet.dates));
            for x in &sheet.formats_seen {
                if !wanted.contains(x) {
                    wanted.push(*x);
                }
            }
            stands_for.push((wanted, sheet.period));
            used.push(f.name.trim().to_string());
        }
    }
    let sales_monthly = dates.monthly(display_name)?;
    if let Some((layout, rows)) = &summary_rows {
        let name = summary_sheet.as_deref().unwrap_or("Summary").trim();
        let (events, warnings) = summary::kenp_royalty(display_name, name, layout, rows, &tally);
        summary.warnings.extend(warnings);
        for event in events {
            sink.event(event)?;
        }
    }
    // What the workbook covers beyond its rows (DESIGN §5): a final report each kind its sheets
    // stand for in their month; an estimate every kind over the dates of the download.
    if is_final {
        for (formats, sheet_period) in &stands_for {
            if let Some(p) = sheet_period {
                declare(&mut summary.coverage, true, formats, *p, true);
            }
        }
    } else if let Some(range) = tally.range {
        let monthly = sales_monthly.or(kenp_months_seen).unwrap_or(false);
        let kenp_months = kenp_months_seen.unwrap_or(monthly);
        for (formats, _) in &stands_for {
            for f in formats {
                let month_totals = if *f == Format::Kenp {
                    kenp_months
                } else {
                    monthly
                };
                declare(&mut summary.coverage, false, &[*f], range, month_totals);
            }
        }
        if summary_rows.is_some() {
            summary.coverage.push(coverage(
                KENP_ROYALTY_FAMILY.to_string(),
                range,
                kenp_months,
            ));
        }
    }
    for f in &unknown {
        summary.warnings.push(format!(
            "`{display_name}`: sheet `{}` is not a known KDP sheet and was skipped",
            f.name.trim()
        ));
    }
    if summary.rows == 0 {
        summary.warnings.push(format!(
            "`{display_name}` has KDP sales sheets but no sales rows"
        ));
    }
    summary.layout = format!(
        "KDP {}{} workbook (sheets imported: {})",
        if is_final {
            "Prior Months' Royalties"
        } else {
            "Royalties Estimator/Dashboard"
        },
        if spanish { ", Spanish" } else { "" },
        used.join(", ")
    );
    Ok(summary)
}
