//! A report file replaces only what it carries (issue #16): CSV copies of any KDP sheet, daily
//! and lifetime KDP downloads of the same month, the Summary's KENP royalty, Spanish workbooks,
//! D2D ebook and print reports, Smashwords copies, old binary `.xls` files. Every figure goes
//! through the binary (`sales summary --json`).

use std::path::{Path, PathBuf};

use calamine::{Data, Reader, Xlsx};
use predicates::prelude::*;

use crate::util::{fixture, Env};

/// Enqueue one file (as `kdp`) and run it.
fn import(env: &Env, file: &Path) {
    import_as(env, "kdp", file);
}

fn import_as(env: &Env, platform: &str, file: &Path) {
    env.cmd()
        .args(["enqueue", platform, "--file"])
        .arg(file)
        .assert()
        .success();
    env.cmd().args(["run-worker"]).assert().code(0);
}

/// `sales summary --by format,month,currency --json`, one line per group: everything but the
/// event count (a union sheet and the per-format sheets hold the same sales in as many rows).
fn summary(env: &Env) -> Vec<String> {
    let v = env.json(&["sales", "summary", "--by", "format,month,currency"]);
    v.as_array()
        .unwrap()
        .iter()
        .map(|g| {
            format!(
                "{} {} {} units {} pages {} royalty {} final {}",
                g["format"].as_str().unwrap(),
                g["month"].as_str().unwrap(),
                g["currency"].as_str().unwrap(),
                g["units"],
                g["kenp_pages"],
                g["royalty"].as_str().unwrap(),
                g["is_final"]
            )
        })
        .collect()
}

