//! The worker: one job = one window (or one part of a large window) of one
//! destination, delivered at least once.
//!
//! Two bounds hold per invocation: the batch's jobs run in turn by org
//! (round-robin, `fair_order`), so one org's backlog cannot take all of
//! the concurrency; and nothing is started that could outlive the
//! invocation's deadline: a job cut short continues in a new message from
//! its first undelivered event, and a job not started goes back to the
//! queue at once.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use audit_aws::queue::JobMessage;
use audit_aws::store::{JobCounter, StoreError};
use audit_destinations::deliver::{Delivery, Within};
use audit_destinations::DestinationSpec;
use audit_domain::event::Event;
use audit_domain::export::{Disposition, ExportJob, ExportWindow, Outcome};
use audit_domain::ids::OrgId;
use audit_domain::time::Timestamp;
use futures::stream::{self, StreamExt};

use crate::reads::{HeldPage, PageKey};
use crate::ExportApp;

/// How a job ended, for the message's fate and the log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// Delivered (or nothing to deliver): delete the message.
    Done { events: usize, requests: u32 },
    /// Destination disabled, or the message unreadable: delete the
    /// message, deliver nothing.
    Skipped(&'static str),
    /// Transient failure: the message was hidden for `delay_secs` and will
    /// be retried.
    RetryAfter { delay_secs: u32, reason: String },
    /// Permanent failure or past the deadline: the job went to the DLQ.
    DeadLettered(String),
    /// Not started, too little of the invocation was left: the message is
    /// visible again at once, with no backoff and no failure recorded.
    Returned,
}

impl JobOutcome {
    /// Whether the message stays on the queue (a batch item failure).
    fn keeps_message(&self) -> bool {
        matches!(self, JobOutcome::RetryAfter { .. } | JobOutcome::Returned)
    }
}

/// Jobs handled at once within one SQS batch.
const JOB_CONCURRENCY: usize = 4;

/// The invocation deadline Lambda gives (`Context::deadline`, epoch
/// milliseconds) as an `Instant` on this process's clock; a deadline
/// already past is now.
pub fn deadline_from_epoch_millis(deadline_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    deadline_after(Instant::now(), now_ms, deadline_ms)
}

fn deadline_after(now: Instant, now_ms: u64, deadline_ms: u64) -> Instant {
    now + Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}

/// Handles a batch within the configured budget from now (the local
/// poller's fixed budget; Lambda passes its own deadline to
/// `handle_jobs_until`).
pub async fn handle_jobs(app: &ExportApp, messages: Vec<JobMessage>) -> Vec<String> {
    let deadline = Instant::now() + app.config.invocation_budget;
    handle_jobs_until(app, messages, deadline).await
}

/// Handles a batch before `deadline`; returns the message ids to keep on
/// the queue (retried later, or returned unstarted), as SQS partial batch
/// responses want them.
pub async fn handle_jobs_until(
    app: &ExportApp,
    messages: Vec<JobMessage>,
    deadline: Instant,
) -> Vec<String> {
    // Requests stop starting early enough to settle every message after.
    let stop_starting_at = deadline
        .checked_sub(app.config.settle_margin)
        .unwrap_or_else(Instant::now);
    stream::iter(fair_order(messages))
        .map(|(m, job)| async move {
            let outcome = handle_one(app, &m, job, stop_starting_at).await;
            outcome.keeps_message().then_some(m.message_id)
        })
        .buffer_unordered(JOB_CONCURRENCY)
        .filter_map(|kept| async move { kept })
        .collect()
        .await
}

/// The batch parsed, in turn by org: the first job of each org (in order of
/// first appearance), then the second of each, and so on. A message that
/// does not parse comes first, to be dropped at once.
fn fair_order(messages: Vec<JobMessage>) -> Vec<(JobMessage, Option<ExportJob>)> {
    let mut malformed = Vec::new();
    let mut first_seen: Vec<String> = Vec::new();
    let mut by_org: BTreeMap<String, VecDeque<(JobMessage, Option<ExportJob>)>> = BTreeMap::new();
    for m in messages {
        match serde_json::from_str::<ExportJob>(&m.body) {
            Ok(job) => {
                let org = job.org_id.to_string();
                if !by_org.contains_key(&org) {
                    first_seen.push(org.clone());
                }
                by_org.entry(org).or_default().push_back((m, Some(job)));
            }
            Err(_) => malformed.push((m, None)),
        }
    }
    let mut ordered = malformed;
    loop {
        let before = ordered.len();
        for org in &first_seen {
            if let Some(next) = by_org.get_mut(org).and_then(VecDeque::pop_front) {
                ordered.push(next);
            }
        }
        if ordered.len() == before {
            return ordered;
        }
    }
}

