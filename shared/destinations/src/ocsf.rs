//! The OCSF 1.1 encoding: every audit event is an API Activity (class 6003,
//! category Application Activity). Absent optional fields are left out, not
//! written as null.

use serde_json::{json, Map, Value};

use audit_domain::catalog::Action;
use audit_domain::event::{Actor, ActorType, Event, SYSTEM_ACTOR};

pub const OCSF_VERSION: &str = "1.1.0";
pub const CLASS_UID: u32 = 6003;
pub const CATEGORY_UID: u32 = 6;
pub const PRODUCT_NAME: &str = "Audit Log";

/// OCSF activity: Create, Read, Update, Delete or Other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    Create = 1,
    Read = 2,
    Update = 3,
    Delete = 4,
    Other = 99,
}

impl Activity {
    /// Read from the action name's verb, so new catalog entries map without
    /// a table edit.
    pub fn of(action: Action) -> Self {
        let name = action.as_str();
        let ends = |suffixes: &[&str]| suffixes.iter().any(|s| name.ends_with(s));
        if ends(&["_CREATED", "_DEPLOYED", "_INVITED", "_SIGNED"]) {
            Activity::Create
        } else if ends(&["_DELETED", "_REMOVED", "TERMINATED"]) {
            Activity::Delete
        } else if ends(&[
            "_UPDATED",
            "_CHANGED",
            "_ROTATED",
            "_PROMOTED",
            "ACTIVATED",
            "_RETRIED",
        ]) {
            // "ACTIVATED" also covers "DEACTIVATED".
            Activity::Update
        } else {
            Activity::Other
        }
    }

    pub fn id(self) -> u32 {
        self as u32
    }

    pub fn caption(self) -> &'static str {
        match self {
            Activity::Create => "Create",
            Activity::Read => "Read",
            Activity::Update => "Update",
            Activity::Delete => "Delete",
            Activity::Other => "Other",
        }
    }
}

/// The API Activity record for one event.
pub fn api_activity(event: &Event) -> Value {
    let activity = Activity::of(event.action);
    let ctx = &event.context;
    let mut record = json!({
        "class_uid": CLASS_UID,
        "class_name": "API Activity",
        "category_uid": CATEGORY_UID,
        "category_name": "Application Activity",
        "activity_id": activity.id(),
        "activity_name": activity.caption(),
        "type_uid": CLASS_UID * 100 + activity.id(),
        "type_name": format!("API Activity: {}", activity.caption()),
        "severity_id": 1,
        "severity": "Informational",
        "status_id": 1,
        "status": "Success",
        "time": event.occurred_at.millis(),
        "message": event.description(),
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": PRODUCT_NAME, "vendor_name": PRODUCT_NAME},
            "uid": event.id.as_str(),
            "original_time": event.occurred_at.to_rfc3339(),
            "logged_time": event.recorded_at.millis(),
        },
        // Required by the cloud profile every OCSF 1.1 event carries: the
        // service the events come from, and the org they belong to.
        "cloud": {"provider": PRODUCT_NAME, "org": {"uid": event.org_id.as_str()}},
        "actor": actor(event.actor.as_ref()),
        "api": api(event),
        "src_endpoint": src_endpoint(ctx.ip.as_deref()),
        "resources": [resource(event)],
        "unmapped": {
            "org_id": event.org_id.as_str(),
            "group": event.group().slug(),
            "metadata": event.metadata,
        },
    });
    if let (Some(agent), Value::Object(fields)) = (&ctx.user_agent, &mut record) {
        fields.insert("http_request".into(), json!({"user_agent": agent}));
    }
    record
}

fn actor(actor: Option<&Actor>) -> Value {
    // The actor needs one of user, process, invoked_by or session; a
    // system-initiated event was invoked by the platform itself.
    let Some(a) = actor else {
        return json!({"invoked_by": SYSTEM_ACTOR});
    };
    let (type_id, kind) = match a.kind {
        ActorType::User => (1, "User"),
        ActorType::ApiKey | ActorType::Service => (99, a.kind.as_str()),
    };
    let mut user = Map::new();
    user.insert("uid".into(), a.id.as_str().into());
    insert_some(&mut user, "name", a.name.as_deref());
    insert_some(&mut user, "email_addr", a.email.as_deref());
    user.insert("type_id".into(), type_id.into());
    user.insert("type".into(), kind.into());
    json!({ "user": user })
}

fn api(event: &Event) -> Value {
    let mut api = Map::new();
    api.insert("operation".into(), event.action.as_str().into());
    if let Some(id) = &event.context.request_id {
        api.insert("request".into(), json!({ "uid": id }));
    }
    Value::Object(api)
}

