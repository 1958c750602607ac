//! All printing: JSON views (serialise-only structs), comfy-table tables, progress bars.
//!
//! Owns: stdout and stderr. Must not: query the database or decide exit codes.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{IsTerminal, Write};

use comfy_table::{
    presets, Cell, CellAlignment, ColumnConstraint, ContentArrangement, Table, Width,
};
use serde::Serialize;

use crate::queue::Millis;

mod sales;
pub use sales::*;

/// RFC 3339 UTC with seconds: `2026-11-28T16:05:00Z`.
pub fn rfc3339(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// RFC 3339 of an optional time.
pub fn rfc3339_opt(ms: Option<Millis>) -> Option<String> {
    ms.map(rfc3339)
}

/// The width tables and charts must fit in: the terminal's; when stdout is not a terminal, the
/// `COLUMNS` environment variable if set; otherwise no limit (`None`).
pub fn output_width() -> Option<usize> {
    if std::io::stdout().is_terminal() {
        if let Some((w, _)) = terminal_size::terminal_size().filter(|(w, _)| w.0 > 0) {
            return Some(usize::from(w.0));
        }
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|w| *w > 0)
}

/// How a table column may be narrowed to fit the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Never wrapped (numbers, ids, times, states): shown whole, or hidden.
    Whole,
    /// Text that may wrap (at spaces where it can), down to this many columns, but never
    /// narrower than the longest word of its header.
    Wrap(u16),
}

/// Make `t` fit `output_width()`: `Whole` columns keep their width, `Wrap` columns share what
/// is left; when even that is too wide, columns are hidden in `drop_order` until it fits.
/// Returns the headers of the hidden columns (empty when nothing was hidden or there is no
/// width to fit).
pub fn fit_table(t: &mut Table, fits: &[Fit], drop_order: &[usize]) -> Vec<String> {
    let Some(width) = output_width() else {
        return Vec::new();
    };
    let headers: Vec<String> = t
        .header()
        .map(|h| h.cell_iter().map(Cell::content).collect())
        .unwrap_or_default();
    let content = t.column_max_content_widths();
    let longest_word = |i: usize| -> u16 {
        headers.get(i).map_or(1, |h| {
            h.split_whitespace()
                .map(|w| u16::try_from(w.chars().count()).unwrap_or(u16::MAX))
                .max()
                .unwrap_or(1)
        })
    };
    let narrowest = |i: usize| -> usize {
        let c = content.get(i).copied().unwrap_or(1);
        let w = match fits.get(i).copied().unwrap_or(Fit::Whole) {
            Fit::Whole => c,
            Fit::Wrap(min) => c.min(min.max(longest_word(i))),
        };
        // One space of padding on either side and one border.
        usize::from(w) + 3
    };
    let mut shown: Vec<bool> = vec![true; content.len()];
    let total = |shown: &[bool]| -> usize {
        1 + (0..shown.len())
            .filter(|i| shown[*i])
            .map(narrowest)
            .sum::<usize>()
    };
    let mut hidden = Vec::new();
    for &i in drop_order {
        if total(&shown) <= width {
            break;
        }
        if i < shown.len() && shown[i] {
            shown[i] = false;
            hidden.push(headers.get(i).cloned().unwrap_or_default());
        }
    }
    for (i, col) in t.column_iter_mut().enumerate() {
        let fit = fits.get(i).copied().unwrap_or(Fit::Whole);
        col.set_constraint(if !shown.get(i).copied().unwrap_or(true) {
            ColumnConstraint::Hidden
        } else {
            match fit {
                Fit::Whole => ColumnConstraint::ContentWidth,
                Fit::Wrap(min) => {
                    let c = content.get(i).copied().unwrap_or(1);
                    ColumnConstraint::LowerBoundary(Width::Fixed(c.min(min.max(longest_word(i)))))
                }
            }
        });
    }
    t.set_width(u16::try_from(width).unwrap_or(u16::MAX));
    hidden
}

/// How a command prints.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    pub json: bool,
    pub quiet: bool,
    pub verbose: u8,
    pub color: bool,
}

impl Printer {
    /// Build from the global flags; colour only on a terminal.
    pub fn new(json: bool, quiet: bool, verbose: u8, color_allowed: bool) -> Printer {
        Printer {
            json,
            quiet,
            verbose,
            color: color_allowed && std::io::stdout().is_terminal(),
        }
    }