async fn handle_one(
    app: &ExportApp,
    m: &JobMessage,
    job: Option<ExportJob>,
    stop_starting_at: Instant,
) -> JobOutcome {
    let started = Instant::now();
    let Some(job) = job else {
        tracing::error!(job = "deliver", message_id = %m.message_id, outcome = "malformed", "export job");
        return JobOutcome::Skipped("malformed job message");
    };
    let now = Timestamp::now();
    let outcome = if started + app.deliverer.timeout() > stop_starting_at {
        return_unstarted(app, &job, m).await
    } else {
        process_job_within(app, &job, m, now, stop_starting_at).await
    };
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

/// A job there is no time to start: visible again at once (the message's
/// receive count is its only cost).
async fn return_unstarted(app: &ExportApp, job: &ExportJob, m: &JobMessage) -> JobOutcome {
    if let Err(e) = app.queue.retry_later(&m.receipt_handle, 0).await {
        tracing::warn!(destination = %job.destination_id, error = %e, "returning an unstarted job failed; SQS retries after the visibility timeout");
    }
    // Its lease was extended when it was sent or last retried, by far more
    // than the wait for a free place in a batch: no write here.
    JobOutcome::Returned
}

/// Runs one job with no deadline of its own (tests, tools).
pub async fn process_job(
    app: &ExportApp,
    job: &ExportJob,
    m: &JobMessage,
    now: Timestamp,
) -> JobOutcome {
    let far = Instant::now() + Duration::from_secs(86_400);
    process_job_within(app, job, m, now, far).await
}

/// Runs one job and settles its message: retry later, dead-letter, or done
/// (continuing in a new message from the first undelivered event when
/// `stop_starting_at` came first).
pub async fn process_job_within(
    app: &ExportApp,
    job: &ExportJob,
    m: &JobMessage,
    now: Timestamp,
    stop_starting_at: Instant,
) -> JobOutcome {
    let org = &job.org_id;
    let id = job.destination_id.as_str();
    // The first page does not depend on the destination (its filter is
    // applied after): it is read while the destination and its secret are.
    let (ready, first_page) = tokio::join!(
        destination_and_secret(app, job, m, now),
        read_page(app, org, &job.window, job.resume_after.as_deref()),
    );
    let (dest, secret) = match ready {
        Ok(ready) => ready,
        Err(outcome) => return outcome,
    };
    // A window goes on in parts of at most `max_events_per_job` events or
    // `max_bytes_per_job` stored bytes. This job delivers its part, and
    // while that is sent it reads the next page, which it then delivers
    // itself, for up to `continue_for`; then it hands the rest to a new
    // message. The org's other destinations cut the same window usually run
    // beside this job: one of them reads each page, the others take it.
    let started = Instant::now();
    let filter = &dest.spec.filter;
    let kind = dest.spec.settings.kind();
    // The part being delivered: exactly the job a new message would carry
    // for it (same part number, resuming after the last event delivered),
    // so its S3 object key and webhook ids are those of that message.
    let mut part = Cow::Borrowed(job);
    // The page read ahead for the next part: the first, then each next one
    // read while the last part was sent.
    let mut ahead: Result<HeldPage, StoreError> = first_page;
    // Events of the last part's held-back body, this destination's, sent
    // first in the next part (which reads on from the page's end).
    let mut carried: Vec<Event> = Vec::new();
    let (mut delivered, mut failed, mut requests) = (0usize, 0usize, 0u32);
    let end = loop {
        let held = match ahead {
            Ok(held) => held,
            // Only the first page can have failed: a next page that could
            // not be read ahead hands the rest on (below).
            Err(e) => {
                let reason = format!("reading the window failed: {e}");
                break End::Failed(Outcome::Transient(reason));
            }
        };
        let first_part = matches!(part, Cow::Borrowed(_));
        let page = &held.page;
        // The page is shared: borrowed whole, or the filter's part copied.
        let events: Cow<'_, [Event]> = if carried.is_empty() && filter.admits_all() {
            Cow::Borrowed(&page.events)
        } else {
            let mut events = std::mem::take(&mut carried);
            events.extend(
                page.events
                    .iter()
                    .filter(|e| filter.admits(e.action))
                    .cloned(),
            );
            Cow::Owned(events)
        };
        let more_follows = page.resume_after.is_some();
        let go_on = more_follows
            && started.elapsed() < app.config.continue_for
            && Instant::now() + app.deliverer.timeout() < stop_starting_at;
        let send = async {
            if events.is_empty() {
                return Delivery::new(Outcome::Delivered, 0, 0);
            }
            let within = Within {
                stop_starting_at,
                more_follows,
            };
            app.deliverer
                .deliver_within(&dest, secret.as_deref(), &part, &events, within)
                .await
        };
        let read_next = async {
            match (&page.resume_after, go_on) {
                (Some(after), true) => Some(read_page(app, org, &job.window, Some(after)).await),
                _ => None,
            }
        };
        let (delivery, next_page) = tokio::join!(send, read_next);
        requests = requests.saturating_add(delivery.requests);
        let cut_short = delivery.continues_after();
        if cut_short == Some(0) {
            // Nothing of this part was sent: it goes back as it is.
            break if first_part {
                End::Unstarted
            } else {
                End::HandOn(part, None)
            };
        }
        if !delivery.outcome.is_delivered() {
            failed = events.len();
            // A later part: the parts before it are delivered, and this one
            // becomes a message of its own, as it would have been had this
            // job stopped before it, and is retried from there.
            break if first_part {
                End::Failed(delivery.outcome)
            } else {
                End::HandOn(part, Some(delivery.outcome))
            };
        }
        let sent = cut_short.unwrap_or(events.len()).min(events.len());
        delivered += sent;
        // Out of time, or a last body held back: the rest continues after the
        // last event delivered (events are read and delivered in `rts`
        // order); otherwise after the page, when the window goes on.
        let resume_after = match cut_short {
            Some(n) => events
                .get(n.saturating_sub(1))
                .map(audit_aws::store::recorded_key),
            None => page.resume_after.clone(),
        };
        let Some(rts) = resume_after else {
            break End::Done;
        };
        let next = Cow::Owned(part.continued(rts, now));
        match next_page {
            Some(Ok(page)) if !delivery.out_of_time => {
                carried = events[sent..].to_vec();
                ahead = Ok(page);
                part = next;
            }
            not_read => {
                if let Some(Err(e)) = not_read {
                    tracing::warn!(destination = id, error = %e, "reading the window's next part failed; it goes on in a new message");
                }
                break End::HandOn(next, None);
            }
        }
    };
    // What this message delivered, once, whichever way it ended.
    if delivered + failed > 0 {
        audit_domain::metrics::delivery(kind, delivered, failed);
    }
    if delivered > 0 {
        if let Err(e) = app
            .store
            .record_delivery(org, id, delivered as u64, now)
            .await
        {
            tracing::warn!(destination = id, error = %e, "recording delivery failed");
        }
    }
    match end {
        End::Unstarted => return_unstarted(app, job, m).await,
        End::Failed(outcome) => retry(app, job, m, now, outcome).await,
        End::HandOn(next, failure) => {
            if let Some(Outcome::Transient(reason) | Outcome::Permanent(reason)) = &failure {
                record_failure(app, job, reason, now).await;
            }
            hand_on(app, job, m, now, &next, delivered, requests).await
        }
        End::Done => {
            release_lease(app, job).await;
            settle_pending(app, job).await;
            JobOutcome::Done {
                events: delivered,
                requests,
            }
        }
    }
}

