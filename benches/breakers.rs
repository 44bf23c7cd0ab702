//! Criterion benches: fusebox against the floors, a naive `Mutex` breaker,
//! recloser and failsafe, per operation and per thread count.
//!
//! Run: `cargo bench -p fusebox-benches --bench breakers` (all groups) or
//! `cargo bench -p fusebox-benches --bench breakers -- closed_success` (one
//! group).
//!
//! # How to read the figures
//!
//! Each benchmark id is `group/contender/threads`. The worker threads are
//! spawned once per thread count and released by a barrier inside
//! `iter_custom`; **each** thread runs criterion's `iters` operations and the
//! time measured is the wall time from the release to the last thread
//! finishing. So criterion's `time` is **nanoseconds per operation per
//! thread**: a contender that scales perfectly shows the same time at every
//! thread count (up to the number of cores), and one that serialises shows a
//! time that grows with the threads. The `thrpt` line (throughput is set to
//! `threads` elements per iteration) is the **aggregate** operations per
//! second over all threads. The last thread count is 2× the cores
//! (oversubscribed): there, time per op per thread roughly doubles even for
//! a perfect contender, and the aggregate should stay flat.
//!
//! The contenders live in `benches/common/contenders.rs`, shared with
//! `benches/contention.rs`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

#[path = "common/contenders.rs"]
mod contenders;

use contenders::{contenders, default_thread_counts, start_upkeep, Group, Pool};

fn bench_group(c: &mut Criterion, group: Group) {
    let counts = default_thread_counts();
    let max = counts.iter().copied().max().unwrap_or(1);
    let mut g = c.benchmark_group(group.name());
    for &threads in &counts {
        let pool = Pool::new(threads);
        // Fresh contenders per thread count: a breaker's stripes are assigned
        // to threads on first touch, so each pool starts from a clean slate.
        for entry in contenders(group, max) {
            g.throughput(Throughput::Elements(threads as u64));
            g.bench_with_input(BenchmarkId::new(entry.name, threads), &threads, |b, _| {
                b.iter_custom(|iters| pool.run_iters(&entry.contender, iters))
            });
            if let Err(e) = entry.contender.check() {
                panic!("{}/{}/{threads}: {e}", group.name(), entry.name);
            }
        }
    }
    g.finish();
}

fn all(c: &mut Criterion) {
    // `ClockMode::Recent` reads fusebox's coarse clock; this keeps it fresh
    // (1 ms steps) for the whole run.
    let _upkeep = start_upkeep();
    for group in Group::ALL {
        bench_group(c, group);
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = all
}
criterion_main!(benches);
