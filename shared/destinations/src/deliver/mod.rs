//! Delivery: the I/O that sends one job's events to a destination.
//! `Deliverer` holds what deliveries share (the HTTP client, S3 clients,
//! each built on first use), encodes the events in the destination's
//! format and hands them to its type (`DestinationType::deliver`: encode
//! within its limits, send in order, classify each answer); `http` is the
//! send loop the HTTP types share, `resolver` the public-only DNS resolver.
//! Outcome reasons are shown to admins, so they name the destination and the
//! cause and never carry a secret, a header value or a request body.

pub(crate) mod http;
mod resolver;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::json;

use audit_domain::catalog::Action;
use audit_domain::event::{Actor, ActorType, Context, Event, Resource};
use audit_domain::ids::{ActorId, EventId, IdError, OrgId, ResourceId};
use audit_domain::time::Timestamp;

use super::format::Record;
use crate::{s3, Destination, UrlPolicy};
use audit_domain::export::job::{ExportJob, ExportWindow};
use audit_domain::export::outcome::Outcome;

pub const USER_AGENT: &str = concat!("audit-log-export/", env!("CARGO_PKG_VERSION"));

/// The resource the test event names, so admins can find and drop it.
pub const TEST_RESOURCE: &str = "audit-log-test";

/// Connecting never gets more than this, even under a longer total timeout.
pub(crate) const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One job's delivery as a destination type sees it: which destination,
/// which window and part, and its secret (Datadog API key, HEC token,
/// webhook signing secret; S3 has none).
pub struct Attempt<'a> {
    pub destination_id: &'a str,
    pub job: &'a ExportJob,
    pub secret: Option<&'a str>,
}

/// What one job's delivery is held to (`Deliverer::deliver_within`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Within {
    /// No request starts that could still be running at this instant.
    pub stop_starting_at: Instant,
    /// More of the window follows these events, in another job: only full
    /// bodies are sent, and the events of a last one that is not full are
    /// left for that job (`Delivery::held_back`).
    pub more_follows: bool,
}

tokio::task_local! {
    /// Set by `Deliverer::deliver_within` around one job's delivery and read
    /// by the send loop (so no destination type has to carry it).
    static WITHIN: Within;
}

/// How one job's delivery went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Delivered, or the classified answer to the first request that was not.
    pub outcome: Outcome,
    /// Requests sent, the failed one included.
    pub requests: u32,
    /// Events in the requests that were delivered.
    pub events: usize,
    /// Every request sent was delivered, but the rest were not started:
    /// too little time was left before the caller's deadline. The caller
    /// continues after the `events` delivered.
    pub out_of_time: bool,
    /// Every request sent was delivered, and the events of a last body that
    /// was not full were not sent, because more of the window follows
    /// (`Within::more_follows`). The caller continues after the `events`
    /// delivered.
    pub held_back: bool,
}

impl Delivery {
    /// A delivery that nothing continues: `outcome` after `requests`, of
    /// which `events` were delivered.
    pub fn new(outcome: Outcome, requests: u32, events: usize) -> Self {
        Delivery {
            outcome,
            requests,
            events,
            out_of_time: false,
            held_back: false,
        }
    }

    /// How many of the events were delivered when the rest is left for a
    /// job that continues after them (out of time, or held back); `None`
    /// when the delivery took every event or failed.
    pub fn continues_after(&self) -> Option<usize> {
        (self.outcome.is_delivered() && (self.out_of_time || self.held_back)).then_some(self.events)
    }
}

/// Sends encoded batches to destinations. Build it once per process: it is
/// cheap to build, and what is costly (the HTTP client and its TLS set-up,
/// S3 clients) is built on first use, so a process that never delivers (the
/// query function, but for `POST /v1/destinations/{id}/test`) never pays.
pub struct Deliverer {
    /// Built on first use, without redirects (a redirect could carry auth
    /// headers to another host). `Err` only if the TLS backend could not
    /// start, which every HTTP delivery then reports.
    http: OnceLock<Result<reqwest::Client, String>>,
    /// What every destination URL must pass, and whether hosts may resolve
    /// to private addresses.
    urls: UrlPolicy,
    timeout: Duration,
    /// S3 clients, each built on first use.
    s3: s3::send::Clients,
    /// Host names resolved without DNS (`with_hosts`, for tests).
    hosts: std::collections::HashMap<String, std::net::IpAddr>,
}

