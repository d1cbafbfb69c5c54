//! Export timing, from the environment. Tests shrink every duration so a
//! "30-minute" retry deadline plays out in seconds.

use std::time::Duration;

use audit_domain::export::RetryPolicy;

#[derive(Debug, Clone)]
pub struct ExportConfig {
    /// How long after `recorded_at` an event is considered settled enough to
    /// export (covers in-flight writes). `AUDIT_EXPORT_LAG_SECONDS`, default 60,
    /// never below `LAG_FLOOR_MS` from the environment.
    pub lag_ms: i64,
    /// Longest window one job covers. `AUDIT_EXPORT_MAX_WINDOW_SECONDS`, default 300.
    pub max_window_ms: i64,
    /// How long a window's lease (`JobLease`) holds past its last sign of
    /// life (sent, retried, continued) when the worker never releases it: a
    /// lost job blocks its destination at most this long.
    /// `AUDIT_EXPORT_LEASE_SECONDS`, default 1200 (above the queue's 900 s
    /// visibility timeout plus one invocation).
    pub lease_ms: i64,
    /// Most events one job delivers before it continues in a follow-up job.
    pub max_events_per_job: usize,
    /// Most stored bytes one job reads before it continues in a follow-up
    /// job (`audit_domain::limits::EXPORT_JOB_MAX_BYTES`), bounding its memory.
    pub max_bytes_per_job: usize,
    /// How long one message's job goes on with its window's next parts
    /// itself (reading each next page while the last one is sent) before it
    /// hands the rest to a new message: a long window does not hold one of
    /// the batch's places for longer, and other orgs' jobs get their turn.
    /// Default 10 s; zero hands on after every part.
    pub continue_for: Duration,
    /// Backoff and the retry deadline (`AUDIT_EXPORT_RETRY_BASE_SECONDS`,
    /// `AUDIT_EXPORT_RETRY_MAX_SECONDS`, `AUDIT_EXPORT_DEADLINE_SECONDS`,
    /// defaults 10 s, 300 s, 1800 s).
    pub retry: RetryPolicy,
    /// Length of an integrity digest period (`AUDIT_DIGEST_PERIOD_SECONDS`,
    /// default 3600). A period is sealed once it ended more than `lag_ms` ago.
    pub digest_period_ms: i64,
    /// The local poller's time per batch, as Lambda's function timeout is
    /// in AWS (where the invocation's own deadline is used instead).
    /// `AUDIT_EXPORT_INVOCATION_BUDGET_SECONDS`, default 120.
    pub invocation_budget: Duration,
    /// Time kept back at the end of an invocation to settle every message
    /// (queue a continuation, record the delivery, return unstarted jobs):
    /// no request is started that could still run inside it. Default 5 s.
    pub settle_margin: Duration,
    /// Longest one tick spends sealing, all orgs together
    /// (`AUDIT_SEAL_BUDGET_SECONDS`, default 60: the export function has
    /// 120 s, and the windows are cut first).
    pub seal_budget_ms: u64,
    /// Longest one org's sealing takes in a tick before it records where it
    /// stopped and yields to the next org (`AUDIT_SEAL_ORG_BUDGET_SECONDS`,
    /// default 20).
    pub seal_org_budget_ms: u64,
    /// The stage's Object Lock bucket that every checkpoint is published to
    /// (`AUDIT_CHECKPOINT_BUCKET`; unset or empty: none, as in tests that
    /// do not look at it).
    pub checkpoint_bucket: Option<String>,
}

/// The smallest export lag: the longest an ingest write can still land
/// after its `recorded_at` (the ingest function's 10 s timeout, writes
/// retried inside it, plus 5 s of margin) and the time `by_recorded`, an
/// eventually consistent index, takes to show it (15 s allowed). A window
/// cut closer to now could miss an event still being written; the
/// template's `ExportLagSeconds` has the same `MinValue`.
pub const LAG_FLOOR_MS: i64 = 30_000;

