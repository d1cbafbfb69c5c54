//! Integrity digests in the control table, in partitions of their own that
//! no scheduler tick reads: `DIGESTS#<org>` / `DIGEST#<period start,
//! 13-digit millis>` (the signed digest and how many manifest parts it has),
//! `DIGESTS#<org>` / `DIGESTPART#<period start>#<n>` (the period's manifest,
//! 1,000 `<id> <hash>` lines per part, written as they fill) and
//! `DIGESTS#<org>` / `SEALING` (how far an unfinished seal got: where the
//! next tick resumes). Every such item expires with the org's retention
//! (`expires_at`, the table's TTL).
//!
//! `ORG#<org>` / `DIGEST_HEAD` (a copy of the org's latest digest, where the
//! next seal continues the chain) stays where it always was, one item per
//! org. Stages sealed before this layout keep their digests and parts under
//! `ORG#<org>` (same sort keys): every read here looks in the new place and
//! falls back to the old, so old digests keep verifying.

use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnConsumedCapacity, TransactWriteItem,
};
use serde::{Deserialize, Serialize};

use super::{dynamo_error, from_item, s, to_item, written, Item, Store, StoreError};
use crate::store::plan::keys;
use audit_domain::ids::{EventId, OrgId};
use audit_domain::integrity::{Digest, ManifestEntry};
use audit_domain::time::Timestamp;

const HEAD_SK: &str = "DIGEST_HEAD";
const SEALING_SK: &str = "SEALING";
/// Manifest lines per `DIGESTPART` item (ids ≤ 128 bytes: < 200 KB a part).
pub const MANIFEST_PART_LEN: usize = 1000;

/// The partition of an org's digests, manifests and sealing progress.
pub(crate) fn digests_pk(org: &OrgId) -> String {
    format!("DIGESTS#{org}")
}

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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize)]
struct PartItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entries: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

/// How far an unfinished seal of one period got: its first `parts` manifest
/// parts are written (all full), covering the events up to `resume_after`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealProgress {
    pub period_start: Timestamp,
    pub parts: u32,
    /// The `rts` of the last event in the last part written.
    pub resume_after: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct ProgressItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    #[serde(flatten)]
    progress: SealProgress,
    expires_at: i64,
}

fn decode_digest(item: Item) -> Result<(Digest, u32), StoreError> {
    let i: DigestItem = from_item(item)?;
    Ok((i.digest, i.manifest_parts))
}

/// Encodes manifest entries as a part's lines.
fn part_lines(entries: &[ManifestEntry]) -> String {
    entries
        .iter()
        .map(|e| format!("{} {}\n", e.id, e.hash))
        .collect()
}

/// The item `put_manifest_part` writes (for bulk loaders and benchmarks
/// that must store exactly what sealing stores).
pub fn encode_manifest_part_item(
    org: &OrgId,
    period_start: Timestamp,
    n: usize,
    entries: &[ManifestEntry],
    expires_at: i64,
) -> Result<Item, StoreError> {
    to_item(PartItem {
        pk: digests_pk(org),
        sk: part_sk(period_start, n),
        entries: part_lines(entries),
        expires_at: Some(expires_at),
    })
}

/// The digest item `put_digest` writes in the digests' partition (not the
/// chain head it moves): for bulk loaders, as `encode_manifest_part_item`.
pub fn encode_digest_item(
    digest: &Digest,
    parts: u32,
    expires_at: i64,
) -> Result<Item, StoreError> {
    to_item(DigestItem {
        pk: digests_pk(&digest.org_id),
        sk: digest_sk(digest.period_start),
        digest: digest.clone(),
        manifest_parts: parts,
        expires_at: Some(expires_at),
    })
}

fn parse_part(entries: &str) -> Result<Vec<ManifestEntry>, StoreError> {
    entries
        .lines()
        .map(|line| {
            let (id, hash) = line
                .split_once(' ')
                .ok_or_else(|| StoreError::Corrupt(format!("manifest line {line}")))?;
            let id = EventId::parse(id)
                .map_err(|e| StoreError::Corrupt(format!("manifest id {id}: {e}")))?;
            Ok(ManifestEntry {
                id,
                hash: hash.to_string(),
            })
        })
        .collect()
}

