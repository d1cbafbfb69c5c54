//! Free-text search through term summaries (`audit_domain::query::summary`).
//!
//! Sealing writes, for each manifest part it hashes, one item per hour the
//! part's events occurred in: `DIGESTS#<org>` / `TERMS#<hour>#<period
//! start>#<part>#<chunk>` with each event's `occurred_at` and trigram
//! filter. `DIGESTS#<org>` / `TERMS_FROM` says from which period on every
//! sealed period has them (0: since the org's first).
//!
//! A search on `by_time` then reads, newest hour first, the summaries of its
//! range, and only the runs of events whose filter may match (one `by_time`
//! query per run, with the plan's filter); the events sealing has not reached
//! (`rts` after the chain head's period) are read from `by_recorded`. Where
//! the summaries do not cover the range (an org sealed before they existed,
//! a seal far behind) the plan is read as before, so every answer is the
//! same either way.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use lru::LruCache;

use super::digests::digests_pk;
use super::event_item::{decode_item, sort_key};
use super::events::{cursor_key, Page, ReadCost};
use super::{dynamo_error, s, written, Item, Store, StoreError};
use crate::store::plan::QueryPlan;
use audit_domain::cursor::CursorKey;
use audit_domain::event::Event;
use audit_domain::ids::OrgId;
use audit_domain::limits::MAX_FUTURE_SKEW_SECS;
use audit_domain::query::summary::{self, Entry, Needles};
use audit_domain::time::Timestamp;

const TERMS_FROM_SK: &str = "TERMS_FROM";
/// The bounds of one free-text search through the summaries; past any of
/// them it reads the plain way (the tail, an hour) or answers with a cursor
/// (the summaries' round trips).
#[derive(Debug, Clone, Copy)]
pub struct TextLimits {
    /// Unsealed events read from `by_recorded` (a seal further behind).
    pub max_tail_items: usize,
    /// Round trips of summaries (each at most 1,024 items and 1 MB) one
    /// page reads before it answers with a cursor at an hour boundary.
    pub max_summary_pages: u32,
    /// Events of one hour held (16 B each once matched against the needles).
    pub max_hour_entries: usize,
}

impl Default for TextLimits {
    fn default() -> Self {
        TextLimits {
            max_tail_items: 5_000,
            max_summary_pages: 16,
            max_hour_entries: 500_000,
        }
    }
}

/// Summary items the first round trip reads (then twice as many each).
const SUMMARY_READ_AHEAD: i32 = 8;

/// How long a search trusts what it read of an org's coverage. The marker
/// never changes once written; a chain head older by this much only makes
/// the search read more events as unsealed.
const COVERAGE_TTL: Duration = Duration::from_secs(30);
/// Orgs whose coverage one process remembers.
const COVERAGE_ORGS: usize = 4_096;

/// `(TERMS_FROM, where sealing ended)`, for an org that has both.
type Coverage = Option<(i64, Timestamp)>;

/// Per org: when its coverage was read, and what it was. Built by the
/// first search, so a process that never searches (ingest, export) never
/// allocates it.
#[derive(Debug, Clone, Default)]
pub(crate) struct CoverageCache(Arc<Mutex<Option<Coverages>>>);

type Coverages = LruCache<OrgId, (Instant, Coverage)>;

impl CoverageCache {
    fn get(&self, org: &OrgId) -> Option<Coverage> {
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match cache.as_mut()?.get(org) {
            Some((at, c)) if at.elapsed() < COVERAGE_TTL => Some(*c),
            _ => None,
        }
    }

    fn put(&self, org: &OrgId, c: Coverage) {
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let cap = NonZeroUsize::new(COVERAGE_ORGS).unwrap_or(NonZeroUsize::MIN);
        cache
            .get_or_insert_with(|| LruCache::new(cap))
            .put(org.clone(), (Instant::now(), c));
    }
}

fn terms_sk(hour: i64, period_start: Timestamp, part: usize, chunk: usize) -> String {
    format!(
        "TERMS#{hour:013}#{}#{part:05}#{chunk:03}",
        period_start.sort_key()
    )
}

