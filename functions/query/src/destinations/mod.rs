//! The destinations API (Organization Admins only): where an org's audit log
//! is exported and how that export is doing.
//!
//! * `POST /v1/destinations` – create (secret to Secrets Manager)
//! * `GET /v1/destinations`, `GET /v1/destinations/{id}` – list, read
//! * `PATCH /v1/destinations/{id}` – change, rotate the secret, enable/disable
//! * `DELETE /v1/destinations/{id}` – the destination and its secret
//! * `GET /v1/destinations/{id}/status` – delivery health
//! * `POST /v1/destinations/{id}/test` – one synthetic event, sent now
//!
//! A secret is read from the body once, written to Secrets Manager, and only
//! its masked hint is ever shown. Log lines name the destination, org, type
//! and outcome, never settings values or secrets.

use audit_aws::access::Caller;
use audit_aws::secrets::SecretsError;
use audit_destinations::deliver::Delivery;
use audit_domain::auth::{authorize, OrgAccess, Permission};
use audit_domain::catalog::Action;
use audit_domain::export::destination::secret_hint;
use audit_domain::ids::OrgId;
use audit_domain::problem::FieldError;
use audit_domain::problem::Problem;
use audit_domain::time::Timestamp;
use audit_http::legacy::{self as edge, HttpResponse};
use http::Request;
use serde_json::{json, Map, Value};
use {
    audit_destinations::Destination, audit_destinations::DestinationSpec,
    audit_domain::export::Outcome,
};

use crate::App;
use input::{json_object, parse_enabled, take_secret, unknown_fields, unknown_fields_of};

mod input;

/// The spec's fields, which a PATCH replaces one by one.
const SPEC_FIELDS: [&str; 5] = ["name", "type", "settings", "format", "filter"];

/// The methods a destinations path accepts, or `None` when the path is not
/// one of this module's routes.
pub(crate) fn allowed_methods(segments: &[&str]) -> Option<&'static [&'static str]> {
    match segments {
        ["v1", "destinations"] => Some(&["GET", "POST"]),
        ["v1", "destinations", _] => Some(&["GET", "PATCH", "DELETE"]),
        ["v1", "destinations", _, "status"] => Some(&["GET"]),
        ["v1", "destinations", _, "test"] => Some(&["POST"]),
        ["v1", "destinations", _, "replay"] => Some(&["POST"]),
        _ => None,
    }
}

/// Serves an authenticated request on a destinations route.
pub(crate) async fn route<B: AsRef<[u8]>>(
    app: &App,
    caller: &Caller,
    req: &Request<B>,
) -> HttpResponse {
    let access = OrgAccess {
        uses_teams: caller.org.uses_teams,
    };
    if let Err(denied) = authorize(caller.principal.role, access, Permission::ManageExport) {
        return edge::problem(&Problem::from(&denied));
    }
    let org = &caller.principal.org_id;
    let body = req.body().as_ref();
    let path = req.uri().path().trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    match (req.method().as_str(), segments.as_slice()) {
        ("GET", [_, _]) => list(app, org).await,
        ("POST", [_, _]) => create(app, caller, body).await,
        ("GET", [_, _, id]) => {
            with_destination(app, org, id, |d| async move { edge::json(200, &d.view()) }).await
        }
        ("PATCH", [_, _, id]) => {
            with_destination(app, org, id, |d| update(app, caller, d, body)).await
        }
        ("DELETE", [_, _, id]) => with_destination(app, org, id, |d| delete(app, caller, d)).await,
        ("POST", [_, _, id, "replay"]) => {
            with_destination(app, org, id, |d| replay(app, caller, d, body)).await
        }
        ("GET", [_, _, id, "status"]) => {
            with_destination(app, org, id, |d| async move { status(&d) }).await
        }
        ("POST", [_, _, id, "test"]) => with_destination(app, org, id, |d| test(app, d)).await,
        // `crate::route` already answered 405 for methods the path does not list.
        _ => edge::method_not_allowed(allowed_methods(&segments).unwrap_or(&[])),
    }
}

