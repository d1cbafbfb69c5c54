//! The Activity page in a real browser: headless Chromium (Debian's
//! `chromium`) driven by `playwright-core` (`tests/browser/activity.mjs`),
//! over a known set of 60 events. The expectations (counts, order, first
//! descriptions) are computed here from the set itself, checked against the
//! JSON API, then handed to the script, which asserts the rows it sees.
//!
//! `scripts/browser.sh install` (run by `make test`) installs both tools; a
//! missing one fails this test, never skips it.

use std::path::{Path, PathBuf};
use std::process::Command;

use audit_domain::auth::Role;
use audit_domain::catalog::{Action, Group};
use audit_domain::event::Event;
use audit_domain::ids::OrgId;
use audit_domain::time::Timestamp;
use audit_domain::validate::parse_event;
use audit_log_tests::Stack;
use chrono::{DateTime, Duration, NaiveTime, Utc};
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
/// The page asks for this many events at a time.
const PAGE_SIZE: usize = 25;
const EVENTS: usize = 60;
const DAYS: usize = 6;
/// The word searched for: only in the resource and model name of some events.
const WORD: &str = "mistral";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// One event of the known set, with what the page should show of it.
struct Fixture {
    raw: Value,
    id: String,
    at: DateTime<Utc>,
    day: usize,
    group: Group,
    actor: Option<&'static str>,
    has_word: bool,
    description: String,
}

/// The groups producers send (the sixth, `audit_log`, is the log's own).
const PRODUCER_GROUPS: [Group; 5] = [
    Group::Models,
    Group::Chains,
    Group::Environments,
    Group::Credentials,
    Group::Users,
];

/// 60 events over 6 UTC days, every group, two users and the system; every
/// seventh names the searched model; the newest has markup in its name.
fn known_set(org: &OrgId, first_day: DateTime<Utc>) -> Vec<Fixture> {
    let users = [
        None,
        Some(("usr_ada", "Ada Lovelace")),
        Some(("usr_grace", "Grace Hopper")),
    ];
    (0..EVENTS)
        .map(|i| {
            let group = PRODUCER_GROUPS[i % PRODUCER_GROUPS.len()];
            let actions: Vec<Action> = Action::ALL
                .iter()
                .copied()
                .filter(|a| a.group() == group)
                .collect();
            let action = actions[(i / PRODUCER_GROUPS.len()) % actions.len()];
            let day = i % DAYS;
            let at = first_day
                + Duration::days(day as i64)
                + Duration::hours(1 + (i / DAYS) as i64)
                + Duration::minutes(i as i64);
            let has_word = i % 7 == 0;
            let model = if has_word { "mistral-7b" } else { "llama-3" };
            let name = if i == EVENTS - 1 {
                "<b>bold</b> & <i>co</i>".to_string()
            } else if group == Group::Models {
                model.to_string()
            } else {
                format!("{}-{i}", action.resource_type())
            };
            let id = format!("evt_browser_{i:02}");
            let mut raw = json!({
                "id": id,
                "action": action.as_str(),
                "occurred_at": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "resource": {"type": action.resource_type(), "id": format!("res_{i:02}"), "name": name},
                "context": {"ip": format!("203.0.113.{i}"), "user_agent": "console/2.1", "request_id": format!("req_{i:02}")},
                "metadata": {"model_name": model, "chain_name": "rag-chain", "environment": "production",
                             "email": "new@example.com", "role": "admin", "reason": "inactivity"},
            });
            let actor = users[i % users.len()];
            if let Some((actor_id, actor_name)) = actor {
                raw["actor"] = json!({"type": "user", "id": actor_id, "name": actor_name});
            }
            if has_word {
                raw["resource"]["name"] = json!(model);
            }
            let now = Timestamp::now();
            let parsed = parse_event(&raw, now, "").expect("a valid fixture event");
            let description = Event::from_new(org.clone(), parsed, now).description();
            Fixture {
                raw,
                id,
                at,
                day,
                group,
                actor: actor.map(|(id, _)| id),
                has_word,
                description,
            }
        })
        .collect()
}

