//! The control table's org settings and API keys. Keys are stored only as
//! their SHA-256: `KEY#<hash>` for lookup, `ORG#<org>`/`KEY#<key id>` for
//! listing and revocation by id.

use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnConsumedCapacity, TransactWriteItem, Update,
};
use serde::{Deserialize, Serialize};

use super::{dynamo_error, from_item, s, to_item, Store, StoreError};
use crate::store::plan::keys;
use audit_domain::auth::Role;
use audit_domain::ids::OrgId;
use audit_domain::retention::RetentionDays;
use audit_domain::time::Timestamp;

/// An org's settings as they apply: an org without a settings item, or
/// without a retention of its own, gets the deployment's default retention
/// (`Store::default_retention`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgSettings {
    pub uses_teams: bool,
    pub retention_days: RetentionDays,
}

/// A change to an org's settings: only the fields given are written, the
/// others keep their stored value (`auditctl orgs set`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrgSettingsChange {
    pub uses_teams: Option<bool>,
    pub retention_days: Option<RetentionDays>,
}

/// The settings item. `retention_days` absent: the org follows the
/// deployment's default, whatever it is when an event is recorded.
#[derive(Debug, Serialize, Deserialize)]
struct OrgItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    #[serde(default)]
    uses_teams: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retention_days: Option<RetentionDays>,
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
/// The org's embedding settings (who may frame its Activity page).
const EMBED_SK: &str = "EMBED";

#[derive(Debug, Serialize, Deserialize)]
struct EmbedItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    #[serde(default)]
    frame_ancestors: Vec<String>,
}
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
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| dynamo_error("GetItem", e))?;
        self.count_reads(out.consumed_capacity.as_ref());
        let item = out.item.map(from_item::<OrgItem>).transpose()?;
        Ok(OrgSettings {
            uses_teams: item.as_ref().is_some_and(|i| i.uses_teams),
            retention_days: item
                .and_then(|i| i.retention_days)
                .unwrap_or(self.default_retention),
        })
    }

    /// Replaces an org's settings, both fields.
    pub async fn put_org_settings(
        &self,
        org: &OrgId,
        settings: OrgSettings,
    ) -> Result<(), StoreError> {
        let item = to_item(OrgItem {
            pk: keys::org(org),
            sk: ORG_SK.into(),
            uses_teams: settings.uses_teams,
            retention_days: Some(settings.retention_days),
        })?;
        self.put_control(item).await?;
        self.mark_org_to_seal(org).await
    }

    /// Writes only the fields `change` gives (one UpdateItem, creating the
    /// item when missing); returns the settings as they now apply.
    pub async fn update_org_settings(
        &self,
        org: &OrgId,
        change: OrgSettingsChange,
    ) -> Result<OrgSettings, StoreError> {
        let mut sets = Vec::new();
        let mut update = self
            .ddb
            .update_item()
            .table_name(&self.tables.control)
            .key("PK", s(keys::org(org)))
            .key("SK", s(ORG_SK));
        if let Some(teams) = change.uses_teams {
            sets.push("uses_teams = :teams");
            update = update.expression_attribute_values(":teams", AttributeValue::Bool(teams));
        }
        if let Some(days) = change.retention_days {
            sets.push("retention_days = :days");
            update = update
                .expression_attribute_values(":days", AttributeValue::N(days.get().to_string()));
        }
        if !sets.is_empty() {
            update
                .update_expression(format!("SET {}", sets.join(", ")))
                .send()
                .await
                .map_err(|e| dynamo_error("UpdateItem", e))?;
        }
        self.org_settings(org).await
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

    /// Finds an org's key by its id (one GetItem on the listing item): how
    /// a viewer token's issuing key is checked.
    pub async fn find_key_by_id(
        &self,
        org: &OrgId,
        key_id: &str,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.tables.control)
            .key("PK", s(keys::org(org)))
            .key("SK", s(listing_sk(key_id)))
            .send()
            .await
            .map_err(|e| dynamo_error("GetItem", e))?;
        out.item
            .map(|item| from_item::<KeyItem>(item).map(|k| k.record))
            .transpose()
    }

    /// The origins that may frame the org's Activity page (empty: none).
    pub async fn frame_ancestors(&self, org: &OrgId) -> Result<Vec<String>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.tables.control)
            .key("PK", s(keys::org(org)))
            .key("SK", s(EMBED_SK))
            .send()
            .await
            .map_err(|e| dynamo_error("GetItem", e))?;
        Ok(out
            .item
            .map(from_item::<EmbedItem>)
            .transpose()?
            .map(|i| i.frame_ancestors)
            .unwrap_or_default())
    }

    /// Replaces the origins that may frame the org's Activity page and
    /// returns those it replaced.
    pub async fn set_frame_ancestors(
        &self,
        org: &OrgId,
        origins: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let item = to_item(EmbedItem {
            pk: keys::org(org),
            sk: EMBED_SK.into(),
            frame_ancestors: origins.to_vec(),
        })?;
        Ok(self
            .replace_control(item)
            .await?
            .map(from_item::<EmbedItem>)
            .transpose()?
            .map(|i| i.frame_ancestors)
            .unwrap_or_default())
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
