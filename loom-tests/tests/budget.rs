//! The R2 scan budget under racing failures (R2, R10).
#![cfg(fusebox_loom)]

use fusebox::{CircuitBreaker, State};
use fusebox_loom_tests::{builder, model};
use loom::sync::Arc;
use loom::thread;

/// Fails one call if admitted; `true` if it was admitted.
fn fail_once(cb: &CircuitBreaker) -> bool {
    match cb.try_acquire() {
        Ok(p) => {
            p.failure();
            true
        }
        Err(_) => false,
    }
}

/// Four successes, then two threads fail twice each, 50 % to trip, one
/// call minimum, no R1. The window reaches 50 % only with the fourth
/// failure (1/5, 2/6, 3/7, 4/8), so whichever failure comes last must scan
/// and trip, however the scans, grants and skips interleave: the first scan
/// grants up to two skips, and a grant computed before another failure's
/// claim must not be installed (it would let the fourth failure skip).
///
/// Checked to fail with the grant's version check removed.
#[test]
fn racing_grants_never_skip_a_trip() {
    model(None, || {
        let (b, _mock, events) = builder(1_000, 1);
        let cb = Arc::new(
            b.min_calls_for_error_rate(1)
                .error_threshold_percentage(50.0)
                .build()
                .unwrap(),
        );
        for _ in 0..4 {
            cb.try_acquire().expect("closed").success();
        }
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let cb = cb.clone();
                thread::spawn(move || u64::from(fail_once(&cb)) + u64::from(fail_once(&cb)))
            })
            .collect();
        let failed: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();

        assert_eq!(failed, 4, "no failure before the fourth trips");
        assert_eq!(cb.state(), State::Open, "the fourth failure trips on R2");
        assert_eq!(events.counts(), (1, 0, 0), "exactly one transition");
        let s = cb.snapshot();
        assert_eq!((s.total_successes, s.total_failures), (4, 4));
    });
}
