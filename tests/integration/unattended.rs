//! Unattended operation through the binary: schedules fired exactly once by overlapping
//! workers, the inbox folder, healthcheck pings, `status --check`, retention, backup, doctor
//! and the man page.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::util::{d2d_row, fixture, write_d2d, Env};

const TOKEN: &str = "tok_unattended_SECRET_77";

fn page(name: &str) -> String {
    std::fs::read_to_string(fixture(&format!("gumroad/{name}"))).unwrap()
}

/// A Gumroad API that answers slowly, so overlapping workers really overlap.
async fn slow_gumroad(server: &MockServer) {
    let delay = Duration::from_millis(300);
    Mock::given(method("GET"))
        .and(path("/v2/sales"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(query_param("page_key", "20250809101010000000-1873451203"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(page("gumroad_sales_page2.json"))
                .set_delay(delay),
        )
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/sales"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(page("gumroad_sales_page1.json"))
                .set_delay(delay),
        )
        .with_priority(2)
        .mount(server)
        .await;
}

fn scalar(env: &Env, sql: &str) -> i64 {
    env.sql().query_row(sql, [], |r| r.get(0)).unwrap()
}

fn stdout_json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn rw(env: &Env) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(env.db_path()).unwrap();
    c.busy_timeout(Duration::from_secs(30)).unwrap();
    c
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_schedule_fires_exactly_once_across_overlapping_workers() {
    let server = MockServer::start().await;
    slow_gumroad(&server).await;
    let env = Env::new();
    env.config(
        "[[schedule]]\nplatform = \"gumroad\"\nevery = \"1h\"\n\n[gumroad]\nfirst_sync = \"2026-11-01\"\n",
    );
    let uri = server.uri();
    let children: Vec<_> = (0..4)
        .map(|_| {
            env.spawn_cmd()
                .env("GUMROAD_ACCESS_TOKEN", TOKEN)
                .env("SALESINGEST_GUMROAD_API_URL", &uri)
                .args(["run-worker", "--json"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<_> = tokio::task::spawn_blocking(move || {
        children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let mut fired = 0;
    let mut completed = 0;
    for out in &outs {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v = stdout_json(out);
        fired += v["scheduled"].as_array().unwrap().len();
        completed += v["completed"].as_u64().unwrap();
    }
    assert_eq!(fired, 1, "the schedule fired {fired} times");
    assert_eq!(completed, 1);
    assert_eq!(scalar(&env, "SELECT count(*) FROM jobs"), 1);
    assert_eq!(scalar(&env, "SELECT count(*) FROM attempts"), 1);
    assert_eq!(
        scalar(&env, "SELECT count(*) FROM jobs WHERE state = 'completed'"),
        1
    );
    assert_eq!(scalar(&env, "SELECT count(*) FROM cron_runs"), 4);
    assert_eq!(scalar(&env, "SELECT count(*) FROM sales_events"), 13);

    // Not due again within the hour: a later run enqueues nothing.
    let out = env
        .cmd()
        .env("GUMROAD_ACCESS_TOKEN", TOKEN)
        .env("SALESINGEST_GUMROAD_API_URL", &uri)
        .args(["run-worker", "--json"])
        .output()
        .unwrap();
    assert_eq!(stdout_json(&out)["scheduled"], serde_json::json!([]));
    assert_eq!(scalar(&env, "SELECT count(*) FROM jobs"), 1);

    let v = env.json(&["schedules"]);
    assert_eq!(v[0]["name"], "gumroad");
    assert_eq!(v[0]["every"], "1h");
    assert_eq!(v[0]["every_seconds"], 3600);
    assert_eq!(v[0]["due"], false);
    assert_eq!(v[0]["last_job_status"], "completed");
    assert!(v[0]["last_success_at"].is_string());
    let last =
        chrono::DateTime::parse_from_rfc3339(v[0]["last_enqueued_at"].as_str().unwrap()).unwrap();
    let next = chrono::DateTime::parse_from_rfc3339(v[0]["next_run_at"].as_str().unwrap()).unwrap();
    assert_eq!((next - last).num_seconds(), 3600);

    // Healthy data: status --check is quiet.
    let out = env.cmd().args(["status", "--check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Once the period has passed (made so by moving the stored time back), it fires again,
    // using the same unique key as `enqueue gumroad`.
    rw(&env)
        .execute(
            "UPDATE schedules SET last_enqueued_at = last_enqueued_at - 3600001",
            [],
        )
        .unwrap();
    let out = env
        .cmd()
        .env("GUMROAD_ACCESS_TOKEN", TOKEN)
        .env("SALESINGEST_GUMROAD_API_URL", &uri)
        .args(["run-worker", "--json"])
        .output()
        .unwrap();
    assert_eq!(stdout_json(&out)["scheduled"].as_array().unwrap().len(), 1);
    assert_eq!(
        scalar(
            &env,
            "SELECT count(*) FROM jobs WHERE unique_key = 'sync:incremental'"
        ),
        2
    );
}

#[test]
fn a_file_platform_schedule_is_a_config_error() {
    let env = Env::new();
    env.config("[[schedule]]\nplatform = \"kdp\"\nevery = \"1d\"\n");
    let out = env.cmd().args(["run-worker"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("amazon_kdp imports report files"), "{err}");
    assert!(err.contains("[inbox]"), "{err}");
}

/// Every fixture of every supported layout, with the platform it must be recognised as and
/// whether it is importable (`queued`) or a known-but-unsupported report (`rejected`).
fn layouts() -> Vec<(PathBuf, &'static str, &'static str)> {
    let mut out = Vec::new();
    for (dir, platform) in [
        ("d2d", "draft2digital"),
        ("kdp", "amazon_kdp"),
        ("smashwords", "smashwords"),
        ("apple_books", "apple_books"),
        ("barnes_noble", "barnes_noble"),
        ("ingramspark", "ingramspark"),
    ] {
        for e in std::fs::read_dir(fixture(dir)).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            // Legacy per-store blocks are KDP's, and rejected with advice; KDP Payments
            // workbooks are queued (payouts, no sales: no period); a Smashwords report with
            // payment rows is a sales report.
            let status = if name.contains("legacy") {
                "rejected"
            } else {
                "queued"
            };
            out.push((p, platform, status));
        }
    }
    out.sort();
    out
}

#[test]
fn inbox_recognises_every_layout_by_content_and_reports_an_unknown_file_once() {
    let env = Env::new();
    let inbox = env.path("inbox");
    std::fs::create_dir(&inbox).unwrap();
    env.config(&format!("[inbox]\npath = \"{}\"\n", inbox.display()));
    let mut expected = Vec::new();
    for (i, (p, platform, status)) in layouts().into_iter().enumerate() {
        // Names carry no hint: detection must use the content.
        let dest = inbox.join(format!("download-{i:02}.bin"));
        std::fs::copy(&p, &dest).unwrap();
        expected.push((dest, p, platform, status));
    }
    let unknown = inbox.join("notes.csv");
    std::fs::write(&unknown, "Invoice,Customer,Total\n1,ACME,10.00\n").unwrap();
    // Hidden files and unfinished downloads are never touched.
    std::fs::write(inbox.join(".hidden.csv"), "x").unwrap();
    std::fs::write(inbox.join("report.csv.part"), "x").unwrap();

    let out = env.cmd().args(["run-worker", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = stdout_json(&out);
    let files = v["inbox"].as_array().unwrap();
    assert_eq!(files.len(), expected.len() + 1, "{files:#?}");
    for (dest, src, platform, status) in &expected {
        let f = files
            .iter()
            .find(|f| f["file"] == dest.display().to_string())
            .unwrap_or_else(|| panic!("{} not scanned", dest.display()));
        assert_eq!(f["platform"], *platform, "{}: {f}", src.display());
        assert_eq!(f["status"], *status, "{}: {f}", src.display());
        if *status == "queued" {
            assert!(f["layout"].is_string(), "{f}");
            let payouts_only = f["layout"]
                .as_str()
                .is_some_and(|l| l.starts_with("KDP Payments"));
            assert!(
                f["period_start"].is_string() || payouts_only,
                "{}: {f}",
                src.display()
            );
            assert!(f["job_id"].is_i64(), "{f}");
        } else {
            assert!(f["job_id"].is_null(), "{f}");
        }
        assert!(dest.exists(), "inbox files are left in place");
    }
    let queued = expected.iter().filter(|e| e.3 == "queued").count() as i64;
    assert_eq!(scalar(&env, "SELECT count(*) FROM jobs"), queued);
    assert_eq!(v["completed"].as_i64().unwrap(), queued.min(10));

    let u = files
        .iter()
        .find(|f| f["file"] == unknown.display().to_string())
        .unwrap();
    assert_eq!(u["status"], "unknown");
    assert!(u["platform"].is_null());
    assert!(u["job_id"].is_null());
    let msg = u["message"].as_str().unwrap();
    assert!(msg.contains("Invoice,Customer,Total"), "{msg}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Invoice,Customer,Total"), "reported: {err}");
    assert!(unknown.exists(), "the unknown file is left for the user");

    // The next run parses nothing again and reports the unknown file no more.
    let out = env.cmd().args(["run-worker", "--json"]).output().unwrap();
    let v = stdout_json(&out);
    assert_eq!(v["inbox"], serde_json::json!([]));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("Invoice"));
    assert_eq!(
        scalar(
            &env,
            "SELECT count(*) FROM inbox_files WHERE status = 'unknown'"
        ),
        1
    );
    // Each file's size and time are kept, so an unchanged file is not even hashed again.
    assert_eq!(
        scalar(
            &env,
            "SELECT count(*) FROM inbox_files WHERE size IS NOT NULL AND mtime_ms IS NOT NULL"
        ),
        expected.len() as i64 + 1
    );
    // The remaining jobs run; every queued file was imported exactly once.
    let out = env
        .cmd()
        .args(["run-worker", "--json", "--batch", "100"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        scalar(&env, "SELECT count(*) FROM jobs WHERE state = 'completed'"),
        queued
    );

    // Changed content is new content: checked again.
    std::fs::write(&unknown, "Invoice,Customer,Total,Tax\n").unwrap();
    let v = env.json(&["run-worker"]);
    assert_eq!(v["inbox"][0]["status"], "unknown");
    assert!(v["inbox"][0]["message"]
        .as_str()
        .unwrap()
        .contains("Invoice,Customer,Total,Tax"));
}

#[test]
fn a_malformed_report_in_the_inbox_names_its_platform_error() {
    let env = Env::new();
    let inbox = env.path("inbox");
    std::fs::create_dir(&inbox).unwrap();
    env.config(&format!("[inbox]\npath = \"{}\"\n", inbox.display()));
    std::fs::copy(
        fixture("bad/kdp_ebook_royalty_nonnumeric.csv"),
        inbox.join("a.csv"),
    )
    .unwrap();
    std::fs::copy(fixture("bad/d2d_sales_truncated.csv"), inbox.join("b.csv")).unwrap();
    let v = env.json(&["run-worker"]);
    let files = v["inbox"].as_array().unwrap();
    assert_eq!(files[0]["platform"], "amazon_kdp");
    assert_eq!(files[0]["status"], "rejected");
    assert!(files[0]["message"]
        .as_str()
        .unwrap()
        .contains("column `Royalty`"));
    assert_eq!(files[1]["platform"], "draft2digital");
    assert_eq!(files[1]["status"], "rejected");
    assert!(files[1]["message"].as_str().unwrap().contains("line 8"));
    assert_eq!(scalar(&env, "SELECT count(*) FROM jobs"), 0);
}

#[test]
fn import_recognises_files_and_folders_without_a_platform() {
    let env = Env::new();
    let dir = env.path("downloads");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(fixture("d2d/d2d_sales.csv"), dir.join("x1")).unwrap();
    std::fs::copy(
        fixture("smashwords/smashwords_salesReport.tsv"),
        dir.join("x2"),
    )
    .unwrap();
    let out = env
        .cmd()
        .args(["import", "--json"])
        .arg(&dir)
        .arg(fixture("kdp/kdp_prior_month_royalties.xlsx"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let platforms: Vec<_> = lines.iter().map(|l| l["platform"].clone()).collect();
    assert_eq!(platforms, vec!["draft2digital", "smashwords", "amazon_kdp"]);
    assert!(lines.iter().all(|l| l["status"] == "queued"));
    // The same content again: deduplicated against the pending job.
    let out = env
        .cmd()
        .args(["import", "--json"])
        .arg(dir.join("x1"))
        .output()
        .unwrap();
    let v: Value = stdout_json(&out);
    assert_eq!(v["status"], "deduplicated");
    assert_eq!(v["job_id"], lines[0]["job_id"]);

    // An unknown file: exit 5, the header named, nothing queued for it.
    let junk = env.path("junk.txt");
    std::fs::write(&junk, "just,some\ttext\n").unwrap();
    let out = env.cmd().arg("import").arg(&junk).output().unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("just,some text"));
    assert_eq!(scalar(&env, "SELECT count(*) FROM jobs"), 3);
}

/// Ping mocks that record start / success / fail.
async fn ping_server() -> MockServer {
    let server = MockServer::start().await;
    for p in ["/hc/start", "/hc", "/hc/fail"] {
        Mock::given(method("POST"))
            .and(path(p))
            .respond_with(ResponseTemplate::new(200).set_body_string("OK"))
            .mount(&server)
            .await;
    }
    server
}

async fn pings(server: &MockServer) -> Vec<(String, String)> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.url.path().to_string(),
                String::from_utf8_lossy(&r.body).into_owned(),
            )
        })
        .collect()
}

fn d2d_file(env: &Env, name: &str, days: &[i64]) -> PathBuf {
    let p = env.path(name);
    let rows: Vec<String> = days
        .iter()
        .map(|d| d2d_row(&crate::util::day(*d), "1.50", 1))
        .collect();
    write_d2d(&p, &rows);
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_start_success_and_fail_with_the_summary() {
    let server = ping_server().await;
    let env = Env::new();
    let url = format!("{}/hc", server.uri());
    let f = d2d_file(&env, "a.csv", &[1, 2]);
    env.cmd()
        .args(["enqueue", "d2d", "--file"])
        .arg(&f)
        .assert()
        .success();
    let out = env
        .cmd()
        .args(["run-worker", "--ping-url", &url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let got = pings(&server).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].0, "/hc/start");
    assert_eq!(got[1].0, "/hc");
    assert!(got[1].1.contains("1 claimed, 1 completed"), "{}", got[1].1);
    assert!(
        got[1]
            .1
            .contains("draft2digital completed (attempt 1): 2 inserted"),
        "{}",
        got[1].1
    );

    // A job that ends failed: /fail, with the error in the body. The URL comes from the
    // environment this time.
    let g = d2d_file(&env, "b.csv", &[5]);
    let v: Value = serde_json::from_slice(
        &env.cmd()
            .args(["enqueue", "d2d", "--json", "--file"])
            .arg(&g)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let id = v["id"].as_i64().unwrap();
    // Lose the kept copy (`inbox/<sha256>` next to the database): the job fails permanently.
    let sha: String = env
        .sql()
        .query_row(
            "SELECT json_extract(input, '$.sha256') FROM jobs WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    std::fs::remove_file(env.db_path().parent().unwrap().join("inbox").join(sha)).unwrap();
    let out = env
        .cmd()
        .env("SALESINGEST_PING_URL", &url)
        .args(["run-worker"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let got = pings(&server).await;
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(got[2].0, "/hc/start");
    assert_eq!(got[3].0, "/hc/fail");
    assert!(got[3].1.contains("1 failed"), "{}", got[3].1);
    assert!(got[3].1.contains("is missing"), "{}", got[3].1);

    // A run that errors (the database cannot be opened) pings /fail too, from the config.
    let bad = Env::new();
    bad.config(&format!("[healthcheck]\nping_url = \"{url}\"\n"));
    std::fs::create_dir_all(bad.db_path()).unwrap(); // a folder where the file should be
    let out = bad.cmd().args(["run-worker"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let got = pings(&server).await;
    assert_eq!(got.len(), 6, "{got:?}");
    assert_eq!(got[4].0, "/hc/start");
    assert_eq!(got[5].0, "/hc/fail");
    assert!(got[5].1.contains("run-worker failed"), "{}", got[5].1);
}

#[test]
fn a_dead_ping_server_never_fails_the_run() {
    // A port that was just free and is now closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = Env::new();
    let f = d2d_file(&env, "a.csv", &[1]);
    env.cmd()
        .args(["enqueue", "d2d", "--file"])
        .arg(&f)
        .assert()
        .success();
    let started = std::time::Instant::now();
    let out = env
        .cmd()
        .args(["run-worker", "--json", "--ping-url"])
        .arg(format!("http://127.0.0.1:{port}/secret-uuid"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(stdout_json(&out)["completed"], 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("healthcheck ping"), "{err}");
    assert!(
        !err.contains("secret-uuid"),
        "the check's path stays private: {err}"
    );
}

fn check(env: &Env) -> (i32, String, Value) {
    let out = env.cmd().args(["status", "--check"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let j = env
        .cmd()
        .args(["status", "--check", "--json"])
        .output()
        .unwrap();
    assert_eq!(j.status.code(), out.status.code());
    (out.status.code().unwrap(), text, stdout_json(&j))
}

#[test]
fn status_check_exit_codes_on_crafted_databases() {
    // Empty database, no schedules: healthy and silent.
    let env = Env::new();
    env.cmd().args(["run-worker"]).assert().success();
    let (code, text, json) = check(&env);
    assert_eq!((code, text.as_str()), (0, ""));
    assert_eq!(json, serde_json::json!([]));

    // A failed job not retried: exit 6, one line naming it; superseded once it is revived.
    let f = d2d_file(&env, "a.csv", &[1]);
    env.cmd()
        .args(["enqueue", "d2d", "--file"])
        .arg(&f)
        .assert()
        .success();
    rw(&env)
        .execute(
            "UPDATE jobs SET state = 'failed', finished_at = 1, last_error = 'boom'",
            [],
        )
        .unwrap();
    let (code, text, json) = check(&env);
    assert_eq!(code, 6);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("job 1 failed") && text.contains("boom"),
        "{text}"
    );
    assert_eq!(json[0]["kind"], "failed_job");
    assert_eq!(json[0]["job_id"], 1);
    env.cmd().args(["retry", "1"]).assert().success();
    assert_eq!(check(&env).0, 0);

    // KDP estimates without a final report long after the 20th of the next month.
    let env = Env::new();
    env.cmd()
        .args(["enqueue", "kdp", "--file"])
        .arg(fixture("kdp/kdp_royalties_estimator.xlsx"))
        .assert()
        .success();
    env.cmd().args(["run-worker"]).assert().success();
    let (code, _text, json) = check(&env);
    assert_eq!(code, 6);
    let months: Vec<_> = json
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "kdp_not_final")
        .map(|p| p["month"].as_str().unwrap().to_string())
        .collect();
    assert!(months.contains(&"2025-07".to_string()), "{json}");
    // The final report for July arrives: July is no longer a problem.
    env.cmd()
        .args(["enqueue", "kdp", "--file"])
        .arg(fixture("kdp/kdp_prior_month_royalties.xlsx"))
        .assert()
        .success();
    env.cmd().args(["run-worker"]).assert().success();
    let (_, _, json) = check(&env);
    assert!(
        !json.to_string().contains("\"2025-07\""),
        "July has its final report: {json}"
    );

    // A schedule whose last success is older than twice its period.
    let env = Env::new();
    // `status --check` needs a database: create it before the schedule exists.
    env.cmd().args(["run-worker"]).assert().success();
    env.config("[[schedule]]\nplatform = \"gumroad\"\nevery = \"6h\"\n");
    let (code, text, _) = check(&env);
    assert_eq!(code, 6, "never fired");
    assert!(text.contains("never fired"), "{text}");
    let day = 86_400_000i64;
    let now = now_ms();
    {
        let c = rw(&env);
        c.execute(
            "INSERT INTO schedules (name, platform, every_ms, first_enqueued_at, last_enqueued_at)
             VALUES ('gumroad', 'gumroad', 21600000, ?1, ?2)",
            [now - 10 * day, now - 60_000],
        )
        .unwrap();
        c.execute(
            "INSERT INTO jobs (platform, input, state, run_at, created_at, finished_at)
             VALUES ('gumroad', '{\"kind\":\"sync\",\"since\":null,\"until\":null}', 'completed', ?1, ?1, ?1)",
            [now - 13 * 3_600_000],
        )
        .unwrap();
    }
    let (code, text, json) = check(&env);
    assert_eq!(code, 6);
    assert_eq!(json[0]["kind"], "stale_sync");
    assert!(text.contains("older than twice"), "{text}");
    // A sync 11 hours ago is within twice 6 h.
    rw(&env)
        .execute("UPDATE jobs SET finished_at = ?1", [now - 11 * 3_600_000])
        .unwrap();
    assert_eq!(check(&env).0, 0);
}

#[test]
fn retention_keeps_a_job_finished_a_minute_ago() {
    let env = Env::new();
    for (i, name) in ["a.csv", "b.csv", "c.csv"].iter().enumerate() {
        let f = d2d_file(&env, name, &[i as i64 * 10]);
        env.cmd()
            .args(["enqueue", "d2d", "--file"])
            .arg(&f)
            .assert()
            .success();
    }
    env.cmd().args(["run-worker"]).assert().success();
    let now = now_ms();
    let day = 86_400_000i64;
    {
        let c = rw(&env);
        // Created long ago but finished a minute ago: kept (retention is by finish time).
        c.execute(
            "UPDATE jobs SET created_at = 0, finished_at = ?1 WHERE id = 1",
            [now - 60_000],
        )
        .unwrap();
        c.execute(
            "UPDATE jobs SET finished_at = ?1 WHERE id = 2",
            [now - 31 * day],
        )
        .unwrap();
        c.execute(
            "UPDATE jobs SET finished_at = ?1 WHERE id = 3",
            [now - 29 * day],
        )
        .unwrap();
    }
    let events = scalar(&env, "SELECT count(*) FROM sales_events");
    let v = env.json(&["prune", "--dry-run"]);
    assert_eq!(v["jobs"], 1);
    assert_eq!(scalar(&env, "SELECT count(*) FROM jobs"), 3, "dry run");
    // run-worker prunes by the same defaults at the end of every run.
    env.cmd().args(["run-worker"]).assert().success();
    let ids: Vec<i64> = {
        let c = env.sql();
        let mut s = c.prepare("SELECT id FROM jobs ORDER BY id").unwrap();
        let rows = s.query_map([], |r| r.get(0)).unwrap();
        rows.map(Result::unwrap).collect()
    };
    assert_eq!(ids, vec![1, 3]);
    assert_eq!(
        scalar(&env, "SELECT count(*) FROM sales_events"),
        events,
        "sales are never pruned"
    );
    // An explicit horizon: everything finished more than 30 s ago goes.
    let v = env.json(&["prune", "--older-than", "30s"]);
    assert_eq!(v["jobs"], 2);
    assert_eq!(scalar(&env, "SELECT count(*) FROM jobs"), 0);
    assert_eq!(scalar(&env, "SELECT count(*) FROM sales_events"), events);
}

fn table_fingerprint(db: &Path) -> Vec<(String, i64, i64)> {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    let mut out = Vec::new();
    for (table, sum) in [
        ("jobs", "id"),
        ("attempts", "attempt"),
        ("cron_runs", "claimed"),
        ("imports", "events"),
        ("sales_events", "royalty_micros"),
        ("inbox_files", "length(sha256)"),
        ("schedules", "every_ms"),
    ] {
        let (n, s): (i64, i64) = c
            .query_row(
                &format!("SELECT count(*), coalesce(sum({sum}), 0) FROM {table}"),
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        out.push((table.to_string(), n, s));
    }
    out
}

#[test]
fn backup_is_a_restorable_copy() {
    let env = Env::new();
    let inbox = env.path("inbox");
    std::fs::create_dir(&inbox).unwrap();
    env.config(&format!("[inbox]\npath = \"{}\"\n", inbox.display()));
    std::fs::copy(
        fixture("kdp/kdp_prior_month_royalties.xlsx"),
        inbox.join("k"),
    )
    .unwrap();
    std::fs::copy(fixture("d2d/d2d_sales.csv"), inbox.join("d")).unwrap();
    env.cmd().args(["run-worker"]).assert().success();
    // More work queued, so a worker writes while the backup runs.
    for i in 0..5 {
        let f = d2d_file(&env, &format!("x{i}.csv"), &[i * 40, i * 40 + 1]);
        env.cmd()
            .args(["enqueue", "d2d", "--file"])
            .arg(&f)
            .assert()
            .success();
    }
    let mut worker = env.spawn_cmd().args(["run-worker"]).spawn().unwrap();
    let live = env.path("live-backup.db");
    let out = env.cmd().arg("backup").arg(&live).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(worker.wait().unwrap().success());
    let c = rusqlite::Connection::open(&live).unwrap();
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    drop(c);

    // Quiet now: a backup equals the original, table by table.
    let dest = env.path("backups/sales.db");
    std::fs::create_dir(env.path("backups")).unwrap();
    let v = env.json(&["backup", dest.to_str().unwrap()]);
    assert_eq!(v["file"], dest.display().to_string());
    assert_eq!(v["integrity"], "ok");
    let original = table_fingerprint(&env.db_path());
    assert!(original
        .iter()
        .any(|(t, n, _)| t == "sales_events" && *n > 0));
    assert_eq!(table_fingerprint(&dest), original);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dest).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
    }
    // Self-contained: no -wal needed.
    assert!(!dest.with_extension("db-wal").exists());

    // Never overwritten without --force.
    let out = env.cmd().arg("backup").arg(&dest).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    env.cmd()
        .arg("backup")
        .arg(&dest)
        .arg("--force")
        .assert()
        .success();

    // Restored as the database, the tool reads the same overview.
    let before = env.json(&["status"]);
    let restored = Env::new();
    std::fs::create_dir_all(restored.db_path().parent().unwrap()).unwrap();
    std::fs::copy(&dest, restored.db_path()).unwrap();
    assert_eq!(restored.json(&["status"]), before);
}

#[test]
fn doctor_checklist_and_exit_codes() {
    let env = Env::new();
    env.cmd().args(["run-worker"]).assert().success();
    let out = env.cmd().args(["doctor", "--json"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v = stdout_json(&out);
    assert_eq!(v["healthy"], true);
    let names: Vec<_> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap().to_string())
        .collect();
    for n in [
        "config",
        "integrity",
        "journal mode",
        "db permissions",
        "processing jobs",
        "cron runs",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
    }

    // A job stuck in processing under a dead worker, and a run that never finished.
    {
        let c = rw(&env);
        let host = gethostname_of_this_machine();
        c.execute(
            "INSERT INTO jobs (platform, input, state, run_at, created_at, lease_owner, lease_expires_at)
             VALUES ('draft2digital', '{}', 'processing', 0, 0, ?1, ?2)",
            rusqlite::params![format!("{host}:999999:1"), now_ms() + 600_000],
        )
        .unwrap();
        c.execute(
            "INSERT INTO cron_runs (host, pid, owner, args, started_at) VALUES (?1, 999999, ?2, 'x', 0)",
            rusqlite::params![host, format!("{host}:999999:1")],
        )
        .unwrap();
    }
    let out = env.cmd().args(["doctor"]).output().unwrap();
    assert_eq!(out.status.code(), Some(6));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("[FAIL] processing jobs"), "{text}");
    assert!(text.contains("[warn] cron runs"), "{text}");

    // A broken config and a world-readable database are findings, never a crash.
    let env = Env::new();
    env.cmd().args(["run-worker"]).assert().success();
    env.config("[queue]\nmax_attempts = \"many\"\n");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(env.db_path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let out = env.cmd().args(["doctor", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(6));
    let v = stdout_json(&out);
    let status_of = |name: &str| {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == name)
            .map(|c| c["status"].as_str().unwrap().to_string())
    };
    assert_eq!(status_of("config").as_deref(), Some("fail"));
    #[cfg(unix)]
    assert_eq!(status_of("db permissions").as_deref(), Some("fail"));
}

fn gethostname_of_this_machine() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[test]
fn man_page_in_repo_matches_the_binary() {
    let env = Env::new();
    let out = env.cmd().arg("man").output().unwrap();
    assert!(out.status.success());
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.contains(".TH salesingest 1"), "{}", &page[..200]);
    for sub in ["run\\-worker", "import", "doctor", "backup", "schedules"] {
        assert!(page.contains(sub), "{sub} missing from the man page");
    }
    let committed =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("man/salesingest.1"))
            .unwrap_or_default();
    assert!(
        committed == page,
        "man/salesingest.1 is stale: run `salesingest man > man/salesingest.1`"
    );
}

#[test]
fn overlapping_workers_handle_each_inbox_file_once() {
    let env = Env::new();
    let inbox = env.path("inbox");
    std::fs::create_dir(&inbox).unwrap();
    env.config(&format!("[inbox]\npath = \"{}\"\n", inbox.display()));
    for (i, (p, _, _)) in layouts().into_iter().enumerate() {
        std::fs::copy(&p, inbox.join(format!("f{i:02}"))).unwrap();
    }
    std::fs::write(inbox.join("unknown.txt"), "Mystery,Header\n").unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            env.spawn_cmd()
                .args(["run-worker", "--json", "--batch", "3"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let mut handled = Vec::new();
    let mut alerts = 0;
    for out in &outs {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for f in stdout_json(out)["inbox"].as_array().unwrap() {
            handled.push(f["file"].as_str().unwrap().to_string());
        }
        alerts += String::from_utf8_lossy(&out.stderr)
            .matches("Mystery,Header")
            .count();
    }
    let n = handled.len();
    handled.sort();
    handled.dedup();
    assert_eq!(n, handled.len(), "a file was handled by two workers");
    assert_eq!(n, layouts().len() + 1);
    assert_eq!(alerts, 1, "the unknown file is reported exactly once");
    let queued = layouts().iter().filter(|l| l.2 == "queued").count() as i64;
    assert_eq!(scalar(&env, "SELECT count(*) FROM jobs"), queued);
    assert_eq!(
        scalar(&env, "SELECT count(DISTINCT unique_key) FROM jobs"),
        queued
    );
}
