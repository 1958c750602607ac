use super::*;
use crate::platforms::testutil::{fixture, Collect};
use std::collections::BTreeMap;
use std::io::Write;

type Parsed = (Vec<SaleEvent>, ParseSummary, Vec<Compensation>);

fn parse_path(path: &Path, name: &str) -> Result<Parsed, PlatformError> {
    let mut sink = Collect::default();
    let (summary, comp) = parse_report(path, name, &mut sink)?;
    Ok((sink.0, summary, comp))
}

fn parse_text(text: &str) -> Result<Parsed, PlatformError> {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    parse_path(f.path(), "sales_comp.xls")
}

fn err(r: Result<Parsed, PlatformError>) -> String {
    match r {
        Ok(_) => panic!("expected a rejection"),
        Err(PlatformError::Rejected(e)) => e.to_string(),
        Err(other) => panic!("expected a rejection, got {other:?}"),
    }
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn totals(ev: &[SaleEvent]) -> BTreeMap<String, i64> {
    let mut t = BTreeMap::new();
    for e in ev {
        *t.entry(e.currency.clone()).or_insert(0) += e.royalty_micros;
    }
    t
}

/// Python over the tab file's `MTD_net_pub_comp` per `reporting_currency_code`: USD 21.16 +
/// 10.18 = 31.34, GBP 8.18, AUD 6.79; `MTD_net_quantity` 4 + 2 + 2 + 1 = 9. (`MTD_pub_comp`
/// would give USD 36.43, `YTD_net_pub_comp` USD 107.34.)
fn expected() -> BTreeMap<String, i64> {
    [("AUD", 6_790_000), ("GBP", 8_180_000), ("USD", 31_340_000)]
        .iter()
        .map(|(c, v)| ((*c).to_string(), *v))
        .collect()
}

#[test]
fn the_three_sample_containers_give_the_same_events() {
    let mut keys = Vec::new();
    for (file, layout) in [
        (
            "ingramspark_compensation_JUL-25.xls",
            "IngramSpark compensation report (tab-delimited)",
        ),
        (
            "ingramspark_compensation_JUL-25_pipe.xls",
            "IngramSpark compensation report (pipe-delimited)",
        ),
        (
            "ingramspark_compensation_JUL-25_html.xls",
            "IngramSpark compensation report (HTML table)",
        ),
    ] {
        let (ev, summary, comp) =
            parse_path(&fixture(&format!("ingramspark/{file}")), file).unwrap();
        assert_eq!(summary.layout, layout);
        assert!(summary.warnings.is_empty(), "{:?}", summary.warnings);
        assert_eq!(totals(&ev), expected(), "{file}");
        assert_eq!(ev.iter().map(|e| e.units).sum::<i64>(), 9);
        assert!(ev.iter().all(|e| e.period_start == day(2025, 7, 1)
            && e.period_end == day(2025, 7, 31)
            && e.is_final
            && e.format == Format::Paperback
            && e.source == "ingramspark.compensation"
            && e.platform == Platform::Ingramspark));
        let returned = &ev[1];
        assert_eq!(returned.title, "Salt & Ember: A Novel");
        assert_eq!((returned.units, returned.royalty_micros), (2, 10_180_000));
        let au = &ev[3];
        assert_eq!(
            (
                au.marketplace.as_str(),
                au.country.as_str(),
                au.retailer.as_str()
            ),
            ("Australia", "AU", "Retail")
        );
        assert_eq!(
            au.family,
            "ingramspark_compensation:print:AUD:Australia:Retail"
        );
        assert_eq!(
            ev[0].family,
            "ingramspark_compensation:print:USD:United States:Retail"
        );
        assert_eq!(ev[0].product_id, "9798867123451");
        assert_eq!(ev[0].list_price_micros, Some(15_990_000));
        let raw: serde_json::Value = serde_json::from_str(&ev[0].raw_json()).unwrap();
        assert_eq!(raw["YTD_net_pub_comp"], "59.16");
        let comp: Vec<(String, i64, NaiveDate)> = comp
            .into_iter()
            .map(|c| (c.currency, c.amount_micros, c.due_on))
            .collect();
        assert_eq!(
            comp,
            [
                ("AUD".to_string(), 6_790_000, day(2025, 10, 29)),
                ("GBP".to_string(), 8_180_000, day(2025, 10, 29)),
                ("USD".to_string(), 31_340_000, day(2025, 10, 29)),
            ]
        );
        // Lines as an editor shows them: the HTML table's header is on line 2 as well.
        let lines: Vec<u64> = ev.iter().map(|e| e.line).collect();
        assert_eq!(
            lines,
            if file.contains("html") {
                [3, 4, 5, 6]
            } else {
                [2, 3, 4, 5]
            }
        );
        let payments: Vec<(&str, i64, u64)> = summary
            .payments
            .iter()
            .map(|p| (p.currency.as_str(), p.amount_micros, p.rows))
            .collect();
        assert_eq!(
            payments,
            [
                ("AUD", 6_790_000, 1),
                ("GBP", 8_180_000, 1),
                ("USD", 31_340_000, 2)
            ]
        );
        assert!(summary
            .payments
            .iter()
            .all(|p| p.source == "ingramspark.compensation"
                && p.period == Some((day(2025, 7, 1), day(2025, 7, 31)))));
        keys.push(
            ev.iter()
                .map(|e| {
                    (
                        e.product_id.clone(),
                        e.units,
                        e.royalty_micros,
                        e.family.clone(),
                    )
                })
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(keys[0], keys[1]);
    assert_eq!(keys[0], keys[2]);
}

#[test]
fn a_custom_period_is_rejected_naming_the_cell() {
    let e = err(parse_path(
        &fixture("bad/ingramspark_compensation_CUSTOM.xls"),
        "CUSTOM.xls",
    ));
    assert!(
        e.contains("`CUSTOM.xls`, line 2, column `period_name`"),
        "{e}"
    );
    assert!(e.contains("download a monthly compensation report"), "{e}");
}

const HEADER: &str = "isbn_13\tisbn\ttitle\tbinding_type\tmarket\tsales_category\tMTD_net_quantity\tMTD_pub_comp\tMTD_return_total\tMTD_net_pub_comp\tYTD_net_pub_comp\tperiod_name\treporting_currency_code";

fn comp_row(isbn: &str, qty: &str, net: &str, period: &str, cur: &str) -> String {
    format!("{isbn}\t\tFox Hollow\tCase Laminate\tLS-United Kingdom\tRetail\t{qty}\t1.00\t0.00\t{net}\t99.99\t{period}\t{cur}")
}

#[test]
fn months_isbns_and_negative_compensation() {
    let text = format!(
        "{HEADER}\n{}\n{}\n{}\n",
        comp_row("9.798355123017E+12", "1", "-1.25", "FEB-24", "GBP"),
        comp_row("9798355123017", "-1", "-3.10", "dec-2024", "GBP"),
        comp_row("9798355123017", "0", "0.00", "JAN 25", "GBP"),
    );
    let (ev, _, comp) = parse_text(&text).unwrap();
    assert_eq!(ev[0].product_id, "9798355123017");
    assert_eq!(
        (ev[0].period_start, ev[0].period_end),
        (day(2024, 2, 1), day(2024, 2, 29))
    );
    assert_eq!(
        (ev[1].period_start, ev[1].period_end),
        (day(2024, 12, 1), day(2024, 12, 31))
    );
    assert_eq!(ev[2].month(), "2025-01");
    assert_eq!((ev[0].units, ev[0].royalty_micros), (1, -1_250_000));
    assert_eq!((ev[1].units, ev[1].royalty_micros), (-1, -3_100_000));
    assert_eq!(ev[0].format, Format::Hardcover);
    assert_eq!(
        ev[0].family,
        "ingramspark_compensation:print:GBP:United Kingdom:Retail"
    );
    let months: Vec<(NaiveDate, i64)> = comp
        .iter()
        .map(|c| (c.period_start, c.amount_micros))
        .collect();
    assert_eq!(
        months,
        [
            (day(2024, 2, 1), -1_250_000),
            (day(2024, 12, 1), -3_100_000),
            (day(2025, 1, 1), 0)
        ]
    );
    // An ISBN Excel cut to fewer digits cannot be read back.
    let e = err(parse_text(&format!(
        "{HEADER}\n{}\n",
        comp_row("9.79836E+12", "1", "1.00", "JUL-25", "GBP")
    )));
    assert!(
        e.contains("line 2, column `isbn_13`") && e.contains("lost its last digits"),
        "{e}"
    );
    // …unless the `isbn` column has it.
    let with_isbn10 =
        comp_row("9.79836E+12", "1", "1.00", "JUL-25", "GBP").replacen("\t\t", "\t1732461031\t", 1);
    let (ev, _, _) = parse_text(&format!("{HEADER}\n{with_isbn10}\n")).unwrap();
    assert_eq!(ev[0].product_id, "1732461031");
}

#[test]
fn bad_cells_are_rejected_naming_line_and_column() {
    for (bad, needle) in [
        (
            comp_row("9798355123017", "1", "$1.00", "JUL-25", "GBP"),
            "line 3, column `MTD_net_pub_comp`",
        ),
        (
            comp_row("9798355123017", "1.5", "1.00", "JUL-25", "GBP"),
            "line 3, column `MTD_net_quantity`",
        ),
        (
            comp_row("9798355123017", "1", "1.00", "JULY", "GBP"),
            "line 3, column `period_name`",
        ),
        (
            comp_row("9798355123017", "1", "1.00", "JUL-25", "£"),
            "line 3, column `reporting_currency_code`",
        ),
        (
            comp_row("9798355123017", "1", "1.00", "JUL-25", "GBP")
                .replace("\t1.00\t0.00", "\t1,00\t0.00"),
            "line 3, column `MTD_pub_comp`",
        ),
        (
            comp_row("", "1", "1.00", "JUL-25", "GBP"),
            "line 3, column `isbn_13`",
        ),
        (
            "9798355123017\t\tFox".to_string(),
            "line 3: expected 13 fields as in the header, found 3",
        ),
    ] {
        let text = format!(
            "{HEADER}\n{}\n{bad}\n",
            comp_row("9798355123017", "1", "1.00", "JUL-25", "GBP")
        );
        let e = err(parse_text(&text));
        assert!(e.contains(needle), "{needle}: {e}");
    }
    // `YTD_` columns are never read, so not checked either.
    let ytd = comp_row("9798355123017", "1", "1.00", "JUL-25", "GBP").replace("99.99", "n/a?");
    assert_eq!(
        parse_text(&format!("{HEADER}\n{ytd}\n")).unwrap().0.len(),
        1
    );
}

#[test]
fn padded_headers_case_ptd_columns_and_quoted_commas() {
    // Padded names, `Mtd_` case, comma-delimited with a quoted title holding a comma.
    let text = "\u{feff} isbn_13 , title ,market,period_name,reporting_currency_code,Mtd_Net_Quantity,MTD_NET_PUB_COMP\r\n\
                9798355123017,\"Fox Hollow, Book 1\",LS-United States,JUL-25,usd,3,4.50\r\n";
    let (ev, summary, _) = parse_text(text).unwrap();
    assert_eq!(
        summary.layout,
        "IngramSpark compensation report (comma-delimited)"
    );
    assert_eq!(ev[0].title, "Fox Hollow, Book 1");
    assert_eq!(
        (ev[0].units, ev[0].royalty_micros, ev[0].currency.as_str()),
        (3, 4_500_000, "USD")
    );
    // Period-to-date columns instead of month-to-date ones.
    let ptd = "isbn_13|title|market|period_name|reporting_currency_code|PTD_net_quantity|PTD_pub_comp|PTD_net_pub_comp\n\
               9798355123017|Fox|LS-Australia|AUG-25|AUD|2|9.99|3.30\n";
    let (ev, _, _) = parse_text(ptd).unwrap();
    assert_eq!(
        (ev[0].units, ev[0].royalty_micros, ev[0].month()),
        (2, 3_300_000, "2025-08".to_string())
    );
    // A missing required column is named.
    let e = err(parse_text("isbn_13\ttitle\tmarket\tperiod_name\treporting_currency_code\tMTD_net_quantity\n1\tT\tM\tJUL-25\tUSD\t1\n"));
    assert!(e.contains("line 1: not a complete IngramSpark compensation report: missing column `MTD_net_pub_comp`"), "{e}");
}

#[test]
fn html_tables_with_th_headers_and_entities() {
    let html = "<html><body><p>Compensation</p><table>\n\
        <tr><th> isbn_13 </th><th>title</th><th>market</th><th>period_name</th><th>reporting_currency_code</th><th>MTD_net_quantity</th><th>MTD_net_pub_comp</th></tr>\n\
        <tr><td>9798324555016</td><td>Salt &amp; Ember</td><td>LS-United States</td><td>JUL-25</td><td>USD</td><td>2</td><td>10.18</td>\n\
        <tr><td>9798324555016</td><td>Salt &amp; Ember</td><td>LS-United States</td><td>JUL-25</td><td>USD</td><td>1</td><td>x</td></tr>\n\
        </table></body></html>";
    let e = err(parse_text(html));
    assert!(e.contains("line 4, column `MTD_net_pub_comp`"), "{e}");
    let good = html.replace("<td>x</td>", "<td>5.09</td>");
    let (ev, _, _) = parse_text(&good).unwrap();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0].title, "Salt & Ember");
    assert_eq!(ev[0].line, 3);
    assert_eq!(totals(&ev)["USD"], 15_270_000);
    let e = err(parse_text("<html><body>nothing here</body></html>"));
    assert!(e.contains("HTML without a table"), "{e}");
}

#[test]
fn other_files_are_not_ingram_reports() {
    for f in ["smashwords/smashwords_salesReport.tsv", "d2d/d2d_sales.csv"] {
        let e = err(parse_path(&fixture(f), "x.xls"));
        assert!(
            e.starts_with("`x.xls`: not a recognised IngramSpark compensation report"),
            "{e}"
        );
    }
    let e = err(parse_path(&fixture("kdp/kdp_payments.xlsx"), "x.xls"));
    assert!(e.contains("this is a spreadsheet workbook"), "{e}");
    let e = err(parse_path(&fixture("bad/empty.csv"), "x.xls"));
    assert!(e.contains("the file is empty"), "{e}");
}

const SALES_HEADER: &str = "ISBN,Title,Author,Format,BISAC Code,BISAC Description,Units Sold,Country,List Price US,List Price UK,List Price CA,List Price EU,List Price AU,List Price UAE";

#[test]
fn the_sales_report_gives_units_in_the_market_currency() {
    let text = format!(
        "Sales Report\nDate Range: 07/01/2025 - 07/31/2025\n\n{SALES_HEADER}\n\
         9798867123451,The Lighthouse Keeper's Daughter,Jane Q. Writer,PF,FIC000000,FICTION / General,3,US,15.99,11.99,19.99,13.99,21.99,59.00\n\
         9798355123017,Fox Hollow,J. Q. Writer,TC,FIC000000,FICTION / General,2,GB,25.99,19.99,,,,\n\
         9798355123017,Fox Hollow,J. Q. Writer,TC,FIC000000,FICTION / General,1,DE,25.99,19.99,,21.99,,\n"
    );
    let (ev, summary, comp) = parse_text(&text).unwrap();
    assert_eq!(summary.layout, "IngramSpark Sales Report (comma-delimited)");
    assert!(
        summary.warnings[0].contains("units only"),
        "{:?}",
        summary.warnings
    );
    assert!(comp.is_empty());
    type Row<'a> = (i64, i64, &'a str, &'a str, Option<i64>, Format);
    let got: Vec<Row<'_>> = ev
        .iter()
        .map(|e| {
            (
                e.units,
                e.royalty_micros,
                e.currency.as_str(),
                e.country.as_str(),
                e.list_price_micros,
                e.format,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (3, 0, "USD", "US", Some(15_990_000), Format::Paperback),
            (2, 0, "GBP", "GB", Some(19_990_000), Format::Hardcover),
            (1, 0, "EUR", "DE", Some(21_990_000), Format::Hardcover),
        ]
    );
    assert!(ev.iter().all(|e| !e.is_final
        && e.family == "ingramspark_sales:print"
        && e.source == "ingramspark.sales_report"
        && (e.period_start, e.period_end) == (day(2025, 7, 1), day(2025, 7, 31))));
    assert_eq!(ev[0].line, 5);
    // Without any period: rejected, saying why.
    let e = err(parse_text(&format!(
        "{SALES_HEADER}\n9798867123451,T,A,PF,X,Y,3,US,1,1,1,1,1,1\n"
    )));
    assert!(e.contains("line 1") && e.contains("says no period"), "{e}");
    // A month column.
    let month =
        format!("{SALES_HEADER},Month\n9798867123451,T,A,PF,X,Y,3,US,1,1,1,1,1,1,2025-08\n");
    let (ev, _, _) = parse_text(&month).unwrap();
    assert_eq!(ev[0].month(), "2025-08");
    let e = err(parse_text(&format!(
        "Date Range 07/01/2025 07/31/2025\n{SALES_HEADER}\n9798867123451,T,A,XX,X,Y,3,US,1,1,1,1,1,1\n"
    )));
    assert!(e.contains("column `Format`"), "{e}");
}

/// Per-month sums are bounded: a file naming more months and currencies than any report keeps
/// its rows but drops the sums, with a warning.
#[test]
fn compensation_sums_are_bounded() {
    const MON: [&str; 12] = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    let mut text = format!("{HEADER}\n");
    for i in 0..(MAX_TOTALS + 1) {
        let period = format!("{}-{:04}", MON[i % 12], 1900 + i / 12);
        text.push_str(&comp_row("9798355123017", "1", "1.00", &period, "GBP"));
        text.push('\n');
    }
    let (ev, summary, comp) = parse_text(&text).unwrap();
    assert_eq!(ev.len(), MAX_TOTALS + 1);
    assert!(comp.is_empty() && summary.payments.is_empty());
    assert!(
        summary.warnings[0].contains("more than 1000 months"),
        "{:?}",
        summary.warnings
    );
}

#[test]
fn helpers() {
    assert_eq!(
        isbn_cell("9.781732461017E+12"),
        Ok("9781732461017".to_string())
    );
    assert_eq!(isbn_cell("9.78173246101E+12").map_err(|_| ()), Err(()));
    assert_eq!(
        isbn_cell("978-1-73246-101-7"),
        Ok("9781732461017".to_string())
    );
    assert_eq!(isbn_cell("1.5E+3"), Ok("1500".to_string()));
    assert!(isbn_cell("abcE+x").is_err());
    assert_eq!(strip_ls("LS - Australia"), "Australia");
    assert_eq!(strip_ls("LS-United States"), "United States");
    assert_eq!(strip_ls("Global Connect"), "Global Connect");
    assert_eq!(
        binding_format("Perfectbound (Trade Paper"),
        Format::Paperback
    );
    assert_eq!(binding_format("Jacketed Case"), Format::Hardcover);
    assert_eq!(binding_format("E-Book"), Format::Ebook);
    assert_eq!(
        period_name("JUN-25"),
        Ok((day(2025, 6, 1), day(2025, 6, 30)))
    );
    assert!(period_name("CUSTOM").unwrap_err().contains("CUSTOM"));
    assert!(period_name("13-25").is_err());
    assert_eq!(
        month_label("July 2025"),
        Some((day(2025, 7, 1), day(2025, 7, 31)))
    );
    assert_eq!(
        month_label("2025-07"),
        Some((day(2025, 7, 1), day(2025, 7, 31)))
    );
    assert_eq!(sniff_delimiter(&["a|b".into()]).0, b'|');
    assert_eq!(
        sniff_delimiter(&["title,isbn_13\tperiod_name".into()]).0,
        b'\t'
    );
    assert_eq!(
        preamble_period(&["Date Range: 07/31/2025 - 07/01/2025".into()]),
        Some((day(2025, 7, 1), day(2025, 7, 31)))
    );
    assert_eq!(market_of_header("US List Price"), Some("US"));
    assert_eq!(
        market_of_header("List Price (United Arab Emirates)"),
        Some("UAE")
    );
}
