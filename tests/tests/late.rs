//! Late arrivals end to end, through the events table's real stream
//! (DynamoDB Local): an event item written straight into the table with a
//! `recorded_at` its destination's cursor and the org's sealed head have
//! both passed (what a write retried past the lag, or an index entry
//! showing late, looks like) is marked by the arrivals consumer, settled by
//! the next tick, delivered, and sealed so that `auditctl verify` reports
//! nothing. One already in a digest is re-delivered where it is.

use std::time::{Duration, Instant};

use audit_aws::store::{encode_event_item, LateMark};
use audit_domain::catalog::Action;
use audit_domain::event::Event;
use audit_domain::ids::EventId;
use audit_domain::integrity::{KeyRing, PublicKey};
use audit_domain::retention::RetentionDays;
use audit_domain::time::Timestamp;
use audit_log_tests::receivers::Receiver;
use audit_log_tests::{event, Stack};
use auditctl::export_runner::ArrivalsPoller;
use aws_sdk_dynamodb::types::AttributeValue;
use export::ExportApp;
use serde_json::{json, Value};

const PERIOD_MS: i64 = 2_000;
const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

type Org = audit_log_tests::OrgKeys;

async fn public_key(app: &ExportApp) -> PublicKey {
    audit_log_tests::signing_public_key(app).await
}

/// In these tests a write is late 8 s after its stamp (the export lag is 0
/// here; a deployment's is at least 30 s, and half of it counts): room for
/// a loaded machine to read the on-time writes well before that.
const LATE_AFTER_MS: i64 = 8_000;

/// An org with a webhook destination, the stream's poller started, and
/// three events ingested. Returns the first event as stored.
async fn org_with_events(s: &Stack) -> (Org, Receiver, ExportApp, ArrivalsPoller, Event) {
    let o = s.org_with_keys("late").await;
    let hook = Receiver::webhook(WEBHOOK_SECRET).await;
    let r = s
        .http
        .post(format!("{}/v1/destinations", s.base))
        .bearer_auth(&o.admin)
        .json(&json!({"name": "hook", "type": "webhook", "settings": {"url": hook.webhook_url()}, "secret": WEBHOOK_SECRET}))
        .send()
        .await
        .expect("POST destination");
    assert_eq!(r.status().as_u16(), 201);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let config = audit_aws::aws_config().await;
    let poller = ArrivalsPoller::start(&config, &s.store, LATE_AFTER_MS)
        .await
        .expect("the stream")
        .expect("the events table has a stream");
    let events: Vec<Value> = (0..3)
        .map(|i| event(&format!("evt_on_time_{i}"), Action::ALL[i], false))
        .collect();
    let (status, body) = s.post(&o.ingest, &json!({ "events": events })).await;
    assert_eq!(status, 200, "{body}");
    // The stream read right after, as `auditctl serve` reads it every
    // second: on time, nothing marked.
    let mut poller = poller;
    let mut read = 0;
    let started = Instant::now();
    while read < 3 && started.elapsed() < Duration::from_secs(5) {
        read += poller.poll_once(&s.store).await.expect("stream poll");
    }
    assert_eq!(read, 3, "the three inserts are on the stream");
    assert_eq!(s.store.late_marks(100).await.expect("marks"), []);
    let app = s.exporter(audit_log_tests::sealing_config(PERIOD_MS)).await;
    let first = s
        .store
        .get_event(&o.id, &EventId::parse("evt_on_time_0").expect("id"))
        .await
        .expect("get")
        .expect("stored");
    (o, hook, app, poller, first)
}

/// One tick far enough ahead that the events' periods are closed: their
/// window is cut and delivered, the periods sealed. Returns the tick's time.
async fn seal_and_deliver(app: &ExportApp, hook: &Receiver) -> Timestamp {
    let now = Timestamp::now().plus_millis(3 * PERIOD_MS);
    let tick = export::schedule(app, now).await;
    assert_eq!((tick.windows, tick.seal.errors), (1, 0), "{tick:?}");
    assert!(tick.seal.digests >= 1, "{tick:?}");
    deliver_until(app, hook, "the on-time events", |ids| {
        (0..3).all(|i| ids.contains(&format!("evt_on_time_{i}")))
    })
    .await;
    audit_log_tests::drain_queue(app).await;
    now
}

/// `first`'s twin under `id`, stamped 1 ms after it, once that stamp is
/// late.
async fn late_twin(first: &Event, id: &str) -> Event {
    let recorded_at = first.recorded_at.plus_millis(1);
    let late_from = recorded_at.plus_millis(LATE_AFTER_MS + 500);
    let wait = late_from.millis() - Timestamp::now().millis();
    if wait > 0 {
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    }
    Event {
        id: EventId::parse(id).expect("id"),
        recorded_at,
        ..first.clone()
    }
}

async fn deliver_until(
    app: &ExportApp,
    hook: &Receiver,
    what: &str,
    done: impl Fn(&[String]) -> bool,
) {
    let started = Instant::now();
    while !done(&hook.accepted_ids()) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}; got {:?}",
            hook.accepted_ids()
        );
        auditctl::export_runner::poll_once(app, 1)
            .await
            .expect("poll");
    }
}

/// Writes `e` as the store writes events, past ingest: a late write.
async fn write_directly(s: &Stack, e: &Event) {
    let item = encode_event_item(e, RetentionDays::DEFAULT).expect("item");
    s.ddb()
        .await
        .put_item()
        .table_name(&s.store.tables().events)
        .set_item(Some(item))
        .send()
        .await
        .expect("PutItem");
}

