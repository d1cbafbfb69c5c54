//! The HTTP send loop Datadog, Splunk HEC and webhooks share: each builds a
//! `Request` (URL, headers per body, how to count and classify) and its
//! bodies in its own `request.rs`; this POSTs them in order until one is not
//! delivered, and words every reason the same way (the destination, the
//! status or the transport error, what an admin can check).

use std::error::Error as _;
use std::io;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};

use audit_domain::export::outcome::Outcome;
use audit_domain::problem::FieldError;

use super::{excerpt, Deliverer, Delivery};
use crate::batch::Bodies;

/// Enough of an answer to read an HEC reply or an error summary.
const MAX_ANSWER_BYTES: usize = 4096;

/// Builds the headers for body `n` (webhooks sign each one).
pub(crate) type HeadersFor<'a> =
    Box<dyn Fn(u32, &[u8]) -> Result<HeaderMap, Outcome> + Send + Sync + 'a>;

/// Where the bodies go and how each answer is read: what each HTTP
/// destination's `request` builds.
pub(crate) struct Request<'a> {
    /// How reasons name the destination ("Datadog", "the webhook").
    pub target: &'static str,
    pub url: String,
    /// What to check when the destination refuses the credentials.
    pub credential: &'static str,
    /// Headers for body `n`, or why it cannot be sent.
    pub headers: HeadersFor<'a>,
    pub classify: fn(u16, &str) -> Outcome,
    /// How many events a body holds.
    pub count: fn(&[u8]) -> usize,
}

impl Deliverer {
    /// Sends a destination's prepared request bodies, or reports why it
    /// could not prepare them.
    pub(crate) async fn post(&self, prepared: Prepared<'_>) -> Delivery {
        let client = match self.http_client() {
            Ok(client) => client,
            Err(outcome) => return Delivery::new(outcome, 0, 0),
        };
        match prepared {
            Ok((request, bodies)) => self.send_all(client, &request, bodies).await,
            Err(outcome) => Delivery::new(outcome, 0, 0),
        }
    }

    /// POSTs the bodies in order; stops at the first one not delivered.
    /// When more of the window follows in another job, a last body that is
    /// not full is held back (after at least one sent), so that its events
    /// start the next job's first body instead of making a small request.
    async fn send_all(
        &self,
        client: &reqwest::Client,
        request: &Request<'_>,
        bodies: Bodies,
    ) -> Delivery {
        let mut delivery = Delivery::new(Outcome::Delivered, 0, 0);
        let held_back = bodies.len() > 1 && !bodies.last_is_full && self.more_follows();
        let mut bodies = bodies.bodies;
        if held_back {
            bodies.pop();
        }
        for (n, body) in bodies.into_iter().enumerate() {
            if !self.time_for_one_more() {
                // The caller continues from the events delivered so far.
                delivery.out_of_time = true;
                return delivery;
            }
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            let events = (request.count)(&body);
            let headers = match (request.headers)(n, &body) {
                Ok(headers) => headers,
                Err(outcome) => {
                    return Delivery {
                        outcome,
                        ..delivery
                    }
                }
            };
            delivery.requests += 1;
            let sent = client
                .post(&request.url)
                .headers(headers)
                .body(body)
                .send()
                .await;
            let outcome = match sent {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let answer = read_answer(response).await;
                    attribute((request.classify)(status, &answer), request, status)
                }
                Err(e) if e.is_builder() => Outcome::Permanent(format!(
                    "the {} request could not be built: check the URL",
                    request.target
                )),
                Err(e) => Outcome::Transient(transport_reason(request.target, &e, self.timeout)),
            };
            if !outcome.is_delivered() {
                return Delivery {
                    outcome,
                    ..delivery
                };
            }
            delivery.events += events;
        }
        delivery.held_back = held_back;
        delivery
    }
}

/// A destination's request and its bodies, or why nothing can be sent.
pub(crate) type Prepared<'a> = Result<(Request<'a>, Bodies), Outcome>;

/// Why nothing was sent to a URL the policy refuses (it names the field,
/// never quotes the URL).
pub(crate) fn not_sent(refused: FieldError) -> Outcome {
    Outcome::Permanent(format!(
        "nothing was sent: {} {}",
        refused.field, refused.reason
    ))
}

pub(crate) fn require<'s>(secret: Option<&'s str>, what: &str) -> Result<&'s str, Outcome> {
    secret
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Outcome::Permanent(format!("no {what} is configured for this destination")))
}

/// A header value marked sensitive, so no debug output ever shows it.
pub(crate) fn sensitive(value: &str, what: &str) -> Result<HeaderValue, Outcome> {
    let mut value = HeaderValue::from_str(value).map_err(|_| {
        Outcome::Permanent(format!(
            "the {what} contains characters a header cannot carry"
        ))
    })?;
    value.set_sensitive(true);
    Ok(value)
}

