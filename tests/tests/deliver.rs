//! Delivery to each destination type against receivers that check the
//! real wire contracts (and moto for S3): what arrives and how it is
//! encoded, how many requests it takes, and how failures are classified.

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use audit_destinations::deliver::{Deliverer, Delivery, TEST_RESOURCE, USER_AGENT};
use audit_destinations::webhook::{self, message_id};
use audit_destinations::{datadog, splunk, UrlPolicy};
use audit_domain::catalog::Action;
use audit_domain::event::Event;
use audit_domain::ids::OrgId;
use audit_domain::time::Timestamp;
use audit_domain::validate::parse_event;
use audit_log_tests::receivers::{self, Receiver};
use flate2::read::GzDecoder;
use serde_json::Value;
use {
    audit_destinations::encode_record, audit_destinations::Destination,
    audit_destinations::DestinationSettings, audit_destinations::DestinationSpec,
    audit_destinations::Format, audit_domain::export::DestinationFilter,
    audit_domain::export::ExportJob, audit_domain::export::ExportWindow,
    audit_domain::export::Outcome,
};

const DD_KEY: &str = "dd-secret-api-key-0123456789abcdef";
const HEC_TOKEN: &str = "11111111-2222-3333-4444-555555555555";
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SECRETS: [&str; 4] = [DD_KEY, HEC_TOKEN, WHSEC, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"];

fn org() -> OrgId {
    OrgId::parse(format!(
        "org_{}",
        ulid::Ulid::new().to_string().to_lowercase()
    ))
    .unwrap()
}

/// `n` valid events of a few kinds (every fifth by the system), parsed the
/// way ingest parses them.
fn events(org: &OrgId, n: usize) -> Vec<Event> {
    let now = Timestamp::now();
    let actions = [
        Action::ModelDeployed,
        Action::UserInvited,
        Action::ApiKeyCreated,
    ];
    (0..n)
        .map(|i| {
            let id = format!(
                "evt_{}_{i:05}",
                ulid::Ulid::new().to_string().to_lowercase()
            );
            let body = audit_log_tests::event(&id, actions[i % actions.len()], i % 5 == 0);
            let new = parse_event(&body, now, "").expect("valid event");
            Event::from_new(org.clone(), new, now.plus_millis(i as i64))
        })
        .collect()
}

fn ids(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.id.to_string()).collect()
}

fn destination(org: &OrgId, settings: DestinationSettings, format: Format) -> Destination {
    let now = Timestamp::now();
    Destination {
        id: Destination::new_id(),
        org_id: org.clone(),
        spec: DestinationSpec {
            name: "test".into(),
            settings,
            format,
            filter: DestinationFilter::default(),
        },
        secret_ref: None,
        secret_hint: None,
        enabled: true,
        enabled_at: Some(now),
        cursor: None,
        created_at: now,
        updated_at: now,
        status: Default::default(),
    }
}

fn datadog(url: &str) -> DestinationSettings {
    DestinationSettings::Datadog(datadog::Settings {
        site: "datadoghq.com".into(),
        service: "platform".into(),
        tags: vec!["env:test".into(), "team:security".into()],
        intake_url: Some(url.into()),
    })
}

fn splunk(url: &str) -> DestinationSettings {
    DestinationSettings::Splunk(splunk::Settings {
        url: url.into(),
        index: Some("audit".into()),
        source: "audit-log".into(),
        sourcetype: "audit_log:event".into(),
    })
}

fn hook(url: &str) -> DestinationSettings {
    DestinationSettings::Webhook(webhook::Settings { url: url.into() })
}

fn job(dest: &Destination) -> ExportJob {
    let now = Timestamp::now();
    let window = ExportWindow {
        from: now.plus_millis(-60_000),
        to: now,
    };
    ExportJob::new(dest.id.clone(), dest.org_id.clone(), window, now)
}

