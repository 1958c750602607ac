//! Kobo Writing Life: the monthly sales report (`sales_invoice_PUB_*.xlsx`, rows on the
//! `Details` sheet) and the Kobo Plus report (`sales_invoice_SUBS_*.xlsx`), and CSV copies of
//! their `Details` sheets (FORMATS §14.1).
//!
//! Sales: royalty = `Net Due (Payable Currency)` in `Payable Currency` (never `COGS (Payable
//! Currency)`, which is before the promotion adjustment), units = `Total Qty` (negative for a
//! refund), period = the `Date` of purchase, final (the report is what Kobo pays). Kobo Plus:
//! royalty = `Total publisher revenue share in payable currency ($)`, zero units (reads are not
//! sales; `Reads` stays in `raw`), format `subscription`, the `Read Period` month.
//!
//! Sheets are found by their header set, never by name or by the file name; header cells are
//! trimmed. Rows have no ids: identical rows are separate sales. Families `kobo_sales` and
//! `kobo_plus` are replaced by coverage separately, so a Kobo Plus report never replaces sales.
//! The `Summary` sheet's `Net Due` per `Payable Currency` is the month's payment
//! (`ParseSummary::payments`, source `kobo.summary`).

use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;

use super::table::{self, Header, Loc, Row, Source};
use super::workbook::{self, Workbook};
use super::{csvutil, EventSink, InputError, ParseSummary, PlatformError, ReportedPayment};
use crate::model::{Format, Platform, RawLayout, SaleEvent};

/// How many rows at the top of a sheet may come before its header.
const HEADER_SEARCH_ROWS: u64 = 10;

/// What a header row holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The `Details` rows of the sales report.
    Sales,
    /// The `Details` rows of the Kobo Plus report.
    Plus,
    /// The `Summary` sheet: the month's net due per payable currency.
    Summary,
}

const NET_DUE: &str = "Net Due (Payable Currency)";
const PLUS_MONEY: [&str; 2] = [
    "Total publisher revenue share in payable currency ($)",
    "Total publisher revenue share in payable currency",
];

fn classify(h: &Header) -> Option<Kind> {
    if h.find(&[NET_DUE]).is_some() || h.has_all(&["Total Qty", "eISBN"]) {
        Some(Kind::Sales)
    } else if h.find(&["Read Period"]).is_some()
        && (h.find(&PLUS_MONEY).is_some() || h.find(&["Reads"]).is_some())
    {
        Some(Kind::Plus)
    } else if h.has_all(&["Payable Currency", "Net Due"]) {
        Some(Kind::Summary)
    } else {
        None
    }
}

/// Column indices of a sales `Details` table.
struct SalesCols {
    date: usize,
    qty: usize,
    isbn: usize,
    net_due: usize,
    payable: usize,
    country: Option<usize>,
    content: Option<usize>,
    title: Option<usize>,
    list_price: Option<usize>,
    lp_currency: Option<usize>,
    /// Checked decimals that are kept raw only.
    checked: Vec<usize>,
    /// Checked percentages (`COGS %`).
    percents: Vec<usize>,
}

/// Column indices of a Kobo Plus `Details` table.
struct PlusCols {
    period: usize,
    isbn: usize,
    money: usize,
    payable: usize,
    title: Option<usize>,
    region: Option<usize>,
    list_price: Option<usize>,
    lp_currency: Option<usize>,
    reads: Option<usize>,
    checked: Vec<usize>,
    percents: Vec<usize>,
}

fn optional(h: &Header, names: &[&str]) -> Vec<usize> {
    names.iter().filter_map(|n| h.find(&[n])).collect()
}

impl SalesCols {
    fn new(h: &Header) -> Result<SalesCols, String> {
        let idx = table::require(
            h,
            "Kobo Writing Life sales report (`Details` sheet)",
            &[
                &["Date"],
                &["Total Qty"],
                &["eISBN"],
                &[NET_DUE],
                &["Payable Currency"],
            ],
        )?;
        Ok(SalesCols {
            date: idx[0],
            qty: idx[1],
            isbn: idx[2],
            net_due: idx[3],
            payable: idx[4],
            country: h.find(&["Country"]),
            content: h.find(&["Content Type"]),
            title: h.find(&["Title"]),
            list_price: h.find(&["List Price"]),
            lp_currency: h.find(&["LP Currency"]),
            checked: optional(
                h,
                &[
                    "Tax Excluded List Price",
                    "COGS Amount (LP Currency)",
                    "Foreign Exchange Rate to Payable Currency",
                    "COGS (Payable Currency)",
                    "COGS based LP",
                    "COGS based LP excluding tax",
                    "COGS Adjustment (Payable Currency)",
                    "Total Tax (Payable Currency)",
                ],
            ),
            percents: optional(h, &["COGS %"]),
        })
    }
}

