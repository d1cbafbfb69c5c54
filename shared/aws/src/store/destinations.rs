//! Export destinations in the control table (`ORG#<org>` / `DEST#<id>`): the
//! admin's spec as JSON (typed by the caller: the store never looks inside),
//! enablement, the export cursor (advanced only by a conditional update) and
//! delivery counters.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{dynamo_error, from_item, s, to_item, written, Store, StoreError};
use crate::store::plan::keys;
use audit_domain::export::{DeliveryStatus, Destination};
use audit_domain::ids::OrgId;
use audit_domain::time::Timestamp;

#[derive(Debug, Serialize, Deserialize)]
struct DestinationItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    id: String,
    org_id: OrgId,
    spec: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret_hint: Option<String>,
    enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    enabled_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<Timestamp>,
    created_at: Timestamp,
    updated_at: Timestamp,
    #[serde(flatten)]
    status: DeliveryStatus,
    /// Present only while enabled: the sparse `by_tick` index the scheduler
    /// queries (`DEST`, `<org>#<id>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tick_pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tick_sk: Option<String>,
}

fn dest_sk(id: &str) -> String {
    format!("DEST#{id}")
}

/// `tick_pk` of an enabled destination.
pub(crate) const TICK_DESTINATIONS: &str = "DEST";

pub(crate) fn tick_dest_sk(org: &OrgId, id: &str) -> String {
    format!("{org}#{id}")
}

fn decode<S: DeserializeOwned>(
    item: HashMap<String, AttributeValue>,
) -> Result<Destination<S>, StoreError> {
    let i: DestinationItem = from_item(item)?;
    let spec: S = serde_json::from_str(&i.spec)
        .map_err(|e| StoreError::Corrupt(format!("destination {}: {e}", i.id)))?;
    Ok(Destination {
        id: i.id,
        org_id: i.org_id,
        spec,
        secret_ref: i.secret_ref,
        secret_hint: i.secret_hint,
        enabled: i.enabled,
        enabled_at: i.enabled_at,
        cursor: i.cursor,
        created_at: i.created_at,
        updated_at: i.updated_at,
        status: i.status,
    })
}

/// Which counter of a destination's status to move.
#[derive(Debug, Clone, Copy)]
pub enum JobCounter {
    Pending,
    Dead,
}

impl Store {
    /// Writes a destination whole (create, or an admin's update). The
    /// cursor and counters are written as given; use the narrower calls below
    /// for delivery bookkeeping.
    pub async fn put_destination<S: Serialize>(
        &self,
        d: &Destination<S>,
    ) -> Result<(), StoreError> {
        let spec =
            serde_json::to_string(&d.spec).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let item = to_item(DestinationItem {
            pk: keys::org(&d.org_id),
            sk: dest_sk(&d.id),
            id: d.id.clone(),
            org_id: d.org_id.clone(),
            spec,
            secret_ref: d.secret_ref.clone(),
            secret_hint: d.secret_hint.clone(),
            enabled: d.enabled,
            enabled_at: d.enabled_at,
            cursor: d.cursor,
            created_at: d.created_at,
            updated_at: d.updated_at,
            status: d.status.clone(),
            tick_pk: d.enabled.then(|| TICK_DESTINATIONS.to_string()),
            tick_sk: d.enabled.then(|| tick_dest_sk(&d.org_id, &d.id)),
        })?;
        self.put_control(item).await?;
        Ok(())
    }

