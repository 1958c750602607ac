//! `salesingest sales summary|export|chart`: what did I earn, per book, per platform, per month.

use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::{Datelike, NaiveDate};
use clap::{Subcommand, ValueEnum};

use super::Ctx;
use crate::model::{format_micros, Platform};
use crate::output::{self, chart_svg, render_chart, ExportFormat, ExportWriter};
use crate::report::{self, Rates};
use crate::report_views::{chart_view, load_rates_file, rate_of, summary_view};
use crate::store::{Dim, ReportFilter, Store};

const SALES_HELP: &str = "\
Reports read the effective sales: imports still staging are invisible, and for a month with a
final KDP report (Prior Months' Royalties) the KDP estimates of that month are replaced by the
final figures, never added to them. Amounts of different currencies are never added together
unless converted with --in.

Dates: --since and --until keep the events whose period END falls in [since, until], both
inclusive (the month of an event is the month of its period end). A date is YYYY-MM-DD, or
YYYY-MM: --since 2025-07 means 2025-07-01, --until 2025-07 means 2025-07-31.

Currency conversion (--in CUR --rates FILE): FILE is a CSV text file with a header row naming
the columns date, currency and rate (any order), then one line per rate, for example
    date,currency,rate
    2025-07-31,USD,1.1446
    2025-07-31,GBP,0.8630
Dates are ISO (YYYY-MM-DD), currencies ISO 4217 codes, rates plain decimals with a `.`
(no thousands separators, no quoting) giving the units of that currency per ONE unit of CUR,
as in the ECB reference rates for CUR=EUR. Blank lines, a BOM and CRLF are fine; lines for CUR
itself are ignored. Each event converts at the rate of its period's end date, or of the nearest
earlier date in the file: amount / rate, rounded half to even to 0.000001 per event, then summed.
A rate missing for a currency and date is an error naming both (exit 5), never a guess; so is
a malformed rates file. Tables and charts show converted amounts rounded half to even to the
currency's minor unit (220.108288 EUR reads 220.11); --json and export keep the 0.000001.

Output files (export --output, chart --svg) are never replaced unless --force; on a terminal
one line says what was written (under cron only with -v, never with --quiet).

Exit codes: 0 success, 1 database or I/O error (also: no database yet, an existing output
file without --force), 2 usage error, 5 rates file rejected or a rate missing.";

/// Sales reports: summaries, exports and charts.
#[derive(Debug, clap::Args)]
#[command(after_long_help = SALES_HELP)]
pub struct Args {
    #[command(subcommand)]
    pub command: SalesCommand,
}

/// The `sales` subcommands.
#[derive(Debug, Subcommand)]
pub enum SalesCommand {
    /// Totals of units, KENP pages and royalty, grouped by month, platform, title, ...
    #[command(after_long_help = SALES_HELP)]
    Summary(SummaryArgs),
    /// Every effective event with every normalised field, as CSV, JSON or NDJSON (streamed)
    #[command(after_long_help = SALES_HELP)]
    Export(ExportArgs),
    /// Royalty per month, stacked by platform, as a terminal bar chart (and optionally SVG)
    #[command(after_long_help = SALES_HELP)]
    Chart(ChartArgs),
    /// What was paid against what was earned: each payout, the sales periods it pays, their
    /// final royalty and the difference; and the royalty not yet paid, with its due date
    #[command(after_long_help = PAYOUTS_HELP)]
    Payouts(PayoutsArgs),
}

const PAYOUTS_HELP: &str = "\
Payouts are what platforms paid: the KDP Payments workbook, the `payment` rows of a Smashwords
Sales & Payment Report, and the payment a Google Play earnings report or a StreetLib invoice
states for a date. They are imported like any report (`salesingest import FILE`) and kept apart
from sales: never counted as royalty.

Each payout is listed with the sales periods it pays (the report's own, or for a Smashwords
payment the days since the previous one), the final royalty the store holds for them (in the
royalty currency, of its marketplace for KDP), and the difference: what was paid before
conversion minus that royalty (withholding tax, adjustments, sales not imported). The amount
paid is in the payout currency (KDP converts at `fx_rate`).

Unpaid: per platform, the final royalty of each month (and KDP marketplace) and currency that
no payout covers, with the date the platform's published schedule says it is due (KDP 60 days
after the month, Kobo the 15th two months on, IngramSpark 90 days, ...). `overdue` is true once
that date has passed, for a platform with payouts imported (in that currency, except KDP, whose
Payments report lists every marketplace) and a month they cover or follow; `salesingest status
--check` reports it (exit 6).

