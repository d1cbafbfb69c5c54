//! Integrity: tamper-evident, signed digests of the activity log, in the
//! manner of CloudTrail's digest files: hashing, sealing, signing and
//! verifying, all pure. The store (`audit-aws`) keeps digests in the control
//! table and the signing key in Secrets Manager, the export scheduler seals,
//! `auditctl verify` checks.
//!
//! # Event hash
//!
//! Every event's `hash` is the lower-case hex SHA-256 of the UTF-8 bytes of
//! the **canonical JSON** of an object with exactly these nine fields of the
//! event, as the API returns them: `org_id`, `id`, `action`, `occurred_at`,
//! `recorded_at`, `actor` (`null` for a system event), `resource`, `context`
//! (`{}` when empty), `metadata`. Canonical JSON means: object keys sorted
//! by Unicode code point at every depth, no whitespace, strings escaped only
//! where JSON requires it (`"`, `\`, and U+0000–U+001F as `\b \t \n \f \r`
//! or `\u00xx`; everything else, non-ASCII included, literally as UTF-8),
//! numbers as written by serde_json. Absent optional fields (an actor's
//! `name`, a resource's `name`, context fields) are left out, not `null`.
//! In Python: `hashlib.sha256(json.dumps({k: e[k] for k in FIELDS},
//! sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()`
//! (metadata with floats may render differently: use integers or strings).
//! `content_hash` (what the producer sent, for idempotency) is not covered.
//!
//! # Digests
//!
//! The period `(period_start, period_end]` on `recorded_at` (hourly by
//! default, aligned to the epoch) is sealed once it has been closed for the
//! export lag. Its `events_hash` is the hex SHA-256 of the period's event
//! hashes in recorded order (`recorded_at`, then `id`), each written as its
//! 64 hex characters followed by `\n` (an empty period hashes the empty
//! string). `digest_hash` is the hex SHA-256 of the canonical JSON of
//! `{event_count, events_hash, key_id, org_id, period_end, period_start,
//! previous_digest_hash}` (times as RFC 3339 UTC with milliseconds, as the
//! API writes them). `signature` is the base64 Ed25519 signature of the 64
//! ASCII characters of `digest_hash`. `previous_digest_hash` is the previous
//! period's `digest_hash`, or 64 zeros for the org's genesis digest (the
//! period holding its first event). Each digest also keeps its manifest
//! (the `id` and `hash` of each event), which the signed `events_hash`
//! authenticates and which lets a check name the event that was modified,
//! deleted or inserted.

pub mod checkpoint;
pub mod digest;
pub mod hash;
pub mod merkle;
pub mod signing;
pub mod tiles;
pub mod verify;
pub mod witness;

use serde::{Deserialize, Serialize};

pub use checkpoint::Checkpoint;
pub use digest::{
    seal, seal_hashed, seal_with_tree, Digest, ManifestEntry, Period, GENESIS_PREVIOUS,
};
pub use hash::{event_hash, record_hash, EventsHasher};
pub use signing::{KeyRing, PublicKey, PublicKeyView, Signer};
pub use verify::{coverage_gaps, verify_chain, Anchor, Finding, Observed, PeriodEvidence};

use crate::ids::OrgId;
use crate::time::Timestamp;

/// Default digest period: an hour (`AUDIT_DIGEST_PERIOD_SECONDS`).
pub const DEFAULT_PERIOD_MS: i64 = 3_600_000;

/// The digest period from `AUDIT_DIGEST_PERIOD_SECONDS`, or an hour.
pub fn period_ms_from_env() -> i64 {
    std::env::var("AUDIT_DIGEST_PERIOD_SECONDS")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|s| *s > 0)
        .map_or(DEFAULT_PERIOD_MS, |s| i64::from(s) * 1000)
}

/// The period holding an event recorded at `t`: `(start, start + len]`.
pub fn period_containing(t: Timestamp, period_ms: i64) -> (Timestamp, Timestamp) {
    // (start, end]: an instant exactly on a boundary belongs to the period it ends.
    let start = (t.millis() - 1).div_euclid(period_ms) * period_ms;
    let start = Timestamp::from_millis(start.max(0)).unwrap_or(t);
    (start, start.plus_millis(period_ms))
}

/// A digest file as written beside an S3 export: the digest and its manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestFile {
    #[serde(flatten)]
    pub digest: Digest,
    pub events: Vec<ManifestEntry>,
}

