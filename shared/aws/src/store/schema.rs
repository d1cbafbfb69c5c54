//! The two tables, described once. `auditctl init` creates them from these
//! specs and the template test compares `template.yaml` against them.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
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
    /// Whether the table has a stream of new images (the events table's
    /// feeds the arrivals function).
    pub stream_new_images: bool,
}

/// `events`: append-only, five GSIs projecting the full item, TTL, and a
/// stream of new images (late arrivals are found there).
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
    stream_new_images: true,
};

/// The control table's sparse index: only what a scheduler tick acts on
/// carries `tick_pk` (enabled destinations, `DEST`; orgs to seal, `SEAL`), so
/// the tick queries it instead of scanning the table.
pub const BY_TICK: IndexSpec = IndexSpec {
    name: "by_tick",
    partition: "tick_pk",
    sort: "tick_sk",
};

/// `control`: orgs, API keys, destinations, cursors, digests (under
/// partitions of their own, `DIGESTS#<org>`, expiring by `expires_at`).
pub const CONTROL: TableSpec = TableSpec {
    partition: "PK",
    sort: "SK",
    indexes: &[BY_TICK],
    ttl_attribute: Some("expires_at"),
    stream_new_images: false,
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

/// Creates the table if it is missing and turns on TTL; on a table created
/// by an older release, adds the indexes and TTL it lacks. Idempotent.
pub async fn ensure_table(ddb: &Client, name: &str, spec: &TableSpec) -> Result<bool, StoreError> {
    if let Ok(existing) = ddb.describe_table().table_name(name).send().await {
        upgrade_table(ddb, name, spec, existing.table).await?;
        return Ok(false);
    }
    let mut req = ddb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(spec.partition, KeyType::Hash)?)
        .key_schema(key(spec.sort, KeyType::Range)?);
    for attr in spec.key_attributes() {
        req = req.attribute_definitions(string_attribute(attr)?);
    }
    for i in spec.indexes {
        req = req.global_secondary_indexes(index(i)?);
    }
    if spec.stream_new_images {
        req = req.stream_specification(new_images()?);
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
    enable_ttl(ddb, name, spec).await?;
    Ok(true)
}

fn index(index: &IndexSpec) -> Result<GlobalSecondaryIndex, StoreError> {
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
        .map_err(|e| StoreError::Invalid(e.to_string()))
}

fn new_images() -> Result<StreamSpecification, StoreError> {
    StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::NewImage)
        .build()
        .map_err(|e| StoreError::Invalid(e.to_string()))
}

/// The ARN of the events table's stream, if it has one.
impl super::Store {
    pub async fn events_stream_arn(&self) -> Result<Option<String>, StoreError> {
        let out = self
            .ddb
            .describe_table()
            .table_name(&self.tables.events)
            .send()
            .await
            .map_err(|e| dynamo_error("DescribeTable", e))?;
        Ok(out.table.and_then(|t| t.latest_stream_arn))
    }
}

fn string_attribute(name: &str) -> Result<AttributeDefinition, StoreError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| StoreError::Invalid(e.to_string()))
}

/// Adds each index the spec has and the table lacks (one per call, as
/// DynamoDB allows), then TTL, and the stream if the spec has one: what a
/// stage created before `by_tick` or the arrivals stream needs.
async fn upgrade_table(
    ddb: &Client,
    name: &str,
    spec: &TableSpec,
    existing: Option<aws_sdk_dynamodb::types::TableDescription>,
) -> Result<(), StoreError> {
    let streaming = existing
        .as_ref()
        .and_then(|t| t.stream_specification.as_ref())
        .is_some_and(|s| s.stream_enabled);
    if spec.stream_new_images && !streaming {
        ddb.update_table()
            .table_name(name)
            .stream_specification(new_images()?)
            .send()
            .await
            .map_err(|e| dynamo_error("UpdateTable", e))?;
    }
    let have: Vec<String> = existing
        .and_then(|t| t.global_secondary_indexes)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|i| i.index_name)
        .collect();
    for wanted in spec.indexes {
        if have.iter().any(|h| h == wanted.name) {
            continue;
        }
        let create = aws_sdk_dynamodb::types::CreateGlobalSecondaryIndexAction::builder()
            .index_name(wanted.name)
            .key_schema(key(wanted.partition, KeyType::Hash)?)
            .key_schema(key(wanted.sort, KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        ddb.update_table()
            .table_name(name)
            .attribute_definitions(string_attribute(wanted.partition)?)
            .attribute_definitions(string_attribute(wanted.sort)?)
            .global_secondary_index_updates(
                aws_sdk_dynamodb::types::GlobalSecondaryIndexUpdate::builder()
                    .create(create)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| dynamo_error("UpdateTable", e))?;
    }
    let ttl = ddb
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(|e| dynamo_error("DescribeTimeToLive", e))?;
    let enabled = ttl
        .time_to_live_description
        .and_then(|d| d.time_to_live_status)
        .is_some_and(|s| s != aws_sdk_dynamodb::types::TimeToLiveStatus::Disabled);
    if !enabled {
        enable_ttl(ddb, name, spec).await?;
    }
    Ok(())
}

async fn enable_ttl(ddb: &Client, name: &str, spec: &TableSpec) -> Result<(), StoreError> {
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
    Ok(())
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
