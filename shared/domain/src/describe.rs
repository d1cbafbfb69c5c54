//! How an event reads to people: the sentence each action renders as
//! ("Ada Lovelace deployed model llama-3 (deployment dep_42)"), the text
//! free-text search runs over, and the event as the API returns it.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::catalog::Action::{self, *};
use crate::event::{Actor, Context, Event, Resource};
use crate::ids::{EventId, OrgId};
use crate::integrity::event_hash;
use crate::time::Timestamp;

/// Longest metadata string (in characters) that may appear in a sentence.
const MAX_SENTENCE_VALUE_CHARS: usize = 128;

impl Event {
    /// The human-readable sentence for this event.
    pub fn description(&self) -> String {
        describe(
            self.action,
            self.actor.as_ref(),
            &self.resource,
            &self.metadata,
        )
    }

    /// Lower-cased text the free-text search runs over: description, actor,
    /// resource and action.
    pub fn search_text(&self) -> String {
        let mut parts: Vec<&str> = Vec::with_capacity(10);
        let description = self.description();
        parts.push(&description);
        match &self.actor {
            Some(a) => {
                parts.push(a.id.as_str());
                parts.extend(a.name.as_deref());
                parts.extend(a.email.as_deref());
            }
            None => parts.push("system"),
        }
        parts.push(&self.resource.kind);
        parts.push(self.resource.id.as_str());
        parts.extend(self.resource.name.as_deref());
        parts.push(self.action.as_str());
        parts.join("\n").to_lowercase()
    }

    /// The API representation: the event plus its group and description.
    pub fn view(&self) -> EventView<'_> {
        EventView {
            id: &self.id,
            org_id: &self.org_id,
            action: self.action,
            group: self.group().slug(),
            description: self.description(),
            occurred_at: self.occurred_at,
            recorded_at: self.recorded_at,
            actor: self.actor.as_ref(),
            resource: &self.resource,
            context: &self.context,
            metadata: &self.metadata,
            hash: event_hash(self),
        }
    }
}

/// What `GET /v1/events` returns for each event.
#[derive(Debug, Serialize)]
pub struct EventView<'a> {
    pub id: &'a EventId,
    pub org_id: &'a OrgId,
    pub action: Action,
    pub group: &'static str,
    pub description: String,
    pub occurred_at: Timestamp,
    pub recorded_at: Timestamp,
    pub actor: Option<&'a Actor>,
    pub resource: &'a Resource,
    pub context: &'a Context,
    pub metadata: &'a Map<String, Value>,
    /// SHA-256 over the canonical encoding of the stored event (see `integrity`).
    pub hash: String,
}

