//! `salesingest migrate --from SQLITE_PATH --to postgres://…`: move an author's data from the
//! SQLite file to PostgreSQL (for workers on several hosts), verified.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::json;

use super::{coded, Ctx};
use crate::output::new_table;
use crate::store::postgres::{migrate, PgStore};
use crate::store::sqlite::Db;
use crate::store::Location;

/// Copy a SQLite store into an empty PostgreSQL database.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Copies everything the SQLite store holds: jobs with their attempt \
history, cron runs, sales events with their imports, coverage and raw rows, the report rollup, \
sync cursors, schedules, the inbox scan's records, and the kept report files and Ping bodies \
(into the database, where every host's workers read them). The copy is one transaction: if \
anything fails, the destination is left empty. It is then verified: the row count of every \
table, and the sales totals per platform × currency × month, from both stores.

It refuses a destination that already holds data, and a source with jobs running: stop the \
cron lines or timers first. The SQLite file is only read; keep it as a backup.

Example:
  salesingest migrate --from ~/.local/share/salesingest/salesingest.db \\
      --to 'postgres://sales@db.example/sales?sslmode=verify-full&sslrootcert=/etc/ssl/db-ca.crt'
  export SALESINGEST_DB='postgres://sales@db.example/sales?sslmode=verify-full&sslrootcert=…'"
)]
pub struct Args {
    /// The SQLite database file to copy
    #[arg(long, value_name = "SQLITE_PATH")]
    pub from: PathBuf,

    /// The PostgreSQL database to copy into (must hold no salesingest data)
    #[arg(long, value_name = "URL")]
    pub to: String,
}

/// Run `migrate`.
///
/// # Errors
/// Exit 2 for a `--to` that is not a PostgreSQL URL; 1 for a missing or unreadable source, a
/// destination that holds data, a database error, or a verification that fails.
pub fn run(args: &Args, ctx: &Ctx) -> Result<i32> {
    let Location::Postgres(url) = Location::parse_here(&args.to)? else {
        return Err(coded(
            2,
            "--to must be a PostgreSQL URL (postgres://user@host/database)",
        ));
    };
    if !args.from.is_file() {
        return Err(coded(
            1,
            format!(
                "no SQLite database at `{}`: give the file `--db` pointed at (default \
                 ~/.local/share/salesingest/salesingest.db)",
                args.from.display()
            ),
        ));
    }
    if !migrate::is_sqlite_file(&args.from) {
        return Err(coded(
            1,
            format!("`{}` is not a SQLite database", args.from.display()),
        ));
    }
    let src = Db::open_existing_with(&args.from, &ctx.open_options())
        .with_context(|| format!("cannot open `{}`", args.from.display()))?;
    let dst = PgStore::connect(&url, &ctx.open_options())?;
    let report = migrate::from_sqlite(&src, &dst)?;
    if ctx.out.json {
        ctx.out.json(&json!({
            "from": args.from.display().to_string(),
            "to": url.redacted(),
            "tables": report.tables.iter().map(|(t, a, b)| json!({
                "table": t, "sqlite": a, "postgres": b,
            })).collect::<Vec<_>>(),
            "blobs": report.blobs.0,
            "blob_bytes": report.blobs.1,
            "sales_groups": report.sales_groups,
            "verified": true,
        }));
    } else {
        let mut t = new_table(&["table", "sqlite", "postgres"]);
        for (name, a, b) in &report.tables {
            t.add_row(vec![name.clone(), a.to_string(), b.to_string()]);
        }
        t.add_row(vec![
            "kept files".into(),
            report.blobs.0.to_string(),
            format!("{} ({} bytes)", report.blobs.0, report.blobs.1),
        ]);
        ctx.out.line(&t.to_string());
        ctx.out.line(&format!(
            "verified: every table's rows, and the sales totals of {} platform × currency × month \
             groups, are equal in `{}` and `{}`. Point --db / SALESINGEST_DB at the new store.",
            report.sales_groups,
            args.from.display(),
            url.redacted()
        ));
    }
    Ok(0)
}
