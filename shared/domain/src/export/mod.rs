//! The export model, pure: the job a scheduler cuts and a worker runs (a
//! window of `recorded_at` for one destination), how an attempt ended, the
//! one retry policy every destination shares, and a destination as stored.
//! Encoding and delivery live in `audit-destinations`, the queue in
//! `audit-aws`.

pub mod destination;
pub mod job;
pub mod late;
pub mod outcome;
pub mod retry;

pub use destination::{
    secret_hint, DeliveryStatus, Destination, DestinationFilter, DestinationState, JobLease,
};
pub use job::{cut_window, ExportJob, ExportWindow};
pub use outcome::{classify_http, Outcome};
pub use retry::{backoff_delay, past_deadline, Disposition, RetryPolicy};
