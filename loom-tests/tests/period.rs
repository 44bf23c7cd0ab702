//! A probe's ticket is its half-open period's whole generation, checked
//! against the `period` word; the HALF_OPEN word keeps only a few bits of
//! it (22; 2 under loom, so the models reach an alias in four transitions).
//!
//! Setup (main, before spawning), with `half_open_max_calls(1)`: trip
//! (OPEN, generation 1), let `open_duration` pass, take the probe `old`
//! (HALF_OPEN, 2), let `reset_timeout` pass so a query reopens (OPEN, 3),
//! then take a probe and fail it (HALF_OPEN 4, OPEN 5), and take the probe
//! `current` (HALF_OPEN, 6): the word's two generation bits read as `old`'s.
//! `old` then races `current` and main's own request. The old probe must
//! act as stale whatever the interleaving: its drop frees no slot (main is
//! never admitted as a second probe while `current` is out, R5) and its
//! success closes nothing (R9); both still reach the totals.
#![cfg(fusebox_loom)]

use fusebox::__loom::Detached;
use fusebox::{CircuitBreaker, State};
use fusebox_loom_tests::{builder, model, Events, OPEN, RESET};
use loom::sync::Arc;
use loom::thread;

fn setup() -> (Arc<CircuitBreaker>, Arc<Events>, Detached, Detached) {
    let (b, mock, events) = builder(1, 1);
    let cb = Arc::new(b.build().unwrap());
    cb.try_acquire().unwrap().failure();
    mock.increment(OPEN);
    let old = Detached::new(&cb, cb.try_acquire().unwrap());
    assert_eq!(old.generation(), 2);
    mock.increment(RESET);
    assert_eq!(cb.state(), State::Open);
    mock.increment(OPEN);
    cb.try_acquire().unwrap().failure();
    mock.increment(OPEN);
    let current = Detached::new(&cb, cb.try_acquire().unwrap());
    assert!(old.is_probe() && current.is_probe());
    assert_eq!(current.generation(), 6);
    assert_eq!(fusebox::__loom::generation(&cb), 6);
    assert_eq!(events.counts(), (3, 3, 0));
    (cb, events, old, current)
}

/// `old` is dropped while `current` succeeds and main asks for a permit:
/// main gets a CLOSED permit (after the close) or a rejection, never a
/// probe; the breaker closes once.
#[test]
fn aliasing_probe_dropped_vs_current_probe() {
    model(None, || {
        let (cb, events, old, current) = setup();
        let t1 = thread::spawn(move || drop(old));
        let t2 = thread::spawn(move || current.success());
        let main_probe = match cb.try_acquire() {
            Ok(p) => {
                let probe = p.is_probe();
                drop(p);
                probe
            }
            Err(r) => {
                assert_eq!(r.state(), State::HalfOpen);
                false
            }
        };
        t1.join().unwrap();
        t2.join().unwrap();
        assert!(!main_probe, "a second probe past half_open_max_calls(1)");
        assert_eq!(events.counts(), (3, 3, 1));
        let s = cb.snapshot();
        assert_eq!(s.state, State::Closed);
        assert_eq!((s.total_successes, s.total_failures), (1, 2));
    });
}

/// `old` succeeds while `current` fails: the breaker reopens and never
/// closes; `old`'s success reaches the totals only.
#[test]
fn aliasing_probe_success_vs_current_probe_failure() {
    model(None, || {
        let (cb, events, old, current) = setup();
        let t1 = thread::spawn(move || old.success());
        let t2 = thread::spawn(move || current.failure());
        t1.join().unwrap();
        t2.join().unwrap();
        assert_eq!(events.counts(), (4, 3, 0), "a stale success closed it");
        assert_eq!(fusebox::__loom::generation(&cb), 7);
        let s = cb.snapshot();
        assert_eq!(s.state, State::Open);
        assert_eq!((s.total_successes, s.total_failures), (1, 3));
        assert!(fusebox::__loom::stamp_is_current(&cb));
    });
}

/// The stamp's two words race their reader: a thread makes the R4
/// transition (and stamps HALF_OPEN: the stamp, then its whole time),
/// while main takes a snapshot. The snapshot sees either state with its
/// own age (OPEN for `open_duration`, HALF_OPEN for 0: the mock does not
/// move), never a mix; afterwards stamp and time agree.
#[test]
fn stamp_time_writer_vs_reader() {
    model(None, || {
        let (b, mock, events) = builder(1, 1);
        let cb = Arc::new(b.build().unwrap());
        cb.try_acquire().unwrap().failure();
        mock.increment(OPEN);
        let t = {
            let cb = cb.clone();
            thread::spawn(move || cb.try_acquire().map(|p| p.is_probe()))
        };
        let s = cb.snapshot();
        assert_eq!(s.state, State::HalfOpen, "R4 is due for the snapshot too");
        assert_eq!(s.state_duration, std::time::Duration::ZERO);
        let admitted = t.join().unwrap();
        assert!(matches!(admitted, Ok(true) | Err(_)));
        assert_eq!(events.counts(), (1, 1, 0));
        assert!(fusebox::__loom::stamp_is_current(&cb));
    });
}
