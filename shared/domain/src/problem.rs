//! RFC 9457 problem details: the one error shape every endpoint returns.

use serde::Serialize;

use crate::auth::Denied;

/// One problem with one field, e.g. `actor.email`: "must be at most 320 characters".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

pub const CONTENT_TYPE: &str = "application/problem+json";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl Problem {
    pub fn new(status: u16, slug: &str, title: &str, detail: impl Into<String>) -> Self {
        Problem {
            kind: format!("https://auditlog.dev/problems/{slug}"),
            title: title.to_string(),
            status,
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    /// A 400 naming every offending field; `detail` leads with the first.
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [] => "The request is invalid.".to_string(),
            [e] => format!("{} {}", e.field, e.reason),
            [e, rest @ ..] => format!("{} {} (and {} more)", e.field, e.reason, rest.len()),
        };
        Problem {
            errors,
            ..Problem::new(400, "invalid-request", "Invalid request", detail)
        }
    }

    pub fn field(field: &str, reason: &str) -> Self {
        Self::invalid(vec![FieldError::new(field, reason)])
    }

    pub fn too_large(limit: usize) -> Self {
        Problem {
            errors: vec![FieldError::new(
                "body",
                format!("must be at most {limit} bytes"),
            )],
            ..Problem::new(
                413,
                "body-too-large",
                "Request body too large",
                format!("The body must be at most {limit} bytes."),
            )
        }
    }

    pub fn unauthorized(detail: &str) -> Self {
        Problem::new(401, "unauthorized", "Unauthorized", detail)
    }

    pub fn forbidden(detail: &str) -> Self {
        Problem::new(403, "forbidden", "Forbidden", detail)
    }

    pub fn not_found(detail: &str) -> Self {
        Problem::new(404, "not-found", "Not found", detail)
    }

    pub fn conflict(detail: &str) -> Self {
        Problem::new(409, "conflict", "Conflict", detail)
    }

    pub fn method_not_allowed() -> Self {
        Problem::new(
            405,
            "method-not-allowed",
            "Method not allowed",
            "This route does not accept that method.",
        )
    }

    /// Internal errors say nothing about the internals; the log line does.
    pub fn internal() -> Self {
        Problem::new(
            500,
            "internal",
            "Internal error",
            "Something went wrong on our side; the request can be retried.",
        )
    }

    pub fn unavailable() -> Self {
        Problem::new(
            503,
            "unavailable",
            "Service unavailable",
            "A dependency is unavailable; retry with backoff.",
        )
    }

    /// The store is over this org's capacity for now; retry after a pause.
    pub fn throttled() -> Self {
        Problem::new(
            429,
            "throttled",
            "Too many requests",
            "Your organization is writing or reading faster than the store accepts; retry after the seconds in Retry-After.",
        )
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

impl From<&Denied> for Problem {
    fn from(e: &Denied) -> Self {
        Problem::forbidden(&e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_problem_names_the_field() {
        let p = Problem::invalid(vec![FieldError::new(
            "actor.email",
            "must be an email address",
        )]);
        assert_eq!(p.status, 400);
        assert_eq!(p.detail, "actor.email must be an email address");
        let json: serde_json::Value = serde_json::from_str(&p.to_json()).unwrap();
        assert_eq!(json["errors"][0]["field"], "actor.email");
        assert_eq!(
            json["type"],
            "https://auditlog.dev/problems/invalid-request"
        );
    }

    #[test]
    fn several_errors_are_counted_in_detail() {
        let p = Problem::invalid(vec![FieldError::new("a", "x"), FieldError::new("b", "y")]);
        assert_eq!(p.detail, "a x (and 1 more)");
    }
}
