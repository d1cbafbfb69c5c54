//! The IAM check's flows (`scripts/iam-check.sh`): each test runs one Lambda
//! function's real flow with that function's role credentials in the
//! environment, against a moto_server that enforces IAM. Set-up (tables, an
//! org, keys) uses the admin credentials the script passes in
//! `IAMCHECK_ADMIN_ACCESS_KEY_ID` / `IAMCHECK_ADMIN_SECRET_ACCESS_KEY`.
//! The tests are `#[ignore]`d: outside the script there is no enforcing moto.
//!
//! S3 destinations: the script also makes, per flow, a bucket
//! (`IAMCHECK_S3_BUCKET`) and a role standing for the customer's
//! (`IAMCHECK_S3_ROLE_ARN`, allowed `s3:PutObject` into that bucket only);
//! the function's role assumes it through moto's STS, as in a deployment.

use audit_aws::store::{ApiKeyRecord, LateMark, OrgSettings, Store, Tables};
use audit_domain::auth::{generate_key, key_hash, Role};
use audit_domain::catalog::Action;
use audit_domain::export::retry::RetryPolicy;
use audit_domain::ids::{EventId, OrgId};
use audit_domain::time::Timestamp;
use std::time::Duration;

use audit_aws::queue::ExportQueue;
use audit_aws::secrets::SecretStore;
use audit_destinations::webhook;
use audit_log_tests::receivers::Receiver;
use audit_log_tests::{event, Stack};
use serde_json::{json, Value};

fn admin_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run scripts/iam-check.sh"))
}

/// A store with the script's admin credentials, for set-up only.
async fn admin_store() -> Store {
    let creds = aws_sdk_dynamodb::config::Credentials::new(
        admin_env("IAMCHECK_ADMIN_ACCESS_KEY_ID"),
        admin_env("IAMCHECK_ADMIN_SECRET_ACCESS_KEY"),
        None,
        None,
        "iamcheck-admin",
    );
    let sdk = audit_aws::aws_config().await;
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .credentials_provider(creds)
        .build();
    let store = Store::new(
        aws_sdk_dynamodb::Client::from_conf(config),
        Tables::from_env(),
    );
    store.ensure_tables().await.expect("create tables (admin)");
    store
}

async fn org_and_key(admin: &Store, role: Role) -> (OrgId, String) {
    let org = OrgId::parse(format!(
        "iam-{}",
        ulid::Ulid::new().to_string().to_lowercase()
    ))
    .expect("org id");
    admin
        .put_org_settings(
            &org,
            OrgSettings {
                uses_teams: false,
                retention_days: audit_domain::retention::RetentionDays::DEFAULT,
            },
        )
        .await
        .expect("org settings (admin)");
    let key = generate_key();
    let hash = key_hash(&key);
    admin
        .put_key(&ApiKeyRecord {
            key_id: format!("key_{}", &hash[..16]),
            key_hash: hash,
            org_id: org.clone(),
            role,
            name: "iamcheck".into(),
            created_at: Timestamp::now(),
            revoked_at: None,
        })
        .await
        .expect("put key (admin)");
    (org, key)
}

/// The ingest function's flow: write events (new, duplicate) with its role.
#[tokio::test]
#[ignore = "run by scripts/iam-check.sh against an IAM-enforcing moto"]
async fn ingest_flow() {
    let admin = admin_store().await;
    let (_org, key) = org_and_key(&admin, Role::Ingest).await;
    let s = Stack::serve_prepared(auditctl::store_from_env().await.expect("store")).await;
    let e = event("evt_iam_1", Action::ModelDeployed, false);
    let (status, body) = s.post(&key, &e).await;
    assert!(status < 300, "ingest write: {status} {body}");
    let (status, body) = s.post(&key, &e).await;
    assert!(status < 300, "ingest duplicate: {status} {body}");
}

