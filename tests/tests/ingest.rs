//! Ingest over HTTP against the local stack: every catalog action, every
//! rejection, idempotency, and batches.

use audit_domain::auth::Role;
use audit_domain::catalog::Action;
use audit_domain::limits::{MAX_BATCH_EVENTS, MAX_BODY_BYTES, MAX_METADATA_BYTES};
use audit_log_tests::{event, Stack};
use serde_json::{json, Value};

#[tokio::test]
async fn every_catalog_action_ingests_and_comes_back_with_its_description() {
    let s = Stack::start().await;
    let org = s.org("every", false).await;
    let (ingest, _) = s.key(&org, Role::Ingest).await;
    let (admin, _) = s.key(&org, Role::Admin).await;
    for (i, action) in Action::ALL.iter().enumerate() {
        for system in [false, true] {
            let id = format!("evt_{i}_{system}");
            let (status, body) = s.post(&ingest, &event(&id, *action, system)).await;
            assert_eq!(status, 201, "{action:?}: {body}");
            let (status, got) = s.get(Some(&admin), &format!("/v1/events/{id}")).await;
            assert_eq!(status, 200, "{got}");
            assert_eq!(got["action"], action.as_str());
            assert_eq!(got["group"], action.group().slug());
            let description = got["description"].as_str().expect("description");
            let subject = if system { "System " } else { "Ada Lovelace " };
            assert!(description.starts_with(subject), "{description}");
            assert_eq!(got["actor"].is_null(), system);
        }
    }
    let all = s.all_pages(&admin, &[], 200).await;
    assert_eq!(all.len(), Action::ALL.len() * 2);
}

