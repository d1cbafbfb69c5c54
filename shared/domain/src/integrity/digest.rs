//! Digests: one signed record per org and period, chained to the previous
//! one. Sealing and checking are pure; the store and the signing key's home
//! (Secrets Manager) are elsewhere.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::hash::{canonical_json, events_hash, sha256_hex};
use super::signing::{KeyRing, Signer};
use crate::ids::{EventId, OrgId};
use crate::time::Timestamp;

/// `previous_digest_hash` of an org's first (genesis) digest.
pub const GENESIS_PREVIOUS: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";

/// One period's event in a digest's manifest, in recorded order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub id: EventId,
    pub hash: String,
}

/// A sealed period: events with `period_start < recorded_at <= period_end`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    pub org_id: OrgId,
    pub period_start: Timestamp,
    pub period_end: Timestamp,
    pub event_count: u64,
    pub events_hash: String,
    pub previous_digest_hash: String,
    pub key_id: String,
    /// The org's tree size at the period's end (digests sealed before the
    /// tree existed have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree_size: Option<u64>,
    /// The tree's root (hex) at `tree_size`, as its checkpoint signs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree_root: Option<String>,
    pub digest_hash: String,
    pub signature: String,
}

impl Digest {
    /// The canonical JSON that `digest_hash` is the SHA-256 of: every field
    /// but `digest_hash` and `signature`.
    /// `tree_size` and `tree_root` are covered when present, so older
    /// digests (without them) hash as they always did.
    pub fn canonical(&self) -> String {
        let mut v = json!({
            "org_id": self.org_id,
            "period_start": self.period_start,
            "period_end": self.period_end,
            "event_count": self.event_count,
            "events_hash": self.events_hash,
            "previous_digest_hash": self.previous_digest_hash,
            "key_id": self.key_id,
        });
        if let (Some(size), Some(root), Some(map)) =
            (self.tree_size, &self.tree_root, v.as_object_mut())
        {
            map.insert("tree_size".into(), json!(size));
            map.insert("tree_root".into(), json!(root));
        }
        canonical_json(&v)
    }

    pub fn compute_hash(&self) -> String {
        sha256_hex(self.canonical().as_bytes())
    }

    /// A label for reports: the period as `(start, end]`.
    pub fn period(&self) -> String {
        format!("({}, {}]", self.period_start, self.period_end)
    }
}

/// What a sealer knows about a period before signing it.
#[derive(Debug, Clone)]
pub struct Period<'a> {
    pub org_id: &'a OrgId,
    pub start: Timestamp,
    pub end: Timestamp,
    /// The period's events in recorded order.
    pub manifest: &'a [ManifestEntry],
}

/// Seals a period onto the chain: `previous` is the org's last digest
/// (`None` for the genesis digest).
pub fn seal(period: &Period<'_>, previous: Option<&Digest>, signer: &Signer) -> Digest {
    let mut d = Digest {
        org_id: period.org_id.clone(),
        period_start: period.start,
        period_end: period.end,
        event_count: period.manifest.len() as u64,
        events_hash: manifest_hash(period.manifest),
        previous_digest_hash: previous
            .map_or_else(|| GENESIS_PREVIOUS.to_string(), |p| p.digest_hash.clone()),
        key_id: signer.key_id().to_string(),
        tree_size: None,
        tree_root: None,
        digest_hash: String::new(),
        signature: String::new(),
    };
    d.digest_hash = d.compute_hash();
    d.signature = signer.sign(&d.digest_hash);
    d
}

/// Seals a period hashed incrementally (`EventsHasher`): the same digest
/// `seal` gives for the same events, without holding the manifest.
pub fn seal_hashed(
    org_id: &OrgId,
    start: Timestamp,
    end: Timestamp,
    events: super::hash::EventsHasher,
    previous: Option<&Digest>,
    signer: &Signer,
) -> Digest {
    seal_with_tree(org_id, start, end, events, previous, None, signer)
}

/// `seal_hashed`, with the org's tree (size, root) at the period's end
/// signed into the digest.
pub fn seal_with_tree(
    org_id: &OrgId,
    start: Timestamp,
    end: Timestamp,
    events: super::hash::EventsHasher,
    previous: Option<&Digest>,
    tree: Option<(u64, super::merkle::Hash)>,
    signer: &Signer,
) -> Digest {
    let mut d = Digest {
        org_id: org_id.clone(),
        period_start: start,
        period_end: end,
        event_count: events.count(),
        events_hash: events.finish(),
        previous_digest_hash: previous
            .map_or_else(|| GENESIS_PREVIOUS.to_string(), |p| p.digest_hash.clone()),
        key_id: signer.key_id().to_string(),
        tree_size: tree.map(|(n, _)| n),
        tree_root: tree.map(|(_, r)| hex::encode(r)),
        digest_hash: String::new(),
        signature: String::new(),
    };
    d.digest_hash = d.compute_hash();
    d.signature = signer.sign(&d.digest_hash);
    d
}

