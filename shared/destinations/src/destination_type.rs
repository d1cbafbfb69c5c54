//! The one trait every destination type implements, so that each of
//! `s3`, `datadog`, `splunk` and `webhook` has the same parts and
//! `DestinationSettings` can hand any of them the same calls.

use audit_domain::problem::FieldError;

use crate::url_policy::UrlPolicy;

/// A kind of place an org's log is streamed to, as its settings.
pub trait DestinationType: Sized + Clone {
    /// Its `type` in the API and the control table, in log lines and metrics.
    const TYPE: &'static str;

    /// Every problem with these settings, each naming its field
    /// (`settings.url`); empty when they are fine.
    fn validate(&self, urls: UrlPolicy) -> Vec<FieldError>;

    /// The settings a test delivery (`POST /v1/destinations/{id}/test`)
    /// uses: the same, unless the type keeps test data apart.
    fn for_test(&self) -> Self {
        self.clone()
    }
}
