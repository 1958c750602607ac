//! The PostgreSQL backend, for workers on several hosts sharing one queue and one sales store:
//! connecting (a pool, TLS, clear messages for each way it fails), versioned migrations, and the
//! store API's PostgreSQL statements, one file per concern as in `sqlite/`.
//!
//! Design (see POSTGRES.md for the failure classes each choice answers):
//! - Every time that decides something is the database's `now()`; callers pass durations.
//! - No session state: no session advisory locks, no `LISTEN`, no `SET`, no named prepared
//!   statements (every statement goes as an unnamed one, `query_typed`), so that it works
//!   through PgBouncer in transaction pooling mode. The worker's hot statements (claim, and
//!   complete-then-claim) are PL/pgSQL functions (migration 3), whose plans the server caches
//!   in its own session, out of any client's sight; migration 4's records a window of quick
//!   jobs and claims the next window in one call. Locks are row locks or
//!   transaction-scoped advisory locks, released at commit.
//! - Each store call is one short transaction; nothing is held while a job runs.
//! - Completion is fenced on the attempt (owner and claim number) and publishes the job's sales
//!   in the same transaction, so "completed" and "counted" are one fact.

mod blobs;
mod conn;
mod effects;
mod jobs;
pub mod migrate;
mod payouts;
mod reports;
mod sales;
mod tls;
mod upkeep;

use std::time::Duration;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, TimeZone, Utc};
use postgres::types::{ToSql, Type};

pub use conn::PgStore;

use crate::queue::Millis;

/// Append-only migrations; `salesingest_schema.version` is the number applied.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/001_init.sql"),
    include_str!("migrations/002_payouts.sql"),
    include_str!("migrations/003_queue_functions.sql"),
    include_str!("migrations/004_claim_window.sql"),
];

/// The schema version this salesingest writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// A Rust value's PostgreSQL type, so that every statement can be sent unnamed with its
/// parameter types (`query_typed`: one round trip, and nothing left on a pooled server
/// connection for the next client of a PgBouncer).
pub(crate) trait PgType {
    const TYPE: Type;
}

macro_rules! pg_type {
    ($($t:ty => $v:ident),* $(,)?) => {
        $(impl PgType for $t { const TYPE: Type = Type::$v; })*
    };
}

pg_type! {
    i64 => INT8, i32 => INT4, bool => BOOL, str => TEXT, String => TEXT,
    chrono::NaiveDate => DATE, DateTime<Utc> => TIMESTAMPTZ, [u8] => BYTEA, Vec<u8> => BYTEA,
    Vec<String> => TEXT_ARRAY, Vec<i64> => INT8_ARRAY, Vec<i32> => INT4_ARRAY, Vec<bool> => BOOL_ARRAY,
    Vec<chrono::NaiveDate> => DATE_ARRAY, Vec<Option<i64>> => INT8_ARRAY,
    Vec<Option<String>> => TEXT_ARRAY,
}

impl<T: PgType + ?Sized> PgType for &T {
    const TYPE: Type = T::TYPE;
}

impl<T: PgType> PgType for Option<T> {
    const TYPE: Type = T::TYPE;
}

/// The type of a value (for `args!`).
pub(crate) fn type_of<T: PgType + ?Sized>(_: &T) -> Type {
    T::TYPE
}

/// Typed statement parameters: `args![a, b]` is `&[(&a, type of a), (&b, type of b)]`.
macro_rules! args {
    ($($e:expr),* $(,)?) => {
        &[$((&$e as &(dyn postgres::types::ToSql + Sync), $crate::store::postgres::type_of(&$e))),*]
    };
}
pub(crate) use args;

/// Parameters of a statement, as `query_typed` takes them.
pub(crate) type Args<'a> = &'a [(&'a (dyn ToSql + Sync), Type)];

/// Milliseconds since the epoch as a `timestamptz` value.
pub(crate) fn ts(ms: Millis) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// A `timestamptz` value as milliseconds since the epoch.
pub(crate) fn ms(t: DateTime<Utc>) -> Millis {
    t.timestamp_millis()
}

/// `ms` of an optional time.
pub(crate) fn ms_opt(t: Option<DateTime<Utc>>) -> Option<Millis> {
    t.map(ms)
}

/// How long a PostgreSQL store waits for a connection from its pool.
pub(crate) const POOL_WAIT: Duration = Duration::from_secs(30);

/// Apply the migrations this salesingest knows to the database behind `client`, once, under a
/// transaction-scoped advisory lock (several workers starting together on a new database
/// migrate it once; the lock is released at commit, so PgBouncer's transaction pooling is
/// fine). A database newer than this salesingest is refused.
fn migrate(client: &mut postgres::Client, shown: &str) -> Result<i64> {
    // Most connections find the schema current: one read, no lock, no write (a standby or a
    // read-only role can still be told what is wrong).
    let exists: bool = client
        .query_typed_one("SELECT to_regclass('salesingest_schema') IS NOT NULL", &[])?
        .get(0);
    let current: Option<i64> = if exists {
        client
            .query_typed_one("SELECT max(version) FROM salesingest_schema", &[])?
            .get(0)
    } else {
        None
    };
    match current {
        Some(v) if v == SCHEMA_VERSION => return Ok(v),
        Some(v) if v > SCHEMA_VERSION => bail!(
            "the database `{shown}` is at schema version {v}, newer than this salesingest \
             ({SCHEMA_VERSION}): upgrade salesingest on this host"
        ),
        _ => {}
    }
    let mut tx = client.transaction()?;
    tx.query_typed("SELECT pg_advisory_xact_lock(7245130716193541171)", &[])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS salesingest_schema (
           only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
           version  bigint  NOT NULL,
           upgraded_at timestamptz NOT NULL DEFAULT now())",
    )?;
    let version: i64 = tx
        .query_typed_opt("SELECT version FROM salesingest_schema", &[])?
        .map_or(0, |r| r.get(0));
    if version > SCHEMA_VERSION {
        bail!(
            "the database `{shown}` is at schema version {version}, newer than this salesingest \
             ({SCHEMA_VERSION}): upgrade salesingest on this host"
        );
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.batch_execute(sql)
            .with_context(|| format!("PostgreSQL migration {} failed", i + 1))?;
    }
    if version < SCHEMA_VERSION {
        tx.query_typed(
            "INSERT INTO salesingest_schema (version) VALUES ($1)
             ON CONFLICT (only_row) DO UPDATE SET version = excluded.version, upgraded_at = now()",
            args![SCHEMA_VERSION],
        )?;
    }
    tx.commit()?;
    Ok(SCHEMA_VERSION)
}
