//! `GET /v1/events?format=csv|ndjson`: one part of a download, and the
//! byte bound of a JSON listing page. A part stops at whichever budget it
//! reaches first (bytes as Lambda's JSON response carries them, events,
//! reads, time) and then says so with `x-truncated: true` and where the
//! rest starts (`x-next-cursor`), even when it found nothing yet.

use std::time::{Duration, Instant};

use audit_aws::access::Caller;
use audit_aws::store::plan::plan;
use audit_aws::store::{cursor_key, ReadBudget, ReadCost, StoreError};
use audit_domain::cursor::CursorKey;
use audit_domain::describe::EventView;
use audit_domain::download::{self, Format, Part, MAX_PART_ESCAPED_BYTES};
use audit_domain::limits::{EXPORT_PAGE_SIZE, MAX_EXPORT_EVENTS};
use audit_domain::query::ActivityQuery;
use audit_domain::time::Timestamp;
use audit_http::{self as edge, ApiError, Deadline};
use axum::response::Response;
use http::{HeaderValue, StatusCode};

use crate::App;

/// What one download part or listing page may spend. One value so tests can
/// shrink it; [`Budgets::default`] is what the function runs with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budgets {
    /// A part's body, escaped as Lambda's JSON response carries it.
    pub part_escaped_bytes: usize,
    /// Events in one part.
    pub part_events: usize,
    /// A JSON listing page's events, escaped likewise.
    pub page_escaped_bytes: usize,
    /// DynamoDB round trips one part makes.
    pub round_trips: u32,
    /// Items one part reads (before the filter).
    pub items_read: usize,
    /// Read units one part consumes, as DynamoDB reports them.
    pub read_units: f64,
    /// Time one part may read for, and how long before the invocation's
    /// deadline it stops reading.
    pub time: Duration,
    pub deadline_margin: Duration,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets {
            part_escaped_bytes: MAX_PART_ESCAPED_BYTES,
            part_events: MAX_EXPORT_EVENTS,
            page_escaped_bytes: MAX_PART_ESCAPED_BYTES,
            round_trips: 32,
            items_read: 40_000,
            read_units: 2_000.0,
            time: Duration::from_secs(6),
            deadline_margin: Duration::from_secs(2),
        }
    }
}

/// Most round trips one store call of a part makes, so that the time and
/// read budgets are checked between calls.
const ROUND_TRIPS_PER_CALL: u32 = 8;

/// Why a part ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cut {
    /// Every match from the start was read.
    Complete,
    /// A budget was reached: the rest starts at the cursor.
    At(CursorKey),
}

/// Reads matches from `start` into `part` until they are all read or a
/// budget is reached. `fetch` is the store's `find_events_measured`.
pub(crate) async fn fill_part<F, Fut>(
    part: &mut Part,
    budgets: &Budgets,
    time: Duration,
    mut start: Option<CursorKey>,
    mut fetch: F,
) -> Result<(Cut, ReadCost), StoreError>
where
    F: FnMut(Option<CursorKey>, usize, ReadBudget) -> Fut,
    Fut: std::future::Future<Output = Result<(audit_aws::store::Page, ReadCost), StoreError>>,
{
    let began = Instant::now();
    let mut spent = ReadCost::default();
    // Where the rest starts once the part is full: after its last event.
    let mut after_last: Option<CursorKey> = None;
    loop {
        let budget = ReadBudget {
            max_round_trips: budgets
                .round_trips
                .saturating_sub(spent.round_trips)
                .clamp(1, ROUND_TRIPS_PER_CALL),
            max_items_read: budgets.items_read.saturating_sub(spent.items_read).max(1),
        };
        let want = (budgets.part_events - part.len()).min(EXPORT_PAGE_SIZE);
        let (page, cost) = fetch(start.take(), want, budget).await?;
        spent.round_trips += cost.round_trips;
        spent.items_read += cost.items_read;
        spent.read_units += cost.read_units;
        for e in &page.events {
            if part.len() == budgets.part_events || !part.push(e) {
                // A part always takes its first event, so `after_last` is set.
                let next = after_last.unwrap_or_else(|| cursor_key(e));
                return Ok((Cut::At(next), spent));
            }
            after_last = Some(cursor_key(e));
        }
        let Some(next) = page.next else {
            return Ok((Cut::Complete, spent));
        };
        let exhausted = part.len() >= budgets.part_events
            || spent.round_trips >= budgets.round_trips
            || spent.items_read >= budgets.items_read
            || spent.read_units >= budgets.read_units
            || began.elapsed() >= time;
        if exhausted {
            return Ok((Cut::At(next), spent));
        }
        start = Some(next);
    }
}

