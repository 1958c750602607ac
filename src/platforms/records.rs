//! Report tables read from any byte stream: plain or gzip-compressed text delimited by tabs,
//! pipes or commas (with or without CSV quoting), or an HTML table saved under an `.xls` name.
//!
//! Owns: opening an input by its magic bytes, line numbers as an editor shows them (LF, CRLF
//! and CR-only endings, blank lines counted), bounded records (a row may read at most
//! `csvutil::MAX_RECORD_BYTES`), UTF-8 text with a Windows-1252 fallback, finding a header after
//! preamble lines, and a small tolerant streaming tokenizer for `<tr>`/`<td>`/`<th>`.
//! Must not: know any one platform's columns.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::rc::Rc;

use super::csvutil::{self, CountingReader, MAX_RECORD_BYTES};
use super::{InputError, PlatformError};

/// How much of the (decoded) text is read ahead to sniff its layout.
const HEAD_BYTES: usize = 64 * 1024;

/// What the first bytes of a file say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Magic {
    /// `1F 8B`: gzip.
    Gzip,
    /// `PK 03 04`: a zip container (XLSX).
    Zip,
    /// `D0 CF 11 E0`: an OLE2 container (BIFF `.xls`).
    Ole,
    /// Anything else: text (or HTML).
    Text,
}

/// An I/O error of the file itself (as opposed to the gzip data in it), so that it stays a
/// transient error (worth retrying) after passing through the decoder.
#[derive(Debug)]
struct FileRead(io::Error);

impl std::fmt::Display for FileRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for FileRead {}

/// The gzip decoder's complaint about the data: a broken or cut-short file, never retried.
#[derive(Debug)]
struct BrokenGzip(String);

impl std::fmt::Display for BrokenGzip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BrokenGzip {}

/// The file, counting the bytes read (for progress) and tagging its own I/O errors.
struct FileBytes {
    file: File,
    read: Rc<Cell<u64>>,
}

impl Read for FileBytes {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self
            .file
            .read(buf)
            .map_err(|e| io::Error::new(e.kind(), FileRead(e)))?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

/// A gzip decoder whose own errors (bad header, bad CRC, data cut short) become `BrokenGzip`.
struct Gunzip<R: BufRead>(flate2::bufread::MultiGzDecoder<R>);

impl<R: BufRead> Read for Gunzip<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            if e.get_ref().is_some_and(|i| i.is::<FileRead>()) {
                e
            } else {
                io::Error::new(io::ErrorKind::InvalidData, BrokenGzip(e.to_string()))
            }
        })
    }
}

/// `\r\n` and a lone `\r` become `\n`, and an empty line gets one space: the CSV reader counts
/// lines by `\n` and skips empty lines without counting them in the next record's position,
/// so this keeps line numbers right for CR-only files and after blank lines (a line of one
/// space is a blank record, which the adapters skip).
struct LineEnds<R> {
    inner: R,
    after_cr: bool,
    at_line_start: bool,
    chunk: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
}

impl<R: Read> LineEnds<R> {
    fn new(inner: R) -> Self {
        LineEnds {
            inner,
            after_cr: false,
            at_line_start: true,
            // The CSV reader asks for at most its 8 KiB buffer at a time.
            chunk: vec![0; 8 * 1024],
            out: Vec::with_capacity(9 * 1024),
            pos: 0,
        }
    }
}

