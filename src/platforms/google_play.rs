//! Google Play Books: the monthly Earnings report of one payment profile (Partner Center →
//! Reports → Earnings reports), FORMATS §14.2. Named `.csv` but tab-separated UTF-16 text
//! (little- or big-endian, with or without a byte order mark); UTF-8 and comma-separated
//! copies are read too. Decoded as it streams, never read whole.
//!
//! royalty = `Earnings Amount` in `Earnings Currency` (the payment profile's currency; `Payment
//! Amount` / `Payment Currency` are accepted for them); units = `Qty` (negative for a refund;
//! rentals count); period = the `Transaction Date`; final (the report is the payment basis).
//! `Primary ISBN` loses its leading `'`. Header names match case-insensitively, trimmed.
//!
//! Decimal comma: some accounts write `2,99`. The first number with a separator decides the
//! file's style; a later number in the other style, or one with both `.` and `,`
//! (`1.002,99`), is ambiguous and rejects the file naming its cell, never guessed.
//!
//! Replace-by-coverage is scoped by the payment: family `google_play_earnings:<currency>:<month
//! of Earnings Date>`, so a re-import or a new download of the same month's report replaces
//! it, while the next month's report (which may carry transactions dated in this month, or a
//! pre-order fulfilled later) and the other payment profiles' reports never touch it. Rows with
//! the same content are separate transactions. The report's earnings per `Earnings Date` and
//! currency are its payment (`ParseSummary::payments`).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;

use super::csvutil::{self, Delimiter, TextReport, Utf16Reader};
use super::table::{self, Header, Loc, Row, Source};
use super::{EventSink, InputError, ParseSummary, PaymentSums, PlatformError};
use crate::model::{parse_micros, Format, Platform, RawLayout, SaleEvent, MICROS};

const EARNINGS_AMOUNT: [&str; 2] = ["Earnings Amount", "Payment Amount"];
const EARNINGS_CURRENCY: [&str; 2] = ["Earnings Currency", "Payment Currency"];

/// Which decimal separator the file's numbers use, once one has been seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Unknown,
    Point,
    Comma,
}

/// The number style of a file, decided by its first number with a separator.
struct Numbers {
    style: Style,
    /// Where the style was decided: line, column and cell, for the rejection of a later cell.
    decided_at: Option<(u64, String, String)>,
}

impl Numbers {
    /// A number cell as micro-units; empty gives `None`. `percent` allows a trailing `%`.
    fn read(
        &mut self,
        row: &Row<'_>,
        i: usize,
        percent: bool,
    ) -> Result<Option<i64>, PlatformError> {
        let raw = row.text(i);
        let t = if percent {
            raw.strip_suffix('%').unwrap_or(raw).trim_end()
        } else {
            raw
        };
        if t.is_empty() {
            return Ok(None);
        }
        let (point, comma) = (t.contains('.'), t.contains(','));
        let where_decided = || {
            self.decided_at
                .as_ref()
                .map(|(l, c, v)| format!(" (line {l}, column `{c}` has `{v}`)"))
                .unwrap_or_default()
        };
        if point && comma {
            return Err(row.reject(
                i,
                format!("`{raw}` is ambiguous: it has both a decimal point and a comma (a thousands separator?); Google Play writes plain numbers such as `1002.99` or, on decimal-comma accounts, `1002,99`: download the Earnings report again"),
            ));
        }
        let text = if comma {
            if self.style == Style::Point {
                return Err(row.reject(
                    i,
                    format!("`{raw}` is ambiguous: it has a comma but the file's numbers use a decimal point{}; a comma there could be a thousands separator", where_decided()),
                ));
            }
            let body = t.strip_prefix('-').unwrap_or(t);
            let ok = body.split_once(',').is_some_and(|(a, b)| {
                !a.is_empty()
                    && !b.is_empty()
                    && a.bytes().all(|c| c.is_ascii_digit())
                    && b.bytes().all(|c| c.is_ascii_digit())
            });
            if !ok {
                return Err(row.reject(
                    i,
                    format!("expected a number such as `2,99` in this decimal-comma file, found `{raw}`"),
                ));
            }
            self.decide(Style::Comma, row, i);
            t.replacen(',', ".", 1)
        } else {
            if point {
                if self.style == Style::Comma {
                    return Err(row.reject(
                        i,
                        format!("`{raw}` is ambiguous: it has a decimal point but the file's numbers use a decimal comma{}; a point there could be a thousands separator", where_decided()),
                    ));
                }
                self.decide(Style::Point, row, i);
            }
            t.to_string()
        };
        parse_micros(&text)
            .map(Some)
            .map_err(|e| row.reject(i, e.to_string()))
    }

