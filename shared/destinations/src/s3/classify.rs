//! S3's answers to a conditional put: 412 is an object already there.

use audit_domain::export::outcome::Outcome;

use crate::deliver::excerpt;

/// S3's answer to a conditional put: 412 means the object is already there
/// (a replayed window), throttling and server errors are retried, and the
/// rest (no such bucket, access denied, wrong region) need an admin.
pub fn classify(status: u16, code: &str, message: &str) -> Outcome {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_already_there_is_delivered() {
        assert_eq!(
            classify(
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
                matches!(classify(status, code, ""), Outcome::Transient(_)),
                "{status} {code}"
            );
        }
    }

    #[test]
    fn missing_bucket_and_denied_access_are_not_retried() {
        assert_eq!(
            classify(404, "NoSuchBucket", "The specified bucket does not exist"),
            Outcome::Permanent(
                "HTTP 404 from S3: NoSuchBucket; The specified bucket does not exist; check the bucket name".into()
            )
        );
        assert!(matches!(
            classify(403, "AccessDenied", "Access Denied"),
            Outcome::Permanent(_)
        ));
        assert!(matches!(
            classify(301, "PermanentRedirect", ""),
            Outcome::Permanent(_)
        ));
    }
}
