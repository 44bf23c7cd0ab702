//! OPEN → HALF_OPEN races with probe admission (R4, R5, R10, R11).
#![cfg(fusebox_loom)]

use fusebox::{CircuitBreaker, State};
use fusebox_loom_tests::{builder, model, OPEN};
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

/// One request: takes a permit, and if it is a probe, counts it in `held`
/// while holding it, asserting the cap, then drops it (no verdict).
/// Returns 1 if rejected.
fn probe(cb: &CircuitBreaker, held: &AtomicUsize, cap: u32) -> u64 {
    match cb.try_acquire() {
        Ok(p) => {
            assert!(p.is_probe(), "nothing closes the breaker in this model");
            let now = held.fetch_add(1, Ordering::SeqCst) + 1;
            assert!(now <= cap as usize, "R5: {now} probes in flight, cap {cap}");
            // Leave the count before the slot is freed: `held` never
            // overstates the probes really in flight.
            held.fetch_sub(1, Ordering::SeqCst);
            drop(p);
            0
        }
        // The kind of rejection is checked by `no_spurious_open_rejection`.
        Err(_) => 1,
    }
}

/// The breaker is OPEN and `open_duration` has elapsed. Two threads and main
/// ask for a permit at once; main also queries `state()` first, racing the
/// lazy transition. Exactly one OPEN → HALF_OPEN event; never more than
/// `cap` probes held; every slot comes back; rejections counted exactly.
fn admission(cap: u32) {
    model(None, move || {
        let (b, mock, events) = builder(1, cap);
        let cb = Arc::new(b.build().unwrap());
        cb.try_acquire().unwrap().failure();
        assert_eq!(events.counts(), (1, 0, 0));
        mock.increment(OPEN);

        let held = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (cb, held) = (cb.clone(), held.clone());
                thread::spawn(move || probe(&cb, &held, cap))
            })
            .collect();
        assert_eq!(cb.state(), State::HalfOpen);
        let mut rejected = probe(&cb, &held, cap);
        for h in handles {
            rejected += h.join().unwrap();
        }

        assert_eq!(
            events.counts(),
            (1, 1, 0),
            "one OPEN -> HALF_OPEN transition"
        );
        assert_eq!(fusebox::__loom::generation(&cb), 2);
        let s = cb.snapshot();
        assert_eq!(s.state, State::HalfOpen);
        assert_eq!(s.half_open_calls, 0, "every probe slot was freed");
        assert_eq!(s.total_rejected, rejected);
        assert_eq!((s.total_successes, s.total_failures), (0, 1));
    });
}

#[test]
fn half_open_admission_cap_1() {
    admission(1);
}

#[test]
fn half_open_admission_cap_2() {
    admission(2);
}

/// OPEN with `open_duration` elapsed, `half_open_max_calls(2)`: two threads
/// ask for a permit. There are enough slots for both, so both must be
/// admitted as probes (R4 admits the first, R5 the second), whichever of
/// them makes the OPEN -> HALF_OPEN transition. (Found a bug in db7a068:
/// the loser of that transition read the new state's stamp as 0 elapsed
/// and was rejected as OPEN with a full `retry_after`; fixed in 1e1ebc9.)
#[test]
fn no_spurious_open_rejection() {
    model(None, || {
        let (b, mock, events) = builder(1, 2);
        let cb = Arc::new(b.build().unwrap());
        cb.try_acquire().unwrap().failure();
        mock.increment(OPEN);

        let handles: Vec<_> = (0..2)
            .map(|_| {
                let cb = cb.clone();
                thread::spawn(move || match cb.try_acquire() {
                    Ok(p) => assert!(p.is_probe()),
                    Err(r) => panic!(
                        "rejected with a free probe slot: {r} (state word generation {})",
                        fusebox::__loom::generation(&cb)
                    ),
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(events.counts(), (1, 1, 0));
        assert_eq!(cb.snapshot().half_open_calls, 0);
    });
}
