//! The dashboard `salesingest serve` shows at `GET /`: one server-rendered HTML page with what an
//! author checks every morning, from the same functions the CLI prints (`status --check`,
//! `status`, `status <id>`, `sales summary`, `sales chart --svg`: `ingest::views` and
//! `cli::sales`).
//!
//! Owns: the page's HTML (every text from the store HTML-escaped: titles and errors come from
//! report files), its stylesheet and script (embedded in the binary, served under `/assets/`).
//! Must not: write SQL or sum amounts itself (the CLI's views do). [`render`] knows nothing of
//! HTTP; `routes` (merged into `serve`'s router) serves it, the assets and the plain upload
//! form.
//!
//! The page works without JavaScript (sorting is by links, retrying by a form, uploading by a
//! plain multipart form); the script only adds the drag-and-drop zone.

mod html;
mod routes;

pub use routes::routes;

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Result;
use chrono::{DateTime, Datelike, NaiveDate};

use crate::config::Settings;
use crate::ingest::views;
use crate::model::{parse_micros, Platform};
use crate::output::{chart_svg, display_micros, OverviewView, StatusView, SummaryRowView};
use crate::queue::Millis;
use crate::report::Rates;
use crate::report_views as sales;
use crate::store::{Dim, ReportFilter, Store};

use html::{attr, esc};

/// The stylesheet, served as `/assets/dashboard.css`.
pub const CSS: &str = include_str!("dashboard.css");
/// The script (drop zone), served as `/assets/dashboard.js`.
pub const JS: &str = include_str!("dashboard.js");

/// How many jobs the jobs list shows (newest first).
pub const JOBS_SHOWN: i64 = 50;

/// An embedded file under `/assets/`: its content type and body, `None` for any other name.
pub fn asset(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "dashboard.css" => Some(("text/css; charset=utf-8", CSS)),
        "dashboard.js" => Some(("text/javascript; charset=utf-8", JS)),
        _ => None,
    }
}

/// Conversion of the per-book table and the chart into one currency, as `sales --in CUR
/// --rates FILE`.
#[derive(Debug, Clone)]
pub struct RatesOption {
    pub file: PathBuf,
    /// The target currency (three letters).
    pub currency: String,
}

/// What the page needs besides the store.
#[derive(Debug, Clone, Copy)]
pub struct PageCtx<'a> {
    /// The session's CSRF token: the hidden `csrf` field of every form, and the script's
    /// `X-CSRF-Token` header.
    pub csrf: &'a str,
    /// The settings (`status --check` reads the schedules; the header names the database).
    pub settings: &'a Settings,
    /// Convert the per-book table and the chart, when configured.
    pub rates: Option<&'a RatesOption>,
    /// The time the page is for (UTC milliseconds): "this month", stale schedules.
    pub now: Millis,
    /// The per-book table's order: a column key (`title`, `platform`, `units`, `kenp`,
    /// `royalty`), `-` in front for descending; `None` or unknown: royalty descending.
    pub sort: Option<&'a str>,
}

/// The per-book table's columns that can be sorted on.
const SORT_KEYS: [(&str, &str); 5] = [
    ("title", "Title"),
    ("platform", "Platform"),
    ("royalty", "Royalty"),
    ("units", "Units"),
    ("kenp", "KENP pages"),
];

