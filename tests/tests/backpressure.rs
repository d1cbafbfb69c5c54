//! Per-destination backpressure (issue 12, item 1): while a destination
//! fails, the scheduler cuts no further windows for it, so the queue holds
//! about one job per destination however long the outage, another org's
//! export keeps its pace, and after recovery every event arrives once.
//! Real store and queue (DynamoDB Local, moto), real webhook receivers;
//! time is counted in scheduler ticks, not seconds.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use audit_domain::catalog::Action;
use audit_domain::export::RetryPolicy;
use audit_domain::time::Timestamp;
use audit_log_tests::receivers::Receiver;
use audit_log_tests::{event, OrgKeys, Stack};
use export::{ExportApp, ExportConfig};
use serde_json::{json, Value};

const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const FAILING: usize = 12;

async fn ingest(s: &Stack, o: &OrgKeys, prefix: &str, n: usize) -> BTreeSet<String> {
    let ids: Vec<String> = (0..n).map(|i| format!("{prefix}_{i:05}")).collect();
    let events: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| event(id, Action::ALL[i % Action::ALL.len()], false))
        .collect();
    let (status, body) = s.post(&o.ingest, &json!({ "events": events })).await;
    assert_eq!(status, 200, "{body}");
    ids.into_iter().collect()
}

async fn create_webhook(s: &Stack, o: &OrgKeys, name: &str, hook: &Receiver) -> String {
    let r = s
        .http
        .post(format!("{}/v1/destinations", s.base))
        .bearer_auth(&o.admin)
        .json(&json!({"name": name, "type": "webhook", "settings": {"url": hook.webhook_url()}, "secret": WEBHOOK_SECRET}))
        .send()
        .await
        .expect("POST destination");
    let status = r.status().as_u16();
    let body: Value = r.json().await.expect("json");
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().expect("id").to_string()
}

fn ours(ids: &[String], prefix: &str) -> BTreeSet<String> {
    ids.iter()
        .filter(|i| i.starts_with(prefix))
        .cloned()
        .collect()
}

/// One poll as `auditctl serve` and Lambda's event source mapping do it.
async fn poll(app: &ExportApp) {
    let messages = app.queue.receive(10, 1).await.expect("receive");
    let handles: Vec<(String, String)> = messages
        .iter()
        .map(|m| (m.message_id.clone(), m.receipt_handle.clone()))
        .collect();
    let kept = export::handle_jobs(app, messages).await;
    for (id, receipt) in handles {
        if !kept.contains(&id) {
            app.queue.delete(&receipt).await.expect("delete");
        }
    }
}

/// One scheduler tick, then the worker's polls until the next tick.
async fn round(app: &ExportApp) -> export::ScheduleReport {
    let report = export::schedule(app, Timestamp::now()).await;
    for _ in 0..3 {
        poll(app).await;
    }
    report
}

