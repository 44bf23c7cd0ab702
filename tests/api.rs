//! The public API of SPEC §1 and §2: builder and defaults, every
//! `ConfigError`, `Permit`, `Rejected`, `CallError`, the call wrappers
//! (sync, fallback, async with a hand-written executor), panics, `Snapshot`
//! (and its JSON form with `serde`), the `quanta` re-export and the
//! unticketed triple.

use std::error::Error;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use fusebox::quanta::{Clock, Mock};
use fusebox::{
    Builder, CallError, CircuitBreaker, ClockMode, ConfigError, Permit, Reason, Registry, Rejected,
    Snapshot, State, StateChange,
};

// ---- helpers ---------------------------------------------------------------

const OPEN: Duration = Duration::from_secs(30);

fn mocked(b: Builder) -> (CircuitBreaker, Arc<Mock>) {
    let (clock, mock) = Clock::mock();
    (b.clock(clock).build().expect("valid"), mock)
}

fn small(name: &str, threshold: u32, probes: u32) -> (CircuitBreaker, Arc<Mock>) {
    mocked(
        CircuitBreaker::builder(name)
            .consecutive_failure_threshold(threshold)
            .open_duration(OPEN)
            .half_open_max_calls(probes),
    )
}

fn fail(cb: &CircuitBreaker) {
    assert!(matches!(
        cb.call(|| Err::<(), _>("boom")),
        Err(CallError::Failed("boom"))
    ));
}

fn half_open(cb: &CircuitBreaker, mock: &Mock, threshold: u32) {
    for _ in 0..threshold {
        fail(cb);
    }
    mock.increment(OPEN);
    assert_eq!(cb.state(), State::HalfOpen);
}

/// A waker that does nothing: the futures below are driven by polling.
struct NoopWake;
impl Wake for NoopWake {
    fn wake(self: Arc<Self>) {}
}

fn noop_waker() -> Waker {
    Waker::from(Arc::new(NoopWake))
}

/// A minimal executor: polls until ready (every future here makes progress
/// on each poll).
fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    for _ in 0..1_000 {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
    panic!("future did not complete");
}

/// Pending on its first poll, ready on the second.
struct YieldOnce(bool);
impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

// ---- builder, defaults, ConfigError ------------------------------------------

#[test]
fn api_builder_chain_from_the_spec_builds() {
    let cb: CircuitBreaker = CircuitBreaker::builder("api_service")
        .error_threshold_percentage(40.0)
        .consecutive_failure_threshold(3)
        .open_duration(Duration::from_secs(60))
        .half_open_max_calls(3)
        .reset_timeout(Duration::from_secs(60))
        .monitoring_window(Duration::from_secs(60))
        .min_calls_for_error_rate(10)
        .window_buckets(10)
        .clock(fusebox::quanta::Clock::new())
        .build()
        .expect("valid");
    assert_eq!(cb.name(), "api_service");
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.half_open_max_calls(), 3);
    assert_eq!(cb.open_duration(), Duration::from_secs(60));
    let d = CircuitBreaker::new("defaults");
    assert_eq!(d.name(), "defaults");
    assert_eq!(d.state(), State::Closed);
}

#[test]
fn api_default_constants_match_the_spec_table() {
    assert_eq!(fusebox::DEFAULT_ERROR_THRESHOLD_PERCENTAGE, 50.0);
    assert_eq!(fusebox::DEFAULT_CONSECUTIVE_FAILURE_THRESHOLD, 10);
    assert_eq!(fusebox::DEFAULT_OPEN_DURATION, Duration::from_secs(300));
    assert_eq!(fusebox::DEFAULT_HALF_OPEN_MAX_CALLS, 3);
    assert_eq!(fusebox::DEFAULT_RESET_TIMEOUT, Duration::from_secs(60));
    assert_eq!(fusebox::DEFAULT_MONITORING_WINDOW, Duration::from_secs(60));
    assert_eq!(fusebox::DEFAULT_MIN_CALLS_FOR_ERROR_RATE, 10);
    assert_eq!(fusebox::DEFAULT_WINDOW_BUCKETS, 10);
    assert_eq!(fusebox::MAX_WINDOW_BUCKETS, 1000);
    assert_eq!(fusebox::MIN_BUCKET_WIDTH, Duration::from_millis(1));
    let cb = CircuitBreaker::new("d");
    assert_eq!(cb.half_open_max_calls(), 3);
    assert_eq!(cb.open_duration(), Duration::from_secs(300));
    assert_eq!(cb.snapshot().half_open_max_calls, 3);
}

