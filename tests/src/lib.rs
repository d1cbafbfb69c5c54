//! The end-to-end harness: a real `auditctl` server on an ephemeral port, in
//! this process, over the local stack that `make test` starts (DynamoDB
//! Local, moto). Each test gets fresh orgs, so tests never see each other.

pub mod load;
pub mod logs;
pub mod receivers;
pub mod tamper;

use std::net::SocketAddr;
use std::time::Duration;

use audit_aws::access::Authenticator;
use audit_aws::secrets::SecretStore;
use audit_aws::store::{ApiKeyRecord, OrgSettings, Store};
use audit_destinations::UrlPolicy;
use audit_domain::auth::{generate_key, key_hash, Role};
use audit_domain::ids::OrgId;
use audit_domain::time::Timestamp;
use serde_json::{json, Value};

pub const CURSOR_SECRET: &[u8] = b"e2e-cursor-secret";

/// A running server and its store.
pub struct Stack {
    pub base: String,
    /// The export queues the query function replays into (isolated stacks).
    pub queue: Option<audit_aws::queue::ExportQueue>,
    pub store: Store,
    /// Destination secrets, as the server stores them (moto).
    pub secrets: SecretStore,
    pub http: reqwest::Client,
}

/// Fails loudly (never skips) when the local stack is not configured.
fn require_stack() {
    assert!(
        std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok(),
        "AWS_ENDPOINT_URL_DYNAMODB is not set: run the suite with `make test`, which starts the local stack"
    );
}

impl Stack {
    /// Creates the tables (idempotently) and serves on 127.0.0.1:0. Keys are
    /// not cached, so revocations are seen at once. Destination URLs may be
    /// http and loopback (the test receivers), whatever the process env says.
    pub async fn start() -> Stack {
        Self::start_with(UrlPolicy {
            allow_private: true,
        })
        .await
    }

    /// As `start`, with the given destination URL policy.
    pub async fn start_with(urls: UrlPolicy) -> Stack {
        require_stack();
        Self::serve(
            auditctl::store_from_env().await.expect("store from env"),
            urls,
            None,
        )
        .await
    }

    /// As `start`, over the given store (one whose client reaches DynamoDB
    /// through a test proxy, say).
    pub async fn start_over(store: Store) -> Stack {
        require_stack();
        let urls = UrlPolicy {
            allow_private: true,
        };
        Self::serve(store, urls, None).await
    }

    /// As `start`, with the query function's download and page budgets
    /// replaced (small ones keep a budget test fast).
    pub async fn start_with_budgets(budgets: query::Budgets) -> Stack {
        require_stack();
        let urls = UrlPolicy {
            allow_private: true,
        };
        Self::serve_with(
            auditctl::store_from_env().await.expect("store from env"),
            urls,
            None,
            budgets,
        )
        .await
    }

    /// A stack with tables of its own, so that the export scheduler (which
    /// reads every org's destinations) sees only this test's.
    pub async fn start_isolated() -> Stack {
        require_stack();
        let config = audit_aws::aws_config().await;
        let run = ulid::Ulid::new().to_string().to_lowercase();
        let tables = audit_aws::store::Tables {
            events: format!("t-{run}-events"),
            control: format!("t-{run}-control"),
        };
        let store = Store::new(aws_sdk_dynamodb::Client::new(&config), tables);
        let sqs = aws_sdk_sqs::Client::new(&config);
        let (queue, dlq) = audit_aws::queue::ExportQueue::ensure_named(
            &sqs,
            &format!("q-{run}"),
            &format!("q-{run}-dlq"),
        )
        .await
        .expect("create queues");
        let queue = audit_aws::queue::ExportQueue::new(sqs, queue, dlq);
        Self::serve(
            store,
            UrlPolicy {
                allow_private: true,
            },
            Some(queue),
        )
        .await
    }

    /// The export function over this stack's store and queues (an isolated
    /// stack's own).
    pub async fn exporter(&self, config: export::ExportConfig) -> export::ExportApp {
        let queue = self
            .queue
            .clone()
            .expect("exporter() needs Stack::start_isolated()");
        self.exporter_on(queue, config).await
    }

    /// An export app over this stack's store that queues jobs on `queue`.
    pub async fn exporter_on(
        &self,
        queue: audit_aws::queue::ExportQueue,
        config: export::ExportConfig,
    ) -> export::ExportApp {
        let sdk = audit_aws::aws_config().await;
        export::ExportApp {
            store: self.store.clone(),
            queue,
            secrets: SecretStore::from_env(&sdk),
            // The test receivers listen on loopback.
            deliverer: audit_destinations::deliver::Deliverer::new(
                &sdk,
                Duration::from_secs(5),
                UrlPolicy {
                    allow_private: true,
                },
            ),
            config,
            reads: Default::default(),
        }
    }

    /// Serves over `store`, whose tables already exist, without creating
    /// them: the IAM check (`tests/tests/iamcheck.rs`) runs the server with a
    /// function role's credentials, which may not create or describe tables.
    pub async fn serve_prepared(store: Store) -> Stack {
        Self::serve_prepared_with(store, None).await
    }