    /// Whether stdout is a terminal (humans) rather than cron or a pipe.
    pub fn stdout_is_tty() -> bool {
        std::io::stdout().is_terminal()
    }

    /// Whether progress bars may be drawn.
    pub fn progress_allowed(&self) -> bool {
        !self.json && !self.quiet && std::io::stderr().is_terminal()
    }

    /// Print one JSON value (an object or an array) on stdout.
    pub fn json<T: Serialize + ?Sized>(&self, value: &T) {
        let mut out = std::io::stdout().lock();
        let _ = serde_json::to_writer_pretty(&mut out, value);
        let _ = writeln!(out);
    }

    /// Print one JSON value on one line (for streams of objects such as `enqueue`).
    pub fn json_line<T: Serialize + ?Sized>(&self, value: &T) {
        let mut out = std::io::stdout().lock();
        let _ = serde_json::to_writer(&mut out, value);
        let _ = writeln!(out);
    }

    /// A line of human output on stdout (suppressed by `--quiet`).
    pub fn line(&self, text: &str) {
        if !self.quiet {
            stdout_line(text);
        }
    }

    /// A table on stdout.
    pub fn table(&self, table: &Table) {
        if !self.quiet {
            stdout_line(&table.to_string());
        }
    }

    /// A table fitted to the terminal (`fit_table`), with a line naming the columns that did
    /// not fit.
    pub fn fitted_table(&self, mut table: Table, fits: &[Fit], drop_order: &[usize]) {
        let hidden = fit_table(&mut table, fits, drop_order);
        self.table(&table);
        if !hidden.is_empty() {
            let note = format!(
                "(not shown at this width: {}; --json has every field)",
                hidden.join(", ")
            );
            for line in wrap(&note, output_width().unwrap_or(usize::MAX)) {
                self.line(&line);
            }
        }
    }

    /// What a command wrote (a file): said on a terminal; under cron (stdout not a terminal)
    /// only with `-v`, on stderr, so that success stays quiet; never with `--quiet`.
    pub fn done(&self, text: &str) {
        if self.quiet {
            return;
        }
        if Self::stdout_is_tty() {
            stdout_line(text);
        } else {
            self.info(text);
        }
    }

    /// A warning on stderr (suppressed by `--quiet`).
    pub fn warn(&self, text: &str) {
        if !self.quiet {
            eprintln!("{}: {text}", self.paint("warning", "33"));
        }
    }

    /// A diagnostic on stderr, shown with `-v`.
    pub fn info(&self, text: &str) {
        if self.verbose > 0 && !self.quiet {
            eprintln!("{text}");
        }
    }

    /// A line on stderr that is always shown (failures under cron).
    pub fn alert(&self, text: &str) {
        eprintln!("{text}");
    }

    /// A line on stdout that is always shown, even with `--quiet` (`status --check` problems).
    pub fn alert_stdout(&self, text: &str) {
        stdout_line(text);
    }

    /// The final error line.
    pub fn error(&self, text: &str) {
        let color = self.color && std::io::stderr().is_terminal();
        if color {
            eprintln!("\x1b[1;31merror\x1b[0m: {text}");
        } else {
            eprintln!("error: {text}");
        }
    }

