//! Destination secrets (Datadog API keys, Splunk HEC tokens, webhook signing
//! secrets) in AWS Secrets Manager: the only place they are ever stored. The
//! control table keeps the secret's name; nothing here ever puts a secret
//! value into an error, a log line or a `Debug` output.
//!
//! Names are `<prefix><org>/<destination id>` (prefix from
//! `AUDIT_DESTINATION_SECRET_PREFIX`, default `audit-log/destinations/`), so
//! one IAM statement on the prefix covers every destination and a rotation is
//! a new version of the same secret.
//!
//! Deleting schedules the secret for deletion after a 7-day recovery window
//! (the AWS minimum), in every environment: a mistaken delete can be undone
//! with `RestoreSecret`, and destination ids are never reused, so the name
//! being held for a week costs nothing.

use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::Client;

use audit_domain::ids::OrgId;

pub const DEFAULT_PREFIX: &str = "audit-log/destinations/";
/// Days a deleted secret can still be restored.
pub const RECOVERY_WINDOW_DAYS: i64 = 7;

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("secret {name} does not exist")]
    NotFound { name: String },
    #[error("secret {name} is scheduled for deletion")]
    Deleted { name: String },
    /// The service's error code and message: AWS never echoes the value.
    #[error("Secrets Manager {op} failed for {name}: {message}")]
    Service {
        op: &'static str,
        name: String,
        message: String,
    },
}

/// Service error codes that say the secret is unusable as configured (the
/// caller may not read it, or its KMS key cannot decrypt it), not that the
/// service is passing through a bad moment.
const CONFIGURATION_CODES: &[&str] = &[
    "AccessDeniedException",
    "DecryptionFailure",
    "KMSAccessDeniedException",
    "KMSDisabledException",
    "KMSInvalidStateException",
    "KMSNotFoundException",
];

impl SecretsError {
    /// Whether the fault is the destination's configuration (the secret is
    /// missing, deleted, unreadable by this role or undecryptable), which no
    /// retry will fix: an admin has to set a new secret.
    pub fn is_configuration(&self) -> bool {
        match self {
            SecretsError::NotFound { .. } | SecretsError::Deleted { .. } => true,
            SecretsError::Service { message, .. } => {
                let code = message.split_once(':').map_or("", |(code, _)| code);
                CONFIGURATION_CODES.contains(&code) || message == NO_STRING_VALUE
            }
        }
    }
}

/// Why a secret holding only binary data cannot serve as a credential.
const NO_STRING_VALUE: &str = "the secret has no string value";

/// The Secrets Manager adapter: one client, built once per process.
#[derive(Clone)]
pub struct SecretStore {
    client: Client,
    prefix: String,
}

// By hand: the client's own `Debug` says nothing useful and is long.
impl std::fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl SecretStore {
    pub fn new(client: Client, prefix: impl Into<String>) -> Self {
        SecretStore {
            client,
            prefix: prefix.into(),
        }
    }

    /// The client from the SDK configuration (`AWS_ENDPOINT_URL` reaches the
    /// local stack) and the prefix from `AUDIT_DESTINATION_SECRET_PREFIX`.
    pub fn from_env(config: &aws_config::SdkConfig) -> Self {
        let prefix = std::env::var("AUDIT_DESTINATION_SECRET_PREFIX")
            .ok()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| DEFAULT_PREFIX.to_string());
        Self::new(Client::new(config), prefix)
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The secret name of a destination.
    pub fn name_for(&self, org: &OrgId, destination_id: &str) -> String {
        format!("{}{org}/{destination_id}", self.prefix)
    }

    /// Stores `value` as the destination's secret: creates it, or puts a new
    /// current version when it already exists (a rotation). Returns its name.
    pub async fn put(
        &self,
        org: &OrgId,
        destination_id: &str,
        value: &str,
    ) -> Result<String, SecretsError> {
        let name = self.name_for(org, destination_id);
        let created = self
            .client
            .create_secret()
            .name(&name)
            .description("Audit log export destination credential")
            .secret_string(value)
            .send()
            .await;
        match created {
            Ok(_) => return Ok(name),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_exists_exception()) => {}
            Err(e) => return Err(service_error("CreateSecret", &name, e)),
        }
        self.client
            .put_secret_value()
            .secret_id(&name)
            .secret_string(value)
            .send()
            .await
            .map_err(|e| service_error("PutSecretValue", &name, e))?;
        Ok(name)
    }

    /// Creates the secret `name` (outside the destination prefix, e.g. the
    /// integrity signing key) unless it exists; returns whether it created it.
    pub async fn create_named(
        &self,
        name: &str,
        value: &str,
        description: &str,
    ) -> Result<bool, SecretsError> {
        let created = self
            .client
            .create_secret()
            .name(name)
            .description(description)
            .secret_string(value)
            .send()
            .await;
        match created {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_exists_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(service_error("CreateSecret", name, e)),
        }
    }

    /// Puts a new current version of the existing secret `name` (the
    /// signing key's rotation).
    pub async fn put_named(&self, name: &str, value: &str) -> Result<(), SecretsError> {
        self.client
            .put_secret_value()
            .secret_id(name)
            .secret_string(value)
            .send()
            .await
            .map_err(|e| service_error("PutSecretValue", name, e))?;
        Ok(())
    }

    /// The current value of the secret `name`.
    pub async fn get(&self, name: &str) -> Result<String, SecretsError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(name)
            .send()
            .await
            .map_err(|e| {
                match e.as_service_error() {
                    Some(s) if s.is_resource_not_found_exception() => {
                        SecretsError::NotFound { name: name.into() }
                    }
                    // Reading a secret scheduled for deletion is an InvalidRequest.
                    Some(s) if s.is_invalid_request_exception() => {
                        SecretsError::Deleted { name: name.into() }
                    }
                    _ => service_error("GetSecretValue", name, e),
                }
            })?;
        out.secret_string.ok_or_else(|| SecretsError::Service {
            op: "GetSecretValue",
            name: name.into(),
            message: NO_STRING_VALUE.into(),
        })
    }

    /// Schedules the secret for deletion (see the module comment). A secret
    /// that is already gone, or already scheduled, counts as deleted.
    pub async fn delete(&self, name: &str) -> Result<(), SecretsError> {
        let result = self
            .client
            .delete_secret()
            .secret_id(name)
            .recovery_window_in_days(RECOVERY_WINDOW_DAYS)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_invalid_request_exception()) =>
            {
                // Already scheduled for deletion; any other invalid request is an error.
                if self.is_scheduled_for_deletion(name).await {
                    Ok(())
                } else {
                    Err(service_error("DeleteSecret", name, e))
                }
            }
            Err(e) => Err(service_error("DeleteSecret", name, e)),
        }
    }

    async fn is_scheduled_for_deletion(&self, name: &str) -> bool {
        match self.client.describe_secret().secret_id(name).send().await {
            Ok(d) => d.deleted_date.is_some(),
            Err(_) => false,
        }
    }
}

