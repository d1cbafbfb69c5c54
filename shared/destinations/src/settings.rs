//! Where a destination's events go and how to reach it: one variant per
//! destination type, each wrapping that type's own `Settings`, as the API's
//! `type` and `settings` carry it.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use audit_domain::problem::FieldError;

use crate::deliver::{Attempt, Deliverer, Delivery};
use crate::destination_type::DestinationType;
use crate::format::Record;
use crate::secret::SecretRule;
use crate::url_policy::UrlPolicy;
use crate::{datadog, s3, splunk, webhook};

/// Where events go and how to reach it (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "settings", rename_all = "snake_case")]
pub enum DestinationSettings {
    #[serde(deserialize_with = "map_only")]
    S3(s3::Settings),
    #[serde(deserialize_with = "map_only")]
    Datadog(datadog::Settings),
    #[serde(deserialize_with = "map_only")]
    Splunk(splunk::Settings),
    #[serde(deserialize_with = "map_only")]
    Webhook(webhook::Settings),
}

/// Runs `$body` with `$s` bound to whichever destination type's settings
/// `$settings` holds (and `$wrap` to that variant's constructor, to build a
/// `DestinationSettings` again). A new destination type adds its variant
/// above and its name to the list here (the match is exhaustive, so the
/// compiler says if it is missing); every method below then covers it.
macro_rules! each {
    ($settings:expr, $s:ident => $body:expr) => {
        each!($settings, ($s, _) => $body)
    };
    ($settings:expr, ($s:ident, $wrap:pat) => $body:expr) => {
        each!(@arms $settings, $s, $wrap, $body, S3 Datadog Splunk Webhook)
    };
    (@arms $settings:expr, $s:ident, $wrap:pat, $body:expr, $($variant:ident)*) => {
        match $settings {
            $(DestinationSettings::$variant($s) => {
                let $wrap = DestinationSettings::$variant;
                $body
            })*
        }
    };
}

impl DestinationSettings {
    /// The destination's `type`: `s3`, `datadog`, `splunk`, `webhook`.
    pub fn kind(&self) -> &'static str {
        fn kind<T: DestinationType>(_: &T) -> &'static str {
            T::TYPE
        }
        each!(self, s => kind(s))
    }

    /// Every problem with the settings, each naming its field.
    pub fn validate(&self, urls: UrlPolicy) -> Vec<FieldError> {
        each!(self, s => s.validate(urls))
    }

    /// Where the destination sends (see `DestinationType::place`).
    pub fn place(&self) -> String {
        each!(self, s => s.place())
    }

    /// The settings a test delivery uses (S3 keeps its test objects apart).
    pub(crate) fn for_test(&self) -> Self {
        each!(self, (s, wrap) => wrap(s.for_test()))
    }

    /// Sends one job's records to the destination (see
    /// `DestinationType::deliver`).
    pub(crate) async fn deliver(
        &self,
        deliverer: &Deliverer,
        attempt: &Attempt<'_>,
        records: &[Record],
    ) -> Delivery {
        each!(self, s => s.deliver(deliverer, attempt, records).await)
    }

    /// What the destination takes as its secret, and how one is checked.
    pub fn secret_rule(&self) -> SecretRule {
        fn rule<T: DestinationType>(_: &T) -> SecretRule {
            T::SECRET
        }
        each!(self, s => rule(s))
    }

    /// Datadog API key, HEC token, webhook signing secret; S3 uses IAM.
    pub fn needs_secret(&self) -> bool {
        self.secret_rule().is_required()
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
