//! The coarse clock's ownership and stop protocol (`Upkeep`, `ClockMode::Recent`).
#![cfg(fusebox_loom)]

use fusebox::__loom::Ticker;
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
