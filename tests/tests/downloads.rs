//! CSV and NDJSON downloads against the JSON API: for the same filters, the
//! same events in the same order with the same content, over a set with
//! awkward names (commas, quotes, line breaks, a spreadsheet formula) and
//! more events than one store page.

use audit_domain::auth::Role;
use audit_domain::download::CSV_COLUMNS;
use audit_domain::ids::OrgId;
use audit_log_tests::Stack;
use futures::future::join_all;
use futures::{stream, StreamExt};
use serde_json::{json, Value};

/// The events every test here reads: tricky ones first, then filler.
fn known_set() -> Vec<Value> {
    let mut events = vec![
        json!({"id": "evt_comma", "action": "MODEL_DEPLOYED", "occurred_at": "2026-01-10T10:00:00Z",
            "actor": {"type": "user", "id": "usr_comma", "name": "Lovelace, Ada", "email": "ada@example.com"},
            "resource": {"type": "deployment", "id": "dep_1", "name": "prod, \"blue\""},
            "context": {"ip": "203.0.113.9", "user_agent": "Mozilla/5.0 (X11, Linux)", "request_id": "req_1"},
            "metadata": {"model_name": "llama-3", "note": "two\nlines, \"quoted\""}}),
        json!({"id": "evt_formula", "action": "API_KEY_CREATED", "occurred_at": "2026-01-10T11:00:00Z",
            "actor": {"type": "user", "id": "usr_evil", "name": "=cmd|' /C calc'!A0"},
            "resource": {"type": "api_key", "id": "-key_1", "name": "@SUM(A1:A9)"},
            "metadata": {}}),
        json!({"id": "evt_plus", "action": "USER_INVITED", "occurred_at": "2026-01-10T12:00:00Z",
            "actor": {"type": "api_key", "id": "key_ci", "name": "+1 deployer"},
            "resource": {"type": "user", "id": "usr_new"},
            "metadata": {"email": "new@example.com", "role": "admin"}}),
        json!({"id": "evt_system", "action": "MODEL_DEPLOYMENT_DEACTIVATED", "occurred_at": "2026-01-10T13:00:00Z",
            "resource": {"type": "deployment", "id": "dep_1"},
            "metadata": {"model_name": "llama-3", "reason": "inactivity"}}),
        json!({"id": "evt_unicode", "action": "MODEL_DEPLOYED", "occurred_at": "2026-01-10T14:00:00Z",
            "actor": {"type": "service", "id": "svc_x", "name": "Zoë \u{201c}Ops\u{201d}"},
            "resource": {"type": "deployment", "id": "dep_2", "name": "mistral;7b"},
            "metadata": {"model_name": "mistral-7b", "nested": {"a": [1, 2, {"b": null}]}}}),
    ];
    // Enough filler for a download to need several store pages of 200.
    for n in 0..300 {
        let (action, resource_type) = if n % 3 == 0 {
            ("USER_INVITED", "user")
        } else {
            ("MODEL_DEPLOYED", "deployment")
        };
        let mut e = json!({"id": format!("evt_fill_{n:03}"), "action": action,
            "occurred_at": format!("2026-01-{:02}T{:02}:{:02}:00Z", 1 + n % 9, n % 24, n % 60),
            "resource": {"type": resource_type, "id": format!("res_{}", n % 7)},
            "metadata": {"model_name": "llama-3", "email": "x@example.com"}});
        if n % 5 != 0 {
            e["actor"] = json!({"type": "user", "id": "usr_ada", "name": "Ada Lovelace"});
        }
        events.push(e);
    }
    events
}

async fn seeded(s: &Stack) -> (OrgId, String) {
    let org = s.org("dl", false).await;
    let (ingest, _) = s.key(&org, Role::Ingest).await;
    let (admin, _) = s.key(&org, Role::Admin).await;
    let bodies: Vec<Value> = known_set()
        .chunks(100)
        .map(|c| json!({ "events": c }))
        .collect();
    for (status, body) in join_all(bodies.iter().map(|b| s.post(&ingest, b))).await {
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["summary"]["created"].as_u64().unwrap() as usize,
            body["results"].as_array().unwrap().len(),
            "{body}"
        );
    }
    (org, admin)
}

/// A download: status, headers and body text.
async fn download(
    s: &Stack,
    key: &str,
    query: &[(&str, String)],
    format: &str,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut url = reqwest::Url::parse(&format!("{}/v1/events", s.base)).unwrap();
    {
        let mut pairs = url.query_pairs_mut();
        for (k, v) in query {
            pairs.append_pair(k, v);
        }
        pairs.append_pair("format", format);
    }
    let r = s.http.get(url).bearer_auth(key).send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap())
}

