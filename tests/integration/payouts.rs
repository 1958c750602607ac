//! Payouts end to end, on both backends: the KDP Payments workbook matched to the final
//! royalties it pays, Smashwords `payment` rows stored as payouts and never counted as sales,
//! re-imports that change nothing, a bad workbook rejected whole, and `status --check`
//! flagging royalty overdue by the platform's schedule.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::on_both;
use crate::util::{fixture, Backend, Env};

const ROYALTIES: &str = "kdp/kdp_prior_month_royalties.xlsx";
const JULY_PAYMENTS: &str = "kdp/kdp_payments_2025-07.xlsx";
const MAY_PAYMENTS: &str = "kdp/kdp_payments.xlsx";
const BAD_PAYMENTS: &str = "bad/kdp_payments_bad_amount.xlsx";
const SMASHWORDS: &str = "smashwords/smashwords_salesReport_payments.tsv";

/// Import `files` (by content, no platform named) and run the worker; every job completes.
fn import(env: &Env, files: &[&str], force: bool) {
    let mut cmd = env.cmd();
    cmd.arg("import").arg("-q");
    if force {
        cmd.arg("--force");
    }
    for f in files {
        cmd.arg(fixture(f));
    }
    cmd.assert().success();
    let run = env.json(&["run-worker"]);
    assert_eq!(run["failed"], 0, "{run}");
}

/// Cents of a decimal string (`-3.57` → -357, `754` → 75400): exact, no floats.
fn cents(s: &str) -> i64 {
    let (neg, body) = s.strip_prefix('-').map_or((false, s), |b| (true, b));
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let frac = format!("{frac:0<2}");
    assert_eq!(frac.len(), 2, "{s}");
    let v = int.parse::<i64>().unwrap() * 100 + frac.parse::<i64>().unwrap();
    if neg {
        -v
    } else {
        v
    }
}

/// The July 2025 royalty cells of `kdp_prior_month_royalties.xlsx` per marketplace, copied
/// from its eBook Royalty, Paperback Royalty and KENP Read sheets (in cents; JPY in yen × 100),
/// added up here, not by salesingest.
fn july_royalty_by_marketplace() -> BTreeMap<&'static str, i64> {
    let rows: [(&str, &str); 18] = [
        ("Amazon.com", "46.51"),
        ("Amazon.co.uk", "8.30"),
        ("Amazon.de", "6.31"),
        ("Amazon.fr", "-3.22"),
        ("Amazon.com", "20.88"),
        ("Amazon.co.jp", "318"),
        ("Amazon.com", "0"),
        ("Amazon.com", "1.04"),
        ("Amazon.ca", "4.37"),
        ("Amazon.de", "8.50"),
        ("Amazon.com", "19.24"),
        ("Amazon.co.jp", "436"),
        ("Amazon.de", "3.11"),
        ("Amazon.com", "26.72"),
        ("Amazon.co.uk", "3.61"),
        ("Amazon.com", "4.69"),
        ("Amazon.de", "6.03"),
        ("Amazon.de", "9.18"),
    ];
    let mut out = BTreeMap::new();
    for (m, v) in rows {
        *out.entry(m).or_insert(0) += cents(v);
    }
    out
}

