//! Webhooks signed per Standard Webhooks.
//!
//! * `settings`: the receiver's URL;
//! * `encode`: bodies of `{"type", "timestamp", "data": [records]}`, at most
//!   100 records and 256 KiB each;
//! * `sign`: the `webhook-id` / `webhook-timestamp` / `webhook-signature`
//!   headers, ids stable per window part, `whsec_` secrets;
//! * `request`: the POST of each body, signed;
//! * `classify`: the receiver's status.

mod classify;
mod encode;
pub(crate) mod request;
mod settings;
mod sign;

pub use classify::classify;
pub use encode::{batches, DEFAULT_MAX_BYTES, DEFAULT_MAX_EVENTS, EVENT_TYPE};
pub(crate) use request::request;
pub use settings::Settings;
pub use sign::{generate_secret, headers, message_id, sign, verify, SignError, SECRET_PREFIX};

use audit_domain::problem::FieldError;

use crate::deliver::{Attempt, Deliverer, Delivery};
use crate::destination_type::DestinationType;
use crate::format::Record;
use crate::secret::SecretRule;
use crate::url_policy::UrlPolicy;

impl DestinationType for Settings {
    const TYPE: &'static str = "webhook";
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
        let prepared = request(
            self,
            deliverer.urls(),
            attempt.destination_id,
            attempt.job,
            attempt.secret,
            records,
        );
        deliverer.post(prepared).await
    }
}
