//! `Builder` in, validated `Config` out: every setting checked against its
//! valid range, with a `ConfigError` naming the first one outside it.

use std::fmt;
#[cfg(not(miri))]
use std::sync::OnceLock;
use std::time::Duration;

use crate::backoff::{random_seed, Backoff, Plan};
use crate::breaker::CircuitBreaker;
use crate::clock::{duration_nanos, ClockMode};
use crate::error::MAX_OPEN_NANOS;
use crate::events::{Listener, StateChange};
use crate::outcome::Outcome;
use crate::state::{FAST_SPAN_LIMIT, MAX_PROBES};

/// The default for [`Builder::slow_call_rate_threshold`] (100 %: every call
/// in the window slow).
pub const DEFAULT_SLOW_CALL_RATE_THRESHOLD: f64 = 100.0;
/// The default for [`Builder::error_threshold_percentage`] (50 %).
pub const DEFAULT_ERROR_THRESHOLD_PERCENTAGE: f64 = 50.0;
/// The default for [`Builder::consecutive_failure_threshold`] (10).
pub const DEFAULT_CONSECUTIVE_FAILURE_THRESHOLD: u32 = 10;
/// The default for [`Builder::open_duration`] (300 s).
pub const DEFAULT_OPEN_DURATION: Duration = Duration::from_secs(300);
/// The default for [`Builder::half_open_max_calls`] (3).
pub const DEFAULT_HALF_OPEN_MAX_CALLS: u32 = 3;
/// The default for [`Builder::reset_timeout`] (60 s).
pub const DEFAULT_RESET_TIMEOUT: Duration = Duration::from_secs(60);
/// The default for [`Builder::monitoring_window`] (60 s).
pub const DEFAULT_MONITORING_WINDOW: Duration = Duration::from_secs(60);
/// The default for [`Builder::min_calls_for_error_rate`] (10).
pub const DEFAULT_MIN_CALLS_FOR_ERROR_RATE: u32 = 10;
/// The default for [`Builder::window_buckets`] (10).
pub const DEFAULT_WINDOW_BUCKETS: u32 = 10;
/// The largest [`Builder::window_buckets`] allowed.
pub const MAX_WINDOW_BUCKETS: u32 = 1000;
/// The narrowest window bucket (`monitoring_window / window_buckets`)
/// allowed.
pub const MIN_BUCKET_WIDTH: Duration = Duration::from_millis(1);

/// The most counter stripes a breaker allocates.
pub(crate) const MAX_STRIPES: usize = 64;
/// The most counter stripes a breaker allocates unless told otherwise.
pub(crate) const DEFAULT_MAX_STRIPES: usize = 16;

/// Configures and builds a [`CircuitBreaker`]. Every setter is optional.
///
/// Each setter names the rule it tunes, as the crate docs'
/// [How it decides](crate#how-it-decides) lists them.
///
/// ```
/// use std::time::Duration;
/// use fusebox::CircuitBreaker;
///
/// let cb = CircuitBreaker::builder("api")
///     .consecutive_failure_threshold(3)
///     .open_duration(Duration::from_secs(30))
///     .build()?;
/// assert_eq!(cb.name(), "api");
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[must_use = "a builder does nothing until `build()` is called"]
#[derive(Clone)]
pub struct Builder {
    pub(crate) name: String,
    error_threshold_percentage: f64,
    consecutive_failure_threshold: u32,
    open_duration: Duration,
    half_open_max_calls: u32,
    reset_timeout: Duration,
    monitoring_window: Duration,
    min_calls_for_error_rate: u32,
    window_buckets: u32,
    clock: Option<quanta::Clock>,
    clock_mode: ClockMode,
    stripes: Option<usize>,
    listener: Option<Listener>,
    abandoned: Outcome,
    backoff: Backoff,
    jitter_seed: Option<u64>,
    slow_call_duration_threshold: Option<Duration>,
    slow_call_rate_threshold: f64,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("name", &self.name)
            .field(
                "error_threshold_percentage",
                &self.error_threshold_percentage,
            )
            .field(
                "consecutive_failure_threshold",
                &self.consecutive_failure_threshold,
            )
            .field("open_duration", &self.open_duration)
            .field("half_open_max_calls", &self.half_open_max_calls)
            .field("reset_timeout", &self.reset_timeout)
            .field("monitoring_window", &self.monitoring_window)
            .field("min_calls_for_error_rate", &self.min_calls_for_error_rate)
            .field("window_buckets", &self.window_buckets)
            .field("clock_mode", &self.clock_mode)
            .field("abandoned", &self.abandoned)
            .field("backoff", &self.backoff)
            .field(
                "slow_call_duration_threshold",
                &self.slow_call_duration_threshold,
            )
            .field("slow_call_rate_threshold", &self.slow_call_rate_threshold)
            .field("listener", &self.listener.is_some())
            .finish_non_exhaustive()
    }
}

