//! The contenders shared by `benches/breakers.rs` and
//! `benches/contention.rs` (both include this file with `#[path]`), and the
//! pool of pre-spawned worker threads that drives them.
//!
//! A [`Contender`] runs a batch of operations on the calling worker thread;
//! the loop lives inside each implementation so that the dynamic dispatch
//! costs one call per batch, not one per operation.
//!
//! Groups (the operation measured):
//!
//! * `closed_success`: a guarded call that succeeds, breaker CLOSED.
//! * `closed_mixed`: the same with every 100th call of each thread failing;
//!   thresholds are set so the breaker stays CLOSED.
//! * `open_reject`: a call refused by an OPEN breaker (`open_duration` 1 h).
//! * `half_open_admission`: a probe admission and its release (permit
//!   dropped, so the breaker stays HALF_OPEN with probe slots free).
//! * `registry_get`: look a breaker up by name in a registry of 16:
//!   `fusebox` with `Registry::get` (an `Arc` clone and its drop),
//!   `fusebox-with` with `Registry::with` (no clone).
//!
//! Floors (what no breaker can beat) run in every group: a relaxed
//! `fetch_add` on one shared counter, a relaxed `fetch_add` on the thread's
//! own cache-padded counter, and one `quanta::Clock::raw()` read plus that
//! add (the precise-clock floor: the budget of fusebox's precise mode).
//!
//! Two more floors run in `closed_success` and `closed_mixed`: the least an
//! *exact* consecutive-failure count (R1) can cost on top of the padded add,
//! one for each way the information can flow. `floor-r1-word`: every success
//! reads one shared word that failures increment, and resets it (fusebox's
//! way). `floor-r1-scan`: successes touch only their own line, and every
//! failure sums every thread's success count to see whether one happened
//! since the previous failure. Their `closed_mixed` minus `closed_success`
//! is what 1 % failures must cost at a thread count, whatever the breaker.
//!
//! Three more run in `closed_success` only, to show how much of fusebox's
//! `Recent` success its design asks for: `floor-slot-cas` is the window
//! write alone (the bucket from an epoch cell, the slot from a hint, tag
//! and count checked, the count CASed), `floor-slot-rules` adds the rules'
//! loads (admission, R9's reload, R1's word), and `floor-slot-xadd`
//! counts with a `fetch_add` instead of the CAS (see [`Slot`]).

#![allow(dead_code)]

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use failsafe::CircuitBreaker as _;
use fusebox::quanta;
use fusebox::{CircuitBreaker, ClockMode, Outcome, Registry, State};

/// The operations measured, one criterion group each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    ClosedSuccess,
    ClosedMixed,
    OpenReject,
    HalfOpenAdmission,
    RegistryGet,
}

impl Group {
    pub const ALL: [Group; 5] = [
        Group::ClosedSuccess,
        Group::ClosedMixed,
        Group::OpenReject,
        Group::HalfOpenAdmission,
        Group::RegistryGet,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Group::ClosedSuccess => "closed_success",
            Group::ClosedMixed => "closed_mixed",
            Group::OpenReject => "open_reject",
            Group::HalfOpenAdmission => "half_open_admission",
            Group::RegistryGet => "registry_get",
        }
    }

    pub fn parse(s: &str) -> Option<Group> {
        Group::ALL.into_iter().find(|g| g.name() == s)
    }
}

/// One thing to measure: runs `iters` operations as worker `tid`.
pub trait Contender: Send + Sync {
    /// Runs `iters` operations on the calling thread, worker number `tid`
    /// (`0..threads`).
    fn run(&self, tid: usize, iters: u64);

    /// `Err` if the breaker is not in the state the group measures (a bench
    /// that tripped its breaker would measure the wrong path).
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

/// A named contender.
pub struct Entry {
    pub name: &'static str,
    pub contender: Arc<dyn Contender>,
}

fn entry(name: &'static str, c: impl Contender + 'static) -> Entry {
    Entry {
        name,
        contender: Arc::new(c),
    }
}

/// One thread's call results for a batch: every 100th fails in
/// `closed_mixed`, none in the other groups. The period is hidden from the
/// optimiser once per batch, so a breaker sees a result it cannot predict at
/// compile time, but the harness adds no memory round trip (and no division)
/// to each call: every contender pays the same one decrement and branch.
struct Outcomes {
    period: u64,
    left: u64,
}

impl Outcomes {
    fn new(group: Group) -> Outcomes {
        let period = black_box(if group == Group::ClosedMixed {
            100
        } else {
            u64::MAX
        });
        Outcomes {
            period,
            left: period,
        }
    }

    #[inline(always)]
    fn next(&mut self) -> Result<(), ()> {
        self.left -= 1;
        if self.left == 0 {
            self.left = self.period;
            Err(())
        } else {
            Ok(())
        }
    }
}

/// `Ok(())` or `Err(())` as the call's result, opaque to the optimiser.
#[inline(always)]
fn outcome(fail: bool) -> Result<(), ()> {
    if black_box(fail) {
        Err(())
    } else {
        Ok(())
    }
}

/// The thread counts to run: 1, 2, 4, … up to `available_parallelism()`
/// (which is always included), plus one 2× oversubscribed point.
pub fn default_thread_counts() -> Vec<usize> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut counts = Vec::new();
    let mut t = 1;
    while t < cores {
        counts.push(t);
        t *= 2;
    }
    counts.push(cores);
    counts.push(cores * 2);
    counts
}

