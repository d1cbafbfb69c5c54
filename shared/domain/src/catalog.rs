//! The catalog of event types, as one table: every action the activity log
//! records, one row each, with its wire name, the group the dashboard
//! filters it under, the resource type it concerns, a summary for filter
//! menus, the metadata keys its sentence uses and the sentence's template
//! (see `describe` for the template syntax). Adding an action is adding a
//! row.

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

/// One action's row in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub action: Action,
    /// The exact, upper-case wire name, e.g. `MODEL_DEPLOYED`.
    pub name: &'static str,
    pub group: Group,
    /// The `resource.type` an event of this action must carry.
    pub resource_type: &'static str,
    /// One short sentence for filter menus.
    pub summary: &'static str,
    /// The metadata keys the sentence uses. All are optional: a sentence
    /// without them is shorter, never broken.
    pub metadata_keys: &'static [&'static str],
    /// How an event of this action reads after its subject ("Ada Lovelace",
    /// "System"); the syntax is `describe`'s.
    pub template: &'static str,
}

/// Declares the `Action` enum and the table from the same rows, so a row is
/// the only place an action is written down.
macro_rules! catalog {
    ($(
        $action:ident = $name:literal, $group:ident, $resource:literal,
        $summary:literal,
        [$($key:literal),*],
        $template:literal;
    )*) => {
        /// An event type. Baseten's audit log page lists 34 (11 models and
        /// deployments, 8 Chains, 3 environments, 8 credentials and secrets,
        /// 4 users), declared first in the page's order, so `Ord` follows it;
        /// the audit log's own events (group `audit_log`) come last.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Action {
            $($action,)*
        }

        /// Every row, in declaration order: `ROWS[action as usize]` is the
        /// action's own.
        pub const ROWS: &[Row] = &[$(
            Row {
                action: Action::$action,
                name: $name,
                group: Group::$group,
                resource_type: $resource,
                summary: $summary,
                metadata_keys: &[$($key),*],
                template: $template,
            },
        )*];

        const NAMES: &[&str] = &[$($name),*];
        const EVERY: &[Action] = &[$(Action::$action),*];
    };
}