/// The ids of the matching events, newest first, and the first description.
fn expect(set: &[&Fixture]) -> Value {
    let mut matching: Vec<&&Fixture> = set.iter().collect();
    matching.sort_by_key(|f| std::cmp::Reverse(f.at));
    json!({
        "count": matching.len(),
        "ids": matching.iter().map(|f| f.id.clone()).collect::<Vec<_>>(),
        "first_description": matching.first().map(|f| f.description.clone()),
    })
}

/// Query parameters of `GET /v1/events`.
type Query = Vec<(&'static str, String)>;

/// The ids the JSON API returns for `query`, newest first.
async fn api_ids(stack: &Stack, key: &str, query: &[(&str, String)]) -> Vec<String> {
    stack
        .all_pages(key, query, 200)
        .await
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_string())
        .collect()
}

fn ids(expected: &Value) -> Vec<String> {
    serde_json::from_value(expected["ids"].clone()).expect("ids")
}

fn require_tools(root: &Path) {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install Debian's chromium with `bash scripts/browser.sh install` (make test runs it)"
    );
    assert!(
        root.join(".tools/node_modules/playwright-core/package.json")
            .exists(),
        "playwright-core is missing from .tools: run `bash scripts/browser.sh install` (make test runs it)"
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.map(|o| o.status.success()).unwrap_or(false),
        "node is not on PATH: install Node.js 18+ to run the browser test"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_page_searches_filters_pages_and_shows_details_in_chromium() {
    let root = root();
    require_tools(&root);
    // Download parts of ~3 KB: a download of the filtered events comes in
    // several parts, which the page must follow and join (one CSV header).
    let stack = Stack::start_with_budgets(query::Budgets {
        part_escaped_bytes: 3_000,
        ..query::Budgets::default()
    })
    .await;
    let org = stack.org("browser", false).await;
    let (admin, _) = stack.key(&org, Role::Admin).await;
    let (ingest, _) = stack.key(&org, Role::Ingest).await;
    let teams = stack.org("browser-teams", true).await;
    let (member, _) = stack.key(&teams, Role::Member).await;

    let today = Utc::now().date_naive().and_time(NaiveTime::MIN).and_utc();
    let first_day = today - Duration::days(DAYS as i64 + 1);
    let set = known_set(&org, first_day);
    let raws: Vec<Value> = set.iter().map(|f| f.raw.clone()).collect();
    for batch in raws.chunks(50) {
        let (status, body) = stack.post(&ingest, &json!({ "events": batch })).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["summary"]["created"], json!(batch.len()), "{body}");
    }

    let date = |day: usize| (first_day + Duration::days(day as i64)).format("%Y-%m-%d");
    let (from_day, to_day) = (1, 2);
    let all: Vec<&Fixture> = set.iter().collect();
    let credentials: Vec<&Fixture> = set
        .iter()
        .filter(|f| f.group == Group::Credentials)
        .collect();
    let word: Vec<&Fixture> = set.iter().filter(|f| f.has_word).collect();
    let word_dated: Vec<&Fixture> = word
        .iter()
        .copied()
        .filter(|f| (from_day..=to_day).contains(&f.day))
        .collect();
    let grace: Vec<&Fixture> = set
        .iter()
        .filter(|f| f.actor == Some("usr_grace"))
        .collect();
    let newest = set.iter().max_by_key(|f| f.at).expect("events");
    let first_page_system = {
        let mut sorted = all.clone();
        sorted.sort_by_key(|f| std::cmp::Reverse(f.at));
        sorted
            .iter()
            .take(PAGE_SIZE)
            .filter(|f| f.actor.is_none())
            .count()
    };

    let expected = json!({
        "page_size": PAGE_SIZE,
        "all": expect(&all),
        "group": {"slug": "credentials", "label": Group::Credentials.label(), "expect": expect(&credentials)},
        "search": {"word": WORD, "expect": expect(&word)},
        "dates": {"from": date(from_day).to_string(), "to": date(to_day).to_string(), "expect": expect(&word_dated)},
        "user": {"id": "usr_grace", "name": "Grace Hopper", "expect": expect(&grace)},
        "newest": {"id": newest.id, "resource_name": newest.raw["resource"]["name"],
                   "utc_title": newest.at.format("%Y-%m-%d %H:%M:%S UTC").to_string()},
        "first_page_system": first_page_system,
        "member_key": member,
        "bad_key": "alk_not_a_real_key_0000000000000000",
    });

    // The expectations must be the API's own answers, or the page is tested
    // against a wrong model.
    let checks: [(&str, Query, &Value); 5] = [
        ("all", vec![], &expected["all"]),
        (
            "group",
            vec![("group", "credentials".into())],
            &expected["group"]["expect"],
        ),
        (
            "search",
            vec![("q", WORD.into())],
            &expected["search"]["expect"],
        ),
        (
            "dates",
            vec![
                ("q", WORD.into()),
                ("from", date(from_day).to_string()),
                ("to", date(to_day).to_string()),
            ],
            &expected["dates"]["expect"],
        ),
        (
            "user",
            vec![("actor", "usr_grace".into())],
            &expected["user"]["expect"],
        ),
    ];
    for (name, query, want) in checks {
        assert_eq!(
            api_ids(&stack, &admin, &query).await,
            ids(want),
            "the API disagrees with the expected {name} set"
        );
    }
    for (name, want) in [
        ("group", &expected["group"]["expect"]),
        ("search", &expected["search"]["expect"]),
        ("dates", &expected["dates"]["expect"]),
        ("user", &expected["user"]["expect"]),
    ] {
        let n = want["count"].as_u64().expect("count") as usize;
        assert!(
            n > 1 && n < PAGE_SIZE,
            "{name}: {n} events; the set must give a partial first page"
        );
    }

    let screenshot = root.join("target/activity.png");
    let script = root.join("tests/browser/activity.mjs");
    let base = stack.base.clone();
    let expected_text = expected.to_string();
    let node_path = root.join(".tools/node_modules");
    let profile = std::env::temp_dir().join(format!("activity-chromium-{}", ulid::Ulid::new()));
    let output = tokio::task::spawn_blocking({
        let profile = profile.clone();
        let screenshot = screenshot.clone();
        move || {
            Command::new("node")
                .arg(&script)
                .arg(&base)
                .arg(&admin)
                .arg(&screenshot)
                .env("NODE_PATH", &node_path)
                .env("ACTIVITY_EXPECT", &expected_text)
                .env("ACTIVITY_PROFILE_DIR", &profile)
                .output()
        }
    })
    .await
    .expect("join")
    .expect("run node tests/browser/activity.mjs");
    let _ = std::fs::remove_dir_all(&profile);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the browser test failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    println!("{stdout}");
    assert!(
        screenshot.exists(),
        "no screenshot at {}",
        screenshot.display()
    );
}

