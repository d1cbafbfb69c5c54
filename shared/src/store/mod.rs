//! The DynamoDB adapter. Handlers call intent-named functions
//! (`put_event`, `find_events`, `find_key`, …); no `AttributeValue` map is
//! built anywhere outside this module.

mod control;
mod destinations;
mod digests;
mod events;
pub mod schema;

use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::Client;

pub use control::{ApiKeyRecord, OrgSettings};
pub use destinations::JobCounter;
pub use digests::MANIFEST_PART_LEN;
pub use events::{encode_event_item, Page, PutOutcome, ReadBudget, ReadCost, WindowPage};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DynamoDB {op} failed: {message}")]
    Dynamo { op: &'static str, message: String },
    #[error("stored item could not be read: {0}")]
    Corrupt(String),
    #[error("invalid request to the store: {0}")]
    Invalid(String),
}

pub(crate) fn dynamo_error<E, R>(op: &'static str, e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Dynamo {
        op,
        message: DisplayErrorContext(&e).to_string(),
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

/// The store: one DynamoDB client (built once per process) and the tables.
#[derive(Debug, Clone)]
pub struct Store {
    ddb: Client,
    tables: Tables,
}

impl Store {
    pub fn new(ddb: Client, tables: Tables) -> Self {
        Self { ddb, tables }
    }

    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// Creates both tables when missing (what `auditctl init` does).
    pub async fn ensure_tables(&self) -> Result<(), StoreError> {
        schema::ensure_table(&self.ddb, &self.tables.events, &schema::EVENTS).await?;
        schema::ensure_table(&self.ddb, &self.tables.control, &schema::CONTROL).await?;
        Ok(())
    }
}
