//! `CircuitBreaker`: admission, verdicts, transitions and snapshots.
//!
//! Everything a breaker does is a load of the state word, a decision, and a
//! CAS. "What happens on a failure" is [`CircuitBreaker::closed_verdict`].
//!
//! # Orderings
//!
//! * `word` (the packed [`Word`]) is written only by CAS. Transitions use
//!   `AcqRel` so the winner sees everything before the state it replaced and
//!   publishes its own writes to whoever loads the new state with
//!   `Acquire`. Probe-count CASes in HALF_OPEN use the same orderings.
//! * Three side words complete the word; each is *published before* the
//!   transition CAS that needs it, by every contender for that transition
//!   (all of which come from one word, so they publish one value), with a
//!   forward-only CAS (`AcqRel`): a stalled contender's older value never
//!   replaces a newer one. A thread that loads the word with `Acquire` and
//!   then the side word sees at least the value published for the word's
//!   state; a larger value means the word it holds is already stale.
//!   - `era`: the era (closings so far) while OPEN or HALF_OPEN, published
//!     by the trip from CLOSED, whose word carries it.
//!   - `period`: the whole generation of the latest half-open period,
//!     published by OPEN → HALF_OPEN. A HALF_OPEN word keeps 22 bits of its
//!     generation; `period` is that state's generation when its low bits
//!     match. A probe's ticket is it, so a probe of an earlier period never
//!     passes for one of this period, however many transitions ago it was
//!     admitted (R9): its verdict and its release check the word's 22 bits
//!     and `period` whole, then CAS the word.
//!   - `closed_gen`: the generation of the latest CLOSED state, published by
//!     HALF_OPEN → CLOSED (a CLOSED word carries its era, which is unique to
//!     its CLOSED period, instead).
//!   - `trip_gen` (with a backoff only): the generation of the OPEN state
//!     the latest trip from CLOSED entered, published by that trip. OPEN
//!     states of one run (trip, then reopenings) are two generations apart,
//!     so an OPEN word of generation `g` is the `(g - trip_gen) / 2 + 1`-th
//!     opening since the breaker last closed, and its duration follows from
//!     that and `g` alone. Only trips leave CLOSED, so every contender of
//!     one trip publishes the same value; a `trip_gen` above `g` means the
//!     reader's word is stale (its decision fails its CAS or re-reads).
//! * `stamp` ([`Stamp`]: when the current state began, 6 bits of its
//!   generation and 57 of its time) is written after the transition by the
//!   winner, or by the first reader that finds it still tagged with another
//!   generation (helping: no thread waits for another). A writer loads the
//!   stamp (`Acquire`), then the word, and writes only if the word is still
//!   in that state; its CAS expects the stamp it loaded before that check,
//!   so a stalled thread cannot write an old generation over a newer
//!   state's stamp. A request is refused on a stamp only after the same
//!   reload shows the word unchanged, so a 6-bit match is exact there
//!   (stamps lag the word by at most the three transitions of one cycle:
//!   every OPEN state is stamped before it can end). Stamps are written by
//!   `AcqRel` CAS. See `stamp_for` and `is_current`.
//! * `since` holds the stamp's whole 64-bit time, so that a state's age is
//!   right after any idle time (ages come from it; the stamp's 57 bits only
//!   tag it). The stamp's writer CASes it to its time right after the
//!   stamp, expecting the value it loaded before its currency check (a
//!   writer stalled since then fails rather than overwrite a newer state's
//!   time), and retries while the stamp is still its own. A reader whose
//!   `since` does not match the stamp's low bits (its writer is between
//!   the two CASes) takes the time nearest `now` with those bits and helps
//!   write it: that is the writer's own time unless the writer has been
//!   stopped between two adjacent CASes for 2^56 ns. The OPEN fast path
//!   refuses only while both the stamp's span and `now - since` are below
//!   `open_duration`, so an age of 2^57 ns or more never reads as young.
//! * `consecutive` (`count (48) | era_low (16)`) is changed by CAS; a success
//!   writes it only when its count is non-zero (the word above `0xFFFF`), so
//!   healthy traffic only reads it.
//!   `Relaxed` suffices: it feeds a decision that is re-validated by the CAS
//!   on `word`.
//! * `budget` (the R2 scan budget, on the same line as `consecutive`) is
//!   written by `AcqRel` CAS by every failure that checks R2, after its
//!   window record, so a failure that sums the window sees every earlier
//!   failure's record; see [`crate::budget`] for its protocol and orderings.
//! * `unticketed` (`generation (44) | count (20)`) counts the probe slots that
//!   unticketed [`allow_request`](CircuitBreaker::allow_request)s took in
//!   one half-open period, so that an unticketed verdict in HALF_OPEN
//!   counts as a probe's only if an unticketed admission of that period is
//!   still owed one; any other (a call admitted while CLOSED, say) is
//!   stale (R9) and must not free a slot a permit holds (R5). The thread
//!   that enters HALF_OPEN resets it to its period (if the word is still
//!   there), and so does an admission that finds another period's count;
//!   an admission adds one after its slot CAS (`AcqRel` CAS); a verdict
//!   takes one (`AcqRel` CAS) before its probe CAS, which then re-checks
//!   the period as a permit's verdict does. The admission happens-before
//!   its own verdict (program order, or whatever synchronisation hands the
//!   verdict to another thread), so a verdict always finds its own
//!   admission's count; the word only matches counts to periods, and every
//!   decision it feeds is re-validated by the CAS on `word`. Counts owed
//!   to a period that ended are cleared when the next one begins, so an old
//!   count could meet a current period only if 2^44 transitions passed with
//!   every half-open entry's reset lost to a stalled thread.
//!
//! A verdict is *current* if the state word is still in the state its
//! permit was admitted in when the verdict is applied; only current
//! verdicts touch the window, the consecutive count or the state (R9).
//! Every verdict reaches the totals (R11).

use std::sync::Arc as StdArc;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::budget::{ScanBudget, Take};
use crate::clock::BreakerClock;
use crate::config::{Builder, Config};
use crate::error::{Name, Rejected, Rejection};
use crate::events::{emit, Reason, StateChange};
use crate::permit::{admitted_at, timed, Permit, PROBE, UNTIMED};
use crate::policy;
use crate::snapshot::Snapshot;
use crate::state::{short_gen, Stamp, State, Word};
use crate::sync::{AtomicU64, Ordering};
use crate::window::{Outcome, Window};

/// The consecutive word keeps its era's low 16 bits below the count, so
/// "the count is non-zero" is one compare of the whole word (the success
/// path's only question), and the count saturates on the add's carry.
const CONSEC_ERA_MASK: u64 = 0xFFFF;
const CONSEC_ONE: u64 = CONSEC_ERA_MASK + 1;
const CONSEC_COUNT_SHIFT: u32 = CONSEC_ONE.trailing_zeros();

/// `era`'s label in the consecutive word (its count zero).
#[inline(always)]
fn consec_tag(era: u64) -> u64 {
    era & CONSEC_ERA_MASK
}

/// The consecutive failures a consecutive word counts.
#[inline(always)]
fn consec_count(word: u64) -> u64 {
    word >> CONSEC_COUNT_SHIFT
}

/// A consecutive word with one more failure, its era label untouched; at
/// 2^48 - 1 it stays there instead of carrying out.
#[inline]
fn consec_plus_one(word: u64) -> u64 {
    word.checked_add(CONSEC_ONE).unwrap_or(word)
}

/// The words a failure writes, on one line: the consecutive count (R1),
/// which the success path also reads, and the R2 scan budget.
struct FailureWords {
    consecutive: AtomicU64,
    budget: ScanBudget,
}

/// The words every call reads and only transitions write.
struct Core {
    /// The packed [`Word`].
    word: AtomicU64,
    /// The packed [`Stamp`] of the current state.
    stamp: AtomicU64,
    /// The whole time of `stamp` (see `# Orderings`).
    since: AtomicU64,
    /// The era while OPEN or HALF_OPEN (see `# Orderings`).
    era: AtomicU64,
    /// The generation of the latest half-open period.
    period: AtomicU64,
    /// The generation of the latest CLOSED state.
    closed_gen: AtomicU64,
    /// The generation of the OPEN state the latest trip from CLOSED entered.
    trip_gen: AtomicU64,
    /// Unticketed probe slots of one half-open period (see `# Orderings`).
    unticketed: AtomicU64,
    /// Or'ed into the state word at admission: both state bits for a
    /// breaker that times calls (its CLOSED admissions go out of line), 0
    /// otherwise. Never written after construction.
    admit_mask: u64,
}

