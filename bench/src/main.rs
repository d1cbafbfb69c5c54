//! `make bench`: runs the suite against the local stack that
//! `scripts/stack.sh with-stack` started, writes bench/RESULTS.md and prints
//! it. Arguments name the figures to run (cpu ingest query export cold;
//! default all). `QUICK=1` shrinks every data set.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use audit_log::access::Authenticator;
use audit_log::auth::Role;
use audit_log::event::Event;
use audit_log::export::UrlPolicy;
use audit_log::ids::OrgId;
use audit_log::query::ActivityQuery;
use audit_log::store::{encode_event_item, item_size, ReadBudget, Store};
use audit_log::time::Timestamp;
use audit_log::validate::parse_event;
use audit_log_bench::report::{ratio, Row};
use audit_log_bench::{coldstart, cpu, fixtures};
use audit_log_tests::receivers::Receiver;
use audit_log_tests::Stack;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, ReturnConsumedCapacity, WriteRequest};
use futures::stream::{self, StreamExt};
use serde_json::{json, Value};

const CURSOR_SECRET: &str = "bench-cursor-secret";
const DD_KEY: &str = "dd-api-key-0123456789abcdef";
const HEC_TOKEN: &str = "11111111-2222-3333-4444-555555555555";
const CLIENTS: usize = 4;
const DAY_MS: i64 = 86_400_000;

type Item = HashMap<String, AttributeValue>;

struct Run {
    quick: bool,
    root: PathBuf,
    out: PathBuf,
    rows: Vec<Row>,
    notes: Vec<String>,
}

fn cmd(figure: &str) -> String {
    format!("make bench (audit-log-bench {figure})")
}

