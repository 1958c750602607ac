//! Gumroad's dashboard Sales CSV export through the binary: recognised by content by `import`
//! and taken by `enqueue gumroad --file`, totals per month to the cent against sums this test
//! works out from the rows it writes, re-imports that change nothing, the same sales from the
//! API before or after the file counted once, and bad files rejected whole.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::util::{fixture, Env};

/// The 64 fixed columns of the sample export.
fn header() -> String {
    std::fs::read_to_string(fixture("gumroad/gumroad_sales_export.csv"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string()
}

/// One generated purchase and what it must count.
struct Sale {
    id: String,
    date: String,
    price: i64,
    fee: i64,
    qty: i64,
    /// (Refunded?, Partial Refund cents, Fully Refunded?, Disputed?, Dispute Won?)
    flags: (u8, i64, u8, u8, u8),
}

impl Sale {
    /// Units and royalty cents by FORMATS §14.7: nothing for a full refund or a lost dispute;
    /// a partial refund keeps floor((price − fee) × (price − refunded) / price).
    fn counts(&self) -> (i64, i64) {
        let (_, partial, fully, disputed, won) = self.flags;
        if fully == 1 || (disputed == 1 && won == 0) {
            return (0, 0);
        }
        let royalty = self.price - self.fee;
        if partial > 0 {
            return (self.qty, royalty * (self.price - partial) / self.price);
        }
        (self.qty, royalty)
    }
}

fn dollars(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// `n` purchases over June–September 2025 with every kind of row, written as Gumroad does
/// (buyer columns filled with personal-looking data, a quoted Ruby-hash custom field, the
/// `Totals` row last), and the expected (units, royalty cents, events) per month.
fn generate(
    dir: &Path,
    name: &str,
    n: usize,
    seed: u64,
) -> (PathBuf, BTreeMap<String, (i64, i64, i64)>) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let head = header();
    let cols: Vec<&str> = head.split(',').collect();
    let at = |c: &str| cols.iter().position(|x| *x == c).unwrap();
    let mut text = head.clone() + "\n";
    let mut want: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
    let mut total = 0;
    for i in 0..n {
        let month = rng.u32(6..=9);
        let day = rng.u32(1..=28);
        let price = if rng.u8(0..10) == 0 {
            0
        } else {
            rng.i64(99..5000)
        };
        let fee = price / 10 + i64::from(price > 0) * 30;
        let kind = rng.u8(0..10);
        let flags = match kind {
            0 => (1, 0, 1, 0, 0),
            1 => (0, 0, 0, 1, 0),
            2 => (0, 0, 0, 1, 1),
            3 if price > 1 => (1, rng.i64(1..price), 0, 0, 0),
            _ => (0, 0, 0, 0, 0),
        };
        let s = Sale {
            id: format!("{seed:x}{i:06}Xq7tLLPgum=="),
            date: format!("2025-{month:02}-{day:02}"),
            price,
            fee,
            qty: rng.i64(1..=3),
            flags,
        };
        let mut cells = vec![String::new(); cols.len()];
        cells[at("Purchase ID")] = s.id.clone();
        cells[at("Item Name")] = format!("\"Book {}, Vol. {}\"", i % 7, i % 3);
        cells[at("Buyer Name")] = "Ana Reader".into();
        cells[at("Purchase Email")] = format!("buyer{i}@example.com");
        cells[at("Buyer Email")] = format!("buyer{i}@example.com");
        cells[at("Purchase Date")] = s.date.clone();
        cells[at("Purchase Time (UTC timezone)")] = format!("{} 12:00:00 UTC", s.date);
        cells[at("Sale Price ($)")] = dollars(price);
        cells[at("Subtotal ($)")] = dollars(price);
        cells[at("Fees ($)")] = dollars(fee);
        cells[at("Net Total ($)")] = dollars(price - fee);
        cells[at("Street Address")] = "\"1 Main St, Apt 2\"".into();
        cells[at("Country")] = "United States".into();
        cells[at("Refunded?")] = flags.0.to_string();
        cells[at("Partial Refund ($)")] = dollars(flags.1);
        cells[at("Fully Refunded?")] = flags.2.to_string();
        cells[at("Disputed?")] = flags.3.to_string();
        cells[at("Dispute Won?")] = flags.4.to_string();
        cells[at("Product ID")] = format!("book{}", i % 7);
        cells[at("Custom Fields")] = "\"{\"\"Phone\"\"=>\"\"555-0101\"\"}\"".into();
        cells[at("Quantity")] = s.qty.to_string();
        cells[at("License Key")] = "83DB262A-C19D3B06".into();
        text.push_str(&cells.join(","));
        text.push('\n');
        total += price;
        let (u, r) = s.counts();
        let m = want.entry(format!("2025-{month:02}")).or_default();
        m.0 += u;
        m.1 += r;
        m.2 += 1;
    }
    let mut totals = vec![String::new(); cols.len()];
    totals[0] = "Totals".into();
    totals[at("Sale Price ($)")] = dollars(total);
    text.push_str(&totals.join(","));
    text.push('\n');
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    (p, want)
}

/// (month → (units, royalty, events)) of gumroad from `sales summary --json`.
fn by_month(env: &Env) -> BTreeMap<String, (i64, String, i64)> {
    let v = env.json(&["sales", "summary", "--by", "month,platform,currency"]);
    v.as_array()
        .unwrap()
        .iter()
        .filter(|r| r["platform"] == "gumroad")
        .map(|r| {
            assert_eq!(r["currency"], "USD", "{r}");
            (
                r["month"].as_str().unwrap().to_string(),
                (
                    r["units"].as_i64().unwrap(),
                    r["royalty"].as_str().unwrap().to_string(),
                    r["events"].as_i64().unwrap(),
                ),
            )
        })
        .collect()
}

fn expected(want: &BTreeMap<String, (i64, i64, i64)>) -> BTreeMap<String, (i64, String, i64)> {
    want.iter()
        .map(|(m, (u, r, e))| (m.clone(), (*u, dollars(*r), *e)))
        .collect()
}

fn worker(env: &Env) -> Value {
    let out = env.cmd().args(["run-worker", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn import_json(env: &Env, args: &[&str]) -> Vec<Value> {
    let out = env.cmd().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn events(env: &Env) -> i64 {
    env.scalar("SELECT count(*) FROM sales_events WHERE platform = 'gumroad'")
}

crate::on_both! {
    /// `import` with no platform named recognises the export by its content (whatever its
    /// name), `enqueue gumroad --file` takes it too; totals per month match the rows' own sums;
    /// importing it again, forced or not, and an overlapping second export change nothing.
    fn the_export_is_imported_by_content_and_totals_match(backend) {
        let env = Env::on(backend);
        let (file, want) = generate(env.dir.path(), "Orders_2025.txt", 1500, 7);
        let v = import_json(&env, &["import", "--json", file.to_str().unwrap()]);
        assert_eq!((v[0]["platform"].as_str(), v[0]["status"].as_str()), (Some("gumroad"), Some("queued")), "{v:?}");
        let w = worker(&env);
        assert_eq!(w["completed"], 1, "{w}");
        assert_eq!(w["jobs"][0]["events"]["inserted"], 1500, "{w}");
        assert_eq!(by_month(&env), expected(&want));
        assert_eq!(want.len(), 4);
        // The same file again: already imported; forced: upserted, nothing changes.
        let v = import_json(&env, &["import", "--json", file.to_str().unwrap()]);
        assert_eq!(v[0]["status"], "already_imported", "{v:?}");
        env.cmd().args(["enqueue", "gumroad", "--file"]).arg(&file).arg("--force").assert().success();
        let w = worker(&env);
        assert_eq!(w["jobs"][0]["events"]["inserted"], 0, "{w}");
        assert_eq!(w["jobs"][0]["events"]["updated"], 0, "{w}");
        assert_eq!(by_month(&env), expected(&want));
        assert_eq!(events(&env), 1500);
        // An overlapping export (its first 600 purchases, a new file): nothing changes.
        let text = std::fs::read_to_string(&file).unwrap();
        let part: Vec<&str> = text.lines().take(601).collect();
        let overlap = env.path("Sales (1).csv");
        std::fs::write(&overlap, part.join("\n") + "\n").unwrap();
        env.cmd().args(["enqueue", "gumroad", "--file"]).arg(&overlap).assert().success();
        let w = worker(&env);
        assert_eq!(w["jobs"][0]["events"]["inserted"], 0, "{w}");
        assert_eq!(by_month(&env), expected(&want));
        assert_eq!(events(&env), 1500);
        // Buyers' personal data is not stored anywhere.
        let raw = env.json(&["sales", "export", "--format", "json"]);
        let shown = raw.to_string();
        for gone in ["@example.", "Ana Reader", "555-0101", "83DB262A", "Main St"] {
            assert!(!shown.contains(gone), "{gone} in the export");
        }
    }
}

crate::on_both! {
    /// Both real-layout samples (64 and 65 columns) by `enqueue gumroad --file`: August 2025,
    /// 71.60 + 18.78 USD (worked out by hand in the unit tests), 11 + 4 units, 18 sales.
    fn both_sample_layouts_by_enqueue(backend) {
        let env = Env::on(backend);
        env.cmd()
            .args(["enqueue", "gumroad", "--file"])
            .arg(fixture("gumroad/gumroad_sales_export.csv"))
            .arg("--file")
            .arg(fixture("gumroad/gumroad_sales_export_tax_type.csv"))
            .assert()
            .success();
        let w = worker(&env);
        assert_eq!(w["completed"], 2, "{w}");
        let mut want = BTreeMap::new();
        want.insert("2025-08".to_string(), (15, "90.38".to_string(), 18));
        assert_eq!(by_month(&env), want);
        assert_eq!(env.royalty("gumroad"), vec![("USD".to_string(), "90.38".to_string())]);
    }
}

crate::on_both! {
    /// A bad row anywhere (here the last of 3,000) rejects the whole file at enqueue with exit
    /// 5 naming the file, line and column, by `enqueue` and by `import`; a batch with one bad
    /// file queues nothing.
    fn bad_exports_are_rejected_whole(backend) {
        let env = Env::on(backend);
        let (good, _) = generate(env.dir.path(), "good.csv", 3000, 11);
        let text = std::fs::read_to_string(&good).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let cols: Vec<String> = header().split(',').map(str::to_string).collect();
        let price = cols.iter().position(|c| c == "Sale Price ($)").unwrap();
        let date = cols.iter().position(|c| c == "Purchase Date").unwrap();
        let row = |l: &str| -> Vec<String> {
            let mut r = csv::ReaderBuilder::new().has_headers(false).from_reader(l.as_bytes());
            r.records().next().unwrap().unwrap().iter().map(str::to_string).collect()
        };
        let quote = |cells: Vec<String>| -> String {
            let mut w = csv::Writer::from_writer(vec![]);
            w.write_record(&cells).unwrap();
            String::from_utf8(w.into_inner().unwrap()).unwrap().trim_end().to_string()
        };
        let last = lines.len() - 2; // the last purchase, before Totals
        let line_no = last + 1;
        let mut variants = Vec::new();
        let mut r = row(&lines[last]);
        r[price] = "$4.99".into();
        variants.push(("money.csv", quote(r), format!("line {line_no}, column `Sale Price ($)`")));
        let mut r = row(&lines[last]);
        r[date] = "Aug 14, 2025".into();
        variants.push(("date.csv", quote(r), format!("line {line_no}, column `Purchase Date`")));
        let mut r = row(&lines[last]);
        r.truncate(20);
        variants.push(("cut.csv", quote(r), format!("line {line_no}: expected 64 fields")));
        for (name, bad, needle) in variants {
            let orig = std::mem::replace(&mut lines[last], bad);
            let p = env.path(name);
            std::fs::write(&p, lines.join("\n") + "\n").unwrap();
            lines[last] = orig;
            let out = env
                .cmd()
                .args(["enqueue", "gumroad", "--file"])
                .arg(&good)
                .arg("--file")
                .arg(&p)
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(5), "{name}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(&format!("{name}`, {needle}")), "{name}: {err}");
            assert_eq!(env.scalar("SELECT count(*) FROM jobs"), 0, "{name}");
            let out = env.cmd().args(["import", "--json"]).arg(&p).output().unwrap();
            assert_eq!(out.status.code(), Some(5), "{name}");
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!((v["platform"].as_str(), v["status"].as_str()), (Some("gumroad"), Some("rejected")), "{v}");
            assert!(v["message"].as_str().unwrap().contains(needle.as_str()), "{v}");
            assert_eq!(env.scalar("SELECT count(*) FROM jobs"), 0, "{name}");
        }
        assert_eq!(events(&env), 0);
    }
}

const TOKEN: &str = "tok_csv_SECRET_77";

async fn serve_pages(server: &MockServer) {
    let page = |n: &str| std::fs::read_to_string(fixture(&format!("gumroad/{n}"))).unwrap();
    Mock::given(method("GET"))
        .and(path("/v2/sales"))
        .and(query_param("page_key", "20250809101010000000-1873451203"))
        .respond_with(ResponseTemplate::new(200).set_body_string(page("gumroad_sales_page2.json")))
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/sales"))
        .respond_with(ResponseTemplate::new(200).set_body_string(page("gumroad_sales_page1.json")))
        .with_priority(2)
        .mount(server)
        .await;
}

fn sync(env: &Env, server: &MockServer) -> Value {
    let out = env
        .cmd()
        .env("GUMROAD_ACCESS_TOKEN", TOKEN)
        .env("SALESINGEST_GUMROAD_API_URL", server.uri())
        .args([
            "enqueue",
            "gumroad",
            "--since",
            "2025-08-01",
            "--until",
            "2025-08-31",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = env
        .cmd()
        .env("GUMROAD_ACCESS_TOKEN", TOKEN)
        .env("SALESINGEST_GUMROAD_API_URL", server.uri())
        .args(["run-worker", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// How many of the 13 stored sales carry the API's own fields: its source, the product id
/// (not the CSV's permalink) and the ISO country (the CSV has only the country's name), checked
/// on two sales by value.
fn api_fields(env: &Env) -> i64 {
    let all = env.scalar(
        "SELECT count(*) FROM sales_events WHERE platform = 'gumroad' AND source = 'gumroad.api'
            AND length(country) = 2
            AND product_id NOT IN ('lkdaughter', 'nordlicht', 'foxbundle', 'readersclub')",
    );
    let two = env.scalar(
        "SELECT count(*) FROM sales_events WHERE
            (natural_key = 'gumroad:sale:02Xq7t5838dvxYabdavG97Y-Q=='
              AND country = 'DE' AND product_id = 'Zq1cW8w5rPXf0J3pIl0y3A==')
         OR (natural_key = 'gumroad:sale:07Xq7t5433dvxYabdavG97Y-Q=='
              AND country = 'GB' AND product_id = 'e7xqFa2WL0E-qJlQ4WYJxA==')",
    );
    assert_eq!(two, 2, "the two sales checked by value");
    all
}

crate::on_both! {
/// The export's 13 purchases are the API sample's 13 sales (same ids): an author who exports
/// history once and syncs afterwards, or syncs and then imports an export, has each sale once,
/// and the totals are one copy's: 71.60 USD, 11 units (FORMATS §14.7: the same figure by both
/// paths, the partial refund and the lost dispute included). The API stays the source of
/// truth: in either order the sales end with the API's fields (ISO country, product id, raw);
/// the CSV after a sync leaves every sale as the sync stored it.
fn csv_and_api_sales_count_once_in_either_order(backend) {
    // The mock server runs on a runtime of its own (the PostgreSQL test client blocks).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(async {
        let s = MockServer::start().await;
        serve_pages(&s).await;
        s
    });
    let csv = fixture("gumroad/gumroad_sales_export.csv");
    let mut want = BTreeMap::new();
    want.insert("2025-08".to_string(), (11, "71.60".to_string(), 13));
    {
        // CSV first, then the API.
        let env = Env::on(backend);
        env.cmd().args(["import"]).arg(&csv).assert().success();
        let w = worker(&env);
        assert_eq!(w["jobs"][0]["events"]["inserted"], 13, "{w}");
        assert_eq!(by_month(&env), want, "{backend:?}");
        assert_eq!(
            env.scalar("SELECT count(*) FROM sales_events WHERE source = 'gumroad.csv' AND country = ''"),
            13,
            "{backend:?}: the CSV's rows before the sync"
        );
        let w = sync(&env, &server);
        assert_eq!(w["jobs"][0]["events"]["inserted"], 0, "{backend:?} {w}");
        assert_eq!(w["jobs"][0]["events"]["updated"], 13, "{backend:?} {w}");
        assert_eq!(events(&env), 13);
        assert_eq!(by_month(&env), want, "{backend:?} after the sync");
        assert_eq!(api_fields(&env), 13, "{backend:?}: the sync overwrites the CSV's rows");
        // API first, then the CSV.
        let env = Env::on(backend);
        let w = sync(&env, &server);
        assert_eq!(w["jobs"][0]["events"]["inserted"], 13, "{w}");
        assert_eq!(by_month(&env), want);
        assert_eq!(api_fields(&env), 13, "{backend:?}");
        let sync_job = env.scalar("SELECT max(job_id) FROM sales_events WHERE platform = 'gumroad'");
        env.cmd().args(["enqueue", "gumroad", "--file"]).arg(&csv).assert().success();
        let w = worker(&env);
        assert_eq!(w["jobs"][0]["events"]["inserted"], 0, "{backend:?} {w}");
        assert_eq!(w["jobs"][0]["events"]["updated"], 0, "{backend:?} {w}");
        assert_eq!(events(&env), 13);
        assert_eq!(by_month(&env), want, "{backend:?} after the CSV");
        assert_eq!(api_fields(&env), 13, "{backend:?}: the CSV keeps the API's fields");
        // Not one row touched by the CSV's job (raw included: an update moves the job id).
        assert_eq!(
            env.scalar("SELECT count(*) FROM sales_events WHERE platform = 'gumroad' AND job_id <> 0")
                - env.scalar(&format!("SELECT count(*) FROM sales_events WHERE job_id = {sync_job}")),
            0,
            "{backend:?}"
        );
        // And a sync again after the CSV: still one copy, still the API's.
        sync(&env, &server);
        assert_eq!(events(&env), 13);
        assert_eq!(api_fields(&env), 13, "{backend:?}");
        assert_eq!(env.royalty("gumroad"), vec![("USD".to_string(), "71.60".to_string())]);
    }
}
}
