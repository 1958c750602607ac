//! The PostgreSQL benchmarks behind the PostgreSQL section of `BENCHMARKS.md` (issue 13 §5).
//! Every figure is measured next to a baseline in the same run (the machine is shared):
//!
//! - `queue`: no-op jobs drained by 1, 2, 4, 8 worker processes (the real worker loop,
//!   `queue::worker::run`, over the real PostgreSQL store, as `salesingest run-worker` runs it,
//!   with the no-op handler of `examples/bench.rs`), each round next to `pgbench` running
//!   one-row `UPDATE` transactions with the same client count (the commit floor), and
//!   graphile-worker 0.18 draining the same number of no-op jobs with the same number of job
//!   slots (`bench/pg/gw_bench.mjs`), round by round;
//! - `flat`: the 4-worker drain with 0, 100,000 and 1,000,000 finished jobs in history;
//! - `import`: a D2D import of `--rows` rows and `sales summary --json` at `--events` events, on
//!   SQLite and on PostgreSQL, the real binary under `/usr/bin/time -v` (peak memory).
//!
//! ```sh
//! bench/pg.sh                      # builds, installs graphile-worker, runs `all`
//! target/release/examples/bench_pg queue|flat|import|all [--jobs N] [--counts 1,2,4,8]
//!     [--rounds 3] [--floor-secs 5] [--history 0,100000,1000000] [--rows N] [--events N]
//!     [--pg postgres://postgres@127.0.0.1:5432] [--gw-dir target/bench-pg/gw]
//! ```
//!
//! Each group creates its own databases (`salesingest_bench_*`) and drops them at the end.

#[allow(dead_code)]
#[path = "bench.rs"]
mod base;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use postgres::{Client, NoTls};
use salesingest::queue::retry::{Retention, RetryPolicy};
use salesingest::queue::worker::{self, Handler, JobControl, WorkerConfig, DEFAULT_WINDOW};
use salesingest::queue::{ClaimedJob, Effects, JobError, JobResult, JobStore};
use salesingest::store::{Location, OpenOptions};

