//! R8: the reset_timeout resolution races a late probe verdict (R8, R10).
//!
//! Setup (main): trip, let `open_duration` pass, admit one probe
//! (`half_open_max_calls(2)`, so one success alone does not close), then let
//! `reset_timeout` pass with the probe still out. One thread reports the
//! probe's verdict while another queries `state()` and main asks for a
//! permit; both of the latter may resolve the timeout.
#![cfg(fusebox_loom)]

use fusebox::__loom::Detached;
use fusebox::State;
use fusebox_loom_tests::{builder, model, OPEN, RESET};
use loom::sync::Arc;
use loom::thread;

fn resolution_vs_verdict(probe_succeeds: bool) {
    model(None, move || {
        let (b, mock, events) = builder(1, 2);
        let cb = Arc::new(b.build().unwrap());
        cb.try_acquire().unwrap().failure();
        mock.increment(OPEN);
        let probe = Detached::new(&cb, cb.try_acquire().unwrap());
        assert!(probe.is_probe());
        mock.increment(RESET);
        assert_eq!(events.counts(), (1, 1, 0));

        let reporter = thread::spawn(move || {
            if probe_succeeds {
                probe.success();
            } else {
                probe.failure();
            }
        });
        let querier = {
            let cb = cb.clone();
            thread::spawn(move || cb.state())
        };
        let main_admitted = match cb.try_acquire() {
            Ok(p) => {
                assert!(!p.is_probe(), "the half-open period is over");
                drop(p);
                true
            }
            Err(_) => false,
        };
        reporter.join().unwrap();
        let queried = querier.join().unwrap();
        assert_ne!(queried, State::HalfOpen, "R8: the timeout has run out");

        let s = cb.snapshot();
        let (to_open, to_half_open, to_closed) = events.counts();
        assert_eq!(to_half_open, 1);
        assert_eq!(to_open + to_closed, 2, "exactly one resolution transition");
        assert_eq!(fusebox::__loom::generation(&cb), 3);
        assert_eq!(
            (s.total_successes, s.total_failures),
            (u64::from(probe_succeeds), 1 + u64::from(!probe_succeeds))
        );
        assert_eq!(s.total_rejected, u64::from(!main_admitted));
        assert_eq!(s.half_open_calls, 0);
        match s.state {
            // R8 closes only with a success applied before the resolution.
            State::Closed => {
                assert!(probe_succeeds);
                assert_eq!(to_closed, 1);
                assert!(main_admitted || queried == State::Closed);
            }
            // A failure (R7) or a timeout with no success applied (R8).
            State::Open => {
                assert_eq!(to_open, 2);
                assert!(!main_admitted, "OPEN with a fresh open_duration");
                assert_eq!(s.open_remaining, Some(OPEN));
            }
            State::HalfOpen => unreachable!(),
        }
        assert_eq!(
            queried, s.state,
            "no further transition after the resolution"
        );
    });
}

/// The late verdict is a success: CLOSED if it lands first, else OPEN and
/// the success only reaches the totals.
#[test]
fn reset_timeout_vs_probe_success() {
    resolution_vs_verdict(true);
}

/// The late verdict is a failure: OPEN either way (R7 or R8), once.
#[test]
fn reset_timeout_vs_probe_failure() {
    resolution_vs_verdict(false);
}