/// Only the service's code and message: the request (which holds the value)
/// is never formatted.
fn service_error<E, R>(op: &'static str, name: &str, e: SdkError<E, R>) -> SecretsError
where
    E: ProvideErrorMetadata,
{
    let message = match &e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            format!(
                "{}: {}",
                err.code().unwrap_or("error"),
                err.message().unwrap_or("no message")
            )
        }
        SdkError::TimeoutError(_) => "timed out".into(),
        SdkError::DispatchFailure(_) => "could not reach the service".into(),
        SdkError::ResponseError(_) => "unreadable response".into(),
        SdkError::ConstructionFailure(_) => "could not build the request".into(),
        _ => "unknown error".into(),
    };
    SecretsError::Service {
        op,
        name: name.into(),
        message,
    }
}

/// Where the query function's cursor key comes from: in a deployment,
/// `AUDIT_CURSOR_SECRET_ID` names the stack's secret, read once at start-up
/// (so the value is never in the function's configuration); locally
/// (`make run`, tests) `AUDIT_CURSOR_SECRET` holds the value itself.
pub const CURSOR_SECRET_ID_ENV: &str = "AUDIT_CURSOR_SECRET_ID";
pub const CURSOR_SECRET_ENV: &str = "AUDIT_CURSOR_SECRET";

#[derive(Debug, thiserror::Error)]
pub enum CursorSecretError {
    #[error("neither {CURSOR_SECRET_ID_ENV} nor {CURSOR_SECRET_ENV} is set")]
    Unset,
    #[error("the cursor secret is empty")]
    Empty,
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}

/// The cursor key, by `CURSOR_SECRET_ID_ENV` first, then `CURSOR_SECRET_ENV`.
pub async fn cursor_secret_from_env(secrets: &SecretStore) -> Result<Vec<u8>, CursorSecretError> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let value = match (var(CURSOR_SECRET_ID_ENV), var(CURSOR_SECRET_ENV)) {
        (Some(id), _) => secrets.get(&id).await?,
        (None, Some(value)) => value,
        (None, None) => return Err(CursorSecretError::Unset),
    };
    if value.is_empty() {
        return Err(CursorSecretError::Empty);
    }
    Ok(value.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(prefix: &str) -> SecretStore {
        let config = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
            .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
            .build();
        SecretStore::new(Client::from_conf(config), prefix)
    }

    #[test]
    fn names_are_prefix_org_and_destination() {
        let org = OrgId::parse("acme").unwrap();
        assert_eq!(
            store(DEFAULT_PREFIX).name_for(&org, "dst_01"),
            "audit-log/destinations/acme/dst_01"
        );
    }

    #[test]
    fn debug_shows_only_the_prefix() {
        let text = format!("{:?}", store("p/"));
        assert!(text.contains("p/"), "{text}");
        assert!(text.len() < 60, "{text}");
    }

    #[test]
    fn missing_deleted_and_unreadable_secrets_are_configuration_faults() {
        let name = || "audit-log/destinations/acme/dst_01".to_string();
        let service = |message: &str| SecretsError::Service {
            op: "GetSecretValue",
            name: name(),
            message: message.into(),
        };
        assert!(SecretsError::NotFound { name: name() }.is_configuration());
        assert!(SecretsError::Deleted { name: name() }.is_configuration());
        assert!(service("AccessDeniedException: not authorized").is_configuration());
        assert!(service("DecryptionFailure: KMS could not decrypt").is_configuration());
        assert!(service(NO_STRING_VALUE).is_configuration());
    }

    #[test]
    fn throttling_and_outages_are_not_configuration_faults() {
        let service = |message: &str| SecretsError::Service {
            op: "GetSecretValue",
            name: "n".into(),
            message: message.into(),
        };
        assert!(!service("ThrottlingException: rate exceeded").is_configuration());
        assert!(!service("InternalServiceError: try again").is_configuration());
        assert!(!service("timed out").is_configuration());
        assert!(!service("could not reach the service").is_configuration());
    }

    #[test]
    fn errors_name_the_secret_never_a_value() {
        let e = SecretsError::NotFound {
            name: "audit-log/destinations/acme/dst_01".into(),
        };
        assert_eq!(
            e.to_string(),
            "secret audit-log/destinations/acme/dst_01 does not exist"
        );
    }
}
