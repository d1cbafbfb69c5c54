//! Figure 5: each function's size, cold start and peak memory under a local
//! Lambda Runtime API, against a hello-world function.

use crate::*;

fn size_mb(p: &Path) -> Option<f64> {
    std::fs::metadata(p)
        .ok()
        .map(|m| m.len() as f64 / 1_048_576.0)
}

pub async fn fig_cold(
    run: &mut Run,
    s: &Stack,
    tables: &audit_aws::store::Tables,
    query_org: Option<&(OrgId, String)>,
) {
    let bin = run.root.join("target").join("release");
    let hello = bin.join("hello-lambda");
    let Some(hello_mb) = size_mb(&hello) else {
        run.notes.push("Figure 5: target/release/hello-lambda is missing: build with `cargo build --release -p audit-log-bench --bins`.".into());
        return;
    };
    let sqs = aws_sdk_sqs::Client::new(&audit_aws::aws_config().await);
    let tag = ulid::Ulid::new().to_string().to_lowercase();
    let (queue_url, dlq_url) = audit_aws::queue::ExportQueue::ensure_named(
        &sqs,
        &format!("cold-{tag}"),
        &format!("cold-{tag}-dlq"),
    )
    .await
    .expect("queues");
    let env: Vec<(String, String)> = vec![
        ("AUDIT_EVENTS_TABLE".into(), tables.events.clone()),
        ("AUDIT_CONTROL_TABLE".into(), tables.control.clone()),
        ("AUDIT_CURSOR_SECRET".into(), CURSOR_SECRET.into()),
        ("AUDIT_EXPORT_QUEUE_URL".into(), queue_url.clone()),
        ("AUDIT_EXPORT_DLQ_URL".into(), dlq_url.clone()),
        // The receivers listen on loopback.
        ("AUDIT_ALLOW_PRIVATE_DESTINATIONS".into(), "true".into()),
    ];
    let warm = if run.quick { 20 } else { 100 };
    let timeout = Duration::from_secs(60);
    let out = run.out.clone();
    let log = move |name: &str| out.join(format!("cold-{name}.log"));

    let hello_events = vec!["{}".to_string(); 1 + warm];
    let base = match coldstart::measure(&hello, &env, hello_events, &log("hello"), timeout).await {
        Ok(b) => b,
        Err(e) => {
            run.notes
                .push(format!("Figure 5: hello-lambda failed: {e}"));
            return;
        }
    };

    let org = s.org("bench-cold", false).await;
    let (ingest_key, _) = s.key(&org, Role::Ingest).await;
    let mut ingest_events = vec![coldstart::apigw_event(
        "POST",
        "/v1/events",
        "",
        &ingest_key,
        Some(&fixtures::event("evt_cold", 0, None).to_string()),
    )];
    for b in 0..warm {
        let events: Vec<Value> = (0..100)
            .map(|j| fixtures::event("evt_cw", 1 + b * 100 + j, None))
            .collect();
        ingest_events.push(coldstart::apigw_event(
            "POST",
            "/v1/events",
            "",
            &ingest_key,
            Some(&json!({ "events": events }).to_string()),
        ));
    }
    let (qorg_key, qs) = match query_org {
        Some((_, admin)) => (
            admin.clone(),
            [
                "group=models&limit=50",
                "actor=usr_007&limit=50",
                "limit=50",
                "action=USER_INVITED&limit=50",
            ],
        ),
        None => (s.key(&org, Role::Admin).await.0, ["limit=50"; 4]),
    };
    let query_events: Vec<String> = (0..=warm)
        .map(|i| coldstart::apigw_event("GET", "/v1/events", qs[i % qs.len()], &qorg_key, None))
        .collect();
    let tick = json!({"version": "0", "id": "bench", "detail-type": "Scheduled Event", "source": "aws.events", "account": "123456789012", "time": chrono::Utc::now().to_rfc3339(), "region": "us-east-1", "resources": ["arn:aws:events:us-east-1:123456789012:rule/bench"], "detail": {}}).to_string();
    // After the tick, a delivery load: jobs for a fresh org's Datadog and
    // Splunk destinations, queued on the cold queue by the scheduler and
    // handed to the function as SQS batches, as Lambda would.
    let export_n = if run.quick { 1_000 } else { 4_900 };
    let (jobs, receivers) = export_jobs(s, &sqs, &queue_url, &dlq_url, export_n).await;
    // The worker and the scheduler are two functions (two binaries): the
    // worker's first invocation is an empty SQS batch (its start-up alone),
    // then the jobs; the scheduler's is the tick.
    let empty_batch = json!({ "Records": [] }).to_string();
    let export_events: Vec<String> = std::iter::once(empty_batch).chain(jobs).collect();
    let scheduler_events = vec![tick];

    let push = |run: &mut Run, name: &str, r: &coldstart::ColdStart, mb: f64| {
        let zip = run
            .root
            .join("target")
            .join("lambda")
            .join(name)
            .join("bootstrap.zip");
        let zip_note = size_mb(&zip).map_or(String::new(), |z| format!(", arm64 zip {z:.1} MB"));
        run.rows.push(Row::num(&format!("5. {name}: release binary size (x86_64, stripped{zip_note}), vs hello-world lambda_runtime"), mb, hello_mb, "MB", &cmd("cold")));
        run.rows.push(Row::num(
            &format!("5. {name}: process start → ready (first /invocation/next), vs hello"),
            r.ready_ms,
            base.ready_ms,
            "ms",
            &cmd("cold"),
        ));
        run.rows.push(Row::num(
            &format!("5. {name}: process start → first response, vs hello"),
            r.first_response_ms,
            base.first_response_ms,
            "ms",
            &cmd("cold"),
        ));
        run.rows.push(Row::num(
            &format!(
                "5. {name}: peak RSS (VmHWM) after {} invocations, vs hello",
                r.answered
            ),
            r.peak_rss_kib as f64 / 1024.0,
            base.peak_rss_kib as f64 / 1024.0,
            "MB",
            &cmd("cold"),
        ));
        if r.errors > 0 {
            run.notes.push(format!(
                "Figure 5: {name} answered {} invocations with an error.",
                r.errors
            ));
        }
        let first: String = r.first_body.chars().take(120).collect();
        run.notes.push(format!(
            "Figure 5: {name}'s first response began `{}`.",
            first.replace('`', "'")
        ));
    };
    for (name, events) in [
        ("ingest", ingest_events),
        ("query", query_events),
        ("export", export_events),
        ("scheduler", scheduler_events),
    ] {
        let path = bin.join(name);
        let Some(mb) = size_mb(&path) else {
            run.notes.push(format!(
                "Figure 5: target/release/{name} is missing: `cargo build --release --bin {name}`."
            ));
            continue;
        };
        match coldstart::measure(&path, &env, events, &log(name), timeout).await {
            Ok(r) => push(run, name, &r, mb),
            Err(e) => run.notes.push(format!("Figure 5: {e}")),
        }
    }
    let got: Vec<String> = receivers
        .iter()
        .map(|r| ours_count_in(&r.accepted_ids(), "evt_ce_").to_string())
        .collect();
    run.notes.push(format!(
        "Figure 5: export's RSS run: an empty SQS batch, then its jobs as SQS batches of 10, four at once (two Datadog, two Splunk destinations, {export_n} events each); in parts cut at the {} MiB budget, each job going on with its next part (two pages held) while it sent the last, they delivered {} events; anything handed on went back to the queue.",
        audit_domain::limits::EXPORT_JOB_MAX_BYTES / (1024 * 1024),
        got.join(" / ")
    ));
}