impl Deliverer {
    /// `urls` is the process's URL policy (`UrlPolicy::from_env()`), the
    /// same the API validates destinations with.
    pub fn new(sdk: &aws_config::SdkConfig, timeout: Duration, urls: UrlPolicy) -> Self {
        Deliverer {
            http: OnceLock::new(),
            urls,
            timeout,
            s3: s3::send::Clients::new(sdk, timeout),
            hosts: Default::default(),
        }
    }

    /// The same, resolving `hosts` (name → address) without DNS, the answer
    /// still held to the public-only rule: how a test points a name at
    /// loopback to show it is refused at connect time.
    pub fn with_hosts(
        mut self,
        hosts: impl IntoIterator<Item = (String, std::net::IpAddr)>,
    ) -> Self {
        self.hosts = hosts
            .into_iter()
            .map(|(name, ip)| (name.to_ascii_lowercase(), ip))
            .collect();
        self
    }

    /// The URL policy every endpoint is built through.
    pub(crate) fn urls(&self) -> UrlPolicy {
        self.urls
    }

    /// The S3 clients, each built by the first delivery that needs it.
    pub(crate) fn s3(&self) -> &s3::send::Clients {
        &self.s3
    }

    /// The HTTP client, built by the first delivery that needs it.
    fn http_client(&self) -> Result<&reqwest::Client, Outcome> {
        self.http
            .get_or_init(|| http_client(self.timeout, self.urls.allow_private, &self.hosts))
            .as_ref()
            .map_err(|reason| Outcome::Transient(reason.clone()))
    }

    /// Encodes `events` (already filtered by the caller) for `dest` in its
    /// format and delivers them in as many requests as the destination's
    /// limits need, in order; stops at the first request that is not
    /// delivered and returns its classified outcome. `secret` is the
    /// destination's secret (Datadog API key, HEC token, webhook signing
    /// secret); S3 has none. No events means nothing is sent.
    pub async fn deliver(
        &self,
        dest: &Destination,
        secret: Option<&str>,
        job: &ExportJob,
        events: &[Event],
    ) -> Delivery {
        if events.is_empty() {
            return Delivery::new(Outcome::Delivered, 0, 0);
        }
        let records = Record::encode_all(events, dest.spec.format);
        let attempt = Attempt {
            destination_id: &dest.id,
            job,
            secret,
        };
        let delivery = dest.spec.settings.deliver(self, &attempt, &records).await;
        Delivery {
            outcome: redact(delivery.outcome, secret),
            ..delivery
        }
    }

    /// `deliver`, held to `within`: a request is started only while the
    /// per-request timeout fits before `stop_starting_at`
    /// (`time_for_one_more`), and what was not sent is reported as
    /// `out_of_time`; with `more_follows`, a last body that is not full is
    /// not sent (`held_back`). Either way, after the `events` delivered.
    pub async fn deliver_within(
        &self,
        dest: &Destination,
        secret: Option<&str>,
        job: &ExportJob,
        events: &[Event],
        within: Within,
    ) -> Delivery {
        WITHIN
            .scope(within, self.deliver(dest, secret, job, events))
            .await
    }

    /// Whether one more request, allowed the full per-request timeout,
    /// ends before the current delivery's `stop_starting_at` (always, for
    /// a delivery without one).
    pub(crate) fn time_for_one_more(&self) -> bool {
        WITHIN
            .try_with(|w| fits(Instant::now(), self.timeout, w.stop_starting_at))
            .unwrap_or(true)
    }

    /// Whether more of the window follows the current delivery's events
    /// (never, for a delivery outside `deliver_within`).
    pub(crate) fn more_follows(&self) -> bool {
        WITHIN.try_with(|w| w.more_follows).unwrap_or(false)
    }

