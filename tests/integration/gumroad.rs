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
    // With the token the ping jobs store the API's version of each sale.
    serve_sales_by_id(&server).await;
    let mut sale = api_sale("06Xq7t7514dvxYabdavG97Y-Q==");
    sale["id"] = "99Xq7t7514dvxYabdavG97Y-Q==".into();
    serve_sale(&server, "99Xq7t7514dvxYabdavG97Y-Q==", &sale).await;
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

/// The sale `id` of the sample pages, as `GET /v2/sales/:id` gives it.
fn api_sale(id: &str) -> serde_json::Value {
    for name in ["gumroad_sales_page1.json", "gumroad_sales_page2.json"] {
        let v: serde_json::Value = serde_json::from_str(&page(name)).unwrap();
        if let Some(s) = v["sales"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
        {
            return s.clone();
        }
    }
    panic!("no sale {id} in the sample pages")
}

/// `GET /v2/sales/{id}` answers `sale`, for the right token only.
async fn serve_sale(server: &MockServer, id: &str, sale: &serde_json::Value) {
    Mock::given(method("GET"))
        .and(path(format!("/v2/sales/{id}")))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"success": true, "sale": sale})),
        )
        .with_priority(3)
        .mount(server)
        .await;
}

/// Every sale of the sample pages by id.
async fn serve_sales_by_id(server: &MockServer) {
    for name in ["gumroad_sales_page1.json", "gumroad_sales_page2.json"] {
        let v: serde_json::Value = serde_json::from_str(&page(name)).unwrap();
        for s in v["sales"].as_array().unwrap() {
            serve_sale(server, s["id"].as_str().unwrap(), s).await;
        }
    }
}

const PING_SALE: &str = "01Xq7t7919dvxYabdavG97Y-Q==";

fn sale_row(env: &Env, id: &str) -> (i64, i64, String, String) {
    env.sql()
        .query_row(
            "SELECT royalty_micros, list_price_micros, country, source FROM sales_events WHERE natural_key = ?1",
            [format!("gumroad:sale:{id}")],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap()
}

fn count_events(env: &Env) -> i64 {
    env.sql()
        .query_row("SELECT count(*) FROM sales_events", [], |r| r.get(0))
        .unwrap()
}

fn enqueue_ping_body(env: &Env, server: &MockServer, body: &str) -> std::process::Output {
    let p = env.path("incoming-ping.txt");
    std::fs::write(&p, body).unwrap();
    run(
        env,
        server,
        &["enqueue", "gumroad", "--ping-file", p.to_str().unwrap()],
    )
}

/// With a token, a ping job stores the API's version of the sale (`GET /v2/sales/:id`, the
/// token in the header only): a Ping whose price and fee differ from the API's is stored with
/// the API's figures and country; a second delivery of the same Ping is the same sale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_a_ping_stores_the_apis_sale_once() {
    let server = MockServer::start().await;
    serve_sales_by_id(&server).await;
    let env = Env::new();
    let body = std::fs::read_to_string(fixture("gumroad/gumroad_ping.txt"))
        .unwrap()
        .replace("price=799", "price=1999")
        .replace("gumroad_fee=121", "gumroad_fee=300");
    let out = enqueue_ping_body(&env, &server, &body);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&env, &server, &["run-worker", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["completed"], 1, "{v}");
    assert_eq!(v["jobs"][0]["events"]["inserted"], 1);
    // The API's 799 − 121 cents, not the Ping's 1999 − 300; the API's ISO country.
    assert_eq!(
        sale_row(&env, PING_SALE),
        (
            6_780_000,
            7_990_000,
            "US".to_string(),
            "gumroad.api".to_string()
        )
    );
    // Duplicate deliveries: the same body is the same pending job, and once done an upsert.
    let first = enqueue_ping_body(&env, &server, &body);
    let second = enqueue_ping_body(&env, &server, &body);
    assert!(first.status.success() && second.status.success());
    let out = run(&env, &server, &["run-worker", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["completed"], 1, "one job for both deliveries: {v}");
    assert_eq!(v["jobs"][0]["events"]["inserted"], 0);
    assert_eq!(count_events(&env), 1);
    assert_eq!(
        env.royalty("gumroad"),
        vec![("USD".to_string(), "6.78".to_string())]
    );
    let fetches: Vec<_> = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == format!("/v2/sales/{PING_SALE}"))
        .collect();
    assert_eq!(fetches.len(), 2, "one fetch per job run");
    for r in &fetches {
        assert!(!r.url.as_str().contains(TOKEN));
    }
    let shown =
        String::from_utf8_lossy(&run(&env, &server, &["jobs", "--json"]).stdout).to_string();
    assert!(!shown.contains(TOKEN));
}

