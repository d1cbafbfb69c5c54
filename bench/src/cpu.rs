//! Figure 1: CPU per ingested event, in process, with criterion: what the
//! ingest handler does to one event before the write (parse the body,
//! validate with `take_event` as ingest does, with the content hash, build
//! the `Event`, encode the compact DynamoDB item with its deflated `packed`
//! blob), against `serde_json` parsing and serializing the same bytes.

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use audit_aws::store::encode_event_item;
use audit_domain::event::Event;
use audit_domain::ids::OrgId;
use audit_domain::time::Timestamp;
use audit_domain::validate::{parse_submission, take_event, Submission};
use aws_sdk_dynamodb::types::AttributeValue;
use criterion::Criterion;

pub const GROUP: &str = "ingest_cpu";
pub const OURS: &str = "parse_validate_encode";
pub const BASELINE: &str = "serde_json_roundtrip";

/// Ingest's per-event work, up to the item handed to PutItem.
pub fn ours(org: &OrgId, body: &[u8], now: Timestamp) -> Option<HashMap<String, AttributeValue>> {
    let Ok(Submission::One(mut value)) = parse_submission(body) else {
        return None;
    };
    let new = take_event(&mut value, now, "").ok()?;
    let event = Event::from_new(org.clone(), new, now);
    encode_event_item(&event, audit_domain::retention::RetentionDays::DEFAULT).ok()
}

/// The floor: parse the same bytes into a JSON value and write them out.
pub fn baseline(body: &[u8]) -> Option<Vec<u8>> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    serde_json::to_vec(&value).ok()
}

/// Registers both functions with `c`.
pub fn register(c: &mut Criterion) {
    let body = crate::fixtures::typical_event_bytes();
    let org = OrgId::parse("bench-cpu".to_string()).expect("org id");
    let now = Timestamp::now();
    assert!(
        ours(&org, &body, now).is_some(),
        "the typical event must be valid"
    );
    let mut g = c.benchmark_group(GROUP);
    g.bench_function(OURS, |b| {
        b.iter(|| ours(black_box(&org), black_box(&body), now))
    });
    g.bench_function(BASELINE, |b| b.iter(|| baseline(black_box(&body))));
    g.finish();
}

/// A criterion configured for the suite's time budget.
pub fn criterion(out: &Path, quick: bool) -> Criterion {
    let (warm, measure, samples) = if quick {
        (Duration::from_millis(500), Duration::from_secs(2), 20)
    } else {
        (Duration::from_secs(2), Duration::from_secs(6), 60)
    };
    Criterion::default()
        .output_directory(out)
        .without_plots()
        .warm_up_time(warm)
        .measurement_time(measure)
        .sample_size(samples)
}

/// Median nanoseconds per iteration criterion measured for `id`.
pub fn median_ns(out: &Path, id: &str) -> Result<f64, String> {
    let path = out.join(GROUP).join(id).join("new").join("estimates.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    v.pointer("/median/point_estimate")
        .and_then(serde_json::Value::as_f64)
        .ok_or_else(|| format!("{}: no median", path.display()))
}
