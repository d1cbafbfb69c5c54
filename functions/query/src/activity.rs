//! The Activity page: a static HTML/CSS/JS app embedded in the binary. It
//! needs no key to load; the page asks for one (or takes a viewer token from
//! its URL fragment) and calls the JSON API with it, so the assets carry no
//! org data and are public.
//!
//! `/activity?org=<org id>` is the page as that org lets it be framed: its
//! `frame-ancestors` are the org's `frame_ancestors` setting (default none).
//! Without `org` (or with an unknown one) nobody may frame it.

use std::sync::Arc;

use audit_domain::ids::OrgId;
use audit_http::{self as edge, ApiError};
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::{any, get};
use axum::Router;
use http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY};
use http::{HeaderValue, Method, StatusCode, Uri};

const PAGE: &str = include_str!("../assets/activity.html");
const STYLE: &str = include_str!("../assets/activity.css");
const SCRIPT: &str = include_str!("../assets/activity.js");
/// The export settings section (admins only), its own module.
const EXPORT_SCRIPT: &str = include_str!("../assets/activity-export.js");
/// The receipt check in an event's detail (proof and signature, WebCrypto).
const RECEIPT_SCRIPT: &str = include_str!("../assets/activity-receipt.js");

use crate::App;

/// Scripts and styles only from this origin (no inline code), API calls only
/// to it: event data can never become code. Framing is added per answer.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
form-action 'self'";

/// The page's policy, framed only by `ancestors` (already checked origins,
/// see `viewer::parse_origin`), or by nobody.
fn policy(ancestors: &[String]) -> String {
    if ancestors.is_empty() {
        format!("{POLICY}; frame-ancestors 'none'")
    } else {
        format!("{POLICY}; frame-ancestors {}", ancestors.join(" "))
    }
}

/// The org's `frame_ancestors` for `/activity?org=…`; none when the query
/// names no valid org or the store cannot say.
async fn ancestors(app: &App, query: Option<&str>) -> Vec<String> {
    let org = edge::query_pairs(query)
        .into_iter()
        .find(|(k, _)| k == "org")
        .and_then(|(_, v)| OrgId::parse(v).ok());
    let Some(org) = org else {
        return Vec::new();
    };
    match app.store.frame_ancestors(&org).await {
        Ok(list) => list,
        Err(e) => {
            tracing::warn!(error = %e, org = %org, "frame ancestors unreadable: page not framable");
            Vec::new()
        }
    }
}

/// The asset at `path` (trailing slashes already trimmed), or `None` when
/// the path is not the page's.
fn asset(path: &str) -> Option<(&'static str, &'static str)> {
    match path {
        "/activity" => Some(("text/html; charset=utf-8", PAGE)),
        "/activity/activity.css" => Some(("text/css; charset=utf-8", STYLE)),
        "/activity/activity.js" => Some(("text/javascript; charset=utf-8", SCRIPT)),
        "/activity/activity-export.js" => Some(("text/javascript; charset=utf-8", EXPORT_SCRIPT)),
        "/activity/activity-receipt.js" => Some(("text/javascript; charset=utf-8", RECEIPT_SCRIPT)),
        _ => None,
    }
}

/// The page's routes, public (no key): its files take GET and HEAD;
/// any other path under it is the page's to refuse, whatever the method.
pub fn routes() -> Router<Arc<App>> {
    let file = || edge::only(&["GET", "HEAD"], get(serve));
    Router::new()
        .route("/activity", file())
        .route("/activity/activity.css", file())
        .route("/activity/activity.js", file())
        .route("/activity/activity-export.js", file())
        .route("/activity/activity-receipt.js", file())
        .route("/activity/{*rest}", any(other))
}

fn no_such_file() -> ApiError {
    ApiError::not_found("No such file of the Activity page.")
}

/// Another path under `/activity/`: an unknown file is a 404 whatever the
/// method; one of the page's files with trailing slashes is that file.
async fn other(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    query: RawQuery,
) -> Result<Response, ApiError> {
    if asset(uri.path().trim_end_matches('/')).is_none() {
        return Err(no_such_file());
    }
    if method != Method::GET && method != Method::HEAD {
        return Err(ApiError::method_not_allowed(&["GET", "HEAD"]));
    }
    serve(State(app), uri, query).await
}

