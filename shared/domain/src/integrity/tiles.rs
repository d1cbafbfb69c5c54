//! Tessera's tile layout for the org's tree: a tile at tile level `t` holds
//! up to 256 consecutive hashes of tree level 8·t (leaf hashes at `t = 0`);
//! tile `(t, i)` holds the level-8t nodes `[256·i, 256·i + 256)`. A full tile
//! (256 hashes) never changes again; only the right-edge tile of each level
//! is partial, and is rewritten as it grows. Every full aligned subtree's
//! hash is at most 128 hashes of one tile, folded.

use super::merkle::{root_of, Hash, RightEdge, Subtree};

/// Hashes in a full tile.
pub const TILE_WIDTH: usize = 256;
/// Tree levels one tile level spans.
pub const TILE_HEIGHT: u32 = 8;

/// Where a tile sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TileId {
    pub level: u32,
    pub index: u64,
}

/// Which tile holds a subtree, and which of its hashes (offset, count).
pub fn locate(s: Subtree) -> (TileId, usize, usize) {
    let t = s.level / TILE_HEIGHT;
    let r = s.level % TILE_HEIGHT;
    let first = s.index << r;
    let tile = TileId {
        level: t,
        index: first / TILE_WIDTH as u64,
    };
    (tile, (first % TILE_WIDTH as u64) as usize, 1 << r)
}

/// The hash of `s` from the tile `locate` names; `None` when the tile is
/// too short (not yet grown that far, or truncated).
pub fn subtree_hash(s: Subtree, tile: &[Hash]) -> Option<Hash> {
    let (_, offset, count) = locate(s);
    tile.get(offset..offset + count).map(root_of)
}

/// The right-edge tiles of a tree of `size`: for each tile level, the
/// partial tile and how many hashes of it the tree covers (levels where
/// that is zero are left out).
pub fn edge_tiles(size: u64) -> Vec<(TileId, usize)> {
    let mut out = Vec::new();
    let mut level = 0u32;
    let mut n = size;
    while n > 0 {
        let width = (n % TILE_WIDTH as u64) as usize;
        if width > 0 {
            out.push((
                TileId {
                    level,
                    index: n / TILE_WIDTH as u64,
                },
                width,
            ));
        }
        n /= TILE_WIDTH as u64;
        level += 1;
    }
    out
}

/// A growing tree as sealing keeps it: the right edge (for the root) and
/// the partial tile of each level (to be written), O(log n) in memory:
/// at most 256 hashes per tile level.
#[derive(Debug, Clone, Default)]
pub struct TreeBuilder {
    edge: RightEdge,
    /// Per tile level, the partial tile's hashes so far.
    partial: Vec<Vec<Hash>>,
    /// Tiles that filled since the last `take_full`.
    full: Vec<(TileId, Vec<Hash>)>,
}

impl TreeBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// The builder of a tree of `size` from its right-edge tiles (as
    /// `edge_tiles` names them), each at least as long as it says; `None`
    /// when one is missing or short.
    pub fn resume(size: u64, tiles: &[(TileId, Vec<Hash>)]) -> Option<Self> {
        let mut partial: Vec<Vec<Hash>> = Vec::new();
        for (id, width) in edge_tiles(size) {
            let (_, hashes) = tiles.iter().find(|(t, _)| *t == id)?;
            let hashes = hashes.get(..width)?.to_vec();
            let level = id.level as usize;
            if partial.len() <= level {
                partial.resize(level + 1, Vec::new());
            }
            partial[level] = hashes;
        }
        let mut edge_hashes = Vec::new();
        for s in super::merkle::subtrees_of(super::merkle::Range {
            start: 0,
            end: size,
        }) {
            let (tile, _, _) = locate(s);
            let hashes = partial.get(tile.level as usize)?;
            edge_hashes.push(subtree_hash(s, hashes)?);
        }
        Some(TreeBuilder {
            edge: RightEdge::from_parts(size, edge_hashes)?,
            partial,
            full: Vec::new(),
        })
    }

    pub fn size(&self) -> u64 {
        self.edge.size()
    }

    pub fn root(&self) -> Hash {
        self.edge.root()
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        for (s, h) in self.edge.push(leaf) {
            if s.level % TILE_HEIGHT != 0 {
                continue;
            }
            let t = (s.level / TILE_HEIGHT) as usize;
            if self.partial.len() <= t {
                self.partial.resize(t + 1, Vec::new());
            }
            self.partial[t].push(h);
            if self.partial[t].len() == TILE_WIDTH {
                let hashes = std::mem::take(&mut self.partial[t]);
                let id = TileId {
                    level: t as u32,
                    index: s.index / TILE_WIDTH as u64,
                };
                self.full.push((id, hashes));
            }
        }
    }

    /// The tiles that filled since the last call (each written once).
    pub fn take_full(&mut self) -> Vec<(TileId, Vec<Hash>)> {
        std::mem::take(&mut self.full)
    }

    /// The right-edge partial tiles, to be written at the end of a seal.
    pub fn partial_tiles(&self) -> Vec<(TileId, Vec<Hash>)> {
        edge_tiles(self.size())
            .into_iter()
            .filter_map(|(id, _)| {
                let hashes = self.partial.get(id.level as usize)?;
                (!hashes.is_empty()).then(|| (id, hashes.clone()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrity::merkle::{leaf_hash, root_of};
    use std::collections::BTreeMap;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect()
    }

    #[test]
    fn tiles_hold_every_subtree_and_resume_gives_the_same_tree() {
        let all = leaves(70_000);
        let mut store: BTreeMap<TileId, Vec<Hash>> = BTreeMap::new();
        let mut b = TreeBuilder::new();
        for (i, l) in all.iter().enumerate() {
            b.push(*l);
            let size = i as u64 + 1;
            // Persist and resume at a few sizes, as seals would.
            if [1, 255, 256, 257, 65_535, 65_536, 65_537, 69_999].contains(&size) {
                for (id, h) in b.take_full().into_iter().chain(b.partial_tiles()) {
                    store.insert(id, h);
                }
                let tiles: Vec<_> = store.iter().map(|(k, v)| (*k, v.clone())).collect();
                let r = TreeBuilder::resume(size, &tiles).expect("resumes");
                assert_eq!(r.root(), root_of(&all[..size as usize]), "size {size}");
                b = r;
            }
        }
        let s = Subtree {
            level: 16,
            index: 0,
        };
        let (tile, off, count) = locate(s);
        assert_eq!((tile, off, count), (TileId { level: 2, index: 0 }, 0, 1));
        let lvl1 = Subtree { level: 9, index: 3 };
        let (tile, off, count) = locate(lvl1);
        assert_eq!((tile, off, count), (TileId { level: 1, index: 0 }, 6, 2));
        assert_eq!(
            subtree_hash(lvl1, &store[&tile]),
            Some(root_of(&all[3 * 512..4 * 512]))
        );
    }

    #[test]
    fn a_missing_or_short_edge_tile_cannot_resume() {
        let all = leaves(300);
        let mut b = TreeBuilder::new();
        for l in &all {
            b.push(*l);
        }
        let mut tiles: Vec<_> = b.take_full().into_iter().chain(b.partial_tiles()).collect();
        assert!(TreeBuilder::resume(300, &tiles).is_some());
        tiles.retain(|(id, _)| id.level != 0 || id.index != 1);
        assert!(TreeBuilder::resume(300, &tiles).is_none());
        assert_eq!(
            edge_tiles(300),
            [
                (TileId { level: 0, index: 1 }, 44),
                (TileId { level: 1, index: 0 }, 1)
            ]
        );
    }
}
