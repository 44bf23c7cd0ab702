//! The transition rules of SPEC §3, one or more tests per rule (R1–R13), driven
//! by a mock clock so every figure is exact.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fusebox::quanta::{Clock, Mock};
use fusebox::{
    Backoff, Builder, CallError, CircuitBreaker, ClockMode, Outcome, Reason, Registry, State,
    StateChange,
};

// ---- helpers ---------------------------------------------------------------

const OPEN: Duration = Duration::from_secs(30);
const RESET: Duration = Duration::from_secs(10);

/// One transition the listener saw: (from, to, reason, generation).
type Seen = (State, State, Reason, u64);

#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<Seen>>>);

impl Events {
    fn list(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }
    fn transitions(&self) -> Vec<(State, State)> {
        self.list().iter().map(|e| (e.0, e.1)).collect()
    }
    fn reasons(&self) -> Vec<Reason> {
        self.list().iter().map(|e| e.2).collect()
    }
}

/// A builder with a mock clock and a listener, the given thresholds, and
/// the error-rate rule out of the way unless a test turns it on.
fn rig(b: Builder) -> (CircuitBreaker, Arc<Mock>, Events) {
    let (clock, mock) = Clock::mock();
    let events = Events::default();
    let sink = events.clone();
    let cb = b
        .clock(clock)
        .on_state_change(move |c: &StateChange<'_>| {
            sink.0
                .lock()
                .unwrap()
                .push((c.from, c.to, c.reason, c.generation));
        })
        .build()
        .expect("valid configuration");
    (cb, mock, events)
}

/// consecutive threshold `n`, error rate unreachable, OPEN/RESET durations,
/// `probes` half-open slots.
fn consecutive(n: u32, probes: u32) -> Builder {
    CircuitBreaker::builder("cb")
        .consecutive_failure_threshold(n)
        .min_calls_for_error_rate(1_000_000)
        .open_duration(OPEN)
        .reset_timeout(RESET)
        .half_open_max_calls(probes)
}

fn ok(cb: &CircuitBreaker) {
    cb.call(|| Ok::<(), ()>(())).expect("admitted and ok");
}

fn fail(cb: &CircuitBreaker) {
    match cb.call(|| Err::<(), _>("boom")) {
        Err(CallError::Failed("boom")) => {}
        other => panic!("expected an admitted failure, got {other:?}"),
    }
}

/// Opens a `consecutive(n, _)` breaker with `n` failures.
fn trip(cb: &CircuitBreaker, n: u32) {
    for _ in 0..n {
        fail(cb);
    }
    assert_eq!(cb.state(), State::Open);
}

/// Opens, then waits `OPEN` so the breaker is half-open.
fn to_half_open(cb: &CircuitBreaker, mock: &Mock, n: u32) {
    trip(cb, n);
    mock.increment(OPEN);
    assert_eq!(cb.state(), State::HalfOpen);
}

// ---- R1 --------------------------------------------------------------------

#[test]
fn r1_consecutive_failures_open() {
    let (cb, _mock, ev) = rig(consecutive(3, 1));
    fail(&cb);
    fail(&cb);
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.snapshot().consecutive_failures, 2);
    fail(&cb);
    assert_eq!(cb.state(), State::Open);
    let s = cb.snapshot();
    assert_eq!(s.consecutive_failures, 3);
    assert_eq!(s.total_failures, 3);
    assert_eq!(ev.transitions(), vec![(State::Closed, State::Open)]);
    assert_eq!(
        ev.reasons(),
        vec![Reason::ConsecutiveFailures {
            failures: 3,
            threshold: 3
        }]
    );
}

#[test]
fn r1_success_resets_the_consecutive_count() {
    let (cb, _mock, ev) = rig(consecutive(3, 1));
    fail(&cb);
    fail(&cb);
    ok(&cb);
    assert_eq!(cb.snapshot().consecutive_failures, 0);
    fail(&cb);
    fail(&cb);
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.snapshot().consecutive_failures, 2);
    fail(&cb);
    assert_eq!(cb.state(), State::Open);
    assert_eq!(ev.list().len(), 1);
}

#[test]
fn r1_threshold_one_opens_on_first_failure() {
    let (cb, _mock, _ev) = rig(consecutive(1, 1));
    ok(&cb);
    assert_eq!(cb.state(), State::Closed);
    fail(&cb);
    assert_eq!(cb.state(), State::Open);
}

// ---- R2 --------------------------------------------------------------------

/// Error rate 50 % over >= 10 calls, consecutive rule out of the way.
fn rate(threshold: f64, min_calls: u32) -> Builder {
    CircuitBreaker::builder("rate")
        .consecutive_failure_threshold(1_000_000)
        .error_threshold_percentage(threshold)
        .min_calls_for_error_rate(min_calls)
        .monitoring_window(Duration::from_secs(10))
        .window_buckets(10)
        .open_duration(OPEN)
        .reset_timeout(RESET)
}

#[test]
fn r2_error_rate_opens_at_threshold() {
    let (cb, _mock, ev) = rig(rate(50.0, 10));
    for _ in 0..5 {
        ok(&cb);
    }
    for _ in 0..4 {
        fail(&cb);
    }
    assert_eq!(cb.state(), State::Closed, "9 calls < min_calls");
    let s = cb.snapshot();
    assert_eq!(s.recent_calls, 9);
    assert!(
        (s.error_rate - 400.0 / 9.0).abs() < 1e-9,
        "{}",
        s.error_rate
    );
    fail(&cb); // 5 of 10 = 50 %
    assert_eq!(cb.state(), State::Open);
    assert_eq!(
        ev.reasons(),
        vec![Reason::ErrorRate {
            rate: 50.0,
            failures: 5,
            calls: 10,
            threshold: 50.0
        }]
    );
    let s = cb.snapshot();
    assert_eq!(s.recent_calls, 10, "the window survives opening");
    assert_eq!(s.error_rate, 50.0);
}

/// A failure whose clock reading is behind the newest bucket (here the
/// clock steps back across a boundary) sees a window a newer bucket has
/// shrunk: with a ring of two slots, bucket 2 recycled bucket 0's slot, and
/// bucket 1's window lost its six successes. R2 must see that at once, even
/// though a scan in bucket 1 had granted its next failures a skip.
#[test]
fn r2_a_failure_behind_the_newest_bucket_scans_again() {
    const MS: Duration = Duration::from_millis(1);
    let (clock, mock) = Clock::mock();
    let cb = CircuitBreaker::builder("r2-behind")
        .consecutive_failure_threshold(1_000)
        .min_calls_for_error_rate(1)
        .error_threshold_percentage(50.0)
        .monitoring_window(Duration::from_secs(1))
        .window_buckets(2)
        .stripes(1) // one ring of two slots, whichever stripe a thread gets
        .clock(clock)
        .build()
        .unwrap();
    let ok = || cb.call(|| Ok::<(), ()>(())).unwrap();
    let bad = || {
        let _ = cb.call(|| Err::<(), ()>(()));
    };
    for _ in 0..6 {
        ok(); // bucket 0
    }
    mock.increment(600 * MS);
    bad(); // bucket 1: 1 of 7, the scan grants the next failures a skip
    assert_eq!(cb.state(), State::Closed);
    mock.increment(500 * MS);
    ok(); // bucket 2 recycles bucket 0's slot
    mock.decrement(500 * MS); // back into bucket 1, whose window is now 1 of 1
    bad();
    let s = cb.snapshot();
    assert!(s.error_rate >= 50.0, "{s:?}");
    assert_eq!(s.state, State::Open, "R2 trips on the first such failure");
}

/// The scan budget keeps 36 bits of a grant's epoch. A failure exactly
/// 2^36 buckets (795 days of 1 ms buckets) after a grant, with no failure
/// checking R2 in between, matched them and skipped its scan while its
/// window was 1 failure of 1 call; the breaker stayed closed for as many
/// failures as the old grant had left (found by an audit of the budget).
#[test]
fn r2_a_grant_2_pow_36_buckets_old_is_not_spent() {
    for mode in [ClockMode::Precise, ClockMode::Recent] {
        let (clock, mock) = Clock::mock();
        let cb = CircuitBreaker::builder("r2-alias")
            .consecutive_failure_threshold(1_000)
            .min_calls_for_error_rate(1)
            .error_threshold_percentage(50.0)
            .monitoring_window(Duration::from_secs(1))
            .window_buckets(1000)
            .stripes(1)
            .clock(clock)
            .clock_mode(mode)
            .build()
            .unwrap();
        for _ in 0..100 {
            cb.call(|| Ok::<(), ()>(())).unwrap();
        }
        let _ = cb.call(|| Err::<(), ()>(())); // 1 of 101: a grant of 98 skips
        assert_eq!(cb.state(), State::Closed);
        mock.increment(Duration::from_millis(1 << 36)); // 2^36 buckets on
        let _ = cb.call(|| Err::<(), ()>(()));
        let s = cb.snapshot();
        assert_eq!((s.recent_calls, s.error_rate), (1, 100.0), "{mode:?}");
        assert_eq!(s.state, State::Open, "{mode:?}: R2 trips at once");
    }
}

#[test]
fn r2_below_threshold_stays_closed() {
    let (cb, _mock, _ev) = rig(rate(50.0, 10));
    // 4 failures in 10 calls, then keep the rate at 40 %.
    for i in 0..20 {
        if i % 5 >= 3 {
            fail(&cb);
        } else {
            ok(&cb);
        }
    }
    let s = cb.snapshot();
    assert_eq!(s.state, State::Closed);
    assert_eq!(s.recent_calls, 20);
    assert_eq!(s.error_rate, 40.0);
}

