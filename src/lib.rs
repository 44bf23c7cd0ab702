//! # fusebox
//!
//! A circuit breaker for hot paths: lock-free, allocation-free, and cheap
//! enough to wrap every call to a flaky dependency.
//!
//! A breaker stands in front of a dependency (a database, a remote
//! service). While the dependency is healthy the breaker is CLOSED and lets
//! every call through. When failures pile up, as an **error rate** over a
//! sliding time window or as a run of **consecutive failures**, it trips
//! OPEN: it refuses calls at once, without running them, and says when to
//! retry. After `open_duration` it lets a capped number of **half-open
//! probes** through, and their verdicts decide whether it closes again or
//! reopens.
//!
//! ```
//! use std::time::Duration;
//! use fusebox::{CallError, CircuitBreaker};
//!
//! let cb = CircuitBreaker::builder("inventory")
//!     .consecutive_failure_threshold(5)
//!     .open_duration(Duration::from_secs(30))
//!     .build()?;
//!
//! match cb.call(|| fetch_stock(42)) {                  // Ok = success, Err = failure
//!     Ok(stock) => println!("{stock} in stock"),
//!     Err(CallError::Failed(e)) => eprintln!("the call failed: {e}"),
//!     Err(CallError::Rejected(r)) => eprintln!("{r}"), // open: fetch_stock did not run
//! }
//! # fn fetch_stock(_item: u32) -> Result<u32, std::io::Error> { Ok(7) }
//! # Ok::<(), fusebox::ConfigError>(())
//! ```
//!
//! Every setting is optional: [`Builder`] lists them with their defaults and
//! valid ranges, and [`CircuitBreaker::new`] takes all the defaults and
//! cannot fail. A breaker is `Send + Sync`; share it by reference or in an
//! `Arc`.
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
//! No timer thread runs: a transition that falls due with time is made by
//! the first request, [`state()`](CircuitBreaker::state) or
//! [`snapshot()`](CircuitBreaker::snapshot) after it is due, so a breaker
//! left idle for any length of time still recovers on its next request.
//!
//! # How it decides
//!
//! These rules are the whole behaviour. The numbers are the ones the
//! crate's tests are named after (`r5_…`, `r9_…`); the rest of these docs
//! use the names.
//!
//! | Rule | Name | What happens |
//! |---|---|---|
//! | R1 | consecutive-failure trip | Every failure adds one to a count shared by all threads, every success resets it to 0. When a failure brings it to `consecutive_failure_threshold`, CLOSED → OPEN. |
//! | R2 | error-rate trip | When a failure is recorded, the window holds at least `min_calls_for_error_rate` calls (the *minimum calls*) and at least `error_threshold_percentage` percent of them failed, CLOSED → OPEN. The window covers the last `monitoring_window` in `window_buckets` buckets: a call stays counted at least `monitoring_window - bucket` and at most `monitoring_window + bucket`. Only calls with a verdict count, never rejected requests. |
//! | R3 | rejecting while open | While OPEN every request is refused and the protected code does not run. [`Rejected::retry_after`] says how long until the next probe. |
//! | R4 | open duration | Once `open_duration` has passed since opening, the next request moves the breaker to HALF_OPEN and is its first probe. `state()` already reports `HalfOpen` then. |
//! | R5 | half-open probes (probe cap) | At most `half_open_max_calls` probes are in flight at any instant, under any interleaving of threads; other requests are refused. A probe that succeeds frees its slot, and so does one that ends [`Ignored`](Outcome::Ignored) or, by default, with no verdict (a dropped permit). |
//! | R6 | closing | Once `half_open_max_calls` probes have succeeded, and none failed, HALF_OPEN → CLOSED, with the window and the consecutive count cleared. |
//! | R7 | reopening | Any probe failure reopens the breaker at once, for a fresh `open_duration` (or, with an open backoff, the next opening's duration). |
//! | R8 | reset timeout | A breaker still HALF_OPEN `reset_timeout` after it got there (slow or leaked probes, too little traffic) is settled by the next request or `state()`: CLOSED if at least one probe succeeded and none failed, else OPEN for a fresh `open_duration`. Half-open never wedges. |
//! | R9 | stale verdicts | A verdict from a call admitted before the breaker's latest transition, however many transitions ago, cannot move the breaker: it counts in the totals and nowhere else. A slow call admitted while CLOSED that fails after the breaker opened and went half-open does not reopen it. |
//! | R10 | one transition per change | However threads race, each transition happens exactly once, and the thread that made it logs it and calls the listener, once. |
//! | R11 | totals | `total_successes + total_failures` equals the verdicts reported, and `total_rejected` the refusals, exactly, under any number of threads. |
//! | R12 | logging | Transitions are logged through `tracing` under `fusebox::…` targets: opening at WARN with the reason and its figures, half-opening and closing at INFO, rejections at DEBUG. |
//! | R13 | registry get-or-create | [`Registry::create`] on a name that exists returns the existing breaker and ignores the builder, even an invalid one. Racing `create`s for one name yield one breaker. |
//! | R14 | slow-call trip | With [`Builder::slow_call_duration_threshold`] set, a call admitted while CLOSED whose verdict (or abandonment) comes at least that long after its admission is *slow*. When a slow call is recorded, the window holds at least the minimum calls and at least `slow_call_rate_threshold` percent of them were slow, CLOSED → OPEN ([`Reason::SlowCallRate`]). A call a timeout abandoned counts as slow whatever [`Builder::abandoned`] says; a slow success is still a success. |
//! | R15 | open backoff | With [`Builder::open_backoff`] set to [`Backoff::exponential`], the k-th opening since the breaker last closed lasts `open_duration × multiplier^(k−1)`, at most its `max`, shortened by a random fraction of at most its `jitter`; closing starts again at k = 1. [`Rejected::retry_after`] and [`Snapshot::open_remaining`] report the duration in force. |
//!
//! # Three ways to use it
//!
//! **Wrap the call**: [`call`](CircuitBreaker::call),
//! [`call_with_fallback`](CircuitBreaker::call_with_fallback) and
//! [`call_async`](CircuitBreaker::call_async). `Ok` counts as a success and
//! `Err` as a failure. A panic counts as a failure, frees the permit and
//! keeps unwinding. [`call_with`](CircuitBreaker::call_with) and
//! [`call_async_with`](CircuitBreaker::call_async_with) take a classifier
//! that says what a result counts as, an [`Outcome`]: `Success`, `Failure`,
//! or `Ignored` for an error that says nothing about the dependency's
//! health (a "not found", a rejected input), which counts neither way.
//!
//! ```
//! # let cb = fusebox::CircuitBreaker::new("prices");
//! # fn fetch_price() -> Result<u32, std::io::Error> { Ok(9) }
//! // The fallback runs only when the breaker refuses; a real failure stays an Err.
//! let price: Result<u32, std::io::Error> = cb.call_with_fallback(fetch_price, |_rejected| 0);
//! ```
//!
//! **Take a permit**: [`try_acquire`](CircuitBreaker::try_acquire) returns
//! a [`Permit`] (or a [`Rejected`]) and you give the verdict with
//! [`success`](Permit::success), [`failure`](Permit::failure) or
//! [`ignore`](Permit::ignore). Use it when the call is not a closure, or
//! when you decide what counts as a failure. A permit dropped without a
//! verdict (an early return, `?`, a cancelled task) counts as the breaker's
//! [`abandoned`](Builder::abandoned) outcome: by default neither way, and
//! its probe slot is freed.
//!
//! ```
//! # let cb = fusebox::CircuitBreaker::new("prices");
//! # #[derive(Debug)] enum PriceError { BadRequest, Down }
//! # fn fetch_price() -> Result<u32, PriceError> { Ok(9) }
//! match cb.try_acquire() {
//!     Ok(permit) => match fetch_price() {
//!         Ok(_) => permit.success(),
//!         Err(PriceError::BadRequest) => permit.ignore(), // our mistake: counts neither way
//!         Err(PriceError::Down) => permit.failure(),
//!     },
//!     Err(rejected) => eprintln!("{rejected}; retry in {:?}", rejected.retry_after()),
//! };
//! ```
//!
//! **The unticketed triple**:
//! [`allow_request`](CircuitBreaker::allow_request),
//! [`on_success`](CircuitBreaker::on_success) and
//! [`on_failure`](CircuitBreaker::on_failure), for code ported from breakers
//! built on them. You pair the calls yourself, and the verdicts carry no
//! ticket: the breaker cannot tell which admission a verdict belongs to. In
//! CLOSED a verdict counts as a permit's would. In HALF_OPEN it counts as a
//! probe's only while an unticketed probe admitted since the breaker became
//! half-open is still out; otherwise, and in OPEN, it reaches the totals
//! only, so the late verdict of a call admitted while CLOSED neither reopens
//! the breaker nor frees a slot a permit holds. While unticketed probes are
//! out, though, such a late verdict cannot be told from theirs: prefer
//! permits where calls can outlive a trip. `on_success` and `on_failure`
//! never make a time-based transition themselves.
//!
//! ```
//! # let cb = fusebox::CircuitBreaker::new("prices");
//! # fn fetch_price() -> Result<u32, std::io::Error> { Ok(9) }
//! if cb.allow_request() {
//!     match fetch_price() {
//!         Ok(_) => cb.on_success(),
//!         Err(_) => cb.on_failure(),
//!     }
//! }
//! ```
//!
//! # Errors
//!
//! * [`CallError<E>`](CallError) is what the wrappers return:
//!   `Rejected(Rejected)` when the breaker refused (the code did not run),
//!   `Failed(E)` with the call's own error. It implements
//!   `std::error::Error` where `E` does, with `source()` pointing at the
//!   inner error.
//! * [`Rejected`] is a refusal: [`name()`](Rejected::name),
//!   [`state()`](Rejected::state) and [`retry_after()`](Rejected::retry_after)
//!   (the time left until the next probe when OPEN, `None` when HALF_OPEN
//!   with every probe slot taken). Its message reads
//!   `circuit breaker 'api' is open, will try half-open in 12.34s`.
//! * [`ConfigError`] comes from [`Builder::build`] and names the first bad
//!   setting and its value:
//!   `error_threshold_percentage must be in (0, 100], got NaN`. Bad
//!   configuration never panics.
//!
//! # Watching it
//!
//! * **Listener**: [`Builder::on_state_change`] runs once for every
//!   transition, on the thread that made it, with a [`StateChange`]: the
//!   breaker's name, the old and new [`State`], the [`Reason`] (with the
//!   figures that tripped it) and the transition's generation, which orders
//!   changes reported from different threads. A panic in the listener is
//!   caught and logged at ERROR; the transition stands and the request that
//!   made it goes on.
//! * **Logs**: transitions go to `tracing` as the logging rule says. Nothing
//!   is built per call for a listener or a subscriber that is not there.
//! * **Snapshots**: [`CircuitBreaker::snapshot`] (or
//!   [`Registry::get_states`]) gives a [`Snapshot`] of the state, the
//!   window's error rate and call count, the consecutive failures, the
//!   totals, the time in the current state, the time left while OPEN and
//!   the probes in flight. The window is cleared when the breaker closes,
//!   not when it opens, so an OPEN breaker still shows the error rate that
//!   tripped it, and probe verdicts are added to those figures.
//!
//! The totals are exact: a snapshot counts every call that finished before
//! it began, once, and no snapshot, on any thread, shows a lower total than
//! one taken before it, so they export as monotonic counters as they are. A
//! snapshot may wait a moment for a call that is halfway through recording
//! its verdict. The wait is bounded: a thread stopped there for longer (by a
//! debugger, say) makes the snapshot go on without that one count until the
//! thread resumes, and never below an earlier snapshot's totals. Calls never
//! wait for snapshots.
//!
//! # Async
//!
//! [`call_async`](CircuitBreaker::call_async) guards a future with the same
//! rules as `call`, on any runtime: it uses no executor, timer or lock, and
//! boxes nothing.
//!
//! ```
//! # async fn fetch_price_async() -> Result<u32, std::io::Error> { Ok(9) }
//! # async fn demo(cb: &fusebox::CircuitBreaker) {
//! let price = cb.call_async(async { fetch_price_async().await }).await;
//! # }
//! ```
//!
//! Dropping the future before it finishes (a timeout around it, a
//! cancelled task) gives no verdict: the call counts as the breaker's
//! [`abandoned`](Builder::abandoned) outcome, by default neither way (a
//! half-open probe slot is freed). With `.abandoned(Outcome::Failure)`, a
//! timeout around a hanging dependency counts against it and can trip the
//! breaker. A panic that comes out of the guarded future counts as a
//! failure; a drop while the thread unwinds from some other panic (a
//! sibling branch of a `join!`) is an abandoned call like any other.
//!
//! # Many breakers: the registry
//!
//! A [`Registry`] (or the process-wide [`Registry::global`]) holds breakers
//! by name. [`create`](Registry::create) is get-or-create,
//! [`register`](Registry::register) inserts or replaces,
//! [`unregister`](Registry::unregister) removes, and
//! [`get_states`](Registry::get_states) snapshots them all, sorted by name,
//! for a dashboard. Lookups take no lock. [`get`](Registry::get) returns an
//! `Arc`, whose clone writes a reference count that every thread looking up
//! that name shares; on a hot path keep the `Arc`, or use
//! [`with`](Registry::with), which clones nothing.
//!
//! ```
//! use fusebox::{CircuitBreaker, Registry};
//!
//! let registry = Registry::new();
//! let db = registry.create(CircuitBreaker::builder("database").consecutive_failure_threshold(5))?;
//! let rows = registry.with("database", |db| db.call(|| Ok::<_, ()>(3)));
//! assert_eq!(rows.map(Result::ok), Some(Some(3)));
//! assert_eq!(registry.get_states()["database"].total_calls, 1);
//! # drop(db);
//! # Ok::<(), fusebox::ConfigError>(())
//! ```
//!
//! # Time
//!
//! A breaker reads the `quanta` clock, one process-wide `quanta::Clock`
//! unless [`Builder::clock`] gives another: `fusebox::quanta::Clock::mock()`
//! makes tests deterministic without a second dependency line. A clock that
//! goes backwards reads as "no time passed". `open_duration` and
//! `reset_timeout` are timed exactly however long the breaker sits idle.
//! [`ClockMode::Recent`] trades precision for speed: a success then reads a
//! coarse time that an [`Upkeep`] thread, started by you, keeps fresh.
//!
//! # More behaviour worth knowing
//!
//! * `half_open_max_calls` is both the cap on probes in flight and the
//!   number of probe successes that close the breaker; it is at most
//!   1 048 575.
//! * A permit dropped while its thread is panicking counts as a failure, so
//!   a guarded call that panics is a failure.
//! * A verdict whose clock reading is older than a bucket the window has
//!   already moved past and reused (its thread read the clock just before
//!   another thread's reading started a new bucket, or the clock went back)
//!   counts in the totals but not in the window.
//! * Slow calls (with a slow-call threshold) are timed only when admitted
//!   while CLOSED through the wrappers or a [`Permit`]: half-open probes
//!   are judged by their verdicts alone, and the unticketed API carries no
//!   admission time. An explicit [`Permit::ignore`] is never slow; a call
//!   abandoned slow is, whatever [`Builder::abandoned`] says. The slow-call
//!   rate is judged when a slow call is recorded, as the error rate is
//!   when a failure is.
//! * An open backoff's jitter is drawn once per opening, from the opening
//!   and a random number drawn for each breaker, so breakers that open together
//!   probe at different times, and every caller sees the same
//!   `retry_after`. A multiplier on [`Backoff::constant`] is a
//!   configuration error rather than ignored.
//!
//! # Feature flags
//!
//! * `serde`: `Serialize` for [`Snapshot`], [`State`], [`Reason`],
//!   [`Outcome`] and [`ClockMode`], for example to serve [`Registry::get_states`] as JSON.
//!
//! # Performance
//!
//! A closed-state success takes no lock, allocates nothing, makes no system
//! call, and writes no cache line that other threads write. On a 2-vCPU AMD
//! EPYC VM, a successful `call` costs about 1.04× the time of its floor (a
//! TSC read plus a relaxed add on the thread's own cache line) with the
//! default [`ClockMode::Precise`], and about 1.2× a bare relaxed add with
//! [`ClockMode::Recent`]. From one thread to two, throughput grows about
//! 1.9×, while a `Mutex` breaker's falls to about a third (fusebox is then
//! 17× to 26× faster). A rejection while OPEN costs about 6 ns (`Recent`)
//! to 10 ns (`Precise`). A slow-call threshold costs one more clock read per
//! call (about 2.1× the floor with `Precise`), and a classifier nothing
//! measurable. A default breaker owns about 2.9 KiB on 2 cores (at most
//! about 9 KiB on many). See BENCHMARKS.md in the repository for the
//! method, every group and the other crates.
//!
//! # How it works inside
//!
//! ARCHITECTURE.md in the repository maps the engine: which atomic words
//! each part owns, the invariants, and where the loom models, property
//! tests and fuzz targets that check them live.

