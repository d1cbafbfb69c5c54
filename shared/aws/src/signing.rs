//! The signing key's life cycle across Secrets Manager (the private key)
//! and the control table (every public key that ever signed): the current
//! signer, rotation, and the key ring a check verifies with.
//!
//! Order matters for safety: a key is registered before the secret makes it
//! current, so no digest can be signed by a key a verifier cannot find,
//! even when two rotations race (the loser's key is registered but never
//! current, which costs nothing).

use serde::{Deserialize, Serialize};

use audit_domain::integrity::signing::{KeyRing, PublicKey, Signer, ALGORITHM};
use audit_domain::time::Timestamp;

use crate::secrets::{SecretStore, SecretsError};
use crate::store::{RegisteredKey, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Malformed(#[from] audit_domain::integrity::signing::KeyError),
    #[error(
        "the signing key does not exist yet (a deployed stack creates it; locally the first seal or `auditctl init` does)"
    )]
    Missing,
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads the signing key from its secret.
pub async fn load(secrets: &SecretStore, name: &str) -> Result<Signer, KeyError> {
    match secrets.get(name).await {
        Ok(value) => Ok(Signer::from_secret(&value)?),
        Err(SecretsError::NotFound { .. }) => Err(KeyError::Missing),
        Err(e) => Err(e.into()),
    }
}

/// Stores `signer` as the signing key unless one exists; returns whether
/// this call stored it (two processes racing agree on the first).
pub async fn create(secrets: &SecretStore, name: &str, signer: &Signer) -> Result<bool, KeyError> {
    let value = signer
        .to_secret()
        .map_err(|_| audit_domain::integrity::signing::KeyError::Malformed("could not encode"))?;
    Ok(secrets
        .create_named(
            name,
            &value,
            "Audit log integrity digest signing key (Ed25519)",
        )
        .await?)
}

/// What `GET /v1/integrity/public-keys` lists for each key: its
/// registration, and whether it signs new digests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyListing {
    #[serde(flatten)]
    pub key: RegisteredKey,
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

/// (control table, key id) pairs this process has put into the registry.
static REGISTERED: std::sync::LazyLock<
    std::sync::Mutex<std::collections::BTreeSet<(String, String)>>,
> = std::sync::LazyLock::new(Default::default);

fn registered_here(store: &Store, key_id: &str) -> bool {
    let entry = (store.tables().control.clone(), key_id.to_owned());
    REGISTERED
        .lock()
        .map(|set| set.contains(&entry))
        .unwrap_or(false)
}

fn note_registered(store: &Store, key_id: &str) {
    if let Ok(mut set) = REGISTERED.lock() {
        set.insert((store.tables().control.clone(), key_id.to_owned()));
    }
}

/// The current signer, created when there is none yet: registered first,
/// like a rotation's key. An existing key is registered on its first read
/// in a process (per table), so later ticks cost no write. When two
/// processes race to create it, the loser's key is registered but never
/// current.
pub async fn current_signer(
    secrets: &SecretStore,
    store: &Store,
    name: &str,
) -> Result<Signer, KeyError> {
    match load(secrets, name).await {
        Err(KeyError::Missing) => {}
        Ok(signer) => {
            // The registry is what the query function publishes: a key the
            // stack created (a seed) or made before the registry existed is
            // registered on first use, once per process, not on every tick.
            if !registered_here(store, signer.key_id()) {
                store
                    .register_signing_key(&registration(&signer.public_key(), Timestamp::now()))
                    .await?;
                note_registered(store, signer.key_id());
            }
            return Ok(signer);
        }
        Err(e) => return Err(e),
    }
    let fresh = Signer::generate();
    store
        .register_signing_key(&registration(&fresh.public_key(), Timestamp::now()))
        .await?;
    if !create(secrets, name, &fresh).await? {
        // Lost the race: this key never signs, so it is retired at once and
        // the registry keeps exactly one unretired (current) key.
        store
            .retire_signing_key(fresh.key_id(), Timestamp::now())
            .await?;
    }
    load(secrets, name).await
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
    secrets
        .put_named(
            name,
            &fresh.to_secret().map_err(|_| {
                audit_domain::integrity::signing::KeyError::Malformed("could not encode")
            })?,
        )
        .await?;
    store
        .retire_signing_key(old.key_id(), Timestamp::now())
        .await?;
    Ok((old.key_id().to_string(), fresh.key_id().to_string()))
}

/// Every registered key, plus the current one (`current` marks it) should
/// the registry lack it.
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
        .map(|key| KeyListing {
            current: key.key_id == current.key_id(),
            key,
        })
        .collect();
    if !keys.iter().any(|k| k.current) {
        keys.push(KeyListing {
            key: registration(&current, Timestamp::now()),
            current: true,
        });
    }
    Ok(keys)
}

/// Every registered key, from the registry alone (no Secrets Manager call:
/// the query function cannot read the private key). The current key is the
/// unretired one (the last registered, should a crash between a rotation's
/// steps have left two); `Missing` when nothing is registered yet.
pub async fn published(store: &Store) -> Result<Vec<KeyListing>, KeyError> {
    let keys = store.signing_keys().await?;
    // Oldest first, so the last unretired is the newest.
    let current = keys
        .iter()
        .rposition(|k| k.retired_at.is_none())
        .ok_or(KeyError::Missing)?;
    Ok(keys
        .into_iter()
        .enumerate()
        .map(|(i, key)| KeyListing {
            key,
            current: i == current,
        })
        .collect())
}

/// The key that signs new digests, from the registry (see `published`).
pub async fn published_current(store: &Store) -> Result<RegisteredKey, KeyError> {
    published(store)
        .await?
        .into_iter()
        .find(|k| k.current)
        .map(|k| k.key)
        .ok_or(KeyError::Missing)
}

/// The key ring of a listing, retirements included. An entry whose public
/// half does not parse, or does not hash to its `key_id`, is left out:
/// digests it signed then fail as signed by an unknown key, as a damaged
/// registry should.
pub fn ring(listing: &[KeyListing]) -> KeyRing {
    let mut ring = KeyRing::default();
    for KeyListing { key: k, .. } in listing {
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
        KeyListing {
            key: registration(&signer.public_key(), Timestamp::now()),
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
        forged.key.key_id = old.key_id().to_string();
        let mut garbled = listed(&other, false);
        garbled.key.public_key = "not base64".into();
        let mut retired = listed(&old, false);
        retired.key.retired_at = Some(Timestamp::now());
        let r = ring(&[retired.clone(), listed(&new, true), forged, garbled]);
        assert_eq!(r.key_ids(), [old.key_id(), new.key_id()]);
        assert_eq!(r.retired_at(old.key_id()), retired.key.retired_at);
        assert_eq!(r.retired_at(new.key_id()), None);
        assert_eq!(r.get(old.key_id()), Some(&old.public_key()));
        assert_eq!(r.get(other.key_id()), None);
    }
}
