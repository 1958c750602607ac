//! The storefronts of a "wide" author through the binary: Kobo Writing Life (sales and Kobo
//! Plus), StreetLib and Google Play Books. Totals per platform × currency and per month to the
//! cent against independent sums, re-imports and overlapping downloads that change nothing,
//! bad files rejected whole with their location.
//!
//! Expected figures come from `tests/fixtures/gen/wide_expected.py` (Python's `csv`, `zipfile`
//! and `decimal` over the fixture files; no salesingest code).

use std::path::Path;

use crate::util::{fixture, Env};

/// (platform, currency) → (events, units, royalty), from wide_expected.py.
const BY_PLATFORM: &[(&str, &str, i64, i64, &str)] = &[
    ("google_play", "EUR", 4, 2, "5.78"),
    ("google_play", "USD", 2, 3, "8.22"),
    ("kobo", "USD", 9, 7, "31.19"),
    ("streetlib", "EUR", 4, 4, "8.23"),
    ("streetlib", "GBP", 1, 1, "1.37"),
    ("streetlib", "USD", 1, 1, "1.97"),
];

/// (month, platform, currency) → (events, units, royalty), from wide_expected.py.
const BY_MONTH: &[(&str, &str, &str, i64, i64, &str)] = &[
    ("2025-04", "streetlib", "EUR", 1, 1, "1.47"),
    ("2025-04", "streetlib", "USD", 1, 1, "1.97"),
    ("2025-05", "streetlib", "EUR", 2, 4, "9.02"),
    ("2025-06", "streetlib", "EUR", 1, -1, "-2.26"),
    ("2025-06", "streetlib", "GBP", 1, 1, "1.37"),
    ("2025-07", "google_play", "EUR", 4, 2, "5.78"),
    ("2025-07", "google_play", "USD", 2, 3, "8.22"),
    ("2025-07", "kobo", "USD", 9, 7, "31.19"),
];

type PlatformRow = (String, String, i64, i64, String);
type MonthRow = (String, String, String, i64, i64, String);

fn s(v: &serde_json::Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} in {v}"))
        .to_string()
}

fn by_platform(env: &Env) -> Vec<PlatformRow> {
    env.json(&["sales", "summary", "--by", "platform,currency"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                s(r, "platform"),
                s(r, "currency"),
                r["events"].as_i64().unwrap(),
                r["units"].as_i64().unwrap(),
                s(r, "royalty"),
            )
        })
        .collect()
}

fn by_month(env: &Env) -> Vec<MonthRow> {
    env.json(&["sales", "summary", "--by", "month,platform,currency"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                s(r, "month"),
                s(r, "platform"),
                s(r, "currency"),
                r["events"].as_i64().unwrap(),
                r["units"].as_i64().unwrap(),
                s(r, "royalty"),
            )
        })
        .collect()
}

fn want_platform() -> Vec<PlatformRow> {
    BY_PLATFORM
        .iter()
        .map(|(p, c, e, u, r)| (p.to_string(), c.to_string(), *e, *u, r.to_string()))
        .collect()
}

fn want_month() -> Vec<MonthRow> {
    BY_MONTH
        .iter()
        .map(|(m, p, c, e, u, r)| {
            (
                m.to_string(),
                p.to_string(),
                c.to_string(),
                *e,
                *u,
                r.to_string(),
            )
        })
        .collect()
}

fn run_worker(env: &Env) -> serde_json::Value {
    let v = env.json(&["run-worker"]);
    assert_eq!(v["failed"], 0, "{v}");
    v
}

fn enqueue(env: &Env, platform: &str, files: &[&Path], force: bool) {
    let mut cmd = env.cmd();
    cmd.args(["enqueue", platform, "-q"]);
    for f in files {
        cmd.arg("--file").arg(f);
    }
    if force {
        cmd.arg("--force");
    }
    cmd.assert().code(0);
}