/// Every contender of `group`, sized for up to `max_threads` workers.
pub fn contenders(group: Group, max_threads: usize) -> Vec<Entry> {
    let mut v = Vec::new();
    if group == Group::RegistryGet {
        v.push(entry("fusebox", FuseboxRegistry::new(Lookup::Get)));
        v.push(entry("fusebox-with", FuseboxRegistry::new(Lookup::With)));
    } else {
        v.push(entry(
            "fusebox-precise",
            Fusebox::new(group, ClockMode::Precise),
        ));
        v.push(entry(
            "fusebox-recent",
            Fusebox::new(group, ClockMode::Recent),
        ));
        if group == Group::ClosedSuccess {
            // The direct API, `try_acquire()` + `Permit::success()`, without
            // the `call` wrapper (precise clock).
            v.push(entry("fusebox-permit", FuseboxPermit::new()));
            // `call_with` with a classifier (`Ok` is a success).
            v.push(entry("fusebox-call-with", FuseboxClassified::new()));
            // A slow-call threshold set (1 s, so no call is slow): the
            // timed admission's extra clock read.
            v.push(entry(
                "fusebox-slow-precise",
                Fusebox::timed(ClockMode::Precise),
            ));
            v.push(entry(
                "fusebox-slow-recent",
                Fusebox::timed(ClockMode::Recent),
            ));
        }
    }
    v.push(entry("floor-shared-add", SharedAdd::default()));
    v.push(entry("floor-padded-add", PaddedAdd::new(max_threads)));
    v.push(entry("floor-clock+add", ClockAdd::new(max_threads)));
    if matches!(group, Group::ClosedSuccess | Group::ClosedMixed) {
        v.push(entry("floor-r1-word", R1Word::new(group, max_threads)));
        v.push(entry("floor-r1-scan", R1Scan::new(group, max_threads)));
    }
    if group == Group::ClosedSuccess {
        v.push(entry(
            "floor-slot-cas",
            SlotCount::new(max_threads, Slot::Cas),
        ));
        v.push(entry(
            "floor-slot-xadd",
            SlotCount::new(max_threads, Slot::Xadd),
        ));
        v.push(entry(
            "floor-slot-rules",
            SlotCount::new(max_threads, Slot::Rules),
        ));
    }
    match group {
        Group::RegistryGet => {
            v.push(entry("mutex-hashmap", MutexRegistry::new()));
            v.push(entry("rwlock-hashmap", RwLockRegistry::new()));
        }
        Group::HalfOpenAdmission => {
            v.push(entry("mutex-breaker", Naive::new(group)));
            // recloser admits without limit in HALF_OPEN and has no public
            // admission call without a verdict (which would close it), so it
            // cannot be held half-open: left out of this group.
            v.push(entry("failsafe", FailsafeHalfOpen::new()));
        }
        _ => {
            v.push(entry("mutex-breaker", Naive::new(group)));
            v.push(entry("recloser", Recloser::new(group)));
            v.push(Entry {
                name: "failsafe",
                contender: Failsafe::default_policy(group),
            });
            v.push(entry("failsafe-consec", Failsafe::consecutive(group)));
        }
    }
    v
}

// ---- floors -------------------------------------------------------------

/// A relaxed `fetch_add` on one counter every thread shares.
#[derive(Default)]
pub struct SharedAdd(CachePadded<AtomicU64>);

impl Contender for SharedAdd {
    fn run(&self, _tid: usize, iters: u64) {
        for _ in 0..iters {
            black_box(self.0.fetch_add(1, Ordering::Relaxed));
        }
    }
}

/// A relaxed `fetch_add` on the calling thread's own padded counter.
pub struct PaddedAdd(Vec<CachePadded<AtomicU64>>);

impl PaddedAdd {
    pub fn new(threads: usize) -> Self {
        PaddedAdd(
            (0..threads.max(1))
                .map(|_| CachePadded::default())
                .collect(),
        )
    }
}

impl Contender for PaddedAdd {
    fn run(&self, tid: usize, iters: u64) {
        let c = &self.0[tid % self.0.len()];
        for _ in 0..iters {
            black_box(c.fetch_add(1, Ordering::Relaxed));
        }
    }
}

/// `quanta::Clock::raw()` plus a relaxed add on the thread's own counter:
/// the least a precise-clock breaker can do.
pub struct ClockAdd {
    clock: quanta::Clock,
    counters: Vec<CachePadded<AtomicU64>>,
}

impl ClockAdd {
    pub fn new(threads: usize) -> Self {
        ClockAdd {
            clock: quanta::Clock::new(),
            counters: (0..threads.max(1))
                .map(|_| CachePadded::default())
                .collect(),
        }
    }
}

impl Contender for ClockAdd {
    fn run(&self, tid: usize, iters: u64) {
        let c = &self.counters[tid % self.counters.len()];
        for _ in 0..iters {
            // The add depends on the reading, as the breaker's bucket does.
            let t = self.clock.raw();
            black_box(c.fetch_add(t & 1, Ordering::Relaxed));
        }
    }
}

