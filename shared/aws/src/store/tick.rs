//! What a scheduler tick reads, and only that: the sparse `by_tick` index
//! of the control table. Enabled destinations carry `tick_pk = DEST`; every
//! org that can record events has one marker item (`ORG#<org>` / `SEAL`,
//! `tick_pk = SEAL`), written with its settings or keys. The tick queries
//! the two index partitions, never scans the table, so its reads follow the
//! number of destinations and orgs, not the table's size or age.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};

use super::destinations::{tick_dest_sk, TICK_DESTINATIONS};
use super::schema::BY_TICK;
use super::{dynamo_error, s, Item, Store, StoreError};
use crate::store::plan::keys;
use audit_domain::ids::OrgId;

/// `tick_pk` of an org's seal marker.
const TICK_SEAL: &str = "SEAL";
const SEAL_MARKER_SK: &str = "SEAL";
/// The item that says `migrate_tick_index` finished on this table, so later
/// runs of `auditctl init` read one item instead of scanning again.
const MIGRATED_PK: &str = "MIGRATION";
const MIGRATED_SK: &str = "TICK_INDEX";

/// What `migrate_tick_index` did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TickMigration {
    pub destinations: usize,
    pub orgs: usize,
    /// The table was migrated before: nothing was read but the marker.
    pub already_done: bool,
}

impl Store {
    /// Every item of one `by_tick` partition, following pages; each call's
    /// consumed read units are counted.
    pub(crate) async fn tick_items(&self, tick_pk: &str) -> Result<Vec<Item>, StoreError> {
        self.query_all(
            self.ddb
                .query()
                .table_name(&self.tables.control)
                .index_name(BY_TICK.name)
                .key_condition_expression("tick_pk = :p")
                .expression_attribute_values(":p", s(tick_pk))
                .return_consumed_capacity(ReturnConsumedCapacity::Total),
        )
        .await
    }

    /// Records that the org can record events, so sealing visits it.
    /// Idempotent (one small item per org).
    pub async fn mark_org_to_seal(&self, org: &OrgId) -> Result<(), StoreError> {
        self.put_control(seal_marker(org)).await
    }

    /// Every org with a seal marker, in org order.
    pub async fn orgs_to_seal(&self) -> Result<Vec<OrgId>, StoreError> {
        let mut orgs: Vec<OrgId> = self
            .tick_items(TICK_SEAL)
            .await?
            .into_iter()
            .filter_map(|i| match i.get("tick_sk") {
                Some(AttributeValue::S(o)) => OrgId::parse(o.as_str()).ok(),
                _ => None,
            })
            .collect();
        orgs.sort();
        orgs.dedup();
        Ok(orgs)
    }

    /// One-time migration for a table written before `by_tick` (run by
    /// `auditctl init`, idempotent): one paged Scan that puts enabled
    /// destinations into the index and writes the seal marker of every org
    /// with settings or keys. The only Scan left, never on the tick, and run
    /// once per table: when it finishes it writes a marker, and later runs
    /// read only that.
    pub async fn migrate_tick_index(&self) -> Result<TickMigration, StoreError> {
        let marker = self
            .ddb
            .get_item()
            .table_name(&self.tables.control)
            .key("PK", s(MIGRATED_PK))
            .key("SK", s(MIGRATED_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| dynamo_error("GetItem", e))?;
        if marker.item.is_some() {
            return Ok(TickMigration {
                already_done: true,
                ..TickMigration::default()
            });
        }
        let mut done = TickMigration::default();
        let mut orgs = std::collections::BTreeSet::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .ddb
                .scan()
                .table_name(&self.tables.control)
                .filter_expression(
                    "begins_with(PK, :org) AND (SK = :settings OR begins_with(SK, :key) OR (begins_with(SK, :dest) AND enabled = :yes AND attribute_not_exists(tick_pk)))",
                )
                .expression_attribute_values(":org", s("ORG#"))
                .expression_attribute_values(":settings", s("ORG"))
                .expression_attribute_values(":key", s("KEY#"))
                .expression_attribute_values(":dest", s("DEST#"))
                .expression_attribute_values(":yes", AttributeValue::Bool(true))
                .projection_expression("PK, SK, id")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| dynamo_error("Scan", e))?;
            for item in out.items.unwrap_or_default() {
                let (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) =
                    (item.get("PK"), item.get("SK"))
                else {
                    continue;
                };
                let Some(org) = pk.strip_prefix("ORG#").and_then(|o| OrgId::parse(o).ok()) else {
                    continue;
                };
                if let Some(id) = sk.strip_prefix("DEST#") {
                    self.ddb
                        .update_item()
                        .table_name(&self.tables.control)
                        .key("PK", s(pk.clone()))
                        .key("SK", s(sk.clone()))
                        .update_expression("SET tick_pk = :p, tick_sk = :s")
                        .condition_expression("enabled = :yes")
                        .expression_attribute_values(":p", s(TICK_DESTINATIONS))
                        .expression_attribute_values(":s", s(tick_dest_sk(&org, id)))
                        .expression_attribute_values(":yes", AttributeValue::Bool(true))
                        .send()
                        .await
                        .map_err(|e| dynamo_error("UpdateItem", e))?;
                    done.destinations += 1;
                } else {
                    orgs.insert(org);
                }
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        for org in &orgs {
            self.mark_org_to_seal(org).await?;
        }
        done.orgs = orgs.len();
        self.put_control(Item::from([
            ("PK".to_owned(), s(MIGRATED_PK)),
            ("SK".to_owned(), s(MIGRATED_SK)),
        ]))
        .await?;
        Ok(done)
    }
}

/// The org's seal marker item.
pub(crate) fn seal_marker(org: &OrgId) -> Item {
    Item::from([
        ("PK".to_string(), s(keys::org(org))),
        ("SK".to_string(), s(SEAL_MARKER_SK)),
        ("tick_pk".to_string(), s(TICK_SEAL)),
        ("tick_sk".to_string(), s(org.as_str())),
    ])
}
