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
pub mod migrate;
pub mod prune;
pub mod retry;
pub mod run_worker;
pub mod sales;
pub mod schedules;
pub mod serve;
pub mod status;

use std::ffi::OsStr;
use std::path::PathBuf;

use anyhow::Result;
use clap::builder::{PossibleValue, TypedValueParser};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::{self, Settings};
use crate::model::Platform;
use crate::output::Printer;
use crate::store::{OpenOptions, Store};

/// Exit codes and what they mean: `--help`, the man page and README say the same.
pub const EXIT_CODE_TABLE: [(i32, &str); 8] = [
    (0, "success (run-worker: no job ended failed in this run)"),
    (1, "error: database, I/O, configuration"),
    (2, "usage error"),
    (3, "run-worker: at least one job ended failed in this run"),
    (4, "not found (unknown job id)"),
    (
        5,
        "input rejected (unreadable file, unrecognised or corrupt format, invalid payload)",
    ),
    (
        6,
        "unhealthy: status --check found stale data, failed jobs or an overdue payout; doctor found a problem",
    ),
    (
        7,
        "the job's state does not allow it (cancel a completed job, retry a job that did not fail)",
    ),
];

fn exit_codes_help() -> String {
    let mut s = String::from("Exit codes:");
    for (code, meaning) in EXIT_CODE_TABLE {
        s.push_str(&format!("\n  {code}  {meaning}"));
    }
    s
}

/// The heading of the options every subcommand takes, listed after its own.
pub(crate) const GLOBAL: &str = "Global options";

/// Gather a self-published author's sales from KDP, Kobo, Google Play, Apple Books, B&N Press,
/// IngramSpark, StreetLib, Gumroad, Smashwords and Draft2Digital into one local SQLite database,
/// through a crash-safe job queue that cron drives.
#[derive(Debug, Parser)]
#[command(name = "salesingest", version, after_help = exit_codes_help(), propagate_version = true)]
pub struct Cli {
    /// The database: a SQLite file, or a postgres:// URL for workers on several hosts
    /// [default: <XDG data dir>/salesingest/salesingest.db]
    #[arg(long, global = true, env = "SALESINGEST_DB", hide_env_values = true, value_name = "PATH|URL", help_heading = GLOBAL)]
    pub db: Option<String>,

    /// The TOML config file [default: <XDG config dir>/salesingest/config.toml]
    #[arg(long, global = true, env = "SALESINGEST_CONFIG", hide_env_values = true, value_name = "PATH", help_heading = GLOBAL)]
    pub config: Option<PathBuf>,

    /// Machine-readable JSON on stdout
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,

    /// Print nothing but errors
    #[arg(short, long, global = true, conflicts_with = "verbose", help_heading = GLOBAL)]
    pub quiet: bool,

    /// Say more on stderr (repeatable)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = GLOBAL)]
    pub verbose: u8,

    /// Never use colour (also: the NO_COLOR environment variable)
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub no_color: bool,

    /// Global flags given on the command line (not from the environment), by id.
    #[arg(skip)]
    pub given: Vec<&'static str>,

    #[command(subcommand)]
    pub command: Command,
}

/// Parse the command line. Usage errors (and `--help`) come back as clap errors, coloured only
/// when neither `--no-color` nor `NO_COLOR` asks otherwise.
///
/// # Errors
/// clap's error: print it and exit 2 (0 for `--help` and `--version`).
pub fn parse() -> Result<Cli, clap::Error> {
    parse_from(std::env::args_os())
}