#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]

mod backoff;
mod breaker;
mod budget;
mod call;
mod clock;
mod config;
mod error;
mod events;
mod outcome;
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

pub use backoff::{Backoff, DEFAULT_BACKOFF_MULTIPLIER};
pub use breaker::CircuitBreaker;
pub use clock::ClockMode;
pub use config::{
    Builder, ConfigError, DEFAULT_CONSECUTIVE_FAILURE_THRESHOLD,
    DEFAULT_ERROR_THRESHOLD_PERCENTAGE, DEFAULT_HALF_OPEN_MAX_CALLS,
    DEFAULT_MIN_CALLS_FOR_ERROR_RATE, DEFAULT_MONITORING_WINDOW, DEFAULT_OPEN_DURATION,
    DEFAULT_RESET_TIMEOUT, DEFAULT_SLOW_CALL_RATE_THRESHOLD, DEFAULT_WINDOW_BUCKETS,
    MAX_WINDOW_BUCKETS, MIN_BUCKET_WIDTH,
};
pub use error::{CallError, Rejected};
pub use events::{Reason, StateChange};
pub use outcome::Outcome;
pub use permit::Permit;
pub use registry::Registry;
pub use snapshot::Snapshot;
pub use state::State;
#[cfg(not(fusebox_loom))]
pub use upkeep::{Upkeep, UpkeepHandle};

/// The `quanta` crate, re-exported so a mock clock needs no second
/// dependency line: `fusebox::quanta::Clock::mock()`.
pub use quanta;
