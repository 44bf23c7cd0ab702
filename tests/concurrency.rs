//! Threaded tests: the probe cap under contention (R5), one listener call
//! per transition under racing threads (R10), exact
//! totals under mixed traffic (R11), and one instance per name from racing
//! registry calls (R13).

#[path = "support/race.rs"]
mod race;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use fusebox::quanta::{Clock, Mock};
use fusebox::{Builder, CircuitBreaker, Registry, State, StateChange};

const THREADS: usize = 8;
const OPEN: Duration = Duration::from_secs(30);

/// Counts listener calls per (from, to).
#[derive(Clone, Default)]
struct Counts(Arc<Mutex<Vec<(State, State)>>>);

impl Counts {
    fn count(&self, from: State, to: State) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|&&e| e == (from, to))
            .count()
    }
    fn total(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

fn rig(b: Builder) -> (CircuitBreaker, Arc<Mock>, Counts) {
    let (clock, mock) = Clock::mock();
    let counts = Counts::default();
    let sink = counts.clone();
    let cb = b
        .clock(clock)
        .on_state_change(move |c: &StateChange<'_>| sink.0.lock().unwrap().push((c.from, c.to)))
        .build()
        .expect("valid");
    (cb, mock, counts)
}

// ---- R5 --------------------------------------------------------------------

#[test]
fn r5_probes_in_flight_never_exceed_the_cap_under_threads() {
    const MAX: u32 = 3;
    const ITERS: usize = 20_000;
    let (cb, mock, _counts) = rig(CircuitBreaker::builder("r5")
        .consecutive_failure_threshold(1)
        .open_duration(OPEN)
        .reset_timeout(Duration::from_secs(3600))
        .half_open_max_calls(MAX));
    let _ = cb.call(|| Err::<(), ()>(()));
    mock.increment(OPEN);
    assert_eq!(cb.state(), State::HalfOpen);

    let in_flight = AtomicU32::new(0);
    let max_seen = AtomicU32::new(0);
    let admitted = AtomicU64::new(0);
    let rejected = AtomicU64::new(0);
    let barrier = Barrier::new(THREADS);
    race::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                barrier.wait();
                for i in 0..ITERS {
                    match cb.try_acquire() {
                        Ok(permit) => {
                            assert!(permit.is_probe());
                            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                            max_seen.fetch_max(now, Ordering::SeqCst);
                            admitted.fetch_add(1, Ordering::Relaxed);
                            for _ in 0..(i % 8) {
                                std::hint::spin_loop();
                            }
                            if i % 97 == 0 {
                                std::thread::yield_now();
                            }
                            in_flight.fetch_sub(1, Ordering::SeqCst);
                            drop(permit); // no verdict: the breaker stays half-open
                        }
                        Err(r) => {
                            assert_eq!(r.state(), State::HalfOpen);
                            assert_eq!(r.retry_after(), None);
                            rejected.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    let max = max_seen.load(Ordering::SeqCst);
    assert!(max <= MAX, "{max} probes in flight, cap {MAX}");
    assert!(max >= 1);
    let s = cb.snapshot();
    assert_eq!(s.state, State::HalfOpen);
    assert_eq!(s.half_open_calls, 0, "every dropped probe freed its slot");
    assert_eq!(
        admitted.load(Ordering::Relaxed) + rejected.load(Ordering::Relaxed),
        (THREADS * ITERS) as u64
    );
    assert_eq!(s.total_rejected, rejected.load(Ordering::Relaxed));
    assert_eq!(s.total_calls, 1, "dropped probes are no calls");
}

#[test]
fn r5_unticketed_probes_never_exceed_the_cap_under_threads() {
    const MAX: u32 = 2;
    let (cb, mock, _counts) = rig(CircuitBreaker::builder("r5-unticketed")
        .consecutive_failure_threshold(1)
        .open_duration(OPEN)
        .reset_timeout(Duration::from_secs(3600))
        .half_open_max_calls(MAX));
    let _ = cb.call(|| Err::<(), ()>(()));
    mock.increment(OPEN);
    let allowed = AtomicU32::new(0);
    let barrier = Barrier::new(THREADS);
    race::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                barrier.wait();
                for _ in 0..1_000 {
                    if cb.allow_request() {
                        allowed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    // Leaked unticketed probes hold their slots: exactly MAX were handed out.
    assert_eq!(allowed.load(Ordering::Relaxed), MAX);
    let s = cb.snapshot();
    assert_eq!(s.half_open_calls, MAX);
    assert_eq!(s.total_rejected, (THREADS * 1_000) as u64 - u64::from(MAX));
}

// ---- R10 -------------------------------------------------------------------

#[test]
fn r10_racing_failures_open_exactly_once() {
    for round in 0..100 {
        let (cb, _mock, counts) = rig(CircuitBreaker::builder("r10")
            .consecutive_failure_threshold(3)
            .min_calls_for_error_rate(1_000));
        let barrier = Barrier::new(THREADS);
        race::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    let permit = cb.try_acquire().expect("closed");
                    barrier.wait();
                    permit.failure();
                });
            }
        });
        assert_eq!(counts.total(), 1, "round {round}");
        assert_eq!(counts.count(State::Closed, State::Open), 1);
        let s = cb.snapshot();
        assert_eq!(s.state, State::Open);
        assert_eq!(s.total_failures, THREADS as u64);
    }
}

#[test]
fn r10_racing_error_rate_trips_open_exactly_once() {
    for round in 0..100 {
        let (cb, _mock, counts) = rig(CircuitBreaker::builder("r10-rate")
            .consecutive_failure_threshold(1_000)
            .min_calls_for_error_rate(4)
            .error_threshold_percentage(50.0));
        let barrier = Barrier::new(THREADS);
        race::scope(|s| {
            for t in 0..THREADS {
                let cb = &cb;
                let barrier = &barrier;
                s.spawn(move || {
                    let permit = cb.try_acquire().expect("closed");
                    barrier.wait();
                    if t % 4 == 0 {
                        permit.success();
                    } else {
                        permit.failure();
                    }
                });
            }
        });
        assert_eq!(counts.total(), 1, "round {round}");
        assert_eq!(cb.state(), State::Open);
    }
}

/// Full cycles under 8 racing threads: every round opens once, goes
/// half-open once and closes once, with one listener call for each.
/// (`tests/logging.rs` checks the `tracing` side of the same race.)
#[test]
fn r10_each_transition_has_one_winner_and_one_listener_call() {
    const ROUNDS: usize = 60;
    let (cb, mock, counts) = rig(CircuitBreaker::builder("r10-cycle")
        .consecutive_failure_threshold(4)
        .min_calls_for_error_rate(1_000)
        .open_duration(OPEN)
        .reset_timeout(Duration::from_secs(3600))
        .half_open_max_calls(3));
    let barrier = Barrier::new(THREADS);
    let successes = AtomicU64::new(0);
    let rejections = AtomicU64::new(0);
    race::scope(|s| {
        for t in 0..THREADS {
            let (cb, mock, barrier) = (&cb, &mock, &barrier);
            let (successes, rejections) = (&successes, &rejections);
            s.spawn(move || {
                race::cycle_rounds(cb, mock, barrier, t, ROUNDS, OPEN, successes, rejections);
            });
        }
    });
    assert_eq!(counts.count(State::Closed, State::Open), ROUNDS);
    assert_eq!(counts.count(State::Open, State::HalfOpen), ROUNDS);
    assert_eq!(counts.count(State::HalfOpen, State::Closed), ROUNDS);
    assert_eq!(counts.total(), 3 * ROUNDS);
    let s = cb.snapshot();
    assert_eq!(s.total_failures, (THREADS * ROUNDS) as u64);
    assert_eq!(s.total_successes, successes.load(Ordering::Relaxed));
    assert_eq!(s.total_rejected, rejections.load(Ordering::Relaxed));
    assert_eq!(
        s.total_successes + s.total_rejected,
        (THREADS * ROUNDS) as u64
    );
}

#[test]
fn r10_racing_queries_make_one_time_based_transition() {
    for round in 0..100 {
        let (cb, mock, counts) = rig(CircuitBreaker::builder("r10-q")
            .consecutive_failure_threshold(1)
            .open_duration(OPEN)
            .reset_timeout(Duration::from_secs(10))
            .half_open_max_calls(2));
        let _ = cb.call(|| Err::<(), ()>(()));
        mock.increment(OPEN);
        let barrier = Barrier::new(THREADS);
        let race = |cb: &CircuitBreaker| {
            race::scope(|s| {
                for t in 0..THREADS {
                    let barrier = &barrier;
                    s.spawn(move || {
                        barrier.wait();
                        if t % 2 == 0 {
                            let _ = cb.state();
                        } else {
                            let _ = cb.snapshot();
                        }
                    });
                }
            });
        };
        race(&cb);
        assert_eq!(
            counts.count(State::Open, State::HalfOpen),
            1,
            "round {round}"
        );
        // R8: one resolution of the reset timeout (no success: reopen).
        mock.increment(Duration::from_secs(10));
        race(&cb);
        assert_eq!(
            counts.count(State::HalfOpen, State::Open),
            1,
            "round {round}"
        );
        assert_eq!(counts.total(), 3);
        assert_eq!(cb.try_acquire().unwrap_err().retry_after(), Some(OPEN));
    }
}

#[test]
fn r10_racing_probe_failures_reopen_once() {
    for round in 0..100 {
        let (cb, mock, counts) = rig(CircuitBreaker::builder("r10-p")
            .consecutive_failure_threshold(1)
            .open_duration(OPEN)
            .half_open_max_calls(THREADS as u32));
        let _ = cb.call(|| Err::<(), ()>(()));
        mock.increment(OPEN);
        let permits: Vec<_> = (0..THREADS).map(|_| cb.try_acquire().unwrap()).collect();
        let barrier = Barrier::new(THREADS);
        race::scope(|s| {
            for p in permits {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    p.failure();
                });
            }
        });
        assert_eq!(
            counts.count(State::HalfOpen, State::Open),
            1,
            "round {round}"
        );
        assert_eq!(counts.total(), 3);
        let s = cb.snapshot();
        assert_eq!(
            (s.state, s.total_failures),
            (State::Open, 1 + THREADS as u64)
        );
    }
}

