//! The conformance suite: the queue's and the sales store's guarantees, checked through the real
//! binary on both backends (SQLite and PostgreSQL, `on_both!`), and PostgreSQL's own failure
//! modes (a killed connection, a server restarted mid-run, PgBouncer in transaction pooling
//! mode, TLS, each way connecting fails) on servers these tests start themselves.

use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::on_both;
use crate::util::{d2d_row, day, write_d2d, Backend, Env};

/// Write `n` one-row D2D reports into `dir`: report `i` has day `i` and a publisher share of
/// `1.00 + i/100` USD (distinct days, so no report replaces another). Returns the total royalty
/// in cents.
fn one_row_reports(dir: &Path, n: i64) -> i64 {
    std::fs::create_dir_all(dir).unwrap();
    let mut total = 0;
    for i in 0..n {
        let cents = 100 + i;
        total += cents;
        let share = format!("{}.{:02}", cents / 100, cents % 100);
        write_d2d(
            &dir.join(format!("r{i:05}.csv")),
            &[d2d_row(&day(i), &share, 1)],
        );
    }
    total
}

/// A D2D report of `rows` rows on 28 days of March 2025, 0.01 USD each (a job that takes a
/// while, to be interrupted).
fn big_report(path: &Path, rows: usize) {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "{}", crate::util::D2D_HEADER).unwrap();
    for i in 0..rows {
        writeln!(
            f,
            "{}",
            d2d_row(&format!("2025-03-{:02}", i % 28 + 1), "0.01", 1)
        )
        .unwrap();
    }
    f.into_inner().unwrap();
}

fn wait_all(children: Vec<Child>) -> Vec<Output> {
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// USD royalty of `sales summary --by currency --json`, in cents.
fn usd_cents(env: &Env) -> i64 {
    let v = env.json(&["sales", "summary", "--by", "currency"]);
    let usd = v
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["currency"] == "USD")
        .map_or("0", |g| g["royalty"].as_str().unwrap())
        .to_string();
    let (int, frac) = usd.split_once('.').unwrap_or((&usd, "00"));
    int.parse::<i64>().unwrap() * 100 + frac[..2].parse::<i64>().unwrap()
}

/// The live events, and the rollup's count of them (they must be equal).
fn live_events(env: &Env) -> (i64, i64) {
    (
        env.scalar("SELECT count(*) FROM live_sales"),
        env.scalar("SELECT CAST(coalesce(sum(events), 0) AS bigint) FROM live_rollup"),
    )
}

/// Poll until `f` is true (or panic after `secs`).
fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

