//! Tests of the `/v2/sales` client against a local wiremock server, and of the page parser.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use chrono::NaiveDate;
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::*;
use crate::platforms::gumroad::Window;

const TOKEN: &str = "tok-SECRET-7f3a9c";
const PAGE2_KEY: &str = "20250809101010000000-1873451203";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn aug() -> Window {
    Window {
        after: d("2025-08-01"),
        before: d("2025-08-15"),
    }
}

/// A mock server plus the runtime that drives the test side of it. `sync` runs outside
/// `block_on`, as it makes its own runtime.
struct Harness {
    rt: tokio::runtime::Runtime,
    server: MockServer,
}

impl Harness {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let server = rt.block_on(MockServer::start());
        Harness { rt, server }
    }

    fn mount(&self, mock: Mock) {
        self.rt.block_on(mock.mount(&self.server));
    }

    fn reset(&self) {
        self.rt.block_on(self.server.reset());
    }

    fn client(&self) -> Client {
        Client::new(self.server.uri(), TOKEN)
            .with_timeouts(Duration::from_secs(2), Duration::from_secs(5))
    }

    fn requests(&self) -> Vec<Request> {
        self.rt
            .block_on(self.server.received_requests())
            .expect("request recording is on")
    }

    /// Every request carried the token in the header only.
    fn assert_token_only_in_header(&self) {
        let requests = self.requests();
        assert!(!requests.is_empty());
        for r in &requests {
            assert!(
                !r.url.as_str().contains(TOKEN),
                "token leaked into {}",
                r.url
            );
            assert!(!r.url.as_str().contains("access_token"), "{}", r.url);
            let auth = r
                .headers
                .get("authorization")
                .expect("Authorization header");
            assert_eq!(auth.to_str().unwrap(), format!("Bearer {TOKEN}"));
        }
    }
}

fn sales_get() -> wiremock::MockBuilder {
    Mock::given(method("GET")).and(path("/v2/sales"))
}

fn json(body: Vec<u8>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "application/json")
}

/// A test store: upserts by natural key, keeps the latest cursor, records what it was given.
#[derive(Default)]
struct Store {
    pages: Vec<(usize, Option<NaiveDate>)>,
    sales: BTreeMap<String, SaleEvent>,
    cursor: Option<NaiveDate>,
    progress: Vec<(u64, u64)>,
    fail: bool,
}

impl PageSink for Store {
    fn page(
        &mut self,
        events: Vec<SaleEvent>,
        window_done: Option<NaiveDate>,
    ) -> Result<(), SinkError> {
        if self.fail {
            return Err(SinkError(anyhow::anyhow!("disk full")));
        }
        self.pages.push((events.len(), window_done));
        for e in events {
            let key = e.natural_key.clone().expect("gumroad events have a key");
            self.sales.insert(key, e);
        }
        if let Some(day) = window_done {
            self.cursor = Some(self.cursor.map_or(day, |c| c.max(day)));
        }
        Ok(())
    }

    fn progress(&mut self, pages: u64, sales: u64) {
        self.progress.push((pages, sales));
    }
}

impl Store {
    fn sale(&self, id: &str) -> &SaleEvent {
        &self.sales[&format!("gumroad:sale:{id}")]
    }
}

fn mount_two_pages(h: &Harness) {
    h.mount(
        sales_get()
            .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
            .and(query_param_is_missing("page_key"))
            .respond_with(json(fixture("gumroad/gumroad_sales_page1.json"))),
    );
    h.mount(
        sales_get()
            .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
            .and(query_param("page_key", PAGE2_KEY))
            .respond_with(json(fixture("gumroad/gumroad_sales_page2.json"))),
    );
}

#[test]
fn paginates_until_next_page_key_is_absent() {
    let h = Harness::new();
    mount_two_pages(&h);
    let mut store = Store::default();
    let summary = sync(&h.client(), &[aug()], &mut store).unwrap();
    assert_eq!(
        summary,
        SyncSummary {
            windows: 1,
            pages: 2,
            sales: 13,
            warnings: Vec::new(),
        }
    );
    assert_eq!(store.pages, vec![(10, None), (3, Some(d("2025-08-15")))]);
    assert_eq!(store.progress, vec![(1, 10), (2, 13)]);
    assert_eq!(store.cursor, Some(d("2025-08-15")));
    assert_eq!(store.sales.len(), 13);

    let requests = h.requests();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        let q: BTreeMap<String, String> = r.url.query_pairs().into_owned().collect();
        assert_eq!(q.get("after").map(String::as_str), Some("2025-08-01"));
        assert_eq!(q.get("before").map(String::as_str), Some("2025-08-15"));
    }
    assert!(!requests[0].url.as_str().contains("page_key"));
    assert!(requests[1]
        .url
        .as_str()
        .contains(&format!("page_key={PAGE2_KEY}")));
    h.assert_token_only_in_header();
}

