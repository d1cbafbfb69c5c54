//! `auditctl verify --receipt FILE --public-key B64`: checks a saved
//! receipt (the answer of `GET /v1/events/{id}/proof`) offline: the
//! checkpoint's signature by one of the pinned keys, then the inclusion of
//! the event's hash as leaf `leaf_index` of the tree the checkpoint signs.

use audit_domain::integrity::merkle::{event_leaf, path_from_hex, verify_inclusion};
use audit_domain::integrity::{Checkpoint, KeyRing};
use serde::Deserialize;

/// A receipt as the API answers it.
#[derive(Debug, Clone, Deserialize)]
pub struct Receipt {
    pub event_hash: String,
    pub leaf_index: u64,
    pub tree_size: u64,
    pub inclusion_path: Vec<String>,
    pub checkpoint: String,
}

/// What a good receipt proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proven {
    pub origin: String,
    pub leaf_index: u64,
    pub tree_size: u64,
}

/// Checks a receipt's JSON text against `keys`; the error says what failed.
pub fn check(text: &str, keys: &KeyRing) -> Result<Proven, String> {
    let r: Receipt = serde_json::from_str(text).map_err(|e| format!("not a receipt: {e}"))?;
    let c = Checkpoint::open_any(&r.checkpoint, keys).map_err(|e| format!("checkpoint: {e}"))?;
    if c.size != r.tree_size {
        return Err(format!(
            "the receipt says tree size {}, its checkpoint {}",
            r.tree_size, c.size
        ));
    }
    let leaf = event_leaf(&r.event_hash).ok_or("event_hash: not 64 hex digits")?;
    let path = path_from_hex("inclusion_path", &r.inclusion_path)?;
    verify_inclusion(r.leaf_index, c.size, &leaf, &path, &c.root)
        .map_err(|e| format!("inclusion: {e}"))?;
    Ok(Proven {
        origin: c.origin,
        leaf_index: r.leaf_index,
        tree_size: c.size,
    })
}
