//! StreetLib billing report: the analytical sales report of an invoice (XLSX, or a CSV copy
//! with comma, semicolon or tab), FORMATS §14.6.
//!
//! royalty = the author's net (`Net revenue`, also `Publisher net revenue` or `Net payout`) in
//! `Store payout currency`; never `Store payout`, which is the store's earnings before
//! StreetLib's commission, DRM and print costs (a file without a net column is refused, never
//! computed). units = `Quantity` (returns negative); period = the `Order date`; final (billed
//! sales). The sheet is the first whose header has `Order date` and `Store payout currency`.
//!
//! Rows have no ids: identical rows are separate sales. Replace-by-coverage is scoped by the
//! invoice: family `streetlib_billing:<Billing date>`, so a report replaces the rows of the
//! same invoice (a re-download, the CSV copy) and never those of another invoice whose orders
//! fall in the same days (stores report late: consecutive invoices overlap in order dates).
//! The invoice's net per currency is its payment (`ParseSummary::payments`).

use std::path::Path;
use std::sync::Arc;

use super::table::{self, Header, Loc, Row, Source};
use super::workbook::{self, Workbook};
use super::{csvutil, EventSink, InputError, ParseSummary, PaymentSums, PlatformError};
use crate::model::{Format, Platform, RawLayout, SaleEvent};

/// How many rows at the top of a sheet may come before its header.
const HEADER_SEARCH_ROWS: u64 = 10;

const SIGNATURE: [&str; 2] = ["Order date", "Store payout currency"];
const NET: [&str; 3] = ["Net revenue", "Publisher net revenue", "Net payout"];

fn is_billing_header(h: &Header) -> bool {
    h.has_all(&SIGNATURE)
}

/// Column indices of a billing report.
struct Cols {
    order_date: usize,
    isbn: usize,
    quantity: usize,
    net: usize,
    currency: usize,
    billing_date: Option<usize>,
    title: Option<usize>,
    store: Option<usize>,
    print_cost: Option<usize>,
    checked: Vec<usize>,
    percents: Vec<usize>,
}

impl Cols {
    fn new(h: &Header) -> Result<Cols, String> {
        if h.find(&NET).is_none() {
            return Err(format!(
                "this StreetLib billing report has no net column for the author (`Net revenue`, `Publisher net revenue` or `Net payout`); `Store payout` is the store's earnings before StreetLib's distribution commission, DRM and print costs, not your royalty, so it is never used instead: download the billing report again from Billing → invoice archive (found header: {})",
                h.joined()
            ));
        }
        let idx = table::require(
            h,
            "StreetLib billing report",
            &[
                &["Order date"],
                &["ISBN"],
                &["Quantity"],
                &NET,
                &["Store payout currency"],
            ],
        )?;
        let optional =
            |names: &[&str]| -> Vec<usize> { names.iter().filter_map(|n| h.find(&[n])).collect() };
        Ok(Cols {
            order_date: idx[0],
            isbn: idx[1],
            quantity: idx[2],
            net: idx[3],
            currency: idx[4],
            billing_date: h.find(&["Billing date"]),
            title: h.find(&["Title"]),
            store: h.find(&["Store"]),
            print_cost: h.find(&["Total print cost"]),
            checked: optional(&["List Price", "Total list price", "Store payout", "DRM"]),
            percents: optional(&["Discount % sale", "Discount % distribution"]),
        })
    }
}

/// Turns the rows of a billing table into events.
struct Reader {
    header: Header,
    layout: Arc<RawLayout>,
    loc: Loc,
    cols: Cols,
    want_raw: bool,
    rows: u64,
    payments: PaymentSums,
}

impl Reader {
    fn new(
        header: Header,
        loc: Loc,
        header_line: u64,
        want_raw: bool,
    ) -> Result<Reader, PlatformError> {
        let cols = Cols::new(&header).map_err(|m| loc.reject(header_line, None, m))?;
        Ok(Reader {
            layout: header.raw_layout(),
            header,
            loc,
            cols,
            want_raw,
            rows: 0,
            payments: PaymentSums::default(),
        })
    }

