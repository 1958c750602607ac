//! Test helpers: a temporary environment per test and fixture generators.

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use assert_cmd::Command;
use serde_json::Value;

/// The store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A temporary HOME with its own database (a SQLite file in it, or a PostgreSQL database of
/// its own on the test server).
pub struct Env {
    pub dir: tempfile::TempDir,
    pub pg: Option<crate::pg::PgDb>,
}

impl Env {
    pub fn new() -> Env {
        Env::on(Backend::Sqlite)
    }

    /// An environment whose store is on `backend`.
    pub fn on(backend: Backend) -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
            pg: (backend == Backend::Postgres).then(crate::pg::PgDb::create),
        }
    }

    /// An environment on this PostgreSQL database (a private server's).
    pub fn on_pg(db: crate::pg::PgDb) -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
            pg: Some(db),
        }
    }

    /// What `--db` / `SALESINGEST_DB` is for this environment.
    pub fn db_url(&self) -> String {
        match &self.pg {
            Some(db) => db.url.clone(),
            None => self.db_path().display().to_string(),
        }
    }

    /// One number from the store, by SQL both backends understand (for assertions).
    pub fn scalar(&self, sql: &str) -> i64 {
        match &self.pg {
            Some(db) => db.client().query_one(sql, &[]).unwrap().get::<_, i64>(0),
            None => self.sql().query_row(sql, [], |r| r.get(0)).unwrap(),
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
            .env("SALESINGEST_DB", self.db_url())
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

    /// Open the (SQLite) database read-only for assertions.
    pub fn sql(&self) -> rusqlite::Connection {
        assert!(
            self.pg.is_none(),
            "sql() is SQLite's; use scalar() on both backends"
        );
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

/// The fixture Gumroad Ping body (`gumroad/gumroad_ping.txt`) as the sale `sale_id`: a new sale
/// per id, the same product, price and time.
pub fn ping_with_sale_id(sale_id: &str) -> String {
    let body = std::fs::read_to_string(fixture("gumroad/gumroad_ping.txt")).unwrap();
    let at = body.find("sale_id=").unwrap() + "sale_id=".len();
    let end = body[at..].find('&').map_or(body.len(), |e| at + e);
    format!("{}{sale_id}{}", &body[..at], &body[end..])
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

/// A test written once and run on both backends: `on_both!(fn name(backend) { ... })` makes a
/// module `name` with a test `sqlite` and a test `postgres` (reported as ignored on a machine
/// without a PostgreSQL server, see build.rs).
#[macro_export]
macro_rules! on_both {
    ($(#[doc = $doc:expr])* fn $name:ident($b:ident) $body:block) => {
        $(#[doc = $doc])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn run($b: $crate::util::Backend) $body

            #[test]
            fn sqlite() {
                run($crate::util::Backend::Sqlite)
            }

            #[test]
            #[cfg_attr(
                not(salesingest_test_pg),
                ignore = "needs PostgreSQL: no server answered on 127.0.0.1:5432 when this was built; start one or set SALESINGEST_TEST_PG=postgres://… (see README, Development)"
            )]
            fn postgres() {
                run($crate::util::Backend::Postgres)
            }
        }
    };
}
