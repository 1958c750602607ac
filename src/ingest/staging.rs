//! A report file parsed on one thread while its events are staged on this one, in chunks.

use crate::model::SaleEvent;
use crate::output::Progress;
use crate::platforms::{EventSink, ParseSummary, PlatformError, SinkError};
use crate::queue::worker::JobControl;
use crate::store::{ImportStaging, StagingDone};

/// Events staged per transaction: large enough to be fast, small enough that other workers get
/// the write lock between chunks.
const STAGE_CHUNK: usize = 5_000;

/// Text staged per transaction at most, in bytes: a chunk of rows far wider than any report's
/// (a text report's row may be up to 1 MB) is cut short, so that the two chunks in memory stay
/// a few MB whatever the rows. A D2D chunk of 5,000 rows holds about 1.6 MB.
const STAGE_CHUNK_BYTES: usize = 4 << 20;

/// The text an event holds, as counted against `STAGE_CHUNK_BYTES`.
fn text_bytes(e: &SaleEvent) -> usize {
    e.raw.len()
        + e.title.len()
        + e.product_id.len()
        + e.family.len()
        + e.source.len()
        + e.marketplace.len()
        + e.retailer.len()
        + e.country.len()
        + e.currency.len()
        + e.status.len()
        + e.natural_key.as_ref().map_or(0, String::len)
}

/// What the parser thread hands to the staging thread.
enum Parsed {
    /// A full chunk of events.
    Chunk(Vec<SaleEvent>),
    /// The last events and the parse's summary: the file parsed to its end.
    Done(Vec<SaleEvent>, ParseSummary),
}

/// Parse on one thread and stage on this one, so that a big file's parsing (CSV, decimals,
/// the raw row) overlaps its writing instead of adding to it. Chunks of `STAGE_CHUNK` events
/// (or `STAGE_CHUNK_BYTES` of text, whichever comes first) are handed over without a queue (a
/// rendezvous channel): at most two chunks are in memory, the one being staged and the next,
/// parsed and waiting. Parsing is the faster side, so a queue would only hold more memory. The
/// last chunk is staged with the summary, which makes the import complete.
///
/// When staging fails (database error, lost lease, the worker told to stop) the channel is
/// closed, the parser's next send fails and it stops; the staging error is the one returned.
pub(super) fn stage_parsed<F>(
    import: &mut dyn ImportStaging,
    ctl: &JobControl,
    progress: &Progress,
    parse: F,
) -> Result<ParseSummary, PlatformError>
where
    F: FnOnce(&mut dyn EventSink) -> Result<ParseSummary, PlatformError> + Send,
{
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Parsed>(0);
        let parser = scope.spawn(move || {
            let mut sink = ChannelSink {
                tx,
                buf: Vec::with_capacity(STAGE_CHUNK),
                buf_bytes: 0,
                progress,
            };
            let summary = parse(&mut sink)?;
            let last = std::mem::take(&mut sink.buf);
            // A closed channel means staging failed; its error is reported instead.
            let _ = sink.tx.send(Parsed::Done(last, summary.clone()));
            Ok(summary)
        });
        let mut staged: Result<bool, SinkError> = Ok(false);
        while let Ok(msg) = rx.recv() {
            let (events, done) = match &msg {
                Parsed::Chunk(events) => (events, None),
                Parsed::Done(events, summary) => (
                    events,
                    Some(StagingDone {
                        layout: &summary.layout,
                        rows: summary.rows,
                        coverage: &summary.coverage,
                    }),
                ),
            };
            let finished = done.is_some();
            let step = match ctl.should_stop() {
                Some(stop) => Err(anyhow::anyhow!("{}", stop.message())),
                None => import.stage(events, done),
            };
            if let Err(e) = step {
                staged = Err(SinkError(e));
                break;
            }
            staged = Ok(finished);
        }
        drop(rx);
        let parsed: Result<ParseSummary, PlatformError> = parser
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        match (staged, parsed) {
            (Err(e), _) => Err(PlatformError::from(e)),
            (Ok(_), Err(e)) => Err(e),
            (Ok(true), Ok(summary)) => Ok(summary),
            (Ok(false), Ok(_)) => Err(PlatformError::from(SinkError(anyhow::anyhow!(
                "the parser finished without handing over its last events"
            )))),
        }
    })
}

