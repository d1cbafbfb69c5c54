//! The catalog of event types: every action Baseten's activity log records,
//! the group the dashboard filters it under, the resource it concerns, and
//! the sentence it renders as.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::event::{Actor, Resource};

/// Longest metadata string (in characters) that may appear in a sentence.
const MAX_SENTENCE_VALUE_CHARS: usize = 128;

/// The event type groups of the activity log's filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    Models,
    Chains,
    Environments,
    Credentials,
    Users,
    /// What the audit log records about itself: export destinations,
    /// replays, redrives and its own API keys. Only the service writes these.
    AuditLog,
}

impl Group {
    pub const ALL: [Group; 6] = [
        Group::Models,
        Group::Chains,
        Group::Environments,
        Group::Credentials,
        Group::Users,
        Group::AuditLog,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            Group::Models => "models",
            Group::Chains => "chains",
            Group::Environments => "environments",
            Group::Credentials => "credentials",
            Group::Users => "users",
            Group::AuditLog => "audit_log",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Group::Models => "Models and deployments",
            Group::Chains => "Chains",
            Group::Environments => "Environments",
            Group::Credentials => "Credentials and secrets",
            Group::Users => "Users",
            Group::AuditLog => "Audit log",
        }
    }

    /// By slug, ignoring case.
    pub fn parse(s: &str) -> Option<Group> {
        Group::ALL
            .into_iter()
            .find(|g| g.slug().eq_ignore_ascii_case(s))
    }
}

/// An event type, exactly as Baseten's audit log page lists them: 34 in all
/// (11 models and deployments, 8 Chains, 3 environments, 8 credentials and
/// secrets, 4 users). Declared in the page's order, so `Ord` follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Action {
    ModelDeployed,
    ModelDeploymentActivated,
    ModelDeploymentDeactivated,
    ModelDeploymentRetried,
    ModelDeploymentPromoted,
    ModelDeploymentAutoscalingSettingsChanged,
    ModelDeploymentInstanceTypeChanged,
    ModelDeploymentDeleted,
    ModelDeleted,
    ModelPromotionControlAction,
    ReplicaTerminated,
    ChainDeployed,
    ChainDeploymentActivated,
    ChainDeploymentDeactivated,
    ChainDeploymentPromoted,
    ChainDeploymentDeleted,
    ChainDeleted,
    ChainletAutoscalingSettingsChanged,
    ChainletInstanceTypeChanged,
    EnvironmentCreated,
    EnvironmentUpdated,
    EnvironmentDeleted,
    ApiKeyCreated,
    ApiKeyDeleted,
    SecretUpdated,
    SecretDeleted,
    WebhookSigningSecretCreated,
    WebhookSigningSecretRotated,
    WebhookSigningSecretDeleted,
    SshCertificateSigned,
    UserInvited,
    UserJoinedOrganization,
    UserRoleUpdated,
    UserRemoved,
    ExportDestinationCreated,
    ExportDestinationUpdated,
    ExportDestinationDeleted,
    ExportReplayRequested,
    ExportRedriveRequested,
    AuditLogKeyCreated,
    AuditLogKeyRevoked,
}

// The variants read better bare in the tables below.
use Action::*;