impl<R: Read> Read for LineEnds<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.out.len() {
            let n = self.inner.read(&mut self.chunk)?;
            if n == 0 {
                return Ok(0);
            }
            self.out.clear();
            self.pos = 0;
            for &b in &self.chunk[..n] {
                if b == b'\n' && self.after_cr {
                    self.after_cr = false;
                    continue;
                }
                self.after_cr = b == b'\r';
                let c = if b == b'\r' { b'\n' } else { b };
                if c == b'\n' && self.at_line_start {
                    self.out.push(b' ');
                }
                self.at_line_start = c == b'\n';
                self.out.push(c);
            }
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// An opened report: its first decoded bytes (to sniff), then the whole decoded stream.
pub struct Input {
    /// What the file's first bytes said.
    pub magic: Magic,
    /// Up to 64 KiB of decoded text from the start (a UTF-8 BOM left in place).
    pub head: Vec<u8>,
    rest: Box<dyn Read>,
    /// Bytes of the file (compressed, for gzip) read so far.
    file_bytes: Rc<Cell<u64>>,
    display_name: String,
}

impl Input {
    /// Open `path`. With `gunzip`, a gzip file is decompressed on the fly; otherwise it is left
    /// as it is (the caller rejects it by `magic`).
    ///
    /// # Errors
    /// `Rejected` for an empty file or broken gzip data at the start, `Transient` for I/O errors.
    pub fn open(path: &Path, display_name: &str, gunzip: bool) -> Result<Input, PlatformError> {
        let file = File::open(path).map_err(|e| csvutil::io_error(display_name, &e))?;
        if file.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
            return Err(PlatformError::Rejected(InputError::file(
                display_name,
                "the file is empty (0 bytes): download the report again",
            )));
        }
        let file_bytes = Rc::new(Cell::new(0));
        let mut raw = BufReader::with_capacity(
            256 * 1024,
            FileBytes {
                file,
                read: file_bytes.clone(),
            },
        );
        let first = raw.fill_buf().map_err(|e| io_error(display_name, &e))?;
        let magic = match first {
            [0x1F, 0x8B, ..] => Magic::Gzip,
            [b'P', b'K', 3, 4, ..] => Magic::Zip,
            [0xD0, 0xCF, 0x11, 0xE0, ..] => Magic::Ole,
            _ => Magic::Text,
        };
        let mut rest: Box<dyn Read> = if magic == Magic::Gzip && gunzip {
            Box::new(Gunzip(flate2::bufread::MultiGzDecoder::new(raw)))
        } else {
            Box::new(raw)
        };
        let mut head = Vec::with_capacity(HEAD_BYTES.min(8192));
        let read = (&mut rest).take(HEAD_BYTES as u64).read_to_end(&mut head);
        if let Err(e) = read {
            let line = 1 + memchr::memchr_iter(b'\n', &head).count() as u64;
            return Err(stream_error(display_name, line, &e));
        }
        Ok(Input {
            magic,
            head,
            rest,
            file_bytes,
            display_name: display_name.to_string(),
        })
    }

    /// True when the decoded text starts (after a BOM and white space) with `<`: an HTML table.
    pub fn looks_like_html(&self) -> bool {
        let h = self
            .head
            .strip_prefix(b"\xEF\xBB\xBF")
            .unwrap_or(&self.head);
        h.iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|&b| b == b'<')
    }

    /// The lines of `head` (without line endings), as text, at most `n` of them, blank ones
    /// included. The last line may be cut off at 64 KiB.
    pub fn head_lines(&self, n: usize) -> Vec<String> {
        let h = self
            .head
            .strip_prefix(b"\xEF\xBB\xBF")
            .unwrap_or(&self.head);
        h.split(|&b| b == b'\n' || b == b'\r')
            .take(n)
            .map(|l| decode_text(l).into_owned())
            .collect()
    }

    /// The whole decoded stream, from the first byte.
    fn into_reader(self) -> (Box<dyn Read>, Rc<Cell<u64>>, String) {
        (
            Box::new(io::Cursor::new(self.head).chain(self.rest)),
            self.file_bytes,
            self.display_name,
        )
    }
}

/// An I/O error on the file as a transient error.
fn io_error(display_name: &str, e: &io::Error) -> PlatformError {
    csvutil::io_error(display_name, e)
}

/// An error from the decoded stream: broken gzip data (rejected, naming the line where the
/// readable text ends) or an I/O error (transient).
fn stream_error(display_name: &str, line: u64, e: &io::Error) -> PlatformError {
    match e.get_ref().and_then(|i| i.downcast_ref::<BrokenGzip>()) {
        Some(BrokenGzip(what)) => PlatformError::Rejected(InputError::at(
            display_name,
            line,
            None,
            format!(
                "the gzip-compressed report is broken or cut short here ({what}): download the report again"
            ),
        )),
        None => io_error(display_name, e),
    }
}

/// Text of a cell or line: UTF-8 when it is valid, else Windows-1252 (what Excel on Windows
/// writes; every byte decodes, so nothing is lost or rejected for its encoding).
pub fn decode_text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => std::borrow::Cow::Owned(bytes.iter().map(|&b| cp1252(b)).collect()),
    }
}