/// A thread's own line: its success and failure counts (the window's
/// per-stripe record, at its cheapest).
#[derive(Default)]
struct OwnCounts {
    successes: AtomicU64,
    failures: AtomicU64,
}

fn own_counts(threads: usize) -> Vec<CachePadded<OwnCounts>> {
    (0..threads.max(1))
        .map(|_| CachePadded::default())
        .collect()
}

/// Exact R1 through one shared word, the least of it: a success loads the
/// word (before its own add, as fusebox does) and resets it if a failure
/// left it non-zero; a failure increments it. A failure costs the line's
/// trip to the failing core and back to every core whose next success
/// reads it.
pub struct R1Word {
    own: Vec<CachePadded<OwnCounts>>,
    consecutive: CachePadded<AtomicU64>,
    group: Group,
}

impl R1Word {
    pub fn new(group: Group, threads: usize) -> Self {
        R1Word {
            own: own_counts(threads),
            consecutive: CachePadded::default(),
            group,
        }
    }
}

impl Contender for R1Word {
    fn run(&self, tid: usize, iters: u64) {
        let own = &self.own[tid % self.own.len()];
        let consecutive = &self.consecutive;
        let mut outcomes = Outcomes::new(self.group);
        for _ in 0..iters {
            if outcomes.next().is_ok() {
                let cur = consecutive.load(Ordering::Relaxed);
                own.successes.fetch_add(1, Ordering::Relaxed);
                if cur != 0 {
                    let _ =
                        consecutive.compare_exchange(cur, 0, Ordering::Relaxed, Ordering::Relaxed);
                }
            } else {
                own.failures.fetch_add(1, Ordering::Relaxed);
                black_box(consecutive.fetch_add(1, Ordering::Relaxed));
            }
        }
    }
}

/// Exact R1 with nothing shared on the success path: a success adds to its
/// own line only; a failure sums every thread's success count and compares
/// it with the sum the previous failure saw (kept with the run length in one
/// shared word that only failures touch). A failure costs a load of every
/// other thread's line, and each of those threads its line's trip back.
pub struct R1Scan {
    own: Vec<CachePadded<OwnCounts>>,
    /// `successes seen (48) | consecutive failures (16)`.
    run: CachePadded<AtomicU64>,
    group: Group,
}

impl R1Scan {
    pub fn new(group: Group, threads: usize) -> Self {
        R1Scan {
            own: own_counts(threads),
            run: CachePadded::default(),
            group,
        }
    }
}

impl Contender for R1Scan {
    fn run(&self, tid: usize, iters: u64) {
        const RUN_BITS: u32 = 16;
        let own = &self.own[tid % self.own.len()];
        let mut outcomes = Outcomes::new(self.group);
        for _ in 0..iters {
            if outcomes.next().is_ok() {
                own.successes.fetch_add(1, Ordering::Relaxed);
            } else {
                own.failures.fetch_add(1, Ordering::Relaxed);
                let seen: u64 = self
                    .own
                    .iter()
                    .map(|c| c.successes.load(Ordering::Relaxed))
                    .sum::<u64>()
                    << RUN_BITS;
                let mut cur = self.run.load(Ordering::Relaxed);
                loop {
                    let next = if cur >> RUN_BITS == seen >> RUN_BITS {
                        cur + u64::from(cur as u16 != u16::MAX)
                    } else {
                        seen | 1
                    };
                    match self.run.compare_exchange_weak(
                        cur,
                        next,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => break,
                        Err(actual) => cur = actual,
                    }
                }
                black_box(cur);
            }
        }
    }
}

/// A success counted in a time bucket, exactly, at its cheapest: the
/// bucket's number from one shared word (an upkeep's epoch cell, never
/// written here), the slot from a shared hint, then the thread's own slot:
/// its tag and count words loaded, compared with the bucket (whole tag,
/// count word in step), and the count CASed (`floor-slot-cas`). This is
/// fusebox's `Recent` window write alone, without R1, R9, the stripe's
/// lookup or the call wrapper.
///
/// [`Slot::Xadd`] and [`Slot::Rules`] change one thing each.
pub struct SlotCount {
    cell: CachePadded<AtomicU64>,
    hint: CachePadded<AtomicU64>,
    lines: Vec<CachePadded<[AtomicU64; SLOT_LINE_WORDS]>>,
    /// A breaker's state word (CLOSED: 0) and its consecutive-failure word
    /// (0: no failure since the last success), for [`Slot::Rules`].
    state: CachePadded<AtomicU64>,
    consecutive: CachePadded<AtomicU64>,
    kind: Slot,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// `floor-slot-cas`: the window write alone.
    Cas,
    /// `floor-slot-xadd`: the same checks, then a `fetch_add` whose old
    /// value must still be in step. The alternative fusebox does not take
    /// (BENCHMARKS.md, "Where the time goes"): between the load and the add a roll
    /// by another thread can put the count in a newer bucket, where a
    /// reader may see it before it is taken back out.
    Xadd,
    /// `floor-slot-rules`: the window write plus what the rules add to a
    /// CLOSED success at their cheapest: the state word loaded to admit,
    /// loaded again to see that the success is current (R9), and the
    /// consecutive-failure word loaded and reset if non-zero (R1).
    Rules,
}

