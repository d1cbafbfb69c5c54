//! Sealing integrity digests on the scheduler's tick: for each org, every
//! closed period after its chain head (or from the period of its first
//! event), in order, each chained to the one before. S3 destinations of the
//! org also get each digest file, and the public key that signed it,
//! beside their events.

use audit_aws::signing::current_signer;
use audit_destinations::DestinationSpec;
use audit_domain::ids::OrgId;
use audit_domain::integrity::signing::secret_name_from_env;
use audit_domain::integrity::{
    digest_object_key, event_hash, period_containing, public_key_object_key, seal as seal_period,
    Digest, DigestFile, ManifestEntry, Period, Signer,
};
use audit_domain::time::Timestamp;
use {
    audit_destinations::s3, audit_destinations::DestinationSettings, audit_destinations::Format,
    audit_domain::export::DestinationFilter,
};

use crate::ExportApp;

/// Most periods one org gets sealed per tick (catching up after downtime).
pub const MAX_PERIODS_PER_TICK: usize = 48;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SealReport {
    pub orgs: usize,
    pub digests: usize,
    pub errors: usize,
}

/// One sealing pass. A period is closed when its end is more than the
/// export lag before `now`, the same settling time export windows get.
pub async fn seal(app: &ExportApp, now: Timestamp) -> SealReport {
    let mut report = SealReport::default();
    let orgs = match app.store.integrity_orgs().await {
        Ok(orgs) => orgs,
        Err(e) => {
            tracing::error!(error = %e, "listing orgs to seal failed");
            report.errors += 1;
            return report;
        }
    };
    let mut signer: Option<Signer> = None;
    for org in orgs {
        report.orgs += 1;
        match seal_org(app, &org, now, &mut signer).await {
            Ok(n) => report.digests += n,
            Err(e) => {
                tracing::error!(org = %org, error = %e, "sealing failed");
                report.errors += 1;
            }
        }
    }
    tracing::info!(
        job = "seal",
        orgs = report.orgs,
        digests = report.digests,
        errors = report.errors,
        "sealed"
    );
    report
}

async fn seal_org(
    app: &ExportApp,
    org: &OrgId,
    now: Timestamp,
    signer: &mut Option<Signer>,
) -> Result<usize, String> {
    let period_ms = app.config.digest_period_ms.max(1);
    let closed_until = now.plus_millis(-app.config.lag_ms).millis();
    let mut head = app
        .store
        .digest_head(org)
        .await
        .map_err(|e| e.to_string())?;
    let mut start = match &head {
        Some(h) => h.period_end,
        None => match app
            .store
            .first_recorded_at(org)
            .await
            .map_err(|e| e.to_string())?
        {
            Some(first) => period_containing(first, period_ms).0,
            None => return Ok(0),
        },
    };
    let mut sealed = 0;
    let mut s3_targets: Option<Vec<(String, s3::Settings, Timestamp)>> = None;
    while sealed < MAX_PERIODS_PER_TICK && start.millis() + period_ms < closed_until {
        let end = start.plus_millis(period_ms);
        if signer.is_none() {
            let name = secret_name_from_env();
            *signer = Some(
                current_signer(&app.secrets, &app.store, &name)
                    .await
                    .map_err(|e| e.to_string())?,
            );
        }
        let Some(signer) = signer.as_ref() else {
            return Err("no signing key".into());
        };
        let events = app
            .store
            .period_events(
                org,
                &audit_domain::export::ExportWindow {
                    from: start,
                    to: end,
                },
            )
            .await
            .map_err(|e| e.to_string())?;
        let manifest: Vec<ManifestEntry> = events
            .iter()
            .map(|e| ManifestEntry {
                id: e.id.clone(),
                hash: event_hash(e),
            })
            .collect();
        let digest = seal_period(
            &Period {
                org_id: org,
                start,
                end,
                manifest: &manifest,
            },
            head.as_ref(),
            signer,
        );
        if !app
            .store
            .put_digest(&digest, &manifest, head.as_ref())
            .await
            .map_err(|e| e.to_string())?
        {
            tracing::warn!(org = %org, "another sealer moved the chain head; stopping for this tick");
            break;
        }
        if s3_targets.is_none() {
            s3_targets = Some(s3_targets_of(app, org).await);
        }
        for (id, settings, enabled_at) in s3_targets.iter().flatten() {
            if *enabled_at <= digest.period_start {
                write_files(app, id, settings, signer, &digest, &manifest).await;
            }
        }
        head = Some(digest);
        start = end;
        sealed += 1;
    }
    Ok(sealed)
}

/// The org's enabled S3 destinations that receive every event in the native
/// format: only there can an export be checked against a digest.
async fn s3_targets_of(app: &ExportApp, org: &OrgId) -> Vec<(String, s3::Settings, Timestamp)> {
    let destinations = match app.store.list_destinations::<DestinationSpec>(org).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(org = %org, error = %e, "listing destinations for digest files failed");
            return Vec::new();
        }
    };
    destinations
        .into_iter()
        .filter(|d| {
            d.enabled
                && d.spec.format == Format::Json
                && d.spec.filter == DestinationFilter::default()
        })
        .filter_map(|d| match d.spec.settings {
            DestinationSettings::S3(settings) => Some((d.id, settings, d.enabled_at?)),
            _ => None,
        })
        .collect()
}

async fn write_files(
    app: &ExportApp,
    destination: &str,
    settings: &s3::Settings,
    signer: &Signer,
    digest: &Digest,
    manifest: &[ManifestEntry],
) {
    let prefix = &settings.prefix;
    let public = serde_json::to_vec_pretty(&signer.public_key().view()).unwrap_or_default();
    let file = DigestFile {
        digest: digest.clone(),
        events: manifest.to_vec(),
    };
    let body = serde_json::to_vec(&file).unwrap_or_default();
    for (key, body) in [
        (
            public_key_object_key(prefix, &digest.org_id, signer.key_id()),
            public,
        ),
        (digest_object_key(prefix, digest), body),
    ] {
        let outcome = app
            .deliverer
            .put_s3_object(settings, &digest.org_id, &key, body, "application/json")
            .await;
        if !outcome.is_delivered() {
            tracing::warn!(destination, key, outcome = ?outcome, "writing a digest file failed");
        }
    }
}
