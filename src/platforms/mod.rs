//! Platform adapters: bytes or HTTP in, normalised `SaleEvent`s out.
//!
//! Owns: format detection and parsing, typed errors that say whether a failure is worth
//! retrying (`PlatformError`), and the `EventSink` through which events leave an adapter.
//! Must not: write SQL, print, read the environment or know the queue.

pub mod apple_books;
pub mod barnes_noble;
pub mod csvutil;
pub mod draft2digital;
pub mod google_play;
pub mod gumroad;
pub mod ingramspark;
pub mod kdp;
pub mod kobo;
pub mod records;
pub mod smashwords;
pub mod streetlib;
pub mod table;
#[cfg(test)]
pub(crate) mod testutil;
pub mod workbook;

use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::model::{Payout, Platform, SaleEvent};

/// Where in an input file a problem was found. Every field is optional; the more the better.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputError {
    /// The file name the user gave.
    pub file: String,
    pub sheet: Option<String>,
    /// 1-based line (text files) or row (sheets).
    pub line: Option<u64>,
    pub column: Option<String>,
    /// What was wrong and what was expected.
    pub message: String,
}

impl InputError {
    /// An error about the whole file.
    pub fn file(file: &str, message: impl Into<String>) -> Self {
        InputError {
            file: file.to_string(),
            message: message.into(),
            ..InputError::default()
        }
    }

    /// An error at one line (and optionally one column) of a text file.
    pub fn at(file: &str, line: u64, column: Option<&str>, message: impl Into<String>) -> Self {
        InputError {
            file: file.to_string(),
            line: Some(line),
            column: column.map(str::to_string),
            message: message.into(),
            ..InputError::default()
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`", self.file)?;
        if let Some(sheet) = &self.sheet {
            write!(f, ", sheet `{sheet}`")?;
        }
        if let Some(line) = self.line {
            let word = if self.sheet.is_some() { "row" } else { "line" };
            write!(f, ", {word} {line}")?;
        }
        if let Some(col) = &self.column {
            write!(f, ", column `{col}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Why an adapter failed. The queue decides what to do from the variant.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// The input is malformed or not this platform's format: never retried, exit 5 at enqueue.
    #[error("{0}")]
    Rejected(InputError),
    /// A failure that retrying cannot fix (HTTP 401/403, a bad request); the message says what
    /// to do.
    #[error("{0}")]
    Permanent(String),
    /// A failure worth retrying later (5xx, timeouts, connection errors, I/O).
    #[error("{0}")]
    Transient(String),
    /// The platform asked us to slow down; retry after the delay without using up an attempt.
    #[error("{message}")]
    RateLimited {
        retry_after: Duration,
        message: String,
    },
    /// The sink (the store) failed; the error is passed through untouched.
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// An error raised by an `EventSink` (a database error, an aborted job).
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub struct SinkError(pub anyhow::Error);

/// Where adapters send events. The ingest layer implements it over the store.
pub trait EventSink {
    /// Accept one event.
    ///
    /// # Errors
    /// A `SinkError` aborts the parse.
    fn event(&mut self, event: SaleEvent) -> Result<(), SinkError>;

    /// Report how many bytes of the input have been read so far (for progress bars).
    fn progress(&mut self, _bytes_read: u64) {}

    /// Whether events need their `raw` source row. A sink that only validates says no, and
    /// adapters that can skip building it (it is a large share of a parse) leave it empty.
    fn wants_raw(&self) -> bool {
        true
    }
}

/// A sink that only counts: used to validate a file at enqueue without storing anything.
#[derive(Debug, Default)]
pub struct CountingSink {
    pub events: u64,
}

impl EventSink for CountingSink {
    fn event(&mut self, _event: SaleEvent) -> Result<(), SinkError> {
        self.events += 1;
        Ok(())
    }

    fn wants_raw(&self) -> bool {
        false
    }
}

/// What a file parse found, besides the events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseSummary {
    /// Human name of the detected layout, e.g. `Draft2Digital ebook sales report`.
    pub layout: String,
    /// Data rows read (including rows that produced no event, such as totals).
    pub rows: u64,
    /// Things worth telling the user that did not stop the import.
    pub warnings: Vec<String>,
    /// Payouts the file records besides its sales (Smashwords `payment` rows): never events.
    pub payouts: Vec<Payout>,
    /// The payments the report states for its own rows, from its payment columns (Google
    /// Play's earnings per `Earnings Date`, StreetLib's invoice, Kobo's `Summary` sheet), summed
    /// per date and currency; empty for reports without them. Unlike `payouts` (transfers
    /// recorded row by row), these are what the report's rows are paid by. Parsed and checked
    /// with the rows, not stored yet; never sales.
    pub payments: Vec<ReportedPayment>,
    /// Periods the file gives figures for beyond the range of its rows (a sheet present but
    /// empty, a workbook of month totals); the store replaces by them too (DESIGN §5).
    pub coverage: Vec<crate::model::Coverage>,
}

/// A payment a report states: what the platform pays (or paid) for rows of the report, summed
/// per payment date and currency. Money transfers, not sales: never counted as royalty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedPayment {
    /// The report it comes from, e.g. `google_play.earnings`, `streetlib.billing`, `kobo.summary`.
    pub source: String,
    /// The payment (Google Play `Earnings Date`) or invoice (StreetLib `Billing date`) date;
    /// `None` when the report gives none (Kobo's `Summary`).
    pub date: Option<chrono::NaiveDate>,
    pub currency: String,
    /// Signed micro-units of `currency` (refunds included).
    pub amount_micros: i64,
    /// The sales periods it pays: earliest start and latest end of its rows.
    pub period: Option<(chrono::NaiveDate, chrono::NaiveDate)>,
    /// Rows of the report it sums (0 for a stated total such as Kobo's `Summary`).
    pub rows: u64,
}

/// Sums of a report's payment columns per (date, currency), while its rows stream.
#[derive(Debug, Default)]
pub(crate) struct PaymentSums {
    sums: std::collections::BTreeMap<(Option<chrono::NaiveDate>, String), ReportedPayment>,
    /// Set when a file names more payment dates than any report has (the sums are dropped).
    overflow: bool,
}

impl PaymentSums {
    /// More distinct (date, currency) pairs than this and the payments are not summarised:
    /// a real report has one or a few; the bound keeps memory flat for any file.
    const MAX: usize = 1_000;

