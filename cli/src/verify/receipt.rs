//! `auditctl verify --receipt FILE --public-key B64`: checks a saved
//! receipt (the answer of `GET /v1/events/{id}/proof`) offline: the
//! checkpoint's signature by one of the pinned keys, then the inclusion of
//! the event's hash as leaf `leaf_index` of the tree the checkpoint signs.

use audit_domain::integrity::merkle::{event_leaf, verify_inclusion, Hash};
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
    let mut why = String::from("no key given");
    let mut opened = None;
    for id in keys.key_ids() {
        let Some(key) = keys.get(id) else { continue };
        match Checkpoint::open(&r.checkpoint, key) {
            Ok(c) => {
                opened = Some(c);
                break;
            }
            Err(e) => why = e.to_string(),
        }
    }
    let c = opened.ok_or_else(|| format!("checkpoint: {why}"))?;
    if c.size != r.tree_size {
        return Err(format!(
            "the receipt says tree size {}, its checkpoint {}",
            r.tree_size, c.size
        ));
    }
    let leaf = event_leaf(&r.event_hash).ok_or("event_hash: not 64 hex digits")?;
    let path: Vec<Hash> = r
        .inclusion_path
        .iter()
        .map(|h| {
            hex::decode(h)
                .ok()
                .and_then(|b| <Hash>::try_from(b).ok())
                .ok_or_else(|| format!("inclusion_path: {h} is not 32 bytes of hex"))
        })
        .collect::<Result<_, _>>()?;
    verify_inclusion(r.leaf_index, c.size, &leaf, &path, &c.root)
        .map_err(|e| format!("inclusion: {e}"))?;
    Ok(Proven {
        origin: c.origin,
        leaf_index: r.leaf_index,
        tree_size: c.size,
    })
}
