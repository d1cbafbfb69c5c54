//! Viewer tokens and what they change in the read API.
//!
//! * `POST /v1/viewer-tokens` – a `viewer_issuer` key mints a short-lived
//!   token for a platform's signed-in user (see `audit_domain::viewer`)
//! * a scoped token's queries are narrowed to its scope ([`narrow`]) and an
//!   event outside it is not found ([`visible`])
//! * a download made with a token is recorded in the org's log
//!   (`AUDIT_LOG_EXPORTED`, [`record_download`]), with the viewer as actor
//! * `GET|PUT /v1/embedding` – the origins that may frame the org's page

use std::sync::Arc;

use audit_aws::access::Caller;
use audit_domain::auth::Denied;
use audit_domain::catalog::Action;
use audit_domain::download::Format;
use audit_domain::event::{Actor, ActorType, Event};
use audit_domain::ids::{ActorId, ResourceId};
use audit_domain::limits::{MAX_EMAIL_LEN, MAX_NAME_LEN};
use audit_domain::problem::{FieldError, Problem};
use audit_domain::query::{ActivityQuery, ActorFilter};
use audit_domain::time::Timestamp;
use audit_domain::viewer::{
    TokenCodec, Viewer, ViewerClaims, ViewerRole, ViewerScope, ViewerUser, DEFAULT_TTL_SECONDS,
    KEY_LABEL, MAX_TTL_SECONDS, MIN_TTL_SECONDS,
};
use audit_http::{self as edge, ApiError, BodyBytes, ExportAdmin, TokenIssuer};
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use http::StatusCode;
use serde_json::{json, Map, Value};

use crate::destinations::input::{json_object, unknown_fields_of};
use crate::App;

/// Most origins one org may let frame its page.
pub const MAX_FRAME_ANCESTORS: usize = 10;
/// Longest origin accepted in `frame_ancestors`.
pub const MAX_ORIGIN_LEN: usize = 200;
/// Longest `filter` recorded in an `AUDIT_LOG_EXPORTED` event.
const MAX_RECORDED_FILTER: usize = 500;

pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/viewer-tokens", edge::only(&["POST"], post(mint)))
        .route(
            "/v1/embedding",
            edge::only(&["GET", "PUT"], get(embedding).put(set_embedding)),
        )
}

/// The token key: derived from the cursor secret under its own label.
pub(crate) fn codec(app: &App) -> TokenCodec {
    TokenCodec::new(app.cursors.derive(KEY_LABEL))
}

/// The mint request, parsed: every problem named by its field.
fn parse_request(body: &[u8]) -> Result<(Viewer, ViewerRole, u64), Problem> {
    let fields = json_object(body)?;
    let mut errors = unknown_fields_of(&fields, &["user", "role", "scope", "ttl_seconds"]);
    let text = |v: Option<&Value>, field: &str, max: usize, errors: &mut Vec<FieldError>| match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= max => Some(s.clone()),
        Some(_) => {
            errors.push(FieldError::new(
                field,
                format!("must be a string of 1 to {max} characters"),
            ));
            None
        }
    };
    let user = match fields.get("user") {
        Some(Value::Object(u)) => {
            errors.extend(
                unknown_fields_of(u, &["id", "name", "email"])
                    .into_iter()
                    .map(|e| FieldError::new(format!("user.{}", e.field), e.reason)),
            );
            let id = match u.get("id").and_then(Value::as_str).map(ActorId::parse) {
                Some(Ok(id)) => Some(id),
                _ => {
                    errors.push(FieldError::new(
                        "user.id",
                        "is required: an id of 1 to 128 of A-Z a-z 0-9 . _ : -",
                    ));
                    None
                }
            };
            let name = text(u.get("name"), "user.name", MAX_NAME_LEN, &mut errors);
            let email = text(u.get("email"), "user.email", MAX_EMAIL_LEN, &mut errors);
            id.map(|id| ViewerUser { id, name, email })
        }
        _ => {
            errors.push(FieldError::new(
                "user",
                "is required: an object with id, name, email",
            ));
            None
        }
    };
    let role = match fields
        .get("role")
        .and_then(Value::as_str)
        .and_then(ViewerRole::parse)
    {
        Some(r) => Some(r),
        None => {
            errors.push(FieldError::new("role", "must be admin or member"));
            None
        }
    };
    let mut scope = ViewerScope::default();
    match fields.get("scope") {
        None | Some(Value::Null) => {}
        Some(Value::Object(s)) => {
            errors.extend(
                unknown_fields_of(s, &["resource_id", "actor"])
                    .into_iter()
                    .map(|e| FieldError::new(format!("scope.{}", e.field), e.reason)),
            );
            let id_reason = "must be an id of 1 to 128 of A-Z a-z 0-9 . _ : -";
            match s.get("resource_id") {
                None | Some(Value::Null) => {}
                Some(v) => match v.as_str().map(ResourceId::parse) {
                    Some(Ok(id)) => scope.resource_id = Some(id),
                    _ => errors.push(FieldError::new("scope.resource_id", id_reason)),
                },
            }
            match s.get("actor") {
                None | Some(Value::Null) => {}
                Some(v) => match v.as_str().map(ActorId::parse) {
                    Some(Ok(id)) => scope.actor = Some(id),
                    _ => errors.push(FieldError::new("scope.actor", id_reason)),
                },
            }
        }
        Some(_) => errors.push(FieldError::new(
            "scope",
            "must be an object with resource_id and/or actor",
        )),
    }
    let ttl = match fields.get("ttl_seconds") {
        None | Some(Value::Null) => DEFAULT_TTL_SECONDS,
        Some(v) => match whole_number(v) {
            Some(n) if (MIN_TTL_SECONDS..=MAX_TTL_SECONDS).contains(&n) => n,
            _ => {
                errors.push(FieldError::new(
                    "ttl_seconds",
                    format!("must be an integer from {MIN_TTL_SECONDS} to {MAX_TTL_SECONDS}"),
                ));
                DEFAULT_TTL_SECONDS
            }
        },
    };
    match (user, role, errors.is_empty()) {
        (Some(user), Some(role), true) => Ok((Viewer { user, scope }, role, ttl)),
        _ => Err(Problem::invalid(errors)),
    }
}

