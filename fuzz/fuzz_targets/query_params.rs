//! `GET /v1/events` query strings: decoded as the query function decodes
//! them (application/x-www-form-urlencoded), then parsed into a search,
//! including the `q` syntax. Also `q` on its own, without the parameter's
//! length and control-character checks. Nothing may panic; what parses must
//! plan, and have a stable fingerprint for its cursors.
#![no_main]

use audit_domain::ids::OrgId;
use audit_domain::query::ActivityQuery;
use audit_domain::query::search::Search;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(data)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let parsed = ActivityQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    match parsed {
        Ok(q) => {
            let fingerprint = q.fingerprint();
            let again = ActivityQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .expect("parsing is deterministic");
            assert_eq!(again.fingerprint(), fingerprint);
            if let (Some(from), Some(to)) = (q.from, q.to) {
                assert!(from < to, "an accepted range is never empty");
            }
            assert!((1..=200).contains(&q.limit.get()));
            let org = OrgId::parse("org_fuzz").expect("org");
            let _ = audit_aws::store::plan::plan(&org, &q);
        }
        // The error names a parameter as sent (even an empty name, `?=x`), or
        // `q` / `from` for what only the combination makes wrong.
        Err(e) => assert!(
            e.field == "q" || e.field == "from" || pairs.iter().any(|(k, _)| *k == e.field),
            "error names {:?}, not a parameter of {pairs:?}",
            e.field
        ),
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = Search::parse(text) {
            assert!(
                e.position <= text.chars().count(),
                "position {} past the end of {text:?}",
                e.position
            );
        }
    }
});
