//! The verifiable log: receipts and consistency proofs, checked by a
//! verifier written here from RFC 6962's recursive definitions (its own
//! SHA-256 calls, no code of the crate under test), both over the tiles
//! the sealer's tree builder produces (logs of 1, 2, 3, 255, 256, 257 and
//! 10,000 leaves) and end to end over the API after real seals.

use std::collections::HashMap;
use std::time::Duration;

use audit_domain::catalog::Action;
use audit_domain::integrity::merkle::{
    consistency_ranges, fold_right, inclusion_ranges, subtrees_of,
};
use audit_domain::integrity::tiles::{locate, subtree_hash, TileId, TreeBuilder};
use audit_domain::integrity::KeyRing;
use audit_domain::time::Timestamp;
use audit_log_tests::{event, Stack};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

type H = [u8; 32];

// ---- the independent verifier (RFC 6962 §2.1, recursively) ----

fn leaf(input: &[u8]) -> H {
    Sha256::new()
        .chain_update([0u8])
        .chain_update(input)
        .finalize()
        .into()
}

fn node(l: &H, r: &H) -> H {
    Sha256::new()
        .chain_update([1u8])
        .chain_update(l)
        .chain_update(r)
        .finalize()
        .into()
}

fn k_of(n: u64) -> u64 {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

fn mth(leaves: &[H]) -> H {
    match leaves.len() {
        0 => Sha256::digest(b"").into(),
        1 => leaves[0],
        n => {
            let k = k_of(n as u64) as usize;
            node(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// The root PATH(m, D[n]) leads to, or None when the path has the wrong shape.
fn root_from_path(m: u64, n: u64, leaf: H, path: &[H]) -> Option<H> {
    if n == 1 {
        return path.is_empty().then_some(leaf);
    }
    let (last, rest) = path.split_last()?;
    let k = k_of(n);
    if m < k {
        Some(node(&root_from_path(m, k, leaf, rest)?, last))
    } else {
        Some(node(last, &root_from_path(m - k, n - k, leaf, rest)?))
    }
}

fn included(m: u64, n: u64, leaf: H, path: &[H], root: &H) -> bool {
    m < n && root_from_path(m, n, leaf, path).as_ref() == Some(root)
}

/// (old, new) roots SUBPROOF(m, D[n], b) leads to.
fn subproof_roots(m: u64, n: u64, whole: bool, path: &[H], old: &H) -> Option<(H, H)> {
    if m == n {
        return if whole {
            path.is_empty().then_some((*old, *old))
        } else {
            (path.len() == 1).then(|| (path[0], path[0]))
        };
    }
    let (last, rest) = path.split_last()?;
    let k = k_of(n);
    if m <= k {
        let (o, w) = subproof_roots(m, k, whole, rest, old)?;
        Some((o, node(&w, last)))
    } else {
        let (o, w) = subproof_roots(m - k, n - k, false, rest, old)?;
        Some((node(last, &o), node(last, &w)))
    }
}

fn consistent(m: u64, n: u64, old: &H, new: &H, path: &[H]) -> bool {
    if m == 0 || m > n {
        return false;
    }
    if m == n {
        return path.is_empty() && old == new;
    }
    subproof_roots(m, n, true, path, old) == Some((*old, *new))
}

// ---- proofs from the sealer's tiles, as the store builds them ----

struct Tiles(HashMap<TileId, Vec<H>>);

impl Tiles {
    fn of(leaves: &[H]) -> Self {
        let mut b = TreeBuilder::new();
        let mut map = HashMap::new();
        for l in leaves {
            b.push(*l);
            for (id, h) in b.take_full() {
                map.insert(id, h);
            }
        }
        for (id, h) in b.partial_tiles() {
            map.insert(id, h);
        }
        Tiles(map)
    }

    fn hashes(&self, ranges: &[audit_domain::integrity::merkle::Range]) -> Vec<H> {
        ranges
            .iter()
            .map(|r| {
                let parts: Vec<H> = subtrees_of(*r)
                    .into_iter()
                    .map(|s| subtree_hash(s, &self.0[&locate(s).0]).expect("in its tile"))
                    .collect();
                fold_right(&parts)
            })
            .collect()
    }
}

fn leaves(n: u64) -> Vec<H> {
    (0..n)
        .map(|i| leaf(&Sha256::digest(i.to_be_bytes())))
        .collect()
}

#[test]
fn every_inclusion_proof_verifies_independently_and_a_change_fails() {
    for n in [1u64, 2, 3, 255, 256, 257, 10_000] {
        let all = leaves(n);
        let root = mth(&all);
        let tiles = Tiles::of(&all);
        let mut forged_root = root;
        forged_root[0] ^= 1;
        for m in 0..n {
            let path = tiles.hashes(&inclusion_ranges(m, n));
            let l = all[m as usize];
            assert!(included(m, n, l, &path, &root), "leaf {m} of {n}");
            let mut changed = l;
            changed[31] ^= 1;
            assert!(
                !included(m, n, changed, &path, &root),
                "changed event {m} of {n}"
            );
            assert!(
                !included(m, n, l, &path, &forged_root),
                "changed root {m} of {n}"
            );
            if n > 1 {
                assert!(
                    !included((m + 1) % n, n, l, &path, &root),
                    "changed index {m} of {n}"
                );
            }
        }
    }
}

#[test]
fn consistency_proofs_between_every_pair_of_small_sizes_and_1000_to_10000_verify() {
    let all = leaves(10_000);
    let tiles = Tiles::of(&all);
    let roots: Vec<H> = (0..=40).map(|n| mth(&all[..n])).collect();
    // Tiles of the 10,000-leaf tree answer for any smaller size too: full
    // subtrees below a size never change.
    for n in 1..=40u64 {
        for m in 1..=n {
            let path = tiles.hashes(&consistency_ranges(m, n));
            assert!(
                consistent(m, n, &roots[m as usize], &roots[n as usize], &path),
                "{m} → {n}"
            );
            if m < n {
                let other = roots[(m - 1).max(1) as usize];
                if other != roots[m as usize] {
                    assert!(
                        !consistent(m, n, &other, &roots[n as usize], &path),
                        "wrong old root {m} → {n}"
                    );
                }
                let mut forged = roots[n as usize];
                forged[5] ^= 1;
                assert!(!consistent(m, n, &roots[m as usize], &forged, &path));
            }
        }
    }
    let path = tiles.hashes(&consistency_ranges(1_000, 10_000));
    let (old, new) = (mth(&all[..1_000]), mth(&all));
    assert!(consistent(1_000, 10_000, &old, &new, &path));
    let mut bad = path.clone();
    bad[0][0] ^= 1;
    assert!(!consistent(1_000, 10_000, &old, &new, &bad));
}

// ---- end to end ----

const PERIOD_MS: i64 = 2_000;

fn hex32(v: &Value) -> H {
    hex::decode(v.as_str().expect("hex"))
        .expect("hex")
        .try_into()
        .expect("32 bytes")
}

/// The checkpoint's (origin, size, root) from its note, checked here:
/// signed-note key hash and Ed25519 signature by the pinned key.
fn open_checkpoint(note: &str, key: &audit_domain::integrity::PublicKey) -> (String, u64, H) {
    let (text, sig) = note.split_once("\n\n").expect("signed note");
    let text = format!("{text}\n");
    let lines: Vec<&str> = text.lines().collect();
    let origin = lines[0].to_string();
    let size: u64 = lines[1].parse().expect("size");
    let root: H = B64.decode(lines[2]).expect("b64").try_into().expect("32");
    let sig = sig.strip_prefix("\u{2014} ").expect("em dash");
    let (name, blob) = sig.trim_end().split_once(' ').expect("name and signature");
    assert_eq!(name, origin);
    let blob = B64.decode(blob).expect("b64");
    let mut id_input = format!("{name}\n").into_bytes();
    id_input.push(1);
    id_input.extend_from_slice(&B64.decode(key.to_base64()).expect("key"));
    assert_eq!(blob[..4], Sha256::digest(&id_input)[..4], "key hash");
    let sig: [u8; 64] = blob[4..].try_into().expect("64-byte signature");
    assert!(key.verify_bytes(text.as_bytes(), &sig), "signature");
    (origin, size, root)
}

#[tokio::test]
async fn receipts_and_consistency_proofs_from_the_api_verify_independently() {
    let s = Stack::start_isolated().await;
    let o = s.org_with_keys("merkle").await;
    let app = s.exporter(audit_log_tests::sealing_config(PERIOD_MS)).await;
    let mut ids = Vec::new();
    let mut sizes = Vec::new();
    // Batches of 1, 2 and 254 events: trees of 1, 3 and 257 leaves.
    for (batch, n) in [1usize, 2, 254].into_iter().enumerate() {
        for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
            let events: Vec<Value> = chunk
                .iter()
                .map(|i| {
                    let id = format!("evt_m{batch}_{i:03}");
                    ids.push(id.clone());
                    event(&id, Action::ALL[i % Action::ALL.len()], i % 2 == 0)
                })
                .collect();
            let (status, body) = s.post(&o.ingest, &json!({ "events": events })).await;
            assert_eq!(status, 200, "{body}");
        }
        tokio::time::sleep(Duration::from_millis(PERIOD_MS as u64 + 100)).await;
        // The batch's periods have closed (lag 0): seal up to now.
        let report = export::seal(&app, Timestamp::now()).await;
        assert_eq!(report.errors, 0, "{report:?}");
        sizes.push(ids.len() as u64);
    }
    let name = audit_domain::integrity::signing::secret_name_from_env();
    let key = audit_aws::signing::load(&app.secrets, &name)
        .await
        .expect("key")
        .public_key();

    // Leaves in recorded order: the events as the API lists them, oldest first.
    let mut by_id = HashMap::new();
    for id in &ids {
        let (status, e) = s.get(Some(&o.admin), &format!("/v1/events/{id}")).await;
        assert_eq!(status, 200, "{e}");
        by_id.insert(id.clone(), e);
    }
    let mut ordered: Vec<&Value> = by_id.values().collect();
    ordered.sort_by_key(|e| {
        (
            e["recorded_at"].as_str().unwrap_or_default().to_string(),
            e["id"].as_str().unwrap_or_default().to_string(),
        )
    });
    let all: Vec<H> = ordered.iter().map(|e| leaf(&hex32(&e["hash"]))).collect();
    assert_eq!(all.len(), 257);

    for (i, e) in ordered.iter().enumerate() {
        let id = e["id"].as_str().expect("id");
        let (status, r) = s
            .get(Some(&o.admin), &format!("/v1/events/{id}/proof"))
            .await;
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["leaf_index"], i as u64, "{id}");
        assert_eq!(r["event_hash"], e["hash"]);
        let (origin, size, root) = open_checkpoint(r["checkpoint"].as_str().expect("note"), &key);
        assert!(origin.ends_with(&format!("/{}", o.id)), "{origin}");
        assert_eq!((size, r["tree_size"].as_u64()), (257, Some(257)));
        assert_eq!(
            root,
            mth(&all),
            "the checkpoint signs the tree of the events"
        );
        let path: Vec<H> = r["inclusion_path"]
            .as_array()
            .expect("path")
            .iter()
            .map(hex32)
            .collect();
        assert!(included(i as u64, size, all[i], &path, &root), "{id}");
        // And against the older checkpoint it was already in.
        if let Some(older) = sizes.iter().find(|n| **n > i as u64) {
            let (status, r) = s
                .get(
                    Some(&o.admin),
                    &format!("/v1/events/{id}/proof?tree_size={older}"),
                )
                .await;
            assert_eq!(status, 200, "{r}");
            let (_, n, root) = open_checkpoint(r["checkpoint"].as_str().expect("note"), &key);
            assert_eq!(n, *older);
            let path: Vec<H> = r["inclusion_path"]
                .as_array()
                .expect("path")
                .iter()
                .map(hex32)
                .collect();
            assert!(included(i as u64, n, all[i], &path, &root));
        }
    }

    // The CLI's offline check agrees, and refuses another key or an edit.
    let (_, receipt) = s
        .get(Some(&o.admin), &format!("/v1/events/{}/proof", ids[0]))
        .await;
    let text = receipt.to_string();
    assert!(auditctl::verify::receipt::check(&text, &KeyRing::from(key.clone())).is_ok());
    let stranger = audit_domain::integrity::Signer::from_seed([9; 32]).public_key();
    assert!(auditctl::verify::receipt::check(&text, &KeyRing::from(stranger)).is_err());
    let mut edited = receipt.clone();
    edited["leaf_index"] = json!(1);
    assert!(
        auditctl::verify::receipt::check(&edited.to_string(), &KeyRing::from(key.clone())).is_err()
    );

    // Consistency between every pair of checkpoints.
    for (a, &m) in sizes.iter().enumerate() {
        for &n in &sizes[a..] {
            let (status, c) = s
                .get(
                    Some(&o.admin),
                    &format!("/v1/integrity/consistency?from={m}&to={n}"),
                )
                .await;
            assert_eq!(status, 200, "{c}");
            let path: Vec<H> = c["consistency_path"]
                .as_array()
                .expect("path")
                .iter()
                .map(hex32)
                .collect();
            assert!(
                consistent(
                    m,
                    n,
                    &mth(&all[..m as usize]),
                    &mth(&all[..n as usize]),
                    &path
                ),
                "{m} → {n}"
            );
        }
    }

    // An insider moves the chain head back past the last events (deleting
    // the last digest and pointing DIGEST_HEAD at an older one): the
    // sealer refuses to seal those periods again.
    let all_digests = s
        .store
        .digests(&o.id, None, None, true, 1000)
        .await
        .expect("digests");
    // Back to before the last events' period (empty periods since have
    // the same tree size).
    let back = all_digests
        .iter()
        .position(|(d, _)| d.tree_size < Some(257))
        .expect("an older digest");
    s.tamper_delete_digest(&o.id, all_digests[0].0.period_start)
        .await;
    s.tamper_move_head_to(&o.id, all_digests[back].0.period_start)
        .await;
    let report = export::seal(&app, Timestamp::now()).await;
    assert_eq!((report.digests, report.errors), (0, 1), "{report:?}");
    let after = s
        .store
        .digests(&o.id, None, None, true, 1)
        .await
        .expect("digests");
    assert_eq!(
        after[0].0.digest_hash, all_digests[1].0.digest_hash,
        "nothing sealed after the deleted digest"
    );

    // Bad parameters are named; other orgs' readers see nothing of it.
    let (status, p) = s
        .get(Some(&o.admin), "/v1/integrity/consistency?from=0&to=x")
        .await;
    assert_eq!(status, 400, "{p}");
    let text = p.to_string();
    assert!(text.contains("\"from\"") && text.contains("\"to\""), "{p}");
    let (status, p) = s
        .get(Some(&o.admin), "/v1/integrity/consistency?from=1&to=999")
        .await;
    assert_eq!(status, 400, "{p}");
    let (status, p) = s
        .get(
            Some(&o.admin),
            &format!("/v1/events/{}/proof?tree_size=2", ids[0]),
        )
        .await;
    assert_eq!(status, 400, "no checkpoint at 2: {p}");
    let other = s.org_with_keys("merkle-other").await;
    let (status, _) = s
        .get(Some(&other.admin), &format!("/v1/events/{}/proof", ids[0]))
        .await;
    assert_eq!(status, 404);
    let (status, _) = s
        .get(Some(&o.ingest), &format!("/v1/events/{}/proof", ids[0]))
        .await;
    assert_eq!(status, 403, "ingest keys read no events");
}
