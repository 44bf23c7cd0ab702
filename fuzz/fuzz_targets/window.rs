//! The bucket ring against a naive list of timestamped outcomes, through the
//! public API, with clock jumps forwards and backwards.
//!
//! The breaker never trips (huge thresholds), so every verdict is current
//! and lands in the window. After every op `snapshot()` is compared with:
//!
//! * the naive list, filtered by the documented bucketing (bucket width
//!   `w = ceil(monitoring_window / B)`, a verdict at `t` in bucket `t / w`
//!   counts while the current bucket is at most `B - 1` after it): the engine
//!   must count **exactly** these whenever the clock reads at or after the
//!   latest verdict's bucket, and never more than these;
//! * the same list with the ring's one documented loss rule (a verdict leaves
//!   the window once a verdict of a later bucket in the same slot of the
//!   `B.next_power_of_two()`-slot ring was recorded, which only happens when
//!   the clock went backwards): exactly, always;
//! * SPEC §3's tolerance (a call counts at least `monitoring_window - w` and
//!   at most `monitoring_window + w`), whenever the clock reads at or after
//!   the latest verdict;
//! * exact totals.
//!
//! Time is the mock clock minus the breaker's origin, 0 before the origin
//! (see `src/clock.rs`); the engine takes a clock that went backwards as it
//! reads.

#![no_main]

#[path = "../stats.rs"]
mod stats;

use std::collections::HashMap;
use std::time::Duration;

use arbitrary::Arbitrary;
use fusebox::quanta::Clock;
use fusebox::{CircuitBreaker, ClockMode};
use libfuzzer_sys::fuzz_target;

const MS: u64 = 1_000_000;

#[derive(Debug, Arbitrary)]
struct Input {
    buckets: u16,
    window_extra: u32,
    origin: u32,
    /// Run the breaker in `ClockMode::Recent` (it then reads the mock's
    /// recent time, the same time, through another path).
    recent: bool,
    ops: Vec<WOp>,
}

#[derive(Debug, Arbitrary)]
enum WOp {
    CallOk,
    CallErr,
    PermitOk,
    PermitErr,
    /// Forward by `n / 4096` buckets (0 to 16 buckets).
    Forward(u16),
    /// Backwards by `n / 4096` buckets.
    Backward(u16),
    /// Forward by `k` whole windows.
    ForwardWindows(u8),
    /// Backwards by `k` whole windows.
    BackwardWindows(u8),
    /// To the next bucket boundary, plus `d - 2` ns (d in 0..=4).
    Boundary(u8),
}

