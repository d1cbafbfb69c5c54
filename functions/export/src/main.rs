//! The export worker's Lambda entry point: build the app once, then hand
//! every SQS batch of window jobs to `export::handle_jobs_event`. The
//! scheduler is the other binary, `bin/scheduler.rs`.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let app = export::ExportApp::from_env().await?;
    let app = &app;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = export::deadline_from_epoch_millis(event.context.deadline);
        export::handle_jobs_event_until(app, event.payload, deadline)
            .await
            .map_err(Error::from)
    }))
    .await
}