/// A deliverer that may reach the receivers on loopback.
async fn deliverer(timeout: Duration) -> Deliverer {
    let urls = UrlPolicy {
        allow_private: true,
    };
    Deliverer::new(&audit_aws::aws_config().await, timeout, urls)
}

fn reason(delivery: &Delivery) -> &str {
    match &delivery.outcome {
        Outcome::Delivered => "",
        Outcome::Transient(r) | Outcome::Permanent(r) => r,
    }
}

fn assert_no_secret(delivery: &Delivery) {
    for secret in SECRETS {
        assert!(
            !reason(delivery).contains(secret),
            "secret in reason: {delivery:?}"
        );
    }
}

fn assert_delivered(delivery: &Delivery, events: usize) {
    assert_eq!(delivery.outcome, Outcome::Delivered, "{delivery:?}");
    assert_eq!(delivery.events, events);
}

#[tokio::test]
async fn datadog_gets_json_arrays_with_the_api_key() {
    let receiver = Receiver::datadog(DD_KEY).await;
    let org = org();
    let dest = destination(&org, datadog(&receiver.url()), Format::Json);
    let events = events(&org, 7);

    let delivery = deliverer(Duration::from_secs(5))
        .await
        .deliver(&dest, Some(DD_KEY), &job(&dest), &events)
        .await;

    assert_delivered(&delivery, 7);
    assert_eq!(delivery.requests, 1);
    assert_eq!(receiver.rejections(), []);
    assert_eq!(receiver.accepted_ids(), ids(&events));
    let expected: Vec<Value> = events
        .iter()
        .map(|e| encode_record(e, Format::Json))
        .collect();
    assert_eq!(receiver.accepted_records(), expected);
    for entry in receiver.accepted_entries() {
        assert_eq!(entry["service"], "platform");
        assert_eq!(entry["ddsource"], "audit-log");
        assert_eq!(entry["ddtags"], "env:test,team:security");
        assert!(entry["message"].is_string());
    }
    assert!(
        receiver.user_agents().iter().all(|ua| ua == USER_AGENT),
        "{:?}",
        receiver.user_agents()
    );
    assert!(USER_AGENT.starts_with("audit-log-export/"));
}

#[tokio::test]
async fn fifteen_hundred_events_reach_datadog_in_requests_of_at_most_a_thousand() {
    let receiver = Receiver::datadog(DD_KEY).await;
    let org = org();
    let dest = destination(&org, datadog(&receiver.url()), Format::Json);
    let events = events(&org, 1500);

    let delivery = deliverer(Duration::from_secs(10))
        .await
        .deliver(&dest, Some(DD_KEY), &job(&dest), &events)
        .await;

    assert_delivered(&delivery, 1500);
    assert_eq!(delivery.requests, 2);
    assert_eq!(receiver.requests(), 2);
    assert_eq!(receiver.max_entries(), 1000);
    assert_eq!(receiver.rejections(), []);
    assert_eq!(receiver.accepted_ids(), ids(&events));
}

#[tokio::test]
async fn splunk_gets_concatenated_envelopes_with_the_token_and_epoch_seconds() {
    let receiver = Receiver::splunk(HEC_TOKEN).await;
    let org = org();
    let dest = destination(&org, splunk(&receiver.url()), Format::Json);
    let events = events(&org, 5);

    let delivery = deliverer(Duration::from_secs(5))
        .await
        .deliver(&dest, Some(HEC_TOKEN), &job(&dest), &events)
        .await;

    assert_delivered(&delivery, 5);
    assert_eq!(delivery.requests, 1);
    assert_eq!(receiver.rejections(), []);
    assert_eq!(receiver.accepted_ids(), ids(&events));
    for (envelope, event) in receiver.accepted_entries().iter().zip(&events) {
        let time = envelope["time"].as_f64().expect("numeric time");
        assert_eq!((time * 1000.0).round() as i64, event.occurred_at.millis());
        assert_eq!(envelope["index"], "audit");
        assert_eq!(envelope["source"], "audit-log");
        assert_eq!(envelope["sourcetype"], "audit_log:event");
        assert_eq!(envelope["event"], encode_record(event, Format::Json));
    }
}