async fn assert_rejected_and_nothing_stored(
    s: &Stack,
    org_key: &str,
    admin: &str,
    body: Vec<u8>,
    status: u16,
    field: &str,
) {
    let (got, problem) = s.post_raw(org_key, body).await;
    assert_eq!(got, status, "{problem}");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .map(|e| e.iter().filter_map(|x| x["field"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        fields.iter().any(|f| f.ends_with(field)),
        "expected {field} in {problem}"
    );
    let all = s.all_pages(admin, &[], 200).await;
    assert!(all.is_empty(), "nothing may be stored, found {}", all.len());
}

#[tokio::test]
async fn invalid_events_are_rejected_naming_the_problem_and_nothing_is_stored() {
    let s = Stack::start().await;
    let org = s.org("invalid", false).await;
    let (ingest, _) = s.key(&org, Role::Ingest).await;
    let (admin, _) = s.key(&org, Role::Admin).await;
    let good = event("evt_x", Action::ModelDeployed, false);

    let mut unknown = good.clone();
    unknown["action"] = json!("MODEL_EXPLODED");
    let mut bad_time = good.clone();
    bad_time["occurred_at"] = json!("yesterday");
    let mut big_meta = good.clone();
    big_meta["metadata"] = json!({"blob": "x".repeat(MAX_METADATA_BYTES + 1)});
    let batch_101: Vec<Value> = (0..MAX_BATCH_EVENTS + 1)
        .map(|i| event(&format!("evt_{i}"), Action::UserInvited, false))
        .collect();
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (serde_json::to_vec(&unknown).unwrap(), 400, "action"),
        (serde_json::to_vec(&bad_time).unwrap(), 400, "occurred_at"),
        (serde_json::to_vec(&big_meta).unwrap(), 400, "metadata"),
        (
            serde_json::to_vec(&json!({ "events": batch_101 })).unwrap(),
            400,
            "events",
        ),
        (vec![b'{'; 2 * MAX_BODY_BYTES], 413, "body"),
        (b"{not json".to_vec(), 400, "body"),
    ];
    for (body, status, field) in cases {
        assert_rejected_and_nothing_stored(&s, &ingest, &admin, body, status, field).await;
    }
}

#[tokio::test]
async fn same_id_twice_stores_one_event_and_other_content_is_a_conflict() {
    let s = Stack::start().await;
    let org = s.org("idem", false).await;
    let (ingest, _) = s.key(&org, Role::Ingest).await;
    let (admin, _) = s.key(&org, Role::Admin).await;
    let e = event("evt_same", Action::SecretUpdated, false);

    let (first, _) = s.post(&ingest, &e).await;
    let (second, body) = s.post(&ingest, &e).await;
    assert_eq!((first, second), (201, 200));
    assert_eq!(body["result"], "duplicate");

    let mut other = e.clone();
    other["resource"]["name"] = json!("another-secret");
    let (status, problem) = s.post(&ingest, &other).await;
    assert_eq!(status, 409, "{problem}");

    let all = s.all_pages(&admin, &[], 50).await;
    assert_eq!(all.len(), 1);
    assert_eq!(
        all[0]["resource"]["name"], "llama-3",
        "the stored event is unchanged"
    );
}

#[tokio::test]
async fn retry_without_occurred_at_is_a_duplicate() {
    let s = Stack::start().await;
    let org = s.org("retry", false).await;
    let (ingest, _) = s.key(&org, Role::Ingest).await;
    let e = event("evt_noclock", Action::UserInvited, false);
    assert_eq!(s.post(&ingest, &e).await.0, 201);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(s.post(&ingest, &e).await.0, 200);
}

#[tokio::test]
async fn batch_of_100_with_3_invalid_stores_exactly_the_97() {
    let s = Stack::start().await;
    let org = s.org("batch", false).await;
    let (ingest, _) = s.key(&org, Role::Ingest).await;
    let (admin, _) = s.key(&org, Role::Admin).await;
    let invalid = [7usize, 42, 99];
    let events: Vec<Value> = (0..100)
        .map(|i| {
            let mut e = event(
                &format!("evt_{i:03}"),
                Action::ALL[i % Action::ALL.len()],
                i % 5 == 0,
            );
            if invalid.contains(&i) {
                e["occurred_at"] = json!("2999-01-01T00:00:00Z");
            }
            e
        })
        .collect();
    let (status, body) = s.post(&ingest, &json!({ "events": events })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["summary"]["created"], 97);
    assert_eq!(body["summary"]["invalid"], 3);
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 100);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r["index"], i);
        let expected = if invalid.contains(&i) {
            "invalid"
        } else {
            "created"
        };
        assert_eq!(r["result"], expected, "{r}");
        if invalid.contains(&i) {
            assert_eq!(r["errors"][0]["field"], format!("events[{i}].occurred_at"));
        }
    }
    let stored = s.all_pages(&admin, &[], 200).await;
    assert_eq!(stored.len(), 97);
    for i in invalid {
        let (status, _) = s.get(Some(&admin), &format!("/v1/events/evt_{i:03}")).await;
        assert_eq!(status, 404);
    }

    // The same batch again: the 97 are duplicates, nothing new is stored.
    let (_, again) = s.post(&ingest, &json!({ "events": events })).await;
    assert_eq!(again["summary"]["duplicate"], 97);
    assert_eq!(s.all_pages(&admin, &[], 200).await.len(), 97);
}

#[tokio::test]
async fn batch_reports_conflicts_by_index() {
    let s = Stack::start().await;
    let org = s.org("batchconflict", false).await;
    let (ingest, _) = s.key(&org, Role::Ingest).await;
    let original = event("evt_c", Action::UserRemoved, false);
    assert_eq!(s.post(&ingest, &original).await.0, 201);
    let mut changed = original.clone();
    changed["metadata"] = json!({"email": "other@example.com"});
    let (status, body) = s
        .post(
            &ingest,
            &json!({"events": [event("evt_new", Action::UserInvited, false), changed, original]}),
        )
        .await;
    assert_eq!(status, 200);
    let results: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["created", "conflict", "duplicate"]);
}
