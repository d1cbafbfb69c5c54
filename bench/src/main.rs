//! `make bench`: runs the suite against the local stack that
//! `scripts/stack.sh with-stack` started, writes bench/RESULTS.md and prints
//! it. Arguments name the figures to run (cpu ingest query export cold scale
//! backpressure proofs; default all). `QUICK=1` shrinks every data set.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use audit_aws::access::Authenticator;
use audit_aws::store::{encode_event_item, item_size, ReadBudget, Store};
use audit_destinations::UrlPolicy;
use audit_domain::auth::Role;
use audit_domain::event::Event;
use audit_domain::ids::OrgId;
use audit_domain::query::ActivityQuery;
use audit_domain::time::Timestamp;
use audit_domain::validate::parse_event;
use audit_log_bench::report::{ratio, Row};
use audit_log_bench::{coldstart, cpu, fixtures};
use audit_log_tests::receivers::Receiver;
use audit_log_tests::Stack;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use futures::stream::{self, StreamExt};
use serde_json::{json, Value};

mod figures;

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
    // `BENCH_LOG=info` (an `EnvFilter`) prints the functions' own log lines
    // (one per job, tick or request, with its duration) on stderr.
    if let Ok(filter) = std::env::var("BENCH_LOG") {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .init();
    }
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
    if want("proofs") {
        step(
            "figure 8: receipts (proof size and verification time) and the tree's share of sealing",
        );
        figures::proofs::fig_proofs(&mut run);
    }
    let needs_stack = ["ingest", "query", "export", "cold", "scale", "backpressure"]
        .iter()
        .any(|f| want(f));
    if needs_stack {
        let (s, tables) = start_stack().await;
        let mut query_org = None;
        if want("ingest") {
            step("figure 2: ingest throughput");
            figures::ingest::fig_ingest(&mut run, &s).await;
        }
        if want("query") {
            step("figure 3: query cost");
            query_org = Some(figures::query::fig_query(&mut run, &s).await);
        }
        if want("export") {
            step("figure 4: export");
            figures::export::fig_export(&mut run, &s).await;
        }
        if want("cold") {
            step("figure 5: cold start and size");
            figures::cold::fig_cold(&mut run, &s, &tables, query_org.as_ref()).await;
        }
        if want("scale") {
            step("figure 6: scale (tick reads, sealing memory, download parts)");
            figures::scale::fig_scale(&mut run, &s).await;
        }
        if want("backpressure") {
            step("figure 7: backpressure (a healthy org beside failing destinations)");
            figures::backpressure::fig_backpressure(&mut run, &s).await;
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
async fn start_stack() -> (Stack, audit_aws::store::Tables) {
    assert!(
        std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok(),
        "AWS_ENDPOINT_URL_DYNAMODB is not set: run `make bench`, which starts the local stack"
    );
    let config = audit_aws::aws_config().await;
    let run = ulid::Ulid::new().to_string().to_lowercase();
    let tables = audit_aws::store::Tables {
        events: format!("bench-{run}-events"),
        control: format!("bench-{run}-control"),
    };
    let store = Store::new(aws_sdk_dynamodb::Client::new(&config), tables.clone());
    store.ensure_tables().await.expect("create tables");
    let sqs = aws_sdk_sqs::Client::new(&config);
    let (queue, dlq) = audit_aws::queue::ExportQueue::ensure_named(
        &sqs,
        &format!("bench-{run}"),
        &format!("bench-{run}-dlq"),
    )
    .await
    .expect("create queues");
    let queue = audit_aws::queue::ExportQueue::new(sqs, queue, dlq);
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
        secrets: audit_aws::secrets::SecretStore::from_env(&config),
        http: reqwest::Client::new(),
    };
    (stack, tables)
}

fn ddb_events_table(s: &Stack) -> String {
    s.store.tables().events.clone()
}

async fn ddb() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&audit_aws::aws_config().await)
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
            let item = encode_event_item(&event, audit_domain::retention::RetentionDays::DEFAULT)
                .expect("encode");
            (event, item)
        })
        .collect()
}

// ------------------------------------------------------------- shared helpers

fn percentiles(v: &mut [f64]) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    (at(0.5), at(0.95))
}

/// Batch-writes event items with the suite's loader
/// (`audit_log_tests::load`: BatchWriteItem, several calls in flight).
async fn load(s: &Stack, all: Vec<Item>) -> audit_log_tests::load::Loaded {
    s.load_items(&ddb_events_table(s), all.into_iter()).await
}

async fn create_destination(s: &Stack, admin: &str, body: Value) -> String {
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
    let created: Value = serde_json::from_str(&text).expect("json");
    created["id"].as_str().expect("id").to_string()
}

fn ours_count_in(ids: &[String], prefix: &str) -> usize {
    ids.iter().filter(|i| i.starts_with(prefix)).count()
}
