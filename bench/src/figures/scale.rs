//! Figure 6 (issue 13): the costs that must not grow with an org's history
//! or a period's size: a tick's reads over a year of hourly digests,
//! sealing's peak memory, and a large download's part sizes.

use crate::*;
use audit_log_tests::load::Loaded;

const HOUR_MS: i64 = 3_600_000;
const ORGS: usize = 100;

pub async fn fig_scale(run: &mut Run, s: &Stack) {
    fig_tick(run, s).await;
    sealing(run, s).await;
    download(run, s).await;
}

/// An isolated store (its own tables): the tick reads every org of its table.
async fn isolated(s: &Stack) -> Stack {
    let config = audit_aws::aws_config().await;
    let tag = ulid::Ulid::new().to_string().to_lowercase();
    let store = Store::new(
        aws_sdk_dynamodb::Client::new(&config),
        audit_aws::store::Tables {
            events: format!("scale-{tag}-events"),
            control: format!("scale-{tag}-control"),
        },
    );
    store.ensure_tables().await.expect("create tables");
    Stack {
        base: s.base.clone(),
        queue: s.queue.clone(),
        store,
        secrets: s.secrets.clone(),
        http: s.http.clone(),
    }
}

/// Orgs whose histories load at once (each with the loader's own
/// BatchWriteItem calls in flight).
const ORGS_AT_ONCE: usize = 4;

/// One tick's read units over `ORGS` orgs with `digests` hourly digests
/// each, and what loading them took.
async fn tick_reads(s: &Stack, digests: i64) -> (f64, Loaded) {
    let s = isolated(s).await;
    let now = Timestamp::now();
    let orgs: Vec<OrgId> = futures::future::join_all((0..ORGS).map(|_| s.org("tick", false))).await;
    let started = Instant::now();
    let mut loaded = stream::iter(orgs.iter())
        .map(|o| s.load_digest_history(o, digests, HOUR_MS, now))
        .buffer_unordered(ORGS_AT_ONCE)
        .fold(Loaded::default(), |mut all, one| async move {
            all.add(one);
            all
        })
        .await;
    loaded.seconds = started.elapsed().as_secs_f64();
    let app = s.exporter(audit_log_tests::sealing_config(HOUR_MS)).await;
    let before = s.store.read_units_consumed();
    let report = export::schedule(&app, now).await;
    assert_eq!(report.errors, 0, "{report:?}");
    assert_eq!(report.seal.orgs, ORGS, "every org is visited: {report:?}");
    assert_eq!(report.seal.digests, 0, "nothing left to seal: {report:?}");
    (s.store.read_units_consumed() - before, loaded)
}

/// Hourly digests per org for the long history: a year, or `SCALE_DIGESTS`
/// when set (a smaller run when a year does not fit), a week under QUICK.
fn long_history(quick: bool) -> (i64, String) {
    if let Some(n) = std::env::var("SCALE_DIGESTS")
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|n| *n > 0)
    {
        return (n, format!("{n} hours (SCALE_DIGESTS; full: a year)"));
    }
    if quick {
        (24 * 7, "a week (QUICK; full: a year)".into())
    } else {
        (8_760, "a year".into())
    }
}

async fn fig_tick(run: &mut Run, s: &Stack) {
    let (long, label) = long_history(run.quick);
    let (day, _) = tick_reads(s, 24).await;
    let (many, loaded) = tick_reads(s, long).await;
    run.rows.push(Row::num(
        &format!("6. Scale: read units of one tick over {ORGS} orgs with {label} of hourly digests ({long} each, {} items), vs with one day (24 each)", loaded.items),
        many,
        day,
        "RU",
        &cmd("scale"),
    ));
    run.notes.push(format!(
        "Figure 6: the {long}-digest history ({} items) took {:.0} s to load: {:.0} items/s (`audit_log_tests::load`: BatchWriteItem of 25, {} calls in flight per org, {ORGS_AT_ONCE} orgs at once; {} calls, {} items retried as unprocessed); goal ratio ≤ 1.1.",
        loaded.items,
        loaded.seconds,
        loaded.rate(),
        audit_log_tests::load::IN_FLIGHT,
        loaded.calls,
        loaded.retried,
    ));
}

