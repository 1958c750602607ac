//! Printing for `sales summary|export|chart`: summary views and tables, the streaming export
//! writer (CSV, JSON, NDJSON), the terminal bar chart and the SVG chart.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;

use anyhow::Result;
use serde::Serialize;

use super::{new_table, num_cell, Printer};
use crate::model::{format_micros, Platform};
use crate::report::{bar_cells, MonthTotals};

/// The terminal's width in columns (`output_width`), or 80 when there is none.
pub fn terminal_width() -> usize {
    super::output_width().unwrap_or(80)
}

/// An amount for people to read: rounded half to even to the currency's minor unit
/// (`model::currency_exponent`), so a converted `220.108288` EUR reads `220.11`. JSON and
/// exports keep the exact micro-units.
pub fn display_micros(micros: i64, currency: &str) -> String {
    let exp = crate::model::currency_exponent(currency);
    if exp >= 6 {
        return format_micros(micros, currency);
    }
    let unit = 10i64.pow(6 - exp);
    let (q, r) = (micros.div_euclid(unit), micros.rem_euclid(unit));
    let q = if 2 * r > unit || (2 * r == unit && q % 2 != 0) {
        q + 1
    } else {
        q
    };
    format_micros(q.saturating_mul(unit), currency)
}

/// `display_micros` of an amount already formatted exactly (a view's decimal string).
fn display_amount(text: &str, currency: &str) -> String {
    crate::model::parse_micros(text)
        .map_or_else(|_| text.to_string(), |m| display_micros(m, currency))
}

// ----- summary -----

/// One source currency and rate behind a converted summary row.
#[derive(Debug, Serialize, Clone)]
pub struct RateView {
    /// The source currency.
    pub currency: String,
    /// Units of `currency` per one unit of the target currency (`"1"` for the target itself).
    pub rate: String,
    /// The date of the rates-file line used (null for the target currency itself).
    pub rate_date: Option<String>,
    pub events: i64,
    /// The royalty in the source currency.
    pub royalty: String,
    /// The same royalty in the target currency.
    pub converted: String,
}

/// One row of `sales summary --json`.
#[derive(Debug, Serialize, Clone)]
pub struct SummaryRowView {
    /// The requested keys (`month`, `platform`, `title`, ...), except `currency`.
    #[serde(flatten)]
    pub keys: BTreeMap<String, String>,
    /// The currency of `royalty` (the `--in` currency when converting).
    pub currency: String,
    /// With `--in` and `--by ...,currency`: the currency the events were reported in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_currency: Option<String>,
    pub units: i64,
    pub kenp_pages: i64,
    pub royalty: String,
    pub events: i64,
    /// True when every event in the row is final.
    pub is_final: bool,
    /// With `--in`: each source currency and rate date that went into the row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rates: Option<Vec<RateView>>,
}

/// A totals line of the human summary (one per currency).
#[derive(Debug, Clone)]
pub struct SummaryTotal {
    pub currency: String,
    pub units: i64,
    pub kenp_pages: i64,
    pub royalty: String,
    pub events: i64,
}