fn platform<'a>(report: &'a Value, name: &str) -> &'a Value {
    report
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["platform"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

fn check(env: &Env) -> (i32, Value) {
    let out = env
        .cmd()
        .args(["status", "--check", "--json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    (out.status.code().unwrap(), v)
}

on_both! {
    /// A KDP Payments workbook pays the July sales of the Prior Months' Royalties workbook:
    /// each payout is matched to the final royalty of its marketplace and currency, and the
    /// difference (withholding, adjustments) is exact to the cent against sums made here. The
    /// payments add no sale; importing the workbook again changes nothing.
    fn kdp_payments_match_the_final_royalties_they_pay(backend) {
        let env = Env::on(backend);
        import(&env, &[ROYALTIES], false);
        let events = env.scalar("SELECT count(*) FROM sales_events");
        let summary = env.json(&["sales", "summary", "--by", "currency"]);
        import(&env, &[JULY_PAYMENTS], false);
        assert_eq!(env.scalar("SELECT count(*) FROM payouts"), 5);
        assert_eq!(env.scalar("SELECT count(*) FROM sales_events"), events, "payouts are not sales");
        assert_eq!(env.json(&["sales", "summary", "--by", "currency"]), summary);

        let report = env.json(&["sales", "payouts"]);
        let kdp = platform(&report, "amazon_kdp");
        let earned = july_royalty_by_marketplace();
        // Net Earnings per payment, from the generator's table (make_kdp_payments.py).
        let net: BTreeMap<&str, (&str, &str, &str, &str)> = [
            ("Amazon.com", ("USD", "115.51", "115.51", "USD")),
            ("Amazon.co.uk", ("GBP", "11.91", "16.04", "USD")),
            ("Amazon.de", ("EUR", "32.73", "38.33", "USD")),
            ("Amazon.co.jp", ("JPY", "754", "5.13", "USD")),
            ("Amazon.ca", ("CAD", "4.37", "3.19", "USD")),
        ]
        .into_iter()
        .collect();
        let payouts = kdp["payouts"].as_array().unwrap();
        assert_eq!(payouts.len(), 5, "{kdp}");
        let mut differences = BTreeMap::new();
        for p in payouts {
            let m = p["marketplace"].as_str().unwrap();
            let (cur, n, amount, paid_in) = net[m];
            assert_eq!(p["royalty_currency"], cur, "{p}");
            assert_eq!(cents(p["net"].as_str().unwrap()), cents(n), "{p}");
            assert_eq!(cents(p["amount"].as_str().unwrap()), cents(amount), "{p}");
            assert_eq!(p["currency"], paid_in, "{p}");
            assert_eq!(p["paid_on"], "2025-09-29");
            assert_eq!(p["period_start"], "2025-07-01");
            assert_eq!(p["period_end"], "2025-07-31");
            assert_eq!(cents(p["earned"].as_str().unwrap()), earned[m], "{m}: {p}");
            let diff = cents(p["difference"].as_str().unwrap());
            assert_eq!(diff, cents(n) - earned[m], "{m}: {p}");
            differences.insert(m.to_string(), diff);
        }
        // Amazon.com: 3.57 USD withheld; Amazon.de: an adjustment of -0.40 EUR; the rest paid
        // exactly what was earned.
        let want: BTreeMap<String, i64> = [
            ("Amazon.ca", 0),
            ("Amazon.co.jp", 0),
            ("Amazon.co.uk", 0),
            ("Amazon.com", -357),
            ("Amazon.de", -40),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
        assert_eq!(differences, want);
        // Amazon.fr's July balance is negative: nothing is owed, nothing unpaid.
        assert_eq!(kdp["unpaid"], serde_json::json!([]), "{kdp}");

        // The same workbook again (forced through the worker): nothing changes, ids included.
        let ids = env.scalar("SELECT CAST(sum(id) AS bigint) FROM payouts");
        import(&env, &[JULY_PAYMENTS], true);
        assert_eq!(env.scalar("SELECT count(*) FROM payouts"), 5);
        assert_eq!(env.scalar("SELECT CAST(sum(id) AS bigint) FROM payouts"), ids);
        assert_eq!(env.json(&["sales", "payouts"]), report);
        // Filters: by payment date and platform.
        // Paid before 2025-09-29: nothing (and July, paid later, is not unpaid).
        let none = env.json(&["sales", "payouts", "--until", "2025-09-28", "--platform", "amazon_kdp"]);
        assert_eq!(none, serde_json::json!([]));
        let all = env.json(&["sales", "payouts", "--since", "2025-09", "--platform", "amazon_kdp"]);
        assert_eq!(all, report);
        assert_eq!(env.json(&["sales", "payouts", "--platform", "kobo"]), serde_json::json!([]));
        // A human table names every marketplace.
        let out = env.cmd().args(["sales", "payouts"]).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        for m in net.keys() {
            assert!(text.contains(m), "{text}");
        }
        assert!(text.contains("-3.57 USD"), "{text}");
    }
}

on_both! {
    /// A Smashwords report's `payment` row is stored as a payout (amount = −net, dated
    /// balanceAdjusted) and never counted as a sale; re-importing the report changes nothing.
    fn smashwords_payments_are_payouts_not_sales(backend) {
        let env = Env::on(backend);
        import(&env, &[SMASHWORDS], false);
        assert_eq!(env.scalar("SELECT count(*) FROM payouts"), 1);
        assert_eq!(env.scalar("SELECT count(*) FROM sales_events WHERE title = 'Payment'"), 0);
        // Python `decimal` over the `net` cells of the non-payment rows: USD 11.94.
        assert!(
            env.royalty("smashwords").contains(&("USD".to_string(), "11.94".to_string())),
            "{:?}",
            env.royalty("smashwords")
        );
        let report = env.json(&["sales", "payouts", "--platform", "smashwords"]);
        let sw = platform(&report, "smashwords");
        let p = &sw["payouts"][0];
        assert_eq!(p["reference"], "88412");
        assert_eq!(p["paid_on"], "2025-08-15");
        assert_eq!(p["amount"], "9.46");
        assert_eq!(p["currency"], "USD");
        assert_eq!(p["source"], "smashwords.payment");
        assert_eq!(p["period_start"], Value::Null);
        assert_eq!(p["period_end"], "2025-08-15");
        assert_eq!(p["period_stated"], false);
        // Earned = the final USD royalty up to the payment, as `sales summary` sums it.
        let finals = env.json(&[
            "sales", "summary", "--by", "currency", "--platform", "smashwords", "--final-only",
            "--until", "2025-08-15",
        ]);
        let usd = finals
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["currency"] == "USD")
            .map_or(0, |r| cents(r["royalty"].as_str().unwrap()));
        assert_eq!(cents(p["earned"].as_str().unwrap()), usd, "{finals}");
        assert_eq!(cents(p["difference"].as_str().unwrap()), 946 - usd);
        // Smashwords has no published schedule: nothing is ever overdue.
        assert!(sw["unpaid"].as_array().unwrap().iter().all(|u| u["overdue"] == false && u["due_on"].is_null()), "{sw}");
        import(&env, &[SMASHWORDS], true);
        assert_eq!(env.scalar("SELECT count(*) FROM payouts"), 1);
        assert_eq!(env.json(&["sales", "payouts", "--platform", "smashwords"]), report);
        assert_eq!(check(&env).0, 0, "{}", check(&env).1);
    }
}

on_both! {
    /// A Payments workbook with one bad amount is rejected whole at import (exit 5, naming the
    /// sheet, row and column), and nothing is queued or stored.
    fn a_bad_payments_workbook_is_rejected_whole(backend) {
        let env = Env::on(backend);
        let want = "sheet `Payments`, row 9, column `Payout Amount`";
        let out = env.cmd().arg("import").arg(fixture(BAD_PAYMENTS)).output().unwrap();
        assert_eq!(out.status.code(), Some(5));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want) && err.contains("38,33"), "{err}");
        let out = env
            .cmd()
            .args(["enqueue", "amazon_kdp", "--file"])
            .arg(fixture(BAD_PAYMENTS))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(5));
        assert!(String::from_utf8_lossy(&out.stderr).contains(want));
        assert_eq!(env.scalar("SELECT count(*) FROM jobs"), 0);
        assert_eq!(env.scalar("SELECT count(*) FROM payouts"), 0);
    }
}

