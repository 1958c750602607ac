//! The data behind the sales reports, built from the store: `sales summary`'s rows and totals,
//! `sales chart`'s months, and the rates file checked against the stored currencies. The CLI
//! (`cli/sales.rs`) and the dashboard both render these; neither builds them itself.
//!
//! Owns: grouping and converting the effective sales into report views.
//! Must not: parse arguments or print (the CLI and the dashboard format what it returns).

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result};
use chrono::NaiveDate;

use crate::exit::{coded, EXIT_REJECTED};
use crate::model::{format_micros, Platform};
use crate::output::{ChartView, RateView, SummaryRowView, SummaryTotal};
use crate::report::{self, EventGroup, MonthTotals, Rates, Totals};
use crate::store::{AmountRow, Dim, ReportFilter, Store};

/// Read and parse the rates file `path` for conversion into `target`, and check that every
/// currency the filter keeps has a rate at its earliest period end (`--in` / `--rates`).
///
/// # Errors
/// Exit 5 for an unreadable or bad rates file or a missing rate; database errors.
pub fn load_rates_file(
    path: &std::path::Path,
    target: &str,
    db: &dyn Store,
    filter: &ReportFilter,
) -> Result<Rates> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        coded(
            EXIT_REJECTED,
            format!("cannot read the rates file `{name}`: {e}"),
        )
    })?;
    let rates =
        Rates::parse(&name, &text, target).map_err(|e| coded(EXIT_REJECTED, e.to_string()))?;
    for (currency, earliest) in db.currency_first_periods(filter)? {
        let date = parse_date(&earliest)?;
        rates
            .rate(&currency, date)
            .map_err(|e| coded(EXIT_REJECTED, e.to_string()))?;
    }
    Ok(rates)
}

pub(crate) fn parse_date(s: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .with_context(|| format!("bad period date `{s}` in the database"))
}

pub(crate) fn rate_of(
    rates: &Rates,
    currency: &str,
    period_end: &str,
) -> Result<Option<report::Rate>> {
    rates
        .rate(currency, parse_date(period_end)?)
        .map_err(|e| coded(EXIT_REJECTED, e.to_string()))
}

/// Rate look-ups memoised per (currency, period end): a million events have few distinct pairs.
pub(crate) struct RateCache<'a> {
    rates: &'a Rates,
    seen: HashMap<(String, String), Option<report::Rate>>,
}

impl<'a> RateCache<'a> {
    pub(crate) fn new(rates: &'a Rates) -> Self {
        RateCache {
            rates,
            seen: HashMap::new(),
        }
    }

    pub(crate) fn rate(
        &mut self,
        currency: &str,
        period_end: &str,
    ) -> Result<Option<report::Rate>> {
        if let Some(r) = self
            .seen
            .get(&(currency.to_string(), period_end.to_string()))
        {
            return Ok(*r);
        }
        let r = rate_of(self.rates, currency, period_end)?;
        self.seen
            .insert((currency.to_string(), period_end.to_string()), r);
        Ok(r)
    }
}

pub(crate) fn event_group(e: &AmountRow) -> EventGroup<'_> {
    EventGroup {
        currency: &e.currency,
        events: 1,
        units: e.units,
        kenp_pages: e.kenp_pages,
        each_micros: e.royalty_micros,
        all_final: e.is_final,
    }
}

/// What `sales summary` shows: the grouping keys used, the rows and a total per currency.
#[derive(Debug, Clone)]
pub struct SummaryData {
    /// The keys grouped by, in order, without duplicates (currency among them if requested).
    pub dims: Vec<Dim>,
    pub rows: Vec<SummaryRowView>,
    pub totals: Vec<SummaryTotal>,
}

