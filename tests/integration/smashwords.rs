//! Smashwords through the binary: `payment` rows (payouts, never sales) and unknown row types.

use predicates::prelude::*;

use crate::util::{fixture, Env};

const PAYMENTS: &str = "smashwords/smashwords_salesReport_payments.tsv";

const WARNING: &str = "kept 1 `payment` row as payouts (Smashwords paid 9.46 USD; not sales: never counted as royalty; see `salesingest sales payouts`)";

fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
    v.sort();
    v
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| ((*a).to_string(), (*b).to_string()))
        .collect()
}

/// A real Sales & Payment Report ends with a `payment` row (empty `qty` and `isbn`): the file is
/// imported, the payment is never counted, and enqueue, the job's warnings and `import` say how
/// many rows were skipped and their total.
#[test]
fn a_report_with_payment_rows_imports_its_sales_only() {
    let env = Env::new();
    env.cmd()
        .args(["enqueue", "smashwords", "--file"])
        .arg(fixture(PAYMENTS))
        .assert()
        .success()
        .stderr(predicate::str::contains(WARNING));
    let run = env.json(&["run-worker"]);
    assert_eq!(run["completed"], 1, "{run}");
    assert_eq!(run["jobs"][0]["events"]["inserted"], 7);
    // `net` per `currency` over the rows whose type is not `payment` (Python `decimal`); the
    // payment's −9.46 USD is not subtracted.
    assert_eq!(
        sorted(env.royalty("smashwords")),
        pairs(&[("CAD", "4.79"), ("GBP", "-1.79"), ("USD", "11.94")])
    );
    let status = env.json(&["status", "1"]);
    let warnings = status["result"]["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{status}");
    assert!(warnings[0].as_str().unwrap().ends_with(WARNING), "{status}");
    assert_eq!(status["result"]["rows"], 8);
    let titles: i64 = env
        .sql()
        .query_row(
            "SELECT count(*) FROM sales_events WHERE title = 'Payment'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(titles, 0);

    // `import` recognises the file by content and says the same.
    let other = Env::new();
    other
        .cmd()
        .arg("import")
        .arg(fixture(PAYMENTS))
        .assert()
        .success()
        .stderr(predicate::str::contains(WARNING));
}

/// The payment is dated 2025-08-15, after the file's last sale (2025-07-02): it must not widen
/// the period the file replaces, or a sale of August imported from another file would vanish.
#[test]
fn a_payment_row_does_not_widen_the_period_the_file_replaces() {
    let env = Env::new();
    let august = env.path("august.tsv");
    let header = std::fs::read_to_string(fixture(PAYMENTS))
        .unwrap()
        .split('\r')
        .next()
        .unwrap()
        .to_string();
    std::fs::write(
        &august,
        format!("{header}\rsale\tSmashwords.com\t\t501201\t978-1-73246-101-7\tThe Lighthouse Keeper's Daughter\tJane Q. Writer (jqwriter)\t3.99\t1\t3.99\t\t\t-0.6\t0\t-0.42\t\t2.97\tUSD\t2.97\t2025-08-10 9:00\t2025-08-10 9:00\r"),
    )
    .unwrap();
    for f in [august, fixture(PAYMENTS)] {
        env.cmd()
            .args(["enqueue", "smashwords", "--file"])
            .arg(f)
            .assert()
            .success();
        env.cmd().arg("run-worker").assert().code(0);
    }
    assert_eq!(
        sorted(env.royalty("smashwords")),
        pairs(&[("CAD", "4.79"), ("GBP", "-1.79"), ("USD", "14.91")])
    );
}

/// A row type other than `sale`, `retailer sale` and `payment` rejects the file at enqueue,
/// naming the line and the value; nothing is queued.
#[test]
fn an_unknown_row_type_is_rejected_naming_line_and_value() {
    let env = Env::new();
    env.cmd()
        .args(["enqueue", "smashwords", "--file"])
        .arg(fixture("bad/smashwords_unknown_type.tsv"))
        .assert()
        .code(5)
        .stderr(predicate::str::contains(
            "smashwords_unknown_type.tsv`, line 9, column `type`",
        ))
        .stderr(predicate::str::contains("found `adjustment`"));
    assert_eq!(env.json(&["jobs"]).as_array().unwrap().len(), 0);
}
