//! The DynamoDB adapter. Handlers call intent-named functions
//! (`put_event`, `find_events`, `find_key`, …); no `AttributeValue` map is
//! built anywhere outside this module.

mod control;
mod dead;
mod destinations;
mod digests;
mod event_item;
mod events;
mod late;
pub mod plan;
mod role_claims;
pub mod schema;
mod signing_keys;
mod text;
mod tick;
mod tiles;

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity, ReturnValue};
use aws_sdk_dynamodb::Client;
use serde::de::DeserializeOwned;
use serde::Serialize;

use audit_domain::retention::{RetentionDays, RetentionError};

pub use control::{ApiKeyRecord, OrgSettings, OrgSettingsChange};
pub use dead::DeadJob;
pub use destinations::JobCounter;
pub use digests::{encode_digest_item, encode_manifest_part_item, SealProgress, MANIFEST_PART_LEN};
pub use event_item::{decode_event_item, encode_event_item, encode_full_event_item};
pub use events::{cursor_key, recorded_key, Page, PutOutcome, ReadBudget, ReadCost, WindowPage};
pub use late::LateMark;
pub use signing_keys::RegisteredKey;
pub use text::{encode_term_items, TextLimits};
pub use tick::TickMigration;
pub use tiles::TileWrite;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DynamoDB {op} failed: {message}")]
    Dynamo { op: &'static str, message: String },
    #[error("stored item could not be read: {0}")]
    Corrupt(String),
    #[error("invalid request to the store: {0}")]
    Invalid(String),
    /// DynamoDB refused for capacity (after the SDK's own retries): the
    /// caller may retry later, nothing was written.
    #[error("DynamoDB {op} throttled: {code}")]
    Throttled { op: &'static str, code: String },
}

/// DynamoDB's codes for "over capacity, retry later".
const THROTTLING_CODES: [&str; 3] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
];

pub(crate) fn dynamo_error<E, R>(op: &'static str, e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if let Some(code) = e
        .as_service_error()
        .and_then(|s| s.code())
        .filter(|c| THROTTLING_CODES.contains(c))
    {
        return StoreError::Throttled {
            op,
            code: code.to_string(),
        };
    }
    StoreError::Dynamo {
        op,
        message: DisplayErrorContext(&e).to_string(),
    }
}

/// One DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// DynamoDB's size of an item: attribute names plus values (numbers
/// approximated), what read and write units and budgets are counted in.
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => n.len() / 2 + 1,
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, v)| k.len() + value_size(v) + 1)
                .sum::<usize>()
        }
        AttributeValue::L(l) => 3 + l.iter().map(|v| value_size(v) + 1).sum::<usize>(),
        AttributeValue::Ss(l) => l.iter().map(String::len).sum(),
        _ => 0,
    }
}

/// A string attribute.
pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A typed value as an item; failing means the value cannot be stored.
pub(crate) fn to_item<T: Serialize>(value: T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// An item as a typed value; failing means the stored data is not what we wrote.
pub(crate) fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A conditional write's answer: `Ok(true)` written, `Ok(false)` refused by
/// its condition (a conditional check or a cancelled transaction), else the
/// error.
pub(crate) fn written<O, E, R>(
    op: &'static str,
    result: Result<O, SdkError<E, R>>,
) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(true),
        Err(e)
            if matches!(
                e.as_service_error().and_then(|s| s.code()),
                Some("ConditionalCheckFailedException" | "TransactionCanceledException")
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(dynamo_error(op, e)),
    }
}

/// Table names, from the same environment variables in every process.
#[derive(Debug, Clone)]
pub struct Tables {
    pub events: String,
    pub control: String,
}

impl Tables {
    pub fn from_env() -> Self {
        Tables {
            events: std::env::var("AUDIT_EVENTS_TABLE").unwrap_or_else(|_| "audit-events".into()),
            control: std::env::var("AUDIT_CONTROL_TABLE")
                .unwrap_or_else(|_| "audit-control".into()),
        }
    }
}