/// Loads the org's destination `id` (another org's id is simply not found)
/// and hands it to `then`.
async fn with_destination<F, Fut>(app: &App, org: &OrgId, id: &str, then: F) -> HttpResponse
where
    F: FnOnce(Destination) -> Fut,
    Fut: std::future::Future<Output = HttpResponse>,
{
    let not_found = || {
        edge::problem(&Problem::not_found(
            "No destination with that id in your organization.",
        ))
    };
    if !plausible_id(id) {
        return not_found();
    }
    match app.store.get_destination::<DestinationSpec>(org, id).await {
        Ok(Some(d)) => then(d).await,
        Ok(None) => not_found(),
        Err(e) => {
            tracing::error!(error = %e, org = %org, destination_id = id, "destination lookup failed");
            edge::problem(&Problem::unavailable())
        }
    }
}

/// Ids are `dst_` and a lower-case ULID; anything else cannot exist.
fn plausible_id(id: &str) -> bool {
    id.len() <= 64
        && id.starts_with("dst_")
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

async fn list(app: &App, org: &OrgId) -> HttpResponse {
    match app.store.list_destinations::<DestinationSpec>(org).await {
        Ok(found) => {
            let views: Vec<Value> = found.iter().map(Destination::view).collect();
            edge::json(200, &json!({ "destinations": views }))
        }
        Err(e) => {
            tracing::error!(error = %e, org = %org, "destination list failed");
            edge::problem(&Problem::unavailable())
        }
    }
}

async fn create(app: &App, caller: &Caller, body: &[u8]) -> HttpResponse {
    let org = &caller.principal.org_id;
    let fields = match json_object(body) {
        Ok(f) => f,
        Err(problem) => return edge::problem(&problem),
    };
    let mut errors = unknown_fields(&fields);
    let spec = DestinationSpec::parse(&Value::Object(fields.clone()), app.urls)
        .map_err(|e| errors.extend(e))
        .ok();
    let enabled = parse_enabled(fields.get("enabled"), true)
        .map_err(|e| errors.push(e))
        .ok();
    let secret = spec
        .as_ref()
        .and_then(|spec| take_secret(&spec.settings, fields.get("secret"), false, &mut errors));
    let (Some(spec), Some(enabled), true) = (spec, enabled, errors.is_empty()) else {
        return edge::problem(&Problem::invalid(errors));
    };
    let id = Destination::new_id();
    let kind = spec.settings.kind();
    let (secret_ref, hint) = match &secret {
        Some(value) => match app.secrets.put(org, &id, value).await {
            Ok(name) => (Some(name), Some(secret_hint(value))),
            Err(e) => {
                tracing::error!(error = %e, org = %org, destination_id = %id, kind, "storing the destination secret failed");
                return edge::problem(&Problem::unavailable());
            }
        },
        None => (None, None),
    };
    let now = Timestamp::now();
    let destination = Destination {
        id,
        org_id: org.clone(),
        spec,
        secret_ref,
        secret_hint: hint,
        enabled,
        enabled_at: enabled.then_some(now),
        cursor: None,
        created_at: now,
        updated_at: now,
        status: Default::default(),
    };
    if let Err(e) = app.store.put_destination(&destination).await {
        tracing::error!(error = %e, org = %org, destination_id = %destination.id, kind, "destination write failed");
        if let Some(name) = &destination.secret_ref {
            // Best effort: a secret without its destination is useless.
            if let Err(e) = app.secrets.delete(name).await {
                tracing::error!(error = %e, destination_id = %destination.id, "orphaned destination secret not deleted");
            }
        }
        return edge::problem(&Problem::unavailable());
    }
    record_change(
        app,
        caller,
        &destination,
        Action::ExportDestinationCreated,
        None,
    )
    .await;
    let mut response = edge::json(201, &destination.view());
    if let Ok(location) =
        http::HeaderValue::from_str(&format!("/v1/destinations/{}", destination.id))
    {
        response
            .headers_mut()
            .insert(http::header::LOCATION, location);
    }
    response
}

/// A PATCH: each given spec field replaces the stored one (`settings`
/// whole); `secret` rotates; `enabled: true` on a disabled destination
/// restarts export at now (nothing recorded while it was off is sent).
async fn update(app: &App, caller: &Caller, current: Destination, body: &[u8]) -> HttpResponse {
    let patch = match json_object(body) {
        Ok(f) => f,
        Err(problem) => return edge::problem(&problem),
    };
    let mut errors = unknown_fields(&patch);
    let mut merged = match serde_json::to_value(&current.spec) {
        Ok(Value::Object(m)) => m,
        _ => return edge::problem(&Problem::internal()),
    };
    let kind_changed = patch
        .get("type")
        .is_some_and(|t| Some(t) != merged.get("type"));
    if kind_changed && !patch.contains_key("settings") {
        errors.push(FieldError::new(
            "settings",
            "must be given when type changes",
        ));
    }
    for field in SPEC_FIELDS {
        if let Some(value) = patch.get(field) {
            merged.insert(field.into(), value.clone());
        }
    }
    let spec = DestinationSpec::parse(&Value::Object(merged), app.urls)
        .map_err(|e| errors.extend(e))
        .ok();
    let enabled = parse_enabled(patch.get("enabled"), current.enabled)
        .map_err(|e| errors.push(e))
        .ok();
    let secret = spec.as_ref().and_then(|spec| {
        // A new type needs its own credential: an old one never carries over.
        let has_usable_secret = current.secret_ref.is_some() && !kind_changed;
        take_secret(
            &spec.settings,
            patch.get("secret"),
            has_usable_secret,
            &mut errors,
        )
    });
    let (Some(spec), Some(enabled), true) = (spec, enabled, errors.is_empty()) else {
        return edge::problem(&Problem::invalid(errors));
    };

    let org = &current.org_id;
    let mut next = current.clone();
    let re_enabled = enabled && !current.enabled;
    let now = Timestamp::now();
    next.updated_at = now;
    next.enabled = enabled;
    if re_enabled {
        next.enabled_at = Some(now);
        next.cursor = None;
    }
    let mut retired_secret = None;
    if let Some(value) = &secret {
        match app.secrets.put(org, &current.id, value).await {
            Ok(name) => {
                next.secret_ref = Some(name);
                next.secret_hint = Some(secret_hint(value));
            }
            Err(e) => {
                tracing::error!(error = %e, org = %org, destination_id = %current.id, "rotating the destination secret failed");
                return edge::problem(&Problem::unavailable());
            }
        }
    } else if !spec.settings.needs_secret() {
        retired_secret = next.secret_ref.take();
        next.secret_hint = None;
    }
    next.spec = spec;
    match app
        .store
        .update_destination_config(&next, current.updated_at, re_enabled)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return edge::problem(&Problem::conflict(
                "The destination was changed or deleted meanwhile; read it again and retry.",
            ))
        }
        Err(e) => {
            tracing::error!(error = %e, org = %org, destination_id = %current.id, "destination update failed");
            return edge::problem(&Problem::unavailable());
        }
    }
    if let Some(name) = retired_secret {
        if let Err(e) = app.secrets.delete(&name).await {
            tracing::error!(error = %e, destination_id = %current.id, "retired destination secret not deleted");
        }
    }
    let action = match (current.enabled, enabled) {
        (false, true) => "enabled",
        (true, false) => "disabled",
        _ if secret.is_some() => "secret_rotated",
        _ => "updated",
    };
    record_change(
        app,
        caller,
        &next,
        Action::ExportDestinationUpdated,
        Some(action),
    )
    .await;
    edge::json(200, &next.view())
}