/// The rows and totals of `sales summary --by BY` over the events `filter` keeps, converted
/// with `rates` when given (as `--in`); an empty `by` is the default grouping. Also the
/// dashboard's tables.
///
/// # Errors
/// Exit 5 for a missing rate; database errors.
pub fn summary_view(
    db: &dyn Store,
    filter: &ReportFilter,
    by: &[Dim],
    rates: Option<&Rates>,
) -> Result<SummaryData> {
    let mut dims: Vec<Dim> = Vec::new();
    let requested = if by.is_empty() {
        if rates.is_some() {
            vec![Dim::Month, Dim::Platform]
        } else {
            vec![Dim::Month, Dim::Platform, Dim::Currency]
        }
    } else {
        by.to_vec()
    };
    for d in requested {
        if !dims.contains(&d) {
            dims.push(d);
        }
    }
    let key_dims: Vec<Dim> = dims
        .iter()
        .copied()
        .filter(|d| *d != Dim::Currency)
        .collect();
    let keys_of = |values: &[String]| -> BTreeMap<String, String> {
        key_dims
            .iter()
            .zip(values)
            .map(|(d, v)| (d.name().to_string(), v.clone()))
            .collect()
    };
    let mut rows = Vec::new();
    let mut totals: BTreeMap<String, Totals> = BTreeMap::new();
    let add_total = |totals: &mut BTreeMap<String, Totals>, cur: &str, t: &Totals| {
        let e = totals.entry(cur.to_string()).or_default();
        e.events += t.events;
        e.units += t.units;
        e.kenp_pages += t.kenp_pages;
        e.royalty_micros += t.royalty_micros;
    };
    match rates {
        None => {
            let (r, t) = crate::ingest::views::summary_groups(db, filter, &dims)?;
            rows = r;
            for (cur, t) in t {
                add_total(&mut totals, &cur, &t);
            }
        }
        Some(rates) => {
            let target = rates.target().to_string();
            let by_currency = dims.contains(&Dim::Currency);
            let mut groups: HashMap<(Vec<String>, Option<String>), Totals> = HashMap::new();
            let mut cache = RateCache::new(rates);
            db.for_each_amount(filter, &dims, &mut |e| {
                let rate = cache.rate(&e.currency, &e.period_end)?;
                let source = by_currency.then(|| e.currency.clone());
                let group = match groups.get_mut(&(e.keys.clone(), source.clone())) {
                    Some(t) => t,
                    None => groups.entry((e.keys.clone(), source)).or_default(),
                };
                group.add_converted(event_group(e), rate);
                Ok(())
            })?;
            let mut groups: Vec<_> = groups.into_iter().collect();
            groups.sort_by(|a, b| a.0.cmp(&b.0));
            for ((keys, source), t) in groups {
                add_total(&mut totals, &target, &t);
                rows.push(SummaryRowView {
                    keys: keys_of(&keys),
                    currency: target.clone(),
                    source_currency: source,
                    units: t.units,
                    kenp_pages: t.kenp_pages,
                    royalty: format_micros(t.royalty_micros, &target),
                    events: t.events,
                    is_final: t.all_final,
                    rates: Some(
                        t.rates
                            .iter()
                            .map(|u| RateView {
                                currency: u.currency.clone(),
                                rate: u
                                    .rate
                                    .map_or_else(|| "1".into(), |r| report::format_rate(r.rate)),
                                rate_date: u.rate.map(|r| r.date.to_string()),
                                events: u.events,
                                royalty: format_micros(u.source_micros, &u.currency),
                                converted: format_micros(u.converted_micros, &target),
                            })
                            .collect(),
                    ),
                });
            }
        }
    }
    let totals: Vec<SummaryTotal> = totals
        .into_iter()
        .map(|(currency, t)| SummaryTotal {
            royalty: format_micros(t.royalty_micros, &currency),
            currency,
            units: t.units,
            kenp_pages: t.kenp_pages,
            events: t.events,
        })
        .collect();
    Ok(SummaryData { dims, rows, totals })
}

