//! The sliding window: a ring of time buckets whose counters are striped
//! across cache-padded stripes, plus the exact all-time totals.
//!
//! # Layout
//!
//! Time is cut into *epochs* of `w = ceil(monitoring_window / B)` nanoseconds.
//! Each stripe holds a ring of `R = B.next_power_of_two()` slots (epoch `e`
//! lives in slot `e & (R - 1)`), and each slot is three words:
//!
//! ```text
//! tag:      epoch (48) | seq (8) | era (8)     which bucket the slot holds
//! success:  count (48) | seq (8) | 0 (8)       calls that succeeded in it
//! failure:  count (48) | seq (8) | 0 (8)       calls that failed in it
//! ```
//!
//! Before the ring, each stripe has a four-word header: successes and
//! failures *folded* out of slots when they roll over, rejections, and the
//! *moves* word that lets readers of the totals see each fold whole (see
//! "Reading the totals"). One
//! more word, the *hint*, is shared by all stripes: the newest epoch counted
//! through the slow path, packed with its slot's offset in a stripe, which
//! tells the fast path which slot to try (a `Recent` breaker on the
//! default clock then compares that slot's tag with the upkeep's epoch
//! cell, see [`Window::record_current`]). A
//! thread writes
//! only the stripe [`thread_index`](crate::sync::thread_index) picks, so with
//! up to `stripes` threads no two threads write one cache line (a thread
//! that has no index yet writes the last stripe until its first slow-path
//! write; see `my_stripe_fast`). Which stripe a count lands in never matters
//! to what is counted: readers sum every stripe.
//!
//! The *era* is the low 8 bits of a counter of closings (R6 clears the
//! window by starting a new era); readers count only slots of the current era
//! whose epoch is one of the last `B`. The thread that closes the breaker
//! [`sweep`](Window::sweep)s every slot into the new era, so no slot keeps an
//! old era label and 8-bit labels cannot alias.
//!
//! # The roll-over protocol
//!
//! A count word belongs to the tag with the same `seq`. To roll a slot to a
//! newer (epoch, era), a writer first brings both count words *in step* with
//! the current tag (CAS `(n, old seq)` → `(0, tag seq)` and folds `n` into the
//! stripe's totals), then CASes the tag to `(epoch, era, seq + 1)`. Count
//! words are therefore never more than one `seq` behind their tag, a word is
//! only ever moved *forward* (a writer with a stale view of the tag leaves a
//! word that is already ahead of it alone), and a count
//! is added only by a CAS that saw its word in step with the tag it checked:
//! no count lands in the wrong bucket, none is lost, none is counted twice.
//! A writer whose sample is older than the slot's bucket (its clock read raced
//! a newer writer) folds its count straight into the totals.
//!
//! Totals are `folded + every count word`. Moving a count out of a slot
//! takes two steps (the CAS that empties its word, then the fold), so a
//! reader that summed the words between the two would miss it; the next
//! section is how readers avoid that.
//!
//! # Reading the totals
//!
//! Each stripe's moves word counts the moves of a non-zero count out of a
//! slot: moves finished (high 32 bits) and moves in flight (low 32 bits). A
//! writer adds one to "in flight" before its emptying CAS and, after the
//! fold, moves it to "finished" (so each move changes the word twice). A
//! reader loads the moves word, sums the stripe's folded totals and count
//! words, and loads the moves word again; it keeps the sum only if the first
//! load saw no move in flight and the second load saw the same word, and
//! otherwise waits a round and reads the stripe again. An accepted sum holds
//! every move whole or not at all, so totals are exact (each verdict counted
//! before the read is in them once) and a thread's later read never returns
//! less. Writers never wait for readers; a reader waits only while a writer
//! is between its announcement and its fold (a few instructions, unless
//! that writer is preempted there). Moving a zero count changes no sum and
//! skips the moves word, so a roll costs these two read-modify-writes only
//! for a word that holds calls.
//!
//! A reader's wait is bounded (`Patience`: 64 spins, then yields for at
//! most 10 ms per stripe, whether a move stays in flight or the moves word
//! keeps changing under the read). A writer that stays stopped between the
//! two steps longer than that (stopped by a debugger, preempted for longer
//! than a scheduler's time slice, or absent: a process forked while one of
//! its threads was moving a count has that move in flight for ever) makes
//! the reader read the stripe as it is, which may miss that move's count
//! for that read, as every read did before the moves word. So that such a
//! read never goes below an earlier one, the totals keep two *high-water*
//! words (the largest successes and failures total any read returned, in
//! two of the allocation's spare alignment words) and every read returns
//! at least those. Totals are therefore never blocked on a writer for
//! long, never lower than an earlier read by any thread, and exact
//! whenever no writer stalls mid-move.
//!
//! # Orderings
//!
//! Tags are loaded with `Acquire` and rolled with `AcqRel` CAS so that a
//! thread that sees a new tag also sees the count words made in step before
//! it. The association between a count and its bucket is carried by the
//! `seq` value inside both words, not by ordering, so the fast path's count
//! CAS is `Relaxed`. Catch-up CASes are `Release` and the slow path loads
//! count words with `Acquire`, so a writer that sees a word already moved
//! past its view of the tag re-reads a tag at least that new (no spinning on
//! a stale tag). Folds into the totals are `Release`, read with `Acquire`.
//! For the readers of the totals: a move's announcement is `Relaxed`, its
//! emptying CAS and fold `Release`, and its end `Release`; the reader loads
//! the moves word, the folded totals and the count words with `Acquire`, so
//! a load that sees a move's CAS or fold makes the move's announcement
//! visible to the reader's second load of the moves word (which can then be
//! `Relaxed`), and a first load that sees a move ended sees its CAS and fold.
//! The hint is `Relaxed` both ways: it only picks which slot the fast path
//! tries, and that slot's own tag (full epoch and era, loaded `Acquire`) then
//! decides; any value of the hint, however stale, costs at most a slow path.
//! Window readers ([`counts`](Window::counts)) are best-effort snapshots of
//! concurrent writers; the transition decisions they feed are re-validated
//! by a CAS on the state word.
//!
//! # Wrap-around
//!
//! Epochs are `nanos / w` with `w >= 1 ms`, below 2^45, so 48 bits never wrap.
//! `seq` wraps at 256 but only its equality with the tag's matters and count
//! words lag by at most one. A catch-up re-checks the tag between loading the
//! count word and its CAS, so a thread whose view of the tag is a full turn
//! of `seq` old cannot push an in-step word ahead of its tag, except by an
//! ABA of both words across 256 rolls inside that re-check-to-CAS window; and
//! should a word ever be ahead of an unchanged tag, writers count in the
//! totals only until the slot rolls, instead of waiting for it. A reader
//! of the totals could take a half-done move for none only if 2^32 moves
//! in one stripe ended between its two loads of the moves word. Eras wrap at 256 closings; a writer stale by 128
//! closings could misjudge which era is newer, which needs a thread stalled
//! across 128 full open/half-open/close cycles, or a closer stalled in its
//! sweep while 128 more closings happen. Counts saturate at 2^48 per
//! bucket and stripe (beyond that a call still reaches the totals).

