//! Where a destination's events go and how to reach it: one variant per
//! destination type, each wrapping that type's own `Settings`, as the API's
//! `type` and `settings` carry it.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use audit_domain::problem::FieldError;

use crate::destination_type::DestinationType;
use crate::url_policy::UrlPolicy;
use crate::{datadog, splunk, webhook};

/// Where events go and how to reach it (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "settings", rename_all = "snake_case")]
pub enum DestinationSettings {
    S3 {
        bucket: String,
        #[serde(default)]
        prefix: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        region: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        role_arn: Option<String>,
    },
    #[serde(deserialize_with = "map_only")]
    Datadog(datadog::Settings),
    #[serde(deserialize_with = "map_only")]
    Splunk(splunk::Settings),
    #[serde(deserialize_with = "map_only")]
    Webhook(webhook::Settings),
}

impl DestinationSettings {
    pub fn kind(&self) -> &'static str {
        match self {
            DestinationSettings::S3 { .. } => "s3",
            DestinationSettings::Datadog(_) => datadog::Settings::TYPE,
            DestinationSettings::Splunk(_) => splunk::Settings::TYPE,
            DestinationSettings::Webhook(_) => webhook::Settings::TYPE,
        }
    }

    /// Every problem with the settings, each naming its field.
    pub fn validate(&self, urls: UrlPolicy) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut err = |field: &str, reason: &str| errors.push(FieldError::new(field, reason));
        let too_long = bad_text;
        match self {
            DestinationSettings::S3 {
                bucket,
                prefix,
                region,
                role_arn,
            } => {
                let bucket_ok = (3..=63).contains(&bucket.len())
                    && bucket.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'
                    });
                if !bucket_ok {
                    err(
                        "settings.bucket",
                        "must be an S3 bucket name (3-63 lower-case letters, digits, '.', '-')",
                    );
                }
                if prefix.len() > MAX_SETTING_LEN
                    || prefix.starts_with('/')
                    || prefix.chars().any(char::is_control)
                {
                    err(
                        "settings.prefix",
                        "must be at most 512 characters and not start with '/'",
                    );
                }
                if region.as_deref().is_some_and(too_long) {
                    err("settings.region", "must be an AWS region such as us-east-1");
                }
                if role_arn.as_deref().is_some_and(|a| {
                    !a.starts_with("arn:aws") || !a.contains(":role/") || too_long(a)
                }) {
                    err("settings.role_arn", "must be an IAM role ARN");
                }
            }
            DestinationSettings::Datadog(settings) => {
                for e in settings.validate(urls) {
                    err(&e.field, &e.reason);
                }
            }
            DestinationSettings::Splunk(settings) => {
                for e in settings.validate(urls) {
                    err(&e.field, &e.reason);
                }
            }
            DestinationSettings::Webhook(settings) => {
                for e in settings.validate(urls) {
                    err(&e.field, &e.reason);
                }
            }
        }
        errors
    }

    /// Datadog API key, HEC token, webhook signing secret; S3 uses IAM.
    pub fn needs_secret(&self) -> bool {
        !matches!(self, DestinationSettings::S3 { .. })
    }
}

/// The most a free-text setting (a region, a Datadog service, an HEC index)
/// may hold.
pub(crate) const MAX_SETTING_LEN: usize = 512;

/// Whether a free-text setting is unfit: empty, longer than
/// `MAX_SETTING_LEN` bytes, or with control characters.
pub(crate) fn bad_text(s: &str) -> bool {
    s.is_empty() || s.len() > MAX_SETTING_LEN || s.chars().any(char::is_control)
}

/// Reads a variant's `settings` only from a JSON object, with the message
/// serde gave when the variants were structs (`expected struct variant
/// DestinationSettings::S3`): a derived struct would also take an array.
fn map_only<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: DestinationType + Deserialize<'de>,
{
    struct Object<T>(PhantomData<T>);

    impl<'de, T: DestinationType + Deserialize<'de>> Visitor<'de> for Object<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            // The variant's name is its type with a capital: `S3`, `Datadog`.
            let mut chars = T::TYPE.chars();
            let first = chars.next().map(|c| c.to_ascii_uppercase());
            write!(f, "struct variant DestinationSettings::")?;
            if let Some(first) = first {
                write!(f, "{first}")?;
            }
            write!(f, "{}", chars.as_str())
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
        }
    }

    deserializer.deserialize_map(Object(PhantomData))
}
