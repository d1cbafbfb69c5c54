//! Every OCSF record we export is checked against the official OCSF 1.1.0
//! schema's own definitions (vendored from github.com/ocsf/ocsf-schema at
//! tag v1.1.0 under `tests/ocsf-1.1.0/`, Apache-2.0), read the way the
//! schema server compiles them: a class's attributes are its own, its
//! parents' (`extends`) and everything `$include`d (includes and profiles);
//! an object's likewise. A record must carry every `required` attribute,
//! satisfy every `at_least_one` / `just_one` constraint, hold no attribute
//! the schema does not define (but under `unmapped`), give each attribute
//! the dictionary's type (objects checked recursively, arrays element by
//! element) and each enumerated attribute one of its values.

use std::path::{Path, PathBuf};

use audit_destinations::ocsf::api_activity;
use audit_domain::catalog::Action;
use audit_domain::event::{Actor, ActorType, Context, Event};
use audit_domain::fixtures::{system_event, user_event};
use audit_domain::ids::ActorId;
use serde_json::{Map, Value};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ocsf-1.1.0")
}

fn read(relative: &str) -> Value {
    let path = root().join(relative);
    if std::env::var_os("OCSF_LIST_FILES").is_some() {
        eprintln!("ocsf-file {relative}");
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// A class or object as compiled: attribute definitions and constraints.
#[derive(Debug, Default)]
struct Definition {
    attributes: Map<String, Value>,
    constraints: Map<String, Value>,
}

struct Schema {
    dictionary: Map<String, Value>,
    types: Map<String, Value>,
}

impl Schema {
    fn load() -> Self {
        let dictionary = read("dictionary.json");
        Schema {
            types: dictionary["types"]["attributes"]
                .as_object()
                .expect("types")
                .clone(),
            dictionary: dictionary["attributes"]
                .as_object()
                .expect("attributes")
                .clone(),
        }
    }

    /// Merges `def`'s attributes (and its `$include`s) over `into`: a later,
    /// more specific definition overrides field by field.
    fn merge(&self, def: &Value, into: &mut Definition) {
        if let Some(attrs) = def["attributes"].as_object() {
            if let Some(includes) = attrs.get("$include").and_then(Value::as_array) {
                for include in includes {
                    let included = read(include.as_str().expect("include path"));
                    self.merge(&included, into);
                }
            }
            for (name, spec) in attrs {
                if name == "$include" {
                    continue;
                }
                let slot = into
                    .attributes
                    .entry(name.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let (Value::Object(slot), Value::Object(spec)) = (slot, spec) {
                    for (k, v) in spec {
                        slot.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        if let Some(constraints) = def["constraints"].as_object() {
            into.constraints.extend(constraints.clone());
        }
    }

    fn object(&self, name: &str) -> Definition {
        let mut chain = Vec::new();
        let mut next = Some(name.to_string());
        while let Some(n) = next {
            // Only the objects a record uses are vendored: `objects/<name>.json`.
            let def = read(&format!("objects/{n}.json"));
            assert_eq!(
                def["name"],
                n.as_str(),
                "objects/{n}.json names another object"
            );
            next = def["extends"]
                .as_str()
                .filter(|p| *p != "object")
                .map(str::to_string);
            chain.push(def.clone());
        }
        let mut out = Definition::default();
        for def in chain.iter().rev() {
            self.merge(def, &mut out);
        }
        // Parents' constraints do not bind children that redefine them.
        if let Some(c) = chain[0]["constraints"].as_object() {
            out.constraints = c.clone();
        }
        out
    }

    /// `api_activity`: base_event, then application, then the class.
    fn api_activity(&self) -> Definition {
        let mut out = Definition::default();
        for path in [
            "events/base_event.json",
            "events/application/application.json",
            "events/application/api.json",
        ] {
            self.merge(&read(path), &mut out);
        }
        out
    }

    /// The base type of a dictionary type (`email_t` → `string_t`).
    fn base_type<'a>(&'a self, t: &'a str) -> &'a str {
        self.types
            .get(t)
            .and_then(|d| d["type"].as_str())
            .unwrap_or(t)
    }

    fn check(&self, def: &Definition, value: &Value, at: &str, faults: &mut Vec<String>) {
        let Some(record) = value.as_object() else {
            faults.push(format!("{at}: must be an object"));
            return;
        };
        for (name, spec) in &def.attributes {
            if spec["requirement"] == "required" && !record.contains_key(name) {
                faults.push(format!("{at}: required attribute {name} is missing"));
            }
        }
        for (kind, names) in &def.constraints {
            let names: Vec<&str> = names
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let present = names.iter().filter(|n| record.contains_key(**n)).count();
            let ok = match kind.as_str() {
                "at_least_one" => present >= 1,
                "just_one" => present == 1,
                other => panic!("unknown constraint {other}"),
            };
            if !ok {
                faults.push(format!("{at}: constraint {kind} of {names:?} not met"));
            }
        }
        for (name, v) in record {
            let here = format!("{at}.{name}");
            let Some(spec) = def.attributes.get(name) else {
                faults.push(format!("{here}: not an attribute of this class or object"));
                continue;
            };
            let entry = self
                .dictionary
                .get(name)
                .unwrap_or_else(|| panic!("{name} is not in the dictionary"));
            // A class's enum adds to the dictionary's (0 Unknown, 99 Other);
            // the uids' enums are compiled per class: checked by the caller.
            let mut enumeration: Option<Map<String, Value>> = None;
            if !matches!(name.as_str(), "class_uid" | "category_uid" | "type_uid") {
                for source in [entry.get("enum"), spec.get("enum")] {
                    if let Some(values) = source.and_then(Value::as_object) {
                        enumeration
                            .get_or_insert_with(Map::new)
                            .extend(values.clone());
                    }
                }
            }
            // An `_id` and its sibling name agree (but for 99, Other).
            if let (Some(values), Some(sibling)) = (&enumeration, entry["sibling"].as_str()) {
                let key = v.to_string();
                if let (Some(named), Some(given)) = (values.get(&key), record.get(sibling)) {
                    if key != "99" && named["caption"] != *given {
                        faults.push(format!(
                            "{here}: {sibling} {given} is not the caption {} of {key}",
                            named["caption"]
                        ));
                    }
                }
            }
            let enumeration = enumeration.as_ref();
            let kind = entry["type"].as_str().expect("dictionary type");
            if entry["is_array"] == Value::Bool(true) {
                match v.as_array() {
                    Some(items) => {
                        for (i, item) in items.iter().enumerate() {
                            self.check_value(
                                kind,
                                enumeration,
                                item,
                                &format!("{here}[{i}]"),
                                faults,
                            )
                        }
                    }
                    None => faults.push(format!("{here}: must be an array")),
                }
            } else {
                self.check_value(kind, enumeration, v, &here, faults);
            }
        }
    }

    fn check_value(
        &self,
        kind: &str,
        enumeration: Option<&Map<String, Value>>,
        v: &Value,
        at: &str,
        faults: &mut Vec<String>,
    ) {
        if let Some(values) = enumeration {
            let key = match v {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                _ => String::new(),
            };
            if !values.contains_key(&key) {
                faults.push(format!("{at}: {v} is not one of the enumerated values"));
            }
        }
        let ok = match self.base_type(kind) {
            "string_t" => v.is_string(),
            "integer_t" | "long_t" | "timestamp_t" | "port_t" => v.is_i64() || v.is_u64(),
            "float_t" => v.is_number(),
            "boolean_t" => v.is_boolean(),
            "json_t" => true,
            // `unmapped`: anything the schema does not map.
            "object" | "object_t" => v.is_object(),
            object => {
                let def = self.object(object);
                self.check(&def, v, at, faults);
                true
            }
        };
        if !ok {
            faults.push(format!("{at}: {v} is not of type {kind}"));
        }
    }
}

/// Every form an exported event takes: each action, by a person, an API
/// key, a service and the system, with and without context.
fn events() -> Vec<Event> {
    let mut out = Vec::new();
    for action in Action::every() {
        let mut user = user_event();
        user.action = action;
        user.resource.kind = action.resource_type().into();
        let mut bare = user.clone();
        bare.context = Context::default();
        bare.actor = Some(Actor {
            kind: ActorType::ApiKey,
            id: ActorId::parse("key_1").expect("id"),
            name: None,
            email: None,
        });
        let mut service = bare.clone();
        service.actor = Some(Actor {
            kind: ActorType::Service,
            id: ActorId::parse("svc_builder").expect("id"),
            name: Some("Builder".into()),
            email: None,
        });
        let mut system = system_event();
        system.action = action;
        system.resource.kind = action.resource_type().into();
        out.extend([user, bare, service, system]);
    }
    out
}

#[test]
fn every_api_activity_record_validates_against_the_ocsf_1_1_0_schema() {
    let schema = Schema::load();
    let class = schema.api_activity();
    let categories = read("categories.json");
    let category = &categories["attributes"]["application"];
    let class_uid = category["uid"].as_u64().expect("uid") * 1000
        + read("events/application/api.json")["uid"]
            .as_u64()
            .expect("uid");
    let mut faults = Vec::new();
    let events = events();
    for event in &events {
        let record = api_activity(event);
        let at = format!("{}({})", event.action.as_str(), event.id);
        schema.check(&class, &record, &at, &mut faults);
        if record["class_uid"] != class_uid {
            faults.push(format!("{at}: class_uid is not {class_uid}"));
        }
        if record["category_uid"] != category["uid"] {
            faults.push(format!(
                "{at}: category_uid is not the application category"
            ));
        }
        let type_uid = class_uid * 100 + record["activity_id"].as_u64().unwrap_or(0);
        if record["type_uid"] != type_uid {
            faults.push(format!("{at}: type_uid is not {type_uid}"));
        }
    }
    assert!(events.len() > 100);
    assert!(
        faults.is_empty(),
        "{} faults:\n{}",
        faults.len(),
        faults.join("\n")
    );
}

/// The checker itself can fail: each kind of fault it must find, it finds.
#[test]
fn the_checker_finds_missing_unknown_mistyped_and_unconstrained_attributes() {
    let schema = Schema::load();
    let class = schema.api_activity();
    let good = api_activity(&user_event());
    let found = |edit: &dyn Fn(&mut Value), expect: &str| {
        let mut record = good.clone();
        edit(&mut record);
        let mut faults = Vec::new();
        schema.check(&class, &record, "r", &mut faults);
        assert!(
            faults.iter().any(|f| f.contains(expect)),
            "expected a fault with {expect:?}, got {faults:?}"
        );
    };
    found(
        &|r| drop(r.as_object_mut().unwrap().remove("api")),
        "required attribute api",
    );
    found(
        &|r| r["nonsense"] = Value::Bool(true),
        "r.nonsense: not an attribute",
    );
    found(&|r| r["time"] = "yesterday".into(), "r.time");
    found(
        &|r| r["actor"] = serde_json::json!({}),
        "constraint at_least_one",
    );
    found(
        &|r| r["severity_id"] = 42.into(),
        "not one of the enumerated values",
    );
    found(
        &|r| r["cloud"] = serde_json::json!({}),
        "r.cloud: required attribute provider",
    );
}
