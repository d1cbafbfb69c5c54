//! What an admin configures on a destination (`DestinationSpec`, parsed
//! once from the API body): its name, type and settings, record format and
//! event filter.

use audit_domain::export::DestinationFilter;
use audit_domain::limits::MAX_NAME_LEN;
use audit_domain::problem::FieldError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::format::Format;
use crate::settings::DestinationSettings;
use crate::url_policy::UrlPolicy;

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
        if spec.name.trim().is_empty()
            || spec.name.chars().count() > MAX_NAME_LEN
            || spec.name.chars().any(char::is_control)
        {
            errors.push(FieldError::new(
                "name",
                "must be 1 to 256 characters without control characters",
            ));
        }
        errors.extend(spec.settings.validate(urls));
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

    #[test]
    fn each_type_parses_from_the_api_shape() {
        let bodies = [
            json!({"name": "lake", "type": "s3", "settings": {"bucket": "acme-audit", "prefix": "logs", "role_arn": "arn:aws:iam::123456789012:role/audit-export"}}),
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
    fn bad_settings_name_their_field() {
        let e = DestinationSpec::parse(
            &json!({"name": "", "type": "s3", "settings": {"bucket": "Bad_Bucket", "role_arn": "arn:aws:iam::123456789012:role/audit-export"}}),
            STRICT,
        )
        .unwrap_err();
        let fields: Vec<_> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "settings.bucket"]);
    }

    /// Exactly what the control table holds today (and the API shows): each
    /// reads back and writes out byte for byte.
    const STORED: [&str; 7] = [
        r#"{"name":"lake","type":"s3","settings":{"bucket":"acme-audit","prefix":""},"format":"json","filter":{}}"#,
        r#"{"name":"lake","type":"s3","settings":{"bucket":"acme-audit","prefix":"logs/audit","region":"eu-west-1","role_arn":"arn:aws:iam::123456789012:role/audit-export"},"format":"json","filter":{"groups":["users"],"actions":["MODEL_DEPLOYED"]}}"#,
        r#"{"name":"dd","type":"datadog","settings":{"site":"datadoghq.eu","service":"audit-log","tags":[]},"format":"json","filter":{}}"#,
        r#"{"name":"dd","type":"datadog","settings":{"site":"datadoghq.com","service":"platform","tags":["env:prod","team:sec"],"intake_url":"https://dd-proxy.example.com"},"format":"ocsf","filter":{}}"#,
        r#"{"name":"hec","type":"splunk","settings":{"url":"https://splunk.example.com:8088","source":"audit-log","sourcetype":"audit_log:event"},"format":"json","filter":{}}"#,
        r#"{"name":"hec","type":"splunk","settings":{"url":"https://splunk.example.com:8088","index":"audit","source":"src","sourcetype":"st"},"format":"json","filter":{}}"#,
        r#"{"name":"hook","type":"webhook","settings":{"url":"https://hooks.example.com/audit"},"format":"json","filter":{}}"#,
    ];

    #[test]
    fn what_the_control_table_stores_reads_and_writes_unchanged() {
        for stored in STORED {
            let spec: DestinationSpec = serde_json::from_str(stored).expect(stored);
            assert_eq!(serde_json::to_string(&spec).unwrap(), stored);
            // An S3 destination stored without a role (before roles were
            // required) still reads; only local development creates one now.
            let policy = UrlPolicy {
                allow_private: stored.contains(r#""type":"s3""#) && !stored.contains("role_arn"),
            };
            let parsed = DestinationSpec::parse(&serde_json::from_str(stored).unwrap(), policy);
            assert_eq!(parsed, Ok(spec), "{stored}");
        }
    }

    #[test]
    fn defaults_fill_what_a_body_leaves_out() {
        let spec = DestinationSpec::parse(
            &json!({"name": "hec", "type": "splunk", "settings": {"url": "https://splunk.example.com:8088"}}),
            STRICT,
        )
        .unwrap();
        assert_eq!(serde_json::to_string(&spec).unwrap(), STORED[4]);
    }

    #[test]
    fn settings_that_are_not_an_object_are_refused_as_before() {
        for kind in ["s3", "datadog", "splunk", "webhook"] {
            let variant = match kind {
                "s3" => "S3",
                "datadog" => "Datadog",
                "splunk" => "Splunk",
                _ => "Webhook",
            };
            for (settings, got) in [
                (json!(null), "null"),
                (json!("x"), "string \"x\""),
                (json!([]), "sequence"),
                (json!(["acme-audit"]), "sequence"),
            ] {
                let body = json!({"name": "x", "type": kind, "settings": settings});
                let e = DestinationSpec::parse(&body, STRICT).unwrap_err();
                assert_eq!(e[0].field, "body", "{body}");
                assert_eq!(
                    e[0].reason,
                    format!("invalid type: {got}, expected struct variant DestinationSettings::{variant}"),
                    "{body}"
                );
            }
        }
        let e = DestinationSpec::parse(&json!({"name": "x", "type": "s3", "settings": {}}), STRICT)
            .unwrap_err();
        assert_eq!(
            (e[0].field.as_str(), e[0].reason.as_str()),
            ("bucket", "missing field `bucket`")
        );
    }
}
