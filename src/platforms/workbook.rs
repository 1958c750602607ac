//! XLSX workbooks shared by the report adapters (KDP, Kobo, StreetLib): the bounds on what a
//! workbook may inflate to, checked before calamine reads it, and a streaming row reader.
//!
//! An XLSX file is a zip of XML parts. calamine holds some parts in memory whole (the shared
//! strings, the styles, the workbook and its relationships) and, while streaming a sheet, each
//! text and tag whole. A zip can inflate a thousandfold: a 1.5 MB workbook whose shared strings
//! inflate to 1.5 GB made `enqueue` take 1.5 GB of memory. The sizes a zip declares can lie, so
//! every XML part is inflated once here and measured as it streams through a small buffer; a
//! part past the bounds rejects the file before calamine allocates anything for it. Real report
//! exports are far inside them (a 100,000-row sheet is 86 MB of XML with no text over a few
//! hundred bytes; its other parts are a few KB).
//!
//! Owns: the inflate guard, opening a workbook, streaming one sheet's rows as cell texts.
//! Must not: know any one platform's sheets or columns.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use calamine::{DataRef, Reader, Xlsx};

use crate::platforms::{csvutil, InputError, PlatformError};

/// The most a part that calamine reads whole (anything but a worksheet) may inflate to.
pub const MAX_WHOLE_PART: u64 = 32 << 20;

/// The longest text or tag (bytes between two `<`/`>`) any XML part may hold.
pub const MAX_XML_RUN: u64 = 1 << 20;

fn too_big(display_name: &str, report: &str, part: &str, what: String) -> PlatformError {
    PlatformError::Rejected(InputError::file(
        display_name,
        format!(
            "the workbook's part `{part}` {what}, far beyond any {report} report: the file is damaged or was not exported by {report}; download the report again"
        ),
    ))
}

/// Inflate every XML part of the workbook at `path` and check it against `MAX_WHOLE_PART` and
/// `MAX_XML_RUN`. A file that is not a readable zip passes: calamine then rejects it with its
/// own error, as before. `report` names the platform in the message (`KDP`, `Kobo Writing Life`).
///
/// # Errors
/// `Rejected` naming the part that inflates too far.
pub fn check_inflate(path: &Path, display_name: &str, report: &str) -> Result<(), PlatformError> {
    // Detection opens a workbook once per XLSX adapter it tries (KDP's, then Kobo's, …): the
    // same unchanged file passes once per process, not once per adapter.
    let stamp = std::fs::metadata(path)
        .ok()
        .and_then(|m| Some((path.to_path_buf(), m.len(), m.modified().ok()?)));
    let passed = || {
        PASSED
            .lock()
            .map(|p| p.is_some() && *p == stamp)
            .unwrap_or(false)
    };
    if stamp.is_some() && passed() {
        return Ok(());
    }
    inflate_within_bounds(path, display_name, report)?;
    if let Ok(mut p) = PASSED.lock() {
        *p = stamp;
    }
    Ok(())
}

/// The last workbook that passed `check_inflate`: its path, length and modification time.
static PASSED: std::sync::Mutex<Option<(std::path::PathBuf, u64, std::time::SystemTime)>> =
    std::sync::Mutex::new(None);

/// The read buffer of `inflate_within_bounds`: shorter than `MAX_XML_RUN`, so that a run of
/// text past the bound always crosses buffers.
const BUF: usize = 64 * 1024;
const _: () = assert!((BUF as u64) < MAX_XML_RUN);

