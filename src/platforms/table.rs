//! Tables of report rows that come either as a sheet of an XLSX workbook or as a CSV copy of
//! it (Kobo, StreetLib), or as text only (Google Play): finding the header by its names,
//! streaming the rows with their location, and reading cells strictly (exact decimals, whole
//! numbers, dates, currency codes).
//!
//! Owns: header lookup (trimmed, case- and space-insensitive), the `Cells` view of a row, the
//! row driver over both sources, cell parsers with error locations.
//! Must not: know any one platform's columns.

use std::path::Path;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate};

use super::csvutil::{self, Delimiter, TextReport};
use super::workbook::Workbook;
use super::{EventSink, InputError, PlatformError};
use crate::model::{parse_micros, MICROS};

/// One row's cells, from a CSV record or an assembled sheet row.
pub trait Cells {
    /// The text of column `i` (empty past the end).
    fn cell(&self, i: usize) -> &str;
    /// How many cells the row has.
    fn width(&self) -> usize;
    /// True when every cell is blank (trailing empty rows of a sheet or a CSV copy).
    fn is_blank(&self) -> bool {
        (0..self.width()).all(|i| self.cell(i).trim().is_empty())
    }
}

impl Cells for csv::StringRecord {
    fn cell(&self, i: usize) -> &str {
        self.get(i).unwrap_or("")
    }
    fn width(&self) -> usize {
        self.len()
    }
}

impl Cells for Vec<String> {
    fn cell(&self, i: usize) -> &str {
        self.get(i).map_or("", String::as_str)
    }
    fn width(&self) -> usize {
        self.len()
    }
}

/// A header name as compared: trimmed, lower case, runs of whitespace as one space.
pub fn norm(name: &str) -> String {
    let t = name.trim_start_matches('\u{feff}').trim();
    let mut out = String::with_capacity(t.len());
    for word in t.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

/// A header row: the names as written (trimmed) and as compared.
#[derive(Debug, Clone)]
pub struct Header {
    /// Trimmed names, in column order (for messages and `raw`).
    pub names: Vec<String>,
    keys: Vec<String>,
}

impl Header {
    /// A header from its cells; trailing empty cells are dropped.
    pub fn new(cells: &[String]) -> Header {
        let mut names: Vec<String> = cells
            .iter()
            .map(|c| c.trim_start_matches('\u{feff}').trim().to_string())
            .collect();
        while names.last().is_some_and(String::is_empty) {
            names.pop();
        }
        let keys = names.iter().map(|n| norm(n)).collect();
        Header { names, keys }
    }

    /// The first column whose name is one of `aliases` (compared with `norm`).
    pub fn find(&self, aliases: &[&str]) -> Option<usize> {
        aliases.iter().find_map(|a| {
            let a = norm(a);
            self.keys.iter().position(|k| *k == a)
        })
    }

    /// True when every one of `names` is present.
    pub fn has_all(&self, names: &[&str]) -> bool {
        names.iter().all(|n| self.find(&[n]).is_some())
    }

    /// The name of column `i` as written.
    pub fn name(&self, i: usize) -> &str {
        self.names.get(i).map_or("", String::as_str)
    }

    /// The header as one line, for messages.
    pub fn joined(&self) -> String {
        self.names.join(", ")
    }

    /// The header as a `raw` layout (unnamed columns left out).
    pub fn raw_layout(&self) -> Arc<crate::model::RawLayout> {
        Arc::new(crate::model::RawLayout::new(&self.names, true))
    }
}

/// Resolve required columns (each a list of accepted names, the first the canonical one) or
/// name every missing one.
///
/// # Errors
/// The message lists the missing columns and the header found.
pub fn require(header: &Header, layout: &str, wanted: &[&[&str]]) -> Result<Vec<usize>, String> {
    let mut idx = Vec::with_capacity(wanted.len());
    let mut missing = Vec::new();
    for names in wanted {
        match header.find(names) {
            Some(i) => idx.push(i),
            None => missing.push(
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(" or "),
            ),
        }
    }
    if missing.is_empty() {
        Ok(idx)
    } else {
        Err(format!(
            "not a {layout}: missing column{} {} (found header: {})",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", "),
            header.joined()
        ))
    }
}

