//! KDP and Smashwords through the binary: estimates replaced by finals, idempotency, bad files.

use predicates::prelude::*;

use crate::util::{fixture, Env};

fn import(env: &Env, platform: &str, files: &[&str]) {
    let mut cmd = env.cmd();
    cmd.args(["enqueue", platform]);
    for f in files {
        cmd.arg("--file").arg(fixture(f));
    }
    cmd.assert().success();
    env.cmd().args(["run-worker"]).assert().code(0);
}

fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
    v.sort();
    v
}

/// Royalty per currency after importing the estimator workbook (June + July 2025) and the
/// Prior Months' Royalties workbook (July 2025): June from the estimator, July only from the
/// final report. Computed independently with openpyxl + decimal over both workbooks.
fn expected_estimate_plus_final() -> Vec<(String, String)> {
    [
        ("AUD", "9.86"),
        ("BRL", "3.47"),
        ("CAD", "4.37"),
        ("EUR", "29.91"),
        ("GBP", "11.91"),
        ("INR", "117.42"),
        ("JPY", "754"),
        ("USD", "203.12"),
    ]
    .iter()
    .map(|(c, r)| (c.to_string(), r.to_string()))
    .collect()
}

#[test]
fn final_report_replaces_estimates_whatever_the_order() {
    for order in [
        [
            "kdp/kdp_royalties_estimator.xlsx",
            "kdp/kdp_prior_month_royalties.xlsx",
        ],
        [
            "kdp/kdp_prior_month_royalties.xlsx",
            "kdp/kdp_royalties_estimator.xlsx",
        ],
    ] {
        let env = Env::new();
        import(&env, "kdp", &[order[0]]);
        import(&env, "kdp", &[order[1]]);
        assert_eq!(
            sorted(env.royalty("amazon_kdp")),
            expected_estimate_plus_final(),
            "{order:?}"
        );
        // The July estimates are kept, only shadowed.
        let kept: i64 = env
            .sql()
            .query_row(
                "SELECT count(*) FROM live_sales WHERE family GLOB 'kdp_estimate.*' AND month = '2025-07'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(kept > 0);
        let overview = env.json(&["status"]);
        let kdp = overview
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["platform"] == "amazon_kdp")
            .unwrap();
        assert_eq!(kdp["final_through"], "2025-07-31");
        // Re-importing either file (forced) changes nothing.
        env.cmd()
            .args(["enqueue", "kdp", "--force", "--file"])
            .arg(fixture(order[0]))
            .assert()
            .success();
        env.cmd().args(["run-worker"]).assert().code(0);
        assert_eq!(
            sorted(env.royalty("amazon_kdp")),
            expected_estimate_plus_final()
        );
    }
}

#[test]
fn identical_rows_are_separate_sales() {
    let env = Env::new();
    import(&env, "kdp", &["kdp/kdp_royalties_estimator.xlsx"]);
    // The estimator's Paperback Royalty sheet has two byte-identical rows: both are kept.
    let dup: i64 = env
        .sql()
        .query_row(
            "SELECT max(n) FROM (SELECT count(*) AS n FROM sales_events WHERE format = 'paperback'
               GROUP BY raw)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(dup, 2);
}

