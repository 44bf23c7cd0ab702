//! The bucket roll-over protocol of the striped window (R2's window, R11).
//!
//! All writers share one stripe (`stripes = 1`) so that they race on the
//! same slot words; the ring has 2 slots, so epochs 0, 2 and 4 share slot 0.
//! After the threads join, the all-time totals must be exact (no count lost
//! by a roll-over, none counted twice) and the window of the newest epoch
//! must hold exactly the verdicts recorded in it.
#![cfg(fusebox_loom)]

use fusebox::__loom::Window;
use fusebox_loom_tests::model;
use loom::sync::Arc;
use loom::thread;

const S: bool = false;
const F: bool = true;

/// Runs one list of `(epoch, era, failure)` records per thread: the first
/// two lists on spawned threads, the last on main.
fn run(w: &Arc<Window>, ops: [&'static [(u64, u8, bool)]; 3]) {
    let handles: Vec<_> = ops[..2]
        .iter()
        .map(|&list| {
            let w = w.clone();
            thread::spawn(move || {
                for &(epoch, era, failure) in list {
                    w.record(epoch, era, failure);
                }
            })
        })
        .collect();
    for &(epoch, era, failure) in ops[2] {
        w.record(epoch, era, failure);
    }
    for h in handles {
        h.join().unwrap();
    }
}

/// A late write to epoch 0 races the roll of slot 0 to epoch 2 and an
/// increment of epoch 2.
#[test]
fn rollover_vs_increment() {
    model(None, || {
        let w = Arc::new(Window::new(1, 2, 1000));
        run(&w, [&[(0, 0, S)], &[(2, 0, F)], &[(2, 0, S)]]);
        assert_eq!(w.totals(), (2, 1, 0), "no count lost or doubled");
        assert_eq!(w.counts(2, 0), (1, 1), "epoch 0 left the window");
    });
}

/// Three writers increment one bucket that the first of them opens (the
/// slot starts at epoch 0, era 0 with seq 0: epoch 1 lives in slot 1).
#[test]
fn same_bucket_increments() {
    model(None, || {
        let w = Arc::new(Window::new(1, 2, 1000));
        run(&w, [&[(1, 0, S)], &[(1, 0, F)], &[(1, 0, S)]]);
        assert_eq!(w.totals(), (2, 1, 0));
        assert_eq!(w.counts(1, 0), (2, 1));
    });
}

/// A verdict of the old era races two writers of the new era in the same
/// epoch (a close, R6, moves the era): the old era's count leaves the
/// window but stays in the totals.
#[test]
fn era_rollover_vs_increment() {
    model(None, || {
        let w = Arc::new(Window::new(1, 2, 1000));
        run(&w, [&[(1, 0, S)], &[(1, 1, F)], &[(1, 1, S)]]);
        assert_eq!(w.totals(), (2, 1, 0));
        assert_eq!(w.counts(1, 1), (1, 1));
        assert_eq!(w.counts(1, 0), (0, 0));
    });
}

/// Slot 0 rolls twice (epochs 0 -> 2 -> 4) while a writer that already
/// counted in epoch 0 writes again in epoch 2.
#[test]
fn double_rollover() {
    model(None, || {
        let w = Arc::new(Window::new(1, 2, 1000));
        run(&w, [&[(0, 0, S), (2, 0, S)], &[(4, 0, F)], &[]]);
        assert_eq!(w.totals(), (2, 1, 0));
        assert_eq!(w.counts(4, 0), (0, 1), "only epoch 4 is in the window");
    });
}

/// A reader of the totals races a roll-over that folds a finished count out
/// of its slot. The success was recorded before the roller started, so the
/// reader must count it exactly once: never twice (the reader once loaded the
/// count word before the fold), and never zero times (it once loaded the
/// folded total before the fold and the count word after the roll emptied
/// it, so a total could read lower than an earlier one). Two reads in a row
/// must not go down.
#[test]
fn totals_reader_vs_rollover() {
    model(None, || {
        let w = Arc::new(Window::new(1, 2, 1000));
        // Slot 0 holds epoch 2 with one success of epoch 0 still lagging in
        // its success word (folded by the next roll).
        w.record(0, 0, S);
        w.record(2, 0, F);
        let roller = {
            let w = w.clone();
            thread::spawn(move || w.record(4, 0, F))
        };
        let (s, f, _) = w.totals();
        assert_eq!(s, 1, "the recorded success, once ({f} failures)");
        assert!((1..=2).contains(&f), "failures: {f}");
        let (s2, f2, _) = w.totals();
        assert_eq!(s2, 1);
        assert!(f2 >= f, "the failure total went down: {f} then {f2}");
        roller.join().unwrap();
        assert_eq!(w.totals(), (1, 2, 0));
    });
}

/// Two roll-overs of one slot (epoch 0 to 2 with a failure in each, then to
/// 4) race a reader: both rolls move a non-zero count, so the reader can
/// meet a move in flight, one just finished, or one that starts while it
/// reads. Whatever it meets, its totals are exact for the verdicts recorded
/// before it started and no more than all of them.
#[test]
fn totals_reader_vs_two_rollovers() {
    model(None, || {
        let w = Arc::new(Window::new(1, 2, 1000));
        w.record(0, 0, S);
        w.record(0, 0, F);
        let roller = {
            let w = w.clone();
            thread::spawn(move || {
                w.record(2, 0, F);
                w.record(4, 0, S);
            })
        };
        let (s, f, _) = w.totals();
        assert!((1..=2).contains(&s) && (1..=2).contains(&f), "{s} {f}");
        let (s2, f2, _) = w.totals();
        assert!(
            s2 >= s && f2 >= f,
            "went down: ({s}, {f}) then ({s2}, {f2})"
        );
        roller.join().unwrap();
        assert_eq!(w.totals(), (2, 2, 0));
    });
}

/// The closing thread's sweep into era 1 races a late verdict of era 0 and a
/// first verdict of era 1 in the same bucket: the era-1 window holds exactly
/// the era-1 verdict, the old era's counts leave the window (none of them
/// survive under the new label), and the totals stay exact.
#[test]
fn sweep_vs_old_and_new_era() {
    model(None, || {
        let w = Arc::new(Window::new(1, 2, 1000));
        w.record(1, 0, S);
        w.record(0, 0, F);
        let sweeper = {
            let w = w.clone();
            thread::spawn(move || w.sweep(1))
        };
        let old = {
            let w = w.clone();
            thread::spawn(move || w.record(1, 0, F))
        };
        w.record(1, 1, S);
        sweeper.join().unwrap();
        old.join().unwrap();
        assert_eq!(w.totals(), (2, 2, 0), "no count lost or doubled");
        assert_eq!(w.counts(1, 1), (1, 0), "only the era-1 verdict is in era 1");
        assert_eq!(w.counts(1, 0), (0, 0), "every slot left era 0");
    });
}

/// `seq` is 2 bits under loom, so three rolls of a slot bring it back to
/// the value one behind where it was. A writer that loaded slot 0's tag
/// (epoch 2) and a count word one seq behind it, then stalled while slot 0
/// rolled to epochs 4, 6 and 8, sees that count word, now in step with the
/// epoch-8 tag, as "behind" and would push it a seq *ahead* of its tag; every
/// later write to that word then waited for a roll that never came. The
/// catch-up must re-check the tag and leave the word alone, and writers must
/// never wait on a word that is ahead of an unchanged tag.
#[test]
fn stale_catch_up_across_a_full_turn_of_seq() {
    model(None, || {
        let w = Arc::new(Window::new(1, 2, 1000));
        let stalled = {
            let w = w.clone();
            thread::spawn(move || w.record(2, 0, F))
        };
        for epoch in [4, 6, 8] {
            w.record(epoch, 0, S);
        }
        stalled.join().unwrap();
        w.record(8, 0, F);
        assert_eq!(w.totals(), (3, 2, 0), "no count lost or doubled");
        let (s, f) = w.counts(8, 0);
        assert!(s <= 1 && f <= 1, "over-counted epoch 8: {s} {f}");
        assert_eq!(s, 1, "the epoch-8 success is in the window");
    });
}

/// Writers of epochs 0, 1 and 2 (buckets 10 ticks wide; epochs 0 and 2
/// share slot 0) race each other's hint stores, each recording through
/// `record(window, ticks, failure)`. Whatever hint each finds, no count is
/// lost, doubled or put in another bucket.
fn race_hinted_writers(record: fn(&Window, u64, bool)) {
    model(None, move || {
        let w = Arc::new(Window::new(1, 2, 1000));
        let old = {
            let w = w.clone();
            thread::spawn(move || {
                record(&w, 5, S);
                record(&w, 9, F);
            })
        };
        let new = {
            let w = w.clone();
            thread::spawn(move || record(&w, 25, F))
        };
        record(&w, 15, S);
        old.join().unwrap();
        new.join().unwrap();
        assert_eq!(w.totals(), (2, 2, 0), "no count lost or doubled");
        // Epoch 1 (ticks 15) and epoch 2 (ticks 25) are the window ending
        // at epoch 2; epoch 0 left it, whether it was counted in slot 0
        // before the roll or folded after it.
        assert_eq!(w.counts(2, 0), (1, 1));
        assert_eq!(w.counts(3, 0), (0, 1), "ticks 15 is not in epoch 2");
    });
}

/// The fast path finds its slot through one hint shared by all stripes and
/// checks the reading against that bucket's bounds instead of dividing, so
/// each writer may find the hint pointing at another epoch (an older one, a
/// newer one, or the one whose slot it shares).
#[test]
fn hinted_fast_path_vs_rollover_in_ticks() {
    race_hinted_writers(|w, ticks, failure| w.record_ticks(ticks, 10, 0, failure));
}

/// The `Recent` fast path compares an upkeep's epoch cell with the hinted
/// slot's tag instead of checking a reading against the hinted bucket's
/// bounds, and falls back to the reading when they differ: the same race,
/// each writer's cell reading its own epoch (epochs 0 and 2 share a slot,
/// so a hint left by one points the other at a slot of its own index).
#[test]
fn cell_fast_path_vs_rollover() {
    race_hinted_writers(|w, ticks, failure| w.record_cell(ticks / 10, 10, 0, failure));
}