    pub(crate) fn add(
        &mut self,
        source: &str,
        date: Option<chrono::NaiveDate>,
        currency: &str,
        amount_micros: i64,
        period: (chrono::NaiveDate, chrono::NaiveDate),
    ) {
        if self.overflow {
            return;
        }
        let key = (date, currency.to_string());
        if !self.sums.contains_key(&key) && self.sums.len() >= Self::MAX {
            self.overflow = true;
            self.sums.clear();
            return;
        }
        let p = self.sums.entry(key).or_insert_with(|| ReportedPayment {
            source: source.to_string(),
            date,
            currency: currency.to_string(),
            amount_micros: 0,
            period: None,
            rows: 0,
        });
        p.amount_micros = p.amount_micros.saturating_add(amount_micros);
        p.rows += 1;
        p.period = Some(match p.period {
            None => period,
            Some((a, b)) => (a.min(period.0), b.max(period.1)),
        });
    }

    /// The payments, by date then currency; a warning when there were too many to keep.
    pub(crate) fn finish(self, display_name: &str, summary: &mut ParseSummary) {
        if self.overflow {
            summary.warnings.push(format!(
                "`{display_name}` names more than {} payment dates or currencies; its payments were not summarised",
                Self::MAX
            ));
        }
        summary.payments.extend(self.sums.into_values());
    }
}

/// Parse a report file of a file platform, sending every event to `sink`.
///
/// `display_name` is the name the user gave, used in every error message. Detection is by
/// content (magic bytes, sheet names, header sets), never by file name.
///
/// # Errors
/// `PlatformError::Rejected` for malformed input, `Transient` for I/O errors, `Sink` when the
/// sink fails.
pub fn parse_file(
    platform: Platform,
    path: &Path,
    display_name: &str,
    sink: &mut dyn EventSink,
) -> Result<ParseSummary, PlatformError> {
    match platform {
        Platform::Draft2digital => draft2digital::parse_file(path, display_name, sink),
        Platform::AmazonKdp => kdp::parse_file(path, display_name, sink),
        Platform::Smashwords => smashwords::parse_file(path, display_name, sink),
        Platform::Kobo => kobo::parse_file(path, display_name, sink),
        Platform::Streetlib => streetlib::parse_file(path, display_name, sink),
        Platform::GooglePlay => google_play::parse_file(path, display_name, sink),
        Platform::AppleBooks => apple_books::parse_file(path, display_name, sink),
        Platform::BarnesNoble => barnes_noble::parse_file(path, display_name, sink),
        Platform::Ingramspark => ingramspark::parse_file(path, display_name, sink),
        // The dashboard's Sales CSV export; API sales and Pings come in through the queue.
        Platform::Gumroad => gumroad::web_csv::parse_file(path, display_name, sink),
    }
}

/// Parse one Gumroad Ping body (checked at enqueue, ingested by the worker): its sale (none
/// for a test purchase), warnings, and the scrubbed body the inbox keeps.
///
/// # Errors
/// `Rejected` when the body is not a valid Ping.
pub fn parse_ping(body: &[u8], display_name: &str) -> Result<gumroad::ParsedPing, PlatformError> {
    gumroad::parse_ping(body, display_name)
}

/// What `detect` recognised a file as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    pub platform: Platform,
    /// Layout, rows and warnings of the successful parse.
    pub summary: ParseSummary,
    /// Events the file holds.
    pub events: u64,
    /// The period the file covers: earliest event start, latest event end (None without events).
    pub period: Option<(chrono::NaiveDate, chrono::NaiveDate)>,
}

