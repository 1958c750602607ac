use super::*;
use crate::platforms::testutil::{fixture, Collect};
use std::io::Write;

fn parse_path(
    path: &Path,
    name: &str,
) -> Result<(Vec<SaleEvent>, ParseSummary, Vec<Statement>), PlatformError> {
    let mut sink = Collect::default();
    let (summary, statements) = parse_report(path, name, &mut sink)?;
    Ok((sink.0, summary, statements))
}

fn parse_bytes(
    bytes: &[u8],
) -> Result<(Vec<SaleEvent>, ParseSummary, Vec<Statement>), PlatformError> {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(bytes).unwrap();
    parse_path(f.path(), "financial.txt")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn err(r: Result<(Vec<SaleEvent>, ParseSummary, Vec<Statement>), PlatformError>) -> String {
    match r {
        Ok(_) => panic!("expected a rejection"),
        Err(PlatformError::Rejected(e)) => e.to_string(),
        Err(other) => panic!("expected a rejection, got {other:?}"),
    }
}

fn day(m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, m, d).unwrap()
}

const HEADER: &str = "Start Date\tEnd Date\tUPC\tISRC/ISBN\tVendor Identifier\tQuantity\tPartner Share\tExtended Partner Share\tPartner Share Currency\tSales or Return\tApple Identifier\tArtist/Show/Developer/Author\tTitle\tLabel/Studio/Network/Developer/Publisher\tGrid\tProduct Type Identifier\tISAN/Other Identifier\tCountry Of Sale\tPre-order Flag\tPromo Code\tCustomer Price\tCustomer Currency";

fn line(qty: &str, share: &str, ext: &str, cur: &str, sr: &str, country: &str) -> String {
    format!("06/01/2025\t06/28/2025\t\t9781732461017\tLLP-LKD\t{qty}\t{share}\t{ext}\t{cur}\t{sr}\t1600000315\tJane Q. Writer\tThe Lighthouse Keeper's Daughter\tLantern Lane Press\t\tEB1\t\t{country}\t\t\t3.99\t{cur}")
}

/// The EU sample: plain text, no preamble, the `Total_*` trailer, two identical lines.
/// Expected values from Python over the file: EUR 2.98 + 2.29 + 2.98 = 8.25, units 5.
#[test]
fn plain_report_with_trailer_and_identical_lines() {
    let (ev, summary, st) = parse_path(
        &fixture("apple_books/apple_books_financial_EU_2025-06.txt"),
        "eu.txt",
    )
    .unwrap();
    assert_eq!(
        summary.layout,
        "Apple Books financial report (tab-separated text)"
    );
    assert_eq!(summary.rows, 3);
    assert!(
        summary.coverage.is_empty(),
        "no preamble, no declared period"
    );
    assert!(summary.warnings.is_empty(), "{:?}", summary.warnings);
    assert_eq!(ev.len(), 3);
    assert_eq!(ev.iter().map(|e| e.royalty_micros).sum::<i64>(), 8_250_000);
    assert_eq!(ev.iter().map(|e| e.units).sum::<i64>(), 5);
    // Identical lines are two sales.
    assert_eq!(
        (ev[0].units, ev[0].royalty_micros, &ev[0].product_id),
        (ev[2].units, ev[2].royalty_micros, &ev[2].product_id)
    );
    for e in &ev {
        assert_eq!((e.period_start, e.period_end), (day(6, 1), day(6, 28)));
        assert_eq!(e.month(), "2025-06");
        assert_eq!(e.currency, "EUR");
        assert_eq!(e.family, "apple_books_financial:EUR");
        assert_eq!(e.source, "apple_books.financial");
        assert!(e.is_final);
        assert_eq!(e.format, Format::Ebook);
        assert_eq!(e.platform, Platform::AppleBooks);
    }
    assert_eq!(ev.iter().map(|e| e.line).collect::<Vec<_>>(), [2, 3, 4]);
    assert_eq!(ev[0].product_id, "9781732461048");
    assert_eq!(ev[0].country, "DE");
    assert_eq!(ev[0].list_price_micros, Some(2_490_000));
    assert_eq!(ev[0].title, "Nordlicht – Kurzgeschichten");
    let raw: serde_json::Value = serde_json::from_str(&ev[1].raw_json()).unwrap();
    assert_eq!(raw["Extended Partner Share"], "2.29");
    assert_eq!(raw["Country Of Sale"], "FR");
    assert_eq!(
        st,
        vec![Statement {
            currency: "EUR".into(),
            period_start: day(6, 1),
            period_end: day(6, 28),
            amount_micros: 8_250_000,
            units: 5,
            stated_total_micros: Some(8_250_000),
            countries: vec![],
            due_on: day(7, 31),
        }]
    );
    assert_eq!(
        summary.payments,
        vec![ReportedPayment {
            source: "apple_books.financial".into(),
            date: None,
            currency: "EUR".into(),
            amount_micros: 8_250_000,
            period: Some((day(6, 1), day(6, 28))),
            rows: 3,
        }]
    );
}

