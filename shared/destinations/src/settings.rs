//! What an admin configures on a destination (`DestinationSpec`, parsed
//! once from the API body): its name, type and settings, record format and
//! event filter; and the policy every destination URL must pass.

use std::net::IpAddr;

use audit_domain::export::DestinationFilter;
use audit_domain::limits::MAX_NAME_LEN;
use audit_domain::problem::FieldError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::format::Format;

/// Where events go and how to reach it (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "settings", rename_all = "snake_case")]
pub enum DestinationSettings {
    S3 {
        bucket: String,
        #[serde(default)]
        prefix: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        region: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        role_arn: Option<String>,
    },
    Datadog {
        /// e.g. `datadoghq.com`, `datadoghq.eu`, `us5.datadoghq.com`.
        site: String,
        #[serde(default = "default_service")]
        service: String,
        #[serde(default)]
        tags: Vec<String>,
        /// Overrides `https://http-intake.logs.<site>` (proxies, tests).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        intake_url: Option<String>,
    },
    Splunk {
        /// The HEC base URL, e.g. `https://splunk.example.com:8088`.
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        index: Option<String>,
        #[serde(default = "default_service")]
        source: String,
        #[serde(default = "default_sourcetype")]
        sourcetype: String,
    },
    Webhook {
        url: String,
    },
}

fn default_service() -> String {
    "audit-log".into()
}

fn default_sourcetype() -> String {
    "audit_log:event".into()
}

impl DestinationSettings {
    pub fn kind(&self) -> &'static str {
        match self {
            DestinationSettings::S3 { .. } => "s3",
            DestinationSettings::Datadog { .. } => "datadog",
            DestinationSettings::Splunk { .. } => "splunk",
            DestinationSettings::Webhook { .. } => "webhook",
        }
    }

    /// Datadog API key, HEC token, webhook signing secret; S3 uses IAM.
    pub fn needs_secret(&self) -> bool {
        !matches!(self, DestinationSettings::S3 { .. })
    }
}

/// What an admin sets on a destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationSpec {
    pub name: String,
    #[serde(flatten)]
    pub settings: DestinationSettings,
    #[serde(default)]
    pub format: Format,
    #[serde(default)]
    pub filter: DestinationFilter,
}

/// Whether destination URLs may be plain http or point at private
/// addresses: only for local development and tests
/// (`AUDIT_ALLOW_PRIVATE_DESTINATIONS=true`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlPolicy {
    pub allow_private: bool,
}

impl UrlPolicy {
    pub fn from_env() -> Self {
        UrlPolicy {
            allow_private: std::env::var("AUDIT_ALLOW_PRIVATE_DESTINATIONS")
                .is_ok_and(|v| v == "true"),
        }
    }

    /// https with a host that is not an IP literal in a private, loopback
    /// or link-local range (the metadata service among them).
    pub fn check(&self, url: &str) -> Result<(), String> {
        let parsed = url::Url::parse(url).map_err(|_| "must be an absolute URL".to_string())?;
        if self.allow_private {
            return match parsed.scheme() {
                "https" | "http" => Ok(()),
                _ => Err("must be an http(s) URL".into()),
            };
        }
        if parsed.scheme() != "https" {
            return Err("must use https".into());
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err("must not contain credentials".into());
        }
        let host = parsed.host_str().ok_or("must have a host")?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.eq_ignore_ascii_case("localhost")
            || host.ends_with(".localhost")
            || host.ends_with(".internal")
        {
            return Err("must point at a public address".into());
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            if !is_public(ip) {
                return Err("must point at a public address".into());
            }
        }
        Ok(())
    }
}

/// Whether an address is on the public internet (not loopback, private,
/// link-local — the metadata service —, CGNAT, documentation or unspecified).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1])
                || v4.octets()[0] == 0)
        }
        IpAddr::V6(v6) => {
            let seg0 = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (seg0 & 0xfe00) == 0xfc00
                || (seg0 & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| !is_public(IpAddr::V4(v4))))
        }
    }
}

const MAX_TAGS: usize = 20;
const MAX_SETTING_LEN: usize = 512;

