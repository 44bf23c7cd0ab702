//! Internals exposed to `loom-tests/` only (exists under `--cfg fusebox_loom`).
#![allow(missing_docs, unreachable_pub, missing_debug_implementations)]

use crate::window::{Outcome, Window as Inner};

/// The striped bucket ring, for the roll-over models.
pub struct Window(Inner);

impl Window {
    /// `_bucket_nanos` is unused: epochs are passed in directly.
    pub fn new(stripes: usize, buckets: u32, _bucket_nanos: u64) -> Window {
        Window(Inner::new(stripes, buckets))
    }

    /// Records one verdict at `epoch` in `era`.
    pub fn record(&self, epoch: u64, era: u8, failure: bool) {
        let outcome = if failure {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        self.0.record(epoch, era, outcome);
    }

    /// Records one verdict made at clock reading `ticks`, with buckets
    /// `width` ticks wide (epoch `= ticks / width`): the success path's
    /// entry, which finds the slot through the shared hint and checks the
    /// reading against the hinted bucket's bounds.
    pub fn record_ticks(&self, ticks: u64, width: u64, era: u8, failure: bool) {
        let outcome = if failure {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        self.0
            .record_at(ticks, &crate::clock::Divider::new(width), era, outcome);
    }

    /// Records one verdict at `epoch`, buckets `width` ticks wide, the way
    /// a `Recent` success does: first through the fast path with an upkeep
    /// epoch cell reading `epoch`, and if that refuses, from a reading at
    /// the start of the bucket.
    pub fn record_cell(&self, epoch: u64, width: u64, era: u8, failure: bool) {
        let outcome = if failure {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        if !self
            .0
            .record_current(crate::window::epoch_word(epoch), era, outcome)
        {
            self.0.record_at(
                epoch * width,
                &crate::clock::Divider::new(width),
                era,
                outcome,
            );
        }
    }

    /// Rolls every slot into `era` (what the closing thread does, R6).
    pub fn sweep(&self, era: u8) {
        self.0.sweep(era);
    }

    /// `(successes, failures)` of `era` in the window ending at `epoch`.
    pub fn counts(&self, epoch: u64, era: u8) -> (u64, u64) {
        let c = self.0.counts(epoch, era);
        (c.successes, c.failures)
    }

    /// `(successes, failures, rejected)` since creation.
    pub fn totals(&self) -> (u64, u64, u64) {
        let t = self.0.totals();
        (t.successes, t.failures, t.rejected)
    }
}

use crate::breaker::CircuitBreaker;
use crate::sync::Arc;
use crate::Permit;

/// A permit that owns an `Arc` of its breaker, so that main can admit a call
/// before spawning the thread that reports its verdict (loom has no scoped
/// threads). Success, failure and drop behave as on [`Permit`].
pub struct Detached {
    breaker: Arc<CircuitBreaker>,
    ticket: u64,
    meta: u64,
    done: bool,
}

impl Detached {
    /// Detaches `permit` from its borrow of `breaker`.
    ///
    pub fn new(breaker: &Arc<CircuitBreaker>, permit: Permit<'_>) -> Detached {
        let (ticket, meta) = (permit.ticket(), permit.meta());
        permit.forget();
        Detached {
            breaker: breaker.clone(),
            ticket,
            meta,
            done: false,
        }
    }

    pub fn is_probe(&self) -> bool {
        self.meta == crate::permit::PROBE
    }

    /// A probe's half-open generation; a CLOSED permit's era.
    pub fn generation(&self) -> u64 {
        if self.is_probe() {
            self.ticket
        } else {
            crate::state::Word::unpack(self.ticket).era
        }
    }

    pub fn success(mut self) {
        self.done = true;
        self.breaker
            .permit_verdict(self.ticket, self.meta, Outcome::Success);
    }

    pub fn failure(mut self) {
        self.done = true;
        self.breaker
            .permit_verdict(self.ticket, self.meta, Outcome::Failure);
    }
}

impl Drop for Detached {
    fn drop(&mut self) {
        if !self.done {
            self.breaker.abandon(self.ticket, self.meta);
        }
    }
}

/// The generation in the breaker's state word (not public API).
pub fn generation(breaker: &CircuitBreaker) -> u64 {
    breaker.generation()
}

/// Whether the state stamp belongs to the current generation. Once every
/// thread has finished, it must: the last transition's winner stamps it.
pub fn stamp_is_current(breaker: &CircuitBreaker) -> bool {
    breaker.stamp_is_current()
}

/// The coarse clock's words, for the upkeep model.
pub struct Ticker(crate::upkeep::Ticker);

impl Default for Ticker {
    fn default() -> Ticker {
        Ticker(crate::upkeep::Ticker::new())
    }
}

impl Ticker {
    pub fn claim(&self) -> bool {
        self.0.claim()
    }
    pub fn tick(&self, nanos: u64) {
        self.0.tick(nanos);
    }
    pub fn read(&self) -> u64 {
        self.0.read()
    }
    pub fn release(&self) {
        self.0.release();
    }
    /// The slot whose epoch cell counts in buckets of `width` nanoseconds.
    pub fn slot(&self, width: u64) -> Option<usize> {
        self.0.slot(width)
    }
    /// Slot `i`'s epoch cell.
    pub fn epoch(&self, i: usize) -> u64 {
        self.0.epoch(i)
    }
}

/// What a cell holds while no upkeep runs.
pub const NO_EPOCH: u64 = crate::upkeep::NO_EPOCH;
/// How many epoch cells the ticker has (under loom).
pub const CELLS: usize = crate::upkeep::CELLS;
/// An epoch as a cell holds it.
pub fn epoch_word(epoch: u64) -> u64 {
    crate::window::epoch_word(epoch)
}