/// Why `detect` did not recognise a file.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// No file platform's layout matches: the user must look at it. `header` is what was found
    /// (the first line of a text file, or the adapter's description of a workbook).
    #[error("{error}")]
    Unknown {
        header: String,
        error: Box<InputError>,
    },
    /// The layout is `platform`'s, but the file is malformed (a bad row, a localised or legacy
    /// report): that platform's own error.
    #[error("{error}")]
    Invalid {
        platform: Platform,
        error: PlatformError,
    },
    /// The file could not be read (worth trying again later).
    #[error("{0}")]
    Io(PlatformError),
}

impl From<DetectError> for PlatformError {
    fn from(e: DetectError) -> Self {
        match e {
            DetectError::Unknown { error, .. } => PlatformError::Rejected(*error),
            DetectError::Invalid { error, .. } | DetectError::Io(error) => error,
        }
    }
}

/// A sink that counts events and tracks the period they cover.
#[derive(Debug, Default)]
struct RangeSink {
    events: u64,
    period: Option<(chrono::NaiveDate, chrono::NaiveDate)>,
}

impl EventSink for RangeSink {
    fn event(&mut self, e: SaleEvent) -> Result<(), SinkError> {
        self.events += 1;
        self.period = Some(match self.period {
            None => (e.period_start, e.period_end),
            Some((a, b)) => (a.min(e.period_start), b.max(e.period_end)),
        });
        Ok(())
    }
}

/// The file platforms `detect` tries, in order of preference when several accept a file.
const DETECT_ORDER: [Platform; 10] = [
    Platform::AmazonKdp,
    Platform::Draft2digital,
    Platform::Smashwords,
    Platform::Kobo,
    Platform::Streetlib,
    Platform::GooglePlay,
    Platform::AppleBooks,
    Platform::BarnesNoble,
    Platform::Ingramspark,
    Platform::Gumroad,
];

