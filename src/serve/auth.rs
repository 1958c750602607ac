//! Auth: the `Host` allow-list, the API bearer token, the hook secret, browser sessions.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::AppState;

/// One-time login tokens and live sessions (session id → CSRF token).
#[derive(Default)]
pub struct Sessions {
    pub(crate) one_time: Vec<String>,
    pub(crate) live: HashMap<String, String>,
}

/// Equal in constant time (for equal lengths; the length is not secret).
pub fn secret_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The name part of a `Host` value: `example.org:8750` → `example.org`, `[::1]:80` → `[::1]`.
pub fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |i| &host[..=i]);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

/// Refuse a request whose `Host` is not allowed (DNS rebinding): 421.
pub async fn check_host(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase)
        .or_else(|| {
            req.uri()
                .authority()
                .map(|a| a.as_str().to_ascii_lowercase())
        });
    let ok = host
        .as_deref()
        .is_some_and(|h| state.0.allowed_hosts.iter().any(|a| a == host_name(h)));
    if !ok {
        return (
            StatusCode::MISDIRECTED_REQUEST,
            "this server does not answer for that Host: add the name to [serve] allowed_hosts \
             or --allowed-host\n",
        )
            .into_response();
    }
    next.run(req).await
}

/// The session cookie's name.
pub const COOKIE: &str = "salesingest_session";

/// Require `Authorization: Bearer <token>` (the `[serve] token_file`): 401 otherwise.
pub async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(t) if secret_eq(t, state.0.token.expose()) => next.run(req).await,
        _ => unauthorized(),
    }
}

/// 401 for the API, naming what is needed (never the token).
pub fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        axum::Json(serde_json::json!({
            "error": "missing or wrong API token: send `Authorization: Bearer <token>`, the token being the content of [serve] token_file"
        })),
    )
        .into_response()
}

/// A browser logged in with the one-time URL. Extract it in a page or UI handler: without a
/// valid `salesingest_session` cookie the request is answered 401 (a short HTML page).
#[derive(Debug, Clone)]
pub struct Session {
    /// The session's CSRF token: state-changing forms send it as the field `csrf` or the
    /// header `X-CSRF-Token`.
    pub csrf: String,
}

impl Session {
    /// Whether `given` (a form field or header value) is this session's CSRF token.
    pub fn csrf_ok(&self, given: Option<&str>) -> bool {
        given.is_some_and(|g| secret_eq(g, &self.csrf))
    }

    /// The `X-CSRF-Token` header, if any.
    pub fn csrf_header(headers: &axum::http::HeaderMap) -> Option<&str> {
        headers.get("x-csrf-token").and_then(|h| h.to_str().ok())
    }
}

fn cookie_value<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let id = cookie_value(&parts.headers, COOKIE);
        let csrf = id.and_then(|id| {
            state.0.sessions.lock().ok().and_then(|s| {
                s.live
                    .iter()
                    .find(|(k, _)| secret_eq(k, id))
                    .map(|(_, v)| v.clone())
            })
        });
        match csrf {
            Some(csrf) => Ok(Session { csrf }),
            None => Err(login_needed()),
        }
    }
}

fn login_needed() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!doctype html><meta charset=utf-8><title>salesingest: log in</title>\
         <p>Not logged in. Open the one-time login URL that <code>salesingest serve</code> printed \
         when it started (or ask for a new one with <code>POST /api/session</code>).</p>\n",
    )
        .into_response()
}

/// `GET /login/{one_time}`: a one-time token becomes a session cookie, then 303 to `/`.
pub async fn login(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let session = state.0.sessions.lock().ok().and_then(|mut s| {
        let pos = s.one_time.iter().position(|t| secret_eq(t, &token))?;
        s.one_time.swap_remove(pos);
        let id = super::server::random_token().ok()?;
        let csrf = super::server::random_token().ok()?;
        s.live.insert(id.clone(), csrf);
        Some(id)
    });
    match session {
        Some(id) => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, "/".to_string()),
                (
                    header::SET_COOKIE,
                    format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/"),
                ),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!doctype html><meta charset=utf-8><title>salesingest: log in</title>\
             <p>This login link is unknown or was used already: each works once. Restart \
             <code>salesingest serve</code> or ask for a new one with <code>POST /api/session</code>.</p>\n",
        )
            .into_response(),
    }
}