/// The query function's flow: a search and a read by id with its role.
#[tokio::test]
#[ignore = "run by scripts/iam-check.sh against an IAM-enforcing moto"]
async fn query_flow() {
    let admin = admin_store().await;
    let (org, key) = org_and_key(&admin, Role::Admin).await;
    // A sealed event (set up as admin), so that free text is served by the
    // term summaries: their marker, the chain head, the summaries, a run
    // on by_time and the unsealed tail on by_recorded.
    let role = as_admin();
    let (queue, dlq) = queues().await;
    let admin_app = export_app(&queue, &dlq, tick_config()).await;
    let now = Timestamp::now();
    let new = audit_domain::validate::parse_event(
        &event("evt_iam_sealed", Action::ALL[0], false),
        now,
        "",
    )
    .expect("event");
    let sealed_event = audit_domain::event::Event::from_new(org.clone(), new, now);
    admin_app
        .store
        .put_event(
            &sealed_event,
            audit_domain::retention::RetentionDays::DEFAULT,
        )
        .await
        .expect("event (admin)");
    let sealed = export::seal(&admin_app, now.plus_millis(180_000)).await;
    assert_eq!(sealed.errors, 0, "{sealed:?}");
    assert!(sealed.digests >= 1, "{sealed:?}");
    role.restore();

    let s = Stack::serve_prepared(auditctl::store_from_env().await.expect("store")).await;
    let (status, body) = s.get(Some(&key), "/v1/events?limit=10").await;
    assert_eq!(status, 200, "search: {body}");
    let (status, body) = s.get(Some(&key), "/v1/events?q=lovelace").await;
    assert_eq!(status, 200, "free text through the summaries: {body}");
    assert_eq!(body["events"][0]["id"], "evt_iam_sealed", "{body}");
    let (status, body) = s.get(Some(&key), "/v1/events/evt_iam_missing").await;
    assert_eq!(status, 404, "read by id: {body}");
}

// ---- the export functions and the query function's deliveries ------------------------------
//
// These flows set up through the HTTP API and the SDK with the admin
// credentials put in the process environment (`as_admin`), then put the
// role's credentials back (`RoleEnv::restore`) and build every client the
// flow uses afresh, so that each call of the flow is made with the role.

/// The role credentials the script put in the environment.
struct RoleEnv(Vec<(&'static str, String)>);

const CREDENTIAL_VARS: [&str; 3] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

/// Switches the process environment to the admin credentials, for set-up.
fn as_admin() -> RoleEnv {
    let saved = CREDENTIAL_VARS.iter().map(|v| (*v, admin_env(v))).collect();
    std::env::set_var(
        "AWS_ACCESS_KEY_ID",
        admin_env("IAMCHECK_ADMIN_ACCESS_KEY_ID"),
    );
    std::env::set_var(
        "AWS_SECRET_ACCESS_KEY",
        admin_env("IAMCHECK_ADMIN_SECRET_ACCESS_KEY"),
    );
    std::env::remove_var("AWS_SESSION_TOKEN");
    RoleEnv(saved)
}

impl RoleEnv {
    /// Back to the role: clients built from here on call with it.
    fn restore(self) {
        for (var, value) in self.0 {
            std::env::set_var(var, value);
        }
    }
}

/// Queues of this flow's own (created as admin), their URLs in the
/// environment as the template sets them for the functions.
async fn queues() -> (String, String) {
    let sdk = audit_aws::aws_config().await;
    let run = ulid::Ulid::new().to_string().to_lowercase();
    let (queue, dlq) = ExportQueue::ensure_named(
        &aws_sdk_sqs::Client::new(&sdk),
        // Named as scripts/iam_check.py's QUEUES expects.
        &format!("iamcheck-jobs-{run}"),
        &format!("iamcheck-dlq-{run}"),
    )
    .await
    .expect("create queues (admin)");
    std::env::set_var("AUDIT_EXPORT_QUEUE_URL", &queue);
    std::env::set_var("AUDIT_EXPORT_DLQ_URL", &dlq);
    (queue, dlq)
}

/// The export app as the functions build it, with the credentials now in
/// the environment; destination URLs may be loopback (the receivers).
async fn export_app(queue: &str, dlq: &str, config: export::ExportConfig) -> export::ExportApp {
    let sdk = audit_aws::aws_config().await;
    export::ExportApp {
        store: auditctl::store_from_env().await.expect("store"),
        queue: ExportQueue::new(
            aws_sdk_sqs::Client::new(&sdk),
            queue.to_string(),
            dlq.to_string(),
        ),
        secrets: SecretStore::from_env(&sdk),
        deliverer: audit_destinations::deliver::Deliverer::new(
            &sdk,
            Duration::from_secs(5),
            audit_destinations::UrlPolicy {
                allow_private: true,
            },
        ),
        config,
        reads: Default::default(),
    }
}

/// No lag, one-minute digest periods: a tick five minutes on finds the
/// flow's events in a closed window and a closed period.
fn tick_config() -> export::ExportConfig {
    export::ExportConfig {
        lag_ms: 0,
        max_window_ms: 3_600_000,
        digest_period_ms: 60_000,
        ..export::ExportConfig::default()
    }
}

async fn key_for(admin: &Store, org: &OrgId, role: Role) -> String {
    let key = generate_key();
    let hash = key_hash(&key);
    admin
        .put_key(&ApiKeyRecord {
            key_id: format!("key_{}", &hash[..16]),
            key_hash: hash,
            org_id: org.clone(),
            role,
            name: "iamcheck".into(),
            created_at: Timestamp::now(),
            revoked_at: None,
        })
        .await
        .expect("put key (admin)");
    key
}

async fn call(s: &Stack, key: &str, path: &str, body: &Value) -> (u16, Value) {
    let r = s
        .http
        .post(format!("{}{path}", s.base))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .expect("POST");
    (
        r.status().as_u16(),
        r.json::<Value>().await.unwrap_or(Value::Null),
    )
}

async fn request(s: &Stack, method: &str, key: &str, path: &str, body: &Value) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let r = s
        .http
        .request(method, format!("{}{path}", s.base))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .expect("request");
    (
        r.status().as_u16(),
        r.json::<Value>().await.unwrap_or(Value::Null),
    )
}

/// This flow's bucket and the customer-side role that may write to it.
fn s3_target() -> (String, String) {
    (
        admin_env("IAMCHECK_S3_BUCKET"),
        admin_env("IAMCHECK_S3_ROLE_ARN"),
    )
}

/// The keys in this flow's bucket, read with the admin credentials.
async fn bucket_keys(bucket: &str) -> Vec<String> {
    admin_s3()
        .await
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .expect("list the bucket (admin)")
        .contents
        .unwrap_or_default()
        .into_iter()
        .filter_map(|o| o.key)
        .collect()
}

/// S3 with the admin credentials.
async fn admin_s3() -> aws_sdk_s3::Client {
    let creds = aws_sdk_s3::config::Credentials::new(
        admin_env("IAMCHECK_ADMIN_ACCESS_KEY_ID"),
        admin_env("IAMCHECK_ADMIN_SECRET_ACCESS_KEY"),
        None,
        None,
        "iamcheck-admin",
    );
    let sdk = audit_aws::aws_config().await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .credentials_provider(creds)
            .force_path_style(true)
            .build(),
    )
}