/// RFC 4180, by hand: quoted fields with doubled quotes, CRLF between records.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut in_quotes = false;
    while let Some(c) = chars.next() {
        match (in_quotes, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => in_quotes = false,
            (true, c) => field.push(c),
            (false, '"') => {
                assert!(field.is_empty(), "quote inside an unquoted field");
                in_quotes = true;
            }
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "bare CR outside quotes");
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, '\n') => panic!("bare LF outside quotes"),
            (false, c) => field.push(c),
        }
    }
    assert!(!in_quotes, "unterminated quoted field");
    assert!(field.is_empty() && row.is_empty(), "last record lacks CRLF");
    rows
}

/// What a CSV row must hold for a JSON API event, written plainly.
fn expected_row(e: &Value) -> Vec<String> {
    let text = |v: &Value| v.as_str().map(str::to_string).unwrap_or_default();
    let actor_type = if e["actor"].is_null() {
        "system".to_string()
    } else {
        text(&e["actor"]["type"])
    };
    let cells = vec![
        text(&e["id"]),
        text(&e["occurred_at"]),
        text(&e["recorded_at"]),
        text(&e["action"]),
        text(&e["group"]),
        text(&e["description"]),
        actor_type,
        text(&e["actor"]["id"]),
        text(&e["actor"]["name"]),
        text(&e["actor"]["email"]),
        text(&e["resource"]["type"]),
        text(&e["resource"]["id"]),
        text(&e["resource"]["name"]),
        text(&e["context"]["ip"]),
        text(&e["context"]["user_agent"]),
        text(&e["context"]["request_id"]),
        serde_json::to_string(&e["metadata"]).unwrap(),
    ];
    cells
        .into_iter()
        .map(|c| {
            if c.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                format!("'{c}")
            } else {
                c
            }
        })
        .collect()
}

fn filters() -> Vec<Vec<(&'static str, String)>> {
    vec![
        vec![],
        vec![("q", "-actor:system group:models".to_string())],
        vec![("actor", "usr_evil".to_string())],
        vec![("q", "\"lovelace, ada\"".to_string())],
        vec![("group", "users".to_string())],
    ]
}

#[tokio::test]
async fn csv_and_ndjson_downloads_match_the_json_api_for_the_same_filters() {
    let s = Stack::start().await;
    let (org, admin) = seeded(&s).await;
    for query in filters() {
        let api = s.all_pages(&admin, &query, 200).await;
        assert!(!api.is_empty(), "{query:?} matches nothing");

        let (status, headers, body) = download(&s, &admin, &query, "ndjson").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(headers["content-type"], "application/x-ndjson");
        assert!(headers.get("x-truncated").is_none());
        assert!(body.ends_with('\n'));
        let lines: Vec<Value> = body
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect();
        assert_eq!(lines, api, "ndjson for {query:?}");

        let (status, headers, body) = download(&s, &admin, &query, "csv").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
        let disposition = headers["content-disposition"].to_str().unwrap();
        let prefix = format!("attachment; filename=\"audit-log-{org}-");
        assert!(
            disposition.starts_with(&prefix) && disposition.ends_with(".csv\""),
            "{disposition}"
        );
        assert!(headers.get("x-truncated").is_none());
        let rows = parse_csv(&body);
        assert_eq!(rows[0], CSV_COLUMNS);
        let want: Vec<Vec<String>> = api.iter().map(expected_row).collect();
        assert_eq!(rows[1..], want[..], "csv for {query:?}");

        // `limit` does not narrow a download.
        let mut limited = query.clone();
        limited.push(("limit", "3".to_string()));
        let (status, _, body) = download(&s, &admin, &limited, "ndjson").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body.lines().count(),
            api.len(),
            "limit ignored for {query:?}"
        );
    }
}

