//! Property test: import idempotency through the real store and worker.
//!
//! For random sequences of overlapping Draft2Digital reports (random day ranges, rows and
//! amounts), importing them in order gives, for every day, exactly the rows of the *last
//! imported file whose coverage [first day, last day] includes that day* — replace-by-coverage —
//! no matter what the earlier files held. Runs through `ingest::check_file` (enqueue-time check
//! and inbox copy), `JobStore::enqueue`, `queue::worker::run` with the real `IngestHandler`, and
//! reads the result back with SQL from `live_sales`.

use std::collections::BTreeMap;

use proptest::prelude::*;
use salesingest::ingest::{check_file, IngestHandler};
use salesingest::model::Platform;
use salesingest::queue::worker::{self, WorkerConfig};
use salesingest::queue::{JobStore, NewJob};
use salesingest::store::{self, Location, OpenOptions};

use crate::util::{d2d_row, day, write_d2d};

/// One report file: rows as (day offset, royalty cents).
type File = Vec<(i64, i64)>;

fn file() -> impl Strategy<Value = File> {
    // A start day and a span within a 40-day window, then 1–8 rows on days inside the span.
    (0i64..30, 0i64..12).prop_flat_map(|(start, span)| {
        proptest::collection::vec((start..=start + span, -500i64..5_000), 1..8)
    })
}

/// The model: for each day, the rows of the last file whose [min, max] covers it.
fn model(files: &[File]) -> BTreeMap<i64, (i64, i64)> {
    let mut days: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for f in files {
        let lo = f.iter().map(|r| r.0).min().unwrap();
        let hi = f.iter().map(|r| r.0).max().unwrap();
        for d in lo..=hi {
            days.insert(d, Vec::new());
        }
        for (d, cents) in f {
            days.get_mut(d).unwrap().push(*cents);
        }
    }
    days.into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(d, v)| (d, (v.len() as i64, v.iter().sum::<i64>() * 10_000)))
        .collect()
}

fn cents(c: i64) -> String {
    let sign = if c < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", c.abs() / 100, c.abs() % 100)
}

fn import_all(files: &[File]) -> BTreeMap<i64, (i64, i64)> {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("p.db");
    // An empty config file, so the developer's own config never leaks in.
    std::fs::write(dir.path().join("none.toml"), "").unwrap();
    let settings = salesingest::config::load(
        Some(db_path.to_str().unwrap()),
        Some(dir.path().join("none.toml")),
        true,
    )
    .unwrap();
    let location = Location::Sqlite(db_path.clone());
    let opened = store::open(&location, &OpenOptions::default()).unwrap();
    let db = opened.as_ref();
    for (i, f) in files.iter().enumerate() {
        let path = dir.path().join(format!("d2d_{i}.csv"));
        let rows: Vec<String> = f
            .iter()
            .map(|(d, c)| d2d_row(&day(*d), &cents(*c), 1))
            .collect();
        write_d2d(&path, &rows);
        let checked = check_file(db, Platform::Draft2digital, &path).unwrap();
        db.enqueue(&NewJob {
            platform: "draft2digital".into(),
            input: serde_json::to_string(&checked.input).unwrap(),
            priority: 0,
            run_at: Some(0),
            max_attempts: 1,
            unique_key: None,
        })
        .unwrap();
        let mut handler = IngestHandler {
            db,
            settings: &settings,
            progress: false,
        };
        let l = location.clone();
        let open_hb = move || -> anyhow::Result<Box<dyn JobStore + Send>> {
            Ok(store::open(&l, &OpenOptions::default())?.into_queue())
        };
        let cfg = WorkerConfig {
            batch: 1,
            platform: None,
            lease_ms: 60_000,
            policy: settings.queue.retry.clone(),
            retention: settings.queue.retention.clone(),
            window: salesingest::queue::worker::DEFAULT_WINDOW,
            args: "props".into(),
        };
        let report = worker::run(db.queue(), &open_hb, &mut handler, &cfg, &mut |_| {}).unwrap();
        assert_eq!(report.counts.completed, 1, "{:?}", report.jobs);
    }
    drop(opened);
    let c = rusqlite::Connection::open(&db_path).unwrap();
    let per_day = |count: &str, view: &str| -> BTreeMap<i64, (i64, i64)> {
        let mut stmt = c
            .prepare(&format!(
                "SELECT julianday(period_start) - julianday('2020-01-01'), {count},
                        sum(royalty_micros)
                   FROM {view} GROUP BY period_start"
            ))
            .unwrap();
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, f64>(0)? as i64, (r.get(1)?, r.get(2)?)))
            })
            .unwrap();
        rows.collect::<rusqlite::Result<_>>().unwrap()
    };
    let events = per_day("count(*)", "live_sales");
    // The report rollup (what `status` and `sales summary` read, summed as each import was
    // staged, with replaced rows taken out by triggers) holds exactly the same.
    assert_eq!(
        per_day("sum(events)", "live_rollup"),
        events,
        "rollup vs events"
    );
    events
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn overlapping_imports_equal_newest_file_per_covered_day(
        files in proptest::collection::vec(file(), 1..6)
    ) {
        prop_assert_eq!(import_all(&files), model(&files));
    }
}
