//! Internals exposed to `loom-tests/` only (exists under `--cfg fusebox_loom`).
#![allow(missing_docs, unreachable_pub, missing_debug_implementations)]

use crate::window::{Outcome, Window as Inner};

/// The striped bucket ring, for the roll-over models.
pub struct Window(Inner);

impl Window {
    pub fn new(stripes: usize, buckets: u32, bucket_nanos: u64) -> Window {
        Window(Inner::new(stripes, buckets, bucket_nanos))
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
