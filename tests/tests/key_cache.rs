//! The key cache under a flood of random keys: DynamoDB reads are counted by
//! an interceptor on the real SDK client (DynamoDB Local), and a valid key
//! keeps hitting the cache however many unknown keys arrive.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use audit_aws::access::{AuthError, Authenticator};
use audit_aws::store::Store;
use audit_domain::auth::{generate_key, Role};
use audit_log_tests::Stack;
use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};

/// Counts every DynamoDB operation the store sends.
#[derive(Debug, Clone, Default)]
struct ReadCounter(Arc<AtomicUsize>);

impl Intercept for ReadCounter {
    fn name(&self) -> &'static str {
        "ReadCounter"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

impl ReadCounter {
    fn take(&self) -> usize {
        self.0.swap(0, Ordering::SeqCst)
    }
}

/// The stack's store, through a client that counts its calls.
async fn counted_store(s: &Stack) -> (Store, ReadCounter) {
    let sdk = audit_aws::aws_config().await;
    let counter = ReadCounter::default();
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .interceptor(counter.clone())
        .build();
    let store = Store::new(
        aws_sdk_dynamodb::Client::from_conf(config),
        s.store.tables().clone(),
    );
    (store, counter)
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

#[tokio::test]
async fn random_keys_cost_one_read_each_at_most_and_never_evict_a_valid_key() {
    let s = Stack::start().await;
    let org = s.org("keycache", false).await;
    let (valid, _) = s.key(&org, Role::Admin).await;
    let (store, reads) = counted_store(&s).await;
    let auth = Authenticator::new(Duration::from_secs(300));

    // The valid key's first request reads its key and its org: two reads.
    auth.authenticate(&store, Some(&bearer(&valid)))
        .await
        .expect("valid key");
    assert_eq!(reads.take(), 2);

    // 10,000 requests with random keys drawn from 1,000, a valid request
    // every tenth: one read per distinct unknown key, none for the valid one.
    let pool: Vec<String> = (0..1_000).map(|_| generate_key()).collect();
    let mut refused = 0;
    for n in 0..10_000 {
        if n % 10 == 0 {
            auth.authenticate(&store, Some(&bearer(&valid)))
                .await
                .expect("the valid key keeps working");
        }
        let key = &pool[(n * 7_919) % pool.len()];
        match auth.authenticate(&store, Some(&bearer(key))).await {
            Err(AuthError::Invalid) => refused += 1,
            other => panic!("a random key was not refused: {other:?}"),
        }
    }
    assert_eq!(refused, 10_000);
    let flood_reads = reads.take();
    assert!(
        flood_reads <= pool.len(),
        "10,000 requests over {} random keys cost {flood_reads} reads",
        pool.len()
    );
    assert_eq!(auth.cached_counts(), (1, pool.len()));
}

#[tokio::test]
async fn a_full_unknown_cache_drops_unknown_keys_not_valid_ones() {
    let s = Stack::start().await;
    let org = s.org("keyevict", false).await;
    let (valid, _) = s.key(&org, Role::Admin).await;
    let (store, reads) = counted_store(&s).await;
    // Small caches so the flood overflows the unknown side many times.
    let auth = Authenticator::with_capacity(Duration::from_secs(300), 10, 50);
    auth.authenticate(&store, Some(&bearer(&valid)))
        .await
        .expect("valid key");
    reads.take();

    for _ in 0..1_000 {
        let random = generate_key();
        assert!(auth
            .authenticate(&store, Some(&bearer(&random)))
            .await
            .is_err());
    }
    assert_eq!(reads.take(), 1_000, "each distinct unknown key is one read");
    assert_eq!(auth.cached_counts(), (1, 50), "both caches stay bounded");

    auth.authenticate(&store, Some(&bearer(&valid)))
        .await
        .expect("valid key");
    assert_eq!(reads.take(), 0, "the valid key is still cached");
}
