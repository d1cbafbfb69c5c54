//! Splunk HEC's HTTP request: POST `<url>/services/collector/event` with
//! `Authorization: Splunk <token>`.

use reqwest::header::AUTHORIZATION;

use super::{classify, encode, Settings};
use crate::deliver::http::{json_headers, not_sent, require, sensitive, Prepared, Request};
use crate::format::Record;
use crate::url_policy::UrlPolicy;

/// How reasons name this destination.
pub(crate) const TARGET: &str = "Splunk HEC";

pub(crate) fn request<'a>(
    settings: &Settings,
    urls: UrlPolicy,
    secret: Option<&str>,
    records: &[Record],
) -> Prepared<'a> {
    let token = require(secret, "HEC token")?;
    let url = settings.endpoint(urls).map_err(not_sent)?;
    let mut headers = json_headers();
    headers.insert(
        AUTHORIZATION,
        sensitive(&format!("Splunk {token}"), "HEC token")?,
    );
    let request = Request {
        target: TARGET,
        url,
        credential: "check the HEC token",
        headers: Box::new(move |_, _| Ok(headers.clone())),
        classify,
        count,
    };
    let bodies = encode::batches(records, settings, encode::DEFAULT_MAX_BYTES);
    Ok((request, bodies))
}

/// How many envelopes a body holds.
fn count(body: &[u8]) -> usize {
    // Envelopes are compact JSON: a raw newline only ever separates them.
    body.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_counted_by_their_lines() {
        assert_eq!(count(b"{\"a\":1}\n{\"b\":\"x\\ny\"}"), 2);
    }
}
