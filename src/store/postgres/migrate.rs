//! `salesingest migrate --from SQLITE_PATH --to postgres://…`: an author's SQLite store copied
//! whole into an empty PostgreSQL database (jobs with their attempt history, cron runs, sales
//! events and their imports, coverage and raw headers, the rollup, payouts, cursors, schedules, the
//! inbox scan's records, and the kept report files and Ping bodies as blobs), in one
//! transaction (a failed copy leaves the destination empty), then verified: row counts per
//! table, and sales totals per platform × currency × month from both stores.

use std::path::Path;

use anyhow::{bail, Context, Result};
use postgres::types::{ToSql, Type};
use rusqlite::types::ValueRef;

use super::PgStore;
use crate::store::sqlite::Db;
use crate::store::{Dim, ReportFilter, ReportStore};

/// How a column is carried from SQLite to PostgreSQL.
#[derive(Clone, Copy)]
enum Kind {
    /// An integer.
    Int,
    /// An integer kept in an `integer` column.
    Int4,
    Text,
    /// 0/1 → boolean.
    Bool,
    /// ISO text → date.
    Date,
    /// Milliseconds → timestamptz.
    Time,
    /// JSON text → jsonb.
    Json,
}

/// The tables copied, in an order foreign keys accept, with their columns.
const TABLES: &[(&str, &[(&str, Kind)])] = &[
    (
        "jobs",
        &[
            ("id", Kind::Int),
            ("platform", Kind::Text),
            ("input", Kind::Json),
            ("state", Kind::Text),
            ("priority", Kind::Int),
            ("run_at", Kind::Time),
            ("attempts", Kind::Int4),
            ("claims", Kind::Int4),
            ("max_attempts", Kind::Int4),
            ("lease_owner", Kind::Text),
            ("lease_expires_at", Kind::Time),
            ("cancel_requested", Kind::Bool),
            ("unique_key", Kind::Text),
            ("created_at", Kind::Time),
            ("finished_at", Kind::Time),
            ("last_error", Kind::Text),
            ("result", Kind::Json),
        ],
    ),
    (
        "attempts",
        &[
            ("job_id", Kind::Int),
            ("attempt", Kind::Int4),
            ("run_id", Kind::Int),
            ("worker", Kind::Text),
            ("started_at", Kind::Time),
            ("finished_at", Kind::Time),
            ("outcome", Kind::Text),
            ("error", Kind::Text),
        ],
    ),
    (
        "cron_runs",
        &[
            ("id", Kind::Int),
            ("host", Kind::Text),
            ("pid", Kind::Int),
            ("owner", Kind::Text),
            ("args", Kind::Text),
            ("started_at", Kind::Time),
            ("finished_at", Kind::Time),
            ("claimed", Kind::Int),
            ("completed", Kind::Int),
            ("retrying", Kind::Int),
            ("failed", Kind::Int),
            ("rescued", Kind::Int),
            ("exit_code", Kind::Int4),
        ],
    ),
    (
        "imports",
        &[
            ("id", Kind::Int),
            ("job_id", Kind::Int),
            ("platform", Kind::Text),
            ("file", Kind::Text),
            ("sha256", Kind::Text),
            ("layout", Kind::Text),
            ("state", Kind::Text),
            ("rows", Kind::Int),
            ("events", Kind::Int),
            ("started_at", Kind::Time),
            ("finished_at", Kind::Time),
        ],
    ),
    (
        "import_coverage",
        &[
            ("import_id", Kind::Int),
            ("family", Kind::Text),
            ("period_start", Kind::Date),
            ("period_end", Kind::Date),
            ("month_totals", Kind::Bool),
        ],
    ),
    (
        "raw_layouts",
        &[
            ("id", Kind::Int),
            ("import_id", Kind::Int),
            ("keys", Kind::Text),
        ],
    ),
    (
        "sales_events",
        &[
            ("id", Kind::Int),
            ("platform", Kind::Text),
            ("family", Kind::Text),
            ("source", Kind::Text),
            ("import_id", Kind::Int),
            ("job_id", Kind::Int),
            ("natural_key", Kind::Text),
            ("period_start", Kind::Date),
            ("period_end", Kind::Date),
            ("month", Kind::Text),
            ("title", Kind::Text),
            ("product_id", Kind::Text),
            ("format", Kind::Text),
            ("marketplace", Kind::Text),
            ("retailer", Kind::Text),
            ("country", Kind::Text),
            ("units", Kind::Int),
            ("kenp_pages", Kind::Int),
            ("list_price_micros", Kind::Int),
            ("royalty_micros", Kind::Int),
            ("currency", Kind::Text),
            ("is_final", Kind::Bool),
            ("status", Kind::Text),
            ("raw", Kind::Text),
            ("raw_layout", Kind::Int),
            ("line", Kind::Int),
            ("updated_at", Kind::Time),
        ],
    ),
    (
        "sales_rollup",
        &[
            ("platform", Kind::Text),
            ("family", Kind::Text),
            ("import_id", Kind::Int),
            ("month", Kind::Text),
            ("period_start", Kind::Date),
            ("period_end", Kind::Date),
            ("currency", Kind::Text),
            ("is_final", Kind::Bool),
            ("events", Kind::Int),
            ("units", Kind::Int),
            ("kenp_pages", Kind::Int),
            ("royalty_micros", Kind::Int),
        ],
    ),
    (
        "payouts",
        &[
            ("id", Kind::Int),
            ("platform", Kind::Text),
            ("source", Kind::Text),
            ("reference", Kind::Text),
            ("paid_on", Kind::Date),
            ("amount_micros", Kind::Int),
            ("currency", Kind::Text),
            ("period_start", Kind::Date),
            ("period_end", Kind::Date),
            ("marketplace", Kind::Text),
            ("royalty_currency", Kind::Text),
            ("accrued_micros", Kind::Int),
            ("withholding_micros", Kind::Int),
            ("adjustments_micros", Kind::Int),
            ("net_micros", Kind::Int),
            ("fx_rate", Kind::Text),
            ("status", Kind::Text),
            ("import_id", Kind::Int),
            ("line", Kind::Int),
            ("updated_at", Kind::Time),
        ],
    ),
    (
        "sync_cursors",
        &[
            ("platform", Kind::Text),
            ("cursor", Kind::Date),
            ("updated_at", Kind::Time),
            ("job_id", Kind::Int),
        ],
    ),
    (
        "schedules",
        &[
            ("name", Kind::Text),
            ("platform", Kind::Text),
            ("every_ms", Kind::Int),
            ("first_enqueued_at", Kind::Time),
            ("last_enqueued_at", Kind::Time),
            ("last_job_id", Kind::Int),
        ],
    ),
    (
        "inbox_files",
        &[
            ("sha256", Kind::Text),
            ("path", Kind::Text),
            ("platform", Kind::Text),
            ("status", Kind::Text),
            ("message", Kind::Text),
            ("job_id", Kind::Int),
            ("size", Kind::Int),
            ("mtime_ms", Kind::Int),
            ("seen_at", Kind::Time),
        ],
    ),
];

