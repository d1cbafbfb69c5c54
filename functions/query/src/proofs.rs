//! Receipts and consistency proofs over the org's Merkle tree (readers of
//! the org, like events):
//!
//! * `GET /v1/events/{id}/proof[?tree_size=N]` – `{event_hash, leaf_index,
//!   tree_size, inclusion_path: [hex…], checkpoint}`: the RFC 9162 §2.1.3
//!   inclusion proof of the event against the signed checkpoint at
//!   `tree_size` (the latest when absent). 409 `not-sealed` until the
//!   event's period is sealed (or when it was sealed before the tree
//!   existed); 409 `event-changed` when the stored event no longer hashes
//!   to its leaf.
//! * `GET /v1/integrity/consistency?from=N&to=M` – `{from, to,
//!   consistency_path: [hex…]}`, RFC 9162 §2.1.4, `0 < from ≤ to ≤` the
//!   latest checkpoint's size.
//! * `GET /v1/integrity/checkpoint[?tree_size=N]` – `{tree_size,
//!   checkpoint}`: the latest signed checkpoint (or the one at `tree_size`),
//!   what a witness (`auditctl witness`) fetches before asking for the
//!   consistency proof from the one it saw last.

use std::sync::Arc;

use audit_domain::ids::{EventId, OrgId};
use audit_domain::integrity::merkle::{consistency_ranges, inclusion_ranges};
use audit_domain::integrity::{event_hash, Checkpoint};
use audit_domain::problem::{FieldError, Problem};
use audit_http::{self as edge, ApiError, EventReader, PathId};
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use http::StatusCode;
use serde_json::json;

use crate::App;

pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/events/{id}/proof", edge::only(&["GET"], get(proof)))
        .route(
            "/v1/integrity/consistency",
            edge::only(&["GET"], get(consistency)),
        )
        .route(
            "/v1/integrity/checkpoint",
            edge::only(&["GET"], get(checkpoint)),
        )
}

fn size_param(name: &str, value: &str) -> Result<u64, FieldError> {
    match value.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(FieldError::new(name, "must be a whole number above 0")),
    }
}

fn not_sealed() -> ApiError {
    Problem::new(
        409,
        "not-sealed",
        "Not in a checkpoint yet",
        "The event's period is not sealed into the tree yet (periods are sealed once closed for the export lag).",
    )
    .into()
}

/// The latest checkpoint's note and size.
async fn latest(app: &App, org: &OrgId) -> Result<(String, u64), ApiError> {
    let note = app
        .store
        .latest_checkpoint(org)
        .await?
        .ok_or_else(not_sealed)?;
    let size = note
        .split_once("\n\n")
        .and_then(|(body, _)| Checkpoint::parse_body(&format!("{body}\n")).ok())
        .map(|c| c.size)
        .ok_or_else(|| {
            tracing::error!(org = %org, "a stored checkpoint does not parse");
            ApiError::unavailable()
        })?;
    Ok((note, size))
}

/// The optional `tree_size` parameter, the only one the checkpoint and
/// proof routes take.
fn tree_size_query(query: Option<&str>) -> Result<Option<u64>, Vec<FieldError>> {
    let mut tree_size = None;
    let mut errors = Vec::new();
    for (name, value) in edge::query_pairs(query) {
        match name.as_str() {
            "tree_size" => match size_param("tree_size", &value) {
                Ok(n) => tree_size = Some(n),
                Err(e) => errors.push(e),
            },
            other => errors.push(FieldError::new(other, "is not a parameter of this route")),
        }
    }
    if errors.is_empty() {
        Ok(tree_size)
    } else {
        Err(errors)
    }
}

/// The checkpoint signed at `tree_size` (`None` when none was), or the
/// latest (409 `not-sealed` when there is none yet).
async fn checkpoint_or_latest(
    app: &App,
    org: &OrgId,
    tree_size: Option<u64>,
) -> Result<Option<(String, u64)>, ApiError> {
    match tree_size {
        None => latest(app, org).await.map(Some),
        Some(n) => Ok(app.store.checkpoint_at(org, n).await?.map(|note| (note, n))),
    }
}

