//! Parsing a producer's JSON into a `NewEvent`. Every rule and limit lives
//! here, and every problem is reported with the field it concerns, so a
//! producer can fix all of them in one go.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::catalog::Action;
use crate::event::{Actor, ActorType, Context, NewEvent, Resource};
use crate::ids::{ActorId, EventId, IdError, ResourceId};
use crate::integrity::hash::CanonicalWriter;
use crate::limits::*;
pub use crate::problem::FieldError;
use crate::time::Timestamp;

/// What a request body holds: one event or a batch.
#[derive(Debug)]
pub enum Submission {
    One(Value),
    Batch(Vec<Value>),
}

/// Splits a body into one event or a batch, enforcing the batch limit.
pub fn parse_submission(body: &[u8]) -> Result<Submission, FieldError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(FieldError::new(
            "body",
            format!("must be at most {MAX_BODY_BYTES} bytes"),
        ));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| FieldError::new("body", format!("is not valid JSON: {e}")))?;
    let Value::Object(mut obj) = value else {
        return Err(FieldError::new(
            "body",
            "must be a JSON object: one event, or {\"events\": [...]}",
        ));
    };
    if let Some(events) = obj.remove("events") {
        if !obj.is_empty() {
            return Err(FieldError::new(
                "body",
                "a batch must contain only the \"events\" field",
            ));
        }
        let Value::Array(events) = events else {
            return Err(FieldError::new("events", "must be an array of events"));
        };
        if events.is_empty() {
            return Err(FieldError::new("events", "must contain at least one event"));
        }
        if events.len() > MAX_BATCH_EVENTS {
            return Err(FieldError::new(
                "events",
                format!(
                    "must contain at most {MAX_BATCH_EVENTS} events (got {})",
                    events.len()
                ),
            ));
        }
        return Ok(Submission::Batch(events));
    }
    Ok(Submission::One(Value::Object(obj)))
}

const EVENT_FIELDS: &[&str] = &[
    "id",
    "action",
    "occurred_at",
    "actor",
    "resource",
    "context",
    "metadata",
];

/// Parses one event. `prefix` is prepended to field names (`events[3].`).
pub fn parse_event(
    value: &Value,
    now: Timestamp,
    prefix: &str,
) -> Result<NewEvent, Vec<FieldError>> {
    let mut new = check_event(value, now, prefix)?;
    if let Some(Value::Object(metadata)) = value.get("metadata") {
        new.metadata = metadata.clone();
    }
    Ok(new)
}

/// Parses one event as `parse_event` does, and when it is valid moves its
/// metadata out of `value` instead of copying it (the metadata is most of an
/// event; ingest has no further use for the submitted value).
pub fn take_event(
    value: &mut Value,
    now: Timestamp,
    prefix: &str,
) -> Result<NewEvent, Vec<FieldError>> {
    let mut new = check_event(value, now, prefix)?;
    if let Some(Value::Object(metadata)) = value.get_mut("metadata").map(Value::take) {
        new.metadata = metadata;
    }
    Ok(new)
}