impl PlusCols {
    fn new(h: &Header) -> Result<PlusCols, String> {
        let idx = table::require(
            h,
            "Kobo Plus report (`Details` sheet)",
            &[
                &["Read Period"],
                &["eISBN"],
                &PLUS_MONEY,
                &["Payable Currency"],
            ],
        )?;
        Ok(PlusCols {
            period: idx[0],
            isbn: idx[1],
            money: idx[2],
            payable: idx[3],
            title: h.find(&["Title"]),
            region: h.find(&["Region"]),
            list_price: h.find(&["List price (TaxOut)"]),
            lp_currency: h.find(&["List price currency"]),
            reads: h.find(&["Reads"]),
            checked: optional(
                h,
                &[
                    "List price (TaxIn)",
                    "Total payable",
                    "Foreign exchange to payable currency",
                    "Total in payable currency",
                    "Value Per Minute",
                    "Total Minutes",
                    "Revenue earned per title",
                    "Total Tax in Payable Currency",
                ],
            ),
            percents: optional(h, &["Read threshold (%)", "Publisher revenue share (%)"]),
        })
    }
}

/// The format of a `Content Type` cell.
fn content_format(text: &str) -> Format {
    if text.to_ascii_lowercase().contains("audio") {
        Format::Audiobook
    } else {
        Format::Ebook
    }
}

/// The list price, when it is in the currency the author is paid in (else it would be mixed
/// with amounts of another currency).
fn list_price_in(
    row: &Row<'_>,
    price: Option<usize>,
    lp_currency: Option<usize>,
    payable: &str,
) -> Result<Option<i64>, PlatformError> {
    let list = row.opt_decimal(price)?;
    let same = lp_currency.is_some_and(|c| row.text(c).eq_ignore_ascii_case(payable));
    Ok(list.filter(|_| same))
}

/// Turns rows of one table into events.
struct Reader {
    header: Header,
    layout: Arc<RawLayout>,
    loc: Loc,
    sales: Option<SalesCols>,
    plus: Option<PlusCols>,
    want_raw: bool,
    rows: u64,
    /// Earliest and latest sales day (for the payment's period).
    range: Option<(NaiveDate, NaiveDate)>,
}

impl Reader {
    fn new(
        kind: Kind,
        header: Header,
        loc: Loc,
        header_line: u64,
        want_raw: bool,
    ) -> Result<Reader, PlatformError> {
        let header_error = |m: String| loc.reject(header_line, None, m);
        let (sales, plus) = match kind {
            Kind::Sales => (Some(SalesCols::new(&header).map_err(header_error)?), None),
            Kind::Plus => (None, Some(PlusCols::new(&header).map_err(header_error)?)),
            Kind::Summary => (None, None),
        };
        Ok(Reader {
            layout: header.raw_layout(),
            header,
            loc,
            sales,
            plus,
            want_raw,
            rows: 0,
            range: None,
        })
    }