/// Removes the destination (export stops at once), then its secret.
async fn delete(app: &App, caller: &Caller, d: Destination) -> HttpResponse {
    match app.store.delete_destination(&d.org_id, &d.id).await {
        Ok(true) => {}
        Ok(false) => {
            return edge::problem(&Problem::not_found(
                "No destination with that id in your organization.",
            ))
        }
        Err(e) => {
            tracing::error!(error = %e, org = %d.org_id, destination_id = %d.id, "destination delete failed");
            return edge::problem(&Problem::unavailable());
        }
    }
    if let Some(name) = &d.secret_ref {
        // The destination is gone either way; the name lets an operator finish.
        if let Err(e) = app.secrets.delete(name).await {
            tracing::error!(error = %e, org = %d.org_id, destination_id = %d.id, "destination secret not deleted");
        }
    }
    record_change(app, caller, &d, Action::ExportDestinationDeleted, None).await;
    let mut response = edge::respond(204, "application/json", String::new());
    response.headers_mut().remove(http::header::CONTENT_TYPE);
    response
}

fn status(d: &Destination) -> HttpResponse {
    edge::json(
        200,
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
    )
}

/// Sends one synthetic event now and reports what the destination answered;
/// a failure also goes on the destination's status.
async fn test(app: &App, d: Destination) -> HttpResponse {
    let org = &d.org_id;
    let kind = d.spec.settings.kind();
    let secret = match &d.secret_ref {
        None => None,
        Some(name) => match app.secrets.get(name).await {
            Ok(value) => Some(value),
            Err(e @ (SecretsError::NotFound { .. } | SecretsError::Deleted { .. })) => {
                tracing::error!(error = %e, org = %org, destination_id = %d.id, kind, "destination secret missing");
                let outcome = Outcome::Permanent(
                    "the destination's secret is missing: set a new one (PATCH secret)".into(),
                );
                return test_answer(
                    app,
                    &d,
                    Delivery {
                        outcome,
                        requests: 0,
                        events: 0,
                    },
                    None,
                )
                .await;
            }
            Err(e) => {
                tracing::error!(error = %e, org = %org, destination_id = %d.id, kind, "reading the destination secret failed");
                return edge::problem(&Problem::unavailable());
            }
        },
    };
    let delivery = app.deliverer.send_test(&d, secret.as_deref(), org).await;
    test_answer(app, &d, delivery, secret.as_deref()).await
}

