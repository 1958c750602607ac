//! KDP adapter tests over the fixtures in `tests/fixtures/` (copies of the shared samples plus
//! generated workbooks, see `tests/fixtures/gen/make_kdp_fixtures.py`). Expected totals were
//! computed independently from the fixture files (Python `decimal` over openpyxl/csv reads),
//! not from this parser.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::*;
use crate::platforms::testutil::{fixture, Collect};

fn parse(rel: &str) -> Result<(Vec<SaleEvent>, ParseSummary), PlatformError> {
    let path = fixture(rel);
    let name = rel.rsplit('/').next().unwrap_or(rel);
    let mut sink = Collect::default();
    let summary = parse_file(&path, name, &mut sink)?;
    Ok((sink.0, summary))
}

fn ok(rel: &str) -> (Vec<SaleEvent>, ParseSummary) {
    parse(rel).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn err(rel: &str) -> String {
    match parse(rel) {
        Ok((ev, _)) => panic!("{rel}: expected an error, got {} events", ev.len()),
        Err(e) => e.to_string(),
    }
}

fn totals(ev: &[SaleEvent]) -> BTreeMap<String, i64> {
    let mut t = BTreeMap::new();
    for e in ev {
        *t.entry(e.currency.clone()).or_insert(0) += e.royalty_micros;
    }
    t
}

fn map(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(k, v)| ((*k).to_string(), *v)).collect()
}

fn units(ev: &[SaleEvent]) -> i64 {
    ev.iter().map(|e| e.units).sum()
}

fn pages(ev: &[SaleEvent]) -> i64 {
    ev.iter().map(|e| e.kenp_pages).sum()
}

