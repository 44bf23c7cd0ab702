//! Unticketed verdicts in HALF_OPEN (R5, R9): `on_success`/`on_failure`
//! carry no ticket, so the breaker counts the probe slots unticketed
//! `allow_request`s took in each half-open generation (the `unticketed` word)
//! and lets an unticketed verdict act as a probe's only while one is owed.
//!
//! Setup (main): admit call An unticketed while CLOSED, trip the breaker
//! (threshold 1, one probe slot), let `open_duration` pass. Then a thread
//! makes an unticketed probe (its `allow_request` may be the request that
//! moves the breaker to HALF_OPEN) and reports success, another reports A's
//! late failure, and main asks for a probe permit.
#![cfg(fusebox_loom)]

use fusebox::State;
use fusebox_loom_tests::{builder, model, OPEN};
use loom::sync::Arc;
use loom::thread;

#[test]
fn unticketed_probe_vs_stale_unticketed_failure_vs_permit() {
    model(None, || {
        let (b, mock, events) = builder(1, 1);
        let cb = Arc::new(b.build().unwrap());
        assert!(cb.allow_request(), "call A, admitted while CLOSED");
        cb.try_acquire().unwrap().failure();
        mock.increment(OPEN);

        let unticketed_probe = {
            let cb = cb.clone();
            thread::spawn(move || {
                let admitted = cb.allow_request();
                if admitted {
                    cb.on_success();
                }
                admitted
            })
        };
        let late = {
            let cb = cb.clone();
            thread::spawn(move || cb.on_failure())
        };
        let permit = cb.try_acquire();
        let unticketed_admitted = unticketed_probe.join().unwrap();
        late.join().unwrap();

        let s = cb.snapshot();
        assert!(s.half_open_calls <= 1, "cap 1: {}", s.half_open_calls);
        let main_verdicts = u64::from(permit.is_ok());
        match permit {
            Ok(p) if p.is_probe() => {
                // Main holds the only slot: A's late failure is owed no
                // unticketed slot, so it cannot reopen (R9), nor free main's slot
                // for the unticketed probe (R5).
                assert!(!unticketed_admitted, "two probes with one slot");
                assert_eq!(s.state, State::HalfOpen, "a stale failure reopened");
                assert_eq!(s.half_open_calls, 1);
                p.success();
                assert_eq!(cb.state(), State::Closed);
                assert_eq!(events.counts(), (1, 1, 1));
            }
            other => {
                // The unticketed probe took the slot (main's permit, if any, came
                // after it closed the breaker); A's failure and the probe's
                // success can each spend that slot, but it is spent: the
                // breaker is not left HALF_OPEN with a slot no one frees.
                assert!(unticketed_admitted);
                assert_ne!(
                    s.state,
                    State::HalfOpen,
                    "an unticketed slot was never released"
                );
                if let Ok(p) = other {
                    p.success();
                }
            }
        }
        let s = cb.snapshot();
        assert_eq!(s.total_failures, 2, "the trip and A's late failure");
        assert_eq!(
            s.total_successes,
            u64::from(unticketed_admitted) + main_verdicts
        );
        let _ = events.counts(); // no self-transition
    });
}
