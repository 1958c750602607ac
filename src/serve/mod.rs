//! `salesingest serve`: the Gumroad Ping receiver, the authenticated JSON API, and (merged in
//! from `crate::dashboard`) the HTML dashboard, on axum over tokio.
//!
//! Owns: the HTTP server (accept loop with a header-read timeout, graceful shutdown), auth
//! (bearer token, hook secret, browser sessions), routing. Must not: write SQL (it calls the
//! store's traits) or format terminal output.
//!
//! # For page handlers (the dashboard)
//!
//! - [`AppState`] is the router's state (cheap to clone, an `Arc` inside). It gives
//!   [`AppState::settings`] and [`AppState::with_store`], which runs a closure on a store
//!   connection in `spawn_blocking` (the store is `Send`, not `Sync`: PostgreSQL connections are
//!   pooled, one closure at a time each; SQLite is opened per call).
//! - [`auth::Session`] is an extractor: a handler taking `session: Session` only runs for a
//!   browser logged in with the one-time URL (`GET /login/{one_time}` set the
//!   `salesingest_session` cookie); without one it answers 401 with a short HTML page saying to
//!   use the login URL `serve` printed. `session.csrf` is the token every state-changing form
//!   must carry (hidden field `csrf`, or header `X-CSRF-Token` from JavaScript).
//! - UI actions already here: `POST /ui/jobs/{id}/retry` (form field `csrf`; 303 to `/`) and
//!   `POST /ui/files` (the upload, header `X-CSRF-Token`; answers as `POST /api/files`).
//! - To add a page: write `async fn page(State(state): State<AppState>, session: Session) ->
//!   impl IntoResponse` and route it in [`router`] at the line marked `DASHBOARD ROUTES`.
//!   Everything routed there gets the Host check, the timeouts and the request log.

pub mod api;
pub mod auth;
mod log;
mod server;
mod timeout;
pub mod upload;
mod worker;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use axum::Router;

use crate::config::{Secret, Settings};
use crate::store::{OpenOptions, Store};

pub use server::{load_or_create_secret, random_token, run, ServeOptions};

/// The body limit of the hook and the JSON routes (uploads have `[serve] max_upload`).
pub const BODY_LIMIT: usize = 64 * 1024;

/// The router's state: settings, secrets, the store pool, the sessions.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    settings: Settings,
    open: OpenOptions,
    token: Secret,
    hook_secret: Secret,
    /// Names accepted in `Host` (lower case, without port).
    allowed_hosts: Vec<String>,
    pool: Mutex<Vec<Box<dyn Store>>>,
    sessions: Mutex<auth::Sessions>,
    /// Held by the hook while it writes a SQLite store: one writer at a time queues here
    /// instead of in SQLite's busy handler, whose sleeps made a long latency tail.
    write_lock: Mutex<()>,
    /// True while a `POST /api/run` pass runs.
    run_busy: AtomicBool,
}

impl AppState {
    /// A state for these settings. `allowed_hosts` adds to 127.0.0.1, localhost and [::1].
    pub fn new(
        settings: Settings,
        open: OpenOptions,
        token: Secret,
        hook_secret: Secret,
        allowed_hosts: &[String],
    ) -> AppState {
        let mut hosts: Vec<String> = ["127.0.0.1", "localhost", "[::1]"]
            .iter()
            .map(|s| (*s).to_string())
            .collect();
        for h in allowed_hosts.iter().chain(&settings.serve.allowed_hosts) {
            let h = auth::host_name(&h.to_ascii_lowercase()).to_string();
            if !h.is_empty() && !hosts.contains(&h) {
                hosts.push(h);
            }
        }
        AppState(Arc::new(Inner {
            settings,
            open,
            token,
            hook_secret,
            allowed_hosts: hosts,
            pool: Mutex::new(Vec::new()),
            sessions: Mutex::new(auth::Sessions::default()),
            run_busy: AtomicBool::new(false),
            write_lock: Mutex::new(()),
        }))
    }

    /// A new one-time login token (kept until used, for an hour at most).
    ///
    /// # Errors
    /// When the system has no randomness to give.
    pub fn new_login_token(&self) -> Result<String> {
        let t = server::random_token()?;
        if let Ok(mut s) = self.0.sessions.lock() {
            s.add_login(t.clone(), std::time::Instant::now());
        }
        Ok(t)
    }