/// An S3 destination body for this flow's bucket, through its role.
fn s3_destination(prefix: &str) -> Value {
    let (bucket, role) = s3_target();
    json!({"name": "lake", "type": "s3", "settings": {"bucket": bucket, "prefix": prefix, "role_arn": role}})
}

/// As admin: an org with a webhook destination to `hook`, an S3 destination
/// (this flow's bucket and role, under `s3_prefix`) if asked, and `n` events
/// recorded after they were enabled. Returns the org and the destinations' ids.
async fn org_with_destinations(
    hook: &Receiver,
    secret: &str,
    n: usize,
    s3_prefix: Option<&str>,
) -> (OrgId, String, Option<String>) {
    let admin = admin_store().await;
    let (org, admin_key) = org_and_key(&admin, Role::Admin).await;
    let ingest_key = key_for(&admin, &org, Role::Ingest).await;
    let s = Stack::serve_prepared(auditctl::store_from_env().await.expect("store")).await;
    let (status, dest) = call(
        &s,
        &admin_key,
        "/v1/destinations",
        &json!({"name": "hook", "type": "webhook", "settings": {"url": hook.webhook_url()}, "secret": secret}),
    )
    .await;
    assert_eq!(status, 201, "create destination (admin): {dest}");
    let mut s3 = None;
    if let Some(prefix) = s3_prefix {
        let (status, lake) =
            call(&s, &admin_key, "/v1/destinations", &s3_destination(prefix)).await;
        assert_eq!(status, 201, "create the S3 destination (admin): {lake}");
        s3 = Some(lake["id"].as_str().expect("destination id").to_string());
    }
    for i in 0..n {
        let e = event(&format!("evt_iam_x{i}"), Action::ModelDeployed, false);
        let (status, body) = s.post(&ingest_key, &e).await;
        assert!(status < 300, "ingest (admin): {status} {body}");
    }
    let id = dest["id"].as_str().expect("destination id").to_string();
    (org, id, s3)
}

async fn org_with_webhook(hook: &Receiver, secret: &str, n: usize) -> (OrgId, String) {
    let (org, id, _) = org_with_destinations(hook, secret, n, None).await;
    (org, id)
}