/// One Windows-1252 byte as a character (the five unassigned bytes map to C1 controls, as
/// WHATWG's decoder does).
fn cp1252(b: u8) -> char {
    const HIGH: [u16; 32] = [
        0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
        0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
        0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
    ];
    match b {
        0x80..=0x9F => char::from_u32(u32::from(HIGH[usize::from(b - 0x80)])).unwrap_or('\u{FFFD}'),
        _ => char::from(b),
    }
}

/// Delimited text records with exact line numbers.
pub struct Records {
    reader: csv::Reader<CountingReader<LineEnds<Box<dyn Read>>>>,
    count: Rc<Cell<u64>>,
    limit: Rc<Cell<u64>>,
    file_bytes: Rc<Cell<u64>>,
    byte: csv::ByteRecord,
    display_name: String,
    /// 1-based line on which the last record returned starts.
    pub line: u64,
}

impl Records {
    /// Read `input` as records split by `delimiter`; with `quoting`, CSV double quotes group
    /// a cell (commas and line breaks inside it); without, a quote is an ordinary character.
    pub fn new(input: Input, delimiter: u8, quoting: bool) -> Records {
        let (reader, file_bytes, display_name) = input.into_reader();
        let counting = CountingReader::new(LineEnds::new(reader));
        let count = counting.count.clone();
        let limit = counting.limit_handle();
        let reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .quoting(quoting)
            .has_headers(false)
            .flexible(true)
            .from_reader(counting);
        Records {
            reader,
            count,
            limit,
            file_bytes,
            byte: csv::ByteRecord::new(),
            display_name,
            line: 0,
        }
    }

    /// Read the next record into `rec` (cells as written, untrimmed). `false` at the end.
    /// Empty lines are skipped (lines of only delimiters are records of blank cells).
    ///
    /// # Errors
    /// `Rejected` naming the line for a record past `MAX_RECORD_BYTES` or broken gzip data,
    /// `Transient` for I/O errors.
    pub fn next(&mut self, rec: &mut csv::StringRecord) -> Result<bool, PlatformError> {
        loop {
            if !self.next_any(rec)? {
                return Ok(false);
            }
            // An empty line (one space, see `LineEnds`) or a line of white space.
            let blank = rec.len() == 1 && rec.get(0).is_some_and(|c| c.trim().is_empty());
            if !blank {
                return Ok(true);
            }
        }
    }

    fn next_any(&mut self, rec: &mut csv::StringRecord) -> Result<bool, PlatformError> {
        self.limit.set(self.count.get() + MAX_RECORD_BYTES);
        let more = match self.reader.read_byte_record(&mut self.byte) {
            Ok(more) => more,
            Err(e) => {
                let line = e
                    .position()
                    .map_or(self.line + 1, |p| p.line().max(self.line + 1));
                if let csv::ErrorKind::Io(io) = e.kind() {
                    if io.get_ref().is_some_and(|i| i.is::<BrokenGzip>()) {
                        return Err(stream_error(&self.display_name, line, io));
                    }
                }
                return Err(csvutil::csv_error(&self.display_name, line, &e));
            }
        };
        if !more {
            return Ok(false);
        }
        self.line = self
            .byte
            .position()
            .map_or(self.line + 1, csv::Position::line);
        rec.clear();
        match std::str::from_utf8(self.byte.as_slice()) {
            Ok(_) => {
                for f in &self.byte {
                    // Valid as a whole, so valid cell by cell.
                    rec.push_field(std::str::from_utf8(f).unwrap_or(""));
                }
            }
            Err(_) => {
                for f in &self.byte {
                    rec.push_field(&decode_text(f));
                }
            }
        }
        Ok(true)
    }

    /// Bytes of the file read so far (compressed bytes for gzip), for progress.
    pub fn bytes_read(&self) -> u64 {
        self.file_bytes.get()
    }
}

/// The rows of an HTML table, read incrementally: a small tolerant tokenizer that knows
/// `<table>`, `<tr>`, `<td>`/`<th>` (closing tags optional), `<br>`, comments, `<script>` and
/// `<style>`, and character references. Only rows of top-level tables are returned; once
/// `lock` is called, reading stops at the end of the current table.
pub struct HtmlRows {
    input: BufReader<Box<dyn Read>>,
    file_bytes: Rc<Cell<u64>>,
    display_name: String,
    /// Current line of the source (1-based).
    src_line: u64,
    /// Line on which the last row returned starts.
    pub line: u64,
    depth: u32,
    tables_seen: u32,
    locked: Option<u32>,
    done: bool,
    row: Option<(u64, Vec<String>, usize)>,
    cell: Option<Vec<u8>>,
    saw_table: bool,
}

