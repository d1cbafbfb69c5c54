//! The org's Merkle tree, RFC 6962 / RFC 9162 §2.1 hashing: leaves are the
//! events in recorded order, the leaf input is the event's `hash` as 32 raw
//! bytes, leaf = SHA-256(0x00 ‖ input), node = SHA-256(0x01 ‖ left ‖ right),
//! split at the largest power of two below n; the empty tree hashes to
//! SHA-256 of nothing.
//!
//! What is stored is Tessera's tile layout (`tiles`): full aligned subtrees
//! are found by (level, index) and every proof node is the hash of one such
//! subtree or a right-edge fold of several. Proof *construction* here only
//! names the subtrees it needs ([`inclusion_ranges`], [`consistency_ranges`],
//! [`subtrees_of`]); the store fetches their hashes. Verification follows
//! RFC 9162 §2.1.3.2 and §2.1.4.2.

use sha2::{Digest as _, Sha256};

/// A node or leaf hash.
pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of nothing.
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// SHA-256(0x00 ‖ input).
pub fn leaf_hash(input: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(input);
    h.finalize().into()
}

/// SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The leaf hash of an event from its hex `hash`; `None` when it is not 64
/// hex digits.
pub fn event_leaf(event_hash_hex: &str) -> Option<Hash> {
    Some(leaf_hash(&hash_from_hex(event_hash_hex)?))
}

/// 32 bytes from 64 hex digits (a proof's hashes, an event's `hash`).
pub fn hash_from_hex(hex_digits: &str) -> Option<Hash> {
    hex::decode(hex_digits).ok()?.try_into().ok()
}

/// A proof's path as the API writes it (hex strings); the error names the
/// `field` and the hash that is not 32 bytes of hex.
pub fn path_from_hex(field: &str, path: &[String]) -> Result<Vec<Hash>, String> {
    path.iter()
        .map(|h| hash_from_hex(h).ok_or_else(|| format!("{field}: {h} is not 32 bytes of hex")))
        .collect()
}

/// Largest power of two strictly below `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// A half-open range of leaves `[start, end)` whose MTH a proof carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub start: u64,
    pub end: u64,
}

/// A full, aligned subtree: leaves `[index·2^level, (index+1)·2^level)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Subtree {
    pub level: u32,
    pub index: u64,
}

/// The full aligned subtrees whose right fold is MTH of `range`, largest
/// (leftmost) first. A range produced by the proof recursions starts at a
/// multiple of a power of two at least its length, so the binary
/// decomposition of its length gives aligned subtrees.
pub fn subtrees_of(range: Range) -> Vec<Subtree> {
    let mut out = Vec::new();
    let mut start = range.start;
    while start < range.end {
        let rest = range.end - start;
        let mut level = 63 - rest.leading_zeros();
        // Alignment: never larger than the start's lowest set bit allows.
        if start != 0 {
            level = level.min(start.trailing_zeros());
        }
        out.push(Subtree {
            level,
            index: start >> level,
        });
        start += 1 << level;
    }
    out
}

/// MTH of a range from its subtrees' hashes (as `subtrees_of` ordered them).
pub fn fold_right(hashes: &[Hash]) -> Hash {
    let mut iter = hashes.iter().rev();
    let Some(last) = iter.next() else {
        return EMPTY_ROOT;
    };
    iter.fold(*last, |acc, h| node_hash(h, &acc))
}

/// RFC 9162 §2.1.3.1 PATH(m, D[n]): the ranges whose hashes form the
/// inclusion proof of leaf `index` in a tree of `size`, in proof order.
pub fn inclusion_ranges(index: u64, size: u64) -> Vec<Range> {
    let mut out = Vec::new();
    path(index, 0, size, &mut out);
    out
}

fn path(m: u64, start: u64, end: u64, out: &mut Vec<Range>) {
    let n = end - start;
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path(m, start, start + k, out);
        out.push(Range {
            start: start + k,
            end,
        });
    } else {
        path(m - k, start + k, end, out);
        out.push(Range {
            start,
            end: start + k,
        });
    }
}

/// RFC 9162 §2.1.4.1 PROOF(m, D[n]): the ranges of a consistency proof from
/// size `from` to size `to` (0 < from ≤ to), in proof order.
pub fn consistency_ranges(from: u64, to: u64) -> Vec<Range> {
    let mut out = Vec::new();
    if from > 0 && from < to {
        subproof(from, 0, to, true, &mut out);
    }
    out
}

fn subproof(m: u64, start: u64, end: u64, whole: bool, out: &mut Vec<Range>) {
    let n = end - start;
    if m == n {
        if !whole {
            out.push(Range { start, end });
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, start, start + k, whole, out);
        out.push(Range {
            start: start + k,
            end,
        });
    } else {
        subproof(m - k, start + k, end, false, out);
        out.push(Range {
            start,
            end: start + k,
        });
    }
}

/// Why a proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("the proof has the wrong number of hashes")]
    WrongLength,
    #[error("the proof leads to another root")]
    RootMismatch,
    #[error("sizes {from} and {to} do not make a consistency proof")]
    BadSizes { from: u64, to: u64 },
}

/// RFC 9162 §2.1.3.2: verifies that `leaf` is leaf `index` of the tree of
/// `size` whose root is `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(ProofError::WrongLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongLength);
    }
    if &r == root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// RFC 9162 §2.1.4.2: verifies that the tree of `to` leaves with root
