//! Domain types shared by every layer: platforms, exact money, sales events and job inputs.
//!
//! Owns: `Platform`, `Money` parsing/formatting (integer micro-units, never floats), `SaleEvent`,
//! `JobInput`. Must not do I/O, nor know clap, rusqlite or reqwest.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Micro-units per currency unit: money is stored as `i64` millionths, exact for every decimal
/// a platform reports (KDP averages, JPY whole yen, sub-cent FX estimates).
pub const MICROS: i64 = 1_000_000;

/// A platform salesingest imports from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    AmazonKdp,
    Gumroad,
    Smashwords,
    Draft2digital,
    Kobo,
    Streetlib,
    GooglePlay,
    AppleBooks,
    BarnesNoble,
    Ingramspark,
}

impl Platform {
    /// Every platform, in display order.
    pub const ALL: [Platform; 10] = [
        Platform::AmazonKdp,
        Platform::AppleBooks,
        Platform::BarnesNoble,
        Platform::Draft2digital,
        Platform::GooglePlay,
        Platform::Gumroad,
        Platform::Ingramspark,
        Platform::Kobo,
        Platform::Smashwords,
        Platform::Streetlib,
    ];

    /// The canonical name used in the database, JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::AmazonKdp => "amazon_kdp",
            Platform::Gumroad => "gumroad",
            Platform::Smashwords => "smashwords",
            Platform::Draft2digital => "draft2digital",
            Platform::Kobo => "kobo",
            Platform::Streetlib => "streetlib",
            Platform::GooglePlay => "google_play",
            Platform::AppleBooks => "apple_books",
            Platform::BarnesNoble => "barnes_noble",
            Platform::Ingramspark => "ingramspark",
        }
    }

    /// Parse a canonical name or an alias (`kdp`, `d2d`, `kwl`, `google`, `apple`, `bn`, `ingram`),
    /// case-insensitively.
    pub fn parse(s: &str) -> Option<Platform> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "amazon_kdp" | "kdp" | "amazon" => Some(Platform::AmazonKdp),
            "gumroad" => Some(Platform::Gumroad),
            "smashwords" => Some(Platform::Smashwords),
            "draft2digital" | "d2d" => Some(Platform::Draft2digital),
            "kobo" | "kwl" | "kobo_writing_life" => Some(Platform::Kobo),
            "streetlib" | "street_lib" => Some(Platform::Streetlib),
            "google_play" | "google" | "google_play_books" | "play_books" | "gpb" => {
                Some(Platform::GooglePlay)
            }
            "apple_books" | "apple" | "ibooks" => Some(Platform::AppleBooks),
            "barnes_noble" | "bn" | "b&n" | "nook" | "barnes_and_noble" => {
                Some(Platform::BarnesNoble)
            }
            "ingramspark" | "ingram" | "ingram_spark" | "lightning_source" | "lsi" => {
                Some(Platform::Ingramspark)
            }
            _ => None,
        }
    }

    /// True for platforms whose input is a report file (as opposed to an API).
    pub fn is_file_platform(self) -> bool {
        !matches!(self, Platform::Gumroad)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a decimal string was not accepted as money.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("empty value")]
    Empty,
    #[error("`{0}` is not a plain decimal number (expected digits with an optional `-` and `.`, no currency symbols, thousands separators or decimal commas)")]
    NotDecimal(String),
    #[error("`{0}` is too large")]
    Overflow(String),
}

/// Parse an exact decimal string (`-5.26`, `46.51`, `506.0`, `.5`) into micro-units.
///
/// Strict on purpose: `$4.93`, `4,19`, `1 000`, `1e3` are rejected, never guessed. Digits beyond
/// the sixth decimal are rounded half-to-even.
///
/// # Errors
/// `MoneyError` when the text is empty or not a plain decimal.
pub fn parse_micros(text: &str) -> Result<i64, MoneyError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(MoneyError::Empty);
    }
    let (neg, body) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (int_part, frac_part) = match body.split_once('.') {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    let bad = || MoneyError::NotDecimal(s.to_string());
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(bad());
    }
    if !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    if int_part.len() > 12 {
        return Err(MoneyError::Overflow(s.to_string()));
    }
    let mut value: i128 = 0;
    for b in int_part.bytes() {
        value = value * 10 + i128::from(b - b'0');
    }
    let mut frac: i128 = 0;
    for (i, b) in frac_part.bytes().enumerate() {
        if i >= 6 {
            break;
        }
        frac = frac * 10 + i128::from(b - b'0');
    }
    for _ in frac_part.len().min(6)..6 {
        frac *= 10;
    }
    let mut micros = value * i128::from(MICROS) + frac;
    if frac_part.len() > 6 {
        // Round half to even on the remaining digits.
        let rest = &frac_part[6..];
        let first = rest.as_bytes()[0] - b'0';
        let tail_nonzero = rest.bytes().skip(1).any(|b| b != b'0');
        let round_up = first > 5 || (first == 5 && (tail_nonzero || micros % 2 == 1));
        if round_up {
            micros += 1;
        }
    }
    let micros = if neg { -micros } else { micros };
    i64::try_from(micros).map_err(|_| MoneyError::Overflow(s.to_string()))
}

