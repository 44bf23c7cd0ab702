//! The packed state word and the state stamp.
//!
//! ```text
//!  63 62 61                                                             0
//! +-----+-----------------------------------------------------------------+
//! |0  0 |                      era (62)                                    |  CLOSED
//! |1  0 |                   generation (62)                                |  OPEN
//! |1  1 | probe successes (20) | probes in flight (20) | generation (22)  |  HALF_OPEN
//! +-----+-----------------------------------------------------------------+
//! ```
//!
//! The state bits are `00` CLOSED, `10` OPEN and `11` HALF_OPEN: the word is
//! CLOSED exactly when its top bit is clear, so the hot path's test is the
//! word's sign, and OPEN and HALF_OPEN differ in bit 62 alone.
//!
//! Two counters name a state, and neither wraps within any horizon a
//! process can reach:
//!
//! * The *generation* counts transitions (62 bits). An OPEN word carries
//!   it whole; a HALF_OPEN word carries its low 22 bits, and the whole
//!   value lives in the breaker's `period` word, published before the CAS
//!   that enters HALF_OPEN; a CLOSED word carries none, and the breaker's
//!   `closed_gen` word holds it, published before the CAS that closes.
//!   A probe's ticket is its half-open period's whole generation.
//! * The *era* counts closings (62 bits). It labels the window's buckets
//!   and the consecutive-failure count, so a new era is an empty window
//!   (closing clears both). A CLOSED word carries it whole, so a CLOSED
//!   permit's ticket (the word it was admitted under) is unique to its
//!   CLOSED period; while OPEN or HALF_OPEN it lives in the breaker's `era`
//!   word, published before the CAS that trips.
//!
//! Beside the word, the *stamp* records when the current state was entered:
//! the low 6 bits of its generation and the low 57 bits of the time, in one
//! word that the OPEN fast path reads (see [`Stamp`]), and the whole 64-bit
//! time in a second word, `since`, which every age is computed from.
//!
//! # Wrap-around
//!
//! None that a process can reach: 2^62 transitions, 2^62 closings, and
//! 2^64 nanoseconds (584 years) of clock. What remains is the ABA every
//! lock-free protocol has: a thread stalled between a load and its CAS
//! while the compared word goes through 2^22 transitions and back to the
//! same bits (the short HALF_OPEN generation), or while the stamp's 6
//! generation bits come round (guarded by reloading the word).

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

/// Bits of a HALF_OPEN word's generation. Under loom 2, so that the models
/// reach a short generation that aliases within a few transitions.
pub(crate) const SHORT_GEN_BITS: u32 = if cfg!(fusebox_loom) { 2 } else { 22 };
const SHORT_GEN_FIELD: u32 = 22;
const INFLIGHT_BITS: u32 = 20;
const SUCC_BITS: u32 = 20;
const STATE_BITS: u32 = 2;

const INFLIGHT_SHIFT: u32 = SHORT_GEN_FIELD;
const SUCC_SHIFT: u32 = INFLIGHT_SHIFT + INFLIGHT_BITS;
const STATE_SHIFT: u32 = SUCC_SHIFT + SUCC_BITS;

/// A HALF_OPEN word's generation bits.
pub(crate) const SHORT_GEN_MASK: u64 = (1 << SHORT_GEN_BITS) - 1;
const INFLIGHT_MASK: u64 = (1 << INFLIGHT_BITS) - 1;
const SUCC_MASK: u64 = (1 << SUCC_BITS) - 1;
const STATE_MASK: u64 = (1 << STATE_BITS) - 1;
/// A CLOSED word's era, an OPEN word's generation: everything below the
/// state bits.
pub(crate) const COUNTER_MASK: u64 = (1 << STATE_SHIFT) - 1;

/// The largest `half_open_max_calls` the packed word can count.
pub(crate) const MAX_PROBES: u32 = (1 << INFLIGHT_BITS) - 1;

