//! Shared helpers for delimited-text reports: opening with BOM/CR tolerance, delimiter
//! sniffing, header lookup by name, strict field counts and exact number cells.
//!
//! Owns: turning a text report into checked rows with good error locations.
//! Must not: know any one platform's columns.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use super::{InputError, PlatformError};
use crate::model::{parse_micros, parse_units, RawLayout};

/// A reader that counts the bytes it hands out, for progress reporting.
#[derive(Debug)]
pub struct CountingReader<R> {
    inner: R,
    /// Bytes read so far.
    pub count: std::rc::Rc<std::cell::Cell<u64>>,
    /// Reading stops with `RecordTooLong` once `count` reaches this (see `MAX_RECORD_BYTES`).
    limit: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R> CountingReader<R> {
    /// Count what `inner` hands out, stopping at `MAX_RECORD_BYTES` until the limit is moved
    /// on (through `limit_handle`) as records are read.
    pub fn new(inner: R) -> Self {
        CountingReader {
            inner,
            count: std::rc::Rc::new(std::cell::Cell::new(0)),
            limit: std::rc::Rc::new(std::cell::Cell::new(MAX_RECORD_BYTES)),
        }
    }

    /// The byte count at which reading stops with `RecordTooLong`.
    pub fn limit_handle(&self) -> std::rc::Rc<std::cell::Cell<u64>> {
        self.limit.clone()
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.count.get() >= self.limit.get() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, RecordTooLong));
        }
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// The most a text report may read for one record (the header or a row). Real report rows are
/// a few hundred bytes. A record this long means a double quote that opens a quoted cell and is
/// never closed, which would otherwise read the rest of the file, however large, into memory
/// as one cell.
pub const MAX_RECORD_BYTES: u64 = 1 << 20;

/// The I/O error `CountingReader` stops with when a record passes `MAX_RECORD_BYTES`.
#[derive(Debug)]
struct RecordTooLong;

impl std::fmt::Display for RecordTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "record longer than {MAX_RECORD_BYTES} bytes")
    }
}

impl std::error::Error for RecordTooLong {}

/// The delimiter of a text report, sniffed from its first line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delimiter {
    Comma,
    Tab,
    /// CSV saved by a spreadsheet in a locale whose list separator is `;`.
    Semicolon,
}

impl Delimiter {
    fn byte(self) -> u8 {
        match self {
            Delimiter::Comma => b',',
            Delimiter::Tab => b'\t',
            Delimiter::Semicolon => b';',
        }
    }
}

/// Read the first line (up to 64 KiB) of a file, without the BOM and line ending.
///
/// # Errors
/// `Transient` when the file cannot be read.
pub fn first_line(path: &Path, display_name: &str) -> Result<String, PlatformError> {
    let mut f = File::open(path).map_err(|e| io_error(display_name, &e))?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut filled = 0;
    loop {
        let n = f
            .read(&mut buf[filled..])
            .map_err(|e| io_error(display_name, &e))?;
        if n == 0 {
            break;
        }
        filled += n;
        if filled == buf.len() || buf[..filled].iter().any(|&b| b == b'\n' || b == b'\r') {
            break;
        }
    }
    let bytes = &buf[..filled];
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let end = bytes
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .unwrap_or(bytes.len());
    Ok(String::from_utf8_lossy(&bytes[..end]).into_owned())
}

/// Map an I/O error on an input file to a transient platform error naming the file.
pub fn io_error(display_name: &str, e: &io::Error) -> PlatformError {
    PlatformError::Transient(format!("cannot read `{display_name}`: {e}"))
}

/// True when the first bytes look like a zip (XLSX) or OLE2 (old XLS) container.
pub fn is_binary_container(path: &Path) -> bool {
    let mut head = [0u8; 4];
    match File::open(path).and_then(|mut f| f.read_exact(&mut head)) {
        Ok(()) => head == *b"PK\x03\x04" || head == [0xD0, 0xCF, 0x11, 0xE0],
        Err(_) => false,
    }
}

/// True when the first bytes are those of an OLE2 container: a binary Excel 97–2003 `.xls`
/// (not a text report that is merely named `.xls`).
pub fn is_binary_xls(path: &Path) -> bool {
    let mut head = [0u8; 4];
    match File::open(path).and_then(|mut f| f.read_exact(&mut head)) {
        Ok(()) => head == [0xD0, 0xCF, 0x11, 0xE0],
        Err(_) => false,
    }
}