impl Printer {
    /// Print a summary: JSON array, or a table (keys in `key_names` order) with a totals row
    /// per currency.
    pub fn summary(&self, key_names: &[&str], rows: &[SummaryRowView], totals: &[SummaryTotal]) {
        if self.json {
            self.json(rows);
            return;
        }
        if rows.is_empty() {
            self.line("no sales match (see `salesingest status` for what was imported)");
            return;
        }
        let converting = rows.iter().any(|r| r.rates.is_some());
        let by_source = rows.iter().any(|r| r.source_currency.is_some());
        // `currency` has its own column after the keys (the source currency when converting).
        let key_names: Vec<&str> = key_names
            .iter()
            .copied()
            .filter(|k| *k != "currency")
            .collect();
        let mut headers: Vec<&str> = key_names.clone();
        if by_source {
            headers.push("from");
        }
        headers.extend([
            "currency",
            "units",
            "kenp pages",
            "royalty",
            "events",
            "final",
        ]);
        if converting {
            headers.push("converted from");
        }
        let mut t = new_table(&headers);
        for r in rows {
            let mut cells: Vec<comfy_table::Cell> = key_names
                .iter()
                .map(|k| comfy_table::Cell::new(r.keys.get(*k).cloned().unwrap_or_default()))
                .collect();
            if by_source {
                cells.push(comfy_table::Cell::new(
                    r.source_currency.clone().unwrap_or_default(),
                ));
            }
            // Converted amounts carry the conversion's 0.000001: shown to the minor unit.
            let royalty = if r.rates.is_some() {
                display_amount(&r.royalty, &r.currency)
            } else {
                r.royalty.clone()
            };
            cells.extend([
                comfy_table::Cell::new(&r.currency),
                num_cell(r.units),
                num_cell(r.kenp_pages),
                num_cell(royalty),
                num_cell(r.events),
                comfy_table::Cell::new(if r.is_final { "yes" } else { "no" }),
            ]);
            if let Some(rates) = &r.rates {
                let text = rates
                    .iter()
                    .map(|u| match &u.rate_date {
                        Some(d) => format!("{} {} @ {} ({d})", u.royalty, u.currency, u.rate),
                        None => format!("{} {}", u.royalty, u.currency),
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                cells.push(comfy_table::Cell::new(text));
            }
            t.add_row(cells);
        }
        // Rows grouped by currency alone are already the totals.
        let totals = if key_names.is_empty() && !by_source {
            &[][..]
        } else {
            totals
        };
        for tot in totals {
            let mut cells: Vec<comfy_table::Cell> = key_names
                .iter()
                .enumerate()
                .map(|(i, _)| comfy_table::Cell::new(if i == 0 { "TOTAL" } else { "" }))
                .collect();
            if by_source {
                cells.push(comfy_table::Cell::new(""));
            }
            let currency = if key_names.is_empty() && !by_source {
                format!("TOTAL {}", tot.currency)
            } else {
                tot.currency.clone()
            };
            let royalty = if converting {
                display_amount(&tot.royalty, &tot.currency)
            } else {
                tot.royalty.clone()
            };
            cells.extend([
                comfy_table::Cell::new(currency),
                num_cell(tot.units),
                num_cell(tot.kenp_pages),
                num_cell(royalty),
                num_cell(tot.events),
                comfy_table::Cell::new(""),
            ]);
            if converting {
                cells.push(comfy_table::Cell::new(""));
            }
            t.add_row(cells);
        }
        // Keys wrap (titles are long), amounts and counts never split; narrow terminals lose
        // the KENP pages, the event counts and the finality first.
        let mut fits: Vec<super::Fit> = headers.iter().map(|_| super::Fit::Whole).collect();
        for f in fits.iter_mut().take(key_names.len()) {
            *f = super::Fit::Wrap(12);
        }
        let first_num = key_names.len() + usize::from(by_source) + 1;
        if converting {
            if let Some(last) = fits.last_mut() {
                *last = super::Fit::Wrap(16);
            }
        }
        self.fitted_table(t, &fits, &[first_num + 1, first_num + 3, first_num + 4]);
        if converting {
            self.line(
                "Converted amounts are rounded half to even to the currency's minor unit here; \
                 --json gives them to 0.000001.",
            );
        }
    }
}

// ----- export -----

/// The export file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Json,
    Ndjson,
}

/// One exported event (borrowed; serialised as it is written).
#[derive(Debug, Serialize)]
pub struct ExportRecord<'a> {
    pub platform: &'a str,
    pub source: &'a str,
    pub period_start: &'a str,
    pub period_end: &'a str,
    pub month: &'a str,
    pub title: &'a str,
    pub product_id: &'a str,
    pub format: &'a str,
    pub marketplace: &'a str,
    pub retailer: &'a str,
    pub country: &'a str,
    pub units: i64,
    pub kenp_pages: i64,
    pub list_price: Option<String>,
    pub royalty: String,
    pub currency: &'a str,
    pub is_final: bool,
    pub status: &'a str,
    pub job_id: Option<i64>,
    /// The source row as JSON text.
    pub raw: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub converted_royalty: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub converted_currency: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<String>,
    /// The rates-file date used; empty (null) for events already in the target currency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_date: Option<Option<String>>,
}

