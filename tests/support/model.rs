//! A sequential reference model of SPEC.md: one thread, no atomics, plain
//! integers and a list of verdicts.
//!
//! It is driven side by side with the real breaker (on a mock clock) by
//! `model-tests/tests/model_proptest.rs` and the `fuzz/` targets, which assert that the
//! two agree after every operation.
//!
//! Time is `u64` nanoseconds since the breaker was built, set by the driver
//! with [`Model::set_now`] before each operation. A clock that reads before
//! the origin reads 0; a clock that goes backwards is taken as it is (every
//! "time since" saturates at 0).
//!
//! Where SPEC.md leaves a detail open, the model follows the decisions
//! written down in `src/lib.rs` and the engine's documentation:
//!
//! * half-open admission caps probes *in flight*; a probe success frees its
//!   slot and adds a success; the breaker closes when the successes reach
//!   `half_open_max_calls`;
//! * the window (and the consecutive count) belong to an *era*, the
//!   generation in which the breaker last closed. Closing starts a new era
//!   (R6 clears both); opening does not, so an OPEN or HALF_OPEN breaker
//!   still shows the figures that tripped it, and probe verdicts are added to
//!   them (a probe success resets the consecutive count, a probe failure
//!   adds one);
//! * `on_success`/`on_failure` are verdicts of the current generation: in
//!   CLOSED like a permit's, in HALF_OPEN like a probe's only if an unticketed
//!   `allow_request` of this half-open period took a slot that no unticketed
//!   verdict has released yet (else the totals only), in OPEN they reach the
//!   totals only. They make no time-based transition;
//! * window bucketing: bucket width `w = ceil(monitoring_window / B)`, a
//!   verdict at time `t` is in bucket `t / w`, and it counts while the current
//!   bucket is at most `B - 1` buckets after it (buckets after the current
//!   one, which a clock that went backwards can leave, count too);
//! * the window keeps one bucket per slot of a ring of
//!   `R = B.next_power_of_two()` slots (bucket `e` in slot `e % R`): a verdict
//!   is lost from the window, not from the totals, once a verdict of a later
//!   bucket (or the same bucket of a later era) in the same slot was
//!   recorded. With a clock that only moves forward such a verdict has
//!   already left the window, so this rule only shows when the clock goes
//!   backwards.

#![allow(dead_code)]

use std::collections::HashMap;
use std::time::Duration;

use fusebox::{Outcome, Snapshot, State};

/// The settings the model needs, in nanoseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub name: String,
    pub error_threshold_percentage: f64,
    pub consecutive_failure_threshold: u32,
    pub open_ns: u64,
    pub half_open_max_calls: u32,
    pub reset_ns: u64,
    pub window_ns: u64,
    pub min_calls_for_error_rate: u32,
    pub window_buckets: u32,
    /// What a permit dropped without a verdict counts as.
    pub abandoned: Outcome,
    /// The open backoff: `None` for a constant one without jitter.
    pub backoff: Option<ModelBackoff>,
    /// `slow_call_duration_threshold` in nanoseconds (`None`: off).
    pub slow_ns: Option<u64>,
    pub slow_call_rate_threshold: f64,
}

/// An open backoff: the k-th opening since the breaker last closed lasts
/// `min(open × multiplier^(k−1), max) × (1 − jitter × u)`, `u` in `[0, 1)`
/// drawn from the OPEN state's generation and `seed`, at least 1 ns. A
/// constant backoff with jitter is `max = open`, `multiplier = 1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelBackoff {
    pub max_ns: u64,
    pub multiplier: f64,
    pub jitter: f64,
    pub seed: u64,
}

impl ModelBackoff {
    pub fn duration_ns(&self, open_ns: u64, k: u64, gen: u64) -> u64 {
        let exp = i32::try_from(k - 1).unwrap_or(i32::MAX);
        let grown = open_ns as f64 * self.multiplier.powi(exp);
        let capped = grown.min(self.max_ns as f64);
        // SplitMix64 of `seed ^ gen`, its top 53 bits as a fraction.
        let mut z = (self.seed ^ gen).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let u = (z >> 11) as f64 / (1u64 << 53) as f64;
        ((capped * (1.0 - self.jitter * u)).round() as u64).clamp(1, u64::MAX - 1)
    }
}

