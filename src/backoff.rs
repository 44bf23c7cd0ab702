//! `Backoff`: how long each opening lasts.
//!
//! The duration in force is a pure function of the configuration, the
//! breaker's jitter seed, the OPEN state's generation and how many openings
//! came since the breaker last closed, so every thread that asks about one
//! OPEN state computes the same duration and nothing needs publishing but
//! the generation of the trip that began the run (the breaker's `trip_gen`
//! word; see its `# Orderings`).

use std::time::Duration;

use crate::clock::duration_nanos;
use crate::error::MAX_OPEN_NANOS;

/// How long the breaker stays open each time it opens.
///
/// * [`Backoff::constant()`] (the default): every opening lasts
///   `open_duration`.
/// * [`Backoff::exponential(max)`](Backoff::exponential): the k-th opening
///   since the breaker last closed lasts `open_duration × multiplier^(k−1)`,
///   at most `max`. Closing starts again at k = 1.
///
/// [`jitter`](Backoff::jitter) shortens each opening by a random fraction of
/// at most `jitter`, so that breakers (and processes) that opened together
/// do not all probe at the same instant. The draw is made once per opening:
/// [`Rejected::retry_after`](crate::Rejected::retry_after) and
/// [`Snapshot::open_remaining`](crate::Snapshot::open_remaining) report the
/// duration actually in force.
///
/// ```
/// use std::time::Duration;
/// use fusebox::{quanta::Clock, Backoff, CircuitBreaker};
///
/// let (clock, mock) = Clock::mock();
/// let cb = CircuitBreaker::builder("db")
///     .consecutive_failure_threshold(1)
///     .open_duration(Duration::from_secs(10))
///     .open_backoff(Backoff::exponential(Duration::from_secs(60)))
///     .clock(clock)
///     .build()?;
/// cb.try_acquire().unwrap().failure(); // 1st opening: 10 s
/// mock.increment(Duration::from_secs(10));
/// cb.try_acquire().unwrap().failure(); // the probe fails: 2nd opening, 20 s
/// assert_eq!(cb.snapshot().open_remaining, Some(Duration::from_secs(20)));
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// `None`: constant.
    max: Option<Duration>,
    multiplier: Option<f64>,
    jitter: f64,
}

/// `Backoff::exponential`'s default multiplier.
pub const DEFAULT_BACKOFF_MULTIPLIER: f64 = 2.0;

impl Default for Backoff {
    fn default() -> Self {
        Backoff::constant()
    }
}

impl Backoff {
    /// Every opening lasts `open_duration` (the default).
    pub const fn constant() -> Backoff {
        Backoff {
            max: None,
            multiplier: None,
            jitter: 0.0,
        }
    }

    /// The k-th opening since the breaker last closed lasts
    /// `open_duration × multiplier^(k−1)`, at most `max` (the multiplier is
    /// 2.0 unless set).
    pub const fn exponential(max: Duration) -> Backoff {
        Backoff {
            max: Some(max),
            multiplier: None,
            jitter: 0.0,
        }
    }

    /// The factor between one opening and the next (finite, at least 1.0;
    /// default 2.0). Only for [`exponential`](Backoff::exponential): on a
    /// constant backoff it is a configuration error.
    #[must_use]
    pub const fn multiplier(mut self, multiplier: f64) -> Backoff {
        self.multiplier = Some(multiplier);
        self
    }

    /// Shortens each opening by a uniformly random fraction in
    /// `0..jitter` (`0.0..=1.0`; default 0.0, no jitter).
    #[must_use]
    pub const fn jitter(mut self, jitter: f64) -> Backoff {
        self.jitter = jitter;
        self
    }

    /// Checks the settings; `Err((setting, rule, value))` names the first
    /// one out of range.
    pub(crate) fn validate(self) -> Result<(), (&'static str, &'static str, String)> {
        if let Some(max) = self.max {
            if max.is_zero() {
                return Err(("open_backoff max", "must be > 0", "0s".into()));
            }
        }
        if let Some(m) = self.multiplier {
            if self.max.is_none() {
                return Err((
                    "open_backoff multiplier",
                    "applies only to Backoff::exponential",
                    crate::config::float_text(m),
                ));
            }
            if !(m.is_finite() && m >= 1.0) {
                return Err((
                    "open_backoff multiplier",
                    "must be finite and >= 1",
                    crate::config::float_text(m),
                ));
            }
        }
        let j = self.jitter;
        if !(0.0..=1.0).contains(&j) {
            return Err((
                "open_backoff jitter",
                "must be in [0, 1]",
                crate::config::float_text(j),
            ));
        }
        Ok(())
    }

    /// The validated form, or `None` for a constant backoff without jitter
    /// (every opening lasts `open_nanos`: the engine's fast path).
    pub(crate) fn plan(self, open_nanos: u64, seed: u64) -> Option<Plan> {
        if self.max.is_none() && self.jitter == 0.0 {
            return None;
        }
        Some(Plan {
            open_nanos,
            max_nanos: self
                .max
                .map_or(open_nanos, |m| duration_nanos(m).min(MAX_OPEN_NANOS)),
            multiplier: if self.max.is_some() {
                self.multiplier.unwrap_or(DEFAULT_BACKOFF_MULTIPLIER)
            } else {
                1.0
            },
            jitter: self.jitter,
            seed,
        })
    }
}

