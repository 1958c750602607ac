//! The `GET /v2/sales` client: windows, `page_key` pagination, error classification and the
//! strict page parser.

use std::collections::HashSet;
use std::fmt;
use std::time::{Duration, SystemTime};

use chrono::NaiveDate;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, RETRY_AFTER};
use reqwest::StatusCode;
use serde_json::{Map, Value};

use super::{
    kept_share, parse_formatted_price, privacy, utc_date, Kept, Sale, Window, DEFAULT_BASE_URL,
    MICROS_PER_CENT,
};
use crate::model::SaleEvent;
use crate::platforms::{InputError, PlatformError, SinkError};

/// What to tell the user when Gumroad refuses the token.
const TOKEN_FIX: &str = "create a new one under Settings → Advanced → Applications (\"Generate access token\") and set GUMROAD_ACCESS_TOKEN or [gumroad] access_token in the config file";

/// Delay used when a 429 carries no usable `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The most one page of sales may take. Gumroad's pages are tens of KB; the answer is read in
/// pieces and given up past this, so a broken proxy or server cannot grow the process.
pub(crate) const MAX_PAGE_BYTES: usize = 16 << 20;

/// A Gumroad API client: base URL, access token and timeouts.
///
/// The token is only ever sent in the `Authorization: Bearer` header, never in a URL, and is
/// left out of `Debug` output and of every error message.
#[derive(Clone)]
pub struct Client {
    base_url: String,
    token: String,
    /// Time allowed to open the connection (default 10 s).
    pub connect_timeout: Duration,
    /// Time allowed for one whole request, body included (default 60 s).
    pub total_timeout: Duration,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url)
            .field("token", &"(redacted)")
            .field("connect_timeout", &self.connect_timeout)
            .field("total_timeout", &self.total_timeout)
            .finish()
    }
}

impl Client {
    /// A client for `base_url` (normally [`DEFAULT_BASE_URL`]; a trailing `/` is ignored).
    pub fn new(base_url: impl Into<String>, token: impl Into<String>) -> Self {
        let base_url = base_url.into();
        let base_url = base_url.trim().trim_end_matches('/').to_string();
        Client {
            base_url: if base_url.is_empty() {
                DEFAULT_BASE_URL.to_string()
            } else {
                base_url
            },
            token: token.into().trim().to_string(),
            connect_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(60),
        }
    }

    /// The same client with other timeouts.
    #[must_use]
    pub fn with_timeouts(mut self, connect: Duration, total: Duration) -> Self {
        self.connect_timeout = connect;
        self.total_timeout = total;
        self
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Remove the token from text that came from elsewhere (server bodies, transport errors).
    fn scrub(&self, text: &str) -> String {
        if self.token.is_empty() {
            text.to_string()
        } else {
            text.replace(&self.token, "(redacted)")
        }
    }

    async fn fetch(
        &self,
        http: &reqwest::Client,
        auth: &HeaderValue,
        window: &Window,
        page_key: Option<&str>,
        label: &str,
    ) -> Result<Vec<u8>, PlatformError> {
        let url = format!("{}/v2/sales", self.base_url);
        let mut query = vec![
            ("after", window.after.to_string()),
            ("before", window.before.to_string()),
        ];
        if let Some(key) = page_key {
            query.push(("page_key", key.to_string()));
        }
        self.get(http, auth, &url, &query, label, false)
            .await
            .map(Option::unwrap_or_default)
    }

    /// One GET: the body of a 2xx, `None` for a 404 when `not_found_ok`, else the classified
    /// error (token scrubbed).
    async fn get(
        &self,
        http: &reqwest::Client,
        auth: &HeaderValue,
        url: &str,
        query: &[(&str, String)],
        label: &str,
        not_found_ok: bool,
    ) -> Result<Option<Vec<u8>>, PlatformError> {
        let response = http
            .get(url)
            .header(AUTHORIZATION, auth.clone())
            .header(ACCEPT, "application/json")
            .query(query)
            .send()
            .await
            .map_err(|e| self.transport_error(&e, label))?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut response = response;
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(&e, label))?
        {
            if body.len() + chunk.len() > MAX_PAGE_BYTES {
                return Err(PlatformError::Transient(format!(
                    "{label}: Gumroad's answer (HTTP {}) ran past {} MB for one page of sales, which are tens of KB; something between here and Gumroad is wrong, will retry",
                    status.as_u16(),
                    MAX_PAGE_BYTES >> 20
                )));
            }
            body.extend_from_slice(&chunk);
        }
        if not_found_ok && status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        classify(status, &headers, &body, SystemTime::now(), label)
            .map(|()| Some(body))
            .map_err(|e| match e {
                PlatformError::Permanent(m) => PlatformError::Permanent(self.scrub(&m)),
                PlatformError::Transient(m) => PlatformError::Transient(self.scrub(&m)),
                other => other,
            })
    }