/// Rows copied per statement.
const BATCH: usize = 5_000;

/// What a migration copied and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateReport {
    /// (table, rows in SQLite, rows in PostgreSQL).
    pub tables: Vec<(String, i64, i64)>,
    /// Blobs copied and their total bytes.
    pub blobs: (u64, u64),
    /// Sales total groups (platform × currency × month) compared, all equal.
    pub sales_groups: usize,
}

/// One column of a batch.
enum Col {
    Int(Vec<Option<i64>>),
    Text(Vec<Option<String>>),
    Bool(Vec<Option<bool>>),
}

impl Col {
    fn new(kind: Kind) -> Col {
        match kind {
            Kind::Int | Kind::Int4 | Kind::Time => Col::Int(Vec::new()),
            Kind::Bool => Col::Bool(Vec::new()),
            Kind::Text | Kind::Date | Kind::Json => Col::Text(Vec::new()),
        }
    }

    fn push(&mut self, v: ValueRef<'_>, table: &str, col: &str) -> Result<()> {
        match (self, v) {
            (_, ValueRef::Blob(_)) | (_, ValueRef::Real(_)) => {
                bail!("{table}.{col} holds a value of a kind this store never writes")
            }
            (Col::Int(c), ValueRef::Null) => c.push(None),
            (Col::Int(c), ValueRef::Integer(i)) => c.push(Some(i)),
            (Col::Text(c), ValueRef::Null) => c.push(None),
            (Col::Text(c), ValueRef::Text(t)) => c.push(Some(
                std::str::from_utf8(t)
                    .with_context(|| format!("{table}.{col} holds text that is not UTF-8"))?
                    .to_string(),
            )),
            (Col::Text(c), ValueRef::Integer(i)) => c.push(Some(i.to_string())),
            (Col::Bool(c), ValueRef::Null) => c.push(None),
            (Col::Bool(c), ValueRef::Integer(i)) => c.push(Some(i != 0)),
            _ => bail!("{table}.{col} holds a value of an unexpected type"),
        }
        Ok(())
    }

