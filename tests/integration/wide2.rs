//! Apple Books, B&N Press and IngramSpark imports through the binary: recognised by content,
//! totals per platform × currency and per month to the cent, idempotent re-imports, overlapping
//! downloads of each report kind, and bad files rejected whole with their location.

use std::io::Write;
use std::path::{Path, PathBuf};

use predicates::prelude::*;
use serde_json::Value;

use crate::util::{fixture, Env};

fn s(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
    v.sort();
    v
}

fn enqueue(env: &Env, platform: &str, files: &[&Path], force: bool) {
    let mut cmd = env.cmd();
    cmd.args(["enqueue", platform]);
    for f in files {
        cmd.arg("--file").arg(f);
    }
    if force {
        cmd.arg("--force");
    }
    cmd.assert().success();
    env.cmd().args(["run-worker"]).assert().code(0);
}

fn import(env: &Env, paths: &[&Path], force: bool) -> Vec<Value> {
    let mut cmd = env.cmd();
    cmd.args(["import", "--json"]);
    cmd.args(paths);
    if force {
        cmd.arg("--force");
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.cmd().args(["run-worker"]).assert().code(0);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// (month, platform, currency) → (units, royalty, events) from `sales summary --json`.
fn by_month(env: &Env) -> Vec<(String, String, String, i64, String, i64)> {
    let v = env.json(&["sales", "summary", "--by", "month,platform,currency"]);
    let mut rows: Vec<_> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["month"].as_str().unwrap().to_string(),
                r["platform"].as_str().unwrap().to_string(),
                r["currency"].as_str().unwrap().to_string(),
                r["units"].as_i64().unwrap(),
                r["royalty"].as_str().unwrap().to_string(),
                r["events"].as_i64().unwrap(),
            )
        })
        .collect();
    rows.sort();
    rows
}

fn row(
    m: &str,
    p: &str,
    c: &str,
    units: i64,
    royalty: &str,
    events: i64,
) -> (String, String, String, i64, String, i64) {
    (
        m.to_string(),
        p.to_string(),
        c.to_string(),
        units,
        royalty.to_string(),
        events,
    )
}

fn live_events(env: &Env, platform: &str) -> i64 {
    env.sql()
        .query_row(
            "SELECT count(*) FROM live_sales WHERE platform = ?1",
            [platform],
            |r| r.get(0),
        )
        .unwrap()
}

/// The sample files, with the sums Python's `decimal` gives over their money columns:
/// Apple `Extended Partner Share` signed by `Sales or Return` per `Partner Share Currency`
/// (EU 2.98 + 2.29 + 2.98; US 8.37 + 2.09 - 2.09 + 0.00), B&N `Total Royalty` (6.27 - 2.09 +
/// 4.21 + 2.59), IngramSpark `MTD_net_pub_comp` per `reporting_currency_code`.
fn expected_summary() -> Vec<(String, String, String, i64, String, i64)> {
    vec![
        row("2025-06", "apple_books", "EUR", 5, "8.25", 3),
        row("2025-06", "apple_books", "USD", 4, "8.37", 4),
        row("2025-07", "barnes_noble", "USD", 4, "10.98", 4),
        row("2025-07", "ingramspark", "AUD", 1, "6.79", 1),
        row("2025-07", "ingramspark", "GBP", 2, "8.18", 1),
        row("2025-07", "ingramspark", "USD", 6, "31.34", 2),
    ]
}

