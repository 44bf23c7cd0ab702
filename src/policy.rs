//! Pure decisions: numbers and configuration in, a verdict out. No atomics,
//! no clock: the breaker loads, asks here, then CASes (governor's GCRA style),
//! and the tests below check the rules exhaustively without threads.

use std::fmt;

/// Why a breaker tripped from CLOSED to OPEN.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Trip {
    /// R1: `failures` in a row reached the threshold.
    Consecutive { failures: u64, threshold: u32 },
    /// R2: the window's failure percentage reached the threshold.
    ErrorRate {
        failures: u64,
        calls: u64,
        rate: f64,
        threshold: f64,
    },
    /// R14: the window's slow-call percentage reached the threshold.
    SlowCallRate {
        slow: u64,
        calls: u64,
        rate: f64,
        threshold: f64,
    },
}

impl fmt::Display for Trip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Trip::Consecutive {
                failures,
                threshold,
            } => write!(f, "{failures} consecutive failures (threshold {threshold})"),
            Trip::ErrorRate {
                failures,
                calls,
                rate,
                threshold,
            } => write!(
                f,
                "error rate {rate:.1}% ({failures} of {calls} calls) >= {threshold}%"
            ),
            Trip::SlowCallRate {
                slow,
                calls,
                rate,
                threshold,
            } => write!(
                f,
                "slow-call rate {rate:.1}% ({slow} of {calls} calls) >= {threshold}%"
            ),
        }
    }
}

/// R1: does a failure that brought the consecutive count to `failures` trip?
#[inline]
pub(crate) fn consecutive_trips(failures: u64, threshold: u32) -> Option<Trip> {
    (failures >= u64::from(threshold)).then_some(Trip::Consecutive {
        failures,
        threshold,
    })
}

/// R2: does a window of `calls` calls with `failures` failures trip?
pub(crate) fn error_rate_trips(
    failures: u64,
    calls: u64,
    min_calls: u32,
    threshold: f64,
) -> Option<Trip> {
    rate_reached(failures, calls, min_calls, threshold).map(|rate| Trip::ErrorRate {
        failures,
        calls,
        rate,
        threshold,
    })
}

/// R14: does a window of `calls` calls, `slow` of them slow, trip?
pub(crate) fn slow_rate_trips(
    slow: u64,
    calls: u64,
    min_calls: u32,
    threshold: f64,
) -> Option<Trip> {
    rate_reached(slow, calls, min_calls, threshold).map(|rate| Trip::SlowCallRate {
        slow,
        calls,
        rate,
        threshold,
    })
}

/// The percentage of `calls` that `count` is, if the window holds at least
/// `min_calls` calls and it reaches `threshold`.
fn rate_reached(count: u64, calls: u64, min_calls: u32, threshold: f64) -> Option<f64> {
    if calls < u64::from(min_calls) || calls == 0 {
        return None;
    }
    let rate = error_rate(count, calls);
    (rate >= threshold).then_some(rate)
}

/// The failure percentage of a window, 0.0 for an empty one.
#[inline]
pub(crate) fn error_rate(failures: u64, calls: u64) -> f64 {
    if calls == 0 {
        0.0
    } else {
        (failures as f64 * 100.0 / calls as f64).min(100.0)
    }
}

/// R6: does a probe success that brings the half-open successes to
/// `successes` close the breaker?
#[inline]
pub(crate) fn probes_close(successes: u32, max_calls: u32) -> bool {
    successes >= max_calls
}

/// R8: where a half-open breaker whose `reset_timeout` ran out goes. Any
/// probe failure reopens at once (R7), so a half-open period has no failures
/// and "at least one success" decides.
#[inline]
pub(crate) fn reset_timeout_closes(successes: u32) -> bool {
    successes > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_rule_is_a_plain_threshold() {
        for threshold in 1..=5u32 {
            for failures in 0..=6u64 {
                assert_eq!(
                    consecutive_trips(failures, threshold).is_some(),
                    failures >= u64::from(threshold)
                );
            }
        }
    }

    #[test]
    fn error_rate_rule_needs_min_calls_and_threshold() {
        for min in 1..=6u32 {
            for calls in 0..=8u64 {
                for failures in 0..=calls {
                    for threshold in [10.0, 33.4, 50.0, 100.0] {
                        let rate = if calls == 0 {
                            0.0
                        } else {
                            failures as f64 * 100.0 / calls as f64
                        };
                        let expect = calls >= u64::from(min) && calls > 0 && rate >= threshold;
                        assert_eq!(
                            error_rate_trips(failures, calls, min, threshold).is_some(),
                            expect,
                            "f={failures} c={calls} min={min} t={threshold}"
                        );
                    }
                }
            }
        }
        assert_eq!(error_rate(0, 0), 0.0);
        assert_eq!(error_rate(5, 10), 50.0);
    }

    #[test]
    fn half_open_rules() {
        assert!(!probes_close(2, 3));
        assert!(probes_close(3, 3));
        assert!(reset_timeout_closes(1));
        assert!(!reset_timeout_closes(0));
    }

    #[test]
    fn trip_reasons_print_their_figures() {
        let t = consecutive_trips(3, 3).unwrap();
        assert_eq!(t.to_string(), "3 consecutive failures (threshold 3)");
        let t = error_rate_trips(6, 10, 10, 50.0).unwrap();
        assert_eq!(t.to_string(), "error rate 60.0% (6 of 10 calls) >= 50%");
    }
}
