//! Auth: the `Host` allow-list, the API bearer token, the hook secret, browser sessions.

use std::collections::HashMap;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::AppState;

/// One-time login tokens and live sessions (session id → CSRF token).
#[derive(Default)]
#[allow(dead_code)]
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
