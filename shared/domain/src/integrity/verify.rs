//! Checking a chain of digests against the events that are there now, from
//! the store or from an export. Pure: the callers gather the evidence.

use std::collections::{HashMap, HashSet};
use std::fmt;

use super::digest::{check_digest, follows, manifest_matches, Digest, DigestFault, ManifestEntry};
use super::hash::events_hash;
use super::signing::KeyRing;
use crate::ids::EventId;
use crate::time::Timestamp;

/// An event as found now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub id: EventId,
    pub recorded_at: Timestamp,
    /// The hash recomputed from the event's fields.
    pub hash: String,
    /// The `hash` the record itself carries (exports), if any.
    pub claimed_hash: Option<String>,
}

/// One period's evidence: its digest, the manifest stored with it (if
/// any), and the events found in the period.
#[derive(Debug, Clone)]
pub struct PeriodEvidence {
    pub digest: Digest,
    pub manifest: Option<Vec<ManifestEntry>>,
    pub events: Vec<Observed>,
}

/// Something that broke, phrased for the person running `auditctl verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    EventModified {
        id: EventId,
    },
    EventsMissing {
        period: String,
        ids: Vec<EventId>,
        count: u64,
    },
    EventInserted {
        period: String,
        id: Option<EventId>,
    },
    EventsHashMismatch {
        period: String,
    },
    ManifestMismatch {
        period: String,
    },
    DigestModified {
        period: String,
    },
    BadSignature {
        period: String,
    },
    UnknownKey {
        period: String,
        key_id: String,
    },
    SignedAfterRetirement {
        period: String,
        key_id: String,
    },
    ChainBroken {
        period: String,
    },
    /// No digest covers part of the range a check was asked to cover.
    PeriodsMissing {
        after: Timestamp,
        until: Option<Timestamp>,
    },
    /// Events whose periods should have been sealed by `until` (closed for
    /// the lag and one period) are in no digest: sealing stalled, or the
    /// digests that held them were deleted.
    Unsealed {
        after: Option<Timestamp>,
        until: Timestamp,
        first: EventId,
    },
    /// A checkpoint published outside the store (`key`, in the Object Lock
    /// bucket or an S3 export) that the store's log does not contain.
    PublishedCheckpoint {
        key: String,
        why: String,
    },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::EventModified { id } => write!(f, "event {id} was modified (hash mismatch)"),
            Finding::EventsMissing { period, ids, count } => {
                let noun = if *count == 1 { "event" } else { "events" };
                write!(f, "period {period}: {count} {noun} missing (deleted?)")?;
                if !ids.is_empty() {
                    let ids: Vec<&str> = ids.iter().map(EventId::as_str).collect();
                    write!(f, ": {}", ids.join(", "))?;
                }
                Ok(())
            }
            Finding::EventInserted {
                period,
                id: Some(id),
            } => {
                write!(f, "period {period}: unexpected event {id} (inserted)")
            }
            Finding::EventInserted { period, id: None } => {
                write!(f, "period {period}: unexpected event (inserted)")
            }
            Finding::EventsHashMismatch { period } => write!(
                f,
                "period {period}: events do not match the signed events hash (reordered or altered)"
            ),
            Finding::ManifestMismatch { period } => write!(
                f,
                "period {period}: the stored manifest does not match its signed digest"
            ),
            Finding::DigestModified { period } => {
                write!(f, "digest {period} was modified (digest hash mismatch)")
            }
            Finding::BadSignature { period } => write!(f, "bad signature on digest {period}"),
            Finding::UnknownKey { period, key_id } => write!(
                f,
                "digest {period} is signed by unknown key {key_id} (not among the public keys given)"
            ),
            Finding::SignedAfterRetirement { period, key_id } => write!(
                f,
                "digest {period} is signed by key {key_id}, retired before the period ended (leaked key?)"
            ),
            Finding::ChainBroken { period } => write!(f, "digest chain broken at {period}"),
            Finding::PeriodsMissing { after, until } => {
                let until = until.map_or("…".to_string(), |t| t.to_string());
                write!(
                    f,
                    "no digest covers ({after}, {until}] (digest files deleted, or not sealed yet)"
                )
            }
            Finding::Unsealed {
                after,
                until,
                first,
            } => {
                match after {
                    Some(after) => write!(f, "events recorded after the last digest ({after})")?,
                    None => write!(f, "events, and no digest at all,")?,
                }
                write!(
                    f,
                    " should have been sealed by {until} but are in no digest (first: {first}): digests deleted, or sealing stalled"
                )
            }
            Finding::PublishedCheckpoint { key, why } => {
                write!(
                    f,
                    "published checkpoint {key}: {why}"
                )
            }
        }
    }
}