#[test]
fn r2_fewer_than_min_calls_never_trip() {
    let (cb, _mock, _ev) = rig(rate(50.0, 10));
    for _ in 0..9 {
        fail(&cb);
    }
    let s = cb.snapshot();
    assert_eq!(s.state, State::Closed);
    assert_eq!(s.error_rate, 100.0);
    fail(&cb);
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn r2_only_a_failure_can_trip() {
    let (cb, _mock, _ev) = rig(rate(50.0, 10));
    for _ in 0..4 {
        ok(&cb);
    }
    for _ in 0..5 {
        fail(&cb);
    }
    ok(&cb); // 5 of 10 = 50 %, but a success is not evaluated
    assert_eq!(cb.state(), State::Closed);
    fail(&cb); // 6 of 11
    assert_eq!(cb.state(), State::Open);
}

/// For a call made at `offset` into a bucket: still counted at
/// `offset + window - w`, gone at `offset + window + w`.
fn window_bounds(window: Duration, buckets: u32) {
    let w_nanos = (window.as_nanos() as u64).div_ceil(u64::from(buckets));
    let w = Duration::from_nanos(w_nanos);
    let offsets = [
        Duration::ZERO,
        Duration::from_nanos(1),
        w / 2,
        w - Duration::from_nanos(1),
        w,
        w * 3 + w / 3,
    ];
    for offset in offsets {
        let (cb, mock, _ev) = rig(CircuitBreaker::builder("w")
            .monitoring_window(window)
            .window_buckets(buckets)
            .min_calls_for_error_rate(1_000)
            .consecutive_failure_threshold(1_000));
        mock.increment(offset);
        fail(&cb);
        assert_eq!(cb.snapshot().recent_calls, 1);
        // At least window - w.
        mock.increment(window - w);
        let s = cb.snapshot();
        assert_eq!(
            s.recent_calls, 1,
            "window {window:?}/{buckets}, offset {offset:?}: dropped before window - w"
        );
        assert_eq!(s.error_rate, 100.0);
        // At most window + w.
        mock.increment(w * 2);
        let s = cb.snapshot();
        assert_eq!(
            s.recent_calls, 0,
            "window {window:?}/{buckets}, offset {offset:?}: still counted at window + w"
        );
        assert_eq!(s.error_rate, 0.0, "an empty window has rate 0");
        assert_eq!(s.total_failures, 1, "totals are for ever");
    }
}

#[test]
fn r2_call_stays_counted_at_least_window_minus_w_and_at_most_window_plus_w() {
    window_bounds(Duration::from_secs(10), 10);
    window_bounds(Duration::from_secs(60), 10); // defaults
    window_bounds(Duration::from_secs(10), 3); // w = ceil(10 s / 3)
    window_bounds(Duration::from_secs(1), 1);
    window_bounds(Duration::from_millis(1000), 1000); // w = 1 ms
    window_bounds(Duration::from_millis(7), 7);
}

#[test]
fn r2_expired_failures_do_not_trip() {
    // window 10 s, w = 1 s
    let (cb, mock, _ev) = rig(rate(50.0, 4));
    for _ in 0..3 {
        fail(&cb);
    }
    mock.increment(Duration::from_secs(11)); // window + w
    fail(&cb);
    let s = cb.snapshot();
    assert_eq!(s.state, State::Closed, "the 3 old failures expired");
    assert_eq!(s.recent_calls, 1);
    for _ in 0..3 {
        fail(&cb);
    }
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn r2_failures_inside_window_trip() {
    let (cb, mock, _ev) = rig(rate(50.0, 4));
    for _ in 0..3 {
        fail(&cb);
    }
    mock.increment(Duration::from_secs(9)); // window - w
    fail(&cb);
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn r2_rejected_calls_never_enter_the_window() {
    let (cb, mock, _ev) = rig(rate(50.0, 4)
        .half_open_max_calls(1)
        .monitoring_window(Duration::from_secs(100)));
    ok(&cb);
    for _ in 0..3 {
        fail(&cb);
    }
    assert_eq!(cb.state(), State::Open);
    let before = cb.snapshot();
    assert_eq!((before.recent_calls, before.error_rate), (4, 75.0));
    // Rejections while OPEN.
    assert!(cb.call(|| Ok::<(), ()>(())).unwrap_err().is_rejected());
    assert!(cb.try_acquire().is_err());
    assert!(!cb.allow_request());
    let s = cb.snapshot();
    assert_eq!((s.recent_calls, s.error_rate), (4, 75.0));
    assert_eq!(s.total_rejected, 3);
    // Rejections while HALF_OPEN with the slot taken.
    mock.increment(OPEN);
    let probe = cb.try_acquire().expect("first probe");
    for _ in 0..5 {
        assert!(cb.try_acquire().is_err());
    }
    let s = cb.snapshot();
    assert_eq!((s.recent_calls, s.error_rate), (4, 75.0));
    assert_eq!(s.total_rejected, 8);
    assert_eq!(s.total_calls, 4);
    drop(probe);
}

#[test]
fn r2_threshold_hundred_needs_every_call_failed() {
    let (cb, _mock, _ev) = rig(rate(100.0, 3));
    ok(&cb);
    fail(&cb);
    fail(&cb);
    fail(&cb);
    assert_eq!(cb.state(), State::Closed, "75 % < 100 %");
}

/// The scan budget skips only scans that could not trip: after 10 successes
/// and a failure (1/11), eight failures may skip, and the tenth failure, at
/// exactly 50 % (10/20), trips with the figures a full scan gives.
#[test]
fn r2_skipped_scans_never_delay_a_trip() {
    let (cb, _mock, ev) = rig(rate(50.0, 10));
    for _ in 0..10 {
        ok(&cb);
    }
    for i in 1..10 {
        fail(&cb);
        assert_eq!(cb.state(), State::Closed, "{i}/{} < 50 %", 10 + i);
    }
    fail(&cb);
    assert_eq!(cb.state(), State::Open);
    assert_eq!(
        ev.reasons(),
        vec![Reason::ErrorRate {
            rate: 50.0,
            failures: 10,
            calls: 20,
            threshold: 50.0
        }]
    );
}

/// A budget granted in one era is not spent in the next: after closing, the
/// window is empty and the new era's failures are judged on it alone.
#[test]
fn r2_budget_does_not_outlive_closing() {
    let b = rate(50.0, 4)
        .consecutive_failure_threshold(3)
        .monitoring_window(Duration::from_secs(600))
        .open_duration(Duration::from_secs(1))
        .half_open_max_calls(1);
    let (cb, mock, ev) = rig(b);
    for _ in 0..10 {
        ok(&cb);
    }
    // The first failure scans 1/11 and grants 8; the third trips on R1
    // with most of that grant unspent, all in the same 60 s bucket.
    for _ in 0..3 {
        fail(&cb);
    }
    assert_eq!(cb.state(), State::Open);
    mock.increment(Duration::from_secs(1));
    ok(&cb); // the probe closes the breaker: a new era, an empty window
    assert_eq!(cb.state(), State::Closed);
    ok(&cb);
    fail(&cb);
    ok(&cb);
    assert_eq!(cb.state(), State::Closed, "3 calls < min_calls");
    fail(&cb); // 2 of 4 = 50 %
    assert_eq!(cb.state(), State::Open);
    assert_eq!(
        ev.reasons().last(),
        Some(&Reason::ErrorRate {
            rate: 50.0,
            failures: 2,
            calls: 4,
            threshold: 50.0
        })
    );
}

// ---- R3 --------------------------------------------------------------------

#[test]
fn r3_open_rejects_without_running_the_protected_code() {
    let (cb, _mock, _ev) = rig(consecutive(1, 1));
    fail(&cb);
    let mut ran = false;
    let r = cb.call(|| {
        ran = true;
        Ok::<(), ()>(())
    });
    assert!(!ran, "the protected code must not run while OPEN");
    let rejected = r.unwrap_err().rejected().cloned().expect("rejected");
    assert_eq!(rejected.state(), State::Open);
    assert_eq!(rejected.name(), "cb");
    assert_eq!(rejected.retry_after(), Some(OPEN));
    let r = cb.call_with_fallback(
        || -> Result<u8, ()> {
            ran = true;
            Ok(1)
        },
        |_| 2,
    );
    assert_eq!(r, Ok(2));
    assert!(!ran);
}

#[test]
fn r3_retry_after_decreases_with_time() {
    let (cb, mock, _ev) = rig(consecutive(1, 1));
    fail(&cb);
    let retry = |cb: &CircuitBreaker| cb.try_acquire().unwrap_err().retry_after();
    assert_eq!(retry(&cb), Some(OPEN));
    mock.increment(Duration::from_secs(10));
    assert_eq!(retry(&cb), Some(OPEN - Duration::from_secs(10)));
    assert_eq!(
        cb.snapshot().open_remaining,
        Some(OPEN - Duration::from_secs(10))
    );
    mock.increment(OPEN - Duration::from_secs(10) - Duration::from_nanos(1));
    assert_eq!(retry(&cb), Some(Duration::from_nanos(1)));
    assert_eq!(cb.state(), State::Open);
}

// ---- R4 --------------------------------------------------------------------

#[test]
fn r4_state_reports_half_open_after_open_duration() {
    let (cb, mock, ev) = rig(consecutive(1, 2));
    fail(&cb);
    mock.increment(OPEN - Duration::from_nanos(1));
    assert_eq!(cb.state(), State::Open);
    mock.increment(Duration::from_nanos(1));
    assert_eq!(cb.state(), State::HalfOpen);
    let s = cb.snapshot();
    assert_eq!(s.state, State::HalfOpen);
    assert_eq!(s.half_open_calls, 0);
    assert_eq!(s.open_remaining, None);
    assert_eq!(
        ev.transitions(),
        vec![(State::Closed, State::Open), (State::Open, State::HalfOpen)]
    );
    assert_eq!(ev.reasons()[1], Reason::OpenDurationElapsed);
    // The request that arrives is admitted as a probe.
    let p = cb.try_acquire().expect("admitted as a probe");
    assert!(p.is_probe());
    assert_eq!(cb.snapshot().half_open_calls, 1);
    p.success();
}

#[test]
fn r4_first_request_after_open_duration_is_the_probe() {
    let (cb, mock, ev) = rig(consecutive(1, 1));
    fail(&cb);
    mock.increment(OPEN);
    // No state() query first: the request itself makes the transition.
    let p = cb.try_acquire().expect("admitted");
    assert!(p.is_probe());
    assert_eq!(cb.snapshot().half_open_calls, 1);
    assert!(cb.try_acquire().is_err(), "the only slot is taken");
    p.success();
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(
        ev.transitions(),
        vec![
            (State::Closed, State::Open),
            (State::Open, State::HalfOpen),
            (State::HalfOpen, State::Closed)
        ]
    );
}

#[test]
fn r4_idle_breaker_recovers_on_its_next_request() {
    let (cb, mock, ev) = rig(consecutive(1, 1));
    fail(&cb);
    // Idle far longer than open_duration + reset_timeout.
    mock.increment(OPEN + RESET * 50);
    assert_eq!(cb.call(|| Ok::<_, ()>(7)).unwrap(), 7);
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(
        ev.reasons()[1..],
        [
            Reason::OpenDurationElapsed,
            Reason::ProbesSucceeded { successes: 1 }
        ]
    );
}

#[test]
fn r4_breaker_idle_for_two_years_recovers() {
    let (cb, mock, _ev) = rig(consecutive(1, 1));
    fail(&cb);
    mock.increment(Duration::from_secs(500 * 24 * 3600));
    assert_eq!(cb.state(), State::HalfOpen);
}

/// An `open_duration` of any length is timed exactly: years, and the
/// longest a `Duration` in nanoseconds holds (584 years).
#[test]
fn r4_a_long_open_duration_is_timed_exactly() {
    for years in [3u64, 500] {
        let long = Duration::from_secs(years * YEAR);
        let (cb, mock, _ev) = rig(consecutive(1, 1).open_duration(long));
        fail(&cb);
        assert_eq!(cb.try_acquire().unwrap_err().retry_after(), Some(long));
        mock.increment(long - Duration::from_secs(1));
        let r = cb.try_acquire().unwrap_err();
        assert_eq!(
            r.retry_after(),
            Some(Duration::from_secs(1)),
            "{years} years"
        );
        assert_eq!(cb.state(), State::Open);
        mock.increment(Duration::from_secs(1));
        assert!(cb.try_acquire().unwrap().is_probe(), "{years} years");
    }
    let (cb, _mock, _ev) = rig(consecutive(1, 1).open_duration(Duration::MAX));
    fail(&cb);
    let left = cb.try_acquire().unwrap_err().retry_after().unwrap();
    assert_eq!(left, Duration::from_nanos(u64::MAX - 1), "584 years");
}

const YEAR: u64 = 365 * 86_400;

/// An OPEN breaker left untouched for years half-opens on its next request:
/// three years (past the 2^56 ns the stamp's 57 time bits can read as an
/// age), and idle times that are whole turns of those bits plus a second,
/// which the stamp alone reads as one second old.
#[test]
fn r4_an_open_breaker_idle_for_years_half_opens_on_its_next_request() {
    let turn = Duration::from_nanos(1 << 57);
    for idle in [
        Duration::from_secs(3 * YEAR),
        turn + Duration::from_secs(1),
        turn * 3 + Duration::from_secs(1),
        Duration::from_secs(500 * YEAR),
    ] {
        let (cb, mock, ev) = rig(consecutive(1, 1));
        fail(&cb);
        mock.increment(idle);
        let permit = cb
            .try_acquire()
            .unwrap_or_else(|r| panic!("idle {idle:?}: rejected: {r}"));
        assert!(permit.is_probe());
        assert_eq!(cb.snapshot().state_duration, Duration::ZERO);
        permit.success();
        assert_eq!(cb.state(), State::Closed, "idle {idle:?}");
        assert_eq!(ev.transitions().len(), 3);
    }
    // The snapshot reads the age of an OPEN state that old, too.
    let (cb, mock, _ev) = rig(consecutive(1, 1).open_duration(Duration::from_secs(500 * YEAR)));
    fail(&cb);
    mock.increment(Duration::from_secs(3 * YEAR));
    let s = cb.snapshot();
    assert_eq!(s.state_duration, Duration::from_secs(3 * YEAR));
    assert_eq!(s.open_remaining, Some(Duration::from_secs(497 * YEAR)));
}

// ---- R5 --------------------------------------------------------------------

#[test]
fn r5_half_open_caps_probes_in_flight() {
    let (cb, mock, _ev) = rig(consecutive(1, 3));
    to_half_open(&cb, &mock, 1);
    let p1 = cb.try_acquire().unwrap();
    let p2 = cb.try_acquire().unwrap();
    let p3 = cb.try_acquire().unwrap();
    assert!(p1.is_probe() && p2.is_probe() && p3.is_probe());
    assert_eq!(cb.snapshot().half_open_calls, 3);
    let r = cb.try_acquire().unwrap_err();
    assert_eq!(r.state(), State::HalfOpen);
    assert_eq!(r.retry_after(), None);
    assert_eq!(
        r.to_string(),
        "circuit breaker 'cb' is half-open, all 3 probe slots are taken"
    );
    let mut ran = false;
    assert!(cb
        .call(|| {
            ran = true;
            Ok::<(), ()>(())
        })
        .unwrap_err()
        .is_rejected());
    assert!(!ran);
    // A success frees its slot (and does not close yet: 1 of 3).
    p1.success();
    assert_eq!(cb.state(), State::HalfOpen);
    assert_eq!(cb.snapshot().half_open_calls, 2);
    let p4 = cb.try_acquire().expect("a slot was freed");
    assert!(cb.try_acquire().is_err());
    assert_eq!(cb.snapshot().total_rejected, 3);
    drop((p2, p3, p4));
    assert_eq!(cb.snapshot().half_open_calls, 0);
}

#[test]
fn r5_allow_request_takes_a_probe_slot() {
    let (cb, mock, _ev) = rig(consecutive(1, 2));
    to_half_open(&cb, &mock, 1);
    assert!(cb.allow_request());
    assert!(cb.allow_request());
    assert_eq!(cb.snapshot().half_open_calls, 2);
    assert!(!cb.allow_request());
    cb.on_success(); // releases one slot as a success
    assert_eq!(cb.snapshot().half_open_calls, 1);
    assert_eq!(cb.state(), State::HalfOpen);
    assert!(cb.allow_request());
    assert!(!cb.allow_request());
    cb.on_success();
    assert_eq!(cb.state(), State::Closed, "2 of 2 probes succeeded");
    cb.on_success(); // the leftover slot's verdict: CLOSED now
    let s = cb.snapshot();
    assert_eq!(s.total_rejected, 2);
    assert_eq!(s.total_successes, 3);
    assert_eq!(s.total_failures, 1);
}

// ---- R6 --------------------------------------------------------------------

#[test]
fn r6_closes_after_max_successes_with_window_and_consecutive_cleared() {
    let (cb, mock, ev) = rig(consecutive(3, 3));
    ok(&cb);
    ok(&cb);
    to_half_open(&cb, &mock, 3);
    assert_eq!(cb.snapshot().consecutive_failures, 3);
    for i in 0..3 {
        assert_eq!(cb.state(), State::HalfOpen, "after {i} successes");
        let p = cb.try_acquire().unwrap();
        assert!(p.is_probe());
        p.success();
    }
    assert_eq!(cb.state(), State::Closed);
    let s = cb.snapshot();
    assert_eq!(s.recent_calls, 0, "window cleared");
    assert_eq!(s.consecutive_failures, 0, "consecutive count cleared");
    assert_eq!(s.error_rate, 0.0);
    assert_eq!(s.half_open_calls, 0);
    assert_eq!((s.total_successes, s.total_failures), (5, 3));
    assert_eq!(
        ev.list().last().unwrap().2,
        Reason::ProbesSucceeded { successes: 3 }
    );
    // The count starts from zero again.
    fail(&cb);
    fail(&cb);
    assert_eq!(cb.state(), State::Closed);
    fail(&cb);
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn r6_window_cleared_on_close_error_rate_starts_fresh() {
    let (cb, mock, _ev) = rig(rate(50.0, 4).half_open_max_calls(1));
    for _ in 0..4 {
        fail(&cb);
    }
    assert_eq!(cb.state(), State::Open);
    mock.increment(OPEN);
    ok(&cb); // the probe closes it
    assert_eq!(cb.state(), State::Closed);
    // With the old failures gone, 3 calls (2 failed) cannot trip.
    fail(&cb);
    ok(&cb);
    fail(&cb);
    let s = cb.snapshot();
    assert_eq!(s.state, State::Closed);
    assert_eq!(s.recent_calls, 3);
    fail(&cb); // 3 of 4
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn r6_concurrent_probes_close_on_the_last_success() {
    let (cb, mock, _ev) = rig(consecutive(1, 3));
    to_half_open(&cb, &mock, 1);
    let ps = [
        cb.try_acquire().unwrap(),
        cb.try_acquire().unwrap(),
        cb.try_acquire().unwrap(),
    ];
    let [a, b, c] = ps;
    a.success();
    b.success();
    assert_eq!(cb.state(), State::HalfOpen);
    c.success();
    assert_eq!(cb.state(), State::Closed);
}

/// Eras are the low 8 bits of the generation, which counts transitions, so
/// after 256 transitions an old CLOSED era's buckets can be read again.
#[test]
fn r6_window_stays_cleared_after_many_reopens() {
    let (cb, mock, _ev) = rig(CircuitBreaker::builder("era")
        .consecutive_failure_threshold(1)
        .min_calls_for_error_rate(1_000)
        .monitoring_window(Duration::from_secs(1000))
        .window_buckets(1000)
        .open_duration(Duration::from_millis(1))
        .half_open_max_calls(1));
    // Generation 0 (CLOSED): five successes in bucket 0, then trip.
    for _ in 0..5 {
        ok(&cb);
    }
    mock.increment(Duration::from_secs(1)); // later calls go to other buckets
    fail(&cb); // gen 1 OPEN
    mock.increment(Duration::from_millis(1));
    ok(&cb); // gen 2 HALF_OPEN, gen 3 CLOSED
    assert_eq!(cb.snapshot().recent_calls, 0);
    fail(&cb); // gen 4 OPEN
               // gen 5 HALF_OPEN, then fail/reopen until a HALF_OPEN of generation 255.
    let mut gen = 4;
    while gen < 255 {
        mock.increment(Duration::from_millis(1));
        let p = cb.try_acquire().unwrap(); // HALF_OPEN gen + 1
        gen += 1;
        if gen == 255 {
            p.success(); // CLOSED, generation 256
            gen += 1;
        } else {
            p.failure(); // OPEN gen + 1
            gen += 1;
        }
    }
    assert_eq!(cb.state(), State::Closed);
    let s = cb.snapshot();
    assert_eq!(s.recent_calls, 0, "just closed: the window must be empty");
}

// ---- R7 --------------------------------------------------------------------

#[test]
fn r7_any_probe_failure_reopens_with_a_fresh_open_duration() {
    let (cb, mock, ev) = rig(consecutive(1, 3));
    fail(&cb);
    mock.increment(OPEN + Duration::from_secs(5));
    let p1 = cb.try_acquire().unwrap();
    let p2 = cb.try_acquire().unwrap();
    let p3 = cb.try_acquire().unwrap();
    p1.success();
    mock.increment(Duration::from_secs(7));
    p2.failure();
    assert_eq!(cb.state(), State::Open);
    let r = cb.try_acquire().unwrap_err();
    assert_eq!(r.retry_after(), Some(OPEN), "a fresh open_duration");
    let s = cb.snapshot();
    assert_eq!(s.open_remaining, Some(OPEN));
    assert_eq!(s.state_duration, Duration::ZERO);
    assert_eq!(ev.list().last().unwrap().2, Reason::ProbeFailed);
    // The last probe's late success is stale: still OPEN, but counted.
    p3.success();
    let s = cb.snapshot();
    assert_eq!(s.state, State::Open);
    assert_eq!((s.total_successes, s.total_failures), (2, 2));
    mock.increment(OPEN - Duration::from_nanos(1));
    assert_eq!(cb.state(), State::Open);
    mock.increment(Duration::from_nanos(1));
    assert_eq!(cb.state(), State::HalfOpen);
}

/// An unticketed verdict of a call admitted while CLOSED, arriving while
/// HALF_OPEN probes are held as permits, frees none of their slots: no
/// unticketed admission of this half-open period is owed one. (It did,
/// and a third probe got in with `half_open_max_calls = 2`.)
#[test]
fn r5_an_unticketed_verdict_never_frees_a_permits_slot() {
    let (cb, mock, _ev) = rig(consecutive(1, 2));
    assert!(cb.allow_request(), "call A, admitted while CLOSED");
    to_half_open(&cb, &mock, 1);
    let p1 = cb.try_acquire().unwrap();
    cb.on_success(); // A's verdict, paired as the unticketed API asks
    let s = cb.snapshot();
    assert_eq!((s.half_open_calls, s.total_successes), (1, 1));
    let p2 = cb.try_acquire().unwrap();
    assert!(cb.try_acquire().is_err(), "two probes in flight, cap 2");
    assert_eq!(cb.state(), State::HalfOpen);
    p1.success();
    p2.success();
    assert_eq!(
        cb.state(),
        State::Closed,
        "the permits' two successes close"
    );
}

/// The same with unticketed probes: each unticketed verdict releases a slot a
/// unticketed admission of this half-open period took, never more, and one
/// owed to an earlier half-open period is not carried into the next.
#[test]
fn r5_unticketed_verdicts_release_only_unticketed_slots_of_this_period() {
    let (cb, mock, ev) = rig(consecutive(1, 2));
    to_half_open(&cb, &mock, 1);
    assert!(cb.allow_request());
    let permit = cb.try_acquire().unwrap();
    cb.on_success(); // the unticketed probe's verdict
    cb.on_success(); // one too many: no unticketed slot is owed
    let s = cb.snapshot();
    assert_eq!((s.half_open_calls, s.total_successes), (1, 2));
    assert_eq!(s.state, State::HalfOpen, "one probe success of 2");
    // Another half-open period: an unticketed slot taken in the last one and
    // never released is not owed in this one.
    assert!(cb.allow_request());
    permit.failure(); // reopens, with the unticketed probe still out
    mock.increment(OPEN);
    let p = cb.try_acquire().unwrap();
    cb.on_failure(); // the old unticketed probe's late verdict
    assert_eq!(
        cb.state(),
        State::HalfOpen,
        "a stale unticketed failure never reopens"
    );
    p.success();
    assert_eq!(
        ev.list().len(),
        4,
        "open, half-open, open, half-open: and no more"
    );
}

/// R9's own example, with the unticketed API: a call admitted while CLOSED that
/// fails after the breaker opened and went half-open does not reopen it.
#[test]
fn r9_an_unticketed_failure_admitted_while_closed_does_not_reopen() {
    let (cb, mock, _ev) = rig(consecutive(1, 1));
    assert!(cb.allow_request(), "the slow call, admitted while CLOSED");
    to_half_open(&cb, &mock, 1);
    let probe = cb.try_acquire().unwrap();
    cb.on_failure(); // the slow call fails now
    assert_eq!(cb.state(), State::HalfOpen);
    assert_eq!(cb.snapshot().total_failures, 2, "counted in the totals");
    probe.success();
    assert_eq!(cb.state(), State::Closed);
}

#[test]
fn r7_unticketed_failure_reopens() {
    let (cb, mock, ev) = rig(consecutive(1, 2));
    to_half_open(&cb, &mock, 1);
    assert!(cb.allow_request());
    cb.on_failure();
    assert_eq!(cb.state(), State::Open);
    assert_eq!(cb.try_acquire().unwrap_err().retry_after(), Some(OPEN));
    assert_eq!(ev.list().len(), 3);
}

// ---- R8 --------------------------------------------------------------------

#[test]
fn r8_reset_timeout_with_a_success_closes() {
    let (cb, mock, ev) = rig(consecutive(1, 3));
    to_half_open(&cb, &mock, 1);
    cb.try_acquire().unwrap().success();
    let slow = cb.try_acquire().unwrap();
    mock.increment(RESET - Duration::from_nanos(1));
    assert_eq!(cb.state(), State::HalfOpen);
    mock.increment(Duration::from_nanos(1));
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(
        ev.list().last().unwrap().2,
        Reason::ResetTimeout { successes: 1 }
    );
    let s = cb.snapshot();
    assert_eq!((s.recent_calls, s.consecutive_failures), (0, 0));
    // The slow probe's failure is stale.
    slow.failure();
    let s = cb.snapshot();
    assert_eq!(s.state, State::Closed);
    assert_eq!((s.recent_calls, s.consecutive_failures), (0, 0));
    assert_eq!((s.total_successes, s.total_failures), (1, 2));
}

#[test]
fn r8_reset_timeout_without_a_success_reopens() {
    let (cb, mock, ev) = rig(consecutive(1, 3));
    to_half_open(&cb, &mock, 1);
    // Three leaked unticketed probes: every slot taken, for ever.
    for _ in 0..3 {
        assert!(cb.allow_request());
    }
    assert!(!cb.allow_request());
    mock.increment(RESET);
    let r = cb.try_acquire().unwrap_err();
    assert_eq!(r.state(), State::Open);
    assert_eq!(r.retry_after(), Some(OPEN), "a fresh open_duration");
    assert_eq!(
        ev.list().last().unwrap(),
        &(
            State::HalfOpen,
            State::Open,
            Reason::ResetTimeout { successes: 0 },
            3
        )
    );
    mock.increment(OPEN);
    let p = cb.try_acquire().expect("never wedged");
    assert!(p.is_probe());
    p.success();
    assert_eq!(cb.state(), State::HalfOpen, "1 of 3");
}

/// A HALF_OPEN breaker whose probe leaked, left idle for years, resolves
/// on its next request or query (R8), however long the idle time; and a
/// `reset_timeout` of years is timed exactly.
#[test]
fn r8_a_half_open_breaker_idle_for_years_is_not_wedged() {
    let (cb, mock, _ev) = rig(consecutive(1, 1));
    to_half_open(&cb, &mock, 1);
    assert!(cb.allow_request(), "a leaked unticketed probe");
    mock.increment(Duration::from_secs(3 * YEAR));
    // The first poll resolves it: no success, so it reopens for a fresh
    // `open_duration`, after which a request is a probe again.
    assert_eq!(cb.state(), State::Open, "wedged in HALF_OPEN");
    assert_eq!(cb.snapshot().open_remaining, Some(OPEN));
    mock.increment(OPEN);
    let probe = cb.try_acquire().expect("a probe of a new half-open period");
    probe.success();
    assert_eq!(cb.state(), State::Closed);
    let (cb, mock, _ev) = rig(consecutive(1, 1).reset_timeout(Duration::from_secs(3 * YEAR)));
    to_half_open(&cb, &mock, 1);
    assert!(cb.allow_request(), "a leaked unticketed probe");
    mock.increment(Duration::from_secs(3 * YEAR) - Duration::from_nanos(1));
    assert_eq!(cb.state(), State::HalfOpen);
    mock.increment(Duration::from_nanos(1));
    assert_eq!(cb.state(), State::Open, "R8: no success, reopened");
}

#[test]
fn r8_state_query_resolves_the_reset_timeout() {
    let (cb, mock, _ev) = rig(consecutive(1, 2));
    to_half_open(&cb, &mock, 1);
    std::mem::forget(cb.try_acquire().unwrap());
    mock.increment(RESET);
    assert_eq!(cb.state(), State::Open);
    assert_eq!(cb.snapshot().open_remaining, Some(OPEN));
}

#[test]
fn r8_reset_timeout_counts_from_half_open_start() {
    let (cb, mock, ev) = rig(consecutive(1, 2));
    fail(&cb);
    // Idle for open_duration + 3 reset timeouts: HALF_OPEN starts now.
    mock.increment(OPEN + RESET * 3);
    assert_eq!(cb.state(), State::HalfOpen);
    assert_eq!(cb.snapshot().state_duration, Duration::ZERO);
    mock.increment(RESET - Duration::from_nanos(1));
    assert_eq!(cb.state(), State::HalfOpen);
    mock.increment(Duration::from_nanos(1));
    assert_eq!(cb.state(), State::Open);
    assert_eq!(ev.list().len(), 3);
}

#[test]
fn r8_dropped_probe_frees_its_slot_and_never_wedges() {
    let (cb, mock, _ev) = rig(consecutive(1, 1));
    to_half_open(&cb, &mock, 1);
    let p = cb.try_acquire().unwrap();
    assert!(cb.try_acquire().is_err());
    drop(p);
    let s = cb.snapshot();
    assert_eq!(s.half_open_calls, 0);
    assert_eq!(s.total_calls, 1, "a dropped permit is no call");
    let p = cb.try_acquire().expect("slot freed");
    p.success();
    assert_eq!(cb.state(), State::Closed);
}

#[test]
fn r8_leaked_probe_never_wedges() {
    let (cb, mock, _ev) = rig(consecutive(1, 1));
    to_half_open(&cb, &mock, 1);
    std::mem::forget(cb.try_acquire().unwrap());
    assert!(cb.try_acquire().is_err());
    mock.increment(RESET);
    assert!(cb.try_acquire().is_err(), "reopened");
    assert_eq!(cb.state(), State::Open);
    mock.increment(OPEN);
    cb.try_acquire().expect("a probe again").success();
    assert_eq!(cb.state(), State::Closed);
}

// ---- R9 --------------------------------------------------------------------

/// A breaker whose listener keeps only the latest generation (a rig that
/// records every event would hold millions of them).
fn flapper(probes: u32) -> (CircuitBreaker, Arc<Mock>, Arc<std::sync::atomic::AtomicU64>) {
    let (clock, mock) = Clock::mock();
    let gen = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sink = gen.clone();
    let cb = consecutive(1, probes)
        .open_duration(Duration::from_millis(1))
        .clock(clock)
        .on_state_change(move |c: &StateChange<'_>| {
            sink.store(c.generation, std::sync::atomic::Ordering::Relaxed);
        })
        .build()
        .expect("valid configuration");
    (cb, mock, gen)
}

/// From OPEN, makes `2 * cycles` transitions: each cycle waits
/// `open_duration` (1 ms), takes the next request as a probe (OPEN →
/// HALF_OPEN) and fails it (HALF_OPEN → OPEN). Ends OPEN.
fn flap(cb: &CircuitBreaker, mock: &Mock, cycles: u64) {
    for i in 0..cycles {
        mock.increment(Duration::from_millis(1));
        match cb.try_acquire() {
            Ok(probe) => probe.failure(),
            Err(r) => panic!("cycle {i}: a due OPEN breaker refused: {r:?} {cb:?}"),
        }
    }
}

/// A probe permit held across 2^22 transitions (exactly the span of the
/// generation bits a HALF_OPEN word keeps) is still a probe of its own
/// half-open period: its release frees no slot of the current period (R5)
/// and its success does not close it (R9). One transition fewer or more is
/// checked as well (the permit's period is odd or even distance away).
#[test]
fn r9_a_probe_held_across_2_pow_22_transitions_stays_stale() {
    for extra in [0u64, 2] {
        let (cb, mock, gen) = flapper(1);
        fail(&cb);
        mock.increment(Duration::from_millis(1));
        let old = cb.try_acquire().expect("the first probe");
        assert!(old.is_probe());
        let period = gen.load(std::sync::atomic::Ordering::Relaxed);
        // Leave the period without a verdict: R8 reopens (one transition).
        mock.increment(RESET);
        assert_eq!(cb.state(), State::Open);
        // Then flap, and enter HALF_OPEN again 2^22 (+ extra) transitions
        // after the held permit's period, taking its one slot.
        flap(&cb, &mock, (1 << 21) - 1 + extra / 2);
        mock.increment(Duration::from_millis(1));
        let current = cb.try_acquire().expect("the current period's probe");
        let now = gen.load(std::sync::atomic::Ordering::Relaxed);
        // Checked modulo 2^22, so that the same test runs on an engine whose
        // listener reports 22-bit generations.
        assert_eq!(now.wrapping_sub(period) % (1 << 22), extra);
        drop(old);
        let r = cb
            .try_acquire()
            .expect_err("the only slot is the current probe's");
        assert_eq!(r.state(), State::HalfOpen);
        assert_eq!(cb.snapshot().half_open_calls, 1);
        current.success();
        assert_eq!(cb.state(), State::Closed);
    }
    // The same permit's success, rather than its drop.
    let (cb, mock, gen) = flapper(1);
    fail(&cb);
    mock.increment(Duration::from_millis(1));
    let old = cb.try_acquire().expect("the first probe");
    let period = gen.load(std::sync::atomic::Ordering::Relaxed);
    mock.increment(RESET);
    assert_eq!(cb.state(), State::Open);
    flap(&cb, &mock, (1 << 21) - 1);
    mock.increment(Duration::from_millis(1));
    let current = cb.try_acquire().expect("the current period's probe");
    let now = gen.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(now.wrapping_sub(period) % (1 << 22), 0);
    let before = cb.snapshot().total_successes;
    old.success();
    let s = cb.snapshot();
    assert_eq!(
        s.state,
        State::HalfOpen,
        "a stale success closed the breaker"
    );
    assert_eq!(s.half_open_calls, 1);
    assert_eq!(s.total_successes, before + 1, "still counted in the totals");
    current.failure();
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn r9_stale_verdict_does_not_move_state() {
    let (cb, mock, ev) = rig(consecutive(2, 2));
    let slow = cb.try_acquire().unwrap();
    assert!(!slow.is_probe());
    fail(&cb);
    fail(&cb);
    assert_eq!(cb.state(), State::Open);
    mock.increment(OPEN);
    assert_eq!(cb.state(), State::HalfOpen);
    slow.failure();
    let s = cb.snapshot();
    assert_eq!(s.state, State::HalfOpen, "a stale failure must not reopen");
    assert_eq!(s.total_failures, 3, "but it counts in the totals");
    assert_eq!(s.half_open_calls, 0);
    assert_eq!(ev.list().len(), 2);
    cb.try_acquire().unwrap().success();
    cb.try_acquire().unwrap().success();
    assert_eq!(cb.state(), State::Closed);
}

#[test]
fn r9_stale_failure_while_open_does_not_extend_or_count_in_window() {
    let (cb, mock, _ev) = rig(consecutive(2, 1));
    let slow = cb.try_acquire().unwrap();
    trip(&cb, 2);
    let before = cb.snapshot();
    mock.increment(Duration::from_secs(1));
    slow.failure();
    let s = cb.snapshot();
    assert_eq!(s.state, State::Open);
    assert_eq!(s.recent_calls, before.recent_calls);
    assert_eq!(s.consecutive_failures, before.consecutive_failures);
    assert_eq!(s.open_remaining, Some(OPEN - Duration::from_secs(1)));
    assert_eq!(s.total_failures, 3);
}

#[test]
fn r9_stale_verdicts_after_reclose_leave_window_and_count_alone() {
    let (cb, mock, _ev) = rig(consecutive(3, 1));
    let slow_fail = cb.try_acquire().unwrap();
    let slow_ok = cb.try_acquire().unwrap();
    to_half_open(&cb, &mock, 3);
    ok(&cb);
    assert_eq!(cb.state(), State::Closed);
    slow_fail.failure();
    let s = cb.snapshot();
    assert_eq!((s.recent_calls, s.consecutive_failures), (0, 0));
    assert_eq!(s.total_failures, 4);
    // A stale success must not reset the new era's consecutive count.
    fail(&cb);
    fail(&cb);
    slow_ok.success();
    assert_eq!(cb.snapshot().consecutive_failures, 2);
    assert_eq!(cb.snapshot().total_successes, 2);
    fail(&cb);
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn r9_stale_probe_verdict_ignored_in_the_next_half_open_period() {
    let (cb, mock, _ev) = rig(consecutive(1, 2));
    to_half_open(&cb, &mock, 1);
    let old = cb.try_acquire().unwrap();
    cb.try_acquire().unwrap().failure(); // reopen
    mock.increment(OPEN);
    let p = cb.try_acquire().unwrap(); // a new half-open period
    old.success(); // stale: neither a slot nor a success of this period
    let s = cb.snapshot();
    assert_eq!(s.half_open_calls, 1);
    p.success();
    assert_eq!(cb.state(), State::HalfOpen, "only 1 of 2 current successes");
    cb.try_acquire().unwrap().success();
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.snapshot().total_successes, 3);
}

#[test]
fn r9_stale_probe_drop_does_not_free_a_current_slot() {
    let (cb, mock, _ev) = rig(consecutive(1, 2));
    to_half_open(&cb, &mock, 1);
    let old = cb.try_acquire().unwrap();
    cb.try_acquire().unwrap().failure(); // reopen
    mock.increment(OPEN);
    let a = cb.try_acquire().unwrap();
    let b = cb.try_acquire().unwrap();
    drop(old); // a probe of the previous half-open period
    let s = cb.snapshot();
    assert_eq!(s.half_open_calls, 2);
    assert!(cb.try_acquire().is_err(), "both current slots still taken");
    a.success();
    b.success();
    assert_eq!(cb.state(), State::Closed);
}

// ---- R10 -------------------------------------------------------------------

#[test]
fn r10_one_listener_call_per_transition() {
    let (cb, mock, ev) = rig(consecutive(2, 1));
    let observe = |cb: &CircuitBreaker| {
        for _ in 0..3 {
            let _ = cb.state();
            let _ = cb.snapshot();
        }
    };
    trip(&cb, 2);
    observe(&cb);
    mock.increment(OPEN);
    observe(&cb);
    cb.try_acquire().unwrap().failure();
    observe(&cb);
    mock.increment(OPEN);
    observe(&cb);
    ok(&cb);
    observe(&cb);
    let list = ev.list();
    assert_eq!(
        ev.transitions(),
        vec![
            (State::Closed, State::Open),
            (State::Open, State::HalfOpen),
            (State::HalfOpen, State::Open),
            (State::Open, State::HalfOpen),
            (State::HalfOpen, State::Closed),
        ]
    );
    let gens: Vec<u64> = list.iter().map(|e| e.3).collect();
    assert_eq!(gens, vec![1, 2, 3, 4, 5]);
}

#[test]
fn r10_listener_sees_the_breaker_name_and_the_new_state() {
    let (clock, mock) = Clock::mock();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let cb = CircuitBreaker::builder("payments")
        .consecutive_failure_threshold(1)
        .clock(clock)
        .on_state_change(move |c: &StateChange<'_>| {
            sink.lock().unwrap().push(c.name.to_owned());
        })
        .build()
        .unwrap();
    fail(&cb);
    mock.increment(Duration::from_secs(300));
    assert_eq!(cb.state(), State::HalfOpen);
    assert_eq!(*seen.lock().unwrap(), vec!["payments", "payments"]);
}

// ---- R11 -------------------------------------------------------------------

#[test]
fn r11_totals_are_exact() {
    let (cb, mock, _ev) = rig(consecutive(3, 2));
    let (mut succ, mut fails, mut rej) = (0u64, 0u64, 0u64);
    for _ in 0..5 {
        ok(&cb);
        succ += 1;
    }
    drop(cb.try_acquire().unwrap()); // no verdict: not a call
    cb.try_acquire().unwrap().success();
    succ += 1;
    cb.try_acquire().unwrap().failure();
    fails += 1;
    assert_eq!(cb.call_with_fallback(|| Err::<u8, _>(1), |_| 0), Err(1));
    fails += 1;
    assert!(cb.allow_request());
    cb.on_failure();
    fails += 1;
    assert_eq!(cb.state(), State::Open);
    assert!(cb.try_acquire().is_err());
    assert!(cb.call(|| Ok::<(), ()>(())).is_err());
    assert!(!cb.allow_request());
    assert_eq!(cb.call_with_fallback(|| Ok::<u8, ()>(1), |_| 9), Ok(9));
    rej += 4;
    mock.increment(OPEN);
    let p = cb.try_acquire().unwrap();
    let q = cb.try_acquire().unwrap();
    assert!(cb.try_acquire().is_err());
    rej += 1;
    drop(q);
    p.success();
    succ += 1;
    let s = cb.snapshot();
    assert_eq!(s.total_successes, succ);
    assert_eq!(s.total_failures, fails);
    assert_eq!(s.total_rejected, rej);
    assert_eq!(s.total_calls, succ + fails);
    assert_eq!((succ, fails, rej), (7, 3, 5));
}

// ---- R13 -------------------------------------------------------------------

#[test]
fn r13_create_is_get_or_create_and_ignores_the_builder() {
    let reg = Registry::new();
    let db = reg
        .create(CircuitBreaker::builder("database").consecutive_failure_threshold(5))
        .unwrap();
    let again = reg
        .create(CircuitBreaker::builder("database").consecutive_failure_threshold(1))
        .unwrap();
    assert!(Arc::ptr_eq(&db, &again));
    // Even an invalid builder is ignored for an existing name.
    let invalid = reg
        .create(CircuitBreaker::builder("database").error_threshold_percentage(f64::NAN))
        .expect("existing breaker wins");
    assert!(Arc::ptr_eq(&db, &invalid));
    // The first builder's settings are the ones in force: 4 failures stay closed.
    for _ in 0..4 {
        let _ = again.call(|| Err::<(), ()>(()));
    }
    assert_eq!(db.state(), State::Closed);
    // A new name with an invalid builder is an error, and nothing is registered.
    let e = reg
        .create(CircuitBreaker::builder("other").half_open_max_calls(0))
        .unwrap_err();
    assert_eq!(e.setting(), "half_open_max_calls");
    assert!(reg.get("other").is_none());
    assert_eq!(reg.len(), 1);
}

#[test]
fn r13_get_get_all_and_get_states() {
    let reg = Registry::new();
    assert!(reg.get("a").is_none());
    assert!(reg.get_all().is_empty());
    assert!(reg.get_states().is_empty());
    let b = reg
        .create(CircuitBreaker::builder("b").consecutive_failure_threshold(1))
        .unwrap();
    let a = reg.create(CircuitBreaker::builder("a")).unwrap();
    assert!(Arc::ptr_eq(&reg.get("a").unwrap(), &a));
    let names: Vec<String> = reg.get_all().iter().map(|c| c.name().to_owned()).collect();
    assert_eq!(names, vec!["a", "b"]);
    let _ = b.call(|| Err::<(), ()>(()));
    let states = reg.get_states();
    assert_eq!(states.keys().collect::<Vec<_>>(), vec!["a", "b"]);
    assert_eq!(states["a"].state, State::Closed);
    assert_eq!(states["b"].state, State::Open);
    assert_eq!(states["b"].name, "b");
    assert_eq!(states["b"].total_failures, 1);
}

#[test]
fn r13_register_returns_the_replaced_breaker() {
    let reg = Registry::new();
    assert!(reg.register(CircuitBreaker::new("x")).is_none());
    let first = reg.get("x").unwrap();
    let replaced = reg
        .register(
            CircuitBreaker::builder("x")
                .half_open_max_calls(7)
                .build()
                .unwrap(),
        )
        .expect("replaced");
    assert!(Arc::ptr_eq(&first, &replaced));
    let now = reg.get("x").unwrap();
    assert!(!Arc::ptr_eq(&first, &now));
    assert_eq!(now.half_open_max_calls(), 7);
    assert_eq!(reg.len(), 1);
}

#[test]
fn r13_unregister_returns_whether_there_was_one() {
    let reg = Registry::new();
    reg.register(CircuitBreaker::new("x"));
    assert!(reg.unregister("x"));
    assert!(!reg.unregister("x"));
    assert!(reg.get("x").is_none());
    assert!(reg.is_empty());
}

#[test]
fn r13_global_is_one_process_wide_registry() {
    let g = Registry::global();
    assert!(std::ptr::eq(g, Registry::global()));
    let name = "fusebox-tests-rules-global";
    let cb = g.create(CircuitBreaker::builder(name)).unwrap();
    assert!(Arc::ptr_eq(&Registry::global().get(name).unwrap(), &cb));
    assert!(g.get_states().contains_key(name));
    assert!(g.unregister(name));
}

// ---- Outcomes: ignored verdicts, classifiers, abandoned calls ---------------

/// An ignored verdict reaches `total_ignored` and nothing else: not the
/// window, not the consecutive count (neither adding to it nor resetting
/// it), not `total_calls`.
#[test]
fn ignored_verdicts_reach_only_their_total() {
    let (cb, _mock, ev) = rig(consecutive(3, 1));
    fail(&cb);
    fail(&cb);
    for _ in 0..5 {
        cb.try_acquire().unwrap().ignore();
    }
    let s = cb.snapshot();
    assert_eq!((s.consecutive_failures, s.recent_calls), (2, 2));
    assert_eq!(
        (s.total_calls, s.total_failures, s.total_ignored),
        (2, 2, 5)
    );
    assert_eq!(s.error_rate, 100.0);
    fail(&cb); // the run of failures was not broken by the ignored calls
    assert_eq!(ev.transitions(), [(State::Closed, State::Open)]);
}

/// `report(Outcome)` is `success()`, `failure()` or `ignore()`.
#[test]
fn report_is_the_verdict_it_names() {
    let (cb, _mock, _ev) = rig(consecutive(2, 1));
    cb.try_acquire().unwrap().report(Outcome::Success);
    cb.try_acquire().unwrap().report(Outcome::Ignored);
    cb.try_acquire().unwrap().report(Outcome::Failure);
    let s = cb.snapshot();
    assert_eq!(
        (s.total_successes, s.total_failures, s.total_ignored),
        (1, 1, 1)
    );
    cb.try_acquire().unwrap().report(Outcome::Failure);
    assert_eq!(cb.state(), State::Open);
}

/// An ignored probe frees its slot like a dropped one, and is no success:
/// the breaker closes only on `half_open_max_calls` real successes.
#[test]
fn an_ignored_probe_frees_its_slot_and_does_not_close() {
    let (cb, mock, ev) = rig(consecutive(1, 2));
    to_half_open(&cb, &mock, 1);
    let a = cb.try_acquire().unwrap();
    let b = cb.try_acquire().unwrap();
    assert!(cb.try_acquire().is_err(), "both slots taken");
    a.ignore();
    let c = cb.try_acquire().expect("the ignored probe's slot is free");
    b.success();
    assert_eq!(cb.state(), State::HalfOpen, "one success of two");
    assert_eq!(cb.snapshot().total_ignored, 1);
    c.success();
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(
        ev.transitions().last(),
        Some(&(State::HalfOpen, State::Closed))
    );
}

/// A stale permit's ignore counts in the total and frees nothing current.
#[test]
fn a_stale_ignore_reaches_the_total_only() {
    let (cb, mock, _ev) = rig(consecutive(1, 1));
    to_half_open(&cb, &mock, 1);
    let old = cb.try_acquire().unwrap();
    mock.increment(RESET);
    assert_eq!(cb.state(), State::Open, "reset timeout with no success");
    mock.increment(OPEN);
    let current = cb.try_acquire().unwrap();
    old.ignore();
    assert!(
        cb.try_acquire().is_err(),
        "the current probe keeps its slot"
    );
    assert_eq!(cb.snapshot().total_ignored, 1);
    current.success();
    assert_eq!(cb.state(), State::Closed);
}

/// `call_with`: the classifier decides, the result comes back unchanged.
#[test]
fn call_with_counts_what_the_classifier_says() {
    let (cb, _mock, ev) = rig(consecutive(2, 1));
    let classify = |r: &Result<u32, u16>| match r {
        Ok(_) => Outcome::Success,
        Err(404) => Outcome::Ignored,
        Err(418) => Outcome::Success, // a "failure" the caller treats as fine
        Err(_) => Outcome::Failure,
    };
    for _ in 0..10 {
        assert!(matches!(
            cb.call_with(classify, || Err(404)),
            Err(CallError::Failed(404))
        ));
    }
    assert!(matches!(
        cb.call_with(classify, || Err(418)),
        Err(CallError::Failed(418))
    ));
    assert_eq!(cb.call_with(classify, || Ok(7)).unwrap(), 7);
    let s = cb.snapshot();
    assert_eq!(
        (s.total_successes, s.total_failures, s.total_ignored),
        (2, 0, 10)
    );
    assert!(matches!(
        cb.call_with(classify, || Err(503)),
        Err(CallError::Failed(503))
    ));
    assert!(matches!(
        cb.call_with(classify, || Err(503)),
        Err(CallError::Failed(503))
    ));
    assert_eq!(ev.transitions(), [(State::Closed, State::Open)]);
    let mut ran = false;
    let r = cb.call_with(classify, || {
        ran = true;
        Ok(1)
    });
    assert!(matches!(r, Err(CallError::Rejected(_))) && !ran);
}

/// A classifier that panics is a failure of the call, and the panic goes on.
#[test]
fn a_panicking_classifier_counts_a_failure() {
    let (cb, _mock, _ev) = rig(consecutive(1, 1));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        cb.call_with(|_: &Result<(), ()>| panic!("classifier bug"), || Ok(()))
    }));
    assert!(r.is_err());
    assert_eq!(cb.snapshot().total_failures, 1);
    assert_eq!(cb.state(), State::Open);
}

/// By default an abandoned call counts neither way but reaches
/// `total_ignored`, as an explicit `ignore()` does.
#[test]
fn abandoned_calls_are_ignored_by_default() {
    let (cb, _mock, _ev) = rig(consecutive(1, 1));
    for _ in 0..4 {
        drop(cb.try_acquire().unwrap());
    }
    let s = cb.snapshot();
    assert_eq!(
        (s.state, s.total_calls, s.total_ignored),
        (State::Closed, 0, 4)
    );
}

/// `abandoned(Failure)`: dropped permits are failures, so a dependency that
/// hangs until the caller gives up trips the breaker; probes included.
#[test]
fn abandoned_failure_trips_and_reopens() {
    let (cb, mock, ev) = rig(consecutive(3, 1).abandoned(Outcome::Failure));
    for _ in 0..3 {
        drop(cb.try_acquire().unwrap());
    }
    assert_eq!(cb.state(), State::Open);
    let s = cb.snapshot();
    assert_eq!((s.total_failures, s.total_ignored), (3, 0));
    mock.increment(OPEN);
    drop(cb.try_acquire().expect("the probe"));
    assert_eq!(
        ev.transitions(),
        [
            (State::Closed, State::Open),
            (State::Open, State::HalfOpen),
            (State::HalfOpen, State::Open)
        ]
    );
    // An explicit verdict is not an abandonment.
    mock.increment(OPEN);
    cb.try_acquire().unwrap().ignore();
    assert_eq!(cb.state(), State::HalfOpen);
}

/// `abandoned(Success)` counts a dropped permit as a success (a fire-and-
/// forget call whose result nobody waits for).
#[test]
fn abandoned_success_counts_and_closes() {
    let (cb, mock, _ev) = rig(consecutive(1, 1).abandoned(Outcome::Success));
    to_half_open(&cb, &mock, 1);
    drop(cb.try_acquire().unwrap());
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.snapshot().total_successes, 1);
}