/// Normalise a header cell: strip a BOM, surrounding whitespace and surrounding quotes.
pub fn clean_header(h: &str) -> String {
    h.trim_start_matches('\u{feff}').trim().to_string()
}

/// An open delimited report: headers plus a streaming record reader.
pub struct TextReport {
    pub headers: Vec<String>,
    reader: csv::Reader<CountingReader<BufReader<Box<dyn Read>>>>,
    bytes: std::rc::Rc<std::cell::Cell<u64>>,
    /// Where the reader stops reading the current record (`MAX_RECORD_BYTES` past its start).
    limit: std::rc::Rc<std::cell::Cell<u64>>,
    display_name: String,
    /// 1-based line number of the last record returned (the header is line 1).
    pub line: u64,
    /// The header as a `raw` layout, shared by every event of the file.
    pub raw_layout: Arc<RawLayout>,
}

impl TextReport {
    /// Open `path` as a delimited report. LF, CRLF and bare CR line endings are all accepted,
    /// and a UTF-8 BOM is stripped from the first header.
    ///
    /// # Errors
    /// `Rejected` for an empty file or a missing header, `Transient` for I/O errors.
    pub fn open(
        path: &Path,
        display_name: &str,
        delimiter: Delimiter,
    ) -> Result<Self, PlatformError> {
        let file = File::open(path).map_err(|e| io_error(display_name, &e))?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len == 0 {
            return Err(PlatformError::Rejected(InputError::file(
                display_name,
                "the file is empty (0 bytes): download the report again",
            )));
        }
        Self::from_reader(Box::new(file), display_name, delimiter)
    }

    /// A delimited report read from `input` (a file, or a decoder in front of one such as
    /// `Utf16Reader`), as `open` reads a file.
    ///
    /// # Errors
    /// `Rejected` for a missing header, `Transient` for I/O errors.
    pub fn from_reader(
        input: Box<dyn Read>,
        display_name: &str,
        delimiter: Delimiter,
    ) -> Result<Self, PlatformError> {
        let count = std::rc::Rc::new(std::cell::Cell::new(0));
        let limit = std::rc::Rc::new(std::cell::Cell::new(MAX_RECORD_BYTES));
        let counting = CountingReader {
            inner: BufReader::with_capacity(256 * 1024, input),
            count: count.clone(),
            limit: limit.clone(),
        };
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter.byte())
            .has_headers(true)
            .flexible(true)
            .from_reader(counting);
        let headers = reader
            .headers()
            .map_err(|e| csv_error(display_name, 1, &e))?
            .iter()
            .map(clean_header)
            .collect::<Vec<_>>();
        if headers.iter().all(String::is_empty) {
            return Err(PlatformError::Rejected(InputError::at(
                display_name,
                1,
                None,
                "no header row found",
            )));
        }
        let raw_layout = Arc::new(RawLayout::new(&headers, false));
        Ok(TextReport {
            headers,
            reader,
            bytes: count,
            limit,
            display_name: display_name.to_string(),
            line: 1,
            raw_layout,
        })
    }

    /// Bytes of the file read so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes.get()
    }

    /// The index of each required column, or an error naming every missing one.
    ///
    /// # Errors
    /// `Rejected` naming the missing columns and the header that was found.
    pub fn require(&self, layout: &str, names: &[&str]) -> Result<Vec<usize>, PlatformError> {
        let mut idx = Vec::with_capacity(names.len());
        let mut missing = Vec::new();
        for name in names {
            match self.headers.iter().position(|h| h == name) {
                Some(i) => idx.push(i),
                None => missing.push(format!("`{name}`")),
            }
        }
        if missing.is_empty() {
            Ok(idx)
        } else {
            Err(PlatformError::Rejected(InputError::at(
                &self.display_name,
                1,
                None,
                format!(
                    "not a {layout}: missing column{} {} (found header: {})",
                    if missing.len() == 1 { "" } else { "s" },
                    missing.join(", "),
                    self.headers.join(", ")
                ),
            )))
        }
    }

    /// Read the next record into `rec`, checking that it has exactly as many fields as the
    /// header. Returns `false` at the end of the file. Blank lines are skipped.
    ///
    /// # Errors
    /// `Rejected` naming the line for a wrong field count or invalid UTF-8.
    pub fn next_record(&mut self, rec: &mut csv::StringRecord) -> Result<bool, PlatformError> {
        loop {
            // The CSV reader reads ahead by at most its 8 KB buffer, so the limit falls between
            // 1 MB - 8 KB and 1 MB into the record.
            self.limit.set(self.bytes.get() + MAX_RECORD_BYTES);
            let more = self
                .reader
                .read_record(rec)
                .map_err(|e| csv_error(&self.display_name, self.line + 1, &e))?;
            if !more {
                return Ok(false);
            }
            self.line += 1;
            if rec.len() == 1 && rec.get(0).is_some_and(|f| f.trim().is_empty()) {
                continue;
            }
            if rec.len() != self.headers.len() {
                let hint = if rec.len() > self.headers.len() {
                    " (an unquoted comma inside a value, such as a decimal comma `4,19`?)"
                } else {
                    " (the file looks truncated or the row is cut short)"
                };
                return Err(PlatformError::Rejected(InputError::at(
                    &self.display_name,
                    self.line,
                    None,
                    format!(
                        "expected {} fields as in the header, found {}{hint}",
                        self.headers.len(),
                        rec.len()
                    ),
                )));
            }
            return Ok(true);
        }
    }

    /// The record's cells for the `raw` column: a JSON array in the order of `raw_layout`'s
    /// keys (see `RawLayout`).
    pub fn raw_cells(&self, rec: &csv::StringRecord) -> String {
        self.raw_layout
            .cells_json(rec.as_slice().len(), |i| rec.get(i).unwrap_or(""))
    }

    /// The user-facing file name.
    pub fn display_name(&self) -> &str {
        &self.display_name
    }
}

