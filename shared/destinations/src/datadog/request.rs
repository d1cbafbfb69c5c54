//! Datadog's HTTP request: POST `<intake>/api/v2/logs` with `DD-API-KEY`.

use reqwest::header::HeaderName;
use serde::de::IgnoredAny;

use super::{classify, encode, Settings};
use crate::deliver::http::{json_headers, not_sent, require, sensitive, Prepared, Request};
use crate::format::Record;
use crate::url_policy::UrlPolicy;

/// How reasons name this destination.
pub(crate) const TARGET: &str = "Datadog";

pub(crate) fn request<'a>(
    settings: &Settings,
    urls: UrlPolicy,
    secret: Option<&str>,
    records: &[Record],
) -> Prepared<'a> {
    let key = sensitive(require(secret, "Datadog API key")?, "Datadog API key")?;
    let url = settings.endpoint(urls).map_err(not_sent)?;
    let mut headers = json_headers();
    headers.insert(HeaderName::from_static("dd-api-key"), key);
    let request = Request {
        target: TARGET,
        url,
        credential: "check the API key",
        headers: Box::new(move |_, _| Ok(headers.clone())),
        classify: |status, _| classify(status),
        count,
    };
    Ok((request, encode::batches(records, settings)))
}

/// How many entries a body (a JSON array) holds.
fn count(body: &[u8]) -> usize {
    serde_json::from_slice::<Vec<IgnoredAny>>(body).map_or(0, |v| v.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: UrlPolicy = UrlPolicy {
        allow_private: false,
    };

    #[test]
    fn nothing_is_prepared_for_a_site_the_url_policy_refuses() {
        let settings = Settings {
            site: "datadoghq.com@127.0.0.1".into(),
            service: "audit-log".into(),
            tags: Vec::new(),
            intake_url: None,
        };
        let key = "dd-secret-api-key-0123456789abcdef";
        let Err(outcome) = request(&settings, STRICT, Some(key), &[]) else {
            panic!("a request was prepared for a loopback intake");
        };
        assert_eq!(
            outcome,
            audit_domain::export::outcome::Outcome::Permanent(
                "nothing was sent: settings.site must not contain credentials".into()
            )
        );
    }

    #[test]
    fn bodies_are_counted_by_their_entries() {
        assert_eq!(count(br#"[{"a":[1,2]},{"b":"x,y"}]"#), 2);
    }
}
