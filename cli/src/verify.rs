//! `auditctl verify`: recompute every event hash, period and signature and
//! say exactly what broke, either from the service's store (`--org`) or,
//! offline from the service, from an S3 export (`--s3`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};

use audit_log::export::ExportWindow;
use audit_log::ids::{EventId, OrgId};
use audit_log::integrity::{
    coverage_gaps, digests_prefix, event_hash, keys, public_keys_prefix, record_hash, verify_chain,
    Anchor, Digest, DigestFile, Finding, KeyRing, Observed, PeriodEvidence, PublicKey,
    PublicKeyView,
};
use audit_log::store::Store;
use audit_log::time::Timestamp;
use serde_json::Value;

/// The periods a verification covers: those overlapping `(from, to]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Span {
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

/// What a verification found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Digests checked (periods).
    pub periods: usize,
    /// Events checked.
    pub events: usize,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn is_ok(&self) -> bool {
        self.findings.is_empty()
    }

    /// The findings as the lines `auditctl verify` prints.
    pub fn lines(&self) -> Vec<String> {
        self.findings.iter().map(ToString::to_string).collect()
    }
}

/// Verifies an org's log in the store: every digest whose period overlaps
/// `[from, to]` (default: the retention period, as older events may have
/// expired), its signature, its link to the digest before, and the events
/// now in its period against its manifest. A chain head that is missing
/// from the digests also breaks the chain.
pub async fn verify_store(
    store: &Store,
    keys: &KeyRing,
    org: &OrgId,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
) -> Result<Report, String> {
    let from = match from {
        Some(f) => f,
        None => {
            let days = store
                .org_settings(org)
                .await
                .map_err(|e| e.to_string())?
                .retention_days;
            Timestamp::now().plus_millis(-i64::from(days) * 86_400_000)
        }
    };
    let all = store
        .digests(org, None, None, false, usize::MAX)
        .await
        .map_err(|e| e.to_string())?;
    let mut anchor = Anchor::Genesis;
    let mut periods = Vec::new();
    let mut report = Report::default();
    for (digest, parts) in &all {
        let in_range = digest.period_end > from && to.is_none_or(|t| digest.period_start < t);
        if !in_range {
            if periods.is_empty() && to.is_none_or(|t| digest.period_start < t) {
                anchor = Anchor::After(digest.clone());
            }
            continue;
        }
        let manifest = store
            .digest_manifest(digest, *parts)
            .await
            .unwrap_or_default();
        let events = store
            .period_events(
                org,
                &ExportWindow {
                    from: digest.period_start,
                    to: digest.period_end,
                },
            )
            .await
            .map_err(|e| e.to_string())?;
        report.events += events.len();
        periods.push(PeriodEvidence {
            digest: digest.clone(),
            manifest: Some(manifest),
            events: events
                .iter()
                .map(|e| Observed {
                    id: e.id.clone(),
                    recorded_at: e.recorded_at,
                    hash: event_hash(e),
                    claimed_hash: None,
                })
                .collect(),
        });
    }
    report.periods = periods.len();
    report.findings = verify_chain(&periods, anchor, keys);
    if let Some(head) = store.digest_head(org).await.map_err(|e| e.to_string())? {
        let last = all.last().map(|(d, _)| d);
        if last.is_none_or(|l| l.digest_hash != head.digest_hash) {
            report.findings.push(Finding::ChainBroken {
                period: head.period(),
            });
        }
    }
    Ok(report)
}

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
            let mut ring = KeyRing::default();
            for k in objects.iter().filter(|k| k.starts_with(&keys_dir)) {
                let body = get(s3, bucket, k).await?;
                let view: PublicKeyView = serde_json::from_slice(&body)
                    .map_err(|e| format!("s3://{bucket}/{k} is not a public key: {e}"))?;
                let key = PublicKey::from_base64(&view.public_key)
                    .map_err(|e| format!("s3://{bucket}/{k}: {e}"))?;
                ring.add(key, None);
            }
            ring
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

