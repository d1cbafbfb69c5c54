//! Splunk HTTP Event Collector: one `{"time", "host", "source", "sourcetype",
//! "index", "event"}` envelope per event, envelopes concatenated into request
//! bodies of about 1 MB, and the HEC reply codes classified.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::batch::{pack, Framing};
use super::format::Record;
use audit_domain::export::outcome::{classify_http, Outcome};

/// Splunk's recommended ceiling for one HEC request.
pub const DEFAULT_MAX_BYTES: usize = 1024 * 1024;

/// Envelope fields a destination sets; the token lives in Secrets Manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HecSettings {
    pub host: String,
    pub source: String,
    pub sourcetype: String,
    /// `None` sends to the token's default index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
}

impl Default for HecSettings {
    fn default() -> Self {
        HecSettings {
            host: "audit-log".into(),
            source: "audit-log".into(),
            sourcetype: "_json".into(),
            index: None,
        }
    }
}

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
pub fn envelope(record: &Record, settings: &HecSettings) -> Vec<u8> {
    let envelope = Envelope {
        // Exact: 13-digit millis are far inside f64's 15 significant digits.
        time: record.occurred_at.millis() as f64 / 1000.0,
        host: &settings.host,
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
pub fn hec_batches(records: &[Record], settings: &HecSettings, max_bytes: usize) -> Vec<Vec<u8>> {
    let envelopes = records.iter().map(|r| envelope(r, settings));
    pack(envelopes, Framing::LINES, usize::MAX, max_bytes)
}

/// HEC's reply body, e.g. `{"text":"Success","code":0}`.
#[derive(Deserialize)]
struct HecReply {
    #[serde(default)]
    text: String,
    code: Option<u32>,
}

/// Classifies an HEC answer. Token errors (codes 1–4) are never retried;
/// "internal error" and "server busy" (codes 8, 9) always are; otherwise the
/// status decides as for any HTTP destination.
pub fn classify_hec(status: u16, body: &str) -> Outcome {
    let reply = serde_json::from_str::<HecReply>(body).ok();
    let code = reply.as_ref().and_then(|r| r.code);
    let reason = match (&reply, code) {
        (Some(r), Some(code)) => {
            let text: String = r.text.chars().take(200).collect();
            format!("HTTP {status}: {text} (HEC code {code})")
        }
        _ => format!("HTTP {status}"),
    };
    match (status, code) {
        (_, Some(1..=4)) => Outcome::Permanent(reason),
        (_, Some(8 | 9)) => Outcome::Transient(reason),
        _ => match classify_http(status) {
            Outcome::Delivered => Outcome::Delivered,
            Outcome::Transient(_) => Outcome::Transient(reason),
            Outcome::Permanent(_) => Outcome::Permanent(reason),
        },
    }
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

    fn parse_all(body: &[u8]) -> Vec<Value> {
        serde_json::Deserializer::from_slice(body)
            .into_iter::<Value>()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn envelope_carries_epoch_seconds_with_milliseconds_as_a_number() {
        let bytes = envelope(&record(), &HecSettings::default());
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
        let bytes = envelope(&r, &HecSettings::default());
        assert!(bytes.starts_with(br#"{"time":1764322200.123,"#));
    }

    #[test]
    fn index_is_omitted_unless_set() {
        let default = envelope(&record(), &HecSettings::default());
        let v: Value = serde_json::from_slice(&default).unwrap();
        assert!(v.get("index").is_none());
        let settings = HecSettings {
            index: Some("audit".into()),
            ..HecSettings::default()
        };
        let v: Value = serde_json::from_slice(&envelope(&record(), &settings)).unwrap();
        assert_eq!(v["index"], "audit");
    }

    #[test]
    fn requests_stay_under_the_byte_limit_and_keep_every_event_in_order() {
        let records = Record::encode_all(&many_events(300), Format::Ocsf);
        let max = 20_000;
        let bodies = hec_batches(&records, &HecSettings::default(), max);
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
        let bodies = hec_batches(&records, &HecSettings::default(), 10);
        assert_eq!(bodies.len(), 3);
    }

    #[test]
    fn success_reply_is_delivered() {
        assert_eq!(
            classify_hec(200, r#"{"text":"Success","code":0}"#),
            Outcome::Delivered
        );
    }

    #[test]
    fn busy_or_failing_server_is_retried() {
        for (status, body) in [
            (503, r#"{"text":"Server is busy","code":9}"#),
            (500, r#"{"text":"Internal server error","code":8}"#),
            (503, ""),
            (429, ""),
            (408, ""),
        ] {
            assert!(
                matches!(classify_hec(status, body), Outcome::Transient(_)),
                "{status} {body}"
            );
        }
    }

    #[test]
    fn token_errors_are_never_retried() {
        for (status, body) in [
            (403, r#"{"text":"Token disabled","code":1}"#),
            (401, r#"{"text":"Token is required","code":2}"#),
            (401, r#"{"text":"Invalid authorization","code":3}"#),
            (403, r#"{"text":"Invalid token","code":4}"#),
            (400, r#"{"text":"Invalid data format","code":6}"#),
            (401, ""),
        ] {
            assert!(
                matches!(classify_hec(status, body), Outcome::Permanent(_)),
                "{status} {body}"
            );
        }
    }

    #[test]
    fn reason_quotes_the_hec_reply() {
        assert_eq!(
            classify_hec(403, r#"{"text":"Invalid token","code":4}"#),
            Outcome::Permanent("HTTP 403: Invalid token (HEC code 4)".into())
        );
    }

    proptest! {
        #[test]
        fn time_is_exact_to_the_millisecond(ms in 0_i64..=9_999_999_999_999) {
            let r = Record { occurred_at: Timestamp::from_millis(ms).unwrap(), ..record() };
            let v: Value = serde_json::from_slice(&envelope(&r, &HecSettings::default())).unwrap();
            let text = v["time"].to_string();
            let (secs, frac) = text.split_once('.').unwrap_or((&text, "0"));
            prop_assert_eq!(secs.parse::<i64>().unwrap(), ms / 1000);
            prop_assert_eq!(format!("{frac:0<3}").parse::<i64>().unwrap(), ms % 1000);
        }
    }
}