const SLOT_LINE_WORDS: usize = 16;
/// The bucket's number sits above 16 bits in the cell, the hint and the tag.
const SLOT_EPOCH: u64 = 12_345 << 16;
/// The slot's offset in a thread's line, kept in the hint's low bits.
const SLOT_AT: u64 = 4;
/// One call in a count word, above its `seq` byte (0 here) and a zero byte.
const SLOT_ONE: u64 = 1 << 16;

impl SlotCount {
    pub fn new(threads: usize, kind: Slot) -> Self {
        let lines = (0..threads.max(1))
            .map(|_| {
                let line: CachePadded<[AtomicU64; SLOT_LINE_WORDS]> = CachePadded::default();
                line[SLOT_AT as usize].store(SLOT_EPOCH, Ordering::Relaxed);
                line
            })
            .collect();
        SlotCount {
            cell: CachePadded::new(AtomicU64::new(SLOT_EPOCH)),
            hint: CachePadded::new(AtomicU64::new(SLOT_EPOCH | SLOT_AT)),
            lines,
            state: CachePadded::default(),
            consecutive: CachePadded::default(),
            kind,
        }
    }
}

impl Contender for SlotCount {
    fn run(&self, tid: usize, iters: u64) {
        let line = &self.lines[tid % self.lines.len()];
        match self.kind {
            Slot::Cas => slot_cas_loop(&self.cell, &self.hint, &line[..], iters),
            Slot::Xadd => slot_xadd_loop(&self.cell, &self.hint, &line[..], iters),
            Slot::Rules => slot_rules_loop(self, &line[..], iters),
        }
    }
}