/// How the first digest given must link backwards.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // built once per check, never in bulk
pub enum Anchor {
    /// The first digest must be the org's genesis digest.
    Genesis,
    /// The first digest must follow this one.
    After(Digest),
    /// Accept whatever the first digest links to (an export that starts
    /// mid-chain).
    Any,
}

/// Checks every period (in order of `period_start`) and the chain between
/// them. An empty result means everything verified.
pub fn verify_chain(periods: &[PeriodEvidence], anchor: Anchor, keys: &KeyRing) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut previous: Option<&Digest> = None;
    for (i, p) in periods.iter().enumerate() {
        let d = &p.digest;
        let label = d.period();
        for fault in check_digest(d, keys) {
            findings.push(match fault {
                DigestFault::HashMismatch => Finding::DigestModified {
                    period: label.clone(),
                },
                DigestFault::BadSignature => Finding::BadSignature {
                    period: label.clone(),
                },
                DigestFault::UnknownKey => Finding::UnknownKey {
                    period: label.clone(),
                    key_id: d.key_id.clone(),
                },
                DigestFault::SignedAfterRetirement => Finding::SignedAfterRetirement {
                    period: label.clone(),
                    key_id: d.key_id.clone(),
                },
            });
        }
        let linked = match (i, &anchor) {
            (0, Anchor::Genesis) => follows(d, None),
            (0, Anchor::After(a)) => follows(d, Some(a)),
            (0, Anchor::Any) => true,
            _ => follows(d, previous),
        };
        if !linked {
            findings.push(Finding::ChainBroken {
                period: label.clone(),
            });
        }
        findings.extend(verify_period(p));
        previous = Some(d);
    }
    findings
}

/// The parts of `[from, to]` that no digest covers at either end, given the
/// digests (sorted by `period_start`) that overlap it; gaps between digests
/// are the chain's to find. With neither bound there is nothing to require.
pub fn coverage_gaps(
    digests: &[&Digest],
    from: Option<Timestamp>,
    to: Option<Timestamp>,
) -> Vec<Finding> {
    let (Some(first), Some(last)) = (digests.first(), digests.last()) else {
        return match (from, to) {
            (None, None) => Vec::new(),
            (Some(after), until) => vec![Finding::PeriodsMissing { after, until }],
            (None, Some(until)) => vec![Finding::PeriodsMissing {
                after: Timestamp::from_millis(0).unwrap_or(until),
                until: Some(until),
            }],
        };
    };
    let mut gaps = Vec::new();
    if let Some(from) = from.filter(|f| first.period_start > *f) {
        gaps.push(Finding::PeriodsMissing {
            after: from,
            until: Some(first.period_start),
        });
    }
    if let Some(to) = to.filter(|t| last.period_end < *t) {
        gaps.push(Finding::PeriodsMissing {
            after: last.period_end,
            until: Some(to),
        });
    }
    gaps
}

