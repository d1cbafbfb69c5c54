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

use audit_aws::access::Caller;
use audit_aws::signing;
use audit_aws::signing::{load, KeyError};
use audit_domain::auth::{authorize, OrgAccess, Permission};
use audit_domain::integrity::signing::secret_name_from_env;
use audit_domain::problem::FieldError;
use audit_domain::problem::Problem;
use audit_domain::time::Timestamp;
use audit_http::legacy::{self as edge, HttpResponse};
use serde_json::json;

use crate::App;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

/// Whether `segments` name an integrity route (all are GET).
pub fn owns(segments: &[&str]) -> bool {
    matches!(
        segments,
        ["v1", "integrity", "public-key" | "public-keys" | "digests"]
    )
}

pub async fn route(
    app: &App,
    caller: &Caller,
    segments: &[&str],
    query: Option<&str>,
) -> HttpResponse {
    match segments {
        ["v1", "integrity", "public-key"] => public_key(app).await,
        ["v1", "integrity", "public-keys"] => public_keys(app).await,
        _ => {
            if let Err(denied) = authorize(
                caller.principal.role,
                OrgAccess {
                    uses_teams: caller.org.uses_teams,
                },
                Permission::ReadEvents,
            ) {
                return edge::problem(&Problem::from(&denied));
            }
            digests(app, caller, query).await
        }
    }
}

async fn public_key(app: &App) -> HttpResponse {
    match load(&app.secrets, &secret_name_from_env()).await {
        Ok(signer) => edge::json(200, &signer.public_key().view()),
        Err(e) => key_problem(&e),
    }
}

async fn public_keys(app: &App) -> HttpResponse {
    match signing::listing(&app.secrets, &app.store, &secret_name_from_env()).await {
        Ok(keys) => edge::json(200, &json!({ "keys": keys })),
        Err(e) => key_problem(&e),
    }
}

fn key_problem(e: &KeyError) -> HttpResponse {
    match e {
        KeyError::Missing => edge::problem(&Problem::new(
            503,
            "no-signing-key",
            "No signing key yet",
            "The signing key is created when the first digest is sealed (or by `auditctl init`).",
        )),
        e => {
            tracing::error!(error = %e, "reading the signing keys failed");
            edge::problem(&Problem::unavailable())
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

async fn digests(app: &App, caller: &Caller, query: Option<&str>) -> HttpResponse {
    let q = match parse(&edge::query_pairs(query)) {
        Ok(q) => q,
        Err(errors) => return edge::problem(&Problem::invalid(errors)),
    };
    let org = &caller.principal.org_id;
    match app
        .store
        .digests(org, q.from, q.to, q.newest_first, q.limit + 1)
        .await
    {
        Ok(mut found) => {
            let has_more = found.len() > q.limit;
            found.truncate(q.limit);
            let digests: Vec<_> = found.into_iter().map(|(d, _)| d).collect();
            edge::json(200, &json!({ "digests": digests, "has_more": has_more }))
        }
        Err(e) => {
            tracing::error!(error = %e, "listing digests failed");
            edge::problem(&Problem::unavailable())
        }
    }
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
