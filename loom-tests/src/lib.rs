//! Loom models for fusebox live in `tests/`; run them with `run.sh`.
//!
//! This library holds what the models share: a transition recorder hooked to
//! `on_state_change`, a breaker builder with a tiny configuration, and the
//! model runner.

#[cfg(fusebox_loom)]
pub use support::*;

#[cfg(fusebox_loom)]
mod support {
    use std::time::Duration;

    use fusebox::quanta::{Clock, Mock};
    use fusebox::{Builder, CircuitBreaker, State, StateChange};
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::sync::Arc;

    /// `open_duration` of every model breaker.
    pub const OPEN: Duration = Duration::from_secs(1);
    /// `reset_timeout` of every model breaker.
    pub const RESET: Duration = Duration::from_secs(10);

    /// Counts listener calls (R10: one per transition), by target state.
    #[derive(Debug, Default)]
    pub struct Events {
        to_open: AtomicUsize,
        to_half_open: AtomicUsize,
        to_closed: AtomicUsize,
        /// Listener calls whose `from` equals `to`: never allowed.
        bogus: AtomicUsize,
    }

    impl Events {
        fn record(&self, change: &StateChange<'_>) {
            let counter = match change.to {
                State::Open => &self.to_open,
                State::HalfOpen => &self.to_half_open,
                State::Closed => &self.to_closed,
            };
            if change.from == change.to {
                self.bogus.fetch_add(1, Ordering::SeqCst);
            }
            counter.fetch_add(1, Ordering::SeqCst);
        }

        /// `(to OPEN, to HALF_OPEN, to CLOSED)` so far.
        pub fn counts(&self) -> (usize, usize, usize) {
            assert_eq!(self.bogus.load(Ordering::SeqCst), 0, "self-transition");
            (
                self.to_open.load(Ordering::SeqCst),
                self.to_half_open.load(Ordering::SeqCst),
                self.to_closed.load(Ordering::SeqCst),
            )
        }

        /// Every listener call so far.
        pub fn total(&self) -> usize {
            let (o, h, c) = self.counts();
            o + h + c
        }
    }

    /// A breaker builder for models: one stripe, two buckets of 1 s, the
    /// given thresholds, `OPEN` and `RESET`, no error-rate trips (min calls
    /// out of reach), a mock clock, and a listener feeding the returned
    /// [`Events`]. Call it inside the model closure.
    pub fn builder(
        consecutive: u32,
        half_open_max: u32,
    ) -> (Builder, std::sync::Arc<Mock>, Arc<Events>) {
        let (clock, mock) = Clock::mock();
        let events = Arc::new(Events::default());
        let sink = events.clone();
        let b = CircuitBreaker::builder("m")
            .stripes(1)
            .window_buckets(2)
            .monitoring_window(Duration::from_secs(2))
            .min_calls_for_error_rate(1000)
            .consecutive_failure_threshold(consecutive)
            .half_open_max_calls(half_open_max)
            .open_duration(OPEN)
            .reset_timeout(RESET)
            .clock(clock)
            .on_state_change(move |c: &StateChange<'_>| sink.record(c));
        (b, mock, events)
    }

    /// Runs `f` under loom with `LOOM_MAX_PREEMPTIONS` (run.sh defaults it),
    /// capped at `max_preemptions` for models too big for the default.
    pub fn model<F>(max_preemptions: Option<usize>, f: F)
    where
        F: Fn() + Sync + Send + 'static,
    {
        let mut b = loom::model::Builder::new();
        if let Some(cap) = max_preemptions {
            b.preemption_bound = Some(b.preemption_bound.map_or(cap, |p| p.min(cap)));
        }
        b.check(f);
    }
}
