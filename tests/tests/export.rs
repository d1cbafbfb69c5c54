//! Export end to end: destinations created through the API, the scheduler
//! cutting windows, the worker delivering them to receivers that check the
//! wire contracts, retries, the DLQ and redrive, replay, and filters. Each
//! test has its own tables and queues; time scales are shrunk so a
//! "30-minute" deadline plays out in seconds.

use audit_destinations::DestinationSpec;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use audit_domain::auth::Role;
use audit_domain::catalog::{Action, Group};
use audit_domain::export::RetryPolicy;
use audit_domain::time::Timestamp;
use audit_log_tests::receivers::Receiver;
use audit_log_tests::{event, Stack};
use export::{ExportApp, ExportConfig};
use flate2::read::GzDecoder;
use serde_json::{json, Value};

const DD_KEY: &str = "dd-api-key-0123456789abcdef";
const HEC_TOKEN: &str = "11111111-2222-3333-4444-555555555555";
const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn fast(deadline_secs: u32) -> ExportConfig {
    ExportConfig {
        lag_ms: 0,
        max_window_ms: 3_600_000,
        retry: RetryPolicy {
            base_secs: 1,
            max_secs: 1,
            deadline_secs,
        },
        ..ExportConfig::default()
    }
}

type Org = audit_log_tests::OrgKeys;

async fn org(s: &Stack) -> Org {
    s.org_with_keys("export").await
}

/// Ingests `n` events (ids `<prefix>_<i>`, actions cycling through the
/// catalog) and returns their ids.
async fn ingest(s: &Stack, o: &Org, prefix: &str, n: usize, actions: &[Action]) -> Vec<String> {
    let ids: Vec<String> = (0..n).map(|i| format!("{prefix}_{i:05}")).collect();
    for chunk in ids.chunks(100) {
        let events: Vec<Value> = chunk
            .iter()
            .enumerate()
            .map(|(i, id)| event(id, actions[i % actions.len()], i % 3 == 0))
            .collect();
        let (status, body) = s.post(&o.ingest, &json!({ "events": events })).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["summary"]["created"].as_u64(),
            Some(chunk.len() as u64),
            "{body}"
        );
    }
    ids
}

async fn create(s: &Stack, o: &Org, body: Value) -> String {
    let r = s
        .http
        .post(format!("{}/v1/destinations", s.base))
        .bearer_auth(&o.admin)
        .json(&body)
        .send()
        .await
        .expect("POST destination");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    assert_eq!(status, 201, "{text}");
    for secret in [DD_KEY, HEC_TOKEN, WEBHOOK_SECRET] {
        assert!(!text.contains(secret), "a response contains a secret");
    }
    let v: Value = serde_json::from_str(&text).expect("json");
    v["id"].as_str().expect("id").to_string()
}

/// An S3 destination named `lake` writing to `bucket`; returns its id.
async fn create_lake(s: &Stack, o: &Org, bucket: &str) -> String {
    create(
        s,
        o,
        json!({"name": "lake", "type": "s3", "settings": {"bucket": bucket}}),
    )
    .await
}

async fn status(s: &Stack, o: &Org, id: &str) -> Value {
    let (code, body) = s
        .get(Some(&o.admin), &format!("/v1/destinations/{id}/status"))
        .await;
    assert_eq!(code, 200, "{body}");
    body
}

/// Runs the worker until `done` holds (or fails the test after `limit`).
async fn work_until(app: &ExportApp, limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "timed out waiting for: {what}");
        auditctl::export_runner::poll_once(app, 1)
            .await
            .expect("poll");
    }
}

/// Works until `n` of the test's events (ids starting with `prefix`)
/// reached `receiver`, then polls a few more times, so that a duplicate
/// would arrive too; returns the test's events that arrived, duplicates
/// included.
async fn all_arrived(app: &ExportApp, receiver: &Receiver, prefix: &str, n: usize) -> Vec<String> {
    let what = format!("{n} events at the receiver");
    work_until(app, Duration::from_secs(90), &what, || {
        ours(&receiver.accepted_ids(), prefix).len() >= n
    })
    .await;
    for _ in 0..3 {
        auditctl::export_runner::poll_once(app, 1)
            .await
            .expect("poll");
    }
    receiver
        .accepted_ids()
        .into_iter()
        .filter(|i| i.starts_with(prefix))
        .collect()
}

fn unique(ids: &[String]) -> BTreeSet<String> {
    ids.iter().cloned().collect()
}

/// The test's own events among what arrived: the log's self-audit events
/// (a destination created, a replay requested, …) are exported too, under
/// fresh ids.
fn ours(ids: &[String], prefix: &str) -> BTreeSet<String> {
    ids.iter()
        .filter(|i| i.starts_with(prefix))
        .cloned()
        .collect()
}

