//! Integrity end to end: events get a `hash`, the scheduler's seal step
//! signs chained digests per period, the API serves them and the public
//! key, and `auditctl verify` (its library function) names every kind of
//! tampering done directly in DynamoDB Local or in an S3 export. Periods
//! are 2 seconds long so a few sleeps span several.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

use audit_domain::catalog::Action;
use audit_domain::integrity::{KeyRing, PublicKey, Signer};
use audit_domain::time::Timestamp;
use audit_log_tests::{event, Stack};
use aws_sdk_dynamodb::types::AttributeValue;
use export::{ExportApp, ExportConfig};
use flate2::read::GzDecoder;
use serde_json::{json, Value};

const PERIOD_MS: i64 = 2_000;

fn config() -> ExportConfig {
    audit_log_tests::sealing_config(PERIOD_MS)
}

type Org = audit_log_tests::OrgKeys;

async fn org(s: &Stack) -> Org {
    s.org_with_keys("integrity").await
}

/// Three batches of `n` events, each batch in a later period.
async fn ingest_across_periods(s: &Stack, o: &Org, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for batch in 0..3 {
        let events: Vec<Value> = (0..n)
            .map(|i| {
                let id = format!("evt_b{batch}_{i}");
                ids.push(id.clone());
                event(&id, Action::ALL[i % Action::ALL.len()], i % 2 == 0)
            })
            .collect();
        let (status, body) = s.post(&o.ingest, &json!({ "events": events })).await;
        assert_eq!(status, 200, "{body}");
        tokio::time::sleep(Duration::from_millis(PERIOD_MS as u64 + 100)).await;
    }
    ids
}

/// `now` far enough ahead that every period with events has closed.
fn later() -> Timestamp {
    Timestamp::now().plus_millis(3 * PERIOD_MS)
}

async fn public_key(app: &ExportApp) -> PublicKey {
    audit_log_tests::signing_public_key(app).await
}

async fn ddb() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&audit_aws::aws_config().await)
}