#[tokio::test]
async fn webhook_signature_verifies_and_a_retry_reuses_each_webhook_id() {
    let receiver = Receiver::webhook(WHSEC).await;
    let org = org();
    let dest = destination(&org, hook(&receiver.webhook_url()), Format::Json);
    let events = events(&org, 250);
    let job = job(&dest);
    let deliverer = deliverer(Duration::from_secs(5)).await;

    receiver.fail_next(1, 503);
    let failed = deliverer.deliver(&dest, Some(WHSEC), &job, &events).await;
    assert!(
        matches!(failed.outcome, Outcome::Transient(_)),
        "{failed:?}"
    );
    assert_eq!(
        (failed.requests, failed.events),
        (1, 0),
        "stops at the first failure"
    );

    let retried = deliverer
        .deliver(&dest, Some(WHSEC), &job.retried(), &events)
        .await;
    assert_delivered(&retried, 250);
    assert_eq!(retried.requests, 3, "100 events per webhook request");
    assert_eq!(receiver.rejections(), [], "every signature verified");
    assert_eq!(receiver.accepted_ids(), ids(&events));
    let expected: Vec<String> = (0..3)
        .map(|n| message_id(&dest.id, &job.window, n))
        .collect();
    assert_eq!(
        receiver.webhook_ids(),
        [&expected[..1], &expected[..]].concat()
    );
}

#[tokio::test]
async fn a_receiver_with_another_signing_secret_refuses_and_it_is_permanent() {
    let receiver = Receiver::webhook(&webhook::generate_secret()).await;
    let org = org();
    let dest = destination(&org, hook(&receiver.webhook_url()), Format::Json);

    let delivery = deliverer(Duration::from_secs(5))
        .await
        .deliver(&dest, Some(WHSEC), &job(&dest), &events(&org, 2))
        .await;

    assert!(
        matches!(delivery.outcome, Outcome::Permanent(_)),
        "{delivery:?}"
    );
    assert!(
        reason(&delivery).contains("HTTP 401 from the webhook"),
        "{delivery:?}"
    );
    assert!(reason(&delivery).contains("signing secret"), "{delivery:?}");
    assert_no_secret(&delivery);
}

#[tokio::test]
async fn ocsf_records_are_api_activity_class_6003_with_the_base_fields() {
    let dd = Receiver::datadog(DD_KEY).await;
    let hec = Receiver::splunk(HEC_TOKEN).await;
    let wh = Receiver::webhook(WHSEC).await;
    let org = org();
    let events = events(&org, 6);
    let deliverer = deliverer(Duration::from_secs(5)).await;
    for (settings, secret, receiver) in [
        (datadog(&dd.url()), DD_KEY, &dd),
        (splunk(&hec.url()), HEC_TOKEN, &hec),
        (hook(&wh.webhook_url()), WHSEC, &wh),
    ] {
        let dest = destination(&org, settings, Format::Ocsf);
        let delivery = deliverer
            .deliver(&dest, Some(secret), &job(&dest), &events)
            .await;
        assert_delivered(&delivery, 6);
        assert_eq!(receiver.accepted_ids(), ids(&events));
        for (record, event) in receiver.accepted_records().iter().zip(&events) {
            assert_eq!(record["class_uid"], 6003);
            assert_eq!(record["category_uid"], 6);
            assert_eq!(record["metadata"]["uid"], event.id.as_str());
            assert_eq!(record["time"], event.occurred_at.millis());
            assert_eq!(record["api"]["operation"], event.action.as_str());
            for field in [
                "activity_id",
                "type_uid",
                "severity_id",
                "actor",
                "src_endpoint",
                "metadata",
            ] {
                assert!(!record[field].is_null(), "{field} missing in {record}");
            }
            assert!(record["metadata"]["version"].is_string());
            assert!(record["metadata"]["product"]["name"].is_string());
        }
    }
}