/// The scheduler function's flow: a tick (`export::schedule`) with sealing
/// (list destinations by `by_tick`, send window jobs, advance cursors, read
/// the signing key, write digests and, through the S3 destination's role,
/// digest files and the public key into its bucket); then the operator
/// rotates the signing key (`auditctl signing-key rotate`, with operator
/// credentials: here the admin's) and the next tick seals with the new key.
#[tokio::test]
#[ignore = "run by scripts/iam-check.sh against an IAM-enforcing moto"]
async fn scheduler_flow() {
    let role = as_admin();
    let (queue, dlq) = queues().await;
    let secret = webhook::generate_secret();
    let hook = Receiver::webhook(&secret).await;
    let (org, _, _) = org_with_destinations(&hook, &secret, 2, Some("audit")).await;
    let admin_app = export_app(&queue, &dlq, tick_config()).await;
    let key_name = audit_domain::integrity::signing::secret_name_from_env();
    audit_aws::signing::create(
        &admin_app.secrets,
        &key_name,
        &audit_domain::integrity::signing::Signer::generate(),
    )
    .await
    .expect("signing key secret (admin)");
    // The stage's checkpoint bucket, as the template creates it.
    let checkpoints = format!("iamcheck-checkpoints-{}", org.as_str().replace('_', "-"));
    audit_log_tests::create_locked_bucket(&admin_s3().await, &checkpoints).await;
    let config = || export::ExportConfig {
        checkpoint_bucket: Some(checkpoints.clone()),
        ..tick_config()
    };
    role.restore();

    let app = export_app(&queue, &dlq, config()).await;
    let t0 = Timestamp::now();
    let scheduled = export::schedule(&app, t0.plus_millis(300_000)).await;
    assert_eq!(scheduled.errors, 0, "{scheduled:?}");
    assert!(
        scheduled.windows >= 2,
        "a window job for each destination was sent: {scheduled:?}"
    );
    // The tick ends with sealing (`schedule` runs it).
    let sealed = &scheduled.seal;
    assert_eq!(sealed.errors, 0, "{sealed:?}");
    assert!(sealed.digests >= 1, "digests were written: {sealed:?}");
    let (bucket, _) = s3_target();
    let digests = audit_domain::integrity::digests_prefix("audit", &org);
    let keys = audit_domain::integrity::public_keys_prefix("audit", &org);
    let written = bucket_keys(&bucket).await;
    assert!(
        written
            .iter()
            .any(|k| k.starts_with(&digests) && !k.starts_with(&keys)),
        "a digest file in the S3 destination's bucket: {written:?}"
    );
    let published = bucket_keys(&checkpoints).await;
    let prefix = audit_domain::integrity::checkpoints_prefix("", &org);
    assert!(
        published.iter().any(|k| k.starts_with(&prefix)),
        "a checkpoint published to the locked bucket: {published:?}"
    );

    // The operator rotates the key (operator credentials), ...
    let operator = as_admin();
    let (old, new) = audit_aws::signing::rotate(
        &export_app(&queue, &dlq, tick_config()).await.secrets,
        &admin_store().await,
        &key_name,
    )
    .await
    .expect("rotate the signing key (operator)");
    // A late write (straight into the table) and its mark, as the arrivals
    // function puts it: the next tick settles it by re-stamping the event.
    let admin = admin_store().await;
    let on_time = admin
        .get_event(&org, &EventId::parse("evt_iam_x0").expect("id"))
        .await
        .expect("read an event (admin)")
        .expect("stored");
    let late = audit_domain::event::Event {
        id: EventId::parse("evt_iam_late").expect("id"),
        recorded_at: on_time.recorded_at.plus_millis(1),
        ..on_time
    };
    admin
        .put_event(&late, audit_domain::retention::RetentionDays::DEFAULT)
        .await
        .expect("a late write (admin)");
    admin
        .put_late_mark(&LateMark {
            org: org.clone(),
            id: late.id.clone(),
            rts: format!("{}#{}", late.recorded_at.sort_key(), late.id),
            written_at: Timestamp::now(),
        })
        .await
        .expect("its mark (admin)");
    operator.restore();
    // ... and the next tick, a fresh process, reads and signs with the new
    // one, and settles the late write.
    let app = export_app(&queue, &dlq, config()).await;
    let scheduled = export::schedule(&app, t0.plus_millis(600_000)).await;
    assert_eq!(scheduled.errors, 0, "{scheduled:?}");
    assert_eq!(
        (scheduled.late.restamped, scheduled.late.errors),
        (1, 0),
        "{:?}",
        scheduled.late
    );
    assert_eq!(scheduled.seal.errors, 0, "{:?}", scheduled.seal);
    assert!(scheduled.seal.digests >= 1, "{:?}", scheduled.seal);
    let written = bucket_keys(&bucket).await;
    for (id, what) in [(&old, "old"), (&new, "new")] {
        let key = audit_domain::integrity::public_key_object_key("audit", &org, id);
        assert!(
            written.contains(&key),
            "the {what} key's public key {key} beside the digests: {written:?}"
        );
    }
}