#[test]
fn totals_match_the_sample_files() {
    // Computed independently with Python over the two sample pages: price − gumroad_fee over
    // the sales neither refunded nor charged back, the partly refunded one (07, $14.99 of which
    // $9.99 is refundable) as floor(1319 × 999 / 1499) = 879 cents instead of 1319:
    // 7600 − 1319 + 879 = 7160 cents; the quantities of the same sales add up to 11 (one sale
    // has quantity 2).
    let h = Harness::new();
    mount_two_pages(&h);
    let mut store = Store::default();
    sync(&h.client(), &[aug()], &mut store).unwrap();
    let royalty: i64 = store.sales.values().map(|e| e.royalty_micros).sum();
    let units: i64 = store.sales.values().map(|e| e.units).sum();
    assert_eq!(royalty, 71_600_000);
    assert_eq!(units, 11);
    assert!(store.sales.values().all(|e| e.currency == "USD"));

    // Refunded (page 1 and page 2) and chargedback sales: zero units and royalty, numbers in raw.
    for (id, status) in [
        ("03Xq7t3757dvxYabdavG97Y-Q==", "refunded"),
        ("13Xq7t2947dvxYabdavG97Y-Q==", "refunded"),
        ("09Xq7t1271dvxYabdavG97Y-Q==", "chargedback"),
    ] {
        let e = store.sale(id);
        assert_eq!(
            (e.status.as_str(), e.units, e.royalty_micros),
            (status, 0, 0),
            "{id}"
        );
        let raw: Value = serde_json::from_str(&e.raw).unwrap();
        assert!(raw["price"].as_i64().unwrap() > 0, "{id}");
    }
    let partial = store.sale("07Xq7t5433dvxYabdavG97Y-Q==");
    assert_eq!(partial.status, "partially_refunded");
    assert_eq!(partial.royalty_micros, 8_790_000);
    assert_eq!(partial.units, 1);
    assert_eq!(partial.country, "GB");

    // A EUR product: still USD cents, the symbol kept in raw for display.
    let eur = store.sale("02Xq7t5838dvxYabdavG97Y-Q==");
    assert_eq!(eur.royalty_micros, 5_500_000);
    assert_eq!(eur.list_price_micros, Some(6_500_000));
    assert_eq!(eur.country, "DE");
    let raw: Value = serde_json::from_str(&eur.raw).unwrap();
    assert_eq!(raw["currency_symbol"], "€");

    let two = store.sale("06Xq7t7514dvxYabdavG97Y-Q==");
    assert_eq!((two.units, two.royalty_micros), (2, 14_080_000));
    let free = store.sale("04Xq7t1676dvxYabdavG97Y-Q==");
    assert_eq!(
        (free.units, free.royalty_micros, free.status.as_str()),
        (1, 0, "")
    );

    let first = store.sale("01Xq7t7919dvxYabdavG97Y-Q==");
    assert_eq!(first.platform, crate::model::Platform::Gumroad);
    assert_eq!(first.family, "gumroad");
    assert_eq!(first.source, "gumroad.api");
    assert_eq!(first.period_start, d("2025-08-14"));
    assert_eq!(first.period_end, d("2025-08-14"));
    assert_eq!(first.title, "The Lighthouse Keeper's Daughter (EPUB + PDF)");
    assert_eq!(first.product_id, "32-nPainqpLj1B_WIwVlMw==");
    assert_eq!(first.format, crate::model::Format::Digital);
    assert_eq!(
        (first.marketplace.as_str(), first.retailer.as_str()),
        ("gumroad", "Gumroad")
    );
    assert_eq!(first.country, "US");
    assert!(first.is_final);
    assert_eq!(first.line, 0);
}

#[test]
fn refund_on_a_later_sync_updates_the_sale_in_place() {
    let page = |refunded: bool| {
        let mut v: Value =
            serde_json::from_slice(&fixture("gumroad/gumroad_sales_page2.json")).unwrap();
        let sales = v["sales"].as_array_mut().unwrap();
        sales.truncate(1);
        if refunded {
            sales[0]["refunded"] = Value::Bool(true);
        }
        serde_json::to_vec(&v).unwrap()
    };
    let h = Harness::new();
    h.mount(sales_get().respond_with(json(page(false))));
    let mut store = Store::default();
    sync(&h.client(), &[aug()], &mut store).unwrap();
    let id = "11Xq7t7109dvxYabdavG97Y-Q==";
    assert_eq!(
        (
            store.sale(id).status.as_str(),
            store.sale(id).units,
            store.sale(id).royalty_micros
        ),
        ("", 1, 13_190_000)
    );

    h.reset();
    h.mount(sales_get().respond_with(json(page(true))));
    sync(&h.client(), &[aug()], &mut store).unwrap();
    assert_eq!(store.sales.len(), 1, "same natural key, updated in place");
    let e = store.sale(id);
    assert_eq!(
        (e.status.as_str(), e.units, e.royalty_micros),
        ("refunded", 0, 0)
    );
    assert_eq!(e.list_price_micros, Some(14_990_000));
    h.assert_token_only_in_header();
}

fn sync_err(h: &Harness) -> (PlatformError, Store) {
    let mut store = Store::default();
    let err = sync(&h.client(), &[aug()], &mut store).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains(TOKEN), "token leaked: {text}");
    (err, store)
}