/// One success counted in the hinted slot of `line`, if the slot holds
/// the bucket `now` names and its count word is in step: the CAS (or, with
/// `XADD`, a `fetch_add` whose old value must still be in step; a window
/// would take the count back out if that failed, which never happens
/// here). `false` if nothing was counted.
#[inline(always)]
fn slot_write<const XADD: bool>(now: u64, hint: &AtomicU64, line: &[AtomicU64]) -> bool {
    let h = hint.load(Ordering::Relaxed);
    let at = h as u16 as usize;
    let Some([tag_word, count]) = line.get(at..at + 2) else {
        return false;
    };
    let tag = tag_word.load(Ordering::Acquire);
    let c = count.load(Ordering::Relaxed);
    let epoch = h & !0xffff;
    if epoch != now || tag != epoch | u64::from(c as u16) {
        return false;
    }
    if XADD {
        c >> 16 != (1 << 48) - 1 && count.fetch_add(SLOT_ONE, Ordering::Relaxed) as u16 == c as u16
    } else {
        count
            .compare_exchange(c, c + SLOT_ONE, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }
}

#[inline(never)]
fn slot_cas_loop(cell: &AtomicU64, hint: &AtomicU64, line: &[AtomicU64], iters: u64) {
    for _ in 0..iters {
        black_box(slot_write::<false>(
            cell.load(Ordering::Relaxed),
            hint,
            line,
        ));
    }
}

#[inline(never)]
fn slot_xadd_loop(cell: &AtomicU64, hint: &AtomicU64, line: &[AtomicU64], iters: u64) {
    for _ in 0..iters {
        black_box(slot_write::<true>(cell.load(Ordering::Relaxed), hint, line));
    }
}

#[inline(never)]
fn slot_rules_loop(s: &SlotCount, line: &[AtomicU64], iters: u64) {
    for _ in 0..iters {
        let admitted = s.state.load(Ordering::Acquire);
        if admitted != 0 {
            continue;
        }
        let now = s.cell.load(Ordering::Relaxed);
        let current = s.state.load(Ordering::Acquire);
        let run = s.consecutive.load(Ordering::Relaxed);
        if current != admitted {
            continue;
        }
        let ok = slot_write::<false>(now, &s.hint, line);
        if run != 0 {
            let _ = s
                .consecutive
                .compare_exchange(run, 0, Ordering::Relaxed, Ordering::Relaxed);
        }
        black_box(ok);
    }
}

// ---- fusebox ------------------------------------------------------------

/// Keeps fusebox's coarse time fresh for `ClockMode::Recent` (1 ms steps).
/// Only one upkeep thread may run per process; the handle stops it on drop.
pub fn start_upkeep() -> Option<fusebox::UpkeepHandle> {
    fusebox::Upkeep::new(Duration::from_millis(1)).start().ok()
}

pub struct Fusebox {
    cb: CircuitBreaker,
    group: Group,
}

impl Fusebox {
    pub fn new(group: Group, mode: ClockMode) -> Self {
        let builder = CircuitBreaker::builder("bench").clock_mode(mode);
        let cb = match group {
            Group::ClosedSuccess | Group::RegistryGet => builder.build(),
            Group::ClosedMixed => builder.consecutive_failure_threshold(1_000).build(),
            Group::OpenReject => builder
                .consecutive_failure_threshold(1)
                .open_duration(Duration::from_secs(3600))
                .build(),
            Group::HalfOpenAdmission => builder
                .consecutive_failure_threshold(1)
                .open_duration(Duration::from_millis(1))
                .reset_timeout(Duration::from_secs(3600))
                .half_open_max_calls(1_048_575)
                .build(),
        }
        .expect("valid bench config");
        match group {
            Group::OpenReject => cb.try_acquire().expect("closed").failure(),
            Group::HalfOpenAdmission => {
                cb.try_acquire().expect("closed").failure();
                // Recent mode sees time in 1 ms steps: wait a few.
                std::thread::sleep(Duration::from_millis(5));
                drop(cb.try_acquire().expect("half-open probe"));
            }
            _ => {}
        }
        Fusebox { cb, group }
    }
}

impl Fusebox {
    /// `closed_success` with a slow-call threshold of 1 s.
    pub fn timed(mode: ClockMode) -> Self {
        let cb = CircuitBreaker::builder("bench")
            .clock_mode(mode)
            .slow_call_duration_threshold(Duration::from_secs(1))
            .build()
            .expect("valid bench config");
        Fusebox {
            cb,
            group: Group::ClosedSuccess,
        }
    }
}

/// `call_with` and a classifier, breaker CLOSED (precise clock).
pub struct FuseboxClassified(CircuitBreaker);

impl FuseboxClassified {
    pub fn new() -> Self {
        FuseboxClassified(CircuitBreaker::new("bench"))
    }
}

impl Contender for FuseboxClassified {
    fn run(&self, _tid: usize, iters: u64) {
        fusebox_classified_calls(&self.0, iters);
    }

    fn check(&self) -> Result<(), String> {
        match self.0.state() {
            State::Closed => Ok(()),
            s => Err(format!("fusebox is {s:?}")),
        }
    }
}

#[inline(never)]
fn fusebox_classified_calls(cb: &CircuitBreaker, iters: u64) {
    let mut outcomes = Outcomes::new(Group::ClosedSuccess);
    for _ in 0..iters {
        let result = outcomes.next();
        let classify = |r: &Result<(), ()>| match r {
            Ok(()) => Outcome::Success,
            Err(()) => Outcome::Failure,
        };
        black_box(cb.call_with(classify, || result).is_ok());
    }
}

impl Contender for Fusebox {
    fn run(&self, _tid: usize, iters: u64) {
        // One function per loop: when the three loops shared one function,
        // a change to one loop's body moved registers (and spills) in the
        // others, so an engine change showed up in paths it did not touch.
        match self.group {
            Group::ClosedSuccess | Group::ClosedMixed | Group::RegistryGet => {
                fusebox_calls(&self.cb, self.group, iters);
            }
            Group::OpenReject => fusebox_refused_calls(&self.cb, iters),
            Group::HalfOpenAdmission => fusebox_probes(&self.cb, iters),
        }
    }

    fn check(&self) -> Result<(), String> {
        let want = match self.group {
            Group::OpenReject => State::Open,
            Group::HalfOpenAdmission => State::HalfOpen,
            _ => State::Closed,
        };
        let got = self.cb.state();
        if got == want {
            Ok(())
        } else {
            Err(format!("fusebox is {got:?}, expected {want:?}"))
        }
    }
}

#[inline(never)]
fn fusebox_calls(cb: &CircuitBreaker, group: Group, iters: u64) {
    let mut outcomes = Outcomes::new(group);
    for _ in 0..iters {
        let result = outcomes.next();
        black_box(cb.call(|| result).is_ok());
    }
}

#[inline(never)]
fn fusebox_refused_calls(cb: &CircuitBreaker, iters: u64) {
    for _ in 0..iters {
        black_box(cb.call(|| outcome(false)).is_ok());
    }
}

#[inline(never)]
fn fusebox_probes(cb: &CircuitBreaker, iters: u64) {
    for _ in 0..iters {
        // Admit a probe, then drop the permit: the slot is freed and no
        // verdict is given, so it stays HALF_OPEN.
        black_box(cb.try_acquire().is_ok());
    }
}

/// `try_acquire()` then `success()` on the permit, breaker CLOSED.
pub struct FuseboxPermit(CircuitBreaker);

impl FuseboxPermit {
    pub fn new() -> Self {
        FuseboxPermit(CircuitBreaker::new("bench"))
    }
}

impl Contender for FuseboxPermit {
    fn run(&self, _tid: usize, iters: u64) {
        for _ in 0..iters {
            if let Ok(permit) = self.0.try_acquire() {
                permit.success();
            }
        }
    }

    fn check(&self) -> Result<(), String> {
        match self.0.state() {
            State::Closed => Ok(()),
            s => Err(format!("fusebox is {s:?}")),
        }
    }
}

/// 16 named breakers; the lookup is for the 8th.
const REGISTRY_SIZE: usize = 16;
const LOOKUP: &str = "service-07";

fn registry_names() -> impl Iterator<Item = String> {
    (0..REGISTRY_SIZE).map(|i| format!("service-{i:02}"))
}

/// How `FuseboxRegistry` looks the breaker up.
#[derive(Clone, Copy)]
pub enum Lookup {
    /// `Registry::get`, then drop the `Arc` (two writes to its count).
    Get,
    /// `Registry::with`, no clone.
    With,
}

pub struct FuseboxRegistry(Registry, Lookup);

impl FuseboxRegistry {
    pub fn new(lookup: Lookup) -> Self {
        let registry = Registry::new();
        for name in registry_names() {
            registry
                .create(CircuitBreaker::builder(name))
                .expect("valid");
        }
        FuseboxRegistry(registry, lookup)
    }
}

impl Contender for FuseboxRegistry {
    fn run(&self, _tid: usize, iters: u64) {
        match self.1 {
            Lookup::Get => {
                for _ in 0..iters {
                    drop(black_box(self.0.get(black_box(LOOKUP))));
                }
            }
            Lookup::With => {
                for _ in 0..iters {
                    black_box(self.0.with(black_box(LOOKUP), |cb| {
                        black_box(cb);
                    }));
                }
            }
        }
    }
}

pub struct MutexRegistry(Mutex<HashMap<String, Arc<CircuitBreaker>>>);

impl MutexRegistry {
    pub fn new() -> Self {
        let map = registry_names()
            .map(|n| (n.clone(), Arc::new(CircuitBreaker::new(n))))
            .collect();
        MutexRegistry(Mutex::new(map))
    }
}

impl Contender for MutexRegistry {
    fn run(&self, _tid: usize, iters: u64) {
        for _ in 0..iters {
            let found = self.0.lock().unwrap().get(black_box(LOOKUP)).cloned();
            drop(black_box(found));
        }
    }
}

pub struct RwLockRegistry(RwLock<HashMap<String, Arc<CircuitBreaker>>>);

impl RwLockRegistry {
    pub fn new() -> Self {
        let map = registry_names()
            .map(|n| (n.clone(), Arc::new(CircuitBreaker::new(n))))
            .collect();
        RwLockRegistry(RwLock::new(map))
    }
}

impl Contender for RwLockRegistry {
    fn run(&self, _tid: usize, iters: u64) {
        for _ in 0..iters {
            let found = self.0.read().unwrap().get(black_box(LOOKUP)).cloned();
            drop(black_box(found));
        }
    }
}

// ---- a naive Mutex breaker ---------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NaiveState {
    Closed,
    Open,
    HalfOpen,
}

