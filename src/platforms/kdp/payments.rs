//! The KDP Payments report (FORMATS §2.4): one sheet, `Payments`, of 17 columns read by
//! position (the header `Currency` occurs twice: the royalty currency, then the payout
//! currency). Each payment is a summary row (marketplace, sales period, `Payment Number`, date,
//! accrued royalty, withholding, adjustments, net, FX rate, payout currency and amount, status)
//! followed by detail rows (`Detail` = `YYYY-MM`, `Source` ∈ `Sales`, `Paperback Sales`,
//! `KENP Royalties`, …) with most cells empty. These are payouts, never sales: the report gives
//! no event, only `ParseSummary::payouts` (source `kdp.payments`).
//!
//! Every row is checked: a bad date, amount or currency rejects the whole file naming the
//! sheet, row and column. Detail rows must follow a summary row; their accrued royalty should
//! add up to the summary's (a warning says so when it does not).

use chrono::NaiveDate;

use crate::model::{format_micros, parse_micros, Payout, Platform};
use crate::platforms::{InputError, PlatformError};

/// The 17 columns, in order.
pub(crate) const HEADER: [&str; 17] = [
    "Sales Period - Start Date",
    "Sales Period - End Date",
    "Marketplace",
    "Payment Number",
    "Detail",
    "Date",
    "Payment Method",
    "Currency",
    "Accrued Royalty",
    "Tax Withholding",
    "Adjustments",
    "Net Earnings",
    "Source",
    "FX Rate",
    "Currency",
    "Payout Amount",
    "Payment Status",
];

const START: usize = 0;
const END: usize = 1;
const MARKETPLACE: usize = 2;
const NUMBER: usize = 3;
const DETAIL: usize = 4;
const DATE: usize = 5;
const CURRENCY: usize = 7;
const ACCRUED: usize = 8;
const WITHHOLDING: usize = 9;
const ADJUSTMENTS: usize = 10;
const NET: usize = 11;
const FX: usize = 13;
const PAYOUT_CURRENCY: usize = 14;
const PAYOUT: usize = 15;
const STATUS: usize = 16;

/// More payments than this in one report and the file is refused (a real one holds a few
/// hundred): memory stays bounded for any file.
const MAX_PAYMENTS: usize = 100_000;

/// Whether a header row is the Payments report's (trimmed cells, by position).
pub(crate) fn is_header(cells: &[String]) -> bool {
    cells.len() >= HEADER.len()
        && HEADER
            .iter()
            .zip(cells)
            .all(|(want, got)| got.trim().eq_ignore_ascii_case(want))
        && cells[HEADER.len()..].iter().all(|c| c.trim().is_empty())
}

/// What is wrong with a header that names itself a Payments report but is not its layout.
pub(crate) fn header_problem(cells: &[String]) -> String {
    for (i, want) in HEADER.iter().enumerate() {
        let got = cells.get(i).map_or("", |c| c.trim());
        if !got.eq_ignore_ascii_case(want) {
            return format!(
                "this KDP Payments report does not have the 17 columns of the Payments report: column {} should be `{want}`, found `{got}` (download the Payments report again from KDP Reports → Payments, and import it unchanged)",
                i + 1
            );
        }
    }
    "this KDP Payments report has columns after `Payment Status`: import the Payments report as KDP writes it".to_string()
}

/// A payment being read: its summary row, and the detail rows seen so far.
struct Open {
    payout: Payout,
    detail_rows: u64,
    detail_accrued: i64,
}

/// Reads the rows of a Payments sheet (or of a CSV copy of it) after its header.
pub(crate) struct Reader {
    file: String,
    sheet: Option<String>,
    open: Option<Open>,
    pub payouts: Vec<Payout>,
    pub warnings: Vec<String>,
    pub rows: u64,
}

