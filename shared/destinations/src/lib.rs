//! Export to an organization's SIEM.
//!
//! One module per destination type, each with the same parts: `s3`,
//! `datadog`, `splunk`, `webhook`, each a folder with `settings.rs` (its one
//! `Settings` type, validation, endpoint URL and secret rule), `encode.rs`
//! (records into bodies within its limits), `request.rs` (HTTP: URL and
//! headers; S3 has `send.rs`) and `classify.rs` (its answers), tied together
//! by its `impl DestinationType` in `mod.rs`. `DestinationSettings` wraps
//! each type's `Settings` and dispatches to it.
//!
//! Shared by all: `spec` (what an admin sets: name, settings, format,
//! filter), `url_policy`, `secret` (the shape of a secret rule), `format`
//! and `ocsf` (record formats), `batch` (packing under count and byte
//! limits), and `deliver` (the `Deliverer`, the HTTP send loop and its
//! reasons, the public-only resolver, secret redaction).

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