/// One sealing run over a day-long period of `n` events, in a child process (`seal-child`, one pass with
/// hour-long budgets): (seconds, peak RSS in KiB, load rate in events/s).
async fn seal_run(run: &Run, s: &Stack, n: usize) -> Result<(f64, u64, f64), String> {
    let st = isolated(s).await;
    let org = st.org("seal", false).await;
    let mut start = 0;
    let mut loaded = Loaded::default();
    while start < n {
        let end = (start + 10_000).min(n);
        let chunk = items(&org, "evt_s", start..end, |_| None);
        let one = load(&st, chunk.into_iter().map(|(_, item)| item).collect()).await;
        loaded.add(one);
        loaded.seconds += one.seconds;
        start = end;
    }
    let child = run.root.join("target").join("release").join("seal-child");
    let tables = st.store.tables().clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&child)
            .env("AUDIT_EVENTS_TABLE", &tables.events)
            .env("AUDIT_CONTROL_TABLE", &tables.control)
            // One pass: the whole period in one tick.
            .env("AUDIT_SEAL_BUDGET_SECONDS", "3600")
            .env("AUDIT_SEAL_ORG_BUDGET_SECONDS", "3600")
            .output()
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("seal-child: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "seal-child exited {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let v: Value =
        serde_json::from_str(line.trim()).map_err(|e| format!("seal-child said {line:?}: {e}"))?;
    if v["digests"] != 1 || v["errors"] != 0 || v["deferred"] != 0 || v["ticks"] != 1 {
        return Err(format!(
            "seal-child sealed {v} (expected one digest in one tick)"
        ));
    }
    Ok((
        v["seconds"].as_f64().unwrap_or(f64::NAN),
        v["vmhwm_kib"].as_u64().unwrap_or(0),
        loaded.rate(),
    ))
}

async fn sealing(run: &mut Run, s: &Stack) {
    let (small, large) = if run.quick {
        (2_000, 20_000)
    } else {
        (10_000, 200_000)
    };
    let quick = if run.quick {
        " (QUICK; full: 10k and 200k)"
    } else {
        ""
    };
    let mut got = Vec::new();
    for n in [small, large] {
        match seal_run(run, s, n).await {
            Ok(r) => got.push(r),
            Err(e) => {
                run.notes
                    .push(format!("Figure 6: sealing {n} events failed: {e}"));
                return;
            }
        }
    }
    let (small_s, small_kib, _) = got[0];
    let (large_s, large_kib, load_rate) = got[1];
    run.notes.push(format!(
        "Figure 6: the {large} events of the large period loaded at {load_rate:.0} events/s (`audit_log_tests::load`, the store's own event items)."
    ));
    run.rows.push(Row::num(
        &format!("6. Scale: sealing's peak RSS (VmHWM of its own process), one period of {large} events, vs of {small} events{quick}"),
        large_kib as f64 / 1024.0,
        small_kib as f64 / 1024.0,
        "MiB",
        &cmd("scale"),
    ));
    let per_100k = |secs: f64, n: usize| secs * 100_000.0 / n as f64;
    run.rows.push(Row::num(
        &format!("6. Scale: sealing seconds per 100,000 events, one period of {large} events, vs of {small} events{quick}"),
        per_100k(large_s, large),
        per_100k(small_s, small),
        "s",
        &cmd("scale"),
    ));
}

async fn download(run: &mut Run, s: &Stack) {
    let n = if run.quick { 10_000 } else { 20_000 };
    let quick = if run.quick {
        " (QUICK; full: 20,000)"
    } else {
        ""
    };
    let org = s.org("bench-download", false).await;
    let (admin, _) = s.key(&org, Role::Admin).await;
    let mut start = 0;
    while start < n {
        let end = (start + 10_000).min(n);
        let chunk = items(&org, "evt_d", start..end, |_| None);
        load(s, chunk.into_iter().map(|(_, item)| item).collect()).await;
        start = end;
    }
    let started = Instant::now();
    let (mut parts, mut events, mut largest) = (0usize, 0usize, 0usize);
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{}/v1/events?format=ndjson", s.base);
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let r = s
            .http
            .get(url)
            .bearer_auth(&admin)
            .send()
            .await
            .expect("GET download part");
        let status = r.status().as_u16();
        let next = r
            .headers()
            .get("x-next-cursor")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = r.bytes().await.expect("body");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        parts += 1;
        largest = largest.max(body.len());
        events += body
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count();
        match next {
            Some(c) if parts < 1_000 => cursor = Some(c),
            _ => break,
        }
    }
    let took = started.elapsed().as_secs_f64();
    if events != n {
        run.notes.push(format!(
            "Figure 6: the download returned {events} of {n} events in {parts} parts."
        ));
    }
    run.rows.push(Row::num(
        &format!("6. Scale: largest part of a {n}-event NDJSON download in parts (x-next-cursor; {parts} parts), vs Lambda's 6 MB response limit{quick}"),
        largest as f64,
        6_000_000.0,
        "B",
        &cmd("scale"),
    ));
    run.rows.push(Row {
        figure: format!("6. Scale: events per second of that download, all {parts} parts{quick}"),
        ours: format!("{:.0} events/s", events as f64 / took),
        baseline: "–".into(),
        ratio: "–".into(),
        command: cmd("scale"),
    });
}
