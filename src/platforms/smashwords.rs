//! Smashwords "Sales & Payment Report": a tab- (or comma-) separated text file, often named
//! `.xls`, with CR-only line endings in the 2011 downloads, and exactly 21 columns.
//!
//! royalty = `net` in `currency`; units = `qty`; list price = `price`; period = the `date`'s
//! day (`YYYY-MM-DD H:MM`, unpadded hour); `balanceAdjusted` non-empty marks a row final.
//! Rows have no ids: identical rows are separate sales (family `smashwords`, replaced by
//! coverage in the store).
//!
//! Row `type` is `sale` (the Smashwords store), `retailer sale` (distribution) or `payment` (a
//! payout of the author's balance, FORMATS §13: title `Payment`, negative `net`, empty `qty` and
//! `isbn`). Payments are not sales: they give no event (so they never count, and never widen the
//! period the file replaces), are returned in `ParseSummary::payouts` (stored in the payouts
//! table with the import) and named in a warning.
//! Any other type rejects the file, naming the line and the value.

use std::path::Path;

use chrono::NaiveDate;

use super::csvutil::{self, Delimiter, TextReport};
use super::{EventSink, InputError, ParseSummary, PlatformError};
use crate::model::{format_micros, Format, Payout, Platform, SaleEvent};

/// The 21 columns of the report, in order.
pub const COLUMNS: [&str; 21] = [
    "type",
    "channel",
    "location",
    "id",
    "isbn",
    "title",
    "author",
    "price",
    "qty",
    "amount",
    "couponCode",
    "retailerCut",
    "smashwordsCut",
    "affiliateCut",
    "transFee",
    "vat",
    "net",
    "currency",
    "amountFinal (USD)",
    "date",
    "balanceAdjusted",
];

/// Columns that must hold plain decimals (or be empty).
const MONEY_COLUMNS: [&str; 8] = [
    "amount",
    "retailerCut",
    "smashwordsCut",
    "affiliateCut",
    "transFee",
    "vat",
    "amountFinal (USD)",
    "price",
];

/// The day of a `date` cell: `2025-07-02 14:03`, `2025-06-14 0:00` or a bare `2025-06-14`.
fn parse_day(text: &str) -> Option<NaiveDate> {
    let t = text.trim();
    let (day, time) = match t.split_once(' ') {
        Some((d, tm)) => (d, Some(tm.trim())),
        None => (t, None),
    };
    if let Some(tm) = time {
        let (h, m) = tm.split_once(':')?;
        let m = m.get(..2).unwrap_or(m);
        let ok = (1..=2).contains(&h.len())
            && h.bytes().all(|b| b.is_ascii_digit())
            && m.len() == 2
            && m.bytes().all(|b| b.is_ascii_digit());
        if !ok {
            return None;
        }
    }
    NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()
}

/// `country_CA` → `CA`; `_`, empty or anything else → empty.
fn country(location: &str) -> String {
    match location.trim().strip_prefix("country_") {
        Some(cc) if cc.len() == 2 && cc.bytes().all(|b| b.is_ascii_alphabetic()) => {
            cc.to_ascii_uppercase()
        }
        _ => String::new(),
    }
}

/// Where the cells of a `payment` row are.
struct PaymentColumns {
    id: usize,
    net: usize,
    currency: usize,
    date: usize,
    balance: usize,
}

/// A `payment` row (FORMATS §13): the money Smashwords paid out of the author's balance, `net`
/// negative. Not a sale: its `qty`, `isbn` and price cells are empty and are not read.
/// amount = −`net` in `currency`, date = `balanceAdjusted` (else `date`), reference = `id`.
fn payment(
    rec: &csv::StringRecord,
    file: &str,
    line: u64,
    c: &PaymentColumns,
) -> Result<Payout, PlatformError> {
    let get = |i: usize| rec.get(i).unwrap_or("").trim();
    let reject = |column: &str, message: String| {
        PlatformError::Rejected(InputError::at(file, line, Some(column), message))
    };
    let net = csvutil::money(file, line, "net", get(c.net))?;
    let currency = three_letter_currency(get(c.currency)).ok_or_else(|| {
        reject(
            "currency",
            format!(
                "expected a three-letter currency code such as USD, found `{}`",
                get(c.currency)
            ),
        )
    })?;
    let (column, text) = if get(c.balance).is_empty() {
        ("date", get(c.date))
    } else {
        ("balanceAdjusted", get(c.balance))
    };
    let date = parse_day(text).ok_or_else(|| {
        reject(
            column,
            format!("expected a date like 2025-08-15 0:00 for this payment, found `{text}`"),
        )
    })?;
    let amount = net
        .checked_neg()
        .ok_or_else(|| reject("net", format!("the amount `{}` is too large", get(c.net))))?;
    Ok(Payout::simple(
        Platform::Smashwords,
        "smashwords.payment",
        get(c.id).to_string(),
        date,
        amount,
        currency,
        line,
    ))
}

