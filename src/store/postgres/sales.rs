//! `impl SalesStore for PgStore`: file imports staged with `COPY` in short fenced transactions
//! and published by replace-by-coverage inside the job's completion; API sales upserted by
//! natural key; sync cursors.
//!
//! The report rollup (`sales_rollup`) is kept by one mechanism: every transaction that writes
//! events writes the rollup delta of exactly those events. A staged chunk adds its sums under
//! its import (invisible until the import is live); an upsert adds a new sale, or moves an
//! updated one from its old key and amounts to its new ones; replace-by-coverage deletes the
//! older imports' rollup rows of the same family and periods as the events it deletes (the
//! rollup key holds the import, family and period, so the two deletes match exactly). No
//! trigger is involved.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use anyhow::{bail, Result};
use chrono::{DateTime, NaiveDate, Utc};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use postgres::Transaction;

use super::effects::FENCE;
use super::{args, ms_opt, PgStore};
use crate::model::{RawLayout, SaleEvent};
use crate::queue::Lease;
use crate::store::rows::{recorded_coverage, rollup_of, widen_coverage, RollupKey, RowRange};
use crate::store::{ImportStaging, Precedence, PriorImport, SalesStore, StagingDone};

/// An import being staged by one attempt.
struct Staging<'a> {
    store: &'a PgStore,
    id: Option<i64>,
    lease: Lease,
    platform: String,
    file: String,
    sha256: String,
    /// Per family: the range of the rows staged.
    coverage: BTreeMap<String, RowRange>,
    /// The `raw_layouts` rows written, with the layout each stands for.
    layouts: Vec<(Arc<RawLayout>, i64)>,
    events: u64,
}

/// Add `sums` (signed) to the rollup rows of `platform` and `import_id`, in one statement.
fn add_rollup(
    tx: &mut Transaction<'_>,
    platform: &str,
    import_id: i64,
    sums: &HashMap<RollupKey<'_>, [i64; 4]>,
    sign: i64,
) -> Result<()> {
    if sums.is_empty() {
        return Ok(());
    }
    let mut family = Vec::with_capacity(sums.len());
    let mut month = Vec::with_capacity(sums.len());
    let mut start = Vec::with_capacity(sums.len());
    let mut end = Vec::with_capacity(sums.len());
    let mut currency = Vec::with_capacity(sums.len());
    let mut fin = Vec::with_capacity(sums.len());
    let mut cols: [Vec<i64>; 4] = Default::default();
    for ((f, s, e, c, is_final), v) in sums {
        family.push((*f).to_string());
        month.push(crate::model::iso_date(*e)[..7].to_string());
        start.push(*s);
        end.push(*e);
        currency.push((*c).to_string());
        fin.push(*is_final);
        for (col, x) in cols.iter_mut().zip(v) {
            col.push(sign * x);
        }
    }
    let [events, units, pages, royalty] = cols;
    tx.execute_typed(
        "INSERT INTO sales_rollup (platform, family, import_id, month, period_start, period_end,
                                   currency, is_final, events, units, kenp_pages, royalty_micros)
         SELECT $1, f, $2, m, s, e, c, fin, n, u, k, r
           FROM unnest($3::text[], $4::text[], $5::date[], $6::date[], $7::text[], $8::bool[],
                       $9::int8[], $10::int8[], $11::int8[], $12::int8[]) AS x(f, m, s, e, c, fin, n, u, k, r)
         ON CONFLICT (platform, family, import_id, month, period_start, period_end, currency, is_final)
         DO UPDATE SET events = sales_rollup.events + excluded.events,
                       units = sales_rollup.units + excluded.units,
                       kenp_pages = sales_rollup.kenp_pages + excluded.kenp_pages,
                       royalty_micros = sales_rollup.royalty_micros + excluded.royalty_micros",
        args![platform, import_id, family, month, start, end, currency, fin, events, units, pages, royalty],
    )?;
    // A key whose events all went (an updated sale moved away) leaves no empty row.
    if sign < 0 {
        tx.execute_typed(
            "DELETE FROM sales_rollup WHERE platform = $1 AND import_id = $2 AND events = 0",
            args![platform, import_id],
        )?;
    }
    Ok(())
}

