//! The request log on stderr: method, path (secrets in it masked), status, milliseconds.
//! Never a query string, header or body.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

/// The path with its secret segments masked: the hook secret, the one-time login token.
pub fn masked_path(path: &str) -> String {
    for prefix in ["/hooks/gumroad/", "/login/"] {
        if let Some(rest) = path.strip_prefix(prefix) {
            if !rest.is_empty() {
                return format!("{prefix}***");
            }
        }
    }
    path.chars().take(200).collect()
}

/// Log one line per request after it is answered.
pub async fn request_log(req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = masked_path(req.uri().path());
    let res = next.run(req).await;
    eprintln!(
        "{} {method} {path} {} {}ms",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        res.status().as_u16(),
        started.elapsed().as_millis()
    );
    res
}