fn enqueue_all(env: &Env, force: bool) {
    enqueue(
        env,
        "kobo",
        &[
            &fixture("kobo/kobo_sales_details.csv"),
            &fixture("kobo/kobo_plus_sales_invoice_SUBS.xlsx"),
        ],
        force,
    );
    enqueue(
        env,
        "streetlib",
        &[&fixture("streetlib/streetlib_billing_report.xlsx")],
        force,
    );
    enqueue(
        env,
        "google_play",
        &[
            &fixture("google_play/google_play_earnings_EUR_2025-07.csv"),
            &fixture("google_play/google_play_earnings_USD_2025-07.csv"),
        ],
        force,
    );
}

/// `import` of the three folders, no platform named: every file is recognised by its content
/// (the XLSX workbooks and their CSV copies hold the same rows, so each is counted once), and
/// the totals are the independent sums. Importing everything again with `--force` changes
/// nothing.
#[test]
fn import_with_no_platform_named_gives_the_independent_totals() {
    let env = Env::new();
    let out = env
        .cmd()
        .args(["import", "--json"])
        .arg(fixture("kobo"))
        .arg(fixture("streetlib"))
        .arg(fixture("google_play"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for p in ["\"kobo\"", "\"streetlib\"", "\"google_play\""] {
        assert!(text.contains(p), "{p} not detected: {text}");
    }
    run_worker(&env);
    assert_eq!(by_platform(&env), want_platform());
    assert_eq!(by_month(&env), want_month());

    env.cmd()
        .args(["import", "--force", "-q"])
        .arg(fixture("kobo"))
        .arg(fixture("streetlib"))
        .arg(fixture("google_play"))
        .assert()
        .code(0);
    run_worker(&env);
    assert_eq!(by_platform(&env), want_platform());
    assert_eq!(by_month(&env), want_month());

    // The overview, the freshness check and the per-platform summary know the names.
    let status = env.json(&["status"]);
    for p in ["kobo", "streetlib", "google_play"] {
        let row = status
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["platform"] == p)
            .unwrap_or_else(|| panic!("{p} in {status}"));
        assert!(row["events"].as_i64().unwrap() > 0, "{row}");
    }
    env.cmd().args(["status", "--check"]).assert().code(0);
    let only = env.json(&["sales", "summary", "--by", "platform", "--platform", "kwl"]);
    assert!(only
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["platform"] == "kobo"));
}

/// `enqueue <platform> --file` gives the same totals; a forced re-import of every file changes
/// no total (each job removes what it inserts).
#[test]
fn enqueue_per_platform_gives_the_same_totals_and_reimports_change_nothing() {
    let env = Env::new();
    enqueue_all(&env, false);
    run_worker(&env);
    assert_eq!(by_platform(&env), want_platform());
    assert_eq!(by_month(&env), want_month());
    enqueue_all(&env, true);
    let run = run_worker(&env);
    for job in run["jobs"].as_array().unwrap() {
        assert_eq!(
            job["events"]["inserted"], job["events"]["removed"],
            "a re-import replaces exactly what it brings: {job}"
        );
    }
    assert_eq!(by_platform(&env), want_platform());
    assert_eq!(by_month(&env), want_month());
    // The Kobo CSV copy, then the workbook of the same month: one set of sales.
    enqueue(
        &env,
        "kobo",
        &[&fixture("kobo/kobo_sales_invoice_PUB.xlsx")],
        false,
    );
    run_worker(&env);
    assert_eq!(by_platform(&env), want_platform());
}

