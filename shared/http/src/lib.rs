//! What the HTTP functions share, on axum: the typed API error
//! ([`ApiError`], RFC 9457 problem+json), the caller extractors, the request
//! body and path id, response helpers, the per-path method lists (405 with
//! `Allow`), the router's fallback for unknown paths, the one log line per
//! request, and running a router on Lambda.

mod body;
mod caller;
mod deadline;
mod error;
pub mod lambda;
mod log;
mod routing;

use axum::body::Body;
use axum::response::Response;
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Serialize;

pub use body::{read_body, BodyBytes, PathId};
pub use caller::{Authenticated, EventReader, EventWriter, ExportAdmin, KeyLookup, TokenIssuer};
pub use deadline::Deadline;
pub use error::{ApiError, THROTTLED_RETRY_AFTER};
pub use log::{log_requests, RequestLog, RequestNotes};
pub use routing::{finish, only};

pub fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok())
}

/// Decoded `name=value` pairs of a query string, in order.
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// A response with the headers every answer carries (no caching, no sniffing).
pub fn respond(status: StatusCode, content_type: &str, body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("application/json")),
    );
    // Audit data is per-org and private: never cache it in shared caches.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// `body` as JSON with `status`; a body that does not serialize is a 500.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_string(body) {
        Ok(text) => respond(status, "application/json", text),
        Err(e) => {
            tracing::error!(error = %e, "response body did not serialize");
            axum::response::IntoResponse::into_response(ApiError::internal())
        }
    }
}

/// A 204: no body and so no content type, still never cached.
pub fn no_content() -> Response {
    let mut response = respond(StatusCode::NO_CONTENT, "application/json", Body::empty());
    response.headers_mut().remove(CONTENT_TYPE);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_answer_is_private_and_never_sniffed() {
        for r in [
            json(StatusCode::OK, &serde_json::json!({"a": 1})),
            respond(StatusCode::OK, "text/csv; charset=utf-8", "a,b"),
            no_content(),
        ] {
            assert_eq!(r.headers()[CACHE_CONTROL], "no-store");
            assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        }
        assert_eq!(
            json(StatusCode::CREATED, &1).headers()[CONTENT_TYPE],
            "application/json"
        );
        let empty = no_content();
        assert_eq!(empty.status(), 204);
        assert!(empty.headers().get(CONTENT_TYPE).is_none());
    }

    #[test]
    fn query_pairs_are_decoded_in_order() {
        assert_eq!(
            query_pairs(Some("q=a%20b&action=X&action=Y")),
            [
                ("q".to_string(), "a b".to_string()),
                ("action".into(), "X".into()),
                ("action".into(), "Y".into())
            ]
        );
        assert!(query_pairs(None).is_empty());
    }
}