fn av(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

/// The period label `auditctl verify` uses for the event's period.
async fn period_of(s: &Stack, o: &Org, id: &str) -> String {
    let event = s
        .store
        .get_event(&o.id, &audit_domain::ids::EventId::parse(id).expect("id"))
        .await
        .expect("get")
        .expect("event");
    let (start, end) = audit_domain::integrity::period_containing(event.recorded_at, PERIOD_MS);
    format!("({start}, {end}]")
}

#[tokio::test]
async fn sealed_periods_verify_and_every_tampering_in_the_store_is_named() {
    let s = Stack::start_isolated().await;
    let o = org(&s).await;
    let ids = ingest_across_periods(&s, &o, 4).await;
    let app = s.exporter(config()).await;

    let now = later();
    let report = export::seal(&app, now).await;
    assert_eq!(report.errors, 0, "{report:?}");
    assert!(report.digests >= 3, "{report:?}");
    // Sealing again at the same time finds nothing new: periods are sealed once.
    assert_eq!(export::seal(&app, now).await.digests, 0);

    let key = public_key(&app).await;
    let clean =
        auditctl::verify::verify_store(&s.store, &KeyRing::from(key.clone()), &o.id, None, None)
            .await
            .expect("verify");
    assert!(clean.is_ok(), "{:?}", clean.lines());
    assert_eq!(clean.events, 12);
    assert_eq!(clean.periods, report.digests);

    // The API: each event's hash, the public key, the digests.
    let (status, body) = s
        .get(Some(&o.admin), &format!("/v1/events/{}", ids[0]))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["hash"].as_str().map(str::len), Some(64), "{body}");
    assert_eq!(
        audit_domain::integrity::record_hash(&body).as_deref(),
        body["hash"].as_str(),
        "the documented encoding recomputes the API's hash"
    );
    let (status, pk) = s.get(Some(&o.ingest), "/v1/integrity/public-key").await;
    assert_eq!(status, 200, "{pk}");
    assert_eq!(pk["algorithm"], "Ed25519");
    assert_eq!(pk["public_key"], key.to_base64());
    assert_eq!(pk["key_id"], key.key_id());
    let (status, listed) = s.get(Some(&o.admin), "/v1/integrity/digests").await;
    assert_eq!(status, 200, "{listed}");
    let digests = listed["digests"].as_array().expect("digests");
    assert_eq!(digests.len(), report.digests);
    assert!(
        digests[0]["period_start"].as_str() > digests[1]["period_start"].as_str(),
        "newest first"
    );
    let oldest = digests.last().expect("genesis");
    assert_eq!(oldest["previous_digest_hash"], "0".repeat(64));
    assert_eq!(
        digests[0]["previous_digest_hash"],
        digests[1]["digest_hash"]
    );
    let (status, _) = s.get(Some(&o.ingest), "/v1/integrity/digests").await;
    assert_eq!(status, 403, "ingest keys read no digests");
    let (status, asc) = s
        .get(Some(&o.admin), "/v1/integrity/digests?order=asc&limit=1")
        .await;
    assert_eq!(status, 200);
    assert_eq!(asc["digests"][0]["digest_hash"], oldest["digest_hash"]);
    assert_eq!(asc["has_more"], true);

    // Tamper directly in DynamoDB Local.
    let ddb = ddb().await;
    let tables = s.store.tables().clone();
    let pk = format!("ORG#{}", o.id);
    // 1. An event's content is edited (its resource's name: metadata is
    // stored deflated, in `packed`).
    ddb.update_item()
        .table_name(&tables.events)
        .key("PK", av(&pk))
        .key("SK", av(&format!("EVT#{}", ids[1])))
        .update_expression("SET #r.#n = :m")
        .expression_attribute_names("#r", "resource")
        .expression_attribute_names("#n", "name")
        .expression_attribute_values(":m", av("innocent"))
        .send()
        .await
        .expect("edit event");
    // 2. An event is deleted.
    ddb.delete_item()
        .table_name(&tables.events)
        .key("PK", av(&pk))
        .key("SK", av(&format!("EVT#{}", ids[5])))
        .send()
        .await
        .expect("delete event");
    // 3. An event is inserted into a sealed period (a copy of a real one, re-keyed).
    let mut copy = ddb
        .get_item()
        .table_name(&tables.events)
        .key("PK", av(&pk))
        .key("SK", av(&format!("EVT#{}", ids[9])))
        .send()
        .await
        .expect("get")
        .item
        .expect("item");
    let rts = match copy.get("rts") {
        Some(AttributeValue::S(v)) => v.clone(),
        _ => panic!("rts"),
    };
    let millis = rts.split('#').next().expect("millis").to_string();
    copy.insert("SK".into(), av("EVT#evt_forged"));
    copy.insert("id".into(), av("evt_forged"));
    copy.insert("rts".into(), av(&format!("{millis}#evt_forged")));
    ddb.put_item()
        .table_name(&tables.events)
        .set_item(Some(copy))
        .send()
        .await
        .expect("insert event");

    let all = s
        .store
        .digests(&o.id, None, None, false, 1000)
        .await
        .expect("digests");
    let label = |d: &audit_domain::integrity::Digest| d.period();
    // 4. A digest's count is edited.
    let edited = all[0].0.clone();
    ddb.update_item()
        .table_name(&tables.control)
        // Digests live in their own partition, `DIGESTS#<org>`.
        .key("PK", av(&format!("DIGESTS#{}", o.id)))
        .key(
            "SK",
            av(&format!("DIGEST#{}", edited.period_start.sort_key())),
        )
        .update_expression("SET event_count = :c")
        .expression_attribute_values(":c", AttributeValue::N("3".into()))
        .send()
        .await
        .expect("edit digest");
    // 5. A digest's signature is replaced by one from another key.
    let resigned = all[all.len() - 1].0.clone();
    let forged = Signer::from_seed([42; 32]).sign(&resigned.digest_hash);
    ddb.update_item()
        .table_name(&tables.control)
        // Digests live in their own partition, `DIGESTS#<org>`.
        .key("PK", av(&format!("DIGESTS#{}", o.id)))
        .key(
            "SK",
            av(&format!("DIGEST#{}", resigned.period_start.sort_key())),
        )
        .update_expression("SET signature = :s")
        .expression_attribute_values(":s", av(&forged))
        .send()
        .await
        .expect("replace signature");

    let found =
        auditctl::verify::verify_store(&s.store, &KeyRing::from(key.clone()), &o.id, None, None)
            .await
            .expect("verify");
    assert!(!found.is_ok());
    let lines = found.lines();
    let expect = [
        format!("event {} was modified (hash mismatch)", ids[1]),
        format!(
            "period {}: 1 event missing (deleted?): {}",
            period_of_deleted(&all, &ids[5]),
            ids[5]
        ),
        format!(
            "period {}: unexpected event evt_forged (inserted)",
            period_of(&s, &o, &ids[9]).await
        ),
        format!(
            "digest {} was modified (digest hash mismatch)",
            label(&edited)
        ),
        format!("bad signature on digest {}", label(&resigned)),
    ];
    for want in &expect {
        assert!(lines.contains(want), "missing {want:?} in {lines:#?}");
    }
    // Nothing else is blamed: the edited digest's manifest still names its events.
    assert_eq!(lines.len(), expect.len(), "{lines:#?}");
}

