//! Registry get-or-create race (R13).
#![cfg(fusebox_loom)]

use fusebox::quanta::Clock;
use fusebox::{CircuitBreaker, Registry};
use fusebox_loom_tests::model;
use loom::sync::Arc;
use loom::thread;

fn builder(clock: &Clock) -> fusebox::Builder {
    CircuitBreaker::builder("db")
        .stripes(1)
        .window_buckets(2)
        .clock(clock.clone())
}

/// Two threads `create` the same name while main reads it: both get the
/// one instance, and the registry holds one breaker.
#[test]
fn registry_create_race() {
    model(None, || {
        let (clock, _mock) = Clock::mock();
        let registry = Arc::new(Registry::new());
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (registry, clock) = (registry.clone(), clock.clone());
                thread::spawn(move || registry.create(builder(&clock)).unwrap())
            })
            .collect();
        let seen = registry.get("db");
        let a = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>();

        assert!(Arc::ptr_eq(&a[0], &a[1]), "R13: one instance");
        assert_eq!(registry.len(), 1);
        let got = registry.get("db").expect("registered");
        assert!(Arc::ptr_eq(&got, &a[0]));
        if let Some(seen) = seen {
            assert!(Arc::ptr_eq(&seen, &a[0]), "a reader sees only the winner");
        }
    });
}
