//! Figure 1 under criterion's own harness: `cargo bench -p audit-log-bench`.
//! `make bench` runs the same measurement inside the release binary.

use criterion::{criterion_group, criterion_main, Criterion};

fn ingest_cpu(c: &mut Criterion) {
    audit_log_bench::cpu::register(c);
}

criterion_group!(benches, ingest_cpu);
criterion_main!(benches);
