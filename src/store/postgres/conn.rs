//! Connecting to PostgreSQL: the URL (with libpq's TLS options), a small connection pool, the
//! checks every connection passes (reachable, logged in, the database exists, not a read-only
//! standby, the schema at this salesingest's version), and one clear message for each way it
//! fails. No connection carries session state, so any pooler may hand it to another client.

use std::path::PathBuf;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use postgres::error::SqlState;
use postgres::{Client, Config};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::tls::{connector, SslMode};
use super::{migrate, Args, POOL_WAIT};
use crate::store::location::PgUrl;
use crate::store::OpenOptions;

/// A PostgreSQL store: a pool of connections to one database.
pub struct PgStore {
    pool: Pool,
    /// The URL without its password, for messages.
    pub(super) shown: String,
    /// Where fetched blobs are written while a job reads them.
    pub(super) tmp_dir: PathBuf,
    /// The first lost connection this handle saw (`JobStore::fault`).
    pub(super) fault: Mutex<Option<String>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("url", &self.shown).finish()
    }
}

/// Connections made on demand, up to `max`, reused while healthy.
struct Pool {
    config: Config,
    tls: MakeRustlsConnect,
    max: usize,
    state: Mutex<PoolState>,
    freed: Condvar,
}

struct PoolState {
    idle: Vec<Client>,
    open: usize,
}

/// A connection borrowed from the pool, given back when dropped (unless it broke).
pub(super) struct Conn<'a> {
    pool: &'a Pool,
    client: Option<Client>,
}

impl std::ops::Deref for Conn<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client.as_ref().expect("a connection until dropped")
    }
}

