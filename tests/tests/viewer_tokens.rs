//! Viewer tokens end to end: what a token minted by a `viewer_issuer` key may
//! do, as a decision table like the role table in `access.rs`, and which of
//! its actions the org's log records.

use audit_domain::auth::Role;
use audit_domain::catalog::Action;
use audit_domain::cursor::CursorCodec;
use audit_domain::ids::{ActorId, OrgId};
use audit_domain::time::Timestamp;
use audit_domain::viewer::{
    TokenCodec, Viewer, ViewerClaims, ViewerRole, ViewerScope, ViewerUser, KEY_LABEL,
};
use audit_log_tests::{event, Stack, CURSOR_SECRET};
use serde_json::{json, Value};

async fn send(
    s: &Stack,
    method: &str,
    bearer: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let url = format!("{}{path}", s.base);
    let mut req = match method {
        "POST" => s.http.post(url),
        "PUT" => s.http.put(url),
        _ => s.http.get(url),
    }
    .bearer_auth(bearer);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A token minted through the API by `issuer`.
async fn mint(s: &Stack, issuer: &str, body: Value) -> String {
    let (status, answer) = send(s, "POST", issuer, "/v1/viewer-tokens", Some(body)).await;
    assert_eq!(status, 201, "{answer}");
    let token = answer["token"].as_str().expect("token").to_string();
    assert!(answer["page_url"].as_str().unwrap().contains("#token="));
    token
}

fn user(role: &str) -> Value {
    json!({"user": {"id": "usr_ada", "name": "Ada Lovelace", "email": "ada@example.com"}, "role": role})
}

/// The deployment's token key, as the test stack's query function derives it.
fn codec() -> TokenCodec {
    TokenCodec::new(CursorCodec::new(CURSOR_SECRET.to_vec()).derive(KEY_LABEL))
}

fn claims(org: &OrgId, kid: &str, role: ViewerRole, exp: i64) -> ViewerClaims {
    ViewerClaims {
        org: org.clone(),
        kid: kid.to_string(),
        role,
        viewer: Viewer {
            user: ViewerUser {
                id: ActorId::parse("usr_ada").unwrap(),
                name: None,
                email: None,
            },
            scope: ViewerScope::default(),
        },
        iat: exp - 60,
        exp,
    }
}

/// One row: what is tried, with which bearer, method, path, body, and the
/// status the README documents.
type Case<'a> = (&'a str, &'a str, &'a str, &'a str, Option<Value>, u16);

#[tokio::test]
async fn viewer_token_decision_table() {
    let s = Stack::start().await;
    let open = s.org("vt-open", false).await;
    let teams = s.org("vt-teams", true).await;
    let (open_issuer, open_issuer_id) = s.key(&open, Role::ViewerIssuer).await;
    let (teams_issuer, _) = s.key(&teams, Role::ViewerIssuer).await;
    let (open_admin, _) = s.key(&open, Role::Admin).await;
    let (ingest, _) = s.key(&open, Role::Ingest).await;
    let (teams_ingest, _) = s.key(&teams, Role::Ingest).await;
    // usr_ada's event on res_1, and one by usr_grace on res_2.
    assert_eq!(
        s.post(&ingest, &event("evt_ada", Action::ModelDeleted, false))
            .await
            .0,
        201
    );
    let mut grace = event("evt_grace", Action::ModelDeleted, false);
    grace["actor"]["id"] = json!("usr_grace");
    grace["resource"]["id"] = json!("res_2");
    assert_eq!(s.post(&ingest, &grace).await.0, 201);
    assert_eq!(
        s.post(
            &teams_ingest,
            &event("evt_teams", Action::ModelDeleted, false)
        )
        .await
        .0,
        201
    );

    let admin = mint(&s, &open_issuer, user("admin")).await;
    let member = mint(&s, &open_issuer, user("member")).await;
    let teams_member = mint(&s, &teams_issuer, user("member")).await;
    let teams_admin = mint(&s, &teams_issuer, user("admin")).await;
    let mut scoped_body = user("member");
    scoped_body["scope"] = json!({"actor": "usr_ada"});
    let scoped = mint(&s, &open_issuer, scoped_body).await;
    let mut resource_body = user("admin");
    resource_body["scope"] = json!({"resource_id": "res_2"});
    let resource_scoped = mint(&s, &open_issuer, resource_body).await;

    let now = Timestamp::now().epoch_seconds();
    let expired = codec().mint(&claims(&open, &open_issuer_id, ViewerRole::Admin, now - 1));
    let forged = TokenCodec::new(b"not the deployment's key".to_vec()).mint(&claims(
        &open,
        &open_issuer_id,
        ViewerRole::Admin,
        now + 300,
    ));
    // The member token's signature on an admin token's claims.
    let altered = {
        let upgraded = codec().mint(&claims(
            &open,
            &open_issuer_id,
            ViewerRole::Admin,
            now + 300,
        ));
        let (payload, _) = upgraded.split_once('.').unwrap();
        let (_, tag) = member.split_once('.').unwrap();
        format!("{payload}.{tag}")
    };
    // Correctly signed, claiming the teams org with the open org's issuer.
    let other_org = codec().mint(&claims(
        &teams,
        &open_issuer_id,
        ViewerRole::Admin,
        now + 300,
    ));
    let write = Some(event("evt_w", Action::ModelDeleted, false));
    let mint_body = Some(user("admin"));

    let table: Vec<Case> = vec![
        ("admin token reads", &admin, "GET", "/v1/events", None, 200),
        (
            "admin token reads one event",
            &admin,
            "GET",
            "/v1/events/evt_ada",
            None,
            200,
        ),
        (
            "member token reads, org without teams",
            &member,
            "GET",
            "/v1/events",
            None,
            200,
        ),
        (
            "member token, org with teams",
            &teams_member,
            "GET",
            "/v1/events",
            None,
            403,
        ),
        (
            "admin token, org with teams",
            &teams_admin,
            "GET",
            "/v1/events",
            None,
            200,
        ),
        ("expired token", &expired, "GET", "/v1/events", None, 401),
        (
            "forged token (another key)",
            &forged,
            "GET",
            "/v1/events",
            None,
            401,
        ),
        (
            "altered token (claims changed)",
            &altered,
            "GET",
            "/v1/events",
            None,
            401,
        ),
        (
            "token claiming another org",
            &other_org,
            "GET",
            "/v1/events",
            None,
            401,
        ),
        (
            "another org's token, this org's event",
            &teams_admin,
            "GET",
            "/v1/events/evt_ada",
            None,
            404,
        ),
        (
            "scoped token inside its scope",
            &scoped,
            "GET",
            "/v1/events?actor=usr_ada",
            None,
            200,
        ),
        (
            "scoped token asks another actor",
            &scoped,
            "GET",
            "/v1/events?actor=usr_grace",
            None,
            403,
        ),
        (
            "scoped token asks another actor in q",
            &scoped,
            "GET",
            "/v1/events?q=actor:usr_grace",
            None,
            403,
        ),
        (
            "scoped token, event outside scope",
            &scoped,
            "GET",
            "/v1/events/evt_grace",
            None,
            404,
        ),
        (
            "resource-scoped token asks another resource",
            &resource_scoped,
            "GET",
            "/v1/events?resource_id=res_1",
            None,
            403,
        ),
        (
            "resource-scoped token, event outside scope",
            &resource_scoped,
            "GET",
            "/v1/events/evt_ada",
            None,
            404,
        ),
        (
            "token writes events",
            &admin,
            "POST",
            "/v1/events",
            write.clone(),
            403,
        ),
        (
            "forged token writes events",
            &forged,
            "POST",
            "/v1/events",
            write.clone(),
            403,
        ),
        (
            "token mints tokens",
            &admin,
            "POST",
            "/v1/viewer-tokens",
            mint_body.clone(),
            403,
        ),
        (
            "admin token manages export",
            &admin,
            "GET",
            "/v1/destinations",
            None,
            200,
        ),
        (
            "member token manages export",
            &member,
            "GET",
            "/v1/destinations",
            None,
            403,
        ),
        (
            "member token sets embedding",
            &member,
            "PUT",
            "/v1/embedding",
            Some(json!({"frame_ancestors": []})),
            403,
        ),
        (
            "issuer key reads",
            &open_issuer,
            "GET",
            "/v1/events",
            None,
            403,
        ),
        (
            "issuer key manages export",
            &open_issuer,
            "GET",
            "/v1/destinations",
            None,
            403,
        ),
        (
            "issuer key writes",
            &open_issuer,
            "POST",
            "/v1/events",
            write.clone(),
            403,
        ),
        (
            "admin key mints",
            &open_admin,
            "POST",
            "/v1/viewer-tokens",
            mint_body.clone(),
            403,
        ),
        (
            "issuer mints a too-long token",
            &open_issuer,
            "POST",
            "/v1/viewer-tokens",
            Some(json!({"user": {"id": "u"}, "role": "admin", "ttl_seconds": 100_000})),
            400,
        ),
        (
            "issuer names an org",
            &open_issuer,
            "POST",
            "/v1/viewer-tokens",
            Some(json!({"user": {"id": "u"}, "role": "admin", "org": teams.as_str()})),
            400,
        ),
    ];
    let mut failures = Vec::new();
    for (case, bearer, method, path, body, want) in table {
        let (status, answer) = send(&s, method, bearer, path, body).await;
        if status != want {
            failures.push(format!(
                "{case}: {method} {path} → {status}, want {want}: {answer}"
            ));
        }
        if status >= 400 {
            assert_eq!(
                answer["status"],
                json!(status),
                "{case}: problem+json: {answer}"
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // What the answers hold: the teams org's token sees its own org only,
    // and a scoped token only its scope.
    let ids = |v: &Value| -> Vec<String> {
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(&send(&s, "GET", &teams_admin, "/v1/events", None).await.1),
        ["evt_teams"]
    );
    assert_eq!(
        ids(&send(&s, "GET", &scoped, "/v1/events", None).await.1),
        ["evt_ada"]
    );
    assert_eq!(
        ids(&send(&s, "GET", &resource_scoped, "/v1/events", None)
            .await
            .1),
        ["evt_grace"]
    );
    let (_, bad) = send(
        &s,
        "POST",
        &open_issuer,
        "/v1/viewer-tokens",
        Some(json!({"user": {"id": "u"}, "role": "admin", "ttl_seconds": 100_000})),
    )
    .await;
    assert_eq!(bad["errors"][0]["field"], "ttl_seconds", "{bad}");

    // Revoking (rotating) the issuer ends every token it minted.
    assert!(s
        .store
        .revoke_key(&open, &open_issuer_id, Timestamp::now())
        .await
        .unwrap());
    for token in [&admin, &member, &scoped] {
        let (status, body) = send(&s, "GET", token, "/v1/events", None).await;
        assert_eq!(status, 401, "{body}");
        assert!(
            body["detail"].as_str().unwrap().contains("revoked"),
            "{body}"
        );
    }
}

/// The org's `AUDIT_LOG_EXPORTED` events, read with an API key.
async fn exports(s: &Stack, key: &str) -> Vec<Value> {
    let (status, body) = s
        .get(Some(key), "/v1/events?action=AUDIT_LOG_EXPORTED")
        .await;
    assert_eq!(status, 200, "{body}");
    body["events"].as_array().unwrap().clone()
}

#[tokio::test]
async fn token_downloads_are_recorded_with_the_viewer_and_key_downloads_are_not() {
    let s = Stack::start().await;
    let org = s.org("vt-export", false).await;
    let (issuer, _) = s.key(&org, Role::ViewerIssuer).await;
    let (ingest, _) = s.key(&org, Role::Ingest).await;
    let (admin_key, _) = s.key(&org, Role::Admin).await;
    for i in 0..3 {
        assert_eq!(
            s.post(
                &ingest,
                &event(&format!("evt_{i}"), Action::ModelDeleted, false)
            )
            .await
            .0,
            201
        );
    }
    // An API key's download: not recorded.
    let r = s
        .http
        .get(format!("{}/v1/events?format=csv&group=models", s.base))
        .bearer_auth(&admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(exports(&s, &admin_key).await.is_empty());

    let token = mint(&s, &issuer, user("admin")).await;
    let r = s
        .http
        .get(format!("{}/v1/events?format=ndjson&group=models", s.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let lines = r.text().await.unwrap().lines().count();
    assert_eq!(lines, 3);
    // A plain page view is not recorded either.
    assert_eq!(send(&s, "GET", &token, "/v1/events", None).await.0, 200);
    let recorded = exports(&s, &admin_key).await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    let e = &recorded[0];
    assert_eq!(e["actor"]["id"], "usr_ada", "{e}");
    assert_eq!(e["actor"]["type"], "user", "{e}");
    assert_eq!(e["actor"]["email"], "ada@example.com", "{e}");
    assert_eq!(e["metadata"]["rows"], "3", "{e}");
    assert_eq!(e["metadata"]["format"], "ndjson", "{e}");
    assert_eq!(e["metadata"]["filter"], "group=models", "{e}");
    assert_eq!(e["metadata"]["continued"], "false", "{e}");
}

#[tokio::test]
async fn embedding_changes_are_recorded_with_the_viewer_as_actor() {
    let s = Stack::start().await;
    let org = s.org("vt-embed", false).await;
    let (issuer, _) = s.key(&org, Role::ViewerIssuer).await;
    let (admin_key, _) = s.key(&org, Role::Admin).await;
    let admin = mint(&s, &issuer, user("admin")).await;
    let changes = || async {
        let (status, body) = s
            .get(
                Some(&admin_key),
                "/v1/events?action=AUDIT_LOG_EMBEDDING_CHANGED",
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["events"].as_array().unwrap().clone()
    };
    let put = |list: Value| {
        let (s, admin) = (&s, &admin);
        async move {
            let (status, body) = send(
                s,
                "PUT",
                admin,
                "/v1/embedding",
                Some(json!({ "frame_ancestors": list })),
            )
            .await;
            assert_eq!(status, 200, "{body}");
        }
    };
    put(json!(["https://dash.example.com"])).await;
    let first = changes().await;
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0]["actor"]["id"], "usr_ada");
    assert_eq!(
        first[0]["metadata"]["frame_ancestors"],
        "https://dash.example.com"
    );
    assert!(first[0]["metadata"].get("previous").is_none());
    // The same list again changes nothing and records nothing.
    put(json!(["https://dash.example.com"])).await;
    assert_eq!(changes().await.len(), 1);
    // Back to nobody: recorded with what it was.
    put(json!([])).await;
    let all = changes().await;
    assert_eq!(all.len(), 2, "{all:?}");
    let latest = all
        .iter()
        .find(|e| e["metadata"].get("previous").is_some())
        .expect("the second change");
    assert_eq!(latest["metadata"]["previous"], "https://dash.example.com");
    assert!(latest["metadata"].get("frame_ancestors").is_none());
}