/// The `events_hash` a manifest stands for.
pub fn manifest_hash(manifest: &[ManifestEntry]) -> String {
    events_hash(manifest.iter().map(|e| e.hash.as_str()))
}

/// Whether a stored manifest is the one the digest signed: the events hash
/// covers every entry, and so the count too (an edited `event_count` is the
/// digest's own fault, reported as a modified digest).
pub fn manifest_matches(d: &Digest, manifest: &[ManifestEntry]) -> bool {
    d.events_hash == manifest_hash(manifest)
}

/// What is wrong with one digest on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestFault {
    /// A field was edited after sealing: the stored `digest_hash` no longer
    /// matches the fields.
    HashMismatch,
    /// The signature does not verify with the key the digest names.
    BadSignature,
    /// The digest names a key the check does not know (rotated out of a
    /// pinned set, or a forger's).
    UnknownKey,
    /// Signed by a key retired before the period ended: no sealer could
    /// have, so the key leaked.
    SignedAfterRetirement,
}

/// Checks a digest's own hash and its signature by the key it names.
pub fn check_digest(d: &Digest, keys: &KeyRing) -> Vec<DigestFault> {
    let mut faults = Vec::new();
    if d.compute_hash() != d.digest_hash {
        faults.push(DigestFault::HashMismatch);
    }
    match keys.get(&d.key_id) {
        None => faults.push(DigestFault::UnknownKey),
        Some(key) if !key.verify(&d.digest_hash, &d.signature) => {
            faults.push(DigestFault::BadSignature);
        }
        Some(_) => {
            // A sealer seals only closed periods, with the key current when
            // its tick began: every period it signs ended before a later
            // rotation retired that key.
            if keys
                .retired_at(&d.key_id)
                .is_some_and(|at| d.period_end > at)
            {
                faults.push(DigestFault::SignedAfterRetirement);
            }
        }
    }
    faults
}

