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
        export::handle_tick_event(app, event.payload)
            .await
            .map_err(Error::from)
    }))
    .await
}
