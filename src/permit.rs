//! `Permit`: the RAII ticket for one admitted call.

use std::fmt;

use crate::breaker::CircuitBreaker;
use crate::window::Outcome;

/// Permission to make one call, tagged with the generation it was admitted
/// in. Report the outcome with [`success`](Permit::success) or
/// [`failure`](Permit::failure).
///
/// # Drop
///
/// Dropping a permit without a verdict (an early return, a cancelled future)
/// releases it: it counts neither way, and a half-open probe slot is freed.
/// Dropping it **while the thread is panicking** counts as a failure, so a
/// guarded call that panics is a failure (SPEC §1).
///
/// A verdict from a permit admitted before the breaker's latest transition
/// changes only the totals (R9).
///
/// ```
/// use fusebox::CircuitBreaker;
///
/// let cb = CircuitBreaker::new("inventory");
/// match cb.try_acquire() {
///     Ok(permit) => match "42".parse::<u32>() {
///         Ok(_) => permit.success(),
///         Err(_) => permit.failure(),
///     },
///     Err(rejected) => eprintln!("{rejected}"),
/// }
/// assert_eq!(cb.snapshot().total_successes, 1);
/// ```
#[must_use = "a permit must be consumed by `success()` or `failure()`; dropping it reports no verdict"]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    gen: u32,
    probe: bool,
    done: bool,
}

impl<'a> Permit<'a> {
    #[inline]
    pub(crate) fn new(breaker: &'a CircuitBreaker, gen: u32, probe: bool) -> Self {
        Permit {
            breaker,
            gen,
            probe,
            done: false,
        }
    }

    /// The call succeeded.
    #[inline]
    pub fn success(mut self) {
        self.done = true;
        self.breaker.verdict(self.gen, self.probe, Outcome::Success);
    }

    /// The call failed.
    #[inline]
    pub fn failure(mut self) {
        self.done = true;
        self.breaker.verdict(self.gen, self.probe, Outcome::Failure);
    }

    /// `true` if this permit is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// Gives the slot up to the seed-style API: no release, no verdict.
    pub(crate) fn forget(mut self) {
        self.done = true;
    }
}

impl Drop for Permit<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if std::thread::panicking() {
            self.breaker.verdict(self.gen, self.probe, Outcome::Failure);
        } else {
            self.breaker.release(self.gen, self.probe);
        }
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.breaker.name())
            .field("generation", &self.gen)
            .field("probe", &self.probe)
            .finish()
    }
}
