//! The slow-call trip races the error-rate trip from one CLOSED
//! state: the slow ring is the window's own type and protocol (its models
//! are in `window.rs`), and the slow trip is the same single CAS from the
//! CLOSED word as the other trips, so exactly one of them opens the breaker
//! (R10, R14) and every verdict reaches the totals (R11).
#![cfg(fusebox_loom)]

use std::time::Duration;

use fusebox::__loom::Detached;
use fusebox::State;
use fusebox_loom_tests::{builder, model};
use loom::sync::Arc;
use loom::thread;

/// A breaker that trips on an error rate of 100 % or a slow-call rate of
/// 50 % (minimum calls 1, slow from 1 s): main admits two calls and the
/// clock moves 1 s, so both are slow. One succeeds and one fails on two
/// threads: the failure can trip on the error rate (alone in the window)
/// or either can trip on the slow-call rate, and exactly one trip wins.
#[test]
fn slow_trip_vs_error_rate_trip() {
    model(None, || {
        let (b, mock, events) = builder(2, 1);
        let cb = Arc::new(
            b.min_calls_for_error_rate(1)
                .error_threshold_percentage(100.0)
                .slow_call_duration_threshold(Duration::from_secs(1))
                .slow_call_rate_threshold(50.0)
                .build()
                .unwrap(),
        );
        let slow = Detached::new(&cb, cb.try_acquire().unwrap());
        let failing = Detached::new(&cb, cb.try_acquire().unwrap());
        mock.increment(Duration::from_secs(1));
        let t1 = thread::spawn(move || slow.success());
        let t2 = thread::spawn(move || failing.failure());
        t1.join().unwrap();
        t2.join().unwrap();
        assert_eq!(cb.state(), State::Open, "one of the two trips");
        assert_eq!(events.counts(), (1, 0, 0), "exactly one transition");
        let s = cb.snapshot();
        assert_eq!((s.total_successes, s.total_failures), (1, 1));
        // Both verdicts may pass the currency check before either CAS, as
        // racing failures both reach the window before a trip.
        assert!(s.recent_slow_calls <= 2, "{s:?}");
    });
}
