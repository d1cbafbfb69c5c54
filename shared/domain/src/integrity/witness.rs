//! A witness of an org's log, in the manner of a C2SP `tlog-witness`: it
//! keeps the last checkpoint it accepted and accepts a new one only when a
//! pinned key signed it, it names the same log, and a consistency proof
//! shows its tree extends the one seen before. A smaller tree is a rollback,
//! the same size with another root (or a proof that fails) a fork; both are
//! refused and the state is kept, so the refusal repeats until someone looks.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::checkpoint::{Checkpoint, NoteError};
use super::merkle::{verify_consistency, Hash, ProofError};
use super::signing::KeyRing;

/// What the witness remembers between runs (its state file, JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessState {
    pub origin: String,
    pub tree_size: u64,
    /// The root hash, base64 as in the checkpoint.
    pub root: String,
    /// The signed note itself, so the evidence of what was seen is kept.
    pub checkpoint: String,
}

/// Why a checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the checkpoint is not signed by a pinned key: {0}")]
    Signature(NoteError),
    #[error("the checkpoint is of log {found}, the witness follows {expected}")]
    OtherLog { found: String, expected: String },
    #[error("rollback: the log shrank from {seen} to {now} events")]
    Rollback { seen: u64, now: u64 },
    #[error("fork: a different tree of the same size {size}")]
    Fork { size: u64 },
    #[error("fork: the tree of {now} does not extend the tree of {seen} seen before ({why})")]
    NotExtended {
        seen: u64,
        now: u64,
        why: ProofError,
    },
    #[error("the state file's root is not 32 bytes of base64")]
    BadState,
}

/// What a witness run concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// No state yet: trusted on first use.
    First(WitnessState),
    /// The same checkpoint as before.
    Unchanged(WitnessState),
    /// Extends the state's tree, proven by the consistency proof.
    Extended { from: u64, state: WitnessState },
}

impl Accepted {
    pub fn state(&self) -> &WitnessState {
        match self {
            Accepted::First(s) | Accepted::Unchanged(s) | Accepted::Extended { state: s, .. } => s,
        }
    }
}

/// The sizes a consistency proof is needed between, if any: the witness
/// asks the log for it before calling [`witness`].
pub fn proof_needed(seen: Option<&WitnessState>, now: &Checkpoint) -> Option<(u64, u64)> {
    let seen = seen?;
    (seen.tree_size > 0 && now.size > seen.tree_size).then_some((seen.tree_size, now.size))
}

/// Decides on the new checkpoint `note` given what was `seen` before and
/// the consistency proof from `seen`'s size to the note's (empty when
/// [`proof_needed`] said none is).
pub fn witness(
    seen: Option<&WitnessState>,
    note: &str,
    keys: &KeyRing,
    consistency: &[Hash],
) -> Result<Accepted, Refusal> {
    let now = Checkpoint::open_any(note, keys).map_err(Refusal::Signature)?;
    let state = WitnessState {
        origin: now.origin.clone(),
        tree_size: now.size,
        root: B64.encode(now.root),
        checkpoint: note.to_string(),
    };
    let Some(seen) = seen else {
        return Ok(Accepted::First(state));
    };
    if seen.origin != now.origin {
        return Err(Refusal::OtherLog {
            found: now.origin,
            expected: seen.origin.clone(),
        });
    }
    let old_root: Hash = B64
        .decode(&seen.root)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(Refusal::BadState)?;
    if now.size < seen.tree_size {
        return Err(Refusal::Rollback {
            seen: seen.tree_size,
            now: now.size,
        });
    }
    if now.size == seen.tree_size {
        return if now.root == old_root {
            Ok(Accepted::Unchanged(state))
        } else {
            Err(Refusal::Fork { size: now.size })
        };
    }
    if seen.tree_size == 0 {
        // Every tree extends the empty one.
        return Ok(Accepted::Extended { from: 0, state });
    }
    verify_consistency(seen.tree_size, now.size, &old_root, &now.root, consistency).map_err(
        |why| Refusal::NotExtended {
            seen: seen.tree_size,
            now: now.size,
            why,
        },
    )?;
    Ok(Accepted::Extended {
        from: seen.tree_size,
        state,
    })
}

