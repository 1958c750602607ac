//! The JSON API (`/api/*`, bearer token), the Gumroad Ping receiver and the UI actions. Every
//! body is the object the CLI's `--json` prints for the same thing (`ingest::views`).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::auth::{secret_eq, Session};
use super::AppState;
use crate::ingest::{self, views, CheckError, EnqueueOptions};
use crate::model::Platform;

/// An error answer: `{"error": message}` with its status.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        // Logged without request data; the message names what failed (never a secret).
        eprintln!("error: {e:#}");
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::UNPROCESSABLE_ENTITY, msg.into())
}

fn not_found(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, msg.into())
}

fn action(e: views::ActionError) -> ApiError {
    match e {
        views::ActionError::NotFound(m) => not_found(m),
        views::ActionError::State(m) => ApiError(StatusCode::CONFLICT, m),
    }
}

type ApiResult = Result<Response, ApiError>;

/// `Query`, but a malformed query string is a JSON 400 like every other error.
#[derive(Debug)]
pub struct Q<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Q<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| Q(q))
            .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))
    }
}

// ----- the Gumroad Ping receiver -----

/// `POST /hooks/gumroad/{secret}`: keep the Ping and queue its job; 200 at once. A wrong
/// secret is 404 with nothing stored; a body that is no Ping 422 (Gumroad does not retry it);
/// a store that cannot record the job 503 (Gumroad retries after 60 s, 180 s, 600 s).
pub async fn gumroad_hook(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    body: Bytes,
) -> Response {
    if !secret_eq(&secret, state.0.hook_secret.expose()) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let opts = EnqueueOptions::defaults(state.settings());
    let api_fetch = state.settings().gumroad.access_token.is_some();
    let res = state
        .with_store(move |db| {
            match ingest::enqueue_ping(db, "gumroad ping (serve)", &body, &opts, api_fetch) {
                Ok(p) => {
                    for w in &p.warnings {
                        eprintln!("warning: {w}");
                    }
                    Ok(Ok(views::enqueue_view(
                        db,
                        &p.job.platform,
                        &p.enqueued,
                        None,
                        &p.input,
                    )?))
                }
                Err(CheckError::Rejected(m)) => Ok(Err(m)),
                Err(CheckError::Other(e)) => Err(e),
            }
        })
        .await;
    match res {
        Ok(Ok(view)) => (StatusCode::OK, Json(view)).into_response(),
        Ok(Err(msg)) => bad(msg).into_response(),
        Err(e) => {
            eprintln!("error: a Gumroad Ping could not be recorded (Gumroad will retry): {e:#}");
            ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                "the Ping could not be recorded; retry later".into(),
            )
            .into_response()
        }
    }
}

// ----- jobs -----

/// `POST /api/jobs`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewJobBody {
    platform: String,
    #[serde(default)]
    payload: Option<Window>,
    #[serde(default)]
    max_attempts: Option<i64>,
    #[serde(default)]
    priority: Option<i64>,
    #[serde(default)]
    run_at: Option<String>,
}

/// A sync window.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Window {
    #[serde(default)]
    since: Option<chrono::NaiveDate>,
    #[serde(default)]
    until: Option<chrono::NaiveDate>,
}