pub(crate) fn json_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers
}

/// The start of the answer body (HEC puts its reply code there).
async fn read_answer(mut response: reqwest::Response) -> String {
    let mut answer = Vec::new();
    while answer.len() < MAX_ANSWER_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => answer.extend_from_slice(&chunk),
            _ => break,
        }
    }
    answer.truncate(MAX_ANSWER_BYTES);
    String::from_utf8_lossy(&answer).into_owned()
}

/// Names the destination in a classifier's `HTTP <status>...` reason and
/// adds what an admin can do about it.
fn attribute(outcome: Outcome, request: &Request<'_>, status: u16) -> Outcome {
    let say = |reason: String| {
        let prefix = format!("HTTP {status}");
        let rest = reason.strip_prefix(&prefix).unwrap_or(&reason);
        let rest = rest.strip_prefix(": ").unwrap_or(rest);
        let hint = match status {
            401 | 403 => request.credential,
            404 => "check the URL",
            300..=399 => "redirects are not followed: use the final URL",
            413 => "the request was too large",
            _ => "",
        };
        let mut said = format!("{prefix} from {}", request.target);
        for part in [rest, hint] {
            if !part.is_empty() && !said.contains(part) {
                said.push_str(if said.contains(": ") { "; " } else { ": " });
                said.push_str(&excerpt(part, 200));
            }
        }
        said
    };
    match outcome {
        Outcome::Delivered => Outcome::Delivered,
        Outcome::Transient(r) => Outcome::Transient(say(r)),
        Outcome::Permanent(r) => Outcome::Permanent(say(r)),
    }
}

/// Why a request got no answer, without the URL or anything sent.
fn transport_reason(target: &str, err: &reqwest::Error, timeout: Duration) -> String {
    if err.is_timeout() {
        return format!("{target} did not answer within {timeout:?}");
    }
    let mut causes = Vec::new();
    let mut source = err.source();
    while let Some(cause) = source {
        causes.push(cause);
        source = cause.source();
    }
    let io_kind = causes
        .iter()
        .find_map(|c| c.downcast_ref::<io::Error>())
        .map(io::Error::kind);
    let innermost = causes.last().map(|c| c.to_string()).unwrap_or_default();
    let detail = match io_kind {
        Some(io::ErrorKind::ConnectionRefused) => "connection refused".to_owned(),
        Some(io::ErrorKind::ConnectionReset) => "connection reset".to_owned(),
        Some(io::ErrorKind::ConnectionAborted) => "connection aborted".to_owned(),
        Some(io::ErrorKind::TimedOut) => "connection timed out".to_owned(),
        _ if causes.iter().any(|c| c.to_string() == "dns error") => {
            format!("DNS lookup failed ({})", excerpt(&innermost, 120))
        }
        _ if innermost.is_empty() => "the request failed".to_owned(),
        _ => excerpt(&innermost, 160),
    };
    format!("could not reach {target}: {detail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{datadog, splunk, webhook};
    use audit_domain::export::outcome::classify_http;

    fn request(target: &'static str, credential: &'static str) -> Request<'static> {
        Request {
            target,
            url: String::new(),
            credential,
            headers: Box::new(|_, _| Ok(HeaderMap::new())),
            classify: |s, _| classify_http(s),
            count: |_| 0,
        }
    }

    #[test]
    fn reason_names_the_destination_and_what_to_check() {
        let dd = request(datadog::request::TARGET, "check the API key");
        assert_eq!(
            attribute(datadog::classify(401), &dd, 401),
            Outcome::Permanent("HTTP 401 from Datadog: API key rejected; check the API key".into())
        );
        let hec = request(splunk::request::TARGET, "check the HEC token");
        assert_eq!(
            attribute(
                splunk::classify(503, r#"{"text":"Server is busy","code":9}"#),
                &hec,
                503
            ),
            Outcome::Transient("HTTP 503 from Splunk HEC: Server is busy (HEC code 9)".into())
        );
        assert_eq!(
            attribute(
                classify_http(307),
                &request(webhook::request::TARGET, "x"),
                307
            ),
            Outcome::Permanent(
                "HTTP 307 from the webhook: redirects are not followed: use the final URL".into()
            )
        );
    }

    #[test]
    fn a_secret_with_a_newline_is_refused_without_echoing_it() {
        let Err(Outcome::Permanent(reason)) = sensitive("abc\ndef", "HEC token") else {
            panic!("accepted");
        };
        assert!(!reason.contains("abc"));
    }
}
