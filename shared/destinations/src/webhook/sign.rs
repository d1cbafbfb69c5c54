//! Standard Webhooks signing: the `webhook-id` / `webhook-timestamp` /
//! `webhook-signature` headers, ids stable per window part, and `whsec_`
//! signing secrets.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

use audit_domain::export::job::ExportWindow;

pub const SECRET_PREFIX: &str = "whsec_";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("webhook signing secret must be base64 after its whsec_ prefix")]
    NotBase64,
    #[error("webhook signing secret is empty")]
    Empty,
}

type HmacSha256 = Hmac<Sha256>;

/// The key inside `whsec_<base64>` (the prefix is optional, as in the
/// reference libraries).
fn key(secret: &str) -> Result<Vec<u8>, SignError> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    let key = STANDARD.decode(encoded).map_err(|_| SignError::NotBase64)?;
    if key.is_empty() {
        return Err(SignError::Empty);
    }
    Ok(key)
}

fn mac(
    secret: &str,
    msg_id: &str,
    timestamp_secs: i64,
    body: &[u8],
) -> Result<HmacSha256, SignError> {
    let mut mac = HmacSha256::new_from_slice(&key(secret)?).map_err(|_| SignError::Empty)?;
    mac.update(format!("{msg_id}.{timestamp_secs}.").as_bytes());
    mac.update(body);
    Ok(mac)
}

/// The `webhook-signature` value: `v1,<base64 HMAC-SHA256(key, "id.ts.body")>`.
pub fn sign(
    secret: &str,
    msg_id: &str,
    timestamp_secs: i64,
    body: &[u8],
) -> Result<String, SignError> {
    let tag = mac(secret, msg_id, timestamp_secs, body)?
        .finalize()
        .into_bytes();
    Ok(format!("v1,{}", STANDARD.encode(tag)))
}

/// Whether any `v1` signature in a space-separated `webhook-signature`
/// header matches, compared in constant time.
pub fn verify(
    secret: &str,
    msg_id: &str,
    timestamp_secs: i64,
    body: &[u8],
    header: &str,
) -> Result<bool, SignError> {
    let mac = mac(secret, msg_id, timestamp_secs, body)?;
    Ok(header
        .split(' ')
        .filter_map(|sig| sig.strip_prefix("v1,"))
        .filter_map(|b64| STANDARD.decode(b64).ok())
        .any(|tag| mac.clone().verify_slice(&tag).is_ok()))
}

/// The three Standard Webhooks headers for one request.
pub fn headers(
    secret: &str,
    msg_id: &str,
    timestamp_secs: i64,
    body: &[u8],
) -> Result<[(&'static str, String); 3], SignError> {
    Ok([
        ("webhook-id", msg_id.to_owned()),
        ("webhook-timestamp", timestamp_secs.to_string()),
        (
            "webhook-signature",
            sign(secret, msg_id, timestamp_secs, body)?,
        ),
    ])
}

/// A `webhook-id` that is the same for every retry of part `n` of a
/// window, so receivers can drop the duplicates at-least-once delivery makes.
pub fn message_id(destination_id: &str, window: &ExportWindow, n: u32) -> String {
    let digest = Sha256::digest(format!(
        "{destination_id}\n{}\n{}\n{n}",
        window.from.millis(),
        window.to.millis()
    ));
    format!("msg_{}", &hex::encode(digest)[..32])
}

/// A fresh signing secret: `whsec_` and 24 random bytes in base64.
pub fn generate_secret() -> String {
    let mut bytes = [0_u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_domain::fixtures::at;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;

    #[test]
    fn signature_matches_the_standard_webhooks_test_vector() {
        assert_eq!(
            sign(SECRET, MSG_ID, TIMESTAMP, BODY).unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn verify_accepts_any_matching_signature_in_the_header() {
        let good = sign(SECRET, MSG_ID, TIMESTAMP, BODY).unwrap();
        let header = format!("v1,bm90IGl0 {good}");
        assert_eq!(verify(SECRET, MSG_ID, TIMESTAMP, BODY, &header), Ok(true));
    }

    #[test]
    fn verify_rejects_a_changed_body_id_or_timestamp() {
        let good = sign(SECRET, MSG_ID, TIMESTAMP, BODY).unwrap();
        assert_eq!(verify(SECRET, MSG_ID, TIMESTAMP, b"{}", &good), Ok(false));
        assert_eq!(
            verify(SECRET, "msg_other", TIMESTAMP, BODY, &good),
            Ok(false)
        );
        assert_eq!(
            verify(SECRET, MSG_ID, TIMESTAMP + 1, BODY, &good),
            Ok(false)
        );
    }

    #[test]
    fn secret_that_is_not_base64_is_rejected() {
        assert_eq!(
            sign("whsec_not base64!", MSG_ID, 1, BODY),
            Err(SignError::NotBase64)
        );
        assert_eq!(sign("whsec_", MSG_ID, 1, BODY), Err(SignError::Empty));
    }

    #[test]
    fn headers_carry_id_timestamp_and_signature() {
        let [id, ts, sig] = headers(SECRET, MSG_ID, TIMESTAMP, BODY).unwrap();
        assert_eq!(id, ("webhook-id", MSG_ID.to_owned()));
        assert_eq!(ts, ("webhook-timestamp", "1614265330".to_owned()));
        assert_eq!(sig.1, sign(SECRET, MSG_ID, TIMESTAMP, BODY).unwrap());
    }

    #[test]
    fn generated_secrets_are_24_random_bytes_and_sign() {
        let a = generate_secret();
        assert!(a.starts_with("whsec_"));
        assert_eq!(key(&a).unwrap().len(), 24);
        assert_ne!(a, generate_secret());
        assert!(sign(&a, MSG_ID, TIMESTAMP, BODY).is_ok());
    }

    #[test]
    fn message_id_is_stable_per_window_part() {
        let w = ExportWindow {
            from: at("2026-11-28T09:00:00Z"),
            to: at("2026-11-28T09:01:00Z"),
        };
        assert_eq!(message_id("dst_1", &w, 0), message_id("dst_1", &w, 0));
        assert_ne!(message_id("dst_1", &w, 0), message_id("dst_1", &w, 1));
        assert_ne!(message_id("dst_1", &w, 0), message_id("dst_2", &w, 0));
    }
}
