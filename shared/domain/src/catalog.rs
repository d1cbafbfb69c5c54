//! The catalog of event types: every action Baseten's activity log records,
//! the group the dashboard filters it under, the resource it concerns, and
//! the sentence it renders as.

use serde::{Deserialize, Serialize};

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

#[cfg(test)]
mod tests {
    use super::*;

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