/// The whole page.
///
/// # Errors
/// Database errors. A bad rates file or a missing rate is not an error: the page says so at
/// the top and shows amounts unconverted.
pub fn render(store: &dyn Store, ctx: &PageCtx) -> Result<String> {
    let now_date = DateTime::from_timestamp_millis(ctx.now)
        .map(|t| t.date_naive())
        .unwrap_or_default();
    let mut problems: Vec<(String, String, Option<i64>)> =
        views::problems(store, ctx.settings, ctx.now)?
            .into_iter()
            .map(|p| (p.platform, p.message, p.job_id))
            .collect();
    let all = ReportFilter::default();
    let rates = match ctx.rates {
        None => None,
        Some(r) => match sales::load_rates_file(&r.file, &r.currency, store, &all) {
            Ok(rates) => Some((rates, r)),
            Err(e) => {
                problems.push((
                    "rates".into(),
                    format!("{e:#}; amounts are shown unconverted"),
                    None,
                ));
                None
            }
        },
    };
    let overview = views::overview_view(store)?;
    let (this_month, last_month) = month_bounds(now_date);
    let recent = sales::summary_view(
        store,
        &ReportFilter {
            since: Some(last_month.0.to_string()),
            until: Some(this_month.1.to_string()),
            ..ReportFilter::default()
        },
        &[Dim::Platform, Dim::Month, Dim::Currency],
        None,
    )?;
    let mut chart = sales::chart_view(
        store,
        &all,
        rates.as_ref().map(|(r, o)| (r, o.file.as_path())),
        None,
    )?;
    // The CLI's hint names its flags; the page's way to convert is the config.
    if let Some(n) = &mut chart.note {
        if let Some((shown, _)) = n.split_once(" (pick one with --currency") {
            *n = format!(
                "{shown} (to chart every currency in one, set [dashboard] currency and rates)"
            );
        }
    }
    let books = books_view(store, rates.as_ref().map(|(r, _)| r))?;
    let jobs = store
        .jobs(None, None, JOBS_SHOWN)?
        .iter()
        .filter_map(|j| views::status_view(store, j.id).transpose())
        .collect::<Result<Vec<_>>>()?;

    let mut p = Page::default();
    p.head(ctx);
    p.problems(&problems, ctx.csrf);
    p.platforms(&overview, &recent.rows, &this_month, &last_month);
    p.chart(&chart);
    p.books(&books, rates.as_ref().map(|(_, o)| *o), ctx.sort);
    p.upload(ctx.csrf);
    p.jobs(&jobs, ctx.csrf);
    p.foot();
    Ok(p.0)
}

/// (first day, last day) of the month of `today`, then of the month before.
fn month_bounds(today: NaiveDate) -> ((NaiveDate, NaiveDate), (NaiveDate, NaiveDate)) {
    let first = today.with_day(1).unwrap_or(today);
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    }
    .unwrap_or(first);
    let last_day = next.pred_opt().unwrap_or(first);
    let prev_last = first.pred_opt().unwrap_or(first);
    let prev_first = prev_last.with_day(1).unwrap_or(prev_last);
    ((first, last_day), (prev_first, prev_last))
}

fn month_key(d: NaiveDate) -> String {
    format!("{:04}-{:02}", d.year(), d.month())
}

/// The per-book rows: `sales summary --by title,platform[,currency]` (converted with `--in`).
fn books_view(store: &dyn Store, rates: Option<&Rates>) -> Result<sales::SummaryData> {
    let by: &[Dim] = if rates.is_some() {
        &[Dim::Title, Dim::Platform]
    } else {
        &[Dim::Title, Dim::Platform, Dim::Currency]
    };
    sales::summary_view(store, &ReportFilter::default(), by, rates)
}

/// An amount of a view (an exact decimal string) for reading: the currency's minor unit.
fn money(amount: &str, currency: &str) -> String {
    parse_micros(amount).map_or_else(|_| amount.to_string(), |m| display_micros(m, currency))
}

fn micros(amount: &str) -> i64 {
    parse_micros(amount).unwrap_or(0)
}

/// A platform's name for people (`amazon_kdp` → `Amazon KDP`).
fn platform_label(name: &str) -> String {
    match Platform::parse(name) {
        Some(Platform::AmazonKdp) => "Amazon KDP".into(),
        Some(Platform::Draft2digital) => "Draft2Digital".into(),
        Some(Platform::Gumroad) => "Gumroad".into(),
        Some(Platform::Smashwords) => "Smashwords".into(),
        Some(Platform::Kobo) => "Kobo".into(),
        Some(Platform::GooglePlay) => "Google Play".into(),
        Some(Platform::Streetlib) => "StreetLib".into(),
        Some(Platform::AppleBooks) => "Apple Books".into(),
        Some(Platform::BarnesNoble) => "B&N Press".into(),
        Some(Platform::Ingramspark) => "IngramSpark".into(),
        None => name.to_string(),
    }
}

/// The page being written.
#[derive(Default)]
struct Page(String);

impl Page {
    fn w(&mut self, s: &str) {
        self.0.push_str(s);
    }

