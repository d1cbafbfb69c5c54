//! `auditctl witness` against the local stack, through the API (as a
//! customer runs it) and through the store (as the operator can): it
//! trusts the first checkpoint, accepts an extension with its consistency
//! proof, and refuses a rolled-back log and a rewritten one (a checkpoint
//! signed with the real key over another tree), keeping its state. And
//! `verify --org` against an insider with table access (issue 16, item 4).

use std::path::PathBuf;
use std::time::Duration;

use audit_domain::catalog::Action;
use audit_domain::integrity::merkle::{leaf_hash, root_of};
use audit_domain::integrity::witness::{Accepted, Refusal, WitnessState};
use audit_domain::integrity::{Checkpoint, KeyRing};
use audit_domain::time::Timestamp;
use audit_log_tests::{event, OrgKeys, Stack};
use auditctl::witness::{witness_once, Api, Outcome, Source};
use serde_json::{json, Value};

const PERIOD_MS: i64 = 2_000;

fn state_file(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "witness-{label}-{}",
        ulid::Ulid::new().to_string().to_lowercase()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join("state.json")
}

fn saved(path: &PathBuf) -> WitnessState {
    serde_json::from_str(&std::fs::read_to_string(path).expect("state")).expect("state json")
}

/// Ingests `n` events `evt_<label>_000…`, lets their period close and
/// seals it.
async fn ingest_and_seal(s: &Stack, o: &OrgKeys, app: &export::ExportApp, label: &str, n: usize) {
    let events: Vec<Value> = (0..n)
        .map(|i| event(&format!("evt_{label}_{i:03}"), Action::ALL[i], false))
        .collect();
    let (status, body) = s.post(&o.ingest, &json!({ "events": events })).await;
    assert_eq!(status, 200, "{body}");
    tokio::time::sleep(Duration::from_millis(PERIOD_MS as u64 + 100)).await;
    let report = export::seal(app, Timestamp::now()).await;
    assert_eq!(report.errors, 0, "{report:?}");
}

