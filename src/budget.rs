//! The R2 scan budget: how many more failures the error-rate rule can take
//! without summing the window again.
//!
//! Every CLOSED failure that does not trip on R1 must check R2, and the
//! window's sums cost O(stripes × ring) loads, most of them on lines other
//! threads write: at 16 threads and 1 % failures that scan, not the count,
//! is the failure path. But one scan bounds many failures. If a scan at
//! epoch `e` saw `F` failures of `C` calls, any later moment in the same
//! epoch and era has `F + x` failures of at least `C + x` calls, where `x`
//! is the number of failures recorded since the scan (buckets only grow
//! within an epoch; successes only lower the rate). The rate
//! `(F + x) / (C + x)` grows with `x`, so every `x` up to the largest `k`
//! with `rate(F + k, C + k) < threshold` leaves R2 unable to trip. The
//! scanning failure grants that `k`; the next `k` failures take one each and
//! skip the scan; the one after scans again. The decision is the same as
//! scanning on every failure: the budget only skips scans whose answer is
//! already known to be "no trip".
//!
//! "Buckets only grow" holds for a failure at the newest epoch counted. A
//! failure *behind* it (its reading lags another thread's at a boundary,
//! or the clock went back) may see a window that a newer bucket shrank by
//! recycling the ring slot of one of its buckets, so its rate can jump.
//! Such a failure still takes its share of a grant (the grant's count of
//! failures since its scan must include it), but scans anyway and grants
//! nothing (`CircuitBreaker::evaluate_trip`; test
//! `r2_a_failure_behind_the_newest_bucket_scans_again`).
//!
//! # The word
//!
//! ```text
//! epoch (36) | era (8) | version (10) | left (10)
//! ```
//!
//! `left` failures of `epoch` in `era` (the window's 8-bit era label) may
//! skip. `version` changes with every write, so a grant, which expects the
//! exact word its scanner wrote before scanning, fails if any failure came
//! in between (that failure may be missing from the scan, and the grant
//! would not count it).
//!
//! # Protocol
//!
//! Every current CLOSED failure records itself in the window, then calls
//! [`take`](ScanBudget::take) (a CAS):
//! * same era and epoch, `left > 0`: `left - 1`, skip the scan;
//! * same era, a *later* epoch in the word (this thread's clock reading
//!   lags): take one from `left` if any (the failure may land in that
//!   epoch's window) and scan, with nothing to grant;
//! * a later era in the word (a stale failure): scan, write nothing;
//! * otherwise: claim the word for this era and epoch with `left = 0`,
//!   scan, and if the window does not trip, [`grant`](ScanBudget::grant) by
//!   a CAS from exactly that claimed word, if the breaker is still in the
//!   generation the failure was admitted in.
//!
//! A new era (the breaker closed) never uses an old era's grant: the labels
//! differ. The closer also [`revoke`](ScanBudget::revoke)s, zeroing `left`
//! and bumping `version`, so no grant, and no grant in flight, outlives the
//! closing even if 8-bit labels were to meet again.
//!
//! # Orderings
//!
//! `take` and `revoke` are `AcqRel` CASes and `grant` a `Release` CAS: all
//! writes to the word form one release sequence, so a scanner that claims
//! the word sees the window records of every failure whose `take` came
//! before its claim (each failure records before it takes). Failures whose
//! `take` comes after the claim either break the grant (`version`) or come
//! after it and take from it. A grant's full epoch is stored (`Relaxed`)
//! in the second word before its `Release` CAS, and a failure loads it
//! after its `AcqRel` take, so it sees that grant's epoch or a later one;
//! a later one, or one a failed grant left, only makes it scan.
//!
//! # Wrap-around
//!
//! Epochs are compared on 36 bits: more than two years of the narrowest
//! (1 ms) buckets, 13 000 years of the default 6 s ones. For a skip, 36
//! bits are not enough: a failure exactly 2^36 buckets after the last grant
//! (no failure checked R2 in between) would match it. So each grant also
//! stores its full epoch in a second word before its CAS, and a failure
//! whose 36 bits match skips only if that word holds its own full epoch;
//! otherwise it scans, like a failure behind the newest bucket (test
//! `r2_a_grant_2_pow_36_buckets_old_is_not_spent`). `version` wraps at
//! 1 024 writes: a grant could wrongly succeed only if its scanner stalled
//! between claim and grant while exactly a multiple of 1 024 other writes
//! happened. Eras are 8-bit labels, kept from aliasing by the revocation.

