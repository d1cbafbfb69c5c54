//! Export to an organization's SIEM: what an admin sets on a destination,
//! the record formats (native JSON, OCSF), one encoder per destination
//! (Splunk HEC, Datadog, S3, webhook) that packs records into request bodies
//! within the destination's limits, how each destination's answer is
//! classified, and the delivery I/O (`deliver`).

pub mod batch;
pub mod datadog;
pub mod deliver;
pub mod destination_type;
pub mod format;
pub mod ocsf;
pub mod s3;
pub mod secret;
pub mod settings;
pub mod spec;
pub mod splunk;
pub mod url_policy;
pub mod webhook;

pub use destination_type::DestinationType;
pub use format::{encode_record, Format, Record};
pub use secret::SecretRule;
pub use settings::DestinationSettings;
pub use spec::DestinationSpec;
pub use url_policy::{is_public, UrlPolicy};

/// A destination as the control table keeps it, with its typed spec.
pub type Destination = audit_domain::export::Destination<DestinationSpec>;