    fn event(
        &mut self,
        line: u64,
        cells: &dyn table::Cells,
        sheet: bool,
    ) -> Result<SaleEvent, PlatformError> {
        self.rows += 1;
        let row = Row {
            loc: &self.loc,
            header: &self.header,
            line,
            cells,
            sheet,
        };
        let raw = if self.want_raw {
            row.raw(&self.layout)
        } else {
            String::new()
        };
        let raw_layout = self.want_raw.then(|| self.layout.clone());
        if let Some(c) = &self.sales {
            let date = row.day(c.date)?;
            let units = row.units(c.qty)?;
            let product_id = row.isbn(c.isbn)?;
            let royalty = row.amount(c.net_due)?;
            let currency = row.currency(c.payable)?;
            for &i in &c.checked {
                row.decimal(i)?;
            }
            for &i in &c.percents {
                row.opt_percent(Some(i))?;
            }
            let list = list_price_in(&row, c.list_price, c.lp_currency, &currency)?;
            self.range = Some(match self.range {
                None => (date, date),
                Some((a, b)) => (a.min(date), b.max(date)),
            });
            return Ok(SaleEvent {
                platform: Platform::Kobo,
                family: "kobo_sales".to_string(),
                source: "kobo.sales".to_string(),
                natural_key: None,
                period_start: date,
                period_end: date,
                title: row.opt_text(c.title).to_string(),
                product_id,
                format: content_format(row.opt_text(c.content)),
                marketplace: "Kobo".to_string(),
                retailer: "Kobo".to_string(),
                country: row.opt_text(c.country).to_ascii_uppercase(),
                units,
                kenp_pages: 0,
                list_price_micros: list,
                royalty_micros: royalty,
                currency,
                is_final: true,
                status: String::new(),
                raw,
                raw_layout,
                line,
            });
        }
        let Some(c) = &self.plus else {
            return Err(self.loc.reject(
                line,
                None,
                "internal error: a Summary table has no events",
            ));
        };
        let period_text = row.text(c.period);
        let (start, end) = table::month(period_text, sheet).ok_or_else(|| {
            row.reject(
                c.period,
                if period_text.is_empty() {
                    "expected the month read, like 2025-07, found an empty cell".to_string()
                } else {
                    format!("expected the month read, like 2025-07, found `{period_text}`")
                },
            )
        })?;
        let product_id = row.isbn(c.isbn)?;
        let royalty = row.amount(c.money)?;
        let currency = row.currency(c.payable)?;
        row.opt_units(c.reads)?;
        for &i in &c.checked {
            row.decimal(i)?;
        }
        for &i in &c.percents {
            row.opt_percent(Some(i))?;
        }
        let list = list_price_in(&row, c.list_price, c.lp_currency, &currency)?;
        let region = row.opt_text(c.region);
        let country = if region.len() == 2 && region.bytes().all(|b| b.is_ascii_alphabetic()) {
            region.to_ascii_uppercase()
        } else {
            String::new()
        };
        Ok(SaleEvent {
            platform: Platform::Kobo,
            family: "kobo_plus".to_string(),
            source: "kobo.plus".to_string(),
            natural_key: None,
            period_start: start,
            period_end: end,
            title: row.opt_text(c.title).to_string(),
            product_id,
            format: Format::Subscription,
            marketplace: "Kobo Plus".to_string(),
            retailer: "Kobo".to_string(),
            country,
            units: 0,
            kenp_pages: 0,
            list_price_micros: list,
            royalty_micros: royalty,
            currency,
            is_final: true,
            status: String::new(),
            raw,
            raw_layout,
            line,
        })
    }

    /// The payments a `Summary` table states (`Payable Currency`, `Net Due`).
    fn summary_payment(
        &self,
        line: u64,
        cells: &dyn table::Cells,
        sheet: bool,
    ) -> Result<ReportedPayment, PlatformError> {
        let row = Row {
            loc: &self.loc,
            header: &self.header,
            line,
            cells,
            sheet,
        };
        let (cur, net) = (
            self.header.find(&["Payable Currency"]).unwrap_or(0),
            self.header.find(&["Net Due"]).unwrap_or(0),
        );
        Ok(ReportedPayment {
            source: "kobo.summary".to_string(),
            date: None,
            currency: row.currency(cur)?,
            amount_micros: row.amount(net)?,
            period: None,
            rows: 0,
        })
    }
}

/// Parse a Kobo Writing Life sales or Kobo Plus report (XLSX workbook or a CSV copy of its
/// `Details` sheet), streaming events into `sink`.
///
/// # Errors
/// `Rejected` for a file that is not a Kobo report or has a malformed row (naming the sheet or
/// line, and the column), `Transient` for I/O errors, `Sink` when the sink fails.
pub fn parse_file(
    path: &Path,
    display_name: &str,
    sink: &mut dyn EventSink,
) -> Result<ParseSummary, PlatformError> {
    if workbook::is_xlsx(path, display_name)? {
        return parse_xlsx(path, display_name, sink);
    }
    if csvutil::is_binary_container(path) {
        return Err(PlatformError::Rejected(InputError::file(
            display_name,
            "not a recognised Kobo Writing Life report: this is an old binary Excel (.xls) workbook; Kobo's sales report is an .xlsx workbook (KWL → My Account → Payment information)",
        )));
    }
    parse_text(path, display_name, sink)
}

fn layout_name(kind: Kind, csv: bool) -> &'static str {
    match (kind, csv) {
        (Kind::Plus, false) => "Kobo Plus report (Details sheet)",
        (Kind::Plus, true) => "Kobo Plus report (CSV copy of the Details sheet)",
        (_, false) => "Kobo Writing Life sales report (Details sheet)",
        (_, true) => "Kobo Writing Life sales report (CSV copy of the Details sheet)",
    }
}