/// `POST /api/jobs`: queue an API sync (as `enqueue gumroad [--since] [--until]`); 202.
pub async fn create_job(State(state): State<AppState>, body: Bytes) -> ApiResult {
    let b: NewJobBody = serde_json::from_slice(&body)
        .map_err(|e| bad(format!("the body is not a job: {e} (expected {{\"platform\": \"gumroad\", \"payload\": {{\"since\": \"YYYY-MM-DD\"}}}})")))?;
    let platform = Platform::parse(&b.platform).ok_or_else(|| {
        bad(format!(
            "unknown platform `{}` (one of: {})",
            b.platform,
            Platform::ALL
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    if platform.is_file_platform() {
        return Err(bad(format!(
            "{platform} imports report files: POST the file to /api/files?platform={platform}"
        )));
    }
    let max_attempts = b
        .max_attempts
        .unwrap_or(state.settings().queue.max_attempts);
    if !(1..=100).contains(&max_attempts) {
        return Err(bad("max_attempts must be from 1 to 100"));
    }
    let run_at = match &b.run_at {
        None => None,
        Some(t) => Some(
            chrono::DateTime::parse_from_rfc3339(t)
                .map(|t| t.timestamp_millis())
                .map_err(|_| {
                    bad(format!(
                        "run_at `{t}` is not an RFC 3339 time such as 2026-11-28T16:05:00Z"
                    ))
                })?,
        ),
    };
    let w = b.payload.unwrap_or_default();
    if let (Some(s), Some(u)) = (w.since, w.until) {
        if u < s {
            return Err(bad(format!("until {u} is before since {s}")));
        }
    }
    if platform == Platform::Gumroad
        && state.settings().gumroad.access_token.is_none()
        && run_at.is_none_or(|t| t <= crate::queue::now_ms())
    {
        return Err(bad(crate::config::NO_GUMROAD_TOKEN));
    }
    let opts = EnqueueOptions {
        priority: b.priority.unwrap_or(0),
        run_at,
        max_attempts,
        force: false,
    };
    let view = state
        .with_store(move |db| {
            let (job, input) = ingest::sync_job(platform, w.since, w.until, &opts)?;
            let e = db.enqueue(&job)?;
            views::enqueue_view(db, &job.platform, &e, run_at, &input)
        })
        .await?;
    Ok((StatusCode::ACCEPTED, Json(view)).into_response())
}

/// `GET /api/jobs/{id}` (= `status <id> --json`).
pub async fn job(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = job_id(&id)?;
    match state
        .with_store(move |db| views::status_view(db, id))
        .await?
    {
        Some(v) => Ok(Json(v).into_response()),
        None => Err(not_found(format!("no job with id {id}: see GET /api/jobs"))),
    }
}

fn job_id(s: &str) -> Result<i64, ApiError> {
    s.parse::<i64>()
        .map_err(|_| not_found(format!("`{s}` is not a job id (a whole number)")))
}

/// `GET /api/jobs`'s filters (as `jobs --status --platform --limit`).
#[derive(Debug, Deserialize)]
pub struct JobsQuery {
    status: Option<String>,
    platform: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/jobs` (= `jobs --json`).
pub async fn jobs(State(state): State<AppState>, Q(q): Q<JobsQuery>) -> ApiResult {
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(crate::queue::JobState::parse(s).ok_or_else(|| {
            bad(format!(
                "unknown status `{s}` (one of: {})",
                crate::queue::JobState::ALL
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?),
    };
    let platform = match q.platform.as_deref() {
        None => None,
        Some(p) => Some(Platform::parse(p).ok_or_else(|| bad(format!("unknown platform `{p}`")))?),
    };
    let limit = i64::from(q.limit.unwrap_or(50));
    let v = state
        .with_store(move |db| {
            views::job_list_view(
                db,
                status.map(crate::queue::JobState::as_str),
                platform.map(Platform::as_str),
                limit,
            )
        })
        .await?;
    Ok(Json(v).into_response())
}

/// `POST /api/jobs/{id}/retry` (= `retry <id> --json`; 404, 409).
pub async fn retry(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = job_id(&id)?;
    match state.with_store(move |db| views::retry(db, id, 1)).await? {
        Ok(v) => Ok(Json(v).into_response()),
        Err(e) => Err(action(e)),
    }
}

/// `POST /api/jobs/{id}/cancel` (= `cancel <id> --json`; 404, 409).
pub async fn cancel(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = job_id(&id)?;
    match state.with_store(move |db| views::cancel(db, id)).await? {
        Ok((v, _)) => Ok(Json(v).into_response()),
        Err(e) => Err(action(e)),
    }
}

// ----- status, check, logs -----

/// `GET /api/status` (= `status --json`).
pub async fn status(State(state): State<AppState>) -> ApiResult {
    Ok(Json(state.with_store(views::overview_view).await?).into_response())
}

/// `GET /api/check` (= `status --check --json`): 200 when healthy, 503 with the problems.
pub async fn check(State(state): State<AppState>) -> ApiResult {
    let settings = state.settings().clone();
    let p = state
        .with_store(move |db| views::check_view(db, &settings))
        .await?;
    let code = if p.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok((code, Json(p)).into_response())
}

/// `GET /api/logs`'s filters (as `logs --limit --failed`).
#[derive(Debug, Deserialize)]
pub struct LogsQuery {
    limit: Option<u32>,
    failed: Option<bool>,
}

/// `GET /api/logs` (= `logs --json`).
pub async fn logs(State(state): State<AppState>, Q(q): Q<LogsQuery>) -> ApiResult {
    let limit = i64::from(q.limit.unwrap_or(20));
    let failed = q.failed.unwrap_or(false);
    Ok(Json(
        state
            .with_store(move |db| views::log_view(db, limit, failed))
            .await?,
    )
    .into_response())
}

// ----- run -----

/// `POST /api/run`'s body.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    #[serde(default)]
    batch: Option<u32>,
}

/// `POST /api/run` `{batch}`: one `run-worker` pass (= `run-worker --batch N --json`); 409
/// while another runs.
pub async fn run(State(state): State<AppState>, body: Bytes) -> ApiResult {
    use std::sync::atomic::Ordering;
    let b: RunBody = if body.iter().all(u8::is_ascii_whitespace) {
        RunBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| bad(format!("the body is not {{\"batch\": N}}: {e}")))?
    };
    let batch = b.batch.unwrap_or(10);
    if !(1..=1000).contains(&batch) {
        return Err(bad("batch must be from 1 to 1000"));
    }
    if state
        .0
        .run_busy
        .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "a run started by POST /api/run is still running: wait for it".into(),
        ));
    }
    let res = state.pass(batch, "salesingest serve: POST /api/run").await;
    state.0.run_busy.store(false, Ordering::SeqCst);
    let pass = res?;
    Ok(Json(views::run_view(&pass)).into_response())
}

// ----- sessions and UI actions -----

/// `POST /api/session`: a new one-time login URL for the dashboard.
pub async fn new_session(State(state): State<AppState>, headers: HeaderMap) -> ApiResult {
    let t = state.new_login_token()?;
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    Ok(Json(json!({ "login_url": format!("http://{host}/login/{t}") })).into_response())
}

/// The retry form's fields.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

/// `POST /ui/jobs/{id}/retry` from the dashboard (form field `csrf` or header
/// `X-CSRF-Token`): retry, then 303 to `/` (403 for a wrong CSRF token, 404, 409).
pub async fn ui_retry(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let form: CsrfForm = serde_urlencoded_form(&body);
    let given = form
        .csrf
        .as_deref()
        .or_else(|| Session::csrf_header(&headers));
    if !session.csrf_ok(given) {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "missing or wrong CSRF token: reload the page and try again".into(),
        ));
    }
    let id = job_id(&id)?;
    match state.with_store(move |db| views::retry(db, id, 1)).await? {
        Ok(_) => Ok((StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response()),
        Err(e) => Err(action(e)),
    }
}

fn serde_urlencoded_form(body: &[u8]) -> CsrfForm {
    let csrf = form_urlencoded::parse(body)
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.into_owned());
    CsrfForm { csrf }
}

/// `POST /ui/files` from the dashboard (header `X-CSRF-Token`): as `POST /api/files`.
pub async fn ui_files(
    state: State<AppState>,
    session: Session,
    query: Q<super::upload::FilesQuery>,
    req: axum::extract::Request,
) -> ApiResult {
    if !session.csrf_ok(Session::csrf_header(req.headers())) {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "missing or wrong CSRF token (header X-CSRF-Token): reload the page and try again"
                .into(),
        ));
    }
    super::upload::files(state, query, req).await
}

/// `GET /api/openapi.json`: the committed OpenAPI 3.1 document.
pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// The OpenAPI document, as committed in `docs/openapi.json`.
pub const OPENAPI: &str = include_str!("../../docs/openapi.json");

// ----- sales -----

/// `GET /api/sales/summary` and `/api/sales/export` filters (as `sales` takes them; lists
/// comma-separated).
#[derive(Debug, Deserialize, Default)]
pub struct SalesQuery {
    by: Option<String>,
    since: Option<String>,
    until: Option<String>,
    platform: Option<String>,
    final_only: Option<bool>,
    format: Option<String>,
}

fn day_or_month(s: &str, end_of_month: bool) -> Result<chrono::NaiveDate, ApiError> {
    use chrono::{Datelike, NaiveDate};
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d);
    }
    let first = NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d").map_err(|_| {
        bad(format!(
            "`{s}` is not a date: expected YYYY-MM-DD or YYYY-MM"
        ))
    })?;
    if !end_of_month {
        return Ok(first);
    }
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    };
    next.and_then(|n| n.pred_opt())
        .ok_or_else(|| bad(format!("`{s}` is out of range")))
}

impl SalesQuery {
    fn filter(&self) -> Result<crate::store::ReportFilter, ApiError> {
        let mut platforms = Vec::new();
        for p in self.platform.iter().flat_map(|p| p.split(',')) {
            let p = p.trim();
            if p.is_empty() {
                continue;
            }
            let parsed =
                Platform::parse(p).ok_or_else(|| bad(format!("unknown platform `{p}`")))?;
            platforms.push(parsed.to_string());
        }
        platforms.sort();
        platforms.dedup();
        Ok(crate::store::ReportFilter {
            since: self
                .since
                .as_deref()
                .map(|s| day_or_month(s, false))
                .transpose()?
                .map(|d| d.to_string()),
            until: self
                .until
                .as_deref()
                .map(|s| day_or_month(s, true))
                .transpose()?
                .map(|d| d.to_string()),
            platforms,
            final_only: self.final_only.unwrap_or(false),
        })
    }
}

/// `GET /api/sales/summary?by=&since=&until=&platform=&final_only=` (= `sales summary --json`,
/// without `--in` conversion).
pub async fn sales_summary(State(state): State<AppState>, Q(q): Q<SalesQuery>) -> ApiResult {
    use crate::store::Dim;
    let filter = q.filter()?;
    let mut dims: Vec<Dim> = Vec::new();
    match q.by.as_deref().filter(|b| !b.trim().is_empty()) {
        None => dims.extend([Dim::Month, Dim::Platform, Dim::Currency]),
        Some(by) => {
            for k in by.split(',') {
                let d = Dim::parse(k.trim()).ok_or_else(|| {
                    bad(format!(
                        "unknown key `{k}` for by (one of: {})",
                        Dim::ALL
                            .iter()
                            .map(|d| d.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
                if !dims.contains(&d) {
                    dims.push(d);
                }
            }
        }
    }
    let (rows, _) = state
        .with_store(move |db| views::summary_groups(db, &filter, &dims))
        .await?;
    Ok(Json(rows).into_response())
}

/// A `Write` that hands its bytes to an async body, 64 KiB at a time.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= 64 * 1024 {
            self.send()?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        let _ = self.send();
    }
}

/// `GET /api/sales/export?format=csv|ndjson|json&…` (= `sales export --format …`), streamed.
pub async fn sales_export(State(state): State<AppState>, Q(q): Q<SalesQuery>) -> ApiResult {
    use crate::output::{ExportFormat, ExportWriter};
    let filter = q.filter()?;
    let (format, ct) = match q.format.as_deref().unwrap_or("csv") {
        "csv" => (ExportFormat::Csv, "text/csv; charset=utf-8"),
        "ndjson" => (ExportFormat::Ndjson, "application/x-ndjson"),
        "json" => (ExportFormat::Json, "application/json"),
        other => {
            return Err(bad(format!(
                "unknown format `{other}` (one of: csv, ndjson, json)"
            )))
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let err_tx = tx.clone();
    // The first failure before any byte is sent is answered as an error; later ones cut the
    // body short (the client sees a broken chunked body, never a partial file taken as whole).
    let job = async move {
        state
            .with_store(move |db| {
                let w = ChannelWriter {
                    tx,
                    buf: Vec::new(),
                };
                let mut w = ExportWriter::new(Box::new(w), format, false)?;
                db.for_each_sale(&filter, &mut |e| w.write(&views::export_record(e)))?;
                w.finish()?;
                Ok(())
            })
            .await
    };
    tokio::spawn(async move {
        if let Err(e) = job.await {
            eprintln!("error: sales export: {e:#}");
            let _ = err_tx
                .send(Err(std::io::Error::other("the export failed")))
                .await;
        }
    });
    let stream = tokio_stream_from(rx);
    Ok((
        [(header::CONTENT_TYPE, ct)],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
