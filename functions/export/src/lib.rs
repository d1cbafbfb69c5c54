//! The export functions, one crate, three binaries (three Lambda functions):
//!
//! * the **scheduler** (`bin/scheduler.rs`, EventBridge, every minute, one
//!   instance at a time): for each enabled
//!   destination, cut the windows `(cursor, now − lag]` on `recorded_at`,
//!   send one job per window, then advance the cursor conditionally;
//! * the **worker** (`main.rs`, SQS, partial batch responses): read a job's window,
//!   deliver it, and on failure retry with backoff, dead-letter after the
//!   deadline, or dead-letter at once when the failure is permanent;
//! * at the end of each scheduler tick, **sealing**: signed integrity
//!   digests of every closed period, per org (see `seal`), then the
//!   settling of late arrivals;
//! * the **arrivals** consumer (`bin/arrivals.rs`, the events table's
//!   stream): marks writes that landed late (see `arrivals`).
//!
//! Both are plain async functions over typed inputs, so `auditctl serve` and
//! the tests run exactly what Lambda runs.

mod arrivals;
mod config;
mod event;
mod reads;
mod scheduler;
mod seal;
mod tree;
mod worker;

pub use arrivals::{
    handle_stream_event, late_after_ms, record_arrivals, settle_late, Arrival, ArrivalsReport,
    LateReport, MAX_MARKS_PER_TICK, SETTLE_BUDGET,
};
pub use config::{lag_at_least_the_floor, ExportConfig, DEFAULT_LEASE_MS, LAG_FLOOR_MS};
pub use event::{
    handle_jobs_event, handle_jobs_event_until, handle_tick_event, handle_tick_event_until,
    ExportEventError,
};
pub use reads::SharedReads;
pub use scheduler::{schedule, schedule_until, ScheduleReport};
pub use seal::{seal, seal_until, SealReport};
pub use worker::{
    deadline_from_epoch_millis, handle_jobs, handle_jobs_until, process_job, process_job_within,
    JobOutcome,
};

use audit_aws::queue::ExportQueue;
use audit_aws::secrets::SecretStore;
use audit_aws::store::Store;
use audit_destinations::deliver::Deliverer;
use audit_destinations::DestinationSpec;

/// What the export functions hold for their lifetime: clients built once.
pub struct ExportApp {
    pub store: Store,
    pub queue: ExportQueue,
    pub secrets: SecretStore,
    pub deliverer: Deliverer,
    pub config: ExportConfig,
    /// The window pages running jobs hold, shared by jobs that want the
    /// same one (`reads`).
    pub reads: SharedReads,
}

/// Time a delivery request may take (a job's, or a digest file's).
pub const DELIVERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl ExportApp {
    /// The app as both Lambda binaries build it, from the environment.
    pub async fn from_env() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let config = audit_aws::aws_config().await;
        Ok(ExportApp {
            store: Store::from_env(aws_sdk_dynamodb::Client::new(&config))?,
            queue: ExportQueue::from_env(aws_sdk_sqs::Client::new(&config)).await?,
            secrets: SecretStore::from_env(&config),
            deliverer: Deliverer::new(
                &config,
                DELIVERY_TIMEOUT,
                audit_destinations::UrlPolicy::from_env(),
            ),
            config: ExportConfig::from_env(),
            reads: SharedReads::default(),
        })
    }
}

/// An operator's redrive (`auditctl export redrive`): the DLQ's jobs back
/// on the queue, optionally one destination's, each taking its org's
/// record first; a job whose record an org's admin already took (redriven
/// from the API) is dropped from the DLQ unsent. A job dead-lettered before
/// the records existed has none and is sent.
pub async fn redrive_dlq(
    app: &ExportApp,
    destination: Option<&str>,
    now: audit_domain::time::Timestamp,
) -> Result<audit_aws::queue::Redriven, String> {
    use audit_aws::queue::Claim;
    let store = &app.store;
    app.queue
        .redrive_with(destination, now, |job| async move {
            let Some(key) = job.dead_key.as_deref() else {
                return Claim::Send;
            };
            match store
                .take_dead_job(&job.org_id, &job.destination_id, key)
                .await
            {
                Ok(true) => Claim::Send,
                Ok(false) => Claim::Drop,
                Err(e) => {
                    tracing::warn!(destination = %job.destination_id, error = %e, "taking a dead job's record failed; left in the DLQ");
                    Claim::Leave
                }
            }
        })
        .await
        .map_err(|e| e.to_string())
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
    replay_to(app, &dest, window, now).await
}

/// `replay` for a destination already read.
pub(crate) async fn replay_to<S>(
    app: &ExportApp,
    dest: &audit_domain::export::Destination<S>,
    window: audit_domain::export::ExportWindow,
    now: audit_domain::time::Timestamp,
) -> Result<audit_domain::export::ExportJob, String> {
    let mut job =
        audit_domain::export::ExportJob::new(dest.id.clone(), dest.org_id.clone(), window, now);
    job.replay = true;
    app.queue.send(&job).await.map_err(|e| e.to_string())?;
    let _ = app
        .store
        .count_jobs(
            &dest.org_id,
            &dest.id,
            audit_aws::store::JobCounter::Pending,
            1,
        )
        .await;
    Ok(job)
}
