//! The read path against an oracle: a generated log over 3 orgs and 90 days,
//! every filter alone and in combination (plain parameters and the `q`
//! search syntax), compared with a plain in-test filter over the same data,
//! newest first, across pages of 7.

use audit_domain::auth::Role;
use audit_domain::catalog::{Action, Group};
use audit_domain::event::Event;
use audit_domain::ids::OrgId;
use audit_domain::time::Timestamp;
use audit_domain::validate::parse_event;
use audit_log_tests::Stack;
use futures::future::join_all;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const EVENTS_PER_ORG: usize = 700;
const DAY: i64 = 86_400_000;

fn generate(org_index: usize, rng: &mut StdRng, now: Timestamp) -> Vec<Value> {
    let actors = [
        Some(
            json!({"type": "user", "id": "usr_ada", "name": "Ada Lovelace", "email": "ada@example.com"}),
        ),
        Some(json!({"type": "user", "id": "usr_grace", "name": "Grace Hopper"})),
        Some(json!({"type": "api_key", "id": "key_ci", "name": "ci-deployer"})),
        Some(json!({"type": "service", "id": "svc_scaler", "name": "autoscaler"})),
        None,
    ];
    let names = [
        Some("llama-3"),
        Some("mistral-7b"),
        Some("whisper-large"),
        Some("rag-chain"),
        None,
    ];
    (0..EVENTS_PER_ORG)
        .map(|n| {
            let action = Action::ALL[rng.gen_range(0..Action::ALL.len())];
            let occurred = now.plus_millis(-rng.gen_range(0..90 * DAY));
            let mut resource = json!({"type": action.resource_type(), "id": format!("res_{}", rng.gen_range(0..20))});
            if let Some(name) = names[rng.gen_range(0..names.len())] {
                resource["name"] = json!(name);
            }
            let mut e = json!({
                "id": format!("evt_{org_index}_{n:05}"),
                "action": action.as_str(),
                "occurred_at": occurred.to_rfc3339(),
                "resource": resource,
                "metadata": {"model_name": names[rng.gen_range(0..4)].unwrap_or("llama-3"), "environment": "production"},
            });
            if let Some(actor) = &actors[rng.gen_range(0..actors.len())] {
                e["actor"] = actor.clone();
            }
            e
        })
        .collect()
}

/// The oracle: the same filter semantics, written plainly. `query` is what
/// the filters mean: the plain parameters, plus `not_action`, `not_group`,
/// `not_actor` and `phrase` for what only the `q` syntax can say.
fn expected(events: &[Event], query: &[(&str, String)]) -> Vec<String> {
    let mut matching: Vec<&Event> = events
        .iter()
        .filter(|e| {
            let actions: Vec<&str> = query
                .iter()
                .filter(|(k, _)| *k == "action")
                .map(|(_, v)| v.as_str())
                .collect();
            query.iter().all(|(k, v)| match *k {
                "q" => v
                    .split_whitespace()
                    .all(|w| e.search_text().contains(&w.to_lowercase())),
                "group" => Some(e.group()) == Group::parse(v),
                "action" => actions.contains(&e.action.as_str()),
                "actor" => e.actor_key() == v,
                "resource_type" => e.resource.kind == *v,
                "resource_id" => e.resource.id.as_str() == v,
                "from" => e.occurred_at >= Timestamp::parse(v).unwrap(),
                "to" => e.occurred_at < Timestamp::parse(v).unwrap(),
                "not_action" => e.action.as_str() != v,
                "not_group" => Some(e.group()) != Group::parse(v),
                "not_actor" => e.actor_key() != v,
                "phrase" => e.search_text().contains(v.as_str()),
                other => panic!("oracle does not know {other}"),
            })
        })
        .collect();
    matching.sort_by(|a, b| (b.occurred_at, b.id.as_str()).cmp(&(a.occurred_at, a.id.as_str())));
    matching.iter().map(|e| e.id.to_string()).collect()
}