/// `<prefix>/org=<org>/digests/`: where an S3 export's digest files live.
pub fn digests_prefix(prefix: &str, org: &OrgId) -> String {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        format!("org={org}/digests/")
    } else {
        format!("{prefix}/org={org}/digests/")
    }
}

/// `<prefix>/org=<org>/digests/<start>_<end>.json`, times compact UTC as in
/// the event objects' keys.
pub fn digest_object_key(prefix: &str, digest: &Digest) -> String {
    format!(
        "{}{}_{}.json",
        digests_prefix(prefix, &digest.org_id),
        compact(digest.period_start),
        compact(digest.period_end)
    )
}

/// `<prefix>/org=<org>/digests/public-keys/`: one `<key_id>.json` per key
/// that signed a digest file of the export.
pub fn public_keys_prefix(prefix: &str, org: &OrgId) -> String {
    format!("{}public-keys/", digests_prefix(prefix, org))
}

/// `<prefix>/org=<org>/digests/public-keys/<key_id>.json`.
pub fn public_key_object_key(prefix: &str, org: &OrgId, key_id: &str) -> String {
    format!("{}{key_id}.json", public_keys_prefix(prefix, org))
}

/// `<prefix>/org=<org>/digests/checkpoints/`: the org's signed checkpoints
/// as published outside the store (the stage's Object Lock bucket, with an
/// empty prefix, and each S3 export that receives every event).
pub fn checkpoints_prefix(prefix: &str, org: &OrgId) -> String {
    format!("{}checkpoints/", digests_prefix(prefix, org))
}

/// `<checkpoints_prefix>/<tree size, 20 digits>.txt`: the signed note of the
/// checkpoint at that size. Zero-padded, so a listing is in tree order.
pub fn checkpoint_object_key(prefix: &str, org: &OrgId, size: u64) -> String {
    format!("{}{size:020}.txt", checkpoints_prefix(prefix, org))
}

/// The tree size a published checkpoint's key names, if it is one.
pub fn checkpoint_size_of_key(key: &str) -> Option<u64> {
    let name = key.rsplit('/').next()?.strip_suffix(".txt")?;
    (name.len() == 20).then_some(())?;
    name.parse().ok()
}

fn compact(t: Timestamp) -> String {
    t.to_datetime().format("%Y%m%dT%H%M%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::at;

    #[test]
    fn periods_are_aligned_and_a_boundary_instant_closes_its_period() {
        let (s, e) = period_containing(at("2026-11-28T09:30:00Z"), DEFAULT_PERIOD_MS);
        assert_eq!(
            (s, e),
            (at("2026-11-28T09:00:00Z"), at("2026-11-28T10:00:00Z"))
        );
        let (s, _) = period_containing(at("2026-11-28T10:00:00Z"), DEFAULT_PERIOD_MS);
        assert_eq!(s, at("2026-11-28T09:00:00Z"));
        let (s, _) = period_containing(at("2026-11-28T10:00:00.001Z"), DEFAULT_PERIOD_MS);
        assert_eq!(s, at("2026-11-28T10:00:00Z"));
    }

    #[test]
    fn digest_files_sit_beside_the_events() {
        let org = OrgId::parse("acme").unwrap();
        assert_eq!(digests_prefix("/audit/", &org), "audit/org=acme/digests/");
        assert_eq!(
            public_key_object_key("", &org, "ed25519-0123456789abcdef"),
            "org=acme/digests/public-keys/ed25519-0123456789abcdef.json"
        );
    }

    #[test]
    fn published_checkpoints_list_in_tree_order() {
        let org = OrgId::parse("acme").unwrap();
        let key = checkpoint_object_key("", &org, 42);
        assert_eq!(key, "org=acme/digests/checkpoints/00000000000000000042.txt");
        assert_eq!(checkpoint_size_of_key(&key), Some(42));
        assert!(checkpoint_object_key("", &org, 9) < checkpoint_object_key("", &org, 10));
        assert_eq!(
            checkpoint_size_of_key(&checkpoint_object_key("x/", &org, u64::MAX)),
            Some(u64::MAX)
        );
        assert_eq!(
            checkpoint_size_of_key("org=acme/digests/checkpoints/42.txt"),
            None
        );
        assert_eq!(checkpoint_size_of_key("org=acme/digests/a.json"), None);
    }
}
