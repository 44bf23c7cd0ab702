//! The open backoff's run counter: with a backoff, the trip from CLOSED
//! publishes its OPEN generation (`trip_gen`) before its CAS, and every
//! OPEN state of the run is the `(gen - trip_gen) / 2 + 1`-th opening. The
//! duration in force follows from that alone, so every thread that looks at
//! one OPEN state must see the same duration, whatever races made it.
//!
//! Every breaker here backs off exponentially from `OPEN`, doubling, with
//! no jitter: the k-th opening lasts `2^(k-1) × OPEN`. The mock clock does
//! not move while threads race, so a rejection's `retry_after` is the whole
//! duration in force.
#![cfg(fusebox_loom)]

use std::time::Duration;

use fusebox::__loom::Detached;
use fusebox::{Backoff, CircuitBreaker, State};
use fusebox_loom_tests::{builder, model, OPEN};
use loom::sync::Arc;
use loom::thread;

fn backing_off(
    consecutive: u32,
    probes: u32,
) -> (Arc<CircuitBreaker>, std::sync::Arc<fusebox::quanta::Mock>) {
    let (b, mock, _events) = builder(consecutive, probes);
    let cb = b
        .open_backoff(Backoff::exponential(Duration::from_secs(3600)))
        .build()
        .unwrap();
    (Arc::new(cb), mock)
}

/// What a request sees: `Some(retry_after)` if refused while OPEN.
fn open_for(cb: &CircuitBreaker) -> Option<Duration> {
    match cb.try_acquire() {
        Ok(p) => {
            drop(p);
            None
        }
        Err(r) if r.state() == State::Open => r.retry_after(),
        Err(_) => None,
    }
}

/// After one run that closed, two failures race the next trip (both may
/// contend for it, each publishing the new run's start) while a third
/// thread asks for a permit: any rejection it gets while OPEN says the first opening's
/// duration, and so does the breaker afterwards. (A trip that published its
/// run after its CAS lets the observer see the old run's start and a later
/// opening's duration: this model fails on it.) The observer is a thread of
/// its own: loom did not run the racing threads ahead of main's own request
/// here, so main never saw the breaker open.
#[test]
fn racing_trips_start_one_run() {
    // Three threads: one preemption already reaches the observer between a
    // trip's CAS and its publication (checked against that bug).
    model(Some(1), || {
        let (cb, mock) = backing_off(1, 1);
        // One run before, so that the run counter holds an older trip.
        cb.try_acquire().unwrap().failure();
        mock.increment(OPEN);
        cb.try_acquire().unwrap().success();
        assert_eq!(cb.state(), State::Closed);
        let failers: Vec<_> = (0..2)
            .map(|_| {
                let cb = cb.clone();
                thread::spawn(move || {
                    if let Ok(p) = cb.try_acquire() {
                        p.failure();
                    }
                })
            })
            .collect();
        let observer = {
            let cb = cb.clone();
            thread::spawn(move || open_for(&cb))
        };
        for h in failers {
            h.join().unwrap();
        }
        if let Some(left) = observer.join().unwrap() {
            assert_eq!(left, OPEN, "the first opening");
        }
        assert_eq!(cb.state(), State::Open);
        assert_eq!(cb.snapshot().open_remaining, Some(OPEN));
    });
}

/// HALF_OPEN with one probe already succeeded of two: the second probe's
/// success races a third probe's failure (which reopens) while a third
/// thread asks for a permit. Reopened, the breaker is in its
/// second opening (2 × OPEN) for every observer; closed, the next trip
/// starts a new run (OPEN again). Then a full cycle more checks that the
/// count survived the race: the run goes on, or starts afresh, as it must.
#[test]
fn a_reopening_racing_a_close_counts_its_opening() {
    model(None, || {
        let (cb, mock) = backing_off(1, 2);
        cb.try_acquire().unwrap().failure(); // opening 1
        mock.increment(OPEN);
        cb.try_acquire().unwrap().success(); // half-open, 1 success of 2
        let closer = Detached::new(&cb, cb.try_acquire().unwrap());
        let failer = Detached::new(&cb, cb.try_acquire().unwrap());
        let t1 = thread::spawn(move || closer.success());
        let t2 = thread::spawn(move || failer.failure());
        let observer = {
            let cb = cb.clone();
            thread::spawn(move || open_for(&cb))
        };
        t1.join().unwrap();
        t2.join().unwrap();
        if let Some(left) = observer.join().unwrap() {
            assert_eq!(left, 2 * OPEN, "reopened: the second opening");
        }
        match cb.state() {
            State::Open => {
                assert_eq!(cb.snapshot().open_remaining, Some(2 * OPEN));
                mock.increment(2 * OPEN);
                cb.try_acquire().unwrap().failure();
                assert_eq!(cb.snapshot().open_remaining, Some(4 * OPEN), "the third");
            }
            state => {
                // The failure came after the close (or was stale) and
                // tripped a new run, or the breaker stayed half-open.
                if state == State::Closed {
                    cb.try_acquire().unwrap().failure();
                }
                if cb.state() == State::Open {
                    assert_eq!(cb.snapshot().open_remaining, Some(OPEN), "a new run");
                }
            }
        }
    });
}
