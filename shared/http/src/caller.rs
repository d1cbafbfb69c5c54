//! Who is calling, as extractors: the bearer key is looked up once per
//! request (through the app's [`Authenticator`] and its short cache), and a
//! handler names the permission it needs in its signature. They run before
//! the body is read, so 401 and 403 come before 413 and 400.

use std::sync::Arc;

use audit_aws::access::{Authenticator, Caller};
use audit_aws::store::Store;
use audit_domain::auth::{authorize, bearer_key, Denied, OrgAccess, Permission};
use audit_domain::viewer::{TokenCodec, TOKEN_PREFIX};
use axum::extract::FromRequestParts;
use http::request::Parts;

use crate::{ApiError, RequestNotes};

/// What an app needs to authenticate a caller: its key cache and the store
/// the keys are in.
pub trait KeyLookup: Send + Sync + 'static {
    fn authenticator(&self) -> &Authenticator;
    fn store(&self) -> &Store;
    /// The key viewer tokens are checked with; `None` in a function that
    /// takes no viewer tokens (a token there is an unknown key).
    fn viewer_tokens(&self) -> Option<TokenCodec> {
        None
    }
}

/// Any valid key (the catalog, the public keys).
#[derive(Debug, Clone)]
pub struct Authenticated(pub Caller);

/// A key that may record events (`Permission::WriteEvents`).
#[derive(Debug, Clone)]
pub struct EventWriter(pub Caller);

/// A key that may read the log (`Permission::ReadEvents`).
#[derive(Debug, Clone)]
pub struct EventReader(pub Caller);

/// A key that may manage export destinations (`Permission::ManageExport`).
#[derive(Debug, Clone)]
pub struct ExportAdmin(pub Caller);

/// A `viewer_issuer` key (`Permission::IssueViewerTokens`).
#[derive(Debug, Clone)]
pub struct TokenIssuer(pub Caller);

/// Whether the request's bearer credential is a viewer token (by its
/// prefix alone, before any check).
fn is_viewer_token(parts: &Parts) -> bool {
    bearer_key(crate::authorization(&parts.headers)).is_some_and(|k| k.starts_with(TOKEN_PREFIX))
}

async fn authenticate<A: KeyLookup>(parts: &Parts, app: &A) -> Result<Caller, ApiError> {
    let header = crate::authorization(&parts.headers);
    let token = bearer_key(header).filter(|k| k.starts_with(TOKEN_PREFIX));
    let caller = match (token, app.viewer_tokens()) {
        (Some(token), Some(codec)) => {
            let now = audit_domain::time::Timestamp::now().millis() / 1000;
            let claims = codec
                .verify(token, now)
                .map_err(audit_aws::access::AuthError::from)?;
            app.authenticator().viewer(app.store(), claims).await?
        }
        _ => {
            app.authenticator()
                .authenticate(app.store(), header)
                .await?
        }
    };
    RequestNotes::of(&parts.extensions).org(caller.principal.org_id.as_str());
    Ok(caller)
}

async fn permitted<A: KeyLookup>(
    parts: &Parts,
    app: &A,
    permission: Permission,
) -> Result<Caller, ApiError> {
    // A viewer token only reads: refused here even where tokens are not
    // checked at all (the ingest function holds no token key).
    if permission == Permission::WriteEvents && is_viewer_token(parts) {
        return Err(Denied::ViewerTokensCannotWrite.into());
    }
    let caller = authenticate(parts, app).await?;
    let org = OrgAccess {
        uses_teams: caller.org.uses_teams,
    };
    authorize(caller.principal.role, org, permission)?;
    Ok(caller)
}

impl<A: KeyLookup> FromRequestParts<Arc<A>> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<A>) -> Result<Self, ApiError> {
        authenticate(parts, app.as_ref()).await.map(Self)
    }
}

impl<A: KeyLookup> FromRequestParts<Arc<A>> for EventWriter {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<A>) -> Result<Self, ApiError> {
        permitted(parts, app.as_ref(), Permission::WriteEvents)
            .await
            .map(Self)
    }
}

impl<A: KeyLookup> FromRequestParts<Arc<A>> for EventReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<A>) -> Result<Self, ApiError> {
        permitted(parts, app.as_ref(), Permission::ReadEvents)
            .await
            .map(Self)
    }
}

impl<A: KeyLookup> FromRequestParts<Arc<A>> for ExportAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<A>) -> Result<Self, ApiError> {
        permitted(parts, app.as_ref(), Permission::ManageExport)
            .await
            .map(Self)
    }
}

impl<A: KeyLookup> FromRequestParts<Arc<A>> for TokenIssuer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<A>) -> Result<Self, ApiError> {
        permitted(parts, app.as_ref(), Permission::IssueViewerTokens)
            .await
            .map(Self)
    }
}
