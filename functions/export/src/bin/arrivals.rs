//! The arrivals function's Lambda entry point: the events table's stream
//! (inserts only, by the event source's filter) marks late writes for the
//! scheduler to settle (`export::handle_stream_event`). It needs only the
//! store: no queue, no secrets, no destinations.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = audit_aws::aws_config().await;
    let store = audit_aws::store::Store::from_env(aws_sdk_dynamodb::Client::new(&config))?;
    let store = &store;
    // Late: written more than half the export lag after its stamp.
    let late_after = export::late_after_ms(export::ExportConfig::from_env().lag_ms);
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        export::handle_stream_event(store, event.payload, late_after)
            .await
            .map_err(Error::from)
    }))
    .await
}
