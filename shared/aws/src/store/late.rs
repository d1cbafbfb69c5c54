//! Late-arrival marks and what settling them writes. The events stream's
//! consumer puts one mark per late write (`DIGESTS#<org>` / `LATE#<rts>`,
//! in the sparse `by_tick` index under `tick_pk = LATE`, oldest first
//! across orgs); the scheduler reads that index partition after sealing,
//! so a tick with no late write reads one empty page.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};

use super::digests::digests_pk;
use super::event_item::event_sk;
use super::schema::BY_TICK;
use super::{dynamo_error, s, written, Item, Store, StoreError};
use crate::store::plan::keys;
use audit_domain::ids::{EventId, OrgId};
use audit_domain::time::Timestamp;

/// `tick_pk` of the late-arrival marks.
const TICK_LATE: &str = "LATE";
/// A mark nobody settled (an org deleted meanwhile) goes after this long.
const MARK_TTL_SECS: i64 = 30 * 86_400;

/// One late write, as the stream showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateMark {
    pub org: OrgId,
    pub id: EventId,
    /// The event's `rts` when it was written (`<recorded_at>#<id>`).
    pub rts: String,
    /// The stream's approximate time of the write.
    pub written_at: Timestamp,
}

impl LateMark {
    /// The `recorded_at` the event was written with.
    pub fn recorded_at(&self) -> Option<Timestamp> {
        let (millis, _) = self.rts.split_once('#')?;
        Timestamp::from_millis(millis.parse().ok()?).ok()
    }

    fn sk(&self) -> String {
        format!("LATE#{}", self.rts)
    }
}

fn text(item: &Item, name: &str) -> Result<String, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => Err(StoreError::Corrupt(format!("a late mark without {name}"))),
    }
}

fn decode_mark(item: &Item) -> Result<LateMark, StoreError> {
    let org = text(item, "org")?;
    let id = text(item, "id")?;
    let written_at = match item.get("written_at") {
        Some(AttributeValue::N(n)) => n.parse::<i64>().ok(),
        _ => None,
    }
    .and_then(|ms| Timestamp::from_millis(ms).ok())
    .ok_or_else(|| StoreError::Corrupt("a late mark without written_at".into()))?;
    Ok(LateMark {
        org: OrgId::parse(&org).map_err(|e| StoreError::Corrupt(format!("late mark org: {e}")))?,
        id: EventId::parse(&id).map_err(|e| StoreError::Corrupt(format!("late mark id: {e}")))?,
        rts: text(item, "rts")?,
        written_at,
    })
}

impl Store {
    /// Records a late write (idempotent: a stream record seen twice puts
    /// the same item).
    pub async fn put_late_mark(&self, mark: &LateMark) -> Result<(), StoreError> {
        self.put_control(Item::from([
            ("PK".to_string(), s(digests_pk(&mark.org))),
            ("SK".to_string(), s(mark.sk())),
            ("tick_pk".to_string(), s(TICK_LATE)),
            (
                "tick_sk".to_string(),
                s(format!("{}#{}", mark.rts, mark.org)),
            ),
            ("org".to_string(), s(mark.org.as_str())),
            ("id".to_string(), s(mark.id.as_str())),
            ("rts".to_string(), s(mark.rts.clone())),
            (
                "written_at".to_string(),
                AttributeValue::N(mark.written_at.millis().to_string()),
            ),
            (
                "expires_at".to_string(),
                AttributeValue::N((mark.written_at.epoch_seconds() + MARK_TTL_SECS).to_string()),
            ),
        ]))
        .await
    }

    /// The oldest `limit` marks, every org's, oldest recorded first.
    pub async fn late_marks(&self, limit: usize) -> Result<Vec<LateMark>, StoreError> {
        let out = self
            .ddb
            .query()
            .table_name(&self.tables.control)
            .index_name(BY_TICK.name)
            .key_condition_expression("tick_pk = :p")
            .expression_attribute_values(":p", s(TICK_LATE))
            .limit(i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| dynamo_error("Query", e))?;
        self.count_reads(out.consumed_capacity.as_ref());
        out.items
            .unwrap_or_default()
            .iter()
            .map(decode_mark)
            .collect()
    }

    /// Removes a settled mark.
    pub async fn delete_late_mark(&self, mark: &LateMark) -> Result<(), StoreError> {
        self.ddb
            .delete_item()
            .table_name(&self.tables.control)
            .key("PK", s(digests_pk(&mark.org)))
            .key("SK", s(mark.sk()))
            .send()
            .await
            .map_err(|e| dynamo_error("DeleteItem", e))?;
        Ok(())
    }

    /// Moves a compact event item's `recorded_at` to `to` (its `rts`),
    /// keeping the one it was written with in `late_rts`, only while its
    /// `rts` is still `from`. False when it is not (moved already, or
    /// deleted).
    pub async fn restamp_event(
        &self,
        org: &OrgId,
        id: &EventId,
        from: &str,
        to: Timestamp,
    ) -> Result<bool, StoreError> {
        let result = self
            .ddb
            .update_item()
            .table_name(&self.tables.events)
            .key("PK", s(keys::org(org)))
            .key("SK", s(event_sk(id)))
            .update_expression("SET rts = :to, late_rts = if_not_exists(late_rts, :from)")
            .condition_expression("rts = :from AND attribute_exists(packed)")
            .expression_attribute_values(":from", s(from))
            .expression_attribute_values(":to", s(super::event_item::sort_key(to, id)))
            .send()
            .await;
        written("UpdateItem", result)
    }

    /// Whether the manifest of the org's digest for the period starting at
    /// `period_start` lists `id`; `None` when no such digest exists.
    pub async fn manifest_lists(
        &self,
        org: &OrgId,
        period_start: Timestamp,
        id: &EventId,
    ) -> Result<Option<bool>, StoreError> {
        let Some((_, parts)) = self
            .digests(org, Some(period_start), Some(period_start), false, 1)
            .await?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        self.parts_list(org, period_start, parts, id)
            .await
            .map(Some)
    }

    /// Whether the first `parts` manifest parts of a period list `id`.
    pub async fn parts_list(
        &self,
        org: &OrgId,
        period_start: Timestamp,
        parts: u32,
        id: &EventId,
    ) -> Result<bool, StoreError> {
        for n in 0..parts as usize {
            if let Some(entries) = self.manifest_part(org, period_start, n).await? {
                if entries.iter().any(|e| &e.id == id) {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_reads_its_recorded_at_from_the_rts() {
        let mark = LateMark {
            org: OrgId::parse("org_1").unwrap(),
            id: EventId::parse("evt_1").unwrap(),
            rts: "1764756000123#evt_1".into(),
            written_at: Timestamp::from_millis(1_764_759_600_000).unwrap(),
        };
        assert_eq!(
            mark.recorded_at().map(Timestamp::millis),
            Some(1_764_756_000_123)
        );
        let broken = LateMark {
            rts: "not-a-time#evt_1".into(),
            ..mark
        };
        assert_eq!(broken.recorded_at(), None);
    }
}
