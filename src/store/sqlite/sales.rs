//! `impl SalesStore for Db`: staged file imports published by replace-by-coverage, upserts by
//! natural key (API platforms), and sync cursors.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Result;
use chrono::NaiveDate;
use rusqlite::{params, Connection, OptionalExtension};

use super::Db;
use crate::model::{iso_date, RawLayout, SaleEvent};
use crate::queue::{Lease, Millis};
use crate::store::rows::{recorded_coverage, rollup_of, widen_coverage, RollupKey, RowRange};
use crate::store::{ImportStaging, Precedence, PriorImport, SalesStore, StagingDone};

/// A file import being staged. The `imports` row is created by the first `stage_events` call
/// (in the same transaction as the first chunk), so a small file costs one transaction.
#[derive(Debug)]
pub(crate) struct StagedImport {
    /// The `imports` row, once created.
    pub id: Option<i64>,
    /// The attempt staging it: every chunk is written only while this lease holds.
    lease: Lease,
    platform: String,
    file: String,
    sha256: String,
    /// Per family: the earliest start and latest end of the staged events, and whether every
    /// one of them is a whole calendar month.
    coverage: BTreeMap<String, RowRange>,
    /// The `raw_layouts` rows written so far, with the layout each stands for.
    layouts: Vec<(Arc<RawLayout>, i64)>,
    pub events: u64,
}

impl StagedImport {
    /// A new import of `file` by the attempt holding `lease` (nothing is written yet).
    pub(crate) fn new(lease: &Lease, platform: &str, file: &str, sha256: &str) -> StagedImport {
        StagedImport {
            id: None,
            lease: lease.clone(),
            platform: platform.to_string(),
            file: file.to_string(),
            sha256: sha256.to_string(),
            coverage: BTreeMap::new(),
            layouts: Vec::new(),
            events: 0,
        }
    }
}

const INSERT_EVENT: &str = "INSERT INTO sales_events (platform, family, source, import_id, job_id, natural_key,
    period_start, period_end, month, title, product_id, format, marketplace, retailer, country,
    units, kenp_pages, list_price_micros, royalty_micros, currency, is_final, status, raw, line, updated_at,
    raw_layout)
  VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)";

impl Db {
    /// Stage a chunk of events in one short transaction; they stay invisible until published.
    /// The first call discards what an interrupted earlier attempt of the same job staged and
    /// creates the `imports` row; the call with `done` records the layout and the coverage that
    /// `publish_import` will replace at completion. Each chunk is fenced by the import's lease:
    /// a worker that lost its job (suspended past its lease, then resumed) can neither discard
    /// nor add to the new owner's staging.
    ///
    /// # Errors
    /// Database errors, and a lost lease (nothing is written).
    pub(crate) fn stage_events(
        &self,
        import: &mut StagedImport,
        events: &[SaleEvent],
        done: Option<StagingDone<'_>>,
    ) -> Result<()> {
        if events.is_empty() && done.is_none() {
            return Ok(());
        }
        let now = self.now();
        widen_coverage(&mut import.coverage, events);
        let mut new_layouts: Vec<(Arc<RawLayout>, i64)> = Vec::new();
        let staged = self.immediate(|c| {
            new_layouts.clear();
            let job_id = import.lease.job_id;
            if !super::effects::holds(c, &import.lease)? {
                anyhow::bail!(
                    "lease lost: job {job_id} was taken over by another worker, so this attempt stopped staging `{}`",
                    import.file
                );
            }
            let id = match import.id {
                Some(id) => id,
                None => {
                    discard_staged_imports(c, job_id)?;
                    c.execute(
                        "INSERT INTO imports (job_id, platform, file, sha256, state, started_at)
                         VALUES (?1, ?2, ?3, ?4, 'staging', ?5)",
                        params![job_id, import.platform, import.file, import.sha256, now],
                    )?;
                    c.last_insert_rowid()
                }
            };
            let mut stmt = c.prepare_cached(INSERT_EVENT)?;
            for e in events {
                let layout = match &e.raw_layout {
                    None => None,
                    Some(l) => Some(layout_id(c, id, l, &import.layouts, &mut new_layouts)?),
                };
                insert_event(&mut stmt, e, Some(id), job_id, layout, now)?;
            }
            // The chunk's rollup delta, under the import's own id: invisible with it until it
            // turns live (`live_rollup` counts live imports only), so publishing has nothing
            // to add and never reads a big import back.
            add_rollup(c, &import.platform, id, &rollup_of(events), 1)?;
            if let Some(done) = done {
                c.execute(
                    "UPDATE imports SET layout = ?2, rows = ?3, events = ?4, rollup_staged = 1
                      WHERE id = ?1",
                    params![id, done.layout, done.rows, import.events + events.len() as u64],
                )?;
                c.execute(
                    "DELETE FROM import_coverage WHERE import_id = ?1",
                    params![id],
                )?;
                for cov in recorded_coverage(&import.coverage, done.coverage) {
                    c.execute(
                        "INSERT INTO import_coverage (import_id, family, period_start, period_end,
                                                      month_totals)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![
                            id,
                            cov.family,
                            iso_date(cov.start),
                            iso_date(cov.end),
                            cov.month_totals
                        ],
                    )?;
                }
            }
            Ok(id)
        });
        let id = staged?;
        import.id = Some(id);
        import.events += events.len() as u64;
        import.layouts.append(&mut new_layouts);
        Ok(())
    }
}

