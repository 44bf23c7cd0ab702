//! The packed state word: state, generation, probes in flight and probe
//! successes in one `AtomicU64`, so that every transition is a single CAS.
//!
//! ```text
//!  63 62 61                  40 39                  20 19                   0
//! +-----+----------------------+----------------------+----------------------+
//! |state|   generation (22)    |  probes in flight(20)|  probe successes (20)|  HALF_OPEN
//! |state|   generation (22)    |                 era (40)                    |  CLOSED, OPEN
//! +-----+----------------------+----------------------+----------------------+
//! ```
//!
//! The state bits are `00` CLOSED, `10` OPEN and `11` HALF_OPEN: the word is
//! CLOSED exactly when its top bit is clear, so the hot path's test is the
//! word's sign, and OPEN and HALF_OPEN differ in bit 62 alone.
//!
//! The *era* counts closings: it labels the window's buckets and the
//! consecutive-failure count, so a new era is an empty window (R6). While
//! HALF_OPEN the bits hold the probe counts and the era lives in the
//! breaker's `era` atomic, published before the CAS that enters HALF_OPEN.
//!
//! Beside the word, the *stamp* word records when the current state was
//! entered: the low 6 bits of the generation it belongs to and a 58-bit
//! nanosecond time (see [`Stamp`]).
//!
//! # Wrap-around
//!
//! The generation is bumped on every transition and wraps at 2^22 (about four
//! million transitions). A permit compares its generation for equality, so a
//! stale permit could pass for a current one only if it was held across an
//! exact multiple of 2^22 transitions; at one transition per
//! microsecond that is a permit held for four seconds while the breaker flaps
//! continuously, and each such cycle includes at least one full
//! `open_duration`. The stamp keeps 6 generation bits: it is rewritten by the
//! first thread that needs it after each transition, so it is never more than
//! a few generations behind. Stamp times wrap at 2^57 ns (4.6 years);
//! elapsed times are computed modulo that and clamp to 0 when "negative" (a
//! clock that went backwards), so only a breaker left untouched in OPEN or
//! HALF_OPEN for more than 2.3 years would wait again before its next
//! time-based transition. Eras wrap at 2^40 closings (never, in practice).

use std::fmt;

/// The three states of a circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum State {
    /// Calls pass through; failures are counted.
    Closed,
    /// Calls are rejected until `open_duration` has elapsed.
    Open,
    /// A limited number of probe calls test whether the dependency recovered.
    HalfOpen,
}