use crate::policy;
use crate::sync::{AtomicU64, Ordering};
use crate::window;

const LEFT_BITS: u32 = 10;
const VERSION_BITS: u32 = 10;
const ERA_BITS: u32 = 8;
const EPOCH_BITS: u32 = 36;
const LEFT_MASK: u64 = (1 << LEFT_BITS) - 1;
const VERSION_MASK: u64 = (1 << VERSION_BITS) - 1;
const EPOCH_MASK: u64 = (1 << EPOCH_BITS) - 1;
const VERSION_SHIFT: u32 = LEFT_BITS;
const ERA_SHIFT: u32 = LEFT_BITS + VERSION_BITS;
const EPOCH_SHIFT: u32 = ERA_SHIFT + ERA_BITS;

/// The most failures one scan can grant.
pub(crate) const MAX_GRANT: u64 = LEFT_MASK;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parts {
    epoch: u64,
    era: u8,
    version: u64,
    left: u64,
}

impl Parts {
    #[inline]
    fn unpack(w: u64) -> Parts {
        Parts {
            epoch: w >> EPOCH_SHIFT,
            era: (w >> ERA_SHIFT) as u8,
            version: (w >> VERSION_SHIFT) & VERSION_MASK,
            left: w & LEFT_MASK,
        }
    }

    #[inline]
    fn pack(self) -> u64 {
        ((self.epoch & EPOCH_MASK) << EPOCH_SHIFT)
            | (u64::from(self.era) << ERA_SHIFT)
            | ((self.version & VERSION_MASK) << VERSION_SHIFT)
            | (self.left & LEFT_MASK)
    }

    /// The same word, written once more: `version + 1`.
    #[inline]
    fn next(self, epoch: u64, era: u8, left: u64) -> Parts {
        Parts {
            epoch,
            era,
            version: (self.version + 1) & VERSION_MASK,
            left,
        }
    }
}

/// `a` is a later epoch than `b` on 36 bits (serial-number order).
#[inline]
fn epoch_newer(a: u64, b: u64) -> bool {
    let d = a.wrapping_sub(b) & EPOCH_MASK;
    d != 0 && d < 1 << (EPOCH_BITS - 1)
}

/// What a failure must do about R2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Take {
    /// A grant covers it: R2 cannot trip.
    Skip,
    /// Scan; if it does not trip, the scan may be granted from this claim.
    Scan(Claim),
    /// Scan; a later epoch or era owns the word, so there is nothing to grant.
    ScanOnly,
}

/// The word a scanner wrote when it claimed the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Claim(u64);

pub(crate) struct ScanBudget(AtomicU64, GrantedEpoch);

/// The full epoch of the latest grant: the word keeps only 36 bits of it,
/// which alias after 2^36 buckets (see "Wrap-around").
struct GrantedEpoch(AtomicU64);

impl std::fmt::Debug for ScanBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = Parts::unpack(self.0.load(Ordering::Relaxed));
        f.debug_struct("ScanBudget")
            .field("epoch", &p.epoch)
            .field("left", &p.left)
            .finish()
    }
}

impl ScanBudget {
    pub(crate) fn new() -> ScanBudget {
        ScanBudget(AtomicU64::new(0), GrantedEpoch(AtomicU64::new(u64::MAX)))
    }

    /// Called by a current CLOSED failure of `era` at `epoch` after it
    /// recorded itself in the window and did not trip on R1.
    #[inline]
    pub(crate) fn take(&self, full_epoch: u64, era: u8) -> Take {
        match self.take_36(full_epoch & EPOCH_MASK, era) {
            // The word matched 36 bits of the epoch: skip only if the
            // grant's full epoch is this one. The `AcqRel` CAS that took the
            // share read the grant (or a later take in its release
            // sequence), so this load sees the grant's epoch or a later
            // grant's; a later one only sends this failure to scan. A share
            // taken and not used is the "behind" case's.
            Take::Skip if (self.1).0.load(Ordering::Relaxed) != full_epoch => Take::ScanOnly,
            take => take,
        }
    }

