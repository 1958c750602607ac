//! `impl ReportStore for Db`: the read-only queries behind `status`, `jobs`, `logs` and the
//! overview, and the report queries behind `sales summary|export|chart` (grouped totals of
//! effective sales, and a streaming walk over effective events).
//!
//! Every sales query reads the `effective_*` views: staged imports are hidden and KDP estimates
//! of a month with a final KDP report are shadowed (DESIGN §5).

use std::collections::HashMap;

use anyhow::{Context, Result};
use rusqlite::types::Value;
use rusqlite::{params, OptionalExtension, Row};

use super::Db;
use crate::model::RawKeys;
use crate::queue::Millis;
use crate::store::{
    AmountRow, AttemptRow, CurrencyTotal, Dim, EventRow, GroupRow, JobRow, PlatformOverview,
    ReportFilter, ReportStore, RunRow,
};

const JOB_COLS: &str = "id, platform, state, attempts, max_attempts, priority, created_at, run_at,
    finished_at, last_error, input, result, cancel_requested";

fn job_row(r: &Row<'_>) -> rusqlite::Result<JobRow> {
    Ok(JobRow {
        id: r.get(0)?,
        platform: r.get(1)?,
        state: r.get(2)?,
        attempts: r.get(3)?,
        max_attempts: r.get(4)?,
        priority: r.get(5)?,
        created_at: r.get(6)?,
        run_at: r.get(7)?,
        finished_at: r.get(8)?,
        last_error: r.get(9)?,
        input: r.get(10)?,
        result: r.get(11)?,
        cancel_requested: r.get(12)?,
    })
}

impl ReportFilter {
    /// The WHERE clause and its parameters.
    fn clause(&self) -> (String, Vec<Value>) {
        self.clause_with("")
    }

    /// The WHERE clause with `prefix` before each column: `+` keeps SQLite from using an index
    /// for the filter, so that a walk in id order needs no sort.
    fn clause_with(&self, prefix: &str) -> (String, Vec<Value>) {
        let mut conds = Vec::new();
        let mut params: Vec<Value> = Vec::new();
        if let Some(s) = &self.since {
            params.push(Value::Text(s.clone()));
            conds.push(format!("{prefix}period_end >= ?{}", params.len()));
        }
        if let Some(u) = &self.until {
            params.push(Value::Text(u.clone()));
            conds.push(format!("{prefix}period_end <= ?{}", params.len()));
        }
        if !self.platforms.is_empty() {
            let mut marks = Vec::new();
            for p in &self.platforms {
                params.push(Value::Text(p.clone()));
                marks.push(format!("?{}", params.len()));
            }
            conds.push(format!("{prefix}platform IN ({})", marks.join(", ")));
        }
        if self.final_only {
            conds.push(format!("{prefix}is_final = 1"));
        }
        if conds.is_empty() {
            (String::new(), params)
        } else {
            (format!(" WHERE {}", conds.join(" AND ")), params)
        }
    }
}