impl Action {
    /// Every event type, in the order Baseten's page lists them (34).
    pub const ALL: &'static [Action] = &[
        ModelDeployed,
        ModelDeploymentActivated,
        ModelDeploymentDeactivated,
        ModelDeploymentRetried,
        ModelDeploymentPromoted,
        ModelDeploymentAutoscalingSettingsChanged,
        ModelDeploymentInstanceTypeChanged,
        ModelDeploymentDeleted,
        ModelDeleted,
        ModelPromotionControlAction,
        ReplicaTerminated,
        ChainDeployed,
        ChainDeploymentActivated,
        ChainDeploymentDeactivated,
        ChainDeploymentPromoted,
        ChainDeploymentDeleted,
        ChainDeleted,
        ChainletAutoscalingSettingsChanged,
        ChainletInstanceTypeChanged,
        EnvironmentCreated,
        EnvironmentUpdated,
        EnvironmentDeleted,
        ApiKeyCreated,
        ApiKeyDeleted,
        SecretUpdated,
        SecretDeleted,
        WebhookSigningSecretCreated,
        WebhookSigningSecretRotated,
        WebhookSigningSecretDeleted,
        SshCertificateSigned,
        UserInvited,
        UserJoinedOrganization,
        UserRoleUpdated,
        UserRemoved,
    ];

    /// The audit log's own events (group `audit_log`): recorded by the
    /// service when an admin changes where the log goes or who may use it.
    /// Producers cannot send them.
    pub const SELF_AUDIT: &'static [Action] = &[
        ExportDestinationCreated,
        ExportDestinationUpdated,
        ExportDestinationDeleted,
        ExportReplayRequested,
        ExportRedriveRequested,
        AuditLogKeyCreated,
        AuditLogKeyRevoked,
    ];

    /// Every action the log can hold: the producers' catalog, then its own.
    pub fn every() -> impl Iterator<Item = Action> {
        Action::ALL.iter().chain(Action::SELF_AUDIT).copied()
    }

    /// Whether only the service itself may record this action.
    pub fn is_self_audit(self) -> bool {
        self.group() == Group::AuditLog
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ModelDeployed => "MODEL_DEPLOYED",
            ModelDeploymentActivated => "MODEL_DEPLOYMENT_ACTIVATED",
            ModelDeploymentDeactivated => "MODEL_DEPLOYMENT_DEACTIVATED",
            ModelDeploymentRetried => "MODEL_DEPLOYMENT_RETRIED",
            ModelDeploymentPromoted => "MODEL_DEPLOYMENT_PROMOTED",
            ModelDeploymentAutoscalingSettingsChanged => {
                "MODEL_DEPLOYMENT_AUTOSCALING_SETTINGS_CHANGED"
            }
            ModelDeploymentInstanceTypeChanged => "MODEL_DEPLOYMENT_INSTANCE_TYPE_CHANGED",
            ModelDeploymentDeleted => "MODEL_DEPLOYMENT_DELETED",
            ModelDeleted => "MODEL_DELETED",
            ModelPromotionControlAction => "MODEL_PROMOTION_CONTROL_ACTION",
            ReplicaTerminated => "REPLICA_TERMINATED",
            ChainDeployed => "CHAIN_DEPLOYED",
            ChainDeploymentActivated => "CHAIN_DEPLOYMENT_ACTIVATED",
            ChainDeploymentDeactivated => "CHAIN_DEPLOYMENT_DEACTIVATED",
            ChainDeploymentPromoted => "CHAIN_DEPLOYMENT_PROMOTED",
            ChainDeploymentDeleted => "CHAIN_DEPLOYMENT_DELETED",
            ChainDeleted => "CHAIN_DELETED",
            ChainletAutoscalingSettingsChanged => "CHAINLET_AUTOSCALING_SETTINGS_CHANGED",
            ChainletInstanceTypeChanged => "CHAINLET_INSTANCE_TYPE_CHANGED",
            EnvironmentCreated => "ENVIRONMENT_CREATED",
            EnvironmentUpdated => "ENVIRONMENT_UPDATED",
            EnvironmentDeleted => "ENVIRONMENT_DELETED",
            ApiKeyCreated => "API_KEY_CREATED",
            ApiKeyDeleted => "API_KEY_DELETED",
            SecretUpdated => "SECRET_UPDATED",
            SecretDeleted => "SECRET_DELETED",
            WebhookSigningSecretCreated => "WEBHOOK_SIGNING_SECRET_CREATED",
            WebhookSigningSecretRotated => "WEBHOOK_SIGNING_SECRET_ROTATED",
            WebhookSigningSecretDeleted => "WEBHOOK_SIGNING_SECRET_DELETED",
            SshCertificateSigned => "SSH_CERTIFICATE_SIGNED",
            UserInvited => "USER_INVITED",
            UserJoinedOrganization => "USER_JOINED_ORGANIZATION",
            UserRoleUpdated => "USER_ROLE_UPDATED",
            UserRemoved => "USER_REMOVED",
            ExportDestinationCreated => "EXPORT_DESTINATION_CREATED",
            ExportDestinationUpdated => "EXPORT_DESTINATION_UPDATED",
            ExportDestinationDeleted => "EXPORT_DESTINATION_DELETED",
            ExportReplayRequested => "EXPORT_REPLAY_REQUESTED",
            ExportRedriveRequested => "EXPORT_REDRIVE_REQUESTED",
            AuditLogKeyCreated => "AUDIT_LOG_KEY_CREATED",
            AuditLogKeyRevoked => "AUDIT_LOG_KEY_REVOKED",
        }
    }

    /// The exact, upper-case name, e.g. `MODEL_DEPLOYED`.
    pub fn parse(s: &str) -> Option<Action> {
        Action::every().find(|a| a.as_str() == s)
    }

    pub fn group(self) -> Group {
        match self {
            ModelDeployed
            | ModelDeploymentActivated
            | ModelDeploymentDeactivated
            | ModelDeploymentRetried
            | ModelDeploymentPromoted
            | ModelDeploymentAutoscalingSettingsChanged
            | ModelDeploymentInstanceTypeChanged
            | ModelDeploymentDeleted
            | ModelDeleted
            | ModelPromotionControlAction
            | ReplicaTerminated => Group::Models,
            ChainDeployed
            | ChainDeploymentActivated
            | ChainDeploymentDeactivated
            | ChainDeploymentPromoted
            | ChainDeploymentDeleted
            | ChainDeleted
            | ChainletAutoscalingSettingsChanged
            | ChainletInstanceTypeChanged => Group::Chains,
            EnvironmentCreated | EnvironmentUpdated | EnvironmentDeleted => Group::Environments,
            ApiKeyCreated
            | ApiKeyDeleted
            | SecretUpdated
            | SecretDeleted
            | WebhookSigningSecretCreated
            | WebhookSigningSecretRotated
            | WebhookSigningSecretDeleted
            | SshCertificateSigned => Group::Credentials,
            UserInvited | UserJoinedOrganization | UserRoleUpdated | UserRemoved => Group::Users,
            ExportDestinationCreated
            | ExportDestinationUpdated
            | ExportDestinationDeleted
            | ExportReplayRequested
            | ExportRedriveRequested
            | AuditLogKeyCreated
            | AuditLogKeyRevoked => Group::AuditLog,
        }
    }

    /// The `resource.type` an event of this action must carry. Replica
    /// terminations concern their deployment (the replica goes in metadata),
    /// so a deployment's history shows them.
    pub fn resource_type(self) -> &'static str {
        match self {
            ModelDeleted => "model",
            ModelDeployed
            | ModelDeploymentActivated
            | ModelDeploymentDeactivated
            | ModelDeploymentRetried
            | ModelDeploymentPromoted
            | ModelDeploymentAutoscalingSettingsChanged
            | ModelDeploymentInstanceTypeChanged
            | ModelDeploymentDeleted
            | ModelPromotionControlAction
            | ReplicaTerminated => "deployment",
            ChainDeleted => "chain",
            ChainDeployed
            | ChainDeploymentActivated
            | ChainDeploymentDeactivated
            | ChainDeploymentPromoted
            | ChainDeploymentDeleted => "chain_deployment",
            ChainletAutoscalingSettingsChanged | ChainletInstanceTypeChanged => "chainlet",
            EnvironmentCreated | EnvironmentUpdated | EnvironmentDeleted => "environment",
            ApiKeyCreated | ApiKeyDeleted => "api_key",
            SecretUpdated | SecretDeleted => "secret",
            WebhookSigningSecretCreated
            | WebhookSigningSecretRotated
            | WebhookSigningSecretDeleted => "webhook_signing_secret",
            SshCertificateSigned => "ssh_certificate",
            UserInvited | UserJoinedOrganization | UserRoleUpdated | UserRemoved => "user",
            ExportDestinationCreated
            | ExportDestinationUpdated
            | ExportDestinationDeleted
            | ExportReplayRequested
            | ExportRedriveRequested => "export_destination",
            AuditLogKeyCreated | AuditLogKeyRevoked => "audit_log_key",
        }
    }

    /// One short sentence for filter menus.
    pub fn summary(self) -> &'static str {
        match self {
            ModelDeployed => "A model deployment was created",
            ModelDeploymentActivated => "A model deployment was activated",
            ModelDeploymentDeactivated => "A model deployment was deactivated",
            ModelDeploymentRetried => "A model deployment was retried",
            ModelDeploymentPromoted => "A model deployment was promoted to an environment",
            ModelDeploymentAutoscalingSettingsChanged => {
                "A model deployment's autoscaling settings were changed"
            }
            ModelDeploymentInstanceTypeChanged => "A model deployment's instance type was changed",
            ModelDeploymentDeleted => "A model deployment was deleted",
            ModelDeleted => "A model was deleted",
            ModelPromotionControlAction => "A control such as cancel was applied to a promotion",
            ReplicaTerminated => "A replica of a model deployment was terminated",
            ChainDeployed => "A Chain deployment was created",
            ChainDeploymentActivated => "A Chain deployment was activated",
            ChainDeploymentDeactivated => "A Chain deployment was deactivated",
            ChainDeploymentPromoted => "A Chain deployment was promoted to an environment",
            ChainDeploymentDeleted => "A Chain deployment was deleted",
            ChainDeleted => "A Chain was deleted",
            ChainletAutoscalingSettingsChanged => "A Chainlet's autoscaling settings were changed",
            ChainletInstanceTypeChanged => "A Chainlet's instance type was changed",
            EnvironmentCreated => "An environment was created",
            EnvironmentUpdated => "An environment was updated",
            EnvironmentDeleted => "An environment was deleted",
            ApiKeyCreated => "An API key was created",
            ApiKeyDeleted => "An API key was deleted",
            SecretUpdated => "A secret was created or updated",
            SecretDeleted => "A secret was deleted",
            WebhookSigningSecretCreated => "A webhook signing secret was created",
            WebhookSigningSecretRotated => "A webhook signing secret was rotated",
            WebhookSigningSecretDeleted => "A webhook signing secret was deleted",
            SshCertificateSigned => "An SSH certificate was signed",
            UserInvited => "A user was invited to the organization",
            UserJoinedOrganization => "A user joined the organization",
            UserRoleUpdated => "A user's role was changed",
            UserRemoved => "A user was removed from the organization",
            ExportDestinationCreated => "An export destination was created",
            ExportDestinationUpdated => "An export destination was changed, enabled or disabled",
            ExportDestinationDeleted => "An export destination was deleted",
            ExportReplayRequested => "A past window was replayed to an export destination",
            ExportRedriveRequested => "Failed export jobs were retried from the dead-letter queue",
            AuditLogKeyCreated => "An audit log API key was created",
            AuditLogKeyRevoked => "An audit log API key was revoked",
        }
    }

    /// The metadata keys `describe` uses for this action. All are optional:
    /// a sentence without them is shorter, never broken.
    pub fn metadata_keys(self) -> &'static [&'static str] {
        match self {
            ModelDeployed
            | ModelDeploymentActivated
            | ModelDeploymentRetried
            | ModelDeploymentDeleted
            | ModelDeleted => &["model_name"],
            ModelDeploymentDeactivated => &["model_name", "reason"],
            ModelDeploymentPromoted => &["model_name", "environment"],
            ModelDeploymentAutoscalingSettingsChanged => &[
                "model_name",
                "min_replicas",
                "max_replicas",
                "concurrency_target",
            ],
            ModelDeploymentInstanceTypeChanged => &["model_name", "from", "to"],
            ModelPromotionControlAction => &["model_name", "action", "environment"],
            ReplicaTerminated => &["model_name", "replica", "reason"],
            ChainDeployed | ChainDeploymentActivated | ChainDeploymentDeleted | ChainDeleted => {
                &["chain_name"]
            }
            ChainDeploymentDeactivated => &["chain_name", "reason"],
            ChainDeploymentPromoted => &["chain_name", "environment"],
            ChainletAutoscalingSettingsChanged => &[
                "chainlet_name",
                "chain_name",
                "min_replicas",
                "max_replicas",
                "concurrency_target",
            ],
            ChainletInstanceTypeChanged => &["chainlet_name", "chain_name", "from", "to"],
            EnvironmentCreated | EnvironmentUpdated | EnvironmentDeleted => {
                &["model_name", "chain_name"]
            }
            ApiKeyCreated
            | ApiKeyDeleted
            | SecretUpdated
            | SecretDeleted
            | WebhookSigningSecretCreated
            | WebhookSigningSecretRotated
            | WebhookSigningSecretDeleted
            | SshCertificateSigned => &[],
            UserInvited => &["email", "role"],
            UserJoinedOrganization | UserRemoved => &["email"],
            UserRoleUpdated => &["email", "previous_role", "role"],
            ExportDestinationCreated | ExportDestinationDeleted => &["destination_type"],
            ExportDestinationUpdated => &["destination_type", "changes"],
            ExportReplayRequested => &["destination_type", "from", "to"],
            ExportRedriveRequested => &["jobs"],
            AuditLogKeyCreated | AuditLogKeyRevoked => &["role"],
        }
    }
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

    #[test]
    fn the_catalog_has_the_34_event_types_of_the_page_in_order() {
        assert_eq!(Action::ALL.len(), 34);
        // Strictly increasing in declaration order: page order, no duplicates.
        assert!(Action::ALL.windows(2).all(|w| w[0] < w[1]));
        let per_group: Vec<usize> = Group::ALL
            .iter()
            .map(|g| Action::ALL.iter().filter(|a| a.group() == *g).count())
            .collect();
        assert_eq!(per_group, [11, 8, 3, 8, 4, 0]);
    }

    #[test]
    fn action_names_round_trip_through_parse_and_serde() {
        for &action in Action::ALL {
            let name = action.as_str();
            assert_eq!(Action::parse(name), Some(action));
            assert_eq!(
                serde_json::to_string(&action).unwrap(),
                format!("\"{name}\"")
            );
            assert_eq!(
                serde_json::from_str::<Action>(&format!("\"{name}\"")).unwrap(),
                action
            );
        }
        assert_eq!(Action::parse("model_deployed"), None);
        assert_eq!(Action::parse(""), None);
    }

    #[test]
    fn group_slugs_round_trip_ignoring_case() {
        for g in Group::ALL {
            assert_eq!(Group::parse(g.slug()), Some(g));
            assert_eq!(Group::parse(&g.slug().to_uppercase()), Some(g));
            assert_eq!(
                serde_json::to_string(&g).unwrap(),
                format!("\"{}\"", g.slug())
            );
        }
        assert_eq!(Group::parse("secrets"), None);
    }

    #[test]
    fn resource_types_and_summaries_are_from_the_known_set() {
        let known = [
            "model",
            "deployment",
            "chain",
            "chain_deployment",
            "chainlet",
            "environment",
            "api_key",
            "secret",
            "webhook_signing_secret",
            "ssh_certificate",
            "user",
            "replica",
        ];
        for &action in Action::ALL {
            assert!(known.contains(&action.resource_type()), "{action:?}");
            assert!(action.summary().starts_with('A'), "{action:?}");
        }
    }
}