/// Parse a signed whole number (units, pages). Accepts `3`, `-1`, `3.0` (spreadsheets write
/// integers as floats) but not `3.5`.
///
/// # Errors
/// `MoneyError` when the text is empty, not a number or has a fractional part.
pub fn parse_units(text: &str) -> Result<i64, MoneyError> {
    let micros = parse_micros(text)?;
    if micros % MICROS != 0 {
        return Err(MoneyError::NotDecimal(text.trim().to_string()));
    }
    Ok(micros / MICROS)
}

/// Number of minor-unit digits a currency is normally shown with (ISO 4217 exponent).
pub fn currency_exponent(currency: &str) -> u32 {
    match currency {
        "JPY" | "KRW" | "CLP" | "ISK" | "VND" | "HUF" | "TWD" | "UGX" | "PYG" => 0,
        "BHD" | "KWD" | "OMR" | "JOD" | "TND" => 3,
        _ => 2,
    }
}

/// Format micro-units as an exact decimal string: at least the currency's usual decimals,
/// more only when the value has them (so sums are never silently rounded).
pub fn format_micros(micros: i64, currency: &str) -> String {
    let exp = currency_exponent(currency) as usize;
    let neg = micros < 0;
    let abs = i128::from(micros).unsigned_abs();
    let int = abs / MICROS as u128;
    let frac = abs % MICROS as u128;
    let mut frac_s = format!("{frac:06}");
    while frac_s.len() > exp && frac_s.ends_with('0') {
        frac_s.pop();
    }
    let sign = if neg && abs != 0 { "-" } else { "" };
    if frac_s.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac_s}")
    }
}

/// Exact money: micro-units plus an ISO 4217 currency code.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Money {
    pub micros: i64,
    pub currency: String,
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            format_micros(self.micros, &self.currency),
            self.currency
        )
    }
}

/// The product format of a sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Ebook,
    Paperback,
    Hardcover,
    Audiobook,
    Kenp,
    Digital,
    /// Subscription reads paid per title (Kobo Plus): kept apart from sales, zero units.
    Subscription,
}

impl Format {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Ebook => "ebook",
            Format::Paperback => "paperback",
            Format::Hardcover => "hardcover",
            Format::Audiobook => "audiobook",
            Format::Kenp => "kenp",
            Format::Digital => "digital",
            Format::Subscription => "subscription",
        }
    }
}

/// One normalised sales event, as every platform adapter produces it.
///
/// `family` is the replace-by-coverage family (DESIGN §5): a file import replaces the stored
/// events of the same platform and family whose periods lie inside the range the file covers.
/// API platforms leave `family` as their source and set `natural_key` for upserts instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleEvent {
    pub platform: Platform,
    /// Replace-by-coverage family, e.g. `kdp_estimate.ebook`, `kdp_final.kenp`, `d2d_ebook`.
    pub family: String,
    /// Report family and sheet, or API: `d2d.ebook`, `kdp.final.ebook_royalty`, `gumroad.api`.
    pub source: String,
    /// Upsert key for platforms with row ids (Gumroad sale id); `None` for report rows.
    pub natural_key: Option<String>,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub title: String,
    pub product_id: String,
    pub format: Format,
    pub marketplace: String,
    pub retailer: String,
    /// ISO 3166 alpha-2, or empty when unknown.
    pub country: String,
    /// Signed net units; refunds negative. KENP pages are never units.
    pub units: i64,
    pub kenp_pages: i64,
    /// List price in micro-units of `currency`, when the source gives one.
    pub list_price_micros: Option<i64>,
    /// What the author earns, signed, in micro-units of `currency`.
    pub royalty_micros: i64,
    /// ISO 4217, upper case.
    pub currency: String,
    pub is_final: bool,
    /// Platform-specific state (`refunded`, `chargedback`, ...), empty when none.
    pub status: String,
    /// The whole source row. Without `raw_layout`: a JSON object (API records). With it: the
    /// row's cells as a JSON array in the order of the layout's keys (`raw_json` rebuilds the
    /// object).
    pub raw: String,
    /// The header of the table (CSV file or sheet) the row came from, shared by its rows.
    pub raw_layout: Option<Arc<RawLayout>>,
    /// 1-based line (CSV) or row (sheet) number in the source, 0 for API records.
    pub line: u64,
}

