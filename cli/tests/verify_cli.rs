//! `auditctl verify` as a process: argument errors exit non-zero with a
//! message naming the flag (the checks themselves are tested against the
//! local stack in the tests crate, through the same library function).

use std::process::Command;

fn auditctl(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_auditctl"))
        .args(args)
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("run auditctl");
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

#[test]
fn a_witness_over_the_api_needs_the_key_in_the_environment() {
    let key = audit_domain::integrity::Signer::from_seed([1; 32])
        .public_key()
        .to_base64();
    let out = Command::new(env!("CARGO_BIN_EXE_auditctl"))
        .args(["witness", "--url", "http://127.0.0.1:9", "--state"])
        .arg(std::env::temp_dir().join("auditctl-witness-no-key.json"))
        .args(["--public-key", &key])
        .env("AWS_REGION", "us-east-1")
        .env_remove("AUDIT_API_KEY")
        .output()
        .expect("run auditctl");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("AUDIT_API_KEY"), "{stderr}");
}
