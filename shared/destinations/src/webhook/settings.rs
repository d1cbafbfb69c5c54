//! What an admin sets on a webhook destination: the receiver's URL.

use std::ops::RangeInclusive;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use audit_domain::problem::FieldError;

use super::sign::SECRET_PREFIX;
use crate::secret::SecretRule;
use crate::url_policy::UrlPolicy;

/// A Standard Webhooks receiver; the signing secret lives in Secrets Manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub url: String,
}

impl Settings {
    /// The URL each body is POSTed to: built here only, and always through
    /// the URL policy.
    pub fn endpoint(&self, urls: UrlPolicy) -> Result<String, FieldError> {
        urls.endpoint("settings.url", &self.url, self.url.clone())
    }
}

/// Every problem with the settings, each naming its field.
pub(super) fn validate(settings: &Settings, urls: UrlPolicy) -> Vec<FieldError> {
    settings.endpoint(urls).err().into_iter().collect()
}

/// The Standard Webhooks signing secret each body is signed with.
pub(super) const SECRET: SecretRule = SecretRule::Required {
    what: "a Standard Webhooks signing secret (whsec_<base64>)",
    check: check_secret,
};

/// How many bytes a signing secret's key may have.
const KEY_BYTES: RangeInclusive<usize> = 24..=64;

/// `whsec_` and 24 to 64 bytes in base64.
fn check_secret(secret: &str) -> Result<(), &'static str> {
    let key = secret
        .strip_prefix(SECRET_PREFIX)
        .map(|encoded| STANDARD.decode(encoded));
    match key {
        Some(Ok(key)) if KEY_BYTES.contains(&key.len()) => Ok(()),
        _ => Err("must be a Standard Webhooks secret: whsec_ and 24 to 64 bytes in base64"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: UrlPolicy = UrlPolicy {
        allow_private: false,
    };

    #[test]
    fn signing_secret_must_be_whsec_with_24_to_64_bytes() {
        let ok = format!("whsec_{}", STANDARD.encode([7_u8; 32]));
        assert_eq!(SECRET.check(&ok), Ok(()));
        for bad in [
            STANDARD.encode([7_u8; 32]),
            format!("whsec_{}", STANDARD.encode([7_u8; 16])),
            format!("whsec_{}", STANDARD.encode([7_u8; 65])),
            "whsec_not base64!".to_string(),
        ] {
            let e = SECRET.check(&bad).unwrap_err();
            assert_eq!(e.field, "secret");
            assert!(!e.reason.contains(&bad), "the reason quotes the secret");
        }
    }

    #[test]
    fn generated_signing_secrets_pass_the_check() {
        assert_eq!(SECRET.check(&super::super::generate_secret()), Ok(()));
    }

    #[test]
    fn a_public_https_url_is_fine() {
        let s = Settings {
            url: "https://hooks.example.com/audit".into(),
        };
        assert_eq!(validate(&s, STRICT), []);
    }

    #[test]
    fn the_endpoint_is_the_url_as_set() {
        let s = Settings {
            url: "https://hooks.example.com/audit/".into(),
        };
        assert_eq!(
            s.endpoint(STRICT),
            Ok("https://hooks.example.com/audit/".to_string())
        );
    }

    #[test]
    fn a_private_url_is_refused_naming_settings_url() {
        let s = Settings {
            url: "https://169.254.169.254/latest".into(),
        };
        let e = validate(&s, STRICT);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].field, "settings.url");
    }
}
