//! Bulk loading for the suite and `make bench`: items exactly as the store
//! encodes them (its own `encode_*_item` functions), written with
//! BatchWriteItem — 25 items a call, `IN_FLIGHT` calls at once, unprocessed
//! items retried with a short backoff — instead of one PutItem per item
//! (about 570 items/s on DynamoDB Local, too slow for a year of digests or
//! a 200,000-event period). Items are produced lazily, so a load's memory
//! is bounded by the calls in flight, not by its size.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use audit_aws::store::{encode_digest_item, encode_event_item, encode_manifest_part_item};
use audit_domain::event::Event;
use audit_domain::ids::OrgId;
use audit_domain::integrity::{
    period_containing, seal_hashed, Digest, EventsHasher, ManifestEntry, Signer,
};
use audit_domain::retention::RetentionDays;
use audit_domain::time::Timestamp;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use futures::stream::{self, StreamExt};

use crate::Stack;

/// One DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// DynamoDB's most items per BatchWriteItem call.
pub const BATCH: usize = 25;
/// BatchWriteItem calls in flight at once (measured on DynamoDB Local,
/// 2 cores: beyond 8 the rate stops growing).
pub const IN_FLIGHT: usize = 8;
/// Rounds of retrying a call's unprocessed items before giving up.
const MAX_ROUNDS: u32 = 20;

/// What a load wrote and how long it took.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Loaded {
    pub items: usize,
    /// BatchWriteItem calls, retries of unprocessed items included.
    pub calls: usize,
    /// Items DynamoDB returned unprocessed at least once (then rewritten).
    pub retried: usize,
    pub seconds: f64,
}

impl Loaded {
    /// Items written per second.
    pub fn rate(&self) -> f64 {
        self.items as f64 / self.seconds.max(f64::MIN_POSITIVE)
    }

    /// Adds another load's items, calls and retries (not its seconds:
    /// loads may overlap).
    pub fn add(&mut self, other: Loaded) {
        self.items += other.items;
        self.calls += other.calls;
        self.retried += other.retried;
    }
}

/// Writes every item of `items` to `table` with BatchWriteItem, `IN_FLIGHT`
/// calls at once, retrying what DynamoDB leaves unprocessed. Panics (a test
/// helper) when a call fails or items stay unprocessed.
pub async fn batch_write(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    items: impl Iterator<Item = Item>,
) -> Loaded {
    let started = Instant::now();
    let mut total = stream::iter(items)
        .chunks(BATCH)
        .map(|chunk| write_chunk(ddb, table, chunk))
        .buffer_unordered(IN_FLIGHT)
        .fold(Loaded::default(), |mut total, one| async move {
            total.add(one);
            total
        })
        .await;
    total.seconds = started.elapsed().as_secs_f64();
    total
}

async fn write_chunk(ddb: &aws_sdk_dynamodb::Client, table: &str, chunk: Vec<Item>) -> Loaded {
    let mut done = Loaded {
        items: chunk.len(),
        ..Loaded::default()
    };
    let mut requests: Vec<WriteRequest> = chunk
        .into_iter()
        .map(|item| {
            WriteRequest::builder()
                .put_request(
                    PutRequest::builder()
                        .set_item(Some(item))
                        .build()
                        .expect("a put request with an item"),
                )
                .build()
        })
        .collect();
    let mut round = 0;
    while !requests.is_empty() {
        assert!(
            round < MAX_ROUNDS,
            "{} items still unprocessed after {MAX_ROUNDS} BatchWriteItem rounds",
            requests.len()
        );
        if round > 0 {
            done.retried += requests.len();
            tokio::time::sleep(Duration::from_millis(10 << round.min(6))).await;
        }
        let out = ddb
            .batch_write_item()
            .request_items(table, requests)
            .send()
            .await
            .expect("BatchWriteItem");
        done.calls += 1;
        requests = out
            .unprocessed_items
            .and_then(|mut m| m.remove(table))
            .unwrap_or_default();
        round += 1;
    }
    done
}

/// A made-up chain of hourly (or `period_ms`) digests for one org, each
/// with one manifest part of one entry, oldest first, ending at the period
/// before `now`'s.
struct DigestChain<'a> {
    org: &'a OrgId,
    signer: Signer,
    current: Timestamp,
    period_ms: i64,
    /// Periods before `current` still to make, counting down to 1.
    left: i64,
    head: Option<Digest>,
}

