//! The router's answers before any handler: a method a path does not take
//! (405 with `Allow`), a path nobody serves (404), and a path with trailing
//! slashes (routed as without them).
//!
//! `Allow` is the path's list, given with its handlers, not axum's own
//! header: axum lists `HEAD` with every `GET` (and serves it), while the API
//! answers `HEAD` with 405 but on the Activity page; and the path
//! `/v1/events` takes `POST` at the ingest function and `GET` at the query
//! function, so either alone still says `GET, POST`.

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::Router;
use http::{StatusCode, Uri};
use tower::ServiceExt;

use crate::log::SentPath;
use crate::{log_requests, ApiError, RequestLog};

/// `methods`, answering only `allow` (`["GET", "POST"]`, as `Allow` names
/// them): any other method, `HEAD` included unless listed, is a 405 problem
/// before any extractor runs, and so is a listed method this function has no
/// handler for (another function serves it).
pub fn only<S>(allow: &'static [&'static str], methods: MethodRouter<S>) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    methods.layer(middleware::from_fn_with_state(allow, allowed_only))
}

async fn allowed_only(
    State(allow): State<&'static [&'static str]>,
    req: Request,
    next: Next,
) -> Response {
    if !allow.contains(&req.method().as_str()) {
        return ApiError::method_not_allowed(allow).into_response();
    }
    let response = next.run(req).await;
    // axum's own (empty) 405: the path takes the method, elsewhere.
    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
        return ApiError::method_not_allowed(allow).into_response();
    }
    response
}

/// `router` with its answer for paths it has no route for: trailing slashes
/// are dropped and the path routed again (`/activity/` is the page, as
/// before axum); anything else is a 404 problem, logged as `log` says.
pub fn finish(router: Router, log: RequestLog) -> Router {
    let not_found = log_requests(Router::new().fallback(no_such_route), log);
    let again = router.clone().fallback_service(not_found.clone());
    router.fallback(move |mut req: Request| {
        let (again, not_found) = (again.clone(), not_found.clone());
        async move {
            let answer = match without_trailing_slashes(req.uri()) {
                Some(uri) => {
                    let sent = SentPath(req.uri().path().to_string());
                    req.extensions_mut().insert(sent);
                    *req.uri_mut() = uri;
                    again.oneshot(req).await
                }
                None => not_found.oneshot(req).await,
            };
            answer.unwrap_or_else(|never| match never {})
        }
    })
}

async fn no_such_route() -> ApiError {
    ApiError::not_found("No such route.")
}