    /// One worker pass of up to `batch` jobs (what `run-worker --batch` does, without the
    /// schedules and the inbox); returns how many jobs it claimed.
    ///
    /// # Errors
    /// Store errors.
    pub async fn run_pass(&self, batch: u32) -> Result<u64> {
        Ok(self
            .pass(batch, "salesingest serve --worker")
            .await?
            .report
            .counts
            .claimed)
    }

    /// One worker pass (schedules, inbox, up to `batch` jobs), recorded as a run with `args`.
    ///
    /// # Errors
    /// Store errors.
    pub async fn pass(&self, batch: u32, args: &str) -> Result<crate::ingest::Pass> {
        let settings = self.0.settings.clone();
        let open = self.0.open.clone();
        let args = args.to_string();
        self.with_store(move |db| {
            let cfg = crate::queue::worker::WorkerConfig {
                batch,
                platform: None,
                lease_ms: settings.queue.lease_ms,
                policy: settings.queue.retry.clone(),
                retention: settings.queue.retention.clone(),
                window: settings.queue.window,
                args,
            };
            crate::ingest::run_pass(
                db,
                &settings,
                &open,
                &cfg,
                false,
                &mut |_, _| {},
                &mut |_| {},
            )
        })
        .await
    }

    /// As `with_store`, one writer at a time on a SQLite store (PostgreSQL: no lock).
    ///
    /// # Errors
    /// As `with_store`.
    pub async fn with_store_writing<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> Result<T> + Send + 'static,
    {
        let state = self.clone();
        self.with_store(move |db| {
            let _guard = match state.0.settings.db {
                crate::store::Location::Sqlite(_) => {
                    Some(state.0.write_lock.lock().unwrap_or_else(|p| p.into_inner()))
                }
                crate::store::Location::Postgres(_) => None,
            };
            f(db)
        })
        .await
    }

    /// The settings `serve` was started with.
    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }

    /// Run `f` on a store connection, off the async threads. Connections are opened on demand
    /// and kept for the next request.
    ///
    /// # Errors
    /// Opening the store, `f`'s error, or a panic inside `f` (as an error).
    pub async fn with_store<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> Result<T> + Send + 'static,
    {
        let state = self.clone();
        tokio::task::spawn_blocking(move || {
            let taken = state.0.pool.lock().ok().and_then(|mut p| p.pop());
            let db = match taken {
                Some(db) => db,
                None => crate::store::open(&state.0.settings.db, &state.0.open)?,
            };
            let out = f(db.as_ref());
            // Only PostgreSQL connections are kept: a SQLite handle that sat in the pool was
            // seen reading an old snapshot (a job queued since stayed invisible to its claim),
            // and opening a SQLite file costs little.
            if matches!(state.0.settings.db, crate::store::Location::Postgres(_)) {
                if let Ok(mut p) = state.0.pool.lock() {
                    if p.len() < 8 {
                        p.push(db);
                    }
                }
            }
            out
        })
        .await
        .map_err(|e| anyhow::anyhow!("internal error: a store task stopped: {e}"))?
    }
}

