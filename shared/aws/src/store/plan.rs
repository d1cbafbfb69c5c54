//! Query planning: which index serves a filter set, with what key condition
//! and what filter expression. Pure, so every choice is unit-tested; the
//! store only turns a `QueryPlan` into a DynamoDB `Query`.

use std::collections::BTreeMap;

use audit_domain::catalog::Group;
use audit_domain::ids::OrgId;
use audit_domain::query::summary::{needles, Needles};
use audit_domain::query::ActivityQuery;
use audit_domain::time::Timestamp;

/// The events table's indexes that the activity log reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    ByTime,
    ByActor,
    ByAction,
    ByGroup,
}

impl Index {
    pub fn name(self) -> &'static str {
        match self {
            Index::ByTime => "by_time",
            Index::ByActor => "by_actor",
            Index::ByAction => "by_action",
            Index::ByGroup => "by_group",
        }
    }

    /// The attribute holding this index's partition key.
    pub fn partition_attribute(self) -> &'static str {
        match self {
            Index::ByTime => "PK",
            Index::ByActor => "actor_pk",
            Index::ByAction => "action_pk",
            Index::ByGroup => "group_pk",
        }
    }
}

/// Partition key values, shared with the store's item encoding.
pub mod keys {
    use audit_domain::catalog::{Action, Group};
    use audit_domain::ids::OrgId;

    pub fn org(org: &OrgId) -> String {
        format!("ORG#{org}")
    }
    pub fn actor(org: &OrgId, actor_key: &str) -> String {
        format!("ORG#{org}#ACTOR#{actor_key}")
    }
    pub fn action(org: &OrgId, action: Action) -> String {
        format!("ORG#{org}#ACTION#{}", action.as_str())
    }
    pub fn group(org: &OrgId, group: Group) -> String {
        format!("ORG#{org}#GROUP#{}", group.slug())
    }
}

/// One DynamoDB query: index, key condition, filter, and the placeholders.
/// Every value the activity log compares is a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryPlan {
    pub index: Index,
    pub partition: String,
    pub key_condition: String,
    pub filter: Option<String>,
    pub names: BTreeMap<String, String>,
    pub values: BTreeMap<String, String>,
    /// Whether the filter can drop items the key condition selects. The
    /// org guard alone cannot (every index partition is the org's), so a
    /// page guarded only by it reads just `limit + 1` items.
    pub narrows: bool,
    /// Free-text words (lower-cased) every returned event's `search_text()`
    /// must contain; the store applies them after decoding.
    pub text: Vec<String>,
    /// The date range, `from <= occurred_at < to` (also in the key condition).
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

/// How a plan's free-text words are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextRead {
    /// No words: the plan's query alone.
    NoText,
    /// The org's term summaries pick the events to read (`store::text`);
    /// the store falls back to `Scan` where they do not cover the range.
    Summaries(Needles),
    /// Every event the key condition selects is read and matched.
    Scan,
}

/// One query of the events table as the store sends it: the plan's own,
/// or the plan's filter over another key range (then with exactly the
/// placeholders both expressions use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeRead {
    pub index: &'static str,
    pub key_condition: String,
    pub filter: Option<String>,
    pub names: BTreeMap<String, String>,
    pub values: BTreeMap<String, String>,
}

impl QueryPlan {
    pub fn has_filter(&self) -> bool {
        self.narrows
    }

    /// Whether `e` passes the free-text words (the part of the filter the
    /// store applies itself).
    pub fn matches_text(&self, e: &audit_domain::event::Event) -> bool {
        if self.text.is_empty() {
            return true;
        }
        let search = e.search_text();
        self.text.iter().all(|w| search.contains(w.as_str()))
    }

    /// Which read serves the free text: the summaries for a plan on
    /// `by_time` whose words have a trigram; a selective index already reads
    /// few items, and shorter words rule nothing out.
    pub fn text_read(&self) -> TextRead {
        if self.text.is_empty() {
            return TextRead::NoText;
        }
        match (self.index, needles(&self.text)) {
            (Index::ByTime, Some(n)) => TextRead::Summaries(n),
            _ => TextRead::Scan,
        }
    }

    /// The plan's own query.
    pub fn own_read(&self) -> RangeRead {
        RangeRead {
            index: self.index.name(),
            key_condition: self.key_condition.clone(),
            filter: self.filter.clone(),
            names: self.names.clone(),
            values: self.values.clone(),
        }
    }

