//! The Lambda payloads of the export crate's two functions: the worker's SQS
//! batch of jobs (answered with a partial batch response) and the
//! scheduler's EventBridge tick (answered with the tick's report). Each
//! binary only builds the app and calls its handler, so the samples in
//! `events/` run through them in tests.

use audit_aws::queue::JobMessage;
use audit_domain::time::Timestamp;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use serde_json::{json, Value};

use crate::ExportApp;

/// The `detail-type` of the events an EventBridge schedule sends.
const SCHEDULED_EVENT: &str = "Scheduled Event";

/// Why a payload was not handled. Delivery failures are not errors here:
/// they are in the batch response, or in the report's counts.
#[derive(Debug, thiserror::Error)]
pub enum ExportEventError {
    #[error("the payload is not an SQS event: {0}")]
    NotSqs(#[source] serde_json::Error),
    #[error("the payload is not the trigger of this function: {0}")]
    UnknownTrigger(String),
    #[error("encoding the response failed: {0}")]
    Response(#[source] serde_json::Error),
    #[error("recording late arrivals failed: {0}")]
    Store(#[source] audit_aws::store::StoreError),
}

/// The worker function's handler: SQS records are jobs, answered with a
/// partial batch response. Anything else is refused. Without a deadline of
/// its own (the poller of `auditctl serve`), it takes the configured
/// invocation budget.
pub async fn handle_jobs_event(app: &ExportApp, payload: Value) -> Result<Value, ExportEventError> {
    let deadline = std::time::Instant::now() + app.config.invocation_budget;
    handle_jobs_event_until(app, payload, deadline).await
}

/// `handle_jobs_event` before the invocation's deadline (Lambda's `Context`):
/// no request starts that could not finish before it.
pub async fn handle_jobs_event_until(
    app: &ExportApp,
    payload: Value,
    deadline: std::time::Instant,
) -> Result<Value, ExportEventError> {
    if payload.get("Records").is_none() {
        return Err(ExportEventError::UnknownTrigger(
            "the worker takes SQS batches only (no Records)".into(),
        ));
    }
    let event: SqsEvent = serde_json::from_value(payload).map_err(ExportEventError::NotSqs)?;
    let failed = crate::handle_jobs_until(app, jobs(event), deadline).await;
    let mut response = SqsBatchResponse::default();
    for id in failed {
        response.add_failure(id);
    }
    serde_json::to_value(response).map_err(ExportEventError::Response)
}

/// The scheduler function's handler: a `Scheduled Event` is a tick, answered
/// with its report. Anything else (an SQS batch included) is refused.
/// Without a deadline of its own, the tick takes the configured budgets.
pub async fn handle_tick_event(app: &ExportApp, payload: Value) -> Result<Value, ExportEventError> {
    handle_tick_event_within(app, payload, None).await
}

/// `handle_tick_event` before the invocation's deadline (Lambda's
/// `Context`): sealing and settling stop in time for the tick to answer.
pub async fn handle_tick_event_until(
    app: &ExportApp,
    payload: Value,
    deadline: std::time::Instant,
) -> Result<Value, ExportEventError> {
    handle_tick_event_within(app, payload, Some(deadline)).await
}

async fn handle_tick_event_within(
    app: &ExportApp,
    payload: Value,
    deadline: Option<std::time::Instant>,
) -> Result<Value, ExportEventError> {
    match serde_json::from_value::<EventBridgeEvent<Value>>(payload) {
        Ok(event) if event.detail_type == SCHEDULED_EVENT => {}
        Ok(event) => {
            return Err(ExportEventError::UnknownTrigger(format!(
                "EventBridge detail-type {:?}",
                event.detail_type
            )))
        }
        Err(e) => return Err(ExportEventError::UnknownTrigger(e.to_string())),
    }
    let report = match deadline {
        Some(deadline) => crate::schedule_until(app, Timestamp::now(), deadline).await,
        None => crate::schedule(app, Timestamp::now()).await,
    };
    // No value when the destinations could not be listed: the lag alarm
    // treats missing data as breaching, where a 0 would look healthy.
    if let Some(lag) = report.max_lag_secs {
        audit_domain::metrics::export_lag(lag);
    }
    Ok(json!({
        "destinations": report.destinations,
        "windows": report.windows,
        "errors": report.errors,
        "max_lag_secs": report.max_lag_secs,
        "seal": {
            "orgs": report.seal.orgs,
            "digests": report.seal.digests,
            "errors": report.seal.errors,
        },
        "late": {
            "marks": report.late.marks,
            "restamped": report.late.restamped,
            "redelivered": report.late.redelivered,
            "errors": report.late.errors,
        },
    }))
}

/// The records as jobs. A record without an id or receipt handle cannot be
/// named in a batch response nor settled: it is dropped with the batch.
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
