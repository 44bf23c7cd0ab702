//! Logging (R12) and one log event per transition (R10) through `tracing`:
//! a hand-written subscriber captures level, target and text of every event.
//!
//! Every test here installs its subscriber *before* the breaker logs
//! anything, so that no `tracing` callsite is ever registered while no
//! dispatcher exists (which would cache "never interested" and hide events
//! from a subscriber installed by a test running in parallel).

#[path = "support/race.rs"]
mod race;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use fusebox::quanta::{Clock, Mock};
use fusebox::{Builder, CallError, CircuitBreaker, Reason, State, StateChange};

const OPEN: Duration = Duration::from_secs(30);
const RESET: Duration = Duration::from_secs(10);
const THREADS: usize = 8;

#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<(State, State, Reason)>>>);

impl Events {
    fn reasons(&self) -> Vec<Reason> {
        self.0.lock().unwrap().iter().map(|e| e.2).collect()
    }
    fn count(&self, from: State, to: State) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|e| (e.0, e.1) == (from, to))
            .count()
    }
}

fn rig(b: Builder) -> (CircuitBreaker, Arc<Mock>, Events) {
    let (clock, mock) = Clock::mock();
    let events = Events::default();
    let sink = events.clone();
    let cb = b
        .clock(clock)
        .on_state_change(move |c: &StateChange<'_>| {
            sink.0.lock().unwrap().push((c.from, c.to, c.reason));
        })
        .build()
        .expect("valid");
    (cb, mock, events)
}

fn consecutive(n: u32, probes: u32) -> Builder {
    CircuitBreaker::builder("cb")
        .consecutive_failure_threshold(n)
        .min_calls_for_error_rate(1_000_000)
        .open_duration(OPEN)
        .reset_timeout(RESET)
        .half_open_max_calls(probes)
}

fn rate(threshold: f64, min_calls: u32) -> Builder {
    CircuitBreaker::builder("rate")
        .consecutive_failure_threshold(1_000_000)
        .error_threshold_percentage(threshold)
        .min_calls_for_error_rate(min_calls)
        .monitoring_window(Duration::from_secs(10))
        .window_buckets(10)
        .open_duration(OPEN)
        .reset_timeout(RESET)
}

fn ok(cb: &CircuitBreaker) {
    cb.call(|| Ok::<(), ()>(())).expect("admitted and ok");
}

fn fail(cb: &CircuitBreaker) {
    assert!(matches!(
        cb.call(|| Err::<(), _>("boom")),
        Err(CallError::Failed("boom"))
    ));
}

mod capture {
    use std::fmt::Write as _;
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::subscriber::Interest;
    use tracing::{Event, Level, Metadata, Subscriber};

    #[derive(Debug, Clone)]
    pub struct Captured {
        pub level: Level,
        pub target: String,
        pub message: String,
        pub fields: String,
    }

    /// A tiny subscriber that records every event.
    #[derive(Clone, Default)]
    pub struct Capture(pub Arc<Mutex<Vec<Captured>>>);

    impl Capture {
        pub fn take(&self) -> Vec<Captured> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }

    #[derive(Default)]
    struct Visitor {
        message: String,
        fields: String,
    }

    impl Visit for Visitor {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                self.message = format!("{value:?}");
            } else {
                let _ = write!(self.fields, "{}={:?} ", field.name(), value);
            }
        }
    }

    impl Subscriber for Capture {
        fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
            Interest::sometimes()
        }
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut v = Visitor::default();
            event.record(&mut v);
            self.0.lock().unwrap().push(Captured {
                level: *event.metadata().level(),
                target: event.metadata().target().to_owned(),
                message: v.message,
                fields: v.fields,
            });
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }
}

use capture::{Capture, Captured};
use tracing::Level;

fn above_debug(events: &[Captured]) -> Vec<&Captured> {
    events
        .iter()
        .filter(|e| e.level != Level::DEBUG && e.level != Level::TRACE)
        .collect()
}