impl DigestChain<'_> {
    /// The next digest (chained to the one before) and its manifest entry.
    fn next_digest(&mut self) -> Option<(Digest, ManifestEntry)> {
        if self.left < 1 {
            return None;
        }
        let k = self.left;
        self.left -= 1;
        let start = self.current.plus_millis(-k * self.period_ms);
        let entry = ManifestEntry {
            id: audit_domain::ids::EventId::parse(format!("evt_{k:06}")).expect("id"),
            hash: audit_domain::integrity::hash::sha256_hex(format!("{}{k}", self.org).as_bytes()),
        };
        let mut hasher = EventsHasher::new();
        hasher.push(&entry.hash);
        let d = seal_hashed(
            self.org,
            start,
            start.plus_millis(self.period_ms),
            hasher,
            self.head.as_ref(),
            &self.signer,
        );
        self.head = Some(d.clone());
        Some((d, entry))
    }
}

impl Stack {
    /// A DynamoDB client for bulk loads and tampering (the store keeps its
    /// own private).
    pub async fn ddb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&audit_aws::aws_config().await)
    }

    /// Writes `items` (already encoded by the store) to `table` in batches.
    pub async fn load_items(&self, table: &str, items: impl Iterator<Item = Item>) -> Loaded {
        batch_write(&self.ddb().await, table, items).await
    }

    /// Stores `events` exactly as ingest would (`encode_event_item`, the
    /// default retention), in batches: no seal marker or anything else
    /// ingest writes beside the event (`Stack::org` writes the marker).
    pub async fn load_events(&self, events: impl Iterator<Item = Event>) -> Loaded {
        let items = events
            .map(|e| encode_event_item(&e, RetentionDays::DEFAULT).expect("encode event item"));
        let table = self.store.tables().events.clone();
        self.load_items(&table, items).await
    }

    /// A chain of `n` digests of `period_ms` (each with one manifest part)
    /// for `org`, ending at the period before `now`'s: nothing is left to
    /// seal, so a tick only looks. Every part and every digest but the last
    /// is batch-written; the last goes through `put_digest`, which also
    /// makes it the chain head, as sealing leaves it. For the tick-cost test
    /// and bench figure 6.
    pub async fn load_digest_history(
        &self,
        org: &OrgId,
        n: i64,
        period_ms: i64,
        now: Timestamp,
    ) -> Loaded {
        let expires = now.epoch_seconds() + 86_400;
        let mut chain = DigestChain {
            org,
            signer: Signer::from_seed([7; 32]),
            current: period_containing(now, period_ms).0,
            period_ms,
            left: n,
            head: None,
        };
        let started = Instant::now();
        let mut last: Option<Digest> = None;
        let items = std::iter::from_fn(|| {
            let (d, entry) = chain.next_digest()?;
            let part = encode_manifest_part_item(org, d.period_start, 0, &[entry], expires)
                .expect("encode manifest part");
            let held = last.replace(d);
            let digest = held.map(|p| encode_digest_item(&p, 1, expires).expect("encode digest"));
            Some(std::iter::once(part).chain(digest))
        })
        .flatten();
        let table = self.store.tables().control.clone();
        let mut loaded = self.load_items(&table, items).await;
        if let Some(d) = last {
            let previous = None; // no head yet: this one becomes it
            assert!(self
                .store
                .put_digest(&d, 1, previous, expires)
                .await
                .expect("digest"));
            loaded.items += 1;
        }
        loaded.seconds = started.elapsed().as_secs_f64();
        loaded
    }
}

/// Events `prefix_<i>` for `i` in `range` as ingest would have recorded
/// them for `org` at `recorded_at` (the suite's `event` shape, actions in
/// turn), lazily: ids sort in `i` order, so with one `recorded_at` they are
/// in the order sealing reads them.
pub fn recorded_events<'a>(
    org: &'a OrgId,
    prefix: &'a str,
    range: std::ops::Range<usize>,
    recorded_at: Timestamp,
) -> impl Iterator<Item = Event> + 'a {
    use audit_domain::catalog::Action;
    range.map(move |i| {
        let json = crate::event(
            &format!("{prefix}_{i:07}"),
            Action::ALL[i % Action::ALL.len()],
            i % 11 == 0,
        );
        let new = audit_domain::validate::parse_event(&json, recorded_at, "")
            .expect("the suite's events are valid");
        Event::from_new(org.clone(), new, recorded_at)
    })
}