/// Money a platform paid out (a KDP payment, a Smashwords `payment` row, the payment a Google
/// Play earnings report states): not a sale, never counted as royalty. Kept in the payouts
/// table, one row per (platform, source, reference, date, currency) (DESIGN §11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payout {
    pub platform: Platform,
    /// The report it comes from: `kdp.payments`, `smashwords.payment`, `google_play.earnings`,
    /// `streetlib.billing`.
    pub source: String,
    /// The platform's reference for the payment (KDP: `Payment Number`; Smashwords: the row's
    /// `id`; a stated payment without one: its date).
    pub reference: String,
    /// When it was paid (Smashwords: `balanceAdjusted`, else `date`; KDP: `Date`).
    pub date: NaiveDate,
    /// What was paid out, in micro-units of `currency` (positive for a payment).
    pub amount_micros: i64,
    /// ISO 4217, upper case: the currency paid in.
    pub currency: String,
    /// The sales periods it pays (first and last day), when the report says.
    pub period: Option<(NaiveDate, NaiveDate)>,
    /// The storefront it pays for (KDP: `Amazon.de`), empty when it pays for all.
    pub marketplace: String,
    /// The currency the royalty was earned in (KDP: the first `Currency`), else `currency`.
    pub royalty_currency: String,
    /// The royalty the platform says accrued over `period`, in `royalty_currency`.
    pub accrued_micros: Option<i64>,
    /// Tax withheld, in `royalty_currency`, as the report writes it.
    pub withholding_micros: Option<i64>,
    /// Adjustments, in `royalty_currency`, as the report writes it.
    pub adjustments_micros: Option<i64>,
    /// What was paid before conversion, in `royalty_currency` (KDP: `Net Earnings`); equal to
    /// `amount_micros` when nothing was converted.
    pub net_micros: i64,
    /// The conversion rate as written (KDP `FX Rate`), when there was one.
    pub fx_rate: Option<String>,
    /// `Paid`, or what the report says (KDP `Payment Status`); `stated` for a payment a sales
    /// report states for its own rows.
    pub status: String,
    /// 1-based line (or sheet row) in the source file.
    pub line: u64,
}

impl Payout {
    /// A payout in one currency, nothing converted, withheld or adjusted.
    pub fn simple(
        platform: Platform,
        source: &str,
        reference: String,
        date: NaiveDate,
        amount_micros: i64,
        currency: String,
        line: u64,
    ) -> Payout {
        Payout {
            platform,
            source: source.to_string(),
            reference,
            date,
            amount_micros,
            royalty_currency: currency.clone(),
            currency,
            period: None,
            marketplace: String::new(),
            accrued_micros: None,
            withholding_micros: None,
            adjustments_micros: None,
            net_micros: amount_micros,
            fx_rate: None,
            status: "paid".to_string(),
            line,
        }
    }
}

/// A period a report file gives figures for in one replace-by-coverage family, stated by the
/// file itself rather than read off its rows: a sheet that is present but has no rows still
/// says "nothing sold in this family over this period" (a Prior Months' Royalties sheet names
/// its month in row 1), and a workbook of month totals says so for every month it covers.
/// The store records it beside the range of the rows (DESIGN §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    pub family: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
    /// The file's figures for this family are whole-calendar-month totals over the range, so
    /// figures of shorter periods (days) of those months from other files are never added to
    /// them (DESIGN §5).
    pub month_totals: bool,
}

/// Whether `start..=end` is exactly one calendar month.
pub fn is_whole_month(start: NaiveDate, end: NaiveDate) -> bool {
    use chrono::Datelike;
    start.day() == 1
        && end.year() == start.year()
        && end.month() == start.month()
        && end.succ_opt().is_none_or(|next| next.day() == 1)
}