impl Builder {
    pub(crate) fn new(name: impl Into<String>) -> Builder {
        Builder {
            name: name.into(),
            error_threshold_percentage: DEFAULT_ERROR_THRESHOLD_PERCENTAGE,
            consecutive_failure_threshold: DEFAULT_CONSECUTIVE_FAILURE_THRESHOLD,
            open_duration: DEFAULT_OPEN_DURATION,
            half_open_max_calls: DEFAULT_HALF_OPEN_MAX_CALLS,
            reset_timeout: DEFAULT_RESET_TIMEOUT,
            monitoring_window: DEFAULT_MONITORING_WINDOW,
            min_calls_for_error_rate: DEFAULT_MIN_CALLS_FOR_ERROR_RATE,
            window_buckets: DEFAULT_WINDOW_BUCKETS,
            clock: None,
            clock_mode: ClockMode::Precise,
            stripes: None,
            listener: None,
            abandoned: Outcome::Ignored,
            backoff: Backoff::constant(),
            jitter_seed: None,
            slow_call_duration_threshold: None,
            slow_call_rate_threshold: DEFAULT_SLOW_CALL_RATE_THRESHOLD,
        }
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The error-rate trip: open when the monitoring window's failure
    /// percentage is at least this (once it holds
    /// [`min_calls_for_error_rate`](Self::min_calls_for_error_rate) calls).
    /// Valid: finite, `0 < p <= 100`. Default 50.
    pub fn error_threshold_percentage(mut self, percent: f64) -> Self {
        self.error_threshold_percentage = percent;
        self
    }

    /// The consecutive-failure trip: open when this many failures follow
    /// each other, across all threads (any success resets the count).
    /// Valid: `>= 1`. Default 10.
    pub fn consecutive_failure_threshold(mut self, failures: u32) -> Self {
        self.consecutive_failure_threshold = failures;
        self
    }

    /// The open duration: how long the breaker stays OPEN before the next
    /// request becomes a half-open probe.
    /// Valid: `> 0`. Default 300 s. It is timed exactly however long the
    /// breaker sits idle (durations past 584 years act as 584 years).
    pub fn open_duration(mut self, duration: Duration) -> Self {
        self.open_duration = duration;
        self
    }

    /// The probe cap: the most half-open probes in flight at once, and the
    /// number of probe successes that close the breaker. Valid:
    /// `1..=1_048_575`. Default 3.
    pub fn half_open_max_calls(mut self, calls: u32) -> Self {
        self.half_open_max_calls = calls;
        self
    }

    /// The reset timeout: how long HALF_OPEN may last before the next
    /// request or `state()` settles it, closing if a probe succeeded (and
    /// none failed) and reopening otherwise, so half-open never wedges.
    /// Valid: `> 0`. Default 60 s. Timed as
    /// [`open_duration`](Self::open_duration) is.
    pub fn reset_timeout(mut self, duration: Duration) -> Self {
        self.reset_timeout = duration;
        self
    }

    /// The length of the sliding window the error rate is measured over.
    /// Valid: at least 1 ms, and at least 1 ms per bucket (see
    /// [`window_buckets`](Self::window_buckets)). Default 60 s.
    pub fn monitoring_window(mut self, duration: Duration) -> Self {
        self.monitoring_window = duration;
        self
    }

    /// The minimum calls: the fewest calls in the monitoring window before
    /// the error rate can trip the breaker.
    /// Valid: `>= 1`. Default 10.
    pub fn min_calls_for_error_rate(mut self, calls: u32) -> Self {
        self.min_calls_for_error_rate = calls;
        self
    }

    /// How many time buckets the window is divided into: its resolution. A
    /// call stays counted at least `monitoring_window - bucket` and at most
    /// `monitoring_window + bucket`, where `bucket = monitoring_window /
    /// window_buckets`. Valid: `1..=1000` with `bucket >= 1 ms`. Default 10.
    pub fn window_buckets(mut self, buckets: u32) -> Self {
        self.window_buckets = buckets;
        self
    }

    /// The clock to read; any `quanta::Clock`, including `Clock::mock()`.
    /// Default: one process-wide `quanta::Clock::new()`, calibrated once.
    pub fn clock(mut self, clock: quanta::Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// How calls read the clock; see [`ClockMode`]. Default
    /// [`ClockMode::Precise`].
    pub fn clock_mode(mut self, mode: ClockMode) -> Self {
        self.clock_mode = mode;
        self
    }

    /// Calls `listener` once for every state change, from the thread that
    /// made it, after the change is visible: racing threads make each
    /// transition once, so each reaches the listener once. Keep it short: it
    /// runs on the request path of the call that caused the transition.
    ///
    /// Calls made on different threads can arrive out of order (a
    /// HALF_OPEN → CLOSED call before the OPEN → HALF_OPEN one): order them
    /// by [`StateChange::generation`](crate::StateChange::generation).
    ///
    /// A panic in `listener` is caught and logged at ERROR (under a
    /// `fusebox::…` target, as every log line is); the change stands and
    /// the request that made it goes on. (Uncaught, it could leave a
    /// half-open probe slot taken with no permit to free it, or abort the
    /// process when the change came from a permit dropped during another
    /// panic.)
    pub fn on_state_change<F>(mut self, listener: F) -> Self
    where
        F: Fn(&StateChange<'_>) + Send + Sync + 'static,
    {
        self.listener = Some(std::sync::Arc::new(listener));
        self
    }

    /// Calls that take at least `threshold`, from admission to verdict, are
    /// *slow* (default: off, and no call reads the clock for it). Slow calls
    /// are counted in the monitoring window beside their verdict (a slow
    /// success is still a success for the error rate), and when the
    /// window holds at least `min_calls_for_error_rate` calls of which at
    /// least [`slow_call_rate_threshold`](Self::slow_call_rate_threshold)
    /// percent were slow, the breaker opens
    /// ([`Reason::SlowCallRate`](crate::Reason::SlowCallRate)).
    ///
    /// Timed are the calls admitted while CLOSED through
    /// [`call`](CircuitBreaker::call) and its siblings or a [`Permit`]: a
    /// call abandoned slow (a timeout dropped it) counts as slow whatever
    /// [`abandoned`](Self::abandoned) says. Half-open probes and the
    /// unticketed API are not timed. Setting it costs one more clock read
    /// per call, at admission.
    ///
    /// ```
    /// use std::time::Duration;
    /// use fusebox::{quanta::Clock, CircuitBreaker, State};
    ///
    /// let (clock, mock) = Clock::mock();
    /// let cb = CircuitBreaker::builder("db")
    ///     .slow_call_duration_threshold(Duration::from_millis(200))
    ///     .slow_call_rate_threshold(50.0)
    ///     .min_calls_for_error_rate(4)
    ///     .clock(clock)
    ///     .build()?;
    /// for _ in 0..4 {
    ///     cb.call(|| {
    ///         mock.increment(Duration::from_millis(250)); // the query takes 250 ms
    ///         Ok::<_, ()>(())
    ///     })
    ///     .unwrap();
    /// }
    /// assert_eq!(cb.state(), State::Open, "every call succeeded, slowly");
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    ///
    /// [`Permit`]: crate::Permit
    pub fn slow_call_duration_threshold(mut self, threshold: Duration) -> Self {
        self.slow_call_duration_threshold = Some(threshold);
        self
    }

    /// The slow-call percentage, in `(0, 100]`, at which the window trips
    /// the breaker (default 100: every call in the window slow). Used only
    /// with a [`slow_call_duration_threshold`](Self::slow_call_duration_threshold).
    pub fn slow_call_rate_threshold(mut self, percent: f64) -> Self {
        self.slow_call_rate_threshold = percent;
        self
    }

    /// How long each opening lasts; see [`Backoff`]. Default
    /// [`Backoff::constant()`]: every opening lasts `open_duration`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use fusebox::{Backoff, CircuitBreaker};
    ///
    /// let cb = CircuitBreaker::builder("db")
    ///     .open_duration(Duration::from_secs(5))
    ///     .open_backoff(Backoff::exponential(Duration::from_secs(300)).jitter(0.2))
    ///     .build()?;
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn open_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The seed of the backoff's jitter draws (default: random for each
    /// breaker). Exposed for tests and the reference model.
    #[doc(hidden)]
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.jitter_seed = Some(seed);
        self
    }

    /// What a call that ends without a verdict counts as: a [`Permit`]
    /// dropped without `success()`/`failure()`/`ignore()`, or a
    /// [`call_async`](CircuitBreaker::call_async) future dropped before it
    /// finished (a timeout around it, a cancelled task). Default
    /// [`Outcome::Ignored`]: such calls count neither way and free their
    /// half-open probe slot.
    ///
    /// With [`Outcome::Failure`], a timeout around a hanging dependency
    /// trips the breaker:
    ///
    /// ```
    /// use fusebox::{CircuitBreaker, Outcome, State};
    ///
    /// let cb = CircuitBreaker::builder("hangs")
    ///     .consecutive_failure_threshold(3)
    ///     .abandoned(Outcome::Failure)
    ///     .build()?;
    /// for _ in 0..3 {
    ///     let permit = cb.try_acquire().unwrap();
    ///     drop(permit); // gave up waiting: no verdict
    /// }
    /// assert_eq!(cb.state(), State::Open);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    ///
    /// A panic inside the guarded call is a failure whatever this says.
    ///
    /// [`Permit`]: crate::Permit
    pub fn abandoned(mut self, outcome: Outcome) -> Self {
        self.abandoned = outcome;
        self
    }

    /// The number of counter stripes (rounded up to a power of two, at most
    /// 64). Default: twice the available parallelism rounded up, at most 16.
    /// Exposed for tests, model checking and benchmarks.
    #[doc(hidden)]
    pub fn stripes(mut self, stripes: usize) -> Self {
        self.stripes = Some(stripes);
        self
    }

    /// Validates the settings and builds the breaker.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first setting outside its valid range
    /// (each setter's docs give it), with the value given.
    pub fn build(self) -> Result<CircuitBreaker, ConfigError> {
        let config = self.validate()?;
        Ok(CircuitBreaker::from_config(config))
    }

    pub(crate) fn validate(self) -> Result<Config, ConfigError> {
        let p = self.error_threshold_percentage;
        if !(p.is_finite() && p > 0.0 && p <= 100.0) {
            return Err(ConfigError::new(
                "error_threshold_percentage",
                "must be in (0, 100]",
                float_text(p),
            ));
        }
        if self.consecutive_failure_threshold == 0 {
            return Err(ConfigError::new(
                "consecutive_failure_threshold",
                "must be >= 1",
                "0".into(),
            ));
        }
        positive("open_duration", self.open_duration)?;
        if self.half_open_max_calls == 0 || self.half_open_max_calls > MAX_PROBES {
            return Err(ConfigError::new(
                "half_open_max_calls",
                "must be in 1..=1048575",
                self.half_open_max_calls.to_string(),
            ));
        }
        positive("reset_timeout", self.reset_timeout)?;
        positive("monitoring_window", self.monitoring_window)?;
        if self.monitoring_window < MIN_BUCKET_WIDTH {
            // No bucket count can make this window valid, so the error
            // names the window rather than `window_buckets`.
            return Err(ConfigError::new(
                "monitoring_window",
                "must be at least 1ms (each bucket is at least 1ms)",
                format!("{:?}", self.monitoring_window),
            ));
        }
        if self.min_calls_for_error_rate == 0 {
            return Err(ConfigError::new(
                "min_calls_for_error_rate",
                "must be >= 1",
                "0".into(),
            ));
        }
        let buckets = self.window_buckets;
        if buckets == 0 || buckets > MAX_WINDOW_BUCKETS {
            return Err(ConfigError::new(
                "window_buckets",
                "must be in 1..=1000",
                buckets.to_string(),
            ));
        }
        if self.monitoring_window / buckets < MIN_BUCKET_WIDTH {
            return Err(ConfigError::new(
                "window_buckets",
                "must leave each bucket (monitoring_window / window_buckets) at least 1ms",
                format!("{buckets} (monitoring_window {:?})", self.monitoring_window),
            ));
        }
        let stripes = self
            .stripes
            .unwrap_or_else(default_stripes)
            .clamp(1, MAX_STRIPES)
            .next_power_of_two();
        let window_nanos = duration_nanos(self.monitoring_window);
        if self.slow_call_duration_threshold == Some(Duration::ZERO) {
            return Err(ConfigError::new(
                "slow_call_duration_threshold",
                "must be > 0",
                "0s".into(),
            ));
        }
        let r = self.slow_call_rate_threshold;
        if !(r.is_finite() && r > 0.0 && r <= 100.0) {
            return Err(ConfigError::new(
                "slow_call_rate_threshold",
                "must be in (0, 100]",
                float_text(r),
            ));
        }
        if let Err((setting, rule, value)) = self.backoff.validate() {
            return Err(ConfigError::new(setting, rule, value));
        }
        let open_nanos = duration_nanos(self.open_duration).min(MAX_OPEN_NANOS);
        let backoff = self
            .backoff
            .plan(open_nanos, self.jitter_seed.unwrap_or_else(random_seed));
        Ok(Config {
            name: self.name,
            error_threshold_percentage: p,
            consecutive_failure_threshold: self.consecutive_failure_threshold,
            open_duration: self.open_duration,
            open_nanos,
            // With a backoff every opening's duration is its own: the fast
            // path refuses nothing, the slow path computes it.
            open_span: if backoff.is_some() {
                0
            } else {
                duration_nanos(self.open_duration).min(FAST_SPAN_LIMIT)
            },
            half_open_max_calls: self.half_open_max_calls,
            reset_timeout: self.reset_timeout,
            reset_nanos: duration_nanos(self.reset_timeout),
            monitoring_window: self.monitoring_window,
            // Round up so that B buckets always cover the whole window.
            bucket_nanos: window_nanos.div_ceil(u64::from(buckets)),
            min_calls_for_error_rate: self.min_calls_for_error_rate,
            window_buckets: buckets,
            own_clock: self.clock.is_some(),
            clock: self.clock.unwrap_or_else(default_clock),
            clock_mode: self.clock_mode,
            stripes,
            listener: self.listener,
            abandoned: self.abandoned,
            backoff,
            slow_nanos: self
                .slow_call_duration_threshold
                .map_or(0, |d| duration_nanos(d).max(1)),
            slow_call_rate_threshold: self.slow_call_rate_threshold,
        })
    }
}

/// `p` as an error message prints it: plainly where that is short, in
/// exponent form where it would run to many digits (`1e300`, `1e-12`).
pub(crate) fn float_text(p: f64) -> String {
    let magnitude = p.abs();
    if magnitude != 0.0 && !(1e-4..1e6).contains(&magnitude) && p.is_finite() {
        format!("{p:e}")
    } else {
        format!("{p}")
    }
}

fn positive(setting: &'static str, d: Duration) -> Result<(), ConfigError> {
    if d.is_zero() {
        Err(ConfigError::new(setting, "must be > 0", "0s".into()))
    } else {
        Ok(())
    }
}

/// Twice the available parallelism (so that a pool oversubscribed up to 2×
/// still gives each thread its own stripe), capped at
/// [`DEFAULT_MAX_STRIPES`] so a breaker on a large host stays near 8 KiB.
///
/// Computed once per process: `available_parallelism` reads cgroup files and
/// the affinity mask (tens of microseconds), far more than building a
/// breaker otherwise costs.
fn default_stripes() -> usize {
    static STRIPES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *STRIPES.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(4, |n| n.get())
            .saturating_mul(2)
            .min(DEFAULT_MAX_STRIPES)
    })
}

