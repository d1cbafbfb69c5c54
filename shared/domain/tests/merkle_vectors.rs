//! The domain's RFC 9162 proof verifiers against transparency-dev/merkle's
//! vectors (`vectors/README.md`): every case whose `wantErr` is true must be
//! refused and every other accepted.

use std::path::{Path, PathBuf};

use audit_domain::integrity::merkle::{verify_consistency, verify_inclusion, Hash};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::Value;

fn files(dir: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(dir)];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).expect("vector directory") {
            let p = entry.expect("entry").path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|e| e == "json") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A vector's hash; `None` when it is not 32 bytes (such a case must fail).
fn hash(v: &Value) -> Option<Hash> {
    B64.decode(v.as_str()?).ok()?.try_into().ok()
}

/// A root: some vectors use a placeholder of another length where only
/// equality matters; such a value stands in as its SHA-256.
fn root(v: &Value) -> Option<Hash> {
    let bytes = B64.decode(v.as_str()?).ok()?;
    Some(match <Hash>::try_from(bytes.as_slice()) {
        Ok(h) => h,
        Err(_) => {
            use sha2::Digest as _;
            sha2::Sha256::digest(&bytes).into()
        }
    })
}

fn proof(v: &Value) -> Option<Vec<Hash>> {
    match v {
        Value::Null => Some(Vec::new()),
        Value::Array(items) => items.iter().map(hash).collect(),
        _ => None,
    }
}

fn load(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).expect("read")).expect("json")
}

#[test]
fn inclusion_vectors_are_decided_as_transparency_dev_decides_them() {
    let all = files("inclusion");
    assert!(all.len() > 90, "{} files", all.len());
    let (mut accepted, mut refused) = (0, 0);
    for p in all {
        let v = load(&p);
        let want_err = v["wantErr"].as_bool().expect("wantErr");
        let ok = match (
            v["leafIdx"].as_u64(),
            v["treeSize"].as_u64(),
            hash(&v["leafHash"]),
            hash(&v["root"]),
            proof(&v["proof"]),
        ) {
            (Some(i), Some(n), Some(leaf), Some(root), Some(path)) => {
                verify_inclusion(i, n, &leaf, &path, &root).is_ok()
            }
            _ => false,
        };
        assert_eq!(ok, !want_err, "{}: {}", p.display(), v["desc"]);
        if ok {
            accepted += 1;
        } else {
            refused += 1;
        }
    }
    assert!(accepted > 0 && refused > 0);
}

#[test]
fn consistency_vectors_are_decided_as_transparency_dev_decides_them() {
    let all = files("consistency");
    assert!(all.len() > 90, "{} files", all.len());
    let (mut accepted, mut refused) = (0, 0);
    for p in all {
        let v = load(&p);
        let want_err = v["wantErr"].as_bool().expect("wantErr");
        let ok = match (
            v["size1"].as_u64(),
            v["size2"].as_u64(),
            root(&v["root1"]),
            root(&v["root2"]),
            proof(&v["proof"]),
        ) {
            (Some(m), Some(n), Some(r1), Some(r2), Some(path)) => {
                verify_consistency(m, n, &r1, &r2, &path).is_ok()
            }
            _ => false,
        };
        assert_eq!(ok, !want_err, "{}: {}", p.display(), v["desc"]);
        if ok {
            accepted += 1;
        } else {
            refused += 1;
        }
    }
    assert!(accepted > 0 && refused > 0);
}
