//! Signed checkpoints: C2SP `tlog-checkpoint` bodies in C2SP `signed-note`
//! envelopes, Ed25519 only.
//!
//! ```text
//! <origin>\n            e.g. audit-log.example.com/acme (deployment/org)
//! <tree size>\n         decimal, no leading zeros
//! <base64 root hash>\n  std base64 of the 32-byte RFC 6962 root
//! \n
//! — <key name> <base64(key hash ‖ signature)>\n
//! ```
//!
//! The key name is the origin; the key hash is the first 4 bytes of
//! SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key) (signed-note's
//! Ed25519 key ID) and the signature is Ed25519 over the note text (the
//! three lines, final newline included). Signature lines of other keys are
//! ignored, as the spec says.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use super::merkle::Hash;
use super::signing::{KeyRing, PublicKey, Signer};
use crate::ids::OrgId;

/// Default deployment name in checkpoint origins (`AUDIT_LOG_ORIGIN`).
pub const DEFAULT_DEPLOYMENT: &str = "audit-log.local";

/// The deployment part of origins from `AUDIT_LOG_ORIGIN`, or the default.
pub fn deployment_from_env() -> String {
    std::env::var("AUDIT_LOG_ORIGIN")
        .ok()
        .filter(|s| !s.is_empty() && !s.contains(char::is_whitespace) && !s.contains('+'))
        .unwrap_or_else(|| DEFAULT_DEPLOYMENT.to_string())
}

/// `<deployment>/<org>`: the origin line of an org's checkpoints.
pub fn origin(deployment: &str, org: &OrgId) -> String {
    format!("{deployment}/{org}")
}

/// A checkpoint's body: which log, how many leaves, which root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

/// Why a note is not a checkpoint signed by the expected key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("not a signed note (no blank line before the signatures)")]
    Malformed,
    #[error("the checkpoint body is malformed: {0}")]
    BadBody(&'static str),
    #[error("no signature by the key {0}")]
    NotSigned(String),
    #[error("the signature by {0} does not verify")]
    BadSignature(String),
    #[error("the origin is {found}, expected {expected}")]
    WrongOrigin { found: String, expected: String },
}

