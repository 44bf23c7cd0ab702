//! The closure and future wrappers: `call`, `call_with`,
//! `call_with_fallback`, `call_async`, `call_async_with`.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::breaker::CircuitBreaker;
use crate::error::{CallError, Rejected};
use crate::permit::Permit;
use crate::Outcome;

impl CircuitBreaker {
    /// Runs `f` if the breaker admits it; `Ok` counts as a success, `Err` as
    /// a failure. A panic in `f` counts as a failure, frees the permit and
    /// keeps unwinding.
    ///
    /// # Errors
    ///
    /// [`CallError::Rejected`] if refused (`f` did not run),
    /// [`CallError::Failed`] with `f`'s error.
    ///
    /// ```
    /// use fusebox::{CallError, CircuitBreaker};
    ///
    /// let cb = CircuitBreaker::builder("api").consecutive_failure_threshold(1).build()?;
    /// assert_eq!(cb.call(|| Ok::<_, &str>(7)).unwrap(), 7);
    /// assert!(matches!(cb.call(|| Err::<u8, _>("down")), Err(CallError::Failed("down"))));
    /// assert!(matches!(cb.call(|| Ok::<_, &str>(7)), Err(CallError::Rejected(_))));
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    #[inline]
    pub fn call<T, E, F>(&self, f: F) -> Result<T, CallError<E>>
    where
        F: FnOnce() -> Result<T, E>,
    {
        let permit = match self.admit() {
            Ok(permit) => permit,
            Err(rejection) => return Err(CallError::Rejected(self.rejected(rejection))),
        };
        match f() {
            Ok(value) => {
                permit.success();
                Ok(value)
            }
            Err(e) => {
                permit.failure();
                Err(CallError::Failed(e))
            }
        }
    }

    /// Like [`call`](Self::call), but a rejection runs `fallback` instead and
    /// returns `Ok(fallback(rejected))`. An admitted call's own `Err` is
    /// returned as is (and counted as a failure).
    ///
    /// # Errors
    ///
    /// `f`'s own error when it ran and failed.
    ///
    /// ```
    /// use fusebox::CircuitBreaker;
    ///
    /// let cb = CircuitBreaker::builder("prices").consecutive_failure_threshold(1).build()?;
    /// assert_eq!(cb.call_with_fallback(|| Err::<u32, _>("down"), |_| 0), Err("down"));
    /// assert_eq!(cb.call_with_fallback(|| Ok::<u32, &str>(9), |_rejected| 0), Ok(0));
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn call_with_fallback<T, E, F, G>(&self, f: F, fallback: G) -> Result<T, E>
    where
        F: FnOnce() -> Result<T, E>,
        G: FnOnce(Rejected) -> T,
    {
        match self.call(f) {
            Ok(value) => Ok(value),
            Err(CallError::Failed(e)) => Err(e),
            Err(CallError::Rejected(rejected)) => Ok(fallback(rejected)),
        }
    }

    /// Runs `f` if the breaker admits it, and counts its result as
    /// `classify` says: [`Outcome::Success`], [`Outcome::Failure`], or
    /// [`Outcome::Ignored`] for an error that says nothing about the
    /// dependency's health (a "not found", a rejected input). The result is
    /// returned as it is, whatever it counted as. A panic in `f` or in
    /// `classify` counts as a failure.
    ///
    /// # Errors
    ///
    /// [`CallError::Rejected`] if refused (`f` did not run),
    /// [`CallError::Failed`] with `f`'s error.
    ///
    /// ```
    /// use fusebox::{CallError, CircuitBreaker, Outcome};
    ///
    /// let cb = CircuitBreaker::builder("http").consecutive_failure_threshold(1).build()?;
    /// let by_status = |r: &Result<u16, u16>| match r {
    ///     Ok(_) => Outcome::Success,
    ///     Err(404) => Outcome::Ignored,
    ///     Err(_) => Outcome::Failure,
    /// };
    /// assert!(matches!(cb.call_with(by_status, || Err(404)), Err(CallError::Failed(404))));
    /// assert_eq!(cb.state(), fusebox::State::Closed);
    /// assert!(matches!(cb.call_with(by_status, || Err(503)), Err(CallError::Failed(503))));
    /// assert_eq!(cb.state(), fusebox::State::Open);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    #[inline]
    pub fn call_with<T, E, C, F>(&self, classify: C, f: F) -> Result<T, CallError<E>>
    where
        C: FnOnce(&Result<T, E>) -> Outcome,
        F: FnOnce() -> Result<T, E>,
    {
        let permit = match self.admit() {
            Ok(permit) => permit,
            Err(rejection) => return Err(CallError::Rejected(self.rejected(rejection))),
        };
        let result = f();
        match classify(&result) {
            Outcome::Success => permit.success(),
            Outcome::Failure => permit.failure(),
            Outcome::Ignored => permit.ignore(),
        }
        result.map_err(CallError::Failed)
    }