const _: () = assert!(STATE_SHIFT + STATE_BITS == 64);
const _: () = assert!(SHORT_GEN_BITS <= SHORT_GEN_FIELD);

/// The low bits of generation `gen` that a HALF_OPEN word keeps.
#[inline]
pub(crate) const fn short_gen(gen: u64) -> u64 {
    gen & SHORT_GEN_MASK
}

/// A decoded copy of the state word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Word {
    pub(crate) state: State,
    /// OPEN: the generation (transitions so far, 62 bits). HALF_OPEN: its
    /// low [`SHORT_GEN_BITS`] bits. CLOSED: 0 (not kept in the word).
    pub(crate) gen: u64,
    /// HALF_OPEN only: probes admitted and not yet resolved.
    pub(crate) inflight: u32,
    /// HALF_OPEN only: probes that succeeded in this half-open period.
    pub(crate) successes: u32,
    /// CLOSED only: the era (closings so far, 62 bits).
    pub(crate) era: u64,
}

impl Word {
    pub(crate) const INITIAL: Word = Word::closed(0);

    /// A CLOSED word of `era`.
    pub(crate) const fn closed(era: u64) -> Word {
        Word {
            state: State::Closed,
            gen: 0,
            inflight: 0,
            successes: 0,
            era: era & COUNTER_MASK,
        }
    }

    /// An OPEN word of generation `gen`.
    pub(crate) const fn open(gen: u64) -> Word {
        Word {
            state: State::Open,
            gen: gen & COUNTER_MASK,
            inflight: 0,
            successes: 0,
            era: 0,
        }
    }

    /// A HALF_OPEN word of generation `gen` with `inflight` probes out and
    /// none succeeded.
    pub(crate) const fn half_open(gen: u64, inflight: u32) -> Word {
        Word {
            state: State::HalfOpen,
            gen: short_gen(gen),
            inflight,
            successes: 0,
            era: 0,
        }
    }