/// The stream's records, read until the consumer has marked `id` (the
/// on-time writes before it are read too, and must not be marked).
async fn marked(s: &Stack, poller: &mut ArrivalsPoller, id: &str) -> Vec<LateMark> {
    let started = Instant::now();
    loop {
        poller.poll_once(&s.store).await.expect("stream poll");
        let marks = s.store.late_marks(100).await.expect("marks");
        if marks.iter().any(|m| m.id.as_str() == id) {
            return marks;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the stream never showed {id}; marks {marks:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn verify(s: &Stack, app: &ExportApp, o: &Org) -> auditctl::verify::Report {
    let key = public_key(app).await;
    auditctl::verify::verify_store(&s.store, &KeyRing::from(key), &o.id, None, None)
        .await
        .expect("verify")
}

#[tokio::test]
async fn a_late_event_behind_the_cursor_and_the_sealed_head_is_delivered_and_verifies() {
    let s = Stack::start_isolated().await;
    let (o, hook, app, mut poller, first) = org_with_events(&s).await;
    let sealed_at = seal_and_deliver(&app, &hook).await;
    let clean = verify(&s, &app, &o).await;
    assert!(clean.is_ok(), "{:?}", clean.lines());

    // Inside the first event's sealed period, behind the cursor; written
    // only now.
    let late = late_twin(&first, "evt_late").await;
    write_directly(&s, &late).await;
    let before = verify(&s, &app, &o).await;
    assert!(
        !before.is_ok(),
        "the late event is in a sealed period it is not listed in: {:?}",
        before.lines()
    );
    let marks = marked(&s, &mut poller, "evt_late").await;
    assert_eq!(
        marks.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        ["evt_late"],
        "only the late write is marked, not the three on-time ones"
    );

    // The next tick settles it: re-stamped just after its time, the
    // original kept in the item.
    let settle_at = sealed_at.plus_millis(PERIOD_MS);
    let tick = export::schedule(&app, settle_at).await;
    audit_log_tests::drain_queue(&app).await;
    assert_eq!(
        (tick.late.marks, tick.late.restamped, tick.late.errors),
        (1, 1, 0),
        "{tick:?}"
    );
    assert!(s.store.late_marks(100).await.expect("marks").is_empty());
    let moved = s
        .store
        .get_event(&o.id, &late.id)
        .await
        .expect("get")
        .expect("stored");
    assert!(moved.recorded_at > settle_at, "{}", moved.recorded_at);
    let item = s
        .ddb()
        .await
        .get_item()
        .table_name(&s.store.tables().events)
        .key("PK", AttributeValue::S(format!("ORG#{}", o.id)))
        .key("SK", AttributeValue::S("EVT#evt_late".into()))
        .send()
        .await
        .expect("GetItem")
        .item
        .expect("item");
    assert_eq!(
        item.get("late_rts")
            .and_then(|v| v.as_s().ok())
            .map(String::as_str),
        Some(format!("{}#evt_late", late.recorded_at.sort_key()).as_str()),
        "the recorded_at it was written with is kept"
    );

    // The tick after delivers it and seals its new period.
    let tick = export::schedule(&app, settle_at.plus_millis(3 * PERIOD_MS)).await;
    assert_eq!((tick.windows, tick.seal.errors), (1, 0), "{tick:?}");
    deliver_until(&app, &hook, "the late event", |ids| {
        ids.iter().any(|i| i == "evt_late")
    })
    .await;
    let after = verify(&s, &app, &o).await;
    assert!(after.is_ok(), "{:?}", after.lines());
    assert_eq!(after.events, clean.events + 1, "{:?}", after.lines());
    let ids = hook.accepted_ids();
    assert_eq!(
        ids.iter().filter(|i| i.as_str() == "evt_late").count(),
        1,
        "delivered once: {ids:?}"
    );
}

#[tokio::test]
async fn a_late_event_a_digest_already_holds_stays_and_is_redelivered() {
    let s = Stack::start_isolated().await;
    let (o, hook, app, mut poller, first) = org_with_events(&s).await;
    // Written late, but before its window was cut and its period sealed,
    // which both see it; the stream's record is read only after.
    let late = late_twin(&first, "evt_late_sealed").await;
    write_directly(&s, &late).await;
    seal_and_deliver(&app, &hook).await;
    deliver_until(&app, &hook, "the late event's window", |ids| {
        ids.iter().any(|i| i == "evt_late_sealed")
    })
    .await;
    let sealed = verify(&s, &app, &o).await;
    assert!(sealed.is_ok(), "sealed where it is: {:?}", sealed.lines());

    marked(&s, &mut poller, "evt_late_sealed").await;
    let tick = export::schedule(&app, Timestamp::now().plus_millis(4 * PERIOD_MS)).await;
    assert_eq!(
        (tick.late.marks, tick.late.redelivered, tick.late.errors),
        (1, 1, 0),
        "{tick:?}"
    );
    deliver_until(&app, &hook, "the re-delivery", |ids| {
        ids.iter()
            .filter(|i| i.as_str() == "evt_late_sealed")
            .count()
            == 2
    })
    .await;
    let kept = s
        .store
        .get_event(&o.id, &late.id)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(
        kept.recorded_at, late.recorded_at,
        "a sealed event never moves"
    );
    let report = verify(&s, &app, &o).await;
    assert!(report.is_ok(), "{:?}", report.lines());
    assert_eq!(report.events, sealed.events, "{:?}", report.lines());
}
