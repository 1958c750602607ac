//! The store's row types: what the API returns and takes, the same for every backend (no driver
//! types). Times are `Millis` (UTC milliseconds); sales dates are ISO 8601 text.

use crate::queue::Millis;

/// One job as stored.
#[derive(Debug, Clone)]
pub struct JobRow {
    pub id: i64,
    pub platform: String,
    pub state: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub priority: i64,
    pub created_at: Millis,
    pub run_at: Millis,
    pub finished_at: Option<Millis>,
    pub last_error: Option<String>,
    pub input: String,
    pub result: Option<String>,
    pub cancel_requested: bool,
}

/// One attempt of a job.
#[derive(Debug, Clone)]
pub struct AttemptRow {
    pub attempt: i64,
    pub started_at: Millis,
    pub finished_at: Option<Millis>,
    pub outcome: Option<String>,
    pub error: Option<String>,
    pub worker: String,
}

/// One `run-worker` invocation.
#[derive(Debug, Clone)]
pub struct RunRow {
    pub id: i64,
    pub started_at: Millis,
    pub finished_at: Option<Millis>,
    pub host: String,
    pub pid: i64,
    pub owner: String,
    pub claimed: i64,
    pub completed: i64,
    pub retrying: i64,
    pub failed: i64,
    pub rescued: i64,
    pub exit_code: Option<i64>,
}

/// Totals of effective sales for one platform and currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencyTotal {
    pub platform: String,
    pub currency: String,
    pub events: i64,
    pub units: i64,
    pub kenp_pages: i64,
    pub royalty_micros: i64,
}

/// The per-platform overview of `status` without a job id.
#[derive(Debug, Clone, Default)]
pub struct PlatformOverview {
    pub platform: String,
    pub events: i64,
    pub first_period: Option<String>,
    pub last_period: Option<String>,
    pub final_through: Option<String>,
    pub estimated_through: Option<String>,
    pub last_success: Option<Millis>,
    pub last_success_job: Option<i64>,
    pub queued: i64,
    pub processing: i64,
    pub retrying: i64,
    pub failed: i64,
    pub sync_cursor: Option<String>,
}

/// A column a summary can group by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dim {
    Month,
    Platform,
    Title,
    Product,
    Format,
    Marketplace,
    Retailer,
    Country,
    Currency,
}

impl Dim {
    /// Every key, in the order `--help` lists them.
    pub const ALL: [Dim; 9] = [
        Dim::Month,
        Dim::Platform,
        Dim::Title,
        Dim::Product,
        Dim::Format,
        Dim::Marketplace,
        Dim::Retailer,
        Dim::Country,
        Dim::Currency,
    ];

    /// The key's name on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Dim::Month => "month",
            Dim::Platform => "platform",
            Dim::Title => "title",
            Dim::Product => "product",
            Dim::Format => "format",
            Dim::Marketplace => "marketplace",
            Dim::Retailer => "retailer",
            Dim::Country => "country",
            Dim::Currency => "currency",
        }
    }

    /// Parse a key name (`product_id` is accepted for `product`).
    pub fn parse(s: &str) -> Option<Dim> {
        let s = s.trim().to_ascii_lowercase();
        if s == "product_id" {
            return Some(Dim::Product);
        }
        Dim::ALL.into_iter().find(|d| d.name() == s)
    }

    /// The events column (and rollup column) of the key.
    pub fn column(self) -> &'static str {
        match self {
            Dim::Product => "product_id",
            d => d.name(),
        }
    }
}

/// Which effective events a report covers.
#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    /// Keep events whose `period_end` is on or after this ISO date.
    pub since: Option<String>,
    /// Keep events whose `period_end` is on or before this ISO date.
    pub until: Option<String>,
    /// Keep these platforms (canonical names); empty keeps all.
    pub platforms: Vec<String>,
    /// Keep only final events.
    pub final_only: bool,
}

/// One group of effective events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRow {
    /// The values of the requested keys, in the order requested (currency excluded).
    pub keys: Vec<String>,
    pub currency: String,
    pub events: i64,
    pub units: i64,
    pub kenp_pages: i64,
    pub royalty_micros: i64,
    /// Every event in the group is final.
    pub all_final: bool,
}

/// The amounts of one effective event (for conversions).
#[derive(Debug, Clone, Default)]
pub struct AmountRow {
    /// The values of the requested keys (currency excluded).
    pub keys: Vec<String>,
    pub currency: String,
    pub period_end: String,
    pub units: i64,
    pub kenp_pages: i64,
    pub royalty_micros: i64,
    pub is_final: bool,
}

