//! Healthcheck pings (the healthchecks.io convention): `URL/start` when a run starts, `URL` when
//! it succeeds, `URL/fail` when it fails, with the run summary as the request body.
//!
//! Owns: the ping HTTP client. Must not: fail a run (every error is returned for the caller to
//! log), print, read the environment or know the queue.

use std::time::Duration;

/// Which ping to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PingKind {
    Start,
    Success,
    Fail,
}

impl PingKind {
    /// The URL suffix for this kind.
    pub fn suffix(self) -> &'static str {
        match self {
            PingKind::Start => "/start",
            PingKind::Success => "",
            PingKind::Fail => "/fail",
        }
    }
}

/// Connect and total timeout of one ping: a dead monitoring server must not hold up cron.
pub const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// A ping client for one base URL, with its own small current-thread runtime.
pub struct Pinger {
    url: String,
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
}

impl std::fmt::Debug for Pinger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pinger")
            .field("host", &host_of(&self.url))
            .finish()
    }
}

impl Pinger {
    /// Set up a client for `url` (without a trailing slash) with `timeout` for connect and total.
    ///
    /// # Errors
    /// When the runtime or the HTTP client cannot be built, or when called inside a runtime.
    pub fn new(url: &str, timeout: Duration) -> Result<Pinger, String> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(
                "internal error: pings must not be sent from inside an async runtime".into(),
            );
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the HTTP runtime: {e}"))?;
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout)
            .user_agent(concat!("salesingest/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
        Ok(Pinger {
            url: url.trim_end_matches('/').to_string(),
            runtime,
            http,
        })
    }

    /// Send one ping (POST with `body` as plain text). Returns the HTTP status.
    ///
    /// # Errors
    /// A message naming the host (never the full URL, whose path is the check's secret): a
    /// connection error, a timeout, or a non-2xx answer.
    pub fn send(&self, kind: PingKind, body: &str) -> Result<u16, String> {
        let url = format!("{}{}", self.url, kind.suffix());
        let host = host_of(&self.url);
        let req = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(body.to_string());
        // `send` must be called inside the runtime (it arms the timeout timer there).
        let res = self
            .runtime
            .block_on(async { req.send().await })
            .map_err(|e| {
                let what = if e.is_timeout() {
                    "timed out".to_string()
                } else if e.is_connect() {
                    "could not connect".to_string()
                } else {
                    e.without_url().to_string()
                };
                format!("healthcheck ping{} to {host} failed: {what}", kind.suffix())
            })?;
        let status = res.status().as_u16();
        if res.status().is_success() {
            Ok(status)
        } else {
            Err(format!(
                "healthcheck ping{} to {host} failed: HTTP {status}",
                kind.suffix()
            ))
        }
    }
}

/// `scheme://host[:port]` of a URL, for messages.
fn host_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split('/').next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or(host);
    format!("{scheme}://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_hides_the_path_and_credentials() {
        assert_eq!(
            host_of("https://hc-ping.com/0f3c-uuid"),
            "https://hc-ping.com"
        );
        assert_eq!(
            host_of("http://u:p@127.0.0.1:9/ping/x"),
            "http://127.0.0.1:9"
        );
    }

    #[test]
    fn a_closed_port_is_an_error_not_a_panic() {
        // Bind then drop a listener to get a port that is (almost certainly) closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let p = Pinger::new(
            &format!("http://127.0.0.1:{port}/abc"),
            Duration::from_secs(2),
        )
        .unwrap();
        let e = p.send(PingKind::Start, "x").unwrap_err();
        assert!(e.contains("127.0.0.1"), "{e}");
        assert!(!e.contains("/abc"), "{e}");
    }
}
