//! The audit log's record of itself: when an admin creates, changes or
//! deletes an export destination, replays or redrives, or a key is created
//! or revoked, the org's own log says who did it (group `audit_log`).

use serde_json::{Map, Value};

use crate::store::{PutOutcome, Store, StoreError};
use audit_domain::catalog::Action;
use audit_domain::event::{Actor, ActorType, Context, Event, Resource};
use audit_domain::ids::{ActorId, EventId, IdError, OrgId, ResourceId};
use audit_domain::time::Timestamp;

/// Who did it: the API key that made the call, or an operator tool.
pub fn key_actor(key_id: &str) -> Result<Actor, IdError> {
    Ok(Actor {
        kind: ActorType::ApiKey,
        id: ActorId::parse(key_id)?,
        name: None,
        email: None,
    })
}

/// `auditctl`, run by an operator with AWS credentials.
pub fn operator_actor() -> Actor {
    Actor {
        kind: ActorType::Service,
        id: ActorId::parse("auditctl").unwrap_or_else(|_| unreachable!("a valid id")),
        name: Some("auditctl".into()),
        email: None,
    }
}

/// Builds a self-audit event (a fresh id; `occurred_at` = `recorded_at` = now).
pub fn event(
    org: &OrgId,
    action: Action,
    actor: Actor,
    resource: (&str, &str, Option<&str>),
    metadata: Map<String, Value>,
    now: Timestamp,
) -> Result<Event, IdError> {
    let (kind, resource_id, name) = resource;
    let id = EventId::generate();
    let resource = Resource {
        kind: kind.to_string(),
        id: ResourceId::parse(resource_id)?,
        name: name.map(str::to_string),
    };
    let canonical = serde_json::json!({
        "id": id, "action": action, "actor": actor, "resource": resource, "metadata": metadata,
    });
    let content_hash = audit_domain::integrity::hash::sha256_hex(canonical.to_string().as_bytes());
    Ok(Event {
        id,
        org_id: org.clone(),
        action,
        occurred_at: now,
        recorded_at: now,
        actor: Some(actor),
        resource,
        context: Context::default(),
        metadata,
        content_hash,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum SelfAuditError {
    #[error("self-audit event is invalid: {0}")]
    Invalid(#[from] IdError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Builds and stores a self-audit event under the org's retention.
pub async fn record(
    store: &Store,
    org: &OrgId,
    action: Action,
    actor: Actor,
    resource: (&str, &str, Option<&str>),
    metadata: Map<String, Value>,
) -> Result<Event, SelfAuditError> {
    let event = event(org, action, actor, resource, metadata, Timestamp::now())?;
    let retention = store.org_settings(org).await?.retention_days;
    match store.put_event(&event, retention).await? {
        PutOutcome::Created => Ok(event),
        // A fresh ULID cannot collide; treat it as stored if it somehow did.
        PutOutcome::Duplicate(e) | PutOutcome::Conflict(e) => Ok(*e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_audit_events_describe_the_change() {
        let org = OrgId::parse("acme").unwrap();
        let mut m = Map::new();
        m.insert("destination_type".into(), "splunk".into());
        let e = event(
            &org,
            Action::ExportDestinationDeleted,
            key_actor("key_0123").unwrap(),
            ("export_destination", "dst_1", Some("Splunk prod")),
            m,
            Timestamp::now(),
        )
        .unwrap();
        assert_eq!(
            e.description(),
            "API key key_0123 deleted export destination Splunk prod (splunk)"
        );
        assert_eq!(e.group(), audit_domain::catalog::Group::AuditLog);
        assert_eq!(operator_actor().display(), "auditctl");
    }
}