fn count_source(ev: &[SaleEvent], source: &str) -> usize {
    ev.iter().filter(|e| e.source == source).count()
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

// ---------------------------------------------------------------- old 9-sheet workbook

/// Royalty per currency of eBook + Paperback + Hardcover Royalty; equals the Summary sheet's
/// June + July royalty columns, so Combined Sales (same sales again) was not added.
const ESTIMATOR_TOTALS: [(&str, i64); 8] = [
    ("AUD", 9_860_000),
    ("BRL", 3_470_000),
    ("CAD", 4_370_000),
    ("EUR", 26_800_000),
    ("GBP", 11_910_000),
    ("INR", 117_420_000),
    ("JPY", 318_000_000),
    ("USD", 183_880_000),
];

#[test]
fn estimator_imports_per_format_sheets_and_kenp_only() {
    let (ev, summary) = ok("kdp/kdp_royalties_estimator.xlsx");
    assert_eq!(ev.len(), 34);
    assert_eq!(summary.rows, 34);
    assert_eq!(count_source(&ev, "kdp.estimate.ebook_royalty"), 14);
    assert_eq!(count_source(&ev, "kdp.estimate.paperback_royalty"), 7);
    assert_eq!(count_source(&ev, "kdp.estimate.hardcover_royalty"), 1);
    assert_eq!(count_source(&ev, "kdp.estimate.kenp_read"), 12);
    assert_eq!(totals(&ev), map(&ESTIMATOR_TOTALS));
    assert_eq!(units(&ev), 286);
    assert_eq!(pages(&ev), 2699);
    assert!(ev
        .iter()
        .all(|e| !e.is_final && e.family == format!("kdp_estimate.{}", e.format.as_str())));
    assert!(ev
        .iter()
        .all(|e| e.platform == Platform::AmazonKdp && e.retailer == "Amazon"));
    assert!(
        summary.layout.contains("Royalties Estimator"),
        "{}",
        summary.layout
    );
}

#[test]
fn estimator_keeps_both_identical_paperback_rows() {
    let (ev, _) = ok("kdp/kdp_royalties_estimator.xlsx");
    let twins: Vec<&SaleEvent> = ev
        .iter()
        .filter(|e| {
            e.product_id == "9798355123017"
                && e.marketplace == "Amazon.de"
                && e.period_end == day(2025, 7, 31)
        })
        .collect();
    assert_eq!(twins.len(), 2);
    assert_eq!(twins[0].raw, twins[1].raw);
    assert_eq!((twins[0].line, twins[1].line), (7, 8));
    assert!(twins
        .iter()
        .all(|e| e.royalty_micros == 4_590_000 && e.units == 1));
    assert!(twins
        .iter()
        .all(|e| e.format == Format::Paperback && e.country == "DE"));
}

#[test]
fn estimator_row_fields() {
    let (ev, _) = ok("kdp/kdp_royalties_estimator.xlsx");
    let refund = ev
        .iter()
        .find(|e| e.marketplace == "Amazon.fr")
        .expect("refund row");
    assert_eq!(refund.units, -1);
    assert_eq!(refund.royalty_micros, -3_220_000);
    assert_eq!(
        (refund.currency.as_str(), refund.country.as_str()),
        ("EUR", "FR")
    );
    assert_eq!(
        (refund.period_start, refund.period_end),
        (day(2025, 7, 1), day(2025, 7, 31))
    );
    assert_eq!(refund.product_id, "B0C7QX3LKD");
    assert_eq!(refund.format, Format::Ebook);
    assert_eq!(refund.list_price_micros, Some(4_730_000));
    assert_eq!(refund.line, 5);
    let raw: serde_json::Value = serde_json::from_str(&refund.raw_json()).unwrap();
    assert_eq!(raw["Royalty Date"], "2025-07");
    assert_eq!(raw["Royalty"], "-3.22");

    let free = ev
        .iter()
        .find(|e| e.raw_json().contains("Free - Promotion"))
        .expect("free row");
    assert_eq!((free.units, free.royalty_micros), (212, 0));

    let jp = ev
        .iter()
        .find(|e| e.marketplace == "Amazon.co.jp" && e.format == Format::Ebook)
        .unwrap();
    assert_eq!(jp.list_price_micros, Some(1_000_000_000));
    assert_eq!(
        (jp.royalty_micros, jp.currency.as_str(), jp.country.as_str()),
        (318_000_000, "JPY", "JP")
    );

    let june = ev
        .iter()
        .find(|e| e.marketplace == "Amazon.com.au")
        .unwrap();
    assert_eq!(
        (june.period_start, june.period_end),
        (day(2025, 6, 1), day(2025, 6, 30))
    );

    let expanded = ev
        .iter()
        .find(|e| e.raw_json().contains("Expanded Distribution Channels"))
        .unwrap();
    assert_eq!(expanded.format, Format::Paperback);
    assert_eq!(expanded.product_id, "9798867123451");

    let hard = ev.iter().find(|e| e.format == Format::Hardcover).unwrap();
    assert_eq!(
        (hard.royalty_micros, hard.product_id.as_str()),
        (7_140_000, "9798867123468")
    );

    let kenp_jp = ev
        .iter()
        .find(|e| e.format == Format::Kenp && e.marketplace == "Amazon.co.jp")
        .unwrap();
    assert_eq!(
        (kenp_jp.kenp_pages, kenp_jp.units, kenp_jp.royalty_micros),
        (55, 0, 0)
    );
    assert_eq!(kenp_jp.currency, "JPY");
    assert_eq!(
        (kenp_jp.period_start, kenp_jp.period_end),
        (day(2025, 7, 30), day(2025, 7, 30))
    );
    let kenp_currencies: BTreeMap<&str, &str> = ev
        .iter()
        .filter(|e| e.format == Format::Kenp)
        .map(|e| (e.marketplace.as_str(), e.currency.as_str()))
        .collect();
    assert_eq!(kenp_currencies["Amazon.co.uk"], "GBP");
    assert_eq!(kenp_currencies["Amazon.de"], "EUR");
    assert_eq!(kenp_currencies["Amazon.com.br"], "BRL");
    assert_eq!(kenp_currencies["Amazon.in"], "INR");
    assert_eq!(kenp_currencies["Amazon.ca"], "CAD");
}

// ---------------------------------------------------------------- Prior Months' Royalties

#[test]
fn prior_month_2025_uses_per_format_sheets_not_total_earnings() {
    let (ev, _) = ok("kdp/kdp_prior_month_royalties.xlsx");
    assert_eq!(ev.len(), 18);
    assert_eq!(count_source(&ev, "kdp.final.ebook_royalty"), 10);
    assert_eq!(count_source(&ev, "kdp.final.kenp_read"), 3);
    assert_eq!(count_source(&ev, "kdp.final.paperback_royalty"), 5);
    assert_eq!(count_source(&ev, "kdp.final.total_earnings"), 0);
    assert_eq!(
        totals(&ev),
        map(&[
            ("CAD", 4_370_000),
            ("EUR", 29_910_000),
            ("GBP", 11_910_000),
            ("JPY", 754_000_000),
            ("USD", 119_080_000),
        ])
    );
    assert!(ev
        .iter()
        .all(|e| e.is_final && e.family == format!("kdp_final.{}", e.format.as_str())));
    assert!(ev
        .iter()
        .all(|e| e.period_start == day(2025, 7, 1) && e.period_end == day(2025, 7, 31)));
    let ebook: Vec<SaleEvent> = ev
        .iter()
        .filter(|e| e.format == Format::Ebook)
        .cloned()
        .collect();
    assert_eq!(units(&ebook), 248);
    // Paperback Royalty has no Net Units Sold: net = sold − refunded (2 − 1 for the refund row).
    let print: Vec<SaleEvent> = ev
        .iter()
        .filter(|e| e.format == Format::Paperback)
        .cloned()
        .collect();
    assert_eq!(units(&print), 11);
    assert_eq!(
        totals(&print),
        map(&[("EUR", 15_210_000), ("GBP", 3_610_000), ("USD", 31_410_000)])
    );
    let kenp: Vec<SaleEvent> = ev
        .iter()
        .filter(|e| e.format == Format::Kenp)
        .cloned()
        .collect();
    assert_eq!(pages(&kenp), 6917);
    assert_eq!(units(&kenp), 0);
    assert_eq!(
        totals(&kenp),
        map(&[
            ("EUR", 3_110_000),
            ("JPY", 436_000_000),
            ("USD", 19_240_000)
        ])
    );
    let first = &ev[0];
    assert_eq!(first.line, 3);
}

#[test]
fn prior_month_2023_ebook_report_plus_non_ebook_rows_of_combined_report() {
    let (ev, _) = ok("kdp/kdp_prior_month_2023.xlsx");
    assert_eq!(ev.len(), 10);
    assert_eq!(count_source(&ev, "kdp.final.ebook_royalty_report"), 5);
    assert_eq!(count_source(&ev, "kdp.final.combined_royalty_report"), 5);
    assert_eq!(
        totals(&ev),
        map(&[
            ("EUR", -3_520_000),
            ("GBP", 2_770_000),
            ("JPY", 694_000_000),
            ("USD", 65_730_000),
        ])
    );
    assert_eq!(units(&ev), 167);
    assert_eq!(pages(&ev), 3150);
    assert!(ev.iter().all(|e| e.is_final
        && e.period_start == day(2023, 8, 1)
        && e.period_end == day(2023, 8, 31)));
    let combined: Vec<&SaleEvent> = ev
        .iter()
        .filter(|e| e.source == "kdp.final.combined_royalty_report")
        .collect();
    assert!(combined.iter().all(|e| e.format != Format::Ebook));
    assert_eq!(
        combined.iter().filter(|e| e.format == Format::Kenp).count(),
        2
    );
    // The hyphenated ISBN is normalised to digits.
    assert_eq!(combined[0].product_id, "9798867123451");
    let refund = combined
        .iter()
        .find(|e| e.marketplace == "Amazon.de" && e.format == Format::Paperback)
        .unwrap();
    assert_eq!((refund.units, refund.royalty_micros), (-1, -6_030_000));
}

#[test]
fn total_royalty_sheet_2024() {
    let (ev, _) = ok("kdp/kdp_total_royalty_2024.xlsx");
    assert_eq!(ev.len(), 7);
    assert_eq!(
        totals(&ev),
        map(&[
            ("AUD", 610_000),
            ("CAD", 3_960_000),
            ("EUR", -3_220_000),
            ("GBP", 7_220_000),
            ("USD", 86_880_000),
        ])
    );
    assert_eq!(units(&ev), 29);
    assert_eq!(pages(&ev), 120);
    assert!(ev
        .iter()
        .all(|e| e.source == "kdp.final.total_royalty" && e.is_final));
    assert!(ev.iter().all(|e| e.period_end == day(2024, 3, 31)));
    assert_eq!(
        ev.iter().filter(|e| e.format == Format::Hardcover).count(),
        1
    );
    assert_eq!(
        ev.iter().filter(|e| e.format == Format::Paperback).count(),
        1
    );
    // The two identical rows are two sales.
    assert_eq!(
        ev.iter().filter(|e| e.royalty_micros == 39_870_000).count(),
        2
    );
}

#[test]
fn total_earnings_only_workbook_is_used() {
    let (ev, _) = ok("kdp/kdp_total_earnings_only.xlsx");
    assert_eq!(ev.len(), 7);
    assert_eq!(
        totals(&ev),
        map(&[
            ("INR", 117_420_000),
            ("JPY", 436_000_000),
            ("MXN", 117_900_000),
            ("USD", 87_280_000),
        ])
    );
    assert_eq!(units(&ev), 102);
    assert_eq!(pages(&ev), 4203);
    assert!(ev
        .iter()
        .all(|e| e.period_start == day(2026, 1, 1) && e.is_final));
    let kenp: Vec<&SaleEvent> = ev.iter().filter(|e| e.format == Format::Kenp).collect();
    assert_eq!(kenp.len(), 2);
    assert!(kenp
        .iter()
        .all(|e| e.units == 0 && e.list_price_micros.is_none()));
    let mx = ev
        .iter()
        .find(|e| e.marketplace == "Amazon.com.mx")
        .unwrap();
    assert_eq!((mx.country.as_str(), mx.format), ("MX", Format::Paperback));
    assert_eq!(
        ev.iter().filter(|e| e.format == Format::Hardcover).count(),
        1
    );
}

#[test]
fn new_kdp_reports_kenp_sheet() {
    let (ev, summary) = ok("kdp/kdp_reports_2025.xlsx");
    assert_eq!(ev.len(), 7);
    assert_eq!(
        totals(&ev),
        map(&[
            ("PLN", 13_640_000),
            ("SEK", 33_250_000),
            ("USD", 6_640_000),
            ("EUR", 0),
            ("GBP", 0),
            ("MXN", 0)
        ])
    );
    let kenp: Vec<&SaleEvent> = ev
        .iter()
        .filter(|e| e.source == "kdp.estimate.kenp")
        .collect();
    assert_eq!(kenp.len(), 4);
    assert_eq!(kenp.iter().map(|e| e.kenp_pages).sum::<i64>(), 506);
    assert_eq!(kenp[0].product_id, "B0B9FOX123");
    assert_eq!(
        (kenp[0].period_start, kenp[0].period_end),
        (day(2025, 9, 1), day(2025, 9, 1))
    );
    let cur: BTreeMap<&str, &str> = kenp
        .iter()
        .map(|e| (e.marketplace.as_str(), e.currency.as_str()))
        .collect();
    assert_eq!(cur["Amazon.com.mx"], "MXN");
    assert_eq!(cur["Amazon.nl"], "EUR");
    let se = ev.iter().find(|e| e.marketplace == "Amazon.se").unwrap();
    assert_eq!((se.country.as_str(), se.currency.as_str()), ("SE", "SEK"));
    assert_eq!(
        ev.iter()
            .find(|e| e.marketplace == "Amazon.pl")
            .unwrap()
            .country,
        "PL"
    );
    assert!(ev.iter().all(|e| !e.is_final));
    assert!(
        summary
            .warnings
            .iter()
            .any(|w| w.contains("Audiobook Royalty")),
        "{:?}",
        summary.warnings
    );
}

// ---------------------------------------------------------------- CSV copies

const EBOOK_CSV_TOTALS: [(&str, i64); 8] = [
    ("AUD", 9_860_000),
    ("BRL", 3_470_000),
    ("CAD", 4_370_000),
    ("EUR", 11_590_000),
    ("GBP", 8_300_000),
    ("INR", 117_420_000),
    ("JPY", 318_000_000),
    ("USD", 131_550_000),
];

#[test]
fn ebook_royalty_csv() {
    let (ev, summary) = ok("kdp/kdp_ebook_royalty.csv");
    assert_eq!(ev.len(), 14);
    assert_eq!(totals(&ev), map(&EBOOK_CSV_TOTALS));
    assert_eq!(units(&ev), 271);
    assert!(ev
        .iter()
        .all(|e| e.source == "kdp.estimate.ebook_royalty" && e.format == Format::Ebook));
    assert_eq!(ev.first().map(|e| e.line), Some(2));
    assert_eq!(ev.last().map(|e| e.line), Some(15));
    assert!(summary.layout.contains("CSV"));
}

#[test]
fn bom_and_crlf_are_accepted() {
    let bytes = std::fs::read(fixture("bad/kdp_ebook_royalty_bom_crlf.csv")).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF") && bytes.windows(2).any(|w| w == b"\r\n"));
    let (ev, _) = ok("bad/kdp_ebook_royalty_bom_crlf.csv");
    assert_eq!(ev.len(), 14);
    assert_eq!(totals(&ev), map(&EBOOK_CSV_TOTALS));
    assert_eq!(units(&ev), 271);
}

#[test]
fn combined_sales_csv_alone_is_imported_by_row_format() {
    let (ev, _) = ok("kdp/kdp_combined_sales.csv");
    assert_eq!(ev.len(), 22);
    assert_eq!(totals(&ev), map(&ESTIMATOR_TOTALS));
    assert_eq!(units(&ev), 286);
    assert_eq!(ev.iter().filter(|e| e.format == Format::Ebook).count(), 14);
    assert_eq!(
        ev.iter().filter(|e| e.format == Format::Paperback).count(),
        7
    );
    assert_eq!(
        ev.iter().filter(|e| e.format == Format::Hardcover).count(),
        1
    );
    assert!(ev.iter().all(|e| e.source == "kdp.estimate.combined_sales"));
}

#[test]
fn kenp_read_csvs_old_and_new() {
    for (rel, source) in [
        ("kdp/kdp_kenp.csv", "kdp.estimate.kenp_read"),
        ("kdp/kdp_kenp_2025.csv", "kdp.estimate.kenp"),
    ] {
        let (ev, _) = ok(rel);
        assert_eq!(ev.len(), 12, "{rel}");
        assert_eq!(pages(&ev), 2699, "{rel}");
        assert_eq!(units(&ev), 0, "{rel}");
        assert!(ev
            .iter()
            .all(|e| e.royalty_micros == 0 && e.format == Format::Kenp && e.source == source));
        let us = ev.iter().find(|e| e.marketplace == "Amazon.com").unwrap();
        assert_eq!((us.currency.as_str(), us.country.as_str()), ("USD", "US"));
        assert_eq!(ev[0].product_id, "B0B9FOX123");
        assert_eq!(
            (ev[0].period_start, ev[0].period_end),
            (day(2025, 8, 2), day(2025, 8, 2))
        );
    }
}

#[test]
fn prior_month_csv_copy_with_sales_period_row() {
    let (ev, _) = ok("kdp/kdp_prior_month_ebook_2025.csv");
    assert_eq!(ev.len(), 5);
    assert_eq!(
        totals(&ev),
        map(&[
            ("EUR", -3_220_000),
            ("JPY", 318_000_000),
            ("USD", 93_020_000)
        ])
    );
    assert_eq!(units(&ev), 240);
    assert!(ev.iter().all(|e| e.is_final
        && e.family == "kdp_final.ebook"
        && e.source == "kdp.final.ebook_royalty"
        && e.period_start == day(2025, 7, 1)
        && e.period_end == day(2025, 7, 31)));
    assert_eq!(
        ev.iter().map(|e| e.line).collect::<Vec<_>>(),
        vec![3, 4, 5, 6, 7]
    );
}

#[test]
fn csv_text_with_xlsx_name_is_parsed_as_csv() {
    let (ev, _) = ok("bad/kdp_not_really.xlsx");
    assert_eq!(ev.len(), 14);
    assert_eq!(totals(&ev), map(&EBOOK_CSV_TOTALS));
}

// ---------------------------------------------------------------- rejected input

/// The Payments workbook gives payouts, never events (FORMATS §2.4): one per summary row,
/// its detail rows folded in, the two `Currency` columns read by position.
#[test]
fn payments_workbook_gives_payouts_not_events() {
    let (ev, summary) = ok("kdp/kdp_payments.xlsx");
    assert!(ev.is_empty());
    assert_eq!(summary.layout, "KDP Payments report");
    assert!(summary.warnings.is_empty(), "{:?}", summary.warnings);
    assert_eq!(summary.rows, 12);
    let got: Vec<(String, String, i64, String, i64, String)> = summary
        .payouts
        .iter()
        .map(|p| {
            (
                p.reference.clone(),
                p.marketplace.clone(),
                p.net_micros,
                p.royalty_currency.clone(),
                p.amount_micros,
                p.currency.clone(),
            )
        })
        .collect();
    let s = |x: &str| x.to_string();
    assert_eq!(
        got,
        [
            (
                s("341000001"),
                s("Amazon.com"),
                131_180_000,
                s("USD"),
                131_180_000,
                s("USD")
            ),
            (
                s("341000002"),
                s("Amazon.co.uk"),
                21_400_000,
                s("GBP"),
                28_700_000,
                s("USD")
            ),
            (
                s("341000003"),
                s("Amazon.co.jp"),
                2_365_000_000,
                s("JPY"),
                16_080_000,
                s("USD")
            ),
            (
                s("341000004"),
                s("Amazon.de"),
                56_920_000,
                s("EUR"),
                64_460_000,
                s("USD")
            ),
        ]
    );
    let de = &summary.payouts[3];
    assert_eq!(de.accrued_micros, Some(58_120_000));
    assert_eq!(de.adjustments_micros, Some(-1_200_000));
    assert_eq!(de.fx_rate.as_deref(), Some("1.1325"));
    assert_eq!(de.status, "paid");
    assert_eq!(de.date, NaiveDate::from_ymd_opt(2025, 7, 29).unwrap());
    assert_eq!(
        de.period,
        Some((
            NaiveDate::from_ymd_opt(2025, 5, 1).unwrap(),
            NaiveDate::from_ymd_opt(2025, 5, 31).unwrap()
        ))
    );
}

/// A CSV copy of the Payments sheet reads the same way (headers by position, detail rows).
#[test]
fn payments_csv_copy_gives_payouts() {
    let (ev, summary) = ok("kdp/kdp_payments_2025-07_restated.csv");
    assert!(ev.is_empty());
    assert_eq!(summary.layout, "KDP Payments report (CSV copy)");
    assert!(summary.warnings.is_empty(), "{:?}", summary.warnings);
    let got: Vec<(&str, i64, Option<i64>)> = summary
        .payouts
        .iter()
        .map(|p| (p.marketplace.as_str(), p.net_micros, p.withholding_micros))
        .collect();
    assert_eq!(
        got,
        [
            ("Amazon.com", 116_080_000, Some(-3_000_000)),
            ("Amazon.co.uk", 11_910_000, Some(0)),
            ("Amazon.de", 32_730_000, Some(0)),
            ("Amazon.co.jp", 754_000_000, Some(0)),
        ]
    );
}

#[test]
fn legacy_block_report_is_rejected() {
    let e = err("kdp/kdp_legacy_monthly_2013.csv");
    assert!(e.contains("`kdp_legacy_monthly_2013.csv`"), "{e}");
    assert!(e.contains("KDP reports from 2011–2016"), "{e}");
    assert!(e.contains("not supported"), "{e}");
}

#[test]
fn a_header_mixing_spanish_and_english_is_rejected() {
    let e = err("bad/kdp_ebook_royalty_spanish_headers.csv");
    assert!(
        e.contains("`kdp_ebook_royalty_spanish_headers.csv`, line 1"),
        "{e}"
    );
    assert!(
        e.contains("mixes Spanish and English")
            && e.contains("`Fecha de las regalías`")
            && e.contains("`Avg. List Price without tax`"),
        "{e}"
    );
    let e = err("bad/kdp_mixed_languages.xlsx");
    assert!(
        e.contains("mixes Spanish and English")
            && e.contains("`Regalías de eBooks`")
            && e.contains("`Paperback Royalty`"),
        "{e}"
    );
}

/// The hand-made Spanish sheet is read as Spanish now, and refused for the columns it lacks,
/// named as the file names them.
#[test]
fn a_spanish_sheet_missing_columns_names_them_in_spanish() {
    let e = err("bad/kdp_spanish_headers.xlsx");
    assert!(
        e.contains("sheet `Regalías eBook`, row 1: not a KDP eBook Royalty sheet in Spanish"),
        "{e}"
    );
    assert!(
        e.contains("`Unidades vendidas` (Units Sold), `Unidades devueltas` (Units Refunded)"),
        "{e}"
    );
}

#[test]
fn other_languages_are_rejected_naming_the_language() {
    let e = err("bad/kdp_de_royalties_estimator.xlsx");
    assert!(e.contains("`kdp_de_royalties_estimator.xlsx`"), "{e}");
    assert!(e.contains("in German"), "{e}");
    assert!(e.contains("English and Spanish"), "{e}");
    let e = parse_text("Tantiemendatum,Titel,ASIN,Marktplatz,Tantiemen,Währung\n".as_bytes())
        .unwrap_err()
        .to_string();
    assert!(e.contains("in German"), "{e}");
}

/// A Spanish Excel's CSV (semicolons, decimal commas) is read as such and refused at the first
/// decimal comma, naming the cell (FORMATS §10.3 rule 4): never guessed.
#[test]
fn a_spanish_csv_with_decimal_commas_is_rejected_naming_the_cell() {
    let e = err("bad/kdp_es_ebook_royalty_semicolons.csv");
    assert!(
        e.contains(
            "`kdp_es_ebook_royalty_semicolons.csv`, line 2, column `Precio de lista medio sin impuestos`"
        ),
        "{e}"
    );
    assert!(e.contains("`3,99`") && e.contains("decimal commas"), "{e}");
}

#[test]
fn wrong_headers_are_rejected_naming_missing_columns() {
    let e = err("bad/kdp_ebook_royalty_wrong_headers.csv");
    assert!(
        e.contains("`kdp_ebook_royalty_wrong_headers.csv`, line 1"),
        "{e}"
    );
    assert!(
        e.contains("`Royalty Date`") && e.contains("`Royalty`"),
        "{e}"
    );
}

#[test]
fn text_money_in_csv_is_rejected_with_line_and_column() {
    let e = err("bad/kdp_ebook_royalty_nonnumeric.csv");
    assert!(
        e.contains("`kdp_ebook_royalty_nonnumeric.csv`, line 2, column `Royalty`"),
        "{e}"
    );
    assert!(e.contains("46,51"), "{e}");
}

#[test]
fn text_money_in_xlsx_is_rejected_with_sheet_row_and_column() {
    let e = err("bad/kdp_estimator_text_money.xlsx");
    assert!(
        e.contains(
            "`kdp_estimator_text_money.xlsx`, sheet `eBook Royalty`, row 3, column `Royalty`"
        ),
        "{e}"
    );
    assert!(e.contains("US$20.88"), "{e}");
    let e = err("bad/kdp_estimator_decimal_comma.xlsx");
    assert!(
        e.contains("row 2, column `Avg. List Price without tax`"),
        "{e}"
    );
    assert!(e.contains("4,64"), "{e}");
}

#[test]
fn truncated_xlsx_is_rejected_cleanly() {
    let e = err("bad/kdp_royalties_estimator_truncated.xlsx");
    assert!(
        e.contains("`kdp_royalties_estimator_truncated.xlsx`"),
        "{e}"
    );
    assert!(
        e.contains("not a valid XLSX workbook (the file may be truncated): download it again"),
        "{e}"
    );
}

#[test]
fn empty_file_is_rejected() {
    let e = err("bad/empty.csv");
    assert!(e.contains("`empty.csv`") && e.contains("empty"), "{e}");
}

#[test]
fn smashwords_report_is_not_a_kdp_report() {
    let e = err("smashwords/smashwords_sales.csv");
    assert!(e.contains("not a recognised KDP sales sheet"), "{e}");
}

// ---------------------------------------------------------------- helpers

#[test]
fn float_cells_become_exact_decimal_text() {
    assert_eq!(xlsx::float_text(46.51), "46.51");
    assert_eq!(xlsx::float_text(8.3), "8.3");
    assert_eq!(xlsx::float_text(1000.0), "1000");
    assert_eq!(xlsx::float_text(-3.22), "-3.22");
    assert_eq!(xlsx::float_text(0.1 + 0.2), "0.3");
    assert_eq!(xlsx::float_text(9_798_867_123_451.0), "9798867123451");
    assert_eq!(xlsx::float_text(-0.0), "0");
    assert!(crate::model::parse_micros(&xlsx::float_text(f64::NAN)).is_err());
}

#[test]
fn period_labels() {
    let july = Some((day(2025, 7, 1), day(2025, 7, 31)));
    assert_eq!(period_label("July 2025"), july);
    assert_eq!(period_label("Jul 2025"), july);
    assert_eq!(period_label("2025-07"), july);
    assert_eq!(period_label("2025-07-01"), july);
    assert_eq!(
        period_label("Sales report for the period August - 2023"),
        Some((day(2023, 8, 1), day(2023, 8, 31)))
    );
    assert_eq!(
        period_label("February 2024"),
        Some((day(2024, 2, 1), day(2024, 2, 29)))
    );
    assert_eq!(
        period_label("December 2025").map(|p| p.1),
        Some(day(2025, 12, 31))
    );
    assert_eq!(period_label("Title"), None);
    assert_eq!(period_label("2025"), None);
    assert_eq!(
        parse_day_or_month("2025-07-31"),
        Some((day(2025, 7, 31), day(2025, 7, 31)))
    );
    assert_eq!(parse_day_or_month("2025-13"), None);
}

#[test]
fn marketplaces() {
    assert_eq!(marketplace_country("Amazon.co.uk"), "GB");
    assert_eq!(marketplace_country("Amazon.com.au"), "AU");
    assert_eq!(marketplace_country("Amazon.sg"), "");
    assert_eq!(marketplace_currency("Amazon.pl"), Some("PLN"));
    assert_eq!(marketplace_currency("Amazon.it"), Some("EUR"));
    assert_eq!(marketplace_currency("Amazon.sg"), None);
}

/// Speed check over a generated 100,000-row eBook Royalty sheet:
/// `python3 tests/fixtures/gen/make_kdp_fixtures.py --bench 100000 /tmp/b.xlsx /tmp/b.csv`
/// then `KDP_BENCH_XLSX=/tmp/b.xlsx KDP_BENCH_CSV=/tmp/b.csv cargo test --release --lib
/// kdp::tests::bench -- --ignored --nocapture`.
#[test]
#[ignore = "needs generated benchmark files"]
fn bench_100k_rows() {
    for var in ["KDP_BENCH_XLSX", "KDP_BENCH_CSV"] {
        let Ok(path) = std::env::var(var) else {
            continue;
        };
        let mut sink = crate::platforms::CountingSink::default();
        let t = std::time::Instant::now();
        parse_file(std::path::Path::new(&path), &path, &mut sink).unwrap();
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{var}: {} events in {secs:.3}s = {:.0} rows/s",
            sink.events,
            sink.events as f64 / secs
        );
    }
}