impl std::ops::DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().expect("a connection until dropped")
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        let mut st = self.pool.lock();
        match self.client.take() {
            Some(c) if !c.is_closed() => st.idle.push(c),
            _ => st.open -= 1,
        }
        drop(st);
        self.pool.freed.notify_one();
    }
}

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A healthy idle connection, or a new one while fewer than `max` are open, else wait.
    fn get(&self, shown: &str) -> Result<Conn<'_>> {
        let deadline = Instant::now() + POOL_WAIT;
        let mut st = self.lock();
        loop {
            while let Some(c) = st.idle.pop() {
                if c.is_closed() {
                    st.open -= 1;
                    continue;
                }
                return Ok(Conn {
                    pool: self,
                    client: Some(c),
                });
            }
            if st.open < self.max {
                st.open += 1;
                drop(st);
                return match self.connect(shown) {
                    Ok(c) => Ok(Conn {
                        pool: self,
                        client: Some(c),
                    }),
                    Err(e) => {
                        self.lock().open -= 1;
                        self.freed.notify_one();
                        Err(e)
                    }
                };
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(anyhow!(
                    "all {} connections to `{shown}` stayed busy for {} s",
                    self.max,
                    POOL_WAIT.as_secs()
                ));
            }
            st = self
                .freed
                .wait_timeout(st, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn connect(&self, shown: &str) -> Result<Client> {
        let mut client = self
            .config
            .connect(self.tls.clone())
            .map_err(|e| connect_error(&self.config, shown, &e))?;
        // A standby answers reads but refuses every write: say so before anything fails.
        let standby: bool = client
            .query_typed_one("SELECT pg_is_in_recovery()", &[])
            .map_err(|e| connect_error(&self.config, shown, &e))?
            .get(0);
        if standby {
            return Err(anyhow!(
                "`{shown}` is a read-only standby (it is replaying a primary's log): point --db \
                 at the primary server, where the workers can write"
            ));
        }
        Ok(client)
    }
}

/// What failed, where, and what to do, for an error while connecting.
fn connect_error(config: &Config, shown: &str, e: &postgres::Error) -> anyhow::Error {
    let user = config.get_user().unwrap_or("?");
    let db = config.get_dbname().unwrap_or(user);
    if let Some(db_err) = e.as_db_error() {
        let code = db_err.code();
        if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            return anyhow!(
                "PostgreSQL at `{shown}` refused the login of user `{user}` ({}): check the user \
                 and password in the URL, and the server's pg_hba.conf",
                db_err.message()
            );
        }
        if *code == SqlState::INVALID_CATALOG_NAME {
            return anyhow!(
                "the database `{db}` does not exist on `{shown}`: create it (`createdb {db}`, or \
                 CREATE DATABASE {db}) or fix the database name in the URL"
            );
        }
        if *code == SqlState::TOO_MANY_CONNECTIONS {
            return anyhow!(
                "PostgreSQL at `{shown}` has no free connection ({}): lower `[postgres] pool_size` \
                 on the workers, put PgBouncer in front, or raise max_connections",
                db_err.message()
            );
        }
        return anyhow!("cannot connect to `{shown}`: {}", db_err.message());
    }
    let text = format!("{e}");
    let mut source = std::error::Error::source(e);
    let mut io_kind = None;
    let mut detail = text.clone();
    while let Some(s) = source {
        detail = format!("{s}");
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            io_kind = Some(io.kind());
        }
        source = s.source();
    }
    match io_kind {
        Some(std::io::ErrorKind::ConnectionRefused) => anyhow!(
            "cannot connect to PostgreSQL at `{shown}`: connection refused. Is the server \
             running and listening on that host and port (listen_addresses, port)?"
        ),
        Some(std::io::ErrorKind::TimedOut) => anyhow!(
            "cannot connect to PostgreSQL at `{shown}`: timed out after {} s. Is the host \
             reachable (firewall, VPN)? Raise connect_timeout=SECONDS in the URL if it is slow",
            config.get_connect_timeout().map_or(10, Duration::as_secs)
        ),
        _ if text.contains("timeout") || text.contains("timed out") => anyhow!(
            "cannot connect to PostgreSQL at `{shown}`: timed out after {} s. Is the host \
             reachable (firewall, VPN)? Raise connect_timeout=SECONDS in the URL if it is slow",
            config.get_connect_timeout().map_or(10, Duration::as_secs)
        ),
        _ if detail.contains("certificate") || detail.to_ascii_lowercase().contains("tls") => {
            anyhow!(
                "cannot connect to PostgreSQL at `{shown}`: TLS failed ({detail}). With \
             sslmode=verify-full the server's certificate must lead to sslrootcert and name the \
             host in the URL; sslmode=require encrypts without checking the certificate"
            )
        }
        _ if text.contains("server does not support TLS")
            || detail.contains("does not support TLS") =>
        {
            anyhow!(
            "PostgreSQL at `{shown}` does not offer TLS but the URL requires it (sslmode): enable \
             ssl on the server, or use sslmode=prefer"
        )
        }
        _ => anyhow!("cannot connect to PostgreSQL at `{shown}`: {detail}"),
    }
}

/// The driver's configuration from our URL: libpq's TLS options (`sslmode` with `verify-ca` and
/// `verify-full`, `sslrootcert`) are taken out and handled here; `application_name` defaults to
/// `salesingest` and `connect_timeout` to 10 s.
fn parse_url(url: &PgUrl) -> Result<(Config, SslMode, Option<PathBuf>)> {
    let raw = url.expose();
    let shown = url.redacted();
    let (base, query) = raw.split_once('?').unwrap_or((raw, ""));
    let mut kept: Vec<String> = Vec::new();
    let mut mode = SslMode::Prefer;
    let mut root = None;
    let mut has_app = false;
    let mut has_timeout = false;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "sslmode" => mode = SslMode::parse(&v).with_context(|| format!("in `{shown}`"))?,
            "sslrootcert" => root = Some(PathBuf::from(v.as_ref())),
            _ => {
                has_app |= k == "application_name";
                has_timeout |= k == "connect_timeout";
                kept.push(format!(
                    "{}={}",
                    form_urlencoded::byte_serialize(k.as_bytes()).collect::<String>(),
                    form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                ));
            }
        }
    }
    let text = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let mut config: Config = text.parse().map_err(|e| {
        anyhow!("`{shown}` is not a PostgreSQL URL the driver accepts: {e} (expected postgres://user:password@host:port/database?sslmode=…)")
    })?;
    config.ssl_mode(mode.driver());
    if !has_app {
        config.application_name("salesingest");
    }
    if !has_timeout {
        config.connect_timeout(Duration::from_secs(10));
    }
    Ok((config, mode, root))
}