    fn event(
        &mut self,
        line: u64,
        cells: &dyn table::Cells,
        sheet: bool,
    ) -> Result<SaleEvent, PlatformError> {
        self.rows += 1;
        let c = &self.cols;
        let row = Row {
            loc: &self.loc,
            header: &self.header,
            line,
            cells,
            sheet,
        };
        let day = row.day(c.order_date)?;
        let billed = row.opt_day(c.billing_date)?;
        let product_id = row.isbn(c.isbn)?;
        let units = row.units(c.quantity)?;
        let royalty = row.amount(c.net)?;
        let currency = row.currency(c.currency)?;
        let print_cost = row.opt_decimal(c.print_cost)?;
        for &i in &c.checked {
            row.decimal(i)?;
        }
        for &i in &c.percents {
            row.opt_percent(Some(i))?;
        }
        self.payments
            .add("streetlib.billing", billed, &currency, royalty, (day, day));
        let store = row.opt_text(c.store).to_string();
        let family = match billed {
            Some(d) => format!("streetlib_billing:{}", crate::model::iso_date(d)),
            None => "streetlib_billing".to_string(),
        };
        Ok(SaleEvent {
            platform: Platform::Streetlib,
            family,
            source: "streetlib.billing".to_string(),
            natural_key: None,
            period_start: day,
            period_end: day,
            title: row.opt_text(c.title).to_string(),
            product_id,
            // A print cost means a printed copy (StreetLib prints on demand).
            format: if print_cost.is_some_and(|p| p != 0) {
                Format::Paperback
            } else {
                Format::Ebook
            },
            marketplace: store.clone(),
            retailer: store,
            country: String::new(),
            units,
            kenp_pages: 0,
            list_price_micros: None,
            royalty_micros: royalty,
            currency,
            is_final: true,
            status: String::new(),
            raw: if self.want_raw {
                row.raw(&self.layout)
            } else {
                String::new()
            },
            raw_layout: self.want_raw.then(|| self.layout.clone()),
            line,
        })
    }

    fn finish(self, display_name: &str, layout: &str) -> ParseSummary {
        let mut summary = ParseSummary {
            layout: layout.to_string(),
            rows: self.rows,
            ..ParseSummary::default()
        };
        self.payments.finish(display_name, &mut summary);
        if summary.rows == 0 {
            summary.warnings.push(format!(
                "`{display_name}` has a StreetLib billing header but no rows"
            ));
        }
        summary
    }
}

/// Parse a StreetLib billing report (XLSX or a CSV copy), streaming events into `sink`.
///
/// # Errors
/// `Rejected` for a file that is not a StreetLib billing report, lacks the net column or has a
/// malformed row (naming the sheet or line, and the column), `Transient` for I/O errors,
/// `Sink` when the sink fails.
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
            "not a recognised StreetLib billing report: this is an old binary Excel (.xls) workbook; StreetLib's billing report is an .xlsx workbook (Billing → invoice archive)",
        )));
    }
    let report = table::open_text(path, display_name)?;
    let header = Header::new(&report.headers);
    let loc = Loc {
        file: display_name.to_string(),
        sheet: None,
    };
    if !is_billing_header(&header) {
        return Err(loc.reject(
            1,
            None,
            format!(
                "not a recognised StreetLib billing report: expected `Billing date`, `Order date`, `ISBN`, `Quantity`, `Store payout currency` and `Net revenue` columns (found header: {})",
                header.joined()
            ),
        ));
    }
    let mut reader = Reader::new(header, loc, 1, sink.wants_raw())?;
    let mut source = Source::Text(report);
    source.each_row(sink, |line, cells, sink| {
        let event = reader.event(line, cells, false)?;
        sink.event(event).map_err(PlatformError::from)
    })?;
    Ok(reader.finish(display_name, "StreetLib billing report (CSV)"))
}

