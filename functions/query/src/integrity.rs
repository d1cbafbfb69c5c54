//! Integrity routes:
//!
//! * `GET /v1/integrity/public-key` – the Ed25519 key that verifies digests,
//!   `{key_id, algorithm: "Ed25519", public_key: <base64 of 32 bytes>}`; any
//!   valid key may read it.
//! * `GET /v1/integrity/public-keys` – every key that ever signed a digest
//!   (each digest names its `key_id`), oldest first, the current one marked:
//!   `{keys: [{key_id, algorithm, public_key, created_at, current}]}`; any
//!   valid key may read it.
//! * `GET /v1/integrity/digests?from=&to=&order=&limit=` – the org's sealed
//!   digests whose `period_start` is in `[from, to]`, newest first (or
//!   `order=asc`), at most `limit` (default 100, at most 1000); `has_more`
//!   says whether to ask again with `to` (or `from`) past the last one. Read
//!   like events: admins, and members when the org does not use teams.

use std::sync::Arc;

use audit_aws::signing;
use audit_aws::signing::KeyError;
use audit_domain::problem::FieldError;
use audit_domain::problem::Problem;
use audit_domain::time::Timestamp;
use audit_http::{self as edge, ApiError, Authenticated, EventReader};
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use http::StatusCode;
use serde_json::json;

use crate::App;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

/// The integrity routes (all GET).
pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route(
            "/v1/integrity/public-key",
            edge::only(&["GET"], get(public_key)),
        )
        .route(
            "/v1/integrity/public-keys",
            edge::only(&["GET"], get(public_keys)),
        )
        .route("/v1/integrity/digests", edge::only(&["GET"], get(digests)))
}

/// From the registry the sealer writes: the query function holds no
/// grant on the private key (`template.yaml`).
async fn public_key(
    State(app): State<Arc<App>>,
    Authenticated(_): Authenticated,
) -> Result<Response, ApiError> {
    let key = signing::published_current(&app.store)
        .await
        .map_err(key_problem)?;
    Ok(edge::json(
        StatusCode::OK,
        &json!({"key_id": key.key_id, "algorithm": key.algorithm, "public_key": key.public_key}),
    ))
}

async fn public_keys(
    State(app): State<Arc<App>>,
    Authenticated(_): Authenticated,
) -> Result<Response, ApiError> {
    let keys = signing::published(&app.store).await.map_err(key_problem)?;
    Ok(edge::json(StatusCode::OK, &json!({ "keys": keys })))
}

fn key_problem(e: KeyError) -> ApiError {
    match e {
        KeyError::Missing => Problem::new(
            503,
            "no-signing-key",
            "No signing key yet",
            "The signing key is created when the first digest is sealed (or by `auditctl init`).",
        )
        .into(),
        e => {
            tracing::error!(error = %e, "reading the signing keys failed");
            ApiError::unavailable()
        }
    }
}

/// The digests listing's parameters, parsed.
#[derive(Debug, PartialEq)]
struct DigestQuery {
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    newest_first: bool,
    limit: usize,
}

fn parse(pairs: &[(String, String)]) -> Result<DigestQuery, Vec<FieldError>> {
    let mut q = DigestQuery {
        from: None,
        to: None,
        newest_first: true,
        limit: DEFAULT_LIMIT,
    };
    let mut errors = Vec::new();
    for (name, value) in pairs {
        match name.as_str() {
            "from" | "to" => match Timestamp::parse_lenient(value) {
                Ok(t) if name == "from" => q.from = Some(t),
                Ok(t) => q.to = Some(t),
                Err(e) => errors.push(FieldError::new(name, e.to_string())),
            },
            "order" => match value.as_str() {
                "asc" => q.newest_first = false,
                "desc" => q.newest_first = true,
                _ => errors.push(FieldError::new("order", "must be asc or desc")),
            },
            "limit" => match value.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => q.limit = n,
                _ => errors.push(FieldError::new(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_LIMIT}"),
                )),
            },
            other => errors.push(FieldError::new(other, "is not a parameter of this route")),
        }
    }
    if let (Some(f), Some(t)) = (q.from, q.to) {
        if f > t {
            errors.push(FieldError::new("from", "must not be after to"));
        }
    }
    if errors.is_empty() {
        Ok(q)
    } else {
        Err(errors)
    }
}

/// Read like events: admins, and members when the org does not use teams.
async fn digests(
    State(app): State<Arc<App>>,
    EventReader(caller): EventReader,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let q = parse(&edge::query_pairs(query.as_deref()))?;
    let org = &caller.principal.org_id;
    let mut found = app
        .store
        .digests(org, q.from, q.to, q.newest_first, q.limit + 1)
        .await?;
    let has_more = found.len() > q.limit;
    found.truncate(q.limit);
    let digests: Vec<_> = found.into_iter().map(|(d, _)| d).collect();
    Ok(edge::json(
        StatusCode::OK,
        &json!({ "digests": digests, "has_more": has_more }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        edge::query_pairs(Some(q))
    }

    #[test]
    fn defaults_are_newest_first_and_a_hundred() {
        let q = parse(&[]).unwrap();
        assert!(q.newest_first);
        assert_eq!(q.limit, 100);
    }

    #[test]
    fn bad_parameters_are_named() {
        let errors = parse(&pairs("from=yesterday&order=up&limit=0&x=1")).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["from", "order", "limit", "x"]);
    }

    #[test]
    fn from_after_to_is_rejected() {
        let errors = parse(&pairs("from=2026-11-02&to=2026-11-01")).unwrap_err();
        assert_eq!(errors[0].field, "from");
    }
}
