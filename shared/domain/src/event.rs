//! The event model: what a producer sends once parsed (`NewEvent`) and what
//! the log keeps and returns (`Event`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::catalog::{Action, Group};
use crate::ids::{ActorId, EventId, OrgId, ResourceId};
use crate::time::Timestamp;

/// Who performed an action. A system-initiated event has no actor at all
/// (`Option<Actor>::None`), which is how producers send it too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorType {
    User,
    ApiKey,
    Service,
}

impl ActorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorType::User => "user",
            ActorType::ApiKey => "api_key",
            ActorType::Service => "service",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    #[serde(rename = "type")]
    pub kind: ActorType,
    pub id: ActorId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl Actor {
    /// How a person reads this actor in a sentence: name, else email, else id.
    pub fn display(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        if let Some(email) = &self.email {
            return email.clone();
        }
        match self.kind {
            ActorType::ApiKey => format!("API key {}", self.id),
            _ => self.id.to_string(),
        }
    }
}

/// The thing an action concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: ResourceId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Resource {
    /// Name if there is one, else id.
    pub fn display(&self) -> &str {
        self.name.as_deref().unwrap_or(self.id.as_str())
    }
}

/// Where the action came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Context {
    pub fn is_empty(&self) -> bool {
        self.ip.is_none() && self.user_agent.is_none() && self.request_id.is_none()
    }
}

/// A validated event from a producer, not yet stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub id: EventId,
    pub action: Action,
    pub occurred_at: Timestamp,
    pub actor: Option<Actor>,
    pub resource: Resource,
    pub context: Context,
    pub metadata: Map<String, Value>,
    /// SHA-256 over what the producer actually sent (see `validate`), so a
    /// retry of the same request is recognised as a duplicate even when the
    /// server filled in defaults such as `occurred_at`.
    pub content_hash: String,
}

/// An event as the log keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: EventId,
    pub org_id: OrgId,
    pub action: Action,
    pub occurred_at: Timestamp,
    pub recorded_at: Timestamp,
    pub actor: Option<Actor>,
    pub resource: Resource,
    #[serde(default)]
    pub context: Context,
    #[serde(default)]
    pub metadata: Map<String, Value>,
    pub content_hash: String,
}

impl Event {
    pub fn from_new(org_id: OrgId, new: NewEvent, recorded_at: Timestamp) -> Self {
        Event {
            id: new.id,
            org_id,
            action: new.action,
            occurred_at: new.occurred_at,
            recorded_at,
            actor: new.actor,
            resource: new.resource,
            context: new.context,
            metadata: new.metadata,
            content_hash: new.content_hash,
        }
    }

    pub fn group(&self) -> Group {
        self.action.group()
    }

    /// The actor key used by the `by_actor` index and the `actor` filter.
    pub fn actor_key(&self) -> &str {
        self.actor.as_ref().map_or(SYSTEM_ACTOR, |a| a.id.as_str())
    }
}

/// The actor id the `actor` filter uses for system-initiated events.
pub const SYSTEM_ACTOR: &str = "system";
