//! The webhook's HTTP requests: POST to its URL, each body signed with its
//! own `webhook-id` and send time.

use reqwest::header::{HeaderName, HeaderValue};
use serde::de::IgnoredAny;
use serde::Deserialize;

use audit_domain::export::job::ExportJob;
use audit_domain::export::outcome::Outcome;
use audit_domain::time::Timestamp;

use super::{classify, encode, sign, Settings};
use crate::deliver::http::{json_headers, not_sent, require, Prepared, Request};
use crate::format::Record;
use crate::url_policy::UrlPolicy;

/// How reasons name this destination.
pub(crate) const TARGET: &str = "the webhook";

pub(crate) fn request<'a>(
    settings: &Settings,
    urls: UrlPolicy,
    destination_id: &'a str,
    job: &'a ExportJob,
    secret: Option<&'a str>,
    records: &[Record],
) -> Prepared<'a> {
    let secret = require(secret, "webhook signing secret")?;
    let url = settings.endpoint(urls).map_err(not_sent)?;
    // A bad secret is found before anything is sent.
    sign::sign(secret, "msg_check", 0, b"").map_err(|e| Outcome::Permanent(e.to_string()))?;
    // The ids of part 0 are `message_id(destination, window, n)`; later parts
    // of a large window are told apart by the part in the destination key.
    let key = if job.part == 0 {
        destination_id.to_owned()
    } else {
        format!("{destination_id}/part{}", job.part)
    };
    let headers = move |n: u32, body: &[u8]| {
        let id = sign::message_id(&key, &job.window, n);
        let now = Timestamp::now().epoch_seconds();
        let signed =
            sign::headers(secret, &id, now, body).map_err(|e| Outcome::Permanent(e.to_string()))?;
        let mut headers = json_headers();
        for (name, value) in signed {
            let value = HeaderValue::from_str(&value)
                .map_err(|_| Outcome::Permanent("webhook headers could not be built".into()))?;
            headers.insert(HeaderName::from_static(name), value);
        }
        Ok(headers)
    };
    let request = Request {
        target: TARGET,
        url,
        credential: "check that the receiver uses this destination's signing secret",
        headers: Box::new(headers),
        classify: |status, _| classify(status),
        count,
    };
    // The payload timestamp is the window's end, so a retry resends the same
    // bytes under the same `webhook-id`; only the signed send time changes.
    let bodies = encode::batches(
        records,
        job.window.to,
        encode::DEFAULT_MAX_EVENTS,
        encode::DEFAULT_MAX_BYTES,
    );
    Ok((request, bodies))
}

/// How many records a body holds.
fn count(body: &[u8]) -> usize {
    #[derive(Deserialize)]
    struct Batch {
        data: Vec<IgnoredAny>,
    }
    serde_json::from_slice::<Batch>(body).map_or(0, |b| b.data.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_counted_by_their_data() {
        assert_eq!(count(br#"{"type":"t","data":[{},{},{}]}"#), 3);
    }
}
