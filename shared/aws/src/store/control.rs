//! The control table's org settings and API keys. Keys are stored only as
//! their SHA-256: `KEY#<hash>` for lookup, `ORG#<org>`/`KEY#<key id>` for
//! listing and revocation by id.

use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use super::{dynamo_error, from_item, s, to_item, Store, StoreError};
use crate::store::plan::keys;
use audit_domain::auth::Role;
use audit_domain::ids::OrgId;
use audit_domain::limits::DEFAULT_RETENTION_DAYS;
use audit_domain::time::Timestamp;

/// An org's settings; an org without a settings item gets the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgSettings {
    pub uses_teams: bool,
    pub retention_days: u32,
}

impl Default for OrgSettings {
    fn default() -> Self {
        OrgSettings {
            uses_teams: false,
            retention_days: DEFAULT_RETENTION_DAYS,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct OrgItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    #[serde(flatten)]
    settings: OrgSettings,
}

/// An API key as stored: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    pub key_id: String,
    pub key_hash: String,
    pub org_id: OrgId,
    pub role: Role,
    pub name: String,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
}

#[derive(Debug, Serialize, Deserialize)]
struct KeyItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    #[serde(flatten)]
    record: ApiKeyRecord,
}

const ORG_SK: &str = "ORG";
const KEY_SK: &str = "KEY";

fn key_pk(hash: &str) -> String {
    format!("KEY#{hash}")
}

fn listing_sk(key_id: &str) -> String {
    format!("KEY#{key_id}")
}

impl Store {
    pub async fn org_settings(&self, org: &OrgId) -> Result<OrgSettings, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.tables.control)
            .key("PK", s(keys::org(org)))
            .key("SK", s(ORG_SK))
            .send()
            .await
            .map_err(|e| dynamo_error("GetItem", e))?;
        match out.item {
            None => Ok(OrgSettings::default()),
            Some(item) => from_item::<OrgItem>(item).map(|i| i.settings),
        }
    }

    pub async fn put_org_settings(
        &self,
        org: &OrgId,
        settings: OrgSettings,
    ) -> Result<(), StoreError> {
        let item = to_item(OrgItem {
            pk: keys::org(org),
            sk: ORG_SK.into(),
            settings,
        })?;
        self.put_control(item).await?;
        self.mark_org_to_seal(org).await
    }

    /// Stores a new key's lookup and listing items together.
    pub async fn put_key(&self, record: &ApiKeyRecord) -> Result<(), StoreError> {
        let lookup = to_item(KeyItem {
            pk: key_pk(&record.key_hash),
            sk: KEY_SK.into(),
            record: record.clone(),
        })?;
        let listing = to_item(KeyItem {
            pk: keys::org(&record.org_id),
            sk: listing_sk(&record.key_id),
            record: record.clone(),
        })?;
        let put = |item| {
            Put::builder()
                .table_name(&self.tables.control)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(PK)")
                .build()
                .map(|p| TransactWriteItem::builder().put(p).build())
                .map_err(|e| StoreError::Invalid(e.to_string()))
        };
        self.ddb
            .transact_write_items()
            .transact_items(put(lookup)?)
            .transact_items(put(listing)?)
            // The org can now record events: sealing must visit it.
            .transact_items(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.tables.control)
                            .set_item(Some(super::tick::seal_marker(&record.org_id)))
                            .build()
                            .map_err(|e| StoreError::Invalid(e.to_string()))?,
                    )
                    .build(),
            )
            .send()
            .await
            .map_err(|e| dynamo_error("TransactWriteItems", e))?;
        Ok(())
    }

    /// Finds a key by its hash (the authentication path).
    pub async fn find_key(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.tables.control)
            .key("PK", s(key_pk(key_hash)))
            .key("SK", s(KEY_SK))
            .send()
            .await
            .map_err(|e| dynamo_error("GetItem", e))?;
        out.item
            .map(|item| from_item::<KeyItem>(item).map(|k| k.record))
            .transpose()
    }

    pub async fn list_keys(&self, org: &OrgId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.control_items(&keys::org(org), "KEY#")
            .await?
            .into_iter()
            .map(|item| from_item::<KeyItem>(item).map(|k| k.record))
            .collect()
    }

    /// Marks a key revoked; returns false when the org has no such key.
    pub async fn revoke_key(
        &self,
        org: &OrgId,
        key_id: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let Some(record) = self
            .list_keys(org)
            .await?
            .into_iter()
            .find(|k| k.key_id == key_id)
        else {
            return Ok(false);
        };
        let update = |pk: String, sk: String| {
            Update::builder()
                .table_name(&self.tables.control)
                .key("PK", s(pk))
                .key("SK", s(sk))
                .update_expression("SET revoked_at = if_not_exists(revoked_at, :at)")
                .condition_expression("attribute_exists(PK)")
                .expression_attribute_values(":at", s(at.to_rfc3339()))
                .build()
                .map(|u| TransactWriteItem::builder().update(u).build())
                .map_err(|e| StoreError::Invalid(e.to_string()))
        };
        self.ddb
            .transact_write_items()
            .transact_items(update(key_pk(&record.key_hash), KEY_SK.into())?)
            .transact_items(update(keys::org(org), listing_sk(key_id))?)
            .send()
            .await
            .map_err(|e| dynamo_error("TransactWriteItems", e))?;
        Ok(true)
    }
}