#[tokio::test]
async fn failing_destinations_hold_one_job_each_and_another_org_keeps_its_pace() {
    let s = Stack::start_isolated().await;
    let down = s.org_with_keys("down").await;
    let up = s.org_with_keys("up").await;
    let mut failing = Vec::new();
    for i in 0..FAILING {
        let hook = Receiver::webhook(WEBHOOK_SECRET).await;
        hook.fail_until(Instant::now() + std::time::Duration::from_secs(3600), 503);
        create_webhook(&s, &down, &format!("down{i}"), &hook).await;
        failing.push(hook);
    }
    let healthy = Receiver::webhook(WEBHOOK_SECRET).await;
    create_webhook(&s, &up, "up", &healthy).await;
    let destinations = (FAILING + 1) as u64;

    let app = s
        .exporter(ExportConfig {
            lag_ms: 0,
            // One window per tick covers a round (the tick catches up by
            // at most `max_window_ms` per tick).
            max_window_ms: 60_000,
            lease_ms: 30_000,
            retry: RetryPolicy {
                base_secs: 1,
                max_secs: 2,
                deadline_secs: 1800,
            },
            ..ExportConfig::default()
        })
        .await;

    // The outage: both orgs keep producing, one round (tick) at a time.
    const OUTAGE_ROUNDS: usize = 8;
    let mut down_ids = BTreeSet::new();
    let mut up_rounds: Vec<BTreeSet<String>> = Vec::new();
    let mut deepest = 0;
    let mut waiting = 0;
    for r in 0..OUTAGE_ROUNDS {
        down_ids.extend(ingest(&s, &down, &format!("evt_down_{r:02}"), 5).await);
        up_rounds.push(ingest(&s, &up, &format!("evt_up_{r:02}"), 3).await);
        let report = round(&app).await;
        waiting = waiting.max(report.waiting);
        let depth = app.queue.depth().await.expect("depth");
        deepest = deepest.max(depth);
        assert!(
            depth <= 2 * destinations,
            "round {r}: {depth} jobs queued for {destinations} destinations"
        );
        // Lag 0: a round's events are in the next tick's window at the
        // latest (this one's, unless the last window is still in flight).
        if r >= 1 {
            let arrived = ours(&healthy.accepted_ids(), "evt_up_");
            let due = &up_rounds[r - 1];
            assert!(
                due.is_subset(&arrived),
                "round {r}: the healthy org's events of round {} have not arrived",
                r - 1
            );
        }
    }
    assert!(
        waiting >= FAILING,
        "the failing destinations were held back: {waiting}"
    );
    for hook in &failing {
        assert!(ours(&hook.accepted_ids(), "evt_down").is_empty());
    }

    // Recovery: every event of the outage arrives, each once.
    for hook in &failing {
        hook.fail_until(Instant::now(), 503);
    }
    let mut windows_after = 0;
    let mut rounds = 0;
    while failing
        .iter()
        .any(|h| ours(&h.accepted_ids(), "evt_down") != down_ids)
    {
        rounds += 1;
        assert!(rounds <= 40, "the failing destinations never caught up");
        let report = round(&app).await;
        windows_after += report.windows;
        let depth = app.queue.depth().await.expect("depth");
        deepest = deepest.max(depth);
        assert!(
            depth <= 2 * destinations,
            "catching up: {depth} jobs queued"
        );
    }
    for (i, hook) in failing.iter().enumerate() {
        let all = hook.accepted_ids();
        let mut seen = BTreeMap::new();
        for id in &all {
            *seen.entry(id.clone()).or_insert(0) += 1;
        }
        let twice: Vec<_> = seen.iter().filter(|(_, &n)| n > 1).collect();
        assert!(
            twice.is_empty(),
            "destination {i}: delivered twice: {twice:?}"
        );
    }
    let healthy_ids = healthy.accepted_ids();
    let all_up: BTreeSet<String> = up_rounds.into_iter().flatten().collect();
    assert_eq!(ours(&healthy_ids, "evt_up_"), all_up);
    assert_eq!(
        healthy_ids.len(),
        healthy_ids.iter().collect::<BTreeSet<_>>().len(),
        "each event once"
    );
    assert_eq!(app.queue.dlq_depth().await.expect("dlq"), 0);
    eprintln!(
        "backpressure: deepest queue {deepest} for {destinations} destinations; caught up in {rounds} ticks, {windows_after} windows"
    );
}

