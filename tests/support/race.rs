//! The full-cycle race shared by `tests/concurrency.rs` (listener side) and
//! `tests/logging.rs` (`tracing` side): one thread's part of each round.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::Duration;

use fusebox::quanta::Mock;
use fusebox::{CircuitBreaker, State};

/// Runs `rounds` rounds as thread `t` of `barrier`'s party. Each round:
/// every thread fails one permit (the breaker opens once), thread 0 moves
/// the clock past `open`, then every thread requests once (one request takes
/// the breaker half-open; the probes that get in succeed and close it).
/// Admitted probes are counted in `successes`, refusals in `rejections`.
#[allow(clippy::too_many_arguments)]
pub fn cycle_rounds(
    cb: &CircuitBreaker,
    mock: &Mock,
    barrier: &Barrier,
    t: usize,
    rounds: usize,
    open: Duration,
    successes: &AtomicU64,
    rejections: &AtomicU64,
) {
    for _ in 0..rounds {
        // Phase A: racing failures trip the breaker once.
        let permit = cb.try_acquire().expect("closed at round start");
        barrier.wait();
        permit.failure();
        barrier.wait();
        if t == 0 {
            assert_eq!(cb.state(), State::Open);
            mock.increment(open);
        }
        barrier.wait();
        // Phase B: racing requests: one goes half-open, the probes that get
        // in succeed and close it.
        match cb.try_acquire() {
            Ok(p) => {
                successes.fetch_add(1, Ordering::Relaxed);
                p.success();
            }
            Err(_) => {
                rejections.fetch_add(1, Ordering::Relaxed);
            }
        }
        barrier.wait();
        if t == 0 {
            assert_eq!(cb.state(), State::Closed);
        }
        barrier.wait();
    }
}
