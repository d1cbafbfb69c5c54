//! Changing a destination: create it, update it (spec, enable/disable,
//! secret rotation, a new type), delete it. Each returns the destination as
//! it now is, or why it did not happen; each records itself in the org's log.

use audit_aws::access::Caller;
use audit_destinations::{Destination, DestinationSettings, DestinationSpec};
use audit_domain::catalog::Action;
use audit_domain::export::destination::secret_hint;
use audit_domain::ids::OrgId;
use audit_domain::problem::FieldError;
use audit_domain::time::Timestamp;
use serde_json::Value;

use super::input::{json_object, parse_enabled, take_secret, unknown_fields};
use super::self_audit::record_change;
use super::DestinationError;
use crate::App;

/// The spec's fields, which a PATCH replaces one by one.
const SPEC_FIELDS: [&str; 5] = ["name", "type", "settings", "format", "filter"];

/// A new destination from a create body; its secret goes to Secrets
/// Manager first, and is deleted again if the destination cannot be stored.
pub(super) async fn create(
    app: &App,
    caller: &Caller,
    body: &[u8],
) -> Result<Destination, DestinationError> {
    let org = &caller.principal.org_id;
    let fields = json_object(body).map_err(DestinationError::Body)?;
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
        return Err(DestinationError::Invalid(errors));
    };
    claim_role(app, org, &spec).await?;
    let id = Destination::new_id();
    let (secret_ref, hint) = match &secret {
        Some(value) => (
            Some(app.secrets.put(org, &id, value).await?),
            Some(secret_hint(value)),
        ),
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
        if let Some(name) = &destination.secret_ref {
            // Best effort: a secret without its destination is useless.
            if let Err(e) = app.secrets.delete(name).await {
                tracing::error!(error = %e, destination_id = %destination.id, "orphaned destination secret not deleted");
            }
        }
        release_role_if_unused(app, org, role_of(&destination.spec), None).await;
        return Err(e.into());
    }
    record_change(
        app,
        caller,
        &destination,
        Action::ExportDestinationCreated,
        None,
    )
    .await;
    Ok(destination)
}

/// A PATCH: each given spec field replaces the stored one (`settings`
/// whole); `secret` rotates; `enabled: true` on a disabled destination
/// restarts export at now (nothing recorded while it was off is sent).
pub(super) async fn update(
    app: &App,
    caller: &Caller,
    current: Destination,
    body: &[u8],
) -> Result<Destination, DestinationError> {
    let patch = json_object(body).map_err(DestinationError::Body)?;
    let mut errors = unknown_fields(&patch);
    let Ok(Value::Object(mut merged)) = serde_json::to_value(&current.spec) else {
        return Err(DestinationError::Unreadable);
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
        // Nor does it to a new place (URL, intake URL, site): the stored
        // secret would be sent to a host its owner never chose. S3 has no
        // secret; its role claim guards a new bucket or role instead.
        let moved = spec.settings.place() != current.spec.settings.place();
        let has_usable_secret = current.secret_ref.is_some() && !kind_changed && !moved;
        take_secret(
            &spec.settings,
            patch.get("secret"),
            has_usable_secret,
            &mut errors,
        )
    });
    let (Some(spec), Some(enabled), true) = (spec, enabled, errors.is_empty()) else {
        return Err(DestinationError::Invalid(errors));
    };

    let org = &current.org_id;
    let role_changed = role_of(&spec) != role_of(&current.spec);
    if role_changed {
        claim_role(app, org, &spec).await?;
    }
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
        next.secret_ref = Some(app.secrets.put(org, &current.id, value).await?);
        next.secret_hint = Some(secret_hint(value));
    } else if !spec.settings.needs_secret() {
        retired_secret = next.secret_ref.take();
        next.secret_hint = None;
    }
    next.spec = spec;
    let stored = app
        .store
        .update_destination_config(&next, current.updated_at, re_enabled)
        .await?;
    if !stored {
        if role_changed {
            release_role_if_unused(app, org, role_of(&next.spec), None).await;
        }
        return Err(DestinationError::Conflict);
    }
    if role_changed {
        release_role_if_unused(app, org, role_of(&current.spec), None).await;
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
    Ok(next)
}

/// Removes the destination (export stops at once), then its secret.
pub(super) async fn delete(
    app: &App,
    caller: &Caller,
    d: Destination,
) -> Result<(), DestinationError> {
    if !app.store.delete_destination(&d.org_id, &d.id).await? {
        return Err(DestinationError::NotFound);
    }
    release_role_if_unused(app, &d.org_id, role_of(&d.spec), Some(&d.id)).await;
    if let Some(name) = &d.secret_ref {
        // The destination is gone either way; the name lets an operator finish.
        if let Err(e) = app.secrets.delete(name).await {
            tracing::error!(error = %e, org = %d.org_id, destination_id = %d.id, "destination secret not deleted");
        }
    }
    record_change(app, caller, &d, Action::ExportDestinationDeleted, None).await;
    Ok(())
}

/// The IAM role an S3 destination assumes, if it names one.
fn role_of(spec: &DestinationSpec) -> Option<&str> {
    match &spec.settings {
        DestinationSettings::S3(s3) => s3.role_arn.as_deref(),
        _ => None,
    }
}

/// Claims the spec's role for `org`: a role another org named first is
/// refused, naming `settings.role_arn`.
async fn claim_role(
    app: &App,
    org: &OrgId,
    spec: &DestinationSpec,
) -> Result<(), DestinationError> {
    let Some(role) = role_of(spec) else {
        return Ok(());
    };
    if app.store.claim_role(role, org).await? {
        return Ok(());
    }
    tracing::warn!(org = %org, "S3 destination refused: its role is claimed by another org");
    Err(DestinationError::Invalid(vec![FieldError::new(
        "settings.role_arn",
        "cannot be used: another organization's destination assumes this role",
    )]))
}

/// Releases `org`'s claim on `role` unless another of its destinations
/// (other than `gone`, being deleted) still names it. Best effort: a claim
/// left behind only keeps the role with the org that named it.
async fn release_role_if_unused(app: &App, org: &OrgId, role: Option<&str>, gone: Option<&str>) {
    let Some(role) = role else { return };
    let still_used = match app.store.list_destinations::<DestinationSpec>(org).await {
        Ok(all) => all
            .iter()
            .any(|d| Some(d.id.as_str()) != gone && role_of(&d.spec) == Some(role)),
        Err(e) => {
            tracing::error!(error = %e, org = %org, "role claim kept: destinations not listed");
            return;
        }
    };
    if !still_used {
        if let Err(e) = app.store.release_role(role, org).await {
            tracing::error!(error = %e, org = %org, "role claim not released");
        }
    }
}
