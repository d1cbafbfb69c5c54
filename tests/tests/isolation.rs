//! Isolation, proven route by route: every route of the API against every
//! kind of caller gets exactly the status the README documents (the table
//! below is the expectation, as data; a failure prints each mismatching
//! cell), and no caller outside org A ever sees anything of org A (event ids,
//! cursors, destinations, digests, the org id). Then hostile input: deeply
//! nested JSON, invalid UTF-8, NUL and control characters are rejected or
//! kept harmless, and the server keeps answering.

use std::fmt::Write as _;
use std::time::Duration;

use audit_domain::auth::Role;
use audit_domain::catalog::Action;
use audit_domain::download::CSV_COLUMNS;
use audit_domain::time::Timestamp;
use audit_log_tests::{event, Stack};
use serde_json::{json, Value};

/// Who calls. Org A (the owner, an org that uses teams) holds the events,
/// the destination and the digests the paths name; org B and org N are
/// other orgs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// Org A's admin.
    OwnerAdmin,
    /// Org B's admin: another org.
    OtherAdmin,
    /// A member of org A, which uses teams.
    TeamsMember,
    /// A member of org N, which does not use teams (another org).
    NoTeamsMember,
    /// Org A's ingest key.
    Ingest,
    /// An admin key of org A, revoked.
    Revoked,
    /// No `Authorization` header.
    NoKey,
}

/// The columns of the table, in this order. The owner's admin goes last on
/// every row, so its `DELETE` runs after everyone else's attempt.
const CALLERS: [Caller; 7] = [
    Caller::OwnerAdmin,
    Caller::OtherAdmin,
    Caller::TeamsMember,
    Caller::NoTeamsMember,
    Caller::Ingest,
    Caller::Revoked,
    Caller::NoKey,
];

/// One row: a route and the documented status for each caller, in the
/// order of `CALLERS`. `{event}` and `{dst}` stand for org A's event and
/// destination ids.
struct Row {
    method: &'static str,
    path: &'static str,
    body: Body,
    expected: [u16; 7],
}

#[derive(Clone, Copy)]
enum Body {
    None,
    Event,
    Destination,
    Patch,
    Replay,
}

#[rustfmt::skip]
const MATRIX: &[Row] = &[
    //                                                                   owner  other  teams  no-teams ingest revoked no key
    //                                                                   admin  admin  member member   key    key
    Row { method: "POST",   path: "/v1/events",                        body: Body::Event,       expected: [403, 403, 403, 403, 201, 401, 401] },
    Row { method: "GET",    path: "/v1/events",                        body: Body::None,        expected: [200, 200, 403, 200, 403, 401, 401] },
    Row { method: "GET",    path: "/v1/events?format=csv",             body: Body::None,        expected: [200, 200, 403, 200, 403, 401, 401] },
    Row { method: "GET",    path: "/v1/events?format=ndjson",          body: Body::None,        expected: [200, 200, 403, 200, 403, 401, 401] },
    Row { method: "GET",    path: "/v1/events/{event}",                body: Body::None,        expected: [200, 404, 403, 404, 403, 401, 401] },
    Row { method: "GET",    path: "/v1/event-types",                   body: Body::None,        expected: [200, 200, 200, 200, 200, 401, 401] },
    Row { method: "POST",   path: "/v1/destinations",                  body: Body::Destination, expected: [201, 201, 403, 403, 403, 401, 401] },
    Row { method: "GET",    path: "/v1/destinations",                  body: Body::None,        expected: [200, 200, 403, 403, 403, 401, 401] },
    Row { method: "GET",    path: "/v1/destinations/{dst}",            body: Body::None,        expected: [200, 404, 403, 403, 403, 401, 401] },
    Row { method: "PATCH",  path: "/v1/destinations/{dst}",            body: Body::Patch,       expected: [200, 404, 403, 403, 403, 401, 401] },
    Row { method: "GET",    path: "/v1/destinations/{dst}/status",     body: Body::None,        expected: [200, 404, 403, 403, 403, 401, 401] },
    Row { method: "POST",   path: "/v1/destinations/{dst}/test",       body: Body::None,        expected: [200, 404, 403, 403, 403, 401, 401] },
    Row { method: "POST",   path: "/v1/destinations/{dst}/replay",     body: Body::Replay,      expected: [202, 404, 403, 403, 403, 401, 401] },
    Row { method: "GET",    path: "/v1/integrity/public-key",          body: Body::None,        expected: [200, 200, 200, 200, 200, 401, 401] },
    Row { method: "GET",    path: "/v1/integrity/public-keys",         body: Body::None,        expected: [200, 200, 200, 200, 200, 401, 401] },
    Row { method: "GET",    path: "/v1/integrity/digests",             body: Body::None,        expected: [200, 200, 403, 200, 403, 401, 401] },
    Row { method: "DELETE", path: "/v1/destinations/{dst}",            body: Body::None,        expected: [204, 404, 403, 403, 403, 401, 401] },
];

