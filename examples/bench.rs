//! The benchmark suite behind `BENCHMARKS.md`. Every figure is measured next to a baseline in the
//! same run (the machine is shared and noisy), and reported as a ratio.
//!
//! ```sh
//! bench/run.sh                 # builds the binary and this example in release mode, runs `all`
//! target/release/examples/bench queue|import|kdp|gumroad|status|all [--rows N] [--jobs N]
//! ```
//!
//! Needs the release binary next to this example (`cargo build --release --bins --examples`),
//! `/usr/bin/time` (peak memory) and `/usr/bin/sqlite3` (import and status baselines).
//! Scratch files go to `$BENCH_DIR` (default: a fresh folder under /tmp), removed at the end
//! unless `BENCH_KEEP=1`.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use rusqlite::Connection;
use salesingest::queue::retry::{Retention, RetryPolicy};
use salesingest::queue::worker::{self, Handler, JobControl, WorkerConfig};
use salesingest::queue::{ClaimedJob, Durability, Effects, JobError, JobResult, JobStore, NewJob};
use salesingest::store::sqlite::Db;

#[derive(Clone, Copy)]
struct Opts {
    jobs: u64,
    history: u64,
    rows: u64,
    kdp_rows: u64,
    sales: u64,
    events: u64,
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let what = args.first().map_or("all", String::as_str);
    let flag = |name: &str, default: u64| -> u64 {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.replace('_', "").parse().ok())
            .unwrap_or(default)
    };
    if what == "worker" {
        // Child process: drain the queue of the database given as the second argument.
        let durability = match args.get(2).map(String::as_str) {
            Some("normal") => Durability::Normal,
            _ => Durability::Full,
        };
        return worker_child(Path::new(&args[1]), durability);
    }
    if what == "reference" {
        // `bench reference DB full|normal`: the reference design alone on DB (for profiling).
        let durability = match args.get(2).map(String::as_str) {
            Some("normal") => Durability::Normal,
            _ => Durability::Full,
        };
        let secs = reference_design(Path::new(&args[1]), flag("--jobs", 10_000), 0, durability)?;
        println!("{secs:.3} s");
        return Ok(());
    }
    let opts = Opts {
        jobs: flag("--jobs", 10_000),
        history: flag("--history", 100_000),
        rows: flag("--rows", 1_000_000),
        kdp_rows: flag("--kdp-rows", 100_000),
        sales: flag("--sales", 10_000),
        events: flag("--events", 1_000_000),
    };
    let dir = match std::env::var_os("BENCH_DIR") {
        Some(d) => PathBuf::from(d),
        None => std::env::temp_dir().join(format!("salesingest-bench-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir)?;
    println!(
        "# salesingest benchmarks ({})",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    println!();
    println!("machine: {} cores; scratch: {}", num_cpus(), dir.display());
    let res = match what {
        "queue" => bench_queue(&dir, &opts),
        "import" => bench_import(&dir, &opts).map(drop),
        "kdp" => bench_kdp(&dir, &opts),
        "gumroad" => bench_gumroad(&dir, &opts),
        "status" => bench_status(&dir, &opts, None),
        "all" => (|| {
            bench_queue(&dir, &opts)?;
            let db = bench_import(&dir, &opts)?;
            bench_status(&dir, &opts, Some(db))?;
            bench_kdp(&dir, &opts)?;
            bench_gumroad(&dir, &opts)
        })(),
        other => bail!("unknown benchmark `{other}` (queue, import, kdp, gumroad, status, all)"),
    };
    if std::env::var_os("BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    res
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

// ---------------------------------------------------------------------------------------------
// Queue

struct Noop;

impl Handler for Noop {
    fn handle(
        &mut self,
        _job: &ClaimedJob,
        _ctl: &JobControl,
    ) -> Result<(JobResult, Effects), JobError> {
        Ok((JobResult::default(), Effects::default()))
    }
}

fn worker_child(db_path: &Path, durability: Durability) -> Result<()> {
    let db = Db::open(db_path)?;
    db.set_durability(durability)?;
    let path = db_path.to_path_buf();
    let open_hb = move || -> Result<Box<dyn JobStore + Send>> { Ok(Box::new(Db::open(&path)?)) };
    let cfg = WorkerConfig {
        batch: u32::MAX,
        platform: None,
        lease_ms: 60_000,
        policy: RetryPolicy::default(),
        retention: Retention::default(),
        // `BENCH_WINDOW=1`: one job at a time (the A/B of claim windows); default 16.
        window: std::env::var("BENCH_WINDOW")
            .ok()
            .and_then(|w| w.parse().ok())
            .unwrap_or(salesingest::queue::worker::DEFAULT_WINDOW),
        args: "bench worker".into(),
    };
    let report = worker::run(&db, &open_hb, &mut Noop, &cfg, &mut |_| {})?;
    if report.exit_code != 0 {
        bail!("worker exit code {}", report.exit_code);
    }
    Ok(())
}

/// The commit floor: the same number of single-row INSERT transactions, then single-row UPDATE
/// transactions, on a WAL file with the given `synchronous`. Returns (insert secs, update secs).
fn baseline_sqlite(path: &Path, n: u64, durability: Durability) -> Result<(f64, f64)> {
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
    }
    let c = Connection::open(path)?;
    c.pragma_update(None, "journal_mode", "WAL")?;
    c.pragma_update(None, "synchronous", durability.as_str())?;
    c.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, state TEXT NOT NULL, payload TEXT NOT NULL)",
    )?;
    let t = Instant::now();
    for _ in 0..n {
        c.execute_batch("BEGIN IMMEDIATE")?;
        c.prepare_cached("INSERT INTO t (state, payload) VALUES ('queued', '{}')")?
            .execute([])?;
        c.execute_batch("COMMIT")?;
    }
    let ins = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for id in 1..=n {
        c.execute_batch("BEGIN IMMEDIATE")?;
        c.prepare_cached("UPDATE t SET state = 'done' WHERE id = ?1")?
            .execute([id])?;
        c.execute_batch("COMMIT")?;
    }
    Ok((ins, t.elapsed().as_secs_f64()))
}

/// The reference design of QUEUE.md (§5.3 schema, §5.4 statements), the loop its Python mock
/// was measured with (§3.2: 4,501–4,761 jobs/s with FULL, claims of 10 jobs per transaction,
/// then one fenced completion transaction per job), here in Rust on rusqlite: a peer measured
/// on the same disk in the same run. `history` finished jobs are added first. Returns the
/// seconds the worker loop took to drain `n` jobs (checked: each exactly once).
fn reference_design(path: &Path, n: u64, history: u64, durability: Durability) -> Result<f64> {
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
    }
    let mut c = Connection::open(path)?;
    c.pragma_update(None, "journal_mode", "WAL")?;
    c.pragma_update(None, "synchronous", durability.as_str())?;
    c.pragma_update(None, "foreign_keys", "ON")?;
    c.busy_timeout(std::time::Duration::from_secs(30))?;
    c.execute_batch(
        "CREATE TABLE jobs (
           id INTEGER PRIMARY KEY, kind TEXT NOT NULL, payload TEXT NOT NULL,
           state TEXT NOT NULL DEFAULT 'available'
             CHECK (state IN ('available','running','succeeded','dead','cancelled')),
           priority INTEGER NOT NULL DEFAULT 0, run_at INTEGER NOT NULL,
           attempts INTEGER NOT NULL DEFAULT 0,
           max_attempts INTEGER NOT NULL DEFAULT 8 CHECK (max_attempts >= 1),
           lease_owner TEXT, lease_expires_at INTEGER,
           cancel_requested INTEGER NOT NULL DEFAULT 0, unique_key TEXT,
           created_at INTEGER NOT NULL, finished_at INTEGER, last_error TEXT,
           CHECK ((state = 'running') = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL)),
           CHECK ((state IN ('succeeded','dead','cancelled')) = (finished_at IS NOT NULL)));
         CREATE INDEX jobs_claim ON jobs (priority DESC, run_at, id) WHERE state = 'available';
         CREATE INDEX jobs_lease ON jobs (lease_expires_at) WHERE state = 'running';
         CREATE INDEX jobs_retain ON jobs (finished_at) WHERE finished_at IS NOT NULL;
         CREATE UNIQUE INDEX jobs_unique ON jobs (kind, unique_key)
           WHERE unique_key IS NOT NULL AND state IN ('available','running');
         CREATE TABLE cron_runs (id INTEGER PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL,
           proc_start INTEGER NOT NULL, args TEXT NOT NULL, started_at INTEGER NOT NULL,
           finished_at INTEGER);
         CREATE TABLE attempts (
           job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
           attempt INTEGER NOT NULL, run_id INTEGER REFERENCES cron_runs(id),
           worker TEXT NOT NULL, started_at INTEGER NOT NULL, finished_at INTEGER,
           outcome TEXT CHECK (outcome IN ('succeeded','failed','retry','lease_expired','lease_lost','cancelled')),
           error TEXT, PRIMARY KEY (job_id, attempt));",
    )?;
    let now = chrono::Utc::now().timestamp_millis();
    let tx = c.transaction()?;
    tx.execute(
        "WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < ?1)
         INSERT INTO jobs (kind, payload, state, run_at, attempts, created_at, finished_at)
         SELECT 'bench', '{}', 'succeeded', ?2, 1, ?2, ?2 FROM i WHERE ?1 > 0",
        rusqlite::params![history, now],
    )?;
    tx.execute(
        "INSERT INTO attempts (job_id, attempt, worker, started_at, finished_at, outcome)
         SELECT id, 1, 'history:1:1', ?1, ?1, 'succeeded' FROM jobs",
        [now],
    )?;
    tx.execute(
        "WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < ?1)
         INSERT INTO jobs (kind, payload, run_at, created_at) SELECT 'bench', '{}', ?2, ?2 FROM i",
        rusqlite::params![n, now],
    )?;
    tx.commit()?;
    let me = format!("benchhost:{}:1", std::process::id());
    let t = Instant::now();
    c.execute(
        "INSERT INTO cron_runs (host, pid, proc_start, args, started_at) VALUES ('benchhost', ?1, 1, 'bench', ?2)",
        rusqlite::params![std::process::id(), now],
    )?;
    let run_id = c.last_insert_rowid();
    loop {
        let now = chrono::Utc::now().timestamp_millis();
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let batch: Vec<(i64, i64)> = tx
            .prepare_cached(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1,
                        lease_owner = ?1, lease_expires_at = ?2 + 60000
                  WHERE id IN (SELECT id FROM jobs WHERE state = 'available' AND run_at <= ?2
                               ORDER BY priority DESC, run_at, id LIMIT 10)
                 RETURNING id, attempts",
            )?
            .query_map(rusqlite::params![me, now], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (id, attempt) in &batch {
            tx.prepare_cached(
                "INSERT INTO attempts (job_id, attempt, run_id, worker, started_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(rusqlite::params![id, attempt, run_id, me, now])?;
        }
        tx.commit()?;
        if batch.is_empty() {
            break;
        }
        for (id, attempt) in batch {
            let now = chrono::Utc::now().timestamp_millis();
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let done = tx
                .prepare_cached(
                    "UPDATE jobs SET state = 'succeeded', finished_at = ?4, lease_owner = NULL,
                            lease_expires_at = NULL
                      WHERE id = ?1 AND state = 'running' AND lease_owner = ?2 AND attempts = ?3",
                )?
                .execute(rusqlite::params![id, me, attempt, now])?;
            if done != 1 {
                bail!("reference design: job {id} lost its lease");
            }
            tx.prepare_cached(
                "UPDATE attempts SET finished_at = ?3, outcome = 'succeeded' WHERE job_id = ?1 AND attempt = ?2",
            )?
            .execute(rusqlite::params![id, attempt, now])?;
            tx.commit()?;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let (succeeded, attempts): (i64, i64) = c.query_row(
        "SELECT count(*), (SELECT count(*) FROM attempts WHERE outcome = 'succeeded')
           FROM jobs WHERE state = 'succeeded'",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let expected = (n + history) as i64;
    if succeeded != expected || attempts != expected {
        bail!("reference design check FAILED: {succeeded} succeeded jobs, {attempts} succeeded attempts (expected {expected})");
    }
    Ok(secs)
}

/// Pre-fill `n` finished jobs (with their attempt rows) in one transaction.
fn add_history(path: &Path, n: u64) -> Result<()> {
    let db = Db::open(path)?;
    drop(db);
    let mut c = Connection::open(path)?;
    let now = chrono::Utc::now().timestamp_millis();
    let tx = c.transaction()?;
    {
        let mut job = tx.prepare(
            "INSERT INTO jobs (platform, input, state, run_at, attempts, claims, created_at, finished_at, result)
             VALUES ('bench', '{}', 'completed', ?1, 1, 1, ?1, ?1, '{}')",
        )?;
        let mut att = tx.prepare(
            "INSERT INTO attempts (job_id, attempt, worker, started_at, finished_at, outcome)
             VALUES (?1, 1, 'history:1:1', ?2, ?2, 'completed')",
        )?;
        for _ in 0..n {
            job.execute([now])?;
            att.execute([tx.last_insert_rowid(), now])?;
        }
    }
    tx.commit()?;
    Ok(())
}

fn enqueue_jobs(path: &Path, n: u64) -> Result<f64> {
    let db = Db::open(path)?;
    let now = chrono::Utc::now().timestamp_millis();
    let t = Instant::now();
    for i in 0..n {
        db.enqueue(&NewJob {
            platform: "bench".into(),
            input: format!("{{\"n\":{i}}}"),
            priority: 0,
            run_at: Some(now),
            max_attempts: 3,
            unique_key: None,
        })?;
    }
    Ok(t.elapsed().as_secs_f64())
}

/// Spawn `workers` copies of this program as worker processes and wait for all of them.
fn drain(path: &Path, workers: usize, durability: Durability) -> Result<f64> {
    let exe = std::env::current_exe()?;
    let t = Instant::now();
    let sync = match durability {
        Durability::Full => "full",
        Durability::Normal => "normal",
    };
    let children: Vec<_> = (0..workers)
        .map(|_| Command::new(&exe).arg("worker").arg(path).arg(sync).spawn())
        .collect::<std::io::Result<_>>()?;
    for mut c in children {
        let st = c.wait()?;
        if !st.success() {
            bail!("a worker process failed: {st}");
        }
    }
    Ok(t.elapsed().as_secs_f64())
}

/// Check from the attempts table that every job above `first_id` was completed exactly once.
/// Returns the per-worker split.
fn verify_queue(path: &Path, after_id: i64, n: u64) -> Result<String> {
    let c = Connection::open(path)?;
    let q = |sql: &str| -> Result<i64> { Ok(c.query_row(sql, [after_id], |r| r.get(0))?) };
    let completed = q("SELECT count(*) FROM jobs WHERE id > ?1 AND state = 'completed'")?;
    let attempts = q("SELECT count(*) FROM attempts WHERE job_id > ?1")?;
    let done_attempts =
        q("SELECT count(*) FROM attempts WHERE job_id > ?1 AND outcome = 'completed'")?;
    let bad = q(
        "SELECT count(*) FROM (SELECT job_id FROM attempts WHERE job_id > ?1 GROUP BY job_id
                 HAVING count(*) != 1 OR sum(outcome = 'completed') != 1)",
    )?;
    let missing = q("SELECT count(*) FROM jobs j WHERE j.id > ?1
                     AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.job_id = j.id)")?;
    let n = n as i64;
    if completed != n || attempts != n || done_attempts != n || bad != 0 || missing != 0 {
        bail!(
            "queue check FAILED: completed={completed} attempts={attempts} completed_attempts={done_attempts} \
             jobs_not_exactly_once={bad} jobs_without_attempt={missing} (expected {n})"
        );
    }
    let mut stmt = c.prepare(
        "SELECT count(*) FROM attempts WHERE job_id > ?1 GROUP BY worker ORDER BY worker",
    )?;
    let split: Vec<String> = stmt
        .query_map([after_id], |r| r.get::<_, i64>(0))?
        .map(|r| r.map(|n| n.to_string()))
        .collect::<rusqlite::Result<_>>()?;
    Ok(split.join("/"))
}

/// Rounds of the single-worker FULL scenario, alternating with the reference design.
const QUEUE_ROUNDS: usize = 3;

fn bench_queue(dir: &Path, o: &Opts) -> Result<()> {
    let n = o.jobs;
    println!();
    println!("## Queue: {n} jobs, no-op handler, WAL");
    println!();
    println!("baseline = a raw rusqlite loop of {n} single-row transactions on a one-column table (same pragmas, same disk): INSERTs for enqueue; UPDATEs for the workers, since the queue commits once per job (the fenced completion of a job and the claim of the next are one transaction). Measured right before and right after each scenario; the mean is used. ratio = our time / baseline time (1.00 = nothing beyond the commit floor). The single-worker FULL scenario runs {QUEUE_ROUNDS} rounds alternating with QUEUE.md's reference design (its peer, on the same disk) and gives the median of each; every other scenario runs once.");
    println!();
    println!("| scenario | synchronous | history | time (s) | jobs/s | baseline (s) | ratio | checked: each job exactly one completed attempt | split per worker |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let base = dir.join("baseline.db");
    // The disk's fsync rate drifts by 2× within a minute here: take the baseline right before
    // and right after each measurement and use the mean.
    let around =
        |durability: Durability, f: &mut dyn FnMut() -> Result<f64>| -> Result<(f64, f64, f64)> {
            let before = baseline_sqlite(&base, n, durability)?;
            let secs = f()?;
            let after = baseline_sqlite(&base, n, durability)?;
            Ok((secs, (before.0 + after.0) / 2.0, (before.1 + after.1) / 2.0))
        };
    let row =
        |scenario: &str, durability: Durability, history: &str, secs: f64, b: f64, split: &str| {
            let sync = durability.as_str();
            println!(
            "| {scenario} | {sync} | {history} | {secs:.2} | {:.0} | {b:.2} | {:.2} | {} | {} |",
            n as f64 / secs,
            secs / b,
            if split.is_empty() { "–" } else { "yes" },
            if split.is_empty() { "–" } else { split },
        );
        };
    let mut rounds = Vec::new();
    for history in [0, o.history] {
        let path = dir.join(format!("queue-{history}.db"));
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
        }
        if history > 0 {
            add_history(&path, history)?;
        }
        let mut done = history;
        let (enq, b_ins, _) = around(Durability::Full, &mut || enqueue_jobs(&path, n))?;
        row(
            "enqueue",
            Durability::Full,
            &history.to_string(),
            enq,
            b_ins,
            "",
        );

        // One worker, FULL: rounds alternating with the reference design, which gets the same
        // history as ours had in that round.
        let reference = dir.join("reference.db");
        let (mut ours, mut peer, mut splits) = (Vec::new(), Vec::new(), Vec::new());
        let (_, _, b_upd) = around(Durability::Full, &mut || {
            for round in 0..QUEUE_ROUNDS {
                if round > 0 {
                    enqueue_jobs(&path, n)?;
                }
                ours.push(drain(&path, 1, Durability::Full)?);
                splits.push(verify_queue(&path, done as i64, n)?);
                peer.push(reference_design(&reference, n, done, Durability::Full)?);
                done += n;
            }
            Ok(0.0)
        })?;
        let histories = format!("{history}–{}", done - n);
        row(
            &format!("1 worker process, median of {QUEUE_ROUNDS}"),
            Durability::Full,
            &histories,
            median(ours.clone()),
            b_upd,
            &splits.join(", "),
        );
        row(
            &format!("reference design (QUEUE.md §5.4, claims of 10), 1 worker, median of {QUEUE_ROUNDS}"),
            Durability::Full,
            &histories,
            median(peer.clone()),
            b_upd,
            &vec![n.to_string(); QUEUE_ROUNDS].join(", "),
        );
        rounds.push((history, ours, peer));

        for (workers, durability) in [(2, Durability::Full), (1, Durability::Normal)] {
            // A further round on the same file: the jobs drained so far are history now.
            enqueue_jobs(&path, n)?;
            let (secs, _, b_upd) = around(durability, &mut || drain(&path, workers, durability))?;
            let split = verify_queue(&path, done as i64, n)?;
            let label = if workers == 1 {
                "1 worker process".to_string()
            } else {
                format!("{workers} worker processes")
            };
            row(&label, durability, &done.to_string(), secs, b_upd, &split);
            done += n;
        }
    }
    println!();
    for (history, ours, peer) in rounds {
        let secs = |v: &[f64]| {
            v.iter()
                .map(|s| format!("{s:.2}"))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        let ratios: Vec<String> = ours
            .iter()
            .zip(&peer)
            .map(|(a, b)| format!("{:.2}", b / a))
            .collect();
        println!(
            "Rounds from history {history}: salesingest {} s; reference design {} s; salesingest's speed relative to the reference, round by round: {}.",
            secs(&ours),
            secs(&peer),
            ratios.join(" / ")
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Running the real binary

pub fn salesingest_bin() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("salesingest"))
        .context("cannot locate the salesingest binary")?;
    if !bin.exists() {
        bail!(
            "`{}` is missing: build it with `cargo build --release --bins --examples` (or use bench/run.sh)",
            bin.display()
        );
    }
    Ok(bin)
}

pub struct Measured {
    pub secs: f64,
    pub max_rss_kb: u64,
    pub stdout: String,
}

/// Run the binary under `/usr/bin/time -v` against `db`, failing on a non-zero exit.
pub fn run_bin(dir: &Path, db: &Path, args: &[&str], envs: &[(&str, &str)]) -> Result<Measured> {
    let bin = salesingest_bin()?;
    let home = dir.join("home");
    std::fs::create_dir_all(&home)?;
    let mut cmd = Command::new("/usr/bin/time");
    cmd.arg("-v")
        .arg(&bin)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("SALESINGEST_DB", db)
        .env("NO_COLOR", "1");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let t = Instant::now();
    let out = cmd.output()?;
    let secs = t.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("salesingest {args:?} failed ({}): {stderr}", out.status);
    }
    let max_rss_kb = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Ok(Measured {
        secs,
        max_rss_kb,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
    })
}

fn sqlite3(db: &Path, sql_or_dot: &[&str]) -> Result<f64> {
    let t = Instant::now();
    let out = Command::new("/usr/bin/sqlite3")
        .arg(db)
        .args(sql_or_dot)
        .output()?;
    if !out.status.success() {
        bail!("sqlite3 failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(t.elapsed().as_secs_f64())
}

pub fn mb(kb: u64) -> String {
    format!("{:.1}", kb as f64 / 1024.0)
}

// ---------------------------------------------------------------------------------------------
// Import

const D2D_HEADER: &str = "Start Date,End Date,Publisher,Title ID,Ebook ISBN,Title,Primary Author,Distributor,Vendor,Country,Units Sold,Units Returned,Net Unit Sales,Sales Model,Retailer,List Price Per Unit,Currency Code,Offer Price Per Unit,Royalty Percent,Sales Channel Fee/Taxes Per Unit,Extended Sales Channel Revenue,Sales Channel Share,D2D Share,Publisher Share,Publisher Share USD (estimated),Verified";

/// A D2D ebook sales CSV with `rows` rows over 2020–2025, deterministic.
pub fn write_d2d(path: &Path, rows: u64) -> Result<u64> {
    write_d2d_window(path, rows, 0, 2190)
}

/// The same rows dated within `days` days from 2020-01-01 + `first_day` (files with disjoint
/// windows do not replace each other by coverage: `examples/bench_pg.rs` stacks them).
pub fn write_d2d_window(path: &Path, rows: u64, first_day: u64, days: u64) -> Result<u64> {
    let titles = [
        (
            "1203344",
            "9781732461017",
            "The Lighthouse Keeper's Daughter",
        ),
        ("1203345", "9781732461024", "Salt and Starlight"),
        ("1203346", "9781732461031", "A Harbor in Winter, Book 3"),
    ];
    let stores = [
        ("Apple", "iTunes", "Apple Books"),
        ("Kobo", "Kobo", "Kobo"),
        ("Barnes & Noble", "B&N", "Nook"),
        ("Tolino", "Tolino", "Tolino"),
    ];
    let countries = [
        ("US", "USD"),
        ("GB", "GBP"),
        ("DE", "EUR"),
        ("CA", "CAD"),
        ("AU", "AUD"),
    ];
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(w, "{D2D_HEADER}")?;
    let mut rng = fastrand::Rng::with_seed(7);
    let start = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
    let mut royalty_sum: i64 = 0;
    for _ in 0..rows {
        let (tid, isbn, title) = titles[rng.usize(..titles.len())];
        let (dist, vendor, retailer) = stores[rng.usize(..stores.len())];
        let (country, cur) = countries[rng.usize(..countries.len())];
        let d = start + chrono::Days::new(first_day + rng.u64(0..days));
        let sold = rng.i64(0..9);
        let ret = if rng.u8(..) < 10 { 1 } else { 0 };
        let net = sold - ret;
        let cents = rng.i64(99..1499);
        let share = net * cents * 7 / 10;
        royalty_sum += share * 10_000;
        let list = cents_str(cents);
        writeln!(
            w,
            "{d},{d},Lantern Lane Press,{tid},{isbn},\"{title}\",Jane Q. Writer,{dist},{vendor},{country},{sold},{ret},{net},Retail,{retailer},{list},{cur},{list},70,0.00,{},0.00,0.00,{s},{s},{}",
            cents_str(net * cents),
            if rng.bool() { "true" } else { "false" },
            s = cents_str(share),
        )?;
    }
    w.flush()?;
    Ok(royalty_sum as u64)
}

fn cents_str(c: i64) -> String {
    let sign = if c < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", c.abs() / 100, c.abs() % 100)
}

fn bench_import(dir: &Path, o: &Opts) -> Result<PathBuf> {
    let rows = o.rows;
    let csv = dir.join(format!("d2d_{rows}.csv"));
    write_d2d(&csv, rows)?;
    let size = std::fs::metadata(&csv)?.len();
    println!();
    println!(
        "## Import: Draft2Digital CSV, {rows} rows ({:.0} MB)",
        size as f64 / 1e6
    );
    println!();
    println!("baseline = `sqlite3 base.db '.import --csv FILE t'` of the same file, in the same run. ratio = our time / sqlite3 time.");
    println!();
    let base_db = dir.join("sqlite3-import.db");
    let _ = std::fs::remove_file(&base_db);
    let base = sqlite3(&base_db, &[&format!(".import --csv {} t", csv.display())])?;
    let _ = std::fs::remove_file(&base_db);
    let db = dir.join("import.db");
    let enq = run_bin(
        dir,
        &db,
        &["enqueue", "d2d", "--file", csv.to_str().unwrap(), "--json"],
        &[],
    )?;
    let job_id: i64 = serde_json::from_str::<serde_json::Value>(enq.stdout.trim())?["id"]
        .as_i64()
        .context("enqueue printed no id")?;
    let work = run_bin(dir, &db, &["run-worker", "--json"], &[])?;
    let report: serde_json::Value = serde_json::from_str(work.stdout.trim())?;
    if report["completed"] != 1 {
        bail!("run-worker did not complete the import: {report}");
    }
    let c = Connection::open(&db)?;
    let stored: i64 = c.query_row("SELECT count(*) FROM live_sales", [], |r| r.get(0))?;
    if stored as u64 != rows {
        bail!("{stored} events stored, expected {rows}");
    }
    println!("| step | time (s) | rows/s | peak RSS (MB) | sqlite3 .import (s) | ratio |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| sqlite3 .import (baseline) | {base:.2} | {:.0} | – | {base:.2} | 1.00 |",
        rows as f64 / base
    );
    println!(
        "| `enqueue d2d` (hash, full validation parse, inbox copy) | {:.2} | {:.0} | {} | {base:.2} | {:.2} |",
        enq.secs, rows as f64 / enq.secs, mb(enq.max_rss_kb), enq.secs / base
    );
    println!(
        "| `run-worker` (parse, stage, publish) | {:.2} | {:.0} | {} | {base:.2} | {:.2} |",
        work.secs,
        rows as f64 / work.secs,
        mb(work.max_rss_kb),
        work.secs / base
    );
    println!(
        "| enqueue + run-worker | {:.2} | {:.0} | – | {base:.2} | {:.2} |",
        enq.secs + work.secs,
        rows as f64 / (enq.secs + work.secs),
        (enq.secs + work.secs) / base
    );
    println!();
    println!("checked: {stored} live events after the import (job {job_id}).");
    Ok(db)
}

fn bench_kdp(dir: &Path, o: &Opts) -> Result<()> {
    let rows = o.kdp_rows;
    let xlsx = dir.join(format!("kdp_{rows}.xlsx"));
    let csv = dir.join(format!("kdp_{rows}.csv"));
    let gen = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gen/make_kdp_fixtures.py");
    let st = Command::new("python3")
        .arg(&gen)
        .arg("--bench")
        .arg(rows.to_string())
        .arg(&xlsx)
        .arg(&csv)
        .stdout(Stdio::null())
        .status()?;
    if !st.success() {
        bail!("the KDP generator failed");
    }
    println!();
    println!("## Import: KDP workbook (XLSX, {rows} rows) and its CSV copy");
    println!();
    println!("baseline = `sqlite3 .import` of the CSV copy (the XLSX has no sqlite3 equivalent; the ratio shows what the XLSX container costs on top).");
    println!();
    let base_db = dir.join("sqlite3-kdp.db");
    let _ = std::fs::remove_file(&base_db);
    let base = sqlite3(&base_db, &[&format!(".import --csv {} t", csv.display())])?;
    println!("| file | step | time (s) | rows/s | peak RSS (MB) | ratio to sqlite3 .import of the CSV ({base:.2} s) |");
    println!("|---|---|---|---|---|---|");
    for file in [&xlsx, &csv] {
        let db = dir.join("kdp.db");
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
        }
        let name = file
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_uppercase();
        let enq = run_bin(
            dir,
            &db,
            &["enqueue", "kdp", "--file", file.to_str().unwrap(), "--json"],
            &[],
        )?;
        let work = run_bin(dir, &db, &["run-worker", "--json"], &[])?;
        let report: serde_json::Value = serde_json::from_str(work.stdout.trim())?;
        if report["completed"] != 1 {
            bail!("run-worker did not complete the KDP import: {report}");
        }
        for (step, m) in [("enqueue", &enq), ("run-worker", &work)] {
            println!(
                "| {name} | {step} | {:.2} | {:.0} | {} | {:.2} |",
                m.secs,
                rows as f64 / m.secs,
                mb(m.max_rss_kb),
                m.secs / base
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Gumroad

/// Serve `/v2/sales` pages of 10 sales each in Gumroad's shape, `pages` pages, chained by
/// `next_page_key`. Returns the base URL.
fn gumroad_mock(pages: u64) -> Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            std::thread::spawn(move || serve(stream, pages));
        }
    });
    Ok(format!("http://{addr}"))
}

fn serve(stream: std::net::TcpStream, pages: u64) {
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut out = stream;
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request).unwrap_or(0) == 0 {
            return;
        }
        let mut content_length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" || h == "\n" {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                content_length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; content_length];
        let _ = reader.read_exact(&mut body);
        let page: u64 = request
            .split(['?', '&', ' '])
            .find_map(|p| p.strip_prefix("page_key=p"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let json = sales_page(page, pages);
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
            json.len()
        );
        if out.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

fn sales_page(page: u64, pages: u64) -> String {
    let sales: Vec<serde_json::Value> = (0..10)
        .map(|i| {
            let n = (page - 1) * 10 + i;
            serde_json::json!({
                "id": format!("bench-sale-{n:08}=="),
                "email": "reader@example.com",
                "seller_id": "kL0paVL2SdmJSYsNs-OCMg==",
                "timestamp": "about 1 month ago",
                "daystamp": "14 Aug 2025  2:02 PM",
                "created_at": format!("2025-08-{:02}T21:02:11Z", 1 + n % 28),
                "product_name": format!("Book {} (EPUB + PDF)", n % 7),
                "product_has_variants": false,
                "price": 799 + (n % 5) as i64 * 100,
                "gumroad_fee": 121,
                "is_bundle_purchase": false,
                "formatted_display_price": "$7.99",
                "formatted_total_price": "$7.99",
                "currency_symbol": "$",
                "product_id": format!("prod-{}==", n % 7),
                "product_permalink": "book",
                "partially_refunded": false,
                "refunded": false,
                "chargedback": false,
                "purchase_email": "reader@example.com",
                "country": "United States",
                "country_iso2": "US",
                "paid": true,
                "quantity": 1,
                "order_id": 524459001 + n,
                "disputed": false,
                "dispute_won": false,
                "custom_fields": {},
            })
        })
        .collect();
    let mut page_json = serde_json::json!({ "success": true, "sales": sales });
    if page < pages {
        page_json["next_page_key"] = serde_json::Value::String(format!("p{}", page + 1));
        page_json["next_page_url"] =
            serde_json::Value::String(format!("/v2/sales?page_key=p{}", page + 1));
    }
    page_json.to_string()
}

fn bench_gumroad(dir: &Path, o: &Opts) -> Result<()> {
    let sales = o.sales;
    let pages = sales.div_ceil(10);
    let url = gumroad_mock(pages)?;
    let db = dir.join("gumroad.db");
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
    }
    let env = [
        ("SALESINGEST_GUMROAD_API_URL", url.as_str()),
        ("GUMROAD_ACCESS_TOKEN", "x"),
    ];
    // One calendar window, so the mock's page chain is read once.
    run_bin(
        dir,
        &db,
        &[
            "enqueue",
            "gumroad",
            "--since",
            "2025-08-01",
            "--until",
            "2025-08-31",
        ],
        &env,
    )?;
    let work = run_bin(dir, &db, &["run-worker", "--json"], &env)?;
    let report: serde_json::Value = serde_json::from_str(work.stdout.trim())?;
    let inserted = report["jobs"][0]["events"]["inserted"]
        .as_u64()
        .unwrap_or(0);
    if report["completed"] != 1 || inserted != pages * 10 {
        bail!(
            "the Gumroad sync did not insert {} sales: {report}",
            pages * 10
        );
    }
    // Baseline: the same HTTP pages fetched and parsed by a bare client loop in this process
    // (no database), so the ratio shows what storing costs.
    let t = Instant::now();
    let mut page = 1;
    loop {
        let body = http_get(&url, page)?;
        let parsed = salesingest::platforms::gumroad::parse_page(body.as_bytes(), page)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if parsed.next_page_key.is_none() {
            break;
        }
        page += 1;
    }
    let base = t.elapsed().as_secs_f64();
    println!();
    println!(
        "## Gumroad API sync: {} sales in {pages} pages of 10 from a local mock server",
        pages * 10
    );
    println!();
    println!("baseline = the same pages fetched over one keep-alive connection and parsed with `gumroad::parse_page`, no database, no process start.");
    println!();
    println!("| step | time (s) | sales/s | peak RSS (MB) | baseline (s) | ratio |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| `run-worker` (sync job: fetch, parse, upsert per page) | {:.2} | {:.0} | {} | {base:.2} | {:.2} |",
        work.secs,
        (pages * 10) as f64 / work.secs,
        mb(work.max_rss_kb),
        work.secs / base
    );
    Ok(())
}

fn http_get(base: &str, page: u64) -> Result<String> {
    thread_local! {
        static CONN: std::cell::RefCell<Option<std::net::TcpStream>> = const { std::cell::RefCell::new(None) };
    }
    let addr = base.trim_start_matches("http://").to_string();
    CONN.with(|c| -> Result<String> {
        let mut c = c.borrow_mut();
        if c.is_none() {
            let s = std::net::TcpStream::connect(&addr)?;
            s.set_nodelay(true)?;
            *c = Some(s);
        }
        let s = c.as_mut().unwrap();
        let req = format!("GET /v2/sales?after=2025-08-01&before=2025-09-01&page_key=p{page} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        s.write_all(req.as_bytes())?;
        let mut r = BufReader::new(s.try_clone()?);
        let mut len = 0;
        loop {
            let mut h = String::new();
            r.read_line(&mut h)?;
            if h == "\r\n" {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse()?;
            }
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body)?;
        Ok(String::from_utf8(body)?)
    })
}

// ---------------------------------------------------------------------------------------------
// Status

const STATUS_SQL: &str = "
SELECT platform, currency, count(*), sum(units), sum(kenp_pages), sum(royalty_micros)
  FROM effective_sales GROUP BY platform, currency ORDER BY platform, currency;
SELECT platform, count(*), min(period_start), max(period_end) FROM effective_sales GROUP BY platform;
SELECT platform, max(CASE WHEN is_final THEN period_end END), max(CASE WHEN NOT is_final THEN period_end END) FROM live_sales GROUP BY platform;
SELECT id, finished_at FROM jobs WHERE platform = 'draft2digital' AND state = 'completed' ORDER BY finished_at DESC LIMIT 1;
SELECT platform, state, count(*) FROM jobs GROUP BY platform, state;
SELECT cursor FROM sync_cursors;";

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn bench_status(dir: &Path, o: &Opts, db: Option<PathBuf>) -> Result<()> {
    let db = match db {
        Some(db) => db,
        None => bench_import(
            dir,
            &Opts {
                rows: o.events,
                ..*o
            },
        )?,
    };
    let c = Connection::open(&db)?;
    let events: i64 = c.query_row("SELECT count(*) FROM sales_events", [], |r| r.get(0))?;
    let job: i64 = c.query_row("SELECT max(id) FROM jobs", [], |r| r.get(0))?;
    drop(c);
    let runs = 5;
    // (our command, the sqlite3 query answering the same question from the events).
    let by_job = format!(
        "SELECT * FROM jobs WHERE id = {job}; SELECT * FROM attempts WHERE job_id = {job} ORDER BY attempt;"
    );
    let job_s = job.to_string();
    let cases: [(&[&str], &str, &str); 4] = [
        (
            &["status", "--json"],
            STATUS_SQL,
            "`status --json` (overview)",
        ),
        (
            &["status", &job_s, "--json"],
            &by_job,
            "`status <id> --json`",
        ),
        (
            &["sales", "summary", "--json"],
            "SELECT month, platform, currency, count(*), sum(units), sum(kenp_pages),
                    sum(royalty_micros), min(is_final)
               FROM effective_sales GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;",
            "`sales summary --json` (month × platform × currency)",
        ),
        (
            &["sales", "summary", "--by", "title,month", "--json"],
            "SELECT title, month, currency, count(*), sum(units), sum(kenp_pages),
                    sum(royalty_micros), min(is_final)
               FROM effective_sales GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;",
            "`sales summary --by title,month --json`",
        ),
    ];
    println!();
    println!("## Reports on a database with {events} sales events (median of {runs} runs, process start included)");
    println!();
    println!("baseline = `/usr/bin/sqlite3` answering the same question with SQL over the events (`effective_sales`, the view with the estimate/final rule), on the same file, also a process start. ratio = ours / sqlite3.");
    println!();
    println!("| command | time (ms) | sqlite3 equivalent (ms) | ratio |");
    println!("|---|---|---|---|");
    for (args, sql, label) in cases {
        let mut ours = Vec::new();
        let mut base = Vec::new();
        for _ in 0..runs {
            base.push(sqlite3(&db, &[sql])?);
            ours.push(run_bin(dir, &db, args, &[])?.secs);
        }
        let (a, b) = (median(ours), median(base));
        println!(
            "| {label} | {:.0} | {:.0} | {:.2} |",
            a * 1e3,
            b * 1e3,
            a / b
        );
    }
    Ok(())
}