/// The most cells a table row may have.
const MAX_HTML_CELLS: usize = 16_384;
/// The longest tag (`<td class=… style=…>`) read.
const MAX_TAG_BYTES: usize = 16 * 1024;

impl HtmlRows {
    /// Read `input` as HTML.
    pub fn new(input: Input) -> HtmlRows {
        let (reader, file_bytes, display_name) = input.into_reader();
        HtmlRows {
            input: BufReader::with_capacity(64 * 1024, reader),
            file_bytes,
            display_name,
            src_line: 1,
            line: 0,
            depth: 0,
            tables_seen: 0,
            locked: None,
            done: false,
            row: None,
            cell: None,
            saw_table: false,
        }
    }

    /// Return rows only from the table the last row came from, and stop at its end.
    pub fn lock(&mut self) {
        self.locked = Some(self.tables_seen);
    }

    /// Whether a `<table>` was seen at all.
    pub fn saw_table(&self) -> bool {
        self.saw_table
    }

    /// Bytes of the file read so far.
    pub fn bytes_read(&self) -> u64 {
        self.file_bytes.get()
    }

    fn reject(&self, line: u64, message: String) -> PlatformError {
        PlatformError::Rejected(InputError::at(&self.display_name, line, None, message))
    }

    fn byte(&mut self) -> Result<Option<u8>, PlatformError> {
        let buf = self
            .input
            .fill_buf()
            .map_err(|e| stream_error(&self.display_name, self.src_line, &e))?;
        let Some(&b) = buf.first() else {
            return Ok(None);
        };
        self.input.consume(1);
        if b == b'\n' {
            self.src_line += 1;
        }
        Ok(Some(b))
    }

    /// Take the text before the next `<` in the buffer into the open cell (of a top-level
    /// table; a nested table's text is left out). Returns whether anything was taken.
    fn skip_text(&mut self) -> Result<bool, PlatformError> {
        let buf = self
            .input
            .fill_buf()
            .map_err(|e| stream_error(&self.display_name, self.src_line, &e))?;
        let n = memchr::memchr(b'<', buf).unwrap_or(buf.len());
        if n == 0 {
            return Ok(false);
        }
        let text = &buf[..n];
        self.src_line += memchr::memchr_iter(b'\n', text).count() as u64;
        if let (Some(cell), 1) = (&mut self.cell, self.depth) {
            cell.extend_from_slice(text);
        }
        self.input.consume(n);
        self.check_row_size()?;
        Ok(true)
    }

    fn peek(&mut self) -> Result<Option<u8>, PlatformError> {
        let buf = self
            .input
            .fill_buf()
            .map_err(|e| stream_error(&self.display_name, self.src_line, &e))?;
        Ok(buf.first().copied())
    }

    /// The next row's cells into `rec`. `false` at the end of the (locked) table or the file.
    ///
    /// # Errors
    /// `Rejected` naming the line for a row past the size bounds, `Transient` for I/O errors.
    pub fn next(&mut self, rec: &mut csv::StringRecord) -> Result<bool, PlatformError> {
        while !self.done {
            // Text up to the next `<`, taken a buffer at a time.
            if self.skip_text()? {
                continue;
            }
            let Some(b) = self.byte()? else {
                self.done = true;
                break;
            };
            // `a < b` in a cell is text; a tag starts with a letter, `/` or `!`.
            let starts_tag = self
                .peek()?
                .is_some_and(|n| n.is_ascii_alphabetic() || n == b'/' || n == b'!' || n == b'?');
            if !starts_tag {
                if let (Some(cell), 1) = (&mut self.cell, self.depth) {
                    cell.push(b);
                }
                continue;
            }
            let tag = self.read_tag()?;
            if let Some(row) = self.on_tag(&tag)? {
                return Ok(self.emit(row, rec));
            }
        }
        // End of input: a row still open counts.
        self.finish_cell();
        if let Some(row) = self.row.take() {
            return Ok(self.emit(row, rec));
        }
        Ok(false)
    }