/// The term summary items of one manifest part: one (or, past 300 KB,
/// more) per hour its events occurred in.
pub fn encode_term_items(
    org: &OrgId,
    period_start: Timestamp,
    part: usize,
    events: &[Event],
    expires_at: i64,
) -> Vec<Item> {
    let mut by_hour: std::collections::BTreeMap<i64, Vec<Entry>> = Default::default();
    for e in events {
        let ms = e.occurred_at.millis();
        by_hour
            .entry(summary::hour_of(ms))
            .or_default()
            .push(Entry::of(ms, &e.search_text()));
    }
    let mut items = Vec::new();
    for (hour, entries) in by_hour {
        for (chunk, entries) in summary::chunks(entries).into_iter().enumerate() {
            items.push(Item::from([
                ("PK".to_string(), s(digests_pk(org))),
                (
                    "SK".to_string(),
                    s(terms_sk(hour, period_start, part, chunk)),
                ),
                (
                    "terms".to_string(),
                    AttributeValue::B(Blob::new(summary::encode(&entries))),
                ),
                (
                    "expires_at".to_string(),
                    AttributeValue::N(expires_at.to_string()),
                ),
            ]));
        }
    }
    items
}

/// A summary item's period start (from its sort key) and entries.
fn decode_term_item(item: &Item) -> Result<(i64, i64, Vec<Entry>), StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("a term summary {what}"));
    let sk = match item.get("SK") {
        Some(AttributeValue::S(v)) => v,
        _ => return Err(corrupt("lacks SK")),
    };
    let mut fields = sk.split('#').skip(1);
    let mut number = || {
        fields
            .next()
            .and_then(|f| f.parse::<i64>().ok())
            .ok_or_else(|| corrupt("has a malformed SK"))
    };
    let (hour, period) = (number()?, number()?);
    let entries = match item.get("terms") {
        Some(AttributeValue::B(b)) => {
            summary::decode(b.as_ref()).map_err(|e| StoreError::Corrupt(e.to_string()))?
        }
        _ => return Err(corrupt("lacks terms")),
    };
    Ok((hour, period, entries))
}

fn ms_of_key(key: &str) -> i64 {
    key.get(..13).and_then(|d| d.parse().ok()).unwrap_or(0)
}

/// What a search has found so far, and down to where that is complete.
struct Found<'a> {
    plan: &'a QueryPlan,
    /// Exclusive upper bound: the cursor's key, if any.
    below: Option<&'a str>,
    lo: Option<String>,
    hi: Option<String>,
    events: Vec<(String, Event)>,
    /// Unsealed matches, read first.
    tail: Vec<(String, Event)>,
    /// Where the sealed periods end: a run's events recorded after it are
    /// the tail's.
    sealed_until: i64,
}

impl Found<'_> {
    fn keep(&self, e: &Event) -> Option<String> {
        let k = sort_key(e.occurred_at, &e.id);
        let inside = self.lo.as_ref().is_none_or(|lo| k >= *lo)
            && self.hi.as_ref().is_none_or(|hi| k <= *hi)
            && self.below.is_none_or(|b| k.as_str() < b);
        (inside && self.plan.matches_text(e)).then_some(k)
    }

    /// `keep`, for an event a run read: one the tail holds is not kept twice.
    fn keep_sealed(&self, e: &Event) -> Option<String> {
        (e.recorded_at.millis() <= self.sealed_until)
            .then(|| self.keep(e))
            .flatten()
    }

    /// The page, when more than `limit` matches at or above `complete` are
    /// known (every match with a key at or above it is).
    fn page_if_full(&mut self, complete: &str, limit: usize) -> Option<Page> {
        let known = self.events.len()
            + self
                .tail
                .iter()
                .filter(|(k, _)| k.as_str() >= complete)
                .count();
        (known > limit).then(|| self.page(limit, None))
    }

    /// Every match found, newest first, cut at `limit`; `boundary` is the
    /// cursor when the page stops short of the range's end.
    fn page(&mut self, limit: usize, boundary: Option<String>) -> Page {
        let keep_tail = |k: &str| boundary.as_deref().is_none_or(|b| k >= b);
        let mut all: Vec<(String, Event)> = std::mem::take(&mut self.events);
        all.extend(
            std::mem::take(&mut self.tail)
                .into_iter()
                .filter(|(k, _)| keep_tail(k)),
        );
        all.sort_by(|a, b| b.0.cmp(&a.0));
        if all.len() > limit {
            all.truncate(limit);
            let next = all.last().map(|(_, e)| cursor_key(e));
            return Page {
                events: all.into_iter().map(|(_, e)| e).collect(),
                next,
            };
        }
        Page {
            events: all.into_iter().map(|(_, e)| e).collect(),
            next: boundary.map(|ts| CursorKey {
                ts,
                id: String::new(),
            }),
        }
    }
}

