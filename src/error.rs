//! `Rejected` and `CallError`: small hand-written errors that carry data.

use std::fmt;
use std::time::Duration;

use crate::state::State;

/// Names up to this many bytes are copied into a [`Rejected`] inline, so a
/// rejection touches no shared reference count and allocates nothing.
const INLINE_NAME: usize = 22;

/// The breaker's name as a `Rejected` carries it.
#[derive(Clone)]
pub(crate) enum Name {
    Inline { len: u8, bytes: [u8; INLINE_NAME] },
    // Not part of any atomic protocol: a plain shared string for long names.
    Shared(std::sync::Arc<str>),
}

impl Name {
    pub(crate) fn new(name: &std::sync::Arc<str>) -> Name {
        let b = name.as_bytes();
        if b.len() <= INLINE_NAME {
            let mut bytes = [0; INLINE_NAME];
            bytes[..b.len()].copy_from_slice(b);
            Name::Inline {
                len: b.len() as u8,
                bytes,
            }
        } else {
            Name::Shared(name.clone())
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            // The bytes are a whole `str` copied verbatim, so always UTF-8.
            Name::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Name::Shared(s) => s,
        }
    }
}

/// A request the breaker refused: it is OPEN, or HALF_OPEN with every probe
/// slot taken. The protected code did not run.
///
/// ```
/// use fusebox::{CircuitBreaker, State};
///
/// let cb = CircuitBreaker::builder("api").consecutive_failure_threshold(1).build()?;
/// cb.try_acquire().unwrap().failure();
/// let rejected = cb.try_acquire().unwrap_err();
/// assert_eq!(rejected.name(), "api");
/// assert_eq!(rejected.state(), State::Open);
/// assert!(rejected.retry_after().is_some());
/// assert!(rejected.to_string().starts_with("circuit breaker 'api' is open, will try half-open in"));
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Rejected {
    name: Name,
    state: State,
    retry_after: Option<Duration>,
    probe_slots: u32,
}

impl Rejected {
    pub(crate) fn open(name: Name, retry_after: Duration) -> Rejected {
        Rejected {
            name,
            state: State::Open,
            retry_after: Some(retry_after),
            probe_slots: 0,
        }
    }

    pub(crate) fn half_open(name: Name, probe_slots: u32) -> Rejected {
        Rejected {
            name,
            state: State::HalfOpen,
            retry_after: None,
            probe_slots,
        }
    }

    /// The name of the breaker that refused.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The breaker's state when it refused: `Open` or `HalfOpen`.
    pub fn state(&self) -> State {
        self.state
    }

    /// When open: the time left until the next request may become a
    /// half-open probe. `None` when every half-open probe slot was taken.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Debug for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejected")
            .field("name", &self.name())
            .field("state", &self.state)
            .field("retry_after", &self.retry_after)
            .finish()
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.state, self.retry_after) {
            (State::Open, Some(d)) => write!(
                f,
                "circuit breaker '{}' is open, will try half-open in {:.2}s",
                self.name(),
                d.as_secs_f64()
            ),
            (State::HalfOpen, _) => write!(
                f,
                "circuit breaker '{}' is half-open, all {} probe slots are taken",
                self.name(),
                self.probe_slots
            ),
            (state, _) => write!(f, "circuit breaker '{}' is {state}", self.name()),
        }
    }
}

impl std::error::Error for Rejected {}

/// The error of a guarded call: refused by the breaker, or failed itself.
///
/// ```
/// use fusebox::{CallError, CircuitBreaker};
///
/// let cb = CircuitBreaker::new("db");
/// let r: Result<(), CallError<std::io::Error>> =
///     cb.call(|| Err(std::io::Error::other("timeout")));
/// assert!(matches!(r, Err(CallError::Failed(_))));
/// ```
#[derive(Debug, Clone)]
pub enum CallError<E> {
    /// The breaker refused; the call did not run.
    Rejected(Rejected),
    /// The call ran and returned this error (counted as a failure).
    Failed(E),
}

impl<E> CallError<E> {
    /// `true` for [`CallError::Rejected`].
    pub fn is_rejected(&self) -> bool {
        matches!(self, CallError::Rejected(_))
    }

    /// The call's own error, if it ran and failed.
    pub fn into_failed(self) -> Option<E> {
        match self {
            CallError::Failed(e) => Some(e),
            CallError::Rejected(_) => None,
        }
    }

    /// The rejection, if the breaker refused.
    pub fn rejected(&self) -> Option<&Rejected> {
        match self {
            CallError::Rejected(r) => Some(r),
            CallError::Failed(_) => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Rejected(r) => fmt::Display::fmt(r, f),
            CallError::Failed(e) => write!(f, "guarded call failed: {e}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for CallError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CallError::Rejected(r) => Some(r),
            CallError::Failed(e) => Some(e),
        }
    }
}

impl<E> From<Rejected> for CallError<E> {
    fn from(r: Rejected) -> Self {
        CallError::Rejected(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    fn name(s: &str) -> Name {
        Name::new(&std::sync::Arc::from(s))
    }

    #[test]
    fn messages_read_as_the_spec_says() {
        let r = Rejected::open(name("api"), Duration::from_millis(12_345));
        assert_eq!(
            r.to_string(),
            "circuit breaker 'api' is open, will try half-open in 12.35s"
        );
        let r = Rejected::half_open(name("api"), 3);
        assert_eq!(
            r.to_string(),
            "circuit breaker 'api' is half-open, all 3 probe slots are taken"
        );
        assert_eq!(r.retry_after(), None);
    }

    #[test]
    fn long_and_unicode_names_survive() {
        let long = "ß".repeat(40);
        assert!(matches!(
            name("api_service_eu_west_1a"),
            Name::Inline { .. }
        ));
        assert!(std::mem::size_of::<Rejected>() <= 48);
        assert_eq!(name(&long).as_str(), long);
        assert_eq!(name("über-api").as_str(), "über-api");
        assert_eq!(name("").as_str(), "");
    }

    #[test]
    fn call_error_sources() {
        let e: CallError<std::io::Error> = CallError::Failed(std::io::Error::other("x"));
        assert_eq!(e.source().unwrap().to_string(), "x");
        let e: CallError<std::io::Error> = Rejected::half_open(name("a"), 1).into();
        assert!(e.source().unwrap().is::<Rejected>());
        fn assert_traits<T: Error + Clone + Send + Sync + 'static>() {}
        assert_traits::<Rejected>();
    }
}
