//! Events for tests: one by a person, one by the system, and many.

use serde_json::{json, Map, Value};

use crate::catalog::Action;
use crate::event::{Actor, ActorType, Context, Event, Resource};
use crate::ids::{ActorId, EventId, OrgId, ResourceId};
use crate::time::Timestamp;

pub fn at(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

pub fn user_event() -> Event {
    let Value::Object(metadata) = json!({"model_name": "llama-3"}) else {
        unreachable!()
    };
    Event {
        id: EventId::parse("evt_user_1").unwrap(),
        org_id: OrgId::parse("org_acme").unwrap(),
        action: Action::ModelDeployed,
        occurred_at: at("2026-11-28T09:30:00.123Z"),
        recorded_at: at("2026-11-28T09:30:01.456Z"),
        actor: Some(Actor {
            kind: ActorType::User,
            id: ActorId::parse("usr_ada").unwrap(),
            name: Some("Ada Lovelace".into()),
            email: Some("ada@example.com".into()),
        }),
        resource: Resource {
            kind: "deployment".into(),
            id: ResourceId::parse("dep_1").unwrap(),
            name: Some("production".into()),
        },
        context: Context {
            ip: Some("203.0.113.7".into()),
            user_agent: Some("truss/0.9".into()),
            request_id: Some("req_42".into()),
        },
        metadata,
        content_hash: "0".repeat(64),
    }
}

pub fn system_event() -> Event {
    Event {
        id: EventId::parse("evt_sys_1").unwrap(),
        org_id: OrgId::parse("org_acme").unwrap(),
        action: Action::ReplicaTerminated,
        occurred_at: at("2026-11-28T09:31:00Z"),
        recorded_at: at("2026-11-28T09:31:00.500Z"),
        actor: None,
        resource: Resource {
            kind: "deployment".into(),
            id: ResourceId::parse("dep_1").unwrap(),
            name: None,
        },
        context: Context::default(),
        metadata: Map::new(),
        content_hash: "1".repeat(64),
    }
}

/// `n` copies of the user event with distinct ids.
pub fn many_events(n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| Event {
            id: EventId::parse(format!("evt_{i:06}")).unwrap(),
            ..user_event()
        })
        .collect()
}
