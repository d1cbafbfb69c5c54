//! Sealing integrity digests on the scheduler's tick: for each org, every
//! closed period after its chain head (or from the period of its first
//! event), in order, each chained to the one before. S3 destinations of the
//! org also get each digest file, and the public key that signed it,
//! beside their events. Each checkpoint that grew the org's tree is also
//! published outside the store: to the stage's Object Lock bucket
//! (`AUDIT_CHECKPOINT_BUCKET`) and beside the digest files of those S3
//! exports.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use audit_aws::signing::current_signer;
use audit_aws::store::{SealProgress, MANIFEST_PART_LEN};
use audit_destinations::DestinationSpec;
use audit_domain::export::ExportWindow;
use audit_domain::ids::OrgId;
use audit_domain::integrity::signing::secret_name_from_env;
use audit_domain::integrity::{
    checkpoint_object_key, digest_object_key, event_hash, period_containing, public_key_object_key,
    seal_with_tree, Digest, EventsHasher, ManifestEntry, Signer,
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
    /// Orgs whose sealing stopped at its time budget (resumed next tick),
    /// or that the tick's budget did not reach.
    pub deferred: usize,
}

/// How one org's sealing ended.
enum OrgSeal {
    /// Caught up (or at `MAX_PERIODS_PER_TICK`).
    Done(usize),
    /// Stopped at its time budget; resumes next tick where it stopped.
    OutOfTime(usize),
}

/// One sealing pass, within the tick's sealing budget
/// (`ExportConfig::seal_budget_ms` from now).
pub async fn seal(app: &ExportApp, now: Timestamp) -> SealReport {
    let budget = Duration::from_millis(app.config.seal_budget_ms);
    seal_until(app, now, Instant::now() + budget).await
}