/// The period whose manifest lists `id` (the event itself is gone).
fn period_of_deleted(all: &[(audit_domain::integrity::Digest, u32)], id: &str) -> String {
    // Batch 1's events (ids 4..8) are all in one period: the second with events.
    let _ = id;
    let with_events: Vec<_> = all.iter().filter(|(d, _)| d.event_count > 0).collect();
    with_events[1].0.period()
}

#[tokio::test]
async fn a_deleted_digest_head_breaks_the_chain() {
    let s = Stack::start_isolated().await;
    let o = org(&s).await;
    let (status, _) = s
        .post(&o.ingest, &json!(event("evt_only", Action::ALL[0], false)))
        .await;
    assert_eq!(status, 201);
    let app = s.exporter(config()).await;
    assert!(export::seal(&app, later()).await.digests >= 1);
    let key = public_key(&app).await;
    let all = s
        .store
        .digests(&o.id, None, None, false, 1000)
        .await
        .expect("digests");
    let last = &all.last().expect("a digest").0;
    ddb()
        .await
        .delete_item()
        .table_name(&s.store.tables().control)
        .key("PK", av(&format!("DIGESTS#{}", o.id)))
        .key(
            "SK",
            av(&format!("DIGEST#{}", last.period_start.sort_key())),
        )
        .send()
        .await
        .expect("delete digest");
    let found =
        auditctl::verify::verify_store(&s.store, &KeyRing::from(key.clone()), &o.id, None, None)
            .await
            .expect("verify");
    assert_eq!(
        found.lines(),
        [format!("digest chain broken at {}", last.period())]
    );
}

