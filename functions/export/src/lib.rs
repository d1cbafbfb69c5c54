//! The export function. Two triggers, one binary:
//!
//! * the **scheduler** (EventBridge, every minute): for each enabled
//!   destination, cut the windows `(cursor, now − lag]` on `recorded_at`,
//!   send one job per window, then advance the cursor conditionally;
//! * the **worker** (SQS, partial batch responses): read a job's window,
//!   deliver it, and on failure retry with backoff, dead-letter after the
//!   deadline, or dead-letter at once when the failure is permanent;
//! * at the end of each scheduler tick, **sealing**: signed integrity
//!   digests of every closed period, per org (see `seal`).
//!
//! Both are plain async functions over typed inputs, so `auditctl serve` and
//! the tests run exactly what Lambda runs.

mod config;
mod event;
mod scheduler;
mod seal;
mod worker;

pub use config::ExportConfig;
pub use event::{handle_event, ExportEventError};
pub use scheduler::{schedule, ScheduleReport};
pub use seal::{seal, seal_until, SealReport};
pub use worker::{handle_jobs, process_job, JobOutcome};

use audit_aws::queue::ExportQueue;
use audit_aws::secrets::SecretStore;
use audit_aws::store::Store;
use audit_destinations::deliver::Deliverer;
use audit_destinations::DestinationSpec;

/// What the export function holds for its lifetime: clients built once.
pub struct ExportApp {
    pub store: Store,
    pub queue: ExportQueue,
    pub secrets: SecretStore,
    pub deliverer: Deliverer,
    pub config: ExportConfig,
}

/// Queues an explicit window for a destination, enabled or not: the only way
/// events from before `enabled_at` are ever sent.
pub async fn replay(
    app: &ExportApp,
    org: &audit_domain::ids::OrgId,
    destination_id: &str,
    window: audit_domain::export::ExportWindow,
    now: audit_domain::time::Timestamp,
) -> Result<audit_domain::export::ExportJob, String> {
    let dest = app
        .store
        .get_destination::<DestinationSpec>(org, destination_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("org {org} has no destination {destination_id}"))?;
    let mut job = audit_domain::export::ExportJob::new(dest.id, org.clone(), window, now);
    job.replay = true;
    app.queue.send(&job).await.map_err(|e| e.to_string())?;
    let _ = app
        .store
        .count_jobs(
            org,
            destination_id,
            audit_aws::store::JobCounter::Pending,
            1,
        )
        .await;
    Ok(job)
}
