//! Who is calling, as extractors: the bearer key is looked up once per
//! request (through the app's [`Authenticator`] and its short cache), and a
//! handler names the permission it needs in its signature. They run before
//! the body is read, so 401 and 403 come before 413 and 400.

use std::sync::Arc;

use audit_aws::access::{Authenticator, Caller};
use audit_aws::store::Store;
use audit_domain::auth::{authorize, OrgAccess, Permission};
use axum::extract::FromRequestParts;
use http::request::Parts;

use crate::{ApiError, RequestNotes};

/// What an app needs to authenticate a caller: its key cache and the store
/// the keys are in.
pub trait KeyLookup: Send + Sync + 'static {
    fn authenticator(&self) -> &Authenticator;
    fn store(&self) -> &Store;
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

async fn authenticate<A: KeyLookup>(parts: &Parts, app: &A) -> Result<Caller, ApiError> {
    let header = crate::authorization(&parts.headers);
    let caller = app
        .authenticator()
        .authenticate(app.store(), header)
        .await?;
    RequestNotes::of(&parts.extensions).org(caller.principal.org_id.as_str());
    Ok(caller)
}

async fn permitted<A: KeyLookup>(
    parts: &Parts,
    app: &A,
    permission: Permission,
) -> Result<Caller, ApiError> {
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
