//! `Timestamp`: a UTC instant with millisecond precision. Parsed once from
//! RFC 3339; rendered as RFC 3339 with milliseconds and as the fixed-width
//! sort keys the indexes use.

use std::fmt;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// Why a timestamp was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error("must be an RFC 3339 timestamp such as 2026-11-28T09:30:00Z")]
    NotRfc3339,
    #[error("is out of the supported range")]
    OutOfRange,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(i64);

/// Width of the zero-padded millisecond field in sort keys (good until 2286).
const SORT_KEY_WIDTH: usize = 13;

impl Timestamp {
    pub fn now() -> Self {
        Self(Utc::now().timestamp_millis())
    }

    /// Parses RFC 3339 (any offset, converted to UTC); sub-millisecond
    /// precision is truncated.
    pub fn parse(s: &str) -> Result<Self, TimestampError> {
        let dt = DateTime::parse_from_rfc3339(s).map_err(|_| TimestampError::NotRfc3339)?;
        Self::from_millis(dt.timestamp_millis())
    }

    /// Accepts a full timestamp or a bare date (`2026-11-01`, taken as its UTC
    /// midnight), for query parameters.
    pub fn parse_lenient(s: &str) -> Result<Self, TimestampError> {
        if let Ok(date) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            let dt = date
                .and_hms_opt(0, 0, 0)
                .ok_or(TimestampError::OutOfRange)?;
            return Self::from_millis(Utc.from_utc_datetime(&dt).timestamp_millis());
        }
        Self::parse(s)
    }

    pub fn from_millis(ms: i64) -> Result<Self, TimestampError> {
        if !(0..=9_999_999_999_999).contains(&ms) {
            return Err(TimestampError::OutOfRange);
        }
        Ok(Self(ms))
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    pub fn epoch_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    pub fn plus_millis(self, ms: i64) -> Self {
        Self((self.0 + ms).clamp(0, 9_999_999_999_999))
    }

    /// Zero-padded millis: sorts lexicographically in time order.
    pub fn sort_key(self) -> String {
        format!("{:0width$}", self.0, width = SORT_KEY_WIDTH)
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.0)
            .single()
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
    }

    pub fn to_rfc3339(self) -> String {
        self.to_datetime()
            .to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    /// `YYYY-MM-DD` of the UTC day.
    pub fn date(self) -> String {
        self.to_datetime().format("%Y-%m-%d").to_string()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_converted_to_utc() {
        let a = Timestamp::parse("2026-11-28T10:00:00+02:00").unwrap();
        assert_eq!(a.to_rfc3339(), "2026-11-28T08:00:00.000Z");
    }

    #[test]
    fn date_without_time_is_rejected_by_strict_parse() {
        assert_eq!(
            Timestamp::parse("2026-11-28"),
            Err(TimestampError::NotRfc3339)
        );
        assert_eq!(
            Timestamp::parse_lenient("2026-11-28").unwrap().to_rfc3339(),
            "2026-11-28T00:00:00.000Z"
        );
    }

    #[test]
    fn garbage_is_rejected() {
        for bad in ["", "yesterday", "2026-13-01T00:00:00Z", "1700000000"] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sort_keys_order_like_time() {
        let early = Timestamp::from_millis(999).unwrap();
        let late = Timestamp::from_millis(1_764_000_000_000).unwrap();
        assert!(early.sort_key() < late.sort_key());
        assert_eq!(early.sort_key().len(), late.sort_key().len());
    }

    #[test]
    fn pre_epoch_is_out_of_range() {
        assert_eq!(
            Timestamp::parse("1969-12-31T23:59:59Z"),
            Err(TimestampError::OutOfRange)
        );
    }
}