impl Store {
    /// Writes the term summaries of manifest part `part` of the period
    /// starting at `period_start`. Rewriting them is harmless.
    pub async fn put_term_summaries(
        &self,
        org: &OrgId,
        period_start: Timestamp,
        part: usize,
        events: &[Event],
        expires_at: i64,
    ) -> Result<(), StoreError> {
        for item in encode_term_items(org, period_start, part, events, expires_at) {
            self.put_control(item).await?;
        }
        Ok(())
    }

    /// Records, once, the period from which on every seal wrote summaries
    /// (`0`: from the org's first). Later calls leave it as it is.
    pub async fn mark_terms_from(&self, org: &OrgId, from_ms: i64) -> Result<(), StoreError> {
        let result = self
            .ddb
            .put_item()
            .table_name(&self.tables.control)
            .item("PK", s(digests_pk(org)))
            .item("SK", s(TERMS_FROM_SK))
            .item("from_ms", AttributeValue::N(from_ms.to_string()))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        written("PutItem", result).map(drop)
    }

    /// From which period on the org's sealed periods have summaries.
    pub async fn terms_from(
        &self,
        org: &OrgId,
        cost: &mut ReadCost,
    ) -> Result<Option<i64>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.tables.control)
            .key("PK", s(digests_pk(org)))
            .key("SK", s(TERMS_FROM_SK))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| dynamo_error("GetItem", e))?;
        cost.add(out.consumed_capacity.as_ref(), 0);
        Ok(out.item.and_then(|i| match i.get("from_ms") {
            Some(AttributeValue::N(n)) => n.parse().ok(),
            _ => None,
        }))
    }

    /// The org's `TERMS_FROM` and where its sealed periods end, when it
    /// has both; remembered for `COVERAGE_TTL`.
    async fn coverage(&self, org: &OrgId, cost: &mut ReadCost) -> Result<Coverage, StoreError> {
        if let Some(c) = self.text_coverage.get(org) {
            return Ok(c);
        }
        let c = match self.terms_from(org, cost).await? {
            None => None,
            Some(marker) => self.sealed_until(org, cost).await?.map(|end| (marker, end)),
        };
        self.text_coverage.put(org, c);
        Ok(c)
    }

    /// A page of a free-text search read through the summaries, or `None`
    /// when they do not cover the plan's range (the caller reads the plan).
    pub(crate) async fn find_text_events(
        &self,
        org: &OrgId,
        plan: &QueryPlan,
        needles: &Needles,
        start: Option<&CursorKey>,
        limit: usize,
        cost: &mut ReadCost,
    ) -> Result<Option<Page>, StoreError> {
        let Some((marker, head_end)) = self.coverage(org, cost).await? else {
            return Ok(None);
        };
        // An event is recorded at most the skew before it occurred, so every
        // event of the range was recorded after `from − skew`.
        let covered = marker == 0
            || plan
                .from
                .is_some_and(|f| f.millis() - MAX_FUTURE_SKEW_SECS * 1000 > marker);
        if !covered {
            return Ok(None);
        }
        let sealed_until = head_end.millis();
        let mut found = Found {
            plan,
            below: start.map(|k| k.ts.as_str()),
            lo: plan.from.map(|t| t.sort_key()),
            hi: plan.to.map(|t| t.sort_key()),
            events: Vec::new(),
            tail: Vec::new(),
            sealed_until,
        };

        // The events no sealed summary holds.
        let tail_read = plan.recorded_from(head_end.plus_millis(1).sort_key());
        let mut tail_items = 0usize;
        let mut lek: Option<Item> = None;
        loop {
            let out = self.range_query(&tail_read, lek.take(), 1000, cost).await?;
            tail_items += usize::try_from(out.scanned_count).unwrap_or(0);
            if tail_items > self.text_limits.max_tail_items {
                tracing::info!(org = %org, tail_items, "free text: the seal is far behind; reading the plan");
                return Ok(None);
            }
            for item in out.items.unwrap_or_default() {
                let e = decode_item(item)?;
                if let Some(k) = found.keep(&e) {
                    found.tail.push((k, e));
                }
            }
            match out.last_evaluated_key {
                Some(k) => lek = Some(k),
                None => break,
            }
        }

        // The summaries, newest hour first.
        let top_ms = [
            plan.to.map(|t| t.millis() - 1),
            start.map(|k| ms_of_key(&k.ts)),
        ]
        .into_iter()
        .flatten()
        .min();
        let sk_lo = plan.from.map_or_else(
            || "TERMS#".to_string(),
            |t| format!("TERMS#{:013}", summary::hour_of(t.millis())),
        );
        let sk_hi = top_ms.map_or_else(
            || "TERMS#~".to_string(),
            |ms| format!("TERMS#{:013}#~", summary::hour_of(ms)),
        );
        let (lo_ms, hi_ms) = (plan.from.map(|t| t.millis()), top_ms);
        let mut group: Option<(i64, Vec<(i64, bool)>)> = None;
        let mut flushed = false;
        let mut lek: Option<Item> = None;
        let mut pages = 0u32;
        loop {
            let out = self
                .ddb
                .query()
                .table_name(&self.tables.control)
                .key_condition_expression("PK = :pk AND SK BETWEEN :lo AND :hi")
                .expression_attribute_values(":pk", s(digests_pk(org)))
                .expression_attribute_values(":lo", s(sk_lo.clone()))
                .expression_attribute_values(":hi", s(sk_hi.clone()))
                .scan_index_forward(false)
                // Hours are read a few at a time, more each round trip: a
                // common word fills its page from the first ones, a rare
                // one reaches the range's end in a few round trips.
                .limit(SUMMARY_READ_AHEAD << pages.min(7))
                .set_exclusive_start_key(lek.take())
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(|e| dynamo_error("Query", e))?;
            pages += 1;
            // `items_read` counts event items; summaries count in units.
            cost.add(out.consumed_capacity.as_ref(), 0);
            for item in out.items.unwrap_or_default() {
                let (hour, period, entries) = decode_term_item(&item)?;
                if period >= sealed_until {
                    // Not sealed yet: the tail holds these events.
                    continue;
                }
                if group.as_ref().is_some_and(|(h, _)| *h != hour) {
                    if let Some((h, g)) = group.take() {
                        if let Some(page) = self.read_runs(&mut found, &g, limit, cost).await? {
                            return Ok(Some(page));
                        }
                        if let Some(page) = found.page_if_full(&format!("{h:013}"), limit) {
                            return Ok(Some(page));
                        }
                        flushed = true;
                    }
                }
                let g = &mut group.get_or_insert_with(|| (hour, Vec::new())).1;
                g.extend(
                    entries
                        .into_iter()
                        .filter(|e| {
                            lo_ms.is_none_or(|lo| e.ms >= lo) && hi_ms.is_none_or(|hi| e.ms <= hi)
                        })
                        .map(|e| (e.ms, summary::might_contain(&e.sig, needles))),
                );
                if g.len() > self.text_limits.max_hour_entries {
                    tracing::info!(org = %org, hour, "free text: an hour too large to hold; reading the plan");
                    return Ok(None);
                }
            }
            let Some(next) = out.last_evaluated_key else {
                break;
            };
            match &group {
                // Out of round trips, and a whole hour answered: answer down
                // to the hour at the page's edge (it may go on), resume there.
                Some((h, _)) if flushed && pages >= self.text_limits.max_summary_pages => {
                    let edge = format!("{:013}", h + summary::HOUR_MS);
                    return Ok(Some(found.page(limit, Some(edge))));
                }
                _ => lek = Some(next),
            }
        }
        if let Some((_, g)) = group.take() {
            if let Some(page) = self.read_runs(&mut found, &g, limit, cost).await? {
                return Ok(Some(page));
            }
        }
        Ok(Some(found.page(limit, None)))
    }

    /// Reads one hour's runs of candidates, newest first, until the page is
    /// full; then returns it.
    async fn read_runs(
        &self,
        found: &mut Found<'_>,
        entries: &[(i64, bool)],
        limit: usize,
        cost: &mut ReadCost,
    ) -> Result<Option<Page>, StoreError> {
        for (lo, hi) in summary::runs(entries) {
            let read = found
                .plan
                .on_time_range(format!("{lo:013}"), format!("{:013}", hi + 1));
            let mut lek: Option<Item> = None;
            loop {
                let need = (limit + 1).saturating_sub(found.events.len()).max(8);
                let out = self
                    .range_query(&read, lek.take(), need.min(1000), cost)
                    .await?;
                for item in out.items.unwrap_or_default() {
                    let e = decode_item(item)?;
                    if let Some(k) = found.keep_sealed(&e) {
                        found.events.push((k, e));
                    }
                }
                let complete = match &out.last_evaluated_key {
                    Some(k) => match k.get("ts") {
                        Some(AttributeValue::S(ts)) => ts.clone(),
                        _ => return Err(StoreError::Corrupt("last evaluated key lacks ts".into())),
                    },
                    None => format!("{lo:013}"),
                };
                if let Some(page) = found.page_if_full(&complete, limit) {
                    return Ok(Some(page));
                }
                match out.last_evaluated_key {
                    Some(k) => lek = Some(k),
                    None => break,
                }
            }
        }
        Ok(None)
    }
}
