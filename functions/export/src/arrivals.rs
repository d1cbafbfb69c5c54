//! Late arrivals, both halves (`audit_domain::export::late` has the rule):
//!
//! * the **stream consumer** (`bin/arrivals.rs`, the events table's
//!   DynamoDB stream, new images of inserts): it reads nothing, and for
//!   each write that landed more than half the export lag after its stamp
//!   (`late_after_ms`) puts a mark;
//! * **settling**, at the end of each scheduler tick, after sealing (so
//!   never while a period is being sealed): each mark's event is re-stamped
//!   to the tick's time when no digest holds it, or re-delivered to the
//!   destinations whose cursor passed it when one does.

use std::time::{Duration, Instant};

use audit_aws::store::{LateMark, Store, StoreError};
use audit_destinations::DestinationSpec;
pub use audit_domain::export::late::late_after_ms;
use audit_domain::export::late::{is_late, settle, Sealing, Settle};
use audit_domain::export::ExportWindow;
use audit_domain::ids::{EventId, OrgId};
use audit_domain::integrity::period_containing;
use audit_domain::time::Timestamp;
use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use serde_json::{json, Value};

use crate::{ExportApp, ExportEventError};

/// Most marks one tick settles (the rest wait for the next).
pub const MAX_MARKS_PER_TICK: usize = 100;
/// Longest one tick spends settling marks.
pub const SETTLE_BUDGET: Duration = Duration::from_secs(5);

/// One insert as the events table's stream shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// The item's `PK`, `SK` and `rts`.
    pub pk: String,
    pub sk: String,
    pub rts: String,
    /// The stream's approximate creation time of the record.
    pub written_at: Timestamp,
}

impl Arrival {
    /// The mark this arrival needs: `None` when it is on time (written
    /// within `late_after_ms` of its stamp), or when the item is not an
    /// event (nothing else lives in the events table).
    pub fn late_mark(&self, late_after_ms: i64) -> Option<LateMark> {
        let org = OrgId::parse(self.pk.strip_prefix("ORG#")?).ok()?;
        let id = EventId::parse(self.sk.strip_prefix("EVT#")?).ok()?;
        let mark = LateMark {
            org,
            id,
            rts: self.rts.clone(),
            written_at: self.written_at,
        };
        is_late(mark.recorded_at()?, self.written_at, late_after_ms).then_some(mark)
    }
}

/// What one batch of stream records came to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArrivalsReport {
    pub records: usize,
    pub late: usize,
}

/// Marks the late ones among `arrivals`. An error fails the batch, which
/// the event source retries (a mark is idempotent).
pub async fn record_arrivals(
    store: &Store,
    arrivals: &[Arrival],
    late_after_ms: i64,
) -> Result<ArrivalsReport, StoreError> {
    let mut report = ArrivalsReport {
        records: arrivals.len(),
        late: 0,
    };
    for mark in arrivals.iter().filter_map(|a| a.late_mark(late_after_ms)) {
        store.put_late_mark(&mark).await?;
        tracing::warn!(org = %mark.org, event = %mark.id, rts = %mark.rts, written_at = %mark.written_at, "an event was written late; marked for settling");
        report.late += 1;
    }
    tracing::info!(
        job = "arrivals",
        records = report.records,
        late = report.late,
        "arrivals checked"
    );
    Ok(report)
}

/// The arrivals function's handler: a DynamoDB stream batch (Lambda's
/// `Records` of `aws:dynamodb`). Inserts only (the event source's filter
/// sends only those; anything else is skipped here too).
pub async fn handle_stream_event(
    store: &Store,
    payload: Value,
    late_after_ms: i64,
) -> Result<Value, ExportEventError> {
    let event: StreamEvent = serde_json::from_value(payload).map_err(|e| {
        ExportEventError::UnknownTrigger(format!("not a DynamoDB stream batch: {e}"))
    })?;
    let text = |item: &serde_dynamo::Item, name: &str| match item.get(name) {
        Some(serde_dynamo::AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    };
    let arrivals: Vec<Arrival> = event
        .records
        .iter()
        .filter(|r| r.event_name == "INSERT")
        .filter_map(|r| {
            let image = &r.change.new_image;
            Some(Arrival {
                pk: text(image, "PK")?,
                sk: text(image, "SK")?,
                rts: text(image, "rts")?,
                written_at: Timestamp::from_millis(
                    r.change.approximate_creation_date_time.timestamp_millis(),
                )
                .ok()?,
            })
        })
        .collect();
    let report = record_arrivals(store, &arrivals, late_after_ms)
        .await
        .map_err(ExportEventError::Store)?;
    Ok(json!({ "records": report.records, "late": report.late }))
}

/// What one tick's settling did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LateReport {
    pub marks: usize,
    pub restamped: usize,
    pub redelivered: usize,
    pub errors: usize,
}