fn parse_text(text: &[u8]) -> Result<(Vec<SaleEvent>, ParseSummary), PlatformError> {
    use std::io::Write;
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text).unwrap();
    let mut sink = Collect::default();
    let summary = parse_file(f.path(), "copy.csv", &mut sink)?;
    Ok((sink.0, summary))
}

#[test]
fn header_only_csv_gives_a_warning_and_no_events() {
    let (ev, summary) = parse_text(
        b"Date,Title,Author Name,ASIN,Marketplace,Kindle Edition Normalized Page (KENP) Read\n",
    )
    .unwrap();
    assert!(ev.is_empty());
    assert!(summary.warnings.iter().any(|w| w.contains("no sales rows")));
}

#[test]
fn odd_inputs_are_rejected_without_panicking() {
    let cases: [&[u8]; 7] = [
        b"Sales Period,July 2025\n",
        b"Sales Period,someday,,\nTitle,Author,ASIN,Marketplace\n",
        b"\xEF\xBB\xBF\r\n\r\n",
        b"PK\x03\x04garbage",
        b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1",
        b"Royalty Date,ASIN,Marketplace,Net Units Sold,Royalty,Currency\n2025-07,,Amazon.com,1,1.00,USD\n",
        b"Royalty Date,ASIN,Marketplace,Net Units Sold,Royalty,Currency\n2025-7-1,B0X,Amazon.com,1,1.00,US$\n",
    ];
    for case in cases {
        let r = parse_text(case);
        assert!(
            r.is_err(),
            "{:?} should be rejected",
            String::from_utf8_lossy(case)
        );
    }
}