/// The defaults, by behaviour, with only a mock clock set.
#[test]
fn api_defaults_behave_as_the_spec_table_says() {
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let sink = reasons.clone();
    let (cb, mock) = mocked(CircuitBreaker::builder("defaults").on_state_change(
        move |c: &StateChange<'_>| {
            sink.lock().unwrap().push(c.reason);
        },
    ));
    // consecutive_failure_threshold 10 (20 successes keep the rate at 33 %).
    for _ in 0..20 {
        cb.call(|| Ok::<(), ()>(())).unwrap();
    }
    for _ in 0..9 {
        fail(&cb);
    }
    assert_eq!(cb.state(), State::Closed);
    fail(&cb);
    assert_eq!(cb.state(), State::Open);
    assert_eq!(
        reasons.lock().unwrap()[0],
        Reason::ConsecutiveFailures {
            failures: 10,
            threshold: 10
        }
    );
    // open_duration 300 s.
    assert_eq!(
        cb.try_acquire().unwrap_err().retry_after(),
        Some(Duration::from_secs(300))
    );
    mock.increment(Duration::from_secs(300));
    // half_open_max_calls 3.
    let probes = [
        cb.try_acquire().unwrap(),
        cb.try_acquire().unwrap(),
        cb.try_acquire().unwrap(),
    ];
    assert!(cb.try_acquire().is_err());
    drop(probes);
    // reset_timeout 60 s: no success → back to OPEN.
    mock.increment(Duration::from_secs(59));
    assert_eq!(cb.state(), State::HalfOpen);
    mock.increment(Duration::from_secs(1));
    assert_eq!(cb.state(), State::Open);

    // error rate 50 % over >= 10 calls, 60 s window in 6 s buckets.
    let (cb, mock) = mocked(CircuitBreaker::builder("rate"));
    for _ in 0..5 {
        cb.call(|| Ok::<(), ()>(())).unwrap();
    }
    for _ in 0..4 {
        fail(&cb);
    }
    assert_eq!(cb.state(), State::Closed, "9 calls < min_calls 10");
    mock.increment(Duration::from_secs(54)); // window - w: still counted
    assert_eq!(cb.snapshot().recent_calls, 9);
    fail(&cb);
    assert_eq!(cb.state(), State::Open, "5 of 10 = 50 %");

    let (cb, mock) = mocked(CircuitBreaker::builder("window"));
    fail(&cb);
    mock.increment(Duration::from_secs(66)); // window + w: gone
    assert_eq!(cb.snapshot().recent_calls, 0);
}

fn config_err(b: Builder) -> ConfigError {
    b.build().expect_err("must be rejected")
}

#[test]
fn config_error_message_names_setting_and_value() {
    let b = || CircuitBreaker::builder("x");
    let e = config_err(b().error_threshold_percentage(f64::NAN));
    assert_eq!(
        e.to_string(),
        "error_threshold_percentage must be in (0, 100], got NaN"
    );
    assert_eq!(e.setting(), "error_threshold_percentage");
    assert_eq!(e.value(), "NaN");
    fn assert_error<T: Error + Send + Sync + Clone + 'static>() {}
    assert_error::<ConfigError>();
}

#[test]
fn config_every_invalid_value_is_rejected() {
    let b = || CircuitBreaker::builder("x");
    let mut cases: Vec<(Builder, &str, &str)> = Vec::new();
    for (p, shown) in [
        (f64::NAN, "NaN"),
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
        (0.0, "0"),
        (-0.0, "-0"),
        (-1.0, "-1"),
        (100.000_001, "100.000001"),
        (f64::MAX, "1.7976931348623157e308"),
        (-1e300, "-1e300"),
    ] {
        cases.push((
            b().error_threshold_percentage(p),
            "error_threshold_percentage",
            shown,
        ));
    }
    cases.extend([
        (
            b().consecutive_failure_threshold(0),
            "consecutive_failure_threshold",
            "0",
        ),
        (b().open_duration(Duration::ZERO), "open_duration", "0"),
        (b().half_open_max_calls(0), "half_open_max_calls", "0"),
        (
            b().half_open_max_calls(1_048_576),
            "half_open_max_calls",
            "1048576",
        ),
        (
            b().half_open_max_calls(u32::MAX),
            "half_open_max_calls",
            "4294967295",
        ),
        (b().reset_timeout(Duration::ZERO), "reset_timeout", "0"),
        (
            b().monitoring_window(Duration::ZERO),
            "monitoring_window",
            "0",
        ),
        (
            b().min_calls_for_error_rate(0),
            "min_calls_for_error_rate",
            "0",
        ),
        (b().window_buckets(0), "window_buckets", "0"),
        (b().window_buckets(1001), "window_buckets", "1001"),
        (b().window_buckets(u32::MAX), "window_buckets", "4294967295"),
        (
            b().monitoring_window(Duration::from_millis(5))
                .window_buckets(10),
            "window_buckets",
            "10",
        ),
        // No bucket count makes a window under 1 ms valid: the error names
        // the window, not the bucket count.
        (
            b().monitoring_window(Duration::from_nanos(1))
                .window_buckets(1),
            "monitoring_window",
            "1ns",
        ),
        (
            b().monitoring_window(Duration::from_micros(500)),
            "monitoring_window",
            "500µs",
        ),
    ]);
    for (builder, setting, value) in cases {
        let e = config_err(builder);
        let msg = e.to_string();
        assert_eq!(e.setting(), setting, "{msg}");
        assert!(msg.starts_with(setting), "{msg}");
        assert!(e.value().starts_with(value), "{msg}: value {}", e.value());
        assert!(msg.contains(&format!("got {value}")), "{msg}");
    }
}

