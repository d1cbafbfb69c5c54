//! The audit log's domain, pure: ids and time, the event model and the
//! catalog of event types, how events read (descriptions), validation of a
//! producer's JSON, roles and what each may do, the query and its search
//! syntax, cursors, downloads, the pure parts of integrity (hashes, digests,
//! signatures, verification), the export job model and retry policy, limits
//! and problem details. No AWS SDK, no HTTP client: the adapters
//! (`audit-aws`), the destinations (`audit-destinations`) and the HTTP edge
//! (`audit-http`) build on it.

pub mod auth;
pub mod catalog;
pub mod cursor;
pub mod describe;
pub mod download;
pub mod event;
pub mod export;
pub mod ids;
pub mod integrity;
pub mod limits;
pub mod metrics;
pub mod problem;
pub mod query;
pub mod retention;
pub mod time;
pub mod validate;
pub mod viewer;

/// Events for tests, one by a person and one by the system (for this
/// crate's tests, and other crates' with the `fixtures` feature).
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
