//! Transition events: the `tracing` records and the optional listener.
//!
//! Only the thread whose CAS made a transition calls [`emit`], so each
//! transition is logged once and reaches the listener once (R10). Nothing
//! here runs on a call that makes no transition.

use std::fmt;

use crate::error::Escaped;
use crate::policy::Trip;
use crate::state::State;

/// A state-change listener (see `Builder::on_state_change`).
pub(crate) type Listener = std::sync::Arc<dyn Fn(&StateChange<'_>) + Send + Sync>;

/// Why a transition happened.
///
/// [`StateChange::reason`] carries it, and its `Display` text is the
/// reason the log line gives.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum Reason {
    /// The consecutive-failure trip: `failures` failures in a row reached
    /// `threshold`.
    ConsecutiveFailures {
        /// Failures in a row.
        failures: u64,
        /// The configured threshold.
        threshold: u32,
    },
    /// The error-rate trip: the monitoring window held at least the
    /// minimum calls, and their failure percentage reached the threshold.
    ErrorRate {
        /// Failure percentage over the window.
        rate: f64,
        /// Failed calls in the window.
        failures: u64,
        /// Calls in the window.
        calls: u64,
        /// The configured threshold, in percent.
        threshold: f64,
    },
    /// The slow-call trip: the monitoring window held at least the minimum
    /// calls, and the percentage of them that were slow reached the
    /// threshold.
    SlowCallRate {
        /// Slow-call percentage over the window.
        rate: f64,
        /// Slow calls in the window.
        slow: u64,
        /// Calls in the window.
        calls: u64,
        /// The configured threshold, in percent.
        threshold: f64,
    },
    /// OPEN → HALF_OPEN: `open_duration` had elapsed, and a request, a
    /// `state()` query or a snapshot arrived.
    OpenDurationElapsed,
    /// Closing: this many half-open probes succeeded.
    ProbesSucceeded {
        /// Probe successes (= `half_open_max_calls`).
        successes: u32,
    },
    /// Reopening: a half-open probe failed.
    ProbeFailed,
    /// The reset timeout: the breaker was HALF_OPEN for `reset_timeout`
    /// with this many probe successes: it closes with at least one, and
    /// reopens with none.
    ResetTimeout {
        /// Probe successes since the breaker became half-open.
        successes: u32,
    },
}

impl From<Trip> for Reason {
    fn from(t: Trip) -> Reason {
        match t {
            Trip::Consecutive {
                failures,
                threshold,
            } => Reason::ConsecutiveFailures {
                failures,
                threshold,
            },
            Trip::ErrorRate {
                failures,
                calls,
                rate,
                threshold,
            } => Reason::ErrorRate {
                rate,
                failures,
                calls,
                threshold,
            },
            Trip::SlowCallRate {
                slow,
                calls,
                rate,
                threshold,
            } => Reason::SlowCallRate {
                rate,
                slow,
                calls,
                threshold,
            },
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Reason::ConsecutiveFailures {
                failures,
                threshold,
            } => fmt::Display::fmt(
                &Trip::Consecutive {
                    failures,
                    threshold,
                },
                f,
            ),
            Reason::ErrorRate {
                rate,
                failures,
                calls,
                threshold,
            } => fmt::Display::fmt(
                &Trip::ErrorRate {
                    failures,
                    calls,
                    rate,
                    threshold,
                },
                f,
            ),
            Reason::SlowCallRate {
                rate,
                slow,
                calls,
                threshold,
            } => fmt::Display::fmt(
                &Trip::SlowCallRate {
                    slow,
                    calls,
                    rate,
                    threshold,
                },
                f,
            ),
            Reason::OpenDurationElapsed => f.write_str("open duration elapsed"),
            Reason::ProbesSucceeded { successes } => {
                write!(
                    f,
                    "{successes} half-open probe{} succeeded",
                    if successes == 1 { "" } else { "s" }
                )
            }
            Reason::ProbeFailed => f.write_str("a half-open probe failed"),
            Reason::ResetTimeout { successes } => write!(
                f,
                "reset timeout ran out in half-open with {successes} probe success{}",
                if successes == 1 { "" } else { "es" }
            ),
        }
    }
}

/// One state change, as the listener sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct StateChange<'a> {
    /// The breaker's name.
    pub name: &'a str,
    /// The state before.
    pub from: State,
    /// The state after.
    pub to: State,
    /// Why.
    pub reason: Reason,
    /// The new state's generation: the breaker's transitions so far,
    /// counting this one (it never wraps).
    pub generation: u64,
}

/// Logs a transition and calls the listener. Called by the CAS winner only.
pub(crate) fn emit(change: &StateChange<'_>, listener: Option<&Listener>) {
    let StateChange {
        name,
        from,
        to,
        reason,
        ..
    } = *change;
    match to {
        State::Open => tracing::warn!(
            breaker = name,
            from = from.as_str(),
            %reason,
            "circuit breaker '{}' opened: {reason}",
            Escaped(name)
        ),
        State::HalfOpen => tracing::info!(
            breaker = name,
            from = from.as_str(),
            %reason,
            "circuit breaker '{}' is half-open: {reason}",
            Escaped(name)
        ),
        State::Closed => tracing::info!(
            breaker = name,
            from = from.as_str(),
            %reason,
            "circuit breaker '{}' closed: {reason}",
            Escaped(name)
        ),
    }
    if let Some(listener) = listener {
        // The transition is made: a listener that panics must not take the
        // request that made it down half-way (a probe slot taken and no
        // permit to free it), nor abort the process when the transition
        // comes from a permit dropped during another panic. Its panic is
        // logged instead.
        let run = std::panic::AssertUnwindSafe(|| listener(change));
        if let Err(payload) = std::panic::catch_unwind(run) {
            let what = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("a non-string payload");
            tracing::error!(
                breaker = name,
                panic = what,
                "circuit breaker '{}': its state-change listener panicked ({what}); the change to {} stands",
                Escaped(name),
                to.as_str()
            );
        }
    }
}
