//! The query function: the activity log's read API.
//!
//! * `GET /v1/events` – filtered, newest first, paged by an opaque cursor
//! * `GET /v1/events/{id}` – one event of the caller's org
//! * `GET /v1/event-types` – the catalog, for filter menus

use std::time::Instant;

use audit_log::access::{AuthError, Authenticator, Caller};
use audit_log::auth::{authorize, OrgAccess, Permission};
use audit_log::catalog::{Action, Group};
use audit_log::cursor::CursorCodec;
use audit_log::edge::{self, HttpResponse};
use audit_log::event::Event;
use audit_log::ids::EventId;
use audit_log::plan::plan;
use audit_log::problem::Problem;
use audit_log::query::ActivityQuery;
use audit_log::store::{ReadBudget, Store};
use http::{Method, Request};
use serde_json::json;

/// What the query function holds for its lifetime: clients built once.
#[derive(Debug)]
pub struct App {
    pub store: Store,
    pub auth: Authenticator,
    pub cursors: CursorCodec,
}

/// Serves one request; never fails: every error becomes a problem response.
pub async fn handle<B>(app: &App, req: Request<B>) -> HttpResponse {
    let started = Instant::now();
    let (response, org) = route(app, &req).await;
    tracing::info!(
        route = "query",
        method = %req.method(),
        path = req.uri().path(),
        status = response.status().as_u16(),
        org = org.as_deref().unwrap_or("-"),
        duration_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

async fn route<B>(app: &App, req: &Request<B>) -> (HttpResponse, Option<String>) {
    let path = req.uri().path().trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let known = matches!(
        segments.as_slice(),
        ["v1", "events"] | ["v1", "events", _] | ["v1", "event-types"]
    );
    if !known {
        return (edge::problem(&Problem::not_found("No such route.")), None);
    }
    if req.method() != Method::GET {
        return (edge::problem(&Problem::method_not_allowed()), None);
    }
    let caller = match app
        .auth
        .authenticate(&app.store, edge::authorization(req.headers()))
        .await
    {
        Ok(c) => c,
        Err(e) => {
            if let AuthError::Store(err) = &e {
                tracing::error!(error = %err, "key lookup failed");
            }
            return (edge::problem(&Problem::from(&e)), None);
        }
    };
    let org = Some(caller.principal.org_id.to_string());
    let response = match segments.as_slice() {
        // The catalog is public knowledge: any valid key may read it.
        ["v1", "event-types"] => event_types(),
        _ => match authorize(
            caller.principal.role,
            OrgAccess {
                uses_teams: caller.org.uses_teams,
            },
            Permission::ReadEvents,
        ) {
            Err(denied) => edge::problem(&Problem::from(&denied)),
            Ok(()) => match segments.as_slice() {
                ["v1", "events", id] => get_event(app, &caller, id).await,
                _ => list_events(app, &caller, req.uri().query()).await,
            },
        },
    };
    (response, org)
}

async fn list_events(app: &App, caller: &Caller, query: Option<&str>) -> HttpResponse {
    let pairs = edge::query_pairs(query);
    let q = match ActivityQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        Ok(q) => q,
        Err(e) => return edge::problem(&Problem::invalid(vec![e])),
    };
    let org = &caller.principal.org_id;
    let fingerprint = q.fingerprint();
    let start = match &q.cursor {
        None => None,
        Some(c) => match app.cursors.decode(org, &fingerprint, c) {
            Ok(k) => Some(k),
            Err(e) => return edge::problem(&Problem::field("cursor", &e.to_string())),
        },
    };
    let plan = plan(org, &q);
    match app
        .store
        .find_events(
            org,
            &plan,
            start.as_ref(),
            q.limit.get(),
            ReadBudget::default(),
        )
        .await
    {
        Ok(page) => {
            let events: Vec<_> = page.events.iter().map(Event::view).collect();
            let next = page.next.map(|k| app.cursors.encode(org, &fingerprint, &k));
            edge::json(200, &json!({"events": events, "next_cursor": next}))
        }
        Err(e) => {
            tracing::error!(error = %e, index = plan.index.name(), "query failed");
            edge::problem(&Problem::unavailable())
        }
    }
}

async fn get_event(app: &App, caller: &Caller, id: &str) -> HttpResponse {
    let not_found = || {
        edge::problem(&Problem::not_found(
            "No event with that id in your organization.",
        ))
    };
    let Ok(id) = EventId::parse(id) else {
        return not_found();
    };
    match app.store.get_event(&caller.principal.org_id, &id).await {
        Ok(Some(event)) => edge::json(200, &event.view()),
        Ok(None) => not_found(),
        Err(e) => {
            tracing::error!(error = %e, "get event failed");
            edge::problem(&Problem::unavailable())
        }
    }
}

fn event_types() -> HttpResponse {
    let groups: Vec<_> = Group::ALL
        .iter()
        .map(|g| {
            let types: Vec<_> = Action::ALL
                .iter()
                .filter(|a| a.group() == *g)
                .map(|a| {
                    json!({
                        "action": a.as_str(),
                        "resource_type": a.resource_type(),
                        "summary": a.summary(),
                        "metadata_keys": a.metadata_keys(),
                    })
                })
                .collect();
            json!({"group": g.slug(), "label": g.label(), "event_types": types})
        })
        .collect();
    edge::json(200, &json!({ "groups": groups }))
}