/// How the loop over a message's parts ended.
enum End<'a> {
    /// Nothing of the first part was sent: the message goes back as it is.
    Unstarted,
    /// The first part failed: the message is retried or dead-lettered.
    Failed(Outcome),
    /// The rest of the window, from this part, goes on in a new message
    /// (after a later part's failure, which is recorded).
    HandOn(Cow<'a, ExportJob>, Option<Outcome>),
    /// The window is delivered.
    Done,
}

/// The job's destination and its secret, or how the job ended without them
/// (deleted, disabled, or a failed read, retried or dead-lettered).
async fn destination_and_secret(
    app: &ExportApp,
    job: &ExportJob,
    m: &JobMessage,
    now: Timestamp,
) -> Result<(audit_destinations::Destination, Option<String>), JobOutcome> {
    let (org, id) = (&job.org_id, job.destination_id.as_str());
    let dest = match app.store.get_destination::<DestinationSpec>(org, id).await {
        Ok(Some(d)) => d,
        // Its status went with it, so there is nowhere to show a reason:
        // dropped with the log line `handle_one` writes.
        Ok(None) => return Err(JobOutcome::Skipped("destination deleted")),
        Err(e) => {
            let reason = format!("reading the destination failed: {e}");
            return Err(retry(app, job, m, now, Outcome::Transient(reason)).await);
        }
    };
    if !dest.enabled && !job.replay {
        release_lease(app, job).await;
        settle_pending(app, job).await;
        return Err(JobOutcome::Skipped("destination disabled"));
    }
    let secret = match &dest.secret_ref {
        None => None,
        Some(name) => match app.secrets.get(name).await {
            Ok(s) => Some(s),
            Err(e) if e.is_configuration() => {
                let reason = format!(
                    "reading the destination's secret failed: {e}; set a new secret, then redrive"
                );
                return Err(retry(app, job, m, now, Outcome::Permanent(reason)).await);
            }
            Err(e) => {
                let reason = format!("reading the destination's secret failed: {e}");
                return Err(retry(app, job, m, now, Outcome::Transient(reason)).await);
            }
        },
    };
    Ok((dest, secret))
}