/// One sealing pass that ends by `deadline` (the invocation's, less a
/// margin). A period is closed when its end is more than the export lag
/// before `now`, the same settling time export windows get. Orgs are taken
/// in an order that rotates every tick, each with at most
/// `seal_org_budget_ms`: one org's size or failure never keeps the others
/// from being sealed.
pub async fn seal_until(app: &ExportApp, now: Timestamp, deadline: Instant) -> SealReport {
    let mut report = SealReport::default();
    let mut orgs = match app.store.integrity_orgs().await {
        Ok(orgs) => orgs,
        Err(e) => {
            tracing::error!(error = %e, "listing orgs to seal failed");
            report.errors += 1;
            return report;
        }
    };
    if !orgs.is_empty() {
        let tick = now.millis().div_euclid(60_000);
        let first = usize::try_from(tick.rem_euclid(orgs.len() as i64)).unwrap_or(0);
        orgs.rotate_left(first);
    }
    let org_budget = Duration::from_millis(app.config.seal_org_budget_ms);
    let mut signer: Option<Signer> = None;
    for org in orgs {
        report.orgs += 1;
        let started = Instant::now();
        if started >= deadline {
            report.deferred += 1;
            continue;
        }
        let org_deadline = deadline.min(started + org_budget);
        match seal_org(app, &org, now, org_deadline, &mut signer).await {
            Ok(OrgSeal::Done(n)) => report.digests += n,
            Ok(OrgSeal::OutOfTime(n)) => {
                report.digests += n;
                report.deferred += 1;
                tracing::info!(org = %org, digests = n, "sealing reached its time budget; resuming next tick");
            }
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
        deferred = report.deferred,
        "sealed"
    );
    report
}

async fn seal_org(
    app: &ExportApp,
    org: &OrgId,
    now: Timestamp,
    deadline: Instant,
    signer: &mut Option<Signer>,
) -> Result<OrgSeal, String> {
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
            None => return Ok(OrgSeal::Done(0)),
        },
    };
    if start.millis() + period_ms >= closed_until {
        return Ok(OrgSeal::Done(0));
    }
    let mut progress = app
        .store
        .sealing_progress(org)
        .await
        .map_err(|e| e.to_string())?;
    let retention_days = app
        .store
        .org_settings(org)
        .await
        .map_err(|e| e.to_string())?
        .retention_days;
    let mut sealed = 0;
    let mut tree: Option<crate::tree::OrgTree> = None;
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
        // Digests, parts and progress expire with the events they cover.
        let expires_at = end.epoch_seconds() + retention_days.seconds();
        if tree.is_none() {
            tree = Some(crate::tree::open(app, org, head.as_ref(), signer).await?);
        }
        let Some(tree) = tree.as_mut() else {
            return Err("no tree".into());
        };
        let resume = progress.take().filter(|p| p.period_start == start);
        if sealed == 0 {
            // Free-text search trusts the summaries from the first period
            // sealed whole with them (0: the org's first period).
            let from_ms = match (&head, &resume) {
                (_, Some(p)) if p.parts > 0 => end.millis(),
                (None, _) => 0,
                (Some(_), _) => start.millis(),
            };
            app.store
                .mark_terms_from(org, from_ms)
                .await
                .map_err(|e| e.to_string())?;
        }
        let Some((hasher, parts)) =
            hash_period(app, org, start, end, resume, deadline, expires_at, tree).await?
        else {
            return Ok(OrgSeal::OutOfTime(sealed));
        };
        let (size, root, note) = tree.finish_period(app, org, signer).await?;
        // An empty period signs the same tree again: published once.
        let grew = head
            .as_ref()
            .and_then(|h| h.tree_size)
            .is_none_or(|before| size > before);
        let digest = seal_with_tree(
            org,
            start,
            end,
            hasher,
            head.as_ref(),
            Some((size, root)),
            signer,
        );
        if !app
            .store
            .put_sealed(&digest, parts, head.as_ref(), expires_at, Some(&note))
            .await
            .map_err(|e| e.to_string())?
        {
            tracing::warn!(org = %org, "another sealer moved the chain head; stopping for this tick");
            break;
        }
        let checkpoint = grew.then_some((size, note.as_str()));
        if let (Some(bucket), Some(checkpoint)) = (&app.config.checkpoint_bucket, checkpoint) {
            publish_checkpoint(app, bucket, org, signer, checkpoint).await;
        }
        if s3_targets.is_none() {
            s3_targets = Some(s3_targets_of(app, org).await);
        }
        for (id, settings, enabled_at) in s3_targets.iter().flatten() {
            if *enabled_at <= digest.period_start {
                write_files(app, id, settings, signer, &digest, parts, checkpoint).await;
            }
        }
        head = Some(digest);
        start = end;
        sealed += 1;
        if Instant::now() >= deadline {
            return Ok(OrgSeal::OutOfTime(sealed));
        }
    }
    Ok(OrgSeal::Done(sealed))
}

