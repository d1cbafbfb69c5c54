//! Datadog Logs API v2.
//!
//! * `settings`: the site or intake URL, service and tags;
//! * `encode`: JSON arrays of log entries, the record as each entry's
//!   `message`, at most 1000 entries and 5 MB per request;
//! * `request`: POST `<intake>/api/v2/logs` with `DD-API-KEY`;
//! * `classify`: Datadog's status codes.

mod classify;
mod encode;
pub(crate) mod request;
mod settings;

pub use classify::classify;
pub use encode::{batches, HOSTNAME, MAX_BATCH_BYTES, MAX_ENTRIES, SOURCE};
pub(crate) use request::request;
pub use settings::{Settings, MAX_TAGS};

use audit_domain::problem::FieldError;

use crate::deliver::{Attempt, Deliverer, Delivery};
use crate::destination_type::DestinationType;
use crate::format::Record;
use crate::secret::SecretRule;
use crate::url_policy::UrlPolicy;

impl DestinationType for Settings {
    const TYPE: &'static str = "datadog";
    const SECRET: SecretRule = settings::SECRET;

    fn place(&self) -> String {
        match &self.intake_url {
            Some(url) => format!("intake_url={url}"),
            None => format!("site={}", self.site),
        }
    }

    fn validate(&self, urls: UrlPolicy) -> Vec<FieldError> {
        settings::validate(self, urls)
    }

    async fn deliver(
        &self,
        deliverer: &Deliverer,
        attempt: &Attempt<'_>,
        records: &[Record],
    ) -> Delivery {
        deliverer
            .post(request(self, deliverer.urls(), attempt.secret, records))
            .await
    }
}