#[tokio::main]
async fn main() {
    let quick = std::env::var("QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf();
    let out = root.join("bench").join("out");
    std::fs::create_dir_all(&out).expect("create bench/out");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let want = |f: &str| args.is_empty() || args.iter().any(|a| a == f || a == "all");
    let mut run = Run {
        quick,
        root,
        out,
        rows: Vec::new(),
        notes: Vec::new(),
    };
    let started = Instant::now();

    if want("cpu") {
        step("figure 1: ingest CPU per event (criterion)");
        fig_cpu(&mut run);
    }
    let needs_stack = ["ingest", "query", "export", "cold"]
        .iter()
        .any(|f| want(f));
    if needs_stack {
        let (s, tables) = start_stack().await;
        let mut query_org = None;
        if want("ingest") {
            step("figure 2: ingest throughput");
            fig_ingest(&mut run, &s).await;
        }
        if want("query") {
            step("figure 3: query cost");
            query_org = Some(fig_query(&mut run, &s).await);
        }
        if want("export") {
            step("figure 4: export");
            fig_export(&mut run, &s).await;
        }
        if want("cold") {
            step("figure 5: cold start and size");
            fig_cold(&mut run, &s, &tables, query_org.as_ref()).await;
        }
    }

    let title = vec![
        format!(
            "Run: {} UTC, {} mode, {} CPUs, {:.0} s.",
            chrono::Utc::now().format("%Y-%m-%d %H:%M"),
            if quick { "QUICK" } else { "full" },
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            started.elapsed().as_secs_f64()
        ),
        "Ratio = ours ÷ baseline (for times and costs lower is better; for throughput higher is better).".to_string(),
    ];
    let text = audit_log_bench::report::render(&title, &run.rows, &run.notes);
    let path = run.root.join("bench").join("RESULTS.md");
    std::fs::write(&path, &text).expect("write bench/RESULTS.md");
    println!("{text}");
    eprintln!("bench: wrote {}", path.display());
}

fn step(what: &str) {
    eprintln!("bench: {what}");
}

// ------------------------------------------------------------------ figure 1

fn fig_cpu(run: &mut Run) {
    let dir = run.out.join("criterion");
    let mut c = cpu::criterion(&dir, run.quick);
    cpu::register(&mut c);
    let bytes = fixtures::typical_event_bytes().len();
    let ours = cpu::median_ns(&dir, cpu::OURS).expect("criterion estimate (ours)");
    let base = cpu::median_ns(&dir, cpu::BASELINE).expect("criterion estimate (baseline)");
    run.rows.push(Row::num(
        &format!("1. Ingest CPU per event ({bytes} B JSON): parse + validate + Event + DynamoDB item, vs serde_json parse + serialize"),
        ours / 1000.0,
        base / 1000.0,
        "µs",
        &cmd("cpu"),
    ));
}

// ------------------------------------------------------------- the stack

/// An isolated stack (tables and queues of its own) served like production:
/// keys cached as `Authenticator::from_env()` does.
async fn start_stack() -> (Stack, audit_log::store::Tables) {
    assert!(
        std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok(),
        "AWS_ENDPOINT_URL_DYNAMODB is not set: run `make bench`, which starts the local stack"
    );
    let config = audit_log::aws_config().await;
    let run = ulid::Ulid::new().to_string().to_lowercase();
    let tables = audit_log::store::Tables {
        events: format!("bench-{run}-events"),
        control: format!("bench-{run}-control"),
    };
    let store = Store::new(aws_sdk_dynamodb::Client::new(&config), tables.clone());
    store.ensure_tables().await.expect("create tables");
    let sqs = aws_sdk_sqs::Client::new(&config);
    let (queue, dlq) = audit_log::export::queue::ExportQueue::ensure_named(
        &sqs,
        &format!("bench-{run}"),
        &format!("bench-{run}-dlq"),
    )
    .await
    .expect("create queues");
    let queue = audit_log::export::queue::ExportQueue::new(sqs, queue, dlq);
    let apps = auditctl::apps(
        store.clone(),
        CURSOR_SECRET.as_bytes(),
        Authenticator::from_env,
        &config,
        UrlPolicy {
            allow_private: true,
        },
        Some(queue.clone()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(auditctl::server::serve(
        listener,
        apps,
        std::future::pending(),
    ));
    let stack = Stack {
        base: format!("http://{addr}"),
        queue: Some(queue),
        store,
        secrets: audit_log::secrets::SecretStore::from_env(&config),
        http: reqwest::Client::new(),
    };
    (stack, tables)
}

fn ddb_events_table(s: &Stack) -> String {
    s.store.tables().events.clone()
}

async fn ddb() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&audit_log::aws_config().await)
}

/// Events `i` in `range` of a data set, as stored items.
fn items(
    org: &OrgId,
    prefix: &str,
    range: std::ops::Range<usize>,
    at: impl Fn(usize) -> Option<i64>,
) -> Vec<(Event, Item)> {
    let now = Timestamp::now();
    range
        .map(|i| {
            let new = parse_event(&fixtures::event(prefix, i, at(i)), now, "")
                .expect("fixture events are valid");
            let event = Event::from_new(org.clone(), new, now);
            let item = encode_event_item(&event, 365).expect("encode");
            (event, item)
        })
        .collect()
}

// ------------------------------------------------------------------ figure 2

async fn fig_ingest(run: &mut Run, s: &Stack) {
    let total = if run.quick { 2_000 } else { 20_000 };
    let org = s.org("bench-ingest", false).await;
    let (key, _) = s.key(&org, Role::Ingest).await;
    let bodies: Vec<Vec<u8>> = (0..total / 100)
        .map(|b| {
            let events: Vec<Value> = (0..100)
                .map(|j| fixtures::event("evt_in", b * 100 + j, None))
                .collect();
            serde_json::to_vec(&json!({ "events": events })).expect("json")
        })
        .collect();
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (bodies, next, key) = (bodies.clone(), next.clone(), key.clone());
            let (http, base) = (s.http.clone(), s.base.clone());
            tokio::spawn(async move {
                let mut batch_ms = Vec::new();
                loop {
                    let b = next.fetch_add(1, Ordering::SeqCst);
                    let Some(body) = bodies.get(b) else { break };
                    let t = Instant::now();
                    let r = http
                        .post(format!("{base}/v1/events"))
                        .bearer_auth(&key)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .expect("POST /v1/events");
                    let status = r.status().as_u16();
                    let v: Value = r.json().await.expect("batch answer");
                    assert_eq!(status, 200, "{v}");
                    assert_eq!(v["summary"]["created"].as_u64(), Some(100), "{v}");
                    batch_ms.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                batch_ms
            })
        })
        .collect();
    let mut batch_ms = Vec::new();
    for c in clients {
        batch_ms.extend(c.await.expect("client"));
    }
    let ours = total as f64 / started.elapsed().as_secs_f64();

    // Baseline: the same items (other ids), PutItem with the same condition,
    // as many in flight as the server has (clients × its write concurrency).
    let org2 = s.org("bench-raw", false).await;
    let raw: Vec<Item> = items(&org2, "evt_raw", 0..total, |_| None)
        .into_iter()
        .map(|(_, i)| i)
        .collect();
    let client = ddb().await;
    let table = ddb_events_table(s);
    let in_flight = CLIENTS * audit_log::limits::INGEST_WRITE_CONCURRENCY;
    // The least a write of these items could cost: each item alone, in 1 KB
    // write units, as in a table without indexes.
    let alone: f64 = raw
        .iter()
        .map(|i| (item_size(i) as f64 / 1024.0).ceil())
        .sum();
    let started = Instant::now();
    let units: f64 = stream::iter(raw)
        .map(|item| {
            client
                .put_item()
                .table_name(&table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(PK)")
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
        })
        .buffer_unordered(in_flight)
        .map(|r| {
            r.expect("raw PutItem")
                .consumed_capacity
                .and_then(|c| c.capacity_units)
                .unwrap_or(0.0)
        })
        .collect::<Vec<f64>>()
        .await
        .iter()
        .sum();
    let base = total as f64 / started.elapsed().as_secs_f64();
    run.rows.push(Row::num(
        &format!("2. Ingest throughput, HTTP, {CLIENTS} clients × 100-event batches ({total} events), vs raw PutItem ({in_flight} in flight)"),
        ours,
        base,
        "events/s",
        &cmd("ingest"),
    ));
    run.rows.push(Row::num(
        &format!(
            "2. Ingest write units per event (table + {} GSIs projecting the whole item, as DESIGN.md fixes), vs the item alone",
            audit_log::store::schema::EVENTS.indexes.len()
        ),
        units / total as f64,
        alone / total as f64,
        "WCU",
        &cmd("ingest"),
    ));
    let (p50, p95) = percentiles(&mut batch_ms);
    run.notes.push(format!(
        "Figure 2: one 100-event batch took {p50:.0} ms at the median, {p95:.0} ms at p95, with {CLIENTS} clients."
    ));
}

fn percentiles(v: &mut [f64]) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    (at(0.5), at(0.95))
}

