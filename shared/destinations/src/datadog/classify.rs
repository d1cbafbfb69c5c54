//! Datadog's answers to `POST /api/v2/logs`: only the status counts.

use audit_domain::export::outcome::Outcome;

/// 202 accepted; 408, 429 and 5xx retried; anything else (400 bad
/// payload, 401/403 bad API key, 413 too large) is permanent.
pub fn classify(status: u16) -> Outcome {
    let reason = |hint: &str| format!("HTTP {status}{hint}");
    match status {
        200..=299 => Outcome::Delivered,
        408 | 429 | 500..=599 => Outcome::Transient(reason("")),
        401 | 403 => Outcome::Permanent(reason(": API key rejected")),
        413 => Outcome::Permanent(reason(": payload too large")),
        _ => Outcome::Permanent(reason("")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_is_delivered() {
        assert_eq!(classify(202), Outcome::Delivered);
    }

    #[test]
    fn timeouts_throttling_and_server_errors_are_retried() {
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(
                matches!(classify(status), Outcome::Transient(_)),
                "{status}"
            );
        }
    }

    #[test]
    fn bad_payload_bad_key_and_too_large_are_not_retried() {
        for status in [400, 401, 403, 413] {
            assert!(
                matches!(classify(status), Outcome::Permanent(_)),
                "{status}"
            );
        }
    }
}
