//! Webhook bodies: `{"type": "audit_log.events", "timestamp", "data":
//! [records]}`, at most 100 records and 256 KiB each.

use audit_domain::time::Timestamp;

use crate::batch::{pack, Bodies, Framing};
use crate::format::Record;

pub const EVENT_TYPE: &str = "audit_log.events";
pub const DEFAULT_MAX_EVENTS: usize = 100;
pub const DEFAULT_MAX_BYTES: usize = 256 * 1024;

/// Request bodies `{"type": "audit_log.events", "timestamp": <RFC 3339>,
/// "data": [records]}` of at most `max_events` records and `max_bytes`
/// bytes (a single oversize record goes alone).
pub fn batches(
    records: &[Record],
    timestamp: Timestamp,
    max_events: usize,
    max_bytes: usize,
) -> Bodies {
    let open = format!(
        r#"{{"type":"{EVENT_TYPE}","timestamp":"{}","data":["#,
        timestamp.to_rfc3339()
    );
    let framing = Framing {
        open: open.as_bytes(),
        separator: b",",
        close: b"]}",
    };
    let items = records.iter().map(|r| r.body.get().as_bytes().to_vec());
    pack(items, framing, max_events.max(1), max_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Format;
    use audit_domain::fixtures::{at, many_events};
    use serde_json::Value;

    #[test]
    fn batches_are_typed_timestamped_and_within_limits() {
        let records = Record::encode_all(&many_events(250), Format::Json);
        let ts = at("2026-11-28T09:01:00Z");
        let bodies = batches(&records, ts, 100, DEFAULT_MAX_BYTES);
        let mut ids = Vec::new();
        for body in bodies.iter() {
            assert!(body.len() <= DEFAULT_MAX_BYTES);
            let v: Value = serde_json::from_slice(body).unwrap();
            assert_eq!(v["type"], "audit_log.events");
            assert_eq!(v["timestamp"], "2026-11-28T09:01:00.000Z");
            let data = v["data"].as_array().unwrap();
            assert!(data.len() <= 100);
            ids.extend(data.iter().map(|r| r["id"].clone()));
        }
        assert_eq!(bodies.len(), 3);
        let expected: Vec<Value> = records.iter().map(|r| r.id.as_str().into()).collect();
        assert_eq!(ids, expected);
    }

    #[test]
    fn batches_split_on_bytes_before_count() {
        let records = Record::encode_all(&many_events(50), Format::Json);
        let ts = at("2026-11-28T09:01:00Z");
        let bodies = batches(&records, ts, 1000, 5_000);
        assert!(bodies.len() > 1);
        assert!(bodies.iter().all(|b| b.len() <= 5_000));
    }
}
