//! `Store::find_events_measured` (used by `make bench`): the same page as
//! `find_events`, plus the read capacity DynamoDB reports for it.

use audit_aws::store::ReadBudget;
use audit_domain::auth::Role;
use audit_domain::catalog::Action;
use audit_domain::query::ActivityQuery;
use audit_log_tests::{event, Stack};
use serde_json::json;

#[tokio::test]
async fn a_measured_page_is_the_same_page_and_reports_its_read_cost() {
    let s = Stack::start().await;
    let org = s.org("readcost", false).await;
    let (key, _) = s.key(&org, Role::Ingest).await;
    let events: Vec<_> = (0..30)
        .map(|i| event(&format!("evt_rc_{i:02}"), Action::ALL[i % 3], false))
        .collect();
    let (status, body) = s.post(&key, &json!({ "events": events })).await;
    assert_eq!(status, 200, "{body}");

    for pairs in [vec![("limit", "10")], vec![("q", "llama"), ("limit", "10")]] {
        let q = ActivityQuery::parse(pairs).expect("query");
        let plan = audit_aws::store::plan::plan(&org, &q);
        let plain = s
            .store
            .find_events(&org, &plan, None, 10, ReadBudget::default())
            .await
            .expect("find_events");
        let (page, cost) = s
            .store
            .find_events_measured(&org, &plan, None, 10, ReadBudget::default())
            .await
            .expect("find_events_measured");
        assert_eq!(page, plain);
        assert_eq!(page.events.len(), 10);
        assert!(cost.round_trips >= 1, "{cost:?}");
        assert!(cost.items_read >= 10, "{cost:?}");
        assert!(
            cost.read_units > 0.0,
            "DynamoDB reports consumed capacity: {cost:?}"
        );
    }
}
