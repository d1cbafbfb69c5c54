//! One log line per request with its outcome: the function (`route`),
//! method, path, status, org (`-` before a key was checked), for ingest the
//! number of events, and the duration. Handlers and extractors note the org
//! and the count on the request ([`RequestNotes`]); the line is written once
//! the response is ready. Everything the request logs meanwhile (an internal
//! error, say) is inside a `request` span with the same route, path and org.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use http::request::Parts;
use http::Extensions;
use tracing::Instrument;

/// How a function's requests are logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLog {
    /// The function's name, the line's `route` field (`ingest`, `query`).
    pub route: &'static str,
    /// Whether the line carries `events` (0 until the body was read).
    pub counts_events: bool,
}

#[derive(Debug, Default)]
struct Notes {
    org: OnceLock<String>,
    events: OnceLock<usize>,
}

/// Where a handler notes what the request's log line reports; does nothing
/// outside [`log_requests`] (a router under test without it).
#[derive(Debug, Clone, Default)]
pub struct RequestNotes(Option<Arc<Notes>>);

impl RequestNotes {
    pub fn of(extensions: &Extensions) -> Self {
        extensions
            .get::<RequestNotes>()
            .cloned()
            .unwrap_or_default()
    }

    /// The caller's org, once the key was checked.
    pub fn org(&self, org: &str) {
        if let Some(notes) = &self.0 {
            let _ = notes.org.set(org.to_string());
        }
        tracing::Span::current().record("org", org);
    }

    /// How many events the request submitted.
    pub fn events(&self, count: usize) {
        if let Some(notes) = &self.0 {
            let _ = notes.events.set(count);
        }
    }
}

/// The path as the client sent it, on a request the router rewrote before
/// routing it again (trailing slashes dropped): the log line names this one.
#[derive(Debug, Clone)]
pub(crate) struct SentPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RequestNotes {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestNotes::of(&parts.extensions))
    }
}

/// Logs every request `router` answers (its routes and its fallback as set
/// so far), one line each.
pub fn log_requests(router: Router, log: RequestLog) -> Router {
    router.layer(middleware::from_fn_with_state(log, log_request))
}

async fn log_request(State(log): State<RequestLog>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let notes = Arc::new(Notes::default());
    req.extensions_mut()
        .insert(RequestNotes(Some(Arc::clone(&notes))));
    let method = req.method().clone();
    let path = match req.extensions().get::<SentPath>() {
        Some(SentPath(sent)) => sent.clone(),
        None => req.uri().path().to_string(),
    };
    let span = tracing::info_span!(
        "request",
        route = log.route,
        method = %method,
        path = path.as_str(),
        org = tracing::field::Empty,
    );
    let response = next.run(req).instrument(span).await;
    let events = log
        .counts_events
        .then(|| notes.events.get().copied().unwrap_or(0));
    tracing::info!(
        route = log.route,
        method = %method,
        path = path.as_str(),
        status = response.status().as_u16(),
        org = notes.org.get().map_or("-", String::as_str),
        events,
        duration_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}
