//! A verdict from an older generation races the transitions after it (R9).
//!
//! Setup (main): admit a call in CLOSED (generation 0) and keep its permit;
//! trip the breaker with another failure (generation 1), let
//! `open_duration` pass and query `state()` (HALF_OPEN, generation 2).
//! Then one thread takes a probe and reports success while another reports
//! the stale CLOSED verdict, and main queries the state. The stale verdict
//! must reach the totals and nothing else, in every interleaving.
#![cfg(fusebox_loom)]

use fusebox::__loom::Detached;
use fusebox::State;
use fusebox_loom_tests::{builder, model, OPEN};
use loom::sync::Arc;
use loom::thread;

fn stale_vs_probe(stale_failure: bool, half_open_max: u32) {
    model(None, move || {
        let (b, mock, events) = builder(1, half_open_max);
        let cb = Arc::new(b.build().unwrap());
        let stale = Detached::new(&cb, cb.try_acquire().unwrap());
        assert!(!stale.is_probe());
        cb.try_acquire().unwrap().failure();
        mock.increment(OPEN);
        assert_eq!(cb.state(), State::HalfOpen);

        let prober = {
            let cb = cb.clone();
            thread::spawn(move || {
                let p = cb.try_acquire().expect("the only probe");
                assert!(p.is_probe());
                p.success();
            })
        };
        let reporter = thread::spawn(move || {
            if stale_failure {
                stale.failure();
            } else {
                stale.success();
            }
        });
        let seen = cb.state();
        assert_ne!(seen, State::Open, "a stale failure never reopens");
        prober.join().unwrap();
        reporter.join().unwrap();

        let s = cb.snapshot();
        let stale_f = u64::from(stale_failure);
        assert_eq!(
            s.total_failures,
            1 + stale_f,
            "the stale verdict is counted"
        );
        assert_eq!(s.total_successes, 2 - stale_f);
        assert_eq!(s.total_rejected, 0);
        if half_open_max == 1 {
            // The probe's success closes; the stale failure cannot reopen.
            assert_eq!(s.state, State::Closed);
            assert_eq!(events.counts(), (1, 1, 1));
            assert_eq!((s.recent_calls, s.consecutive_failures), (0, 0));
        } else {
            // One probe success of two: the stale success is no probe success.
            assert_eq!(s.state, State::HalfOpen);
            assert_eq!(s.half_open_calls, 0);
            assert_eq!(events.counts(), (1, 1, 0));
            let p = cb.try_acquire().unwrap();
            assert!(p.is_probe());
            p.success();
            assert_eq!(cb.state(), State::Closed, "exactly one success was kept");
            assert_eq!(events.counts(), (1, 1, 1));
        }
    });
}

/// A stale failure racing the probe that closes the breaker (max 1).
#[test]
fn stale_failure_vs_probe_close() {
    stale_vs_probe(true, 1);
}

/// A stale success racing a probe success (max 2): it must not count as a
/// probe success, so the breaker stays half-open.
#[test]
fn stale_success_vs_probe() {
    stale_vs_probe(false, 2);
}

/// A stale failure racing a probe success (max 2): it must not reopen.
#[test]
fn stale_failure_vs_probe() {
    stale_vs_probe(true, 2);
}