fn parse_text(
    path: &Path,
    display_name: &str,
    sink: &mut dyn EventSink,
) -> Result<ParseSummary, PlatformError> {
    let report = table::open_text(path, display_name)?;
    let header = Header::new(&report.headers);
    let loc = Loc {
        file: display_name.to_string(),
        sheet: None,
    };
    let kind = match classify(&header) {
        Some(Kind::Summary) => {
            return Err(loc.reject(
                1,
                None,
                "this is a copy of the Kobo report's `Summary` sheet (the month's total); save the `Details` sheet as CSV instead, or import the .xlsx workbook",
            ))
        }
        Some(kind) => kind,
        None => {
            return Err(loc.reject(
                1,
                None,
                format!(
                    "not a recognised Kobo Writing Life report: expected the `Details` header of the sales report (`Date`, `Total Qty`, `eISBN`, `{NET_DUE}`, …) or of Kobo Plus (`Read Period`, `Reads`, …) (found header: {})",
                    header.joined()
                ),
            ))
        }
    };
    let mut reader = Reader::new(kind, header, loc, 1, sink.wants_raw())?;
    let mut source = Source::Text(report);
    source.each_row(sink, |line, cells, sink| {
        let event = reader.event(line, cells, false)?;
        sink.event(event).map_err(PlatformError::from)
    })?;
    let mut summary = ParseSummary {
        layout: layout_name(kind, true).to_string(),
        rows: reader.rows,
        ..ParseSummary::default()
    };
    if summary.rows == 0 {
        summary
            .warnings
            .push(format!("`{display_name}` has a Kobo header but no rows"));
    }
    Ok(summary)
}

/// A sheet's header: the first row (of the first few) that classifies, else the first
/// non-blank row (for messages).
struct Peek {
    kind: Option<Kind>,
    header: Header,
    row: u64,
}

fn peek(wb: &mut Workbook, sheet: &str) -> Result<Option<Peek>, PlatformError> {
    let mut found: Option<Peek> = None;
    wb.rows(sheet, |row, cells| {
        if row > HEADER_SEARCH_ROWS {
            return Ok(false);
        }
        let h = Header::new(cells);
        if h.names.is_empty() {
            return Ok(true);
        }
        let kind = classify(&h);
        if found.is_none() || kind.is_some() {
            found = Some(Peek {
                kind,
                header: h,
                row,
            });
        }
        Ok(kind.is_none())
    })?;
    Ok(found)
}

