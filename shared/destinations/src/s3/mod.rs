//! Amazon S3.
//!
//! * `settings`: the bucket, prefix, region and role;
//! * `encode`: one gzip JSON-lines object per job under a deterministic key;
//! * `send`: conditional PUTs with clients per (region, role);
//! * `classify`: S3's status and error codes.

mod classify;
mod encode;
pub(crate) mod send;
mod settings;

pub use classify::classify;
pub use encode::{gzip_jsonl, object_key};
pub use send::SESSION_NAME;
pub use settings::Settings;

use audit_domain::problem::FieldError;

use crate::deliver::{Attempt, Deliverer, Delivery};
use crate::destination_type::DestinationType;
use crate::format::Record;
use crate::secret::SecretRule;
use crate::url_policy::UrlPolicy;

impl DestinationType for Settings {
    const TYPE: &'static str = "s3";
    const SECRET: SecretRule = settings::SECRET;

    fn place(&self) -> String {
        format!(
            "bucket={} region={} role_arn={}",
            self.bucket,
            self.region.as_deref().unwrap_or(""),
            self.role_arn.as_deref().unwrap_or("")
        )
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
        let job = attempt.job;
        let key = object_key(&self.prefix, &job.org_id, &job.window, job.part);
        deliverer
            .s3()
            .put_records(self, &job.org_id, &key, records)
            .await
    }

    /// Under `<prefix>/_test/`, apart from exported windows.
    fn for_test(&self) -> Self {
        settings::for_test(self)
    }
}
