//! Bounds on what a KDP workbook may inflate to, checked before calamine reads it.
//!
//! An XLSX file is a zip of XML parts. calamine holds some parts in memory whole (the shared
//! strings, the styles, the workbook and its relationships) and, while streaming a sheet, each
//! text and tag whole. A zip can inflate a thousandfold: a 1.5 MB workbook whose shared strings
//! inflate to 1.5 GB made `enqueue` take 1.5 GB of memory. The sizes a zip declares can lie, so
//! every XML part is inflated once here and measured as it streams through a small buffer; a
//! part past the bounds rejects the file before calamine allocates anything for it. Real KDP
//! exports are far inside them (a 100,000-row sheet is 86 MB of XML with no text over a few
//! hundred bytes; its other parts are a few KB).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::platforms::{InputError, PlatformError};

/// The most a part that calamine reads whole (anything but a worksheet) may inflate to.
pub(super) const MAX_WHOLE_PART: u64 = 32 << 20;

/// The longest text or tag (bytes between two `<`/`>`) any XML part may hold.
pub(super) const MAX_XML_RUN: u64 = 1 << 20;

fn too_big(display_name: &str, part: &str, what: String) -> PlatformError {
    PlatformError::Rejected(InputError::file(
        display_name,
        format!(
            "the workbook's part `{part}` {what}, far beyond any KDP report: the file is damaged or was not exported by KDP; download the report again"
        ),
    ))
}

/// Inflate every XML part of the workbook at `path` and check it against `MAX_WHOLE_PART` and
/// `MAX_XML_RUN`. A file that is not a readable zip passes: calamine then rejects it with its
/// own error, as before.
///
/// # Errors
/// `Rejected` naming the part that inflates too far.
pub(super) fn check(path: &Path, display_name: &str) -> Result<(), PlatformError> {
    let Ok(file) = File::open(path) else {
        return Ok(());
    };
    let Ok(mut zip) = zip::ZipArchive::new(BufReader::new(file)) else {
        return Ok(());
    };
    let mut buf = vec![0u8; 64 * 1024];
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
                    &name,
                    format!("inflates to more than {} MB", MAX_WHOLE_PART >> 20),
                ));
            }
            let mut start = 0;
            for at in memchr::memchr2_iter(b'<', b'>', &buf[..n]) {
                run += (at - start) as u64;
                if run > MAX_XML_RUN {
                    break;
                }
                run = 0;
                start = at + 1;
            }
            if run <= MAX_XML_RUN {
                run += (n - start) as u64;
            }
            if run > MAX_XML_RUN {
                return Err(too_big(
                    display_name,
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::{check, MAX_WHOLE_PART, MAX_XML_RUN};
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
        let msg = message(check(f.path(), "bomb.xlsx"));
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
        let msg = message(check(f.path(), "bomb.xlsx"));
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
        check(f.path(), "big.xlsx").unwrap();
    }

    /// Not a zip at all: left to calamine's own error.
    #[test]
    fn a_file_that_is_not_a_zip_is_left_to_calamine() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"PK\x03\x04 but then nothing").unwrap();
        check(f.path(), "x.xlsx").unwrap();
    }
}