use crate::clock::Divider;
use crate::sync::{thread_index, thread_index_or_max, AtomicU64, Ordering};

const LINE_BYTES: usize = 128; // crossbeam's CachePadded size on x86_64
const LINE_WORDS: usize = LINE_BYTES / 8;
const WORDS_PER_SLOT: usize = 3;
/// A stripe's header: the folded successes and failures, rejections, and
/// the moves word (see "Reading the totals").
const HEAD_WORDS: usize = 4;
/// The moves word's index in a stripe's header.
const MOVES: usize = 3;
/// A stripe's last word counts its ignored verdicts (a plain counter, like
/// the rejections): reserved at the end so the slots keep their offsets.
const TAIL_WORDS: usize = 1;
/// The moves word: moves finished in the high 32 bits, moves in flight in
/// the low 32. A move starts with `+ MOVE_BEGIN` and ends with
/// `+ MOVE_END`, which takes one off the moves in flight and adds one to
/// those finished, so every move changes the word twice.
const MOVE_BEGIN: u64 = 1;
const MOVE_END: u64 = (1 << 32) - 1;
const MOVES_IN_FLIGHT: u64 = u32::MAX as u64;

/// `seq`'s place in a tag and in a count word alike: bits 8..16, above the
/// tag's era and a count word's zero byte.
const SEQ_SHIFT: u32 = 8;
const COUNT_SHIFT: u32 = 16;
const COUNT_BITS: u32 = 48;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
/// One call, added to a count word: the count sits above its 8-bit `seq`,
/// so an add that overflows sets the carry instead of touching `seq`.
const ONE: u64 = 1 << COUNT_SHIFT;
const EPOCH_SHIFT: u32 = 16;
/// The hint keeps its epoch where a tag does, and its slot's offset in the
/// stripe below it, in the bits a tag gives to the era and `seq`.
const HINT_EPOCH_SHIFT: u32 = EPOCH_SHIFT;
const HINT_SLOT_MASK: u64 = (1 << HINT_EPOCH_SHIFT) - 1;

/// `epoch` as the hint and a tag keep it (the bits below it zero): the form
/// of an upkeep's epoch cell, which [`Window::record_current`] compares
/// with a slot's tag. Epochs stay below 2^45 (see "Wrap-around"), so the
/// shift loses nothing, and the result's low bits are zero, unlike
/// [`NO_EPOCH`](crate::upkeep::NO_EPOCH)'s.
#[inline]
pub(crate) const fn epoch_word(epoch: u64) -> u64 {
    epoch << HINT_EPOCH_SHIFT
}

/// Whether a verdict was a success or a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    Failure,
}

/// A slot's tag, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tag {
    epoch: u64,
    era: u8,
    seq: u8,
}

impl Tag {
    #[inline]
    fn pack(self) -> u64 {
        (self.epoch << EPOCH_SHIFT) | (u64::from(self.seq) << SEQ_SHIFT) | u64::from(self.era)
    }

    #[inline]
    fn unpack(bits: u64) -> Tag {
        Tag {
            epoch: bits >> EPOCH_SHIFT,
            era: bits as u8,
            seq: (bits >> SEQ_SHIFT) as u8,
        }
    }
}

/// `seq` counts modulo 256, or modulo 4 under loom so that the models reach
/// a full turn of it within a few rolls.
const SEQ_MASK: u8 = if cfg!(fusebox_loom) { 3 } else { u8::MAX };

#[inline]
fn next_seq(seq: u8) -> u8 {
    seq.wrapping_add(1) & SEQ_MASK
}

#[inline]
fn prev_seq(seq: u8) -> u8 {
    seq.wrapping_sub(1) & SEQ_MASK
}

#[inline]
fn count_seq(bits: u64) -> u8 {
    (bits >> SEQ_SHIFT) as u8
}

#[inline]
fn count_of(bits: u64) -> u64 {
    bits >> COUNT_SHIFT
}

#[inline]
fn count_word(seq: u8, count: u64) -> u64 {
    ((count & COUNT_MASK) << COUNT_SHIFT) | (u64::from(seq) << SEQ_SHIFT)
}

/// The count word plus one call, or `None` if the count is saturated.
#[inline(always)]
fn plus_one(bits: u64) -> Option<u64> {
    bits.checked_add(ONE)
}

/// `a` is a later era than `b` (8-bit serial-number order).
#[inline]
pub(crate) fn era_newer(a: u8, b: u8) -> bool {
    (a.wrapping_sub(b) as i8) > 0
}

/// Calls in the window, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) successes: u64,
    pub(crate) failures: u64,
}

impl Counts {
    pub(crate) fn calls(self) -> u64 {
        self.successes + self.failures
    }
}

/// All-time totals, summed over stripes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) successes: u64,
    pub(crate) failures: u64,
    pub(crate) rejected: u64,
    pub(crate) ignored: u64,
}