/// Compares one period's events with its digest (and manifest).
pub fn verify_period(p: &PeriodEvidence) -> Vec<Finding> {
    let d = &p.digest;
    let period = d.period();
    let mut findings = Vec::new();
    let mut events = p.events.clone();
    events.sort_by(|a, b| (a.recorded_at, &a.id).cmp(&(b.recorded_at, &b.id)));
    let mut modified: HashSet<&EventId> = HashSet::new();
    for e in &events {
        if e.claimed_hash.as_ref().is_some_and(|c| c != &e.hash) {
            modified.insert(&e.id);
        }
    }
    let manifest = p.manifest.as_ref().filter(|m| manifest_matches(d, m));
    if p.manifest.is_some() && manifest.is_none() {
        findings.push(Finding::ManifestMismatch {
            period: period.clone(),
        });
    }
    let mut individual = false;
    if let Some(manifest) = manifest {
        let expected: HashMap<&EventId, &str> =
            manifest.iter().map(|m| (&m.id, m.hash.as_str())).collect();
        let present: HashSet<&EventId> = events.iter().map(|e| &e.id).collect();
        for e in &events {
            match expected.get(&e.id) {
                None => {
                    individual = true;
                    findings.push(Finding::EventInserted {
                        period: period.clone(),
                        id: Some(e.id.clone()),
                    });
                }
                Some(h) if *h != e.hash => {
                    modified.insert(&e.id);
                }
                Some(_) => {}
            }
        }
        let missing: Vec<EventId> = manifest
            .iter()
            .filter(|m| !present.contains(&m.id))
            .map(|m| m.id.clone())
            .collect();
        if !missing.is_empty() {
            individual = true;
            findings.push(Finding::EventsMissing {
                period: period.clone(),
                count: missing.len() as u64,
                ids: missing,
            });
        }
    } else {
        let found = events.len() as u64;
        if found < d.event_count {
            individual = true;
            findings.push(Finding::EventsMissing {
                period: period.clone(),
                ids: Vec::new(),
                count: d.event_count - found,
            });
        }
        for _ in d.event_count..found {
            individual = true;
            findings.push(Finding::EventInserted {
                period: period.clone(),
                id: None,
            });
        }
    }
    let mut modified: Vec<&EventId> = modified.into_iter().collect();
    modified.sort();
    individual |= !modified.is_empty();
    for id in modified {
        findings.push(Finding::EventModified { id: id.clone() });
    }
    if !individual && events_hash(events.iter().map(|e| e.hash.as_str())) != d.events_hash {
        findings.push(Finding::EventsHashMismatch { period });
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::at;
    use crate::ids::OrgId;
    use crate::integrity::digest::{seal, Period};
    use crate::integrity::signing::Signer;

    fn ev(id: &str, ms: i64) -> Observed {
        Observed {
            id: EventId::parse(id).unwrap(),
            recorded_at: at("2026-11-28T09:00:00Z").plus_millis(ms),
            hash: super::super::hash::sha256_hex(id.as_bytes()),
            claimed_hash: None,
        }
    }

    fn evidence(events: &[Observed], previous: Option<&Digest>, hour: i64) -> PeriodEvidence {
        let org = OrgId::parse("acme").unwrap();
        let manifest: Vec<ManifestEntry> = events
            .iter()
            .map(|e| ManifestEntry {
                id: e.id.clone(),
                hash: e.hash.clone(),
            })
            .collect();
        let start = at("2026-11-28T09:00:00Z").plus_millis(hour * 3_600_000);
        let digest = seal(
            &Period {
                org_id: &org,
                start,
                end: start.plus_millis(3_600_000),
                manifest: &manifest,
            },
            previous,
            &Signer::from_seed([5; 32]),
        );
        PeriodEvidence {
            digest,
            manifest: Some(manifest),
            events: events.to_vec(),
        }
    }

    fn key() -> KeyRing {
        Signer::from_seed([5; 32]).public_key().into()
    }

    fn messages(f: Vec<Finding>) -> Vec<String> {
        f.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn coverage_gaps_name_the_uncovered_ends_of_the_range() {
        let a = evidence(&[], None, 1);
        let b = evidence(&[], Some(&a.digest), 2);
        let both = [&a.digest, &b.digest];
        let (nine, ten, twelve) = (
            at("2026-11-28T09:00:00Z"),
            at("2026-11-28T10:00:00Z"),
            at("2026-11-28T12:00:00Z"),
        );
        // Covered exactly, or asked for nothing: no gap.
        assert_eq!(coverage_gaps(&both, Some(ten), Some(twelve)), []);
        assert_eq!(coverage_gaps(&both, None, None), []);
        assert_eq!(coverage_gaps(&[], None, None), []);
        // The first hour is missing (a deleted first digest file) and so is
        // the last one (a deleted latest file).
        assert_eq!(
            messages(coverage_gaps(&[&a.digest], Some(nine), Some(twelve))),
            [
                "no digest covers (2026-11-28T09:00:00.000Z, 2026-11-28T10:00:00.000Z] (digest files deleted, or not sealed yet)",
                "no digest covers (2026-11-28T11:00:00.000Z, 2026-11-28T12:00:00.000Z] (digest files deleted, or not sealed yet)",
            ]
        );
        assert_eq!(
            messages(coverage_gaps(&[], Some(ten), None)),
            ["no digest covers (2026-11-28T10:00:00.000Z, …] (digest files deleted, or not sealed yet)"]
        );
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let a = evidence(&[ev("evt_1", 1), ev("evt_2", 2)], None, 0);
        let b = evidence(&[], Some(&a.digest), 1);
        assert_eq!(verify_chain(&[a, b], Anchor::Genesis, &key()), []);
    }

    #[test]
    fn each_tampering_is_named() {
        let mut p = evidence(&[ev("evt_1", 1), ev("evt_2", 2)], None, 0);
        let label = p.digest.period();
        p.events[0].hash = "f".repeat(64);
        p.events.remove(1);
        p.events.push(ev("evt_x", 3));
        assert_eq!(
            messages(verify_period(&p)),
            [
                format!("period {label}: unexpected event evt_x (inserted)"),
                format!("period {label}: 1 event missing (deleted?): evt_2"),
                "event evt_1 was modified (hash mismatch)".to_string(),
            ]
        );
    }

    #[test]
    fn without_a_manifest_counts_still_tell_deletion_from_insertion() {
        let mut p = evidence(&[ev("evt_1", 1), ev("evt_2", 2)], None, 0);
        p.manifest = None;
        let label = p.digest.period();
        let mut gone = p.clone();
        gone.events.pop();
        assert_eq!(
            messages(verify_period(&gone)),
            [format!("period {label}: 1 event missing (deleted?)")]
        );
        p.events.push(ev("evt_3", 3));
        assert_eq!(
            messages(verify_period(&p)),
            [format!("period {label}: unexpected event (inserted)")]
        );
    }

    #[test]
    fn a_record_whose_hash_field_disagrees_with_its_fields_was_modified() {
        let mut p = evidence(&[ev("evt_1", 1)], None, 0);
        p.events[0].claimed_hash = Some("0".repeat(64));
        assert_eq!(
            messages(verify_period(&p)),
            ["event evt_1 was modified (hash mismatch)"]
        );
    }

    #[test]
    fn broken_links_and_bad_signatures_are_named() {
        let a = evidence(&[ev("evt_1", 1)], None, 0);
        let mut b = evidence(&[], Some(&a.digest), 1);
        let label = b.digest.period();
        b.digest.signature = a.digest.signature.clone();
        let c = evidence(&[], None, 2);
        let c_label = c.digest.period();
        assert_eq!(
            messages(verify_chain(&[a, b, c], Anchor::Genesis, &key())),
            [
                format!("bad signature on digest {label}"),
                format!("digest chain broken at {c_label}"),
            ]
        );
    }

    #[test]
    fn an_edited_count_is_a_modified_digest() {
        let mut a = evidence(&[ev("evt_1", 1)], None, 0);
        let label = a.digest.period();
        a.digest.event_count = 2;
        let found = messages(verify_chain(&[a], Anchor::Genesis, &key()));
        assert_eq!(
            found[0],
            format!("digest {label} was modified (digest hash mismatch)")
        );
    }
}