impl ModelConfig {
    /// `w = ceil(monitoring_window / B)`.
    pub fn bucket_ns(&self) -> u64 {
        self.window_ns.div_ceil(u64::from(self.window_buckets))
    }

    /// Slots in the bucket ring.
    pub fn ring(&self) -> u64 {
        u64::from(self.window_buckets.next_power_of_two())
    }
}

/// One verdict that reached a ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub time_ns: u64,
    pub era: u64,
    /// The main window: a failure. The slow ring: a slow call abandoned
    /// and ignored (not in the main window), rather than a slow verdict.
    pub failure: bool,
}

/// A ring of bucket slots and the verdicts that reached it: the monitoring
/// window, or the slow calls beside it.
#[derive(Debug, Clone, Default)]
pub struct Ring {
    /// Verdicts (pruned of those that can never count again).
    pub records: Vec<Record>,
    /// Per ring slot, the latest `(bucket, era)` any verdict was recorded in.
    pub slot_latest: HashMap<u64, (u64, u64)>,
}

impl Ring {
    /// Records a verdict of `era` at `now`.
    fn record(&mut self, cfg: &ModelConfig, now: u64, era: u64, failure: bool) {
        let bucket = now / cfg.bucket_ns();
        let slot = bucket % cfg.ring();
        let latest = self.slot_latest.entry(slot).or_insert((0, 0));
        if (bucket, era) > *latest {
            *latest = (bucket, era);
        }
        self.records.push(Record {
            time_ns: now,
            era,
            failure,
        });
        // Drop what can never count again: superseded in its slot.
        let ring = cfg.ring();
        let bucket_ns = cfg.bucket_ns();
        let slots = &self.slot_latest;
        self.records.retain(|r| {
            let b = r.time_ns / bucket_ns;
            slots.get(&(b % ring)) == Some(&(b, r.era))
        });
    }

    /// `(successes, failures)` of `era` in the window at `now`.
    fn counts(&self, cfg: &ModelConfig, now: u64, era: u64) -> (u64, u64) {
        let bucket_ns = cfg.bucket_ns();
        let now_bucket = now / bucket_ns;
        let oldest = now_bucket.saturating_sub(u64::from(cfg.window_buckets) - 1);
        let (mut s, mut f) = (0, 0);
        for r in &self.records {
            let b = r.time_ns / bucket_ns;
            let latest = self.slot_latest.get(&(b % cfg.ring()));
            if r.era == era && b >= oldest && latest == Some(&(b, r.era)) {
                if r.failure {
                    f += 1;
                } else {
                    s += 1;
                }
            }
        }
        (s, f)
    }
}

/// A model permit: the generation it was admitted in, and whether it is a
/// half-open probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelPermit {
    pub gen: u64,
    pub probe: bool,
    /// A CLOSED permit of a breaker that times calls: when it was admitted.
    pub admitted_at: Option<u64>,
}

/// A refusal: the state it was refused in and `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelRejected {
    pub state: State,
    pub retry_after: Option<Duration>,
}

/// The reference model.
#[derive(Debug, Clone)]
pub struct Model {
    pub cfg: ModelConfig,
    /// Nanoseconds since the breaker was built.
    pub now: u64,
    pub state: State,
    /// Bumped on every transition.
    pub gen: u64,
    /// HALF_OPEN: probes admitted and not yet resolved.
    pub inflight: u32,
    /// HALF_OPEN: probes that succeeded.
    pub successes: u32,
    /// Openings since the breaker last closed (OPEN and HALF_OPEN: the
    /// latest one's number).
    pub openings: u64,
    /// HALF_OPEN: slots unticketed admissions of this generation took and
    /// no unticketed verdict has released.
    pub unticketed: u32,
    /// When the current state began.
    pub since: u64,
    /// The generation in which the breaker last closed (0 at creation).
    pub era: u64,
    /// The monitoring window.
    pub window: Ring,
    /// The slow calls beside it (R14).
    pub slow: Ring,
    /// Consecutive failures of the current era.
    pub consecutive: u64,
    pub total_successes: u64,
    pub total_failures: u64,
    pub total_rejected: u64,
    pub total_ignored: u64,
    /// Transitions made, for statistics.
    pub transitions: u64,
}

