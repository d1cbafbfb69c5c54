//! S3: one gzip JSON-lines object per job, written with `If-None-Match: *`
//! so a retried or replayed window finds its object already there (412) and
//! counts as delivered. Clients are built from the process's SDK config, in
//! the destination's region and, if it names one, as its role.

use aws_config::sts::AssumeRoleProvider;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::Region;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::put_object::PutObjectError;
use aws_sdk_s3::primitives::ByteStream;

use crate::format::Record;
use crate::s3::gzip_jsonl;
use audit_domain::export::outcome::Outcome;

use super::{excerpt, Deliverer, Delivery, MAX_CONNECT_TIMEOUT};

/// How the destination's account sees us in CloudTrail.
pub const SESSION_NAME: &str = "audit-log-export";

/// The bucket and how to reach it.
pub(super) struct Target<'a> {
    pub bucket: &'a str,
    pub region: Option<&'a str>,
    pub role_arn: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct ClientKey {
    region: Option<String>,
    role_arn: Option<String>,
}

impl Deliverer {
    pub(super) async fn put_s3(
        &self,
        target: Target<'_>,
        key: &str,
        records: &[Record],
    ) -> Delivery {
        let body = match gzip_jsonl(records) {
            Ok(body) => body,
            Err(e) => {
                let reason = format!("could not compress the S3 object: {e}");
                return Delivery::failed(Outcome::Permanent(reason), 0, 0);
            }
        };
        let outcome = self
            .put_new(&target, key, body, "application/x-ndjson", Some("gzip"))
            .await;
        let events = if outcome.is_delivered() {
            records.len()
        } else {
            0
        };
        Delivery {
            outcome,
            requests: 1,
            events,
        }
    }

    /// Writes one uncompressed object (an integrity digest file, the public
    /// key) to an S3 destination's bucket, with `If-None-Match: *`: an object
    /// already there counts as delivered and is never overwritten.
    pub async fn put_s3_object(
        &self,
        settings: &crate::DestinationSettings,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Outcome {
        let crate::DestinationSettings::S3 {
            bucket,
            region,
            role_arn,
            ..
        } = settings
        else {
            return Outcome::Permanent("not an S3 destination".into());
        };
        let target = Target {
            bucket,
            region: region.as_deref(),
            role_arn: role_arn.as_deref(),
        };
        self.put_new(&target, key, body, content_type, None).await
    }

    /// PUTs an object unless one is already at `key` (`If-None-Match: *`,
    /// which counts as delivered), and classifies the answer.
    async fn put_new(
        &self,
        target: &Target<'_>,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        content_encoding: Option<&str>,
    ) -> Outcome {
        let put = self
            .s3_client(target)
            .await
            .put_object()
            .bucket(target.bucket)
            .key(key)
            .if_none_match("*")
            .content_type(content_type)
            .set_content_encoding(content_encoding.map(str::to_owned))
            .body(ByteStream::from(body))
            .send()
            .await;
        match put {
            Ok(_) => Outcome::Delivered,
            Err(e) => self.classify_s3_error(&e),
        }
    }

    /// One client per (region, role), kept so assumed-role credentials are
    /// cached across jobs.
    async fn s3_client(&self, target: &Target<'_>) -> aws_sdk_s3::Client {
        let key = ClientKey {
            region: target.region.map(str::to_owned),
            role_arn: target.role_arn.map(str::to_owned),
        };
        let cached = self
            .s3_clients
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
        if let Some(region) = target.region {
            config = config.region(Region::new(region.to_owned()));
        }
        if endpoint_overridden(&self.sdk) {
            // Local S3 (moto) has no virtual-hosted bucket names.
            config = config.force_path_style(true);
        }
        if let Some(role_arn) = target.role_arn {
            let provider = AssumeRoleProvider::builder(role_arn)
                .session_name(SESSION_NAME)
                .configure(&self.sdk)
                .build()
                .await;
            config = config.credentials_provider(provider);
        }
        let client = aws_sdk_s3::Client::from_conf(config.build());
        self.s3_clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(key, client.clone());
        client
    }

    fn classify_s3_error(&self, err: &SdkError<PutObjectError, HttpResponse>) -> Outcome {
        match err {
            SdkError::ServiceError(ctx) => {
                let e = ctx.err();
                let status = ctx.raw().status().as_u16();
                classify_s3(status, e.code().unwrap_or(""), e.message().unwrap_or(""))
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

/// S3's answer to a conditional put: 412 means the object is already there
/// (a replayed window), throttling and server errors are retried, and the
/// rest (no such bucket, access denied, wrong region) need an admin.
pub(crate) fn classify_s3(status: u16, code: &str, message: &str) -> Outcome {
    const RETRIED_CODES: [&str; 7] = [
        "RequestTimeout",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "OperationAborted",
        "ConditionalRequestConflict",
    ];
    if status == 412 || code == "PreconditionFailed" {
        return Outcome::Delivered;
    }
    let hint = match code {
        "AccessDenied" | "AllAccessDisabled" | "InvalidAccessKeyId" | "SignatureDoesNotMatch" => {
            "check the bucket policy and that the export role may s3:PutObject"
        }
        "NoSuchBucket" => "check the bucket name",
        "PermanentRedirect"
        | "AuthorizationHeaderMalformed"
        | "IllegalLocationConstraintException" => "check the bucket's region",
        _ => "",
    };
    let mut reason = format!("HTTP {status} from S3");
    for part in [code, &excerpt(message, 200), hint] {
        if !part.is_empty() {
            reason.push_str(if reason.contains(": ") { "; " } else { ": " });
            reason.push_str(part);
        }
    }
    let retried = RETRIED_CODES.contains(&code)
        || matches!(status, 408 | 409 | 429)
        || (500..=599).contains(&status) && status != 501;
    if retried {
        Outcome::Transient(reason)
    } else {
        Outcome::Permanent(reason)
    }
}

/// Whether S3 is reached through an overridden endpoint (the local stack).
fn endpoint_overridden(sdk: &aws_config::SdkConfig) -> bool {
    sdk.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_already_there_is_delivered() {
        assert_eq!(
            classify_s3(
                412,
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold"
            ),
            Outcome::Delivered
        );
    }

    #[test]
    fn throttling_and_server_errors_are_retried() {
        for (status, code) in [
            (503, "SlowDown"),
            (500, "InternalError"),
            (400, "RequestTimeout"),
            (409, "ConditionalRequestConflict"),
        ] {
            assert!(
                matches!(classify_s3(status, code, ""), Outcome::Transient(_)),
                "{status} {code}"
            );
        }
    }

    #[test]
    fn missing_bucket_and_denied_access_are_not_retried() {
        assert_eq!(
            classify_s3(404, "NoSuchBucket", "The specified bucket does not exist"),
            Outcome::Permanent(
                "HTTP 404 from S3: NoSuchBucket; The specified bucket does not exist; check the bucket name".into()
            )
        );
        assert!(matches!(
            classify_s3(403, "AccessDenied", "Access Denied"),
            Outcome::Permanent(_)
        ));
        assert!(matches!(
            classify_s3(301, "PermanentRedirect", ""),
            Outcome::Permanent(_)
        ));
    }
}