const EXPORT_COLUMNS: [&str; 20] = [
    "platform",
    "source",
    "period_start",
    "period_end",
    "month",
    "title",
    "product_id",
    "format",
    "marketplace",
    "retailer",
    "country",
    "units",
    "kenp_pages",
    "list_price",
    "royalty",
    "currency",
    "is_final",
    "status",
    "job_id",
    "raw",
];
const CONVERSION_COLUMNS: [&str; 4] = [
    "converted_royalty",
    "converted_currency",
    "rate",
    "rate_date",
];

/// A CSV error as its I/O error when it is one, so that a closed pipe (`| head`) is recognised
/// as such and ends the program quietly.
fn csv_error(e: csv::Error) -> anyhow::Error {
    if e.is_io_error() {
        match e.into_kind() {
            csv::ErrorKind::Io(io) => anyhow::Error::new(io),
            other => anyhow::anyhow!("{other:?}"),
        }
    } else {
        anyhow::Error::new(e)
    }
}

enum Sink {
    Csv(Box<csv::Writer<Box<dyn Write>>>),
    Json(std::io::BufWriter<Box<dyn Write>>),
}

/// Writes exported events one at a time (constant memory).
pub struct ExportWriter {
    sink: Sink,
    format: ExportFormat,
    rows: u64,
}

impl ExportWriter {
    /// A writer to stdout.
    ///
    /// # Errors
    /// I/O errors writing the CSV header.
    pub fn stdout(format: ExportFormat, converting: bool) -> Result<ExportWriter> {
        ExportWriter::new(Box::new(std::io::stdout()), format, converting)
    }

    /// A writer to `out` (a file the caller created).
    ///
    /// # Errors
    /// I/O errors writing the CSV header.
    pub fn new(
        out: Box<dyn Write>,
        format: ExportFormat,
        converting: bool,
    ) -> Result<ExportWriter> {
        let sink = if format == ExportFormat::Csv {
            // RFC 4180: CRLF line ends, fields quoted only when they need it, quotes doubled.
            let mut w = csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(out);
            let mut header: Vec<&str> = EXPORT_COLUMNS.to_vec();
            if converting {
                header.extend(CONVERSION_COLUMNS);
            }
            w.write_record(&header).map_err(csv_error)?;
            Sink::Csv(Box::new(w))
        } else {
            let mut w = std::io::BufWriter::with_capacity(64 * 1024, out);
            if format == ExportFormat::Json {
                w.write_all(b"[")?;
            }
            Sink::Json(w)
        };
        Ok(ExportWriter {
            sink,
            format,
            rows: 0,
        })
    }

