//! What an admin sets on a webhook destination: the receiver's URL.

use serde::{Deserialize, Serialize};

use audit_domain::problem::FieldError;

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

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: UrlPolicy = UrlPolicy {
        allow_private: false,
    };

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