    fn transport_error(&self, e: &reqwest::Error, label: &str) -> PlatformError {
        if e.is_timeout() {
            return PlatformError::Transient(format!(
                "{label}: Gumroad did not answer in time (connect timeout {}s, request timeout {}s); will retry",
                self.connect_timeout.as_secs_f64(),
                self.total_timeout.as_secs_f64()
            ));
        }
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        let what = if e.is_connect() {
            format!("cannot connect to {}", self.base_url)
        } else {
            "the request failed".to_string()
        };
        PlatformError::Transient(self.scrub(&format!("{label}: {what} ({text}); will retry")))
    }
}

/// Decide from the status what a response means. `Ok(())` for a 2xx whose body should be parsed.
fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
    label: &str,
) -> Result<(), PlatformError> {
    if status.is_success() {
        return Ok(());
    }
    let detail = error_detail(body);
    let detail_sfx = if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    };
    match status.as_u16() {
        401 => Err(PlatformError::Permanent(format!(
            "Gumroad rejected the access token (HTTP 401): {TOKEN_FIX}"
        ))),
        403 => Err(PlatformError::Permanent(format!(
            "Gumroad refused access with this access token (HTTP 403; it needs the `view_sales` scope): {TOKEN_FIX}"
        ))),
        429 => {
            let header = headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok());
            let delay = retry_after(header, now);
            Err(PlatformError::RateLimited {
                retry_after: delay,
                message: format!(
                    "{label}: Gumroad is rate limiting requests (HTTP 429); retrying in {}s",
                    delay.as_secs()
                ),
            })
        }
        408 | 500..=599 => Err(PlatformError::Transient(format!(
            "{label}: Gumroad server error (HTTP {status}){detail_sfx}; will retry"
        ))),
        400 if detail.contains("timed out") => Err(PlatformError::Transient(format!(
            "{label}: Gumroad gave up on a slow query (HTTP 400){detail_sfx}; will retry"
        ))),
        _ => Err(PlatformError::Permanent(format!(
            "{label}: Gumroad refused the request (HTTP {status}){detail_sfx}"
        ))),
    }
}

