//! The IAM check's flows (`scripts/iam-check.sh`): each test runs one Lambda
//! function's real flow with that function's role credentials in the
//! environment, against a moto_server that enforces IAM. Set-up (tables, an
//! org, keys) uses the admin credentials the script passes in
//! `IAMCHECK_ADMIN_ACCESS_KEY_ID` / `IAMCHECK_ADMIN_SECRET_ACCESS_KEY`.
//! The tests are `#[ignore]`d: outside the script there is no enforcing moto.

use audit_aws::store::{ApiKeyRecord, OrgSettings, Store, Tables};
use audit_domain::auth::{generate_key, key_hash, Role};
use audit_domain::catalog::Action;
use audit_domain::ids::OrgId;
use audit_domain::time::Timestamp;
use audit_log_tests::{event, Stack};

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
    let s = Stack::serve_prepared(auditctl::store_from_env().await.expect("store from env")).await;
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
    let (_org, key) = org_and_key(&admin, Role::Admin).await;
    let s = Stack::serve_prepared(auditctl::store_from_env().await.expect("store from env")).await;
    let (status, body) = s.get(Some(&key), "/v1/events?limit=10").await;
    assert_eq!(status, 200, "search: {body}");
    let (status, body) = s.get(Some(&key), "/v1/events/evt_iam_missing").await;
    assert_eq!(status, 404, "read by id: {body}");
}
