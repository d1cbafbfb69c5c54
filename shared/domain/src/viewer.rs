//! Viewer tokens: what a platform's backend (with a `viewer_issuer` key)
//! hands its signed-in user so the Activity page can read the org's log as
//! that user, without an API key. A token is `avt_<claims>.<tag>`: the
//! claims as base64url JSON, the tag an HMAC-SHA256 over them with a key
//! only the query function holds (derived from the cursor secret under its
//! own label). It names the org, the issuing key (revoking that key ends
//! every token it minted), the user, their role and scope, and its expiry.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::auth::Role;
use crate::ids::{ActorId, OrgId, ResourceId};

/// What every viewer token starts with; the HTTP edge tells them from API
/// keys (`alk_…`) by it.
pub const TOKEN_PREFIX: &str = "avt_";
/// A token's life when the request names none.
pub const DEFAULT_TTL_SECONDS: u64 = 300;
/// The longest a token may live (a page left open longer asks its platform
/// for a new one).
pub const MAX_TTL_SECONDS: u64 = 900;
/// The shortest `ttl_seconds` accepted.
pub const MIN_TTL_SECONDS: u64 = 30;
/// The longest token accepted before its signature is checked.
pub const MAX_TOKEN_BYTES: usize = 4096;
/// The label under which the token key is derived from the cursor secret.
pub const KEY_LABEL: &str = "viewer-token/v1";

/// The role a platform gives its user: what their own key would be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViewerRole {
    Admin,
    Member,
}

impl ViewerRole {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "member" => Some(Self::Member),
            _ => None,
        }
    }

    pub fn role(self) -> Role {
        match self {
            Self::Admin => Role::Admin,
            Self::Member => Role::Member,
        }
    }
}

/// The platform's signed-in user, as the platform names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewerUser {
    pub id: ActorId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// What a scoped token may see: only events of this resource and/or by
/// this actor. Empty: the whole log (as the role allows).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewerScope {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<ResourceId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<ActorId>,
}

impl ViewerScope {
    pub fn is_empty(&self) -> bool {
        self.resource_id.is_none() && self.actor.is_none()
    }
}

/// Who reads through a token, and what they may see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    pub user: ViewerUser,
    #[serde(default, skip_serializing_if = "ViewerScope::is_empty")]
    pub scope: ViewerScope,
}

/// What a token says (signed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewerClaims {
    pub org: OrgId,
    /// The id of the `viewer_issuer` key that minted it.
    pub kid: String,
    pub role: ViewerRole,
    pub viewer: Viewer,
    /// Issued and expires, Unix seconds.
    pub iat: i64,
    pub exp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the viewer token is malformed")]
    Malformed,
    #[error("the viewer token's signature does not match (forged or altered)")]
    BadSignature,
    #[error("the viewer token has expired")]
    Expired,
}

/// Mints and checks viewer tokens with the deployment's token key.
#[derive(Clone)]
pub struct TokenCodec {
    key: Vec<u8>,
}

impl std::fmt::Debug for TokenCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCodec { key: <redacted> }")
    }
}

impl TokenCodec {
    pub fn new(key: impl Into<Vec<u8>>) -> Self {
        Self { key: key.into() }
    }

    fn tag(&self, payload: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        for part in [KEY_LABEL, payload] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac
    }

    pub fn mint(&self, claims: &ViewerClaims) -> String {
        let json = serde_json::to_vec(claims).unwrap_or_default();
        let payload = URL_SAFE_NO_PAD.encode(json);
        let tag = self.tag(&payload).finalize().into_bytes();
        format!("{TOKEN_PREFIX}{payload}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// The claims of a token signed with this key and not expired at `now`
    /// (Unix seconds). The signature is checked before anything is parsed.
    pub fn verify(&self, token: &str, now: i64) -> Result<ViewerClaims, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed);
        }
        let body = token
            .strip_prefix(TOKEN_PREFIX)
            .ok_or(TokenError::Malformed)?;
        let (payload, tag) = body.split_once('.').ok_or(TokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| TokenError::Malformed)?;
        self.tag(payload)
            .verify_slice(&tag)
            .map_err(|_| TokenError::BadSignature)?;
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let claims: ViewerClaims =
            serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)?;
        if now >= claims.exp {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> ViewerClaims {
        ViewerClaims {
            org: OrgId::parse("org_a").unwrap(),
            kid: "key_1".into(),
            role: ViewerRole::Member,
            viewer: Viewer {
                user: ViewerUser {
                    id: ActorId::parse("usr_ada").unwrap(),
                    name: Some("Ada".into()),
                    email: None,
                },
                scope: ViewerScope::default(),
            },
            iat: 1_000,
            exp,
        }
    }

    #[test]
    fn a_minted_token_verifies_until_it_expires() {
        let codec = TokenCodec::new(b"k".to_vec());
        let token = codec.mint(&claims(2_000));
        assert!(token.starts_with(TOKEN_PREFIX));
        assert_eq!(codec.verify(&token, 1_999), Ok(claims(2_000)));
        assert_eq!(codec.verify(&token, 2_000), Err(TokenError::Expired));
    }

    #[test]
    fn an_altered_token_is_rejected() {
        let codec = TokenCodec::new(b"k".to_vec());
        let token = codec.mint(&claims(2_000));
        let mut other = claims(2_000);
        other.role = ViewerRole::Admin;
        let forged_payload = codec.mint(&other);
        let (payload, _) = forged_payload.split_once('.').unwrap();
        let (_, tag) = token.split_once('.').unwrap();
        let spliced = format!("{payload}.{tag}");
        assert_eq!(codec.verify(&spliced, 1_500), Err(TokenError::BadSignature));
    }

    #[test]
    fn a_token_of_another_key_is_rejected() {
        let token = TokenCodec::new(b"other".to_vec()).mint(&claims(2_000));
        assert_eq!(
            TokenCodec::new(b"k".to_vec()).verify(&token, 1_500),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn garbage_is_malformed() {
        let codec = TokenCodec::new(b"k".to_vec());
        for t in ["", "avt_", "avt_x", "alk_abc.def", "avt_a.!!"] {
            assert_eq!(codec.verify(t, 0), Err(TokenError::Malformed), "{t}");
        }
        let long = format!("avt_{}", "a".repeat(MAX_TOKEN_BYTES));
        assert_eq!(codec.verify(&long, 0), Err(TokenError::Malformed));
    }
}
