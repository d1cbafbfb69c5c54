//! What a destination's answer means for the job: delivered, worth another
//! try, or never going to work. Each destination classifies its own answers
//! (see `splunk`, `datadog`); S3 and webhooks use the generic HTTP rules here.
//! Timeouts and connection errors never reach a status code: callers report
//! them as `Transient`.

/// How one delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Retry with backoff until the deadline.
    Transient(String),
    /// Straight to the DLQ; the reason goes on the destination's status.
    Permanent(String),
}

impl Outcome {
    pub fn is_delivered(&self) -> bool {
        matches!(self, Outcome::Delivered)
    }
}

/// Generic HTTP rules: 2xx delivered; 408, 429 and 5xx other than 501
/// transient; 501 and every other status permanent.
pub fn classify_http(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered,
        408 | 429 => Outcome::Transient(format!("HTTP {status}")),
        501 => Outcome::Permanent(format!("HTTP {status}")),
        500..=599 => Outcome::Transient(format!("HTTP {status}")),
        _ => Outcome::Permanent(format!("HTTP {status}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_transient(o: Outcome) -> bool {
        matches!(o, Outcome::Transient(_))
    }

    fn is_permanent(o: Outcome) -> bool {
        matches!(o, Outcome::Permanent(_))
    }

    #[test]
    fn any_2xx_is_delivered() {
        for status in [200, 201, 202, 204] {
            assert_eq!(classify_http(status), Outcome::Delivered);
        }
    }

    #[test]
    fn timeouts_throttling_and_server_errors_are_retried() {
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(is_transient(classify_http(status)), "{status}");
        }
    }

    #[test]
    fn client_errors_and_501_are_not_retried() {
        for status in [400, 401, 403, 404, 412, 413, 501, 301] {
            assert!(is_permanent(classify_http(status)), "{status}");
        }
    }

    #[test]
    fn reason_names_the_status() {
        assert_eq!(
            classify_http(403),
            Outcome::Permanent("HTTP 403".to_owned())
        );
    }
}
