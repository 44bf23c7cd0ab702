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

/// `register` (replace), `unregister` and `create` of one name race, with
/// a breaker already registered under it. Every outcome (what each call
/// returned and what the registry holds afterwards) is one that the three
/// calls made one after the other, in some order, give: no update is
/// lost, none is applied twice, and no call sees a map another call has
/// already replaced. Breakers are told apart by `half_open_max_calls`.
#[test]
fn registry_register_unregister_create_race() {
    model(None, || {
        let (clock, _mock) = Clock::mock();
        let registry = Arc::new(Registry::new());
        // X: registered before the race.
        let x = registry
            .create(builder(&clock).half_open_max_calls(1))
            .unwrap();
        assert_eq!(x.snapshot().half_open_max_calls, 1);
        let registering = {
            let (registry, clock) = (registry.clone(), clock.clone());
            thread::spawn(move || {
                // Y
                let y = builder(&clock).half_open_max_calls(2).build().unwrap();
                registry.register(y).map(|b| tag(&b))
            })
        };
        let unregistering = {
            let registry = registry.clone();
            thread::spawn(move || registry.unregister("db"))
        };
        // Z, if this call creates one.
        let created = tag(&registry
            .create(builder(&clock).half_open_max_calls(3))
            .unwrap());
        let replaced = registering.join().unwrap();
        let removed = unregistering.join().unwrap();
        let left = registry.get("db").map(|b| tag(&b));
        assert_eq!(registry.len(), usize::from(left.is_some()));

        let observed = (replaced, removed, created, left);
        let possible = serial_outcomes();
        assert!(
            possible.contains(&observed),
            "{observed:?} is no serial order's outcome: {possible:?}"
        );
    });
}

/// Which breaker this is: its `half_open_max_calls` (X 1, Y 2, Z 3).
fn tag(b: &CircuitBreaker) -> u32 {
    b.snapshot().half_open_max_calls
}

/// `(register's return, unregister's return, create's return, what is
/// left)` for each of the six orders of the three calls, from X.
fn serial_outcomes() -> Vec<(Option<u32>, bool, u32, Option<u32>)> {
    const ORDERS: [[u8; 3]; 6] = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    ORDERS
        .iter()
        .map(|order| {
            let mut held = Some(1); // X
            let (mut replaced, mut removed, mut created) = (None, false, 0);
            for op in order {
                match op {
                    0 => replaced = held.replace(2),
                    1 => removed = held.take().is_some(),
                    _ => created = *held.get_or_insert(3),
                }
            }
            (replaced, removed, created, held)
        })
        .collect()
}
