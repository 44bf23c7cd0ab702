//! Drives the real breaker (on a mock clock) and the reference model side by
//! side and reports the first divergence. Shared by `model-tests/tests/model_proptest.rs`
//! and `fuzz/fuzz_targets/breaker_vs_model.rs`.
//!
//! After every operation the harness compares the operation's own result
//! (admitted or rejected, the rejection's state and `retry_after`, the state
//! returned), then the breaker's state word as its `Debug` output shows it
//! (state, generation, probes in flight, probe successes), then every field
//! of `snapshot()` on both sides. `snapshot()` makes any transition that has
//! fallen due with time, which would hide the lazy transitions made by
//! requests; so the full snapshot is compared after an operation only when
//! the model says no such transition is due (then `snapshot()` changes
//! nothing), and an explicit `Op::Snapshot` compares it unconditionally.

#![allow(dead_code)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use fusebox::quanta::{Clock, Mock};
use fusebox::{
    Backoff, CallError, CircuitBreaker, ClockMode, Outcome, Permit, Rejected, Snapshot, State,
};

use crate::model::{Model, ModelBackoff, ModelConfig, ModelPermit, ModelRejected};

/// The payload of the panics `Op::CallPanic` raises on purpose.
pub const INTENTIONAL_PANIC: &str = "fusebox-harness: intentional panic";

/// A valid configuration plus where the mock clock starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Cfg {
    pub error_threshold_percentage: f64,
    pub consecutive_failure_threshold: u32,
    pub open_ns: u64,
    pub half_open_max_calls: u32,
    pub reset_ns: u64,
    pub window_ns: u64,
    pub min_calls_for_error_rate: u32,
    pub window_buckets: u32,
    /// Mock clock reading when the breaker is built (its origin).
    pub origin_ns: u64,
    /// Run the breaker in [`ClockMode::Recent`]: on a mock clock it reads
    /// the mock's recent time, which is the mock's time, so the model is the
    /// same in both modes; the engine's paths to it are not.
    pub recent: bool,
    /// Window stripes, for runs whose clock never goes back; [`run`] uses
    /// one stripe for a run with a [`Op::Rewind`]. The model keeps one
    /// ring of bucket slots, where a verdict of a later bucket in the same
    /// slot drops an older one from the window. The engine keeps a ring
    /// per stripe, and even one thread writes to two stripes (the last,
    /// until its first slow-path write gives it an index, then its own),
    /// so with more stripes the older verdict can survive in the other
    /// stripe's ring. Only a clock that goes back brings it into the window
    /// again; the contract leaves that case open.
    pub stripes: usize,
    /// What a permit dropped without a verdict counts as.
    pub abandoned: Outcome,
    /// The open backoff (`None`: constant, no jitter). `max_ns == open_ns`
    /// with multiplier 1 builds a constant backoff with jitter.
    pub backoff: Option<ModelBackoff>,
    /// `slow_call_duration_threshold` in nanoseconds (`None`: off).
    pub slow_ns: Option<u64>,
    pub slow_call_rate_threshold: f64,
}

impl Cfg {
    pub fn model_config(&self) -> ModelConfig {
        ModelConfig {
            name: "model".to_string(),
            error_threshold_percentage: self.error_threshold_percentage,
            consecutive_failure_threshold: self.consecutive_failure_threshold,
            open_ns: self.open_ns,
            half_open_max_calls: self.half_open_max_calls,
            reset_ns: self.reset_ns,
            window_ns: self.window_ns,
            min_calls_for_error_rate: self.min_calls_for_error_rate,
            window_buckets: self.window_buckets,
            abandoned: self.abandoned,
            backoff: self.backoff,
            slow_ns: self.slow_ns,
            slow_call_rate_threshold: self.slow_call_rate_threshold,
        }
    }

    pub fn bucket_ns(&self) -> u64 {
        self.window_ns.div_ceil(u64::from(self.window_buckets))
    }

    /// The engine's form of [`Cfg::backoff`].
    pub fn engine_backoff(&self) -> Backoff {
        match self.backoff {
            None => Backoff::constant(),
            Some(b) if b.max_ns == self.open_ns && b.multiplier == 1.0 => {
                Backoff::constant().jitter(b.jitter)
            }
            Some(b) => Backoff::exponential(Duration::from_nanos(b.max_ns))
                .multiplier(b.multiplier)
                .jitter(b.jitter),
        }
    }

