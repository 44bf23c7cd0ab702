//! The state stamp keeps a few generation bits only (6; 2 under loom), so a
//! thread that loaded the state word long ago must not trust a stamp that
//! merely matches those bits, nor write its old generation over a newer
//! stamp.
//!
//! Setup (main): trip the breaker (OPEN, generation 1) and let
//! `open_duration` pass. A thread queries `state()`, which may load the OPEN
//! word and then be preempted. Main meanwhile takes the probe (HALF_OPEN,
//! generation 2), reports success (CLOSED, 3) and trips again with one
//! failure (OPEN, 4): with 2 stamp bits, generation 4 looks like 0, which an
//! aliasing test takes for "older than 1". Afterwards the stamp must belong
//! to generation 4, the breaker must be OPEN for a full `open_duration`, and
//! a state query must return (the old protocol let the stalled thread write
//! generation 1 over the stamp, after which every query spun).
#![cfg(fusebox_loom)]

use std::time::Duration;

use fusebox::State;
use fusebox_loom_tests::{builder, model, OPEN};
use loom::sync::Arc;
use loom::thread;

#[test]
fn stalled_query_vs_three_transitions() {
    model(None, || {
        let (b, mock, events) = builder(1, 1);
        let cb = Arc::new(b.build().unwrap());
        cb.try_acquire().unwrap().failure();
        mock.increment(OPEN);
        assert_eq!(fusebox::__loom::generation(&cb), 1);

        let query = {
            let cb = cb.clone();
            thread::spawn(move || cb.state())
        };
        // The query may have moved OPEN -> HALF_OPEN itself; either way main
        // gets the only probe.
        let probe = cb.try_acquire().expect("the probe");
        assert!(probe.is_probe());
        probe.success();
        cb.try_acquire().expect("closed").failure();
        // Any state is a valid answer: the query may land anywhere in the cycle.
        let _ = query.join().unwrap();

        assert_eq!(fusebox::__loom::generation(&cb), 4);
        assert!(fusebox::__loom::stamp_is_current(&cb), "stale stamp write");
        assert_eq!(cb.state(), State::Open);
        assert_eq!(events.counts(), (2, 1, 1));
        let rejected = cb.try_acquire().expect_err("OPEN rejects");
        assert_eq!(rejected.state(), State::Open);
        assert_eq!(rejected.retry_after(), Some(OPEN));
        let left = cb.snapshot().open_remaining;
        assert_eq!(left, Some(OPEN), "a full open_duration remains");
        mock.increment(OPEN - Duration::from_nanos(1));
        assert_eq!(cb.state(), State::Open);
    });
}