/// One part of the download of every match from `start`, as CSV or NDJSON.
/// The Lambda handler cannot stream, so the part is built in memory, bounded
/// by `app.budgets`; `limit` does not apply.
pub(crate) async fn part(
    app: &App,
    caller: &Caller,
    q: &ActivityQuery,
    start: Option<CursorKey>,
    format: Format,
    deadline: Deadline,
    filter: &str,
) -> Result<Response, ApiError> {
    let continued = start.is_some();
    let org = &caller.principal.org_id;
    let plan = plan(org, q);
    let budgets = app.budgets;
    let time = deadline.remaining(budgets.deadline_margin, budgets.time);
    let mut part = Part::new(format, budgets.part_escaped_bytes);
    let fetch = |start: Option<CursorKey>, limit: usize, budget: ReadBudget| {
        let plan = &plan;
        async move {
            app.store
                .find_events_measured(org, plan, start.as_ref(), limit, budget)
                .await
        }
    };
    let (cut, spent) = fill_part(&mut part, &budgets, time, start, fetch)
        .await
        .map_err(|e| {
            tracing::warn!(index = plan.index.name(), "download query failed");
            ApiError::from(e)
        })?;
    tracing::info!(
        events = part.len(),
        escaped_bytes = part.escaped_bytes(),
        round_trips = spent.round_trips,
        items_read = spent.items_read,
        read_units = spent.read_units,
        complete = cut == Cut::Complete,
        "download part"
    );
    crate::viewer::record_download(app, caller, format, filter, part.len(), continued).await;
    let filename = download::filename(org, Timestamp::now(), format);
    let mut response = edge::respond(StatusCode::OK, format.content_type(), part.into_body());
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(http::header::CONTENT_DISPOSITION, value);
    }
    if let Cut::At(next) = cut {
        headers.insert("x-truncated", HeaderValue::from_static("true"));
        let cursor = app.cursors.encode(org, &q.fingerprint(), &next);
        if let Ok(value) = HeaderValue::from_str(&cursor) {
            headers.insert("x-next-cursor", value);
        }
    }
    Ok(response)
}