Dates: --since and --until keep payouts paid in [since, until], and unpaid months whose last
day falls in it. YYYY-MM-DD, or YYYY-MM.

Exit codes: 0 success, 1 database error (also: no database yet), 2 usage error.";

/// `sales payouts`.
#[derive(Debug, clap::Args)]
pub struct PayoutsArgs {
    /// Only payouts paid (and unpaid months ending) on or after DATE (YYYY-MM-DD or YYYY-MM)
    #[arg(long, value_name = "DATE", value_parser = parse_since)]
    pub since: Option<NaiveDate>,

    /// Only payouts paid (and unpaid months ending) on or before DATE (YYYY-MM-DD or YYYY-MM)
    #[arg(long, value_name = "DATE", value_parser = parse_until)]
    pub until: Option<NaiveDate>,

    /// Only this platform (repeatable)
    #[arg(long = "platform", value_name = "PLATFORM", value_parser = super::platform_arg())]
    pub platforms: Vec<Platform>,
}

/// Which events a report covers.
#[derive(Debug, Clone, clap::Args)]
pub struct FilterArgs {
    /// Only events whose period ends on or after DATE (YYYY-MM-DD, or YYYY-MM for its first day)
    #[arg(long, value_name = "DATE", value_parser = parse_since)]
    pub since: Option<NaiveDate>,

    /// Only events whose period ends on or before DATE (YYYY-MM-DD, or YYYY-MM for its last day)
    #[arg(long, value_name = "DATE", value_parser = parse_until)]
    pub until: Option<NaiveDate>,

    /// Only this platform (repeatable)
    #[arg(long = "platform", value_name = "PLATFORM", value_parser = super::platform_arg())]
    pub platforms: Vec<Platform>,

    /// Only final events (KDP final reports, D2D verified rows, Smashwords adjusted rows, Gumroad,
    /// Apple Books, B&N Press and IngramSpark compensation rows)
    #[arg(long)]
    pub final_only: bool,
}

/// Currency conversion with provenance.
#[derive(Debug, Clone, clap::Args)]
pub struct ConvertArgs {
    /// Convert every amount into this currency (needs --rates)
    #[arg(long = "in", value_name = "CUR", requires = "rates", value_parser = report::parse_currency)]
    pub into: Option<String>,

    /// The rates file for --in: CSV `date,currency,rate` (see "Currency conversion" in
    /// --help)
    #[arg(long, value_name = "FILE", requires = "into")]
    pub rates: Option<PathBuf>,
}

/// `sales summary`.
#[derive(Debug, clap::Args)]
pub struct SummaryArgs {
    /// Group by these keys, comma-separated [default: month,platform,currency; with --in:
    /// month,platform]
    #[arg(long, value_name = "KEY,...", value_delimiter = ',', value_parser = super::dim_arg())]
    pub by: Vec<Dim>,

    #[command(flatten)]
    pub filter: FilterArgs,

    #[command(flatten)]
    pub convert: ConvertArgs,
}

/// Export file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// RFC 4180 CSV with a header row
    Csv,
    /// One JSON array
    Json,
    /// One JSON object per line
    Ndjson,
}

/// `sales export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The file format [default: csv; json with --json, on stdout or in the --output file]
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<FormatArg>,

    /// Write to FILE instead of stdout (an existing FILE only with --force)
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Replace the --output file if it exists
    #[arg(long, requires = "output")]
    pub force: bool,

    #[command(flatten)]
    pub filter: FilterArgs,

    #[command(flatten)]
    pub convert: ConvertArgs,
}

/// `sales chart`.
#[derive(Debug, clap::Args)]
pub struct ChartArgs {
    /// What the bars are: only `month` for now
    #[arg(long, value_name = "KEY", default_value = "month", value_parser = ["month"])]
    pub by: String,

    /// The currency to chart [default: the one with the most events]
    #[arg(long, value_name = "CUR", conflicts_with = "into", value_parser = report::parse_currency)]
    pub currency: Option<String>,

    /// Chart width in columns [default: the terminal's width, 80 when not a terminal]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(30..))]
    pub width: Option<u16>,

    /// Also write the chart as an SVG file (opens in a browser; an existing FILE only with
    /// --force)
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,

    /// Replace the --svg file if it exists
    #[arg(long, requires = "svg")]
    pub force: bool,

    #[command(flatten)]
    pub filter: FilterArgs,

    #[command(flatten)]
    pub convert: ConvertArgs,
}

