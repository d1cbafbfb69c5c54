//! What an admin sets on a Datadog destination: the site (or an intake URL
//! that overrides it), the service and the tags.

use serde::{Deserialize, Serialize};

use audit_domain::problem::FieldError;

use crate::secret::{check_token, SecretRule};
use crate::settings::bad_text;
use crate::url_policy::UrlPolicy;

/// At most this many `ddtags`.
pub const MAX_TAGS: usize = 20;

/// A Datadog Logs intake; the API key lives in Secrets Manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// e.g. `datadoghq.com`, `datadoghq.eu`, `us5.datadoghq.com`.
    pub site: String,
    #[serde(default = "default_service")]
    pub service: String,
    /// `key:value` tags, sent as `ddtags`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Overrides `https://http-intake.logs.<site>` (proxies, tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intake_url: Option<String>,
}

fn default_service() -> String {
    "audit-log".into()
}

impl Settings {
    /// The logs intake, `<intake_url or https://http-intake.logs.<site>>
    /// /api/v2/logs`: built here only, and always through the URL policy,
    /// the site-derived URL included; a refusal names the field it came from.
    pub fn endpoint(&self, urls: UrlPolicy) -> Result<String, FieldError> {
        let (field, base) = match &self.intake_url {
            Some(url) => ("settings.intake_url", url.clone()),
            None => (
                "settings.site",
                format!("https://http-intake.logs.{}", self.site),
            ),
        };
        let url = format!("{}/api/v2/logs", base.trim_end_matches('/'));
        urls.endpoint(field, &base, url)
    }
}

/// Every problem with the settings, each naming its field.
pub(super) fn validate(settings: &Settings, urls: UrlPolicy) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if !site_ok(&settings.site) {
        errors.push(FieldError::new(
            "settings.site",
            "must be a Datadog site such as datadoghq.com (or a plain host name)",
        ));
    }
    if bad_text(&settings.service) {
        errors.push(FieldError::new(
            "settings.service",
            "must be 1 to 512 characters",
        ));
    }
    let tags = &settings.tags;
    if tags.len() > MAX_TAGS || tags.iter().any(|t| bad_text(t) || t.contains(',')) {
        errors.push(FieldError::new(
            "settings.tags",
            "must be at most 20 key:value tags without commas",
        ));
    }
    // The URL derived from the site (or the intake URL) goes through the
    // policy too, so a site that passed the check above still cannot land
    // on a refused host.
    if let Err(e) = settings.endpoint(urls) {
        if !errors.iter().any(|f| f.field == e.field) {
            errors.push(e);
        }
    }
    errors
}

/// Datadog's sites (<https://docs.datadoghq.com/getting_started/site/>).
pub const KNOWN_SITES: [&str; 7] = [
    "datadoghq.com",
    "us3.datadoghq.com",
    "us5.datadoghq.com",
    "datadoghq.eu",
    "ap1.datadoghq.com",
    "ap2.datadoghq.com",
    "ddog-gov.com",
];

/// A known Datadog site, or a plain DNS host name: labels of ASCII letters,
/// digits and inner hyphens joined by single dots, at least two of them, the
/// last not all digits (so never an IP address in any notation), no
/// trailing dot, and none of `@ : / [ ]` that would let the site carry
/// userinfo, a port or another host into the URL built from it.
fn site_ok(site: &str) -> bool {
    if KNOWN_SITES.contains(&site) {
        return true;
    }
    if site.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = site.split('.').collect();
    let label_ok = |l: &&str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    labels.len() >= 2
        && labels.iter().all(label_ok)
        && labels
            .last()
            .is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()) && !tld.starts_with("0x"))
        && !site.eq_ignore_ascii_case("localhost")
        && !labels.last().is_some_and(|tld| {
            tld.eq_ignore_ascii_case("localhost") || tld.eq_ignore_ascii_case("internal")
        })
}

/// The Datadog API key, the `DD-API-KEY` header.
pub(super) const SECRET: SecretRule = SecretRule::Required {
    what: "a Datadog API key",
    check: check_token,
};

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: UrlPolicy = UrlPolicy {
        allow_private: false,
    };

    fn eu() -> Settings {
        serde_json::from_value(serde_json::json!({"site": "datadoghq.eu"})).unwrap()
    }

    fn fields(settings: &Settings) -> Vec<String> {
        validate(settings, STRICT)
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn service_defaults_to_the_audit_log_and_tags_to_none() {
        let s = eu();
        assert_eq!(s.service, "audit-log");
        assert!(s.tags.is_empty() && s.intake_url.is_none());
        assert!(fields(&s).is_empty());
    }

    #[test]
    fn known_sites_and_plain_host_names_are_accepted() {
        for site in KNOWN_SITES
            .iter()
            .copied()
            .chain(["dd.example.com", "eu-1.logs.example.org"])
        {
            let s = Settings {
                site: site.into(),
                ..eu()
            };
            assert!(fields(&s).is_empty(), "{site}");
        }
    }

    #[test]
    fn a_site_without_a_dot_or_with_a_path_is_refused() {
        for site in [
            "datadoghq",
            "datadoghq.com/x",
            "",
            "datadoghq.com@127.0.0.1:8443",
            "datadoghq.com:443",
            "[::1]",
            "127.0.0.1",
            "0x7f.1",
            "datadoghq.com.",
            "x.localhost",
            "corp.internal",
            "-bad.example.com",
        ] {
            let s = Settings {
                site: site.into(),
                ..eu()
            };
            assert_eq!(fields(&s), ["settings.site"], "{site}");
        }
    }

    #[test]
    fn more_than_twenty_tags_or_a_comma_in_one_is_refused() {
        let many = Settings {
            tags: (0..21).map(|i| format!("k:{i}")).collect(),
            ..eu()
        };
        assert_eq!(fields(&many), ["settings.tags"]);
        let comma = Settings {
            tags: vec!["a:b,c:d".into()],
            ..eu()
        };
        assert_eq!(fields(&comma), ["settings.tags"]);
    }

    #[test]
    fn the_endpoint_is_the_sites_intake_unless_an_intake_url_overrides_it() {
        assert_eq!(
            eu().endpoint(STRICT),
            Ok("https://http-intake.logs.datadoghq.eu/api/v2/logs".to_string())
        );
        let proxied = Settings {
            intake_url: Some("https://dd-proxy.example.com/".into()),
            ..eu()
        };
        assert_eq!(
            proxied.endpoint(STRICT),
            Ok("https://dd-proxy.example.com/api/v2/logs".to_string())
        );
    }

    #[test]
    fn a_site_that_smuggles_in_another_host_is_refused_where_the_url_is_built() {
        for site in [
            "datadoghq.com@127.0.0.1",
            "x@169.254.169.254",
            "corp.internal",
        ] {
            let s = Settings {
                site: site.into(),
                ..eu()
            };
            let e = s.endpoint(STRICT).unwrap_err();
            assert_eq!(e.field, "settings.site", "{site}");
        }
    }

    #[test]
    fn a_private_intake_url_is_refused_naming_settings_intake_url() {
        let s = Settings {
            intake_url: Some("https://10.0.0.5".into()),
            ..eu()
        };
        assert_eq!(fields(&s), ["settings.intake_url"]);
    }

    #[test]
    fn the_api_key_is_required_and_checked_as_a_token() {
        assert_eq!(
            SECRET.missing().map(|e| e.reason),
            Some("is required: a Datadog API key".to_string())
        );
        assert!(SECRET.check("0f6b2a1c-93d4-4e7a-b5c8-1d2e3f405162").is_ok());
        assert!(SECRET.check("short").is_err());
    }
}