/// `2025-07-29`, `2025-07-29 00:00:00` or `2025-07-29T00:00:00`: the day.
fn day(text: &str) -> Option<NaiveDate> {
    let t = text.trim();
    let d = t.get(..10)?;
    if t.len() > 10 && !matches!(t.as_bytes()[10], b' ' | b'T') {
        return None;
    }
    NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()
}

/// `USD`, `eur` → upper case; anything but three ASCII letters → `None`.
fn currency(text: &str) -> Option<String> {
    let c = text.trim().to_ascii_uppercase();
    (c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic())).then_some(c)
}

impl Reader {
    pub(crate) fn new(file: &str, sheet: Option<&str>) -> Reader {
        Reader {
            file: file.to_string(),
            sheet: sheet.map(str::to_string),
            open: None,
            payouts: Vec::new(),
            warnings: Vec::new(),
            rows: 0,
        }
    }

    fn reject(&self, line: u64, column: usize, message: String) -> PlatformError {
        PlatformError::Rejected(InputError {
            file: self.file.clone(),
            sheet: self.sheet.clone(),
            line: Some(line),
            column: Some(HEADER[column].to_string()),
            message,
        })
    }

    fn cell(cells: &[String], i: usize) -> &str {
        cells.get(i).map_or("", |c| c.trim())
    }

    fn money(&self, line: u64, cells: &[String], i: usize) -> Result<Option<i64>, PlatformError> {
        let t = Self::cell(cells, i);
        if t.is_empty() {
            return Ok(None);
        }
        parse_micros(t)
            .map(Some)
            .map_err(|e| self.reject(line, i, e.to_string()))
    }

    fn required_money(&self, line: u64, cells: &[String], i: usize) -> Result<i64, PlatformError> {
        self.money(line, cells, i)?.ok_or_else(|| {
            self.reject(
                line,
                i,
                "expected an amount for this payment, found an empty cell".to_string(),
            )
        })
    }

    fn date(&self, line: u64, cells: &[String], i: usize) -> Result<NaiveDate, PlatformError> {
        let t = Self::cell(cells, i);
        day(t).ok_or_else(|| {
            self.reject(
                line,
                i,
                format!("expected a date like 2025-07-29, found `{t}`"),
            )
        })
    }

    fn currency(&self, line: u64, cells: &[String], i: usize) -> Result<String, PlatformError> {
        let t = Self::cell(cells, i);
        currency(t).ok_or_else(|| {
            self.reject(
                line,
                i,
                format!("expected a three-letter currency code such as USD, found `{t}`"),
            )
        })
    }