impl Store {
    /// Every org that can record events (it has settings or keys), from
    /// their seal markers in `by_tick`: a Query, whatever the table holds.
    pub async fn integrity_orgs(&self) -> Result<Vec<OrgId>, StoreError> {
        self.orgs_to_seal().await
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
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| dynamo_error("Query", e))?;
        self.count_reads(out.consumed_capacity.as_ref());
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

    /// Every event recorded in `(from, to]`, oldest first, in memory: for
    /// `auditctl verify`, which compares a period's events with its manifest
    /// (sealing reads page by page instead).
    pub async fn period_events(
        &self,
        org: &OrgId,
        window: &audit_domain::export::ExportWindow,
    ) -> Result<Vec<audit_domain::event::Event>, StoreError> {
        let mut events = Vec::new();
        let mut resume: Option<String> = None;
        loop {
            let page = self
                .window_events(org, window, resume.as_deref(), MANIFEST_PART_LEN)
                .await?;
            events.extend(page.events);
            match page.resume_after {
                Some(r) => resume = Some(r),
                None => return Ok(events),
            }
        }
    }

    async fn get_consistent(&self, pk: String, sk: String) -> Result<Option<Item>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.tables.control)
            .key("PK", s(pk))
            .key("SK", s(sk))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| dynamo_error("GetItem", e))?;
        self.count_reads(out.consumed_capacity.as_ref());
        Ok(out.item)
    }

    /// The org's latest digest, where the next seal continues.
    pub async fn digest_head(&self, org: &OrgId) -> Result<Option<Digest>, StoreError> {
        self.get_consistent(keys::org(org), HEAD_SK.into())
            .await?
            .map(|i| decode_digest(i).map(|(d, _)| d))
            .transpose()
    }

    /// Where the org's sealed periods end (the chain head's period end),
    /// read eventually consistently: a search may see an older head, and
    /// then reads more events as unsealed.
    pub(crate) async fn sealed_until(
        &self,
        org: &OrgId,
        cost: &mut super::ReadCost,
    ) -> Result<Option<Timestamp>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.tables.control)
            .key("PK", s(keys::org(org)))
            .key("SK", s(HEAD_SK))
            .projection_expression("period_end")
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| dynamo_error("GetItem", e))?;
        cost.add(out.consumed_capacity.as_ref(), 0);
        match out.item.as_ref().and_then(|i| i.get("period_end")) {
            None => Ok(None),
            Some(AttributeValue::S(v)) => Timestamp::parse(v)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("the digest head's period_end: {e}"))),
            Some(_) => Err(StoreError::Corrupt("the digest head's period_end".into())),
        }
    }

    /// Where an unfinished seal of the org stopped, if one did.
    pub async fn sealing_progress(&self, org: &OrgId) -> Result<Option<SealProgress>, StoreError> {
        self.get_consistent(digests_pk(org), SEALING_SK.into())
            .await?
            .map(|i| from_item::<ProgressItem>(i).map(|p| p.progress))
            .transpose()
    }

    /// Records how far a seal got, so the next tick resumes there.
    pub async fn put_sealing_progress(
        &self,
        org: &OrgId,
        progress: &SealProgress,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.put_control(to_item(ProgressItem {
            pk: digests_pk(org),
            sk: SEALING_SK.into(),
            progress: progress.clone(),
            expires_at,
        })?)
        .await
    }

    /// Writes manifest part `n` of the period starting at `period_start`.
    /// Rewriting a part is harmless until its digest exists.
    pub async fn put_manifest_part(
        &self,
        org: &OrgId,
        period_start: Timestamp,
        n: usize,
        entries: &[ManifestEntry],
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.put_control(encode_manifest_part_item(
            org,
            period_start,
            n,
            entries,
            expires_at,
        )?)
        .await
    }

    /// Stores a sealed digest whose `parts` manifest parts are written,
    /// clears the org's sealing progress and moves the chain head to it,
    /// only if the head is still `previous` (absent for a genesis digest).
    /// Returns false when another sealer got there first.
    pub async fn put_digest(
        &self,
        digest: &Digest,
        parts: u32,
        previous: Option<&Digest>,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        self.put_sealed(digest, parts, previous, expires_at, None)
            .await
    }

    /// `put_digest`, and in the same transaction the signed checkpoint
    /// note of the tree size the digest ends at (`CHECKPOINT#<size>`,
    /// never expiring: later proofs are checked against it).
    pub async fn put_sealed(
        &self,
        digest: &Digest,
        parts: u32,
        previous: Option<&Digest>,
        expires_at: i64,
        checkpoint: Option<&str>,
    ) -> Result<bool, StoreError> {
        let org = &digest.org_id;
        let put_digest = Put::builder()
            .table_name(&self.tables.control)
            .set_item(Some(encode_digest_item(digest, parts, expires_at)?))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        // The head never expires: it is where the chain continues.
        let mut head = Put::builder()
            .table_name(&self.tables.control)
            .set_item(Some(to_item(DigestItem {
                pk: keys::org(org),
                sk: HEAD_SK.into(),
                digest: digest.clone(),
                manifest_parts: parts,
                expires_at: None,
            })?));
        head = match previous {
            None => head.condition_expression("attribute_not_exists(PK)"),
            Some(p) => head
                .condition_expression("digest_hash = :prev")
                .expression_attribute_values(":prev", s(p.digest_hash.clone())),
        };
        let head = head
            .build()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let done = Delete::builder()
            .table_name(&self.tables.control)
            .key("PK", s(digests_pk(org)))
            .key("SK", s(SEALING_SK))
            .build()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let mut tx = self
            .ddb
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put_digest).build())
            .transact_items(TransactWriteItem::builder().put(head).build())
            .transact_items(TransactWriteItem::builder().delete(done).build());
        if let (Some(note), Some(size)) = (checkpoint, digest.tree_size) {
            let put = Put::builder()
                .table_name(&self.tables.control)
                .item("PK", s(digests_pk(org)))
                .item("SK", s(super::tiles::checkpoint_sk(size)))
                .item("note", s(note))
                .build()
                .map_err(|e| StoreError::Invalid(e.to_string()))?;
            tx = tx.transact_items(TransactWriteItem::builder().put(put).build());
        }
        let result = tx.send().await;
        written("TransactWriteItems", result)
    }

    /// The org's digests whose period starts in `[from, to]` (either bound
    /// optional), oldest (or newest) first, at most `limit`; with each, how
    /// many manifest parts it has. Reads the digests' own partition and the
    /// one older stages wrote them to, and merges the two.
    pub async fn digests(
        &self,
        org: &OrgId,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        newest_first: bool,
        limit: usize,
    ) -> Result<Vec<(Digest, u32)>, StoreError> {
        let mut found = self
            .digests_in(&digests_pk(org), from, to, newest_first, limit)
            .await?;
        let old = self
            .digests_in(&keys::org(org), from, to, newest_first, limit)
            .await?;
        for d in old {
            if !found
                .iter()
                .any(|(f, _)| f.period_start == d.0.period_start)
            {
                found.push(d);
            }
        }
        found.sort_by_key(|(d, _)| d.period_start);
        if newest_first {
            found.reverse();
        }
        found.truncate(limit);
        Ok(found)
    }

    async fn digests_in(
        &self,
        pk: &str,
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
        while found.len() < limit {
            let out = self
                .ddb
                .query()
                .table_name(&self.tables.control)
                .key_condition_expression("PK = :pk AND SK BETWEEN :lo AND :hi")
                .expression_attribute_values(":pk", s(pk))
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
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(found)
    }

    /// One manifest part of a period: the entries, from the digests' own
    /// partition or, for a digest sealed by an older stage, the org's.
    pub async fn manifest_part(
        &self,
        org: &OrgId,
        period_start: Timestamp,
        n: usize,
    ) -> Result<Option<Vec<ManifestEntry>>, StoreError> {
        let sk = part_sk(period_start, n);
        let item = match self.get_consistent(digests_pk(org), sk.clone()).await? {
            Some(item) => Some(item),
            None => self.get_consistent(keys::org(org), sk).await?,
        };
        item.map(|item| {
            let part: PartItem = from_item(item)?;
            parse_part(&part.entries)
        })
        .transpose()
    }

    /// A digest's manifest, read back from its parts.
    pub async fn digest_manifest(
        &self,
        digest: &Digest,
        parts: u32,
    ) -> Result<Vec<ManifestEntry>, StoreError> {
        let mut entries = Vec::new();
        for n in 0..parts as usize {
            let Some(part) = self
                .manifest_part(&digest.org_id, digest.period_start, n)
                .await?
            else {
                return Err(StoreError::Corrupt(format!(
                    "manifest part {n} of digest {} is missing",
                    digest.period()
                )));
            };
            entries.extend(part);
        }
        Ok(entries)
    }
}