/// Checks a checkpoint `published` outside the store (the Object Lock
/// bucket, an S3 export) against the store's `latest` signed checkpoint, as
/// a witness that saw `published` would: it must open with a pinned key, and
/// the store's tree must be it or extend it (`consistency`: the proof from
/// its size to the latest's, empty when [`proof_needed`] says none is). A
/// store that lost its checkpoints, shrank or was rebuilt over other events
/// is refused, even when every digest in it verifies.
pub fn check_published(
    published: &str,
    latest: Option<&str>,
    keys: &KeyRing,
    consistency: &[Hash],
) -> Result<(), Refusal> {
    let seen = witness(None, published, keys, &[])?;
    let Some(latest) = latest else {
        return Err(Refusal::Rollback {
            seen: seen.state().tree_size,
            now: 0,
        });
    };
    witness(Some(seen.state()), latest, keys, consistency).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrity::merkle::{consistency_ranges, leaf_hash, root_of};
    use crate::integrity::signing::Signer;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    fn note(signer: &Signer, origin: &str, leaves: &[Hash]) -> String {
        Checkpoint {
            origin: origin.into(),
            size: leaves.len() as u64,
            root: root_of(leaves),
        }
        .sign(signer)
    }

    /// The consistency proof from `from` to `leaves.len()`, from the
    /// ranges the store serves.
    fn proof(from: u64, leaves: &[Hash]) -> Vec<Hash> {
        consistency_ranges(from, leaves.len() as u64)
            .into_iter()
            .map(|r| root_of(&leaves[r.start as usize..r.end as usize]))
            .collect()
    }

    fn setup() -> (Signer, KeyRing) {
        let signer = Signer::from_seed([7; 32]);
        let keys = KeyRing::new([signer.public_key()]);
        (signer, keys)
    }

    #[test]
    fn first_checkpoint_is_trusted_on_first_use() {
        let (signer, keys) = setup();
        let n = note(&signer, "log/o1", &leaves(5));
        let a = witness(None, &n, &keys, &[]).unwrap();
        assert!(matches!(a, Accepted::First(ref s) if s.tree_size == 5 && s.origin == "log/o1"));
    }

    #[test]
    fn an_extension_with_its_proof_is_accepted() {
        let (signer, keys) = setup();
        let all = leaves(300);
        let seen = witness(None, &note(&signer, "log/o1", &all[..7]), &keys, &[]).unwrap();
        let next = note(&signer, "log/o1", &all);
        let c = Checkpoint::open_any(&next, &keys).unwrap();
        assert_eq!(proof_needed(Some(seen.state()), &c), Some((7, 300)));
        let a = witness(Some(seen.state()), &next, &keys, &proof(7, &all)).unwrap();
        assert_eq!(a.state().tree_size, 300);
        assert!(matches!(a, Accepted::Extended { from: 7, .. }));
    }

    #[test]
    fn the_same_checkpoint_again_is_unchanged() {
        let (signer, keys) = setup();
        let n = note(&signer, "log/o1", &leaves(9));
        let seen = witness(None, &n, &keys, &[]).unwrap();
        let again = witness(Some(seen.state()), &n, &keys, &[]).unwrap();
        assert!(matches!(again, Accepted::Unchanged(_)));
    }

    #[test]
    fn a_smaller_tree_is_a_rollback() {
        let (signer, keys) = setup();
        let all = leaves(20);
        let seen = witness(None, &note(&signer, "log/o1", &all), &keys, &[]).unwrap();
        let back = note(&signer, "log/o1", &all[..10]);
        assert_eq!(
            witness(Some(seen.state()), &back, &keys, &[]),
            Err(Refusal::Rollback { seen: 20, now: 10 })
        );
    }

    #[test]
    fn another_root_of_the_same_size_is_a_fork() {
        let (signer, keys) = setup();
        let mut all = leaves(20);
        let seen = witness(None, &note(&signer, "log/o1", &all), &keys, &[]).unwrap();
        all[3] = leaf_hash(b"rewritten");
        let forked = note(&signer, "log/o1", &all);
        assert_eq!(
            witness(Some(seen.state()), &forked, &keys, &[]),
            Err(Refusal::Fork { size: 20 })
        );
    }

    #[test]
    fn a_rewritten_history_that_grew_is_a_fork() {
        let (signer, keys) = setup();
        let mut all = leaves(40);
        let seen = witness(None, &note(&signer, "log/o1", &all[..16]), &keys, &[]).unwrap();
        all[3] = leaf_hash(b"rewritten");
        let forked = note(&signer, "log/o1", &all);
        // The log serves a proof from its rewritten tree: it cannot match.
        let r = witness(Some(seen.state()), &forked, &keys, &proof(16, &all));
        assert!(
            matches!(
                r,
                Err(Refusal::NotExtended {
                    seen: 16,
                    now: 40,
                    ..
                })
            ),
            "{r:?}"
        );
        // Nor can no proof at all.
        assert!(witness(Some(seen.state()), &forked, &keys, &[]).is_err());
    }

    #[test]
    fn a_checkpoint_signed_by_an_unpinned_key_is_refused() {
        let (_, keys) = setup();
        let stranger = Signer::from_seed([9; 32]);
        let n = note(&stranger, "log/o1", &leaves(3));
        assert!(matches!(
            witness(None, &n, &keys, &[]),
            Err(Refusal::Signature(_))
        ));
    }

    #[test]
    fn a_state_whose_root_is_not_a_hash_is_refused() {
        let (signer, keys) = setup();
        let all = leaves(4);
        let seen = witness(None, &note(&signer, "log/o1", &all[..2]), &keys, &[]).unwrap();
        let mut state = seen.state().clone();
        state.root = "not base64!".into();
        let r = witness(Some(&state), &note(&signer, "log/o1", &all), &keys, &[]);
        assert_eq!(r, Err(Refusal::BadState));
    }

    #[test]
    fn another_logs_checkpoint_is_refused() {
        let (signer, keys) = setup();
        let all = leaves(4);
        let seen = witness(None, &note(&signer, "log/o1", &all), &keys, &[]).unwrap();
        let other = note(&signer, "log/o2", &all);
        assert!(matches!(
            witness(Some(seen.state()), &other, &keys, &[]),
            Err(Refusal::OtherLog { .. })
        ));
    }

    #[test]
    fn a_published_checkpoint_holds_when_the_store_extends_it() {
        let (signer, keys) = setup();
        let all = leaves(40);
        let published = note(&signer, "log/o1", &all[..12]);
        let latest = note(&signer, "log/o1", &all);
        assert_eq!(
            check_published(&published, Some(&latest), &keys, &proof(12, &all)),
            Ok(())
        );
        assert_eq!(check_published(&latest, Some(&latest), &keys, &[]), Ok(()));
    }

    #[test]
    fn a_published_checkpoint_refuses_a_store_that_lost_shrank_or_was_rebuilt() {
        let (signer, keys) = setup();
        let all = leaves(40);
        let published = note(&signer, "log/o1", &all[..12]);
        assert_eq!(
            check_published(&published, None, &keys, &[]),
            Err(Refusal::Rollback { seen: 12, now: 0 })
        );
        let shrunk = note(&signer, "log/o1", &all[..5]);
        assert_eq!(
            check_published(&published, Some(&shrunk), &keys, &[]),
            Err(Refusal::Rollback { seen: 12, now: 5 })
        );
        // Rebuilt with the real key over other events: one leaf changed.
        let mut edited = all.clone();
        edited[3] = leaf_hash(b"edited");
        let same_size = note(&signer, "log/o1", &edited[..12]);
        assert_eq!(
            check_published(&published, Some(&same_size), &keys, &[]),
            Err(Refusal::Fork { size: 12 })
        );
        let grown = note(&signer, "log/o1", &edited);
        assert!(matches!(
            check_published(&published, Some(&grown), &keys, &proof(12, &edited)),
            Err(Refusal::NotExtended {
                seen: 12,
                now: 40,
                ..
            })
        ));
    }

    #[test]
    fn a_published_checkpoint_must_be_signed_by_a_pinned_key() {
        let (signer, keys) = setup();
        let all = leaves(12);
        let forged = note(&Signer::from_seed([8; 32]), "log/o1", &all);
        let latest = note(&signer, "log/o1", &all);
        assert!(matches!(
            check_published(&forged, Some(&latest), &keys, &[]),
            Err(Refusal::Signature(_))
        ));
    }
}
