//! Each org's own record of its dead-lettered jobs, `DEAD#<org>#<destination>`
//! / `<ExportJob::dead_key>` (the job as JSON, why it died, when), expiring
//! with the DLQ's 14-day retention. The DLQ is shared by every org, so an
//! org's admin cannot be given a receive over it; the record is what the
//! org redrives from (`POST /v1/destinations/{id}/redrive`), and the DLQ's
//! copy names it (`ExportJob::dead_key`). Whoever takes a record first (a
//! conditional delete) sends the job again; the other finds it gone.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{dynamo_error, s, written, Item, Store, StoreError};
use audit_domain::export::ExportJob;
use audit_domain::ids::OrgId;
use audit_domain::time::Timestamp;

/// As long as the DLQ keeps a message.
const DEAD_TTL_SECS: i64 = crate::queue::DLQ_RETENTION_SECS as i64;

fn dead_pk(org: &OrgId, destination: &str) -> String {
    format!("DEAD#{org}#{destination}")
}

/// One dead-lettered job of a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadJob {
    pub key: String,
    pub job: ExportJob,
    pub reason: String,
    pub dead_at: Timestamp,
}

fn decode(item: &Item) -> Result<DeadJob, StoreError> {
    let text = |name: &str| match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v.as_str()),
        _ => Err(StoreError::Corrupt(format!(
            "a dead job record without {name}"
        ))),
    };
    let job: ExportJob = serde_json::from_str(text("job")?)
        .map_err(|e| StoreError::Corrupt(format!("a dead job record's job: {e}")))?;
    Ok(DeadJob {
        key: text("SK")?.to_string(),
        job,
        reason: text("reason")?.to_string(),
        dead_at: Timestamp::parse(text("dead_at")?)
            .map_err(|e| StoreError::Corrupt(format!("a dead job record's time: {e}")))?,
    })
}

impl Store {
    /// Records a job the worker dead-letters, under its org and
    /// destination; returns the record's key. An update that creates the
    /// item, so the worker needs no `PutItem` (a part that dies again
    /// replaces its record).
    pub async fn put_dead_job(
        &self,
        job: &ExportJob,
        reason: &str,
        at: Timestamp,
    ) -> Result<String, StoreError> {
        let key = job.dead_key();
        let body = serde_json::to_string(job).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.ddb
            .update_item()
            .table_name(&self.tables.control)
            .key("PK", s(dead_pk(&job.org_id, &job.destination_id)))
            .key("SK", s(key.clone()))
            .update_expression("SET job = :j, reason = :r, dead_at = :t, expires_at = :e")
            .expression_attribute_values(":j", s(body))
            .expression_attribute_values(":r", s(reason))
            .expression_attribute_values(":t", s(at.to_rfc3339()))
            .expression_attribute_values(
                ":e",
                AttributeValue::N((at.epoch_seconds() + DEAD_TTL_SECS).to_string()),
            )
            .send()
            .await
            .map_err(|e| dynamo_error("UpdateItem", e))?;
        Ok(key)
    }

    /// The destination's dead jobs, oldest window first, at most `limit`.
    pub async fn dead_jobs(
        &self,
        org: &OrgId,
        destination: &str,
        limit: usize,
    ) -> Result<Vec<DeadJob>, StoreError> {
        let out = self
            .ddb
            .query()
            .table_name(&self.tables.control)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(dead_pk(org, destination)))
            .consistent_read(true)
            .limit(i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000))
            .send()
            .await
            .map_err(|e| dynamo_error("Query", e))?;
        out.items.unwrap_or_default().iter().map(decode).collect()
    }

    /// Takes a dead job's record (deletes it), only if it is still there:
    /// true for the one caller that should send the job again.
    pub async fn take_dead_job(
        &self,
        org: &OrgId,
        destination: &str,
        key: &str,
    ) -> Result<bool, StoreError> {
        let result = self
            .ddb
            .delete_item()
            .table_name(&self.tables.control)
            .key("PK", s(dead_pk(org, destination)))
            .key("SK", s(key))
            .condition_expression("attribute_exists(PK)")
            .send()
            .await;
        written("DeleteItem", result)
    }
}