const PERIOD_MS: i64 = 2_000;

struct Response {
    status: u16,
    content_type: String,
    text: String,
}

impl Response {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

async fn call(
    s: &Stack,
    method: &str,
    key: Option<&str>,
    path: &str,
    body: Option<Vec<u8>>,
) -> Response {
    let method = http::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = s.http.request(method, format!("{}{path}", s.base));
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    if let Some(body) = body {
        req = req.header("content-type", "application/json").body(body);
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = r.text().await.expect("body");
    Response {
        status,
        content_type,
        text,
    }
}

/// Org A's things that nobody outside org A may see.
#[derive(Default)]
struct Secrets {
    strings: Vec<String>,
}

impl Secrets {
    fn add(&mut self, s: impl Into<String>) {
        let s = s.into();
        if !s.is_empty() && !self.strings.contains(&s) {
            self.strings.push(s);
        }
    }

    fn leaked_in<'a>(&'a self, text: &str) -> Vec<&'a str> {
        self.strings
            .iter()
            .filter(|s| text.contains(s.as_str()))
            .map(String::as_str)
            .collect()
    }
}

#[tokio::test]
async fn every_route_answers_every_caller_exactly_as_documented_and_leaks_nothing() {
    let s = Stack::start_isolated().await;
    let a = s.org("isoa", true).await;
    let b = s.org("isob", false).await;
    let n = s.org("ison", false).await;
    let (a_admin, _) = s.key(&a, Role::Admin).await;
    let (a_member, _) = s.key(&a, Role::Member).await;
    let (a_ingest, _) = s.key(&a, Role::Ingest).await;
    let (a_revoked, a_revoked_id) = s.key(&a, Role::Admin).await;
    let (b_admin, _) = s.key(&b, Role::Admin).await;
    let (b_ingest, _) = s.key(&b, Role::Ingest).await;
    let (n_member, _) = s.key(&n, Role::Member).await;

    let mut secret = Secrets::default();
    secret.add(a.as_str());

    // Org A's events; org B has a few of its own, so its answers are not
    // trivially empty.
    let run = ulid::Ulid::new().to_string().to_lowercase();
    let a_ids: Vec<String> = (0..5).map(|i| format!("evt_isoa{run}_{i}")).collect();
    let events: Vec<Value> = a_ids
        .iter()
        .enumerate()
        .map(|(i, id)| event(id, Action::ALL[i % Action::ALL.len()], i % 2 == 0))
        .collect();
    let (status, body) = s.post(&a_ingest, &json!({ "events": events })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["summary"]["created"], 5, "{body}");
    for id in &a_ids {
        secret.add(id.clone());
    }
    let b_events: Vec<Value> = (0..3)
        .map(|i| event(&format!("evt_isob{run}_{i}"), Action::UserInvited, false))
        .collect();
    let (status, body) = s.post(&b_ingest, &json!({ "events": b_events })).await;
    assert_eq!(status, 200, "{body}");

    // Seal the period the events landed in: org A (and B) get digests, and
    // the signing key exists for the public-key route.
    tokio::time::sleep(Duration::from_millis(PERIOD_MS as u64 + 100)).await;
    let exporter = s
        .exporter(export::ExportConfig {
            lag_ms: 0,
            max_window_ms: 3_600_000,
            digest_period_ms: PERIOD_MS,
            ..export::ExportConfig::default()
        })
        .await;
    let report = export::seal(&exporter, Timestamp::now().plus_millis(3 * PERIOD_MS)).await;
    assert_eq!(report.errors, 0, "{report:?}");
    let (status, digests) = s.get(Some(&a_admin), "/v1/integrity/digests").await;
    assert_eq!(status, 200, "{digests}");
    let a_digests = digests["digests"].as_array().expect("digests").clone();
    assert!(!a_digests.is_empty(), "org A has digests: {digests}");
    for d in &a_digests {
        secret.add(d["digest_hash"].as_str().expect("digest_hash"));
        // An empty period's events_hash is the SHA-256 of nothing, shared by all.
        if d["event_count"].as_u64() != Some(0) {
            secret.add(d["events_hash"].as_str().expect("events_hash"));
        }
    }

    // Org A's destination, and a cursor into org A's log.
    let hook_secret = audit_destinations::webhook::generate_secret();
    let destination = |name: &str| {
        json!({"name": name, "type": "webhook",
               "settings": {"url": "http://127.0.0.1:9/audit"}, "secret": hook_secret})
    };
    let created = call(
        &s,
        "POST",
        Some(&a_admin),
        "/v1/destinations",
        Some(serde_json::to_vec(&destination("org A hook")).expect("json")),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let dst = created.json()["id"].as_str().expect("id").to_string();
    secret.add(dst.clone());
    secret.add(hook_secret.clone());
    let (status, page) = s.get(Some(&a_admin), "/v1/events?limit=2").await;
    assert_eq!(status, 200, "{page}");
    let a_cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    secret.add(a_cursor.clone());

    assert!(s
        .store
        .revoke_key(&a, &a_revoked_id, Timestamp::now())
        .await
        .expect("revoke"));

    let key_of = |c: Caller| -> Option<&str> {
        match c {
            Caller::OwnerAdmin => Some(&a_admin),
            Caller::OtherAdmin => Some(&b_admin),
            Caller::TeamsMember => Some(&a_member),
            Caller::NoTeamsMember => Some(&n_member),
            Caller::Ingest => Some(&a_ingest),
            Caller::Revoked => Some(&a_revoked),
            Caller::NoKey => None,
        }
    };
    let replay_to = Timestamp::now().plus_millis(-1_000).to_rfc3339();

    let mut mismatches = Vec::new();
    let mut table = String::new();
    // Bodies seen by callers who must learn nothing of org A.
    let mut outside: Vec<(String, Caller, String)> = Vec::new();
    let mut run_order = CALLERS.to_vec();
    run_order.rotate_left(1);
    for row in MATRIX {
        let path = row
            .path
            .replace("{event}", &a_ids[0])
            .replace("{dst}", &dst);
        let mut got = [0u16; 7];
        for &caller in &run_order {
            let column = CALLERS.iter().position(|c| *c == caller).expect("column");
            let body = match row.body {
                Body::None => None,
                // No id: every accepted post is a new event.
                Body::Event => Some(json!({
                    "action": "MODEL_DELETED",
                    "resource": {"id": "mdl_iso"},
                })),
                Body::Destination => Some(destination(&format!("{caller:?} hook"))),
                Body::Patch => Some(json!({"name": "renamed"})),
                Body::Replay => Some(json!({"from": "2020-01-01T00:00:00Z", "to": replay_to})),
            };
            let r = call(
                &s,
                row.method,
                key_of(caller),
                &path,
                body.map(|b| serde_json::to_vec(&b).expect("json")),
            )
            .await;
            got[column] = r.status;
            let cell = format!("{} {} as {caller:?}", row.method, path);
            if r.status != row.expected[column] {
                mismatches.push(format!(
                    "{cell}: expected {}, got {}: {}",
                    row.expected[column], r.status, r.text
                ));
            }
            if r.status >= 400 {
                assert_eq!(
                    r.content_type, "application/problem+json",
                    "{cell}: errors are problem details: {}",
                    r.text
                );
            }
            match caller {
                // What org A's own key creates is org A's.
                Caller::Ingest | Caller::OwnerAdmin => {
                    if r.status == 201 {
                        secret.add(r.json()["id"].as_str().unwrap_or_default());
                    }
                }
                _ => outside.push((cell, caller, r.text)),
            }
        }
        let _ = writeln!(table, "{:<6} {:<40} {:?}", row.method, row.path, got);
    }
    println!("status matrix (columns: {CALLERS:?})\n{table}");
    assert!(
        mismatches.is_empty(),
        "{} cell(s) differ from the documented status:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );

    // Org A's cursor, offered by another org, is refused and not echoed.
    for key in [&b_admin, &n_member] {
        let r = call(
            &s,
            "GET",
            Some(key),
            &format!("/v1/events?limit=2&cursor={a_cursor}"),
            None,
        )
        .await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert_eq!(r.json()["errors"][0]["field"], "cursor", "{}", r.text);
        outside.push(("A's cursor".into(), Caller::OtherAdmin, r.text));
    }
    // Nor does any search of theirs reach org A's events.
    for filter in [
        format!("resource_id={}", "res_1"),
        format!("q={}", a_ids[1]),
        "actor=usr_ada".to_string(),
        "action=MODEL_DELETED".to_string(),
        format!("q=resource:{}", "mdl_iso"),
        "format=csv&group=models".to_string(),
        "format=ndjson&actor=system".to_string(),
    ] {
        for key in [&b_admin, &n_member] {
            let r = call(&s, "GET", Some(key), &format!("/v1/events?{filter}"), None).await;
            assert_eq!(r.status, 200, "{filter}: {}", r.text);
            outside.push((filter.clone(), Caller::OtherAdmin, r.text));
        }
    }
    // Their digests are their own.
    let (_, b_digests) = s
        .get(Some(&b_admin), "/v1/integrity/digests?order=asc")
        .await;
    for d in b_digests["digests"].as_array().expect("digests") {
        assert_eq!(d["org_id"], b.as_str(), "{d}");
    }

    let leaks: Vec<String> = outside
        .iter()
        .filter_map(|(cell, caller, text)| {
            let found = secret.leaked_in(text);
            (!found.is_empty()).then(|| format!("{cell} ({caller:?}) shows {found:?}"))
        })
        .collect();
    assert!(
        leaks.is_empty(),
        "org A leaked to outsiders:\n{}",
        leaks.join("\n")
    );

    // Org A's own admin still sees all of it: the checks above looked at real data.
    let (_, mine) = s.get(Some(&a_admin), "/v1/events?limit=200").await;
    let seen = mine.to_string();
    assert!(a_ids.iter().all(|id| seen.contains(id.as_str())), "{mine}");
    // The owner's DELETE (the last row) went through: the id is gone for everyone.
    let r = call(
        &s,
        "GET",
        Some(&a_admin),
        &format!("/v1/destinations/{dst}"),
        None,
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.text);

    // Once org A stops using teams, its member reads (the no-teams column,
    // inside the owner org), but still manages nothing.
    s.store
        .put_org_settings(
            &a,
            audit_aws::store::OrgSettings {
                uses_teams: false,
                retention_days: audit_domain::retention::RetentionDays::DEFAULT,
            },
        )
        .await
        .expect("org settings");
    for (method, path, expected) in [
        ("GET", "/v1/events".to_string(), 200),
        ("GET", format!("/v1/events/{}", a_ids[0]), 200),
        ("GET", "/v1/events?format=csv".to_string(), 200),
        ("GET", "/v1/integrity/digests".to_string(), 200),
        ("GET", "/v1/destinations".to_string(), 403),
        ("POST", "/v1/events".to_string(), 403),
    ] {
        let r = call(&s, method, Some(&a_member), &path, None).await;
        assert_eq!(r.status, expected, "{method} {path}: {}", r.text);
    }
}

/// A tiny RFC 4180 reader: records of fields, CRLF line ends.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            ',' => record.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {
                chars.next();
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            _ => field.push(c),
        }
    }
    assert!(!quoted, "unterminated quoted field");
    assert!(
        field.is_empty() && record.is_empty(),
        "CSV does not end with CRLF"
    );
    records
}