impl Model {
    pub fn new(cfg: ModelConfig) -> Model {
        Model {
            cfg,
            now: 0,
            state: State::Closed,
            gen: 0,
            inflight: 0,
            successes: 0,
            openings: 0,
            unticketed: 0,
            since: 0,
            era: 0,
            window: Ring::default(),
            slow: Ring::default(),
            consecutive: 0,
            total_successes: 0,
            total_failures: 0,
            total_rejected: 0,
            total_ignored: 0,
            transitions: 0,
        }
    }

    /// Sets the clock: nanoseconds since the breaker was built.
    pub fn set_now(&mut self, now: u64) {
        self.now = now;
    }

    /// How long the current OPEN state lasts (R15).
    pub fn open_ns(&self) -> u64 {
        match &self.cfg.backoff {
            None => self.cfg.open_ns,
            Some(b) => b.duration_ns(self.cfg.open_ns, self.openings.max(1), self.gen),
        }
    }

    fn elapsed(&self) -> u64 {
        self.now.saturating_sub(self.since)
    }

    fn enter(&mut self, state: State) {
        match state {
            State::Open => self.openings += 1,
            State::Closed => self.openings = 0,
            State::HalfOpen => {}
        }
        self.state = state;
        self.gen += 1;
        self.inflight = 0;
        self.successes = 0;
        self.unticketed = 0;
        self.since = self.now;
        self.transitions += 1;
        if state == State::Closed {
            // R6: a new era, with an empty window and no consecutive failures.
            self.era = self.gen;
            self.consecutive = 0;
            self.window.records.retain(|r| r.era >= self.era);
            self.slow.records.retain(|r| r.era >= self.era);
        }
    }

    // ---- the window ------------------------------------------------------

    fn bucket_of(&self, t: u64) -> u64 {
        t / self.cfg.bucket_ns()
    }

    /// Records a verdict of `era` at the current time.
    fn record(&mut self, era: u64, failure: bool) {
        let now = self.now;
        self.window.record(&self.cfg, now, era, failure);
    }

    /// `(successes, failures)` of the current era in the window.
    pub fn window_counts(&self) -> (u64, u64) {
        self.window.counts(&self.cfg, self.now, self.era)
    }

    /// `(slow verdicts, slow ignored abandonments)` of the current era.
    pub fn slow_counts(&self) -> (u64, u64) {
        self.slow.counts(&self.cfg, self.now, self.era)
    }

    pub fn error_rate(failures: u64, calls: u64) -> f64 {
        if calls == 0 {
            0.0
        } else {
            (failures as f64 * 100.0 / calls as f64).min(100.0)
        }
    }

    // ---- time-based transitions (R4, R8) ---------------------------------

    /// Whether a time-based transition has fallen due (so that `state()` or
    /// `snapshot()` would make it).
    pub fn due(&self) -> bool {
        match self.state {
            State::Closed => false,
            State::Open => self.elapsed() >= self.open_ns(),
            State::HalfOpen => self.elapsed() >= self.cfg.reset_ns,
        }
    }

    /// R8: resolves an expired HALF_OPEN. Returns whether it did.
    fn resolve_reset_timeout(&mut self) -> bool {
        if self.state == State::HalfOpen && self.elapsed() >= self.cfg.reset_ns {
            if self.successes > 0 {
                self.enter(State::Closed);
            } else {
                self.enter(State::Open);
            }
            true
        } else {
            false
        }
    }