#[tokio::test]
async fn a_download_cut_at_the_cap_resumes_from_its_next_cursor() {
    let s = Stack::start().await;
    let org = s.org("dlcap", false).await;
    let (ingest, _) = s.key(&org, Role::Ingest).await;
    let (admin, _) = s.key(&org, Role::Admin).await;
    let n = audit_domain::limits::MAX_EXPORT_EVENTS + 50;
    let bodies: Vec<Value> = (0..n)
        .map(|i| {
            json!({"id": format!("evt_cap_{i:05}"), "action": "USER_INVITED",
            "resource": {"type": "user", "id": "usr_x"}, "metadata": {}})
        })
        .collect::<Vec<_>>()
        .chunks(100)
        .map(|c| json!({ "events": c }))
        .collect();
    let answers: Vec<(u16, Value)> = stream::iter(&bodies)
        .map(|b| s.post(&ingest, b))
        .buffer_unordered(4)
        .collect()
        .await;
    for (status, body) in answers {
        assert_eq!(status, 200, "{body}");
    }
    let api = s.all_pages(&admin, &[], 200).await;
    assert_eq!(api.len(), n);

    let (status, headers, first) = download(&s, &admin, &[], "ndjson").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(headers["x-truncated"], "true");
    let cursor = headers["x-next-cursor"]
        .to_str()
        .expect("cursor")
        .to_string();
    let (status, headers, rest) =
        download(&s, &admin, &[("cursor", cursor.clone())], "ndjson").await;
    assert_eq!(status, 200, "{rest}");
    assert!(headers.get("x-truncated").is_none());
    assert!(headers.get("x-next-cursor").is_none());
    let lines = |body: &str| -> Vec<Value> {
        body.lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect()
    };
    let (first, rest) = (lines(&first), lines(&rest));
    assert_eq!(first.len(), audit_domain::limits::MAX_EXPORT_EVENTS);
    assert_eq!(rest.len(), 50);
    assert_eq!(
        [first, rest.clone()].concat(),
        api,
        "every event once, in order"
    );

    // The same cursor pages the JSON API, and is refused for other filters.
    let (status, page) = s
        .get(Some(&admin), &format!("/v1/events?limit=5&cursor={cursor}"))
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["events"][0], rest[0]);
    let (status, body) = s
        .get(
            Some(&admin),
            &format!("/v1/events?format=csv&group=models&cursor={cursor}"),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["field"], "cursor");
}

#[tokio::test]
async fn csv_defuses_formulas_and_quotes_awkward_cells() {
    let s = Stack::start().await;
    let (_, admin) = seeded(&s).await;
    let (_, _, body) = download(&s, &admin, &[("actor", "usr_evil".to_string())], "csv").await;
    let rows = parse_csv(&body);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1][8], "'=cmd|' /C calc'!A0");
    assert_eq!(rows[1][11], "'-key_1");
    assert_eq!(rows[1][12], "'@SUM(A1:A9)");
    assert!(rows[1][5].starts_with("'=cmd"), "{}", rows[1][5]);
    let (_, _, body) = download(&s, &admin, &[("actor", "usr_comma".to_string())], "csv").await;
    assert!(body.contains("\"Lovelace, Ada\""), "{body}");
    assert!(body.contains("\"prod, \"\"blue\"\"\""), "{body}");
}

#[tokio::test]
async fn unknown_format_and_malformed_q_are_400s_naming_the_field() {
    let s = Stack::start().await;
    let org = s.org("dlbad", false).await;
    let (admin, _) = s.key(&org, Role::Admin).await;
    let (status, body) = s.get(Some(&admin), "/v1/events?format=xml").await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["field"], "format");
    let (status, body) = s
        .get(Some(&admin), "/v1/events?format=csv&q=llama%20colour%3Ared")
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["field"], "q");
    assert_eq!(
        body["errors"][0]["reason"],
        "unknown qualifier \"colour:\" at position 6"
    );
    let (status, body) = s
        .get(Some(&admin), "/v1/events?q=%22deployed%20model")
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"][0]["reason"],
        "unterminated quote at position 0"
    );
}

/// Every part of a download from the start: (headers, body) each.
async fn all_parts(
    s: &Stack,
    key: &str,
    query: &[(&str, String)],
    format: &str,
) -> Vec<(reqwest::header::HeaderMap, String)> {
    let mut parts = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1_000 {
        let mut q = query.to_vec();
        if let Some(c) = &cursor {
            q.push(("cursor", c.clone()));
        }
        let (status, headers, body) = download(s, key, &q, format).await;
        assert_eq!(status, 200, "{body}");
        let next = headers
            .get("x-next-cursor")
            .map(|v| v.to_str().expect("cursor").to_string());
        assert_eq!(
            headers.get("x-truncated").is_some(),
            next.is_some(),
            "a cut part says so and where the rest starts"
        );
        parts.push((headers, body));
        match next {
            Some(c) => cursor = Some(c),
            None => return parts,
        }
    }
    panic!("the download never ended");
}

/// What a body takes inside Lambda's JSON response: a JSON string.
fn escaped_size(body: &str) -> usize {
    serde_json::to_string(body).expect("json").len()
}

