//! `auditctl init`'s signing key and `auditctl signing-key rotate|list`:
//! the integrity signing key's life cycle, run with the operator's
//! credentials (see `audit_aws::signing`).

use audit_aws::signing;
use audit_aws::store::Store;

/// The secrets client and the signing key's secret name, from the environment.
async fn signing_secret() -> (audit_aws::secrets::SecretStore, String) {
    let config = audit_aws::aws_config().await;
    (
        audit_aws::secrets::SecretStore::from_env(&config),
        audit_domain::integrity::signing::secret_name_from_env(),
    )
}

/// Creates (and registers) the integrity signing key if it does not exist
/// (`auditctl init`).
pub async fn ensure(store: &Store) -> Result<String, String> {
    let (secrets, name) = signing_secret().await;
    let signer = signing::current_signer(&secrets, store, &name)
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!("{name} ({})", signer.key_id()))
}

/// Replaces the signing key (`auditctl signing-key rotate`); digests signed
/// by the old key keep verifying. Returns the old and the new key ids.
pub async fn rotate(store: &Store) -> Result<(String, String), String> {
    let (secrets, name) = signing_secret().await;
    signing::rotate(&secrets, store, &name)
        .await
        .map_err(|e| e.to_string())
}

/// Every signing key, oldest first (`auditctl signing-key list`).
pub async fn list(store: &Store) -> Result<Vec<signing::KeyListing>, String> {
    let (secrets, name) = signing_secret().await;
    signing::listing(&secrets, store, &name)
        .await
        .map_err(|e| e.to_string())
}