async fn proof(
    State(app): State<Arc<App>>,
    EventReader(caller): EventReader,
    PathId(id): PathId,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let tree_size = tree_size_query(query.as_deref())?;
    let org = &caller.principal.org_id;
    let not_found = || ApiError::not_found("No event with that id in your organization.");
    let id = EventId::parse(&id).map_err(|_| not_found())?;
    let event = app.store.get_event(org, &id).await?.ok_or_else(not_found)?;
    // The digest of the event's period `(start, end]`: the last one
    // starting before the event was recorded, whatever the period length.
    let (digest, parts) = app
        .store
        .digests(org, None, Some(event.recorded_at.plus_millis(-1)), true, 1)
        .await?
        .into_iter()
        .next()
        .filter(|(d, _)| d.period_end >= event.recorded_at)
        .ok_or_else(not_sealed)?;
    let Some(end_size) = digest.tree_size else {
        return Err(not_sealed());
    };
    let first = end_size.saturating_sub(digest.event_count);
    // The event's place in its period: its manifest, part by part.
    let mut offset = 0u64;
    let mut found = None;
    for n in 0..parts as usize {
        let entries = app
            .store
            .manifest_part(org, digest.period_start, n)
            .await?
            .unwrap_or_default();
        if let Some(i) = entries.iter().position(|e| e.id == id) {
            found = Some((offset + i as u64, entries[i].hash.clone()));
            break;
        }
        offset += entries.len() as u64;
    }
    let Some((in_period, sealed_hash)) = found else {
        return Err(not_sealed());
    };
    let hash = event_hash(&event);
    if hash != sealed_hash {
        return Err(Problem::new(
            409,
            "event-changed",
            "Event changed since sealed",
            "The stored event no longer hashes to the leaf its period sealed: run `auditctl verify`.",
        )
        .into());
    }
    let leaf_index = first + in_period;
    let (note, size) = checkpoint_or_latest(&app, org, tree_size)
        .await?
        .ok_or_else(|| {
            ApiError::from(vec![FieldError::new(
                "tree_size",
                "no checkpoint was signed at this tree size",
            )])
        })?;
    if leaf_index >= size {
        return Err(vec![FieldError::new(
            "tree_size",
            format!("the event is leaf {leaf_index}, not in a tree of {size}"),
        )]
        .into());
    }
    let path = app
        .store
        .range_hashes(org, &inclusion_ranges(leaf_index, size))
        .await?;
    Ok(edge::json(
        StatusCode::OK,
        &json!({
            "event_hash": hash,
            "leaf_index": leaf_index,
            "tree_size": size,
            "inclusion_path": path.iter().map(hex::encode).collect::<Vec<_>>(),
            "checkpoint": note,
        }),
    ))
}

async fn consistency(
    State(app): State<Arc<App>>,
    EventReader(caller): EventReader,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (mut from, mut to) = (None, None);
    let mut errors = Vec::new();
    for (name, value) in edge::query_pairs(query.as_deref()) {
        match name.as_str() {
            "from" | "to" => match size_param(&name, &value) {
                Ok(n) if name == "from" => from = Some(n),
                Ok(n) => to = Some(n),
                Err(e) => errors.push(e),
            },
            other => errors.push(FieldError::new(other, "is not a parameter of this route")),
        }
    }
    if from.is_none() && !errors.iter().any(|e| e.field == "from") {
        errors.push(FieldError::new("from", "is required"));
    }
    if to.is_none() && !errors.iter().any(|e| e.field == "to") {
        errors.push(FieldError::new("to", "is required"));
    }
    let (Some(from), Some(to), true) = (from, to, errors.is_empty()) else {
        return Err(errors.into());
    };
    if from > to {
        return Err(vec![FieldError::new("from", "must not be above to")].into());
    }
    let org = &caller.principal.org_id;
    let (_, latest_size) = latest(&app, org).await?;
    if to > latest_size {
        return Err(vec![FieldError::new(
            "to",
            format!("must not be above the latest checkpoint's size, {latest_size}"),
        )]
        .into());
    }
    let path = app
        .store
        .range_hashes(org, &consistency_ranges(from, to))
        .await?;
    Ok(edge::json(
        StatusCode::OK,
        &json!({
            "from": from,
            "to": to,
            "consistency_path": path.iter().map(hex::encode).collect::<Vec<_>>(),
        }),
    ))
}

async fn checkpoint(
    State(app): State<Arc<App>>,
    EventReader(caller): EventReader,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let tree_size = tree_size_query(query.as_deref())?;
    let org = &caller.principal.org_id;
    // Here the checkpoint is the resource asked for: none at that size is a 404.
    let (note, size) = checkpoint_or_latest(&app, org, tree_size)
        .await?
        .ok_or_else(|| ApiError::not_found("No checkpoint was signed at this tree size."))?;
    Ok(edge::json(
        StatusCode::OK,
        &json!({ "tree_size": size, "checkpoint": note }),
    ))
}