/// A backoff other than a plain constant, ready to compute durations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Plan {
    open_nanos: u64,
    /// The cap (for a constant backoff with jitter, `open_nanos`).
    max_nanos: u64,
    multiplier: f64,
    jitter: f64,
    seed: u64,
}

impl Plan {
    /// The duration in force, in nanoseconds, for the `k`-th opening since
    /// the breaker last closed (`k >= 1`), whose OPEN state has generation
    /// `gen`: `min(open × multiplier^(k−1), max) × (1 − jitter × u)` with
    /// `u` in `[0, 1)` drawn from `gen` and the breaker's seed, at least
    /// 1 ns.
    pub(crate) fn open_nanos(&self, k: u64, gen: u64) -> u64 {
        let exp = i32::try_from(k.saturating_sub(1)).unwrap_or(i32::MAX);
        let grown = self.open_nanos as f64 * self.multiplier.powi(exp);
        let capped = grown.min(self.max_nanos as f64);
        let u = unit(splitmix64(self.seed ^ gen));
        let jittered = capped * (1.0 - self.jitter * u);
        // To the nearest nanosecond (`powi` may be a few ulps off an exact
        // power); `as` saturates, and a NaN (impossible with validated
        // settings) is 0.
        (jittered.round() as u64).clamp(1, MAX_OPEN_NANOS)
    }
}

/// The openings since the breaker last closed, for the OPEN state of
/// generation `gen` in a run that the trip of generation `trip_gen` began
/// (OPEN states of one run are two generations apart). A `trip_gen` after
/// `gen` means the caller's view of the state is stale: 1.
pub(crate) fn openings(gen: u64, trip_gen: u64) -> u64 {
    gen.checked_sub(trip_gen).map_or(1, |d| d / 2 + 1)
}

/// SplitMix64's output function: a well-mixed 64-bit value from any input.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `x`'s top 53 bits as a fraction in `[0, 1)`.
fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// A seed for one breaker's jitter: different for every breaker and every
/// process.
pub(crate) fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn exp(max_s: u64, multiplier: f64, jitter: f64) -> Plan {
        Backoff::exponential(Duration::from_secs(max_s))
            .multiplier(multiplier)
            .jitter(jitter)
            .plan(10 * S, 7)
            .unwrap()
    }

    #[test]
    fn exponential_grows_by_the_multiplier_up_to_the_cap() {
        let p = exp(60, 2.0, 0.0);
        let got: Vec<u64> = (1..=6).map(|k| p.open_nanos(k, 99) / S).collect();
        assert_eq!(got, [10, 20, 40, 60, 60, 60]);
        assert_eq!(p.open_nanos(u64::MAX, 1), 60 * S, "no overflow");
        assert_eq!(exp(60, 1.0, 0.0).open_nanos(50, 1), 10 * S);
    }

    #[test]
    fn jitter_shortens_by_at_most_its_fraction_and_varies_by_generation() {
        let p = exp(60, 2.0, 0.5);
        let draws: Vec<u64> = (0..1000).map(|g| p.open_nanos(1, g)).collect();
        assert!(draws.iter().all(|&d| d > 5 * S && d <= 10 * S));
        let distinct: std::collections::HashSet<_> = draws.iter().collect();
        assert!(distinct.len() > 990);
        let mean = draws.iter().sum::<u64>() as f64 / 1000.0 / S as f64;
        assert!((mean - 7.5).abs() < 0.2, "uniform: mean {mean}");
        assert_eq!(
            p.open_nanos(1, 5),
            p.open_nanos(1, 5),
            "one draw per opening"
        );
        let full = exp(60, 2.0, 1.0);
        assert!((0..1000).all(|g| (1..=10 * S).contains(&full.open_nanos(1, g))));
    }

    #[test]
    fn a_plain_constant_has_no_plan() {
        assert_eq!(Backoff::constant().plan(S, 1), None);
        let jittered = Backoff::constant().jitter(0.25).plan(S, 1).unwrap();
        assert!((0..100).all(|g| (S * 3 / 4..=S).contains(&jittered.open_nanos(g, g))));
    }

    #[test]
    fn openings_count_two_generations_apart() {
        assert_eq!(openings(5, 5), 1);
        assert_eq!(openings(7, 5), 2);
        assert_eq!(openings(9, 5), 3);
        assert_eq!(openings(4, 5), 1, "stale view");
    }

    #[test]
    fn bad_settings_are_named() {
        let e = |b: Backoff| b.validate().unwrap_err();
        assert_eq!(
            e(Backoff::exponential(Duration::ZERO)).0,
            "open_backoff max"
        );
        let m = e(Backoff::exponential(Duration::from_secs(1)).multiplier(0.5));
        assert_eq!((m.0, m.2.as_str()), ("open_backoff multiplier", "0.5"));
        assert_eq!(
            e(Backoff::exponential(Duration::from_secs(1)).multiplier(f64::INFINITY)).0,
            "open_backoff multiplier"
        );
        assert_eq!(
            e(Backoff::constant().multiplier(3.0)).1,
            "applies only to Backoff::exponential"
        );
        for j in [-0.1, 1.5, f64::NAN] {
            assert_eq!(e(Backoff::constant().jitter(j)).0, "open_backoff jitter");
        }
        assert!(Backoff::exponential(Duration::from_secs(1))
            .jitter(1.0)
            .validate()
            .is_ok());
    }
}
