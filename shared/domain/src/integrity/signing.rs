//! The Ed25519 signing key: kept in Secrets Manager (never in a table, a log
//! line or a `Debug` output; a deployed stack creates it, locally the first
//! seal does), and its public half served to anyone who wants to check a digest.
//!
//! The secret (`AUDIT_SIGNING_KEY_SECRET`, default
//! `audit-log/integrity/signing-key`) holds JSON:
//! `{"algorithm": "Ed25519", "key_id": "...", "private_key": "<base64 of the 32-byte seed>"}`,
//! or, as the deployed stack creates it (`SigningKeySecret`, a generated
//! string), a seed of at least `MIN_SEED_LEN` characters the key is derived
//! from: SHA-256 of a fixed label and the seed. Rotation always writes JSON.
//!
//! Keys rotate (`auditctl signing-key rotate`): every key that ever signed
//! is registered in the control table before it signs anything (see
//! `audit_aws::signing`), and a digest names its key by `key_id`, so
//! checks pick the right public key from a [`KeyRing`].

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, Verifier as _};
use serde::{Deserialize, Serialize};

use super::hash::sha256_hex;
use crate::time::Timestamp;

pub const DEFAULT_SECRET_NAME: &str = "audit-log/integrity/signing-key";
pub const ALGORITHM: &str = "Ed25519";
/// Shortest generated seed accepted (the template generates 64 characters).
pub const MIN_SEED_LEN: usize = 32;
/// Domain separation of a derived key from any other use of the seed.
const SEED_LABEL: &[u8] = b"audit-log integrity signing key v1\0";

/// The secret's name from `AUDIT_SIGNING_KEY_SECRET`, or the default.
pub fn secret_name_from_env() -> String {
    std::env::var("AUDIT_SIGNING_KEY_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_SECRET_NAME.to_string())
}

/// `ed25519-` and the first 16 hex digits of the SHA-256 of the public key.
fn key_id_of(public: &ed25519_dalek::VerifyingKey) -> String {
    format!("ed25519-{}", &sha256_hex(public.as_bytes())[..16])
}

/// The private key. Signs digest hashes.
pub struct Signer {
    key: ed25519_dalek::SigningKey,
    key_id: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl Signer {
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let key_id = key_id_of(&key.verifying_key());
        Signer { key, key_id }
    }

    fn from_generated_seed(seed: &str) -> Result<Self, KeyError> {
        if seed.chars().count() < MIN_SEED_LEN {
            return Err(KeyError::Malformed("a seed is at least 32 characters"));
        }
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        h.update(SEED_LABEL);
        h.update(seed.as_bytes());
        Ok(Self::from_seed(h.finalize().into()))
    }

    pub fn generate() -> Self {
        Self::from_seed(rand::random())
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Base64 Ed25519 signature over the ASCII bytes of the hex `digest_hash`.
    pub fn sign(&self, digest_hash: &str) -> String {
        B64.encode(self.key.sign(digest_hash.as_bytes()).to_bytes())
    }

    /// Raw Ed25519 signature of `message` (a signed note's text).
    pub fn sign_bytes(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            key: self.key.verifying_key(),
            key_id: self.key_id.clone(),
        }
    }

    pub fn to_secret(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(&StoredKey {
            algorithm: ALGORITHM.into(),
            key_id: self.key_id.clone(),
            private_key: B64.encode(self.key.to_bytes()),
        })
    }

    /// The key a secret holds: stored JSON, or one derived from a generated
    /// seed (anything not starting with `{`, at least `MIN_SEED_LEN` long).
    pub fn from_secret(value: &str) -> Result<Self, KeyError> {
        if !value.trim_start().starts_with('{') {
            return Self::from_generated_seed(value);
        }
        let stored: StoredKey = serde_json::from_str(value)
            .map_err(|_| KeyError::Malformed("not the expected JSON"))?;
        if stored.algorithm != ALGORITHM {
            return Err(KeyError::Malformed("algorithm is not Ed25519"));
        }
        let seed: [u8; 32] = B64
            .decode(stored.private_key.as_bytes())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(KeyError::Malformed("private_key is not 32 bytes of base64"))?;
        Ok(Self::from_seed(seed))
    }
}

#[derive(Serialize, Deserialize)]
struct StoredKey {
    algorithm: String,
    key_id: String,
    private_key: String,
}

/// The public key that verifies digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: ed25519_dalek::VerifyingKey,
    key_id: String,
}

/// What `GET /v1/integrity/public-key` returns and the sealer writes to S3
/// as `public-key.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeyView {
    pub key_id: String,
    pub algorithm: String,
    /// Base64 of the 32-byte Ed25519 public key.
    pub public_key: String,
}

