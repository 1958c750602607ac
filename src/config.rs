//! Settings: defaults → config file (TOML) → environment → flags, and the `Secret` type.
//!
//! Owns: every read of the environment and the config file, default paths (XDG), durations.
//! Must not: open the database or the network.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use serde::Deserialize;

use crate::queue::retry::{Retention, RetryPolicy};
use crate::queue::Durability;

/// A secret (API token). Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that must send it (an `Authorization` header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret((redacted))")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

/// Queue settings.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    pub max_attempts: i64,
    pub retry: RetryPolicy,
    pub lease_ms: i64,
    pub retention: Retention,
    /// `synchronous`: `full` (default) or `normal`.
    pub durability: Durability,
    /// `window`: the most quick jobs a worker claims at once (1: one at a time).
    pub window: u32,
}

/// What to do without a Gumroad token: the worker's error for a sync job, and `enqueue
/// gumroad`'s refusal of one that would run now.
pub const NO_GUMROAD_TOKEN: &str = "no Gumroad access token: create one under Gumroad Settings → \
Advanced → Applications, then set GUMROAD_ACCESS_TOKEN or `[gumroad] access_token` in the config \
file (chmod 600)";

/// Gumroad settings.
#[derive(Debug, Clone)]
pub struct GumroadSettings {
    pub access_token: Option<Secret>,
    /// Where the token came from, for messages (`GUMROAD_ACCESS_TOKEN` or the config file).
    pub token_source: Option<String>,
    pub api_url: String,
    pub trailing_days: u32,
    pub first_sync: NaiveDate,
}

/// Everything a command needs to know about its environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The store: a SQLite file or a PostgreSQL URL (`--db`, `SALESINGEST_DB`).
    pub db: crate::store::Location,
    /// Where a SQLite store keeps its job inputs (report files, Ping bodies) by content hash:
    /// `<folder of the database>/inbox` (a PostgreSQL store keeps them in the database).
    pub inbox_dir: PathBuf,
    pub config_path: Option<PathBuf>,
    pub queue: QueueSettings,
    pub gumroad: GumroadSettings,
    /// Colour allowed (no `NO_COLOR`, no `--no-color`).
    pub color: bool,
    /// `[[schedule]]` entries: syncs `run-worker` enqueues when due.
    pub schedules: Vec<Schedule>,
    /// `[inbox] path`: a folder `run-worker` scans for report files.
    pub inbox_path: Option<PathBuf>,
    /// Healthcheck ping URL: `SALESINGEST_PING_URL`, else `[healthcheck] ping_url`.
    pub ping_url: Option<String>,
    /// Connections a PostgreSQL store keeps per process: `SALESINGEST_PG_POOL_SIZE`, else
    /// `[postgres] pool_size`, else 2.
    pub pg_pool_size: Option<u32>,
    /// `[serve]`: the HTTP server (`salesingest serve`).
    pub serve: ServeSettings,
    /// `[dashboard]`: how `serve`'s dashboard converts amounts.
    pub dashboard: DashboardSettings,
}

/// `[dashboard]` settings: `currency` and `rates` (both or neither) convert the dashboard's
/// per-book table and chart as `sales --in CURRENCY --rates FILE` does;
/// `SALESINGEST_DASHBOARD_CURRENCY` / `SALESINGEST_DASHBOARD_RATES` override them.
#[derive(Debug, Clone, Default)]
pub struct DashboardSettings {
    /// (rates file, target currency), when configured.
    pub convert: Option<(PathBuf, String)>,
}