catalog! {
    ModelDeployed = "MODEL_DEPLOYED", Models, "deployment",
        "A model deployment was created",
        ["model_name"],
        "<deployed model {model_name} (deployment {resource})|created deployment {resource}>";
    ModelDeploymentActivated = "MODEL_DEPLOYMENT_ACTIVATED", Models, "deployment",
        "A model deployment was activated",
        ["model_name"],
        "activated deployment {resource}[ of model {model_name}]";
    ModelDeploymentDeactivated = "MODEL_DEPLOYMENT_DEACTIVATED", Models, "deployment",
        "A model deployment was deactivated",
        ["model_name", "reason"],
        "deactivated deployment {resource}[ of model {model_name}][ for {reason}]";
    ModelDeploymentRetried = "MODEL_DEPLOYMENT_RETRIED", Models, "deployment",
        "A model deployment was retried",
        ["model_name"],
        "retried deployment {resource}[ of model {model_name}]";
    ModelDeploymentPromoted = "MODEL_DEPLOYMENT_PROMOTED", Models, "deployment",
        "A model deployment was promoted to an environment",
        ["model_name", "environment"],
        "promoted deployment {resource}[ of model {model_name}][ to {environment}]";
    ModelDeploymentAutoscalingSettingsChanged = "MODEL_DEPLOYMENT_AUTOSCALING_SETTINGS_CHANGED", Models, "deployment",
        "A model deployment's autoscaling settings were changed",
        ["model_name", "min_replicas", "max_replicas", "concurrency_target"],
        "changed the autoscaling settings of deployment {resource}[ of model {model_name}]{autoscaling}";
    ModelDeploymentInstanceTypeChanged = "MODEL_DEPLOYMENT_INSTANCE_TYPE_CHANGED", Models, "deployment",
        "A model deployment's instance type was changed",
        ["model_name", "from", "to"],
        "changed the instance type of deployment {resource}[ of model {model_name}][ from {from}][ to {to}]";
    ModelDeploymentDeleted = "MODEL_DEPLOYMENT_DELETED", Models, "deployment",
        "A model deployment was deleted",
        ["model_name"],
        "deleted deployment {resource}[ of model {model_name}]";
    ModelDeleted = "MODEL_DELETED", Models, "model",
        "A model was deleted",
        ["model_name"],
        "deleted model {resource.name|model_name|resource.id}";
    ModelPromotionControlAction = "MODEL_PROMOTION_CONTROL_ACTION", Models, "deployment",
        "A control such as cancel was applied to a promotion",
        ["model_name", "action", "environment"],
        "<applied the \"{action}\" control to|acted on> the promotion of deployment {resource}[ of model {model_name}][ to {environment}]";
    ReplicaTerminated = "REPLICA_TERMINATED", Models, "deployment",
        "A replica of a model deployment was terminated",
        ["model_name", "replica", "reason"],
        "terminated <replica {replica}|a replica> of deployment {resource}[ of model {model_name}][ for {reason}]";
    ChainDeployed = "CHAIN_DEPLOYED", Chains, "chain_deployment",
        "A Chain deployment was created",
        ["chain_name"],
        "<deployed Chain {chain_name} (Chain deployment {resource})|created Chain deployment {resource}>";
    ChainDeploymentActivated = "CHAIN_DEPLOYMENT_ACTIVATED", Chains, "chain_deployment",
        "A Chain deployment was activated",
        ["chain_name"],
        "activated Chain deployment {resource}[ of Chain {chain_name}]";
    ChainDeploymentDeactivated = "CHAIN_DEPLOYMENT_DEACTIVATED", Chains, "chain_deployment",
        "A Chain deployment was deactivated",
        ["chain_name", "reason"],
        "deactivated Chain deployment {resource}[ of Chain {chain_name}][ for {reason}]";
    ChainDeploymentPromoted = "CHAIN_DEPLOYMENT_PROMOTED", Chains, "chain_deployment",
        "A Chain deployment was promoted to an environment",
        ["chain_name", "environment"],
        "promoted Chain deployment {resource}[ of Chain {chain_name}][ to {environment}]";
    ChainDeploymentDeleted = "CHAIN_DEPLOYMENT_DELETED", Chains, "chain_deployment",
        "A Chain deployment was deleted",
        ["chain_name"],
        "deleted Chain deployment {resource}[ of Chain {chain_name}]";
    ChainDeleted = "CHAIN_DELETED", Chains, "chain",
        "A Chain was deleted",
        ["chain_name"],
        "deleted Chain {resource.name|chain_name|resource.id}";
    ChainletAutoscalingSettingsChanged = "CHAINLET_AUTOSCALING_SETTINGS_CHANGED", Chains, "chainlet",
        "A Chainlet's autoscaling settings were changed",
        ["chainlet_name", "chain_name", "min_replicas", "max_replicas", "concurrency_target"],
        "changed the autoscaling settings of Chainlet {resource.name|chainlet_name|resource.id}[ of Chain {chain_name}]{autoscaling}";
    ChainletInstanceTypeChanged = "CHAINLET_INSTANCE_TYPE_CHANGED", Chains, "chainlet",
        "A Chainlet's instance type was changed",
        ["chainlet_name", "chain_name", "from", "to"],
        "changed the instance type of Chainlet {resource.name|chainlet_name|resource.id}[ of Chain {chain_name}][ from {from}][ to {to}]";
    EnvironmentCreated = "ENVIRONMENT_CREATED", Environments, "environment",
        "An environment was created",
        ["model_name", "chain_name"],
        "created environment {resource}< of model {model_name}| of Chain {chain_name}|>";
    EnvironmentUpdated = "ENVIRONMENT_UPDATED", Environments, "environment",
        "An environment was updated",
        ["model_name", "chain_name"],
        "updated environment {resource}< of model {model_name}| of Chain {chain_name}|>";
    EnvironmentDeleted = "ENVIRONMENT_DELETED", Environments, "environment",
        "An environment was deleted",
        ["model_name", "chain_name"],
        "deleted environment {resource}< of model {model_name}| of Chain {chain_name}|>";
    ApiKeyCreated = "API_KEY_CREATED", Credentials, "api_key",
        "An API key was created",
        [],
        "created API key {resource}";
    ApiKeyDeleted = "API_KEY_DELETED", Credentials, "api_key",
        "An API key was deleted",
        [],
        "deleted API key {resource}";
    SecretUpdated = "SECRET_UPDATED", Credentials, "secret",
        "A secret was created or updated",
        [],
        "updated secret {resource}";
    SecretDeleted = "SECRET_DELETED", Credentials, "secret",
        "A secret was deleted",
        [],
        "deleted secret {resource}";
    WebhookSigningSecretCreated = "WEBHOOK_SIGNING_SECRET_CREATED", Credentials, "webhook_signing_secret",
        "A webhook signing secret was created",
        [],
        "created webhook signing secret {resource}";
    WebhookSigningSecretRotated = "WEBHOOK_SIGNING_SECRET_ROTATED", Credentials, "webhook_signing_secret",
        "A webhook signing secret was rotated",
        [],
        "rotated webhook signing secret {resource}";
    WebhookSigningSecretDeleted = "WEBHOOK_SIGNING_SECRET_DELETED", Credentials, "webhook_signing_secret",
        "A webhook signing secret was deleted",
        [],
        "deleted webhook signing secret {resource}";
    SshCertificateSigned = "SSH_CERTIFICATE_SIGNED", Credentials, "ssh_certificate",
        "An SSH certificate was signed",
        [],
        "<{?actor}had SSH certificate {resource} signed|signed SSH certificate {resource}>";
    UserInvited = "USER_INVITED", Users, "user",
        "A user was invited to the organization",
        ["email", "role"],
        "invited <{email|resource.name}|user {resource.id}>[ as {role}]";
    UserJoinedOrganization = "USER_JOINED_ORGANIZATION", Users, "user",
        "A user joined the organization",
        ["email"],
        "<{?self}joined the organization|added <{resource.name|email}|user {resource.id}> to the organization>";
    UserRoleUpdated = "USER_ROLE_UPDATED", Users, "user",
        "A user's role was changed",
        ["email", "previous_role", "role"],
        "changed the role of <{resource.name|email}|user {resource.id}>[ from {previous_role}][ to {role}]";
    UserRemoved = "USER_REMOVED", Users, "user",
        "A user was removed from the organization",
        ["email"],
        "removed <{resource.name|email}|user {resource.id}> from the organization";
    ExportDestinationCreated = "EXPORT_DESTINATION_CREATED", AuditLog, "export_destination",
        "An export destination was created",
        ["destination_type"],
        "created export destination {resource}[ ({destination_type})]";
    ExportDestinationUpdated = "EXPORT_DESTINATION_UPDATED", AuditLog, "export_destination",
        "An export destination was changed, enabled or disabled",
        ["destination_type", "changes"],
        "changed export destination {resource}[ ({destination_type})][: {changes}]";
    ExportDestinationDeleted = "EXPORT_DESTINATION_DELETED", AuditLog, "export_destination",
        "An export destination was deleted",
        ["destination_type"],
        "deleted export destination {resource}[ ({destination_type})]";
    ExportReplayRequested = "EXPORT_REPLAY_REQUESTED", AuditLog, "export_destination",
        "A past window was replayed to an export destination",
        ["destination_type", "from", "to"],
        "replayed events recorded[ after {from}][ up to {to}] to export destination {resource}[ ({destination_type})]";
    ExportRedriveRequested = "EXPORT_REDRIVE_REQUESTED", AuditLog, "export_destination",
        "Failed export jobs were retried from the dead-letter queue",
        ["destination_type", "jobs"],
        "retried <{jobs} failed export jobs|failed export jobs> of export destination {resource}[ ({destination_type})]";
    AuditLogKeyCreated = "AUDIT_LOG_KEY_CREATED", AuditLog, "audit_log_key",
        "An audit log API key was created",
        ["role"],
        "created <{role} audit log key|audit log key> {resource}";
    AuditLogKeyRevoked = "AUDIT_LOG_KEY_REVOKED", AuditLog, "audit_log_key",
        "An audit log API key was revoked",
        [],
        "revoked audit log key {resource}";
    AuditLogExported = "AUDIT_LOG_EXPORTED", AuditLog, "audit_log",
        "Events of the activity log were downloaded through a viewer token",
        ["format", "filter", "rows", "continued"],
        "downloaded <{rows} events|events> of the activity log[ as {format}][ matching {filter}][ (continued: {continued})]";
    AuditLogEmbeddingChanged = "AUDIT_LOG_EMBEDDING_CHANGED", AuditLog, "audit_log",
        "The sites that may embed the Activity page were changed",
        ["frame_ancestors", "previous"],
        "allowed <{frame_ancestors}|no site> to embed the activity log[ (before: {previous})]";
}