#[test]
fn config_boundary_values_are_valid() {
    let ok = |b: Builder| b.build().map(|_| ()).expect("valid");
    let b = || CircuitBreaker::builder("x");
    ok(b().error_threshold_percentage(100.0));
    ok(b().error_threshold_percentage(f64::MIN_POSITIVE));
    ok(b().consecutive_failure_threshold(1));
    ok(b().consecutive_failure_threshold(u32::MAX));
    ok(b().half_open_max_calls(1));
    ok(b().half_open_max_calls(1_048_575));
    ok(b().min_calls_for_error_rate(1));
    ok(b().min_calls_for_error_rate(u32::MAX));
    ok(b().window_buckets(1));
    ok(b().window_buckets(1000));
    ok(b()
        .monitoring_window(Duration::from_millis(10))
        .window_buckets(10));
    ok(b()
        .monitoring_window(Duration::from_millis(1))
        .window_buckets(1));
    ok(b().open_duration(Duration::from_nanos(1)));
    ok(b().reset_timeout(Duration::from_nanos(1)));
    ok(b().open_duration(Duration::MAX));
    ok(b().reset_timeout(Duration::MAX));
    ok(b().monitoring_window(Duration::MAX).window_buckets(1000));
    ok(b().monitoring_window(Duration::MAX).window_buckets(1));
}

/// No input panics: every combination of extreme values either builds a
/// breaker that then works, or returns a `ConfigError`.
#[test]
fn config_no_input_panics() {
    let percents = [
        f64::NAN,
        f64::INFINITY,
        -1.0,
        0.0,
        f64::MIN_POSITIVE,
        50.0,
        100.0,
        101.0,
    ];
    let counts = [0u32, 1, 2, 1000, 1001, 1_048_575, 1_048_576, u32::MAX];
    let durations = [
        Duration::ZERO,
        Duration::from_nanos(1),
        Duration::from_millis(1),
        Duration::from_secs(60),
        Duration::from_secs(u64::MAX / 2),
        Duration::MAX,
    ];
    let mut built = 0;
    for &p in &percents {
        for &n in &counts {
            for &d in &durations {
                let (clock, mock) = Clock::mock();
                let r = CircuitBreaker::builder("x")
                    .error_threshold_percentage(p)
                    .consecutive_failure_threshold(n)
                    .half_open_max_calls(n)
                    .min_calls_for_error_rate(n)
                    .window_buckets(n)
                    .open_duration(d)
                    .reset_timeout(d)
                    .monitoring_window(d)
                    .clock(clock)
                    .build();
                let Ok(cb) = r else { continue };
                built += 1;
                // Exercise it across its whole life, including huge jumps.
                for step in [
                    Duration::ZERO,
                    Duration::from_secs(1),
                    Duration::from_nanos(u64::MAX / 4),
                ] {
                    let _ = cb.call(|| Err::<(), ()>(()));
                    let _ = cb.call(|| Ok::<(), ()>(()));
                    let _ = cb.try_acquire().map(Permit::failure);
                    let _ = cb.snapshot();
                    let _ = cb.state();
                    mock.increment(step);
                }
            }
        }
    }
    assert!(built > 0);
}

#[test]
fn config_error_with_the_builder_debug() {
    // The builder is Clone + Debug; its name is readable.
    let b = CircuitBreaker::builder("dbg").half_open_max_calls(4);
    assert_eq!(b.name(), "dbg");
    let text = format!("{:?}", b.clone());
    assert!(text.contains("dbg") && text.contains("half_open_max_calls"));
}

// ---- Send/Sync, Permit ---------------------------------------------------------

#[test]
fn api_breaker_and_registry_are_send_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<CircuitBreaker>();
    assert_send_sync::<Arc<CircuitBreaker>>();
    assert_send_sync::<Registry>();
    assert_send_sync::<Snapshot>();
    assert_send_sync::<Rejected>();
    // Shared by reference across threads.
    let cb = CircuitBreaker::new("shared");
    std::thread::scope(|s| {
        s.spawn(|| cb.call(|| Ok::<(), ()>(())).unwrap());
    });
    assert_eq!(cb.snapshot().total_successes, 1);
}

#[test]
fn api_permit_verdicts_consume_and_count() {
    let (cb, _mock) = small("p", 5, 1);
    let p: Permit<'_> = cb.try_acquire().unwrap();
    assert!(!p.is_probe());
    p.success();
    cb.try_acquire().unwrap().failure();
    let s = cb.snapshot();
    assert_eq!(
        (s.total_successes, s.total_failures, s.total_calls),
        (1, 1, 2)
    );
    assert_eq!((s.recent_calls, s.consecutive_failures), (2, 1));
    assert!(format!("{:?}", cb.try_acquire().unwrap()).contains("Permit"));
}

#[test]
fn api_dropped_permit_counts_neither_way() {
    let (cb, _mock) = small("p", 1, 1);
    for _ in 0..10 {
        drop(cb.try_acquire().unwrap());
    }
    // Early return with `?`-style flow: the permit is dropped.
    fn early(cb: &CircuitBreaker) -> Result<(), &'static str> {
        let _permit = cb.try_acquire().map_err(|_| "rejected")?;
        Err("gave up before the call")
    }
    assert!(early(&cb).is_err());
    let s = cb.snapshot();
    assert_eq!(s.state, State::Closed);
    assert_eq!(
        (
            s.total_calls,
            s.total_successes,
            s.total_failures,
            s.total_rejected
        ),
        (0, 0, 0, 0)
    );
    assert_eq!((s.recent_calls, s.consecutive_failures), (0, 0));
}