/// Where a table is: the file the user named and, for a workbook, the sheet.
#[derive(Debug, Clone)]
pub struct Loc {
    pub file: String,
    pub sheet: Option<String>,
}

impl Loc {
    /// A rejection at `line` (a text line or a sheet row) and optionally a column.
    pub fn reject(
        &self,
        line: u64,
        column: Option<&str>,
        message: impl Into<String>,
    ) -> PlatformError {
        PlatformError::Rejected(InputError {
            file: self.file.clone(),
            sheet: self.sheet.clone(),
            line: Some(line),
            column: column.map(str::to_string),
            message: message.into(),
        })
    }
}

/// Where the rows of a table come from.
pub enum Source {
    /// A delimited text file; its header is line 1.
    Text(TextReport),
    /// A sheet of a workbook, with the row its header is on.
    Sheet {
        workbook: Workbook,
        sheet: String,
        header_row: u64,
    },
}

impl Source {
    /// True for a sheet (cells typed by Excel, dates possibly serial numbers).
    pub fn is_sheet(&self) -> bool {
        matches!(self, Source::Sheet { .. })
    }

    /// Stream every data row after the header: `f(line_or_row, cells)`, blank rows skipped.
    /// Text rows must have as many fields as the header (`TextReport::next_record`). Progress
    /// is reported to `sink` for text files every 4,096 rows.
    ///
    /// # Errors
    /// What `f` returns, and the source's own rejections (field counts, a damaged sheet).
    pub fn each_row(
        &mut self,
        sink: &mut dyn EventSink,
        mut f: impl FnMut(u64, &dyn Cells, &mut dyn EventSink) -> Result<(), PlatformError>,
    ) -> Result<(), PlatformError> {
        match self {
            Source::Text(report) => {
                let mut rec = csv::StringRecord::new();
                let mut n: u64 = 0;
                while report.next_record(&mut rec)? {
                    if rec.is_blank() {
                        continue;
                    }
                    f(report.line, &rec, sink)?;
                    n += 1;
                    if n % 4096 == 0 {
                        sink.progress(report.bytes_read());
                    }
                }
                sink.progress(report.bytes_read());
                Ok(())
            }
            Source::Sheet {
                workbook,
                sheet,
                header_row,
            } => {
                let header_row = *header_row;
                let name = sheet.clone();
                workbook.rows(&name, |row, cells| {
                    if row <= header_row || cells.is_blank() {
                        return Ok(true);
                    }
                    f(row, cells, sink)?;
                    Ok(true)
                })
            }
        }
    }
}

/// Open a delimited text file with its delimiter sniffed from the first line (tab, semicolon
/// or comma: the one that occurs most, tab first on a tie).
///
/// # Errors
/// As `TextReport::open`.
pub fn open_text(path: &Path, display_name: &str) -> Result<TextReport, PlatformError> {
    let first = csvutil::first_line(path, display_name)?;
    TextReport::open(path, display_name, sniff_delimiter(&first))
}

/// The delimiter of a header line: the one of tab, semicolon and comma that occurs most.
pub fn sniff_delimiter(first_line: &str) -> Delimiter {
    let count = |c: char| first_line.matches(c).count();
    let (tabs, semis, commas) = (count('\t'), count(';'), count(','));
    if tabs > 0 && tabs >= semis && tabs >= commas {
        Delimiter::Tab
    } else if semis > commas {
        Delimiter::Semicolon
    } else {
        Delimiter::Comma
    }
}

/// A plain decimal cell as micro-units; empty and `N/A` give `None`.
///
/// # Errors
/// The reason, for the caller to locate.
pub fn decimal(text: &str) -> Result<Option<i64>, String> {
    let t = text.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("n/a") {
        return Ok(None);
    }
    parse_micros(t).map(Some).map_err(|e| e.to_string())
}