/// What is summed per currency and country is bounded: a file naming more currencies than any
/// report has keeps its lines but drops the summary, with a warning.
#[test]
fn payment_sums_are_bounded() {
    let mut text = format!("{HEADER}\n");
    for i in 0..(MAX_KEPT + 5) {
        let cur: String = [
            b'A' + (i / 676) as u8,
            b'A' + (i / 26 % 26) as u8,
            b'A' + (i % 26) as u8,
        ]
        .iter()
        .map(|&b| char::from(b))
        .collect();
        text.push_str(&line("1", "1.00", "1.00", &cur, "S", "US"));
        text.push('\n');
    }
    let (ev, summary, st) = parse_bytes(text.as_bytes()).unwrap();
    assert_eq!(ev.len(), MAX_KEPT + 5);
    assert!(st.is_empty() && summary.payments.is_empty());
    assert!(
        summary.warnings[0].contains("more than 1000 currencies"),
        "{:?}",
        summary.warnings
    );
}

/// The US sample: gzip, a 3-line preamble, a return, a free line, a blank line and the
/// per-country summary block. Python: USD 8.37 + 2.09 - 2.09 + 0.00 = 8.37, units 3+1-1+1 = 4.
#[test]
fn gzip_report_with_preamble_return_free_line_and_summary_block() {
    let (ev, summary, st) = parse_path(
        &fixture("apple_books/apple_books_financial_US_2025-06.txt.gz"),
        "us.txt.gz",
    )
    .unwrap();
    assert_eq!(summary.layout, "Apple Books financial report (gzip)");
    assert_eq!(ev.len(), 4);
    assert!(summary.warnings.is_empty(), "{:?}", summary.warnings);
    assert_eq!(ev.iter().map(|e| e.royalty_micros).sum::<i64>(), 8_370_000);
    assert_eq!(ev.iter().map(|e| e.units).sum::<i64>(), 4);
    assert_eq!(
        ev[0].line, 5,
        "the header is line 4, after three preamble lines"
    );
    let ret = &ev[2];
    assert_eq!((ret.units, ret.royalty_micros), (-1, -2_090_000));
    let free = &ev[3];
    assert_eq!(
        (free.units, free.royalty_micros, free.list_price_micros),
        (1, 0, Some(0))
    );
    assert!(ev.iter().all(|e| e.family == "apple_books_financial:USD"));
    assert_eq!(st.len(), 1);
    assert_eq!(st[0].amount_micros, 8_370_000);
    assert_eq!(st[0].stated_total_micros, None);
    // The preamble's fiscal period is what the file covers for its currency.
    let cov: Vec<(&str, NaiveDate, NaiveDate)> = summary
        .coverage
        .iter()
        .map(|c| (c.family.as_str(), c.start, c.end))
        .collect();
    assert_eq!(cov, [("apple_books_financial:USD", day(6, 1), day(6, 28))]);
    assert_eq!(
        st[0].countries,
        vec![CountryTotal {
            country: "US".into(),
            currency: "USD".into(),
            units: 4,
            amount_micros: 8_370_000
        }]
    );
}