/// `parse` for the given arguments (the first is the program name).
///
/// # Errors
/// As `parse`.
pub fn parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    // Decided before parsing, so that the error about a bad command line obeys it too.
    let no_color = config::no_color_env()
        || args
            .iter()
            .skip(1)
            .take_while(|a| *a != "--")
            .any(|a| a == "--no-color");
    let cmd = Cli::command().color(if no_color {
        clap::ColorChoice::Never
    } else {
        clap::ColorChoice::Auto
    });
    let mut cmd_for_errors = cmd.clone();
    let matches = cmd.try_get_matches_from(args)?;
    let mut cli = Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut cmd_for_errors))?;
    let mut m = &matches;
    loop {
        for id in ["db", "config", "json", "quiet", "verbose", "no_color"] {
            if m.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
                && !cli.given.contains(&id)
            {
                cli.given.push(id);
            }
        }
        match m.subcommand() {
            Some((_, sub)) => m = sub,
            None => break,
        }
    }
    if let Command::Man(_) | Command::Completions(_) = &cli.command {
        let name = if matches!(cli.command, Command::Man(_)) {
            "man"
        } else {
            "completions"
        };
        if let Some(flag) = ["db", "config", "json"]
            .into_iter()
            .find(|f| cli.given.contains(f))
        {
            let flag = format!("--{flag}");
            let mut err = clap::Error::raw(
                ErrorKind::ArgumentConflict,
                format!(
                    "`{flag}` means nothing to `salesingest {name}`, which prints the same text \
                     whatever the database, config or output mode: drop it\n"
                ),
            );
            err = err.with_cmd(&cmd_for_errors);
            return Err(err);
        }
    }
    Ok(cli)
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Queue an import: report files (KDP, Kobo, Google Play, StreetLib, Smashwords, Draft2Digital, Gumroad's Sales CSV…), a sync for Gumroad
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
    /// Cancel a queued or retrying job (a running one stops at its next heartbeat); dismiss a
    /// failed one so that status --check stops reporting it
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
    /// Copy a SQLite store into an empty PostgreSQL database (workers on several hosts), verified
    Migrate(migrate::Args),
    /// Check the installation: database, permissions, config, token, stuck jobs and runs
    Doctor(doctor::Args),
    /// Print the man page (roff)
    Man(man::Args),
    /// Sales reports: summaries, exports and charts (per month, platform, title, ...)
    Sales(sales::Args),
    /// Serve the Gumroad Ping receiver, the JSON API and the dashboard over HTTP
    Serve(serve::Args),
}

/// What every subcommand gets.
pub struct Ctx {
    pub settings: Settings,
    pub out: Printer,
}

impl Ctx {
    /// Open the store, creating it (a SQLite file) on first use: for the commands that write
    /// (`enqueue`, `import`, `run-worker`).
    ///
    /// # Errors
    /// When it cannot be opened or migrated.
    pub fn open_db(&self) -> Result<Box<dyn Store>> {
        crate::store::open(&self.settings.db, &self.open_options())
    }

    /// Open the store only if it exists: for every other command, so that a mistyped `--db`
    /// says so instead of creating an empty database and reporting nothing.
    ///
    /// # Errors
    /// Exit 1 "no database at …" when there is none, or when it cannot be opened or migrated.
    pub fn open_existing_db(&self) -> Result<Box<dyn Store>> {
        if let crate::store::Location::Sqlite(path) = &self.settings.db {
            if !path.exists() {
                return Err(coded(
                    1,
                    format!(
                        "no database at `{}`: nothing was imported there yet. Run `salesingest \
                         import FILE...` (or `salesingest enqueue <platform> --file FILE`), then \
                         `salesingest run-worker`, to create it; or point --db / SALESINGEST_DB \
                         at your database",
                        path.display()
                    ),
                ));
            }
        }
        crate::store::open_existing(&self.settings.db, &self.open_options())
    }

    /// How this command opens the store.
    pub fn open_options(&self) -> OpenOptions {
        OpenOptions {
            durability: self.settings.queue.durability,
            pool_size: self.settings.pg_pool_size,
        }
    }
}

pub use crate::exit::{
    coded, exit_code_of, Coded, EXIT_JOBS_FAILED, EXIT_NOT_FOUND, EXIT_REJECTED, EXIT_STATE,
    EXIT_UNHEALTHY,
};

