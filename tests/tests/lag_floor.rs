//! The export lag's floor (issue 12, item 4): it covers the longest ingest
//! write and index propagation, the code raises a smaller configured lag to
//! it, and the template refuses one below it.

use std::path::Path;

use serde_yaml::Value;

fn template() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .join("template.yaml");
    let text = std::fs::read_to_string(&path).expect("template.yaml is readable");
    serde_yaml::from_str(&text).expect("template.yaml is valid YAML")
}

fn number(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str()?.parse().ok())
}

#[test]
fn the_templates_lag_parameter_refuses_less_than_the_floor() {
    let t = template();
    let p = &t["Parameters"]["ExportLagSeconds"];
    assert_eq!(
        number(&p["MinValue"]).map(|s| s * 1000),
        Some(export::LAG_FLOOR_MS)
    );
    assert!(number(&p["Default"]).is_some_and(|s| s * 1000 >= export::LAG_FLOOR_MS));
}

#[test]
fn the_floor_covers_the_longest_ingest_write() {
    let t = template();
    let ingest = &t["Resources"]["IngestFunction"]["Properties"]["Timeout"];
    let timeout = number(ingest)
        .or_else(|| number(&t["Globals"]["Function"]["Timeout"]))
        .expect("ingest's timeout");
    assert!(
        timeout * 1000 < export::LAG_FLOOR_MS,
        "an ingest write may land {timeout} s after its recorded_at"
    );
}

#[test]
fn a_configured_lag_below_the_floor_is_raised_to_it() {
    // This test binary holds only these tests; no other reads the variable.
    std::env::set_var("AUDIT_EXPORT_LAG_SECONDS", "2");
    assert_eq!(
        export::ExportConfig::from_env().lag_ms,
        export::LAG_FLOOR_MS
    );
    std::env::set_var("AUDIT_EXPORT_LAG_SECONDS", "90");
    assert_eq!(export::ExportConfig::from_env().lag_ms, 90_000);
    std::env::remove_var("AUDIT_EXPORT_LAG_SECONDS");
}
