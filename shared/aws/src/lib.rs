//! The AWS adapters of the audit log: the DynamoDB store (events, orgs,
//! keys, destinations, cursors, digests) and its query planning, Secrets
//! Manager, the export queue on SQS, key lookup with its cache, the signing
//! key's life cycle and the log's own events. Handlers call intent-named
//! functions here; nothing outside builds an SDK request.

pub mod access;
pub mod queue;
pub mod secrets;
pub mod self_audit;
pub mod signing;
pub mod store;

/// Builds the AWS SDK configuration once per process. Endpoints come from the
/// standard `AWS_ENDPOINT_URL*` variables, so the local stack needs no code path
/// of its own.
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}
