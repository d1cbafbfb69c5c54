//! The query function: the activity log's read API.
//!
//! * `GET /v1/events` – filtered, newest first, paged by an opaque cursor;
//!   with `format=csv|ndjson`, every matching event as a download
//! * `GET /v1/events/{id}` – one event of the caller's org
//! * `GET /v1/event-types` – the catalog, for filter menus
//! * `POST /v1/viewer-tokens`, `GET|PUT /v1/embedding` – viewer tokens for
//!   an embedded Activity page, and who may frame it (see `viewer`)
//! * `GET /activity` – the Activity page (public static assets, see `activity`)
//! * `/v1/destinations…` – export destinations, admins only (see `destinations`)
//! * `GET /v1/integrity/public-key`, `public-keys`, `digests` – signed
//!   digests and the keys that verify them (see `integrity`)

mod activity;
mod destinations;
mod integrity;
mod parts;
mod proofs;
mod viewer;

pub use parts::Budgets;

use std::sync::Arc;

use audit_aws::access::Authenticator;
use audit_aws::secrets::SecretStore;
use audit_aws::store::plan::plan;
use audit_aws::store::{cursor_key, ReadBudget, Store};
use audit_destinations::deliver::Deliverer;
use audit_destinations::UrlPolicy;
use audit_domain::catalog::{Action, Group};
use audit_domain::cursor::CursorCodec;
use audit_domain::download::Format;
use audit_domain::event::Event;
use audit_domain::ids::EventId;
use audit_domain::problem::FieldError;
use audit_domain::query::ActivityQuery;
use audit_http::{
    self as edge, ApiError, Authenticated, Deadline, EventReader, PathId, RequestLog,
};
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use http::StatusCode;
use serde_json::json;

/// What the query function holds for its lifetime: clients built once.
pub struct App {
    pub store: Store,
    pub auth: Authenticator,
    pub cursors: CursorCodec,
    /// Destination secrets (Secrets Manager).
    pub secrets: SecretStore,
    /// Whether destination URLs may be http or private (local stack only).
    pub urls: UrlPolicy,
    /// Sends `POST /v1/destinations/{id}/test`.
    pub deliverer: Deliverer,
    /// The export queue, for replays (`None` where export is not set up).
    pub export_queue: Option<audit_aws::queue::ExportQueue>,
    /// What one download part or listing page may spend.
    pub budgets: Budgets,
}

// By hand: the deliverer holds HTTP and AWS clients and has no `Debug`.
impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("store", &self.store)
            .field("secrets", &self.secrets)
            .field("urls", &self.urls)
            .finish_non_exhaustive()
    }
}

impl edge::KeyLookup for App {
    fn authenticator(&self) -> &Authenticator {
        &self.auth
    }

    fn store(&self) -> &Store {
        &self.store
    }

    fn viewer_tokens(&self) -> Option<audit_domain::viewer::TokenCodec> {
        Some(viewer::codec(self))
    }
}

/// How this function's requests are logged: `route="query"`.
pub const LOG: RequestLog = RequestLog {
    route: "query",
    counts_events: false,
};

/// The function's routes. Each path lists the methods it answers; any other
/// is a 405 naming them, before the key is checked.
pub fn router(app: Arc<App>) -> Router {
    let routes = Router::new()
        // POST is the ingest function's: the path accepts both.
        .route("/v1/events", edge::only(&["GET", "POST"], get(list_events)))
        .route("/v1/events/{id}", edge::only(&["GET"], get(get_event)))
        .route("/v1/event-types", edge::only(&["GET"], get(catalog)))
        .merge(integrity::routes())
        .merge(proofs::routes())
        .merge(destinations::routes())
        .merge(viewer::routes())
        // The page's assets are public: it asks for a key itself.
        .merge(activity::routes())
        .with_state(app);
    edge::finish(edge::log_requests(routes, LOG), LOG)
}

async fn list_events(
    State(app): State<Arc<App>>,
    EventReader(caller): EventReader,
    deadline: Deadline,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let mut pairs = edge::query_pairs(query.as_deref());
    let format = take_format(&mut pairs)?;
    let mut q = ActivityQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    viewer::narrow(&caller, &mut q)?;
    let org = &caller.principal.org_id;
    let fingerprint = q.fingerprint();
    let start = match &q.cursor {
        None => None,
        Some(c) => Some(
            app.cursors
                .decode(org, &fingerprint, c)
                .map_err(|e| ApiError::field("cursor", &e.to_string()))?,
        ),
    };
    if format != Format::Json {
        let filter = viewer::filter_text(&pairs);
        return parts::part(&app, &caller, &q, start, format, deadline, &filter).await;
    }
    let plan = plan(org, &q);
    let page = app
        .store
        .find_events(
            org,
            &plan,
            start.as_ref(),
            q.limit.get(),
            ReadBudget::default(),
        )
        .await
        .map_err(|e| {
            tracing::warn!(index = plan.index.name(), "query failed");
            ApiError::from(e)
        })?;
    let mut events: Vec<_> = page.events.iter().map(Event::view).collect();
    let mut next = page.next;
    // A page of large events could pass Lambda's response limit: cut it,
    // and continue after the last event kept.
    let fit = parts::fitting(&events, app.budgets.page_escaped_bytes);
    if fit < events.len() {
        events.truncate(fit);
        next = page.events.get(fit - 1).map(cursor_key);
    }
    let next = next.map(|k| app.cursors.encode(org, &fingerprint, &k));
    Ok(edge::json(
        StatusCode::OK,
        &json!({"events": events, "next_cursor": next}),
    ))
}

