//! Two threads race the CLOSED → OPEN trip (R1, R10, R11).
#![cfg(fusebox_loom)]

use fusebox::{CircuitBreaker, State};
use fusebox_loom_tests::{builder, model};
use loom::sync::Arc;
use loom::thread;

/// One request: `(admitted, rejected)`; an admitted call fails.
fn fail_once(cb: &CircuitBreaker) -> (u64, u64) {
    match cb.try_acquire() {
        Ok(p) => {
            p.failure();
            (1, 0)
        }
        Err(_) => (0, 1),
    }
}

/// Two threads each fail once while main asks for a permit and drops it.
/// With `threshold` failures to trip, exactly one thread's CAS opens the
/// breaker: one OPEN event, generation 1, and totals equal to what the
/// threads observed.
fn trip_race(threshold: u32) {
    model(None, move || {
        let (b, _mock, events) = builder(threshold, 1);
        let cb = Arc::new(b.build().unwrap());

        let handles: Vec<_> = (0..2)
            .map(|_| {
                let cb = cb.clone();
                thread::spawn(move || fail_once(&cb))
            })
            .collect();
        // Main: a request that reports no verdict (dropped permit).
        let main_rejected = match cb.try_acquire() {
            Ok(p) => {
                drop(p);
                0
            }
            Err(_) => 1,
        };
        let (mut failed, mut rejected) = (0, main_rejected);
        for h in handles {
            let (f, r) = h.join().unwrap();
            failed += f;
            rejected += r;
        }

        assert_eq!(cb.state(), State::Open);
        assert_eq!(
            events.counts(),
            (1, 0, 0),
            "exactly one transition, to OPEN"
        );
        assert_eq!(
            fusebox::__loom::generation(&cb),
            1,
            "generation bumped once"
        );
        let s = cb.snapshot();
        assert_eq!(s.total_failures, failed, "R11: every failure counted once");
        assert_eq!(s.total_successes, 0);
        assert_eq!(
            s.total_rejected, rejected,
            "R11: every rejection counted once"
        );
        if threshold == 2 {
            // Both failures are needed, so both were current and admitted.
            assert_eq!(failed, 2);
            assert_eq!(s.consecutive_failures, 2);
        } else {
            assert!(failed >= 1);
        }
    });
}

/// consecutive_failure_threshold(2): the second failure, whichever it is, trips.
#[test]
fn trip_race_threshold_2() {
    trip_race(2);
}

/// consecutive_failure_threshold(1): both failures may try to trip; one wins,
/// the other is stale or rejected.
#[test]
fn trip_race_threshold_1() {
    trip_race(1);
}

/// R1 when a success races a failure: after a first failure, a second one
/// and a success run at once, then a third failure follows both. Whichever
/// way the race goes, the success ends a run (F F S F: a run of 1; F S F F:
/// a run of 2), so with a threshold of 3 the breaker stays CLOSED. The
/// success used to reset the count with one CAS from the value it loaded
/// before its window write: a failure counted in between made that CAS
/// fail, and the run went on to 3.
#[test]
fn success_racing_a_failure_still_ends_the_run() {
    model(None, || {
        let (b, _mock, events) = builder(3, 1);
        let cb = Arc::new(b.build().unwrap());
        fail_once(&cb);
        let racer = {
            let cb = cb.clone();
            thread::spawn(move || fail_once(&cb))
        };
        cb.try_acquire().expect("closed").success();
        racer.join().unwrap();
        let run = cb.snapshot().consecutive_failures;
        assert!(run <= 1, "the success ended the run: {run}");
        fail_once(&cb);
        assert_eq!(cb.state(), State::Closed);
        assert_eq!(events.total(), 0, "no transition");
    });
}
