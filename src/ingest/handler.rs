//! The job handler `run-worker` uses: decode a job's input, fetch its kept copy, run the platform
//! adapter, and stage (file imports) or upsert (API sales) its events through the store.

use chrono::NaiveDate;

use super::staging::stage_parsed;
use crate::config::Settings;
use crate::model::{JobInput, Platform, SaleEvent};
use crate::output::Progress;
use crate::platforms::{self, gumroad, PlatformError, SinkError};
use crate::queue::worker::{Handler, JobControl};
use crate::queue::{ClaimedJob, Effects, EventCounts, JobError, JobResult};
use crate::store::{ImportStaging, LocalBlob, Precedence, StagingDone, Store};

/// The job handler `run-worker` uses.
pub struct IngestHandler<'a> {
    pub db: &'a dyn Store,
    pub settings: &'a Settings,
    /// Draw progress bars (only on a terminal, never with `--json`/`--quiet`).
    pub progress: bool,
}

impl Handler for IngestHandler<'_> {
    fn handle(
        &mut self,
        job: &ClaimedJob,
        ctl: &JobControl,
    ) -> Result<(JobResult, Effects), JobError> {
        let input: JobInput = serde_json::from_str(&job.input).map_err(|e| {
            JobError::Permanent(format!("job {} has an unreadable payload: {e}", job.id))
        })?;
        let platform = Platform::parse(&job.platform).ok_or_else(|| {
            JobError::Permanent(format!(
                "job {} names an unknown platform `{}`",
                job.id, job.platform
            ))
        })?;
        match input {
            JobInput::File { file, sha256, size } => {
                self.import_file(job, ctl, platform, &file, &sha256, size)
            }
            JobInput::Sync { since, until } => self.sync_gumroad(job, ctl, since, until),
            JobInput::Ping { file, sha256 } => self.ingest_ping(job, &file, &sha256),
        }
    }
}

impl IngestHandler<'_> {
    /// The job's input from the blob store; a missing one fails the job for good (it will not
    /// come back by retrying), a store error is worth a retry.
    fn kept_input(&self, sha256: &str, file: &str, what: &str) -> Result<LocalBlob, JobError> {
        match self.db.fetch_blob(sha256) {
            Ok(Some(blob)) => Ok(blob),
            Ok(None) => Err(JobError::Permanent(format!(
                "the kept copy `{}` of `{file}` is missing: enqueue the {what} again",
                self.db.blob_location(sha256)
            ))),
            Err(e) => Err(JobError::Transient(format!(
                "cannot read the kept copy of `{file}`: {e:#}"
            ))),
        }
    }

    fn import_file(
        &self,
        job: &ClaimedJob,
        ctl: &JobControl,
        platform: Platform,
        file: &str,
        sha256: &str,
        size: u64,
    ) -> Result<(JobResult, Effects), JobError> {
        let blob = self.kept_input(sha256, file, "file")?;
        let stored = blob.path();
        let mut import = self
            .db
            .begin_import(&job.lease, platform.as_str(), file, sha256);
        let progress = if self.progress {
            Progress::bytes(size, &format!("job {} {file}", job.id))
        } else {
            Progress::hidden()
        };
        let parse = |sink: &mut dyn platforms::EventSink| {
            platforms::parse_file(platform, stored, file, sink)
        };
        // Gumroad's Sales CSV export holds sales the API also gives, keyed by sale id: they are
        // upserted with the API's (each sale once, whichever comes first), and the import only
        // records the file (no coverage, so it replaces nothing).
        let (parsed, counts) = if platform == Platform::Gumroad {
            let mut upsert = UpsertStaging {
                db: self.db,
                job_id: job.id,
                inner: import.as_mut(),
                counts: EventCounts::default(),
            };
            let parsed = stage_parsed(&mut upsert, ctl, &progress, parse);
            (parsed, Some(upsert.counts))
        } else {
            (stage_parsed(import.as_mut(), ctl, &progress, parse), None)
        };
        progress.finish();
        match (parsed, import.import_id()) {
            (Ok(summary), Some(import_id)) => {
                let payouts = payouts_of(platform, &summary);
                let result = JobResult {
                    events: counts.unwrap_or(EventCounts {
                        inserted: import.staged(),
                        updated: 0,
                        removed: 0,
                    }),
                    layout: Some(summary.layout),
                    rows: summary.rows,
                    warnings: summary.warnings,
                };
                Ok((
                    result,
                    Effects {
                        import_id: Some(import_id),
                        payouts,
                    },
                ))
            }
            (Ok(_), None) => Err(JobError::Transient(
                "the import was not recorded (database error?)".to_string(),
            )),
            (Err(e), id) => {
                // Best effort: the store also discards staging when the failure is recorded.
                if let Some(id) = id {
                    let _ = self.db.discard_import(id);
                }
                Err(ctl.should_stop().unwrap_or_else(|| classify(e)))
            }
        }
    }
}