/// Creates an org with four destinations (two Datadog, two Splunk), stores
/// `n` events for it, runs the scheduler onto the cold queue and returns the
/// queued jobs as SQS events (10 records each, Lambda's default batch), with
/// the receivers.
async fn export_jobs(
    s: &Stack,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    dlq_url: &str,
    n: usize,
) -> (Vec<String>, [Receiver; 4]) {
    let org = s.org("bench-cold-export", false).await;
    let (admin, _) = s.key(&org, Role::Admin).await;
    // Two of each, so the worker runs as many jobs at once as it may
    // (JOB_CONCURRENCY = 4): the memory a batch can really take.
    let dd = Receiver::datadog(DD_KEY).await;
    let hec = Receiver::splunk(HEC_TOKEN).await;
    let dd2 = Receiver::datadog(DD_KEY).await;
    let hec2 = Receiver::splunk(HEC_TOKEN).await;
    for (name, receiver) in [("dd", &dd), ("dd2", &dd2)] {
        create_destination(s, &admin, json!({"name": name, "type": "datadog", "settings": {"site": "datadoghq.com", "intake_url": receiver.url()}, "secret": DD_KEY})).await;
    }
    for (name, receiver) in [("hec", &hec), ("hec2", &hec2)] {
        create_destination(s, &admin, json!({"name": name, "type": "splunk", "settings": {"url": receiver.url(), "index": "audit"}, "secret": HEC_TOKEN})).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let all: Vec<Item> = items(&org, "evt_ce", 0..n, |_| None)
        .into_iter()
        .map(|(_, i)| i)
        .collect();
    load(s, all).await;
    let queue =
        audit_aws::queue::ExportQueue::new(sqs.clone(), queue_url.to_string(), dlq_url.to_string());
    let config = export::ExportConfig {
        lag_ms: 0,
        max_window_ms: 3_600_000,
        ..export::ExportConfig::default()
    };
    let app = s.exporter_on(queue, config).await;
    export::schedule(&app, Timestamp::now()).await;
    let mut records = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(600)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .expect("ReceiveMessage");
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            let attributes: HashMap<String, String> = m
                .attributes
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k.as_str().to_string(), v))
                .collect();
            records.push(json!({
                "messageId": m.message_id, "receiptHandle": m.receipt_handle, "body": m.body,
                "attributes": attributes, "messageAttributes": {}, "md5OfBody": m.md5_of_body,
                "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:cold",
                "awsRegion": "us-east-1",
            }));
        }
    }
    let events = records
        .chunks(10)
        .map(|c| json!({ "Records": c }).to_string())
        .collect();
    (events, [dd, hec, dd2, hec2])
}