    fn head(&mut self, ctx: &PageCtx) {
        let now = crate::output::rfc3339(ctx.now);
        let _ = write!(
            self.0,
            r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{csrf}">
<title>salesingest dashboard</title>
<link rel="stylesheet" href="/assets/dashboard.css">
<script src="/assets/dashboard.js" defer></script>
</head>
<body>
<header class="top">
<h1>salesingest</h1>
<p class="meta">as of <time datetime="{now}">{now_h}</time> · {db}</p>
<nav><a href="#platforms">Platforms</a> <a href="#chart">Chart</a> <a href="#books">Books</a> <a href="#upload">Upload</a> <a href="#jobs">Jobs</a></nav>
</header>
<main>
"##,
            csrf = attr(ctx.csrf),
            now = attr(&now),
            now_h = esc(&now.replace('T', " ").replace('Z', " UTC")),
            db = esc(&ctx.settings.db.to_string()),
        );
    }

    fn problems(&mut self, problems: &[(String, String, Option<i64>)], csrf: &str) {
        if problems.is_empty() {
            self.w(
                "<section id=\"problems\" class=\"ok\"><p>✓ No problems: the data is current and no job needs attention.</p></section>\n",
            );
            return;
        }
        let _ = write!(
            self.0,
            "<section id=\"problems\" class=\"alert\" role=\"alert\">\n<h2>{} problem{}</h2>\n<ul>\n",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        );
        for (platform, message, job) in problems {
            let _ = write!(
                self.0,
                "<li><b>{}</b>: {}",
                esc(&platform_label(platform)),
                esc(message)
            );
            if let Some(id) = job {
                self.w(" ");
                retry_form(&mut self.0, *id, csrf);
            }
            self.w("</li>\n");
        }
        self.w("</ul>\n</section>\n");
    }

    fn platforms(
        &mut self,
        overview: &[OverviewView],
        recent: &[SummaryRowView],
        this: &(NaiveDate, NaiveDate),
        last: &(NaiveDate, NaiveDate),
    ) {
        let (this_key, last_key) = (month_key(this.0), month_key(last.0));
        self.w("<section id=\"platforms\">\n<h2>Platforms</h2>\n");
        let shown: Vec<&OverviewView> = overview
            .iter()
            .filter(|o| {
                o.events > 0
                    || o.queued + o.processing + o.retrying + o.failed > 0
                    || o.last_success_job.is_some()
            })
            .collect();
        if shown.is_empty() {
            self.w("<p class=\"empty\">Nothing imported yet: drop a report file below, or run <code>salesingest import FILE</code>.</p>\n</section>\n");
            return;
        }
        self.w("<div class=\"cards\">\n");
        for o in shown {
            let amounts = |month: &str| -> String {
                let cells: Vec<String> = recent
                    .iter()
                    .filter(|r| {
                        r.keys.get("platform").map(String::as_str) == Some(o.platform.as_str())
                            && r.keys.get("month").map(String::as_str) == Some(month)
                    })
                    .map(|r| {
                        format!(
                            "<span class=\"amt{}\">{} {}</span>",
                            if r.is_final { "" } else { " est" },
                            esc(&money(&r.royalty, &r.currency)),
                            esc(&r.currency)
                        )
                    })
                    .collect();
                if cells.is_empty() {
                    "<span class=\"none\">–</span>".into()
                } else {
                    cells.join(" ")
                }
            };
            let _ = write!(
                self.0,
                r#"<article class="card" data-platform="{pa}">
<h3><span class="swatch" style="background:{color}"></span>{name}</h3>
<dl>
<dt>This month <small>{this_key}</small></dt><dd>{this_amt}</dd>
<dt>Last month <small>{last_key}</small></dt><dd>{last_amt}</dd>
<dt>Final through</dt><dd>{fin}</dd>
<dt>Estimated through</dt><dd>{est}</dd>
<dt>Last successful job</dt><dd>{ok}</dd>
<dt>Jobs</dt><dd>{jobs}</dd>
</dl>
</article>
"#,
                pa = attr(&o.platform),
                color = crate::output::platform_color(&o.platform),
                name = esc(&platform_label(&o.platform)),
                this_key = esc(&this_key),
                last_key = esc(&last_key),
                this_amt = amounts(&this_key),
                last_amt = amounts(&last_key),
                fin = o.final_through.as_deref().map_or("–".into(), esc),
                est = o.estimated_through.as_deref().map_or("–".into(), esc),
                ok = match (o.last_success_job, &o.last_success_at) {
                    (Some(id), Some(at)) => format!(
                        "<a href=\"#job-{id}\">#{id}</a> <time datetime=\"{}\">{}</time>",
                        attr(at),
                        esc(&short_time(at))
                    ),
                    _ => "–".into(),
                },
                jobs = job_counts(o),
            );
        }
        self.w("</div>\n<p class=\"legend\"><span class=\"amt est\">estimated</span> amounts are not final yet (a platform's estimate, replaced when its final report is imported).</p>\n</section>\n");
    }

