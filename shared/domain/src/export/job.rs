//! The export job: one message on the export queue naming a window of
//! `recorded_at` for one destination. Jobs name windows, not payloads, so a
//! retry or a redrive days later reads and delivers the same events.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::OrgId;
use crate::time::Timestamp;

/// The half-open window `(from, to]` on `recorded_at`. Consecutive windows
/// cut from one cursor tile time with no gap and no overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExportWindow {
    pub from: Timestamp,
    pub to: Timestamp,
}

impl ExportWindow {
    /// Whether an event recorded at `recorded_at` belongs to this window.
    pub fn contains(&self, recorded_at: Timestamp) -> bool {
        self.from < recorded_at && recorded_at <= self.to
    }
}

impl fmt::Display for ExportWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {}]", self.from, self.to)
    }
}

/// One export queue message (a JSON body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportJob {
    pub destination_id: String,
    pub org_id: OrgId,
    pub window: ExportWindow,
    /// 1 for the first delivery attempt.
    pub attempt: u32,
    /// When delivery of this job was first tried: the retry deadline counts
    /// from here.
    pub first_attempt_at: Timestamp,
    /// Continuation key for a window too large for one invocation: the
    /// follow-up job starts after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_after: Option<String>,
    /// An admin-requested past window, the only way events from before
    /// `enabled_at` are ever sent.
    #[serde(default)]
    pub replay: bool,
    /// Which part of the window this job delivers: 0, then 1, 2, … for the
    /// follow-up jobs of a window too large for one invocation.
    #[serde(default)]
    pub part: u32,
    /// Set on the copy put on the DLQ: the key of the org's own record of
    /// it (`ExportJob::dead_key`), which whoever redrives it first (the
    /// org's admin, or an operator) takes, so it is sent again once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_key: Option<String>,
}

impl ExportJob {
    /// The first attempt at a freshly cut window.
    pub fn new(
        destination_id: impl Into<String>,
        org_id: OrgId,
        window: ExportWindow,
        now: Timestamp,
    ) -> Self {
        ExportJob {
            destination_id: destination_id.into(),
            org_id,
            window,
            attempt: 1,
            first_attempt_at: now,
            resume_after: None,
            replay: false,
            part: 0,
            dead_key: None,
        }
    }

    /// The key of this job's dead-letter record: one per window part (and
    /// replay or not), so a part that dies again replaces its record.
    pub fn dead_key(&self) -> String {
        format!(
            "{}#{}#{:05}#{}",
            self.window.from.sort_key(),
            self.window.to.sort_key(),
            self.part,
            if self.replay { "replay" } else { "window" }
        )
    }

    /// The same job after a transient failure; the deadline keeps counting.
    pub fn retried(&self) -> Self {
        ExportJob {
            attempt: self.attempt.saturating_add(1),
            ..self.clone()
        }
    }

    /// The follow-up job for the rest of a window, after progress up to
    /// `resume_after`. Progress restarts the retry clock.
    pub fn continued(&self, resume_after: String, now: Timestamp) -> Self {
        ExportJob {
            attempt: 1,
            first_attempt_at: now,
            resume_after: Some(resume_after),
            part: self.part.saturating_add(1),
            ..self.clone()
        }
    }

    /// The job as a redrive from the DLQ puts it back: a fresh retry budget,
    /// same window, same continuation point, no longer dead.
    pub fn redriven(&self, now: Timestamp) -> Self {
        ExportJob {
            attempt: 1,
            first_attempt_at: now,
            dead_key: None,
            ..self.clone()
        }
    }
}

