//! Hostile tenants (issue 14): no destination setting reaches inside the
//! network, and no stored secret follows a destination to a new host.
//!
//! * a property test over generated hostile hosts (every IP notation,
//!   userinfo tricks, trailing dots, IDN look-alikes of `localhost`) on every
//!   URL-forming field of every HTTP destination type, and over generated
//!   Datadog sites: each is a 400 naming the field;
//! * a PATCH of each "where" field without a secret is a 400 naming
//!   `secret`, and the receiver at the new host never sees the old secret.

use std::net::Ipv4Addr;

use audit_destinations::webhook;
use audit_destinations::UrlPolicy;
use audit_domain::auth::Role;
use audit_log_tests::receivers::Receiver;
use audit_log_tests::Stack;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};

async fn call(s: &Stack, method: &str, key: &str, path: &str, body: &Value) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let r = s
        .http
        .request(method, format!("{}{path}", s.base))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn token(label: &str) -> String {
    format!("{label}{}", ulid::Ulid::new().to_string().to_lowercase())
}

// ---------------------------------------------------------------- hosts

/// A non-public IPv4 address (loopback, private, link-local, CGNAT,
/// benchmarking, reserved, multicast, documentation, this network).
fn private_v4() -> impl Strategy<Value = Ipv4Addr> {
    let ranges: Vec<(u32, u8)> = vec![
        (0x7f00_0000, 8),  // 127/8
        (0x0a00_0000, 8),  // 10/8
        (0xac10_0000, 12), // 172.16/12
        (0xc0a8_0000, 16), // 192.168/16
        (0xa9fe_0000, 16), // 169.254/16
        (0x6440_0000, 10), // 100.64/10
        (0xc612_0000, 15), // 198.18/15
        (0xf000_0000, 4),  // 240/4
        (0xe000_0000, 4),  // 224/4
        (0xc000_0200, 24), // 192.0.2/24
        (0x0000_0000, 8),  // 0/8
    ];
    (prop::sample::select(ranges), any::<u32>()).prop_map(|((base, bits), r)| {
        let host_mask = u32::MAX >> bits;
        Ipv4Addr::from(base | (r & host_mask))
    })
}

/// The address in every notation a URL parser may take it in.
fn notations(ip: Ipv4Addr) -> Vec<String> {
    let n = u32::from(ip);
    let [a, b, c, d] = ip.octets();
    let (hi, lo) = ((n >> 16) as u16, n as u16);
    vec![
        ip.to_string(),
        n.to_string(),
        format!("0x{n:x}"),
        format!("0{a:o}.0{b:o}.0{c:o}.0{d:o}"),
        format!("0x{a:x}.0x{b:x}.0x{c:x}.0x{d:x}"),
        format!(
            "{a}.{}",
            (u32::from(b) << 16) | (u32::from(c) << 8) | u32::from(d)
        ),
        format!("[::ffff:{ip}]"),
        format!("[::{ip}]"),
        format!("[64:ff9b::{ip}]"),
        format!("[64:ff9b:1::{hi:x}:{lo:x}]"),
        format!("[2002:{hi:x}:{lo:x}::1]"),
        format!("[2001:0:{hi:x}:{lo:x}::1]"),
        format!("{ip}."),
    ]
}

/// Hosts that are never public, whatever the notation.
fn hostile_host() -> impl Strategy<Value = String> {
    let fixed = prop::sample::select(vec![
        "localhost".to_string(),
        "localhost.".to_string(),
        "LOCALHOST..".to_string(),
        "api.localhost".to_string(),
        "metadata.google.internal".to_string(),
        "\u{217c}ocalhost".to_string(),
        "locaⅼhost".to_string(),
        "ｌｏｃａｌｈｏｓｔ".to_string(),
        "[::1]".to_string(),
        "[::]".to_string(),
        "[fd00::1]".to_string(),
        "[fe80::1]".to_string(),
        "[ff02::1]".to_string(),
        "[2001:db8::1]".to_string(),
        "255.255.255.255".to_string(),
    ]);
    let generated = (private_v4(), any::<prop::sample::Index>())
        .prop_map(|(ip, i)| i.get(&notations(ip)).clone());
    prop_oneof![fixed, generated]
}