/// A `call_async` future dropped before it finishes is an abandoned call,
/// counted as `abandoned` says; one dropped before its first poll never
/// took a permit.
#[test]
fn a_dropped_call_async_future_is_abandoned() {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Waker};

    for (abandoned, failures, ignored, state) in [
        (Outcome::Ignored, 0, 2, State::Closed),
        (Outcome::Failure, 2, 0, State::Open),
    ] {
        let (cb, _mock, _ev) = rig(consecutive(2, 1).abandoned(abandoned));
        for _ in 0..2 {
            let mut fut = pin!(cb.call_async(std::future::pending::<Result<(), ()>>()));
            let mut cx = Context::from_waker(Waker::noop());
            assert!(fut.as_mut().poll(&mut cx).is_pending());
        } // dropped here, still pending: the caller gave up
        drop(cb.call_async(std::future::pending::<Result<(), ()>>()));
        let s = cb.snapshot();
        assert_eq!(
            (s.total_failures, s.total_ignored, s.state),
            (failures, ignored, state)
        );
    }
}

/// `call_async_with` classifies as `call_with` does.
#[test]
fn call_async_with_counts_what_the_classifier_says() {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    let (cb, _mock, _ev) = rig(consecutive(1, 1));
    let mut cx = Context::from_waker(Waker::noop());
    let fut = pin!(cb.call_async_with(|_: &Result<(), u16>| Outcome::Ignored, async { Err(404) }));
    assert!(matches!(
        fut.poll(&mut cx),
        Poll::Ready(Err(CallError::Failed(404)))
    ));
    let s = cb.snapshot();
    assert_eq!(
        (s.state, s.total_calls, s.total_ignored),
        (State::Closed, 0, 1)
    );
}

