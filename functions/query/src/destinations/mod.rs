//! The destinations API (Organization Admins only): where an org's audit log
//! is exported and how that export is doing.
//!
//! * `POST /v1/destinations` – create (secret to Secrets Manager)
//! * `GET /v1/destinations`, `GET /v1/destinations/{id}` – list, read
//! * `PATCH /v1/destinations/{id}` – change, rotate the secret, enable/disable
//! * `DELETE /v1/destinations/{id}` – the destination and its secret
//! * `GET /v1/destinations/{id}/status` – delivery health
//! * `POST /v1/destinations/{id}/test` – one synthetic event, sent now
//! * `POST /v1/destinations/{id}/replay` – queue a past window again
//! * `POST /v1/destinations/{id}/redrive` – send the dead-lettered jobs again
//!
//! The handlers here are thin: the caller and the body come from
//! extractors, the use cases (`change`, `test_delivery`, `replay`) return
//! domain results or a [`DestinationError`], mapped once to the API's answer.
//!
//! A secret is read from the body once, written to Secrets Manager, and only
//! its masked hint is ever shown. Log lines name the destination, org, type
//! and outcome, never settings values or secrets.

use std::sync::Arc;

use audit_destinations::{Destination, DestinationSpec};
use audit_domain::ids::OrgId;
use audit_http::{self as edge, ApiError, BodyBytes, ExportAdmin, PathId};
use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use http::{HeaderValue, StatusCode};
use serde_json::{json, Value};

use crate::App;

mod change;
mod error;
pub(crate) mod input;
mod redrive;
mod replay;
mod self_audit;
mod test_delivery;

pub(crate) use error::DestinationError;

/// The destinations routes; every one needs an Organization Admin's key.
pub(crate) fn routes() -> Router<Arc<App>> {
    let one = get(read).patch(update).delete(delete);
    Router::new()
        .route(
            "/v1/destinations",
            edge::only(&["GET", "POST"], get(list).post(create)),
        )
        .route(
            "/v1/destinations/{id}",
            edge::only(&["GET", "PATCH", "DELETE"], one),
        )
        .route(
            "/v1/destinations/{id}/status",
            edge::only(&["GET"], get(status)),
        )
        .route(
            "/v1/destinations/{id}/test",
            edge::only(&["POST"], post(test)),
        )
        .route(
            "/v1/destinations/{id}/replay",
            edge::only(&["POST"], post(replay)),
        )
        .route(
            "/v1/destinations/{id}/redrive",
            edge::only(&["POST"], post(redrive)),
        )
}

/// The org's destination `id`; another org's id is simply not found.
async fn load(app: &App, org: &OrgId, id: &str) -> Result<Destination, DestinationError> {
    if !plausible_id(id) {
        return Err(DestinationError::NotFound);
    }
    app.store
        .get_destination::<DestinationSpec>(org, id)
        .await?
        .ok_or(DestinationError::NotFound)
}

/// Ids are `dst_` and a lower-case ULID; anything else cannot exist.
fn plausible_id(id: &str) -> bool {
    id.len() <= 64
        && id.starts_with("dst_")
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

async fn list(
    State(app): State<Arc<App>>,
    ExportAdmin(caller): ExportAdmin,
) -> Result<Response, ApiError> {
    let found = app
        .store
        .list_destinations::<DestinationSpec>(&caller.principal.org_id)
        .await?;
    let views: Vec<Value> = found.iter().map(Destination::view).collect();
    Ok(edge::json(
        StatusCode::OK,
        &json!({ "destinations": views }),
    ))
}

async fn create(
    State(app): State<Arc<App>>,
    ExportAdmin(caller): ExportAdmin,
    body: BodyBytes,
) -> Result<Response, ApiError> {
    let created = change::create(&app, &caller, &body).await?;
    let mut response = edge::json(StatusCode::CREATED, &created.view());
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/destinations/{}", created.id)) {
        response
            .headers_mut()
            .insert(http::header::LOCATION, location);
    }
    Ok(response)
}

async fn read(
    State(app): State<Arc<App>>,
    ExportAdmin(caller): ExportAdmin,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let d = load(&app, &caller.principal.org_id, &id).await?;
    Ok(edge::json(StatusCode::OK, &d.view()))
}

/// The destination is looked up before the body is read: an unknown id is
/// a 404 whatever was sent.
async fn update(
    State(app): State<Arc<App>>,
    ExportAdmin(caller): ExportAdmin,
    PathId(id): PathId,
    body: Body,
) -> Result<Response, ApiError> {
    let current = load(&app, &caller.principal.org_id, &id).await?;
    let body = edge::read_body(body).await?;
    let next = change::update(&app, &caller, current, &body).await?;
    Ok(edge::json(StatusCode::OK, &next.view()))
}

async fn delete(
    State(app): State<Arc<App>>,
    ExportAdmin(caller): ExportAdmin,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let d = load(&app, &caller.principal.org_id, &id).await?;
    change::delete(&app, &caller, d).await?;
    Ok(edge::no_content())
}

async fn status(
    State(app): State<Arc<App>>,
    ExportAdmin(caller): ExportAdmin,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let d = load(&app, &caller.principal.org_id, &id).await?;
    Ok(edge::json(
        StatusCode::OK,
        &json!({
            "id": d.id,
            "state": d.state(),
            "last_success_at": d.status.last_success_at,
            "last_error": d.status.last_error,
            "last_error_at": d.status.last_error_at,
            "events_delivered": d.status.events_delivered,
            "windows_pending": d.status.jobs_pending.max(0),
            "jobs_in_dlq": d.status.jobs_dead.max(0),
            "cursor": d.cursor,
            "enabled_at": d.enabled_at,
        }),
    ))
}

async fn test(
    State(app): State<Arc<App>>,
    ExportAdmin(caller): ExportAdmin,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let d = load(&app, &caller.principal.org_id, &id).await?;
    let report = test_delivery::test(&app, &d).await?;
    Ok(edge::json(StatusCode::OK, &report))
}

/// As `update`: the destination first, then the body.
async fn replay(
    State(app): State<Arc<App>>,
    ExportAdmin(caller): ExportAdmin,
    PathId(id): PathId,
    body: Body,
) -> Result<Response, ApiError> {
    let d = load(&app, &caller.principal.org_id, &id).await?;
    let body = edge::read_body(body).await?;
    let job = replay::replay(&app, &caller, &d, &body).await?;
    Ok(edge::json(
        StatusCode::ACCEPTED,
        &json!({"destination_id": job.destination_id, "window": {"from": job.window.from, "to": job.window.to}, "status": "queued"}),
    ))
}

/// Sends the destination's dead-lettered jobs again (no body).
async fn redrive(
    State(app): State<Arc<App>>,
    ExportAdmin(caller): ExportAdmin,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let d = load(&app, &caller.principal.org_id, &id).await?;
    let done = redrive::redrive(&app, &caller, &d).await?;
    Ok(edge::json(
        StatusCode::ACCEPTED,
        &json!({"destination_id": d.id, "jobs": done.jobs, "more": done.more, "status": "queued"}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implausible_ids_are_not_looked_up() {
        assert!(plausible_id("dst_01jc5v7q3m2n8k9p0r4s6t8w0y"));
        assert!(!plausible_id("evt_1"));
        assert!(!plausible_id("dst_../x"));
    }
}