#[tokio::test]
async fn a_503_is_transient_and_a_401_permanent_for_each_http_destination() {
    let dd = Receiver::datadog(DD_KEY).await;
    let hec = Receiver::splunk(HEC_TOKEN).await;
    let wh = Receiver::webhook(WHSEC).await;
    let org = org();
    let events = events(&org, 3);
    let deliverer = deliverer(Duration::from_secs(5)).await;
    for (settings, secret, receiver, target) in [
        (datadog(&dd.url()), DD_KEY, &dd, "Datadog"),
        (splunk(&hec.url()), HEC_TOKEN, &hec, "Splunk HEC"),
        (hook(&wh.webhook_url()), WHSEC, &wh, "the webhook"),
    ] {
        let dest = destination(&org, settings, Format::Json);
        let job = job(&dest);

        receiver.fail_next(1, 503);
        let busy = deliverer.deliver(&dest, Some(secret), &job, &events).await;
        assert!(matches!(busy.outcome, Outcome::Transient(_)), "{busy:?}");
        assert!(
            reason(&busy).starts_with(&format!("HTTP 503 from {target}")),
            "{busy:?}"
        );
        assert_no_secret(&busy);

        receiver.fail_next(1, 401);
        let denied = deliverer.deliver(&dest, Some(secret), &job, &events).await;
        assert!(
            matches!(denied.outcome, Outcome::Permanent(_)),
            "{denied:?}"
        );
        assert!(
            reason(&denied).starts_with(&format!("HTTP 401 from {target}")),
            "{denied:?}"
        );
        assert_no_secret(&denied);

        let recovered = deliverer.deliver(&dest, Some(secret), &job, &events).await;
        assert_delivered(&recovered, 3);
        assert_eq!(
            receiver.accepted_ids(),
            ids(&events),
            "nothing accepted while failing"
        );
    }
}

#[tokio::test]
async fn a_503_for_a_while_then_recovery_loses_nothing() {
    let hec = Receiver::splunk(HEC_TOKEN).await;
    let org = org();
    let dest = destination(&org, splunk(&hec.url()), Format::Json);
    let events = events(&org, 20);
    let job = job(&dest);
    let deliverer = deliverer(Duration::from_secs(5)).await;

    hec.fail_until(Instant::now() + Duration::from_millis(300), 503);
    let mut attempts = vec![
        deliverer
            .deliver(&dest, Some(HEC_TOKEN), &job, &events)
            .await,
    ];
    while !attempts.last().is_some_and(|d| d.outcome.is_delivered()) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        attempts.push(
            deliverer
                .deliver(&dest, Some(HEC_TOKEN), &job, &events)
                .await,
        );
        assert!(attempts.len() < 20, "never recovered");
    }
    let first = &attempts[0];
    assert!(
        reason(first).contains("HTTP 503 from Splunk HEC")
            && reason(first).contains("Server is busy"),
        "{first:?}"
    );
    assert!(attempts[..attempts.len() - 1]
        .iter()
        .all(|d| matches!(d.outcome, Outcome::Transient(_))));
    assert_eq!(hec.accepted_ids(), ids(&events));
}

#[tokio::test]
async fn wrong_credentials_are_permanent_and_never_echoed() {
    let dd = Receiver::datadog("the-right-key-0000").await;
    let hec = Receiver::splunk("the-right-token-0000").await;
    let org = org();
    let deliverer = deliverer(Duration::from_secs(5)).await;
    let events = events(&org, 2);

    let dest = destination(&org, datadog(&dd.url()), Format::Json);
    let d = deliverer
        .deliver(&dest, Some(DD_KEY), &job(&dest), &events)
        .await;
    assert_eq!(
        d.outcome,
        Outcome::Permanent("HTTP 403 from Datadog: API key rejected; check the API key".into())
    );

    let dest = destination(&org, splunk(&hec.url()), Format::Json);
    let h = deliverer
        .deliver(&dest, Some(HEC_TOKEN), &job(&dest), &events)
        .await;
    assert_eq!(
        h.outcome,
        Outcome::Permanent(
            "HTTP 401 from Splunk HEC: Invalid token (HEC code 4); check the HEC token".into()
        )
    );
    let missing = deliverer.deliver(&dest, None, &job(&dest), &events).await;
    assert!(
        matches!(missing.outcome, Outcome::Permanent(_)),
        "{missing:?}"
    );
    assert_eq!(missing.requests, 0);
    for delivery in [&d, &h, &missing] {
        assert_no_secret(delivery);
    }
}