#[test]
fn kdp_and_smashwords_bad_files_are_rejected_with_locations() {
    let env = Env::new();
    for (platform, file, needles) in [
        (
            "kdp",
            "bad/kdp_ebook_royalty_nonnumeric.csv",
            &["line 2", "column `Royalty`"][..],
        ),
        (
            "kdp",
            "bad/kdp_ebook_royalty_spanish_headers.csv",
            &["Spanish"][..],
        ),
        (
            "kdp",
            "bad/kdp_ebook_royalty_wrong_headers.csv",
            &["`Royalty Date`"][..],
        ),
        (
            "kdp",
            "bad/kdp_royalties_estimator_truncated.xlsx",
            &["not a valid XLSX"][..],
        ),
        ("kdp", "kdp/kdp_legacy_monthly_2013.csv", &["2011"][..]),
        (
            "smashwords",
            "bad/smashwords_salesReport_commas_in_tsv.tsv",
            &["header"][..],
        ),
        (
            "smashwords",
            "kdp/kdp_royalties_estimator.xlsx",
            &["kdp_royalties_estimator.xlsx"][..],
        ),
    ] {
        let mut pred = predicate::str::contains(file.rsplit('/').next().unwrap()).boxed();
        for n in needles {
            pred = pred.and(predicate::str::contains(*n)).boxed();
        }
        env.cmd()
            .args(["enqueue", platform, "--file"])
            .arg(fixture(file))
            .assert()
            .code(5)
            .stderr(pred);
    }
    // BOM + CRLF copies and CSV text named .xlsx are accepted.
    import(&env, "kdp", &["bad/kdp_ebook_royalty_bom_crlf.csv"]);
    assert_eq!(
        env.json(&["jobs", "--status", "completed"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let n: i64 = env
        .sql()
        .query_row("SELECT count(*) FROM sales_events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 14);
}

#[test]
fn smashwords_later_download_updates_rows_instead_of_adding() {
    let env = Env::new();
    import(
        &env,
        "smashwords",
        &["smashwords/smashwords_salesReport.tsv"],
    );
    let before = sorted(env.royalty("smashwords"));
    // `net` per `currency`, computed with Python's decimal over the TSV.
    assert_eq!(
        before,
        [
            ("AUD", "-2.54"),
            ("CAD", "8.39"),
            ("EUR", "2.16"),
            ("GBP", "4.49"),
            ("USD", "14.81")
        ]
        .iter()
        .map(|(c, r)| (c.to_string(), r.to_string()))
        .collect::<Vec<_>>()
    );
    let q = |env: &Env, sql: &str| -> i64 { env.sql().query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(q(&env, "SELECT count(*) FROM live_sales WHERE is_final"), 7);
    // The same period downloaded later, with the retailer rows now paid.
    import(
        &env,
        "smashwords",
        &["smashwords/smashwords_salesReport_paid_later.tsv"],
    );
    assert_eq!(sorted(env.royalty("smashwords")), before);
    assert_eq!(q(&env, "SELECT count(*) FROM live_sales"), 11);
    assert_eq!(
        q(&env, "SELECT count(*) FROM live_sales WHERE is_final"),
        11
    );
    // The comma-separated copy of the first download replaces it again: still 11 events.
    import(&env, "smashwords", &["smashwords/smashwords_sales.csv"]);
    assert_eq!(q(&env, "SELECT count(*) FROM live_sales"), 11);
    assert_eq!(sorted(env.royalty("smashwords")), before);
}

/// A real KDP workbook (`kdp_reports_2025.xlsx`) given shared strings that inflate to 40 MB
/// from well under 1 MB of zip, as a zip bomb would: rejected at enqueue, naming the part,
/// before the XLSX reader holds them in memory. Nothing is queued.
#[test]
fn a_workbook_that_inflates_far_beyond_a_report_is_rejected() {
    use std::io::{Read, Write};
    let env = Env::new();
    let path = env.path("bomb.xlsx");
    let mut src =
        zip::ZipArchive::new(std::fs::File::open(fixture("kdp/kdp_reports_2025.xlsx")).unwrap())
            .unwrap();
    let mut out = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for i in 0..src.len() {
        let mut part = src.by_index(i).unwrap();
        let mut data = Vec::new();
        part.read_to_end(&mut data).unwrap();
        out.start_file(part.name(), opts).unwrap();
        out.write_all(&data).unwrap();
    }
    out.start_file("xl/sharedStrings.xml", opts).unwrap();
    out.write_all(b"<sst>").unwrap();
    let si = format!("<si><t>{}</t></si>", "A".repeat(4000));
    for _ in 0..10_000 {
        out.write_all(si.as_bytes()).unwrap();
    }
    out.write_all(b"</sst>").unwrap();
    out.finish().unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() < 1 << 20);
    env.cmd()
        .args(["enqueue", "kdp", "--file"])
        .arg(&path)
        .assert()
        .code(5)
        .stderr(predicate::str::contains("xl/sharedStrings.xml"))
        .stderr(predicate::str::contains("more than 32 MB"));
    assert_eq!(env.json(&["jobs"]).as_array().unwrap().len(), 0);
}