/// The staging of one import through a `Db` (what `SalesStore::begin_import` hands out).
struct Staging<'a> {
    db: &'a Db,
    import: StagedImport,
}

impl ImportStaging for Staging<'_> {
    fn stage(&mut self, events: &[SaleEvent], done: Option<StagingDone<'_>>) -> Result<()> {
        self.db.stage_events(&mut self.import, events, done)
    }

    fn import_id(&self) -> Option<i64> {
        self.import.id
    }

    fn staged(&self) -> u64 {
        self.import.events
    }
}

impl SalesStore for Db {
    fn begin_import<'a>(
        &'a self,
        lease: &Lease,
        platform: &str,
        file: &str,
        sha256: &str,
    ) -> Box<dyn ImportStaging + 'a> {
        Box::new(Staging {
            db: self,
            import: StagedImport::new(lease, platform, file, sha256),
        })
    }

    fn discard_import(&self, import_id: i64) -> Result<()> {
        self.immediate(|c| discard_import_rows(c, import_id))
    }

    fn live_import_by_sha(&self, sha256: &str) -> Result<Option<PriorImport>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, job_id, finished_at, platform FROM imports
                  WHERE sha256 = ?1 AND state = 'live' ORDER BY id DESC LIMIT 1",
                params![sha256],
                |r| {
                    Ok(PriorImport {
                        import_id: r.get(0)?,
                        platform: r.get(3)?,
                        job_id: r.get(1)?,
                        finished_at: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    fn upsert_events(
        &self,
        platform: &str,
        job_id: i64,
        events: &[SaleEvent],
        cursor: Option<NaiveDate>,
        precedence: Precedence,
    ) -> Result<(u64, u64)> {
        let now = self.now();
        self.immediate(|c| {
            let mut inserted = 0;
            let mut updated = 0;
            for e in events {
                let Some(key) = &e.natural_key else {
                    anyhow::bail!("an event from {platform} has no natural key");
                };
                // A new sale is inserted (the key's unique index decides: no read first).
                let new = insert_event_returning(c, e, job_id, now)?;
                if new {
                    add_rollup(c, platform, 0, &rollup_of(std::slice::from_ref(e)), 1)?;
                    inserted += 1;
                    continue;
                }
                // A known sale: updated in place when it changed (and the events may overwrite
                // its source), its rollup moved from the old key and amounts to the new ones.
                let old = c
                    .prepare_cached(
                        "SELECT id, family, period_start, period_end, currency, is_final, units,
                                kenp_pages, royalty_micros, status, raw, title, country,
                                source, product_id
                           FROM sales_events WHERE natural_key = ?1",
                    )?
                    .query_row(params![key], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            (r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?),
                            (r.get::<_, String>(4)?, r.get::<_, bool>(5)?),
                            [r.get::<_, i64>(6)?, r.get::<_, i64>(7)?, r.get::<_, i64>(8)?],
                            (r.get::<_, String>(9)?, r.get::<_, String>(10)?),
                            (r.get::<_, String>(11)?, r.get::<_, String>(12)?),
                            (r.get::<_, String>(13)?, r.get::<_, String>(14)?),
                        ))
                    })?;
                let (id, (family, start, end), (currency, is_final), [units, pages, royalty]) =
                    (old.0, old.1, old.2, old.3);
                let ((status, raw), (title, country), (source, product_id)) = (old.4, old.5, old.6);
                if precedence == Precedence::FillIn && source != e.source {
                    continue;
                }
                let raw_new = e.raw_json();
                let changed = source != e.source
                    || product_id != e.product_id
                    || units != e.units
                    || pages != e.kenp_pages
                    || family != e.family
                    || royalty != e.royalty_micros
                    || status != e.status
                    || raw != raw_new.as_ref()
                    || title != e.title
                    || country != e.country
                    || is_final != e.is_final
                    || start != iso_date(e.period_start)
                    || end != iso_date(e.period_end)
                    || currency != e.currency;
                if !changed {
                    continue;
                }
                let date = |t: &str| {
                    NaiveDate::parse_from_str(t, "%Y-%m-%d")
                        .map_err(|err| anyhow::anyhow!("sales event {id} has a corrupt date `{t}`: {err}"))
                };
                let before = SaleEvent {
                    family,
                    period_start: date(&start)?,
                    period_end: date(&end)?,
                    currency,
                    is_final,
                    units,
                    kenp_pages: pages,
                    royalty_micros: royalty,
                    ..e.clone()
                };
                c.prepare_cached(
                    "UPDATE sales_events SET job_id = ?2, period_start = ?3, period_end = ?4, month = ?5,
                        title = ?6, product_id = ?7, country = ?8, units = ?9, list_price_micros = ?10,
                        royalty_micros = ?11, currency = ?12, is_final = ?13, status = ?14, raw = ?15,
                        source = ?16, updated_at = ?17, family = ?18, kenp_pages = ?19
                      WHERE id = ?1",
                )?
                .execute(params![
                    id,
                    job_id,
                    iso_date(e.period_start),
                    iso_date(e.period_end),
                    e.month(),
                    e.title,
                    e.product_id,
                    e.country,
                    e.units,
                    e.list_price_micros,
                    e.royalty_micros,
                    e.currency,
                    e.is_final,
                    e.status,
                    raw_new,
                    e.source,
                    now,
                    e.family,
                    e.kenp_pages
                ])?;
                add_rollup(c, platform, 0, &rollup_of(std::slice::from_ref(&before)), -1)?;
                add_rollup(c, platform, 0, &rollup_of(std::slice::from_ref(e)), 1)?;
                updated += 1;
            }
            if let Some(cursor) = cursor {
                c.execute(
                    "INSERT INTO sync_cursors (platform, cursor, updated_at, job_id) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (platform) DO UPDATE SET
                       cursor = MAX(cursor, excluded.cursor), updated_at = excluded.updated_at,
                       job_id = excluded.job_id",
                    params![platform, cursor.to_string(), now, job_id],
                )?;
            }
            Ok((inserted, updated))
        })
    }

    fn sync_cursor(&self, platform: &str) -> Result<Option<NaiveDate>> {
        let s: Option<String> = self
            .conn()
            .query_row(
                "SELECT cursor FROM sync_cursors WHERE platform = ?1",
                params![platform],
                |r| r.get(0),
            )
            .optional()?;
        s.map(|s| {
            NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                .map_err(|e| anyhow::anyhow!("corrupt sync cursor `{s}` for {platform}: {e}"))
        })
        .transpose()
    }
}

