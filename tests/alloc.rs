//! Zero heap allocations after warm-up on every request path (SPEC §4 and
//! beyond): closed success and failure, open rejection, and the half-open
//! paths (probe admission, success, failure/reopen, drop, close), and a
//! registry lookup. A counting
//! global allocator counts per thread, so other tests and the harness
//! cannot disturb a measurement.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use fusebox::quanta::{Clock, Mock};
use fusebox::{Builder, CallError, CircuitBreaker, Outcome, Registry, State, StateChange};

// ---- the counting allocator ------------------------------------------------

struct Counting;

thread_local! {
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    // `try_with`: the allocator may run while thread-locals are torn down.
    let _ = ACTIVE.try_with(|active| {
        if active.get() {
            let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note();
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap operations (allocations, reallocations and frees) made by this
/// thread while `f` runs.
fn heap_ops(f: impl FnOnce()) -> u64 {
    ALLOCS.with(|n| n.set(0));
    ACTIVE.with(|a| a.set(true));
    f();
    ACTIVE.with(|a| a.set(false));
    ALLOCS.with(|n| n.get())
}

/// Runs `f` once to warm up (callsite registration, thread-locals), then
/// asserts that 100 more runs touch the heap zero times.
fn assert_no_alloc(what: &str, mut f: impl FnMut()) {
    f();
    let n = heap_ops(|| {
        for _ in 0..100 {
            f();
        }
    });
    assert_eq!(n, 0, "{what}: {n} heap operations in 100 runs");
}

#[test]
fn the_counter_counts() {
    let n = heap_ops(|| drop(std::hint::black_box(vec![1u8; 16])));
    assert_eq!(n, 2, "one allocation and one free");
}

// ---- helpers ---------------------------------------------------------------

const OPEN: Duration = Duration::from_secs(30);

fn mocked(b: Builder) -> (CircuitBreaker, Arc<Mock>) {
    let (clock, mock) = Clock::mock();
    (b.clock(clock).build().expect("valid"), mock)
}

/// A breaker that never trips.
fn never_trips() -> (CircuitBreaker, Arc<Mock>) {
    mocked(
        CircuitBreaker::builder("a")
            .consecutive_failure_threshold(u32::MAX)
            .min_calls_for_error_rate(u32::MAX),
    )
}

fn open_breaker() -> (CircuitBreaker, Arc<Mock>) {
    let (cb, mock) = mocked(
        CircuitBreaker::builder("a")
            .consecutive_failure_threshold(1)
            .open_duration(OPEN),
    );
    let _ = cb.call(|| Err::<(), ()>(()));
    assert_eq!(cb.state(), State::Open);
    (cb, mock)
}

struct NoopWake;
impl Wake for NoopWake {
    fn wake(self: Arc<Self>) {}
}

// ---- closed ----------------------------------------------------------------

#[test]
fn closed_success_allocates_nothing() {
    let (cb, mock) = never_trips();
    assert_no_alloc("call Ok", || {
        assert!(matches!(cb.call(|| Ok::<u32, ()>(1)), Ok(1)));
    });
    assert_no_alloc("try_acquire + success", || {
        cb.try_acquire().unwrap().success();
    });
    assert_no_alloc("allow_request + on_success", || {
        assert!(cb.allow_request());
        cb.on_success();
    });
    assert_no_alloc("call_with_fallback Ok", || {
        assert_eq!(cb.call_with_fallback(|| Ok::<u32, ()>(1), |_| 0), Ok(1));
    });
    assert_no_alloc("state", || assert_eq!(cb.state(), State::Closed));
    // Across bucket roll-overs too.
    assert_no_alloc("success across buckets", || {
        mock.increment(Duration::from_millis(700));
        cb.try_acquire().unwrap().success();
    });
}

#[test]
fn closed_failure_allocates_nothing() {
    let (cb, mock) = never_trips();
    assert_no_alloc("call Err", || {
        assert!(matches!(
            cb.call(|| Err::<(), _>(7u8)),
            Err(CallError::Failed(7))
        ));
    });
    assert_no_alloc("try_acquire + failure", || {
        cb.try_acquire().unwrap().failure();
    });
    assert_no_alloc("allow_request + on_failure", || {
        assert!(cb.allow_request());
        cb.on_failure();
    });
    assert_no_alloc("mixed across buckets", || {
        mock.increment(Duration::from_millis(700));
        cb.try_acquire().unwrap().failure();
        cb.try_acquire().unwrap().success();
        drop(cb.try_acquire().unwrap());
    });
    assert_eq!(cb.state(), State::Closed);
}

#[test]
fn classified_and_ignored_calls_allocate_nothing() {
    let (cb, _mock) = never_trips();
    let classify = |r: &Result<u32, u8>| match r {
        Ok(_) => Outcome::Success,
        Err(4) => Outcome::Ignored,
        Err(_) => Outcome::Failure,
    };
    assert_no_alloc("call_with, every outcome", || {
        assert!(matches!(cb.call_with(classify, || Ok(1)), Ok(1)));
        assert!(matches!(
            cb.call_with(classify, || Err(4)),
            Err(CallError::Failed(4))
        ));
        assert!(matches!(
            cb.call_with(classify, || Err(5)),
            Err(CallError::Failed(5))
        ));
    });
    assert_no_alloc("ignore and report", || {
        cb.try_acquire().unwrap().ignore();
        cb.try_acquire().unwrap().report(Outcome::Failure);
    });
    let (abandoning, _mock) = mocked(
        CircuitBreaker::builder("abandoning")
            .consecutive_failure_threshold(u32::MAX)
            .min_calls_for_error_rate(u32::MAX)
            .abandoned(Outcome::Failure),
    );
    assert_no_alloc("abandoned as a failure", || {
        drop(abandoning.try_acquire().unwrap());
    });
    let (timed, tmock) = mocked(
        CircuitBreaker::builder("timed")
            .consecutive_failure_threshold(u32::MAX)
            .min_calls_for_error_rate(u32::MAX)
            .slow_call_duration_threshold(Duration::from_nanos(1))
            .open_backoff(fusebox::Backoff::exponential(Duration::from_secs(60)).jitter(0.5)),
    );
    assert_no_alloc("timed calls, slow and not", || {
        assert!(matches!(timed.call(|| Ok::<u32, ()>(1)), Ok(1)));
        let p = timed.try_acquire().unwrap();
        tmock.increment(Duration::from_nanos(5));
        p.success();
        timed.try_acquire().unwrap().failure();
        drop(timed.try_acquire().unwrap());
    });
    assert!(timed.snapshot().recent_slow_calls > 0);
    assert!(cb.snapshot().total_ignored > 0);
    assert!(abandoning.snapshot().total_failures > 0);
}

// ---- open ------------------------------------------------------------------

#[test]
fn open_rejection_allocates_nothing() {
    let (cb, mock) = open_breaker();
    assert_no_alloc("call rejected", || {
        let r = cb.call(|| Ok::<(), ()>(()));
        assert!(matches!(r, Err(CallError::Rejected(_))));
    });
    assert_no_alloc("try_acquire rejected", || {
        let r = cb.try_acquire().unwrap_err();
        assert!(r.retry_after().is_some());
    });
    assert_no_alloc("allow_request false", || assert!(!cb.allow_request()));
    assert_no_alloc("fallback", || {
        assert_eq!(cb.call_with_fallback(|| Ok::<u8, ()>(1), |_| 2), Ok(2));
    });
    assert_no_alloc("state while open", || {
        mock.increment(Duration::from_millis(1));
        assert_eq!(cb.state(), State::Open);
    });
}

// ---- half-open -------------------------------------------------------------

/// One full cycle through every half-open path, from OPEN back to OPEN.
fn half_open_cycle(cb: &CircuitBreaker, mock: &Mock) {
    // OPEN → HALF_OPEN: the request is admitted as a probe.
    mock.increment(OPEN);
    let p1 = cb.try_acquire().expect("probe");
    assert!(p1.is_probe());
    let p2 = cb.try_acquire().expect("probe");
    let p3 = cb.try_acquire().expect("probe");
    // Slots taken: rejection.
    assert!(cb.try_acquire().is_err());
    // A probe success (1 of 3) frees its slot.
    p1.success();
    // Dropped probes free their slots.
    drop(p2);
    drop(p3);
    // A probe failure reopens.
    cb.try_acquire().expect("probe").failure();
    assert_eq!(cb.state(), State::Open);
    // HALF_OPEN again, closed by three successes, then tripped again.
    mock.increment(OPEN);
    assert_eq!(cb.state(), State::HalfOpen);
    for _ in 0..3 {
        assert!(cb.call(|| Ok::<(), ()>(())).is_ok());
    }
    assert_eq!(cb.state(), State::Closed);
    let _ = cb.call(|| Err::<(), ()>(()));
    // R8 both ways.
    mock.increment(OPEN);
    assert!(cb.allow_request());
    cb.on_success();
    std::mem::forget(cb.try_acquire().unwrap());
    mock.increment(Duration::from_secs(60));
    assert_eq!(cb.state(), State::Closed);
    let _ = cb.call(|| Err::<(), ()>(()));
    mock.increment(OPEN);
    std::mem::forget(cb.try_acquire().unwrap());
    mock.increment(Duration::from_secs(60));
    assert!(cb.try_acquire().is_err());
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn half_open_paths_allocate_nothing() {
    let (cb, mock) = open_breaker();
    assert_no_alloc("half-open cycle", || half_open_cycle(&cb, &mock));
}

#[test]
fn transitions_with_a_listener_allocate_nothing() {
    let calls = Arc::new(AtomicU64::new(0));
    let sink = calls.clone();
    let (cb, mock) = mocked(
        CircuitBreaker::builder("a")
            .consecutive_failure_threshold(1)
            .open_duration(OPEN)
            .on_state_change(move |_: &StateChange<'_>| {
                sink.fetch_add(1, Ordering::Relaxed);
            }),
    );
    let _ = cb.call(|| Err::<(), ()>(()));
    assert_no_alloc("half-open cycle with listener", || {
        half_open_cycle(&cb, &mock)
    });
    assert!(calls.load(Ordering::Relaxed) > 100);
}

#[test]
fn call_async_allocates_nothing() {
    let (cb, mock) = open_breaker();
    let waker = Waker::from(Arc::new(NoopWake));
    let poll_once = |cb: &CircuitBreaker, ok: bool| {
        let mut cx = Context::from_waker(&waker);
        let fut = std::pin::pin!(cb.call_async(async move {
            if ok {
                Ok(())
            } else {
                Err(())
            }
        }));
        match fut.poll(&mut cx) {
            Poll::Ready(r) => r,
            Poll::Pending => panic!("ready on first poll"),
        }
    };
    assert_no_alloc("call_async open / half-open / closed", || {
        assert!(poll_once(&cb, true).unwrap_err().is_rejected());
        mock.increment(OPEN);
        for _ in 0..3 {
            assert!(poll_once(&cb, true).is_ok());
        }
        assert_eq!(cb.state(), State::Closed);
        assert!(matches!(poll_once(&cb, false), Err(CallError::Failed(()))));
        assert_eq!(cb.state(), State::Open);
    });
}

// ---- registry ---------------------------------------------------------------

#[test]
fn registry_lookups_allocate_nothing() {
    let registry = Registry::new();
    for i in 0..16 {
        registry
            .create(CircuitBreaker::builder(format!("service-{i:02}")))
            .unwrap();
    }
    assert_no_alloc("Registry::with", || {
        let ok = registry.with("service-07", |cb| cb.call(|| Ok::<_, ()>(())).is_ok());
        assert_eq!(ok, Some(true));
        assert!(registry.with("service-99", |_| ()).is_none());
    });
    assert_no_alloc("Registry::get", || {
        assert!(registry.get("service-07").is_some());
    });
}