/// Kobo Plus reads are their own format with zero units: they never replace or add to the
/// sales of the same month, whichever comes first.
#[test]
fn kobo_plus_is_kept_apart_from_sales() {
    let env = Env::new();
    enqueue(
        &env,
        "kobo",
        &[&fixture("kobo/kobo_sales_invoice_PUB.xlsx")],
        false,
    );
    run_worker(&env);
    enqueue(
        &env,
        "kobo",
        &[&fixture("kobo/kobo_plus_sales_invoice_SUBS.xlsx")],
        false,
    );
    run_worker(&env);
    let rows = env.json(&["sales", "summary", "--by", "format", "--platform", "kobo"]);
    let got: Vec<(String, i64, i64, String)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                s(r, "format"),
                r["events"].as_i64().unwrap(),
                r["units"].as_i64().unwrap(),
                s(r, "royalty"),
            )
        })
        .collect();
    // Sales: 7 rows, 7 units, 21.55 USD; Kobo Plus: 2 rows, 0 units, 7.15 + 2.49 USD.
    assert_eq!(
        got,
        vec![
            ("ebook".to_string(), 7, 7, "21.55".to_string()),
            ("subscription".to_string(), 2, 0, "9.64".to_string())
        ]
    );
    // Sales again after Plus: still both.
    enqueue(
        &env,
        "kobo",
        &[&fixture("kobo/kobo_sales_details.csv")],
        false,
    );
    run_worker(&env);
    assert_eq!(by_platform(&env)[0].4, "31.19");
}