// ---- Open backoff -----------------------------------------------------------

/// `consecutive(1, 1)` with an exponential backoff from `OPEN` (30 s).
fn backing_off(max: Duration, multiplier: f64, jitter: f64) -> (CircuitBreaker, Arc<Mock>, Events) {
    rig(consecutive(1, 1)
        .open_backoff(
            Backoff::exponential(max)
                .multiplier(multiplier)
                .jitter(jitter),
        )
        .jitter_seed(42))
}

/// Fails the probe of an OPEN breaker once its `open` has elapsed: the next
/// opening. Asserts the breaker was open exactly `open`.
fn reopen_after(cb: &CircuitBreaker, mock: &Mock, open: Duration) {
    assert_eq!(cb.snapshot().open_remaining, Some(open));
    let rejected = cb.try_acquire().unwrap_err();
    assert_eq!(rejected.retry_after(), Some(open));
    mock.increment(open - Duration::from_nanos(1));
    let rejected = cb.try_acquire().expect_err("1 ns before the end");
    assert_eq!(rejected.retry_after(), Some(Duration::from_nanos(1)));
    mock.increment(Duration::from_nanos(1));
    cb.try_acquire()
        .expect("the probe, exactly at the end")
        .failure();
    assert_eq!(cb.state(), State::Open);
}

