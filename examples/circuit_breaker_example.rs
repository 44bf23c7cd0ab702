//! A narrated walk through a circuit breaker's life, on a mock clock.
//!
//! ```text
//! cargo run --example circuit_breaker_example
//! ```
//!
//! A flaky "inventory" service sits behind a breaker. The walk shows:
//!
//! 1. `call`: the breaker trips on consecutive failures, rejects with a
//!    `retry_after`, lets a half-open probe through (which fails and reopens
//!    it), then recovers after enough successful probes;
//! 2. `call_with_fallback`: a second breaker trips on its error rate, and a
//!    cached value is served while it is open;
//! 3. `try_acquire` + `Permit`: half-open probe slots, a permit dropped
//!    without a verdict, and `reset_timeout` resolving a half-open breaker;
//! 4. the unticketed `allow_request` / `on_success` / `on_failure`;
//! 5. `call_async`, polled by a ten-line executor (fusebox needs no runtime);
//! 6. a `Registry` and its `get_states()` table.
//!
//! Time is a `quanta` mock clock moved by hand, so the whole walk runs in
//! milliseconds although the breakers are configured in seconds.

use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use fusebox::quanta::{Clock, Mock};
use fusebox::{CallError, CircuitBreaker, Registry, Snapshot, State, StateChange};

