//! HEC envelopes: one `{"time", "host", "source", "sourcetype", "index",
//! "event"}` per event, concatenated into request bodies of about 1 MB.

use serde::Serialize;
use serde_json::value::RawValue;

use super::Settings;
use crate::batch::{pack, Bodies, Framing};
use crate::format::Record;

/// Splunk's recommended ceiling for one HEC request.
pub const DEFAULT_MAX_BYTES: usize = 1024 * 1024;

/// The envelope's `host`: the events come from the audit log, not a machine.
pub const HOST: &str = "audit-log";

#[derive(Serialize)]
struct Envelope<'a> {
    /// Epoch seconds with a millisecond fraction, as HEC expects.
    time: f64,
    host: &'a str,
    source: &'a str,
    sourcetype: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<&'a str>,
    event: &'a RawValue,
}

/// One event's HEC envelope, as bytes.
pub fn envelope(record: &Record, settings: &Settings) -> Vec<u8> {
    let envelope = Envelope {
        // Exact: 13-digit millis are far inside f64's 15 significant digits.
        time: record.occurred_at.millis() as f64 / 1000.0,
        host: HOST,
        source: &settings.source,
        sourcetype: &settings.sourcetype,
        index: settings.index.as_deref(),
        event: &record.body,
    };
    // Strings, a finite float and a JSON value always serialize.
    serde_json::to_vec(&envelope).unwrap_or_default()
}

/// Request bodies of newline-separated envelopes, each at most `max_bytes`
/// unless a single envelope is bigger on its own.
pub fn batches(records: &[Record], settings: &Settings, max_bytes: usize) -> Bodies {
    let envelopes = records.iter().map(|r| envelope(r, settings));
    pack(envelopes, Framing::LINES, usize::MAX, max_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Format;
    use audit_domain::fixtures::{many_events, user_event};
    use audit_domain::time::Timestamp;
    use proptest::prelude::*;
    use serde_json::Value;

    fn record() -> Record {
        Record::encode(&user_event(), Format::Json)
    }

    /// Sends to the token's default index with the `_json` sourcetype.
    fn settings() -> Settings {
        Settings {
            url: "https://splunk.example.com:8088".into(),
            index: None,
            source: "audit-log".into(),
            sourcetype: "_json".into(),
        }
    }

    fn parse_all(body: &[u8]) -> Vec<Value> {
        serde_json::Deserializer::from_slice(body)
            .into_iter::<Value>()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn envelope_carries_epoch_seconds_with_milliseconds_as_a_number() {
        let bytes = envelope(&record(), &settings());
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with(r#"{"time":1795858200.123,"#), "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["host"], "audit-log");
        assert_eq!(v["sourcetype"], "_json");
        assert_eq!(v["event"]["id"], "evt_user_1");
        let r = Record {
            occurred_at: Timestamp::parse("2025-11-28T09:30:00.123Z").unwrap(),
            ..record()
        };
        let bytes = envelope(&r, &settings());
        assert!(bytes.starts_with(br#"{"time":1764322200.123,"#));
    }

    #[test]
    fn index_is_omitted_unless_set() {
        let default = envelope(&record(), &settings());
        let v: Value = serde_json::from_slice(&default).unwrap();
        assert!(v.get("index").is_none());
        let settings = Settings {
            index: Some("audit".into()),
            ..settings()
        };
        let v: Value = serde_json::from_slice(&envelope(&record(), &settings)).unwrap();
        assert_eq!(v["index"], "audit");
    }

    #[test]
    fn requests_stay_under_the_byte_limit_and_keep_every_event_in_order() {
        let records = Record::encode_all(&many_events(300), Format::Ocsf);
        let max = 20_000;
        let bodies = batches(&records, &settings(), max);
        assert!(bodies.len() > 1);
        assert!(bodies.iter().all(|b| b.len() <= max));
        let ids: Vec<Value> = bodies
            .iter()
            .flat_map(|b| parse_all(b))
            .map(|e| e["event"]["metadata"]["uid"].clone())
            .collect();
        let expected: Vec<Value> = records.iter().map(|r| r.id.as_str().into()).collect();
        assert_eq!(ids, expected);
    }

    #[test]
    fn one_envelope_bigger_than_the_limit_is_sent_alone() {
        let records = Record::encode_all(&many_events(3), Format::Json);
        let bodies = batches(&records, &settings(), 10);
        assert_eq!(bodies.len(), 3);
    }

    proptest! {
        #[test]
        fn time_is_exact_to_the_millisecond(ms in 0_i64..=9_999_999_999_999) {
            let r = Record { occurred_at: Timestamp::from_millis(ms).unwrap(), ..record() };
            let v: Value = serde_json::from_slice(&envelope(&r, &settings())).unwrap();
            let text = v["time"].to_string();
            let (secs, frac) = text.split_once('.').unwrap_or((&text, "0"));
            prop_assert_eq!(secs.parse::<i64>().unwrap(), ms / 1000);
            prop_assert_eq!(format!("{frac:0<3}").parse::<i64>().unwrap(), ms % 1000);
        }
    }
}