#[tokio::test]
async fn an_s3_export_verifies_offline_and_tampering_with_it_is_named() {
    let s = Stack::start_isolated().await;
    let o = org(&s).await;
    let (s3, bucket) = audit_log_tests::s3_bucket("integrity").await;
    s.s3_destination(&o.admin, &bucket).await;
    // Digest files start with the first period that begins after enabling.
    tokio::time::sleep(Duration::from_millis(PERIOD_MS as u64 + 100)).await;
    let ids = ingest_across_periods(&s, &o, 3).await;

    let app = s.exporter(config()).await;
    let report = export::schedule(&app, Timestamp::now()).await;
    assert_eq!(report.errors, 0);
    for _ in 0..5 {
        auditctl::export_runner::poll_once(&app, 1)
            .await
            .expect("poll");
    }
    let sealed = export::seal(&app, later()).await;
    assert_eq!(sealed.errors, 0, "{sealed:?}");

    let keys = audit_log_tests::s3_keys(&s3, &bucket).await;
    let digest_files: Vec<&String> = keys
        .iter()
        .filter(|k| k.contains("/digests/") && k.ends_with(".json"))
        .filter(|k| !k.contains("/public-keys/"))
        .collect();
    assert!(digest_files.len() >= 3, "{keys:#?}");
    let prefix = format!("audit/org={}/digests/", o.id);
    let key = public_key(&app).await;
    let key_id = key.key_id().to_string();
    assert!(
        keys.contains(&format!("{prefix}public-keys/{key_id}.json")),
        "{keys:#?}"
    );
    // The checkpoints that grew the tree, published beside the digests.
    let checkpoints = audit_domain::integrity::checkpoints_prefix("audit", &o.id);
    let published: Vec<&String> = keys
        .iter()
        .filter(|k| k.starts_with(&checkpoints))
        .collect();
    assert!(!published.is_empty(), "{keys:#?}");
    let ring = audit_domain::integrity::KeyRing::from(key);
    for k in published {
        let note = String::from_utf8(audit_log_tests::s3_object(&s3, &bucket, k).await)
            .expect("a checkpoint is text");
        let checkpoint =
            audit_domain::integrity::Checkpoint::open_any(&note, &ring).expect("signed");
        assert_eq!(
            audit_domain::integrity::checkpoint_size_of_key(k),
            Some(checkpoint.size)
        );
    }

    let url = format!("s3://{bucket}/audit");
    let (b, p) = auditctl::verify::parse_s3_url(&url).expect("url");
    let reports = auditctl::verify::verify_s3(&s3, &b, &p, None, None, Default::default())
        .await
        .expect("verify");
    assert_eq!(reports.len(), 1);
    let (org_id, clean) = &reports[0];
    assert_eq!(org_id, &o.id);
    assert!(clean.is_ok(), "{:?}", clean.lines());
    // Creating the destination was recorded too (self-audit), before the first digest file.
    assert!(clean.events >= ids.len(), "{}", clean.events);
    // A range the digest files cover verifies too.
    let mut names = digest_files.clone();
    names.sort();
    let lo = digest_file(&s3, &bucket, names[0]).await;
    let hi = digest_file(&s3, &bucket, names[names.len() - 1]).await;
    let covered = auditctl::verify::Span {
        from: Some(lo.digest.period_start),
        to: Some(hi.digest.period_end),
    };
    let ranged = auditctl::verify::verify_s3(&s3, &b, &p, Some(&o.id), None, covered)
        .await
        .expect("verify");
    assert!(ranged[0].1.is_ok(), "{:?}", ranged[0].1.lines());
    assert_eq!(ranged[0].1.periods, names.len());

    // Rewrite one line, of an event inside a sealed period, in an events object.
    let mut target = None;
    for key in keys.iter().filter(|k| k.ends_with(".jsonl.gz")) {
        let gz = audit_log_tests::s3_object(&s3, &bucket, key).await;
        let lines: Vec<Value> = BufReader::new(GzDecoder::new(&gz[..]))
            .lines()
            .map(|l| serde_json::from_str(&l.expect("line")).expect("json"))
            .collect();
        if let Some(i) = lines
            .iter()
            .position(|l| l["id"].as_str().is_some_and(|id| id.starts_with("evt_b1")))
        {
            target = Some((key.clone(), lines, i));
            break;
        }
    }
    let (object, mut lines, i) = target.expect("an object with a sealed event");
    let object = &object;
    lines[i]["metadata"]["model_name"] = json!("innocent");
    let edited_id = lines[i]["id"].as_str().expect("id").to_string();
    let mut out = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for l in &lines {
        writeln!(out, "{l}").expect("write");
    }
    s3.put_object()
        .bucket(&bucket)
        .key(object)
        .body(out.finish().expect("gzip").into())
        .send()
        .await
        .expect("rewrite");
    // Delete a digest file in the middle of the chain.
    let mut sorted = digest_files.clone();
    sorted.sort();
    let deleted = sorted[1].clone();
    let after: HashMap<&str, &str> = sorted
        .windows(2)
        .map(|w| (w[0].as_str(), w[1].as_str()))
        .collect();
    let next_file = after[deleted.as_str()];
    let next = digest_file(&s3, &bucket, next_file).await;
    s3.delete_object()
        .bucket(&bucket)
        .key(&deleted)
        .send()
        .await
        .expect("delete");

    let reports = auditctl::verify::verify_s3(&s3, &b, &p, Some(&o.id), None, Default::default())
        .await
        .expect("verify");
    let lines = reports[0].1.lines();
    for want in [
        format!("event {edited_id} was modified (hash mismatch)"),
        format!("digest chain broken at {}", next.digest.period()),
    ] {
        assert!(lines.contains(&want), "missing {want:?} in {lines:#?}");
    }

    // Asked to cover a range, a verification also names a deleted first or
    // latest digest file, which the chain alone cannot show.
    let first = digest_file(&s3, &bucket, sorted[0]).await;
    let last = digest_file(&s3, &bucket, sorted[sorted.len() - 1]).await;
    let range = auditctl::verify::Span {
        from: Some(first.digest.period_start),
        to: Some(last.digest.period_end),
    };
    for key in [sorted[0], sorted[sorted.len() - 1]] {
        s3.delete_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .expect("delete");
    }
    let unranged = auditctl::verify::verify_s3(&s3, &b, &p, Some(&o.id), None, Default::default())
        .await
        .expect("verify");
    assert!(
        !unranged[0]
            .1
            .lines()
            .iter()
            .any(|l| l.starts_with("no digest covers")),
        "{:#?}",
        unranged[0].1.lines()
    );
    let reports = auditctl::verify::verify_s3(&s3, &b, &p, Some(&o.id), None, range)
        .await
        .expect("verify");
    let lines = reports[0].1.lines();
    let head = format!("no digest covers ({}, ", first.digest.period_start);
    let tail = format!(
        ", {}] (digest files deleted, or not sealed yet)",
        last.digest.period_end
    );
    assert!(lines.iter().any(|l| l.starts_with(&head)), "{lines:#?}");
    assert!(lines.iter().any(|l| l.ends_with(&tail)), "{lines:#?}");
}

async fn digest_file(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> audit_domain::integrity::DigestFile {
    serde_json::from_slice(&audit_log_tests::s3_object(s3, bucket, key).await).expect("digest file")
}