/// k = 1, 2, … up to the cap: `open × multiplier^(k−1)`, then `max`;
/// `retry_after` and `open_remaining` report the duration in force.
#[test]
fn backoff_grows_each_opening_up_to_its_max() {
    let (cb, mock, _ev) = backing_off(Duration::from_secs(200), 2.0, 0.0);
    fail(&cb);
    for secs in [30, 60, 120, 200, 200] {
        reopen_after(&cb, &mock, Duration::from_secs(secs));
    }
}

/// A reset-timeout reopening is an opening too; closing starts again at
/// k = 1, and so does the next trip.
#[test]
fn backoff_counts_every_reopening_and_resets_on_close() {
    let (cb, mock, ev) = backing_off(Duration::from_secs(1000), 3.0, 0.0);
    fail(&cb); // k = 1: 30 s
    mock.increment(OPEN);
    let leaked = cb.try_acquire().unwrap(); // the probe never answers
    mock.increment(RESET);
    assert_eq!(cb.state(), State::Open, "reset timeout, no success: k = 2");
    assert_eq!(cb.snapshot().open_remaining, Some(Duration::from_secs(90)));
    drop(leaked);
    mock.increment(Duration::from_secs(90));
    cb.try_acquire().unwrap().success();
    assert_eq!(cb.state(), State::Closed);
    fail(&cb); // a new run: k = 1 again
    assert_eq!(cb.snapshot().open_remaining, Some(OPEN));
    assert_eq!(ev.transitions().len(), 6);
}

