//! The public signing keys come from the registry the sealer writes, never
//! from the private key's secret: the query function holds no grant on it.
//! The secret is named here as one that does not exist, so any read of it
//! would answer 503 ("no signing key yet"); the endpoints answer 200 with
//! the registered keys instead.

use audit_aws::store::RegisteredKey;
use audit_domain::integrity::signing::ALGORITHM;
use audit_domain::integrity::Signer;
use audit_domain::time::Timestamp;
use audit_log_tests::Stack;

fn registered(signer: &Signer, retired_at: Option<Timestamp>) -> RegisteredKey {
    let key = signer.public_key();
    RegisteredKey {
        key_id: key.key_id().to_string(),
        algorithm: ALGORITHM.into(),
        public_key: key.to_base64(),
        created_at: Timestamp::now(),
        retired_at,
    }
}

#[tokio::test]
async fn public_keys_are_read_from_the_registry_with_no_secrets_manager_call() {
    // One test in this binary: nothing else reads the variable meanwhile.
    let missing = format!(
        "audit-log/test/no-such-signing-key-{}",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    std::env::set_var("AUDIT_SIGNING_KEY_SECRET", &missing);
    let s = Stack::start_isolated().await;
    let o = s.org_with_keys("pubkeys").await;

    // Nothing registered yet: "no signing key yet", as before.
    let (status, body) = s.get(Some(&o.ingest), "/v1/integrity/public-key").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body["type"].as_str().map(|t| t.ends_with("no-signing-key")),
        Some(true),
        "{body}"
    );

    let (old, new) = (Signer::generate(), Signer::generate());
    assert!(s
        .store
        .register_signing_key(&registered(&old, Some(Timestamp::now())))
        .await
        .expect("register"));
    assert!(s
        .store
        .register_signing_key(&registered(&new, None))
        .await
        .expect("register"));

    let (status, pk) = s.get(Some(&o.ingest), "/v1/integrity/public-key").await;
    assert_eq!(status, 200, "{pk}");
    assert_eq!(pk["key_id"], new.key_id());
    assert_eq!(pk["algorithm"], "Ed25519");
    assert_eq!(pk["public_key"], new.public_key().to_base64());

    let (status, listing) = s.get(Some(&o.admin), "/v1/integrity/public-keys").await;
    assert_eq!(status, 200, "{listing}");
    let keys = listing["keys"].as_array().expect("keys");
    let ids: Vec<_> = keys.iter().map(|k| k["key_id"].clone()).collect();
    assert_eq!(ids, [old.key_id(), new.key_id()], "{listing}");
    let current: Vec<_> = keys.iter().map(|k| k["current"].clone()).collect();
    assert_eq!(current, [false, true], "{listing}");

    // The secret really is absent: reading it is what would have failed.
    let read = audit_aws::signing::load(&s.secrets, &missing).await;
    assert!(matches!(read, Err(audit_aws::signing::KeyError::Missing)));
}