/// A URL on a hostile host, sometimes behind userinfo, with a port or path.
fn hostile_url() -> impl Strategy<Value = String> {
    (hostile_host(), 0..4usize, prop::option::of(1u16..)).prop_map(|(host, trick, port)| {
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        match trick {
            0 => format!("https://{host}{port}/x"),
            1 => format!("https://hooks.example.com@{host}{port}/x"),
            2 => format!("http://{host}{port}/x"),
            _ => format!("https://{host}{port}"),
        }
    })
}

/// Datadog sites that must be refused: a host smuggled in with `@`, a port,
/// a bracketed address, a bare IP, trailing dots, local names.
fn hostile_site() -> impl Strategy<Value = String> {
    (hostile_host(), 0..5usize).prop_map(|(host, trick)| match trick {
        0 => format!("datadoghq.com@{host}"),
        1 => format!("datadoghq.com@{host}:8443"),
        2 => format!("{host}:443"),
        3 => format!("datadoghq.com/{host}"),
        _ => host,
    })
}

/// `(body, field)`: a create body with `value` in one URL-forming field.
fn bodies(url: &str, site: &str) -> Vec<(Value, &'static str)> {
    let dd_key = token("dd-key-");
    let hec = token("hec-token-");
    vec![
        (
            json!({"name": "h", "type": "webhook", "settings": {"url": url}, "secret": webhook::generate_secret()}),
            "settings.url",
        ),
        (
            json!({"name": "s", "type": "splunk", "settings": {"url": url}, "secret": hec}),
            "settings.url",
        ),
        (
            json!({"name": "d", "type": "datadog", "settings": {"site": "datadoghq.com", "intake_url": url}, "secret": dd_key}),
            "settings.intake_url",
        ),
        (
            json!({"name": "d", "type": "datadog", "settings": {"site": site}, "secret": dd_key}),
            "settings.site",
        ),
    ]
}

#[test]
fn every_hostile_host_or_site_on_every_url_field_is_a_400_naming_the_field() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (s, key) = rt.block_on(async {
        let s = Stack::start_with(UrlPolicy {
            allow_private: false,
        })
        .await;
        let org = s.org("hostile", false).await;
        let (key, _) = s.key(&org, Role::Admin).await;
        (s, key)
    });
    let mut runner = TestRunner::new(Config {
        cases: 96,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&(hostile_url(), hostile_site()), |(url, site)| {
            for (body, field) in bodies(&url, &site) {
                let (status, problem) =
                    rt.block_on(call(&s, "POST", &key, "/v1/destinations", &body));
                prop_assert_eq!(status, 400, "{} accepted: {}", body, problem);
                let fields: Vec<&str> = problem["errors"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e["field"].as_str())
                    .collect();
                prop_assert!(fields.contains(&field), "{} → {}", body, problem);
            }
            Ok(())
        })
        .expect("every hostile setting is refused");

    // The control: public hosts and known sites are accepted.
    rt.block_on(async {
        for (body, _) in bodies("https://hooks.example.com/audit", "datadoghq.eu") {
            let (status, created) = call(&s, "POST", &key, "/v1/destinations", &body).await;
            assert_eq!(status, 201, "{body}: {created}");
        }
    });
}

// ---------------------------------------------------------------- PATCH