/// `uri` with its path's trailing slashes dropped, or `None` when it has
/// none (or is nothing but slashes).
fn without_trailing_slashes(uri: &Uri) -> Option<Uri> {
    let path = uri.path();
    let trimmed = path.trim_end_matches('/');
    if trimmed.len() == path.len() || trimmed.is_empty() {
        return None;
    }
    let path_and_query = match uri.query() {
        Some(query) => format!("{trimmed}?{query}"),
        None => trimmed.to_string(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().ok()?);
    Uri::from_parts(parts).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BodyBytes, PathId};
    use audit_domain::limits::MAX_BODY_BYTES;
    use axum::body::{to_bytes, Body};
    use axum::routing::{get, post};
    use http::header::{ALLOW, CONTENT_TYPE};
    use serde_json::Value;

    const LOG: RequestLog = RequestLog {
        route: "test",
        counts_events: false,
    };

    /// A router shaped like the functions': `/things` takes GET here and
    /// POST elsewhere, `/things/{id}` GET and DELETE, `/upload` a body.
    fn router() -> Router {
        let routes = Router::new()
            .route("/things", only(&["GET", "POST"], get(|| async { "list" })))
            .route(
                "/things/{id}",
                only(
                    &["GET", "DELETE"],
                    get(|PathId(id): PathId| async move { id }).delete(|| async { "gone" }),
                ),
            )
            .route(
                "/upload",
                only(
                    &["POST"],
                    post(|body: BodyBytes| async move { body.len().to_string() }),
                ),
            )
            .route("/page", only(&["GET", "HEAD"], get(|| async { "page" })));
        finish(log_requests(routes, LOG), LOG)
    }

    async fn call(method: &str, path: &str, body: Body) -> (StatusCode, String, String, String) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(body)
            .expect("request");
        let response = router().oneshot(req).await.expect("infallible");
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let (allow, content_type) = (header(ALLOW), header(CONTENT_TYPE));
        let status = response.status();
        let bytes = to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (
            status,
            allow,
            content_type,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    fn problem_type(body: &str) -> String {
        let value: Value = serde_json::from_str(body).expect("a problem body");
        value["type"].as_str().unwrap_or("").to_string()
    }

    #[tokio::test]
    async fn an_unknown_path_is_a_404_problem() {
        for path in ["/nothing", "/things/1/more", "/", "//"] {
            let (status, _, content_type, body) = call("GET", path, Body::empty()).await;
            assert_eq!(status, 404, "{path}");
            assert_eq!(content_type, "application/problem+json", "{path}");
            assert_eq!(
                problem_type(&body),
                "https://auditlog.dev/problems/not-found"
            );
        }
    }

    #[tokio::test]
    async fn another_method_is_a_405_problem_listing_the_paths_methods() {
        for (method, path, allow) in [
            ("PUT", "/things", "GET, POST"),
            ("DELETE", "/things", "GET, POST"),
            ("POST", "/things/1", "GET, DELETE"),
            ("GET", "/upload", "POST"),
            ("OPTIONS", "/page", "GET, HEAD"),
        ] {
            let (status, got, content_type, body) = call(method, path, Body::empty()).await;
            assert_eq!(status, 405, "{method} {path}");
            assert_eq!(got, allow, "{method} {path}");
            assert_eq!(content_type, "application/problem+json");
            assert_eq!(
                problem_type(&body),
                "https://auditlog.dev/problems/method-not-allowed"
            );
        }
    }

    #[tokio::test]
    async fn a_listed_method_served_elsewhere_is_the_same_405() {
        let (status, allow, content_type, _) = call("POST", "/things", Body::empty()).await;
        assert_eq!((status.as_u16(), allow.as_str()), (405, "GET, POST"));
        assert_eq!(content_type, "application/problem+json");
    }

    #[tokio::test]
    async fn head_is_refused_unless_the_path_lists_it() {
        let (status, allow, _, _) = call("HEAD", "/things", Body::empty()).await;
        assert_eq!((status.as_u16(), allow.as_str()), (405, "GET, POST"));
        let (status, _, _, body) = call("HEAD", "/page", Body::empty()).await;
        assert_eq!(status, 200);
        assert!(body.is_empty(), "HEAD has no body");
    }

    #[tokio::test]
    async fn trailing_slashes_route_as_without_them() {
        assert_eq!(call("GET", "/things/", Body::empty()).await.3, "list");
        assert_eq!(call("GET", "/page//", Body::empty()).await.3, "page");
        assert_eq!(
            call("GET", "/things/abc/?x=1", Body::empty()).await.3,
            "abc"
        );
        assert_eq!(call("PUT", "/things/", Body::empty()).await.1, "GET, POST");
    }

    #[tokio::test]
    async fn a_path_id_is_taken_as_sent() {
        assert_eq!(
            call("GET", "/things/evt%5F1", Body::empty()).await.3,
            "evt%5F1"
        );
        assert_eq!(call("GET", "/things/%FF", Body::empty()).await.3, "%FF");
    }

    #[tokio::test]
    async fn a_body_past_the_limit_is_a_413_problem() {
        let (status, _, _, body) =
            call("POST", "/upload", Body::from(vec![b'x'; MAX_BODY_BYTES])).await;
        assert_eq!((status.as_u16(), body), (200, MAX_BODY_BYTES.to_string()));
        let (status, _, content_type, body) = call(
            "POST",
            "/upload",
            Body::from(vec![b'x'; MAX_BODY_BYTES + 1]),
        )
        .await;
        assert_eq!(status, 413);
        assert_eq!(content_type, "application/problem+json");
        assert_eq!(
            problem_type(&body),
            "https://auditlog.dev/problems/body-too-large"
        );
    }
}