/// `R` lines count negative whatever sign the file writes; `S` lines positive.
#[test]
fn returns_are_negative_whether_written_signed_or_not() {
    let text = format!(
        "{HEADER}\n{}\n{}\n{}\n",
        line("2", "2.79", "5.58", "USD", "S", "US"),
        line("1", "2.79", "2.79", "USD", "R", "US"),
        line("-1", "2.79", "-2.79", "USD", "r", "US"),
    );
    let (ev, _, st) = parse_bytes(text.as_bytes()).unwrap();
    let got: Vec<(i64, i64)> = ev.iter().map(|e| (e.units, e.royalty_micros)).collect();
    assert_eq!(got, [(2, 5_580_000), (-1, -2_790_000), (-1, -2_790_000)]);
    assert_eq!(st[0].amount_micros, 0);
}

#[test]
fn a_trailer_that_disagrees_with_the_lines_rejects_the_file() {
    let good = format!(
        "{HEADER}\n{}\n{}\nTotal_Rows\t2\nTotal_Amount\t3.49\nTotal_Units\t1\n",
        line("2", "2.79", "5.58", "USD", "S", "US"),
        line("1", "2.09", "2.09", "USD", "R", "US"),
    );
    parse_bytes(good.as_bytes()).unwrap();
    // Summed as written (the return written positive): accepted as well.
    let as_written = good
        .replace("Total_Amount\t3.49", "Total_Amount\t7.67")
        .replace("Total_Units\t1", "Total_Units\t3");
    parse_bytes(as_written.as_bytes()).unwrap();
    let e = err(parse_bytes(
        good.replace("Total_Amount\t3.49", "Total_Amount\t3.50")
            .as_bytes(),
    ));
    assert!(e.contains("line 5, column `Total_Amount`"), "{e}");
    assert!(
        e.contains("says Total_Amount 3.50 but the sales lines add up to 3.49"),
        "{e}"
    );
    let e = err(parse_bytes(
        good.replace("Total_Rows\t2", "Total_Rows\t3").as_bytes(),
    ));
    assert!(e.contains("line 4, column `Total_Rows`"), "{e}");
    // The pre-2010 form.
    let old = good
        .replace("Total_Rows\t2\n", "")
        .replace("Total_Units\t1\n", "")
        .replace("Total_Amount\t3.49", "Total_Amount:3.49");
    parse_bytes(old.as_bytes()).unwrap();
    let e = err(parse_bytes(old.replace(":3.49", ":9.99").as_bytes()));
    assert!(e.contains("Total_Amount"), "{e}");
}

#[test]
fn a_cut_short_gzip_file_is_rejected_with_its_line() {
    let e = err(parse_path(
        &fixture("bad/apple_books_financial_truncated.txt.gz"),
        "truncated.txt.gz",
    ));
    assert!(e.contains("`truncated.txt.gz`, line 4"), "{e}");
    assert!(e.contains("broken or cut short"), "{e}");
    // A cut in the middle of a longer file: the line where the readable text ends.
    let mut text = format!("{HEADER}\n");
    for _ in 0..3000 {
        text.push_str(&line("1", "2.79", "2.79", "USD", "S", "US"));
        text.push('\n');
    }
    let gz = gzip(text.as_bytes());
    let e = err(parse_bytes(&gz[..gz.len() - 30]));
    assert!(e.contains("broken or cut short"), "{e}");
    let line_no: u64 = e
        .split("line ")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(line_no > 2900, "{e}");
    assert_eq!(parse_bytes(&gz).unwrap().0.len(), 3000);
}

