//! `POST /api/files`: report files streamed to a temporary file on disk (never held whole in
//! memory), capped by `[serve] max_upload`, then checked and queued as `import` does.

use std::path::{Path, PathBuf};

use axum::extract::{FromRequest, Request, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use super::api::ApiError;
use super::AppState;
use crate::ingest::{self, views, CheckError, DetectFailure, EnqueueOptions, FileOutcome};
use crate::model::Platform;

/// `POST /api/files`'s query.
#[derive(Debug, Deserialize, Default)]
pub struct FilesQuery {
    /// The platform (as `enqueue <platform> --file`); without it the content decides.
    platform: Option<String>,
    /// The file's name, for a raw body (messages and the job's input).
    name: Option<String>,
    /// Import again content already imported.
    force: Option<bool>,
}

/// A folder removed with everything in it when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A file name safe to create: the last path component, only `[A-Za-z0-9._ -]`.
fn safe_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let s: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ' ') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_start_matches('.').trim().to_string();
    if s.is_empty() {
        "upload".to_string()
    } else {
        s.chars().take(120).collect()
    }
}

fn too_large(max: u64) -> ApiError {
    ApiError(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the upload is larger than [serve] max_upload ({max} bytes)"),
    )
}

async fn write_stream<S, E>(
    path: &Path,
    mut stream: S,
    max: u64,
    used: &mut u64,
) -> Result<(), ApiError>
where
    S: futures_util::Stream<Item = Result<axum::body::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut f = tokio::fs::File::create(path)
        .await
        .map_err(|e| anyhow::anyhow!("cannot create `{}`: {e}", path.display()))?;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            let text = e.to_string();
            if text.contains("length limit") {
                too_large(max)
            } else {
                ApiError(
                    StatusCode::BAD_REQUEST,
                    format!("the upload broke off: {text}"),
                )
            }
        })?;
        *used += chunk.len() as u64;
        if *used > max {
            return Err(too_large(max));
        }
        f.write_all(&chunk)
            .await
            .map_err(|e| anyhow::anyhow!("cannot write `{}`: {e}", path.display()))?;
    }
    f.flush()
        .await
        .map_err(|e| anyhow::anyhow!("cannot write `{}`: {e}", path.display()))?;
    Ok(())
}

/// `POST /api/files`: a raw body (`?platform=`, `?name=`) or `multipart/form-data` (one part
/// per file). Every file is checked before any is queued: one bad file → 422 with the message
/// `enqueue` prints, nothing queued. Otherwise 202 with one `import --json` object per file.
///
/// # Errors
/// The answers above; 413 beyond `[serve] max_upload`.
pub async fn files(
    State(state): State<AppState>,
    super::api::Q(q): super::api::Q<FilesQuery>,
    req: Request,
) -> Result<axum::response::Response, ApiError> {
    let platform = match q.platform.as_deref().filter(|p| !p.is_empty()) {
        None => None,
        Some(p) => Some(Platform::parse(p).ok_or_else(|| {
            ApiError(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("unknown platform `{p}`"),
            )
        })?),
    };
    if platform.is_some_and(|p| !p.is_file_platform()) {
        return Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            "gumroad has no report files: POST /api/jobs to sync, or the Ping to the hook URL"
                .into(),
        ));
    }
    let max = state.settings().serve.max_upload;
    let data_dir = state
        .settings()
        .inbox_dir
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let dir = data_dir
        .join("uploads")
        .join(super::server::random_token()?.get(..16).unwrap_or("upload"));
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| anyhow::anyhow!("cannot create `{}`: {e}", dir.display()))?;
    let tmp = TempDir(dir);
    let mut used = 0u64;
    let mut saved: Vec<(String, PathBuf)> = Vec::new();
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if is_multipart {
        let mut mp = axum::extract::Multipart::from_request(req, &state)
            .await
            .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
        loop {
            let field = match mp.next_field().await {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    return Err(ApiError(
                        StatusCode::BAD_REQUEST,
                        format!("the multipart body is malformed: {}", e.body_text()),
                    ))
                }
            };
            let Some(fname) = field.file_name().map(str::to_string) else {
                continue;
            };
            let name = safe_name(&fname);
            let sub = tmp.0.join(saved.len().to_string());
            tokio::fs::create_dir_all(&sub)
                .await
                .map_err(|e| anyhow::anyhow!("cannot create `{}`: {e}", sub.display()))?;
            let path = sub.join(&name);
            let stream = field.map(|r| r.map_err(|e| e.body_text()));
            write_stream(&path, Box::pin(stream), max, &mut used).await?;
            saved.push((fname, path));
        }
        if saved.is_empty() {
            return Err(ApiError(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the multipart body holds no file part (a part with a filename)".into(),
            ));
        }
    } else {
        let fname = q.name.clone().unwrap_or_else(|| "upload".to_string());
        let path = tmp.0.join(safe_name(&fname));
        let stream = req.into_body().into_data_stream();
        write_stream(&path, stream, max, &mut used).await?;
        if used == 0 {
            return Err(ApiError(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the body is empty: send the report file's bytes".into(),
            ));
        }
        saved.push((fname, path));
    }
    let opts = EnqueueOptions {
        force: q.force.unwrap_or(false),
        ..EnqueueOptions::defaults(state.settings())
    };
    let outcome = state
        .with_store(move |db| {
            let _keep = tmp;
            check_and_queue(db, platform, &saved, &opts)
        })
        .await?;
    match outcome {
        Ok(views) => Ok((StatusCode::ACCEPTED, Json(views)).into_response()),
        Err(msg) => Err(ApiError(StatusCode::UNPROCESSABLE_ENTITY, msg)),
    }
}