    /// As `serve_prepared`, replaying into `queue` (the IAM check's
    /// test-delivery and replay flow).
    pub async fn serve_prepared_with(
        store: Store,
        queue: Option<audit_aws::queue::ExportQueue>,
    ) -> Stack {
        Self::serve_inner(
            store,
            UrlPolicy {
                allow_private: true,
            },
            queue,
            query::Budgets::default(),
        )
        .await
    }

    async fn serve(
        store: Store,
        urls: UrlPolicy,
        queue: Option<audit_aws::queue::ExportQueue>,
    ) -> Stack {
        Self::serve_with(store, urls, queue, query::Budgets::default()).await
    }

    async fn serve_with(
        store: Store,
        urls: UrlPolicy,
        queue: Option<audit_aws::queue::ExportQueue>,
        budgets: query::Budgets,
    ) -> Stack {
        store.ensure_tables().await.expect("create tables");
        Self::serve_inner(store, urls, queue, budgets).await
    }

    async fn serve_inner(
        store: Store,
        urls: UrlPolicy,
        queue: Option<audit_aws::queue::ExportQueue>,
        budgets: query::Budgets,
    ) -> Stack {
        let config = audit_aws::aws_config().await;
        let mut apps = auditctl::apps(
            store.clone(),
            CURSOR_SECRET,
            || Authenticator::new(Duration::ZERO),
            &config,
            urls,
            queue.clone(),
        );
        // Just built, so not shared yet: the budgets can be set in place.
        std::sync::Arc::get_mut(&mut apps)
            .and_then(|apps| std::sync::Arc::get_mut(&mut apps.query))
            .expect("apps not shared yet")
            .budgets = budgets;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        tokio::spawn(auditctl::server::serve(
            listener,
            apps,
            std::future::pending(),
        ));
        Stack {
            base: format!("http://{addr}"),
            queue,
            store,
            secrets: SecretStore::from_env(&config),
            http: reqwest::Client::new(),
        }
    }

    /// A fresh org with the given settings.
    pub async fn org(&self, label: &str, uses_teams: bool) -> OrgId {
        let org = OrgId::parse(format!(
            "{label}-{}",
            ulid::Ulid::new().to_string().to_lowercase()
        ))
        .expect("org id");
        self.store
            .put_org_settings(
                &org,
                OrgSettings {
                    uses_teams,
                    retention_days: audit_domain::retention::RetentionDays::DEFAULT,
                },
            )
            .await
            .expect("org settings");
        org
    }

    /// A new key for the org; returns (key, key id).
    pub async fn key(&self, org: &OrgId, role: Role) -> (String, String) {
        let key = generate_key();
        let hash = key_hash(&key);
        let key_id = format!("key_{}", &hash[..16]);
        self.store
            .put_key(&ApiKeyRecord {
                key_id: key_id.clone(),
                key_hash: hash,
                org_id: org.clone(),
                role,
                name: format!("{role:?} key"),
                created_at: Timestamp::now(),
                revoked_at: None,
            })
            .await
            .expect("put key");
        (key, key_id)
    }

    pub async fn post(&self, key: &str, body: &Value) -> (u16, Value) {
        self.post_raw(key, serde_json::to_vec(body).expect("json"))
            .await
    }

    pub async fn post_raw(&self, key: &str, body: Vec<u8>) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/v1/events", self.base))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST");
        read(r).await
    }

    /// GET a path (with query string) as the key; `None` sends no key.
    pub async fn get(&self, key: Option<&str>, path_and_query: &str) -> (u16, Value) {
        let mut req = self.http.get(format!("{}{path_and_query}", self.base));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        read(req.send().await.expect("GET")).await
    }

    /// Follows `next_cursor` through every page of a query.
    pub async fn all_pages(&self, key: &str, query: &[(&str, String)], limit: usize) -> Vec<Value> {
        let mut events = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10_000 {
            let mut url = reqwest::Url::parse(&format!("{}/v1/events", self.base)).expect("url");
            {
                let mut pairs = url.query_pairs_mut();
                for (k, v) in query {
                    pairs.append_pair(k, v);
                }
                pairs.append_pair("limit", &limit.to_string());
                if let Some(c) = &cursor {
                    pairs.append_pair("cursor", c);
                }
            }
            let (status, body) = read(
                self.http
                    .get(url)
                    .bearer_auth(key)
                    .send()
                    .await
                    .expect("GET"),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            let page = body["events"].as_array().expect("events array");
            assert!(page.len() <= limit, "page larger than limit");
            events.extend(page.iter().cloned());
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return events,
            }
        }
        panic!("pagination did not end");
    }
}

async fn read(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = r.text().await.expect("body");
    if status >= 400 {
        assert_eq!(
            content_type, "application/problem+json",
            "error {status} must be problem+json: {text}"
        );
    }
    let body = serde_json::from_str(&text).unwrap_or(json!({ "raw": text }));
    (status, body)
}