    pub fn build(&self, clock: Clock, stripes: usize) -> CircuitBreaker {
        let mut b = CircuitBreaker::builder("model");
        if let Some(ns) = self.slow_ns {
            b = b.slow_call_duration_threshold(Duration::from_nanos(ns));
        }
        b.stripes(stripes)
            .error_threshold_percentage(self.error_threshold_percentage)
            .consecutive_failure_threshold(self.consecutive_failure_threshold)
            .open_duration(Duration::from_nanos(self.open_ns))
            .half_open_max_calls(self.half_open_max_calls)
            .reset_timeout(Duration::from_nanos(self.reset_ns))
            .monitoring_window(Duration::from_nanos(self.window_ns))
            .min_calls_for_error_rate(self.min_calls_for_error_rate)
            .window_buckets(self.window_buckets)
            .abandoned(self.abandoned)
            .open_backoff(self.engine_backoff())
            .jitter_seed(self.backoff.map_or(0, |b| b.seed))
            .slow_call_rate_threshold(self.slow_call_rate_threshold)
            .clock(clock)
            .clock_mode(if self.recent {
                ClockMode::Recent
            } else {
                ClockMode::Precise
            })
            .build()
            .unwrap_or_else(|e| panic!("harness config must be valid: {e}: {self:?}"))
    }
}

/// One step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `try_acquire`, keeping the permit.
    Acquire,
    /// `success()` on held permit `i % held` (nothing if none is held).
    Success(usize),
    /// `failure()` on a held permit.
    Failure(usize),
    /// Drop a held permit without a verdict (the `abandoned` outcome).
    Drop(usize),
    /// `ignore()` on a held permit.
    Ignore(usize),
    /// `allow_request()`.
    Allow,
    /// `on_success()`.
    OnSuccess,
    /// `on_failure()`.
    OnFailure,
    /// `call` with `Ok`.
    CallOk,
    /// `call` with `Err`.
    CallErr,
    /// `call` whose closure panics.
    CallPanic,
    /// `call_with` whose closure returns `Err` and whose classifier says
    /// the outcome given.
    CallWith(Outcome),
    /// `call` whose closure moves the mock clock forward by the given
    /// nanoseconds (the call takes that long), then returns `Ok` (`true`)
    /// or `Err`.
    CallTakes(u64, bool),
    /// Move the mock clock forward.
    Advance(u64),
    /// Move the mock clock backwards (never below the mock's zero).
    Rewind(u64),
    /// `state()`.
    State,
    /// `snapshot()`, compared unconditionally.
    Snapshot,
}

/// What a run did, for campaign statistics.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    pub ops: u64,
    pub transitions: u64,
    pub snapshots_compared: u64,
}

/// Installs (once) a panic hook that keeps quiet about [`INTENTIONAL_PANIC`]
/// and hands every other panic to the hook that was installed before.
pub fn quiet_intentional_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let intentional = payload.downcast_ref::<&str>() == Some(&INTENTIONAL_PANIC);
            if !intentional {
                previous(info);
            }
        }));
    });
}

/// The state word as `CircuitBreaker`'s `Debug` prints it:
/// `(state, generation, probes in flight, probe successes)`. `None` if the
/// `Debug` output does not show it.
pub fn debug_word(cb: &CircuitBreaker) -> Option<(String, u64, u64, u64)> {
    let text = format!("{cb:?}");
    let word = &text[text.find("word: Word {")? + "word: Word {".len()..];
    let word = &word[..word.find('}')?];
    let field = |name: &str| -> Option<String> {
        let at = word.find(&format!("{name}: "))? + name.len() + 2;
        let rest = &word[at..];
        let end = rest.find(',').unwrap_or(rest.len());
        Some(rest[..end].trim().to_string())
    };
    Some((
        field("state")?,
        field("gen")?.parse().ok()?,
        field("inflight")?.parse().ok()?,
        field("successes")?.parse().ok()?,
    ))
}

fn compare_word(cb: &CircuitBreaker, model: &Model) -> Result<(), String> {
    let Some((state, gen, inflight, successes)) = debug_word(cb) else {
        return Ok(());
    };
    let expected = (
        format!("{:?}", model.state),
        model.gen,
        u64::from(if model.state == State::HalfOpen {
            model.inflight
        } else {
            0
        }),
        u64::from(if model.state == State::HalfOpen {
            model.successes
        } else {
            0
        }),
    );
    if (state.clone(), gen, inflight, successes) != expected {
        return Err(format!(
            "state word: engine (state, gen, inflight, successes) = {:?}, model {:?}",
            (state, gen, inflight, successes),
            expected
        ));
    }
    Ok(())
}