struct NaiveInner {
    state: NaiveState,
    consecutive: u32,
    successes: u64,
    failures: u64,
    opened_at: Instant,
    inflight: u32,
    probe_successes: u32,
}

/// What a first attempt looks like: one `Mutex` around the state and its
/// counters, taken on admission and again on the verdict. No time window
/// (all-time counts), so the CLOSED path reads no clock.
pub struct NaiveBreaker {
    inner: Mutex<NaiveInner>,
    consecutive_threshold: u32,
    error_percent: u64,
    min_calls: u64,
    open_for: Duration,
    max_probes: u32,
}

impl NaiveBreaker {
    pub fn new(consecutive_threshold: u32, open_for: Duration, max_probes: u32) -> Self {
        NaiveBreaker {
            inner: Mutex::new(NaiveInner {
                state: NaiveState::Closed,
                consecutive: 0,
                successes: 0,
                failures: 0,
                opened_at: Instant::now(),
                inflight: 0,
                probe_successes: 0,
            }),
            consecutive_threshold,
            error_percent: 50,
            min_calls: 10,
            open_for,
            max_probes,
        }
    }

    /// `Ok(is_probe)` if admitted.
    #[inline]
    pub fn acquire(&self) -> Result<bool, ()> {
        let mut s = self.inner.lock().unwrap();
        match s.state {
            NaiveState::Closed => Ok(false),
            NaiveState::Open => {
                if s.opened_at.elapsed() >= self.open_for {
                    s.state = NaiveState::HalfOpen;
                    s.inflight = 1;
                    s.probe_successes = 0;
                    Ok(true)
                } else {
                    Err(())
                }
            }
            NaiveState::HalfOpen => {
                if s.inflight < self.max_probes {
                    s.inflight += 1;
                    Ok(true)
                } else {
                    Err(())
                }
            }
        }
    }

    /// A probe given up without a verdict.
    #[inline]
    pub fn release(&self, probe: bool) {
        if probe {
            let mut s = self.inner.lock().unwrap();
            s.inflight = s.inflight.saturating_sub(1);
        }
    }

    #[inline]
    pub fn record(&self, probe: bool, ok: bool) {
        let mut s = self.inner.lock().unwrap();
        if probe {
            if s.state != NaiveState::HalfOpen {
                return;
            }
            s.inflight = s.inflight.saturating_sub(1);
            if !ok {
                s.state = NaiveState::Open;
                s.opened_at = Instant::now();
            } else {
                s.probe_successes += 1;
                if s.probe_successes >= self.max_probes {
                    *s = NaiveInner {
                        state: NaiveState::Closed,
                        consecutive: 0,
                        successes: 0,
                        failures: 0,
                        opened_at: s.opened_at,
                        inflight: 0,
                        probe_successes: 0,
                    };
                }
            }
            return;
        }
        if s.state != NaiveState::Closed {
            return;
        }
        if ok {
            s.successes += 1;
            s.consecutive = 0;
        } else {
            s.failures += 1;
            s.consecutive += 1;
            let calls = s.successes + s.failures;
            if s.consecutive >= self.consecutive_threshold
                || (calls >= self.min_calls && s.failures * 100 >= calls * self.error_percent)
            {
                s.state = NaiveState::Open;
                s.opened_at = Instant::now();
            }
        }
    }

