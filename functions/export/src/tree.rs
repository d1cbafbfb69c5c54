//! The org's Merkle tree as sealing grows it: opened at the size the chain
//! head's digest signed, from the right-edge tiles, and refused unless the
//! tiles give the root that the signed checkpoint at that size names (an
//! edited tile or head never gets sealed over); leaves appended page by
//! page, full tiles written as they fill, the right edge and a signed
//! checkpoint written with each digest.

use audit_aws::store::TileWrite;
use audit_domain::ids::OrgId;
use audit_domain::integrity::checkpoint::{deployment_from_env, origin};
use audit_domain::integrity::merkle::{event_leaf, EMPTY_ROOT};
use audit_domain::integrity::tiles::{edge_tiles, TreeBuilder};
use audit_domain::integrity::{Checkpoint, Digest, Signer};

use crate::ExportApp;

/// The tree being appended to while an org is sealed.
pub(crate) struct OrgTree {
    pub builder: TreeBuilder,
    origin: String,
}

/// Opens the org's tree at the head digest's `tree_size` (0 for a head
/// sealed before the tree existed, or none), checking the tiles against
/// the signed checkpoint at that size.
pub(crate) async fn open(
    app: &ExportApp,
    org: &OrgId,
    head: Option<&Digest>,
    signer: &Signer,
) -> Result<OrgTree, String> {
    let origin = origin(&deployment_from_env(), org);
    let (size, root) = head
        .and_then(|h| h.tree_size.zip(h.tree_root.clone()))
        .unwrap_or((0, hex::encode(EMPTY_ROOT)));
    // A head moved back (a deleted digest, an older copy in DIGEST_HEAD)
    // leaves a signed checkpoint past the head's size: sealing on from
    // there would re-seal sealed periods. (Tiles written ahead of the head
    // by a seal that failed before its digest are no sign of this: no
    // checkpoint was committed for them.)
    if let Some(note) = app
        .store
        .latest_checkpoint(org)
        .await
        .map_err(|e| e.to_string())?
    {
        let latest = note
            .split_once("\n\n")
            .and_then(|(body, _)| Checkpoint::parse_body(&format!("{body}\n")).ok())
            .map(|c| c.size)
            .ok_or("the latest checkpoint does not parse")?;
        if latest > size {
            return Err(format!(
                "a checkpoint of tree size {latest} exists past the chain head's {size}: the head was moved back; refusing to seal over sealed periods"
            ));
        }
    }
    if size == 0 {
        return Ok(OrgTree {
            builder: TreeBuilder::new(),
            origin,
        });
    }
    let ids: Vec<_> = edge_tiles(size).into_iter().map(|(id, _)| id).collect();
    let tiles = app
        .store
        .tiles(org, &ids)
        .await
        .map_err(|e| e.to_string())?;
    let builder = TreeBuilder::resume(size, &tiles).ok_or_else(|| {
        format!("the tree's right-edge tiles at size {size} are missing or short")
    })?;
    if hex::encode(builder.root()) != root {
        return Err(format!(
            "the tree's tiles at size {size} do not give the root the head digest names"
        ));
    }
    let note = app
        .store
        .checkpoint_at(org, size)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no checkpoint at tree size {size}"))?;
    // The checkpoint is signed by the key that sealed it; after a rotation
    // that is a key of the registry, not the current one.
    let mut keys = audit_domain::integrity::KeyRing::from(signer.public_key());
    if let Ok(listing) = audit_aws::signing::published(&app.store).await {
        let registry = audit_aws::signing::ring(&listing);
        for id in registry.key_ids() {
            if let Some(k) = registry.get(id) {
                keys.add(k.clone(), None);
            }
        }
    }
    let signed = keys.key_ids().into_iter().any(|id| {
        keys.get(id)
            .and_then(|k| Checkpoint::open_for(&note, k, &origin).ok())
            .is_some_and(|c| c.size == size && c.root == builder.root())
    });
    if !signed {
        return Err(format!(
            "the checkpoint at tree size {size} is not signed for this tree"
        ));
    }
    Ok(OrgTree { builder, origin })
}

impl OrgTree {
    /// Appends an event's leaf (its hex `hash`).
    pub fn push(&mut self, event_hash: &str) -> Result<(), String> {
        let leaf = event_leaf(event_hash)
            .ok_or_else(|| format!("an event hash that is not 64 hex digits: {event_hash}"))?;
        self.builder.push(leaf);
        Ok(())
    }

    /// Writes the tiles that filled since the last call.
    pub async fn write_full(&mut self, app: &ExportApp, org: &OrgId) -> Result<(), String> {
        for (id, hashes) in self.builder.take_full() {
            put(app, org, id, &hashes).await?;
        }
        Ok(())
    }

    /// Writes full and right-edge tiles, and returns the signed checkpoint
    /// of the tree as it is now (size and root, for the digest).
    pub async fn finish_period(
        &mut self,
        app: &ExportApp,
        org: &OrgId,
        signer: &Signer,
    ) -> Result<(u64, [u8; 32], String), String> {
        self.write_full(app, org).await?;
        for (id, hashes) in self.builder.partial_tiles() {
            put(app, org, id, &hashes).await?;
        }
        let size = self.builder.size();
        let root = if size == 0 {
            EMPTY_ROOT
        } else {
            self.builder.root()
        };
        let note = Checkpoint {
            origin: self.origin.clone(),
            size,
            root,
        }
        .sign(signer);
        Ok((size, root, note))
    }
}

async fn put(
    app: &ExportApp,
    org: &OrgId,
    id: audit_domain::integrity::tiles::TileId,
    hashes: &[[u8; 32]],
) -> Result<(), String> {
    match app
        .store
        .put_tile(org, id, hashes)
        .await
        .map_err(|e| e.to_string())?
    {
        TileWrite::Written | TileWrite::AlreadyThere => Ok(()),
        TileWrite::Conflict => Err(format!(
            "tile {}/{} is stored with other hashes: the events sealed are not the tree's",
            id.level, id.index
        )),
    }
}
