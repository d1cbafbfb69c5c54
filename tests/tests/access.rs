//! Who sees what: roles, teams, revoked keys, and isolation between orgs.

use audit_domain::auth::Role;
use audit_domain::catalog::Action;
use audit_domain::time::Timestamp;
use audit_log_tests::{event, Stack};
use serde_json::json;

#[tokio::test]
async fn read_access_follows_role_and_teams() {
    let s = Stack::start().await;
    let open = s.org("open", false).await;
    let teams = s.org("teams", true).await;
    for (org, member_reads) in [(&open, true), (&teams, false)] {
        let (ingest, _) = s.key(org, Role::Ingest).await;
        let (admin, _) = s.key(org, Role::Admin).await;
        let (member, _) = s.key(org, Role::Member).await;
        assert_eq!(
            s.post(&ingest, &event("evt_1", Action::ModelDeleted, false))
                .await
                .0,
            201
        );

        assert_eq!(
            s.get(Some(&ingest), "/v1/events").await.0,
            403,
            "ingest keys cannot read"
        );
        assert_eq!(s.get(Some(&ingest), "/v1/events/evt_1").await.0, 403);
        assert_eq!(
            s.get(Some(&admin), "/v1/events").await.0,
            200,
            "admins always read"
        );
        let (status, body) = s.get(Some(&member), "/v1/events").await;
        assert_eq!(status, if member_reads { 200 } else { 403 }, "{body}");
        if !member_reads {
            assert!(body["detail"].as_str().unwrap().contains("teams"), "{body}");
        }
        // Readers cannot write.
        assert_eq!(
            s.post(&admin, &event("evt_2", Action::ModelDeleted, false))
                .await
                .0,
            403
        );
        assert_eq!(
            s.post(&member, &event("evt_3", Action::ModelDeleted, false))
                .await
                .0,
            403
        );
    }
}

#[tokio::test]
async fn no_key_bad_key_and_revoked_key_are_401() {
    let s = Stack::start().await;
    let org = s.org("revoke", false).await;
    let (admin, admin_id) = s.key(&org, Role::Admin).await;
    let (ingest, ingest_id) = s.key(&org, Role::Ingest).await;
    assert_eq!(s.get(None, "/v1/events").await.0, 401);
    assert_eq!(s.get(Some("alk_not_a_key"), "/v1/events").await.0, 401);
    assert_eq!(s.get(Some(&admin), "/v1/events").await.0, 200);

    assert!(s
        .store
        .revoke_key(&org, &admin_id, Timestamp::now())
        .await
        .unwrap());
    assert!(s
        .store
        .revoke_key(&org, &ingest_id, Timestamp::now())
        .await
        .unwrap());
    assert_eq!(s.get(Some(&admin), "/v1/events").await.0, 401);
    assert_eq!(
        s.post(&ingest, &event("evt_1", Action::UserInvited, false))
            .await
            .0,
        401
    );
    let keys = s.store.list_keys(&org).await.unwrap();
    assert!(keys.iter().all(|k| k.revoked_at.is_some()));
}