/// A valid event for `action` with a user actor (or none for `system`).
pub fn event(id: &str, action: audit_domain::catalog::Action, system: bool) -> Value {
    let mut e = json!({
        "id": id,
        "action": action.as_str(),
        "resource": {"type": action.resource_type(), "id": "res_1", "name": "llama-3"},
        "metadata": {"model_name": "llama-3", "chain_name": "rag-chain", "environment": "production"},
    });
    if !system {
        e["actor"] = json!({"type": "user", "id": "usr_ada", "name": "Ada Lovelace", "email": "ada@example.com"});
    }
    e
}

/// An org with an ingest key and an admin key, the shape most tests need.
pub struct OrgKeys {
    pub id: OrgId,
    pub ingest: String,
    pub admin: String,
}

impl Stack {
    /// Creates an S3 destination (prefix `audit`) writing to `bucket`.
    pub async fn s3_destination(&self, admin: &str, bucket: &str) {
        let r = self
            .http
            .post(format!("{}/v1/destinations", self.base))
            .bearer_auth(admin)
            .json(&json!({"name": "lake", "type": "s3", "settings": {"bucket": bucket, "prefix": "audit"}}))
            .send()
            .await
            .expect("POST destination");
        assert_eq!(r.status().as_u16(), 201);
    }

    /// A fresh org without teams, with an ingest and an admin key.
    pub async fn org_with_keys(&self, label: &str) -> OrgKeys {
        let id = self.org(label, false).await;
        let (ingest, _) = self.key(&id, Role::Ingest).await;
        let (admin, _) = self.key(&id, Role::Admin).await;
        OrgKeys { id, ingest, admin }
    }
}

/// An S3 client for the local stack (moto wants path-style addressing).
pub async fn s3_client() -> aws_sdk_s3::Client {
    let sdk = audit_aws::aws_config().await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    )
}

/// A fresh bucket in the local S3 (named after `label`), and a client.
pub async fn s3_bucket(label: &str) -> (aws_sdk_s3::Client, String) {
    let s3 = s3_client().await;
    let bucket = format!("{label}-{}", ulid::Ulid::new().to_string().to_lowercase());
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    (s3, bucket)
}

/// Creates `bucket` as the template's `CheckpointBucket` is (versioned,
/// compliance-mode Object Lock), as `auditctl init` does locally.
pub async fn create_locked_bucket(s3: &aws_sdk_s3::Client, bucket: &str) {
    auditctl::ensure_locked_bucket(s3, bucket)
        .await
        .expect("a bucket with Object Lock");
}

/// One object's bytes.
pub async fn s3_object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    s3.get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("get")
        .body
        .collect()
        .await
        .expect("read")
        .into_bytes()
        .to_vec()
}

/// Runs the worker (`auditctl serve`'s poller) until a poll receives
/// nothing, so no window's lease holds the next tick back.
pub async fn drain_queue(app: &export::ExportApp) {
    while auditctl::export_runner::poll_once(app, 1)
        .await
        .expect("poll")
        > 0
    {}
}

/// The public half of the signing key the export app seals with.
pub async fn signing_public_key(app: &export::ExportApp) -> audit_domain::integrity::PublicKey {
    let name = audit_domain::integrity::signing::secret_name_from_env();
    audit_aws::signing::load(&app.secrets, &name)
        .await
        .expect("signing key")
        .public_key()
}

/// Export settings for integrity tests: no lag, and digest periods of
/// `period_ms` so that a few sleeps span several.
pub fn sealing_config(period_ms: i64) -> export::ExportConfig {
    export::ExportConfig {
        lag_ms: 0,
        max_window_ms: 3_600_000,
        digest_period_ms: period_ms,
        ..export::ExportConfig::default()
    }
}

/// Every object key in `bucket` (the first 1000: test buckets are small).
pub async fn s3_keys(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    s3.list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .expect("list")
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

/// Peak resident memory (VmHWM, KiB) of process `pid` ("self" for this
/// one), 0 when unreadable: bench figures 5 and 6 and the sealing-memory
/// test read it the same way.
pub fn peak_rss_kib(pid: impl std::fmt::Display) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The one-shot reference digest (`integrity::seal` over a whole manifest in
/// memory) for an org's first period since its tree began: the tree is the
/// manifest's events, leaf by leaf, so the digest also signs that size and
/// the root `merkle::root_of` computes from the leaves.
pub fn reference_digest(
    period: &audit_domain::integrity::Period<'_>,
    signer: &audit_domain::integrity::Signer,
) -> audit_domain::integrity::Digest {
    use audit_domain::integrity::merkle::{event_leaf, root_of};
    let mut d = audit_domain::integrity::seal(period, None, signer);
    let leaves: Vec<_> = period
        .manifest
        .iter()
        .map(|e| event_leaf(&e.hash).expect("an event hash is 32 bytes of hex"))
        .collect();
    d.tree_size = Some(leaves.len() as u64);
    d.tree_root = Some(hex::encode(root_of(&leaves)));
    d.digest_hash = d.compute_hash();
    d.signature = signer.sign(&d.digest_hash);
    d
}
