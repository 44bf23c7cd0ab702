//! The full-cycle race shared by `tests/concurrency.rs` (listener side) and
//! `tests/logging.rs` (`tracing` side): one thread's part of each round; and
//! [`scope`], the watchdogged `std::thread::scope` every threaded test uses.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::Scope;
use std::time::{Duration, Instant};

use fusebox::quanta::Mock;
use fusebox::{CircuitBreaker, State};

/// Runs `rounds` rounds as thread `t` of `barrier`'s party. Each round:
/// every thread fails one permit (the breaker opens once), thread 0 moves
/// the clock past `open`, then every thread requests once (one request takes
/// the breaker half-open; the probes that get in succeed and close it).
/// Admitted probes are counted in `successes`, refusals in `rejections`.
#[allow(clippy::too_many_arguments)]
pub fn cycle_rounds(
    cb: &CircuitBreaker,
    mock: &Mock,
    barrier: &Barrier,
    t: usize,
    rounds: usize,
    open: Duration,
    successes: &AtomicU64,
    rejections: &AtomicU64,
) {
    for _ in 0..rounds {
        // Phase A: racing failures trip the breaker once.
        let permit = cb.try_acquire().expect("closed at round start");
        barrier.wait();
        permit.failure();
        barrier.wait();
        if t == 0 {
            assert_eq!(cb.state(), State::Open);
            mock.increment(open);
        }
        barrier.wait();
        // Phase B: racing requests: one goes half-open, the probes that get
        // in succeed and close it.
        match cb.try_acquire() {
            Ok(p) => {
                successes.fetch_add(1, Ordering::Relaxed);
                p.success();
            }
            Err(_) => {
                rejections.fetch_add(1, Ordering::Relaxed);
            }
        }
        barrier.wait();
        if t == 0 {
            assert_eq!(cb.state(), State::Closed);
        }
        barrier.wait();
    }
}

/// `std::thread::scope` with a watchdog. A livelock in a lock-free protocol
/// shows up as a threaded test that never ends, which CI would only report
/// as a run that timed out; if the scope is still running after
/// `FUSEBOX_TEST_WATCHDOG_SECS` (default 300 s, far above any healthy run),
/// the watchdog names the test and aborts the test binary instead. It only
/// detects a hang: no test waits on it for a state change.
pub fn scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    let limit = std::env::var("FUSEBOX_TEST_WATCHDOG_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(300), Duration::from_secs);
    let name = std::thread::current()
        .name()
        .unwrap_or("a threaded test")
        .to_owned();
    let done = Arc::new(AtomicBool::new(false));
    let dog = {
        let done = done.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            while !done.load(Ordering::Acquire) {
                let Some(left) = limit.checked_sub(start.elapsed()) else {
                    // Straight to fd 2: libtest captures `eprintln!`.
                    let _ = writeln!(
                        std::io::stderr(),
                        "{name}: threads still running after {limit:?}: livelock; aborting"
                    );
                    std::process::abort();
                };
                std::thread::park_timeout(left);
            }
        })
    };
    let out = std::thread::scope(f);
    done.store(true, Ordering::Release);
    dog.thread().unpark();
    dog.join().expect("watchdog");
    out
}