#[test]
fn api_dropped_probe_frees_its_slot() {
    let (cb, mock) = small("p", 1, 2);
    half_open(&cb, &mock, 1);
    let a = cb.try_acquire().unwrap();
    let b = cb.try_acquire().unwrap();
    assert!(a.is_probe() && b.is_probe());
    assert!(cb.try_acquire().is_err());
    drop(a);
    assert_eq!(cb.snapshot().half_open_calls, 1);
    assert_eq!(cb.state(), State::HalfOpen);
    let c = cb.try_acquire().expect("slot freed by the drop");
    drop((b, c));
    let s = cb.snapshot();
    assert_eq!(s.half_open_calls, 0);
    assert_eq!((s.total_calls, s.total_rejected), (1, 1));
}

// ---- Rejected, CallError ---------------------------------------------------------

#[test]
fn api_rejected_traits_and_accessors() {
    fn assert_traits<T: Error + std::fmt::Display + Clone + Send + Sync + 'static>() {}
    assert_traits::<Rejected>();
    let (cb, mock) = small("api", 1, 3);
    fail(&cb);
    let r = cb.try_acquire().unwrap_err();
    let copy = r.clone();
    assert_eq!(copy.name(), "api");
    assert_eq!(copy.state(), State::Open);
    assert_eq!(copy.retry_after(), Some(OPEN));
    assert!(r.source().is_none());
    assert!(format!("{r:?}").contains("api"));
    mock.increment(OPEN);
    let _probes = [
        cb.try_acquire().unwrap(),
        cb.try_acquire().unwrap(),
        cb.try_acquire().unwrap(),
    ];
    let r = cb.try_acquire().unwrap_err();
    assert_eq!(r.state(), State::HalfOpen);
    assert_eq!(r.retry_after(), None);
    assert_eq!(r.name(), "api");
}

#[test]
fn api_rejected_messages() {
    let (cb, mock) = mocked(
        CircuitBreaker::builder("api")
            .consecutive_failure_threshold(1)
            .open_duration(Duration::from_secs(20)),
    );
    fail(&cb);
    mock.increment(Duration::from_millis(7_660));
    let r = cb.try_acquire().unwrap_err();
    assert_eq!(r.retry_after(), Some(Duration::from_millis(12_340)));
    assert_eq!(
        r.to_string(),
        "circuit breaker 'api' is open, will try half-open in 12.34s"
    );
    mock.increment(Duration::from_millis(12_340));
    let _probes = [
        cb.try_acquire().unwrap(),
        cb.try_acquire().unwrap(),
        cb.try_acquire().unwrap(),
    ];
    assert_eq!(
        cb.try_acquire().unwrap_err().to_string(),
        "circuit breaker 'api' is half-open, all 3 probe slots are taken"
    );
    // One slot: no "all 1 probe slots".
    let (cb, mock) = mocked(
        CircuitBreaker::builder("one")
            .consecutive_failure_threshold(1)
            .half_open_max_calls(1),
    );
    fail(&cb);
    mock.increment(fusebox::DEFAULT_OPEN_DURATION);
    let _probe = cb.try_acquire().unwrap();
    assert_eq!(
        cb.try_acquire().unwrap_err().to_string(),
        "circuit breaker 'one' is half-open, its only probe slot is taken"
    );
}

#[test]
fn api_rejected_names_long_and_unicode() {
    for name in [
        "",
        "über-api",
        "ß".repeat(40).as_str(),
        "n".repeat(300).as_str(),
    ] {
        let (cb, _mock) = mocked(
            CircuitBreaker::builder(name)
                .consecutive_failure_threshold(1)
                .open_duration(Duration::from_secs(1)),
        );
        fail(&cb);
        let r = cb.try_acquire().unwrap_err();
        assert_eq!(r.name(), name);
        assert_eq!(
            r.to_string(),
            format!("circuit breaker '{name}' is open, will try half-open in 1.00s")
        );
    }
}

#[derive(Debug)]
struct MyErr(&'static str);
impl std::fmt::Display for MyErr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "my error: {}", self.0)
    }
}
impl Error for MyErr {}

#[test]
fn api_call_error_source_points_at_the_cause() {
    let (cb, _mock) = small("src", 1, 1);
    let e: CallError<MyErr> = cb.call(|| Err::<(), _>(MyErr("down"))).unwrap_err();
    assert!(!e.is_rejected());
    assert!(e.rejected().is_none());
    let source = e.source().expect("a source");
    assert_eq!(source.downcast_ref::<MyErr>().unwrap().0, "down");
    assert!(e.to_string().contains("my error: down"), "{e}");
    assert_eq!(e.into_failed().unwrap().0, "down");

    let e: CallError<MyErr> = cb.call(|| Ok(())).unwrap_err();
    assert!(e.is_rejected());
    let source = e.source().expect("a source");
    let r = source
        .downcast_ref::<Rejected>()
        .expect("the Rejected")
        .clone();
    assert_eq!(r.name(), "src");
    assert_eq!(e.to_string(), r.to_string());
    assert!(e.into_failed().is_none());

    // Usable as a boxed error with `?`.
    fn run(cb: &CircuitBreaker) -> Result<(), Box<dyn Error + Send + Sync>> {
        cb.call(|| Ok::<(), MyErr>(()))?;
        Ok(())
    }
    assert!(run(&cb).is_err());
    let from: CallError<MyErr> = r.clone().into();
    assert!(from.is_rejected());
}

// ---- call, call_with_fallback ----------------------------------------------------

