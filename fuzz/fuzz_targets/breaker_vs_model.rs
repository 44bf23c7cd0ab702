//! The real breaker against the sequential reference model
//! (`tests/support/model.rs`), on a mock clock, compared after every op by
//! the shared harness (`tests/support/harness.rs`).
//!
//! Set `FUSEBOX_FUZZ_STATS=1` to print running totals of inputs and ops.

#![no_main]

#[path = "../../tests/support/harness.rs"]
mod harness;
#[path = "../../tests/support/model.rs"]
mod model;
#[path = "../stats.rs"]
mod stats;

use arbitrary::Arbitrary;
use fusebox::Outcome;
use harness::{Cfg, Op};
use model::ModelBackoff;
use libfuzzer_sys::fuzz_target;

const MS: u64 = 1_000_000;

#[derive(Debug, Arbitrary)]
struct FuzzCfg {
    percentage: u16,
    consecutive: u8,
    open: Dur,
    half_open: u8,
    reset: Dur,
    buckets: u8,
    window_extra: u32,
    min_calls: u8,
    origin: u32,
    recent: bool,
    many_stripes: bool,
    abandoned: u8,
    backoff: FuzzBackoff,
    /// A slow-call threshold, if any.
    slow: Option<Dur>,
    slow_rate: u16,
}

/// No backoff, an exponential one, or a constant one with jitter.
#[derive(Debug, Arbitrary)]
enum FuzzBackoff {
    Constant,
    Exponential {
        max: Dur,
        /// 1 + n / 64: 1.0 to ~5.
        multiplier: u8,
        /// n / 255.
        jitter: u8,
        seed: u64,
    },
    Jittered {
        jitter: u8,
        seed: u64,
    },
}

/// An outcome, `Ignored` twice as likely as the others.
fn outcome(n: u8) -> Outcome {
    match n % 4 {
        0 | 1 => Outcome::Ignored,
        2 => Outcome::Failure,
        _ => Outcome::Success,
    }
}

/// A duration > 0 at one of several scales (the spec allows any > 0).
#[derive(Debug, Arbitrary)]
enum Dur {
    Nanos(u16),
    Millis(u16),
    Any(u32),
}

impl Dur {
    fn ns(&self) -> u64 {
        match *self {
            Dur::Nanos(n) => u64::from(n).max(1),
            Dur::Millis(n) => (u64::from(n) % 10_000).max(1) * MS,
            Dur::Any(n) => u64::from(n) * 3 + 1, // up to ~13 s
        }
    }
}

impl FuzzCfg {
    fn cfg(&self) -> Cfg {
        let window_buckets = u32::from(self.buckets % 16) + 1;
        let percentage = match self.percentage % 8 {
            0 => 100.0,
            1 => 50.0,
            2 => 100.0 / 3.0,
            _ => f64::from(self.percentage % 10_000 + 1) / 100.0,
        };
        Cfg {
            error_threshold_percentage: percentage,
            consecutive_failure_threshold: u32::from(self.consecutive % 6) + 1,
            open_ns: self.open.ns(),
            half_open_max_calls: u32::from(self.half_open % 5) + 1,
            reset_ns: self.reset.ns(),
            window_ns: u64::from(window_buckets) * MS + u64::from(self.window_extra) * 4,
            min_calls_for_error_rate: u32::from(self.min_calls % 12) + 1,
            window_buckets,
            origin_ns: if self.origin.is_multiple_of(4) {
                0
            } else {
                u64::from(self.origin) * 8
            },
            recent: self.recent,
            stripes: if self.many_stripes { 4 } else { 1 },
            abandoned: outcome(self.abandoned),
            slow_ns: self.slow.as_ref().map(Dur::ns),
            slow_call_rate_threshold: match self.slow_rate % 4 {
                0 => 100.0,
                1 => 50.0,
                _ => f64::from(self.slow_rate % 10_000 + 1) / 100.0,
            },
            backoff: match self.backoff {
                FuzzBackoff::Constant => None,
                FuzzBackoff::Exponential {
                    ref max,
                    multiplier,
                    jitter,
                    seed,
                } => Some(ModelBackoff {
                    max_ns: max.ns(),
                    multiplier: 1.0 + f64::from(multiplier) / 64.0,
                    jitter: f64::from(jitter) / 255.0,
                    seed,
                }),
                FuzzBackoff::Jittered { jitter, seed } => Some(ModelBackoff {
                    max_ns: self.open.ns(),
                    multiplier: 1.0,
                    jitter: f64::from(jitter) / 255.0,
                    seed,
                }),
            },
        }
    }
}

