//! `impl PayoutStore for PgStore`, and the write of a file's payouts inside the fenced
//! completion that publishes its import, as `sqlite/payouts.rs` (same keys, same replacement,
//! same order, so `sales payouts --json` is identical on both backends).

use std::collections::BTreeSet;

use anyhow::Result;
use chrono::NaiveDate;
use postgres::Transaction;

use super::{args, PgStore};
use crate::model::{iso_date, Payout};
use crate::store::{payouts_coverage, PayoutFilter, PayoutRow, PayoutStore};

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

fn date(text: &str) -> Result<NaiveDate> {
    Ok(NaiveDate::parse_from_str(text, "%Y-%m-%d")?)
}

/// Write a file's payouts (the caller holds the completion's transaction): the stored payouts
/// of each platform and source dated inside the range of the file's are replaced by the
/// file's; a payout with the same key is updated in place. Returns how many were removed.
pub(super) fn publish(
    tx: &mut Transaction<'_>,
    import_id: Option<i64>,
    payouts: &[Payout],
) -> Result<u64> {
    if payouts.is_empty() {
        return Ok(0);
    }
    let keep: BTreeSet<Key> = payouts.iter().map(key).collect();
    let mut removed = 0;
    for ((platform, source, scope), (lo, hi)) in payouts_coverage(payouts) {
        let (lo, hi) = (date(&lo)?, date(&hi)?);
        let stored = tx.query_typed(
            "SELECT id, platform, source, reference, paid_on, currency FROM payouts
              WHERE platform = $1 AND source = $2 AND paid_on >= $3 AND paid_on <= $4
                AND ($5 = '' OR currency = $5)
              FOR UPDATE",
            args![platform, source, lo, hi, scope],
        )?;
        for r in stored {
            let k: Key = (
                r.get(1),
                r.get(2),
                r.get(3),
                iso_date(r.get::<_, NaiveDate>(4)),
                r.get(5),
            );
            if !keep.contains(&k) {
                let id: i64 = r.get(0);
                removed += tx.execute_typed("DELETE FROM payouts WHERE id = $1", args![id])?;
            }
        }
    }
    for p in payouts {
        let platform = p.platform.as_str();
        let start = p.period.map(|(s, _)| s);
        let end = p.period.map(|(_, e)| e);
        let line = p.line as i64;
        tx.execute_typed(
            "INSERT INTO payouts (platform, source, reference, paid_on, amount_micros, currency,
                period_start, period_end, marketplace, royalty_currency, accrued_micros,
                withholding_micros, adjustments_micros, net_micros, fx_rate, status, import_id,
                line, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                     $18, now())
             ON CONFLICT (platform, source, reference, paid_on, currency) DO UPDATE SET
                amount_micros = excluded.amount_micros, period_start = excluded.period_start,
                period_end = excluded.period_end, marketplace = excluded.marketplace,
                royalty_currency = excluded.royalty_currency,
                accrued_micros = excluded.accrued_micros,
                withholding_micros = excluded.withholding_micros,
                adjustments_micros = excluded.adjustments_micros,
                net_micros = excluded.net_micros, fx_rate = excluded.fx_rate,
                status = excluded.status, import_id = excluded.import_id, line = excluded.line,
                updated_at = excluded.updated_at",
            args![
                platform,
                p.source,
                p.reference,
                p.date,
                p.amount_micros,
                p.currency,
                start,
                end,
                p.marketplace,
                p.royalty_currency,
                p.accrued_micros,
                p.withholding_micros,
                p.adjustments_micros,
                p.net_micros,
                p.fx_rate,
                p.status,
                import_id,
                line
            ],
        )?;
    }
    Ok(removed)
}

impl PayoutStore for PgStore {
    fn payouts(&self, filter: &PayoutFilter) -> Result<Vec<PayoutRow>> {
        let rows = self.query(
            "SELECT platform, source, reference, paid_on, amount_micros, currency, period_start,
                    period_end, marketplace, royalty_currency, accrued_micros, withholding_micros,
                    adjustments_micros, net_micros, fx_rate, status, import_id
               FROM payouts
              ORDER BY platform, paid_on, reference, currency, source",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| PayoutRow {
                platform: r.get(0),
                source: r.get(1),
                reference: r.get(2),
                paid_on: iso_date(r.get::<_, NaiveDate>(3)),
                amount_micros: r.get(4),
                currency: r.get(5),
                period_start: r.get::<_, Option<NaiveDate>>(6).map(iso_date),
                period_end: r.get::<_, Option<NaiveDate>>(7).map(iso_date),
                marketplace: r.get(8),
                royalty_currency: r.get(9),
                accrued_micros: r.get(10),
                withholding_micros: r.get(11),
                adjustments_micros: r.get(12),
                net_micros: r.get(13),
                fx_rate: r.get(14),
                status: r.get(15),
                import_id: r.get(16),
            })
            .filter(|row| filter.keeps(row))
            .collect())
    }
}