#[test]
fn api_call_counts_ok_and_err() {
    let (cb, _mock) = small("c", 3, 1);
    assert_eq!(cb.call(|| Ok::<_, ()>(5)).unwrap(), 5);
    assert!(matches!(
        cb.call(|| Err::<u8, _>(MyErr("x"))),
        Err(CallError::Failed(MyErr("x")))
    ));
    let s = cb.snapshot();
    assert_eq!((s.total_successes, s.total_failures), (1, 1));
}

#[test]
fn api_call_with_fallback_only_when_rejected() {
    let (cb, _mock) = small("fb", 1, 1);
    let mut fallbacks = 0;
    assert_eq!(
        cb.call_with_fallback(
            || Ok::<u32, MyErr>(1),
            |_| {
                fallbacks += 1;
                0
            }
        )
        .unwrap(),
        1
    );
    // An admitted failure stays Err(E); the fallback does not run.
    let r = cb.call_with_fallback(
        || Err::<u32, _>(MyErr("down")),
        |_| {
            fallbacks += 1;
            0
        },
    );
    assert_eq!(r.unwrap_err().0, "down");
    assert_eq!(fallbacks, 0);
    assert_eq!(cb.state(), State::Open);
    // Rejected: Ok(fallback(rejected)), f not run.
    let mut ran = false;
    let r = cb.call_with_fallback(
        || {
            ran = true;
            Ok::<u32, MyErr>(1)
        },
        |rejected: Rejected| {
            fallbacks += 1;
            assert_eq!(rejected.name(), "fb");
            assert_eq!(rejected.state(), State::Open);
            42
        },
    );
    assert_eq!(r.unwrap(), 42);
    assert!(!ran);
    assert_eq!(fallbacks, 1);
    let s = cb.snapshot();
    assert_eq!(
        (s.total_successes, s.total_failures, s.total_rejected),
        (1, 1, 1)
    );
}

// ---- call_async -------------------------------------------------------------------

#[test]
fn api_call_async_same_rules_as_call() {
    let (cb, _mock) = small("async", 2, 1);
    let v = block_on(cb.call_async(async {
        YieldOnce(false).await;
        Ok::<_, MyErr>(7)
    }));
    assert_eq!(v.unwrap(), 7);
    let e = block_on(cb.call_async(async { Err::<u8, _>(MyErr("a")) })).unwrap_err();
    assert!(matches!(e, CallError::Failed(MyErr("a"))));
    let _ = block_on(cb.call_async(async { Err::<u8, _>(MyErr("b")) }));
    assert_eq!(cb.state(), State::Open);
    let mut polled = false;
    let e = block_on(cb.call_async(async {
        polled = true;
        Ok::<u8, MyErr>(1)
    }))
    .unwrap_err();
    assert!(e.is_rejected());
    assert!(!polled, "a rejected future is never polled");
    let s = cb.snapshot();
    assert_eq!(
        (s.total_successes, s.total_failures, s.total_rejected),
        (1, 2, 1)
    );
}

#[test]
fn api_call_async_takes_its_permit_on_first_poll() {
    let (cb, mock) = small("async", 1, 1);
    half_open(&cb, &mock, 1);
    let fut = cb.call_async(async { Ok::<(), ()>(()) });
    assert_eq!(cb.snapshot().half_open_calls, 0, "not polled yet");
    drop(fut);
    assert_eq!(cb.snapshot().half_open_calls, 0);
    block_on(cb.call_async(async { Ok::<(), ()>(()) })).unwrap();
    assert_eq!(cb.state(), State::Closed);
}

#[test]
fn api_call_async_cancel_frees_the_probe_slot() {
    let (cb, mock) = small("cancel", 1, 1);
    half_open(&cb, &mock, 1);
    let before = cb.snapshot();
    {
        let mut fut = std::pin::pin!(cb.call_async(async {
            YieldOnce(false).await;
            Ok::<(), ()>(())
        }));
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        let s = cb.snapshot();
        assert_eq!(s.half_open_calls, 1, "the probe slot is held while pending");
        assert!(cb.try_acquire().is_err());
        // Cancelled here: dropped while pending.
    }
    let s = cb.snapshot();
    assert_eq!(s.half_open_calls, 0, "cancel frees the slot");
    assert_eq!(s.state, State::HalfOpen);
    assert_eq!(s.total_calls, before.total_calls, "no verdict counted");
    assert_eq!(s.total_rejected, before.total_rejected + 1);
    cb.try_acquire().expect("slot is free").success();
    assert_eq!(cb.state(), State::Closed);
}

// ---- panics ---------------------------------------------------------------------

#[test]
fn api_panic_in_call_is_a_failure_and_keeps_unwinding() {
    let (cb, mock) = small("panic", 2, 1);
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _ = cb.call(|| -> Result<(), ()> { panic!("inside call") });
    }));
    let payload = r.expect_err("the panic propagates");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"inside call"));
    let s = cb.snapshot();
    assert_eq!((s.total_failures, s.consecutive_failures), (1, 1));
    assert_eq!(s.state, State::Closed);
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let _ = cb.call(|| -> Result<(), ()> { panic!("again") });
    }));
    assert_eq!(cb.state(), State::Open, "2 consecutive failures");
    // A panicking probe frees its slot and reopens (R7).
    mock.increment(OPEN);
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let _ = cb.call(|| -> Result<(), ()> { panic!("probe") });
    }));
    let s = cb.snapshot();
    assert_eq!(s.state, State::Open);
    assert_eq!(s.half_open_calls, 0);
    assert_eq!(s.open_remaining, Some(OPEN));
    assert_eq!(s.total_failures, 3);
}