    /// Colour `text` with an ANSI SGR code when colour is on.
    pub fn paint(&self, text: &str, sgr: &str) -> String {
        if self.color {
            format!("\x1b[{sgr}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// A new table with our style: UTF-8 borders on a terminal, ASCII otherwise.
pub fn new_table(headers: &[&str]) -> Table {
    let mut t = Table::new();
    if std::io::stdout().is_terminal() {
        t.load_preset(presets::UTF8_FULL_CONDENSED);
    } else {
        t.load_preset(presets::ASCII_MARKDOWN);
    }
    t.set_content_arrangement(ContentArrangement::Dynamic);
    t.set_header(headers.iter().map(Cell::new));
    t
}

/// `text` in lines of at most `width` columns, broken at spaces (a longer word keeps its line).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines
}

/// Why `path` cannot be written as a new output file, if it cannot: its folder is missing or
/// not a folder, it is a folder, or it exists and `force` is off. One rule for every file a
/// command writes (`backup`, `sales export -o`, `sales chart --svg`).
pub fn output_file_problem(path: &std::path::Path, force: bool) -> Option<String> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| std::path::Path::new("."));
    if !parent.exists() {
        return Some(format!(
            "cannot write `{}`: folder `{}` does not exist; create it first (`mkdir -p {}`)",
            path.display(),
            parent.display(),
            parent.display()
        ));
    }
    if !parent.is_dir() {
        return Some(format!(
            "cannot write `{}`: `{}` is not a folder",
            path.display(),
            parent.display()
        ));
    }
    if path.is_dir() {
        return Some(format!("`{}` is a folder: name a file", path.display()));
    }
    if path.exists() && !force {
        return Some(format!(
            "`{}` already exists: choose another name, or pass --force to replace it",
            path.display()
        ));
    }
    None
}

/// Create the output file `path` under the rule of `output_file_problem` (without `force`, an
/// existing file is refused even if it appears meanwhile).
///
/// # Errors
/// The problem, or the I/O error, naming the file.
pub fn create_output_file(path: &std::path::Path, force: bool) -> anyhow::Result<std::fs::File> {
    if let Some(problem) = output_file_problem(path, force) {
        anyhow::bail!(problem);
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!(
                "`{}` already exists: choose another name, or pass --force to replace it",
                path.display()
            )
        } else {
            anyhow::anyhow!("cannot create `{}`: {e}", path.display())
        }
    })
}

/// A right-aligned cell (numbers, money).
pub fn num_cell(text: impl ToString) -> Cell {
    Cell::new(text.to_string()).set_alignment(CellAlignment::Right)
}