    /// What `state()` and `snapshot()` do first.
    fn settle(&mut self) {
        loop {
            match self.state {
                State::Closed => return,
                State::Open => {
                    if self.elapsed() < self.open_ns() {
                        return;
                    }
                    self.enter(State::HalfOpen);
                }
                State::HalfOpen => {
                    if !self.resolve_reset_timeout() {
                        return;
                    }
                }
            }
        }
    }

    // ---- admission -------------------------------------------------------

    pub fn try_acquire(&mut self) -> Result<ModelPermit, ModelRejected> {
        loop {
            match self.state {
                State::Closed => {
                    return Ok(ModelPermit {
                        gen: self.gen,
                        probe: false,
                        admitted_at: self.cfg.slow_ns.map(|_| self.now),
                    })
                }
                State::Open => {
                    let elapsed = self.elapsed();
                    if elapsed < self.open_ns() {
                        self.total_rejected += 1;
                        return Err(ModelRejected {
                            state: State::Open,
                            retry_after: Some(Duration::from_nanos(self.open_ns() - elapsed)),
                        });
                    }
                    // R4: this request moves the breaker and is its first probe.
                    self.enter(State::HalfOpen);
                    self.inflight = 1;
                    return Ok(ModelPermit {
                        gen: self.gen,
                        probe: true,
                        admitted_at: None,
                    });
                }
                State::HalfOpen => {
                    if self.resolve_reset_timeout() {
                        continue; // the request proceeds in the new state
                    }
                    if self.inflight >= self.cfg.half_open_max_calls {
                        self.total_rejected += 1;
                        return Err(ModelRejected {
                            state: State::HalfOpen,
                            retry_after: None,
                        });
                    }
                    self.inflight += 1;
                    return Ok(ModelPermit {
                        gen: self.gen,
                        probe: true,
                        admitted_at: None,
                    });
                }
            }
        }
    }

    pub fn allow_request(&mut self) -> bool {
        match self.try_acquire() {
            Ok(permit) => {
                if permit.probe {
                    self.unticketed += 1;
                }
                true
            }
            Err(_) => false,
        }
    }

    // ---- verdicts --------------------------------------------------------

    fn count_total(&mut self, failure: bool) {
        if failure {
            self.total_failures += 1;
        } else {
            self.total_successes += 1;
        }
    }

    pub fn verdict(&mut self, permit: ModelPermit, failure: bool) {
        if permit.probe {
            self.probe_verdict(permit.gen, failure);
        } else {
            self.closed_verdict(permit.gen, failure);
            self.slow_check(permit, false);
        }
    }

    /// R14, after a timed permit's verdict (or its abandonment, ignored):
    /// if it took the threshold or longer and its CLOSED state is still
    /// current, it is counted slow and the slow-call rate is judged.
    fn slow_check(&mut self, permit: ModelPermit, ignored: bool) {
        let (Some(at), Some(slow_ns)) = (permit.admitted_at, self.cfg.slow_ns) else {
            return;
        };
        if self.now.saturating_sub(at) < slow_ns
            || self.state != State::Closed
            || self.gen != permit.gen
        {
            return;
        }
        let (now, era) = (self.now, self.era);
        self.slow.record(&self.cfg, now, era, ignored);
        let (s, f) = self.window_counts();
        let (slow, slow_ignored) = self.slow_counts();
        let calls = s + f + slow_ignored;
        if calls > 0
            && calls >= u64::from(self.cfg.min_calls_for_error_rate)
            && Model::error_rate(slow + slow_ignored, calls) >= self.cfg.slow_call_rate_threshold
        {
            self.enter(State::Open); // R14
        }
    }

    fn closed_verdict(&mut self, gen: u64, failure: bool) {
        self.count_total(failure);
        if self.state != State::Closed || self.gen != gen {
            return; // R9
        }
        self.record(self.era, failure);
        if !failure {
            self.consecutive = 0; // R1
            return;
        }
        self.consecutive += 1;
        let (s, f) = self.window_counts();
        let calls = s + f;
        let consecutive_trip =
            self.consecutive >= u64::from(self.cfg.consecutive_failure_threshold);
        let rate_trip = calls > 0
            && calls >= u64::from(self.cfg.min_calls_for_error_rate)
            && Model::error_rate(f, calls) >= self.cfg.error_threshold_percentage;
        if consecutive_trip || rate_trip {
            self.enter(State::Open); // R1, R2
        }
    }