/// One effective event with every normalised field (for `sales export`).
#[derive(Debug, Clone, Default)]
pub struct EventRow {
    pub id: i64,
    pub platform: String,
    pub source: String,
    pub period_start: String,
    pub period_end: String,
    pub month: String,
    pub title: String,
    pub product_id: String,
    pub format: String,
    pub marketplace: String,
    pub retailer: String,
    pub country: String,
    pub units: i64,
    pub kenp_pages: i64,
    pub list_price_micros: Option<i64>,
    pub royalty_micros: i64,
    pub currency: String,
    pub is_final: bool,
    pub status: String,
    pub job_id: Option<i64>,
    pub raw: String,
}

/// A schedule's stored state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRow {
    pub name: String,
    pub platform: String,
    pub first_enqueued_at: Millis,
    pub last_enqueued_at: Millis,
    pub last_job_id: Option<i64>,
    /// The state of that job, if it is still stored.
    pub last_job_state: Option<String>,
}

/// What the inbox scan recorded for one content hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxRow {
    pub sha256: String,
    pub path: String,
    pub platform: Option<String>,
    pub status: String,
    pub message: Option<String>,
    pub job_id: Option<i64>,
    pub seen_at: Millis,
}

/// A failed job that nothing has superseded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedJob {
    pub id: i64,
    pub platform: String,
    pub finished_at: Millis,
    pub last_error: Option<String>,
}

/// A job still marked processing whose lease expired or whose owner may be dead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessingJob {
    pub id: i64,
    pub platform: String,
    pub owner: String,
    pub lease_expires_at: Millis,
}

/// A cron-run row never finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRun {
    pub id: i64,
    pub owner: String,
    pub started_at: Millis,
}

/// What the parse found, recorded with the last chunk.
#[derive(Debug, Clone, Copy)]
pub struct StagingDone<'a> {
    pub layout: &'a str,
    pub rows: u64,
    /// What the file says it covers beyond the range of its rows (`ParseSummary::coverage`).
    pub coverage: &'a [crate::model::Coverage],
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

/// Totals of effective events grouped by `dims` for keys the rollup does not have, summed in a
/// hash map from one pass over the events (`walk` is a backend's `for_each_amount`): a SQL
/// GROUP BY would sort every event first. Ordered as the SQL path orders: the keys as asked
/// for, currency in its place or last.
///
/// # Errors
/// The walk's, or a royalty sum that overflows.
pub(crate) fn group_amounts(
    dims: &[Dim],
    walk: impl FnOnce(&mut dyn FnMut(&AmountRow) -> anyhow::Result<()>) -> anyhow::Result<u64>,
) -> anyhow::Result<Vec<GroupRow>> {
    let mut acc: std::collections::HashMap<(Vec<String>, String), GroupRow> =
        std::collections::HashMap::new();
    walk(&mut |a| {
        let key = (a.keys.clone(), a.currency.clone());
        let g = acc.entry(key).or_insert_with(|| GroupRow {
            keys: a.keys.clone(),
            currency: a.currency.clone(),
            events: 0,
            units: 0,
            kenp_pages: 0,
            royalty_micros: 0,
            all_final: true,
        });
        g.events += 1;
        g.units += a.units;
        g.kenp_pages += a.kenp_pages;
        g.royalty_micros = g
            .royalty_micros
            .checked_add(a.royalty_micros)
            .ok_or_else(|| anyhow::anyhow!("royalty sum overflows"))?;
        g.all_final &= a.is_final;
        Ok(())
    })?;
    let pos = dims.iter().position(|d| *d == Dim::Currency);
    let sort_key = |g: &GroupRow| -> Vec<String> {
        let mut k = g.keys.clone();
        k.insert(pos.unwrap_or(k.len()), g.currency.clone());
        k
    };
    let mut rows: Vec<GroupRow> = acc.into_values().collect();
    rows.sort_by_cached_key(sort_key);
    Ok(rows)
}

/// The period range of the staged events of one family.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowRange {
    pub start: chrono::NaiveDate,
    pub end: chrono::NaiveDate,
    pub whole_months: bool,
}