#[tokio::test]
async fn refused_connections_and_timeouts_are_transient() {
    let org = org();
    let events = events(&org, 2);
    let deliverer = deliverer(Duration::from_secs(1)).await;

    let dest = destination(&org, splunk(&receivers::refusing().await), Format::Json);
    let refused = deliverer
        .deliver(&dest, Some(HEC_TOKEN), &job(&dest), &events)
        .await;
    assert_eq!(
        refused.outcome,
        Outcome::Transient("could not reach Splunk HEC: connection refused".into())
    );
    assert_eq!((refused.requests, refused.events), (1, 0));

    let dest = destination(&org, datadog(&receivers::silent().await), Format::Json);
    let started = Instant::now();
    let timed_out = deliverer
        .deliver(&dest, Some(DD_KEY), &job(&dest), &events)
        .await;
    assert_eq!(
        timed_out.outcome,
        Outcome::Transient("Datadog did not answer within 1s".into())
    );
    // Without the timeout the silent receiver would hold the request open
    // for good; 10 s leaves room for a loaded machine.
    assert!(started.elapsed() < Duration::from_secs(10));

    let dest = destination(
        &org,
        hook("http://audit-receiver.invalid/hook"),
        Format::Json,
    );
    let unknown = deliverer
        .deliver(&dest, Some(WHSEC), &job(&dest), &events)
        .await;
    assert!(
        matches!(unknown.outcome, Outcome::Transient(_)),
        "{unknown:?}"
    );
    assert!(
        reason(&unknown).starts_with("could not reach the webhook"),
        "{unknown:?}"
    );
    for delivery in [&refused, &timed_out, &unknown] {
        assert_no_secret(delivery);
    }
}

#[tokio::test]
async fn redirects_are_not_followed_so_credentials_stay_put() {
    let elsewhere = Receiver::datadog(DD_KEY).await;
    let org = org();
    let redirect = receivers::redirector(&format!("{}/api/v2/logs", elsewhere.url())).await;
    let dest = destination(&org, datadog(&redirect), Format::Json);

    let delivery = deliverer(Duration::from_secs(5))
        .await
        .deliver(&dest, Some(DD_KEY), &job(&dest), &events(&org, 2))
        .await;

    assert!(
        matches!(delivery.outcome, Outcome::Permanent(_)),
        "{delivery:?}"
    );
    assert!(
        reason(&delivery).contains("redirects are not followed"),
        "{delivery:?}"
    );
    assert_eq!(elsewhere.requests(), 0);
}