/// Every rule, and the content hash; the event's metadata is left empty for
/// the caller to fill in.
fn check_event(value: &Value, now: Timestamp, prefix: &str) -> Result<NewEvent, Vec<FieldError>> {
    let mut p = Parser {
        prefix,
        errors: Vec::new(),
    };
    let Some(obj) = value.as_object() else {
        let field = prefix.trim_end_matches('.');
        return Err(vec![FieldError::new(
            if field.is_empty() { "body" } else { field },
            "must be a JSON object",
        )]);
    };
    for key in obj.keys() {
        if !EVENT_FIELDS.contains(&key.as_str()) {
            p.error::<()>(key, "is not a known field");
        }
    }

    let id = match obj.get("id") {
        None | Some(Value::Null) => None,
        Some(v) => p.id("id", v, EventId::parse),
    };
    let action = match obj.get("action") {
        Some(Value::String(s)) => {
            let parsed = Action::parse(s);
            if parsed.is_some_and(Action::is_self_audit) {
                p.error::<()>(
                    "action",
                    "is recorded by the audit log itself and cannot be sent by a producer",
                );
                return Err(p.errors);
            }
            if parsed.is_none() {
                p.error::<()>(
                    "action",
                    "is not a known event type (see GET /v1/event-types)",
                );
            }
            parsed
        }
        Some(_) => p.error("action", "must be a string"),
        None => p.error("action", "is required"),
    };
    let occurred_at = match obj.get("occurred_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match Timestamp::parse(s) {
            Ok(t) if t.millis() < MIN_OCCURRED_AT_MILLIS => {
                p.error("occurred_at", "must not be before 2000-01-01T00:00:00Z")
            }
            Ok(t) if t.millis() > now.millis() + MAX_FUTURE_SKEW_SECS * 1000 => p.error(
                "occurred_at",
                format!("must not be more than {MAX_FUTURE_SKEW_SECS} seconds in the future"),
            ),
            Ok(t) => Some(t),
            Err(e) => p.error("occurred_at", e.to_string()),
        },
        Some(_) => p.error("occurred_at", "must be an RFC 3339 string"),
    };
    let actor = match obj.get("actor") {
        None | Some(Value::Null) => Some(None),
        Some(v) => p.actor(v),
    };
    let resource = match obj.get("resource") {
        Some(v) => p.resource(v, action),
        None => p.error("resource", "is required"),
    };
    let context = match obj.get("context") {
        None | Some(Value::Null) => Some(Context::default()),
        Some(v) => p.context(v),
    };
    let metadata = match obj.get("metadata") {
        None | Some(Value::Null) => Some(b"{}".to_vec()),
        Some(v) => p.metadata(v),
    };

    if !p.errors.is_empty() {
        return Err(p.errors);
    }
    match (action, actor, resource, context, metadata) {
        (Some(action), Some(actor), Some(resource), Some(context), Some(metadata_json)) => {
            let content_hash = content_hash(
                id.as_ref(),
                action,
                occurred_at,
                &actor,
                &resource,
                &context,
                &metadata_json,
            );
            Ok(NewEvent {
                id: id.unwrap_or_else(EventId::generate),
                action,
                occurred_at: occurred_at.unwrap_or(now),
                actor,
                resource,
                context,
                metadata: Map::new(),
                content_hash,
            })
        }
        _ => Err(vec![FieldError::new(
            prefix.trim_end_matches('.'),
            "is invalid",
        )]),
    }
}

/// SHA-256 over the parsed event as the producer sent it (fields it left out
/// stay out), encoded as JSON with sorted keys: exactly the bytes
/// `serde_json::to_vec(&json!({"id": id, "action": action, …}))` gives (the
/// format of every stored `content_hash`), written directly instead of
/// through a `Value` (which cloned the metadata and serialized it twice). `metadata_json` is the metadata as `serde_json::to_vec` writes it.
fn content_hash(
    id: Option<&EventId>,
    action: Action,
    occurred_at: Option<Timestamp>,
    actor: &Option<Actor>,
    resource: &Resource,
    context: &Context,
    metadata_json: &[u8],
) -> String {
    let mut h = CanonicalWriter::with_capacity(metadata_json.len() + 512);
    // Keys in byte order, as serde_json's (BTreeMap) Map writes them.
    h.raw(b"{\"action\":");
    h.str(action.as_str());
    h.raw(b",\"actor\":");
    h.actor(actor.as_ref());
    h.raw(b",\"context\":");
    h.context(context);
    h.raw(b",\"id\":");
    match id {
        None => h.raw(b"null"),
        Some(id) => h.str(id.as_str()),
    }
    h.raw(b",\"metadata\":");
    h.raw(metadata_json);
    h.raw(b",\"occurred_at\":");
    match occurred_at {
        None => h.raw(b"null"),
        Some(t) => h.str(&t.to_rfc3339()),
    }
    h.raw(b",\"resource\":");
    h.resource(resource);
    h.raw(b"}");
    hex::encode(Sha256::digest(&h.0))
}

