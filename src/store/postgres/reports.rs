//! `impl ReportStore for PgStore`: the same views of jobs, runs and effective sales as
//! `sqlite/reports.rs`, with the same ordering (text is `COLLATE "C"`, compared byte by byte as
//! SQLite does), so that every `--json` is identical on both backends.

use std::collections::HashMap;

use anyhow::{Context, Result};
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{ToSql, Type};

use super::{args, ms, ms_opt, PgStore};
use crate::model::{iso_date, RawKeys};
use crate::queue::Millis;
use crate::store::{
    AmountRow, AttemptRow, CurrencyTotal, Dim, EventRow, GroupRow, JobRow, PlatformOverview,
    ReportFilter, ReportStore, RunRow,
};

const JOB_COLS: &str = "id, platform, state, attempts, max_attempts, priority, created_at, run_at,
    finished_at, last_error, input::text, result::text, cancel_requested";

fn job_row(r: &postgres::Row) -> JobRow {
    JobRow {
        id: r.get(0),
        platform: r.get(1),
        state: r.get(2),
        attempts: i64::from(r.get::<_, i32>(3)),
        max_attempts: i64::from(r.get::<_, i32>(4)),
        priority: r.get(5),
        created_at: ms(r.get(6)),
        run_at: ms(r.get(7)),
        finished_at: ms_opt(r.get(8)),
        last_error: r.get(9),
        input: r.get(10),
        result: r.get(11),
        cancel_requested: r.get(12),
    }
}

/// A report filter's WHERE clause (parameters numbered from `$1`) and its values.
struct Clause {
    sql: String,
    text: Vec<String>,
}

impl Clause {
    fn of(filter: &ReportFilter) -> Clause {
        let mut conds = Vec::new();
        let mut text = Vec::new();
        if let Some(s) = &filter.since {
            text.push(s.clone());
            conds.push(format!("period_end >= ${}::text::date", text.len()));
        }
        if let Some(u) = &filter.until {
            text.push(u.clone());
            conds.push(format!("period_end <= ${}::text::date", text.len()));
        }
        if !filter.platforms.is_empty() {
            let mut marks = Vec::new();
            for p in &filter.platforms {
                text.push(p.clone());
                marks.push(format!("${}", text.len()));
            }
            conds.push(format!("platform IN ({})", marks.join(", ")));
        }
        if filter.final_only {
            conds.push("is_final".to_string());
        }
        let sql = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        Clause { sql, text }
    }

    fn args(&self) -> Vec<(&(dyn ToSql + Sync), Type)> {
        // (Owned pairs: `query_typed_raw` takes them by value.)
        self.text
            .iter()
            .map(|t| (t as &(dyn ToSql + Sync), Type::TEXT))
            .collect()
    }
}

/// A dimension as the text a report shows (dates and months are already text).
fn dim_sql(d: Dim) -> &'static str {
    d.column()
}

impl ReportStore for PgStore {
    fn job(&self, id: i64) -> Result<Option<JobRow>> {
        Ok(self
            .query_opt(
                &format!("SELECT {JOB_COLS} FROM jobs WHERE id = $1"),
                args![id],
            )?
            .map(|r| job_row(&r)))
    }

    fn jobs(&self, state: Option<&str>, platform: Option<&str>, limit: i64) -> Result<Vec<JobRow>> {
        let (state, platform) = (state.map(str::to_string), platform.map(str::to_string));
        Ok(self
            .query(
                &format!(
                    "SELECT {JOB_COLS} FROM jobs WHERE ($1::text IS NULL OR state = $1::text)
                       AND ($2::text IS NULL OR platform = $2::text) ORDER BY id DESC LIMIT $3"
                ),
                args![state, platform, limit],
            )?
            .iter()
            .map(job_row)
            .collect())
    }

    fn attempts(&self, job_id: i64) -> Result<Vec<AttemptRow>> {
        Ok(self
            .query(
                "SELECT attempt, started_at, finished_at, outcome, error, worker FROM attempts
                  WHERE job_id = $1 ORDER BY attempt",
                args![job_id],
            )?
            .iter()
            .map(|r| AttemptRow {
                attempt: i64::from(r.get::<_, i32>(0)),
                started_at: ms(r.get(1)),
                finished_at: ms_opt(r.get(2)),
                outcome: r.get(3),
                error: r.get(4),
                worker: r.get(5),
            })
            .collect())
    }