// ---------------------------------------------------------------- Spanish workbooks

/// What two workbooks must agree on: every field of every event but the `raw` row (whose
/// header names are in each file's language).
fn comparable(ev: &[SaleEvent]) -> Vec<String> {
    ev.iter()
        .map(|e| {
            format!(
                "{}|{}|{}|{}|{}|{}|{:?}|{}|{}|{}|{}|{:?}|{}|{}|{}|{}",
                e.family,
                e.source,
                e.period_start,
                e.period_end,
                e.title,
                e.product_id,
                e.format,
                e.marketplace,
                e.country,
                e.units,
                e.kenp_pages,
                e.list_price_micros,
                e.royalty_micros,
                e.currency,
                e.is_final,
                e.line
            )
        })
        .collect()
}

/// The Spanish samples give exactly the events (and coverage) of their English twins, which
/// the fixture generator writes by translating every sheet name, header, transaction type and
/// month label back (FORMATS §10).
#[test]
fn spanish_workbooks_read_as_their_english_twins() {
    for (es, en) in [
        (
            "kdp/kdp_es_royalties_estimator.xlsx",
            "kdp/kdp_en_twin_royalties_estimator.xlsx",
        ),
        (
            "kdp/kdp_es_prior_month_royalties.xlsx",
            "kdp/kdp_en_twin_prior_month_royalties.xlsx",
        ),
    ] {
        let (es_ev, es_sum) = ok(es);
        let (en_ev, en_sum) = ok(en);
        assert!(!es_ev.is_empty());
        assert_eq!(comparable(&es_ev), comparable(&en_ev), "{es}");
        assert_eq!(es_sum.coverage, en_sum.coverage, "{es}");
        assert_eq!(es_sum.rows, en_sum.rows, "{es}");
        assert!(es_sum.warnings.is_empty(), "{:?}", es_sum.warnings);
        assert!(es_sum.layout.contains("Spanish"), "{}", es_sum.layout);
        // The raw row keeps the Spanish header names.
        assert!(
            es_ev[0].raw_json().contains("Tienda"),
            "{}",
            es_ev[0].raw_json()
        );
    }
}