    fn decide(&mut self, style: Style, row: &Row<'_>, i: usize) {
        if self.style == Style::Unknown {
            self.style = style;
            self.decided_at = Some((
                row.line,
                row.header.name(i).to_string(),
                row.text(i).to_string(),
            ));
        }
    }
}

/// Column indices of an Earnings report.
struct Cols {
    transaction_date: usize,
    id: usize,
    qty: usize,
    isbn: usize,
    currency: usize,
    amount: usize,
    earnings_date: Option<usize>,
    title: Option<usize>,
    country: Option<usize>,
    list_price: Option<usize>,
    list_currency: Option<usize>,
    product: Option<usize>,
    line_of_business: Option<usize>,
    /// Number columns checked and kept raw only.
    checked: Vec<usize>,
    percent: Option<usize>,
}

impl Cols {
    fn new(h: &Header) -> Result<Cols, String> {
        let idx = table::require(
            h,
            "Google Play Books Earnings report",
            &[
                &["Transaction Date"],
                &["Id"],
                &["Qty"],
                &["Primary ISBN"],
                &EARNINGS_CURRENCY,
                &EARNINGS_AMOUNT,
            ],
        )?;
        Ok(Cols {
            transaction_date: idx[0],
            id: idx[1],
            qty: idx[2],
            isbn: idx[3],
            currency: idx[4],
            amount: idx[5],
            earnings_date: h.find(&["Earnings Date"]),
            title: h.find(&["Title"]),
            country: h.find(&["Country of Sale"]),
            list_price: h.find(&["List Price [tax exclusive]"]),
            list_currency: h.find(&["List Price Currency"]),
            product: h.find(&["Product"]),
            line_of_business: h.find(&["Line of Business"]),
            checked: [
                "Original List Price",
                "List Price [tax inclusive]",
                "Publisher Revenue",
                "Currency Conversion Rate",
            ]
            .iter()
            .filter_map(|n| h.find(&[n]))
            .collect(),
            percent: h.find(&["Publisher Revenue %"]),
        })
    }
}

/// Open the file as text, decoding UTF-16 (by its byte order mark, or its NUL bytes when it
/// has none); UTF-8 passes through. Returns the reader and, for UTF-16, the input byte count
/// to report progress with.
type Opened = (
    Box<dyn Read>,
    Option<std::rc::Rc<std::cell::Cell<u64>>>,
    Delimiter,
);

fn open(path: &Path, display_name: &str) -> Result<Opened, PlatformError> {
    let io = |e: std::io::Error| csvutil::io_error(display_name, &e);
    let mut f = File::open(path).map_err(io)?;
    if f.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
        return Err(PlatformError::Rejected(InputError::file(
            display_name,
            "the file is empty (0 bytes): download the report again",
        )));
    }
    let mut head = vec![0u8; 4096];
    let mut filled = 0;
    while filled < head.len() {
        let n = f.read(&mut head[filled..]).map_err(io)?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    head.truncate(filled);
    match csvutil::sniff_utf16(&head) {
        Some((order, skip)) => {
            f.seek(SeekFrom::Start(skip as u64)).map_err(io)?;
            // The delimiter from the first decoded line (at most the head's bytes).
            let mut first = String::new();
            let mut peek = Utf16Reader::new(&head[skip..], order, 0);
            let mut buf = Vec::new();
            let _ = peek.read_to_end(&mut buf);
            first.push_str(&String::from_utf8_lossy(&buf));
            let line = first.split(['\n', '\r']).next().unwrap_or("");
            let reader = Utf16Reader::new(f, order, skip as u64);
            let consumed = reader.consumed.clone();
            Ok((
                Box::new(reader),
                Some(consumed),
                table::sniff_delimiter(line),
            ))
        }
        None => {
            f.seek(SeekFrom::Start(0)).map_err(io)?;
            let text = String::from_utf8_lossy(&head);
            let line = text
                .trim_start_matches('\u{feff}')
                .split(['\n', '\r'])
                .next()
                .unwrap_or("")
                .to_string();
            Ok((Box::new(f), None, table::sniff_delimiter(&line)))
        }
    }
}