    #[inline]
    pub fn call(&self, f: impl FnOnce() -> Result<(), ()>) -> Result<(), Option<()>> {
        let probe = self.acquire().map_err(|()| None)?;
        let r = f();
        self.record(probe, r.is_ok());
        r.map_err(Some)
    }

    fn state(&self) -> NaiveState {
        self.inner.lock().unwrap().state
    }
}

pub struct Naive {
    cb: NaiveBreaker,
    group: Group,
}

impl Naive {
    pub fn new(group: Group) -> Self {
        let cb = match group {
            Group::ClosedMixed => NaiveBreaker::new(1_000, Duration::from_secs(60), 3),
            Group::OpenReject => NaiveBreaker::new(1, Duration::from_secs(3600), 3),
            Group::HalfOpenAdmission => NaiveBreaker::new(1, Duration::from_millis(1), 1_048_575),
            _ => NaiveBreaker::new(10, Duration::from_secs(60), 3),
        };
        match group {
            Group::OpenReject => {
                let _ = cb.call(|| Err(()));
            }
            Group::HalfOpenAdmission => {
                let _ = cb.call(|| Err(()));
                std::thread::sleep(Duration::from_millis(5));
                let probe = cb.acquire().expect("half-open probe");
                cb.release(probe);
            }
            _ => {}
        }
        Naive { cb, group }
    }
}

impl Contender for Naive {
    fn run(&self, _tid: usize, iters: u64) {
        let cb = &self.cb;
        if self.group == Group::HalfOpenAdmission {
            for _ in 0..iters {
                if let Ok(probe) = black_box(cb.acquire()) {
                    cb.release(probe);
                }
            }
            return;
        }
        let mut outcomes = Outcomes::new(self.group);
        for _ in 0..iters {
            let result = outcomes.next();
            black_box(cb.call(|| result).is_ok());
        }
    }

    fn check(&self) -> Result<(), String> {
        let want = match self.group {
            Group::OpenReject => NaiveState::Open,
            Group::HalfOpenAdmission => NaiveState::HalfOpen,
            _ => NaiveState::Closed,
        };
        let got = self.cb.state();
        if got == want {
            Ok(())
        } else {
            Err(format!("mutex-breaker is {got:?}, expected {want:?}"))
        }
    }
}

// ---- recloser -------------------------------------------------------------

pub struct Recloser {
    cb: recloser::Recloser,
    group: Group,
}

impl Recloser {
    pub fn new(group: Group) -> Self {
        let cb = match group {
            Group::OpenReject => recloser::Recloser::custom()
                .closed_len(2)
                .open_wait(Duration::from_secs(3600))
                .build(),
            // Defaults: 50 % over a ring of 100 calls; 1 % stays closed.
            _ => recloser::Recloser::custom().build(),
        };
        if group == Group::OpenReject {
            for _ in 0..4 {
                let _ = cb.call(|| outcome(true));
            }
        }
        Recloser { cb, group }
    }
}

impl Contender for Recloser {
    fn run(&self, _tid: usize, iters: u64) {
        let mut outcomes = Outcomes::new(self.group);
        for _ in 0..iters {
            let result = outcomes.next();
            black_box(self.cb.call(|| result).is_ok());
        }
    }

    fn check(&self) -> Result<(), String> {
        let rejected = matches!(
            self.cb.call(|| outcome(false)),
            Err(recloser::Error::Rejected)
        );
        if rejected == (self.group == Group::OpenReject) {
            Ok(())
        } else {
            Err(format!(
                "recloser rejected={rejected} in {}",
                self.group.name()
            ))
        }
    }
}

// ---- failsafe ---------------------------------------------------------------

pub struct Failsafe<P> {
    cb: failsafe::StateMachine<P, ()>,
    group: Group,
}

impl Failsafe<()> {
    /// failsafe's default policy: EMA success rate over 30 s OR 5
    /// consecutive failures.
    pub fn default_policy(group: Group) -> Arc<dyn Contender> {
        if group == Group::OpenReject {
            // The default backoff (jittered 10 s .. 300 s) would reach
            // HALF_OPEN within the run: same policy, constant 1 h backoff.
            use failsafe::failure_policy::{consecutive_failures, success_rate_over_time_window};
            use failsafe::FailurePolicy as _;
            let hour = || failsafe::backoff::constant(Duration::from_secs(3600));
            let policy = success_rate_over_time_window(0.8, 1, Duration::from_secs(30), hour())
                .or_else(consecutive_failures(5, hour()));
            let cb = failsafe::Config::new().failure_policy(policy).build();
            return Arc::new(Failsafe::open_if(cb, group));
        }
        let cb = failsafe::Config::new().build();
        Arc::new(Failsafe::open_if(cb, group))
    }

    /// The cheapest failsafe policy: consecutive failures only (5).
    pub fn consecutive(group: Group) -> impl Contender {
        let n = if group == Group::ClosedMixed {
            1_000
        } else {
            5
        };
        let policy = failsafe::failure_policy::consecutive_failures(
            n,
            failsafe::backoff::constant(Duration::from_secs(3600)),
        );
        let cb = failsafe::Config::new().failure_policy(policy).build();
        Failsafe::open_if(cb, group)
    }
}