    /// Write one event.
    ///
    /// # Errors
    /// I/O errors (a closed pipe included).
    pub fn write(&mut self, r: &ExportRecord<'_>) -> Result<()> {
        match &mut self.sink {
            Sink::Csv(w) => {
                let units = r.units.to_string();
                let kenp = r.kenp_pages.to_string();
                let job = r.job_id.map(|j| j.to_string()).unwrap_or_default();
                let mut rec: Vec<Cow<'_, str>> = vec![
                    r.platform.into(),
                    r.source.into(),
                    r.period_start.into(),
                    r.period_end.into(),
                    r.month.into(),
                    r.title.into(),
                    r.product_id.into(),
                    r.format.into(),
                    r.marketplace.into(),
                    r.retailer.into(),
                    r.country.into(),
                    units.as_str().into(),
                    kenp.as_str().into(),
                    r.list_price.as_deref().unwrap_or("").into(),
                    r.royalty.as_str().into(),
                    r.currency.into(),
                    (if r.is_final { "true" } else { "false" }).into(),
                    r.status.into(),
                    job.as_str().into(),
                    r.raw.into(),
                ];
                if let Some(c) = &r.converted_royalty {
                    rec.push(c.as_str().into());
                    rec.push(r.converted_currency.unwrap_or("").into());
                    rec.push(r.rate.as_deref().unwrap_or("").into());
                    rec.push(r.rate_date.clone().flatten().unwrap_or_default().into());
                }
                w.write_record(rec.iter().map(|c| c.as_bytes()))
                    .map_err(csv_error)?;
            }
            Sink::Json(w) => {
                if self.format == ExportFormat::Json {
                    w.write_all(if self.rows == 0 { b"\n" } else { b",\n" })?;
                }
                serde_json::to_writer(&mut *w, r).map_err(std::io::Error::from)?;
                if self.format == ExportFormat::Ndjson {
                    w.write_all(b"\n")?;
                }
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Close the array (JSON) and flush.
    ///
    /// # Errors
    /// I/O errors.
    pub fn finish(self) -> Result<u64> {
        match self.sink {
            Sink::Csv(mut w) => w.flush()?,
            Sink::Json(mut w) => {
                if self.format == ExportFormat::Json {
                    w.write_all(if self.rows == 0 { b"]\n" } else { b"\n]\n" })?;
                }
                w.flush()?;
            }
        }
        Ok(self.rows)
    }
}

// ----- charts -----

/// A chart of royalty per month, stacked by platform, in one currency.
#[derive(Debug, Clone)]
pub struct ChartView {
    pub currency: String,
    /// Platforms in stacking order (canonical names).
    pub platforms: Vec<String>,
    /// Every month from the first to the last, gaps included.
    pub months: Vec<MonthTotals>,
    /// A line saying how amounts were converted, when they were.
    pub note: Option<String>,
}

/// Fill character, ANSI colour and SVG colour of a platform (fixed per platform, so charts are
/// comparable). The SVG colours are the Okabe–Ito palette (colour-blind safe).
fn platform_style(name: &str) -> (char, &'static str, &'static str) {
    match Platform::parse(name) {
        Some(Platform::AmazonKdp) => ('█', "33", "#E69F00"),
        Some(Platform::Draft2digital) => ('▓', "36", "#0072B2"),
        Some(Platform::Gumroad) => ('▒', "35", "#CC79A7"),
        Some(Platform::Smashwords) => ('░', "32", "#009E73"),
        Some(Platform::Kobo) => ('▚', "31", "#D55E00"),
        Some(Platform::GooglePlay) => ('▞', "34", "#56B4E9"),
        Some(Platform::Streetlib) => ('▖', "93", "#F0E442"),
        // Past the Okabe–Ito colours used above: three of Paul Tol's muted scheme (also colour-blind
        // safe), on bright ANSI colours not used above.
        Some(Platform::AppleBooks) => ('▗', "96", "#44AA99"),
        Some(Platform::BarnesNoble) => ('▘', "95", "#882255"),
        Some(Platform::Ingramspark) => ('▝', "91", "#999933"),
        None => ('#', "37", "#999999"),
    }
}

/// The chart colour of a platform (the SVG chart's; the dashboard's platform cards match it).
pub fn platform_color(name: &str) -> &'static str {
    platform_style(name).2
}

/// The terminal chart: one line per month with a bar `width` columns wide in all, then a legend.
/// Platforms differ by fill character (and by colour when `color`), so it reads without colour.
pub fn render_chart(chart: &ChartView, width: usize, color: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Royalty per month in {}, stacked by platform",
        chart.currency
    );
    if let Some(n) = &chart.note {
        let _ = writeln!(out, "{n}");
    }
    let amounts: Vec<String> = chart
        .months
        .iter()
        .map(|m| display_micros(m.total(), &chart.currency))
        .collect();
    let amount_w = amounts.iter().map(String::len).max().unwrap_or(1);
    let label_w = chart
        .months
        .iter()
        .map(|m| m.month.len())
        .max()
        .unwrap_or(7);
    // label, " |", bar, "| ", amount
    let bar_w = width.saturating_sub(label_w + 4 + amount_w).max(10);
    let max = chart
        .months
        .iter()
        .map(|m| m.by_platform.iter().map(|v| (*v).max(0)).sum::<i64>())
        .max()
        .unwrap_or(0);
    for (m, amount) in chart.months.iter().zip(&amounts) {
        let cells = bar_cells(&m.by_platform, max, bar_w);
        let mut bar = String::new();
        let mut drawn = 0;
        for (p, n) in chart.platforms.iter().zip(&cells) {
            if *n == 0 {
                continue;
            }
            let (ch, sgr, _) = platform_style(p);
            let seg: String = std::iter::repeat_n(ch, *n).collect();
            if color {
                let _ = write!(bar, "\x1b[{sgr}m{seg}\x1b[0m");
            } else {
                bar.push_str(&seg);
            }
            drawn += n;
        }
        bar.extend(std::iter::repeat_n(' ', bar_w.saturating_sub(drawn)));
        let _ = writeln!(out, "{:<label_w$} |{bar}| {amount:>amount_w$}", m.month);
    }
    let legend = chart
        .platforms
        .iter()
        .map(|p| {
            let (ch, sgr, _) = platform_style(p);
            if color {
                format!("\x1b[{sgr}m{ch}{ch}\x1b[0m {p}")
            } else {
                format!("{ch}{ch} {p}")
            }
        })
        .collect::<Vec<_>>()
        .join("  ");
    let _ = writeln!(out, "{:<label_w$}  {legend}", "");
    if chart
        .months
        .iter()
        .any(|m| m.by_platform.iter().any(|v| *v < 0))
    {
        let _ = writeln!(
            out,
            "{:<label_w$}  negative amounts (refunds) are not drawn; the number is the month's net",
            ""
        );
    }
    out
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A "nice" tick step (1, 2 or 5 × 10^k micro-units) for a range of `span` micro-units.
fn nice_step(span: i64) -> i64 {
    let raw = (span / 5).max(1);
    let mut p = 1i64;
    while p.saturating_mul(10) <= raw {
        p *= 10;
    }
    for m in [1, 2, 5, 10] {
        if p.saturating_mul(m) >= raw {
            return p.saturating_mul(m);
        }
    }
    p.saturating_mul(10)
}

/// The chart as a standalone SVG document: stacked columns per month (refunds below the zero
/// line), a labelled y axis, month labels and a legend.
pub fn chart_svg(chart: &ChartView) -> String {
    let n = chart.months.len().max(1);
    let min_pitch = if n > 36 { 14.0 } else { 36.0 };
    let (left, right, top, bottom) = (90.0, 170.0, 50.0, 100.0);
    let plot_w = (n as f64 * min_pitch).max(480.0);
    let pitch = plot_w / n as f64;
    let plot_h = 320.0;
    let w = left + plot_w + right;
    let h = top + plot_h + bottom;
    let pos = |m: &MonthTotals| m.by_platform.iter().map(|v| (*v).max(0)).sum::<i64>();
    let neg = |m: &MonthTotals| m.by_platform.iter().map(|v| (*v).min(0)).sum::<i64>();
    let hi = chart.months.iter().map(pos).max().unwrap_or(0).max(1);
    let lo = chart.months.iter().map(neg).min().unwrap_or(0).min(0);
    let step = nice_step(hi - lo);
    let hi = (hi + step - 1) / step * step;
    let lo = -((-lo + step - 1) / step * step);
    let span = (hi - lo) as f64;
    let y = |v: i64| top + plot_h * ((hi - v) as f64 / span);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="{left}" y="28" font-size="16" font-weight="bold">Royalty per month in {cur}, stacked by platform</text>"##,
        cur = xml_escape(&chart.currency)
    );
    if let Some(note) = &chart.note {
        let _ = writeln!(
            s,
            r##"<text x="{left}" y="{ny}" font-size="11" fill="#555555">{}</text>"##,
            xml_escape(note),
            ny = h - 12.0,
        );
    }
    // Grid and y ticks.
    let mut v = lo;
    while v <= hi {
        let yy = y(v);
        let _ = writeln!(
            s,
            r##"<line x1="{left}" y1="{yy:.1}" x2="{x2:.1}" y2="{yy:.1}" stroke="{c}" stroke-width="1"/>
<text x="{tx}" y="{ty:.1}" text-anchor="end">{label}</text>"##,
            x2 = left + plot_w,
            c = if v == 0 { "#333333" } else { "#dddddd" },
            tx = left - 6.0,
            ty = yy + 4.0,
            label = xml_escape(&display_micros(v, &chart.currency)),
        );
        v += step;
    }
    let bar_w = (pitch * 0.7).min(60.0);
    let label_every = n.div_ceil(36).max(1);
    for (i, m) in chart.months.iter().enumerate() {
        let x = left + i as f64 * pitch + (pitch - bar_w) / 2.0;
        let (mut up, mut down) = (0i64, 0i64);
        for (p, v) in chart.platforms.iter().zip(&m.by_platform) {
            let (_, _, fill) = platform_style(p);
            let (from, to) = if *v >= 0 {
                up += v;
                (up - v, up)
            } else {
                down += v;
                (down - v, down)
            };
            if from == to {
                continue;
            }
            let (y1, y2) = (y(from.max(to)), y(from.min(to)));
            let _ = writeln!(
                s,
                r#"<rect x="{x:.1}" y="{y1:.1}" width="{bar_w:.1}" height="{hh:.1}" fill="{fill}"><title>{month} {p}: {amt} {cur}</title></rect>"#,
                hh = (y2 - y1).max(0.5),
                month = xml_escape(&m.month),
                p = xml_escape(p),
                amt = display_micros(*v, &chart.currency),
                cur = xml_escape(&chart.currency),
            );
        }
        if i % label_every == 0 {
            let lx = left + i as f64 * pitch + pitch / 2.0;
            let ly = top + plot_h + 14.0;
            let _ = writeln!(
                s,
                r#"<text x="{lx:.1}" y="{ly:.1}" text-anchor="end" transform="rotate(-45 {lx:.1} {ly:.1})">{}</text>"#,
                xml_escape(&m.month)
            );
        }
    }
    let lx = left + plot_w + 20.0;
    for (i, p) in chart.platforms.iter().enumerate() {
        let (_, _, fill) = platform_style(p);
        let ly = top + 10.0 + i as f64 * 22.0;
        let _ = writeln!(
            s,
            r#"<rect x="{lx:.1}" y="{ly:.1}" width="14" height="14" fill="{fill}"/>
<text x="{tx:.1}" y="{ty:.1}">{}</text>"#,
            xml_escape(p),
            tx = lx + 20.0,
            ty = ly + 11.0,
        );
    }
    s.push_str("</svg>\n");
    s
}

