//! How long an org's events are kept: a number of days from
//! `limits::MIN_RETENTION_DAYS` to `limits::MAX_RETENTION_DAYS`. An event's
//! TTL (`expires_at`) is its `recorded_at` plus the org's retention *when it
//! was recorded*: changing an org's retention applies to events recorded
//! afterwards, never to those already stored.

use serde::{Deserialize, Serialize};

use crate::limits::{DEFAULT_RETENTION_DAYS, MAX_RETENTION_DAYS, MIN_RETENTION_DAYS};

/// The variable the template sets from its `DefaultRetentionDays` parameter:
/// the retention of an org that sets none.
pub const DEFAULT_RETENTION_ENV: &str = "AUDIT_DEFAULT_RETENTION_DAYS";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct RetentionDays(u32);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("retention must be from {min} to {max} days, got {got}", min = RetentionDays::MIN, max = RetentionDays::MAX)]
pub struct RetentionError {
    pub got: String,
}

impl RetentionDays {
    pub const MIN: u32 = MIN_RETENTION_DAYS;
    pub const MAX: u32 = MAX_RETENTION_DAYS;
    pub const DEFAULT: RetentionDays = RetentionDays(DEFAULT_RETENTION_DAYS);

    pub fn new(days: u32) -> Result<Self, RetentionError> {
        if (Self::MIN..=Self::MAX).contains(&days) {
            Ok(RetentionDays(days))
        } else {
            Err(RetentionError {
                got: days.to_string(),
            })
        }
    }

    pub fn parse(s: &str) -> Result<Self, RetentionError> {
        let err = || RetentionError {
            got: format!("{s:?}"),
        };
        Self::new(s.trim().parse().map_err(|_| err())?).map_err(|_| err())
    }

    /// The deployment's default: `AUDIT_DEFAULT_RETENTION_DAYS` when set (an
    /// invalid value is an error, so a bad deploy fails at start-up rather
    /// than keeping events for the wrong time), else 365.
    pub fn default_from_env() -> Result<Self, RetentionError> {
        match std::env::var(DEFAULT_RETENTION_ENV) {
            Ok(v) if !v.trim().is_empty() => Self::parse(&v),
            _ => Ok(Self::DEFAULT),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }

    /// Seconds after `recorded_at` at which an event expires.
    pub fn seconds(self) -> i64 {
        i64::from(self.0) * 86_400
    }
}

impl TryFrom<u32> for RetentionDays {
    type Error = RetentionError;
    fn try_from(days: u32) -> Result<Self, Self::Error> {
        Self::new(days)
    }
}

impl From<RetentionDays> for u32 {
    fn from(r: RetentionDays) -> u32 {
        r.0
    }
}

impl std::fmt::Display for RetentionDays {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_days_is_rejected() {
        assert!(RetentionDays::new(0).is_err());
    }

    #[test]
    fn more_than_ten_years_is_rejected() {
        assert!(RetentionDays::new(3651).is_err());
        assert_eq!(RetentionDays::new(3650).map(RetentionDays::get), Ok(3650));
    }

    #[test]
    fn text_that_is_not_a_number_is_rejected() {
        assert!(RetentionDays::parse("ten years").is_err());
        assert!(RetentionDays::parse("-1").is_err());
        assert_eq!(RetentionDays::parse(" 30 ").map(RetentionDays::get), Ok(30));
    }

    #[test]
    fn a_stored_value_out_of_range_does_not_deserialize() {
        assert!(serde_json::from_str::<RetentionDays>("0").is_err());
        assert_eq!(
            serde_json::from_str::<RetentionDays>("90").ok(),
            RetentionDays::new(90).ok()
        );
    }
}
