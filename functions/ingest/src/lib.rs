//! The ingest function: `POST /v1/events`, one event or a batch of up to 100.
//! The handler is a plain async function over an `http::Request`, so Lambda,
//! `auditctl serve` and the tests run the very same code.

use std::time::Instant;

use audit_aws::access::{Authenticator, Caller};
use audit_aws::store::{PutOutcome, Store};
use audit_domain::auth::{authorize, Permission};
use audit_domain::event::{Event, NewEvent};
use audit_domain::limits::{INGEST_WRITE_CONCURRENCY, MAX_BODY_BYTES};
use audit_domain::problem::Problem;
use audit_domain::time::Timestamp;
use audit_domain::validate::{parse_event, parse_submission, FieldError, Submission};
use audit_http::legacy::{self as edge, HttpResponse};
use futures::stream::{self, StreamExt};
use http::{Method, Request};
use serde::Serialize;
use serde_json::json;

/// What the ingest function holds for its lifetime: clients built once.
#[derive(Debug)]
pub struct App {
    pub store: Store,
    pub auth: Authenticator,
}

/// The result for one event of a batch, reported by its index.
#[derive(Debug, Serialize)]
struct BatchResult {
    index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    result: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<FieldError>,
}

enum Stored {
    Outcome(PutOutcome),
    /// The store failed; the error was logged where it happened.
    Failed,
}

/// Serves one request; never fails: every error becomes a problem response.
pub async fn handle<B: AsRef<[u8]>>(app: &App, req: Request<B>) -> HttpResponse {
    let started = Instant::now();
    let (response, org, events) = route(app, &req).await;
    tracing::info!(
        route = "ingest",
        method = %req.method(),
        path = req.uri().path(),
        status = response.status().as_u16(),
        org = org.as_deref().unwrap_or("-"),
        events,
        duration_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

async fn route<B: AsRef<[u8]>>(
    app: &App,
    req: &Request<B>,
) -> (HttpResponse, Option<String>, usize) {
    if req.uri().path().trim_end_matches('/') != "/v1/events" {
        return (
            edge::problem(&Problem::not_found("No such route.")),
            None,
            0,
        );
    }
    if req.method() != Method::POST {
        // The path also answers GET (the query function).
        return (edge::method_not_allowed(&["GET", "POST"]), None, 0);
    }
    let caller = match app
        .auth
        .authenticate(&app.store, edge::authorization(req.headers()))
        .await
    {
        Ok(c) => c,
        Err(e) => {
            if let audit_aws::access::AuthError::Store(err) = &e {
                tracing::error!(error = %err, "key lookup failed");
            }
            return (edge::problem(&Problem::from(&e)), None, 0);
        }
    };
    let org = Some(caller.principal.org_id.to_string());
    if let Err(denied) = authorize(
        caller.principal.role,
        access(&caller),
        Permission::WriteEvents,
    ) {
        return (edge::problem(&Problem::from(&denied)), org, 0);
    }
    let body = req.body().as_ref();
    if body.len() > MAX_BODY_BYTES {
        return (edge::problem(&Problem::too_large(MAX_BODY_BYTES)), org, 0);
    }
    let submission = match parse_submission(body) {
        Ok(s) => s,
        Err(e) => return (edge::problem(&Problem::invalid(vec![e])), org, 0),
    };
    let now = Timestamp::now();
    match submission {
        Submission::One(value) => {
            let response = match parse_event(&value, now, "") {
                Err(errors) => edge::problem(&Problem::invalid(errors)),
                Ok(new) => ingest_one(app, &caller, new, now).await,
            };
            // 201 created; 400 invalid and 409 conflict are rejections.
            let status = response.status().as_u16();
            audit_domain::metrics::ingest(
                usize::from(status == 201),
                usize::from(status == 400 || status == 409),
            );
            (response, org, 1)
        }
        Submission::Batch(values) => {
            let n = values.len();
            (ingest_batch(app, &caller, values, now).await, org, n)
        }
    }
}

fn access(caller: &Caller) -> audit_domain::auth::OrgAccess {
    audit_domain::auth::OrgAccess {
        uses_teams: caller.org.uses_teams,
    }
}

async fn store_event(app: &App, caller: &Caller, event: &Event) -> Stored {
    match app.store.put_event(event, caller.org.retention_days).await {
        Ok(outcome) => Stored::Outcome(outcome),
        Err(e) => {
            tracing::error!(error = %e, event_id = %event.id, "storing event failed");
            Stored::Failed
        }
    }
}

async fn ingest_one(app: &App, caller: &Caller, new: NewEvent, now: Timestamp) -> HttpResponse {
    let event = Event::from_new(caller.principal.org_id.clone(), new, now);
    let id = &event.id;
    match store_event(app, caller, &event).await {
        Stored::Outcome(PutOutcome::Created) => edge::json(201, &json!({"result": "created", "event": event.view()})),
        Stored::Outcome(PutOutcome::Duplicate(existing)) => {
            edge::json(200, &json!({"result": "duplicate", "event": existing.view()}))
        }
        Stored::Outcome(PutOutcome::Conflict(_)) => edge::problem(&Problem::conflict(&format!(
            "An event with id {id} is already stored with different content; it was left unchanged. Use a new id for a new event."
        ))),
        Stored::Failed => edge::problem(&Problem::unavailable()),
    }
}

async fn ingest_batch(
    app: &App,
    caller: &Caller,
    values: Vec<serde_json::Value>,
    now: Timestamp,
) -> HttpResponse {
    let mut results: Vec<Option<BatchResult>> = (0..values.len()).map(|_| None).collect();
    let mut valid = Vec::with_capacity(values.len());
    for (index, value) in values.iter().enumerate() {
        match parse_event(value, now, &format!("events[{index}].")) {
            Ok(new) => valid.push((index, new)),
            Err(errors) => {
                results[index] = Some(BatchResult {
                    index,
                    id: value.get("id").and_then(|v| v.as_str()).map(str::to_string),
                    result: "invalid",
                    errors,
                })
            }
        }
    }
    // Valid events are stored even when others in the batch are not.
    let stored: Vec<(usize, String, Stored)> = stream::iter(valid)
        .map(|(index, new)| async move {
            let event = Event::from_new(caller.principal.org_id.clone(), new, now);
            (
                index,
                event.id.to_string(),
                store_event(app, caller, &event).await,
            )
        })
        .buffer_unordered(INGEST_WRITE_CONCURRENCY)
        .collect()
        .await;
    let mut any_failed = false;
    for (index, id, outcome) in stored {
        let result = match outcome {
            Stored::Outcome(PutOutcome::Created) => "created",
            Stored::Outcome(PutOutcome::Duplicate(_)) => "duplicate",
            Stored::Outcome(PutOutcome::Conflict(_)) => "conflict",
            Stored::Failed => {
                any_failed = true;
                "failed"
            }
        };
        results[index] = Some(BatchResult {
            index,
            id: Some(id),
            result,
            errors: Vec::new(),
        });
    }
    let results: Vec<BatchResult> = results.into_iter().flatten().collect();
    let count = |r: &str| results.iter().filter(|b| b.result == r).count();
    audit_domain::metrics::ingest(count("created"), count("invalid") + count("conflict"));
    let summary = json!({
        "created": count("created"),
        "duplicate": count("duplicate"),
        "conflict": count("conflict"),
        "invalid": count("invalid"),
        "failed": count("failed"),
    });
    // A store failure makes the whole answer retryable (503); ids make the
    // retry safe for the events that did land.
    let status = if any_failed { 503 } else { 200 };
    edge::json(status, &json!({"summary": summary, "results": results}))
}
