//! The one place that touches `quanta`: nanoseconds since the breaker's origin.
//!
//! Every time inside the engine is a `u64` count of nanoseconds since the
//! breaker's origin, read through [`BreakerClock::now`]: when it was built,
//! or for `Recent` on the default clock the upkeep's time base (the process's
//! first use of fusebox's clock), so that all those breakers share one grid
//! of window buckets. Arithmetic on it saturates, and a clock that goes
//! backwards reads as "no time passed".

use std::time::Duration;

use crate::upkeep;

/// How a breaker reads time on its call paths.
///
/// The default, [`ClockMode::Precise`], reads the configured
/// [`quanta::Clock`] on every call (the TSC where available: about 10 ns
/// on the benchmark VM, less on bare metal). [`ClockMode::Recent`] reads a coarse clock instead, a
/// single atomic load, which an [`Upkeep`](crate::Upkeep) thread that **you**
/// start keeps fresh (`fusebox::Upkeep::new(interval).start()`); the breaker
/// then sees time in steps of that interval. While no upkeep runs (before it
/// starts, or after its handle is dropped) `Recent` reads the precise clock,
/// so it is never wrong and time never freezes, only slower.
///
/// With a clock of your own (`Builder::clock`), `Recent` reads that clock's
/// `now()` instead, out of line (a few nanoseconds more per call): a mock
/// (`quanta::Clock::mock()`) reads the mock, a real clock reads its precise
/// time, so `Recent` is the fast mode on the default clock only. (It does
/// not read quanta's global recent time, `Clock::recent()`: a
/// `quanta::Upkeep` keeps that fresh only while it runs, and a breaker
/// that had read it would be frozen when it stopped.)
///
/// On the default clock, `Recent` breakers count their window buckets on
/// one process-wide time grid: their buckets start at the same instants,
/// not when each breaker was built. There a success costs one load for the
/// first 32 distinct bucket widths (`monitoring_window / window_buckets`)
/// in a process; a breaker of a further width reads the coarse time out of
/// line on every success, as with a clock of your own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum ClockMode {
    /// Read the clock on every call (default; no background thread needed).
    #[default]
    Precise,
    /// Read the coarse time kept fresh by a user-started [`Upkeep`](crate::Upkeep).
    Recent,
}

/// Where a breaker's hot path gets its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// `clock.raw()`, in raw ticks.
    Precise,
    /// fusebox's [`Upkeep`](crate::Upkeep) word (`Recent` on the default
    /// clock), in nanoseconds since the upkeep's time base.
    Upkeep,
    /// `clock.now()` (`Recent` on a clock of the user's), in nanoseconds.
    ClockRecent,
}

/// A `quanta::Clock` plus the breaker's origin and its window bucket width.
///
/// The window's *epoch* (bucket number) is computed in the clock's own unit:
/// raw ticks since the origin in [`ClockMode::Precise`] (so the success path
/// needs no tick-to-nanosecond scaling, only one multiply), nanoseconds in
/// [`ClockMode::Recent`]. For a mock clock both units are nanoseconds, and
/// the bucket width is exactly `ceil(monitoring_window / window_buckets)`;
/// for the TSC it is that width converted to ticks once, at build time.
#[derive(Debug, Clone)]
pub(crate) struct BreakerClock {
    clock: quanta::Clock,
    /// The origin as a raw clock reading ([`Source::Precise`]). 0 for the
    /// coarse sources: [`Source::Upkeep`] measures from the upkeep's time
    /// base itself, so that every such breaker counts on the grid of
    /// buckets the upkeep's epoch cells follow, and [`Source::ClockRecent`]
    /// measures from `origin`.
    origin_raw: u64,
    origin: quanta::Instant,
    /// The upkeep's epoch cell for this breaker's bucket width
    /// ([`Source::Upkeep`]), read by the success path in place of the tick;
    /// [`upkeep::NO_CELL`] for the other sources (and a full table), which
    /// sends every `Recent` success to `ticks` (see `current_epoch`).
    cell: &'static std::sync::atomic::AtomicU64,
    /// The upkeep's tick word ([`Source::Upkeep`]), read first by
    /// [`now`](Self::now); [`upkeep::NO_TICK`], always 0, for the other
    /// sources.
    tick: &'static std::sync::atomic::AtomicU64,
    source: Source,
    /// `source != Source::Precise`, as its own field: tested first on the
    /// success path, it stays one compare and branch (see `ticks`).
    coarse: bool,
    /// Bucket width in raw ticks (Precise) or nanoseconds (Recent).
    bucket: Divider,
}