fn parse_xlsx(
    path: &Path,
    display_name: &str,
    sink: &mut dyn EventSink,
) -> Result<ParseSummary, PlatformError> {
    let mut wb = Workbook::open(path, display_name, "StreetLib")?;
    let names = wb.sheet_names();
    let mut seen: Vec<String> = Vec::new();
    let mut found: Option<(String, Header, u64)> = None;
    for name in &names {
        let mut first: Option<Header> = None;
        wb.rows(name, |row, cells| {
            if row > HEADER_SEARCH_ROWS {
                return Ok(false);
            }
            let h = Header::new(cells);
            if h.names.is_empty() {
                return Ok(true);
            }
            if is_billing_header(&h) {
                found = Some((name.clone(), h, row));
                return Ok(false);
            }
            if first.is_none() {
                first = Some(h);
            }
            Ok(true)
        })?;
        if found.is_some() {
            break;
        }
        seen.push(match first {
            Some(h) => format!("`{}` (header: {})", name.trim(), h.joined()),
            None => format!("`{}` (empty)", name.trim()),
        });
    }
    let Some((sheet, header, header_row)) = found else {
        return Err(PlatformError::Rejected(InputError::file(
            display_name,
            format!(
                "not a recognised StreetLib billing report: no sheet has `Order date` and `Store payout currency` columns (sheets: {})",
                seen.join("; ")
            ),
        )));
    };
    let loc = Loc {
        file: display_name.to_string(),
        sheet: Some(sheet.trim().to_string()),
    };
    let mut reader = Reader::new(header, loc, header_row, sink.wants_raw())?;
    let mut source = Source::Sheet {
        workbook: wb,
        sheet,
        header_row,
    };
    source.each_row(sink, |line, cells, sink| {
        let event = reader.event(line, cells, true)?;
        sink.event(event).map_err(PlatformError::from)
    })?;
    Ok(reader.finish(display_name, "StreetLib billing report (XLSX)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platforms::testutil::{fixture, Collect};
    use crate::platforms::ReportedPayment;
    use chrono::NaiveDate;
    use std::collections::BTreeMap;
    use std::io::Write;

    fn parse(rel: &str) -> Result<(ParseSummary, Vec<SaleEvent>), PlatformError> {
        let mut sink = Collect::default();
        let s = parse_file(&fixture(rel), rel, &mut sink)?;
        Ok((s, sink.0))
    }

    fn parse_str(text: &str) -> Result<(ParseSummary, Vec<SaleEvent>), PlatformError> {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        let mut sink = Collect::default();
        let s = parse_file(f.path(), "streetlib.csv", &mut sink)?;
        Ok((s, sink.0))
    }

    fn by_currency(ev: &[SaleEvent]) -> BTreeMap<String, i64> {
        let mut m = BTreeMap::new();
        for e in ev {
            *m.entry(e.currency.clone()).or_insert(0) += e.royalty_micros;
        }
        m
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// Sums computed independently with Python (`csv.DictReader`, `Decimal`) over
    /// `streetlib_billing_report.csv`: `Net revenue` EUR 8.23, USD 1.97, GBP 1.37; `Quantity`
    /// 6 over 6 rows. `Store payout` (EUR 12.71 …) must not be what is counted.
    #[test]
    fn xlsx_and_csv_give_the_net_revenue_per_currency() {
        for rel in [
            "streetlib/streetlib_billing_report.xlsx",
            "streetlib/streetlib_billing_report.csv",
        ] {
            let (summary, ev) = parse(rel).unwrap();
            assert_eq!(ev.len(), 6, "{rel}");
            assert_eq!(ev.iter().map(|e| e.units).sum::<i64>(), 6);
            assert_eq!(
                by_currency(&ev),
                BTreeMap::from([
                    ("EUR".to_string(), 8_230_000),
                    ("GBP".to_string(), 1_370_000),
                    ("USD".to_string(), 1_970_000)
                ]),
                "{rel}"
            );
            let ret = ev.iter().find(|e| e.units < 0).unwrap();
            assert_eq!(
                (ret.royalty_micros, ret.period_end),
                (-2_260_000, d("2025-06-14"))
            );
            assert!(ev
                .iter()
                .all(|e| e.family == "streetlib_billing:2025-07-05" && e.is_final));
            assert_eq!(ev[0].period_start, d("2025-04-07"));
            assert_eq!(ev[0].marketplace, "Mondadori Store");
            // The two identical Bol.com rows stay two sales.
            assert_eq!(ev.iter().filter(|e| e.marketplace == "Bol.com").count(), 3);
            let eur = summary
                .payments
                .iter()
                .find(|p| p.currency == "EUR")
                .unwrap();
            assert_eq!(
                eur,
                &ReportedPayment {
                    source: "streetlib.billing".into(),
                    date: Some(d("2025-07-05")),
                    currency: "EUR".into(),
                    amount_micros: 8_230_000,
                    period: Some((d("2025-04-07"), d("2025-06-14"))),
                    rows: 4,
                }
            );
            assert_eq!(summary.payments.len(), 3);
        }
    }

    #[test]
    fn a_report_without_the_net_column_is_refused_naming_it() {
        let err = parse("bad/streetlib_billing_no_net_column.xlsx")
            .unwrap_err()
            .to_string();
        assert!(err.contains("sheet `Report`, row 1"), "{err}");
        assert!(err.contains("`Net revenue`"), "{err}");
        assert!(err.contains("never used instead"), "{err}");
    }

    const HEADER: &str = "Billing date;Order date;ISBN;Title;Authors;Publisher;Store;Sale type;Order type;List Price;Quantity;Total list price;Price model;Bill type;Discount % sale;Discount % distribution;Store payout;Store payout currency;DRM;Total print cost;Net revenue";

    #[test]
    fn semicolon_copies_are_read_and_decimal_commas_rejected_naming_the_cell() {
        let good = format!("{HEADER}\n2025-07-05;2025-05-02;9781732461024;T;A;P;Bol.com;Sale;Buy;4.1;2;8.2;Wholesale;Author;35%;10%;5.33;EUR;0;0;4.51\n");
        let (_, ev) = parse_str(&good).unwrap();
        assert_eq!((ev.len(), ev[0].royalty_micros), (1, 4_510_000));
        let bad = good.replace(";4.51\n", ";4,51\n");
        let err = parse_str(&bad).unwrap_err().to_string();
        assert!(
            err.contains("line 2") && err.contains("column `Net revenue`"),
            "{err}"
        );
        let bad = good.replace(";2025-05-02;", ";02.05.2025;");
        let err = parse_str(&bad).unwrap_err().to_string();
        assert!(err.contains("column `Order date`"), "{err}");
    }

    #[test]
    fn other_layouts_are_not_claimed() {
        let (e1, e2) = (
            parse("kobo/kobo_sales_details.csv")
                .unwrap_err()
                .to_string(),
            parse("kobo/kobo_sales_invoice_PUB.xlsx")
                .unwrap_err()
                .to_string(),
        );
        assert!(e1.contains("not a recognised StreetLib"), "{e1}");
        assert!(e2.contains("not a recognised StreetLib"), "{e2}");
    }
}
