//! `auditctl verify`: recompute every event hash, period and signature and
//! say exactly what broke, either from the service's store (`--org`) or,
//! offline from the service, from an S3 export (`--s3`).

mod published;
pub mod receipt;
mod s3;

use audit_aws::store::Store;
use audit_domain::export::ExportWindow;
use audit_domain::ids::OrgId;
use audit_domain::integrity::{
    event_hash, public_keys_prefix, verify_chain, Anchor, Finding, KeyRing, Observed,
    PeriodEvidence, PublicKey,
};
use audit_domain::time::Timestamp;

pub use published::verify_published;
pub use s3::{parse_s3_url, verify_s3};

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
    /// The end of the org's last digest in the store (all of them, not
    /// only the range checked).
    pub last_sealed: Option<Timestamp>,
    /// Published checkpoints (object versions) checked against the store.
    pub published: usize,
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
            Timestamp::now().plus_millis(-days.seconds() * 1000)
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
    report.last_sealed = all.last().map(|(d, _)| d.period_end);
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

/// `verify_store` from `from` up to now, plus coverage and freshness:
/// every event recorded before `sealed_by` must be in a digest.
pub async fn verify_store_sealed_by(
    store: &Store,
    keys: &KeyRing,
    org: &OrgId,
    from: Option<Timestamp>,
    sealed_by: Timestamp,
) -> Result<Report, String> {
    let mut report = verify_store(store, keys, org, from, None).await?;
    let late = unsealed(store, org, report.last_sealed, sealed_by).await?;
    report.findings.extend(late);
    Ok(report)
}

/// Events after the last digest (`last_sealed`, `None` when there is none)
/// and before `sealed_by` mean the digests that held them were deleted, or
/// sealing stalled. One read of at most one event: normally there is none.
async fn unsealed(
    store: &Store,
    org: &OrgId,
    last_sealed: Option<Timestamp>,
    sealed_by: Timestamp,
) -> Result<Option<Finding>, String> {
    let from = last_sealed.unwrap_or(Timestamp::from_millis(0).map_err(|e| e.to_string())?);
    if from >= sealed_by {
        return Ok(None);
    }
    let page = store
        .window_events(
            org,
            &ExportWindow {
                from,
                to: sealed_by,
            },
            None,
            1,
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(page.events.into_iter().next().map(|e| Finding::Unsealed {
        after: last_sealed,
        until: sealed_by,
        first: e.id,
    }))
}

/// When every period should be sealed by, as the scheduler is set
/// (`AUDIT_EXPORT_LAG_SECONDS`, `AUDIT_DIGEST_PERIOD_SECONDS`): a period is
/// sealed once closed for the lag, and the current one may still be open.
pub fn sealed_by_now() -> Timestamp {
    let lag = export::ExportConfig::from_env().lag_ms;
    let period = audit_domain::integrity::period_ms_from_env();
    Timestamp::now().plus_millis(-(lag + period))
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
    /// digests/public-keys/, or with --published the keys published there.
    #[arg(long)]
    pub public_key: Vec<String>,
    /// Check a saved receipt (GET /v1/events/{id}/proof's answer) offline,
    /// against the --public-key keys (at least one is required).
    #[arg(long)]
    pub receipt: Option<std::path::PathBuf>,
    /// With --org: also hold the store's log to the checkpoints published
    /// at s3://bucket[/prefix] (the stage's `CheckpointBucket`, or an S3
    /// export's prefix): each must be signed by a pinned key and be in the
    /// store's tree. Catches a history rebuilt with the real key.
    #[arg(long, requires = "org", conflicts_with = "s3")]
    pub published: Option<String>,
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
    if let Some(path) = &args.receipt {
        let Some(keys) = pinned else {
            return Err("--receipt needs --public-key: a receipt is only as good as the key it is checked with".into());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--receipt {}: {e}", path.display()))?;
        return match receipt::check(&text, &keys) {
            Ok(p) => {
                println!(
                    "OK receipt: leaf {} of {}'s tree of {} events, checkpoint signed by a pinned key",
                    p.leaf_index, p.origin, p.tree_size
                );
                Ok(true)
            }
            Err(why) => {
                println!("FAILED receipt: {why}");
                Ok(false)
            }
        };
    }
    let reports = match (&args.s3, org) {
        (Some(url), org) => {
            let (bucket, prefix) = parse_s3_url(url)?;
            let s3 = s3_client().await;
            let range = Span { from, to };
            verify_s3(&s3, &bucket, &prefix, org.as_ref(), pinned.as_ref(), range).await?
        }
        (None, Some(org)) => {
            let published = match &args.published {
                Some(url) => Some((parse_s3_url(url)?, s3_client().await)),
                None => None,
            };
            let ring = match (pinned, &published) {
                (Some(ring), _) => ring,
                (None, Some(((bucket, prefix), s3))) => {
                    eprintln!("auditctl: checking with the public keys published beside the checkpoints (s3://{bucket}/{})", public_keys_prefix(prefix, &org));
                    s3::published_ring(s3, bucket, prefix, &org).await?
                }
                (None, None) => {
                    eprintln!("auditctl: checking with the keys of the service's own registry; pin them with --public-key for a check that someone with table access cannot pass");
                    audit_aws::signing::ring(&crate::signing_key::list(store).await?)
                }
            };
            let mut report = match to {
                Some(_) => verify_store(store, &ring, &org, from, to).await?,
                None => verify_store_sealed_by(store, &ring, &org, from, sealed_by_now()).await?,
            };
            if let Some(((bucket, prefix), s3)) = &published {
                let (checked, findings) =
                    verify_published(s3, bucket, prefix, store, &ring, &org).await?;
                report.published = checked;
                report.findings.extend(findings);
            }
            vec![(org.clone(), report)]
        }
        (None, None) => return Err("give --org ORG, or --s3 s3://bucket/prefix".into()),
    };
    let mut ok = true;
    for (org, report) in &reports {
        if report.is_ok() {
            println!(
                "OK org {org}: {} periods, {} events verified{}",
                report.periods,
                report.events,
                published_note(report.published)
            );
        } else {
            ok = false;
            println!(
                "FAILED org {org}: {} periods, {} events checked{}",
                report.periods,
                report.events,
                published_note(report.published)
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

fn published_note(n: usize) -> String {
    match n {
        0 => String::new(),
        1 => ", 1 published checkpoint".into(),
        n => format!(", {n} published checkpoints"),
    }
}

async fn s3_client() -> aws_sdk_s3::Client {
    let config = audit_aws::aws_config().await;
    let local =
        config.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(local)
            .build(),
    )
}
