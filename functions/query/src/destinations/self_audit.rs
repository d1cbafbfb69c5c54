//! Every destination change goes in the org's own log (group `audit_log`),
//! so the log shows who changed where it goes. Recording is best effort:
//! the change itself has happened.

use audit_aws::access::Caller;
use audit_destinations::Destination;
use audit_domain::catalog::Action;
use serde_json::{Map, Value};

use crate::App;

/// Logs a change and records it in the org's log.
pub(super) async fn record_change(
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
    record(app, caller, action, d, metadata).await;
}

/// Records `action` on `d` by the caller (key or viewer) in the org's log.
pub(super) async fn record(
    app: &App,
    caller: &Caller,
    action: Action,
    d: &Destination,
    metadata: Map<String, Value>,
) {
    // A viewer token's user, or the calling key.
    let actor = crate::viewer::actor(caller);
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
