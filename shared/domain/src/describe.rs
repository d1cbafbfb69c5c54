//! How an event reads to people: the sentence each action renders as
//! ("Ada Lovelace deployed model llama-3 (deployment dep_42)"), the text
//! free-text search runs over, and the event as the API returns it.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::catalog::Action;
use crate::event::{Actor, Context, Event, Resource};
use crate::ids::{EventId, OrgId};
use crate::integrity::event_hash;
use crate::time::Timestamp;

/// Longest metadata string (in characters) that may appear in a sentence.
const MAX_SENTENCE_VALUE_CHARS: usize = 128;

impl Event {
    /// The human-readable sentence for this event.
    pub fn description(&self) -> String {
        describe(
            self.action,
            self.actor.as_ref(),
            &self.resource,
            &self.metadata,
        )
    }

    /// Lower-cased text the free-text search runs over: description, actor,
    /// resource and action.
    pub fn search_text(&self) -> String {
        let mut parts: Vec<&str> = Vec::with_capacity(10);
        let description = self.description();
        parts.push(&description);
        match &self.actor {
            Some(a) => {
                parts.push(a.id.as_str());
                parts.extend(a.name.as_deref());
                parts.extend(a.email.as_deref());
            }
            None => parts.push("system"),
        }
        parts.push(&self.resource.kind);
        parts.push(self.resource.id.as_str());
        parts.extend(self.resource.name.as_deref());
        parts.push(self.action.as_str());
        parts.join("\n").to_lowercase()
    }

    /// The API representation: the event plus its group and description.
    pub fn view(&self) -> EventView<'_> {
        EventView {
            id: &self.id,
            org_id: &self.org_id,
            action: self.action,
            group: self.group().slug(),
            description: self.description(),
            occurred_at: self.occurred_at,
            recorded_at: self.recorded_at,
            actor: self.actor.as_ref(),
            resource: &self.resource,
            context: &self.context,
            metadata: &self.metadata,
            hash: event_hash(self),
        }
    }
}

/// What `GET /v1/events` returns for each event.
#[derive(Debug, Serialize)]
pub struct EventView<'a> {
    pub id: &'a EventId,
    pub org_id: &'a OrgId,
    pub action: Action,
    pub group: &'static str,
    pub description: String,
    pub occurred_at: Timestamp,
    pub recorded_at: Timestamp,
    pub actor: Option<&'a Actor>,
    pub resource: &'a Resource,
    pub context: &'a Context,
    pub metadata: &'a Map<String, Value>,
    /// SHA-256 over the canonical encoding of the stored event (see `integrity`).
    pub hash: String,
}

/// The human-readable sentence for an event: its subject (the actor, or
/// "System" when `actor` is `None`) and its action's template, rendered.
pub fn describe(
    action: Action,
    actor: Option<&Actor>,
    resource: &Resource,
    metadata: &Map<String, Value>,
) -> String {
    let subject = actor.map_or_else(|| "System".to_owned(), Actor::display);
    let parts = Parts {
        actor,
        resource,
        meta: Meta(metadata),
    };
    let mut template = Template {
        rest: action.row().template.as_bytes(),
        parts: &parts,
    };
    let (predicate, _) = template.sequence(false);
    format!("{subject} {predicate}")
}

/// The template syntax of the catalog's sentences:
///
/// * `{source}` a value: `resource` (its name, else its id), `resource.name`,
///   `resource.id`, `autoscaling` (" to min replicas 1, max replicas 3, …",
///   empty when no setting is known), a metadata key (strings and numbers fit
///   for a sentence), or a condition that renders nothing when it holds:
///   `?actor` (a person or key acted), `?self` (the actor is the resource);
/// * `{a|b|c}` the first of these sources that has a value;
/// * `[…]` optional: left out when a source inside it has no value;
/// * `<x|y|…>` the first alternative whose sources all have values;
/// * anything else is literal text.
///
/// A sequence whose source has no value is "unresolved": an optional part
/// drops it, a choice tries the next alternative.
struct Template<'t, 'p> {
    rest: &'t [u8],
    parts: &'p Parts<'p>,
}

