//! Datadog's HTTP request: POST `<intake>/api/v2/logs` with `DD-API-KEY`.

use reqwest::header::HeaderName;
use serde::de::IgnoredAny;

use super::{classify, encode, Settings};
use crate::deliver::http::{json_headers, require, sensitive, Prepared, Request};
use crate::format::Record;

/// How reasons name this destination.
pub(crate) const TARGET: &str = "Datadog";

pub(crate) fn request<'a>(
    settings: &Settings,
    secret: Option<&str>,
    records: &[Record],
) -> Prepared<'a> {
    let key = sensitive(require(secret, "Datadog API key")?, "Datadog API key")?;
    let base = settings.intake_url.as_deref().map_or_else(
        || format!("https://http-intake.logs.{}", settings.site),
        str::to_owned,
    );
    let mut headers = json_headers();
    headers.insert(HeaderName::from_static("dd-api-key"), key);
    let request = Request {
        target: TARGET,
        url: format!("{}/api/v2/logs", base.trim_end_matches('/')),
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

    #[test]
    fn bodies_are_counted_by_their_entries() {
        assert_eq!(count(br#"[{"a":[1,2]},{"b":"x,y"}]"#), 2);
    }
}