/// The `raw_layouts` row of `layout` in this import: one written earlier (`known`, or `new` in
/// this transaction), else a new one. Usually the first entry, compared by pointer.
fn layout_id(
    c: &Connection,
    import_id: i64,
    layout: &Arc<RawLayout>,
    known: &[(Arc<RawLayout>, i64)],
    new: &mut Vec<(Arc<RawLayout>, i64)>,
) -> Result<i64> {
    let all = || known.iter().chain(new.iter());
    if let Some((_, id)) = all().find(|(l, _)| Arc::ptr_eq(l, layout)) {
        return Ok(*id);
    }
    if let Some((_, id)) = all().find(|(l, _)| l.keys_json == layout.keys_json) {
        let id = *id;
        new.push((layout.clone(), id));
        return Ok(id);
    }
    c.prepare_cached("INSERT INTO raw_layouts (import_id, keys) VALUES (?1, ?2)")?
        .execute(params![import_id, layout.keys_json])?;
    let id = c.last_insert_rowid();
    new.push((layout.clone(), id));
    Ok(id)
}

fn insert_event(
    stmt: &mut rusqlite::CachedStatement<'_>,
    e: &SaleEvent,
    import_id: Option<i64>,
    job_id: i64,
    raw_layout: Option<i64>,
    now: Millis,
) -> Result<()> {
    insert_event_text(
        stmt,
        e,
        &EventText::of(e),
        import_id,
        job_id,
        raw_layout,
        now,
    )
}

/// An event's dates and month as stored (ISO 8601 text).
struct EventText {
    start: String,
    end: String,
    month: String,
}

impl EventText {
    fn of(e: &SaleEvent) -> EventText {
        EventText {
            start: iso_date(e.period_start),
            end: iso_date(e.period_end),
            month: e.month(),
        }
    }
}

fn insert_event_text(
    stmt: &mut rusqlite::CachedStatement<'_>,
    e: &SaleEvent,
    text: &EventText,
    import_id: Option<i64>,
    job_id: i64,
    raw_layout: Option<i64>,
    now: Millis,
) -> Result<()> {
    // Without a stored layout the row's `raw` must be the whole object.
    let raw = match raw_layout {
        Some(_) => std::borrow::Cow::Borrowed(e.raw.as_str()),
        None => e.raw_json(),
    };
    stmt.execute(params![
        e.platform.as_str(),
        e.family,
        e.source,
        import_id,
        job_id,
        e.natural_key,
        text.start,
        text.end,
        text.month,
        e.title,
        e.product_id,
        e.format.as_str(),
        e.marketplace,
        e.retailer,
        e.country,
        e.units,
        e.kenp_pages,
        e.list_price_micros,
        e.royalty_micros,
        e.currency,
        e.is_final,
        e.status,
        raw,
        e.line as i64,
        now,
        raw_layout
    ])?;
    Ok(())
}

