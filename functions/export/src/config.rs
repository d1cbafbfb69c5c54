//! Export timing, from the environment. Tests shrink every duration so a
//! "30-minute" retry deadline plays out in seconds.

use std::time::Duration;

use audit_domain::export::RetryPolicy;

#[derive(Debug, Clone)]
pub struct ExportConfig {
    /// How long after `recorded_at` an event is considered settled enough to
    /// export (covers in-flight writes). `AUDIT_EXPORT_LAG_SECONDS`, default 60.
    pub lag_ms: i64,
    /// Longest window one job covers. `AUDIT_EXPORT_MAX_WINDOW_SECONDS`, default 300.
    pub max_window_ms: i64,
    /// Most windows one destination gets per scheduler tick (catching up).
    pub max_windows_per_tick: usize,
    /// Most events one job delivers before it continues in a follow-up job.
    pub max_events_per_job: usize,
    /// Most stored bytes one job reads before it continues in a follow-up
    /// job (`audit_domain::limits::EXPORT_JOB_MAX_BYTES`), bounding its memory.
    pub max_bytes_per_job: usize,
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
}

impl Default for ExportConfig {
    fn default() -> Self {
        ExportConfig {
            lag_ms: 60_000,
            max_window_ms: 300_000,
            max_windows_per_tick: 12,
            max_events_per_job: 5_000,
            max_bytes_per_job: audit_domain::limits::EXPORT_JOB_MAX_BYTES,
            retry: RetryPolicy::default(),
            digest_period_ms: audit_domain::integrity::DEFAULT_PERIOD_MS,
            invocation_budget: Duration::from_secs(120),
            settle_margin: Duration::from_secs(5),
            seal_budget_ms: 60_000,
            seal_org_budget_ms: 20_000,
        }
    }
}

impl ExportConfig {
    pub fn from_env() -> Self {
        let num = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u32>().ok());
        let d = ExportConfig::default();
        ExportConfig {
            lag_ms: num("AUDIT_EXPORT_LAG_SECONDS").map_or(d.lag_ms, |s| i64::from(s) * 1000),
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
            ..d
        }
    }
}
