//! The command line: global flags, the subcommand enum, the shared context, and exit codes.
//!
//! Owns: clap definitions and dispatch. Each subcommand lives in its own file with its `Args`
//! and a `run(args, ctx)`. Must not: parse reports or write SQL.

pub mod backup;
pub mod cancel;
pub mod check;
pub mod completions;
pub mod doctor;
pub mod enqueue;
pub mod import;
pub mod jobs;
pub mod logs;
pub mod man;
pub mod prune;
pub mod retry;
pub mod run_worker;
pub mod sales;
pub mod schedules;
pub mod status;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::config::{self, Settings};
use crate::output::Printer;
use crate::store::{OpenOptions, Store};

const EXIT_CODES: &str = "\
Exit codes:
  0  success (run-worker: no job ended failed in this run)
  1  error: database, I/O, configuration
  2  usage error
  3  run-worker: at least one job ended failed in this run
  4  not found (unknown job id)
  5  input rejected (unreadable file, unrecognised or corrupt format, invalid payload)
  6  unhealthy: status --check found stale data or failed jobs; doctor found a problem";

/// Gather a self-published author's sales from KDP, Gumroad, Smashwords and Draft2Digital into
/// one local SQLite database, through a crash-safe job queue that cron drives.
#[derive(Debug, Parser)]
#[command(name = "salesingest", version, after_help = EXIT_CODES, propagate_version = true)]
pub struct Cli {
    /// The database: a SQLite file, or a postgres:// URL for workers on several hosts
    /// [default: <XDG data dir>/salesingest/salesingest.db]
    #[arg(long, global = true, env = "SALESINGEST_DB", value_name = "PATH|URL")]
    pub db: Option<String>,

    /// The TOML config file [default: <XDG config dir>/salesingest/config.toml]
    #[arg(long, global = true, env = "SALESINGEST_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Machine-readable JSON on stdout
    #[arg(long, global = true)]
    pub json: bool,

    /// Print nothing but errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Say more on stderr (repeatable)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Never use colour (also: the NO_COLOR environment variable)
    #[arg(long, global = true)]
    pub no_color: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Queue an import: report files for KDP, Smashwords and Draft2Digital, a sync for Gumroad
    Enqueue(enqueue::Args),
    /// Process up to N due jobs, then exit (what cron runs every 5 minutes)
    RunWorker(run_worker::Args),
    /// One job with its attempt history; without an id, the per-platform overview
    Status(status::Args),
    /// The run-worker log, newest first
    Logs(logs::Args),
    /// List jobs, newest first
    Jobs(jobs::Args),
    /// Revive a failed (or cancelled) job so the next run-worker tries it again
    Retry(retry::Args),
    /// Cancel a queued or retrying job (a running job stops at its next heartbeat)
    Cancel(cancel::Args),
    /// Print a shell completion script
    Completions(completions::Args),
    /// Queue report files or folders, recognising each file's platform by its content
    Import(import::Args),
    /// List the [[schedule]] entries of the config with their last and next run
    Schedules(schedules::Args),
    /// Delete old finished jobs and cron runs now (never sales)
    Prune(prune::Args),
    /// Copy the database to FILE with SQLite's online backup (safe while workers run)
    Backup(backup::Args),
    /// Check the installation: database, permissions, config, token, stuck jobs and runs
    Doctor(doctor::Args),
    /// Print the man page (roff)
    Man(man::Args),
    /// Sales reports: summaries, exports and charts (per month, platform, title, ...)
    Sales(sales::Args),
}

/// What every subcommand gets.
pub struct Ctx {
    pub settings: Settings,
    pub out: Printer,
}

impl Ctx {
    /// Open the store (a SQLite file is created on first use).
    ///
    /// # Errors
    /// When it cannot be opened or migrated.
    pub fn open_db(&self) -> Result<Box<dyn Store>> {
        crate::store::open(&self.settings.db, &self.open_options())
    }

    /// How this command opens the store.
    pub fn open_options(&self) -> OpenOptions {
        OpenOptions {
            durability: self.settings.queue.durability,
        }
    }
}

/// An error that carries its exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Coded {
    pub code: i32,
    pub message: String,
}

/// Build an error with an exit code.
pub fn coded(code: i32, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Coded {
        code,
        message: message.into(),
    })
}

/// Exit code: input rejected.
pub const EXIT_REJECTED: i32 = 5;
/// Exit code: not found.
pub const EXIT_NOT_FOUND: i32 = 4;
/// Exit code: a job failed in this run.
pub const EXIT_JOBS_FAILED: i32 = 3;
/// Exit code: `status --check` found stale data, or `doctor` found a problem.
pub const EXIT_UNHEALTHY: i32 = 6;

/// The exit code for an error: its `Coded` code, else 1.
pub fn exit_code_of(err: &anyhow::Error) -> i32 {
    err.chain()
        .find_map(|e| e.downcast_ref::<Coded>().map(|c| c.code))
        .unwrap_or(1)
}

/// Run a parsed command line; returns the exit code for success paths that are not 0.
///
/// # Errors
/// Any failure, carrying its exit code through `Coded`.
pub fn run(cli: Cli) -> Result<i32> {
    if let Command::Completions(args) = &cli.command {
        return completions::run(args);
    }
    if let Command::Man(args) = &cli.command {
        return man::run(args);
    }
    if let Command::Doctor(args) = &cli.command {
        // Doctor loads the settings itself: a broken config is one of its findings.
        return doctor::run(args, &cli);
    }
    let settings = config::load(cli.db.as_deref(), cli.config.clone(), cli.no_color)?;
    let out = Printer::new(cli.json, cli.quiet, cli.verbose, settings.color);
    let ctx = Ctx { settings, out };
    match cli.command {
        Command::Enqueue(a) => enqueue::run(&a, &ctx),
        Command::RunWorker(a) => run_worker::run(&a, &ctx),
        Command::Status(a) => status::run(&a, &ctx),
        Command::Logs(a) => logs::run(&a, &ctx),
        Command::Jobs(a) => jobs::run(&a, &ctx),
        Command::Retry(a) => retry::run(&a, &ctx),
        Command::Cancel(a) => cancel::run(&a, &ctx),
        Command::Completions(a) => completions::run(&a),
        Command::Import(a) => import::run(&a, &ctx),
        Command::Schedules(a) => schedules::run(&a, &ctx),
        Command::Prune(a) => prune::run(&a, &ctx),
        Command::Backup(a) => backup::run(&a, &ctx),
        // Handled before the settings are loaded.
        Command::Doctor(_) => Err(anyhow::anyhow!("internal error: doctor dispatched twice")),
        Command::Man(a) => man::run(&a),
        Command::Sales(a) => sales::run(&a, &ctx),
    }
}

/// Parse a platform name or alias for clap.
///
/// # Errors
/// A message listing the platforms.
pub fn parse_platform(s: &str) -> Result<crate::model::Platform, String> {
    crate::model::Platform::parse(s).ok_or_else(|| {
        format!("unknown platform `{s}`: expected amazon_kdp (kdp), draft2digital (d2d), gumroad or smashwords")
    })
}