    #[inline]
    fn take_36(&self, epoch: u64, era: u8) -> Take {
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            let p = Parts::unpack(cur);
            let (next, take) = if p.era == era {
                if p.epoch == epoch && p.left > 0 {
                    (p.next(epoch, era, p.left - 1), Take::Skip)
                } else if epoch_newer(p.epoch, epoch) {
                    (
                        p.next(p.epoch, era, p.left.saturating_sub(1)),
                        Take::ScanOnly,
                    )
                } else {
                    let claim = p.next(epoch, era, 0);
                    (claim, Take::Scan(Claim(claim.pack())))
                }
            } else if window::era_newer(p.era, era) {
                return Take::ScanOnly;
            } else {
                let claim = p.next(epoch, era, 0);
                (claim, Take::Scan(Claim(claim.pack())))
            };
            match self.0.compare_exchange_weak(
                cur,
                next.pack(),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return take,
                Err(actual) => cur = actual,
            }
        }
    }

    /// After a scan from `claim` at `full_epoch` found `failures` of
    /// `calls` and no trip: lets the next failures of that epoch skip,
    /// unless any failure (or a revocation) wrote the word since the claim.
    pub(crate) fn grant(
        &self,
        claim: Claim,
        full_epoch: u64,
        failures: u64,
        calls: u64,
        threshold: f64,
    ) {
        let left = grantable(failures, calls, threshold);
        if left == 0 {
            return;
        }
        // Before the grant's `Release` CAS, so that a failure that takes
        // from the grant sees it (or a later grant's epoch). If this grant
        // then fails, the epoch names no grant the word holds: a failure
        // whose 36 bits match a grant of another full epoch scans.
        (self.1).0.store(full_epoch, Ordering::Relaxed);
        let p = Parts::unpack(claim.0);
        let _ = self.0.compare_exchange(
            claim.0,
            p.next(p.epoch, p.era, left).pack(),
            Ordering::Release,
            Ordering::Relaxed,
        );
    }

    /// Cancels every grant, and every grant in flight (a new era begins).
    pub(crate) fn revoke(&self) {
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            let p = Parts::unpack(cur);
            match self.0.compare_exchange_weak(
                cur,
                p.next(p.epoch, p.era, 0).pack(),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Failures the current grant still covers (for tests).
    #[cfg(test)]
    fn left(&self) -> u64 {
        Parts::unpack(self.0.load(Ordering::Relaxed)).left
    }
}

/// The largest `k <= MAX_GRANT` such that `k` more failures (and any number
/// of successes) after a window of `failures` of `calls` leave its rate below
/// `threshold`; 0 if the window is at or above it already (it did not trip
/// only for want of calls).
///
/// Decided with [`policy::error_rate`] itself, so the bound agrees with the
/// rule bit for bit: the rate of `(f + x, c + x)` never falls as `x` grows
/// (for `f <= c`), so a binary search finds the last `x` below the threshold.
pub(crate) fn grantable(failures: u64, calls: u64, threshold: f64) -> u64 {
    let below = |x: u64| policy::error_rate(failures + x, calls + x) < threshold;
    if failures > calls || !below(1) {
        return 0;
    }
    let (mut lo, mut hi) = (1, MAX_GRANT);
    if below(hi) {
        return hi;
    }
    // below(lo) && !below(hi)
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if below(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(all(test, not(fusebox_loom)))]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        let p = Parts {
            epoch: EPOCH_MASK,
            era: 0xA5,
            version: 7,
            left: MAX_GRANT,
        };
        assert_eq!(Parts::unpack(p.pack()), p);
        assert_eq!(Parts::unpack(p.next(3, 1, 1).pack()).version, 8);
        let last = Parts {
            version: VERSION_MASK,
            ..p
        };
        assert_eq!(last.next(3, 1, 1).version, 0, "version wraps");
    }

    #[test]
    fn epochs_order_on_36_bits() {
        assert!(epoch_newer(1, 0));
        assert!(!epoch_newer(0, 0));
        assert!(!epoch_newer(0, 1));
        assert!(epoch_newer(0, EPOCH_MASK));
    }

    /// The grant is exactly the number of failures the rule could take.
    #[test]
    fn grantable_matches_the_rule() {
        // Every (failures, calls) up to 60 calls; fewer under miri.
        let most = if cfg!(miri) { 8 } else { 60 };
        for threshold in [0.0, 1.0, 33.3, 50.0, 99.9, 100.0] {
            for calls in 0..most {
                for failures in 0..=calls {
                    let k = grantable(failures, calls, threshold);
                    let sampled = |x: &u64| !cfg!(miri) || *x <= 4 || *x == k;
                    for x in (1..=k).filter(sampled) {
                        assert!(
                            policy::error_rate(failures + x, calls + x) < threshold,
                            "{failures}/{calls} +{x} at {threshold}"
                        );
                    }
                    if k < MAX_GRANT {
                        assert!(
                            policy::error_rate(failures + k + 1, calls + k + 1) >= threshold,
                            "{failures}/{calls}: {k} is not the largest at {threshold}"
                        );
                    }
                }
            }
        }
        assert_eq!(grantable(0, 1_000_000, 50.0), MAX_GRANT);
        assert_eq!(MAX_GRANT, 1023);
        assert_eq!(grantable(4, 8, 50.0), 0, "at the threshold already");
        assert_eq!(grantable(1, 5, 50.0), 2, "2/6 and 3/7 stay below 50 %");
    }

    #[test]
    fn take_skips_only_within_a_grant() {
        let b = ScanBudget::new();
        let Take::Scan(claim) = b.take(5, 0) else {
            panic!("the first failure scans")
        };
        b.grant(claim, 5, 1, 5, 50.0);
        assert_eq!(b.left(), 2);
        assert_eq!(b.take(5, 0), Take::Skip);
        assert_eq!(b.take(5, 0), Take::Skip);
        assert!(
            matches!(b.take(5, 0), Take::Scan(_)),
            "the grant is used up"
        );
    }

    #[test]
    fn a_write_between_claim_and_grant_voids_the_grant() {
        let b = ScanBudget::new();
        let Take::Scan(first) = b.take(5, 0) else {
            panic!()
        };
        let Take::Scan(_second) = b.take(5, 0) else {
            panic!()
        };
        b.grant(first, 5, 1, 100, 50.0);
        assert_eq!(
            b.left(),
            0,
            "the second failure may be missing from the scan"
        );
    }

    #[test]
    fn epochs_and_revocation() {
        let b = ScanBudget::new();
        let Take::Scan(claim) = b.take(5, 0) else {
            panic!()
        };
        b.grant(claim, 5, 0, 100, 50.0);
        assert!(b.left() > 10);
        assert!(matches!(b.take(6, 0), Take::Scan(_)), "a new epoch scans");
        let Take::Scan(claim) = b.take(6, 0) else {
            panic!()
        };
        b.grant(claim, 6, 0, 100, 50.0);
        let before = b.left();
        assert_eq!(b.take(5, 0), Take::ScanOnly, "a lagging clock scans");
        assert_eq!(b.left(), before - 1, "and still takes from the grant");
        b.revoke();
        assert_eq!(b.left(), 0);
        let Take::Scan(claim) = b.take(6, 0) else {
            panic!()
        };
        b.grant(claim, 6, 0, 100, 50.0);
        assert!(b.left() > 10);
        assert!(
            matches!(b.take(6, 1), Take::Scan(_)),
            "a new era never uses an old grant"
        );
        assert_eq!(b.take(6, 0), Take::ScanOnly, "a stale era scans");
        let Take::Scan(claim) = b.take(6, 1) else {
            panic!()
        };
        b.revoke();
        b.grant(claim, 6, 0, 100, 50.0);
        assert_eq!(b.left(), 0, "a revocation voids a grant in flight");
    }

    /// The word keeps 36 bits of a grant's epoch: a failure 2^36 buckets
    /// later matches them, and must scan instead of skipping.
    #[test]
    fn a_grant_is_spent_only_in_its_own_full_epoch() {
        let b = ScanBudget::new();
        let Take::Scan(claim) = b.take(5, 0) else {
            panic!()
        };
        b.grant(claim, 5, 0, 100, 50.0);
        let before = b.left();
        assert_eq!(b.take(5 + (1 << EPOCH_BITS), 0), Take::ScanOnly);
        assert_eq!(b.left(), before - 1, "its share is taken, as when behind");
        assert_eq!(b.take(5, 0), Take::Skip, "the grant's own epoch skips");
        // A grant whose CAS fails still leaves its epoch in the second
        // word: the word's own grant (of another epoch) then scans. Never a
        // wrong skip, at worst a scan more.
        let Take::Scan(old) = b.take(8, 0) else {
            panic!()
        };
        let Take::Scan(newer) = b.take(9, 0) else {
            panic!()
        };
        b.grant(newer, 9, 0, 100, 50.0);
        b.grant(old, 8, 0, 100, 50.0); // fails: the word moved on
        assert!(b.left() > 0, "epoch 9's grant stands");
        assert_eq!(b.take(9, 0), Take::ScanOnly);
    }
}