on_both! {
    /// Royalty no payout covers is overdue once the schedule's date has passed (KDP: 60 days
    /// after the month), for a platform whose payouts are imported: `status --check` exits 6
    /// naming each month and marketplace; the payments of that month clear it.
    fn status_check_flags_a_payout_overdue_by_the_schedule(backend) {
        let env = Env::on(backend);
        import(&env, &[ROYALTIES], false);
        // No KDP payout imported: the author does not track them, so nothing is flagged.
        let (code, v) = check(&env);
        assert_eq!(code, 0, "{v}");
        // May's payments are imported; July (due 2025-09-29) is not paid.
        import(&env, &[MAY_PAYMENTS], false);
        let (code, v) = check(&env);
        assert_eq!(code, 6, "{v}");
        let overdue: Vec<&Value> = v
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["kind"] == "payout_overdue")
            .collect();
        assert_eq!(overdue.len(), 5, "{v}");
        for p in &overdue {
            assert_eq!(p["platform"], "amazon_kdp");
            assert_eq!(p["month"], "2025-07");
            assert!(p["message"].as_str().unwrap().contains("2025-09-29"), "{p}");
        }
        assert!(
            overdue.iter().any(|p| p["message"].as_str().unwrap().contains("119.08 USD earned in 2025-07 on Amazon.com")),
            "{v}"
        );
        let report = env.json(&["sales", "payouts"]);
        let unpaid = platform(&report, "amazon_kdp")["unpaid"].as_array().unwrap().clone();
        let got: Vec<(String, String, String)> = unpaid
            .iter()
            .map(|u| {
                assert_eq!(u["due_on"], "2025-09-29");
                assert_eq!(u["overdue"], true);
                (
                    u["marketplace"].as_str().unwrap().to_string(),
                    u["earned"].as_str().unwrap().to_string(),
                    u["currency"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
        assert_eq!(
            got,
            [
                s("Amazon.ca", "4.37", "CAD"),
                s("Amazon.co.jp", "754", "JPY"),
                s("Amazon.co.uk", "11.91", "GBP"),
                s("Amazon.com", "119.08", "USD"),
                s("Amazon.de", "33.13", "EUR"),
            ]
        );
        let out = env.cmd().args(["status", "--check"]).output().unwrap();
        assert_eq!(out.status.code(), Some(6));
        assert!(String::from_utf8_lossy(&out.stdout).contains("amazon_kdp: 4.37 CAD earned in 2025-07 on Amazon.ca"));
        // July's payments arrive: nothing is overdue any more.
        import(&env, &[JULY_PAYMENTS], false);
        let (code, v) = check(&env);
        assert_eq!(code, 0, "{v}");
    }
}

/// `migrate` copies the payouts table (and counts it), and both stores report the same
/// payouts byte for byte.
#[test]
#[cfg_attr(
    not(salesingest_test_pg),
    ignore = "needs PostgreSQL: no server answered on 127.0.0.1:5432 when this was built"
)]
fn migrate_copies_payouts() {
    let lite = Env::on(Backend::Sqlite);
    import(&lite, &[ROYALTIES, JULY_PAYMENTS, SMASHWORDS], false);
    let pg = crate::pg::PgDb::create();
    let out = lite
        .cmd()
        .args(["migrate", "--json", "--from"])
        .arg(lite.db_path())
        .args(["--to", &pg.url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let t = report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "payouts")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(t["sqlite"], 6);
    assert_eq!(t["postgres"], 6);
    let a = lite
        .cmd()
        .args(["sales", "payouts", "--json"])
        .output()
        .unwrap();
    let b = lite
        .cmd()
        .env("SALESINGEST_DB", &pg.url)
        .args(["sales", "payouts", "--json"])
        .output()
        .unwrap();
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    assert_eq!(
        String::from_utf8_lossy(&a.stdout),
        String::from_utf8_lossy(&b.stdout)
    );
}

on_both! {
    /// A newer download of the same payment date (here a CSV copy of the Payments sheet)
    /// replaces the payouts of that date: a payment it restates is updated in place, one it
    /// no longer lists is removed, and the month that payment paid is unpaid again.
    fn a_newer_payments_download_replaces_by_payment_date(backend) {
        let env = Env::on(backend);
        import(&env, &[ROYALTIES, JULY_PAYMENTS], false);
        let com_id = env.scalar("SELECT id FROM payouts WHERE marketplace = 'Amazon.com'");
        import(&env, &["kdp/kdp_payments_2025-07_restated.csv"], false);
        assert_eq!(env.scalar("SELECT count(*) FROM payouts"), 4);
        assert_eq!(env.scalar("SELECT id FROM payouts WHERE marketplace = 'Amazon.com'"), com_id);
        let report = env.json(&["sales", "payouts"]);
        let kdp = platform(&report, "amazon_kdp");
        let com = kdp["payouts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["marketplace"] == "Amazon.com")
            .unwrap();
        assert_eq!(com["net"], "116.08");
        assert_eq!(com["withholding"], "-3.00");
        assert_eq!(cents(com["difference"].as_str().unwrap()), 11608 - july_royalty_by_marketplace()["Amazon.com"]);
        let unpaid = kdp["unpaid"].as_array().unwrap();
        assert_eq!(unpaid.len(), 1, "{kdp}");
        assert_eq!(unpaid[0]["marketplace"], "Amazon.ca");
        assert_eq!(unpaid[0]["earned"], "4.37");
        assert_eq!(check(&env).0, 6);
    }
}

on_both! {
    /// The payments a Google Play earnings report (`Earnings Date`) and a StreetLib invoice
    /// (`Billing date`) state for their rows are stored as `stated` payouts: they pay exactly
    /// the rows they sum (difference 0), are never sales, and a re-import changes nothing. The
    /// USD and EUR earnings reports of one payment date (one per payment profile) never
    /// replace each other's payment.
    fn stated_payments_of_the_new_reports_are_payouts(backend) {
        let env = Env::on(backend);
        let files = [
            "streetlib/streetlib_billing_report.xlsx",
            "google_play/google_play_earnings_USD_2025-07.csv",
            "google_play/google_play_earnings_EUR_2025-07.csv",
        ];
        import(&env, &files, false);
        let report = env.json(&["sales", "payouts"]);
        let mut got = Vec::new();
        for p in report.as_array().unwrap() {
            for v in p["payouts"].as_array().unwrap() {
                assert_eq!(v["status"], "stated", "{v}");
                assert_eq!(v["period_stated"], true, "{v}");
                assert_eq!(cents(v["difference"].as_str().unwrap()), 0, "{v}");
                got.push(format!(
                    "{} {} {} {}",
                    p["platform"].as_str().unwrap(),
                    v["paid_on"].as_str().unwrap(),
                    v["amount"].as_str().unwrap(),
                    v["currency"].as_str().unwrap()
                ));
            }
        }
        assert_eq!(
            got,
            [
                "google_play 2025-07-31 5.78 EUR",
                "google_play 2025-07-31 8.22 USD",
                "streetlib 2025-07-05 8.23 EUR",
                "streetlib 2025-07-05 1.37 GBP",
                "streetlib 2025-07-05 1.97 USD",
            ]
        );
        let gp = platform(&report, "google_play");
        assert_eq!(gp["unpaid"], serde_json::json!([]), "{gp}");
        assert_eq!(check(&env).0, 0, "{}", check(&env).1);
        import(&env, &files, true);
        assert_eq!(env.scalar("SELECT count(*) FROM payouts"), 5);
        assert_eq!(env.json(&["sales", "payouts"]), report);
        // Imported again in the other order: the same payouts.
        import(&env, &[files[2], files[1]], true);
        assert_eq!(env.json(&["sales", "payouts"]), report);
    }
}