#[test]
fn import_without_a_platform_recognises_each_layout_with_exact_totals() {
    let env = Env::new();
    // Names carry no hint: copies named like other platforms' files.
    let dir = env.path("downloads");
    std::fs::create_dir(&dir).unwrap();
    for (src, dest) in [
        ("apple_books/apple_books_financial_EU_2025-06.txt", "a.csv"),
        (
            "apple_books/apple_books_financial_US_2025-06.txt.gz",
            "b.xlsx",
        ),
        ("barnes_noble/bn_press_sales.csv", "c.tsv"),
        ("ingramspark/ingramspark_compensation_JUL-25.xls", "d.csv"),
    ] {
        std::fs::copy(fixture(src), dir.join(dest)).unwrap();
    }
    let files = import(&env, &[&dir], false);
    let platforms: Vec<(&str, &str)> = files
        .iter()
        .map(|f| {
            (
                f["platform"].as_str().unwrap(),
                f["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        platforms,
        [
            ("apple_books", "queued"),
            ("apple_books", "queued"),
            ("barnes_noble", "queued"),
            ("ingramspark", "queued")
        ]
    );
    assert_eq!(by_month(&env), expected_summary());
    assert_eq!(
        sorted(env.royalty("apple_books")),
        vec![s("EUR", "8.25"), s("USD", "8.37")]
    );
    assert_eq!(env.royalty("barnes_noble"), vec![s("USD", "10.98")]);
    assert_eq!(
        sorted(env.royalty("ingramspark")),
        vec![s("AUD", "6.79"), s("GBP", "8.18"), s("USD", "31.34")]
    );
    // The per-platform summary knows the names.
    let v = env.json(&["sales", "summary", "--by", "platform"]);
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["platform"].as_str().unwrap())
        .collect();
    for p in ["apple_books", "barnes_noble", "ingramspark"] {
        assert!(names.contains(&p), "{names:?}");
    }
    // Apple's fiscal June (06/01..06/28) keeps its span; every row is final.
    let (start, end, finals): (String, String, i64) = env
        .sql()
        .query_row(
            "SELECT min(period_start), max(period_end), sum(is_final) FROM live_sales
              WHERE platform = 'apple_books'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (start.as_str(), end.as_str(), finals),
        ("2025-06-01", "2025-06-28", 7)
    );
}

#[test]
fn enqueue_by_platform_gives_the_same_totals_from_every_container() {
    let env = Env::new();
    enqueue(
        &env,
        "apple",
        &[
            &fixture("apple_books/apple_books_financial_EU_2025-06.txt"),
            &fixture("apple_books/apple_books_financial_US_2025-06.txt.gz"),
        ],
        false,
    );
    enqueue(
        &env,
        "barnes_noble",
        &[&fixture("barnes_noble/bn_press_sales.csv")],
        false,
    );
    // The HTML table and the pipe-delimited copy of the same report.
    enqueue(
        &env,
        "ingram",
        &[&fixture(
            "ingramspark/ingramspark_compensation_JUL-25_html.xls",
        )],
        false,
    );
    assert_eq!(by_month(&env), expected_summary());
    enqueue(
        &env,
        "ingramspark",
        &[&fixture(
            "ingramspark/ingramspark_compensation_JUL-25_pipe.xls",
        )],
        false,
    );
    assert_eq!(by_month(&env), expected_summary());
    // Raw rows are kept for export.
    let out = env
        .cmd()
        .args([
            "sales",
            "export",
            "--format",
            "ndjson",
            "--platform",
            "barnes_noble",
        ])
        .output()
        .unwrap();
    let first: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    let raw: Value = serde_json::from_str(first["raw"].as_str().unwrap()).unwrap();
    assert_eq!(raw["Total Royalty"], "6.27");
    assert_eq!(raw["BN ID / ISBN"], "=\"2940185885482\"");
    // A platform named wrongly is checked as that platform.
    env.cmd()
        .args(["enqueue", "apple_books", "--file"])
        .arg(fixture("barnes_noble/bn_press_sales.csv"))
        .assert()
        .code(5)
        .stderr(predicate::str::contains(
            "not a recognised Apple Books financial report",
        ));
}

/// An uncompressed copy of the gzip report, the CRLF copy of a B&N export and forced re-imports
/// of every file change nothing; identical rows stay separate sales.
#[test]
fn reimports_and_copies_change_nothing() {
    let env = Env::new();
    let apple_us = fixture("apple_books/apple_books_financial_US_2025-06.txt.gz");
    let apple_eu = fixture("apple_books/apple_books_financial_EU_2025-06.txt");
    let bn = fixture("barnes_noble/bn_press_sales_variants.csv");
    let ingram = fixture("ingramspark/ingramspark_compensation_JUL-25.xls");
    import(&env, &[&apple_us, &apple_eu, &bn, &ingram], false);
    let before = by_month(&env);
    let counts: Vec<i64> = ["apple_books", "barnes_noble", "ingramspark"]
        .iter()
        .map(|p| live_events(&env, p))
        .collect();
    // The EU file's two identical lines and the B&N file's two identical rows are all kept.
    assert_eq!(counts, [7, 4, 4]);
    // B&N variants, Python over `Total Royalty`: 5.18 + 5.18 + 3.86 - 1.94.
    assert!(before.contains(&row("2025-07", "barnes_noble", "USD", 4, "12.28", 4)));
    // Same bytes again: not imported again.
    let again = env.json(&["enqueue", "bn", "--file", bn.to_str().unwrap()]);
    assert_eq!(again["deduplicated"], true);
    // Forced, and copies with other bytes: replaced by coverage.
    import(&env, &[&apple_us, &apple_eu, &bn, &ingram], true);
    let plain = env.path("us.txt");
    let mut gz = flate2::read::GzDecoder::new(std::fs::File::open(&apple_us).unwrap());
    let mut text = Vec::new();
    std::io::Read::read_to_end(&mut gz, &mut text).unwrap();
    std::fs::write(&plain, &text).unwrap();
    let crlf = env.path("bn_lf.csv");
    let bn_text = std::fs::read_to_string(&bn).unwrap().replace("\r\n", "\n");
    std::fs::write(&crlf, bn_text).unwrap();
    import(&env, &[&plain, &crlf], false);
    assert_eq!(by_month(&env), before);
    let after: Vec<i64> = ["apple_books", "barnes_noble", "ingramspark"]
        .iter()
        .map(|p| live_events(&env, p))
        .collect();
    assert_eq!(after, counts);
}

const APPLE_HEADER: &str = "Start Date\tEnd Date\tUPC\tISRC/ISBN\tVendor Identifier\tQuantity\tPartner Share\tExtended Partner Share\tPartner Share Currency\tSales or Return\tApple Identifier\tArtist/Show/Developer/Author\tTitle\tLabel/Studio/Network/Developer/Publisher\tGrid\tProduct Type Identifier\tISAN/Other Identifier\tCountry Of Sale\tPre-order Flag\tPromo Code\tCustomer Price\tCustomer Currency";

fn apple_file(path: &Path, period: (&str, &str), cur: &str, lines: &[(i64, &str, &str)]) {
    let mut text = format!(
        "Vendor Name\tLantern Lane Press\nStart Date\t{}\nEnd Date\t{}\n{APPLE_HEADER}\n",
        period.0, period.1
    );
    for (qty, ext, sr) in lines {
        text.push_str(&format!(
            "{}\t{}\t\t9781732461017\tLLP-LKD\t{qty}\t{ext}\t{ext}\t{cur}\t{sr}\t1600000315\tJane Q. Writer\tThe Lighthouse Keeper's Daughter\tLantern Lane Press\t\tEB1\t\tUS\t\t\t3.99\t{cur}\n",
            period.0, period.1
        ));
    }
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(text.as_bytes()).unwrap();
    std::fs::write(path, enc.finish().unwrap()).unwrap();
}

/// Apple: the files of two regions for one fiscal month never replace each other, a newer
/// download of one replaces only that currency, and fiscal months land in the month of their end.
#[test]
fn apple_regions_and_fiscal_months() {
    let env = Env::new();
    let june = ("05/04/2025", "05/31/2025");
    let july = ("06/01/2025", "07/05/2025");
    let (usd, eur, usd2, jul) = (
        env.path("usd.txt.gz"),
        env.path("eur.txt.gz"),
        env.path("usd-again.txt.gz"),
        env.path("jul.txt.gz"),
    );
    apple_file(&usd, june, "USD", &[(2, "2.00", "S"), (1, "1.00", "R")]);
    apple_file(&eur, june, "EUR", &[(3, "1.50", "S")]);
    apple_file(&jul, july, "USD", &[(1, "4.00", "S")]);
    import(&env, &[&usd, &eur, &jul], false);
    // Arithmetic: USD 2.00 - 1.00, units 2 - 1; EUR 1.50; the fiscal period ending 07/05 is July.
    assert_eq!(
        by_month(&env),
        vec![
            row("2025-05", "apple_books", "EUR", 3, "1.50", 1),
            row("2025-05", "apple_books", "USD", 1, "1.00", 2),
            row("2025-07", "apple_books", "USD", 1, "4.00", 1),
        ]
    );
    // A restated USD file for May: only the USD rows of May change.
    apple_file(&usd2, june, "USD", &[(3, "3.30", "S")]);
    import(&env, &[&usd2], false);
    assert_eq!(
        by_month(&env),
        vec![
            row("2025-05", "apple_books", "EUR", 3, "1.50", 1),
            row("2025-05", "apple_books", "USD", 3, "3.30", 1),
            row("2025-07", "apple_books", "USD", 1, "4.00", 1),
        ]
    );
}

const BN_HEADER: &str = "Sale Date,Title,Format,BN ID / ISBN,eBook ISBN (Optional),Author,Publisher,List Price,Sale Price,Selling Currency,Units Sold,Units Returned,Net Units Sold,Royalty %,Royalty per Unit,Total Royalty,Payment Currency";

/// A B&N export whose preamble says `Date Range: {range}`.
fn bn_file(path: &Path, range: &str, rows: &[(&str, &str, i64, &str)]) {
    let mut text = format!("\"Barnes & Noble Press - Sales Report\"\n\"Publisher: Lantern Lane Press\"\n\"Date Range: {range}\"\n\n{BN_HEADER}\n");
    for (date, format, net, royalty) in rows {
        let isbn = if *format == "NOOK Book" {
            "9781732461017"
        } else {
            ""
        };
        text.push_str(&format!(
            "{date},\"=\"\"Salt & Ember\"\"\",\"=\"\"{format}\"\"\",\"=\"\"2940185885499\"\"\",\"=\"\"{isbn}\"\"\",A,P,3.99,3.99,USD,{net},0,{net},65,2.59,{royalty},USD\n"
        ));
    }
    std::fs::write(path, text).unwrap();
}

/// A newer B&N download of the same `Date Range` replaces the rows of the whole range for the
/// formats it holds, even a day before its first row (a sale reversed since).
#[test]
fn bn_a_newer_download_replaces_its_whole_date_range() {
    let env = Env::new();
    let (old, new) = (env.path("old.csv"), env.path("new.csv"));
    bn_file(
        &old,
        "07/01/2025 - 07/31/2025",
        &[
            ("07/02/2025", "NOOK Book", 1, "2.00"),
            ("07/10/2025", "NOOK Book", 1, "3.00"),
            ("07/11/2025", "Paperback", 1, "4.00"),
        ],
    );
    bn_file(
        &new,
        "07/01/2025 - 07/31/2025",
        &[("07/10/2025", "NOOK Book", 1, "3.50")],
    );
    import(&env, &[&old], false);
    assert_eq!(env.royalty("barnes_noble"), vec![s("USD", "9.00")]);
    import(&env, &[&new], false);
    // 3.50 (the new ebook figures for July) + 4.00 (print, not in the new file).
    assert_eq!(env.royalty("barnes_noble"), vec![s("USD", "7.50")]);
}

/// B&N: three months of daily rows summed per month; an ebook-only download of an overlapping
/// range refreshes the ebook rows and leaves the print rows alone.
#[test]
fn bn_months_and_an_ebook_only_download() {
    let env = Env::new();
    let all = env.path("all.csv");
    let mut rows = Vec::new();
    // 1.00 per ebook day in May (31), 2.00 per ebook day in June (30), a paperback sale of 4.00
    // on 06/15 and a return of -1.50 on 07/02.
    let dates: Vec<(String, &str)> = (1..=31)
        .map(|d| (format!("05/{d:02}/2025"), "1.00"))
        .chain((1..=30).map(|d| (format!("06/{d:02}/2025"), "2.00")))
        .collect();
    for (d, r) in &dates {
        rows.push((d.as_str(), "NOOK Book", 1, *r));
    }
    rows.push(("06/15/2025", "Paperback", 1, "4.00"));
    rows.push(("07/02/2025", "NOOK Book", -1, "-1.50"));
    bn_file(&all, "05/01/2025 - 07/31/2025", &rows);
    import(&env, &[&all], false);
    assert_eq!(
        by_month(&env),
        vec![
            row("2025-05", "barnes_noble", "USD", 31, "31.00", 31),
            row("2025-06", "barnes_noble", "USD", 31, "64.00", 31),
            row("2025-07", "barnes_noble", "USD", -1, "-1.50", 1),
        ]
    );
    // A later download of June only, ebooks only, restated at 3.00 a day.
    let june = env.path("june-ebooks.csv");
    let june_dates: Vec<String> = (1..=30).map(|d| format!("06/{d:02}/2025")).collect();
    let june_rows: Vec<(&str, &str, i64, &str)> = june_dates
        .iter()
        .map(|d| (d.as_str(), "NOOK Book", 1, "3.00"))
        .collect();
    bn_file(&june, "06/01/2025 - 06/30/2025", &june_rows);
    import(&env, &[&june], false);
    assert_eq!(
        by_month(&env),
        vec![
            row("2025-05", "barnes_noble", "USD", 31, "31.00", 31),
            row("2025-06", "barnes_noble", "USD", 31, "94.00", 31),
            row("2025-07", "barnes_noble", "USD", -1, "-1.50", 1),
        ]
    );
}

const COMP_HEADER: &str = "isbn_13\ttitle\tbinding_type\tmarket\tsales_category\tMTD_net_quantity\tMTD_pub_comp\tMTD_net_pub_comp\tYTD_net_pub_comp\tperiod_name\treporting_currency_code";

fn comp_file(path: &Path, rows: &[(&str, &str, i64, &str, &str)]) {
    let mut text = format!("{COMP_HEADER}\r\n");
    for (market, period, qty, net, cur) in rows {
        text.push_str(&format!(
            "9798867123451\tThe Lighthouse Keeper's Daughter\tPerfectbound (Trade Paper\t{market}\tRetail\t{qty}\t99.00\t{net}\t999.00\t{period}\t{cur}\r\n"
        ));
    }
    std::fs::write(path, text).unwrap();
}

/// IngramSpark: months from `period_name`, MTD only (the `MTD_pub_comp` and `YTD_` columns here
/// hold 99.00 and 999.00 so any use of them shows), negative compensation, and reports
/// downloaded per currency never replacing each other.
#[test]
fn ingram_months_currencies_and_mtd_only() {
    let env = Env::new();
    let (both, usd_only, sales) = (
        env.path("sales_comp.xls"),
        env.path("sales_comp (1).xls"),
        env.path("sales_report.csv"),
    );
    comp_file(
        &both,
        &[
            ("LS-United States", "JUN-25", 3, "10.50", "USD"),
            ("LS-United States", "JUN-25", 3, "10.50", "USD"),
            ("LS-United Kingdom", "JUN-25", 1, "-0.40", "GBP"),
            ("LS-United States", "JUL-25", 2, "7.00", "USD"),
        ],
    );
    import(&env, &[&both], false);
    assert_eq!(
        by_month(&env),
        vec![
            row("2025-06", "ingramspark", "GBP", 1, "-0.40", 1),
            row("2025-06", "ingramspark", "USD", 6, "21.00", 2),
            row("2025-07", "ingramspark", "USD", 2, "7.00", 1),
        ]
    );
    // A USD-only report for June, restated: the GBP row and July stay.
    comp_file(
        &usd_only,
        &[("LS-United States", "JUN-25", 4, "14.00", "USD")],
    );
    import(&env, &[&usd_only], false);
    assert_eq!(
        by_month(&env),
        vec![
            row("2025-06", "ingramspark", "GBP", 1, "-0.40", 1),
            row("2025-06", "ingramspark", "USD", 4, "14.00", 1),
            row("2025-07", "ingramspark", "USD", 2, "7.00", 1),
        ]
    );
    // The Sales Report: units only, a family of its own (it replaces no compensation row).
    // For July, which the compensation report already gives with its money, its units are the
    // same sales: kept, never added (DESIGN §5). For August, which only it covers, they count.
    std::fs::write(
        &sales,
        "Sales Report\nDate Range: 07/01/2025 - 08/31/2025\n\nISBN,Title,Author,Format,BISAC Code,BISAC Description,Units Sold,Country,List Price US,Month\n9798867123451,The Lighthouse Keeper's Daughter,Jane Q. Writer,PF,FIC000000,FICTION / General,5,US,15.99,2025-07\n9798867123451,The Lighthouse Keeper's Daughter,Jane Q. Writer,PF,FIC000000,FICTION / General,3,US,15.99,2025-08\n",
    )
    .unwrap();
    let files = import(&env, &[&sales], false);
    assert_eq!(
        files[0]["layout"],
        "IngramSpark Sales Report (comma-delimited)"
    );
    assert_eq!(
        by_month(&env),
        vec![
            row("2025-06", "ingramspark", "GBP", 1, "-0.40", 1),
            row("2025-06", "ingramspark", "USD", 4, "14.00", 1),
            row("2025-07", "ingramspark", "USD", 2, "7.00", 1),
            row("2025-08", "ingramspark", "USD", 3, "0.00", 1),
        ]
    );
    let estimates: i64 = env
        .sql()
        .query_row(
            "SELECT count(*) FROM live_sales WHERE platform = 'ingramspark' AND NOT is_final",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(estimates, 2, "both Sales Report rows are kept");
}

/// Every bad sample of these platforms is rejected whole at enqueue, with its line and column,
/// by `enqueue <platform>` and by `import`, and nothing is queued with it.
#[test]
fn bad_files_are_rejected_whole_with_their_location() {
    let env = Env::new();
    let bad: [(&str, &str, PathBuf, &str); 2] = [
        (
            "apple_books",
            "apple_books",
            fixture("bad/apple_books_financial_truncated.txt.gz"),
            "apple_books_financial_truncated.txt.gz`, line 4: the gzip-compressed report is broken or cut short",
        ),
        (
            "ingramspark",
            "ingramspark",
            fixture("bad/ingramspark_compensation_CUSTOM.xls"),
            "ingramspark_compensation_CUSTOM.xls`, line 2, column `period_name`: period_name is CUSTOM",
        ),
    ];
    for (platform, name, file, needle) in &bad {
        env.cmd()
            .args(["enqueue", platform, "--file"])
            .arg(file)
            .assert()
            .code(5)
            .stderr(predicate::str::contains(*needle));
        // With a good file of the same platform: nothing is queued.
        let good = match *platform {
            "apple_books" => fixture("apple_books/apple_books_financial_EU_2025-06.txt"),
            _ => fixture("ingramspark/ingramspark_compensation_JUL-25.xls"),
        };
        env.cmd()
            .args(["enqueue", platform, "--file"])
            .arg(&good)
            .arg("--file")
            .arg(file)
            .assert()
            .code(5);
        assert_eq!(env.json(&["jobs"]).as_array().unwrap().len(), 0);
        // Without a platform, the platform whose layout it is says what is wrong.
        let out = env
            .cmd()
            .args(["import", "--json"])
            .arg(file)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(5));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["platform"], *name, "{v}");
        assert_eq!(v["status"], "rejected", "{v}");
        assert!(v["message"].as_str().unwrap().contains(needle), "{v}");
    }
    // A B&N export with a broken row, and one cut short mid-row.
    let src = std::fs::read_to_string(fixture("barnes_noble/bn_press_sales.csv")).unwrap();
    for (name, text, needle) in [
        (
            "bn_bad_money.csv",
            src.replacen(",6.27,USD", ",$6.27,USD", 1),
            "bn_bad_money.csv`, line 7, column `Total Royalty`",
        ),
        (
            "bn_cut.csv",
            src[..src.len() - 30].to_string(),
            "bn_cut.csv`, line 10: expected 17 fields",
        ),
    ] {
        let p = env.path(name);
        std::fs::write(&p, text).unwrap();
        env.cmd()
            .args(["enqueue", "bn", "--file"])
            .arg(&p)
            .assert()
            .code(5)
            .stderr(predicate::str::contains(needle));
        let out = env
            .cmd()
            .args(["import", "--json"])
            .arg(&p)
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["platform"], "barnes_noble", "{v}");
        assert!(v["message"].as_str().unwrap().contains(needle), "{v}");
    }
    assert_eq!(env.json(&["jobs"]).as_array().unwrap().len(), 0);
    let n: i64 = env
        .sql()
        .query_row("SELECT count(*) FROM sales_events", [], |r| r.get(0))
        .unwrap_or(0);
    assert_eq!(n, 0);
}

