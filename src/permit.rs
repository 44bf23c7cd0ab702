//! `Permit`: the RAII ticket for one admitted call.

use std::fmt;
use std::mem::ManuallyDrop;

use crate::breaker::CircuitBreaker;
use crate::window::Outcome as Counted;
use crate::Outcome;

/// Permission to make one call, tagged with the generation it was admitted
/// in. Report the outcome with [`success`](Permit::success) or
/// [`failure`](Permit::failure).
///
/// # Drop
///
/// Dropping a permit without a verdict (an early return, a cancelled future)
/// abandons the call: it counts as the breaker's
/// [`abandoned`](crate::Builder::abandoned) outcome, by default
/// [`Outcome::Ignored`] (neither way; a half-open probe slot is freed).
/// Dropping it **while the thread is panicking** counts as a failure, so a
/// guarded call that panics is a failure. (`call_async` tells the
/// two apart more finely: its future dropped during a panic that did not
/// come out of the guarded future is a cancellation.)
///
/// A stale verdict, from a permit admitted before the breaker's latest
/// transition, changes only the totals: it cannot move the breaker.
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
    /// CLOSED permits: the packed state word they were admitted under (a
    /// CLOSED word changes only by a transition, so equality is currency).
    /// Probes: the whole generation of their half-open period.
    ticket: u64,
    /// What else the verdict needs, in one word: [`UNTIMED`] for a CLOSED
    /// permit of a breaker that times no calls, [`PROBE`] for a half-open
    /// probe, or [`timed`] for a CLOSED permit whose admission time the
    /// slow-call rule needs. A whole word, not an enum of bytes: a permit's
    /// copies on its way out of `try_acquire` then consist of whole words
    /// (a byte field there was written and read back as part of a wider
    /// load, which stalls until the store retires; see `Name` in
    /// `error.rs`), and the common case is zero, tested in one instruction.
    meta: u64,
}

/// [`Permit::meta`] of a CLOSED permit that is not timed.
pub(crate) const UNTIMED: u64 = 0;
/// [`Permit::meta`] of a half-open probe.
pub(crate) const PROBE: u64 = 1;
/// The flag of a timed permit's [`Permit::meta`], above its admission time.
const TIMED: u64 = 1 << 63;

/// [`Permit::meta`] of a CLOSED permit admitted at `now` (nanoseconds on
/// the breaker's clock; 2^63 ns is 292 years).
pub(crate) const fn timed(now: u64) -> u64 {
    now | TIMED
}

/// The admission time of a timed permit's `meta`.
pub(crate) const fn admitted_at(meta: u64) -> u64 {
    meta & !TIMED
}

impl<'a> Permit<'a> {
    #[inline]
    pub(crate) fn new(breaker: &'a CircuitBreaker, ticket: u64, probe: bool) -> Self {
        Permit {
            breaker,
            ticket,
            meta: if probe { PROBE } else { UNTIMED },
        }
    }

    /// A CLOSED permit with `meta` made by [`timed`].
    #[inline]
    pub(crate) fn with_meta(breaker: &'a CircuitBreaker, ticket: u64, meta: u64) -> Self {
        Permit {
            breaker,
            ticket,
            meta,
        }
    }

    /// What the breaker needs to judge this permit's verdict.
    #[cfg(fusebox_loom)]
    pub(crate) fn ticket(&self) -> u64 {
        self.ticket
    }

    /// The permit's kind and admission time (see the `meta` field).
    #[cfg(fusebox_loom)]
    pub(crate) fn meta(&self) -> u64 {
        self.meta
    }

    /// The call succeeded.
    #[inline]
    pub fn success(self) {
        // No drop: the verdict is the release.
        let this = ManuallyDrop::new(self);
        this.breaker
            .permit_verdict(this.ticket, this.meta, Counted::Success);
    }

    /// The call failed.
    #[inline]
    pub fn failure(self) {
        let this = ManuallyDrop::new(self);
        this.breaker
            .permit_verdict(this.ticket, this.meta, Counted::Failure);
    }

    /// The call counts neither way ([`Outcome::Ignored`]): only the ignored
    /// total grows, and a half-open probe frees its slot. For errors that
    /// say nothing about the dependency's health.
    ///
    /// ```
    /// use fusebox::CircuitBreaker;
    ///
    /// let cb = CircuitBreaker::new("search");
    /// cb.try_acquire().unwrap().ignore(); // the user's query was invalid
    /// let s = cb.snapshot();
    /// assert_eq!((s.total_calls, s.total_ignored), (0, 1));
    /// ```
    #[inline]
    pub fn ignore(self) {
        let this = ManuallyDrop::new(self);
        this.breaker.ignore(this.ticket, this.meta == PROBE);
    }

    /// Reports `outcome`: [`success`](Self::success),
    /// [`failure`](Self::failure) or [`ignore`](Self::ignore).
    #[inline]
    pub fn report(self, outcome: Outcome) {
        let this = ManuallyDrop::new(self);
        this.breaker.report(this.ticket, this.meta, outcome);
    }

    /// `true` if this permit is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.meta == PROBE
    }

    /// Abandons the permit, even while the thread is panicking (a
    /// cancelled `call_async` future): it counts as the breaker's
    /// `abandoned` outcome.
    pub(crate) fn cancel(self) {
        let this = ManuallyDrop::new(self);
        this.breaker.abandon(this.ticket, this.meta);
    }

    /// A probe's half-open period (its ticket).
    pub(crate) fn generation(&self) -> u64 {
        self.ticket
    }

    /// Gives the slot up to the unticketed API: no release, no verdict.
    pub(crate) fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for Permit<'_> {
    #[inline]
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.breaker
                .permit_verdict(self.ticket, self.meta, Counted::Failure);
        } else {
            self.breaker.abandon(self.ticket, self.meta);
        }
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.breaker.name())
            .field("ticket", &self.ticket)
            .field("probe", &(self.meta == PROBE))
            .finish()
    }
}
