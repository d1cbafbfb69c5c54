//! The local server: both functions' routers on one port, merged: the
//! ingest function's `POST /v1/events` and the query function's everything
//! else, as API Gateway routes them.

use std::sync::Arc;

use audit_http as edge;
use axum::Router;
use tokio::net::TcpListener;

use crate::Apps;

/// The two functions' routers as one. Each answers unknown paths itself;
/// merged, they share one fallback, the query function's (API Gateway sends
/// it every path but `POST /v1/events`), so both fallbacks are reset first.
pub fn router(apps: &Apps) -> Router {
    let ingest = ingest::router(Arc::clone(&apps.ingest)).reset_fallback();
    let query = query::router(Arc::clone(&apps.query)).reset_fallback();
    edge::finish(ingest.merge(query), query::LOG)
}

/// Serves until the future `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    apps: Arc<Apps>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(&apps))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_destinations::UrlPolicy;
    use axum::body::{to_bytes, Body};
    use tower::ServiceExt;

    /// Both apps over clients that are never reached: every answer below
    /// comes from the routers before a key is looked up.
    fn apps() -> Arc<Apps> {
        let config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build();
        let store = audit_aws::store::Store::new(
            aws_sdk_dynamodb::Client::new(&config),
            audit_aws::store::Tables {
                events: "unused-events".into(),
                control: "unused-control".into(),
            },
        );
        crate::apps(
            store,
            b"unused",
            || audit_aws::access::Authenticator::new(std::time::Duration::ZERO),
            &config,
            UrlPolicy {
                allow_private: false,
            },
            None,
        )
    }

    async fn call(method: &str, path: &str) -> (u16, String, String) {
        let req = http::Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .expect("request");
        let response = router(&apps()).oneshot(req).await.expect("infallible");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let (allow, content_type) = (header("allow"), header("content-type"));
        let status = response.status().as_u16();
        let _ = to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, allow, content_type)
    }

    #[tokio::test]
    async fn merged_routes_answer_as_api_gateway_routes_them() {
        for (method, path, status, allow) in [
            // Both functions' methods on the shared path, and nothing else.
            ("PUT", "/v1/events", 405, "GET, POST"),
            ("DELETE", "/v1/events/", 405, "GET, POST"),
            ("HEAD", "/v1/events", 405, "GET, POST"),
            ("PUT", "/v1/destinations", 405, "GET, POST"),
            ("POST", "/v1/events/evt_1", 405, "GET"),
            ("GET", "/v2/nothing", 404, ""),
            ("POST", "/v2/nothing", 404, ""),
            // Public: no key needed.
            ("GET", "/activity", 200, ""),
            ("GET", "/activity/", 200, ""),
            // Both halves reach their handler: the key is checked there.
            ("POST", "/v1/events", 401, ""),
            ("GET", "/v1/events", 401, ""),
        ] {
            let (got, got_allow, content_type) = call(method, path).await;
            assert_eq!(
                (got, got_allow.as_str()),
                (status, allow),
                "{method} {path}"
            );
            if got >= 400 {
                assert_eq!(content_type, "application/problem+json", "{method} {path}");
            }
        }
    }
}
