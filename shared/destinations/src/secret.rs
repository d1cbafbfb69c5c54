//! What each destination type takes as its secret (a Datadog API key, an
//! HEC token, a webhook signing secret; nothing for S3) and how a submitted
//! one is checked. Reasons never quote the secret.

use std::ops::RangeInclusive;

use audit_domain::problem::FieldError;

/// The `secret` a destination type takes, in the API body.
#[derive(Debug, Clone, Copy)]
pub enum SecretRule {
    /// None: the type is reached another way (S3 with IAM), and a secret
    /// sent is refused for `refusal`.
    None { refusal: &'static str },
    /// One is needed: `what` names it ("a Datadog API key"); `check` says
    /// why a submitted one is unusable.
    Required {
        what: &'static str,
        check: fn(&str) -> Result<(), &'static str>,
    },
}

impl SecretRule {
    pub fn is_required(&self) -> bool {
        matches!(self, SecretRule::Required { .. })
    }

    /// The `secret` error when a body gives none and none is stored:
    /// `is required: a Datadog API key`; `None` for a type that takes none.
    pub fn missing(&self) -> Option<FieldError> {
        match self {
            SecretRule::None { .. } => None,
            SecretRule::Required { what, .. } => {
                Some(FieldError::new("secret", format!("is required: {what}")))
            }
        }
    }

    /// Checks a submitted secret: any is refused by a type that takes none.
    /// The error names `secret` and never quotes it.
    pub fn check(&self, secret: &str) -> Result<(), FieldError> {
        let refused = |reason: &str| FieldError::new("secret", reason);
        match self {
            SecretRule::None { refusal } => Err(refused(refusal)),
            SecretRule::Required { check, .. } => check(secret).map_err(refused),
        }
    }
}

/// Datadog keys are 32 characters, HEC tokens 36; a short secret would be
/// all but shown by its four-character hint.
pub const TOKEN_LEN: RangeInclusive<usize> = 16..=1024;

/// The check for an opaque API token (Datadog API key, HEC token).
pub fn check_token(secret: &str) -> Result<(), &'static str> {
    if !TOKEN_LEN.contains(&secret.chars().count())
        || secret.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err("must be 16 to 1024 characters without spaces or control characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_with_spaces_is_rejected() {
        assert!(check_token("two words and some more").is_err());
        assert!(check_token("0f6b2a1c-93d4-4e7a-b5c8-1d2e3f405162").is_ok());
    }

    #[test]
    fn short_tokens_are_rejected_so_the_hint_never_shows_most_of_one() {
        for short in ["abcd", "abcd-1234", "0123456789abcde"] {
            assert!(check_token(short).is_err(), "{short}");
        }
        assert!(check_token("0123456789abcdef").is_ok());
    }

    #[test]
    fn reasons_never_quote_the_secret() {
        let rule = SecretRule::Required {
            what: "a token",
            check: check_token,
        };
        let e = rule.check("two words").unwrap_err();
        assert_eq!(e.field, "secret");
        assert!(!e.reason.contains("two words"));
    }

    #[test]
    fn a_type_without_a_secret_refuses_any_and_requires_none() {
        let rule = SecretRule::None {
            refusal: "must not be given",
        };
        assert!(!rule.is_required());
        assert!(rule.missing().is_none());
        let e = rule
            .check("0f6b2a1c-93d4-4e7a-b5c8-1d2e3f405162")
            .unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.reason.as_str()),
            ("secret", "must not be given")
        );
    }
}