    fn len(&self) -> usize {
        match self {
            Col::Int(c) => c.len(),
            Col::Text(c) => c.len(),
            Col::Bool(c) => c.len(),
        }
    }

    fn clear(&mut self) {
        match self {
            Col::Int(c) => c.clear(),
            Col::Text(c) => c.clear(),
            Col::Bool(c) => c.clear(),
        }
    }

    fn arg(&self) -> (&(dyn ToSql + Sync), Type) {
        match self {
            Col::Int(c) => (c, Type::INT8_ARRAY),
            Col::Text(c) => (c, Type::TEXT_ARRAY),
            Col::Bool(c) => (c, Type::BOOL_ARRAY),
        }
    }
}

/// The SQL expression turning an unnested column `c` into the destination's type.
fn expr(kind: Kind, c: &str) -> String {
    match kind {
        Kind::Int | Kind::Text | Kind::Bool => c.to_string(),
        Kind::Int4 => format!("{c}::int4"),
        Kind::Date => format!("{c}::date"),
        Kind::Time => format!("to_timestamp({c} / 1000.0)"),
        Kind::Json => format!("{c}::jsonb"),
    }
}

fn array_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Int | Kind::Int4 | Kind::Time => "int8[]",
        Kind::Bool => "bool[]",
        Kind::Text | Kind::Date | Kind::Json => "text[]",
    }
}