#[test]
fn spanish_values_are_read_by_their_meaning() {
    let (ev, _) = ok("kdp/kdp_es_prior_month_royalties.xlsx");
    assert!(ev.iter().all(|e| e.is_final
        && e.period_start == day(2025, 8, 1)
        && e.period_end == day(2025, 8, 31)));
    assert_eq!(ev.iter().filter(|e| e.format == Format::Kenp).count(), 7);
    assert_eq!(
        ev.iter().filter(|e| e.format == Format::Paperback).count(),
        2
    );
    // `Regalías de los libros de tapa ` (cut at 31 characters) is the Hardcover sheet: present,
    // empty, and declared for August.
    let (_, summary) = ok("kdp/kdp_es_prior_month_royalties.xlsx");
    assert!(summary
        .coverage
        .iter()
        .any(|c| c.family == "kdp_final.hardcover" && c.start == day(2025, 8, 1)));
    let (ev, _) = ok("kdp/kdp_es_royalties_estimator.xlsx");
    let free = ev
        .iter()
        .filter(|e| e.raw_json().contains("Promoción gratuita"))
        .collect::<Vec<_>>();
    assert!(!free.is_empty());
    assert!(free.iter().all(|e| e.royalty_micros == 0 && e.units > 0));
    let hard = ev.iter().find(|e| e.format == Format::Hardcover).unwrap();
    assert_eq!(hard.family, "kdp_estimate.hardcover");
    assert_eq!(hard.source, "kdp.estimate.hardcover_royalty");
}

