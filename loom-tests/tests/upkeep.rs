//! The coarse clock's ownership and stop protocol (`Upkeep`, `ClockMode::Recent`).
#![cfg(fusebox_loom)]

use fusebox::__loom::{epoch_word, Ticker, CELLS, NO_EPOCH};
use fusebox_loom_tests::model;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;

/// What `Upkeep::start` and dropping its handle do, with the ticking thread
/// as a loom thread: tick until told to stop, then the owner joins it and
/// releases. Two owners race to start; a reader watches.
///
/// * exactly one start wins while the other's upkeep runs (or both win one
///   after the other);
/// * once every upkeep has stopped, the tick reads 0 (breakers go back to
///   precise reads: time never freezes), whatever the interleaving;
/// * a reader only ever sees 0 or a tick some upkeep wrote.
///
/// Checked to fail if the owner releases before joining its thread.
#[test]
fn stopped_upkeep_never_leaves_a_frozen_tick() {
    model(None, || {
        let ticker = Arc::new(Ticker::default());
        let owners: Vec<_> = (1..=2u64)
            .map(|id| {
                let ticker = ticker.clone();
                thread::spawn(move || {
                    if !ticker.claim() {
                        return false;
                    }
                    ticker.tick(id * 10);
                    let done = Arc::new(AtomicBool::new(false));
                    let thread = {
                        let (ticker, done) = (ticker.clone(), done.clone());
                        thread::spawn(move || {
                            while !done.load(Ordering::Acquire) {
                                ticker.tick(id * 10 + 1);
                                thread::yield_now();
                            }
                        })
                    };
                    done.store(true, Ordering::Release);
                    thread.join().unwrap();
                    ticker.release();
                    true
                })
            })
            .collect();
        let seen = ticker.read();
        assert!(
            [0, 10, 11, 20, 21].contains(&seen),
            "read a tick nobody wrote: {seen}"
        );
        let started: usize = owners
            .into_iter()
            .map(|h| usize::from(h.join().unwrap()))
            .sum();
        assert!(started >= 1, "an uncontested start cannot fail");
        assert_eq!(ticker.read(), 0, "a stopped upkeep left its tick behind");
        assert!(ticker.claim(), "a stopped upkeep released the clock");
    });
}

/// The epoch cells (`Recent` successes read one in place of the tick): two
/// breakers of different widths register while an upkeep ticks, then it
/// stops.
///
/// * different widths get different slots, and the table stays in order;
/// * while the upkeep runs, a registered cell reads [`NO_EPOCH`] (not ticked
///   since it was claimed) or the epoch of a tick in its own width, never
///   another width's;
/// * once the upkeep has stopped, every cell reads `NO_EPOCH` (Recent
///   successes go back to reading time: no bucket is frozen), whatever the
///   interleaving.
///
/// Checked to fail if the owner releases before joining its thread, or if
/// `release` leaves the cells alone.
#[test]
fn stopped_upkeep_never_leaves_an_epoch_behind() {
    model(None, || {
        let ticker = Arc::new(Ticker::default());
        assert!(ticker.claim());
        ticker.tick(250);
        let done = Arc::new(AtomicBool::new(false));
        let ticking = {
            let (ticker, done) = (ticker.clone(), done.clone());
            thread::spawn(move || {
                while !done.load(Ordering::Acquire) {
                    ticker.tick(700);
                    thread::yield_now();
                }
            })
        };
        let registrars: Vec<_> = [100u64, 7]
            .into_iter()
            .map(|width| {
                let ticker = ticker.clone();
                thread::spawn(move || {
                    let slot = ticker.slot(width).expect("two widths fit");
                    let seen = ticker.epoch(slot);
                    let ticked = [epoch_word(250 / width), epoch_word(700 / width)];
                    assert!(
                        seen == NO_EPOCH || ticked.contains(&seen),
                        "width {width} read {seen:#x}"
                    );
                    slot
                })
            })
            .collect();
        let slots: Vec<usize> = registrars.into_iter().map(|h| h.join().unwrap()).collect();
        assert_ne!(slots[0], slots[1], "two widths, two cells");
        assert_eq!(ticker.slot(100), Some(slots[0]), "a width keeps its cell");
        done.store(true, Ordering::Release);
        ticking.join().unwrap();
        ticker.release();
        for i in 0..CELLS {
            assert_eq!(
                ticker.epoch(i),
                NO_EPOCH,
                "a stopped upkeep left cell {i} behind"
            );
        }
    });
}
