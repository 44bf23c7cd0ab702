//! `Snapshot`: what a dashboard shows about one breaker.

use std::time::Duration;

use crate::state::State;

/// A point-in-time view of one breaker (see `CircuitBreaker::snapshot`).
///
/// The totals are exact and never go down, so they export as counters.
/// The window figures cover the calls that completed in the last
/// `monitoring_window` (at bucket granularity) since the breaker last
/// closed: closing clears them, opening does not, so an OPEN breaker still
/// shows the figures that tripped it.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Snapshot {
    /// The breaker's name.
    pub name: String,
    /// The state, after any transition due with time.
    pub state: State,
    /// Failure percentage over the window, `0.0..=100.0`; 0.0 when empty.
    pub error_rate: f64,
    /// Calls with a verdict in the window.
    pub recent_calls: u64,
    /// Failures since the last success (cleared when the breaker closes).
    pub consecutive_failures: u64,
    /// `total_successes + total_failures`.
    pub total_calls: u64,
    /// Successful calls since creation.
    pub total_successes: u64,
    /// Failed calls since creation (including panics).
    pub total_failures: u64,
    /// Refused requests since creation.
    pub total_rejected: u64,
    /// Calls that ended [`Outcome::Ignored`](crate::Outcome::Ignored) since
    /// creation: they count neither way and are not in `total_calls`.
    pub total_ignored: u64,
    /// Slow-call percentage over the window, `0.0..=100.0`: slow calls
    /// among those with a verdict (and those abandoned slow); 0.0 without
    /// a slow-call threshold.
    pub slow_call_rate: f64,
    /// Slow calls in the window.
    pub recent_slow_calls: u64,
    /// Time in the current state.
    pub state_duration: Duration,
    /// When OPEN: time left until a request may become a probe, of the
    /// opening's duration in force (see [`Backoff`](crate::Backoff)).
    pub open_remaining: Option<Duration>,
    /// Probes in flight (HALF_OPEN), else 0.
    pub half_open_calls: u32,
    /// The configured probe cap.
    pub half_open_max_calls: u32,
}