/// The coverage an import records, per family: the range of its rows joined with what the file
/// declares (`Coverage`). A family counts as month totals only when the file says so, every row
/// of that family in it is a whole calendar month, and it is a KDP estimate family: the only
/// reports that give both month totals and days of one month (lifetime and Dashboard
/// downloads), and the only families the views apply the rule to (migration 7). A family the
/// file does not declare is never month totals.
pub(crate) fn recorded_coverage(
    rows: &std::collections::BTreeMap<String, RowRange>,
    declared: &[crate::model::Coverage],
) -> Vec<crate::model::Coverage> {
    use crate::model::Coverage;
    use std::collections::BTreeMap;
    let mut out: BTreeMap<String, Coverage> = BTreeMap::new();
    for d in declared {
        match out.get_mut(&d.family) {
            Some(c) => {
                c.start = c.start.min(d.start);
                c.end = c.end.max(d.end);
                c.month_totals &= d.month_totals;
            }
            None => {
                out.insert(d.family.clone(), d.clone());
            }
        }
    }
    for c in out.values_mut() {
        c.month_totals &= c.family.starts_with("kdp_estimate.");
    }
    for (family, r) in rows {
        match out.get_mut(family) {
            Some(c) => {
                c.start = c.start.min(r.start);
                c.end = c.end.max(r.end);
                c.month_totals &= r.whole_months;
            }
            None => {
                out.insert(
                    family.clone(),
                    Coverage {
                        family: family.clone(),
                        start: r.start,
                        end: r.end,
                        month_totals: false,
                    },
                );
            }
        }
    }
    out.into_values().collect()
}

/// Widen each family's row range by `events` (the staging of one import, chunk by chunk).
pub(crate) fn widen_coverage(
    coverage: &mut std::collections::BTreeMap<String, RowRange>,
    events: &[crate::model::SaleEvent],
) {
    for e in events {
        let whole = crate::model::is_whole_month(e.period_start, e.period_end);
        // Look up before inserting: no `String` clone per event for a family already seen.
        match coverage.get_mut(&e.family) {
            Some(cov) => {
                cov.start = cov.start.min(e.period_start);
                cov.end = cov.end.max(e.period_end);
                cov.whole_months &= whole;
            }
            None => {
                let range = RowRange {
                    start: e.period_start,
                    end: e.period_end,
                    whole_months: whole,
                };
                coverage.insert(e.family.clone(), range);
            }
        }
    }
}

/// A rollup key: family, period start and end (the month is the end's), currency, finality.
pub(crate) type RollupKey<'a> = (&'a str, chrono::NaiveDate, chrono::NaiveDate, &'a str, bool);

/// `[events, units, kenp_pages, royalty_micros]` per rollup key of some events: the delta the
/// store adds to (or takes from) `sales_rollup` in the transaction that writes (or deletes)
/// them, on every backend (the one mechanism that keeps the rollup equal to the events).
pub(crate) fn rollup_of(
    events: &[crate::model::SaleEvent],
) -> std::collections::HashMap<RollupKey<'_>, [i64; 4]> {
    let mut sums: std::collections::HashMap<RollupKey<'_>, [i64; 4]> =
        std::collections::HashMap::new();
    for e in events {
        let key = (
            e.family.as_str(),
            e.period_start,
            e.period_end,
            e.currency.as_str(),
            e.is_final,
        );
        let s = sums.entry(key).or_default();
        s[0] += 1;
        s[1] += e.units;
        s[2] += e.kenp_pages;
        s[3] += e.royalty_micros;
    }
    sums
}

/// One stored payout (the payouts table, never mixed with sales). Dates are ISO 8601 text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutRow {
    pub platform: String,
    pub source: String,
    pub reference: String,
    pub paid_on: String,
    pub amount_micros: i64,
    pub currency: String,
    pub period_start: Option<String>,
    pub period_end: Option<String>,
    pub marketplace: String,
    pub royalty_currency: String,
    pub accrued_micros: Option<i64>,
    pub withholding_micros: Option<i64>,
    pub adjustments_micros: Option<i64>,
    pub net_micros: i64,
    pub fx_rate: Option<String>,
    pub status: String,
    /// The import that last wrote it.
    pub import_id: Option<i64>,
}

/// Which payouts to read: by platform (empty: all) and payment date.
#[derive(Debug, Clone, Default)]
pub struct PayoutFilter {
    pub platforms: Vec<String>,
    /// Keep payouts paid on or after this ISO date.
    pub since: Option<String>,
    /// Keep payouts paid on or before this ISO date.
    pub until: Option<String>,
}

impl PayoutFilter {
    /// Whether `row` passes (the backends filter by platform in SQL and by date here, so the
    /// two agree to the byte).
    pub fn keeps(&self, row: &PayoutRow) -> bool {
        (self.platforms.is_empty() || self.platforms.contains(&row.platform))
            && self.since.as_ref().is_none_or(|s| row.paid_on >= *s)
            && self.until.as_ref().is_none_or(|u| row.paid_on <= *u)
    }
}
