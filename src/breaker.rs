//! `CircuitBreaker`: admission, verdicts, transitions and snapshots.
//!
//! Everything a breaker does is a load of the state word, a decision, and a
//! CAS. "What happens on a failure" is [`CircuitBreaker::closed_verdict`].
//!
//! # Orderings
//!
//! * `word` (the packed [`Word`]) is written only by CAS. Transitions use
//!   `AcqRel` so the winner sees everything before the state it replaced and
//!   publishes its own writes (the new era) to whoever loads the new state
//!   with `Acquire`. Probe-count CASes in HALF_OPEN use the same orderings.
//! * `stamp` ([`Stamp`]: when the current state began) is written after the
//!   transition by the winner, or by the first reader that finds it still
//!   tagged with another generation (helping: no thread waits for another).
//!   It keeps only 6 bits of generation. A writer loads the stamp
//!   (`Acquire`), then the word, and writes only if the word is still at its
//!   generation; its CAS expects the stamp it loaded before that check, so a
//!   stalled thread cannot write an old generation over a newer state's
//!   stamp. A request is refused on a stamp only after the same reload shows
//!   the word unchanged, so a 6-bit match is exact there. Stamps are written
//!   by `AcqRel` CAS. See `stamp_for` and `is_current`.
//! * The *era* counts closings; it labels window buckets and the
//!   consecutive-failure word so that closing clears both (R6). CLOSED and
//!   OPEN words carry it; while HALF_OPEN it lives in `era`, which every
//!   contender for OPEN → HALF_OPEN publishes (a forward-only CAS, `AcqRel`)
//!   *before* its transition CAS, so a thread that loads a HALF_OPEN word
//!   with `Acquire` and then `era` sees that half-open period's era. The
//!   thread that closes the breaker sweeps the window and the consecutive
//!   word into the new era, so no stale label survives to alias a later one.
//! * `consecutive` (`count (48) | era_low (16)`) is changed by CAS; a success
//!   writes it only when its count is non-zero (the word above `0xFFFF`), so
//!   healthy traffic only reads it.
//!   `Relaxed` suffices: it feeds a decision that is re-validated by the CAS
//!   on `word`.
//! * `budget` (the R2 scan budget, on the same line as `consecutive`) is
//!   written by `AcqRel` CAS by every failure that checks R2, after its
//!   window record, so a failure that sums the window sees every earlier
//!   failure's record; see [`crate::budget`] for its protocol and orderings.
//! * `seed` (`generation (22) | count (42)`) counts the probe slots that
//!   seed-style [`allow_request`](CircuitBreaker::allow_request)s took in
//!   one HALF_OPEN generation, so that a seed-style verdict in HALF_OPEN
//!   counts as a probe's only if a seed-style admission of that period is
//!   still owed one; any other (a call admitted while CLOSED, say) is
//!   stale (R9) and must not free a slot a permit holds (R5). An admission
//!   adds one after its slot CAS (`AcqRel` CAS; when the word holds
//!   another generation, it resets the count to its own if the state word
//!   is still at its generation, and otherwise records nothing); a
//!   verdict takes one (`AcqRel` CAS) before its probe CAS, which then
//!   re-checks the generation as a permit's verdict does. The admission
//!   happens-before its own verdict (program order, or whatever
//!   synchronisation hands the verdict to another thread), so a verdict
//!   always finds its own admission's count; the word only matches
//!   counts to generations, and every decision it feeds is re-validated by
//!   the CAS on `word`. Counts owed to a period that ended stay in the word
//!   until the next period's first seed-style admission resets it; if the
//!   22-bit generation wraps back to that period's value first (2^22
//!   transitions with no seed-style admission in a half-open period), a
//!   stale seed-style verdict can spend one of them there.
//!
//! A verdict is *current* if the state word still carries the generation its
//! permit was admitted in when the verdict is applied; only current verdicts
//! touch the window, the consecutive count or the state (R9). Every verdict
//! reaches the totals (R11).

use std::sync::Arc as StdArc;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::budget::{ScanBudget, Take};
use crate::clock::BreakerClock;
use crate::config::{Builder, Config};
use crate::error::{Name, Refusal, Rejected};
use crate::events::{emit, Reason, StateChange};
use crate::permit::Permit;
use crate::policy;
use crate::snapshot::Snapshot;
use crate::state::{Stamp, State, Word, ERA_MASK};
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
    /// The era while HALF_OPEN (see `# Orderings`).
    era: AtomicU64,
    /// Seed-style probe slots of one HALF_OPEN generation (see
    /// `# Orderings`).
    seed: AtomicU64,
}