#[test]
fn http_401_is_permanent_and_says_how_to_fix_the_token() {
    let h = Harness::new();
    // Replay the recorded Doorkeeper response: status line, headers, empty body.
    let recorded = String::from_utf8(fixture("gumroad/gumroad_error_401.http")).unwrap();
    let mut lines = recorded.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let mut response = ResponseTemplate::new(status);
    for line in lines.take_while(|l| !l.trim().is_empty()) {
        let (name, value) = line.split_once(':').unwrap();
        if !name.eq_ignore_ascii_case("content-length") {
            response = response.insert_header(name.trim(), value.trim());
        }
    }
    h.mount(sales_get().respond_with(response));
    let (err, store) = sync_err(&h);
    let PlatformError::Permanent(msg) = &err else {
        panic!("expected Permanent, got {err:?}")
    };
    assert!(msg.contains("HTTP 401"), "{msg}");
    assert!(msg.contains("Settings → Advanced → Applications"), "{msg}");
    assert!(msg.contains("GUMROAD_ACCESS_TOKEN"), "{msg}");
    assert!(msg.contains("[gumroad] access_token"), "{msg}");
    assert!(store.pages.is_empty());
    h.assert_token_only_in_header();
}

#[test]
fn http_403_is_permanent_and_names_the_scope() {
    let h = Harness::new();
    h.mount(sales_get().respond_with(ResponseTemplate::new(403)));
    let (err, _) = sync_err(&h);
    let PlatformError::Permanent(msg) = &err else {
        panic!("expected Permanent, got {err:?}")
    };
    assert!(
        msg.contains("HTTP 403") && msg.contains("view_sales"),
        "{msg}"
    );
    assert!(msg.contains("GUMROAD_ACCESS_TOKEN"), "{msg}");
}