/// The page embedded in a platform's page (an iframe on a second local
/// origin) with viewer tokens: search, download (and its record), export
/// settings as an admin (create a webhook, test, disable, edit, replay, and
/// redrive another destination's dead-lettered job), none as a member.
/// The script is `tests/browser/embedded.mjs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_page_with_viewer_tokens_in_chromium() {
    use audit_destinations::webhook;
    use audit_log_tests::receivers::Receiver;

    let root = root();
    require_tools(&root);
    // Tables and queues of its own: replays and redrives need the queue.
    let stack = Stack::start_isolated().await;
    let org = stack.org("embedded", false).await;
    let (admin, _) = stack.key(&org, Role::Admin).await;
    let (ingest, _) = stack.key(&org, Role::Ingest).await;
    let (issuer, _) = stack.key(&org, Role::ViewerIssuer).await;
    let word = "gemma";
    let mut word_ids = Vec::new();
    for i in 0..5 {
        let id = format!("evt_embed_{i}");
        let mut raw = audit_log_tests::event(&id, Action::ModelDeployed, false);
        if i % 2 == 0 {
            raw["resource"]["name"] = json!("gemma-2b");
            raw["metadata"]["model_name"] = json!("gemma-2b");
            word_ids.push(id);
        }
        let (status, body) = stack.post(&ingest, &raw).await;
        assert_eq!(status, 201, "{body}");
    }
    assert_eq!(
        api_ids(&stack, &admin, &[("q", word.to_string())])
            .await
            .len(),
        word_ids.len(),
        "the API disagrees with the expected search"
    );
    let secret = webhook::generate_secret();
    let receiver = Receiver::webhook(&secret).await;
    // A destination whose window the worker dead-lettered (its record, as
    // the worker writes it, and its counter).
    let r = stack
        .http
        .post(format!("{}/v1/destinations", stack.base))
        .bearer_auth(&admin)
        .json(&json!({"name": "Dead hook", "type": "webhook", "settings": {"url": receiver.webhook_url()}, "secret": secret}))
        .send()
        .await
        .expect("POST destination");
    assert_eq!(r.status().as_u16(), 201);
    let dead_destination = r.json::<serde_json::Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let now = audit_domain::time::Timestamp::now();
    let window = audit_domain::export::ExportWindow {
        from: now.plus_millis(-3_600_000),
        to: now.plus_millis(-3_300_000),
    };
    let job =
        audit_domain::export::ExportJob::new(dead_destination.clone(), org.clone(), window, now);
    stack
        .store
        .put_dead_job(&job, "HTTP 503 for 30 minutes", now)
        .await
        .expect("a dead job's record");
    stack
        .store
        .count_jobs(
            &org,
            &dead_destination,
            audit_aws::store::JobCounter::Dead,
            1,
        )
        .await
        .expect("its counter");
    // Seal the events' periods (2 s periods, lag 0, "now" past them): the
    // page shows each event's receipt, checked in the browser.
    let sealer = stack.exporter(audit_log_tests::sealing_config(2_000)).await;
    let sealed = export::seal(&sealer, Timestamp::now().plus_millis(6_000)).await;
    assert!(sealed.digests >= 1 && sealed.errors == 0, "{sealed:?}");
    let expected = json!({
        "base": stack.base,
        "org": org.as_str(),
        "admin_key": admin,
        "issuer_key": issuer,
        "word": word,
        "word_ids": word_ids,
        "webhook_url": receiver.webhook_url(),
        "webhook_secret": secret,
        "dead_destination": dead_destination,
    })
    .to_string();
    let script = root.join("tests/browser/embedded.mjs");
    let node_path = root.join(".tools/node_modules");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(&script)
            .env("NODE_PATH", &node_path)
            .env("EMBED_EXPECT", &expected)
            .output()
    })
    .await
    .expect("join")
    .expect("run node tests/browser/embedded.mjs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the embedded browser test failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    println!("{stdout}");
    // The page's changes went through the API: recorded with the viewer as
    // actor (the disable and the rename, the replay, the redrive).
    for (action, times) in [
        ("EXPORT_DESTINATION_UPDATED", 2),
        ("EXPORT_REPLAY_REQUESTED", 1),
        ("EXPORT_REDRIVE_REQUESTED", 1),
    ] {
        let (status, found) = stack
            .get(Some(&admin), &format!("/v1/events?action={action}"))
            .await;
        assert_eq!(status, 200, "{found}");
        let by_viewer = found["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter(|e| e["actor"]["id"] == "usr_ada" && e["actor"]["type"] == "user")
            .count();
        assert_eq!(by_viewer, times, "{action} by the viewer: {found}");
    }
    // The redrive took the dead job's record.
    assert!(stack
        .store
        .dead_jobs(&org, &dead_destination, 10)
        .await
        .expect("records")
        .is_empty());
    // The test event the page sent reached the receiver, signed.
    assert_eq!(
        receiver.webhook_ids().len(),
        1,
        "{:?}",
        receiver.rejections()
    );
    assert!(
        receiver.rejections().is_empty(),
        "{:?}",
        receiver.rejections()
    );
}
