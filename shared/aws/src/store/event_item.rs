//! How an event is stored: the compact item `put_event` writes, and the
//! decoding of both it and the full item of earlier releases.
//!
//! Every index projects the whole item and DynamoDB charges a write unit per
//! started KB per table and per index, so the item's size is the write cost
//! six times over. The compact item keeps only what cannot be derived:
//! the keys (from which org, id, action, group, `occurred_at` and
//! `recorded_at` follow), `resource` (which filters compare), the content
//! hash, the TTL, and `packed`: actor, context and metadata as JSON,
//! deflated. The free-text `search` attribute of earlier items is not
//! written: it is the event's `search_text()`, which the store computes.

use std::io::Read;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{from_item, to_item, Item, StoreError};
use crate::store::plan::keys;
use audit_domain::catalog::{Action, Group};
use audit_domain::event::{Actor, Context, Event, Resource};
use audit_domain::ids::{EventId, OrgId};
use audit_domain::retention::RetentionDays;
use audit_domain::time::Timestamp;

/// The attribute holding the deflated actor, context and metadata; its
/// presence is what marks a compact item.
pub(crate) const PACKED: &str = "packed";

/// Largest inflated `packed` the store accepts back (ingest bounds an event
/// well below this; a larger one is not an item we wrote).
const MAX_PACKED_BYTES: u64 = 1 << 20;

pub(crate) fn sort_key(t: Timestamp, id: &EventId) -> String {
    format!("{}#{id}", t.sort_key())
}

pub(crate) fn event_sk(id: &EventId) -> String {
    format!("EVT#{id}")
}

/// What `packed` holds.
#[derive(Serialize, Deserialize)]
struct Packed<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    actor: Option<std::borrow::Cow<'a, Actor>>,
    #[serde(default, skip_serializing_if = "Context::is_empty")]
    context: std::borrow::Cow<'a, Context>,
    #[serde(default)]
    metadata: std::borrow::Cow<'a, Map<String, Value>>,
}

/// The compact item's attributes other than `packed`.
#[derive(Serialize, Deserialize)]
struct CompactItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    ts: String,
    rts: String,
    actor_pk: String,
    action_pk: String,
    group_pk: String,
    resource: Resource,
    content_hash: String,
    expires_at: i64,
}

/// The item `put_event` writes for `e`.
pub fn encode_event_item(e: &Event, retention: RetentionDays) -> Result<Item, StoreError> {
    let mut item = to_item(CompactItem {
        pk: keys::org(&e.org_id),
        sk: event_sk(&e.id),
        ts: sort_key(e.occurred_at, &e.id),
        rts: sort_key(e.recorded_at, &e.id),
        actor_pk: keys::actor(&e.org_id, e.actor_key()),
        action_pk: keys::action(&e.org_id, e.action),
        group_pk: keys::group(&e.org_id, e.group()),
        resource: e.resource.clone(),
        content_hash: e.content_hash.clone(),
        expires_at: e.recorded_at.epoch_seconds() + retention.seconds(),
    })?;
    let packed = Packed {
        actor: e.actor.as_ref().map(std::borrow::Cow::Borrowed),
        context: std::borrow::Cow::Borrowed(&e.context),
        metadata: std::borrow::Cow::Borrowed(&e.metadata),
    };
    let json = serde_json::to_vec(&packed).map_err(|e| StoreError::Invalid(e.to_string()))?;
    item.insert(PACKED.into(), AttributeValue::B(Blob::new(deflate(&json)?)));
    Ok(item)
}

/// Either form back as the event it stores.
pub fn decode_event_item(item: Item) -> Result<Event, StoreError> {
    decode_item(item)
}