// ---------------------------------------------------------------- KENP month totals (§12)

fn kenp_periods(ev: &[SaleEvent]) -> Vec<(NaiveDate, NaiveDate, i64)> {
    ev.iter()
        .filter(|e| e.family == "kdp_estimate.kenp")
        .map(|e| (e.period_start, e.period_end, e.kenp_pages))
        .collect()
}

/// Rule 2: in a workbook whose sales dates are all months, a KENP date of the 1st is the whole
/// month (month-to-date for the newest month).
#[test]
fn kenp_rows_of_a_lifetime_download_are_month_totals() {
    let (ev, summary) = ok("kdp/kdp_lifetime_orders.xlsx");
    let kenp = kenp_periods(&ev);
    assert_eq!(kenp.len(), 29);
    assert!(kenp
        .iter()
        .all(|(s, e, _)| s.day() == 1 && *e == month_of(*s).1));
    assert!(kenp.contains(&(day(2025, 8, 1), day(2025, 8, 31), 292)));
    let kenp_cov = summary
        .coverage
        .iter()
        .find(|c| c.family == "kdp_estimate.kenp")
        .unwrap();
    assert!(kenp_cov.month_totals);
    assert_eq!(
        (kenp_cov.start, kenp_cov.end),
        (day(2025, 5, 1), day(2025, 8, 31))
    );
    // Every kind the workbook stands for is declared as month totals, the empty ones too.
    for f in ["ebook", "paperback", "hardcover", "kenp", "kenp_royalty"] {
        let c = summary
            .coverage
            .iter()
            .find(|c| c.family == format!("kdp_estimate.{f}"))
            .unwrap_or_else(|| panic!("{f}: {:?}", summary.coverage));
        assert!(c.month_totals, "{f}");
    }
}