/// How many rows come before the first of the audit log's own.
const PRODUCIBLE: usize = {
    let mut n = 0;
    while n < ROWS.len() && !matches!(ROWS[n].group, Group::AuditLog) {
        n += 1;
    }
    n
};

impl Action {
    /// Every event type producers may send, in the order Baseten's page
    /// lists them (34).
    pub const ALL: &'static [Action] = EVERY.split_at(PRODUCIBLE).0;

    /// The audit log's own events (group `audit_log`): recorded by the
    /// service when an admin changes where the log goes or who may use it.
    /// Producers cannot send them.
    pub const SELF_AUDIT: &'static [Action] = EVERY.split_at(PRODUCIBLE).1;

    /// Every action the log can hold: the producers' catalog, then its own.
    pub fn every() -> impl Iterator<Item = Action> {
        EVERY.iter().copied()
    }

    /// This action's row of the catalog.
    pub fn row(self) -> &'static Row {
        &ROWS[self as usize]
    }

    /// Whether only the service itself may record this action.
    pub fn is_self_audit(self) -> bool {
        self.group() == Group::AuditLog
    }

    /// The exact, upper-case name, e.g. `MODEL_DEPLOYED`.
    pub fn as_str(self) -> &'static str {
        self.row().name
    }

    /// By exact, upper-case name.
    pub fn parse(s: &str) -> Option<Action> {
        ROWS.iter().find(|r| r.name == s).map(|r| r.action)
    }

    pub fn group(self) -> Group {
        self.row().group
    }

    /// The `resource.type` an event of this action must carry. Replica
    /// terminations concern their deployment (the replica goes in metadata),
    /// so a deployment's history shows them.
    pub fn resource_type(self) -> &'static str {
        self.row().resource_type
    }

    /// One short sentence for filter menus.
    pub fn summary(self) -> &'static str {
        self.row().summary
    }

    /// The metadata keys the description uses.
    pub fn metadata_keys(self) -> &'static [&'static str] {
        self.row().metadata_keys
    }
}