struct Opts {
    pg: String,
    jobs: u64,
    counts: Vec<usize>,
    rounds: usize,
    floor_secs: u64,
    history: Vec<u64>,
    rows: u64,
    events: u64,
    gw_dir: PathBuf,
    gw: bool,
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let what = args.first().map_or("all", String::as_str);
    if what == "worker" {
        let window = args.get(2).map_or(Ok(DEFAULT_WINDOW), |w| w.parse())?;
        return worker_child(args.get(1).context("worker URL")?, window);
    }
    let flag = |name: &str| -> Option<String> {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let num = |name: &str, default: u64| -> u64 {
        flag(name)
            .and_then(|v| v.replace('_', "").parse().ok())
            .unwrap_or(default)
    };
    let list = |name: &str, default: &str| -> Vec<u64> {
        flag(name)
            .unwrap_or_else(|| default.into())
            .split(',')
            .filter_map(|v| v.trim().replace('_', "").parse().ok())
            .collect()
    };
    let o = Opts {
        pg: flag("--pg").unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432".into()),
        jobs: num("--jobs", 5_000),
        counts: list("--counts", "1,2,4,8")
            .into_iter()
            .map(|n| n as usize)
            .collect(),
        rounds: num("--rounds", 3) as usize,
        floor_secs: num("--floor-secs", 5),
        history: list("--history", "0,100000,1000000"),
        rows: num("--rows", 1_000_000),
        events: num("--events", 10_000_000),
        gw_dir: PathBuf::from(flag("--gw-dir").unwrap_or_else(|| "target/bench-pg/gw".into())),
        gw: flag("--gw").as_deref() != Some("off"),
    };
    let dir = match std::env::var_os("BENCH_DIR") {
        Some(d) => PathBuf::from(d),
        None => std::env::temp_dir().join(format!("salesingest-bench-pg-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir)?;
    let mut admin = Client::connect(&format!("{}/postgres", o.pg), NoTls)
        .with_context(|| format!("cannot connect to {}/postgres", o.pg))?;
    let version: String = admin.query_one("SHOW server_version", &[])?.get(0);
    let mut settings = Vec::new();
    for s in [
        "fsync",
        "synchronous_commit",
        "wal_sync_method",
        "shared_buffers",
        "max_connections",
    ] {
        let v: String = admin.query_one(&format!("SHOW {s}"), &[])?.get(0);
        settings.push(format!("{s}={v}"));
    }
    drop(admin);
    println!(
        "# salesingest PostgreSQL benchmarks ({})",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    println!();
    println!(
        "machine: {} cores; PostgreSQL {version} on the same machine ({}); scratch: {}",
        std::thread::available_parallelism().map_or(1, usize::from),
        settings.join(", "),
        dir.display()
    );
    let res = match what {
        "queue" => bench_queue(&dir, &o),
        "flat" => bench_flat(&dir, &o),
        "import" => bench_import(&dir, &o),
        "all" => (|| {
            bench_queue(&dir, &o)?;
            bench_flat(&dir, &o)?;
            bench_import(&dir, &o)
        })(),
        other => bail!("unknown benchmark `{other}` (queue, flat, import, all)"),
    };
    if std::env::var_os("BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    res
}

// ---------------------------------------------------------------------------------------------
// Databases

fn fresh_db(o: &Opts, name: &str) -> Result<String> {
    let mut admin = Client::connect(&format!("{}/postgres", o.pg), NoTls)?;
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
    admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
    Ok(format!("{}/{name}", o.pg))
}

fn drop_db(o: &Opts, name: &str) -> Result<()> {
    let mut admin = Client::connect(&format!("{}/postgres", o.pg), NoTls)?;
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
    Ok(())
}

/// A salesingest database: created, and its schema applied by opening the store once.
fn salesingest_db(o: &Opts, name: &str) -> Result<(String, Client)> {
    let url = fresh_db(o, name)?;
    drop(salesingest::store::open(
        &Location::parse_here(&url)?,
        &OpenOptions::default(),
    )?);
    let client = Client::connect(&url, NoTls)?;
    Ok((url, client))
}

// ---------------------------------------------------------------------------------------------
// Worker processes

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

/// Child process: drain the queue of the PostgreSQL store at `url`, as `run-worker` does (a
/// store with the default pool, a second connection for the heartbeat), and exit.
fn worker_child(url: &str, window: u32) -> Result<()> {
    let location = Location::parse_here(url)?;
    let opts = OpenOptions::default();
    let db = salesingest::store::open(&location, &opts)?;
    let open_hb = move || -> Result<Box<dyn JobStore + Send>> {
        Ok(salesingest::store::open(&location, &opts)?.into_queue())
    };
    let cfg = WorkerConfig {
        batch: u32::MAX,
        platform: None,
        lease_ms: 60_000,
        policy: RetryPolicy::default(),
        retention: Retention::default(),
        window,
        args: "bench_pg worker".into(),
    };
    let report = worker::run(db.queue(), &open_hb, &mut Noop, &cfg, &mut |_| {})?;
    if report.exit_code != 0 {
        bail!("worker exit code {}", report.exit_code);
    }
    Ok(())
}

/// Queue `n` no-op jobs in one statement (the row `enqueue` writes: queued, due now, 3 attempts).
/// Returns the highest job id before them.
fn enqueue_sql(c: &mut Client, n: u64) -> Result<i64> {
    let after: i64 = c
        .query_one("SELECT coalesce(max(id), 0)::bigint FROM jobs", &[])?
        .get(0);
    c.execute(
        "INSERT INTO jobs (platform, input, state, run_at, max_attempts, created_at)
         SELECT 'bench', jsonb_build_object('n', g), 'queued', now(), 3, now()
           FROM generate_series(1, $1::bigint) g",
        &[&(n as i64)],
    )?;
    c.batch_execute("ANALYZE jobs")?;
    Ok(after)
}

/// Spawn `workers` worker processes on `url`, claiming up to `window` quick jobs at once (1: one
/// at a time); seconds until the last one exits.
fn drain(url: &str, workers: usize, window: u32) -> Result<f64> {
    let exe = std::env::current_exe()?;
    let t = Instant::now();
    let children: Vec<_> = (0..workers)
        .map(|_| {
            Command::new(&exe)
                .arg("worker")
                .arg(url)
                .arg(window.to_string())
                .spawn()
        })
        .collect::<std::io::Result<_>>()?;
    for mut c in children {
        let st = c.wait()?;
        if !st.success() {
            bail!("a worker process failed: {st}");
        }
    }
    Ok(t.elapsed().as_secs_f64())
}

/// Check from `attempts` that every job above `after` was claimed once and completed once.
/// Returns the per-worker split, largest first.
fn verify(c: &mut Client, after: i64, n: u64) -> Result<String> {
    let mut q = |sql: &str| -> Result<i64> { Ok(c.query_one(sql, &[&after])?.get(0)) };
    let completed = q("SELECT count(*) FROM jobs WHERE id > $1 AND state = 'completed'")?;
    let once = q("SELECT count(*) FROM jobs WHERE id > $1 AND attempts = 1 AND claims = 1")?;
    let attempts = q("SELECT count(*) FROM attempts WHERE job_id > $1")?;
    let done = q("SELECT count(*) FROM attempts WHERE job_id > $1 AND outcome = 'completed'")?;
    let bad = q(
        "SELECT count(*) FROM (SELECT job_id FROM attempts WHERE job_id > $1
                   GROUP BY job_id
                   HAVING count(*) <> 1 OR count(*) FILTER (WHERE outcome = 'completed') <> 1) x",
    )?;
    let n = n as i64;
    if completed != n || once != n || attempts != n || done != n || bad != 0 {
        bail!(
            "queue check FAILED: completed={completed} claimed_once={once} attempts={attempts} \
             completed_attempts={done} jobs_not_exactly_once={bad} (expected {n})"
        );
    }
    let split: Vec<String> = c
        .query(
            "SELECT count(*) FROM attempts WHERE job_id > $1 GROUP BY worker ORDER BY 1 DESC",
            &[&after],
        )?
        .iter()
        .map(|r| r.get::<_, i64>(0).to_string())
        .collect();
    Ok(split.join("/"))
}

fn finished_jobs(c: &mut Client) -> Result<i64> {
    Ok(
        c.query_one("SELECT count(*) FROM jobs WHERE state = 'completed'", &[])?
            .get(0),
    )
}

// ---------------------------------------------------------------------------------------------
// The commit floor

fn floor_table(c: &mut Client) -> Result<()> {
    c.batch_execute(
        "CREATE TABLE IF NOT EXISTS bench_floor (id int PRIMARY KEY, n bigint NOT NULL);
         INSERT INTO bench_floor SELECT g, 0 FROM generate_series(1, 64) g ON CONFLICT DO NOTHING",
    )?;
    Ok(())
}

/// `pgbench -n -M prepared -f floor.sql -c N -j N -T secs`: one-row UPDATE transactions, each
/// client on its own row (no lock waits: only the commit). Returns tps.
fn floor(dir: &Path, url: &str, clients: usize, secs: u64) -> Result<f64> {
    let script = dir.join("floor.sql");
    std::fs::write(
        &script,
        "\\set id :client_id + 1\nUPDATE bench_floor SET n = n + 1 WHERE id = :id;\n",
    )?;
    let n = clients.to_string();
    let out = Command::new(pgbench_bin())
        .args(["-n", "-M", "prepared", "-f"])
        .arg(&script)
        .args(["-c", &n, "-j", &n, "-T", &secs.to_string(), url])
        .output()
        .context("cannot run pgbench (apt install postgresql-client)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "pgbench failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    text.lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no tps in pgbench's output: {text}"))
}

fn pgbench_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("PGBENCH") {
        return PathBuf::from(p);
    }
    if Path::new("/usr/bin/pgbench").exists() {
        return PathBuf::from("/usr/bin/pgbench");
    }
    std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin/pgbench"))
                .find(|p| p.exists())
        })
        .unwrap_or_else(|| PathBuf::from("pgbench"))
}

// ---------------------------------------------------------------------------------------------
// graphile-worker

fn gw_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/pg/gw_bench.mjs")
}

fn gw_node(o: &Opts, args: &[&str]) -> Result<String> {
    let out = Command::new("node")
        .arg(gw_script())
        .args(args)
        .env("GW_DIR", &o.gw_dir)
        .output()
        .context("cannot run node")?;
    if !out.status.success() {
        bail!(
            "graphile-worker {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Queue `n` no-op jobs with graphile's own `add_jobs`, drain them with `runOnce` at
/// `concurrency`, and check each ran once. Returns the seconds graphile reports.
fn gw_round(
    o: &Opts,
    c: &mut Client,
    url: &str,
    concurrency: usize,
    n: u64,
    batching: bool,
) -> Result<f64> {
    c.execute(
        "SELECT count(*) FROM graphile_worker.add_jobs((
           SELECT array_agg(json_populate_record(NULL::graphile_worker.job_spec,
                    json_build_object('identifier', 'noop', 'payload', json_build_object('n', g))))
             FROM generate_series(1, $1::bigint) g))",
        &[&(n as i64)],
    )?;
    c.batch_execute("ANALYZE graphile_worker._private_jobs")?;
    let batch = if batching { "batch" } else { "nobatch" };
    let out = gw_node(o, &["run", url, &concurrency.to_string(), batch])?;
    let v: serde_json::Value = serde_json::from_str(out.trim())
        .with_context(|| format!("graphile-worker printed {out}"))?;
    let left: i64 = c
        .query_one("SELECT count(*) FROM graphile_worker._private_jobs", &[])?
        .get(0);
    if v["completed"] != n || v["duplicates"] != 0 || v["failed"] != 0 || left != 0 {
        bail!("graphile-worker check FAILED: {v}, {left} jobs left (expected {n} once each)");
    }
    v["secs"].as_f64().context("no secs")
}

// ---------------------------------------------------------------------------------------------
// Queue throughput against the floor and the peer

fn stats(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    (s[s.len() / 2], s[0], s[s.len() - 1])
}

fn fmt_runs(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{x:.0}"))
        .collect::<Vec<_>>()
        .join(" / ")
}

fn bench_queue(dir: &Path, o: &Opts) -> Result<()> {
    let n = o.jobs;
    let (si_url, mut si) = salesingest_db(o, "salesingest_bench_queue")?;
    floor_table(&mut si)?;
    let gw = if o.gw {
        let url = fresh_db(o, "salesingest_bench_gw")?;
        gw_node(o, &["migrate", &url])?;
        let mut c = Client::connect(&url, NoTls)?;
        floor_table(&mut c)?;
        Some((url, c))
    } else {
        None
    };
    let mut gw = gw;
    println!();
    println!(
        "## Queue on PostgreSQL: {n} no-op jobs per round, {} rounds per point, durable completion",
        o.rounds
    );
    println!();
    println!(
        "Each round: `pgbench` floor ({} s, one-row UPDATE per transaction, N clients), then \
         salesingest (N worker processes, claim windows of up to {DEFAULT_WINDOW} quick jobs, \
         the default), salesingest with `[queue] window = 1` (one job at a time), \
         graphile-worker 0.18 (N job slots: one Node process, `concurrency` N) with batching \
         off (its default) and with batching on (`localQueue.size` {DEFAULT_WINDOW}, \
         `completeJobBatchDelay` 0), then the floor again (a round's floor is the mean of the \
         two), on the same server. Medians of the rounds; [min–max]. Every salesingest round \
         checked from `attempts`: each job claimed once, one attempt, completed.",
        o.floor_secs
    );
    println!();
    println!("| N | floor tps | salesingest jobs/s | ratio to floor | window 1 jobs/s | ratio to floor | graphile (batching off) jobs/s | graphile (batching on) jobs/s | salesingest / graphile off | salesingest / graphile on | window 1 / graphile off | finished history | split per worker (last round) |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut raw = Vec::new();
    for &w in &o.counts {
        let mut fl = Vec::new();
        let (mut s, mut s1, mut g, mut gb) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let hist0 = finished_jobs(&mut si)?;
        let mut split = String::new();
        for _ in 0..o.rounds {
            // The floor right before and right after each round's queue runs (the mean is
            // used): the disk's fsync rate drifts within a minute on this shared machine.
            let before = floor(dir, &si_url, w, o.floor_secs)?;
            for (window, out) in [(DEFAULT_WINDOW, &mut s), (1, &mut s1)] {
                let after = enqueue_sql(&mut si, n)?;
                let secs = drain(&si_url, w, window)?;
                let sp = verify(&mut si, after, n)?;
                if window == DEFAULT_WINDOW {
                    split = sp;
                }
                out.push(n as f64 / secs);
            }
            if let Some((url, c)) = gw.as_mut() {
                g.push(n as f64 / gw_round(o, c, url, w, n, false)?);
                gb.push(n as f64 / gw_round(o, c, url, w, n, true)?);
            }
            fl.push((before + floor(dir, &si_url, w, o.floor_secs)?) / 2.0);
        }
        let hist1 = finished_jobs(&mut si)? - 2 * n as i64;
        let (f, fmin, fmax) = stats(&fl);
        let (sm, smin, smax) = stats(&s);
        let (s1m, s1min, s1max) = stats(&s1);
        let cell = |v: &[f64]| -> (String, Option<f64>) {
            if v.is_empty() {
                return ("–".into(), None);
            }
            let (m, lo, hi) = stats(v);
            (format!("{m:.0} [{lo:.0}–{hi:.0}]"), Some(m))
        };
        let ((gcol, gm), (gbcol, gbm)) = (cell(&g), cell(&gb));
        let rel = |a: f64, b: Option<f64>| b.map_or("–".to_string(), |b| format!("{:.2}", a / b));
        println!(
            "| {w} | {f:.0} [{fmin:.0}–{fmax:.0}] | {sm:.0} [{smin:.0}–{smax:.0}] | **{:.2}** | {s1m:.0} [{s1min:.0}–{s1max:.0}] | {:.2} | {gcol} | {gbcol} | {} | {} | {} | {hist0}–{hist1} | {split} |",
            sm / f,
            s1m / f,
            rel(sm, gm),
            rel(sm, gbm),
            rel(s1m, gm),
        );
        raw.push((w, fl, s, s1, g, gb));
    }
    println!();
    println!("Rounds (floor tps; salesingest jobs/s; window 1; graphile-worker batching off; on):");
    println!();
    for (w, fl, s, s1, g, gb) in raw {
        println!(
            "- N={w}: floor {}; salesingest {}; window 1 {}; graphile off {}; on {}",
            fmt_runs(&fl),
            fmt_runs(&s),
            fmt_runs(&s1),
            fmt_runs(&g),
            fmt_runs(&gb)
        );
    }
    drop(si);
    drop(gw);
    drop_db(o, "salesingest_bench_queue")?;
    drop_db(o, "salesingest_bench_gw")?;
    Ok(())
}

/// Finished history written directly in SQL: completed jobs with one completed attempt each,
/// what a drained queue leaves behind (one statement per table, then VACUUM ANALYZE).
fn add_history(c: &mut Client, n: u64) -> Result<f64> {
    let t = Instant::now();
    let after: i64 = c
        .query_one("SELECT coalesce(max(id), 0)::bigint FROM jobs", &[])?
        .get(0);
    c.execute(
        "INSERT INTO jobs (platform, input, state, run_at, attempts, claims, max_attempts,
                           created_at, finished_at, result)
         SELECT 'bench', jsonb_build_object('n', g), 'completed', now(), 1, 1, 3, now(), now(), '{}'
           FROM generate_series(1, $1::bigint) g",
        &[&(n as i64)],
    )?;
    c.execute(
        "INSERT INTO attempts (job_id, attempt, worker, started_at, finished_at, outcome)
         SELECT id, 1, 'history:1:1', now(), now(), 'completed' FROM jobs WHERE id > $1",
        &[&after],
    )?;
    c.batch_execute("VACUUM ANALYZE jobs")?;
    c.batch_execute("VACUUM ANALYZE attempts")?;
    Ok(t.elapsed().as_secs_f64())
}

fn bench_flat(dir: &Path, o: &Opts) -> Result<()> {
    let n = o.jobs;
    let w = 4;
    let (url, mut c) = salesingest_db(o, "salesingest_bench_flat")?;
    floor_table(&mut c)?;
    println!();
    println!("## Queue on PostgreSQL as finished history grows: {w} worker processes, {n} jobs per round, {} rounds", o.rounds);
    println!();
    println!("History written in SQL before each point (completed jobs, one completed attempt each; then `VACUUM ANALYZE`). Each round: the {w}-client floor, the drain, the floor again (mean of the two). Medians; [min–max].");
    println!();
    println!("| finished jobs before the point | history insert (s) | floor tps | salesingest jobs/s | ratio to floor | each job exactly once | jobs + attempts size (MB) |");
    println!("|---|---|---|---|---|---|---|");
    for &h in &o.history {
        let have = finished_jobs(&mut c)? as u64;
        let ins = if h > have {
            add_history(&mut c, h - have)?
        } else {
            0.0
        };
        let hist = finished_jobs(&mut c)?;
        let (mut fl, mut s) = (Vec::new(), Vec::new());
        for _ in 0..o.rounds {
            let before = floor(dir, &url, w, o.floor_secs)?;
            let after = enqueue_sql(&mut c, n)?;
            let secs = drain(&url, w, DEFAULT_WINDOW)?;
            verify(&mut c, after, n)?;
            s.push(n as f64 / secs);
            fl.push((before + floor(dir, &url, w, o.floor_secs)?) / 2.0);
        }
        let size: i64 = c
            .query_one(
                "SELECT (pg_total_relation_size('jobs') + pg_total_relation_size('attempts'))::bigint",
                &[],
            )?
            .get(0);
        let (f, fmin, fmax) = stats(&fl);
        let (sm, smin, smax) = stats(&s);
        println!(
            "| {hist} | {ins:.1} | {f:.0} [{fmin:.0}–{fmax:.0}] | {sm:.0} [{smin:.0}–{smax:.0}] | **{:.2}** | yes | {:.0} |",
            sm / f,
            size as f64 / 1e6
        );
        println!(
            "<!-- rounds: floor {}; salesingest {} -->",
            fmt_runs(&fl),
            fmt_runs(&s)
        );
    }
    drop(c);
    drop_db(o, "salesingest_bench_flat")?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Import and reports, both backends

fn bench_import(dir: &Path, o: &Opts) -> Result<()> {
    let rows = o.rows;
    let files = o.events.div_ceil(rows).max(1);
    let days = (2190 / files).max(1);
    let pg_url = fresh_db(o, "salesingest_bench_import")?;
    let sqlite_db = dir.join("import.db");
    let _ = std::fs::remove_file(&sqlite_db);
    let backends: [(&str, PathBuf); 2] = [
        ("SQLite", sqlite_db.clone()),
        ("PostgreSQL", PathBuf::from(&pg_url)),
    ];
    println!();
    println!(
        "## D2D import of {rows} rows, then `sales summary` at {} events, on both backends",
        files * rows
    );
    println!();
    println!(
        "The real binary under `/usr/bin/time -v`. {files} D2D files of {rows} rows \
         (`examples/bench.rs`'s generator, each dated within its own {days}-day window of \
         2020–2025 so that none replaces another by coverage); the first is the timed import, \
         the others are imported the same way to reach the event count."
    );
    println!();
    let mut imports: Vec<Vec<(f64, u64, f64, u64)>> = vec![Vec::new(); 2];
    let mut size = 0;
    for k in 0..files {
        let csv = dir.join(format!("d2d_{k}.csv"));
        base::write_d2d_window(&csv, rows, k * days, days)?;
        if k == 0 {
            size = std::fs::metadata(&csv)?.len();
        }
        for (b, (_, db)) in backends.iter().enumerate() {
            let enq = base::run_bin(
                dir,
                db,
                &["enqueue", "d2d", "--file", csv.to_str().unwrap(), "--json"],
                &[],
            )?;
            let work = base::run_bin(dir, db, &["run-worker", "--json"], &[])?;
            let report: serde_json::Value = serde_json::from_str(work.stdout.trim())?;
            if report["completed"] != 1 {
                bail!("run-worker did not complete the import: {report}");
            }
            imports[b].push((enq.secs, enq.max_rss_kb, work.secs, work.max_rss_kb));
        }
        std::fs::remove_file(&csv)?;
    }
    let sqlite_events: i64 = rusqlite::Connection::open(&sqlite_db)?.query_row(
        "SELECT count(*) FROM live_sales",
        [],
        |r| r.get(0),
    )?;
    let mut pgc = Client::connect(&pg_url, NoTls)?;
    let pg_events: i64 = pgc
        .query_one("SELECT count(*) FROM live_sales", &[])?
        .get(0);
    let expect = (files * rows) as i64;
    if sqlite_events != expect || pg_events != expect {
        bail!("live events: SQLite {sqlite_events}, PostgreSQL {pg_events}, expected {expect}");
    }
    let pg_size: i64 = pgc
        .query_one("SELECT pg_database_size(current_database())", &[])?
        .get(0);
    let sqlite_size = std::fs::metadata(&sqlite_db)?.len();
    println!(
        "Import of the first file ({rows} rows, {:.0} MB); the later imports in brackets (median [min–max] of the other {}):",
        size as f64 / 1e6,
        files - 1
    );
    println!();
    println!("| backend | `enqueue d2d` (s) | peak RSS (MB) | `run-worker` (s) | rows/s | peak RSS (MB) | later `run-worker` (s) |");
    println!("|---|---|---|---|---|---|---|");
    for (b, (name, _)) in backends.iter().enumerate() {
        let (e, erss, w, wrss) = imports[b][0];
        let later: Vec<f64> = imports[b][1..].iter().map(|x| x.2).collect();
        let later_col = if later.is_empty() {
            "–".into()
        } else {
            let (m, lo, hi) = stats(&later);
            format!("{m:.2} [{lo:.2}–{hi:.2}]")
        };
        let maxrss = imports[b].iter().map(|x| x.3).max().unwrap_or(0);
        println!(
            "| {name} | {e:.2} | {} | {w:.2} | {:.0} | {} (max over all: {}) | {later_col} |",
            base::mb(erss),
            rows as f64 / w,
            base::mb(wrss),
            base::mb(maxrss)
        );
    }
    println!();
    println!(
        "checked: {expect} live events on each backend. Store size: SQLite file {:.0} MB, PostgreSQL database {:.0} MB.",
        sqlite_size as f64 / 1e6,
        pg_size as f64 / 1e6
    );
    println!();
    let runs = 3;
    println!("`sales summary` at {expect} events, median of {runs} runs (process start and connecting included):");
    println!();
    println!("| command | SQLite (ms) | peak RSS (MB) | PostgreSQL (ms) | peak RSS (MB) | same output on both |");
    println!("|---|---|---|---|---|---|");
    let cases: [&[&str]; 2] = [
        &["sales", "summary", "--json"],
        &["sales", "summary", "--by", "title,month", "--json"],
    ];
    for args in cases {
        let mut res = Vec::new();
        for (_, db) in &backends {
            let mut t = Vec::new();
            let mut rss = 0;
            let mut out = String::new();
            for _ in 0..runs {
                let m = base::run_bin(dir, db, args, &[])?;
                t.push(m.secs);
                rss = rss.max(m.max_rss_kb);
                out = m.stdout;
            }
            res.push((base::median(t), rss, out));
        }
        println!(
            "| `{}` | {:.0} | {} | {:.0} | {} | {} |",
            args.join(" "),
            res[0].0 * 1e3,
            base::mb(res[0].1),
            res[1].0 * 1e3,
            base::mb(res[1].1),
            if res[0].2 == res[1].2 {
                "yes (byte-identical)"
            } else {
                "**no**"
            }
        );
    }
    drop(pgc);
    drop_db(o, "salesingest_bench_import")?;
    Ok(())
}