/// The page of `window` after `resume_after`: another running job's, or
/// read now.
async fn read_page(
    app: &ExportApp,
    org: &OrgId,
    window: &ExportWindow,
    resume_after: Option<&str>,
) -> Result<HeldPage, StoreError> {
    let (max_events, max_bytes) = (app.config.max_events_per_job, app.config.max_bytes_per_job);
    let key = PageKey::new(org, window, resume_after);
    app.reads
        .page(key, || {
            app.store
                .window_events_within(org, window, resume_after, max_events, max_bytes)
        })
        .await
}

/// This message is done, and `next`, the rest of the window, goes on in a
/// message of its own; `job`'s lease holds for it.
async fn hand_on(
    app: &ExportApp,
    job: &ExportJob,
    m: &JobMessage,
    now: Timestamp,
    next: &ExportJob,
    events: usize,
    requests: u32,
) -> JobOutcome {
    if let Err(e) = app.queue.send(next).await {
        let reason = format!("queueing the rest of the window failed: {e}");
        return retry(app, job, m, now, Outcome::Transient(reason)).await;
    }
    let (org, id) = (&job.org_id, job.destination_id.as_str());
    let _ = app.store.count_jobs(org, id, JobCounter::Pending, 1).await;
    extend_lease(app, job, now, 0).await;
    settle_pending(app, job).await;
    JobOutcome::Done { events, requests }
}