/// `[serve]` settings, each overridable by a `SALESINGEST_SERVE_*` environment variable.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// `listen` / `SALESINGEST_SERVE_LISTEN` (default `127.0.0.1:8750`); `--listen` wins.
    pub listen: String,
    /// `token_file` / `SALESINGEST_SERVE_TOKEN_FILE`: the API bearer token, created 0600 on
    /// first start (default `<data dir>/serve-token`).
    pub token_file: PathBuf,
    /// `hook_secret_file` / `SALESINGEST_SERVE_HOOK_SECRET_FILE`: the secret path segment of
    /// the Gumroad Ping URL, created 0600 on first start (default `<data dir>/serve-hook-secret`).
    pub hook_secret_file: PathBuf,
    /// `max_upload` / `SALESINGEST_SERVE_MAX_UPLOAD`: bytes an upload may have (default 256 MiB;
    /// `64MiB`, `1GB`, `500000` are understood).
    pub max_upload: u64,
    /// `allowed_hosts` / `SALESINGEST_SERVE_ALLOWED_HOSTS` (comma-separated): `Host` names
    /// accepted besides `127.0.0.1`, `localhost` and `[::1]` (a proxy's or tunnel's name).
    pub allowed_hosts: Vec<String>,
    /// `header_timeout` / `SALESINGEST_SERVE_HEADER_TIMEOUT`: how long a client may take to
    /// send its request head (default 5s).
    pub header_timeout_ms: i64,
    /// `request_timeout` / `SALESINGEST_SERVE_REQUEST_TIMEOUT`: how long one request may take,
    /// uploads excepted (default 60s).
    pub request_timeout_ms: i64,
    /// `upload_idle_timeout` / `SALESINGEST_SERVE_UPLOAD_IDLE_TIMEOUT`: how long an upload's
    /// body may send nothing before it is cut (408). Uploads have no total limit, so a large
    /// file on a slow link gets through as long as it keeps moving (default 60s).
    pub upload_idle_timeout_ms: i64,
    /// `shutdown_timeout` / `SALESINGEST_SERVE_SHUTDOWN_TIMEOUT`: how long requests in flight
    /// get after SIGTERM/SIGINT (default 10s).
    pub shutdown_timeout_ms: i64,
}

/// One `[[schedule]]`: enqueue `platform`'s incremental sync every `every_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Unique name (default: the platform's name).
    pub name: String,
    pub platform: crate::model::Platform,
    pub every_ms: i64,
    /// The duration as written in the config, for display.
    pub every: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    queue: FileQueue,
    #[serde(default)]
    retention: FileRetention,
    #[serde(default)]
    gumroad: FileGumroad,
    #[serde(default)]
    schedule: Vec<FileSchedule>,
    #[serde(default)]
    inbox: FileInbox,
    #[serde(default)]
    healthcheck: FileHealthcheck,
    #[serde(default)]
    postgres: FilePostgres,
    #[serde(default)]
    serve: FileServe,
    #[serde(default)]
    dashboard: FileDashboard,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDashboard {
    currency: Option<String>,
    rates: Option<String>,
}

