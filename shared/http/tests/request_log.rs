//! The request log line, in a test binary of its own: tracing caches each
//! callsite's interest process-wide, and a test thread of the library's own
//! (the routing tests answer through the same middleware) that registers the
//! log's callsite while no subscriber listens can cache "never" after this
//! test's subscriber was set, and the test then sees no line at all (CI,
//! 2026-12-07: 0 lines of 4). Alone in its process, nothing races it.

use std::sync::Mutex;

use audit_http::{finish, log_requests, only, RequestLog, RequestNotes};
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use axum::Router;
use tower::ServiceExt;
use tracing_subscriber::fmt::MakeWriter;

const LOG: RequestLog = RequestLog {
    route: "things",
    counts_events: true,
};

/// What the subscriber wrote (tracing-subscriber writes to a `Mutex<W>`).
static LINES: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// The lines `requests` log, in order.
async fn logged(requests: &[(&str, &str)]) -> Vec<String> {
    let routes = Router::new().route(
        "/things",
        only(
            &["GET"],
            get(|notes: RequestNotes| async move {
                notes.org("acme");
                notes.events(3);
                "ok"
            }),
        ),
    );
    let router = finish(log_requests(routes, LOG), LOG);
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .without_time()
        .with_writer(|| LINES.make_writer())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    for (method, path) in requests {
        let req = Request::builder()
            .method(*method)
            .uri(*path)
            .body(Body::empty())
            .expect("request");
        let _ = router.clone().oneshot(req).await;
    }
    let text =
        String::from_utf8_lossy(&LINES.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
    text.lines().map(str::to_string).collect()
}

#[tokio::test]
async fn every_request_logs_one_line_with_its_outcome() {
    let lines = logged(&[
        ("GET", "/things"),
        ("GET", "/things/"),
        ("GET", "/nothing"),
        ("PUT", "/things"),
    ])
    .await;
    assert_eq!(lines.len(), 4, "{lines:#?}");
    let expect = [
        ("/things", 200, "acme", 3),
        ("/things/", 200, "acme", 3),
        ("/nothing", 404, "-", 0),
        ("/things", 405, "-", 0),
    ];
    for (line, (path, status, org, events)) in lines.iter().zip(expect) {
        assert!(line.contains("request route=\"things\""), "{line}");
        assert!(line.contains(&format!("path=\"{path}\"")), "{line}");
        assert!(line.contains(&format!("status={status}")), "{line}");
        assert!(line.contains(&format!("org=\"{org}\"")), "{line}");
        assert!(line.contains(&format!("events={events}")), "{line}");
        assert!(line.contains("duration_ms="), "{line}");
    }
}