#[tokio::test]
async fn large_events_download_in_parts_under_lambdas_limit_that_hold_each_event_once() {
    let s = Stack::start().await;
    let org = s.org("dlbig", false).await;
    let (ingest, _) = s.key(&org, Role::Ingest).await;
    let (admin, _) = s.key(&org, Role::Admin).await;
    let n = 5_001;
    // About 6 KiB of metadata, with quotes and line breaks that grow when
    // CSV doubles the quotes and the Lambda response escapes both.
    let blob = "ab\"c\nd, ".repeat(6 * 1024 / 9);
    let bodies: Vec<Value> = (0..n)
        .map(|i| {
            json!({"id": format!("evt_big_{i:05}"), "action": "USER_INVITED",
            "resource": {"type": "user", "id": "usr_x"}, "metadata": {"blob": blob}})
        })
        .collect::<Vec<_>>()
        .chunks(100)
        .map(|c| json!({ "events": c }))
        .collect();
    let answers: Vec<(u16, Value)> = stream::iter(&bodies)
        .map(|b| s.post(&ingest, b))
        .buffer_unordered(4)
        .collect()
        .await;
    for (status, body) in answers {
        assert_eq!(status, 200, "{body}");
    }
    let api = s.all_pages(&admin, &[], 200).await;
    assert_eq!(api.len(), n);

    let ndjson = all_parts(&s, &admin, &[], "ndjson").await;
    assert!(ndjson.len() > 1, "{} parts", ndjson.len());
    let mut lines = Vec::new();
    for (_, body) in &ndjson {
        let size = escaped_size(body);
        assert!(size < 6_000_000, "an NDJSON part of {size} bytes");
        lines.extend(
            body.lines()
                .map(|l| serde_json::from_str::<Value>(l).expect("each line is JSON")),
        );
    }
    assert_eq!(lines, api, "every event once, in order");

    let csv = all_parts(&s, &admin, &[], "csv").await;
    assert!(csv.len() > ndjson.len(), "CSV grows more when escaped");
    let mut ids = Vec::new();
    for (_, body) in &csv {
        let size = escaped_size(body);
        assert!(size < 6_000_000, "a CSV part of {size} bytes");
        let rows = parse_csv(body);
        assert_eq!(rows[0], CSV_COLUMNS, "each part has its header row");
        for row in &rows[1..] {
            assert_eq!(row[16], json!({"blob": blob}).to_string());
            ids.push(row[0].clone());
        }
    }
    let api_ids: Vec<String> = api
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, api_ids, "every event once, in order");
    let largest = csv.iter().map(|(_, b)| escaped_size(b)).max().unwrap_or(0);
    println!(
        "5,001 events of ~6 KiB: {} CSV parts (largest {largest} bytes escaped), {} NDJSON parts",
        csv.len(),
        ndjson.len()
    );
}

#[tokio::test]
async fn a_filter_matching_nothing_answers_within_its_read_budget_and_the_cursors_end() {
    let budgets = query::Budgets {
        items_read: 500,
        ..query::Budgets::default()
    };
    let s = Stack::start_with_budgets(budgets).await;
    let org = s.org("dlsparse", false).await;
    let (ingest, _) = s.key(&org, Role::Ingest).await;
    let (admin, _) = s.key(&org, Role::Admin).await;
    let n = 3_000;
    let bodies: Vec<Value> = (0..n)
        .map(|i| {
            json!({"id": format!("evt_sp_{i:05}"), "action": "USER_INVITED",
            "resource": {"type": "user", "id": "usr_x"}, "metadata": {}})
        })
        .collect::<Vec<_>>()
        .chunks(100)
        .map(|c| json!({ "events": c }))
        .collect();
    let answers: Vec<(u16, Value)> = stream::iter(&bodies)
        .map(|b| s.post(&ingest, b))
        .buffer_unordered(4)
        .collect()
        .await;
    for (status, body) in answers {
        assert_eq!(status, 200, "{body}");
    }

    let started = std::time::Instant::now();
    let parts = all_parts(&s, &admin, &[("q", "zzzz".to_string())], "csv").await;
    // Each part reads one query of at most 1,000 items past the 500 budget.
    assert!(parts.len() >= 3, "{} parts", parts.len());
    for (i, (headers, body)) in parts.iter().enumerate() {
        assert_eq!(
            parse_csv(body),
            vec![CSV_COLUMNS.to_vec()],
            "part {i}: nothing found"
        );
        if i + 1 < parts.len() {
            assert_eq!(headers["x-truncated"], "true", "part {i}");
        }
    }
    println!(
        "q=zzzz over {n} events: {} empty parts in {:?}",
        parts.len(),
        started.elapsed()
    );
    // The same filter as a JSON page is bounded by the store's read budget.
    let (status, page) = s.get(Some(&admin), "/v1/events?q=zzzz").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["events"], json!([]));
}
