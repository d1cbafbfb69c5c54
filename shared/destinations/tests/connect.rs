//! The connect-time half of the URL policy: a host name that passes the
//! policy but resolves to a non-public address is refused before a socket
//! opens, so the secret never leaves. `Deliverer::with_hosts` maps the test
//! name to 127.0.0.1, where a listener records every connection.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use audit_destinations::deliver::Deliverer;
use audit_destinations::{Destination, DestinationSpec, UrlPolicy};
use audit_domain::export::outcome::Outcome;
use audit_domain::ids::OrgId;
use audit_domain::time::Timestamp;
use serde_json::json;

const HOST: &str = "hooks.audit-test.example";

/// A listener on loopback that counts the connections it accepts.
async fn listener() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (port, seen)
}

fn webhook(url: &str, urls: UrlPolicy) -> Destination {
    let spec = DestinationSpec::parse(
        &json!({"name": "hook", "type": "webhook", "settings": {"url": url}}),
        urls,
    )
    .expect("the URL passes the policy: only its address is private");
    let now = Timestamp::now();
    Destination {
        id: Destination::new_id(),
        org_id: OrgId::parse("org_connect").expect("org"),
        spec,
        secret_ref: Some("audit-log/test/destinations/x".into()),
        secret_hint: None,
        enabled: true,
        enabled_at: Some(now),
        cursor: None,
        created_at: now,
        updated_at: now,
        status: Default::default(),
    }
}

fn deliverer(urls: UrlPolicy) -> Deliverer {
    Deliverer::new(
        &aws_config::SdkConfig::builder().build(),
        Duration::from_secs(3),
        urls,
    )
    .with_hosts([(HOST.to_string(), IpAddr::V4(Ipv4Addr::LOCALHOST))])
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_before_anything_is_sent() {
    let strict = UrlPolicy {
        allow_private: false,
    };
    let (port, seen) = listener().await;
    let dest = webhook(&format!("https://{HOST}:{port}/audit"), strict);
    let secret = audit_destinations::webhook::generate_secret();
    let delivery = deliverer(strict)
        .send_test(&dest, Some(&secret), &dest.org_id)
        .await;
    let Outcome::Transient(reason) = &delivery.outcome else {
        panic!("a loopback address was reached: {delivery:?}");
    };
    assert!(!reason.contains(&secret), "{reason}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        seen.load(Ordering::SeqCst),
        0,
        "the receiver saw a connection"
    );
}

/// The control: the same mapping with private addresses allowed does reach
/// the listener, so the refusal above is the policy's doing.
#[tokio::test]
async fn the_same_name_is_reached_when_private_addresses_are_allowed() {
    let local = UrlPolicy {
        allow_private: true,
    };
    let (port, seen) = listener().await;
    let dest = webhook(&format!("http://{HOST}:{port}/audit"), local);
    let secret = audit_destinations::webhook::generate_secret();
    let _ = deliverer(local)
        .send_test(&dest, Some(&secret), &dest.org_id)
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        seen.load(Ordering::SeqCst) > 0,
        "the listener was never reached"
    );
}
