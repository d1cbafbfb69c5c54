//! The org's Merkle tree and checkpoints in the control table, in the
//! digests' partition (`DIGESTS#<org>`), which no tick reads:
//!
//! * `TILE#<level, 2 digits>#<index, 16 digits>`: one Tessera tile,
//!   `hashes` (binary, 32 bytes per hash, up to 256) and `width`. A full
//!   tile (width 256) is never overwritten; the right-edge tile of each
//!   level grows as seals append. Tiles do not expire: proofs for newer
//!   events need the older subtrees.
//! * `CHECKPOINT#<tree size, 20 digits>`: the signed checkpoint note at
//!   that size (`note`), written with the digest that reached it.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};

use super::{dynamo_error, s, written, Item, Store, StoreError};
use audit_domain::ids::OrgId;
use audit_domain::integrity::merkle::Hash;
use audit_domain::integrity::merkle::{fold_right, subtrees_of, Range};
use audit_domain::integrity::tiles::{locate, subtree_hash, TileId, TILE_WIDTH};
use std::collections::BTreeMap;

pub(crate) fn digests_pk(org: &OrgId) -> String {
    format!("DIGESTS#{org}")
}

fn tile_sk(id: TileId) -> String {
    format!("TILE#{:02}#{:016}", id.level, id.index)
}

pub(crate) fn checkpoint_sk(size: u64) -> String {
    format!("CHECKPOINT#{size:020}")
}

fn decode_hashes(item: &Item) -> Result<Vec<Hash>, StoreError> {
    let Some(AttributeValue::B(b)) = item.get("hashes") else {
        return Err(StoreError::Corrupt("tile item lacks hashes".into()));
    };
    let bytes = b.as_ref();
    if bytes.len() % 32 != 0 || bytes.len() > 32 * TILE_WIDTH {
        return Err(StoreError::Corrupt(format!(
            "tile of {} bytes",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            h
        })
        .collect())
}

/// What writing a tile found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileWrite {
    Written,
    /// A full tile was already there with the same hashes (a retried seal).
    AlreadyThere,
    /// A full tile is already there with other hashes: the tree being
    /// appended is not the one stored.
    Conflict,
}

impl Store {
    /// The tile `id` of the org's tree, if stored.
    pub async fn tile(&self, org: &OrgId, id: TileId) -> Result<Option<Vec<Hash>>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.tables.control)
            .key("PK", s(digests_pk(org)))
            .key("SK", s(tile_sk(id)))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| dynamo_error("GetItem", e))?;
        self.count_reads(out.consumed_capacity.as_ref());
        out.item.as_ref().map(decode_hashes).transpose()
    }

    /// The tiles `ids`, those that are stored.
    pub async fn tiles(
        &self,
        org: &OrgId,
        ids: &[TileId],
    ) -> Result<Vec<(TileId, Vec<Hash>)>, StoreError> {
        let mut out = Vec::new();
        for id in ids {
            if let Some(h) = self.tile(org, *id).await? {
                out.push((*id, h));
            }
        }
        Ok(out)
    }

    /// Writes a tile unless a full one is there: a partial tile only grows,
    /// a full one is immutable (rewriting identical hashes is allowed, so a
    /// retried seal goes through).
    pub async fn put_tile(
        &self,
        org: &OrgId,
        id: TileId,
        hashes: &[Hash],
    ) -> Result<TileWrite, StoreError> {
        let bytes: Vec<u8> = hashes.iter().flatten().copied().collect();
        let result = self
            .ddb
            .put_item()
            .table_name(&self.tables.control)
            .item("PK", s(digests_pk(org)))
            .item("SK", s(tile_sk(id)))
            .item("hashes", AttributeValue::B(Blob::new(bytes)))
            .item("width", AttributeValue::N(hashes.len().to_string()))
            .condition_expression("attribute_not_exists(PK) OR width < :w")
            .expression_attribute_values(":w", AttributeValue::N(hashes.len().max(1).to_string()))
            .send()
            .await;
        if written("PutItem", result)? {
            return Ok(TileWrite::Written);
        }
        let stored = self.tile(org, id).await?.unwrap_or_default();
        Ok(if stored.get(..hashes.len()) == Some(hashes) {
            TileWrite::AlreadyThere
        } else {
            TileWrite::Conflict
        })
    }

    /// The signed checkpoint at tree size `size`, if one was written.
    pub async fn checkpoint_at(
        &self,
        org: &OrgId,
        size: u64,
    ) -> Result<Option<String>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.tables.control)
            .key("PK", s(digests_pk(org)))
            .key("SK", s(checkpoint_sk(size)))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| dynamo_error("GetItem", e))?;
        self.count_reads(out.consumed_capacity.as_ref());
        Ok(note_of(out.item))
    }

    /// The org's largest stored checkpoint.
    pub async fn latest_checkpoint(&self, org: &OrgId) -> Result<Option<String>, StoreError> {
        let out = self
            .ddb
            .query()
            .table_name(&self.tables.control)
            .key_condition_expression("PK = :pk AND begins_with(SK, :cp)")
            .expression_attribute_values(":pk", s(digests_pk(org)))
            .expression_attribute_values(":cp", s("CHECKPOINT#"))
            .scan_index_forward(false)
            .consistent_read(true)
            .limit(1)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| dynamo_error("Query", e))?;
        self.count_reads(out.consumed_capacity.as_ref());
        Ok(note_of(out.items.unwrap_or_default().into_iter().next()))
    }
}

impl Store {
    /// The MTH of each range, from the tiles that hold its subtrees (each
    /// tile read once): what an inclusion or consistency proof carries.
    pub async fn range_hashes(
        &self,
        org: &OrgId,
        ranges: &[Range],
    ) -> Result<Vec<Hash>, StoreError> {
        let mut cache: BTreeMap<TileId, Vec<Hash>> = BTreeMap::new();
        let mut out = Vec::with_capacity(ranges.len());
        for r in ranges {
            let mut parts = Vec::new();
            for sub in subtrees_of(*r) {
                let (id, _, _) = locate(sub);
                if let std::collections::btree_map::Entry::Vacant(slot) = cache.entry(id) {
                    let tile = self.tile(org, id).await?.ok_or_else(|| {
                        StoreError::Corrupt(format!("tile {}/{} is missing", id.level, id.index))
                    })?;
                    slot.insert(tile);
                }
                let h = cache
                    .get(&id)
                    .and_then(|t| subtree_hash(sub, t))
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!("tile {}/{} is short", id.level, id.index))
                    })?;
                parts.push(h);
            }
            out.push(fold_right(&parts));
        }
        Ok(out)
    }
}

fn note_of(item: Option<Item>) -> Option<String> {
    match item?.remove("note") {
        Some(AttributeValue::S(n)) => Some(n),
        _ => None,
    }
}
