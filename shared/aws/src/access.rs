//! Authentication: bearer key → `Caller` (principal and org settings), with
//! a short in-process cache so most requests cost no DynamoDB read. A revoked
//! key stops working within the cache's time to live.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use audit_domain::auth::{bearer_key, key_hash, Principal};
use audit_domain::problem::Problem;

use crate::store::{OrgSettings, Store, StoreError};

/// Default time a key lookup is trusted (documented: revocation takes effect
/// within this long).
pub const DEFAULT_KEY_CACHE_TTL: Duration = Duration::from_secs(30);
/// Entries kept before the cache is cleared wholesale.
const MAX_CACHED_KEYS: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub principal: Principal,
    pub org: OrgSettings,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer API key")]
    Missing,
    #[error("invalid or revoked API key")]
    Invalid,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug)]
pub struct Authenticator {
    ttl: Duration,
    cache: Mutex<HashMap<String, (Instant, Option<Caller>)>>,
}

impl Authenticator {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Reads `AUDIT_KEY_CACHE_SECONDS` (default 30).
    pub fn from_env() -> Self {
        let ttl = std::env::var("AUDIT_KEY_CACHE_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .map_or(DEFAULT_KEY_CACHE_TTL, Duration::from_secs);
        Self::new(ttl)
    }

    pub async fn authenticate(
        &self,
        store: &Store,
        authorization: Option<&str>,
    ) -> Result<Caller, AuthError> {
        let key = bearer_key(authorization).ok_or(AuthError::Missing)?;
        let hash = key_hash(key);
        if let Some(cached) = self.cached(&hash) {
            return cached.ok_or(AuthError::Invalid);
        }
        let caller = match store.find_key(&hash).await? {
            Some(record) if record.revoked_at.is_none() => {
                let org = store.org_settings(&record.org_id).await?;
                Some(Caller {
                    principal: Principal {
                        org_id: record.org_id,
                        role: record.role,
                        key_id: record.key_id,
                    },
                    org,
                })
            }
            _ => None,
        };
        self.remember(hash, caller.clone());
        caller.ok_or(AuthError::Invalid)
    }

    fn cached(&self, hash: &str) -> Option<Option<Caller>> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let (at, caller) = cache.get(hash)?;
        (at.elapsed() < self.ttl).then(|| caller.clone())
    }

    fn remember(&self, hash: String, caller: Option<Caller>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_CACHED_KEYS {
            cache.clear();
        }
        cache.insert(hash, (Instant::now(), caller));
    }
}

impl From<&AuthError> for Problem {
    fn from(e: &AuthError) -> Self {
        match e {
            AuthError::Missing => {
                Problem::unauthorized("Send an API key as Authorization: Bearer <key>.")
            }
            AuthError::Invalid => {
                Problem::unauthorized("The API key is invalid or has been revoked.")
            }
            AuthError::Store(_) => Problem::unavailable(),
        }
    }
}