fn parse_day_or_month(s: &str, end_of_month: bool) -> Result<NaiveDate, String> {
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d);
    }
    let first = NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d")
        .map_err(|_| format!("`{s}` is not a date: expected YYYY-MM-DD or YYYY-MM"))?;
    if !end_of_month {
        return Ok(first);
    }
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    };
    next.and_then(|n| n.pred_opt())
        .ok_or_else(|| format!("`{s}` is out of range"))
}

fn parse_since(s: &str) -> Result<NaiveDate, String> {
    parse_day_or_month(s, false)
}

fn parse_until(s: &str) -> Result<NaiveDate, String> {
    parse_day_or_month(s, true)
}

impl FilterArgs {
    fn to_filter(&self) -> ReportFilter {
        let mut platforms: Vec<String> = self.platforms.iter().map(|p| p.to_string()).collect();
        platforms.sort();
        platforms.dedup();
        ReportFilter {
            since: self.since.map(|d| d.to_string()),
            until: self.until.map(|d| d.to_string()),
            platforms,
            final_only: self.final_only,
        }
    }
}

/// Read and parse the rates file, then check that every currency in the report has a rate at
/// its earliest period end (later dates then always find one), before any output is written.
fn load_rates(c: &ConvertArgs, db: &dyn Store, filter: &ReportFilter) -> Result<Option<Rates>> {
    let (Some(target), Some(path)) = (&c.into, &c.rates) else {
        return Ok(None);
    };
    load_rates_file(path, target, db, filter).map(Some)
}

/// Run `sales`.
///
/// # Errors
/// Exit 5 for a bad rates file or a missing rate; database and I/O errors.
pub fn run(args: &Args, ctx: &Ctx) -> Result<i32> {
    let db = ctx.open_existing_db()?;
    let db = db.as_ref();
    match &args.command {
        SalesCommand::Summary(a) => summary(a, db, ctx),
        SalesCommand::Export(a) => export(a, db, ctx),
        SalesCommand::Chart(a) => chart(a, db, ctx),
        SalesCommand::Payouts(a) => payouts(a, db, ctx),
    }
}

fn payouts(a: &PayoutsArgs, db: &dyn Store, ctx: &Ctx) -> Result<i32> {
    let filter = crate::store::PayoutFilter {
        platforms: a.platforms.iter().map(|p| p.as_str().to_string()).collect(),
        since: a.since.map(crate::model::iso_date),
        until: a.until.map(crate::model::iso_date),
    };
    let today = chrono::DateTime::from_timestamp_millis(crate::queue::now_ms())
        .map(|t| t.date_naive())
        .unwrap_or_default();
    let report = crate::payouts::reconcile(db, &filter, today)?;
    if ctx.out.json {
        ctx.out.json(&report);
        return Ok(0);
    }
    if report.is_empty() {
        ctx.out
            .line("no payouts and no final royalty: import a KDP Payments workbook or a report with payment rows (`salesingest import FILE`)");
        return Ok(0);
    }
    for p in &report {
        ctx.out
            .line(&format!("{} — paid {}", p.platform, p.schedule));
        if !p.payouts.is_empty() {
            let mut t = output::new_table(&[
                "paid on",
                "reference",
                "marketplace",
                "amount",
                "pays",
                "net",
                "earned",
                "difference",
            ]);
            for v in &p.payouts {
                let pays = format!(
                    "{}..{}",
                    v.period_start.as_deref().unwrap_or(""),
                    v.period_end.as_deref().unwrap_or("")
                );
                t.add_row(vec![
                    comfy_table::Cell::new(&v.paid_on),
                    comfy_table::Cell::new(&v.reference),
                    comfy_table::Cell::new(&v.marketplace),
                    output::num_cell(format!("{} {}", v.amount, v.currency)),
                    comfy_table::Cell::new(pays),
                    output::num_cell(format!("{} {}", v.net, v.royalty_currency)),
                    output::num_cell(format!("{} {}", v.earned, v.royalty_currency)),
                    output::num_cell(format!("{} {}", v.difference, v.royalty_currency)),
                ]);
            }
            // Amounts and dates never split; narrow terminals lose the net, the reference and
            // the marketplace first (all in --json).
            let fits = [output::Fit::Whole; 8];
            ctx.out.fitted_table(t, &fits, &[5, 1, 2, 4]);
        }
        if !p.unpaid.is_empty() {
            let mut t =
                output::new_table(&["unpaid month", "marketplace", "earned", "due on", "overdue"]);
            for u in &p.unpaid {
                t.add_row(vec![
                    comfy_table::Cell::new(&u.month),
                    comfy_table::Cell::new(&u.marketplace),
                    output::num_cell(format!("{} {}", u.earned, u.currency)),
                    comfy_table::Cell::new(u.due_on.as_deref().unwrap_or("no schedule")),
                    comfy_table::Cell::new(if u.overdue { "OVERDUE" } else { "" }),
                ]);
            }
            ctx.out.fitted_table(t, &[output::Fit::Whole; 5], &[1]);
        }
    }
    Ok(0)
}