/// One month of `sales chart --json`.
#[derive(Debug, Serialize)]
struct ChartMonthView {
    month: String,
    royalty: String,
    /// Platform → royalty (decimal string).
    platforms: BTreeMap<String, String>,
}

/// `sales chart --json`.
#[derive(Debug, Serialize)]
struct ChartJsonView {
    currency: String,
    platforms: Vec<String>,
    note: Option<String>,
    months: Vec<ChartMonthView>,
}

impl Printer {
    /// Print a rendered chart (respecting `--quiet`).
    pub fn chart(&self, text: &str) {
        if !self.quiet {
            crate::output::stdout_write(text);
        }
    }

    /// Print the chart's numbers as one JSON object.
    pub fn chart_json(&self, chart: &ChartView) {
        let view = ChartJsonView {
            currency: chart.currency.clone(),
            platforms: chart.platforms.clone(),
            note: chart.note.clone(),
            months: chart
                .months
                .iter()
                .map(|m| ChartMonthView {
                    month: m.month.clone(),
                    royalty: format_micros(m.total(), &chart.currency),
                    platforms: chart
                        .platforms
                        .iter()
                        .zip(&m.by_platform)
                        .map(|(p, v)| (p.clone(), format_micros(*v, &chart.currency)))
                        .collect(),
                })
                .collect(),
        };
        self.json(&view);
    }
}