impl DestinationSpec {
    /// Parses and checks an API body (the secret, if any, is read separately).
    pub fn parse(body: &Value, urls: UrlPolicy) -> Result<Self, Vec<FieldError>> {
        let mut body = body.clone();
        if let Value::Object(m) = &mut body {
            m.remove("secret");
            m.remove("enabled");
        }
        let spec: DestinationSpec = serde_json::from_value(body)
            .map_err(|e| vec![FieldError::new(serde_field(&e.to_string()), e.to_string())])?;
        let mut errors = Vec::new();
        let mut err = |field: &str, reason: &str| errors.push(FieldError::new(field, reason));
        if spec.name.trim().is_empty()
            || spec.name.chars().count() > MAX_NAME_LEN
            || spec.name.chars().any(char::is_control)
        {
            err(
                "name",
                "must be 1 to 256 characters without control characters",
            );
        }
        let too_long =
            |s: &str| s.is_empty() || s.len() > MAX_SETTING_LEN || s.chars().any(char::is_control);
        match &spec.settings {
            DestinationSettings::S3 {
                bucket,
                prefix,
                region,
                role_arn,
            } => {
                let bucket_ok = (3..=63).contains(&bucket.len())
                    && bucket.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'
                    });
                if !bucket_ok {
                    err(
                        "settings.bucket",
                        "must be an S3 bucket name (3-63 lower-case letters, digits, '.', '-')",
                    );
                }
                if prefix.len() > MAX_SETTING_LEN
                    || prefix.starts_with('/')
                    || prefix.chars().any(char::is_control)
                {
                    err(
                        "settings.prefix",
                        "must be at most 512 characters and not start with '/'",
                    );
                }
                if region.as_deref().is_some_and(too_long) {
                    err("settings.region", "must be an AWS region such as us-east-1");
                }
                if role_arn.as_deref().is_some_and(|a| {
                    !a.starts_with("arn:aws") || !a.contains(":role/") || too_long(a)
                }) {
                    err("settings.role_arn", "must be an IAM role ARN");
                }
            }
            DestinationSettings::Datadog {
                site,
                service,
                tags,
                intake_url,
            } => {
                if too_long(site) || !site.contains('.') || site.contains('/') {
                    err(
                        "settings.site",
                        "must be a Datadog site such as datadoghq.com",
                    );
                }
                if too_long(service) {
                    err("settings.service", "must be 1 to 512 characters");
                }
                if tags.len() > MAX_TAGS || tags.iter().any(|t| too_long(t) || t.contains(',')) {
                    err(
                        "settings.tags",
                        "must be at most 20 key:value tags without commas",
                    );
                }
                if let Some(u) = intake_url {
                    if let Err(reason) = urls.check(u) {
                        err("settings.intake_url", &reason);
                    }
                }
            }
            DestinationSettings::Splunk {
                url,
                index,
                source,
                sourcetype,
            } => {
                if let Err(reason) = urls.check(url) {
                    err("settings.url", &reason);
                }
                if index.as_deref().is_some_and(too_long) {
                    err("settings.index", "must be 1 to 512 characters");
                }
                if too_long(source) || too_long(sourcetype) {
                    err(
                        "settings.source",
                        "source and sourcetype must be 1 to 512 characters",
                    );
                }
            }
            DestinationSettings::Webhook { url } => {
                if let Err(reason) = urls.check(url) {
                    err("settings.url", &reason);
                }
            }
        }
        if errors.is_empty() {
            Ok(spec)
        } else {
            Err(errors)
        }
    }
}

/// Best effort: the field serde complained about, for the problem's `errors`.
fn serde_field(message: &str) -> String {
    if let Some(rest) = message.split("missing field `").nth(1) {
        return rest.split('`').next().unwrap_or("body").to_string();
    }
    if message.contains("unknown variant") {
        // The expected variants tell which enum it was.
        let field = if message.contains("`webhook`") {
            "type"
        } else if message.contains("`ocsf`") {
            "format"
        } else if message.contains("`models`") {
            "filter.groups"
        } else if message.contains("`MODEL_DEPLOYED`") {
            "filter.actions"
        } else {
            "body"
        };
        return field.to_string();
    }
    "body".into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const STRICT: UrlPolicy = UrlPolicy {
        allow_private: false,
    };
    const LOCAL: UrlPolicy = UrlPolicy {
        allow_private: true,
    };

    #[test]
    fn each_type_parses_from_the_api_shape() {
        let bodies = [
            json!({"name": "lake", "type": "s3", "settings": {"bucket": "acme-audit", "prefix": "logs"}}),
            json!({"name": "dd", "type": "datadog", "settings": {"site": "datadoghq.eu", "tags": ["env:prod"]}, "format": "ocsf"}),
            json!({"name": "splunk", "type": "splunk", "settings": {"url": "https://splunk.example.com:8088", "index": "audit"}}),
            json!({"name": "hook", "type": "webhook", "settings": {"url": "https://hooks.example.com/audit"}, "filter": {"groups": ["users"]}}),
        ];
        for body in bodies {
            let spec =
                DestinationSpec::parse(&body, STRICT).unwrap_or_else(|e| panic!("{body}: {e:?}"));
            assert_eq!(spec.settings.kind(), body["type"]);
            let back = serde_json::to_value(&spec).unwrap();
            assert_eq!(back["type"], body["type"]);
        }
    }

    #[test]
    fn unknown_group_action_or_format_names_its_field() {
        let base =
            json!({"name": "x", "type": "webhook", "settings": {"url": "https://h.example.com"}});
        for (key, value, field) in [
            ("filter", json!({"groups": ["nope"]}), "filter.groups"),
            ("filter", json!({"actions": ["NOPE"]}), "filter.actions"),
            ("format", json!("xml"), "format"),
        ] {
            let mut body = base.clone();
            body[key] = value;
            let e = DestinationSpec::parse(&body, STRICT).unwrap_err();
            assert_eq!(e[0].field, field, "{body}");
        }
    }

    #[test]
    fn unknown_type_names_the_type_field() {
        let e =
            DestinationSpec::parse(&json!({"name": "x", "type": "ftp", "settings": {}}), STRICT)
                .unwrap_err();
        assert_eq!(e[0].field, "type");
    }

    #[test]
    fn plain_http_and_private_addresses_are_refused() {
        for url in [
            "http://hooks.example.com/x",
            "https://127.0.0.1/x",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.5/x",
            "https://[::1]/x",
            "https://[fd00::1]/x",
            "https://localhost:8088",
            "https://user:pw@hooks.example.com/",
        ] {
            assert!(STRICT.check(url).is_err(), "{url}");
        }
        assert!(STRICT.check("https://hooks.example.com/audit").is_ok());
        assert!(LOCAL.check("http://127.0.0.1:9999/x").is_ok());
        assert!(LOCAL.check("ftp://127.0.0.1/x").is_err());
    }

    #[test]
    fn bad_settings_name_their_field() {
        let e = DestinationSpec::parse(
            &json!({"name": "", "type": "s3", "settings": {"bucket": "Bad_Bucket"}}),
            STRICT,
        )
        .unwrap_err();
        let fields: Vec<_> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "settings.bucket"]);
    }
}
