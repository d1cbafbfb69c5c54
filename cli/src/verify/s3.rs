//! `auditctl verify --s3`: the same checks over an S3 export, offline from
//! the service: the exported records, the digest files beside them and the
//! public keys that signed those.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};

use audit_domain::ids::{EventId, OrgId};
use audit_domain::integrity::{
    coverage_gaps, digests_prefix, public_keys_prefix, record_hash, verify_chain, Anchor, Digest,
    DigestFile, Finding, KeyRing, Observed, PeriodEvidence, PublicKey, PublicKeyView,
};
use audit_domain::time::Timestamp;
use serde_json::Value;

use super::{Report, Span};

/// `s3://bucket/prefix` split into bucket and prefix.
pub fn parse_s3_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or("--s3 must look like s3://bucket/prefix")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err("--s3 must name a bucket".into());
    }
    Ok((bucket.to_string(), prefix.trim_matches('/').to_string()))
}

/// Verifies an S3 export offline: for each org under `prefix` (or just
/// `org`), the exported events' hashes against their records, the digest
/// files' signatures and chain, and each digest's manifest against the
/// events exported in its period. With no `keys`, the public keys come from
/// the export's `digests/public-keys/` (pin them with `--public-key` from
/// `GET /v1/integrity/public-keys` for assurance against a rewritten bucket).
/// Only periods overlapping `range` are checked, and each end of the range
/// that is given must be covered by a digest file: that is what detects a
/// deleted first or latest file. With no `from`, the first digest file of
/// the export anchors the chain.
pub async fn verify_s3(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    org: Option<&OrgId>,
    keys: Option<&KeyRing>,
    range: Span,
) -> Result<Vec<(OrgId, Report)>, String> {
    let orgs = match org {
        Some(o) => vec![o.clone()],
        None => list_orgs(s3, bucket, prefix).await?,
    };
    let mut reports = Vec::new();
    for org in orgs {
        reports.push((
            org.clone(),
            verify_s3_org(s3, bucket, prefix, &org, keys, range).await?,
        ));
    }
    Ok(reports)
}

async fn list_orgs(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<OrgId>, String> {
    let base = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    };
    let out = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(format!("{base}org="))
        .delimiter("/")
        .send()
        .await
        .map_err(|e| {
            format!(
                "listing s3://{bucket}/{base}: {}",
                aws_sdk_s3::error::DisplayErrorContext(&e)
            )
        })?;
    Ok(out
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .filter_map(|p| p.strip_prefix(&format!("{base}org=")))
        .filter_map(|o| OrgId::parse(o.trim_end_matches('/')).ok())
        .collect())
}

async fn list_keys(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<String>, String> {
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| {
                format!(
                    "listing s3://{bucket}/{prefix}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                )
            })?;
        keys.extend(
            out.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        match out.next_continuation_token() {
            Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_string()),
            _ => return Ok(keys),
        }
    }
}

async fn get(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| {
            format!(
                "reading s3://{bucket}/{key}: {}",
                aws_sdk_s3::error::DisplayErrorContext(&e)
            )
        })?;
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| format!("reading s3://{bucket}/{key}: {e}"))?;
    Ok(bytes.into_bytes().to_vec())
}

/// The public keys published for `org` under `s3://bucket/prefix`
/// (`digests/public-keys/`): an S3 export's, or the stage's checkpoint
/// bucket, where Object Lock keeps every key that ever signed.
pub(super) async fn published_ring(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    org: &OrgId,
) -> Result<KeyRing, String> {
    let keys = list_keys(s3, bucket, &public_keys_prefix(prefix, org)).await?;
    ring_of(s3, bucket, keys.iter()).await
}

/// The public-key objects at `keys`, read into a ring.
async fn ring_of(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    keys: impl Iterator<Item = &String>,
) -> Result<KeyRing, String> {
    let mut ring = KeyRing::default();
    for k in keys {
        let body = get(s3, bucket, k).await?;
        let view: PublicKeyView = serde_json::from_slice(&body)
            .map_err(|e| format!("s3://{bucket}/{k} is not a public key: {e}"))?;
        let key = PublicKey::from_base64(&view.public_key)
            .map_err(|e| format!("s3://{bucket}/{k}: {e}"))?;
        ring.add(key, None);
    }
    Ok(ring)
}

