//! Export to an organization's SIEM: the job a scheduler cuts and a worker
//! runs, the record formats (native JSON, OCSF), one encoder per destination
//! (Splunk HEC, Datadog, S3, webhook) that packs records into request bodies
//! within the destination's limits, how each destination's answer is
//! classified, and the shared retry policy — all pure. The I/O lives in
//! `deliver` (sending to destinations) and `queue` (SQS).

pub mod batch;
pub mod datadog;
pub mod deliver;
pub mod destination;
pub mod format;
pub mod job;
pub mod ocsf;
pub mod outcome;
pub mod queue;
pub mod retry;
pub mod s3;
pub mod splunk;
pub mod webhook;

pub use destination::{
    DeliveryStatus, Destination, DestinationFilter, DestinationSettings, DestinationSpec,
    DestinationState, UrlPolicy,
};
pub use format::{encode_record, Format, Record};
pub use job::{cut_window, ExportJob, ExportWindow};
pub use outcome::{classify_http, Outcome};
pub use retry::{backoff_delay, past_deadline, Disposition, RetryPolicy};

#[cfg(test)]
pub(crate) mod fixtures;
