//! The search syntax of `q`, in the spirit of GitHub's audit log search:
//! `action:X`, `group:g`, `actor:a`, `resource:id`, `resource_type:t`,
//! `created:…`, negation (`-action:X`, `-group:g`, `-actor:a`), quoted
//! phrases, and the remaining words as free text. `query` merges the result
//! with the plain parameters into one `ActivityQuery`.

use std::fmt;

use crate::catalog::{Action, Group};
use crate::event::SYSTEM_ACTOR;
use crate::ids::{ActorId, ResourceId};
use crate::limits::MAX_RESOURCE_TYPE_LEN;
use crate::query::ActorFilter;
use crate::time::Timestamp;

const DAY_MILLIS: i64 = 86_400_000;

/// What a `q` string asks for. Lists are deduplicated and sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Search {
    /// Lower-cased words and phrases (a phrase keeps its single spaces).
    pub text: Vec<String>,
    pub actions: Vec<Action>,
    pub exclude_actions: Vec<Action>,
    pub group: Option<Group>,
    pub exclude_groups: Vec<Group>,
    pub actor: Option<ActorFilter>,
    pub exclude_actors: Vec<ActorFilter>,
    pub resource_id: Option<ResourceId>,
    pub resource_type: Option<String>,
    /// Inclusive lower bound on `occurred_at`.
    pub from: Option<Timestamp>,
    /// Exclusive upper bound on `occurred_at`.
    pub to: Option<Timestamp>,
}

/// A malformed `q`: which token, where (0-based character position), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchError {
    pub position: usize,
    pub reason: String,
}

impl fmt::Display for SearchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for SearchError {}

/// One whitespace-separated token, with quoted segments unquoted.
#[derive(Debug)]
struct Token {
    start: usize,
    /// The token as written before its first quote (where a qualifier lives).
    head: String,
    /// The whole token with quotes removed.
    text: String,
    starts_quoted: bool,
}

fn tokenize(input: &str) -> Result<Vec<Token>, SearchError> {
    let mut tokens = Vec::new();
    let mut chars = input.chars().enumerate().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut token = Token {
            start,
            head: String::new(),
            text: String::new(),
            starts_quoted: c == '"',
        };
        let mut quoted_at: Option<usize> = None;
        let mut seen_quote = false;
        while let Some(&(i, c)) = chars.peek() {
            if quoted_at.is_none() && c.is_whitespace() {
                break;
            }
            chars.next();
            if c == '"' {
                seen_quote = true;
                quoted_at = match quoted_at {
                    Some(_) => None,
                    None => Some(i),
                };
                continue;
            }
            token.text.push(c);
            if !seen_quote {
                token.head.push(c);
            }
        }
        if let Some(at) = quoted_at {
            return Err(SearchError {
                position: at,
                reason: format!("unterminated quote at position {at}"),
            });
        }
        tokens.push(token);
    }
    Ok(tokens)
}