/// The error text of an error body (`{"error": …}`, `{"message": …}`), or a short excerpt.
fn error_detail(body: &[u8]) -> String {
    if let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(body) {
        for key in ["error", "message"] {
            if let Some(Value::String(s)) = obj.get(key) {
                return s.clone();
            }
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let mut excerpt: String = text.chars().take(200).collect();
    if excerpt.len() < text.len() {
        excerpt.push('…');
    }
    excerpt
}

/// How long a 429 asks us to wait: `Retry-After` in seconds or as an HTTP date (relative to
/// `now`; a date in the past means no wait). Absent or unreadable: 60 seconds.
pub fn retry_after(header: Option<&str>, now: SystemTime) -> Duration {
    let Some(value) = header.map(str::trim).filter(|v| !v.is_empty()) else {
        return DEFAULT_RETRY_AFTER;
    };
    if value.bytes().all(|b| b.is_ascii_digit()) {
        return value
            .parse::<u64>()
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_RETRY_AFTER);
    }
    match httpdate::parse_http_date(value) {
        Ok(at) => at.duration_since(now).unwrap_or(Duration::ZERO),
        Err(_) => DEFAULT_RETRY_AFTER,
    }
}

/// One parsed and fully validated `/v2/sales` page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub events: Vec<SaleEvent>,
    /// Absent on the last page.
    pub next_page_key: Option<String>,
    /// Sales counted with a caveat (a partial refund whose share cannot be derived), named.
    pub warnings: Vec<String>,
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncSummary {
    pub windows: u64,
    pub pages: u64,
    pub sales: u64,
    /// The pages' warnings, in order (at most `MAX_SYNC_WARNINGS`, then one line with how many
    /// more there were).
    pub warnings: Vec<String>,
}

/// Warnings a sync keeps word for word; the rest are counted.
pub const MAX_SYNC_WARNINGS: usize = 100;

/// Where `sync` sends what it fetched. The ingest layer implements it over the store.
pub trait PageSink {
    /// All events of one page, already validated (a bad page never reaches the sink).
    ///
    /// `window_done` is `Some(window.before)` on the last page of a window: the caller stores it
    /// as the sync cursor in the same transaction as these events (keeping the later of the
    /// stored and the new cursor, since `--since/--until` syncs may revisit old windows). The
    /// last page of a window may be empty and is still delivered.
    ///
    /// # Errors
    /// A `SinkError` stops the sync.
    fn page(
        &mut self,
        events: Vec<SaleEvent>,
        window_done: Option<NaiveDate>,
    ) -> Result<(), SinkError>;

    /// Pages and sales fetched so far (for progress bars).
    fn progress(&mut self, _pages: u64, _sales: u64) {}
}

/// The runtime, HTTP client and `Authorization` header (marked sensitive) for `client`.
fn setup(
    client: &Client,
    what: &str,
) -> Result<(tokio::runtime::Runtime, reqwest::Client, HeaderValue), PlatformError> {
    if client.token.is_empty() {
        return Err(PlatformError::Permanent(format!(
            "no Gumroad access token: {TOKEN_FIX}"
        )));
    }
    let mut auth = HeaderValue::from_str(&format!("Bearer {}", client.token)).map_err(|_| {
        PlatformError::Permanent(format!(
            "the Gumroad access token contains characters that cannot be sent in an HTTP header (a pasted newline or quote?): {TOKEN_FIX}"
        ))
    })?;
    auth.set_sensitive(true);
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(PlatformError::Permanent(format!(
            "internal error: the Gumroad {what} was started from inside an async runtime"
        )));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| PlatformError::Transient(format!("cannot start the HTTP runtime: {e}")))?;
    let http = reqwest::Client::builder()
        .connect_timeout(client.connect_timeout)
        .timeout(client.total_timeout)
        .user_agent(concat!("salesingest/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| PlatformError::Transient(format!("cannot set up the HTTP client: {e}")))?;

    Ok((runtime, http, auth))
}

/// Fetch one sale, `GET /v2/sales/{sale_id}` (the id percent-encoded as one path segment), as
/// the event a sync gives for it, with its warning. `Ok(None)` when Gumroad answers 404 (no
/// such sale for this seller: a test purchase or a test Ping, which the API never returns).
///
/// Blocking, like [`sync`].
///
/// # Errors
/// As [`sync`]: `Permanent` for 401/403 (with how to get a new token) and other 4xx or
/// `"success": false`; `RateLimited` for 429; `Transient` for 5xx, 408, timeouts and
/// connection errors; `Rejected` for a body without a valid `sale` object.
pub fn fetch_sale(
    client: &Client,
    sale_id: &str,
) -> Result<Option<(SaleEvent, Option<String>)>, PlatformError> {
    let (runtime, http, auth) = setup(client, "sale fetch")?;
    let label = format!("Gumroad /v2/sales/{sale_id}");
    let mut url = reqwest::Url::parse(&client.base_url).map_err(|e| {
        PlatformError::Permanent(format!(
            "the Gumroad API URL `{}` is not a URL ({e}): fix SALESINGEST_GUMROAD_API_URL or [gumroad] api_url",
            client.base_url
        ))
    })?;
    url.path_segments_mut()
        .map_err(|()| {
            PlatformError::Permanent(format!(
                "the Gumroad API URL `{}` cannot have a path: fix SALESINGEST_GUMROAD_API_URL or [gumroad] api_url",
                client.base_url
            ))
        })?
        .pop_if_empty()
        .extend(["v2", "sales", sale_id]);
    let Some(body) = runtime.block_on(client.get(&http, &auth, url.as_str(), &[], &label, true))?
    else {
        return Ok(None);
    };
    parse_sale(&body, &label).map(Some)
}

/// Parse a `GET /v2/sales/:id` body (`{"success": true, "sale": {…}}`) as `parse_page` parses
/// each sale of a page. Pure.
fn parse_sale(body: &[u8], label: &str) -> Result<(SaleEvent, Option<String>), PlatformError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        if e.classify() == serde_json::error::Category::Eof {
            PlatformError::Transient(format!(
                "{label}: the response body ends early (truncated JSON); nothing was stored; will retry"
            ))
        } else {
            reject(label, None, format!("the response is not valid JSON: {e}"))
        }
    })?;
    let Value::Object(top) = &value else {
        return Err(reject(
            label,
            None,
            format!("expected a JSON object, found {}", describe(&value)),
        ));
    };
    if let Some(Value::Bool(false)) = top.get("success") {
        let message = match top.get("message").or_else(|| top.get("error")) {
            Some(Value::String(m)) => m.clone(),
            _ => "no message given".to_string(),
        };
        return Err(PlatformError::Permanent(format!(
            "{label}: Gumroad answered \"success\": false: {message}"
        )));
    }
    let Some(sale) = top.get("sale") else {
        return Err(reject(
            label,
            Some("sale".into()),
            "the field is missing (expected the sale object)".to_string(),
        ));
    };
    sale_event(sale, label, 0)
}

