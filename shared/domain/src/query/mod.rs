//! `ActivityQuery`: the parsed filters of `GET /v1/events`. The HTTP edge
//! hands over raw `(name, value)` pairs; everything after works on this type.

use crate::catalog::{Action, Group};
use crate::event::SYSTEM_ACTOR;
use crate::ids::{ActorId, ResourceId};
use crate::limits::*;
pub mod search;
pub mod summary;

use crate::problem::FieldError;
use crate::time::Timestamp;
use search::Search;

/// A page size within `MIN_PAGE_SIZE..=MAX_PAGE_SIZE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize(u32);

impl PageSize {
    pub fn parse(s: &str) -> Result<Self, String> {
        let n: u32 = s.parse().map_err(|_| {
            format!("must be a whole number from {MIN_PAGE_SIZE} to {MAX_PAGE_SIZE}")
        })?;
        if !(MIN_PAGE_SIZE..=MAX_PAGE_SIZE).contains(&n) {
            return Err(format!("must be from {MIN_PAGE_SIZE} to {MAX_PAGE_SIZE}"));
        }
        Ok(Self(n))
    }

    pub fn get(self) -> usize {
        self.0 as usize
    }
}

impl Default for PageSize {
    fn default() -> Self {
        Self(DEFAULT_PAGE_SIZE)
    }
}

/// Whose actions to show: one actor id, or system-initiated events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActorFilter {
    Actor(ActorId),
    System,
}

