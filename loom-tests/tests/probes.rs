//! Probe verdicts racing each other in HALF_OPEN (R5, R6, R7, R10).
//!
//! Setup (main, before spawning): trip with one failure, let
//! `open_duration` pass, admit two probes (`half_open_max_calls(2)`), and
//! hand one to each thread.
#![cfg(fusebox_loom)]

use fusebox::__loom::Detached;
use fusebox::{CircuitBreaker, State};
use fusebox_loom_tests::{builder, model, Events, OPEN};
use loom::sync::Arc;
use loom::thread;

fn setup() -> (Arc<CircuitBreaker>, Arc<Events>, Detached, Detached) {
    let (b, mock, events) = builder(1, 2);
    let cb = Arc::new(b.build().unwrap());
    cb.try_acquire().unwrap().failure();
    mock.increment(OPEN);
    let p1 = Detached::new(&cb, cb.try_acquire().unwrap());
    let p2 = Detached::new(&cb, cb.try_acquire().unwrap());
    assert!(p1.is_probe() && p2.is_probe());
    assert_eq!(cb.snapshot().half_open_calls, 2);
    assert_eq!(events.counts(), (1, 1, 0));
    (cb, events, p1, p2)
}

/// Main's own request while the probes race: a probe (if a slot came
/// free) dropped without a verdict, a CLOSED permit dropped, or a rejection.
fn main_request(cb: &CircuitBreaker) -> u64 {
    match cb.try_acquire() {
        Ok(p) => {
            drop(p);
            0
        }
        Err(_) => 1,
    }
}

/// One probe succeeds, the other fails. SPEC allows one outcome: OPEN. The
/// failure is applied while HALF_OPEN (R7) whether it comes first or after
/// the success (which alone cannot close with max 2), so exactly one
/// HALF_OPEN -> OPEN event and never a CLOSED one.
#[test]
fn probe_success_vs_failure() {
    model(None, || {
        let (cb, events, p1, p2) = setup();
        let t1 = thread::spawn(move || p1.success());
        let t2 = thread::spawn(move || p2.failure());
        let rejected = main_request(&cb);
        t1.join().unwrap();
        t2.join().unwrap();

        assert_eq!(events.counts(), (2, 1, 0), "one reopen, no close");
        assert_eq!(fusebox::__loom::generation(&cb), 3);
        let s = cb.snapshot();
        assert_eq!(s.state, State::Open);
        assert_eq!(s.half_open_calls, 0);
        assert_eq!((s.total_successes, s.total_failures), (1, 2));
        assert_eq!(s.total_rejected, rejected);
        assert!(
            s.open_remaining.is_some_and(|d| d == OPEN),
            "fresh open_duration"
        );
    });
}

/// Both probes succeed: exactly one HALF_OPEN -> CLOSED (R6, R10), and the
/// closed breaker starts with a clear window and consecutive count.
#[test]
fn probe_success_vs_success() {
    model(None, || {
        let (cb, events, p1, p2) = setup();
        let t1 = thread::spawn(move || p1.success());
        let t2 = thread::spawn(move || p2.success());
        let rejected = main_request(&cb);
        t1.join().unwrap();
        t2.join().unwrap();

        assert_eq!(events.counts(), (1, 1, 1), "one close");
        assert_eq!(fusebox::__loom::generation(&cb), 3);
        let s = cb.snapshot();
        assert_eq!(s.state, State::Closed);
        assert_eq!(s.half_open_calls, 0);
        assert_eq!((s.total_successes, s.total_failures), (2, 1));
        assert_eq!(s.total_rejected, rejected);
        assert_eq!(
            (s.recent_calls, s.consecutive_failures),
            (0, 0),
            "R6 clears"
        );
    });
}

/// One probe succeeds, the other is dropped without a verdict. The breaker
/// stays HALF_OPEN with no slot leaked and the success kept: one more
/// successful probe closes it.
#[test]
fn probe_success_vs_release() {
    model(None, || {
        let (cb, events, p1, p2) = setup();
        let t1 = thread::spawn(move || p1.success());
        let t2 = thread::spawn(move || drop(p2));
        let rejected = main_request(&cb);
        t1.join().unwrap();
        t2.join().unwrap();

        assert_eq!(events.counts(), (1, 1, 0));
        let s = cb.snapshot();
        assert_eq!(s.state, State::HalfOpen);
        assert_eq!(s.half_open_calls, 0, "no probe slot leaked");
        assert_eq!((s.total_successes, s.total_failures), (1, 1));
        assert_eq!(s.total_rejected, rejected);

        let p = cb.try_acquire().expect("a free slot");
        assert!(p.is_probe());
        p.success();
        assert_eq!(cb.state(), State::Closed);
        assert_eq!(events.counts(), (1, 1, 1));
    });
}