/// `usd` → `USD`; anything but three ASCII letters → `None`.
fn three_letter_currency(text: &str) -> Option<String> {
    let c = text.trim().to_ascii_uppercase();
    (c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic())).then_some(c)
}

/// What the job says about the payment rows it kept as payouts: how many and their total per
/// currency.
fn payouts_warning(display_name: &str, payouts: &[Payout]) -> Option<String> {
    if payouts.is_empty() {
        return None;
    }
    let mut totals: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
    for p in payouts {
        let t = totals.entry(p.currency.as_str()).or_insert(0);
        *t = t.saturating_add(p.amount_micros);
    }
    let total = totals
        .iter()
        .map(|(cur, m)| format!("{} {cur}", format_micros(*m, cur)))
        .collect::<Vec<_>>()
        .join(" + ");
    let n = payouts.len();
    let rows = if n == 1 { "row" } else { "rows" };
    Some(format!(
        "`{display_name}`: kept {n} `payment` {rows} as payouts (Smashwords paid {total}; not sales: never counted as royalty; see `salesingest sales payouts`)"
    ))
}

/// Parse a Smashwords sales report, streaming rows into `sink`.
///
/// # Errors
/// `Rejected` for a binary workbook, a header that is not the 21-column Smashwords header
/// (including one that mixes commas and tabs) or a malformed row (naming the line and
/// column), `Transient` for I/O errors.
pub fn parse_file(
    path: &Path,
    display_name: &str,
    sink: &mut dyn EventSink,
) -> Result<ParseSummary, PlatformError> {
    if csvutil::is_binary_container(path) {
        return Err(PlatformError::Rejected(InputError::file(
            display_name,
            "this is a binary spreadsheet workbook (XLSX/XLS), not the Smashwords sales report: download the Sales & Payment Report again (it is a tab-separated text file even when named .xls), or save the sheet as tab-separated text",
        )));
    }
    let first = csvutil::first_line(path, display_name)?;
    let (tabs, commas) = (first.contains('\t'), first.contains(','));
    let delimiter = match (tabs, commas) {
        (true, true) => {
            return Err(PlatformError::Rejected(InputError::at(
                display_name,
                1,
                None,
                format!(
                    "the header mixes commas and tabs, so its columns cannot be told apart: expected the 21 Smashwords columns separated by tabs (or by commas), found header `{}`",
                    first.replace('\t', "\\t")
                ),
            )))
        }
        (true, false) => Delimiter::Tab,
        _ => Delimiter::Comma,
    };
    let mut report = TextReport::open(path, display_name, delimiter)?;
    let layout = "Smashwords sales report";
    let idx = report.require(layout, &COLUMNS)?;
    if report.headers.len() != COLUMNS.len() {
        return Err(PlatformError::Rejected(InputError::at(
            display_name,
            1,
            None,
            format!(
                "not a {layout}: expected exactly {} columns, found {} (header: {})",
                COLUMNS.len(),
                report.headers.len(),
                report.headers.join(", ")
            ),
        )));
    }
    let col = |name: &str| idx[COLUMNS.iter().position(|n| *n == name).unwrap_or(0)];
    let (c_type, c_channel, c_location, c_id, c_isbn, c_title) = (
        col("type"),
        col("channel"),
        col("location"),
        col("id"),
        col("isbn"),
        col("title"),
    );
    let (c_price, c_qty, c_net, c_currency, c_date, c_balance) = (
        col("price"),
        col("qty"),
        col("net"),
        col("currency"),
        col("date"),
        col("balanceAdjusted"),
    );
    let money_cols: Vec<(usize, &str)> = MONEY_COLUMNS.iter().map(|n| (col(n), *n)).collect();
    let pay_cols = PaymentColumns {
        id: c_id,
        net: c_net,
        currency: c_currency,
        date: c_date,
        balance: c_balance,
    };

    let mut summary = ParseSummary {
        layout: format!(
            "{layout} ({})",
            match delimiter {
                Delimiter::Tab => "tab-separated",
                Delimiter::Comma => "comma-separated",
                Delimiter::Semicolon => "semicolon-separated",
            }
        ),
        ..ParseSummary::default()
    };
    let mut rec = csv::StringRecord::new();
    let file = display_name.to_string();
    let want_raw = sink.wants_raw();
    while report.next_record(&mut rec)? {
        let line = report.line;
        summary.rows += 1;
        let get = |i: usize| rec.get(i).unwrap_or("").trim();
        let reject = |column: &str, message: String| {
            PlatformError::Rejected(InputError::at(&file, line, Some(column), message))
        };
        let kind = get(c_type);
        let source = match kind {
            "sale" => "smashwords.store",
            "retailer sale" => "smashwords.retailer",
            "payment" => {
                summary.payouts.push(payment(&rec, &file, line, &pay_cols)?);
                continue;
            }
            "" => {
                return Err(reject(
                    "type",
                    "expected `sale`, `retailer sale` or `payment`, found an empty cell"
                        .to_string(),
                ))
            }
            other => {
                return Err(reject(
                    "type",
                    format!(
                        "expected `sale`, `retailer sale` or `payment`, found `{other}`: salesingest does not know what this row means, so it imports nothing from the file rather than guess; check the row, or remove it and enqueue the file again"
                    ),
                ))
            }
        };
        let day = parse_day(get(c_date)).ok_or_else(|| {
            reject(
                "date",
                format!(
                    "expected a date like 2025-07-02 14:03, found `{}`",
                    get(c_date)
                ),
            )
        })?;
        for (i, name) in &money_cols {
            csvutil::money_opt(&file, line, name, get(*i))?;
        }
        let units = csvutil::units_opt(&file, line, "qty", get(c_qty))?.ok_or_else(|| {
            reject(
                "qty",
                "expected a quantity, found an empty cell".to_string(),
            )
        })?;
        let list = csvutil::money_opt(&file, line, "price", get(c_price))?;
        let royalty = csvutil::money(&file, line, "net", get(c_net))?;
        let Some(currency) = three_letter_currency(get(c_currency)) else {
            return Err(reject(
                "currency",
                format!(
                    "expected a three-letter currency code such as USD, found `{}`",
                    get(c_currency).to_ascii_uppercase()
                ),
            ));
        };
        let isbn = csvutil::normalise_isbn(get(c_isbn));
        let product_id = if isbn.is_empty() {
            let id = get(c_id);
            if id.is_empty() {
                return Err(reject(
                    "id",
                    "expected a Smashwords book id or an ISBN, found neither".to_string(),
                ));
            }
            format!("smashwords:{id}")
        } else {
            isbn
        };
        let channel = get(c_channel).to_string();
        let event = SaleEvent {
            platform: Platform::Smashwords,
            family: "smashwords".to_string(),
            source: source.to_string(),
            natural_key: None,
            period_start: day,
            period_end: day,
            title: get(c_title).to_string(),
            product_id,
            format: Format::Ebook,
            marketplace: channel.clone(),
            retailer: channel,
            country: country(get(c_location)),
            units,
            kenp_pages: 0,
            list_price_micros: list,
            royalty_micros: royalty,
            currency,
            is_final: !get(c_balance).is_empty(),
            status: String::new(),
            raw: if want_raw {
                report.raw_cells(&rec)
            } else {
                String::new()
            },
            raw_layout: want_raw.then(|| report.raw_layout.clone()),
            line,
        };
        sink.event(event)?;
        if summary.rows % 4096 == 0 {
            sink.progress(report.bytes_read());
        }
    }
    sink.progress(report.bytes_read());
    if let Some(w) = payouts_warning(display_name, &summary.payouts) {
        summary.warnings.push(w);
    }
    if summary.rows == summary.payouts.len() as u64 {
        summary
            .warnings
            .push(format!("`{display_name}` has a header but no sales rows"));
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platforms::testutil::{fixture, Collect};
    use std::collections::BTreeMap;
    use std::io::Write;

    fn parse_path(path: &Path, name: &str) -> Result<Vec<SaleEvent>, PlatformError> {
        let mut sink = Collect::default();
        parse_file(path, name, &mut sink)?;
        Ok(sink.0)
    }

    fn parse_text(text: &str) -> Result<Vec<SaleEvent>, PlatformError> {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        parse_path(f.path(), "salesReport.xls")
    }

    fn totals(ev: &[SaleEvent]) -> BTreeMap<String, i64> {
        let mut t = BTreeMap::new();
        for e in ev {
            *t.entry(e.currency.clone()).or_insert(0) += e.royalty_micros;
        }
        t
    }

    /// Computed independently (Python `decimal` over the fixture's `net`/`currency` columns).
    fn expected_totals() -> BTreeMap<String, i64> {
        [
            ("AUD", -2_540_000),
            ("CAD", 8_390_000),
            ("EUR", 2_160_000),
            ("GBP", 4_490_000),
            ("USD", 14_810_000),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_string(), *v))
        .collect()
    }

    fn check_sample(ev: &[SaleEvent]) {
        assert_eq!(ev.len(), 11);
        assert_eq!(totals(ev), expected_totals());
        assert_eq!(ev.iter().map(|e| e.units).sum::<i64>(), 10);
        assert_eq!(ev.iter().filter(|e| e.is_final).count(), 7);
        assert_eq!(
            ev.iter().filter(|e| e.source == "smashwords.store").count(),
            4
        );
        assert_eq!(
            ev.iter()
                .filter(|e| e.source == "smashwords.retailer")
                .count(),
            7
        );
        assert!(ev.iter().all(|e| e.family == "smashwords"
            && e.platform == Platform::Smashwords
            && e.format == Format::Ebook
            && e.kenp_pages == 0));
        let countries: Vec<&str> = ev.iter().map(|e| e.country.as_str()).collect();
        assert_eq!(
            countries,
            ["", "", "", "FR", "CA", "US", "", "GB", "", "", "AU"]
        );
        let first = &ev[0];
        assert_eq!(first.product_id, "9781732461017");
        assert_eq!(
            (first.retailer.as_str(), first.marketplace.as_str()),
            ("Smashwords.com", "Smashwords.com")
        );
        assert_eq!(first.list_price_micros, Some(4_990_000));
        assert_eq!(first.royalty_micros, 3_790_000);
        let d = NaiveDate::from_ymd_opt(2025, 7, 2).unwrap();
        assert_eq!((first.period_start, first.period_end), (d, d));
        assert_eq!(first.line, 2);
        let coupon = &ev[1];
        assert_eq!(
            (
                coupon.units,
                coupon.royalty_micros,
                coupon.list_price_micros
            ),
            (1, 0, Some(0))
        );
        assert_eq!(
            coupon.period_start,
            NaiveDate::from_ymd_opt(2025, 7, 3).unwrap()
        );
        let kobo = ev
            .iter()
            .find(|e| e.retailer == "Kobo" && e.currency == "CAD")
            .unwrap();
        assert_eq!(
            (kobo.units, kobo.royalty_micros, kobo.is_final),
            (2, 8_390_000, true)
        );
        let unpaid = ev.iter().find(|e| e.retailer == "OverDrive").unwrap();
        assert!(!unpaid.is_final);
        let refund = ev.iter().find(|e| e.currency == "AUD").unwrap();
        assert_eq!((refund.units, refund.royalty_micros), (-1, -2_540_000));
        let raw: serde_json::Value = serde_json::from_str(&refund.raw_json()).unwrap();
        assert_eq!(raw["amountFinal (USD)"], "-1.66");
    }

    #[test]
    fn tab_separated_cr_only_report() {
        let path = fixture("smashwords/smashwords_salesReport.tsv");
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.contains(&b'\n') && bytes.contains(&b'\r'),
            "fixture must be CR-only"
        );
        check_sample(&parse_path(&path, "smashwords_salesReport.tsv").unwrap());
    }

    #[test]
    fn comma_separated_report() {
        let path = fixture("smashwords/smashwords_sales.csv");
        check_sample(&parse_path(&path, "smashwords_sales.csv").unwrap());
    }

    #[test]
    fn header_mixing_commas_and_tabs_is_rejected() {
        let path = fixture("bad/smashwords_salesReport_commas_in_tsv.tsv");
        let e = parse_path(&path, "smashwords_salesReport_commas_in_tsv.tsv")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`smashwords_salesReport_commas_in_tsv.tsv`, line 1"),
            "{e}"
        );
        assert!(e.contains("mixes commas and tabs"), "{e}");
        assert!(e.contains("type,channel,location"), "{e}");
    }

    #[test]
    fn binary_workbook_is_rejected() {
        let path = fixture("kdp/kdp_payments.xlsx");
        let e = parse_path(&path, "report.xls").unwrap_err().to_string();
        assert!(
            e.contains("`report.xls`") && e.contains("binary spreadsheet workbook"),
            "{e}"
        );
    }

    #[test]
    fn empty_file_is_rejected() {
        let e = parse_path(&fixture("bad/empty.csv"), "empty.csv")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`empty.csv`") && e.contains("empty"), "{e}");
    }

    #[test]
    fn kdp_file_is_not_a_smashwords_report() {
        let e = parse_path(&fixture("kdp/kdp_ebook_royalty.csv"), "kdp.csv")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("not a Smashwords sales report: missing columns"),
            "{e}"
        );
    }

    const HEADER: &str = "type\tchannel\tlocation\tid\tisbn\ttitle\tauthor\tprice\tqty\tamount\tcouponCode\tretailerCut\tsmashwordsCut\taffiliateCut\ttransFee\tvat\tnet\tcurrency\tamountFinal (USD)\tdate\tbalanceAdjusted";

    #[test]
    fn missing_isbn_falls_back_to_smashwords_id() {
        let text = format!(
            "{HEADER}\rsale\tSmashwords.com\t\t1180442\t\tT\tA\t4.99\t1\t4.99\t\t\t-0.75\t0\t-0.45\t\t3.79\tUSD\t3.79\t2025-07-02 9:03\t\r"
        );
        let ev = parse_text(&text).unwrap();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].product_id, "smashwords:1180442");
        assert!(!ev[0].is_final);
    }

    #[test]
    fn currency_symbol_in_net_is_rejected_with_column() {
        let text = format!(
            "{HEADER}\nsale\tSmashwords.com\t\t1\t\tT\tA\t4.99\t1\t4.99\t\t\t-0.75\t0\t-0.45\t\t$3.79\tUSD\t3.79\t2025-07-02 9:03\t\n"
        );
        let e = parse_text(&text).unwrap_err().to_string();
        assert!(e.contains("line 2, column `net`"), "{e}");
    }

    #[test]
    fn bad_date_is_rejected_with_column() {
        let text = format!(
            "{HEADER}\nsale\tSmashwords.com\t\t1\t\tT\tA\t4.99\t1\t4.99\t\t\t-0.75\t0\t-0.45\t\t3.79\tUSD\t3.79\t07/02/2025\t\n"
        );
        let e = parse_text(&text).unwrap_err().to_string();
        assert!(e.contains("line 2, column `date`"), "{e}");
    }

    fn parse_summary(path: &Path, name: &str) -> (Vec<SaleEvent>, ParseSummary) {
        let mut sink = Collect::default();
        let summary = parse_file(path, name, &mut sink).unwrap();
        (sink.0, summary)
    }

    /// A real report ends with `payment` rows (empty `qty` and `isbn`): they are not sales, so
    /// they give no event and no royalty, and come back as typed payouts with a warning.
    #[test]
    fn payment_rows_are_payouts_not_sales() {
        let path = fixture("smashwords/smashwords_salesReport_payments.tsv");
        let (ev, summary) = parse_summary(&path, "payments.tsv");
        // Python `decimal` over the `net` column of the rows whose type is not `payment`.
        let want: BTreeMap<String, i64> =
            [("CAD", 4_790_000), ("GBP", -1_790_000), ("USD", 11_940_000)]
                .iter()
                .map(|(k, v)| ((*k).to_string(), *v))
                .collect();
        assert_eq!(ev.len(), 7);
        assert_eq!(totals(&ev), want);
        assert_eq!(ev.iter().map(|e| e.units).sum::<i64>(), 6);
        assert!(ev.iter().all(|e| e.title != "Payment"));
        // The payment's date (2025-08-15) does not widen the period the file covers.
        let last = ev.iter().map(|e| e.period_end).max().unwrap();
        assert_eq!(last, NaiveDate::from_ymd_opt(2025, 7, 2).unwrap());
        assert_eq!(summary.rows, 8);
        assert_eq!(
            summary.payouts,
            vec![Payout::simple(
                Platform::Smashwords,
                "smashwords.payment",
                "88412".into(),
                NaiveDate::from_ymd_opt(2025, 8, 15).unwrap(),
                9_460_000,
                "USD".into(),
                9,
            )]
        );
        assert_eq!(
            summary.warnings,
            ["`payments.tsv`: kept 1 `payment` row as payouts (Smashwords paid 9.46 USD; not sales: never counted as royalty; see `salesingest sales payouts`)"]
        );
    }

    #[test]
    fn several_payments_are_counted_and_totalled_per_currency() {
        let pay = |id: &str, net: &str, cur: &str, date: &str, adjusted: &str| {
            format!("payment\t\t\t{id}\t\tPayment\t\t\t\t\t\t\t\t\t\t\t{net}\t{cur}\t{net}\t{date}\t{adjusted}\r")
        };
        let text = format!(
            "{HEADER}\r{}{}{}",
            pay(
                "6518",
                "-14.34",
                "USD",
                "2011-02-03 0:00",
                "2011-02-03 0:00"
            ),
            pay(
                "11978",
                "-17.97",
                "USD",
                "2011-05-01 0:00",
                "2011-05-01 0:00"
            ),
            // No balanceAdjusted: the payment's `date` is used.
            pay("7", "-5", "eur", "2011-06-01 0:00", ""),
        );
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        let (ev, summary) = parse_summary(f.path(), "r.xls");
        assert!(ev.is_empty());
        let got: Vec<(&str, i64, &str, String)> = summary
            .payouts
            .iter()
            .map(|p| {
                (
                    p.reference.as_str(),
                    p.amount_micros,
                    p.currency.as_str(),
                    p.date.to_string(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("6518", 14_340_000, "USD", "2011-02-03".to_string()),
                ("11978", 17_970_000, "USD", "2011-05-01".to_string()),
                ("7", 5_000_000, "EUR", "2011-06-01".to_string()),
            ]
        );
        assert_eq!(
            summary.warnings,
            [
                "`r.xls`: kept 3 `payment` rows as payouts (Smashwords paid 5.00 EUR + 32.31 USD; not sales: never counted as royalty; see `salesingest sales payouts`)",
                "`r.xls` has a header but no sales rows",
            ]
        );
    }

    #[test]
    fn a_payment_row_with_a_bad_amount_or_date_is_rejected_with_its_line() {
        for (net, date, column) in [
            ("$9.46", "2025-08-15 0:00", "line 2, column `net`"),
            ("", "2025-08-15 0:00", "line 2, column `net`"),
            ("-9.46", "15/08/2025", "line 2, column `balanceAdjusted`"),
        ] {
            let text = format!(
                "{HEADER}\npayment\t\t\t88412\t\tPayment\t\t\t\t\t\t\t\t\t\t\t{net}\tUSD\t{net}\t2025-08-15 0:00\t{date}\n"
            );
            let e = parse_text(&text).unwrap_err().to_string();
            assert!(e.contains(column), "{e}");
        }
    }

    /// A type other than `sale`, `retailer sale` and `payment` rejects the file, naming the
    /// line and the value (it used to be imported as a sale).
    #[test]
    fn an_unknown_row_type_is_rejected_with_line_and_value() {
        let path = fixture("bad/smashwords_unknown_type.tsv");
        let e = parse_path(&path, "smashwords_unknown_type.tsv")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`smashwords_unknown_type.tsv`, line 9, column `type`"),
            "{e}"
        );
        assert!(e.contains("found `adjustment`"), "{e}");
        let text = format!(
            "{HEADER}\nrefund\tSmashwords.com\t\t1\t\tT\tA\t4.99\t-1\t-4.99\t\t\t0.75\t0\t0.45\t\t-3.79\tUSD\t-3.79\t2025-07-02 9:03\t\n"
        );
        let e = parse_text(&text).unwrap_err().to_string();
        assert!(
            e.contains("line 2, column `type`") && e.contains("`refund`"),
            "{e}"
        );
    }

    #[test]
    fn dates_and_locations() {
        let d = NaiveDate::from_ymd_opt(2025, 6, 14);
        assert_eq!(parse_day("2025-06-14 0:00"), d);
        assert_eq!(parse_day("2025-06-14 14:03"), d);
        assert_eq!(parse_day("2025-06-14"), d);
        assert_eq!(parse_day("2025-06-14 x"), None);
        assert_eq!(parse_day("14/06/2025 0:00"), None);
        assert_eq!(country("country_CA"), "CA");
        assert_eq!(country("country_fr"), "FR");
        assert_eq!(country("_"), "");
        assert_eq!(country(""), "");
        assert_eq!(country("country_XYZ"), "");
    }
}
