//! Splunk HEC's answers: the reply code in the body decides before the
//! status (token errors are never retried, a busy server always is).

use serde::Deserialize;

use audit_domain::export::outcome::{classify_http, Outcome};

/// HEC's reply body, e.g. `{"text":"Success","code":0}`.
#[derive(Deserialize)]
struct HecReply {
    #[serde(default)]
    text: String,
    code: Option<u32>,
}

/// Classifies an HEC answer. Token errors (codes 1–4) are never retried;
/// "internal error" and "server busy" (codes 8, 9) always are; otherwise the
/// status decides as for any HTTP destination.
pub fn classify(status: u16, body: &str) -> Outcome {
    let reply = serde_json::from_str::<HecReply>(body).ok();
    let code = reply.as_ref().and_then(|r| r.code);
    let reason = match (&reply, code) {
        (Some(r), Some(code)) => {
            let text: String = r.text.chars().take(200).collect();
            format!("HTTP {status}: {text} (HEC code {code})")
        }
        _ => format!("HTTP {status}"),
    };
    match (status, code) {
        (_, Some(1..=4)) => Outcome::Permanent(reason),
        (_, Some(8 | 9)) => Outcome::Transient(reason),
        _ => match classify_http(status) {
            Outcome::Delivered => Outcome::Delivered,
            Outcome::Transient(_) => Outcome::Transient(reason),
            Outcome::Permanent(_) => Outcome::Permanent(reason),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_reply_is_delivered() {
        assert_eq!(
            classify(200, r#"{"text":"Success","code":0}"#),
            Outcome::Delivered
        );
    }

    #[test]
    fn busy_or_failing_server_is_retried() {
        for (status, body) in [
            (503, r#"{"text":"Server is busy","code":9}"#),
            (500, r#"{"text":"Internal server error","code":8}"#),
            (503, ""),
            (429, ""),
            (408, ""),
        ] {
            assert!(
                matches!(classify(status, body), Outcome::Transient(_)),
                "{status} {body}"
            );
        }
    }

    #[test]
    fn token_errors_are_never_retried() {
        for (status, body) in [
            (403, r#"{"text":"Token disabled","code":1}"#),
            (401, r#"{"text":"Token is required","code":2}"#),
            (401, r#"{"text":"Invalid authorization","code":3}"#),
            (403, r#"{"text":"Invalid token","code":4}"#),
            (400, r#"{"text":"Invalid data format","code":6}"#),
            (401, ""),
        ] {
            assert!(
                matches!(classify(status, body), Outcome::Permanent(_)),
                "{status} {body}"
            );
        }
    }

    #[test]
    fn reason_quotes_the_hec_reply() {
        assert_eq!(
            classify(403, r#"{"text":"Invalid token","code":4}"#),
            Outcome::Permanent("HTTP 403: Invalid token (HEC code 4)".into())
        );
    }
}
