//! What a handler reads from the request beyond the caller: the body, at
//! most `MAX_BODY_BYTES` (413 past it), and the `{id}` of its path, exactly
//! as sent.

use audit_domain::limits::MAX_BODY_BYTES;
use audit_domain::problem::Problem;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request};
use bytes::Bytes;
use http::request::Parts;

use crate::ApiError;

/// The request body, read whole: at most `MAX_BODY_BYTES`, or a 413. As the
/// last argument of a handler, it is read only once the caller passed.
#[derive(Debug, Clone)]
pub struct BodyBytes(pub Bytes);

impl std::ops::Deref for BodyBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl<S: Send + Sync> FromRequest<S> for BodyBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        read_body(req.into_body()).await.map(Self)
    }
}

/// Reads `body` whole, for a handler that must decide something first (a
/// destination is looked up before its PATCH body is read: an unknown id is
/// a 404 whatever was sent). Any failure to read it is a 413, as a body cut
/// at the limit is.
pub async fn read_body(body: axum::body::Body) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| Problem::too_large(MAX_BODY_BYTES).into())
}

/// The route's `{id}` segment as sent, not percent-decoded: ids are plain
/// ASCII, so an encoded one matches nothing (404), as before axum, and an
/// undecodable one is a 404 too, not axum's plain-text 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let index = parts
            .extensions
            .get::<MatchedPath>()
            .and_then(|route| route.as_str().split('/').position(|s| s == "{id}"));
        let segment = index.and_then(|i| parts.uri.path().split('/').nth(i));
        match segment {
            Some(id) => Ok(PathId(id.to_string())),
            None => {
                // Only a route without `{id}` gets here: a bug, not a request.
                tracing::error!(path = parts.uri.path(), "PathId on a route without {{id}}");
                Err(ApiError::internal())
            }
        }
    }
}
