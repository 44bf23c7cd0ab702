//! # fusebox
//!
//! A circuit breaker for hot paths: lock-free, allocation-free, and cheap
//! enough to wrap every call to a flaky dependency.
//!
//! A breaker trips from CLOSED to OPEN on an **error rate** over a sliding
//! time window (default: at least 50 % failures once at least 10 calls fell
//! in the last 60 s) or on **consecutive failures** (default 10). After
//! `open_duration` the next request becomes a **half-open probe**; a capped
//! number of probes decide whether it closes again or reopens. A half-open
//! breaker can never wedge (`reset_timeout`), and a verdict that arrives
//! after the breaker moved on cannot move it (generations).
//!
//! ```
//! use fusebox::{CallError, CircuitBreaker};
//!
//! let cb = CircuitBreaker::new("inventory");
//! let stock: Result<u32, CallError<std::io::Error>> = cb.call(|| Ok(42));
//! assert_eq!(stock.unwrap(), 42);
//! ```
//!
//! # States
//!
//! ```text
//!            failures >= consecutive_failure_threshold
//!            or error rate >= error_threshold_percentage (>= min_calls)
//!   +--------+ --------------------------------------> +------+
//!   | CLOSED |                                          | OPEN | <----+
//!   +--------+ <--+                                     +------+      |
//!        ^        |                                        |         |
//!        |        | reset_timeout,                         | open_duration elapsed:
//!        |        | >= 1 success                           | next request / state()
//!        |        |                                        v         |
//!        |   half_open_max_calls successes         +-----------+     |
//!        +---------------------------------------- | HALF_OPEN | ----+
//!                                                   +-----------+  any probe failure,
//!                                                                  or reset_timeout
//!                                                                  with no success
//! ```
//!
//! # Three ways to use it
//!
//! 1. **Wrap a call**: [`CircuitBreaker::call`],
//!    [`CircuitBreaker::call_with_fallback`], [`CircuitBreaker::call_async`].
//! 2. **Direct**: [`CircuitBreaker::try_acquire`] returns a [`Permit`] to
//!    report `success()` or `failure()` on; or the unticketed
//!    [`allow_request`](CircuitBreaker::allow_request) /
//!    [`on_success`](CircuitBreaker::on_success) /
//!    [`on_failure`](CircuitBreaker::on_failure).
//! 3. **Registry**: [`Registry`] (or [`Registry::global`]) names breakers
//!    and snapshots them all for a dashboard.
//!
//! # Decisions the spec left open
//!
//! * Half-open admission caps probes **in flight**: a probe that succeeds
//!   frees its slot, and the breaker closes once `half_open_max_calls`
//!   probes have succeeded.
//! * The window is cleared when the breaker closes, not when it opens: a
//!   snapshot of an OPEN breaker still shows the error rate that tripped it.
//!   Probe verdicts count in the window of the current era.
//! * `half_open_max_calls` is at most 1 048 575 (20 bits of the state word).
//! * A permit dropped while its thread is panicking is a failure; a
//!   [`call_async`](CircuitBreaker::call_async) future dropped during a
//!   panic that did not come out of its own guarded future is a
//!   cancellation (no verdict).
//! * A panic in a state-change listener is caught and logged at ERROR: the
//!   transition stands and the request that made it goes on.
//! * Unticketed [`on_success`](CircuitBreaker::on_success) /
//!   [`on_failure`](CircuitBreaker::on_failure) are verdicts of the current
//!   generation; they never make a time-based transition themselves, and in
//!   HALF_OPEN they count as a probe's only while an unticketed
//!   [`allow_request`](CircuitBreaker::allow_request) of that half-open
//!   period holds a slot no unticketed verdict has released (SPEC R5 says
//!   they release "one" slot; this is which). Any other unticketed verdict
//!   there (a call admitted while CLOSED that ends after the trip) reaches
//!   the totals only, so it can neither reopen the breaker (R9) nor free a
//!   slot a [`Permit`] holds (R5). While unticketed probes are out, such a
//!   verdict cannot be told from theirs: prefer permits where calls can
//!   outlive a trip.
//! * A clock that goes backwards reads as "no time passed"; a verdict whose
//!   clock reading is older than the bucket its ring slot already holds
//!   reaches the totals but not the window.
//! * Totals are exact: a snapshot counts every call finished before it
//!   began, once. No snapshot, on any thread, shows a lower total than
//!   one returned before it, so they export as monotonic counters as they
//!   are. A snapshot that meets a bucket's count on its way from the ring
//!   into the totals waits for that move to finish (a few instructions,
//!   unless the thread making it is preempted there), for at most 10 ms
//!   per stripe: a thread stopped in the middle of a move for longer (by a
//!   debugger, or one that does not exist in a child forked while it was
//!   moving) makes the snapshot read on without that count, until the
//!   thread resumes (and never below an earlier snapshot's totals). Calls
//!   never wait for snapshots.
//!
//! # Feature flags
//!
//! * `serde`: `Serialize` for [`Snapshot`], [`State`], [`Reason`] and
//!   [`ClockMode`].
//!
//! # Performance
//!
//! The CLOSED success path is one load of the state word to admit, one load
//! to check the permit is still current (R9), one clock read, and one
//! uncontended CAS on a counter in the calling thread's own 128-byte-aligned
//! stripe, plus a load of the consecutive-failure word. The counter's slot
//! comes from a hint (the newest bucket counted), not from the clock
//! reading, and the reading is checked against that bucket's bounds rather
//! than divided, so the CAS does not wait for the clock. In
//! [`ClockMode::Recent`] the "clock read" is the upkeep's epoch cell for the
//! breaker's bucket width (the bucket its last tick fell in), compared with
//! the hint in one instruction. No lock, no allocation, no system call, no
//! write to a line other threads write.
//!
//! Measured on a 2-vCPU AMD EPYC VM (`BENCHMARKS.md` has the machine, the
//! commands and every figure): `call(|| Ok(()))` costs 10–18 ns with the
//! default [`ClockMode::Precise`] (the TSC read alone is 10–12 ns) and
//! 3.3–6.7 ns with [`ClockMode::Recent`], which replaces the clock read by
//! one inlined load for users who run an [`Upkeep`] thread (the low ends in
//! the VM's fast periods, the high ends in its slow ones); aggregate
//! throughput grows ~1.7–2.1× from one thread to two, where a mutex-based
//! breaker or recloser falls to a fifth or less. A rejection while OPEN
//! costs 11–24 ns (Precise) or 3.4–9.1 ns (Recent): one counter increment on
//! the thread's own stripe, no shared write.
//!
//! A failure that does not trip checks the error rate (R2) by summing the
//! window only when no earlier scan already shows that the rate cannot reach
//! the threshold: one scan grants the next failures of its bucket a budget
//! (see the `budget` module), so at 1 % failures a failure costs ~200
//! instructions instead of one pass over every stripe.
//!
//! Memory: a breaker owns `stripes × max(16, next_power_of_two(3 + 3 × R))
//! × 8` bytes of counters (`R` = `window_buckets` rounded up to a power of
//! two) plus ~760 bytes; stripes default to twice the available
//! parallelism, capped at 16 (2.8 KiB on 2 cores, at most ~9 KiB at the
//! default 10 buckets).
//!
//! # Orderings
//!
//! Each module that touches atomics documents its orderings: `breaker`
//! (state word, stamp, era, consecutive count), `window` (the bucket
//! roll-over protocol), `budget` (the R2 scan budget), `upkeep` (the coarse
//! clock and its epoch cells) and `registry`. Every transition is one CAS on the
//! packed state word; only its winner logs (R10).