type Filters = Vec<(&'static str, String)>;

/// `(what is sent, what it means to the oracle)`.
fn filter_sets(now: Timestamp) -> Vec<(Filters, Filters)> {
    let plain = plain_filter_sets(now).into_iter().map(|f| (f.clone(), f));
    plain.chain(search_filter_sets(now)).collect()
}

/// Filters written in the `q` syntax, each with its plain meaning.
fn search_filter_sets(now: Timestamp) -> Vec<(Filters, Filters)> {
    // `date(d)`: the UTC day d days ago; `midnight(d)`: its start.
    let date = |d: i64| now.plus_millis(-d * DAY).date();
    let midnight = |d: i64| format!("{}T00:00:00Z", date(d));
    let s = |v: &str| v.to_string();
    vec![
        (
            vec![("q", s("action:MODEL_DEPLOYED -actor:system"))],
            vec![("action", s("MODEL_DEPLOYED")), ("not_actor", s("system"))],
        ),
        (
            vec![(
                "q",
                format!("Group:users -action:USER_INVITED created:>={}", date(30)),
            )],
            vec![
                ("group", s("users")),
                ("not_action", s("USER_INVITED")),
                ("from", midnight(30)),
            ],
        ),
        (
            vec![(
                "q",
                format!(
                    r#""Deployed Model" -actor:usr_grace created:<={}"#,
                    date(10)
                ),
            )],
            vec![
                ("phrase", s("deployed model")),
                ("not_actor", s("usr_grace")),
                ("to", midnight(9)),
            ],
        ),
        (
            vec![("q", s("-group:models -group:chains actor:usr_ada"))],
            vec![
                ("not_group", s("models")),
                ("not_group", s("chains")),
                ("actor", s("usr_ada")),
            ],
        ),
        (
            vec![
                (
                    "q",
                    format!(
                        "created:{}..{} resource_type:deployment",
                        date(50),
                        date(20)
                    ),
                ),
                ("actor", s("system")),
            ],
            vec![
                ("from", midnight(50)),
                ("to", midnight(19)),
                ("resource_type", s("deployment")),
                ("actor", s("system")),
            ],
        ),
        (
            vec![(
                "q",
                s("action:USER_INVITED action:USER_REMOVED resource:res_3 -actor:key_ci"),
            )],
            vec![
                ("action", s("USER_INVITED")),
                ("action", s("USER_REMOVED")),
                ("resource_id", s("res_3")),
                ("not_actor", s("key_ci")),
            ],
        ),
        (
            vec![("q", format!("created:>{} llama", date(5)))],
            vec![("from", midnight(4)), ("q", s("llama"))],
        ),
    ]
}

fn plain_filter_sets(now: Timestamp) -> Vec<Filters> {
    let day = |d: i64| now.plus_millis(-d * DAY).to_rfc3339();
    let s = |v: &str| v.to_string();
    vec![
        vec![],
        vec![("group", s("models"))],
        vec![("group", s("users"))],
        vec![("action", s("MODEL_DEPLOYED"))],
        vec![("action", s("USER_INVITED")), ("action", s("USER_REMOVED"))],
        vec![
            ("action", s("USER_INVITED")),
            ("action", s("MODEL_DELETED")),
        ],
        vec![("actor", s("usr_ada"))],
        vec![("actor", s("system"))],
        vec![("resource_type", s("deployment"))],
        vec![("resource_id", s("res_3"))],
        vec![("from", day(40)), ("to", day(30))],
        vec![("from", day(7))],
        vec![("to", day(80))],
        vec![("q", s("llama"))],
        vec![("q", s("Grace deleted"))],
        vec![("q", s("AUTOSCALER"))],
        vec![("actor", s("usr_grace")), ("group", s("credentials"))],
        vec![
            ("group", s("models")),
            ("from", day(30)),
            ("to", day(1)),
            ("q", s("mistral")),
        ],
        vec![
            ("action", s("MODEL_DEPLOYED")),
            ("actor", s("system")),
            ("from", day(60)),
        ],
        vec![("resource_id", s("res_5")), ("q", s("ada"))],
        vec![
            ("group", s("users")),
            ("resource_type", s("user")),
            ("actor", s("key_ci")),
        ],
        vec![
            ("action", s("CHAIN_DEPLOYED")),
            ("action", s("CHAIN_DELETED")),
            ("actor", s("svc_scaler")),
            ("to", day(10)),
        ],
        vec![
            ("actor", s("system")),
            ("q", s("inactivity whisper")),
            ("group", s("models")),
        ],
    ]
}

#[tokio::test]
async fn every_filter_alone_and_combined_matches_the_oracle_across_pages_of_7() {
    let s = Stack::start().await;
    let now = Timestamp::now();
    let mut rng = StdRng::seed_from_u64(20_261_129);
    let mut orgs: Vec<(OrgId, String, Vec<Event>)> = Vec::new();
    for i in 0..3 {
        let org = s.org(&format!("gen{i}"), false).await;
        let (ingest, _) = s.key(&org, Role::Ingest).await;
        let (admin, _) = s.key(&org, Role::Admin).await;
        let raw = generate(i, &mut rng, now);
        let bodies: Vec<Value> = raw
            .chunks(100)
            .map(|chunk| json!({ "events": chunk }))
            .collect();
        let results = join_all(bodies.iter().map(|body| s.post(&ingest, body))).await;
        for (status, body) in results {
            assert_eq!(status, 200, "{body}");
            assert_eq!(
                body["summary"]["created"].as_u64().unwrap() as usize,
                body["results"].as_array().unwrap().len()
            );
        }
        let oracle: Vec<Event> = raw
            .iter()
            .map(|v| {
                Event::from_new(
                    org.clone(),
                    parse_event(v, now, "").expect("generated events are valid"),
                    now,
                )
            })
            .collect();
        orgs.push((org, admin, oracle));
    }
    let total: usize = orgs.iter().map(|o| o.2.len()).sum();
    assert!(total >= 2_000);

    let sets = filter_sets(now);
    let runs = orgs.iter().map(|(org, admin, oracle)| {
        let sets = &sets;
        let s = &s;
        async move {
            let mut nonempty = 0;
            for (query, meaning) in sets {
                let want = expected(oracle, meaning);
                let got: Vec<Value> = s.all_pages(admin, query, 7).await;
                let got_ids: Vec<String> = got
                    .iter()
                    .map(|e| e["id"].as_str().unwrap().to_string())
                    .collect();
                assert_eq!(
                    got_ids.len(),
                    want.len(),
                    "org {org}, filter {query:?}: count"
                );
                assert_eq!(
                    got_ids, want,
                    "org {org}, filter {query:?}: order, duplicates or gaps"
                );
                assert!(got.iter().all(|e| e["org_id"] == org.as_str()));
                nonempty += usize::from(!want.is_empty());
            }
            nonempty
        }
    });
    for nonempty in join_all(runs).await {
        // The oracle must not be trivially empty: most filter sets match something.
        assert!(
            nonempty >= sets.len() - 4,
            "only {nonempty} filter sets matched anything"
        );
    }
}

/// Items an earlier release wrote (the full form: `action`, `group`,
/// `metadata` as text, a `search` copy) answer every filter set exactly as
/// compact ones do, mixed in one org, and a re-sent event is recognised as
/// the duplicate of its old item.
#[tokio::test]
async fn events_stored_in_the_earlier_full_form_answer_like_compact_ones() {
    let s = Stack::start().await;
    let now = Timestamp::now();
    let mut rng = StdRng::seed_from_u64(18);
    let org = s.org("fullform", false).await;
    let (ingest, _) = s.key(&org, Role::Ingest).await;
    let (admin, _) = s.key(&org, Role::Admin).await;
    let raw: Vec<Value> = generate(9, &mut rng, now).into_iter().take(300).collect();
    let oracle: Vec<Event> = raw
        .iter()
        .map(|v| Event::from_new(org.clone(), parse_event(v, now, "").expect("valid"), now))
        .collect();
    // Odd events as an earlier release stored them, even ones through ingest.
    let ddb = aws_sdk_dynamodb::Client::new(&audit_aws::aws_config().await);
    let table = s.store.tables().events.clone();
    for e in oracle.iter().skip(1).step_by(2) {
        let item = audit_aws::store::encode_full_event_item(
            e,
            audit_domain::retention::RetentionDays::DEFAULT,
        )
        .expect("full item");
        assert!(item.contains_key("search") && !item.contains_key("packed"));
        ddb.put_item()
            .table_name(&table)
            .set_item(Some(item))
            .send()
            .await
            .expect("PutItem");
    }
    let compact: Vec<Value> = raw.iter().step_by(2).cloned().collect();
    for chunk in compact.chunks(100) {
        let (status, body) = s.post(&ingest, &json!({ "events": chunk })).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["summary"]["created"].as_u64(),
            Some(chunk.len() as u64)
        );
    }

    let mut nonempty = 0;
    for (query, meaning) in filter_sets(now) {
        let want = expected(&oracle, &meaning);
        let got: Vec<String> = s
            .all_pages(&admin, &query, 7)
            .await
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(got, want, "filter {query:?}");
        nonempty += usize::from(!want.is_empty());
    }
    assert!(
        nonempty >= 20,
        "only {nonempty} filter sets matched anything"
    );

    // An old item decides a retry as it did: same content, a duplicate.
    let (status, body) = s.post(&ingest, &json!({ "events": [raw[1]] })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["summary"]["duplicate"], 1, "{body}");
    let (status, one) = s
        .get(Some(&admin), &format!("/v1/events/{}", oracle[1].id))
        .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["metadata"], json!(oracle[1].metadata));
}

