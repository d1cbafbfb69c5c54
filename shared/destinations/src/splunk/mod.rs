//! Splunk HTTP Event Collector.
//!
//! * `settings`: the HEC base URL, index, source and sourcetype;
//! * `encode`: one envelope per event with epoch-seconds `time`,
//!   concatenated into bodies of about 1 MiB;
//! * `request`: POST `<url>/services/collector/event`, `Authorization:
//!   Splunk <token>`;
//! * `classify`: the HEC reply code, then the status.

mod classify;
mod encode;
pub(crate) mod request;
mod settings;

pub use classify::classify;
pub use encode::{batches, envelope, DEFAULT_MAX_BYTES, HOST};
pub(crate) use request::request;
pub use settings::Settings;

use audit_domain::problem::FieldError;

use crate::deliver::{Attempt, Deliverer, Delivery};
use crate::destination_type::DestinationType;
use crate::format::Record;
use crate::secret::SecretRule;
use crate::url_policy::UrlPolicy;

impl DestinationType for Settings {
    const TYPE: &'static str = "splunk";
    const SECRET: SecretRule = settings::SECRET;

    fn place(&self) -> String {
        self.url.clone()
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