/// Recognise a report file by its content alone (magic bytes, sheet names, header sets; never
/// the file name): every file platform's parser reads it into a counting sink, and the one
/// that accepts it wins.
///
/// When none accepts it, the errors are ranked so the user hears the right one: an adapter
/// that recognised its own layout but found a bad row (or a localised, legacy or payout report)
/// beats one that merely said "not my header". Only when every adapter says the header is not
/// theirs is the file `Unknown`, reported with the header that was found.
///
/// # Errors
/// `DetectError` as above.
pub fn detect(path: &Path, display_name: &str) -> Result<Detected, DetectError> {
    if csvutil::is_binary_xls(path) {
        // The one exception: B&N's 2011 PubIt workbook, which B&N Press's reader names (and
        // says what to export instead).
        let mut sink = RangeSink::default();
        match barnes_noble::parse_file(path, display_name, &mut sink) {
            Err(PlatformError::Rejected(ie)) if ie.message.starts_with(barnes_noble::PUBIT) => {
                return Err(DetectError::Invalid {
                    platform: Platform::BarnesNoble,
                    error: PlatformError::Rejected(ie),
                })
            }
            Err(other @ PlatformError::Transient(_)) => return Err(DetectError::Io(other)),
            _ => {}
        }
        // No platform salesingest reads writes these (KDP has written .xlsx since 2016;
        // Smashwords' and IngramSpark's `.xls` are text): say what the file is, not whose.
        return Err(DetectError::Unknown {
            header: "binary Excel 97–2003 workbook (.xls)".to_string(),
            error: Box::new(InputError::file(display_name, binary_xls())),
        });
    }
    let mut best: Option<(u8, Platform, PlatformError)> = None;
    for platform in DETECT_ORDER {
        let mut sink = RangeSink::default();
        match parse_file(platform, path, display_name, &mut sink) {
            Ok(summary) => {
                return Ok(Detected {
                    platform,
                    summary,
                    events: sink.events,
                    period: sink.period,
                })
            }
            Err(PlatformError::Rejected(ie)) => {
                let rank = claim_rank(&ie);
                if best.as_ref().is_none_or(|(r, _, _)| rank > *r) {
                    best = Some((rank, platform, PlatformError::Rejected(ie)));
                }
            }
            Err(other) => return Err(DetectError::Io(other)),
        }
    }
    match best {
        Some((rank, platform, error)) if rank > 0 => Err(DetectError::Invalid { platform, error }),
        best => {
            let workbook = csvutil::is_binary_container(path);
            let header = if workbook {
                // KDP tries workbooks first: its message names the sheets and headers it saw.
                best.map(|(_, _, e)| match e {
                    PlatformError::Rejected(ie) => ie.message,
                    other => other.to_string(),
                })
                .unwrap_or_default()
            } else {
                found_header(path, display_name)
            };
            let what = if workbook {
                header.clone()
            } else if header.is_empty() {
                "the file is empty".to_string()
            } else if header.starts_with(['{', '[']) {
                "it holds JSON, not a report".to_string()
            } else {
                format!("found header: {header}")
            };
            // Says what the file is and what is read; the command adds what it did with the
            // file (`import`: not queued; the inbox scan: left in the folder).
            Err(DetectError::Unknown {
                error: Box::new(InputError::file(
                    display_name,
                    format!(
                        "not a report salesingest reads ({}); {what}. If it is one of those \
                         reports, `salesingest enqueue <platform> --file FILE` says what that \
                         platform's reader expected",
                        what_is_read()
                    ),
                )),
                header,
            })
        }
    }
}

/// What salesingest reads, for "not a report" messages: the report files of `DETECT_ORDER`'s
/// platforms, and how each API platform's sales also come in (from `Platform::ALL`, so a new
/// platform is named here once it is added there and to `DETECT_ORDER`).
fn what_is_read() -> String {
    let files: Vec<&str> = DETECT_ORDER.iter().map(|p| p.as_str()).collect();
    let mut out = format!("it reads report files of {}", join_and(&files));
    for p in Platform::ALL.iter().filter(|p| !p.is_file_platform()) {
        let how = if DETECT_ORDER.contains(p) {
            "also come"
        } else {
            "come"
        };
        out.push_str(&format!(
            "; {p} sales {how} through its API (`salesingest enqueue {p}`, or `--ping-file` for a Ping)"
        ));
    }
    out
}