#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]

mod breaker;
mod budget;
mod call;
mod clock;
mod config;
mod error;
mod events;
mod permit;
mod policy;
mod registry;
mod snapshot;
mod state;
mod sync;
mod upkeep;
mod window;

#[cfg(fusebox_loom)]
#[doc(hidden)]
pub mod __loom {
    //! Internals for `loom-tests/`; not part of the public API.
    pub use crate::loom_exports::*;
}
#[cfg(fusebox_loom)]
mod loom_exports;

pub use breaker::CircuitBreaker;
pub use clock::ClockMode;
pub use config::{
    Builder, ConfigError, DEFAULT_CONSECUTIVE_FAILURE_THRESHOLD,
    DEFAULT_ERROR_THRESHOLD_PERCENTAGE, DEFAULT_HALF_OPEN_MAX_CALLS,
    DEFAULT_MIN_CALLS_FOR_ERROR_RATE, DEFAULT_MONITORING_WINDOW, DEFAULT_OPEN_DURATION,
    DEFAULT_RESET_TIMEOUT, DEFAULT_WINDOW_BUCKETS, MAX_WINDOW_BUCKETS, MIN_BUCKET_WIDTH,
};
pub use error::{CallError, Rejected};
pub use events::{Reason, StateChange};
pub use permit::Permit;
pub use registry::Registry;
pub use snapshot::Snapshot;
pub use state::State;
#[cfg(not(fusebox_loom))]
pub use upkeep::{Upkeep, UpkeepHandle};

/// The `quanta` crate, re-exported so a mock clock needs no second
/// dependency line: `fusebox::quanta::Clock::mock()`.
pub use quanta;