/// The arrivals function's flow: a batch of the events stream's inserts
/// (`export::handle_stream_event`) with one late write, which gets its mark
/// (one PutItem). The stream's own reads are Lambda's, with this role.
#[tokio::test]
#[ignore = "run by scripts/iam-check.sh against an IAM-enforcing moto"]
async fn arrivals_flow() {
    let admin = admin_store().await;
    let (org, _) = org_and_key(&admin, Role::Admin).await;
    let store = auditctl::store_from_env().await.expect("store");
    let stamped = Timestamp::now().plus_millis(-3_600_000);
    let record = |id: &str, written_at: Timestamp| {
        json!({
            "eventID": id,
            "eventName": "INSERT",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "ApproximateCreationDateTime": written_at.epoch_seconds(),
                "Keys": {"PK": {"S": format!("ORG#{org}")}, "SK": {"S": format!("EVT#{id}")}},
                "NewImage": {
                    "PK": {"S": format!("ORG#{org}")},
                    "SK": {"S": format!("EVT#{id}")},
                    "rts": {"S": format!("{}#{id}", stamped.sort_key())},
                },
                "SequenceNumber": "1",
                "SizeBytes": 100,
                "StreamViewType": "NEW_IMAGE",
            },
        })
    };
    let batch = json!({"Records": [
        record("evt_iam_on_time", stamped.plus_millis(1_000)),
        record("evt_iam_late", Timestamp::now()),
    ]});
    let late_after = export::late_after_ms(export::LAG_FLOOR_MS);
    let handled = export::handle_stream_event(&store, batch, late_after)
        .await
        .expect("the stream batch, with the arrivals role");
    assert_eq!(handled, json!({"records": 2, "late": 1}));
    let marks = admin.late_marks(1000).await.expect("marks (admin)");
    assert!(
        marks
            .iter()
            .any(|m| m.org == org && m.id.as_str() == "evt_iam_late"),
        "{marks:?}"
    );
}

/// An SQS client with the admin credentials set explicitly: it stays admin
/// whatever the environment says later.
async fn admin_sqs() -> aws_sdk_sqs::Client {
    let creds = aws_sdk_sqs::config::Credentials::new(
        admin_env("IAMCHECK_ADMIN_ACCESS_KEY_ID"),
        admin_env("IAMCHECK_ADMIN_SECRET_ACCESS_KEY"),
        None,
        None,
        "iamcheck-admin",
    );
    let sdk = audit_aws::aws_config().await;
    aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&sdk)
            .credentials_provider(creds)
            .build(),
    )
}