fn join_and(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Why `import` does not read a binary Excel 97–2003 file (OLE2), and what to do, without
/// guessing whose it is.
fn binary_xls() -> String {
    format!(
        "this is a binary Excel 97–2003 workbook (.xls), a format salesingest does not read \
         ({}; workbooks as .xlsx, and Smashwords' `.xls` reports, which are text). If this file \
         is one of those reports, open it in Excel or LibreOffice, save it as .xlsx or CSV, and \
         import that copy",
        what_is_read()
    )
}

/// How strongly an adapter's rejection says "this is my layout, but it is broken":
/// 0 = not my layout (header mismatch), 1 = my layout at the header level (missing a few
/// columns, localised, legacy, payouts), 2 = a row or cell error in my layout, or a workbook
/// that is positively this platform's but holds no rows to import.
fn claim_rank(e: &InputError) -> u8 {
    let m = e.message.as_str();
    // Identified by headers only that platform writes, but missing what is imported: a Kobo
    // workbook with its `Summary` sheet and no `Details` (KDP knew only the sheet name
    // `Summary`), a StreetLib billing report without its net column (KDP saw an `ISBN` column
    // and listed six of its own as missing).
    // Only Apple Books reads gzip: the other adapters see binary noise there ("not valid
    // UTF-8"), so its claims win.
    if m.starts_with("this Kobo Writing Life workbook has no")
        || m.starts_with("this StreetLib billing report has no")
        || m.starts_with("the gzip-compressed")
    {
        return 2;
    }
    let mismatch = m.starts_with("not a recognised")
        // Text that is not UTF-8 from its first line on says nothing about the layout (a
        // UTF-16 file read by a UTF-8 adapter).
        || (m.starts_with("the text is not valid UTF-8") && e.line.is_none_or(|l| l <= 1))
        || m.contains("expected an `Ebook ISBN` or `Paperback ISBN` column")
        || m.starts_with("this is a spreadsheet workbook")
        || m.starts_with("this is a binary spreadsheet workbook")
        || m.starts_with("the workbook has no KDP sales sheet")
        || m.starts_with("the file is empty")
        || m.starts_with("no header row found")
        // Commas and tabs in one header line only say "Smashwords" when its columns are there.
        || (m.starts_with("the header mixes commas and tabs") && !m.contains("smashwordsCut"))
        // "missing columns `a`, `b`, …": most of the layout's columns missing = not this layout.
        || (m.contains("missing column") && missing_columns(m) >= 8);
    if mismatch {
        0
    } else if e.column.is_some() || e.line.is_some_and(|l| l > 2) {
        2
    } else {
        1
    }
}

/// How many back-quoted column names a "missing columns" message lists.
fn missing_columns(message: &str) -> usize {
    let list = message
        .split_once("missing column")
        .map_or("", |(_, rest)| rest.split("(found").next().unwrap_or(""));
    list.matches('`').count() / 2
}

/// The first non-empty line of a file, printable and short, for "unknown layout" messages.
fn found_header(path: &Path, display_name: &str) -> String {
    let Ok(line) = csvutil::first_line(path, display_name) else {
        return String::new();
    };
    let clean: String = line
        .trim_start_matches('\u{feff}')
        .trim()
        .chars()
        .map(|c| if c == '\t' { ' ' } else { c })
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    clean
}

#[cfg(test)]
mod detect_tests {
    use super::testutil::fixture;
    use super::*;

    fn outcome(rel: &str) -> (Option<Platform>, &'static str, String) {
        match detect(&fixture(rel), rel) {
            Ok(d) => (Some(d.platform), "ok", d.summary.layout),
            Err(DetectError::Invalid { platform, error }) => {
                (Some(platform), "invalid", error.to_string())
            }
            Err(DetectError::Unknown { header, .. }) => (None, "unknown", header),
            Err(DetectError::Io(e)) => (None, "io", e.to_string()),
        }
    }

    #[test]
    fn every_good_fixture_is_recognised_with_its_period() {
        for (dir, platform) in [
            ("d2d", Platform::Draft2digital),
            ("kdp", Platform::AmazonKdp),
            ("smashwords", Platform::Smashwords),
            ("kobo", Platform::Kobo),
            ("streetlib", Platform::Streetlib),
            ("google_play", Platform::GooglePlay),
            ("apple_books", Platform::AppleBooks),
            ("barnes_noble", Platform::BarnesNoble),
            ("ingramspark", Platform::Ingramspark),
        ] {
            for e in std::fs::read_dir(fixture(dir)).unwrap() {
                let name = e.unwrap().file_name().to_string_lossy().into_owned();
                let rel = format!("{dir}/{name}");
                let (p, what, detail) = outcome(&rel);
                assert_eq!(p, Some(platform), "{rel}: {what} {detail}");
                // KDP's Payments report is payouts only (no events); a Smashwords report with
                // payment rows is still a sales report.
                if name.contains("legacy") {
                    assert_eq!(what, "invalid", "{rel}: {detail}");
                } else if dir == "kdp" && name.contains("payments") {
                    assert_eq!(what, "ok", "{rel}: {detail}");
                    let d = detect(&fixture(&rel), &rel).unwrap();
                    assert_eq!(d.events, 0, "{rel}");
                    assert!(!d.summary.payouts.is_empty(), "{rel}");
                } else {
                    assert_eq!(what, "ok", "{rel}: {detail}");
                    let d = detect(&fixture(&rel), &rel).unwrap();
                    assert!(d.events > 0 && d.period.is_some(), "{rel}");
                }
            }
        }
    }

    #[test]
    fn a_row_error_names_the_platform_whose_header_matched() {
        for (rel, platform, needle) in [
            (
                "bad/kdp_ebook_royalty_nonnumeric.csv",
                Platform::AmazonKdp,
                "column `Royalty`",
            ),
            (
                "bad/d2d_sales_truncated.csv",
                Platform::Draft2digital,
                "line 8",
            ),
            (
                "bad/d2d_sales_wrong_headers.csv",
                Platform::Draft2digital,
                "missing columns",
            ),
            (
                "bad/kdp_spanish_headers.xlsx",
                Platform::AmazonKdp,
                "Spanish",
            ),
            (
                "bad/smashwords_salesReport_commas_in_tsv.tsv",
                Platform::Smashwords,
                "mixes commas and tabs",
            ),
            (
                "bad/smashwords_unknown_type.tsv",
                Platform::Smashwords,
                "line 9, column `type`",
            ),
            (
                "bad/kobo_no_details_sheet.xlsx",
                Platform::Kobo,
                "sheet `Summary`, row 1: this Kobo Writing Life workbook has no `Details` sheet",
            ),
            (
                "bad/streetlib_billing_no_net_column.xlsx",
                Platform::Streetlib,
                "sheet `Report`, row 1: this StreetLib billing report has no net column",
            ),
            (
                "bad/google_play_earnings_ambiguous_decimal.csv",
                Platform::GooglePlay,
                "line 2, column `Original List Price`: `1.002,99` is ambiguous",
            ),
            (
                "bad/apple_books_financial_truncated.txt.gz",
                Platform::AppleBooks,
                "line 4: the gzip-compressed report is broken or cut short",
            ),
            (
                "bad/ingramspark_compensation_CUSTOM.xls",
                Platform::Ingramspark,
                "line 2, column `period_name`: period_name is CUSTOM",
            ),
        ] {
            let (p, what, detail) = outcome(rel);
            assert_eq!((p, what), (Some(platform), "invalid"), "{rel}: {detail}");
            assert!(detail.contains(needle), "{rel}: {detail}");
        }
    }

    /// A binary Excel 97–2003 file is no platform's: `import` says what it is and which
    /// reports are read, instead of calling it a KDP report; a Smashwords report named `.xls`
    /// (text) is still recognised.
    #[test]
    fn binary_xls_is_unknown_and_text_named_xls_is_read() {
        let e = detect(&fixture("bad/binary_excel_97.xls"), "sales.xls").unwrap_err();
        let DetectError::Unknown { header, error } = &e else {
            panic!("expected an unknown layout, got {e:?}");
        };
        assert!(header.contains("binary Excel 97–2003"), "{header}");
        let m = error.to_string();
        assert!(
            m.starts_with("`sales.xls`: this is a binary Excel 97–2003 workbook (.xls)"),
            "{m}"
        );
        assert!(
            m.contains("workbooks as .xlsx")
                && m.contains("amazon_kdp")
                && m.contains("draft2digital"),
            "{m}"
        );
        assert!(!m.contains("download a KDP"), "{m}");
        let dir = tempfile::tempdir().unwrap();
        let xls = dir.path().join("salesReport.xls");
        std::fs::copy(fixture("smashwords/smashwords_salesReport.tsv"), &xls).unwrap();
        let d = detect(&xls, "salesReport.xls").unwrap();
        assert_eq!(d.platform, Platform::Smashwords);
    }

    /// Tab-separated text named `.xls` is Smashwords or IngramSpark by its header alone, and a
    /// broken file of each names its own platform.
    #[test]
    fn tab_separated_xls_files_are_told_apart_by_content() {
        let dir = tempfile::tempdir().unwrap();
        for (src, platform) in [
            (
                "smashwords/smashwords_salesReport.tsv",
                Platform::Smashwords,
            ),
            (
                "ingramspark/ingramspark_compensation_JUL-25.xls",
                Platform::Ingramspark,
            ),
        ] {
            let p = dir.path().join("report.xls");
            std::fs::copy(fixture(src), &p).unwrap();
            assert_eq!(
                detect(&p, "report.xls").unwrap().platform,
                platform,
                "{src}"
            );
            let text = std::fs::read_to_string(&p).unwrap();
            // The first decimal of the second line turned into a decimal comma.
            let mut lines: Vec<String> = text
                .split(['\r', '\n'])
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect();
            let mut cells: Vec<String> = lines[1].split('\t').map(str::to_string).collect();
            let money = cells
                .iter()
                .position(|c| c.contains('.') && c.parse::<f64>().is_ok())
                .unwrap();
            cells[money] = "4,19".to_string();
            lines[1] = cells.join("\t");
            std::fs::write(&p, lines.join("\n")).unwrap();
            match detect(&p, "report.xls") {
                Err(DetectError::Invalid {
                    platform: p2,
                    error,
                }) => {
                    assert_eq!(p2, platform, "{src}: {error}");
                    assert!(
                        error.to_string().contains("line 2, column"),
                        "{src}: {error}"
                    );
                }
                other => panic!("{src}: {other:?}"),
            }
        }
    }

    /// Only Apple Books reads gzip: a gzip file cut in its first lines, or holding another
    /// report, names Apple Books rather than the "not valid UTF-8" the text adapters see.
    #[test]
    fn gzip_files_are_apple_books_claims() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let gz = |text: &[u8]| {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(text).unwrap();
            enc.finish().unwrap()
        };
        let whole = gz(b"Start Date\tEnd Date\tExtended Partner Share\n");
        let other = gz(b"Title,Units\nA,1\n");
        for (name, bytes, needle) in [
            (
                "cut.txt.gz",
                &whole[..whole.len() - 6],
                "line 2: the gzip-compressed report is broken",
            ),
            (
                "other.txt.gz",
                &other[..],
                "the gzip-compressed file holds no Apple Books financial report",
            ),
        ] {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            match detect(&p, name) {
                Err(DetectError::Invalid { platform, error }) => {
                    assert_eq!(platform, Platform::AppleBooks, "{name}: {error}");
                    assert!(error.to_string().contains(needle), "{name}: {error}");
                }
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    /// The 2011 PubIt `.xls` gets the B&N message, not the one every other `.xls` gets.
    #[test]
    fn the_pubit_workbook_names_barnes_noble() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("PubIt_sales.xls");
        let mut bytes = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
        bytes.extend(std::iter::repeat_n(0, 512));
        bytes.extend("Total Publisher's Revenue".bytes().flat_map(|b| [b, 0]));
        std::fs::write(&p, bytes).unwrap();
        match detect(&p, "PubIt_sales.xls") {
            Err(DetectError::Invalid { platform, error }) => {
                assert_eq!(platform, Platform::BarnesNoble, "{error}");
                assert!(error.to_string().contains("2011 PubIt"), "{error}");
            }
            other => panic!("{other:?}"),
        }
    }

    /// Files of no layout stay unknown with the new adapters in the order too.
    #[test]
    fn unrelated_text_stays_unknown() {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in [
            ("notes.txt", "Dear diary,\ntoday I sold three books.\n"),
            (
                "table.html",
                "<html><table><tr><td>a</td><td>b</td></tr></table></html>",
            ),
            ("sales.tsv", "date\tamount\n2025-07-01\t4.99\n"),
        ] {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            let e = detect(&p, name).unwrap_err();
            assert!(matches!(e, DetectError::Unknown { .. }), "{name}: {e}");
        }
    }

    #[test]
    fn unknown_files_report_the_header_found() {
        let (p, what, header) = outcome("bad/gumroad_sales_bad_types.json");
        assert_eq!((p, what), (None, "unknown"));
        assert_eq!(header, "{");
        // A UTF-16 text of no known layout: no UTF-8 adapter claims it for its encoding alone.
        let dir0 = tempfile::tempdir().unwrap();
        let p16 = dir0.path().join("u16.csv");
        let mut bytes = vec![0xFF, 0xFE];
        for u in "Foo\tBar\n1\t2\n".encode_utf16() {
            bytes.extend_from_slice(&u.to_le_bytes());
        }
        std::fs::write(&p16, bytes).unwrap();
        let e = detect(&p16, "u16.csv").unwrap_err();
        assert!(matches!(e, DetectError::Unknown { .. }), "{e}");
        let (_, what, header) = outcome("bad/empty.csv");
        assert_eq!((what, header.as_str()), ("unknown", ""));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.csv");
        std::fs::write(&p, "a,b\tc\nx,y\tz\n").unwrap();
        let e = detect(&p, "x.csv").unwrap_err();
        assert!(matches!(e, DetectError::Unknown { .. }), "{e}");
        assert!(e.to_string().contains("found header: a,b c"), "{e}");
    }

    #[test]
    fn unknown_files_say_what_is_read_and_never_mention_an_inbox() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("payhip.json");
        std::fs::write(&json, "{\"type\": \"paid\"}\n").unwrap();
        let m = detect(&json, "f").unwrap_err().to_string();
        assert!(
            m.contains("it holds JSON") && !m.contains("found header"),
            "{m}"
        );
        assert!(
            m.contains(
                "amazon_kdp, draft2digital, smashwords, kobo, streetlib, google_play, \
                 apple_books, barnes_noble, ingramspark and gumroad"
            ) && m
                .contains("gumroad sales also come through its API (`salesingest enqueue gumroad`"),
            "{m}"
        );
        assert!(!m.contains("inbox"), "{m}");
    }

    /// Gumroad's Sales CSV export is read (FORMATS §14.7): both samples are recognised by
    /// content, and an export missing columns names Gumroad and what is missing instead of
    /// calling it unknown.
    #[test]
    fn gumroad_sales_exports_are_recognised_by_content() {
        for rel in [
            "gumroad/gumroad_sales_export.csv",
            "gumroad/gumroad_sales_export_tax_type.csv",
        ] {
            let dir = tempfile::tempdir().unwrap();
            // Named like another platform's report: the content decides.
            let p = dir.path().join("KDP_Orders.xlsx.csv");
            std::fs::copy(fixture(rel), &p).unwrap();
            let d = detect(&p, rel).unwrap();
            assert_eq!(d.platform, Platform::Gumroad, "{rel}");
            assert_eq!(d.summary.layout, gumroad::web_csv::LAYOUT);
            assert!(d.events > 0 && d.period.is_some(), "{rel}");
        }
        let dir = tempfile::tempdir().unwrap();
        let cut = dir.path().join("g.csv");
        std::fs::write(
            &cut,
            "Purchase ID,Item Name,Buyer Name,Purchase Date,Sale Price ($),Fees ($),Net Total ($)\nx,y,z,2025-01-01,1,0.1,0.9\n",
        )
        .unwrap();
        match detect(&cut, "g.csv") {
            Err(DetectError::Invalid { platform, error }) => {
                assert_eq!(platform, Platform::Gumroad, "{error}");
                let m = error.to_string();
                assert!(
                    m.contains("missing columns") && m.contains("`Quantity`"),
                    "{m}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
