//! Stand-ins for the customer's SIEM: small HTTP servers on 127.0.0.1:0 that
//! check the real wire contracts (path, auth, envelope, limits), answer the
//! way the real service does, record what they accepted, and can be told
//! to fail for a number of requests or for a while.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

use audit_destinations::webhook;

/// Datadog's per-request limits.
pub const DATADOG_MAX_ENTRIES: usize = 1000;
pub const DATADOG_MAX_BYTES: usize = 5_000_000;
/// Standard Webhooks' tolerance on `webhook-timestamp`.
pub const WEBHOOK_TOLERANCE_SECS: i64 = 300;
pub const WEBHOOK_PATH: &str = "/hooks/audit";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Datadog,
    Splunk,
    Webhook,
}

#[derive(Default)]
struct Log {
    requests: usize,
    accepted_requests: usize,
    /// Body bytes of the accepted requests.
    accepted_bytes: usize,
    max_entries: usize,
    /// Per accepted event: the Datadog entry, the HEC envelope, or the
    /// webhook record.
    entries: Vec<Value>,
    /// Per accepted event: the record (json or OCSF) it carried.
    records: Vec<Value>,
    /// `webhook-id` of every webhook request, failed ones included.
    webhook_ids: Vec<String>,
    user_agents: Vec<String>,
    /// Requests refused for breaking the contract: status and why.
    rejections: Vec<(u16, String)>,
    fail_next: Option<(usize, u16)>,
    /// Requests still answered as usual before `fail_next` starts.
    fail_after: Option<(usize, usize, u16)>,
    fail_until: Option<(Instant, u16)>,
    /// How long every request takes to answer (a slow destination).
    delay: Option<Duration>,
}

struct Shared {
    kind: Kind,
    secret: String,
    log: Mutex<Log>,
}

impl Shared {
    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running receiver; it stops with the test's runtime.
pub struct Receiver {
    base: String,
    shared: Arc<Shared>,
}

impl Receiver {
    /// Datadog Logs intake: `POST /api/v2/logs`, `DD-API-KEY`, a JSON array
    /// of at most 1000 entries and 5 MB; answers 202.
    pub async fn datadog(api_key: &str) -> Receiver {
        Receiver::start(Kind::Datadog, api_key).await
    }

    /// Splunk HEC: `POST /services/collector/event`, `Authorization: Splunk
    /// <token>`, concatenated envelopes with epoch-seconds `time`.
    pub async fn splunk(token: &str) -> Receiver {
        Receiver::start(Kind::Splunk, token).await
    }

    /// A webhook endpoint at `WEBHOOK_PATH` that verifies Standard Webhooks
    /// signatures made with `secret` (`whsec_...`).
    pub async fn webhook(secret: &str) -> Receiver {
        Receiver::start(Kind::Webhook, secret).await
    }

    async fn start(kind: Kind, secret: &str) -> Receiver {
        let shared = Arc::new(Shared {
            kind,
            secret: secret.to_owned(),
            log: Mutex::new(Log::default()),
        });
        let app = Router::new()
            .fallback(receive)
            .with_state(shared.clone())
            // The receivers enforce the destinations' own limits.
            .layer(DefaultBodyLimit::disable());
        let addr = serve(app).await;
        Receiver {
            base: format!("http://{addr}"),
            shared,
        }
    }

    /// The base URL (Datadog `intake_url`, Splunk HEC URL).
    pub fn url(&self) -> String {
        self.base.clone()
    }

    /// The webhook URL to configure.
    pub fn webhook_url(&self) -> String {
        format!("{}{WEBHOOK_PATH}", self.base)
    }

    /// The next `n` requests get `status`.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.shared.log().fail_next = Some((n, status));
    }

    /// After the next `k` requests (answered as usual), the `n` after them
    /// get `status`.
    pub fn fail_after(&self, k: usize, n: usize, status: u16) {
        self.shared.log().fail_after = Some((k, n, status));
    }

    /// Every request takes `delay` before it is answered, failed or not.
    pub fn delay_each(&self, delay: Duration) {
        self.shared.log().delay = Some(delay);
    }

    /// Every request before `until` gets `status`.
    pub fn fail_until(&self, until: Instant, status: u16) {
        self.shared.log().fail_until = Some((until, status));
    }

    /// Ids of every accepted event, in arrival order (duplicates included).
    pub fn accepted_ids(&self) -> Vec<String> {
        self.shared.log().records.iter().map(record_id).collect()
    }

    pub fn accepted_records(&self) -> Vec<Value> {
        self.shared.log().records.clone()
    }

    /// The Datadog entries, HEC envelopes or webhook records accepted.
    pub fn accepted_entries(&self) -> Vec<Value> {
        self.shared.log().entries.clone()
    }

