//! Integrity digests in the control table, under the org's partition:
//! `DIGEST#<period start, 13-digit millis>` (the signed digest and how many
//! manifest parts it has), `DIGESTPART#<period start>#<n>` (the period's
//! manifest, 1,000 `<id> <hash>` lines per part, so a busy period stays
//! under the item size limit) and `DIGEST_HEAD` (a copy of the org's latest
//! digest: where the next seal continues the chain).

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use serde::{Deserialize, Serialize};

use super::{dynamo_error, from_item, s, to_item, written, Item, Store, StoreError};
use crate::store::plan::keys;
use audit_domain::export::ExportWindow;
use audit_domain::ids::{EventId, OrgId};
use audit_domain::integrity::{Digest, ManifestEntry};
use audit_domain::time::Timestamp;

const HEAD_SK: &str = "DIGEST_HEAD";
/// Manifest lines per `DIGESTPART` item (ids ≤ 128 bytes: < 200 KB a part).
pub const MANIFEST_PART_LEN: usize = 1000;

fn digest_sk(start: Timestamp) -> String {
    format!("DIGEST#{}", start.sort_key())
}

fn part_sk(start: Timestamp, n: usize) -> String {
    format!("DIGESTPART#{}#{n:05}", start.sort_key())
}

#[derive(Debug, Serialize, Deserialize)]
struct DigestItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    #[serde(flatten)]
    digest: Digest,
    #[serde(default)]
    manifest_parts: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct PartItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entries: String,
}

fn decode_digest(item: Item) -> Result<(Digest, u32), StoreError> {
    let i: DigestItem = from_item(item)?;
    Ok((i.digest, i.manifest_parts))
}

fn org_from_pk(pk: &str) -> Option<OrgId> {
    pk.strip_prefix("ORG#").and_then(|o| OrgId::parse(o).ok())
}