struct Parser<'a> {
    prefix: &'a str,
    errors: Vec<FieldError>,
}

impl Parser<'_> {
    fn error<T>(&mut self, field: &str, reason: impl Into<String>) -> Option<T> {
        self.errors
            .push(FieldError::new(format!("{}{field}", self.prefix), reason));
        None
    }

    fn id<T>(
        &mut self,
        field: &str,
        v: &Value,
        parse: fn(String) -> Result<T, IdError>,
    ) -> Option<T> {
        match v {
            Value::String(s) => match parse(s.clone()) {
                Ok(id) => Some(id),
                Err(e) => self.error(field, e.to_string()),
            },
            _ => self.error(field, "must be a string"),
        }
    }

    /// An optional bounded string without control characters.
    fn text(&mut self, field: &str, v: Option<&Value>, max: usize) -> Option<Option<String>> {
        match v {
            None | Some(Value::Null) => Some(None),
            Some(Value::String(s)) => {
                if s.chars().count() > max {
                    self.error(field, format!("must be at most {max} characters"))
                } else if s.chars().any(char::is_control) {
                    self.error(field, "must not contain control characters")
                } else if s.chars().any(is_bidi_override) {
                    // They reorder how a description reads ("Trojan Source").
                    self.error(field, "must not contain bidirectional override characters")
                } else if s.trim().is_empty() {
                    self.error(field, "must not be blank")
                } else {
                    Some(Some(s.clone()))
                }
            }
            Some(_) => self.error(field, "must be a string"),
        }
    }

    fn object<'v>(
        &mut self,
        field: &str,
        v: &'v Value,
        allowed: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        let Some(obj) = v.as_object() else {
            return self.error(field, "must be an object");
        };
        let mut ok = true;
        for key in obj.keys() {
            if !allowed.contains(&key.as_str()) {
                self.error::<()>(&format!("{field}.{key}"), "is not a known field");
                ok = false;
            }
        }
        ok.then_some(obj)
    }

    fn actor(&mut self, v: &Value) -> Option<Option<Actor>> {
        let obj = self.object("actor", v, &["type", "id", "name", "email"])?;
        let kind = match obj.get("type") {
            Some(Value::String(s)) => match s.as_str() {
                "user" => Some(ActorType::User),
                "api_key" => Some(ActorType::ApiKey),
                "service" => Some(ActorType::Service),
                // A system actor is the same as no actor at all.
                "system" => return Some(None),
                _ => self.error(
                    "actor.type",
                    "must be one of user, api_key, service, system",
                ),
            },
            Some(_) => self.error("actor.type", "must be a string"),
            None => self.error("actor.type", "is required"),
        };
        let id = match obj.get("id") {
            Some(v) => self.id("actor.id", v, ActorId::parse),
            None => self.error("actor.id", "is required"),
        };
        if id
            .as_ref()
            .is_some_and(|id| id.as_str() == crate::event::SYSTEM_ACTOR)
        {
            self.error::<()>(
                "actor.id",
                "\"system\" is reserved for system events (send no actor)",
            );
            return None;
        }
        let name = self.text("actor.name", obj.get("name"), MAX_NAME_LEN);
        let email = self.text("actor.email", obj.get("email"), MAX_EMAIL_LEN);
        if let Some(Some(email)) = &email {
            if !email.contains('@') {
                self.error::<()>("actor.email", "must be an email address");
                return None;
            }
        }
        Some(Some(Actor {
            kind: kind?,
            id: id?,
            name: name?,
            email: email?,
        }))
    }

    fn resource(&mut self, v: &Value, action: Option<Action>) -> Option<Resource> {
        let obj = self.object("resource", v, &["type", "id", "name"])?;
        let expected = action.map(Action::resource_type);
        let kind = match (obj.get("type"), expected) {
            (None | Some(Value::Null), Some(expected)) => Some(expected.to_string()),
            (None | Some(Value::Null), None) => None,
            (Some(Value::String(s)), Some(expected)) if s != expected => self.error(
                "resource.type",
                format!("must be \"{expected}\" for this action"),
            ),
            (Some(Value::String(s)), _) if s.len() > MAX_RESOURCE_TYPE_LEN => self.error(
                "resource.type",
                format!("must be at most {MAX_RESOURCE_TYPE_LEN} characters"),
            ),
            (Some(Value::String(s)), _) => Some(s.clone()),
            (Some(_), _) => self.error("resource.type", "must be a string"),
        };
        let id = match obj.get("id") {
            Some(v) => self.id("resource.id", v, ResourceId::parse),
            None => self.error("resource.id", "is required"),
        };
        let name = self.text("resource.name", obj.get("name"), MAX_NAME_LEN);
        Some(Resource {
            kind: kind?,
            id: id?,
            name: name?,
        })
    }

    fn context(&mut self, v: &Value) -> Option<Context> {
        let obj = self.object("context", v, &["ip", "user_agent", "request_id"])?;
        let ip = self.text("context.ip", obj.get("ip"), MAX_IP_LEN);
        if let Some(Some(ip)) = &ip {
            if ip.parse::<std::net::IpAddr>().is_err() {
                self.error::<()>("context.ip", "must be an IPv4 or IPv6 address");
                return None;
            }
        }
        let user_agent = self.text(
            "context.user_agent",
            obj.get("user_agent"),
            MAX_USER_AGENT_LEN,
        );
        let request_id = self.text(
            "context.request_id",
            obj.get("request_id"),
            MAX_REQUEST_ID_LEN,
        );
        Some(Context {
            ip: ip?,
            user_agent: user_agent?,
            request_id: request_id?,
        })
    }

    /// Checks the metadata and returns its JSON as `serde_json::to_vec` writes
    /// it (what the size limit counts and the content hash covers).
    fn metadata(&mut self, v: &Value) -> Option<Vec<u8>> {
        let Some(obj) = v.as_object() else {
            return self.error("metadata", "must be a JSON object");
        };
        if obj.len() > MAX_METADATA_KEYS {
            return self.error(
                "metadata",
                format!(
                    "must have at most {MAX_METADATA_KEYS} keys (got {})",
                    obj.len()
                ),
            );
        }
        if depth(v) > MAX_METADATA_DEPTH {
            return self.error(
                "metadata",
                format!("must be nested at most {MAX_METADATA_DEPTH} levels deep"),
            );
        }
        let json = serde_json::to_vec(v).unwrap_or_default();
        let size = json.len();
        if size > MAX_METADATA_BYTES {
            return self.error(
                "metadata",
                format!("must be at most {MAX_METADATA_BYTES} bytes as JSON (got {size})"),
            );
        }
        Some(json)
    }
}