/// Every route: the hook, the API, the login and UI actions, and the dashboard's pages.
pub fn router(state: AppState) -> Router {
    use axum::extract::DefaultBodyLimit;
    use axum::routing::{get, post};
    let api = Router::new()
        .route("/api/jobs", post(api::create_job).get(api::jobs))
        .route("/api/jobs/{id}", get(api::job))
        .route("/api/jobs/{id}/retry", post(api::retry))
        .route("/api/jobs/{id}/cancel", post(api::cancel))
        .route("/api/status", get(api::status))
        .route("/api/check", get(api::check))
        .route("/api/logs", get(api::logs))
        .route("/api/run", post(api::run))
        .route("/api/sales/summary", get(api::sales_summary))
        .route("/api/sales/export", get(api::sales_export))
        .route("/api/session", post(api::new_session))
        .route(
            "/api/files",
            post(upload::files).layer(DefaultBodyLimit::disable()),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    let app = Router::new()
        .merge(api)
        .route("/api/openapi.json", get(api::openapi))
        .route("/hooks/gumroad/{secret}", post(api::gumroad_hook))
        .route("/login/{one_time}", get(auth::login))
        .route("/ui/jobs/{id}/retry", post(api::ui_retry))
        .route(
            "/ui/files",
            post(api::ui_files).layer(DefaultBodyLimit::disable()),
        );
    // DASHBOARD ROUTES: `GET /`, `/assets/*` and the plain upload form `POST /ui/upload`.
    let app = app.merge(crate::dashboard::routes());
    app.layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::check_host,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            timeout::limit,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(axum::middleware::from_fn(log::request_log))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    //! The router in-process (`tower::ServiceExt::oneshot`), no socket.

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;

    fn state(dir: &std::path::Path) -> AppState {
        let cfg = dir.join("config.toml");
        std::fs::write(&cfg, "").unwrap();
        let db = dir.join("data/s.db");
        let settings = crate::config::load(Some(db.to_str().unwrap()), Some(cfg), true).unwrap();
        AppState::new(
            settings,
            OpenOptions::default(),
            Secret::new("t".repeat(32)),
            Secret::new("h".repeat(32)),
            &["sales.example.org".to_string()],
        )
    }

    async fn send(app: &Router, req: Request<Body>) -> (StatusCode, Vec<u8>) {
        let res = app.clone().oneshot(req).await.unwrap();
        let code = res.status();
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        (code, body.to_vec())
    }

    fn get(path: &str, host: &str, token: Option<&str>) -> Request<Body> {
        let mut b = Request::get(path).header("host", host);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        b.body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn routes_in_process() {
        let dir = tempfile::tempdir().unwrap();
        let app = router(state(dir.path()));
        let token = "t".repeat(32);
        let (code, _) = send(&app, get("/api/status", "127.0.0.1:8750", None)).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED);
        let (code, _) = send(&app, get("/api/status", "127.0.0.1:8750", Some("x"))).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED);
        let (code, body) = send(&app, get("/api/status", "localhost:8750", Some(&token))).await;
        assert_eq!(code, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(v.as_array().is_some_and(|a| !a.is_empty()));
        // Host allow-list: configured names pass, others are 421.
        let (code, _) = send(&app, get("/api/status", "sales.example.org", Some(&token))).await;
        assert_eq!(code, StatusCode::OK);
        let (code, _) = send(&app, get("/api/status", "evil.example", Some(&token))).await;
        assert_eq!(code, StatusCode::MISDIRECTED_REQUEST);
        // The dashboard needs a session: 401 before logging in.
        let (code, _) = send(&app, get("/", "127.0.0.1", None)).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED);
        // The hook: wrong secret 404, too big 413, right secret 200.
        let ping = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/gumroad/gumroad_ping.txt"
        ))
        .unwrap();
        let post = |path: &str, body: Vec<u8>| {
            Request::post(path)
                .header("host", "127.0.0.1")
                .body(Body::from(body))
                .unwrap()
        };
        let (code, _) = send(&app, post("/hooks/gumroad/wrong", ping.clone())).await;
        assert_eq!(code, StatusCode::NOT_FOUND);
        let hook = format!("/hooks/gumroad/{}", "h".repeat(32));
        let (code, _) = send(&app, post(&hook, vec![b'x'; BODY_LIMIT + 1])).await;
        assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE);
        let (code, body) = send(&app, post(&hook, ping)).await;
        assert_eq!(code, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["input"]["kind"], "ping");
        // The served OpenAPI document is the committed one.
        let (code, body) = send(&app, get("/api/openapi.json", "127.0.0.1", None)).await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(body, api::OPENAPI.as_bytes());
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
    }

    #[test]
    fn masks_secrets_in_logged_paths() {
        assert_eq!(log::masked_path("/hooks/gumroad/abc"), "/hooks/gumroad/***");
        assert_eq!(log::masked_path("/login/abc"), "/login/***");
        assert_eq!(log::masked_path("/api/jobs/3"), "/api/jobs/3");
    }

    #[test]
    fn host_names() {
        assert_eq!(auth::host_name("example.org:8750"), "example.org");
        assert_eq!(auth::host_name("[::1]:80"), "[::1]");
        assert_eq!(auth::host_name("localhost"), "localhost");
    }
}
