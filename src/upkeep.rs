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
//! Beside the tick, the upkeep keeps one *epoch cell* per window bucket
//! width that `Recent` breakers use: the bucket number of its last tick,
//! `tick / width`, already in the form the window's hint keeps it in. A
//! `Recent` success reads its width's cell (one load through a pointer the
//! breaker keeps) and compares it with the hint, instead of reading the tick
//! and checking it against the hinted bucket's bounds (a subtraction, a
//! multiply and a compare). Every `Recent` breaker on the default clock
//! counts on this process-wide grid: its time is nanoseconds since the time
//! base, not since it was built. Widths are registered once, when a breaker
//! is built, in a table of [`CELLS`] slots that are never freed (a program
//! has few distinct widths); a breaker whose width finds no slot gets a cell
//! that never holds an epoch and counts through the out-of-line reading of
//! the tick, as a user's clock in `Recent` mode does. While no upkeep runs
//! every cell reads [`NO_EPOCH`], which matches no slot's tag.
//!
//! # Orderings
//!
//! Ownership is one CAS on `owned` (`AcqRel`); the owner releases it with a
//! `Release` store after joining its thread and zeroing the tick and the
//! cells, so the next owner starts from zeroed words and no tick or epoch of
//! a stopped upkeep can land after the zero (the join orders the thread's
//! last tick before it). The tick and the cells are clock readings, not
//! publications: `Relaxed` stores and loads. Only the owner writes a cell an
//! epoch (once from `start`, then from its ticking thread), and only when
//! the cell's bucket changed, so a cell's line is not written on every
//! tick. A width is claimed with one CAS from 0 (`Relaxed`: the width is
//! the whole message). Slots are claimed in order, so the ticking thread
//! stops at the first empty one; a claim it has not seen yet leaves that
//! cell at `NO_EPOCH` until it does, and its breakers read the time out of
//! line meanwhile. A breaker may see an older tick (or cell) than another
//! thread did; that is a clock that reads up to one interval late (or, for
//! an instant around a start or stop, a precise read followed by a slightly
//! older tick), which the engine already tolerates: time that goes
//! backwards reads as no time passed (stamps saturate) and a sample older
//! than its slot's bucket is counted in the totals only.
//!
//! [`ClockMode::Recent`]: crate::ClockMode::Recent

use std::sync::OnceLock;

use crate::clock::duration_nanos;
use crate::sync::{AtomicU64, Ordering};
use crate::window;

/// The coarse clock's two words: the last tick and who owns the ticking.
///
/// `recent` is nanoseconds since [`base`]'s origin at the last tick (at
/// least 1), or 0 while no upkeep runs; `owned` is 1 while an upkeep owns
/// `recent`. The owner [`claim`](Ticker::claim)s (one CAS: one owner at a
/// time), [`tick`](Ticker::tick)s from its thread, and after that thread has
/// stopped (joined) [`release`](Ticker::release)s: `recent` goes to 0 before
/// anyone else may claim, so no tick outlives its upkeep. Modelled in
/// `loom-tests/tests/upkeep.rs`.
///
/// `widths[i]` is the bucket width (nanoseconds) that `cells[i]` counts in,
/// or 0 while slot `i` is free; `cells[i]` is that width's current epoch as
/// a hint-shaped word ([`window::epoch_word`]), or [`NO_EPOCH`].
pub(crate) struct Ticker {
    recent: AtomicU64,
    owned: AtomicU64,
    widths: [AtomicU64; CELLS],
    cells: [Cell; CELLS],
}

/// The most distinct bucket widths whose `Recent` breakers read an epoch
/// cell (two under loom, so that the model can fill the table).
pub(crate) const CELLS: usize = if cfg!(fusebox_loom) { 2 } else { 32 };

/// What a cell holds while no upkeep runs: matches no slot's tag (its bits
/// are all set; a tag's epoch stays below 2^45).
pub(crate) const NO_EPOCH: u64 = u64::MAX;

/// One epoch cell on a line of its own: the cell of a narrow width changes
/// often, and must not make every breaker of another width miss.
#[repr(align(128))]
struct Cell(AtomicU64);

/// The cell of a breaker that has none (a user's clock, a precise clock, a
/// full table): never written, so it always reads [`NO_EPOCH`].
pub(crate) static NO_CELL: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(NO_EPOCH);

