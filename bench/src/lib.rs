//! The benchmark suite behind `make bench` (see bench/README.md): fixtures,
//! the in-process CPU measurement, the local Lambda Runtime API used for
//! cold starts, and the RESULTS.md table.

pub mod coldstart;
pub mod cpu;
pub mod fixtures;
pub mod report;
