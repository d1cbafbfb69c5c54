//! Lambda entry point: build clients once, then take EventBridge schedule
//! ticks and SQS job batches (the two triggers the template wires).

use audit_log::export::deliver::Deliverer;
use audit_log::export::queue::{ExportQueue, JobMessage};
use audit_log::secrets::SecretStore;
use audit_log::store::{Store, Tables};
use audit_log::time::Timestamp;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = audit_log::aws_config().await;
    let app = export::ExportApp {
        store: Store::new(aws_sdk_dynamodb::Client::new(&config), Tables::from_env()),
        queue: ExportQueue::from_env(aws_sdk_sqs::Client::new(&config)).await?,
        secrets: SecretStore::from_env(&config),
        deliverer: Deliverer::new(&config, std::time::Duration::from_secs(10)),
        config: export::ExportConfig::from_env(),
    };
    let app = &app;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        dispatch(app, event.payload).await
    }))
    .await
}

async fn dispatch(app: &export::ExportApp, payload: Value) -> Result<Value, Error> {
    if payload.get("Records").is_some() {
        let event: SqsEvent = serde_json::from_value(payload)?;
        let failed = export::handle_jobs(app, jobs(event)).await;
        let mut response = SqsBatchResponse::default();
        for id in failed {
            response.add_failure(id);
        }
        return Ok(serde_json::to_value(response)?);
    }
    // Anything else is the EventBridge schedule.
    let report = export::schedule(app, Timestamp::now()).await;
    Ok(
        serde_json::json!({ "destinations": report.destinations, "windows": report.windows, "errors": report.errors }),
    )
}

fn jobs(event: SqsEvent) -> Vec<JobMessage> {
    event
        .records
        .into_iter()
        .filter_map(|r| {
            let attr = |name: &str| r.attributes.get(name).map(String::as_str);
            Some(JobMessage::from_attributes(
                r.message_id.clone()?,
                r.receipt_handle.clone()?,
                r.body.clone().unwrap_or_default(),
                attr("ApproximateReceiveCount"),
                attr("ApproximateFirstReceiveTimestamp"),
            ))
        })
        .collect()
}
