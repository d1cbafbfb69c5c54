//! Every sample Lambda event in `events/` runs through its handler: the
//! files `cargo lambda invoke --data-file` uses are proven to work.

use std::path::PathBuf;
use std::time::Duration;

use audit_aws::access::Authenticator;
use audit_domain::auth::Role;
use audit_log_tests::{Stack, CURSOR_SECRET};
use serde_json::{json, Value};

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

fn load(name: &str, ingest_key: &str, admin_key: &str) -> lambda_http::Request {
    let text = std::fs::read_to_string(events_dir().join(name)).expect("sample file");
    let text = text
        .replace("REPLACE_WITH_INGEST_KEY", ingest_key)
        .replace("REPLACE_WITH_ADMIN_KEY", admin_key);
    lambda_http::request::from_str(&text).expect("an API Gateway request")
}

/// A sample as the raw payload Lambda hands the export function.
fn sample(name: &str) -> Value {
    let text = std::fs::read_to_string(events_dir().join(name)).expect("sample file");
    serde_json::from_str(&text).expect("JSON")
}

fn body(response: &http::Response<String>) -> Value {
    serde_json::from_str(response.body()).expect("JSON body")
}

/// Runs a sample through a function's router as its Lambda does
/// (`audit_http::lambda::run`).
async fn invoke(router: axum::Router, req: lambda_http::Request) -> http::Response<String> {
    use lambda_http::Service;
    let response = audit_http::lambda::Handler(router)
        .call(req)
        .await
        .unwrap_or_else(|never| match never {});
    response.map(|body| match body {
        lambda_http::Body::Text(text) => text,
        other => panic!("a Lambda answer's body is text, not {other:?}"),
    })
}

#[tokio::test]
async fn every_sample_event_runs_through_its_handler() {
    let s = Stack::start().await;
    let org = s.org("samples", false).await;
    let (ingest_key, _) = s.key(&org, Role::Ingest).await;
    let (admin_key, _) = s.key(&org, Role::Admin).await;
    let config = audit_aws::aws_config().await;
    let apps = auditctl::apps(
        s.store.clone(),
        CURSOR_SECRET,
        || Authenticator::new(Duration::ZERO),
        &config,
        audit_destinations::UrlPolicy {
            allow_private: true,
        },
        None,
    );

    let mut seen: Vec<String> = std::fs::read_dir(events_dir())
        .expect("events/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    seen.sort();

    let ingest = ingest::router(apps.ingest.clone());
    let single = invoke(
        ingest.clone(),
        load("ingest-single.json", &ingest_key, &admin_key),
    )
    .await;
    assert_eq!(single.status(), 201, "{}", single.body());
    let batch = invoke(ingest, load("ingest-batch.json", &ingest_key, &admin_key)).await;
    assert_eq!(batch.status(), 200, "{}", batch.body());
    assert_eq!(body(&batch)["summary"]["created"], 3);

    let query = query::router(apps.query.clone());
    let list = invoke(
        query.clone(),
        load("query-list.json", &ingest_key, &admin_key),
    )
    .await;
    assert_eq!(list.status(), 200, "{}", list.body());
    let ids: Vec<String> = body(&list)["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        ids,
        ["evt_sample_1"],
        "the list sample's filters select Ada's deployment"
    );

    let get = invoke(
        query.clone(),
        load("query-get.json", &ingest_key, &admin_key),
    )
    .await;
    assert_eq!(get.status(), 200, "{}", get.body());
    assert_eq!(
        body(&get)["description"],
        "Ada Lovelace deployed model llama-3 (deployment dep_42)"
    );

    let types = invoke(
        query,
        load("query-event-types.json", &ingest_key, &admin_key),
    )
    .await;
    assert_eq!(types.status(), 200);

    // The export samples go through the export function's entry point, over
    // tables and queues of their own (the scheduler scans every destination).
    let isolated = Stack::start_isolated().await;
    let exporter = isolated.exporter(export::ExportConfig::default()).await;
    let tick = export::handle_tick_event(&exporter, sample("export-schedule.json"))
        .await
        .expect("the schedule tick is handled");
    assert_eq!(
        tick,
        json!({
            "destinations": 0, "windows": 0, "errors": 0, "max_lag_secs": 0,
            "seal": {"orgs": 0, "digests": 0, "errors": 0},
            "late": {"marks": 0, "restamped": 0, "redelivered": 0, "errors": 0},
        }),
        "a tick over empty tables"
    );
    // The jobs name destination dst_01 of org demo, which does not exist: a
    // deleted destination's job is acknowledged, so no item fails.
    let jobs = sample("export-jobs.json");
    assert_eq!(jobs["Records"].as_array().map(Vec::len), Some(2));
    let acked = export::handle_jobs_event(&exporter, jobs.clone())
        .await
        .expect("the job batch is handled");
    assert_eq!(acked, json!({"batchItemFailures": []}));
    // The arrivals sample: two inserts from the events table's stream, one
    // written a second after its stamp, one an hour after: that one is marked.
    let late_after = export::late_after_ms(export::ExportConfig::default().lag_ms);
    let arrivals =
        export::handle_stream_event(&isolated.store, sample("export-arrivals.json"), late_after)
            .await
            .expect("the stream batch is handled");
    assert_eq!(arrivals, json!({"records": 2, "late": 1}));
    let marks = isolated.store.late_marks(10).await.expect("marks");
    assert_eq!(
        marks.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        ["evt_sample_late"]
    );
    // Each function takes its own trigger only: the scheduler never works
    // jobs, the worker never ticks, the arrivals function
    // takes stream batches only, and nothing else is taken for any.
    let refused = [
        export::handle_stream_event(&isolated.store, jobs.clone(), late_after).await,
        export::handle_stream_event(&isolated.store, sample("export-schedule.json"), late_after)
            .await,
        export::handle_tick_event(&exporter, jobs).await,
        export::handle_jobs_event(&exporter, sample("export-schedule.json")).await,
        export::handle_tick_event(&exporter, json!({"detail-type": "Object Created"})).await,
    ];
    for other in refused {
        assert!(
            matches!(other, Err(export::ExportEventError::UnknownTrigger(_))),
            "{other:?}"
        );
    }

    let exercised = [
        "export-arrivals.json",
        "export-jobs.json",
        "export-schedule.json",
        "ingest-batch.json",
        "ingest-single.json",
        "query-event-types.json",
        "query-get.json",
        "query-list.json",
    ];
    assert_eq!(seen, exercised, "a new sample in events/ needs a case here");
}