#[tokio::test]
async fn hostile_input_is_rejected_or_kept_harmless_and_the_server_keeps_answering() {
    let s = Stack::start().await;
    let org = s.org("hostile", false).await;
    let (ingest, _) = s.key(&org, Role::Ingest).await;
    let (admin, _) = s.key(&org, Role::Admin).await;
    let run = ulid::Ulid::new().to_string().to_lowercase();

    let expect_400 = |what: &str, status: u16, body: &Value, field: &str| {
        assert_eq!(status, 400, "{what}: {body}");
        let fields: Vec<&str> = body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: errors[]: {body}"))
            .iter()
            .filter_map(|e| e["field"].as_str())
            .collect();
        assert!(fields.contains(&field), "{what}: {field} in {fields:?}");
    };

    // 10,000 levels of nesting: the whole body, and inside metadata.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let (status, body) = s.post_raw(&ingest, deep.clone().into_bytes()).await;
    expect_400("nested array body", status, &body, "body");
    let deep_metadata = format!(
        r#"{{"action": "MODEL_DELETED", "resource": {{"id": "mdl_1"}}, "metadata": {{"x": {}}}}}"#,
        deep
    );
    let (status, body) = s.post_raw(&ingest, deep_metadata.into_bytes()).await;
    expect_400("nested metadata", status, &body, "body");
    let deep_objects = format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000));
    let (status, body) = s.post_raw(&ingest, deep_objects.into_bytes()).await;
    expect_400("nested objects", status, &body, "body");
    // Nested just past the documented metadata depth, within the parser's.
    let (status, body) = s
        .post(
            &ingest,
            &json!({"action": "MODEL_DELETED", "resource": {"id": "mdl_1"},
                    "metadata": {"a": [[[[[[[[[[1]]]]]]]]]]}}),
        )
        .await;
    expect_400("metadata depth", status, &body, "metadata");

    // Invalid UTF-8, inside a string and outside one.
    let mut bad = br#"{"action": "MODEL_DELETED", "resource": {"id": "mdl_1", "name": "x"#.to_vec();
    bad.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    bad.extend_from_slice(br#""}}"#);
    let (status, body) = s.post_raw(&ingest, bad).await;
    expect_400("invalid UTF-8 in a string", status, &body, "body");
    let (status, body) = s.post_raw(&ingest, vec![0xff, 0x00, 0x80, b'{']).await;
    expect_400("binary body", status, &body, "body");
    // The same on the destinations routes.
    for hostile in [deep.clone().into_bytes(), vec![b'{', 0xff, b'}']] {
        let r = call(&s, "POST", Some(&admin), "/v1/destinations", Some(hostile)).await;
        assert_eq!(r.status, 400, "{}", r.text);
    }

    // Larger than the documented 1 MiB body.
    let huge = json!({"action": "MODEL_DELETED", "resource": {"id": "mdl_1"},
                      "metadata": {"x": "a".repeat(1_200_000)}});
    let (status, body) = s.post(&ingest, &huge).await;
    assert_eq!(status, 413, "{body}");

    // NUL and control characters in names, ids and context: a validation error
    // naming the field, also by index in a batch.
    let base = || {
        json!({"action": "MODEL_DEPLOYED",
               "actor": {"type": "user", "id": "usr_ada", "name": "Ada", "email": "ada@example.com"},
               "resource": {"id": "dep_1", "name": "dep"},
               "context": {"user_agent": "cli/1.0", "request_id": "req_1"}})
    };
    for (pointer, value, field) in [
        ("/actor/name", "Ada\u{0}Lovelace", "actor.name"),
        ("/actor/name", "Ada\u{1b}[2J", "actor.name"),
        ("/actor/email", "ada@example.com\r\nBcc: x@y", "actor.email"),
        ("/resource/name", "dep\n=1+1", "resource.name"),
        ("/resource/name", "dep\u{7f}", "resource.name"),
        ("/resource/id", "dep\u{0}1", "resource.id"),
        ("/actor/id", "usr\tada", "actor.id"),
        ("/id", "evt\u{0}", "id"),
        ("/context/user_agent", "cli\r\n\u{0}", "context.user_agent"),
        ("/context/request_id", "req\u{85}1", "context.request_id"),
    ] {
        let mut e = base();
        match e.pointer_mut(pointer) {
            Some(v) => *v = json!(value),
            None => e[&pointer[1..]] = json!(value),
        }
        let (status, body) = s.post(&ingest, &e).await;
        expect_400(&format!("{pointer} = {value:?}"), status, &body, field);
        let (status, body) = s.post(&ingest, &json!({"events": [base(), e]})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["results"][1]["result"], "invalid", "{body}");
        assert_eq!(
            body["results"][1]["errors"][0]["field"],
            format!("events[1].{field}"),
            "{body}"
        );
    }

    // Control characters in metadata values are stored as sent, but never
    // reach a description; formula-like names are defused in CSV.
    let hostile_metadata = json!({
        "model_name": "llama\u{0}-3\u{1b}[31m",
        "reason": "inactivity\r\n=cmd|'/c calc'!A1",
        "environment": "prod\u{202e}noitcudorp",
        "note": "tab\there, nul\u{0}here",
    });
    let formula_actor = "=HYPERLINK(\"https://evil.example\",\"click\")";
    let resource_id = format!("dep_{run}");
    let stored = [
        json!({"id": format!("evt_{run}_1"), "action": "MODEL_DEPLOYED",
               "actor": {"type": "user", "id": "usr_eve", "name": formula_actor},
               "resource": {"id": resource_id, "name": "+1+1"},
               "context": {"user_agent": "@SUM(1)", "request_id": "-2+3"},
               "metadata": hostile_metadata}),
        json!({"id": format!("evt_{run}_2"), "action": "MODEL_DEPLOYMENT_DEACTIVATED",
               "resource": {"id": resource_id},
               "metadata": hostile_metadata}),
        json!({"id": format!("evt_{run}_3"), "action": "MODEL_DEPLOYMENT_PROMOTED",
               "actor": {"type": "service", "id": "svc_ci"},
               "resource": {"id": resource_id},
               "metadata": hostile_metadata}),
    ];
    for e in &stored {
        let (status, body) = s.post(&ingest, e).await;
        assert_eq!(status, 201, "{body}");
        let id = e["id"].as_str().expect("id");
        let (status, got) = s.get(Some(&admin), &format!("/v1/events/{id}")).await;
        assert_eq!(status, 200, "{got}");
        assert_eq!(got["metadata"], hostile_metadata, "metadata kept as sent");
        let description = got["description"].as_str().expect("description");
        assert!(
            !description
                .chars()
                .any(|c| c.is_control() || c == '\u{202e}'),
            "description {description:?}"
        );
        for dropped in ["llama", "inactivity", "=cmd", "prod", "noitcudorp"] {
            assert!(
                !description.contains(dropped),
                "{dropped} in {description:?}"
            );
        }
    }

    let csv = call(
        &s,
        "GET",
        Some(&admin),
        &format!("/v1/events?format=csv&resource_id={resource_id}"),
        None,
    )
    .await;
    assert_eq!(csv.status, 200, "{}", csv.text);
    assert!(
        csv.text
            .chars()
            .all(|c| !c.is_control() || c == '\r' || c == '\n'),
        "raw control characters in the CSV: {:?}",
        csv.text
    );
    let records = parse_csv(&csv.text);
    assert_eq!(records.len(), 1 + stored.len(), "{:?}", csv.text);
    let header = &records[0];
    assert_eq!(header, &CSV_COLUMNS.to_vec());
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    for record in &records[1..] {
        assert_eq!(record.len(), header.len(), "{record:?}");
        for cell in record {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "formula cell {cell:?} in {record:?}"
            );
        }
        let metadata: Value = serde_json::from_str(&record[col("metadata")]).expect("metadata");
        assert_eq!(metadata, hostile_metadata);
    }
    let first = records
        .iter()
        .find(|r| r[col("id")] == format!("evt_{run}_1"))
        .expect("first event");
    assert_eq!(first[col("actor_name")], format!("'{formula_actor}"));
    assert!(first[col("description")].starts_with("'="), "{first:?}");
    assert_eq!(first[col("resource_name")], "'+1+1");
    assert_eq!(first[col("user_agent")], "'@SUM(1)");
    assert_eq!(first[col("request_id")], "'-2+3");

    let ndjson = call(
        &s,
        "GET",
        Some(&admin),
        &format!("/v1/events?format=ndjson&resource_id={resource_id}"),
        None,
    )
    .await;
    assert_eq!(ndjson.status, 200, "{}", ndjson.text);
    let lines: Vec<&str> = ndjson.text.lines().collect();
    assert_eq!(lines.len(), stored.len(), "{:?}", ndjson.text);
    for line in lines {
        assert!(!line.chars().any(char::is_control), "{line:?}");
        let e: Value = serde_json::from_str(line).expect("NDJSON line");
        assert_eq!(e["metadata"], hostile_metadata);
    }

    // Still answering, reading and writing.
    let (status, _) = s.get(Some(&admin), "/v1/event-types").await;
    assert_eq!(status, 200);
    let (status, body) = s
        .post(
            &ingest,
            &event(&format!("evt_{run}_after"), Action::ModelDeleted, false),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = s
        .get(Some(&admin), &format!("/v1/events/evt_{run}_after"))
        .await;
    assert_eq!(status, 200, "{body}");
}
