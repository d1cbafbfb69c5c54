//! Signing-key rotation end to end: digests sealed before and after
//! `auditctl signing-key rotate` all verify, from the store and from an S3
//! export; the API lists every key with the current one marked; pinning
//! only the new key names the digests the old one signed.
//!
//! Its own test binary (so its own process): the signing key's secret name
//! is process-wide (`AUDIT_SIGNING_KEY_SECRET`), and rotating the key the
//! other integrity tests share would race with them.

use std::collections::BTreeSet;
use std::time::Duration;

use audit_domain::catalog::Action;
use audit_domain::integrity::{KeyRing, PublicKey};
use audit_domain::time::Timestamp;
use audit_log_tests::{event, Stack};
use export::{ExportApp, ExportConfig};
use serde_json::{json, Value};

const PERIOD_MS: i64 = 2_000;

fn config() -> ExportConfig {
    audit_log_tests::sealing_config(PERIOD_MS)
}

/// Ingests a batch, waits for its period to close, exports and seals it.
async fn record_and_seal(s: &Stack, app: &ExportApp, ingest: &str, tag: &str) {
    let events: Vec<Value> = (0..3)
        .map(|i| event(&format!("evt_{tag}_{i}"), Action::ALL[i], false))
        .collect();
    let (status, body) = s.post(ingest, &json!({ "events": events })).await;
    assert_eq!(status, 200, "{body}");
    tokio::time::sleep(Duration::from_millis(PERIOD_MS as u64 + 100)).await;
    let report = export::schedule(app, Timestamp::now()).await;
    assert_eq!(report.errors, 0, "{report:?}");
    for _ in 0..3 {
        auditctl::export_runner::poll_once(app, 1)
            .await
            .expect("poll");
    }
    let sealed = export::seal(app, Timestamp::now()).await;
    assert_eq!(sealed.errors, 0, "{sealed:?}");
    assert!(sealed.digests >= 1, "{sealed:?}");
}

#[tokio::test]
async fn digests_from_before_and_after_a_rotation_all_verify() {
    std::env::set_var(
        "AUDIT_SIGNING_KEY_SECRET",
        format!("audit-log/test/rotation-{}", ulid::Ulid::new()),
    );
    let s = Stack::start_isolated().await;
    let o = s.org_with_keys("rotation").await;
    let (s3, bucket) = audit_log_tests::s3_bucket("rotation").await;
    s.s3_destination(&o.admin, &bucket).await;
    // Digest files start with the first period that begins after enabling.
    tokio::time::sleep(Duration::from_millis(PERIOD_MS as u64 + 100)).await;
    let app = s.exporter(config()).await;

    let old = auditctl::signing_key::ensure(&s.store)
        .await
        .expect("signing key");
    record_and_seal(&s, &app, &o.ingest, "before").await;
    let (old_id, new_id) = auditctl::signing_key::rotate(&s.store)
        .await
        .expect("rotate");
    assert!(old.ends_with(&format!("({old_id})")), "{old} vs {old_id}");
    assert_ne!(old_id, new_id);
    record_and_seal(&s, &app, &o.ingest, "after").await;

    // Digests name both keys, and the chain runs across the rotation.
    let digests = s
        .store
        .digests(&o.id, None, None, false, 1000)
        .await
        .expect("digests");
    let signed_by: BTreeSet<&str> = digests.iter().map(|(d, _)| d.key_id.as_str()).collect();
    assert_eq!(
        signed_by,
        BTreeSet::from([old_id.as_str(), new_id.as_str()]),
        "{digests:#?}"
    );

    // The API lists both keys, oldest first, the new one current; the
    // single-key route serves the new one; no private half anywhere.
    let (status, listed) = s.get(Some(&o.ingest), "/v1/integrity/public-keys").await;
    assert_eq!(status, 200, "{listed}");
    let keys = listed["keys"].as_array().expect("keys");
    let ids: Vec<&str> = keys.iter().filter_map(|k| k["key_id"].as_str()).collect();
    assert_eq!(ids, [old_id.as_str(), new_id.as_str()], "{listed}");
    let current: Vec<bool> = keys.iter().filter_map(|k| k["current"].as_bool()).collect();
    assert_eq!(current, [false, true], "{listed}");
    assert!(keys[0]["retired_at"].is_string(), "{listed}");
    assert_eq!(keys[1].get("retired_at"), Some(&Value::Null), "{listed}");
    // A retirement is recorded once: a second one changes nothing.
    assert!(!s
        .store
        .retire_signing_key(&old_id, Timestamp::now())
        .await
        .expect("retire"));
    assert!(!listed.to_string().contains("private"), "{listed}");
    let (status, one) = s.get(Some(&o.ingest), "/v1/integrity/public-key").await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["key_id"], new_id.as_str());
    let (status, _) = s.get(None, "/v1/integrity/public-keys").await;
    assert_eq!(status, 401);

    // From the store, with the registry's keys (retirements included), and
    // with every key the API lists pinned.
    let listing = auditctl::signing_key::list(&s.store).await.expect("list");
    let registry = audit_aws::signing::ring(&listing);
    assert_eq!(registry.key_ids(), [old_id.as_str(), new_id.as_str()]);
    assert_eq!(
        registry.retired_at(&old_id).map(Timestamp::to_rfc3339),
        keys[0]["retired_at"].as_str().map(str::to_owned),
        "the first retirement stands"
    );
    let report = auditctl::verify::verify_store(&s.store, &registry, &o.id, None, None)
        .await
        .expect("verify");
    assert!(report.is_ok(), "{:?}", report.lines());
    let pinned: Vec<PublicKey> = keys
        .iter()
        .map(|k| PublicKey::from_base64(k["public_key"].as_str().expect("b64")).expect("key"))
        .collect();
    let every = KeyRing::new(pinned.clone());
    let report = auditctl::verify::verify_store(&s.store, &every, &o.id, None, None)
        .await
        .expect("verify");
    assert!(report.is_ok(), "{:?}", report.lines());
    assert_eq!(report.periods, digests.len());
    assert!(report.events >= 6, "{}", report.events);

    // Pinning only the new key names each digest the old key signed.
    let only_new = KeyRing::from(pinned[1].clone());
    let report = auditctl::verify::verify_store(&s.store, &only_new, &o.id, None, None)
        .await
        .expect("verify");
    let old_digests: Vec<String> = digests
        .iter()
        .filter(|(d, _)| d.key_id == old_id)
        .map(|(d, _)| {
            format!(
                "digest {} is signed by unknown key {old_id} (not among the public keys given)",
                d.period()
            )
        })
        .collect();
    assert!(!old_digests.is_empty());
    assert_eq!(report.lines(), old_digests);

    // The S3 export carries both public keys beside its digest files, and
    // verifies offline with them, or with both pinned.
    let objects = audit_log_tests::s3_keys(&s3, &bucket).await;
    let dir = format!("audit/org={}/digests/public-keys/", o.id);
    for id in [&old_id, &new_id] {
        assert!(
            objects.contains(&format!("{dir}{id}.json")),
            "{id} missing in {objects:#?}"
        );
    }
    let (b, p) = auditctl::verify::parse_s3_url(&format!("s3://{bucket}/audit")).expect("url");
    for ring in [None, Some(&every)] {
        let reports =
            auditctl::verify::verify_s3(&s3, &b, &p, Some(&o.id), ring, Default::default())
                .await
                .expect("verify");
        let (_, report) = &reports[0];
        assert!(report.is_ok(), "{:?}", report.lines());
        assert!(report.periods >= 2, "{}", report.periods);
    }
}
