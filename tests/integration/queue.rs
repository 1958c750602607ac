//! Queue guarantees through the real binary: overlapping workers, SIGKILL mid-import, retries.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::{d2d_row, day, write_d2d, Env};

#[test]
fn four_overlapping_workers_complete_every_job_exactly_once() {
    let env = Env::new();
    let mut enqueue = env.cmd();
    enqueue.args(["enqueue", "d2d"]);
    for i in 0..200 {
        let f = env.path(&format!("r{i}.csv"));
        write_d2d(&f, &[d2d_row(&day(i), "1.25", 1)]);
        enqueue.arg("--file").arg(&f);
    }
    enqueue.assert().success();

    let children: Vec<_> = (0..4)
        .map(|_| {
            env.spawn_cmd()
                .args(["run-worker", "--batch", "200", "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut completed = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "worker failed: {stderr}");
        assert!(!stderr.contains("locked"), "{stderr}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["failed"], 0);
        completed += v["completed"].as_i64().unwrap();
    }
    assert_eq!(
        completed, 200,
        "every job completed once across the four runs"
    );
    let sql = env.sql();
    let q = |s: &str| -> i64 { sql.query_row(s, [], |r| r.get(0)).unwrap() };
    assert_eq!(
        q("SELECT count(*) FROM jobs WHERE state = 'completed'"),
        200
    );
    assert_eq!(
        q("SELECT count(*) FROM attempts"),
        200,
        "one attempt per job"
    );
    assert_eq!(
        q("SELECT count(*) FROM attempts WHERE outcome = 'completed'"),
        200
    );
    assert_eq!(
        q("SELECT count(*) FROM sales_events"),
        200,
        "no sale duplicated"
    );
    assert_eq!(
        q("SELECT count(*) FROM cron_runs WHERE finished_at IS NOT NULL AND exit_code = 0"),
        4
    );
    assert_eq!(
        env.royalty("draft2digital"),
        vec![("USD".to_string(), "250.00".to_string())]
    );
}

/// Overlapping runs on a database that does not exist yet all start: the first to switch the
/// new file to WAL made the others fail with "database is locked" (3–4 % of such opens).
#[test]
fn runs_starting_together_on_a_new_database_all_start() {
    for _ in 0..30 {
        let env = Env::new();
        let children: Vec<_> = (0..8)
            .map(|_| {
                env.spawn_cmd()
                    .args(["run-worker", "--json"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn a_worker_killed_mid_import_is_rescued_at_once_by_the_next_run() {
    let env = Env::new();
    let big = env.path("big.csv");
    let rows: Vec<String> = (0..150_000)
        .map(|i| d2d_row(&day(i % 2000), "0.01", 1))
        .collect();
    write_d2d(&big, &rows);
    let job = env.json(&["enqueue", "d2d", "--file", big.to_str().unwrap()]);
    let id = job["id"].as_i64().unwrap();

    let mut worker = env
        .spawn_cmd()
        .args(["run-worker"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the import is under way (rows staged), then SIGKILL the worker.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "the import never started");
        if env.db_path().exists() {
            let staged: i64 = env
                .sql()
                .query_row("SELECT count(*) FROM sales_events", [], |r| r.get(0))
                .unwrap_or(0);
            if staged > 0 {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    worker.kill().unwrap(); // SIGKILL
    worker.wait().unwrap();
    let st = env.json(&["status", &id.to_string()]);
    assert_eq!(st["status"], "processing", "killed before completing: {st}");
    // Staged rows of the killed attempt are invisible to every report.
    assert_eq!(env.royalty("draft2digital"), vec![]);

    // The next run rescues it at once (no waiting for the 60 s lease) and completes it.
    let started = Instant::now();
    let run = env.json(&["run-worker"]);
    assert!(
        started.elapsed() < Duration::from_secs(55),
        "waited for the lease"
    );
    assert_eq!(run["rescued"], 1);
    assert_eq!(run["completed"], 1);
    let st = env.json(&["status", &id.to_string()]);
    let outcomes: Vec<&str> = st["attempt_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["worker_died", "completed"]);
    // Totals equal one import: 150,000 × 0.01.
    assert_eq!(
        env.royalty("draft2digital"),
        vec![("USD".to_string(), "1500.00".to_string())]
    );
    let n: i64 = env
        .sql()
        .query_row("SELECT count(*) FROM sales_events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 150_000, "the killed attempt's staged rows are gone");
    // The killed run shows in the log as never finished.
    let logs = env.json(&["logs"]);
    assert!(logs
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["state"] == "killed" && l["finished_at"].is_null()));
}

fn break_inbox_copy(env: &Env, job: &serde_json::Value) {
    // Replace the inbox copy with a folder: reading it fails with an I/O error (transient).
    let inbox = env
        .path("data/inbox")
        .join(job["input"]["sha256"].as_str().unwrap());
    std::fs::remove_file(&inbox).unwrap();
    std::fs::create_dir(&inbox).unwrap();
}

#[test]
fn transient_failures_retry_then_fail_with_history() {
    let env = Env::new();
    env.config("[queue]\nretry_base = \"1s\"\n");
    let f = env.path("r.csv");
    write_d2d(&f, &[d2d_row("2025-07-01", "1.00", 1)]);
    let job = env.json(&["enqueue", "d2d", "--file", f.to_str().unwrap()]);
    break_inbox_copy(&env, &job);
    let id = job["id"].as_i64().unwrap().to_string();
    // Backoff 1 s after attempt 1, 2 s after attempt 2 (base · 2^(n-1), ±10% jitter).
    for (expected, wait_ms) in [("retrying", 0), ("retrying", 1_200)] {
        std::thread::sleep(Duration::from_millis(wait_ms));
        let out = env.cmd().args(["run-worker", "--json"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "retries are not failures");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["jobs"][0]["status"], expected);
    }
    env.cmd().args(["run-worker"]).assert().code(0).stdout("");
    std::thread::sleep(Duration::from_millis(2_300));
    env.cmd().args(["run-worker"]).assert().code(3);
    let st = env.json(&["status", &id]);
    assert_eq!(st["status"], "failed");
    assert_eq!(st["attempts"], 3);
    let outcomes: Vec<&str> = st["attempt_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["retrying", "retrying", "failed"]);
    assert!(st["last_error"].as_str().unwrap().contains("r.csv"));

    // `retry` revives it; with the file readable again it completes.
    std::fs::remove_dir(
        env.path("data/inbox")
            .join(job["input"]["sha256"].as_str().unwrap()),
    )
    .unwrap();
    std::fs::copy(
        &f,
        env.path("data/inbox")
            .join(job["input"]["sha256"].as_str().unwrap()),
    )
    .unwrap();
    env.cmd().args(["retry", &id]).assert().success();
    let run = env.json(&["run-worker"]);
    assert_eq!(run["completed"], 1);
    assert_eq!(env.json(&["status", &id])["attempts"], 4);
}

#[test]
fn backoff_is_honoured_between_runs() {
    let env = Env::new();
    let f = env.path("r.csv");
    write_d2d(&f, &[d2d_row("2025-07-01", "1.00", 1)]);
    let job = env.json(&["enqueue", "d2d", "--file", f.to_str().unwrap()]);
    break_inbox_copy(&env, &job);
    let first = env.json(&["run-worker"]);
    assert_eq!(first["retrying"], 1);
    let st = env.json(&["status", &job["id"].to_string()]);
    let run_at = chrono::DateTime::parse_from_rfc3339(st["run_at"].as_str().unwrap()).unwrap();
    let wait = run_at
        .signed_duration_since(chrono::Utc::now())
        .num_seconds();
    // Base 5 minutes with ±10% jitter.
    assert!((260..=335).contains(&wait), "backoff {wait}s");
    let second = env.json(&["run-worker"]);
    assert_eq!(second["claimed"], 0, "not due before its backoff");
}

#[test]
fn cancel_a_queued_job() {
    let env = Env::new();
    let f = env.path("r.csv");
    write_d2d(&f, &[d2d_row("2025-07-01", "1.00", 1)]);
    let job = env.json(&["enqueue", "d2d", "--file", f.to_str().unwrap()]);
    let id = job["id"].to_string();
    env.cmd().args(["cancel", &id]).assert().success();
    assert_eq!(env.json(&["run-worker"])["claimed"], 0);
    assert_eq!(env.json(&["status", &id])["status"], "cancelled");
    // Cancelling it again changes nothing and succeeds (idempotent).
    env.cmd().args(["cancel", &id]).assert().success();
}

/// `[queue] synchronous = "normal"` trades power-loss durability for throughput (QUEUE.md §5.2):
/// accepted and used by every command; anything but full/normal (never OFF) is refused, exit 1.
#[test]
fn synchronous_normal_is_accepted_and_off_is_refused() {
    let env = Env::new();
    env.config("[queue]\nsynchronous = \"normal\"\n");
    let f = env.path("n.csv");
    write_d2d(
        &f,
        &[
            d2d_row("2025-07-01", "1.00", 1),
            d2d_row("2025-07-02", "2.50", 2),
        ],
    );
    env.cmd()
        .args(["enqueue", "d2d", "--file", f.to_str().unwrap()])
        .assert()
        .success();
    let run = env.json(&["run-worker"]);
    assert_eq!(run["completed"], 1);
    let n: i64 = env
        .sql()
        .query_row("SELECT count(*) FROM live_sales", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 2);
    env.config("[queue]\nsynchronous = \"off\"\n");
    env.cmd()
        .args(["jobs"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "queue.synchronous must be \"full\" or \"normal\"",
        ));
}