impl BreakerClock {
    /// `own_clock`: the user passed `clock` (else it is the process default,
    /// and `Recent` reads fusebox's upkeep).
    pub(crate) fn new(
        clock: quanta::Clock,
        mode: ClockMode,
        own_clock: bool,
        bucket_nanos: u64,
    ) -> Self {
        let origin = clock.now();
        let source = match mode {
            ClockMode::Precise => Source::Precise,
            ClockMode::Recent if own_clock => Source::ClockRecent,
            ClockMode::Recent => Source::Upkeep,
        };
        let origin_raw = match source {
            // The upkeep's time base itself: every `Recent` breaker then
            // counts on one grid of buckets, which the epoch cells describe.
            Source::Upkeep | Source::ClockRecent => 0,
            Source::Precise => clock.raw(),
        };
        let bucket = match source {
            Source::Precise => {
                // Ticks per bucket, from the clock's own scaling of 2^40 ticks.
                let probe: u64 = 1 << 40;
                let nanos = clock.delta_as_nanos(0, probe).max(1);
                let ticks =
                    (u128::from(bucket_nanos) * u128::from(probe)).div_ceil(u128::from(nanos));
                u64::try_from(ticks).unwrap_or(u64::MAX)
            }
            Source::Upkeep | Source::ClockRecent => bucket_nanos,
        };
        let cell = match source {
            Source::Upkeep => upkeep::epoch_cell(bucket),
            Source::Precise | Source::ClockRecent => &upkeep::NO_CELL,
        };
        let tick = match source {
            Source::Upkeep => upkeep::tick_word(),
            Source::Precise | Source::ClockRecent => &upkeep::NO_TICK,
        };
        BreakerClock {
            clock,
            origin_raw,
            origin,
            cell,
            tick,
            source,
            coarse: source != Source::Precise,
            bucket: Divider::new(bucket),
        }
    }