    /// Every request that reached the receiver, failed ones included.
    pub fn requests(&self) -> usize {
        self.shared.log().requests
    }

    pub fn accepted_requests(&self) -> usize {
        self.shared.log().accepted_requests
    }

    /// The bytes of every accepted request's body, together.
    pub fn accepted_bytes(&self) -> usize {
        self.shared.log().accepted_bytes
    }

    /// The most entries one accepted request carried.
    pub fn max_entries(&self) -> usize {
        self.shared.log().max_entries
    }

    pub fn webhook_ids(&self) -> Vec<String> {
        self.shared.log().webhook_ids.clone()
    }

    pub fn user_agents(&self) -> Vec<String> {
        self.shared.log().user_agents.clone()
    }

    /// Requests refused for breaking the contract (not `fail_*` answers).
    pub fn rejections(&self) -> Vec<(u16, String)> {
        self.shared.log().rejections.clone()
    }
}

/// `id` for native JSON records, `metadata.uid` for OCSF.
pub fn record_id(record: &Value) -> String {
    record
        .get("id")
        .or_else(|| record.pointer("/metadata/uid"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a receiver");
    let addr = listener.local_addr().expect("receiver address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// A server that answers every request with a redirect to `to`.
pub async fn redirector(to: &str) -> String {
    let to = to.to_owned();
    let app = Router::new().fallback(move || {
        let to = to.clone();
        async move { (StatusCode::TEMPORARY_REDIRECT, [("location", to)]) }
    });
    format!("http://{}", serve(app).await)
}

/// A server that accepts connections and never answers.
pub async fn silent() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{addr}")
}

/// A local URL nothing listens on (connections are refused).
pub async fn refusing() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    format!("http://{addr}")
}

type Answer = (StatusCode, Value);

async fn receive(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let delay = shared.log().delay;
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    {
        let mut log = shared.log();
        log.requests += 1;
        log.user_agents.push(header("user-agent"));
        if shared.kind == Kind::Webhook {
            log.webhook_ids.push(header("webhook-id"));
        }
        if let Some(status) = failing(&mut log) {
            return failure(shared.kind, status);
        }
    }
    let (path, checked) = match shared.kind {
        Kind::Datadog => (
            "/api/v2/logs",
            check_datadog(&shared.secret, &headers, &body),
        ),
        Kind::Splunk => (
            "/services/collector/event",
            check_hec(&shared.secret, &headers, &body),
        ),
        Kind::Webhook => (WEBHOOK_PATH, check_webhook(&shared.secret, &headers, &body)),
    };
    let checked = if uri.path() != path {
        Err((
            StatusCode::NOT_FOUND,
            json!({"error": format!("no route {}", uri.path())}),
        ))
    } else if method != Method::POST {
        Err((
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"error": "POST only"}),
        ))
    } else {
        checked
    };
    let mut log = shared.log();
    match checked {
        Ok(entries) => {
            log.accepted_requests += 1;
            log.accepted_bytes += body.len();
            log.max_entries = log.max_entries.max(entries.len());
            for (entry, record) in entries {
                log.entries.push(entry);
                log.records.push(record);
            }
            ok(shared.kind)
        }
        Err((status, answer)) => {
            log.rejections.push((status.as_u16(), answer.to_string()));
            reply(status, answer)
        }
    }
}

/// The status to fail this request with, if the receiver is told to.
fn failing(log: &mut Log) -> Option<u16> {
    match log.fail_after {
        Some((0, n, status)) => {
            log.fail_after = None;
            log.fail_next = Some((n, status));
        }
        Some((k, n, status)) => {
            log.fail_after = Some((k - 1, n, status));
            return None;
        }
        None => {}
    }
    if let Some((until, status)) = log.fail_until {
        if Instant::now() < until {
            return Some(status);
        }
        log.fail_until = None;
    }
    match log.fail_next {
        Some((n, status)) if n > 0 => {
            log.fail_next = (n > 1).then_some((n - 1, status));
            Some(status)
        }
        _ => None,
    }
}

fn reply(status: StatusCode, body: Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn ok(kind: Kind) -> Response {
    match kind {
        Kind::Datadog => reply(StatusCode::ACCEPTED, json!({})),
        Kind::Splunk => reply(StatusCode::OK, json!({"text": "Success", "code": 0})),
        Kind::Webhook => reply(StatusCode::OK, json!({"received": true})),
    }
}

/// What the real service answers with `status`.
fn failure(kind: Kind, status: u16) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let body = match (kind, status) {
        (Kind::Splunk, 503) => json!({"text": "Server is busy", "code": 9}),
        (Kind::Splunk, 500) => json!({"text": "Internal server error", "code": 8}),
        (Kind::Splunk, 401 | 403) => json!({"text": "Invalid token", "code": 4}),
        (Kind::Splunk, _) => json!({"text": "Error", "code": 8}),
        (Kind::Datadog, _) => json!({"errors": [code.canonical_reason().unwrap_or("error")]}),
        (Kind::Webhook, _) => json!({"error": "failing on purpose"}),
    };
    reply(code, body)
}

