//! Sales events: staged file imports published by replace-by-coverage, upserts by natural key
//! (API platforms), and sync cursors.

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::NaiveDate;
use rusqlite::{params, Connection, OptionalExtension};

use super::Db;
use crate::model::SaleEvent;
use crate::queue::Millis;

/// A file import being staged. The `imports` row is created by the first `stage_events` call
/// (in the same transaction as the first chunk), so a small file costs one transaction.
#[derive(Debug)]
pub struct StagedImport {
    /// The `imports` row, once created.
    pub id: Option<i64>,
    job_id: i64,
    platform: String,
    file: String,
    sha256: String,
    /// Per family: the earliest start and latest end of the staged events.
    coverage: BTreeMap<String, (NaiveDate, NaiveDate)>,
    pub events: u64,
}

impl StagedImport {
    /// A new import of `file` for `job_id` (nothing is written yet).
    pub fn new(job_id: i64, platform: &str, file: &str, sha256: &str) -> StagedImport {
        StagedImport {
            id: None,
            job_id,
            platform: platform.to_string(),
            file: file.to_string(),
            sha256: sha256.to_string(),
            coverage: BTreeMap::new(),
            events: 0,
        }
    }
}

/// What the parse found, recorded with the last chunk.
#[derive(Debug, Clone, Copy)]
pub struct StagingDone<'a> {
    pub layout: &'a str,
    pub rows: u64,
}

/// A live import of the same content, found at enqueue time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorImport {
    pub import_id: i64,
    /// The platform it was imported as.
    pub platform: String,
    pub job_id: Option<i64>,
    pub finished_at: Option<Millis>,
}

const INSERT_EVENT: &str = "INSERT INTO sales_events (platform, family, source, import_id, job_id, natural_key,
    period_start, period_end, month, title, product_id, format, marketplace, retailer, country,
    units, kenp_pages, list_price_micros, royalty_micros, currency, is_final, status, raw, line, updated_at)
  VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)";

impl Db {
    /// Stage a chunk of events in one short transaction; they stay invisible until published.
    /// The first call discards what an interrupted earlier attempt of the same job staged and
    /// creates the `imports` row; the call with `done` records the layout and the coverage that
    /// `publish_import` will replace at completion.
    ///
    /// # Errors
    /// Database errors.
    pub fn stage_events(
        &self,
        import: &mut StagedImport,
        events: &[SaleEvent],
        done: Option<StagingDone<'_>>,
        now: Millis,
    ) -> Result<()> {
        if events.is_empty() && done.is_none() {
            return Ok(());
        }
        for e in events {
            // Look up before inserting: no `String` clone per event for a family already seen.
            match import.coverage.get_mut(&e.family) {
                Some(cov) => {
                    cov.0 = cov.0.min(e.period_start);
                    cov.1 = cov.1.max(e.period_end);
                }
                None => {
                    import
                        .coverage
                        .insert(e.family.clone(), (e.period_start, e.period_end));
                }
            }
        }
        let id = self.immediate(|c| {
            let id =
                match import.id {
                    Some(id) => id,
                    None => {
                        discard_staged_imports(c, import.job_id)?;
                        c.execute(
                        "INSERT INTO imports (job_id, platform, file, sha256, state, started_at)
                         VALUES (?1, ?2, ?3, ?4, 'staging', ?5)",
                        params![import.job_id, import.platform, import.file, import.sha256, now],
                    )?;
                        c.last_insert_rowid()
                    }
                };
            let mut stmt = c.prepare_cached(INSERT_EVENT)?;
            for e in events {
                insert_event(&mut stmt, e, Some(id), import.job_id, now)?;
            }
            if let Some(done) = done {
                c.execute(
                    "UPDATE imports SET layout = ?2, rows = ?3, events = ?4 WHERE id = ?1",
                    params![
                        id,
                        done.layout,
                        done.rows,
                        import.events + events.len() as u64
                    ],
                )?;
                c.execute(
                    "DELETE FROM import_coverage WHERE import_id = ?1",
                    params![id],
                )?;
                for (family, (start, end)) in &import.coverage {
                    c.execute(
                        "INSERT INTO import_coverage (import_id, family, period_start, period_end)
                         VALUES (?1, ?2, ?3, ?4)",
                        params![id, family, start.to_string(), end.to_string()],
                    )?;
                }
            }
            Ok(id)
        })?;
        import.id = Some(id);
        import.events += events.len() as u64;
        Ok(())
    }

    /// Throw away a staged import (the job failed).
    ///
    /// # Errors
    /// Database errors.
    pub fn discard_import(&self, import_id: i64) -> Result<()> {
        self.immediate(|c| discard_import_rows(c, import_id))
    }

