use std::collections::BTreeMap;

use super::*;
use crate::platforms::testutil::{fixture, Collect};
use crate::platforms::CountingSink;

fn parse(rel: &str) -> (Vec<crate::model::SaleEvent>, ParseSummary) {
    let mut sink = Collect::default();
    let summary = parse_file(&fixture(rel), rel, &mut sink).unwrap();
    (sink.0, summary)
}

fn write(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
    let p = dir.path().join("Sales.csv");
    std::fs::write(&p, text).unwrap();
    p
}

/// The 64-column sample: one event per purchase, the `Totals` row skipped, each sale counted
/// by the API's rules (sums worked out by hand from the rows, see the comments).
#[test]
fn the_64_column_export_gives_the_apis_figures() {
    let (events, summary) = parse("gumroad/gumroad_sales_export.csv");
    assert_eq!(summary.layout, LAYOUT);
    assert_eq!(summary.rows, 14, "13 purchases and the Totals row");
    assert!(summary.warnings.is_empty(), "{:?}", summary.warnings);
    assert_eq!(events.len(), 13);
    let by_id: BTreeMap<&str, &crate::model::SaleEvent> = events
        .iter()
        .map(|e| (e.natural_key.as_deref().unwrap(), e))
        .collect();
    let e = by_id["gumroad:sale:01Xq7t7919dvxYabdavG97Y-Q=="];
    assert_eq!(e.source, "gumroad.csv");
    assert_eq!(e.family, "gumroad");
    assert_eq!(e.platform, crate::model::Platform::Gumroad);
    assert_eq!(e.period_start, "2025-08-14".parse().unwrap());
    assert_eq!(e.period_end, e.period_start);
    assert_eq!((e.units, e.royalty_micros), (1, 6_780_000));
    assert_eq!(e.list_price_micros, Some(7_990_000));
    assert_eq!((e.currency.as_str(), e.is_final), ("USD", true));
    assert_eq!(e.product_id, "lkdaughter");
    assert_eq!(e.title, "The Lighthouse Keeper's Daughter (EPUB + PDF)");
    assert_eq!(e.line, 2);
    // Fully refunded (03, 13) and a lost dispute (09): zero units and royalty.
    for (id, status) in [
        ("03Xq7t3757dvxYabdavG97Y-Q==", "refunded"),
        ("13Xq7t2947dvxYabdavG97Y-Q==", "refunded"),
        ("09Xq7t1271dvxYabdavG97Y-Q==", "chargedback"),
    ] {
        let e = by_id[format!("gumroad:sale:{id}").as_str()];
        assert_eq!(
            (e.units, e.royalty_micros, e.status.as_str()),
            (0, 0, status),
            "{id}"
        );
    }
    // $5.00 of $14.99 refunded: floor(1319 × 999 / 1499) = 879 cents, as the API path.
    let p = by_id["gumroad:sale:07Xq7t5433dvxYabdavG97Y-Q=="];
    assert_eq!(
        (p.units, p.royalty_micros, p.status.as_str()),
        (1, 8_790_000, "partially_refunded")
    );
    // A free sale counts its unit; two copies count two.
    assert_eq!(by_id["gumroad:sale:04Xq7t1676dvxYabdavG97Y-Q=="].units, 1);
    let two = by_id["gumroad:sale:06Xq7t7514dvxYabdavG97Y-Q=="];
    assert_eq!((two.units, two.royalty_micros), (2, 14_080_000));
    // 6.78 + 5.50 + 4.20 + 14.08 + 8.79 + 5.50 + 6.78 + 13.19 + 6.78 = 71.60, the API test's sum.
    let royalty: i64 = events.iter().map(|e| e.royalty_micros).sum();
    let units: i64 = events.iter().map(|e| e.units).sum();
    assert_eq!((royalty, units), (71_600_000, 11));
}

