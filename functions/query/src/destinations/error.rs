//! Why a destination use case did not happen, and the one place each reason
//! becomes the API's answer.

use audit_aws::queue::QueueError;
use audit_aws::secrets::SecretsError;
use audit_aws::store::StoreError;
use audit_domain::problem::{FieldError, Problem};
use audit_http::ApiError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum DestinationError {
    /// No such destination in the caller's org (another org's is not found
    /// either).
    #[error("no destination with that id in the organization")]
    NotFound,
    /// The body is not a JSON object (or too large): the problem to answer.
    #[error("unreadable body: {}", .0.detail)]
    Body(Problem),
    /// The change names fields that are not valid, each with its reason.
    #[error("{} invalid field(s)", .0.len())]
    Invalid(Vec<FieldError>),
    /// Another change landed since the destination was read.
    #[error("the destination was changed or deleted meanwhile")]
    Conflict,
    /// The stored spec did not serialize back into a JSON object.
    #[error("the stored destination spec is not a JSON object")]
    Unreadable,
    /// This deployment has no export queue to replay into.
    #[error("no export queue is configured")]
    NoExportQueue,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

impl From<DestinationError> for ApiError {
    fn from(e: DestinationError) -> Self {
        match e {
            DestinationError::NotFound => {
                ApiError::not_found("No destination with that id in your organization.")
            }
            DestinationError::Body(problem) => problem.into(),
            DestinationError::Invalid(errors) => errors.into(),
            DestinationError::Conflict => ApiError::conflict(
                "The destination was changed or deleted meanwhile; read it again and retry.",
            ),
            DestinationError::NoExportQueue => ApiError::unavailable(),
            DestinationError::Store(e) => e.into(),
            DestinationError::Secrets(e) => e.into(),
            DestinationError::Queue(e) => {
                tracing::error!(error = %e, "export queue request failed");
                ApiError::unavailable()
            }
            e @ DestinationError::Unreadable => {
                tracing::error!(error = %e, "destination request failed");
                ApiError::internal()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(e: DestinationError) -> u16 {
        ApiError::from(e).status().as_u16()
    }

    #[test]
    fn each_reason_has_its_status() {
        assert_eq!(status(DestinationError::NotFound), 404);
        assert_eq!(
            status(DestinationError::Body(Problem::field(
                "body",
                "must be a JSON object"
            ))),
            400
        );
        assert_eq!(status(DestinationError::Body(Problem::too_large(1))), 413);
        assert_eq!(
            status(DestinationError::Invalid(vec![FieldError::new(
                "name",
                "is required"
            )])),
            400
        );
        assert_eq!(status(DestinationError::Conflict), 409);
        assert_eq!(status(DestinationError::Unreadable), 500);
        assert_eq!(status(DestinationError::NoExportQueue), 503);
        let store = StoreError::Invalid("x".into());
        assert_eq!(status(DestinationError::Store(store)), 503);
        let secrets = SecretsError::NotFound { name: "n".into() };
        assert_eq!(status(DestinationError::Secrets(secrets)), 503);
        let queue = QueueError::Malformed("m".into());
        assert_eq!(status(DestinationError::Queue(queue)), 503);
    }

    #[test]
    fn an_invalid_change_names_every_field_and_not_found_says_so() {
        let e = ApiError::from(DestinationError::Invalid(vec![
            FieldError::new("settings.url", "must be https"),
            FieldError::new("secret", "is required"),
        ]));
        let fields: Vec<&str> = e
            .problem()
            .errors
            .iter()
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(fields, ["settings.url", "secret"]);
        let missing = ApiError::from(DestinationError::NotFound);
        assert_eq!(
            missing.problem().detail,
            "No destination with that id in your organization."
        );
    }
}
