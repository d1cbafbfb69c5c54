//! The destinations API over HTTP against the local stack (DynamoDB Local,
//! moto's Secrets Manager): admins create, read, change, test and delete
//! export destinations; secrets go to Secrets Manager and never appear in a
//! response body or a log line.

use audit_destinations::DestinationSpec;
use std::sync::{Arc, Mutex};

use audit_destinations::webhook;
use audit_destinations::UrlPolicy;
use audit_domain::auth::Role;
use audit_domain::ids::OrgId;
use audit_domain::time::Timestamp;
use audit_log_tests::Stack;
use serde_json::{json, Value};

// ---------------------------------------------------------------- harness

/// Records every response text, so a test can check that no secret ever
/// appeared in any of them (or in the logs).
struct Client<'a> {
    s: &'a Stack,
    seen: Vec<String>,
}

impl<'a> Client<'a> {
    fn new(s: &'a Stack) -> Self {
        audit_log_tests::logs::capture();
        Client {
            s,
            seen: Vec::new(),
        }
    }

    async fn call(
        &mut self,
        method: &str,
        key: Option<&str>,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .s
            .http
            .request(method, format!("{}{path}", self.s.base));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let r = req.send().await.expect("request");
        let status = r.status().as_u16();
        let content_type = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string());
        let text = r.text().await.expect("body");
        if status >= 400 {
            assert_eq!(
                content_type.as_deref(),
                Some("application/problem+json"),
                "{status}: {text}"
            );
        }
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("JSON body")
        };
        self.seen.push(text);
        (status, value)
    }

    async fn create(&mut self, key: &str, body: &Value) -> Value {
        let (status, v) = self
            .call("POST", Some(key), "/v1/destinations", Some(body))
            .await;
        assert_eq!(status, 201, "{v}");
        v
    }

    /// Asserts that no response so far, and no log line, contains a secret.
    fn assert_never_shown(&self, secrets: &[&str]) {
        let logs = audit_log_tests::logs::captured();
        // Every request logs one line (route=query …): proof the capture works
        // whichever test of this binary runs first.
        assert!(
            logs.contains("route=\"query\"") || logs.contains("route=query"),
            "the log capture sees the handlers' lines"
        );
        for secret in secrets {
            for text in &self.seen {
                assert!(
                    !text.contains(secret),
                    "a response contains a secret: {text}"
                );
            }
            assert!(!logs.contains(secret), "a log line contains a secret");
            // Also the key inside a whsec_ secret.
            if let Some(key) = secret.strip_prefix("whsec_") {
                assert!(!self.seen.iter().any(|t| t.contains(key)) && !logs.contains(key));
            }
        }
    }
}

fn token(label: &str) -> String {
    format!("{label}{}", ulid::Ulid::new().to_string().to_lowercase())
}

fn hint_of(secret: &str) -> String {
    format!("…{}", &secret[secret.len() - 4..])
}

async fn admin(s: &Stack, label: &str) -> (OrgId, String) {
    let org = s.org(label, true).await;
    let (key, _) = s.key(&org, Role::Admin).await;
    (org, key)
}

/// A create body of each type, with its secret (none for S3).
fn bodies(receiver: &str) -> Vec<(Value, Option<String>)> {
    vec![
        (
            json!({"name": "lake", "type": "s3", "settings": {"bucket": "acme-audit", "prefix": "logs", "region": "us-east-1"}}),
            None,
        ),
        (
            json!({"name": "dd", "type": "datadog", "settings": {"site": "datadoghq.eu", "tags": ["env:prod"]}, "format": "ocsf"}),
            Some(token("dd")),
        ),
        (
            json!({"name": "splunk", "type": "splunk", "settings": {"url": receiver, "index": "audit"}, "filter": {"groups": ["users"]}}),
            Some(token("hec-")),
        ),
        (
            json!({"name": "hook", "type": "webhook", "settings": {"url": receiver}, "filter": {"actions": ["API_KEY_CREATED"]}}),
            Some(webhook::generate_secret()),
        ),
    ]
}