/// A CSV reader's error as a platform error: a rejection naming the line (a record past
/// `MAX_RECORD_BYTES`, invalid UTF-8, a malformed record), or a transient I/O error.
pub(crate) fn csv_error(display_name: &str, line: u64, e: &csv::Error) -> PlatformError {
    if let csv::ErrorKind::Io(io) = e.kind() {
        if io
            .get_ref()
            .is_some_and(|inner| inner.is::<RecordTooLong>())
        {
            let what = if line == 1 { "the header" } else { "this row" };
            return PlatformError::Rejected(InputError::at(
                display_name,
                line,
                None,
                format!(
                    "{what} runs on for more than {} MB, which no report row does: a double quote (`\"`) that opens a quoted cell is probably never closed. Look for a stray `\"` on line {line} or the lines just after it, or download the report again",
                    MAX_RECORD_BYTES >> 20
                ),
            ));
        }
    }
    if let csv::ErrorKind::Io(io) = e.kind() {
        if let Some(bad) = io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<BadText>())
        {
            return PlatformError::Rejected(InputError::at(
                display_name,
                line,
                None,
                bad.0.clone(),
            ));
        }
    }
    let line = e
        .position()
        .map_or(line, |p| if p.line() > 0 { p.line() } else { line });
    let msg = match e.kind() {
        csv::ErrorKind::Utf8 { .. } => {
            "the text is not valid UTF-8 (save the report as UTF-8 CSV)".to_string()
        }
        // An I/O error is the machine's problem, not the file's: worth retrying.
        csv::ErrorKind::Io(io) => return io_error(display_name, io),
        _ => e.to_string(),
    };
    PlatformError::Rejected(InputError::at(display_name, line, None, msg))
}

/// Text that cannot be decoded (a broken UTF-16 file): raised by a decoder as an I/O error of
/// kind `InvalidData`, and reported by `TextReport` as a rejection at the line being read.
#[derive(Debug)]
pub struct BadText(pub String);

impl std::fmt::Display for BadText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadText {}

/// The byte order of UTF-16 text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Utf16 {
    Le,
    Be,
}

/// How a text file is encoded, from its first bytes: a UTF-16 byte order mark (`FF FE`,
/// `FE FF`), else NUL bytes in alternate places (UTF-16 without a mark), else UTF-8.
pub fn sniff_utf16(head: &[u8]) -> Option<(Utf16, usize)> {
    match head {
        [0xFF, 0xFE, ..] => return Some((Utf16::Le, 2)),
        [0xFE, 0xFF, ..] => return Some((Utf16::Be, 2)),
        _ => {}
    }
    let pairs = head.len() / 2;
    if pairs < 2 {
        return None;
    }
    let (mut even, mut odd) = (0, 0);
    for p in head.chunks_exact(2) {
        if p[0] == 0 && p[1] != 0 {
            even += 1;
        }
        if p[1] == 0 && p[0] != 0 {
            odd += 1;
        }
    }
    if odd * 2 > pairs {
        Some((Utf16::Le, 0))
    } else if even * 2 > pairs {
        Some((Utf16::Be, 0))
    } else {
        None
    }
}