/// `ExportConfig::lease_ms` by default.
pub const DEFAULT_LEASE_MS: i64 = 1_200_000;

/// `lag_ms`, raised to `LAG_FLOOR_MS` with a log line if set below it.
pub fn lag_at_least_the_floor(lag_ms: i64) -> i64 {
    if lag_ms < LAG_FLOOR_MS {
        tracing::warn!(
            configured_lag_seconds = lag_ms / 1000,
            floor_seconds = LAG_FLOOR_MS / 1000,
            "AUDIT_EXPORT_LAG_SECONDS is below the floor that covers the longest write and index propagation; using the floor"
        );
        return LAG_FLOOR_MS;
    }
    lag_ms
}

impl Default for ExportConfig {
    fn default() -> Self {
        ExportConfig {
            lag_ms: 60_000,
            max_window_ms: 300_000,
            lease_ms: DEFAULT_LEASE_MS,
            max_events_per_job: 5_000,
            max_bytes_per_job: audit_domain::limits::EXPORT_JOB_MAX_BYTES,
            continue_for: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            digest_period_ms: audit_domain::integrity::DEFAULT_PERIOD_MS,
            invocation_budget: Duration::from_secs(120),
            settle_margin: Duration::from_secs(5),
            seal_budget_ms: 60_000,
            seal_org_budget_ms: 20_000,
            checkpoint_bucket: None,
        }
    }
}

impl ExportConfig {
    pub fn from_env() -> Self {
        let num = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u32>().ok());
        let d = ExportConfig::default();
        ExportConfig {
            lag_ms: lag_at_least_the_floor(
                num("AUDIT_EXPORT_LAG_SECONDS").map_or(d.lag_ms, |s| i64::from(s) * 1000),
            ),
            lease_ms: num("AUDIT_EXPORT_LEASE_SECONDS")
                .map_or(d.lease_ms, |s| i64::from(s.max(1)) * 1000),
            max_window_ms: num("AUDIT_EXPORT_MAX_WINDOW_SECONDS")
                .map_or(d.max_window_ms, |s| i64::from(s) * 1000),
            retry: RetryPolicy {
                base_secs: num("AUDIT_EXPORT_RETRY_BASE_SECONDS").unwrap_or(d.retry.base_secs),
                max_secs: num("AUDIT_EXPORT_RETRY_MAX_SECONDS").unwrap_or(d.retry.max_secs),
                deadline_secs: num("AUDIT_EXPORT_DEADLINE_SECONDS")
                    .unwrap_or(d.retry.deadline_secs),
            },
            digest_period_ms: audit_domain::integrity::period_ms_from_env(),
            invocation_budget: num("AUDIT_EXPORT_INVOCATION_BUDGET_SECONDS")
                .map_or(d.invocation_budget, |s| Duration::from_secs(u64::from(s))),
            seal_budget_ms: num("AUDIT_SEAL_BUDGET_SECONDS")
                .map_or(d.seal_budget_ms, |s| u64::from(s) * 1000),
            seal_org_budget_ms: num("AUDIT_SEAL_ORG_BUDGET_SECONDS")
                .map_or(d.seal_org_budget_ms, |s| u64::from(s) * 1000),
            checkpoint_bucket: std::env::var("AUDIT_CHECKPOINT_BUCKET")
                .ok()
                .filter(|b| !b.is_empty()),
            ..d
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lag_below_the_floor_is_raised_to_it() {
        assert_eq!(lag_at_least_the_floor(0), LAG_FLOOR_MS);
        assert_eq!(lag_at_least_the_floor(2_000), LAG_FLOOR_MS);
        assert_eq!(lag_at_least_the_floor(LAG_FLOOR_MS), LAG_FLOOR_MS);
        assert_eq!(lag_at_least_the_floor(60_000), 60_000);
    }

    #[test]
    fn the_default_lag_is_above_the_floor() {
        assert!(ExportConfig::default().lag_ms >= LAG_FLOOR_MS);
    }
}