    fn emit(&mut self, row: (u64, Vec<String>, usize), rec: &mut csv::StringRecord) -> bool {
        self.line = row.0;
        rec.clear();
        for c in &row.1 {
            rec.push_field(c);
        }
        true
    }

    fn check_row_size(&self) -> Result<(), PlatformError> {
        let pending = self.cell.as_ref().map_or(0, Vec::len);
        let (line, used) = self.row.as_ref().map_or((self.src_line, 0), |r| (r.0, r.2));
        if (used + pending) as u64 > MAX_RECORD_BYTES {
            return Err(self.reject(
                line,
                format!(
                    "this table row holds more than {} MB of text, which no report row does: the HTML is probably missing a closing tag; download the report again",
                    MAX_RECORD_BYTES >> 20
                ),
            ));
        }
        Ok(())
    }

    /// Read a tag after its `<`: returns its lower-case name with a leading `/` for closing
    /// tags (`td`, `/tr`), or an empty name for comments, doctypes and text that only looked
    /// like a tag. Comments, `<script>` and `<style>` bodies are skipped here.
    fn read_tag(&mut self) -> Result<String, PlatformError> {
        // The usual tag (`td>`, `/tr>`, `td class=x>`): whole in the buffer, no quotes, no
        // comment. Its name is read there; anything else takes the byte-by-byte path below.
        {
            let buf = self
                .input
                .fill_buf()
                .map_err(|e| stream_error(&self.display_name, self.src_line, &e))?;
            if let Some(end) = memchr::memchr(b'>', &buf[..buf.len().min(MAX_TAG_BYTES)]) {
                let tag = &buf[..end];
                if !tag.starts_with(b"!") && !tag.iter().any(|&b| b == b'"' || b == b'\'') {
                    let name: String = tag
                        .iter()
                        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'/')
                        .map(|b| char::from(b.to_ascii_lowercase()))
                        .collect();
                    if name != "script" && name != "style" {
                        self.src_line += memchr::memchr_iter(b'\n', tag).count() as u64;
                        self.input.consume(end + 1);
                        return Ok(name);
                    }
                }
            }
        }
        let start = self.src_line;
        let mut raw = Vec::new();
        let mut quote: Option<u8> = None;
        loop {
            let Some(b) = self.byte()? else { break };
            match quote {
                Some(q) if b == q => quote = None,
                Some(_) => {}
                None if b == b'>' => break,
                None if (b == b'"' || b == b'\'') && raw.contains(&b'=') => quote = Some(b),
                None => {}
            }
            raw.push(b);
            if raw.starts_with(b"!--") {
                self.skip_until(b"-->")?;
                return Ok(String::new());
            }
            if raw.len() > MAX_TAG_BYTES {
                return Err(self.reject(
                    start,
                    format!(
                        "an HTML tag runs on for more than {} KB: the file is not a well-formed HTML table; download the report again",
                        MAX_TAG_BYTES >> 10
                    ),
                ));
            }
        }
        let name: String = raw
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'/')
            .map(|b| char::from(b.to_ascii_lowercase()))
            .collect();
        if name == "script" || name == "style" {
            let end = format!("</{name}");
            self.skip_until(end.as_bytes())?;
            self.skip_until(b">")?;
            return Ok(String::new());
        }
        Ok(name)
    }

    /// Skip input until just after `end` (case-insensitive), or to the end of the input.
    fn skip_until(&mut self, end: &[u8]) -> Result<(), PlatformError> {
        let mut window: Vec<u8> = Vec::with_capacity(end.len());
        loop {
            let Some(b) = self.byte()? else { return Ok(()) };
            if window.len() == end.len() {
                window.remove(0);
            }
            window.push(b.to_ascii_lowercase());
            if window.eq_ignore_ascii_case(end) {
                return Ok(());
            }
        }
    }

    fn finish_cell(&mut self) {
        if let Some(bytes) = self.cell.take() {
            let text = clean_html_text(&decode_text(&bytes));
            if let Some(row) = &mut self.row {
                row.2 += text.len();
                row.1.push(text);
            }
        }
    }

    /// Act on one tag; returns a finished row, if the tag ended one.
    fn on_tag(&mut self, tag: &str) -> Result<Option<(u64, Vec<String>, usize)>, PlatformError> {
        let wanted = |s: &Self| s.depth == 1 && s.locked.is_none_or(|t| t == s.tables_seen);
        match tag {
            "table" => {
                self.depth += 1;
                if self.depth == 1 {
                    self.tables_seen += 1;
                    self.saw_table = true;
                }
            }
            "/table" => {
                if self.depth == 1 {
                    self.finish_cell();
                    let row = self.row.take();
                    if self.locked == Some(self.tables_seen) {
                        self.done = true;
                    }
                    self.depth = 0;
                    return Ok(row.filter(|r| !r.1.is_empty()));
                }
                self.depth = self.depth.saturating_sub(1);
            }
            "tr" if wanted(self) => {
                self.finish_cell();
                let row = self.row.replace((self.src_line, Vec::new(), 0));
                return Ok(row.filter(|r| !r.1.is_empty()));
            }
            "/tr" if wanted(self) => {
                self.finish_cell();
                return Ok(self.row.take());
            }
            "td" | "th" if wanted(self) => {
                self.finish_cell();
                let line = self.src_line;
                let row = self.row.get_or_insert_with(|| (line, Vec::new(), 0));
                if row.1.len() >= MAX_HTML_CELLS {
                    let line = row.0;
                    return Err(self.reject(
                        line,
                        format!("this table row has more than {MAX_HTML_CELLS} cells, which no report row does: download the report again"),
                    ));
                }
                self.cell = Some(Vec::new());
            }
            "/td" | "/th" if wanted(self) => self.finish_cell(),
            "br" | "br/" | "p" | "/p" | "div" | "/div" => {
                if let Some(cell) = &mut self.cell {
                    cell.push(b' ');
                }
            }
            _ => {}
        }
        Ok(None)
    }
}