    #[inline]
    pub(crate) const fn pack(self) -> u64 {
        let low = match self.state {
            State::HalfOpen => {
                (((self.successes as u64) & SUCC_MASK) << SUCC_SHIFT)
                    | (((self.inflight as u64) & INFLIGHT_MASK) << INFLIGHT_SHIFT)
                    | short_gen(self.gen)
            }
            State::Open => self.gen & COUNTER_MASK,
            State::Closed => self.era & COUNTER_MASK,
        };
        (self.state.to_bits() << STATE_SHIFT) | low
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
        match state {
            State::HalfOpen => Word {
                state,
                gen: short_gen(bits),
                inflight: ((bits >> INFLIGHT_SHIFT) & INFLIGHT_MASK) as u32,
                successes: ((bits >> SUCC_SHIFT) & SUCC_MASK) as u32,
                era: 0,
            },
            State::Open => Word::open(bits),
            State::Closed => Word::closed(bits),
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

    /// The era of a packed CLOSED word.
    #[inline]
    pub(crate) const fn era_of_bits(bits: u64) -> u64 {
        bits & COUNTER_MASK
    }

    /// `self` and `other` name the same state (the same CLOSED era, OPEN
    /// generation or short HALF_OPEN generation), whatever their probe
    /// counts.
    #[inline]
    pub(crate) fn same_state(self, other: Word) -> bool {
        self.state == other.state && self.gen == other.gen && self.era == other.era
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

/// When the current state was entered, as the OPEN fast path reads it:
/// `gen_low (6) | 0 | nanos (57)`, the low bits of the state's generation
/// and of its start time. The whole time is in the breaker's `since` word;
/// the two belong together when their low 57 bits agree
/// ([`matches`](Self::matches)).
///
/// The zero bit between the generation and the time takes the borrow of a
/// stamp that is ahead of the clock, so one subtraction answers both "is
/// this stamp the word's?" and "how long ago, modulo 2^57?" (see
/// [`span`](Self::span)).
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

/// The longest `open_duration` the OPEN fast path refuses on by itself:
/// 2^55 ns (417 days). A [`span`](Stamp::span) below this is the age of a
/// stamp of the word's generation; a longer duration's last stretch is
/// timed by the slow path, from the whole time.
pub(crate) const FAST_SPAN_LIMIT: u64 = 1 << (STAMP_TIME_BITS - 2);

// The stamp's generation bits are the low bits of every word's counter, so
// `span` moves them into place with one shift.
const _: () = assert!(64 - STAMP_GEN_SHIFT <= SHORT_GEN_BITS);

impl Stamp {
    #[inline]
    pub(crate) fn new(gen: u64, at: u64) -> Stamp {
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
    pub(crate) fn belongs_to(self, gen: u64) -> bool {
        self.gen_low == (gen as u8) & STAMP_GEN_MASK
    }

    /// The whole time `since` is this stamp's: its low bits are the
    /// stamp's.
    #[inline]
    pub(crate) fn matches(self, since: u64) -> bool {
        since & STAMP_TIME_MASK == self.at
    }

    /// The whole time of a stamp written at most 2^56 ns before or after
    /// `now`: the time nearest `now` whose low bits are the stamp's. Used
    /// only while the stamp's writer has not yet written `since`, a few
    /// instructions after the stamp.
    pub(crate) fn whole_time(self, now: u64) -> u64 {
        let d = now.wrapping_sub(self.at) & STAMP_TIME_MASK;
        if d < 1 << (STAMP_TIME_BITS - 1) {
            now.wrapping_sub(d)
        } else {
            now.wrapping_add((1 << STAMP_TIME_BITS) - d)
        }
    }

    /// The packed stamp `stamp` read against the OPEN word `word` at
    /// `now`, in one subtraction: below 2^57 exactly when the stamp's
    /// generation bits match the word's and its time (modulo 2^57) is not
    /// after `now`'s, and then it is `now - at` modulo 2^57. So a result
    /// below [`FAST_SPAN_LIMIT`] is a stamp of the word's generation bits,
    /// that many nanoseconds old unless the true age is 2^57 ns or more
    /// (which the caller rules out with the whole time).
    ///
    /// Why: the word's generation bits (its lowest) are shifted to where
    /// the stamp keeps its own, above a zero bit, and `now`'s time bits put
    /// below them. With `g` the difference of the generations (modulo 2^6)
    /// and `d` that of the times, the result is `g * 2^58 + d`: `d` in
    /// `[0, 2^57)` leaves it at least 2^58 when `g != 0`; a negative `d`
    /// (at least `-2^57 + 1`) leaves it at least 2^57 when `g != 0`, and
    /// wraps it past 2^63 when `g == 0`.
    #[inline(always)]
    pub(crate) fn span(stamp: u64, word: u64, now: u64) -> u64 {
        ((word << STAMP_GEN_SHIFT) | (now & STAMP_TIME_MASK)).wrapping_sub(stamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_round_trips_every_field() {
        for counter in [0, 1, 12345, 1 << 40, COUNTER_MASK] {
            for w in [Word::closed(counter), Word::open(counter)] {
                assert_eq!(Word::unpack(w.pack()), w, "{w:?}");
            }
            for inflight in [0, 1, 3, MAX_PROBES] {
                for successes in [0, 2, MAX_PROBES] {
                    let w = Word {
                        inflight,
                        successes,
                        ..Word::half_open(counter, 0)
                    };
                    assert_eq!(Word::unpack(w.pack()), w, "{w:?}");
                    assert_eq!(w.gen, counter & SHORT_GEN_MASK);
                }
            }
        }
        assert_eq!(Word::closed(COUNTER_MASK + 3).era, 2, "62 bits");
    }

    /// The hot path's tests on the raw word (`is_closed` is its sign) agree
    /// with the decoded state for every value of the state bits, the never
    /// written one included.
    #[test]
    fn raw_state_tests_agree_with_unpack() {
        for code in 0..4u64 {
            for low in [0, 1, COUNTER_MASK >> 1, COUNTER_MASK] {
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
        for w in [Word::closed(5), Word::open(5), Word::half_open(5, 1)] {
            let bits = w.pack();
            assert_eq!(Word::unpack(bits).state, w.state);
            assert_eq!(Word::is_closed(bits), w.state == State::Closed);
        }
    }

    /// Every state's word keeps its generation's low bits at the bottom,
    /// where [`Stamp::span`] takes them from.
    #[test]
    fn the_stamps_generation_bits_are_the_words_lowest() {
        for gen in [0, 1, 63, 64, 65, (1 << 22) + 7, COUNTER_MASK] {
            let open = Word::open(gen).pack();
            let half = Word {
                inflight: 9,
                successes: 4,
                ..Word::half_open(gen, 0)
            }
            .pack();
            assert_eq!(open & 63, gen & 63);
            assert_eq!(half & 63, gen & 63);
        }
    }

    #[test]
    fn same_state_ignores_probe_counts_only() {
        let h = Word::half_open(9, 1);
        assert!(h.same_state(Word {
            inflight: 3,
            successes: 2,
            ..h
        }));
        assert!(!h.same_state(Word::half_open(10, 1)));
        assert!(!Word::open(9).same_state(Word::open(10)));
        assert!(!Word::closed(9).same_state(Word::open(9)));
        assert!(Word::closed(9).same_state(Word::closed(9)));
    }

    #[test]
    fn stamp_round_trips_and_finds_its_whole_time() {
        let s = Stamp::new(0x1_23, 1_000);
        assert_eq!(Stamp::unpack(s.pack()), s);
        assert!(s.belongs_to(0x23));
        assert!(s.belongs_to(0x123));
        assert!(!s.belongs_to(0x22) && !s.belongs_to(0x24));
        assert!(Stamp::new(64, 0).belongs_to(0), "6 bits: wraps at 2^6");
        assert!(s.matches(1_000) && s.matches(1_000 + (1 << 57)));
        assert!(!s.matches(1_001));
        assert_eq!(s.whole_time(1_500), 1_000);
        assert_eq!(s.whole_time(999), 1_000, "a clock a little behind");
        let century = 100 * 365 * 86_400 * 1_000_000_000u64;
        let late = Stamp::new(0, century);
        assert_eq!(late.whole_time(century), century);
        assert_eq!(late.whole_time(century + 5_000), century);
        assert_eq!(late.whole_time(century - 5_000), century);
        assert_eq!(Stamp::new(0, 3).whole_time(0), 3, "no wrap below 0");
    }

    #[test]
    fn span_is_belongs_to_and_the_age_in_one_subtraction() {
        let m = STAMP_TIME_MASK;
        let times = [
            0,
            1,
            7,
            1_000,
            FAST_SPAN_LIMIT - 1,
            FAST_SPAN_LIMIT,
            m - 1,
            m,
            m + 1,
            u64::MAX,
        ];
        // Past 64 the stamp's 6 bits alias; miri takes a few around it.
        let gens = if cfg!(miri) { 62..66 } else { 0..200 };
        for word_gen in gens.chain([COUNTER_MASK - 1, COUNTER_MASK]) {
            let word = Word::open(word_gen).pack();
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
                        let d = (now & m).wrapping_sub(stamp.at);
                        if span < FAST_SPAN_LIMIT {
                            assert!(mine, "{word_gen} {stamp_gen} {at} {now}");
                            assert_eq!(span, d);
                        }
                        if mine && now & m >= stamp.at {
                            assert_eq!(span, d);
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

    #[test]
    fn unknown_state_bits_decode_without_panic() {
        assert_eq!(Word::unpack(u64::MAX).state, State::HalfOpen);
    }
}
