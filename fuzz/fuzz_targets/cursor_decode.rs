//! Page cursors as a caller sends them back: arbitrary strings must decode
//! to an error, never a panic, and never to a position without a valid
//! signature. And any position the service signs decodes to itself, only
//! for the org and filters it was issued for.
#![no_main]

use audit_domain::cursor::{CursorCodec, CursorError, CursorKey};
use audit_domain::ids::OrgId;
use audit_domain::query::ActivityQuery;
use libfuzzer_sys::fuzz_target;

/// The seeds in fuzz/seeds/cursor_decode are real cursors for `org_a` and
/// the unfiltered search, signed with this secret.
const SECRET: &[u8] = b"fuzz-cursor-secret";

fuzz_target!(|data: &[u8]| {
    let codec = CursorCodec::new(SECRET);
    let org = OrgId::parse("org_a").expect("org");
    let other = OrgId::parse("org_b").expect("org");
    let text = String::from_utf8_lossy(data);
    let unfiltered = ActivityQuery::parse([]).expect("empty query").fingerprint();
    let filtered = ActivityQuery::parse([("group", "users")])
        .expect("group query")
        .fingerprint();
    let fingerprint = unfiltered.as_str();

    // Arbitrary text as a cursor: libFuzzer cannot forge an HMAC, so anything
    // that decodes must be a cursor this codec signed (the seeds are real ones).
    if let Ok(key) = codec.decode(&org, fingerprint, &text) {
        assert_eq!(codec.encode(&org, fingerprint, &key).len(), text.len());
        assert_eq!(
            codec.decode(&other, fingerprint, &text),
            Err(CursorError::BadSignature)
        );
    }

    // Arbitrary positions, signed then decoded.
    let (ts, id) = text.split_once('\n').unwrap_or((&text, ""));
    let key = CursorKey {
        ts: ts.to_string(),
        id: id.to_string(),
    };
    let cursor = codec.encode(&org, fingerprint, &key);
    assert_eq!(codec.decode(&org, fingerprint, &cursor), Ok(key));
    assert_eq!(
        codec.decode(&other, fingerprint, &cursor),
        Err(CursorError::BadSignature)
    );
    assert_eq!(
        codec.decode(&org, &filtered, &cursor),
        Err(CursorError::BadSignature)
    );
});
