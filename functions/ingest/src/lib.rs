//! The ingest function: `POST /v1/events`, one event or a batch of up to 100.
//! [`router`] is an axum `Router`, so Lambda, `auditctl serve` and the tests
//! run the very same code.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use audit_aws::access::{Authenticator, Caller};
use audit_aws::store::{PutOutcome, Store, StoreError};
use audit_domain::event::{Event, NewEvent};
use audit_domain::limits::INGEST_WRITE_CONCURRENCY;
use audit_domain::time::Timestamp;
use audit_domain::validate::{parse_submission, take_event, FieldError, Submission};
use audit_http::{self as edge, ApiError, BodyBytes, EventWriter, RequestLog, RequestNotes};
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use futures::stream::{self, StreamExt};
use http::StatusCode;
use serde::Serialize;
use serde_json::json;

/// What the ingest function holds for its lifetime: clients built once.
#[derive(Debug)]
pub struct App {
    pub store: Store,
    pub auth: Authenticator,
}

impl edge::KeyLookup for App {
    fn authenticator(&self) -> &Authenticator {
        &self.auth
    }

    fn store(&self) -> &Store {
        &self.store
    }
}

/// How this function's requests are logged: `route="ingest"`, with `events`.
pub const LOG: RequestLog = RequestLog {
    route: "ingest",
    counts_events: true,
};

/// The function's routes: `POST /v1/events`; the path's `GET` is the query
/// function's, so this one answers it with 405 `Allow: GET, POST`.
pub fn router(app: Arc<App>) -> Router {
    let routes = Router::new()
        .route("/v1/events", edge::only(&["GET", "POST"], post(record)))
        .with_state(app);
    edge::finish(edge::log_requests(routes, LOG), LOG)
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
    /// The store throttled this org (or an earlier put of the batch was
    /// throttled, so this one was not tried): nothing was written.
    Throttled,
    /// The store failed; the error was logged where it happened.
    Failed,
}

/// `POST /v1/events`: the caller (an ingest key) was checked before the body
/// was read.
async fn record(
    State(app): State<Arc<App>>,
    EventWriter(caller): EventWriter,
    notes: RequestNotes,
    body: BodyBytes,
) -> Result<Response, ApiError> {
    let submission = parse_submission(&body)?;
    let now = Timestamp::now();
    match submission {
        Submission::One(mut value) => {
            notes.events(1);
            let answer = match take_event(&mut value, now, "") {
                Err(errors) => Err(ApiError::from(errors)),
                Ok(new) => record_one(&app, &caller, new, now).await,
            };
            // 201 created; 400 invalid and 409 conflict are rejections.
            let status = answer
                .as_ref()
                .map_or_else(ApiError::status, Response::status);
            audit_domain::metrics::ingest(
                usize::from(status == StatusCode::CREATED),
                usize::from(status == StatusCode::BAD_REQUEST || status == StatusCode::CONFLICT),
            );
            answer
        }
        Submission::Batch(values) => {
            notes.events(values.len());
            Ok(record_batch(&app, &caller, values, now).await)
        }
    }
}

async fn store_event(app: &App, caller: &Caller, event: &Event) -> Stored {
    match app.store.put_event(event, caller.org.retention_days).await {
        Ok(outcome) => Stored::Outcome(outcome),
        Err(e @ StoreError::Throttled { .. }) => {
            tracing::warn!(error = %e, event_id = %event.id, "store throttled an event");
            Stored::Throttled
        }
        Err(e) => {
            tracing::error!(error = %e, event_id = %event.id, "storing event failed");
            Stored::Failed
        }
    }
}

async fn record_one(
    app: &App,
    caller: &Caller,
    new: NewEvent,
    now: Timestamp,
) -> Result<Response, ApiError> {
    let event = Event::from_new(caller.principal.org_id.clone(), new, now);
    let id = &event.id;
    match store_event(app, caller, &event).await {
        Stored::Outcome(PutOutcome::Created) => Ok(edge::json(
            StatusCode::CREATED,
            &json!({"result": "created", "event": event.view()}),
        )),
        Stored::Outcome(PutOutcome::Duplicate(existing)) => Ok(edge::json(
            StatusCode::OK,
            &json!({"result": "duplicate", "event": existing.view()}),
        )),
        Stored::Outcome(PutOutcome::Conflict(_)) => Err(ApiError::conflict(&format!(
            "An event with id {id} is already stored with different content; it was left unchanged. Use a new id for a new event."
        ))),
        Stored::Throttled => Err(ApiError::throttled()),
        Stored::Failed => Err(ApiError::unavailable()),
    }
}