// ---- R11 -------------------------------------------------------------------

#[test]
fn r11_totals_are_exact_under_mixed_threaded_traffic() {
    const ITERS: u64 = 4_000;
    let (cb, mock, counts) = rig(CircuitBreaker::builder("r11")
        .consecutive_failure_threshold(3)
        .min_calls_for_error_rate(20)
        .error_threshold_percentage(30.0)
        .monitoring_window(Duration::from_secs(10))
        .window_buckets(10)
        .open_duration(Duration::from_millis(300))
        .reset_timeout(Duration::from_millis(500))
        .half_open_max_calls(2));
    let successes = AtomicU64::new(0);
    let failures = AtomicU64::new(0);
    let rejected = AtomicU64::new(0);
    let barrier = Barrier::new(THREADS);
    race::scope(|s| {
        for t in 0..THREADS as u64 {
            let (cb, mock, barrier) = (&cb, &mock, &barrier);
            let (successes, failures, rejected) = (&successes, &failures, &rejected);
            s.spawn(move || {
                let (mut ok, mut bad, mut rej) = (0u64, 0u64, 0u64);
                barrier.wait();
                for i in 0..ITERS {
                    if i % 64 == t {
                        mock.increment(Duration::from_millis(50));
                    }
                    match (i * 7 + t) % 12 {
                        0..=3 => match cb.call(|| Ok::<(), ()>(())) {
                            Ok(()) => ok += 1,
                            Err(_) => rej += 1,
                        },
                        4 | 5 => match cb.try_acquire() {
                            Ok(p) => {
                                p.failure();
                                bad += 1;
                            }
                            Err(_) => rej += 1,
                        },
                        6 => match cb.try_acquire() {
                            Ok(p) => drop(p), // no verdict: no call
                            Err(_) => rej += 1,
                        },
                        7 => {
                            if cb.allow_request() {
                                if i % 2 == 0 {
                                    cb.on_success();
                                    ok += 1;
                                } else {
                                    cb.on_failure();
                                    bad += 1;
                                }
                            } else {
                                rej += 1;
                            }
                        }
                        8 => {
                            let mut ran = false;
                            match cb.call_with_fallback(
                                || {
                                    ran = true;
                                    Err::<u8, _>(())
                                },
                                |_| 0,
                            ) {
                                Err(()) => {
                                    assert!(ran);
                                    bad += 1;
                                }
                                Ok(0) => {
                                    assert!(!ran);
                                    rej += 1;
                                }
                                Ok(_) => unreachable!(),
                            }
                        }
                        9 => {
                            let _ = cb.snapshot();
                            let _ = cb.state();
                        }
                        _ => match cb.try_acquire() {
                            Ok(p) => {
                                std::thread::yield_now();
                                p.success();
                                ok += 1;
                            }
                            Err(_) => rej += 1,
                        },
                    }
                }
                successes.fetch_add(ok, Ordering::Relaxed);
                failures.fetch_add(bad, Ordering::Relaxed);
                rejected.fetch_add(rej, Ordering::Relaxed);
            });
        }
    });
    let s = cb.snapshot();
    let (ok, bad, rej) = (
        successes.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed),
        rejected.load(Ordering::Relaxed),
    );
    assert_eq!(s.total_successes, ok);
    assert_eq!(s.total_failures, bad);
    assert_eq!(s.total_rejected, rej);
    assert_eq!(s.total_calls, ok + bad);
    assert!(s.recent_calls <= s.total_calls);
    assert!((0.0..=100.0).contains(&s.error_rate));
    // The traffic really did move the breaker around.
    assert!(
        counts.count(State::Closed, State::Open) >= 1,
        "never opened"
    );
    assert!(rej > 0);
}