/// Reads the period `(start, end]` one manifest part's worth of events at a
/// time, hashing each event and writing each part as it fills, so memory
/// holds one page whatever the period's size. Resumes after `resume`'s
/// parts (re-hashing them from the store). Returns `None` when `deadline`
/// passed first, after recording how far it got.
#[allow(clippy::too_many_arguments)] // one period's seal: each is a different input
async fn hash_period(
    app: &ExportApp,
    org: &OrgId,
    start: Timestamp,
    end: Timestamp,
    resume: Option<SealProgress>,
    deadline: Instant,
    expires_at: i64,
    tree: &mut crate::tree::OrgTree,
) -> Result<Option<(EventsHasher, u32)>, String> {
    let mut hasher = EventsHasher::new();
    let mut parts = 0usize;
    let mut after: Option<String> = None;
    // The tree as the period found it, should the period start over.
    let at_start = tree.builder.clone();
    if let Some(p) = resume {
        for n in 0..p.parts as usize {
            let Some(entries) = app
                .store
                .manifest_part(org, start, n)
                .await
                .map_err(|e| e.to_string())?
            else {
                // A part went missing: start the period again.
                tracing::warn!(org = %org, part = n, "sealing progress without its part; sealing the period from its start");
                tracing::warn!(org = %org, part = n, "sealing progress without its part; sealing the period from its start");
                tree.builder = at_start;
                return Box::pin(hash_period(
                    app, org, start, end, None, deadline, expires_at, tree,
                ))
                .await;
            };
            for e in &entries {
                hasher.push(&e.hash);
                tree.push(&e.hash)?;
            }
        }
        parts = p.parts as usize;
        after = Some(p.resume_after);
    }
    let window = ExportWindow {
        from: start,
        to: end,
    };
    loop {
        let page = app
            .store
            .window_events(org, &window, after.as_deref(), MANIFEST_PART_LEN)
            .await
            .map_err(|e| e.to_string())?;
        let manifest: Vec<ManifestEntry> = page
            .events
            .iter()
            .map(|e| ManifestEntry {
                id: e.id.clone(),
                hash: event_hash(e),
            })
            .collect();
        if !page.events.is_empty() {
            app.store
                .put_term_summaries(org, start, parts, &page.events, expires_at)
                .await
                .map_err(|e| e.to_string())?;
        }
        drop(page.events);
        for e in &manifest {
            hasher.push(&e.hash);
            tree.push(&e.hash)?;
        }
        tree.write_full(app, org).await?;
        if !manifest.is_empty() {
            app.store
                .put_manifest_part(org, start, parts, &manifest, expires_at)
                .await
                .map_err(|e| e.to_string())?;
            parts += 1;
        }
        let Some(next) = page.resume_after else {
            let parts = u32::try_from(parts).map_err(|_| "too many manifest parts".to_string())?;
            return Ok(Some((hasher, parts)));
        };
        if manifest.len() != MANIFEST_PART_LEN {
            // Only full parts may be resumed after; window_events fills
            // pages to the limit, so this is not expected.
            return Err(format!(
                "a page of {} events where {MANIFEST_PART_LEN} were asked",
                manifest.len()
            ));
        }
        if Instant::now() >= deadline {
            let progress = SealProgress {
                period_start: start,
                parts: u32::try_from(parts).map_err(|_| "too many manifest parts".to_string())?,
                resume_after: next,
            };
            app.store
                .put_sealing_progress(org, &progress, expires_at)
                .await
                .map_err(|e| e.to_string())?;
            return Ok(None);
        }
        after = Some(next);
    }
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

/// Publishes a checkpoint `(size, note)` to the stage's Object Lock bucket,
/// where it cannot be deleted or overwritten for the bucket's retention, by
/// the operator either: the record `auditctl verify --org --published`
/// holds the store to. A failed write is logged; the next checkpoint that
/// is published extends this one, so the evidence is only coarser.
/// The public key that signed it goes beside it (`digests/public-keys/`,
/// as in an S3 export) once per process, org and key, so `verify
/// --published` can take its keys from the same locked place.
async fn publish_checkpoint(
    app: &ExportApp,
    bucket: &str,
    org: &OrgId,
    signer: &Signer,
    checkpoint: (u64, &str),
) {
    let settings = s3::Settings {
        bucket: bucket.to_string(),
        prefix: String::new(),
        region: None,
        role_arn: None,
    };
    let published = (bucket.to_string(), org.clone(), signer.key_id().to_string());
    let key_known = published_keys().contains(&published);
    let mut objects = Vec::with_capacity(2);
    if !key_known {
        objects.push(public_key_object("", org, signer));
    }
    objects.push(checkpoint_object("", org, checkpoint));
    let mut all_delivered = true;
    for (key, outcome) in put_objects(app, &settings, org, objects).await {
        if !outcome.is_delivered() {
            all_delivered = false;
            tracing::error!(org = %org, key, outcome = ?outcome, "publishing a checkpoint failed");
        }
    }
    if !key_known && all_delivered {
        published_keys().insert(published);
    }
}

/// An object for `put_objects`: its key, body and content type.
type Object = (String, Vec<u8>, &'static str);

/// The public half of `signer` at its place under `prefix`.
fn public_key_object(prefix: &str, org: &OrgId, signer: &Signer) -> Object {
    let view = serde_json::to_vec_pretty(&signer.public_key().view()).unwrap_or_default();
    (
        public_key_object_key(prefix, org, signer.key_id()),
        view,
        "application/json",
    )
}

/// The signed note of the checkpoint `(size, note)` at its place under `prefix`.
fn checkpoint_object(prefix: &str, org: &OrgId, (size, note): (u64, &str)) -> Object {
    (
        checkpoint_object_key(prefix, org, size),
        note.as_bytes().to_vec(),
        CHECKPOINT_TYPE,
    )
}

/// PUTs each object to the bucket of `settings`, never over one already
/// there; returns each key with its outcome.
async fn put_objects(
    app: &ExportApp,
    settings: &s3::Settings,
    org: &OrgId,
    objects: Vec<Object>,
) -> Vec<(String, audit_domain::export::outcome::Outcome)> {
    let mut outcomes = Vec::with_capacity(objects.len());
    for (key, body, content_type) in objects {
        let outcome = app
            .deliverer
            .put_s3_object(settings, org, &key, body, content_type)
            .await;
        outcomes.push((key, outcome));
    }
    outcomes
}

/// (bucket, org, key id) of the public keys this process has published.
fn published_keys() -> std::sync::MutexGuard<'static, BTreeSet<(String, OrgId, String)>> {
    static PUBLISHED: Mutex<BTreeSet<(String, OrgId, String)>> = Mutex::new(BTreeSet::new());
    PUBLISHED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A checkpoint object's content type: the C2SP signed note, as text.
const CHECKPOINT_TYPE: &str = "text/plain; charset=utf-8";

/// Writes the digest file (the digest and its manifest, read back part by
/// part from the store), the public key and, when the tree grew, the
/// checkpoint beside an S3 export. The file's body is held whole to be
/// uploaded: about 95 bytes per event.
async fn write_files(
    app: &ExportApp,
    destination: &str,
    settings: &s3::Settings,
    signer: &Signer,
    digest: &Digest,
    parts: u32,
    checkpoint: Option<(u64, &str)>,
) {
    let prefix = &settings.prefix;
    let org = &digest.org_id;
    let body = match digest_file_body(app, digest, parts).await {
        Ok(body) => body,
        Err(e) => {
            tracing::warn!(destination, error = %e, "reading a manifest for its digest file failed");
            return;
        }
    };
    let mut objects = vec![
        public_key_object(prefix, org, signer),
        (digest_object_key(prefix, digest), body, "application/json"),
    ];
    objects.extend(checkpoint.map(|c| checkpoint_object(prefix, org, c)));
    for (key, outcome) in put_objects(app, settings, org, objects).await {
        if !outcome.is_delivered() {
            tracing::warn!(destination, key, outcome = ?outcome, "writing a digest file failed");
        }
    }
}

/// A `DigestFile`'s JSON (the digest's fields and `events`), built one
/// manifest part at a time rather than from a whole manifest in memory.
async fn digest_file_body(app: &ExportApp, digest: &Digest, parts: u32) -> Result<Vec<u8>, String> {
    let mut body = serde_json::to_vec(digest).map_err(|e| e.to_string())?;
    if body.pop() != Some(b'}') {
        return Err("a digest serialized to something other than an object".into());
    }
    body.extend_from_slice(b",\"events\":[");
    let mut first = true;
    for n in 0..parts as usize {
        let entries = app
            .store
            .manifest_part(&digest.org_id, digest.period_start, n)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("manifest part {n} of {} is missing", digest.period()))?;
        for e in &entries {
            if !first {
                body.push(b',');
            }
            first = false;
            serde_json::to_writer(&mut body, e).map_err(|e| e.to_string())?;
        }
    }
    body.extend_from_slice(b"]}");
    Ok(body)
}