    /// Nanoseconds since the origin; 0 if the clock reads before it.
    ///
    /// First one load through [`tick`](Self::tick): the upkeep's last tick
    /// for a `Recent` breaker on the default clock, which is the answer
    /// unless it is 0 (no upkeep runs); a word that is always 0 for the
    /// other sources, which then read their clock. So an OPEN rejection in
    /// `Recent` tests no mode: 4 instructions where the match on the source
    /// took 9 (the old `docs/benchmarks-log.md` in git history, "Code layout").
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        match self.tick.load(std::sync::atomic::Ordering::Relaxed) {
            0 => self.read_now(),
            tick => tick,
        }
    }

    /// [`now`](Self::now) when the tick word reads 0. Out of line: `now`
    /// is inlined into every `call`, where an inlined clock read behind the
    /// rarely taken OPEN branch cost the CLOSED path registers.
    #[inline(never)]
    fn read_now(&self) -> u64 {
        match self.source {
            Source::Precise => self.clock.delta_as_nanos(self.origin_raw, self.clock.raw()),
            Source::Upkeep => upkeep::precise_nanos(),
            Source::ClockRecent => self.recent_nanos(),
        }
    }

    /// The current window epoch.
    #[inline(always)]
    pub(crate) fn epoch(&self) -> u64 {
        self.bucket.div(self.ticks())
    }

    /// Time since the origin in the window's unit (raw ticks in Precise,
    /// nanoseconds in Recent). Its epoch is `bucket().div(ticks)`.
    ///
    /// The success path does not come here: it tests [`coarse`](Self::coarse)
    /// and reads [`current_epoch`](Self::current_epoch) or
    /// [`precise_ticks`](Self::precise_ticks).
    #[inline]
    pub(crate) fn ticks(&self) -> u64 {
        match self.source {
            Source::Precise => self.precise_ticks(),
            Source::Upkeep | Source::ClockRecent => self.recent_nanos(),
        }
    }

    /// Whether the success path reads an epoch cell (`Recent`, either
    /// source) rather than the precise clock. Its own field, tested first:
    /// one compare and branch picks the mode.
    #[inline(always)]
    pub(crate) fn coarse(&self) -> bool {
        self.coarse
    }

    /// A `Recent` success's time: the bucket the upkeep's last tick falls
    /// in, as a hint-shaped word ([`crate::window::epoch_word`]), one load
    /// through the breaker's cell pointer. [`upkeep::NO_EPOCH`] while no
    /// upkeep runs, and always for a user's clock or a breaker whose width
    /// found no cell: the window's fast path then refuses it, and the caller
    /// reads [`ticks`](Self::ticks) out of line.
    ///
    /// It replaces a read of the tick, a compare of it with the origin, and
    /// the window's bounds check of the reading against the hinted bucket
    /// (a multiply, a subtraction and a compare): in the runner's loop a
    /// `Recent` success went from 76 instructions to 64
    /// (the old `docs/benchmarks-log.md` in git history, "Code layout").
    #[inline(always)]
    pub(crate) fn current_epoch(&self) -> u64 {
        self.cell.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// [`ticks`](Self::ticks) in Precise mode: raw ticks since the origin.
    #[inline(always)]
    pub(crate) fn precise_ticks(&self) -> u64 {
        self.precise_raw().saturating_sub(self.origin_raw)
    }

    /// A raw reading of the precise clock, for the success path, which
    /// offers [`since_origin_wrapping`](Self::since_origin_wrapping) of it
    /// to the window's fast path and keeps `raw` for the slow one.
    #[inline(always)]
    pub(crate) fn precise_raw(&self) -> u64 {
        self.clock.raw()
    }

    /// `raw` in ticks since the origin, wrapping: a reading behind the
    /// origin (skewed counters, or a mock moved back) comes out at 2^63 or
    /// more, in no bucket a hint can name (hints are epochs of real
    /// readings), so the fast path refuses it, and the slow path takes
    /// [`since_origin`](Self::since_origin) of the same `raw`. One
    /// subtraction instead of a subtraction and a clamp.
    #[inline(always)]
    pub(crate) fn since_origin_wrapping(&self, raw: u64) -> u64 {
        raw.wrapping_sub(self.origin_raw)
    }

    /// [`now`](Self::now) at the precise reading `raw` (Precise mode).
    #[inline]
    pub(crate) fn nanos_of_raw(&self, raw: u64) -> u64 {
        self.clock.delta_as_nanos(self.origin_raw, raw)
    }

    /// `raw` in ticks since the origin; 0 before it (as
    /// [`precise_ticks`](Self::precise_ticks)).
    #[inline]
    pub(crate) fn since_origin(&self, raw: u64) -> u64 {
        raw.saturating_sub(self.origin_raw)
    }

    /// The window's bucket width in the unit of [`ticks`](Self::ticks).
    #[inline(always)]
    pub(crate) fn bucket(&self) -> &Divider {
        &self.bucket
    }

    /// Nanoseconds since the origin from the coarse clock: fusebox's upkeep
    /// word (one inlined load; a precise read while no upkeep runs), or the
    /// user's clock's recent time (a precise read while that reads 0).
    #[inline(always)]
    fn recent_nanos(&self) -> u64 {
        if self.source == Source::Upkeep {
            return upkeep::recent_nanos();
        }
        // A clock of the user's: its `now()`, not its `recent()`. For a mock
        // the two are the mock's time; for a real clock `recent()` is
        // quanta's global recent time, which a `quanta::Upkeep` started
        // after this breaker was built leaves frozen when it stops, holding
        // an OPEN breaker open for ever (R4, R8).
        duration_nanos(self.clock.now().saturating_duration_since(self.origin))
    }

    /// Nanoseconds since the origin and the window epoch, from one reading.
    #[inline(always)]
    pub(crate) fn now_and_epoch(&self) -> (u64, u64) {
        match self.source {
            Source::Precise => {
                let raw = self.clock.raw();
                // delta_as_nanos saturates at 0 when the reading is behind the origin.
                let nanos = self.clock.delta_as_nanos(self.origin_raw, raw);
                (nanos, self.bucket.div(raw.saturating_sub(self.origin_raw)))
            }
            Source::Upkeep | Source::ClockRecent => {
                let nanos = self.recent_nanos();
                (nanos, self.bucket.div(nanos))
            }
        }
    }
}

/// Exact `n / d` for a divisor fixed at build time, with one multiply instead
/// of a 64-bit division on the hot path.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Divider {
    d: u64,
    m: u64,
}

impl Divider {
    pub(crate) fn new(d: u64) -> Divider {
        let d = d.max(1);
        Divider { d, m: u64::MAX / d }
    }