/// Parse a Google Play Books Earnings report, streaming events into `sink`.
///
/// # Errors
/// `Rejected` for a file that is not an Earnings report, an ambiguous number or a malformed
/// row (naming the line and column), `Transient` for I/O errors, `Sink` when the sink fails.
pub fn parse_file(
    path: &Path,
    display_name: &str,
    sink: &mut dyn EventSink,
) -> Result<ParseSummary, PlatformError> {
    if csvutil::is_binary_container(path) {
        return Err(PlatformError::Rejected(InputError::file(
            display_name,
            "not a recognised Google Play Books Earnings report: this is a spreadsheet workbook; the Earnings report is a tab-separated text file (Partner Center → Reports → Earnings reports → Download)",
        )));
    }
    let (input, consumed, delimiter) = open(path, display_name)?;
    let report = TextReport::from_reader(input, display_name, delimiter)?;
    let header = Header::new(&report.headers);
    let loc = Loc {
        file: display_name.to_string(),
        sheet: None,
    };
    if !header.has_all(&["Transaction Date", "Primary ISBN"]) {
        return Err(loc.reject(
            1,
            None,
            format!(
                "not a recognised Google Play Books Earnings report: expected `Earnings Date`, `Transaction Date`, `Id`, `Qty`, `Primary ISBN`, `Earnings Currency` and `Earnings Amount` columns (found header: {})",
                header.joined()
            ),
        ));
    }
    let cols = match Cols::new(&header) {
        Ok(c) => c,
        Err(m) if header.find(&EARNINGS_AMOUNT).is_none() => {
            return Err(loc.reject(
                1,
                None,
                format!("{m}; this looks like a Sales transaction or summary report, which may lack earnings: download the Earnings report instead (Partner Center → Reports → Earnings reports)"),
            ))
        }
        Err(m) => return Err(loc.reject(1, None, m)),
    };
    let layout: Arc<RawLayout> = header.raw_layout();
    let want_raw = sink.wants_raw();
    let mut numbers = Numbers {
        style: Style::Unknown,
        decided_at: None,
    };
    let mut payments = PaymentSums::default();
    let mut rows: u64 = 0;
    let mut source = Source::Text(report);
    source.each_row(sink, |line, cells, sink| {
        rows += 1;
        let row = Row {
            loc: &loc,
            header: &header,
            line,
            cells,
            sheet: false,
        };
        let day = row.day(cols.transaction_date)?;
        let earned = row.opt_day(cols.earnings_date)?;
        if row.text(cols.id).is_empty() {
            return Err(row.reject(
                cols.id,
                "expected the transaction's id, found an empty cell",
            ));
        }
        let qty = numbers
            .read(&row, cols.qty, false)?
            .ok_or_else(|| row.reject(cols.qty, "expected a whole number, found an empty cell"))?;
        if qty % MICROS != 0 {
            return Err(row.reject(
                cols.qty,
                format!("expected a whole number, found `{}`", row.text(cols.qty)),
            ));
        }
        let isbn_text = row.text(cols.isbn);
        let isbn = csvutil::normalise_isbn(isbn_text.strip_prefix('\'').unwrap_or(isbn_text));
        if isbn.is_empty() {
            return Err(row.reject(cols.isbn, "expected the book's ISBN, found an empty cell"));
        }
        let currency = row.currency(cols.currency)?;
        let royalty = numbers
            .read(&row, cols.amount, false)?
            .ok_or_else(|| row.reject(cols.amount, "expected an amount, found an empty cell"))?;
        for &i in &cols.checked {
            numbers.read(&row, i, false)?;
        }
        if let Some(i) = cols.percent {
            numbers.read(&row, i, true)?;
        }
        let list = match cols.list_price {
            Some(i) => numbers.read(&row, i, false)?,
            None => None,
        };
        let list_same = cols
            .list_currency
            .is_some_and(|c| row.text(c).eq_ignore_ascii_case(&currency));
        payments.add(
            "google_play.earnings",
            earned,
            &currency,
            royalty,
            (day, day),
        );
        let family = match earned {
            Some(d) => format!("google_play_earnings:{currency}:{}", month_text(d)),
            None => format!("google_play_earnings:{currency}"),
        };
        let kind = format!(
            "{} {}",
            row.opt_text(cols.product),
            row.opt_text(cols.line_of_business)
        );
        let event = SaleEvent {
            platform: Platform::GooglePlay,
            family,
            source: "google_play.earnings".to_string(),
            natural_key: None,
            period_start: day,
            period_end: day,
            title: row.opt_text(cols.title).to_string(),
            product_id: isbn,
            format: if kind.to_ascii_lowercase().contains("audio") {
                Format::Audiobook
            } else {
                Format::Ebook
            },
            marketplace: "Google Play".to_string(),
            retailer: "Google Play".to_string(),
            country: row.opt_text(cols.country).to_ascii_uppercase(),
            units: qty / MICROS,
            kenp_pages: 0,
            list_price_micros: list.filter(|_| list_same),
            royalty_micros: royalty,
            currency,
            is_final: true,
            status: String::new(),
            raw: if want_raw {
                row.raw(&layout)
            } else {
                String::new()
            },
            raw_layout: want_raw.then(|| layout.clone()),
            line,
        };
        if let Some(c) = &consumed {
            if rows % 4096 == 0 {
                sink.progress(c.get());
            }
        }
        sink.event(event).map_err(PlatformError::from)
    })?;
    if let Some(c) = &consumed {
        sink.progress(c.get());
    }
    let mut summary = ParseSummary {
        layout: format!(
            "Google Play Books Earnings report ({}{})",
            if consumed.is_some() {
                "UTF-16"
            } else {
                "UTF-8"
            },
            match numbers.style {
                Style::Comma => ", decimal comma",
                _ => "",
            }
        ),
        rows,
        ..ParseSummary::default()
    };
    payments.finish(display_name, &mut summary);
    if rows == 0 {
        summary.warnings.push(format!(
            "`{display_name}` has a Google Play Earnings header but no rows"
        ));
    }
    Ok(summary)
}