    fn probe_verdict(&mut self, gen: u64, failure: bool) {
        self.count_total(failure);
        if self.state != State::HalfOpen || self.gen != gen || self.inflight == 0 {
            return; // R9
        }
        let era = self.era;
        if failure {
            self.enter(State::Open); // R7
            self.record(era, true);
            self.consecutive += 1;
            return;
        }
        self.successes += 1;
        if self.successes >= self.cfg.half_open_max_calls {
            // R6. The probe's own verdict lands in the era it was made in.
            self.enter(State::Closed);
            self.record(era, false);
        } else {
            self.inflight -= 1;
            self.record(era, false);
            self.consecutive = 0;
        }
    }

    /// An `Ignored` verdict: frees a current probe's slot, counts in
    /// `total_ignored` only.
    pub fn ignore(&mut self, permit: ModelPermit) {
        self.release(permit);
        self.total_ignored += 1;
    }

    /// A verdict as an `Outcome`.
    pub fn report(&mut self, permit: ModelPermit, outcome: Outcome) {
        match outcome {
            Outcome::Success => self.verdict(permit, false),
            Outcome::Failure => self.verdict(permit, true),
            Outcome::Ignored => self.ignore(permit),
        }
    }

    /// A permit dropped without a verdict: the configured `abandoned`
    /// outcome.
    pub fn abandon(&mut self, permit: ModelPermit) {
        if self.cfg.abandoned == Outcome::Ignored {
            // A slow abandonment counts as slow whatever `abandoned` says.
            self.ignore(permit);
            self.slow_check(permit, true);
        } else {
            self.report(permit, self.cfg.abandoned);
        }
    }

    /// Frees a current probe's slot; counts nothing.
    pub fn release(&mut self, permit: ModelPermit) {
        if permit.probe
            && self.state == State::HalfOpen
            && self.gen == permit.gen
            && self.inflight > 0
        {
            self.inflight -= 1;
        }
    }

    /// Unticketed verdicts: of the current generation.
    pub fn on_verdict(&mut self, failure: bool) {
        match self.state {
            State::Closed => self.closed_verdict(self.gen, failure),
            State::HalfOpen if self.unticketed > 0 => {
                self.unticketed -= 1;
                self.probe_verdict(self.gen, failure);
            }
            State::HalfOpen | State::Open => self.count_total(failure),
        }
    }

    // ---- observation -----------------------------------------------------

    pub fn state(&mut self) -> State {
        self.settle();
        self.state
    }

    pub fn snapshot(&mut self) -> Snapshot {
        self.settle();
        let (s, f) = self.window_counts();
        let elapsed = self.elapsed();
        Snapshot {
            name: self.cfg.name.clone(),
            state: self.state,
            error_rate: Model::error_rate(f, s + f),
            recent_calls: s + f,
            consecutive_failures: self.consecutive,
            total_calls: self.total_successes + self.total_failures,
            total_successes: self.total_successes,
            total_failures: self.total_failures,
            total_rejected: self.total_rejected,
            total_ignored: self.total_ignored,
            slow_call_rate: {
                let (slow, slow_ignored) = self.slow_counts();
                Model::error_rate(slow + slow_ignored, s + f + slow_ignored)
            },
            recent_slow_calls: {
                let (slow, slow_ignored) = self.slow_counts();
                slow + slow_ignored
            },
            state_duration: Duration::from_nanos(elapsed),
            open_remaining: (self.state == State::Open)
                .then(|| Duration::from_nanos(self.open_ns().saturating_sub(elapsed))),
            half_open_calls: if self.state == State::HalfOpen {
                self.inflight
            } else {
                0
            },
            half_open_max_calls: self.cfg.half_open_max_calls,
        }
    }
}