/// Snapshots taken while writers roll bucket slots over (1 ms buckets, the
/// writers moving time 1 ms at a time, every writer on one stripe) see
/// exact totals: each includes every call that finished before it began,
/// none that had not started, and never less than the snapshot before it.
/// Before the reader protocol on the moves word, a snapshot that met a
/// count between its slot and the folded total missed it, and totals went
/// down for that instant.
#[test]
fn r11_snapshot_totals_never_go_down_while_buckets_roll() {
    const WRITERS: usize = 3;
    const ITERS: u64 = 300_000;
    let (cb, mock, _counts) = rig(CircuitBreaker::builder("r11-roll")
        .consecutive_failure_threshold(u32::MAX)
        .monitoring_window(Duration::from_millis(10))
        .window_buckets(10)
        .stripes(1));
    let started = AtomicU64::new(0);
    let finished = AtomicU64::new(0);
    let writing = AtomicU32::new(WRITERS as u32);
    let barrier = Barrier::new(WRITERS + 1);
    let (cb, mock, barrier) = (&cb, &mock, &barrier);
    let (started, finished, writing) = (&started, &finished, &writing);
    race::scope(|s| {
        for t in 0..WRITERS as u64 {
            s.spawn(move || {
                barrier.wait();
                for i in 0..ITERS {
                    if i % 16 == t {
                        // A new 1 ms bucket: its slot rolls over, folding
                        // the counts of 16 buckets ago out of it.
                        mock.increment(Duration::from_millis(1));
                    }
                    started.fetch_add(1, Ordering::SeqCst);
                    // One failure in four: the failure words roll too.
                    let _ = cb.call(|| if (i + t) % 4 == 0 { Err(()) } else { Ok(()) });
                    finished.fetch_add(1, Ordering::SeqCst);
                }
                writing.fetch_sub(1, Ordering::SeqCst);
            });
        }
        s.spawn(move || {
            barrier.wait();
            let mut last = (0, 0);
            let mut snapshots = 0u64;
            while writing.load(Ordering::SeqCst) != 0 {
                let done = finished.load(Ordering::SeqCst);
                let snap = cb.snapshot();
                let begun = started.load(Ordering::SeqCst);
                let now = (snap.total_successes, snap.total_failures);
                assert!(
                    snap.total_calls >= done && snap.total_calls <= begun,
                    "snapshot {snapshots}: {} calls, but {done} had finished and {begun} begun",
                    snap.total_calls
                );
                assert!(
                    now.0 >= last.0 && now.1 >= last.1,
                    "snapshot {snapshots}: totals went down from {last:?} to {now:?}"
                );
                last = now;
                snapshots += 1;
            }
            assert!(snapshots > 0);
        });
    });
    let s = cb.snapshot();
    assert_eq!(s.state, State::Closed);
    assert_eq!(s.total_calls, WRITERS as u64 * ITERS);
    assert_eq!(s.total_failures, WRITERS as u64 * ITERS / 4);
}

