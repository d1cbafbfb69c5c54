//! Events the suite stores: realistic shapes (about 1 KB as JSON), spread
//! over actions, actors, models and days so every filter has something to
//! select.

use audit_domain::catalog::Action;
use serde_json::{json, Value};

/// Words the free-text filter looks for: one model name per event.
pub const MODELS: [&str; 20] = [
    "llama-3",
    "mistral-7b",
    "mixtral",
    "gemma-2",
    "phi-3",
    "qwen-2",
    "falcon",
    "bloomz",
    "starcoder",
    "codellama",
    "vicuna",
    "zephyr",
    "orca-mini",
    "yi-34b",
    "dbrx",
    "jamba",
    "olmo",
    "granite",
    "nemotron",
    "command-r",
];

/// A word one event of a data set holds (the model name of event
/// `RARE_INDEX`), so free text can be measured on a word that rare.
pub const RARE_WORD: &str = "quokka-7f3a";
pub const RARE_INDEX: usize = 333;

/// Users the events are spread over (plus system events).
pub const ACTORS: usize = 40;

/// Producer actions, cycled through.
pub fn actions() -> &'static [Action] {
    Action::ALL
}

/// Event `i` of a data set: the JSON a producer posts. `occurred_at_ms`
/// None lets the server fill in now.
pub fn event(prefix: &str, i: usize, occurred_at_ms: Option<i64>) -> Value {
    let actions = actions();
    let action = actions[i % actions.len()];
    // Coprime strides so actor, model and action vary independently.
    let model = if i == RARE_INDEX {
        RARE_WORD
    } else {
        MODELS[(i / 7) % MODELS.len()]
    };
    let mut e = json!({
        "id": format!("{prefix}_{i:07}"),
        "action": action.as_str(),
        "resource": {"type": action.resource_type(), "id": format!("res_{:05}", i % 9973), "name": model},
        "context": {"ip": "203.0.113.9", "user_agent": "platform-api/2.14.1 (linux; x86_64)", "request_id": format!("req_{i:012}")},
        "metadata": {
            "model_name": model,
            "chain_name": "rag-chain-production",
            "environment": "production",
            "region": "eu-west-1",
            "instance_type": "gpu.a100.80gb",
            "replicas": 3,
            "autoscaling": {"min": 1, "max": 8, "target_utilization": 0.7},
            "labels": ["team:ml-platform", "cost-center:4711", "tier:gold"],
            "reason": "rolled out after the nightly evaluation passed on every benchmark suite",
            "version": "v42",
            "previous_version": "v41",
            "git_sha": "3f9c2a7e1b4d8f6a0c5e9b2d7f1a4c8e6b3d0f9a",
            "ticket": "OPS-12345",
            "endpoint": format!("https://inference.internal.example.com/v1/models/{model}/deployments/{}", i % 9973),
            "approved_by": ["usr_001", "usr_017"]
        },
    });
    // One event in eleven is system-initiated.
    if !i.is_multiple_of(11) {
        let u = (i / 3) % ACTORS;
        e["actor"] = json!({"type": "user", "id": format!("usr_{u:03}"), "name": format!("User Number {u}"), "email": format!("user{u}@example.com")});
    }
    if let Some(ms) = occurred_at_ms {
        let t = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
        e["occurred_at"] = json!(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    }
    e
}

/// The typical single event of figure 1, as the bytes a producer sends.
pub fn typical_event_bytes() -> Vec<u8> {
    serde_json::to_vec(&event("evt_typical", 12_345, None)).unwrap_or_default()
}