/// A progress bar on stderr, or nothing.
pub struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    /// A hidden progress bar.
    pub fn hidden() -> Progress {
        Progress(None)
    }

    /// A byte-count bar of `total` bytes (the caller decides whether bars are allowed).
    pub fn bytes(total: u64, label: &str) -> Progress {
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(label.to_string());
        Progress(Some(bar))
    }

    /// A counter spinner (pages, sales).
    pub fn spinner(label: &str) -> Progress {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message(label.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Progress(Some(bar))
    }

    /// Set the position.
    pub fn set(&self, pos: u64) {
        if let Some(b) = &self.0 {
            b.set_position(pos);
        }
    }

    /// Set the message.
    pub fn message(&self, msg: String) {
        if let Some(b) = &self.0 {
            b.set_message(msg);
        }
    }

    /// Remove the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

// ----- JSON views (DESIGN §3); field names are a contract -----

/// `enqueue --json`: one object per job.
#[derive(Debug, Serialize)]
pub struct EnqueueView {
    pub id: i64,
    pub platform: String,
    pub status: String,
    pub run_at: String,
    pub deduplicated: bool,
    pub input: serde_json::Value,
}

/// Event counts of a job.
#[derive(Debug, Serialize, Clone, Default)]
pub struct EventsView {
    pub inserted: u64,
    pub updated: u64,
    pub removed: u64,
}

/// One job in `run-worker --json`.
#[derive(Debug, Serialize)]
pub struct RunJobView {
    pub id: i64,
    pub platform: String,
    pub status: String,
    pub attempt: i64,
    pub error: Option<String>,
    pub events: EventsView,
}

/// `run-worker --json`.
#[derive(Debug, Serialize)]
pub struct RunView {
    pub run_id: i64,
    pub started_at: String,
    pub finished_at: String,
    pub claimed: u64,
    pub completed: u64,
    pub retrying: u64,
    pub failed: u64,
    pub rescued: u64,
    pub jobs: Vec<RunJobView>,
    /// Schedules that fired before claiming.
    pub scheduled: Vec<ScheduledView>,
    /// Inbox files handled in this run (new content only).
    pub inbox: Vec<FileView>,
}

/// A schedule that fired in a `run-worker` run.
#[derive(Debug, Serialize, Clone)]
pub struct ScheduledView {
    pub name: String,
    pub platform: String,
    pub job_id: i64,
    pub deduplicated: bool,
}

/// One file of `import --json` or of the inbox scan in `run-worker --json`.
#[derive(Debug, Serialize, Clone)]
pub struct FileView {
    pub file: String,
    pub sha256: Option<String>,
    /// Detected platform (null when the layout is unknown).
    pub platform: Option<String>,
    pub layout: Option<String>,
    pub period_start: Option<String>,
    pub period_end: Option<String>,
    pub rows: u64,
    /// `queued`, `deduplicated`, `already_imported`, `rejected` or `unknown`.
    pub status: String,
    pub job_id: Option<i64>,
    /// Why it was not enqueued (for `unknown`, the header that was found).
    pub message: Option<String>,
}

/// One line of `schedules --json`.
#[derive(Debug, Serialize)]
pub struct ScheduleView {
    pub name: String,
    pub platform: String,
    pub every: String,
    pub every_seconds: i64,
    pub last_enqueued_at: Option<String>,
    pub next_run_at: String,
    pub due: bool,
    pub last_job_id: Option<i64>,
    pub last_job_status: Option<String>,
    pub last_success_at: Option<String>,
}

/// One problem of `status --check --json`.
#[derive(Debug, Serialize, Clone)]
pub struct ProblemView {
    /// `stale_sync`, `failed_job` or `kdp_not_final`.
    pub kind: String,
    pub platform: String,
    pub message: String,
    /// The job, for `failed_job`.
    pub job_id: Option<i64>,
    /// The month, for `kdp_not_final`.
    pub month: Option<String>,
}

/// One check of `doctor --json`.
#[derive(Debug, Serialize, Clone)]
pub struct CheckView {
    pub check: String,
    /// `ok`, `warn` or `fail`.
    pub status: String,
    pub detail: String,
}

/// `doctor --json`.
#[derive(Debug, Serialize)]
pub struct DoctorView {
    pub healthy: bool,
    pub checks: Vec<CheckView>,
}

/// One attempt in `status --json`.
#[derive(Debug, Serialize)]
pub struct AttemptView {
    pub attempt: i64,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub outcome: Option<String>,
    pub error: Option<String>,
    pub worker: String,
}

/// `status <id> --json`.
#[derive(Debug, Serialize)]
pub struct StatusView {
    pub id: i64,
    pub platform: String,
    pub status: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub priority: i64,
    pub created_at: String,
    pub run_at: String,
    pub finished_at: Option<String>,
    pub last_error: Option<String>,
    pub cancel_requested: bool,
    pub input: serde_json::Value,
    pub result: Option<serde_json::Value>,
    pub attempt_history: Vec<AttemptView>,
}

/// One row of `jobs --json`.
#[derive(Debug, Serialize)]
pub struct JobListView {
    pub id: i64,
    pub platform: String,
    pub status: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub created_at: String,
    pub run_at: String,
    pub finished_at: Option<String>,
    pub last_error: Option<String>,
    pub input: serde_json::Value,
}

/// One row of `logs --json`.
#[derive(Debug, Serialize)]
pub struct LogView {
    pub id: i64,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub host: String,
    pub pid: i64,
    pub claimed: i64,
    pub completed: i64,
    pub retrying: i64,
    pub failed: i64,
    pub rescued: i64,
    pub exit_code: Option<i64>,
    /// `finished`, `running`, or `killed` (never finished and its process is gone).
    pub state: String,
}

/// Royalty of one currency.
#[derive(Debug, Serialize, Clone)]
pub struct RoyaltyView {
    pub currency: String,
    pub royalty: String,
    pub units: i64,
    pub kenp_pages: i64,
    pub events: i64,
}

/// One platform in `status --json` without an id.
#[derive(Debug, Serialize)]
pub struct OverviewView {
    pub platform: String,
    pub events: i64,
    pub royalty: Vec<RoyaltyView>,
    pub first_period: Option<String>,
    pub last_period: Option<String>,
    pub final_through: Option<String>,
    pub estimated_through: Option<String>,
    pub last_success_at: Option<String>,
    pub last_success_job: Option<i64>,
    pub queued: i64,
    pub processing: i64,
    pub retrying: i64,
    pub failed: i64,
    pub sync_cursor: Option<String>,
}

/// Write `text` to stdout. A reader that went away (`salesingest jobs | head`) ends the
/// command quietly, as `head` expects, instead of a panic from `println!`; the work the command
/// did is already committed by then.
pub fn stdout_write(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

/// `stdout_write` of one line.
pub fn stdout_line(text: &str) {
    stdout_write(&format!("{text}\n"));
}
