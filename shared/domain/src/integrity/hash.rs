//! The canonical encodings and the hashes built on them: an event's `hash`
//! and a period's `events_hash`. See the module docs of `integrity` for the
//! exact rules a customer follows to recompute them.

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::event::{Actor, Context, Event, Resource};

/// SHA-256 of the empty string: the `events_hash` of a period with no events.
pub const EMPTY_EVENTS_HASH: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// `value` as canonical JSON: object keys sorted by code point (byte order of
/// their UTF-8), no whitespace, strings escaped as JSON requires and nothing
/// more (non-ASCII stays UTF-8), numbers as serde_json writes them.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        // Scalars: serde_json's own compact form.
        other => out.push_str(&other.to_string()),
    }
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The fields of an event that its hash covers, as JSON: exactly the
/// corresponding fields of the API's event JSON.
pub fn event_hash_input(event: &Event) -> Value {
    json!({
        "org_id": event.org_id,
        "id": event.id,
        "action": event.action,
        "occurred_at": event.occurred_at,
        "recorded_at": event.recorded_at,
        "actor": event.actor,
        "resource": event.resource,
        "context": event.context,
        "metadata": event.metadata,
    })
}

/// The event's `hash`: hex SHA-256 of the canonical JSON of its hashed fields.
/// Written field by field (the same bytes as `canonical_json` of
/// `event_hash_input`, which copied the whole event into a `Value` first):
/// export computes one per event and destination.
pub fn event_hash(event: &Event) -> String {
    let mut w = CanonicalWriter::with_capacity(2048);
    // The nine fields in byte order of their names.
    w.raw(b"{\"action\":");
    w.str(event.action.as_str());
    w.raw(b",\"actor\":");
    w.actor(event.actor.as_ref());
    w.raw(b",\"context\":");
    w.context(&event.context);
    w.raw(b",\"id\":");
    w.str(event.id.as_str());
    w.raw(b",\"metadata\":");
    w.metadata(&event.metadata);
    w.raw(b",\"occurred_at\":");
    w.str(&event.occurred_at.to_rfc3339());
    w.raw(b",\"org_id\":");
    w.str(event.org_id.as_str());
    w.raw(b",\"recorded_at\":");
    w.str(&event.recorded_at.to_rfc3339());
    w.raw(b",\"resource\":");
    w.resource(&event.resource);
    w.raw(b"}");
    sha256_hex(&w.0)
}

/// Canonical JSON written by hand for the event model's own types: compact,
/// keys in byte order, absent optional fields left out, strings escaped as
/// serde_json escapes them. Since serde_json's `Map` is a `BTreeMap` (keys
/// in byte order), a metadata map serializes canonically as it is.
pub(crate) struct CanonicalWriter(pub(crate) Vec<u8>);

impl CanonicalWriter {
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        CanonicalWriter(Vec::with_capacity(bytes))
    }

    pub(crate) fn raw(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    pub(crate) fn str(&mut self, s: &str) {
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.0, s);
    }

    pub(crate) fn metadata(&mut self, metadata: &serde_json::Map<String, Value>) {
        let _ = serde_json::to_writer(&mut self.0, metadata);
    }

    pub(crate) fn actor(&mut self, actor: Option<&Actor>) {
        let Some(a) = actor else {
            return self.raw(b"null");
        };
        let mut o = self.object();
        o.field("email", a.email.as_deref());
        o.field("id", Some(a.id.as_str()));
        o.field("name", a.name.as_deref());
        o.field("type", Some(a.kind.as_str()));
        o.end();
    }

    pub(crate) fn context(&mut self, context: &Context) {
        let mut o = self.object();
        o.field("ip", context.ip.as_deref());
        o.field("request_id", context.request_id.as_deref());
        o.field("user_agent", context.user_agent.as_deref());
        o.end();
    }

    pub(crate) fn resource(&mut self, resource: &Resource) {
        let mut o = self.object();
        o.field("id", Some(resource.id.as_str()));
        o.field("name", resource.name.as_deref());
        o.field("type", Some(&resource.kind));
        o.end();
    }

    fn object(&mut self) -> CanonicalObject<'_> {
        self.raw(b"{");
        CanonicalObject {
            w: self,
            first: true,
        }
    }
}

/// An object of optional string fields, given in key order.
struct CanonicalObject<'a> {
    w: &'a mut CanonicalWriter,
    first: bool,
}

impl CanonicalObject<'_> {
    fn field(&mut self, key: &str, value: Option<&str>) {
        let Some(value) = value else { return };
        if !self.first {
            self.w.raw(b",");
        }
        self.first = false;
        self.w.str(key);
        self.w.raw(b":");
        self.w.str(value);
    }

    fn end(self) {
        self.w.raw(b"}");
    }
}

/// Recomputes an event's hash from its exported (or API) JSON record: the
/// same nine fields, picked from the record. `None` when the record is not
/// an object.
pub fn record_hash(record: &Value) -> Option<String> {
    let obj = record.as_object()?;
    let mut picked = serde_json::Map::new();
    for field in HASHED_FIELDS {
        picked.insert(
            field.to_string(),
            obj.get(field).cloned().unwrap_or(Value::Null),
        );
    }
    Some(sha256_hex(
        canonical_json(&Value::Object(picked)).as_bytes(),
    ))
}