fuzz_target!(|input: Input| {
    let buckets = match input.buckets % 8 {
        0 => u32::from(input.buckets % 1000) + 1,
        _ => u32::from(input.buckets % 24) + 1,
    };
    let window_ns = u64::from(buckets) * MS + u64::from(input.window_extra) * 16;
    let w = window_ns.div_ceil(u64::from(buckets));
    let ring = u64::from(buckets.next_power_of_two());
    let b = u64::from(buckets);
    let origin = if input.origin.is_multiple_of(3) {
        0
    } else {
        u64::from(input.origin) * 64
    };

    let (clock, mock) = Clock::mock();
    mock.increment(origin);
    let cb = CircuitBreaker::builder("window")
        .error_threshold_percentage(100.0)
        .consecutive_failure_threshold(u32::MAX)
        .min_calls_for_error_rate(u32::MAX)
        .monitoring_window(Duration::from_nanos(window_ns))
        .window_buckets(buckets)
        .clock(clock)
        .clock_mode(if input.recent {
            ClockMode::Recent
        } else {
            ClockMode::Precise
        })
        .build()
        .expect("valid window config");

    let now = || mock.value().saturating_sub(origin);
    // (time, failure) of every verdict, in order.
    let mut list: Vec<(u64, bool)> = Vec::new();
    // Per ring slot, the latest bucket recorded in it.
    let mut slot_latest: HashMap<u64, u64> = HashMap::new();
    let mut latest_bucket: Option<u64> = None;
    let mut ops = 0u64;

    for op in input.ops.iter().take(2048) {
        ops += 1;
        let verdict = match *op {
            WOp::CallOk => {
                cb.call(|| Ok::<_, ()>(())).expect("never rejected");
                Some(false)
            }
            WOp::CallErr => {
                assert!(cb
                    .call(|| Err::<(), _>(()))
                    .unwrap_err()
                    .into_failed()
                    .is_some());
                Some(true)
            }
            WOp::PermitOk => {
                cb.try_acquire().expect("never rejected").success();
                Some(false)
            }
            WOp::PermitErr => {
                cb.try_acquire().expect("never rejected").failure();
                Some(true)
            }
            WOp::Forward(n) => {
                mock.increment(w * u64::from(n) / 4096);
                None
            }
            WOp::Backward(n) => {
                mock.decrement((w * u64::from(n) / 4096).min(mock.value()));
                None
            }
            WOp::ForwardWindows(k) => {
                mock.increment(window_ns * u64::from(k % 8));
                None
            }
            WOp::BackwardWindows(k) => {
                mock.decrement((window_ns * u64::from(k % 8)).min(mock.value()));
                None
            }
            WOp::Boundary(d) => {
                let t = now();
                let next = (t / w + 1) * w + u64::from(d % 5);
                mock.increment((next - t).saturating_sub(2));
                None
            }
        };
        let t = now();
        if let Some(failure) = verdict {
            list.push((t, failure));
            let bucket = t / w;
            let e = slot_latest.entry(bucket % ring).or_insert(0);
            *e = (*e).max(bucket);
            latest_bucket = Some(latest_bucket.map_or(bucket, |l| l.max(bucket)));
        }

        let s = cb.snapshot();
        let now_bucket = t / w;
        let in_window = |bucket: u64| bucket + (b - 1) >= now_bucket;
        let (mut naive, mut ringed) = ([0u64; 2], [0u64; 2]);
        let (mut must, mut may) = (0u64, 0u64);
        let (mut succ, mut fail) = (0u64, 0u64);
        for &(at, failure) in &list {
            let bucket = at / w;
            if failure {
                fail += 1;
            } else {
                succ += 1;
            }
            if in_window(bucket) {
                naive[usize::from(failure)] += 1;
                if slot_latest[&(bucket % ring)] == bucket {
                    ringed[usize::from(failure)] += 1;
                }
            }
            if at > t || t - at <= window_ns + w {
                may += 1;
            }
            if at <= t && t - at < window_ns - w {
                must += 1;
            }
        }
        let ctx = || {
            format!("t={t} w={w} B={buckets} R={ring} origin={origin} list={list:?} snapshot={s:?}")
        };
        assert_eq!(
            (s.total_successes, s.total_failures),
            (succ, fail),
            "totals {}",
            ctx()
        );
        assert_eq!(s.total_rejected, 0, "{}", ctx());
        let engine = s.recent_calls;
        assert_eq!(engine, ringed[0] + ringed[1], "ring rule {}", ctx());
        assert!(
            engine <= naive[0] + naive[1],
            "more than the naive list {}",
            ctx()
        );
        let rate = if engine == 0 {
            0.0
        } else {
            (ringed[1] as f64 * 100.0 / engine as f64).min(100.0)
        };
        assert!(
            (s.error_rate - rate).abs() < 1e-9,
            "error_rate {rate} {}",
            ctx()
        );
        if latest_bucket.is_none_or(|l| now_bucket >= l) {
            assert_eq!(
                ringed,
                naive,
                "caught up with the clock, ring must equal naive {}",
                ctx()
            );
            assert!(
                must <= engine && engine <= may,
                "SPEC tolerance must={must} may={may} {}",
                ctx()
            );
        }
    }
    stats::record(ops, 0);
});
