//! fusebox's coarse clock: the time source of [`ClockMode::Recent`].
//!
//! One process-wide word holds "nanoseconds since the process's time base"
//! as of the last tick of an [`Upkeep`] thread, or 0 while none runs. A
//! breaker in `Recent` mode (on the default clock) reads that word, one
//! relaxed load inlined into the call, and reads the precise clock instead
//! while it is 0. Stopping the upkeep (dropping its [`UpkeepHandle`]) stops
//! the thread and *then* zeroes the word, so time never freezes: breakers go
//! back to precise reads.
//!
//! # Orderings
//!
//! Ownership is one CAS on `owned` (`AcqRel`); the owner releases it with a
//! `Release` store after joining its thread and zeroing the tick, so the
//! next owner starts from a zeroed word and no tick of a stopped upkeep can
//! land after the zero (the join orders the thread's last tick before it).
//! The tick is a clock reading, not a publication: `Relaxed` stores and
//! loads. A breaker may see an older tick than another thread did; that is a
//! clock that reads up to one interval late (or, for an instant around a
//! start or stop, a precise read followed by a slightly older tick), which
//! the engine already tolerates: time that goes backwards reads as no time
//! passed (stamps saturate) and a sample older than its slot's bucket is
//! counted in the totals only.
//!
//! [`ClockMode::Recent`]: crate::ClockMode::Recent

use std::sync::OnceLock;

use crate::clock::duration_nanos;
use crate::sync::{AtomicU64, Ordering};

/// The coarse clock's two words: the last tick and who owns the ticking.
///
/// `recent` is nanoseconds since [`base`]'s origin at the last tick (at
/// least 1), or 0 while no upkeep runs; `owned` is 1 while an upkeep owns
/// `recent`. The owner [`claim`](Ticker::claim)s (one CAS: one owner at a
/// time), [`tick`](Ticker::tick)s from its thread, and after that thread has
/// stopped (joined) [`release`](Ticker::release)s: `recent` goes to 0 before
/// anyone else may claim, so no tick outlives its upkeep. Modelled in
/// `loom-tests/tests/upkeep.rs`.
pub(crate) struct Ticker {
    recent: AtomicU64,
    owned: AtomicU64,
}

impl Ticker {
    #[cfg(not(fusebox_loom))]
    const fn new() -> Ticker {
        Ticker {
            recent: AtomicU64::new(0),
            owned: AtomicU64::new(0),
        }
    }

    #[cfg(fusebox_loom)]
    pub(crate) fn new() -> Ticker {
        Ticker {
            recent: AtomicU64::new(0),
            owned: AtomicU64::new(0),
        }
    }

    /// Becomes the one owner; `false` if another upkeep owns the clock.
    pub(crate) fn claim(&self) -> bool {
        // AcqRel: a claim that follows a release sees its zeroed tick.
        self.owned
            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The owner's thread publishes a reading (at least 1).
    pub(crate) fn tick(&self, nanos: u64) {
        self.recent.store(nanos.max(1), Ordering::Relaxed);
    }

    /// The last tick, or 0 while no upkeep runs.
    #[inline(always)]
    pub(crate) fn read(&self) -> u64 {
        self.recent.load(Ordering::Relaxed)
    }

    /// The owner, after its ticking thread has stopped: zero the tick, then
    /// let another upkeep claim.
    pub(crate) fn release(&self) {
        self.recent.store(0, Ordering::Relaxed);
        self.owned.store(0, Ordering::Release);
    }
}

#[cfg(not(fusebox_loom))]
static TICKER: Ticker = Ticker::new();

/// The process's time base: the default clock and an origin read from it.
fn base() -> &'static (quanta::Clock, quanta::Instant) {
    static BASE: OnceLock<(quanta::Clock, quanta::Instant)> = OnceLock::new();
    BASE.get_or_init(|| {
        let clock = crate::config::default_clock();
        let origin = clock.now();
        (clock, origin)
    })
}

/// Nanoseconds since the time base, from a precise read (at least 1).
#[cfg_attr(fusebox_loom, allow(dead_code))]
#[cold]
#[inline(never)]
pub(crate) fn precise_nanos() -> u64 {
    let (clock, origin) = base();
    duration_nanos(clock.now().saturating_duration_since(*origin)).max(1)
}

/// Nanoseconds since the time base as of the upkeep's last tick, or from a
/// precise read while no upkeep runs.
#[cfg(not(fusebox_loom))]
#[inline(always)]
pub(crate) fn recent_nanos() -> u64 {
    match TICKER.read() {
        0 => precise_nanos(),
        recent => recent,
    }
}

/// Under loom no upkeep runs (models use mock clocks).
#[cfg(fusebox_loom)]
pub(crate) fn recent_nanos() -> u64 {
    precise_nanos()
}

