//! `serve --worker`: a run-worker pass in a loop, in this process.

use std::time::Duration;

use super::AppState;

/// Run worker passes until `stop` turns true; idle 2 s between passes that found nothing.
pub async fn run_loop(state: AppState, batch: u32, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        let did = state.run_pass(batch).await;
        let idle = match did {
            Ok(n) if n > 0 => Duration::from_millis(10),
            Ok(_) => Duration::from_secs(2),
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