fn parse_xlsx(
    path: &Path,
    display_name: &str,
    sink: &mut dyn EventSink,
) -> Result<ParseSummary, PlatformError> {
    let mut wb = Workbook::open(path, display_name, "Kobo Writing Life")?;
    let names = wb.sheet_names();
    let mut tables: Vec<(String, Peek)> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for name in &names {
        match peek(&mut wb, name)? {
            Some(p) if p.kind.is_some() => tables.push((name.clone(), p)),
            Some(p) => seen.push(format!("`{}` (header: {})", name.trim(), p.header.joined())),
            None => seen.push(format!("`{}` (empty)", name.trim())),
        }
    }
    let data: Vec<&(String, Peek)> = tables
        .iter()
        .filter(|(_, p)| p.kind != Some(Kind::Summary))
        .collect();
    if data.is_empty() {
        let all = names
            .iter()
            .map(|n| format!("`{}`", n.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        if let Some((name, p)) = tables.first() {
            return Err(PlatformError::Rejected(InputError {
                file: display_name.to_string(),
                sheet: Some(name.trim().to_string()),
                line: Some(p.row),
                column: None,
                message: format!(
                    "this Kobo Writing Life workbook has no `Details` sheet with the sales or Kobo Plus rows, only its `Summary` (sheets: {all}): download the month's sales report again from KWL → My Account → Payment information"
                ),
            }));
        }
        return Err(PlatformError::Rejected(InputError::file(
            display_name,
            format!(
                "not a recognised Kobo Writing Life report: no sheet has the `Details` header of the sales report (`Date`, `Total Qty`, `eISBN`, `{NET_DUE}`, …) or of Kobo Plus (`Read Period`, `Reads`, …) (sheets: {})",
                seen.join("; ")
            ),
        )));
    }
    let mut summary = ParseSummary::default();
    let mut layouts: Vec<&str> = Vec::new();
    let mut stated: Vec<ReportedPayment> = Vec::new();
    let mut range: Option<(NaiveDate, NaiveDate)> = None;
    for (name, p) in &tables {
        let kind = p.kind.unwrap_or(Kind::Summary);
        let loc = Loc {
            file: display_name.to_string(),
            sheet: Some(name.trim().to_string()),
        };
        let mut reader = Reader::new(kind, p.header.clone(), loc, p.row, sink.wants_raw())?;
        let header_row = p.row;
        let mut failed: Result<(), PlatformError> = Ok(());
        wb.rows(name, |row, cells| {
            if row <= header_row || table::Cells::is_blank(cells) {
                return Ok(true);
            }
            if kind == Kind::Summary {
                stated.push(reader.summary_payment(row, cells, true)?);
                return Ok(true);
            }
            let event = reader.event(row, cells, true)?;
            if let Err(e) = sink.event(event) {
                failed = Err(e.into());
                return Ok(false);
            }
            Ok(true)
        })?;
        failed?;
        if kind != Kind::Summary {
            summary.rows += reader.rows;
            layouts.push(layout_name(kind, false));
            if kind == Kind::Sales {
                range = match (range, reader.range) {
                    (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
                    (r, None) | (None, r) => r,
                };
            }
        }
    }
    for mut p in stated {
        p.period = range;
        summary.payments.push(p);
    }
    layouts.dedup();
    summary.layout = layouts.join(" + ");
    if summary.rows == 0 {
        summary.warnings.push(format!(
            "`{display_name}` has a Kobo `Details` sheet but no rows"
        ));
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platforms::testutil::{fixture, Collect};
    use std::io::Write;

    fn parse(rel: &str) -> Result<(ParseSummary, Vec<SaleEvent>), PlatformError> {
        let mut sink = Collect::default();
        let s = parse_file(&fixture(rel), rel, &mut sink)?;
        Ok((s, sink.0))
    }

    fn parse_text_str(text: &str) -> Result<Vec<SaleEvent>, PlatformError> {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        let mut sink = Collect::default();
        parse_file(f.path(), "kobo.csv", &mut sink)?;
        Ok(sink.0)
    }

    fn sums(events: &[SaleEvent]) -> (usize, i64, i64) {
        (
            events.len(),
            events.iter().map(|e| e.units).sum(),
            events.iter().map(|e| e.royalty_micros).sum(),
        )
    }

    /// The sample's figures, summed independently over `kobo_sales_details.csv` with Python:
    /// `csv.DictReader` over the BOM-stripped file, stripped keys, `Decimal` sums of
    /// `Net Due (Payable Currency)` = 21.55 and of `Total Qty` = 7, 7 rows, all USD.
    #[test]
    fn csv_copy_and_workbook_give_the_same_sales() {
        for rel in [
            "kobo/kobo_sales_details.csv",
            "kobo/kobo_sales_invoice_PUB.xlsx",
        ] {
            let (summary, ev) = parse(rel).unwrap();
            assert_eq!(sums(&ev), (7, 7, 21_550_000), "{rel}");
            assert!(ev
                .iter()
                .all(|e| e.currency == "USD" && e.is_final && e.family == "kobo_sales"));
            // The refund row: negative units and net due.
            let refund = ev.iter().find(|e| e.units < 0).unwrap();
            assert_eq!((refund.units, refund.royalty_micros), (-1, -2_090_000));
            assert_eq!(refund.period_start.to_string(), "2025-07-15");
            // The promotion row: Net Due after the COGS adjustment, not COGS (2.09).
            let promo = ev.iter().find(|e| e.raw.contains("BMSM-2507")).unwrap();
            assert_eq!(promo.royalty_micros, 1_670_000);
            // Dates as Excel date cells and as text give the same days.
            let days: Vec<String> = ev.iter().map(|e| e.period_end.to_string()).collect();
            assert_eq!(days[0], "2025-07-03");
            assert_eq!(days[6], "2025-07-26");
            // A CAD list price is not a USD amount; a USD one is kept.
            assert_eq!(ev[0].list_price_micros, None);
            assert_eq!(promo.list_price_micros, Some(2_990_000));
            assert_eq!(ev[0].product_id, "9781732461017");
            assert_eq!(ev[0].country, "CA");
            assert!(
                summary.layout.contains("Kobo Writing Life sales report"),
                "{}",
                summary.layout
            );
            // The two identical rows stay two sales.
            assert_eq!(ev.iter().filter(|e| e.country == "GB").count(), 2);
        }
    }

    #[test]
    fn the_summary_sheet_is_the_payment() {
        let (summary, _) = parse("kobo/kobo_sales_invoice_PUB.xlsx").unwrap();
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(
            summary.payments,
            vec![ReportedPayment {
                source: "kobo.summary".into(),
                date: None,
                currency: "USD".into(),
                amount_micros: 21_550_000,
                period: Some((d("2025-07-03"), d("2025-07-26"))),
                rows: 0,
            }]
        );
    }

    /// Kobo Plus: `Total publisher revenue share in payable currency ($)` = 7.15 + 2.49 USD
    /// (read off the sample's Details sheet), zero units, the July month, its own family.
    #[test]
    fn kobo_plus_reads_are_kept_apart_from_sales() {
        let (summary, ev) = parse("kobo/kobo_plus_sales_invoice_SUBS.xlsx").unwrap();
        assert_eq!(sums(&ev), (2, 0, 9_640_000));
        assert!(ev
            .iter()
            .all(|e| e.family == "kobo_plus" && e.format == Format::Subscription));
        assert_eq!(
            (ev[0].period_start.to_string(), ev[0].period_end.to_string()),
            ("2025-07-01".to_string(), "2025-07-31".to_string())
        );
        assert!(summary.layout.contains("Kobo Plus"));
        assert!(
            ev[0].raw.contains("\"14\""),
            "Reads kept raw: {}",
            ev[0].raw
        );
    }

    #[test]
    fn a_workbook_with_only_the_summary_is_rejected_as_kobo() {
        let err = parse("bad/kobo_no_details_sheet.xlsx")
            .unwrap_err()
            .to_string();
        assert!(err.contains("sheet `Summary`"), "{err}");
        assert!(err.contains("no `Details` sheet"), "{err}");
    }

    const HEADER: &str = "Date,Country,State,Zip Code,Content Type, Total Qty,Refund Reason,DealID,Publisher Name,Imprint,eISBN ,Author,Title,List Price,Tax Excluded List Price,COGS %,COGS Amount (LP Currency),LP Currency,Foreign Exchange Rate to Payable Currency,COGS (Payable Currency),COGS based LP,COGS based LP excluding tax,COGS based LP Currency,COGS Adjustment (Payable Currency),Net Due (Payable Currency) ,Payable Currency,Total Tax (Payable Currency)";

    fn row(date: &str, qty: &str, isbn: &str, net: &str) -> String {
        format!("{date},US,NY,,eBook,{qty},,,P,,{isbn},A,T,2.99,2.99,0.7,2.09,USD,1,2.09,2.99,2.99,USD,0,{net},USD,0")
    }

    #[test]
    fn bad_cells_are_rejected_with_line_and_column() {
        for (r, line, col) in [
            (row("07/2025", "1", "9781732461031", "2.09"), 2, "Date"),
            (row("", "1", "9781732461031", "2.09"), 2, "Date"),
            (
                row("2025-07-09", "1.5", "9781732461031", "2.09"),
                2,
                "Total Qty",
            ),
            (row("2025-07-09", "1", "9.78173E+12", "2.09"), 2, "eISBN"),
            (
                row("2025-07-09", "1", "9781732461031", "$2.09"),
                2,
                "Net Due (Payable Currency)",
            ),
        ] {
            let text = format!(
                "{HEADER}\n{}\n{r}\n",
                row("2025-07-01", "1", "9781732461031", "1")
            );
            let err = parse_text_str(&text).unwrap_err().to_string();
            assert!(err.contains(&format!("line {}", line + 1)), "{err}");
            assert!(err.contains(&format!("column `{col}`")), "{err}");
        }
    }

    #[test]
    fn trailing_blank_rows_and_isbn_floats_are_accepted() {
        let text = format!(
            "{HEADER}\r\n{}\r\n,,,,,,,,,,,,,,,,,,,,,,,,,,\r\n",
            row("2025-07-09 00:00:00", "2", "9781732461031.0", "4.18")
        );
        let ev = parse_text_str(&text).unwrap();
        assert_eq!(sums(&ev), (1, 2, 4_180_000));
        assert_eq!(ev[0].product_id, "9781732461031");
    }

    #[test]
    fn other_layouts_are_not_claimed() {
        let err = parse_text_str("Start Date,End Date,Title\n2025-07-01,2025-07-01,T\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a recognised Kobo"), "{err}");
        let err = parse("kdp/kdp_royalties_estimator.xlsx")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a recognised Kobo"), "{err}");
    }
}