/// Collapses runs of whitespace so a phrase matches the single-spaced text.
fn normalize_phrase(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

impl Search {
    /// Parses a `q` value. Length and control characters are checked by the
    /// caller, which owns the parameter's limits.
    pub fn parse(input: &str) -> Result<Search, SearchError> {
        let mut s = Search::default();
        for token in tokenize(input)? {
            s.apply(&token)?;
        }
        for list in [&mut s.actions, &mut s.exclude_actions] {
            list.sort();
            list.dedup();
        }
        s.exclude_groups.sort();
        s.exclude_groups.dedup();
        s.exclude_actors.sort_by(|a, b| a.key().cmp(b.key()));
        s.exclude_actors.dedup();
        if let (Some(from), Some(to)) = (s.from, s.to) {
            if from >= to {
                return Err(SearchError {
                    position: 0,
                    reason: "created: qualifiers select an empty range".to_string(),
                });
            }
        }
        Ok(s)
    }

    fn apply(&mut self, token: &Token) -> Result<(), SearchError> {
        let qualifier = if token.starts_quoted {
            None
        } else {
            qualifier_of(&token.head)
        };
        let Some((negated, name)) = qualifier else {
            let term = normalize_phrase(&token.text);
            if !term.is_empty() && !self.text.contains(&term) {
                self.text.push(term);
            }
            return Ok(());
        };
        let written = format!("{}{name}:", if negated { "-" } else { "" });
        let at = token.start;
        let fail = |reason: String| SearchError {
            position: at,
            reason,
        };
        // The value: everything after the first colon, quotes removed.
        let prefix_len = written.chars().count();
        let value: String = token.text.chars().skip(prefix_len).collect();
        let lower = name.to_ascii_lowercase();
        if !matches!(
            lower.as_str(),
            "action" | "group" | "actor" | "resource" | "resource_type" | "created"
        ) {
            return Err(fail(format!(
                "unknown qualifier \"{written}\" at position {at}"
            )));
        }
        if negated && !matches!(lower.as_str(), "action" | "group" | "actor") {
            return Err(fail(format!(
                "\"{written}\" cannot be negated (only action:, group: and actor: can) at position {at}"
            )));
        }
        if value.is_empty() {
            return Err(fail(format!(
                "\"{written}\" needs a value at position {at}"
            )));
        }
        let twice = || {
            fail(format!(
                "\"{written}\" may be given only once (at position {at})"
            ))
        };
        match (lower.as_str(), negated) {
            ("action", _) => {
                let action = Action::parse(&value).ok_or_else(|| {
                    fail(format!(
                        "\"{value}\" is not a known event type ({written} at position {at})"
                    ))
                })?;
                if negated {
                    self.exclude_actions.push(action);
                } else {
                    self.actions.push(action);
                }
            }
            ("group", _) => {
                let group = Group::parse(&value).ok_or_else(|| {
                    fail(format!(
                        "\"{value}\" is not a known group ({written} at position {at})"
                    ))
                })?;
                if negated {
                    self.exclude_groups.push(group);
                } else if self.group.replace(group).is_some() {
                    return Err(twice());
                }
            }
            ("actor", _) => {
                let actor = if value == SYSTEM_ACTOR {
                    ActorFilter::System
                } else {
                    ActorFilter::Actor(ActorId::parse(value.as_str()).map_err(|e| {
                        fail(format!("\"{value}\" {e} ({written} at position {at})"))
                    })?)
                };
                if negated {
                    self.exclude_actors.push(actor);
                } else if self.actor.replace(actor).is_some() {
                    return Err(twice());
                }
            }
            ("resource", _) => {
                let id = ResourceId::parse(value.as_str())
                    .map_err(|e| fail(format!("\"{value}\" {e} ({written} at position {at})")))?;
                if self.resource_id.replace(id).is_some() {
                    return Err(twice());
                }
            }
            ("resource_type", _) => {
                if value.len() > MAX_RESOURCE_TYPE_LEN {
                    return Err(fail(format!(
                        "resource type must be at most {MAX_RESOURCE_TYPE_LEN} characters ({written} at position {at})"
                    )));
                }
                if self.resource_type.replace(value).is_some() {
                    return Err(twice());
                }
            }
            _ => {
                let (from, to) = parse_created(&value).map_err(|bad| {
                    fail(format!(
                        "\"{bad}\" is not a date ({written} at position {at})"
                    ))
                })?;
                if (from.is_some() && self.from.is_some()) || (to.is_some() && self.to.is_some()) {
                    return Err(fail(format!(
                        "\"{written}\" bound given twice (at position {at})"
                    )));
                }
                self.from = self.from.or(from);
                self.to = self.to.or(to);
            }
        }
        Ok(())
    }
}

/// `name:` or `-name:` at the start of a token, where the name is a word.
fn qualifier_of(head: &str) -> Option<(bool, &str)> {
    let (negated, rest) = match head.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, head),
    };
    let (name, _) = rest.split_once(':')?;
    let is_word = !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    is_word.then_some((negated, name))
}

/// One day or instant as a half-open span: a date covers its whole UTC day,
/// a timestamp one millisecond.
fn span(value: &str) -> Result<(Timestamp, Timestamp), String> {
    let t = Timestamp::parse_lenient(value).map_err(|_| value.to_string())?;
    let bare_date = !value.contains(['T', 't']);
    let end = t.plus_millis(if bare_date { DAY_MILLIS } else { 1 });
    Ok((t, end))
}

