//! Request time limits: one total limit (`[serve] request_timeout`) for every route but the
//! uploads, and an idle limit (`[serve] upload_idle_timeout`) for the uploads, whose body may
//! take as long as it needs on a slow link as long as bytes keep coming.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use super::AppState;

/// The routes whose body is a report file: `POST /api/files`, `/ui/files`, `/ui/upload`.
pub fn is_upload(method: &Method, path: &str) -> bool {
    method == Method::POST && matches!(path, "/api/files" | "/ui/files" | "/ui/upload")
}

fn millis(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(60_000).max(1))
}

/// The middleware: uploads get the idle limit on their body, everything else the total limit.
/// Either way a request over its limit is answered 408 and the server carries on.
pub async fn limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let serve = &state.settings().serve;
    if !is_upload(req.method(), req.uri().path()) {
        let total = millis(serve.request_timeout_ms);
        return match tokio::time::timeout(total, next.run(req)).await {
            Ok(res) => res,
            Err(_) => StatusCode::REQUEST_TIMEOUT.into_response(),
        };
    }
    let idle = millis(serve.upload_idle_timeout_ms);
    let stalled = Arc::new(AtomicBool::new(false));
    let (parts, body) = req.into_parts();
    let body = Body::from_stream(idle_stream(body, idle, stalled.clone()));
    let res = next.run(Request::from_parts(parts, body)).await;
    if stalled.load(Ordering::SeqCst) {
        let message = format!(
            "the upload stalled: no bytes arrived for {} ms ([serve] upload_idle_timeout); send it again",
            idle.as_millis()
        );
        return (
            StatusCode::REQUEST_TIMEOUT,
            [(axum::http::header::CONNECTION, "close")],
            axum::Json(serde_json::json!({ "error": message })),
        )
            .into_response();
    }
    res
}

/// `body`'s data, ending in an error (and setting `stalled`) when no chunk comes for `idle`.
fn idle_stream(
    body: Body,
    idle: Duration,
    stalled: Arc<AtomicBool>,
) -> impl futures_util::Stream<Item = Result<axum::body::Bytes, axum::Error>> + Send + 'static {
    futures_util::stream::unfold(
        (Some(body.into_data_stream()), stalled),
        move |(stream, stalled)| async move {
            let mut stream = stream?;
            match tokio::time::timeout(idle, stream.next()).await {
                Ok(Some(item)) => Some((item, (Some(stream), stalled))),
                Ok(None) => None,
                Err(_) => {
                    stalled.store(true, Ordering::SeqCst);
                    let e = std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no bytes for {} ms", idle.as_millis()),
                    );
                    Some((Err(axum::Error::new(e)), (None, stalled)))
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_routes() {
        assert!(is_upload(&Method::POST, "/api/files"));
        assert!(is_upload(&Method::POST, "/ui/upload"));
        assert!(is_upload(&Method::POST, "/ui/files"));
        assert!(!is_upload(&Method::GET, "/api/files"));
        assert!(!is_upload(&Method::POST, "/api/jobs"));
    }

    #[tokio::test]
    async fn a_stalled_body_ends_in_an_error() {
        // One chunk, then nothing ever again.
        let rx = futures_util::stream::once(async {
            Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b"abc"))
        })
        .chain(futures_util::stream::pending());
        let stalled = Arc::new(AtomicBool::new(false));
        let mut s = Box::pin(idle_stream(
            Body::from_stream(rx),
            Duration::from_millis(50),
            stalled.clone(),
        ));
        assert_eq!(s.next().await.unwrap().unwrap(), &b"abc"[..]);
        assert!(!stalled.load(Ordering::SeqCst));
        assert!(s.next().await.unwrap().is_err());
        assert!(stalled.load(Ordering::SeqCst));
        assert!(s.next().await.is_none());
    }
}