pub(crate) fn decode_item(mut item: Item) -> Result<Event, StoreError> {
    let Some(packed) = item.remove(PACKED) else {
        return from_item::<FullItem>(item)?.decode();
    };
    let AttributeValue::B(blob) = packed else {
        return Err(StoreError::Corrupt("packed is not binary".into()));
    };
    let c: CompactItem = from_item(item)?;
    let json = inflate(blob.as_ref())
        .map_err(|e| StoreError::Corrupt(format!("packed of {}: {e}", c.sk)))?;
    let p: Packed<'static> = serde_json::from_slice(&json)
        .map_err(|e| StoreError::Corrupt(format!("packed of {}: {e}", c.sk)))?;
    let org =
        c.pk.strip_prefix("ORG#")
            .and_then(|o| OrgId::parse(o).ok())
            .ok_or_else(|| corrupt("PK", &c.pk))?;
    let id =
        c.sk.strip_prefix("EVT#")
            .and_then(|i| EventId::parse(i).ok())
            .ok_or_else(|| corrupt("SK", &c.sk))?;
    let action = c
        .action_pk
        .rsplit_once("#ACTION#")
        .and_then(|(_, a)| Action::parse(a))
        .ok_or_else(|| corrupt("action_pk", &c.action_pk))?;
    Ok(Event {
        occurred_at: key_time(&c.ts).ok_or_else(|| corrupt("ts", &c.ts))?,
        recorded_at: key_time(&c.rts).ok_or_else(|| corrupt("rts", &c.rts))?,
        id,
        org_id: org,
        action,
        actor: p.actor.map(std::borrow::Cow::into_owned),
        resource: c.resource,
        context: p.context.into_owned(),
        metadata: p.metadata.into_owned(),
        content_hash: c.content_hash,
    })
}

fn corrupt(attr: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("event item {attr} {value:?}"))
}

/// The time in a `ts` or `rts` value (`<13-digit millis>#<id>`).
fn key_time(v: &str) -> Option<Timestamp> {
    let (ms, _) = v.split_once('#')?;
    Timestamp::from_millis(ms.parse().ok()?).ok()
}

/// libdeflate's level 1, checked when this compiles (its `fastest` is level
/// 0, stored blocks, no compression at all).
const DEFLATE_LEVEL: libdeflater::CompressionLvl = match libdeflater::CompressionLvl::new(1) {
    Ok(level) => level,
    Err(_) => panic!("libdeflate has a level 1"),
};

thread_local! {
    /// `DEFLATE_LEVEL`: dynamic Huffman codes on a fast
    /// match finder, as small as zlib-rs's level 2 on an event's packed
    /// JSON (509 against 512 B for the bench's typical event) in well under
    /// its time. zlib-rs's level 1 uses fixed codes (680 B, many items past
    /// 1 KB), and every zlib-rs call clears a 128 KiB hash table whatever
    /// the input's size. The output is raw deflate, as before: any inflater
    /// reads it, so stored items are unchanged. One compressor per thread,
    /// made on its first event: allocating one takes a few hundred KB.
    static DEFLATE: std::cell::RefCell<libdeflater::Compressor> = std::cell::RefCell::new(
        libdeflater::Compressor::new(DEFLATE_LEVEL),
    );
}

/// Raw deflate (no zlib header) of `bytes`.
fn deflate(bytes: &[u8]) -> Result<Vec<u8>, StoreError> {
    DEFLATE.with_borrow_mut(|z| {
        let mut out = vec![0; z.deflate_compress_bound(bytes.len())];
        let n = z
            .deflate_compress(bytes, &mut out)
            .map_err(|e| StoreError::Invalid(format!("deflate: {e}")))?;
        out.truncate(n);
        Ok(out)
    })
}

fn inflate(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len() * 3);
    flate2::read::DeflateDecoder::new(bytes)
        .take(MAX_PACKED_BYTES + 1)
        .read_to_end(&mut out)?;
    if out.len() as u64 > MAX_PACKED_BYTES {
        return Err(std::io::Error::other("inflates past its bound"));
    }
    Ok(out)
}

/// The item of releases before the compact form (still read; see the
/// README's "Upgrading"). Metadata is the producer's JSON as text.
#[derive(Debug, Deserialize)]
struct FullItem {
    id: EventId,
    org_id: OrgId,
    action: Action,
    #[allow(dead_code)]
    group: Group,
    occurred_at: Timestamp,
    recorded_at: Timestamp,
    #[serde(default)]
    actor: Option<Actor>,
    resource: Resource,
    #[serde(default)]
    context: Context,
    metadata: String,
    content_hash: String,
}

