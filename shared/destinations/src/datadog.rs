//! Datadog Logs API v2 (`POST /api/v2/logs`): JSON arrays of log entries,
//! at most 1000 entries and 5 MB uncompressed per request. Each entry's
//! `message` is the record as a JSON string (Datadog parses JSON messages
//! into attributes); `audit_log` carries the id and type for facets.

use serde::{Deserialize, Serialize};

use super::batch::{pack, Framing};
use super::format::Record;
use audit_domain::export::outcome::Outcome;

pub const MAX_ENTRIES: usize = 1000;
pub const MAX_BATCH_BYTES: usize = 5_000_000;

/// What a destination sets; the API key lives in Secrets Manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatadogSettings {
    pub service: String,
    /// `key:value` tags, sent as `ddtags`.
    #[serde(default)]
    pub tags: Vec<String>,
    pub host: String,
    pub source: String,
}

impl Default for DatadogSettings {
    fn default() -> Self {
        DatadogSettings {
            service: "audit-log".into(),
            tags: Vec::new(),
            host: "audit-log".into(),
            source: "audit-log".into(),
        }
    }
}

#[derive(Serialize)]
struct Entry<'a> {
    ddsource: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    ddtags: &'a str,
    hostname: &'a str,
    service: &'a str,
    message: String,
    audit_log: Attributes<'a>,
}

#[derive(Serialize)]
struct Attributes<'a> {
    event_id: &'a str,
    org_id: &'a str,
    action: &'a str,
    group: &'static str,
}

fn entry(record: &Record, settings: &DatadogSettings, tags: &str) -> Vec<u8> {
    let entry = Entry {
        ddsource: &settings.source,
        ddtags: tags,
        hostname: &settings.host,
        service: &settings.service,
        message: record.body.get().to_string(),
        audit_log: Attributes {
            event_id: record.id.as_str(),
            org_id: record.org_id.as_str(),
            action: record.action.as_str(),
            group: record.action.group().slug(),
        },
    };
    // Strings only: serialization cannot fail.
    serde_json::to_vec(&entry).unwrap_or_default()
}

/// Request bodies (JSON arrays) within Datadog's per-request limits.
pub fn datadog_batches(records: &[Record], settings: &DatadogSettings) -> Vec<Vec<u8>> {
    let tags = settings.tags.join(",");
    let entries = records.iter().map(|r| entry(r, settings, &tags));
    pack(entries, Framing::JSON_ARRAY, MAX_ENTRIES, MAX_BATCH_BYTES)
}

/// 202 accepted; 408, 429 and 5xx retried; anything else (400 bad
/// payload, 401/403 bad API key, 413 too large) is permanent.
pub fn classify_datadog(status: u16) -> Outcome {
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
    use crate::format::Format;
    use audit_domain::fixtures::many_events;
    use serde_json::Value;

    fn settings() -> DatadogSettings {
        DatadogSettings {
            service: "platform".into(),
            tags: vec!["env:prod".into(), "team:security".into()],
            host: "audit.example.com".into(),
            source: "audit-log".into(),
        }
    }

    fn entries(body: &[u8]) -> Vec<Value> {
        match serde_json::from_slice(body).unwrap() {
            Value::Array(entries) => entries,
            other => panic!("not an array: {other}"),
        }
    }

    #[test]
    fn entry_has_source_tags_host_service_and_the_record_as_a_json_string() {
        let records = Record::encode_all(&many_events(1), Format::Json);
        let bodies = datadog_batches(&records, &settings());
        let entry = &entries(&bodies[0])[0];
        assert_eq!(entry["ddsource"], "audit-log");
        assert_eq!(entry["ddtags"], "env:prod,team:security");
        assert_eq!(entry["hostname"], "audit.example.com");
        assert_eq!(entry["service"], "platform");
        let message: Value = serde_json::from_str(entry["message"].as_str().unwrap()).unwrap();
        assert_eq!(message, records[0].body_value());
        assert_eq!(entry["audit_log"]["event_id"], "evt_000000");
        assert_eq!(entry["audit_log"]["action"], "MODEL_DEPLOYED");
        assert_eq!(entry["audit_log"]["group"], "models");
    }

    #[test]
    fn no_tags_means_no_ddtags_field() {
        let records = Record::encode_all(&many_events(1), Format::Json);
        let bodies = datadog_batches(&records, &DatadogSettings::default());
        assert!(entries(&bodies[0])[0].get("ddtags").is_none());
    }

    #[test]
    fn fifteen_hundred_events_go_in_requests_of_at_most_a_thousand() {
        let records = Record::encode_all(&many_events(1500), Format::Json);
        let bodies = datadog_batches(&records, &settings());
        let counts: Vec<usize> = bodies.iter().map(|b| entries(b).len()).collect();
        assert_eq!(counts, [1000, 500]);
    }

    #[test]
    fn requests_stay_under_five_megabytes_uncompressed() {
        let mut records = Record::encode_all(&many_events(60), Format::Json);
        for r in &mut records {
            let mut body = r.body_value();
            body["metadata"]["blob"] = "x".repeat(100_000).into();
            r.body = crate::format::raw(&body);
        }
        let bodies = datadog_batches(&records, &settings());
        assert!(bodies.len() >= 2);
        assert!(bodies.iter().all(|b| b.len() <= MAX_BATCH_BYTES));
        assert_eq!(bodies.iter().map(|b| entries(b).len()).sum::<usize>(), 60);
    }

    #[test]
    fn accepted_is_delivered() {
        assert_eq!(classify_datadog(202), Outcome::Delivered);
    }

    #[test]
    fn timeouts_throttling_and_server_errors_are_retried() {
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(
                matches!(classify_datadog(status), Outcome::Transient(_)),
                "{status}"
            );
        }
    }

    #[test]
    fn bad_payload_bad_key_and_too_large_are_not_retried() {
        for status in [400, 401, 403, 413] {
            assert!(
                matches!(classify_datadog(status), Outcome::Permanent(_)),
                "{status}"
            );
        }
    }
}