#[derive(Debug, Arbitrary)]
enum FuzzOp {
    Acquire,
    Success(u8),
    Failure(u8),
    Drop(u8),
    Allow,
    OnSuccess,
    OnFailure,
    CallOk,
    CallErr,
    CallPanic,
    /// Forward by `n / 8192` buckets (0 to 8 buckets).
    AdvanceSmall(u16),
    /// Forward by a step around `open_duration` / `reset_timeout`.
    AdvanceLarge(u8),
    /// Backwards by `n / 8192` buckets.
    Rewind(u16),
    State,
    Snapshot,
    Ignore(u8),
    CallWith(u8),
    /// A call that takes `n / 8192` buckets, or (`n` odd, up to 8)
    /// around the slow-call threshold.
    CallTakes(u16, bool),
}

impl FuzzOp {
    fn op(&self, cfg: &Cfg) -> Op {
        let bucket = cfg.bucket_ns();
        let frac = |n: u16| bucket * u64::from(n) / 8192;
        match *self {
            FuzzOp::Acquire => Op::Acquire,
            FuzzOp::Success(i) => Op::Success(usize::from(i)),
            FuzzOp::Failure(i) => Op::Failure(usize::from(i)),
            FuzzOp::Drop(i) => Op::Drop(usize::from(i)),
            FuzzOp::Allow => Op::Allow,
            FuzzOp::OnSuccess => Op::OnSuccess,
            FuzzOp::OnFailure => Op::OnFailure,
            FuzzOp::CallOk => Op::CallOk,
            FuzzOp::CallErr => Op::CallErr,
            FuzzOp::CallPanic => Op::CallPanic,
            FuzzOp::AdvanceSmall(n) => Op::Advance(frac(n)),
            FuzzOp::AdvanceLarge(k) => Op::Advance(match k % 8 {
                0 => cfg.open_ns,
                1 => cfg.reset_ns,
                2 => cfg.open_ns - 1,
                3 => cfg.reset_ns - 1,
                4 => cfg.window_ns,
                5 => cfg.window_ns + bucket,
                6 => cfg.open_ns.max(cfg.reset_ns),
                _ => cfg.open_ns * u64::from(k / 8 + 1),
            }),
            FuzzOp::Rewind(n) => Op::Rewind(frac(n)),
            FuzzOp::State => Op::State,
            FuzzOp::Snapshot => Op::Snapshot,
            FuzzOp::Ignore(i) => Op::Ignore(usize::from(i)),
            FuzzOp::CallWith(n) => Op::CallWith(outcome(n)),
            FuzzOp::CallTakes(n, ok) => Op::CallTakes(
                match (n % 8, cfg.slow_ns) {
                    (1, Some(t)) => t,
                    (3, Some(t)) => t - 1,
                    (5, Some(t)) => t + 1,
                    _ => frac(n),
                },
                ok,
            ),
        }
    }
}

#[derive(Debug, Arbitrary)]
struct Case {
    cfg: FuzzCfg,
    ops: Vec<FuzzOp>,
}

fuzz_target!(|case: Case| {
    let cfg = case.cfg.cfg();
    let ops: Vec<Op> = case.ops.iter().take(4096).map(|o| o.op(&cfg)).collect();
    match harness::run(&cfg, &ops) {
        Ok(s) => stats::record(s.ops, s.transitions),
        Err(divergence) => panic!("divergence: {divergence}\nconfig: {cfg:?}\nops: {ops:?}"),
    }
});
