//! Late arrivals: an event whose write landed so long after its
//! `recorded_at` was stamped that the export windows covering that instant
//! may already have been cut, or its period sealed, without it.
//!
//! The events table's stream shows every write, whatever any index shows.
//! Its consumer marks each write that landed more than half the export
//! lag after its stamp; the scheduler settles the marks
//! after sealing, one instance at a time, so it never races the sealer:
//! an event in no sealed manifest is re-stamped to the tick's time (its
//! original `recorded_at` kept in the item), so every destination's next
//! window delivers it and the open period seals it; one that a manifest
//! already holds is re-delivered as a one-millisecond replay to the
//! destinations whose cursor had passed it.

use crate::time::Timestamp;

/// How long after its stamp a write is late, for an export lag of
/// `lag_ms`: half of it. A window is cut at least the lag after the
/// instants it covers, so a write landing within half of it was visible
/// with time to spare; ingest writes within its 10 s timeout, inside half
/// the lag's 30 s floor, so no ordinary write is late.
pub fn late_after_ms(lag_ms: i64) -> i64 {
    lag_ms.max(0) / 2
}

/// Whether an event stamped at `recorded_at` and written at `written_at`
/// (the stream's approximate creation time) landed more than
/// `late_after_ms` after its stamp.
pub fn is_late(recorded_at: Timestamp, written_at: Timestamp, late_after_ms: i64) -> bool {
    written_at.millis() - recorded_at.millis() > late_after_ms
}

/// Where the sealer stands for the late event's period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sealing {
    /// Not sealed, and no part of it hashed yet that holds the event.
    Open,
    /// Sealed (or partly hashed) without the event.
    Without,
    /// The period's manifest (or a hashed part of it) holds the event.
    With,
}

/// What settling a late event does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Move its `recorded_at` to now: delivered by the next windows,
    /// sealed in the open period, and no sealed digest changes.
    Restamp,
    /// A digest holds it where it is: leave it, and replay its instant to
    /// the destinations whose cursor passed it.
    Redeliver,
}

/// The one rule: an event a digest holds never moves.
pub fn settle(sealing: Sealing) -> Settle {
    match sealing {
        Sealing::Open | Sealing::Without => Settle::Restamp,
        Sealing::With => Settle::Redeliver,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn a_write_within_the_ingest_timeout_is_on_time_at_the_lag_floor() {
        let after = late_after_ms(30_000);
        assert_eq!(after, 15_000);
        let stamp = at("2026-12-03T10:00:00.500Z");
        assert!(!is_late(stamp, at("2026-12-03T10:00:10Z"), after));
        assert!(!is_late(stamp, stamp.plus_millis(after), after));
        assert!(is_late(stamp, stamp.plus_millis(after + 1), after));
        assert!(is_late(stamp, at("2026-12-03T11:00:00Z"), after));
    }

    #[test]
    fn a_write_before_its_stamp_is_on_time() {
        // Clocks differ a little between Lambda and DynamoDB.
        let stamp = at("2026-12-03T10:00:05Z");
        assert!(!is_late(stamp, at("2026-12-03T10:00:04Z"), 0));
        assert_eq!(late_after_ms(-5), 0);
    }

    #[test]
    fn only_an_event_no_digest_holds_is_moved() {
        assert_eq!(settle(Sealing::Open), Settle::Restamp);
        assert_eq!(settle(Sealing::Without), Settle::Restamp);
        assert_eq!(settle(Sealing::With), Settle::Redeliver);
    }
}
