//! `POST /v1/destinations/{id}/replay` `{"from", "to"}`: queues the explicit
//! past window (recorded_at in (from, to]) for this destination, the only way
//! events from before `enabled_at` are ever sent. Recorded in the org's log.

use audit_aws::access::Caller;
use audit_destinations::Destination;
use audit_domain::catalog::Action;
use audit_domain::export::{ExportJob, ExportWindow};
use audit_domain::problem::FieldError;
use audit_domain::time::Timestamp;
use serde_json::{Map, Value};

use super::input::{json_object, unknown_fields_of};
use super::self_audit;
use super::DestinationError;
use crate::App;

/// The job queued for the window the body names.
pub(super) async fn replay(
    app: &App,
    caller: &Caller,
    d: &Destination,
    body: &[u8],
) -> Result<ExportJob, DestinationError> {
    let fields = json_object(body).map_err(DestinationError::Body)?;
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
        return Err(DestinationError::Invalid(errors));
    };
    let queue = app
        .export_queue
        .as_ref()
        .ok_or(DestinationError::NoExportQueue)?;
    let window = ExportWindow { from, to };
    let mut job = ExportJob::new(d.id.clone(), d.org_id.clone(), window, now);
    job.replay = true;
    queue.send(&job).await?;
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
    self_audit::record(app, caller, Action::ExportReplayRequested, d, metadata).await;
    Ok(job)
}