/// The human-readable sentence for an event. `actor == None` is a
/// system-initiated event.
pub fn describe(
    action: Action,
    actor: Option<&Actor>,
    resource: &Resource,
    metadata: &Map<String, Value>,
) -> String {
    let m = Meta(metadata);
    let r = resource;
    let subject = actor.map_or_else(|| "System".to_owned(), Actor::display);
    let predicate = match action {
        ModelDeployed => match m.get("model_name") {
            Some(model) => format!("deployed model {model} (deployment {})", r.display()),
            None => format!("created deployment {}", r.display()),
        },
        ModelDeploymentActivated => format!("activated {}", deployment(r, &m)),
        ModelDeploymentDeactivated => {
            format!(
                "deactivated {}{}",
                deployment(r, &m),
                m.clause(" for ", "reason")
            )
        }
        ModelDeploymentRetried => format!("retried {}", deployment(r, &m)),
        ModelDeploymentPromoted => {
            format!(
                "promoted {}{}",
                deployment(r, &m),
                m.clause(" to ", "environment")
            )
        }
        ModelDeploymentAutoscalingSettingsChanged => format!(
            "changed the autoscaling settings of {}{}",
            deployment(r, &m),
            autoscaling(&m)
        ),
        ModelDeploymentInstanceTypeChanged => format!(
            "changed the instance type of {}{}",
            deployment(r, &m),
            from_to(&m)
        ),
        ModelDeploymentDeleted => format!("deleted {}", deployment(r, &m)),
        ModelDeleted => format!("deleted model {}", named(r, &m, "model_name")),
        ModelPromotionControlAction => {
            let promotion = format!(
                "the promotion of {}{}",
                deployment(r, &m),
                m.clause(" to ", "environment")
            );
            match m.get("action") {
                Some(control) => format!("applied the \"{control}\" control to {promotion}"),
                None => format!("acted on {promotion}"),
            }
        }
        ReplicaTerminated => format!(
            "terminated {} of {}{}",
            m.get("replica")
                .map_or_else(|| "a replica".to_owned(), |id| format!("replica {id}")),
            deployment(r, &m),
            m.clause(" for ", "reason")
        ),
        ChainDeployed => match m.get("chain_name") {
            Some(chain) => format!("deployed Chain {chain} (Chain deployment {})", r.display()),
            None => format!("created Chain deployment {}", r.display()),
        },
        ChainDeploymentActivated => format!("activated {}", chain_deployment(r, &m)),
        ChainDeploymentDeactivated => format!(
            "deactivated {}{}",
            chain_deployment(r, &m),
            m.clause(" for ", "reason")
        ),
        ChainDeploymentPromoted => format!(
            "promoted {}{}",
            chain_deployment(r, &m),
            m.clause(" to ", "environment")
        ),
        ChainDeploymentDeleted => format!("deleted {}", chain_deployment(r, &m)),
        ChainDeleted => format!("deleted Chain {}", named(r, &m, "chain_name")),
        ChainletAutoscalingSettingsChanged => format!(
            "changed the autoscaling settings of {}{}",
            chainlet(r, &m),
            autoscaling(&m)
        ),
        ChainletInstanceTypeChanged => format!(
            "changed the instance type of {}{}",
            chainlet(r, &m),
            from_to(&m)
        ),
        EnvironmentCreated => format!("created {}", environment(r, &m)),
        EnvironmentUpdated => format!("updated {}", environment(r, &m)),
        EnvironmentDeleted => format!("deleted {}", environment(r, &m)),
        ApiKeyCreated => format!("created API key {}", r.display()),
        ApiKeyDeleted => format!("deleted API key {}", r.display()),
        SecretUpdated => format!("updated secret {}", r.display()),
        SecretDeleted => format!("deleted secret {}", r.display()),
        WebhookSigningSecretCreated => format!("created webhook signing secret {}", r.display()),
        WebhookSigningSecretRotated => format!("rotated webhook signing secret {}", r.display()),
        WebhookSigningSecretDeleted => format!("deleted webhook signing secret {}", r.display()),
        // A person asks for the certificate; only the system signs it.
        SshCertificateSigned => match actor {
            Some(_) => format!("had SSH certificate {} signed", r.display()),
            None => format!("signed SSH certificate {}", r.display()),
        },
        // An invitee usually has no name yet, so the address says who it is.
        UserInvited => format!(
            "invited {}{}",
            m.get("email").unwrap_or_else(|| user(r, &m)),
            m.clause(" as ", "role")
        ),
        UserJoinedOrganization => match actor {
            Some(a) if a.id.as_str() == r.id.as_str() => "joined the organization".to_owned(),
            _ => format!("added {} to the organization", user(r, &m)),
        },
        UserRoleUpdated => format!(
            "changed the role of {}{}{}",
            user(r, &m),
            m.clause(" from ", "previous_role"),
            m.clause(" to ", "role")
        ),
        UserRemoved => format!("removed {} from the organization", user(r, &m)),
        ExportDestinationCreated => format!("created {}", destination(r, &m)),
        ExportDestinationUpdated => format!(
            "changed {}{}",
            destination(r, &m),
            m.clause(": ", "changes")
        ),
        ExportDestinationDeleted => format!("deleted {}", destination(r, &m)),
        ExportReplayRequested => format!(
            "replayed events recorded{}{} to {}",
            m.clause(" after ", "from"),
            m.clause(" up to ", "to"),
            destination(r, &m)
        ),
        ExportRedriveRequested => match m.get("jobs") {
            Some(jobs) => format!(
                "retried {jobs} failed export jobs of {}",
                destination(r, &m)
            ),
            None => format!("retried failed export jobs of {}", destination(r, &m)),
        },
        AuditLogKeyCreated => match m.get("role") {
            Some(role) => format!("created {role} audit log key {}", r.display()),
            None => format!("created audit log key {}", r.display()),
        },
        AuditLogKeyRevoked => format!("revoked audit log key {}", r.display()),
    };
    format!("{subject} {predicate}")
}