/// A whole-number cell (`3`, `-1`, `3.0`); empty and `N/A` give `None`.
///
/// # Errors
/// The reason, for the caller to locate.
pub fn whole(text: &str) -> Result<Option<i64>, String> {
    match decimal(text) {
        Ok(Some(m)) if m % MICROS == 0 => Ok(Some(m / MICROS)),
        Ok(Some(_)) | Err(_) => Err(format!("expected a whole number, found `{}`", text.trim())),
        Ok(None) => Ok(None),
    }
}

/// A currency code cell, upper-cased; `None` unless three ASCII letters.
pub fn currency(text: &str) -> Option<String> {
    let c = text.trim().to_ascii_uppercase();
    (c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic())).then_some(c)
}

/// The first and last day of the month of `d`.
pub fn month_of(d: NaiveDate) -> (NaiveDate, NaiveDate) {
    let first = d.with_day(1).unwrap_or(d);
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    };
    let last = next.and_then(|n| n.pred_opt()).unwrap_or(first);
    (first, last)
}

/// An Excel serial day number (1900 date system, as XLSX stores dates), for a date column of
/// a sheet whose cell carries no date format. Only days from 1900-03-01 on (serial 61) are
/// accepted, past Excel's phantom 1900-02-29.
fn excel_serial(text: &str) -> Option<NaiveDate> {
    let t = text.trim();
    let t = t.strip_suffix(".0").unwrap_or(t);
    if t.is_empty() || t.len() > 7 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = t.parse().ok()?;
    if !(61..=2_958_465).contains(&n) {
        return None;
    }
    NaiveDate::from_ymd_opt(1899, 12, 30)?.checked_add_days(chrono::Days::new(n.unsigned_abs()))
}

/// A day cell: `YYYY-MM-DD` (optionally followed by a time after a space or `T`), `M/D/YYYY`,
/// or, in a sheet, an Excel serial day number.
pub fn day(text: &str, sheet: bool) -> Option<NaiveDate> {
    let t = text.trim();
    let date_part = match t.as_bytes().get(10) {
        Some(b' ' | b'T') if t.len() > 10 => &t[..10],
        _ => t,
    };
    if let Some(d) = csvutil::parse_date(date_part) {
        return Some(d);
    }
    if sheet {
        return excel_serial(t);
    }
    None
}

/// A month cell: `YYYY-MM`, a day in it (as `day` reads it), or a label such as `July 2025`
/// or `Jul 2025`: the whole month.
pub fn month(text: &str, sheet: bool) -> Option<(NaiveDate, NaiveDate)> {
    let t = text.trim();
    if let Some(d) = day(t, sheet) {
        return Some(month_of(d));
    }
    let b = t.as_bytes();
    if b.len() == 7 && b[4] == b'-' {
        let d = NaiveDate::parse_from_str(&format!("{t}-01"), "%Y-%m-%d").ok()?;
        return Some(month_of(d));
    }
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
    let mut words = t.split_whitespace();
    let (name, year) = (words.next()?, words.next()?);
    if words.next().is_some() || year.len() != 4 {
        return None;
    }
    let name = name.to_ascii_lowercase();
    let m = MONTHS
        .iter()
        .position(|full| *full == name || (name.len() == 3 && full.starts_with(&name)))?;
    let d = NaiveDate::from_ymd_opt(year.parse().ok()?, u32::try_from(m + 1).ok()?, 1)?;
    Some(month_of(d))
}

/// One data row with what is needed to read its cells and locate an error.
pub struct Row<'a> {
    pub loc: &'a Loc,
    pub header: &'a Header,
    /// Text line or sheet row.
    pub line: u64,
    pub cells: &'a dyn Cells,
    /// The row comes from a sheet (dates may be Excel serial numbers).
    pub sheet: bool,
}