    /// The live import of a file with this content hash, if any.
    ///
    /// # Errors
    /// Database errors.
    pub fn live_import_by_sha(&self, sha256: &str) -> Result<Option<PriorImport>> {
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

    /// Upsert events by natural key, and advance the platform's sync cursor, in one
    /// transaction. Returns (inserted, updated).
    ///
    /// # Errors
    /// Database errors, or an event without a natural key.
    pub fn upsert_events(
        &self,
        platform: &str,
        job_id: i64,
        events: &[SaleEvent],
        cursor: Option<NaiveDate>,
        now: Millis,
    ) -> Result<(u64, u64)> {
        self.immediate(|c| {
            let mut inserted = 0;
            let mut updated = 0;
            {
                let mut find = c.prepare_cached(
                    "SELECT id FROM sales_events WHERE natural_key = ?1",
                )?;
                let mut ins = c.prepare_cached(INSERT_EVENT)?;
                let mut upd = c.prepare_cached(
                    "UPDATE sales_events SET job_id = ?2, period_start = ?3, period_end = ?4, month = ?5,
                        title = ?6, product_id = ?7, country = ?8, units = ?9, list_price_micros = ?10,
                        royalty_micros = ?11, currency = ?12, is_final = ?13, status = ?14, raw = ?15,
                        source = ?16, updated_at = ?17
                      WHERE id = ?1 AND (units != ?9 OR royalty_micros != ?11 OR status != ?14
                        OR raw != ?15 OR title != ?6 OR country != ?8 OR is_final != ?13)",
                )?;
                for e in events {
                    let Some(key) = &e.natural_key else {
                        anyhow::bail!("an event from {platform} has no natural key");
                    };
                    let existing: Option<i64> =
                        find.query_row(params![key], |r| r.get(0)).optional()?;
                    match existing {
                        None => {
                            insert_event(&mut ins, e, None, job_id, now)?;
                            inserted += 1;
                        }
                        Some(id) => {
                            let n = upd.execute(params![
                                id,
                                job_id,
                                e.period_start.to_string(),
                                e.period_end.to_string(),
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
                                e.raw,
                                e.source,
                                now
                            ])?;
                            updated += n as u64;
                        }
                    }
                }
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

    /// The stored sync cursor of a platform.
    ///
    /// # Errors
    /// Database errors or a corrupt cursor.
    pub fn sync_cursor(&self, platform: &str) -> Result<Option<NaiveDate>> {
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

fn insert_event(
    stmt: &mut rusqlite::CachedStatement<'_>,
    e: &SaleEvent,
    import_id: Option<i64>,
    job_id: i64,
    now: Millis,
) -> Result<()> {
    stmt.execute(params![
        e.platform.as_str(),
        e.family,
        e.source,
        import_id,
        job_id,
        e.natural_key,
        e.period_start.to_string(),
        e.period_end.to_string(),
        e.month(),
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
        e.raw,
        e.line as i64,
        now
    ])?;
    Ok(())
}

/// Make a staged import live, deleting the live events of the same platform and family whose
/// periods lie inside the range it covers (replace-by-coverage). Called inside the fenced
/// completion transaction. Returns the number of events removed.
pub(super) fn publish_import(c: &Connection, import_id: i64, now: Millis) -> Result<u64> {
    let platform: String = c.query_row(
        "SELECT platform FROM imports WHERE id = ?1 AND state = 'staging'",
        params![import_id],
        |r| r.get(0),
    )?;
    let coverage: Vec<(String, String, String)> = {
        let mut stmt = c.prepare_cached(
            "SELECT family, period_start, period_end FROM import_coverage WHERE import_id = ?1",
        )?;
        let rows = stmt.query_map(params![import_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let own_events: i64 = c.query_row(
        "SELECT events FROM imports WHERE id = ?1",
        params![import_id],
        |r| r.get(0),
    )?;
    let mut removed = 0u64;
    for (family, start, end) in coverage {
        // The live imports whose rows of this family can lie inside the range: those whose own
        // coverage overlaps it (every staged family gets a coverage row in `finish_staging`).
        let overlapping: Vec<(i64, i64)> = {
            let mut stmt = c.prepare_cached(
                "SELECT i.id, i.events FROM imports i JOIN import_coverage ic ON ic.import_id = i.id
                  WHERE i.state = 'live' AND i.platform = ?1 AND i.id != ?5 AND ic.family = ?2
                    AND ic.period_start <= ?4 AND ic.period_end >= ?3",
            )?;
            let rows = stmt.query_map(params![platform, family, start, end, import_id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let candidates: i64 = overlapping.iter().map(|(_, n)| n).sum();
        if candidates < own_events {
            // Same rows deleted as below, found through the older imports' own rows: the
            // coverage index would walk every row this (large) import just staged in the range.
            for (old, _) in overlapping {
                removed += c
                    .prepare_cached(
                        "DELETE FROM sales_events INDEXED BY sales_import
                          WHERE import_id = ?5 AND platform = ?1 AND family = ?2
                            AND period_start >= ?3 AND period_end <= ?4",
                    )?
                    .execute(params![platform, family, start, end, old])?
                    as u64;
            }
        } else {
            removed += c.execute(
                "DELETE FROM sales_events
                  WHERE platform = ?1 AND family = ?2 AND period_start >= ?3 AND period_end <= ?4
                    AND import_id IS NOT NULL AND import_id != ?5
                    AND import_id IN (SELECT id FROM imports WHERE state = 'live')",
                params![platform, family, start, end, import_id],
            )? as u64;
        }
    }
    c.execute(
        "UPDATE imports SET state = 'live', finished_at = ?2 WHERE id = ?1",
        params![import_id, now],
    )?;
    Ok(removed)
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

fn discard_import_rows(c: &Connection, import_id: i64) -> Result<()> {
    c.execute(
        "DELETE FROM sales_events WHERE import_id = ?1",
        params![import_id],
    )?;
    c.execute(
        "DELETE FROM imports WHERE id = ?1 AND state = 'staging'",
        params![import_id],
    )?;
    Ok(())
}
