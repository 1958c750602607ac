use super::*;
use crate::platforms::testutil::{fixture, Collect};
use chrono::NaiveDate;
use std::io::Write;

fn parse_path(path: &Path, name: &str) -> Result<(Vec<SaleEvent>, ParseSummary), PlatformError> {
    let mut sink = Collect::default();
    let summary = parse_file(path, name, &mut sink)?;
    Ok((sink.0, summary))
}

fn parse_bytes(bytes: &[u8]) -> Result<(Vec<SaleEvent>, ParseSummary), PlatformError> {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(bytes).unwrap();
    parse_path(f.path(), "bn.csv")
}

fn err(r: Result<(Vec<SaleEvent>, ParseSummary), PlatformError>) -> String {
    match r {
        Ok(_) => panic!("expected a rejection"),
        Err(PlatformError::Rejected(e)) => e.to_string(),
        Err(other) => panic!("expected a rejection, got {other:?}"),
    }
}

fn day(m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, m, d).unwrap()
}

const PREAMBLE: &str = "\"Barnes & Noble Press - Sales Report\"\n\"Publisher: Lantern Lane Press\"\n\"Date Range: 07/01/2025 - 07/31/2025\"\n\"Generated: 08/02/2025\"\n\n";
const HEADER: &str = "Sale Date,Title,Format,BN ID / ISBN,eBook ISBN (Optional),Author,Publisher,List Price,Sale Price,Selling Currency,Units Sold,Units Returned,Net Units Sold,Royalty %,Royalty per Unit,Total Royalty,Payment Currency";

fn row(date: &str, format: &str, net: &str, royalty: &str) -> String {
    format!("{date},\"=\"\"Salt & Ember\"\"\",\"=\"\"{format}\"\"\",\"=\"\"2940185885499\"\"\",\"=\"\"9781732461017\"\"\",Jane Q. Writer,Lantern Lane Press,3.99,3.99,USD,{net},0,{net},65,2.59,{royalty},USD")
}

fn totals(ev: &[SaleEvent]) -> (i64, i64) {
    (
        ev.iter().map(|e| e.royalty_micros).sum(),
        ev.iter().map(|e| e.units).sum(),
    )
}

/// The sample: 5 preamble rows, `="…"` cells, a return, a paperback without an eBook ISBN, a
/// GBP sale paid in USD. Python over `Total Royalty`: 6.27 - 2.09 + 4.21 + 2.59 = 10.98 USD;
/// `Net Units Sold` 3 - 1 + 1 + 1 = 4.
#[test]
fn the_sample_export() {
    let (ev, summary) = parse_path(&fixture("barnes_noble/bn_press_sales.csv"), "bn.csv").unwrap();
    assert_eq!(summary.layout, "B&N Press sales export");
    assert_eq!(summary.rows, 4);
    assert!(summary.warnings.is_empty(), "{:?}", summary.warnings);
    assert_eq!(totals(&ev), (10_980_000, 4));
    assert!(ev.iter().all(|e| e.currency == "USD"
        && e.is_final
        && e.platform == Platform::BarnesNoble
        && e.source == "barnes_noble.sales"));
    assert_eq!(ev.iter().map(|e| e.line).collect::<Vec<_>>(), [7, 8, 9, 10]);
    let first = &ev[0];
    assert_eq!(first.title, "Fox Hollow (Fox Hollow Mysteries Book 1)");
    assert_eq!(
        first.product_id, "9781732461031",
        "the eBook ISBN, not the BN ID"
    );
    assert_eq!(
        (first.format, first.family.as_str()),
        (Format::Ebook, "barnes_noble_sales:ebook")
    );
    assert_eq!(
        (first.period_start, first.period_end),
        (day(7, 5), day(7, 5))
    );
    assert_eq!(first.list_price_micros, Some(2_990_000));
    let ret = &ev[1];
    assert_eq!((ret.units, ret.royalty_micros), (-1, -2_090_000));
    let print = &ev[2];
    assert_eq!(
        (
            print.format,
            print.family.as_str(),
            print.product_id.as_str()
        ),
        (
            Format::Paperback,
            "barnes_noble_sales:paperback",
            "9798867123451"
        )
    );
    // Sold in GBP, paid in USD: the royalty is the USD one and the GBP list price is dropped.
    let gbp = &ev[3];
    assert_eq!(
        (gbp.royalty_micros, gbp.currency.as_str()),
        (2_590_000, "USD")
    );
    assert_eq!(gbp.list_price_micros, None);
    let raw: serde_json::Value = serde_json::from_str(&gbp.raw_json()).unwrap();
    assert_eq!(raw["Selling Currency"], "GBP");
    assert_eq!(raw["BN ID / ISBN"], "=\"2940185885499\"");
    // The `Date Range` above the header is the range it covers, for each format it holds.
    let cov: Vec<(&str, NaiveDate, NaiveDate)> = summary
        .coverage
        .iter()
        .map(|c| (c.family.as_str(), c.start, c.end))
        .collect();
    assert_eq!(
        cov,
        [
            ("barnes_noble_sales:ebook", day(7, 1), day(7, 31)),
            ("barnes_noble_sales:paperback", day(7, 1), day(7, 31)),
        ]
    );
}

