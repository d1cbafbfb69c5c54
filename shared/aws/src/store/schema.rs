//! The two tables, described once. `auditctl init` creates them from these
//! specs and the template test compares `template.yaml` against them.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;

use super::{dynamo_error, StoreError};

/// A global secondary index: name, partition attribute, sort attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: &'static str,
    pub partition: &'static str,
    pub sort: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub partition: &'static str,
    pub sort: &'static str,
    pub indexes: &'static [IndexSpec],
    pub ttl_attribute: Option<&'static str>,
}

/// `events`: append-only, five GSIs projecting the full item, TTL.
pub const EVENTS: TableSpec = TableSpec {
    partition: "PK",
    sort: "SK",
    indexes: &[
        IndexSpec {
            name: "by_time",
            partition: "PK",
            sort: "ts",
        },
        IndexSpec {
            name: "by_actor",
            partition: "actor_pk",
            sort: "ts",
        },
        IndexSpec {
            name: "by_action",
            partition: "action_pk",
            sort: "ts",
        },
        IndexSpec {
            name: "by_group",
            partition: "group_pk",
            sort: "ts",
        },
        IndexSpec {
            name: "by_recorded",
            partition: "PK",
            sort: "rts",
        },
    ],
    ttl_attribute: Some("expires_at"),
};

/// `control`: orgs, API keys, destinations, cursors, digests.
pub const CONTROL: TableSpec = TableSpec {
    partition: "PK",
    sort: "SK",
    indexes: &[],
    ttl_attribute: None,
};

impl TableSpec {
    /// Every key attribute (all strings), each once.
    pub fn key_attributes(&self) -> Vec<&'static str> {
        let mut attrs = vec![self.partition, self.sort];
        for i in self.indexes {
            for a in [i.partition, i.sort] {
                if !attrs.contains(&a) {
                    attrs.push(a);
                }
            }
        }
        attrs
    }
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(|e| StoreError::Invalid(e.to_string()))
}

/// Creates the table if it is missing and turns on TTL. Idempotent.
pub async fn ensure_table(ddb: &Client, name: &str, spec: &TableSpec) -> Result<bool, StoreError> {
    if ddb.describe_table().table_name(name).send().await.is_ok() {
        return Ok(false);
    }
    let mut req = ddb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(spec.partition, KeyType::Hash)?)
        .key_schema(key(spec.sort, KeyType::Range)?);
    for attr in spec.key_attributes() {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attr)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| StoreError::Invalid(e.to_string()))?,
        );
    }
    for index in spec.indexes {
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index.name)
                .key_schema(key(index.partition, KeyType::Hash)?)
                .key_schema(key(index.sort, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(|e| StoreError::Invalid(e.to_string()))?,
        );
    }
    match req.send().await {
        Ok(_) => {}
        // Another process created it between our describe and create.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            return Ok(false)
        }
        Err(e) => return Err(dynamo_error("CreateTable", e)),
    }
    if let Some(attr) = spec.ttl_attribute {
        ddb.update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(attr)
                    .enabled(true)
                    .build()
                    .map_err(|e| StoreError::Invalid(e.to_string()))?,
            )
            .send()
            .await
            .map_err(|e| dynamo_error("UpdateTimeToLive", e))?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_table_has_the_five_designed_indexes() {
        let names: Vec<_> = EVENTS.indexes.iter().map(|i| i.name).collect();
        assert_eq!(
            names,
            [
                "by_time",
                "by_actor",
                "by_action",
                "by_group",
                "by_recorded"
            ]
        );
    }

    #[test]
    fn key_attributes_are_listed_once() {
        assert_eq!(
            EVENTS.key_attributes(),
            ["PK", "SK", "ts", "actor_pk", "action_pk", "group_pk", "rts"]
        );
    }
}
