//! Figure 7 (issue 12): a healthy org's delivery delay while other orgs'
//! destinations fail, and the queue's depth after the outage. Per-destination
//! backpressure keeps one job per failing destination on the queue, so the
//! worker's batches are not spent on their retries.
//!
//! Each round stands for a scheduler tick: the failing orgs send events,
//! the healthy org sends events, one `export::schedule`, then the worker
//! polls until the healthy round has arrived. Delay = the healthy org's
//! ingest → seen at the receiver (checked after every poll), lag 0. Two
//! retry policies: a backoff of 1–2 s, the harshest for the healthy org
//! (every failing job is back on the queue within two seconds), and the
//! deployed one (10 s doubling to 5 min) after one tick of warm-up in which
//! every failing destination's window failed once, which is what an outage
//! minutes old looks like.

use crate::*;

const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const PER_ROUND: usize = 5;

pub async fn fig_backpressure(run: &mut Run, s: &Stack) {
    let harsh = audit_domain::export::RetryPolicy {
        base_secs: 1,
        max_secs: 2,
        deadline_secs: 1800,
    };
    fig_with(run, s, harsh, 0, "backoff 1–2 s").await;
    let deployed = audit_domain::export::RetryPolicy::default();
    fig_with(run, s, deployed, 1, "the deployed backoff, after 1 tick").await;
}

async fn fig_with(
    run: &mut Run,
    s: &Stack,
    retry: audit_domain::export::RetryPolicy,
    warm_up: usize,
    label: &str,
) {
    let rounds = if run.quick { 5 } else { 10 };
    let failing_count = 100;
    let failing_orgs = 10;
    let tag = if warm_up == 0 { "h" } else { "d" };
    let config = export::ExportConfig {
        lag_ms: 0,
        max_window_ms: 3_600_000,
        retry,
        ..export::ExportConfig::default()
    };

    // Baseline: the healthy org alone.
    let calm = Healthy::new(s, &format!("bench-bp{tag}-calm")).await;
    let app = s.exporter(config.clone()).await;
    let mut alone = Vec::new();
    for r in 0..rounds {
        alone.extend(
            calm.round(s, &app, &format!("evt_bp{tag}a_{r:02}"), &[])
                .await,
        );
    }

    // Ours: the same, with 100 destinations of 10 other orgs answering 503.
    let down = Receiver::webhook(WEBHOOK_SECRET).await;
    down.fail_until(Instant::now() + Duration::from_secs(3600), 503);
    let mut producers = Vec::new();
    let mut failing = Vec::new();
    for o in 0..failing_orgs {
        let org = s.org(&format!("bench-bp{tag}-down{o}"), false).await;
        let (ingest, _) = s.key(&org, Role::Ingest).await;
        let (admin, _) = s.key(&org, Role::Admin).await;
        for d in 0..failing_count / failing_orgs {
            let id = create_destination(s, &admin, json!({"name": format!("down{d}"), "type": "webhook", "settings": {"url": down.webhook_url()}, "secret": WEBHOOK_SECRET})).await;
            failing.push((admin.clone(), id));
        }
        producers.push(ingest);
    }
    let busy = Healthy::new(s, &format!("bench-bp{tag}-busy")).await;
    let app = s.exporter(config).await;
    for r in 0..warm_up {
        // The outage's first ticks: every failing destination's first
        // window fails and backs off (the worker runs until none is left
        // visible). Not measured.
        busy.round(s, &app, &format!("evt_bp{tag}w_{r:02}"), &producers)
            .await;
        let started = Instant::now();
        while app.queue.visible().await.expect("visible") > 0
            && started.elapsed() < Duration::from_secs(60)
        {
            auditctl::export_runner::poll_once(&app, 0)
                .await
                .expect("poll");
        }
    }
    let mut beside = Vec::new();
    for r in 0..rounds {
        beside.extend(
            busy.round(s, &app, &format!("evt_bp{tag}b_{r:02}"), &producers)
                .await,
        );
    }
    let depth = app.queue.depth().await.expect("queue depth") as f64;
    // The outage ends for the next variant: these destinations are
    // disabled, so the scheduler cuts nothing more for them and the worker
    // acknowledges their queued jobs.
    for (admin, id) in &failing {
        let r = s
            .http
            .patch(format!("{}/v1/destinations/{id}", s.base))
            .bearer_auth(admin)
            .json(&json!({"enabled": false}))
            .send()
            .await
            .expect("PATCH destination");
        assert_eq!(r.status().as_u16(), 200);
    }
    // Their jobs still queued (some hidden for their backoff) are acked by
    // the worker now; the next variant starts on an empty queue, or its
    // baseline would wait behind them.
    let started = Instant::now();
    while app.queue.depth().await.expect("queue depth") > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the disabled destinations' jobs never left the queue"
        );
        auditctl::export_runner::poll_once(&app, 1)
            .await
            .expect("poll");
    }

    let (p_alone, p_beside) = (p95(&mut alone), p95(&mut beside));
    run.rows.push(Row::num(
        &format!("7. Backpressure ({label}): healthy org's delivery delay p95 (ingest → receiver, lag 0, {rounds} ticks × {PER_ROUND} events) beside {failing_count} failing destinations in {failing_orgs} other orgs, vs alone (goal ≤ 1.5)"),
        p_beside,
        p_alone,
        "s",
        &cmd("backpressure"),
    ));
    run.rows.push(Row::num(
        &format!("7. Backpressure ({label}): export queue depth (visible + in flight) after {} ticks of outage, vs the number of failing destinations (goal ≤ 2)", rounds + warm_up),
        depth,
        failing_count as f64,
        "jobs",
        &cmd("backpressure"),
    ));
    run.notes.push(format!(
        "Figure 7: {rounds} rounds stand for {rounds} one-minute ticks of outage; the failing orgs sent {PER_ROUND} events each per round; without backpressure every tick would add one window per failing destination ({} after {rounds} ticks).",
        failing_count * rounds
    ));
}