/// `created:` values as `(from inclusive, to exclusive)`.
fn parse_created(value: &str) -> Result<(Option<Timestamp>, Option<Timestamp>), String> {
    if let Some(v) = value.strip_prefix(">=") {
        return Ok((Some(span(v)?.0), None));
    }
    if let Some(v) = value.strip_prefix("<=") {
        return Ok((None, Some(span(v)?.1)));
    }
    if let Some(v) = value.strip_prefix('>') {
        return Ok((Some(span(v)?.1), None));
    }
    if let Some(v) = value.strip_prefix('<') {
        return Ok((None, Some(span(v)?.0)));
    }
    if let Some((lo, hi)) = value.split_once("..") {
        let from = if lo == "*" { None } else { Some(span(lo)?.0) };
        let to = if hi == "*" { None } else { Some(span(hi)?.1) };
        return Ok((from, to));
    }
    let (from, to) = span(value)?;
    Ok((Some(from), Some(to)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(s: &str) -> Search {
        Search::parse(s).unwrap()
    }

    fn reason(s: &str) -> String {
        Search::parse(s).unwrap_err().reason
    }

    fn ts(s: &str) -> Option<Timestamp> {
        Some(Timestamp::parse(s).unwrap())
    }

    #[test]
    fn plain_words_are_lowercased_free_text() {
        assert_eq!(parse("  Llama  PROD ").text, ["llama", "prod"]);
        assert_eq!(parse("").text, Vec::<String>::new());
    }

    #[test]
    fn action_qualifier_selects_actions_any_of() {
        let s = parse("action:USER_INVITED action:MODEL_DEPLOYED action:USER_INVITED");
        assert_eq!(s.actions, [Action::ModelDeployed, Action::UserInvited]);
        assert!(s.text.is_empty());
    }

    #[test]
    fn group_qualifier_selects_a_group() {
        assert_eq!(parse("group:users").group, Some(Group::Users));
    }

    #[test]
    fn actor_qualifier_takes_an_id_or_system() {
        assert_eq!(
            parse("actor:usr_123").actor,
            Some(ActorFilter::Actor(ActorId::parse("usr_123").unwrap()))
        );
        assert_eq!(parse("actor:system").actor, Some(ActorFilter::System));
    }

    #[test]
    fn resource_qualifiers_select_id_and_type() {
        let s = parse("resource:mdl_abc resource_type:deployment");
        assert_eq!(s.resource_id, Some(ResourceId::parse("mdl_abc").unwrap()));
        assert_eq!(s.resource_type.as_deref(), Some("deployment"));
    }

    #[test]
    fn created_comparisons_bound_by_whole_days() {
        let s = parse("created:>=2026-11-01");
        assert_eq!((s.from, s.to), (ts("2026-11-01T00:00:00Z"), None));
        let s = parse("created:>2026-11-01");
        assert_eq!((s.from, s.to), (ts("2026-11-02T00:00:00Z"), None));
        let s = parse("created:<=2026-11-15");
        assert_eq!((s.from, s.to), (None, ts("2026-11-16T00:00:00Z")));
        let s = parse("created:<2026-11-15");
        assert_eq!((s.from, s.to), (None, ts("2026-11-15T00:00:00Z")));
    }

    #[test]
    fn created_range_includes_both_days() {
        let s = parse("created:2026-11-01..2026-11-15");
        assert_eq!(
            (s.from, s.to),
            (ts("2026-11-01T00:00:00Z"), ts("2026-11-16T00:00:00Z"))
        );
        let s = parse("created:2026-11-01..*");
        assert_eq!((s.from, s.to), (ts("2026-11-01T00:00:00Z"), None));
        let s = parse("created:*..2026-11-01");
        assert_eq!((s.from, s.to), (None, ts("2026-11-02T00:00:00Z")));
    }

    #[test]
    fn created_single_date_is_that_day() {
        let s = parse("created:2026-11-01");
        assert_eq!(
            (s.from, s.to),
            (ts("2026-11-01T00:00:00Z"), ts("2026-11-02T00:00:00Z"))
        );
    }

    #[test]
    fn created_accepts_timestamps_to_the_millisecond() {
        let s = parse("created:>2026-11-01T10:00:00Z");
        assert_eq!(s.from, ts("2026-11-01T10:00:00.001Z"));
        let s = parse("created:<2026-11-01T10:00:00Z");
        assert_eq!(s.to, ts("2026-11-01T10:00:00Z"));
    }

    #[test]
    fn created_lower_and_upper_bounds_combine() {
        let s = parse("created:>=2026-11-01 created:<2026-11-15");
        assert_eq!(
            (s.from, s.to),
            (ts("2026-11-01T00:00:00Z"), ts("2026-11-15T00:00:00Z"))
        );
    }

    #[test]
    fn qualifier_names_are_case_insensitive() {
        let s = parse("Action:USER_INVITED GROUP:users Actor:system CREATED:2026-11-01");
        assert_eq!(s.actions, [Action::UserInvited]);
        assert_eq!(s.group, Some(Group::Users));
        assert_eq!(s.actor, Some(ActorFilter::System));
        assert!(s.from.is_some() && s.to.is_some());
    }

    #[test]
    fn negations_exclude_actions_groups_and_actors() {
        let s = parse("-action:USER_INVITED -group:chains -actor:system -actor:usr_1");
        assert_eq!(s.exclude_actions, [Action::UserInvited]);
        assert_eq!(s.exclude_groups, [Group::Chains]);
        assert_eq!(s.exclude_actors.len(), 2);
        assert!(s.exclude_actors.contains(&ActorFilter::System));
        assert!(s.actions.is_empty() && s.group.is_none() && s.actor.is_none());
    }

    #[test]
    fn quoted_phrase_is_one_lowercased_term() {
        assert_eq!(
            parse(r#"llama "Deployed   Model" prod"#).text,
            ["llama", "deployed model", "prod"]
        );
    }

    #[test]
    fn quoted_qualifier_lookalike_is_text() {
        assert_eq!(parse(r#""action:X""#).text, ["action:x"]);
    }

    #[test]
    fn qualifier_value_may_be_quoted() {
        assert_eq!(
            parse(r#"resource_type:"deployment""#)
                .resource_type
                .as_deref(),
            Some("deployment")
        );
    }

    #[test]
    fn words_with_colons_that_are_not_qualifiers_stay_text() {
        assert_eq!(parse("09:30 -llama").text, ["09:30", "-llama"]);
    }

    #[test]
    fn everything_combines() {
        let s = parse(
            r#"group:models -actor:system created:2026-11-01..2026-11-15 "deployed model" llama -action:MODEL_DELETED"#,
        );
        assert_eq!(s.group, Some(Group::Models));
        assert_eq!(s.exclude_actors, [ActorFilter::System]);
        assert_eq!(s.exclude_actions, [Action::ModelDeleted]);
        assert_eq!(s.text, ["deployed model", "llama"]);
        assert_eq!(
            (s.from, s.to),
            (ts("2026-11-01T00:00:00Z"), ts("2026-11-16T00:00:00Z"))
        );
    }

    #[test]
    fn unknown_qualifier_is_rejected_with_its_position() {
        assert_eq!(
            reason("llama prod colour:red"),
            "unknown qualifier \"colour:\" at position 11"
        );
        assert_eq!(
            Search::parse("llama prod colour:red").unwrap_err().position,
            11
        );
    }

    #[test]
    fn unterminated_quote_is_rejected_with_its_position() {
        assert_eq!(
            reason(r#"ab "deployed model"#),
            "unterminated quote at position 3"
        );
    }

    #[test]
    fn invalid_date_is_rejected() {
        assert_eq!(
            reason("created:2026-13-01"),
            "\"2026-13-01\" is not a date (created: at position 0)"
        );
        assert!(reason("x created:>=soon").contains("\"soon\" is not a date"));
        assert!(reason("created:2026-11-01..never").contains("\"never\""));
    }

    #[test]
    fn empty_created_range_is_rejected() {
        assert!(reason("created:2026-11-15..2026-11-01").contains("empty range"));
    }

    #[test]
    fn unknown_action_is_rejected() {
        assert_eq!(
            reason("action:NOPE"),
            "\"NOPE\" is not a known event type (action: at position 0)"
        );
        assert!(reason("-action:model_deployed").contains("-action: at position 0"));
    }

    #[test]
    fn unknown_group_is_rejected() {
        assert!(reason("group:nope").contains("\"nope\" is not a known group"));
    }

    #[test]
    fn invalid_actor_or_resource_id_is_rejected() {
        assert!(reason("actor:a/b").contains("actor: at position 0"));
        assert!(reason(r#"resource:"a b""#).contains("resource: at position 0"));
    }

    #[test]
    fn overlong_resource_type_is_rejected() {
        assert!(reason(&format!("resource_type:{}", "x".repeat(65))).contains("at most 64"));
    }

    #[test]
    fn empty_qualifier_value_is_rejected() {
        assert_eq!(
            reason("llama action:"),
            "\"action:\" needs a value at position 6"
        );
    }

    #[test]
    fn single_valued_qualifiers_may_not_repeat() {
        assert!(reason("group:users group:chains").contains("only once"));
        assert!(reason("actor:a actor:b").contains("only once"));
        assert!(reason("resource:a resource:b").contains("only once"));
        assert!(reason("resource_type:a resource_type:b").contains("only once"));
        assert!(reason("created:>=2026-11-01 created:2026-11-03").contains("given twice"));
    }

    #[test]
    fn only_action_group_and_actor_can_be_negated() {
        assert_eq!(
            reason("-resource:x"),
            "\"-resource:\" cannot be negated (only action:, group: and actor: can) at position 0"
        );
        assert!(reason("-created:2026-11-01").contains("cannot be negated"));
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        assert_eq!(Search::parse("é colour:x").unwrap_err().position, 2);
    }

    proptest! {
        #[test]
        fn parsing_arbitrary_strings_never_panics(s in "\\PC{0,80}") {
            let _ = Search::parse(&s);
        }

        #[test]
        fn parsing_qualifier_shaped_strings_never_panics(
            s in r#"(-?(action|group|actor|resource|resource_type|created|x):[<>=.*"a-zA-Z0-9_:-]{0,12}|"|[a-z ]{0,5}| ){0,8}"#
        ) {
            let _ = Search::parse(&s);
        }
    }
}