    /// The per-request timeout every delivery gets.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Delivers one clearly labelled synthetic event (`evt_test_<ulid>`, an
    /// API key named `audit-log-test` created by the export service) so an
    /// admin can check a destination. S3 writes it under `<prefix>/_test/`.
    pub async fn send_test(
        &self,
        dest: &Destination,
        secret: Option<&str>,
        org: &OrgId,
    ) -> Delivery {
        let now = Timestamp::now();
        let event = match test_event(org, now) {
            Ok(event) => event,
            Err(e) => {
                let reason = format!("could not build the test event: {e}");
                return Delivery::new(Outcome::Permanent(reason), 0, 0);
            }
        };
        let window = ExportWindow {
            from: now.plus_millis(-1),
            to: now,
        };
        let mut dest = dest.clone();
        dest.spec.settings = dest.spec.settings.for_test();
        let job = ExportJob::new(dest.id.clone(), org.clone(), window, now);
        self.deliver(&dest, secret, &job, std::slice::from_ref(&event))
            .await
    }

    /// Writes one uncompressed object (an integrity digest file, the public
    /// key) to an S3 destination's bucket, with `If-None-Match: *`: an object
    /// already there counts as delivered and is never overwritten.
    pub async fn put_s3_object(
        &self,
        settings: &s3::Settings,
        org: &OrgId,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Outcome {
        self.s3
            .put_new(settings, org, key, body, content_type, None)
            .await
    }
}

/// Whether a request started at `now` and allowed `timeout` ends by `stop`.
fn fits(now: Instant, timeout: Duration, stop: Instant) -> bool {
    now.checked_add(timeout).is_some_and(|end| end <= stop)
}

/// The client every HTTP delivery shares: no redirects, bounded connect and
/// total time, and only public addresses (unless `allow_private`).
fn http_client(
    timeout: Duration,
    allow_private: bool,
    hosts: &std::collections::HashMap<String, std::net::IpAddr>,
) -> Result<reqwest::Client, String> {
    let client = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(timeout.min(MAX_CONNECT_TIMEOUT))
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        // Destination hosts must resolve to public addresses: a name that
        // points into the VPC or at the metadata service is refused at
        // connect time, whatever it resolved to when it was configured.
        .dns_resolver(std::sync::Arc::new(resolver::PublicOnlyResolver {
            allow_private,
            hosts: hosts.clone(),
        }))
        .build()
        .map_err(|e| format!("the export HTTP client could not start: {e}"));
    if let Err(reason) = &client {
        tracing::error!(%reason, "export HTTP client");
    }
    client
}

/// The synthetic event `send_test` delivers.
pub fn test_event(org: &OrgId, now: Timestamp) -> Result<Event, IdError> {
    let mut metadata = serde_json::Map::new();
    metadata.insert("test".into(), json!(true));
    metadata.insert(
        "note".into(),
        json!("Test event sent from the audit log's export destination settings; safe to ignore."),
    );
    Ok(Event {
        id: EventId::parse(format!("evt_test_{}", ulid::Ulid::new()).to_lowercase())?,
        org_id: org.clone(),
        action: Action::ApiKeyCreated,
        occurred_at: now,
        recorded_at: now,
        actor: Some(Actor {
            kind: ActorType::Service,
            id: ActorId::parse("audit-log-export")?,
            name: Some("Audit log export test".into()),
            email: None,
        }),
        resource: Resource {
            kind: Action::ApiKeyCreated.resource_type().into(),
            id: ResourceId::parse(TEST_RESOURCE)?,
            name: Some(TEST_RESOURCE.into()),
        },
        context: Context::default(),
        metadata,
        content_hash: "0".repeat(64),
    })
}

/// Replaces any appearance of the secret (or, for `whsec_` secrets, its
/// key part) in a reason, whatever a destination echoed back.
fn redact(outcome: Outcome, secret: Option<&str>) -> Outcome {
    let Some(secret) = secret.filter(|s| s.len() >= 4) else {
        return outcome;
    };
    let clean = |reason: String| {
        let key = secret
            .strip_prefix(super::webhook::SECRET_PREFIX)
            .filter(|k| k.len() >= 4);
        let reason = reason.replace(secret, "[redacted]");
        match key {
            Some(key) => reason.replace(key, "[redacted]"),
            None => reason,
        }
    };
    match outcome {
        Outcome::Delivered => Outcome::Delivered,
        Outcome::Transient(r) => Outcome::Transient(clean(r)),
        Outcome::Permanent(r) => Outcome::Permanent(clean(r)),
    }
}

/// At most `max` characters of a destination-supplied text, on one line.
pub(crate) fn excerpt(text: &str, max: usize) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max + 1)
        .collect();
    let trimmed = one_line.trim();
    if trimmed.chars().count() > max {
        let cut: String = trimmed.chars().take(max).collect();
        format!("{cut}…")
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_never_carries_the_secret() {
        let o = redact(
            Outcome::Permanent("HTTP 403: echoed sk_live_abcdef".into()),
            Some("sk_live_abcdef"),
        );
        assert_eq!(o, Outcome::Permanent("HTTP 403: echoed [redacted]".into()));
    }

    #[test]
    fn webhook_key_without_its_prefix_is_redacted_too() {
        let o = redact(
            Outcome::Transient("saw MfKQ9r8GKYqrTwjU".into()),
            Some("whsec_MfKQ9r8GKYqrTwjU"),
        );
        assert_eq!(o, Outcome::Transient("saw [redacted]".into()));
    }

    #[test]
    fn test_event_is_labelled_and_valid() {
        let org = OrgId::parse("org_acme").unwrap();
        let e = test_event(&org, Timestamp::now()).unwrap();
        assert!(e.id.as_str().starts_with("evt_test_"));
        assert_eq!(e.action, Action::ApiKeyCreated);
        assert_eq!(e.resource.name.as_deref(), Some("audit-log-test"));
        assert_eq!(e.resource.id.as_str(), "audit-log-test");
        assert!(e.actor.is_some());
    }

    #[allow(dead_code)]
    fn deliveries_can_run_on_any_worker_thread(d: &Deliverer, dest: &Destination, job: &ExportJob) {
        fn send<T: Send>(_: T) {}
        send(d.deliver(dest, None, job, &[]));
        send(d.send_test(dest, None, &dest.org_id));
    }

    #[test]
    fn the_http_client_is_built_on_first_use_not_at_start_up() {
        let d = Deliverer::new(
            &aws_config::SdkConfig::builder().build(),
            Duration::from_secs(1),
            UrlPolicy::from_env(),
        );
        assert!(d.http.get().is_none());
        assert!(d.http_client().is_ok());
        assert!(d.http.get().is_some());
    }

    #[test]
    fn a_request_starts_only_when_its_whole_timeout_fits() {
        let now = Instant::now();
        let timeout = Duration::from_secs(10);
        assert!(fits(now, timeout, now + Duration::from_secs(10)));
        assert!(fits(now, timeout, now + Duration::from_secs(60)));
        assert!(!fits(now, timeout, now + Duration::from_secs(9)));
        assert!(!fits(now, timeout, now));
    }

    #[tokio::test]
    async fn without_a_deadline_there_is_always_time_and_within_one_there_is_not() {
        let d = Deliverer::new(
            &aws_config::SdkConfig::builder().build(),
            Duration::from_secs(5),
            UrlPolicy::from_env(),
        );
        assert!(d.time_for_one_more());
        assert!(!d.more_follows());
        let within = |secs, more_follows| Within {
            stop_starting_at: Instant::now() + Duration::from_secs(secs),
            more_follows,
        };
        let (time, more) = WITHIN
            .scope(within(1, true), async {
                (d.time_for_one_more(), d.more_follows())
            })
            .await;
        assert!(!time && more);
        let (time, more) = WITHIN
            .scope(within(60, false), async {
                (d.time_for_one_more(), d.more_follows())
            })
            .await;
        assert!(time && !more);
    }

    #[test]
    fn excerpt_is_one_bounded_line() {
        assert_eq!(excerpt(" busy\nnow ", 20), "busy now");
        assert_eq!(excerpt("abcdef", 3), "abc…");
    }
}
