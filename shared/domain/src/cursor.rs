//! Opaque page cursors: the position of the last event returned, signed with
//! HMAC-SHA256 and bound to the org and the filter set, so a cursor can be
//! neither forged, edited, nor replayed against another org or search.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::ids::OrgId;

/// Where a page stopped: the last event's `ts` sort key and id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CursorKey {
    pub ts: String,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("is malformed")]
    Malformed,
    #[error("does not belong to this search (it was issued for another organization or other filters, or was altered)")]
    BadSignature,
}

/// Signs and checks cursors with the deployment's cursor secret.
#[derive(Clone)]
pub struct CursorCodec {
    secret: Vec<u8>,
}

impl std::fmt::Debug for CursorCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorCodec { secret: <redacted> }")
    }
}

impl CursorCodec {
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        Self {
            secret: secret.into(),
        }
    }

    /// A key for another purpose derived from the cursor secret under
    /// `label` (HMAC-SHA256), so one secret serves both and neither key can
    /// be computed from the other's outputs.
    pub fn derive(&self, label: &str) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(b"derive/v1:");
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    fn mac(&self, org: &OrgId, fingerprint: &str, payload: &str) -> Hmac<Sha256> {
        // HMAC accepts keys of any length; new_from_slice cannot fail for it.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        for part in ["cursor/v1", org.as_str(), fingerprint, payload] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac
    }

    pub fn encode(&self, org: &OrgId, fingerprint: &str, key: &CursorKey) -> String {
        let json = serde_json::to_vec(key).unwrap_or_default();
        let payload = URL_SAFE_NO_PAD.encode(json);
        let tag = self.mac(org, fingerprint, &payload).finalize().into_bytes();
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    pub fn decode(
        &self,
        org: &OrgId,
        fingerprint: &str,
        cursor: &str,
    ) -> Result<CursorKey, CursorError> {
        let (payload, tag) = cursor.split_once('.').ok_or(CursorError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| CursorError::Malformed)?;
        self.mac(org, fingerprint, payload)
            .verify_slice(&tag)
            .map_err(|_| CursorError::BadSignature)?;
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| CursorError::Malformed)?;
        serde_json::from_slice(&json).map_err(|_| CursorError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn codec() -> CursorCodec {
        CursorCodec::new(b"test-secret".to_vec())
    }
    fn org(s: &str) -> OrgId {
        OrgId::parse(s).unwrap()
    }
    fn key() -> CursorKey {
        CursorKey {
            ts: "1764000000000#evt_1".into(),
            id: "evt_1".into(),
        }
    }

    #[test]
    fn cursor_round_trips() {
        let c = codec().encode(&org("a"), "f", &key());
        assert_eq!(codec().decode(&org("a"), "f", &c), Ok(key()));
    }

    #[test]
    fn foreign_org_cursor_is_rejected() {
        let c = codec().encode(&org("a"), "f", &key());
        assert_eq!(
            codec().decode(&org("b"), "f", &c),
            Err(CursorError::BadSignature)
        );
    }

    #[test]
    fn cursor_for_other_filters_is_rejected() {
        let c = codec().encode(&org("a"), "group=users", &key());
        assert_eq!(
            codec().decode(&org("a"), "group=chains", &c),
            Err(CursorError::BadSignature)
        );
    }

    #[test]
    fn tampered_payload_is_rejected() {
        let c = codec().encode(&org("a"), "f", &key());
        let (_, tag) = c.split_once('.').unwrap();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"ts":"0#x","id":"x"}"#);
        assert_eq!(
            codec().decode(&org("a"), "f", &format!("{forged}.{tag}")),
            Err(CursorError::BadSignature)
        );
    }

    #[test]
    fn other_secret_is_rejected() {
        let c = CursorCodec::new(b"other".to_vec()).encode(&org("a"), "f", &key());
        assert_eq!(
            codec().decode(&org("a"), "f", &c),
            Err(CursorError::BadSignature)
        );
    }

    #[test]
    fn garbage_is_malformed() {
        for bad in ["", "abc", "a.b.c", "!!!.???"] {
            assert!(codec().decode(&org("a"), "f", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_does_not_show_the_secret() {
        assert!(!format!("{:?}", codec()).contains("test-secret"));
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_strings_never_panics(s in ".{0,300}") {
            let _ = codec().decode(&org("a"), "f", &s);
        }
    }
}