impl PublicKey {
    /// From the base64 of the 32 raw public key bytes.
    pub fn from_base64(s: &str) -> Result<Self, KeyError> {
        let bytes: [u8; 32] = B64
            .decode(s.trim().as_bytes())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(KeyError::Malformed("public key is not 32 bytes of base64"))?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map_err(|_| KeyError::Malformed("not an Ed25519 public key"))?;
        Ok(PublicKey {
            key_id: key_id_of(&key),
            key,
        })
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn to_base64(&self) -> String {
        B64.encode(self.key.as_bytes())
    }

    pub fn view(&self) -> PublicKeyView {
        PublicKeyView {
            key_id: self.key_id.clone(),
            algorithm: ALGORITHM.into(),
            public_key: self.to_base64(),
        }
    }

    /// The 32 raw public key bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Whether `signature` is this key's raw Ed25519 signature of `message`.
    pub fn verify_bytes(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let sig = ed25519_dalek::Signature::from_bytes(signature);
        self.key.verify(message, &sig).is_ok()
    }

    /// Whether `signature` (base64) is this key's signature of `digest_hash`.
    pub fn verify(&self, digest_hash: &str, signature: &str) -> bool {
        let Some(bytes) = B64
            .decode(signature.as_bytes())
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
        else {
            return false;
        };
        let sig = ed25519_dalek::Signature::from_bytes(&bytes);
        self.key.verify(digest_hash.as_bytes(), &sig).is_ok()
    }
}

/// The public keys a check accepts, found by the `key_id` a digest names,
/// each with when it was retired (it signs no period ending later).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRing {
    keys: Vec<(PublicKey, Option<Timestamp>)>,
}

impl KeyRing {
    /// A ring of `keys`, none retired; a key given twice counts once.
    pub fn new(keys: impl IntoIterator<Item = PublicKey>) -> Self {
        let mut ring = KeyRing::default();
        for k in keys {
            ring.add(k, None);
        }
        ring
    }

    /// Adds `key` (unless its id is already there), retired at `retired_at`.
    pub fn add(&mut self, key: PublicKey, retired_at: Option<Timestamp>) {
        if self.get(key.key_id()).is_none() {
            self.keys.push((key, retired_at));
        }
    }

    pub fn get(&self, key_id: &str) -> Option<&PublicKey> {
        self.entry(key_id).map(|(k, _)| k)
    }

    /// When the key was retired, if it was.
    pub fn retired_at(&self, key_id: &str) -> Option<Timestamp> {
        self.entry(key_id).and_then(|(_, at)| *at)
    }

    fn entry(&self, key_id: &str) -> Option<&(PublicKey, Option<Timestamp>)> {
        self.keys.iter().find(|(k, _)| k.key_id == key_id)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|(k, _)| k.key_id.as_str()).collect()
    }
}

impl From<PublicKey> for KeyRing {
    fn from(key: PublicKey) -> Self {
        KeyRing {
            keys: vec![(key, None)],
        }
    }
}

/// Why a stored signing key could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the signing key secret is malformed: {0}")]
    Malformed(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_seed_derives_the_same_key_every_time() {
        let seed = "Q".repeat(64);
        let a = Signer::from_secret(&seed).expect("a seed");
        let b = Signer::from_secret(&seed).expect("a seed");
        assert_eq!(a.key_id(), b.key_id());
        assert_ne!(
            a.key_id(),
            Signer::from_secret(&"R".repeat(64)).unwrap().key_id()
        );
        // Rotation replaces the seed by stored JSON, which reads back as is.
        let stored = Signer::from_secret(&a.to_secret().unwrap()).unwrap();
        assert_eq!(stored.key_id(), a.key_id());
    }

    #[test]
    fn a_short_seed_or_broken_json_is_rejected() {
        assert!(Signer::from_secret("short").is_err());
        assert!(Signer::from_secret("{\"algorithm\": \"Ed25519\"}").is_err());
    }

    #[test]
    fn a_signature_verifies_only_for_its_hash_and_key() {
        let s = Signer::from_seed([1; 32]);
        let sig = s.sign("abc");
        let public = s.public_key();
        assert!(public.verify("abc", &sig));
        assert!(!public.verify("abd", &sig));
        assert!(!Signer::from_seed([2; 32]).public_key().verify("abc", &sig));
    }

    #[test]
    fn a_key_ring_finds_keys_by_id_and_holds_each_once() {
        let (a, b) = (
            Signer::from_seed([6; 32]).public_key(),
            Signer::from_seed([7; 32]).public_key(),
        );
        let ring = KeyRing::new([a.clone(), b.clone(), a.clone()]);
        assert_eq!(ring.key_ids(), [a.key_id(), b.key_id()]);
        assert_eq!(ring.get(b.key_id()), Some(&b));
        assert_eq!(ring.get("ed25519-0000000000000000"), None);
        assert!(KeyRing::default().is_empty());
        let mut retired = KeyRing::default();
        let at = Timestamp::from_millis(1_000).unwrap();
        retired.add(a.clone(), Some(at));
        retired.add(a.clone(), None);
        assert_eq!(
            retired.retired_at(a.key_id()),
            Some(at),
            "the first entry stays"
        );
        assert_eq!(ring.retired_at(a.key_id()), None);
    }

    #[test]
    fn the_public_key_round_trips_through_base64_with_its_key_id() {
        let public = Signer::from_seed([3; 32]).public_key();
        let back = PublicKey::from_base64(&public.to_base64()).unwrap();
        assert_eq!(back, public);
        assert!(public.key_id().starts_with("ed25519-"));
        assert_eq!(public.view().algorithm, "Ed25519");
        assert!(PublicKey::from_base64("AAAA").is_err());
    }

    #[test]
    fn the_secret_round_trips_and_debug_shows_no_key_material() {
        let s = Signer::from_seed([4; 32]);
        let secret = s.to_secret().unwrap();
        let back = Signer::from_secret(&secret).unwrap();
        assert_eq!(back.public_key(), s.public_key());
        let debug = format!("{s:?}");
        assert!(!debug.contains(&B64.encode([4u8; 32])), "{debug}");
        assert!(Signer::from_secret("{}").is_err());
    }
}