/// Checks that `d` follows `previous` (or is a genesis digest when `None`):
/// its `previous_digest_hash` names the previous digest and its period starts
/// where the previous one ended.
pub fn follows(d: &Digest, previous: Option<&Digest>) -> bool {
    match previous {
        None => d.previous_digest_hash == GENESIS_PREVIOUS,
        Some(p) => d.previous_digest_hash == p.digest_hash && d.period_start == p.period_end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::at;

    fn signer() -> Signer {
        Signer::from_seed([7; 32])
    }

    fn org() -> OrgId {
        OrgId::parse("acme").unwrap()
    }

    fn chain() -> (Digest, Digest) {
        let org = org();
        let manifest = vec![
            ManifestEntry {
                id: EventId::parse("evt_a").unwrap(),
                hash: "a".repeat(64),
            },
            ManifestEntry {
                id: EventId::parse("evt_b").unwrap(),
                hash: "b".repeat(64),
            },
        ];
        let first = seal(
            &Period {
                org_id: &org,
                start: at("2026-11-28T09:00:00Z"),
                end: at("2026-11-28T10:00:00Z"),
                manifest: &manifest,
            },
            None,
            &signer(),
        );
        let second = seal(
            &Period {
                org_id: &org,
                start: at("2026-11-28T10:00:00Z"),
                end: at("2026-11-28T11:00:00Z"),
                manifest: &[],
            },
            Some(&first),
            &signer(),
        );
        (first, second)
    }

    #[test]
    fn a_sealed_chain_verifies() {
        let (first, second) = chain();
        let key = KeyRing::from(signer().public_key());
        assert_eq!(check_digest(&first, &key), []);
        assert_eq!(check_digest(&second, &key), []);
        assert!(follows(&first, None));
        assert!(follows(&second, Some(&first)));
        assert_eq!(first.event_count, 2);
        assert_eq!(first.previous_digest_hash, GENESIS_PREVIOUS);
        assert_eq!(second.events_hash, super::super::hash::EMPTY_EVENTS_HASH);
    }

    #[test]
    fn tampering_any_signed_field_breaks_the_digest_hash() {
        let (d, _) = chain();
        let key = KeyRing::from(signer().public_key());
        type Edit = Box<dyn Fn(&mut Digest)>;
        let edits: Vec<(&str, Edit)> = vec![
            (
                "org_id",
                Box::new(|d| d.org_id = OrgId::parse("evil").unwrap()),
            ),
            (
                "period_start",
                Box::new(|d| d.period_start = d.period_start.plus_millis(1)),
            ),
            (
                "period_end",
                Box::new(|d| d.period_end = d.period_end.plus_millis(1)),
            ),
            ("event_count", Box::new(|d| d.event_count -= 1)),
            ("events_hash", Box::new(|d| d.events_hash = "c".repeat(64))),
            (
                "previous_digest_hash",
                Box::new(|d| d.previous_digest_hash = "d".repeat(64)),
            ),
        ];
        for (field, edit) in edits {
            let mut t = d.clone();
            edit(&mut t);
            assert_eq!(
                check_digest(&t, &key),
                [DigestFault::HashMismatch],
                "{field}"
            );
        }
    }

    #[test]
    fn a_recomputed_hash_without_the_key_fails_the_signature() {
        let (d, _) = chain();
        let mut t = d.clone();
        t.event_count = 1;
        t.digest_hash = t.compute_hash();
        assert_eq!(
            check_digest(&t, &signer().public_key().into()),
            [DigestFault::BadSignature]
        );
    }

    #[test]
    fn a_replaced_signature_or_another_key_fails() {
        let (d, _) = chain();
        let mut t = d.clone();
        t.signature = Signer::from_seed([9; 32]).sign(&d.digest_hash);
        assert_eq!(
            check_digest(&t, &signer().public_key().into()),
            [DigestFault::BadSignature]
        );
        let other = KeyRing::from(Signer::from_seed([9; 32]).public_key());
        assert_eq!(check_digest(&d, &other), [DigestFault::UnknownKey]);
        let mut garbage = d.clone();
        garbage.signature = "not base64!".into();
        assert_eq!(
            check_digest(&garbage, &signer().public_key().into()),
            [DigestFault::BadSignature]
        );
    }

    #[test]
    fn after_a_rotation_each_digest_verifies_by_the_key_it_names() {
        let (old_digest, _) = chain();
        let next = Signer::from_seed([8; 32]);
        let new_digest = seal(
            &Period {
                org_id: &org(),
                start: old_digest.period_end,
                end: old_digest.period_end.plus_millis(3_600_000),
                manifest: &[],
            },
            Some(&old_digest),
            &next,
        );
        assert_ne!(old_digest.key_id, new_digest.key_id);
        let ring = KeyRing::new([signer().public_key(), next.public_key()]);
        assert_eq!(check_digest(&old_digest, &ring), []);
        assert_eq!(check_digest(&new_digest, &ring), []);
        assert!(follows(&new_digest, Some(&old_digest)));
        // Pinning only the new key leaves the old digests unverifiable.
        assert_eq!(
            check_digest(&old_digest, &next.public_key().into()),
            [DigestFault::UnknownKey]
        );
        // A digest that names the old key but is signed by the new one fails.
        let mut t = new_digest.clone();
        t.key_id = old_digest.key_id.clone();
        t.digest_hash = t.compute_hash();
        t.signature = next.sign(&t.digest_hash);
        assert_eq!(check_digest(&t, &ring), [DigestFault::BadSignature]);

        // Once the registry says the old key retired when its last period
        // ended, a later period signed by it is a leaked key's work.
        let mut registry = KeyRing::default();
        registry.add(signer().public_key(), Some(old_digest.period_end));
        registry.add(next.public_key(), None);
        assert_eq!(check_digest(&old_digest, &registry), []);
        assert_eq!(check_digest(&new_digest, &registry), []);
        let forged = seal(
            &Period {
                org_id: &org(),
                start: old_digest.period_end,
                end: new_digest.period_end,
                manifest: &[],
            },
            Some(&old_digest),
            &signer(),
        );
        assert_eq!(
            check_digest(&forged, &registry),
            [DigestFault::SignedAfterRetirement]
        );
        assert_eq!(
            check_digest(&forged, &ring),
            [],
            "without retirement it passes"
        );
    }

    #[test]
    fn a_chain_with_a_gap_or_a_foreign_previous_is_broken() {
        let (first, second) = chain();
        assert!(!follows(&second, None));
        assert!(!follows(&first, Some(&second)));
        let mut moved = second.clone();
        moved.period_start = moved.period_start.plus_millis(1000);
        assert!(!follows(&moved, Some(&first)));
    }

    #[test]
    fn digest_hash_is_sha256_of_the_documented_canonical_form() {
        let (d, _) = chain();
        let expected = format!(
            r#"{{"event_count":2,"events_hash":"{}","key_id":"{}","org_id":"acme","period_end":"2026-11-28T10:00:00.000Z","period_start":"2026-11-28T09:00:00.000Z","previous_digest_hash":"{}"}}"#,
            d.events_hash, d.key_id, GENESIS_PREVIOUS
        );
        assert_eq!(d.canonical(), expected);
        assert_eq!(d.digest_hash, sha256_hex(expected.as_bytes()));
    }
}