    pub async fn get_destination<S: DeserializeOwned>(
        &self,
        org: &OrgId,
        id: &str,
    ) -> Result<Option<Destination<S>>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.tables.control)
            .key("PK", s(keys::org(org)))
            .key("SK", s(dest_sk(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| dynamo_error("GetItem", e))?;
        out.item.map(decode).transpose()
    }

    pub async fn list_destinations<S: DeserializeOwned>(
        &self,
        org: &OrgId,
    ) -> Result<Vec<Destination<S>>, StoreError> {
        self.control_items(&keys::org(org), "DEST#")
            .await?
            .into_iter()
            .map(decode)
            .collect()
    }

    /// An admin's update: writes only what an admin sets (spec, secret
    /// reference, enablement, `updated_at`), so the scheduler's cursor and the
    /// worker's counters are never overwritten; `reset_cursor` removes the
    /// cursor (re-enabling: start again at `enabled_at`). Only applies if the
    /// item is still at `seen_updated_at`; returns whether it applied.
    pub async fn update_destination_config<S: Serialize>(
        &self,
        d: &Destination<S>,
        seen_updated_at: Timestamp,
        reset_cursor: bool,
    ) -> Result<bool, StoreError> {
        let spec =
            serde_json::to_string(&d.spec).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let mut set = vec![
            "spec = :spec",
            "enabled = :enabled",
            "updated_at = :updated",
        ];
        let mut remove = Vec::new();
        let mut values = vec![
            (":spec", s(spec)),
            (":enabled", AttributeValue::Bool(d.enabled)),
            (":updated", s(d.updated_at.to_rfc3339())),
            (":seen", s(seen_updated_at.to_rfc3339())),
        ];
        let optional = [
            (
                "enabled_at",
                "enabled_at = :enabled_at",
                ":enabled_at",
                d.enabled_at.map(Timestamp::to_rfc3339),
            ),
            (
                "secret_ref",
                "secret_ref = :secret_ref",
                ":secret_ref",
                d.secret_ref.clone(),
            ),
            (
                "secret_hint",
                "secret_hint = :secret_hint",
                ":secret_hint",
                d.secret_hint.clone(),
            ),
        ];
        for (attr, assignment, placeholder, value) in optional {
            match value {
                Some(v) => {
                    set.push(assignment);
                    values.push((placeholder, s(v)));
                }
                None => remove.push(attr),
            }
        }
        if d.enabled {
            set.push("tick_pk = :tick_pk, tick_sk = :tick_sk");
            values.push((":tick_pk", s(TICK_DESTINATIONS)));
            values.push((":tick_sk", s(tick_dest_sk(&d.org_id, &d.id))));
        } else {
            remove.push("tick_pk, tick_sk");
        }
        if reset_cursor {
            // Starting again at `enabled_at`: a job of the old run holds no
            // lease over the new one.
            remove.push("#cursor, lease_until, lease_window_to");
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let mut req = self
            .ddb
            .update_item()
            .table_name(&self.tables.control)
            .key("PK", s(keys::org(&d.org_id)))
            .key("SK", s(dest_sk(&d.id)))
            .update_expression(expression)
            .condition_expression("attribute_exists(PK) AND updated_at = :seen");
        if reset_cursor {
            req = req.expression_attribute_names("#cursor", "cursor");
        }
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        written("UpdateItem", req.send().await)
    }

    pub async fn delete_destination(&self, org: &OrgId, id: &str) -> Result<bool, StoreError> {
        let out = self
            .ddb
            .delete_item()
            .table_name(&self.tables.control)
            .key("PK", s(keys::org(org)))
            .key("SK", s(dest_sk(id)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| dynamo_error("DeleteItem", e))?;
        Ok(out.attributes.is_some())
    }

    /// Every enabled destination of every org, for the scheduler: a Query
    /// of the sparse `by_tick` index, so it reads the enabled destinations
    /// and nothing else, however much else the control table holds. (The
    /// index is eventually consistent: a destination enabled a moment ago
    /// may wait a tick; the cursor's conditional update keeps a stale copy
    /// harmless.)
    pub async fn enabled_destinations<S: DeserializeOwned>(
        &self,
    ) -> Result<Vec<Destination<S>>, StoreError> {
        let mut found = Vec::new();
        for item in self.tick_items(TICK_DESTINATIONS).await? {
            let d: Destination<S> = decode(item)?;
            // The index may lag a disable by a moment; the item says.
            if d.enabled {
                found.push(d);
            }
        }
        Ok(found)
    }

    /// Moves the export cursor from `from` to `to`, only if it still is at
    /// `from` and the destination is still enabled: two schedulers racing
    /// cannot both advance it. Returns whether this call advanced it.
    pub async fn advance_cursor(
        &self,
        org: &OrgId,
        id: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<bool, StoreError> {
        let result = self
            .ddb
            .update_item()
            .table_name(&self.tables.control)
            .key("PK", s(keys::org(org)))
            .key("SK", s(dest_sk(id)))
            .update_expression("SET #cursor = :to")
            .condition_expression("enabled = :yes AND (#cursor = :from OR (attribute_not_exists(#cursor) AND enabled_at = :from))")
            .expression_attribute_names("#cursor", "cursor")
            .expression_attribute_values(":to", s(to.to_rfc3339()))
            .expression_attribute_values(":from", s(from.to_rfc3339()))
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .send()
            .await;
        written("UpdateItem", result)
    }

    /// `advance_cursor` that also leases the window just sent (`JobLease`):
    /// until the worker releases it, or `until`, the scheduler cuts nothing
    /// more for this destination. One conditional update, so the cursor
    /// never moves without its lease.
    pub async fn advance_cursor_leased(
        &self,
        org: &OrgId,
        id: &str,
        from: Timestamp,
        to: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        let result = self
            .ddb
            .update_item()
            .table_name(&self.tables.control)
            .key("PK", s(keys::org(org)))
            .key("SK", s(dest_sk(id)))
            .update_expression("SET #cursor = :to, lease_window_to = :to, lease_until = :until")
            .condition_expression("enabled = :yes AND (#cursor = :from OR (attribute_not_exists(#cursor) AND enabled_at = :from))")
            .expression_attribute_names("#cursor", "cursor")
            .expression_attribute_values(":to", s(to.to_rfc3339()))
            .expression_attribute_values(":from", s(from.to_rfc3339()))
            .expression_attribute_values(":until", s(until.to_rfc3339()))
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .send()
            .await;
        written("UpdateItem", result)
    }

    /// Extends the lease of the job whose window ends at `window_to` (a
    /// retry, a continuation) to `until`. Returns whether that job still
    /// held it (a replay or a redriven job never does).
    pub async fn extend_lease(
        &self,
        org: &OrgId,
        id: &str,
        window_to: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        let result = self
            .ddb
            .update_item()
            .table_name(&self.tables.control)
            .key("PK", s(keys::org(org)))
            .key("SK", s(dest_sk(id)))
            .update_expression("SET lease_until = :until")
            .condition_expression("lease_window_to = :to")
            .expression_attribute_values(":to", s(window_to.to_rfc3339()))
            .expression_attribute_values(":until", s(until.to_rfc3339()))
            .send()
            .await;
        written("UpdateItem", result)
    }

    /// Removes the lease of the job whose window ends at `window_to`: it was
    /// delivered or dead-lettered, so the next tick may cut the next window.
    /// Returns whether that job held it.
    pub async fn release_lease(
        &self,
        org: &OrgId,
        id: &str,
        window_to: Timestamp,
    ) -> Result<bool, StoreError> {
        let result = self
            .ddb
            .update_item()
            .table_name(&self.tables.control)
            .key("PK", s(keys::org(org)))
            .key("SK", s(dest_sk(id)))
            .update_expression("REMOVE lease_until, lease_window_to")
            .condition_expression("lease_window_to = :to")
            .expression_attribute_values(":to", s(window_to.to_rfc3339()))
            .send()
            .await;
        written("UpdateItem", result)
    }

    /// Records a successful delivery of `events` events.
    pub async fn record_delivery(
        &self,
        org: &OrgId,
        id: &str,
        events: u64,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.update_if_exists(
            org,
            id,
            "SET last_success_at = :at ADD events_delivered :n",
            vec![
                (":at", s(at.to_rfc3339())),
                (":n", AttributeValue::N(events.to_string())),
            ],
        )
        .await
    }

    /// Records a failed delivery attempt and why (never a secret: callers pass
    /// classified reasons such as "HTTP 503").
    pub async fn record_failure(
        &self,
        org: &OrgId,
        id: &str,
        reason: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.update_if_exists(
            org,
            id,
            "SET last_error = :reason, last_error_at = :at",
            vec![(":reason", s(reason)), (":at", s(at.to_rfc3339()))],
        )
        .await
    }

    /// Adds `delta` to a job counter (pending windows, jobs in the DLQ).
    pub async fn count_jobs(
        &self,
        org: &OrgId,
        id: &str,
        counter: JobCounter,
        delta: i64,
    ) -> Result<(), StoreError> {
        let attr = match counter {
            JobCounter::Pending => "jobs_pending",
            JobCounter::Dead => "jobs_dead",
        };
        self.update_if_exists(
            org,
            id,
            &format!("ADD {attr} :d"),
            vec![(":d", AttributeValue::N(delta.to_string()))],
        )
        .await
    }

    async fn update_if_exists(
        &self,
        org: &OrgId,
        id: &str,
        expression: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<(), StoreError> {
        let mut req = self
            .ddb
            .update_item()
            .table_name(&self.tables.control)
            .key("PK", s(keys::org(org)))
            .key("SK", s(dest_sk(id)))
            .update_expression(expression)
            // A destination deleted meanwhile stays deleted.
            .condition_expression("attribute_exists(PK)");
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        written("UpdateItem", req.send().await).map(|_| ())
    }
}