/// A multiplier of 1 is a constant duration; a cap below `open_duration`
/// caps the first opening too.
#[test]
fn backoff_with_multiplier_one_or_a_low_cap() {
    let (cb, mock, _ev) = backing_off(Duration::from_secs(1000), 1.0, 0.0);
    fail(&cb);
    for _ in 0..3 {
        reopen_after(&cb, &mock, OPEN);
    }
    let (cb, mock, _ev) = backing_off(Duration::from_secs(5), 2.0, 0.0);
    fail(&cb);
    reopen_after(&cb, &mock, Duration::from_secs(5));
    reopen_after(&cb, &mock, Duration::from_secs(5));
}

/// Jitter shortens an opening by at most its fraction: with jitter 0 every
/// opening is exact, with jitter 1 anything from 1 ns to the full duration,
/// drawn once per opening (every reader sees the same duration).
#[test]
fn backoff_jitter_0_and_1() {
    let mut draws = std::collections::HashSet::new();
    for seed in 0..64 {
        let (cb, mock, _ev) = rig(consecutive(1, 1)
            .open_backoff(Backoff::exponential(Duration::from_secs(600)).jitter(1.0))
            .jitter_seed(seed));
        fail(&cb);
        let first = cb.snapshot().open_remaining.unwrap();
        assert!(first > Duration::ZERO && first <= OPEN, "{first:?}");
        assert_eq!(cb.try_acquire().unwrap_err().retry_after(), Some(first));
        assert_eq!(
            cb.snapshot().open_remaining,
            Some(first),
            "one draw per opening"
        );
        draws.insert(first);
        mock.increment(first);
        cb.try_acquire().unwrap().failure();
        let second = cb.snapshot().open_remaining.unwrap();
        assert!(second > Duration::ZERO && second <= 2 * OPEN, "{second:?}");
    }
    assert!(draws.len() > 60, "seeds draw differently");
    let (cb, mock, _ev) = backing_off(Duration::from_secs(600), 2.0, 0.0);
    fail(&cb);
    reopen_after(&cb, &mock, OPEN);
}

