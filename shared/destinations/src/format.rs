//! Record formats a destination can ask for: the native JSON view or OCSF,
//! and `Record`, one encoded event with the few fields envelopes need.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use audit_domain::catalog::Action;
use audit_domain::event::Event;
use audit_domain::ids::{EventId, OrgId};
use audit_domain::time::Timestamp;

use super::ocsf;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// The event exactly as `GET /v1/events` returns it.
    #[default]
    Json,
    /// OCSF 1.1 API Activity (class 6003).
    Ocsf,
}

/// Encodes one event in the destination's format.
pub fn encode_record(event: &Event, format: Format) -> Value {
    match format {
        // The view has string keys and no floats, so it always serializes.
        Format::Json => serde_json::to_value(event.view()).unwrap_or_default(),
        Format::Ocsf => ocsf::api_activity(event),
    }
}

/// One event encoded for export, with what destination envelopes carry
/// beside the body (HEC `time`, Datadog attributes). The body is kept as its
/// compact JSON text: a job holds thousands of records at once, and a
/// `Value` tree costs several times the text's size in memory.
#[derive(Debug, Clone)]
pub struct Record {
    pub id: EventId,
    pub org_id: OrgId,
    pub action: Action,
    pub occurred_at: Timestamp,
    pub body: Box<RawValue>,
}

impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        (
            &self.id,
            &self.org_id,
            self.action,
            self.occurred_at,
            self.body.get(),
        ) == (
            &other.id,
            &other.org_id,
            other.action,
            other.occurred_at,
            other.body.get(),
        )
    }
}

/// A value's compact JSON text.
pub fn raw(value: &Value) -> Box<RawValue> {
    serde_json::value::to_raw_value(value)
        .unwrap_or_else(|_| unreachable!("a JSON value always serializes"))
}

impl Record {
    pub fn encode(event: &Event, format: Format) -> Self {
        Record {
            id: event.id.clone(),
            org_id: event.org_id.clone(),
            action: event.action,
            occurred_at: event.occurred_at,
            body: raw(&encode_record(event, format)),
        }
    }

    pub fn encode_all(events: &[Event], format: Format) -> Vec<Self> {
        events.iter().map(|e| Record::encode(e, format)).collect()
    }

    /// The body as a JSON value.
    pub fn body_value(&self) -> Value {
        serde_json::from_str(self.body.get()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_domain::fixtures::{system_event, user_event};

    #[test]
    fn format_names_are_snake_case() {
        assert_eq!(serde_json::to_value(Format::Json).unwrap(), "json");
        assert_eq!(
            serde_json::from_str::<Format>("\"ocsf\"").unwrap(),
            Format::Ocsf
        );
        assert!(serde_json::from_str::<Format>("\"OCSF\"").is_err());
    }

    #[test]
    fn json_record_is_the_api_view_with_description_and_group() {
        let record = encode_record(&user_event(), Format::Json);
        assert_eq!(record["id"], "evt_user_1");
        assert_eq!(record["action"], "MODEL_DEPLOYED");
        assert_eq!(record["group"], "models");
        assert_eq!(record["description"], user_event().description().as_str());
        assert_eq!(record["occurred_at"], "2026-11-28T09:30:00.123Z");
    }

    #[test]
    fn json_record_of_a_system_event_has_no_actor() {
        let record = encode_record(&system_event(), Format::Json);
        assert!(record["actor"].is_null());
        assert!(record["description"]
            .as_str()
            .unwrap()
            .starts_with("System "));
    }

    #[test]
    fn a_record_body_is_the_compact_json_of_its_encoding() {
        for format in [Format::Json, Format::Ocsf] {
            let r = Record::encode(&user_event(), format);
            let value = encode_record(&user_event(), format);
            assert_eq!(r.body.get(), value.to_string());
            assert_eq!(r.body_value(), value);
        }
    }

    #[test]
    fn record_keeps_the_stable_event_id_for_deduplication() {
        let r = Record::encode(&user_event(), Format::Ocsf);
        assert_eq!(r.id.as_str(), "evt_user_1");
        assert_eq!(r.body_value()["metadata"]["uid"], "evt_user_1");
    }
}