/// The columns `COPY` writes, in order.
const COPY_COLUMNS: &str = "platform, family, source, import_id, job_id, natural_key, period_start,
    period_end, month, title, product_id, format, marketplace, retailer, country, units,
    kenp_pages, list_price_micros, royalty_micros, currency, is_final, status, raw, raw_layout,
    line, updated_at";

const COPY_TYPES: [Type; 26] = [
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::INT8,
    Type::TEXT,
    Type::DATE,
    Type::DATE,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::TEXT,
    Type::BOOL,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::INT8,
    Type::TIMESTAMPTZ,
];

impl Staging<'_> {
    fn layout_id(
        &mut self,
        tx: &mut Transaction<'_>,
        import_id: i64,
        layout: &Arc<RawLayout>,
        new: &mut Vec<(Arc<RawLayout>, i64)>,
    ) -> Result<i64> {
        let known = self.layouts.iter().chain(new.iter());
        if let Some((_, id)) = known
            .clone()
            .find(|(l, _)| Arc::ptr_eq(l, layout) || l.keys_json == layout.keys_json)
        {
            let id = *id;
            new.push((layout.clone(), id));
            return Ok(id);
        }
        let id: i64 = tx
            .query_typed_one(
                "INSERT INTO raw_layouts (import_id, keys) VALUES ($1, $2) RETURNING id",
                args![import_id, layout.keys_json.as_str()],
            )?
            .get(0);
        new.push((layout.clone(), id));
        Ok(id)
    }
}

impl ImportStaging for Staging<'_> {
    fn stage(&mut self, events: &[SaleEvent], done: Option<StagingDone<'_>>) -> Result<()> {
        if events.is_empty() && done.is_none() {
            return Ok(());
        }
        let mut coverage = self.coverage.clone();
        widen_coverage(&mut coverage, events);
        let store = self.store;
        let mut new_layouts = Vec::new();
        let id = store.tx(|tx| {
            // The fence, under a share lock on the job row: a worker that lost its job can
            // neither add to nor discard the new owner's staging, and the lease cannot be taken
            // over while this chunk is written.
            let Some(row) = tx.query_typed_opt(
                &format!("SELECT now() FROM jobs WHERE {FENCE} FOR SHARE"),
                args![
                    self.lease.job_id,
                    self.lease.owner.as_str(),
                    self.lease.claim as i32
                ],
            )?
            else {
                bail!(
                    "lease lost: job {} was taken over by another worker, so this attempt stopped staging `{}`",
                    self.lease.job_id,
                    self.file
                );
            };
            let now: DateTime<Utc> = row.get(0);
            let id = match self.id {
                Some(id) => id,
                None => {
                    discard_staged_imports(tx, self.lease.job_id)?;
                    tx.query_typed_one(
                        "INSERT INTO imports (job_id, platform, file, sha256, state, started_at)
                         VALUES ($1, $2, $3, $4, 'staging', now()) RETURNING id",
                        args![
                            self.lease.job_id,
                            self.platform.as_str(),
                            self.file.as_str(),
                            self.sha256.as_str()
                        ],
                    )?
                    .get(0)
                }
            };
            let mut layout_ids = Vec::with_capacity(events.len());
            for e in events {
                layout_ids.push(match &e.raw_layout {
                    Some(l) => Some(self.layout_id(tx, id, l, &mut new_layouts)?),
                    None => None,
                });
            }
            if !events.is_empty() {
                let sink = tx.copy_in(&format!(
                    "COPY sales_events ({COPY_COLUMNS}) FROM STDIN (FORMAT binary)"
                ))?;
                let mut w = BinaryCopyInWriter::new(sink, &COPY_TYPES);
                for (e, layout) in events.iter().zip(&layout_ids) {
                    let raw_text = match layout {
                        Some(_) => std::borrow::Cow::Borrowed(e.raw.as_str()),
                        None => e.raw_json(),
                    };
                    let raw: &str = &raw_text;
                    let month = e.month();
                    let line = i64::try_from(e.line).unwrap_or(i64::MAX);
                    let row: [&(dyn ToSql + Sync); 26] = [
                        &e.platform.as_str(),
                        &e.family,
                        &e.source,
                        &id,
                        &self.lease.job_id,
                        &e.natural_key,
                        &e.period_start,
                        &e.period_end,
                        &month,
                        &e.title,
                        &e.product_id,
                        &e.format.as_str(),
                        &e.marketplace,
                        &e.retailer,
                        &e.country,
                        &e.units,
                        &e.kenp_pages,
                        &e.list_price_micros,
                        &e.royalty_micros,
                        &e.currency,
                        &e.is_final,
                        &e.status,
                        &raw,
                        layout,
                        &line,
                        &now,
                    ];
                    w.write(&row)?;
                }
                w.finish()?;
                add_rollup(tx, &self.platform, id, &rollup_of(events), 1)?;
            }
            if let Some(done) = done {
                tx.execute_typed(
                    "UPDATE imports SET layout = $2, rows = $3, events = $4 WHERE id = $1",
                    args![
                        id,
                        done.layout,
                        i64::try_from(done.rows).unwrap_or(i64::MAX),
                        i64::try_from(self.events + events.len() as u64).unwrap_or(i64::MAX)
                    ],
                )?;
                tx.execute_typed("DELETE FROM import_coverage WHERE import_id = $1", args![id])?;
                for cov in recorded_coverage(&coverage, done.coverage) {
                    tx.execute_typed(
                        "INSERT INTO import_coverage (import_id, family, period_start, period_end,
                                                      month_totals)
                         VALUES ($1, $2, $3, $4, $5)",
                        args![id, cov.family.as_str(), cov.start, cov.end, cov.month_totals],
                    )?;
                }
            }
            Ok(id)
        })?;
        self.id = Some(id);
        self.coverage = coverage;
        self.events += events.len() as u64;
        self.layouts.append(&mut new_layouts);
        Ok(())
    }

    fn import_id(&self) -> Option<i64> {
        self.id
    }

    fn staged(&self) -> u64 {
        self.events
    }
}