fn boom(msg: &'static str) -> Result<(), ()> {
    panic!("{msg}")
}

/// A `call_async` future dropped while another panic unwinds (a sibling of
/// a `join!` that panicked) is cancelled: no verdict, the probe slot freed.
#[test]
fn api_call_async_dropped_during_another_panic_is_a_cancel() {
    let (cb, mock) = small("cancel-unwinding", 1, 1);
    let pending_then_unrelated_panic = |cb: &CircuitBreaker| {
        let r = catch_unwind(AssertUnwindSafe(|| {
            let mut fut = Box::pin(cb.call_async(async {
                YieldOnce(false).await;
                Ok::<(), ()>(())
            }));
            let waker = noop_waker();
            assert!(fut
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
            panic!("a sibling task panicked");
        }));
        assert!(r.is_err());
    };
    pending_then_unrelated_panic(&cb);
    let s = cb.snapshot();
    assert_eq!((s.state, s.total_calls), (State::Closed, 0), "no verdict");
    half_open(&cb, &mock, 1);
    pending_then_unrelated_panic(&cb);
    let s = cb.snapshot();
    assert_eq!(
        s.state,
        State::HalfOpen,
        "a cancelled probe does not reopen"
    );
    assert_eq!(s.half_open_calls, 0, "its slot is free");
    assert_eq!(s.total_failures, 1, "only the failure that tripped it");
    block_on(cb.call_async(async { Ok::<(), ()>(()) })).unwrap();
    assert_eq!(cb.state(), State::Closed);
}

/// A listener that panics on the change to HALF_OPEN: the request that
/// made the change still runs as the probe, and its slot is not leaked.
#[test]
fn api_a_panicking_listener_does_not_wedge_half_open() {
    let (cb, mock) = mocked(
        CircuitBreaker::builder("listener-panics")
            .consecutive_failure_threshold(1)
            .open_duration(OPEN)
            .half_open_max_calls(1)
            .on_state_change(|c: &StateChange<'_>| {
                if c.to == State::HalfOpen {
                    panic!("listener bug");
                }
            }),
    );
    fail(&cb);
    mock.increment(OPEN);
    let r = catch_unwind(AssertUnwindSafe(|| cb.call(|| Ok::<_, ()>(5))));
    assert_eq!(r.expect("the listener's panic is caught").unwrap(), 5);
    let s = cb.snapshot();
    assert_eq!((s.state, s.half_open_calls), (State::Closed, 0));
}

/// A listener that panics on the change to OPEN, made by a permit dropped
/// while the guarded call's own panic unwinds: the process is not aborted
/// (a panic escaping a destructor during unwinding would abort it), the
/// breaker opens and the original panic reaches the caller.
#[test]
fn api_a_panicking_listener_during_unwinding_does_not_abort() {
    let (cb, _mock) = mocked(
        CircuitBreaker::builder("listener-panics-unwinding")
            .consecutive_failure_threshold(1)
            .open_duration(OPEN)
            .on_state_change(|c: &StateChange<'_>| {
                if c.to == State::Open {
                    panic!("listener bug");
                }
            }),
    );
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _ = cb.call(|| -> Result<(), ()> { panic!("the call's own panic") });
    }));
    let payload = r.expect_err("the call's panic propagates");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"the call's own panic")
    );
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn api_panic_in_call_async_is_a_failure_and_keeps_unwinding() {
    let (cb, mock) = small("panic-async", 1, 1);
    let r = catch_unwind(AssertUnwindSafe(|| {
        block_on(cb.call_async(async {
            YieldOnce(false).await;
            boom("inside future")
        }))
    }));
    assert!(r.is_err());
    assert_eq!(cb.state(), State::Open);
    assert_eq!(cb.snapshot().total_failures, 1);
    mock.increment(OPEN);
    let r = catch_unwind(AssertUnwindSafe(|| {
        block_on(cb.call_async(async { boom("probe future") }))
    }));
    assert!(r.is_err());
    let s = cb.snapshot();
    assert_eq!(
        (s.state, s.half_open_calls, s.total_failures),
        (State::Open, 0, 2)
    );
}

// ---- Snapshot -----------------------------------------------------------------