/// One of the page's files (axum drops the body of a HEAD answer).
async fn serve(
    State(app): State<Arc<App>>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let path = uri.path().trim_end_matches('/');
    let (content_type, body) = asset(path).ok_or_else(no_such_file)?;
    let framed_by = if path == "/activity" {
        ancestors(&app, query.as_deref()).await
    } else {
        Vec::new()
    };
    let mut response = edge::respond(StatusCode::OK, content_type, body);
    let headers = response.headers_mut();
    // Revalidate on every load, so a deploy is seen at once.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let csp = HeaderValue::from_str(&policy(&framed_by))
        .unwrap_or_else(|_| HeaderValue::from_static("frame-ancestors 'none'"));
    headers.insert(CONTENT_SECURITY_POLICY, csp);
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{to_bytes, Body};
    use tower::ServiceExt;

    struct Answer {
        status: StatusCode,
        headers: http::HeaderMap,
        body: String,
    }

    impl Answer {
        fn header(&self, name: &str) -> &str {
            self.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        }

        fn detail(&self) -> String {
            let problem: serde_json::Value = serde_json::from_str(&self.body).unwrap_or_default();
            problem["detail"].as_str().unwrap_or("").to_string()
        }
    }

    /// The page's routes as the query function serves them (404 fallback
    /// and trailing slashes included).
    async fn serve(method: &Method, path: &str) -> Answer {
        let log = audit_http::RequestLog {
            route: "test",
            counts_events: false,
        };
        let router = edge::finish(routes().with_state(crate::tests::offline_app()), log);
        let req = http::Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .expect("request");
        let response = router.oneshot(req).await.expect("infallible");
        let (status, headers) = (response.status(), response.headers().clone());
        let bytes = to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    #[tokio::test]
    async fn each_asset_has_its_content_type_and_strict_headers() {
        for (path, kind) in [
            ("/activity", "text/html"),
            ("/activity/", "text/html"),
            ("/activity/activity.css", "text/css"),
            ("/activity/activity.js", "text/javascript"),
            ("/activity/activity.js/", "text/javascript"),
            ("/activity/activity-export.js", "text/javascript"),
            ("/activity/activity-receipt.js", "text/javascript"),
        ] {
            let r = serve(&Method::GET, path).await;
            assert_eq!(r.status, 200, "{path}");
            assert!(r.header("content-type").starts_with(kind), "{path}");
            assert_eq!(r.header("cache-control"), "no-cache");
            assert_eq!(r.header("x-content-type-options"), "nosniff");
            let csp = r.header("content-security-policy");
            assert!(csp.contains("default-src 'self'"), "{csp}");
            assert!(csp.contains("script-src 'self';"), "{csp}");
            assert!(csp.contains("connect-src 'self'"), "{csp}");
            assert!(!csp.contains("unsafe"), "{csp}");
            assert!(csp.ends_with("frame-ancestors 'none'"), "{csp}");
        }
    }

    #[test]
    fn the_policy_names_the_orgs_frame_ancestors() {
        let framed = policy(&["https://app.example.com".into(), "https://b.example".into()]);
        assert!(framed.ends_with("; frame-ancestors https://app.example.com https://b.example"));
        assert!(policy(&[]).ends_with("; frame-ancestors 'none'"));
    }

    #[test]
    fn the_page_has_no_inline_script_or_style() {
        assert!(!PAGE.contains("<script>"));
        assert!(!PAGE.contains("style="));
        assert!(!PAGE.contains("<style"));
        assert!(PAGE.contains("src=\"/activity/activity.js\""));
    }

    #[test]
    fn the_script_never_writes_html() {
        for script in [SCRIPT, EXPORT_SCRIPT] {
            assert!(!script.contains("innerHTML"));
            assert!(!script.contains("outerHTML"));
            assert!(!script.contains("insertAdjacentHTML"));
        }
        assert!(!SCRIPT.contains("innerHTML"));
        assert!(!SCRIPT.contains("outerHTML"));
        assert!(!SCRIPT.contains("insertAdjacentHTML"));
    }

    #[tokio::test]
    async fn unknown_files_and_other_methods_are_refused() {
        assert_eq!(serve(&Method::GET, "/activity/other.js").await.status, 404);
        let refused = serve(&Method::POST, "/activity").await;
        assert_eq!(refused.status, 405);
        assert_eq!(refused.header("allow"), "GET, HEAD");
        let head = serve(&Method::HEAD, "/activity").await;
        assert_eq!(head.status, 200);
        assert!(head.body.is_empty());
        // The page owns /activity and what is under it, not /activityx.
        let page_file = "No such file of the Activity page.";
        assert_eq!(serve(&Method::GET, "/activity/x").await.detail(), page_file);
        assert_eq!(
            serve(&Method::DELETE, "/activity/x").await.detail(),
            page_file
        );
        let elsewhere = serve(&Method::GET, "/activityx").await;
        assert_eq!(elsewhere.status, 404);
        assert_eq!(elsewhere.detail(), "No such route.");
        let refused = serve(&Method::PUT, "/activity/activity.css/").await;
        assert_eq!(
            (refused.status.as_u16(), refused.header("allow")),
            (405, "GET, HEAD")
        );
    }
}