pub(crate) struct Window {
    /// Every stripe's words in one allocation: stripe `s` is
    /// `words[first - HEAD_WORDS + s * stride ..][..stride]`, where `first`
    /// includes the offset that aligns the first stripe to 128 bytes and
    /// `stride` is a power of two of at least 128 bytes (so the hot path
    /// shifts instead of multiplying), so each
    /// stripe starts on its own pair of cache lines: a stripe is written by
    /// its own thread(s) and must never share a line with another.
    words: Box<[AtomicU64]>,
    /// Where things are, packed into one word so that locating the hot
    /// path's slot costs one load of it (see [`Geometry`]).
    geometry: Geometry,
    buckets: u64,
    /// The newest epoch any stripe counted in through the slow path: which
    /// slot the fast path tries first, packed with that slot's offset in a
    /// stripe (see [`Geometry::hint`]), so the fast path needs
    /// neither `first` nor `slot_mask`. Written about once per bucket width,
    /// read by every call: it sits with the read-only fields above.
    hint: AtomicU64,
}

/// The window's geometry: the index of stripe 0's first slot (the 128-byte
/// alignment offset plus `HEAD_WORDS`), `log2` of the stripe stride in words,
/// and the stripe and slot masks (stripes <= 64 and slots <= 1024 by the
/// configuration's limits). Each field is its own small integer, all in one
/// word: the hot path reads the two it needs (the stripe mask and the
/// stride) with one zero-extending load each, where one packed `u64` cost a
/// shift and a mask per field after its load.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    first: u16,
    stripe_mask: u16,
    slot_mask: u16,
    stride_shift: u8,
}

impl Geometry {
    fn new(first: usize, stride_shift: u32, stripe_mask: usize, slot_mask: usize) -> Geometry {
        // The hot path computes a stripe's start in `u32` (see `record_at`).
        // The hint packs a slot's offset in a stripe below its epoch.
        assert!(
            stride_shift < 32
                && (stripe_mask as u64 + 1) << stride_shift <= 1 << 32
                && (first + slot_mask * WORDS_PER_SLOT) as u64 <= HINT_SLOT_MASK,
            "window too large"
        );
        Geometry {
            first: u16::try_from(first).expect("window too large"),
            stripe_mask: u16::try_from(stripe_mask).expect("too many stripes"),
            slot_mask: u16::try_from(slot_mask).expect("too many buckets"),
            stride_shift: stride_shift as u8,
        }
    }

    #[inline(always)]
    fn slot_mask(self) -> usize {
        usize::from(self.slot_mask)
    }

    #[inline(always)]
    fn stripe_mask(self) -> usize {
        usize::from(self.stripe_mask)
    }

    #[inline(always)]
    fn stride_shift(self) -> u32 {
        u32::from(self.stride_shift)
    }

    #[inline(always)]
    fn first(self) -> usize {
        usize::from(self.first)
    }

    /// The hint for `epoch`: the epoch in the tag's place, and where its
    /// slot starts in a stripe in the low bits. One word, so a hint is
    /// never torn between the two.
    fn hint(self, epoch: u64) -> u64 {
        let slot = self.first() + (epoch as usize & self.slot_mask()) * WORDS_PER_SLOT;
        (epoch << HINT_EPOCH_SHIFT) | slot as u64
    }
}

impl std::fmt::Debug for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Window")
            .field("stripes", &self.stripes())
            .field("ring", &self.ring())
            .field("buckets", &self.buckets)
            .finish()
    }
}

impl Window {
    /// `stripes` must be a power of two; `buckets >= 1`.
    pub(crate) fn new(stripes: usize, buckets: u32) -> Window {
        let ring = (buckets as usize).next_power_of_two();
        let stride = (HEAD_WORDS + ring * WORDS_PER_SLOT + TAIL_WORDS)
            .next_power_of_two()
            .max(LINE_WORDS);
        let words: Box<[AtomicU64]> = (0..stripes * stride + LINE_WORDS - 1)
            .map(|_| AtomicU64::new(0))
            .collect();
        // Reading an address is safe; it only picks where stripe 0 starts.
        let addr = words.as_ptr() as usize;
        let offset = (LINE_BYTES - addr % LINE_BYTES) % LINE_BYTES / 8;
        let geometry = Geometry::new(
            offset + HEAD_WORDS,
            stride.trailing_zeros(),
            stripes - 1,
            ring - 1,
        );
        Window {
            words,
            geometry,
            buckets: u64::from(buckets),
            // Epoch 0's slot: a hint of 0 would point the fast path at a
            // stripe's header.
            hint: AtomicU64::new(geometry.hint(0)),
        }
    }

