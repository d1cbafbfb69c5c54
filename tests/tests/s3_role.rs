//! S3 role assumption against the confused deputy: the export function
//! assumes an S3 destination's role with `ExternalId` = the org id (checked
//! on the wire: STS is a recording endpoint on loopback, S3 is moto), and a
//! role ARN one org has named cannot be named by another until released.

use std::sync::{Arc, Mutex};

use audit_domain::auth::Role;
use audit_log_tests::Stack;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

/// Every AssumeRole request STS received, as its form fields.
type Calls = Arc<Mutex<Vec<Vec<(String, String)>>>>;

const ANSWER: &str = r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>ASIAEXAMPLEEXAMPLE01</AccessKeyId>
      <SecretAccessKey>recording-sts-secret-access-key</SecretAccessKey>
      <SessionToken>recording-sts-session-token</SessionToken>
      <Expiration>2099-01-01T00:00:00Z</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <AssumedRoleId>AROAEXAMPLE:audit-log-export</AssumedRoleId>
      <Arn>arn:aws:sts::123456789012:assumed-role/audit-export/audit-log-export</Arn>
    </AssumedRoleUser>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>rec-1</RequestId></ResponseMetadata>
</AssumeRoleResponse>"#;

async fn record(
    State(calls): State<Calls>,
    body: String,
) -> ([(&'static str, &'static str); 1], &'static str) {
    let fields = url::form_urlencoded::parse(body.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    calls.lock().unwrap_or_else(|p| p.into_inner()).push(fields);
    ([("content-type", "text/xml")], ANSWER)
}

/// A recording STS on loopback; returns its URL.
async fn recording_sts(calls: Calls) -> String {
    let app = Router::new().route("/", post(record)).with_state(calls);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

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

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn the_role_is_assumed_with_the_org_as_external_id_and_claimed_by_one_org() {
    let calls: Calls = Arc::default();
    // One test in this binary: the SDK config below is loaded after this.
    std::env::set_var("AWS_ENDPOINT_URL_STS", recording_sts(calls.clone()).await);
    let s = Stack::start().await;
    let (s3, bucket) = audit_log_tests::s3_bucket("role").await;
    let a = s.org("role-a", false).await;
    let b = s.org("role-b", false).await;
    let (key_a, _) = s.key(&a, Role::Admin).await;
    let (key_b, _) = s.key(&b, Role::Admin).await;
    let role = format!(
        "arn:aws:iam::123456789012:role/audit-export-{}",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    let lake = json!({"name": "lake", "type": "s3", "settings": {"bucket": bucket, "prefix": "audit", "role_arn": role}});

    let (status, first) = call(&s, "POST", &key_a, "/v1/destinations", &lake).await;
    assert_eq!(status, 201, "{first}");
    // The same org may name its role again.
    let (status, second) = call(&s, "POST", &key_a, "/v1/destinations", &lake).await;
    assert_eq!(status, 201, "{second}");
    // Another org may not.
    let (status, refused) = call(&s, "POST", &key_b, "/v1/destinations", &lake).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(
        refused["errors"][0]["field"], "settings.role_arn",
        "{refused}"
    );
    // Nor by a PATCH of a destination of its own.
    let own = json!({"name": "own", "type": "s3", "settings": {"bucket": bucket, "prefix": "b", "role_arn": format!("{role}-b")}});
    let (status, own) = call(&s, "POST", &key_b, "/v1/destinations", &own).await;
    assert_eq!(status, 201, "{own}");
    let own_path = format!("/v1/destinations/{}", own["id"].as_str().expect("id"));
    let (status, refused) = call(
        &s,
        "PATCH",
        &key_b,
        &own_path,
        &json!({"settings": lake["settings"]}),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(
        refused["errors"][0]["field"], "settings.role_arn",
        "{refused}"
    );

    // A test delivery assumes the role with ExternalId = org A, then writes.
    let path = format!("/v1/destinations/{}", first["id"].as_str().expect("id"));
    let (status, report) = call(&s, "POST", &key_a, &format!("{path}/test"), &json!({})).await;
    assert_eq!(status, 200, "{report}");
    let seen = calls.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let assumed: Vec<_> = seen
        .iter()
        .filter(|f| field(f, "Action") == Some("AssumeRole"))
        .collect();
    assert_eq!(assumed.len(), 1, "{seen:?}");
    assert_eq!(field(assumed[0], "RoleArn"), Some(role.as_str()));
    assert_eq!(field(assumed[0], "ExternalId"), Some(a.as_str()));
    assert_eq!(
        field(assumed[0], "RoleSessionName"),
        Some("audit-log-export")
    );
    assert_eq!(report["delivered"], true, "{report}");
    let keys = audit_log_tests::s3_keys(&s3, &bucket).await;
    assert!(
        keys.iter().any(|k| k.starts_with("audit/_test/")),
        "{keys:?}"
    );

    // Deleting org A's last destination naming the role releases it.
    let (status, _) = call(&s, "DELETE", &key_a, &path, &json!({})).await;
    assert_eq!(status, 204);
    let (status, still) = call(&s, "POST", &key_b, "/v1/destinations", &lake).await;
    assert_eq!(
        status, 400,
        "one of org A's destinations still names it: {still}"
    );
    let other = format!("/v1/destinations/{}", second["id"].as_str().expect("id"));
    let (status, _) = call(&s, "DELETE", &key_a, &other, &json!({})).await;
    assert_eq!(status, 204);
    let (status, claimed) = call(&s, "POST", &key_b, "/v1/destinations", &lake).await;
    assert_eq!(status, 201, "{claimed}");
}