    fn chart(&mut self, chart: &crate::output::ChartView) {
        self.w("<section id=\"chart\">\n<h2>Royalty per month</h2>\n");
        if chart.months.is_empty() {
            self.w("<p class=\"empty\">No sales yet.</p>\n</section>\n");
            return;
        }
        let svg = chart_svg(chart);
        // Inline: drop the XML declaration of the standalone file.
        let svg = match svg.find("<svg") {
            Some(i) => &svg[i..],
            None => &svg[..],
        };
        let _ = write!(
            self.0,
            "<figure class=\"chart\" role=\"img\" aria-label=\"Royalty per month in {}, stacked by platform\">\n{svg}</figure>\n</section>\n",
            attr(&chart.currency)
        );
    }

    fn books(
        &mut self,
        data: &sales::SummaryData,
        rates: Option<&RatesOption>,
        sort: Option<&str>,
    ) {
        let rows = &data.rows;
        let (key, desc) = match sort {
            Some(s) => {
                let (desc, k) = match s.strip_prefix('-') {
                    Some(k) => (true, k),
                    None => (false, s),
                };
                if SORT_KEYS.iter().any(|(n, _)| *n == k) {
                    (k, desc)
                } else {
                    ("royalty", true)
                }
            }
            None => ("royalty", true),
        };
        let mut rows: Vec<&SummaryRowView> = rows.iter().collect();
        let rank = |currency: &str| -> (i64, std::cmp::Reverse<String>) {
            let events = data
                .totals
                .iter()
                .find(|t| t.currency == currency)
                .map_or(0, |t| t.events);
            (events, std::cmp::Reverse(currency.to_string()))
        };
        let title = |r: &SummaryRowView| r.keys.get("title").cloned().unwrap_or_default();
        let platform = |r: &SummaryRowView| r.keys.get("platform").cloned().unwrap_or_default();
        rows.sort_by(|a, b| {
            let o = match key {
                "title" => title(a).to_lowercase().cmp(&title(b).to_lowercase()),
                "platform" => platform(a).cmp(&platform(b)),
                "units" => a.units.cmp(&b.units),
                "kenp" => a.kenp_pages.cmp(&b.kenp_pages),
                // Amounts of different currencies are never compared: the currency with the
                // most sales first, then the amount.
                _ => rank(&b.currency).cmp(&rank(&a.currency)).then_with(|| {
                    let o = micros(&a.royalty).cmp(&micros(&b.royalty));
                    if desc {
                        o.reverse()
                    } else {
                        o
                    }
                }),
            };
            let o = if desc && key != "royalty" {
                o.reverse()
            } else {
                o
            };
            o.then_with(|| title(a).cmp(&title(b)))
                .then_with(|| platform(a).cmp(&platform(b)))
        });
        self.w("<section id=\"books\">\n<h2>Books</h2>\n");
        if let Some(r) = rates {
            let _ = writeln!(
                self.0,
                "<p class=\"note\">Royalties converted into {} at the rates of <code>{}</code>: each sale at the rate of its period's end (as <code>sales summary --in {} --rates FILE</code>).</p>",
                esc(&r.currency),
                esc(&r.file.display().to_string()),
                esc(&r.currency)
            );
        }
        if rows.is_empty() {
            self.w("<p class=\"empty\">No sales yet.</p>\n</section>\n");
            return;
        }
        self.w("<div class=\"scroll\"><table class=\"books\">\n<thead><tr>");
        for (k, label) in SORT_KEYS {
            let numeric = matches!(k, "units" | "kenp" | "royalty");
            let (next, aria, arrow) = if k == key {
                (
                    if desc { k.to_string() } else { format!("-{k}") },
                    if desc { "descending" } else { "ascending" },
                    if desc { " ▾" } else { " ▴" },
                )
            } else {
                (
                    if numeric {
                        format!("-{k}")
                    } else {
                        k.to_string()
                    },
                    "none",
                    "",
                )
            };
            let _ = write!(
                self.0,
                "<th scope=\"col\" aria-sort=\"{aria}\"{cls}><a href=\"/?sort={next}#books\">{label}{arrow}</a></th>",
                cls = if numeric { " class=\"num\"" } else { "" },
                next = attr(&next),
            );
        }
        self.w("</tr></thead>\n<tbody>\n");
        for r in rows {
            let t = title(r);
            let _ = writeln!(
                self.0,
                "<tr><td class=\"title\">{}</td><td>{}</td><td class=\"num\"><span class=\"amt{}\">{} {}</span></td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                if t.is_empty() {
                    "<i>(no title)</i>".to_string()
                } else {
                    esc(&t)
                },
                esc(&platform_label(&platform(r))),
                if r.is_final { "" } else { " est" },
                esc(&money(&r.royalty, &r.currency)),
                esc(&r.currency),
                r.units,
                r.kenp_pages,
            );
        }
        self.w("</tbody>\n<tfoot>\n");
        let mut totals: Vec<_> = data.totals.iter().collect();
        totals.sort_by_key(|t| std::cmp::Reverse(rank(&t.currency)));
        for t in totals {
            let _ = writeln!(
                self.0,
                "<tr class=\"total\"><th scope=\"row\" colspan=\"2\">Total {cur}</th><td class=\"num\">{} {cur}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                esc(&money(&t.royalty, &t.currency)),
                t.units,
                t.kenp_pages,
                cur = esc(&t.currency),
            );
        }
        self.w("</tfoot>\n</table></div>\n</section>\n");
    }

    fn upload(&mut self, csrf: &str) {
        let _ = write!(
            self.0,
            r#"<section id="upload">
<h2>Upload a report</h2>
<div id="dropzone" class="dropzone" hidden>
<p><b>Drop report files here</b> or <label class="pick">choose files<input type="file" id="dropzone-input" multiple hidden></label></p>
<ul id="upload-results" aria-live="polite"></ul>
</div>
<form class="upload" method="post" action="/ui/upload" enctype="multipart/form-data">
<input type="hidden" name="csrf" value="{csrf}">
<label>Report file <input type="file" name="file" required></label>
<button type="submit">Upload</button>
</form>
<p class="note">The platform is recognised from the file's content; the file is checked now and imported by the next <code>salesingest run-worker</code>.</p>
</section>
"#,
            csrf = attr(csrf)
        );
    }

    fn jobs(&mut self, jobs: &[StatusView], csrf: &str) {
        self.w("<section id=\"jobs\">\n<h2>Jobs</h2>\n");
        if jobs.is_empty() {
            self.w("<p class=\"empty\">No jobs yet.</p>\n</section>\n");
            return;
        }
        let _ = writeln!(
            self.0,
            "<p class=\"note\">The {} newest; <code>salesingest jobs</code> lists them all.</p>",
            jobs.len()
        );
        self.w("<div class=\"scroll\"><table class=\"jobs\">\n<thead><tr><th scope=\"col\">Job</th><th scope=\"col\">Platform</th><th scope=\"col\">Status</th><th scope=\"col\">Input</th><th scope=\"col\">Created</th><th scope=\"col\">Attempts</th><th scope=\"col\"></th></tr></thead>\n<tbody>\n");
        for j in jobs {
            let input = job_input(&j.input);
            // A file's name, its full path on hover.
            let short = input
                .rsplit(['/', '\\'])
                .next()
                .unwrap_or(&input)
                .to_string();
            let _ = write!(
                self.0,
                "<tr id=\"job-{id}\" class=\"job state-{st}\"><td>#{id}</td><td>{pl}</td><td><span class=\"badge {st}\">{sth}</span></td><td class=\"input\" title=\"{input_t}\">{input}</td><td><time datetime=\"{c}\">{ch}</time></td><td>",
                id = j.id,
                st = attr(&j.status),
                sth = esc(&j.status),
                pl = esc(&platform_label(&j.platform)),
                input = esc(&short),
                input_t = attr(&input),
                c = attr(&j.created_at),
                ch = esc(&short_time(&j.created_at)),
            );
            let _ = write!(self.0, "{} of {}", j.attempts, j.max_attempts);
            if !j.attempt_history.is_empty() {
                self.w("<details><summary>history</summary><ol class=\"attempts\">");
                for a in &j.attempt_history {
                    let _ = write!(
                        self.0,
                        "<li><span class=\"badge {o}\">{oh}</span> <time datetime=\"{s}\">{sh}</time> <small>{w}</small>{e}</li>",
                        o = attr(a.outcome.as_deref().unwrap_or("running")),
                        oh = esc(a.outcome.as_deref().unwrap_or("running")),
                        s = attr(&a.started_at),
                        sh = esc(&short_time(&a.started_at)),
                        w = esc(&a.worker),
                        e = a
                            .error
                            .as_deref()
                            .map(|e| format!("<div class=\"err\">{}</div>", esc(e)))
                            .unwrap_or_default(),
                    );
                }
                self.w("</ol></details>");
            }
            self.w("</td><td>");
            if matches!(j.status.as_str(), "failed" | "cancelled") {
                retry_form(&mut self.0, j.id, csrf);
            }
            self.w("</td></tr>\n");
            if let Some(e) = &j.last_error {
                let _ = writeln!(
                    self.0,
                    "<tr class=\"job-error state-{}\"><td></td><td colspan=\"6\" class=\"err\">{}</td></tr>",
                    attr(&j.status),
                    esc(e)
                );
            }
        }
        self.w("</tbody>\n</table></div>\n</section>\n");
    }

    fn foot(&mut self) {
        let _ = write!(
            self.0,
            "</main>\n<footer><p>salesingest {} · the same numbers as <code>salesingest status</code> and <code>salesingest sales summary</code></p></footer>\n</body>\n</html>\n",
            esc(env!("CARGO_PKG_VERSION"))
        );
    }
}

