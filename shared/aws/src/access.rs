//! Authentication: bearer key → `Caller` (principal and org settings), with
//! a short in-process cache so most requests cost no DynamoDB read. A revoked
//! key stops working within the cache's time to live.
//!
//! Known and unknown keys are cached apart, each a bounded least-recently-
//! used map: a flood of random keys fills only the unknown side, so it costs
//! one read per distinct key (not per request) and never evicts a real
//! caller's entry.

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lru::LruCache;

use audit_domain::auth::{bearer_key, key_hash, Principal};
use audit_domain::problem::Problem;

use crate::store::{OrgSettings, Store, StoreError};

/// Default time a key lookup is trusted (documented: revocation takes effect
/// within this long).
pub const DEFAULT_KEY_CACHE_TTL: Duration = Duration::from_secs(30);
/// Valid keys kept, least recently used dropped first.
pub const MAX_CACHED_KEYS: usize = 10_000;
/// Unknown (or revoked) keys kept, apart from the valid ones.
pub const MAX_CACHED_UNKNOWN_KEYS: usize = 10_000;

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
    #[error("viewer token: {0}")]
    Token(#[from] audit_domain::viewer::TokenError),
    #[error("the viewer token's issuing key is revoked or unknown")]
    RevokedIssuer,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Key hash → when it was looked up and what it was.
struct Caches {
    known: LruCache<String, (Instant, Caller)>,
    unknown: LruCache<String, Instant>,
}

pub struct Authenticator {
    ttl: Duration,
    caches: Mutex<Caches>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    pub fn new(ttl: Duration) -> Self {
        Self::with_capacity(ttl, MAX_CACHED_KEYS, MAX_CACHED_UNKNOWN_KEYS)
    }

    /// As `new`, keeping at most `known` valid and `unknown` unknown keys
    /// (at least one each).
    pub fn with_capacity(ttl: Duration, known: usize, unknown: usize) -> Self {
        let cap = |n: usize| NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN);
        Self {
            ttl,
            caches: Mutex::new(Caches {
                known: LruCache::new(cap(known)),
                unknown: LruCache::new(cap(unknown)),
            }),
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
                        viewer: None,
                    },
                    org,
                })
            }
            _ => None,
        };
        self.remember(hash, caller.clone());
        caller.ok_or(AuthError::Invalid)
    }

    /// The caller a viewer token stands for, once its signature and expiry
    /// are checked: its issuing key must still be a valid `viewer_issuer`
    /// key of the token's org (cached like a key, under its own handle, so a
    /// revoked issuer ends its tokens within the same time to live).
    pub async fn viewer(
        &self,
        store: &Store,
        claims: audit_domain::viewer::ViewerClaims,
    ) -> Result<Caller, AuthError> {
        use audit_domain::auth::Role;
        let handle = format!("issuer:{}:{}", claims.org, claims.kid);
        let issuer = match self.cached(&handle) {
            Some(cached) => cached,
            None => {
                let issuer = match store.find_key_by_id(&claims.org, &claims.kid).await? {
                    Some(record)
                        if record.revoked_at.is_none() && record.role == Role::ViewerIssuer =>
                    {
                        let org = store.org_settings(&record.org_id).await?;
                        Some(Caller {
                            principal: Principal {
                                org_id: record.org_id,
                                role: record.role,
                                key_id: record.key_id,
                                viewer: None,
                            },
                            org,
                        })
                    }
                    _ => None,
                };
                self.remember(handle, issuer.clone());
                issuer
            }
        };
        let issuer = issuer.ok_or(AuthError::RevokedIssuer)?;
        Ok(Caller {
            principal: Principal {
                org_id: issuer.principal.org_id,
                role: claims.role.role(),
                key_id: issuer.principal.key_id,
                viewer: Some(claims.viewer),
            },
            org: issuer.org,
        })
    }

    /// `Some(Some(caller))` for a fresh valid entry, `Some(None)` for a
    /// fresh unknown one, `None` when the key must be read.
    fn cached(&self, hash: &str) -> Option<Option<Caller>> {
        let mut caches = self.caches.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, caller)) = caches.known.get(hash) {
            if at.elapsed() < self.ttl {
                return Some(Some(caller.clone()));
            }
            caches.known.pop(hash);
            return None;
        }
        let at = *caches.unknown.get(hash)?;
        if at.elapsed() < self.ttl {
            return Some(None);
        }
        caches.unknown.pop(hash);
        None
    }

    fn remember(&self, hash: String, caller: Option<Caller>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut caches = self.caches.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match caller {
            Some(caller) => {
                caches.unknown.pop(&hash);
                caches.known.put(hash, (now, caller));
            }
            None => {
                caches.known.pop(&hash);
                caches.unknown.put(hash, now);
            }
        }
    }

    /// How many valid and unknown keys are cached now.
    pub fn cached_counts(&self) -> (usize, usize) {
        let caches = self.caches.lock().unwrap_or_else(|p| p.into_inner());
        (caches.known.len(), caches.unknown.len())
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
            AuthError::Token(e) => {
                Problem::unauthorized(&format!("{e}: ask the page's platform for a new one."))
            }
            AuthError::RevokedIssuer => Problem::unauthorized(
                "The viewer token was minted by a key that has been revoked or rotated.",
            ),
            AuthError::Store(_) => Problem::unavailable(),
        }
    }
}