/// The chart of `sales chart`: royalty per month stacked by platform, over the events `filter`
/// keeps, in one currency: converted with `rates` (read from `rates_file`, named in the note)
/// when given, else `currency` or the one with the most events. No months when nothing
/// matches. Also the dashboard's chart.
///
/// # Errors
/// Exit 5 for a missing rate; database errors.
pub fn chart_view(
    db: &dyn Store,
    filter: &ReportFilter,
    rates: Option<(&Rates, &std::path::Path)>,
    currency_arg: Option<&str>,
) -> Result<ChartView> {
    let dims = [Dim::Month, Dim::Platform];
    // (month, platform) -> micros, in one currency.
    let mut cells: BTreeMap<(String, String), i64> = BTreeMap::new();
    let currency;
    let mut note = None;
    if let Some((rates, rates_file)) = rates {
        currency = rates.target().to_string();
        let mut sources = Vec::new();
        let mut cache = RateCache::new(rates);
        db.for_each_amount(filter, &dims, &mut |e| {
            let rate = cache.rate(&e.currency, &e.period_end)?;
            let micros = rate.map_or(e.royalty_micros, |r| {
                report::convert_micros(e.royalty_micros, r.rate)
            });
            match cells.get_mut(&(e.keys[0].clone(), e.keys[1].clone())) {
                Some(v) => *v += micros,
                None => {
                    cells.insert((e.keys[0].clone(), e.keys[1].clone()), micros);
                }
            }
            if rate.is_some() && !sources.contains(&e.currency) {
                sources.push(e.currency.clone());
            }
            Ok(())
        })?;
        sources.sort();
        if !sources.is_empty() {
            note = Some(format!(
                "{} converted at the rates of {} (each event at its period end's rate)",
                sources.join(", "),
                rates_file.display()
            ));
        }
    } else {
        let groups = db.sales_groups(filter, &dims)?;
        // Amounts in different currencies cannot be compared without rates, so the default
        // currency is the one with the most events (then the most royalty, then by name).
        let mut per_currency: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        for g in &groups {
            let e = per_currency.entry(&g.currency).or_default();
            e.0 += g.events;
            e.1 += g.royalty_micros;
        }
        currency = match currency_arg {
            Some(c) => c.to_string(),
            None => per_currency
                .iter()
                .max_by_key(|(c, v)| (**v, std::cmp::Reverse(**c)))
                .map(|(c, _)| (*c).to_string())
                .unwrap_or_else(|| "USD".into()),
        };
        let others: Vec<&str> = per_currency
            .keys()
            .copied()
            .filter(|c| *c != currency)
            .collect();
        if !others.is_empty() {
            note = Some(format!(
                "not shown: {} (pick one with --currency, or convert with --in CUR --rates FILE)",
                others.join(", ")
            ));
        }
        for g in groups.into_iter().filter(|g| g.currency == currency) {
            *cells
                .entry((g.keys[0].clone(), g.keys[1].clone()))
                .or_default() += g.royalty_micros;
        }
    }
    let (Some(first), Some(last)) = (
        cells.keys().map(|k| &k.0).min().cloned(),
        cells.keys().map(|k| &k.0).max().cloned(),
    ) else {
        return Ok(ChartView {
            currency,
            platforms: Vec::new(),
            months: Vec::new(),
            note,
        });
    };
    let platforms: Vec<String> = Platform::ALL
        .iter()
        .map(|p| p.as_str().to_string())
        .filter(|p| cells.keys().any(|k| &k.1 == p))
        .collect();
    let months: Vec<MonthTotals> = report::month_range(&first, &last)
        .into_iter()
        .map(|m| MonthTotals {
            by_platform: platforms
                .iter()
                .map(|p| cells.get(&(m.clone(), p.clone())).copied().unwrap_or(0))
                .collect(),
            month: m,
        })
        .collect();
    Ok(ChartView {
        currency,
        platforms,
        months,
        note,
    })
}