/// The parser thread's sink: events in chunks to the staging thread.
struct ChannelSink<'a> {
    tx: std::sync::mpsc::SyncSender<Parsed>,
    buf: Vec<SaleEvent>,
    /// `text_bytes` of the events in `buf`.
    buf_bytes: usize,
    progress: &'a Progress,
}

impl EventSink for ChannelSink<'_> {
    fn event(&mut self, event: SaleEvent) -> Result<(), SinkError> {
        self.buf_bytes += text_bytes(&event);
        self.buf.push(event);
        if self.buf.len() >= STAGE_CHUNK || self.buf_bytes >= STAGE_CHUNK_BYTES {
            self.buf_bytes = 0;
            let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(STAGE_CHUNK));
            self.tx.send(Parsed::Chunk(chunk)).map_err(|_| {
                SinkError(anyhow::anyhow!(
                    "staging stopped before the file was parsed"
                ))
            })?;
        }
        Ok(())
    }

    fn progress(&mut self, bytes_read: u64) {
        self.progress.set(bytes_read);
    }
}

#[cfg(test)]
mod tests {
    #[allow(unused_imports)]
    use crate::store::{ReportStore as _, SalesStore as _, UpkeepStore as _};
    use std::io::Write as _;

    use super::{stage_parsed, STAGE_CHUNK};
    use crate::model::Platform;
    use crate::output::Progress;
    use crate::platforms::{self, PlatformError, SinkError};
    use crate::queue::worker::JobControl;
    use crate::queue::Lease;
    use crate::store::testutil::{claimed_lease, import_events, temp_db};
    use crate::store::ImportStaging;

    const HEADER: &str = "Start Date,End Date,Publisher,Title ID,Ebook ISBN,Title,Primary Author,Distributor,Vendor,Country,Units Sold,Units Returned,Net Unit Sales,Sales Model,Retailer,List Price Per Unit,Currency Code,Offer Price Per Unit,Royalty Percent,Sales Channel Fee/Taxes Per Unit,Extended Sales Channel Revenue,Sales Channel Share,D2D Share,Publisher Share,Publisher Share USD (estimated),Verified";

    fn row(day: u32) -> String {
        format!(
            "2025-03-{:02},2025-03-{:02},Lantern Lane Press,1203346,9781732461031,A Harbor in Winter,Jane Q. Writer,Kobo,Kobo,CA,1,0,1,Retail,Kobo,7.85,CAD,7.85,70,0.00,7.85,2.36,0.00,5.49,3.95,true",
            day % 28 + 1,
            day % 28 + 1
        )
    }

    /// A D2D report of `good` rows, then `bad` if given.
    fn report(dir: &std::path::Path, good: u32, bad: Option<&str>) -> std::path::PathBuf {
        let path = dir.join("report.csv");
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        writeln!(f, "{HEADER}").unwrap();
        for i in 0..good {
            writeln!(f, "{}", row(i)).unwrap();
        }
        if let Some(bad) = bad {
            writeln!(f, "{bad}").unwrap();
        }
        f.into_inner().unwrap();
        path
    }