async fn test_answer(
    app: &App,
    d: &Destination,
    delivery: Delivery,
    secret: Option<&str>,
) -> HttpResponse {
    let (outcome, detail) = match delivery.outcome {
        Outcome::Delivered => (
            "delivered",
            "the destination accepted the test event".to_string(),
        ),
        Outcome::Transient(reason) => ("transient", reason),
        Outcome::Permanent(reason) => ("permanent", reason),
    };
    // The deliverer already keeps secrets out of reasons; this is the last guard.
    let detail = match secret {
        Some(s) if !s.is_empty() && detail.contains(s) => detail.replace(s, "[redacted]"),
        _ => detail,
    };
    let delivered = outcome == "delivered";
    if !delivered {
        let reason = format!("test delivery: {detail}");
        if let Err(e) = app
            .store
            .record_failure(&d.org_id, &d.id, &reason, Timestamp::now())
            .await
        {
            tracing::error!(error = %e, org = %d.org_id, destination_id = %d.id, "recording the test failure failed");
        }
    }
    tracing::info!(
        org = %d.org_id,
        destination_id = %d.id,
        kind = d.spec.settings.kind(),
        outcome,
        requests = delivery.requests,
        "destination test"
    );
    edge::json(
        200,
        &json!({"delivered": delivered, "outcome": outcome, "detail": detail, "requests": delivery.requests}),
    )
}

/// Logs a change and records it in the org's own log (group `audit_log`),
/// so the log shows who changed where it goes. Recording is best effort: the
/// change itself has happened.
async fn record_change(
    app: &App,
    caller: &Caller,
    d: &Destination,
    action: Action,
    changes: Option<&str>,
) {
    tracing::info!(
        org = %d.org_id,
        destination_id = %d.id,
        kind = d.spec.settings.kind(),
        enabled = d.enabled,
        action = action.as_str(),
        changes,
        "destination changed"
    );
    let mut metadata = Map::new();
    metadata.insert("destination_type".into(), d.spec.settings.kind().into());
    if let Some(changes) = changes {
        metadata.insert("changes".into(), changes.replace('_', " ").into());
    }
    self_audit(app, caller, action, d, metadata).await;
}