/// A constant backoff with jitter: each opening lasts up to
/// `open_duration`, shortened by at most the jitter fraction.
#[test]
fn constant_backoff_with_jitter() {
    let (cb, mock, _ev) = rig(consecutive(1, 1)
        .open_backoff(Backoff::constant().jitter(0.5))
        .jitter_seed(7));
    fail(&cb);
    for _ in 0..20 {
        let d = cb.snapshot().open_remaining.unwrap();
        assert!(d > OPEN / 2 && d <= OPEN, "{d:?}");
        mock.increment(d);
        cb.try_acquire().unwrap().failure();
    }
}

/// The error-rate trip starts a run like the consecutive one.
#[test]
fn backoff_after_an_error_rate_trip() {
    let (cb, mock, _ev) = rig(rate(50.0, 2)
        .half_open_max_calls(1)
        .open_backoff(Backoff::exponential(Duration::from_secs(3600))));
    ok(&cb);
    fail(&cb);
    assert_eq!(cb.state(), State::Open);
    reopen_after(&cb, &mock, OPEN);
    reopen_after(&cb, &mock, 2 * OPEN);
}

#[test]
fn backoff_settings_out_of_range_are_config_errors() {
    let err = |b: Backoff| {
        CircuitBreaker::builder("x")
            .open_backoff(b)
            .build()
            .unwrap_err()
    };
    let e = err(Backoff::exponential(Duration::from_secs(1)).multiplier(0.5));
    assert_eq!(
        e.to_string(),
        "open_backoff multiplier must be finite and >= 1, got 0.5"
    );
    assert_eq!(e.setting(), "open_backoff multiplier");
    let e = err(Backoff::exponential(Duration::from_secs(1)).multiplier(f64::NAN));
    assert_eq!(e.value(), "NaN");
    let e = err(Backoff::exponential(Duration::from_secs(1)).jitter(1.5));
    assert_eq!(
        e.to_string(),
        "open_backoff jitter must be in [0, 1], got 1.5"
    );
    let e = err(Backoff::exponential(Duration::ZERO));
    assert_eq!(e.to_string(), "open_backoff max must be > 0, got 0s");
    let e = err(Backoff::constant().multiplier(2.0));
    assert_eq!(
        e.to_string(),
        "open_backoff multiplier applies only to Backoff::exponential, got 2"
    );
    assert_eq!(Backoff::default(), Backoff::constant());
}

