//! Campaign statistics, printed to stderr when `FUSEBOX_FUZZ_STATS` is set:
//! every 10 000 inputs, the inputs, ops and transitions run so far.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

static INPUTS: AtomicU64 = AtomicU64::new(0);
static OPS: AtomicU64 = AtomicU64::new(0);
static TRANSITIONS: AtomicU64 = AtomicU64::new(0);

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("FUSEBOX_FUZZ_STATS").is_some())
}

/// Counts one input that ran `ops` ops and made `transitions` transitions.
pub fn record(ops: u64, transitions: u64) {
    if !enabled() {
        return;
    }
    let inputs = INPUTS.fetch_add(1, Ordering::Relaxed) + 1;
    let ops = OPS.fetch_add(ops, Ordering::Relaxed) + ops;
    let transitions = TRANSITIONS.fetch_add(transitions, Ordering::Relaxed) + transitions;
    if inputs.is_multiple_of(10_000) {
        eprintln!("fusebox-stats inputs={inputs} ops={ops} transitions={transitions}");
    }
}