/// Make a staged import live, deleting the live events of the same platform and family whose
/// periods lie inside the range it covers (replace-by-coverage). Called inside the fenced
/// completion transaction. Returns the number of events removed.
///
/// One exception keeps month totals and day figures of one month from ever being added
/// (DESIGN §5): an import whose figures for a family are not month totals (a daily download)
/// never replaces those of an import that gives month totals for it (a lifetime download);
/// the views hide its days of those months instead. Month totals replace everything in
/// their range, days included.
pub(super) fn publish_import(c: &Connection, import_id: i64, now: Millis) -> Result<u64> {
    let platform: String = c.query_row(
        "SELECT platform FROM imports WHERE id = ?1 AND state = 'staging'",
        params![import_id],
        |r| r.get(0),
    )?;
    let coverage: Vec<(String, String, String, bool)> = {
        let mut stmt = c.prepare_cached(
            "SELECT family, period_start, period_end, month_totals FROM import_coverage
              WHERE import_id = ?1",
        )?;
        let rows = stmt.query_map(params![import_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut removed = 0u64;
    for (family, start, end, month_totals) in coverage {
        // The live imports whose rows of this family can lie inside the range: those whose own
        // coverage overlaps it (every staged family gets a coverage row when staging ends).
        // Their rows are found through `sales_import`, so the cost is the size of the imports
        // being replaced, never of the whole table, and no index over every event's period is
        // needed (migration 4 dropped it: it was half of a big import's time).
        let overlapping: Vec<i64> = {
            let mut stmt = c.prepare_cached(
                "SELECT i.id FROM imports i JOIN import_coverage ic ON ic.import_id = i.id
                  WHERE i.state = 'live' AND i.platform = ?1 AND i.id != ?5 AND ic.family = ?2
                    AND ic.period_start <= ?4 AND ic.period_end >= ?3
                    AND (?6 OR NOT ic.month_totals)",
            )?;
            let rows = stmt.query_map(
                params![platform, family, start, end, import_id, month_totals],
                |r| r.get(0),
            )?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for old in overlapping {
            removed += c
                .prepare_cached(
                    "DELETE FROM sales_events INDEXED BY sales_import
                      WHERE import_id = ?5 AND platform = ?1 AND family = ?2
                        AND period_start >= ?3 AND period_end <= ?4",
                )?
                .execute(params![platform, family, start, end, old])? as u64;
            // The same key range of the rollup: its key holds the import, family and period,
            // so these are exactly the sums of the events just deleted.
            c.prepare_cached(
                "DELETE FROM sales_rollup
                  WHERE import_id = ?5 AND platform = ?1 AND family = ?2
                    AND period_start >= ?3 AND period_end <= ?4",
            )?
            .execute(params![platform, family, start, end, old])?;
        }
    }
    c.execute(
        "UPDATE imports SET state = 'live', finished_at = ?2 WHERE id = ?1",
        params![import_id, now],
    )?;
    Ok(removed)
}

/// Add `sums` (signed) to the rollup rows of `platform` and `import_id` (0: API events), in the
/// caller's transaction: the one way the rollup changes (`rollup_of` of the events written or
/// removed, or the key range of a replaced import). An emptied row is dropped.
fn add_rollup(
    c: &Connection,
    platform: &str,
    import_id: i64,
    sums: &std::collections::HashMap<RollupKey<'_>, [i64; 4]>,
    sign: i64,
) -> Result<()> {
    let mut upsert = c.prepare_cached(
        "INSERT INTO sales_rollup (platform, family, import_id, month, period_start, period_end,
                                   currency, is_final, events, units, kenp_pages, royalty_micros)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (platform, family, import_id, month, period_start, period_end, currency, is_final)
         DO UPDATE SET events = events + excluded.events, units = units + excluded.units,
                       kenp_pages = kenp_pages + excluded.kenp_pages,
                       royalty_micros = royalty_micros + excluded.royalty_micros",
    )?;
    for ((family, start, end, currency, is_final), [n, units, pages, royalty]) in sums {
        let end_text = iso_date(*end);
        upsert.execute(params![
            platform,
            family,
            import_id,
            &end_text[..7],
            iso_date(*start),
            end_text,
            currency,
            is_final,
            sign * n,
            sign * units,
            sign * pages,
            sign * royalty
        ])?;
    }
    if sign < 0 {
        c.prepare_cached(
            "DELETE FROM sales_rollup WHERE platform = ?1 AND import_id = ?2 AND events = 0",
        )?
        .execute(params![platform, import_id])?;
    }
    Ok(())
}

/// Insert an API event unless its natural key is stored already; `true` when inserted.
fn insert_event_returning(c: &Connection, e: &SaleEvent, job_id: i64, now: Millis) -> Result<bool> {
    let text = EventText::of(e);
    let id: Option<i64> = c
        .prepare_cached(&format!(
            "{INSERT_EVENT} ON CONFLICT (natural_key) WHERE natural_key IS NOT NULL DO NOTHING
             RETURNING id"
        ))?
        .query_row(
            params![
                e.platform.as_str(),
                e.family,
                e.source,
                None::<i64>,
                job_id,
                e.natural_key,
                text.start,
                text.end,
                text.month,
                e.title,
                e.product_id,
                e.format.as_str(),
                e.marketplace,
                e.retailer,
                e.country,
                e.units,
                e.kenp_pages,
                e.list_price_micros,
                e.royalty_micros,
                e.currency,
                e.is_final,
                e.status,
                e.raw_json(),
                e.line as i64,
                now,
                None::<i64>
            ],
            |r| r.get(0),
        )
        .optional()?;
    Ok(id.is_some())
}

/// Delete what earlier attempts of `job_id` staged but never published.
pub(super) fn discard_staged_imports(c: &Connection, job_id: i64) -> Result<()> {
    let ids: Vec<i64> = {
        let mut stmt =
            c.prepare_cached("SELECT id FROM imports WHERE job_id = ?1 AND state = 'staging'")?;
        let rows = stmt.query_map(params![job_id], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for id in ids {
        discard_import_rows(c, id)?;
    }
    Ok(())
}

/// Delete staged imports whose job is no longer processing (left by a killed worker whose job
/// then failed or was pruned).
pub(super) fn discard_orphan_staging(c: &Connection) -> Result<()> {
    let ids: Vec<i64> = {
        let mut stmt = c.prepare_cached(
            "SELECT i.id FROM imports i WHERE i.state = 'staging'
               AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = i.job_id AND j.state = 'processing')",
        )?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for id in ids {
        discard_import_rows(c, id)?;
    }
    Ok(())
}

/// Delete a staged import with its rows and rollup rows (nothing, for a live import).
fn discard_import_rows(c: &Connection, import_id: i64) -> Result<()> {
    let staging: bool = c
        .query_row(
            "SELECT 1 FROM imports WHERE id = ?1 AND state = 'staging'",
            params![import_id],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if !staging {
        return Ok(());
    }
    c.execute(
        "DELETE FROM sales_events WHERE import_id = ?1",
        params![import_id],
    )?;
    c.execute(
        "DELETE FROM sales_rollup WHERE import_id = ?1",
        params![import_id],
    )?;
    c.execute("DELETE FROM imports WHERE id = ?1", params![import_id])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[allow(unused_imports)]
    use crate::store::{ReportStore as _, SalesStore as _, UpkeepStore as _};
    use std::sync::Arc;

    use chrono::NaiveDate;

    use super::{publish_import, StagedImport, StagingDone};
    use crate::model::{Coverage, Format, Platform, RawLayout, SaleEvent};
    use crate::store::testutil::{claimed_lease, temp_db, At as _};
    use crate::store::ReportFilter;

    fn event(layout: &Arc<RawLayout>, cells: [&str; 3], day: u32) -> SaleEvent {
        let date = NaiveDate::from_ymd_opt(2025, 3, day).unwrap();
        SaleEvent {
            platform: Platform::Draft2digital,
            family: "d2d_ebook".into(),
            source: "d2d.ebook".into(),
            natural_key: None,
            period_start: date,
            period_end: date,
            title: cells[0].into(),
            product_id: "1".into(),
            format: Format::Ebook,
            marketplace: String::new(),
            retailer: String::new(),
            country: String::new(),
            units: 1,
            kenp_pages: 0,
            list_price_micros: None,
            royalty_micros: 1_000_000,
            currency: "USD".into(),
            is_final: true,
            status: String::new(),
            raw: layout.cells_json(0, |i| cells[i]),
            raw_layout: Some(layout.clone()),
            line: 2,
        }
    }

    fn ymd(m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, m, d).unwrap()
    }

    /// A KDP event of `family` over `start..=end` worth `units` and `royalty` cents.
    fn kdp(family: &str, start: NaiveDate, end: NaiveDate, units: i64, cents: i64) -> SaleEvent {
        let format = match family.rsplit('.').next() {
            Some("paperback") => Format::Paperback,
            Some("hardcover") => Format::Hardcover,
            Some("kenp") => Format::Kenp,
            _ => Format::Ebook,
        };
        SaleEvent {
            platform: Platform::AmazonKdp,
            family: family.into(),
            source: "kdp.test".into(),
            natural_key: None,
            period_start: start,
            period_end: end,
            title: "T".into(),
            product_id: "B0X".into(),
            format,
            marketplace: "Amazon.com".into(),
            retailer: "Amazon".into(),
            country: "US".into(),
            units,
            kenp_pages: 0,
            list_price_micros: None,
            royalty_micros: cents * 10_000,
            currency: "USD".into(),
            is_final: family.starts_with("kdp_final"),
            status: String::new(),
            raw: "{}".into(),
            raw_layout: None,
            line: 2,
        }
    }

    /// Stage and publish one KDP file; returns the number of events it replaced.
    fn publish(db: &super::Db, events: &[SaleEvent], coverage: &[Coverage]) -> u64 {
        let lease = claimed_lease(db, "amazon_kdp");
        let mut import = StagedImport::new(&lease, "amazon_kdp", "f.xlsx", "h");
        let done = Some(StagingDone {
            layout: "kdp",
            rows: events.len() as u64,
            coverage,
        });
        db.stage_events_at(&mut import, events, done, 0).unwrap();
        db.immediate(|c| publish_import(c, import.id.unwrap(), 1))
            .unwrap()
    }

    fn cover(family: &str, start: NaiveDate, end: NaiveDate, month_totals: bool) -> Coverage {
        Coverage {
            family: family.into(),
            start,
            end,
            month_totals,
        }
    }

    /// (family, units, royalty) that reports count, through the events view and through the
    /// rollup view (which must agree).
    fn effective(db: &super::Db) -> Vec<(String, i64, i64)> {
        let q = |sql: &str| -> Vec<(String, i64, i64)> {
            let mut stmt = db.conn().prepare(sql).unwrap();
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap();
            rows.map(Result::unwrap).collect()
        };
        let events = q(
            "SELECT family || ' ' || month, sum(units), sum(royalty_micros) / 10000
                          FROM effective_sales GROUP BY 1 ORDER BY 1",
        );
        let rollup = q(
            "SELECT family || ' ' || month, sum(units), sum(royalty_micros) / 10000
                          FROM effective_rollup GROUP BY 1 ORDER BY 1",
        );
        assert_eq!(events, rollup);
        events
    }

    /// A lifetime download's month totals and a Dashboard's days of the same month and kind are
    /// never added, whichever comes first: the month totals count. The Dashboard never replaces
    /// them (its days are kept, hidden); month totals replace days.
    #[test]
    fn month_totals_and_days_of_a_month_are_never_added() {
        let lifetime = [
            kdp("kdp_estimate.ebook", ymd(8, 1), ymd(8, 31), 5, 1_500),
            kdp("kdp_estimate.ebook", ymd(7, 1), ymd(7, 31), 9, 2_700),
        ];
        let lifetime_cover = [
            cover("kdp_estimate.ebook", ymd(7, 1), ymd(8, 31), true),
            cover("kdp_estimate.hardcover", ymd(7, 1), ymd(8, 31), true),
        ];
        // Days of August (the whole month inside its range), a hardcover sale the lifetime
        // download did not have yet, and September.
        let dashboard = [
            kdp("kdp_estimate.ebook", ymd(8, 1), ymd(8, 1), 4, 1_200),
            kdp("kdp_estimate.ebook", ymd(8, 20), ymd(8, 20), 3, 900),
            kdp("kdp_estimate.hardcover", ymd(8, 20), ymd(8, 20), 1, 700),
            kdp("kdp_estimate.ebook", ymd(9, 1), ymd(9, 1), 1, 300),
        ];
        let dashboard_cover = [
            cover("kdp_estimate.ebook", ymd(8, 1), ymd(9, 1), false),
            cover("kdp_estimate.hardcover", ymd(8, 1), ymd(9, 1), false),
        ];
        let expected = vec![
            ("kdp_estimate.ebook 2025-07".to_string(), 9, 2_700),
            ("kdp_estimate.ebook 2025-08".to_string(), 5, 1_500),
            ("kdp_estimate.ebook 2025-09".to_string(), 1, 300),
        ];
        let (_d, db) = temp_db();
        publish(&db, &lifetime, &lifetime_cover);
        assert_eq!(
            publish(&db, &dashboard, &dashboard_cover),
            0,
            "nothing replaced"
        );
        assert_eq!(effective(&db), expected);
        let (_d, db) = temp_db();
        publish(&db, &dashboard, &dashboard_cover);
        assert_eq!(
            publish(&db, &lifetime, &lifetime_cover),
            3,
            "August's days replaced"
        );
        assert_eq!(effective(&db), expected);
        // Without the month-totals flag (imports older than schema 7, D2D, Smashwords) the
        // rule is the old one: a later file replaces whatever lies inside its range.
        let (_d, db) = temp_db();
        let plain = [cover("kdp_estimate.ebook", ymd(7, 1), ymd(8, 31), false)];
        publish(&db, &lifetime, &plain);
        assert_eq!(publish(&db, &dashboard, &dashboard_cover), 1);
        assert_eq!(
            effective(&db),
            vec![
                ("kdp_estimate.ebook 2025-07".to_string(), 9, 2_700),
                ("kdp_estimate.ebook 2025-08".to_string(), 7, 2_100),
                ("kdp_estimate.ebook 2025-09".to_string(), 1, 300),
                ("kdp_estimate.hardcover 2025-08".to_string(), 1, 700),
            ]
        );
    }

    /// A final report shadows the estimates of its months kind by kind, including a kind whose
    /// sheet it has but that sold nothing (declared coverage, no rows); the KENP royalty
    /// estimate is shadowed by a final KENP report.
    #[test]
    fn a_final_report_shadows_only_the_kinds_it_covers() {
        let (_d, db) = temp_db();
        publish(
            &db,
            &[
                kdp("kdp_estimate.ebook", ymd(7, 1), ymd(7, 31), 3, 900),
                kdp("kdp_estimate.paperback", ymd(7, 1), ymd(7, 31), 2, 1_000),
                kdp("kdp_estimate.hardcover", ymd(7, 1), ymd(7, 31), 1, 700),
                kdp("kdp_estimate.kenp_royalty", ymd(7, 1), ymd(7, 31), 0, 55),
                kdp("kdp_estimate.ebook", ymd(6, 1), ymd(6, 30), 1, 300),
            ],
            &[],
        );
        // A final eBook sheet copy: only eBook estimates of July give way.
        publish(
            &db,
            &[kdp("kdp_final.ebook", ymd(7, 1), ymd(7, 31), 3, 910)],
            &[cover("kdp_final.ebook", ymd(7, 1), ymd(7, 31), true)],
        );
        assert_eq!(
            effective(&db),
            vec![
                ("kdp_estimate.ebook 2025-06".to_string(), 1, 300),
                ("kdp_estimate.hardcover 2025-07".to_string(), 1, 700),
                ("kdp_estimate.kenp_royalty 2025-07".to_string(), 0, 55),
                ("kdp_estimate.paperback 2025-07".to_string(), 2, 1_000),
                ("kdp_final.ebook 2025-07".to_string(), 3, 910),
            ]
        );
        // The whole final workbook: an empty Hardcover sheet still says "no hardcover sales",
        // and its KENP sheet carries the KENP money.
        publish(
            &db,
            &[
                kdp("kdp_final.paperback", ymd(7, 1), ymd(7, 31), 2, 1_010),
                kdp("kdp_final.kenp", ymd(7, 1), ymd(7, 31), 0, 60),
            ],
            &[
                cover("kdp_final.paperback", ymd(7, 1), ymd(7, 31), true),
                cover("kdp_final.hardcover", ymd(7, 1), ymd(7, 31), true),
                cover("kdp_final.kenp", ymd(7, 1), ymd(7, 31), true),
            ],
        );
        assert_eq!(
            effective(&db),
            vec![
                ("kdp_estimate.ebook 2025-06".to_string(), 1, 300),
                ("kdp_final.ebook 2025-07".to_string(), 3, 910),
                ("kdp_final.kenp 2025-07".to_string(), 0, 60),
                ("kdp_final.paperback 2025-07".to_string(), 2, 1_010),
            ]
        );
    }

    /// The store records what the file declares beside the range of its rows, and never takes
    /// a family for month totals when one of its rows is not a whole month, or when it is not a
    /// KDP estimate family.
    #[test]
    fn declared_coverage_is_recorded_with_the_rows_range() {
        let (_d, db) = temp_db();
        publish(
            &db,
            &[
                kdp("kdp_estimate.ebook", ymd(7, 1), ymd(7, 31), 1, 100),
                kdp("kdp_estimate.kenp", ymd(7, 3), ymd(7, 3), 0, 0),
            ],
            &[
                cover("kdp_estimate.ebook", ymd(6, 1), ymd(7, 31), true),
                cover("kdp_estimate.kenp", ymd(6, 1), ymd(7, 31), true),
                cover("kdp_estimate.hardcover", ymd(6, 1), ymd(7, 31), true),
                cover("kdp_final.ebook", ymd(6, 1), ymd(6, 30), true),
            ],
        );
        let rows: Vec<String> = {
            let mut stmt = db
                .conn()
                .prepare(
                    "SELECT family || ' ' || period_start || ' ' || period_end || ' ' || month_totals
                       FROM import_coverage ORDER BY family",
                )
                .unwrap();
            let rows = stmt.query_map([], |r| r.get(0)).unwrap();
            rows.map(Result::unwrap).collect()
        };
        assert_eq!(
            rows,
            [
                "kdp_estimate.ebook 2025-06-01 2025-07-31 1",
                "kdp_estimate.hardcover 2025-06-01 2025-07-31 1",
                "kdp_estimate.kenp 2025-06-01 2025-07-31 0",
                // Only KDP estimates give month totals beside days (what the views apply).
                "kdp_final.ebook 2025-06-01 2025-06-30 0",
            ]
        );
    }

    /// Each staged chunk writes its rollup delta, under its import's id and invisible until the
    /// import turns live, when the live rollup equals the live events exactly (publishing does
    /// not read the rows back); a discarded import leaves no rollup row behind.
    #[test]
    fn staged_imports_bring_their_rollup_invisibly_until_published() {
        let (_d, db) = temp_db();
        let headers = ["Title", "Units", "Note"].map(str::to_string).to_vec();
        let layout = Arc::new(RawLayout::new(&headers, false));
        let row = |day| event(&layout, ["Sea Glass", "1", ""], day);
        let done = Some(StagingDone {
            layout: "ebook",
            rows: 5,
            coverage: &[],
        });
        let sums = |sql: &str| -> (i64, i64) {
            db.conn()
                .query_row(sql, [], |r| {
                    Ok((r.get::<_, Option<i64>>(0)?.unwrap_or(0), r.get(1)?))
                })
                .unwrap()
        };
        let lease = claimed_lease(&db, "draft2digital");
        let mut import = StagedImport::new(&lease, "draft2digital", "a.csv", "aaa");
        db.stage_events_at(&mut import, &[row(1), row(1), row(2)], None, 0)
            .unwrap();
        assert_eq!(
            sums("SELECT sum(events), count(*) FROM sales_rollup"),
            (3, 2),
            "written with its chunk"
        );
        assert_eq!(
            sums("SELECT sum(events), count(*) FROM live_rollup"),
            (0, 0),
            "invisible while staged"
        );
        db.stage_events_at(&mut import, &[row(1), row(3)], done, 0)
            .unwrap();
        let id = import.id.unwrap();
        assert_eq!(
            sums("SELECT sum(events), count(*) FROM sales_rollup"),
            (5, 3),
            "one rollup row per day, summed across the two chunks"
        );
        assert_eq!(
            sums("SELECT sum(events), count(*) FROM live_rollup"),
            (0, 0)
        );
        db.immediate(|c| publish_import(c, id, 1)).unwrap();
        let by_day = |view: &str, count: &str| -> Vec<(String, i64, i64)> {
            let mut stmt = db
                .conn()
                .prepare(&format!(
                    "SELECT period_end, {count}, sum(royalty_micros) FROM {view}
                      GROUP BY period_end ORDER BY period_end"
                ))
                .unwrap();
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap();
            rows.map(Result::unwrap).collect()
        };
        let live = by_day("live_rollup", "sum(events)");
        assert_eq!(live, by_day("live_sales", "count(*)"));
        assert_eq!(live[0].1, 3);
        // A second job's import is staged to the end, then thrown away (its job failed).
        let other = claimed_lease(&db, "draft2digital");
        let mut discarded = StagedImport::new(&other, "draft2digital", "b.csv", "bbb");
        db.stage_events_at(&mut discarded, &[row(4), row(5)], done, 2)
            .unwrap();
        assert_eq!(
            sums("SELECT sum(events), count(*) FROM sales_rollup"),
            (7, 5)
        );
        db.discard_import(discarded.id.unwrap()).unwrap();
        assert_eq!(
            sums("SELECT sum(events), count(*) FROM sales_rollup"),
            (5, 3)
        );
        assert_eq!(
            sums("SELECT sum(events), count(*) FROM live_rollup"),
            (5, 3)
        );
    }

    /// A chunk whose transaction failed after some of its rows were written takes its rollup
    /// delta with it (one transaction): once published, the live rollup equals the live events.
    #[test]
    fn a_failed_chunk_takes_its_rollup_delta_with_it() {
        let (_d, db) = temp_db();
        let headers = ["Title", "Units", "Note"].map(str::to_string).to_vec();
        let layout = Arc::new(RawLayout::new(&headers, false));
        let row = |title, day| event(&layout, [title, "1", ""], day);
        db.conn()
            .execute_batch(
                "CREATE TEMP TRIGGER boom BEFORE INSERT ON sales_events WHEN NEW.title = 'Boom'
                 BEGIN SELECT RAISE(ABORT, 'boom'); END;",
            )
            .unwrap();
        let lease = claimed_lease(&db, "draft2digital");
        let mut import = StagedImport::new(&lease, "draft2digital", "a.csv", "aaa");
        db.stage_events_at(&mut import, &[row("Sea Glass", 1)], None, 0)
            .unwrap();
        // Two rows are summed, then the third aborts the chunk's transaction.
        let failed = [row("Fox", 2), row("Fox", 2), row("Boom", 2)];
        assert!(db.stage_events_at(&mut import, &failed, None, 0).is_err());
        let done = Some(StagingDone {
            layout: "ebook",
            rows: 2,
            coverage: &[],
        });
        db.stage_events_at(&mut import, &[row("Fox", 3)], done, 0)
            .unwrap();
        let id = import.id.unwrap();
        db.immediate(|c| publish_import(c, id, 1)).unwrap();
        let totals = |view: &str, count: &str| -> (i64, i64) {
            db.conn()
                .query_row(
                    &format!("SELECT {count}, sum(royalty_micros) FROM {view}"),
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap()
        };
        assert_eq!(totals("live_rollup", "sum(events)"), (2, 2_000_000));
        assert_eq!(totals("live_sales", "count(*)"), (2, 2_000_000));
    }

    /// A file's header is stored once however many chunks and rows carry it (an equal header
    /// from another `Arc` reuses it, a different one gets its own row), rows keep only their
    /// cells, and the export gives back each row as the object header → cell.
    #[test]
    fn staged_rows_store_their_header_once_and_export_rebuilds_the_object() {
        let (_d, db) = temp_db();
        let headers = |h: [&str; 3]| h.map(str::to_string).to_vec();
        let a = Arc::new(RawLayout::new(&headers(["Title", "Units", "Title"]), false));
        let a_again = Arc::new(RawLayout::new(&headers(["Title", "Units", "Title"]), false));
        let b = Arc::new(RawLayout::new(&headers(["Zeta", "Alpha", "Mid"]), false));
        let lease = claimed_lease(&db, "draft2digital");
        let mut import = StagedImport::new(&lease, "draft2digital", "d.csv", "abc");
        db.stage_events_at(
            &mut import,
            &[event(&a, ["Sea \"Glass\"", "1", "Sea Glass"], 1)],
            None,
            0,
        )
        .unwrap();
        db.stage_events_at(
            &mut import,
            &[
                event(&a_again, ["Fox", "2", "Fox Hollow"], 2),
                event(&b, ["z\ny", "a", "m"], 3),
            ],
            Some(StagingDone {
                layout: "ebook",
                rows: 3,
                coverage: &[],
            }),
            0,
        )
        .unwrap();
        let id = import.id.unwrap();
        db.immediate(|c| publish_import(c, id, 1)).unwrap();
        let layouts: i64 = db
            .conn()
            .query_row("SELECT count(*) FROM raw_layouts", [], |r| r.get(0))
            .unwrap();
        assert_eq!(layouts, 2);
        let stored: String = db
            .conn()
            .query_row(
                "SELECT raw FROM sales_events ORDER BY id LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(stored, r#"["Sea Glass","1"]"#);
        let mut raws = Vec::new();
        db.for_each_sale(&ReportFilter::default(), &mut |e| {
            raws.push(e.raw.clone());
            Ok(())
        })
        .unwrap();
        assert_eq!(
            raws,
            [
                r#"{"Title":"Sea Glass","Units":"1"}"#,
                r#"{"Title":"Fox Hollow","Units":"2"}"#,
                r#"{"Alpha":"a","Mid":"m","Zeta":"z\ny"}"#,
            ]
        );
    }
}
