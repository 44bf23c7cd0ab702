//! The one place that touches `quanta`: nanoseconds since the breaker's origin.
//!
//! Every time inside the engine is a `u64` count of nanoseconds since the
//! breaker was built, read through [`BreakerClock::now`]. Arithmetic on it
//! saturates, and a clock that goes backwards reads as "no time passed".

use std::time::Duration;

/// How a breaker reads time on its hot path.
///
/// The default, [`ClockMode::Precise`], reads the configured
/// [`quanta::Clock`] on every call (the TSC where available: a few
/// nanoseconds). [`ClockMode::Recent`] reads quanta's *recent* time instead,
/// a single atomic load, which an upkeep thread that **you** start keeps
/// fresh (`quanta::Upkeep::new(interval).start()`); the breaker then sees time
/// in steps of that interval. Without a running upkeep thread `Recent` falls
/// back to a precise read, so it is never wrong, only slower.
///
/// With a mock clock (`quanta::Clock::mock()`) both modes read the mock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum ClockMode {
    /// Read the clock on every call (default; no background thread needed).
    #[default]
    Precise,
    /// Read quanta's recent time, kept fresh by a user-started `quanta::Upkeep`.
    Recent,
}

/// A `quanta::Clock` plus the breaker's origin.
#[derive(Debug, Clone)]
pub(crate) struct BreakerClock {
    clock: quanta::Clock,
    origin_raw: u64,
    origin: quanta::Instant,
    mode: ClockMode,
}

impl BreakerClock {
    pub(crate) fn new(clock: quanta::Clock, mode: ClockMode) -> Self {
        let origin_raw = clock.raw();
        let origin = clock.now();
        BreakerClock {
            clock,
            origin_raw,
            origin,
            mode,
        }
    }

    /// Nanoseconds since the origin; 0 if the clock reads before it.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        match self.mode {
            ClockMode::Precise => self.precise(),
            ClockMode::Recent => {
                let recent = self.clock.recent();
                // Before an upkeep thread runs, quanta's recent time reads 0,
                // which is before our origin: fall back to a precise read.
                if recent < self.origin {
                    self.precise()
                } else {
                    duration_nanos(recent.duration_since(self.origin))
                }
            }
        }
    }

    #[inline]
    fn precise(&self) -> u64 {
        // delta_as_nanos saturates at 0 when the raw reading is behind the origin.
        self.clock.delta_as_nanos(self.origin_raw, self.clock.raw())
    }
}

/// A `Duration` as nanoseconds, saturating at `u64::MAX` (584 years).
#[inline]
pub(crate) fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