/// signed-note's 4-byte Ed25519 key hash.
pub fn key_hash(name: &str, key: &PublicKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0x0a, 0x01]);
    h.update(key.to_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// The verifier key string of signed-note (`name+hexkeyhash+base64(0x01‖key)`).
pub fn verifier_key(name: &str, key: &PublicKey) -> String {
    let mut raw = vec![0x01];
    raw.extend_from_slice(&key.to_bytes());
    format!(
        "{name}+{}+{}",
        hex::encode(key_hash(name, key)),
        B64.encode(raw)
    )
}

impl Checkpoint {
    /// The note text: origin, size and root, each line ending in `\n`.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// The signed note: body, a blank line, the signature line.
    pub fn sign(&self, signer: &Signer) -> String {
        let body = self.body();
        let public = signer.public_key();
        let mut blob = key_hash(&self.origin, &public).to_vec();
        blob.extend_from_slice(&signer.sign_bytes(body.as_bytes()));
        format!("{body}\n\u{2014} {} {}\n", self.origin, B64.encode(blob))
    }

    /// Parses a body (the note text).
    pub fn parse_body(text: &str) -> Result<Self, NoteError> {
        let mut lines = text.split_terminator('\n');
        let origin = lines.next().filter(|o| !o.is_empty());
        let size = lines.next();
        let root = lines.next();
        let (Some(origin), Some(size), Some(root)) = (origin, size, root) else {
            return Err(NoteError::BadBody("fewer than three lines"));
        };
        if !text.ends_with('\n') {
            return Err(NoteError::BadBody("no final newline"));
        }
        if size.is_empty() || (size.len() > 1 && size.starts_with('0')) {
            return Err(NoteError::BadBody("tree size"));
        }
        let size = size
            .parse::<u64>()
            .map_err(|_| NoteError::BadBody("tree size"))?;
        let root: Hash = B64
            .decode(root)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(NoteError::BadBody("root hash is not 32 bytes of base64"))?;
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
        })
    }

    /// Opens a signed note: the checkpoint, when `key` (named by the
    /// note's origin) signed it.
    pub fn open(note: &str, key: &PublicKey) -> Result<Self, NoteError> {
        let split = note.rfind("\n\n").ok_or(NoteError::Malformed)?;
        let (text, sigs) = (&note[..=split], &note[split + 2..]);
        let checkpoint = Self::parse_body(text)?;
        let name = checkpoint.origin.as_str();
        let want = key_hash(name, key);
        let mut seen = false;
        for line in sigs.split_terminator('\n') {
            let Some(rest) = line.strip_prefix("\u{2014} ") else {
                return Err(NoteError::Malformed);
            };
            let Some((who, b64)) = rest.split_once(' ') else {
                return Err(NoteError::Malformed);
            };
            let Ok(blob) = B64.decode(b64) else {
                return Err(NoteError::Malformed);
            };
            if who != name || blob.len() != 68 || blob[..4] != want {
                continue;
            }
            seen = true;
            let sig: [u8; 64] = blob[4..].try_into().map_err(|_| NoteError::Malformed)?;
            if key.verify_bytes(text.as_bytes(), &sig) {
                return Ok(checkpoint);
            }
        }
        if seen {
            Err(NoteError::BadSignature(name.to_string()))
        } else {
            Err(NoteError::NotSigned(name.to_string()))
        }
    }

    /// Opens `note` with whichever key of `keys` signed it; the error is
    /// the last key's when none did.
    pub fn open_any(note: &str, keys: &KeyRing) -> Result<Self, NoteError> {
        let mut last = NoteError::NotSigned("(none pinned)".into());
        for id in keys.key_ids() {
            let Some(key) = keys.get(id) else { continue };
            match Self::open(note, key) {
                Ok(c) => return Ok(c),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// `open`, and the origin must be `expected`.
    pub fn open_for(note: &str, key: &PublicKey, expected: &str) -> Result<Self, NoteError> {
        let c = Self::open(note, key)?;
        if c.origin != expected {
            return Err(NoteError::WrongOrigin {
                found: c.origin,
                expected: expected.to_string(),
            });
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            origin: "audit.example.com/acme".into(),
            size: 257,
            root: [7; 32],
        }
    }

    #[test]
    fn a_signed_checkpoint_opens_with_its_key() {
        let s = Signer::from_seed([1; 32]);
        let note = checkpoint().sign(&s);
        assert!(note.starts_with("audit.example.com/acme\n257\nBwcH"));
        assert!(note.contains("\n\n\u{2014} audit.example.com/acme "));
        assert_eq!(Checkpoint::open(&note, &s.public_key()), Ok(checkpoint()));
    }

    #[test]
    fn another_key_or_an_edited_body_is_refused() {
        let s = Signer::from_seed([1; 32]);
        let note = checkpoint().sign(&s);
        let other = Signer::from_seed([2; 32]).public_key();
        assert!(matches!(
            Checkpoint::open(&note, &other),
            Err(NoteError::NotSigned(_))
        ));
        let edited = note.replacen("\n257\n", "\n256\n", 1);
        assert!(matches!(
            Checkpoint::open(&edited, &s.public_key()),
            Err(NoteError::BadSignature(_))
        ));
        assert!(matches!(
            Checkpoint::open_for(&note, &s.public_key(), "audit.example.com/evil"),
            Err(NoteError::WrongOrigin { .. })
        ));
    }

    #[test]
    fn malformed_bodies_are_named() {
        for bad in [
            "o\n\n",
            "o\n01\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n",
            "o\nx\nBwcH\n",
            "o\n1\nBwcH\n",
        ] {
            assert!(Checkpoint::parse_body(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_key_hash_is_signed_note_s() {
        // signed-note: SHA-256(name ‖ "\n" ‖ 0x01 ‖ key)[:4].
        let key = Signer::from_seed([3; 32]).public_key();
        let mut input = b"example.com/log\n\x01".to_vec();
        input.extend_from_slice(&key.to_bytes());
        let want = &Sha256::digest(&input)[..4];
        assert_eq!(key_hash("example.com/log", &key), want);
        assert!(verifier_key("example.com/log", &key)
            .starts_with(&format!("example.com/log+{}+A", hex::encode(want))));
    }
}
