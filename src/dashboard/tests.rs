//! `render` on a store filled from the repository's fixtures: the known figures of
//! `tests/integration/reports.rs` (computed independently by `tests/fixtures/gen/report_expected.py`)
//! appear on the page, text from reports is escaped, a failed job gets its retry form.

use std::path::{Path, PathBuf};

use super::*;
use crate::ingest::{import_file, EnqueueOptions, FileStatus, IngestHandler};
use crate::queue::worker::{self, WorkerConfig};
use crate::queue::JobStore;
use crate::store::{self, Location, OpenOptions};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

struct Env {
    dir: tempfile::TempDir,
    settings: Settings,
    location: Location,
    db: Box<dyn Store>,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let db_path = dir.path().join("d.db");
        std::fs::write(dir.path().join("none.toml"), "").unwrap();
        let settings = crate::config::load(
            Some(db_path.to_str().unwrap()),
            Some(dir.path().join("none.toml")),
            true,
        )
        .unwrap();
        let location = Location::Sqlite(db_path);
        let db = store::open(&location, &OpenOptions::default()).unwrap();
        Env {
            dir,
            settings,
            location,
            db,
        }
    }

    /// Enqueue a file (the platform recognised by content, as `import`); returns the job id.
    fn import(&self, path: &Path) -> i64 {
        let out = import_file(
            self.db.as_ref(),
            path,
            &EnqueueOptions::defaults(&self.settings),
        )
        .unwrap();
        assert_eq!(
            out.status,
            FileStatus::Queued,
            "{path:?}: {:?}",
            out.message
        );
        out.job_id.unwrap()
    }

    fn run_worker(&self) {
        let mut handler = IngestHandler {
            db: self.db.as_ref(),
            settings: &self.settings,
            progress: false,
        };
        let l = self.location.clone();
        let open_hb = move || -> anyhow::Result<Box<dyn JobStore + Send>> {
            Ok(store::open(&l, &OpenOptions::default())?.into_queue())
        };
        let cfg = WorkerConfig {
            batch: 100,
            platform: None,
            lease_ms: 60_000,
            policy: self.settings.queue.retry.clone(),
            retention: self.settings.queue.retention.clone(),
            window: crate::queue::worker::DEFAULT_WINDOW,
            args: "dashboard test".into(),
        };
        worker::run(self.db.queue(), &open_hb, &mut handler, &cfg, &mut |_| {}).unwrap();
    }

    fn page(&self, now: &str, rates: Option<&RatesOption>, sort: Option<&str>) -> String {
        let now = DateTime::parse_from_rfc3339(now)
            .unwrap()
            .timestamp_millis();
        render(
            self.db.as_ref(),
            &PageCtx {
                csrf: "tok<en>",
                settings: &self.settings,
                rates,
                now,
                sort,
            },
        )
        .unwrap()
    }
}

/// D2D ebook + print, KDP estimator + final July, Smashwords: the fixture set of reports.rs.
fn filled() -> Env {
    let env = Env::new();
    for f in [
        "d2d/d2d_sales.csv",
        "d2d/d2d_sales_print.csv",
        "kdp/kdp_royalties_estimator.xlsx",
        "kdp/kdp_prior_month_royalties.xlsx",
        "smashwords/smashwords_salesReport.tsv",
    ] {
        env.import(&fixture(f));
    }
    env.run_worker();
    env
}

/// The text of the platform card of `platform`.
fn card<'a>(page: &'a str, platform: &str) -> &'a str {
    let start = page
        .find(&format!(
            "<article class=\"card\" data-platform=\"{platform}\">"
        ))
        .unwrap_or_else(|| panic!("no card for {platform}"));
    let len = page[start..].find("</article>").unwrap();
    &page[start..start + len]
}

/// The `<dd>` after the `<dt>` starting with `label` in a card.
fn field<'a>(card: &'a str, label: &str) -> &'a str {
    let at = card.find(&format!("<dt>{label}")).unwrap();
    let dd = at + card[at..].find("<dd>").unwrap() + 4;
    let end = dd + card[dd..].find("</dd>").unwrap();
    &card[dd..end]
}