// ------------------------------------------------------------------ figure 3

async fn load(s: &Stack, all: Vec<Item>) {
    let client = ddb().await;
    let table = ddb_events_table(s);
    let chunks: Vec<Vec<Item>> = all.chunks(25).map(<[Item]>::to_vec).collect();
    stream::iter(chunks)
        .map(|chunk| {
            let (client, table) = (client.clone(), table.clone());
            async move {
                let mut requests: Vec<WriteRequest> = chunk
                    .into_iter()
                    .map(|item| {
                        WriteRequest::builder()
                            .put_request(
                                PutRequest::builder()
                                    .set_item(Some(item))
                                    .build()
                                    .expect("put request"),
                            )
                            .build()
                    })
                    .collect();
                while !requests.is_empty() {
                    let out = client
                        .batch_write_item()
                        .request_items(&table, requests)
                        .send()
                        .await
                        .expect("BatchWriteItem");
                    requests = out
                        .unprocessed_items
                        .and_then(|mut m| m.remove(&table))
                        .unwrap_or_default();
                }
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
}

struct Sample {
    name: &'static str,
    pairs: Vec<(&'static str, String)>,
}

async fn fig_query(run: &mut Run, s: &Stack) -> (OrgId, String) {
    let n = std::env::var("BENCH_QUERY_EVENTS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(if run.quick { 10_000 } else { 100_000 });
    let org = s.org("bench-query", false).await;
    let (admin, _) = s.key(&org, Role::Admin).await;
    let now_ms = Timestamp::now().millis() - 60_000;
    let span = 90 * DAY_MS;
    let at = move |i: usize| Some(now_ms - (i as i64) * span / n as i64);
    let started = Instant::now();
    // Load in slices of 10,000, reporting the rate (DynamoDB Local slows
    // down as the table and its indexes grow).
    for lo in (0..n).step_by(10_000) {
        let t = Instant::now();
        let hi = (lo + 10_000).min(n);
        let all: Vec<Item> = items(&org, "evt_q", lo..hi, at)
            .into_iter()
            .map(|(_, i)| i)
            .collect();
        load(s, all).await;
        eprintln!(
            "bench: loaded {hi}/{n} events ({:.0} events/s for the last slice)",
            (hi - lo) as f64 / t.elapsed().as_secs_f64()
        );
    }
    let load_s = started.elapsed().as_secs_f64();
    run.notes.push(format!(
        "Figure 3: {n} events over 90 days loaded with BatchWriteItem (the store's own encoding) in {load_s:.0} s ({:.0} events/s).",
        n as f64 / load_s
    ));

    let week_from = Timestamp::from_millis(now_ms - 7 * DAY_MS)
        .expect("from")
        .to_rfc3339();
    let week_to = Timestamp::from_millis(now_ms + 120_000)
        .expect("to")
        .to_rfc3339();
    let samples = vec![
        Sample {
            name: "date range (7 days)",
            pairs: vec![("from", week_from.clone()), ("to", week_to.clone())],
        },
        Sample {
            name: "group=credentials",
            pairs: vec![("group", "credentials".into())],
        },
        Sample {
            name: "action=MODEL_DEPLOYED",
            pairs: vec![("action", "MODEL_DEPLOYED".into())],
        },
        Sample {
            name: "actor=usr_007",
            pairs: vec![("actor", "usr_007".into())],
        },
        Sample {
            name: "free text in a week",
            pairs: vec![
                ("q", "mixtral".into()),
                ("from", week_from),
                ("to", week_to),
            ],
        },
    ];
    let reps = if run.quick { 10 } else { 30 };
    let scan_reps = if run.quick { 2 } else { 3 };
    let client = ddb().await;
    let table = ddb_events_table(s);
    for sample in &samples {
        eprintln!("bench: query {}", sample.name);
        // Ours: the page over HTTP (auth, plan, DynamoDB, JSON), limit 50.
        let mut url = reqwest::Url::parse(&format!("{}/v1/events", s.base)).expect("url");
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in &sample.pairs {
                q.append_pair(k, v);
            }
            q.append_pair("limit", "50");
        }
        let mut ms = Vec::new();
        let mut returned = 0;
        for i in 0..=reps {
            let t = Instant::now();
            let r = s
                .http
                .get(url.clone())
                .bearer_auth(&admin)
                .send()
                .await
                .expect("GET");
            let status = r.status().as_u16();
            let v: Value = r.json().await.expect("page");
            assert_eq!(status, 200, "{v}");
            returned = v["events"].as_array().map_or(0, Vec::len);
            if i > 0 {
                ms.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
        let (p50, p95) = percentiles(&mut ms);

        // Ours, in the store: what that page read.
        let pairs: Vec<(&str, &str)> = sample
            .pairs
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .chain([("limit", "50")])
            .collect();
        let q = ActivityQuery::parse(pairs).expect("query");
        let plan = audit_log::plan::plan(&org, &q);
        let (page, cost) = s
            .store
            .find_events_measured(&org, &plan, None, 50, ReadBudget::default())
            .await
            .expect("find_events");
        let got = page.events.len().max(1) as f64;
        let bytes: usize = page
            .events
            .iter()
            .map(|e| {
                encode_event_item(e, 365)
                    .map(|i| item_size(&i))
                    .unwrap_or(0)
            })
            .sum();
        // Eventually consistent reads (every GSI query) cost 0.5 unit per 4 KB.
        let minimum = 0.5 * (bytes as f64 / 4096.0).ceil();

        // Baseline: Scan the table with the same conditions as a filter until
        // a page of 50 matches is found (unordered: a Scan cannot sort).
        let mut filter = format!("({})", plan.key_condition);
        if let Some(f) = &plan.filter {
            filter.push_str(&format!(" AND ({f})"));
        }
        let mut scan_ms = Vec::new();
        let mut scan_units = 0.0;
        let mut scan_found = 0usize;
        for _ in 0..scan_reps {
            let t = Instant::now();
            let (mut found, mut units) = (0usize, 0.0);
            let mut start: Option<Item> = None;
            loop {
                let mut req = client
                    .scan()
                    .table_name(&table)
                    .filter_expression(&filter)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .set_exclusive_start_key(start.take());
                for (k, v) in &plan.names {
                    req = req.expression_attribute_names(k, v);
                }
                for (k, v) in &plan.values {
                    req = req.expression_attribute_values(k, AttributeValue::S(v.clone()));
                }
                let out = req.send().await.expect("Scan");
                found += out.items.as_ref().map_or(0, Vec::len);
                units += out
                    .consumed_capacity
                    .and_then(|c| c.capacity_units)
                    .unwrap_or(0.0);
                match out.last_evaluated_key {
                    Some(k) if found < 50 => start = Some(k),
                    _ => break,
                }
            }
            scan_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            scan_units = units;
            scan_found = found.min(50);
        }
        let (scan_p50, scan_p95) = percentiles(&mut scan_ms);
        let fig = format!("3. Query {}", sample.name);
        run.rows.push(Row {
            figure: format!("{fig}: page latency p50 / p95 (HTTP, limit 50, {returned} returned; {reps} runs, Scan {scan_reps}), vs Scan + filter until 50 match"),
            ours: format!("{p50:.1} / {p95:.1} ms"),
            baseline: format!("{scan_p50:.0} / {scan_p95:.0} ms"),
            ratio: ratio(p50, scan_p50),
            command: cmd("query"),
        });
        let per_event = cost.read_units / got;
        run.rows.push(Row::num(
            &format!("{fig}: read units per returned event ({} items read, {} round trips), vs Scan + filter", cost.items_read, cost.round_trips),
            per_event,
            scan_units / scan_found.max(1) as f64,
            "RCU",
            &cmd("query"),
        ));
        run.rows.push(Row::num(
            &format!("{fig}: read units per returned event, vs the minimum (returned items' own size, {:.1} KB avg)", bytes as f64 / got / 1024.0),
            per_event,
            minimum / got,
            "RCU",
            &cmd("query"),
        ));
    }
    (org, admin)
}

// ------------------------------------------------------------------ figure 4

async fn create_destination(s: &Stack, admin: &str, body: Value) {
    let r = s
        .http
        .post(format!("{}/v1/destinations", s.base))
        .bearer_auth(admin)
        .json(&body)
        .send()
        .await
        .expect("POST destination");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    assert_eq!(status, 201, "{text}");
}

fn ours_count(ids: &[String]) -> usize {
    ours_count_in(ids, "evt_x_")
}

async fn fig_export(run: &mut Run, s: &Stack) {
    let n = if run.quick { 1_000 } else { 5_000 };
    let org = s.org("bench-export", false).await;
    let (ingest_key, _) = s.key(&org, Role::Ingest).await;
    let (admin, _) = s.key(&org, Role::Admin).await;
    let dd = Receiver::datadog(DD_KEY).await;
    let hec = Receiver::splunk(HEC_TOKEN).await;
    create_destination(s, &admin, json!({"name": "dd", "type": "datadog", "settings": {"site": "datadoghq.com", "intake_url": dd.url()}, "secret": DD_KEY})).await;
    create_destination(s, &admin, json!({"name": "hec", "type": "splunk", "settings": {"url": hec.url(), "index": "audit"}, "secret": HEC_TOKEN})).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let window_from = Timestamp::now();
    for b in 0..n / 100 {
        let events: Vec<Value> = (0..100)
            .map(|j| fixtures::event("evt_x", b * 100 + j, None))
            .collect();
        let (status, body) = s.post(&ingest_key, &json!({ "events": events })).await;
        assert_eq!(status, 200, "{body}");
    }
    let config = export::ExportConfig {
        lag_ms: 0,
        max_window_ms: 3_600_000,
        ..export::ExportConfig::default()
    };
    let app = s.exporter(config).await;
    let started = Instant::now();
    export::schedule(&app, Timestamp::now()).await;
    let limit = Duration::from_secs(if run.quick { 60 } else { 240 });
    while ours_count(&dd.accepted_ids()) < n || ours_count(&hec.accepted_ids()) < n {
        if started.elapsed() > limit {
            run.notes.push(format!(
                "Figure 4: gave up after {limit:?}: Datadog {}, Splunk {} of {n}.",
                ours_count(&dd.accepted_ids()),
                ours_count(&hec.accepted_ids())
            ));
            break;
        }
        auditctl::export_runner::poll_once(&app, 0)
            .await
            .expect("poll");
    }
    let took = started.elapsed().as_secs_f64();
    let delivered = (ours_count(&dd.accepted_ids()) + ours_count(&hec.accepted_ids())) as f64;
    let ours_eps = delivered / took;
    let exported = (dd.accepted_ids().len() + hec.accepted_ids().len()) as f64;

    // Baseline: read the same window straight from the store and POST it to
    // fresh receivers, 1000 events per request (Datadog's cap), no queue.
    let dd2 = Receiver::datadog(DD_KEY).await;
    let hec2 = Receiver::splunk(HEC_TOKEN).await;
    let started = Instant::now();
    let window = audit_log::export::ExportWindow {
        from: window_from.plus_millis(-1),
        to: Timestamp::now(),
    };
    let mut events = Vec::new();
    let mut resume: Option<String> = None;
    loop {
        let page = s
            .store
            .window_events(&org, &window, resume.as_deref(), 1000)
            .await
            .expect("window");
        events.extend(page.events);
        match page.resume_after {
            Some(r) => resume = Some(r),
            None => break,
        }
    }
    for chunk in events.chunks(1000) {
        let dd_body: Vec<Value> = chunk
            .iter()
            .map(|e| json!({"ddsource": "audit-log", "service": "audit-log", "message": json!(e.view()).to_string()}))
            .collect();
        let mut hec_body = String::new();
        for e in chunk {
            hec_body.push_str(&json!({"time": e.recorded_at.millis() as f64 / 1000.0, "index": "audit", "event": e.view()}).to_string());
        }
        let (a, b) = futures::join!(
            s.http
                .post(format!("{}/api/v2/logs", dd2.url()))
                .header("dd-api-key", DD_KEY)
                .json(&dd_body)
                .send(),
            s.http
                .post(format!("{}/services/collector/event", hec2.url()))
                .header("authorization", format!("Splunk {HEC_TOKEN}"))
                .body(hec_body)
                .send(),
        );
        assert!(a.expect("datadog").status().is_success());
        assert!(b.expect("splunk").status().is_success());
    }
    let base_took = started.elapsed().as_secs_f64();
    let base_delivered =
        (ours_count(&dd2.accepted_ids()) + ours_count(&hec2.accepted_ids())) as f64;
    let base_eps = base_delivered / base_took;
    run.rows.push(Row::num(
        &format!("4. Export: events/s one worker delivers to Datadog + Splunk HEC ({n} events each, lag 0), vs read window + POST directly"),
        ours_eps,
        base_eps,
        "events/s",
        &cmd("export"),
    ));
    let per_dest = (exported / 2.0).max(1.0);
    let per_k = |req: usize| req as f64 * 1000.0 / per_dest;
    // The fewest requests that can carry them: 1000 entries per request.
    let min_per_k = (per_dest / 1000.0).ceil() * 1000.0 / per_dest;
    run.rows.push(Row::num(
        "4. Export: Datadog requests per 1000 events, vs the minimum (1000 entries per request)",
        per_k(dd.requests()),
        min_per_k,
        "requests",
        &cmd("export"),
    ));
    // HEC bodies are capped by bytes (1 MB, Splunk's recommended ceiling), not by
    // count: the fewest requests are the accepted bytes in 1 MB bodies.
    let hec_min =
        (hec.accepted_bytes() as f64 / audit_log::export::splunk::DEFAULT_MAX_BYTES as f64).ceil();
    run.rows.push(Row::num(
        "4. Export: Splunk HEC requests per 1000 events, vs the minimum (the same bytes in full 1 MB bodies)",
        per_k(hec.requests()),
        hec_min * 1000.0 / per_dest,
        "requests",
        &cmd("export"),
    ));
    run.rows.push(Row::num(
        "4. Export: processing delay, scheduler tick → last event at both receivers (lag 0), vs the direct read + POST",
        took,
        base_took,
        "s",
        &cmd("export"),
    ));
    let lag = export::ExportConfig::default().lag_ms as f64 / 1000.0;
    run.rows.push(Row {
        figure: "4. Export: delay ingest → arrival with the default lag (analytic: lag + up to one 1-minute schedule tick + processing)".into(),
        ours: format!("{lag:.0}–{:.0} s + {took:.1} s", lag + 60.0),
        baseline: "–".into(),
        ratio: "–".into(),
        command: cmd("export"),
    });
    run.notes.push(format!(
        "Figure 4: the exporter also delivered {} self-audit events (destination created); they are counted in requests per 1000 events' denominator.",
        (exported - delivered) as usize
    ));
}

// ------------------------------------------------------------------ figure 5

fn size_mb(p: &Path) -> Option<f64> {
    std::fs::metadata(p)
        .ok()
        .map(|m| m.len() as f64 / 1_048_576.0)
}

async fn fig_cold(
    run: &mut Run,
    s: &Stack,
    tables: &audit_log::store::Tables,
    query_org: Option<&(OrgId, String)>,
) {
    let bin = run.root.join("target").join("release");
    let hello = bin.join("hello-lambda");
    let Some(hello_mb) = size_mb(&hello) else {
        run.notes.push("Figure 5: target/release/hello-lambda is missing: build with `cargo build --release -p audit-log-bench --bins`.".into());
        return;
    };
    let sqs = aws_sdk_sqs::Client::new(&audit_log::aws_config().await);
    let tag = ulid::Ulid::new().to_string().to_lowercase();
    let (queue_url, dlq_url) = audit_log::export::queue::ExportQueue::ensure_named(
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
    let export_events: Vec<String> = std::iter::once(tick).chain(jobs).collect();

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
        "Figure 5: export's RSS run: a tick, then its jobs as SQS batches of 10, four at once (two Datadog, two Splunk destinations, {export_n} events each); their first parts, cut at the {} MiB job budget, delivered {} events. Follow-up parts went back to the queue.",
        audit_log::limits::EXPORT_JOB_MAX_BYTES / (1024 * 1024),
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
    let sdk = audit_log::aws_config().await;
    let app = export::ExportApp {
        store: s.store.clone(),
        queue: audit_log::export::queue::ExportQueue::new(
            sqs.clone(),
            queue_url.to_string(),
            dlq_url.to_string(),
        ),
        secrets: audit_log::secrets::SecretStore::from_env(&sdk),
        deliverer: audit_log::export::deliver::Deliverer::new(&sdk, Duration::from_secs(5)),
        config: export::ExportConfig {
            lag_ms: 0,
            max_window_ms: 3_600_000,
            ..export::ExportConfig::default()
        },
    };
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

fn ours_count_in(ids: &[String], prefix: &str) -> usize {
    ids.iter().filter(|i| i.starts_with(prefix)).count()
}