    /// One row after the header (1-based `line`).
    ///
    /// # Errors
    /// `Rejected` naming the row and column of the first bad cell.
    pub(crate) fn row(&mut self, line: u64, cells: &[String]) -> Result<(), PlatformError> {
        if cells.iter().all(|c| c.trim().is_empty()) {
            return Ok(());
        }
        self.rows += 1;
        if cells
            .iter()
            .skip(HEADER.len())
            .any(|c| !c.trim().is_empty())
        {
            return Err(PlatformError::Rejected(InputError {
                file: self.file.clone(),
                sheet: self.sheet.clone(),
                line: Some(line),
                column: None,
                message: format!(
                    "this row has cells after column {} (`Payment Status`): the Payments report has 17 columns",
                    HEADER.len()
                ),
            }));
        }
        if Self::cell(cells, NUMBER).is_empty() {
            return self.detail(line, cells);
        }
        self.close();
        if self.payouts.len() >= MAX_PAYMENTS {
            return Err(self.reject(
                line,
                NUMBER,
                format!(
                    "more than {MAX_PAYMENTS} payments in one report: split the download by year"
                ),
            ));
        }
        let number = Self::cell(cells, NUMBER);
        let number = number.strip_suffix(".0").unwrap_or(number);
        if !number
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(self.reject(
                line,
                NUMBER,
                format!("expected a payment number such as 341291304, found `{number}`"),
            ));
        }
        let start = self.date(line, cells, START)?;
        let end = self.date(line, cells, END)?;
        if end < start {
            return Err(self.reject(
                line,
                END,
                format!("the sales period ends ({end}) before it starts ({start})"),
            ));
        }
        let marketplace = Self::cell(cells, MARKETPLACE);
        if marketplace.is_empty() {
            return Err(self.reject(
                line,
                MARKETPLACE,
                "expected the marketplace this payment is for (such as Amazon.com), found an empty cell".to_string(),
            ));
        }
        let date = self.date(line, cells, DATE)?;
        let royalty_currency = self.currency(line, cells, CURRENCY)?;
        let accrued = self.required_money(line, cells, ACCRUED)?;
        let withholding = self.money(line, cells, WITHHOLDING)?;
        let adjustments = self.money(line, cells, ADJUSTMENTS)?;
        let net = self.required_money(line, cells, NET)?;
        let fx = Self::cell(cells, FX);
        if !fx.is_empty() && !matches!(parse_decimal(fx), Some(r) if r > 0) {
            return Err(self.reject(
                line,
                FX,
                format!("expected an exchange rate such as 1.3412, found `{fx}`"),
            ));
        }
        let payout_currency = if Self::cell(cells, PAYOUT_CURRENCY).is_empty() {
            royalty_currency.clone()
        } else {
            self.currency(line, cells, PAYOUT_CURRENCY)?
        };
        let amount = self.required_money(line, cells, PAYOUT)?;
        if payout_currency == royalty_currency && amount != net {
            self.warnings.push(format!(
                "`{}`, row {line}: payment {number} pays {} {payout_currency} for a net of {} {royalty_currency} in the same currency",
                self.file,
                format_micros(amount, &payout_currency),
                format_micros(net, &royalty_currency),
            ));
        }
        let status = Self::cell(cells, STATUS);
        if let Some(prior) = self
            .payouts
            .iter()
            .find(|p| p.reference == number && p.currency == payout_currency && p.date == date)
        {
            return Err(self.reject(
                line,
                NUMBER,
                format!(
                    "payment {number} of {date} in {payout_currency} is listed twice (rows {} and {line}): download the Payments report again",
                    prior.line
                ),
            ));
        }
        self.open = Some(Open {
            payout: Payout {
                platform: Platform::AmazonKdp,
                source: "kdp.payments".to_string(),
                reference: number.to_string(),
                date,
                amount_micros: amount,
                currency: payout_currency,
                period: Some((start, end)),
                marketplace: marketplace.to_string(),
                royalty_currency,
                accrued_micros: Some(accrued),
                withholding_micros: withholding,
                adjustments_micros: adjustments,
                net_micros: net,
                fx_rate: (!fx.is_empty()).then(|| fx.to_string()),
                status: if status.is_empty() {
                    "paid".to_string()
                } else {
                    status.to_ascii_lowercase()
                },
                line,
            },
            detail_rows: 0,
            detail_accrued: 0,
        });
        Ok(())
    }

    /// A detail row: one month and source of the open payment.
    fn detail(&mut self, line: u64, cells: &[String]) -> Result<(), PlatformError> {
        if self.open.is_none() {
            return Err(self.reject(
                line,
                NUMBER,
                "a detail row before any payment row (no `Payment Number` above it): the Payments report starts each payment with its summary row".to_string(),
            ));
        }
        let detail = Self::cell(cells, DETAIL);
        let month_ok = detail.len() == 7
            && NaiveDate::parse_from_str(&format!("{detail}-01"), "%Y-%m-%d").is_ok();
        if !month_ok {
            return Err(self.reject(
                line,
                DETAIL,
                format!("expected the month of this detail row such as 2025-07, found `{detail}`"),
            ));
        }
        if !Self::cell(cells, CURRENCY).is_empty() {
            let cur = self.currency(line, cells, CURRENCY)?;
            let open = self
                .open
                .as_ref()
                .map(|o| o.payout.royalty_currency.as_str());
            if open != Some(cur.as_str()) {
                return Err(self.reject(
                    line,
                    CURRENCY,
                    format!(
                        "this detail row is in {cur} but its payment is in {}",
                        open.unwrap_or("")
                    ),
                ));
            }
        }
        let accrued = self.money(line, cells, ACCRUED)?;
        self.money(line, cells, WITHHOLDING)?;
        self.money(line, cells, ADJUSTMENTS)?;
        let net = self.money(line, cells, NET)?;
        if let Some(open) = self.open.as_mut() {
            open.detail_rows += 1;
            open.detail_accrued = open
                .detail_accrued
                .saturating_add(accrued.or(net).unwrap_or(0));
        }
        Ok(())
    }

    /// Finish the open payment.
    fn close(&mut self) {
        if let Some(open) = self.open.take() {
            let p = &open.payout;
            if open.detail_rows > 0 && Some(open.detail_accrued) != p.accrued_micros {
                self.warnings.push(format!(
                    "`{}`, row {}: the detail rows of payment {} add up to {} {}, its `Accrued Royalty` says {}",
                    self.file,
                    p.line,
                    p.reference,
                    format_micros(open.detail_accrued, &p.royalty_currency),
                    p.royalty_currency,
                    format_micros(p.accrued_micros.unwrap_or(0), &p.royalty_currency),
                ));
            }
            self.payouts.push(open.payout);
        }
    }

    /// The payouts read, in file order.
    pub(crate) fn finish(mut self) -> (Vec<Payout>, Vec<String>, u64) {
        self.close();
        if self.payouts.is_empty() {
            self.warnings.push(format!(
                "`{}` has a Payments header but no payments",
                self.file
            ));
        }
        (self.payouts, self.warnings, self.rows)
    }
}