/// How many of `views` fit a JSON listing page of `max_escaped` bytes (as
/// Lambda's JSON response carries it); at least one.
pub(crate) fn fitting(views: &[EventView<'_>], max_escaped: usize) -> usize {
    let mut total = 0;
    for (i, view) in views.iter().enumerate() {
        // An event view is plain data: serializing it cannot fail.
        let text = serde_json::to_string(view).unwrap_or_default();
        total += download::escaped_len(&text) + 1;
        if i > 0 && total > max_escaped {
            return i;
        }
    }
    views.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_aws::store::Page;
    use audit_domain::event::Event;
    use audit_domain::ids::OrgId;
    use audit_domain::validate::parse_event;
    use serde_json::json;

    fn events(n: usize) -> Vec<Event> {
        let now = Timestamp::now();
        (0..n)
            .map(|i| {
                let raw = json!({"id": format!("evt_{i:03}"), "action": "USER_INVITED",
                    "resource": {"id": "usr_x"}, "metadata": {"note": "x".repeat(100)}});
                Event::from_new(
                    OrgId::parse("acme").unwrap(),
                    parse_event(&raw, now, "").unwrap(),
                    now,
                )
            })
            .collect()
    }

    fn key(i: usize) -> CursorKey {
        CursorKey {
            ts: String::new(),
            id: i.to_string(),
        }
    }

    /// A store stand-in over `all`: pages of at most `limit` from the
    /// cursor (an index), matching only `matches`, one round trip reading
    /// `per_trip` items.
    async fn run(
        all: &[Event],
        matches: fn(usize) -> bool,
        per_trip: usize,
        budgets: Budgets,
        start: Option<usize>,
    ) -> (String, usize, Option<usize>) {
        let mut part = Part::new(Format::Ndjson, budgets.part_escaped_bytes);
        let fetch = |start: Option<CursorKey>, limit: usize, _: ReadBudget| {
            let from: usize = start.map_or(0, |k| k.id.parse().unwrap());
            let to = (from + per_trip).min(all.len());
            let found: Vec<(usize, Event)> = (from..to)
                .filter(|i| matches(*i))
                .map(|i| (i, all[i].clone()))
                .take(limit)
                .collect();
            let end = if found.len() == limit {
                found.last().map_or(to, |(i, _)| i + 1)
            } else {
                to
            };
            let page = Page {
                events: found.into_iter().map(|(_, e)| e).collect(),
                next: (end < all.len()).then(|| key(end)),
            };
            let cost = ReadCost {
                read_units: 1.0,
                round_trips: 1,
                items_read: end - from,
            };
            async move { Ok((page, cost)) }
        };
        let (cut, _) = fill_part(&mut part, &budgets, budgets.time, start.map(key), fetch)
            .await
            .unwrap();
        let next = match cut {
            Cut::Complete => None,
            // The stand-in's cursors are indexes; a real one's are keys.
            Cut::At(k) => Some(k.id.parse().unwrap_or_else(|_| {
                all.iter().position(|e| e.id.to_string() == k.id).unwrap() + 1
            })),
        };
        let n = part.len();
        (part.into_body(), n, next)
    }

    #[tokio::test]
    async fn parts_cut_by_bytes_hold_every_event_once() {
        let all = events(450);
        let one = download::escaped_len(&download::ndjson(&all[..1]));
        let budgets = Budgets {
            part_escaped_bytes: one * 120 + one / 2,
            ..Budgets::default()
        };
        let mut bodies = Vec::new();
        let mut start = None;
        loop {
            let (body, n, next) = run(&all, |_| true, 1000, budgets, start).await;
            assert!(n <= 120 && download::escaped_len(&body) <= budgets.part_escaped_bytes);
            bodies.push(body);
            match next {
                Some(i) => start = Some(i),
                None => break,
            }
        }
        assert_eq!(bodies.len(), 4);
        assert_eq!(bodies.concat(), download::ndjson(&all));
    }

    #[tokio::test]
    async fn a_part_that_finds_nothing_within_its_reads_still_hands_back_a_cursor() {
        let all = events(300);
        let budgets = Budgets {
            round_trips: 3,
            ..Budgets::default()
        };
        let (body, n, next) = run(&all, |_| false, 10, budgets, None).await;
        assert_eq!((body.as_str(), n, next), ("", 0, Some(30)));
        // Following the cursors ends, every part within the same budget.
        let mut start = next;
        let mut parts = 1;
        while let Some(i) = start {
            let (_, n, next) = run(&all, |_| false, 10, budgets, Some(i)).await;
            assert_eq!(n, 0);
            start = next;
            parts += 1;
        }
        assert_eq!(parts, 10);
    }

    #[tokio::test]
    async fn a_part_stops_at_its_event_cap() {
        let all = events(30);
        let budgets = Budgets {
            part_events: 25,
            ..Budgets::default()
        };
        let (_, n, next) = run(&all, |_| true, 1000, budgets, None).await;
        assert_eq!((n, next), (25, Some(25)));
        let (_, n, next) = run(&all, |_| true, 1000, budgets, Some(25)).await;
        assert_eq!((n, next), (5, None));
    }

    #[test]
    fn a_listing_page_keeps_what_fits_and_at_least_one() {
        let all = events(10);
        let views: Vec<_> = all.iter().map(Event::view).collect();
        let one = download::escaped_len(&serde_json::to_string(&views[0]).unwrap()) + 1;
        assert_eq!(fitting(&views, one * 4), 4);
        assert_eq!(fitting(&views, 1), 1);
        assert_eq!(fitting(&views, usize::MAX), 10);
    }
}
