//! Reading a destinations request body: the JSON object, its known fields,
//! `enabled`, and the secret checked by the destination type's own rule
//! (`DestinationSettings::secret_rule`). Reasons never quote what was sent:
//! it may be a secret.

use audit_destinations::DestinationSettings;
use audit_domain::limits::MAX_BODY_BYTES;
use audit_domain::problem::FieldError;
use audit_domain::problem::Problem;
use serde_json::{Map, Value};

/// Top-level fields of a create body (the spec's, plus `secret`, `enabled`).
const FIELDS: [&str; 7] = [
    "name", "type", "settings", "format", "filter", "secret", "enabled",
];

/// The body as a JSON object, or the problem to answer with.
pub(crate) fn json_object(body: &[u8]) -> Result<Map<String, Value>, Problem> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Problem::too_large(MAX_BODY_BYTES));
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => Ok(m),
        // serde's message can quote the body, secret included: never echo it.
        _ => Err(Problem::field("body", "must be a JSON object")),
    }
}

pub(super) fn unknown_fields(fields: &Map<String, Value>) -> Vec<FieldError> {
    unknown_fields_of(fields, &FIELDS)
}

pub(crate) fn unknown_fields_of(fields: &Map<String, Value>, known: &[&str]) -> Vec<FieldError> {
    fields
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .map(|k| FieldError::new(k.as_str(), "is not a known field"))
        .collect()
}

pub(super) fn parse_enabled(value: Option<&Value>, default: bool) -> Result<bool, FieldError> {
    match value {
        None => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(FieldError::new("enabled", "must be true or false")),
    }
}

/// The credential given for `settings`, checked. A malformed one, or none
/// when the type needs one and no usable one is stored (`has_usable`), is
/// an error in `errors`.
pub(super) fn take_secret(
    settings: &DestinationSettings,
    value: Option<&Value>,
    has_usable: bool,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match parse_secret(settings, value) {
        Ok(None) if !has_usable => {
            errors.extend(settings.secret_rule().missing());
            None
        }
        Ok(secret) => secret,
        Err(e) => {
            errors.push(e);
            None
        }
    }
}

/// The credential for `settings`' type, checked by its rule; reasons never
/// quote it.
fn parse_secret(
    settings: &DestinationSettings,
    value: Option<&Value>,
) -> Result<Option<String>, FieldError> {
    let rule = settings.secret_rule();
    let secret = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s,
        // A type that takes no secret refuses one whatever its JSON type.
        Some(_) if !rule.is_required() => return rule.check("").map(|()| None),
        Some(_) => return Err(FieldError::new("secret", "must be a string")),
    };
    rule.check(secret)?;
    Ok(Some(secret.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_destinations::DestinationSpec;
    use audit_destinations::UrlPolicy;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde_json::json;

    fn settings(body: Value) -> DestinationSettings {
        DestinationSpec::parse(
            &body,
            UrlPolicy {
                allow_private: false,
            },
        )
        .unwrap()
        .settings
    }

    fn webhook() -> DestinationSettings {
        settings(
            json!({"name": "h", "type": "webhook", "settings": {"url": "https://h.example.com"}}),
        )
    }

    fn splunk() -> DestinationSettings {
        settings(
            json!({"name": "s", "type": "splunk", "settings": {"url": "https://s.example.com:8088"}}),
        )
    }

    fn s3() -> DestinationSettings {
        settings(
            json!({"name": "l", "type": "s3", "settings": {"bucket": "acme-audit", "role_arn": "arn:aws:iam::123456789012:role/audit-export"}}),
        )
    }

    #[test]
    fn webhook_secret_must_be_whsec_with_24_to_64_bytes() {
        let ok = format!("whsec_{}", STANDARD.encode([7_u8; 32]));
        assert_eq!(
            parse_secret(&webhook(), Some(&json!(ok))),
            Ok(Some(ok.clone()))
        );
        for bad in [
            STANDARD.encode([7_u8; 32]),
            format!("whsec_{}", STANDARD.encode([7_u8; 16])),
            format!("whsec_{}", STANDARD.encode([7_u8; 65])),
            "whsec_not base64!".to_string(),
        ] {
            let e = parse_secret(&webhook(), Some(&json!(bad))).unwrap_err();
            assert_eq!(e.field, "secret");
            assert!(!e.reason.contains(&bad), "the reason quotes the secret");
        }
    }

    #[test]
    fn s3_refuses_a_secret() {
        assert_eq!(
            parse_secret(&s3(), Some(&json!("abc"))).unwrap_err().field,
            "secret"
        );
        assert_eq!(parse_secret(&s3(), None), Ok(None));
    }

    #[test]
    fn token_with_spaces_is_rejected_and_not_quoted() {
        let e = parse_secret(&splunk(), Some(&json!("two words"))).unwrap_err();
        assert!(!e.reason.contains("two words"));
        assert_eq!(
            parse_secret(&splunk(), Some(&json!(42)))
                .unwrap_err()
                .reason,
            "must be a string"
        );
        let token = "0f6b2a1c-93d4-4e7a-b5c8-1d2e3f405162";
        assert_eq!(
            parse_secret(&splunk(), Some(&json!(token))),
            Ok(Some(token.into()))
        );
    }

    #[test]
    fn short_tokens_are_rejected_so_the_hint_never_shows_most_of_one() {
        for short in ["abcd", "abcd-1234", "0123456789abcde"] {
            assert_eq!(
                parse_secret(&splunk(), Some(&json!(short)))
                    .unwrap_err()
                    .field,
                "secret"
            );
        }
    }
}