impl Store {
    /// Every org that has settings or API keys: an org that can record
    /// events has at least an ingest key.
    pub async fn integrity_orgs(&self) -> Result<Vec<OrgId>, StoreError> {
        let mut orgs = BTreeSet::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .ddb
                .scan()
                .table_name(&self.tables.control)
                .filter_expression(
                    "begins_with(PK, :org) AND (SK = :settings OR begins_with(SK, :key))",
                )
                .expression_attribute_values(":org", s("ORG#"))
                .expression_attribute_values(":settings", s("ORG"))
                .expression_attribute_values(":key", s("KEY#"))
                .projection_expression("PK")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| dynamo_error("Scan", e))?;
            for item in out.items.unwrap_or_default() {
                if let Some(AttributeValue::S(pk)) = item.get("PK") {
                    orgs.extend(org_from_pk(pk));
                }
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(orgs.into_iter().collect()),
            }
        }
    }

    /// When the org's first event still in the table was recorded.
    pub async fn first_recorded_at(&self, org: &OrgId) -> Result<Option<Timestamp>, StoreError> {
        let out = self
            .ddb
            .query()
            .table_name(&self.tables.events)
            .index_name("by_recorded")
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(keys::org(org)))
            .scan_index_forward(true)
            .limit(1)
            .send()
            .await
            .map_err(|e| dynamo_error("Query", e))?;
        let Some(item) = out.items.unwrap_or_default().into_iter().next() else {
            return Ok(None);
        };
        match item.get("rts") {
            Some(AttributeValue::S(rts)) => rts
                .split('#')
                .next()
                .and_then(|m| m.parse::<i64>().ok())
                .and_then(|m| Timestamp::from_millis(m).ok())
                .map(Some)
                .ok_or_else(|| StoreError::Corrupt(format!("event rts {rts}"))),
            _ => Err(StoreError::Corrupt("event item lacks rts".into())),
        }
    }

    /// Every event recorded in `(from, to]`, oldest first.
    pub async fn period_events(
        &self,
        org: &OrgId,
        window: &ExportWindow,
    ) -> Result<Vec<audit_domain::event::Event>, StoreError> {
        let mut events = Vec::new();
        let mut resume: Option<String> = None;
        loop {
            let page = self
                .window_events(org, window, resume.as_deref(), 1000)
                .await?;
            events.extend(page.events);
            match page.resume_after {
                Some(r) => resume = Some(r),
                None => return Ok(events),
            }
        }
    }

    /// The org's latest digest, where the next seal continues.
    pub async fn digest_head(&self, org: &OrgId) -> Result<Option<Digest>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.tables.control)
            .key("PK", s(keys::org(org)))
            .key("SK", s(HEAD_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| dynamo_error("GetItem", e))?;
        out.item
            .map(|i| decode_digest(i).map(|(d, _)| d))
            .transpose()
    }

    /// Stores a sealed digest and its manifest and moves the chain head to
    /// it, only if the head is still `previous` (absent for a genesis
    /// digest). Returns false when another sealer got there first.
    pub async fn put_digest(
        &self,
        digest: &Digest,
        manifest: &[ManifestEntry],
        previous: Option<&Digest>,
    ) -> Result<bool, StoreError> {
        let org = &digest.org_id;
        let chunks: Vec<&[ManifestEntry]> = manifest.chunks(MANIFEST_PART_LEN).collect();
        // Parts first: rewriting them is harmless until the digest exists.
        for (n, chunk) in chunks.iter().enumerate() {
            let entries: String = chunk
                .iter()
                .map(|e| format!("{} {}\n", e.id, e.hash))
                .collect();
            let item = to_item(PartItem {
                pk: keys::org(org),
                sk: part_sk(digest.period_start, n),
                entries,
            })?;
            self.put_control(item).await?;
        }
        let item = |sk: String| {
            to_item(DigestItem {
                pk: keys::org(org),
                sk,
                digest: digest.clone(),
                manifest_parts: chunks.len() as u32,
            })
        };
        let put_digest = Put::builder()
            .table_name(&self.tables.control)
            .set_item(Some(item(digest_sk(digest.period_start))?))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let mut head = Put::builder()
            .table_name(&self.tables.control)
            .set_item(Some(item(HEAD_SK.into())?));
        head = match previous {
            None => head.condition_expression("attribute_not_exists(PK)"),
            Some(p) => head
                .condition_expression("digest_hash = :prev")
                .expression_attribute_values(":prev", s(p.digest_hash.clone())),
        };
        let head = head
            .build()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let result = self
            .ddb
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put_digest).build())
            .transact_items(TransactWriteItem::builder().put(head).build())
            .send()
            .await;
        written("TransactWriteItems", result)
    }

    /// The org's digests whose period starts in `[from, to]` (either bound
    /// optional), oldest first, at most `limit`; with each, how many
    /// manifest parts it has.
    pub async fn digests(
        &self,
        org: &OrgId,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        newest_first: bool,
        limit: usize,
    ) -> Result<Vec<(Digest, u32)>, StoreError> {
        let lo = from.map_or_else(|| "DIGEST#0".to_string(), digest_sk);
        let hi = match to {
            Some(t) => digest_sk(t),
            None => "DIGEST#~".to_string(),
        };
        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .ddb
                .query()
                .table_name(&self.tables.control)
                .key_condition_expression("PK = :pk AND SK BETWEEN :lo AND :hi")
                .expression_attribute_values(":pk", s(keys::org(org)))
                .expression_attribute_values(":lo", s(lo.clone()))
                .expression_attribute_values(":hi", s(hi.clone()))
                .scan_index_forward(!newest_first)
                .consistent_read(true)
                .limit(i32::try_from(limit - found.len()).unwrap_or(1000).min(1000))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| dynamo_error("Query", e))?;
            for item in out.items.unwrap_or_default() {
                found.push(decode_digest(item)?);
            }
            match out.last_evaluated_key {
                Some(k) if found.len() < limit => start = Some(k),
                _ => return Ok(found),
            }
        }
    }

    /// A digest's manifest, read back from its parts.
    pub async fn digest_manifest(
        &self,
        digest: &Digest,
        parts: u32,
    ) -> Result<Vec<ManifestEntry>, StoreError> {
        let mut entries = Vec::new();
        for n in 0..parts as usize {
            let out = self
                .ddb
                .get_item()
                .table_name(&self.tables.control)
                .key("PK", s(keys::org(&digest.org_id)))
                .key("SK", s(part_sk(digest.period_start, n)))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| dynamo_error("GetItem", e))?;
            let Some(item) = out.item else {
                return Err(StoreError::Corrupt(format!(
                    "manifest part {n} of digest {} is missing",
                    digest.period()
                )));
            };
            let part: PartItem = from_item(item)?;
            for line in part.entries.lines() {
                let (id, hash) = line
                    .split_once(' ')
                    .ok_or_else(|| StoreError::Corrupt(format!("manifest line {line}")))?;
                let id = EventId::parse(id)
                    .map_err(|e| StoreError::Corrupt(format!("manifest id {id}: {e}")))?;
                entries.push(ManifestEntry {
                    id,
                    hash: hash.to_string(),
                });
            }
        }
        Ok(entries)
    }
}