/// A date as ISO 8601 text (`YYYY-MM-DD`): the same as `to_string()` for every year a report
/// can carry (0..=9999), without chrono's format-string interpreter (visible in import profiles).
pub fn iso_date(d: NaiveDate) -> String {
    use chrono::Datelike;
    let y = d.year();
    if (0..=9999).contains(&y) {
        format!("{y:04}-{:02}-{:02}", d.month(), d.day())
    } else {
        d.to_string()
    }
}

impl SaleEvent {
    /// The whole source row as a JSON object (header → cell text).
    pub fn raw_json(&self) -> Cow<'_, str> {
        match &self.raw_layout {
            Some(layout) => Cow::Owned(
                raw_object(&layout.keys_json, &self.raw).unwrap_or_else(|_| self.raw.clone()),
            ),
            None => Cow::Borrowed(&self.raw),
        }
    }

    /// The month the event belongs to: the month of its period's end (`YYYY-MM`).
    pub fn month(&self) -> String {
        use chrono::Datelike;
        // The same text as `format("%Y-%m")` for every year a report can carry (0..=9999),
        // without chrono's format-string interpreter (it was visible in import profiles).
        let (y, m) = (self.period_end.year(), self.period_end.month());
        if (0..=9999).contains(&y) {
            format!("{y:04}-{m:02}")
        } else {
            self.period_end.format("%Y-%m").to_string()
        }
    }
}

/// What a job works on. Stored as the job payload (JSON); never holds a secret, nor a path on
/// one host's disk: report files and Ping bodies are kept in the store's blob store by content
/// hash, so any worker of the store can run the job. (Payloads written before version 0.2 also
/// carry a `stored_path`, which is ignored.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobInput {
    /// A report file, kept by content hash at enqueue time.
    File {
        /// The name the user gave (for messages), not read again.
        file: String,
        sha256: String,
        size: u64,
    },
    /// An API sync window. `None` bounds mean incremental from the stored cursor.
    Sync {
        since: Option<NaiveDate>,
        until: Option<NaiveDate>,
    },
    /// One Gumroad Ping body, kept by content hash.
    Ping { file: String, sha256: String },
}

/// The header of a table-shaped source (a CSV file or a sheet), for compact `raw` rows: an
/// event keeps only its cells (a JSON array in the order of `keys_json`) and the store keeps the
/// header once per file. The source row as a JSON object, header → cell text with keys sorted
/// and the last of duplicate header names winning, is rebuilt with `raw_object`. Repeating the
/// header names in every row made `raw` three times the size of the CSV line and a third of a
/// 1,000,000-row import's time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLayout {
    /// The distinct header names, sorted, as a JSON array.
    pub keys_json: String,
    /// For each key, the column its cell is read from (the last of duplicate names).
    pub columns: Vec<usize>,
}

impl RawLayout {
    /// The layout of a header row; with `skip_empty`, unnamed columns are left out.
    pub fn new(headers: &[String], skip_empty: bool) -> RawLayout {
        let mut last: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, h) in headers.iter().enumerate() {
            if !(skip_empty && h.is_empty()) {
                last.insert(h, i);
            }
        }
        let mut keys_json = String::from("[");
        for (n, h) in last.keys().enumerate() {
            if n > 0 {
                keys_json.push(',');
            }
            push_json_str(&mut keys_json, h);
        }
        keys_json.push(']');
        RawLayout {
            keys_json,
            columns: last.into_values().collect(),
        }
    }

    /// One row's cells in key order as a JSON array; `cell(i)` is column `i`'s text.
    pub fn cells_json<'r>(&self, len_hint: usize, cell: impl Fn(usize) -> &'r str) -> String {
        let mut out = String::with_capacity(len_hint + 3 * self.columns.len() + 2);
        out.push('[');
        for (n, &i) in self.columns.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            push_json_str(&mut out, cell(i));
        }
        out.push(']');
        out
    }
}

/// The source row as a JSON object from a layout's keys and a row's cells (both JSON arrays):
/// the same bytes `serde_json` gives for a map of header → cell.
///
/// # Errors
/// When either is not a JSON array of strings (a damaged database).
pub fn raw_object(keys_json: &str, cells_json: &str) -> Result<String, serde_json::Error> {
    RawKeys::parse(keys_json)?.object(cells_json)
}

/// A layout's keys, parsed and escaped once, to rebuild the objects of many rows
/// (`sales export` walks a million of them).
#[derive(Debug, Clone)]
pub struct RawKeys {
    escaped: Vec<String>,
}