#[test]
fn bad_cells_are_rejected_naming_line_and_column() {
    for (bad, needle) in [
        (
            line("1", "2.79", "$2.79", "USD", "S", "US"),
            "line 3, column `Extended Partner Share`",
        ),
        (
            line("1", "2.79", "2,79", "USD", "S", "US"),
            "line 3, column `Extended Partner Share`",
        ),
        (
            line("1.5", "2.79", "2.79", "USD", "S", "US"),
            "line 3, column `Quantity`",
        ),
        (
            line("1", "2.79", "2.79", "USD", "X", "US"),
            "line 3, column `Sales or Return`",
        ),
        (
            line("1", "2.79", "2.79", "US$", "S", "US"),
            "line 3, column `Partner Share Currency`",
        ),
        (
            line("1", "2.79", "2.79", "USD", "S", "US").replacen("06/28/2025", "28/06/2025", 1),
            "line 3, column `End Date`",
        ),
        (
            line("1", "2.79", "2.79", "USD", "S", "US").replacen(
                "06/01/2025\t06/28/2025",
                "06/28/2025\t06/01/2025",
                1,
            ),
            "before the start date",
        ),
        (
            "06/01/2025\t06/28/2025\t\t9781732461017".to_string(),
            "line 3: expected 22 tab-separated fields as in the header, found 4",
        ),
    ] {
        let text = format!(
            "{HEADER}\n{}\n{bad}\n",
            line("1", "2.79", "2.79", "USD", "S", "US")
        );
        let e = err(parse_bytes(text.as_bytes()));
        assert!(e.contains(needle), "{needle}: {e}");
    }
}

#[test]
fn other_files_are_not_apple_reports() {
    let e = err(parse_path(&fixture("d2d/d2d_sales.csv"), "d2d.csv"));
    assert!(
        e.starts_with("`d2d.csv`: not a recognised Apple Books financial report"),
        "{e}"
    );
    let e = err(parse_path(&fixture("kdp/kdp_payments.xlsx"), "x.xlsx"));
    assert!(e.contains("this is a spreadsheet workbook"), "{e}");
    let e = err(parse_path(&fixture("bad/empty.csv"), "empty.txt"));
    assert!(e.contains("the file is empty"), "{e}");
    // A gzip file holding something else says so (only this adapter reads gzip).
    let e = err(parse_bytes(&gzip(b"a,b\n1,2\n")));
    assert!(
        e.contains("the gzip-compressed file holds no Apple Books financial report"),
        "{e}"
    );
    // The preamble without a header.
    let e = err(parse_bytes(
        b"Vendor Name\tLantern Lane Press\nStart Date\t06/01/2025\n",
    ));
    assert!(e.contains("preamble without its header line"), "{e}");
    // The header without the required columns.
    let e = err(parse_bytes(
        HEADER.replace("\tSales or Return", "\tSales").as_bytes(),
    ));
    assert!(e.contains("missing column `Sales or Return`"), "{e}");
}

