//! The worker: one job = one window (or one part of a large window) of one
//! destination, delivered at least once.

use audit_destinations::DestinationSpec;
use std::time::Instant;

use audit_aws::queue::JobMessage;
use audit_aws::store::JobCounter;
use audit_domain::time::Timestamp;
use futures::stream::{self, StreamExt};
use {
    audit_domain::export::Disposition, audit_domain::export::ExportJob,
    audit_domain::export::Outcome,
};

use crate::ExportApp;

/// How a job ended, for the message's fate and the log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// Delivered (or nothing to deliver): delete the message.
    Done { events: usize, requests: u32 },
    /// Destination deleted or disabled: delete the message, deliver nothing.
    Skipped(&'static str),
    /// Transient failure: the message was hidden for `delay_secs` and will
    /// be retried.
    RetryAfter { delay_secs: u32, reason: String },
    /// Permanent failure or past the deadline: the job went to the DLQ.
    DeadLettered(String),
}

/// Jobs handled at once within one SQS batch.
const JOB_CONCURRENCY: usize = 4;

/// Handles a batch; returns the message ids that failed (to be retried),
/// as SQS partial batch responses want them.
pub async fn handle_jobs(app: &ExportApp, messages: Vec<JobMessage>) -> Vec<String> {
    stream::iter(messages)
        .map(|m| async move {
            let outcome = handle_one(app, &m).await;
            matches!(outcome, JobOutcome::RetryAfter { .. }).then_some(m.message_id)
        })
        .buffer_unordered(JOB_CONCURRENCY)
        .filter_map(|failed| async move { failed })
        .collect()
        .await
}

async fn handle_one(app: &ExportApp, m: &JobMessage) -> JobOutcome {
    let started = Instant::now();
    let job: ExportJob = match serde_json::from_str(&m.body) {
        Ok(j) => j,
        Err(e) => {
            tracing::error!(job = "deliver", message_id = %m.message_id, error = %e, outcome = "malformed", "export job");
            return JobOutcome::Skipped("malformed job message");
        }
    };
    let now = Timestamp::now();
    let outcome = process_job(app, &job, m, now).await;
    let (events, requests) = match &outcome {
        JobOutcome::Done { events, requests } => (*events, *requests),
        _ => (0, 0),
    };
    tracing::info!(
        job = "deliver",
        destination = %job.destination_id,
        org = %job.org_id,
        window = %job.window,
        part = job.part,
        replay = job.replay,
        attempt = m.receive_count,
        events,
        requests,
        outcome = ?outcome,
        duration_ms = started.elapsed().as_millis() as u64,
        "export job"
    );
    outcome
}

