//! `salesingest doctor`: check the installation (database, permissions, config, token, stale
//! jobs and runs) and print a checklist. Works even when the config file is broken.

use std::path::Path;

use anyhow::Result;

use super::{Cli, EXIT_UNHEALTHY};
use crate::config::{self, Settings};
use crate::output::{rfc3339, CheckView, DoctorView, Printer};
use crate::queue::{hostname, owner_is_dead};
use crate::store::{DiagnosticStatus, Location, OpenOptions};

/// Check the installation.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Checks: config file parses; Gumroad token present when needed (never \
printed); database integrity and WAL journal mode; owner-only permissions of the database, its \
folder and the config file; the database folder takes new files (the -wal and -shm files); inbox folder; jobs stuck in processing (lease expired or worker \
dead); cron runs that never finished (killed). Exit 0 when nothing failed, 6 otherwise."
)]
pub struct Args {}

#[derive(Default)]
struct Checks(Vec<CheckView>);

impl Checks {
    fn add(&mut self, check: &str, status: &str, detail: impl Into<String>) {
        self.0.push(CheckView {
            check: check.to_string(),
            status: status.to_string(),
            detail: detail.into(),
        });
    }
    fn ok(&mut self, check: &str, detail: impl Into<String>) {
        self.add(check, "ok", detail);
    }
    fn warn(&mut self, check: &str, detail: impl Into<String>) {
        self.add(check, "warn", detail);
    }
    fn fail(&mut self, check: &str, detail: impl Into<String>) {
        self.add(check, "fail", detail);
    }
}

/// Run `doctor` (it loads the settings itself, so a broken config is a finding, not a crash).
///
/// # Errors
/// Only when even the database path cannot be found.
pub fn run(_args: &Args, cli: &Cli) -> Result<i32> {
    let out = Printer::new(
        cli.json,
        cli.quiet,
        cli.verbose,
        !cli.no_color && !config::no_color_env(),
    );
    let mut c = Checks::default();
    let settings = match config::load(cli.db.as_deref(), cli.config.clone(), cli.no_color) {
        Ok(s) => {
            c.ok(
                "config",
                match &s.config_path {
                    Some(p) if p.exists() => format!("`{}` parses", p.display()),
                    _ => "no config file (defaults)".to_string(),
                },
            );
            Some(s)
        }
        Err(e) => {
            c.fail("config", format!("{e:#}"));
            None
        }
    };
    let location = match &settings {
        Some(s) => s.db.clone(),
        None => config::db_location(cli.db.as_deref())?,
    };
    if let Some(s) = &settings {
        settings_checks(&mut c, s);
    }
    database_checks(&mut c, &location);

    let healthy = c.0.iter().all(|x| x.status != "fail");
    if out.json {
        out.json(&DoctorView {
            healthy,
            checks: c.0,
        });
    } else {
        for x in &c.0 {
            let mark = match x.status.as_str() {
                "ok" => out.paint("ok  ", "32"),
                "warn" => out.paint("warn", "33"),
                _ => out.paint("FAIL", "1;31"),
            };
            out.alert_stdout(&format!("[{mark}] {:<18} {}", x.check, x.detail));
        }
    }
    Ok(if healthy { 0 } else { EXIT_UNHEALTHY })
}

