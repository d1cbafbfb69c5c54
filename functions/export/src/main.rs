//! Lambda entry point: build clients once, then hand every payload (SQS job
//! batches and EventBridge schedule ticks, the two triggers the template
//! wires) to `export::handle_event`.

use audit_aws::queue::ExportQueue;
use audit_aws::secrets::SecretStore;
use audit_aws::store::{Store, Tables};
use audit_destinations::deliver::Deliverer;
use audit_destinations::UrlPolicy;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = audit_aws::aws_config().await;
    let app = export::ExportApp {
        store: Store::new(aws_sdk_dynamodb::Client::new(&config), Tables::from_env()),
        queue: ExportQueue::from_env(aws_sdk_sqs::Client::new(&config)).await?,
        secrets: SecretStore::from_env(&config),
        deliverer: Deliverer::new(
            &config,
            std::time::Duration::from_secs(10),
            UrlPolicy::from_env(),
        ),
        config: export::ExportConfig::from_env(),
    };
    let app = &app;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = export::deadline_from_epoch_millis(event.context.deadline);
        export::handle_event_until(app, event.payload, deadline)
            .await
            .map_err(Error::from)
    }))
    .await
}