/// Create an output file for an export (`create_output_file`'s rule: an existing file only
/// with `force`).
///
/// # Errors
/// The refusal, or I/O errors, naming the file.
pub fn create_output(path: &std::path::Path, force: bool) -> Result<Box<dyn Write>> {
    Ok(Box::new(super::create_output_file(path, force)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart() -> ChartView {
        ChartView {
            currency: "AUD".into(),
            platforms: vec!["amazon_kdp".into(), "smashwords".into()],
            months: vec![
                MonthTotals {
                    month: "2025-06".into(),
                    by_platform: vec![9_860_000, -2_540_000],
                },
                MonthTotals {
                    month: "2025-07".into(),
                    by_platform: vec![0, 4_930_000],
                },
            ],
            note: None,
        }
    }

    #[test]
    fn terminal_chart_without_and_with_colour() {
        let plain = render_chart(&chart(), 40, false);
        assert!(!plain.contains('\x1b'));
        let lines: Vec<&str> = plain.lines().collect();
        // 40 - "2025-06 |" - "| 7.32" = 25 cells; July: 4.93 / 9.86 of them.
        assert_eq!(lines[1], "2025-06 |█████████████████████████| 7.32");
        assert_eq!(lines[2], "2025-07 |░░░░░░░░░░░░░            | 4.93");
        assert!(lines[3].contains("██ amazon_kdp  ░░ smashwords"));
        assert!(lines[4].contains("negative amounts (refunds) are not drawn"));
        let coloured = render_chart(&chart(), 40, true);
        assert!(coloured.contains("\x1b[33m█"));
        assert!(coloured.contains("\x1b[32m░"));
    }

    #[test]
    fn svg_draws_refunds_below_zero() {
        let svg = chart_svg(&chart());
        assert!(svg.starts_with("<?xml"));
        assert!(svg.contains(">-5.00<"), "a tick below zero");
        assert!(svg.contains("2025-06 smashwords: -2.54 AUD"));
        assert!(svg.trim_end().ends_with("</svg>"));
    }

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(100_000_000), 20_000_000);
        assert_eq!(nice_step(7_000_000), 2_000_000);
        assert_eq!(nice_step(3), 1);
    }

    #[test]
    fn csv_export_quotes_per_rfc4180() {
        let buf: Vec<u8> = Vec::new();
        let shared = std::rc::Rc::new(std::cell::RefCell::new(buf));
        struct W(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);
        impl Write for W {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.borrow_mut().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut w =
            ExportWriter::new(Box::new(W(shared.clone())), ExportFormat::Csv, false).unwrap();
        w.write(&ExportRecord {
            platform: "smashwords",
            source: "s",
            period_start: "2025-07-01",
            period_end: "2025-07-01",
            month: "2025-07",
            title: "Say \"hi\", world",
            product_id: "x",
            format: "ebook",
            marketplace: "",
            retailer: "",
            country: "",
            units: 1,
            kenp_pages: 0,
            list_price: None,
            royalty: "1.50".into(),
            currency: "USD",
            is_final: true,
            status: "",
            job_id: Some(3),
            raw: "{\"a\":\"b\"}",
            converted_royalty: None,
            converted_currency: None,
            rate: None,
            rate_date: None,
        })
        .unwrap();
        assert_eq!(w.finish().unwrap(), 1);
        let text = String::from_utf8(shared.borrow().clone()).unwrap();
        let mut lines = text.split("\r\n");
        assert!(lines
            .next()
            .unwrap()
            .starts_with("platform,source,period_start"));
        assert_eq!(
            lines.next().unwrap(),
            r#"smashwords,s,2025-07-01,2025-07-01,2025-07,"Say ""hi"", world",x,ebook,,,,1,0,,1.50,USD,true,,3,"{""a"":""b""}""#
        );
    }
}
