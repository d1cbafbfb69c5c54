//! Issue 13, "sealing a large period": the export function's sealing of one
//! org's period of `SEAL_EVENTS` events (see `events()`) stays within
//! `MAX_GROWTH_MIB` of its idle peak RSS, measured as bench figures 5 and 6
//! measure it (VmHWM of a process of its own, `seal-child`, run with the
//! function's default budgets), produces the digest the one-shot reference
//! (`integrity::seal` over the whole manifest in memory) produces on the
//! same events, and does not keep a second org waiting more than one tick.

use audit_domain::integrity::{event_hash, ManifestEntry, Period};
use audit_domain::time::Timestamp;
use audit_log_tests::load::recorded_events;
use audit_log_tests::Stack;
use serde_json::Value;

/// The bound: peak memory above the function's idle RSS.
const MAX_GROWTH_MIB: u64 = 64;

/// Events in the big org's period: 20,000 by default, what loads and seals
/// in about 80 s on DynamoDB Local with a debug build on today's shared
/// 2 cores (50,000 took 204 s: 102 s loading, 94 s sealing over 5 ticks);
/// enough that a seal holding its period in memory (3–5 KB an event) would
/// pass the bound. `SEAL_EVENTS=200000` runs the full size; bench
/// figure 6 runs it in release.
fn events() -> usize {
    std::env::var("SEAL_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

#[tokio::test]
async fn sealing_a_large_period_stays_in_bounded_memory_matches_the_reference_and_lets_others_through(
) {
    let n = events();
    let s = Stack::start_isolated().await;
    let big = s.org("big", false).await;
    let small = s.org("small", false).await;
    let now = Timestamp::now();

    let mut manifest: Vec<ManifestEntry> = Vec::with_capacity(n);
    let loaded = s
        .load_events(recorded_events(&big, "evt_big", 0..n, now).inspect(|e| {
            manifest.push(ManifestEntry {
                id: e.id.clone(),
                hash: event_hash(e),
            })
        }))
        .await;
    assert_eq!(loaded.items, n);
    println!(
        "loaded {n} events in {:.1} s ({:.0} events/s, {} calls, {} retried)",
        loaded.seconds,
        loaded.rate(),
        loaded.calls,
        loaded.retried
    );
    s.load_events(recorded_events(&small, "evt_small", 0..3, now))
        .await;

    let tables = s.store.tables().clone();
    let started = std::time::Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_seal-child"))
            .env("AUDIT_EVENTS_TABLE", &tables.events)
            .env("AUDIT_CONTROL_TABLE", &tables.control)
            // The function's own budgets (tick and per org), not a test's.
            .env_remove("AUDIT_SEAL_BUDGET_SECONDS")
            .env_remove("AUDIT_SEAL_ORG_BUDGET_SECONDS")
            .output()
    })
    .await
    .expect("join")
    .expect("run seal-child");
    assert!(
        out.status.success(),
        "seal-child: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("seal-child's JSON line");
    println!(
        "sealed in {:.1} s ({:.1} s in the child): {v}",
        started.elapsed().as_secs_f64(),
        v["seconds"].as_f64().unwrap_or(f64::NAN)
    );
    assert_eq!(v["errors"], 0, "{v}");
    assert_eq!(v["deferred"], 0, "every period sealed: {v}");
    assert_eq!(v["digests"], 2, "one period per org: {v}");

    let idle = v["vmhwm_kib_before"].as_u64().expect("idle VmHWM");
    let peak = v["vmhwm_kib"].as_u64().expect("peak VmHWM");
    assert!(idle > 0 && peak >= idle, "VmHWM readable: {v}");
    let growth_mib = (peak - idle) / 1024;
    println!("peak RSS {peak} KiB, idle {idle} KiB: +{growth_mib} MiB for {n} events");
    assert!(
        growth_mib < MAX_GROWTH_MIB,
        "sealing {n} events grew the peak RSS by {growth_mib} MiB (bound {MAX_GROWTH_MIB})"
    );

    let at = |org: &audit_domain::ids::OrgId| v["sealed_at_tick"][org.as_str()].as_u64();
    let small_tick = at(&small).expect("the small org is sealed");
    assert!(
        small_tick <= 2,
        "the small org waited {small_tick} ticks behind the big one: {v}"
    );
    assert!(at(&big).is_some(), "{v}");

    let (digest, parts) = s
        .store
        .digests(&big, None, None, false, 2)
        .await
        .expect("digests")
        .into_iter()
        .next()
        .expect("the big org's digest");
    let name = audit_domain::integrity::signing::secret_name_from_env();
    let signer = audit_aws::signing::load(&s.secrets, &name)
        .await
        .expect("signer");
    let reference = audit_log_tests::reference_digest(
        &Period {
            org_id: &big,
            start: digest.period_start,
            end: digest.period_end,
            manifest: &manifest,
        },
        &signer,
    );
    assert_eq!(digest.event_count, n as u64);
    assert_eq!(digest.events_hash, reference.events_hash);
    assert_eq!(digest.digest_hash, reference.digest_hash);
    assert_eq!(
        parts as usize,
        n.div_ceil(audit_aws::store::MANIFEST_PART_LEN)
    );
    assert!(
        s.store
            .digest_manifest(&digest, parts)
            .await
            .expect("manifest")
            == manifest,
        "the stored manifest is the events' own"
    );
}
