//! A router as a Lambda function, as the runtime's own `examples/http-axum`
//! runs one: the `Router` is the tower service `lambda_http::run` drives.
//!
//! One step is added, [`Handler`]: bodies go back to API Gateway as text.
//! lambda_http would base64-encode every body whose content type it does
//! not know as text (`application/x-ndjson`), a third larger against the
//! 6 MB response limit download parts are sized for (their budget counts
//! the JSON escaping of a text body). Our bodies are all UTF-8, and were
//! sent as text before axum.

use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::Router;
use lambda_http::{BoxFuture, Service};
use tower::ServiceExt;

/// Serves `router` as this process's Lambda function until the runtime
/// stops it.
pub async fn run(router: Router) -> Result<(), lambda_http::Error> {
    lambda_http::run(Handler(router)).await
}

/// `router` answering Lambda's requests, bodies as text (binary only when
/// not UTF-8). Tests run the `events/` samples through it.
#[derive(Debug, Clone)]
pub struct Handler(pub Router);

impl Service<lambda_http::Request> for Handler {
    type Response = http::Response<lambda_http::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // A router is always ready; each call routes a clone of it.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: lambda_http::Request) -> Self::Future {
        let router = self.0.clone();
        Box::pin(async move {
            let (parts, body) = router.oneshot(req).await?.into_parts();
            // Our bodies are whole strings already: reading them cannot fail.
            let body = match axum::body::to_bytes(body, usize::MAX).await {
                Ok(bytes) => match String::from_utf8(bytes.into()) {
                    Ok(text) => lambda_http::Body::Text(text),
                    Err(e) => lambda_http::Body::Binary(e.into_bytes()),
                },
                Err(e) => {
                    tracing::error!(error = %e, "reading a response body failed");
                    lambda_http::Body::Empty
                }
            };
            Ok(http::Response::from_parts(parts, body))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;

    #[tokio::test]
    async fn every_utf8_body_goes_back_as_text() {
        let router = Router::new()
            .route(
                "/ndjson",
                get(|| async {
                    crate::respond(http::StatusCode::OK, "application/x-ndjson", "{}\n")
                }),
            )
            .route("/bytes", get(|| async { vec![0xff_u8, 0x00] }));
        let mut handler = Handler(router);
        let request = |path: &str| {
            http::Request::get(path)
                .body(lambda_http::Body::Empty)
                .expect("request")
        };
        let ndjson = handler.call(request("/ndjson")).await.expect("infallible");
        assert_eq!(ndjson.headers()["content-type"], "application/x-ndjson");
        assert_eq!(ndjson.body(), &lambda_http::Body::Text("{}\n".into()));
        let bytes = handler.call(request("/bytes")).await.expect("infallible");
        assert_eq!(bytes.body(), &lambda_http::Body::Binary(vec![0xff, 0x00]));
    }
}
