//! The signing key's life cycle across Secrets Manager (the private key)
//! and the control table (every public key that ever signed): the current
//! signer, rotation, and the key ring a check verifies with.
//!
//! Order matters for safety: a key is registered before the secret makes it
//! current, so no digest can be signed by a key a verifier cannot find,
//! even when two rotations race (the loser's key is registered but never
//! current, which costs nothing).

use serde::{Deserialize, Serialize};

use super::signing::{load, load_or_create, KeyError, KeyRing, PublicKey, Signer, ALGORITHM};
use crate::secrets::SecretStore;
use crate::store::{RegisteredKey, Store};
use crate::time::Timestamp;

/// What `GET /v1/integrity/public-keys` lists for each key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyListing {
    pub key_id: String,
    pub algorithm: String,
    /// Base64 of the 32-byte Ed25519 public key.
    pub public_key: String,
    pub created_at: Timestamp,
    /// When a rotation replaced it (it signs no period ending later).
    pub retired_at: Option<Timestamp>,
    /// Whether this key signs new digests.
    pub current: bool,
}

fn registration(key: &PublicKey, now: Timestamp) -> RegisteredKey {
    RegisteredKey {
        key_id: key.key_id().to_string(),
        algorithm: ALGORITHM.into(),
        public_key: key.to_base64(),
        created_at: now,
        retired_at: None,
    }
}

/// The current signer, created (and registered) when there is none yet.
/// A key from before the registry existed is registered here too.
pub async fn current_signer(
    secrets: &SecretStore,
    store: &Store,
    name: &str,
) -> Result<Signer, KeyError> {
    let signer = load_or_create(secrets, name).await?;
    store
        .register_signing_key(&registration(&signer.public_key(), Timestamp::now()))
        .await?;
    Ok(signer)
}

/// Replaces the signing key with a fresh one. The old key stays registered
/// (digests it signed keep verifying) and is marked retired once the new one
/// is current, registered before. Returns the old and the new key ids.
pub async fn rotate(
    secrets: &SecretStore,
    store: &Store,
    name: &str,
) -> Result<(String, String), KeyError> {
    let old = load(secrets, name).await?;
    let now = Timestamp::now();
    store
        .register_signing_key(&registration(&old.public_key(), now))
        .await?;
    let fresh = Signer::generate();
    store
        .register_signing_key(&registration(&fresh.public_key(), now))
        .await?;
    let value = fresh
        .to_secret()
        .map_err(|_| KeyError::Malformed("could not encode"))?;
    secrets.put_named(name, &value).await?;
    store
        .retire_signing_key(old.key_id(), Timestamp::now())
        .await?;
    Ok((old.key_id().to_string(), fresh.key_id().to_string()))
}

/// Every registered key, plus the current one (`current` marks it).
pub async fn listing(
    secrets: &SecretStore,
    store: &Store,
    name: &str,
) -> Result<Vec<KeyListing>, KeyError> {
    let current = load(secrets, name).await?.public_key();
    let mut keys: Vec<KeyListing> = store
        .signing_keys()
        .await?
        .into_iter()
        .map(|k| KeyListing {
            current: k.key_id == current.key_id(),
            key_id: k.key_id,
            algorithm: k.algorithm,
            public_key: k.public_key,
            created_at: k.created_at,
            retired_at: k.retired_at,
        })
        .collect();
    if !keys.iter().any(|k| k.current) {
        keys.push(KeyListing {
            key_id: current.key_id().to_string(),
            algorithm: ALGORITHM.into(),
            public_key: current.to_base64(),
            created_at: Timestamp::now(),
            retired_at: None,
            current: true,
        });
    }
    Ok(keys)
}

/// The key ring of a listing, retirements included. An entry whose public
/// half does not parse, or does not hash to its `key_id`, is left out:
/// digests it signed then fail as signed by an unknown key, as a damaged
/// registry should.
pub fn ring(listing: &[KeyListing]) -> KeyRing {
    let mut ring = KeyRing::default();
    for k in listing {
        if let Some(key) = PublicKey::from_base64(&k.public_key)
            .ok()
            .filter(|p| p.key_id() == k.key_id)
        {
            ring.add(key, k.retired_at);
        }
    }
    ring
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(signer: &Signer, current: bool) -> KeyListing {
        let p = signer.public_key();
        KeyListing {
            key_id: p.key_id().to_string(),
            algorithm: ALGORITHM.into(),
            public_key: p.to_base64(),
            created_at: Timestamp::now(),
            retired_at: None,
            current,
        }
    }

    #[test]
    fn the_ring_holds_every_listed_key_whose_id_matches_its_public_half() {
        let (old, new, other) = (
            Signer::from_seed([1; 32]),
            Signer::from_seed([2; 32]),
            Signer::from_seed([3; 32]),
        );
        let mut forged = listed(&other, false);
        forged.key_id = old.key_id().to_string();
        let garbled = KeyListing {
            public_key: "not base64".into(),
            ..listed(&other, false)
        };
        let retired = KeyListing {
            retired_at: Some(Timestamp::now()),
            ..listed(&old, false)
        };
        let r = ring(&[retired.clone(), listed(&new, true), forged, garbled]);
        assert_eq!(r.key_ids(), [old.key_id(), new.key_id()]);
        assert_eq!(r.retired_at(old.key_id()), retired.retired_at);
        assert_eq!(r.retired_at(new.key_id()), None);
        assert_eq!(r.get(old.key_id()), Some(&old.public_key()));
        assert_eq!(r.get(other.key_id()), None);
    }
}
