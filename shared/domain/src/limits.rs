//! Every input limit the service enforces, in one place so the docs, the
//! validators and the tests all read the same numbers.

/// Largest accepted request body (1 MiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Most events in one `{"events": [...]}` batch.
pub const MAX_BATCH_EVENTS: usize = 100;
/// Largest `metadata` object, serialized as compact JSON.
pub const MAX_METADATA_BYTES: usize = 8 * 1024;
/// Most top-level keys in `metadata`.
pub const MAX_METADATA_KEYS: usize = 50;
/// Deepest nesting accepted inside `metadata`.
pub const MAX_METADATA_DEPTH: usize = 8;
/// Longest identifier (`id`, `actor.id`, `resource.id`, org ids).
pub const MAX_ID_LEN: usize = 128;
/// Longest display name (`actor.name`, `resource.name`, key names).
pub const MAX_NAME_LEN: usize = 256;
/// Longest `actor.email`.
pub const MAX_EMAIL_LEN: usize = 320;
/// Longest `resource.type`.
pub const MAX_RESOURCE_TYPE_LEN: usize = 64;
/// Longest `context.ip`.
pub const MAX_IP_LEN: usize = 64;
/// Longest `context.user_agent`.
pub const MAX_USER_AGENT_LEN: usize = 512;
/// Longest `context.request_id`.
pub const MAX_REQUEST_ID_LEN: usize = 128;
/// How far in the future `occurred_at` may be (clock skew allowance).
pub const MAX_FUTURE_SKEW_SECS: i64 = 5 * 60;
/// Earliest accepted `occurred_at` (2000-01-01T00:00:00Z), in epoch millis.
pub const MIN_OCCURRED_AT_MILLIS: i64 = 946_684_800_000;
/// Page size bounds and default for `GET /v1/events`.
pub const MIN_PAGE_SIZE: u32 = 1;
pub const MAX_PAGE_SIZE: u32 = 200;
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Longest `q` free-text search.
pub const MAX_QUERY_TEXT_LEN: usize = 256;
/// Most repeated `action` filters in one query.
pub const MAX_ACTION_FILTERS: usize = 20;
/// Most events in one part of a CSV / NDJSON download
/// (`GET /v1/events?format=csv`); a part also stops at its byte, read and
/// time budgets (`query::Budgets`), then says so with `x-truncated: true`
/// and `x-next-cursor`.
pub const MAX_EXPORT_EVENTS: usize = 5_000;
/// Most stored bytes (DynamoDB item size) one export job reads before the
/// rest of its window goes to a follow-up job. A job holds its events,
/// their encoded records and request bodies at once, about 6 times their
/// stored size, and the worker runs 4 jobs at a time in a 256 MB function:
/// 4 MiB keeps that near 100 MB whatever the events' size.
pub const EXPORT_JOB_MAX_BYTES: usize = 4 * 1024 * 1024;
/// Page size used while collecting a download from the store.
pub const EXPORT_PAGE_SIZE: usize = 200;
/// Longest cursor accepted.
pub const MAX_CURSOR_LEN: usize = 2048;
/// Retention bounds for an org, in days, and the default.
pub const DEFAULT_RETENTION_DAYS: u32 = 365;
pub const MIN_RETENTION_DAYS: u32 = 1;
pub const MAX_RETENTION_DAYS: u32 = 3650;
/// Most concurrent DynamoDB writes while ingesting one batch.
pub const INGEST_WRITE_CONCURRENCY: usize = 16;