/// A cell's text: character references decoded, runs of white space made one space, trimmed.
fn clean_html_text(text: &str) -> String {
    let decoded = decode_entities(text);
    let mut out = String::with_capacity(decoded.len());
    for word in decoded.split(|c: char| c.is_whitespace()) {
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Decode `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;`, `&nbsp;` and numeric references; any
/// other `&` is kept as written.
fn decode_entities(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('&') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest[1..].find(';').map(|e| e + 1).filter(|&e| e <= 10);
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ => name.strip_prefix('#').and_then(|n| {
                    let code = match n.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok(),
                        None => n.parse().ok(),
                    };
                    code.and_then(char::from_u32)
                }),
            };
            c.map(|c| (c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(if c == '\u{a0}' { ' ' } else { c });
                rest = &rest[e + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// Rows of a report table, from delimited text or from HTML.
pub enum Table {
    Text(Records),
    Html(HtmlRows),
}

impl Table {
    /// The next row into `rec`; `false` at the end.
    ///
    /// # Errors
    /// As `Records::next` / `HtmlRows::next`.
    pub fn next(&mut self, rec: &mut csv::StringRecord) -> Result<bool, PlatformError> {
        match self {
            Table::Text(r) => r.next(rec),
            Table::Html(h) => h.next(rec),
        }
    }

    /// Line on which the last row returned starts.
    pub fn line(&self) -> u64 {
        match self {
            Table::Text(r) => r.line,
            Table::Html(h) => h.line,
        }
    }

    /// Bytes of the file read so far.
    pub fn bytes_read(&self) -> u64 {
        match self {
            Table::Text(r) => r.bytes_read(),
            Table::Html(h) => h.bytes_read(),
        }
    }

    /// The header was found in the last row: for HTML, keep to its table.
    pub fn lock(&mut self) {
        if let Table::Html(h) = self {
            h.lock();
        }
    }
}

/// True when every cell of a record is blank (a line of only tabs or commas).
pub fn is_blank(rec: &csv::StringRecord) -> bool {
    rec.iter().all(|c| c.trim().is_empty())
}

/// What `find_header` found: the header's cells (cleaned) and line, when one came, and the
/// non-blank rows before it (cells cleaned and joined by `, `, each cut at 300 bytes).
#[derive(Debug, Clone, Default)]
pub struct HeaderSearch {
    pub header: Option<(Vec<String>, u64)>,
    pub preamble: Vec<String>,
}

impl HeaderSearch {
    /// The first non-blank row, for messages (the header itself when there was no preamble).
    pub fn first_row(&self) -> String {
        match (self.preamble.first(), &self.header) {
            (Some(p), _) => p.clone(),
            (None, Some((h, _))) => h.join(", "),
            (None, None) => String::new(),
        }
    }
}

/// Read rows until one is a header by `is_header`, looking at most at `max` non-blank rows.
///
/// # Errors
/// As `Table::next`.
pub fn find_header(
    table: &mut Table,
    rec: &mut csv::StringRecord,
    max: usize,
    clean: impl Fn(&str) -> String,
    mut is_header: impl FnMut(&[String]) -> bool,
) -> Result<HeaderSearch, PlatformError> {
    let mut found = HeaderSearch::default();
    while found.preamble.len() < max && table.next(rec)? {
        if is_blank(rec) {
            continue;
        }
        let cells: Vec<String> = rec.iter().map(&clean).collect();
        if is_header(&cells) {
            table.lock();
            found.header = Some((cells, table.line()));
            return Ok(found);
        }
        let mut shown = cells.join(", ");
        if shown.len() > 300 {
            let cut = (0..=300)
                .rev()
                .find(|&i| shown.is_char_boundary(i))
                .unwrap_or(0);
            shown.truncate(cut);
            shown.push('…');
        }
        found.preamble.push(shown);
    }
    Ok(found)
}

/// The dates written in a line of text (`Date Range: 07/01/2025 - 07/31/2025`,
/// `2025-07-01 to 2025-07-31`), in order, at most `max`.
pub fn dates_in(text: &str, max: usize) -> Vec<chrono::NaiveDate> {
    text.split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .map(|tok| tok.trim_matches(|c: char| !c.is_ascii_alphanumeric()))
        .filter_map(csvutil::parse_date)
        .take(max)
        .collect()
}

/// A header cell: BOM and surrounding white space removed.
pub fn clean_cell(text: &str) -> String {
    text.trim_start_matches('\u{feff}').trim().to_string()
}

/// The index of a header name, compared trimmed and case-insensitively.
pub fn position(headers: &[String], name: &str) -> Option<usize> {
    headers.iter().position(|h| h.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn input(bytes: &[u8], gunzip: bool) -> (tempfile::NamedTempFile, Input) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        let i = Input::open(f.path(), "t.txt", gunzip).unwrap();
        (f, i)
    }

    fn text_rows(bytes: &[u8], delim: u8) -> Vec<(u64, Vec<String>)> {
        let (_f, i) = input(bytes, true);
        let mut r = Records::new(i, delim, true);
        let mut rec = csv::StringRecord::new();
        let mut out = Vec::new();
        while r.next(&mut rec).unwrap() {
            out.push((r.line, rec.iter().map(str::to_string).collect()));
        }
        out
    }

    fn html_rows(text: &str) -> Vec<(u64, Vec<String>)> {
        let (_f, i) = input(text.as_bytes(), false);
        let mut h = HtmlRows::new(i);
        let mut rec = csv::StringRecord::new();
        let mut out = Vec::new();
        while h.next(&mut rec).unwrap() {
            out.push((h.line, rec.iter().map(str::to_string).collect()));
        }
        out
    }

    #[test]
    fn line_numbers_count_blank_lines_and_every_line_ending() {
        for text in [
            "a,b\n\nc,d\r\n1,2\r3,4\n",
            "a,b\r\rc,d\r1,2\r3,4\r",
            "a,b\r\n\r\nc,d\r\n1,2\r\n3,4",
        ] {
            let rows = text_rows(text.as_bytes(), b',');
            let lines: Vec<u64> = rows.iter().map(|r| r.0).collect();
            assert_eq!(lines, [1, 3, 4, 5], "{text:?}");
            assert_eq!(rows[2].1, ["1", "2"]);
        }
        // A quoted cell spanning lines: the next record starts on the right line.
        let rows = text_rows(b"a,b\n\"x\ny\",1\n2,3\n", b',');
        assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2, 4]);
    }

    #[test]
    fn gzip_is_read_through_and_a_cut_short_one_is_rejected_with_its_line() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let mut text = String::new();
        // Longer than the 64 KiB read ahead at open, so the cut is met while reading rows.
        for i in 0..20_000 {
            text.push_str(&format!("{i}\tvalue {i}\n"));
        }
        enc.write_all(text.as_bytes()).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(text_rows(&gz, b'\t').len(), 20_000);
        let (_f, i) = input(&gz[..gz.len() - 20], true);
        let mut r = Records::new(i, b'\t', false);
        let mut rec = csv::StringRecord::new();
        let err = loop {
            match r.next(&mut rec) {
                Ok(true) => {}
                Ok(false) => panic!("a cut-short gzip file was read to the end"),
                Err(e) => break e,
            }
        };
        let PlatformError::Rejected(e) = err else {
            panic!("expected a rejection, got {err:?}");
        };
        assert!(e.message.contains("broken or cut short"), "{e}");
        assert!(e.line.unwrap() > 19_000, "{e}");
        // Cut in the first 64 KiB: rejected when opened.
        let mut short = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        short.write_all(b"a\tb\nc\td\n").unwrap();
        let short = short.finish().unwrap();
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&short[..short.len() - 4]).unwrap();
        let Err(PlatformError::Rejected(e)) = Input::open(f.path(), "x.gz", true) else {
            panic!("expected a rejection");
        };
        assert!(e.to_string().contains("`x.gz`, line 3"), "{e}");
    }

    #[test]
    fn windows_1252_cells_are_decoded_when_not_utf8() {
        let rows = text_rows(b"t,p\n\x93Caf\xe9\x94,\x80 1\n", b',');
        assert_eq!(rows[1].1, ["\u{201c}Café\u{201d}", "€ 1"]);
        assert_eq!(decode_text("déjà".as_bytes()), "déjà");
    }

    #[test]
    fn html_rows_with_sloppy_markup() {
        let html = "<!DOCTYPE html><html><head><style>td { x: '<tr>' }</style>\
            <script>if (a < b) { document.write('<td>no</td>') }</script></head><body>\n\
            <!-- <table><tr><td>commented</td></tr></table> -->\n\
            <table class=\"r\" data-x='a>b'>\n\
            <tr><th>isbn</th><TH>title</th><th>n</th></tr>\n\
            <tr><td>1</td><td>Salt &amp; Ember&#33; &lt;3&nbsp;x < 4</td><td>\n 2 </td></tr>\n\
            <tr><td>3<td>a<br>b<td>4\n\
            <tr><td>5</td><td><table><tr><td>inner</td></tr></table>kept</td><td>6</td></tr>\n\
            </table><table><tr><td>second table</td></tr></table>";
        let rows = html_rows(html);
        assert_eq!(
            rows,
            vec![
                (4, vec!["isbn".into(), "title".into(), "n".into()]),
                (
                    5,
                    vec!["1".into(), "Salt & Ember! <3 x < 4".into(), "2".into()]
                ),
                // The cell before held a line break: this row starts on line 7.
                (7, vec!["3".into(), "a b".into(), "4".into()]),
                (8, vec!["5".into(), "kept".into(), "6".into()]),
                (9, vec!["second table".into()]),
            ]
        );
        // Locked to the first table, the second one is not read.
        let (_f, i) = input(html.as_bytes(), false);
        let mut h = HtmlRows::new(i);
        let mut rec = csv::StringRecord::new();
        assert!(h.next(&mut rec).unwrap());
        h.lock();
        let mut n = 1;
        while h.next(&mut rec).unwrap() {
            n += 1;
        }
        assert_eq!(n, 4);
    }

    #[test]
    fn html_rows_are_bounded() {
        let mut big = String::from("<table><tr><td>");
        big.push_str(&"x".repeat(MAX_RECORD_BYTES as usize + 10));
        let (_f, i) = input(big.as_bytes(), false);
        let mut h = HtmlRows::new(i);
        let mut rec = csv::StringRecord::new();
        let Err(PlatformError::Rejected(e)) = h.next(&mut rec) else {
            panic!("expected a rejection");
        };
        assert!(e.message.contains("more than 1 MB"), "{e}");
        let mut wide = String::from("<table><tr>");
        wide.push_str(&"<td>".repeat(MAX_HTML_CELLS + 1));
        let (_f, i) = input(wide.as_bytes(), false);
        let mut h = HtmlRows::new(i);
        assert!(h.next(&mut rec).is_err());
    }

    #[test]
    fn entities() {
        assert_eq!(
            decode_entities("a &amp; b &#x41;&#66; &bogus; & c"),
            "a & b AB &bogus; & c"
        );
        assert_eq!(clean_html_text("  a \n\t b  "), "a b");
    }
}