/// Removes `format` from the pairs: it chooses the representation, not
/// which events, so it is not part of the `ActivityQuery`.
fn take_format(pairs: &mut Vec<(String, String)>) -> Result<Format, FieldError> {
    let mut format = None;
    let mut error = None;
    pairs.retain(|(name, value)| {
        if name != "format" {
            return true;
        }
        if format.is_some() {
            error = Some(FieldError::new("format", "may be given only once"));
        }
        match Format::parse(value) {
            Ok(f) => format = Some(f),
            Err(reason) => error = Some(FieldError::new("format", reason)),
        }
        false
    });
    match error {
        Some(e) => Err(e),
        None => Ok(format.unwrap_or_default()),
    }
}

async fn get_event(
    State(app): State<Arc<App>>,
    EventReader(caller): EventReader,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::not_found("No event with that id in your organization.");
    let id = EventId::parse(&id).map_err(|_| not_found())?;
    match app.store.get_event(&caller.principal.org_id, &id).await? {
        // Outside a scoped token's scope is not found, as another org's is.
        Some(event) if viewer::visible(&caller, &event) => {
            Ok(edge::json(StatusCode::OK, &event.view()))
        }
        _ => Err(not_found()),
    }
}

/// The catalog is public knowledge: any valid key may read it.
async fn catalog(Authenticated(_): Authenticated) -> Response {
    event_types()
}

fn event_types() -> Response {
    let groups: Vec<_> = Group::ALL
        .iter()
        .map(|g| {
            let types: Vec<_> = Action::every()
                .filter(|a| a.group() == *g)
                .map(|a| {
                    json!({
                        "action": a.as_str(),
                        "resource_type": a.resource_type(),
                        "summary": a.summary(),
                        "metadata_keys": a.metadata_keys(),
                        // The audit log's own events: producers cannot send them.
                        "producible": !a.is_self_audit(),
                    })
                })
                .collect();
            json!({"group": g.slug(), "label": g.label(), "event_types": types})
        })
        .collect();
    edge::json(StatusCode::OK, &json!({ "groups": groups }))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The app over clients that are never reached: the answers below all
    /// come from the router, before a key is looked up.
    pub(crate) fn offline_app() -> Arc<App> {
        let config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build();
        let tables = audit_aws::store::Tables {
            events: "unused-events".into(),
            control: "unused-control".into(),
        };
        Arc::new(App {
            store: Store::new(aws_sdk_dynamodb::Client::new(&config), tables),
            auth: Authenticator::new(std::time::Duration::ZERO),
            cursors: CursorCodec::new(b"unused".to_vec()),
            secrets: SecretStore::from_env(&config),
            urls: UrlPolicy {
                allow_private: false,
            },
            deliverer: Deliverer::new(
                &config,
                std::time::Duration::from_secs(1),
                UrlPolicy {
                    allow_private: false,
                },
            ),
            export_queue: None,
            budgets: Budgets::default(),
        })
    }

    /// The status and `Allow` of `method path` without a key.
    async fn route(method: &str, path: &str) -> (u16, String) {
        use tower::ServiceExt;
        let req = http::Request::builder()
            .method(method)
            .uri(path)
            .body(axum::body::Body::empty())
            .expect("request");
        let response = router(offline_app())
            .oneshot(req)
            .await
            .expect("infallible");
        let allow = response
            .headers()
            .get(http::header::ALLOW)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        (response.status().as_u16(), allow)
    }

    #[tokio::test]
    async fn routes_and_methods() {
        for (method, path, status, allow) in [
            ("PUT", "/v1/destinations", 405, "GET, POST"),
            ("POST", "/v1/destinations/dst_1", 405, "GET, PATCH, DELETE"),
            ("POST", "/v1/destinations/dst_1/status", 405, "GET"),
            ("GET", "/v1/destinations/dst_1/test", 405, "POST"),
            ("GET", "/v1/destinations/dst_1/replay", 405, "POST"),
            ("GET", "/v1/destinations/dst_1/redrive", 405, "POST"),
            ("GET", "/v1/destinations/dst_1/nope", 404, ""),
            ("GET", "/v1/destination", 404, ""),
            // The ingest function's POST: this function alone still names it.
            ("PUT", "/v1/events", 405, "GET, POST"),
            ("POST", "/v1/events", 405, "GET, POST"),
            ("HEAD", "/v1/events", 405, "GET, POST"),
            ("DELETE", "/v1/events/evt_1", 405, "GET"),
            ("POST", "/v1/event-types", 405, "GET"),
            ("POST", "/v1/integrity/digests", 405, "GET"),
            ("GET", "/v1/integrity/nothing", 404, ""),
            ("GET", "/v2/nothing", 404, ""),
            // Known routes check the key before anything else.
            ("GET", "/v1/events", 401, ""),
            ("GET", "/v1/events/", 401, ""),
            ("GET", "/v1/destinations/dst_1/status", 401, ""),
            ("GET", "/activity", 200, ""),
            // The template routes HEAD /activity here too.
            ("HEAD", "/activity", 200, ""),
        ] {
            assert_eq!(
                route(method, path).await,
                (status, allow.to_string()),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn format_is_taken_out_of_the_filters() {
        let mut pairs = vec![
            ("group".to_string(), "users".to_string()),
            ("format".to_string(), "csv".to_string()),
        ];
        assert_eq!(take_format(&mut pairs), Ok(Format::Csv));
        assert_eq!(pairs, [("group".to_string(), "users".to_string())]);
        let mut none = vec![];
        assert_eq!(take_format(&mut none), Ok(Format::Json));
        let mut bad = vec![("format".to_string(), "xml".to_string())];
        assert_eq!(take_format(&mut bad).unwrap_err().field, "format");
        let mut twice = vec![
            ("format".to_string(), "csv".to_string()),
            ("format".to_string(), "csv".to_string()),
        ];
        assert_eq!(take_format(&mut twice).unwrap_err().field, "format");
    }
}
