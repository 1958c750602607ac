//! Gumroad through the binary against a local mock server: sync, failures, pings, secrecy.

use predicates::prelude::*;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::util::{fixture, Env};

const TOKEN: &str = "tok_e2e_SECRET_4242";

fn page(name: &str) -> String {
    std::fs::read_to_string(fixture(&format!("gumroad/{name}"))).unwrap()
}

async fn serve_pages(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/v2/sales"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(query_param("page_key", "20250809101010000000-1873451203"))
        .respond_with(ResponseTemplate::new(200).set_body_string(page("gumroad_sales_page2.json")))
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/sales"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_string(page("gumroad_sales_page1.json")))
        .with_priority(2)
        .mount(server)
        .await;
}

fn run(env: &Env, server: &MockServer, args: &[&str]) -> std::process::Output {
    env.cmd()
        .env("GUMROAD_ACCESS_TOKEN", TOKEN)
        .env("SALESINGEST_GUMROAD_API_URL", server.uri())
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_totals_and_the_token_stays_secret() {
    let server = MockServer::start().await;
    serve_pages(&server).await;
    let env = Env::new();
    let out = run(
        &env,
        &server,
        &[
            "enqueue",
            "gumroad",
            "--since",
            "2025-08-01",
            "--until",
            "2025-08-31",
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&env, &server, &["run-worker", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["completed"], 1);
    assert_eq!(v["jobs"][0]["events"]["inserted"], 13);
    // price − gumroad_fee over sales neither refunded nor charged back, computed with jq.
    assert_eq!(
        env.royalty("gumroad"),
        vec![("USD".to_string(), "76.00".to_string())]
    );

    // Re-sync: nothing new, nothing duplicated.
    run(
        &env,
        &server,
        &[
            "enqueue",
            "gumroad",
            "--since",
            "2025-08-01",
            "--until",
            "2025-08-31",
        ],
    );
    let out = run(&env, &server, &["run-worker", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["jobs"][0]["events"]["inserted"], 0);
    let n: i64 = env
        .sql()
        .query_row("SELECT count(*) FROM sales_events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 13);

    for req in server.received_requests().await.unwrap() {
        assert!(
            !req.url.as_str().contains(TOKEN),
            "token in URL {}",
            req.url
        );
        assert!(!req.url.as_str().contains("access_token"));
    }
    let db_bytes = std::fs::read(env.db_path()).unwrap();
    let wal = std::fs::read(env.db_path().with_extension("db-wal")).unwrap_or_default();
    let needle = TOKEN.as_bytes();
    assert!(
        !db_bytes.windows(needle.len()).any(|w| w == needle),
        "token in the database"
    );
    assert!(
        !wal.windows(needle.len()).any(|w| w == needle),
        "token in the WAL"
    );
    for args in [
        &["jobs", "--json"][..],
        &["status", "1", "--json"],
        &["logs", "--json"],
    ] {
        let out = run(&env, &server, args);
        assert!(!String::from_utf8_lossy(&out.stdout).contains(TOKEN));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_fails_at_once_with_a_fix() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/sales"))
        .respond_with(ResponseTemplate::new(401).insert_header(
            "www-authenticate",
            "Bearer realm=\"Doorkeeper\", error=\"invalid_token\"",
        ))
        .mount(&server)
        .await;
    let env = Env::new();
    run(
        &env,
        &server,
        &[
            "enqueue",
            "gumroad",
            "--since",
            "2025-08-01",
            "--until",
            "2025-08-31",
        ],
    );
    let out = run(&env, &server, &["run-worker"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("401") && err.contains("GUMROAD_ACCESS_TOKEN"),
        "{err}"
    );
    assert!(!err.contains(TOKEN));
    let st = env.json(&["status", "1"]);
    assert_eq!(st["attempts"], 1);
    assert_eq!(st["status"], "failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_error_then_success_and_rate_limit_keep_attempts() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/sales"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/sales"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    serve_pages(&server).await;
    let env = Env::new();
    env.config("[queue]\nretry_base = \"1s\"\n");
    run(
        &env,
        &server,
        &[
            "enqueue",
            "gumroad",
            "--since",
            "2025-08-01",
            "--until",
            "2025-08-31",
        ],
    );
    let out = run(&env, &server, &["run-worker", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["jobs"][0]["status"], "retrying", "500 is transient");
    std::thread::sleep(std::time::Duration::from_millis(1_300));
    let out = run(&env, &server, &["run-worker", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["jobs"][0]["status"], "retrying", "429 reschedules");
    assert_eq!(
        env.json(&["status", "1"])["attempts"],
        1,
        "a rate limit uses no attempt"
    );
    std::thread::sleep(std::time::Duration::from_millis(1_300));
    let out = run(&env, &server, &["run-worker", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["completed"], 1);
    let st = env.json(&["status", "1"]);
    let outcomes: Vec<&str> = st["attempt_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["retrying", "rate_limited", "completed"]);
    assert_eq!(
        env.royalty("gumroad"),
        vec![("USD".to_string(), "76.00".to_string())]
    );
}

#[test]
fn pings_upsert_by_sale_id_and_bad_pings_are_rejected() {
    let env = Env::new();
    env.cmd()
        .args(["enqueue", "gumroad", "--ping-file"])
        .arg(fixture("gumroad/gumroad_ping.txt"))
        .assert()
        .success();
    let v = env.json(&["run-worker"]);
    assert_eq!(v["jobs"][0]["events"]["inserted"], 1);
    // 799 − 121 cents.
    assert_eq!(
        env.royalty("gumroad"),
        vec![("USD".to_string(), "6.78".to_string())]
    );
    // The same ping through stdin is the same content: deduplicated while pending, upserted after.
    env.cmd()
        .args(["enqueue", "gumroad", "--ping-file", "-"])
        .pipe_stdin(fixture("gumroad/gumroad_ping.txt"))
        .unwrap()
        .assert()
        .success();
    let v = env.json(&["run-worker"]);
    assert_eq!(v["jobs"][0]["events"]["inserted"], 0);
    let n: i64 = env
        .sql()
        .query_row("SELECT count(*) FROM sales_events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
    for bad in [
        "bad/gumroad_ping_missing_sale_id.txt",
        "bad/gumroad_ping_price_not_integer.txt",
    ] {
        env.cmd()
            .args(["enqueue", "gumroad", "--ping-file"])
            .arg(fixture(bad))
            .assert()
            .code(5)
            .stderr(predicate::str::contains("sale_id").or(predicate::str::contains("price")));
    }
    // A body far larger than any Ping (here 8 MB on stdin) is rejected after reading 1 MB of it.
    env.cmd()
        .args(["enqueue", "gumroad", "--ping-file", "-"])
        .write_stdin(vec![b'a'; 8 << 20])
        .assert()
        .code(5)
        .stderr(predicate::str::contains("larger than 1 MB"));
}
