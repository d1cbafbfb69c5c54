//! `auditctl witness` against the local stack, through the API (as a
//! customer runs it) and through the store (as the operator can): it
//! trusts the first checkpoint, accepts an extension with its consistency
//! proof, and refuses a rolled-back log and a rewritten one (a checkpoint
//! signed with the real key over another tree), keeping its state.

use std::path::PathBuf;
use std::time::Duration;

use audit_domain::catalog::Action;
use audit_domain::integrity::merkle::{leaf_hash, root_of};
use audit_domain::integrity::witness::{Accepted, Refusal, WitnessState};
use audit_domain::integrity::{Checkpoint, KeyRing};
use audit_domain::time::Timestamp;
use audit_log_tests::{event, Stack};
use auditctl::witness::{witness_once, Api, Outcome, Source};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};

const PERIOD_MS: i64 = 2_000;

fn state_file(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "witness-{label}-{}",
        ulid::Ulid::new().to_string().to_lowercase()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join("state.json")
}

fn saved(path: &PathBuf) -> WitnessState {
    serde_json::from_str(&std::fs::read_to_string(path).expect("state")).expect("state json")
}

#[tokio::test]
async fn a_witness_accepts_extensions_and_refuses_a_rollback_or_a_rewrite() {
    let s = Stack::start_isolated().await;
    let o = s.org_with_keys("witness").await;
    let app = s.exporter(audit_log_tests::sealing_config(PERIOD_MS)).await;
    let ingest_and_seal = |batch: &'static str, n: usize| {
        let (s, o, app) = (&s, &o, &app);
        async move {
            let events: Vec<Value> = (0..n)
                .map(|i| event(&format!("evt_w{batch}_{i:03}"), Action::ALL[i], false))
                .collect();
            let (status, body) = s.post(&o.ingest, &json!({ "events": events })).await;
            assert_eq!(status, 200, "{body}");
            tokio::time::sleep(Duration::from_millis(PERIOD_MS as u64 + 100)).await;
            let report = export::seal(app, Timestamp::now()).await;
            assert_eq!(report.errors, 0, "{report:?}");
        }
    };
    let api = || Source::Api(Api::new(&s.base, o.admin.clone()).expect("api"));
    let path = state_file("api");
    let stranger = KeyRing::from(audit_domain::integrity::Signer::from_seed([9; 32]).public_key());

    // Nothing sealed yet: nothing to witness, no state written.
    let first = witness_once(&api(), &path, &stranger).await.expect("run");
    assert!(matches!(first, Outcome::NothingYet), "{first:?}");
    assert!(!path.exists());

    ingest_and_seal("a", 3).await;
    // The first seal created the signing key.
    let name = audit_domain::integrity::signing::secret_name_from_env();
    let signer = audit_aws::signing::load(&app.secrets, &name)
        .await
        .expect("key");
    let keys = KeyRing::from(signer.public_key());
    let r = witness_once(&api(), &path, &keys).await.expect("run");
    assert!(
        matches!(r, Outcome::Accepted(Accepted::First(ref st)) if st.tree_size == 3),
        "{r:?}"
    );
    assert_eq!(saved(&path).tree_size, 3);
    let r = witness_once(&api(), &path, &keys).await.expect("run");
    assert!(
        matches!(r, Outcome::Accepted(Accepted::Unchanged(_))),
        "{r:?}"
    );

    ingest_and_seal("b", 5).await;
    let r = witness_once(&api(), &path, &keys).await.expect("run");
    assert!(
        matches!(r, Outcome::Accepted(Accepted::Extended { from: 3, ref state }) if state.tree_size == 8),
        "{r:?}"
    );
    let good = saved(&path);
    assert_eq!(good.tree_size, 8);
    assert!(good.origin.ends_with(&format!("/{}", o.id)), "{good:?}");

    // The operator's view from the store agrees with the customer's.
    let store = Source::Store {
        store: s.store.clone(),
        org: o.id.clone(),
    };
    let r = witness_once(&store, &path, &keys).await.expect("run");
    assert!(
        matches!(r, Outcome::Accepted(Accepted::Unchanged(_))),
        "{r:?}"
    );

    // A key the witness does not pin: refused, state kept.
    let r = witness_once(&api(), &path, &stranger).await.expect("run");
    assert!(
        matches!(
            r,
            Outcome::Refused {
                why: Refusal::Signature(_),
                ..
            }
        ),
        "{r:?}"
    );
    assert_eq!(saved(&path), good);

    // Someone with the key signs a rewritten history that grew (event 2
    // replaced): the log's own consistency proof cannot join it to the
    // tree the witness saw.
    let ddb = aws_sdk_dynamodb::Client::new(&audit_aws::aws_config().await);
    let control = s.store.tables().control.clone();
    let forged_leaves: Vec<[u8; 32]> = (0..9u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    let forged = Checkpoint {
        origin: good.origin.clone(),
        size: 9,
        root: root_of(&forged_leaves),
    }
    .sign(&signer);
    ddb.put_item()
        .table_name(&control)
        .item("PK", AttributeValue::S(format!("DIGESTS#{}", o.id)))
        .item("SK", AttributeValue::S(format!("CHECKPOINT#{:020}", 9)))
        .item("note", AttributeValue::S(forged))
        .send()
        .await
        .expect("forge");
    // Its tiles are the real ones: the proof the API serves for 8 → 9 is
    // refused by the API (9 is its latest size, but tiles hold only 8
    // leaves) or by the witness; either way nothing is accepted.
    let r = witness_once(&api(), &path, &keys).await;
    assert!(
        matches!(
            r,
            Err(_)
                | Ok(Outcome::Refused {
                    why: Refusal::NotExtended {
                        seen: 8,
                        now: 9,
                        ..
                    },
                    ..
                })
        ),
        "{r:?}"
    );
    assert_eq!(saved(&path), good);
    ddb.delete_item()
        .table_name(&control)
        .key("PK", AttributeValue::S(format!("DIGESTS#{}", o.id)))
        .key("SK", AttributeValue::S(format!("CHECKPOINT#{:020}", 9)))
        .send()
        .await
        .expect("unforge");

    // The same size with another root: a fork.
    let fork = Checkpoint {
        origin: good.origin.clone(),
        size: 8,
        root: root_of(&forged_leaves[..8]),
    }
    .sign(&signer);
    ddb.put_item()
        .table_name(&control)
        .item("PK", AttributeValue::S(format!("DIGESTS#{}", o.id)))
        .item("SK", AttributeValue::S(format!("CHECKPOINT#{:020}", 8)))
        .item("note", AttributeValue::S(fork))
        .send()
        .await
        .expect("fork");
    let r = witness_once(&api(), &path, &keys).await.expect("run");
    assert!(
        matches!(
            r,
            Outcome::Refused {
                why: Refusal::Fork { size: 8 },
                ..
            }
        ),
        "{r:?}"
    );
    assert_eq!(saved(&path), good);

    // Rolled back: the insider deletes the checkpoint at 8, so the latest
    // is the one at 3 again.
    ddb.delete_item()
        .table_name(&control)
        .key("PK", AttributeValue::S(format!("DIGESTS#{}", o.id)))
        .key("SK", AttributeValue::S(format!("CHECKPOINT#{:020}", 8)))
        .send()
        .await
        .expect("delete");
    let r = witness_once(&store, &path, &keys).await.expect("run");
    assert!(
        matches!(
            r,
            Outcome::Refused {
                why: Refusal::Rollback { seen: 8, now: 3 },
                ..
            }
        ),
        "{r:?}"
    );
    let r = witness_once(&api(), &path, &keys).await.expect("run");
    assert!(matches!(r, Outcome::Refused { .. }), "{r:?}");
    assert_eq!(saved(&path), good, "a refusal never overwrites the state");

    // Another org's reader sees only its own log.
    let other = s.org_with_keys("witness-other").await;
    let (status, _) = s.get(Some(&other.admin), "/v1/integrity/checkpoint").await;
    assert_eq!(status, 409, "no checkpoint of its own");
    let (status, body) = s
        .get(Some(&o.admin), "/v1/integrity/checkpoint?tree_size=3")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tree_size"], 3);
    let (status, _) = s
        .get(Some(&o.admin), "/v1/integrity/checkpoint?tree_size=4")
        .await;
    assert_eq!(status, 404, "no checkpoint was signed at 4");
    let (status, _) = s.get(Some(&o.ingest), "/v1/integrity/checkpoint").await;
    assert_eq!(status, 403, "ingest keys read no checkpoints");
}
