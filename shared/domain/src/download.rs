//! Downloads of `GET /v1/events?format=csv|ndjson`: the format parameter,
//! and events → bytes. Pure; the query function fetches the events.

use crate::event::Event;
use crate::ids::OrgId;
use crate::time::Timestamp;

/// How `GET /v1/events` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// One page of `{"events", "next_cursor"}` (the default).
    #[default]
    Json,
    /// Every matching event as RFC 4180 CSV with a header row.
    Csv,
    /// Every matching event, one JSON object per line.
    Ndjson,
}

impl Format {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            "ndjson" => Ok(Format::Ndjson),
            _ => Err("must be json, csv or ndjson".to_string()),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Ndjson => "application/x-ndjson",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Ndjson => "ndjson",
        }
    }
}

/// `audit-log-<org>-<UTC timestamp>.<ext>`; org ids are `[A-Za-z0-9._:-]`,
/// and `:` is swapped for `_` because some systems reject it in file names.
pub fn filename(org: &OrgId, at: Timestamp, format: Format) -> String {
    format!(
        "audit-log-{}-{}.{}",
        org.as_str().replace(':', "_"),
        at.to_datetime().format("%Y%m%dT%H%M%SZ"),
        format.extension()
    )
}

/// The CSV columns, in order.
pub const CSV_COLUMNS: [&str; 17] = [
    "id",
    "occurred_at",
    "recorded_at",
    "action",
    "group",
    "description",
    "actor_type",
    "actor_id",
    "actor_name",
    "actor_email",
    "resource_type",
    "resource_id",
    "resource_name",
    "ip",
    "user_agent",
    "request_id",
    "metadata",
];

/// The cells of one event, before escaping. A system event's actor type is
/// `system` and its other actor cells are empty.
pub fn csv_cells(e: &Event) -> [String; 17] {
    let actor = e.actor.as_ref();
    let opt = |s: Option<&String>| s.cloned().unwrap_or_default();
    [
        e.id.to_string(),
        e.occurred_at.to_rfc3339(),
        e.recorded_at.to_rfc3339(),
        e.action.as_str().to_string(),
        e.group().slug().to_string(),
        e.description(),
        actor.map_or("system", |a| a.kind.as_str()).to_string(),
        actor.map(|a| a.id.to_string()).unwrap_or_default(),
        opt(actor.and_then(|a| a.name.as_ref())),
        opt(actor.and_then(|a| a.email.as_ref())),
        e.resource.kind.clone(),
        e.resource.id.to_string(),
        opt(e.resource.name.as_ref()),
        opt(e.context.ip.as_ref()),
        opt(e.context.user_agent.as_ref()),
        opt(e.context.request_id.as_ref()),
        serde_json::Value::Object(e.metadata.clone()).to_string(),
    ]
}

/// One CSV field: spreadsheet formulas defused with a leading `'`, then
/// quoted when it holds a comma, quote or line break (RFC 4180).
pub fn csv_field(value: &str) -> String {
    let defused = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if defused.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

fn csv_row<'a>(cells: impl IntoIterator<Item = &'a str>, out: &mut String) {
    let fields: Vec<String> = cells.into_iter().map(csv_field).collect();
    out.push_str(&fields.join(","));
    out.push_str("\r\n");
}

/// RFC 4180 CSV: a header row, then one row per event, CRLF line ends.
pub fn csv(events: &[Event]) -> String {
    let mut out = String::new();
    csv_row(CSV_COLUMNS, &mut out);
    for e in events {
        let cells = csv_cells(e);
        csv_row(cells.iter().map(String::as_str), &mut out);
    }
    out
}

