//! Figure 5: a local Lambda Runtime API (the 2018-06-01 interface every
//! Lambda runtime polls) that hands a function process its invocations and
//! times them: process start to the first `next` (ready) and to the first
//! response, then the peak RSS after the remaining invocations.

use std::collections::VecDeque;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::sync::Notify;

#[derive(Debug, Clone)]
pub struct ColdStart {
    /// Process start to the first `GET .../invocation/next`.
    pub ready_ms: f64,
    /// Process start to the first invocation's response.
    pub first_response_ms: f64,
    /// All invocations answered (responses and errors).
    pub answered: usize,
    pub errors: usize,
    /// The first response body (to check that it was a real answer).
    pub first_body: String,
    /// Peak resident set size (`VmHWM`) after every invocation, in KiB.
    pub peak_rss_kib: u64,
}

#[derive(Default)]
struct Api {
    started: Option<Instant>,
    pending: VecDeque<(String, String)>,
    ready: Option<Instant>,
    first_response: Option<(Instant, String)>,
    answered: usize,
    errors: usize,
    init_error: Option<String>,
}

struct Shared {
    api: Mutex<Api>,
    done: Notify,
    total: usize,
}

impl Shared {
    fn api(&self) -> std::sync::MutexGuard<'_, Api> {
        self.api.lock().unwrap_or_else(|p| p.into_inner())
    }
}

async fn runtime_api(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let path = uri.path();
    if method == Method::GET && path == "/2018-06-01/runtime/invocation/next" {
        let next = {
            let mut api = shared.api();
            if api.ready.is_none() {
                api.ready = Some(Instant::now());
            }
            api.pending.pop_front()
        };
        let Some((id, event)) = next else {
            // No more work: hold the poll like Lambda does between invocations.
            std::future::pending::<()>().await;
            return StatusCode::NO_CONTENT.into_response();
        };
        let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
        return (
            StatusCode::OK,
            [
                ("content-type", "application/json".to_string()),
                ("lambda-runtime-aws-request-id", id),
                ("lambda-runtime-deadline-ms", deadline.to_string()),
                (
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:bench".to_string(),
                ),
                (
                    "lambda-runtime-trace-id",
                    "Root=1-00000000-000000000000000000000000;Sampled=0".to_string(),
                ),
            ],
            event,
        )
            .into_response();
    }
    if method == Method::POST {
        let text = String::from_utf8_lossy(&body).into_owned();
        let mut api = shared.api();
        if path == "/2018-06-01/runtime/init/error" {
            api.init_error = Some(text);
            shared.done.notify_one();
        } else if path.ends_with("/response") || path.ends_with("/error") {
            if api.first_response.is_none() {
                api.first_response = Some((Instant::now(), text));
            }
            api.answered += 1;
            if path.ends_with("/error") {
                api.errors += 1;
            }
            if api.answered >= shared.total {
                shared.done.notify_one();
            }
        }
        return (StatusCode::ACCEPTED, "{}").into_response();
    }
    StatusCode::NOT_FOUND.into_response()
}

/// A process's peak resident set (VmHWM) in KiB: the suite's reader, shared
/// with figure 6's seal child and the sealing-memory test.
pub use audit_log_tests::peak_rss_kib;

/// Starts `binary` against a fresh Runtime API serving `events` in order
/// (at least one), waits for every answer (or `timeout`), and stops it.
pub async fn measure(
    binary: &Path,
    env: &[(String, String)],
    events: Vec<String>,
    log: &Path,
    timeout: Duration,
) -> Result<ColdStart, String> {
    let total = events.len();
    let shared = Arc::new(Shared {
        api: Mutex::new(Api {
            pending: events
                .into_iter()
                .enumerate()
                .map(|(i, e)| (format!("req-{i:05}"), e))
                .collect(),
            ..Api::default()
        }),
        done: Notify::new(),
        total,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind the runtime API: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("runtime API address: {e}"))?;
    let app = Router::new()
        .fallback(runtime_api)
        .with_state(shared.clone());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let log_file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err_file = log_file
        .try_clone()
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let name = binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut cmd = Command::new(binary);
    cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", &name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .stdin(Stdio::null())
        .stdout(Stdio::from(log_file))
        .stderr(Stdio::from(err_file));
    let started = Instant::now();
    shared.api().started = Some(started);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("start {}: {e}", binary.display()))?;
    let waited = tokio::time::timeout(timeout, shared.done.notified()).await;
    let rss = peak_rss_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    server.abort();
    let api = shared.api();
    if let Some(e) = &api.init_error {
        return Err(format!("{name}: init error: {e}"));
    }
    if waited.is_err() {
        return Err(format!(
            "{name}: {} of {total} invocations answered within {timeout:?} (see {})",
            api.answered,
            log.display()
        ));
    }
    let ms = |t: Instant| t.duration_since(started).as_secs_f64() * 1000.0;
    let (first, first_body) = api
        .first_response
        .clone()
        .ok_or_else(|| format!("{name}: no response"))?;
    Ok(ColdStart {
        ready_ms: api.ready.map_or(f64::NAN, ms),
        first_response_ms: ms(first),
        answered: api.answered,
        errors: api.errors,
        first_body,
        peak_rss_kib: rss,
    })
}

/// An API Gateway HTTP API (payload 2.0) event, as API Gateway sends it.
pub fn apigw_event(method: &str, path: &str, query: &str, key: &str, body: Option<&str>) -> String {
    let now = chrono::Utc::now();
    serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "authorization": format!("Bearer {key}"),
            "content-type": "application/json",
            "host": "bench.execute-api.us-east-1.amazonaws.com"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "bench",
            "domainName": "bench.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "bench",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"},
            "requestId": ulid::Ulid::new().to_string(),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
            "timeEpoch": now.timestamp_millis()
        },
        "body": body,
        "isBase64Encoded": false
    })
    .to_string()
}