/// The 65-column layout (`Tax Type`, a custom-field column, Ruby-hash `Custom Fields`) reads
/// by column name.
#[test]
fn the_65_column_export_with_a_custom_field_reads_by_name() {
    let (events, summary) = parse("gumroad/gumroad_sales_export_tax_type.csv");
    assert!(summary.warnings.is_empty(), "{:?}", summary.warnings);
    assert_eq!(events.len(), 5);
    // 6.78 + 12.00 (two copies) + 0 (refunded) + 0 (free) + 0 (lost dispute).
    let royalty: i64 = events.iter().map(|e| e.royalty_micros).sum();
    let units: i64 = events.iter().map(|e| e.units).sum();
    assert_eq!((royalty, units), (18_780_000, 4));
    let a2 = &events[1];
    assert_eq!(a2.title, "Salt & Ember: A Novel (EPUB)");
    assert_eq!((a2.units, a2.royalty_micros), (2, 12_000_000));
}

/// `raw` keeps only the allow-listed columns: no buyer name, e-mail, custom field, affiliate
/// e-mail, license key or discount code.
#[test]
fn raw_keeps_no_personal_data() {
    for rel in [
        "gumroad/gumroad_sales_export.csv",
        "gumroad/gumroad_sales_export_tax_type.csv",
    ] {
        let (events, _) = parse(rel);
        for e in &events {
            for gone in [
                "@example.",
                "Ana Reader",
                "83DB262A",
                "partner@",
                "SUMMER20",
                "Which format",
                "EPUB\"}",
                "Buyer",
                "Email",
            ] {
                assert!(!e.raw.contains(gone), "{rel}: {gone} in {}", e.raw);
            }
            let raw: serde_json::Value = serde_json::from_str(&e.raw).unwrap();
            for k in raw.as_object().unwrap().keys() {
                assert!(privacy::CSV_FIELDS.contains(&k.as_str()), "{k}");
            }
            assert!(raw.get("Purchase ID").is_some() && raw.get("Net Total ($)").is_some());
        }
    }
    // A validating sink gets no raw at all.
    let mut count = CountingSink::default();
    parse_file(
        &fixture("gumroad/gumroad_sales_export.csv"),
        "s",
        &mut count,
    )
    .unwrap();
    assert_eq!(count.events, 13);
}

/// Bad cells are rejected naming the line and the column; other layouts are "not recognised"
/// (so detection moves on), an export missing columns names them.
#[test]
fn bad_rows_are_rejected_with_line_and_column() {
    let text = std::fs::read_to_string(fixture("gumroad/gumroad_sales_export.csv")).unwrap();
    let header = text.lines().next().unwrap();
    let cols: Vec<&str> = header.split(',').collect();
    let row3: Vec<String> = text
        .lines()
        .nth(2)
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    for (column, value, needle) in [
        ("Sale Price ($)", "$6.50", "not a plain decimal"),
        ("Sale Price ($)", "6,50", "expected 64 fields"),
        ("Fees ($)", "", "expected an amount"),
        ("Fees ($)", "-1.00", "0 or more"),
        ("Sale Price ($)", "6.505", "at most two decimals"),
        ("Purchase Date", "14/08/2025", "expected a date"),
        ("Purchase ID", "", "purchase id is empty"),
        ("Quantity", "-1", "0 or more"),
        ("Quantity", "1.5", "whole number"),
        ("Fully Refunded?", "yes", "expected 0 or 1"),
        ("Partial Refund ($)", "abc", "not a plain decimal"),
    ] {
        let i = cols.iter().position(|c| *c == column).unwrap();
        let mut row = row3.clone();
        row[i] = value.to_string();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines[2] = row.join(",");
        let p = write(&dir, &(lines.join("\n") + "\n"));
        let err = parse_file(&p, "Sales.csv", &mut CountingSink::default()).unwrap_err();
        let m = err.to_string();
        let PlatformError::Rejected(_) = err else {
            panic!("{column}={value}: {m}")
        };
        assert!(
            m.starts_with("`Sales.csv`, line 3"),
            "{column}={value}: {m}"
        );
        if !needle.starts_with("expected 64") {
            assert!(m.contains(&format!("column `{column}`")), "{m}");
        }
        assert!(m.contains(needle), "{column}={value}: {m}");
    }
    // Not Gumroad's export at all: "not a recognised …" (detection's "not mine").
    let p = write(&dir, "Date,Amount\n2025-01-01,1.00\n");
    let m = parse_file(&p, "x.csv", &mut CountingSink::default())
        .unwrap_err()
        .to_string();
    assert!(
        m.contains("not a recognised Gumroad Sales CSV export"),
        "{m}"
    );
    let p = write(&dir, "Purchase ID,Sale Price ($),Fees ($)\nA,1.00,0.10\n");
    let m = parse_file(&p, "x.csv", &mut CountingSink::default())
        .unwrap_err()
        .to_string();
    assert!(
        m.contains("missing columns") && m.contains("`Purchase Date`"),
        "{m}"
    );
}

