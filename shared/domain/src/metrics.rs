//! Metrics in CloudWatch Embedded Metric Format: one JSON line on stdout per
//! emission, which Lambda's log pipeline turns into CloudWatch metrics (no
//! SDK call, no network). Namespace `AUDIT_METRICS_NAMESPACE` (default
//! `AuditLog`), every metric with the dimension `Stage` (`AUDIT_STAGE`,
//! default `local`), as the template's alarms expect.
//!
//! Each line also carries `level` and `timestamp`, as Lambda's JSON log
//! format expects: Lambda drops JSON lines below the function's
//! `ApplicationLogLevel` (the template's `LogLevel`), judging by `level`, so
//! a metric line is written at exactly the configured level
//! (`AWS_LAMBDA_LOG_LEVEL`, set by Lambda) and is kept whatever it is.
//!
//! Emission never fails a request: a write error is ignored. It is on in
//! Lambda (and `cargo lambda watch`) and off elsewhere, so tests and
//! `auditctl serve` print no metric lines; `AUDIT_METRICS=on|off` overrides.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::OnceLock;

/// The metric names, as CloudWatch and the template's alarms know them.
pub const EVENTS_INGESTED: &str = "EventsIngested";
pub const EVENTS_REJECTED: &str = "EventsRejected";
pub const EVENTS_DELIVERED: &str = "EventsDelivered";
pub const EVENTS_FAILED: &str = "EventsFailed";
pub const EXPORT_LAG_SECONDS: &str = "ExportLagSeconds";
/// The namespace when `AUDIT_METRICS_NAMESPACE` is unset (the template's).
pub const DEFAULT_NAMESPACE: &str = "AuditLog";
/// Lambda's log levels, lowest first.
pub const LOG_LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

/// CloudWatch units this service uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Seconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Seconds => "Seconds",
        }
    }
}

/// One value of one metric.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    pub name: &'static str,
    pub unit: Unit,
    pub value: i64,
}

impl Metric {
    pub fn count(name: &'static str, value: usize) -> Self {
        Metric {
            name,
            unit: Unit::Count,
            value: i64::try_from(value).unwrap_or(i64::MAX),
        }
    }
}

/// Where the metrics go: the namespace, the stage, and whether to print.
#[derive(Debug, Clone)]
pub struct Context {
    pub namespace: String,
    pub stage: String,
    pub enabled: bool,
    /// The `level` of every metric line: the function's configured log
    /// level, so the log filter keeps it.
    pub level: String,
}

impl Context {
    /// From `AUDIT_METRICS_NAMESPACE`, `AUDIT_STAGE`, `AUDIT_METRICS`, and
    /// `AWS_LAMBDA_FUNCTION_NAME` (set by Lambda and `cargo lambda watch`).
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Context {
            namespace: var("AUDIT_METRICS_NAMESPACE").unwrap_or_else(|| DEFAULT_NAMESPACE.into()),
            stage: var("AUDIT_STAGE").unwrap_or_else(|| "local".into()),
            level: metric_level(var("AWS_LAMBDA_LOG_LEVEL").as_deref()).into(),
            enabled: enabled(
                var("AUDIT_METRICS").as_deref(),
                var("AWS_LAMBDA_FUNCTION_NAME").is_some(),
            ),
        }
    }
}

/// The level a metric line is written at: the configured one when it is one
/// of Lambda's, else INFO (Lambda's default).
pub fn metric_level(configured: Option<&str>) -> &'static str {
    configured
        .and_then(|c| LOG_LEVELS.iter().find(|l| l.eq_ignore_ascii_case(c.trim())))
        .copied()
        .unwrap_or("INFO")
}

/// Whether Lambda keeps a line at `level` under `ApplicationLogLevel` `filter`.
pub fn kept_by(level: &str, filter: &str) -> bool {
    let rank = |l: &str| LOG_LEVELS.iter().position(|x| x.eq_ignore_ascii_case(l));
    match (rank(level), rank(filter)) {
        (Some(l), Some(f)) => l >= f,
        _ => false,
    }
}