async fn record_batch(
    app: &App,
    caller: &Caller,
    mut values: Vec<serde_json::Value>,
    now: Timestamp,
) -> Response {
    let mut results: Vec<Option<BatchResult>> = (0..values.len()).map(|_| None).collect();
    let mut valid = Vec::with_capacity(values.len());
    for (index, value) in values.iter_mut().enumerate() {
        match take_event(value, now, &format!("events[{index}].")) {
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
    // Valid events are stored even when others in the batch are not. After
    // the first throttle no further put starts: the rest are answered
    // `throttled` (not written), so a retry of those lands each once.
    let throttled = AtomicBool::new(false);
    let throttled = &throttled;
    let stored: Vec<(usize, String, Stored)> = stream::iter(valid)
        .map(|(index, new)| async move {
            let event = Event::from_new(caller.principal.org_id.clone(), new, now);
            let outcome = if throttled.load(Ordering::Relaxed) {
                Stored::Throttled
            } else {
                store_event(app, caller, &event).await
            };
            if matches!(outcome, Stored::Throttled) {
                throttled.store(true, Ordering::Relaxed);
            }
            (index, event.id.to_string(), outcome)
        })
        .buffer_unordered(INGEST_WRITE_CONCURRENCY)
        .collect()
        .await;
    let mut any_failed = false;
    let mut any_throttled = false;
    for (index, id, outcome) in stored {
        let result = match outcome {
            Stored::Outcome(PutOutcome::Created) => "created",
            Stored::Outcome(PutOutcome::Duplicate(_)) => "duplicate",
            Stored::Outcome(PutOutcome::Conflict(_)) => "conflict",
            Stored::Throttled => {
                any_throttled = true;
                "throttled"
            }
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
        "throttled": count("throttled"),
    });
    // A store failure makes the whole answer retryable (503), a throttle
    // alone a 429 with Retry-After; ids make the retry safe for the events
    // that did land.
    let status = if any_failed {
        StatusCode::SERVICE_UNAVAILABLE
    } else if any_throttled {
        StatusCode::TOO_MANY_REQUESTS
    } else {
        StatusCode::OK
    };
    let mut response = edge::json(status, &json!({"summary": summary, "results": results}));
    if status != StatusCode::OK {
        response.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static(edge::THROTTLED_RETRY_AFTER),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{to_bytes, Body};
    use http::Request;
    use tower::ServiceExt;

    /// An app whose clients are never reached: every answer below comes
    /// from the router before a handler runs.
    fn app() -> Arc<App> {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .build();
        let tables = audit_aws::store::Tables {
            events: "unused-events".into(),
            control: "unused-control".into(),
        };
        Arc::new(App {
            store: Store::new(aws_sdk_dynamodb::Client::from_conf(config), tables),
            auth: Authenticator::new(std::time::Duration::ZERO),
        })
    }

    async fn call(method: &str, path: &str) -> (u16, String, String) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .expect("request");
        let response = router(app()).oneshot(req).await.expect("infallible");
        let allow = response
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let status = response.status().as_u16();
        let body = to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        // A HEAD answer has no body to read the problem from.
        let kind = match method {
            "HEAD" => String::new(),
            _ => serde_json::from_slice::<serde_json::Value>(&body).expect("a problem")["type"]
                .as_str()
                .unwrap_or("")
                .into(),
        };
        (status, allow, kind)
    }

    #[tokio::test]
    async fn only_post_v1_events_is_served_here() {
        for (method, path, status, allow) in [
            ("GET", "/v1/events", 405, "GET, POST"),
            ("HEAD", "/v1/events", 405, "GET, POST"),
            ("DELETE", "/v1/events/", 405, "GET, POST"),
            ("POST", "/v1/events/evt_1", 404, ""),
            ("POST", "/v1/event-types", 404, ""),
            ("GET", "/", 404, ""),
        ] {
            let (got, got_allow, kind) = call(method, path).await;
            assert_eq!(
                (got, got_allow.as_str()),
                (status, allow),
                "{method} {path}"
            );
            let slug = if status == 405 {
                "method-not-allowed"
            } else {
                "not-found"
            };
            if method != "HEAD" {
                assert_eq!(kind, format!("https://auditlog.dev/problems/{slug}"));
            }
        }
    }
}