fn summary(a: &SummaryArgs, db: &dyn Store, ctx: &Ctx) -> Result<i32> {
    let filter = a.filter.to_filter();
    let rates = load_rates(&a.convert, db, &filter)?;
    let s = summary_view(db, &filter, &a.by, rates.as_ref())?;
    let names: Vec<&str> = s.dims.iter().map(|d| d.name()).collect();
    ctx.out.summary(&names, &s.rows, &s.totals);
    Ok(0)
}

fn export(a: &ExportArgs, db: &dyn Store, ctx: &Ctx) -> Result<i32> {
    let filter = a.filter.to_filter();
    let rates = load_rates(&a.convert, db, &filter)?;
    let format = match a.format {
        Some(FormatArg::Csv) => ExportFormat::Csv,
        Some(FormatArg::Json) => ExportFormat::Json,
        Some(FormatArg::Ndjson) => ExportFormat::Ndjson,
        // `--json` means JSON wherever the events go.
        None if ctx.out.json => ExportFormat::Json,
        None => ExportFormat::Csv,
    };
    let converting = rates.is_some();
    let mut w = match &a.output {
        Some(p) => ExportWriter::new(output::create_output(p, a.force)?, format, converting)?,
        None => ExportWriter::stdout(format, converting)?,
    };
    db.for_each_sale(&filter, &mut |e| {
        let mut rec = crate::ingest::views::export_record(e);
        if let Some(rates) = &rates {
            let rate = rate_of(rates, &e.currency, &e.period_end)?;
            let micros = rate.map_or(e.royalty_micros, |r| {
                report::convert_micros(e.royalty_micros, r.rate)
            });
            rec.converted_royalty = Some(format_micros(micros, rates.target()));
            rec.converted_currency = Some(rates.target());
            rec.rate = Some(rate.map_or_else(|| "1".into(), |r| report::format_rate(r.rate)));
            rec.rate_date = Some(rate.map(|r| r.date.to_string()));
        }
        w.write(&rec)
    })?;
    let n = w.finish()?;
    if let Some(p) = &a.output {
        if ctx.out.json {
            ctx.out
                .json(&serde_json::json!({"file": p.display().to_string(), "events": n}));
        } else {
            ctx.out.done(&format!(
                "wrote {n} events to {} ({})",
                p.display(),
                match format {
                    ExportFormat::Csv => "CSV",
                    ExportFormat::Json => "JSON",
                    ExportFormat::Ndjson => "NDJSON",
                }
            ));
        }
    }
    Ok(0)
}

fn chart(a: &ChartArgs, db: &dyn Store, ctx: &Ctx) -> Result<i32> {
    // Refused before anything is printed (the file is created when the chart is drawn).
    if let Some(problem) = a
        .svg
        .as_deref()
        .and_then(|p| output::output_file_problem(p, a.force))
    {
        return Err(anyhow::anyhow!(problem));
    }
    let filter = a.filter.to_filter();
    let rates = load_rates(&a.convert, db, &filter)?;
    let rates_file = a
        .convert
        .rates
        .as_deref()
        .unwrap_or(std::path::Path::new(""));
    let view = chart_view(
        db,
        &filter,
        rates.as_ref().map(|r| (r, rates_file)),
        a.currency.as_deref(),
    )?;
    if view.months.is_empty() {
        if ctx.out.json {
            ctx.out.json(
                &serde_json::json!({"currency": view.currency, "platforms": [], "months": []}),
            );
        } else {
            ctx.out
                .line(&format!("no sales in {} match", view.currency));
        }
        return Ok(0);
    }
    if let Some(path) = &a.svg {
        use std::io::Write as _;
        let svg = chart_svg(&view);
        output::create_output_file(path, a.force)?
            .write_all(svg.as_bytes())
            .with_context(|| format!("cannot write the SVG file `{}`", path.display()))?;
    }
    if ctx.out.json {
        ctx.out.chart_json(&view);
    } else {
        let width = a.width.map_or_else(output::terminal_width, usize::from);
        ctx.out.chart(&render_chart(&view, width, ctx.out.color));
        if let Some(path) = &a.svg {
            ctx.out.done(&format!(
                "wrote the chart ({} months in {}) to {}",
                view.months.len(),
                view.currency,
                path.display()
            ));
        }
    }
    Ok(0)
}
