//! Test helpers: a temporary environment per test and fixture generators.

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use assert_cmd::Command;
use serde_json::Value;

/// A temporary HOME with its own database.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn db_path(&self) -> PathBuf {
        self.path("data/salesingest.db")
    }

    fn apply(&self, cmd: &mut StdCommand) {
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("XDG_DATA_HOME", self.path("xdg-data"))
            .env("XDG_CONFIG_HOME", self.path("xdg-config"))
            .env("SALESINGEST_DB", self.db_path())
            .env("NO_COLOR", "1");
        if self.path("config.toml").exists() {
            cmd.env("SALESINGEST_CONFIG", self.path("config.toml"));
        }
    }

    /// The binary, set up for this environment.
    pub fn cmd(&self) -> Command {
        let mut std = StdCommand::new(env!("CARGO_BIN_EXE_salesingest"));
        self.apply(&mut std);
        Command::from_std(std)
    }

    /// A std command (for spawning in the background).
    pub fn spawn_cmd(&self) -> StdCommand {
        let mut std = StdCommand::new(env!("CARGO_BIN_EXE_salesingest"));
        self.apply(&mut std);
        std
    }

    /// Run and parse stdout as JSON, asserting success.
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.cmd().args(args).arg("--json").output().unwrap();
        assert!(
            out.status.success(),
            "{args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?}: not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Write a config file (owner-only) used by every later command.
    pub fn config(&self, text: &str) {
        let p = self.path("config.toml");
        std::fs::write(&p, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }

    /// Open the database read-only for assertions.
    pub fn sql(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(
            self.db_path(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap()
    }

    /// Royalty totals per (platform, currency) from `status --json`.
    pub fn royalty(&self, platform: &str) -> Vec<(String, String)> {
        let v = self.json(&["status"]);
        let p = v
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["platform"] == platform)
            .unwrap()
            .clone();
        p["royalty"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["currency"].as_str().unwrap().to_string(),
                    r["royalty"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }
}

/// A fixture file in the repository.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

pub const D2D_HEADER: &str = "Start Date,End Date,Publisher,Title ID,Ebook ISBN,Title,Primary Author,Distributor,Vendor,Country,Units Sold,Units Returned,Net Unit Sales,Sales Model,Retailer,List Price Per Unit,Currency Code,Offer Price Per Unit,Royalty Percent,Sales Channel Fee/Taxes Per Unit,Extended Sales Channel Revenue,Sales Channel Share,D2D Share,Publisher Share,Publisher Share USD (estimated),Verified";

/// One D2D ebook row for `date` with the given publisher share (USD).
pub fn d2d_row(date: &str, share: &str, units: i64) -> String {
    format!(
        "{date},{date},Lantern Lane Press,1203344,9781732461017,The Lighthouse Keeper's Daughter,Jane Q. Writer,Kobo,Kobo,US,{units},0,{units},Retail,Kobo,4.99,USD,4.99,70,0.00,4.99,1.50,0.35,{share},{share},true"
    )
}

/// Write a D2D ebook report with the given rows.
pub fn write_d2d(path: &Path, rows: &[String]) {
    let mut text = String::from(D2D_HEADER);
    text.push('\n');
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// The date `days` after 2020-01-01.
pub fn day(days: i64) -> String {
    (chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() + chrono::Duration::days(days))
        .to_string()
}
