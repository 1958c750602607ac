//! Draft2Digital imports through the binary: totals to the cent, idempotency, overlaps, bad input.

use predicates::prelude::*;

use crate::util::{d2d_row, day, fixture, write_d2d, Env};

fn import(env: &Env, files: &[&std::path::Path], force: bool) {
    let mut cmd = env.cmd();
    cmd.args(["enqueue", "d2d"]);
    for f in files {
        cmd.arg("--file").arg(f);
    }
    if force {
        cmd.arg("--force");
    }
    cmd.assert().success();
    env.cmd().args(["run-worker"]).assert().code(0);
}

fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
    v.sort();
    v
}

fn s(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

#[test]
fn ebook_and_print_totals_to_the_cent() {
    let env = Env::new();
    import(
        &env,
        &[
            &fixture("d2d/d2d_sales.csv"),
            &fixture("d2d/d2d_sales_print.csv"),
        ],
        false,
    );
    // Sums of `Publisher Share` per `Currency Code`, computed independently with Python's
    // decimal module over both files.
    assert_eq!(
        sorted(env.royalty("draft2digital")),
        vec![
            s("AUD", "0.00"),
            s("CAD", "4.19"),
            s("EUR", "5.19"),
            s("GBP", "6.69"),
            s("USD", "51.80")
        ]
    );
    let sql = env.sql();
    let (events, units): (i64, i64) = sql
        .query_row(
            "SELECT count(*), sum(units) FROM live_sales WHERE platform = 'draft2digital'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(events, 14);
    // Net Unit Sales of both files (the return row counts -1, the AU row 0).
    assert_eq!(units, 25);
    // The Apple fiscal period keeps its span and belongs to the month of its end.
    let (start, end, month): (String, String, String) = sql
        .query_row(
            "SELECT period_start, period_end, month FROM sales_events WHERE country = 'AU'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (start.as_str(), end.as_str(), month.as_str()),
        ("2025-06-29", "2025-07-26", "2025-07")
    );
    let finals: i64 = sql
        .query_row(
            "SELECT count(*) FROM sales_events WHERE is_final",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(finals > 0 && finals < 14);
}

#[test]
fn reimport_and_bom_crlf_copies_change_nothing() {
    let env = Env::new();
    let file = fixture("d2d/d2d_sales.csv");
    import(&env, &[&file], false);
    let before = sorted(env.royalty("draft2digital"));
    // Same bytes: not imported again.
    let again = env.json(&["enqueue", "d2d", "--file", file.to_str().unwrap()]);
    assert_eq!(again["deduplicated"], true);
    assert_eq!(again["status"], "completed");
    // The same bytes named as another platform are checked as that platform, not waved
    // through as "already imported".
    env.cmd()
        .args(["enqueue", "kdp", "--file"])
        .arg(&file)
        .assert()
        .code(5)
        .stderr(predicate::str::contains("d2d_sales.csv"));
    // Forced, and the same report saved with a BOM or with CRLF: replaced by coverage.
    import(&env, &[&file], true);
    import(&env, &[&fixture("bad/d2d_sales_bom.csv")], false);
    import(&env, &[&fixture("bad/d2d_sales_crlf.csv")], false);
    assert_eq!(sorted(env.royalty("draft2digital")), before);
    let n: i64 = env
        .sql()
        .query_row("SELECT count(*) FROM live_sales", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 11);
}

#[test]
fn overlapping_download_refreshes_the_overlap_and_keeps_identical_rows() {
    let env = Env::new();
    let a = env.path("july-early.csv");
    let b = env.path("july-later.csv");
    // First download: July 1–10, 1.00 a day, and two identical sales on July 3.
    let mut rows: Vec<String> = (1..=10)
        .map(|d| d2d_row(&format!("2025-07-{d:02}"), "1.00", 1))
        .collect();
    rows.push(d2d_row("2025-07-03", "1.00", 1));
    write_d2d(&a, &rows);
    import(&env, &[&a], false);
    assert_eq!(env.royalty("draft2digital"), vec![s("USD", "11.00")]);
    // A later download covering July 5–15 with restated figures (2.00 a day).
    let rows: Vec<String> = (5..=15)
        .map(|d| d2d_row(&format!("2025-07-{d:02}"), "2.00", 1))
        .collect();
    write_d2d(&b, &rows);
    import(&env, &[&b], false);
    // July 1–4 from the first file (4 days + the identical July 3 sale), July 5–15 from the second.
    assert_eq!(env.royalty("draft2digital"), vec![s("USD", "27.00")]);
    // Importing the older download again replaces July 1–10 with its figures; nothing doubles.
    import(&env, &[&a], true);
    assert_eq!(env.royalty("draft2digital"), vec![s("USD", "21.00")]);
    let n: i64 = env
        .sql()
        .query_row("SELECT count(*) FROM live_sales", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 16);
}

#[test]
fn bad_files_are_rejected_whole_at_enqueue() {
    let env = Env::new();
    for (file, needle) in [
        ("bad/d2d_sales_nonnumeric_amount.csv", "line 5"),
        ("bad/d2d_sales_truncated.csv", "truncated"),
        ("bad/d2d_sales_wrong_headers.csv", "`Net Unit Sales`"),
        ("bad/empty.csv", "empty"),
    ] {
        env.cmd()
            .args(["enqueue", "d2d", "--file"])
            .arg(fixture(file))
            .assert()
            .code(5)
            .stderr(predicate::str::contains(needle));
    }
    // A good file and a bad one together: nothing is queued.
    env.cmd()
        .args(["enqueue", "d2d", "--file"])
        .arg(fixture("d2d/d2d_sales.csv"))
        .arg("--file")
        .arg(fixture("bad/d2d_sales_truncated.csv"))
        .assert()
        .code(5);
    assert_eq!(env.json(&["jobs"]).as_array().unwrap().len(), 0);
    // Header only: accepted with a warning, no events.
    env.cmd()
        .args(["enqueue", "d2d", "--file"])
        .arg(fixture("bad/header_only_d2d.csv"))
        .assert()
        .success()
        .stderr(predicate::str::contains("no sales rows"));
}

/// A stray double quote opens a quoted cell that never closes: the rest of a big file would be
/// one cell. The file is rejected at enqueue with the quote's line, after reading about 1 MB,
/// not the whole file into memory.
#[test]
fn a_stray_quote_in_a_big_file_is_rejected_at_its_line() {
    let env = Env::new();
    let path = env.path("stray_quote.csv");
    let mut rows: Vec<String> = (0..30_000)
        .map(|i| d2d_row(&day(i % 300), "1.00", 1))
        .collect();
    rows[4] = rows[4].replacen("Lantern Lane Press", "\"Lantern Lane Press", 1);
    write_d2d(&path, &rows);
    assert!(std::fs::metadata(&path).unwrap().len() > 5 << 20);
    env.cmd()
        .args(["enqueue", "d2d", "--file"])
        .arg(&path)
        .assert()
        .code(5)
        .stderr(predicate::str::contains("line 6"))
        .stderr(predicate::str::contains("never closed"));
    assert_eq!(env.json(&["jobs"]).as_array().unwrap().len(), 0);
}

#[test]
fn a_file_broken_after_enqueue_fails_at_once_and_stores_nothing() {
    let env = Env::new();
    let job = env.json(&[
        "enqueue",
        "d2d",
        "--file",
        fixture("d2d/d2d_sales.csv").to_str().unwrap(),
    ]);
    let sha = job["input"]["sha256"].as_str().unwrap();
    // Truncate the inbox copy in the middle of a row.
    let inbox = env.path("data/inbox").join(sha);
    let text = std::fs::read_to_string(&inbox).unwrap();
    std::fs::write(&inbox, &text[..text.len() - 40]).unwrap();
    let run = {
        let out = env.cmd().args(["run-worker", "--json"]).output().unwrap();
        assert_eq!(out.status.code(), Some(3));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    assert_eq!(run["failed"], 1);
    let id = job["id"].as_i64().unwrap().to_string();
    let st = env.json(&["status", &id]);
    assert_eq!(st["status"], "failed");
    assert_eq!(st["attempts"], 1, "a permanent error is not retried");
    assert!(st["last_error"].as_str().unwrap().contains("d2d_sales.csv"));
    let n: i64 = env
        .sql()
        .query_row("SELECT count(*) FROM sales_events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0, "nothing from a rejected file is stored");
}