#[tokio::test]
async fn a_witness_accepts_extensions_and_refuses_a_rollback_or_a_rewrite() {
    let s = Stack::start_isolated().await;
    let o = s.org_with_keys("witness").await;
    let app = s.exporter(audit_log_tests::sealing_config(PERIOD_MS)).await;
    let api = || Source::Api(Api::new(&s.base, o.admin.clone()).expect("api"));
    let path = state_file("api");
    let stranger = KeyRing::from(audit_domain::integrity::Signer::from_seed([9; 32]).public_key());

    // Nothing sealed yet: nothing to witness, no state written.
    let first = witness_once(&api(), &path, &stranger).await.expect("run");
    assert!(matches!(first, Outcome::NothingYet), "{first:?}");
    assert!(!path.exists());

    ingest_and_seal(&s, &o, &app, "wa", 3).await;
    // The first seal created the signing key.
    let name = audit_domain::integrity::signing::secret_name_from_env();
    let signer = audit_aws::signing::load(&app.secrets, &name)
        .await
        .expect("key");
    let keys = KeyRing::from(signer.public_key());
    let r = witness_once(&api(), &path, &keys).await.expect("run");
    assert!(
        matches!(r, Outcome::Accepted(Accepted::First(ref st)) if st.tree_size == 3),
        "{r:?}"
    );
    assert_eq!(saved(&path).tree_size, 3);
    let r = witness_once(&api(), &path, &keys).await.expect("run");
    assert!(
        matches!(r, Outcome::Accepted(Accepted::Unchanged(_))),
        "{r:?}"
    );

    ingest_and_seal(&s, &o, &app, "wb", 5).await;
    let r = witness_once(&api(), &path, &keys).await.expect("run");
    assert!(
        matches!(r, Outcome::Accepted(Accepted::Extended { from: 3, ref state }) if state.tree_size == 8),
        "{r:?}"
    );
    let good = saved(&path);
    assert_eq!(good.tree_size, 8);
    assert!(good.origin.ends_with(&format!("/{}", o.id)), "{good:?}");

    // The operator's view from the store agrees with the customer's.
    let store = Source::Store {
        store: s.store.clone(),
        org: o.id.clone(),
    };
    let r = witness_once(&store, &path, &keys).await.expect("run");
    assert!(
        matches!(r, Outcome::Accepted(Accepted::Unchanged(_))),
        "{r:?}"
    );

    // A key the witness does not pin: refused, state kept.
    let r = witness_once(&api(), &path, &stranger).await.expect("run");
    assert!(
        matches!(
            r,
            Outcome::Refused {
                why: Refusal::Signature(_),
                ..
            }
        ),
        "{r:?}"
    );
    assert_eq!(saved(&path), good);

    // Someone with the key signs a rewritten history that grew: the log
    // grows to 10 for real, then its checkpoint at 10 is replaced by one
    // over other leaves. The consistency proof 8 → 10 the API serves from
    // the real tiles cannot join it to the tree the witness saw.
    ingest_and_seal(&s, &o, &app, "wc", 2).await;
    let forged_leaves: Vec<[u8; 32]> = (0..10u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    let forged = Checkpoint {
        origin: good.origin.clone(),
        size: 10,
        root: root_of(&forged_leaves),
    }
    .sign(&signer);
    s.tamper_put_checkpoint(&o.id, 10, forged).await;
    let r = witness_once(&api(), &path, &keys).await.expect("run");
    assert!(
        matches!(
            r,
            Outcome::Refused {
                why: Refusal::NotExtended {
                    seen: 8,
                    now: 10,
                    ..
                },
                ..
            }
        ),
        "{r:?}"
    );
    assert_eq!(saved(&path), good);
    s.tamper_delete_checkpoint(&o.id, 10).await;

    // The same size with another root: a fork.
    let fork = Checkpoint {
        origin: good.origin.clone(),
        size: 8,
        root: root_of(&forged_leaves[..8]),
    }
    .sign(&signer);
    s.tamper_put_checkpoint(&o.id, 8, fork).await;
    let r = witness_once(&api(), &path, &keys).await.expect("run");
    assert!(
        matches!(
            r,
            Outcome::Refused {
                why: Refusal::Fork { size: 8 },
                ..
            }
        ),
        "{r:?}"
    );
    assert_eq!(saved(&path), good);

    // Rolled back: the insider deletes the checkpoint at 8, so the latest
    // is the one at 3 again.
    s.tamper_delete_checkpoint(&o.id, 8).await;
    let r = witness_once(&store, &path, &keys).await.expect("run");
    assert!(
        matches!(
            r,
            Outcome::Refused {
                why: Refusal::Rollback { seen: 8, now: 3 },
                ..
            }
        ),
        "{r:?}"
    );
    let r = witness_once(&api(), &path, &keys).await.expect("run");
    assert!(matches!(r, Outcome::Refused { .. }), "{r:?}");
    assert_eq!(saved(&path), good, "a refusal never overwrites the state");

    // Another org's reader sees only its own log.
    let other = s.org_with_keys("witness-other").await;
    let (status, _) = s.get(Some(&other.admin), "/v1/integrity/checkpoint").await;
    assert_eq!(status, 409, "no checkpoint of its own");
    let (status, body) = s
        .get(Some(&o.admin), "/v1/integrity/checkpoint?tree_size=3")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tree_size"], 3);
    let (status, _) = s
        .get(Some(&o.admin), "/v1/integrity/checkpoint?tree_size=4")
        .await;
    assert_eq!(status, 404, "no checkpoint was signed at 4");
    let (status, _) = s.get(Some(&o.ingest), "/v1/integrity/checkpoint").await;
    assert_eq!(status, 403, "ingest keys read no checkpoints");
}

/// The insider of issue 16 with table access but not the key: deletes the
/// digests from period P on, moves the chain head back to P−1 and deletes
/// an event of P. The sealer refuses to seal over the signed checkpoint
/// past the head, and `verify --org` names the events no digest holds;
/// with every digest deleted it fails too. A digest signed by a key the
/// insider added to the registry fails when keys are pinned.
#[tokio::test]
async fn verify_names_what_an_insider_with_table_access_did() {
    let s = Stack::start_isolated().await;
    let o = s.org_with_keys("insider").await;
    let app = s.exporter(audit_log_tests::sealing_config(PERIOD_MS)).await;
    ingest_and_seal(&s, &o, &app, "ia", 3).await;
    ingest_and_seal(&s, &o, &app, "ib", 4).await;
    let key = audit_log_tests::signing_public_key(&app).await;
    let pinned = KeyRing::from(key.clone());
    let check = || async {
        let sealed_by = Timestamp::now().plus_millis(-PERIOD_MS);
        auditctl::verify::verify_store_sealed_by(&s.store, &pinned, &o.id, None, sealed_by)
            .await
            .expect("verify")
    };
    let clean = check().await;
    assert!(clean.is_ok(), "{:?}", clean.lines());
    assert_eq!(clean.events, 7);

    // P: the period of batch b's events.
    let digests = s
        .store
        .digests(&o.id, None, None, false, 1000)
        .await
        .expect("digests");
    let p = digests
        .iter()
        .position(|(d, _)| d.tree_size == Some(7) && d.event_count > 0)
        .expect("the period of batch b");
    for (d, _) in &digests[p..] {
        s.tamper_delete_digest(&o.id, d.period_start).await;
    }
    s.tamper_move_head_to(&o.id, digests[p - 1].0.period_start)
        .await;
    s.tamper_delete_event(&o.id, "evt_ib_001").await;

    // The next ticks do not re-seal P with the edited events.
    for _ in 0..2 {
        let report = export::seal(&app, Timestamp::now()).await;
        assert_eq!((report.digests, report.errors), (0, 1), "{report:?}");
    }
    let after = check().await;
    assert!(!after.is_ok());
    let lines = after.lines().join("\n");
    assert!(
        lines.contains("in no digest") && lines.contains("evt_ib_000"),
        "names the events after the last digest: {lines}"
    );

    // Every digest and the head deleted: no "OK, 0 periods".
    for (d, _) in &digests[..p] {
        s.tamper_delete_digest(&o.id, d.period_start).await;
    }
    s.tamper_delete_head(&o.id).await;
    let none = check().await;
    assert_eq!(none.periods, 0);
    let lines = none.lines().join("\n");
    assert!(
        lines.contains("no digest at all") && lines.contains("evt_ia_000"),
        "{lines}"
    );

    // A digest signed by the insider's own key, added to the registry:
    // the registry's ring accepts its signature, the pinned key does not.
    let insider = audit_domain::integrity::Signer::from_seed([5; 32]);
    let mut forged = digests[0].0.clone();
    forged.key_id = insider.key_id().to_string();
    forged.digest_hash = forged.compute_hash();
    forged.signature = insider.sign(&forged.digest_hash);
    let pinned_findings = audit_domain::integrity::digest::check_digest(&forged, &pinned);
    assert!(
        !pinned_findings.is_empty(),
        "pinned key refuses the forgery"
    );
    let mut registry = KeyRing::from(key);
    registry.add(insider.public_key(), None);
    assert!(
        audit_domain::integrity::digest::check_digest(&forged, &registry).is_empty(),
        "an extended registry would accept it: why keys are pinned"
    );
}

/// The insider `verify --org` alone cannot catch: the operator, holding the
/// signing key and the table, wipes the org's whole integrity record
/// (digests, head, tiles, checkpoints), deletes an event and re-seals from
/// scratch with the real key. The rebuilt store verifies; held to the
/// checkpoints published under Object Lock (`--published`) it fails, naming
/// the checkpoints it no longer contains, and those cannot be deleted.
#[tokio::test]
async fn published_checkpoints_catch_a_history_rebuilt_with_the_real_key() {
    let s = Stack::start_isolated().await;
    let o = s.org_with_keys("rebuilt").await;
    let s3 = audit_log_tests::s3_client().await;
    let bucket = format!(
        "checkpoints-{}",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    audit_log_tests::create_locked_bucket(&s3, &bucket).await;
    let app = s
        .exporter(export::ExportConfig {
            checkpoint_bucket: Some(bucket.clone()),
            ..audit_log_tests::sealing_config(PERIOD_MS)
        })
        .await;
    ingest_and_seal(&s, &o, &app, "ra", 3).await;
    ingest_and_seal(&s, &o, &app, "rb", 4).await;
    let key = audit_log_tests::signing_public_key(&app).await;
    let pinned = KeyRing::from(key.clone());

    // One object per tree size the log grew to, each the store's own note.
    let prefix = audit_domain::integrity::checkpoints_prefix("", &o.id);
    let keys: Vec<String> = audit_log_tests::s3_keys(&s3, &bucket)
        .await
        .into_iter()
        .filter(|k| k.starts_with(&prefix))
        .collect();
    let sizes: Vec<u64> = keys
        .iter()
        .filter_map(|k| audit_domain::integrity::checkpoint_size_of_key(k))
        .collect();
    assert_eq!(sizes.last(), Some(&7), "{keys:?}");
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{sizes:?}");
    for (key, size) in keys.iter().zip(&sizes) {
        let stored = s.store.checkpoint_at(&o.id, *size).await.expect("read");
        let published = audit_log_tests::s3_object(&s3, &bucket, key).await;
        assert_eq!(stored.as_deref().map(str::as_bytes), Some(&published[..]));
    }
    let published = || async {
        auditctl::verify::verify_published(&s3, &bucket, "", &s.store, &pinned, &o.id)
            .await
            .expect("verify published")
    };
    let (checked, findings) = published().await;
    assert_eq!((checked, findings), (sizes.len(), vec![]));
    // The CLI as an operator or auditor runs it, keys unpinned: it takes
    // them from beside the locked checkpoints, not from the table.
    let key_object = audit_domain::integrity::public_key_object_key("", &o.id, key.key_id());
    assert!(
        audit_log_tests::s3_keys(&s3, &bucket)
            .await
            .contains(&key_object),
        "the signing key published beside the checkpoints"
    );
    let cli = || {
        auditctl::verify::run(
            &s.store,
            auditctl::verify::VerifyArgs {
                org: Some(o.id.to_string()),
                s3: None,
                from: None,
                to: None,
                public_key: Vec::new(),
                receipt: None,
                published: Some(format!("s3://{bucket}")),
            },
        )
    };
    assert_eq!(cli().await, Ok(true));

    // What else can sit where checkpoints are published is named, each in
    // its own words (under a prefix of its own, beside the real log).
    let tampered = audit_domain::integrity::checkpoints_prefix("tampered", &o.id);
    let at = |size: u64| audit_domain::integrity::checkpoint_object_key("tampered", &o.id, size);
    let real_7 = s
        .store
        .checkpoint_at(&o.id, 7)
        .await
        .expect("read")
        .expect("the checkpoint at 7");
    let forged = Checkpoint {
        origin: "elsewhere".into(),
        size: 7,
        root: [0; 32],
    }
    .sign(&audit_domain::integrity::Signer::from_seed([5; 32]));
    for (key, body) in [
        (at(7), forged.into_bytes()),
        (at(8), vec![b'x'; 16 * 1024 + 1]),
        (format!("{tampered}junk.txt"), b"junk".to_vec()),
        (at(6), real_7.into_bytes()),
    ] {
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Crc32)
            .body(aws_sdk_s3::primitives::ByteStream::from(body))
            .send()
            .await
            .expect("put into the locked bucket");
    }
    let (checked, findings) =
        auditctl::verify::verify_published(&s3, &bucket, "tampered", &s.store, &pinned, &o.id)
            .await
            .expect("verify published");
    let lines: Vec<String> = findings.iter().map(ToString::to_string).collect();
    assert_eq!((checked, lines.len()), (4, 4), "{lines:#?}");
    for (key, why) in [
        (at(7), "not signed by a pinned key"),
        (at(8), "more than 16384 bytes, not a checkpoint"),
        (format!("{tampered}junk.txt"), "not a checkpoint's name"),
        (at(6), "its name says tree size 6, its note 7"),
    ] {
        assert!(
            lines.iter().any(|l| l.contains(&key) && l.contains(why)),
            "{key}: {why}: {lines:#?}"
        );
    }
    let (checked, findings) =
        auditctl::verify::verify_published(&s3, &bucket, "nowhere", &s.store, &pinned, &o.id)
            .await
            .expect("verify published");
    assert_eq!(checked, 0);
    assert!(
        findings.len() == 1
            && findings[0]
                .to_string()
                .contains("nothing is published there"),
        "{findings:?}"
    );
    // A second init of the same bucket leaves it as it is.
    audit_log_tests::create_locked_bucket(&s3, &bucket).await;

    // Compliance mode: no version can be deleted, by anyone.
    let latest_key = keys.last().expect("a checkpoint");
    let versions = s3
        .list_object_versions()
        .bucket(&bucket)
        .prefix(latest_key)
        .send()
        .await
        .expect("versions");
    let version = versions.versions()[0].version_id().expect("a version id");
    let deleted = s3
        .delete_object()
        .bucket(&bucket)
        .key(latest_key)
        .version_id(version)
        .send()
        .await;
    assert!(deleted.is_err(), "a locked checkpoint was deleted");

    // The rebuild: everything of the org's integrity record gone, batch a's
    // second event deleted, and the log sealed again with the real key.
    s.tamper_wipe_integrity(&o.id).await;
    s.tamper_delete_event(&o.id, "evt_ra_001").await;
    tokio::time::sleep(Duration::from_millis(PERIOD_MS as u64 + 100)).await;
    let resealed = export::seal(&app, Timestamp::now()).await;
    assert_eq!(resealed.errors, 0, "{resealed:?}");
    assert!(resealed.digests >= 1, "{resealed:?}");
    let sealed_by = Timestamp::now().plus_millis(-PERIOD_MS);
    let store_only =
        auditctl::verify::verify_store_sealed_by(&s.store, &pinned, &o.id, None, sealed_by)
            .await
            .expect("verify");
    assert!(
        store_only.is_ok(),
        "the rebuilt store verifies on its own: {:?}",
        store_only.lines()
    );
    assert_eq!(store_only.events, 6);

    assert_eq!(cli().await, Ok(false), "the CLI fails the rebuilt store");
    let (_, findings) = published().await;
    let lines: Vec<String> = findings.iter().map(ToString::to_string).collect();
    eprintln!("published {sizes:?}; after the rebuild: {lines:#?}");
    let at_7 = audit_domain::integrity::checkpoint_object_key("", &o.id, 7);
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&at_7) && l.contains("rollback: the log shrank from 7 to 6")),
        "the checkpoint at 7 is no longer in the log: {lines:#?}"
    );
    // Every finding is about a checkpoint of the first history.
    for line in &lines {
        assert!(
            sizes.iter().any(
                |n| line.contains(&audit_domain::integrity::checkpoint_object_key(
                    "", &o.id, *n
                ))
            ),
            "{line}"
        );
    }
}
