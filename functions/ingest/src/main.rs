//! Lambda entry point: build clients once, then serve `POST /v1/events`
//! through the function's router.

use std::sync::Arc;

use audit_aws::access::Authenticator;
use audit_aws::store::Store;
use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = audit_aws::aws_config().await;
    let app = Arc::new(ingest::App {
        store: Store::from_env(aws_sdk_dynamodb::Client::new(&config))?,
        auth: Authenticator::from_env(),
    });
    audit_http::lambda::run(ingest::router(app)).await
}