/// One calibrated clock for the process: `Clock::new()` calibrates the TSC on
/// first use, so every breaker clones this one.
pub(crate) fn default_clock() -> quanta::Clock {
    // Miri cannot run the TSC calibration (cpuid/rdtsc): use a frozen mock.
    #[cfg(miri)]
    return quanta::Clock::mock().0;
    #[cfg(not(miri))]
    static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
    #[cfg(not(miri))]
    CLOCK.get_or_init(quanta::Clock::new).clone()
}

/// The validated, immutable configuration of one breaker.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) name: String,
    pub(crate) error_threshold_percentage: f64,
    pub(crate) consecutive_failure_threshold: u32,
    pub(crate) open_duration: Duration,
    /// `open_duration` in nanoseconds (at most [`MAX_OPEN_NANOS`]).
    pub(crate) open_nanos: u64,
    /// `open_nanos`, at most [`FAST_SPAN_LIMIT`], for the OPEN fast path,
    /// which refuses while the span from the stamp is below it (the rest of
    /// a longer duration is timed by the slow path, from the whole time);
    /// 0 with a backoff, whose durations only the slow path knows.
    pub(crate) open_span: u64,
    pub(crate) half_open_max_calls: u32,
    pub(crate) reset_timeout: Duration,
    pub(crate) reset_nanos: u64,
    pub(crate) monitoring_window: Duration,
    pub(crate) bucket_nanos: u64,
    pub(crate) min_calls_for_error_rate: u32,
    pub(crate) window_buckets: u32,
    pub(crate) clock: quanta::Clock,
    /// `clock` came from `Builder::clock` (else it is [`default_clock`]).
    pub(crate) own_clock: bool,
    pub(crate) clock_mode: ClockMode,
    pub(crate) stripes: usize,
    pub(crate) listener: Option<Listener>,
    pub(crate) abandoned: Outcome,
    /// `None`: every opening lasts `open_nanos`.
    pub(crate) backoff: Option<Plan>,
    /// `slow_call_duration_threshold` in nanoseconds; 0 when off.
    pub(crate) slow_nanos: u64,
    pub(crate) slow_call_rate_threshold: f64,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field(
                "error_threshold_percentage",
                &self.error_threshold_percentage,
            )
            .field(
                "consecutive_failure_threshold",
                &self.consecutive_failure_threshold,
            )
            .field("open_duration", &self.open_duration)
            .field("half_open_max_calls", &self.half_open_max_calls)
            .field("reset_timeout", &self.reset_timeout)
            .field("monitoring_window", &self.monitoring_window)
            .field("min_calls_for_error_rate", &self.min_calls_for_error_rate)
            .field("window_buckets", &self.window_buckets)
            .field("clock_mode", &self.clock_mode)
            .field("stripes", &self.stripes)
            .field("abandoned", &self.abandoned)
            .field("backoff", &self.backoff)
            .field("slow_nanos", &self.slow_nanos)
            .field("slow_call_rate_threshold", &self.slow_call_rate_threshold)
            .finish_non_exhaustive()
    }
}