/// A file broken after it was queued fails at once, names the file, and stores nothing.
#[test]
fn a_gzip_report_cut_after_enqueue_fails_permanently() {
    let env = Env::new();
    let job = env.json(&[
        "enqueue",
        "apple_books",
        "--file",
        fixture("apple_books/apple_books_financial_US_2025-06.txt.gz")
            .to_str()
            .unwrap(),
    ]);
    let sha = job["input"]["sha256"].as_str().unwrap();
    let inbox = env.path("data/inbox").join(sha);
    let bytes = std::fs::read(&inbox).unwrap();
    std::fs::write(&inbox, &bytes[..bytes.len() / 2]).unwrap();
    let out = env.cmd().args(["run-worker", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let st = env.json(&["status", &job["id"].as_i64().unwrap().to_string()]);
    assert_eq!(st["status"], "failed");
    assert_eq!(st["attempts"], 1, "a broken file is not retried");
    assert!(st["last_error"]
        .as_str()
        .unwrap()
        .contains("apple_books_financial_US_2025-06.txt.gz"));
    assert_eq!(live_events(&env, "apple_books"), 0);
}

#[test]
fn status_and_help_know_the_new_platforms() {
    let env = Env::new();
    env.cmd().args(["run-worker"]).assert().success();
    let v = env.json(&["status"]);
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["platform"].as_str().unwrap())
        .collect();
    for p in ["apple_books", "barnes_noble", "ingramspark"] {
        assert!(names.contains(&p), "{names:?}");
    }
    env.cmd()
        .args(["enqueue", "nook-press", "--file", "x"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("apple_books")
                .and(predicate::str::contains("barnes_noble"))
                .and(predicate::str::contains("ingramspark")),
        );
    for alias in ["apple", "bn", "ingram"] {
        env.cmd()
            .args(["jobs", "--platform", alias])
            .assert()
            .success();
    }
    env.cmd()
        .args(["enqueue", "--help"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("apple, bn,").and(predicate::str::contains("ingramspark")),
        );
}
