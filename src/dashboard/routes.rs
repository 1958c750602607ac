//! The dashboard's routes, merged into `serve`'s router: `GET /` (the page, for a logged-in
//! browser), `GET /assets/{name}` (the embedded stylesheet and script) and `POST /ui/upload`
//! (the plain upload form that works without JavaScript: the CSRF token comes as the form's
//! first field, then the files; answered with a redirect to the page).

use std::path::{Path, PathBuf};

use axum::extract::{DefaultBodyLimit, Multipart, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use super::html::esc;
use super::{asset, render, PageCtx, RatesOption};
use crate::ingest::{self, EnqueueOptions};
use crate::serve::auth::Session;
use crate::serve::AppState;

/// The page's Content-Security-Policy: only this server's own script, styles and forms.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
frame-ancestors 'none'";

/// `GET /`, `GET /assets/{name}`, `POST /ui/upload`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route("/assets/{name}", get(assets))
        .route(
            "/ui/upload",
            post(upload_form).layer(DefaultBodyLimit::disable()),
        )
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    sort: Option<String>,
}

fn secured(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>salesingest: error</title><link rel=\"stylesheet\" href=\"/assets/dashboard.css\"></head><body><main><section id=\"problems\" class=\"alert\"><h2>{}</h2><p>{}</p><p><a href=\"/\">Back to the dashboard</a></p></section></main></body></html>\n",
        esc(status.canonical_reason().unwrap_or("Error")),
        esc(message)
    );
    secured((status, Html(body)).into_response())
}

/// `GET /`: the dashboard of a logged-in browser (`serve`'s `Session` extractor answers 401
/// otherwise).
async fn page(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<PageQuery>,
) -> Response {
    let settings = state.settings().clone();
    let rates = settings
        .dashboard
        .convert
        .clone()
        .map(|(file, currency)| RatesOption { file, currency });
    let rendered = state
        .with_store(move |db| {
            render(
                db,
                &PageCtx {
                    csrf: &session.csrf,
                    settings: &settings,
                    rates: rates.as_ref(),
                    now: crate::queue::now_ms(),
                    sort: q.sort.as_deref(),
                },
            )
        })
        .await;
    match rendered {
        Ok(html) => {
            let mut r = secured(Html(html).into_response());
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("cannot read the store: {e:#}"),
        ),
    }
}

/// `GET /assets/{name}`: the embedded stylesheet and script (no secrets: no login needed).
async fn assets(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    match asset(&name) {
        Some((content_type, body)) => secured(
            (
                [
                    (header::CONTENT_TYPE, content_type),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                body,
            )
                .into_response(),
        ),
        None => (StatusCode::NOT_FOUND, "no such asset\n").into_response(),
    }
}

/// A file name without directories or odd characters, for the saved copy.
fn safe_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let s: String = base
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "._- ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_start_matches('.').trim().to_string();
    if s.is_empty() {
        "upload".into()
    } else {
        s
    }
}

/// Removes the upload folder when dropped (the store keeps its own copy of each file).
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `POST /ui/upload`: the plain form. The first field must be `csrf` (browsers send fields in
/// document order, and the form puts it first), so nothing is written for a forged request.
/// Each file part is streamed to disk under `[serve] max_upload` in all, then detected, checked
/// and queued as `import` does; the answer is a redirect to the jobs list, or a page naming
/// the file and the reason it was not queued.
async fn upload_form(
    State(state): State<AppState>,
    session: Session,
    mut mp: Multipart,
) -> Response {
    match upload_inner(&state, &session, &mut mp).await {
        Ok(()) => (StatusCode::SEE_OTHER, [(header::LOCATION, "/#jobs")]).into_response(),
        Err((status, message)) => error_page(status, &message),
    }
}

async fn upload_inner(
    state: &AppState,
    session: &Session,
    mp: &mut Multipart,
) -> Result<(), (StatusCode, String)> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        (
            StatusCode::BAD_REQUEST,
            format!("the form's body is malformed: {}", e.body_text()),
        )
    };
    let first = mp.next_field().await.map_err(bad)?;
    let csrf = match first {
        Some(f) if f.name() == Some("csrf") => Some(f.text().await.map_err(bad)?),
        _ => None,
    };
    if !session.csrf_ok(csrf.as_deref()) {
        return Err((
            StatusCode::FORBIDDEN,
            "missing or wrong CSRF token: reload the page and try again".into(),
        ));
    }
    let max = state.settings().serve.max_upload;
    let data_dir = state
        .settings()
        .inbox_dir
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let scratch = Scratch(
        data_dir
            .join("uploads")
            .join(format!("form-{:016x}", fastrand::u64(..))),
    );
    let io = |what: &str, p: &Path, e: std::io::Error| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot {what} `{}`: {e}", p.display()),
        )
    };
    let mut used = 0u64;
    let mut saved = Vec::new();
    while let Some(mut field) = mp.next_field().await.map_err(bad)? {
        let Some(fname) = field.file_name().map(str::to_string) else {
            continue;
        };
        if fname.is_empty() {
            continue;
        }
        let dir = scratch.0.join(saved.len().to_string());
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| io("create", &dir, e))?;
        let path = dir.join(safe_name(&fname));
        let mut out = tokio::fs::File::create(&path)
            .await
            .map_err(|e| io("create", &path, e))?;
        while let Some(chunk) = field.chunk().await.map_err(bad)? {
            used += chunk.len() as u64;
            if used > max {
                return Err((
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the upload is larger than [serve] max_upload ({max} bytes)"),
                ));
            }
            tokio::io::AsyncWriteExt::write_all(&mut out, &chunk)
                .await
                .map_err(|e| io("write", &path, e))?;
        }
        tokio::io::AsyncWriteExt::flush(&mut out)
            .await
            .map_err(|e| io("write", &path, e))?;
        saved.push((path, crate::serve::upload::display_name(&fname)));
    }
    if saved.is_empty() {
        return Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            "no file was chosen: pick a report file, then Upload".into(),
        ));
    }
    let opts = EnqueueOptions::defaults(state.settings());
    let outcomes = state
        .with_store(move |db| {
            let _keep = scratch;
            saved
                .iter()
                .map(|(p, name)| ingest::import_file_as(db, p, Some(name), &opts))
                .collect::<anyhow::Result<Vec<_>>>()
        })
        .await
        .map_err(|e| {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot queue the upload: {e:#}"),
            )
        })?;
    let refused: Vec<String> = outcomes
        .iter()
        .filter(|o| o.status.needs_attention())
        .map(|o| {
            format!(
                "{}: {}",
                o.path
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                o.message.as_deref().unwrap_or("not a known report layout")
            )
        })
        .collect();
    if refused.is_empty() {
        Ok(())
    } else {
        Err((StatusCode::UNPROCESSABLE_ENTITY, refused.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::safe_name;

    #[test]
    fn upload_names_lose_their_folders() {
        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name("C:\\x\\kdp report.xlsx"), "kdp report.xlsx");
        assert_eq!(safe_name(".."), "upload");
        assert_eq!(safe_name("a<b>.csv"), "a_b_.csv");
    }
}
