//! DynamoDB throttling, end to end: a small proxy in front of DynamoDB
//! Local answers `ProvisionedThroughputExceededException` the way DynamoDB
//! does once an org passes its partition's write rate. The client must see
//! a 429 with `Retry-After` (never a 5xx), a batch must say which events
//! were not written, and retrying them must land each event once.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use audit_aws::store::{Store, Tables};
use audit_domain::auth::Role;
use audit_log_tests::Stack;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// What the proxy lets through: `event_puts` more event writes, then every
/// one is throttled; queries are throttled while `queries_throttled`.
struct Throttle {
    upstream: String,
    http: reqwest::Client,
    event_puts: AtomicUsize,
    queries_throttled: AtomicBool,
    throttled: AtomicUsize,
}

async fn proxy(State(t): State<Arc<Throttle>>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let is_event_put = target.ends_with(".PutItem") && body.windows(4).any(|w| w == b"EVT#");
    let refuse = if is_event_put {
        t.event_puts
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_err()
    } else {
        target.ends_with(".Query") && t.queries_throttled.load(Ordering::SeqCst)
    };
    if refuse {
        t.throttled.fetch_add(1, Ordering::SeqCst);
        let body = json!({
            "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            "message": "The level of configured provisioned throughput for the table was exceeded."
        });
        return (
            StatusCode::BAD_REQUEST,
            [("content-type", "application/x-amz-json-1.0")],
            body.to_string(),
        )
            .into_response();
    }
    let mut req = t.http.post(&t.upstream).body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            req = req.header(name, value);
        }
    }
    match req.send().await {
        Ok(r) => {
            let status = r.status();
            let mut out = HeaderMap::new();
            for (name, value) in r.headers() {
                if name != "content-length" && name != "transfer-encoding" {
                    out.insert(name.clone(), value.clone());
                }
            }
            let bytes = r.bytes().await.unwrap_or_default();
            (status, out, bytes).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

/// The proxy on 127.0.0.1, and a store whose client goes through it.
async fn throttled_stack() -> (Stack, Arc<Throttle>) {
    let upstream = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .expect("AWS_ENDPOINT_URL_DYNAMODB: run under scripts/stack.sh with-stack");
    let throttle = Arc::new(Throttle {
        upstream,
        http: reqwest::Client::new(),
        event_puts: AtomicUsize::new(usize::MAX),
        queries_throttled: AtomicBool::new(false),
        throttled: AtomicUsize::new(0),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    let app = axum::Router::new()
        .fallback(proxy)
        .with_state(throttle.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let config = audit_aws::aws_config().await;
    let ddb = aws_sdk_dynamodb::config::Builder::from(&config)
        .endpoint_url(format!("http://{addr}"))
        .build();
    let store = Store::new(aws_sdk_dynamodb::Client::from_conf(ddb), Tables::from_env());
    (Stack::start_over(store).await, throttle)
}

fn batch(n: usize) -> Value {
    let events: Vec<Value> = (0..n)
        .map(|i| {
            json!({"id": format!("evt_th_{i:03}"), "action": "USER_INVITED",
                "resource": {"type": "user", "id": "usr_x"}, "metadata": {}})
        })
        .collect();
    json!({ "events": events })
}

async fn post(s: &Stack, key: &str, body: &Value) -> (u16, Option<String>, Value) {
    let r = s
        .http
        .post(format!("{}/v1/events", s.base))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .expect("POST");
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap_or("").to_string());
    (status, retry_after, r.json().await.expect("JSON body"))
}

#[tokio::test]
async fn a_throttled_batch_is_a_429_naming_the_unwritten_events_and_a_retry_lands_each_once() {
    let (s, throttle) = throttled_stack().await;
    let org = s.org("throttle", false).await;
    let (ingest, _) = s.key(&org, Role::Ingest).await;
    let (admin, _) = s.key(&org, Role::Admin).await;

    // The store takes 5 event writes, then throttles every one.
    throttle.event_puts.store(5, Ordering::SeqCst);
    let (status, retry_after, body) = post(&s, &ingest, &batch(40)).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(retry_after.as_deref(), Some("2"));
    assert_eq!(body["summary"]["created"], 5, "{body}");
    assert_eq!(body["summary"]["throttled"], 35, "{body}");
    assert_eq!(body["summary"]["failed"], 0, "{body}");
    let results = body["results"].as_array().expect("results");
    assert_eq!(results.len(), 40);
    assert!(results
        .iter()
        .all(|r| r["result"] == "created" || r["result"] == "throttled"));
    // The batch stopped at the first throttle: only the puts already in
    // flight were sent (each tried 3 times by the SDK), not all 35 left.
    let refused = throttle.throttled.load(Ordering::SeqCst);
    let in_flight = audit_domain::limits::INGEST_WRITE_CONCURRENCY;
    assert!(
        refused <= 3 * in_flight && refused < 3 * 35,
        "{refused} puts throttled: the batch did not stop"
    );

    // A single event is a 429 problem, retryable, saying nothing internal.
    let one = json!({"id": "evt_th_one", "action": "USER_INVITED",
        "resource": {"type": "user", "id": "usr_x"}, "metadata": {}});
    let (status, retry_after, problem) = post(&s, &ingest, &one).await;
    assert_eq!(status, 429, "{problem}");
    assert_eq!(retry_after.as_deref(), Some("2"));
    assert_eq!(problem["type"], "https://auditlog.dev/problems/throttled");
    assert!(!problem.to_string().contains("Provisioned"), "{problem}");

    // Reads: a throttled listing or download is a 429 too.
    throttle.queries_throttled.store(true, Ordering::SeqCst);
    for path in ["/v1/events", "/v1/events?format=csv"] {
        let r = s
            .http
            .get(format!("{}{path}", s.base))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("GET");
        assert_eq!(r.status().as_u16(), 429, "{path}");
        assert_eq!(r.headers()["retry-after"], "2", "{path}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
    }
    throttle.queries_throttled.store(false, Ordering::SeqCst);

    // The client retries the same batch once the store takes writes again.
    throttle.event_puts.store(usize::MAX, Ordering::SeqCst);
    let (status, _, body) = post(&s, &ingest, &batch(40)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["summary"]["created"], 35, "{body}");
    assert_eq!(body["summary"]["duplicate"], 5, "{body}");
    let listed = s.all_pages(&admin, &[], 200).await;
    assert_eq!(listed.len(), 40, "each event once, none lost");
}