/// Compares two snapshots field by field (`error_rate` within 1e-9).
pub fn compare_snapshots(engine: &Snapshot, model: &Snapshot) -> Result<(), String> {
    let mut diffs = Vec::new();
    macro_rules! field {
        ($f:ident) => {
            if engine.$f != model.$f {
                diffs.push(format!(
                    "{}: engine {:?}, model {:?}",
                    stringify!($f),
                    engine.$f,
                    model.$f
                ));
            }
        };
    }
    field!(state);
    field!(recent_calls);
    field!(consecutive_failures);
    field!(total_calls);
    field!(total_successes);
    field!(total_failures);
    field!(total_rejected);
    field!(total_ignored);
    field!(recent_slow_calls);
    field!(state_duration);
    field!(open_remaining);
    field!(half_open_calls);
    field!(half_open_max_calls);
    if (engine.slow_call_rate - model.slow_call_rate).abs() > 1e-9 || engine.slow_call_rate.is_nan()
    {
        diffs.push(format!(
            "slow_call_rate: engine {}, model {}",
            engine.slow_call_rate, model.slow_call_rate
        ));
    }
    if (engine.error_rate - model.error_rate).abs() > 1e-9 || engine.error_rate.is_nan() {
        diffs.push(format!(
            "error_rate: engine {}, model {}",
            engine.error_rate, model.error_rate
        ));
    }
    if engine.name != "model" {
        diffs.push(format!("name: engine {:?}", engine.name));
    }
    if engine.total_calls != engine.total_successes + engine.total_failures {
        diffs.push("total_calls != total_successes + total_failures".to_string());
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs.join("; "))
    }
}

fn compare_rejection(engine: &Rejected, model: ModelRejected) -> Result<(), String> {
    if engine.state() != model.state || engine.retry_after() != model.retry_after {
        return Err(format!(
            "rejection: engine ({:?}, {:?}), model ({:?}, {:?})",
            engine.state(),
            engine.retry_after(),
            model.state,
            model.retry_after
        ));
    }
    if engine.name() != "model" {
        return Err(format!("rejection names {:?}", engine.name()));
    }
    Ok(())
}

fn compare_admission<T>(
    engine: &Result<T, &Rejected>,
    model: &Result<ModelPermit, ModelRejected>,
) -> Result<(), String> {
    match (engine, model) {
        (Ok(_), Ok(_)) => Ok(()),
        (Err(e), Err(m)) => compare_rejection(e, *m),
        (Ok(_), Err(m)) => Err(format!("engine admitted, model rejected with {m:?}")),
        (Err(e), Ok(m)) => Err(format!("engine rejected ({e}), model admitted {m:?}")),
    }
}

