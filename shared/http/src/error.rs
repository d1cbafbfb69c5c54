//! The API's one error type: every answer that is not a success is an
//! [`ApiError`], written as RFC 9457 problem+json. Errors of the adapters
//! become one here, by `?`; an internal error is logged where it is mapped
//! (the request's span adds route, path and org) and never shown.

use audit_aws::access::AuthError;
use audit_aws::secrets::SecretsError;
use audit_aws::store::StoreError;
use audit_domain::auth::Denied;
use audit_domain::problem::{self, FieldError, Problem};
use axum::response::{IntoResponse, Response};
use http::header::{ALLOW, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};

/// A problem to answer with; for a 405, with the methods the path answers.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{} {}: {}", .problem.status, .problem.title, .problem.detail)]
pub struct ApiError {
    problem: Problem,
    allow: Option<&'static [&'static str]>,
    /// Seconds for `Retry-After` (429 and 503 answers).
    retry_after: Option<&'static str>,
}

/// How long a throttled caller waits before retrying, in seconds.
pub const THROTTLED_RETRY_AFTER: &str = "2";

impl ApiError {
    pub fn problem(&self) -> &Problem {
        &self.problem
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn not_found(detail: &str) -> Self {
        Problem::not_found(detail).into()
    }

    pub fn conflict(detail: &str) -> Self {
        Problem::conflict(detail).into()
    }

    /// A 400 naming one field.
    pub fn field(field: &str, reason: &str) -> Self {
        Problem::field(field, reason).into()
    }

    /// A dependency failed; the caller may retry. Log the cause where it is known.
    pub fn unavailable() -> Self {
        Problem::unavailable().into()
    }

    /// 429 with `Retry-After`: the store throttled this org.
    pub fn throttled() -> Self {
        ApiError {
            problem: Problem::throttled(),
            allow: None,
            retry_after: Some(THROTTLED_RETRY_AFTER),
        }
    }

    /// A bug on our side; log the cause where it is known.
    pub fn internal() -> Self {
        Problem::internal().into()
    }

    /// A 405 whose `Allow` lists `allow` (RFC 9110 requires it).
    pub fn method_not_allowed(allow: &'static [&'static str]) -> Self {
        ApiError {
            problem: Problem::method_not_allowed(),
            allow: Some(allow),
            retry_after: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response =
            crate::respond(self.status(), problem::CONTENT_TYPE, self.problem.to_json());
        let headers = response.headers_mut();
        if self.problem.status == 401 {
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(value) = self
            .allow
            .and_then(|m| HeaderValue::from_str(&m.join(", ")).ok())
        {
            headers.insert(ALLOW, value);
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from_static(seconds));
        }
        response
    }
}

impl From<Problem> for ApiError {
    fn from(problem: Problem) -> Self {
        ApiError {
            problem,
            allow: None,
            retry_after: None,
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        Problem::invalid(vec![e]).into()
    }
}

impl From<Vec<FieldError>> for ApiError {
    fn from(errors: Vec<FieldError>) -> Self {
        Problem::invalid(errors).into()
    }
}

impl From<Denied> for ApiError {
    fn from(denied: Denied) -> Self {
        Problem::from(&denied).into()
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        if let AuthError::Store(err) = &e {
            tracing::error!(error = %err, "key lookup failed");
        }
        Problem::from(&e).into()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if let StoreError::Throttled { .. } = e {
            tracing::warn!(error = %e, "store throttled the request");
            return ApiError::throttled();
        }
        tracing::error!(error = %e, "store request failed");
        ApiError::unavailable()
    }
}

/// Secrets Manager errors name the secret, never its value.
impl From<SecretsError> for ApiError {
    fn from(e: SecretsError) -> Self {
        tracing::error!(error = %e, "secrets request failed");
        ApiError::unavailable()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;
    use http::header::{CACHE_CONTROL, CONTENT_TYPE};
    use serde_json::Value;

    async fn answer(e: impl Into<ApiError>) -> (Response, Value) {
        let mut response = e.into().into_response();
        let body = std::mem::take(response.body_mut());
        let bytes = to_bytes(body, usize::MAX).await.expect("body");
        (response, serde_json::from_slice(&bytes).expect("JSON"))
    }

    #[tokio::test]
    async fn a_problem_is_problem_json_with_the_shared_headers() {
        let (r, body) = answer(FieldError::new("cursor", "is not valid")).await;
        assert_eq!(r.status(), 400);
        assert_eq!(r.headers()[CONTENT_TYPE], "application/problem+json");
        assert_eq!(r.headers()[CACHE_CONTROL], "no-store");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        assert!(r.headers().get(WWW_AUTHENTICATE).is_none());
        assert_eq!(
            body["type"],
            "https://auditlog.dev/problems/invalid-request"
        );
        assert_eq!(body["title"], "Invalid request");
        assert_eq!(body["status"], 400);
        assert_eq!(body["detail"], "cursor is not valid");
        assert_eq!(body["errors"][0]["field"], "cursor");
    }

    #[tokio::test]
    async fn several_field_errors_are_all_named() {
        let (_, body) = answer(vec![FieldError::new("a", "x"), FieldError::new("b", "y")]).await;
        assert_eq!(body["errors"].as_array().map(Vec::len), Some(2));
        assert_eq!(body["detail"], "a x (and 1 more)");
    }

    #[tokio::test]
    async fn a_missing_or_unknown_key_is_401_with_a_bearer_challenge() {
        for e in [AuthError::Missing, AuthError::Invalid] {
            let (r, body) = answer(e).await;
            assert_eq!(r.status(), 401);
            assert_eq!(r.headers()[WWW_AUTHENTICATE], "Bearer");
            assert_eq!(body["type"], "https://auditlog.dev/problems/unauthorized");
        }
    }

    #[tokio::test]
    async fn a_denied_role_is_403_with_the_reason() {
        let (r, body) = answer(Denied::AdminOnly).await;
        assert_eq!(r.status(), 403);
        assert_eq!(body["detail"], "only Organization Admins can manage export");
    }

    #[tokio::test]
    async fn store_and_secrets_failures_are_503_and_say_nothing_of_the_cause() {
        let store = StoreError::Dynamo {
            op: "Query",
            message: "ThrottlingException: table audit-events".into(),
        };
        let secrets = SecretsError::Service {
            op: "GetSecretValue",
            name: "audit-log/destinations/acme/dst_1".into(),
            message: "AccessDenied".into(),
        };
        let lookup = AuthError::Store(StoreError::Corrupt("KEY#abc".into()));
        for (r, body) in [
            answer(store).await,
            answer(secrets).await,
            answer(lookup).await,
        ] {
            assert_eq!(r.status(), 503);
            assert_eq!(body["type"], "https://auditlog.dev/problems/unavailable");
            let text = body.to_string();
            for internal in [
                "Throttling",
                "audit-events",
                "dst_1",
                "AccessDenied",
                "KEY#",
            ] {
                assert!(!text.contains(internal), "{text}");
            }
        }
    }

    #[tokio::test]
    async fn a_throttled_store_is_429_with_retry_after() {
        let e = StoreError::Throttled {
            op: "Query",
            code: "ProvisionedThroughputExceededException".into(),
        };
        let response = ApiError::from(e).into_response();
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()[RETRY_AFTER], "2");
        let (_, body) = answer(ApiError::throttled()).await;
        assert_eq!(body["type"], "https://auditlog.dev/problems/throttled");
        assert!(!body["detail"].as_str().unwrap().contains("Provisioned"));
    }

    #[tokio::test]
    async fn a_405_lists_the_allowed_methods() {
        let (r, body) = answer(ApiError::method_not_allowed(&["GET", "POST"])).await;
        assert_eq!(r.status(), 405);
        assert_eq!(r.headers()[ALLOW], "GET, POST");
        assert_eq!(
            body["type"],
            "https://auditlog.dev/problems/method-not-allowed"
        );
    }
}
