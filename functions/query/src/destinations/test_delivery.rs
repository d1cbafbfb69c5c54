//! `POST /v1/destinations/{id}/test`: one synthetic event sent now, and what
//! the destination answered. A failure also goes on the destination's status.

use audit_aws::secrets::SecretsError;
use audit_destinations::deliver::Delivery;
use audit_destinations::Destination;
use audit_domain::export::Outcome;
use audit_domain::time::Timestamp;
use serde::Serialize;

use super::DestinationError;
use crate::App;

/// What the test delivery found, as the API shows it (fields in the order
/// the answer has always had them: by name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(super) struct TestReport {
    pub delivered: bool,
    pub detail: String,
    /// `delivered`, `transient` or `permanent`.
    pub outcome: &'static str,
    pub requests: u32,
}

/// Sends the test event with the destination's secret. A missing secret is
/// a permanent outcome (the admin must set one), not an error.
pub(super) async fn test(app: &App, d: &Destination) -> Result<TestReport, DestinationError> {
    let org = &d.org_id;
    let kind = d.spec.settings.kind();
    let secret = match &d.secret_ref {
        None => None,
        Some(name) => match app.secrets.get(name).await {
            Ok(value) => Some(value),
            Err(e @ (SecretsError::NotFound { .. } | SecretsError::Deleted { .. })) => {
                tracing::error!(error = %e, org = %org, destination_id = %d.id, kind, "destination secret missing");
                let outcome = Outcome::Permanent(
                    "the destination's secret is missing: set a new one (PATCH secret)".into(),
                );
                let delivery = Delivery::new(outcome, 0, 0);
                return Ok(report(app, d, delivery, None).await);
            }
            Err(e) => return Err(e.into()),
        },
    };
    let delivery = app.deliverer.send_test(d, secret.as_deref(), org).await;
    Ok(report(app, d, delivery, secret.as_deref()).await)
}

async fn report(
    app: &App,
    d: &Destination,
    delivery: Delivery,
    secret: Option<&str>,
) -> TestReport {
    let (outcome, detail) = match delivery.outcome {
        Outcome::Delivered => (
            "delivered",
            "the destination accepted the test event".to_string(),
        ),
        Outcome::Transient(reason) => ("transient", reason),
        Outcome::Permanent(reason) => ("permanent", reason),
    };
    // The deliverer already keeps secrets out of reasons; this is the last guard.
    let detail = match secret {
        Some(s) if !s.is_empty() && detail.contains(s) => detail.replace(s, "[redacted]"),
        _ => detail,
    };
    let delivered = outcome == "delivered";
    if !delivered {
        let reason = format!("test delivery: {detail}");
        if let Err(e) = app
            .store
            .record_failure(&d.org_id, &d.id, &reason, Timestamp::now())
            .await
        {
            tracing::error!(error = %e, org = %d.org_id, destination_id = %d.id, "recording the test failure failed");
        }
    }
    tracing::info!(
        org = %d.org_id,
        destination_id = %d.id,
        kind = d.spec.settings.kind(),
        outcome,
        requests = delivery.requests,
        "destination test"
    );
    TestReport {
        delivered,
        detail,
        outcome,
        requests: delivery.requests,
    }
}