/// The `unticketed` word: the period's generation above (44 low bits), the count
/// below (at most `half_open_max_calls`, 20 bits).
const UNTICKETED_GEN_SHIFT: u32 = 20;
const UNTICKETED_COUNT_MASK: u64 = (1 << UNTICKETED_GEN_SHIFT) - 1;

#[inline]
fn unticketed_word(gen: u64, count: u64) -> u64 {
    (gen << UNTICKETED_GEN_SHIFT) | count
}

/// The unticketed word's label for period `gen`.
#[inline]
fn unticketed_gen(word: u64) -> u64 {
    word >> UNTICKETED_GEN_SHIFT
}

/// `gen` as the unticketed word keeps it.
#[inline]
fn unticketed_label(gen: u64) -> u64 {
    unticketed_gen(unticketed_word(gen, 0))
}

/// Advances `cell` to `value` unless it already holds `value` or more.
fn publish_forward(cell: &AtomicU64, value: u64) {
    let mut cur = cell.load(Ordering::Acquire);
    while value > cur {
        match cell.compare_exchange_weak(cur, value, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return,
            Err(actual) => cur = actual,
        }
    }
}

/// A lock-free circuit breaker. Share it by reference or in an `Arc`.
///
/// Its rules are in the crate docs, [How it decides](crate#how-it-decides);
/// the ways to use it are [`call`](Self::call) and its siblings,
/// [`try_acquire`](Self::try_acquire), and the unticketed
/// [`allow_request`](Self::allow_request).
///
/// ```
/// use std::time::Duration;
/// use fusebox::{quanta::Clock, CircuitBreaker, State};
///
/// let (clock, mock) = Clock::mock();
/// let cb = CircuitBreaker::builder("payments")
///     .consecutive_failure_threshold(2)
///     .open_duration(Duration::from_secs(5))
///     .half_open_max_calls(1)
///     .clock(clock)
///     .build()?;
///
/// let _ = cb.call(|| Err::<(), _>("boom"));
/// let _ = cb.call(|| Err::<(), _>("boom"));
/// assert_eq!(cb.state(), State::Open);
///
/// mock.increment(Duration::from_secs(5));
/// assert_eq!(cb.state(), State::HalfOpen);
/// assert_eq!(cb.call(|| Ok::<_, ()>(42)).unwrap(), 42);
/// assert_eq!(cb.state(), State::Closed);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub struct CircuitBreaker {
    /// Read by every call; padded so the consecutive-failure writes on the
    /// failure path do not invalidate it.
    core: CachePadded<Core>,
    /// Written on failures (and the first success after one).
    failures: CachePadded<FailureWords>,
    window: Window,
    /// With a slow-call threshold, the slow calls, in a ring of their own
    /// beside `window`'s (same buckets, eras and protocol): slow verdicts
    /// as its successes, slow ignored abandonments as its failures.
    slow: Option<Window>,
    clock: BreakerClock,
    name: StdArc<str>,
    /// The name as a `Rejected` carries it, built once.
    reject_name: Name,
    config: Config,
}