/// Rules 1 and 3: a Dashboard's KENP rows are days, those of the 1st too; the sample estimator
/// (monthly sales, KENP rows on days 27..2) keeps every KENP row a day, the 1st included, as
/// its own Summary counts them.
#[test]
fn kenp_rows_of_daily_downloads_are_days() {
    for rel in [
        "kdp/kdp_dashboard_daily.xlsx",
        "kdp/kdp_dashboard_kenp_first.xlsx",
        "kdp/kdp_royalties_estimator.xlsx",
    ] {
        let (ev, summary) = ok(rel);
        let kenp = kenp_periods(&ev);
        assert!(!kenp.is_empty(), "{rel}");
        assert!(kenp.iter().all(|(s, e, _)| s == e), "{rel}: {kenp:?}");
        assert!(
            summary
                .coverage
                .iter()
                .all(|c| c.family != "kdp_estimate.kenp" || !c.month_totals),
            "{rel}"
        );
        assert!(summary.warnings.is_empty(), "{rel}: {:?}", summary.warnings);
    }
    let (ev, _) = ok("kdp/kdp_dashboard_kenp_first.xlsx");
    assert!(kenp_periods(&ev).contains(&(day(2025, 10, 1), day(2025, 10, 1), 40)));
}

/// Rule 4: with no sales row, KENP rows all of the 1st are month totals when the Summary has
/// several months, days when it has one.
#[test]
fn kenp_rows_without_sales_rows_follow_the_summary() {
    let (ev, _) = ok("kdp/kdp_pages_only_one_month.xlsx");
    assert_eq!(
        kenp_periods(&ev),
        vec![
            (day(2025, 8, 1), day(2025, 8, 1), 33),
            (day(2025, 8, 1), day(2025, 8, 1), 7)
        ]
    );
    let (ev, _) = ok("kdp/kdp_pages_only_lifetime.xlsx");
    assert_eq!(
        kenp_periods(&ev),
        vec![
            (day(2025, 8, 1), day(2025, 8, 31), 33),
            (day(2025, 7, 1), day(2025, 7, 31), 120)
        ]
    );
}