impl ActorFilter {
    pub fn key(&self) -> &str {
        match self {
            ActorFilter::Actor(id) => id.as_str(),
            ActorFilter::System => SYSTEM_ACTOR,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivityQuery {
    /// Lower-cased words; an event matches when its search text contains each.
    pub text: Vec<String>,
    pub group: Option<Group>,
    /// Any of these actions (sorted, without duplicates).
    pub actions: Vec<Action>,
    pub actor: Option<ActorFilter>,
    /// None of these actions (sorted, without duplicates).
    pub exclude_actions: Vec<Action>,
    /// None of these groups (sorted, without duplicates).
    pub exclude_groups: Vec<Group>,
    /// None of these actors (`system` excludes system-initiated events).
    pub exclude_actors: Vec<ActorFilter>,
    pub resource_type: Option<String>,
    pub resource_id: Option<ResourceId>,
    /// Inclusive lower bound on `occurred_at`.
    pub from: Option<Timestamp>,
    /// Exclusive upper bound on `occurred_at`.
    pub to: Option<Timestamp>,
    pub limit: PageSize,
    pub cursor: Option<String>,
}

const DAY_MILLIS: i64 = 86_400_000;

impl ActivityQuery {
    /// Parses query-string pairs. Unknown parameters are rejected so a typo
    /// never silently widens a search.
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, FieldError> {
        let mut q = ActivityQuery::default();
        let mut seen_single: Vec<&str> = Vec::new();
        let mut search: Option<Search> = None;
        for (name, value) in pairs {
            if name != "action" {
                if seen_single.contains(&name) {
                    return Err(FieldError::new(name, "may be given only once"));
                }
                seen_single.push(name);
            }
            let bad = |reason: &str| FieldError::new(name, reason.to_string());
            match name {
                "q" => {
                    if value.chars().count() > MAX_QUERY_TEXT_LEN {
                        return Err(bad(&format!(
                            "must be at most {MAX_QUERY_TEXT_LEN} characters"
                        )));
                    }
                    if value.chars().any(char::is_control) {
                        return Err(bad("must not contain control characters"));
                    }
                    search =
                        Some(Search::parse(value).map_err(|e| FieldError::new("q", e.reason))?);
                }
                "group" => {
                    q.group =
                        Some(Group::parse(value).ok_or_else(|| {
                            bad("is not a known group (see GET /v1/event-types)")
                        })?);
                }
                "action" => {
                    let action = Action::parse(value).ok_or_else(|| {
                        bad("is not a known event type (see GET /v1/event-types)")
                    })?;
                    if !q.actions.contains(&action) {
                        q.actions.push(action);
                    }
                    if q.actions.len() > MAX_ACTION_FILTERS {
                        return Err(bad(&format!(
                            "may be given at most {MAX_ACTION_FILTERS} times"
                        )));
                    }
                }
                "actor" => {
                    q.actor = Some(if value == SYSTEM_ACTOR {
                        ActorFilter::System
                    } else {
                        ActorFilter::Actor(ActorId::parse(value).map_err(|e| bad(&e.to_string()))?)
                    });
                }
                "resource_type" => {
                    if value.is_empty() || value.len() > MAX_RESOURCE_TYPE_LEN {
                        return Err(bad(&format!(
                            "must be 1 to {MAX_RESOURCE_TYPE_LEN} characters"
                        )));
                    }
                    q.resource_type = Some(value.to_string());
                }
                "resource_id" => {
                    q.resource_id =
                        Some(ResourceId::parse(value).map_err(|e| bad(&e.to_string()))?);
                }
                "from" => q.from = Some(parse_bound(value, false).map_err(|e| bad(&e))?),
                "to" => q.to = Some(parse_bound(value, true).map_err(|e| bad(&e))?),
                "limit" => q.limit = PageSize::parse(value).map_err(|e| bad(&e))?,
                "cursor" => {
                    if value.is_empty() || value.len() > MAX_CURSOR_LEN {
                        return Err(bad("is not a valid cursor"));
                    }
                    q.cursor = Some(value.to_string());
                }
                _ => return Err(bad("is not a known query parameter")),
            }
        }
        if let (Some(from), Some(to)) = (q.from, q.to) {
            if from >= to {
                return Err(FieldError::new("from", "must be before to"));
            }
        }
        if let Some(search) = search {
            q.merge(search)?;
        }
        q.actions.sort();
        Ok(q)
    }

    /// Adds what `q` asked for. A filter given both as a qualifier and as
    /// its plain parameter is ambiguous, so it is rejected rather than guessed.
    fn merge(&mut self, s: Search) -> Result<(), FieldError> {
        let clash = |qualifier: &str, parameter: &str| {
            FieldError::new(
                "q",
                format!("{qualifier} cannot be combined with the {parameter} parameter"),
            )
        };
        self.text = s.text;
        if !s.actions.is_empty() {
            if !self.actions.is_empty() {
                return Err(clash("action:", "action"));
            }
            if s.actions.len() > MAX_ACTION_FILTERS {
                return Err(FieldError::new(
                    "q",
                    format!("action: may be given at most {MAX_ACTION_FILTERS} times"),
                ));
            }
            self.actions = s.actions;
        }
        if s.group.is_some() {
            if self.group.is_some() {
                return Err(clash("group:", "group"));
            }
            self.group = s.group;
        }
        if s.actor.is_some() {
            if self.actor.is_some() {
                return Err(clash("actor:", "actor"));
            }
            self.actor = s.actor;
        }
        if s.resource_id.is_some() {
            if self.resource_id.is_some() {
                return Err(clash("resource:", "resource_id"));
            }
            self.resource_id = s.resource_id;
        }
        if s.resource_type.is_some() {
            if self.resource_type.is_some() {
                return Err(clash("resource_type:", "resource_type"));
            }
            self.resource_type = s.resource_type;
        }
        if s.from.is_some() {
            if self.from.is_some() {
                return Err(clash("created:", "from"));
            }
            self.from = s.from;
        }
        if s.to.is_some() {
            if self.to.is_some() {
                return Err(clash("created:", "to"));
            }
            self.to = s.to;
        }
        if let (Some(from), Some(to)) = (self.from, self.to) {
            if from >= to {
                return Err(FieldError::new(
                    "q",
                    "created: and the from/to parameters select an empty range",
                ));
            }
        }
        self.exclude_actions = s.exclude_actions;
        self.exclude_groups = s.exclude_groups;
        self.exclude_actors = s.exclude_actors;
        Ok(())
    }

    /// A canonical rendering of the filters (not the page size or cursor),
    /// which a cursor is bound to.
    pub fn fingerprint(&self) -> String {
        let actions: Vec<&str> = self.actions.iter().map(|a| a.as_str()).collect();
        let not_actions: Vec<&str> = self.exclude_actions.iter().map(|a| a.as_str()).collect();
        let not_groups: Vec<&str> = self.exclude_groups.iter().map(|g| g.slug()).collect();
        let not_actors: Vec<&str> = self.exclude_actors.iter().map(ActorFilter::key).collect();
        format!(
            "q={:?};group={:?};actions={:?};actor={:?};not_actions={:?};not_groups={:?};not_actors={:?};rt={:?};rid={:?};from={:?};to={:?}",
            self.text,
            self.group.map(Group::slug),
            actions,
            self.actor.as_ref().map(ActorFilter::key),
            not_actions,
            not_groups,
            not_actors,
            self.resource_type,
            self.resource_id.as_ref().map(ResourceId::as_str),
            self.from.map(Timestamp::millis),
            self.to.map(Timestamp::millis),
        )
    }
}

/// `from` / `to`: RFC 3339, or a bare date. A bare `to` date includes that
/// whole day, which is what a person picking a date range means.
fn parse_bound(value: &str, is_upper: bool) -> Result<Timestamp, String> {
    let t = Timestamp::parse_lenient(value)
        .map_err(|_| "must be an RFC 3339 timestamp or a YYYY-MM-DD date".to_string())?;
    let bare_date = !value.contains('T') && !value.contains('t');
    Ok(if is_upper && bare_date {
        t.plus_millis(DAY_MILLIS)
    } else {
        t
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<ActivityQuery, FieldError> {
        ActivityQuery::parse(pairs.iter().copied())
    }

    #[test]
    fn empty_query_has_defaults() {
        let q = parse(&[]).unwrap();
        assert_eq!(q.limit.get(), DEFAULT_PAGE_SIZE as usize);
        assert!(q.text.is_empty() && q.actions.is_empty() && q.actor.is_none());
    }

    #[test]
    fn limit_out_of_range_is_rejected() {
        for bad in ["0", "201", "-1", "ten", ""] {
            assert_eq!(
                parse(&[("limit", bad)]).unwrap_err().field,
                "limit",
                "{bad}"
            );
        }
        assert_eq!(parse(&[("limit", "200")]).unwrap().limit.get(), 200);
    }

    #[test]
    fn repeated_actions_are_collected_and_sorted() {
        let q = parse(&[
            ("action", "USER_INVITED"),
            ("action", "MODEL_DEPLOYED"),
            ("action", "USER_INVITED"),
        ])
        .unwrap();
        assert_eq!(q.actions, [Action::ModelDeployed, Action::UserInvited]);
    }

    #[test]
    fn unknown_parameter_action_or_group_is_rejected() {
        assert_eq!(parse(&[("colour", "red")]).unwrap_err().field, "colour");
        assert_eq!(parse(&[("action", "NOPE")]).unwrap_err().field, "action");
        assert_eq!(parse(&[("group", "nope")]).unwrap_err().field, "group");
    }

    /// Found by `make fuzz` (query_params): `?=x` decodes to an empty name.
    /// It is refused like any unknown parameter, and named as sent.
    #[test]
    fn empty_parameter_name_is_rejected_as_sent() {
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(b"q=llama&=l%0Eamfo2&limit=5")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        let err =
            ActivityQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))).unwrap_err();
        assert_eq!(err.field, "");
        assert_eq!(err.reason, "is not a known query parameter");
    }

    #[test]
    fn single_parameters_may_not_repeat() {
        assert_eq!(
            parse(&[("group", "users"), ("group", "chains")])
                .unwrap_err()
                .field,
            "group"
        );
    }

    #[test]
    fn actor_system_is_the_system_filter() {
        assert_eq!(
            parse(&[("actor", "system")]).unwrap().actor,
            Some(ActorFilter::System)
        );
        assert!(matches!(
            parse(&[("actor", "usr_1")]).unwrap().actor,
            Some(ActorFilter::Actor(_))
        ));
        assert_eq!(parse(&[("actor", "a b")]).unwrap_err().field, "actor");
    }

    #[test]
    fn bare_to_date_includes_the_whole_day() {
        let q = parse(&[("from", "2026-11-01"), ("to", "2026-11-01")]).unwrap();
        assert_eq!(q.from.unwrap().to_rfc3339(), "2026-11-01T00:00:00.000Z");
        assert_eq!(q.to.unwrap().to_rfc3339(), "2026-11-02T00:00:00.000Z");
    }

    #[test]
    fn from_after_to_is_rejected() {
        let e = parse(&[
            ("from", "2026-11-02T00:00:00Z"),
            ("to", "2026-11-01T00:00:00Z"),
        ])
        .unwrap_err();
        assert_eq!(e.field, "from");
    }

    #[test]
    fn text_is_split_into_lowercase_words() {
        let q = parse(&[("q", "  Llama  PROD ")]).unwrap();
        assert_eq!(q.text, ["llama", "prod"]);
    }

    #[test]
    fn fingerprint_ignores_page_size_and_cursor_but_not_filters() {
        let a = parse(&[("group", "users"), ("limit", "7")]).unwrap();
        let b = parse(&[("group", "users"), ("cursor", "abc")]).unwrap();
        let c = parse(&[("group", "chains")]).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
    }

    #[test]
    fn q_qualifiers_fill_the_same_typed_query_as_plain_parameters() {
        let from_q = parse(&[(
            "q",
            "action:USER_INVITED actor:usr_1 resource:r_1 resource_type:user created:2026-11-01..2026-11-02",
        )])
        .unwrap();
        let plain = parse(&[
            ("action", "USER_INVITED"),
            ("actor", "usr_1"),
            ("resource_id", "r_1"),
            ("resource_type", "user"),
            ("from", "2026-11-01"),
            ("to", "2026-11-02"),
        ])
        .unwrap();
        assert_eq!(from_q, plain);
        assert_eq!(from_q.fingerprint(), plain.fingerprint());
    }

    #[test]
    fn q_qualifier_and_other_plain_parameters_combine() {
        let q = parse(&[("q", "group:users llama"), ("actor", "system")]).unwrap();
        assert_eq!(q.group, Some(Group::Users));
        assert_eq!(q.actor, Some(ActorFilter::System));
        assert_eq!(q.text, ["llama"]);
    }

    #[test]
    fn q_qualifier_clashing_with_its_plain_parameter_is_rejected_as_q() {
        for (qv, name, value) in [
            ("action:USER_INVITED", "action", "USER_REMOVED"),
            ("group:users", "group", "users"),
            ("actor:system", "actor", "usr_1"),
            ("resource:r", "resource_id", "r"),
            ("resource_type:user", "resource_type", "user"),
            ("created:>=2026-11-01", "from", "2026-11-02"),
            ("created:<2026-11-01", "to", "2026-11-02"),
        ] {
            let e = parse(&[("q", qv), (name, value)]).unwrap_err();
            assert_eq!(e.field, "q", "{qv}");
            assert!(e.reason.contains("cannot be combined"), "{}", e.reason);
        }
    }

    #[test]
    fn created_and_plain_bound_selecting_nothing_is_rejected_as_q() {
        let e = parse(&[("q", "created:<2026-11-01"), ("from", "2026-11-05")]).unwrap_err();
        assert_eq!(e.field, "q");
    }

    #[test]
    fn malformed_q_is_a_q_error_with_position() {
        let e = parse(&[("q", "llama colour:red")]).unwrap_err();
        assert_eq!(e.field, "q");
        assert_eq!(e.reason, "unknown qualifier \"colour:\" at position 6");
    }

    #[test]
    fn negations_are_part_of_the_fingerprint() {
        let a = parse(&[("q", "-action:USER_INVITED")]).unwrap();
        let b = parse(&[("q", "-group:users")]).unwrap();
        let c = parse(&[("q", "-actor:system")]).unwrap();
        let none = parse(&[]).unwrap();
        assert_eq!(a.exclude_actions, [Action::UserInvited]);
        let prints = [&a, &b, &c, &none].map(ActivityQuery::fingerprint);
        for i in 0..prints.len() {
            for j in i + 1..prints.len() {
                assert_ne!(prints[i], prints[j]);
            }
        }
    }
}
