//! Any builder input: `build()` never panics, accepts exactly what the documented
//! valid ranges allow (the 0.1 settings, then the 0.2 ones), and a
//! `ConfigError` names the first invalid setting (in the order `build`
//! checks them) at the start of its message. A breaker
//! that builds survives a few calls, snapshots and clock steps.

#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use fusebox::quanta::Clock;
use fusebox::CircuitBreaker;
use libfuzzer_sys::fuzz_target;

/// `half_open_max_calls` limit written down in `src/lib.rs`.
const MAX_PROBES: u32 = 1_048_575;

#[derive(Debug, Arbitrary)]
enum Pct {
    Raw(f64),
    Special(u8),
}

impl Pct {
    fn value(&self) -> f64 {
        match *self {
            Pct::Raw(p) => p,
            Pct::Special(k) => [
                0.0,
                -0.0,
                100.0,
                100.000_000_000_000_01,
                f64::from_bits(100f64.to_bits() + 1),
                f64::MIN_POSITIVE,
                f64::EPSILON,
                -1.0,
                50.0,
                f64::NAN,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::MAX,
                5e-324,
            ][usize::from(k) % 14],
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Dur {
    Nanos(u32),
    Full(u64, u32),
    Zero,
}

impl Dur {
    fn value(&self) -> Duration {
        match *self {
            Dur::Nanos(n) => Duration::from_nanos(u64::from(n)),
            Dur::Full(s, n) => Duration::new(s, n % 1_000_000_000),
            Dur::Zero => Duration::ZERO,
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Count {
    Small(u8),
    Raw(u32),
    NearProbeLimit(u8),
}

impl Count {
    fn value(&self) -> u32 {
        match *self {
            Count::Small(n) => u32::from(n) % 12,
            Count::Raw(n) => n,
            Count::NearProbeLimit(d) => (MAX_PROBES - 2).wrapping_add(u32::from(d % 5)),
        }
    }
}

#[derive(Debug, Arbitrary)]
struct Input {
    pct: Option<Pct>,
    consecutive: Option<Count>,
    open: Option<Dur>,
    half_open: Option<Count>,
    reset: Option<Dur>,
    window: Option<Dur>,
    min_calls: Option<Count>,
    buckets: Option<Count>,
    slow: Option<Dur>,
    slow_rate: Option<Pct>,
    /// `(exponential?, max, multiplier, jitter)`.
    backoff: Option<(bool, Dur, Option<Pct>, Option<Pct>)>,
    abandoned: u8,
    steps: Vec<(u8, u32)>,
}

fuzz_target!(|input: Input| {
    let pct = input.pct.as_ref().map_or(50.0, Pct::value);
    let consecutive = input.consecutive.as_ref().map_or(10, Count::value);
    let open = input
        .open
        .as_ref()
        .map_or(Duration::from_secs(300), Dur::value);
    let half_open = input.half_open.as_ref().map_or(3, Count::value);
    let reset = input
        .reset
        .as_ref()
        .map_or(Duration::from_secs(60), Dur::value);
    let window = input
        .window
        .as_ref()
        .map_or(Duration::from_secs(60), Dur::value);
    let min_calls = input.min_calls.as_ref().map_or(10, Count::value);
    let buckets = input.buckets.as_ref().map_or(10, Count::value);

    // The 0.1 settings, in the order `build` checks them.
    let checks: [(&str, bool); 8] = [
        (
            "error_threshold_percentage",
            pct.is_finite() && pct > 0.0 && pct <= 100.0,
        ),
        ("consecutive_failure_threshold", consecutive >= 1),
        ("open_duration", !open.is_zero()),
        ("half_open_max_calls", (1..=MAX_PROBES).contains(&half_open)),
        ("reset_timeout", !reset.is_zero()),
        // At least 1 ms: no bucket count makes a shorter window valid.
        ("monitoring_window", window >= Duration::from_millis(1)),
        ("min_calls_for_error_rate", min_calls >= 1),
        (
            "window_buckets",
            (1..=1000).contains(&buckets) && window.as_nanos() >= u128::from(buckets) * 1_000_000,
        ),
    ];
    let slow = input.slow.as_ref().map(Dur::value);
    let slow_rate = input.slow_rate.as_ref().map_or(100.0, Pct::value);
    let multiplier = input
        .backoff
        .as_ref()
        .and_then(|b| b.2.as_ref().map(Pct::value));
    let jitter = input
        .backoff
        .as_ref()
        .and_then(|b| b.3.as_ref().map(Pct::value))
        .unwrap_or(0.0);
    let exponential = input.backoff.as_ref().is_some_and(|b| b.0);
    let max = input.backoff.as_ref().map(|b| b.1.value());
    // Then the 0.2 settings, in the order `build` checks them.
    let later: [(&str, bool); 5] = [
        ("slow_call_duration_threshold", slow != Some(Duration::ZERO)),
        (
            "slow_call_rate_threshold",
            slow_rate.is_finite() && slow_rate > 0.0 && slow_rate <= 100.0,
        ),
        ("open_backoff max", !exponential || max != Some(Duration::ZERO)),
        (
            "open_backoff multiplier",
            multiplier.is_none_or(|m| exponential && m.is_finite() && m >= 1.0),
        ),
        ("open_backoff jitter", (0.0..=1.0).contains(&jitter)),
    ];
    let first_invalid = checks
        .iter()
        .chain(later.iter())
        .find(|(_, ok)| !ok)
        .map(|(name, _)| *name);

    let (clock, mock) = Clock::mock();
    let mut builder = CircuitBreaker::builder("fuzz").clock(clock);
    if input.pct.is_some() {
        builder = builder.error_threshold_percentage(pct);
    }
    if input.consecutive.is_some() {
        builder = builder.consecutive_failure_threshold(consecutive);
    }
    if input.open.is_some() {
        builder = builder.open_duration(open);
    }
    if input.half_open.is_some() {
        builder = builder.half_open_max_calls(half_open);
    }
    if input.reset.is_some() {
        builder = builder.reset_timeout(reset);
    }
    if input.window.is_some() {
        builder = builder.monitoring_window(window);
    }
    if input.min_calls.is_some() {
        builder = builder.min_calls_for_error_rate(min_calls);
    }
    if input.buckets.is_some() {
        builder = builder.window_buckets(buckets);
    }
    if let Some(slow) = slow {
        builder = builder.slow_call_duration_threshold(slow);
    }
    if input.slow_rate.is_some() {
        builder = builder.slow_call_rate_threshold(slow_rate);
    }
    if let Some((exponential, max, m, j)) = &input.backoff {
        let mut b = if *exponential {
            fusebox::Backoff::exponential(max.value())
        } else {
            fusebox::Backoff::constant()
        };
        if let Some(m) = m {
            b = b.multiplier(m.value());
        }
        if let Some(j) = j {
            b = b.jitter(j.value());
        }
        builder = builder.open_backoff(b);
    }
    builder = builder.abandoned(match input.abandoned % 3 {
        0 => fusebox::Outcome::Ignored,
        1 => fusebox::Outcome::Failure,
        _ => fusebox::Outcome::Success,
    });
    // Keep allocations small: the stripe count is a hidden knob.
    let built = builder.stripes(1).build();

    match (built, first_invalid) {
        (Err(e), Some(name)) => {
            let msg = e.to_string();
            assert_eq!(e.setting(), name, "{msg}");
            assert!(msg.starts_with(name), "{msg:?} should start with {name}");
            assert!(msg.contains("got"), "{msg:?} should show the value");
        }
        (Err(e), None) => panic!("valid config rejected: {e} ({input:?})"),
        (Ok(_), Some(name)) => panic!("invalid {name} accepted ({input:?})"),
        (Ok(cb), None) => {
            for &(kind, n) in input.steps.iter().take(64) {
                match kind % 7 {
                    6 => drop(cb.try_acquire()),
                    0 => drop(cb.call(|| Err::<(), _>(n))),
                    1 => drop(cb.call(|| Ok::<_, ()>(n))),
                    2 => {
                        if let Ok(p) = cb.try_acquire() {
                            p.failure();
                        }
                    }
                    // The mock panics on overflow: keep it below 2^62 ns.
                    3 | 4 => {
                        let unit = if kind % 7 == 3 { 1_000 } else { 1_000_000_000 };
                        let step = (u64::from(n) * unit).min((1 << 62) - mock.value());
                        mock.increment(step);
                    }
                    _ => {
                        let s = cb.snapshot();
                        assert_eq!(s.total_calls, s.total_successes + s.total_failures);
                        assert!((0.0..=100.0).contains(&s.error_rate));
                        assert!((0.0..=100.0).contains(&s.slow_call_rate));
                        let _ = cb.state();
                    }
                }
            }
        }
    }
});