type Checked = Result<Vec<(Value, Value)>, Answer>;

fn check_datadog(api_key: &str, headers: &HeaderMap, body: &[u8]) -> Checked {
    let forbidden = || (StatusCode::FORBIDDEN, json!({"errors": ["Forbidden"]}));
    if headers.get("dd-api-key").and_then(|v| v.to_str().ok()) != Some(api_key) {
        return Err(forbidden());
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.starts_with("application/json") {
        return Err((
            StatusCode::BAD_REQUEST,
            json!({"errors": ["Content-Type must be application/json"]}),
        ));
    }
    if body.len() > DATADOG_MAX_BYTES {
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({"errors": ["Payload too large"]}),
        ));
    }
    let Ok(Value::Array(entries)) = serde_json::from_slice::<Value>(body) else {
        return Err((
            StatusCode::BAD_REQUEST,
            json!({"errors": ["body must be a JSON array"]}),
        ));
    };
    if entries.len() > DATADOG_MAX_ENTRIES {
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({"errors": ["Too many entries"]}),
        ));
    }
    entries
        .into_iter()
        .map(|entry| {
            let Some(message) = entry.get("message").and_then(Value::as_str) else {
                return Err((
                    StatusCode::BAD_REQUEST,
                    json!({"errors": ["entry without a message"]}),
                ));
            };
            let record =
                serde_json::from_str(message).unwrap_or_else(|_| Value::String(message.to_owned()));
            Ok((entry, record))
        })
        .collect()
}

fn hec_error(status: StatusCode, text: &str, code: u32) -> Answer {
    (status, json!({"text": text, "code": code}))
}

fn check_hec(token: &str, headers: &HeaderMap, body: &[u8]) -> Checked {
    let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return Err(hec_error(StatusCode::UNAUTHORIZED, "Token is required", 2));
    };
    if auth != format!("Splunk {token}") {
        return Err(hec_error(StatusCode::UNAUTHORIZED, "Invalid token", 4));
    }
    let envelopes: Vec<Value> = serde_json::Deserializer::from_slice(body)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .map_err(|_| hec_error(StatusCode::BAD_REQUEST, "Invalid data format", 6))?;
    if envelopes.is_empty() {
        return Err(hec_error(StatusCode::BAD_REQUEST, "No data", 5));
    }
    envelopes
        .into_iter()
        .map(|envelope| {
            let Some(event) = envelope.get("event").filter(|e| !e.is_null()).cloned() else {
                return Err(hec_error(
                    StatusCode::BAD_REQUEST,
                    "Event field is required",
                    12,
                ));
            };
            // Epoch seconds (with a fraction), not milliseconds, not a string.
            let time_ok = envelope
                .get("time")
                .and_then(Value::as_f64)
                .is_some_and(|t| (946_684_800.0..10_000_000_000.0).contains(&t));
            if !time_ok {
                return Err(hec_error(StatusCode::BAD_REQUEST, "Invalid data format", 6));
            }
            Ok((envelope, event))
        })
        .collect()
}

fn check_webhook(secret: &str, headers: &HeaderMap, body: &[u8]) -> Checked {
    let unauthorized = |why: &str| (StatusCode::UNAUTHORIZED, json!({"error": why}));
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(id), Some(ts), Some(signature)) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    ) else {
        return Err(unauthorized("missing webhook headers"));
    };
    let Ok(ts) = ts.parse::<i64>() else {
        return Err(unauthorized("bad webhook-timestamp"));
    };
    if (chrono::Utc::now().timestamp() - ts).abs() > WEBHOOK_TOLERANCE_SECS {
        return Err(unauthorized("webhook-timestamp outside the tolerance"));
    }
    if webhook::verify(secret, id, ts, body, signature) != Ok(true) {
        return Err(unauthorized("signature does not verify"));
    }
    let Ok(payload) = serde_json::from_slice::<Value>(body) else {
        return Err((
            StatusCode::BAD_REQUEST,
            json!({"error": "body is not JSON"}),
        ));
    };
    let Some(data) = payload.get("data").and_then(Value::as_array) else {
        return Err((StatusCode::BAD_REQUEST, json!({"error": "no data array"})));
    };
    if payload.get("type").and_then(Value::as_str) != Some(webhook::EVENT_TYPE) {
        return Err((StatusCode::BAD_REQUEST, json!({"error": "wrong type"})));
    }
    Ok(data.iter().map(|r| (r.clone(), r.clone())).collect())
}