/// The name an uploaded file is recorded and shown under (the job's `input.file`, as `import`
/// records the path it was given): the client's name without control characters, at most 200
/// characters; `upload` when it gave none.
pub fn display_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(200)
        .collect();
    let s = s.trim();
    if s.is_empty() {
        "upload".to_string()
    } else {
        s.to_string()
    }
}

/// `message` with the temporary upload path replaced by the name the client gave.
fn named(message: String, path: &Path, name: &str) -> String {
    message.replace(&path.display().to_string(), name)
}

/// Check every file, then queue them all; the first rejection stops before anything is queued.
fn check_and_queue(
    db: &dyn crate::store::Store,
    platform: Option<Platform>,
    saved: &[(String, PathBuf)],
    opts: &EnqueueOptions,
) -> anyhow::Result<Result<Vec<crate::output::FileView>, String>> {
    let mut checked = Vec::new();
    for (name, path) in saved {
        let name = display_name(name);
        let (p, layout, period, mut c) = match platform {
            Some(p) => match ingest::check_file(db, p, path) {
                Ok(c) => (p, c.summary.layout.clone(), None, c),
                Err(CheckError::Rejected(m)) => return Ok(Err(named(m, path, &name))),
                Err(CheckError::Other(e)) => return Err(e),
            },
            None => match ingest::check_detected(db, path) {
                Ok((d, c)) => (d.platform, d.summary.layout.clone(), d.period, c),
                Err(DetectFailure::Unknown { message, .. })
                | Err(DetectFailure::Rejected { message, .. }) => {
                    return Ok(Err(named(message, path, &name)))
                }
                Err(DetectFailure::Other(e)) => return Err(e),
            },
        };
        // The job records the file under the client's name, not the temporary path (which is
        // gone once queued: the content is in the blob store under its hash).
        if let crate::model::JobInput::File { file, .. } = &mut c.input {
            file.clone_from(&name);
        }
        c.summary.warnings = c
            .summary
            .warnings
            .into_iter()
            .map(|w| named(w, path, &name))
            .collect();
        for w in &c.summary.warnings {
            eprintln!("warning: {w}");
        }
        checked.push((name, p, layout, period, c));
    }
    let mut out = Vec::new();
    for (name, p, layout, period, c) in checked {
        let mut o = FileOutcome {
            path: PathBuf::from(name),
            sha256: Some(c.sha256.clone()),
            platform: Some(p),
            layout: Some(layout),
            period,
            rows: c.summary.rows,
            status: ingest::FileStatus::Queued,
            job_id: None,
            message: None,
            warnings: c.summary.warnings.clone(),
        };
        match ingest::enqueue_checked(db, p, &c, opts)? {
            ingest::FileEnqueue::Queued(e) => {
                o.job_id = Some(e.id);
                if e.deduplicated {
                    o.status = ingest::FileStatus::Deduplicated;
                }
            }
            ingest::FileEnqueue::AlreadyImported { job_id, .. } => {
                o.job_id = job_id;
                o.status = ingest::FileStatus::AlreadyImported;
            }
        }
        out.push(views::file_view(&o));
    }
    Ok(Ok(out))
}