    /// Heap bytes this window owns.
    pub(crate) fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.words)
    }

    #[inline]
    fn stripes(&self) -> usize {
        self.geometry.stripe_mask() + 1
    }

    /// Words per stripe.
    #[inline(always)]
    fn stride(&self) -> usize {
        1 << self.geometry.stride_shift()
    }

    /// Slots per stripe.
    #[inline(always)]
    fn ring(&self) -> usize {
        self.geometry.slot_mask() + 1
    }

    #[inline]
    fn word(&self, stripe: usize, index: usize) -> &AtomicU64 {
        &self.words[self.geometry.first() - HEAD_WORDS + stripe * self.stride() + index]
    }

    #[inline(always)]
    fn my_stripe(&self) -> usize {
        thread_index() & self.geometry.stripe_mask()
    }

    /// The caller's stripe for the fast path: its thread's index without
    /// the first-use check, so a thread that has none yet (the index reads
    /// `usize::MAX`) writes to the last stripe. Its first trip through the
    /// slow path gives it an index ([`record_slow_at`](Self::record_slow_at)
    /// stripes by [`my_stripe`](Self::my_stripe)), and every thread takes
    /// that path at least once per bucket it writes in (the first write of
    /// a bucket in a stripe finds the slot's tag stale) and on every lost
    /// CAS, so threads share that stripe only briefly. Any stripe is
    /// correct: a slot's counts are summed over all stripes.
    #[inline(always)]
    fn my_stripe_fast(&self) -> usize {
        thread_index_or_max() & self.geometry.stripe_mask()
    }

    #[inline]
    fn total_word(&self, stripe: usize, which: usize) -> &AtomicU64 {
        self.word(stripe, which)
    }

    #[inline]
    fn fold(&self, stripe: usize, outcome: Outcome, n: u64) {
        if n != 0 {
            // Release, paired with the Acquire in `totals()`: a reader that
            // sees this fold also sees the CAS that took `n` out of its slot,
            // so it cannot count `n` twice.
            self.total_word(stripe, outcome as usize)
                .fetch_add(n, Ordering::Release);
        }
    }

    /// Counts a verdict in the totals only (stale verdicts, R9).
    #[inline]
    pub(crate) fn count_total(&self, outcome: Outcome) {
        self.fold(self.my_stripe(), outcome, 1);
    }

    /// Counts one rejected request.
    #[inline]
    pub(crate) fn count_rejected(&self) {
        self.total_word(self.my_stripe(), 2)
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one ignored verdict: the totals only, never the window.
    #[inline]
    pub(crate) fn count_ignored(&self) {
        self.word(self.my_stripe(), self.stride() - 1)
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Records a verdict of `era` at `epoch` in the window and the totals.
    #[inline]
    pub(crate) fn record(&self, epoch: u64, era: u8, outcome: Outcome) {
        self.record_at(epoch, &Divider::new(1), era, outcome);
    }

    /// Records a verdict of `era` made at clock reading `t` (in whatever
    /// unit `bucket` divides: epoch `= floor(t / bucket)`) in the window and
    /// the totals.
    ///
    /// The common case (the stripe's hinted slot holds this bucket and its
    /// count word is in step) is one CAS on the caller's own stripe after
    /// loads of the stripe index, the stripe mask and stride, the hint (the
    /// slot's epoch and its offset in the stripe, one word), the words' base
    /// and length, then the slot's tag and count, with no division and no
    /// branch on the thread's first use (see
    /// [`my_stripe_fast`](Self::my_stripe_fast)); everything else is
    /// [`record_slow`](Self::record_slow).
    ///
    /// On the x86 machine the benchmarks run on, the locked instruction is
    /// a small part of the call: replacing the CAS with a plain store (an
    /// unsound experiment) saved about 0.3 ns of ~5.5, and cutting four
    /// loads saved about as much (the old `docs/benchmarks-log.md` in git history, "Where the time
    /// goes").
    /// Hence the geometry in one word, the divider loaded only on the slow path,
    /// and the tag's epoch and era checked in one compare.
    ///
    /// Two choices keep the CAS off the clock's critical path (measured on
    /// x86, see the old `docs/benchmarks-log.md` in git history, "The previous session's hot-path
    /// rework"):
    ///
    /// * the slot comes from the *hint* (the newest epoch counted), not from
    ///   `t`, so the CAS's address does not wait for the clock reading, and
    ///   the hint's load runs in parallel with the stripe's address;
    /// * `t` is checked against the hinted bucket's bounds (one multiply of
    ///   the hint, one subtraction and one comparison) instead of dividing
    ///   `t`, so the branch the CAS waits on resolves soon after the reading.
    ///
    /// The hint is only a guess: the bounds check and the tag check (full
    /// epoch, era and `seq`) decide, since a slot holds epoch `e` only at
    /// index `e & (R - 1)`.
    #[inline(always)]
    pub(crate) fn record_at(&self, t: u64, bucket: &Divider, era: u8, outcome: Outcome) {
        if !self.record_in_hinted_bucket(t, bucket, era, outcome) {
            self.record_slow_at(t, bucket, era, outcome);
        }
    }

    /// The fast path of [`record_at`](Self::record_at) alone: `false`
    /// (nothing recorded) if `t` is not in the hinted bucket or its slot is
    /// not in step. Any `t` is safe here: one that no real reading gives
    /// (2^63 and up) is refused.
    #[inline(always)]
    pub(crate) fn record_in_hinted_bucket(
        &self,
        t: u64,
        bucket: &Divider,
        era: u8,
        outcome: Outcome,
    ) -> bool {
        // `epoch * width <= t < (epoch + 1) * width`: `t`'s epoch is the
        // hint's. Hints are epochs of real readings, so `epoch * width`
        // never overflows, and a `t` below it wraps to a difference that is
        // not below `width`.
        let in_hinted_bucket = |hint: u64| {
            let epoch = hint >> HINT_EPOCH_SHIFT;
            (t.wrapping_sub(epoch.wrapping_mul(bucket.width())) < bucket.width())
                .then_some(hint & !HINT_SLOT_MASK)
        };
        self.record_hinted(in_hinted_bucket, era, outcome)
    }

    /// Records a verdict of `era` in the bucket an upkeep's epoch cell says
    /// is current (`now`, an [`epoch_word`]), if the hinted slot holds that
    /// bucket and is in step: the fast path of [`record_at`](Self::record_at)
    /// with no reading and no bounds check. The cell is what the slot's tag
    /// must hold; the hint only picks the slot (a slot holds epoch `e` only
    /// at index `e & (R - 1)`, so a tag that matches the cell is the cell's
    /// bucket whichever slot a stale hint picked). `false` (nothing
    /// recorded) sends the caller to `record_at` with a reading;
    /// [`NO_EPOCH`](crate::upkeep::NO_EPOCH) always does: its bits are all
    /// set, and no tag is (epochs stay below 2^45).
    #[inline(always)]
    pub(crate) fn record_current(&self, now: u64, era: u8, outcome: Outcome) -> bool {
        self.record_hinted(|_| Some(now), era, outcome)
    }

    /// The fast path of both: `true` if the count landed in the hinted
    /// slot of the caller's stripe. `bucket`, given the hint, returns the
    /// bucket the slot must hold (as an [`epoch_word`]), or `None` to
    /// record nothing.
    #[inline(always)]
    fn record_hinted(
        &self,
        bucket: impl FnOnce(u64) -> Option<u64>,
        era: u8,
        outcome: Outcome,
    ) -> bool {
        let stripe = self.my_stripe_fast();
        let hint = self.hint.load(Ordering::Relaxed);
        // The stripe's start in `u32` (`stride_shift < 32`, the stripe below
        // 2^16): the compiler then knows `at + 3` cannot overflow, and the
        // slice below costs one bounds compare, not two. The slot's place in
        // the stripe is the hint's low bits.
        let at = (stripe as u32).wrapping_shl(self.geometry.stride_shift()) as usize
            + (hint as u16 as usize);
        let Some([tag_word, success, failure]) = self.words.get(at..at + 3) else {
            // Unreachable: every hint is a slot's offset inside a stripe
            // (`Geometry::hint`, checked by `hints_point_at_their_epochs_slot`)
            // and the stripe index is masked. `false` (to the slow path)
            // would be the safe answer, but it gave this loop a cold block
            // and moved its spills; the bounds check stays only to keep
            // the function safe code.
            return true;
        };
        let tag = tag_word.load(Ordering::Acquire);
        let counter = match outcome {
            Outcome::Success => success,
            Outcome::Failure => failure,
        };
        let c = counter.load(Ordering::Relaxed);
        // The whole tag in one compare: the bucket's epoch word is already
        // where the tag keeps its epoch, the `seq` must be the count word's,
        // which sits where the tag keeps it above a byte that is always zero
        // (so the word's low 16 bits are the `seq` field as is), and the era
        // is the tag's low byte. Saturation is the add's carry.
        let Some(epoch) = bucket(hint) else {
            return false;
        };
        if tag == epoch | u64::from(c as u16) | u64::from(era) {
            if let Some(next) = plus_one(c) {
                return counter
                    .compare_exchange(c, next, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok();
            }
        }
        false
    }

    /// The slow path from a reading: the division happens here, off the
    /// fast path (whose registers then need not hold the divider).
    #[cold]
    #[inline(never)]
    fn record_slow_at(&self, t: u64, bucket: &Divider, era: u8, outcome: Outcome) {
        // `my_stripe`, not the fast path's stripe: a thread without an index
        // gets one here.
        self.record_slow(self.my_stripe(), bucket.div(t), era, outcome);
    }

    /// The roll-over protocol (see the module docs).
    #[cold]
    #[inline(never)]
    fn record_slow(&self, stripe: usize, epoch: u64, era: u8, outcome: Outcome) {
        let base = HEAD_WORDS + ((epoch as usize) & self.geometry.slot_mask()) * WORDS_PER_SLOT;
        let tag_word = self.word(stripe, base);
        let counter = self.word(stripe, base + 1 + outcome as usize);
        loop {
            let tag_bits = tag_word.load(Ordering::Acquire);
            let tag = Tag::unpack(tag_bits);
            if tag.epoch == epoch && tag.era == era {
                let c = counter.load(Ordering::Acquire);
                if count_seq(c) == prev_seq(tag.seq) {
                    self.catch_up(stripe, outcome, counter, c, tag_word, tag_bits);
                    continue;
                }
                if count_seq(c) != tag.seq {
                    // The word is ahead of our view of the tag. Normally the
                    // view is stale and a reload shows the newer tag. If the
                    // tag has not moved, the word was pushed ahead by a thread
                    // whose view was a full turn of `seq` old (see
                    // "Wrap-around"): nobody can count in this bucket until
                    // the slot rolls again, so count in the totals only
                    // rather than wait for that.
                    if tag_word.load(Ordering::Acquire) == tag_bits {
                        self.fold(stripe, outcome, 1);
                        return;
                    }
                    continue;
                }
                let Some(next) = plus_one(c) else {
                    // Saturated bucket: the call still reaches the totals.
                    self.fold(stripe, outcome, 1);
                    return;
                };
                if counter
                    .compare_exchange_weak(c, next, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
                {
                    // Point the fast path at this bucket. Only forward: a
                    // writer whose reading is a little behind (at a bucket
                    // boundary) must not pull every stripe back. A racing
                    // store can still leave an older epoch; a wrong hint
                    // costs a slow path, never a wrong count.
                    if self.hint.load(Ordering::Relaxed) >> HINT_EPOCH_SHIFT < epoch {
                        self.hint
                            .store(self.geometry.hint(epoch), Ordering::Relaxed);
                    }
                    return;
                }
                continue;
            }
            let slot_is_newer =
                tag.epoch > epoch || (tag.epoch == epoch && era_newer(tag.era, era));
            if slot_is_newer {
                // Our clock read is older than the bucket the slot holds now:
                // the sample is outside the window already.
                self.fold(stripe, outcome, 1);
                return;
            }
            // Roll the slot: count words in step first, then the tag.
            for which in [Outcome::Success, Outcome::Failure] {
                let w = self.word(stripe, base + 1 + which as usize);
                self.catch_up(
                    stripe,
                    which,
                    w,
                    w.load(Ordering::Acquire),
                    tag_word,
                    tag_bits,
                );
            }
            let next = Tag {
                epoch,
                era,
                seq: next_seq(tag.seq),
            };
            // Success or failure, the loop re-reads the tag.
            let _ = tag_word.compare_exchange(
                tag_bits,
                next.pack(),
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
    }

    /// Brings a count word that is *behind* the tag `tag_bits` in step with
    /// it, folding its old count. A word already at or past the tag's seq
    /// (the caller's view of the tag is stale) is left alone.
    #[inline]
    fn catch_up(
        &self,
        stripe: usize,
        outcome: Outcome,
        w: &AtomicU64,
        mut c: u64,
        tag_word: &AtomicU64,
        tag_bits: u64,
    ) {
        let seq = Tag::unpack(tag_bits).seq;
        let moves = self.word(stripe, MOVES);
        // Whether this catch-up has announced a move on the moves word. A
        // word whose count is zero moves nothing a reader sums, so it is
        // caught up without one (the common case for the failure word).
        let mut announced = false;
        // Only one step, only forward: under the invariant (a count word is
        // at its tag's seq or one behind) this is "behind", and a writer with
        // a stale view of the tag leaves a word that is ahead of it alone.
        // Release/Acquire: a writer that sees a word moved to `seq` then sees
        // a tag at least as new, so a stale view of the tag cannot make it
        // spin.
        while count_seq(c) == prev_seq(seq) {
            // "Behind" is judged on 8 bits: a view stale by a full turn of
            // `seq` (255 rolls of this slot while the caller was preempted)
            // would see an in-step word as behind and push it ahead of its
            // tag. The tag is re-checked after `c` was loaded, and the CAS
            // expects `c`: any roll in between moves `c` first and fails it.
            if tag_word.load(Ordering::Acquire) != tag_bits {
                break;
            }
            if !announced && count_of(c) != 0 {
                // Relaxed: the CAS and fold below are `Release`, so a reader
                // that sees either of them (with `Acquire`) also sees this.
                moves.fetch_add(MOVE_BEGIN, Ordering::Relaxed);
                announced = true;
            }
            match w.compare_exchange_weak(
                c,
                count_word(seq, 0),
                Ordering::Release,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.fold(stripe, outcome, count_of(c));
                    break;
                }
                Err(actual) => c = actual,
            }
        }
        if announced {
            // Release: a reader that sees the move finished (`Acquire`) sees
            // the count out of its word and in the folded total.
            moves.fetch_add(MOVE_END, Ordering::Release);
        }
    }

    /// Rolls every slot of every stripe that still holds an era other than
    /// `era` into `era` (same epoch, zero counts, old counts folded into the
    /// totals). Called by the thread that closed the breaker, so that no slot
    /// keeps an old era label for long: 8-bit era labels then never alias.
    pub(crate) fn sweep(&self, era: u8) {
        for stripe in 0..self.stripes() {
            for slot in 0..self.ring() {
                let base = HEAD_WORDS + slot * WORDS_PER_SLOT;
                let tag_word = self.word(stripe, base);
                loop {
                    let tag_bits = tag_word.load(Ordering::Acquire);
                    let tag = Tag::unpack(tag_bits);
                    if tag.era == era || era_newer(tag.era, era) {
                        break;
                    }
                    for which in [Outcome::Success, Outcome::Failure] {
                        let w = self.word(stripe, base + 1 + which as usize);
                        let c = w.load(Ordering::Acquire);
                        self.catch_up(stripe, which, w, c, tag_word, tag_bits);
                    }
                    let next = Tag {
                        era,
                        seq: next_seq(tag.seq),
                        ..tag
                    };
                    if tag_word
                        .compare_exchange(
                            tag_bits,
                            next.pack(),
                            Ordering::AcqRel,
                            Ordering::Acquire,
                        )
                        .is_ok()
                    {
                        break;
                    }
                }
            }
        }
    }

    /// The newest epoch counted so far, as far as the hint knows (it moves
    /// forward only, but a racing store can leave it a little behind).
    #[inline]
    pub(crate) fn newest_epoch(&self) -> u64 {
        self.hint.load(Ordering::Relaxed) >> HINT_EPOCH_SHIFT
    }

    /// The calls of `era` in the `B` buckets ending at `epoch` (and any newer
    /// bucket a racing writer already opened). O(stripes × ring).
    pub(crate) fn counts(&self, epoch: u64, era: u8) -> Counts {
        let oldest = epoch.saturating_sub(self.buckets - 1);
        let mut counts = Counts::default();
        // Branch-free per slot: every failure that does not trip on the
        // consecutive count runs this scan (R2), and the slots' labels vary
        // too much for a branch predictor.
        let keep = |yes: bool, n: u64| n & 0u64.wrapping_sub(u64::from(yes));
        for stripe in 0..self.stripes() {
            let start = self.geometry.first() + stripe * self.stride();
            let slots = &self.words[start..start + self.ring() * WORDS_PER_SLOT];
            for slot in slots.chunks_exact(WORDS_PER_SLOT) {
                let tag = Tag::unpack(slot[0].load(Ordering::Acquire));
                let live = (tag.era == era) & (tag.epoch >= oldest);
                let s = slot[1].load(Ordering::Relaxed);
                let f = slot[2].load(Ordering::Relaxed);
                counts.successes += keep(live & (count_seq(s) == tag.seq), count_of(s));
                counts.failures += keep(live & (count_seq(f) == tag.seq), count_of(f));
            }
        }
        counts
    }

    /// The all-time totals. O(stripes × ring).
    ///
    /// Exact: every verdict counted before the call is in them once, unless
    /// a writer stalled in the middle of a move for longer than a reader
    /// waits; and never less than any earlier read returned. Each stripe
    /// is read between two loads of its moves word and read again if a
    /// move was in flight or happened meanwhile (see "Reading the
    /// totals"), so this may wait, briefly, for a writer that is folding a
    /// count out of a slot.
    pub(crate) fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for stripe in 0..self.stripes() {
            let (successes, failures) = self.stripe_totals(stripe);
            t.successes += successes;
            t.failures += failures;
            t.rejected += self.total_word(stripe, 2).load(Ordering::Relaxed);
            t.ignored += self.word(stripe, self.stride() - 1).load(Ordering::Relaxed);
        }
        // A read that gave up on a stalled move may be low by its count:
        // never return less than any read before this one returned.
        // Relaxed: a read-modify-write reads the latest value whatever its
        // ordering, and no other memory hangs on these words.
        t.successes = self
            .high(0)
            .fetch_max(t.successes, Ordering::Relaxed)
            .max(t.successes);
        t.failures = self
            .high(1)
            .fetch_max(t.failures, Ordering::Relaxed)
            .max(t.failures);
        t
    }

    /// The largest successes (`0`) or failures (`1`) total any read of the
    /// totals has returned. Two of the words the allocation has spare for
    /// aligning stripe 0 (15 in all): before stripe 0 if its offset leaves
    /// two, else after the last stripe. Only readers of the totals write
    /// them.
    fn high(&self, which: usize) -> &AtomicU64 {
        let offset = self.geometry.first() - HEAD_WORDS;
        let at = if offset >= 2 {
            which
        } else {
            self.words.len() - 2 + which
        };
        &self.words[at]
    }

    /// One stripe's successes and failures, folded and in its slots, read
    /// while no move of a count out of a slot was under way in the stripe;
    /// or, once [`Patience`] runs out, read as they are (see "Reading the
    /// totals").
    fn stripe_totals(&self, stripe: usize) -> (u64, u64) {
        let moves = self.word(stripe, MOVES);
        let mut patience = Patience::new();
        loop {
            // Acquire: every move finished by now is seen whole (its count
            // out of the slot and in the folded total).
            let before = moves.load(Ordering::Acquire);
            let settled = before & MOVES_IN_FLIGHT == 0;
            // Given up after the wait, whether a move is in flight or the
            // moves word keeps changing under the read.
            let give_up = patience.exhausted();
            if settled || give_up {
                // Acquire loads: a load that sees a move's CAS or fold makes
                // that move's announcement visible to the second load of
                // the moves word, which then differs from `before`.
                let mut successes = self.total_word(stripe, 0).load(Ordering::Acquire);
                let mut failures = self.total_word(stripe, 1).load(Ordering::Acquire);
                for slot in 0..self.ring() {
                    let base = HEAD_WORDS + slot * WORDS_PER_SLOT;
                    successes += count_of(self.word(stripe, base + 1).load(Ordering::Acquire));
                    failures += count_of(self.word(stripe, base + 2).load(Ordering::Acquire));
                }
                if give_up || moves.load(Ordering::Relaxed) == before {
                    return (successes, failures);
                }
            }
            patience.wait();
        }
    }
}

/// How long a reader of the totals waits for a move in flight to end:
/// spins, then yields, for at most [`MAX_WAIT`](Patience::MAX_WAIT) in
/// all. A move is a few instructions, so only a writer that is not running
/// (preempted in the middle of one, stopped by a debugger, or a thread that
/// does not exist in a child process forked while it was moving) makes a
/// reader wait that long; the reader then reads the stripe as it is rather
/// than wait on. Under loom the wait has no limit: the models check what a
/// reader sees when writers run.
struct Patience {
    round: u32,
    #[cfg(not(fusebox_loom))]
    since: Option<std::time::Instant>,
}

impl Patience {
    /// Rounds of spinning before the reader starts yielding and timing.
    const SPINS: u32 = 64;
    /// The longest a reader waits for one stripe's move in flight.
    #[cfg(not(fusebox_loom))]
    const MAX_WAIT: std::time::Duration = std::time::Duration::from_millis(10);

    fn new() -> Patience {
        Patience {
            round: 0,
            #[cfg(not(fusebox_loom))]
            since: None,
        }
    }

    fn wait(&mut self) {
        crate::sync::wait_round(self.round, Self::SPINS);
        self.round = self.round.saturating_add(1);
    }

    /// Whether the reader has waited long enough for this stripe.
    #[cfg(not(fusebox_loom))]
    fn exhausted(&mut self) -> bool {
        if self.round < Self::SPINS {
            return false;
        }
        let since = *self.since.get_or_insert_with(std::time::Instant::now);
        since.elapsed() >= Self::MAX_WAIT
    }

    #[cfg(fusebox_loom)]
    fn exhausted(&mut self) -> bool {
        false
    }
}

#[cfg(all(test, not(fusebox_loom)))]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip() {
        let t = Tag {
            epoch: (1 << 48) - 1,
            era: 0xAB,
            seq: 0xCD,
        };
        assert_eq!(Tag::unpack(t.pack()), t);
        let c = count_word(7, COUNT_MASK);
        assert_eq!((count_seq(c), count_of(c)), (7, COUNT_MASK));
        assert_eq!(plus_one(c), None, "a saturated count does not wrap");
        let c = count_word(0xFF, 41);
        assert_eq!(plus_one(c), Some(count_word(0xFF, 42)), "seq is untouched");
        // The fast path builds a tag's low 16 bits from a count word's low 16
        // bits and the era: a count word's `seq` is where the tag's is, and
        // its low byte is zero at any count.
        for count in [0, 1, 0xFF, COUNT_MASK] {
            let c = count_word(t.seq, count);
            assert_eq!(c & 0xFF, 0);
            assert_eq!(u64::from(c as u16) | u64::from(t.era), t.pack() & 0xFFFF);
            if let Some(next) = plus_one(c) {
                assert_eq!(next as u16, c as u16, "an add keeps the low bits");
            }
        }
    }

    #[test]
    fn geometry_round_trips_at_the_configuration_limits() {
        for (first, shift, stripes, ring) in [(3, 4, 1, 1), (18, 12, 64, 1024), (15, 6, 16, 16)] {
            let g = Geometry::new(first, shift, stripes - 1, ring - 1);
            assert_eq!(
                (g.first(), g.stride_shift(), g.stripe_mask(), g.slot_mask()),
                (first, shift, stripes - 1, ring - 1)
            );
        }
        // The largest window the configuration allows fits.
        let w = Window::new(
            crate::config::MAX_STRIPES,
            crate::config::MAX_WINDOW_BUCKETS,
        );
        assert_eq!(w.stripes(), crate::config::MAX_STRIPES);
        assert_eq!(w.ring(), 1024);
    }

    #[test]
    fn hints_point_at_their_epochs_slot() {
        // The largest window only outside miri, where it takes a minute
        // (`geometry_round_trips_at_the_configuration_limits` builds it
        // there too).
        let largest = (
            crate::config::MAX_STRIPES,
            crate::config::MAX_WINDOW_BUCKETS,
        );
        let cases = [(1, 1), (4, 10), largest];
        for &(stripes, buckets) in &cases[..if cfg!(miri) { 2 } else { 3 }] {
            let w = Window::new(stripes, buckets);
            let g = w.geometry;
            for e in [0u64, 1, 9, 10, 1023, 1024, (1 << 45) - 1] {
                let h = g.hint(e);
                assert_eq!(h >> HINT_EPOCH_SHIFT, e);
                let slot = g.first() + (e as usize & g.slot_mask()) * WORDS_PER_SLOT;
                assert_eq!((h & HINT_SLOT_MASK) as usize, slot);
            }
            // A new window's hint is epoch 0's slot, never a stripe's
            // header or padding (whose words the fast path would misread
            // as a tag and a count).
            assert_eq!(w.hint.load(Ordering::Relaxed), g.hint(0));
        }
    }

    #[test]
    fn buckets_expire_after_the_window() {
        let w = Window::new(2, 4);
        for e in 0..4 {
            w.record(e, 0, Outcome::Success);
        }
        w.record(3, 0, Outcome::Failure);
        assert_eq!(
            w.counts(3, 0),
            Counts {
                successes: 4,
                failures: 1
            }
        );
        assert_eq!(
            w.counts(4, 0),
            Counts {
                successes: 3,
                failures: 1
            }
        );
        assert_eq!(
            w.counts(6, 0),
            Counts {
                successes: 1,
                failures: 1
            }
        );
        assert_eq!(w.counts(7, 0), Counts::default());
        // The ring reuses slot 0 for epoch 8 and folds epoch 0 into the totals.
        w.record(8, 0, Outcome::Failure);
        assert_eq!(
            w.counts(8, 0),
            Counts {
                successes: 0,
                failures: 1
            }
        );
        let t = w.totals();
        assert_eq!((t.successes, t.failures, t.rejected), (4, 2, 0));
    }

    #[test]
    fn a_new_era_hides_the_old_one_but_keeps_totals() {
        let w = Window::new(1, 10);
        w.record(5, 1, Outcome::Failure);
        w.record(5, 1, Outcome::Failure);
        w.record(5, 2, Outcome::Success);
        assert_eq!(w.counts(5, 1), Counts::default(), "era 1 slot was rolled");
        assert_eq!(
            w.counts(5, 2),
            Counts {
                successes: 1,
                failures: 0
            }
        );
        // A late writer of the old era at the same epoch is stale.
        w.record(5, 1, Outcome::Failure);
        assert_eq!(
            w.counts(5, 2),
            Counts {
                successes: 1,
                failures: 0
            }
        );
        assert_eq!(w.totals().failures, 3);
    }

    /// A move announced and never ended (its writer stopped, or does not
    /// exist in a forked child) makes a reader wait at most
    /// `Patience::MAX_WAIT` per stripe, then read the stripe as it is.
    #[test]
    fn a_move_that_never_ends_does_not_hang_the_totals() {
        let w = Window::new(2, 4);
        w.record(0, 0, Outcome::Success);
        w.record(1, 0, Outcome::Failure);
        w.word(1, MOVES).fetch_add(MOVE_BEGIN, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let t = w.totals();
        assert_eq!((t.successes, t.failures), (1, 1));
        assert!(started.elapsed() >= Patience::MAX_WAIT, "it waited first");
        // Writers go on counting and rolling meanwhile.
        w.record(4, 0, Outcome::Success);
        w.record(5, 0, Outcome::Success);
        let t = w.totals();
        assert_eq!((t.successes, t.failures), (3, 1));
    }

    /// A writer stalled between a move's emptying CAS and its fold, for
    /// longer than a reader waits: the reader's own read of the stripe
    /// misses the count, but the totals do not go below what an earlier
    /// read returned.
    #[test]
    fn totals_never_go_down_past_a_stalled_move() {
        let w = Window::new(1, 1);
        w.record(0, 0, Outcome::Success);
        w.record(0, 0, Outcome::Success);
        assert_eq!(w.totals().successes, 2);
        // The stalled writer: announced, slot emptied, not folded.
        w.word(0, MOVES).fetch_add(MOVE_BEGIN, Ordering::Relaxed);
        let word = w.word(0, HEAD_WORDS + 1);
        let c = word.load(Ordering::Acquire);
        word.store(count_word(next_seq(count_seq(c)), 0), Ordering::Release);
        assert_eq!(w.totals().successes, 2, "the high-water mark");
        // The writer resumes: fold, end.
        w.fold(0, Outcome::Success, count_of(c));
        w.word(0, MOVES).fetch_add(MOVE_END, Ordering::Release);
        assert_eq!(w.totals().successes, 2);
    }

    /// The high-water words are two of the allocation's spare words, never
    /// a word of a stripe.
    #[test]
    fn high_water_words_lie_outside_every_stripe() {
        for _ in 0..if cfg!(miri) { 2 } else { 64 } {
            for (stripes, buckets) in [(1, 1), (2, 10), (4, 3), (16, 100)] {
                let w = Window::new(stripes, buckets);
                let first = w.geometry.first() - HEAD_WORDS;
                let stripes_span = first..first + stripes * w.stride();
                for which in 0..2 {
                    let at = (w.high(which) as *const AtomicU64 as usize
                        - w.words.as_ptr() as usize)
                        / 8;
                    assert!(at < w.words.len() && !stripes_span.contains(&at));
                }
                assert_ne!(w.high(0) as *const AtomicU64, w.high(1) as *const AtomicU64);
            }
        }
    }

    #[test]
    fn stale_samples_reach_only_the_totals() {
        let w = Window::new(1, 2);
        w.record(10, 0, Outcome::Success);
        w.record(8, 0, Outcome::Success); // same slot, older epoch
        assert_eq!(w.counts(10, 0).successes, 1);
        assert_eq!(w.totals().successes, 2);
        w.count_rejected();
        assert_eq!(w.totals().rejected, 1);
    }

    #[test]
    fn stripes_never_share_a_cache_line() {
        for stripes in [1, 2, 4, 16] {
            let w = Window::new(stripes, 10);
            for s in 0..stripes {
                let first = w.word(s, 0) as *const AtomicU64 as usize;
                assert_eq!(first % LINE_BYTES, 0, "stripe {s} starts a 128-byte block");
                let last = w.word(s, w.stride() - 1) as *const AtomicU64 as usize;
                assert!(last + 8 <= first + w.stride() * 8);
            }
        }
        // Default: 10 buckets -> ring 16 -> 4 + 48 words -> 4 blocks of 128 bytes.
        assert_eq!(Window::new(1, 10).stride() * 8, 4 * LINE_BYTES);
    }
}
