//! Gumroad through the binary against a local mock server: sync, failures, pings, secrecy.

use predicates::prelude::*;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::util::{fixture, Env};

/// Personal data of the sample pages' and Pings' buyers (e-mails, names, card and PayPal
/// e-mail, license key, purchaser ids, affiliate e-mail, custom field value).
const PERSONAL: [&str; 9] = [
    "@example.",
    "Ana Reader",
    "83DB262A-C19D3B06",
    "5530311507",
    "partner@",
    "Cosy mystery",
    "**** 4242",
    "Favourite genre",
    "SUMMER20",
];

/// Every file under `dir` whose bytes contain one of `needles`, with the needle.
fn files_containing(dir: &std::path::Path, needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let bytes = std::fs::read(&p).unwrap_or_default();
            for n in needles {
                if bytes.windows(n.len()).any(|w| w == n.as_bytes()) {
                    found.push(format!("{}: {n}", p.display()));
                }
            }
        }
    }
    found
}

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
    // price − gumroad_fee over sales neither refunded nor charged back, the partly refunded
    // one ($9.99 of $14.99 refundable) at floor(1319 × 999 / 1499) = 879 cents, computed with
    // Python: 71.60 (it was 76.00 with the partial refund counted in full).
    assert_eq!(
        env.royalty("gumroad"),
        vec![("USD".to_string(), "71.60".to_string())]
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
        vec![("USD".to_string(), "71.60".to_string())]
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

/// No buyer's personal data reaches the database, the inbox, an export or any `--json`: a
/// sync of the sample pages (e-mails, names, PayPal e-mail, license key, affiliate) and two
/// Pings (e-mail, name, card, custom fields) leave none of it anywhere on disk or on stdout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buyers_personal_data_is_never_kept_or_shown() {
    let server = MockServer::start().await;
    serve_pages(&server).await;
    let env = Env::new();
    let ok = |out: std::process::Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    ok(run(
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
    ));
    let body = std::fs::read_to_string(fixture("gumroad/gumroad_ping_test_custom_fields.txt"))
        .unwrap()
        .replace("&test=true", "")
        .replace("06Xq7t7514", "99Xq7t7514");
    let ping = env.path("ping.txt");
    std::fs::write(&ping, body).unwrap();
    for p in [fixture("gumroad/gumroad_ping.txt"), ping.clone()] {
        ok(run(
            &env,
            &server,
            &["enqueue", "gumroad", "--ping-file", p.to_str().unwrap()],
        ));
    }
    std::fs::remove_file(&ping).unwrap();
    ok(run(&env, &server, &["run-worker"]));
    let mut shown = String::new();
    for args in [
        &["sales", "export", "--json"][..],
        &["sales", "export"],
        &["sales", "export", "--format", "ndjson"],
        &["sales", "summary", "--by", "title", "--json"],
        &["jobs", "--json"],
        &["status", "--json"],
        &["status", "1", "--json"],
        &["status", "2", "--json"],
        &["status", "3", "--json"],
        &["logs", "--json"],
    ] {
        let out = ok(run(&env, &server, args));
        shown.push_str(&String::from_utf8_lossy(&out.stdout));
        shown.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    assert!(
        shown.contains("99Xq7t7514dvxYabdavG97Y-Q=="),
        "the Ping's sale is exported"
    );
    assert!(
        shown.contains("10Xq7t9190dvxYabdavG97Y-Q=="),
        "the API's sales are exported"
    );
    for p in PERSONAL {
        assert!(!shown.contains(p), "`{p}` shown");
    }
    // Nothing under HOME (database, WAL, inbox copies of the Pings) holds any of it.
    let found = files_containing(env.dir.path(), &PERSONAL);
    assert!(found.is_empty(), "{found:?}");
    let n: i64 = env
        .sql()
        .query_row("SELECT count(*) FROM sales_events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 14);
}

/// A Ping with `test=true` (the seller buying their own product; `/v2/sales` never returns
/// it) is never counted: enqueue says so, the job completes with a warning naming the sale and
/// the product, and no event is stored.
#[test]
fn a_test_purchase_ping_is_never_counted() {
    let env = Env::new();
    let named = predicate::str::contains("Gumroad sale `06Xq7t7514dvxYabdavG97Y-Q==`")
        .and(predicate::str::contains(
            "The Lighthouse Keeper's Daughter (EPUB + PDF)",
        ))
        .and(predicate::str::contains("is a test purchase"));
    env.cmd()
        .args(["enqueue", "gumroad", "--ping-file"])
        .arg(fixture("gumroad/gumroad_ping_test_custom_fields.txt"))
        .assert()
        .success()
        .stderr(named);
    let v = env.json(&["run-worker"]);
    assert_eq!(v["completed"], 1, "{v}");
    assert_eq!(v["jobs"][0]["events"]["inserted"], 0);
    let st = env.json(&["status", "1"]);
    assert_eq!(st["status"], "completed");
    let w = st["result"]["warnings"][0].as_str().unwrap();
    assert!(
        w.contains("`06Xq7t7514dvxYabdavG97Y-Q==`")
            && w.contains("product `32-nPainqpLj1B_WIwVlMw==`")
            && w.contains("not counted"),
        "{st}"
    );
    let n: i64 = env
        .sql()
        .query_row("SELECT count(*) FROM sales_events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
    let v = env.json(&["status"]);
    let g = v
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["platform"] == "gumroad")
        .unwrap();
    assert_eq!(g["events"], 0, "{g}");
}

/// After a partial refund Gumroad sends a refund Ping with `refunded=false`. It used to zero
/// the sale; the Ping says nothing of the amount, so the sale keeps its royalty and the job
/// warns, naming it. A later sync (which gives the amounts) sets the exact figure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_refund_ping_keeps_the_sale_until_a_sync_gives_the_share() {
    let server = MockServer::start().await;
    serve_pages(&server).await;
    let env = Env::new();
    let body = "seller_id=kL0paVL2SdmJSYsNs-OCMg%3D%3D&product_id=e7xqFa2WL0E-qJlQ4WYJxA%3D%3D&product_name=Fox%20Hollow%20Mysteries%20%E2%80%93%20Books%201-3&email=part7%40example.co.uk&price=1499&gumroad_fee=180&currency=usd&quantity=1&sale_id=07Xq7t5433dvxYabdavG97Y-Q%3D%3D&sale_timestamp=2025-08-10T20%3A45%3A12Z&refunded=false&resource_name=refund&disputed=false&dispute_won=false";
    env.cmd()
        .args(["enqueue", "gumroad", "--ping-file", "-"])
        .write_stdin(body)
        .assert()
        .success()
        .stderr(
            predicate::str::contains("`07Xq7t5433dvxYabdavG97Y-Q==`")
                .and(predicate::str::contains("partly refunded")),
        );
    env.json(&["run-worker"]);
    assert_eq!(
        env.royalty("gumroad"),
        vec![("USD".to_string(), "13.19".to_string())]
    );
    let st = env.json(&["status", "1"]);
    assert!(
        st["result"]["warnings"][0]
            .as_str()
            .unwrap()
            .contains("13.19 USD"),
        "{st}"
    );
    let out = run(
        &env,
        &server,
        &[
            "enqueue",
            "gumroad",
            "--since",
            "2025-08-10",
            "--until",
            "2025-08-10",
        ],
    );
    assert!(out.status.success());
    run(&env, &server, &["run-worker"]);
    let royalty: i64 = env
        .sql()
        .query_row(
            "SELECT royalty_micros FROM sales_events WHERE natural_key = 'gumroad:sale:07Xq7t5433dvxYabdavG97Y-Q=='",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(royalty, 8_790_000);
}
