//! The registry of integrity signing keys' public halves, in the control
//! table under `INTEGRITY` / `SIGNING_KEY#<key id>`. A key is registered
//! (once, conditionally) before it signs anything and is never deleted, so
//! every digest ever signed stays checkable after the key rotates.

use serde::{Deserialize, Serialize};

use super::{from_item, s, to_item, written, Store, StoreError};
use audit_domain::time::Timestamp;

const PK: &str = "INTEGRITY";
const SK_PREFIX: &str = "SIGNING_KEY#";

/// A signing key's public half as registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredKey {
    pub key_id: String,
    pub algorithm: String,
    /// Base64 of the 32-byte Ed25519 public key.
    pub public_key: String,
    /// When it was registered (created, or first seen by a rotation).
    pub created_at: Timestamp,
    /// When a rotation replaced it: it signs no period ending later (null,
    /// in the API and the item, until then).
    #[serde(default)]
    pub retired_at: Option<Timestamp>,
}

#[derive(Debug, Serialize, Deserialize)]
struct RegisteredKeyItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    #[serde(flatten)]
    key: RegisteredKey,
}

impl Store {
    /// Registers a signing key's public half; a key already registered keeps
    /// its first registration. Returns whether this call registered it.
    pub async fn register_signing_key(&self, key: &RegisteredKey) -> Result<bool, StoreError> {
        let item = to_item(RegisteredKeyItem {
            pk: PK.into(),
            sk: format!("{SK_PREFIX}{}", key.key_id),
            key: key.clone(),
        })?;
        let result = self
            .ddb
            .put_item()
            .table_name(&self.tables.control)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        written("PutItem", result)
    }

    /// Marks a registered key retired at `at`; a key retired before keeps
    /// its first retirement. Returns whether this call retired it.
    pub async fn retire_signing_key(
        &self,
        key_id: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let result = self
            .ddb
            .update_item()
            .table_name(&self.tables.control)
            .key("PK", s(PK))
            .key("SK", s(format!("{SK_PREFIX}{key_id}")))
            .update_expression("SET retired_at = :at")
            .condition_expression(
                "attribute_exists(PK) AND (attribute_not_exists(retired_at) OR attribute_type(retired_at, :null))",
            )
            .expression_attribute_values(":at", s(at.to_rfc3339()))
            .expression_attribute_values(":null", s("NULL"))
            .send()
            .await;
        written("UpdateItem", result)
    }

    /// Every registered signing key, oldest registration first.
    pub async fn signing_keys(&self) -> Result<Vec<RegisteredKey>, StoreError> {
        let mut keys = self
            .control_items(PK, SK_PREFIX)
            .await?
            .into_iter()
            .map(|item| from_item::<RegisteredKeyItem>(item).map(|i| i.key))
            .collect::<Result<Vec<_>, _>>()?;
        keys.sort_by(|a, b| (a.created_at, &a.key_id).cmp(&(b.created_at, &b.key_id)));
        Ok(keys)
    }
}