/// A job lost on the way (here: received and deleted unprocessed) leaves
/// its lease behind: the destination waits, but only until the lease
/// expires; then the next window is cut from where the cursor stood.
#[tokio::test]
async fn a_lost_job_holds_its_destination_only_until_its_lease_expires() {
    let s = Stack::start_isolated().await;
    let o = s.org_with_keys("lost").await;
    let hook = Receiver::webhook(WEBHOOK_SECRET).await;
    let id = create_webhook(&s, &o, "lost", &hook).await;
    ingest(&s, &o, "evt_lost_a", 3).await;
    let lease_ms = 60_000;
    let app = s
        .exporter(ExportConfig {
            lag_ms: 0,
            max_window_ms: 3_600_000,
            lease_ms,
            ..ExportConfig::default()
        })
        .await;

    let first = export::schedule(&app, Timestamp::now()).await;
    assert_eq!((first.windows, first.waiting), (1, 0), "{first:?}");
    let lost = app.queue.receive(10, 1).await.expect("receive");
    assert_eq!(lost.len(), 1);
    app.queue
        .delete(&lost[0].receipt_handle)
        .await
        .expect("delete");
    let dest = app
        .store
        .get_destination::<Value>(&o.id, &id)
        .await
        .expect("get")
        .expect("exists");
    let lease = dest.status.lease.expect("the window is leased");
    assert_eq!(Some(lease.window_to), dest.cursor, "{lease:?}");

    ingest(&s, &o, "evt_lost_b", 3).await;
    let held = export::schedule(&app, Timestamp::now()).await;
    assert_eq!((held.windows, held.waiting), (0, 1), "{held:?}");
    assert_eq!(app.queue.depth().await.expect("depth"), 0);

    let later = Timestamp::now().plus_millis(lease_ms + 1_000);
    let resumed = export::schedule(&app, later).await;
    assert_eq!((resumed.windows, resumed.waiting), (1, 0), "{resumed:?}");
    let jobs = app.queue.receive(10, 1).await.expect("receive");
    assert_eq!(jobs.len(), 1);
    let job: audit_domain::export::ExportJob = serde_json::from_str(&jobs[0].body).expect("a job");
    assert_eq!(
        job.window.from, lease.window_to,
        "from where the cursor stood"
    );
}

/// Only the job a lease names releases it: a replay of an older window,
/// delivered while the current window is in flight, leaves it in place.
#[tokio::test]
async fn a_replay_does_not_release_the_current_windows_lease() {
    let s = Stack::start_isolated().await;
    let o = s.org_with_keys("replayed").await;
    let hook = Receiver::webhook(WEBHOOK_SECRET).await;
    let id = create_webhook(&s, &o, "r", &hook).await;
    ingest(&s, &o, "evt_replayed", 3).await;
    let app = s
        .exporter(ExportConfig {
            lag_ms: 0,
            max_window_ms: 3_600_000,
            ..ExportConfig::default()
        })
        .await;
    let before = Timestamp::now().plus_millis(-60_000);
    export::schedule(&app, Timestamp::now()).await;
    let current = app.queue.receive(10, 1).await.expect("receive");
    assert_eq!(current.len(), 1);
    let job = export::replay(
        &app,
        &o.id,
        &id,
        audit_domain::export::ExportWindow {
            from: before,
            to: Timestamp::now(),
        },
        Timestamp::now(),
    )
    .await
    .expect("replay");
    assert!(job.replay);
    // The replay is delivered; the current window's message stays hidden.
    let mut delivered = false;
    for _ in 0..5 {
        let got = app.queue.receive(10, 1).await.expect("receive");
        if got.is_empty() {
            continue;
        }
        let kept = export::handle_jobs(&app, got.clone()).await;
        assert!(kept.is_empty(), "{kept:?}");
        for m in &got {
            app.queue.delete(&m.receipt_handle).await.expect("delete");
        }
        delivered = true;
        break;
    }
    assert!(delivered, "the replay was received");
    assert!(!ours(&hook.accepted_ids(), "evt_replayed").is_empty());
    let dest = app
        .store
        .get_destination::<Value>(&o.id, &id)
        .await
        .expect("get")
        .expect("exists");
    assert!(dest.status.lease.is_some(), "the lease stays: {dest:?}");
    let held = export::schedule(&app, Timestamp::now()).await;
    assert_eq!(held.waiting, 1, "{held:?}");
}