async fn verify_s3_org(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    org: &OrgId,
    pinned: Option<&KeyRing>,
    range: Span,
) -> Result<Report, String> {
    let digests_dir = digests_prefix(prefix, org);
    let keys_dir = public_keys_prefix(prefix, org);
    let org_dir = digests_dir.trim_end_matches("digests/").to_string();
    let objects = list_keys(s3, bucket, &org_dir).await?;
    let ring = match pinned {
        Some(ring) => ring.clone(),
        None => {
            ring_of(
                s3,
                bucket,
                objects.iter().filter(|k| k.starts_with(&keys_dir)),
            )
            .await?
        }
    };
    let mut report = Report::default();
    let mut events: HashMap<EventId, Observed> = HashMap::new();
    let mut digests: Vec<DigestFile> = Vec::new();
    for k in &objects {
        if k.starts_with(&keys_dir) {
            continue;
        }
        if let Some(name) = k.strip_prefix(&digests_dir) {
            if !name.ends_with(".json") {
                continue;
            }
            let body = get(s3, bucket, k).await?;
            let file: DigestFile = serde_json::from_slice(&body)
                .map_err(|e| format!("s3://{bucket}/{k} is not a digest file: {e}"))?;
            digests.push(file);
        } else if k.ends_with(".jsonl.gz") {
            let gz = get(s3, bucket, k).await?;
            for line in BufReader::new(flate2::read::GzDecoder::new(&gz[..])).lines() {
                let line = line.map_err(|e| format!("s3://{bucket}/{k}: {e}"))?;
                if line.trim().is_empty() {
                    continue;
                }
                let record: Value = serde_json::from_str(&line)
                    .map_err(|e| format!("s3://{bucket}/{k}: a line is not JSON: {e}"))?;
                let observed = observe(&record).ok_or_else(|| {
                    format!("s3://{bucket}/{k}: a record lacks id or recorded_at")
                })?;
                match events.get(&observed.id) {
                    // The same event in two objects (a replayed window): one copy counts.
                    Some(seen) if seen.hash == observed.hash => {}
                    Some(_) => report.findings.push(Finding::EventModified {
                        id: observed.id.clone(),
                    }),
                    None => {
                        events.insert(observed.id.clone(), observed);
                    }
                }
            }
        }
    }
    digests.sort_by_key(|d| d.digest.period_start);
    // Only the periods overlapping the range asked for; the one just before
    // it, when the export has it, anchors the chain.
    let overlaps = |d: &Digest| {
        range.from.is_none_or(|f| d.period_end > f) && range.to.is_none_or(|t| d.period_start < t)
    };
    let anchor = match digests.iter().position(|f| overlaps(&f.digest)) {
        Some(i) if i > 0 => Anchor::After(digests[i - 1].digest.clone()),
        _ => Anchor::Any,
    };
    let mut by_period: Vec<PeriodEvidence> = digests
        .into_iter()
        .filter(|f| overlaps(&f.digest))
        .map(|f| PeriodEvidence {
            digest: f.digest,
            manifest: Some(f.events),
            events: Vec::new(),
        })
        .collect();
    let in_range =
        |t: Timestamp| range.from.is_none_or(|f| t > f) && range.to.is_none_or(|to| t <= to);
    events.retain(|_, e| in_range(e.recorded_at));
    report.events = events.len();
    for e in events.into_values() {
        match by_period
            .iter_mut()
            .find(|p| covers(&p.digest, e.recorded_at))
        {
            Some(p) => p.events.push(e),
            // Outside every digest (exported before the first digest file):
            // the record's own `hash` still shows an edit.
            None if e.claimed_hash.as_ref().is_some_and(|c| *c != e.hash) => {
                report.findings.push(Finding::EventModified { id: e.id });
            }
            None => {}
        }
    }
    report.periods = by_period.len();
    report
        .findings
        .extend(verify_chain(&by_period, anchor, &ring));
    let covered: Vec<&Digest> = by_period.iter().map(|p| &p.digest).collect();
    report
        .findings
        .extend(coverage_gaps(&covered, range.from, range.to));
    Ok(report)
}

fn covers(d: &Digest, t: Timestamp) -> bool {
    d.period_start < t && t <= d.period_end
}

/// An exported record as evidence: its id, when it was recorded, the hash
/// of its fields and the hash it claims.
fn observe(record: &Value) -> Option<Observed> {
    Some(Observed {
        id: EventId::parse(record.get("id")?.as_str()?).ok()?,
        recorded_at: Timestamp::parse(record.get("recorded_at")?.as_str()?).ok()?,
        hash: record_hash(record)?,
        claimed_hash: record
            .get("hash")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_split_into_bucket_and_prefix() {
        assert_eq!(
            parse_s3_url("s3://b/logs/audit/").unwrap(),
            ("b".to_string(), "logs/audit".to_string())
        );
        assert_eq!(
            parse_s3_url("s3://b").unwrap(),
            ("b".to_string(), String::new())
        );
        assert!(parse_s3_url("https://b").is_err());
        assert!(parse_s3_url("s3:///x").is_err());
    }
}