async fn self_audit(
    app: &App,
    caller: &Caller,
    action: Action,
    d: &Destination,
    metadata: Map<String, Value>,
) {
    let actor = match audit_aws::self_audit::key_actor(&caller.principal.key_id) {
        Ok(a) => a,
        Err(_) => audit_aws::self_audit::operator_actor(),
    };
    let resource = (
        "export_destination",
        d.id.as_str(),
        Some(d.spec.name.as_str()),
    );
    if let Err(e) =
        audit_aws::self_audit::record(&app.store, &d.org_id, action, actor, resource, metadata)
            .await
    {
        tracing::error!(error = %e, org = %d.org_id, destination_id = %d.id, "recording the change in the org's log failed");
    }
}

/// `POST /v1/destinations/{id}/replay` `{"from", "to"}`: queues the explicit
/// past window (recorded_at in (from, to]) for this destination, the only way
/// events from before `enabled_at` are ever sent. Recorded in the org's log.
async fn replay(app: &App, caller: &Caller, d: Destination, body: &[u8]) -> HttpResponse {
    let fields = match json_object(body) {
        Ok(f) => f,
        Err(problem) => return edge::problem(&problem),
    };
    let mut errors = unknown_fields_of(&fields, &["from", "to"]);
    let mut bound = |name: &str| match fields.get(name).and_then(Value::as_str) {
        Some(v) => match Timestamp::parse_lenient(v) {
            Ok(t) => Some(t),
            Err(_) => {
                errors.push(FieldError::new(
                    name,
                    "must be an RFC 3339 timestamp or a YYYY-MM-DD date",
                ));
                None
            }
        },
        None => {
            errors.push(FieldError::new(name, "is required"));
            None
        }
    };
    let (from, to) = (bound("from"), bound("to"));
    let now = Timestamp::now();
    if let (Some(from), Some(to)) = (from, to) {
        if from >= to {
            errors.push(FieldError::new("from", "must be before to"));
        }
        if to > now {
            errors.push(FieldError::new(
                "to",
                "must not be in the future: the scheduler sends what comes next",
            ));
        }
    }
    let (Some(from), Some(to), true) = (from, to, errors.is_empty()) else {
        return edge::problem(&Problem::invalid(errors));
    };
    let Some(queue) = &app.export_queue else {
        return edge::problem(&Problem::unavailable());
    };
    let window = audit_domain::export::ExportWindow { from, to };
    let mut job = audit_domain::export::ExportJob::new(d.id.clone(), d.org_id.clone(), window, now);
    job.replay = true;
    if let Err(e) = queue.send(&job).await {
        tracing::error!(error = %e, org = %d.org_id, destination_id = %d.id, "queueing a replay failed");
        return edge::problem(&Problem::unavailable());
    }
    if let Err(e) = app
        .store
        .count_jobs(&d.org_id, &d.id, audit_aws::store::JobCounter::Pending, 1)
        .await
    {
        tracing::warn!(error = %e, destination_id = %d.id, "counting the replay job failed");
    }
    let mut metadata = Map::new();
    metadata.insert("destination_type".into(), d.spec.settings.kind().into());
    metadata.insert("from".into(), from.to_rfc3339().into());
    metadata.insert("to".into(), to.to_rfc3339().into());
    self_audit(app, caller, Action::ExportReplayRequested, &d, metadata).await;
    edge::json(
        202,
        &json!({"destination_id": d.id, "window": {"from": from, "to": to}, "status": "queued"}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_methods() {
        assert_eq!(
            allowed_methods(&["v1", "destinations"]),
            Some(&["GET", "POST"][..])
        );
        assert_eq!(
            allowed_methods(&["v1", "destinations", "dst_1", "status"]),
            Some(&["GET"][..])
        );
        assert_eq!(
            allowed_methods(&["v1", "destinations", "dst_1", "nope"]),
            None
        );
        assert_eq!(allowed_methods(&["v1", "destination"]), None);
    }

    #[test]
    fn implausible_ids_are_not_looked_up() {
        assert!(plausible_id("dst_01jc5v7q3m2n8k9p0r4s6t8w0y"));
        assert!(!plausible_id("evt_1"));
        assert!(!plausible_id("dst_../x"));
    }
}
