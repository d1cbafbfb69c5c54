//! `auditctl orgs set` as a process against the local stack: it changes only
//! the flags given, so turning teams on never resets an org's retention,
//! and an org that never set one follows `AUDIT_DEFAULT_RETENTION_DAYS`.

use std::process::Command;

use audit_domain::ids::OrgId;
use audit_domain::retention::RetentionDays;

fn auditctl(tables: &(String, String), envs: &[(&str, &str)], args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_auditctl"))
        .args(args)
        .env("AUDIT_EVENTS_TABLE", &tables.0)
        .env("AUDIT_CONTROL_TABLE", &tables.1)
        .envs(envs.iter().copied())
        .output()
        .expect("run auditctl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Tables of this test's own, created through the library like `init`.
async fn tables() -> ((String, String), audit_aws::store::Store) {
    assert!(
        std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok(),
        "AWS_ENDPOINT_URL_DYNAMODB is not set: run with scripts/stack.sh with-stack"
    );
    let run = unique();
    let names = (format!("o-{run}-events"), format!("o-{run}-control"));
    let config = audit_aws::aws_config().await;
    let store = audit_aws::store::Store::new(
        aws_sdk_dynamodb::Client::new(&config),
        audit_aws::store::Tables {
            events: names.0.clone(),
            control: names.1.clone(),
        },
    );
    store.ensure_tables().await.expect("create tables");
    (names, store)
}

fn unique() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}", std::process::id())
}

fn org(label: &str) -> OrgId {
    OrgId::parse(format!("{label}-{}", unique())).expect("org id")
}

#[tokio::test]
async fn turning_teams_on_keeps_a_ten_year_retention() {
    let (t, store) = tables().await;
    let o = org("tenyears");
    let (ok, err) = auditctl(
        &t,
        &[],
        &[
            "orgs",
            "set",
            "--org",
            o.as_str(),
            "--retention-days",
            "3650",
        ],
    );
    assert!(ok, "{err}");
    let (ok, err) = auditctl(
        &t,
        &[],
        &["orgs", "set", "--org", o.as_str(), "--uses-teams", "true"],
    );
    assert!(ok, "{err}");
    assert!(err.contains("retention_days=3650"), "{err}");
    let settings = store.org_settings(&o).await.expect("read");
    assert!(settings.uses_teams);
    assert_eq!(settings.retention_days.get(), 3650);
}

#[tokio::test]
async fn an_org_never_given_a_retention_follows_the_deployment_default() {
    let (t, store) = tables().await;
    let o = org("default");
    let (ok, err) = auditctl(
        &t,
        &[("AUDIT_DEFAULT_RETENTION_DAYS", "90")],
        &["orgs", "set", "--org", o.as_str(), "--uses-teams", "false"],
    );
    assert!(ok, "{err}");
    assert!(err.contains("retention_days=90"), "{err}");
    // No retention was stored: read with another default, the org follows it.
    let later = store.with_default_retention(RetentionDays::new(400).expect("days"));
    assert_eq!(
        later
            .org_settings(&o)
            .await
            .expect("read")
            .retention_days
            .get(),
        400
    );
}

#[tokio::test]
async fn bad_flags_are_refused_naming_the_flag() {
    let (t, _) = tables().await;
    let o = org("bad");
    let (ok, err) = auditctl(&t, &[], &["orgs", "set", "--org", o.as_str()]);
    assert!(!ok);
    assert!(err.contains("--uses-teams or --retention-days"), "{err}");
    let (ok, err) = auditctl(
        &t,
        &[],
        &["orgs", "set", "--org", o.as_str(), "--retention-days", "0"],
    );
    assert!(!ok);
    assert!(
        err.contains("--retention-days must be from 1 to 3650"),
        "{err}"
    );
    let (ok, err) = auditctl(
        &t,
        &[("AUDIT_DEFAULT_RETENTION_DAYS", "forever")],
        &["orgs", "set", "--org", o.as_str(), "--uses-teams", "true"],
    );
    assert!(!ok, "an invalid default fails rather than guessing");
    assert!(err.contains("AUDIT_DEFAULT_RETENTION_DAYS"), "{err}");
}