#[test]
fn the_known_figures_appear() {
    let env = filled();
    let page = env.page("2025-07-15T09:00:00Z", None, None);
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(
        page.contains(r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#)
    );
    // No external resources: only the embedded assets.
    for external in ["src=\"http", "href=\"http", "src=\"//", "href=\"//", "url("] {
        assert!(!page.contains(external), "{external}");
    }

    // This month is July 2025, last month June (figures of reports.rs BY_MONTH).
    let d2d = card(&page, "draft2digital");
    let july = field(d2d, "This month");
    for want in ["30.84 USD", "5.19 EUR", "4.19 CAD", "2.84 GBP", "0.00 AUD"] {
        assert!(july.contains(want), "{want} in {july}");
    }
    let june = field(d2d, "Last month");
    assert!(
        june.contains("20.96 USD") && june.contains("3.85 GBP"),
        "{june}"
    );
    assert!(!june.contains("30.84"), "{june}");
    let kdp = card(&page, "amazon_kdp");
    let july = field(kdp, "This month");
    assert!(
        july.contains("119.08 USD") && july.contains("754 JPY"),
        "{july}"
    );
    // July's KDP figures are the final report's: not marked estimated. June's are estimates.
    assert!(july.contains("<span class=\"amt\">119.08 USD"), "{july}");
    assert!(
        field(kdp, "Last month").contains("<span class=\"amt est\">84.04 USD"),
        "{kdp}"
    );
    assert_eq!(field(kdp, "Final through"), "2025-07-31");
    let sw = card(&page, "smashwords");
    assert!(field(sw, "This month").contains("14.81 USD"), "{sw}");
    assert!(field(sw, "Last month").contains("-2.54 AUD"), "{sw}");
    // Every import job succeeded: each card links its last one; nothing pending.
    assert!(
        field(d2d, "Last successful job").contains("href=\"#job-"),
        "{d2d}"
    );
    assert!(field(d2d, "Jobs").contains("none pending"), "{d2d}");

    // The chart is the CLI's SVG, inline (no XML declaration), in the most used currency.
    assert!(page.contains("<svg xmlns=\"http://www.w3.org/2000/svg\"") || page.contains("<svg"));
    assert!(!page.contains("<?xml"));
    assert!(page.contains("Royalty per month in USD, stacked by platform"));
    assert!(
        page.contains("2025-07 amazon_kdp: 119.08 USD"),
        "chart bar title"
    );

    // The per-book table: title × platform × currency, default order royalty descending
    // within a currency.
    let books = &page[page.find("<section id=\"books\">").unwrap()..];
    assert!(books.contains("The Lighthouse Keeper&#39;s Daughter"));
    assert!(!books.contains("Keeper's"), "apostrophes are escaped");
    assert!(books.contains(
        "aria-sort=\"descending\" class=\"num\"><a href=\"/?sort=royalty#books\">Royalty ▾"
    ));

    // Jobs: all completed, none with a retry button; the problems banner is the all-clear.
    let jobs = &page[page.find("<section id=\"jobs\">").unwrap()..];
    assert_eq!(jobs.matches("class=\"job state-completed\"").count(), 5);
    assert!(!jobs.contains("/retry"));
    assert!(page.contains("<section id=\"problems\" class=\"ok\">"));
    // The upload form carries the CSRF token, escaped.
    assert!(page.contains("<input type=\"hidden\" name=\"csrf\" value=\"tok&lt;en&gt;\">"));
    assert!(page.contains("enctype=\"multipart/form-data\""));
}

#[test]
fn the_book_table_sorts_and_converts() {
    let env = filled();
    let rows = |page: &str| -> Vec<String> {
        let books = &page[page.find("<section id=\"books\">").unwrap()..];
        let books = &books[..books.find("</section>").unwrap()];
        books
            .split("<tr><td class=\"title\">")
            .skip(1)
            .map(|r| r[..r.find("</tr>").unwrap()].to_string())
            .collect()
    };
    let by_units = rows(&env.page("2025-07-15T09:00:00Z", None, Some("-units")));
    let units: Vec<i64> = by_units
        .iter()
        .map(|r| {
            let cells: Vec<&str> = r.split("<td class=\"num\">").collect();
            cells[2].split('<').next().unwrap().parse().unwrap()
        })
        .collect();
    assert!(units.len() > 3, "{by_units:?}");
    assert!(units.windows(2).all(|w| w[0] >= w[1]), "{units:?}");
    let by_title = rows(&env.page("2025-07-15T09:00:00Z", None, Some("title")));
    let titles: Vec<String> = by_title
        .iter()
        .map(|r| r.split("</td>").next().unwrap().to_lowercase())
        .collect();
    let mut sorted = titles.clone();
    sorted.sort();
    assert_eq!(titles, sorted);

    // Converted into EUR with the fixture rates (which have no JPY, INR or BRL: D2D and
    // Smashwords only, as reports.rs converts them): one currency, the note names the file,
    // and the total is reports.rs's 60.229895 + 23.86184 = 84.091735 EUR.
    let wide = Env::new();
    for f in [
        "d2d/d2d_sales.csv",
        "d2d/d2d_sales_print.csv",
        "smashwords/smashwords_salesReport.tsv",
    ] {
        wide.import(&fixture(f));
    }
    wide.run_worker();
    let opt = RatesOption {
        file: fixture("rates/eur_reference_rates.csv"),
        currency: "EUR".into(),
    };
    let page = wide.page("2025-07-15T09:00:00Z", Some(&opt), None);
    let conv = rows(&page);
    assert!(
        conv.iter().all(|r| r.contains(" EUR</span></td>")),
        "{conv:?}"
    );
    assert!(page.contains("Royalties converted into EUR at the rates of"));
    assert!(page.contains("Royalty per month in EUR, stacked by platform"));
    assert!(page.contains("<tr class=\"total\"><th scope=\"row\" colspan=\"2\">Total EUR</th><td class=\"num\">84.09 EUR</td><td class=\"num\">35</td><td class=\"num\">0</td></tr>"), "{page}");
    assert!(!page.contains("class=\"alert\""));
    // With KDP's JPY, INR and BRL the same file lacks rates: a problem at the top, amounts
    // unconverted.
    let page = env.page("2025-07-15T09:00:00Z", Some(&opt), None);
    assert!(
        page.contains("no BRL rate")
            || page.contains("no INR rate")
            || page.contains("no JPY rate"),
        "{page}"
    );
    // A rates file without the needed rates: a problem at the top, amounts unconverted.
    let bad = env.dir.path().join("rates.csv");
    std::fs::write(&bad, "date,currency,rate\n2025-07-01,USD,1.18\n").unwrap();
    let opt = RatesOption {
        file: bad,
        currency: "EUR".into(),
    };
    let page = env.page("2025-07-15T09:00:00Z", Some(&opt), None);
    assert!(page.contains("class=\"alert\""));
    assert!(page.contains("amounts are shown unconverted"));
    assert!(rows(&page).iter().any(|r| r.contains(" USD</span></td>")));
}

#[test]
fn report_text_is_escaped_and_failed_jobs_get_a_retry_form() {
    let env = Env::new();
    // A D2D report whose title is markup: it must reach the page as text.
    let text = std::fs::read_to_string(fixture("d2d/d2d_sales.csv")).unwrap();
    let evil = "<img src=x onerror=alert(1)> & <b>Co</b>";
    let hostile = env.dir.path().join("evil.csv");
    std::fs::write(
        &hostile,
        text.replace("The Lighthouse Keeper's Daughter", evil),
    )
    .unwrap();
    env.import(&hostile);
    // A second report whose kept copy disappears before the worker runs: the job fails.
    let smash = env.dir.path().join("s.tsv");
    std::fs::copy(fixture("smashwords/smashwords_salesReport.tsv"), &smash).unwrap();
    let failed = env.import(&smash);
    let sha = crate::store::sha256_file(&smash).unwrap();
    std::fs::remove_file(env.dir.path().join("inbox").join(&sha)).unwrap();
    env.run_worker();

    let page = env.page("2025-07-15T09:00:00Z", None, None);
    assert!(!page.contains(evil));
    assert!(!page.contains("<img"));
    assert!(!page.contains("<b>Co"));
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt; &amp; &lt;b&gt;Co&lt;/b&gt;"));

    // The failed job: a problem at the top with a retry form, the jobs list with its history,
    // error and retry form, the card's failed count.
    assert!(page.contains("<section id=\"problems\" class=\"alert\""));
    let form = format!(
        "<form class=\"retry\" method=\"post\" action=\"/ui/jobs/{failed}/retry\"><input type=\"hidden\" name=\"csrf\" value=\"tok&lt;en&gt;\">"
    );
    assert_eq!(page.matches(&form).count(), 2, "{page}");
    let row = &page[page.find(&format!("<tr id=\"job-{failed}\"")).unwrap()..];
    assert!(row.contains("<span class=\"badge failed\">failed</span>"));
    assert!(row.contains("<details><summary>history</summary>"));
    assert!(row.contains("is missing"), "the error is shown");
    assert!(field(card(&page, "smashwords"), "Jobs").contains("1 failed"));
}

#[test]
fn an_empty_store_renders() {
    let env = Env::new();
    let page = env.page("2025-07-15T09:00:00Z", None, Some("bogus\"<"));
    assert!(page.contains("Nothing imported yet"));
    assert!(page.contains("No sales yet."));
    assert!(page.contains("No jobs yet."));
    assert!(page.ends_with("</html>\n"));
}

#[test]
fn month_bounds_cross_the_year() {
    let d = |s: &str| s.parse::<NaiveDate>().unwrap();
    assert_eq!(
        month_bounds(d("2026-01-10")),
        (
            (d("2026-01-01"), d("2026-01-31")),
            (d("2025-12-01"), d("2025-12-31"))
        )
    );
    assert_eq!(
        month_bounds(d("2024-03-31")).1,
        (d("2024-02-01"), d("2024-02-29"))
    );
}

#[test]
fn assets_are_embedded() {
    assert!(asset("dashboard.css").unwrap().0.starts_with("text/css"));
    assert!(asset("dashboard.js").unwrap().1.contains("X-CSRF-Token"));
    assert!(asset("../Cargo.toml").is_none());
}