/// A `Date Range` that does not hold the rows is not trusted (a warning says so).
#[test]
fn a_date_range_that_disagrees_with_the_rows_is_ignored() {
    let text = format!(
        "\"Date Range: 07/01/2025 - 07/31/2025\"\n{HEADER}\n{}\n",
        row("08/03/2025", "NOOK Book", "1", "2.59")
    );
    let (_, summary) = parse_bytes(text.as_bytes()).unwrap();
    assert!(summary.coverage.is_empty());
    assert!(
        summary.warnings[0].contains("says it covers 2025-07-01 to 2025-07-31"),
        "{:?}",
        summary.warnings
    );
    let (_, summary) = parse_bytes(
        format!(
            "{HEADER}\n{}\n",
            row("08/03/2025", "NOOK Book", "1", "2.59")
        )
        .as_bytes(),
    )
    .unwrap();
    assert!(summary.coverage.is_empty() && summary.warnings.is_empty());
}

/// BOM, CRLF, the `"=""…"" "` form (a space inside the quotes), an empty `=""`, two identical
/// rows. Python: 5.18 + 5.18 + 3.86 - 1.94 = 12.28 USD; units 2 + 2 + 1 - 1 = 4.
#[test]
fn the_variants_export() {
    let (ev, _) = parse_path(
        &fixture("barnes_noble/bn_press_sales_variants.csv"),
        "variants.csv",
    )
    .unwrap();
    assert_eq!(totals(&ev), (12_280_000, 4));
    assert_eq!(ev.len(), 4);
    // The spaced form reads as the plain one: two identical sales.
    let key = |e: &SaleEvent| {
        (
            e.product_id.clone(),
            e.units,
            e.royalty_micros,
            e.period_start,
        )
    };
    assert_eq!(key(&ev[0]), key(&ev[1]));
    assert_eq!(ev[0].product_id, "9781732461017");
    assert_eq!(ev[2].product_id, "9798324555016");
    assert_eq!(ev[3].units, -1);
}

#[test]
fn unwrapping_cells() {
    for (raw, want) in [
        ("=\"2940185885482\"", "2940185885482"),
        ("=\"2940185885482\" ", "2940185885482"),
        (" =\"NOOK Book\"", "NOOK Book"),
        ("=\"\"", ""),
        ("plain", "plain"),
        ("'quoted'", "quoted"),
        ("\"quoted\"", "quoted"),
        ("=\"He said \"\"hi\"\"\"", "He said \"hi\""),
        ("=\"'x'\"", "x"),
        ("\"", "\""),
        ("\u{feff}Sale Date", "Sale Date"),
    ] {
        assert_eq!(unwrap_cell(raw), want, "{raw:?}");
    }
}

#[test]
fn the_header_is_found_whatever_the_preamble() {
    let body = format!(
        "{HEADER}\n{}\n",
        row("07/03/2025", "NOOK Book", "2", "5.18")
    );
    for pre in ["", "\"Barnes & Noble Press - Sales Report\"\n\n", PREAMBLE] {
        let (ev, _) = parse_bytes(format!("{pre}{body}").as_bytes()).unwrap();
        assert_eq!(totals(&ev), (5_180_000, 2), "{pre:?}");
        let header_line = pre.matches('\n').count() as u64 + 1;
        assert_eq!(ev[0].line, header_line + 1);
    }
    // The header wrapped like the cells.
    let wrapped = HEADER
        .split(',')
        .map(|h| format!("\"=\"\"{h}\"\"\""))
        .collect::<Vec<_>>()
        .join(",");
    let text = format!(
        "{PREAMBLE}{wrapped}\n{}\n",
        row("07/03/2025", "NOOK Book", "2", "5.18")
    );
    assert_eq!(parse_bytes(text.as_bytes()).unwrap().0.len(), 1);
}