/// `new_root` extends the tree of `from` leaves with root `old_root`.
pub fn verify_consistency(
    from: u64,
    to: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if from > to || from == 0 {
        // Nothing to prove against the empty tree: refused, as
        // transparency-dev does (a witness's first checkpoint is trusted
        // on first use instead).
        return Err(ProofError::BadSizes { from, to });
    }
    if from == to {
        return if !proof.is_empty() {
            Err(ProofError::WrongLength)
        } else if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    let mut path: Vec<Hash> = proof.to_vec();
    if from.is_power_of_two() {
        path.insert(0, *old_root);
    }
    let Some((first, rest)) = path.split_first() else {
        return Err(ProofError::WrongLength);
    };
    let (mut fn_, mut sn) = (from - 1, to - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return Err(ProofError::WrongLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongLength);
    }
    if &fr == old_root && &sr == new_root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// The tree's right edge (a compact range from 0): one hash per set bit of
/// the size, the full subtrees of its binary decomposition. Appending is
/// O(1) amortized and memory is O(log n): sealing keeps only this.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RightEdge {
    size: u64,
    /// Subtree hashes, largest (leftmost) first.
    hashes: Vec<Hash>,
}

impl RightEdge {
    pub fn new() -> Self {
        Self::default()
    }

    /// The edge of a tree of `size` from its decomposition's subtree hashes
    /// (`subtrees_of(0..size)` order). `None` when the count is wrong.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Option<Self> {
        (hashes.len() == size.count_ones() as usize).then_some(RightEdge { size, hashes })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash; returns the full subtrees this completed, each
    /// as (subtree, hash), smallest first (the leaf itself at level 0).
    pub fn push(&mut self, leaf: Hash) -> Vec<(Subtree, Hash)> {
        let mut done = vec![(
            Subtree {
                level: 0,
                index: self.size,
            },
            leaf,
        )];
        let mut h = leaf;
        let mut level = 0u32;
        // Each trailing one bit of the old size is a subtree of the same
        // height now completed by the new one.
        while (self.size >> level) & 1 == 1 {
            let Some(left) = self.hashes.pop() else {
                break;
            };
            h = node_hash(&left, &h);
            level += 1;
            done.push((
                Subtree {
                    level,
                    index: self.size >> level,
                },
                h,
            ));
        }
        self.hashes.push(h);
        self.size += 1;
        done
    }

    /// The root hash of the tree so far.
    pub fn root(&self) -> Hash {
        fold_right(&self.hashes)
    }
}

/// MTH by the definition, over all leaves in memory: for tests and benches.
pub fn root_of(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => EMPTY_ROOT,
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            node_hash(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    fn range_hash(all: &[Hash], r: Range) -> Hash {
        root_of(&all[r.start as usize..r.end as usize])
    }

    fn subtree_hash(all: &[Hash], s: Subtree) -> Hash {
        let start = (s.index << s.level) as usize;
        root_of(&all[start..start + (1 << s.level)])
    }

    #[test]
    fn the_empty_root_is_sha256_of_nothing() {
        assert_eq!(EMPTY_ROOT, <[u8; 32]>::from(Sha256::digest(b"")));
        assert_eq!(RightEdge::new().root(), EMPTY_ROOT);
    }

    #[test]
    fn the_right_edge_gives_the_definition_s_root_at_every_size() {
        let all = leaves(600);
        let mut edge = RightEdge::new();
        for (i, l) in all.iter().enumerate() {
            let done = edge.push(*l);
            for (s, h) in done {
                assert_eq!(subtree_hash(&all, s), h, "{s:?}");
            }
            assert_eq!(edge.root(), root_of(&all[..=i]), "size {}", i + 1);
        }
    }

    #[test]
    fn a_range_folds_from_its_aligned_subtrees() {
        let all = leaves(80);
        for size in 1..=80u64 {
            for index in 0..size {
                for r in inclusion_ranges(index, size) {
                    let hs: Vec<Hash> = subtrees_of(r)
                        .into_iter()
                        .map(|s| subtree_hash(&all, s))
                        .collect();
                    assert_eq!(fold_right(&hs), range_hash(&all, r), "{r:?}");
                }
            }
        }
    }

    #[test]
    fn built_proofs_verify_and_a_change_fails() {
        let all = leaves(70);
        for size in 1..=70u64 {
            let root = root_of(&all[..size as usize]);
            for index in 0..size {
                let proof: Vec<Hash> = inclusion_ranges(index, size)
                    .into_iter()
                    .map(|r| range_hash(&all, r))
                    .collect();
                let leaf = all[index as usize];
                assert_eq!(verify_inclusion(index, size, &leaf, &proof, &root), Ok(()));
                assert!(
                    verify_inclusion(index, size, &all[69], &proof, &root).is_err() || index == 69
                );
                if size > 1 {
                    let other = (index + 1) % size;
                    assert!(verify_inclusion(other, size, &leaf, &proof, &root).is_err());
                }
            }
            for from in 1..=size {
                let proof: Vec<Hash> = consistency_ranges(from, size)
                    .into_iter()
                    .map(|r| range_hash(&all, r))
                    .collect();
                let old = root_of(&all[..from as usize]);
                assert_eq!(verify_consistency(from, size, &old, &root, &proof), Ok(()));
                if from < size {
                    let wrong = root_of(&all[1..from as usize + 1]);
                    assert!(verify_consistency(from, size, &wrong, &root, &proof).is_err());
                }
            }
        }
    }

    #[test]
    fn an_event_leaf_needs_64_hex_digits() {
        assert!(event_leaf(&"ab".repeat(32)).is_some());
        assert!(event_leaf("abc").is_none());
        assert!(event_leaf(&"zz".repeat(32)).is_none());
    }
}