async fn s3_ids(client: &aws_sdk_s3::Client, bucket: &str) -> (usize, Vec<String>) {
    let keys = audit_log_tests::s3_keys(client, bucket).await;
    let mut ids = Vec::new();
    for key in &keys {
        let gz = audit_log_tests::s3_object(client, bucket, key).await;
        for line in BufReader::new(GzDecoder::new(&gz[..])).lines() {
            let record: Value = serde_json::from_str(&line.expect("line")).expect("json line");
            ids.push(record["id"].as_str().expect("id").to_string());
        }
    }
    (keys.len(), ids)
}

#[tokio::test]
async fn events_after_enabling_reach_every_destination_earlier_ones_only_by_replay() {
    audit_log_tests::logs::capture();
    let s = Stack::start_isolated().await;
    let o = org(&s).await;
    let before_start = Timestamp::now();
    let before = ingest(&s, &o, "evt_before", 5, Action::ALL).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let before_end = Timestamp::now();

    let dd = Receiver::datadog(DD_KEY).await;
    let hec = Receiver::splunk(HEC_TOKEN).await;
    let hook = Receiver::webhook(WEBHOOK_SECRET).await;
    let (s3, bucket) = audit_log_tests::s3_bucket("export").await;
    let dd_id = create(&s, &o, json!({"name": "dd", "type": "datadog", "settings": {"site": "datadoghq.com", "intake_url": dd.url()}, "secret": DD_KEY})).await;
    let hec_id = create(&s, &o, json!({"name": "hec", "type": "splunk", "settings": {"url": hec.url(), "index": "audit"}, "format": "ocsf", "secret": HEC_TOKEN})).await;
    create(&s, &o, json!({"name": "hook", "type": "webhook", "settings": {"url": hook.webhook_url()}, "secret": WEBHOOK_SECRET})).await;
    create(
        &s,
        &o,
        json!({"name": "lake", "type": "s3", "settings": {"bucket": bucket, "prefix": "audit"}}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let after = ingest(&s, &o, "evt_after", 40, Action::ALL).await;

    let app = s.exporter(fast(1800)).await;
    let report = export::schedule(&app, Timestamp::now()).await;
    assert_eq!(
        (report.destinations, report.windows, report.errors),
        (4, 4, 0)
    );
    work_until(
        &app,
        Duration::from_secs(60),
        "all four destinations",
        || {
            ours(&dd.accepted_ids(), "evt_after").len() >= 40
                && ours(&hec.accepted_ids(), "evt_after").len() >= 40
                && ours(&hook.accepted_ids(), "evt_after").len() >= 40
        },
    )
    .await;
    let want = unique(&after);
    assert_eq!(ours(&dd.accepted_ids(), "evt_after"), want, "Datadog");
    assert_eq!(
        ours(&hec.accepted_ids(), "evt_after"),
        want,
        "Splunk (OCSF)"
    );
    assert_eq!(ours(&hook.accepted_ids(), "evt_after"), want, "webhook");
    for r in [&dd, &hec, &hook] {
        assert!(
            ours(&r.accepted_ids(), "evt_before").is_empty(),
            "no backfill"
        );
    }
    // All four creations (Datadog's own included: it is recorded just after
    // enabled_at) are in the org's log, so they are exported like any event.
    let changes = dd
        .accepted_records()
        .iter()
        .filter(|r| r["action"] == "EXPORT_DESTINATION_CREATED")
        .count();
    assert_eq!(changes, 4, "self-audit events are exported too");
    for record in hec.accepted_records() {
        assert_eq!(record["class_uid"], 6003, "OCSF API Activity");
    }
    let (objects, s3_ids) = s3_ids(&s3, &bucket).await;
    assert_eq!(objects, 1, "one object per window");
    assert_eq!(ours(&s3_ids, "evt_after"), want, "S3");

    // A second tick with nothing new sends nothing old again.
    export::schedule(&app, Timestamp::now()).await;
    for _ in 0..3 {
        auditctl::export_runner::poll_once(&app, 0)
            .await
            .expect("poll");
    }
    let delivered = dd.accepted_ids().len();
    assert_eq!(delivered, 44, "no backfill, no repeat");

    let st = status(&s, &o, &dd_id).await;
    assert_eq!(st["state"], "active", "{st}");
    assert_eq!(st["events_delivered"], 44, "{st}");
    assert_eq!(st["windows_pending"], 0, "{st}");

    // Replay: exactly the window asked for, to the destination asked for.
    let window = audit_domain::export::ExportWindow {
        from: before_start.plus_millis(-1),
        to: before_end,
    };
    export::replay(&app, &o.id, &dd_id, window, Timestamp::now())
        .await
        .expect("replay");
    work_until(&app, Duration::from_secs(30), "the replayed window", || {
        dd.accepted_ids().len() >= delivered + 5
    })
    .await;
    let replayed: BTreeSet<String> = dd.accepted_ids()[delivered..].iter().cloned().collect();
    assert_eq!(replayed, unique(&before));
    assert!(
        ours(&hec.accepted_ids(), "evt_before").is_empty(),
        "a replay goes only where asked"
    );

    let logs = audit_log_tests::logs::captured();
    assert!(
        logs.contains("export job"),
        "the worker logs one line per job"
    );
    for secret in [
        DD_KEY,
        HEC_TOKEN,
        WEBHOOK_SECRET,
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ] {
        assert!(!logs.contains(secret), "a log line contains a secret");
    }
    let _ = hec_id;
}

#[tokio::test]
async fn a_receiver_failing_for_a_while_loses_nothing() {
    let s = Stack::start_isolated().await;
    let o = org(&s).await;
    let hec = Receiver::splunk(HEC_TOKEN).await;
    create(&s, &o, json!({"name": "hec", "type": "splunk", "settings": {"url": hec.url()}, "secret": HEC_TOKEN})).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let ids = ingest(&s, &o, "evt_flaky", 30, Action::ALL).await;
    hec.fail_until(Instant::now() + Duration::from_millis(2500), 503);

    let app = s.exporter(fast(1800)).await;
    export::schedule(&app, Timestamp::now()).await;
    work_until(&app, Duration::from_secs(40), "recovery", || {
        ours(&hec.accepted_ids(), "evt_flaky").len() >= 30
    })
    .await;
    assert_eq!(
        ours(&hec.accepted_ids(), "evt_flaky"),
        unique(&ids),
        "every event arrived"
    );
    assert!(
        hec.requests() > hec.accepted_requests(),
        "the receiver did fail first"
    );
    for id in hec
        .accepted_ids()
        .iter()
        .filter(|i| i.starts_with("evt_flaky"))
    {
        assert!(ids.contains(id), "each event arrives under its stable id");
    }
}

#[tokio::test]
async fn failing_past_the_deadline_dead_letters_and_redrive_delivers_every_event() {
    let s = Stack::start_isolated().await;
    let o = org(&s).await;
    let (hook, id, ids, app) = dead_lettered_webhook(&s, &o, "evt_dead").await;
    assert!(
        hook.requests() >= 2,
        "transient failures were retried before giving up"
    );
    assert!(hook.accepted_ids().is_empty());
    let st = status(&s, &o, &id).await;
    assert_eq!(st["state"], "failing", "{st}");
    assert_eq!(st["jobs_in_dlq"], 1, "{st}");
    assert!(
        st["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("503"),
        "{st}"
    );

    // The receiver recovers; an operator redrives.
    hook.fail_until(Instant::now(), 503);
    let redriven = export::redrive_dlq(&app, None, Timestamp::now())
        .await
        .expect("redrive");
    assert_eq!((redriven.moved.len(), redriven.dropped), (1, 0));
    work_until(&app, Duration::from_secs(30), "redriven delivery", || {
        ours(&hook.accepted_ids(), "evt_dead").len() >= 12
    })
    .await;
    assert_eq!(ours(&hook.accepted_ids(), "evt_dead"), unique(&ids));
}

#[tokio::test]
async fn a_bad_token_is_not_retried_and_the_status_says_why() {
    let s = Stack::start_isolated().await;
    let o = org(&s).await;
    let hec = Receiver::splunk(HEC_TOKEN).await;
    let id = create(&s, &o, json!({"name": "hec", "type": "splunk", "settings": {"url": hec.url()}, "secret": "99999999-8888-7777-6666-555555555555"})).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    ingest(&s, &o, "evt_401", 3, Action::ALL).await;

    let app = s.exporter(fast(1800)).await;
    export::schedule(&app, Timestamp::now()).await;
    auditctl::export_runner::poll_once(&app, 1)
        .await
        .expect("poll");
    assert_eq!(
        app.queue.dlq_depth().await.expect("depth"),
        1,
        "straight to the DLQ"
    );
    assert_eq!(hec.requests(), 1, "a 401 is never retried");
    let st = status(&s, &o, &id).await;
    assert_eq!(st["state"], "failing");
    assert!(
        st["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("401"),
        "{st}"
    );
    assert!(!st.to_string().contains("99999999-8888"));
}

#[tokio::test]
async fn a_1500_event_window_reaches_datadog_in_requests_of_at_most_1000_and_s3_once() {
    let s = Stack::start_isolated().await;
    let o = org(&s).await;
    let dd = Receiver::datadog(DD_KEY).await;
    let (s3, bucket) = audit_log_tests::s3_bucket("export").await;
    create(&s, &o, json!({"name": "dd", "type": "datadog", "settings": {"site": "datadoghq.com", "intake_url": dd.url()}, "secret": DD_KEY})).await;
    let lake = create_lake(&s, &o, &bucket).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let from = Timestamp::now();
    let ids = ingest(&s, &o, "evt_big", 1500, Action::ALL).await;

    let app = s.exporter(fast(1800)).await;
    let now = Timestamp::now();
    export::schedule(&app, now).await;
    work_until(
        &app,
        Duration::from_secs(60),
        "1,500 events at Datadog",
        || ours(&dd.accepted_ids(), "evt_big").len() >= 1500,
    )
    .await;
    assert_eq!(ours(&dd.accepted_ids(), "evt_big"), unique(&ids));
    assert!(dd.max_entries() <= 1000, "at most 1000 entries per request");
    assert_eq!(dd.accepted_requests(), 2);

    // The same window again (a replay) leaves one S3 object, not two.
    let (objects, stored) = s3_ids(&s3, &bucket).await;
    assert_eq!((objects, ours(&stored, "evt_big").len()), (1, 1500));
    let dest = s
        .store
        .get_destination::<DestinationSpec>(&o.id, &lake)
        .await
        .expect("get")
        .expect("exists");
    let window = audit_domain::export::ExportWindow {
        from: dest.enabled_at.expect("enabled"),
        to: now,
    };
    assert!(window.from < from);
    export::replay(&app, &o.id, &lake, window, Timestamp::now())
        .await
        .expect("replay");
    for _ in 0..3 {
        auditctl::export_runner::poll_once(&app, 1)
            .await
            .expect("poll");
    }
    assert_eq!(s3_ids(&s3, &bucket).await.0, 1);
}

#[tokio::test]
async fn a_window_over_a_jobs_byte_budget_arrives_in_parts_each_event_once() {
    let s = Stack::start_isolated().await;
    let o = org(&s).await;
    let dd = Receiver::datadog(DD_KEY).await;
    let (s3, bucket) = audit_log_tests::s3_bucket("parts").await;
    create(&s, &o, json!({"name": "dd", "type": "datadog", "settings": {"site": "datadoghq.com", "intake_url": dd.url()}, "secret": DD_KEY})).await;
    create_lake(&s, &o, &bucket).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let ids = ingest(&s, &o, "evt_part", 400, Action::ALL).await;

    // A budget of about 60 stored events: the window needs several parts.
    let config = ExportConfig {
        max_bytes_per_job: 64 * 1024,
        ..fast(1800)
    };
    let app = s.exporter(config).await;
    export::schedule(&app, Timestamp::now()).await;
    let arrived = all_arrived(&app, &dd, "evt_part", 400).await;
    assert_eq!(arrived.len(), 400, "each event once at Datadog");
    assert_eq!(unique(&arrived), unique(&ids));
    assert!(
        dd.accepted_requests() >= 4,
        "{} parts",
        dd.accepted_requests()
    );
    // One S3 object per part, together holding each event once.
    let (objects, stored) = s3_ids(&s3, &bucket).await;
    let stored: Vec<String> = stored
        .into_iter()
        .filter(|i| i.starts_with("evt_part"))
        .collect();
    assert!(objects >= 4, "{objects} objects");
    assert_eq!(stored.len(), 400, "each event once in S3");
    assert_eq!(unique(&stored), unique(&ids));
}

/// 600 events, in parts of 150, to a webhook (bodies of 100: each part
/// ends in a body of 50 that is held back, because more follows) and to
/// S3 (one object per part); one tick, then one poll of the queue.
/// Returns the webhook's and S3's events after that poll, S3's object
/// count and the jobs left on the queue.
async fn one_poll_of_a_window_in_parts(
    continue_for: Duration,
) -> (
    Vec<String>,
    Vec<String>,
    usize,
    u64,
    BTreeSet<String>,
    Receiver,
) {
    let s = Stack::start_isolated().await;
    let o = org(&s).await;
    let hook = Receiver::webhook(WEBHOOK_SECRET).await;
    let (s3, bucket) = audit_log_tests::s3_bucket("inproc").await;
    create(&s, &o, json!({"name": "hook", "type": "webhook", "settings": {"url": hook.webhook_url()}, "secret": WEBHOOK_SECRET})).await;
    create_lake(&s, &o, &bucket).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let ids = ingest(&s, &o, "evt_inproc", 600, Action::ALL).await;
    let config = ExportConfig {
        max_events_per_job: 150,
        continue_for,
        ..fast(1800)
    };
    let app = s.exporter(config).await;
    export::schedule(&app, Timestamp::now()).await;
    let received = auditctl::export_runner::poll_once(&app, 1)
        .await
        .expect("poll");
    assert_eq!(received, 2, "one job per destination");
    let (objects, stored) = s3_ids(&s3, &bucket).await;
    let stored = stored
        .into_iter()
        .filter(|i| i.starts_with("evt_inproc"))
        .collect();
    let sent = hook
        .accepted_ids()
        .into_iter()
        .filter(|i| i.starts_with("evt_inproc"))
        .collect();
    let left = app.queue.depth().await.expect("depth");
    (sent, stored, objects, left, unique(&ids), hook)
}

#[tokio::test]
async fn one_message_delivers_a_window_of_several_parts_each_as_its_own_message_would() {
    let (sent, stored, objects, left, ids, hook) =
        one_poll_of_a_window_in_parts(ExportConfig::default().continue_for).await;
    assert_eq!(sent.len(), 600, "each event once at the webhook");
    assert_eq!(unique(&sent), ids);
    assert_eq!(stored.len(), 600, "each event once in S3");
    assert_eq!(unique(&stored), ids);
    assert!(objects >= 4, "one S3 object per part: {objects}");
    assert_eq!(left, 0, "nothing of the window was handed on");
    // Each part's bodies have webhook ids of their own; the bodies held
    // back at each part's end went first in the next, so all but the last
    // are full.
    let webhook_ids = hook.webhook_ids();
    assert_eq!(
        webhook_ids.iter().collect::<BTreeSet<_>>().len(),
        webhook_ids.len()
    );
    let all = hook.accepted_ids().len();
    assert_eq!(
        hook.accepted_requests(),
        all.div_ceil(audit_destinations::webhook::DEFAULT_MAX_EVENTS),
        "{all} events in full bodies"
    );
}

#[tokio::test]
async fn without_time_to_go_on_each_part_of_a_window_is_a_message_of_its_own() {
    let (sent, stored, objects, left, _, hook) =
        one_poll_of_a_window_in_parts(Duration::ZERO).await;
    // The webhook's first part: one full body (the self-audit events of
    // the destinations' creation first), and the rest held back.
    assert_eq!(hook.accepted_ids().len(), 100);
    assert!(sent.len() < 100, "{} events", sent.len());
    assert_eq!(objects, 1);
    assert!(stored.len() <= 150, "{} events in S3", stored.len());
    assert_eq!(left, 2, "each destination's next part is queued");
}

#[tokio::test]
async fn a_part_that_fails_after_earlier_ones_went_is_retried_in_its_own_message_each_event_once() {
    let s = Stack::start_isolated().await;
    let o = org(&s).await;
    let hook = Receiver::webhook(WEBHOOK_SECRET).await;
    let id = create(&s, &o, json!({"name": "hook", "type": "webhook", "settings": {"url": hook.webhook_url()}, "secret": WEBHOOK_SECRET})).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let ids = ingest(&s, &o, "evt_later", 600, Action::ALL).await;
    let config = ExportConfig {
        max_events_per_job: 150,
        ..fast(1800)
    };
    let app = s.exporter(config).await;
    // The first part's full body goes; the second part's first fails.
    hook.fail_after(1, 1, 503);
    export::schedule(&app, Timestamp::now()).await;
    let received = auditctl::export_runner::poll_once(&app, 1)
        .await
        .expect("poll");
    assert_eq!(received, 1);
    assert_eq!(hook.accepted_ids().len(), 100, "the first part's full body");
    assert_eq!(
        app.queue.depth().await.expect("depth"),
        1,
        "the rest is queued"
    );
    // The status shows both: the first part delivered, the second's failure.
    let st = status(&s, &o, &id).await;
    assert_eq!(st["events_delivered"], 100, "{st}");
    assert!(
        st["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("503"),
        "{st}"
    );

    let arrived = all_arrived(&app, &hook, "evt_later", 600).await;
    assert_eq!(arrived.len(), 600, "each event once");
    assert_eq!(unique(&arrived), unique(&ids));
    // The failed body was sent again under its webhook id: the new message
    // is the part the failing one was, so its first body is the same.
    let webhook_ids = hook.webhook_ids();
    let failed = &webhook_ids[1];
    assert_eq!(webhook_ids.iter().filter(|i| *i == failed).count(), 2);
}

#[tokio::test]
async fn a_window_over_several_jobs_reaches_splunk_in_full_bodies_each_event_once() {
    let s = Stack::start_isolated().await;
    let o = org(&s).await;
    let hec = Receiver::splunk(HEC_TOKEN).await;
    create(&s, &o, json!({"name": "hec", "type": "splunk", "settings": {"url": hec.url()}, "secret": HEC_TOKEN})).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    // 2,400 envelopes of about 1.4 KB (3.4 MB), in jobs of 1,000 events:
    // each job holds a full body and part of another. Jobs that each sent
    // their last body, not full, made five requests where four carry it all.
    let ids: Vec<String> = (0..2_400).map(|i| format!("evt_full_{i:05}")).collect();
    for chunk in ids.chunks(100) {
        let events: Vec<Value> = chunk
            .iter()
            .map(|id| {
                let mut e = event(id, Action::ModelDeployed, false);
                e["metadata"]["note"] = "n".repeat(700).into();
                e
            })
            .collect();
        let (status, body) = s.post(&o.ingest, &json!({ "events": events })).await;
        assert_eq!(status, 200, "{body}");
    }
    let config = ExportConfig {
        max_events_per_job: 1_000,
        ..fast(1800)
    };
    let app = s.exporter(config).await;
    export::schedule(&app, Timestamp::now()).await;
    let arrived = all_arrived(&app, &hec, "evt_full", 2_400).await;
    assert_eq!(arrived.len(), 2_400, "each event once");
    assert_eq!(unique(&arrived), unique(&ids));
    let bytes = hec.accepted_bytes();
    let fewest = bytes.div_ceil(audit_destinations::splunk::DEFAULT_MAX_BYTES);
    assert!(
        fewest >= 3,
        "{bytes} bytes: the window must need several bodies"
    );
    assert_eq!(
        hec.accepted_requests(),
        fewest,
        "{bytes} bytes in full 1 MiB bodies"
    );
}

#[tokio::test]
async fn an_orgs_destinations_cut_the_same_window_share_one_read_of_it() {
    let s = Stack::start_isolated().await;
    let o = org(&s).await;
    let dd = Receiver::datadog(DD_KEY).await;
    let hec = Receiver::splunk(HEC_TOKEN).await;
    let hook = Receiver::webhook(WEBHOOK_SECRET).await;
    // Slow receivers: each job still holds its page when the others read.
    for receiver in [&dd, &hec, &hook] {
        receiver.delay_each(Duration::from_millis(400));
    }
    create(&s, &o, json!({"name": "dd", "type": "datadog", "settings": {"site": "datadoghq.com", "intake_url": dd.url()}, "secret": DD_KEY})).await;
    create(&s, &o, json!({"name": "hec", "type": "splunk", "settings": {"url": hec.url()}, "secret": HEC_TOKEN})).await;
    // A filter: this job takes the shared page and sends only its part.
    create(&s, &o, json!({"name": "hook", "type": "webhook", "settings": {"url": hook.webhook_url()}, "secret": WEBHOOK_SECRET, "filter": {"actions": ["MODEL_DELETED"]}})).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let app = s.exporter(fast(1800)).await;
    // The first tick brings the three cursors to one point (each started
    // when its destination was created); from then on a tick cuts them the
    // same window.
    export::schedule(&app, Timestamp::now()).await;
    work_until(
        &app,
        Duration::from_secs(30),
        "the self-audit events",
        || dd.accepted_ids().len() >= 3 && hec.accepted_ids().len() >= 2,
    )
    .await;
    for _ in 0..2 {
        auditctl::export_runner::poll_once(&app, 0)
            .await
            .expect("poll");
    }
    let from = Timestamp::now();
    let actions = [Action::ModelDeployed, Action::ModelDeleted];
    let ids = ingest(&s, &o, "evt_shared", 300, &actions).await;
    let deleted: BTreeSet<String> = ids.iter().skip(1).step_by(2).cloned().collect();

    let to = Timestamp::now();
    export::schedule(&app, to).await;
    let before = app.store.read_units_consumed();
    work_until(&app, Duration::from_secs(60), "300 events at each", || {
        ours(&dd.accepted_ids(), "evt_shared").len() >= 300
            && ours(&hec.accepted_ids(), "evt_shared").len() >= 300
            && ours(&hook.accepted_ids(), "evt_shared").len() >= 150
    })
    .await;
    let delivering = app.store.read_units_consumed() - before;
    assert_eq!(ours(&dd.accepted_ids(), "evt_shared"), unique(&ids));
    assert_eq!(ours(&hec.accepted_ids(), "evt_shared"), unique(&ids));
    assert_eq!(ours(&hook.accepted_ids(), "evt_shared"), deleted);
    assert_eq!(app.reads.held(), 0, "no page outlives its jobs");

    // What one job's read of the same events costs.
    let window = audit_domain::export::ExportWindow {
        from: from.plus_millis(-1),
        to,
    };
    let before = app.store.read_units_consumed();
    let page = app
        .store
        .window_events_within(&o.id, &window, None, 5_000, 1 << 22)
        .await
        .expect("read");
    let one_read = app.store.read_units_consumed() - before;
    assert_eq!(page.events.len(), 300);
    assert!(
        delivering < 1.5 * one_read,
        "three destinations read {delivering} units; one read of their window is {one_read}"
    );
}

#[tokio::test]
async fn a_destination_filter_sends_only_the_chosen_groups_and_actions() {
    let s = Stack::start_isolated().await;
    let o = org(&s).await;
    let hook = Receiver::webhook(WEBHOOK_SECRET).await;
    create(&s, &o, json!({"name": "users only", "type": "webhook", "settings": {"url": hook.webhook_url()}, "secret": WEBHOOK_SECRET, "filter": {"groups": ["users"], "actions": ["MODEL_DELETED"]}})).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let actions = [
        Action::UserInvited,
        Action::ModelDeployed,
        Action::ModelDeleted,
        Action::SecretUpdated,
        Action::UserRemoved,
    ];
    let ids = ingest(&s, &o, "evt_mix", 25, &actions).await;
    let wanted: BTreeSet<String> = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            let a = actions[i % actions.len()];
            a.group() == Group::Users || a == Action::ModelDeleted
        })
        .map(|(_, id)| id.clone())
        .collect();

    let app = s.exporter(fast(1800)).await;
    export::schedule(&app, Timestamp::now()).await;
    work_until(&app, Duration::from_secs(30), "filtered delivery", || {
        ours(&hook.accepted_ids(), "evt_mix").len() >= wanted.len()
    })
    .await;
    for _ in 0..2 {
        auditctl::export_runner::poll_once(&app, 0)
            .await
            .expect("poll");
    }
    assert_eq!(unique(&hook.accepted_ids()), wanted);
}

#[tokio::test]
async fn replay_through_the_api_and_every_destination_change_are_recorded_in_the_org_log() {
    let s = Stack::start_isolated().await;
    let o = org(&s).await;
    let hook = Receiver::webhook(WEBHOOK_SECRET).await;
    let from = Timestamp::now();
    let early = ingest(&s, &o, "evt_early", 4, Action::ALL).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let to = Timestamp::now();
    let id = create(&s, &o, json!({"name": "hook", "type": "webhook", "settings": {"url": hook.webhook_url()}, "secret": WEBHOOK_SECRET})).await;

    let replay = |body: Value, key: String| {
        let url = format!("{}/v1/destinations/{id}/replay", s.base);
        let http = s.http.clone();
        async move {
            let r = http
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .expect("POST replay");
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let future = Timestamp::now().plus_millis(3_600_000).to_rfc3339();
    let (status, problem) = replay(
        json!({"from": from.to_rfc3339(), "to": future}),
        o.admin.clone(),
    )
    .await;
    assert_eq!(
        (status, problem["errors"][0]["field"].as_str()),
        (400, Some("to"))
    );
    let (member, _) = s.key(&o.id, Role::Member).await;
    assert_eq!(
        replay(
            json!({"from": from.to_rfc3339(), "to": to.to_rfc3339()}),
            member
        )
        .await
        .0,
        403
    );
    let (status, body) = replay(
        json!({"from": from.plus_millis(-1).to_rfc3339(), "to": to.to_rfc3339()}),
        o.admin.clone(),
    )
    .await;
    assert_eq!(status, 202, "{body}");

    let app = s.exporter(fast(1800)).await;
    work_until(&app, Duration::from_secs(30), "the replayed window", || {
        ours(&hook.accepted_ids(), "evt_early").len() >= 4
    })
    .await;
    assert_eq!(unique(&hook.accepted_ids()), unique(&early));

    // Disable and delete: each change lands in the org's own log.
    let r = s
        .http
        .patch(format!("{}/v1/destinations/{id}", s.base))
        .bearer_auth(&o.admin)
        .json(&json!({"enabled": false}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(r.status().as_u16(), 200);
    let r = s
        .http
        .delete(format!("{}/v1/destinations/{id}", s.base))
        .bearer_auth(&o.admin)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status().as_u16(), 204);
    let log = s
        .all_pages(&o.admin, &[("group", "audit_log".to_string())], 50)
        .await;
    let actions: Vec<&str> = log.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(
        actions,
        [
            "EXPORT_DESTINATION_DELETED",
            "EXPORT_DESTINATION_UPDATED",
            "EXPORT_REPLAY_REQUESTED",
            "EXPORT_DESTINATION_CREATED"
        ]
    );
    for e in &log {
        assert_eq!(e["actor"]["type"], "api_key", "who did it: the admin's key");
        assert_eq!(e["resource"]["id"], id.as_str());
    }
    let description = log[1]["description"].as_str().unwrap_or_default();
    assert!(
        description.contains("changed export destination hook (webhook): disabled"),
        "{description}"
    );

    // A producer cannot forge the log's own events.
    let mut forged = event("evt_forged", Action::UserInvited, false);
    forged["action"] = json!("EXPORT_DESTINATION_DELETED");
    forged["resource"] = json!({"type": "export_destination", "id": "dst_x"});
    let (status, problem) = s.post(&o.ingest, &forged).await;
    assert_eq!(
        (status, problem["errors"][0]["field"].as_str()),
        (400, Some("action"))
    );
}

/// `POST /v1/destinations/{id}/redrive` as `key`.
async fn redrive_via_api(s: &Stack, id: &str, key: &str) -> (u16, Value) {
    let r = s
        .http
        .post(format!("{}/v1/destinations/{id}/redrive", s.base))
        .bearer_auth(key)
        .send()
        .await
        .expect("POST redrive");
    (
        r.status().as_u16(),
        r.json::<Value>().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn an_admin_redrives_from_the_api_and_an_operator_redrive_then_sends_nothing_twice() {
    let s = Stack::start_isolated().await;
    let o = org(&s).await;
    let other = s.org_with_keys("export-other").await;
    let (hook, id, ids, app) = dead_lettered_webhook(&s, &o, "evt_redrive").await;
    assert_eq!(status(&s, &o, &id).await["jobs_in_dlq"], 1);
    let dead = s.store.dead_jobs(&o.id, &id, 10).await.expect("records");
    assert_eq!(dead.len(), 1, "the org's own record of its dead job");
    assert!(dead[0].reason.contains("503"), "{dead:?}");

    // Who may: the org's admin only; another org's admin does not find it.
    let (member, _) = s.key(&o.id, Role::Member).await;
    assert_eq!(redrive_via_api(&s, &id, &member).await.0, 403);
    assert_eq!(redrive_via_api(&s, &id, &other.admin).await.0, 404);
    assert_eq!(
        s.store
            .dead_jobs(&o.id, &id, 10)
            .await
            .expect("records")
            .len(),
        1,
        "refused calls take nothing"
    );

    hook.fail_until(Instant::now(), 503);
    let (code, body) = redrive_via_api(&s, &id, &o.admin).await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(
        (body["jobs"].as_u64(), body["more"].as_bool()),
        (Some(1), Some(false)),
        "{body}"
    );
    assert_eq!(status(&s, &o, &id).await["jobs_in_dlq"], 0);
    let (_, again) = redrive_via_api(&s, &id, &o.admin).await;
    assert_eq!(again["jobs"], 0, "taken once: {again}");

    // The DLQ still holds its copy; the operator's redrive drops it unsent.
    let operator = export::redrive_dlq(&app, None, Timestamp::now())
        .await
        .expect("operator redrive");
    assert_eq!(
        (operator.moved.len(), operator.dropped),
        (0, 1),
        "{operator:?}"
    );
    assert_eq!(app.queue.dlq_depth().await.expect("depth"), 0);

    work_until(&app, Duration::from_secs(30), "the redriven window", || {
        ours(&hook.accepted_ids(), "evt_redrive").len() >= 12
    })
    .await;
    audit_log_tests::drain_queue(&app).await;
    let delivered: Vec<String> = hook
        .accepted_ids()
        .into_iter()
        .filter(|i| i.starts_with("evt_redrive"))
        .collect();
    assert_eq!(delivered.len(), 12, "each event once: {delivered:?}");
    assert_eq!(unique(&delivered), unique(&ids));

    // The redrive is in the org's log, with the admin's key as its actor.
    let (code, log) = s
        .get(
            Some(&o.admin),
            "/v1/events?action=EXPORT_REDRIVE_REQUESTED&limit=10",
        )
        .await;
    assert_eq!(code, 200, "{log}");
    let events = log["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{log}");
    assert_eq!(events[0]["metadata"]["jobs"], "1", "{log}");
    assert_eq!(events[0]["resource"]["id"], id.as_str(), "{log}");
}

/// More dead jobs than one redrive sends: the first call sends 100 and says
/// `more`, the next sends the rest.
#[tokio::test]
async fn a_redrive_sends_at_most_100_jobs_and_says_more_remain() {
    let s = Stack::start_isolated().await;
    let o = org(&s).await;
    let hook = Receiver::webhook(WEBHOOK_SECRET).await;
    let id = create(&s, &o, json!({"name": "hook", "type": "webhook", "settings": {"url": hook.webhook_url()}, "secret": WEBHOOK_SECRET})).await;
    let now = Timestamp::now();
    let window = audit_domain::export::ExportWindow {
        from: now.plus_millis(-60_000),
        to: now,
    };
    let job = audit_domain::export::ExportJob::new(id.clone(), o.id.clone(), window, now);
    for part in 0..101 {
        let dead = audit_domain::export::ExportJob {
            part,
            ..job.clone()
        };
        s.store
            .put_dead_job(&dead, "HTTP 503 for 30 minutes", now)
            .await
            .expect("a dead job's record");
    }
    let (code, first) = redrive_via_api(&s, &id, &o.admin).await;
    assert_eq!(code, 202, "{first}");
    assert_eq!(
        (first["jobs"].as_u64(), first["more"].as_bool()),
        (Some(100), Some(true)),
        "{first}"
    );
    let (_, second) = redrive_via_api(&s, &id, &o.admin).await;
    assert_eq!(
        (second["jobs"].as_u64(), second["more"].as_bool()),
        (Some(1), Some(false)),
        "{second}"
    );
    assert!(s
        .store
        .dead_jobs(&o.id, &id, 10)
        .await
        .expect("records")
        .is_empty());
    let app = s.exporter(fast(1800)).await;
    assert_eq!(
        app.queue.depth().await.expect("depth"),
        101,
        "each sent once"
    );
}

/// A webhook destination of `o` whose receiver answers 503 for an hour,
/// 12 events ingested (ids `<prefix>_…`) and their window dead-lettered
/// (a 2 s retry deadline): the receiver, the destination, the ids, the app.
async fn dead_lettered_webhook(
    s: &Stack,
    o: &Org,
    prefix: &str,
) -> (Receiver, String, Vec<String>, ExportApp) {
    let hook = Receiver::webhook(WEBHOOK_SECRET).await;
    let id = create(s, o, json!({"name": "hook", "type": "webhook", "settings": {"url": hook.webhook_url()}, "secret": WEBHOOK_SECRET})).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let ids = ingest(s, o, prefix, 12, Action::ALL).await;
    hook.fail_until(Instant::now() + Duration::from_secs(3600), 503);
    let app = s.exporter(fast(2)).await;
    export::schedule(&app, Timestamp::now()).await;
    until_dead_lettered(&app).await;
    (hook, id, ids, app)
}

/// Runs the worker until a job is in the DLQ.
async fn until_dead_lettered(app: &ExportApp) {
    let started = Instant::now();
    while app.queue.dlq_depth().await.expect("depth") < 1 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the job never reached the DLQ"
        );
        auditctl::export_runner::poll_once(app, 1)
            .await
            .expect("poll");
    }
}