impl IngestHandler<'_> {
    fn sync_gumroad(
        &self,
        job: &ClaimedJob,
        ctl: &JobControl,
        since: Option<NaiveDate>,
        until: Option<NaiveDate>,
    ) -> Result<(JobResult, Effects), JobError> {
        let g = &self.settings.gumroad;
        let token = g
            .access_token
            .as_ref()
            .ok_or_else(|| JobError::Permanent(crate::config::NO_GUMROAD_TOKEN.to_string()))?;
        let db_err = |e: anyhow::Error| JobError::Transient(format!("database error: {e:#}"));
        let cursor = self.db.sync_cursor("gumroad").map_err(db_err)?;
        let today = chrono::Utc::now().date_naive();
        let windows =
            gumroad::plan_windows(since, until, cursor, today, g.trailing_days, g.first_sync);
        let client = gumroad::Client::new(g.api_url.clone(), token.expose());
        let progress = if self.progress {
            Progress::spinner(&format!("job {} gumroad sync", job.id))
        } else {
            Progress::hidden()
        };
        let mut sink = GumroadSink {
            db: self.db,
            job_id: job.id,
            ctl,
            // Only a sync that starts from the cursor (or the first sync) is contiguous, so
            // only it may move the cursor: an old --since window must not skip history.
            store_cursor: since.is_none(),
            counts: EventCounts::default(),
            progress,
        };
        let res = gumroad::sync(&client, &windows, &mut sink);
        sink.progress.finish();
        let summary = res.map_err(|e| ctl.should_stop().unwrap_or_else(|| classify(e)))?;
        Ok((
            JobResult {
                events: sink.counts,
                layout: Some(format!(
                    "Gumroad API v2 sales: {} window(s), {} page(s)",
                    summary.windows, summary.pages
                )),
                rows: summary.sales,
                warnings: summary.warnings,
            },
            Effects::default(),
        ))
    }

    fn ingest_ping(
        &self,
        job: &ClaimedJob,
        file: &str,
        sha256: &str,
    ) -> Result<(JobResult, Effects), JobError> {
        let blob = self.kept_input(sha256, file, "Ping")?;
        let body = std::fs::read(blob.path()).map_err(|e| {
            JobError::Transient(format!("cannot read `{}`: {e}", blob.path().display()))
        })?;
        let g = &self.settings.gumroad;
        let ping =
            gumroad::parse_ping_opts(&body, file, g.access_token.is_none()).map_err(classify)?;
        // With a token the API is the source of truth: the job stores its version of the sale
        // (a 404 is a sale the API does not know: a test purchase, never counted). A test
        // purchase is never fetched nor stored: the job completes with the warning naming it.
        let (event, warnings, layout) = match &g.access_token {
            Some(token) if !ping.test => {
                let client = gumroad::Client::new(g.api_url.clone(), token.expose());
                match gumroad::fetch_sale(&client, &ping.sale_id).map_err(classify)? {
                    Some((event, warning)) => (
                        Some(event),
                        warning.map(|w| format!("`{file}`: {w}")).into_iter().collect(),
                        "Gumroad Ping, sale from API v2 /v2/sales/:id",
                    ),
                    None => (
                        None,
                        vec![format!(
                            "`{file}`: Gumroad sale `{}` is not known to Gumroad's API (GET /v2/sales/:id answered 404: a test purchase or a test Ping); it is not counted and not stored",
                            ping.sale_id
                        )],
                        "Gumroad Ping, sale not in API v2",
                    ),
                }
            }
            _ => (ping.event, ping.warnings, "Gumroad Ping"),
        };
        let (inserted, updated) = match &event {
            Some(event) => self
                .db
                .upsert_events(
                    "gumroad",
                    job.id,
                    std::slice::from_ref(event),
                    None,
                    Precedence::Authoritative,
                )
                .map_err(|e| JobError::Transient(format!("database error: {e:#}")))?,
            None => (0, 0),
        };
        Ok((
            JobResult {
                events: EventCounts {
                    inserted,
                    updated,
                    removed: 0,
                },
                layout: Some(layout.to_string()),
                rows: 1,
                warnings,
            },
            Effects::default(),
        ))
    }
}

