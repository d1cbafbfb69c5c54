//! What an admin sets on an S3 destination: the bucket, a key prefix, and
//! how to reach it (region, a role to assume).

use serde::{Deserialize, Serialize};

use audit_domain::problem::FieldError;

use crate::secret::SecretRule;
use crate::settings::{bad_text, MAX_SETTING_LEN};
use crate::url_policy::UrlPolicy;

/// An S3 bucket, reached with IAM (no secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub bucket: String,
    #[serde(default)]
    pub prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// A role to assume in the destination's account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
}

/// Every problem with the settings, each naming its field. S3 has no URL:
/// the SDK builds the endpoint from the bucket and region.
pub(super) fn validate(settings: &Settings, urls: UrlPolicy) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let bucket = &settings.bucket;
    // S3's naming rules: the bucket becomes a host name label
    // (`<bucket>.s3.<region>.amazonaws.com`), so nothing else may hide in it.
    let edge_ok = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && edge_ok(bucket.bytes().next())
        && edge_ok(bucket.bytes().last())
        && !bucket.contains("..")
        && bucket.parse::<std::net::Ipv4Addr>().is_err();
    if !bucket_ok {
        errors.push(FieldError::new(
            "settings.bucket",
            "must be an S3 bucket name (3-63 lower-case letters, digits, '.', '-')",
        ));
    }
    let prefix = &settings.prefix;
    if prefix.len() > MAX_SETTING_LEN
        || prefix.starts_with('/')
        || prefix.chars().any(char::is_control)
    {
        errors.push(FieldError::new(
            "settings.prefix",
            "must be at most 512 characters and not start with '/'",
        ));
    }
    if settings.region.as_deref().is_some_and(|r| !region_ok(r)) {
        errors.push(FieldError::new(
            "settings.region",
            "must be an AWS region such as us-east-1",
        ));
    }
    if settings
        .role_arn
        .as_deref()
        .is_some_and(|a| !a.starts_with("arn:aws") || !a.contains(":role/") || bad_text(a))
    {
        errors.push(FieldError::new(
            "settings.role_arn",
            "must be an IAM role ARN",
        ));
    }
    // Without a role the export function writes with its own credentials,
    // into any bucket they reach: only for local development.
    if settings.role_arn.is_none() && !urls.allow_private {
        errors.push(FieldError::new(
            "settings.role_arn",
            "is required: a role in the bucket's account that trusts the export role with ExternalId = your org id",
        ));
    }
    errors
}

/// An AWS region name: `us-east-1`, `eu-central-2`, `us-gov-west-1`
/// (lower-case words joined by hyphens, ending in a number).
fn region_ok(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    region.len() <= 32
        && parts.len() >= 3
        && parts
            .last()
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        && parts[..parts.len() - 1]
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
}

/// The same bucket with the prefix `<prefix>/_test`, where test deliveries
/// go so they never mix with exported windows.
pub(super) fn for_test(settings: &Settings) -> Settings {
    let base = settings.prefix.trim_matches('/');
    let prefix = if base.is_empty() {
        "_test".to_owned()
    } else {
        format!("{base}/_test")
    };
    Settings {
        prefix,
        ..settings.clone()
    }
}

/// No secret: the export role reaches the bucket with IAM.
pub(super) const SECRET: SecretRule = SecretRule::None {
    refusal: "must not be given: s3 destinations are reached with IAM (role_arn), not a secret",
};

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: UrlPolicy = UrlPolicy {
        allow_private: false,
    };

    fn lake() -> Settings {
        serde_json::from_value(serde_json::json!({"bucket": "acme-audit"})).unwrap()
    }

    fn with_role() -> Settings {
        Settings {
            role_arn: Some("arn:aws:iam::123456789012:role/audit-export".into()),
            ..lake()
        }
    }

    fn fields(settings: &Settings) -> Vec<String> {
        validate(settings, STRICT)
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn s3_refuses_a_secret() {
        assert!(!SECRET.is_required());
        assert_eq!(SECRET.check("abc").unwrap_err().field, "secret");
    }

    #[test]
    fn a_bucket_alone_is_enough_locally() {
        let s = lake();
        assert_eq!(s.prefix, "");
        let local = UrlPolicy {
            allow_private: true,
        };
        assert!(validate(&s, local).is_empty());
    }

    #[test]
    fn without_a_role_arn_an_s3_destination_is_refused_outside_local_development() {
        assert_eq!(fields(&lake()), ["settings.role_arn"]);
        assert!(fields(&with_role()).is_empty());
    }

    #[test]
    fn a_region_must_look_like_one() {
        for region in ["us-east-1", "eu-central-2", "us-gov-west-1"] {
            let s = Settings {
                region: Some(region.into()),
                ..with_role()
            };
            assert!(fields(&s).is_empty(), "{region}");
        }
        for region in [
            "",
            "us",
            "us-east",
            "US-EAST-1",
            "us-east-1.evil.com",
            "us-east-1/x",
        ] {
            let s = Settings {
                region: Some(region.into()),
                ..with_role()
            };
            assert_eq!(fields(&s), ["settings.region"], "{region}");
        }
    }

    #[test]
    fn upper_case_or_short_bucket_names_are_refused() {
        for bucket in [
            "Acme",
            "ab",
            "acme_audit",
            "-acme",
            "acme.",
            "a..b",
            "10.0.0.5",
        ] {
            let s = Settings {
                bucket: bucket.into(),
                ..with_role()
            };
            assert_eq!(fields(&s), ["settings.bucket"], "{bucket}");
        }
    }

    #[test]
    fn a_leading_slash_in_the_prefix_is_refused() {
        let s = Settings {
            prefix: "/logs".into(),
            ..with_role()
        };
        assert_eq!(fields(&s), ["settings.prefix"]);
    }

    #[test]
    fn a_role_arn_must_name_a_role() {
        let s = Settings {
            role_arn: Some("arn:aws:iam::123456789012:user/ada".into()),
            ..lake()
        };
        assert_eq!(fields(&s), ["settings.role_arn"]);
        let s = Settings {
            role_arn: Some("arn:aws:iam::123456789012:role/audit-export".into()),
            ..lake()
        };
        assert!(fields(&s).is_empty());
    }

    #[test]
    fn test_deliveries_go_under_the_prefix_in_test() {
        assert_eq!(for_test(&lake()).prefix, "_test");
        let s = Settings {
            prefix: "/logs/audit/".into(),
            ..lake()
        };
        assert_eq!(for_test(&s).prefix, "logs/audit/_test");
        assert_eq!(for_test(&s).bucket, "acme-audit");
    }
}