#[tokio::test]
async fn send_test_delivers_one_labelled_event_to_each_http_destination() {
    let dd = Receiver::datadog(DD_KEY).await;
    let hec = Receiver::splunk(HEC_TOKEN).await;
    let wh = Receiver::webhook(WHSEC).await;
    let org = org();
    let deliverer = deliverer(Duration::from_secs(5)).await;
    for (settings, secret, receiver) in [
        (datadog(&dd.url()), DD_KEY, &dd),
        (splunk(&hec.url()), HEC_TOKEN, &hec),
        (hook(&wh.webhook_url()), WHSEC, &wh),
    ] {
        let dest = destination(&org, settings, Format::Json);
        let delivery = deliverer.send_test(&dest, Some(secret), &org).await;
        assert_delivered(&delivery, 1);
        let records = receiver.accepted_records();
        assert_eq!(records.len(), 1);
        assert!(
            records[0]["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("evt_test_")),
            "{}",
            records[0]
        );
        assert_eq!(records[0]["action"], "API_KEY_CREATED");
        assert_eq!(records[0]["resource"]["name"], TEST_RESOURCE);
        assert_eq!(records[0]["org_id"], org.as_str());
    }
}

/// Requests per 1000 events, measured at the receivers (and one S3 object
/// per job), for the report.
#[tokio::test]
async fn requests_per_thousand_events() {
    let org = org();
    let events = events(&org, 1000);
    let deliverer = deliverer(Duration::from_secs(10)).await;
    for format in [Format::Json, Format::Ocsf] {
        let dd = Receiver::datadog(DD_KEY).await;
        let hec = Receiver::splunk(HEC_TOKEN).await;
        let wh = Receiver::webhook(WHSEC).await;
        let mut counts = Vec::new();
        for (name, settings, secret, receiver) in [
            ("datadog", datadog(&dd.url()), DD_KEY, &dd),
            ("splunk", splunk(&hec.url()), HEC_TOKEN, &hec),
            ("webhook", hook(&wh.webhook_url()), WHSEC, &wh),
        ] {
            let dest = destination(&org, settings, format);
            let delivery = deliverer
                .deliver(&dest, Some(secret), &job(&dest), &events)
                .await;
            assert_delivered(&delivery, 1000);
            assert_eq!(receiver.requests(), delivery.requests as usize);
            assert_eq!(receiver.accepted_ids().len(), 1000);
            counts.push((name, receiver.requests()));
        }
        eprintln!("requests per 1000 events ({format:?}): {counts:?}, s3: 1 object per job");
        assert_eq!(counts[0].1, 1, "datadog");
        assert_eq!(counts[2].1, 10, "webhook: 100 per request");
        assert!(counts[1].1 <= 2, "splunk: ~1 MB requests");
    }
}

mod s3 {
    use super::*;
    use aws_sdk_s3::Client;

    fn require_moto() {
        assert!(
            std::env::var("AWS_ENDPOINT_URL").is_ok(),
            "AWS_ENDPOINT_URL is not set: run the suite with `make test`, which starts moto"
        );
    }

    async fn client() -> Client {
        require_moto();
        let sdk = audit_aws::aws_config().await;
        Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build(),
        )
    }

    async fn bucket(client: &Client) -> String {
        let name = format!(
            "audit-test-{}",
            ulid::Ulid::new().to_string().to_lowercase()
        );
        client
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .expect("create bucket");
        name
    }

    fn s3(bucket: &str, prefix: &str) -> DestinationSettings {
        DestinationSettings::S3(audit_destinations::s3::Settings {
            bucket: bucket.into(),
            prefix: prefix.into(),
            region: Some("us-east-1".into()),
            role_arn: None,
        })
    }

    async fn keys(client: &Client, bucket: &str) -> Vec<String> {
        let listed = client
            .list_objects_v2()
            .bucket(bucket)
            .send()
            .await
            .expect("list");
        listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect()
    }

    async fn lines(client: &Client, bucket: &str, key: &str) -> Vec<Value> {
        let object = client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .expect("get");
        assert_eq!(object.content_type(), Some("application/x-ndjson"));
        assert_eq!(object.content_encoding(), Some("gzip"));
        let gz = object.body.collect().await.expect("read").into_bytes();
        assert_eq!(&gz[..2], &[0x1f, 0x8b], "gzip magic");
        BufReader::new(GzDecoder::new(&gz[..]))
            .lines()
            .map(|l| {
                serde_json::from_str(&l.expect("utf-8 line")).expect("one JSON record per line")
            })
            .collect()
    }

    fn compact(t: Timestamp) -> String {
        t.to_datetime().format("%Y%m%dT%H%M%S%.3fZ").to_string()
    }

    #[tokio::test]
    async fn object_is_gzip_json_lines_under_the_documented_key_and_a_replay_is_a_no_op() {
        let client = client().await;
        let bucket = bucket(&client).await;
        let org = org();
        let dest = destination(&org, s3(&bucket, "audit/logs"), Format::Json);
        let events = events(&org, 1200);
        let job = job(&dest);
        let deliverer = deliverer(Duration::from_secs(10)).await;

        let first = deliverer.deliver(&dest, None, &job, &events).await;
        assert_delivered(&first, 1200);
        assert_eq!(first.requests, 1);

        let key = format!(
            "audit/logs/org={org}/dt={}/{}_{}_0.jsonl.gz",
            job.window.from.date(),
            compact(job.window.from),
            compact(job.window.to)
        );
        assert_eq!(keys(&client, &bucket).await, vec![key.clone()]);
        let records = lines(&client, &bucket, &key).await;
        let expected: Vec<Value> = events
            .iter()
            .map(|e| encode_record(e, Format::Json))
            .collect();
        assert_eq!(records, expected);

        // The same window again (a retry, a redrive, a replay): 412, a no-op.
        let replay = deliverer
            .deliver(&dest, None, &job.retried(), &events[..10])
            .await;
        assert_delivered(&replay, 10);
        assert_eq!(keys(&client, &bucket).await, vec![key.clone()]);
        assert_eq!(
            lines(&client, &bucket, &key).await.len(),
            1200,
            "the first write stands"
        );
    }

    #[tokio::test]
    async fn ocsf_objects_carry_class_6003() {
        let client = client().await;
        let bucket = bucket(&client).await;
        let org = org();
        let dest = destination(&org, s3(&bucket, ""), Format::Ocsf);
        let events = events(&org, 3);
        let delivery = deliverer(Duration::from_secs(10))
            .await
            .deliver(&dest, None, &job(&dest), &events)
            .await;
        assert_delivered(&delivery, 3);
        let keys = keys(&client, &bucket).await;
        assert_eq!(keys.len(), 1);
        assert!(keys[0].starts_with(&format!("org={org}/dt=")), "{keys:?}");
        let records = lines(&client, &bucket, &keys[0]).await;
        assert!(records.iter().all(|r| r["class_uid"] == 6003));
        let uids: Vec<String> = records.iter().map(receivers::record_id).collect();
        assert_eq!(uids, ids(&events));
    }

    #[tokio::test]
    async fn a_missing_bucket_is_permanent_and_says_so() {
        require_moto();
        let org = org();
        let dest = destination(&org, s3("no-such-bucket-for-audit", "x"), Format::Json);
        let delivery = deliverer(Duration::from_secs(10))
            .await
            .deliver(&dest, None, &job(&dest), &events(&org, 1))
            .await;
        let Outcome::Permanent(reason) = &delivery.outcome else {
            panic!("{delivery:?}");
        };
        assert!(
            reason.starts_with("HTTP 404 from S3: NoSuchBucket"),
            "{reason}"
        );
        assert_eq!(delivery.events, 0);
    }

    #[tokio::test]
    async fn send_test_writes_under_the_test_prefix() {
        let client = client().await;
        let bucket = bucket(&client).await;
        let org = org();
        let dest = destination(&org, s3(&bucket, "audit"), Format::Json);
        let delivery = deliverer(Duration::from_secs(10))
            .await
            .send_test(&dest, None, &org)
            .await;
        assert_delivered(&delivery, 1);
        let keys = keys(&client, &bucket).await;
        assert_eq!(keys.len(), 1);
        assert!(
            keys[0].starts_with(&format!("audit/_test/org={org}/")),
            "{keys:?}"
        );
        let records = lines(&client, &bucket, &keys[0]).await;
        assert_eq!(records[0]["resource"]["name"], TEST_RESOURCE);
    }
}