/// `src_endpoint` is required in API Activity and needs at least one
/// identifying field; when the address is unknown it says so by name.
fn src_endpoint(ip: Option<&str>) -> Value {
    match ip {
        Some(ip) => json!({ "ip": ip }),
        None => json!({ "name": "unknown" }),
    }
}

fn resource(event: &Event) -> Value {
    let r = &event.resource;
    let mut out = Map::new();
    out.insert("uid".into(), r.id.as_str().into());
    insert_some(&mut out, "name", r.name.as_deref());
    out.insert("type".into(), r.kind.as_str().into());
    Value::Object(out)
}

fn insert_some(map: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(v) = value {
        map.insert(key.into(), v.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_domain::fixtures::{system_event, user_event};

    fn assert_base_fields(r: &Value) {
        for key in [
            "class_uid",
            "category_uid",
            "activity_id",
            "type_uid",
            "severity_id",
            "time",
            "metadata",
            "actor",
            "api",
            "src_endpoint",
        ] {
            assert!(!r[key].is_null(), "{key} missing");
        }
        assert_eq!(r["class_uid"], 6003);
        assert_eq!(r["category_uid"], 6);
        assert_eq!(r["metadata"]["version"], "1.1.0");
        assert_eq!(r["metadata"]["product"]["vendor_name"], "Audit Log");
        assert!(r["api"]["operation"].is_string());
    }

    fn no_nulls(v: &Value) -> bool {
        match v {
            Value::Null => false,
            Value::Array(a) => a.iter().all(no_nulls),
            Value::Object(o) => o.values().all(no_nulls),
            _ => true,
        }
    }

    #[test]
    fn user_event_has_the_required_base_fields_and_its_actor() {
        let r = api_activity(&user_event());
        assert_base_fields(&r);
        assert_eq!(r["activity_id"], 1);
        assert_eq!(r["type_uid"], 600301);
        assert_eq!(r["time"], 1_795_858_200_123_i64);
        assert_eq!(r["metadata"]["uid"], "evt_user_1");
        assert_eq!(r["metadata"]["original_time"], "2026-11-28T09:30:00.123Z");
        assert_eq!(r["metadata"]["logged_time"], 1_795_858_201_456_i64);
        let user = &r["actor"]["user"];
        assert_eq!(user["uid"], "usr_ada");
        assert_eq!(user["name"], "Ada Lovelace");
        assert_eq!(user["email_addr"], "ada@example.com");
        assert_eq!(r["api"]["request"]["uid"], "req_42");
        assert_eq!(r["src_endpoint"]["ip"], "203.0.113.7");
        assert_eq!(r["http_request"]["user_agent"], "truss/0.9");
        assert_eq!(r["resources"][0]["uid"], "dep_1");
        assert_eq!(r["unmapped"]["org_id"], "org_acme");
        assert_eq!(r["unmapped"]["group"], "models");
        assert_eq!(r["unmapped"]["metadata"]["model_name"], "llama-3");
        assert_eq!(r["message"], user_event().description().as_str());
    }

    #[test]
    fn system_event_has_the_required_base_fields_and_a_system_actor() {
        let r = api_activity(&system_event());
        assert_base_fields(&r);
        assert_eq!(r["actor"], json!({"invoked_by": "system"}));
        assert_eq!(r["activity_id"], 4);
        assert_eq!(r["type_uid"], 600304);
    }

    #[test]
    fn absent_optional_fields_are_omitted_not_null() {
        let r = api_activity(&system_event());
        assert!(no_nulls(&r), "{r}");
        assert!(r.get("http_request").is_none());
        assert!(r["api"].get("request").is_none());
        assert!(r["resources"][0].get("name").is_none());
        assert!(no_nulls(&api_activity(&user_event())));
    }

    #[test]
    fn activity_follows_the_verb_of_the_action() {
        use Action::*;
        let cases = [
            (EnvironmentCreated, Activity::Create),
            (ModelDeployed, Activity::Create),
            (UserInvited, Activity::Create),
            (SshCertificateSigned, Activity::Create),
            (ApiKeyDeleted, Activity::Delete),
            (UserRemoved, Activity::Delete),
            (ReplicaTerminated, Activity::Delete),
            (SecretUpdated, Activity::Update),
            (ChainletInstanceTypeChanged, Activity::Update),
            (WebhookSigningSecretRotated, Activity::Update),
            (ChainDeploymentPromoted, Activity::Update),
            (ModelDeploymentActivated, Activity::Update),
            (ModelDeploymentDeactivated, Activity::Update),
            (ModelDeploymentRetried, Activity::Update),
            (UserJoinedOrganization, Activity::Other),
            (ModelPromotionControlAction, Activity::Other),
        ];
        for (action, expected) in cases {
            assert_eq!(Activity::of(action), expected, "{}", action.as_str());
        }
    }
}