impl RawKeys {
    /// Parse a layout's `keys_json`.
    ///
    /// # Errors
    /// When it is not a JSON array of strings.
    pub fn parse(keys_json: &str) -> Result<RawKeys, serde_json::Error> {
        let keys: Vec<String> = serde_json::from_str(keys_json)?;
        let escaped = keys
            .iter()
            .map(|k| {
                let mut e = String::with_capacity(k.len() + 2);
                push_json_str(&mut e, k);
                e
            })
            .collect();
        Ok(RawKeys { escaped })
    }

    /// One row's object (header → cell) from its cells, keys in the layout's (sorted) order.
    ///
    /// # Errors
    /// When `cells_json` is not a JSON array of strings.
    pub fn object(&self, cells_json: &str) -> Result<String, serde_json::Error> {
        let cells: Vec<String> = serde_json::from_str(cells_json)?;
        let keys_len: usize = self.escaped.iter().map(String::len).sum();
        let mut out = String::with_capacity(cells_json.len() + keys_len + 2 * cells.len());
        out.push('{');
        for (n, (key, cell)) in self.escaped.iter().zip(&cells).enumerate() {
            if n > 0 {
                out.push(',');
            }
            out.push_str(key);
            out.push(':');
            push_json_str(&mut out, cell);
        }
        out.push('}');
        Ok(out)
    }
}