/// The store: one DynamoDB client (built once per process), the tables, and
/// the retention of an org that sets none.
#[derive(Debug, Clone)]
pub struct Store {
    ddb: Client,
    tables: Tables,
    default_retention: RetentionDays,
    /// Read units the scheduler tick's calls consumed, as DynamoDB reports
    /// them, in thousandths (shared by clones; `bench` and the tests read it).
    read_milli_units: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// What free-text search last read of each org's summaries' coverage
    /// (shared by clones, `store::text`).
    text_coverage: text::CoverageCache,
    /// The bounds of a free-text search (`store::text`).
    text_limits: text::TextLimits,
}

impl Store {
    /// A store whose orgs default to 365 days' retention.
    pub fn new(ddb: Client, tables: Tables) -> Self {
        Self {
            ddb,
            tables,
            default_retention: RetentionDays::DEFAULT,
            read_milli_units: Default::default(),
            text_coverage: Default::default(),
            text_limits: text::TextLimits::default(),
        }
    }

    /// What every process uses: the tables from the environment and the
    /// default retention from `AUDIT_DEFAULT_RETENTION_DAYS` (the template's
    /// `DefaultRetentionDays`), refusing an invalid one.
    pub fn from_env(ddb: Client) -> Result<Self, RetentionError> {
        Ok(Self::new(ddb, Tables::from_env())
            .with_default_retention(RetentionDays::default_from_env()?))
    }

    /// Other bounds for free-text searches (tests reach each with small ones).
    pub fn with_text_limits(mut self, limits: text::TextLimits) -> Self {
        self.text_limits = limits;
        self
    }

    pub fn with_default_retention(mut self, days: RetentionDays) -> Self {
        self.default_retention = days;
        self
    }

    pub fn default_retention(&self) -> RetentionDays {
        self.default_retention
    }

    /// Read units consumed so far by the calls that report them (every
    /// read the scheduler tick makes).
    pub fn read_units_consumed(&self) -> f64 {
        self.read_milli_units
            .load(std::sync::atomic::Ordering::Relaxed) as f64
            / 1000.0
    }

    pub(crate) fn count_reads(&self, consumed: Option<&aws_sdk_dynamodb::types::ConsumedCapacity>) {
        let units = consumed.and_then(|c| c.capacity_units).unwrap_or(0.0);
        self.read_milli_units.fetch_add(
            (units * 1000.0).round() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// Writes an item to the control table, unconditionally.
    pub(crate) async fn put_control(&self, item: Item) -> Result<(), StoreError> {
        self.write_control(item, ReturnValue::None).await.map(drop)
    }

    /// Like `put_control`, and returns the item it replaced (in the same
    /// write: no read before it, no other writer between the two).
    pub(crate) async fn replace_control(&self, item: Item) -> Result<Option<Item>, StoreError> {
        self.write_control(item, ReturnValue::AllOld).await
    }

    async fn write_control(
        &self,
        item: Item,
        returned: ReturnValue,
    ) -> Result<Option<Item>, StoreError> {
        let out = self
            .ddb
            .put_item()
            .table_name(&self.tables.control)
            .set_item(Some(item))
            .return_values(returned)
            .send()
            .await
            .map_err(|e| dynamo_error("PutItem", e))?;
        Ok(out.attributes)
    }

    /// Every control-table item under `pk` whose sort key starts with
    /// `sk_prefix`, read consistently, following every page; its read units
    /// are counted.
    pub(crate) async fn control_items(
        &self,
        pk: &str,
        sk_prefix: &str,
    ) -> Result<Vec<Item>, StoreError> {
        self.query_all(
            self.ddb
                .query()
                .table_name(&self.tables.control)
                .key_condition_expression("PK = :pk AND begins_with(SK, :sk)")
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":sk", s(sk_prefix))
                .consistent_read(true)
                .return_consumed_capacity(ReturnConsumedCapacity::Total),
        )
        .await
    }

    /// Every item `query` matches, following pages; the read units each page
    /// reports (when the query asks for them) are counted.
    pub(crate) async fn query_all(
        &self,
        query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = query
                .clone()
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| dynamo_error("Query", e))?;
            self.count_reads(out.consumed_capacity.as_ref());
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(items),
            }
        }
    }

    /// Creates both tables when missing (what `auditctl init` does).
    pub async fn ensure_tables(&self) -> Result<(), StoreError> {
        schema::ensure_table(&self.ddb, &self.tables.events, &schema::EVENTS).await?;
        schema::ensure_table(&self.ddb, &self.tables.control, &schema::CONTROL).await?;
        Ok(())
    }
}