impl SalesStore for PgStore {
    fn begin_import<'a>(
        &'a self,
        lease: &Lease,
        platform: &str,
        file: &str,
        sha256: &str,
    ) -> Box<dyn ImportStaging + 'a> {
        Box::new(Staging {
            store: self,
            id: None,
            lease: lease.clone(),
            platform: platform.to_string(),
            file: file.to_string(),
            sha256: sha256.to_string(),
            coverage: BTreeMap::new(),
            layouts: Vec::new(),
            events: 0,
        })
    }

    fn discard_import(&self, import_id: i64) -> Result<()> {
        self.tx(|tx| discard_import_rows(tx, import_id))
    }

    fn live_import_by_sha(&self, sha256: &str) -> Result<Option<PriorImport>> {
        Ok(self
            .query_opt(
                "SELECT id, job_id, finished_at, platform FROM imports
                  WHERE sha256 = $1 AND state = 'live' ORDER BY id DESC LIMIT 1",
                args![sha256],
            )?
            .map(|r| PriorImport {
                import_id: r.get(0),
                job_id: r.get(1),
                finished_at: ms_opt(r.get(2)),
                platform: r.get(3),
            }))
    }

    fn upsert_events(
        &self,
        platform: &str,
        job_id: i64,
        events: &[SaleEvent],
        cursor: Option<NaiveDate>,
        precedence: Precedence,
    ) -> Result<(u64, u64)> {
        self.tx(|tx| {
            let mut inserted = 0;
            let mut updated = 0;
            for e in events {
                let Some(key) = &e.natural_key else {
                    bail!("an event from {platform} has no natural key");
                };
                let raw = e.raw_json();
                let month = e.month();
                let line = i64::try_from(e.line).unwrap_or(i64::MAX);
                // A new sale: inserted, or the row of a concurrent insert of the same key wins.
                let new = tx.query_typed_opt(
                    "INSERT INTO sales_events (platform, family, source, import_id, job_id,
                         natural_key, period_start, period_end, month, title, product_id, format,
                         marketplace, retailer, country, units, kenp_pages, list_price_micros,
                         royalty_micros, currency, is_final, status, raw, line, updated_at)
                     VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                             $15, $16, $17, $18, $19, $20, $21, $22, $23, now())
                     ON CONFLICT (natural_key) WHERE natural_key IS NOT NULL DO NOTHING
                     RETURNING id",
                    args![
                        e.platform.as_str(),
                        e.family.as_str(),
                        e.source.as_str(),
                        job_id,
                        key.as_str(),
                        e.period_start,
                        e.period_end,
                        month,
                        e.title.as_str(),
                        e.product_id.as_str(),
                        e.format.as_str(),
                        e.marketplace.as_str(),
                        e.retailer.as_str(),
                        e.country.as_str(),
                        e.units,
                        e.kenp_pages,
                        e.list_price_micros,
                        e.royalty_micros,
                        e.currency.as_str(),
                        e.is_final,
                        e.status.as_str(),
                        raw.as_ref(),
                        line
                    ],
                )?;
                if new.is_some() {
                    add_rollup(tx, platform, 0, &rollup_of(std::slice::from_ref(e)), 1)?;
                    inserted += 1;
                    continue;
                }
                // A known sale: its row locked, then updated in place when it changed (and the
                // events may overwrite its source), the rollup moved from its old amounts to its
                // new ones.
                let old = tx.query_typed_one(
                    "SELECT id, family, period_start, period_end, currency, is_final, units,
                            kenp_pages, royalty_micros, status, raw, title, country,
                            source, product_id
                       FROM sales_events WHERE natural_key = $1 FOR UPDATE",
                    args![key.as_str()],
                )?;
                let source = old.get::<_, &str>(13);
                if precedence == Precedence::FillIn && source != e.source {
                    continue;
                }
                let changed = source != e.source
                    || old.get::<_, &str>(14) != e.product_id
                    || old.get::<_, i64>(6) != e.units
                    || old.get::<_, i64>(7) != e.kenp_pages
                    || old.get::<_, &str>(1) != e.family
                    || old.get::<_, i64>(8) != e.royalty_micros
                    || old.get::<_, &str>(9) != e.status
                    || old.get::<_, &str>(10) != raw.as_ref()
                    || old.get::<_, &str>(11) != e.title
                    || old.get::<_, &str>(12) != e.country
                    || old.get::<_, bool>(5) != e.is_final
                    || old.get::<_, NaiveDate>(2) != e.period_start
                    || old.get::<_, NaiveDate>(3) != e.period_end
                    || old.get::<_, &str>(4) != e.currency;
                if !changed {
                    continue;
                }
                let before = SaleEvent {
                    family: old.get(1),
                    period_start: old.get(2),
                    period_end: old.get(3),
                    currency: old.get(4),
                    is_final: old.get(5),
                    units: old.get(6),
                    kenp_pages: old.get(7),
                    royalty_micros: old.get(8),
                    ..e.clone()
                };
                tx.execute_typed(
                    "UPDATE sales_events SET job_id = $2, period_start = $3, period_end = $4,
                            month = $5, title = $6, product_id = $7, country = $8, units = $9,
                            list_price_micros = $10, royalty_micros = $11, currency = $12,
                            is_final = $13, status = $14, raw = $15, source = $16,
                            updated_at = now(), family = $17, kenp_pages = $18
                      WHERE id = $1",
                    args![
                        old.get::<_, i64>(0),
                        job_id,
                        e.period_start,
                        e.period_end,
                        month,
                        e.title.as_str(),
                        e.product_id.as_str(),
                        e.country.as_str(),
                        e.units,
                        e.list_price_micros,
                        e.royalty_micros,
                        e.currency.as_str(),
                        e.is_final,
                        e.status.as_str(),
                        raw.as_ref(),
                        e.source.as_str(),
                        e.family.as_str(),
                        e.kenp_pages
                    ],
                )?;
                add_rollup(
                    tx,
                    platform,
                    0,
                    &rollup_of(std::slice::from_ref(&before)),
                    -1,
                )?;
                add_rollup(tx, platform, 0, &rollup_of(std::slice::from_ref(e)), 1)?;
                updated += 1;
            }
            if let Some(cursor) = cursor {
                tx.execute_typed(
                    "INSERT INTO sync_cursors (platform, cursor, updated_at, job_id)
                     VALUES ($1, $2, now(), $3)
                     ON CONFLICT (platform) DO UPDATE SET
                       cursor = greatest(sync_cursors.cursor, excluded.cursor),
                       updated_at = excluded.updated_at, job_id = excluded.job_id",
                    args![platform, cursor, job_id],
                )?;
            }
            Ok((inserted, updated))
        })
    }

    fn sync_cursor(&self, platform: &str) -> Result<Option<NaiveDate>> {
        Ok(self
            .query_opt(
                "SELECT cursor FROM sync_cursors WHERE platform = $1",
                args![platform],
            )?
            .map(|r| r.get(0)))
    }
}