    /// One event as the D2D adapter makes it from `row(0)`.
    fn one_event() -> crate::model::SaleEvent {
        struct Keep(Option<crate::model::SaleEvent>);
        impl platforms::EventSink for Keep {
            fn event(&mut self, e: crate::model::SaleEvent) -> Result<(), SinkError> {
                self.0 = Some(e);
                Ok(())
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = report(dir.path(), 1, None);
        let mut keep = Keep(None);
        platforms::parse_file(Platform::Draft2digital, &path, "report.csv", &mut keep).unwrap();
        keep.0.expect("one event")
    }

    /// Stage the D2D report at `path` through `stage_parsed`, as a claimed job's import.
    fn stage_report<'a>(
        db: &'a crate::store::sqlite::Db,
        path: &std::path::Path,
    ) -> (
        Box<dyn ImportStaging + 'a>,
        Result<platforms::ParseSummary, PlatformError>,
    ) {
        let lease = claimed_lease(db, "draft2digital");
        let mut import = db.begin_import(&lease, "draft2digital", "report.csv", "abc");
        let parsed = stage_parsed(
            import.as_mut(),
            &JobControl::default(),
            &Progress::hidden(),
            |sink| platforms::parse_file(Platform::Draft2digital, path, "report.csv", sink),
        );
        (import, parsed)
    }

    /// A bad row after whole chunks were staged fails the import with the parser's error (what
    /// and where), after the chunks before it were staged by the other thread.
    #[test]
    fn a_bad_row_after_staged_chunks_fails_with_the_parse_error() {
        let (dir, db) = temp_db();
        let good = 2 * STAGE_CHUNK as u32 + 7;
        let bad = row(1).replacen("2025-03-02", "2025-13-45", 1);
        let path = report(dir.path(), good, Some(&bad));
        let (import, parsed) = stage_report(&db, &path);
        let err = parsed.unwrap_err();
        let PlatformError::Rejected(e) = &err else {
            panic!("expected the parse error, got {err:?}");
        };
        let line = good as usize + 2;
        assert!(
            format!("{e}").contains(&format!("line {line}")),
            "the error names the line: {e}"
        );
        assert_eq!(
            import.staged(),
            2 * STAGE_CHUNK as u64,
            "two chunks were staged"
        );
    }

    /// The whole file is staged, the last chunk with the summary, and nothing is lost between
    /// the threads.
    #[test]
    fn every_event_is_staged_once_with_the_summary() {
        let (dir, db) = temp_db();
        let good = 2 * STAGE_CHUNK as u32 + 7;
        let path = report(dir.path(), good, None);
        let (import, parsed) = stage_report(&db, &path);
        let summary = parsed.unwrap();
        assert_eq!(summary.rows, u64::from(good));
        assert_eq!(import.staged(), u64::from(good));
        let staged = import_events(&db, import.import_id().unwrap());
        assert_eq!(staged, i64::from(good));
    }

    /// Rows far wider than a report's are staged in chunks cut by their text, not by count: the
    /// chunks in memory stay a few MB.
    #[test]
    fn wide_rows_are_chunked_by_their_text() {
        let (tx, rx) = std::sync::mpsc::sync_channel(100);
        let progress = Progress::hidden();
        let mut sink = super::ChannelSink {
            tx,
            buf: Vec::new(),
            buf_bytes: 0,
            progress: &progress,
        };
        let one = one_event();
        let mut wide = one.clone();
        wide.title = "w".repeat(1 << 20);
        for _ in 0..10 {
            platforms::EventSink::event(&mut sink, wide.clone()).unwrap();
        }
        let Ok(super::Parsed::Chunk(first)) = rx.try_recv() else {
            panic!("a chunk is handed over before 5,000 events");
        };
        assert_eq!(first.len(), super::STAGE_CHUNK_BYTES >> 20);
        assert!(rx.try_recv().is_ok(), "and the next one");
        assert_eq!(sink.buf.len(), 2);
        // Ordinary rows go by count.
        for _ in 0..STAGE_CHUNK {
            platforms::EventSink::event(&mut sink, one.clone()).unwrap();
        }
        let Ok(super::Parsed::Chunk(third)) = rx.try_recv() else {
            panic!("a chunk of ordinary rows");
        };
        assert_eq!(third.len(), STAGE_CHUNK);
    }

    /// When staging fails (here: the job's lease is not held), its error is returned and the
    /// parser stops at its next chunk instead of reading the rest of the file.
    #[test]
    fn a_staging_error_stops_the_parser() {
        let (_dir, db) = temp_db();
        let one = one_event();
        let lease = Lease {
            job_id: 999,
            owner: "nobody:1:1".into(),
            claim: 1,
        };
        let mut import = db.begin_import(&lease, "draft2digital", "report.csv", "abc");
        let sent = std::sync::atomic::AtomicUsize::new(0);
        let err = stage_parsed(
            import.as_mut(),
            &JobControl::default(),
            &Progress::hidden(),
            |sink| {
                for _ in 0..100 * STAGE_CHUNK {
                    sink.event(one.clone())?;
                    sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Ok(platforms::ParseSummary::default())
            },
        )
        .unwrap_err();
        assert!(format!("{err}").contains("lease lost"), "{err}");
        let sent = sent.into_inner();
        assert!(
            sent < 4 * STAGE_CHUNK,
            "the parser stopped early ({sent} events)"
        );
        assert_eq!(import.staged(), 0);
    }
}