/// U+202A–U+202E and U+2066–U+2069: embeddings, overrides and isolates.
fn is_bidi_override(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        Timestamp::parse("2026-11-28T12:00:00Z").unwrap()
    }

    fn valid() -> Value {
        json!({
            "id": "evt_1",
            "action": "MODEL_DEPLOYED",
            "occurred_at": "2026-11-28T11:59:00Z",
            "actor": {"type": "user", "id": "usr_1", "name": "Ada Lovelace", "email": "ada@example.com"},
            "resource": {"type": "deployment", "id": "dep_42"},
            "context": {"ip": "203.0.113.9", "user_agent": "curl/8", "request_id": "req_1"},
            "metadata": {"model_name": "llama-3"}
        })
    }

    fn errors_for(v: Value) -> Vec<FieldError> {
        parse_event(&v, now(), "").expect_err("should be rejected")
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn valid_event_parses() {
        let e = parse_event(&valid(), now(), "").unwrap();
        assert_eq!(e.id.as_str(), "evt_1");
        assert_eq!(e.action, Action::ModelDeployed);
        assert_eq!(e.actor.unwrap().name.as_deref(), Some("Ada Lovelace"));
    }

    #[test]
    fn missing_actor_or_system_type_is_a_system_event() {
        let mut v = valid();
        v.as_object_mut().unwrap().remove("actor");
        assert_eq!(parse_event(&v, now(), "").unwrap().actor, None);
        v["actor"] = json!({"type": "system"});
        assert_eq!(parse_event(&v, now(), "").unwrap().actor, None);
        v["actor"] = Value::Null;
        assert_eq!(parse_event(&v, now(), "").unwrap().actor, None);
    }

    #[test]
    fn missing_id_and_time_get_defaults() {
        let mut v = valid();
        v.as_object_mut().unwrap().remove("id");
        v.as_object_mut().unwrap().remove("occurred_at");
        let e = parse_event(&v, now(), "").unwrap();
        assert!(e.id.as_str().starts_with("evt_"));
        assert_eq!(e.occurred_at, now());
    }

    #[test]
    fn unknown_action_is_rejected() {
        let mut v = valid();
        v["action"] = json!("MODEL_EXPLODED");
        assert_eq!(fields(&errors_for(v)), ["action"]);
    }

    #[test]
    fn self_audit_actions_cannot_be_forged_by_a_producer() {
        let mut v = valid();
        v["action"] = json!("EXPORT_DESTINATION_DELETED");
        assert_eq!(fields(&errors_for(v)), ["action"]);
    }

    #[test]
    fn bad_timestamp_is_rejected() {
        let mut v = valid();
        v["occurred_at"] = json!("28/11/2026");
        assert_eq!(fields(&errors_for(v)), ["occurred_at"]);
    }

    #[test]
    fn timestamp_more_than_five_minutes_ahead_is_rejected() {
        let mut v = valid();
        v["occurred_at"] = json!("2026-11-28T12:05:01Z");
        assert_eq!(fields(&errors_for(v.clone())), ["occurred_at"]);
        v["occurred_at"] = json!("2026-11-28T12:05:00Z");
        assert!(parse_event(&v, now(), "").is_ok());
    }

    #[test]
    fn metadata_over_8_kib_is_rejected() {
        let mut v = valid();
        v["metadata"] = json!({"blob": "x".repeat(MAX_METADATA_BYTES)});
        let errs = errors_for(v);
        assert_eq!(fields(&errs), ["metadata"]);
        assert!(errs[0].reason.contains("8192"));
    }

    #[test]
    fn metadata_with_51_keys_is_rejected() {
        let mut v = valid();
        let m: Map<String, Value> = (0..51).map(|i| (format!("k{i}"), json!(i))).collect();
        v["metadata"] = Value::Object(m);
        assert_eq!(fields(&errors_for(v)), ["metadata"]);
    }

    #[test]
    fn deeply_nested_metadata_is_rejected() {
        let mut inner = json!(1);
        for _ in 0..MAX_METADATA_DEPTH + 1 {
            inner = json!({ "a": inner });
        }
        let mut v = valid();
        v["metadata"] = inner;
        assert_eq!(fields(&errors_for(v)), ["metadata"]);
    }

    #[test]
    fn metadata_must_be_an_object() {
        let mut v = valid();
        v["metadata"] = json!([1, 2]);
        assert_eq!(fields(&errors_for(v)), ["metadata"]);
    }

    #[test]
    fn control_characters_in_names_are_rejected() {
        let mut v = valid();
        v["actor"]["name"] = json!("Ada\nLovelace");
        assert_eq!(fields(&errors_for(v)), ["actor.name"]);
    }

    #[test]
    fn bidi_overrides_in_names_are_rejected() {
        let mut v = valid();
        v["resource"]["name"] = json!("invoice\u{202E}fdp.exe");
        assert_eq!(fields(&errors_for(v)), ["resource.name"]);
        let mut v = valid();
        v["actor"]["name"] = json!("Ada Lovelace — עברית");
        assert!(
            parse_event(&v, now(), "").is_ok(),
            "right-to-left text itself is fine"
        );
    }

    #[test]
    fn overlong_strings_are_rejected() {
        let mut v = valid();
        v["actor"]["name"] = json!("a".repeat(MAX_NAME_LEN + 1));
        v["context"]["user_agent"] = json!("a".repeat(MAX_USER_AGENT_LEN + 1));
        assert_eq!(fields(&errors_for(v)), ["actor.name", "context.user_agent"]);
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let v = json!({"action": 5, "resource": {"id": "a b"}, "actor": {"type": "robot", "id": "x"}, "colour": "red"});
        let mut f = fields(&errors_for(v))
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        f.sort();
        assert_eq!(f, ["action", "actor.type", "colour", "resource.id"]);
    }

    #[test]
    fn resource_type_must_match_the_action() {
        let mut v = valid();
        v["resource"]["type"] = json!("chain");
        assert_eq!(fields(&errors_for(v.clone())), ["resource.type"]);
        v["resource"].as_object_mut().unwrap().remove("type");
        assert_eq!(
            parse_event(&v, now(), "").unwrap().resource.kind,
            "deployment"
        );
    }

    #[test]
    fn bad_ip_and_email_are_rejected() {
        let mut v = valid();
        v["context"]["ip"] = json!("999.1.1.1");
        v["actor"]["email"] = json!("nobody");
        let mut f = fields(&errors_for(v))
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        f.sort();
        assert_eq!(f, ["actor.email", "context.ip"]);
    }

    #[test]
    fn prefix_names_the_event_in_a_batch() {
        let mut v = valid();
        v["action"] = json!("NOPE");
        let errs = parse_event(&v, now(), "events[3].").unwrap_err();
        assert_eq!(errs[0].field, "events[3].action");
    }

    #[test]
    fn same_content_hashes_alike_and_other_content_differs() {
        let a = parse_event(&valid(), now(), "").unwrap();
        let mut v = valid();
        v["occurred_at"] = json!("2026-11-28T12:59:00+01:00");
        let b = parse_event(&v, now(), "").unwrap();
        assert_eq!(a.content_hash, b.content_hash, "same instant, other offset");
        v["metadata"]["model_name"] = json!("llama-4");
        let c = parse_event(&v, now(), "").unwrap();
        assert_ne!(a.content_hash, c.content_hash);
    }

    #[test]
    fn retry_without_occurred_at_hashes_alike_at_another_time() {
        let mut v = valid();
        v.as_object_mut().unwrap().remove("occurred_at");
        let a = parse_event(&v, now(), "").unwrap();
        let b = parse_event(&v, now().plus_millis(60_000), "").unwrap();
        assert_eq!(a.content_hash, b.content_hash);
    }

    #[test]
    fn batch_over_100_is_rejected_and_body_over_1_mib_too() {
        let events: Vec<Value> = (0..101).map(|_| valid()).collect();
        let body = serde_json::to_vec(&json!({ "events": events })).unwrap();
        assert_eq!(parse_submission(&body).unwrap_err().field, "events");
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(parse_submission(&big).unwrap_err().field, "body");
    }

    #[test]
    fn single_and_batch_bodies_are_told_apart() {
        let one = serde_json::to_vec(&valid()).unwrap();
        assert!(matches!(parse_submission(&one), Ok(Submission::One(_))));
        let batch = serde_json::to_vec(&json!({"events": [valid(), valid()]})).unwrap();
        assert!(matches!(parse_submission(&batch), Ok(Submission::Batch(v)) if v.len() == 2));
        assert!(parse_submission(b"[1]").is_err());
        assert!(parse_submission(b"{\"events\": []}").is_err());
        assert!(parse_submission(b"not json").is_err());
    }

    #[test]
    fn taking_an_event_gives_what_parsing_gives() {
        let mut no_metadata = valid();
        no_metadata.as_object_mut().unwrap().remove("metadata");
        for v in [valid(), no_metadata] {
            let parsed = parse_event(&v, now(), "").unwrap();
            let mut taken = v.clone();
            assert_eq!(take_event(&mut taken, now(), "").unwrap(), parsed);
        }
        let mut bad = valid();
        bad["action"] = json!("NOPE");
        let before = bad.clone();
        let errors = take_event(&mut bad, now(), "events[0].").unwrap_err();
        assert_eq!(fields(&errors), ["events[0].action"]);
        assert_eq!(bad, before, "a rejected event is left as it was sent");
    }

    /// `content_hash` of `valid()`, from its definition (sorted-key compact
    /// JSON of the fields sent, SHA-256).
    const KNOWN_VALID_HASH: &str =
        "d3d79c5d482fbb6c91ee08db84c5f48adb788d4bc60d83980c781aa8e2591e03";

    /// The content hash as it was first defined (a `json!` value through
    /// `serde_json::to_vec`): every stored `content_hash` has this format.
    fn content_hash_as_defined(new: &NewEvent, sent: &Value) -> String {
        let canonical = json!({
            "id": sent.get("id").map(|_| &new.id),
            "action": new.action,
            "occurred_at": sent.get("occurred_at").map(|_| new.occurred_at),
            "actor": new.actor,
            "resource": new.resource,
            "context": new.context,
            "metadata": new.metadata,
        });
        hex::encode(Sha256::digest(serde_json::to_vec(&canonical).unwrap()))
    }

    #[test]
    fn content_hash_is_unchanged_from_its_definition() {
        let mut system = valid();
        for field in ["actor", "context", "metadata", "id"] {
            system.as_object_mut().unwrap().remove(field);
        }
        let mut partial = valid();
        partial["actor"] = json!({"type": "service", "id": "svc_1"});
        partial["context"] = json!({"user_agent": "a\"b\\c\u{e9}\u{1F600}"});
        partial["resource"]["name"] = json!("n\u{2028}x");
        partial["metadata"] =
            json!({"z": [1, 2.5, -3e40, null, true], "a": {"\u{e9}": "\n\t\u{1}"}, "": ""});
        for v in [valid(), system, partial] {
            let new = parse_event(&v, now(), "").unwrap();
            assert_eq!(new.content_hash, content_hash_as_defined(&new, &v), "{v}");
        }
        // A known value: a change of format shows here even if both sides moved.
        assert_eq!(
            parse_event(&valid(), now(), "").unwrap().content_hash,
            KNOWN_VALID_HASH
        );
    }

    proptest::proptest! {
        #[test]
        fn content_hash_matches_its_definition_for_any_metadata_and_names(
            name in proptest::option::of("[^\\p{C}]{1,40}"),
            email in proptest::option::of("[a-z\"\\\\\u{e9}]{1,10}@[a-z]{1,5}"),
            ua in proptest::option::of("[ -~\u{e9}\u{4e2d}]{1,30}"),
            key in "[ -~\u{e9}]{0,12}",
            text in "\\PC{0,40}",
            number in proptest::num::f64::NORMAL,
            int in proptest::num::i64::ANY,
        ) {
            let mut v = valid();
            match &name {
                Some(n) if !n.trim().is_empty() => v["actor"]["name"] = json!(n),
                _ => { v["actor"].as_object_mut().unwrap().remove("name"); }
            }
            match &email {
                Some(e) => v["actor"]["email"] = json!(e),
                None => { v["actor"].as_object_mut().unwrap().remove("email"); }
            }
            match &ua {
                Some(u) if !u.trim().is_empty() => v["context"]["user_agent"] = json!(u),
                _ => { v["context"].as_object_mut().unwrap().remove("user_agent"); }
            }
            v["metadata"] = json!({ key.clone(): text, "n": number, "i": int, "nested": {key: [text]} });
            let new = parse_event(&v, now(), "").unwrap();
            proptest::prop_assert_eq!(&new.content_hash, &content_hash_as_defined(&new, &v));
        }
    }
}
