//! The one retry policy all destinations share: exponential backoff between
//! attempts, and a deadline after which a failing job goes to the DLQ.

use crate::time::Timestamp;

use super::outcome::Outcome;

/// How long a job may keep failing before it goes to the DLQ.
pub const DEFAULT_DEADLINE_SECS: u32 = 30 * 60;

/// SQS refuses a visibility timeout longer than 12 hours.
pub const MAX_VISIBILITY_SECS: u32 = 12 * 60 * 60;

/// Seconds to wait after failed attempt number `attempt` (1-based):
/// `base, 2·base, 4·base, …`, capped at `max_secs`. No jitter: jobs of one
/// destination are few and already spread by their windows.
pub fn backoff_delay(attempt: u32, base_secs: u32, max_secs: u32) -> u32 {
    let doublings = attempt.saturating_sub(1).min(31);
    base_secs.saturating_mul(1_u32 << doublings).min(max_secs)
}

/// Whether a job first tried at `first_attempt_at` has been failing for
/// `deadline_secs` or longer.
pub fn past_deadline(first_attempt_at: Timestamp, now: Timestamp, deadline_secs: u32) -> bool {
    now.millis() - first_attempt_at.millis() >= i64::from(deadline_secs) * 1000
}

/// What the worker does with a job after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Delete the message.
    Done,
    /// Make the message visible again after this many seconds.
    RetryAfter(u32),
    /// Send to the DLQ, recording why on the destination's status.
    DeadLetter(String),
}

/// Backoff and deadline settings; tests shrink them to seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base_secs: u32,
    pub max_secs: u32,
    pub deadline_secs: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base_secs: 10,
            max_secs: 5 * 60,
            deadline_secs: DEFAULT_DEADLINE_SECS,
        }
    }
}

impl RetryPolicy {
    /// Decides the fate of a job whose attempt number `attempt` (first tried at
    /// `first_attempt_at`) ended in `outcome`.
    pub fn decide(
        &self,
        outcome: &Outcome,
        attempt: u32,
        first_attempt_at: Timestamp,
        now: Timestamp,
    ) -> Disposition {
        match outcome {
            Outcome::Delivered => Disposition::Done,
            Outcome::Permanent(reason) => Disposition::DeadLetter(reason.clone()),
            Outcome::Transient(reason)
                if past_deadline(first_attempt_at, now, self.deadline_secs) =>
            {
                Disposition::DeadLetter(format!(
                    "still failing after {} s: {reason}",
                    self.deadline_secs
                ))
            }
            Outcome::Transient(_) => Disposition::RetryAfter(
                backoff_delay(attempt, self.base_secs, self.max_secs).min(MAX_VISIBILITY_SECS),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::at;

    #[test]
    fn backoff_doubles_from_the_base() {
        let delays: Vec<u32> = (1..=5).map(|n| backoff_delay(n, 10, 1_000)).collect();
        assert_eq!(delays, [10, 20, 40, 80, 160]);
    }

    #[test]
    fn backoff_is_capped_and_never_overflows() {
        assert_eq!(backoff_delay(7, 10, 300), 300);
        assert_eq!(backoff_delay(u32::MAX, u32::MAX, 300), 300);
        assert_eq!(backoff_delay(0, 10, 300), 10);
    }

    #[test]
    fn deadline_is_reached_after_thirty_minutes_of_failing() {
        let first = at("2026-11-28T09:00:00Z");
        assert!(!past_deadline(
            first,
            at("2026-11-28T09:29:59.999Z"),
            DEFAULT_DEADLINE_SECS
        ));
        assert!(past_deadline(
            first,
            at("2026-11-28T09:30:00Z"),
            DEFAULT_DEADLINE_SECS
        ));
    }

    #[test]
    fn transient_failure_within_the_deadline_is_retried_with_backoff() {
        let policy = RetryPolicy::default();
        let first = at("2026-11-28T09:00:00Z");
        let outcome = Outcome::Transient("HTTP 503".into());
        assert_eq!(
            policy.decide(&outcome, 3, first, at("2026-11-28T09:01:00Z")),
            Disposition::RetryAfter(40)
        );
    }

    #[test]
    fn transient_failure_past_the_deadline_goes_to_the_dlq() {
        let policy = RetryPolicy::default();
        let first = at("2026-11-28T09:00:00Z");
        let outcome = Outcome::Transient("HTTP 503".into());
        let d = policy.decide(&outcome, 12, first, at("2026-11-28T09:31:00Z"));
        assert!(matches!(d, Disposition::DeadLetter(r) if r.contains("HTTP 503")));
    }

    #[test]
    fn permanent_failure_goes_to_the_dlq_at_once() {
        let policy = RetryPolicy::default();
        let first = at("2026-11-28T09:00:00Z");
        let outcome = Outcome::Permanent("HTTP 401".into());
        assert_eq!(
            policy.decide(&outcome, 1, first, first),
            Disposition::DeadLetter("HTTP 401".into())
        );
    }
}
