//! S3 objects: one gzip JSON-lines object per window (or per part of a
//! large window) under a deterministic key, so a retried or replayed window
//! writes the same key and `If-None-Match: *` turns the second write into a
//! no-op.

use std::io::{self, Write};

use flate2::{Compression, GzBuilder};

use audit_domain::ids::OrgId;
use audit_domain::time::Timestamp;

use crate::format::Record;
use audit_domain::export::job::ExportWindow;

/// `<prefix>/org=<org>/dt=YYYY-MM-DD/<start>_<end>_<n>.jsonl.gz`, with times
/// as compact UTC (`20261128T090000.000Z`: no ':' to escape) and the date of
/// the window's start. `n` numbers the parts of one window from 0.
pub fn object_key(prefix: &str, org: &OrgId, window: &ExportWindow, n: u32) -> String {
    let prefix = prefix.trim_matches('/');
    let key = format!(
        "org={org}/dt={date}/{start}_{end}_{n}.jsonl.gz",
        date = window.from.date(),
        start = compact(window.from),
        end = compact(window.to),
    );
    if prefix.is_empty() {
        key
    } else {
        format!("{prefix}/{key}")
    }
}

fn compact(t: Timestamp) -> String {
    t.to_datetime().format("%Y%m%dT%H%M%S%.3fZ").to_string()
}

/// The records as gzip JSON lines, byte-for-byte the same for the same
/// records: the gzip header carries no time, name or OS.
pub fn gzip_jsonl(records: &[Record]) -> io::Result<Vec<u8>> {
    let mut gz = GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), Compression::default());
    for record in records {
        serde_json::to_writer(&mut gz, &record.body)?;
        gz.write_all(b"\n")?;
    }
    gz.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Format;
    use audit_domain::fixtures::{at, many_events};
    use flate2::read::GzDecoder;
    use serde_json::Value;
    use std::io::{BufRead, BufReader};

    fn window() -> ExportWindow {
        ExportWindow {
            from: at("2026-11-28T09:00:00Z"),
            to: at("2026-11-28T09:01:00.250Z"),
        }
    }

    fn org() -> OrgId {
        OrgId::parse("org_acme").unwrap()
    }

    #[test]
    fn key_has_org_date_and_compact_window_times() {
        assert_eq!(
            object_key("audit", &org(), &window(), 0),
            "audit/org=org_acme/dt=2026-11-28/20261128T090000.000Z_20261128T090100.250Z_0.jsonl.gz"
        );
    }

    #[test]
    fn empty_prefix_gives_no_leading_slash() {
        let key = object_key("", &org(), &window(), 2);
        assert!(key.starts_with("org=org_acme/dt=2026-11-28/"), "{key}");
        assert!(key.ends_with("_2.jsonl.gz"));
        assert_eq!(object_key("/", &org(), &window(), 2), key);
    }

    #[test]
    fn prefix_slashes_are_not_doubled() {
        let key = object_key("/logs/audit/", &org(), &window(), 0);
        assert!(key.starts_with("logs/audit/org=org_acme/"), "{key}");
    }

    #[test]
    fn window_times_in_the_key_have_no_colons() {
        let key = object_key("p", &org(), &window(), 0);
        assert!(!key.contains(':'), "{key}");
    }

    #[test]
    fn date_comes_from_the_window_start() {
        let w = ExportWindow {
            from: at("2026-11-28T23:59:00Z"),
            to: at("2026-11-29T00:00:30Z"),
        };
        assert!(object_key("", &org(), &w, 0).starts_with("org=org_acme/dt=2026-11-28/"));
    }

    #[test]
    fn same_window_gets_the_same_key() {
        assert_eq!(
            object_key("p", &org(), &window(), 1),
            object_key("p", &org(), &window(), 1)
        );
    }

    #[test]
    fn gzip_jsonl_reads_back_one_record_per_line() {
        let records = Record::encode_all(&many_events(3), Format::Json);
        let gz = gzip_jsonl(&records).unwrap();
        let lines: Vec<Value> = BufReader::new(GzDecoder::new(&gz[..]))
            .lines()
            .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
            .collect();
        let bodies: Vec<Value> = records.iter().map(Record::body_value).collect();
        assert_eq!(lines, bodies);
    }

    #[test]
    fn gzip_output_is_deterministic_with_a_zero_mtime() {
        let records = Record::encode_all(&many_events(5), Format::Ocsf);
        let a = gzip_jsonl(&records).unwrap();
        assert_eq!(a, gzip_jsonl(&records).unwrap());
        assert_eq!(&a[..2], &[0x1f, 0x8b]);
        assert_eq!(&a[4..8], &[0, 0, 0, 0]);
    }
}