/// Partial refunds by the `Partial Refund ($)` amount, never by `Refunded?` alone; a refund
/// flag without an amount keeps the full royalty and warns naming the sale; a wrong `Totals`
/// row warns.
#[test]
fn partial_refunds_and_totals() {
    let header = std::fs::read_to_string(fixture("gumroad/gumroad_sales_export.csv"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    let cols: Vec<&str> = header.split(',').collect();
    let row = |id: &str, price: &str, fee: &str, refunded: &str, partial: &str, fully: &str| {
        let mut cells = vec![String::new(); cols.len()];
        let set = |cells: &mut Vec<String>, c: &str, v: &str| {
            let i = cols.iter().position(|x| *x == c).unwrap();
            cells[i] = v.to_string();
        };
        set(&mut cells, "Purchase ID", id);
        set(&mut cells, "Item Name", "Book");
        set(&mut cells, "Purchase Date", "2025-09-30");
        set(&mut cells, "Sale Price ($)", price);
        set(&mut cells, "Fees ($)", fee);
        set(&mut cells, "Refunded?", refunded);
        set(&mut cells, "Partial Refund ($)", partial);
        set(&mut cells, "Fully Refunded?", fully);
        set(&mut cells, "Disputed?", "0");
        set(&mut cells, "Dispute Won?", "0");
        set(&mut cells, "Product ID", "book");
        set(&mut cells, "Quantity", "1");
        cells.join(",")
    };
    let mut totals = vec![String::new(); cols.len()];
    totals[0] = "Totals".into();
    totals[cols.iter().position(|x| *x == "Sale Price ($)").unwrap()] = "29.00".into();
    let text = [
        header.clone(),
        row("P1", "10.0", "1.0", "1", "2.5", "0"),
        row("P2", "10.0", "1.0", "1", "0.0", "0"),
        row("P3", "10.0", "1.0", "0", "0.0", "0"),
        totals.join(","),
    ]
    .join("\r\n");
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, &text);
    let mut sink = Collect::default();
    let summary = parse_file(&p, "Sales.csv", &mut sink).unwrap();
    // P1: 900 cents × 750 / 1000 = 675; P2 in full, with a warning; P3 in full.
    let r: Vec<i64> = sink.0.iter().map(|e| e.royalty_micros).collect();
    assert_eq!(r, [6_750_000, 9_000_000, 9_000_000]);
    assert_eq!(sink.0[0].status, "partially_refunded");
    assert_eq!(summary.warnings.len(), 2, "{:?}", summary.warnings);
    assert!(
        summary.warnings[0].contains("`P2`"),
        "{:?}",
        summary.warnings
    );
    assert!(
        summary.warnings[1].contains("`Totals` row gives `Sale Price ($)` 29.00 USD")
            && summary.warnings[1].contains("30.00 USD"),
        "{:?}",
        summary.warnings
    );
}

/// A custom field named like a fixed column does not replace the fixed one.
#[test]
fn a_custom_field_named_like_a_fixed_column_is_not_read() {
    let text = std::fs::read_to_string(fixture("gumroad/gumroad_sales_export.csv")).unwrap();
    let mut out = String::new();
    for (n, l) in text.lines().enumerate() {
        out.push_str(l);
        out.push_str(if n == 0 { ",Quantity\n" } else { ",99\n" });
    }
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, &out);
    let mut sink = Collect::default();
    parse_file(&p, "Sales.csv", &mut sink).unwrap();
    let units: i64 = sink.0.iter().map(|e| e.units).sum();
    assert_eq!(units, 11);
    assert!(
        sink.0.iter().all(|e| !e.raw.contains("\"99\"")),
        "{}",
        sink.0[0].raw
    );
}
