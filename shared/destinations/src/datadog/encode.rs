//! Datadog log entries: JSON arrays of at most 1000 entries and 5 MB
//! uncompressed per request. Each entry's `message` is the record as a JSON
//! string (Datadog parses JSON messages into attributes); `audit_log`
//! carries the id and type for facets.

use serde::Serialize;

use super::Settings;
use crate::batch::{pack, Bodies, Framing};
use crate::format::Record;

pub const MAX_ENTRIES: usize = 1000;
pub const MAX_BATCH_BYTES: usize = 5_000_000;

/// Every entry's `ddsource` and `hostname`: the events come from the audit
/// log, not from a machine.
pub const SOURCE: &str = "audit-log";
pub const HOSTNAME: &str = "audit-log";

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

fn entry(record: &Record, settings: &Settings, tags: &str) -> Vec<u8> {
    let entry = Entry {
        ddsource: SOURCE,
        ddtags: tags,
        hostname: HOSTNAME,
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
pub fn batches(records: &[Record], settings: &Settings) -> Bodies {
    let tags = settings.tags.join(",");
    let entries = records.iter().map(|r| entry(r, settings, &tags));
    pack(entries, Framing::JSON_ARRAY, MAX_ENTRIES, MAX_BATCH_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Format;
    use audit_domain::fixtures::many_events;
    use serde_json::Value;

    fn settings() -> Settings {
        Settings {
            site: "datadoghq.com".into(),
            service: "platform".into(),
            tags: vec!["env:prod".into(), "team:security".into()],
            intake_url: None,
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
        let bodies = batches(&records, &settings());
        let entry = &entries(&bodies[0])[0];
        assert_eq!(entry["ddsource"], "audit-log");
        assert_eq!(entry["ddtags"], "env:prod,team:security");
        assert_eq!(entry["hostname"], "audit-log");
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
        let no_tags = Settings {
            tags: Vec::new(),
            ..settings()
        };
        let bodies = batches(&records, &no_tags);
        assert!(entries(&bodies[0])[0].get("ddtags").is_none());
    }

    #[test]
    fn fifteen_hundred_events_go_in_requests_of_at_most_a_thousand() {
        let records = Record::encode_all(&many_events(1500), Format::Json);
        let bodies = batches(&records, &settings());
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
        let bodies = batches(&records, &settings());
        assert!(bodies.len() >= 2);
        assert!(bodies.iter().all(|b| b.len() <= MAX_BATCH_BYTES));
        assert_eq!(bodies.iter().map(|b| entries(b).len()).sum::<usize>(), 60);
    }
}
