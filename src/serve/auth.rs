//! Auth: the `Host` allow-list, the API bearer token, the hook secret, browser sessions.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::AppState;

/// How long a one-time login URL works if unused, how long a session lasts without a request,
/// and how long it lasts at most (the cookie's `Max-Age`). Sessions live in the server's memory:
/// a restart ends them all.
pub const LOGIN_TTL: Duration = Duration::from_secs(60 * 60);
pub const SESSION_IDLE: Duration = Duration::from_secs(12 * 60 * 60);
pub const SESSION_MAX: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// One-time login tokens (with when they were issued) and live sessions (session id → its
/// CSRF token and times). Expired entries are dropped whenever either is used.
pub struct Sessions {
    one_time: Vec<(String, Instant)>,
    live: HashMap<String, Live>,
    login_ttl: Duration,
    idle: Duration,
    max: Duration,
}

struct Live {
    csrf: String,
    created: Instant,
    seen: Instant,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::with_limits(LOGIN_TTL, SESSION_IDLE, SESSION_MAX)
    }
}

impl Sessions {
    /// Sessions with these lifetimes (the defaults are the constants above).
    pub fn with_limits(login_ttl: Duration, idle: Duration, max: Duration) -> Sessions {
        Sessions {
            one_time: Vec::new(),
            live: HashMap::new(),
            login_ttl,
            idle,
            max,
        }
    }

    fn expire(&mut self, now: Instant) {
        let (ttl, idle, max) = (self.login_ttl, self.idle, self.max);
        self.one_time
            .retain(|(_, issued)| now.saturating_duration_since(*issued) < ttl);
        self.live.retain(|_, l| {
            now.saturating_duration_since(l.seen) < idle
                && now.saturating_duration_since(l.created) < max
        });
    }

    /// Keep a new one-time login token, issued `now`.
    pub fn add_login(&mut self, token: String, now: Instant) {
        self.expire(now);
        self.one_time.push((token, now));
    }

    /// Spend a one-time token: when it is known and unexpired, it is gone and session `id`
    /// (with `csrf`) starts `now`. Whether it was.
    pub fn login(&mut self, token: &str, id: String, csrf: String, now: Instant) -> bool {
        self.expire(now);
        let Some(pos) = self.one_time.iter().position(|(t, _)| secret_eq(t, token)) else {
            return false;
        };
        self.one_time.swap_remove(pos);
        self.live.insert(
            id,
            Live {
                csrf,
                created: now,
                seen: now,
            },
        );
        true
    }

    /// The CSRF token of live session `id`, which is seen `now` (its idle time starts again).
    pub fn session(&mut self, id: &str, now: Instant) -> Option<String> {
        self.expire(now);
        let live = self
            .live
            .iter_mut()
            .find(|(k, _)| secret_eq(k, id))
            .map(|(_, l)| l)?;
        live.seen = now;
        Some(live.csrf.clone())
    }
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
            state
                .0
                .sessions
                .lock()
                .ok()
                .and_then(|mut s| s.session(id, Instant::now()))
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
         <p>Not logged in, or the session ended (after 12 hours without a visit, 7 days at most, \
         or a restart of the server). Open a one-time login URL: ask for a new one with \
         <code>POST /api/session</code>, or restart <code>salesingest serve</code>, which prints \
         one.</p>\n",
    )
        .into_response()
}

/// `GET /login/{one_time}`: a one-time token becomes a session cookie, then 303 to `/`.
pub async fn login(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let session = state.0.sessions.lock().ok().and_then(|mut s| {
        let id = super::server::random_token().ok()?;
        let csrf = super::server::random_token().ok()?;
        s.login(&token, id.clone(), csrf, Instant::now())
            .then_some(id)
    });
    match session {
        Some(id) => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, "/".to_string()),
                (
                    header::SET_COOKIE,
                    format!(
                        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
                        SESSION_MAX.as_secs()
                    ),
                ),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!doctype html><meta charset=utf-8><title>salesingest: log in</title>\
             <p>This login link is unknown, was used already (each works once) or is older than \
             an hour. Ask for a new one with <code>POST /api/session</code>, or restart \
             <code>salesingest serve</code>.</p>\n",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod session_tests {
    use std::time::{Duration, Instant};

    use super::Sessions;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_login_url_works_once_and_not_after_its_hour() {
        let t0 = Instant::now();
        let mut s = Sessions::default();
        s.add_login("old".into(), t0);
        s.add_login("new".into(), t0 + 59 * 60 * S);
        assert!(
            !s.login("old", "a".into(), "c".into(), t0 + 60 * 60 * S),
            "an hour-old URL"
        );
        assert!(s.login("new", "a".into(), "c".into(), t0 + 60 * 60 * S));
        assert!(
            !s.login("new", "b".into(), "c".into(), t0 + 60 * 60 * S),
            "used twice"
        );
        assert!(
            !s.login("never", "b".into(), "c".into(), t0),
            "an unknown token"
        );
    }

    #[test]
    fn a_session_ends_when_idle_and_at_its_maximum_age() {
        let t0 = Instant::now();
        let mut s = Sessions::with_limits(60 * S, 10 * S, 30 * S);
        s.add_login("l1".into(), t0);
        assert!(s.login("l1", "id1".into(), "csrf1".into(), t0));
        // Seen every 9 s it stays (idle limit 10 s), until its 30 s maximum.
        for k in 1..=3 {
            assert_eq!(s.session("id1", t0 + 9 * k * S).as_deref(), Some("csrf1"));
        }
        assert_eq!(s.session("id1", t0 + 30 * S), None, "past its maximum age");
        s.add_login("l2".into(), t0);
        assert!(s.login("l2", "id2".into(), "csrf2".into(), t0));
        assert_eq!(s.session("id2", t0 + 10 * S), None, "idle for 10 s");
        assert_eq!(s.session("other", t0), None);
    }
}