/// An older Ping without `gumroad_fee` is a sale when a token is configured (stored with the
/// API's fee), and still rejected, with the field named, without one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_without_gumroad_fee_needs_the_token() {
    let server = MockServer::start().await;
    serve_sales_by_id(&server).await;
    let body = std::fs::read_to_string(fixture("gumroad/gumroad_ping.txt"))
        .unwrap()
        .replace("&gumroad_fee=121", "");
    assert!(!body.contains("gumroad_fee"));
    let bare = Env::new();
    let p = bare.path("old-ping.txt");
    std::fs::write(&p, &body).unwrap();
    bare.cmd()
        .args(["enqueue", "gumroad", "--ping-file"])
        .arg(&p)
        .assert()
        .code(5)
        .stderr(predicate::str::contains("gumroad_fee").and(predicate::str::contains("missing")));
    assert_eq!(bare.json(&["jobs"]).as_array().unwrap().len(), 0);

    let env = Env::new();
    let out = enqueue_ping_body(&env, &server, &body);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&env, &server, &["run-worker", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["completed"], 1, "{v}");
    assert_eq!(
        sale_row(&env, PING_SALE).0,
        6_780_000,
        "the API's fee, 121 cents"
    );
}

/// A server error fetching the sale is transient: the job is retried and then completes with
/// one sale. A 404 (a sale the API does not know) and a `test=true` Ping are never counted;
/// the test purchase is not even fetched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_fetch_retries_server_errors_and_never_counts_test_purchases() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v2/sales/{PING_SALE}")))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    serve_sales_by_id(&server).await;
    let env = Env::new();
    env.config("[queue]\nretry_base = \"1s\"\n");
    let body = std::fs::read_to_string(fixture("gumroad/gumroad_ping.txt")).unwrap();
    assert!(enqueue_ping_body(&env, &server, &body).status.success());
    let out = run(&env, &server, &["run-worker", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["jobs"][0]["status"], "retrying", "503 is transient: {v}");
    assert_eq!(count_events(&env), 0);
    std::thread::sleep(std::time::Duration::from_millis(1_300));
    let out = run(&env, &server, &["run-worker", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["completed"], 1, "{v}");
    assert_eq!(count_events(&env), 1);
    let st = env.json(&["status", "1"]);
    let outcomes: Vec<&str> = st["attempt_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["retrying", "completed"]);

    // Unknown to the API (404): completes, not counted, the warning names the sale.
    let unknown = body.replace("01Xq7t7919", "77Xq7t0000");
    assert!(enqueue_ping_body(&env, &server, &unknown).status.success());
    let out = run(&env, &server, &["run-worker", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["completed"], 1, "{v}");
    let st = env.json(&["status", "2"]);
    let w = st["result"]["warnings"][0].as_str().unwrap();
    assert!(
        w.contains("`77Xq7t0000dvxYabdavG97Y-Q==`") && w.contains("not counted"),
        "{st}"
    );

    // test=true: never fetched, never counted.
    let out = run(
        &env,
        &server,
        &[
            "enqueue",
            "gumroad",
            "--ping-file",
            fixture("gumroad/gumroad_ping_test_custom_fields.txt")
                .to_str()
                .unwrap(),
        ],
    );
    assert!(out.status.success());
    run(&env, &server, &["run-worker"]);
    assert_eq!(env.json(&["status", "3"])["status"], "completed");
    assert_eq!(count_events(&env), 1);
    assert!(!server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .any(|r| r.url.path().contains("06Xq7t7514")));
    assert_eq!(
        env.royalty("gumroad"),
        vec![("USD".to_string(), "6.78".to_string())]
    );
}

/// A token Gumroad refuses fails the ping job at once, with the sync's fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_fetch_with_a_refused_token_fails_with_the_fix() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    let env = Env::new();
    let body = std::fs::read_to_string(fixture("gumroad/gumroad_ping.txt")).unwrap();
    assert!(enqueue_ping_body(&env, &server, &body).status.success());
    run(&env, &server, &["run-worker"]);
    let st = env.json(&["status", "1"]);
    assert_eq!(st["status"], "failed", "{st}");
    assert_eq!(st["attempts"], 1);
    let text = st.to_string();
    assert!(
        text.contains("HTTP 401") && text.contains("GUMROAD_ACCESS_TOKEN"),
        "{st}"
    );
    assert!(!text.contains(TOKEN));
    assert_eq!(count_events(&env), 0);
}

/// Through `serve`'s hook: with a token an older Ping without `gumroad_fee` is answered 200 and
/// its job stores the API's sale; without one it is 422 and nothing is queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hook_accepts_a_ping_without_fee_when_a_token_is_configured() {
    let server = MockServer::start().await;
    serve_sales_by_id(&server).await;
    let body = std::fs::read_to_string(fixture("gumroad/gumroad_ping.txt"))
        .unwrap()
        .replace("&gumroad_fee=121", "");
    let bare = Env::new();
    let s = crate::serve::Server::start(&bare, &[], &[]);
    let (code, v) = s.hook(body.as_bytes());
    assert_eq!(code, 422, "{v}");
    assert_eq!(bare.json(&["jobs"]).as_array().unwrap().len(), 0);
    drop(s);

    let env = Env::new();
    let uri = server.uri();
    let s = crate::serve::Server::start(
        &env,
        &[],
        &[
            ("GUMROAD_ACCESS_TOKEN", TOKEN),
            ("SALESINGEST_GUMROAD_API_URL", uri.as_str()),
        ],
    );
    let (code, v) = s.hook(body.as_bytes());
    assert_eq!(code, 200, "{v}");
    drop(s);
    let out = run(&env, &server, &["run-worker", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["completed"], 1, "{v}");
    assert_eq!(
        sale_row(&env, PING_SALE),
        (
            6_780_000,
            7_990_000,
            "US".to_string(),
            "gumroad.api".to_string()
        )
    );
}