async fn record_failure(app: &ExportApp, job: &ExportJob, reason: &str, now: Timestamp) {
    let (org, id) = (&job.org_id, job.destination_id.as_str());
    if let Err(e) = app.store.record_failure(org, id, reason, now).await {
        tracing::warn!(destination = id, error = %e, "recording failure failed");
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
    record_failure(app, job, shown, now).await;
    match disposition {
        Disposition::RetryAfter(delay_secs) => {
            if let Err(e) = app.queue.retry_later(&m.receipt_handle, delay_secs).await {
                tracing::warn!(destination = id, error = %e, "changing visibility failed; SQS retries after the visibility timeout");
            }
            extend_lease(app, job, now, delay_secs).await;
            JobOutcome::RetryAfter { delay_secs, reason }
        }
        Disposition::DeadLetter(why) => match app
            .queue
            .send_to_dlq(&dead(app, job, &why, now).await, &why)
            .await
        {
            Ok(()) => {
                let _ = app.store.count_jobs(org, id, JobCounter::Dead, 1).await;
                // The window waits in the DLQ for a redrive; the destination
                // goes on with its next window (at the backoff's pace while
                // it keeps failing), so nothing is skipped unrecorded.
                release_lease(app, job).await;
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

/// The copy of `job` for the DLQ, naming the org's own record of it
/// (written first, so an admin can redrive it from the API). Without the
/// record (its write failed), only an operator's redrive reaches it.
async fn dead(app: &ExportApp, job: &ExportJob, why: &str, now: Timestamp) -> ExportJob {
    let mut dead = job.clone();
    match app.store.put_dead_job(job, why, now).await {
        Ok(key) => dead.dead_key = Some(key),
        Err(e) => {
            tracing::warn!(destination = %job.destination_id, error = %e, "recording the dead job for its org failed; only an operator's redrive reaches it");
        }
    }
    dead
}

/// The job is still on its way (retried after `delay_secs`, or continued): its window's lease holds `lease_ms` past that.
/// Replays hold no lease.
async fn extend_lease(app: &ExportApp, job: &ExportJob, now: Timestamp, delay_secs: u32) {
    if job.replay {
        return;
    }
    let until = now.plus_millis(i64::from(delay_secs) * 1000 + app.config.lease_ms);
    if let Err(e) = app
        .store
        .extend_lease(&job.org_id, &job.destination_id, job.window.to, until)
        .await
    {
        tracing::warn!(destination = %job.destination_id, error = %e, "extending the window's lease failed; it expires on its own");
    }
}

/// The window is delivered or dead-lettered: the next tick may cut the
/// destination's next one. A job that no longer holds the lease (a
/// redriven one) leaves it alone.
async fn release_lease(app: &ExportApp, job: &ExportJob) {
    if job.replay {
        return;
    }
    if let Err(e) = app
        .store
        .release_lease(&job.org_id, &job.destination_id, job.window.to)
        .await
    {
        tracing::warn!(destination = %job.destination_id, error = %e, "releasing the window's lease failed; it expires on its own");
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

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str, org: &str) -> JobMessage {
        let job = ExportJob::new(
            format!("dst_{id}"),
            audit_domain::ids::OrgId::parse(org).unwrap(),
            audit_domain::export::ExportWindow {
                from: Timestamp::from_millis(0).unwrap(),
                to: Timestamp::from_millis(1).unwrap(),
            },
            Timestamp::from_millis(1).unwrap(),
        );
        JobMessage::from_attributes(
            id.into(),
            format!("rh_{id}"),
            serde_json::to_string(&job).unwrap(),
            Some("1"),
            None,
        )
    }

    fn order(messages: Vec<JobMessage>) -> Vec<String> {
        fair_order(messages)
            .into_iter()
            .map(|(m, _)| m.message_id)
            .collect()
    }

    #[test]
    fn one_orgs_backlog_takes_turns_with_the_other_orgs() {
        let mut batch: Vec<_> = (0..8).map(|i| message(&format!("a{i}"), "busy")).collect();
        batch.push(message("b0", "calm"));
        batch.push(message("c0", "other"));
        let ordered = order(batch);
        assert_eq!(&ordered[..4], ["a0", "b0", "c0", "a1"]);
        assert_eq!(ordered.len(), 10);
    }

    #[test]
    fn a_malformed_message_comes_first_and_none_is_lost() {
        let mut bad = message("x", "busy");
        bad.body = "not json".into();
        let ordered = order(vec![message("a0", "busy"), bad, message("a1", "busy")]);
        assert_eq!(ordered, ["x", "a0", "a1"]);
    }

    #[test]
    fn the_lambda_deadline_becomes_an_instant_that_far_ahead() {
        let now = Instant::now();
        let at = deadline_after(now, 1_000_000, 1_120_000);
        assert_eq!(at - now, Duration::from_secs(120));
        assert_eq!(deadline_after(now, 1_000_000, 999_000), now, "past is now");
        let live = deadline_from_epoch_millis(0);
        assert!(live <= Instant::now());
    }
}