    /// Awaits `fut` if the breaker admits it, with the same rules as
    /// [`call`](Self::call). Runtime-agnostic: no executor, timer or lock
    /// is used, and nothing is boxed.
    ///
    /// The permit is taken when the returned future is first polled, not
    /// when `call_async` is called.
    ///
    /// # Cancel safety
    ///
    /// Dropping the returned future before it completes (a timeout around
    /// it, a cancelled task) abandons the call: it counts as the breaker's
    /// [`abandoned`](crate::Builder::abandoned) outcome, by default
    /// [`Outcome::Ignored`] (neither way; a half-open probe slot is freed).
    /// That holds also when it is dropped while the thread
    /// unwinds from some other panic (a sibling branch of a `join!` that
    /// panicked, say). A panic that comes out of polling `fut` itself counts
    /// as a failure.
    ///
    /// # Errors
    ///
    /// [`CallError::Rejected`] if refused (`fut` is dropped unpolled),
    /// [`CallError::Failed`] with `fut`'s error.
    pub async fn call_async<T, E, F>(&self, fut: F) -> Result<T, CallError<E>>
    where
        F: Future<Output = Result<T, E>>,
    {
        self.call_async_with(Outcome::of, fut).await
    }

    /// Like [`call_async`](Self::call_async), but `classify` says what the
    /// result counts as, as in [`call_with`](Self::call_with). A future
    /// dropped before it finishes counts as the breaker's
    /// [`abandoned`](crate::Builder::abandoned) outcome.
    ///
    /// # Errors
    ///
    /// [`CallError::Rejected`] if refused (`fut` is dropped unpolled),
    /// [`CallError::Failed`] with `fut`'s error, whatever it counted as.
    pub async fn call_async_with<T, E, C, F>(&self, classify: C, fut: F) -> Result<T, CallError<E>>
    where
        C: FnOnce(&Result<T, E>) -> Outcome,
        F: Future<Output = Result<T, E>>,
    {
        let permit = match self.admit() {
            Ok(permit) => permit,
            Err(rejection) => return Err(CallError::Rejected(self.rejected(rejection))),
        };
        let mut in_flight = InFlight {
            permit: Some(permit),
            polling: AtomicBool::new(false),
        };
        let mut fut = std::pin::pin!(fut);
        let result = std::future::poll_fn(|cx| {
            in_flight.polling.store(true, Ordering::Relaxed);
            let poll = fut.as_mut().poll(cx);
            in_flight.polling.store(false, Ordering::Relaxed);
            poll
        })
        .await;
        let permit = in_flight.permit.take().expect("taken only here");
        let outcome = classify(&result);
        permit.report(outcome);
        result.map_err(CallError::Failed)
    }
}

/// A `call_async` permit while its future runs. Dropped unfinished, it
/// counts a failure only if the thread is unwinding out of the future's own
/// poll (`polling` is still set); a drop at any other time, also while
/// another panic unwinds, is a cancellation: no verdict, the permit is
/// released.
///
/// `polling` is only ever touched by the thread polling the future (an
/// atomic so that the future stays `Send`): `Relaxed`.
struct InFlight<'a> {
    permit: Option<Permit<'a>>,
    polling: AtomicBool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            if self.polling.load(Ordering::Relaxed) {
                // Unwinding out of the guarded future: `Permit`'s drop
                // counts the failure.
                drop(permit);
            } else {
                permit.cancel();
            }
        }
    }
}