/// BOM, CRLF and CR-only line endings, lines of only tabs, trailing tabs: all read the same.
#[test]
fn line_endings_bom_and_blank_lines() {
    let rows = [
        line("2", "2.79", "5.58", "USD", "S", "US"),
        line("1", "2.09", "2.09", "USD", "S", "CA"),
    ];
    let plain = format!(
        "{HEADER}\n{}\n\t\t\t\n{}\t\nTotal_Rows\t2\n",
        rows[0], rows[1]
    );
    let (base, _, _) = parse_bytes(plain.as_bytes()).unwrap();
    assert_eq!(base.len(), 2);
    assert_eq!(base[1].line, 4);
    for variant in [
        format!("\u{feff}{plain}"),
        plain.replace('\n', "\r\n"),
        plain.replace('\n', "\r"),
    ] {
        let (ev, _, _) = parse_bytes(variant.as_bytes()).unwrap();
        let key = |v: &[SaleEvent]| {
            v.iter()
                .map(|e| (e.units, e.royalty_micros, e.line, e.country.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(key(&ev), key(&base));
    }
}

/// An all-territories file holds several currencies: each gets its own family and statement,
/// and `Total_Amount` (a sum across currencies) is not checked.
#[test]
fn several_currencies_in_one_file() {
    let text = format!(
        "{HEADER}\n{}\n{}\nTotal_Amount\t99.99\nTotal_Units\t2\n\nCountry Of Sale\tPartner Share Currency\tQuantity\tExtended Partner Share\nUS\tUSD\t1\t2.79\nGB\tGBP\t1\t1.99\n",
        line("1", "2.79", "2.79", "USD", "S", "US"),
        line("1", "1.99", "1.99", "GBP", "S", "GB"),
    );
    let (ev, summary, st) = parse_bytes(text.as_bytes()).unwrap();
    let fams: Vec<&str> = ev.iter().map(|e| e.family.as_str()).collect();
    assert_eq!(
        fams,
        ["apple_books_financial:USD", "apple_books_financial:GBP"]
    );
    assert_eq!(ev[1].list_price_micros, Some(3_990_000));
    assert!(summary.warnings.is_empty(), "{:?}", summary.warnings);
    let cur: Vec<(&str, i64, usize)> = st
        .iter()
        .map(|s| (s.currency.as_str(), s.amount_micros, s.countries.len()))
        .collect();
    assert_eq!(cur, [("GBP", 1_990_000, 1), ("USD", 2_790_000, 1)]);
    // A summary line that disagrees is a warning, not a rejection.
    let off = text.replace("GB\tGBP\t1\t1.99", "GB\tGBP\t2\t3.98");
    let (_, summary, _) = parse_bytes(off.as_bytes()).unwrap();
    assert_eq!(summary.warnings.len(), 1, "{:?}", summary.warnings);
    assert!(
        summary.warnings[0].contains("GB GBP says 2 units"),
        "{:?}",
        summary.warnings
    );
    // A malformed summary line is rejected.
    let e = err(parse_bytes(
        text.replace("GB\tGBP\t1\t1.99", "GB\tGBP\t1\t1,99")
            .as_bytes(),
    ));
    assert!(e.contains("line 9, column `Extended Partner Share`"), "{e}");
    // A customer price in another currency than the royalty's is not a list price.
    let eur_price =
        line("1", "2.79", "2.79", "USD", "S", "US").replacen("3.99\tUSD", "3.49\tEUR", 1);
    let (ev, _, _) = parse_bytes(format!("{HEADER}\n{eur_price}\n").as_bytes()).unwrap();
    assert_eq!(
        (ev[0].list_price_micros, ev[0].royalty_micros),
        (None, 2_790_000)
    );
}

#[test]
fn an_empty_report_warns() {
    let (ev, summary, st) = parse_bytes(format!("{HEADER}\nTotal_Rows\t0\n").as_bytes()).unwrap();
    assert!(ev.is_empty() && st.is_empty());
    assert!(
        summary.warnings[0].contains("no sales lines"),
        "{:?}",
        summary.warnings
    );
}

#[test]
fn product_id_falls_back_to_apple_and_vendor_identifiers() {
    let no_isbn = line("1", "2.79", "2.79", "USD", "S", "US").replacen("9781732461017", "", 1);
    let no_apple = no_isbn.replacen("1600000315", "", 1);
    let none = no_apple.replacen("LLP-LKD", "", 1);
    let text = format!("{HEADER}\n{no_isbn}\n{no_apple}\n");
    let (ev, _, _) = parse_bytes(text.as_bytes()).unwrap();
    assert_eq!(ev[0].product_id, "apple:1600000315");
    assert_eq!(ev[1].product_id, "apple_vendor:LLP-LKD");
    let e = err(parse_bytes(format!("{HEADER}\n{none}\n").as_bytes()));
    assert!(e.contains("line 2, column `ISRC/ISBN`"), "{e}");
}
