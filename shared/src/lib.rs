//! The audit log's domain: the event model and catalog, validation,
//! authorization, query planning, cursors, and the DynamoDB store. Nothing
//! here knows about Lambda; the functions and `auditctl` wrap it.

pub mod access;
pub mod auth;
pub mod catalog;
pub mod cursor;
pub mod download;
pub mod edge;
pub mod event;
pub mod export;
pub mod ids;
pub mod integrity;
pub mod limits;
pub mod metrics;
pub mod plan;
pub mod problem;
pub mod query;
pub mod search;
pub mod secrets;
pub mod self_audit;
pub mod store;
pub mod time;
pub mod validate;

/// Builds the AWS SDK configuration once per process. Endpoints come from the
/// standard `AWS_ENDPOINT_URL*` variables, so the local stack needs no code path
/// of its own.
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}