/// The next window to export after `cursor`, ending `lag_ms` before `now`
/// (late writers settle first) and at most `max_window_ms` long. `None` when
/// there is nothing new to cut.
pub fn cut_window(
    cursor: Timestamp,
    now: Timestamp,
    lag_ms: i64,
    max_window_ms: i64,
) -> Option<ExportWindow> {
    let settled = now.plus_millis(-lag_ms.max(0));
    let capped = cursor.plus_millis(max_window_ms.max(0));
    let to = settled.min(capped);
    (to > cursor).then_some(ExportWindow { from: cursor, to })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    const MINUTE: i64 = 60_000;

    #[test]
    fn window_ends_lag_before_now() {
        let w = cut_window(
            at("2026-11-28T09:00:00Z"),
            at("2026-11-28T09:05:00Z"),
            MINUTE,
            60 * MINUTE,
        )
        .unwrap();
        assert_eq!(w.from, at("2026-11-28T09:00:00Z"));
        assert_eq!(w.to, at("2026-11-28T09:04:00Z"));
    }

    #[test]
    fn window_is_capped_at_max_length() {
        let w = cut_window(
            at("2026-11-28T00:00:00Z"),
            at("2026-11-28T12:00:00Z"),
            MINUTE,
            15 * MINUTE,
        )
        .unwrap();
        assert_eq!(w.to, at("2026-11-28T00:15:00Z"));
    }

    #[test]
    fn nothing_is_cut_when_cursor_has_caught_up_with_the_lag() {
        let cursor = at("2026-11-28T09:04:00Z");
        assert_eq!(
            cut_window(cursor, at("2026-11-28T09:05:00Z"), MINUTE, MINUTE),
            None
        );
        assert_eq!(
            cut_window(cursor, at("2026-11-28T09:04:30Z"), MINUTE, MINUTE),
            None
        );
    }

    #[test]
    fn successive_windows_tile_time_without_gap_or_overlap() {
        let mut cursor = at("2026-11-28T00:00:00Z");
        let now = at("2026-11-28T01:00:00Z");
        let mut windows = Vec::new();
        while let Some(w) = cut_window(cursor, now, MINUTE, 7 * MINUTE) {
            windows.push(w);
            cursor = w.to;
        }
        assert_eq!(windows.len(), 9);
        assert!(windows.windows(2).all(|p| p[0].to == p[1].from));
        assert_eq!(cursor, at("2026-11-28T00:59:00Z"));
    }

    #[test]
    fn window_excludes_its_start_and_includes_its_end() {
        let w = ExportWindow {
            from: at("2026-11-28T09:00:00Z"),
            to: at("2026-11-28T09:01:00Z"),
        };
        assert!(!w.contains(w.from));
        assert!(w.contains(w.from.plus_millis(1)));
        assert!(w.contains(w.to));
        assert!(!w.contains(w.to.plus_millis(1)));
    }

    #[test]
    fn job_round_trips_as_json_with_rfc3339_times() {
        let job = ExportJob::new(
            "dst_1",
            OrgId::parse("org_1").unwrap(),
            ExportWindow {
                from: at("2026-11-28T09:00:00Z"),
                to: at("2026-11-28T09:01:00Z"),
            },
            at("2026-11-28T09:02:00Z"),
        );
        let body = serde_json::to_value(&job).unwrap();
        assert_eq!(body["window"]["from"], "2026-11-28T09:00:00.000Z");
        assert_eq!(body["first_attempt_at"], "2026-11-28T09:02:00.000Z");
        assert_eq!(serde_json::from_value::<ExportJob>(body).unwrap(), job);
    }

    #[test]
    fn each_window_part_has_its_own_dead_key() {
        let job = ExportJob::new(
            "dst_1",
            OrgId::parse("org_1").unwrap(),
            ExportWindow {
                from: at("2026-11-28T09:00:00Z"),
                to: at("2026-11-28T09:01:00Z"),
            },
            at("2026-11-28T09:02:00Z"),
        );
        let next = job.continued("evt_500".into(), at("2026-11-28T09:03:00Z"));
        let replay = ExportJob {
            replay: true,
            ..job.clone()
        };
        assert_ne!(job.dead_key(), next.dead_key());
        assert_ne!(job.dead_key(), replay.dead_key());
        assert_eq!(
            job.retried().dead_key(),
            job.dead_key(),
            "the same part again"
        );
    }

    #[test]
    fn job_without_resume_or_replay_fields_still_parses() {
        let job: ExportJob = serde_json::from_value(json!({
            "destination_id": "dst_1",
            "org_id": "org_1",
            "window": {"from": "2026-11-28T09:00:00Z", "to": "2026-11-28T09:01:00Z"},
            "attempt": 3,
            "first_attempt_at": "2026-11-28T09:02:00Z"
        }))
        .unwrap();
        assert_eq!(job.resume_after, None);
        assert!(!job.replay);
    }

    #[test]
    fn retry_keeps_the_deadline_clock_but_redrive_and_continuation_reset_it() {
        let start = at("2026-11-28T09:02:00Z");
        let later = at("2026-11-28T10:00:00Z");
        let job = ExportJob::new(
            "dst_1",
            OrgId::parse("org_1").unwrap(),
            ExportWindow {
                from: at("2026-11-28T09:00:00Z"),
                to: at("2026-11-28T09:01:00Z"),
            },
            start,
        );
        let retried = job.retried().retried();
        assert_eq!((retried.attempt, retried.first_attempt_at), (3, start));
        let redriven = retried.redriven(later);
        assert_eq!((redriven.attempt, redriven.first_attempt_at), (1, later));
        let dead = ExportJob {
            dead_key: Some(job.dead_key()),
            ..retried.clone()
        };
        assert_eq!(
            dead.redriven(later).dead_key,
            None,
            "a redriven job is alive"
        );
        let next = job.continued("evt_500".into(), later);
        assert_eq!(next.resume_after.as_deref(), Some("evt_500"));
        assert_eq!((next.window, next.first_attempt_at), (job.window, later));
    }
}