/// What a sentence is made of.
struct Parts<'a> {
    actor: Option<&'a Actor>,
    resource: &'a Resource,
    meta: Meta<'a>,
}

impl Template<'_, '_> {
    /// Renders up to the end of the enclosing `[…]`, `<…>` alternative or
    /// template (consuming it all either way), and whether every source in it
    /// had a value.
    fn sequence(&mut self, in_choice: bool) -> (String, bool) {
        let mut out = String::new();
        let mut resolved = true;
        while let Some(&c) = self.rest.first() {
            match c {
                b']' | b'>' => break,
                b'|' if in_choice => break,
                b'{' => {
                    self.rest = &self.rest[1..];
                    match self.source() {
                        Some(value) => out.push_str(&value),
                        None => resolved = false,
                    }
                }
                b'[' => {
                    self.rest = &self.rest[1..];
                    let (inner, ok) = self.sequence(false);
                    self.skip(b']');
                    if ok {
                        out.push_str(&inner);
                    }
                }
                b'<' => {
                    self.rest = &self.rest[1..];
                    match self.choice() {
                        Some(chosen) => out.push_str(&chosen),
                        None => resolved = false,
                    }
                }
                _ => {
                    // Literal text up to the next special byte (UTF-8 safe:
                    // the specials are ASCII).
                    let end = self
                        .rest
                        .iter()
                        .position(|b| b"{}[]<>|".contains(b) && (*b != b'|' || in_choice))
                        .unwrap_or(self.rest.len())
                        .max(1);
                    out.push_str(&String::from_utf8_lossy(&self.rest[..end]));
                    self.rest = &self.rest[end..];
                }
            }
        }
        (out, resolved)
    }

    /// After `<`: the first alternative that resolves, through the closing `>`.
    fn choice(&mut self) -> Option<String> {
        let mut chosen = None;
        loop {
            let (alternative, ok) = self.sequence(true);
            if ok && chosen.is_none() {
                chosen = Some(alternative);
            }
            match self.rest.first() {
                Some(b'|') => self.rest = &self.rest[1..],
                _ => {
                    self.skip(b'>');
                    return chosen;
                }
            }
        }
    }

    /// After `{`: the first source of `a|b|c` with a value, through `}`.
    fn source(&mut self) -> Option<String> {
        let end = self
            .rest
            .iter()
            .position(|&b| b == b'}')
            .unwrap_or(self.rest.len());
        let names = String::from_utf8_lossy(&self.rest[..end]).into_owned();
        self.rest = &self.rest[end..];
        self.skip(b'}');
        names.split('|').find_map(|name| self.parts.value(name))
    }

    fn skip(&mut self, closing: u8) {
        if self.rest.first() == Some(&closing) {
            self.rest = &self.rest[1..];
        }
    }
}

impl Parts<'_> {
    fn value(&self, name: &str) -> Option<String> {
        let r = self.resource;
        match name {
            "resource" => Some(r.display().to_owned()),
            "resource.name" => r.name.clone(),
            "resource.id" => Some(r.id.to_string()),
            "autoscaling" => Some(autoscaling(&self.meta)),
            "?actor" => self.actor.map(|_| String::new()),
            "?self" => self
                .actor
                .filter(|a| a.id.as_str() == r.id.as_str())
                .map(|_| String::new()),
            key => self.meta.get(key),
        }
    }
}

/// The metadata keys a template reads, each once, in order of appearance
/// (`autoscaling` stands for its three settings).
pub fn template_keys(template: &str) -> Vec<&str> {
    let mut keys = Vec::new();
    for source in template.split('{').skip(1) {
        let names = source.split('}').next().unwrap_or_default();
        for name in names.split('|') {
            let found: &[&str] = match name {
                "resource" | "resource.name" | "resource.id" | "?actor" | "?self" => &[],
                "autoscaling" => &AUTOSCALING_KEYS,
                key => &[key][..],
            };
            for key in found {
                if !keys.contains(key) {
                    keys.push(key);
                }
            }
        }
    }
    keys
}