/// Runs `ops` on a fresh breaker and a fresh model; `Err` describes the
/// first divergence (with the index of the op that caused it).
pub fn run(cfg: &Cfg, ops: &[Op]) -> Result<Stats, String> {
    quiet_intentional_panics();
    let (clock, mock): (Clock, Arc<Mock>) = Clock::mock();
    mock.increment(cfg.origin_ns);
    let rewinds = ops.iter().any(|op| matches!(op, Op::Rewind(_)));
    let cb = cfg.build(clock, if rewinds { 1 } else { cfg.stripes });
    let mut model = Model::new(cfg.model_config());
    let mut held: Vec<(Permit<'_>, ModelPermit)> = Vec::new();
    let mut stats = Stats::default();
    let at = |i: usize, op: &Op, e: String| format!("op #{i} {op:?}: {e}");

    for (i, op) in ops.iter().enumerate() {
        stats.ops += 1;
        model.set_now(mock.value().saturating_sub(cfg.origin_ns));
        let mut force_snapshot = false;
        match *op {
            Op::Acquire => {
                let e = cb.try_acquire();
                let m = model.try_acquire();
                compare_admission(&e.as_ref().map(|_| ()), &m).map_err(|d| at(i, op, d))?;
                if let (Ok(p), Ok(mp)) = (e, m) {
                    held.push((p, mp));
                }
            }
            Op::Success(k) | Op::Failure(k) | Op::Drop(k) | Op::Ignore(k) => {
                if !held.is_empty() {
                    let (p, mp) = held.swap_remove(k % held.len());
                    match *op {
                        Op::Success(_) => {
                            p.success();
                            model.verdict(mp, false);
                        }
                        Op::Failure(_) => {
                            p.failure();
                            model.verdict(mp, true);
                        }
                        Op::Ignore(_) => {
                            p.ignore();
                            model.ignore(mp);
                        }
                        _ => {
                            drop(p);
                            model.abandon(mp);
                        }
                    }
                }
            }
            Op::Allow => {
                let e = cb.allow_request();
                let m = model.allow_request();
                if e != m {
                    return Err(at(i, op, format!("allow_request: engine {e}, model {m}")));
                }
            }
            Op::OnSuccess => {
                cb.on_success();
                model.on_verdict(false);
            }
            Op::OnFailure => {
                cb.on_failure();
                model.on_verdict(true);
            }
            Op::CallOk | Op::CallErr | Op::CallPanic => {
                let mut ran = false;
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    cb.call(|| {
                        ran = true;
                        match *op {
                            Op::CallOk => Ok(7u8),
                            Op::CallErr => Err("down"),
                            _ => std::panic::panic_any(INTENTIONAL_PANIC),
                        }
                    })
                }));
                let m = model.try_acquire();
                if let Ok(mp) = m {
                    model.verdict(mp, *op != Op::CallOk);
                }
                let e: Result<(), &Rejected> = match &outcome {
                    Err(_) => Ok(()), // it ran and panicked
                    Ok(Err(CallError::Rejected(r))) => Err(r),
                    Ok(Ok(_)) | Ok(Err(CallError::Failed(_))) => Ok(()),
                };
                compare_admission(&e, &m).map_err(|d| at(i, op, d))?;
                if ran != m.is_ok() {
                    return Err(at(i, op, format!("closure ran: {ran}")));
                }
                let shape_ok = matches!(
                    (*op, &outcome),
                    (Op::CallOk, Ok(Ok(7)))
                        | (Op::CallErr, Ok(Err(CallError::Failed("down"))))
                        | (Op::CallPanic, Err(_))
                        | (_, Ok(Err(CallError::Rejected(_))))
                );
                if !shape_ok {
                    return Err(at(i, op, format!("call returned {:?}", outcome.is_ok())));
                }
            }
            Op::CallWith(outcome) => {
                let mut ran = false;
                let result = cb.call_with(
                    |r: &Result<u8, &str>| {
                        assert_eq!(*r, Err("classified"));
                        outcome
                    },
                    || {
                        ran = true;
                        Err("classified")
                    },
                );
                let m = model.try_acquire();
                if let Ok(mp) = m {
                    model.report(mp, outcome);
                }
                let e: Result<(), &Rejected> = match &result {
                    Err(CallError::Rejected(r)) => Err(r),
                    Err(CallError::Failed("classified")) => Ok(()),
                    other => return Err(at(i, op, format!("call_with returned {other:?}"))),
                };
                compare_admission(&e, &m).map_err(|d| at(i, op, d))?;
                if ran != m.is_ok() {
                    return Err(at(i, op, format!("closure ran: {ran}")));
                }
            }
            Op::CallTakes(ns, ok) => {
                let mut ran = false;
                let result = cb.call(|| {
                    ran = true;
                    mock.increment(ns);
                    if ok {
                        Ok(1u8)
                    } else {
                        Err("slow")
                    }
                });
                let m = model.try_acquire();
                if let Ok(mp) = m {
                    model.set_now(mock.value().saturating_sub(cfg.origin_ns));
                    model.verdict(mp, !ok);
                }
                let e: Result<(), &Rejected> = match &result {
                    Err(CallError::Rejected(r)) => Err(r),
                    Ok(1) | Err(CallError::Failed("slow")) => Ok(()),
                    other => return Err(at(i, op, format!("call returned {other:?}"))),
                };
                compare_admission(&e, &m).map_err(|d| at(i, op, d))?;
                if ran != m.is_ok() {
                    return Err(at(i, op, format!("closure ran: {ran}")));
                }
            }
            Op::Advance(ns) => {
                mock.increment(ns);
            }
            Op::Rewind(ns) => {
                mock.decrement(ns.min(mock.value()));
            }
            Op::State => {
                let e = cb.state();
                let m = model.state();
                if e != m {
                    return Err(at(i, op, format!("state(): engine {e:?}, model {m:?}")));
                }
            }
            Op::Snapshot => force_snapshot = true,
        }
        // Time may have moved: the checks below read the clock.
        model.set_now(mock.value().saturating_sub(cfg.origin_ns));
        compare_word(&cb, &model).map_err(|d| at(i, op, d))?;
        if force_snapshot || !model.due() {
            let e = cb.snapshot();
            let m = model.snapshot();
            compare_snapshots(&e, &m).map_err(|d| at(i, op, format!("snapshot: {d}")))?;
            stats.snapshots_compared += 1;
            compare_word(&cb, &model).map_err(|d| at(i, op, format!("after snapshot: {d}")))?;
        }
    }
    // Resolve what is left: drop permits (both sides), then compare once more.
    model.set_now(mock.value().saturating_sub(cfg.origin_ns));
    for (p, mp) in held.drain(..) {
        drop(p);
        model.abandon(mp);
    }
    compare_word(&cb, &model).map_err(|d| format!("after dropping permits: {d}"))?;
    let e = cb.snapshot();
    let m = model.snapshot();
    compare_snapshots(&e, &m).map_err(|d| format!("final snapshot: {d}"))?;
    stats.transitions = model.transitions;
    Ok(stats)
}