/// A JSON number that is a non-negative whole number, as JSON Schema's `integer` means it:
/// `31` and `31.0` alike (some clients serialize every number as a float).
fn whole_number(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u32::MAX as f64)
            .map(|f| f as u64)
    })
}

/// `POST /v1/viewer-tokens`: the token for the user the platform names, in
/// the issuing key's org.
async fn mint(
    State(app): State<Arc<App>>,
    TokenIssuer(caller): TokenIssuer,
    body: BodyBytes,
) -> Result<Response, ApiError> {
    let (viewer, role, ttl) = parse_request(&body)?;
    let now = Timestamp::now().millis() / 1000;
    let exp = now + ttl as i64;
    let org = caller.principal.org_id.clone();
    let claims = ViewerClaims {
        org: org.clone(),
        kid: caller.principal.key_id.clone(),
        role,
        viewer,
        iat: now,
        exp,
    };
    let token = codec(&app).mint(&claims);
    tracing::info!(org = %org, issuer = %caller.principal.key_id, ttl, "viewer token minted");
    let expires_at = Timestamp::from_millis(exp * 1000)
        .map(Timestamp::to_rfc3339)
        .unwrap_or_default();
    Ok(edge::json(
        StatusCode::CREATED,
        &json!({
            "token": token,
            "expires_at": expires_at,
            "expires_in": ttl,
            "page_url": format!("/activity?org={org}#token={token}"),
        }),
    ))
}

/// Narrows `q` to a scoped token's scope: a query naming another actor or
/// resource is refused (403), one naming none gets the scope's.
pub(crate) fn narrow(caller: &Caller, q: &mut ActivityQuery) -> Result<(), Denied> {
    let Some(viewer) = &caller.principal.viewer else {
        return Ok(());
    };
    if let Some(actor) = &viewer.scope.actor {
        match &q.actor {
            None => q.actor = Some(ActorFilter::Actor(actor.clone())),
            Some(ActorFilter::Actor(a)) if a == actor => {}
            Some(_) => return Err(Denied::OutsideScope),
        }
    }
    if let Some(resource) = &viewer.scope.resource_id {
        match &q.resource_id {
            None => q.resource_id = Some(resource.clone()),
            Some(r) if r == resource => {}
            Some(_) => return Err(Denied::OutsideScope),
        }
    }
    Ok(())
}

/// Whether a token's scope shows `event` (an API key sees every event).
pub(crate) fn visible(caller: &Caller, event: &Event) -> bool {
    let Some(viewer) = &caller.principal.viewer else {
        return true;
    };
    let actor_ok = viewer.scope.actor.as_ref().is_none_or(|want| {
        event
            .actor
            .as_ref()
            .is_some_and(|a| a.id.as_str() == want.as_str())
    });
    let resource_ok = viewer
        .scope
        .resource_id
        .as_ref()
        .is_none_or(|want| event.resource.id == *want);
    actor_ok && resource_ok
}