#[test]
fn windows_1252_text_is_read() {
    let mut bytes = PREAMBLE.as_bytes().to_vec();
    bytes.extend_from_slice(HEADER.as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(
        row("07/03/2025", "NOOK Book", "1", "2.59")
            .replace("Salt & Ember", "Caf\u{e9}")
            .as_bytes(),
    );
    // `é` as the single Windows-1252 byte 0xE9 instead of UTF-8.
    let at = bytes.windows(2).position(|w| w == "é".as_bytes()).unwrap();
    bytes.splice(at..at + 2, [0xE9]);
    let (ev, _) = parse_bytes(&bytes).unwrap();
    assert_eq!(ev[0].title, "Café");
}

#[test]
fn bad_cells_are_rejected_naming_line_and_column() {
    for (bad, needle) in [
        (
            row("07/04/2025", "NOOK Book", "1", "$2.59"),
            "line 8, column `Total Royalty`",
        ),
        (
            row("07/04/2025", "NOOK Book", "1", "2,59"),
            "line 8: expected 17 fields as in the header, found 18",
        ),
        (
            row("07/04/2025", "NOOK Book", "1.5", "2.59"),
            "line 8, column `Units Sold`",
        ),
        (
            row("2025/07/04x", "NOOK Book", "1", "2.59"),
            "line 8, column `Sale Date`",
        ),
        (
            row("07/04/2025", "Audiobook", "1", "2.59"),
            "line 8, column `Format`",
        ),
        (
            row("07/04/2025", "NOOK Book", "1", "2.59").replacen(",USD,", ",US$,", 1),
            "line 8, column `Selling Currency`",
        ),
        (
            row("07/04/2025", "NOOK Book", "1", "2.59").replace(",USD", ",US$"),
            "line 8, column `Payment Currency`",
        ),
        (
            row("07/04/2025", "NOOK Book", "1", ""),
            "line 8, column `Total Royalty`",
        ),
        (
            "07/04/2025,\"=\"\"T\"\"\"".to_string(),
            "found 2 (the file looks truncated",
        ),
    ] {
        let text = format!(
            "{PREAMBLE}{HEADER}\n{}\n{bad}\n",
            row("07/03/2025", "NOOK Book", "2", "5.18")
        );
        let e = err(parse_bytes(text.as_bytes()));
        assert!(e.contains(needle), "{needle}: {e}");
    }
}

#[test]
fn other_files_are_not_bn_exports() {
    let e = err(parse_path(&fixture("d2d/d2d_sales.csv"), "d2d.csv"));
    assert!(
        e.starts_with("`d2d.csv`: not a recognised B&N Press sales export"),
        "{e}"
    );
    let e = err(parse_bytes(PREAMBLE.as_bytes()));
    assert!(e.contains("without its header row"), "{e}");
    let e = err(parse_bytes(
        format!(
            "{PREAMBLE}{}\n",
            HEADER.replace(",Payment Currency", ",Currency")
        )
        .as_bytes(),
    ));
    assert!(
        e.contains(
            "line 6: not a complete B&N Press sales export: missing column `Payment Currency`"
        ),
        "{e}"
    );
    let e = err(parse_path(&fixture("kdp/kdp_payments.xlsx"), "x.xlsx"));
    assert!(e.contains("this is a spreadsheet workbook"), "{e}");
    let e = err(parse_path(&fixture("bad/empty.csv"), "empty.csv"));
    assert!(e.contains("the file is empty"), "{e}");
}

/// The 2011 PubIt `.xls` is named as such (BIFF8 keeps its strings as 8-bit or UTF-16LE
/// characters); any other `.xls` gets the workbook message.
#[test]
fn the_pubit_workbook_is_refused_with_a_bn_message() {
    let mut ole = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    ole.extend(std::iter::repeat_n(0, 500));
    let e = err(parse_bytes(&ole));
    assert!(e.contains("this is a spreadsheet workbook"), "{e}");
    let mut pubit = ole.clone();
    pubit.extend("Total Publisher's Revenue".bytes().flat_map(|b| [b, 0]));
    let e = err(parse_bytes(&pubit));
    assert!(e.contains("this is the 2011 PubIt sales workbook"), "{e}");
    let mut pubit8 = ole;
    pubit8.extend_from_slice(b"\x00Date Of Sale\x00\x00B&N Identifier");
    let e = err(parse_bytes(&pubit8));
    assert!(e.contains("2011 PubIt"), "{e}");
}

#[test]
fn formats() {
    for (t, f) in [
        ("NOOK Book", Some(Format::Ebook)),
        ("eBook", Some(Format::Ebook)),
        ("Paperback", Some(Format::Paperback)),
        ("Softcover", Some(Format::Paperback)),
        ("Hardcover", Some(Format::Hardcover)),
        ("Hardback", Some(Format::Hardcover)),
        ("Audiobook", None),
    ] {
        assert_eq!(format_of(t), f, "{t}");
    }
}
