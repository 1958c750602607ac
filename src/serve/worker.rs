//! `serve --worker`: run-worker passes in a loop, in this process. A pass runs when a job is
//! due, and at least once a minute (for the schedules and the inbox), so an idle server does not
//! record a run every few seconds.

use std::time::{Duration, Instant};

use super::AppState;

/// How often a pass runs even with nothing due.
const FULL_PASS: Duration = Duration::from_secs(60);

/// Run worker passes until `stop` turns true.
pub async fn run_loop(state: AppState, batch: u32, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut last_full: Option<Instant> = None;
    loop {
        if *stop.borrow() {
            return;
        }
        let due = state
            .with_store(|db| {
                let now = db.now()?;
                Ok(db.next_due_job(None)?.is_some_and(|(_, at)| at <= now))
            })
            .await;
        let idle = match due {
            Ok(due) if due || last_full.is_none_or(|t| t.elapsed() >= FULL_PASS) => {
                last_full = Some(Instant::now());
                match state.run_pass(batch).await {
                    Ok(n) if n > 0 => Duration::from_millis(10),
                    Ok(_) => Duration::from_millis(500),
                    Err(e) => {
                        eprintln!("worker: {e:#}");
                        Duration::from_secs(5)
                    }
                }
            }
            Ok(_) => Duration::from_millis(500),
            Err(e) => {
                eprintln!("worker: {e:#}");
                Duration::from_secs(5)
            }
        };
        tokio::select! {
            () = tokio::time::sleep(idle) => {}
            _ = stop.changed() => return,
        }
    }
}