/// Who the org's log names for the caller's action: the viewer (a user, as
/// the platform named them) or the calling API key.
pub(crate) fn actor(caller: &Caller) -> Actor {
    match &caller.principal.viewer {
        Some(v) => Actor {
            kind: ActorType::User,
            id: v.user.id.clone(),
            name: v.user.name.clone(),
            email: v.user.email.clone(),
        },
        None => audit_aws::self_audit::key_actor(&caller.principal.key_id)
            .unwrap_or_else(|_| audit_aws::self_audit::operator_actor()),
    }
}

/// Records one download part made with a viewer token in the org's log:
/// the format, the filter as asked, the rows in this part, and whether it
/// continues an earlier part. Best effort: the download is answered anyway.
/// API-key downloads are not recorded (see the README).
pub(crate) async fn record_download(
    app: &App,
    caller: &Caller,
    format: Format,
    filter: &str,
    rows: usize,
    continued: bool,
) {
    if caller.principal.viewer.is_none() {
        return;
    }
    let mut metadata = Map::new();
    metadata.insert("format".into(), format_name(format).into());
    let filter: String = filter.chars().take(MAX_RECORDED_FILTER).collect();
    if !filter.is_empty() {
        metadata.insert("filter".into(), filter.into());
    }
    metadata.insert("rows".into(), rows.to_string().into());
    metadata.insert("continued".into(), continued.to_string().into());
    record_on_activity_log(app, caller, Action::AuditLogExported, metadata).await;
}

/// Records `action` on the org's activity log itself (the resource), with
/// the caller as actor. A failure is logged, not answered: the download or
/// the change it records has already happened.
async fn record_on_activity_log(
    app: &App,
    caller: &Caller,
    action: Action,
    metadata: Map<String, Value>,
) {
    let org = &caller.principal.org_id;
    let resource = ("audit_log", org.as_str(), Some("activity log"));
    if let Err(e) =
        audit_aws::self_audit::record(&app.store, org, action, actor(caller), resource, metadata)
            .await
    {
        tracing::error!(error = %e, org = %org, action = action.as_str(), "recording in the org's log failed");
    }
}

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Csv => "csv",
        Format::Ndjson => "ndjson",
        Format::Json => "json",
    }
}

/// The filter of a request as the caller gave it, without the paging and
/// representation parameters, e.g. `group=users&q=mistral`.
pub(crate) fn filter_text(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "cursor" | "limit" | "format"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// One `frame_ancestors` origin: `https://host[:port]` (or `http://` when
/// private URLs are allowed, on the local stack), no path, no wildcard.
fn parse_origin(s: &str, allow_http: bool) -> Result<String, &'static str> {
    let reason = "must be an origin: https://host or https://host:port, no path";
    if s.len() > MAX_ORIGIN_LEN {
        return Err("is longer than 200 characters");
    }
    let rest = match s.split_once("://") {
        Some(("https", rest)) => rest,
        Some(("http", rest)) if allow_http => rest,
        _ => return Err(reason),
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.parse::<u16>().is_ok());
    if host_ok && port_ok {
        Ok(s.to_string())
    } else {
        Err(reason)
    }
}

async fn embedding(
    State(app): State<Arc<App>>,
    ExportAdmin(caller): ExportAdmin,
) -> Result<Response, ApiError> {
    let origins = app.store.frame_ancestors(&caller.principal.org_id).await?;
    Ok(edge::json(
        StatusCode::OK,
        &json!({ "frame_ancestors": origins }),
    ))
}