    fn runs(&self, limit: i64, failed_only: bool) -> Result<Vec<RunRow>> {
        // As on SQLite: a run that never finished is counted from the attempts naming it.
        Ok(self
            .query(
                "WITH open_runs AS (
                   SELECT a.run_id,
                          count(*) AS claimed,
                          count(*) FILTER (WHERE a.outcome = 'completed') AS completed,
                          count(*) FILTER (WHERE a.outcome IN ('retrying','rate_limited')) AS retrying,
                          count(*) FILTER (WHERE a.outcome = 'failed') AS failed
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
                  WHERE (NOT $2 OR r.failed > 0 OR r.exit_code != 0 OR r.finished_at IS NULL)
                  ORDER BY r.id DESC LIMIT $1",
                args![limit, failed_only],
            )?
            .iter()
            .map(|r| RunRow {
                id: r.get(0),
                started_at: ms(r.get(1)),
                finished_at: ms_opt(r.get(2)),
                host: r.get(3),
                pid: r.get(4),
                owner: r.get(5),
                claimed: r.get(6),
                completed: r.get(7),
                retrying: r.get(8),
                failed: r.get(9),
                rescued: r.get(10),
                exit_code: r.get::<_, Option<i32>>(11).map(i64::from),
            })
            .collect())
    }

    fn next_due_job(&self, platform: Option<&str>) -> Result<Option<(i64, Millis)>> {
        let platform = platform.map(str::to_string);
        Ok(self
            .query_opt(
                "SELECT id, run_at FROM jobs
                  WHERE state IN ('queued','retrying') AND ($1::text IS NULL OR platform = $1::text)
                  ORDER BY run_at, id LIMIT 1",
                args![platform],
            )?
            .map(|r| (r.get(0), ms(r.get(1)))))
    }

    fn totals(&self) -> Result<Vec<CurrencyTotal>> {
        Ok(self
            .query(
                "SELECT platform, currency, sum(events)::int8, sum(units)::int8,
                        sum(kenp_pages)::int8, sum(royalty_micros)::int8
                   FROM effective_rollup GROUP BY platform, currency ORDER BY platform, currency",
                &[],
            )?
            .iter()
            .map(|r| CurrencyTotal {
                platform: r.get(0),
                currency: r.get(1),
                events: r.get(2),
                units: r.get(3),
                kenp_pages: r.get(4),
                royalty_micros: r.get(5),
            })
            .collect())
    }

    fn overview(&self, platforms: &[&str]) -> Result<Vec<PlatformOverview>> {
        let mut out = Vec::new();
        for p in platforms {
            let mut o = PlatformOverview {
                platform: (*p).to_string(),
                ..PlatformOverview::default()
            };
            let r = self.query_one(
                "SELECT coalesce(sum(events), 0)::int8, min(period_start), max(period_end),
                        max(period_end) FILTER (WHERE is_final),
                        max(period_end) FILTER (WHERE NOT is_final)
                   FROM effective_rollup WHERE platform = $1",
                args![*p],
            )?;
            let day = |i: usize| r.get::<_, Option<chrono::NaiveDate>>(i).map(iso_date);
            o.events = r.get(0);
            (o.first_period, o.last_period) = (day(1), day(2));
            (o.final_through, o.estimated_through) = (day(3), day(4));
            if let Some(last) = self.query_opt(
                "SELECT id, finished_at FROM jobs WHERE platform = $1 AND state = 'completed'
                  ORDER BY finished_at DESC LIMIT 1",
                args![*p],
            )? {
                o.last_success_job = Some(last.get(0));
                o.last_success = Some(ms(last.get(1)));
            }
            for row in self.query(
                "SELECT state, count(*) FROM jobs WHERE platform = $1
                   AND state IN ('queued','processing','retrying','failed') GROUP BY state",
                args![*p],
            )? {
                let n: i64 = row.get(1);
                match row.get::<_, &str>(0) {
                    "queued" => o.queued = n,
                    "processing" => o.processing = n,
                    "retrying" => o.retrying = n,
                    _ => o.failed = n,
                }
            }
            o.sync_cursor = self
                .query_opt(
                    "SELECT cursor FROM sync_cursors WHERE platform = $1",
                    args![*p],
                )?
                .map(|r| iso_date(r.get(0)));
            out.push(o);
        }
        Ok(out)
    }