impl FullItem {
    fn decode(self) -> Result<Event, StoreError> {
        let metadata = match serde_json::from_str(&self.metadata) {
            Ok(Value::Object(m)) => m,
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "metadata of event {}",
                    self.id
                )))
            }
        };
        Ok(Event {
            id: self.id,
            org_id: self.org_id,
            action: self.action,
            occurred_at: self.occurred_at,
            recorded_at: self.recorded_at,
            actor: self.actor,
            resource: self.resource,
            context: self.context,
            metadata,
            content_hash: self.content_hash,
        })
    }
}

/// The full item an earlier release wrote for `e` (for the tests that show
/// such items still answer).
pub fn encode_full_event_item(e: &Event, retention: RetentionDays) -> Result<Item, StoreError> {
    #[derive(Serialize)]
    struct Full<'a> {
        #[serde(rename = "PK")]
        pk: String,
        #[serde(rename = "SK")]
        sk: String,
        ts: String,
        rts: String,
        actor_pk: String,
        action_pk: String,
        group_pk: String,
        id: &'a EventId,
        org_id: &'a OrgId,
        action: Action,
        group: Group,
        occurred_at: Timestamp,
        recorded_at: Timestamp,
        #[serde(skip_serializing_if = "Option::is_none")]
        actor: Option<&'a Actor>,
        resource: &'a Resource,
        #[serde(skip_serializing_if = "Context::is_empty")]
        context: &'a Context,
        metadata: String,
        content_hash: &'a str,
        search: String,
        expires_at: i64,
    }
    to_item(Full {
        pk: keys::org(&e.org_id),
        sk: event_sk(&e.id),
        ts: sort_key(e.occurred_at, &e.id),
        rts: sort_key(e.recorded_at, &e.id),
        actor_pk: keys::actor(&e.org_id, e.actor_key()),
        action_pk: keys::action(&e.org_id, e.action),
        group_pk: keys::group(&e.org_id, e.group()),
        id: &e.id,
        org_id: &e.org_id,
        action: e.action,
        group: e.group(),
        occurred_at: e.occurred_at,
        recorded_at: e.recorded_at,
        actor: e.actor.as_ref(),
        resource: &e.resource,
        context: &e.context,
        metadata: Value::Object(e.metadata.clone()).to_string(),
        content_hash: &e.content_hash,
        search: e.search_text(),
        expires_at: e.recorded_at.epoch_seconds() + retention.seconds(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_domain::fixtures;

    #[test]
    fn deflate_round_trips_small_and_incompressible_input_with_one_compressor() {
        // A byte pattern that deflate cannot shrink (stored blocks, the
        // compression bound), then small and empty inputs on the same
        // thread's compressor.
        let noise: Vec<u8> = (0u32..40_000)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let typical = serde_json::to_vec(&fixtures::user_event()).unwrap();
        for input in [&noise[..], &typical[..], b"", &noise[..], &typical[..]] {
            let packed = deflate(input).unwrap();
            assert_eq!(inflate(&packed).unwrap(), input);
        }
        assert!(deflate(&typical).unwrap().len() < typical.len());
    }

    #[test]
    fn a_compact_item_decodes_to_the_event_it_stores() {
        for e in [fixtures::user_event(), fixtures::system_event()] {
            let item = encode_event_item(&e, RetentionDays::DEFAULT).unwrap();
            assert!(
                !item.contains_key("search"),
                "search is derived, not stored"
            );
            assert_eq!(decode_item(item).unwrap(), e);
        }
    }

    #[test]
    fn a_full_item_of_an_earlier_release_still_decodes() {
        for e in [fixtures::user_event(), fixtures::system_event()] {
            let item = encode_full_event_item(&e, RetentionDays::DEFAULT).unwrap();
            assert!(item.contains_key("search"));
            assert_eq!(decode_item(item).unwrap(), e);
        }
    }

    #[test]
    fn the_compact_item_is_smaller_than_the_full_one() {
        let e = fixtures::user_event();
        let compact =
            super::super::item_size(&encode_event_item(&e, RetentionDays::DEFAULT).unwrap());
        let full =
            super::super::item_size(&encode_full_event_item(&e, RetentionDays::DEFAULT).unwrap());
        assert!(compact < full, "compact {compact} B, full {full} B");
    }

    /// The bench's typical event (`bench/src/fixtures.rs`, about 1.2 KB as
    /// JSON): its full item took two write units per table and index write.
    fn typical_event() -> Event {
        let json = serde_json::json!({
            "id": "evt_q_0012345", "action": "MODEL_DEPLOYED",
            "resource": {"type": "deployment", "id": "res_02372", "name": "mistral-7b"},
            "actor": {"type": "user", "id": "usr_012", "name": "User Number 12", "email": "user12@example.com"},
            "context": {"ip": "203.0.113.9", "user_agent": "platform-api/2.14.1 (linux; x86_64)", "request_id": "req_000000012345"},
            "metadata": {
                "model_name": "mistral-7b", "chain_name": "rag-chain-production",
                "environment": "production", "region": "eu-west-1",
                "instance_type": "gpu.a100.80gb", "replicas": 3,
                "autoscaling": {"min": 1, "max": 8, "target_utilization": 0.7},
                "labels": ["team:ml-platform", "cost-center:4711", "tier:gold"],
                "reason": "rolled out after the nightly evaluation passed on every benchmark suite",
                "version": "v42", "previous_version": "v41",
                "git_sha": "3f9c2a7e1b4d8f6a0c5e9b2d7f1a4c8e6b3d0f9a", "ticket": "OPS-12345",
                "endpoint": "https://inference.internal.example.com/v1/models/mistral-7b/deployments/2372",
                "approved_by": ["usr_001", "usr_017"]
            }
        });
        let now = audit_domain::fixtures::at("2026-11-28T09:30:01.456Z");
        let new = audit_domain::validate::parse_event(&json, now, "").unwrap();
        Event::from_new(OrgId::parse("bench-query").unwrap(), new, now)
    }

    #[test]
    fn the_typical_event_fits_one_write_unit_per_table_and_index_write() {
        let e = typical_event();
        let size = |i: &Item| super::super::item_size(i);
        let compact = size(&encode_event_item(&e, RetentionDays::DEFAULT).unwrap());
        let full = size(&encode_full_event_item(&e, RetentionDays::DEFAULT).unwrap());
        eprintln!("typical event: compact item {compact} B, full item {full} B");
        assert!(full > 1024, "the full item took two units: {full} B");
        assert!(compact <= 1024, "the compact item takes one: {compact} B");
    }

    #[test]
    fn a_blob_the_previous_compressor_wrote_still_decodes() {
        // Releases before this one deflated `packed` through zlib-rs at
        // level 2: the same raw deflate, with other block choices.
        let e = typical_event();
        let mut item = encode_event_item(&e, RetentionDays::DEFAULT).unwrap();
        let Some(AttributeValue::B(ours)) = item.get(PACKED) else {
            panic!("no packed blob");
        };
        let json = inflate(ours.as_ref()).unwrap();
        let mut z = flate2::Compress::new(flate2::Compression::new(2), false);
        let mut old = Vec::with_capacity(json.len() + 128);
        let status = z
            .compress_vec(&json, &mut old, flate2::FlushCompress::Finish)
            .unwrap();
        assert_eq!(status, flate2::Status::StreamEnd);
        assert_ne!(&old[..], ours.as_ref(), "two writers, two blobs");
        item.insert(PACKED.into(), AttributeValue::B(Blob::new(old)));
        assert_eq!(decode_item(item).unwrap(), e);
    }

    #[test]
    fn a_packed_blob_that_is_not_deflate_is_corrupt_not_a_panic() {
        let e = fixtures::user_event();
        let mut item = encode_event_item(&e, RetentionDays::DEFAULT).unwrap();
        item.insert(PACKED.into(), AttributeValue::B(Blob::new(vec![0xff; 16])));
        assert!(matches!(decode_item(item), Err(StoreError::Corrupt(_))));
    }
}
