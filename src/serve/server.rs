//! The accept loop (hyper with a header-read timeout), graceful shutdown, secrets on disk,
//! the start-up line, and the optional worker loop.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;

use super::AppState;
use crate::config::{Secret, Settings};
use crate::store::OpenOptions;

/// What `serve` was asked on the command line.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    pub listen: Option<String>,
    pub worker: bool,
    pub batch: u32,
    pub allowed_hosts: Vec<String>,
    pub show_hook_url: bool,
    pub json: bool,
    pub quiet: bool,
}

/// 32 random bytes, hex.
///
/// # Errors
/// When the system has no randomness to give.
pub fn random_token() -> Result<String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("cannot read random bytes: {e}"))?;
    Ok(hex::encode(b))
}

/// Read the secret kept in `path`, creating it (owner-only, 0600) with a new random value on
/// first use. `what` names it in errors.
///
/// # Errors
/// When the file cannot be read or created, is empty, or others can read it.
pub fn load_or_create_secret(path: &Path, what: &str) -> Result<Secret> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::read_to_string(path) {
        Ok(text) => {
            #[cfg(unix)]
            {
                let mode = std::fs::metadata(path)?.permissions().mode();
                if mode & 0o077 != 0 {
                    anyhow::bail!(
                        "the {what} file `{}` can be read by others (mode {:o}): run `chmod 600 {}`",
                        path.display(),
                        mode & 0o777,
                        path.display()
                    );
                }
            }
            let t = text.trim();
            if t.len() < 16 {
                anyhow::bail!(
                    "the {what} file `{}` holds fewer than 16 characters: delete it and a new one is made on the next start",
                    path.display()
                );
            }
            Ok(Secret::new(t))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create the folder `{}`", dir.display()))?;
            }
            let token = random_token()?;
            let mut o = std::fs::OpenOptions::new();
            o.write(true).create_new(true);
            #[cfg(unix)]
            o.mode(0o600);
            let mut f = o
                .open(path)
                .with_context(|| format!("cannot create the {what} file `{}`", path.display()))?;
            f.write_all(format!("{token}\n").as_bytes())?;
            f.sync_all()?;
            Ok(Secret::new(token))
        }
        Err(e) => {
            Err(e).with_context(|| format!("cannot read the {what} file `{}`", path.display()))
        }
    }
}

fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

/// Run the server until SIGTERM or SIGINT.
///
/// # Errors
/// A bad address, a port in use, unreadable secrets, a store that cannot be opened.
pub fn run(settings: &Settings, open: &OpenOptions, opts: &ServeOptions) -> Result<i32> {
    let hook_secret =
        load_or_create_secret(&settings.serve.hook_secret_file, "Gumroad hook secret")?;
    let token = load_or_create_secret(&settings.serve.token_file, "API token")?;
    if opts.show_hook_url {
        let path = format!("/hooks/gumroad/{}", hook_secret.expose());
        if opts.json {
            println!(
                "{}",
                serde_json::json!({
                    "hook_path": path,
                    "token_file": settings.serve.token_file.display().to_string(),
                })
            );
        } else {
            println!("Gumroad Ping URL: https://<your public name>{path}");
            println!(
                "(paste it under Gumroad Settings → Advanced → Ping; the API token is in `{}`)",
                settings.serve.token_file.display()
            );
        }
        return Ok(0);
    }
    // Open (and migrate) the store once before listening: a bad --db fails here, not per request.
    drop(crate::store::open(&settings.db, open)?);
    let listen = opts
        .listen
        .clone()
        .unwrap_or_else(|| settings.serve.listen.clone());
    let addr: SocketAddr = listen.parse().map_err(|_| {
        crate::exit::coded(
            2,
            format!("`{listen}` is not an address: use IP:PORT, e.g. 127.0.0.1:8750"),
        )
    })?;
    let state = AppState::new(
        settings.clone(),
        open.clone(),
        token,
        hook_secret,
        &opts.allowed_hosts,
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(serve(state, addr, opts))
}

async fn serve(state: AppState, addr: SocketAddr, opts: &ServeOptions) -> Result<i32> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}: is another server using it?"))?;
    let bound = listener.local_addr()?;
    if !is_loopback(&bound) {
        eprintln!(
            "warning: listening on {bound}, which is not loopback: anyone who can reach it can \
             try the API. Put a reverse proxy with TLS in front and keep the token file private"
        );
    }
    let one_time = state.new_login_token()?;
    let login_url = format!("http://{bound}/login/{one_time}");
    if opts.json {
        println!(
            "{}",
            serde_json::json!({
                "address": bound.to_string(),
                "version": env!("CARGO_PKG_VERSION"),
                "login_url": login_url,
            })
        );
    } else if !opts.quiet {
        println!(
            "salesingest {} listening on http://{bound}",
            env!("CARGO_PKG_VERSION")
        );
        println!("dashboard login (works once): {login_url}");
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();

    let header_timeout =
        Duration::from_millis(state.settings().serve.header_timeout_ms.max(1) as u64);
    let shutdown_deadline =
        Duration::from_millis(state.settings().serve.shutdown_timeout_ms.max(0) as u64);
    let app = super::router(state.clone());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = if opts.worker {
        Some(tokio::spawn(super::worker::run_loop(
            state.clone(),
            opts.batch,
            stop_rx.clone(),
        )))
    } else {
        None
    };
    let signal = shutdown_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        eprintln!("warning: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let svc = TowerToHyperService::new(app.clone());
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(header_timeout)
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), svc);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            () = &mut signal => break,
        }
    }
    drop(listener);
    let _ = TokioExecutor::new();
    let _ = stop_tx.send(true);
    let started = Instant::now();
    let drained = tokio::time::timeout(shutdown_deadline, graceful.shutdown()).await;
    if let Some(w) = worker {
        let left = shutdown_deadline.saturating_sub(started.elapsed());
        let _ = tokio::time::timeout(left.max(Duration::from_secs(1)), w).await;
    }
    if drained.is_err() && !opts.quiet {
        eprintln!(
            "warning: requests still running after {} ms were cut off",
            shutdown_deadline.as_millis()
        );
    }
    if !opts.quiet && !opts.json {
        eprintln!("stopped");
    }
    Ok(0)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        match (term, int) {
            (Ok(mut t), Ok(mut i)) => {
                tokio::select! {
                    _ = t.recv() => {},
                    _ = i.recv() => {},
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