fn utf16le(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    for u in text.encode_utf16() {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out
}

const GP_HEADER: &str = "Earnings Date\tTransaction Date\tId\tProduct\tType\tPreorder\tQty\tPrimary ISBN\tImprint Name\tTitle\tAuthor\tOriginal List Price Currency\tOriginal List Price\tList Price Currency\tList Price [tax inclusive]\tList Price [tax exclusive]\tCountry of Sale\tPublisher Revenue %\tPublisher Revenue\tEarnings Currency\tEarnings Amount\tCurrency Conversion Rate\tLine of Business";

fn gp_row(earned: &str, day: &str, id: &str, amount: &str) -> String {
    format!("{earned}\t{day}\t{id}\tSingle Purchase\tSale\tFulfilled\t1\t'9781732461048\tLantern Lane Press\tNordlicht\tJane Q. Writer\tEUR\t2,99\tEUR\t2,99\t2,51\tDE\t70\t{amount}\tEUR\t{amount}\t1\tGoogle Play for Books")
}

/// The next month's Google Play report may carry a transaction dated inside this month (a
/// pre-order fulfilled later, a late purchase); the next StreetLib invoice may carry orders
/// dated inside this invoice's range (stores report late). Neither replaces what the earlier
/// report holds; a new download of the same report (the same payment / invoice) does.
#[test]
fn another_payment_or_invoice_never_replaces_this_one() {
    let env = Env::new();
    enqueue(
        &env,
        "google_play",
        &[&fixture("google_play/google_play_earnings_EUR_2025-07.csv")],
        false,
    );
    enqueue(
        &env,
        "streetlib",
        &[&fixture("streetlib/streetlib_billing_report.csv")],
        false,
    );
    run_worker(&env);

    let august = env.path("GoogleEarnings_2025-08.csv");
    let text = format!(
        "{GP_HEADER}\r\n{}\r\n{}\r\n",
        gp_row("2025-08-31", "2025-07-10", "GPB.9-1", "1,76"),
        gp_row("2025-08-31", "2025-08-03", "GPB.9-2", "1,76")
    );
    std::fs::write(&august, utf16le(&text)).unwrap();
    let october = env.path("streetlib_2025-10.csv");
    std::fs::write(
        &october,
        "Billing date,Order date,ISBN,Title,Authors,Publisher,Store,Sale type,Order type,List Price,Quantity,Total list price,Price model,Bill type,Discount % sale,Discount % distribution,Store payout,Store payout currency,DRM,Total print cost,Net revenue\n\
         2025-10-05,2025-05-02,9781732461024,Salt & Ember,Jane Q. Writer,Lantern Lane Press,Bol.com,Sale,Buy,4.1,1,4.1,Wholesale,Author,35,10,2.67,EUR,0,0,2.26\n\
         2025-10-05,2025-09-14,9781732461024,Salt & Ember,Jane Q. Writer,Lantern Lane Press,Bol.com,Sale,Buy,4.1,1,4.1,Wholesale,Author,35,10,2.67,EUR,0,0,2.26\n",
    )
    .unwrap();
    env.cmd()
        .args(["import", "-q"])
        .arg(&august)
        .arg(&october)
        .assert()
        .code(0);
    run_worker(&env);
    let got = by_platform(&env);
    assert!(
        got.contains(&("google_play".into(), "EUR".into(), 6, 4, "9.30".into())),
        "5.78 + 2 × 1.76: {got:?}"
    );
    assert!(
        got.contains(&("streetlib".into(), "EUR".into(), 6, 6, "12.75".into())),
        "8.23 + 2 × 2.26: {got:?}"
    );

    // A new download of the July report with a restated amount replaces July's rows only.
    let july = env.path("GoogleEarnings_2025-07-again.csv");
    let text = format!(
        "{GP_HEADER}\r\n{}\r\n{}\r\n",
        gp_row("2025-07-31", "2025-07-04", "GPB.1", "1,00"),
        gp_row("2025-07-31", "2025-07-22", "GPB.2", "2,00")
    );
    std::fs::write(&july, utf16le(&text)).unwrap();
    enqueue(&env, "google", &[&july], false);
    run_worker(&env);
    let got = by_platform(&env);
    assert!(
        got.contains(&("google_play".into(), "EUR".into(), 4, 4, "6.52".into())),
        "3.00 for July + 2 × 1.76 for August: {got:?}"
    );
}

/// Every bad sample of these platforms is rejected whole, at enqueue and through `import`,
/// naming the file, the place and the column where there is one; nothing is queued.
#[test]
fn bad_variants_are_rejected_whole_with_their_location() {
    let env = Env::new();
    for (platform, rel, place) in [
        (
            "kobo",
            "bad/kobo_no_details_sheet.xlsx",
            "sheet `Summary`, row 1: this Kobo Writing Life workbook has no `Details` sheet",
        ),
        (
            "streetlib",
            "bad/streetlib_billing_no_net_column.xlsx",
            "sheet `Report`, row 1: this StreetLib billing report has no net column",
        ),
        (
            "google_play",
            "bad/google_play_earnings_ambiguous_decimal.csv",
            "line 2, column `Original List Price`: `1.002,99` is ambiguous",
        ),
    ] {
        let out = env
            .cmd()
            .args(["enqueue", platform, "--file"])
            .arg(fixture(rel))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(5), "{rel}: {err}");
        let name = Path::new(rel).file_name().unwrap().to_string_lossy();
        assert!(err.contains(&*name) && err.contains(place), "{rel}: {err}");
        let out = env.cmd().arg("import").arg(fixture(rel)).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let all = format!("{err}{}", String::from_utf8_lossy(&out.stdout));
        assert_eq!(out.status.code(), Some(5), "{rel}: {all}");
        assert!(
            all.contains(place),
            "import names {platform}'s error for {rel}: {all}"
        );
    }
    assert_eq!(env.json(&["jobs"]).as_array().unwrap().len(), 0);
}

/// `sales export` keeps each row's source cells (`raw`), with the header names as written.
#[test]
fn export_keeps_the_source_rows() {
    let env = Env::new();
    enqueue_all(&env, false);
    run_worker(&env);
    for (platform, key, value) in [
        ("google_play", "Primary ISBN", "'9781732461048"),
        ("kobo", "Refund Reason", "Customer request"),
        ("kobo", "Reads", "14"),
        ("streetlib", "Store payout", "1.72"),
    ] {
        let out = env
            .cmd()
            .args([
                "sales",
                "export",
                "--format",
                "ndjson",
                "--platform",
                platform,
            ])
            .output()
            .unwrap();
        assert!(out.status.success());
        let found = String::from_utf8(out.stdout).unwrap().lines().any(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let raw: serde_json::Value = serde_json::from_str(v["raw"].as_str().unwrap()).unwrap();
            raw[key] == value
        });
        assert!(found, "{platform}: no exported row with {key} = {value}");
    }
}
