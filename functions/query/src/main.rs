//! Lambda entry point: build clients once, then serve the read API through
//! the function's router.

use std::sync::Arc;
use std::time::Duration;

use audit_aws::access::Authenticator;
use audit_aws::secrets::SecretStore;
use audit_aws::store::Store;
use audit_destinations::deliver::Deliverer;
use audit_destinations::UrlPolicy;
use audit_domain::cursor::CursorCodec;
use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = audit_aws::aws_config().await;
    let secrets = SecretStore::from_env(&config);
    // Read once per cold start; the template passes the secret's id only.
    let cursor_key = audit_aws::secrets::cursor_secret_from_env(&secrets).await?;
    let app = Arc::new(query::App {
        store: Store::from_env(aws_sdk_dynamodb::Client::new(&config))?,
        auth: Authenticator::from_env(),
        cursors: CursorCodec::new(cursor_key),
        secrets,
        urls: UrlPolicy::from_env(),
        // API Gateway gives a request 30 s; a test delivery gets 10.
        deliverer: Deliverer::new(&config, Duration::from_secs(10), UrlPolicy::from_env()),
        // Replays need the export queue; without it they answer 503.
        export_queue: audit_aws::queue::ExportQueue::from_env(aws_sdk_sqs::Client::new(&config))
            .await
            .map_err(|e| tracing::warn!(error = %e, "export queue unavailable: replays disabled"))
            .ok(),
        budgets: query::Budgets::default(),
    });
    audit_http::lambda::run(query::router(app)).await
}