/// Append `s` as a JSON string literal, escaped exactly as `serde_json` does.
pub fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_decimals() {
        assert_eq!(parse_micros("46.51"), Ok(46_510_000));
        assert_eq!(parse_micros("-5.26"), Ok(-5_260_000));
        assert_eq!(parse_micros("506.0"), Ok(506_000_000));
        assert_eq!(parse_micros(".5"), Ok(500_000));
        assert_eq!(parse_micros(" 7 "), Ok(7_000_000));
        assert_eq!(parse_micros("0.0000005"), Ok(0));
        assert_eq!(parse_micros("0.0000015"), Ok(2));
        assert_eq!(parse_micros("0.00000051"), Ok(1));
    }

    #[test]
    fn rejects_symbols_and_commas() {
        for bad in [
            "$4.93", "4,19", "1 000", "1e3", "N/A", "-", ".", "US$20.88", "46,51",
        ] {
            assert!(parse_micros(bad).is_err(), "{bad} should be rejected");
        }
        assert_eq!(parse_micros(""), Err(MoneyError::Empty));
    }

    #[test]
    fn units_must_be_whole() {
        assert_eq!(parse_units("3"), Ok(3));
        assert_eq!(parse_units("-1"), Ok(-1));
        assert_eq!(parse_units("3.0"), Ok(3));
        assert!(parse_units("3.5").is_err());
    }

    #[test]
    fn formats_with_currency_exponent() {
        assert_eq!(format_micros(46_510_000, "USD"), "46.51");
        assert_eq!(format_micros(-5_260_000, "EUR"), "-5.26");
        assert_eq!(format_micros(506_000_000, "JPY"), "506");
        assert_eq!(format_micros(0, "USD"), "0.00");
        assert_eq!(format_micros(1_234_567, "USD"), "1.234567");
        assert_eq!(format_micros(-500_000, "USD"), "-0.50");
    }

    /// A layout's cells and keys give back exactly the object a `serde_json` map of header →
    /// cell gives (sorted keys, last duplicate wins, unnamed columns left out when asked).
    #[test]
    fn raw_layout_rebuilds_the_serde_json_object() {
        let headers: Vec<String> = ["b", "", "a \"q\"", "b", "\u{1}ctl"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let cells = ["1", "unnamed", "x\ny", "2", "tab\there"];
        for skip_empty in [false, true] {
            let layout = RawLayout::new(&headers, skip_empty);
            let mut map = serde_json::Map::new();
            for (h, c) in headers.iter().zip(cells) {
                if !(skip_empty && h.is_empty()) {
                    map.insert(h.clone(), serde_json::Value::String(c.to_string()));
                }
            }
            let row = layout.cells_json(0, |i| cells[i]);
            assert_eq!(
                raw_object(&layout.keys_json, &row).unwrap(),
                serde_json::Value::Object(map).to_string()
            );
        }
        assert!(raw_object("[\"a\"]", "not json").is_err());
    }

    #[test]
    fn iso_date_is_to_string() {
        for d in [
            NaiveDate::from_ymd_opt(2025, 1, 9).unwrap(),
            NaiveDate::from_ymd_opt(999, 12, 31).unwrap(),
            NaiveDate::from_ymd_opt(10_000, 2, 29).unwrap(),
            NaiveDate::from_ymd_opt(-5, 3, 1).unwrap(),
        ] {
            assert_eq!(iso_date(d), d.to_string());
        }
    }

    #[test]
    fn platform_aliases() {
        assert_eq!(Platform::parse("d2d"), Some(Platform::Draft2digital));
        assert_eq!(Platform::parse("KDP"), Some(Platform::AmazonKdp));
        assert_eq!(Platform::parse("amazon_kdp"), Some(Platform::AmazonKdp));
        assert_eq!(Platform::parse("kobo"), Some(Platform::Kobo));
        assert_eq!(Platform::parse("KWL"), Some(Platform::Kobo));
        assert_eq!(Platform::parse("google-play"), Some(Platform::GooglePlay));
        assert_eq!(Platform::parse("google"), Some(Platform::GooglePlay));
        assert_eq!(Platform::parse("StreetLib"), Some(Platform::Streetlib));
        assert_eq!(Platform::parse("apple"), Some(Platform::AppleBooks));
        assert_eq!(Platform::parse("BN"), Some(Platform::BarnesNoble));
        assert_eq!(Platform::parse("ingram"), Some(Platform::Ingramspark));
        assert_eq!(
            Platform::parse("Lightning-Source"),
            Some(Platform::Ingramspark)
        );
        for p in Platform::ALL {
            assert_eq!(Platform::parse(p.as_str()), Some(p));
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{p}\""));
        }
        assert_eq!(Platform::parse("payhip"), None);
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal::prelude::ToPrimitive;
    use rust_decimal::{Decimal, RoundingStrategy};
    use std::str::FromStr;

    /// A plain decimal: optional sign, 1–12 integer digits, optional fraction of 0–12 digits.
    fn decimal() -> impl Strategy<Value = String> {
        (
            prop_oneof![Just(""), Just("-"), Just("+")],
            "[0-9]{1,12}",
            proptest::option::of("[0-9]{0,12}"),
        )
            .prop_map(|(sign, int, frac)| match frac {
                Some(f) => format!("{sign}{int}.{f}"),
                None => format!("{sign}{int}"),
            })
    }

    /// What the decimal means, rounded half-to-even at 6 places, in micro-units (rust_decimal).
    fn reference_micros(s: &str) -> i64 {
        let d = Decimal::from_str(s.trim_start_matches('+')).unwrap();
        let r = d.round_dp_with_strategy(6, RoundingStrategy::MidpointNearestEven);
        (r * Decimal::from(MICROS)).to_i64().unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn parse_matches_rust_decimal_half_even(s in decimal()) {
            prop_assert_eq!(parse_micros(&s), Ok(reference_micros(&s)), "{}", s);
        }

        #[test]
        fn format_then_parse_round_trips(micros in -999_999_999_999_999_999i64..=999_999_999_999_999_999i64,
                                         cur in prop_oneof![Just("USD"), Just("JPY"), Just("KWD")]) {
            let text = format_micros(micros, cur);
            prop_assert_eq!(parse_micros(&text), Ok(micros), "{}", text);
        }

        #[test]
        fn parse_then_format_is_exact(s in decimal()) {
            let micros = parse_micros(&s).unwrap();
            let text = format_micros(micros, "USD");
            // The formatted text is the same number (to 6 places), never rounded further.
            prop_assert_eq!(Decimal::from_str(&text).unwrap() * Decimal::from(MICROS), Decimal::from(micros));
        }

        #[test]
        fn symbols_and_separators_are_rejected(s in decimal(), pos in any::<prop::sample::Index>(),
                                              junk in prop_oneof![Just("$"), Just(","), Just("€"), Just("£"),
                                                                  Just(" "), Just("e"), Just("US$"), Just("'"),
                                                                  Just("\u{a0}"), Just("_")]) {
            // Inside the number (leading/trailing spaces are trimmed, so not at the ends for " ").
            let chars: Vec<char> = s.chars().collect();
            let at = 1 + pos.index(chars.len().max(1));
            let at = at.min(chars.len());
            let mut bad: String = chars[..at].iter().collect();
            bad.push_str(junk);
            bad.extend(&chars[at..]);
            if junk.trim().is_empty() && (at == chars.len()) {
                bad.push('1');
            }
            prop_assert!(parse_micros(&bad).is_err(), "{:?} was accepted", bad);
            let prefixed = format!("{junk}{s}");
            if !junk.trim().is_empty() {
                prop_assert!(parse_micros(&prefixed).is_err(), "{:?} was accepted", prefixed);
            }
        }
    }
}
