//! Figure 6's sealing run in a process of its own, so its peak RSS is the
//! seal's alone: seals every closed period of the tables named by
//! `AUDIT_EVENTS_TABLE` / `AUDIT_CONTROL_TABLE` (prepared by
//! `audit-log-bench scale`) with `export::seal_until`, as the scheduler does
//! one day later, and prints one JSON line: digests, seconds, VmHWM.

use std::time::{Duration, Instant};

use audit_aws::store::{Store, Tables};
use audit_domain::time::Timestamp;
use audit_log_tests::Stack;

const DAY_MS: i64 = 86_400_000;

#[tokio::main]
async fn main() {
    let config = audit_aws::aws_config().await;
    let store = Store::new(aws_sdk_dynamodb::Client::new(&config), Tables::from_env());
    let sqs = aws_sdk_sqs::Client::new(&config);
    let tag = ulid::Ulid::new().to_string().to_lowercase();
    let (queue, dlq) = audit_aws::queue::ExportQueue::ensure_named(
        &sqs,
        &format!("seal-{tag}"),
        &format!("seal-{tag}-dlq"),
    )
    .await
    .expect("create queues");
    let stack = Stack {
        base: String::new(),
        queue: Some(audit_aws::queue::ExportQueue::new(sqs, queue, dlq)),
        store,
        secrets: audit_aws::secrets::SecretStore::from_env(&config),
        http: reqwest::Client::new(),
    };
    // Day-long periods, no per-org budget: the whole period in one pass.
    let app = stack
        .exporter(export::ExportConfig {
            seal_org_budget_ms: 3_600_000,
            seal_budget_ms: 3_600_000,
            ..audit_log_tests::sealing_config(DAY_MS)
        })
        .await;
    let before = audit_log_bench::coldstart::peak_rss_kib("self");
    let started = Instant::now();
    let report = export::seal_until(
        &app,
        Timestamp::now().plus_millis(DAY_MS + 1),
        Instant::now() + Duration::from_secs(3_600),
    )
    .await;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "digests": report.digests,
            "errors": report.errors,
            "deferred": report.deferred,
            "seconds": seconds,
            "vmhwm_kib_before": before,
            "vmhwm_kib": audit_log_bench::coldstart::peak_rss_kib("self"),
        })
    );
}