impl Ticker {
    #[cfg(not(fusebox_loom))]
    const fn new() -> Ticker {
        #[allow(clippy::declare_interior_mutable_const)]
        const FREE: AtomicU64 = AtomicU64::new(0);
        #[allow(clippy::declare_interior_mutable_const)]
        const EMPTY: Cell = Cell(AtomicU64::new(NO_EPOCH));
        Ticker {
            recent: AtomicU64::new(0),
            owned: AtomicU64::new(0),
            widths: [FREE; CELLS],
            cells: [EMPTY; CELLS],
        }
    }

    #[cfg(fusebox_loom)]
    pub(crate) fn new() -> Ticker {
        Ticker {
            recent: AtomicU64::new(0),
            owned: AtomicU64::new(0),
            widths: std::array::from_fn(|_| AtomicU64::new(0)),
            cells: std::array::from_fn(|_| Cell(AtomicU64::new(NO_EPOCH))),
        }
    }

    /// The slot whose cell counts in buckets of `width` nanoseconds,
    /// claimed if no slot has that width yet; `None` if the table is full.
    pub(crate) fn slot(&self, width: u64) -> Option<usize> {
        debug_assert!(width > 0);
        for (i, slot) in self.widths.iter().enumerate() {
            match slot.compare_exchange(0, width, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Some(i),
                Err(held) if held == width => return Some(i),
                Err(_) => {}
            }
        }
        None
    }

    /// Slot `i`'s cell: the epoch of the last tick in its width's buckets,
    /// or [`NO_EPOCH`]. (Breakers read their cell through a pointer.)
    #[cfg(any(test, fusebox_loom))]
    pub(crate) fn epoch(&self, i: usize) -> u64 {
        self.cells[i].0.load(Ordering::Relaxed)
    }

    /// Becomes the one owner; `false` if another upkeep owns the clock.
    pub(crate) fn claim(&self) -> bool {
        // AcqRel: a claim that follows a release sees its zeroed tick.
        self.owned
            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The owner's thread publishes a reading (at least 1), and brings the
    /// cell of every claimed width to the reading's bucket.
    pub(crate) fn tick(&self, nanos: u64) {
        let nanos = nanos.max(1);
        self.recent.store(nanos, Ordering::Relaxed);
        for (width, cell) in self.widths.iter().zip(&self.cells) {
            let width = width.load(Ordering::Relaxed);
            if width == 0 {
                break;
            }
            let epoch = window::epoch_word(nanos / width);
            if cell.0.load(Ordering::Relaxed) != epoch {
                cell.0.store(epoch, Ordering::Relaxed);
            }
        }
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
        for cell in &self.cells {
            cell.0.store(NO_EPOCH, Ordering::Relaxed);
        }
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

/// The tick word of a breaker that reads no upkeep (a precise clock, a
/// user's clock): never written, so it always reads 0, "no tick".
pub(crate) static NO_TICK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The upkeep's tick word (see [`Ticker`]), which `Recent` breakers on the
/// default clock read through a pointer: nanoseconds since the time base as
/// of the last tick, or 0 while no upkeep runs.
#[cfg(not(fusebox_loom))]
pub(crate) fn tick_word() -> &'static std::sync::atomic::AtomicU64 {
    &TICKER.recent
}

/// Under loom no upkeep runs: every breaker reads [`NO_TICK`].
#[cfg(fusebox_loom)]
pub(crate) fn tick_word() -> &'static std::sync::atomic::AtomicU64 {
    &NO_TICK
}

/// The epoch cell for buckets of `width` nanoseconds: fusebox's upkeep
/// keeps it at the bucket number of its last tick (see the module docs).
/// [`NO_CELL`] if the table of widths is full.
#[cfg(not(fusebox_loom))]
pub(crate) fn epoch_cell(width: u64) -> &'static std::sync::atomic::AtomicU64 {
    match TICKER.slot(width) {
        Some(i) => &TICKER.cells[i].0,
        None => &NO_CELL,
    }
}