/// A destination of `kind` at `old`, then a PATCH of its "where" field to
/// `new`: without a secret a 400 naming `secret`, with one a 200; the new
/// receiver only ever sees the new secret.
async fn moving_needs_the_secret(
    s: &Stack,
    key: &str,
    kind: &str,
    settings: impl Fn(&str) -> Value,
    start: impl Fn(String) -> futures::future::BoxFuture<'static, Receiver>,
    url_of: impl Fn(&Receiver) -> String,
    secret: impl Fn() -> String,
) {
    let old_secret = secret();
    let old = start(old_secret.clone()).await;
    let body = json!({"name": kind, "type": kind, "settings": settings(&url_of(&old)), "secret": old_secret});
    let (status, created) = call(s, "POST", key, "/v1/destinations", &body).await;
    assert_eq!(status, 201, "{created}");
    let path = format!("/v1/destinations/{}", created["id"].as_str().expect("id"));

    let new_secret = secret();
    let new = start(new_secret.clone()).await;
    let moved = json!({"settings": settings(&url_of(&new))});
    let (status, problem) = call(s, "PATCH", key, &path, &moved).await;
    assert_eq!(status, 400, "{kind}: moved without a secret: {problem}");
    assert_eq!(problem["errors"][0]["field"], "secret", "{problem}");

    // Still at the old place: a test delivery goes there, not to the new one.
    let (status, report) = call(s, "POST", key, &format!("{path}/test"), &json!({})).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(new.requests(), 0, "{kind}: the new host was reached");

    let mut with_secret = moved.clone();
    with_secret["secret"] = json!(new_secret);
    let (status, updated) = call(s, "PATCH", key, &path, &with_secret).await;
    assert_eq!(status, 200, "{kind}: {updated}");
    let (status, report) = call(s, "POST", key, &format!("{path}/test"), &json!({})).await;
    assert_eq!(status, 200, "{report}");
    assert!(
        new.requests() > 0,
        "{kind}: nothing reached the new host: {report}"
    );
    assert_eq!(
        new.accepted_requests(),
        new.requests(),
        "{kind}: the new host saw a credential other than its own: {:?}",
        new.rejections()
    );
    // A change that keeps the place (the name) needs no secret.
    let (status, renamed) = call(s, "PATCH", key, &path, &json!({"name": "renamed"})).await;
    assert_eq!(status, 200, "{renamed}");
}

#[tokio::test]
async fn moving_a_destination_to_a_new_host_needs_its_secret_again() {
    let s = Stack::start().await;
    let org = s.org("moving", false).await;
    let (key, _) = s.key(&org, Role::Admin).await;

    moving_needs_the_secret(
        &s,
        &key,
        "splunk",
        |url| json!({"url": url}),
        |secret| Box::pin(async move { Receiver::splunk(&secret).await }),
        Receiver::url,
        || token("hec-token-"),
    )
    .await;
    moving_needs_the_secret(
        &s,
        &key,
        "datadog",
        |url| json!({"site": "datadoghq.com", "intake_url": url}),
        |secret| Box::pin(async move { Receiver::datadog(&secret).await }),
        Receiver::url,
        || token("dd-api-key-"),
    )
    .await;
    moving_needs_the_secret(
        &s,
        &key,
        "webhook",
        |url| json!({"url": url}),
        |secret| Box::pin(async move { Receiver::webhook(&secret).await }),
        Receiver::webhook_url,
        webhook::generate_secret,
    )
    .await;
}

#[tokio::test]
async fn a_datadog_site_change_without_the_key_is_refused() {
    let s = Stack::start().await;
    let org = s.org("site", false).await;
    let (key, _) = s.key(&org, Role::Admin).await;
    let body = json!({"name": "dd", "type": "datadog", "settings": {"site": "datadoghq.com"}, "secret": token("dd-api-key-")});
    let (status, created) = call(&s, "POST", &key, "/v1/destinations", &body).await;
    assert_eq!(status, 201, "{created}");
    let path = format!("/v1/destinations/{}", created["id"].as_str().expect("id"));
    for settings in [
        json!({"site": "datadoghq.eu"}),
        json!({"site": "datadoghq.com", "intake_url": "https://dd-proxy.example.com"}),
    ] {
        let (status, problem) =
            call(&s, "PATCH", &key, &path, &json!({ "settings": settings })).await;
        assert_eq!(status, 400, "{settings}: {problem}");
        assert_eq!(problem["errors"][0]["field"], "secret", "{problem}");
    }
    // Tags are not a place: no secret needed.
    let same = json!({"settings": {"site": "datadoghq.com", "tags": ["env:prod"]}});
    let (status, updated) = call(&s, "PATCH", &key, &path, &same).await;
    assert_eq!(status, 200, "{updated}");
}

// ---------------------------------------------------------------- S3

#[tokio::test]
async fn without_a_role_an_s3_destination_is_refused_outside_local_development() {
    let s = Stack::start_with(UrlPolicy {
        allow_private: false,
    })
    .await;
    let org = s.org("norole", false).await;
    let (key, _) = s.key(&org, Role::Admin).await;
    let lake = json!({"name": "lake", "type": "s3", "settings": {"bucket": "acme-audit"}});
    let (status, refused) = call(&s, "POST", &key, "/v1/destinations", &lake).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(
        refused["errors"][0]["field"], "settings.role_arn",
        "{refused}"
    );
}