impl State {
    /// `"closed"`, `"open"` or `"half-open"`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half-open",
        }
    }

    /// The word's top two bits. CLOSED is the only state whose top bit is
    /// clear, so the hot path's test is the word's sign.
    const fn to_bits(self) -> u64 {
        match self {
            State::Closed => 0,
            State::Open => 2,
            State::HalfOpen => 3,
        }
    }

    const fn from_bits(bits: u64) -> State {
        // 1 is never written; it decodes as CLOSED, as `is_closed` reads
        // it, so no input can panic or read two ways. (One less than the
        // code, floored at 0: the decode is a subtraction, not a branch.)
        match bits.saturating_sub(1) {
            0 => State::Closed,
            1 => State::Open,
            _ => State::HalfOpen,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub(crate) const SUCC_BITS: u32 = 20;
pub(crate) const INFLIGHT_BITS: u32 = 20;
pub(crate) const GEN_BITS: u32 = 22;
pub(crate) const STATE_BITS: u32 = 2;

const SUCC_SHIFT: u32 = 0;
const INFLIGHT_SHIFT: u32 = SUCC_SHIFT + SUCC_BITS;
const GEN_SHIFT: u32 = INFLIGHT_SHIFT + INFLIGHT_BITS;
const STATE_SHIFT: u32 = GEN_SHIFT + GEN_BITS;

const SUCC_MASK: u64 = (1 << SUCC_BITS) - 1;
/// Eras are 40-bit counters (the low bits of a CLOSED or OPEN word).
pub(crate) const ERA_MASK: u64 = (1 << (SUCC_BITS + INFLIGHT_BITS)) - 1;
const INFLIGHT_MASK: u64 = (1 << INFLIGHT_BITS) - 1;
pub(crate) const GEN_MASK: u32 = (1 << GEN_BITS) - 1;
const STATE_MASK: u64 = (1 << STATE_BITS) - 1;

/// The largest `half_open_max_calls` the packed word can count.
pub(crate) const MAX_PROBES: u32 = (1 << INFLIGHT_BITS) - 1;

const _: () = assert!(STATE_SHIFT + STATE_BITS == 64);

/// A decoded copy of the state word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Word {
    pub(crate) state: State,
    /// Bumped (wrapping at 2^22) on every transition.
    pub(crate) gen: u32,
    /// HALF_OPEN only: probes admitted and not yet resolved.
    pub(crate) inflight: u32,
    /// HALF_OPEN only: probes that succeeded in this half-open period.
    pub(crate) successes: u32,
    /// CLOSED and OPEN only: the era (closings so far, 40 bits).
    pub(crate) era: u64,
}

impl Word {
    pub(crate) const INITIAL: Word = Word {
        state: State::Closed,
        gen: 0,
        inflight: 0,
        successes: 0,
        era: 0,
    };

    #[inline]
    pub(crate) const fn pack(self) -> u64 {
        let low = match self.state {
            State::HalfOpen => {
                (((self.inflight as u64) & INFLIGHT_MASK) << INFLIGHT_SHIFT)
                    | (((self.successes as u64) & SUCC_MASK) << SUCC_SHIFT)
            }
            State::Closed | State::Open => self.era & ERA_MASK,
        };
        (self.state.to_bits() << STATE_SHIFT) | (((self.gen & GEN_MASK) as u64) << GEN_SHIFT) | low
    }

    #[inline]
    pub(crate) const fn unpack(bits: u64) -> Word {
        Word::unpack_as(bits, State::from_bits((bits >> STATE_SHIFT) & STATE_MASK))
    }

    /// [`unpack`](Self::unpack) for a caller that has already tested the
    /// state bits and knows `state`: the rest of the word, without decoding
    /// them again.
    #[inline]
    pub(crate) const fn unpack_as(bits: u64, state: State) -> Word {
        let gen = ((bits >> GEN_SHIFT) as u32) & GEN_MASK;
        match state {
            State::HalfOpen => Word {
                state,
                gen,
                inflight: ((bits >> INFLIGHT_SHIFT) & INFLIGHT_MASK) as u32,
                successes: ((bits >> SUCC_SHIFT) & SUCC_MASK) as u32,
                era: 0,
            },
            State::Closed | State::Open => Word {
                state,
                gen,
                inflight: 0,
                successes: 0,
                era: bits & ERA_MASK,
            },
        }
    }

    /// `true` if packed word `bits` is CLOSED (the hot path's only test).
    #[inline]
    pub(crate) const fn is_closed(bits: u64) -> bool {
        (bits as i64) >= 0
    }

    /// `true` if packed word `bits`, already known not to be CLOSED, is
    /// OPEN: OPEN and HALF_OPEN differ in bit 62 alone, so this is one bit
    /// test.
    #[inline]
    pub(crate) const fn is_open_unless_closed(bits: u64) -> bool {
        bits & (1 << STATE_SHIFT) == 0
    }

    /// The era of a packed CLOSED or OPEN word.
    #[inline]
    pub(crate) const fn era_of_bits(bits: u64) -> u64 {
        bits & ERA_MASK
    }

    /// The word after a transition into `state` in `era`: next generation,
    /// no probes. (`era` is not stored for HALF_OPEN.)
    #[inline]
    pub(crate) const fn enter(self, state: State, era: u64) -> Word {
        Word {
            state,
            gen: self.gen.wrapping_add(1) & GEN_MASK,
            inflight: 0,
            successes: 0,
            era: match state {
                State::HalfOpen => 0,
                State::Closed | State::Open => era & ERA_MASK,
            },
        }
    }
}

impl fmt::Debug for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Word")
            .field("state", &self.state)
            .field("gen", &self.gen)
            .field("inflight", &self.inflight)
            .field("successes", &self.successes)
            .field("era", &self.era)
            .finish()
    }
}

/// When the current state was entered: `gen_low (6) | 0 | nanos (57)`.
///
/// The zero bit between the generation and the time takes the borrow of a
/// stamp that is ahead of the clock, so one subtraction answers both "is
/// this stamp the word's?" and "how long ago?" (see [`span`](Self::span)).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Stamp {
    pub(crate) gen_low: u8,
    pub(crate) at: u64,
}

// Under loom the stamp keeps 2 generation bits instead of 6, so that the
// models reach generation aliasing within a few transitions.
const STAMP_GEN_SHIFT: u32 = if cfg!(fusebox_loom) { 62 } else { 58 };
const STAMP_TIME_BITS: u32 = STAMP_GEN_SHIFT - 1;
const STAMP_GEN_MASK: u8 = (1 << (64 - STAMP_GEN_SHIFT)) - 1;
const STAMP_TIME_MASK: u64 = (1 << STAMP_TIME_BITS) - 1;

