//! One sealing run in a process of its own, so that its peak RSS is the
//! seal's alone (bench figure 6 and `tests/tests/seal_memory.rs`): over the
//! tables named by `AUDIT_EVENTS_TABLE` / `AUDIT_CONTROL_TABLE`, with
//! day-long periods and no export lag, runs sealing ticks
//! (`export::seal`, budgets from the usual `AUDIT_SEAL_*` variables) one
//! minute apart from one day after now, until a tick defers nothing, and
//! prints one JSON line: ticks, digests, errors, seconds spent sealing,
//! VmHWM before the first tick (the idle function) and after the last, and
//! the tick (from 1) at which each org's chain head first appeared.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use audit_aws::store::{Store, Tables};
use audit_domain::time::Timestamp;
use audit_log_tests::{peak_rss_kib, Stack};

const DAY_MS: i64 = 86_400_000;
/// Ticks before giving up (each defers at most its budget's work).
const MAX_TICKS: usize = 100;

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
    let app = stack
        .exporter(export::ExportConfig {
            lag_ms: 0,
            digest_period_ms: DAY_MS,
            ..export::ExportConfig::from_env()
        })
        .await;
    let orgs = app.store.integrity_orgs().await.expect("orgs to seal");
    let before = peak_rss_kib("self");
    let mut now = Timestamp::now().plus_millis(DAY_MS + 1);
    let (mut ticks, mut digests, mut errors, mut deferred) = (0, 0, 0, 0);
    let mut sealing = Duration::ZERO;
    let mut sealed_at: BTreeMap<String, usize> = BTreeMap::new();
    while ticks < MAX_TICKS {
        ticks += 1;
        let started = Instant::now();
        let report = export::seal(&app, now).await;
        sealing += started.elapsed();
        digests += report.digests;
        errors += report.errors;
        deferred = report.deferred;
        for org in &orgs {
            if sealed_at.contains_key(org.as_str()) {
                continue;
            }
            if app.store.digest_head(org).await.expect("head").is_some() {
                sealed_at.insert(org.to_string(), ticks);
            }
        }
        if deferred == 0 {
            break;
        }
        now = now.plus_millis(60_000);
    }
    println!(
        "{}",
        serde_json::json!({
            "ticks": ticks,
            "digests": digests,
            "errors": errors,
            "deferred": deferred,
            "seconds": sealing.as_secs_f64(),
            "vmhwm_kib_before": before,
            "vmhwm_kib": peak_rss_kib("self"),
            "sealed_at_tick": sealed_at,
        })
    );
}