/// Fetch every sale of `windows` (oldest first), page by page, into `sink`.
///
/// Blocking: runs its own current-thread Tokio runtime, so it must not be called from inside
/// an async runtime (it returns an error instead of panicking if it is).
///
/// # Errors
/// - `Permanent`: 401/403 (the message says how to get a new token), other 4xx, a 200 with
///   `"success": false`, a repeated page key, an empty or unusable token.
/// - `RateLimited`: 429, with `Retry-After` (seconds or HTTP date; 60 s when absent).
/// - `Transient`: 5xx, 408, timeouts, connection errors, a truncated body.
/// - `Rejected`: a page whose JSON is malformed or has a missing or ill-typed field (naming the
///   page, the window and the field); nothing from that page reaches the sink.
/// - `Sink`: the sink failed.
pub fn sync(
    client: &Client,
    windows: &[Window],
    sink: &mut dyn PageSink,
) -> Result<SyncSummary, PlatformError> {
    let (runtime, http, auth) = setup(client, "sync")?;
    let mut summary = SyncSummary::default();
    let mut more_warnings = 0u64;
    for window in windows {
        let mut seen: HashSet<String> = HashSet::new();
        let mut page_key: Option<String> = None;
        let mut page_no = 0u64;
        loop {
            page_no += 1;
            let label = format!("Gumroad /v2/sales page {page_no} of {window}");
            let body = runtime.block_on(client.fetch(
                &http,
                &auth,
                window,
                page_key.as_deref(),
                &label,
            ))?;
            let page = parse_labeled(&body, &label)?;
            if let Some(key) = &page.next_page_key {
                if !seen.insert(key.clone()) {
                    return Err(PlatformError::Permanent(format!(
                        "{label}: Gumroad returned the page key `{key}` a second time; stopping instead of looping (nothing from this page was stored)"
                    )));
                }
            }
            let count = page.events.len() as u64;
            let done = page.next_page_key.is_none();
            for w in page.warnings {
                if summary.warnings.len() < MAX_SYNC_WARNINGS {
                    summary.warnings.push(w);
                } else {
                    more_warnings += 1;
                }
            }
            sink.page(page.events, done.then_some(window.before))?;
            summary.pages += 1;
            summary.sales += count;
            sink.progress(summary.pages, summary.sales);
            match page.next_page_key {
                Some(key) => page_key = Some(key),
                None => break,
            }
        }
        summary.windows += 1;
    }
    if more_warnings > 0 {
        summary.warnings.push(format!(
            "… and {more_warnings} more warning(s) like these, not shown"
        ));
    }
    Ok(summary)
}

/// Parse one `/v2/sales` response body. Pure.
///
/// The whole page is validated before anything is returned. `success` must be `true`
/// (`false` is a `Permanent` error carrying Gumroad's message); every sale needs a string `id`,
/// an RFC 3339 `created_at`, integer `price` and `gumroad_fee` (USD cents); `quantity` defaults
/// to 1; missing booleans mean false; absent or null keys are allowed where the API drops nulls.
///
/// # Errors
/// `Rejected` naming `page_no` and the field, `Transient` for a truncated body, `Permanent` for
/// `"success": false`.
pub fn parse_page(body: &[u8], page_no: u64) -> Result<Page, PlatformError> {
    parse_labeled(body, &format!("Gumroad /v2/sales page {page_no}"))
}

