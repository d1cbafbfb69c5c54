//! What an admin sets on a Splunk HEC destination: the collector's base URL
//! and the envelope fields.

use serde::{Deserialize, Serialize};

use audit_domain::problem::FieldError;

use crate::secret::{check_token, SecretRule};
use crate::settings::bad_text;
use crate::url_policy::UrlPolicy;

/// A Splunk HTTP Event Collector; the HEC token lives in Secrets Manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The HEC base URL, e.g. `https://splunk.example.com:8088`.
    pub url: String,
    /// `None` sends to the token's default index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    #[serde(default = "default_source")]
    pub source: String,
    #[serde(default = "default_sourcetype")]
    pub sourcetype: String,
}

fn default_source() -> String {
    "audit-log".into()
}

fn default_sourcetype() -> String {
    "audit_log:event".into()
}

impl Settings {
    /// The collector's event endpoint, `<url>/services/collector/event`:
    /// built here only, and always through the URL policy.
    pub fn endpoint(&self, urls: UrlPolicy) -> Result<String, FieldError> {
        let url = format!(
            "{}/services/collector/event",
            self.url.trim_end_matches('/')
        );
        urls.endpoint("settings.url", &self.url, url)
    }
}

/// Every problem with the settings, each naming its field.
pub(super) fn validate(settings: &Settings, urls: UrlPolicy) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Err(e) = settings.endpoint(urls) {
        errors.push(e);
    }
    if settings.index.as_deref().is_some_and(bad_text) {
        errors.push(FieldError::new(
            "settings.index",
            "must be 1 to 512 characters",
        ));
    }
    if bad_text(&settings.source) || bad_text(&settings.sourcetype) {
        errors.push(FieldError::new(
            "settings.source",
            "source and sourcetype must be 1 to 512 characters",
        ));
    }
    errors
}

/// The HEC token, sent as `Authorization: Splunk <token>`.
pub(super) const SECRET: SecretRule = SecretRule::Required {
    what: "a Splunk HEC token",
    check: check_token,
};

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: UrlPolicy = UrlPolicy {
        allow_private: false,
    };

    fn hec() -> Settings {
        serde_json::from_value(serde_json::json!({"url": "https://splunk.example.com:8088"}))
            .unwrap()
    }

    #[test]
    fn source_and_sourcetype_default_to_the_audit_log() {
        let s = hec();
        assert_eq!(
            (s.source.as_str(), s.sourcetype.as_str()),
            ("audit-log", "audit_log:event")
        );
        assert_eq!(s.index, None);
        assert_eq!(validate(&s, STRICT), []);
    }

    #[test]
    fn the_endpoint_is_the_event_collector_under_the_base_url() {
        let s = Settings {
            url: "https://splunk.example.com:8088/".into(),
            ..hec()
        };
        assert_eq!(
            s.endpoint(STRICT),
            Ok("https://splunk.example.com:8088/services/collector/event".to_string())
        );
    }

    #[test]
    fn plain_http_is_refused_naming_settings_url() {
        let s = Settings {
            url: "http://splunk.example.com:8088".into(),
            ..hec()
        };
        let fields: Vec<_> = validate(&s, STRICT).into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["settings.url"]);
    }

    #[test]
    fn empty_index_and_control_characters_in_sourcetype_are_refused() {
        let s = Settings {
            index: Some(String::new()),
            sourcetype: "a\nb".into(),
            ..hec()
        };
        let fields: Vec<_> = validate(&s, STRICT).into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["settings.index", "settings.source"]);
    }

    #[test]
    fn the_hec_token_is_required_and_checked_as_a_token() {
        assert_eq!(
            SECRET.missing().map(|e| e.reason),
            Some("is required: a Splunk HEC token".to_string())
        );
        assert!(SECRET.check("0f6b2a1c-93d4-4e7a-b5c8-1d2e3f405162").is_ok());
        assert!(SECRET.check("short").is_err());
    }
}