/// The upkeep's last tick (at least 1), or 0 while no upkeep runs:
/// [`recent_nanos`] without its fallback, for a caller that sends 0 down a
/// cold path of its own.
#[cfg(not(fusebox_loom))]
#[inline(always)]
pub(crate) fn last_tick() -> u64 {
    TICKER.read()
}

/// Under loom no upkeep runs.
#[cfg(fusebox_loom)]
pub(crate) fn last_tick() -> u64 {
    0
}

#[cfg(not(fusebox_loom))]
pub use handle::{Upkeep, UpkeepHandle};

#[cfg(not(fusebox_loom))]
mod handle {
    use std::io;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    use std::thread::JoinHandle;
    use std::time::Duration;

    use super::{precise_nanos, TICKER};

    /// Builds the thread that keeps [`ClockMode::Recent`] time fresh.
    ///
    /// ```
    /// use std::time::Duration;
    /// use fusebox::{CircuitBreaker, ClockMode, Upkeep};
    ///
    /// // Keep the handle for as long as breakers should read the coarse clock.
    /// let upkeep = Upkeep::new(Duration::from_millis(1)).start()?;
    /// let cb = CircuitBreaker::builder("db")
    ///     .clock_mode(ClockMode::Recent)
    ///     .build()?;
    /// assert_eq!(cb.call(|| Ok::<_, ()>(7)).unwrap(), 7);
    /// drop(upkeep); // time falls back to precise reads; it never freezes
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// [`ClockMode::Recent`]: crate::ClockMode::Recent
    #[derive(Debug, Clone, Copy)]
    pub struct Upkeep {
        interval: Duration,
    }

    impl Upkeep {
        /// An upkeep that ticks every `interval`: the resolution `Recent`
        /// breakers see time in. 1 ms is a good default; open durations and
        /// window buckets are at least 1 ms.
        pub fn new(interval: Duration) -> Upkeep {
            Upkeep { interval }
        }

        /// Starts the thread (named `fusebox-upkeep`) and ticks once before
        /// returning, so `Recent` breakers read the coarse clock from then on.
        ///
        /// # Errors
        ///
        /// [`io::ErrorKind::AlreadyExists`] if an upkeep is already running in
        /// this process (one is enough for every breaker), [`io::ErrorKind::InvalidInput`]
        /// for a zero interval, or the error from spawning the thread.
        pub fn start(self) -> io::Result<UpkeepHandle> {
            if self.interval.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the upkeep interval must be > 0",
                ));
            }
            if !TICKER.claim() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "a fusebox upkeep thread is already running",
                ));
            }
            TICKER.tick(precise_nanos());
            let done = Arc::new(AtomicBool::new(false));
            let stop = done.clone();
            let interval = self.interval;
            let spawned = std::thread::Builder::new()
                .name("fusebox-upkeep".into())
                .spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Acquire) {
                        std::thread::park_timeout(interval);
                        TICKER.tick(precise_nanos());
                    }
                });
            match spawned {
                Ok(thread) => Ok(UpkeepHandle {
                    done,
                    thread: Some(thread),
                }),
                Err(e) => {
                    TICKER.release();
                    Err(e)
                }
            }
        }
    }

    /// A running [`Upkeep`]; dropping it stops the thread, waits for it, and
    /// sends `Recent` breakers back to precise reads.
    #[derive(Debug)]
    pub struct UpkeepHandle {
        done: Arc<AtomicBool>,
        thread: Option<JoinHandle<()>>,
    }

    impl Drop for UpkeepHandle {
        fn drop(&mut self) {
            self.done.store(true, std::sync::atomic::Ordering::Release);
            if let Some(thread) = self.thread.take() {
                thread.thread().unpark();
                let _ = thread.join();
            }
            // The thread has stopped: no tick can land after this.
            TICKER.release();
        }
    }
}

#[cfg(all(test, not(fusebox_loom), not(miri)))]
mod tests {
    use super::*;
    use std::io;
    use std::time::Duration;

    /// One test owns the process-wide upkeep; every other test in this
    /// binary that reads it only needs time that never freezes.
    #[test]
    fn upkeep_ticks_and_stopping_falls_back_to_precise_reads() {
        assert_eq!(
            Upkeep::new(Duration::ZERO).start().unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        let handle = Upkeep::new(Duration::from_millis(1)).start().unwrap();
        let first = TICKER.read();
        assert_ne!(first, 0, "start ticks once before returning");
        assert!(recent_nanos() >= first, "reads the ticks");
        assert_eq!(
            Upkeep::new(Duration::from_millis(1))
                .start()
                .unwrap_err()
                .kind(),
            io::ErrorKind::AlreadyExists
        );
        drop(handle);
        assert_eq!(TICKER.read(), 0, "stopped: no frozen tick");
        let a = recent_nanos();
        let b = recent_nanos();
        assert!(b >= a && a >= first, "precise reads move on");
        let again = Upkeep::new(Duration::from_millis(1)).start().unwrap();
        drop(again);
    }
}