fn reject(label: &str, column: Option<String>, message: String) -> PlatformError {
    PlatformError::Rejected(InputError {
        file: label.to_string(),
        column,
        message,
        ..InputError::default()
    })
}

/// A short description of a JSON value for error messages.
fn describe(v: &Value) -> String {
    let text = match v {
        Value::Null => return "null".to_string(),
        Value::Bool(_) => "a boolean ",
        Value::Number(_) => "the number ",
        Value::String(_) => "the string ",
        Value::Array(_) => return "an array".to_string(),
        Value::Object(_) => return "an object".to_string(),
    };
    let mut shown = v.to_string();
    if shown.chars().count() > 60 {
        shown = shown.chars().take(60).collect::<String>() + "…";
    }
    format!("{text}{shown}")
}

fn parse_labeled(body: &[u8], label: &str) -> Result<Page, PlatformError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        if e.classify() == serde_json::error::Category::Eof {
            PlatformError::Transient(format!(
                "{label}: the response body ends early (truncated JSON at line {}, column {}); nothing from this page was stored; will retry",
                e.line(),
                e.column()
            ))
        } else {
            PlatformError::Rejected(InputError {
                file: label.to_string(),
                line: Some(e.line() as u64),
                message: format!("the response is not valid JSON: {e}"),
                ..InputError::default()
            })
        }
    })?;
    let Value::Object(top) = value else {
        return Err(reject(
            label,
            None,
            format!("expected a JSON object, found {}", describe(&value)),
        ));
    };
    match top.get("success") {
        Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => {
            let message = match top.get("message").or_else(|| top.get("error")) {
                Some(Value::String(m)) => m.clone(),
                _ => "no message given".to_string(),
            };
            return Err(PlatformError::Permanent(format!(
                "{label}: Gumroad answered \"success\": false: {message}"
            )));
        }
        Some(other) => {
            return Err(reject(
                label,
                Some("success".into()),
                format!("expected true or false, found {}", describe(other)),
            ))
        }
        None => {
            return Err(reject(
                label,
                Some("success".into()),
                "the field is missing (expected true)".to_string(),
            ))
        }
    }
    let sales = match top.get("sales") {
        Some(Value::Array(a)) => a,
        Some(other) => {
            return Err(reject(
                label,
                Some("sales".into()),
                format!("expected an array of sales, found {}", describe(other)),
            ))
        }
        None => {
            return Err(reject(
                label,
                Some("sales".into()),
                "the field is missing".to_string(),
            ))
        }
    };
    let next_page_key = match top.get("next_page_key") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(other) => {
            return Err(reject(
                label,
                Some("next_page_key".into()),
                format!("expected a non-empty string, found {}", describe(other)),
            ))
        }
    };
    let mut events = Vec::with_capacity(sales.len());
    let mut warnings = Vec::new();
    for (index, sale) in sales.iter().enumerate() {
        let (event, warning) = sale_event(sale, label, index)?;
        events.push(event);
        warnings.extend(warning);
    }
    Ok(Page {
        events,
        next_page_key,
        warnings,
    })
}

/// Typed access to one sale object, with errors naming the page, the sale and the field.
struct Fields<'a> {
    obj: &'a Map<String, Value>,
    label: &'a str,
    index: usize,
    id: Option<&'a str>,
}