impl std::fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The word with its whole generation (a HALF_OPEN word keeps 22
        // bits of it, a CLOSED word none).
        let w = self.load();
        let word = Word {
            gen: self.gen_of(w).unwrap_or(w.gen),
            ..w
        };
        f.debug_struct("CircuitBreaker")
            .field("name", &self.name)
            .field("word", &word)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl CircuitBreaker {
    /// A builder with every setting at its default; see [`Builder`] for
    /// the settings.
    pub fn builder(name: impl Into<String>) -> Builder {
        Builder::new(name)
    }

    /// A breaker with every setting at its default. Infallible.
    pub fn new(name: impl Into<String>) -> CircuitBreaker {
        match Builder::new(name).validate() {
            Ok(config) => CircuitBreaker::from_config(config),
            // The defaults are valid; this arm is unreachable.
            Err(e) => unreachable!("default configuration rejected: {e}"),
        }
    }

    pub(crate) fn from_config(config: Config) -> CircuitBreaker {
        let clock = BreakerClock::new(
            config.clock.clone(),
            config.clock_mode,
            config.own_clock,
            config.bucket_nanos,
        );
        let window = Window::new(config.stripes, config.window_buckets);
        let slow =
            (config.slow_nanos > 0).then(|| Window::new(config.stripes, config.window_buckets));
        let name = StdArc::<str>::from(config.name.as_str());
        // The first CLOSED period starts now, on the clock's own time line:
        // about 0 for a clock whose origin is this breaker's, but a `Recent`
        // breaker on the default clock counts from the process's time base,
        // which may be older than the breaker.
        let born = clock.now();
        CircuitBreaker {
            core: CachePadded::new(Core {
                word: AtomicU64::new(Word::INITIAL.pack()),
                stamp: AtomicU64::new(Stamp::new(0, born).pack()),
                since: AtomicU64::new(born),
                era: AtomicU64::new(0),
                period: AtomicU64::new(0),
                closed_gen: AtomicU64::new(0),
                trip_gen: AtomicU64::new(0),
                unticketed: AtomicU64::new(0),
                admit_mask: if config.slow_nanos > 0 { 0b11 << 62 } else { 0 },
            }),
            failures: CachePadded::new(FailureWords {
                consecutive: AtomicU64::new(0),
                budget: ScanBudget::new(),
            }),
            window,
            slow,
            clock,
            reject_name: Name::new(&name),
            name,
            config,
        }
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `half_open_max_calls` as configured.
    pub fn half_open_max_calls(&self) -> u32 {
        self.config.half_open_max_calls
    }

    /// `open_duration` as configured.
    pub fn open_duration(&self) -> Duration {
        self.config.open_duration
    }

    /// The current state. Makes a transition that has fallen due with time
    /// before answering: OPEN → HALF_OPEN once `open_duration` has elapsed,
    /// and the reset timeout's close or reopen once HALF_OPEN has lasted
    /// `reset_timeout`.
    pub fn state(&self) -> State {
        let w = self.load();
        if w.state == State::Closed {
            return State::Closed;
        }
        self.settle(w, self.clock.now()).state
    }

    /// Approximate bytes this breaker owns: the struct, its counters and
    /// its name. Fixed at build time; no call allocates.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.window.heap_bytes()
            + self.slow.as_ref().map_or(0, Window::heap_bytes)
            + self.name.len()
    }

    // ---- admission -------------------------------------------------------

    /// Asks to make one call. `Ok` carries a [`Permit`] to report the
    /// outcome with; `Err` says why not and when to retry.
    ///
    /// In CLOSED this is a single atomic load. In OPEN it reads the clock
    /// and, once `open_duration` has elapsed, moves to HALF_OPEN and admits
    /// this request as the first probe. In HALF_OPEN it takes one of
    /// `half_open_max_calls` probe slots, or refuses when all are taken.
    ///
    /// # Errors
    ///
    /// [`Rejected`] when OPEN, or HALF_OPEN with every probe slot taken.
    #[inline(always)]
    pub fn try_acquire(&self) -> Result<Permit<'_>, Rejected> {
        match self.admit() {
            Ok(permit) => Ok(permit),
            Err(rejection) => Err(self.rejected(rejection)),
        }
    }

    /// The public error for `rejection`: this breaker's name attached.
    #[inline(always)]
    pub(crate) fn rejected(&self, rejection: Rejection) -> Rejected {
        rejection.named(self.reject_name.clone())
    }

    /// Admission with the CLOSED case inlined into the caller (one load, no
    /// clock) and everything else out of line.
    #[inline(always)]
    pub(crate) fn admit(&self) -> Result<Permit<'_>, Rejection> {
        let bits = self.core.word.load(Ordering::Acquire);
        // A breaker that times calls sets both state bits here, so that its
        // CLOSED words take the out-of-line path with the rest.
        let masked = bits | self.core.admit_mask;
        if Word::is_closed(masked) {
            return Ok(Permit::new(self, bits, false));
        }
        let state = if Word::is_open_unless_closed(masked) {
            if let Some(rejected) = self.reject_if_still_open(bits) {
                return Err(rejected);
            }
            State::Open
        } else {
            return self.admit_other(bits);
        };
        self.acquire_slow(Word::unpack_as(bits, state))
    }

    /// Admission for HALF_OPEN, and for every state of a breaker that times
    /// calls.
    #[cold]
    #[inline(never)]
    fn admit_other(&self, bits: u64) -> Result<Permit<'_>, Rejection> {
        if Word::is_closed(bits) {
            return Ok(self.closed_permit(bits));
        }
        let state = if Word::is_open_unless_closed(bits) {
            if let Some(rejected) = self.reject_if_still_open(bits) {
                return Err(rejected);
            }
            State::Open
        } else {
            State::HalfOpen
        };
        self.acquire_slow(Word::unpack_as(bits, state))
    }

    /// A permit for the CLOSED word `bits`, timed if the breaker times
    /// calls.
    #[inline]
    fn closed_permit(&self, bits: u64) -> Permit<'_> {
        if self.slow.is_some() {
            Permit::with_meta(self, bits, timed(self.clock.now()))
        } else {
            Permit::new(self, bits, false)
        }
    }

    /// The common OPEN case, inline: the stamp is current and
    /// `open_duration` has not elapsed. `None` sends the caller to the slow
    /// path (stamp to help write, R4 due, or a stale word).
    ///
    /// The stamp's generation and its elapsed time are checked in one
    /// subtraction ([`Stamp::span`]): a span below `open_span` (at most
    /// 2^55 ns) is a stamp of this word's 6 generation bits, `span`
    /// nanoseconds old modulo 2^57, exactly what `stamp_for` and `elapsed`
    /// would have found unless the state is 2^57 ns old or more; `now -
    /// since` below `open_span` too rules that out (and equals `span`
    /// whenever `since` is the stamp's, as it is but for a few instructions
    /// after a transition).
    #[inline(always)]
    fn reject_if_still_open(&self, bits: u64) -> Option<Rejection> {
        let now = self.clock.now();
        let span = Stamp::span(self.core.stamp.load(Ordering::Acquire), bits, now);
        let age = now.wrapping_sub(self.core.since.load(Ordering::Acquire));
        // The reload makes the 6-bit match exact (see `is_current`); in OPEN
        // the word changes only by a transition.
        if (span | age) >= self.config.open_span || self.core.word.load(Ordering::Acquire) != bits {
            return None;
        }
        self.count_rejection();
        Some(Rejection::open(self.config.open_nanos - span))
    }

    #[cold]
    #[inline(never)]
    fn acquire_slow(&self, w: Word) -> Result<Permit<'_>, Rejection> {
        let now = self.clock.now();
        let mut w = w;
        loop {
            match w.state {
                State::Closed => return Ok(self.closed_permit(w.pack())),
                State::Open => {
                    let Some(elapsed) = self.elapsed(w, now) else {
                        w = self.load();
                        continue;
                    };
                    let open_nanos = self.open_nanos_of(w.gen);
                    if elapsed < open_nanos {
                        if !self.is_current(w) {
                            w = self.load();
                            continue;
                        }
                        let left = open_nanos - elapsed;
                        self.count_rejection();
                        return Err(Rejection::open(left));
                    }
                    // R4: this request moves the breaker and is its first probe.
                    let gen = w.gen + 1;
                    if self.enter_half_open(w, 1) {
                        return Ok(Permit::new(self, gen, true));
                    }
                    w = self.load();
                }
                State::HalfOpen => {
                    if let Some(next) = self.resolve_reset_timeout(w, now) {
                        w = next;
                        continue;
                    }
                    if w.inflight >= self.config.half_open_max_calls {
                        self.count_rejection();
                        return Err(Rejection::half_open(self.config.half_open_max_calls));
                    }
                    // The period's whole generation, loaded before the slot
                    // CAS: the permit's ticket.
                    let Some(gen) = self.gen_of(w) else {
                        w = self.load();
                        continue;
                    };
                    let to = Word {
                        inflight: w.inflight + 1,
                        ..w
                    };
                    match self.cas(w, to) {
                        Ok(()) => return Ok(Permit::new(self, gen, true)),
                        Err(actual) => w = actual,
                    }
                }
            }
        }
    }

    /// The duration in force for the OPEN state of generation `gen`: the
    /// open duration, or with a backoff its duration for this opening of
    /// the run the latest trip began (see `# Orderings`, `trip_gen`).
    fn open_nanos_of(&self, gen: u64) -> u64 {
        match &self.config.backoff {
            None => self.config.open_nanos,
            Some(plan) => {
                let trip = self.core.trip_gen.load(Ordering::Acquire);
                plan.open_nanos(crate::backoff::openings(gen, trip), gen)
            }
        }
    }

    /// R4: OPEN `w` → HALF_OPEN with `inflight` probes admitted (1 for a
    /// request, 0 for `state()`). `true` if this thread made it.
    fn enter_half_open(&self, w: Word, inflight: u32) -> bool {
        let gen = w.gen + 1;
        publish_forward(&self.core.period, gen);
        self.transition(
            w,
            Word::half_open(gen, inflight),
            gen,
            Reason::OpenDurationElapsed,
        )
    }

    #[inline(always)]
    fn count_rejection(&self) {
        self.window.count_rejected();
        tracing::debug!(breaker = &*self.name, "request rejected");
    }

    /// Unticketed admission: `true` admits one call, which the caller must
    /// follow with [`on_success`](Self::on_success) or
    /// [`on_failure`](Self::on_failure). It follows the same rules as
    /// [`try_acquire`](Self::try_acquire), so in HALF_OPEN it takes a probe
    /// slot, which the next unticketed verdict before the breaker moves on
    /// releases. A `false` counts as a rejection.
    pub fn allow_request(&self) -> bool {
        match self.admit() {
            Ok(permit) => {
                if permit.is_probe() {
                    self.unticketed_admitted(permit.generation());
                }
                permit.forget();
                true
            }
            Err(_) => false,
        }
    }

    /// Unticketed success, taken as a verdict on the breaker's *current*
    /// state: in CLOSED it resets the consecutive count, as a permit's
    /// success does. In HALF_OPEN it counts as a probe success, freeing a
    /// probe slot, if an unticketed [`allow_request`](Self::allow_request)
    /// since the breaker became half-open took a slot that no unticketed
    /// verdict has released yet; otherwise it reaches the totals only (it is
    /// then a stale verdict, say of a call admitted before the breaker
    /// opened, and must not free a slot a [`Permit`] holds). In OPEN it
    /// reaches the totals only.
    ///
    /// Unticketed verdicts carry no ticket, so while unticketed probes are
    /// out, the verdict of a call admitted earlier (before the breaker
    /// opened, or before it last became half-open) cannot be told from
    /// theirs and releases one of their slots; and an unticketed probe
    /// still out when the breaker closes reports into CLOSED, as a current
    /// verdict. Use [`try_acquire`](Self::try_acquire) or the call wrappers
    /// where calls can outlive a transition.
    pub fn on_success(&self) {
        self.unpaired_verdict(Outcome::Success);
    }

    /// Unticketed failure, taken as a verdict on the breaker's current
    /// state: in CLOSED it counts as a permit's failure does and may trip
    /// the breaker (the consecutive-failure or the error-rate trip). In
    /// HALF_OPEN it reopens the breaker under the same condition as
    /// [`on_success`](Self::on_success) counts as a probe success, and
    /// otherwise reaches the totals only. In OPEN it reaches the totals
    /// only.
    pub fn on_failure(&self) {
        self.unpaired_verdict(Outcome::Failure);
    }

    fn unpaired_verdict(&self, outcome: Outcome) {
        loop {
            let w = self.load();
            match w.state {
                State::Closed => return self.closed_verdict(w.pack(), outcome),
                State::Open => return self.window.count_total(outcome),
                State::HalfOpen => {
                    let Some(gen) = self.gen_of(w) else {
                        continue; // `w` went stale under us
                    };
                    if self.unticketed_released(gen) {
                        return self.probe_verdict(gen, outcome);
                    }
                    return self.window.count_total(outcome);
                }
            }
        }
    }

    /// The half-open period of generation `gen` is the current state.
    fn in_period(&self, gen: u64) -> bool {
        let w = self.load();
        w.state == State::HalfOpen && w.gen == short_gen(gen) && self.gen_of(w) == Some(gen)
    }

    /// An unticketed admission took a probe slot of the half-open period
    /// of generation `gen`: one more unticketed verdict of it is owed a
    /// slot.
    #[cold]
    fn unticketed_admitted(&self, gen: u64) {
        self.unticketed_update(gen, 1);
    }

    /// The unticketed word counts `add` more for period `gen`, or starts counting
    /// for it (at `add`) if it held another period's count and `gen` is the
    /// current state. A period that is over records nothing: its slots went
    /// with it.
    fn unticketed_update(&self, gen: u64, add: u64) {
        let word = &self.core.unticketed;
        let mut cur = word.load(Ordering::Acquire);
        loop {
            let next = if unticketed_gen(cur) == unticketed_label(gen) {
                if add == 0 {
                    return;
                }
                unticketed_word(gen, (cur & UNTICKETED_COUNT_MASK) + add)
            } else if !self.in_period(gen) {
                // Asked of the state word, not of the unticketed word's
                // generation, which may be any number of periods old.
                return;
            } else {
                unticketed_word(gen, add)
            };
            match word.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Takes one owed unticketed slot of the half-open period of generation
    /// `gen`; `false` if none is owed (the verdict is stale).
    fn unticketed_released(&self, gen: u64) -> bool {
        let word = &self.core.unticketed;
        let mut cur = word.load(Ordering::Acquire);
        loop {
            if unticketed_gen(cur) != unticketed_label(gen) || cur & UNTICKETED_COUNT_MASK == 0 {
                return false;
            }
            match word.compare_exchange_weak(cur, cur - 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
    }

    // ---- verdicts --------------------------------------------------------

    /// A [`Permit`]'s verdict: `meta` tells an untimed CLOSED permit (the
    /// common case, one test) from a probe or a timed one.
    #[inline(always)]
    pub(crate) fn permit_verdict(&self, ticket: u64, meta: u64, outcome: Outcome) {
        if meta == UNTIMED {
            self.closed_verdict(ticket, outcome);
        } else {
            self.permit_verdict_other(ticket, meta, outcome);
        }
    }

    #[cold]
    #[inline(never)]
    fn permit_verdict_other(&self, ticket: u64, meta: u64, outcome: Outcome) {
        if meta == PROBE {
            self.probe_verdict(ticket, outcome);
        } else {
            self.timed_verdict(ticket, admitted_at(meta), Some(outcome));
        }
    }

    /// R14: the verdict (`None`: abandoned and ignored) of a timed CLOSED
    /// permit admitted under word `admitted` at time `start`, then, if it
    /// took `slow_call_duration_threshold` or longer and its CLOSED state
    /// is still current, its slow count and the slow-call trip.
    fn timed_verdict(&self, admitted: u64, start: u64, outcome: Option<Outcome>) {
        // A Precise success reads the clock once, for both uses.
        let now = if outcome == Some(Outcome::Success) && !self.clock.coarse() {
            let raw = self.clock.precise_raw();
            self.precise_success_at(admitted, raw);
            self.clock.nanos_of_raw(raw)
        } else {
            let now = self.clock.now();
            match outcome {
                Some(outcome) => self.closed_verdict(admitted, outcome),
                None => self.ignore(admitted, false),
            }
            now
        };
        if now.saturating_sub(start) < self.config.slow_nanos {
            return;
        }
        let Some(slow) = &self.slow else { return };
        let bits = self.core.word.load(Ordering::Acquire);
        if bits != admitted {
            // R9, or the verdict itself tripped the breaker.
            return;
        }
        let epoch = self.clock.epoch();
        let era = Word::era_of_bits(bits) as u8;
        // The slow window counts slow verdicts as its successes and slow
        // ignored ones (not in the main window) as its failures.
        slow.record(
            epoch,
            era,
            if outcome.is_some() {
                Outcome::Success
            } else {
                Outcome::Failure
            },
        );
        let counts = self.window.counts(epoch, era);
        let slow_counts = slow.counts(epoch, era);
        if let Some(trip) = policy::slow_rate_trips(
            slow_counts.calls(),
            counts.calls() + slow_counts.failures,
            self.config.min_calls_for_error_rate,
            self.config.slow_call_rate_threshold,
        ) {
            self.trip(Word::unpack(bits), trip);
        }
    }

    /// A verdict on a call admitted under the CLOSED word `admitted`.
    ///
    /// The success case is inlined whole into the caller: measured, an
    /// out-of-line call here let the count's CAS wait for the clock reading
    /// and doubled the cost of a call (the old `docs/benchmarks-log.md` in git history, "Where the
    /// time goes").
    #[inline(always)]
    fn closed_verdict(&self, admitted: u64, outcome: Outcome) {
        match outcome {
            Outcome::Success => {
                // The success path needs only the bucket: in Recent mode the
                // upkeep's epoch cell, in Precise the reading in the window's
                // unit, not nanoseconds. Nothing depends on either until the
                // window write's bucket check.
                if self.clock.coarse() {
                    let now = self.clock.current_epoch();
                    let Some((era, consecutive)) = self.current_success(admitted) else {
                        return;
                    };
                    if !self.window.record_current(now, era as u8, Outcome::Success) {
                        self.success_off_the_cell(era);
                    }
                    self.reset_consecutive(era, consecutive);
                } else {
                    self.precise_success_at(admitted, self.clock.precise_raw());
                }
            }
            Outcome::Failure => self.closed_failure(admitted),
        }
    }

    /// A Precise success of a call admitted under `admitted`, at the raw
    /// clock reading `raw`.
    #[inline(always)]
    fn precise_success_at(&self, admitted: u64, raw: u64) {
        let Some((era, consecutive)) = self.current_success(admitted) else {
            return;
        };
        let t = self.clock.since_origin_wrapping(raw);
        let bucket = self.clock.bucket();
        if !self
            .window
            .record_in_hinted_bucket(t, bucket, era as u8, Outcome::Success)
        {
            self.success_off_the_hint(raw, era);
        }
        self.reset_consecutive(era, consecutive);
    }

    /// A failure of a call admitted under the CLOSED word `admitted`: if it
    /// is still current, count it, then R1 and R2.
    #[inline(never)]
    fn closed_failure(&self, admitted: u64) {
        let bits = self.core.word.load(Ordering::Acquire);
        if bits != admitted {
            // R9: a transition happened since admission: stale, totals only.
            self.window.count_total(Outcome::Failure);
            return;
        }
        let epoch = self.clock.epoch();
        if let Some(failures) = self.note_failure(Word::era_of_bits(bits), epoch) {
            self.evaluate_trip(Word::unpack(bits), failures, epoch);
        }
    }

    /// R1 then R2, after a current failure brought the count to `failures`.
    ///
    /// R2 sums the window only when the scan budget (see [`crate::budget`])
    /// does not already show that it cannot trip; a scan that does not trip
    /// grants a budget to the failures after it.
    #[cold]
    fn evaluate_trip(&self, w: Word, failures: u64, epoch: u64) {
        let c = &self.config;
        let trip = if let Some(trip) =
            policy::consecutive_trips(failures, c.consecutive_failure_threshold)
        {
            trip
        } else {
            // A failure whose epoch is behind the newest bucket counted (its
            // clock reading lags another thread's at a bucket boundary, or
            // the clock went back) may see a window that a newer bucket has
            // shrunk, by recycling the slot of one of this failure's buckets.
            // The budget's premise (a bucket's counts only grow) does not
            // hold for it: it takes its share of any grant, as every failure
            // must, then scans anyway, and grants nothing.
            let behind = self.window.newest_epoch() > epoch;
            let claim = match self.failures.budget.take(epoch, w.era as u8) {
                Take::Skip if !behind => return,
                Take::Skip | Take::ScanOnly => None,
                Take::Scan(claim) => (!behind).then_some(claim),
            };
            let counts = self.window.counts(epoch, w.era as u8);
            match policy::error_rate_trips(
                counts.failures,
                counts.calls(),
                c.min_calls_for_error_rate,
                c.error_threshold_percentage,
            ) {
                Some(trip) => trip,
                None => {
                    // Grant only while still in the generation the scan
                    // counted for.
                    if let Some(claim) = claim {
                        if self.core.word.load(Ordering::Acquire) == w.pack() {
                            self.failures.budget.grant(
                                claim,
                                epoch,
                                counts.failures,
                                counts.calls(),
                                c.error_threshold_percentage,
                            );
                        }
                    }
                    return;
                }
            }
        };
        // One CAS from exactly the CLOSED generation the failure belongs
        // to: a racing failure or a stale one cannot trip twice (R10).
        // The OPEN word carries its generation, not the era: publish the
        // era first (see `# Orderings`). `closed_gen` is this CLOSED
        // state's generation unless the state is over, and then the CAS
        // fails.
        self.trip(w, trip);
    }

    /// CLOSED `w` → OPEN for `trip`, by one CAS from exactly that CLOSED
    /// generation (R10): a racing or stale trip's CAS fails.
    fn trip(&self, w: Word, trip: policy::Trip) {
        publish_forward(&self.core.era, w.era);
        let gen = self.core.closed_gen.load(Ordering::Acquire) + 1;
        if self.config.backoff.is_some() {
            publish_forward(&self.core.trip_gen, gen);
        }
        let _ = self.transition(w, Word::open(gen), gen, trip.into());
    }

    /// R9 for a success admitted under the CLOSED word `admitted`: its era
    /// and the consecutive word if it is still current, else `None` after
    /// counting it in the totals only. The consecutive word is loaded here,
    /// before the window write, so that its load is not queued behind that
    /// write's locked instruction.
    #[inline(always)]
    fn current_success(&self, admitted: u64) -> Option<(u64, u64)> {
        let bits = self.core.word.load(Ordering::Acquire);
        let consecutive = self.failures.consecutive.load(Ordering::Relaxed);
        if bits != admitted {
            // R9: a transition happened since admission: totals only.
            self.window.count_total(Outcome::Success);
            return None;
        }
        Some((Word::era_of_bits(bits), consecutive))
    }

    /// A Recent success whose epoch cell was not the hinted slot's bucket:
    /// no upkeep runs, a bucket just began, a user's clock, or a slot to
    /// roll. Reads the time and records it the long way.
    #[cold]
    #[inline(never)]
    fn success_off_the_cell(&self, era: u64) {
        let ticks = self.clock.ticks();
        self.window
            .record_at(ticks, self.clock.bucket(), era as u8, Outcome::Success);
    }

    /// A Precise success whose reading `raw` was not in the hinted bucket
    /// (or its slot not in step): a bucket just began, a slot to roll, or a
    /// reading behind the origin, which counts at the origin.
    #[cold]
    #[inline(never)]
    fn success_off_the_hint(&self, raw: u64, era: u64) {
        self.window.record_at(
            self.clock.since_origin(raw),
            self.clock.bucket(),
            era as u8,
            Outcome::Success,
        );
    }

    /// The success's reset of the consecutive-failure count (R1), from `cur`,
    /// the consecutive word [`current_success`](Self::current_success)
    /// loaded. A count of zero (no failure since the last reset) is the
    /// common case and costs a compare; the reset itself is out of line,
    /// so that the success path's registers do not carry it.
    #[inline(always)]
    fn reset_consecutive(&self, era: u64, cur: u64) {
        if cur > CONSEC_ERA_MASK {
            self.reset_consecutive_slow(consec_tag(era), cur);
        }
    }

    /// Resets a non-zero count `cur` for a success of the era labelled
    /// `tag`, unless a newer era owns the word.
    ///
    /// A failure may be counted between the success's load of the word and
    /// its CAS. The success cannot be ordered before that failure: the
    /// failure counted on top of the run the success was to end, and judged
    /// R1 on that count. So it is ordered after it, at the CAS that resets
    /// the count, and the count must still go to 0: the CAS is retried while
    /// the breaker is CLOSED in the era labelled `tag`, that is, still in the
    /// CLOSED period the success was admitted in (leaving CLOSED and coming
    /// back takes a new era). Once it has left (the racing failure tripped
    /// it, say), the success is stale (R9) and the count is left as the
    /// transition left it; so is a probe's success (HALF_OPEN), which makes
    /// one attempt: R1 counts in CLOSED, and closing clears the count. (This
    /// was one attempt for every success, which left such a failure's count
    /// standing: a success between two failures then failed to break their
    /// run. Loom model `success_racing_a_failure_still_ends_the_run`.)
    ///
    /// `tag` is the era's label: labels are what the word keeps, and two
    /// CLOSED periods 65 536 closings apart cannot meet in this race.
    #[cold]
    #[inline(never)]
    fn reset_consecutive_slow(&self, tag: u64, mut cur: u64) {
        let c = &self.failures.consecutive;
        while cur > CONSEC_ERA_MASK && !consec_newer(cur, tag) {
            match c.compare_exchange(cur, tag, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
            // A failure raced in: retry only from the same CLOSED period.
            let bits = self.core.word.load(Ordering::Acquire);
            if !Word::is_closed(bits) || consec_tag(Word::era_of_bits(bits)) != tag {
                return;
            }
        }
    }

    /// Records a current failure of `era` in the window and the consecutive
    /// count. Returns the consecutive failures after it, or `None` if a newer
    /// era owns the count (the failure is stale).
    fn note_failure(&self, era: u64, epoch: u64) -> Option<u64> {
        self.window.record(epoch, era as u8, Outcome::Failure);
        let tag = consec_tag(era);
        let c = &self.failures.consecutive;
        let mut cur = c.load(Ordering::Relaxed);
        loop {
            let next = if cur & CONSEC_ERA_MASK == tag {
                consec_plus_one(cur)
            } else if consec_newer(cur, era) {
                return None; // a newer era: this verdict is stale
            } else {
                tag | CONSEC_ONE
            };
            match c.compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Some(consec_count(next)),
                Err(actual) => cur = actual,
            }
        }
    }

    /// A verdict on a probe admitted in the half-open period of generation
    /// `gen`.
    fn probe_verdict(&self, gen: u64, outcome: Outcome) {
        let max = self.config.half_open_max_calls;
        let mut w = self.load();
        loop {
            if !self.is_probe_of(w, gen) {
                self.window.count_total(outcome);
                return;
            }
            let era = self.core.era.load(Ordering::Acquire);
            let ticks = self.clock.ticks();
            let won = match outcome {
                Outcome::Failure => {
                    self.transition(w, Word::open(gen + 1), gen + 1, Reason::ProbeFailed)
                }
                Outcome::Success if policy::probes_close(w.successes + 1, max) => self.close(
                    w,
                    gen,
                    era,
                    Reason::ProbesSucceeded {
                        successes: w.successes + 1,
                    },
                ),
                Outcome::Success => self
                    .cas(
                        w,
                        Word {
                            inflight: w.inflight - 1,
                            successes: w.successes + 1,
                            ..w
                        },
                    )
                    .is_ok(),
            };
            if won {
                match outcome {
                    Outcome::Success => {
                        let cur = self.failures.consecutive.load(Ordering::Relaxed);
                        self.window
                            .record_at(ticks, self.clock.bucket(), era as u8, outcome);
                        self.reset_consecutive(era, cur);
                    }
                    Outcome::Failure => {
                        let _ = self.note_failure(era, self.clock.bucket().div(ticks));
                    }
                }
                return;
            }
            w = self.load();
        }
    }

    /// `w` is the half-open period of generation `gen` with a probe out:
    /// its 22 bits match, and so does `period` whole (a probe of a period
    /// 2^22 transitions earlier matches the bits alone).
    #[inline]
    fn is_probe_of(&self, w: Word, gen: u64) -> bool {
        w.state == State::HalfOpen
            && w.gen == short_gen(gen)
            && w.inflight > 0
            && self.core.period.load(Ordering::Acquire) == gen
    }

    /// HALF_OPEN `w`, of generation `gen`, → CLOSED in era `era + 1`
    /// (R6, R8), publishing the new state's generation first.
    fn close(&self, w: Word, gen: u64, era: u64, reason: Reason) -> bool {
        publish_forward(&self.core.closed_gen, gen + 1);
        self.transition(w, Word::closed(era + 1), gen + 1, reason)
    }

    /// An `Ignored` verdict: frees the probe slot (if still current) and
    /// counts in the ignored total only.
    #[inline]
    pub(crate) fn ignore(&self, ticket: u64, probe: bool) {
        self.release(ticket, probe);
        self.window.count_ignored();
    }

    /// A permit's verdict given as a public [`Outcome`](crate::Outcome).
    /// An explicit `Ignored` is never slow: the caller chose it.
    #[inline]
    pub(crate) fn report(&self, ticket: u64, meta: u64, outcome: crate::Outcome) {
        match outcome {
            crate::Outcome::Success => self.permit_verdict(ticket, meta, Outcome::Success),
            crate::Outcome::Failure => self.permit_verdict(ticket, meta, Outcome::Failure),
            crate::Outcome::Ignored => self.ignore(ticket, meta == PROBE),
        }
    }

    /// A permit dropped without a verdict, or a `call_async` future dropped
    /// before it finished: counts as the configured `abandoned` outcome.
    #[inline]
    pub(crate) fn abandon(&self, ticket: u64, meta: u64) {
        match self.config.abandoned {
            crate::Outcome::Ignored if meta & !PROBE == 0 => self.ignore(ticket, meta == PROBE),
            outcome => self.abandon_as(ticket, meta, outcome),
        }
    }

    /// An abandoned call counted as a success or a failure, or a timed one
    /// (which may have been slow).
    #[cold]
    #[inline(never)]
    fn abandon_as(&self, ticket: u64, meta: u64, outcome: crate::Outcome) {
        match (outcome, meta) {
            (crate::Outcome::Ignored, UNTIMED | PROBE) => self.ignore(ticket, meta == PROBE),
            (crate::Outcome::Ignored, _) => self.timed_verdict(ticket, admitted_at(meta), None),
            _ => self.report(ticket, meta, outcome),
        }
    }

    /// Frees a probe slot (if still current). Counts nothing.
    pub(crate) fn release(&self, ticket: u64, probe: bool) {
        if !probe {
            return;
        }
        let mut w = self.load();
        while self.is_probe_of(w, ticket) {
            let to = Word {
                inflight: w.inflight - 1,
                ..w
            };
            match self.cas(w, to) {
                Ok(()) => return,
                Err(actual) => w = actual,
            }
        }
    }

    // ---- transitions -----------------------------------------------------

    #[inline]
    pub(crate) fn load(&self) -> Word {
        Word::unpack(self.core.word.load(Ordering::Acquire))
    }

    #[inline]
    fn cas(&self, from: Word, to: Word) -> Result<(), Word> {
        self.core
            .word
            .compare_exchange(from.pack(), to.pack(), Ordering::AcqRel, Ordering::Acquire)
            .map(drop)
            .map_err(Word::unpack)
    }

    /// The whole generation of state `w`, or `None` if `w` is a HALF_OPEN
    /// word that is already stale (`period` has moved on). For a CLOSED `w`
    /// this is `closed_gen`, which callers validate with the word (a CAS, or
    /// [`is_current`](Self::is_current) after it).
    #[inline]
    fn gen_of(&self, w: Word) -> Option<u64> {
        match w.state {
            State::Open => Some(w.gen),
            State::HalfOpen => {
                let gen = self.core.period.load(Ordering::Acquire);
                (short_gen(gen) == w.gen).then_some(gen)
            }
            State::Closed => Some(self.core.closed_gen.load(Ordering::Acquire)),
        }
    }

    /// The generation of the current state.
    #[cfg(any(test, fusebox_loom))]
    pub(crate) fn generation(&self) -> u64 {
        loop {
            let w = self.load();
            if let Some(gen) = self.gen_of(w) {
                if self.is_current(w) {
                    return gen;
                }
            }
        }
    }

    /// Makes `from → to` with one CAS, `to` being generation `gen`. The
    /// winner alone stamps the new state, sweeps the window into a new era,
    /// logs and calls the listener (R10).
    fn transition(&self, from: Word, to: Word, gen: u64, reason: Reason) -> bool {
        if self.cas(from, to).is_err() {
            return false;
        }
        let _ = self.stamp_for(to, gen);
        match to.state {
            State::Closed => self.sweep(to.era),
            // Counts owed to an earlier period go with it.
            State::HalfOpen => self.unticketed_update(gen, 0),
            State::Open => {}
        }
        let change = StateChange {
            name: &self.name,
            from: from.state,
            to: to.state,
            reason,
            generation: gen,
        };
        emit(&change, self.config.listener.as_ref());
        true
    }

    /// Time spent in `w`'s state at `now`; `None` if `w` is stale (the state
    /// word has moved on since it was loaded: reload and retry).
    fn elapsed(&self, w: Word, now: u64) -> Option<u64> {
        let gen = self.gen_of(w)?;
        let stamp = self.stamp_for(w, gen)?;
        Some(now.saturating_sub(self.since_of(stamp, now)))
    }

    /// The whole time of `stamp`, the current state's: `since`, or while
    /// the stamp's writer has not written that yet, the time nearest `now`
    /// with the stamp's low bits, which this thread then helps write.
    #[inline]
    fn since_of(&self, stamp: Stamp, now: u64) -> u64 {
        let since = self.core.since.load(Ordering::Acquire);
        if stamp.matches(since) {
            return since;
        }
        self.help_since(stamp, since, now)
    }

    #[cold]
    #[inline(never)]
    fn help_since(&self, stamp: Stamp, since: u64, now: u64) -> u64 {
        let at = stamp.whole_time(now);
        // Expects the value that did not match: a newer state's writer has
        // changed it, and then this fails.
        let _ = self
            .core
            .since
            .compare_exchange(since, at, Ordering::AcqRel, Ordering::Relaxed);
        at
    }

    /// The stamp of `w`'s state (generation `gen`), or `None` if `w` is
    /// stale.
    ///
    /// The stamp carries only 6 bits of generation. A stamp whose bits match
    /// `gen` is returned as is: it is `w`'s unless `w` is stale by a
    /// multiple of 64 generations, and every caller either acts on it by a
    /// CAS from `w` (which fails if `w` is stale) or, before refusing a
    /// request on it, checks with [`is_current`](Self::is_current) that the
    /// word is still in `w`'s state.
    ///
    /// If the bits do not match, either `w` is stale or its state has not
    /// been stamped yet (the winner has not got there). The word is loaded
    /// again: if it has moved on, `None`; if not, this thread writes
    /// `(gen, now)`, with `now` read *after* that load, so a stamp is never
    /// earlier than the transition it stamps and a state can end late by a
    /// clock read, never early (by the breaker's clock: `Recent` time itself
    /// lags real time by up to one upkeep interval). The CAS expects the
    /// stamp loaded before the reload, so a thread stalled here while the
    /// breaker moves on fails its CAS instead of writing an old generation
    /// over a newer stamp. (The protocol this replaces wrote whenever a 6-bit
    /// "is it older" test said so; that test aliases after 32 transitions, a
    /// stalled thread wrote its old generation over the current stamp, and
    /// every later reader took its fresh word for a stale one and spun. Loom
    /// model `stamp::stalled_query_vs_three_transitions`.) The winner then
    /// writes the whole time to `since` (see `# Orderings`).
    #[inline]
    fn stamp_for(&self, w: Word, gen: u64) -> Option<Stamp> {
        let cur = Stamp::unpack(self.core.stamp.load(Ordering::Acquire));
        if cur.belongs_to(gen) {
            return Some(cur);
        }
        self.stamp_slow(w, gen, cur)
    }

    /// `stamp_for` when the stamp's bits do not match `gen`: check that
    /// `w` is current, then write, helping (see `stamp_for`).
    #[cold]
    #[inline(never)]
    fn stamp_slow(&self, w: Word, gen: u64, mut cur: Stamp) -> Option<Stamp> {
        let stamp = &self.core.stamp;
        loop {
            if cur.belongs_to(gen) {
                return Some(cur);
            }
            let since = self.core.since.load(Ordering::Acquire);
            if !self.is_current(w) {
                return None;
            }
            let at = self.clock.now();
            let next = Stamp::new(gen, at);
            match stamp.compare_exchange(
                cur.pack(),
                next.pack(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.write_since(next, since, at);
                    return Some(next);
                }
                Err(actual) => cur = Stamp::unpack(actual),
            }
        }
    }

    /// The stamp `stamp` just written: `since` becomes its whole time `at`.
    /// The first CAS expects `since` as loaded before this thread's
    /// currency check, so a thread that stalled after writing its stamp
    /// cannot overwrite a newer state's time; while the stamp is still its
    /// own, it retries over whatever else got there.
    fn write_since(&self, stamp: Stamp, mut since: u64, at: u64) {
        let cell = &self.core.since;
        loop {
            match cell.compare_exchange(since, at, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(actual) if actual == at => return,
                Err(actual) => {
                    if self.core.stamp.load(Ordering::Acquire) != stamp.pack() {
                        return;
                    }
                    since = actual;
                }
            }
        }
    }

    /// The state word is still in `w`'s state (same era, generation or
    /// short generation). Called after loading the stamp (`Acquire`): a
    /// stamp of generation `g` is only written by a thread that saw the word
    /// at `g`, so this load sees at least the generation of any stamp
    /// already read, and a 6-bit match plus a word still in `w`'s state
    /// means the stamp is `w`'s (stamps lag the word by at most the three
    /// generations of one cycle: every OPEN state is stamped before it can
    /// end).
    #[inline]
    fn is_current(&self, w: Word) -> bool {
        self.load().same_state(w)
    }

    /// The stamp and its time belong to the current state (loom models
    /// check this once every thread has finished).
    #[cfg(fusebox_loom)]
    pub(crate) fn stamp_is_current(&self) -> bool {
        let stamp = Stamp::unpack(self.core.stamp.load(Ordering::Acquire));
        stamp.belongs_to(self.generation())
            && stamp.matches(self.core.since.load(Ordering::Acquire))
    }

    /// The era of state `w`.
    #[inline]
    fn era_of(&self, w: Word) -> u64 {
        match w.state {
            State::Closed => w.era,
            State::HalfOpen | State::Open => self.core.era.load(Ordering::Acquire),
        }
    }

    /// After closing into `era`: rolls every window slot and the consecutive
    /// word into it, so that old labels cannot alias later eras.
    #[cold]
    fn sweep(&self, era: u64) {
        self.window.sweep(era as u8);
        if let Some(slow) = &self.slow {
            slow.sweep(era as u8);
        }
        self.failures.budget.revoke();
        let tag = consec_tag(era);
        let mut cur = self.failures.consecutive.load(Ordering::Relaxed);
        while cur & CONSEC_ERA_MASK != tag && !consec_newer(cur, era) {
            match self.failures.consecutive.compare_exchange_weak(
                cur,
                tag,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// R8: if HALF_OPEN `w` has outlived `reset_timeout`, resolves it and
    /// returns the new word; `None` if it has not. Also returns the new word
    /// if `w` turned out to be stale.
    fn resolve_reset_timeout(&self, w: Word, now: u64) -> Option<Word> {
        match self.elapsed(w, now) {
            None => return Some(self.load()),
            Some(elapsed) if elapsed < self.config.reset_nanos => return None,
            Some(_) => {}
        }
        let Some(gen) = self.gen_of(w) else {
            return Some(self.load());
        };
        let reason = Reason::ResetTimeout {
            successes: w.successes,
        };
        if policy::reset_timeout_closes(w.successes) {
            let era = self.core.era.load(Ordering::Acquire);
            self.close(w, gen, era, reason);
        } else {
            self.transition(w, Word::open(gen + 1), gen + 1, reason);
        }
        Some(self.load())
    }

    /// Makes every transition that has fallen due with time and returns the
    /// resulting word (used by `state()` and `snapshot()`).
    fn settle(&self, mut w: Word, now: u64) -> Word {
        loop {
            match w.state {
                State::Closed => return w,
                State::Open => {
                    match self.elapsed(w, now) {
                        None => {
                            w = self.load();
                            continue;
                        }
                        Some(elapsed) if elapsed < self.open_nanos_of(w.gen) => {
                            if self.is_current(w) {
                                return w;
                            }
                            w = self.load();
                            continue;
                        }
                        Some(_) => {}
                    }
                    self.enter_half_open(w, 0);
                    w = self.load();
                }
                State::HalfOpen => match self.resolve_reset_timeout(w, now) {
                    Some(next) => w = next,
                    None => return w,
                },
            }
        }
    }

    // ---- observation -----------------------------------------------------

    /// A picture of the breaker for dashboards and metrics: the state (after
    /// any transition due with time), the monitoring window's figures and
    /// the exact totals; see [`Snapshot`]. It costs a pass over the window's
    /// counters (hundreds of atomic loads at the defaults), so take it for
    /// observation, not on every call.
    pub fn snapshot(&self) -> Snapshot {
        let (now, epoch) = self.clock.now_and_epoch();
        let (w, elapsed) = loop {
            let w = self.settle(self.load(), now);
            if let Some(elapsed) = self.elapsed(w, now) {
                break (w, elapsed);
            }
        };
        let era = self.era_of(w);
        let counts = self.window.counts(epoch, era as u8);
        let consec = self.failures.consecutive.load(Ordering::Relaxed);
        let consecutive_failures = if consec & CONSEC_ERA_MASK == consec_tag(era) {
            consec_count(consec)
        } else {
            0
        };
        let totals = self.window.totals();
        let (slow_calls, slow_rate) = match &self.slow {
            Some(slow) => {
                let s = slow.counts(epoch, era as u8);
                (
                    s.calls(),
                    policy::error_rate(s.calls(), counts.calls() + s.failures),
                )
            }
            None => (0, 0.0),
        };
        Snapshot {
            name: self.name.to_string(),
            state: w.state,
            error_rate: policy::error_rate(counts.failures, counts.calls()),
            recent_calls: counts.calls(),
            consecutive_failures,
            total_calls: totals.successes + totals.failures,
            total_successes: totals.successes,
            total_failures: totals.failures,
            total_rejected: totals.rejected,
            total_ignored: totals.ignored,
            slow_call_rate: slow_rate,
            recent_slow_calls: slow_calls,
            state_duration: Duration::from_nanos(elapsed),
            open_remaining: (w.state == State::Open)
                .then(|| Duration::from_nanos(self.open_nanos_of(w.gen).saturating_sub(elapsed))),
            half_open_calls: if w.state == State::HalfOpen {
                w.inflight
            } else {
                0
            },
            half_open_max_calls: self.config.half_open_max_calls,
        }
    }
}

/// The consecutive word belongs to an era later than `era`.
#[inline]
fn consec_newer(word: u64, era: u64) -> bool {
    let tag = word as u16;
    (tag.wrapping_sub(era as u16) as i16) > 0
}

#[cfg(all(test, not(fusebox_loom)))]
mod tests {
    use super::*;

    #[test]
    fn consecutive_words_count_under_their_era_label() {
        for era in [0, 1, 0xFFFF, 0x1_0005, crate::state::COUNTER_MASK] {
            let zero = consec_tag(era);
            assert_eq!(consec_count(zero), 0);
            assert!(zero <= CONSEC_ERA_MASK, "a zero count is never reset");
            let three = consec_plus_one(consec_plus_one(zero | CONSEC_ONE));
            assert_eq!(consec_count(three), 3);
            assert!(three > CONSEC_ERA_MASK, "a non-zero count is reset");
            assert_eq!(three & CONSEC_ERA_MASK, zero, "the label is kept");
            let full = zero | (u64::MAX << CONSEC_COUNT_SHIFT);
            assert_eq!(consec_plus_one(full), full, "the count saturates");
            assert!(consec_newer(consec_tag(era + 1) | CONSEC_ONE, era));
            assert!(!consec_newer(three, era));
            assert!(!consec_newer(zero, era + 1));
        }
    }

    /// A 10 s window of ten 1 s buckets, thresholds out of reach: the
    /// window tests count successes without tripping.
    fn ten_one_second_buckets(name: &str) -> crate::Builder {
        CircuitBreaker::builder(name)
            .monitoring_window(Duration::from_secs(10))
            .window_buckets(10)
            .min_calls_for_error_rate(1_000)
            .consecutive_failure_threshold(1_000)
    }

    /// `Recent` on the default clock, with the process's ticker ticked by
    /// hand: the epoch cell a success reads and the epoch every other path
    /// computes from the tick agree at every tick, successes in step with
    /// the hint take the cell's fast path, and the window follows the ticks.
    #[test]
    #[cfg(not(miri))] // miri cannot read the TSC
    fn recent_successes_count_on_the_upkeeps_grid() {
        const S: u64 = 1_000_000_000;
        let ticks = crate::upkeep::tests::HandTicks::claim();
        let cb = ten_one_second_buckets("grid")
            .clock_mode(crate::ClockMode::Recent)
            .build()
            .unwrap();
        let ok = || cb.call(|| Ok::<(), ()>(())).unwrap();
        let tick = |nanos: u64| {
            ticks.tick(nanos);
            assert_eq!(
                cb.clock.current_epoch(),
                crate::window::epoch_word(cb.clock.epoch()),
                "the cell and the tick disagree at {nanos}"
            );
        };
        let era = cb.load().era as u8;
        tick(100 * S); // on bucket boundaries: a grid off by any origin fails
        ok(); // the bucket's first success rolls its slot and moves the hint
        assert!(
            cb.window
                .record_current(cb.clock.current_epoch(), era, Outcome::Success),
            "in step with the hint: the fast path counts"
        );
        assert!(
            !cb.window
                .record_current(crate::upkeep::NO_EPOCH, era, Outcome::Success),
            "no upkeep: the fast path refuses"
        );
        ok();
        assert_eq!(cb.snapshot().recent_calls, 3);
        let before = cb.clock.current_epoch();
        tick(105 * S);
        // The hint still picks bucket 100's slot: a tag that is not the
        // cell's bucket refuses, and the stale cell's bucket still counts.
        assert!(
            !cb.window
                .record_current(cb.clock.current_epoch(), era, Outcome::Success),
            "the cell moved on: the hinted slot holds an older bucket"
        );
        assert!(
            cb.window.record_current(before, era, Outcome::Success),
            "a cell read before the tick counts in the bucket it names"
        );
        assert!(
            !cb.window
                .record_current(before, era.wrapping_add(1), Outcome::Success),
            "another era's verdict does not match the tag"
        );
        ok();
        let _ = cb.call(|| Err::<(), ()>(()));
        ok();
        let s = cb.snapshot();
        assert_eq!(s.recent_calls, 7);
        assert!(
            (s.error_rate - 100.0 / 7.0).abs() < 1e-9,
            "{}",
            s.error_rate
        );
        tick(110 * S); // epochs 101..=110: the first bucket has left
        assert_eq!(cb.snapshot().recent_calls, 3);
        ok();
        tick(116 * S - 1); // 106..=115: only the last call is left
        let s = cb.snapshot();
        assert_eq!((s.recent_calls, s.error_rate), (1, 0.0));
        assert_eq!((s.total_successes, s.total_failures), (7, 1));
    }

    /// A Precise success whose reading is behind the breaker's origin (a
    /// counter that skews, here a mock moved back) wraps on the fast path,
    /// which refuses it, and counts at the origin through the slow path:
    /// in the window's first bucket, with nothing lost.
    #[test]
    fn precise_success_behind_the_origin_counts_at_the_origin() {
        const S: u64 = 1_000_000_000;
        let (clock, mock) = quanta::Clock::mock();
        mock.increment(100 * S);
        let cb = ten_one_second_buckets("skew").clock(clock).build().unwrap();
        let ok = || cb.call(|| Ok::<(), ()>(())).unwrap();
        ok(); // at the origin: bucket 0, and the hint points at it
        mock.decrement(5 * S);
        ok(); // 5 s behind the origin: counted at the origin
        ok();
        mock.increment(5 * S + S / 2);
        ok(); // 0.5 s after the origin: still bucket 0, the fast path
        let s = cb.snapshot();
        assert_eq!((s.recent_calls, s.total_successes), (4, 4));
        mock.increment(10 * S);
        assert_eq!(
            cb.snapshot().recent_calls,
            0,
            "bucket 0 has left the window"
        );
    }

    /// A `Recent` breaker on the default clock built when the process's
    /// time base is already 5 s old: its first CLOSED period is timed from
    /// its creation, not from the time base.
    #[test]
    #[cfg(not(miri))] // miri cannot read the TSC
    fn a_recent_breakers_first_state_is_timed_from_its_creation() {
        const S: u64 = 1_000_000_000;
        let ticks = crate::upkeep::tests::HandTicks::claim();
        ticks.tick(5 * S);
        let cb = CircuitBreaker::builder("late")
            .clock_mode(crate::ClockMode::Recent)
            .build()
            .unwrap();
        assert_eq!(cb.snapshot().state_duration, Duration::ZERO);
        ticks.tick(5 * S + S / 4);
        assert_eq!(cb.snapshot().state_duration, Duration::from_millis(250));
    }

    /// A breaker with `probes` half-open slots, tripped, its
    /// `open_duration` elapsed: the next request opens a half-open period.
    fn tripped_and_due(probes: u32) -> CircuitBreaker {
        let (clock, mock) = quanta::Clock::mock();
        let cb = CircuitBreaker::builder("unticketed")
            .consecutive_failure_threshold(1)
            .half_open_max_calls(probes)
            .clock(clock)
            .build()
            .unwrap();
        let _ = cb.call(|| Err::<(), ()>(()));
        mock.increment(crate::DEFAULT_OPEN_DURATION);
        cb
    }

    /// An unticketed admission whose half-open period ended before it
    /// recorded its slot (its thread stalled between the slot's CAS and
    /// the unticketed word) leaves a later period's owed slots alone.
    #[test]
    fn a_late_unticketed_admission_leaves_a_later_period_alone() {
        let cb = tripped_and_due(2);
        assert!(cb.allow_request(), "an unticketed probe of this period");
        let gen = cb.generation();
        assert_eq!(
            cb.core.unticketed.load(Ordering::Relaxed),
            unticketed_word(gen, 1)
        );
        // The stalled admission of a period two transitions back.
        cb.unticketed_admitted(gen - 2);
        assert_eq!(
            cb.core.unticketed.load(Ordering::Relaxed),
            unticketed_word(gen, 1)
        );
        cb.on_success(); // still owed: a probe success
        let s = cb.snapshot();
        assert_eq!((s.state, s.half_open_calls), (State::HalfOpen, 0));
        assert_eq!(
            cb.core.unticketed.load(Ordering::Relaxed),
            unticketed_word(gen, 0)
        );
        // Nor does one of any generation but the current period's, those
        // that share its 22 bits included.
        for other in [gen - 1, gen + 1, gen + 2, gen + (1 << 22)] {
            cb.unticketed_admitted(other);
            assert_eq!(
                cb.core.unticketed.load(Ordering::Relaxed),
                unticketed_word(gen, 0)
            );
        }
    }

    /// The unticketed word may hold a period of any age, with counts still owed
    /// (a breaker used through permits for a long time, or a reset lost to
    /// a stalled thread). Entering a new half-open period clears them, and
    /// its first unticketed admission counts.
    #[test]
    fn an_unticketed_word_of_any_age_yields_to_a_new_period() {
        for age in [1u64, 2, 1 << 20, (1 << 22) - 1, 1 << 22, (1 << 44) - 1] {
            let cb = tripped_and_due(1);
            // The period the next request opens, and an unticketed word left `age`
            // generations away from it, with counts owed.
            let gen = cb.generation() + 1;
            cb.core
                .unticketed
                .store(unticketed_word(gen.wrapping_sub(age), 5), Ordering::Relaxed);
            assert!(cb.allow_request(), "the R4 request, unticketed");
            assert_eq!(cb.generation(), gen);
            assert_eq!(
                cb.core.unticketed.load(Ordering::Relaxed),
                unticketed_word(gen, 1),
                "age {age}"
            );
            cb.on_success();
            assert_eq!(
                cb.state(),
                State::Closed,
                "age {age}: the probe's success closes"
            );
        }
    }

    /// Entering HALF_OPEN resets the unticketed word to the new period, so a
    /// count owed to an ended period never outlives it.
    #[test]
    fn entering_half_open_clears_an_ended_periods_counts() {
        let cb = tripped_and_due(1);
        cb.core
            .unticketed
            .store(unticketed_word(7, 3), Ordering::Relaxed);
        assert_eq!(cb.state(), State::HalfOpen);
        let gen = cb.generation();
        assert_eq!(
            cb.core.unticketed.load(Ordering::Relaxed),
            unticketed_word(gen, 0)
        );
        cb.on_failure(); // owed nothing: totals only
        assert_eq!(cb.state(), State::HalfOpen);
    }

    /// `since` written by a stamp's writer that stalled across a newer
    /// state's stamp is refused, and a reader that meets a `since` not yet
    /// written for its stamp finds the writer's time and writes it.
    #[test]
    fn since_follows_its_stamp() {
        let (clock, mock) = quanta::Clock::mock();
        let cb = CircuitBreaker::builder("since")
            .consecutive_failure_threshold(1)
            .clock(clock)
            .build()
            .unwrap();
        mock.increment(Duration::from_secs(10));
        let _ = cb.call(|| Err::<(), ()>(()));
        let w = cb.load();
        let stamp = Stamp::unpack(cb.core.stamp.load(Ordering::Relaxed));
        let at = cb.core.since.load(Ordering::Relaxed);
        assert!(stamp.matches(at));
        // A stalled writer of an older state, expecting an older value.
        cb.write_since(Stamp::new(0, 1), at - 1, 1);
        assert_eq!(cb.core.since.load(Ordering::Relaxed), at);
        // A `since` the writer has not written yet.
        cb.core.since.store(at - 5, Ordering::Relaxed);
        mock.increment(Duration::from_secs(2));
        assert_eq!(cb.elapsed(w, cb.clock.now()), Some(2_000_000_000));
        assert_eq!(cb.core.since.load(Ordering::Relaxed), at);
    }

    #[test]
    fn breaker_is_send_sync_and_small() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<CircuitBreaker>();
        let cb = CircuitBreaker::builder("m").stripes(2).build().unwrap();
        assert!(cb.memory_bytes() <= 4096, "{}", cb.memory_bytes());
    }
}