/// Spans from a stamp below this are elapsed times; from it up to the wrap
/// of the stamp's time they read as "negative" (a clock that went
/// backwards), that is, as 0. 2^56 ns is 2.3 years.
pub(crate) const STAMP_SPAN_LIMIT: u64 = 1 << (STAMP_TIME_BITS - 1);

/// The longest `open_duration` and `reset_timeout` a breaker times: 2^55 ns
/// (417 days). Longer settings act as this. A state's age reads correctly
/// only below [`STAMP_SPAN_LIMIT`], so a duration must end well before
/// that: here a request anywhere from 417 to 834 days after the transition
/// still finds it due. (A duration just under the limit would leave a
/// window of nanoseconds, and a longer one would never fall due: R4 and R8
/// would never fire.)
pub(crate) const MAX_TIMED_NANOS: u64 = STAMP_SPAN_LIMIT / 2;

// `span` moves the word's generation to the stamp's place with one shift.
const _: () = assert!(STAMP_GEN_SHIFT > GEN_SHIFT);

impl Stamp {
    #[inline]
    pub(crate) fn new(gen: u32, at: u64) -> Stamp {
        Stamp {
            gen_low: (gen as u8) & STAMP_GEN_MASK,
            at: at & STAMP_TIME_MASK,
        }
    }

    #[inline]
    pub(crate) const fn pack(self) -> u64 {
        ((self.gen_low as u64) << STAMP_GEN_SHIFT) | (self.at & STAMP_TIME_MASK)
    }

    #[inline]
    pub(crate) const fn unpack(bits: u64) -> Stamp {
        Stamp {
            gen_low: ((bits >> STAMP_GEN_SHIFT) as u8) & STAMP_GEN_MASK,
            at: bits & STAMP_TIME_MASK,
        }
    }

    #[inline]
    pub(crate) fn belongs_to(self, gen: u32) -> bool {
        self.gen_low == (gen as u8) & STAMP_GEN_MASK
    }

    /// Nanoseconds from the stamp to `now`, modulo 2^57; a "negative" span
    /// (at least [`STAMP_SPAN_LIMIT`]: a clock that went backwards) reads
    /// as 0.
    #[inline]
    pub(crate) fn elapsed(self, now: u64) -> u64 {
        let d = (now & STAMP_TIME_MASK).wrapping_sub(self.at) & STAMP_TIME_MASK;
        if d >= STAMP_SPAN_LIMIT {
            0
        } else {
            d
        }
    }