on_both! {
    /// Four workers drain 2,000 jobs at once: every job completes exactly once (one completed
    /// attempt each, no other), every sale counts once.
    fn four_workers_complete_2000_jobs_once(backend) {
        let env = Env::on(backend);
        let total = one_row_reports(&env.path("reports"), 2000);
        let out = env.cmd().args(["import", "-q"]).arg(env.path("reports")).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(env.scalar("SELECT count(*) FROM jobs"), 2000);
        let workers: Vec<Child> = (0..4)
            .map(|_| {
                env.spawn_cmd()
                    .args(["run-worker", "--batch", "2000", "--json"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut completed = 0;
        for out in wait_all(workers) {
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let v = json_of(&out);
            completed += v["completed"].as_i64().unwrap();
            assert_eq!(v["failed"], 0);
        }
        assert_eq!(completed, 2000, "the four runs completed {completed} jobs");
        assert_eq!(env.scalar("SELECT count(*) FROM jobs WHERE state = 'completed'"), 2000);
        assert_eq!(env.scalar("SELECT count(*) FROM attempts"), 2000, "one attempt per job");
        assert_eq!(
            env.scalar("SELECT count(DISTINCT job_id) FROM attempts WHERE outcome = 'completed'"),
            2000
        );
        assert_eq!(live_events(&env), (2000, 2000));
        assert_eq!(usd_cents(&env), total);
    }
}

on_both! {
    /// A worker on host A is SIGKILLed in the middle of an import. A worker on host B cannot tell
    /// that A died, so it leaves the job alone while A's lease runs, then rescues it once the
    /// lease has expired; the import then counts exactly once, and nothing A staged remains.
    fn a_worker_killed_on_another_host_is_rescued_after_its_lease(backend) {
        let env = Env::on(backend);
        let rows = 60_000;
        let file = env.path("big.csv");
        big_report(&file, rows);
        env.json(&["enqueue", "d2d", "--file", file.to_str().unwrap()]);
        let mut a = env
            .spawn_cmd()
            .env("SALESINGEST_HOST", "host-a")
            .args(["run-worker", "--lease", "8"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Killed once some of the file is staged (the job holds a lease and staged rows).
        wait_until(60, "the import to be under way", || {
            env.scalar("SELECT count(*) FROM sales_events") > 0
        });
        a.kill().unwrap();
        a.wait().unwrap();
        assert_eq!(env.scalar("SELECT count(*) FROM jobs WHERE state = 'processing'"), 1);
        let b = |env: &Env| {
            let out = env
                .cmd()
                .env("SALESINGEST_HOST", "host-b")
                .args(["run-worker", "--json"])
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            json_of(&out)
        };
        // At once: host B does not judge host A's worker; the lease still holds.
        let early = b(&env);
        assert_eq!((early["rescued"].as_i64(), early["claimed"].as_i64()), (Some(0), Some(0)));
        assert_eq!(env.scalar("SELECT count(*) FROM jobs WHERE state = 'processing'"), 1);
        // After the lease (8 s from A's last heartbeat: room for a loaded machine to start host
        // B's first run within it): rescued and finished by host B.
        std::thread::sleep(Duration::from_millis(8_500));
        let late = b(&env);
        assert_eq!(late["rescued"], 1, "{late}");
        assert_eq!(late["completed"], 1, "{late}");
        assert_eq!(env.scalar("SELECT count(*) FROM jobs WHERE state = 'completed'"), 1);
        let outcomes = env.scalar(
            "SELECT count(*) FROM attempts WHERE outcome = 'lease_expired'",
        );
        assert_eq!(outcomes, 1, "the killed attempt is recorded as its lease expiring");
        assert_eq!(live_events(&env), (rows as i64, rows as i64));
        assert_eq!(env.scalar("SELECT count(*) FROM sales_events"), rows as i64, "no leftovers");
        assert_eq!(usd_cents(&env), rows as i64);
    }
}

on_both! {
    /// Six workers on six hosts start together: a due schedule fires once; six concurrent
    /// `enqueue gumroad` give one pending sync.
    fn schedules_and_syncs_fire_once_from_several_hosts(backend) {
        let env = Env::on(backend);
        env.config("[[schedule]]\nplatform = \"gumroad\"\nevery = \"1h\"\n");
        let spawn = |args: &[&str], host: usize| {
            env.spawn_cmd()
                .env("SALESINGEST_HOST", format!("host-{host}"))
                .env("GUMROAD_ACCESS_TOKEN", "test-token")
                .env("SALESINGEST_GUMROAD_API_URL", "http://127.0.0.1:9")
                .args(args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        // The store must exist before they race (each creates nothing then).
        env.json(&["enqueue", "d2d", "--file",
            crate::util::fixture("d2d/d2d_sales.csv").to_str().unwrap()]);
        let runs: Vec<Child> = (0..6)
            .map(|h| spawn(&["run-worker", "--batch", "1", "--json"], h))
            .collect();
        let mut fired = 0;
        for out in wait_all(runs) {
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            fired += json_of(&out)["scheduled"].as_array().unwrap().len();
        }
        assert_eq!(fired, 1, "the schedule fired {fired} times");
        assert_eq!(env.scalar("SELECT count(*) FROM jobs WHERE platform = 'gumroad'"), 1);
        let syncs: Vec<Child> = (0..6)
            .map(|h| spawn(&["enqueue", "gumroad", "--since", "2025-01-01", "--json"], h))
            .collect();
        let mut fresh = 0;
        for out in wait_all(syncs) {
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            if json_of(&out)["deduplicated"] == false {
                fresh += 1;
            }
        }
        assert_eq!(fresh, 1, "{fresh} syncs were queued");
        assert_eq!(env.scalar("SELECT count(*) FROM jobs WHERE platform = 'gumroad'"), 2);
    }
}

/// Every fixture report of every platform, imported into a store.
fn import_everything(env: &Env) {
    let fixtures = crate::util::fixture("");
    let mut dirs: Vec<_> = std::fs::read_dir(&fixtures)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir()
                && !["bad", "gen", "fuzz", "rates", "other", "gumroad"]
                    .iter()
                    .any(|d| p.ends_with(d))
        })
        .collect();
    dirs.sort();
    let out = env.cmd().arg("import").args(&dirs).output().unwrap();
    // Reports some platform rejects (payouts, legacy layouts) exit 5; the rest are queued.
    assert!(
        matches!(out.status.code(), Some(0 | 5)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = env
        .cmd()
        .args(["run-worker", "--batch", "1000"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for ping in ["gumroad_ping.txt", "gumroad_ping_refund.txt"] {
        let p = crate::util::fixture(&format!("gumroad/{ping}"));
        env.json(&["enqueue", "gumroad", "--ping-file", p.to_str().unwrap()]);
    }
    let out = env.cmd().args(["run-worker"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The same imports give byte-identical `sales summary --json` (and export, but for job ids)
/// on SQLite and on PostgreSQL.
#[test]
#[cfg_attr(
    not(salesingest_test_pg),
    ignore = "needs PostgreSQL: no server answered on 127.0.0.1:5432 when this was built"
)]
fn both_backends_report_byte_identical_json() {
    let lite = Env::on(Backend::Sqlite);
    let pg = Env::on(Backend::Postgres);
    import_everything(&lite);
    import_everything(&pg);
    let run = |env: &Env, args: &[&str]| {
        let out = env.cmd().args(args).arg("--json").output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    for by in [
        "platform,currency",
        "month,platform,currency",
        "title,format,currency",
        "product,marketplace,retailer,country,currency",
        "format,month",
    ] {
        let a = run(&lite, &["sales", "summary", "--by", by]);
        let b = run(&pg, &["sales", "summary", "--by", by]);
        assert!(
            a == b,
            "sales summary --by {by} differs:\nSQLite: {}\nPostgreSQL: {}",
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b)
        );
        assert!(a.len() > 10, "{by}: {}", String::from_utf8_lossy(&a));
    }
    let strip = |v: Vec<u8>| -> Vec<Value> {
        serde_json::from_slice::<Vec<Value>>(&v)
            .unwrap()
            .into_iter()
            .map(|mut e| {
                e.as_object_mut().unwrap().remove("job_id");
                e
            })
            .collect()
    };
    assert_eq!(
        strip(run(&lite, &["sales", "export"])),
        strip(run(&pg, &["sales", "export"]))
    );
}

// ----- PostgreSQL's own failure modes -----

/// The application's connections to a database, killed by the server (`pg_terminate_backend`).
fn kill_connections(admin: &str, db: &str) -> u64 {
    let mut c = crate::pg::connect(admin);
    let rows = c
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE datname = $1 AND pid != pg_backend_pid()",
            &[&db],
        )
        .unwrap();
    rows.len() as u64
}

/// A worker whose connection the server kills in the middle of an import stops with one clear
/// line and exit code 1; the next run rescues the job (its worker is gone) and finishes it:
/// nothing lost, nothing doubled.
#[test]
#[cfg_attr(
    not(salesingest_test_pg),
    ignore = "needs PostgreSQL: no server answered on 127.0.0.1:5432 when this was built"
)]
fn a_killed_connection_fails_the_run_cleanly_and_the_next_finishes() {
    let env = Env::on(Backend::Postgres);
    let rows = 60_000;
    let file = env.path("big.csv");
    big_report(&file, rows);
    env.json(&["enqueue", "d2d", "--file", file.to_str().unwrap()]);
    let worker = env
        .spawn_cmd()
        .args(["run-worker"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(60, "the import to be under way", || {
        env.scalar("SELECT count(*) FROM sales_events") > 0
    });
    let db = env.pg.as_ref().unwrap().name.clone();
    assert!(kill_connections(&crate::pg::admin_url(), &db) >= 1);
    let out = worker.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lost the connection to PostgreSQL"), "{err}");
    assert!(
        !err.contains("s3cret") && err.lines().count() <= 2,
        "one clear line: {err}"
    );
    // The attempt was given back (the store failed, not the job): done at once by the next run.
    let next = env.json(&["run-worker"]);
    assert_eq!(next["completed"], 1, "{next}");
    assert_eq!(
        env.scalar("SELECT CAST(attempts AS bigint) FROM jobs"),
        1,
        "the killed connection used no attempt"
    );
    assert_eq!(live_events(&env), (rows as i64, rows as i64));
    assert_eq!(env.scalar("SELECT count(*) FROM sales_events"), rows as i64);
}

/// The server restarted during a run: the run fails cleanly; once the server is back, the next
/// run finishes everything, nothing lost or doubled.
#[test]
#[cfg_attr(
    not(salesingest_test_pg_server),
    ignore = "needs PostgreSQL's server programs (initdb, pg_ctl) to start a private server"
)]
fn a_server_restart_mid_run_fails_cleanly_and_the_next_finishes() {
    let server = crate::pg::PgServer::start(&crate::pg::ServerOpts::default());
    let env = Env::on_pg(crate::pg::PgDb::on(&server.admin_url()));
    let rows = 60_000;
    let file = env.path("big.csv");
    big_report(&file, rows);
    env.json(&["enqueue", "d2d", "--file", file.to_str().unwrap()]);
    let small = env.path("small");
    one_row_reports(&small, 5);
    let out = env
        .cmd()
        .args(["import", "-q"])
        .arg(&small)
        .output()
        .unwrap();
    assert!(out.status.success());
    let worker = env
        .spawn_cmd()
        .args(["run-worker"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(60, "the import to be under way", || {
        env.scalar("SELECT count(*) FROM sales_events") > 0
    });
    server.stop();
    let out = worker.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("PostgreSQL"), "{err}");
    // While it is down, a run says so in one line and exits 1.
    let down = env.cmd().args(["run-worker"]).output().unwrap();
    assert_eq!(down.status.code(), Some(1));
    let msg = String::from_utf8_lossy(&down.stderr);
    assert!(msg.contains("connection refused"), "{msg}");
    server.restart();
    let next = env.json(&["run-worker"]);
    assert_eq!(next["failed"], 0, "{next}");
    assert_eq!(
        env.scalar("SELECT count(*) FROM jobs WHERE state = 'completed'"),
        6
    );
    let expected = rows as i64 + 5;
    assert_eq!(live_events(&env), (expected, expected));
    assert_eq!(env.scalar("SELECT count(*) FROM sales_events"), expected);
}

/// Through PgBouncer in transaction pooling mode (Debian's pgbouncer, 2 server connections for
/// 4 workers): the store keeps no session state, so everything works and each job completes
/// once.
#[test]
#[cfg_attr(
    not(salesingest_test_pgbouncer),
    ignore = "needs PostgreSQL's server programs and pgbouncer (apt-get install pgbouncer)"
)]
fn workers_share_a_store_through_pgbouncer_in_transaction_mode() {
    let server = crate::pg::PgServer::start(&crate::pg::ServerOpts::default());
    let db = crate::pg::PgDb::on(&server.admin_url());
    let bouncer = crate::pg::PgBouncer::start(server.port, 2);
    let name = db.name.clone();
    let env = Env::on_pg(db);
    let through = bouncer.url(&name);
    let total = one_row_reports(&env.path("reports"), 200);
    let cmd = |args: &[&str]| {
        let mut c = env.spawn_cmd();
        c.env("SALESINGEST_DB", &through).args(args);
        c
    };
    let out = cmd(&["import", "-q", env.path("reports").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let workers: Vec<Child> = (0..4)
        .map(|_| {
            cmd(&["run-worker", "--batch", "200", "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut completed = 0;
    for out in wait_all(workers) {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        completed += json_of(&out)["completed"].as_i64().unwrap();
    }
    assert_eq!(completed, 200);
    assert_eq!(env.scalar("SELECT count(*) FROM attempts"), 200);
    assert_eq!(live_events(&env), (200, 200));
    let out = cmd(&["sales", "summary", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(usd_cents(&env), total);
    for args in [&["status"][..], &["jobs"], &["logs"], &["doctor"]] {
        let out = cmd(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// TLS by libpq's sslmode: `require` encrypts, `verify-full` checks the certificate against
/// `sslrootcert` and the host name; each failure says what to do.
#[test]
#[cfg_attr(
    not(salesingest_test_pg_server),
    ignore = "needs PostgreSQL's server programs (initdb, pg_ctl) to start a private server"
)]
fn tls_modes_encrypt_and_verify() {
    let server = crate::pg::PgServer::start(&crate::pg::ServerOpts { tls: true });
    let db = crate::pg::PgDb::on(&server.admin_url());
    let ca = server.ca_cert.clone().unwrap();
    let env = Env::new();
    let url =
        |host: &str, q: &str| format!("postgres://postgres@{host}:{}/{}?{q}", server.port, db.name);
    let status = |u: &str| {
        env.cmd()
            .env("SALESINGEST_DB", u)
            .args(["status"])
            .output()
            .unwrap()
    };
    let ssl_in_use = |q: &str| -> bool {
        let out = env
            .cmd()
            .env("SALESINGEST_DB", url("localhost", q))
            .args(["status", "--json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{q}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut c = crate::pg::connect(&server.admin_url());
        c.query_one(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
              WHERE a.application_name = 'salesingest' AND s.ssl",
            &[],
        )
        .unwrap();
        true
    };
    assert!(ssl_in_use("sslmode=require"));
    let ok = status(&url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={}", ca.display()),
    ));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // The certificate names localhost, not 127.0.0.1.
    let wrong_host = status(&url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={}", ca.display()),
    ));
    assert_eq!(wrong_host.status.code(), Some(1));
    let e = String::from_utf8_lossy(&wrong_host.stderr);
    assert!(e.contains("TLS") && e.contains("verify-full"), "{e}");
    // verify-ca checks the chain only: fine with the address.
    let ca_only = status(&url(
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={}", ca.display()),
    ));
    assert!(
        ca_only.status.success(),
        "{}",
        String::from_utf8_lossy(&ca_only.stderr)
    );
    let no_root = status(&url("localhost", "sslmode=verify-full"));
    assert_eq!(no_root.status.code(), Some(1));
    let e = String::from_utf8_lossy(&no_root.stderr);
    assert!(e.contains("sslrootcert"), "{e}");
    // A certificate from another CA is refused.
    let other = env.path("other.crt");
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    std::fs::write(&other, p.self_signed(&key).unwrap().pem()).unwrap();
    let foreign = status(&url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={}", other.display()),
    ));
    assert_eq!(foreign.status.code(), Some(1));
}

/// Each way connecting fails has its own message, naming the server (never the password) and
/// what to do, and exit code 1.
#[test]
#[cfg_attr(
    not(salesingest_test_pg_server),
    ignore = "needs PostgreSQL's server programs (initdb, pg_ctl) to start a private server"
)]
fn each_connect_failure_says_what_failed_and_what_to_do() {
    let env = Env::new();
    let fails = |url: &str, needle: &str| {
        let out = env
            .cmd()
            .env("SALESINGEST_DB", url)
            .args(["status"])
            .output()
            .unwrap();
        let e = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{url}: {e}");
        assert!(e.contains(needle), "{url}: expected `{needle}` in: {e}");
        assert!(!e.contains("s3cret"), "the password leaked: {e}");
        e
    };
    // Refused: nothing listens there.
    let port = crate::pg::free_port();
    fails(
        &format!("postgres://u:s3cret@127.0.0.1:{port}/x?sslmode=disable"),
        "connection refused",
    );
    // Auth and a missing database, on a server that wants passwords.
    let server = crate::pg::PgServer::start(&crate::pg::ServerOpts::default());
    let mut admin = crate::pg::connect(&server.admin_url());
    admin
        .batch_execute("CREATE ROLE author LOGIN PASSWORD 'right'")
        .unwrap();
    let hba = server.dir.join("data/pg_hba.conf");
    let text = std::fs::read_to_string(&hba).unwrap();
    std::fs::write(
        &hba,
        format!("host all author 127.0.0.1/32 scram-sha-256\n{text}"),
    )
    .unwrap();
    admin.batch_execute("SELECT pg_reload_conf()").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let base = |user: &str, db: &str| {
        format!(
            "postgres://{user}@127.0.0.1:{}/{db}?sslmode=disable",
            server.port
        )
    };
    fails(
        &base("author:s3cret", "postgres"),
        "refused the login of user `author`",
    );
    fails(
        &base("postgres", "no_such_db"),
        "database `no_such_db` does not exist",
    );
    // A schema newer than this salesingest.
    let db = crate::pg::PgDb::on(&server.admin_url());
    let ok = env
        .cmd()
        .env("SALESINGEST_DB", &db.url)
        .args(["status"])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    db.client()
        .batch_execute("UPDATE salesingest_schema SET version = 99")
        .unwrap();
    fails(&db.url, "newer than this salesingest");
    // A read-only standby: a replica of the server, made with pg_basebackup.
    let standby = server.start_standby();
    fails(&standby.admin_url(), "read-only standby");
}

/// `migrate` copies a SQLite store whole into an empty PostgreSQL database (a queued job's
/// report file included: it runs there), verifies it, and refuses a database holding data or a
/// source with a job running.
#[test]
#[cfg_attr(
    not(salesingest_test_pg),
    ignore = "needs PostgreSQL: no server answered on 127.0.0.1:5432 when this was built"
)]
fn migrate_copies_a_sqlite_store_into_postgres_and_verifies_it() {
    let lite = Env::on(Backend::Sqlite);
    import_everything(&lite);
    // A job still queued (its file kept in the SQLite store's folder) moves too.
    let queued = lite.path("queued.csv");
    write_d2d(&queued, &[d2d_row("2024-02-02", "3.33", 1)]);
    lite.json(&["enqueue", "d2d", "--file", queued.to_str().unwrap()]);
    let pg = crate::pg::PgDb::create();
    let migrate = |env: &Env| {
        env.cmd()
            .args(["migrate", "--json", "--from"])
            .arg(env.db_path())
            .args(["--to", &pg.url])
            .output()
            .unwrap()
    };
    let out = migrate(&lite);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json_of(&out);
    assert_eq!(report["verified"], true);
    for t in report["tables"].as_array().unwrap() {
        assert_eq!(t["sqlite"], t["postgres"], "{t}");
    }
    let events = report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "sales_events")
        .unwrap()["postgres"]
        .as_i64()
        .unwrap();
    assert!(events > 50, "{report}");
    assert!(report["blobs"].as_u64().unwrap() >= 10, "{report}");
    let on_pg = Env::on_pg(crate::pg::PgDb::on(&crate::pg::admin_url()));
    let with_pg = |args: &[&str]| {
        let out = on_pg
            .cmd()
            .env("SALESINGEST_DB", &pg.url)
            .args(args)
            .arg("--json")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    for by in [
        "platform,currency",
        "month,platform,currency",
        "title,format,currency",
    ] {
        let a = lite
            .cmd()
            .args(["sales", "summary", "--by", by, "--json"])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&a.stdout),
            String::from_utf8_lossy(&with_pg(&["sales", "summary", "--by", by])),
            "{by}"
        );
    }
    // The queued job runs on PostgreSQL from the copied blob; new jobs get new ids.
    let run: Value = serde_json::from_slice(&with_pg(&["run-worker"])).unwrap();
    assert_eq!(
        (run["completed"].as_i64(), run["failed"].as_i64()),
        (Some(1), Some(0)),
        "{run}"
    );
    let jobs: Value = serde_json::from_slice(&with_pg(&["jobs", "--limit", "1000"])).unwrap();
    let lite_jobs = lite.json(&["jobs", "--limit", "1000"]);
    assert_eq!(
        jobs.as_array().unwrap().len(),
        lite_jobs.as_array().unwrap().len()
    );
    // Twice: refused, nothing changed.
    let again = migrate(&lite);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds data"));
    // A source with a job running is refused.
    let busy = Env::new();
    let f = busy.path("b.csv");
    write_d2d(&f, &[d2d_row("2024-03-03", "1.00", 1)]);
    busy.json(&["enqueue", "d2d", "--file", f.to_str().unwrap()]);
    rusqlite::Connection::open(busy.db_path())
        .unwrap()
        .execute_batch(
            "UPDATE jobs SET state = 'processing', lease_owner = 'h:1:1',
                             lease_expires_at = 9999999999999",
        )
        .unwrap();
    let empty = crate::pg::PgDb::create();
    let out = busy
        .cmd()
        .args(["migrate", "--from"])
        .arg(busy.db_path())
        .args(["--to", &empty.url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("stop the workers"));
}

/// A database left at schema version 2 by the previous release is upgraded in place by the first
/// command of this one: migrations 3 and 4's queue functions are installed, and jobs queued then
/// are claimed and completed through them (each once, every sale counted).
#[test]
#[cfg_attr(
    not(salesingest_test_pg),
    ignore = "needs PostgreSQL: no server answered on 127.0.0.1:5432 when this was built"
)]
fn a_version_2_database_is_upgraded_and_its_jobs_run_through_the_queue_functions() {
    let db = crate::pg::PgDb::create();
    db.client()
        .batch_execute(&format!(
            "{}\n{}\nCREATE TABLE salesingest_schema (
               only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
               version  bigint  NOT NULL,
               upgraded_at timestamptz NOT NULL DEFAULT now());
             INSERT INTO salesingest_schema (version) VALUES (2);",
            include_str!("../../src/store/postgres/migrations/001_init.sql"),
            include_str!("../../src/store/postgres/migrations/002_payouts.sql"),
        ))
        .unwrap();
    let env = Env::on_pg(db);
    assert_eq!(
        env.scalar("SELECT count(*) FROM pg_proc WHERE proname LIKE 'salesingest_%'"),
        0
    );
    let total = one_row_reports(&env.path("reports"), 3);
    let out = env
        .cmd()
        .args(["import", "-q", env.path("reports").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.scalar("SELECT version FROM salesingest_schema"), 4);
    assert_eq!(
        env.scalar(
            "SELECT count(*) FROM pg_proc
              WHERE proname IN ('salesingest_claim', 'salesingest_complete_then_claim',
                                'salesingest_complete_all_then_claim')"
        ),
        3
    );
    let run = env.json(&["run-worker"]);
    assert_eq!(run["completed"], 3, "{run}");
    assert_eq!(
        env.scalar("SELECT count(*) FROM attempts WHERE outcome = 'completed'"),
        3
    );
    assert_eq!(usd_cents(&env), total);
}

on_both! {
    /// Gumroad pings are quick jobs: the worker takes them in claim windows, recording each
    /// window with the next claim. With the default window and with `[queue] window = 1` (one at
    /// a time) every ping is completed once under one attempt and every sale is stored once; a
    /// window outside 1–64 is refused with the setting named (exit 1).
    fn pings_run_in_claim_windows_each_once(backend) {
        for window in [None, Some(1)] {
            let env = Env::on(backend);
            if let Some(w) = window {
                env.config(&format!("[queue]\nwindow = {w}\n"));
            }
            for i in 0..30 {
                let p = env.path(&format!("ping{i}.txt"));
                std::fs::write(&p, crate::util::ping_with_sale_id(&format!("window-test-{i:02}"))).unwrap();
                env.json(&["enqueue", "gumroad", "--ping-file", p.to_str().unwrap()]);
            }
            let run = env.json(&["run-worker", "--batch", "100"]);
            assert_eq!((run["claimed"].as_i64(), run["completed"].as_i64()), (Some(30), Some(30)), "{run}");
            assert_eq!(env.scalar("SELECT count(*) FROM attempts"), 30, "window {window:?}");
            assert_eq!(
                env.scalar("SELECT count(*) FROM attempts WHERE outcome = 'completed'"),
                30
            );
            assert_eq!(
                env.scalar("SELECT count(DISTINCT natural_key) FROM sales_events WHERE natural_key LIKE '%window-test-%'"),
                30
            );
            assert_eq!(env.scalar("SELECT count(*) FROM sales_events"), 30);
        }
        let env = Env::on(backend);
        for bad in [0, 65] {
            env.config(&format!("[queue]\nwindow = {bad}\n"));
            env.cmd()
                .args(["jobs"])
                .assert()
                .code(1)
                .stderr(predicates::str::contains("queue.window must be from 1"));
        }
    }
}