/// A reader that decodes UTF-16 into UTF-8 as it streams (a 64 KB window, never the whole
/// file). An unpaired surrogate or an odd trailing byte is an `InvalidData` error carrying
/// `BadText`. `consumed` counts the input bytes read, for progress.
pub struct Utf16Reader<R> {
    inner: R,
    order: Utf16,
    /// Input bytes not yet decoded (at most one unit and a half).
    pending: Vec<u8>,
    /// Decoded UTF-8 not yet handed out.
    out: Vec<u8>,
    out_pos: usize,
    /// Input bytes read so far (the byte order mark included).
    pub consumed: std::rc::Rc<std::cell::Cell<u64>>,
    done: bool,
}

impl<R: Read> Utf16Reader<R> {
    /// Decode `inner`, whose first `skip` bytes (a byte order mark) were already read.
    pub fn new(inner: R, order: Utf16, skip: u64) -> Self {
        Utf16Reader {
            inner,
            order,
            pending: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            consumed: std::rc::Rc::new(std::cell::Cell::new(skip)),
            done: false,
        }
    }

    fn bad(&self, what: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            BadText(format!(
                "the text is not valid UTF-16 ({what} near byte {}): download the report again",
                self.consumed.get()
            )),
        )
    }

    /// Decode the next window of input into `out`.
    fn fill(&mut self) -> io::Result<()> {
        let mut buf = [0u8; 64 * 1024];
        let n = loop {
            match self.inner.read(&mut buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        self.consumed.set(self.consumed.get() + n as u64);
        self.out.clear();
        self.out_pos = 0;
        if n == 0 {
            self.done = true;
            if !self.pending.is_empty() {
                return Err(self.bad("the file ends in the middle of a character"));
            }
            return Ok(());
        }
        self.pending.extend_from_slice(&buf[..n]);
        let unit = |b: &[u8]| match self.order {
            Utf16::Le => u16::from_le_bytes([b[0], b[1]]),
            Utf16::Be => u16::from_be_bytes([b[0], b[1]]),
        };
        let mut i = 0;
        while i + 2 <= self.pending.len() {
            let u = unit(&self.pending[i..i + 2]);
            let c = if (0xD800..0xDC00).contains(&u) {
                if i + 4 > self.pending.len() {
                    break; // the low half comes with the next window
                }
                let low = unit(&self.pending[i + 2..i + 4]);
                if !(0xDC00..0xE000).contains(&low) {
                    return Err(self.bad("an unpaired surrogate"));
                }
                i += 4;
                let cp = 0x10000 + ((u32::from(u) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
                char::from_u32(cp).ok_or_else(|| self.bad("an invalid character"))?
            } else if (0xDC00..0xE000).contains(&u) {
                return Err(self.bad("an unpaired surrogate"));
            } else {
                i += 2;
                char::from_u32(u32::from(u)).ok_or_else(|| self.bad("an invalid character"))?
            };
            let mut tmp = [0u8; 4];
            self.out
                .extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
        }
        self.pending.drain(..i);
        Ok(())
    }
}

impl<R: Read> Read for Utf16Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out_pos == self.out.len() {
            if self.done {
                return Ok(0);
            }
            self.fill()?;
        }
        let n = buf.len().min(self.out.len() - self.out_pos);
        buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
}

/// A cell parsed as exact money (micro-units). `N/A` and empty give `None`.
///
/// # Errors
/// `Rejected` naming the line and column when the text is not a plain decimal.
pub fn money_opt(
    file: &str,
    line: u64,
    column: &str,
    text: &str,
) -> Result<Option<i64>, PlatformError> {
    let t = text.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("n/a") {
        return Ok(None);
    }
    parse_micros(t).map(Some).map_err(|e| {
        PlatformError::Rejected(InputError::at(file, line, Some(column), e.to_string()))
    })
}

/// A cell parsed as exact money that must be present.
///
/// # Errors
/// `Rejected` naming the line and column when empty or not a plain decimal.
pub fn money(file: &str, line: u64, column: &str, text: &str) -> Result<i64, PlatformError> {
    money_opt(file, line, column, text)?.ok_or_else(|| {
        PlatformError::Rejected(InputError::at(
            file,
            line,
            Some(column),
            format!("expected an amount, found `{}`", text.trim()),
        ))
    })
}

/// A cell parsed as a signed whole number; empty and `N/A` give `None`.
///
/// # Errors
/// `Rejected` naming the line and column when the text is not a whole number.
pub fn units_opt(
    file: &str,
    line: u64,
    column: &str,
    text: &str,
) -> Result<Option<i64>, PlatformError> {
    let t = text.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("n/a") {
        return Ok(None);
    }
    parse_units(t).map(Some).map_err(|_| {
        PlatformError::Rejected(InputError::at(
            file,
            line,
            Some(column),
            format!("expected a whole number, found `{t}`"),
        ))
    })
}

/// Parse a date written `YYYY-MM-DD` or `M/D/YYYY`.
pub fn parse_date(text: &str) -> Option<chrono::NaiveDate> {
    let t = text.trim();
    // Reports write nearly every date as exactly `YYYY-MM-DD`: read those digits directly
    // (chrono's format-string interpreter was visible in import profiles, twice per row).
    // Anything else, an impossible day included, takes chrono's path, so the result is the same.
    if let Some(d) = canonical_iso_date(t) {
        return Some(d);
    }
    chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .or_else(|_| chrono::NaiveDate::parse_from_str(t, "%m/%d/%Y"))
        .ok()
}

/// `YYYY-MM-DD`, exactly ten ASCII bytes, naming a real day.
fn canonical_iso_date(t: &str) -> Option<chrono::NaiveDate> {
    let b = t.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let year = i32::try_from(num(0..4)?).ok()?;
    chrono::NaiveDate::from_ymd_opt(year, num(5..7)?, num(8..10)?)
}

/// Digits of an ISBN (hyphens, spaces and Excel's `.0` removed); empty when none.
pub fn normalise_isbn(text: &str) -> String {
    let t = text.trim();
    let t = t.strip_suffix(".0").unwrap_or(t);
    t.chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    proptest::proptest! {
        /// For any text, and for any text shaped like a date (digits and separators in
        /// `YYYY-MM-DD` places), the direct path and chrono's parser agree.
        #[test]
        fn parse_date_agrees_with_chrono_on_any_text(
            t in proptest::prop_oneof![
                ".{0,14}",
                "[ 0-9+-]{0,2}[0-9]{1,5}[-/][0-9]{1,2}[-/][0-9]{1,4}[ T]{0,1}",
            ]
        ) {
            let trimmed = t.trim();
            let chrono_only = chrono::NaiveDate::parse_from_str(trimmed, "%Y-%m-%d")
                .or_else(|_| chrono::NaiveDate::parse_from_str(trimmed, "%m/%d/%Y"))
                .ok();
            proptest::prop_assert_eq!(parse_date(&t), chrono_only);
        }
    }

    /// The direct path gives exactly what chrono's parser gives, for well-formed dates and for
    /// the near misses it must leave to chrono.
    #[test]
    fn parse_date_matches_chrono() {
        let chrono_only = |t: &str| {
            let t = t.trim();
            chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .or_else(|_| chrono::NaiveDate::parse_from_str(t, "%m/%d/%Y"))
                .ok()
        };
        for t in [
            "2025-07-31",
            " 2025-07-31 ",
            "2024-02-29",
            "2025-02-29",
            "2025-13-01",
            "2025-00-10",
            "2025-01-00",
            "0000-01-01",
            "9999-12-31",
            "2025-7-31",
            "2025-07-3",
            "25-07-31",
            "2025/07/31",
            "2025-07-31T00:00",
            "+2025-07-31",
            "2025-0a-31",
            "７０２５-07-31",
            "7/31/2025",
            "07/31/2025",
            "",
            "2025-07-31x",
            "-2025-07-3",
        ] {
            assert_eq!(parse_date(t), chrono_only(t), "{t:?}");
        }
        use chrono::Datelike;
        let mut day = chrono::NaiveDate::from_ymd_opt(1999, 1, 1).unwrap();
        while day.year() < 2031 {
            let t = day.to_string();
            assert_eq!(canonical_iso_date(&t), Some(day), "{t}");
            day = day.succ_opt().unwrap();
        }
    }

    use super::*;
    use std::io::Write;

    /// The object `raw` stood for before it was stored as cells: a `serde_json::Map` (sorted
    /// keys, last duplicate wins).
    fn raw_json_slow(headers: &[String], rec: &csv::StringRecord) -> String {
        let mut map = serde_json::Map::with_capacity(headers.len());
        for (h, v) in headers.iter().zip(rec.iter()) {
            map.insert(h.clone(), serde_json::Value::String(v.to_string()));
        }
        serde_json::Value::Object(map).to_string()
    }

    #[test]
    fn raw_json_is_byte_identical_to_serde_json_map() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(
            "Zeta,alpha,\"q\"\"uote\",dup,Émoji 📚,dup,back\\slash\n\
             1,\"line\nbreak\",\"tab\there\",first,\"ctrl\u{1}\u{1f}\u{7f}\",second,x\\y\n\
             ,,,,,,\n"
                .as_bytes(),
        )
        .unwrap();
        let mut report = TextReport::open(f.path(), "x.csv", Delimiter::Comma).unwrap();
        let mut rec = csv::StringRecord::new();
        let mut n = 0;
        while report.next_record(&mut rec).unwrap() {
            let cells = report.raw_cells(&rec);
            assert_eq!(
                crate::model::raw_object(&report.raw_layout.keys_json, &cells).unwrap(),
                raw_json_slow(&report.headers, &rec)
            );
            n += 1;
        }
        assert_eq!(n, 2);
    }
}

#[cfg(test)]
mod record_limit_tests {
    use std::io::Write;

    use super::{Delimiter, TextReport, MAX_RECORD_BYTES};
    use crate::platforms::PlatformError;

    /// A file whose row 3 opens a quoted cell that is never closed, followed by `tail` bytes of
    /// ordinary rows.
    fn stray_quote(tail: usize) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let mut text = String::from("a,b,c\n1,2,3\n4,\"5,6\n");
        while text.len() < tail {
            text.push_str("7,8,9\n");
        }
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    fn read_all(f: &tempfile::NamedTempFile) -> Result<u64, PlatformError> {
        let mut report = TextReport::open(f.path(), "x.csv", Delimiter::Comma)?;
        let mut rec = csv::StringRecord::new();
        let mut n = 0;
        while report.next_record(&mut rec)? {
            n += 1;
        }
        Ok(n)
    }

    /// An unclosed quote stops the read at about 1 MB with a rejection naming the line where
    /// the quote opened, instead of reading the rest of the file into one cell.
    #[test]
    fn an_unclosed_quote_is_rejected_at_its_line_within_the_record_limit() {
        let f = stray_quote(3 * MAX_RECORD_BYTES as usize);
        let err = read_all(&f).unwrap_err();
        let PlatformError::Rejected(e) = &err else {
            panic!("expected a rejection (never retried), got {err:?}");
        };
        let msg = e.to_string();
        assert!(msg.contains("line 3"), "{msg}");
        assert!(msg.contains("never closed"), "{msg}");
        // The same stray quote in a small file is a field-count error, as before.
        let small = stray_quote(100);
        assert!(read_all(&small).is_err());
    }

    /// Rows and multi-line quoted cells under the limit read as before, whatever the file size.
    #[test]
    fn long_files_and_long_cells_under_the_limit_read_whole() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let cell = "x".repeat(MAX_RECORD_BYTES as usize / 2);
        let mut text = format!("a,b,c\n1,\"{cell}\n{cell}\",3\n");
        for _ in 0..400_000 {
            text.push_str("7,8,9\n");
        }
        f.write_all(text.as_bytes()).unwrap();
        assert!(text.len() as u64 > 3 * MAX_RECORD_BYTES);
        assert_eq!(read_all(&f).unwrap(), 400_001);
    }

    /// A header that never ends (a quote in the header row) is rejected at line 1.
    #[test]
    fn an_unclosed_quote_in_the_header_is_rejected_at_line_1() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let mut text = String::from("a,\"b,c\n");
        while text.len() < 2 * MAX_RECORD_BYTES as usize {
            text.push_str("7,8,9\n");
        }
        f.write_all(text.as_bytes()).unwrap();
        let Err(PlatformError::Rejected(e)) = read_all(&f) else {
            panic!("expected a rejection");
        };
        let msg = e.to_string();
        assert!(
            msg.contains("line 1") && msg.contains("the header"),
            "{msg}"
        );
    }
}