impl PgStore {
    /// Connect to the database at `url`: one connection is made and checked at once (so a
    /// wrong URL fails here, with its reason), the schema is migrated if this salesingest is
    /// newer, and up to `opts.pool_size` connections are kept for this process.
    ///
    /// # Errors
    /// Each way connecting fails, with what to do.
    pub fn connect(url: &PgUrl, opts: &OpenOptions) -> Result<PgStore> {
        let shown = url.redacted();
        let (config, mode, root) = parse_url(url)?;
        let tls = connector(mode, root.as_deref()).with_context(|| format!("`{shown}`"))?;
        let store = PgStore {
            pool: Pool {
                config,
                tls,
                max: opts.pool_size.unwrap_or(2).max(1) as usize,
                state: Mutex::new(PoolState {
                    idle: Vec::new(),
                    open: 0,
                }),
                freed: Condvar::new(),
            },
            shown: shown.clone(),
            tmp_dir: std::env::temp_dir(),
            fault: Mutex::new(None),
        };
        {
            let mut c = store.conn()?;
            migrate(&mut c, &shown)?;
        }
        Ok(store)
    }

    /// A pooled connection.
    pub(super) fn conn(&self) -> Result<Conn<'_>> {
        self.pool.get(&self.shown)
    }

    /// Run `f` in one transaction (committed when it returns `Ok`, rolled back otherwise).
    pub(super) fn tx<T>(
        &self,
        f: impl FnOnce(&mut postgres::Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(|e| self.lost(&e))?;
        let out = f(&mut tx).map_err(|e| self.explain(e))?;
        tx.commit().map_err(|e| self.lost(&e))?;
        Ok(out)
    }

    /// One statement on its own (its own transaction), returning its rows.
    pub(super) fn query(&self, sql: &str, args: Args<'_>) -> Result<Vec<postgres::Row>> {
        let mut c = self.conn()?;
        c.query_typed(sql, args).map_err(|e| self.lost(&e))
    }

    /// One statement on its own, returning at most one row.
    pub(super) fn query_opt(&self, sql: &str, args: Args<'_>) -> Result<Option<postgres::Row>> {
        let mut c = self.conn()?;
        c.query_typed_opt(sql, args).map_err(|e| self.lost(&e))
    }

    /// One statement on its own, returning exactly one row.
    pub(super) fn query_one(&self, sql: &str, args: Args<'_>) -> Result<postgres::Row> {
        let mut c = self.conn()?;
        c.query_typed_one(sql, args).map_err(|e| self.lost(&e))
    }

    /// An error from inside a transaction, with what a driver error in it means.
    pub(super) fn explain(&self, e: anyhow::Error) -> anyhow::Error {
        match e.downcast_ref::<postgres::Error>() {
            Some(pe) => self.lost(pe),
            None => e,
        }
    }

    /// A driver error with what it means: a lost connection (server restarted, connection
    /// killed, network gone) says so and what happens next.
    pub(super) fn lost(&self, e: &postgres::Error) -> anyhow::Error {
        let gone = e.is_closed()
            || e.as_db_error().is_some_and(|d| {
                d.code() == &SqlState::ADMIN_SHUTDOWN || d.code() == &SqlState::CRASH_SHUTDOWN
            })
            || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>());
        if !gone {
            return anyhow!("PostgreSQL error on `{}`: {e}", self.shown);
        }
        let err = anyhow!(
            "lost the connection to PostgreSQL at `{}` (server restarted or stopped, the \
             connection was killed, or the network failed): {e}. Nothing half-done was kept; \
             the next run-worker rescues and finishes any job this one held",
            self.shown
        );
        self.fault
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert_with(|| format!("{err}"));
        err
    }
}
