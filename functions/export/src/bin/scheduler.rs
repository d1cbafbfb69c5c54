//! The export scheduler's Lambda entry point: build the app once, then run
//! one tick per EventBridge schedule event (`export::handle_tick_event`).
//! The template holds this function to one instance and never retries it.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let app = export::ExportApp::from_env().await?;
    let app = &app;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        // Sealing and settling stop before the invocation's deadline.
        let deadline = export::deadline_from_epoch_millis(event.context.deadline);
        export::handle_tick_event_until(app, event.payload, deadline)
            .await
            .map_err(Error::from)
    }))
    .await
}