/// The receivers themselves hold the line: what the real services refuse,
/// they refuse, so a delivery that passes above honours the contract.
#[tokio::test]
async fn receivers_refuse_what_the_real_services_refuse() {
    let http = reqwest::Client::new();
    let post = |url: String, headers: Vec<(&'static str, String)>, body: Vec<u8>| {
        let mut request = http.post(url).body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        async move {
            request
                .send()
                .await
                .expect("receiver answers")
                .status()
                .as_u16()
        }
    };
    let json = ("content-type", "application/json".to_owned());

    let dd = Receiver::datadog(DD_KEY).await;
    let url = format!("{}/api/v2/logs", dd.url());
    let entry = serde_json::json!({"message": "{\"id\":\"evt_1\"}"});
    let key = ("dd-api-key", DD_KEY.to_owned());
    assert_eq!(
        post(url.clone(), vec![json.clone()], b"[]".to_vec()).await,
        403
    );
    let too_many = serde_json::to_vec(&vec![entry.clone(); 1001]).unwrap();
    assert_eq!(
        post(url.clone(), vec![json.clone(), key.clone()], too_many).await,
        413
    );
    let too_big = serde_json::to_vec(&vec![
        serde_json::json!({"message": "x".repeat(1_000_000)});
        6
    ])
    .unwrap();
    assert_eq!(
        post(url.clone(), vec![json.clone(), key.clone()], too_big).await,
        413
    );
    assert_eq!(
        post(url.clone(), vec![json.clone(), key.clone()], b"{}".to_vec()).await,
        400
    );
    let one = serde_json::to_vec(&vec![entry]).unwrap();
    assert_eq!(post(url, vec![json.clone(), key], one).await, 202);

    let hec = Receiver::splunk(HEC_TOKEN).await;
    let url = format!("{}/services/collector/event", hec.url());
    let auth = ("authorization", format!("Splunk {HEC_TOKEN}"));
    let seconds = br#"{"time":1795858200.123,"event":{"id":"evt_1"}}{"time":1795858201,"event":{"id":"evt_2"}}"#;
    let millis = br#"{"time":1795858200123,"event":{"id":"evt_1"}}"#;
    let string_time = br#"{"time":"1795858200.123","event":{"id":"evt_1"}}"#;
    let no_event = br#"{"time":1795858200.123}"#;
    assert_eq!(post(url.clone(), vec![], seconds.to_vec()).await, 401);
    assert_eq!(
        post(
            url.clone(),
            vec![("authorization", "Bearer x".into())],
            seconds.to_vec()
        )
        .await,
        401
    );
    for bad in [&millis[..], &string_time[..], &no_event[..], b"not json"] {
        assert_eq!(
            post(url.clone(), vec![auth.clone()], bad.to_vec()).await,
            400
        );
    }
    assert_eq!(post(url, vec![auth], seconds.to_vec()).await, 200);
    assert_eq!(hec.accepted_ids(), ["evt_1", "evt_2"]);

    let wh = Receiver::webhook(WHSEC).await;
    let body = br#"{"type":"audit_log.events","timestamp":"2026-11-28T09:00:00.000Z","data":[{"id":"evt_1"}]}"#;
    let now = Timestamp::now().epoch_seconds();
    let signed =
        |ts: i64, body: &[u8]| webhook::headers(WHSEC, "msg_1", ts, body).unwrap().to_vec();
    assert_eq!(post(wh.webhook_url(), vec![], body.to_vec()).await, 401);
    let mut tampered = signed(now, body);
    tampered[2].1 = signed(now, b"{}")[2].1.clone();
    assert_eq!(post(wh.webhook_url(), tampered, body.to_vec()).await, 401);
    assert_eq!(
        post(wh.webhook_url(), signed(now - 600, body), body.to_vec()).await,
        401,
        "stale timestamp"
    );
    assert_eq!(
        post(
            format!("{}/elsewhere", wh.url()),
            signed(now, body),
            body.to_vec()
        )
        .await,
        404
    );
    assert_eq!(
        post(wh.webhook_url(), signed(now, body), body.to_vec()).await,
        200
    );
    assert_eq!(wh.accepted_ids(), ["evt_1"]);
}
