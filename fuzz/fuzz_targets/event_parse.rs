//! A producer's request body, as `POST /v1/events` sees it: split into one
//! event or a batch, each event validated; what passes is turned into a
//! stored event and rendered every way the service renders one (description,
//! search text, API view with its hash, CSV cells, NDJSON). Nothing may
//! panic, and no accepted input may break a description, a CSV cell or an
//! NDJSON line.
#![no_main]

use audit_domain::download::{csv_cells, csv_field, ndjson};
use audit_domain::event::Event;
use audit_domain::ids::OrgId;
use audit_domain::time::Timestamp;
use audit_domain::validate::{parse_event, parse_submission, Submission};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A fixed clock keeps runs reproducible (occurred_at is checked against it).
    let now = Timestamp::from_millis(1_795_000_000_000).expect("now");
    let events = match parse_submission(data) {
        Ok(Submission::One(v)) => vec![(v, String::new())],
        Ok(Submission::Batch(vs)) => vs
            .into_iter()
            .enumerate()
            .map(|(i, v)| (v, format!("events[{i}].")))
            .collect(),
        Err(e) => {
            assert!(!e.field.is_empty(), "an error names its field");
            return;
        }
    };
    let org = OrgId::parse("org_fuzz").expect("org");
    for (value, prefix) in events {
        match parse_event(&value, now, &prefix) {
            Ok(new) => {
                let event = Event::from_new(org.clone(), new, now);
                check_rendering(&event);
            }
            Err(errors) => {
                assert!(!errors.is_empty(), "a rejection carries its reasons");
                for e in &errors {
                    assert!(
                        e.field.starts_with(prefix.trim_end_matches('.')) || prefix.is_empty(),
                        "{} outside {prefix}",
                        e.field
                    );
                }
            }
        }
    }
});

fn check_rendering(event: &Event) {
    let description = event.description();
    assert!(
        !description.chars().any(char::is_control),
        "control character in description {description:?}"
    );
    let _ = event.search_text();
    let view = serde_json::to_value(event.view()).expect("view serializes");
    let hash = view["hash"].as_str().expect("hash");
    assert!(hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()));
    for cell in csv_cells(event) {
        let field = csv_field(&cell);
        assert!(
            !field.starts_with(['=', '+', '-', '@', '\t', '\r']),
            "formula not defused: {field:?}"
        );
    }
    let line = ndjson(std::slice::from_ref(event));
    assert_eq!(line.matches('\n').count(), 1, "one NDJSON line per event");
    let back: serde_json::Value = serde_json::from_str(line.trim_end()).expect("NDJSON parses");
    assert_eq!(back["id"], view["id"]);
}