fn month_text(d: NaiveDate) -> String {
    crate::model::iso_date(d)[..7].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platforms::testutil::{fixture, Collect};
    use crate::platforms::ReportedPayment;

    fn parse(rel: &str) -> Result<(ParseSummary, Vec<SaleEvent>), PlatformError> {
        let mut sink = Collect::default();
        let s = parse_file(&fixture(rel), rel, &mut sink)?;
        Ok((s, sink.0))
    }

    fn utf16le(text: &str, bom: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if bom {
            out.extend_from_slice(&[0xFF, 0xFE]);
        }
        for u in text.encode_utf16() {
            out.extend_from_slice(&u.to_le_bytes());
        }
        out
    }

    fn parse_bytes(bytes: &[u8]) -> Result<(ParseSummary, Vec<SaleEvent>), PlatformError> {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), bytes).unwrap();
        let mut sink = Collect::default();
        let s = parse_file(f.path(), "gp.csv", &mut sink)?;
        Ok((s, sink.0))
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// Sums computed independently with Python (`open(f, encoding='utf-16')`, `csv.DictReader`
    /// with `delimiter='\t'`, `Decimal` with `,` → `.`): EUR file 4 rows, `Qty` 2, `Earnings
    /// Amount` 5.78; USD file 2 rows, `Qty` 3, 8.22.
    #[test]
    fn utf16_reports_with_a_decimal_comma_or_point() {
        for (rel, n, units, royalty, cur) in [
            (
                "google_play/google_play_earnings_EUR_2025-07.csv",
                4,
                2,
                5_780_000,
                "EUR",
            ),
            (
                "google_play/google_play_earnings_USD_2025-07.csv",
                2,
                3,
                8_220_000,
                "USD",
            ),
        ] {
            let (summary, ev) = parse(rel).unwrap();
            assert_eq!(ev.len(), n, "{rel}");
            assert_eq!(ev.iter().map(|e| e.units).sum::<i64>(), units);
            assert_eq!(ev.iter().map(|e| e.royalty_micros).sum::<i64>(), royalty);
            assert!(ev.iter().all(|e| e.currency == cur && e.is_final));
            assert!(ev
                .iter()
                .all(|e| e.family == format!("google_play_earnings:{cur}:2025-07")));
            assert!(
                ev.iter().all(|e| e.product_id.starts_with("978")),
                "quote stripped"
            );
            assert_eq!(summary.payments.len(), 1);
            assert_eq!(summary.payments[0].amount_micros, royalty);
            assert_eq!(summary.payments[0].date, Some(d("2025-07-31")));
        }
        let (summary, ev) = parse("google_play/google_play_earnings_EUR_2025-07.csv").unwrap();
        assert!(
            summary.layout.contains("decimal comma"),
            "{}",
            summary.layout
        );
        let refund = ev.iter().find(|e| e.units < 0).unwrap();
        assert_eq!(
            (refund.royalty_micros, refund.period_end),
            (-1_760_000, d("2025-07-22"))
        );
        // GBP list price converted into EUR earnings: the list price is not a EUR amount.
        let gb = ev.iter().find(|e| e.country == "GB").unwrap();
        assert_eq!((gb.royalty_micros, gb.list_price_micros), (2_850_000, None));
        assert_eq!(ev[0].list_price_micros, Some(2_510_000));
        assert_eq!(
            summary.payments[0],
            ReportedPayment {
                source: "google_play.earnings".into(),
                date: Some(d("2025-07-31")),
                currency: "EUR".into(),
                amount_micros: 5_780_000,
                period: Some((d("2025-07-04"), d("2025-07-22"))),
                rows: 4,
            }
        );
    }

    #[test]
    fn an_ambiguous_number_rejects_the_file_naming_the_cell() {
        let err = parse("bad/google_play_earnings_ambiguous_decimal.csv")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("column `Original List Price`"), "{err}");
        assert!(err.contains("`1.002,99` is ambiguous"), "{err}");
    }

    const HEADER: &str = "Earnings Date\tTransaction Date\tId\tProduct\tType\tPreorder\tQty\tPrimary ISBN\tTitle\tList Price Currency\tList Price [tax exclusive]\tPublisher Revenue %\tEarnings Currency\tEarnings Amount";

    fn row(amount: &str, list: &str) -> String {
        format!("2025-07-31\t2025-07-08\tGPB.1\tRental\tSale\tNone\t1\t'9781732461031\tT\tUSD\t{list}\t70%\tUSD\t{amount}")
    }

    #[test]
    fn mixed_styles_are_rejected_and_plain_styles_read() {
        // Point first, then a comma: the comma cell is named, with where the style was decided.
        let text = format!(
            "{HEADER}\r\n{}\r\n{}\r\n",
            row("2.09", "2.99"),
            row("2,09", "2.99")
        );
        let err = parse_bytes(&utf16le(&text, true)).unwrap_err().to_string();
        assert!(
            err.contains("line 3") && err.contains("column `Earnings Amount`"),
            "{err}"
        );
        assert!(
            err.contains("line 2, column `Earnings Amount` has `2.09`"),
            "{err}"
        );
        // Comma first, then a point.
        let text = format!(
            "{HEADER}\n{}\n{}\n",
            row("2,09", "2,99"),
            row("2,09", "2.99")
        );
        let err = parse_bytes(&utf16le(&text, false)).unwrap_err().to_string();
        assert!(
            err.contains("line 3") && err.contains("List Price [tax exclusive]"),
            "{err}"
        );
        // Whole numbers fit either style; UTF-16 without a BOM and plain UTF-8 are read.
        let text = format!("{HEADER}\n{}\n{}\n", row("2", "3"), row("2,5", "3"));
        let (_, ev) = parse_bytes(&utf16le(&text, false)).unwrap();
        assert_eq!(ev.iter().map(|e| e.royalty_micros).sum::<i64>(), 4_500_000);
        let text = format!("\u{feff}{HEADER}\n{}\n", row("-2.09", "2.99"));
        let (s, ev) = parse_bytes(text.as_bytes()).unwrap();
        assert_eq!((ev[0].royalty_micros, ev[0].units), (-2_090_000, 1));
        assert!(s.layout.contains("UTF-8"));
    }

    #[test]
    fn broken_utf16_and_other_layouts_are_rejected() {
        let mut bytes = utf16le(&format!("{HEADER}\n{}\n", row("2.09", "2.99")), true);
        bytes.extend_from_slice(&[0x00, 0xD8, 0x41, 0x00]); // a lone high surrogate
        let err = parse_bytes(&bytes).unwrap_err().to_string();
        assert!(err.contains("not valid UTF-16"), "{err}");
        let err = parse("d2d/d2d_sales.csv").unwrap_err().to_string();
        assert!(err.contains("not a recognised Google Play"), "{err}");
        let sales_report = "Transaction Date\tId\tQty\tPrimary ISBN\n2025-07-01\tX\t1\t'978\n";
        let err = parse_bytes(&utf16le(sales_report, true))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("download the Earnings report instead"),
            "{err}"
        );
    }
}
