//! The local server: one port, `POST /v1/events` to the ingest handler and
//! everything else to the query handler, exactly as API Gateway routes them.

use std::sync::Arc;

use audit_domain::limits::MAX_BODY_BYTES;
use audit_domain::problem::Problem;
use audit_http::legacy as edge;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;
use http::Method;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::Apps;

pub fn router(apps: Arc<Apps>) -> Router {
    let ingest = ingest::router(Arc::clone(&apps.ingest));
    Router::new().fallback(dispatch).with_state((apps, ingest))
}

async fn dispatch(State((apps, ingest)): State<(Arc<Apps>, Router)>, req: Request) -> Response {
    if req.method() == Method::POST && req.uri().path().trim_end_matches('/') == "/v1/events" {
        return ingest
            .oneshot(req)
            .await
            .unwrap_or_else(|never| match never {});
    }
    let (parts, body) = req.into_parts();
    // Read at most one byte past the limit: enough to know it was exceeded.
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES + 1).await {
        Ok(b) => b,
        Err(_) => return into_axum(edge::problem(&Problem::too_large(MAX_BODY_BYTES))),
    };
    let req = http::Request::from_parts(parts, bytes);
    into_axum(query::handle(&apps.query, req).await)
}

fn into_axum(response: http::Response<String>) -> Response {
    response.map(Body::from)
}

/// Serves until the future `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    apps: Arc<Apps>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(apps))
        .with_graceful_shutdown(shutdown)
        .await
}
