//! Where the queue and the sales tables meet on PostgreSQL (as `sqlite/effects.rs`): the fence
//! of an attempt, and its staged import published inside its fenced completion's transaction or
//! discarded with its failure.

use anyhow::Result;
use postgres::Transaction;

use super::sales;
use crate::queue::Effects;

/// The fence every write of an attempt carries: `$1` job id, `$2` lease owner, `$3` claim.
pub(super) const FENCE: &str =
    "id = $1 AND state = 'processing' AND lease_owner = $2 AND claims = $3::int4";

/// Publish an attempt's effects (the caller holds the job row locked under its fence). Returns
/// the number of events its import replaced.
pub(super) fn publish(tx: &mut Transaction<'_>, fx: &Effects) -> Result<u64> {
    let removed = match fx.import_id {
        Some(import_id) => sales::publish_import(tx, import_id)?,
        None => 0,
    };
    super::payouts::publish(tx, fx.import_id, &fx.payouts)?;
    Ok(removed)
}

/// Throw away what the attempts of `job_id` staged but never published.
pub(super) fn discard(tx: &mut Transaction<'_>, job_id: i64) -> Result<()> {
    sales::discard_staged_imports(tx, job_id)
}

/// Throw away staging whose job is no longer processing.
pub(super) fn discard_orphans(tx: &mut Transaction<'_>) -> Result<()> {
    sales::discard_orphan_staging(tx)
}