/// A plain decimal (any number of places) as micro-units, for checking a rate; `None` if it
/// is not one.
fn parse_decimal(text: &str) -> Option<i64> {
    let t = text.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let int: i64 = int.parse().ok()?;
    let mut micros = int.checked_mul(1_000_000)?;
    for (i, b) in frac.bytes().take(6).enumerate() {
        micros += i64::from(b - b'0') * 10_i64.pow(5 - i as u32);
    }
    if micros == 0 && frac.bytes().any(|b| b != b'0') {
        micros = 1; // a rate below 0.000001 is still a rate
    }
    Some(micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = cells.iter().map(|s| (*s).to_string()).collect();
        v.resize(17, String::new());
        v
    }

    fn summary_row(number: &str, cur: &str, accrued: &str, net: &str, pay: &str) -> Vec<String> {
        row(&[
            "2025-07-01",
            "2025-07-31",
            "Amazon.de",
            number,
            "",
            "2025-09-29",
            "EFT",
            cur,
            accrued,
            "0",
            "-0.4",
            net,
            "",
            "1.1712",
            "USD",
            pay,
            "Paid",
        ])
    }

    fn detail_row(month: &str, cur: &str, amount: &str) -> Vec<String> {
        row(&[
            "", "", "", "", month, "", "", cur, amount, "0", "", amount, "Sales",
        ])
    }

    #[test]
    fn header_is_read_by_position_with_its_two_currencies() {
        let h: Vec<String> = HEADER.iter().map(|s| format!(" {s} ")).collect();
        assert!(is_header(&h));
        let mut swapped = h.clone();
        swapped.swap(7, 8);
        assert!(!is_header(&swapped));
        assert!(header_problem(&swapped).contains("column 8 should be `Currency`"));
    }

    #[test]
    fn a_payment_and_its_details_make_one_payout() {
        let mut r = Reader::new("p.xlsx", Some("Payments"));
        r.row(
            2,
            &summary_row("341000101", "EUR", "33.13", "32.73", "38.33"),
        )
        .unwrap();
        r.row(3, &detail_row("2025-07", "EUR", "14.81")).unwrap();
        r.row(4, &detail_row("2025-07", "EUR", "18.32")).unwrap();
        r.row(5, &row(&[])).unwrap();
        let (payouts, warnings, rows) = r.finish();
        assert_eq!(rows, 3);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(payouts.len(), 1);
        let p = &payouts[0];
        assert_eq!(p.reference, "341000101");
        assert_eq!(p.amount_micros, 38_330_000);
        assert_eq!(p.currency, "USD");
        assert_eq!(p.royalty_currency, "EUR");
        assert_eq!(p.net_micros, 32_730_000);
        assert_eq!(p.accrued_micros, Some(33_130_000));
        assert_eq!(p.adjustments_micros, Some(-400_000));
        assert_eq!(p.marketplace, "Amazon.de");
        assert_eq!(p.fx_rate.as_deref(), Some("1.1712"));
        assert_eq!(
            p.period,
            Some((
                NaiveDate::from_ymd_opt(2025, 7, 1).unwrap(),
                NaiveDate::from_ymd_opt(2025, 7, 31).unwrap()
            ))
        );
        assert_eq!(p.date, NaiveDate::from_ymd_opt(2025, 9, 29).unwrap());
    }

    #[test]
    fn details_that_do_not_add_up_warn() {
        let mut r = Reader::new("p.xlsx", Some("Payments"));
        r.row(2, &summary_row("1", "EUR", "33.13", "32.73", "38.33"))
            .unwrap();
        r.row(3, &detail_row("2025-07", "EUR", "14.80")).unwrap();
        let (_, warnings, _) = r.finish();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("add up to 14.80 EUR"), "{warnings:?}");
    }

    #[test]
    fn bad_cells_reject_naming_row_and_column() {
        let cases: Vec<(Vec<String>, &str)> = vec![
            (
                summary_row("1", "EUR", "33,13", "32.73", "38.33"),
                "row 2, column `Accrued Royalty`",
            ),
            (
                summary_row("1", "EURO", "33.13", "32.73", "38.33"),
                "row 2, column `Currency`",
            ),
            (
                summary_row("1", "EUR", "33.13", "32.73", ""),
                "row 2, column `Payout Amount`",
            ),
            (
                {
                    let mut r = summary_row("1", "EUR", "33.13", "32.73", "38.33");
                    r[5] = "29/09/2025".into();
                    r
                },
                "row 2, column `Date`",
            ),
            (
                {
                    let mut r = summary_row("1", "EUR", "33.13", "32.73", "38.33");
                    r[13] = "n/a".into();
                    r
                },
                "row 2, column `FX Rate`",
            ),
            (
                detail_row("2025-07", "EUR", "1"),
                "row 2, column `Payment Number`",
            ),
        ];
        for (cells, want) in cases {
            let mut r = Reader::new("p.xlsx", Some("Payments"));
            let e = r.row(2, &cells).unwrap_err().to_string();
            assert!(e.contains(want), "{e} / {want}");
            assert!(e.contains("sheet `Payments`"), "{e}");
        }
        let mut r = Reader::new("p.xlsx", Some("Payments"));
        r.row(2, &summary_row("1", "EUR", "33.13", "32.73", "38.33"))
            .unwrap();
        let e = r
            .row(3, &detail_row("July", "EUR", "1"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("row 3, column `Detail`"), "{e}");
        let e = r
            .row(3, &summary_row("1", "EUR", "33.13", "32.73", "38.33"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("listed twice (rows 2 and 3)"), "{e}");
    }

    #[test]
    fn rates_are_checked_as_decimals() {
        assert_eq!(parse_decimal("1.3412"), Some(1_341_200));
        assert_eq!(parse_decimal("0.0058"), Some(5_800));
        assert_eq!(parse_decimal("0.00000001"), Some(1));
        assert_eq!(parse_decimal("1,2"), None);
        assert_eq!(parse_decimal("-1"), None);
    }
}
