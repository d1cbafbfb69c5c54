//! The binary's figures that need the local stack, one module each
//! (figure 1 runs in process, in `main`; figure 8, `proofs`, needs none).

pub mod backpressure;
pub mod cold;
pub mod export;
pub mod ingest;
pub mod proofs;
pub mod query;
pub mod scale;