impl ReportStore for Db {
    fn job(&self, id: i64) -> Result<Option<JobRow>> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {JOB_COLS} FROM jobs WHERE id = ?1"),
                params![id],
                job_row,
            )
            .optional()?)
    }

    fn jobs(&self, state: Option<&str>, platform: Option<&str>, limit: i64) -> Result<Vec<JobRow>> {
        let mut stmt = self.conn().prepare(&format!(
            "SELECT {JOB_COLS} FROM jobs WHERE (?1 IS NULL OR state = ?1)
               AND (?2 IS NULL OR platform = ?2) ORDER BY id DESC LIMIT ?3"
        ))?;
        let rows = stmt.query_map(params![state, platform, limit], job_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn attempts(&self, job_id: i64) -> Result<Vec<AttemptRow>> {
        let mut stmt = self.conn().prepare(
            "SELECT attempt, started_at, finished_at, outcome, error, worker FROM attempts
              WHERE job_id = ?1 ORDER BY attempt",
        )?;
        let rows = stmt.query_map(params![job_id], |r| {
            Ok(AttemptRow {
                attempt: r.get(0)?,
                started_at: r.get(1)?,
                finished_at: r.get(2)?,
                outcome: r.get(3)?,
                error: r.get(4)?,
                worker: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn runs(&self, limit: i64, failed_only: bool) -> Result<Vec<RunRow>> {
        // A run writes its counts when it finishes; for one that has not (killed, or still
        // running) they are counted here from the attempts that name it, at read time, so the
        // queue's hot path pays no write per claim. Unfinished runs are rare and attempts are
        // pruned with their jobs, so the scan of `attempts` this needs stays small.
        let mut stmt = self.conn().prepare(
            "WITH open_runs AS (
               SELECT a.run_id,
                      count(*) AS claimed,
                      coalesce(sum(a.outcome = 'completed'), 0) AS completed,
                      coalesce(sum(a.outcome = 'retrying' OR a.outcome = 'rate_limited'), 0) AS retrying,
                      coalesce(sum(a.outcome = 'failed'), 0) AS failed
                 FROM attempts a
                WHERE a.run_id IN (SELECT id FROM cron_runs WHERE finished_at IS NULL)
                GROUP BY a.run_id)
             SELECT r.id, r.started_at, r.finished_at, r.host, r.pid, r.owner,
                    CASE WHEN r.finished_at IS NULL THEN coalesce(o.claimed, 0) ELSE r.claimed END,
                    CASE WHEN r.finished_at IS NULL THEN coalesce(o.completed, 0) ELSE r.completed END,
                    CASE WHEN r.finished_at IS NULL THEN coalesce(o.retrying, 0) ELSE r.retrying END,
                    CASE WHEN r.finished_at IS NULL THEN coalesce(o.failed, 0) ELSE r.failed END,
                    r.rescued, r.exit_code
               FROM cron_runs r LEFT JOIN open_runs o ON o.run_id = r.id
              WHERE (?2 = 0 OR r.failed > 0 OR r.exit_code != 0 OR r.finished_at IS NULL)
              ORDER BY r.id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit, failed_only], |r| {
            Ok(RunRow {
                id: r.get(0)?,
                started_at: r.get(1)?,
                finished_at: r.get(2)?,
                host: r.get(3)?,
                pid: r.get(4)?,
                owner: r.get(5)?,
                claimed: r.get(6)?,
                completed: r.get(7)?,
                retrying: r.get(8)?,
                failed: r.get(9)?,
                rescued: r.get(10)?,
                exit_code: r.get(11)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn next_due_job(&self, platform: Option<&str>) -> Result<Option<(i64, Millis)>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, run_at FROM jobs
                  WHERE state IN ('queued','retrying') AND (?1 IS NULL OR platform = ?1)
                  ORDER BY run_at, id LIMIT 1",
                params![platform],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    fn totals(&self) -> Result<Vec<CurrencyTotal>> {
        let mut stmt = self.conn().prepare(
            "SELECT platform, currency, sum(events), sum(units), sum(kenp_pages), sum(royalty_micros)
               FROM effective_rollup GROUP BY platform, currency ORDER BY platform, currency",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(CurrencyTotal {
                platform: r.get(0)?,
                currency: r.get(1)?,
                events: r.get(2)?,
                units: r.get(3)?,
                kenp_pages: r.get(4)?,
                royalty_micros: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn overview(&self, platforms: &[&str]) -> Result<Vec<PlatformOverview>> {
        let c = self.conn();
        let mut out = Vec::new();
        for p in platforms {
            let mut o = PlatformOverview {
                platform: (*p).to_string(),
                ..PlatformOverview::default()
            };
            (o.events, o.first_period, o.last_period) = c.query_row(
                "SELECT coalesce(sum(events), 0), min(period_start), max(period_end)
                   FROM effective_rollup WHERE platform = ?1",
                params![p],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            (o.final_through, o.estimated_through) = c.query_row(
                "SELECT max(CASE WHEN is_final THEN period_end END),
                        max(CASE WHEN NOT is_final THEN period_end END)
                   FROM effective_rollup WHERE platform = ?1",
                params![p],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let last: Option<(i64, Millis)> = c
                .query_row(
                    "SELECT id, finished_at FROM jobs WHERE platform = ?1 AND state = 'completed'
                      ORDER BY finished_at DESC LIMIT 1",
                    params![p],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if let Some((id, at)) = last {
                o.last_success_job = Some(id);
                o.last_success = Some(at);
            }
            let mut stmt = c.prepare_cached(
                "SELECT state, count(*) FROM jobs WHERE platform = ?1
                   AND state IN ('queued','processing','retrying','failed') GROUP BY state",
            )?;
            let counts = stmt.query_map(params![p], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?;
            for row in counts {
                let (state, n) = row?;
                match state.as_str() {
                    "queued" => o.queued = n,
                    "processing" => o.processing = n,
                    "retrying" => o.retrying = n,
                    _ => o.failed = n,
                }
            }
            o.sync_cursor = c
                .query_row(
                    "SELECT cursor FROM sync_cursors WHERE platform = ?1",
                    params![p],
                    |r| r.get(0),
                )
                .optional()?;
            out.push(o);
        }
        Ok(out)
    }

    fn sales_groups(&self, filter: &ReportFilter, dims: &[Dim]) -> Result<Vec<GroupRow>> {
        let mut cols: Vec<&str> = dims
            .iter()
            .filter(|d| **d != Dim::Currency)
            .map(|d| d.column())
            .collect();
        let nkeys = cols.len();
        cols.push("currency");
        let group = cols.join(", ");
        let (clause, params) = filter.clause();
        // The rollup has month, platform and currency (and the filter columns): read it when
        // that is enough; other keys need the events themselves.
        let rollup = dims
            .iter()
            .all(|d| matches!(d, Dim::Month | Dim::Platform | Dim::Currency));
        if !rollup {
            return self.sales_groups_streamed(filter, dims);
        }
        // Rows come sorted by the keys in the order asked for (currency last unless placed).
        let mut order: Vec<&str> = dims.iter().map(|d| d.column()).collect();
        if !dims.contains(&Dim::Currency) {
            order.push("currency");
        }
        let order = order.join(", ");
        let sql = format!(
            "SELECT {group}, sum(events), sum(units), sum(kenp_pages), sum(royalty_micros), min(is_final)
               FROM effective_rollup{clause} GROUP BY {group} ORDER BY {order}"
        );
        let mut stmt = self.conn().prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| {
            let keys = (0..nkeys)
                .map(|i| r.get::<_, String>(i))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(GroupRow {
                keys,
                currency: r.get(nkeys)?,
                events: r.get(nkeys + 1)?,
                units: r.get(nkeys + 2)?,
                kenp_pages: r.get(nkeys + 3)?,
                royalty_micros: r.get(nkeys + 4)?,
                all_final: r.get::<_, i64>(nkeys + 5)? == 1,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn for_each_amount(
        &self,
        filter: &ReportFilter,
        dims: &[Dim],
        f: &mut dyn FnMut(&AmountRow) -> Result<()>,
    ) -> Result<u64> {
        let cols: Vec<&str> = dims
            .iter()
            .filter(|d| **d != Dim::Currency)
            .map(|d| d.column())
            .collect();
        let nkeys = cols.len();
        let mut select = cols.join(", ");
        if !select.is_empty() {
            select.push_str(", ");
        }
        let (clause, params) = filter.clause();
        let sql = format!(
            "SELECT {select}currency, period_end, units, kenp_pages, royalty_micros, is_final
               FROM effective_sales{clause}"
        );
        let mut stmt = self.conn().prepare(&sql)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
        let mut a = AmountRow {
            keys: vec![String::new(); nkeys],
            ..AmountRow::default()
        };
        let mut n = 0;
        while let Some(r) = rows.next()? {
            for i in 0..nkeys {
                a.keys[i] = r.get(i)?;
            }
            a.currency = r.get(nkeys)?;
            a.period_end = r.get(nkeys + 1)?;
            a.units = r.get(nkeys + 2)?;
            a.kenp_pages = r.get(nkeys + 3)?;
            a.royalty_micros = r.get(nkeys + 4)?;
            a.is_final = r.get::<_, i64>(nkeys + 5)? == 1;
            f(&a)?;
            n += 1;
        }
        Ok(n)
    }

    fn currency_first_periods(&self, filter: &ReportFilter) -> Result<Vec<(String, String)>> {
        let (clause, params) = filter.clause();
        let mut stmt = self.conn().prepare(&format!(
            "SELECT currency, min(period_end) FROM effective_rollup{clause}
              GROUP BY currency ORDER BY currency"
        ))?;
        let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn for_each_sale(
        &self,
        filter: &ReportFilter,
        f: &mut dyn FnMut(&EventRow) -> Result<()>,
    ) -> Result<u64> {
        let (clause, params) = filter.clause_with("+");
        let sql = format!(
            "SELECT id, platform, source, period_start, period_end, month, title, product_id,
                    format, marketplace, retailer, country, units, kenp_pages, list_price_micros,
                    royalty_micros, currency, is_final, status, job_id, raw, raw_layout
               FROM effective_sales{clause} ORDER BY id"
        );
        let mut stmt = self.conn().prepare(&sql)?;
        let mut layout_keys = self
            .conn()
            .prepare("SELECT keys FROM raw_layouts WHERE id = ?1")?;
        // The few headers of the files being exported, each read once.
        let mut layouts: HashMap<i64, RawKeys> = HashMap::new();
        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
        let mut n = 0u64;
        let mut e = EventRow::default();
        while let Some(r) = rows.next()? {
            e.id = r.get(0)?;
            e.platform = r.get(1)?;
            e.source = r.get(2)?;
            e.period_start = r.get(3)?;
            e.period_end = r.get(4)?;
            e.month = r.get(5)?;
            e.title = r.get(6)?;
            e.product_id = r.get(7)?;
            e.format = r.get(8)?;
            e.marketplace = r.get(9)?;
            e.retailer = r.get(10)?;
            e.country = r.get(11)?;
            e.units = r.get(12)?;
            e.kenp_pages = r.get(13)?;
            e.list_price_micros = r.get(14)?;
            e.royalty_micros = r.get(15)?;
            e.currency = r.get(16)?;
            e.is_final = r.get::<_, i64>(17)? == 1;
            e.status = r.get(18)?;
            e.job_id = r.get(19)?;
            e.raw = r.get(20)?;
            if let Some(layout) = r.get::<_, Option<i64>>(21)? {
                let keys = match layouts.entry(layout) {
                    std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                    std::collections::hash_map::Entry::Vacant(v) => {
                        let text: String = layout_keys.query_row([layout], |r| r.get(0))?;
                        v.insert(RawKeys::parse(&text).with_context(|| {
                            format!("raw layout {layout} is damaged (sales event {})", e.id)
                        })?)
                    }
                };
                e.raw = keys
                    .object(&e.raw)
                    .with_context(|| format!("sales event {} has a damaged `raw` column", e.id))?;
            }
            f(&e)?;
            n += 1;
        }
        Ok(n)
    }
}

impl Db {
    /// `sales_groups` for keys the rollup does not have: one pass over the events, summed in a
    /// hash map (a SQL GROUP BY would sort every event first, twice as slow on a million).
    fn sales_groups_streamed(&self, filter: &ReportFilter, dims: &[Dim]) -> Result<Vec<GroupRow>> {
        crate::store::rows::group_amounts(dims, |f| self.for_each_amount(filter, dims, f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testutil::temp_db;
    #[allow(unused_imports)]
    use crate::store::{ReportStore as _, SalesStore as _, UpkeepStore as _};

    #[test]
    fn filter_clause_numbers_its_parameters() {
        let f = ReportFilter {
            since: Some("2025-01-01".into()),
            until: None,
            platforms: vec!["gumroad".into(), "smashwords".into()],
            final_only: true,
        };
        let (c, p) = f.clause();
        assert_eq!(
            c,
            " WHERE period_end >= ?1 AND platform IN (?2, ?3) AND is_final = 1"
        );
        assert_eq!(p.len(), 3);
        assert_eq!(ReportFilter::default().clause().0, "");
    }

    #[test]
    fn empty_database_has_no_groups() {
        let (_d, db) = temp_db();
        let g = db
            .sales_groups(
                &ReportFilter::default(),
                &[Dim::Month, Dim::Platform, Dim::Currency],
            )
            .unwrap();
        assert!(g.is_empty());
        let n = db
            .for_each_sale(&ReportFilter::default(), &mut |_| Ok(()))
            .unwrap();
        assert_eq!(n, 0);
    }

    const ROLLUP_KEY: &str = "platform, family, coalesce(import_id, 0), month, period_start, period_end, currency, is_final";

    fn rollup_matches_events(db: &Db) {
        let c = db.conn();
        let q = |sql: &str| -> Vec<Vec<String>> {
            let mut stmt = c.prepare(sql).unwrap();
            let n = stmt.column_count();
            stmt.query_map([], |r| {
                (0..n)
                    .map(|i| {
                        r.get::<_, rusqlite::types::Value>(i)
                            .map(|v| format!("{v:?}"))
                    })
                    .collect()
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
        };
        // Every event, staged or live, has its rollup row (staged ones under their import,
        // invisible until it turns live): the two must be equal key by key.
        let from_events = q(&format!(
            "SELECT {ROLLUP_KEY}, count(*), sum(units), sum(kenp_pages), sum(royalty_micros)
               FROM sales_events
              GROUP BY {ROLLUP_KEY} ORDER BY {ROLLUP_KEY}"
        ));
        let rollup = q(&format!(
            "SELECT {}, events, units, kenp_pages, royalty_micros FROM sales_rollup ORDER BY {}",
            ROLLUP_KEY.replace("coalesce(import_id, 0)", "import_id"),
            ROLLUP_KEY.replace("coalesce(import_id, 0)", "import_id"),
        ));
        assert_eq!(from_events, rollup);
        // The effective view over the rollup equals the effective view over the events.
        let dims = [Dim::Month, Dim::Platform, Dim::Currency];
        let fast = db.sales_groups(&ReportFilter::default(), &dims).unwrap();
        let slow = q(
            "SELECT month, platform, currency, count(*), sum(units), sum(kenp_pages),
                             sum(royalty_micros), min(is_final)
                        FROM effective_sales GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        );
        let fast: Vec<Vec<String>> = fast
            .iter()
            .map(|g| {
                vec![
                    format!("{:?}", rusqlite::types::Value::Text(g.keys[0].clone())),
                    format!("{:?}", rusqlite::types::Value::Text(g.keys[1].clone())),
                    format!("{:?}", rusqlite::types::Value::Text(g.currency.clone())),
                    format!("{:?}", rusqlite::types::Value::Integer(g.events)),
                    format!("{:?}", rusqlite::types::Value::Integer(g.units)),
                    format!("{:?}", rusqlite::types::Value::Integer(g.kenp_pages)),
                    format!("{:?}", rusqlite::types::Value::Integer(g.royalty_micros)),
                    format!(
                        "{:?}",
                        rusqlite::types::Value::Integer(i64::from(g.all_final))
                    ),
                ]
            })
            .collect();
        assert_eq!(fast, slow);
        // Keys the rollup lacks are summed in one pass; same figures as SQL's GROUP BY.
        let by_title = db
            .sales_groups(
                &ReportFilter::default(),
                &[Dim::Currency, Dim::Title, Dim::Month],
            )
            .unwrap();
        let streamed: Vec<Vec<String>> = by_title
            .iter()
            .map(|g| {
                vec![
                    format!("{:?}", rusqlite::types::Value::Text(g.currency.clone())),
                    format!("{:?}", rusqlite::types::Value::Text(g.keys[0].clone())),
                    format!("{:?}", rusqlite::types::Value::Text(g.keys[1].clone())),
                    format!("{:?}", rusqlite::types::Value::Integer(g.events)),
                    format!("{:?}", rusqlite::types::Value::Integer(g.royalty_micros)),
                    format!(
                        "{:?}",
                        rusqlite::types::Value::Integer(i64::from(g.all_final))
                    ),
                ]
            })
            .collect();
        let sql = q(
            "SELECT currency, title, month, count(*), sum(royalty_micros), min(is_final)
                       FROM effective_sales GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        );
        assert_eq!(streamed, sql);
    }

    /// Random store operations (staged imports published by replace-by-coverage, over month
    /// totals, days and final reports; imports discarded half-staged; API sales inserted and
    /// updated in place with new amounts, currencies, dates and finality) keep the rollup equal
    /// to the events key by key, and the effective rollup equal to `effective_sales`.
    #[test]
    fn rollup_follows_every_store_operation() {
        use crate::model::{Coverage, Format, Platform, SaleEvent};
        use crate::store::testutil::{claimed_lease, At as _};
        use crate::store::SalesStore as _;
        use chrono::NaiveDate;
        let (_d, db) = temp_db();
        let mut rng = fastrand::Rng::with_seed(7);
        let event =
            |rng: &mut fastrand::Rng, platform: Platform, family: &str, key: Option<String>| {
                let m = rng.u32(6..9);
                let whole = family.starts_with("kdp") && rng.u8(0..3) == 0;
                let (start, end) = if whole {
                    let first = NaiveDate::from_ymd_opt(2025, m, 1).unwrap();
                    let last = NaiveDate::from_ymd_opt(2025, m + 1, 1)
                        .unwrap()
                        .pred_opt()
                        .unwrap();
                    (first, last)
                } else {
                    let d = NaiveDate::from_ymd_opt(2025, m, rng.u32(1..4)).unwrap();
                    (d, d)
                };
                SaleEvent {
                    platform,
                    family: family.into(),
                    source: "test".into(),
                    natural_key: key,
                    period_start: start,
                    period_end: end,
                    title: ["Sea Glass", "Fox Hollow", "Zebra"][rng.usize(..3)].into(),
                    product_id: "p".into(),
                    format: Format::Ebook,
                    marketplace: String::new(),
                    retailer: String::new(),
                    country: String::new(),
                    units: rng.i64(-1..5),
                    kenp_pages: rng.i64(0..50),
                    list_price_micros: None,
                    royalty_micros: rng.i64(-5_000_000..50_000_000),
                    currency: ["USD", "EUR", "GBP"][rng.usize(..3)].into(),
                    is_final: family.starts_with("kdp_final") || rng.bool(),
                    status: String::new(),
                    raw: "{}".into(),
                    raw_layout: None,
                    line: 1,
                }
            };
        let files = [
            (Platform::AmazonKdp, "kdp_estimate.ebook"),
            (Platform::AmazonKdp, "kdp_estimate.paperback"),
            (Platform::AmazonKdp, "kdp_final.ebook"),
            (Platform::Draft2digital, "d2d_ebook"),
            (Platform::Smashwords, "smashwords"),
        ];
        for round in 0..120 {
            let (platform, family) = files[rng.usize(..files.len())];
            let n = rng.usize(0..8);
            let events: Vec<SaleEvent> = (0..n)
                .map(|_| event(&mut rng, platform, family, None))
                .collect();
            let lease = claimed_lease(&db, platform.as_str());
            let mut import = super::super::sales::StagedImport::new(
                &lease,
                platform.as_str(),
                "f",
                &format!("{round}"),
            );
            // Sometimes the file says it gives month totals over its months.
            let coverage: Vec<Coverage> = if family.starts_with("kdp_estimate") && rng.bool() {
                let m = rng.u32(6..9);
                vec![Coverage {
                    family: family.into(),
                    start: NaiveDate::from_ymd_opt(2025, m, 1).unwrap(),
                    end: NaiveDate::from_ymd_opt(2025, m + 1, 1)
                        .unwrap()
                        .pred_opt()
                        .unwrap(),
                    month_totals: true,
                }]
            } else {
                Vec::new()
            };
            let (first, rest) = events.split_at(n / 2);
            db.stage_events_at(&mut import, first, None, round).unwrap();
            let done = crate::store::StagingDone {
                layout: "test",
                rows: n as u64,
                coverage: &coverage,
            };
            db.stage_events_at(&mut import, rest, Some(done), round)
                .unwrap();
            if let Some(id) = import.id {
                if rng.u8(0..5) == 0 {
                    // Half-staged, then its job failed: discarded.
                    db.discard_import(id).unwrap();
                } else {
                    db.immediate(|c| super::super::sales::publish_import(c, id, round))
                        .unwrap();
                }
            }
            // API sales: new ones, and known ones changing every amount and key.
            let sales: Vec<SaleEvent> = (0..rng.usize(0..4))
                .map(|_| {
                    let key = format!("sale-{}", rng.u8(0..12));
                    event(&mut rng, Platform::Gumroad, "gumroad", Some(key))
                })
                .collect();
            let mut seen = std::collections::HashSet::new();
            let sales: Vec<SaleEvent> = sales
                .into_iter()
                .filter(|e| seen.insert(e.natural_key.clone()))
                .collect();
            db.upsert_events_at("gumroad", 0, &sales, None, round)
                .unwrap();
            if round % 10 == 9 {
                rollup_matches_events(&db);
            }
        }
        rollup_matches_events(&db);
    }

    /// Summaries by month/platform/currency and the status overview never read the events
    /// table: only the rollup (and the small imports table).
    #[test]
    fn report_queries_read_the_rollup_not_the_events() {
        let (_d, db) = temp_db();
        for sql in [
            "SELECT month, platform, currency, sum(events), sum(royalty_micros), min(is_final)
               FROM effective_rollup WHERE period_end >= '2025-01-01' AND platform IN ('gumroad')
              GROUP BY month, platform, currency",
            "SELECT platform, currency, sum(events) FROM effective_rollup GROUP BY platform, currency",
            "SELECT coalesce(sum(events), 0), min(period_start), max(period_end)
               FROM effective_rollup WHERE platform = 'gumroad'",
        ] {
            let plan = db.query_plan(sql).unwrap().join("\n");
            assert!(!plan.contains("sales_events"), "{sql}\n{plan}");
            assert!(plan.contains("sales_rollup"), "{plan}");
        }
    }

    /// The export walks the events in id order with no sort (constant memory), filters or not.
    #[test]
    fn export_needs_no_sort() {
        let (_d, db) = temp_db();
        let f = ReportFilter {
            since: Some("2025-01-01".into()),
            until: Some("2025-12-31".into()),
            platforms: vec!["smashwords".into()],
            final_only: true,
        };
        for filter in [ReportFilter::default(), f] {
            let (clause, _) = filter.clause_with("+");
            let sql = format!("SELECT id, raw FROM effective_sales{clause} ORDER BY id")
                .replace("?1", "'2025-01-01'")
                .replace("?2", "'2025-12-31'")
                .replace("?3", "'smashwords'");
            let plan = db.query_plan(&sql).unwrap().join("\n");
            assert!(!plan.contains("TEMP B-TREE"), "{plan}");
        }
    }

    #[test]
    fn dims_parse() {
        assert_eq!(Dim::parse("product_id"), Some(Dim::Product));
        assert_eq!(Dim::parse(" Month "), Some(Dim::Month));
        assert_eq!(Dim::parse("isbn"), None);
    }
}