/// One event view per line, exactly as `GET /v1/events` returns each event.
pub fn ndjson(events: &[Event]) -> String {
    let mut out = String::new();
    for e in events {
        // An event view is plain data: serializing it cannot fail.
        if let Ok(line) = serde_json::to_string(&e.view()) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// Most bytes a download part's body may take inside Lambda's JSON response
/// (after escaping): Lambda refuses responses over 6 MB, and the headers and
/// the response envelope need the rest.
pub const MAX_PART_ESCAPED_BYTES: usize = 5_500_000;

/// The bytes `s` takes as a JSON string value inside the Lambda response
/// API Gateway receives (quotes not counted): `"` and `\\` and the short
/// escapes take 2, other control characters 6 (`\u00XX`), the rest as UTF-8.
pub fn escaped_len(s: &str) -> usize {
    s.bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum()
}

/// One part of a download, built event by event until the next event would
/// take its body past `max_escaped` bytes (escaped as [`escaped_len`]).
#[derive(Debug, Clone)]
pub struct Part {
    format: Format,
    body: String,
    escaped: usize,
    max_escaped: usize,
    events: usize,
}

impl Part {
    /// An empty part (a CSV part holds its header row already).
    pub fn new(format: Format, max_escaped: usize) -> Self {
        let mut body = String::new();
        if format == Format::Csv {
            csv_row(CSV_COLUMNS, &mut body);
        }
        Part {
            format,
            escaped: escaped_len(&body),
            body,
            max_escaped,
            events: 0,
        }
    }

    /// Appends `e` when it fits; `false` (and the part unchanged) when it
    /// does not. The first event always fits: an event is far smaller than
    /// a part, so a part always makes progress.
    pub fn push(&mut self, e: &Event) -> bool {
        let line = match self.format {
            Format::Csv => {
                let mut row = String::new();
                let cells = csv_cells(e);
                csv_row(cells.iter().map(String::as_str), &mut row);
                row
            }
            Format::Ndjson | Format::Json => ndjson(std::slice::from_ref(e)),
        };
        let cost = escaped_len(&line);
        if self.events > 0 && self.escaped + cost > self.max_escaped {
            return false;
        }
        self.body.push_str(&line);
        self.escaped += cost;
        self.events += 1;
        true
    }

    /// Events in the part.
    pub fn len(&self) -> usize {
        self.events
    }

    pub fn is_empty(&self) -> bool {
        self.events == 0
    }

    /// The body's size as Lambda's JSON response carries it.
    pub fn escaped_bytes(&self) -> usize {
        self.escaped
    }

    pub fn into_body(self) -> String {
        self.body
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::parse_event;
    use serde_json::json;

    fn event(raw: serde_json::Value) -> Event {
        let now = Timestamp::parse("2026-11-29T10:00:00Z").unwrap();
        Event::from_new(
            OrgId::parse("acme").unwrap(),
            parse_event(&raw, now, "").unwrap(),
            now,
        )
    }

    fn sample() -> Event {
        event(json!({
            "id": "evt_1",
            "action": "MODEL_DEPLOYED",
            "occurred_at": "2026-11-28T09:30:00Z",
            "actor": {"type": "user", "id": "usr_ada", "name": "Lovelace, \"Ada\"", "email": "ada@example.com"},
            "resource": {"type": "deployment", "id": "dep_42", "name": "=cmd|' /C calc'!A0"},
            "context": {"ip": "203.0.113.9", "user_agent": "cli/1.4", "request_id": "req_1"},
            "metadata": {"model_name": "llama-3", "note": "two\nlines"}
        }))
    }

    #[test]
    fn plain_field_is_left_alone() {
        assert_eq!(csv_field("llama-3"), "llama-3");
        assert_eq!(csv_field(""), "");
    }

    #[test]
    fn field_with_comma_is_quoted() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
    }

    #[test]
    fn embedded_quotes_are_doubled_inside_quotes() {
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn field_with_line_breaks_is_quoted() {
        assert_eq!(csv_field("a\nb"), "\"a\nb\"");
        assert_eq!(csv_field("a\r\nb"), "\"a\r\nb\"");
    }

    #[test]
    fn formula_starts_are_prefixed_with_a_quote() {
        assert_eq!(csv_field("=cmd"), "'=cmd");
        assert_eq!(csv_field("+1"), "'+1");
        assert_eq!(csv_field("-1"), "'-1");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_field("\tx"), "'\tx");
        assert_eq!(csv_field("\rx"), "\"'\rx\"");
        assert_eq!(csv_field("a=b"), "a=b");
    }

    #[test]
    fn defused_formula_with_comma_is_also_quoted() {
        assert_eq!(csv_field("=1,2"), "\"'=1,2\"");
    }

    #[test]
    fn csv_has_a_header_row_and_crlf_rows() {
        let text = csv(&[sample()]);
        let header = text.split("\r\n").next().unwrap();
        assert_eq!(header, CSV_COLUMNS.join(","));
        assert!(text.ends_with("\r\n"));
        assert_eq!(csv(&[]), format!("{}\r\n", CSV_COLUMNS.join(",")));
    }

    #[test]
    fn csv_row_holds_every_field_escaped() {
        let text = csv(&[sample()]);
        let row = text.split_once("\r\n").unwrap().1;
        assert_eq!(
            row,
            "evt_1,2026-11-28T09:30:00.000Z,2026-11-29T10:00:00.000Z,MODEL_DEPLOYED,models,\
             \"Lovelace, \"\"Ada\"\" deployed model llama-3 (deployment =cmd|' /C calc'!A0)\",\
             user,usr_ada,\"Lovelace, \"\"Ada\"\"\",ada@example.com,deployment,dep_42,\
             '=cmd|' /C calc'!A0,203.0.113.9,cli/1.4,req_1,\
             \"{\"\"model_name\"\":\"\"llama-3\"\",\"\"note\"\":\"\"two\\nlines\"\"}\"\r\n"
        );
    }

    #[test]
    fn system_event_has_system_actor_type_and_empty_actor_cells() {
        let e = event(json!({"action": "MODEL_DEPLOYMENT_DEACTIVATED",
            "resource": {"id": "dep_1"}, "metadata": {"model_name": "m", "reason": "inactivity"}}));
        let cells = csv_cells(&e);
        assert_eq!(&cells[6..10], ["system", "", "", ""]);
    }

    #[test]
    fn ndjson_is_one_event_view_per_line() {
        let events = [sample(), sample()];
        let text = ndjson(&events);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(text.ends_with('\n'));
        let view = serde_json::to_value(events[0].view()).unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(lines[0]).unwrap(),
            view
        );
        assert_eq!(ndjson(&[]), "");
    }

    #[test]
    fn format_parses_known_names_only() {
        assert_eq!(Format::parse("csv"), Ok(Format::Csv));
        assert_eq!(Format::parse("ndjson"), Ok(Format::Ndjson));
        assert_eq!(Format::parse("json"), Ok(Format::Json));
        assert!(Format::parse("CSV").is_err());
        assert!(Format::parse("xml").is_err());
    }

    #[test]
    fn filename_names_org_and_utc_time() {
        let at = Timestamp::parse("2026-11-29T10:05:06Z").unwrap();
        assert_eq!(
            filename(&OrgId::parse("acme:eu").unwrap(), at, Format::Csv),
            "audit-log-acme_eu-20261129T100506Z.csv"
        );
    }

    #[test]
    fn escaped_len_counts_json_string_escapes() {
        assert_eq!(escaped_len("abc"), 3);
        assert_eq!(escaped_len("\"\\"), 4);
        assert_eq!(escaped_len("\r\n\t"), 6);
        assert_eq!(escaped_len("\u{1}"), 6);
        assert_eq!(escaped_len("Zoë"), 4);
        // What serde_json (and so the Lambda runtime) makes of the same text.
        for s in ["a\"b\\c\r\n", "\u{1f}x\u{7f}ë\u{201c}", ""] {
            let json = serde_json::to_string(s).unwrap();
            assert_eq!(escaped_len(s), json.len() - 2, "{s:?}");
        }
    }

    #[test]
    fn a_part_stops_before_its_escaped_budget() {
        let one = escaped_len(&csv(&[sample()])) - escaped_len(&csv(&[]));
        let header = escaped_len(&csv(&[]));
        let mut part = Part::new(Format::Csv, header + 2 * one + one / 2);
        assert!(part.push(&sample()));
        assert!(part.push(&sample()));
        assert!(!part.push(&sample()), "a third row would pass the budget");
        assert_eq!(part.len(), 2);
        assert_eq!(part.escaped_bytes(), header + 2 * one);
        assert_eq!(part.into_body(), csv(&[sample(), sample()]));
    }

    #[test]
    fn a_part_takes_its_first_event_whatever_its_size() {
        let mut part = Part::new(Format::Ndjson, 1);
        assert!(part.is_empty());
        assert!(part.push(&sample()));
        assert!(!part.push(&sample()));
        assert_eq!(part.into_body(), ndjson(&[sample()]));
    }
}