#[test]
fn r12_opening_logs_warn_with_the_consecutive_reason() {
    let cap = Capture::default();
    tracing::subscriber::with_default(cap.clone(), || {
        let (cb, _mock, ev) = rig(consecutive(3, 1));
        fail(&cb);
        fail(&cb);
        assert!(above_debug(&cap.take()).is_empty(), "no transition yet");
        fail(&cb);
        let events = cap.take();
        let loud = above_debug(&events);
        assert_eq!(loud.len(), 1, "{events:?}");
        let e = loud[0];
        assert_eq!(e.level, Level::WARN);
        assert!(e.target.starts_with("fusebox"), "target {}", e.target);
        let reason = ev.reasons()[0].to_string();
        assert!(reason.contains("consecutive failures"), "{reason}");
        assert!(reason.contains('3'), "{reason}");
        assert!(
            e.message.contains(&reason) || e.fields.contains(&reason),
            "{e:?} lacks {reason}"
        );
        assert!(e.message.contains("cb"), "names the breaker: {e:?}");
    });
}

#[test]
fn r12_opening_logs_warn_with_the_error_rate_reason() {
    let cap = Capture::default();
    tracing::subscriber::with_default(cap.clone(), || {
        let (cb, _mock, ev) = rig(rate(50.0, 4));
        ok(&cb);
        ok(&cb);
        fail(&cb);
        fail(&cb);
        assert_eq!(cb.state(), State::Open);
        let events = cap.take();
        let loud = above_debug(&events);
        assert_eq!(loud.len(), 1, "{events:?}");
        let e = loud[0];
        assert_eq!(e.level, Level::WARN);
        assert!(e.target.starts_with("fusebox"), "target {}", e.target);
        let reason = ev.reasons()[0].to_string();
        assert!(reason.contains("error rate"), "{reason}");
        assert!(
            reason.contains("50") && reason.contains('4') && reason.contains('2'),
            "figures: {reason}"
        );
        assert!(e.message.contains(&reason), "{e:?} lacks {reason}");
    });
}

#[test]
fn r12_half_open_and_close_log_info() {
    let cap = Capture::default();
    tracing::subscriber::with_default(cap.clone(), || {
        let (cb, mock, _ev) = rig(consecutive(1, 1));
        fail(&cb);
        cap.take();
        mock.increment(OPEN);
        assert_eq!(cb.state(), State::HalfOpen);
        let events = cap.take();
        let loud = above_debug(&events);
        assert_eq!(loud.len(), 1, "{events:?}");
        assert_eq!(loud[0].level, Level::INFO);
        assert!(loud[0].target.starts_with("fusebox"));
        assert!(loud[0].message.contains("half-open"), "{:?}", loud[0]);
        ok(&cb);
        let events = cap.take();
        let loud = above_debug(&events);
        assert_eq!(loud.len(), 1, "{events:?}");
        assert_eq!(loud[0].level, Level::INFO);
        assert!(loud[0].target.starts_with("fusebox"));
        assert!(loud[0].message.contains("closed"), "{:?}", loud[0]);
        // R8 and R7 transitions log too: half-open at INFO, reopen at WARN.
        fail(&cb);
        mock.increment(OPEN);
        cb.try_acquire().unwrap().failure();
        let levels: Vec<Level> = above_debug(&cap.take()).iter().map(|e| e.level).collect();
        assert_eq!(levels, vec![Level::WARN, Level::INFO, Level::WARN]);
    });
}

#[test]
fn r12_rejections_log_at_debug_at_most() {
    let cap = Capture::default();
    tracing::subscriber::with_default(cap.clone(), || {
        let (cb, mock, _ev) = rig(consecutive(1, 1));
        fail(&cb);
        cap.take();
        for _ in 0..5 {
            assert!(cb.try_acquire().is_err());
            assert!(cb.call(|| Ok::<(), ()>(())).is_err());
            assert!(!cb.allow_request());
        }
        mock.increment(OPEN);
        let p = cb.try_acquire().unwrap();
        let _ = cap.take(); // the half-open INFO
        for _ in 0..5 {
            assert!(cb.try_acquire().is_err());
        }
        drop(p);
        let events = cap.take();
        assert!(above_debug(&events).is_empty(), "{events:?}");
        for e in &events {
            assert!(e.target.starts_with("fusebox"), "{e:?}");
        }
        assert_eq!(cb.snapshot().total_rejected, 20);
    });
}

#[test]
fn r12_closed_calls_log_nothing_above_debug() {
    let cap = Capture::default();
    tracing::subscriber::with_default(cap.clone(), || {
        let (cb, _mock, _ev) = rig(consecutive(5, 1));
        for _ in 0..10 {
            ok(&cb);
            fail(&cb);
        }
        let events = cap.take();
        assert!(above_debug(&events).is_empty(), "{events:?}");
    });
}