#[test]
fn api_snapshot_fields() {
    let (cb, mock) = mocked(
        CircuitBreaker::builder("snap")
            .consecutive_failure_threshold(3)
            .min_calls_for_error_rate(100)
            .open_duration(OPEN)
            .half_open_max_calls(2),
    );
    let s = cb.snapshot();
    assert_eq!(
        s,
        Snapshot {
            name: "snap".into(),
            state: State::Closed,
            error_rate: 0.0,
            recent_calls: 0,
            consecutive_failures: 0,
            total_calls: 0,
            total_successes: 0,
            total_failures: 0,
            total_rejected: 0,
            total_ignored: 0,
            slow_call_rate: 0.0,
            recent_slow_calls: 0,
            state_duration: Duration::ZERO,
            open_remaining: None,
            half_open_calls: 0,
            half_open_max_calls: 2,
        }
    );
    for _ in 0..3 {
        cb.call(|| Ok::<(), ()>(())).unwrap();
    }
    fail(&cb);
    mock.increment(Duration::from_secs(5));
    let s = cb.snapshot();
    assert_eq!(s.error_rate, 25.0);
    assert_eq!((s.recent_calls, s.consecutive_failures), (4, 1));
    assert_eq!(s.state_duration, Duration::from_secs(5));
    fail(&cb);
    fail(&cb);
    mock.increment(Duration::from_secs(4));
    let s = cb.snapshot();
    assert_eq!(s.state, State::Open);
    assert_eq!(s.state_duration, Duration::from_secs(4));
    assert_eq!(s.open_remaining, Some(OPEN - Duration::from_secs(4)));
    assert_eq!(s.error_rate, 50.0);
    assert_eq!(s.consecutive_failures, 3);
    assert_eq!(s.half_open_calls, 0);
    assert!(cb.try_acquire().is_err());
    mock.increment(OPEN);
    let p = cb.try_acquire().unwrap();
    mock.increment(Duration::from_secs(2));
    let s = cb.snapshot();
    assert_eq!(s.state, State::HalfOpen);
    assert_eq!(s.state_duration, Duration::from_secs(2));
    assert_eq!(s.open_remaining, None);
    assert_eq!((s.half_open_calls, s.half_open_max_calls), (1, 2));
    assert_eq!(
        (
            s.total_calls,
            s.total_successes,
            s.total_failures,
            s.total_rejected
        ),
        (6, 3, 3, 1)
    );
    p.failure();
    let s = cb.snapshot();
    assert!((0.0..=100.0).contains(&s.error_rate));
    assert_eq!(s.total_calls, s.total_successes + s.total_failures);
}

#[test]
fn api_snapshot_error_rate_stays_a_percentage() {
    let (cb, _mock) = mocked(
        CircuitBreaker::builder("pct")
            .consecutive_failure_threshold(1_000)
            .min_calls_for_error_rate(1_000),
    );
    for _ in 0..7 {
        fail(&cb);
    }
    assert_eq!(cb.snapshot().error_rate, 100.0);
    cb.call(|| Ok::<(), ()>(())).unwrap();
    assert_eq!(cb.snapshot().error_rate, 87.5);
}

#[test]
fn api_state_display_and_as_str() {
    assert_eq!(State::Closed.as_str(), "closed");
    assert_eq!(State::Open.to_string(), "open");
    assert_eq!(State::HalfOpen.to_string(), "half-open");
}

#[cfg(feature = "serde")]
#[test]
fn api_snapshot_serializes_to_json() {
    let (cb, mock) = small("json", 1, 3);
    cb.call(|| Ok::<(), ()>(())).unwrap();
    fail(&cb);
    mock.increment(Duration::from_millis(1500));
    let s = cb.snapshot();
    let v = serde_json::to_value(&s).expect("serializes");
    assert_eq!(v["name"], "json");
    assert_eq!(v["state"], "Open");
    assert_eq!(v["error_rate"], 50.0);
    assert_eq!(v["recent_calls"], 2);
    assert_eq!(v["consecutive_failures"], 1);
    assert_eq!(v["total_calls"], 2);
    assert_eq!(v["total_successes"], 1);
    assert_eq!(v["total_failures"], 1);
    assert_eq!(v["total_rejected"], 0);
    assert_eq!(v["half_open_calls"], 0);
    assert_eq!(v["half_open_max_calls"], 3);
    assert_eq!(v["state_duration"]["secs"], 1);
    assert_eq!(v["state_duration"]["nanos"], 500_000_000);
    assert_eq!(v["open_remaining"]["secs"], 28);
    let text = serde_json::to_string(&s).unwrap();
    assert!(text.starts_with('{') && text.contains("\"name\":\"json\""));
    // The registry's map serializes too.
    let reg = Registry::new();
    reg.register(CircuitBreaker::new("r"));
    let all = serde_json::to_value(reg.get_states()).unwrap();
    assert_eq!(all["r"]["state"], "Closed");
}

// ---- quanta re-export -----------------------------------------------------------

#[test]
fn api_quanta_is_reexported() {
    let (clock, mock): (fusebox::quanta::Clock, Arc<fusebox::quanta::Mock>) =
        fusebox::quanta::Clock::mock();
    let cb = CircuitBreaker::builder("q")
        .consecutive_failure_threshold(1)
        .open_duration(Duration::from_secs(1))
        .clock(clock)
        .build()
        .unwrap();
    fail(&cb);
    mock.increment(Duration::from_secs(1));
    assert_eq!(cb.state(), State::HalfOpen);
}

/// `Recent` on a real clock of the user's once read quanta's global recent
/// time, which a `quanta::Upkeep` keeps fresh only while it runs: a breaker
/// built before such an upkeep started saw its time stop for good when the
/// upkeep stopped (an OPEN breaker stayed open). Its time must keep moving.
/// (Real time, but no wait for a state change: the test only asks that
/// `state_duration` grows while at least 2 ms pass.)
#[test]
fn api_recent_mode_on_a_users_real_clock_outlives_a_quanta_upkeep() {
    let cb = CircuitBreaker::builder("recent-on-a-real-clock")
        .clock(Clock::new())
        .clock_mode(ClockMode::Recent)
        .build()
        .unwrap();
    let upkeep = fusebox::quanta::Upkeep::new(Duration::from_millis(1))
        .start()
        .expect("no other test in this binary starts a quanta upkeep");
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_millis(5) {
        std::hint::spin_loop(); // let the upkeep tick a few times
    }
    drop(upkeep);
    let before = cb.snapshot().state_duration;
    let mark = std::time::Instant::now();
    while mark.elapsed() < Duration::from_millis(2) {
        std::hint::spin_loop();
    }
    let after = cb.snapshot().state_duration;
    assert!(
        after >= before + Duration::from_millis(1),
        "the breaker's time froze: {before:?} then {after:?}"
    );
}