impl<P: failsafe::FailurePolicy + Send + 'static> Failsafe<P> {
    fn open_if(cb: failsafe::StateMachine<P, ()>, group: Group) -> Self {
        if group == Group::OpenReject {
            for _ in 0..1_000 {
                cb.on_error();
                if !cb.is_call_permitted() {
                    break;
                }
            }
        }
        Failsafe { cb, group }
    }
}

impl<P: failsafe::FailurePolicy + Send + 'static> Contender for Failsafe<P> {
    fn run(&self, _tid: usize, iters: u64) {
        let mut outcomes = Outcomes::new(self.group);
        for _ in 0..iters {
            let result = outcomes.next();
            black_box(self.cb.call(|| result).is_ok());
        }
    }

    fn check(&self) -> Result<(), String> {
        let permitted = self.cb.is_call_permitted();
        if permitted == (self.group != Group::OpenReject) {
            Ok(())
        } else {
            Err(format!(
                "failsafe permitted={permitted} in {}",
                self.group.name()
            ))
        }
    }
}

/// failsafe held HALF_OPEN: its admission is `is_call_permitted()` (one
/// lock, no probe cap, nothing to release), measured without a verdict
/// because any verdict leaves HALF_OPEN.
pub struct FailsafeHalfOpen(
    failsafe::StateMachine<
        failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::Constant>,
        (),
    >,
);

impl FailsafeHalfOpen {
    pub fn new() -> Self {
        let policy = failsafe::failure_policy::consecutive_failures(
            1,
            failsafe::backoff::constant(Duration::from_millis(1)),
        );
        let cb = failsafe::Config::new().failure_policy(policy).build();
        cb.on_error();
        std::thread::sleep(Duration::from_millis(5));
        assert!(cb.is_call_permitted(), "failsafe half-open");
        FailsafeHalfOpen(cb)
    }
}

impl Contender for FailsafeHalfOpen {
    fn run(&self, _tid: usize, iters: u64) {
        for _ in 0..iters {
            black_box(self.0.is_call_permitted());
        }
    }
}

// ---- the worker pool --------------------------------------------------------

enum Job {
    /// Each worker runs the contender `iters` times.
    Iters(Arc<dyn Contender>, u64),
    /// Each worker runs batches until `stop`, adding what it ran to `ops`.
    Until {
        contender: Arc<dyn Contender>,
        stop: Arc<AtomicBool>,
        ops: Arc<AtomicU64>,
    },
    Exit,
}

struct PoolShared {
    start: Barrier,
    done: Barrier,
    job: Mutex<Option<Arc<Job>>>,
}

/// `threads` workers spawned once and reused: each measurement releases them
/// with a barrier, so no thread is spawned inside a timed region.
pub struct Pool {
    threads: usize,
    shared: Arc<PoolShared>,
    handles: Vec<JoinHandle<()>>,
}

impl Pool {
    pub fn new(threads: usize) -> Pool {
        let shared = Arc::new(PoolShared {
            start: Barrier::new(threads + 1),
            done: Barrier::new(threads + 1),
            job: Mutex::new(None),
        });
        let handles = (0..threads)
            .map(|tid| {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("bench-worker-{tid}"))
                    .spawn(move || worker(tid, &shared))
                    .expect("spawn worker")
            })
            .collect();
        Pool {
            threads,
            shared,
            handles,
        }
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Every worker runs `iters` operations; returns the wall time from the
    /// release of the workers to the last one finishing.
    pub fn run_iters(&self, contender: &Arc<dyn Contender>, iters: u64) -> Duration {
        self.post(Job::Iters(contender.clone(), iters));
        self.shared.start.wait();
        let t0 = Instant::now();
        self.shared.done.wait();
        t0.elapsed()
    }

    /// Every worker runs batches for about `secs`; returns the operations
    /// run by all workers together and the wall time they took.
    pub fn run_for(&self, contender: &Arc<dyn Contender>, dur: Duration) -> (u64, Duration) {
        let stop = Arc::new(AtomicBool::new(false));
        let ops = Arc::new(AtomicU64::new(0));
        self.post(Job::Until {
            contender: contender.clone(),
            stop: stop.clone(),
            ops: ops.clone(),
        });
        self.shared.start.wait();
        let t0 = Instant::now();
        std::thread::sleep(dur);
        stop.store(true, Ordering::Relaxed);
        self.shared.done.wait();
        (ops.load(Ordering::Relaxed), t0.elapsed())
    }

    fn post(&self, job: Job) {
        *self.shared.job.lock().unwrap() = Some(Arc::new(job));
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.post(Job::Exit);
        self.shared.start.wait();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

fn worker(tid: usize, shared: &PoolShared) {
    const BATCH: u64 = 1_024;
    loop {
        shared.start.wait();
        let job = shared.job.lock().unwrap().clone().expect("a job");
        match &*job {
            Job::Exit => return,
            Job::Iters(c, iters) => c.run(tid, *iters),
            Job::Until {
                contender,
                stop,
                ops,
            } => {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    contender.run(tid, BATCH);
                    n += BATCH;
                }
                ops.fetch_add(n, Ordering::Relaxed);
            }
        }
        drop(job);
        shared.done.wait();
    }
}