/// What Lambda's SQS event source mapping does around the worker, with the
/// role: receive a batch, hand it over as an SQS event, delete the messages
/// the answer does not report failed. Returns the answer and the batch size.
async fn work_batch(
    app: &export::ExportApp,
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
) -> (Value, usize) {
    let received = sqs
        .receive_message()
        .queue_url(queue)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("receive (role)");
    let messages = received.messages.unwrap_or_default();
    assert!(!messages.is_empty(), "a job is on the queue");
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            json!({
                "messageId": m.message_id,
                "receiptHandle": m.receipt_handle,
                "body": m.body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": Timestamp::now().millis().to_string()},
                "messageAttributes": {},
                "md5OfBody": m.md5_of_body,
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:iamcheck",
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    let answer = export::handle_jobs_event(app, json!({ "Records": records }))
        .await
        .expect("the batch is handled");
    let failed: Vec<&str> = answer["batchItemFailures"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["itemIdentifier"].as_str())
        .collect();
    for m in &messages {
        if failed.contains(&m.message_id.as_deref().unwrap_or_default()) {
            continue;
        }
        sqs.delete_message()
            .queue_url(queue)
            .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
            .send()
            .await
            .expect("delete (role)");
    }
    (answer, messages.len())
}

/// The export worker's flow: an SQS batch whose delivery fails and backs
/// off (visibility), is retried and delivered to a webhook (destination
/// secret, status, cursor), then a replayed job past its deadline is
/// dead-lettered (a send to the DLQ). Redrive (DLQ to queue) is the
/// operator's, through `auditctl export redrive` with operator credentials
/// (here the admin's); the worker then delivers the redriven job with its role.
#[tokio::test]
#[ignore = "run by scripts/iam-check.sh against an IAM-enforcing moto"]
async fn worker_flow() {
    let role = as_admin();
    let (queue, dlq) = queues().await;
    let secret = webhook::generate_secret();
    let hook = Receiver::webhook(&secret).await;
    let (org, dest) = org_with_webhook(&hook, &secret, 3).await;
    // The scheduler's part, as admin: a window job on the queue.
    let admin_app = export_app(&queue, &dlq, tick_config()).await;
    let scheduled = export::schedule(&admin_app, Timestamp::now().plus_millis(300_000)).await;
    role.restore();
    assert_eq!(scheduled.windows, 1, "a job to work: {scheduled:?}");

    // Backoff at once (zero seconds), so the retry is received in this flow.
    let retry_now = RetryPolicy {
        base_secs: 0,
        max_secs: 0,
        ..RetryPolicy::default()
    };
    let app = export_app(
        &queue,
        &dlq,
        export::ExportConfig {
            retry: retry_now,
            ..tick_config()
        },
    )
    .await;
    let sqs = aws_sdk_sqs::Client::new(&audit_aws::aws_config().await);
    hook.fail_next(1, 503);
    let (answer, n) = work_batch(&app, &sqs, &queue).await;
    assert_eq!(
        answer["batchItemFailures"].as_array().map(Vec::len),
        Some(n),
        "a failed delivery is retried: {answer}"
    );
    let (answer, _) = work_batch(&app, &sqs, &queue).await;
    assert_eq!(
        answer,
        json!({"batchItemFailures": []}),
        "the retry settled"
    );
    // The window holds the flow's events and the destination's own
    // self-audit event (destination created).
    let delivered = hook.accepted_ids();
    for i in 0..3 {
        let id = format!("evt_iam_x{i}");
        assert!(delivered.contains(&id), "{id} delivered: {delivered:?}");
    }

    // A replayed window whose delivery fails past the retry deadline.
    let now = Timestamp::now();
    let window = audit_domain::export::ExportWindow {
        from: now.plus_millis(-600_000),
        to: now,
    };
    let replayer = export::ExportApp {
        store: admin_store().await,
        queue: ExportQueue::new(admin_sqs().await, queue.clone(), dlq.clone()),
        ..export_app(&queue, &dlq, tick_config()).await
    };
    export::replay(&replayer, &org, &dest, window, now)
        .await
        .expect("replay (admin)");
    let dead_app = export_app(
        &queue,
        &dlq,
        export::ExportConfig {
            retry: RetryPolicy {
                deadline_secs: 0,
                ..RetryPolicy::default()
            },
            ..tick_config()
        },
    )
    .await;
    hook.fail_next(1, 503);
    let (answer, _) = work_batch(&dead_app, &sqs, &queue).await;
    assert_eq!(
        answer,
        json!({"batchItemFailures": []}),
        "dead-lettered, so settled"
    );
    let admin_queue = ExportQueue::new(admin_sqs().await, queue.clone(), dlq.clone());
    assert_eq!(
        admin_queue.dlq_depth().await.expect("DLQ depth (admin)"),
        1,
        "the job is in the DLQ"
    );

    // The operator redrives it (`auditctl export redrive`, operator
    // credentials: the admin's; it takes the org's record of the job), the
    // worker delivers it.
    let operator = as_admin();
    let operator_app = export_app(&queue, &dlq, tick_config()).await;
    let redriven = export::redrive_dlq(&operator_app, None, Timestamp::now())
        .await
        .expect("redrive (operator)");
    operator.restore();
    assert_eq!(redriven.moved.len(), 1, "one job redriven: {redriven:?}");
    let before = hook.accepted_requests();
    let (answer, _) = work_batch(&app, &sqs, &queue).await;
    assert_eq!(
        answer,
        json!({"batchItemFailures": []}),
        "the redriven job settled"
    );
    assert!(
        hook.accepted_requests() > before,
        "the redriven window was delivered"
    );
}

/// The export worker's S3 flow: a window job for an S3 destination is
/// delivered by assuming the destination's role (`sts:AssumeRole`, the org
/// as external id) and a conditional `s3:PutObject` with its credentials.
#[tokio::test]
#[ignore = "run by scripts/iam-check.sh against an IAM-enforcing moto"]
async fn worker_s3_flow() {
    let role = as_admin();
    let (queue, dlq) = queues().await;
    let secret = webhook::generate_secret();
    let hook = Receiver::webhook(&secret).await;
    let (org, _, lake) = org_with_destinations(&hook, &secret, 2, Some("audit")).await;
    let lake = lake.expect("an S3 destination");
    // The scheduler's part, as admin: the S3 destination's window job. (Not
    // a tick: the tables are shared by every flow, and a tick would cut
    // windows for earlier flows' destinations, whose receivers are gone.)
    let now = Timestamp::now();
    let window = audit_domain::export::ExportWindow {
        from: now.plus_millis(-600_000),
        to: now,
    };
    ExportQueue::new(admin_sqs().await, queue.clone(), dlq.clone())
        .send(&audit_domain::export::ExportJob::new(
            lake.clone(),
            org.clone(),
            window,
            now,
        ))
        .await
        .expect("send the job (admin)");
    role.restore();

    let app = export_app(&queue, &dlq, tick_config()).await;
    let sqs = aws_sdk_sqs::Client::new(&audit_aws::aws_config().await);
    let (answer, n) = work_batch(&app, &sqs, &queue).await;
    assert_eq!(n, 1, "one job");
    assert_eq!(answer, json!({"batchItemFailures": []}), "delivered");
    let (bucket, _) = s3_target();
    let written = bucket_keys(&bucket).await;
    let events = format!("audit/org={org}/");
    assert!(
        written
            .iter()
            .any(|k| k.starts_with(&events) && !k.contains("/digests/")),
        "the window's object for {lake} in the bucket: {written:?}"
    );
}

/// The query app as the query function builds it, with the credentials now
/// in the environment, its replays going to this flow's queue.
async fn query_stack(queue: String, dlq: String) -> Stack {
    let sdk = audit_aws::aws_config().await;
    let replays = ExportQueue::new(aws_sdk_sqs::Client::new(&sdk), queue, dlq);
    Stack::serve_prepared_with(
        auditctl::store_from_env().await.expect("store"),
        Some(replays),
    )
    .await
}

async fn create(s: &Stack, key: &str, body: &Value) -> String {
    let (status, dest) = call(s, key, "/v1/destinations", body).await;
    assert_eq!(status, 201, "create destination {}: {dest}", body["type"]);
    dest["id"].as_str().expect("destination id").to_string()
}

/// `POST /v1/destinations/{id}/test`: the answer's `delivered`.
async fn test_delivery(s: &Stack, key: &str, id: &str) -> Value {
    let (status, answer) = call(s, key, &format!("/v1/destinations/{id}/test"), &Value::Null).await;
    assert_eq!(status, 200, "test delivery of {id}: {answer}");
    answer
}

/// The query function's delivery flow: create a destination of each type
/// (webhook, Datadog and Splunk with their secrets, S3 through the
/// customer's role), send each a test event (reading the secret back; for
/// S3 assuming the destination's role and writing under `_test/` with its
/// credentials), and replay a window (a queued job, `sqs:SendMessage`).
#[tokio::test]
#[ignore = "run by scripts/iam-check.sh against an IAM-enforcing moto"]
async fn query_test_delivery_flow() {
    let role = as_admin();
    let (queue, dlq) = queues().await;
    let admin = admin_store().await;
    let (_org, key) = org_and_key(&admin, Role::Admin).await;
    role.restore();

    let s = query_stack(queue, dlq).await;
    let run = ulid::Ulid::new().to_string().to_lowercase();
    let secret = webhook::generate_secret();
    let hook = Receiver::webhook(&secret).await;
    let dd_key = format!("dd-key-{run}");
    let datadog = Receiver::datadog(&dd_key).await;
    let hec = format!("hec-token-{run}");
    let splunk = Receiver::splunk(&hec).await;
    let receivers = [
        (
            json!({"name": "hook", "type": "webhook", "settings": {"url": hook.webhook_url()}, "secret": secret}),
            Some(&hook),
        ),
        (
            json!({"name": "dd", "type": "datadog", "settings": {"site": "datadoghq.com", "intake_url": datadog.url()}, "secret": dd_key}),
            Some(&datadog),
        ),
        (
            json!({"name": "hec", "type": "splunk", "settings": {"url": splunk.url()}, "secret": hec}),
            Some(&splunk),
        ),
        (s3_destination("audit"), None),
    ];
    let mut webhook_id = String::new();
    for (body, receiver) in receivers {
        let id = create(&s, &key, &body).await;
        let answer = test_delivery(&s, &key, &id).await;
        assert_eq!(answer["delivered"], true, "{} test: {answer}", body["type"]);
        match receiver {
            Some(r) => assert_eq!(
                r.accepted_requests(),
                1,
                "{} got the test event",
                body["type"]
            ),
            None => {
                let (bucket, _) = s3_target();
                let written = bucket_keys(&bucket).await;
                assert!(
                    written.iter().any(|k| k.starts_with("audit/_test/")),
                    "the S3 test object under audit/_test/: {written:?}"
                );
            }
        }
        if body["type"] == "webhook" {
            webhook_id = id;
        }
    }
    let to = Timestamp::now();
    let from = to.plus_millis(-60_000);
    let (status, answer) = call(
        &s,
        &key,
        &format!("/v1/destinations/{webhook_id}/replay"),
        &json!({"from": from.to_rfc3339(), "to": to.to_rfc3339()}),
    )
    .await;
    assert_eq!(status, 202, "replay: {answer}");
}

/// The query function's destination changes: a secret rotation (a PATCH
/// with a new secret: `CreateSecret` finds it, `PutSecretValue` replaces
/// it; a test delivery then signs with the new one), the listing, a PATCH
/// that disables, and a delete (`DeleteSecret` with a recovery window). Deleting a secret
/// already scheduled for deletion (a retried delete) asks `DescribeSecret`
/// whether it is, and counts as done.
#[tokio::test]
#[ignore = "run by scripts/iam-check.sh against an IAM-enforcing moto"]
async fn query_destination_changes_flow() {
    let role = as_admin();
    let (queue, dlq) = queues().await;
    let admin = admin_store().await;
    let (org, key) = org_and_key(&admin, Role::Admin).await;
    role.restore();

    let s = query_stack(queue, dlq).await;
    let first = webhook::generate_secret();
    let hook = Receiver::webhook(&first).await;
    let id = create(
        &s,
        &key,
        &json!({"name": "hook", "type": "webhook", "settings": {"url": hook.webhook_url()}, "secret": first}),
    )
    .await;
    let path = format!("/v1/destinations/{id}");

    // Rotation: a new secret for a receiver that only accepts it.
    let second = webhook::generate_secret();
    let rotated = Receiver::webhook(&second).await;
    let (status, patched) = request(
        &s,
        "PATCH",
        &key,
        &path,
        &json!({"settings": {"url": rotated.webhook_url()}, "secret": second}),
    )
    .await;
    assert_eq!(status, 200, "rotate the secret: {patched}");
    let answer = test_delivery(&s, &key, &id).await;
    assert_eq!(
        answer["delivered"], true,
        "signed with the new secret: {answer}"
    );
    assert_eq!(
        rotated.accepted_requests(),
        1,
        "the new receiver verified it"
    );

    let (status, listed) = s.get(Some(&key), "/v1/destinations").await;
    assert_eq!(status, 200, "list destinations: {listed}");
    assert!(
        listed.to_string().contains(&id),
        "the list has it: {listed}"
    );

    // A dead-lettered job (its record as the worker writes it, admin) is
    // redriven from the API: the record taken, the job sent again.
    let now = Timestamp::now();
    let window = audit_domain::export::ExportWindow {
        from: now.plus_millis(-120_000),
        to: now.plus_millis(-60_000),
    };
    let dead = audit_domain::export::ExportJob::new(id.clone(), org.clone(), window, now);
    admin
        .put_dead_job(&dead, "HTTP 503 for 30 minutes", now)
        .await
        .expect("a dead job's record (admin)");
    let (status, redriven) =
        request(&s, "POST", &key, &format!("{path}/redrive"), &Value::Null).await;
    assert_eq!(status, 202, "redrive: {redriven}");
    assert_eq!(redriven["jobs"], 1, "{redriven}");

    let (status, patched) = request(&s, "PATCH", &key, &path, &json!({"enabled": false})).await;
    assert_eq!(status, 200, "disable: {patched}");
    assert_eq!(patched["enabled"], false, "{patched}");

    let (status, deleted) = request(&s, "DELETE", &key, &path, &Value::Null).await;
    assert!(status == 204 || status == 200, "delete: {status} {deleted}");
    let (status, _) = s.get(Some(&key), &path).await;
    assert_eq!(status, 404, "the destination is gone");

    // A retried delete of its secret, as the function would make it.
    let secrets = SecretStore::from_env(&audit_aws::aws_config().await);
    secrets
        .delete(&secrets.name_for(&org, &id))
        .await
        .expect("a secret already scheduled for deletion counts as deleted");
}