    fn sales_groups(&self, filter: &ReportFilter, dims: &[Dim]) -> Result<Vec<GroupRow>> {
        let rollup = dims
            .iter()
            .all(|d| matches!(d, Dim::Month | Dim::Platform | Dim::Currency));
        if !rollup {
            return self.sales_groups_streamed(filter, dims);
        }
        let mut cols: Vec<&str> = dims
            .iter()
            .filter(|d| **d != Dim::Currency)
            .map(|d| dim_sql(*d))
            .collect();
        let nkeys = cols.len();
        cols.push("currency");
        let group = cols.join(", ");
        let mut order: Vec<&str> = dims.iter().map(|d| dim_sql(*d)).collect();
        if !dims.contains(&Dim::Currency) {
            order.push("currency");
        }
        let order = order.join(", ");
        let clause = Clause::of(filter);
        let rows = self.query(
            &format!(
                "SELECT {group}, sum(events)::int8, sum(units)::int8, sum(kenp_pages)::int8,
                        sum(royalty_micros)::int8, bool_and(is_final)
                   FROM effective_rollup{} GROUP BY {group} ORDER BY {order}",
                clause.sql
            ),
            &clause.args(),
        )?;
        Ok(rows
            .iter()
            .map(|r| GroupRow {
                keys: (0..nkeys).map(|i| r.get::<_, String>(i)).collect(),
                currency: r.get(nkeys),
                events: r.get(nkeys + 1),
                units: r.get(nkeys + 2),
                kenp_pages: r.get(nkeys + 3),
                royalty_micros: r.get(nkeys + 4),
                all_final: r.get(nkeys + 5),
            })
            .collect())
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
            .map(|d| dim_sql(*d))
            .collect();
        let nkeys = cols.len();
        let mut select = cols.join(", ");
        if !select.is_empty() {
            select.push_str(", ");
        }
        let clause = Clause::of(filter);
        let sql = format!(
            "SELECT {select}currency, to_char(period_end, 'YYYY-MM-DD'), units, kenp_pages,
                    royalty_micros, is_final
               FROM effective_sales{}",
            clause.sql
        );
        let mut c = self.conn()?;
        let mut rows = c
            .query_typed_raw(&sql, clause.args())
            .map_err(|e| self.lost(&e))?;
        let mut a = AmountRow {
            keys: vec![String::new(); nkeys],
            ..AmountRow::default()
        };
        let mut n = 0;
        while let Some(r) = rows.next().map_err(|e| self.lost(&e))? {
            for i in 0..nkeys {
                a.keys[i] = r.get(i);
            }
            a.currency = r.get(nkeys);
            a.period_end = r.get(nkeys + 1);
            a.units = r.get(nkeys + 2);
            a.kenp_pages = r.get(nkeys + 3);
            a.royalty_micros = r.get(nkeys + 4);
            a.is_final = r.get(nkeys + 5);
            f(&a)?;
            n += 1;
        }
        Ok(n)
    }

    fn currency_first_periods(&self, filter: &ReportFilter) -> Result<Vec<(String, String)>> {
        let clause = Clause::of(filter);
        Ok(self
            .query(
                &format!(
                    "SELECT currency, to_char(min(period_end), 'YYYY-MM-DD') FROM effective_rollup{}
                      GROUP BY currency ORDER BY currency",
                    clause.sql
                ),
                &clause.args(),
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    fn for_each_sale(
        &self,
        filter: &ReportFilter,
        f: &mut dyn FnMut(&EventRow) -> Result<()>,
    ) -> Result<u64> {
        // The headers of the files, read first (the connection then streams the events).
        let mut layouts: HashMap<i64, RawKeys> = HashMap::new();
        for r in self.query("SELECT id, keys FROM raw_layouts", &[])? {
            let id: i64 = r.get(0);
            let keys =
                RawKeys::parse(r.get(1)).with_context(|| format!("raw layout {id} is damaged"))?;
            layouts.insert(id, keys);
        }
        let clause = Clause::of(filter);
        let sql = format!(
            "SELECT id, platform, source, to_char(period_start, 'YYYY-MM-DD'),
                    to_char(period_end, 'YYYY-MM-DD'), month, title, product_id, format,
                    marketplace, retailer, country, units, kenp_pages, list_price_micros,
                    royalty_micros, currency, is_final, status, job_id, raw, raw_layout
               FROM effective_sales{} ORDER BY id",
            clause.sql
        );
        let mut c = self.conn()?;
        let mut rows = c
            .query_typed_raw(&sql, clause.args())
            .map_err(|e| self.lost(&e))?;
        let mut n = 0u64;
        let mut e = EventRow::default();
        while let Some(r) = rows.next().map_err(|e| self.lost(&e))? {
            e.id = r.get(0);
            e.platform = r.get(1);
            e.source = r.get(2);
            e.period_start = r.get(3);
            e.period_end = r.get(4);
            e.month = r.get(5);
            e.title = r.get(6);
            e.product_id = r.get(7);
            e.format = r.get(8);
            e.marketplace = r.get(9);
            e.retailer = r.get(10);
            e.country = r.get(11);
            e.units = r.get(12);
            e.kenp_pages = r.get(13);
            e.list_price_micros = r.get(14);
            e.royalty_micros = r.get(15);
            e.currency = r.get(16);
            e.is_final = r.get(17);
            e.status = r.get(18);
            e.job_id = r.get(19);
            e.raw = r.get(20);
            if let Some(layout) = r.get::<_, Option<i64>>(21) {
                let keys = layouts.get(&layout).with_context(|| {
                    format!("sales event {} names a missing raw layout {layout}", e.id)
                })?;
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

impl PgStore {
    /// `sales_groups` for keys the rollup does not have: one pass over the events, summed here.
    fn sales_groups_streamed(&self, filter: &ReportFilter, dims: &[Dim]) -> Result<Vec<GroupRow>> {
        crate::store::rows::group_amounts(dims, |f| self.for_each_amount(filter, dims, f))
    }
}