    /// The divisor.
    #[inline(always)]
    pub(crate) fn width(self) -> u64 {
        self.d
    }

    /// `floor(n / d)`: the multiply gives it or one less; one step corrects.
    #[inline(always)]
    pub(crate) fn div(self, n: u64) -> u64 {
        let q = ((u128::from(n) * u128::from(self.m)) >> 64) as u64;
        if n - q * self.d >= self.d {
            q + 1
        } else {
            q
        }
    }
}

/// A `Duration` as nanoseconds, saturating at `u64::MAX` (584 years).
#[inline]
pub(crate) fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(all(test, not(fusebox_loom)))]
mod tests {
    use super::*;

    #[test]
    fn divider_is_exact() {
        let ds = [
            1u64,
            2,
            3,
            7,
            10,
            1_000_000,
            6_000_000_000,
            999_999_937,
            u64::MAX / 3,
            u64::MAX,
        ];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for &d in &ds {
            let div = Divider::new(d);
            for n in [
                0,
                1,
                d - 1,
                d,
                d.wrapping_add(1),
                u64::MAX,
                u64::MAX - 1,
                d.wrapping_mul(12345),
            ] {
                assert_eq!(div.div(n), n / d, "{n} / {d}");
            }
            for _ in 0..if cfg!(miri) { 50 } else { 20_000 } {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                assert_eq!(div.div(x), x / d, "{x} / {d}");
                let small = x >> 20;
                assert_eq!(div.div(small), small / d);
            }
        }
    }

    #[test]
    fn mock_clock_epochs_are_nanosecond_buckets() {
        let (clock, mock) = quanta::Clock::mock();
        mock.increment(100_000u64);
        for mode in [ClockMode::Precise, ClockMode::Recent] {
            let c = BreakerClock::new(clock.clone(), mode, true, 100);
            assert_eq!(c.now_and_epoch(), (0, 0));
            mock.increment(250u64);
            assert_eq!(c.now_and_epoch(), (250, 2));
            assert_eq!(c.epoch(), 2);
            mock.decrement(1_000u64);
            assert_eq!(c.now_and_epoch(), (0, 0), "before the origin reads as 0");
            assert_eq!(c.epoch(), 0);
            mock.increment(1_000u64);
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "miri cannot read the TSC")]
    fn only_recent_on_the_default_clock_reads_the_upkeep() {
        // The hot path tests the `coarse` field, not `source`: the two must
        // agree, and only `Recent` on the default clock may read an epoch
        // cell; every other source gets the cell that never holds an epoch.
        let (mock_clock, _mock) = quanta::Clock::mock();
        for (mode, own, upkeep) in [
            (ClockMode::Precise, false, false),
            (ClockMode::Precise, true, false),
            (ClockMode::Recent, true, false),
            (ClockMode::Recent, false, true),
        ] {
            let clock = if own {
                mock_clock.clone()
            } else {
                quanta::Clock::new()
            };
            let c = BreakerClock::new(clock, mode, own, 100);
            assert_eq!(c.coarse, mode == ClockMode::Recent);
            assert_eq!(c.source == Source::Upkeep, upkeep, "{mode:?}, own: {own}");
            assert_eq!(
                std::ptr::eq(c.cell, &upkeep::NO_CELL),
                !upkeep,
                "{mode:?}, own: {own}"
            );
            if c.coarse {
                assert_eq!(c.origin_raw, 0, "on the upkeep's grid");
            }
        }
        // Breakers of one width share one cell.
        let a = BreakerClock::new(quanta::Clock::new(), ClockMode::Recent, false, 100);
        let b = BreakerClock::new(quanta::Clock::new(), ClockMode::Recent, false, 100);
        assert!(std::ptr::eq(a.cell, b.cell));
    }

    #[test]
    #[cfg_attr(miri, ignore = "miri cannot read the TSC")]
    fn tsc_bucket_width_is_close_to_the_nanosecond_width() {
        let clock = quanta::Clock::new();
        let c = BreakerClock::new(clock.clone(), ClockMode::Precise, true, 6_000_000_000);
        let ticks = c.bucket.d;
        let nanos = clock.delta_as_nanos(0, ticks);
        assert!(
            nanos.abs_diff(6_000_000_000) < 6_000,
            "{ticks} ticks = {nanos} ns"
        );
    }
}