    /// The packed stamp `stamp` read against the state word `word` at
    /// `now`, in one subtraction: below 2^57 exactly when the stamp's
    /// generation bits match the word's and its time (modulo 2^57) is not
    /// after `now`'s, and then it is `now - at`. So a result below
    /// `STAMP_SPAN_LIMIT` is what [`belongs_to`](Self::belongs_to) and
    /// [`elapsed`](Self::elapsed) would have said, with no branch between.
    ///
    /// Why: the word's generation bits are shifted to where the stamp keeps
    /// its own, above a zero bit, and `now`'s time bits put below them. With
    /// `g` the difference of the generations (modulo 2^6) and `d` that of
    /// the times, the result is `g * 2^58 + d`: `d` in `[0, 2^57)` leaves
    /// it at least 2^58 when `g != 0`; a negative `d` (at least `-2^57 + 1`)
    /// leaves it at least 2^57 when `g != 0`, and wraps it past 2^63 when
    /// `g == 0`.
    #[inline(always)]
    pub(crate) fn span(stamp: u64, word: u64, now: u64) -> u64 {
        let gen = (word << (STAMP_GEN_SHIFT - GEN_SHIFT)) & !((1 << STAMP_GEN_SHIFT) - 1);
        (gen | (now & STAMP_TIME_MASK)).wrapping_sub(stamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_round_trips_every_field() {
        for state in [State::Closed, State::Open, State::HalfOpen] {
            for gen in [0, 1, 12345, GEN_MASK] {
                for inflight in [0, 1, 3, MAX_PROBES] {
                    for successes in [0, 2, MAX_PROBES] {
                        for era in [0, 1, 77, ERA_MASK] {
                            let w = match state {
                                State::HalfOpen => Word {
                                    state,
                                    gen,
                                    inflight,
                                    successes,
                                    era: 0,
                                },
                                _ => Word {
                                    state,
                                    gen,
                                    inflight: 0,
                                    successes: 0,
                                    era,
                                },
                            };
                            assert_eq!(Word::unpack(w.pack()), w, "{w:?}");
                        }
                    }
                }
            }
        }
    }

    /// The hot path's tests on the raw word (`is_closed` is its sign) agree
    /// with the decoded state for every value of the state bits, the never
    /// written one included.
    #[test]
    fn raw_state_tests_agree_with_unpack() {
        for code in 0..4u64 {
            for low in [0, 1, ERA_MASK, u64::MAX >> STATE_BITS] {
                let bits = (code << STATE_SHIFT) | low;
                let state = Word::unpack(bits).state;
                assert_eq!(Word::is_closed(bits), state == State::Closed, "{bits:#x}");
                if state != State::Closed {
                    let open = Word::is_open_unless_closed(bits);
                    assert_eq!(open, state == State::Open, "{bits:#x}");
                }
                assert!(Word::unpack_as(bits, state) == Word::unpack(bits));
            }
        }
        for state in [State::Closed, State::Open, State::HalfOpen] {
            let bits = Word::INITIAL.enter(state, 5).pack();
            assert_eq!(Word::unpack(bits).state, state);
            assert_eq!(Word::is_closed(bits), state == State::Closed);
        }
    }

    #[test]
    fn enter_wraps_the_generation_and_clears_probes() {
        let w = Word {
            state: State::HalfOpen,
            gen: GEN_MASK,
            inflight: 2,
            successes: 1,
            era: 0,
        };
        let n = w.enter(State::Closed, ERA_MASK + 2);
        assert_eq!(n.gen, 0);
        assert_eq!((n.inflight, n.successes, n.state), (0, 0, State::Closed));
        assert_eq!(n.era, 1, "eras wrap at 2^40");
    }

    #[test]
    fn stamp_round_trips_and_clamps_backwards_time() {
        let s = Stamp::new(0x1_23, 1_000);
        assert_eq!(Stamp::unpack(s.pack()), s);
        assert!(s.belongs_to(0x23));
        assert!(s.belongs_to(0x123));
        assert!(!s.belongs_to(0x22) && !s.belongs_to(0x24));
        assert!(Stamp::new(64, 0).belongs_to(0), "6 bits: wraps at 2^6");
        assert_eq!(s.elapsed(1_500), 500);
        assert_eq!(s.elapsed(999), 0);
        let late = Stamp::new(0, (1 << 57) - 10);
        assert_eq!(late.elapsed(5), 15, "wraps across 2^57");
        let two_years = 2 * 365 * 86_400 * 1_000_000_000u64;
        assert_eq!(Stamp::new(0, 7).elapsed(7 + two_years), two_years);
    }

    #[test]
    fn span_is_belongs_to_and_elapsed_in_one_subtraction() {
        let m = STAMP_TIME_MASK;
        let times = [
            0,
            1,
            7,
            1_000,
            STAMP_SPAN_LIMIT - 1,
            STAMP_SPAN_LIMIT,
            m - 1,
            m,
            m + 1,
            u64::MAX,
        ];
        // Past 64 the stamp's 6 bits alias; miri takes a few around it.
        let gens = if cfg!(miri) { 62..66 } else { 0..200 };
        for word_gen in gens.chain([GEN_MASK - 1, GEN_MASK]) {
            for state in [State::Open, State::HalfOpen] {
                let word = Word {
                    state,
                    gen: word_gen,
                    inflight: 3,
                    successes: 2,
                    era: 0,
                }
                .pack();
                for stamp_gen in [
                    0,
                    1,
                    2,
                    63,
                    64,
                    65,
                    word_gen,
                    word_gen + 1,
                    word_gen.wrapping_sub(1),
                ] {
                    for &at in &times {
                        for &now in &times {
                            let stamp = Stamp::new(stamp_gen, at);
                            let span = Stamp::span(stamp.pack(), word, now);
                            let mine = stamp.belongs_to(word_gen);
                            if span < STAMP_SPAN_LIMIT {
                                assert!(mine, "{word_gen} {stamp_gen} {at} {now}");
                                assert_eq!(span, stamp.elapsed(now));
                            }
                            if mine && now & m >= stamp.at {
                                assert_eq!(span, (now & m) - stamp.at);
                            }
                            if !mine || now & m < stamp.at {
                                assert!(
                                    span >= 1 << STAMP_TIME_BITS,
                                    "{word_gen} {stamp_gen} {at} {now}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn unknown_state_bits_decode_without_panic() {
        assert_eq!(Word::unpack(u64::MAX).state, State::HalfOpen);
    }
}