    /// The plan's filters over `by_time` for `lo <= ts <= hi` (sort keys):
    /// the read of one run of candidates. Only for `by_time` plans.
    pub fn on_time_range(&self, lo: String, hi: String) -> RangeRead {
        self.range_read(
            "by_time",
            "ts",
            "BETWEEN :rlo AND :rhi",
            [(":rlo", lo), (":rhi", hi)],
        )
    }

    /// The plan's filters over `by_recorded` for `rts >= lo`: the events
    /// no sealed period's summary holds yet.
    pub fn recorded_from(&self, lo: String) -> RangeRead {
        self.range_read("by_recorded", "rts", ">= :rlo", [(":rlo", lo)])
    }

    fn range_read<const N: usize>(
        &self,
        index: &'static str,
        sort_attr: &str,
        condition: &str,
        range: [(&str, String); N],
    ) -> RangeRead {
        let key_condition = format!("#rpk = :rpk AND #rsk {condition}");
        let mut names = BTreeMap::from([
            ("#rpk".to_string(), "PK".to_string()),
            ("#rsk".to_string(), sort_attr.to_string()),
        ]);
        let mut values = BTreeMap::from([(":rpk".to_string(), self.partition.clone())]);
        values.extend(range.into_iter().map(|(k, v)| (k.to_string(), v)));
        if let Some(f) = &self.filter {
            let used = placeholders(f);
            names.extend(
                self.names
                    .iter()
                    .filter(|(k, _)| used.contains(k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone())),
            );
            values.extend(
                self.values
                    .iter()
                    .filter(|(k, _)| used.contains(k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone())),
            );
        }
        RangeRead {
            index,
            key_condition,
            filter: self.filter.clone(),
            names,
            values,
        }
    }
}

/// The `#name` and `:value` placeholders an expression uses.
fn placeholders(expr: &str) -> std::collections::BTreeSet<&str> {
    expr.split(|c: char| !(c.is_alphanumeric() || c == '#' || c == ':' || c == '_'))
        .filter(|t| t.starts_with('#') || t.starts_with(':'))
        .collect()
}

/// Picks the most selective index: actor, then a single action (or several
/// of one group), then group, then time.
pub fn plan(org: &OrgId, q: &ActivityQuery) -> QueryPlan {
    let actions_group = common_group(q);
    let (index, partition) = if let Some(actor) = &q.actor {
        (Index::ByActor, keys::actor(org, actor.key()))
    } else if let [action] = q.actions.as_slice() {
        (Index::ByAction, keys::action(org, *action))
    } else if let Some(group) = q.group.or(actions_group) {
        (Index::ByGroup, keys::group(org, group))
    } else {
        (Index::ByTime, keys::org(org))
    };

    let mut b = Builder::default();
    let pk = b.name(index.partition_attribute());
    let pv = b.value(partition.clone());
    let mut key_condition = format!("{pk} = {pv}");
    if q.from.is_some() || q.to.is_some() {
        let ts = b.name("ts");
        // ts = "<13-digit millis>#<id>": "<from>" sorts before every event
        // at `from`, "<to>" before every event at `to`, so BETWEEN is
        // from <= occurred_at < to.
        let lo = b.value(q.from.map_or_else(|| "0".to_string(), |t| t.sort_key()));
        let hi = b.value(q.to.map_or_else(|| "9".repeat(14), |t| t.sort_key()));
        key_condition.push_str(&format!(" AND {ts} BETWEEN {lo} AND {hi}"));
    }

    let mut filters: Vec<String> = Vec::new();
    // Action and group are compared by their index keys, which every item
    // carries (the compact item has no `action` or `group` of its own).
    if index != Index::ByAction && !q.actions.is_empty() {
        let attr = b.name("action_pk");
        let list: Vec<String> = q
            .actions
            .iter()
            .map(|a| b.value(keys::action(org, *a)))
            .collect();
        filters.push(format!("{attr} IN ({})", list.join(", ")));
    }
    if let Some(group) = q.group {
        if index != Index::ByGroup {
            let attr = b.name("group_pk");
            let v = b.value(keys::group(org, group));
            filters.push(format!("{attr} = {v}"));
        }
    }
    if let Some(rt) = &q.resource_type {
        let (r, t) = (b.name("resource"), b.name("type"));
        let v = b.value(rt.clone());
        filters.push(format!("{r}.{t} = {v}"));
    }
    if let Some(rid) = &q.resource_id {
        let (r, i) = (b.name("resource"), b.name("id"));
        let v = b.value(rid.to_string());
        filters.push(format!("{r}.{i} = {v}"));
    }
    if !q.exclude_actions.is_empty() {
        let attr = b.name("action_pk");
        let list: Vec<String> = q
            .exclude_actions
            .iter()
            .map(|a| b.value(keys::action(org, *a)))
            .collect();
        filters.push(format!("NOT ({attr} IN ({}))", list.join(", ")));
    }
    if !q.exclude_groups.is_empty() {
        let attr = b.name("group_pk");
        let list: Vec<String> = q
            .exclude_groups
            .iter()
            .map(|g| b.value(keys::group(org, *g)))
            .collect();
        filters.push(format!("NOT ({attr} IN ({}))", list.join(", ")));
    }
    // Every item carries `actor_pk` (system events included), so excluding
    // an actor is one comparison whatever its kind.
    for actor in &q.exclude_actors {
        let attr = b.name("actor_pk");
        let v = b.value(keys::actor(org, actor.key()));
        filters.push(format!("{attr} <> {v}"));
    }
    // Free text is matched by the store on each decoded event's
    // `search_text()`: the compact item stores no copy of it.
    let text = q.text.clone();
    let narrows = !filters.is_empty() || !text.is_empty();
    // Defence in depth: every item read must belong to the org, whatever
    // the partition says.
    if index != Index::ByTime {
        let attr = b.name("PK");
        let v = b.value(keys::org(org));
        filters.push(format!("{attr} = {v}"));
    }

    QueryPlan {
        index,
        partition,
        key_condition,
        filter: (!filters.is_empty()).then(|| filters.join(" AND ")),
        narrows,
        text,
        names: b.names,
        values: b.values,
        from: q.from,
        to: q.to,
    }
}