/// The event fields an event hash covers.
pub const HASHED_FIELDS: [&str; 9] = [
    "org_id",
    "id",
    "action",
    "occurred_at",
    "recorded_at",
    "actor",
    "resource",
    "context",
    "metadata",
];

/// A period's `events_hash`: hex SHA-256 over the event hashes in recorded
/// order, each as its 64 hex characters followed by a line feed.
pub fn events_hash<'a>(hashes: impl IntoIterator<Item = &'a str>) -> String {
    let mut h = Sha256::new();
    for hash in hashes {
        h.update(hash.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// `events_hash` computed one event at a time, so a period is hashed page
/// by page in constant memory: the same value as `events_hash` over the
/// same hashes in the same order.
#[derive(Debug, Clone, Default)]
pub struct EventsHasher {
    hasher: Sha256,
    count: u64,
}

impl EventsHasher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next event's hash (recorded order).
    pub fn push(&mut self, hash: &str) {
        self.hasher.update(hash.as_bytes());
        self.hasher.update(b"\n");
        self.count += 1;
    }

    /// How many hashes were pushed: the period's `event_count`.
    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn finish(self) -> String {
        hex::encode(self.hasher.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{system_event, user_event};

    /// The hash as defined: canonical JSON of the hashed fields as a value.
    fn event_hash_as_defined(e: &Event) -> String {
        sha256_hex(canonical_json(&event_hash_input(e)).as_bytes())
    }

    #[test]
    fn event_hash_is_the_canonical_json_of_its_fields() {
        let mut odd = user_event();
        odd.metadata = serde_json::from_str(
            r#"{"z":[1,2.5,-3e40,null,{"b":1,"a":"\u0001é"}],"":"\"\\","ü":{"y":true,"x":{}}}"#,
        )
        .unwrap();
        odd.context = Context {
            ip: None,
            user_agent: Some("ua \u{2028} \u{1F600}".into()),
            request_id: None,
        };
        if let Some(a) = odd.actor.as_mut() {
            a.name = None;
        }
        odd.resource.name = Some("n\"ame".into());
        let mut bare = system_event();
        bare.metadata.clear();
        bare.context = Context::default();
        bare.resource.name = None;
        for e in [user_event(), system_event(), odd, bare] {
            assert_eq!(event_hash(&e), event_hash_as_defined(&e), "{e:?}");
        }
    }

    #[test]
    fn incremental_events_hash_equals_the_one_shot_hash() {
        let hashes: Vec<String> = (0..2500)
            .map(|i| sha256_hex(format!("{i}").as_bytes()))
            .collect();
        let mut h = EventsHasher::new();
        for x in &hashes {
            h.push(x);
        }
        assert_eq!(h.count(), 2500);
        assert_eq!(h.finish(), events_hash(hashes.iter().map(String::as_str)));
        assert_eq!(EventsHasher::new().finish(), EMPTY_EVENTS_HASH);
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth_and_has_no_whitespace() {
        let v = json!({"b": 1, "a": {"z": [1, {"y": true, "x": null}], "é": "ü\n"}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"z":[1,{"x":null,"y":true}],"é":"ü\n"},"b":1}"#
        );
    }

    #[test]
    fn empty_period_hash_is_the_hash_of_nothing() {
        assert_eq!(events_hash([]), EMPTY_EVENTS_HASH);
        assert_eq!(sha256_hex(b""), EMPTY_EVENTS_HASH);
    }

    #[test]
    fn events_hash_is_over_hex_lines() {
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        assert_eq!(
            events_hash([a.as_str(), b.as_str()]),
            sha256_hex(format!("{a}\n{b}\n").as_bytes())
        );
        assert_ne!(
            events_hash([a.as_str(), b.as_str()]),
            events_hash([b.as_str(), a.as_str()])
        );
    }

    #[test]
    fn the_api_view_rehashes_to_the_event_hash() {
        for e in [user_event(), system_event()] {
            let view = serde_json::to_value(e.view()).unwrap();
            assert_eq!(record_hash(&view).as_deref(), Some(event_hash(&e).as_str()));
            assert_eq!(view["hash"], event_hash(&e));
        }
    }

    #[test]
    fn any_changed_field_changes_the_hash() {
        let e = user_event();
        let mut m = e.clone();
        m.metadata.insert("x".into(), json!(1));
        assert_ne!(event_hash(&e), event_hash(&m));
        let mut r = e.clone();
        r.recorded_at = r.recorded_at.plus_millis(1);
        assert_ne!(event_hash(&e), event_hash(&r));
    }

    #[test]
    fn content_hash_is_not_part_of_the_event_hash() {
        let e = user_event();
        let mut c = e.clone();
        c.content_hash = "other".into();
        assert_eq!(event_hash(&e), event_hash(&c));
    }
}