#[test]
fn http_429_honours_retry_after_seconds() {
    let h = Harness::new();
    h.mount(
        sales_get().respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "7")
                .set_body_string("Retry later"),
        ),
    );
    let (err, _) = sync_err(&h);
    match err {
        PlatformError::RateLimited {
            retry_after,
            message,
        } => {
            assert_eq!(retry_after, Duration::from_secs(7));
            assert!(message.contains("429"), "{message}");
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
}

#[test]
fn http_429_honours_retry_after_http_date() {
    let h = Harness::new();
    let at = SystemTime::now() + Duration::from_secs(120);
    h.mount(sales_get().respond_with(
        ResponseTemplate::new(429).insert_header("Retry-After", httpdate::fmt_http_date(at)),
    ));
    let (err, _) = sync_err(&h);
    match err {
        PlatformError::RateLimited { retry_after, .. } => {
            assert!(
                retry_after >= Duration::from_secs(100) && retry_after <= Duration::from_secs(121),
                "{retry_after:?}"
            );
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
}

#[test]
fn http_429_without_retry_after_waits_60_seconds() {
    let h = Harness::new();
    h.mount(sales_get().respond_with(ResponseTemplate::new(429)));
    let (err, _) = sync_err(&h);
    assert!(
        matches!(err, PlatformError::RateLimited { retry_after, .. } if retry_after == Duration::from_secs(60)),
        "{err:?}"
    );
}

#[test]
fn http_500_and_503_are_transient() {
    for status in [500, 503] {
        let h = Harness::new();
        h.mount(sales_get().respond_with(ResponseTemplate::new(status).set_body_string("oops")));
        let (err, store) = sync_err(&h);
        let PlatformError::Transient(msg) = &err else {
            panic!("expected Transient, got {err:?}")
        };
        assert!(msg.contains(&format!("HTTP {status}")), "{msg}");
        assert!(msg.contains("page 1 of 2025-08-01..2025-08-15"), "{msg}");
        assert!(store.pages.is_empty());
    }
}

#[test]
fn http_400_is_permanent_with_gumroads_message_but_a_query_timeout_is_transient() {
    let h = Harness::new();
    h.mount(
        sales_get().respond_with(ResponseTemplate::new(400).set_body_raw(
            fixture("gumroad/gumroad_error_400.json"),
            "application/json",
        )),
    );
    let (err, _) = sync_err(&h);
    let PlatformError::Permanent(msg) = &err else {
        panic!("expected Permanent, got {err:?}")
    };
    assert!(
        msg.contains("HTTP 400") && msg.contains("Invalid date format"),
        "{msg}"
    );

    h.reset();
    h.mount(sales_get().respond_with(ResponseTemplate::new(400).set_body_string(
        r#"{"status":400,"error":"Query timed out. Try narrowing your date range with 'after'/'before' or filtering by product_id."}"#,
    )));
    let (err, _) = sync_err(&h);
    assert!(matches!(err, PlatformError::Transient(_)), "{err:?}");
}

#[test]
fn success_false_on_200_is_an_error() {
    let h = Harness::new();
    h.mount(sales_get().respond_with(json(fixture("gumroad/gumroad_error_not_found.json"))));
    let (err, store) = sync_err(&h);
    let PlatformError::Permanent(msg) = &err else {
        panic!("expected Permanent, got {err:?}")
    };
    assert!(msg.contains("The sale was not found."), "{msg}");
    assert!(msg.contains("page 1"), "{msg}");
    assert!(store.pages.is_empty());
}

#[test]
fn a_slow_server_times_out_as_transient() {
    let h = Harness::new();
    h.mount(sales_get().respond_with(
        json(fixture("gumroad/gumroad_sales_page2.json")).set_delay(Duration::from_secs(3)),
    ));
    let client = h
        .client()
        .with_timeouts(Duration::from_millis(500), Duration::from_millis(300));
    let mut store = Store::default();
    let err = sync(&client, &[aug()], &mut store).unwrap_err();
    let PlatformError::Transient(msg) = &err else {
        panic!("expected Transient, got {err:?}")
    };
    assert!(msg.contains("did not answer in time"), "{msg}");
    assert!(store.pages.is_empty());
}

#[test]
fn connection_refused_is_transient() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = Client::new(format!("http://127.0.0.1:{port}"), TOKEN)
        .with_timeouts(Duration::from_secs(2), Duration::from_secs(5));
    let mut store = Store::default();
    let err = sync(&client, &[aug()], &mut store).unwrap_err();
    let PlatformError::Transient(msg) = &err else {
        panic!("expected Transient, got {err:?}")
    };
    assert!(msg.contains("cannot connect"), "{msg}");
    assert!(!msg.contains(TOKEN), "{msg}");
}

#[test]
fn a_repeating_page_key_stops_the_sync() {
    let h = Harness::new();
    // Every request, with or without a page key, returns page 1 and its next_page_key.
    h.mount(sales_get().respond_with(json(fixture("gumroad/gumroad_sales_page1.json"))));
    let (err, store) = sync_err(&h);
    let PlatformError::Permanent(msg) = &err else {
        panic!("expected Permanent, got {err:?}")
    };
    assert!(
        msg.contains(PAGE2_KEY) && msg.contains("second time"),
        "{msg}"
    );
    assert!(msg.contains("page 2"), "{msg}");
    assert_eq!(
        store.pages,
        vec![(10, None)],
        "the repeating page is not stored"
    );
    assert_eq!(store.cursor, None);
    assert_eq!(h.requests().len(), 2);
}

#[test]
fn a_truncated_page_names_the_page_and_stores_nothing_of_it() {
    let h = Harness::new();
    h.mount(
        sales_get()
            .and(query_param_is_missing("page_key"))
            .respond_with(json(fixture("gumroad/gumroad_sales_page1.json"))),
    );
    h.mount(
        sales_get()
            .and(query_param("page_key", PAGE2_KEY))
            .respond_with(json(fixture("bad/gumroad_sales_truncated.json"))),
    );
    let (err, store) = sync_err(&h);
    let msg = err.to_string();
    assert!(msg.contains("page 2 of 2025-08-01..2025-08-15"), "{msg}");
    assert!(msg.contains("truncated"), "{msg}");
    assert!(matches!(err, PlatformError::Transient(_)), "{err:?}");
    assert_eq!(store.pages, vec![(10, None)]);
    assert_eq!(store.cursor, None, "the window is not marked done");
}

/// An answer that runs past `MAX_PAGE_BYTES` is given up as it streams in (a transient error
/// naming the page), not read whole into memory; the page before it stays stored.
#[test]
fn an_oversized_page_is_given_up_without_reading_it_whole() {
    let h = Harness::new();
    h.mount(
        sales_get()
            .and(query_param_is_missing("page_key"))
            .respond_with(json(fixture("gumroad/gumroad_sales_page1.json"))),
    );
    let mut huge = b"{\"success\":true,\"sales\":[".to_vec();
    huge.resize(MAX_PAGE_BYTES + 1024, b' ');
    h.mount(
        sales_get()
            .and(query_param("page_key", PAGE2_KEY))
            .respond_with(json(huge)),
    );
    let (err, store) = sync_err(&h);
    let msg = err.to_string();
    assert!(msg.contains("page 2 of 2025-08-01..2025-08-15"), "{msg}");
    assert!(msg.contains("16 MB"), "{msg}");
    assert!(matches!(err, PlatformError::Transient(_)), "{err:?}");
    assert_eq!(store.pages, vec![(10, None)]);
}

#[test]
fn bad_types_name_the_page_and_the_field() {
    let h = Harness::new();
    h.mount(sales_get().respond_with(json(fixture("bad/gumroad_sales_bad_types.json"))));
    let (err, store) = sync_err(&h);
    let PlatformError::Rejected(input) = &err else {
        panic!("expected Rejected, got {err:?}")
    };
    assert_eq!(input.column.as_deref(), Some("sales[0].price"));
    let msg = err.to_string();
    assert!(msg.contains("page 1 of 2025-08-01..2025-08-15"), "{msg}");
    assert!(
        msg.contains("\"7.99\"") && msg.contains("USD cents"),
        "{msg}"
    );
    assert!(msg.contains("01Xq7t7919dvxYabdavG97Y-Q=="), "{msg}");
    assert!(store.pages.is_empty(), "nothing from the page is stored");
}

#[test]
fn bad_created_at_names_the_field() {
    let mut v: Value =
        serde_json::from_slice(&fixture("bad/gumroad_sales_bad_types.json")).unwrap();
    v["sales"][0]["price"] = Value::from(799);
    let err = parse_page(&serde_json::to_vec(&v).unwrap(), 3).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("page 3"), "{msg}");
    assert!(msg.contains("column `sales[1].created_at`"), "{msg}");
    assert!(msg.contains("14/08/2025 09:40"), "{msg}");
}

#[test]
fn several_windows_move_the_cursor_window_by_window() {
    let h = Harness::new();
    h.mount(
        sales_get()
            .and(query_param("after", "2025-07-01"))
            .respond_with(json(br#"{"success":true,"sales":[]}"#.to_vec())),
    );
    h.mount(
        sales_get()
            .and(query_param("after", "2025-08-01"))
            .respond_with(json(fixture("gumroad/gumroad_sales_page2.json"))),
    );
    let windows = [
        Window {
            after: d("2025-07-01"),
            before: d("2025-08-01"),
        },
        Window {
            after: d("2025-08-01"),
            before: d("2025-08-15"),
        },
    ];
    let mut store = Store::default();
    let summary = sync(&h.client(), &windows, &mut store).unwrap();
    assert_eq!((summary.windows, summary.pages, summary.sales), (2, 2, 3));
    assert_eq!(
        store.pages,
        vec![(0, Some(d("2025-08-01"))), (3, Some(d("2025-08-15")))],
        "an empty last page is still delivered so the cursor moves"
    );
    assert_eq!(store.cursor, Some(d("2025-08-15")));
    h.assert_token_only_in_header();
}

#[test]
fn a_failing_sink_stops_the_sync() {
    let h = Harness::new();
    mount_two_pages(&h);
    let mut store = Store {
        fail: true,
        ..Store::default()
    };
    let err = sync(&h.client(), &[aug()], &mut store).unwrap_err();
    assert!(matches!(err, PlatformError::Sink(_)), "{err:?}");
    assert!(err.to_string().contains("disk full"));
    assert_eq!(h.requests().len(), 1);
}

#[test]
fn no_token_means_no_request() {
    let h = Harness::new();
    mount_two_pages(&h);
    let mut store = Store::default();
    let err = sync(&Client::new(h.server.uri(), "  "), &[aug()], &mut store).unwrap_err();
    assert!(
        matches!(err, PlatformError::Permanent(ref m) if m.contains("GUMROAD_ACCESS_TOKEN")),
        "{err:?}"
    );
    let err = sync(&Client::new(h.server.uri(), "ab\ncd"), &[aug()], &mut store).unwrap_err();
    assert!(
        matches!(err, PlatformError::Permanent(ref m) if !m.contains("ab\ncd")),
        "{err:?}"
    );
    assert!(h.requests().is_empty());
}

#[test]
fn sync_inside_a_runtime_is_an_error_not_a_panic() {
    let h = Harness::new();
    let client = h.client();
    let err = h.rt.block_on(async {
        let mut store = Store::default();
        sync(&client, &[aug()], &mut store).unwrap_err()
    });
    assert!(matches!(err, PlatformError::Permanent(_)), "{err:?}");
}

#[test]
fn debug_output_redacts_the_token() {
    let client = Client::new("https://api.gumroad.com/", TOKEN);
    let text = format!("{client:?}");
    assert!(!text.contains(TOKEN), "{text}");
    assert!(text.contains("(redacted)"), "{text}");
    assert_eq!(client.base_url(), "https://api.gumroad.com");
    assert_eq!(client.connect_timeout, Duration::from_secs(10));
    assert_eq!(client.total_timeout, Duration::from_secs(60));
}

#[test]
fn retry_after_values() {
    let now = SystemTime::now();
    assert_eq!(retry_after(Some("7"), now), Duration::from_secs(7));
    assert_eq!(retry_after(Some(" 0 "), now), Duration::ZERO);
    assert_eq!(retry_after(None, now), Duration::from_secs(60));
    assert_eq!(retry_after(Some(""), now), Duration::from_secs(60));
    assert_eq!(retry_after(Some("soon"), now), Duration::from_secs(60));
    assert_eq!(retry_after(Some("-5"), now), Duration::from_secs(60));
    assert_eq!(
        retry_after(Some("99999999999999999999999"), now),
        Duration::from_secs(60)
    );
    let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
    assert_eq!(retry_after(Some(&past), now), Duration::ZERO);
    let fixed = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
    assert_eq!(
        retry_after(Some("Wed, 21 Oct 2015 07:28:30 GMT"), fixed),
        Duration::from_secs(30)
    );
}

#[test]
fn parse_page_reads_the_next_key_and_the_last_page() {
    let p1 = parse_page(&fixture("gumroad/gumroad_sales_page1.json"), 1).unwrap();
    assert_eq!(p1.events.len(), 10);
    assert_eq!(p1.next_page_key.as_deref(), Some(PAGE2_KEY));
    let p2 = parse_page(&fixture("gumroad/gumroad_sales_page2.json"), 2).unwrap();
    assert_eq!(p2.events.len(), 3);
    assert_eq!(p2.next_page_key, None);
}

#[test]
fn parse_page_is_strict_about_shape_and_types() {
    let sale = r#"{"id":"A","created_at":"2025-08-14T21:02:11Z","price":799,"gumroad_fee":121}"#;
    let ok = parse_page(
        format!(r#"{{"success":true,"sales":[{sale}]}}"#).as_bytes(),
        1,
    )
    .unwrap();
    let e = &ok.events[0];
    assert_eq!(
        (e.units, e.royalty_micros, e.status.as_str()),
        (1, 6_780_000, "")
    );
    assert_eq!((e.title.as_str(), e.country.as_str()), ("", ""));

    // Null keys are treated as absent (the API drops them, but be lenient).
    let nulls = r#"{"success":true,"next_page_key":null,"sales":[{"id":"A","created_at":"2025-08-14T21:02:11+02:00","price":0,"gumroad_fee":0,"refunded":null,"quantity":null}]}"#;
    let p = parse_page(nulls.as_bytes(), 1).unwrap();
    assert_eq!(p.next_page_key, None);
    assert_eq!((p.events[0].units, p.events[0].status.as_str()), (1, ""));
    assert_eq!(p.events[0].period_start, d("2025-08-14"));

    let cases: Vec<(String, &str)> = vec![
        ("[]".into(), "expected a JSON object"),
        (r#"{"sales":[]}"#.into(), "column `success`"),
        (r#"{"success":"yes","sales":[]}"#.into(), "column `success`"),
        (r#"{"success":true}"#.into(), "column `sales`"),
        (r#"{"success":true,"sales":{}}"#.into(), "column `sales`"),
        (r#"{"success":true,"sales":[],"next_page_key":5}"#.into(), "column `next_page_key`"),
        (r#"{"success":true,"sales":[],"next_page_key":""}"#.into(), "column `next_page_key`"),
        (r#"{"success":true,"sales":[7]}"#.into(), "column `sales[0]`"),
        (r#"{"success":true,"sales":[{"created_at":"2025-08-14T21:02:11Z","price":1,"gumroad_fee":0}]}"#.into(), "column `sales[0].id`"),
        (r#"{"success":true,"sales":[{"id":12,"created_at":"2025-08-14T21:02:11Z","price":1,"gumroad_fee":0}]}"#.into(), "column `sales[0].id`"),
        (r#"{"success":true,"sales":[{"id":"A","created_at":"2025-08-14","price":1,"gumroad_fee":0}]}"#.into(), "column `sales[0].created_at`"),
        (r#"{"success":true,"sales":[{"id":"A","created_at":"2025-08-14T21:02:11Z","price":7.0,"gumroad_fee":0}]}"#.into(), "column `sales[0].price`"),
        (r#"{"success":true,"sales":[{"id":"A","created_at":"2025-08-14T21:02:11Z","price":1}]}"#.into(), "column `sales[0].gumroad_fee`"),
        (r#"{"success":true,"sales":[{"id":"A","created_at":"2025-08-14T21:02:11Z","price":1,"gumroad_fee":0,"quantity":"2"}]}"#.into(), "column `sales[0].quantity`"),
        (r#"{"success":true,"sales":[{"id":"A","created_at":"2025-08-14T21:02:11Z","price":1,"gumroad_fee":0,"refunded":"true"}]}"#.into(), "column `sales[0].refunded`"),
        (r#"{"success":true,"sales":[{"id":"A","created_at":"2025-08-14T21:02:11Z","price":1,"gumroad_fee":0,"product_name":[]}]}"#.into(), "column `sales[0].product_name`"),
        (r#"{"success":true,"sales":[{"id":"A","created_at":"2025-08-14T21:02:11Z","price":9223372036854775807,"gumroad_fee":0}]}"#.into(), "too large"),
        (r#"{"success":true,"sales":[{"id":"A","created_at":"2025-08-14T21:02:11Z","price":18446744073709551615,"gumroad_fee":0}]}"#.into(), "column `sales[0].price`"),
        ("\u{feff}garbage".into(), "not valid JSON"),
    ];
    for (body, needle) in cases {
        let err = parse_page(body.as_bytes(), 4).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, PlatformError::Rejected(_)), "{body}: {err:?}");
        assert!(msg.contains("page 4"), "{body}: {msg}");
        assert!(msg.contains(needle), "{body}: {msg}");
    }
    let err = parse_page(b"", 4).unwrap_err();
    assert!(matches!(err, PlatformError::Transient(_)), "{err:?}");
}

#[test]
fn no_prefix_or_byte_flip_of_a_page_panics() {
    let body = fixture("gumroad/gumroad_sales_page1.json");
    for len in (0..body.len()).step_by(11) {
        let _ = parse_page(&body[..len], 1);
    }
    let mut flipped = body.clone();
    for i in (0..flipped.len()).step_by(97) {
        flipped[i] ^= 0x5a;
        let _ = parse_page(&flipped, 1);
        flipped[i] ^= 0x5a;
    }
}

/// The one sale of a page holding `sale` (a JSON object's fields), with the page's warnings.
fn one(fields: &str) -> (SaleEvent, Vec<String>) {
    let body = format!(
        r#"{{"success":true,"sales":[{{"id":"P7","product_id":"PR","product_name":"Zine","created_at":"2025-08-14T21:02:11Z",{fields}}}]}}"#
    );
    let mut page = parse_page(body.as_bytes(), 1).unwrap();
    (page.events.remove(0), page.warnings)
}

/// A partly refunded sale keeps the share not refunded: `amount_refundable_in_currency`
/// against its price in the product currency (USD cents for `$`, else `formatted_total_price`),
/// royalty rounded down to the cent, as Gumroad rounds the fee it refunds.
#[test]
fn a_partly_refunded_sale_keeps_the_share_not_refunded() {
    let partial = r#""partially_refunded":true,"gumroad_fee":150"#;
    for (fields, royalty) in [
        // 850 × 6.67 / 10.00 = 566.95 cents → 566 (Gumroad: 667 − (150 − floor(49.95)) = 566;
        // rounding to nearest would give 567).
        (
            r#""price":1000,"currency_symbol":"$","formatted_total_price":"$10","amount_refundable_in_currency":"6.67""#,
            5_660_000,
        ),
        // A number instead of a string is read the same.
        (
            r#""price":1000,"currency_symbol":"$","amount_refundable_in_currency":6.67"#,
            5_660_000,
        ),
        // €: price 650 USD cents is €6; €4 refundable: 500 × 4 / 6 = 333.33 → 333 cents.
        (
            r#""price":650,"currency_symbol":"€","formatted_total_price":"€6","amount_refundable_in_currency":"4""#,
            3_330_000,
        ),
        // A membership's price carries its recurrence; thousands are grouped with `,`.
        (
            r#""price":120050,"currency_symbol":"CAD$","formatted_total_price":"CAD$1,600.50 a month","amount_refundable_in_currency":"1,200.50""#,
            899_340_000,
        ),
        // A currency written after the number.
        (
            r#""price":1000,"currency_symbol":"zł","formatted_total_price":"40 zł a year","amount_refundable_in_currency":"10""#,
            2_120_000,
        ),
    ] {
        let (e, warnings) = one(&format!("{partial},{fields}"));
        assert!(warnings.is_empty(), "{fields}: {warnings:?}");
        assert_eq!(
            (e.status.as_str(), e.units, e.royalty_micros),
            ("partially_refunded", 1, royalty),
            "{fields}"
        );
    }
    // CAD$: (120050 − 150) × 1200.50 / 1600.50 = 89934.08… cents:
    assert_eq!((119_900_i128 * 120_050) / 160_050, 89_934);
    // Fully refunded and charged back stay zero whatever the amounts say.
    for flag in [r#""refunded":true"#, r#""chargedback":true"#] {
        let (e, w) = one(&format!(
            r#"{partial},{flag},"price":1000,"currency_symbol":"$","amount_refundable_in_currency":"6.67""#
        ));
        assert_eq!((e.units, e.royalty_micros), (0, 0), "{flag}");
        assert!(w.is_empty());
    }
}

/// Where the share cannot be derived the sale is counted at its full royalty, never silently:
/// a warning names the sale, its product and why.
#[test]
fn an_underivable_partial_refund_is_counted_in_full_with_a_warning() {
    let partial = r#""partially_refunded":true,"gumroad_fee":150"#;
    for (fields, why) in [
        (
            r#""price":1000,"currency_symbol":"$""#,
            "`amount_refundable_in_currency` is missing",
        ),
        (
            r#""price":1000,"currency_symbol":"$","amount_refundable_in_currency":"6,67""#,
            "not an amount",
        ),
        (
            r#""price":1000,"currency_symbol":"$","amount_refundable_in_currency":"12""#,
            "not between zero and the price",
        ),
        (
            r#""price":1000,"currency_symbol":"$","amount_refundable_in_currency":"10""#,
            "not between zero and the price",
        ),
        (
            r#""price":1000,"currency_symbol":"$","amount_refundable_in_currency":"0""#,
            "not between zero and the price",
        ),
        (
            r#""price":0,"gumroad_fee":0,"currency_symbol":"$","amount_refundable_in_currency":"0""#,
            "its price is zero",
        ),
        (
            r#""price":1000,"amount_refundable_in_currency":"4""#,
            "`currency_symbol` is missing",
        ),
        (
            r#""price":1000,"currency_symbol":"€","amount_refundable_in_currency":"4""#,
            "`formatted_total_price` is missing",
        ),
        (
            r#""price":1000,"currency_symbol":"€","formatted_total_price":"EUR 6","amount_refundable_in_currency":"4""#,
            "not a price in `€`",
        ),
    ] {
        let (e, warnings) = one(&format!("{partial},{fields}"));
        let full = e.list_price_micros.unwrap()
            - if fields.contains(r#""price":0"#) {
                0
            } else {
                1_500_000
            };
        assert_eq!(
            (e.status.as_str(), e.royalty_micros),
            ("partially_refunded", full),
            "{fields}"
        );
        assert_eq!(warnings.len(), 1, "{fields}");
        let w = &warnings[0];
        assert!(
            w.starts_with("Gumroad sale `P7` (`Zine`, product `PR`) is partly refunded, but the refunded share cannot be derived"),
            "{w}"
        );
        assert!(w.contains(why), "{fields}: {w}");
    }
    // A bad type is still a rejected page.
    let body = r#"{"success":true,"sales":[{"id":"A","created_at":"2025-08-14T21:02:11Z","price":1,"gumroad_fee":0,"partially_refunded":true,"amount_refundable_in_currency":[]}]}"#;
    let err = parse_page(body.as_bytes(), 2).unwrap_err().to_string();
    assert!(
        err.contains("sales[0].amount_refundable_in_currency"),
        "{err}"
    );
}

/// `raw` keeps only the allow-listed fields: none of the buyers' e-mails, names, addresses,
/// card, license key, affiliate or custom fields of the sample pages.
#[test]
fn raw_keeps_no_personal_data() {
    for name in ["gumroad_sales_page1.json", "gumroad_sales_page2.json"] {
        let page = parse_page(&fixture(&format!("gumroad/{name}")), 1).unwrap();
        for e in &page.events {
            let raw: Value = serde_json::from_str(&e.raw).unwrap();
            for key in raw.as_object().unwrap().keys() {
                assert!(privacy::API_FIELDS.contains(&key.as_str()), "{key} kept");
            }
            for gone in [
                "@",
                "Ana Reader",
                "83DB262A",
                "4242",
                "5530311507",
                "direct",
            ] {
                assert!(!e.raw.contains(gone), "{gone} in {}", e.raw);
            }
            assert!(raw["id"].is_string() && raw["price"].is_i64(), "{raw}");
        }
    }
}

/// A sync gathers the pages' warnings into its summary (the job's warnings).
#[test]
fn a_sync_returns_the_warnings_of_its_pages() {
    let h = Harness::new();
    let mut page1: Value =
        serde_json::from_slice(&fixture("gumroad/gumroad_sales_page1.json")).unwrap();
    page1["sales"][6]
        .as_object_mut()
        .unwrap()
        .remove("amount_refundable_in_currency");
    h.mount(
        sales_get()
            .and(query_param_is_missing("page_key"))
            .respond_with(json(serde_json::to_vec(&page1).unwrap())),
    );
    h.mount(
        sales_get()
            .and(query_param("page_key", PAGE2_KEY))
            .respond_with(json(fixture("gumroad/gumroad_sales_page2.json"))),
    );
    let mut store = Store::default();
    let summary = sync(&h.client(), &[aug()], &mut store).unwrap();
    assert_eq!(summary.warnings.len(), 1, "{:?}", summary.warnings);
    assert!(summary.warnings[0].contains("`07Xq7t5433dvxYabdavG97Y-Q==`"));
    assert_eq!(
        store.sale("07Xq7t5433dvxYabdavG97Y-Q==").royalty_micros,
        13_190_000
    );
}

/// `GET /v2/sales/:id`: the id as one percent-encoded path segment, the token in the header
/// only, the same event the page gives; 404 is `None`; errors classified as the sync's.
#[test]
fn fetch_sale_by_id_and_its_errors() {
    let h = Harness::new();
    let page: Value = serde_json::from_slice(&fixture("gumroad/gumroad_sales_page1.json")).unwrap();
    let sale = page["sales"][0].clone();
    let id = sale["id"].as_str().unwrap().to_string();
    h.mount(
        Mock::given(method("GET"))
            .and(path(format!("/v2/sales/{id}")))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"success": true, "sale": sale})),
            ),
    );
    let (event, warning) = fetch_sale(&h.client(), &id).unwrap().expect("the sale");
    assert!(warning.is_none());
    let from_page = parse_page(&fixture("gumroad/gumroad_sales_page1.json"), 1)
        .unwrap()
        .events
        .remove(0);
    assert_eq!(event, from_page);
    assert_eq!(event.royalty_micros, 6_780_000);
    h.assert_token_only_in_header();

    // An id with characters that must be escaped in a path stays one segment.
    h.reset();
    h.mount(
        Mock::given(method("GET"))
            .and(path("/v2/sales/a%2Fb%3Fc"))
            .respond_with(ResponseTemplate::new(404)),
    );
    assert!(fetch_sale(&h.client(), "a/b?c").unwrap().is_none());
    assert_eq!(h.requests().len(), 1);

    for (status, want) in [
        (503, "transient"),
        (429, "rate"),
        (401, "permanent"),
        (403, "permanent"),
    ] {
        h.reset();
        h.mount(Mock::given(method("GET")).respond_with(ResponseTemplate::new(status)));
        let err = fetch_sale(&h.client(), &id).unwrap_err();
        let got = match &err {
            PlatformError::Transient(_) => "transient",
            PlatformError::RateLimited { .. } => "rate",
            PlatformError::Permanent(m) => {
                assert!(m.contains("GUMROAD_ACCESS_TOKEN"), "{m}");
                "permanent"
            }
            other => panic!("{status}: {other:?}"),
        };
        assert_eq!(got, want, "{status}: {err:?}");
        assert!(!format!("{err:?}").contains(TOKEN));
    }

    // A 200 without a sale is rejected, naming the field; success=false is permanent.
    for (body, want) in [
        (serde_json::json!({"success": true}), "sale"),
        (
            serde_json::json!({"success": false, "message": "nope"}),
            "nope",
        ),
    ] {
        h.reset();
        h.mount(
            Mock::given(method("GET")).respond_with(ResponseTemplate::new(200).set_body_json(body)),
        );
        let err = fetch_sale(&h.client(), &id).unwrap_err().to_string();
        assert!(err.contains(want), "{err}");
    }
}