/// Rule 5: sales dates mixing months and days are refused, naming a row of each.
#[test]
fn sales_dates_mixing_months_and_days_are_rejected() {
    let e = err("bad/kdp_months_and_days.xlsx");
    assert!(
        e.contains("sheet `Combined Sales`, row 2: the sales dates mix months and days"),
        "{e}"
    );
    assert!(
        e.contains("`2025-07` here is a month, `2025-07-14` (sheet `Combined Sales`, row 3) a day"),
        "{e}"
    );
    let e = parse_text(
        b"Royalty Date,ASIN,Marketplace,Net Units Sold,Royalty,Currency\n2025-07-02,B0X,Amazon.com,1,1.00,USD\n2025-07,B0X,Amazon.com,1,1.00,USD\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("line 3") && e.contains("(line 2) a day"), "{e}");
}

/// A CSV copy of a lifetime workbook's KENP sheet (all dates the 1st, several months) holds
/// month totals; one of a single month holds days.
#[test]
fn kenp_csv_copies_are_read_by_their_dates() {
    let (ev, summary) = parse_text(
        b"Date,Title,Author Name,ASIN,Marketplace,Kindle Edition Normalized Page (KENP) Read\n2025-08-01,T,A,B0X,Amazon.com,5\n2025-07-01,T,A,B0X,Amazon.com,9\n",
    )
    .unwrap();
    assert_eq!(
        kenp_periods(&ev),
        vec![
            (day(2025, 8, 1), day(2025, 8, 31), 5),
            (day(2025, 7, 1), day(2025, 7, 31), 9)
        ]
    );
    assert!(summary.coverage[0].month_totals);
    let (ev, _) = parse_text(
        b"Date,Title,Author Name,ASIN,Marketplace,Kindle Edition Normalized Page (KENP) Read\n2025-08-01,T,A,B0X,Amazon.com,5\n",
    )
    .unwrap();
    assert_eq!(
        kenp_periods(&ev),
        vec![(day(2025, 8, 1), day(2025, 8, 1), 5)]
    );
}

// ---------------------------------------------------------------- the Summary's KENP royalty (§11)

/// Royalty per (month, currency) of all events, and of the Summary's KENP royalty events.
fn by_month(ev: &[SaleEvent], family: Option<&str>) -> BTreeMap<(String, String), i64> {
    let mut m = BTreeMap::new();
    for e in ev.iter().filter(|e| family.is_none_or(|f| e.family == f)) {
        *m.entry((e.month(), e.currency.clone())).or_insert(0) += e.royalty_micros;
    }
    m.retain(|_, v| *v != 0);
    m
}

fn money_map(pairs: &[(&str, &str, i64)]) -> BTreeMap<(String, String), i64> {
    pairs
        .iter()
        .map(|(m, c, v)| ((m.to_string(), c.to_string()), *v))
        .collect()
}

/// A lifetime workbook's totals per month and currency equal its Summary sheet (read off the
/// fixture's `Summary` rows): the KENP royalty that no detail sheet carries is imported as
/// estimate events of its own, one per month and currency, for May and June (July and August
/// were not priced when it was downloaded).
#[test]
fn a_workbook_totals_its_own_summary() {
    let (ev, summary) = ok("kdp/kdp_lifetime_orders.xlsx");
    assert!(summary.warnings.is_empty(), "{:?}", summary.warnings);
    assert_eq!(
        by_month(&ev, None),
        money_map(&[
            ("2025-05", "EUR", 3_110_000),
            ("2025-05", "GBP", 30_690_000),
            ("2025-05", "JPY", 346_000_000),
            ("2025-05", "USD", 61_220_000),
            ("2025-06", "EUR", 17_250_000),
            ("2025-06", "GBP", 36_920_000),
            ("2025-06", "JPY", -270_000_000),
            ("2025-06", "USD", 86_940_000),
            ("2025-07", "CAD", 46_420_000),
            ("2025-07", "EUR", 26_060_000),
            ("2025-07", "GBP", 29_550_000),
            ("2025-07", "USD", 70_470_000),
            ("2025-08", "EUR", 8_360_000),
            ("2025-08", "GBP", 18_870_000),
            ("2025-08", "USD", 21_000_000),
        ])
    );
    let k: Vec<&SaleEvent> = ev
        .iter()
        .filter(|e| e.family == KENP_ROYALTY_FAMILY)
        .collect();
    assert_eq!(k.len(), 8);
    assert!(k.iter().all(|e| e.format == Format::Kenp
        && e.units == 0
        && e.kenp_pages == 0
        && !e.is_final
        && e.source == "kdp.estimate.summary"
        && e.period_end == month_of(e.period_start).1));
    let usd_may = k
        .iter()
        .find(|e| e.currency == "USD" && e.month() == "2025-05")
        .unwrap();
    // Summary 61.22 − eBook 32.88 − paperback 25.67.
    assert_eq!(usd_may.royalty_micros, 2_670_000);
    assert_eq!(
        (usd_may.marketplace.as_str(), usd_may.country.as_str()),
        ("Amazon.com", "US")
    );
    let eur = k.iter().find(|e| e.currency == "EUR").unwrap();
    assert_eq!((eur.marketplace.as_str(), eur.country.as_str()), ("", ""));
    // The Spanish lifetime workbook too (its K is priced for July–September).
    let (ev, summary) = ok("kdp/kdp_es_royalties_estimator.xlsx");
    assert!(summary.warnings.is_empty(), "{:?}", summary.warnings);
    assert_eq!(
        by_month(&ev, None),
        money_map(&[
            ("2025-07", "EUR", 59_080_000),
            ("2025-07", "MXN", 59_570_000),
            ("2025-07", "USD", 34_560_000),
            ("2025-08", "EUR", 62_640_000),
            ("2025-08", "MXN", 583_430_000),
            ("2025-08", "USD", 63_440_000),
            ("2025-09", "EUR", 96_590_000),
            ("2025-09", "MXN", 757_650_000),
            ("2025-09", "USD", 66_560_000),
            ("2025-10", "EUR", 69_100_000),
            ("2025-10", "USD", 66_060_000),
        ])
    );
}

/// In a daily download the Summary's KENP royalty of a month is shared out over the days with
/// pages, exactly (to the cent), so that days replace days as the pages do.
#[test]
fn a_daily_download_shares_the_kenp_royalty_by_day() {
    let (ev, summary) = ok("kdp/kdp_dashboard_priced.xlsx");
    assert!(summary.warnings.is_empty(), "{:?}", summary.warnings);
    let mut k: Vec<(NaiveDate, NaiveDate, &str, &str, i64)> = ev
        .iter()
        .filter(|e| e.family == KENP_ROYALTY_FAMILY)
        .map(|e| {
            (
                e.period_start,
                e.period_end,
                e.currency.as_str(),
                e.marketplace.as_str(),
                e.royalty_micros,
            )
        })
        .collect();
    k.sort_unstable();
    assert_eq!(
        k,
        vec![
            (
                day(2025, 9, 25),
                day(2025, 9, 25),
                "USD",
                "Amazon.com",
                500_000
            ),
            (day(2025, 9, 26), day(2025, 9, 26), "EUR", "", 350_000),
            (
                day(2025, 9, 27),
                day(2025, 9, 27),
                "USD",
                "Amazon.com",
                250_000
            ),
            (
                day(2025, 9, 30),
                day(2025, 9, 30),
                "USD",
                "Amazon.com",
                250_000
            ),
        ]
    );
    assert_eq!(
        by_month(&ev, None),
        money_map(&[("2025-09", "EUR", 3_720_000), ("2025-09", "USD", 6_210_000)])
    );
    let k_cov = summary
        .coverage
        .iter()
        .find(|c| c.family == KENP_ROYALTY_FAMILY)
        .unwrap();
    assert!(!k_cov.month_totals);
    assert_eq!(
        (k_cov.start, k_cov.end),
        (day(2025, 9, 25), day(2025, 9, 30))
    );
}

/// §11.2 as a check: a Summary whose units do not match the detail sheets gives a warning
/// naming the month, and that month's KENP royalty is not derived from it.
#[test]
fn an_edited_summary_is_named_in_a_warning() {
    let (ev, summary) = ok("bad/kdp_summary_edited.xlsx");
    assert_eq!(summary.warnings.len(), 1, "{:?}", summary.warnings);
    let w = &summary.warnings[0];
    assert!(w.contains("sheet `Summary`, row 4 (June 2025)"), "{w}");
    assert!(
        w.contains("53 paid eBook units where the detail sheets hold 54"),
        "{w}"
    );
    let k = by_month(&ev, Some(KENP_ROYALTY_FAMILY));
    assert!(k.keys().all(|(m, _)| m != "2025-06"), "{k:?}");
    assert!(k.keys().any(|(m, _)| m == "2025-05"), "{k:?}");
}

// ---------------------------------------------------------------- declared coverage

/// A final workbook declares each sheet's kind for its month, the empty Hardcover sheet too.
#[test]
fn a_final_workbook_declares_every_sheet_it_has() {
    let (_, summary) = ok("kdp/kdp_prior_month_royalties.xlsx");
    let mut families: Vec<&str> = summary.coverage.iter().map(|c| c.family.as_str()).collect();
    families.sort_unstable();
    assert_eq!(
        families,
        [
            "kdp_final.ebook",
            "kdp_final.hardcover",
            "kdp_final.kenp",
            "kdp_final.paperback"
        ]
    );
    assert!(summary
        .coverage
        .iter()
        .all(|c| c.month_totals && c.start == day(2025, 7, 1) && c.end == day(2025, 7, 31)));
    // A Total Earnings sheet alone stands for all four kinds.
    let (_, summary) = ok("kdp/kdp_total_earnings_only.xlsx");
    assert_eq!(summary.coverage.len(), 4, "{:?}", summary.coverage);
}

/// A Prior Months' print sheet copied to CSV cannot say whether it is the paperback or the
/// hardcover one: refused rather than counted as the wrong format.
#[test]
fn a_final_print_sheet_copy_is_rejected() {
    let e = parse_text(
        b"Sales Period,July 2025,,,,,,,,,,,\nTitle,Author,ISBN,Marketplace,Units Sold,Units Refunded,Royalty Type,Avg. List Price without tax,Avg. Offer Price without tax,Avg. Manufacturing Cost,Royalty,Currency,ASIN\nT,A,9798867123468,Amazon.com,1,0,60%,24.99,24.99,7.85,7.14,USD,B0X\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("does not say which of the two it is"), "{e}");
}

#[test]
fn binary_xls_is_not_called_a_kdp_report() {
    let e = err("bad/binary_excel_97.xls");
    assert!(e.contains("binary Excel 97–2003 workbook (.xls)"), "{e}");
    assert!(e.contains("If it is a KDP report"), "{e}");
    assert!(!e.contains("download the Prior Months"), "{e}");
}