fn inflate_within_bounds(
    path: &Path,
    display_name: &str,
    report: &str,
) -> Result<(), PlatformError> {
    let Ok(file) = File::open(path) else {
        return Ok(());
    };
    let Ok(mut zip) = zip::ZipArchive::new(BufReader::new(file)) else {
        return Ok(());
    };
    let mut buf = vec![0u8; BUF];
    for i in 0..zip.len() {
        let Ok(mut part) = zip.by_index(i) else {
            return Ok(());
        };
        let name = part.name().to_string();
        let lower = name.to_ascii_lowercase();
        if !(lower.ends_with(".xml") || lower.ends_with(".rels")) {
            continue;
        }
        // calamine streams worksheets; only their texts and tags are held whole.
        let whole = !lower.contains("worksheets/");
        let mut total: u64 = 0;
        // Bytes since the last `<` or `>`.
        let mut run: u64 = 0;
        loop {
            let n = match part.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                // A damaged part: calamine reports it.
                Err(_) => return Ok(()),
            };
            total += n as u64;
            if whole && total > MAX_WHOLE_PART {
                return Err(too_big(
                    display_name,
                    report,
                    &name,
                    format!("inflates to more than {} MB", MAX_WHOLE_PART >> 20),
                ));
            }
            // A run inside one buffer is shorter than the buffer (64 KB, far below the bound):
            // only a run that crosses buffers can pass it, so each buffer needs just its first
            // delimiter (closing the run carried in) and its last (opening the run carried out),
            // not every tag's (profiled: searching each delimiter took more than half of this
            // check on a 20,000-row Kobo workbook).
            let chunk = &buf[..n];
            match memchr::memchr2(b'<', b'>', chunk) {
                None => run += n as u64,
                Some(first) => {
                    run += first as u64;
                    if run <= MAX_XML_RUN {
                        let last = memchr::memrchr2(b'<', b'>', chunk).unwrap_or(first);
                        run = (n - last - 1) as u64;
                    }
                }
            }
            if run > MAX_XML_RUN {
                return Err(too_big(
                    display_name,
                    report,
                    &name,
                    format!(
                        "holds a single text or tag of more than {} MB",
                        MAX_XML_RUN >> 20
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// True when the file starts with the zip magic `PK\x03\x04` (an XLSX workbook).
///
/// # Errors
/// `Transient` when the file cannot be read.
pub fn is_xlsx(path: &Path, display_name: &str) -> Result<bool, PlatformError> {
    let mut head = [0u8; 4];
    let mut f = File::open(path).map_err(|e| csvutil::io_error(display_name, &e))?;
    let mut filled = 0;
    while filled < head.len() {
        let n = f
            .read(&mut head[filled..])
            .map_err(|e| csvutil::io_error(display_name, &e))?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled == 4 && head == *b"PK\x03\x04")
}

/// The rejection for a workbook calamine cannot read.
pub fn broken(file: &str, sheet: Option<&str>, detail: &str) -> PlatformError {
    PlatformError::Rejected(InputError {
        file: file.to_string(),
        sheet: sheet.map(str::to_string),
        message: format!(
            "not a valid XLSX workbook (the file may be truncated): download it again ({detail})"
        ),
        ..InputError::default()
    })
}

/// An open XLSX workbook whose sheets are read one row at a time.
pub struct Workbook {
    wb: Xlsx<BufReader<File>>,
    file: String,
}

impl Workbook {
    /// Check the workbook against the inflate bounds (`check_inflate`), then open it.
    ///
    /// # Errors
    /// `Rejected` for a zip bomb or a file calamine cannot open, `Transient` for I/O errors.
    pub fn open(path: &Path, display_name: &str, report: &str) -> Result<Workbook, PlatformError> {
        check_inflate(path, display_name, report)?;
        let opened: Result<Xlsx<BufReader<File>>, _> =
            in_reader(display_name, None, || calamine::open_workbook(path))?;
        let wb = opened.map_err(|e| match e {
            calamine::XlsxError::Io(io) => csvutil::io_error(display_name, &io),
            other => broken(display_name, None, &other.to_string()),
        })?;
        Ok(Workbook {
            wb,
            file: display_name.to_string(),
        })
    }

    /// The sheet names, in workbook order.
    pub fn sheet_names(&self) -> Vec<String> {
        self.wb.sheet_names()
    }

    /// Stream the rows of one sheet: `f(row_number_1_based, cells)` for every row that has a
    /// cell, cells as text (`cell_text`); `f` returns `false` to stop. A row is assembled as its
    /// cells come; the sheet is never held whole.
    ///
    /// # Errors
    /// `Rejected` for a damaged sheet (naming it), or what `f` returns.
    pub fn rows(
        &mut self,
        sheet: &str,
        mut f: impl FnMut(u64, &Vec<String>) -> Result<bool, PlatformError>,
    ) -> Result<(), PlatformError> {
        let file = self.file.as_str();
        let wb = &mut self.wb;
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
            if c >= MAX_COLUMNS {
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
}

/// Excel's column count (`XFD`): cells beyond it are ignored.
const MAX_COLUMNS: usize = 16_384;

/// A calamine cell as text. Numbers become exact decimal strings (never f64 arithmetic
/// downstream): floats are written with 10 decimals and trimmed, so `46.51` stays `46.51` and
/// Excel's `8.199999999999999` reads `8.2`. Date cells become `YYYY-MM-DD`, with
/// ` HH:MM:SS` when they hold a time of day.
pub fn cell_text(v: &DataRef<'_>) -> String {
    match v {
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) => float_text(*f),
        DataRef::String(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_string(),
        DataRef::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        DataRef::DateTime(d) => {
            let (y, m, day, h, min, sec, _) = d.to_ymd_hms_milli();
            if (h, min, sec) == (0, 0, 0) {
                format!("{y:04}-{m:02}-{day:02}")
            } else {
                format!("{y:04}-{m:02}-{day:02} {h:02}:{min:02}:{sec:02}")
            }
        }
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(e) => format!("#{e}"),
        DataRef::Empty => String::new(),
    }
}

/// An f64 cell as a plain decimal string with at most 10 decimals, trailing zeros removed.
pub fn float_text(f: f64) -> String {
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

/// Run one calamine call so that a panic inside it is a rejected file, not a crash (fuzzing
/// found calamine 0.32 panicking on malformed workbooks, FUZZING.md). The panic hook is wrapped
/// once, so a panic inside calamine prints nothing while every other panic reaches the previous
/// hook as before: our own parsing code stays visible to the fuzzers.
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::{check_inflate, MAX_WHOLE_PART, MAX_XML_RUN};
    use crate::platforms::PlatformError;

    /// A zip of the given parts, each written in 1 MB pieces from `(name, piece, count)`.
    fn workbook(parts: &[(&str, &[u8], usize)]) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        let mut zip = zip::ZipWriter::new(f.reopen().unwrap());
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(true);
        for (name, piece, count) in parts {
            zip.start_file(*name, opts).unwrap();
            for _ in 0..*count {
                zip.write_all(piece).unwrap();
            }
        }
        zip.finish().unwrap();
        f
    }

    fn message(r: Result<(), PlatformError>) -> String {
        match r {
            Err(PlatformError::Rejected(e)) => e.to_string(),
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn shared_strings_that_inflate_past_the_bound_are_rejected() {
        let si = format!("<si><t>{}</t></si>", "A".repeat(1000));
        let count = (MAX_WHOLE_PART as usize / si.len()) + 10;
        let f = workbook(&[
            ("xl/workbook.xml", b"<workbook/>", 1),
            ("xl/sharedStrings.xml", si.as_bytes(), count),
        ]);
        assert!(
            std::fs::metadata(f.path()).unwrap().len() < 1 << 20,
            "a small zip"
        );
        let msg = message(check_inflate(f.path(), "bomb.xlsx", "KDP"));
        assert!(
            msg.contains("xl/sharedStrings.xml") && msg.contains("32 MB"),
            "{msg}"
        );
    }

    #[test]
    fn a_text_longer_than_the_bound_is_rejected_even_in_a_sheet() {
        let run = vec![b'A'; 64 * 1024];
        let pieces = (MAX_XML_RUN as usize / run.len()) + 2;
        let f = workbook(&[("xl/worksheets/sheet1.xml", &run, pieces)]);
        let msg = message(check_inflate(f.path(), "bomb.xlsx", "KDP"));
        assert!(
            msg.contains("sheet1.xml") && msg.contains("single text or tag"),
            "{msg}"
        );
    }

    /// A sheet larger than the whole-part bound is fine when it is made of ordinary cells, and
    /// texts just under the run bound pass, across buffer boundaries.
    #[test]
    fn big_sheets_of_ordinary_cells_pass() {
        let row = b"<row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>The Lighthouse Keeper's Daughter</t></is></c><c r=\"B1\"><v>4.99</v></c></row>";
        let count = (MAX_WHOLE_PART as usize / row.len()) + 1000;
        let long = format!("<t>{}</t>", "B".repeat(MAX_XML_RUN as usize - 1));
        let f = workbook(&[
            ("xl/worksheets/sheet1.xml", row, count),
            ("xl/worksheets/sheet2.xml", long.as_bytes(), 3),
            ("xl/sharedStrings.xml", long.as_bytes(), 2),
        ]);
        check_inflate(f.path(), "big.xlsx", "KDP").unwrap();
    }

    /// The run bound holds wherever the buffer boundaries fall: a text one byte past it between
    /// tags is rejected, one exactly at it passes, at every offset a tag can shift it by.
    #[test]
    fn the_run_bound_is_exact_across_buffer_boundaries() {
        for pad in [0usize, 1, 7, 4093, 65_535] {
            let head = format!("<x>{}</x><t>", "p".repeat(pad));
            let over = format!("{head}{}</t><y/>", "C".repeat(MAX_XML_RUN as usize + 1));
            let f = workbook(&[("xl/worksheets/sheet1.xml", over.as_bytes(), 1)]);
            let msg = message(check_inflate(f.path(), "over.xlsx", "Kobo Writing Life"));
            assert!(msg.contains("single text or tag"), "pad {pad}: {msg}");
            let at = format!("{head}{}</t><y/>", "C".repeat(MAX_XML_RUN as usize));
            let f = workbook(&[("xl/worksheets/sheet1.xml", at.as_bytes(), 1)]);
            check_inflate(f.path(), "at.xlsx", "Kobo Writing Life").unwrap();
        }
    }

    /// A workbook that passed is not inflated again while unchanged; a changed one is.
    #[test]
    fn a_passed_workbook_is_checked_again_once_changed() {
        let ok = workbook(&[("xl/workbook.xml", b"<workbook/>", 1)]);
        check_inflate(ok.path(), "ok.xlsx", "KDP").unwrap();
        check_inflate(ok.path(), "ok.xlsx", "KDP").unwrap();
        let si = format!("<si><t>{}</t></si>", "A".repeat(1000));
        let count = (MAX_WHOLE_PART as usize / si.len()) + 10;
        let bomb = workbook(&[("xl/sharedStrings.xml", si.as_bytes(), count)]);
        std::fs::copy(bomb.path(), ok.path()).unwrap();
        let msg = message(check_inflate(ok.path(), "ok.xlsx", "KDP"));
        assert!(msg.contains("xl/sharedStrings.xml"), "{msg}");
    }

    /// Not a zip at all: left to calamine's own error.
    #[test]
    fn a_file_that_is_not_a_zip_is_left_to_calamine() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"PK\x03\x04 but then nothing").unwrap();
        check_inflate(f.path(), "x.xlsx", "KDP").unwrap();
    }
}