/// The healthy org: one webhook destination at its own receiver.
struct Healthy {
    ingest: String,
    hook: Receiver,
}

impl Healthy {
    async fn new(s: &Stack, name: &str) -> Healthy {
        let org = s.org(name, false).await;
        let (ingest, _) = s.key(&org, Role::Ingest).await;
        let (admin, _) = s.key(&org, Role::Admin).await;
        let hook = Receiver::webhook(WEBHOOK_SECRET).await;
        create_destination(s, &admin, json!({"name": "up", "type": "webhook", "settings": {"url": hook.webhook_url()}, "secret": WEBHOOK_SECRET})).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        Healthy { ingest, hook }
    }

    /// One tick's worth: ingest, tick, poll until the round arrived; each
    /// event's delay in seconds.
    async fn round(
        &self,
        s: &Stack,
        app: &export::ExportApp,
        prefix: &str,
        others: &[String],
    ) -> Vec<f64> {
        for (i, key) in others.iter().enumerate() {
            post(s, key, &format!("{prefix}_o{i}")).await;
        }
        // From the healthy org's own ingest: the other orgs' requests
        // before it are not its delay.
        let sent = Instant::now();
        post(s, &self.ingest, prefix).await;
        export::schedule(app, Timestamp::now()).await;
        let mut delays = Vec::new();
        let mut seen = 0;
        for _ in 0..60 {
            auditctl::export_runner::poll_once(app, 0)
                .await
                .expect("poll");
            let now = ours_count_in(&self.hook.accepted_ids(), &format!("{prefix}_"));
            let at = sent.elapsed().as_secs_f64();
            delays.extend(std::iter::repeat_n(at, now.saturating_sub(seen)));
            seen = now;
            if seen >= PER_ROUND {
                break;
            }
        }
        // Never arrived: counted at the time the round gave up.
        let gave_up = sent.elapsed().as_secs_f64();
        delays.extend(std::iter::repeat_n(gave_up, PER_ROUND.saturating_sub(seen)));
        delays
    }
}

async fn post(s: &Stack, key: &str, prefix: &str) {
    let events: Vec<Value> = (0..PER_ROUND)
        .map(|j| fixtures::event(prefix, j, None))
        .collect();
    let (status, body) = s.post(key, &json!({ "events": events })).await;
    assert_eq!(status, 200, "{body}");
}

fn p95(delays: &mut [f64]) -> f64 {
    if delays.is_empty() {
        return f64::NAN;
    }
    delays.sort_by(f64::total_cmp);
    let i = ((delays.len() as f64 * 0.95).ceil() as usize).clamp(1, delays.len()) - 1;
    delays[i]
}