/// Runs one job and settles its message: retry later, dead-letter, or done.
pub async fn process_job(
    app: &ExportApp,
    job: &ExportJob,
    m: &JobMessage,
    now: Timestamp,
) -> JobOutcome {
    let org = &job.org_id;
    let id = job.destination_id.as_str();
    let dest = match app.store.get_destination::<DestinationSpec>(org, id).await {
        Ok(Some(d)) => d,
        Ok(None) => return JobOutcome::Skipped("destination deleted"),
        Err(e) => {
            return retry(
                app,
                job,
                m,
                now,
                Outcome::Transient(format!("reading the destination failed: {e}")),
            )
            .await
        }
    };
    if !dest.enabled && !job.replay {
        settle_pending(app, job).await;
        return JobOutcome::Skipped("destination disabled");
    }
    let secret = match &dest.secret_ref {
        None => None,
        Some(name) => match app.secrets.get(name).await {
            Ok(s) => Some(s),
            Err(e) => {
                return retry(
                    app,
                    job,
                    m,
                    now,
                    Outcome::Transient(format!("reading the destination's secret failed: {e}")),
                )
                .await
            }
        },
    };
    let page = match app
        .store
        .window_events_within(
            org,
            &job.window,
            job.resume_after.as_deref(),
            app.config.max_events_per_job,
            app.config.max_bytes_per_job,
        )
        .await
    {
        Ok(p) => p,
        Err(e) => {
            return retry(
                app,
                job,
                m,
                now,
                Outcome::Transient(format!("reading the window failed: {e}")),
            )
            .await
        }
    };
    let events: Vec<_> = page
        .events
        .into_iter()
        .filter(|e| dest.spec.filter.admits(e.action))
        .collect();
    let (outcome, requests) = if events.is_empty() {
        (Outcome::Delivered, 0)
    } else {
        let delivery = app
            .deliverer
            .deliver(&dest, secret.as_deref(), job, &events)
            .await;
        (delivery.outcome, delivery.requests)
    };
    let delivered = matches!(outcome, Outcome::Delivered);
    audit_domain::metrics::delivery(
        dest.spec.settings.kind(),
        if delivered { events.len() } else { 0 },
        if delivered { 0 } else { events.len() },
    );
    match outcome {
        Outcome::Delivered => {
            if let Some(rts) = page.resume_after {
                // The window goes on: the next part is its own job.
                let next = job.continued(rts, now);
                if let Err(e) = app.queue.send(&next).await {
                    return retry(
                        app,
                        job,
                        m,
                        now,
                        Outcome::Transient(format!("queueing the rest of the window failed: {e}")),
                    )
                    .await;
                }
                let _ = app.store.count_jobs(org, id, JobCounter::Pending, 1).await;
            }
            if !events.is_empty() {
                if let Err(e) = app
                    .store
                    .record_delivery(org, id, events.len() as u64, now)
                    .await
                {
                    tracing::warn!(destination = id, error = %e, "recording delivery failed");
                }
            }
            settle_pending(app, job).await;
            JobOutcome::Done {
                events: events.len(),
                requests,
            }
        }
        failed => retry(app, job, m, now, failed).await,
    }
}

/// A failed attempt: record why, then back off or dead-letter per policy.
async fn retry(
    app: &ExportApp,
    job: &ExportJob,
    m: &JobMessage,
    now: Timestamp,
    outcome: Outcome,
) -> JobOutcome {
    let reason = match &outcome {
        Outcome::Transient(r) | Outcome::Permanent(r) => r.clone(),
        Outcome::Delivered => String::new(),
    };
    let org = &job.org_id;
    let id = job.destination_id.as_str();
    let first = m
        .first_received_at
        .map_or(job.first_attempt_at, |t| t.max(job.first_attempt_at));
    let disposition = app
        .config
        .retry
        .decide(&outcome, m.receive_count, first, now);
    let shown = match &disposition {
        Disposition::DeadLetter(why) => why.as_str(),
        _ => reason.as_str(),
    };
    if let Err(e) = app.store.record_failure(org, id, shown, now).await {
        tracing::warn!(destination = id, error = %e, "recording failure failed");
    }
    match disposition {
        Disposition::RetryAfter(delay_secs) => {
            if let Err(e) = app.queue.retry_later(&m.receipt_handle, delay_secs).await {
                tracing::warn!(destination = id, error = %e, "changing visibility failed; SQS retries after the visibility timeout");
            }
            JobOutcome::RetryAfter { delay_secs, reason }
        }
        Disposition::DeadLetter(why) => match app.queue.send_to_dlq(job, &why).await {
            Ok(()) => {
                let _ = app.store.count_jobs(org, id, JobCounter::Dead, 1).await;
                settle_pending(app, job).await;
                JobOutcome::DeadLettered(why)
            }
            Err(e) => {
                // Could not dead-letter: keep the message; the queue's own
                // redrive policy is the backstop.
                tracing::error!(destination = id, error = %e, "dead-lettering failed");
                JobOutcome::RetryAfter {
                    delay_secs: app.config.retry.base_secs,
                    reason: why,
                }
            }
        },
        Disposition::Done => JobOutcome::Done {
            events: 0,
            requests: 0,
        },
    }
}

async fn settle_pending(app: &ExportApp, job: &ExportJob) {
    if let Err(e) = app
        .store
        .count_jobs(&job.org_id, &job.destination_id, JobCounter::Pending, -1)
        .await
    {
        tracing::warn!(destination = %job.destination_id, error = %e, "counting finished job failed");
    }
}