/// The `seed` word: the generation above, the count below.
const SEED_GEN_SHIFT: u32 = 42;
const SEED_COUNT_MASK: u64 = (1 << SEED_GEN_SHIFT) - 1;

#[inline]
fn seed_word(gen: u32, count: u64) -> u64 {
    (u64::from(gen) << SEED_GEN_SHIFT) | count
}

/// A lock-free circuit breaker. Share it by reference or in an `Arc`.
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
    clock: BreakerClock,
    name: StdArc<str>,
    /// The name as a `Rejected` carries it, built once.
    reject_name: Name,
    config: Config,
}

impl std::fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.name)
            .field("word", &self.load())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl CircuitBreaker {
    /// A builder with every setting at its default (SPEC §2).
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
                era: AtomicU64::new(0),
                seed: AtomicU64::new(0),
            }),
            failures: CachePadded::new(FailureWords {
                consecutive: AtomicU64::new(0),
                budget: ScanBudget::new(),
            }),
            window,
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
    /// (R4: OPEN → HALF_OPEN; R8: resolving HALF_OPEN) before answering.
    pub fn state(&self) -> State {
        let w = self.load();
        if w.state == State::Closed {
            return State::Closed;
        }
        self.settle(w, self.clock.now()).state
    }

    /// Approximate bytes this breaker owns: the struct plus its window.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.window.heap_bytes() + self.name.len()
    }

    // ---- admission -------------------------------------------------------

    /// Asks to make one call. `Ok` carries a [`Permit`] to report the
    /// outcome with; `Err` says why not and when to retry.
    ///
    /// In CLOSED this is a single load. In OPEN it reads the clock and, once
    /// `open_duration` has elapsed, moves to HALF_OPEN and admits this
    /// request as the first probe (R4). In HALF_OPEN it takes one of
    /// `half_open_max_calls` probe slots, or refuses (R5).
    ///
    /// # Errors
    ///
    /// [`Rejected`] when OPEN, or HALF_OPEN with every probe slot taken.
    #[inline(always)]
    pub fn try_acquire(&self) -> Result<Permit<'_>, Rejected> {
        match self.admit() {
            Ok(permit) => Ok(permit),
            Err(refusal) => Err(self.rejected(refusal)),
        }
    }

    /// The public error for `refusal`: this breaker's name attached.
    #[inline(always)]
    pub(crate) fn rejected(&self, refusal: Refusal) -> Rejected {
        refusal.named(self.reject_name.clone())
    }

    /// Admission with the CLOSED case inlined into the caller (one load, no
    /// clock) and everything else out of line.
    #[inline(always)]
    pub(crate) fn admit(&self) -> Result<Permit<'_>, Refusal> {
        let bits = self.core.word.load(Ordering::Acquire);
        if Word::is_closed(bits) {
            return Ok(Permit::new(self, bits, false));
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

    /// The common OPEN case, inline: the stamp is current and
    /// `open_duration` has not elapsed. `None` sends the caller to the slow
    /// path (stamp to help write, R4 due, or a stale word).
    ///
    /// The stamp's generation and its elapsed time are checked in one
    /// subtraction ([`Stamp::span`]): a span below `open_span` (at most
    /// [`STAMP_SPAN_LIMIT`](crate::state::STAMP_SPAN_LIMIT)) is a stamp of this word's 6 generation bits,
    /// `span` nanoseconds old, exactly what `stamp_for` and `elapsed` would
    /// have found.
    #[inline(always)]
    fn reject_if_still_open(&self, bits: u64) -> Option<Refusal> {
        let now = self.clock.now();
        let span = Stamp::span(self.core.stamp.load(Ordering::Acquire), bits, now);
        // The reload makes the 6-bit match exact (see `is_current`); in OPEN
        // the word changes only by a transition.
        if span >= self.config.open_span || self.core.word.load(Ordering::Acquire) != bits {
            return None;
        }
        self.count_rejection();
        Some(Refusal::open(self.config.open_nanos - span))
    }

    #[cold]
    #[inline(never)]
    fn acquire_slow(&self, w: Word) -> Result<Permit<'_>, Refusal> {
        let now = self.clock.now();
        let mut w = w;
        loop {
            match w.state {
                State::Closed => return Ok(Permit::new(self, w.pack(), false)),
                State::Open => {
                    let Some(elapsed) = self.elapsed(w, now) else {
                        w = self.load();
                        continue;
                    };
                    if elapsed < self.config.open_nanos {
                        if !self.is_current(w) {
                            w = self.load();
                            continue;
                        }
                        let left = self.config.open_nanos - elapsed;
                        self.count_rejection();
                        return Err(Refusal::open(left));
                    }
                    // R4: this request moves the breaker and is its first probe.
                    let to = Word {
                        inflight: 1,
                        ..w.enter(State::HalfOpen, 0)
                    };
                    self.publish_era(w.era);
                    if self.transition(w, to, Reason::OpenDurationElapsed) {
                        return Ok(Permit::new(self, u64::from(to.gen), true));
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
                        return Err(Refusal::half_open(self.config.half_open_max_calls));
                    }
                    let to = Word {
                        inflight: w.inflight + 1,
                        ..w
                    };
                    match self.cas(w, to) {
                        Ok(()) => return Ok(Permit::new(self, u64::from(w.gen), true)),
                        Err(actual) => w = actual,
                    }
                }
            }
        }
    }

    #[inline(always)]
    fn count_rejection(&self) {
        self.window.count_rejected();
        tracing::debug!(breaker = &*self.name, "request rejected");
    }

    /// Seed-style admission: `true` admits one call, which the caller must
    /// follow with [`on_success`](Self::on_success) or
    /// [`on_failure`](Self::on_failure). In HALF_OPEN it takes a probe slot,
    /// which the next seed-style verdict of that half-open period releases.
    /// A `false` counts as a rejection.
    pub fn allow_request(&self) -> bool {
        match self.admit() {
            Ok(permit) => {
                if permit.is_probe() {
                    self.seed_admitted(permit.generation());
                }
                permit.forget();
                true
            }
            Err(_) => false,
        }
    }

    /// Seed-style success, a verdict of the *current* generation: in CLOSED
    /// it resets the consecutive count; in HALF_OPEN it releases a probe
    /// slot as a success if a seed-style [`allow_request`](Self::allow_request)
    /// of this half-open period took one that no seed-style verdict has
    /// released yet, and otherwise only reaches the totals (it is then the
    /// verdict of a call admitted before the breaker opened, R9, and must
    /// not free a slot a [`Permit`] holds, R5); in OPEN it only reaches the
    /// totals.
    ///
    /// Seed-style verdicts carry no ticket, so while seed-style probes are
    /// out, the verdict of a call admitted earlier (before the breaker
    /// opened, or in an earlier half-open period) cannot be told from
    /// theirs and releases one of their slots; and a seed-style probe
    /// still out when the breaker closes reports into CLOSED, as a current
    /// verdict. Use [`try_acquire`](Self::try_acquire) or the call wrappers
    /// where calls can outlive a transition.
    pub fn on_success(&self) {
        self.unpaired_verdict(Outcome::Success);
    }

    /// Seed-style failure, a verdict of the current generation: in CLOSED it
    /// may trip (R1, R2); in HALF_OPEN it reopens (R7) under the same
    /// condition as [`on_success`](Self::on_success) releases a slot, and
    /// otherwise only reaches the totals; in OPEN it only reaches the
    /// totals.
    pub fn on_failure(&self) {
        self.unpaired_verdict(Outcome::Failure);
    }

    fn unpaired_verdict(&self, outcome: Outcome) {
        let w = self.load();
        match w.state {
            State::Closed => self.closed_verdict(w.pack(), outcome),
            State::HalfOpen if self.seed_released(w.gen) => self.probe_verdict(w.gen, outcome),
            State::HalfOpen | State::Open => self.window.count_total(outcome),
        }
    }

    /// A seed-style admission took a probe slot of HALF_OPEN generation
    /// `gen`: one more seed-style verdict of `gen` is owed a slot.
    #[cold]
    fn seed_admitted(&self, gen: u32) {
        let seed = &self.core.seed;
        let mut cur = seed.load(Ordering::Acquire);
        loop {
            let held = (cur >> SEED_GEN_SHIFT) as u32;
            let next = if held == gen {
                seed_word(gen, (cur & SEED_COUNT_MASK) + 1)
            } else if self.load().gen != gen {
                // The admission's half-open period is over (its thread
                // stalled after taking the slot): the slot went with it.
                // Asked of the state word, not of the seed word's
                // generation, which no serial order can judge: it may be
                // any number of transitions old.
                return;
            } else {
                // The first seed-style admission of this period: whatever
                // the word counted belongs to an earlier one.
                seed_word(gen, 1)
            };
            match seed.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Takes one owed seed-style slot of HALF_OPEN generation `gen`;
    /// `false` if none is owed (the verdict is stale).
    fn seed_released(&self, gen: u32) -> bool {
        let seed = &self.core.seed;
        let mut cur = seed.load(Ordering::Acquire);
        loop {
            if (cur >> SEED_GEN_SHIFT) as u32 != gen || cur & SEED_COUNT_MASK == 0 {
                return false;
            }
            match seed.compare_exchange_weak(cur, cur - 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
    }

    // ---- verdicts --------------------------------------------------------

    /// A permit's verdict.
    #[inline(always)]
    pub(crate) fn verdict(&self, ticket: u64, probe: bool, outcome: Outcome) {
        if probe {
            self.probe_verdict(ticket as u32, outcome);
        } else {
            self.closed_verdict(ticket, outcome);
        }
    }

    /// A verdict on a call admitted under the CLOSED word `admitted`.
    ///
    /// The success case is inlined whole into the caller: measured, an
    /// out-of-line call here let the count's CAS wait for the clock reading
    /// and doubled the cost of a call (`docs/benchmarks-log.md`, "Where the
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
                    let raw = self.clock.precise_raw();
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
            }
            Outcome::Failure => self.closed_failure(admitted),
        }
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
        let _ = self.transition(w, w.enter(State::Open, w.era), trip.into());
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

    /// A verdict on a probe admitted in HALF_OPEN generation `gen`.
    fn probe_verdict(&self, gen: u32, outcome: Outcome) {
        let max = self.config.half_open_max_calls;
        let mut w = self.load();
        loop {
            if w.state != State::HalfOpen || w.gen != gen || w.inflight == 0 {
                self.window.count_total(outcome);
                return;
            }
            let era = self.era_of(w);
            let ticks = self.clock.ticks();
            let (to, reason) = match outcome {
                Outcome::Failure => (w.enter(State::Open, era), Some(Reason::ProbeFailed)),
                Outcome::Success if policy::probes_close(w.successes + 1, max) => (
                    w.enter(State::Closed, era + 1),
                    Some(Reason::ProbesSucceeded {
                        successes: w.successes + 1,
                    }),
                ),
                Outcome::Success => (
                    Word {
                        inflight: w.inflight - 1,
                        successes: w.successes + 1,
                        ..w
                    },
                    None,
                ),
            };
            let won = match reason {
                Some(reason) => self.transition(w, to, reason),
                None => self.cas(w, to).is_ok(),
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

    /// A permit dropped without a verdict: frees its probe slot (if still
    /// current). Counts neither way.
    pub(crate) fn release(&self, ticket: u64, probe: bool) {
        if !probe {
            return;
        }
        let gen = ticket as u32;
        let mut w = self.load();
        while w.state == State::HalfOpen && w.gen == gen && w.inflight > 0 {
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

    /// Makes `from → to` with one CAS. The winner alone stamps the new state,
    /// moves the era, logs and calls the listener (R10).
    fn transition(&self, from: Word, to: Word, reason: Reason) -> bool {
        if self.cas(from, to).is_err() {
            return false;
        }
        let _ = self.stamp_for(to);
        if to.state == State::Closed {
            self.sweep(to.era);
        }
        let change = StateChange {
            name: &self.name,
            from: from.state,
            to: to.state,
            reason,
            generation: to.gen,
        };
        emit(&change, self.config.listener.as_ref());
        true
    }

    /// Time spent in `w`'s state at `now`; `None` if `w` is stale (the state
    /// word has moved on since it was loaded: reload and retry).
    fn elapsed(&self, w: Word, now: u64) -> Option<u64> {
        let stamp = self.stamp_for(w)?;
        Some(stamp.elapsed(now))
    }

    /// The stamp of `w`'s state, or `None` if `w` is stale.
    ///
    /// The stamp carries only 6 bits of generation. A stamp whose bits match
    /// `w.gen` is returned as is: it is `w`'s unless `w` is stale by a
    /// multiple of 64 generations, and every caller either acts on it by a
    /// CAS from `w` (which fails if `w` is stale) or, before refusing a
    /// request on it, checks with [`is_current`](Self::is_current) that the
    /// word is still at `w.gen`.
    ///
    /// If the bits do not match, either `w` is stale or its state has not
    /// been stamped yet (the winner has not got there). The word is loaded
    /// again: if it has moved on, `None`; if not, this thread writes
    /// `(w.gen, now)`, with `now` read *after* that load, so a stamp is never
    /// earlier than the transition it stamps and a state can end late by a
    /// clock read, never early (by the breaker's clock: `Recent` time itself
    /// lags real time by up to one upkeep interval). The CAS expects the stamp loaded before the
    /// reload, so a thread stalled here while the breaker moves on fails its
    /// CAS instead of writing an old generation over a newer stamp. (The
    /// protocol this replaces wrote whenever a 6-bit "is it older" test said
    /// so; that test aliases after 32 transitions, a stalled thread wrote its
    /// old generation over the current stamp, and every later reader took
    /// its fresh word for a stale one and spun. Loom model
    /// `stamp::stalled_query_vs_three_transitions`.)
    #[inline]
    fn stamp_for(&self, w: Word) -> Option<Stamp> {
        let cur = Stamp::unpack(self.core.stamp.load(Ordering::Acquire));
        if cur.belongs_to(w.gen) {
            return Some(cur);
        }
        self.stamp_slow(w, cur)
    }

    /// `stamp_for` when the stamp's bits do not match `w.gen`: check that
    /// `w` is current, then write, helping (see `stamp_for`).
    #[cold]
    #[inline(never)]
    fn stamp_slow(&self, w: Word, mut cur: Stamp) -> Option<Stamp> {
        let stamp = &self.core.stamp;
        loop {
            if cur.belongs_to(w.gen) {
                return Some(cur);
            }
            if !self.is_current(w) {
                return None;
            }
            let next = Stamp::new(w.gen, self.clock.now());
            match stamp.compare_exchange(
                cur.pack(),
                next.pack(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(next),
                Err(actual) => cur = Stamp::unpack(actual),
            }
        }
    }

    /// The state word is still at `w.gen`. Called after loading the stamp
    /// (`Acquire`): a stamp of generation `g` is only written by a thread
    /// that saw the word at `g`, so this load sees at least the generation
    /// of any stamp already read, and a 6-bit match plus a word still at
    /// `w.gen` means the stamp is `w`'s (stamps lag the word by at most the
    /// three generations of one cycle: every OPEN state is stamped before it
    /// can end).
    #[inline]
    fn is_current(&self, w: Word) -> bool {
        self.load().gen == w.gen
    }

    /// The stamp belongs to the current generation (loom models check this
    /// once every thread has finished).
    #[cfg(fusebox_loom)]
    pub(crate) fn stamp_is_current(&self) -> bool {
        Stamp::unpack(self.core.stamp.load(Ordering::Acquire)).belongs_to(self.load().gen)
    }

    /// Publishes `era` as the era of the half-open period about to begin.
    /// Forward-only: a stalled thread cannot move it back.
    fn publish_era(&self, era: u64) {
        let cell = &self.core.era;
        let mut cur = cell.load(Ordering::Acquire);
        while era_newer(era, cur) {
            match cell.compare_exchange_weak(cur, era, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// The era of state `w`.
    #[inline]
    fn era_of(&self, w: Word) -> u64 {
        match w.state {
            State::HalfOpen => self.core.era.load(Ordering::Acquire),
            State::Closed | State::Open => w.era,
        }
    }

    /// After closing into `era`: rolls every window slot and the consecutive
    /// word into it, so that old labels cannot alias later eras.
    #[cold]
    fn sweep(&self, era: u64) {
        self.window.sweep(era as u8);
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
        let era = self.era_of(w);
        let to = if policy::reset_timeout_closes(w.successes) {
            w.enter(State::Closed, era + 1)
        } else {
            w.enter(State::Open, era)
        };
        let reason = Reason::ResetTimeout {
            successes: w.successes,
        };
        self.transition(w, to, reason);
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
                        Some(elapsed) if elapsed < self.config.open_nanos => {
                            if self.is_current(w) {
                                return w;
                            }
                            w = self.load();
                            continue;
                        }
                        Some(_) => {}
                    }
                    self.publish_era(w.era);
                    let to = w.enter(State::HalfOpen, 0);
                    self.transition(w, to, Reason::OpenDurationElapsed);
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

    /// A consistent-enough picture for dashboards: state (after any transition
    /// due with time), window figures, exact totals. O(stripes × buckets).
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
            state_duration: Duration::from_nanos(elapsed),
            open_remaining: (w.state == State::Open)
                .then(|| Duration::from_nanos(self.config.open_nanos.saturating_sub(elapsed))),
            half_open_calls: if w.state == State::HalfOpen {
                w.inflight
            } else {
                0
            },
            half_open_max_calls: self.config.half_open_max_calls,
        }
    }
}

/// Era `a` is later than era `b` (serial-number order on 40 bits).
#[inline]
fn era_newer(a: u64, b: u64) -> bool {
    let d = a.wrapping_sub(b) & ERA_MASK;
    d != 0 && d < 1 << 39
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
    fn era_order_wraps() {
        assert!(era_newer(1, 0));
        assert!(!era_newer(0, 0));
        assert!(!era_newer(0, 1));
        assert!(era_newer(0, ERA_MASK));
    }

    #[test]
    fn consecutive_words_count_under_their_era_label() {
        for era in [0, 1, 0xFFFF, 0x1_0005, ERA_MASK] {
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
        let cb = CircuitBreaker::builder("seed")
            .consecutive_failure_threshold(1)
            .half_open_max_calls(probes)
            .clock(clock)
            .build()
            .unwrap();
        let _ = cb.call(|| Err::<(), ()>(()));
        mock.increment(crate::DEFAULT_OPEN_DURATION);
        cb
    }

    /// A seed-style admission whose half-open period ended before it
    /// recorded its slot (its thread stalled between the slot's CAS and
    /// the seed word) leaves a later period's owed slots alone.
    #[test]
    fn a_late_seed_admission_leaves_a_later_period_alone() {
        let cb = tripped_and_due(2);
        assert!(cb.allow_request(), "a seed probe of this period");
        let gen = cb.load().gen;
        assert_eq!(cb.core.seed.load(Ordering::Relaxed), seed_word(gen, 1));
        // The stalled admission of a period two transitions back.
        let mask = crate::state::GEN_MASK;
        cb.seed_admitted(gen.wrapping_sub(2) & mask);
        assert_eq!(cb.core.seed.load(Ordering::Relaxed), seed_word(gen, 1));
        cb.on_success(); // still owed: a probe success
        let s = cb.snapshot();
        assert_eq!((s.state, s.half_open_calls), (State::HalfOpen, 0));
        assert_eq!(cb.core.seed.load(Ordering::Relaxed), seed_word(gen, 0));
        // Nor does one of any generation but the state word's.
        for other in [gen.wrapping_sub(1), gen + 1, gen + 2, gen + (1 << 21)] {
            cb.seed_admitted(other & mask);
            assert_eq!(cb.core.seed.load(Ordering::Relaxed), seed_word(gen, 0));
        }
    }

    /// The seed word keeps the generation of the last period a seed-style
    /// admission was made in, which may be any number of transitions old
    /// (a breaker used through permits for a long time). The first seed
    /// admission of a new period still counts, whatever that generation
    /// is: half the 22-bit generations "after" the current one in serial
    /// order once counted as a later period, and the admission recorded
    /// nothing, so its own verdict leaked its slot.
    #[test]
    fn a_seed_word_of_any_age_yields_to_a_new_period() {
        let mask = crate::state::GEN_MASK;
        for age in [
            1u32,
            2,
            1 << 20,
            (1 << 21) - 1,
            1 << 21,
            (1 << 21) + 1,
            mask,
        ] {
            let cb = tripped_and_due(1);
            // The period the next request opens, and a seed word left `age`
            // generations away from it, with counts owed.
            let gen = cb.load().gen + 1;
            cb.core.seed.store(
                seed_word(gen.wrapping_sub(age) & mask, 5),
                Ordering::Relaxed,
            );
            assert!(cb.allow_request(), "the R4 request, seed-style");
            assert_eq!(cb.load().gen, gen);
            assert_eq!(
                cb.core.seed.load(Ordering::Relaxed),
                seed_word(gen, 1),
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

    #[test]
    fn breaker_is_send_sync_and_small() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<CircuitBreaker>();
        let cb = CircuitBreaker::builder("m").stripes(2).build().unwrap();
        assert!(cb.memory_bytes() <= 4096, "{}", cb.memory_bytes());
    }
}