// ---- R13 -------------------------------------------------------------------

#[test]
fn r13_concurrent_create_yields_one_instance() {
    for round in 0..50 {
        let registry = Registry::new();
        let barrier = Barrier::new(THREADS);
        let got: Vec<Arc<CircuitBreaker>> = race::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (registry, barrier) = (&registry, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        registry
                            .create(
                                CircuitBreaker::builder("shared")
                                    .consecutive_failure_threshold(t as u32 + 1),
                            )
                            .unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for cb in &got {
            assert!(Arc::ptr_eq(cb, &got[0]), "round {round}: two instances");
        }
        assert!(Arc::ptr_eq(&registry.get("shared").unwrap(), &got[0]));
        assert_eq!(registry.len(), 1);
    }
}

#[test]
fn r13_concurrent_writers_lose_no_update() {
    const PER_THREAD: usize = 25;
    let registry = Registry::new();
    let barrier = Barrier::new(THREADS);
    race::scope(|s| {
        for t in 0..THREADS {
            let (registry, barrier) = (&registry, &barrier);
            s.spawn(move || {
                barrier.wait();
                for i in 0..PER_THREAD {
                    let name = format!("t{t}-{i}");
                    if i % 2 == 0 {
                        assert!(registry.register(CircuitBreaker::new(name)).is_none());
                    } else {
                        registry.create(CircuitBreaker::builder(name)).unwrap();
                    }
                    // Readers take no lock and always see a whole map.
                    let _ = registry.get_all();
                    assert!(
                        registry.get(&format!("t{t}-0")).is_some(),
                        "own insert visible"
                    );
                    let own = format!("t{t}-{i}");
                    assert_eq!(
                        registry.with(&own, |cb| cb.name() == own),
                        Some(true),
                        "own insert visible to with"
                    );
                }
                for i in (0..PER_THREAD).step_by(5) {
                    assert!(registry.unregister(&format!("t{t}-{i}")));
                }
            });
        }
    });
    let names: HashSet<String> = registry
        .get_all()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    assert_eq!(names.len(), THREADS * (PER_THREAD - PER_THREAD / 5));
    for t in 0..THREADS {
        for i in 0..PER_THREAD {
            assert_eq!(names.contains(&format!("t{t}-{i}")), i % 5 != 0);
        }
    }
    assert_eq!(registry.get_states().len(), names.len());
}
