//! Writing to S3: conditional PUTs (`If-None-Match: *`), so a retried or
//! replayed window finds its object already there (412) and counts as
//! delivered. Clients are built from the process's SDK config on first use,
//! in the destination's region and, if it names one, as its role.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_config::sts::AssumeRoleProvider;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::Region;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::put_object::PutObjectError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumAlgorithm;

use audit_domain::export::outcome::Outcome;
use audit_domain::ids::OrgId;

use super::{classify, encode, Settings};
use crate::deliver::{excerpt, Delivery, MAX_CONNECT_TIMEOUT};
use crate::format::Record;

/// How the destination's account sees us in CloudTrail.
pub const SESSION_NAME: &str = "audit-log-export";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    region: Option<String>,
    role_arn: Option<String>,
    /// The org the role is assumed for, its `ExternalId`.
    external_id: String,
}

/// S3 clients per (region, role), built on first use and kept: an assumed
/// role's credentials are cached by its client, so jobs do not call STS
/// every time.
pub(crate) struct Clients {
    sdk: aws_config::SdkConfig,
    timeout: Duration,
    cache: Mutex<HashMap<ClientKey, aws_sdk_s3::Client>>,
}

impl Clients {
    pub(crate) fn new(sdk: &aws_config::SdkConfig, timeout: Duration) -> Self {
        Clients {
            sdk: sdk.clone(),
            timeout,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// One job's records as one gzip JSON-lines object at `key`.
    pub(crate) async fn put_records(
        &self,
        settings: &Settings,
        org: &OrgId,
        key: &str,
        records: &[Record],
    ) -> Delivery {
        let body = match encode::gzip_jsonl(records) {
            Ok(body) => body,
            Err(e) => {
                let reason = format!("could not compress the S3 object: {e}");
                return Delivery::new(Outcome::Permanent(reason), 0, 0);
            }
        };
        let outcome = self
            .put_new(
                settings,
                org,
                key,
                body,
                "application/x-ndjson",
                Some("gzip"),
            )
            .await;
        let events = if outcome.is_delivered() {
            records.len()
        } else {
            0
        };
        Delivery::new(outcome, 1, events)
    }

    /// PUTs an object unless one is already at `key` (`If-None-Match: *`,
    /// which counts as delivered), and classifies the answer. The body's
    /// CRC32 goes with it: a bucket with Object Lock (the stage's checkpoint
    /// bucket, or a customer's) refuses a PUT without a checksum.
    pub(crate) async fn put_new(
        &self,
        settings: &Settings,
        org: &OrgId,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        content_encoding: Option<&str>,
    ) -> Outcome {
        let put = self
            .client(settings, org)
            .await
            .put_object()
            .bucket(&settings.bucket)
            .key(key)
            .if_none_match("*")
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .content_type(content_type)
            .set_content_encoding(content_encoding.map(str::to_owned))
            .body(ByteStream::from(body))
            .send()
            .await;
        match put {
            Ok(_) => Outcome::Delivered,
            Err(e) => self.classify_error(&e),
        }
    }

    /// One client per (region, role, org), kept so assumed-role credentials
    /// are cached across jobs. The role is assumed with `ExternalId` = the
    /// org id, so a customer's trust policy admits only their own org.
    async fn client(&self, settings: &Settings, org: &OrgId) -> aws_sdk_s3::Client {
        let key = ClientKey {
            region: settings.region.clone(),
            role_arn: settings.role_arn.clone(),
            external_id: org.as_str().to_owned(),
        };
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&key)
            .cloned();
        if let Some(client) = cached {
            return client;
        }
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(self.timeout.min(MAX_CONNECT_TIMEOUT))
            .operation_timeout(self.timeout)
            .build();
        let mut config = aws_sdk_s3::config::Builder::from(&self.sdk).timeout_config(timeouts);
        if let Some(region) = &settings.region {
            config = config.region(Region::new(region.clone()));
        }
        if endpoint_overridden(&self.sdk) {
            // Local S3 (moto) has no virtual-hosted bucket names.
            config = config.force_path_style(true);
        }
        if let Some(role_arn) = &settings.role_arn {
            let provider = AssumeRoleProvider::builder(role_arn)
                .session_name(SESSION_NAME)
                .external_id(org.as_str())
                .configure(&self.sdk)
                .build()
                .await;
            config = config.credentials_provider(provider);
        }
        let client = aws_sdk_s3::Client::from_conf(config.build());
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(key, client.clone());
        client
    }

    fn classify_error(&self, err: &SdkError<PutObjectError, HttpResponse>) -> Outcome {
        match err {
            SdkError::ServiceError(ctx) => {
                let e = ctx.err();
                let status = ctx.raw().status().as_u16();
                classify(status, e.code().unwrap_or(""), e.message().unwrap_or(""))
            }
            SdkError::TimeoutError(_) => {
                Outcome::Transient(format!("S3 did not answer within {:?}", self.timeout))
            }
            SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
                Outcome::Transient(format!(
                    "could not reach S3: {}",
                    excerpt(&DisplayErrorContext(err).to_string(), 300)
                ))
            }
            _ => Outcome::Permanent(format!(
                "the S3 request could not be made: {}",
                excerpt(&DisplayErrorContext(err).to_string(), 300)
            )),
        }
    }
}

/// Whether S3 is reached through an overridden endpoint (the local stack).
fn endpoint_overridden(sdk: &aws_config::SdkConfig) -> bool {
    sdk.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
}
