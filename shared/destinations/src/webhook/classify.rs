//! A webhook receiver's answer: only the status counts.

use audit_domain::export::outcome::{classify_http, Outcome};

/// Any 2xx is delivered; 408, 429 and 5xx (but 501) are retried; anything
/// else, a redirect included (redirects are not followed), needs an admin.
pub fn classify(status: u16) -> Outcome {
    classify_http(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_success_is_delivered() {
        for status in [200, 202, 204] {
            assert_eq!(classify(status), Outcome::Delivered, "{status}");
        }
    }

    #[test]
    fn throttling_and_server_errors_are_retried() {
        for status in [408, 429, 500, 503] {
            assert!(
                matches!(classify(status), Outcome::Transient(_)),
                "{status}"
            );
        }
    }

    #[test]
    fn redirects_refusals_and_not_implemented_are_not_retried() {
        for status in [307, 400, 401, 404, 501] {
            assert!(
                matches!(classify(status), Outcome::Permanent(_)),
                "{status}"
            );
        }
    }
}