/// `AUDIT_METRICS` decides when set; otherwise on exactly inside Lambda.
fn enabled(setting: Option<&str>, in_lambda: bool) -> bool {
    match setting {
        Some(s) => matches!(s, "on" | "1" | "true"),
        None => in_lambda,
    }
}

/// Read once per process: the environment does not change under a Lambda.
fn context() -> &'static Context {
    static CONTEXT: OnceLock<Context> = OnceLock::new();
    CONTEXT.get_or_init(Context::from_env)
}

/// Events accepted (newly stored) and rejected (invalid or conflicting) by
/// one ingest request.
pub fn ingest(ingested: usize, rejected: usize) {
    emit(
        &[],
        &[
            Metric::count(EVENTS_INGESTED, ingested),
            Metric::count(EVENTS_REJECTED, rejected),
        ],
    );
}

/// One export job's events, delivered or failed, by destination type
/// (`s3`, `datadog`, `splunk`, `webhook`).
pub fn delivery(destination_type: &str, delivered: usize, failed: usize) {
    emit(
        &[("DestinationType", destination_type)],
        &[
            Metric::count(EVENTS_DELIVERED, delivered),
            Metric::count(EVENTS_FAILED, failed),
        ],
    );
}

/// How far behind now the oldest export cursor is, per scheduler tick.
/// Only the dimension `Stage`: the `ExportLagAlarm` matches exactly that set.
pub fn export_lag(seconds: i64) {
    emit(
        &[],
        &[Metric {
            name: EXPORT_LAG_SECONDS,
            unit: Unit::Seconds,
            value: seconds.max(0),
        }],
    );
}

/// Prints one EMF line with `Stage` plus `dimensions`, if metrics are on.
pub fn emit(dimensions: &[(&str, &str)], metrics: &[Metric]) {
    let context = context();
    if !context.enabled {
        return;
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut line = String::with_capacity(384);
    encode(&mut line, context, now_ms, dimensions, metrics);
    line.push('\n');
    // One write of the whole line, so it never interleaves with log lines.
    let _ = std::io::stdout().lock().write_all(line.as_bytes());
}

/// Appends the EMF document (without the newline) to `out`: the `_aws`
/// block declaring the metrics, then dimensions and values at top level.
pub fn encode(
    out: &mut String,
    context: &Context,
    timestamp_ms: u64,
    dimensions: &[(&str, &str)],
    metrics: &[Metric],
) {
    // Writing into a String cannot fail.
    let _ = write!(out, "{{\"_aws\":{{\"Timestamp\":{timestamp_ms},");
    out.push_str("\"CloudWatchMetrics\":[{\"Namespace\":");
    push_str(out, &context.namespace);
    out.push_str(",\"Dimensions\":[[\"Stage\"");
    for (name, _) in dimensions {
        out.push(',');
        push_str(out, name);
    }
    out.push_str("]],\"Metrics\":[");
    for (i, m) in metrics.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"Name\":");
        push_str(out, m.name);
        out.push_str(",\"Unit\":\"");
        out.push_str(m.unit.as_str());
        out.push_str("\"}");
    }
    out.push_str("]}]},\"level\":");
    push_str(out, &context.level);
    let timestamp = i64::try_from(timestamp_ms)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    out.push_str(",\"timestamp\":");
    push_str(out, &timestamp);
    out.push_str(",\"Stage\":");
    push_str(out, &context.stage);
    for (name, value) in dimensions {
        out.push(',');
        push_str(out, name);
        out.push(':');
        push_str(out, value);
    }
    for m in metrics {
        out.push(',');
        push_str(out, m.name);
        let _ = write!(out, ":{}", m.value);
    }
    out.push('}');
}

