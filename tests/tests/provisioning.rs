//! First-run provisioning as the stack does it: the signing key's secret
//! holds a generated seed (no first-seal create), the cursor secret is read
//! by id at start-up, and rotation still works from a seeded key.

use audit_aws::secrets::{cursor_secret_from_env, SecretStore};
use audit_aws::signing;
use audit_log_tests::Stack;

fn unique(label: &str) -> String {
    format!(
        "audit-log/t-{}/{label}",
        ulid::Ulid::new().to_string().to_lowercase()
    )
}

#[tokio::test]
async fn a_stack_generated_seed_signs_and_rotates() {
    let s = Stack::start_isolated().await;
    let secrets = SecretStore::from_env(&audit_aws::aws_config().await);
    let name = unique("integrity/signing-key");
    // What CloudFormation's GenerateSecretString stores: 64 alphanumerics.
    let seed: String = (0..64)
        .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
        .collect();
    assert!(secrets
        .create_named(&name, &seed, "test seed")
        .await
        .expect("create the seed secret"));

    let loaded = signing::load(&secrets, &name)
        .await
        .expect("the seed is a key");
    let current = signing::current_signer(&secrets, &s.store, &name)
        .await
        .expect("the seal's signer");
    assert_eq!(current.key_id(), loaded.key_id(), "no new key is created");
    let listing = signing::listing(&secrets, &s.store, &name)
        .await
        .expect("listing");
    assert!(listing
        .iter()
        .any(|k| k.current && k.key.key_id == loaded.key_id()));

    let (old, new) = signing::rotate(&secrets, &s.store, &name)
        .await
        .expect("rotate a seeded key");
    assert_eq!(old, loaded.key_id());
    let after = signing::load(&secrets, &name)
        .await
        .expect("the rotated key");
    assert_eq!(after.key_id(), new);
    let ring = signing::ring(
        &signing::listing(&secrets, &s.store, &name)
            .await
            .expect("listing"),
    );
    assert!(ring.get(&old).is_some() && ring.get(&new).is_some());
    assert!(ring.retired_at(&old).is_some(), "the seeded key is retired");
}

#[tokio::test]
async fn the_cursor_secret_is_read_by_id() {
    let secrets = SecretStore::from_env(&audit_aws::aws_config().await);
    let name = unique("cursor");
    assert!(secrets
        .create_named(&name, "cursor-key-from-secrets-manager", "test cursor key")
        .await
        .expect("create"));
    // This binary's only test that touches these variables.
    std::env::set_var(audit_aws::secrets::CURSOR_SECRET_ID_ENV, &name);
    std::env::set_var(audit_aws::secrets::CURSOR_SECRET_ENV, "plaintext-fallback");
    let key = cursor_secret_from_env(&secrets).await.expect("read by id");
    assert_eq!(key, b"cursor-key-from-secrets-manager");

    std::env::remove_var(audit_aws::secrets::CURSOR_SECRET_ID_ENV);
    let local = cursor_secret_from_env(&secrets).await.expect("local value");
    assert_eq!(
        local, b"plaintext-fallback",
        "make run and the tests keep the variable"
    );

    std::env::set_var(
        audit_aws::secrets::CURSOR_SECRET_ID_ENV,
        unique("missing-cursor"),
    );
    assert!(
        cursor_secret_from_env(&secrets).await.is_err(),
        "a missing secret fails start-up"
    );
}