/// `PUT /v1/embedding` `{"frame_ancestors": [origins]}`: who may frame the
/// org's Activity page (an empty list: nobody, the default).
async fn set_embedding(
    State(app): State<Arc<App>>,
    ExportAdmin(caller): ExportAdmin,
    body: BodyBytes,
) -> Result<Response, ApiError> {
    let fields = json_object(&body)?;
    let mut errors = unknown_fields_of(&fields, &["frame_ancestors"]);
    let mut origins = Vec::new();
    match fields.get("frame_ancestors") {
        Some(Value::Array(list)) if list.len() <= MAX_FRAME_ANCESTORS => {
            for (i, v) in list.iter().enumerate() {
                let field = format!("frame_ancestors[{i}]");
                match v.as_str().map(|s| parse_origin(s, app.urls.allow_private)) {
                    Some(Ok(o)) if !origins.contains(&o) => origins.push(o),
                    Some(Ok(_)) => {}
                    Some(Err(reason)) => errors.push(FieldError::new(field, reason)),
                    None => errors.push(FieldError::new(field, "must be a string")),
                }
            }
        }
        _ => errors.push(FieldError::new(
            "frame_ancestors",
            format!("is required: a list of at most {MAX_FRAME_ANCESTORS} origins"),
        )),
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let org = &caller.principal.org_id;
    let previous = app.store.set_frame_ancestors(org, &origins).await?;
    tracing::info!(org = %org, origins = origins.len(), "frame ancestors set");
    if previous != origins {
        // Who may frame the page decides where the org's log can be shown:
        // a change is the org's own event (a PUT of the same list is not).
        let mut metadata = Map::new();
        if !origins.is_empty() {
            metadata.insert("frame_ancestors".into(), origins.join(" ").into());
        }
        if !previous.is_empty() {
            metadata.insert("previous".into(), previous.join(" ").into());
        }
        record_on_activity_log(&app, &caller, Action::AuditLogEmbeddingChanged, metadata).await;
    }
    Ok(edge::json(
        StatusCode::OK,
        &json!({ "frame_ancestors": origins }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(body: Value) -> Vec<String> {
        match parse_request(body.to_string().as_bytes()) {
            Ok(_) => vec![],
            Err(p) => p.errors.iter().map(|e| e.field.clone()).collect(),
        }
    }

    #[test]
    fn a_valid_request_parses() {
        let (viewer, role, ttl) = parse_request(
            json!({"user": {"id": "usr_1", "name": "Ada", "email": "ada@example.com"},
                   "role": "member", "scope": {"actor": "usr_1"}, "ttl_seconds": 60})
            .to_string()
            .as_bytes(),
        )
        .expect("valid");
        assert_eq!(role, ViewerRole::Member);
        assert_eq!(ttl, 60);
        assert_eq!(viewer.scope.actor.unwrap().as_str(), "usr_1");
    }

    /// JSON Schema's `integer` admits `31.0`; the API takes it as 31 and still refuses 31.5
    /// (found by schemathesis).
    #[test]
    fn ttl_is_any_whole_number() {
        let parsed =
            parse_request(br#"{"user": {"id": "u"}, "role": "member", "ttl_seconds": 31.0}"#);
        assert_eq!(parsed.expect("31.0 is an integer").2, 31);
        assert_eq!(
            fields(json!({"user": {"id": "u"}, "role": "admin", "ttl_seconds": 31.5})),
            ["ttl_seconds"]
        );
        assert_eq!(
            fields(json!({"user": {"id": "u"}, "role": "admin", "ttl_seconds": -60.0})),
            ["ttl_seconds"]
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(fields(json!({"role": "admin"})), ["user"]);
        assert_eq!(fields(json!({"user": {"id": "usr_1"}})), ["role"]);
        assert_eq!(
            fields(json!({"user": {"id": "a b"}, "role": "owner"})),
            ["user.id", "role"]
        );
        assert_eq!(
            fields(
                json!({"user": {"id": "u"}, "role": "admin", "ttl_seconds": MAX_TTL_SECONDS + 1})
            ),
            ["ttl_seconds"]
        );
        assert_eq!(
            fields(json!({"user": {"id": "u"}, "role": "admin", "ttl_seconds": 1})),
            ["ttl_seconds"]
        );
        assert_eq!(
            fields(json!({"user": {"id": "u"}, "role": "admin", "scope": {"team": "x"}})),
            ["scope.team"]
        );
        assert_eq!(
            fields(json!({"user": {"id": "u"}, "role": "admin", "org": "other"})),
            ["org"]
        );
    }

    #[test]
    fn origins_are_strict() {
        assert!(parse_origin("https://app.example.com", false).is_ok());
        assert!(parse_origin("https://app.example.com:8443", false).is_ok());
        assert!(parse_origin("http://127.0.0.1:9000", true).is_ok());
        for bad in [
            "http://app.example.com",
            "https://app.example.com/path",
            "https://*.example.com",
            "https://",
            "app.example.com",
            "https://a.com:99999",
            "https://a.com; script-src *",
        ] {
            assert!(parse_origin(bad, false).is_err(), "{bad}");
        }
    }
}
