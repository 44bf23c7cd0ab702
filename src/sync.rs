//! The one place that imports atomics, `Arc` and thread-identity helpers.
//!
//! Under `--cfg fusebox_loom` every type here comes from [`loom`] so that the
//! model checker sees every load, store and CAS the engine makes. The cfg is
//! crate-prefixed on purpose: `RUSTFLAGS` reach every crate in a build, and a
//! bare `loom` cfg would switch other crates (tokio, …) into their loom mode.

#[cfg(not(fusebox_loom))]
pub(crate) use std::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(fusebox_loom))]
pub(crate) use std::sync::Arc;

#[cfg(fusebox_loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};
#[cfg(fusebox_loom)]
pub(crate) use loom::sync::Arc;

/// A small number that is stable for the calling thread and differs between
/// threads created one after the other: the index of the counter stripe the
/// thread writes.
///
/// Threads get consecutive indices in the order they first ask for one (a
/// window write's slow path, or counting a stale verdict or a rejection), so
/// up to `stripes` threads each own a stripe.
#[cfg(not(fusebox_loom))]
#[inline]
pub(crate) fn thread_index() -> usize {
    INDEX.with(|cell| {
        let index = cell.get();
        if index != usize::MAX {
            return index;
        }
        // Relaxed: the value is only a spreading hint; uniqueness is all we
        // want and fetch_add gives it under any ordering.
        let index = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        cell.set(index);
        index
    })
}

/// The thread's index if it has one, else `usize::MAX`: one thread-local
/// load, no branch, for the hot path (see `Window::my_stripe_fast`).
#[cfg(not(fusebox_loom))]
#[inline(always)]
pub(crate) fn thread_index_or_max() -> usize {
    INDEX.with(std::cell::Cell::get)
}

#[cfg(not(fusebox_loom))]
static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[cfg(not(fusebox_loom))]
thread_local! {
    /// `usize::MAX` until the thread's first [`thread_index`].
    static INDEX: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
}

/// Under loom, threads are hashed by id: loom threads are real model threads
/// and the model may run many executions in one process.
#[cfg(fusebox_loom)]
#[inline]
pub(crate) fn thread_index() -> usize {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    loom::thread::current().id().hash(&mut hasher);
    hasher.finish() as usize
}

/// Under loom every thread has its index from the start.
#[cfg(fusebox_loom)]
#[inline]
pub(crate) fn thread_index_or_max() -> usize {
    thread_index()
}

/// A cell holding an `Arc<T>` that readers load without a lock and writers
/// replace with compare-and-swap: `arc_swap::ArcSwap` normally, a loom-visible
/// stand-in under the model checker (arc-swap's own internals are not what
/// our models check; the get-or-create logic on top of it is).
#[cfg(not(fusebox_loom))]
pub(crate) struct SwapCell<T>(arc_swap::ArcSwap<T>);

#[cfg(not(fusebox_loom))]
impl<T> SwapCell<T> {
    pub(crate) fn new(value: T) -> Self {
        SwapCell(arc_swap::ArcSwap::from_pointee(value))
    }

    /// A guard that derefs to the current value; takes no lock.
    #[inline]
    pub(crate) fn load(&self) -> arc_swap::Guard<Arc<T>> {
        self.0.load()
    }

    /// The current value as an owned `Arc`.
    pub(crate) fn load_full(&self) -> Arc<T> {
        self.0.load_full()
    }

    /// Replaces `current` with `new` if `current` is still the stored value
    /// (pointer equality). Returns the value found instead on failure.
    pub(crate) fn compare_and_swap(&self, current: &Arc<T>, new: Arc<T>) -> Result<(), Arc<T>> {
        let prev = self.0.compare_and_swap(current, new);
        if Arc::ptr_eq(&prev, current) {
            Ok(())
        } else {
            Err(arc_swap::Guard::into_inner(prev))
        }
    }
}

#[cfg(fusebox_loom)]
pub(crate) struct SwapCell<T>(loom::sync::Mutex<Arc<T>>);

#[cfg(fusebox_loom)]
impl<T> SwapCell<T> {
    pub(crate) fn new(value: T) -> Self {
        SwapCell(loom::sync::Mutex::new(Arc::new(value)))
    }

    pub(crate) fn load(&self) -> Arc<T> {
        self.0.lock().unwrap().clone()
    }

    pub(crate) fn load_full(&self) -> Arc<T> {
        self.load()
    }

    pub(crate) fn compare_and_swap(&self, current: &Arc<T>, new: Arc<T>) -> Result<(), Arc<T>> {
        let mut guard = self.0.lock().unwrap();
        if Arc::ptr_eq(&guard, current) {
            *guard = new;
            Ok(())
        } else {
            Err(guard.clone())
        }
    }
}

/// One round of waiting for another thread to finish a short step (a
/// window reader waiting out a count on its way into the totals): a CPU
/// spin hint for the first `spins` rounds, then a yield to the scheduler,
/// so that a writer preempted in the middle of its step gets the core back.
/// Under loom every round yields, which is how loom explores a spin loop.
#[inline]
pub(crate) fn wait_round(round: u32, spins: u32) {
    #[cfg(fusebox_loom)]
    {
        let _ = (round, spins);
        loom::thread::yield_now();
    }
    #[cfg(not(fusebox_loom))]
    {
        if round < spins {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}
