//! The export function's two triggers, played locally: a timer for the
//! scheduler (EventBridge in AWS) and a poller for the worker (the SQS event
//! source mapping in AWS). Both call the export crate's handlers.

use std::time::Duration;

use audit_domain::time::Timestamp;

/// Receives one batch, handles it, and deletes the messages that did not
/// fail (what Lambda's event source mapping does with a partial batch
/// response). Returns how many messages were received.
pub async fn poll_once(app: &export::ExportApp, wait_secs: i32) -> Result<usize, String> {
    let messages = app
        .queue
        .receive(10, wait_secs)
        .await
        .map_err(|e| e.to_string())?;
    let received = messages.len();
    let handles: Vec<(String, String)> = messages
        .iter()
        .map(|m| (m.message_id.clone(), m.receipt_handle.clone()))
        .collect();
    let failed = export::handle_jobs(app, messages).await;
    for (id, receipt) in handles {
        if !failed.contains(&id) {
            app.queue
                .delete(&receipt)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(received)
}

/// Runs the scheduler every `interval` and the worker poller continuously,
/// until the process ends.
pub async fn run(app: export::ExportApp, interval: Duration) {
    let app = std::sync::Arc::new(app);
    let scheduler = {
        let app = app.clone();
        async move {
            let mut tick = tokio::time::interval(interval);
            loop {
                tick.tick().await;
                export::schedule(&app, Timestamp::now()).await;
            }
        }
    };
    let poller = async move {
        loop {
            if let Err(e) = poll_once(&app, 10).await {
                tracing::error!(error = %e, "export poll failed");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    };
    tokio::join!(scheduler, poller);
}