#[tokio::test]
async fn org_b_never_sees_org_a() {
    let s = Stack::start().await;
    let a = s.org("a", false).await;
    let b = s.org("b", false).await;
    let (a_ingest, _) = s.key(&a, Role::Ingest).await;
    let (a_admin, _) = s.key(&a, Role::Admin).await;
    let (b_ingest, _) = s.key(&b, Role::Ingest).await;
    let (b_admin, _) = s.key(&b, Role::Admin).await;
    let events: Vec<_> = (0..10)
        .map(|i| event(&format!("evt_a{i}"), Action::ApiKeyCreated, false))
        .collect();
    assert_eq!(s.post(&a_ingest, &json!({ "events": events })).await.0, 200);
    // Org B's producer may reuse an id of org A's: ids are per org.
    assert_eq!(
        s.post(&b_ingest, &event("evt_a0", Action::UserInvited, true))
            .await
            .0,
        201
    );

    let b_all = s.all_pages(&b_admin, &[], 200).await;
    assert_eq!(b_all.len(), 1);
    assert_eq!(b_all[0]["org_id"], b.as_str());
    assert_eq!(
        s.get(Some(&b_admin), "/v1/events/evt_a1").await.0,
        404,
        "not by id"
    );
    let (_, mine) = s.get(Some(&b_admin), "/v1/events/evt_a0").await;
    assert_eq!(
        mine["action"], "USER_INVITED",
        "the id resolves to B's own event"
    );
    for filter in [
        "?actor=usr_ada",
        "?action=API_KEY_CREATED",
        "?group=credentials",
        "?q=ada",
    ] {
        let (_, body) = s.get(Some(&b_admin), &format!("/v1/events{filter}")).await;
        assert_eq!(
            body["events"].as_array().unwrap().len(),
            0,
            "{filter}: {body}"
        );
    }

    // Org A's cursor is refused for org B.
    let (_, page) = s.get(Some(&a_admin), "/v1/events?limit=3").await;
    let cursor = page["next_cursor"].as_str().expect("A has more pages");
    let (status, problem) = s
        .get(
            Some(&b_admin),
            &format!("/v1/events?limit=3&cursor={cursor}"),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(problem["errors"][0]["field"], "cursor");
    // ... and so is A's own cursor with other filters, or tampered.
    let (status, _) = s
        .get(
            Some(&a_admin),
            &format!("/v1/events?limit=3&group=users&cursor={cursor}"),
        )
        .await;
    assert_eq!(status, 400);
    let tampered = format!("x{cursor}");
    assert_eq!(
        s.get(
            Some(&a_admin),
            &format!("/v1/events?limit=3&cursor={tampered}")
        )
        .await
        .0,
        400
    );
    assert_eq!(
        s.get(
            Some(&a_admin),
            &format!("/v1/events?limit=3&cursor={cursor}")
        )
        .await
        .0,
        200
    );
}

#[tokio::test]
async fn event_types_list_the_catalog_for_any_key() {
    let s = Stack::start().await;
    let org = s.org("types", true).await;
    let (member, _) = s.key(&org, Role::Member).await;
    let (status, body) = s.get(Some(&member), "/v1/event-types").await;
    assert_eq!(status, 200);
    let count: usize = body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["event_types"].as_array().unwrap().len())
        .sum();
    assert_eq!(count, Action::every().count());
    assert_eq!(s.get(None, "/v1/event-types").await.0, 401);
}

#[tokio::test]
async fn unknown_routes_methods_and_parameters_are_problems() {
    let s = Stack::start().await;
    let org = s.org("routes", false).await;
    let (admin, _) = s.key(&org, Role::Admin).await;
    assert_eq!(s.get(Some(&admin), "/v2/nothing").await.0, 404);
    assert_eq!(s.get(Some(&admin), "/v1/events?colour=red").await.0, 400);
    assert_eq!(s.get(Some(&admin), "/v1/events?limit=0").await.0, 400);
    assert_eq!(s.get(Some(&admin), "/v1/events?limit=201").await.0, 400);
    assert_eq!(s.get(Some(&admin), "/v1/events?from=nope").await.0, 400);
    let r = s
        .http
        .delete(format!("{}/v1/events", s.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    // RFC 9110: a 405 lists the methods the path accepts.
    assert_eq!(r.headers()["allow"], "GET, POST");
    let r = s
        .http
        .put(format!("{}/v1/destinations", s.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.headers()["allow"], "GET, POST");
}

#[tokio::test]
async fn a_revoked_key_stops_working_within_the_cache_time() {
    use audit_aws::access::{AuthError, Authenticator};
    let s = Stack::start().await;
    let org = s.org("cache", false).await;
    let (key, key_id) = s.key(&org, Role::Admin).await;
    // Two processes that both looked the key up before it was revoked: one
    // caches for a minute (so its cached answer cannot expire while a loaded
    // machine runs this test), one for 800 ms.
    let long = Authenticator::new(std::time::Duration::from_secs(60));
    let ttl = std::time::Duration::from_millis(800);
    let short = Authenticator::new(ttl);
    let header = format!("Bearer {key}");
    assert!(long.authenticate(&s.store, Some(&header)).await.is_ok());
    assert!(short.authenticate(&s.store, Some(&header)).await.is_ok());
    assert!(s
        .store
        .revoke_key(&org, &key_id, Timestamp::now())
        .await
        .unwrap());
    // Within the cache time the cached lookup still answers …
    assert!(long.authenticate(&s.store, Some(&header)).await.is_ok());
    tokio::time::sleep(ttl + std::time::Duration::from_millis(100)).await;
    // … and once it has passed, the revocation holds.
    assert!(matches!(
        short.authenticate(&s.store, Some(&header)).await,
        Err(AuthError::Invalid)
    ));
    // A fresh process (no cache) refuses it at once.
    let fresh = Authenticator::new(ttl);
    assert!(matches!(
        fresh.authenticate(&s.store, Some(&header)).await,
        Err(AuthError::Invalid)
    ));
}