/// Under loom no upkeep runs: no breaker gets a cell.
#[cfg(fusebox_loom)]
pub(crate) fn epoch_cell(_width: u64) -> &'static std::sync::atomic::AtomicU64 {
    &NO_CELL
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
        /// breakers see time in. 1 ms is a good default; window buckets are at
        /// least 1 ms wide.
        ///
        /// `Recent` time lags real time by up to one interval, so a state
        /// may end up to one interval early or late, and a window bucket
        /// opens up to one interval late: keep the interval well below
        /// `open_duration`, `reset_timeout` and the bucket width. These
        /// bounds assume the upkeep thread runs on time: on a host so
        /// loaded that it waits for a core, `Recent` time lags by as long
        /// as it waits. A very short interval costs CPU (at 1 ns the thread
        /// never sleeps).
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
    ///
    /// Do not `fork()` a process while an upkeep runs: the child inherits
    /// the upkeep's last tick but not its thread, so its `Recent` breakers
    /// see time stand still, and a new `start()` in the child reports
    /// `AlreadyExists`.
    #[derive(Debug)]
    #[must_use = "dropping the handle stops the upkeep at once: keep it for as long as breakers should read the coarse clock"]
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
pub(crate) mod tests {
    use super::*;
    use std::io;
    use std::time::Duration;

    /// Held by each test that owns the process-wide ticker (this module's,
    /// and the breaker's test that ticks it by hand); every other test in
    /// this binary that reads it only needs time that never freezes.
    pub(crate) static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// The process-wide ticker, owned by the caller until dropped: ticks
    /// by hand for a test.
    pub(crate) struct HandTicks(#[allow(dead_code)] std::sync::MutexGuard<'static, ()>);

    impl HandTicks {
        pub(crate) fn claim() -> HandTicks {
            let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
            assert!(TICKER.claim(), "no upkeep runs outside these tests");
            HandTicks(serial)
        }

        pub(crate) fn tick(&self, nanos: u64) {
            TICKER.tick(nanos);
        }
    }

    impl Drop for HandTicks {
        fn drop(&mut self) {
            TICKER.release();
        }
    }

    #[test]
    fn cells_follow_the_ticks_of_their_width() {
        let t = Ticker::new();
        assert_eq!(t.slot(100), Some(0));
        assert_eq!(t.slot(250), Some(1));
        assert_eq!(t.slot(100), Some(0), "one slot per width");
        assert_eq!(
            (t.epoch(0), t.epoch(1)),
            (NO_EPOCH, NO_EPOCH),
            "no tick yet"
        );
        assert!(t.claim());
        t.tick(0);
        assert_eq!(t.read(), 1, "a tick is at least 1");
        assert_eq!((t.epoch(0), t.epoch(1)), (0, 0));
        t.tick(499);
        assert_eq!(t.epoch(0), window::epoch_word(4));
        assert_eq!(t.epoch(1), window::epoch_word(1));
        t.tick(500);
        assert_eq!(t.epoch(0), window::epoch_word(5));
        assert_eq!(t.epoch(1), window::epoch_word(2));
        // A width claimed while the upkeep runs gets its epoch at the next tick.
        assert_eq!(t.slot(7), Some(2));
        assert_eq!(t.epoch(2), NO_EPOCH);
        t.tick(700);
        assert_eq!(t.epoch(2), window::epoch_word(100));
        // Stopped: every cell matches no hint again, until an upkeep ticks.
        t.release();
        assert_eq!(t.read(), 0);
        assert!((0..CELLS).all(|i| t.epoch(i) == NO_EPOCH));
        assert!(t.claim());
        t.tick(1_000);
        assert_eq!(t.epoch(0), window::epoch_word(10));
        // A full table has no slot for a new width, and still finds its own.
        for width in 1_000..1_000 + CELLS as u64 - 3 {
            assert!(t.slot(width).is_some());
        }
        assert_eq!(t.slot(999), None);
        assert_eq!(t.slot(250), Some(1));
        // NO_EPOCH matches no tag; an epoch word leaves the seq and era bits
        // clear.
        assert_ne!(NO_EPOCH & 0xffff, 0);
        assert_eq!(window::epoch_word((1 << 45) - 1) & 0xffff, 0);
        assert_eq!(NO_CELL.load(Ordering::Relaxed), NO_EPOCH);
        // The process-wide cost BENCHMARKS.md quotes ("Memory per breaker").
        assert_eq!(std::mem::size_of::<Ticker>(), 4_480);
    }

    #[test]
    fn upkeep_ticks_and_stopping_falls_back_to_precise_reads() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
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