impl Fields<'_> {
    fn err(&self, field: &str, message: String) -> PlatformError {
        let sale = match self.id {
            Some(id) => format!(" (sale `{id}`)"),
            None => String::new(),
        };
        reject(
            self.label,
            Some(format!("sales[{}].{field}", self.index)),
            format!("{message}{sale}"),
        )
    }

    fn get(&self, field: &str) -> Option<&Value> {
        self.obj.get(field).filter(|v| !v.is_null())
    }

    fn opt_str(&self, field: &str) -> Result<Option<String>, PlatformError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.err(
                field,
                format!("expected a string, found {}", describe(other)),
            )),
        }
    }

    fn req_str(&self, field: &str) -> Result<String, PlatformError> {
        self.opt_str(field)?
            .ok_or_else(|| self.err(field, "the field is missing".to_string()))
    }

    fn opt_int(&self, field: &str, what: &str) -> Result<Option<i64>, PlatformError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Number(n)) if n.as_i64().is_some() => Ok(n.as_i64()),
            Some(other) => {
                Err(self.err(field, format!("expected {what}, found {}", describe(other))))
            }
        }
    }

    fn req_int(&self, field: &str, what: &str) -> Result<i64, PlatformError> {
        self.opt_int(field, what)?
            .ok_or_else(|| self.err(field, format!("the field is missing (expected {what})")))
    }

    /// An amount given as a string (`"9.99"`, as Gumroad sends it) or a number.
    fn opt_amount_text(&self, field: &str) -> Result<Option<String>, PlatformError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => Err(self.err(
                field,
                format!("expected an amount, found {}", describe(other)),
            )),
        }
    }

    fn flag(&self, field: &str) -> Result<bool, PlatformError> {
        match self.get(field) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(self.err(
                field,
                format!("expected true or false, found {}", describe(other)),
            )),
        }
    }
}

const CENTS: &str = "an integer number of USD cents";

fn sale_event(
    sale: &Value,
    label: &str,
    index: usize,
) -> Result<(SaleEvent, Option<String>), PlatformError> {
    let Value::Object(obj) = sale else {
        return Err(reject(
            label,
            Some(format!("sales[{index}]")),
            format!("expected a sale object, found {}", describe(sale)),
        ));
    };
    let mut f = Fields {
        obj,
        label,
        index,
        id: None,
    };
    let id = f.req_str("id")?;
    if id.trim().is_empty() {
        return Err(f.err("id", "the sale id is empty".to_string()));
    }
    f.id = obj.get("id").and_then(Value::as_str);
    let created = f.req_str("created_at")?;
    let date = utc_date(&created).ok_or_else(|| {
        f.err(
            "created_at",
            format!("expected an RFC 3339 timestamp like 2025-08-14T21:02:11Z, found `{created}`"),
        )
    })?;
    let price_cents = f.req_int("price", CENTS)?;
    let fee_cents = f.req_int("gumroad_fee", CENTS)?;
    let quantity = f.opt_int("quantity", "a whole number")?.unwrap_or(1);
    if quantity < 0 {
        return Err(f.err(
            "quantity",
            format!("expected a quantity of 0 or more, found {quantity}"),
        ));
    }
    let refunded = f.flag("refunded")?;
    let symbol = f.opt_str("currency_symbol")?;
    let kept = if f.flag("partially_refunded")? && !refunded {
        let refundable = f.opt_amount_text("amount_refundable_in_currency")?;
        let price = match symbol.as_deref().map(str::trim) {
            // USD: Gumroad converts nothing, so `price` (cents) is the price in the currency.
            Some("$") => Ok(price_cents
                .checked_mul(MICROS_PER_CENT)
                .ok_or_else(|| f.err("price", "the amount is too large".to_string()))?),
            Some(sym) => match f.opt_str("formatted_total_price")? {
                Some(text) => parse_formatted_price(&text, sym).ok_or_else(|| {
                    format!("`formatted_total_price` is `{text}`, not a price in `{sym}`")
                }),
                None => Err("`formatted_total_price` is missing".to_string()),
            },
            None => {
                Err("`currency_symbol` is missing, so the product currency is unknown".to_string())
            }
        };
        kept_share(refundable.as_deref(), price)
    } else {
        Kept::All
    };
    let parsed = Sale {
        id,
        date,
        title: f.opt_str("product_name")?.unwrap_or_default(),
        product_id: f.opt_str("product_id")?.unwrap_or_default(),
        country: f
            .opt_str("country_iso2")?
            .unwrap_or_default()
            .trim()
            .to_string(),
        quantity,
        price_cents,
        fee_cents,
        refunded,
        chargedback: f.flag("chargedback")?,
        kept,
    };
    let raw = Value::Object(privacy::api_sale(obj)).to_string();
    parsed
        .into_event("gumroad.api", raw)
        .map_err(|field| f.err(field, "the amount is too large".to_string()))
}

#[cfg(test)]
mod tests;