/// Settles up to `MAX_MARKS_PER_TICK` marks, oldest first, by `deadline`.
/// A mark is removed once settled; one that failed stays for the next tick.
pub async fn settle_late(app: &ExportApp, now: Timestamp, deadline: Instant) -> LateReport {
    let mut report = LateReport::default();
    let marks = match app.store.late_marks(MAX_MARKS_PER_TICK).await {
        Ok(marks) => marks,
        Err(e) => {
            tracing::error!(error = %e, "reading late-arrival marks failed");
            report.errors += 1;
            return report;
        }
    };
    for mark in marks {
        if Instant::now() >= deadline {
            break;
        }
        report.marks += 1;
        let settled = match settle_one(app, &mark, now).await {
            Ok(Some(Settle::Restamp)) => {
                report.restamped += 1;
                true
            }
            Ok(Some(Settle::Redeliver)) => {
                report.redelivered += 1;
                true
            }
            // Moved or deleted since: nothing left to do.
            Ok(None) => true,
            Err(e) => {
                tracing::error!(org = %mark.org, event = %mark.id, error = %e, "settling a late event failed; retrying next tick");
                report.errors += 1;
                false
            }
        };
        if settled {
            if let Err(e) = app.store.delete_late_mark(&mark).await {
                tracing::warn!(org = %mark.org, event = %mark.id, error = %e, "removing a settled mark failed");
            }
        }
    }
    if report.marks > 0 || report.errors > 0 {
        tracing::info!(
            job = "settle_late",
            marks = report.marks,
            restamped = report.restamped,
            redelivered = report.redelivered,
            errors = report.errors,
            "late arrivals settled"
        );
    }
    report
}

async fn settle_one(
    app: &ExportApp,
    mark: &LateMark,
    now: Timestamp,
) -> Result<Option<Settle>, String> {
    let Some(recorded_at) = mark.recorded_at() else {
        tracing::warn!(org = %mark.org, event = %mark.id, rts = %mark.rts, "a late mark whose rts is not a time; dropped");
        return Ok(None);
    };
    let (start, _) = period_containing(recorded_at, app.config.digest_period_ms.max(1));
    let store = &app.store;
    let e = |e: StoreError| e.to_string();
    let sealing = match store
        .manifest_lists(&mark.org, start, &mark.id)
        .await
        .map_err(e)?
    {
        Some(true) => Sealing::With,
        Some(false) => Sealing::Without,
        // Not sealed; an unfinished seal of its period may have hashed it.
        None => match store.sealing_progress(&mark.org).await.map_err(e)? {
            Some(p) if p.period_start == start && p.resume_after.as_str() >= mark.rts.as_str() => {
                if store
                    .parts_list(&mark.org, start, p.parts, &mark.id)
                    .await
                    .map_err(e)?
                {
                    Sealing::With
                } else {
                    Sealing::Without
                }
            }
            _ => Sealing::Open,
        },
    };
    let action = settle(sealing);
    match action {
        Settle::Restamp => {
            // Just past the tick's time: after every window this tick cut
            // (each ends at or before now), in the open period.
            let to = now.plus_millis(1);
            if !store
                .restamp_event(&mark.org, &mark.id, &mark.rts, to)
                .await
                .map_err(e)?
            {
                return Ok(None);
            }
            tracing::info!(org = %mark.org, event = %mark.id, from = %recorded_at, to = %to, "late event re-stamped");
        }
        Settle::Redeliver => {
            let window = ExportWindow {
                from: recorded_at.plus_millis(-1),
                to: recorded_at,
            };
            let destinations = store
                .list_destinations::<DestinationSpec>(&mark.org)
                .await
                .map_err(e)?;
            for d in destinations {
                let passed = d.cursor.is_some_and(|c| c >= recorded_at);
                let before = d.enabled_at.is_some_and(|at| at < recorded_at);
                if d.enabled && passed && before {
                    crate::replay_to(app, &d, window, now).await?;
                }
            }
            tracing::info!(org = %mark.org, event = %mark.id, at = %recorded_at, "late event already sealed; re-delivered");
        }
    }
    Ok(Some(action))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(rts: &str, written_at: i64) -> Arrival {
        Arrival {
            pk: "ORG#org_1".into(),
            sk: "EVT#evt_1".into(),
            rts: rts.into(),
            written_at: Timestamp::from_millis(written_at).unwrap(),
        }
    }

    #[test]
    fn an_insert_written_long_after_its_stamp_gets_a_mark() {
        let mark = arrival("1764756000000#evt_1", 1_764_756_600_000)
            .late_mark(15_000)
            .expect("ten minutes late");
        assert_eq!((mark.org.as_str(), mark.id.as_str()), ("org_1", "evt_1"));
        assert_eq!(mark.rts, "1764756000000#evt_1");
    }

    #[test]
    fn an_insert_on_time_or_not_an_event_gets_none() {
        assert_eq!(
            arrival("1764756000000#evt_1", 1_764_756_005_000).late_mark(15_000),
            None
        );
        let not_event = Arrival {
            sk: "SOMETHING#else".into(),
            ..arrival("1764756000000#evt_1", 1_764_756_600_000)
        };
        assert_eq!(not_event.late_mark(15_000), None);
        assert_eq!(
            arrival("garbage", 1_764_756_600_000).late_mark(15_000),
            None
        );
    }
}
