//! The scheduler tick: cut the next window of every enabled destination
//! that has none in flight (per-destination backpressure, `JobLease`).

use audit_aws::store::JobCounter;
use audit_destinations::DestinationSpec;
use audit_domain::time::Timestamp;
use {audit_domain::export::cut_window, audit_domain::export::ExportJob};

use crate::ExportApp;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScheduleReport {
    pub destinations: usize,
    pub windows: usize,
    /// Destinations skipped because their job is still in flight.
    pub waiting: usize,
    pub errors: usize,
    /// The export lag: the largest of the destinations' delivery lags
    /// (`Destination::delivery_lag_secs`), in seconds. `None` when the
    /// destinations could not be listed, so no value is reported rather than
    /// a healthy-looking 0.
    pub max_lag_secs: Option<i64>,
    /// The integrity sealing pass near the end of every tick.
    pub seal: crate::SealReport,
    /// Late arrivals settled after sealing.
    pub late: crate::LateReport,
}

/// Kept back at the end of a tick's invocation: its report and log line.
const TICK_MARGIN: std::time::Duration = std::time::Duration::from_secs(2);

/// One tick within the configured budgets from now (`auditctl serve` and
/// the tests; Lambda passes its invocation's deadline to `schedule_until`):
/// the deadline that leaves sealing its whole `seal_budget_ms`.
pub async fn schedule(app: &ExportApp, now: Timestamp) -> ScheduleReport {
    let budget = std::time::Duration::from_millis(app.config.seal_budget_ms);
    let deadline = std::time::Instant::now() + budget + crate::SETTLE_BUDGET + TICK_MARGIN;
    schedule_until(app, now, deadline).await
}

/// One tick that ends by `deadline` (the invocation's). For each
/// destination with no job in flight: one window, full size
/// (`max_window_ms`) when catching up; the worker releases its lease when
/// the window is delivered or dead-lettered. Then sealing, for at most
/// `seal_budget_ms` and until `SETTLE_BUDGET` + `TICK_MARGIN` before the
/// deadline; then settling late arrivals, until `TICK_MARGIN` before it.
pub async fn schedule_until(
    app: &ExportApp,
    now: Timestamp,
    deadline: std::time::Instant,
) -> ScheduleReport {
    let started = std::time::Instant::now();
    let settling = deadline.checked_sub(TICK_MARGIN).unwrap_or(started);
    let sealing = settling
        .checked_sub(crate::SETTLE_BUDGET)
        .unwrap_or(started)
        .min(started + std::time::Duration::from_millis(app.config.seal_budget_ms));
    let mut report = ScheduleReport::default();
    let destinations = match app.store.enabled_destinations::<DestinationSpec>().await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "listing destinations failed");
            report.errors += 1;
            return report;
        }
    };
    report.max_lag_secs = Some(0);
    for dest in destinations {
        report.destinations += 1;
        let Some(cursor) = dest.cursor.or(dest.enabled_at) else {
            continue;
        };
        let cursor = if dest.job_in_flight(now) {
            // Backpressure: its window is still on its way (retrying, or
            // in parts); the cursor waits, so a failing destination holds
            // one job on the queue, not one per tick.
            report.waiting += 1;
            cursor
        } else {
            cut_one(app, &dest, cursor, now, &mut report).await
        };
        let lag = dest.delivery_lag_secs(cursor, now);
        report.max_lag_secs = report.max_lag_secs.max(Some(lag));
    }
    tracing::info!(
        job = "schedule",
        destinations = report.destinations,
        windows = report.windows,
        waiting = report.waiting,
        errors = report.errors,
        export_lag_seconds = report.max_lag_secs.unwrap_or(-1),
        "scheduled"
    );
    report.seal = crate::seal_until(app, now, sealing).await;
    // After sealing, never during it: a late event's period is then either
    // sealed or untouched by this tick.
    report.late = crate::settle_late(app, now, settling).await;
    report
}

/// Cuts, sends and leases the destination's next window; returns the
/// cursor after it. Send first, then advance the cursor with its lease (a
/// crash in between re-sends a window, which delivery tolerates; the other
/// order could lose one).
async fn cut_one<S>(
    app: &ExportApp,
    dest: &audit_domain::export::Destination<S>,
    cursor: Timestamp,
    now: Timestamp,
    report: &mut ScheduleReport,
) -> Timestamp {
    let Some(window) = cut_window(cursor, now, app.config.lag_ms, app.config.max_window_ms) else {
        return cursor;
    };
    let job = ExportJob::new(dest.id.clone(), dest.org_id.clone(), window, now);
    if let Err(e) = app.queue.send(&job).await {
        tracing::error!(destination = %dest.id, error = %e, "sending export job failed");
        report.errors += 1;
        return cursor;
    }
    let until = now.plus_millis(app.config.lease_ms);
    match app
        .store
        .advance_cursor_leased(&dest.org_id, &dest.id, cursor, window.to, until)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            // Another scheduler advanced it, or the destination was
            // disabled meanwhile: the job sent is harmless (the worker
            // acks jobs of disabled destinations; S3 keys dedupe).
            tracing::warn!(destination = %dest.id, "cursor moved under us; skipping it this tick");
            return cursor;
        }
        Err(e) => {
            tracing::error!(destination = %dest.id, error = %e, "advancing cursor failed");
            report.errors += 1;
            return cursor;
        }
    }
    if let Err(e) = app
        .store
        .count_jobs(&dest.org_id, &dest.id, JobCounter::Pending, 1)
        .await
    {
        tracing::warn!(destination = %dest.id, error = %e, "counting pending job failed");
    }
    report.windows += 1;
    window.to
}