/// Make a staged import live, deleting the live events of the same platform and family whose
/// periods lie inside the range it covers (replace-by-coverage), with their rollup rows. Runs
/// inside the job's fenced completion. Publications of one platform take turns (a
/// transaction-scoped advisory lock), so that of two overlapping imports completing at once
/// on two hosts, the later one sees and replaces the earlier one's rows. Returns the number of
/// events removed.
pub(super) fn publish_import(tx: &mut Transaction<'_>, import_id: i64) -> Result<u64> {
    let platform: String = tx
        .query_typed_one(
            "SELECT platform FROM imports WHERE id = $1 AND state = 'staging'",
            args![import_id],
        )?
        .get(0);
    tx.execute_typed(
        "SELECT pg_advisory_xact_lock(hashtextextended('salesingest publish ' || $1, 0))",
        args![platform.as_str()],
    )?;
    let coverage = tx.query_typed(
        "SELECT family, period_start, period_end, month_totals FROM import_coverage
          WHERE import_id = $1",
        args![import_id],
    )?;
    let mut removed = 0u64;
    for c in coverage {
        let family: String = c.get(0);
        let (start, end): (NaiveDate, NaiveDate) = (c.get(1), c.get(2));
        // Days never replace month totals (DESIGN §5): the views hide such days instead.
        let month_totals: bool = c.get(3);
        let older: Vec<i64> = tx
            .query_typed(
                "SELECT i.id FROM imports i JOIN import_coverage ic ON ic.import_id = i.id
                  WHERE i.state = 'live' AND i.platform = $1 AND i.id != $5 AND ic.family = $2
                    AND ic.period_start <= $4 AND ic.period_end >= $3
                    AND ($6 OR NOT ic.month_totals)
                  ORDER BY i.id",
                args![
                    platform.as_str(),
                    family.as_str(),
                    start,
                    end,
                    import_id,
                    month_totals
                ],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for old in older {
            removed += tx.execute_typed(
                "DELETE FROM sales_events WHERE import_id = $5 AND platform = $1 AND family = $2
                   AND period_start >= $3 AND period_end <= $4",
                args![platform.as_str(), family.as_str(), start, end, old],
            )?;
            tx.execute_typed(
                "DELETE FROM sales_rollup WHERE import_id = $5 AND platform = $1 AND family = $2
                   AND period_start >= $3 AND period_end <= $4",
                args![platform.as_str(), family.as_str(), start, end, old],
            )?;
        }
    }
    tx.execute_typed(
        "UPDATE imports SET state = 'live', finished_at = now() WHERE id = $1",
        args![import_id],
    )?;
    Ok(removed)
}

/// Delete what earlier attempts of `job_id` staged but never published.
pub(super) fn discard_staged_imports(tx: &mut Transaction<'_>, job_id: i64) -> Result<()> {
    let ids: Vec<i64> = tx
        .query_typed(
            "SELECT id FROM imports WHERE job_id = $1 AND state = 'staging'",
            args![job_id],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for id in ids {
        discard_import_rows(tx, id)?;
    }
    Ok(())
}

/// Delete staged imports whose job is no longer processing.
pub(super) fn discard_orphan_staging(tx: &mut Transaction<'_>) -> Result<()> {
    let ids: Vec<i64> = tx
        .query_typed(
            "SELECT i.id FROM imports i WHERE i.state = 'staging'
               AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = i.job_id AND j.state = 'processing')",
            &[],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for id in ids {
        discard_import_rows(tx, id)?;
    }
    Ok(())
}

fn discard_import_rows(tx: &mut Transaction<'_>, import_id: i64) -> Result<()> {
    let staging = tx
        .query_typed_opt(
            "SELECT 1 FROM imports WHERE id = $1 AND state = 'staging' FOR UPDATE",
            args![import_id],
        )?
        .is_some();
    if !staging {
        return Ok(());
    }
    tx.execute_typed(
        "DELETE FROM sales_events WHERE import_id = $1",
        args![import_id],
    )?;
    tx.execute_typed(
        "DELETE FROM sales_rollup WHERE import_id = $1",
        args![import_id],
    )?;
    tx.execute_typed("DELETE FROM imports WHERE id = $1", args![import_id])?;
    Ok(())
}
