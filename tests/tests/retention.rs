//! Retention means what the operator set: an event's TTL is fixed when it is
//! recorded, from the org's retention at that moment, so lowering an org's
//! retention never shortens the life of events already stored; an org that
//! sets none follows the deployment's default (`AUDIT_DEFAULT_RETENTION_DAYS`).

use audit_aws::store::OrgSettingsChange;
use audit_domain::auth::Role;
use audit_domain::catalog::Action;
use audit_domain::ids::OrgId;
use audit_domain::retention::RetentionDays;
use audit_log_tests::{event, Stack};
use aws_sdk_dynamodb::types::AttributeValue;

/// The stored item's `expires_at` minus its `recorded_at`, in days.
async fn stored_lifetime_days(s: &Stack, org: &OrgId, id: &str) -> i64 {
    let ddb = aws_sdk_dynamodb::Client::new(&audit_aws::aws_config().await);
    let item = ddb
        .get_item()
        .table_name(&s.store.tables().events)
        .key("PK", AttributeValue::S(format!("ORG#{org}")))
        .key("SK", AttributeValue::S(format!("EVT#{id}")))
        .send()
        .await
        .expect("GetItem")
        .item
        .expect("the event is stored");
    let expires: i64 = item["expires_at"]
        .as_n()
        .expect("expires_at is a number")
        .parse()
        .expect("expires_at parses");
    // rts = "<recorded_at millis>#<id>"
    let recorded = item["rts"]
        .as_s()
        .ok()
        .and_then(|rts| rts.split_once('#'))
        .and_then(|(ms, _)| ms.parse().ok())
        .and_then(|ms| audit_domain::time::Timestamp::from_millis(ms).ok())
        .expect("rts starts with recorded_at in millis");
    (expires - recorded.epoch_seconds()) / 86_400
}

fn days(n: u32) -> RetentionDays {
    RetentionDays::new(n).expect("in range")
}

#[tokio::test]
async fn a_lower_retention_applies_only_to_events_recorded_after_it() {
    let s = Stack::start().await;
    let org = s.org("retention", false).await;
    let (ingest, _) = s.key(&org, Role::Ingest).await;
    s.store
        .update_org_settings(
            &org,
            OrgSettingsChange {
                retention_days: Some(days(3650)),
                ..Default::default()
            },
        )
        .await
        .expect("set ten years");
    let (status, body) = s
        .post(&ingest, &event("evt_before", Action::UserInvited, false))
        .await;
    assert_eq!(status, 201, "{body}");

    let now = s
        .store
        .update_org_settings(
            &org,
            OrgSettingsChange {
                retention_days: Some(days(30)),
                ..Default::default()
            },
        )
        .await
        .expect("lower to 30 days");
    assert_eq!(now.retention_days, days(30));
    let (status, body) = s
        .post(&ingest, &event("evt_after", Action::UserInvited, false))
        .await;
    assert_eq!(status, 201, "{body}");

    assert_eq!(stored_lifetime_days(&s, &org, "evt_before").await, 3650);
    assert_eq!(stored_lifetime_days(&s, &org, "evt_after").await, 30);
}

#[tokio::test]
async fn changing_teams_keeps_the_retention_an_org_set() {
    let s = Stack::start().await;
    let org = s.org("keep", false).await;
    s.store
        .update_org_settings(
            &org,
            OrgSettingsChange {
                retention_days: Some(days(3650)),
                ..Default::default()
            },
        )
        .await
        .expect("set ten years");
    let now = s
        .store
        .update_org_settings(
            &org,
            OrgSettingsChange {
                uses_teams: Some(true),
                ..Default::default()
            },
        )
        .await
        .expect("turn teams on");
    assert!(now.uses_teams);
    assert_eq!(
        now.retention_days,
        days(3650),
        "teams on must not reset retention"
    );
}

#[tokio::test]
async fn an_org_without_a_retention_follows_the_deployment_default() {
    let s = Stack::start().await;
    let store = s.store.clone().with_default_retention(days(90));
    let fresh = OrgId::parse(format!(
        "fresh-{}",
        ulid::Ulid::new().to_string().to_lowercase()
    ))
    .expect("org id");
    assert_eq!(
        store
            .org_settings(&fresh)
            .await
            .expect("read")
            .retention_days,
        days(90)
    );
    // Setting only teams stores no retention: the org keeps following the
    // default, whatever the operator later makes it.
    store
        .update_org_settings(
            &fresh,
            OrgSettingsChange {
                uses_teams: Some(true),
                ..Default::default()
            },
        )
        .await
        .expect("teams");
    let later = store.with_default_retention(days(400));
    let settings = later.org_settings(&fresh).await.expect("read");
    assert_eq!(
        (settings.uses_teams, settings.retention_days),
        (true, days(400))
    );
}
