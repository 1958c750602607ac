//! `impl PayoutStore for Db`, and the write of a file's payouts inside the fenced completion
//! that publishes its import (`effects::publish`).

use std::collections::BTreeSet;

use anyhow::Result;
use rusqlite::{params, Connection};

use super::Db;
use crate::model::{iso_date, Payout};
use crate::queue::Millis;
use crate::store::{payouts_coverage, PayoutFilter, PayoutRow, PayoutStore};

/// The natural key of a payout.
type Key = (String, String, String, String, String);

fn key(p: &Payout) -> Key {
    (
        p.platform.as_str().to_string(),
        p.source.clone(),
        p.reference.clone(),
        iso_date(p.date),
        p.currency.clone(),
    )
}

/// Write a file's payouts (inside the completion's transaction): per platform and source (and
/// currency, for stated payments: `payouts_coverage`), the stored payouts dated inside the
/// range of the file's are replaced by the file's; a payout
/// with the same key is updated in place (its id kept), so a re-import changes nothing.
/// Returns the number of stored payouts the file removed.
pub(super) fn publish(
    c: &Connection,
    import_id: Option<i64>,
    payouts: &[Payout],
    now: Millis,
) -> Result<u64> {
    if payouts.is_empty() {
        return Ok(0);
    }
    let keep: BTreeSet<Key> = payouts.iter().map(key).collect();
    let mut removed = 0;
    for ((platform, source, scope), (lo, hi)) in payouts_coverage(payouts) {
        let stored: Vec<(i64, Key)> = {
            let mut stmt = c.prepare_cached(
                "SELECT id, platform, source, reference, paid_on, currency FROM payouts
                  WHERE platform = ?1 AND source = ?2 AND paid_on >= ?3 AND paid_on <= ?4
                    AND (?5 = '' OR currency = ?5)",
            )?;
            let rows = stmt.query_map(params![platform, source, lo, hi, scope], |r| {
                Ok((
                    r.get(0)?,
                    (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?),
                ))
            })?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for (id, k) in stored {
            if !keep.contains(&k) {
                removed += c.execute("DELETE FROM payouts WHERE id = ?1", params![id])? as u64;
            }
        }
    }
    let mut stmt = c.prepare_cached(
        "INSERT INTO payouts (platform, source, reference, paid_on, amount_micros, currency,
            period_start, period_end, marketplace, royalty_currency, accrued_micros,
            withholding_micros, adjustments_micros, net_micros, fx_rate, status, import_id, line,
            updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)
         ON CONFLICT (platform, source, reference, paid_on, currency) DO UPDATE SET
            amount_micros = excluded.amount_micros, period_start = excluded.period_start,
            period_end = excluded.period_end, marketplace = excluded.marketplace,
            royalty_currency = excluded.royalty_currency, accrued_micros = excluded.accrued_micros,
            withholding_micros = excluded.withholding_micros,
            adjustments_micros = excluded.adjustments_micros, net_micros = excluded.net_micros,
            fx_rate = excluded.fx_rate, status = excluded.status, import_id = excluded.import_id,
            line = excluded.line, updated_at = excluded.updated_at",
    )?;
    for p in payouts {
        stmt.execute(params![
            p.platform.as_str(),
            p.source,
            p.reference,
            iso_date(p.date),
            p.amount_micros,
            p.currency,
            p.period.map(|(s, _)| iso_date(s)),
            p.period.map(|(_, e)| iso_date(e)),
            p.marketplace,
            p.royalty_currency,
            p.accrued_micros,
            p.withholding_micros,
            p.adjustments_micros,
            p.net_micros,
            p.fx_rate,
            p.status,
            import_id,
            p.line as i64,
            now,
        ])?;
    }
    Ok(removed)
}

impl PayoutStore for Db {
    fn payouts(&self, filter: &PayoutFilter) -> Result<Vec<PayoutRow>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT platform, source, reference, paid_on, amount_micros, currency, period_start,
                    period_end, marketplace, royalty_currency, accrued_micros, withholding_micros,
                    adjustments_micros, net_micros, fx_rate, status, import_id
               FROM payouts
              ORDER BY platform, paid_on, reference, currency, source",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(PayoutRow {
                platform: r.get(0)?,
                source: r.get(1)?,
                reference: r.get(2)?,
                paid_on: r.get(3)?,
                amount_micros: r.get(4)?,
                currency: r.get(5)?,
                period_start: r.get(6)?,
                period_end: r.get(7)?,
                marketplace: r.get(8)?,
                royalty_currency: r.get(9)?,
                accrued_micros: r.get(10)?,
                withholding_micros: r.get(11)?,
                adjustments_micros: r.get(12)?,
                net_micros: r.get(13)?,
                fx_rate: r.get(14)?,
                status: r.get(15)?,
                import_id: r.get(16)?,
            })
        })?;
        let mut out = Vec::new();
        for row in rows {
            let row = row?;
            if filter.keeps(&row) {
                out.push(row);
            }
        }
        Ok(out)
    }
}
