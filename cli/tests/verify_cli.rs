//! `auditctl verify` as a process: argument errors exit non-zero with a
//! message naming the flag (the checks themselves are tested against the
//! local stack in the tests crate, through the same library function).

use std::process::Command;

fn auditctl(args: &[&str]) -> (bool, String) {
    auditctl_with(args, None)
}

/// Runs auditctl with `AUDIT_API_KEY` set to `api_key` (or unset).
fn auditctl_with(args: &[&str], api_key: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_auditctl"));
    cmd.args(args).env("AWS_REGION", "us-east-1");
    match api_key {
        Some(k) => cmd.env("AUDIT_API_KEY", k),
        None => cmd.env_remove("AUDIT_API_KEY"),
    };
    let out = cmd.output().expect("run auditctl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn verify_needs_an_org_or_an_export() {
    let (ok, stderr) = auditctl(&["verify"]);
    assert!(!ok);
    assert!(stderr.contains("give --org ORG, or --s3"), "{stderr}");
}

#[test]
fn a_malformed_public_key_is_refused_before_anything_is_read() {
    let (ok, stderr) = auditctl(&["verify", "--org", "acme", "--public-key", "AAAA"]);
    assert!(!ok);
    assert!(stderr.contains("--public-key"), "{stderr}");
}

#[test]
fn an_s3_url_must_be_s3() {
    let (ok, stderr) = auditctl(&["verify", "--s3", "https://bucket/prefix"]);
    assert!(!ok);
    assert!(stderr.contains("s3://bucket/prefix"), "{stderr}");
}

#[test]
fn a_witness_pins_its_keys() {
    let (ok, stderr) = auditctl(&["witness", "--org", "acme", "--state", "/nonexistent/s"]);
    assert!(!ok);
    assert!(stderr.contains("--public-key"), "{stderr}");
}

fn pinned_key() -> String {
    audit_domain::integrity::Signer::from_seed([1; 32])
        .public_key()
        .to_base64()
}

fn temp_path(name: &str) -> String {
    std::env::temp_dir().join(name).display().to_string()
}

/// `auditctl witness --url URL` with a state file named `state` in the
/// temporary directory and the pinned key, `AUDIT_API_KEY` set to `api_key`.
fn witness_over_api(url: &str, state: &str, api_key: Option<&str>) -> (bool, String) {
    let state = temp_path(state);
    let key = pinned_key();
    let args = [
        "witness",
        "--url",
        url,
        "--state",
        &state,
        "--public-key",
        &key,
    ];
    auditctl_with(&args, api_key)
}

#[test]
fn a_witness_over_the_api_needs_the_key_in_the_environment() {
    let (ok, stderr) = witness_over_api("http://127.0.0.1:9", "auditctl-witness-no-key.json", None);
    assert!(!ok);
    assert!(stderr.contains("AUDIT_API_KEY"), "{stderr}");
}

#[test]
fn a_witness_url_must_be_http() {
    let (ok, stderr) = witness_over_api(
        "ftp://audit.example.com",
        "auditctl-witness-ftp.json",
        Some("ak_test"),
    );
    assert!(!ok);
    assert!(stderr.contains("--url must be an http(s) URL"), "{stderr}");
}

#[test]
fn a_corrupt_state_file_is_refused_before_anything_is_fetched() {
    std::fs::write(temp_path("auditctl-witness-corrupt.json"), "{not json").expect("write state");
    // Port 9 (discard) is never asked: the state is read first.
    let (ok, stderr) = witness_over_api(
        "http://127.0.0.1:9",
        "auditctl-witness-corrupt.json",
        Some("ak_test"),
    );
    assert!(!ok);
    assert!(
        stderr.contains("--state") && stderr.contains("not a witness state"),
        "{stderr}"
    );
}
