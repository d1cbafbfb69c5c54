//! `auditctl verify --org ORG --published s3://bucket[/prefix]`: the
//! store's log held to the checkpoints published outside it (the stage's
//! Object Lock bucket, or an S3 export's `digests/checkpoints/`). Every
//! version of every published checkpoint is read, so one hidden behind a
//! delete marker or overwritten still counts. Each must be signed by a
//! pinned key and be contained in the store's latest signed tree (the same
//! tree, or one the RFC 9162 consistency proof from the store's tiles shows
//! extends it). A store rebuilt with the real key over edited events, which
//! `verify --org` alone passes, fails here: the locked checkpoints name the
//! tree it had.

use std::collections::HashMap;

use audit_aws::store::Store;
use audit_domain::ids::OrgId;
use audit_domain::integrity::merkle::{consistency_ranges, Hash};
use audit_domain::integrity::witness::check_published;
use audit_domain::integrity::{
    checkpoint_size_of_key, checkpoints_prefix, Checkpoint, Finding, KeyRing,
};

/// The largest checkpoint object read: a signed note is a few hundred
/// bytes; anything far larger is not one.
const MAX_CHECKPOINT_BYTES: usize = 16 * 1024;

/// One published object version.
struct Published {
    key: String,
    version: Option<String>,
}

/// Checks the org's published checkpoints under `s3://bucket/prefix`
/// against the store; returns how many versions were checked and what
/// failed.
pub async fn verify_published(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    store: &Store,
    keys: &KeyRing,
    org: &OrgId,
) -> Result<(usize, Vec<Finding>), String> {
    let latest = store
        .latest_checkpoint(org)
        .await
        .map_err(|e| e.to_string())?;
    let latest_size = latest
        .as_deref()
        .and_then(|n| Checkpoint::open_any(n, keys).ok())
        .map(|c| c.size);
    let listed = checkpoints_prefix(prefix, org);
    let objects = list_versions(s3, bucket, &listed).await?;
    let mut findings = Vec::new();
    if let (true, Some(size)) = (objects.is_empty(), latest_size) {
        // Publishing failed from the start, or this is not where it goes.
        findings.push(Finding::PublishedCheckpoint {
            key: format!("s3://{bucket}/{listed}"),
            why: format!(
                "nothing is published there, while the store has a checkpoint at tree size {size}"
            ),
        });
    }
    let mut proofs: HashMap<u64, Vec<Hash>> = HashMap::new();
    for object in &objects {
        let name = match &object.version {
            Some(v) => format!("s3://{bucket}/{} (version {v})", object.key),
            None => format!("s3://{bucket}/{}", object.key),
        };
        let mut fail = |why: String| {
            findings.push(Finding::PublishedCheckpoint {
                key: name.clone(),
                why,
            })
        };
        let Some(named) = checkpoint_size_of_key(&object.key) else {
            fail("not a checkpoint's name".into());
            continue;
        };
        let body = get_head(s3, bucket, object).await?;
        if body.len() > MAX_CHECKPOINT_BYTES {
            fail(format!(
                "more than {MAX_CHECKPOINT_BYTES} bytes, not a checkpoint"
            ));
            continue;
        }
        let Ok(note) = String::from_utf8(body) else {
            fail("not UTF-8 text".into());
            continue;
        };
        let size = match Checkpoint::open_any(&note, keys) {
            Ok(c) => c.size,
            Err(e) => {
                fail(format!("not signed by a pinned key: {e}"));
                continue;
            }
        };
        if size != named {
            fail(format!("its name says tree size {named}, its note {size}"));
            continue;
        }
        let proof = match latest_size {
            Some(to) if size > 0 && size < to => match proofs.get(&size) {
                Some(p) => p.clone(),
                None => {
                    let p = store
                        .range_hashes(org, &consistency_ranges(size, to))
                        .await
                        .map_err(|e| e.to_string())?;
                    proofs.insert(size, p.clone());
                    p
                }
            },
            _ => Vec::new(),
        };
        if let Err(why) = check_published(&note, latest.as_deref(), keys, &proof) {
            fail(why.to_string());
        }
    }
    Ok((objects.len(), findings))
}

/// The first `MAX_CHECKPOINT_BYTES + 1` bytes of one object version: enough
/// to tell a checkpoint from something too large to be one, whatever was
/// put there.
async fn get_head(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    object: &Published,
) -> Result<Vec<u8>, String> {
    let failed = |e: String| format!("reading s3://{bucket}/{}: {e}", object.key);
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(&object.key)
        .set_version_id(object.version.clone())
        .range(format!("bytes=0-{MAX_CHECKPOINT_BYTES}"))
        .send()
        .await
        .map_err(|e| failed(aws_sdk_s3::error::DisplayErrorContext(&e).to_string()))?;
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| failed(e.to_string()))?;
    Ok(bytes.into_bytes().to_vec())
}

/// Every version of every object under `prefix` (delete markers skipped:
/// they hide a version from a plain listing but do not remove it).
async fn list_versions(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<Published>, String> {
    let mut objects = Vec::new();
    let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
    loop {
        let out = s3
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix)
            .set_key_marker(key_marker.take())
            .set_version_id_marker(version_marker.take())
            .send()
            .await
            .map_err(|e| {
                format!(
                    "listing the versions of s3://{bucket}/{prefix}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                )
            })?;
        objects.extend(out.versions().iter().filter_map(|v| {
            Some(Published {
                key: v.key()?.to_string(),
                version: v.version_id().filter(|id| *id != "null").map(str::to_owned),
            })
        }));
        if out.is_truncated() != Some(true) {
            return Ok(objects);
        }
        key_marker = out.next_key_marker().map(str::to_owned);
        version_marker = out.next_version_id_marker().map(str::to_owned);
        if key_marker.is_none() {
            return Ok(objects);
        }
    }
}
