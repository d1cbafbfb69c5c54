//! The export lag the scheduler reports (and the `ExportLagAlarm` watches):
//! no value at all when the destinations cannot be listed, never a 0 that
//! looks healthy. How the lag follows delivery (pending jobs, last success)
//! is `Destination::delivery_lag_secs`, tested in the domain crate.

use audit_aws::store::{Store, Tables};
use audit_domain::time::Timestamp;
use audit_log_tests::Stack;

#[tokio::test]
async fn a_failed_destination_listing_reports_no_lag_rather_than_zero() {
    let s = Stack::start_isolated().await;
    let mut app = s.exporter(export::ExportConfig::default()).await;
    let healthy = export::schedule(&app, Timestamp::now()).await;
    assert_eq!(
        healthy.max_lag_secs,
        Some(0),
        "no destinations: nothing is behind"
    );

    // Tables that do not exist: the listing fails.
    let sdk = audit_aws::aws_config().await;
    app.store = Store::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        Tables {
            events: "missing-events".into(),
            control: "missing-control".into(),
        },
    );
    let failed = export::schedule(&app, Timestamp::now()).await;
    assert_eq!(failed.errors, 1, "{failed:?}");
    assert_eq!(failed.max_lag_secs, None, "{failed:?}");
}
