//! Where the queue and the sales tables meet, and nowhere else: the fence every write of an
//! attempt checks, and the attempt's effects (its staged import and its file's payouts) published with its fenced
//! completion or discarded with its failure. `jobs.rs` (the queue) and `sales.rs` (the events)
//! both use this module and never each other, so that "completed" and "counted" stay one fact
//! in one transaction without the two concerns knowing each other's tables.

use anyhow::Result;
use rusqlite::{params, Connection, OptionalExtension};

use super::sales;
use crate::queue::{Effects, Lease, Millis};

/// The fence every write of an attempt carries: `?1` job id, `?2` lease owner, `?3` claim.
pub(super) const FENCE: &str =
    "id = ?1 AND state = 'processing' AND lease_owner = ?2 AND claims = ?3";

/// Whether `lease` still holds its job (read inside the caller's write transaction, which
/// SQLite's single writer keeps until commit).
pub(super) fn holds(c: &Connection, lease: &Lease) -> Result<bool> {
    Ok(
        c.prepare_cached(&format!("SELECT 1 FROM jobs WHERE {FENCE}"))?
            .query_row(params![lease.job_id, lease.owner, lease.claim], |_| Ok(()))
            .optional()?
            .is_some(),
    )
}

/// Make an attempt's effects visible, inside its fenced completion's transaction (the caller
/// has checked the fence). Returns the number of events its import replaced.
pub(super) fn publish(c: &Connection, effects: &Effects, now: Millis) -> Result<u64> {
    let removed = match effects.import_id {
        Some(import_id) => sales::publish_import(c, import_id, now)?,
        None => 0,
    };
    super::payouts::publish(c, effects.import_id, &effects.payouts, now)?;
    Ok(removed)
}

/// Throw away what the attempts of `job_id` staged but never published (the attempt failed or
/// was rescued).
pub(super) fn discard(c: &Connection, job_id: i64) -> Result<()> {
    sales::discard_staged_imports(c, job_id)
}

/// Throw away staging whose job is no longer processing (left by a killed worker whose job then
/// failed or was pruned).
pub(super) fn discard_orphans(c: &Connection) -> Result<()> {
    sales::discard_orphan_staging(c)
}