/// Copy the SQLite store `src` into the PostgreSQL store `dst`, which must hold no data.
///
/// # Errors
/// A destination that is not empty, a source with jobs running, any database error (nothing is
/// kept in the destination then), or a verification that finds a difference.
pub fn from_sqlite(src: &Db, dst: &PgStore) -> Result<MigrateReport> {
    let lite = src.conn();
    let running: i64 = lite.query_row(
        "SELECT count(*) FROM jobs WHERE state = 'processing'",
        [],
        |r| r.get(0),
    )?;
    if running > 0 {
        bail!(
            "{running} job(s) are running on `{}`: stop the workers (cron lines, timers) and let \
             them finish, then migrate",
            src.path().display()
        );
    }
    let blob_dir = src.blob_dir();
    let mut blobs: Vec<std::path::PathBuf> = match std::fs::read_dir(&blob_dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(crate::store::is_content_hash)
                    && p.is_file()
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", blob_dir.display())),
    };
    blobs.sort();
    let mut tables = Vec::new();
    dst.tx(|tx| {
        let mut busy = Vec::new();
        for (table, _) in TABLES.iter().chain([("blobs", &[][..])].iter()) {
            let n: i64 = tx
                .query_typed_one(&format!("SELECT count(*) FROM {table}"), &[])?
                .get(0);
            if n > 0 {
                busy.push(format!("{table} ({n} rows)"));
            }
        }
        if !busy.is_empty() {
            bail!(
                "`{}` already holds data ({}): migrate only into an empty database (create a \
                 new one, or drop these rows yourself if they are a failed attempt's)",
                dst.shown,
                busy.join(", ")
            );
        }
        for (table, cols) in TABLES {
            // Staged rows of imports never finished (their jobs would stage them again) stay
            // behind: only what counts, or may count, is copied.
            let filter = match *table {
                "imports" | "import_coverage" | "raw_layouts" | "sales_events" | "sales_rollup" => {
                    let col = if *table == "imports" { "id" } else { "import_id" };
                    format!(
                        " WHERE {col} IS NULL OR {col} = 0 OR {col} IN (SELECT id FROM imports WHERE state = 'live')"
                    )
                }
                _ => String::new(),
            };
            let names: Vec<&str> = cols.iter().map(|(c, _)| *c).collect();
            let mut stmt = lite.prepare(&format!(
                "SELECT {} FROM {table}{filter}",
                names.join(", ")
            ))?;
            let mut rows = stmt.query([])?;
            let mut batch: Vec<Col> = cols.iter().map(|(_, k)| Col::new(*k)).collect();
            let unnest: Vec<String> = cols
                .iter()
                .enumerate()
                .map(|(i, (_, k))| format!("${}::{}", i + 1, array_type(*k)))
                .collect();
            let aliases: Vec<String> = (0..cols.len()).map(|i| format!("c{i}")).collect();
            let select: Vec<String> = cols
                .iter()
                .enumerate()
                .map(|(i, (_, k))| expr(*k, &aliases[i]))
                .collect();
            let insert = format!(
                "INSERT INTO {table} ({}) SELECT {} FROM unnest({}) AS x({})",
                names.join(", "),
                select.join(", "),
                unnest.join(", "),
                aliases.join(", ")
            );
            let mut copied = 0i64;
            let mut flush = |batch: &mut Vec<Col>, tx: &mut postgres::Transaction<'_>| -> Result<()> {
                if batch[0].len() == 0 {
                    return Ok(());
                }
                let params: Vec<(&(dyn ToSql + Sync), Type)> = batch.iter().map(Col::arg).collect();
                copied += tx.execute_typed(&insert, &params)? as i64;
                for c in batch.iter_mut() {
                    c.clear();
                }
                Ok(())
            };
            while let Some(r) = rows.next()? {
                for (i, (name, _)) in cols.iter().enumerate() {
                    batch[i].push(r.get_ref(i)?, table, name)?;
                }
                if batch[0].len() >= BATCH {
                    flush(&mut batch, tx)?;
                }
            }
            flush(&mut batch, tx)?;
            let source: i64 =
                lite.query_row(&format!("SELECT count(*) FROM {table}{filter}"), [], |r| r.get(0))?;
            if copied != source {
                bail!("{table}: {source} rows in SQLite, {copied} copied");
            }
            tables.push((table.to_string(), source, copied));
        }
        // New ids continue after the copied ones.
        for table in [
            "jobs",
            "cron_runs",
            "imports",
            "raw_layouts",
            "sales_events",
            "payouts",
        ] {
            tx.execute_typed(
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'),
                                   coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
                ),
                &[],
            )?;
        }
        Ok(())
    })?;
    // Blobs, each in its own transaction (a big file is a big one); verified by hash on the way.
    let mut bytes = 0u64;
    for p in &blobs {
        let sha = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let got = crate::store::sha256_file(p)
            .with_context(|| format!("cannot read `{}`", p.display()))?;
        if got != sha {
            bail!(
                "the kept file `{}` does not match its name (hash {got}): the copy is damaged; \
                 re-import that report after migrating",
                p.display()
            );
        }
        crate::store::BlobStore::put_blob_file(dst, sha, p)?;
        bytes += std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    }
    // Verification: the sales both stores report, per platform × currency × month.
    let dims = [Dim::Platform, Dim::Currency, Dim::Month];
    let a = src.sales_groups(&ReportFilter::default(), &dims)?;
    let b = dst.sales_groups(&ReportFilter::default(), &dims)?;
    if a != b {
        let first = a
            .iter()
            .zip(&b)
            .find(|(x, y)| x != y)
            .map(|(x, y)| format!("SQLite {x:?}, PostgreSQL {y:?}"))
            .unwrap_or_else(|| format!("{} groups against {}", a.len(), b.len()));
        bail!("the copied sales do not add up as in SQLite: {first}");
    }
    let rollup_ok: bool = dst
        .query_one(
            "SELECT (SELECT coalesce(sum(events), 0) FROM live_rollup)
                  = (SELECT count(*) FROM live_sales)",
            &[],
        )?
        .get(0);
    if !rollup_ok {
        bail!("the copied rollup does not match the copied events");
    }
    Ok(MigrateReport {
        tables,
        blobs: (blobs.len() as u64, bytes),
        sales_groups: a.len(),
    })
}

/// Whether a path looks like a SQLite file (its header), for messages.
pub fn is_sqlite_file(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head == b"SQLite format 3\0")
}
