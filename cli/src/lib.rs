//! `auditctl`'s library: building the functions' apps from the environment,
//! creating the local resources (`init`), and the local server (`serve`),
//! which merges the very same routers the Lambdas run.

pub mod export_runner;
pub mod server;
pub mod signing_key;
pub mod verify;
pub mod witness;

use std::sync::Arc;

use audit_aws::access::Authenticator;
use audit_aws::secrets::SecretStore;
use audit_aws::store::{Store, StoreError};
use audit_destinations::deliver::Deliverer;
use audit_destinations::UrlPolicy;
use audit_domain::cursor::CursorCodec;

/// Everything the local server hosts, built once.
#[derive(Debug)]
pub struct Apps {
    pub ingest: Arc<ingest::App>,
    pub query: Arc<query::App>,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0} must be set")]
    MissingEnv(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("AUDIT_DEFAULT_RETENTION_DAYS: {0}")]
    Retention(#[from] audit_domain::retention::RetentionError),
}

/// The store from the standard environment (`AWS_ENDPOINT_URL_DYNAMODB`,
/// `AUDIT_EVENTS_TABLE`, `AUDIT_CONTROL_TABLE`, `AUDIT_DEFAULT_RETENTION_DAYS`).
pub async fn store_from_env() -> Result<Store, SetupError> {
    let config = audit_aws::aws_config().await;
    Ok(Store::from_env(aws_sdk_dynamodb::Client::new(&config))?)
}

/// Builds both apps over one store, as the two Lambdas would. `config`
/// reaches Secrets Manager and the destinations; `urls` says whether
/// destination URLs may be http or private (`UrlPolicy::from_env()` in
/// `serve`; tests pass it explicitly).
pub fn apps(
    store: Store,
    cursor_secret: &[u8],
    auth: fn() -> Authenticator,
    config: &aws_config::SdkConfig,
    urls: UrlPolicy,
    export_queue: Option<audit_aws::queue::ExportQueue>,
) -> Arc<Apps> {
    Arc::new(Apps {
        ingest: Arc::new(ingest::App {
            store: store.clone(),
            auth: auth(),
        }),
        query: Arc::new(query::App {
            store,
            auth: auth(),
            cursors: CursorCodec::new(cursor_secret.to_vec()),
            secrets: SecretStore::from_env(config),
            urls,
            deliverer: Deliverer::new(config, std::time::Duration::from_secs(10), urls),
            export_queue,
            budgets: query::Budgets::default(),
        }),
    })
}

pub fn cursor_secret_from_env() -> Result<Vec<u8>, SetupError> {
    std::env::var("AUDIT_CURSOR_SECRET")
        .map(String::into_bytes)
        .map_err(|_| SetupError::MissingEnv("AUDIT_CURSOR_SECRET"))
}

/// The export function's app from the environment, as the Lambda builds it.
pub async fn export_app(store: Store) -> Result<export::ExportApp, String> {
    use audit_aws::queue::ExportQueue;
    use audit_destinations::deliver::Deliverer;
    let config = audit_aws::aws_config().await;
    Ok(export::ExportApp {
        store,
        queue: ExportQueue::from_env(aws_sdk_sqs::Client::new(&config))
            .await
            .map_err(|e| format!("export queue: {e} (run `auditctl init`)"))?,
        secrets: audit_aws::secrets::SecretStore::from_env(&config),
        deliverer: Deliverer::new(
            &config,
            std::time::Duration::from_secs(10),
            UrlPolicy::from_env(),
        ),
        config: export::ExportConfig::from_env(),
        reads: Default::default(),
    })
}

/// Creates `bucket` as the template's `CheckpointBucket` is, for the local
/// stack: versioned, Object Lock in compliance mode (one day here, 3,650
/// days in the template), so no version can be deleted. A bucket of ours
/// that already has its lock is left as it is (a second `auditctl init`).
pub async fn ensure_locked_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<(), String> {
    use aws_sdk_s3::types::{
        DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode,
        ObjectLockRule,
    };
    let failed = |what: &str, e: &dyn std::fmt::Display| format!("{what} of bucket {bucket}: {e}");
    // S3 in us-east-1 (and moto) answers a second create by the owner
    // with success, so the lock is looked at rather than assumed.
    if let Err(e) = s3
        .create_bucket()
        .bucket(bucket)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
    {
        if !e
            .as_service_error()
            .is_some_and(|s| s.is_bucket_already_owned_by_you())
        {
            return Err(failed(
                "creation",
                &aws_sdk_s3::error::DisplayErrorContext(&e),
            ));
        }
    }
    let locked = s3
        .get_object_lock_configuration()
        .bucket(bucket)
        .send()
        .await
        .ok()
        .and_then(|out| out.object_lock_configuration)
        .is_some_and(|c| c.rule.is_some());
    if locked {
        return Ok(());
    }
    let retention = DefaultRetention::builder()
        .mode(ObjectLockRetentionMode::Compliance)
        .days(1)
        .build();
    let lock = ObjectLockConfiguration::builder()
        .object_lock_enabled(ObjectLockEnabled::Enabled)
        .rule(
            ObjectLockRule::builder()
                .default_retention(retention)
                .build(),
        )
        .build();
    s3.put_object_lock_configuration()
        .bucket(bucket)
        .object_lock_configuration(lock)
        .send()
        .await
        .map_err(|e| failed("the lock", &aws_sdk_s3::error::DisplayErrorContext(&e)))?;
    Ok(())
}
