//! Soak test, on demand (not in CI):
//!
//! ```sh
//! SOAK_SECS=180 cargo test --release --test integration soak -- --ignored --nocapture
//! ```
//!
//! 8 worker slots run `salesingest run-worker --batch 5` back to back (overlapping runs, as
//! under cron) for `SOAK_SECS` (default 180) while another thread enqueues D2D reports
//! continuously (1–3000 rows each), with bursts of 0–15 Gumroad pings between them (quick jobs,
//! which workers claim in windows), and a third SIGKILLs a random running worker every 1–4 s.
//! Then a final drain, and the checks: every job completed, with exactly one completed attempt;
//! live events equal the sum of the rows of all enqueued files plus one per ping (each file
//! covers days no other file covers, so replace-by-coverage never removes anything; each ping
//! is its own sale), one live import per file job; `PRAGMA
//! integrity_check` is ok; every cron-run row finished with exit 0, or is unfinished and its
//! pid is one we killed.

use std::collections::HashSet;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::util::{d2d_row, day, write_d2d, Env};

#[test]
#[ignore = "soak test: minutes long; run on demand (see the module doc)"]
fn soak_kill_workers_while_enqueueing() {
    let secs: u64 = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(180);
    let env = Arc::new(Env::new());
    // Create the database before the threads start.
    env.json(&["run-worker"]);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let stop = Arc::new(AtomicBool::new(false));
    let slots: Arc<Vec<Mutex<Option<Child>>>> =
        Arc::new((0..8).map(|_| Mutex::new(None)).collect());
    let killed: Arc<Mutex<HashSet<u32>>> = Arc::new(Mutex::new(HashSet::new()));
    let runs = Arc::new(AtomicU64::new(0));

    let mut threads = Vec::new();
    for slot in 0..8 {
        let (env, stop, slots, runs) = (env.clone(), stop.clone(), slots.clone(), runs.clone());
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                // Staggered like cron runs, not a hot loop of process starts.
                std::thread::sleep(Duration::from_millis(fastrand::u64(20..200)));
                let child = env
                    .spawn_cmd()
                    .args(["run-worker", "--batch", "40", "--lease", "30"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                runs.fetch_add(1, Ordering::SeqCst);
                *slots[slot].lock().unwrap() = Some(child);
                loop {
                    std::thread::sleep(Duration::from_millis(10));
                    let mut g = slots[slot].lock().unwrap();
                    let done = g.as_mut().unwrap().try_wait().unwrap();
                    if let Some(st) = done {
                        // Killed (signal) or finished; a finished run must not fail.
                        assert!(st.code().is_none_or(|c| c == 0), "run-worker exited {st}");
                        *g = None;
                        break;
                    }
                }
            }
        }));
    }
    let killer = {
        let (stop, slots, killed) = (stop.clone(), slots.clone(), killed.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(fastrand::u64(1000..4000)));
                // A random worker among those running now (runs are short: a random slot is
                // often between two runs, and then most ticks killed nothing).
                let first = fastrand::usize(..8);
                for slot in (0..8).map(|i| (first + i) % 8) {
                    let mut g = slots[slot].lock().unwrap();
                    if let Some(child) = g.as_mut() {
                        if child.try_wait().unwrap().is_none() {
                            child.kill().unwrap(); // SIGKILL
                            killed.lock().unwrap().insert(child.id());
                            break;
                        }
                    }
                }
            }
        })
    };
    // Enqueue on this thread: file i has 1–3000 rows, all on day i (unique to it), so imports
    // take long enough for kills to land mid-job.
    let mut files = 0u64;
    let mut rows_total = 0u64;
    let mut pings = 0u64;
    // `salesingest enqueue ARGS… FILE`, which must succeed.
    let enqueue = |args: &[&str], file: &std::path::Path| {
        let out = env.cmd().args(args).arg(file).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    while Instant::now() < deadline {
        let n = fastrand::usize(1..=3000);
        let d = day(files as i64);
        let rows: Vec<String> = (0..n)
            .map(|k| d2d_row(&d, &format!("{}.{:02}", k % 7, k % 100), 1))
            .collect();
        let path = env.path(&format!("soak_{files}.csv"));
        write_d2d(&path, &rows);
        enqueue(&["enqueue", "d2d", "--max-attempts", "50", "--file"], &path);
        files += 1;
        rows_total += n as u64;
        for _ in 0..fastrand::u64(0..=15) {
            let path = env.path(&format!("ping_{pings}.txt"));
            std::fs::write(
                &path,
                crate::util::ping_with_sale_id(&format!("soak-{pings}")),
            )
            .unwrap();
            enqueue(
                &["enqueue", "gumroad", "--max-attempts", "50", "--ping-file"],
                &path,
            );
            pings += 1;
        }
        std::thread::sleep(Duration::from_millis(fastrand::u64(20..200)));
    }
    stop.store(true, Ordering::SeqCst);
    killer.join().unwrap();
    for t in threads {
        t.join().unwrap();
    }
    // Final drain: rescue what the last kills left, finish everything.
    for _ in 0..20 {
        env.cmd()
            .args(["run-worker", "--batch", "100000"])
            .assert()
            .success();
        let pending: i64 = env
            .sql()
            .query_row(
                "SELECT count(*) FROM jobs WHERE state != 'completed'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        if pending == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }

    let c = env.sql();
    let q = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
    let jobs = q("SELECT count(*) FROM jobs");
    let not_done = q("SELECT count(*) FROM jobs WHERE state != 'completed'");
    let not_once = q(
        "SELECT count(*) FROM (SELECT j.id FROM jobs j LEFT JOIN attempts a ON a.job_id = j.id
                        GROUP BY j.id HAVING sum(a.outcome = 'completed') IS NOT 1)",
    );
    let events = q("SELECT count(*) FROM live_sales");
    let all_events = q("SELECT count(*) FROM sales_events");
    let live_imports = q("SELECT count(*) FROM imports WHERE state = 'live'");
    let dup_imports = q("SELECT count(*) FROM (SELECT job_id FROM imports WHERE state = 'live' GROUP BY job_id HAVING count(*) > 1)");
    let died = q("SELECT count(*) FROM attempts WHERE outcome IN ('worker_died', 'lease_expired')");
    // The report rollup (what `status` and `sales summary` read) equals the live events, and
    // killed imports left no rollup rows behind.
    let rollup_events = q("SELECT coalesce(sum(events), 0) FROM live_rollup");
    let rollup_royalty = q("SELECT coalesce(sum(royalty_micros), 0) FROM live_rollup");
    let royalty = q("SELECT coalesce(sum(royalty_micros), 0) FROM live_sales");
    let stray_rollup = q("SELECT count(*) FROM sales_rollup WHERE import_id != 0
                            AND import_id NOT IN (SELECT id FROM imports WHERE state = 'live')");
    let integrity: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    let killed = killed.lock().unwrap().clone();
    let mut stmt = c
        .prepare("SELECT pid, finished_at IS NOT NULL, exit_code FROM cron_runs")
        .unwrap();
    let cron: Vec<(u32, bool, Option<i64>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let unfinished: Vec<_> = cron.iter().filter(|r| !r.1).collect();
    let unaccounted: Vec<_> = cron
        .iter()
        .filter(|(pid, finished, code)| {
            if *finished {
                *code != Some(0)
            } else {
                !killed.contains(pid)
            }
        })
        .collect();
    eprintln!(
        "soak: {secs}s, {files} files enqueued ({rows_total} rows), {pings} pings, {jobs} jobs, {} worker runs started, \
         {} SIGKILLs, {} cron rows ({} unfinished = killed mid-run), {died} attempts rescued \
         (worker_died/lease_expired), {events} live events, {all_events} stored events, \
         {rollup_events} events in the rollup, integrity {integrity}",
        runs.load(Ordering::SeqCst),
        killed.len(),
        cron.len(),
        unfinished.len()
    );
    assert_eq!(jobs as u64, files + pings);
    assert_eq!(not_done, 0, "jobs not completed");
    assert_eq!(not_once, 0, "jobs without exactly one completed attempt");
    assert_eq!(
        events as u64,
        rows_total + pings,
        "live events vs rows and pings enqueued"
    );
    assert_eq!(all_events, events, "staged leftovers remain");
    assert_eq!(live_imports as u64, files);
    assert_eq!(dup_imports, 0);
    assert_eq!(
        (rollup_events, rollup_royalty),
        (events, royalty),
        "rollup vs live events"
    );
    assert_eq!(stray_rollup, 0, "rollup rows of imports that are not live");
    assert_eq!(integrity, "ok");
    assert!(
        unaccounted.is_empty(),
        "cron runs not accounted for: {unaccounted:?}"
    );
    assert!(!killed.is_empty(), "the soak never killed a worker");
}
