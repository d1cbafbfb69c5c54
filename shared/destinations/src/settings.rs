//! Where a destination's events go and how to reach it: one variant per
//! destination type, as the API's `type` and `settings` carry it.

use serde::{Deserialize, Serialize};

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
    Datadog {
        /// e.g. `datadoghq.com`, `datadoghq.eu`, `us5.datadoghq.com`.
        site: String,
        #[serde(default = "default_service")]
        service: String,
        #[serde(default)]
        tags: Vec<String>,
        /// Overrides `https://http-intake.logs.<site>` (proxies, tests).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        intake_url: Option<String>,
    },
    Splunk {
        /// The HEC base URL, e.g. `https://splunk.example.com:8088`.
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        index: Option<String>,
        #[serde(default = "default_service")]
        source: String,
        #[serde(default = "default_sourcetype")]
        sourcetype: String,
    },
    Webhook {
        url: String,
    },
}

fn default_service() -> String {
    "audit-log".into()
}

fn default_sourcetype() -> String {
    "audit_log:event".into()
}

impl DestinationSettings {
    pub fn kind(&self) -> &'static str {
        match self {
            DestinationSettings::S3 { .. } => "s3",
            DestinationSettings::Datadog { .. } => "datadog",
            DestinationSettings::Splunk { .. } => "splunk",
            DestinationSettings::Webhook { .. } => "webhook",
        }
    }

    /// Datadog API key, HEC token, webhook signing secret; S3 uses IAM.
    pub fn needs_secret(&self) -> bool {
        !matches!(self, DestinationSettings::S3 { .. })
    }
}
