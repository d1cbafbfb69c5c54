//! The suite's bulk loader (`audit_log_tests::load`) stores exactly what
//! the real code stores: loaded events read back through the store as they
//! were, and a loaded digest history is a chain the store lists, with its
//! head where sealing continues and every manifest part readable.

use audit_domain::ids::EventId;
use audit_domain::time::Timestamp;
use audit_log_tests::load::recorded_events;
use audit_log_tests::Stack;

const HOUR: i64 = 3_600_000;

#[tokio::test]
async fn batch_loaded_events_read_back_as_ingest_would_have_stored_them() {
    let s = Stack::start().await;
    let org = s.org("load", false).await;
    let now = Timestamp::now();
    let n = 1_000;
    let loaded = s
        .load_events(recorded_events(&org, "evt_load", 0..n, now))
        .await;
    println!(
        "{n} events in {:.2} s: {:.0} events/s ({} calls, {} retried)",
        loaded.seconds,
        loaded.rate(),
        loaded.calls,
        loaded.retried
    );
    assert_eq!(loaded.items, n);
    assert!(loaded.calls >= n.div_ceil(25), "25 items a call at most");
    let window = audit_domain::export::ExportWindow {
        from: now.plus_millis(-1),
        to: now,
    };
    let stored = s.store.period_events(&org, &window).await.expect("events");
    let expected: Vec<_> = recorded_events(&org, "evt_load", 0..n, now).collect();
    assert_eq!(stored, expected, "the sealing read sees them in order");
    let one = s
        .store
        .get_event(&org, &EventId::parse("evt_load_0000007").expect("id"))
        .await
        .expect("get");
    assert_eq!(one.as_ref(), expected.get(7));
}

#[tokio::test]
async fn a_batch_loaded_digest_history_is_a_chain_the_store_continues() {
    let s = Stack::start().await;
    let org = s.org("chain", false).await;
    let now = Timestamp::now();
    let n = 2_000;
    let loaded = s.load_digest_history(&org, n, HOUR, now).await;
    println!(
        "{n} digests and parts ({} items) in {:.2} s: {:.0} items/s ({} calls, {} retried)",
        loaded.items,
        loaded.seconds,
        loaded.rate(),
        loaded.calls,
        loaded.retried
    );
    assert_eq!(loaded.items, 2 * n as usize);
    let digests = s
        .store
        .digests(&org, None, None, false, 3_000)
        .await
        .expect("digests");
    assert_eq!(digests.len(), n as usize);
    for pair in digests.windows(2) {
        let ((a, _), (b, _)) = (&pair[0], &pair[1]);
        assert_eq!(b.previous_digest_hash, a.digest_hash, "chained");
        assert_eq!(b.period_start, a.period_end, "contiguous");
    }
    let (last, parts) = digests.last().cloned().expect("a last digest");
    assert_eq!(parts, 1);
    assert_eq!(
        s.store.digest_head(&org).await.expect("head").as_ref(),
        Some(&last),
        "the head is the newest digest"
    );
    assert_eq!(
        audit_domain::integrity::period_containing(now, HOUR).0,
        last.period_end,
        "it ends where the current period starts"
    );
    let (first, _) = &digests[0];
    let manifest = s
        .store
        .digest_manifest(first, 1)
        .await
        .expect("manifest part");
    assert_eq!(manifest.len(), 1);
}