/// `auditctl verify`'s arguments.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Verify this org's log in the store (or only this org of an export).
    #[arg(long)]
    pub org: Option<String>,
    /// Verify an S3 export instead: s3://bucket/prefix (the destination's prefix).
    #[arg(long)]
    pub s3: Option<String>,
    /// Only periods ending after this time (default: the retention period;
    /// with --s3, the export's first digest file). With --s3 a digest file
    /// must cover it.
    #[arg(long)]
    pub from: Option<String>,
    /// Only periods starting before this time. With --s3 a digest file must
    /// cover it (choose a time at least the export lag plus a period ago).
    #[arg(long)]
    pub to: Option<String>,
    /// A public key (base64, from GET /v1/integrity/public-keys) to accept;
    /// repeat it for every key the periods were signed with. Default: every
    /// registered key (from the service), or for --s3 the export's
    /// digests/public-keys/.
    #[arg(long)]
    pub public_key: Vec<String>,
}

/// Runs `auditctl verify`: prints what was checked and every finding;
/// returns whether everything verified.
pub async fn run(store: &Store, args: VerifyArgs) -> Result<bool, String> {
    let org = args
        .org
        .as_deref()
        .map(|o| OrgId::parse(o).map_err(|e| format!("--org {e}")))
        .transpose()?;
    let time = |flag: &str, v: &Option<String>| {
        v.as_deref()
            .map(|s| Timestamp::parse_lenient(s).map_err(|e| format!("{flag} {e}")))
            .transpose()
    };
    let (from, to) = (time("--from", &args.from)?, time("--to", &args.to)?);
    let pinned = if args.public_key.is_empty() {
        None
    } else {
        let mut ring = KeyRing::default();
        for k in &args.public_key {
            let key = PublicKey::from_base64(k).map_err(|e| format!("--public-key: {e}"))?;
            ring.add(key, None);
        }
        Some(ring)
    };
    let reports = match (&args.s3, org) {
        (Some(url), org) => {
            let (bucket, prefix) = parse_s3_url(url)?;
            let s3 = s3_client().await;
            let range = Span { from, to };
            verify_s3(&s3, &bucket, &prefix, org.as_ref(), pinned.as_ref(), range).await?
        }
        (None, Some(org)) => {
            let ring = match pinned {
                Some(ring) => ring,
                None => keys::ring(&list_signing_keys(store).await?),
            };
            vec![(
                org.clone(),
                verify_store(store, &ring, &org, from, to).await?,
            )]
        }
        (None, None) => return Err("give --org ORG, or --s3 s3://bucket/prefix".into()),
    };
    let mut ok = true;
    for (org, report) in &reports {
        if report.is_ok() {
            println!(
                "OK org {org}: {} periods, {} events verified",
                report.periods, report.events
            );
        } else {
            ok = false;
            println!(
                "FAILED org {org}: {} periods, {} events checked",
                report.periods, report.events
            );
            for line in report.lines() {
                println!("  {line}");
            }
        }
    }
    if reports.is_empty() {
        println!("nothing to verify");
    }
    Ok(ok)
}

async fn s3_client() -> aws_sdk_s3::Client {
    let config = audit_log::aws_config().await;
    let local =
        config.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(local)
            .build(),
    )
}

/// The secrets client and the signing key's secret name, from the environment.
async fn signing_secret() -> (audit_log::secrets::SecretStore, String) {
    let config = audit_log::aws_config().await;
    (
        audit_log::secrets::SecretStore::from_env(&config),
        audit_log::integrity::signing::secret_name_from_env(),
    )
}

/// Creates (and registers) the integrity signing key if it does not exist
/// (`auditctl init`).
pub async fn ensure_signing_key(store: &Store) -> Result<String, String> {
    let (secrets, name) = signing_secret().await;
    let signer = keys::current_signer(&secrets, store, &name)
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!("{name} ({})", signer.key_id()))
}

/// Replaces the signing key (`auditctl signing-key rotate`); digests signed
/// by the old key keep verifying. Returns the old and the new key ids.
pub async fn rotate_signing_key(store: &Store) -> Result<(String, String), String> {
    let (secrets, name) = signing_secret().await;
    keys::rotate(&secrets, store, &name)
        .await
        .map_err(|e| e.to_string())
}

/// Every signing key, oldest first (`auditctl signing-key list`).
pub async fn list_signing_keys(store: &Store) -> Result<Vec<keys::KeyListing>, String> {
    let (secrets, name) = signing_secret().await;
    keys::listing(&secrets, store, &name)
        .await
        .map_err(|e| e.to_string())
}
