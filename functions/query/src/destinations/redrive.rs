//! `POST /v1/destinations/{id}/redrive`: sends this destination's
//! dead-lettered jobs again, from the org's own records of them (the DLQ is
//! shared by every org, so it is never received from here). Each record is
//! taken before its job is sent, so an operator's redrive of the same job
//! finds it gone and drops the DLQ's copy unsent. Recorded in the org's log.

use audit_aws::access::Caller;
use audit_aws::store::JobCounter;
use audit_destinations::Destination;
use audit_domain::catalog::Action;
use audit_domain::time::Timestamp;
use serde_json::Map;

use super::self_audit;
use super::DestinationError;
use crate::App;

/// Most jobs one request sends again (the rest wait for the next request;
/// the answer says how many are left).
pub const MAX_REDRIVE_JOBS: usize = 100;

/// What a redrive did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Redrive {
    pub jobs: usize,
    /// Dead jobs found beyond `MAX_REDRIVE_JOBS`, left for the next request.
    pub more: bool,
}

pub(super) async fn redrive(
    app: &App,
    caller: &Caller,
    d: &Destination,
) -> Result<Redrive, DestinationError> {
    let queue = app
        .export_queue
        .as_ref()
        .ok_or(DestinationError::NoExportQueue)?;
    let dead = app
        .store
        .dead_jobs(&d.org_id, &d.id, MAX_REDRIVE_JOBS + 1)
        .await?;
    let more = dead.len() > MAX_REDRIVE_JOBS;
    let now = Timestamp::now();
    let mut jobs = 0;
    for record in dead.into_iter().take(MAX_REDRIVE_JOBS) {
        // Taken by an operator's redrive meanwhile: already sent.
        if !app
            .store
            .take_dead_job(&d.org_id, &d.id, &record.key)
            .await?
        {
            continue;
        }
        let again = record.job.redriven(now);
        if let Err(e) = queue.send(&again).await {
            // Put the record back, so the job is not lost to either path.
            if let Err(back) = app
                .store
                .put_dead_job(&record.job, &record.reason, record.dead_at)
                .await
            {
                tracing::error!(destination_id = %d.id, error = %back, "putting a dead job's record back failed; the DLQ still holds it for an operator");
            }
            return Err(e.into());
        }
        for (counter, delta) in [(JobCounter::Dead, -1), (JobCounter::Pending, 1)] {
            if let Err(e) = app.store.count_jobs(&d.org_id, &d.id, counter, delta).await {
                tracing::warn!(error = %e, destination_id = %d.id, "counting the redriven job failed");
            }
        }
        jobs += 1;
    }
    if jobs > 0 {
        let mut metadata = Map::new();
        metadata.insert("destination_type".into(), d.spec.settings.kind().into());
        metadata.insert("jobs".into(), jobs.to_string().into());
        self_audit::record(app, caller, Action::ExportRedriveRequested, d, metadata).await;
    }
    Ok(Redrive { jobs, more })
}