/// A JSON string literal.
fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn context(stage: &str) -> Context {
        Context {
            namespace: "AuditLog".into(),
            stage: stage.into(),
            enabled: true,
            level: "INFO".into(),
        }
    }

    fn encoded(stage: &str, dimensions: &[(&str, &str)], metrics: &[Metric]) -> Value {
        let mut out = String::new();
        encode(
            &mut out,
            &context(stage),
            1_795_856_520_000,
            dimensions,
            metrics,
        );
        assert!(!out.contains('\n'), "one line: {out}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    #[test]
    fn export_lag_is_declared_with_only_the_stage_dimension_the_alarm_uses() {
        let doc = encoded(
            "prod",
            &[],
            &[Metric {
                name: EXPORT_LAG_SECONDS,
                unit: Unit::Seconds,
                value: 75,
            }],
        );
        assert_eq!(
            doc,
            json!({
                "_aws": {
                    "Timestamp": 1_795_856_520_000u64,
                    "CloudWatchMetrics": [{
                        "Namespace": "AuditLog",
                        "Dimensions": [["Stage"]],
                        "Metrics": [{"Name": "ExportLagSeconds", "Unit": "Seconds"}]
                    }]
                },
                "level": "INFO",
                "timestamp": "2026-11-28T09:02:00.000Z",
                "Stage": "prod",
                "ExportLagSeconds": 75
            })
        );
    }

    #[test]
    fn delivery_counts_carry_the_destination_type_as_a_dimension() {
        let doc = encoded(
            "local",
            &[("DestinationType", "webhook")],
            &[
                Metric::count(EVENTS_DELIVERED, 12),
                Metric::count(EVENTS_FAILED, 0),
            ],
        );
        let declared = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(
            declared["Dimensions"],
            json!([["Stage", "DestinationType"]])
        );
        assert_eq!(
            declared["Metrics"],
            json!([
                {"Name": "EventsDelivered", "Unit": "Count"},
                {"Name": "EventsFailed", "Unit": "Count"}
            ])
        );
        assert_eq!(doc["DestinationType"], "webhook");
        assert_eq!(doc["EventsDelivered"], 12);
        assert_eq!(doc["EventsFailed"], 0);
    }

    #[test]
    fn every_declared_metric_and_dimension_has_a_top_level_value() {
        let doc = encoded(
            "dev",
            &[("DestinationType", "s3")],
            &[
                Metric::count(EVENTS_INGESTED, 3),
                Metric::count(EVENTS_REJECTED, 1),
            ],
        );
        let declared = &doc["_aws"]["CloudWatchMetrics"][0];
        for name in declared["Dimensions"][0].as_array().unwrap() {
            assert!(doc[name.as_str().unwrap()].is_string(), "{name}");
        }
        for m in declared["Metrics"].as_array().unwrap() {
            assert!(doc[m["Name"].as_str().unwrap()].is_i64(), "{m}");
        }
    }

    #[test]
    fn a_stage_with_quotes_or_control_characters_stays_valid_json() {
        let doc = encoded("we\"ird\\\n", &[], &[Metric::count(EVENTS_INGESTED, 1)]);
        assert_eq!(doc["Stage"], "we\"ird\\\n");
    }

    #[test]
    fn metric_lines_pass_the_log_filter_at_every_configured_level() {
        for filter in ["trace", "debug", "info", "warn", "error"] {
            let mut ctx = context("prod");
            ctx.level = metric_level(Some(&filter.to_uppercase())).into();
            let mut out = String::new();
            encode(&mut out, &ctx, 0, &[], &[Metric::count(EVENTS_INGESTED, 1)]);
            let doc: Value = serde_json::from_str(&out).unwrap();
            let level = doc["level"].as_str().unwrap();
            assert!(kept_by(level, filter), "{level} under {filter}");
            assert!(doc["timestamp"].is_string());
        }
        // What the issue found: a line without a level is not kept at WARN.
        assert!(!kept_by("", "WARN"));
        assert!(!kept_by("INFO", "WARN"));
        assert_eq!(metric_level(None), "INFO");
        assert_eq!(metric_level(Some("bogus")), "INFO");
    }

    #[test]
    fn metrics_are_on_in_lambda_and_off_elsewhere_unless_set() {
        assert!(enabled(None, true));
        assert!(!enabled(None, false));
        assert!(enabled(Some("on"), false));
        assert!(!enabled(Some("off"), true));
    }
}