const AUTOSCALING_KEYS: [&str; 3] = ["min_replicas", "max_replicas", "concurrency_target"];

/// An event's metadata, read only through values fit for a sentence.
struct Meta<'a>(&'a Map<String, Value>);

impl Meta<'_> {
    /// Strings and numbers only; a string that is blank, too long or holds
    /// control or bidirectional characters is treated as absent.
    fn get(&self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            Value::String(s) => fit_for_sentence(s),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

fn fit_for_sentence(s: &str) -> Option<String> {
    let disruptive = |c: char| {
        c.is_control()
            || matches!(c, '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
    };
    if s.chars().count() > MAX_SENTENCE_VALUE_CHARS || s.chars().any(disruptive) {
        return None;
    }
    let words: Vec<&str> = s.split_whitespace().collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// " to min replicas 1, max replicas 3, concurrency target 4", or whichever
/// settings are known; empty when none is.
fn autoscaling(m: &Meta) -> String {
    let settings: Vec<String> = ["min replicas", "max replicas", "concurrency target"]
        .into_iter()
        .zip(AUTOSCALING_KEYS)
        .filter_map(|(label, key)| m.get(key).map(|v| format!("{label} {v}")))
        .collect();
    if settings.is_empty() {
        String::new()
    } else {
        format!(" to {}", settings.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Action::*;
    use crate::catalog::Group;
    use crate::event::ActorType;
    use crate::ids::{ActorId, ResourceId};
    use serde_json::json;

    fn ada() -> Actor {
        Actor {
            kind: ActorType::User,
            id: ActorId::parse("usr_1").unwrap(),
            name: Some("Ada Lovelace".to_owned()),
            email: Some("ada@example.com".to_owned()),
        }
    }

    fn resource(kind: &str, id: &str, name: Option<&str>) -> Resource {
        Resource {
            kind: kind.to_owned(),
            id: ResourceId::parse(id).unwrap(),
            name: name.map(str::to_owned),
        }
    }

    fn meta(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    /// A value for every key any action documents.
    fn full_metadata() -> Map<String, Value> {
        meta(json!({
            "model_name": "llama-3", "chain_name": "rag", "chainlet_name": "Retriever",
            "environment": "production", "reason": "inactivity", "from": "A10G", "to": "H100",
            "min_replicas": 1, "max_replicas": 3, "concurrency_target": 4,
            "action": "cancel", "replica": "replica-7", "email": "grace@example.com",
            "role": "admin", "previous_role": "member",
            "destination_type": "splunk", "changes": "enabled", "jobs": 3
        }))
    }

    fn assert_reads_well(sentence: &str, subject: &str) {
        assert!(sentence.starts_with(&format!("{subject} ")), "{sentence:?}");
        assert!(sentence.len() > subject.len() + 1, "{sentence:?}");
        assert_eq!(sentence.trim_end(), sentence, "trailing space");
        for bad in ["None", "null", "()", "  "] {
            assert!(!sentence.contains(bad), "{sentence:?} contains {bad:?}");
        }
    }

    #[test]
    fn self_audit_events_say_what_changed_where_the_log_goes() {
        let key = Actor {
            kind: crate::event::ActorType::ApiKey,
            id: crate::ids::ActorId::parse("key_1").unwrap(),
            name: None,
            email: None,
        };
        let dest = resource("export_destination", "dst_1", Some("Splunk prod"));
        let m = meta(
            json!({"destination_type": "splunk", "from": "2026-11-01T00:00:00.000Z", "to": "2026-11-02T00:00:00.000Z"}),
        );
        assert_eq!(
            describe(ExportDestinationCreated, Some(&key), &dest, &m),
            "API key key_1 created export destination Splunk prod (splunk)"
        );
        assert_eq!(
            describe(ExportReplayRequested, Some(&ada()), &dest, &m),
            "Ada Lovelace replayed events recorded after 2026-11-01T00:00:00.000Z up to 2026-11-02T00:00:00.000Z to export destination Splunk prod (splunk)"
        );
        assert!(Action::SELF_AUDIT.iter().all(|a| a.is_self_audit()));
        assert!(Action::ALL.iter().all(|a| !a.is_self_audit()));
        assert_eq!(
            Action::parse("EXPORT_REPLAY_REQUESTED"),
            Some(ExportReplayRequested)
        );
    }

    #[test]
    fn model_deployed_names_the_model_and_deployment() {
        let s = describe(
            ModelDeployed,
            Some(&ada()),
            &resource("deployment", "dep_42", None),
            &meta(json!({"model_name": "llama-3"})),
        );
        assert_eq!(s, "Ada Lovelace deployed model llama-3 (deployment dep_42)");
    }

    #[test]
    fn system_deactivation_gives_the_reason() {
        let s = describe(
            ModelDeploymentDeactivated,
            None,
            &resource("deployment", "dep_42", None),
            &meta(json!({"model_name": "llama-3", "reason": "inactivity"})),
        );
        assert_eq!(
            s,
            "System deactivated deployment dep_42 of model llama-3 for inactivity"
        );
    }

    #[test]
    fn settings_changes_read_from_old_to_new() {
        let dep = resource("deployment", "dep_42", None);
        let m = full_metadata();
        let cases = [
            (
                ModelDeploymentInstanceTypeChanged,
                "Ada Lovelace changed the instance type of deployment dep_42 of model llama-3 from A10G to H100",
            ),
            (
                ModelDeploymentPromoted,
                "Ada Lovelace promoted deployment dep_42 of model llama-3 to production",
            ),
            (
                ModelDeploymentAutoscalingSettingsChanged,
                "Ada Lovelace changed the autoscaling settings of deployment dep_42 of model llama-3 to min replicas 1, max replicas 3, concurrency target 4",
            ),
        ];
        for (action, expected) in cases {
            assert_eq!(describe(action, Some(&ada()), &dep, &m), expected);
        }
        let grace = resource("user", "usr_2", Some("Grace Hopper"));
        let role = meta(json!({"role": "admin"}));
        assert_eq!(
            describe(UserRoleUpdated, Some(&ada()), &grace, &role),
            "Ada Lovelace changed the role of Grace Hopper to admin"
        );
    }

    #[test]
    fn every_action_reads_well_from_a_user_and_from_the_system() {
        for action in Action::every() {
            let r = resource(action.resource_type(), "res_1", None);
            for m in [full_metadata(), Map::new()] {
                assert_reads_well(&describe(action, Some(&ada()), &r, &m), "Ada Lovelace");
                assert_reads_well(&describe(action, None, &r, &m), "System");
            }
        }
    }

    #[test]
    fn every_action_falls_back_to_the_resource_without_metadata() {
        for &action in Action::ALL {
            let r = resource(action.resource_type(), "res_1", None);
            let s = describe(action, None, &r, &Map::new());
            assert!(s.contains("res_1"), "{s:?}");
        }
    }

    #[test]
    fn every_documented_metadata_key_shows_in_the_sentence() {
        for &action in Action::ALL {
            let r = resource(action.resource_type(), "res_1", None);
            let full = describe(action, Some(&ada()), &r, &full_metadata());
            for key in action.metadata_keys() {
                let mut without = full_metadata();
                without.remove(*key);
                // The environment of a model is named by model_name first.
                let shadowed = *key == "chain_name" && action.group() == Group::Environments;
                let changed = describe(action, Some(&ada()), &r, &without) != full;
                assert!(changed || shadowed, "{action:?} ignores {key}");
            }
        }
    }

    #[test]
    fn a_user_joining_by_themselves_just_joined() {
        let me = resource("user", "usr_1", Some("Ada Lovelace"));
        let s = describe(UserJoinedOrganization, Some(&ada()), &me, &Map::new());
        assert_eq!(s, "Ada Lovelace joined the organization");
        let s = describe(UserJoinedOrganization, None, &me, &Map::new());
        assert_eq!(s, "System added Ada Lovelace to the organization");
    }

    #[test]
    fn overlong_or_control_character_values_are_left_out() {
        let dep = resource("deployment", "dep_42", None);
        let long = "x".repeat(MAX_SENTENCE_VALUE_CHARS + 1);
        for bad in [
            long.as_str(),
            "llama\n3",
            "llama\u{1b}[2J",
            "llama\u{202e}3",
            "   ",
        ] {
            let m = meta(json!({"model_name": bad, "reason": bad}));
            let s = describe(ModelDeploymentDeactivated, None, &dep, &m);
            assert_eq!(s, "System deactivated deployment dep_42", "{bad:?}");
        }
        let longest = "y".repeat(MAX_SENTENCE_VALUE_CHARS);
        let s = describe(
            ModelDeleted,
            None,
            &resource("model", "m_1", None),
            &meta(json!({"model_name": longest})),
        );
        assert!(s.ends_with(&longest));
    }

    #[test]
    fn only_strings_and_numbers_enter_a_sentence() {
        let dep = resource("deployment", "dep_42", None);
        let m = meta(json!({"model_name": {"x": 1}, "reason": true, "from": null, "to": 2.5}));
        let s = describe(ModelDeploymentInstanceTypeChanged, None, &dep, &m);
        assert_eq!(
            s,
            "System changed the instance type of deployment dep_42 to 2.5"
        );
    }

    fn render(template: &str, actor: Option<&Actor>, r: &Resource, m: Value) -> String {
        let parts = Parts {
            actor,
            resource: r,
            meta: Meta(m.as_object().unwrap()),
        };
        let mut t = Template {
            rest: template.as_bytes(),
            parts: &parts,
        };
        t.sequence(false).0
    }

    #[test]
    fn an_optional_part_is_left_out_when_a_source_in_it_has_no_value() {
        let r = resource("deployment", "dep_1", None);
        let t = "deleted {resource}[ of model {model_name}][ for {reason}]";
        assert_eq!(
            render(t, None, &r, json!({"reason": "idle"})),
            "deleted dep_1 for idle"
        );
        assert_eq!(render(t, None, &r, json!({})), "deleted dep_1");
    }

    #[test]
    fn a_choice_takes_the_first_alternative_whose_sources_all_have_values() {
        let r = resource("deployment", "dep_1", None);
        let t = "<a {x} b|c {y}|d>!";
        assert_eq!(render(t, None, &r, json!({"x": 1, "y": 2})), "a 1 b!");
        assert_eq!(render(t, None, &r, json!({"y": 2})), "c 2!");
        assert_eq!(render(t, None, &r, json!({})), "d!");
        // With no alternative resolving, the choice itself is unresolved.
        assert_eq!(render("[<{x}|{y}> more]", None, &r, json!({})), "");
    }

    #[test]
    fn a_source_list_falls_back_in_order() {
        let named = resource("model", "m_1", Some("Llama"));
        let bare = resource("model", "m_1", None);
        let t = "{resource.name|model_name|resource.id}";
        assert_eq!(render(t, None, &named, json!({"model_name": "x"})), "Llama");
        assert_eq!(render(t, None, &bare, json!({"model_name": "x"})), "x");
        assert_eq!(render(t, None, &bare, json!({})), "m_1");
    }

    #[test]
    fn conditions_render_nothing_and_hold_only_when_true() {
        let r = resource("user", "usr_1", None);
        let t = "<{?self}joined|{?actor}added|was added>";
        assert_eq!(render(t, Some(&ada()), &r, json!({})), "joined");
        let other = resource("user", "usr_2", None);
        assert_eq!(render(t, Some(&ada()), &other, json!({})), "added");
        assert_eq!(render(t, None, &other, json!({})), "was added");
    }

    #[test]
    fn a_pipe_outside_a_choice_is_text() {
        let r = resource("deployment", "dep_1", None);
        assert_eq!(render("a | b [c|d]", None, &r, json!({})), "a | b c|d");
    }

    #[test]
    fn every_template_reads_exactly_its_documented_metadata_keys() {
        for row in crate::catalog::ROWS {
            let mut used = template_keys(row.template);
            let mut documented = row.metadata_keys.to_vec();
            used.sort_unstable();
            documented.sort_unstable();
            assert_eq!(used, documented, "{:?}", row.action);
        }
    }
}
