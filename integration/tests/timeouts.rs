//! A dependency that hangs, under `tokio::time::timeout`: where the timeout
//! goes decides what the breaker sees. Time is tokio's paused clock, which
//! jumps to the next timer when every task is idle: no test waits for real.

use std::time::Duration;

use fusebox::{CallError, CircuitBreaker, Outcome, State};
use tokio::time::{timeout, Instant};

/// A call to a dependency that never answers.
async fn hanging() -> Result<u32, std::io::Error> {
    std::future::pending().await
}

fn breaker(abandoned: Outcome) -> CircuitBreaker {
    CircuitBreaker::builder("hangs")
        .consecutive_failure_threshold(5)
        .abandoned(abandoned)
        .build()
        .unwrap()
}

/// Outer timeout, default `abandoned`: the future is dropped, which counts
/// neither way. A hanging dependency never trips the breaker.
#[tokio::test(start_paused = true)]
async fn outer_timeout_with_the_default_counts_nothing() {
    let cb = breaker(Outcome::Ignored);
    let start = Instant::now();
    for _ in 0..10 {
        let r = timeout(Duration::from_millis(5), cb.call_async(hanging())).await;
        assert!(r.is_err(), "timed out");
    }
    assert_eq!(start.elapsed(), Duration::from_millis(50));
    let s = cb.snapshot();
    assert_eq!(
        (s.state, s.total_calls, s.total_ignored),
        (State::Closed, 0, 10)
    );
}

/// Outer timeout with `abandoned(Outcome::Failure)`: each timed-out call is
/// a failure, and the fifth trips the breaker; the sixth is rejected at
/// once, without waiting for its timeout.
#[tokio::test(start_paused = true)]
async fn outer_timeout_with_abandoned_failure_trips() {
    let cb = breaker(Outcome::Failure);
    for _ in 0..5 {
        assert!(timeout(Duration::from_millis(5), cb.call_async(hanging()))
            .await
            .is_err());
    }
    assert_eq!(cb.state(), State::Open);
    let start = Instant::now();
    let r = timeout(Duration::from_millis(5), cb.call_async(hanging())).await;
    assert!(matches!(r, Ok(Err(CallError::Rejected(_)))));
    assert_eq!(start.elapsed(), Duration::ZERO, "rejected without waiting");
    assert_eq!(cb.snapshot().total_failures, 5);
}

/// Inner timeout: the timeout is part of the guarded call, so its error is
/// the call's `Err`, a failure under any `abandoned` setting.
#[tokio::test(start_paused = true)]
async fn inner_timeout_is_a_failure_of_the_call() {
    let cb = breaker(Outcome::Ignored);
    for _ in 0..5 {
        let r = cb.call_async(within(hanging())).await;
        assert!(matches!(r, Err(CallError::Failed(e)) if e.kind() == std::io::ErrorKind::TimedOut));
    }
    let s = cb.snapshot();
    assert_eq!(
        (s.state, s.total_failures, s.total_ignored),
        (State::Open, 5, 0)
    );
}

/// `fut` under a 5 ms timeout, which becomes its `TimedOut` error.
async fn within(
    fut: impl std::future::Future<Output = Result<u32, std::io::Error>>,
) -> Result<u32, std::io::Error> {
    timeout(Duration::from_millis(5), fut)
        .await
        .unwrap_or_else(|_elapsed| Err(std::io::ErrorKind::TimedOut.into()))
}

/// The inner timeout with a classifier: the timeout becomes the call's
/// `TimedOut` error, a failure; the dependency's own "not found" counts
/// neither way.
#[tokio::test(start_paused = true)]
async fn inner_timeout_with_a_classifier() {
    use std::io::{Error, ErrorKind};

    let cb = breaker(Outcome::Ignored);
    let classify = |r: &Result<u32, Error>| match r {
        Ok(_) => Outcome::Success,
        Err(e) if e.kind() == ErrorKind::NotFound => Outcome::Ignored,
        Err(_) => Outcome::Failure,
    };
    let not_found = async { Err(Error::from(ErrorKind::NotFound)) };
    let r = cb.call_async_with(classify, within(not_found)).await;
    assert!(matches!(r, Err(CallError::Failed(e)) if e.kind() == ErrorKind::NotFound));
    let r = cb.call_async_with(classify, within(hanging())).await;
    assert!(matches!(r, Err(CallError::Failed(e)) if e.kind() == ErrorKind::TimedOut));
    let s = cb.snapshot();
    assert_eq!((s.total_failures, s.total_ignored), (1, 1));
}

/// Outer timeout with a slow-call threshold below it: the timed-out calls
/// are abandoned (ignored, by default) but slow, so the slow-call rate
/// trips the breaker without counting them as failures. The breaker runs
/// on a mock clock that the hanging call moves by the timeout, as tokio's
/// paused clock moves.
#[tokio::test(start_paused = true)]
async fn outer_timeout_with_a_slow_call_threshold_trips() {
    let (clock, mock) = fusebox::quanta::Clock::mock();
    let hanging_for_5ms = || {
        let mock = mock.clone();
        async move {
            mock.increment(Duration::from_millis(5));
            hanging().await
        }
    };
    let cb = CircuitBreaker::builder("hangs")
        .min_calls_for_error_rate(5)
        .slow_call_duration_threshold(Duration::from_millis(2))
        .slow_call_rate_threshold(100.0)
        .clock(clock)
        .build()
        .unwrap();
    for _ in 0..5 {
        assert!(
            timeout(Duration::from_millis(5), cb.call_async(hanging_for_5ms()))
                .await
                .is_err()
        );
    }
    let s = cb.snapshot();
    assert_eq!(
        (s.state, s.total_failures, s.total_ignored),
        (State::Open, 0, 5)
    );
}