#[test]
fn api_recent_mode_on_a_users_clock_reads_that_clock_while_an_upkeep_runs() {
    // fusebox's upkeep keeps the process's time; a breaker built on a clock
    // of the user's reads that clock in Recent mode too, never the upkeep.
    let _upkeep = fusebox::Upkeep::new(Duration::from_millis(1))
        .start()
        .expect("no other test in this binary starts an upkeep");
    let (clock, mock) = Clock::mock();
    let cb = CircuitBreaker::builder("recent-on-a-mock")
        .clock(clock)
        .clock_mode(ClockMode::Recent)
        .consecutive_failure_threshold(100)
        .min_calls_for_error_rate(10)
        .monitoring_window(Duration::from_secs(60))
        .build()
        .unwrap();
    for _ in 0..5 {
        fail(&cb);
    }
    for _ in 0..4 {
        cb.call(|| Ok::<(), ()>(())).unwrap();
    }
    assert_eq!(cb.snapshot().recent_calls, 9);
    // A minute on the mock, none on the upkeep: the nine calls leave the
    // window, so the tenth call (a failure) cannot trip the error rate.
    mock.increment(Duration::from_secs(61));
    fail(&cb);
    let s = cb.snapshot();
    assert_eq!(
        (s.state, s.recent_calls, s.error_rate),
        (State::Closed, 1, 100.0)
    );
}

// ---- unticketed triple ------------------------------------------------------------

#[test]
fn api_unticketed_in_closed_and_open() {
    let (cb, _mock) = small("unticketed", 2, 2);
    assert!(cb.allow_request());
    cb.on_success();
    assert!(cb.allow_request());
    cb.on_failure();
    assert_eq!(cb.snapshot().consecutive_failures, 1);
    assert!(cb.allow_request());
    cb.on_success();
    assert_eq!(cb.snapshot().consecutive_failures, 0);
    cb.on_failure();
    cb.on_failure();
    assert_eq!(cb.state(), State::Open);
    assert!(!cb.allow_request());
    cb.on_success(); // a verdict while OPEN only reaches the totals
    let s = cb.snapshot();
    assert_eq!(s.state, State::Open);
    assert_eq!(s.open_remaining, Some(OPEN));
    assert_eq!(
        (s.total_successes, s.total_failures, s.total_rejected),
        (3, 3, 1)
    );
}

#[test]
fn api_unticketed_in_half_open() {
    let (cb, mock) = small("unticketed", 1, 2);
    half_open(&cb, &mock, 1);
    assert!(cb.allow_request());
    assert!(cb.allow_request());
    assert!(!cb.allow_request(), "both slots taken");
    assert_eq!(cb.snapshot().half_open_calls, 2);
    cb.on_success();
    assert_eq!(cb.snapshot().half_open_calls, 1);
    cb.on_success();
    assert_eq!(cb.state(), State::Closed, "2 successes close");
    // And a failure reopens.
    cb.on_failure();
    mock.increment(OPEN);
    assert!(cb.allow_request());
    cb.on_failure();
    assert_eq!(cb.state(), State::Open);
    assert_eq!(cb.try_acquire().unwrap_err().retry_after(), Some(OPEN));
}

#[test]
fn api_registry_round_trip() {
    let registry = Registry::new();
    let db = registry
        .create(CircuitBreaker::builder("database").consecutive_failure_threshold(5))
        .unwrap();
    let same = registry.get("database").unwrap();
    assert!(Arc::ptr_eq(&db, &same));
    assert_eq!(registry.get_all().len(), 1);
    assert_eq!(registry.get_states()["database"].state, State::Closed);
    assert!(registry.register(CircuitBreaker::new("x")).is_none());
    assert!(registry.unregister("x"));
    assert!(format!("{registry:?}").contains("database"));
    assert!(format!("{db:?}").contains("database"));
}

#[test]
fn api_registry_with_runs_on_the_breaker_without_a_clone() {
    let registry = Registry::new();
    let db = registry
        .create(CircuitBreaker::builder("database"))
        .unwrap();
    let refs = Arc::strong_count(&db);
    let seen = registry.with("database", |cb| {
        assert_eq!(Arc::strong_count(&db), refs, "no clone while f runs");
        assert_eq!(cb.call(|| Ok::<_, ()>(7)).unwrap(), 7);
        cb as *const CircuitBreaker
    });
    assert_eq!(seen, Some(Arc::as_ptr(&db)));
    let mut ran = false;
    assert_eq!(registry.with("cache", |_| ran = true), None);
    assert!(!ran, "no breaker: f does not run");
    // A breaker unregistered while f runs stays the one f sees.
    let calls = registry.with("database", |cb| {
        assert!(registry.unregister("database"));
        assert!(registry.get("database").is_none());
        cb.call(|| Ok::<_, ()>(())).unwrap();
        cb.snapshot().total_calls
    });
    assert_eq!(calls, Some(2));
    assert_eq!(db.snapshot().total_calls, 2);
    assert_eq!(registry.with("database", |_| ()), None);
}