/// An event's metadata, read only through values fit for a sentence.
struct Meta<'a>(&'a Map<String, Value>);

impl Meta<'_> {
    /// Strings and numbers only; a string that is blank, too long or holds
    /// control or bidirectional characters is treated as absent.
    fn get(&self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            Value::String(s) => fit_for_sentence(s),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// `lead` then the value, or nothing at all when the value is absent.
    fn clause(&self, lead: &str, key: &str) -> String {
        self.get(key)
            .map(|v| format!("{lead}{v}"))
            .unwrap_or_default()
    }
}

fn fit_for_sentence(s: &str) -> Option<String> {
    let disruptive = |c: char| {
        c.is_control()
            || matches!(c, '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
    };
    if s.chars().count() > MAX_SENTENCE_VALUE_CHARS || s.chars().any(disruptive) {
        return None;
    }
    let words: Vec<&str> = s.split_whitespace().collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// The resource's own name, else the name metadata gives it, else its id.
fn named(r: &Resource, m: &Meta, name_key: &str) -> String {
    r.name
        .clone()
        .or_else(|| m.get(name_key))
        .unwrap_or_else(|| r.id.to_string())
}

/// "deployment dep_42 of model llama-3"
fn deployment(r: &Resource, m: &Meta) -> String {
    let model = m.clause(" of model ", "model_name");
    format!("deployment {}{model}", r.display())
}

/// "Chain deployment cd_1 of Chain rag"
fn chain_deployment(r: &Resource, m: &Meta) -> String {
    let chain = m.clause(" of Chain ", "chain_name");
    format!("Chain deployment {}{chain}", r.display())
}

/// "Chainlet Retriever of Chain rag"
fn chainlet(r: &Resource, m: &Meta) -> String {
    let chain = m.clause(" of Chain ", "chain_name");
    format!("Chainlet {}{chain}", named(r, m, "chainlet_name"))
}

/// "environment production of model llama-3" (or of a Chain)
fn environment(r: &Resource, m: &Meta) -> String {
    let owner = match m.get("model_name") {
        Some(model) => format!(" of model {model}"),
        None => m.clause(" of Chain ", "chain_name"),
    };
    format!("environment {}{owner}", r.display())
}

/// "export destination Splunk prod (splunk)"
fn destination(r: &Resource, m: &Meta) -> String {
    format!(
        "export destination {}{}",
        r.display(),
        m.get("destination_type")
            .map(|t| format!(" ({t})"))
            .unwrap_or_default()
    )
}

/// A user by name, else email, else "user <id>".
fn user(r: &Resource, m: &Meta) -> String {
    r.name
        .clone()
        .or_else(|| m.get("email"))
        .unwrap_or_else(|| format!("user {}", r.id))
}

/// " from A10G to H100", or whichever half is known.
fn from_to(m: &Meta) -> String {
    format!("{}{}", m.clause(" from ", "from"), m.clause(" to ", "to"))
}

/// " to min replicas 1, max replicas 3, concurrency target 4", or whichever
/// settings are known.
fn autoscaling(m: &Meta) -> String {
    let settings: Vec<String> = [
        ("min replicas", "min_replicas"),
        ("max replicas", "max_replicas"),
        ("concurrency target", "concurrency_target"),
    ]
    .into_iter()
    .filter_map(|(label, key)| m.get(key).map(|v| format!("{label} {v}")))
    .collect();
    if settings.is_empty() {
        String::new()
    } else {
        format!(" to {}", settings.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Group;
    use crate::event::ActorType;
    use crate::ids::{ActorId, ResourceId};
    use serde_json::json;

    fn ada() -> Actor {
        Actor {
            kind: ActorType::User,
            id: ActorId::parse("usr_1").unwrap(),
            name: Some("Ada Lovelace".to_owned()),
            email: Some("ada@example.com".to_owned()),
        }
    }

    fn resource(kind: &str, id: &str, name: Option<&str>) -> Resource {
        Resource {
            kind: kind.to_owned(),
            id: ResourceId::parse(id).unwrap(),
            name: name.map(str::to_owned),
        }
    }

    fn meta(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    /// A value for every key any action documents.
    fn full_metadata() -> Map<String, Value> {
        meta(json!({
            "model_name": "llama-3", "chain_name": "rag", "chainlet_name": "Retriever",
            "environment": "production", "reason": "inactivity", "from": "A10G", "to": "H100",
            "min_replicas": 1, "max_replicas": 3, "concurrency_target": 4,
            "action": "cancel", "replica": "replica-7", "email": "grace@example.com",
            "role": "admin", "previous_role": "member",
            "destination_type": "splunk", "changes": "enabled", "jobs": 3
        }))
    }

    fn assert_reads_well(sentence: &str, subject: &str) {
        assert!(sentence.starts_with(&format!("{subject} ")), "{sentence:?}");
        assert!(sentence.len() > subject.len() + 1, "{sentence:?}");
        assert_eq!(sentence.trim_end(), sentence, "trailing space");
        for bad in ["None", "null", "()", "  "] {
            assert!(!sentence.contains(bad), "{sentence:?} contains {bad:?}");
        }
    }

    #[test]
    fn self_audit_events_say_what_changed_where_the_log_goes() {
        let key = Actor {
            kind: crate::event::ActorType::ApiKey,
            id: crate::ids::ActorId::parse("key_1").unwrap(),
            name: None,
            email: None,
        };
        let dest = resource("export_destination", "dst_1", Some("Splunk prod"));
        let m = meta(
            json!({"destination_type": "splunk", "from": "2026-11-01T00:00:00.000Z", "to": "2026-11-02T00:00:00.000Z"}),
        );
        assert_eq!(
            describe(ExportDestinationCreated, Some(&key), &dest, &m),
            "API key key_1 created export destination Splunk prod (splunk)"
        );
        assert_eq!(
            describe(ExportReplayRequested, Some(&ada()), &dest, &m),
            "Ada Lovelace replayed events recorded after 2026-11-01T00:00:00.000Z up to 2026-11-02T00:00:00.000Z to export destination Splunk prod (splunk)"
        );
        assert!(Action::SELF_AUDIT.iter().all(|a| a.is_self_audit()));
        assert!(Action::ALL.iter().all(|a| !a.is_self_audit()));
        assert_eq!(
            Action::parse("EXPORT_REPLAY_REQUESTED"),
            Some(ExportReplayRequested)
        );
    }

    #[test]
    fn model_deployed_names_the_model_and_deployment() {
        let s = describe(
            ModelDeployed,
            Some(&ada()),
            &resource("deployment", "dep_42", None),
            &meta(json!({"model_name": "llama-3"})),
        );
        assert_eq!(s, "Ada Lovelace deployed model llama-3 (deployment dep_42)");
    }

    #[test]
    fn system_deactivation_gives_the_reason() {
        let s = describe(
            ModelDeploymentDeactivated,
            None,
            &resource("deployment", "dep_42", None),
            &meta(json!({"model_name": "llama-3", "reason": "inactivity"})),
        );
        assert_eq!(
            s,
            "System deactivated deployment dep_42 of model llama-3 for inactivity"
        );
    }

    #[test]
    fn settings_changes_read_from_old_to_new() {
        let dep = resource("deployment", "dep_42", None);
        let m = full_metadata();
        let cases = [
            (
                ModelDeploymentInstanceTypeChanged,
                "Ada Lovelace changed the instance type of deployment dep_42 of model llama-3 from A10G to H100",
            ),
            (
                ModelDeploymentPromoted,
                "Ada Lovelace promoted deployment dep_42 of model llama-3 to production",
            ),
            (
                ModelDeploymentAutoscalingSettingsChanged,
                "Ada Lovelace changed the autoscaling settings of deployment dep_42 of model llama-3 to min replicas 1, max replicas 3, concurrency target 4",
            ),
        ];
        for (action, expected) in cases {
            assert_eq!(describe(action, Some(&ada()), &dep, &m), expected);
        }
        let grace = resource("user", "usr_2", Some("Grace Hopper"));
        let role = meta(json!({"role": "admin"}));
        assert_eq!(
            describe(UserRoleUpdated, Some(&ada()), &grace, &role),
            "Ada Lovelace changed the role of Grace Hopper to admin"
        );
    }

    #[test]
    fn every_action_reads_well_from_a_user_and_from_the_system() {
        for action in Action::every() {
            let r = resource(action.resource_type(), "res_1", None);
            for m in [full_metadata(), Map::new()] {
                assert_reads_well(&describe(action, Some(&ada()), &r, &m), "Ada Lovelace");
                assert_reads_well(&describe(action, None, &r, &m), "System");
            }
        }
    }

    #[test]
    fn every_action_falls_back_to_the_resource_without_metadata() {
        for &action in Action::ALL {
            let r = resource(action.resource_type(), "res_1", None);
            let s = describe(action, None, &r, &Map::new());
            assert!(s.contains("res_1"), "{s:?}");
        }
    }

    #[test]
    fn every_documented_metadata_key_shows_in_the_sentence() {
        for &action in Action::ALL {
            let r = resource(action.resource_type(), "res_1", None);
            let full = describe(action, Some(&ada()), &r, &full_metadata());
            for key in action.metadata_keys() {
                let mut without = full_metadata();
                without.remove(*key);
                // The environment of a model is named by model_name first.
                let shadowed = *key == "chain_name" && action.group() == Group::Environments;
                let changed = describe(action, Some(&ada()), &r, &without) != full;
                assert!(changed || shadowed, "{action:?} ignores {key}");
            }
        }
    }

    #[test]
    fn a_user_joining_by_themselves_just_joined() {
        let me = resource("user", "usr_1", Some("Ada Lovelace"));
        let s = describe(UserJoinedOrganization, Some(&ada()), &me, &Map::new());
        assert_eq!(s, "Ada Lovelace joined the organization");
        let s = describe(UserJoinedOrganization, None, &me, &Map::new());
        assert_eq!(s, "System added Ada Lovelace to the organization");
    }

    #[test]
    fn overlong_or_control_character_values_are_left_out() {
        let dep = resource("deployment", "dep_42", None);
        let long = "x".repeat(MAX_SENTENCE_VALUE_CHARS + 1);
        for bad in [
            long.as_str(),
            "llama\n3",
            "llama\u{1b}[2J",
            "llama\u{202e}3",
            "   ",
        ] {
            let m = meta(json!({"model_name": bad, "reason": bad}));
            let s = describe(ModelDeploymentDeactivated, None, &dep, &m);
            assert_eq!(s, "System deactivated deployment dep_42", "{bad:?}");
        }
        let longest = "y".repeat(MAX_SENTENCE_VALUE_CHARS);
        let s = describe(
            ModelDeleted,
            None,
            &resource("model", "m_1", None),
            &meta(json!({"model_name": longest})),
        );
        assert!(s.ends_with(&longest));
    }

    #[test]
    fn only_strings_and_numbers_enter_a_sentence() {
        let dep = resource("deployment", "dep_42", None);
        let m = meta(json!({"model_name": {"x": 1}, "reason": true, "from": null, "to": 2.5}));
        let s = describe(ModelDeploymentInstanceTypeChanged, None, &dep, &m);
        assert_eq!(
            s,
            "System changed the instance type of deployment dep_42 to 2.5"
        );
    }
}
