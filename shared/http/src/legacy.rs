//! The helpers over `http::Response<String>` that the hand-written routers
//! use, until they are on axum's `Router` (then this module goes).

use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{Response, StatusCode};
use serde::Serialize;

use audit_domain::problem::{self, Problem};

pub use crate::{authorization, query_pairs};

pub type HttpResponse = Response<String>;

/// A response with the headers every answer carries (no caching, no sniffing).
pub fn respond(status: u16, content_type: &str, body: String) -> HttpResponse {
    let mut response = Response::new(body);
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        http::HeaderValue::from_str(content_type)
            .unwrap_or(http::HeaderValue::from_static("application/json")),
    );
    // Audit data is per-org and private: never cache it in shared caches.
    headers.insert(CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    headers.insert(
        "x-content-type-options",
        http::HeaderValue::from_static("nosniff"),
    );
    response
}

pub fn json<T: Serialize>(status: u16, body: &T) -> HttpResponse {
    match serde_json::to_string(body) {
        Ok(text) => respond(status, "application/json", text),
        Err(_) => problem(&Problem::internal()),
    }
}

pub fn problem(p: &Problem) -> HttpResponse {
    let mut response = respond(p.status, problem::CONTENT_TYPE, p.to_json());
    if p.status == 401 {
        response.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Bearer"),
        );
    }
    response
}

/// A 405 with the `Allow` header RFC 9110 requires: the methods `allow`
/// lists (e.g. `["GET", "POST"]`).
pub fn method_not_allowed(allow: &[&str]) -> HttpResponse {
    let mut response = problem(&Problem::method_not_allowed());
    if let Ok(value) = http::HeaderValue::from_str(&allow.join(", ")) {
        response.headers_mut().insert(http::header::ALLOW, value);
    }
    response
}