/// When several actions all belong to one group, that group's index serves them.
fn common_group(q: &ActivityQuery) -> Option<Group> {
    let first = q.actions.first()?.group();
    q.actions
        .iter()
        .all(|a| a.group() == first)
        .then_some(first)
}

#[derive(Default)]
struct Builder {
    names: BTreeMap<String, String>,
    values: BTreeMap<String, String>,
}

impl Builder {
    fn name(&mut self, attr: &str) -> String {
        let placeholder = format!("#{}", attr.to_lowercase());
        self.names.insert(placeholder.clone(), attr.to_string());
        placeholder
    }

    fn value(&mut self, v: String) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), v);
        placeholder
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org() -> OrgId {
        OrgId::parse("acme").unwrap()
    }

    fn plan_for(pairs: &[(&str, &str)]) -> QueryPlan {
        plan(
            &org(),
            &ActivityQuery::parse(pairs.iter().copied()).unwrap(),
        )
    }

    #[test]
    fn no_filter_reads_by_time_without_filter_expression() {
        let p = plan_for(&[]);
        assert_eq!(p.index, Index::ByTime);
        assert_eq!(p.partition, "ORG#acme");
        assert_eq!(p.key_condition, "#pk = :v0");
        assert_eq!(p.filter, None);
    }

    #[test]
    fn date_range_is_a_key_condition_on_ts() {
        let p = plan_for(&[
            ("from", "2026-11-01T00:00:00Z"),
            ("to", "2026-11-02T00:00:00Z"),
        ]);
        assert_eq!(p.index, Index::ByTime);
        assert_eq!(p.key_condition, "#pk = :v0 AND #ts BETWEEN :v1 AND :v2");
        assert_eq!(p.values[":v1"], "1793491200000");
        assert_eq!(p.values[":v2"], "1793577600000");
        assert_eq!(p.filter, None);
    }

    #[test]
    fn actor_wins_over_action_and_group() {
        let p = plan_for(&[
            ("actor", "usr_1"),
            ("action", "MODEL_DEPLOYED"),
            ("group", "models"),
        ]);
        assert_eq!(p.index, Index::ByActor);
        assert_eq!(p.partition, "ORG#acme#ACTOR#usr_1");
        let f = p.filter.unwrap();
        assert!(f.contains("#action_pk IN (:v1)"), "{f}");
        assert!(f.contains("#group_pk = "), "{f}");
        assert_eq!(p.values[":v1"], "ORG#acme#ACTION#MODEL_DEPLOYED");
    }

    #[test]
    fn system_actor_has_its_own_partition() {
        assert_eq!(
            plan_for(&[("actor", "system")]).partition,
            "ORG#acme#ACTOR#system"
        );
    }

    #[test]
    fn the_org_guard_alone_does_not_count_as_a_narrowing_filter() {
        let guarded = plan_for(&[("actor", "usr_1")]);
        assert!(guarded.filter.is_some(), "the guard is still applied");
        assert!(!guarded.has_filter(), "but pages need no read-ahead for it");
        assert!(plan_for(&[("actor", "usr_1"), ("q", "x")]).has_filter());
        assert!(!plan_for(&[]).has_filter());
    }

    #[test]
    fn single_action_uses_by_action() {
        let p = plan_for(&[("action", "USER_INVITED")]);
        assert_eq!(p.index, Index::ByAction);
        assert_eq!(p.partition, "ORG#acme#ACTION#USER_INVITED");
        assert_eq!(p.filter.as_deref(), Some("#pk = :v1"));
    }

    #[test]
    fn actions_of_one_group_use_by_group_with_in_filter() {
        let p = plan_for(&[("action", "USER_INVITED"), ("action", "USER_REMOVED")]);
        assert_eq!(p.index, Index::ByGroup);
        assert_eq!(p.partition, "ORG#acme#GROUP#users");
        assert!(p.filter.unwrap().starts_with("#action_pk IN (:v1, :v2)"));
    }

    #[test]
    fn actions_across_groups_use_by_time() {
        let p = plan_for(&[("action", "USER_INVITED"), ("action", "MODEL_DEPLOYED")]);
        assert_eq!(p.index, Index::ByTime);
        assert!(p.filter.unwrap().contains("IN"));
    }

    #[test]
    fn group_uses_by_group() {
        let p = plan_for(&[("group", "chains")]);
        assert_eq!(p.index, Index::ByGroup);
        assert_eq!(p.partition, "ORG#acme#GROUP#chains");
    }

    #[test]
    fn text_and_resource_become_filters() {
        let p = plan_for(&[
            ("q", "Llama prod"),
            ("resource_type", "deployment"),
            ("resource_id", "dep_1"),
        ]);
        let f = p.filter.clone().unwrap();
        assert!(f.contains("#resource.#type = "), "{f}");
        assert!(f.contains("#resource.#id = "), "{f}");
        assert!(
            !f.contains("search"),
            "free text is not a DynamoDB filter: {f}"
        );
        assert_eq!(p.text, ["llama", "prod"]);
        assert!(p.has_filter(), "free text narrows, so pages read ahead");
    }

    #[test]
    fn negations_become_not_filters_and_do_not_choose_the_index() {
        let p = plan_for(&[(
            "q",
            "-action:USER_INVITED -action:USER_REMOVED -group:chains -actor:system",
        )]);
        assert_eq!(p.index, Index::ByTime);
        let f = p.filter.clone().unwrap();
        assert!(f.contains("NOT (#action_pk IN (:v1, :v2))"), "{f}");
        assert!(f.contains("NOT (#group_pk IN (:v3))"), "{f}");
        assert!(f.contains("#actor_pk <> :v4"), "{f}");
        assert_eq!(p.values[":v3"], "ORG#acme#GROUP#chains");
        assert_eq!(p.values[":v4"], "ORG#acme#ACTOR#system");
    }

    #[test]
    fn negated_action_alongside_an_action_filter_shares_the_name_placeholder() {
        let p = plan_for(&[("q", "group:users -action:USER_INVITED")]);
        assert_eq!(p.index, Index::ByGroup);
        assert_eq!(
            p.filter.as_deref(),
            Some("NOT (#action_pk IN (:v1)) AND #pk = :v2")
        );
    }

    #[test]
    fn free_text_is_matched_on_the_decoded_events_search_text() {
        let e = audit_domain::fixtures::user_event();
        assert!(e.search_text().contains("llama") && e.search_text().contains("ada@"));
        assert!(plan_for(&[("q", "LLAMA ada@")]).matches_text(&e));
        assert!(
            !plan_for(&[("q", "llama mistral")]).matches_text(&e),
            "every word must match"
        );
        assert!(plan_for(&[]).matches_text(&e), "no words: every event");
    }

    #[test]
    fn placeholders_used_and_defined_are_the_same_set() {
        // DynamoDB rejects both undefined and unused placeholders.
        let p = plan_for(&[
            ("q", "x"),
            ("group", "users"),
            ("action", "USER_INVITED"),
            ("action", "USER_REMOVED"),
            ("actor", "u"),
            ("resource_type", "user"),
            ("resource_id", "r"),
            ("from", "2026-01-01"),
            ("to", "2026-02-01"),
        ]);
        assert_placeholders_match(&p);
        let p = plan_for(&[(
            "q",
            r#"-action:USER_INVITED -action:MODEL_DEPLOYED -group:chains -group:users -actor:system -actor:u "deployed model" created:2026-01-01..2026-02-01"#,
        )]);
        assert_placeholders_match(&p);
        let p = plan_for(&[("q", "-actor:system"), ("actor", "u")]);
        assert_placeholders_match(&p);
    }

    fn assert_placeholders_match(p: &QueryPlan) {
        assert_used_is_defined(&p.key_condition, p.filter.as_deref(), &p.names, &p.values);
    }

    fn assert_used_is_defined(
        key_condition: &str,
        filter: Option<&str>,
        names: &BTreeMap<String, String>,
        values: &BTreeMap<String, String>,
    ) {
        let text = format!("{key_condition} {}", filter.unwrap_or_default());
        let used = placeholders(&text);
        let defined: std::collections::BTreeSet<&str> = names
            .keys()
            .chain(values.keys())
            .map(String::as_str)
            .collect();
        assert_eq!(used, defined);
    }

    #[test]
    fn free_text_on_by_time_is_read_through_the_summaries() {
        let p = plan_for(&[("q", "mixtral"), ("from", "2026-11-01")]);
        assert_eq!(p.index, Index::ByTime);
        assert!(matches!(p.text_read(), TextRead::Summaries(_)));
        assert!(p.from.is_some() && p.to.is_none());
        let p = plan_for(&[("q", "mixtral -group:chains")]);
        assert!(
            matches!(p.text_read(), TextRead::Summaries(_)),
            "negations stay on by_time"
        );
    }

    #[test]
    fn free_text_on_a_selective_index_or_without_a_trigram_is_scanned() {
        assert_eq!(
            plan_for(&[("q", "mixtral"), ("actor", "u")]).text_read(),
            TextRead::Scan
        );
        assert_eq!(
            plan_for(&[("q", "mixtral"), ("action", "USER_INVITED")]).text_read(),
            TextRead::Scan
        );
        assert_eq!(
            plan_for(&[("q", "mixtral"), ("group", "users")]).text_read(),
            TextRead::Scan
        );
        assert_eq!(plan_for(&[("q", "ab c")]).text_read(), TextRead::Scan);
        assert_eq!(
            plan_for(&[("group", "users")]).text_read(),
            TextRead::NoText
        );
        assert_eq!(plan_for(&[]).text_read(), TextRead::NoText);
    }

    #[test]
    fn range_reads_keep_the_filter_and_only_its_placeholders() {
        let p = plan_for(&[
            ("q", "mixtral -actor:system resource_type:model"),
            ("from", "2026-11-01"),
            ("to", "2026-11-02"),
        ]);
        let run = p.on_time_range("1".into(), "2".into());
        assert_eq!(run.index, "by_time");
        assert_eq!(
            run.key_condition,
            "#rpk = :rpk AND #rsk BETWEEN :rlo AND :rhi"
        );
        assert_eq!(run.filter, p.filter);
        assert_eq!(run.values[":rpk"], "ORG#acme");
        assert_eq!(run.names["#rsk"], "ts");
        assert!(
            !run.values.contains_key(":v1"),
            "the plan's own range is not used"
        );
        assert_used_is_defined(
            &run.key_condition,
            run.filter.as_deref(),
            &run.names,
            &run.values,
        );
        let tail = p.recorded_from("3".into());
        assert_eq!(tail.index, "by_recorded");
        assert_eq!(tail.names["#rsk"], "rts");
        assert_used_is_defined(
            &tail.key_condition,
            tail.filter.as_deref(),
            &tail.names,
            &tail.values,
        );
        let bare = plan_for(&[("q", "mixtral")]).on_time_range("1".into(), "2".into());
        assert_eq!(bare.filter, None);
        assert_used_is_defined(&bare.key_condition, None, &bare.names, &bare.values);
    }
}
