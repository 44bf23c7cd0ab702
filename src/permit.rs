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
    probe: Kind,
}

/// Whether a permit is a half-open probe, as a whole word: with a `bool`
/// there, a permit's copies on its way out of `try_acquire` wrote that
/// byte and read it back as part of a wider load, which stalls until the
/// store retires (failed store-to-load forwarding; see `Name` in
/// `error.rs`). A word-sized field leaves no padding, so every copy is
/// made of whole words.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u64)]
enum Kind {
    Closed = 0,
    Probe = 1,
}

impl<'a> Permit<'a> {
    #[inline]
    pub(crate) fn new(breaker: &'a CircuitBreaker, ticket: u64, probe: bool) -> Self {
        Permit {
            breaker,
            ticket,
            probe: if probe { Kind::Probe } else { Kind::Closed },
        }
    }

    /// What the breaker needs to judge this permit's verdict.
    #[cfg(fusebox_loom)]
    pub(crate) fn ticket(&self) -> u64 {
        self.ticket
    }

    /// The call succeeded.
    #[inline]
    pub fn success(self) {
        // No drop: the verdict is the release.
        let this = ManuallyDrop::new(self);
        this.breaker
            .verdict(this.ticket, this.probe == Kind::Probe, Counted::Success);
    }

    /// The call failed.
    #[inline]
    pub fn failure(self) {
        let this = ManuallyDrop::new(self);
        this.breaker
            .verdict(this.ticket, this.probe == Kind::Probe, Counted::Failure);
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
        this.breaker.ignore(this.ticket, this.probe == Kind::Probe);
    }

    /// Reports `outcome`: [`success`](Self::success),
    /// [`failure`](Self::failure) or [`ignore`](Self::ignore).
    #[inline]
    pub fn report(self, outcome: Outcome) {
        let this = ManuallyDrop::new(self);
        this.breaker
            .report(this.ticket, this.probe == Kind::Probe, outcome);
    }

    /// `true` if this permit is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe == Kind::Probe
    }

    /// Abandons the permit, even while the thread is panicking (a
    /// cancelled `call_async` future): it counts as the breaker's
    /// `abandoned` outcome.
    pub(crate) fn cancel(self) {
        let this = ManuallyDrop::new(self);
        this.breaker.abandon(this.ticket, this.probe == Kind::Probe);
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
                .verdict(self.ticket, self.probe == Kind::Probe, Counted::Failure);
        } else {
            self.breaker.abandon(self.ticket, self.probe == Kind::Probe);
        }
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.breaker.name())
            .field("ticket", &self.ticket)
            .field("probe", &self.probe)
            .finish()
    }
}
