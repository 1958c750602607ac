//! Platform adapters: bytes or HTTP in, normalised `SaleEvent`s out.
//!
//! Owns: format detection and parsing, typed errors that say whether a failure is worth
//! retrying (`PlatformError`), and the `EventSink` through which events leave an adapter.
//! Must not: write SQL, print, read the environment or know the queue.

pub mod csvutil;
pub mod draft2digital;
pub mod gumroad;
pub mod kdp;
pub mod smashwords;

use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::model::{Platform, SaleEvent};

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
        Platform::Gumroad => Err(PlatformError::Rejected(InputError::file(
            display_name,
            "gumroad has no report files: use `salesingest enqueue gumroad` (API sync) or `--ping-file`",
        ))),
    }
}

/// Parse one Gumroad Ping body (checked at enqueue, ingested by the worker).
///
/// # Errors
/// `Rejected` when the body is not a valid Ping.
pub fn parse_ping(body: &[u8], display_name: &str) -> Result<SaleEvent, PlatformError> {
    gumroad::parse_ping(body, display_name)
}