// ---- R10 under threads ------------------------------------------------------

/// Full cycles under 8 racing threads: every round opens once, goes
/// half-open once and closes once, with one listener call and one `tracing`
/// event (WARN for opening, INFO otherwise) for each.
#[test]
fn r10_racing_threads_log_each_transition_once() {
    const ROUNDS: usize = 60;
    let (cb, mock, counts) = rig(CircuitBreaker::builder("r10-cycle")
        .consecutive_failure_threshold(4)
        .min_calls_for_error_rate(1_000)
        .open_duration(OPEN)
        .reset_timeout(Duration::from_secs(3600))
        .half_open_max_calls(3));
    let cap = Capture::default();
    let dispatch = tracing::Dispatch::new(cap.clone());
    let barrier = Barrier::new(THREADS);
    let successes = AtomicU64::new(0);
    let rejections = AtomicU64::new(0);
    race::scope(|s| {
        for t in 0..THREADS {
            let (cb, mock, barrier, dispatch) = (&cb, &mock, &barrier, &dispatch);
            let (successes, rejections) = (&successes, &rejections);
            s.spawn(move || {
                tracing::dispatcher::with_default(dispatch, || {
                    race::cycle_rounds(cb, mock, barrier, t, ROUNDS, OPEN, successes, rejections);
                });
            });
        }
    });
    assert_eq!(counts.count(State::Closed, State::Open), ROUNDS);
    assert_eq!(counts.count(State::Open, State::HalfOpen), ROUNDS);
    assert_eq!(counts.count(State::HalfOpen, State::Closed), ROUNDS);
    assert_eq!(counts.0.lock().unwrap().len(), 3 * ROUNDS);
    let events = cap.take();
    let count = |level: Level| events.iter().filter(|e| e.level == level).count();
    assert_eq!(count(Level::WARN), ROUNDS, "one WARN per opening");
    assert_eq!(
        count(Level::INFO),
        2 * ROUNDS,
        "one INFO per half-open and close"
    );
    assert_eq!(count(Level::ERROR), 0);
    assert_eq!(above_debug(&events).len(), 3 * ROUNDS);
    assert!(events.iter().all(|e| e.target.starts_with("fusebox")));
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
fn a_panicking_listener_is_logged_at_error_and_the_change_stands() {
    let cap = Capture::default();
    tracing::subscriber::with_default(cap.clone(), || {
        let (clock, _mock) = Clock::mock();
        let cb = consecutive(1, 1)
            .clock(clock)
            .on_state_change(|_: &StateChange<'_>| panic!("listener bug"))
            .build()
            .expect("valid");
        fail(&cb);
        assert_eq!(cb.state(), State::Open);
        let events = cap.take();
        let loud = above_debug(&events);
        assert_eq!(loud.len(), 2, "{events:?}");
        assert_eq!(loud[0].level, Level::WARN, "the opening itself");
        let e = loud[1];
        assert_eq!(e.level, Level::ERROR);
        assert_eq!(e.target, "fusebox::events");
        assert!(e.message.contains("listener panicked"), "{e:?}");
        assert!(e.message.contains("listener bug"), "{e:?}");
        assert!(
            e.message.contains("OPEN") || e.message.contains("open"),
            "{e:?}"
        );
    });
}

#[test]
fn a_name_with_control_characters_is_logged_escaped() {
    let cap = Capture::default();
    tracing::subscriber::with_default(cap.clone(), || {
        let b = CircuitBreaker::builder("db\n[INFO] all clear\u{1b}[0m")
            .consecutive_failure_threshold(1)
            .open_duration(OPEN)
            .reset_timeout(RESET);
        let (cb, _mock, _ev) = rig(b);
        fail(&cb);
        let events = cap.take();
        let loud = above_debug(&events);
        assert_eq!(loud.len(), 1, "{events:?}");
        let message = &loud[0].message;
        assert!(
            message.starts_with(r"circuit breaker 'db\n[INFO] all clear\u{1b}[0m' opened"),
            "{message}"
        );
        assert!(!message.contains(['\n', '\u{1b}']), "{message:?}");
        let rejected = cb.try_acquire().unwrap_err().to_string();
        assert!(!rejected.contains(['\n', '\u{1b}']), "{rejected:?}");
    });
}