/// The staging of a Gumroad Sales CSV export: every chunk upserted by sale id as the API's
/// pages are (`upsert_events`), but only filling in (`Precedence::FillIn`): a sale the API or a
/// Ping already stored keeps the API's fields (its ISO country, product id, raw), while a later
/// sync still overwrites a sale the CSV stored. An import with no events and no coverage recorded with the
/// last chunk, so that the same file is "already imported" and its job's import turns live.
struct UpsertStaging<'a, 'b> {
    db: &'a dyn Store,
    job_id: i64,
    inner: &'b mut (dyn ImportStaging + 'a),
    counts: EventCounts,
}

impl ImportStaging for UpsertStaging<'_, '_> {
    fn stage(&mut self, events: &[SaleEvent], done: Option<StagingDone<'_>>) -> anyhow::Result<()> {
        if !events.is_empty() {
            let (inserted, updated) = self.db.upsert_events(
                Platform::Gumroad.as_str(),
                self.job_id,
                events,
                None,
                Precedence::FillIn,
            )?;
            self.counts.inserted += inserted;
            self.counts.updated += updated;
        }
        match done {
            Some(done) => self.inner.stage(
                &[],
                Some(StagingDone {
                    layout: done.layout,
                    rows: done.rows,
                    coverage: &[],
                }),
            ),
            None => Ok(()),
        }
    }

    fn import_id(&self) -> Option<i64> {
        self.inner.import_id()
    }

    fn staged(&self) -> u64 {
        self.counts.inserted + self.counts.updated
    }
}

struct GumroadSink<'a> {
    db: &'a dyn Store,
    job_id: i64,
    ctl: &'a JobControl,
    store_cursor: bool,
    counts: EventCounts,
    progress: Progress,
}

impl gumroad::PageSink for GumroadSink<'_> {
    fn page(
        &mut self,
        events: Vec<SaleEvent>,
        window_done: Option<NaiveDate>,
    ) -> Result<(), SinkError> {
        if let Some(stop) = self.ctl.should_stop() {
            return Err(SinkError(anyhow::anyhow!("{}", stop.message())));
        }
        let cursor = window_done.filter(|_| self.store_cursor);
        let (inserted, updated) = self
            .db
            .upsert_events(
                "gumroad",
                self.job_id,
                &events,
                cursor,
                Precedence::Authoritative,
            )
            .map_err(SinkError)?;
        self.counts.inserted += inserted;
        self.counts.updated += updated;
        Ok(())
    }

    fn progress(&mut self, pages: u64, sales: u64) {
        self.progress
            .message(format!("gumroad sync: {pages} page(s), {sales} sale(s)"));
    }
}

/// Map an adapter error to the queue's classification.
pub fn classify(e: PlatformError) -> JobError {
    match e {
        PlatformError::Rejected(ie) => JobError::Permanent(format!(
            "input rejected: {ie}; fix or re-download the report, then enqueue it again"
        )),
        PlatformError::Permanent(m) => JobError::Permanent(m),
        PlatformError::Transient(m) => JobError::Transient(m),
        PlatformError::RateLimited {
            retry_after,
            message,
        } => JobError::RateLimited {
            after_ms: i64::try_from(retry_after.as_millis()).unwrap_or(i64::MAX),
            message,
        },
        PlatformError::Sink(e) => JobError::Transient(format!("{e}")),
    }
}

/// The payouts a parsed file hands to the store with its import: the ones it records row by
/// row (KDP Payments, Smashwords `payment` rows), and the payments its payment columns state
/// for a date (Google Play's `Earnings Date`, StreetLib's `Billing date`), as `stated` payouts.
/// A statement without a date (Apple's, IngramSpark's, Kobo's `Summary`) says what is owed,
/// not what was paid: it is not a payout.
fn payouts_of(platform: Platform, summary: &platforms::ParseSummary) -> Vec<crate::model::Payout> {
    let mut out = summary.payouts.clone();
    for p in &summary.payments {
        let Some(date) = p.date else { continue };
        let mut payout = crate::model::Payout::simple(
            platform,
            &p.source,
            crate::model::iso_date(date),
            date,
            p.amount_micros,
            p.currency.clone(),
            0,
        );
        payout.period = p.period;
        payout.status = "stated".to_string();
        out.push(payout);
    }
    out
}