fn dashboard_settings(f: &FileDashboard, config_dir: Option<&Path>) -> Result<DashboardSettings> {
    let currency = env("SALESINGEST_DASHBOARD_CURRENCY").or_else(|| f.currency.clone());
    let rates = env("SALESINGEST_DASHBOARD_RATES").or_else(|| f.rates.clone());
    let convert = match (currency, rates) {
        (None, None) => None,
        (Some(c), Some(r)) => Some((
            expand_path(&r, config_dir)?,
            crate::report::parse_currency(&c).map_err(|e| anyhow::anyhow!("[dashboard] currency: {e}"))?,
        )),
        _ => bail!(
            "[dashboard] needs both `currency` (e.g. \"EUR\") and `rates` (a rates file, see `salesingest sales --help`), or neither"
        ),
    };
    Ok(DashboardSettings { convert })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileServe {
    listen: Option<String>,
    token_file: Option<String>,
    hook_secret_file: Option<String>,
    max_upload: Option<toml::Value>,
    allowed_hosts: Option<Vec<String>>,
    header_timeout: Option<String>,
    request_timeout: Option<String>,
    upload_idle_timeout: Option<String>,
    shutdown_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePostgres {
    pool_size: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSchedule {
    name: Option<String>,
    platform: String,
    every: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileInbox {
    path: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileHealthcheck {
    ping_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileQueue {
    max_attempts: Option<i64>,
    retry_base: Option<String>,
    retry_cap: Option<String>,
    lease: Option<String>,
    synchronous: Option<String>,
    window: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRetention {
    completed: Option<String>,
    failed: Option<String>,
    cron_runs: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileGumroad {
    access_token: Option<String>,
    api_url: Option<String>,
    trailing_days: Option<u32>,
    first_sync: Option<NaiveDate>,
}

/// Read an environment variable; empty counts as unset.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The default database path: `<XDG data dir>/salesingest/salesingest.db`.
///
/// # Errors
/// When no home directory can be found.
pub fn default_db_path() -> Result<PathBuf> {
    let base = directories::BaseDirs::new()
        .context("cannot find the home directory: set --db or SALESINGEST_DB")?;
    Ok(base.data_dir().join("salesingest").join("salesingest.db"))
}

/// The default config path: `<XDG config dir>/salesingest/config.toml`.
pub fn default_config_path() -> Option<PathBuf> {
    directories::BaseDirs::new().map(|b| b.config_dir().join("salesingest").join("config.toml"))
}

/// Whether `NO_COLOR` is set (to anything non-empty).
pub fn no_color_env() -> bool {
    env("NO_COLOR").is_some()
}

/// Load the settings. `db` and `config` come from the flags or their environment variables
/// (clap reads `SALESINGEST_DB` and `SALESINGEST_CONFIG`).
///
/// # Errors
/// A missing explicit config file, an unreadable or invalid one, a config file holding a secret
/// that others can read, or a bad duration.
pub fn load(db: Option<&str>, config: Option<PathBuf>, no_color_flag: bool) -> Result<Settings> {
    let (config_path, explicit) = match config {
        Some(p) => (Some(p), true),
        None => (default_config_path(), false),
    };
    let file_cfg = match &config_path {
        Some(p) if p.exists() => read_config(p)?,
        Some(p) if explicit => bail!(
            "the config file `{}` does not exist: create it or drop --config/SALESINGEST_CONFIG",
            p.display()
        ),
        _ => FileConfig::default(),
    };
    let db = db_location(db)?;
    let inbox_dir = match &db {
        crate::store::Location::Sqlite(p) => p
            .parent()
            .map_or_else(|| PathBuf::from("inbox"), |d| d.join("inbox")),
        crate::store::Location::Postgres(_) => default_db_path()?
            .parent()
            .map_or_else(|| PathBuf::from("inbox"), |d| d.join("inbox")),
    };

    let q = &file_cfg.queue;
    let defaults = RetryPolicy::default();
    let retry = RetryPolicy {
        base_ms: opt_duration(q.retry_base.as_deref(), "queue.retry_base")?
            .unwrap_or(defaults.base_ms),
        cap_ms: opt_duration(q.retry_cap.as_deref(), "queue.retry_cap")?.unwrap_or(defaults.cap_ms),
    };
    let r = &file_cfg.retention;
    let rd = Retention::default();
    let retention = Retention {
        completed_ms: opt_duration(r.completed.as_deref(), "retention.completed")?
            .unwrap_or(rd.completed_ms),
        failed_ms: opt_duration(r.failed.as_deref(), "retention.failed")?.unwrap_or(rd.failed_ms),
        runs_ms: opt_duration(r.cron_runs.as_deref(), "retention.cron_runs")?.unwrap_or(rd.runs_ms),
        batch: rd.batch,
    };
    let max_attempts = q.max_attempts.unwrap_or(3);
    if max_attempts < 1 {
        bail!("queue.max_attempts must be at least 1 (found {max_attempts})");
    }
    let window = q.window.unwrap_or(crate::queue::worker::DEFAULT_WINDOW);
    if !(1..=crate::queue::worker::MAX_WINDOW).contains(&window) {
        bail!(
            "queue.window must be from 1 (one job at a time) to {} (found {window})",
            crate::queue::worker::MAX_WINDOW
        );
    }
    let queue = QueueSettings {
        window,
        max_attempts,
        retry,
        lease_ms: opt_duration(q.lease.as_deref(), "queue.lease")?.unwrap_or(60_000),
        retention,
        durability: match q.synchronous.as_deref() {
            None => Durability::Full,
            Some(v) => Durability::parse(v).with_context(|| {
                format!("queue.synchronous must be \"full\" or \"normal\" (found {v:?})")
            })?,
        },
    };

    let g = &file_cfg.gumroad;
    let (access_token, token_source) = match env("GUMROAD_ACCESS_TOKEN") {
        Some(t) => (
            Some(Secret::new(t.trim())),
            Some("GUMROAD_ACCESS_TOKEN".to_string()),
        ),
        None => match &g.access_token {
            Some(t) if !t.trim().is_empty() => (
                Some(Secret::new(t.trim())),
                config_path
                    .as_ref()
                    .map(|p| format!("[gumroad] access_token in `{}`", p.display())),
            ),
            _ => (None, None),
        },
    };
    let gumroad = GumroadSettings {
        access_token,
        token_source,
        api_url: env("SALESINGEST_GUMROAD_API_URL")
            .or_else(|| g.api_url.clone())
            .unwrap_or_else(|| "https://api.gumroad.com".to_string())
            .trim_end_matches('/')
            .to_string(),
        trailing_days: g.trailing_days.unwrap_or(30),
        first_sync: g
            .first_sync
            .unwrap_or_else(|| NaiveDate::from_ymd_opt(2011, 1, 1).unwrap_or_default()),
    };
    let schedules = schedules(&file_cfg.schedule)?;
    let config_dir = config_path.as_deref().and_then(Path::parent);
    let inbox_path = file_cfg
        .inbox
        .path
        .as_deref()
        .filter(|p| !p.trim().is_empty())
        .map(|p| expand_path(p, config_dir))
        .transpose()?;
    if inbox_path.as_ref().is_some_and(|p| p == &inbox_dir) {
        bail!(
            "[inbox] path `{}` is where salesingest keeps its own copies of imported files: choose another folder",
            inbox_dir.display()
        );
    }
    let ping_url = env("SALESINGEST_PING_URL")
        .or_else(|| file_cfg.healthcheck.ping_url.clone())
        .map(|u| u.trim().trim_end_matches('/').to_string())
        .filter(|u| !u.is_empty());
    if let Some(u) = &ping_url {
        check_ping_url(u)?;
    }
    let data_dir = inbox_dir
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let serve = serve_settings(&file_cfg.serve, &data_dir, config_dir)?;
    let dashboard = dashboard_settings(&file_cfg.dashboard, config_dir)?;
    Ok(Settings {
        serve,
        dashboard,
        pg_pool_size: match env("SALESINGEST_PG_POOL_SIZE") {
            Some(v) => Some(
                v.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .with_context(|| {
                        format!(
                            "SALESINGEST_PG_POOL_SIZE `{v}` is not a whole number of at least 1"
                        )
                    })?,
            ),
            None => match file_cfg.postgres.pool_size {
                Some(0) => bail!("[postgres] pool_size must be at least 1"),
                n => n,
            },
        },
        db,
        inbox_dir,
        config_path,
        queue,
        gumroad,
        color: !no_color_flag && !no_color_env(),
        schedules,
        inbox_path,
        ping_url,
    })
}

fn serve_settings(
    f: &FileServe,
    data_dir: &Path,
    config_dir: Option<&Path>,
) -> Result<ServeSettings> {
    let path = |env_name: &str, file: &Option<String>, default: &str| -> Result<PathBuf> {
        match env(env_name).or_else(|| file.clone()) {
            Some(p) => expand_path(&p, config_dir),
            None => Ok(data_dir.join(default)),
        }
    };
    let max_upload = match env("SALESINGEST_SERVE_MAX_UPLOAD") {
        Some(v) => parse_size(&v).with_context(|| format!("SALESINGEST_SERVE_MAX_UPLOAD `{v}`"))?,
        None => match &f.max_upload {
            None => 256 * 1024 * 1024,
            Some(toml::Value::Integer(n)) if *n > 0 => u64::try_from(*n).unwrap_or(u64::MAX),
            Some(toml::Value::String(s)) => {
                parse_size(s).with_context(|| format!("[serve] max_upload `{s}`"))?
            }
            Some(other) => bail!("[serve] max_upload must be a size such as \"256MiB\" or a whole number of bytes (found {other})"),
        },
    };
    let allowed_hosts = match env("SALESINGEST_SERVE_ALLOWED_HOSTS") {
        Some(v) => v
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect(),
        None => f
            .allowed_hosts
            .iter()
            .flatten()
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect(),
    };
    let dur = |env_name: &str, file: &Option<String>, key: &str, default: i64| -> Result<i64> {
        match env(env_name) {
            Some(v) => parse_duration_ms(&v).with_context(|| format!("{env_name} `{v}`")),
            None => Ok(opt_duration(file.as_deref(), key)?.unwrap_or(default)),
        }
    };
    Ok(ServeSettings {
        listen: env("SALESINGEST_SERVE_LISTEN")
            .or_else(|| f.listen.clone())
            .unwrap_or_else(|| "127.0.0.1:8750".to_string())
            .trim()
            .to_string(),
        token_file: path("SALESINGEST_SERVE_TOKEN_FILE", &f.token_file, "serve-token")?,
        hook_secret_file: path(
            "SALESINGEST_SERVE_HOOK_SECRET_FILE",
            &f.hook_secret_file,
            "serve-hook-secret",
        )?,
        max_upload,
        allowed_hosts,
        header_timeout_ms: dur(
            "SALESINGEST_SERVE_HEADER_TIMEOUT",
            &f.header_timeout,
            "serve.header_timeout",
            5_000,
        )?,
        request_timeout_ms: dur(
            "SALESINGEST_SERVE_REQUEST_TIMEOUT",
            &f.request_timeout,
            "serve.request_timeout",
            60_000,
        )?,
        upload_idle_timeout_ms: dur(
            "SALESINGEST_SERVE_UPLOAD_IDLE_TIMEOUT",
            &f.upload_idle_timeout,
            "serve.upload_idle_timeout",
            60_000,
        )?,
        shutdown_timeout_ms: dur(
            "SALESINGEST_SERVE_SHUTDOWN_TIMEOUT",
            &f.shutdown_timeout,
            "serve.shutdown_timeout",
            10_000,
        )?,
    })
}

/// A size: bytes, or a number with `KiB`, `MiB`, `GiB` (1024s) or `KB`, `MB`, `GB` (1000s).
///
/// # Errors
/// Anything else, or zero.
pub fn parse_size(text: &str) -> Result<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .ok()
        .with_context(|| format!("`{t}` is not a size: use bytes or e.g. 64MiB, 1GB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        other => bail!("`{t}`: unknown unit `{other}` (use B, KiB, MiB, GiB, KB, MB, GB)"),
    };
    let v = n.saturating_mul(mult);
    if v == 0 {
        bail!("`{t}`: a size must be more than 0");
    }
    Ok(v)
}

/// Validate `[[schedule]]` entries: a known API platform, a positive duration, unique names.
fn schedules(entries: &[FileSchedule]) -> Result<Vec<Schedule>> {
    let mut out: Vec<Schedule> = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let n = i + 1;
        let platform = crate::model::Platform::parse(&e.platform).with_context(|| {
            format!(
                "[[schedule]] #{n}: unknown platform `{}` (schedules are for API platforms: gumroad)",
                e.platform
            )
        })?;
        if platform.is_file_platform() {
            bail!(
                "[[schedule]] #{n}: {platform} imports report files, which cannot be fetched on a schedule: \
                 drop its reports into the `[inbox] path` folder instead (schedules are for API platforms: gumroad)"
            );
        }
        let every_ms = parse_duration_ms(&e.every)
            .with_context(|| format!("[[schedule]] #{n}: invalid `every`"))?;
        if every_ms < 60_000 {
            bail!(
                "[[schedule]] #{n}: `every = \"{}\"` is too short (at least 1m)",
                e.every
            );
        }
        let name = e
            .name
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(platform.as_str())
            .to_string();
        if out.iter().any(|s| s.name == name) {
            bail!("[[schedule]] #{n}: a schedule named `{name}` is already defined: give one a different `name`");
        }
        out.push(Schedule {
            name,
            platform,
            every_ms,
            every: e.every.trim().to_string(),
        });
    }
    Ok(out)
}

/// `~/x` → home/x; a relative path is relative to the config file's folder.
fn expand_path(p: &str, base: Option<&Path>) -> Result<PathBuf> {
    let p = p.trim();
    if let Some(rest) = p.strip_prefix("~/") {
        let home = directories::BaseDirs::new()
            .context("cannot find the home directory to expand `~` in [inbox] path")?;
        return Ok(home.home_dir().join(rest));
    }
    let path = PathBuf::from(p);
    Ok(match base {
        Some(b) if path.is_relative() => b.join(path),
        _ => path,
    })
}

fn check_ping_url(u: &str) -> Result<()> {
    if !(u.starts_with("http://") || u.starts_with("https://")) || u.contains(char::is_whitespace) {
        bail!("the healthcheck ping URL must start with http:// or https:// and hold no spaces (from SALESINGEST_PING_URL, --ping-url or [healthcheck] ping_url)");
    }
    Ok(())
}

/// The store location from `--db` / `SALESINGEST_DB`, or the default SQLite file (also for
/// `doctor`, which must work even when the config is broken).
///
/// # Errors
/// When no home directory can be found, the current directory is unreadable, or the value is
/// neither a path nor a postgres:// URL.
pub fn db_location(db: Option<&str>) -> Result<crate::store::Location> {
    match db {
        Some(text) => crate::store::Location::parse_here(text),
        None => Ok(crate::store::Location::Sqlite(default_db_path()?)),
    }
}

/// Validate a `--ping-url` flag like the other ping URL sources.
///
/// # Errors
/// A URL that is not http(s).
pub fn validate_ping_url(u: &str) -> Result<String> {
    let u = u.trim().trim_end_matches('/').to_string();
    check_ping_url(&u)?;
    Ok(u)
}

fn read_config(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file `{}`", path.display()))?;
    let cfg: FileConfig = toml::from_str(&text)
        .with_context(|| format!("invalid config file `{}`", path.display()))?;
    #[cfg(unix)]
    if cfg.gumroad.access_token.is_some() {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("cannot stat `{}`", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            bail!(
                "the config file `{}` holds an access token but is readable by others (mode {:o}): run `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
    }
    Ok(cfg)
}

fn opt_duration(text: Option<&str>, key: &str) -> Result<Option<i64>> {
    text.map(|t| parse_duration_ms(t).with_context(|| format!("invalid duration for `{key}`")))
        .transpose()
}

/// Parse a duration such as `90s`, `5m`, `6h`, `30d`, `1w`, or bare seconds, into milliseconds.
///
/// # Errors
/// When the text is not a whole number with one of those units.
pub fn parse_duration_ms(text: &str) -> Result<i64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: i64 = num
        .parse()
        .with_context(|| format!("`{t}` is not a duration like 30s, 5m, 6h, 30d or 2w"))?;
    let mult = match unit.trim() {
        "" | "s" => 1_000,
        "ms" => 1,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        other => bail!("unknown duration unit `{other}` in `{t}` (use s, m, h, d or w)"),
    };
    n.checked_mul(mult)
        .with_context(|| format!("duration `{t}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("90s").unwrap(), 90_000);
        assert_eq!(parse_duration_ms("5m").unwrap(), 300_000);
        assert_eq!(parse_duration_ms("6h").unwrap(), 21_600_000);
        assert_eq!(parse_duration_ms("30d").unwrap(), 2_592_000_000);
        assert_eq!(parse_duration_ms("0").unwrap(), 0);
        assert!(parse_duration_ms("5 parsecs").is_err());
        assert!(parse_duration_ms("").is_err());
    }

    fn cfg(text: &str) -> Result<FileConfig> {
        Ok(toml::from_str(text)?)
    }

    #[test]
    fn schedules_are_validated() {
        let c = cfg("[[schedule]]\nplatform = \"gumroad\"\nevery = \"6h\"\n").unwrap();
        let s = schedules(&c.schedule).unwrap();
        assert_eq!(s[0].name, "gumroad");
        assert_eq!(s[0].every_ms, 6 * 3_600_000);
        let c = cfg("[[schedule]]\nplatform = \"kdp\"\nevery = \"1d\"\n").unwrap();
        let e = format!("{:#}", schedules(&c.schedule).unwrap_err());
        assert!(e.contains("amazon_kdp imports report files"), "{e}");
        let c = cfg("[[schedule]]\nplatform = \"gumroad\"\nevery = \"6 parsecs\"\n").unwrap();
        assert!(schedules(&c.schedule).is_err());
        let c = cfg("[[schedule]]\nplatform = \"gumroad\"\nevery = \"6h\"\n[[schedule]]\nplatform = \"gumroad\"\nevery = \"1d\"\n").unwrap();
        assert!(format!("{:#}", schedules(&c.schedule).unwrap_err()).contains("already defined"));
        assert!(cfg(
            "[healthcheck]\nping_url = \"http://127.0.0.1:1/x\"\n[inbox]\npath = \"in\"\n"
        )
        .is_ok());
        assert!(check_ping_url("ftp://x").is_err());
    }

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("tok_123");
        assert!(!format!("{s:?} {s}").contains("tok_123"));
    }
}