// ---- Slow calls --------------------------------------------------------------

const SLOW: Duration = Duration::from_millis(200);

/// Slow calls at `SLOW` or longer, tripping at `rate` percent once the
/// window holds `min_calls`; no other trip in reach.
fn slow_rig(rate: f64, min_calls: u32) -> (CircuitBreaker, Arc<Mock>, Events) {
    rig(CircuitBreaker::builder("slow")
        .consecutive_failure_threshold(1_000_000)
        .error_threshold_percentage(100.0)
        .min_calls_for_error_rate(min_calls)
        .monitoring_window(Duration::from_secs(10))
        .window_buckets(10)
        .open_duration(OPEN)
        .reset_timeout(RESET)
        .half_open_max_calls(1)
        .slow_call_duration_threshold(SLOW)
        .slow_call_rate_threshold(rate))
}

/// A call that succeeds after `took`.
fn takes(cb: &CircuitBreaker, mock: &Mock, took: Duration) -> Result<(), CallError<()>> {
    cb.call(|| {
        mock.increment(took);
        Ok(())
    })
}

/// At least the threshold is slow: exactly at it counts, 1 ns under does
/// not; a slow success is still a success.
#[test]
fn r14_a_call_is_slow_from_exactly_the_threshold() {
    let (cb, mock, _ev) = slow_rig(100.0, 10);
    takes(&cb, &mock, SLOW - Duration::from_nanos(1)).unwrap();
    takes(&cb, &mock, SLOW).unwrap();
    takes(&cb, &mock, 5 * SLOW).unwrap();
    let s = cb.snapshot();
    assert_eq!((s.recent_calls, s.recent_slow_calls), (3, 2));
    assert!(
        (s.slow_call_rate - 200.0 / 3.0).abs() < 1e-9,
        "{}",
        s.slow_call_rate
    );
    assert_eq!((s.total_successes, s.error_rate), (3, 0.0));
}

/// The slow rate trips exactly at its threshold, with the minimum calls,
/// and names the figures.
#[test]
fn r14_slow_rate_trips_exactly_at_the_threshold() {
    let (cb, mock, ev) = slow_rig(50.0, 4);
    takes(&cb, &mock, Duration::ZERO).unwrap();
    takes(&cb, &mock, SLOW).unwrap(); // 1 of 2: fewer than min calls
    takes(&cb, &mock, Duration::ZERO).unwrap(); // 1 of 3
    assert_eq!(cb.state(), State::Closed);
    takes(&cb, &mock, SLOW).unwrap(); // 2 of 4 = 50 %
    assert_eq!(cb.state(), State::Open);
    let reasons = ev.reasons();
    assert!(
        matches!(
            reasons[..],
            [Reason::SlowCallRate { slow: 2, calls: 4, rate, threshold }] if rate == 50.0 && threshold == 50.0
        ),
        "{reasons:?}"
    );
    assert_eq!(
        reasons[0].to_string(),
        "slow-call rate 50.0% (2 of 4 calls) >= 50%"
    );
}

/// Below the rate, or below the minimum calls, a slow window never trips;
/// a fast verdict never judges the rate.
#[test]
fn r14_below_the_rate_or_the_minimum_stays_closed() {
    let (cb, mock, _ev) = slow_rig(50.0, 4);
    for _ in 0..3 {
        takes(&cb, &mock, SLOW).unwrap(); // 3 of 3, but fewer than 4 calls
    }
    assert_eq!(cb.state(), State::Closed);
    let (cb, mock, _ev) = slow_rig(50.1, 4);
    takes(&cb, &mock, SLOW).unwrap();
    takes(&cb, &mock, Duration::ZERO).unwrap();
    takes(&cb, &mock, SLOW).unwrap();
    takes(&cb, &mock, Duration::ZERO).unwrap(); // 50 % < 50.1 %
    assert_eq!(cb.state(), State::Closed);
}

/// A slow permit abandoned by its caller counts as slow whatever
/// `abandoned` says: ignored by default (neither way, but slow), or a
/// failure.
#[test]
fn r14_an_abandoned_slow_call_counts_as_slow() {
    let (cb, mock, _ev) = slow_rig(100.0, 2);
    let p = cb.try_acquire().unwrap();
    mock.increment(SLOW);
    drop(p); // a timeout gave up on it
    let s = cb.snapshot();
    assert_eq!(
        (s.recent_calls, s.recent_slow_calls, s.total_ignored),
        (0, 1, 1)
    );
    assert_eq!(s.slow_call_rate, 100.0);
    let p = cb.try_acquire().unwrap();
    mock.increment(SLOW);
    drop(p);
    assert_eq!(cb.state(), State::Open, "two slow calls of two");

    let (cb, mock, ev) = rig(CircuitBreaker::builder("abandoned")
        .consecutive_failure_threshold(1_000_000)
        .min_calls_for_error_rate(1)
        .error_threshold_percentage(100.0)
        .slow_call_duration_threshold(SLOW)
        .slow_call_rate_threshold(100.0)
        .abandoned(Outcome::Failure));
    let p = cb.try_acquire().unwrap();
    mock.increment(SLOW);
    drop(p);
    // Its failure tripped the error rate first; the slow count came after.
    assert_eq!(ev.reasons().len(), 1);
    assert!(matches!(ev.reasons()[0], Reason::ErrorRate { .. }));
    // An explicit ignore is the caller's choice: never slow.
    let (cb, mock, _ev) = slow_rig(100.0, 1);
    let p = cb.try_acquire().unwrap();
    mock.increment(SLOW);
    p.ignore();
    assert_eq!(cb.snapshot().recent_slow_calls, 0);
    assert_eq!(cb.state(), State::Closed);
}

/// Slow calls leave the window as it slides, and closing clears them.
#[test]
fn r14_slow_calls_slide_out_and_are_cleared_on_close() {
    let (cb, mock, _ev) = slow_rig(100.0, 3);
    takes(&cb, &mock, SLOW).unwrap();
    takes(&cb, &mock, SLOW).unwrap();
    mock.increment(Duration::from_secs(11));
    assert_eq!(cb.snapshot().recent_slow_calls, 0, "slid out");
    takes(&cb, &mock, SLOW).unwrap();
    assert_eq!(
        cb.state(),
        State::Closed,
        "one slow call of one in the window"
    );
    takes(&cb, &mock, SLOW).unwrap();
    takes(&cb, &mock, SLOW).unwrap();
    assert_eq!(cb.state(), State::Open);
    mock.increment(OPEN);
    // Half-open probes are not timed: a slow probe success closes.
    takes(&cb, &mock, 10 * SLOW).unwrap();
    assert_eq!(cb.state(), State::Closed);
    let s = cb.snapshot();
    assert_eq!((s.recent_slow_calls, s.slow_call_rate), (0, 0.0));
}

/// A slow call admitted before a transition is stale: it counts in the
/// totals, not as slow.
#[test]
fn r14_a_stale_slow_call_is_not_counted_slow() {
    let (cb, mock, _ev) = rig(consecutive(1, 1).slow_call_duration_threshold(SLOW));
    let old = cb.try_acquire().unwrap();
    fail(&cb);
    mock.increment(SLOW);
    old.success();
    let s = cb.snapshot();
    assert_eq!((s.total_successes, s.recent_slow_calls), (1, 0));
}

/// Without a threshold nothing is timed and the fields stay zero.
#[test]
fn r14_off_by_default() {
    let (cb, mock, _ev) = rig(consecutive(3, 1));
    takes(&cb, &mock, Duration::from_secs(3600)).unwrap();
    let s = cb.snapshot();
    assert_eq!((s.recent_slow_calls, s.slow_call_rate), (0, 0.0));
}

#[test]
fn r14_settings_out_of_range_are_config_errors() {
    let e = CircuitBreaker::builder("x")
        .slow_call_duration_threshold(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "slow_call_duration_threshold must be > 0, got 0s"
    );
    for r in [0.0, -1.0, 100.5, f64::NAN] {
        let e = CircuitBreaker::builder("x")
            .slow_call_rate_threshold(r)
            .build()
            .unwrap_err();
        assert_eq!(e.setting(), "slow_call_rate_threshold", "{e}");
    }
}