/// The error our pretend service returns.
#[derive(Debug, Clone, PartialEq)]
struct ServiceError(&'static str);

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for ServiceError {}

/// A pretend remote service whose health we switch by hand.
struct FlakyService {
    healthy: Cell<bool>,
    hits: Cell<u32>,
}

impl FlakyService {
    fn new() -> Self {
        FlakyService {
            healthy: Cell::new(true),
            hits: Cell::new(0),
        }
    }

    fn set_healthy(&self, healthy: bool) {
        self.healthy.set(healthy);
    }

    /// One request: 42 units in stock, or a timeout.
    fn fetch_stock(&self) -> Result<u32, ServiceError> {
        self.hits.set(self.hits.get() + 1);
        if self.healthy.get() {
            Ok(42)
        } else {
            Err(ServiceError("timeout"))
        }
    }
}

/// Prints every state change as it happens (runs on the thread that made it).
fn print_transition(change: &StateChange<'_>) {
    println!(
        "      >> transition  {:<10} {} -> {}  ({})",
        change.name, change.from, change.to, change.reason
    );
}

fn show(s: &Snapshot) {
    let remaining = s
        .open_remaining
        .map_or_else(|| "-".to_string(), |d| format!("{:.1}s", d.as_secs_f64()));
    println!(
        "      snapshot    {:<10} state={:<9} error_rate={:>5.1}% window_calls={} consecutive={} \
         total={} (ok {} / failed {}) rejected={} in_state={:.1}s open_remaining={} probes={}/{}",
        s.name,
        s.state.to_string(),
        s.error_rate,
        s.recent_calls,
        s.consecutive_failures,
        s.total_calls,
        s.total_successes,
        s.total_failures,
        s.total_rejected,
        s.state_duration.as_secs_f64(),
        remaining,
        s.half_open_calls,
        s.half_open_max_calls,
    );
}

fn advance(mock: &Mock, secs: u64) {
    mock.increment(Duration::from_secs(secs));
    println!("   ~~ {secs} s pass ~~");
}

/// `cb.call(...)`, narrated.
fn narrated_call(cb: &CircuitBreaker, svc: &FlakyService) {
    match cb.call(|| svc.fetch_stock()) {
        Ok(stock) => println!("   call -> Ok({stock})"),
        Err(CallError::Failed(e)) => println!("   call -> Failed({e})  [counted as a failure]"),
        Err(CallError::Rejected(r)) => println!(
            "   call -> Rejected: {r}  [service not called; retry_after = {:?}]",
            r.retry_after()
        ),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (clock, mock) = Clock::mock();

    println!("(`>>` lines come from the on_state_change listener, printed during the call");
    println!(" that caused the transition, so they appear just before that call's result.)");
    println!();

    // ---------------------------------------------------------------- 1
    println!("1. `call`: trip on consecutive failures, reject, probe, recover");
    let svc = FlakyService::new();
    let inventory = CircuitBreaker::builder("inventory")
        .consecutive_failure_threshold(3)
        .open_duration(Duration::from_secs(30))
        .half_open_max_calls(2)
        .reset_timeout(Duration::from_secs(10))
        .clock(clock.clone())
        .on_state_change(print_transition)
        .build()?;

    narrated_call(&inventory, &svc);
    narrated_call(&inventory, &svc);
    println!("   the service starts timing out");
    svc.set_healthy(false);
    for _ in 0..3 {
        narrated_call(&inventory, &svc);
    }
    show(&inventory.snapshot());

    let hits_before = svc.hits.get();
    narrated_call(&inventory, &svc);
    assert_eq!(svc.hits.get(), hits_before, "an open breaker does not call");
    advance(&mock, 20);
    narrated_call(&inventory, &svc);
    show(&inventory.snapshot());

    advance(&mock, 10);
    println!(
        "   open_duration has elapsed: state() = {}",
        inventory.state()
    );
    println!("   the first probe goes through, but the service is still down");
    narrated_call(&inventory, &svc);
    assert_eq!(inventory.state(), State::Open);
    show(&inventory.snapshot());

    advance(&mock, 30);
    println!("   the service is back");
    svc.set_healthy(true);
    narrated_call(&inventory, &svc); // probe 1 of 2
    println!("   state after one good probe: {}", inventory.state());
    narrated_call(&inventory, &svc); // probe 2 of 2: closes
    assert_eq!(inventory.state(), State::Closed);
    show(&inventory.snapshot());

    // ---------------------------------------------------------------- 2
    println!();
    println!("2. `call_with_fallback`: trip on the error rate, serve a cached price");
    let prices = CircuitBreaker::builder("prices")
        .error_threshold_percentage(50.0)
        .min_calls_for_error_rate(10)
        .consecutive_failure_threshold(100) // only the error rate trips here
        .monitoring_window(Duration::from_secs(60))
        .open_duration(Duration::from_secs(15))
        .clock(clock.clone())
        .on_state_change(print_transition)
        .build()?;
    let cached_price = 9_99;
    // Every second call fails: 50 % errors, never 100 consecutive.
    for i in 0..12u32 {
        let result = prices.call_with_fallback(
            || {
                if i % 2 == 1 {
                    Err(ServiceError("HTTP 503"))
                } else {
                    Ok(10_49)
                }
            },
            |rejected| {
                println!("   fallback ({rejected})");
                cached_price
            },
        );
        println!("   price request {i:>2} -> {result:?}");
        if i == 9 {
            show(&prices.snapshot());
        }
    }
    assert_eq!(prices.state(), State::Open);

    // ---------------------------------------------------------------- 3
    println!();
    println!("3. `try_acquire` + `Permit`: probe slots, dropped permits, reset_timeout");
    advance(&mock, 15);
    let p1 = prices.try_acquire()?; // moves OPEN -> HALF_OPEN, first probe
    let p2 = prices.try_acquire()?; // second probe (half_open_max_calls defaults to 3)
    let p3 = prices.try_acquire()?;
    println!(
        "   three probes in flight (is_probe = {}), a fourth request:",
        p1.is_probe()
    );
    match prices.try_acquire() {
        Ok(_) => unreachable!("all probe slots are taken"),
        Err(rejected) => println!(
            "   rejected: {rejected}  [retry_after = {:?}]",
            rejected.retry_after()
        ),
    }
    show(&prices.snapshot());
    println!("   probe 1 succeeds; probe 2 is abandoned (dropped without a verdict)");
    p1.success();
    drop(p2);
    show(&prices.snapshot());
    println!("   probe 3 hangs ... reset_timeout (60 s by default) runs out");
    advance(&mock, 61);
    println!(
        "   state() = {}  [one success, no failure: reset to closed]",
        prices.state()
    );
    println!("   the late verdict of probe 3 no longer moves the breaker:");
    p3.failure();
    show(&prices.snapshot());
    assert_eq!(prices.state(), State::Closed);

    // ---------------------------------------------------------------- 4
    println!();
    println!("4. unticketed `allow_request` / `on_success` / `on_failure`");
    let legacy = CircuitBreaker::builder("legacy")
        .consecutive_failure_threshold(2)
        .clock(clock.clone())
        .on_state_change(print_transition)
        .build()?;
    svc.set_healthy(false);
    for attempt in 1..=3 {
        if legacy.allow_request() {
            match svc.fetch_stock() {
                Ok(_) => legacy.on_success(),
                Err(e) => {
                    println!("   attempt {attempt}: {e}");
                    legacy.on_failure();
                }
            }
        } else {
            println!(
                "   attempt {attempt}: not allowed, the breaker is {}",
                legacy.state()
            );
        }
    }
    show(&legacy.snapshot());

    // ---------------------------------------------------------------- 5
    println!();
    println!("5. `call_async`: runtime-agnostic, here polled by a tiny block_on");
    svc.set_healthy(true);
    let stock = block_on(inventory.call_async(async { svc.fetch_stock() }));
    println!("   call_async -> {stock:?}");

    // ---------------------------------------------------------------- 6
    println!();
    println!("6. `Registry`: named breakers, get-or-create, one table of snapshots");
    let registry = Registry::new();
    registry.register(inventory);
    registry.register(prices);
    registry.register(legacy);
    let db = registry.create(
        CircuitBreaker::builder("database")
            .consecutive_failure_threshold(5)
            .clock(clock.clone()),
    )?;
    // `create` on an existing name returns the existing breaker, builder ignored.
    let again = registry.create(CircuitBreaker::builder("database").half_open_max_calls(0))?;
    assert!(Arc::ptr_eq(&db, &again));
    let _ = db.call(|| Ok::<_, ServiceError>(()));
    if let Some(inv) = registry.get("inventory") {
        let _ = inv.call(|| svc.fetch_stock());
    }
    println!("   {} breakers registered:", registry.len());
    for (name, s) in registry.get_states() {
        println!(
            "   {name:<10} {:<9} calls={:<3} failures={:<3} rejected={}",
            s.state.to_string(),
            s.total_calls,
            s.total_failures,
            s.total_rejected
        );
    }
    println!(
        "   unregister(\"legacy\") -> {}",
        registry.unregister("legacy")
    );
    Ok(())
}

/// Drives a future to completion on this thread: enough for `call_async`,
/// which needs no timer, no I/O and no particular runtime.
fn block_on<F: Future>(fut: F) -> F::Output {
    struct ThreadWaker(std::thread::Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(out) => return out,
            Poll::Pending => std::thread::park(),
        }
    }
}
