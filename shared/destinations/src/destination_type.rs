//! The one trait every destination type implements, so that each of
//! `s3`, `datadog`, `splunk` and `webhook` has the same parts and
//! `DestinationSettings` can hand any of them the same calls.

use std::future::Future;

use audit_domain::problem::FieldError;

use crate::deliver::{Attempt, Deliverer, Delivery};
use crate::format::Record;
use crate::secret::SecretRule;
use crate::url_policy::UrlPolicy;

/// A kind of place an org's log is streamed to, as its settings.
pub trait DestinationType: Sized + Clone + Sync {
    /// Its `type` in the API and the control table, in log lines and metrics.
    const TYPE: &'static str;

    /// What it takes as its secret, and how a submitted one is checked.
    const SECRET: SecretRule;

    /// Every problem with these settings, each naming its field
    /// (`settings.url`); empty when they are fine.
    fn validate(&self, urls: UrlPolicy) -> Vec<FieldError>;

    /// Sends one job's records (already filtered and encoded in the
    /// destination's format) within the destination's limits, in order, and
    /// stops at the first request that is not delivered, with its classified
    /// outcome. Called through `Deliverer::deliver`, which also keeps the
    /// secret out of the reason.
    fn deliver(
        &self,
        deliverer: &Deliverer,
        attempt: &Attempt<'_>,
        records: &[Record],
    ) -> impl Future<Output = Delivery> + Send;

    /// Where it sends, as one comparable value: everything that decides the
    /// host (or bucket and role) the secret or the data goes to. A change
    /// of place needs the secret again (`PATCH` without one is refused).
    fn place(&self) -> String;

    /// The settings a test delivery (`POST /v1/destinations/{id}/test`)
    /// uses: the same, unless the type keeps test data apart.
    fn for_test(&self) -> Self {
        self.clone()
    }
}