fn settings_checks(c: &mut Checks, s: &Settings) {
    let needs_token = s
        .schedules
        .iter()
        .any(|x| x.platform == crate::model::Platform::Gumroad);
    match (&s.gumroad.access_token, needs_token) {
        (Some(_), _) => c.ok(
            "gumroad token",
            format!(
                "set (from {})",
                s.gumroad.token_source.as_deref().unwrap_or("the environment")
            ),
        ),
        (None, true) => c.fail(
            "gumroad token",
            "a Gumroad schedule is configured but no token is set: set GUMROAD_ACCESS_TOKEN or [gumroad] access_token (chmod 600)",
        ),
        (None, false) => c.ok("gumroad token", "not set (only needed for Gumroad)"),
    }
    if let Some(p) = &s.config_path {
        if p.exists() {
            permission_check(c, "config permissions", p, 0o077);
        }
    }
    match &s.inbox_path {
        Some(dir) if dir.is_dir() => c.ok("inbox folder", format!("`{}`", dir.display())),
        Some(dir) => c.fail(
            "inbox folder",
            format!(
                "`{}` does not exist or is not a folder: create it or fix [inbox] path",
                dir.display()
            ),
        ),
        None => c.ok("inbox folder", "not configured"),
    }
    c.ok(
        "schedules",
        if s.schedules.is_empty() {
            "none configured".to_string()
        } else {
            s.schedules
                .iter()
                .map(|x| format!("{} every {}", x.name, x.every))
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    c.ok(
        "healthcheck ping",
        if s.ping_url.is_some() {
            "configured"
        } else {
            "not configured"
        },
    );
}

fn permission_check(c: &mut Checks, name: &str, path: &Path, forbidden: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::metadata(path) {
            Ok(m) => {
                let mode = m.permissions().mode() & 0o777;
                if mode & forbidden == 0 {
                    c.ok(name, format!("`{}` is {mode:o}", path.display()));
                } else {
                    c.fail(
                        name,
                        format!(
                            "`{}` is {mode:o}, readable by others: run `chmod {} {}`",
                            path.display(),
                            if m.is_dir() { "700" } else { "600" },
                            path.display()
                        ),
                    );
                }
            }
            Err(e) => c.fail(name, format!("cannot stat `{}`: {e}", path.display())),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = forbidden;
        c.ok(
            name,
            format!("`{}` (not checked on this system)", path.display()),
        );
    }
}

/// The database folder must take new files: SQLite creates the `-wal` and `-shm` files there,
/// and salesingest its inbox copies. Modes say little (root ignores them; an immutable folder
/// or a read-only mount shows `700`), so this tries: a probe file is created and removed.
fn folder_writable_check(c: &mut Checks, dir: &Path) {
    let probe = dir.join(format!(".salesingest-doctor-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(f) => {
            drop(f);
            let _ = std::fs::remove_file(&probe);
            c.ok(
                "database folder",
                format!("`{}` is writable", dir.display()),
            );
        }
        Err(e) => c.fail(
            "database folder",
            format!(
                "the folder `{}` is not writable ({e}): every command that writes fails, since \
                 SQLite creates the database's `-wal` and `-shm` files there; make it writable \
                 (`chattr -i`, remount it read-write, or fix its owner and mode)",
                dir.display()
            ),
        ),
    }
}

fn database_checks(c: &mut Checks, location: &Location) {
    if let Location::Sqlite(path) = location {
        if !path.exists() {
            c.warn(
                "database",
                format!(
                    "no database at `{}` yet: `salesingest import FILE...` or `salesingest \
                     enqueue` creates it",
                    path.display()
                ),
            );
            return;
        }
        if let Some(dir) = path.parent() {
            permission_check(c, "folder permissions", dir, 0o077);
            folder_writable_check(c, dir);
        }
        permission_check(c, "db permissions", path, 0o077);
    }
    let db = match crate::store::open_existing(location, &OpenOptions::default()) {
        Ok(db) => db,
        Err(e) => {
            c.fail("database", format!("{e:#}"));
            return;
        }
    };
    for d in db.diagnostics() {
        match d.status {
            DiagnosticStatus::Ok => c.ok(&d.check, d.detail),
            DiagnosticStatus::Warn => c.warn(&d.check, d.detail),
            DiagnosticStatus::Fail => c.fail(&d.check, d.detail),
        }
    }
    // Lease expiry by the store's clock: hosts' clocks may differ from the database's.
    let now = match db.now() {
        Ok(t) => t,
        Err(e) => {
            c.fail("database", format!("{e:#}"));
            return;
        }
    };
    let host = hostname();
    match db.processing_jobs() {
        Ok(jobs) => {
            let stale: Vec<String> = jobs
                .iter()
                .filter(|j| j.lease_expires_at < now || owner_is_dead(&j.owner, &host))
                .map(|j| format!("job {} ({})", j.id, j.platform))
                .collect();
            if stale.is_empty() {
                c.ok(
                    "processing jobs",
                    format!("{} running, none stale", jobs.len()),
                );
            } else {
                c.fail(
                    "processing jobs",
                    format!(
                        "{} stuck (lease expired or worker dead): the next `salesingest run-worker` rescues them",
                        stale.join(", ")
                    ),
                );
            }
        }
        Err(e) => c.fail("processing jobs", format!("{e:#}")),
    }
    match db.open_runs() {
        Ok(runs) => {
            let killed: Vec<String> = runs
                .iter()
                .filter(|r| owner_is_dead(&r.owner, &host))
                .map(|r| format!("run {} started {}", r.id, rfc3339(r.started_at)))
                .collect();
            let running = runs.len() - killed.len();
            if killed.is_empty() {
                c.ok("cron runs", format!("{running} running, none killed"));
            } else {
                c.warn(
                    "cron runs",
                    format!(
                        "{} never finished (killed or crashed; their jobs are rescued by the next run); see `salesingest logs`",
                        killed.join(", ")
                    ),
                );
            }
        }
        Err(e) => c.fail("cron runs", format!("{e:#}")),
    }
}