/// Royalty per (month, currency), as `sales summary --by month,currency` gives it.
fn by_month(env: &Env) -> Vec<(String, String, String)> {
    let v = env.json(&["sales", "summary", "--by", "month,currency"]);
    v.as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["month"].as_str().unwrap().to_string(),
                g["currency"].as_str().unwrap().to_string(),
                g["royalty"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn month_rows(rows: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    rows.iter()
        .map(|(m, c, r)| (m.to_string(), c.to_string(), r.to_string()))
        .collect()
}

/// The sales sheets of KDP workbooks, in English and Spanish (trimmed).
const SALES_SHEETS: [&str; 12] = [
    "eBook Royalty",
    "Paperback Royalty",
    "Hardcover Royalty",
    "KENP Read",
    "Combined Sales",
    "Total Earnings",
    "Regalías de eBooks",
    "Regalías de libros impresos",
    "Regalías de los libros de tapa",
    "KENP leídas",
    "Ventas combinadas",
    "Ganancias totales",
];

/// A cell as Excel's "Save as CSV" writes it: numbers as their value (no binary noise).
fn cell_text(d: &Data) -> String {
    match d {
        Data::Int(i) => i.to_string(),
        Data::Float(f) => {
            let mut s = format!("{f:.10}");
            while s.contains('.') && (s.ends_with('0') || s.ends_with('.')) {
                s.pop();
            }
            if s == "-0" {
                s = "0".into();
            }
            s
        }
        Data::Empty => String::new(),
        other => other.to_string(),
    }
}

/// A CSV copy of every sales sheet of `workbook`, written into `dir`: (sheet name, file).
fn csv_copies(workbook: &Path, dir: &Path) -> Vec<(String, PathBuf)> {
    let mut wb: Xlsx<_> = calamine::open_workbook(workbook).unwrap();
    let mut out = Vec::new();
    for name in wb.sheet_names() {
        if !SALES_SHEETS.contains(&name.trim()) {
            continue;
        }
        let range = wb.worksheet_range(&name).unwrap();
        let stem = workbook.file_stem().unwrap().to_string_lossy();
        let path = dir.join(format!("{stem} - {}.csv", name.trim()));
        let mut w = csv::Writer::from_path(&path).unwrap();
        let width = range.width();
        for row in range.rows() {
            let mut cells: Vec<String> = row.iter().map(cell_text).collect();
            cells.resize(width, String::new());
            w.write_record(&cells).unwrap();
        }
        w.flush().unwrap();
        out.push((name.trim().to_string(), path));
    }
    out
}

/// Whether a CSV copy is one salesingest refuses on purpose: a Prior Months' print sheet
/// cannot say whether it is the paperback or the hardcover one.
fn refused(env: &Env, copy: &Path) -> bool {
    let out = env
        .cmd()
        .args(["enqueue", "kdp", "--file"])
        .arg(copy)
        .output()
        .unwrap();
    if out.status.success() {
        env.cmd().args(["run-worker"]).assert().code(0);
        return false;
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("does not say which of the two it is"),
        "{}: {stderr}",
        copy.display()
    );
    true
}

/// Importing a CSV copy of any one sheet of a workbook already imported changes no total of
/// any format or month, and neither does importing the copy first, then the workbook: each
/// file replaces only the kinds it carries, within the periods it covers. Every sales sheet of
/// the estimator, lifetime, Dashboard and Prior Months' workbooks, English and Spanish.
#[test]
fn a_csv_copy_of_any_sheet_changes_no_total_in_either_order() {
    let copies_dir = tempfile::tempdir().unwrap();
    let mut tried = 0;
    for workbook in [
        "kdp/kdp_royalties_estimator.xlsx",
        "kdp/kdp_lifetime_orders.xlsx",
        "kdp/kdp_dashboard_daily.xlsx",
        "kdp/kdp_prior_month_royalties.xlsx",
        "kdp/kdp_total_earnings_only.xlsx",
        "kdp/kdp_es_royalties_estimator.xlsx",
        "kdp/kdp_es_prior_month_royalties.xlsx",
    ] {
        let copies = csv_copies(&fixture(workbook), copies_dir.path());
        assert!(!copies.is_empty(), "{workbook}");
        // The workbook, then every copy in turn.
        let env = Env::new();
        import(&env, &fixture(workbook));
        let alone = summary(&env);
        assert!(!alone.is_empty(), "{workbook}");
        for (sheet, copy) in &copies {
            if refused(&env, copy) {
                continue;
            }
            tried += 1;
            assert_eq!(summary(&env), alone, "{workbook}, then {sheet}");
        }
        // Each copy first, then the workbook.
        for (sheet, copy) in &copies {
            let env = Env::new();
            if refused(&env, copy) {
                continue;
            }
            import(&env, &fixture(workbook));
            assert_eq!(summary(&env), alone, "{sheet}, then {workbook}");
        }
    }
    assert!(tried >= 25, "only {tried} copies were tried");
}

/// The reproduction: the estimator workbook, then the shared sample CSV copies of its
/// eBook Royalty and Combined Sales sheets. The eBook copy used to remove the paperback,
/// hardcover and KENP events of June and July (USD 183.88 → 131.55), the Combined Sales copy
/// the KENP ones.
#[test]
fn the_ebook_sheet_copy_keeps_paperback_hardcover_and_kenp() {
    let env = Env::new();
    import(&env, &fixture("kdp/kdp_royalties_estimator.xlsx"));
    let alone = summary(&env);
    let usd = |env: &Env| -> String {
        by_month(env)
            .iter()
            .filter(|(_, c, _)| c == "USD")
            .map(|(m, _, r)| format!("{m} {r}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // June 84.04 + July 99.84 = 183.88, as the Summary sheet says.
    assert_eq!(usd(&env), "2025-06 84.04, 2025-07 99.84, 2025-08 0.00");
    for copy in ["kdp/kdp_ebook_royalty.csv", "kdp/kdp_combined_sales.csv"] {
        import(&env, &fixture(copy));
        assert_eq!(summary(&env), alone, "{copy}");
        assert_eq!(usd(&env), "2025-06 84.04, 2025-07 99.84, 2025-08 0.00");
    }
    let removed = env.json(&["status", "2"])["result"]["events"]["removed"]
        .as_i64()
        .unwrap();
    assert_eq!(
        removed, 14,
        "the eBook copy replaced the 14 eBook rows only"
    );
}

/// FORMATS §12: a Dashboard's days and a lifetime download's month totals of August describe
/// the same sales and pages; the month totals count, whichever file comes first, and the two
/// are never added. The Dashboard downloaded a week later (more sales and pages) still gives
/// way to the month totals.
#[test]
fn a_dashboard_and_a_lifetime_download_give_the_lifetime_figures_in_either_order() {
    let lifetime = fixture("kdp/kdp_lifetime_orders.xlsx");
    let env = Env::new();
    import(&env, &lifetime);
    let alone = summary(&env);
    let august: Vec<String> = alone
        .iter()
        .filter(|g| g.contains(" 2025-08 "))
        .cloned()
        .collect();
    assert_eq!(
        august,
        [
            "ebook 2025-08 EUR units 12 pages 0 royalty 8.36 final false",
            "ebook 2025-08 GBP units 7 pages 0 royalty 18.87 final false",
            "ebook 2025-08 USD units 61 pages 0 royalty 10.41 final false",
            "kenp 2025-08 EUR units 0 pages 228 royalty 0.00 final false",
            "kenp 2025-08 USD units 0 pages 292 royalty 0.00 final false",
            "paperback 2025-08 USD units 2 pages 0 royalty 10.59 final false",
        ]
    );
    for dashboard in [
        "kdp/kdp_dashboard_daily.xlsx",
        "kdp/kdp_dashboard_later.xlsx",
    ] {
        let env = Env::new();
        import(&env, &fixture(dashboard));
        import(&env, &lifetime);
        assert_eq!(
            summary(&env),
            alone,
            "{dashboard}, then the lifetime download"
        );
        let env = Env::new();
        import(&env, &lifetime);
        import(&env, &fixture(dashboard));
        assert_eq!(
            summary(&env),
            alone,
            "the lifetime download, then {dashboard}"
        );
        // The Dashboard's rows are kept (its job imported them), only not counted.
        let kept: i64 = env
            .sql()
            .query_row(
                "SELECT count(*) FROM live_sales WHERE family = 'kdp_estimate.kenp'
                   AND period_start = period_end AND month = '2025-08'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(kept > 0, "{dashboard}");
    }
}

/// FORMATS §11: a workbook's totals per month and currency equal its own Summary sheet, the
/// KENP royalty that only the Summary carries included (May and June were priced when the
/// lifetime sample was downloaded); a final report then replaces that estimate with its KENP
/// money.
#[test]
fn a_workbooks_totals_equal_its_summary_sheet() {
    let env = Env::new();
    import(&env, &fixture("kdp/kdp_lifetime_orders.xlsx"));
    // The Summary sheet's royalty columns, month by month (0.00 rows are the months with only
    // pages, whose KENP was not priced yet).
    assert_eq!(
        by_month(&env),
        month_rows(&[
            ("2025-05", "EUR", "3.11"),
            ("2025-05", "GBP", "30.69"),
            ("2025-05", "JPY", "346"),
            ("2025-05", "USD", "61.22"),
            ("2025-06", "EUR", "17.25"),
            ("2025-06", "GBP", "36.92"),
            ("2025-06", "JPY", "-270"),
            ("2025-06", "USD", "86.94"),
            ("2025-07", "CAD", "46.42"),
            ("2025-07", "EUR", "26.06"),
            ("2025-07", "GBP", "29.55"),
            ("2025-07", "JPY", "0"),
            ("2025-07", "USD", "70.47"),
            ("2025-08", "EUR", "8.36"),
            ("2025-08", "GBP", "18.87"),
            ("2025-08", "USD", "21.00"),
        ])
    );
    let kenp_may: Vec<String> = summary(&env)
        .into_iter()
        .filter(|g| g.starts_with("kenp 2025-05"))
        .collect();
    assert_eq!(
        kenp_may,
        [
            "kenp 2025-05 EUR units 0 pages 1085 royalty 3.11 final false",
            "kenp 2025-05 GBP units 0 pages 957 royalty 2.89 final false",
            "kenp 2025-05 JPY units 0 pages 692 royalty 346 final false",
            "kenp 2025-05 USD units 0 pages 605 royalty 2.67 final false",
        ]
    );
}

/// The Spanish samples give exactly the totals of their English twins, every format, month and
/// currency; the Prior Months' one replaces the estimator's August like an English one.
#[test]
fn spanish_workbooks_total_as_their_english_twins() {
    let totals = |files: &[&str]| -> Vec<String> {
        let env = Env::new();
        for f in files {
            import(&env, &fixture(f));
        }
        summary(&env)
    };
    let es = totals(&[
        "kdp/kdp_es_royalties_estimator.xlsx",
        "kdp/kdp_es_prior_month_royalties.xlsx",
    ]);
    let en = totals(&[
        "kdp/kdp_en_twin_royalties_estimator.xlsx",
        "kdp/kdp_en_twin_prior_month_royalties.xlsx",
    ]);
    assert_eq!(es, en);
    assert!(
        es.contains(&"ebook 2025-08 EUR units 62 pages 0 royalty 41.63 final true".to_string()),
        "{es:#?}"
    );
    assert!(
        es.contains(&"hardcover 2025-09 USD units 1 pages 0 royalty 6.89 final false".to_string()),
        "{es:#?}"
    );
    let es_est = totals(&["kdp/kdp_es_royalties_estimator.xlsx"]);
    let en_est = totals(&["kdp/kdp_en_twin_royalties_estimator.xlsx"]);
    assert_eq!(es_est, en_est);
}

/// Reports in other languages keep a clear rejection that names the language; a workbook
/// mixing Spanish and English is refused.
#[test]
fn other_languages_and_mixed_workbooks_are_rejected() {
    let env = Env::new();
    env.cmd()
        .args(["enqueue", "kdp", "--file"])
        .arg(fixture("bad/kdp_de_royalties_estimator.xlsx"))
        .assert()
        .code(5)
        .stderr(predicate::str::contains("in German"))
        .stderr(predicate::str::contains("English and Spanish"));
    env.cmd()
        .args(["import"])
        .arg(fixture("bad/kdp_mixed_languages.xlsx"))
        .assert()
        .code(5)
        .stderr(predicate::str::contains("mixes Spanish and English"));
    assert_eq!(env.json(&["jobs"]).as_array().unwrap().len(), 0);
}

/// A binary Excel 97–2003 file (a Barnes & Noble download, say) is not called a KDP report:
/// `import` says what it is and which reports are read, `enqueue kdp` what to do if it is one.
#[test]
fn a_binary_xls_is_not_called_a_kdp_report() {
    let env = Env::new();
    let xls = fixture("bad/binary_excel_97.xls");
    env.cmd()
        .arg("import")
        .arg(&xls)
        .assert()
        .code(5)
        .stderr(predicate::str::contains(
            "this is a binary Excel 97–2003 workbook (.xls), a format salesingest does not read",
        ))
        .stderr(predicate::str::contains("draft2digital"))
        .stderr(predicate::str::contains("download").not());
    env.cmd()
        .args(["enqueue", "kdp", "--file"])
        .arg(&xls)
        .assert()
        .code(5)
        .stderr(predicate::str::contains(
            "this is a binary Excel 97–2003 workbook (.xls), which salesingest does not read",
        ))
        .stderr(predicate::str::contains("If it is a KDP report"))
        .stderr(predicate::str::contains("download the Prior Months").not());
    // A Smashwords report named .xls is text, and still read.
    let named = env.path("salesReport.xls");
    std::fs::copy(fixture("smashwords/smashwords_salesReport.tsv"), &named).unwrap();
    env.cmd().arg("import").arg(&named).assert().success();
}

/// D2D's ebook and print reports are two families: either file, in either order, replaces
/// only its own kind; importing one again changes nothing.
#[test]
fn d2d_ebook_and_print_reports_replace_only_their_own_kind() {
    let ebook = fixture("d2d/d2d_sales.csv");
    let print = fixture("d2d/d2d_sales_print.csv");
    let alone = |f: &Path| {
        let env = Env::new();
        import_as(&env, "d2d", f);
        summary(&env)
    };
    let mut both = alone(&ebook);
    both.extend(alone(&print));
    both.sort();
    for order in [[&ebook, &print], [&print, &ebook]] {
        let env = Env::new();
        import_as(&env, "d2d", order[0]);
        import_as(&env, "d2d", order[1]);
        let mut got = summary(&env);
        got.sort();
        assert_eq!(got, both);
        env.cmd()
            .args(["enqueue", "d2d", "--force", "--file"])
            .arg(order[0])
            .assert()
            .success();
        env.cmd().args(["run-worker"]).assert().code(0);
        let mut again = summary(&env);
        again.sort();
        assert_eq!(again, both);
    }
}

/// A Smashwords report and its comma-separated copy are the same sales: either after the
/// other changes no total; D2D and KDP files beside them are untouched.
#[test]
fn smashwords_copies_replace_each_other_and_nothing_else() {
    let tsv = fixture("smashwords/smashwords_salesReport.tsv");
    let csv_copy = fixture("smashwords/smashwords_sales.csv");
    let env = Env::new();
    import_as(&env, "smashwords", &tsv);
    let smashwords = summary(&env);
    import_as(&env, "d2d", &fixture("d2d/d2d_sales.csv"));
    import(&env, &fixture("kdp/kdp_royalties_estimator.xlsx"));
    let all = summary(&env);
    import_as(&env, "smashwords", &csv_copy);
    assert_eq!(summary(&env), all);
    let env = Env::new();
    import_as(&env, "smashwords", &csv_copy);
    import_as(&env, "smashwords", &tsv);
    assert_eq!(summary(&env), smashwords);
}
