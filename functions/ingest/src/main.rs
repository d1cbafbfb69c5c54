//! Lambda entry point: build clients once, then serve `POST /v1/events`.

use audit_aws::access::Authenticator;
use audit_aws::store::{Store, Tables};
use lambda_http::{run, service_fn, Body, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = audit_aws::aws_config().await;
    let app = ingest::App {
        store: Store::new(aws_sdk_dynamodb::Client::new(&config), Tables::from_env()),
        auth: Authenticator::from_env(),
    };
    let app = &app;
    run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(ingest::handle(app, req).await.map(Body::from))
    }))
    .await
}