fn with_secret(body: &Value, secret: &Option<String>) -> Value {
    let mut body = body.clone();
    if let Some(secret) = secret {
        body["secret"] = json!(secret);
    }
    body
}

async fn stored_secret(s: &Stack, org: &OrgId, id: &str) -> Option<String> {
    let d = s
        .store
        .get_destination::<DestinationSpec>(org, id)
        .await
        .unwrap()
        .expect("stored destination");
    match d.secret_ref {
        Some(name) => Some(
            s.secrets
                .get(&name)
                .await
                .expect("secret in Secrets Manager"),
        ),
        None => None,
    }
}

/// The requests a receiver got: headers and body.
type Got = Arc<Mutex<Vec<(http::HeaderMap, Vec<u8>)>>>;

/// A receiver answering every request with `status`; keeps what it got.
struct Receiver {
    url: String,
    got: Got,
}

async fn receiver(status: u16) -> Receiver {
    use axum::extract::{Request, State};
    async fn take(State((got, status)): State<(Got, u16)>, req: Request) -> http::StatusCode {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, 10 << 20).await.unwrap();
        got.lock().unwrap().push((parts.headers, bytes.to_vec()));
        http::StatusCode::from_u16(status).unwrap()
    }
    let got: Got = Arc::default();
    let app = axum::Router::new()
        .fallback(take)
        .with_state((got.clone(), status));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver {
        url: format!("http://{addr}/hook"),
        got,
    }
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn each_type_round_trips_and_its_secret_lives_only_in_secrets_manager() {
    let s = Stack::start().await;
    let (org, key) = admin(&s, "dest-crud").await;
    let mut c = Client::new(&s);
    let mut secrets = Vec::new();
    let mut ids = Vec::new();
    for (body, secret) in bodies("http://127.0.0.1:9/hook") {
        let created = c.create(&key, &with_secret(&body, &secret)).await;
        let id = created["id"].as_str().unwrap().to_string();
        assert!(id.starts_with("dst_"), "{created}");
        assert_eq!(created["type"], body["type"]);
        assert_eq!(created["name"], body["name"]);
        assert_eq!(created["settings"]["bucket"], body["settings"]["bucket"]);
        assert_eq!(created["enabled"], true);
        assert_eq!(created["state"], "active");
        assert!(Timestamp::parse(created["enabled_at"].as_str().unwrap()).is_ok());
        assert!(created.get("secret").is_none() && created.get("secret_ref").is_none());
        match &secret {
            Some(secret) => {
                assert_eq!(created["secret_hint"], hint_of(secret));
                assert_eq!(
                    stored_secret(&s, &org, &id).await.as_deref(),
                    Some(secret.as_str())
                );
                secrets.push(secret.clone());
            }
            None => {
                assert_eq!(created["secret_hint"], Value::Null);
                assert_eq!(stored_secret(&s, &org, &id).await, None);
            }
        }
        let (status, got) = c
            .call("GET", Some(&key), &format!("/v1/destinations/{id}"), None)
            .await;
        assert_eq!(status, 200);
        assert_eq!(got, created);
        ids.push((id, created, secret));
    }

    let (status, list) = c.call("GET", Some(&key), "/v1/destinations", None).await;
    assert_eq!(status, 200);
    let mut listed: Vec<&str> = list["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    let mut expected: Vec<&str> = ids.iter().map(|(id, ..)| id.as_str()).collect();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);

    for (id, created, secret) in &ids {
        let path = format!("/v1/destinations/{id}");
        // Rename, and rotate the secret where there is one.
        let mut patch = json!({"name": "renamed", "format": "ocsf"});
        let rotated = secret.as_ref().map(|_| match created["type"].as_str() {
            Some("webhook") => webhook::generate_secret(),
            _ => token("rotated-"),
        });
        if let Some(new) = &rotated {
            patch["secret"] = json!(new);
            secrets.push(new.clone());
        }
        let (status, patched) = c.call("PATCH", Some(&key), &path, Some(&patch)).await;
        assert_eq!(status, 200, "{patched}");
        assert_eq!(patched["name"], "renamed");
        assert_eq!(patched["format"], "ocsf");
        assert_eq!(
            patched["settings"], created["settings"],
            "settings untouched"
        );
        if let Some(new) = &rotated {
            assert_eq!(patched["secret_hint"], hint_of(new));
            assert_eq!(
                stored_secret(&s, &org, id).await.as_deref(),
                Some(new.as_str()),
                "rotation is a new version"
            );
        }

        let (status, st) = c
            .call("GET", Some(&key), &format!("{path}/status"), None)
            .await;
        assert_eq!(status, 200, "{st}");
        assert_eq!(st["state"], "active");
        assert_eq!(st["events_delivered"], 0);
        assert_eq!(st["windows_pending"], 0);
        assert_eq!(st["jobs_in_dlq"], 0);
        assert_eq!(st["cursor"], Value::Null);
        assert_eq!(st["enabled_at"], patched["enabled_at"]);
        for field in ["last_success_at", "last_error", "last_error_at"] {
            assert_eq!(st[field], Value::Null, "{field}");
        }

        let secret_name = s
            .store
            .get_destination::<DestinationSpec>(&org, id)
            .await
            .unwrap()
            .unwrap()
            .secret_ref;
        let (status, gone) = c.call("DELETE", Some(&key), &path, None).await;
        assert_eq!(status, 204, "{gone}");
        assert_eq!(gone, Value::Null);
        let (status, _) = c.call("GET", Some(&key), &path, None).await;
        assert_eq!(status, 404);
        let (status, _) = c.call("DELETE", Some(&key), &path, None).await;
        assert_eq!(status, 404);
        if let Some(name) = secret_name {
            assert!(
                s.secrets.get(&name).await.is_err(),
                "the secret is deleted with its destination"
            );
        }
    }
    let (_, list) = c.call("GET", Some(&key), "/v1/destinations", None).await;
    assert_eq!(list["destinations"], json!([]));
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    c.assert_never_shown(&secrets);
}

#[tokio::test]
async fn strict_policy_refuses_http_and_private_addresses_naming_the_field() {
    let s = Stack::start_with(UrlPolicy {
        allow_private: false,
    })
    .await;
    let (_, key) = admin(&s, "dest-strict").await;
    let mut c = Client::new(&s);
    let secret = token("hec-");
    let splunk = |url: &str| json!({"name": "s", "type": "splunk", "settings": {"url": url}, "secret": secret});
    for url in [
        "http://splunk.example.com:8088",
        "https://10.0.0.5:8088",
        "https://127.0.0.1:8088",
        "http://127.0.0.1:8088",
        "https://169.254.169.254/latest",
        "https://localhost:8088",
    ] {
        let (status, p) = c
            .call("POST", Some(&key), "/v1/destinations", Some(&splunk(url)))
            .await;
        assert_eq!(status, 400, "{url}: {p}");
        assert_eq!(p["errors"][0]["field"], "settings.url", "{url}: {p}");
    }
    let hook = json!({"name": "h", "type": "webhook", "settings": {"url": "http://127.0.0.1:9/x"}, "secret": webhook::generate_secret()});
    let (status, p) = c
        .call("POST", Some(&key), "/v1/destinations", Some(&hook))
        .await;
    assert_eq!(
        (status, p["errors"][0]["field"].as_str()),
        (400, Some("settings.url"))
    );
    // A public https URL is fine.
    c.create(&key, &splunk("https://splunk.example.com:8088"))
        .await;
    c.assert_never_shown(&[&secret]);
}

#[tokio::test]
async fn bad_input_is_a_400_naming_each_field() {
    let s = Stack::start().await;
    let (_, key) = admin(&s, "dest-invalid").await;
    let mut c = Client::new(&s);
    let bad_whsec = "whsec_c2hvcnQ=".to_string(); // 5 bytes
    let dd_secret = token("dd");
    let cases = [
        (
            json!({"name": "l", "type": "s3", "settings": {"bucket": "Bad_Bucket"}}),
            "settings.bucket",
        ),
        (
            json!({"name": "l", "type": "s3", "settings": {"bucket": "ok-bucket"}, "secret": dd_secret}),
            "secret",
        ),
        (
            json!({"name": "d", "type": "datadog", "settings": {"site": "datadoghq.com"}}),
            "secret",
        ),
        (
            json!({"name": "d", "type": "datadog", "settings": {"site": "datadoghq.com"}, "secret": "abcd"}),
            "secret",
        ),
        (
            json!({"name": "h", "type": "webhook", "settings": {"url": "http://127.0.0.1:9/x"}}),
            "secret",
        ),
        (
            json!({"name": "h", "type": "webhook", "settings": {"url": "http://127.0.0.1:9/x"}, "secret": bad_whsec}),
            "secret",
        ),
        (
            json!({"name": "h", "type": "webhook", "settings": {"url": "http://127.0.0.1:9/x"}, "secret": dd_secret}),
            "secret",
        ),
        (
            json!({"name": "s", "type": "splunk", "settings": {"url": "http://127.0.0.1:9"}, "secret": "has space"}),
            "secret",
        ),
        (
            json!({"name": "f", "type": "ftp", "settings": {"host": "x"}, "secret": dd_secret}),
            "type",
        ),
        (
            json!({"name": "s", "settings": {"url": "https://s.example.com"}, "secret": dd_secret}),
            "type",
        ),
        (
            json!({"name": "s", "type": "splunk", "settings": {"url": "ftp://s.example.com"}, "secret": dd_secret}),
            "settings.url",
        ),
        (
            json!({"name": "", "type": "s3", "settings": {"bucket": "ok-bucket"}}),
            "name",
        ),
        (
            json!({"name": "l", "type": "s3", "settings": {"bucket": "ok-bucket"}, "enabled": "yes"}),
            "enabled",
        ),
        (
            json!({"name": "l", "type": "s3", "settings": {"bucket": "ok-bucket"}, "colour": "red"}),
            "colour",
        ),
        (json!(["not", "an", "object"]), "body"),
    ];
    for (body, field) in cases {
        let (status, p) = c
            .call("POST", Some(&key), "/v1/destinations", Some(&body))
            .await;
        assert_eq!(status, 400, "{body}: {p}");
        let fields: Vec<&str> = p["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert!(
            fields.iter().any(|f| f.starts_with(field)),
            "{body}: expected {field}, got {p}"
        );
    }
    let (status, _) = c.call("GET", Some(&key), "/v1/destinations", None).await;
    assert_eq!(status, 200);
    c.assert_never_shown(&[&dd_secret, "whsec_c2hvcnQ=", "has space"]);
}

#[tokio::test]
async fn only_the_orgs_admins_manage_its_destinations() {
    let s = Stack::start().await;
    let (org, key) = admin(&s, "dest-access").await;
    let open_org = s.org("dest-open", false).await;
    let (member, _) = s.key(&open_org, Role::Member).await;
    let (ingest, _) = s.key(&org, Role::Ingest).await;
    let (team_member, _) = s.key(&org, Role::Member).await;
    let (_, other_admin) = admin(&s, "dest-other").await;
    let mut c = Client::new(&s);
    let secret = webhook::generate_secret();
    let created = c
        .create(&key, &json!({"name": "h", "type": "webhook", "settings": {"url": "http://127.0.0.1:9/x"}, "secret": secret}))
        .await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/v1/destinations/{id}");
    let body = json!({"name": "x", "type": "s3", "settings": {"bucket": "b-bucket"}});
    let patch = json!({"enabled": false});

    for k in [&member, &ingest, &team_member] {
        for (method, p, b) in [
            ("GET", "/v1/destinations".to_string(), None),
            ("POST", "/v1/destinations".to_string(), Some(&body)),
            ("GET", path.clone(), None),
            ("PATCH", path.clone(), Some(&patch)),
            ("DELETE", path.clone(), None),
            ("GET", format!("{path}/status"), None),
            ("POST", format!("{path}/test"), None),
        ] {
            let (status, problem) = c.call(method, Some(k), &p, b).await;
            assert_eq!(status, 403, "{method} {p}: {problem}");
        }
    }
    let (status, _) = c.call("GET", None, "/v1/destinations", None).await;
    assert_eq!(status, 401);

    for (method, p, b) in [
        ("GET", path.clone(), None),
        ("PATCH", path.clone(), Some(&patch)),
        ("DELETE", path.clone(), None),
        ("GET", format!("{path}/status"), None),
        ("POST", format!("{path}/test"), None),
    ] {
        let (status, problem) = c.call(method, Some(&other_admin), &p, b).await;
        assert_eq!(status, 404, "{method} {p}: {problem}");
    }
    let (_, others) = c
        .call("GET", Some(&other_admin), "/v1/destinations", None)
        .await;
    assert_eq!(others["destinations"], json!([]));
    // Untouched by all of the above.
    let (status, still) = c.call("GET", Some(&key), &path, None).await;
    assert_eq!((status, &still), (200, &created));
    assert!(s
        .store
        .get_destination::<DestinationSpec>(&org, id)
        .await
        .unwrap()
        .is_some());
    c.assert_never_shown(&[&secret]);
}

#[tokio::test]
async fn routes_refuse_unknown_methods_and_paths() {
    let s = Stack::start().await;
    let (_, key) = admin(&s, "dest-routes").await;
    let mut c = Client::new(&s);
    for (method, path, status) in [
        ("PUT", "/v1/destinations", 405),
        ("DELETE", "/v1/destinations", 405),
        ("POST", "/v1/destinations/dst_x", 405),
        ("PUT", "/v1/destinations/dst_x", 405),
        ("PATCH", "/v1/destinations/dst_x/status", 405),
        ("GET", "/v1/destinations/dst_x/test", 405),
        ("GET", "/v1/destinations/dst_x/nope", 404),
        ("GET", "/v1/destinations/dst_x/status/more", 404),
        ("GET", "/v1/destinations/dst_unknown", 404),
        ("GET", "/v1/destinations/..%2Fetc", 404),
        ("GET", "/v1/destination", 404),
    ] {
        let (got, p) = c.call(method, Some(&key), path, None).await;
        assert_eq!(got, status, "{method} {path}: {p}");
    }
}

#[tokio::test]
async fn re_enabling_restarts_export_at_now_and_drops_the_cursor() {
    let s = Stack::start().await;
    let (org, key) = admin(&s, "dest-enable").await;
    let mut c = Client::new(&s);
    let created = c
        .create(
            &key,
            &json!({"name": "l", "type": "s3", "settings": {"bucket": "acme-audit"}}),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/v1/destinations/{id}");
    let first = Timestamp::parse(created["enabled_at"].as_str().unwrap()).unwrap();

    // The scheduler cuts a window and advances the cursor.
    let advanced = first.plus_millis(1_000);
    assert!(s
        .store
        .advance_cursor(&org, id, first, advanced)
        .await
        .unwrap());
    let (_, st) = c
        .call("GET", Some(&key), &format!("{path}/status"), None)
        .await;
    assert_eq!(st["cursor"], json!(advanced));

    // Disabling keeps both where they were.
    let (status, off) = c
        .call("PATCH", Some(&key), &path, Some(&json!({"enabled": false})))
        .await;
    assert_eq!(status, 200, "{off}");
    assert_eq!(
        (off["enabled"].as_bool(), off["state"].as_str()),
        (Some(false), Some("disabled"))
    );
    assert_eq!(off["enabled_at"], created["enabled_at"]);
    let (_, st) = c
        .call("GET", Some(&key), &format!("{path}/status"), None)
        .await;
    assert_eq!(
        (st["state"].as_str(), &st["cursor"]),
        (Some("disabled"), &json!(advanced))
    );
    // The scheduler no longer moves a disabled destination.
    assert!(!s
        .store
        .advance_cursor(&org, id, advanced, advanced.plus_millis(1))
        .await
        .unwrap());

    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let (status, on) = c
        .call("PATCH", Some(&key), &path, Some(&json!({"enabled": true})))
        .await;
    assert_eq!(status, 200, "{on}");
    let second = Timestamp::parse(on["enabled_at"].as_str().unwrap()).unwrap();
    assert!(
        second > first,
        "enabled_at moves forward: {first} -> {second}"
    );
    assert_eq!(on["state"], "active");
    let (_, st) = c
        .call("GET", Some(&key), &format!("{path}/status"), None)
        .await;
    assert_eq!(
        st["cursor"],
        Value::Null,
        "nothing from while it was off is sent"
    );
    assert_eq!(st["enabled_at"], on["enabled_at"]);
    // The scheduler starts again at the new enabled_at, not at the old cursor.
    assert!(!s
        .store
        .advance_cursor(&org, id, advanced, advanced.plus_millis(1))
        .await
        .unwrap());
    assert!(s
        .store
        .advance_cursor(&org, id, second, second.plus_millis(1))
        .await
        .unwrap());

    // Enabling an enabled destination changes nothing.
    let (_, again) = c
        .call(
            "PATCH",
            Some(&key),
            &path,
            Some(&json!({"enabled": true, "name": "n"})),
        )
        .await;
    assert_eq!(again["enabled_at"], on["enabled_at"]);
    let (_, st) = c
        .call("GET", Some(&key), &format!("{path}/status"), None)
        .await;
    assert_eq!(st["cursor"], json!(second.plus_millis(1)));

    // Created disabled: no enabled_at until enabled.
    let off = c.create(&key, &json!({"name": "l2", "type": "s3", "settings": {"bucket": "acme-audit"}, "enabled": false})).await;
    assert_eq!(
        (off["enabled"].as_bool(), &off["enabled_at"]),
        (Some(false), &Value::Null)
    );
}

#[tokio::test]
async fn changing_the_type_needs_new_settings_and_its_own_secret() {
    let s = Stack::start().await;
    let (org, key) = admin(&s, "dest-retype").await;
    let mut c = Client::new(&s);
    let secret = webhook::generate_secret();
    let created = c
        .create(&key, &json!({"name": "h", "type": "webhook", "settings": {"url": "http://127.0.0.1:9/x"}, "secret": secret}))
        .await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/v1/destinations/{id}");
    let name = s
        .store
        .get_destination::<DestinationSpec>(&org, id)
        .await
        .unwrap()
        .unwrap()
        .secret_ref
        .unwrap();

    let (status, p) = c
        .call("PATCH", Some(&key), &path, Some(&json!({"type": "splunk"})))
        .await;
    assert_eq!(
        (status, p["errors"][0]["field"].as_str()),
        (400, Some("settings")),
        "{p}"
    );
    let to_splunk = json!({"type": "splunk", "settings": {"url": "http://127.0.0.1:9"}});
    let (status, p) = c.call("PATCH", Some(&key), &path, Some(&to_splunk)).await;
    assert_eq!(
        (status, p["errors"][0]["field"].as_str()),
        (400, Some("secret")),
        "{p}"
    );
    let (status, p) = c
        .call(
            "PATCH",
            Some(&key),
            &path,
            Some(&json!({"secret": "not-whsec"})),
        )
        .await;
    assert_eq!(
        (status, p["errors"][0]["field"].as_str()),
        (400, Some("secret")),
        "{p}"
    );
    let (status, p) = c
        .call(
            "PATCH",
            Some(&key),
            &path,
            Some(&json!({"settings": {"url": "ftp://x"}})),
        )
        .await;
    assert_eq!(
        (status, p["errors"][0]["field"].as_str()),
        (400, Some("settings.url")),
        "{p}"
    );
    let (_, unchanged) = c.call("GET", Some(&key), &path, None).await;
    assert_eq!(unchanged, created, "a refused PATCH changes nothing");

    // To S3: the webhook secret is retired.
    let (status, lake) = c
        .call(
            "PATCH",
            Some(&key),
            &path,
            Some(&json!({"type": "s3", "settings": {"bucket": "acme-audit"}})),
        )
        .await;
    assert_eq!(status, 200, "{lake}");
    assert_eq!(
        (lake["type"].as_str(), &lake["secret_hint"]),
        (Some("s3"), &Value::Null)
    );
    assert!(s.secrets.get(&name).await.is_err());
    assert_eq!(stored_secret(&s, &org, id).await, None);
    c.assert_never_shown(&[&secret]);
}

#[tokio::test]
async fn test_sends_one_event_and_reports_the_answer_without_the_secret() {
    let s = Stack::start().await;
    let (org, key) = admin(&s, "dest-test").await;
    let mut c = Client::new(&s);

    let ok = receiver(204).await;
    let secret = webhook::generate_secret();
    let hook = c
        .create(
            &key,
            &json!({"name": "h", "type": "webhook", "settings": {"url": ok.url}, "secret": secret}),
        )
        .await;
    let id = hook["id"].as_str().unwrap();
    let (status, answer) = c
        .call(
            "POST",
            Some(&key),
            &format!("/v1/destinations/{id}/test"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["delivered"], true, "{answer}");
    assert_eq!(answer["outcome"], "delivered");
    assert_eq!(answer["requests"], 1);
    {
        let got = ok.got.lock().unwrap();
        assert_eq!(got.len(), 1);
        let (headers, body) = &got[0];
        let header = |n: &str| headers.get(n).unwrap().to_str().unwrap().to_string();
        let ts: i64 = header("webhook-timestamp").parse().unwrap();
        assert!(webhook::verify(
            &secret,
            &header("webhook-id"),
            ts,
            body,
            &header("webhook-signature")
        )
        .unwrap());
    }

    let refusing = receiver(401).await;
    let hec_token = token("hec-");
    let splunk = c
        .create(&key, &json!({"name": "s", "type": "splunk", "settings": {"url": refusing.url}, "secret": hec_token}))
        .await;
    let sid = splunk["id"].as_str().unwrap();
    let (status, answer) = c
        .call(
            "POST",
            Some(&key),
            &format!("/v1/destinations/{sid}/test"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (answer["delivered"].as_bool(), answer["outcome"].as_str()),
        (Some(false), Some("permanent")),
        "{answer}"
    );
    assert!(answer["detail"].as_str().is_some_and(|d| !d.is_empty()));
    {
        let got = refusing.got.lock().unwrap();
        assert_eq!(
            got[0].0.get("authorization").unwrap().to_str().unwrap(),
            format!("Splunk {hec_token}")
        );
    }
    let (_, st) = c
        .call(
            "GET",
            Some(&key),
            &format!("/v1/destinations/{sid}/status"),
            None,
        )
        .await;
    assert_eq!(st["state"], "failing", "{st}");
    assert!(
        st["last_error"]
            .as_str()
            .unwrap()
            .starts_with("test delivery:"),
        "{st}"
    );
    assert!(st["last_error_at"].is_string());

    let busy = receiver(503).await;
    let dd_key = token("dd");
    let dd = c
        .create(
            &key,
            &json!({"name": "d", "type": "datadog", "settings": {"site": "datadoghq.com", "intake_url": busy.url.trim_end_matches("/hook")}, "secret": dd_key}),
        )
        .await;
    let did = dd["id"].as_str().unwrap();
    let (_, answer) = c
        .call(
            "POST",
            Some(&key),
            &format!("/v1/destinations/{did}/test"),
            None,
        )
        .await;
    assert_eq!(
        (answer["delivered"].as_bool(), answer["outcome"].as_str()),
        (Some(false), Some("transient")),
        "{answer}"
    );

    // A destination whose secret vanished says so instead of failing oddly.
    let name = s
        .store
        .get_destination::<DestinationSpec>(&org, id)
        .await
        .unwrap()
        .unwrap()
        .secret_ref
        .unwrap();
    s.secrets.delete(&name).await.unwrap();
    let (status, answer) = c
        .call(
            "POST",
            Some(&key),
            &format!("/v1/destinations/{id}/test"),
            None,
        )
        .await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (200, Some("permanent")),
        "{answer}"
    );
    assert_eq!(
        ok.got.lock().unwrap().len(),
        1,
        "nothing sent without a secret"
    );

    c.assert_never_shown(&[&secret, &hec_token, &dd_key]);
}
