//! `Outcome`: what a finished (or abandoned) call counts as.

/// What a call counts as, for a classifier ([`call_with`]), for
/// [`Builder::abandoned`], or as a verdict a [`Permit`] reports.
///
/// * `Success` and `Failure` count in the totals, the monitoring window and
///   the consecutive-failure count, as [`Permit::success`] and
///   [`Permit::failure`] do.
/// * `Ignored` counts neither way: it reaches only
///   [`Snapshot::total_ignored`], and a half-open probe that ends `Ignored`
///   frees its slot. Use it for errors that say nothing about the
///   dependency's health, such as "404 not found" or a rejected input.
///
/// ```
/// use fusebox::{CallError, CircuitBreaker, Outcome};
///
/// #[derive(Debug)]
/// enum ApiError { NotFound, Timeout }
///
/// let cb = CircuitBreaker::builder("users").consecutive_failure_threshold(1).build()?;
/// let not_found = cb.call_with(
///     |r: &Result<u32, ApiError>| match r {
///         Ok(_) => Outcome::Success,
///         Err(ApiError::NotFound) => Outcome::Ignored,
///         Err(ApiError::Timeout) => Outcome::Failure,
///     },
///     || Err(ApiError::NotFound),
/// );
/// assert!(matches!(not_found, Err(CallError::Failed(ApiError::NotFound))));
/// assert_eq!(cb.state(), fusebox::State::Closed, "a 404 does not trip it");
/// assert_eq!(cb.snapshot().total_ignored, 1);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
///
/// [`call_with`]: crate::CircuitBreaker::call_with
/// [`Builder::abandoned`]: crate::Builder::abandoned
/// [`Permit`]: crate::Permit
/// [`Permit::success`]: crate::Permit::success
/// [`Permit::failure`]: crate::Permit::failure
/// [`Snapshot::total_ignored`]: crate::Snapshot::total_ignored
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Outcome {
    /// The call succeeded.
    Success,
    /// The call failed.
    Failure,
    /// The call counts neither way.
    Ignored,
}

impl Outcome {
    /// `Ok` is a success and `Err` a failure: how [`call`] and
    /// [`call_async`] classify.
    ///
    /// [`call`]: crate::CircuitBreaker::call
    /// [`call_async`]: crate::CircuitBreaker::call_async
    pub fn of<T, E>(result: &Result<T, E>) -> Outcome {
        if result.is_ok() {
            Outcome::Success
        } else {
            Outcome::Failure
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Ignored => "ignored",
        })
    }
}