/// The retry button of a failed or cancelled job: a form POST with the CSRF field.
fn retry_form(out: &mut String, id: i64, csrf: &str) {
    let _ = write!(
        out,
        "<form class=\"retry\" method=\"post\" action=\"/ui/jobs/{id}/retry\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\">Retry job {id}</button></form>",
        attr(csrf)
    );
}

/// The pending and failed job counts of a platform card.
fn job_counts(o: &OverviewView) -> String {
    let parts: Vec<String> = [
        (o.queued, "queued"),
        (o.processing, "running"),
        (o.retrying, "retrying"),
        (o.failed, "failed"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("<span class=\"badge {what}\">{n} {what}</span>"))
    .collect();
    if parts.is_empty() {
        "<span class=\"none\">none pending</span>".into()
    } else {
        parts.join(" ")
    }
}

/// What a job works on, in a few words (the file name for imports).
fn job_input(input: &serde_json::Value) -> String {
    let text = |k: &str| input.get(k).and_then(|v| v.as_str());
    match text("kind") {
        Some("file") => text("file").unwrap_or("file").to_string(),
        Some("ping") => format!("Gumroad Ping {}", text("file").unwrap_or("")),
        Some("sync") => match (text("since"), text("until")) {
            (None, None) => "sync (incremental)".into(),
            (s, u) => format!(
                "sync {} .. {}",
                s.unwrap_or("(first sale)"),
                u.unwrap_or("(today)")
            ),
        },
        _ => input.to_string(),
    }
}

/// `2025-07-15T08:01:02Z` → `2025-07-15 08:01`.
fn short_time(rfc3339: &str) -> String {
    let s = rfc3339.replace('T', " ");
    s.get(..16).map_or(s.clone(), str::to_string)
}

#[cfg(test)]
mod tests;