/// Run a parsed command line; returns the exit code for success paths that are not 0.
///
/// # Errors
/// Any failure, carrying its exit code through `Coded`. An error that says the database file
/// is damaged also names it and says what to do.
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
    let location = settings.db.clone();
    let out = Printer::new(cli.json, cli.quiet, cli.verbose, settings.color);
    let ctx = Ctx { settings, out };
    let res = match cli.command {
        Command::Enqueue(a) => enqueue::run(&a, &ctx),
        Command::RunWorker(a) => run_worker::run(&a, &ctx),
        Command::Status(a) => status::run(&a, &ctx),
        Command::Logs(a) => logs::run(&a, &ctx),
        Command::Jobs(a) => jobs::run(&a, &ctx),
        Command::Retry(a) => retry::run(&a, &ctx),
        Command::Cancel(a) => cancel::run(&a, &ctx),
        Command::Import(a) => import::run(&a, &ctx),
        Command::Schedules(a) => schedules::run(&a, &ctx),
        Command::Prune(a) => prune::run(&a, &ctx),
        Command::Backup(a) => backup::run(&a, &ctx),
        Command::Migrate(a) => migrate::run(&a, &ctx),
        Command::Sales(a) => sales::run(&a, &ctx),
        Command::Serve(a) => serve::run(&a, &ctx),
        // Handled before the settings are loaded.
        Command::Completions(_) | Command::Man(_) | Command::Doctor(_) => Err(anyhow::anyhow!(
            "internal error: a command dispatched twice"
        )),
    };
    res.map_err(|e| match crate::store::damaged_message(&location, &e) {
        Some(what_to_do) => e.context(what_to_do),
        None => e,
    })
}

/// A clap value parser for names from a fixed list: the list is offered to `--help`, the man
/// page and shell completion, and a name outside it is a usage error that lists them.
#[derive(Clone, Copy)]
pub struct Named<T: 'static> {
    names: fn() -> Vec<&'static str>,
    parse: fn(&str) -> Option<T>,
}

impl<T: Clone + Send + Sync + 'static> TypedValueParser for Named<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        let text = value.to_string_lossy();
        (self.parse)(&text).ok_or_else(|| {
            let mut err = clap::Error::new(ErrorKind::InvalidValue).with_cmd(cmd);
            err.insert(
                ContextKind::InvalidArg,
                ContextValue::String(arg.map_or_else(|| "...".into(), ToString::to_string)),
            );
            err.insert(ContextKind::InvalidValue, ContextValue::String(text.into()));
            err.insert(
                ContextKind::ValidValue,
                ContextValue::Strings((self.names)().into_iter().map(String::from).collect()),
            );
            err
        })
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new((self.names)().into_iter().map(PossibleValue::new)))
    }
}

/// Platform names for clap: `Platform::ALL` (so a new platform is offered everywhere at once);
/// the aliases `Platform::parse` knows (`kdp`, `d2d`, `kwl`, `google`, `apple`, `bn`, `ingram`) are
/// accepted too.
pub fn platform_arg() -> Named<Platform> {
    Named {
        names: || Platform::ALL.iter().map(|p| p.as_str()).collect(),
        parse: Platform::parse,
    }
}

/// Job state names for clap (`JobState::ALL`).
pub fn state_arg() -> Named<crate::queue::JobState> {
    Named {
        names: || {
            crate::queue::JobState::ALL
                .iter()
                .map(|s| s.as_str())
                .collect()
        },
        parse: crate::queue::JobState::parse,
    }
}

/// `sales summary --by` keys for clap (`Dim::ALL`).
pub fn dim_arg() -> Named<crate::store::Dim> {
    use crate::store::Dim;
    Named {
        names: || Dim::ALL.iter().map(|d| d.name()).collect(),
        parse: Dim::parse,
    }
}