impl Serialize for Action {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Name;
        impl serde::de::Visitor<'_> for Name {
            type Value = Action;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an action name such as MODEL_DEPLOYED")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Action, E> {
                Action::parse(s).ok_or_else(|| E::unknown_variant(s, NAMES))
            }
        }
        deserializer.deserialize_str(Name)
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

    #[test]
    fn each_row_is_found_by_its_action() {
        for (i, row) in ROWS.iter().enumerate() {
            assert_eq!(row.action as usize, i, "{:?}", row.action);
            assert_eq!(row.action.row(), row);
        }
        assert_eq!(ROWS.len(), Action::every().count());
    }

    #[test]
    fn the_audit_logs_own_rows_come_after_every_producible_one() {
        assert_eq!(Action::ALL.len() + Action::SELF_AUDIT.len(), ROWS.len());
        assert!(Action::SELF_AUDIT.iter().all(|a| a.is_self_audit()));
        assert!(Action::ALL.iter().all(|a| !a.is_self_audit()));
        assert_eq!(Action::SELF_AUDIT.len(), 9);
    }

    #[test]
    fn an_unknown_name_is_refused_naming_the_known_ones() {
        let e = serde_json::from_str::<Action>("\"NOPE\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown variant `NOPE`"), "{e}");
        assert!(e.contains("`MODEL_DEPLOYED`"), "{e}");
    }
}