impl Row<'_> {
    /// Column `i`'s text, trimmed.
    pub fn text(&self, i: usize) -> &str {
        self.cells.cell(i).trim()
    }

    /// An optional column's text, trimmed (empty when the column is absent).
    pub fn opt_text(&self, i: Option<usize>) -> &str {
        i.map_or("", |i| self.text(i))
    }

    /// A rejection naming this row and column `i`.
    pub fn reject(&self, i: usize, message: impl Into<String>) -> PlatformError {
        self.loc
            .reject(self.line, Some(self.header.name(i)), message)
    }

    /// An exact decimal; empty and `N/A` give `None`.
    ///
    /// # Errors
    /// `Rejected` naming the cell.
    pub fn decimal(&self, i: usize) -> Result<Option<i64>, PlatformError> {
        decimal(self.text(i)).map_err(|m| self.reject(i, m))
    }

    /// An optional column's exact decimal, checked when present.
    ///
    /// # Errors
    /// `Rejected` naming the cell.
    pub fn opt_decimal(&self, i: Option<usize>) -> Result<Option<i64>, PlatformError> {
        i.map_or(Ok(None), |i| self.decimal(i))
    }

    /// A percentage, written `70`, `0.7` or `70%`: checked, as micro-units of the number shown.
    ///
    /// # Errors
    /// `Rejected` naming the cell.
    pub fn opt_percent(&self, i: Option<usize>) -> Result<Option<i64>, PlatformError> {
        let Some(i) = i else { return Ok(None) };
        let t = self.text(i);
        decimal(t.strip_suffix('%').unwrap_or(t).trim_end()).map_err(|m| self.reject(i, m))
    }

    /// An amount that must be present.
    ///
    /// # Errors
    /// `Rejected` naming the cell when empty or not a plain decimal.
    pub fn amount(&self, i: usize) -> Result<i64, PlatformError> {
        self.decimal(i)?
            .ok_or_else(|| self.reject(i, format!("expected an amount, found `{}`", self.text(i))))
    }

    /// A whole number that must be present.
    ///
    /// # Errors
    /// `Rejected` naming the cell.
    pub fn units(&self, i: usize) -> Result<i64, PlatformError> {
        whole(self.text(i))
            .map_err(|m| self.reject(i, m))?
            .ok_or_else(|| self.reject(i, "expected a whole number, found an empty cell"))
    }

    /// An optional whole number, checked when present.
    ///
    /// # Errors
    /// `Rejected` naming the cell.
    pub fn opt_units(&self, i: Option<usize>) -> Result<Option<i64>, PlatformError> {
        i.map_or(Ok(None), |i| {
            whole(self.text(i)).map_err(|m| self.reject(i, m))
        })
    }

    /// A day that must be present.
    ///
    /// # Errors
    /// `Rejected` naming the cell.
    pub fn day(&self, i: usize) -> Result<NaiveDate, PlatformError> {
        let t = self.text(i);
        if t.is_empty() {
            return Err(self.reject(i, "expected a date like 2025-07-31, found an empty cell (a row with data needs its date)"));
        }
        day(t, self.sheet)
            .ok_or_else(|| self.reject(i, format!("expected a date like 2025-07-31, found `{t}`")))
    }

    /// An optional day, checked when present.
    ///
    /// # Errors
    /// `Rejected` naming the cell.
    pub fn opt_day(&self, i: Option<usize>) -> Result<Option<NaiveDate>, PlatformError> {
        match i {
            Some(i) if !self.text(i).is_empty() => self.day(i).map(Some),
            _ => Ok(None),
        }
    }

    /// A three-letter currency code that must be present.
    ///
    /// # Errors
    /// `Rejected` naming the cell.
    pub fn currency(&self, i: usize) -> Result<String, PlatformError> {
        currency(self.text(i)).ok_or_else(|| {
            self.reject(
                i,
                format!(
                    "expected a three-letter currency code such as USD, found `{}`",
                    self.text(i)
                ),
            )
        })
    }

    /// An ISBN (digits, hyphens, a spreadsheet's `.0`) as its digits; a number a spreadsheet
    /// turned into `9.78173E+12` has lost digits and is rejected.
    ///
    /// # Errors
    /// `Rejected` naming the cell when empty or in scientific notation.
    pub fn isbn(&self, i: usize) -> Result<String, PlatformError> {
        let t = self.text(i);
        if t.contains(['E', 'e']) && t.contains('+') {
            return Err(self.reject(
                i,
                format!("the ISBN `{t}` was turned into a number by a spreadsheet and has lost digits: download the report again instead of re-saving it"),
            ));
        }
        let digits = csvutil::normalise_isbn(t);
        if digits.is_empty() {
            return Err(self.reject(i, "expected the book's ISBN, found an empty cell"));
        }
        Ok(digits)
    }

    /// The row's cells for `raw`, in the order of `layout`'s keys.
    pub fn raw(&self, layout: &crate::model::RawLayout) -> String {
        layout.cells_json(0, |i| self.cells.cell(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn headers_match_trimmed_case_and_space_insensitively() {
        let h = Header::new(&[
            "\u{feff}Date".to_string(),
            " Total Qty".to_string(),
            "Net Due (Payable Currency) ".to_string(),
            "List  Price".to_string(),
            String::new(),
        ]);
        assert_eq!(h.names.len(), 4);
        assert_eq!(h.find(&["date"]), Some(0));
        assert_eq!(h.find(&["Total Qty"]), Some(1));
        assert_eq!(h.find(&["net due (payable currency)"]), Some(2));
        assert_eq!(h.find(&["List Price"]), Some(3));
        assert_eq!(h.find(&["Nope", "TOTAL QTY"]), Some(1));
        let e = require(&h, "test report", &[&["Date"], &["eISBN"], &["A", "B"]]).unwrap_err();
        assert!(e.contains("missing columns `eISBN`, `A` or `B`"), "{e}");
    }

    #[test]
    fn dates_and_months() {
        assert_eq!(day("2025-07-03", false), Some(d(2025, 7, 3)));
        assert_eq!(day(" 2025-07-03 00:00:00", false), Some(d(2025, 7, 3)));
        assert_eq!(day("2025-07-03T10:15:00", false), Some(d(2025, 7, 3)));
        assert_eq!(day("7/3/2025", false), Some(d(2025, 7, 3)));
        // 45841 is 2025-07-03 in Excel's 1900 system (Python: date(1899,12,30)+timedelta(45841)).
        assert_eq!(day("45841", true), Some(d(2025, 7, 3)));
        assert_eq!(day("45841", false), None);
        assert_eq!(day("2025-13-01", true), None);
        assert_eq!(day("03/07/2025x", false), None);
        assert_eq!(
            month("2025-07", false),
            Some((d(2025, 7, 1), d(2025, 7, 31)))
        );
        assert_eq!(
            month("2025-02-14", false),
            Some((d(2025, 2, 1), d(2025, 2, 28)))
        );
        assert_eq!(
            month("July 2025", false),
            Some((d(2025, 7, 1), d(2025, 7, 31)))
        );
        assert_eq!(
            month("dec 2024", false),
            Some((d(2024, 12, 1), d(2024, 12, 31)))
        );
        assert_eq!(month("2025-7", false), None);
        assert_eq!(month("Q3 2025", false), None);
    }

    #[test]
    fn numbers_are_strict() {
        assert_eq!(decimal("2.71"), Ok(Some(2_710_000)));
        assert_eq!(decimal(" -0.42 "), Ok(Some(-420_000)));
        assert_eq!(decimal("N/A"), Ok(None));
        assert!(decimal("2,71").is_err());
        assert!(decimal("$2.71").is_err());
        assert_eq!(whole("-1"), Ok(Some(-1)));
        assert_eq!(whole("2.0"), Ok(Some(2)));
        assert!(whole("1.5").is_err());
        assert_eq!(currency(" usd "), Some("USD".to_string()));
        assert_eq!(currency("US$"), None);
        assert_eq!(sniff_delimiter("a;b;c,d"), Delimiter::Semicolon);
        assert_eq!(sniff_delimiter("a\tb\tc"), Delimiter::Tab);
        assert_eq!(sniff_delimiter("a,b,c"), Delimiter::Comma);
    }
}
