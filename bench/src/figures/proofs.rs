//! Figure 8 (issue 16): what a receipt costs. Proof length and verification
//! time for an event in logs of 10⁴ and 10⁶ events (real trees, built in
//! memory) and 10⁸ (the path's length computed, its verification timed on a
//! path of that length), against one SHA-256 of a leaf; and the tree's share
//! of sealing: appending 100,000 leaves to the tiled tree sealing keeps,
//! against hashing those 100,000 leaves alone. In process: no stack.

use crate::*;
use audit_domain::integrity::merkle::{
    inclusion_ranges, leaf_hash, root_of, verify_inclusion, Hash,
};
use audit_domain::integrity::tiles::TreeBuilder;

/// Times `f` over `n` calls, in seconds per call.
fn per_call(n: u32, mut f: impl FnMut()) -> f64 {
    let started = Instant::now();
    for _ in 0..n {
        f();
    }
    started.elapsed().as_secs_f64() / f64::from(n)
}

fn leaves(n: u64) -> Vec<Hash> {
    (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
}

pub fn fig_proofs(run: &mut Run) {
    let calls = if run.quick { 2_000 } else { 20_000 };
    let one_hash = per_call(calls * 10, || {
        std::hint::black_box(leaf_hash(std::hint::black_box(&[7u8; 32])));
    });
    let mut sizes: Vec<u64> = vec![10_000, 1_000_000];
    if run.quick {
        sizes.truncate(1);
    }
    for n in sizes {
        let all = leaves(n);
        let root = root_of(&all);
        let index = n / 3;
        let path: Vec<Hash> = inclusion_ranges(index, n)
            .iter()
            .map(|r| root_of(&all[r.start as usize..r.end as usize]))
            .collect();
        let leaf = all[index as usize];
        assert!(verify_inclusion(index, n, &leaf, &path, &root).is_ok());
        let t = per_call(calls, || {
            std::hint::black_box(verify_inclusion(index, n, &leaf, &path, &root).is_ok());
        });
        run.rows.push(Row::num(
            &format!("8. receipt for one event in a log of {n} events: inclusion proof of {} hashes ({} B as hex in JSON), verified in, vs one SHA-256 of a leaf", path.len(), path.len() * 67),
            t * 1e6,
            one_hash * 1e6,
            "µs",
            &cmd("proofs"),
        ));
    }
    // 10⁸: computed, not stored.
    let n = 100_000_000u64;
    let index = n / 3;
    let depth = inclusion_ranges(index, n).len();
    let path: Vec<Hash> = (0..depth as u64)
        .map(|i| leaf_hash(&i.to_be_bytes()))
        .collect();
    let leaf = leaf_hash(b"leaf");
    let t = per_call(calls, || {
        // Not the tree's root: the same hashing, then a refusal.
        std::hint::black_box(verify_inclusion(index, n, &leaf, &path, &[0u8; 32]).is_ok());
    });
    run.rows.push(Row::num(
        &format!("8. receipt for one event in a log of 10^8 events (computed): inclusion proof of {depth} hashes ({} B as hex in JSON), verified in, vs one SHA-256 of a leaf", depth * 67),
        t * 1e6,
        one_hash * 1e6,
        "µs",
        &cmd("proofs"),
    ));
    // The tree's share of sealing 100,000 events.
    let batch = leaves(100_000);
    let hashing = per_call(3, || {
        std::hint::black_box(leaves(100_000));
    });
    let tree = per_call(3, || {
        let mut b = TreeBuilder::new();
        for l in &batch {
            b.push(*l);
        }
        std::hint::black_box(b.take_full());
        std::hint::black_box(b.root());
    });
    run.rows.push(Row::num(
        "8. the tree's share of sealing: appending 100,000 leaves to the tiled tree (full tiles taken, root computed), vs hashing those 100,000 leaves alone",
        tree * 1e3,
        hashing * 1e3,
        "ms",
        &cmd("proofs"),
    ));
    run.notes.push("Figure 8: sealing reads and hashes each event anyway (figure 6's seconds per 100,000 events include the tree); the row above is the tree's own work, the part sealing did not do before it. Storage: 32 B per event in 8 KB tiles, written once full (about 0.031 write units per event).".to_string());
}