/// A setting outside its valid range, from [`Builder::build`].
///
/// Its message names the setting and the value, e.g.
/// `error_threshold_percentage must be in (0, 100], got NaN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    setting: &'static str,
    rule: &'static str,
    value: String,
}

impl ConfigError {
    fn new(setting: &'static str, rule: &'static str, value: String) -> Self {
        ConfigError {
            setting,
            rule,
            value,
        }
    }

    /// The builder setting that was rejected, e.g. `"half_open_max_calls"`.
    pub fn setting(&self) -> &'static str {
        self.setting
    }

    /// The rejected value as text.
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}, got {}", self.setting, self.rule, self.value)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(b: Builder) -> ConfigError {
        b.validate().expect_err("must be rejected")
    }

    #[test]
    fn defaults_match_the_spec_table() {
        let c = Builder::new("d").validate().unwrap();
        assert_eq!(c.error_threshold_percentage, 50.0);
        assert_eq!(c.consecutive_failure_threshold, 10);
        assert_eq!(c.open_duration, Duration::from_secs(300));
        assert_eq!(c.half_open_max_calls, 3);
        assert_eq!(c.reset_timeout, Duration::from_secs(60));
        assert_eq!(c.monitoring_window, Duration::from_secs(60));
        assert_eq!(c.min_calls_for_error_rate, 10);
        assert_eq!(c.window_buckets, 10);
        assert_eq!(c.bucket_nanos, 6_000_000_000);
        assert!(c.stripes.is_power_of_two() && c.stripes <= MAX_STRIPES);
    }

    #[test]
    fn huge_and_tiny_floats_print_in_exponent_form() {
        let text = |p: f64| err(Builder::new("x").error_threshold_percentage(p)).to_string();
        assert_eq!(
            text(1e300),
            "error_threshold_percentage must be in (0, 100], got 1e300"
        );
        assert_eq!(
            text(-1e300),
            "error_threshold_percentage must be in (0, 100], got -1e300"
        );
        assert!(text(f64::MAX).ends_with("got 1.7976931348623157e308"));
        assert!(text(-1e-12).ends_with("got -1e-12"));
        assert!(text(-f64::MIN_POSITIVE).ends_with("got -2.2250738585072014e-308"));
        assert!(text(100.5).ends_with("got 100.5"));
        assert!(text(250_000.0).ends_with("got 250000"));
        assert!(text(-0.25).ends_with("got -0.25"));
        assert!(text(0.0).ends_with("got 0"));
        assert!(text(f64::INFINITY).ends_with("got inf"));
        assert!(text(f64::NEG_INFINITY).ends_with("got -inf"));
    }

    #[test]
    fn every_invalid_value_names_setting_and_value() {
        let b = || Builder::new("x");
        let e = err(b().error_threshold_percentage(f64::NAN));
        assert_eq!(
            e.to_string(),
            "error_threshold_percentage must be in (0, 100], got NaN"
        );
        for p in [0.0, -1.0, 100.5, f64::INFINITY] {
            assert_eq!(
                err(b().error_threshold_percentage(p)).setting(),
                "error_threshold_percentage"
            );
        }
        let cases = [
            (
                b().consecutive_failure_threshold(0),
                "consecutive_failure_threshold",
                "0",
            ),
            (b().open_duration(Duration::ZERO), "open_duration", "0s"),
            (b().half_open_max_calls(0), "half_open_max_calls", "0"),
            (
                b().half_open_max_calls(MAX_PROBES + 1),
                "half_open_max_calls",
                "1048576",
            ),
            (b().reset_timeout(Duration::ZERO), "reset_timeout", "0s"),
            (
                b().monitoring_window(Duration::ZERO),
                "monitoring_window",
                "0s",
            ),
            (
                b().min_calls_for_error_rate(0),
                "min_calls_for_error_rate",
                "0",
            ),
            (b().window_buckets(0), "window_buckets", "0"),
            (b().window_buckets(1001), "window_buckets", "1001"),
        ];
        for (builder, setting, value) in cases {
            let e = err(builder);
            assert_eq!(e.setting(), setting);
            assert!(e.value().starts_with(value), "{e}");
            assert!(e.to_string().starts_with(setting), "{e}");
            assert!(e.to_string().contains(value), "{e}");
        }
    }

    #[test]
    fn buckets_narrower_than_a_millisecond_are_rejected() {
        let e = err(Builder::new("x")
            .monitoring_window(Duration::from_millis(10))
            .window_buckets(11));
        assert_eq!(e.setting(), "window_buckets");
        assert!(Builder::new("x")
            .monitoring_window(Duration::from_millis(10))
            .window_buckets(10)
            .validate()
            .is_ok());
    }

    #[test]
    fn extreme_valid_values_build() {
        let c = Builder::new("x")
            .error_threshold_percentage(100.0)
            .open_duration(Duration::MAX)
            .reset_timeout(Duration::from_nanos(1))
            .monitoring_window(Duration::MAX)
            .window_buckets(1000)
            .half_open_max_calls(MAX_PROBES)
            .validate()
            .unwrap();
        assert_eq!(c.open_nanos, u64::MAX - 1);
        assert_eq!(c.open_span, 1 << 55);
        assert!(c.bucket_nanos > 0);
    }
}