/// Free text on `by_time` is read through the term summaries sealing
/// writes (and, for what it has not sealed, from `by_recorded`): every
/// filter set answers exactly as the oracle says with half the org sealed
/// (events backdated over 90 days, so most hours of the range are summaries
/// written by one seal) and half not, and a word that matches nothing reads
/// the summaries, not the events.
#[tokio::test]
async fn free_text_through_term_summaries_matches_the_oracle_sealed_or_not() {
    const PERIOD_MS: i64 = 2_000;
    let s = Stack::start_isolated().await;
    let now = Timestamp::now();
    let mut rng = StdRng::seed_from_u64(20_261_204);
    let org = s.org("terms", false).await;
    let (ingest, _) = s.key(&org, Role::Ingest).await;
    let (admin, _) = s.key(&org, Role::Admin).await;
    let raw = generate(7, &mut rng, now);
    let oracle: Vec<Event> = raw
        .iter()
        .map(|v| Event::from_new(org.clone(), parse_event(v, now, "").expect("valid"), now))
        .collect();
    let (sealed, unsealed) = raw.split_at(raw.len() / 2);
    for chunk in sealed.chunks(100) {
        let (status, body) = s.post(&ingest, &json!({ "events": chunk })).await;
        assert_eq!(status, 200, "{body}");
    }
    let app = s.exporter(audit_log_tests::sealing_config(PERIOD_MS)).await;
    tokio::time::sleep(std::time::Duration::from_millis(PERIOD_MS as u64 + 100)).await;
    let report = export::seal(&app, Timestamp::now()).await;
    assert_eq!(report.errors, 0, "{report:?}");
    assert!(report.digests >= 1, "{report:?}");
    for chunk in unsealed.chunks(100) {
        let (status, body) = s.post(&ingest, &json!({ "events": chunk })).await;
        assert_eq!(status, 200, "{body}");
    }

    let day = |d: i64| now.plus_millis(-d * DAY).to_rfc3339();
    let words = |q: &str| ("q", q.to_string());
    let mut sets = filter_sets(now);
    for extra in [
        vec![words("zzzzzz")],
        vec![words("whisper"), ("from", day(7))],
        vec![words("res_1")],
        vec![words("ada deployed"), ("from", day(60)), ("to", day(20))],
        vec![words("llama"), ("to", day(45))],
        vec![words("grace"), ("resource_type", "user".to_string())],
    ] {
        sets.push((extra.clone(), extra));
    }
    let mut nonempty = 0;
    for (query, meaning) in &sets {
        let want = expected(&oracle, meaning);
        for limit in [7, 50] {
            let got: Vec<String> = s
                .all_pages(&admin, query, limit)
                .await
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(got, want, "filter {query:?}, pages of {limit}");
        }
        nonempty += usize::from(!want.is_empty());
    }
    assert!(
        nonempty >= sets.len() - 4,
        "only {nonempty} filter sets matched anything"
    );

    // The summaries serve it: a word found nowhere reads no event item but
    // the unsealed half (the plain read would read all 700).
    let q = audit_domain::query::ActivityQuery::parse([("q", "qxjvwk")]).expect("query");
    let plan = audit_aws::store::plan::plan(&org, &q);
    assert!(matches!(
        plan.text_read(),
        audit_aws::store::plan::TextRead::Summaries(_)
    ));
    let (page, cost) = s
        .store
        .find_events_measured(
            &org,
            &plan,
            None,
            50,
            audit_aws::store::ReadBudget::default(),
        )
        .await
        .expect("find");
    assert!(page.events.is_empty() && page.next.is_none(), "{page:?}");
    assert!(
        cost.items_read < unsealed.len() + 20,
        "read {} event items for a word found nowhere: {cost:?}",
        cost.items_read
    );

    // An hour with more events than a search may hold is read the plain
    // way (every event), with the same answers.
    let limits = audit_aws::store::TextLimits::default;
    let small = s
        .store
        .clone()
        .with_text_limits(audit_aws::store::TextLimits {
            max_hour_entries: 0,
            ..limits()
        });
    let budget = audit_aws::store::ReadBudget::default();
    let (page, cost) = small
        .find_events_measured(&org, &plan, None, 50, budget)
        .await
        .expect("find");
    assert!(page.events.is_empty() && page.next.is_none(), "{page:?}");
    assert!(
        cost.items_read >= raw.len(),
        "the plain read reads every event: {cost:?}"
    );
    let q = audit_domain::query::ActivityQuery::parse([("q", "llama")]).expect("query");
    let plan = audit_aws::store::plan::plan(&org, &q);
    let ids = |p: audit_aws::store::Page| {
        p.events
            .iter()
            .map(|e| e.id.to_string())
            .collect::<Vec<_>>()
    };
    let plain = small
        .find_events(&org, &plan, None, 50, budget)
        .await
        .expect("find");
    let summarized = s
        .store
        .find_events(&org, &plan, None, 50, budget)
        .await
        .expect("find");
    assert_eq!(plain.events.len(), 50);
    assert_eq!(ids(plain), ids(summarized.clone()));

    // A seal further behind than the tail bound reads the plain way too.
    let behind = s
        .store
        .clone()
        .with_text_limits(audit_aws::store::TextLimits {
            max_tail_items: unsealed.len() - 1,
            ..limits()
        });
    let (page, cost) = behind
        .find_events_measured(&org, &plan, None, 50, budget)
        .await
        .expect("find");
    assert!(cost.items_read >= 50 + unsealed.len(), "{cost:?}");
    assert_eq!(ids(page), ids(summarized));

    // Out of summary round trips, a page answers with a cursor at an hour
    // boundary; followed to the end, the pages are the plain read's.
    let short = s
        .store
        .clone()
        .with_text_limits(audit_aws::store::TextLimits {
            max_summary_pages: 1,
            ..limits()
        });
    let (mut cursor, mut via_pages, mut short_pages) = (None, Vec::new(), 0);
    loop {
        let page = short
            .find_events(&org, &plan, cursor.as_ref(), 50, budget)
            .await
            .expect("find");
        short_pages += usize::from(page.events.len() < 50 && page.next.is_some());
        via_pages.extend(ids(page.clone()));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let (mut cursor, mut plainly) = (None, Vec::new());
    loop {
        let page = small
            .find_events(&org, &plan, cursor.as_ref(), 50, budget)
            .await
            .expect("find");
        plainly.extend(ids(page.clone()));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert!(short_pages > 0, "no page stopped at the round-trip bound");
    assert_eq!(via_pages, plainly);
}
