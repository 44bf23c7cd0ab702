//! `Rejected` and `CallError`: small hand-written errors that carry data.

use std::fmt;
use std::time::Duration;

use crate::state::State;

/// Names up to this many bytes are copied into a [`Rejected`] inline, so a
/// rejection touches no shared reference count and allocates nothing.
const INLINE_NAME: usize = 23;

/// The breaker's name as a `Rejected` carries it: up to 23 bytes inline
/// (the length in the last byte), or a shared string for longer names.
///
/// The layout is made of whole, aligned words on purpose. A rejection is
/// built and then moved a few times on its way out of `call`; with
/// byte-sized fields at odd offsets (the first layout) the compiler copied it
/// in pieces and read the pieces back with wider loads that straddled them,
/// and each such load stalls until the stores retire (failed store-to-load
/// forwarding). That cost about 12 ns per rejected `call` on the benchmark
/// machine.
pub(crate) struct Name {
    inline: InlineName,
    // Not part of any atomic protocol: a plain shared string for long
    // names, behind a thin pointer (one word, not `Arc<str>`'s two).
    shared: Option<std::sync::Arc<Box<str>>>,
}

#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct InlineName([u8; INLINE_NAME + 1]);

impl Clone for Name {
    /// The shared string's branch first, then the inline bytes: in the
    /// derived order the compiler copied the bytes to a temporary before the
    /// branch and from there into place. The long-name case is out of line,
    /// so an inline name falls through.
    #[inline(always)]
    fn clone(&self) -> Name {
        #[cold]
        #[inline(never)]
        fn share(s: &std::sync::Arc<Box<str>>) -> std::sync::Arc<Box<str>> {
            std::sync::Arc::clone(s)
        }
        let shared = self.shared.as_ref().map(share);
        Name {
            inline: self.inline,
            shared,
        }
    }
}

impl Name {
    pub(crate) fn new(name: &std::sync::Arc<str>) -> Name {
        let b = name.as_bytes();
        let mut inline = InlineName([0; INLINE_NAME + 1]);
        if b.len() <= INLINE_NAME {
            inline.0[..b.len()].copy_from_slice(b);
            inline.0[INLINE_NAME] = b.len() as u8;
            Name {
                inline,
                shared: None,
            }
        } else {
            Name {
                inline,
                shared: Some(std::sync::Arc::new(Box::from(&**name))),
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn is_inline(&self) -> bool {
        self.shared.is_none()
    }

    pub(crate) fn as_str(&self) -> &str {
        match &self.shared {
            Some(s) => s,
            // The bytes are a whole `str` copied verbatim, so always UTF-8.
            None => {
                let len = usize::from(self.inline.0[INLINE_NAME]);
                std::str::from_utf8(&self.inline.0[..len]).unwrap_or_default()
            }
        }
    }
}

/// A breaker's name as messages print it: control characters, backslashes
/// and other unprintable characters escaped (`\n`, `\u{1b}`), so a name can
/// neither break a log line nor forge one. Quotes stay as they are.
pub(crate) struct Escaped<'a>(pub(crate) &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write as _;
        for c in self.0.chars() {
            let mut esc = c.escape_debug();
            if c == '\'' || c == '"' || esc.len() == 1 {
                f.write_char(c)?;
            } else {
                esc.try_for_each(|e| f.write_char(e))?;
            }
        }
        Ok(())
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
    rejection: Rejection,
}

/// A rejection before the breaker's name is attached. Two words, so the
/// admission path returns it in registers; `call` attaches the name only
/// where it builds its own return value (see `Name` for why copies of a
/// wider value cost so much here).
#[derive(Clone, Copy)]
pub(crate) struct Rejection {
    /// `retry_after` in nanoseconds; `NO_RETRY` for `None`.
    retry_nanos: u64,
    /// The state (low byte) and the probe slots (high 32 bits).
    meta: u64,
}

const NO_RETRY: u64 = u64::MAX;

/// The longest `open_duration` in nanoseconds a breaker keeps (584 years
/// less a nanosecond): one short of the `NO_RETRY` marker.
pub(crate) const MAX_OPEN_NANOS: u64 = NO_RETRY - 1;

impl Rejection {
    /// Refused while OPEN, `retry_nanos` before the next half-open attempt.
    /// It is at most the configuration's `open_nanos`, which stops short of
    /// `NO_RETRY` (see [`MAX_OPEN_NANOS`]), so no clamp is needed here.
    #[inline]
    pub(crate) fn open(retry_nanos: u64) -> Rejection {
        debug_assert!(retry_nanos <= MAX_OPEN_NANOS);
        Rejection {
            retry_nanos,
            meta: State::Open as u64,
        }
    }

    /// Refused while HALF_OPEN: all `probe_slots` are taken.
    #[inline]
    pub(crate) fn half_open(probe_slots: u32) -> Rejection {
        Rejection {
            retry_nanos: NO_RETRY,
            meta: State::HalfOpen as u64 | u64::from(probe_slots) << 32,
        }
    }

    /// The public error, carrying `name`.
    #[inline(always)]
    pub(crate) fn named(self, name: Name) -> Rejected {
        Rejected {
            name,
            rejection: self,
        }
    }
}

impl Rejected {
    /// The name of the breaker that refused.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The breaker's state when it refused: `Open` or `HalfOpen`.
    pub fn state(&self) -> State {
        if self.rejection.meta as u8 == State::HalfOpen as u8 {
            State::HalfOpen
        } else {
            State::Open
        }
    }

    /// When open: the time left until the next request may become a
    /// half-open probe, of the opening's duration in force (with an open
    /// backoff, this opening's). `None` when every half-open probe slot was
    /// taken.
    pub fn retry_after(&self) -> Option<Duration> {
        let nanos = self.rejection.retry_nanos;
        (nanos != NO_RETRY).then(|| Duration::from_nanos(nanos))
    }

    fn probe_slots(&self) -> u32 {
        (self.rejection.meta >> 32) as u32
    }
}

impl fmt::Debug for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejected")
            .field("name", &self.name())
            .field("state", &self.state())
            .field("retry_after", &self.retry_after())
            .finish()
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = Escaped(self.name());
        match (self.state(), self.retry_after()) {
            (State::Open, Some(d)) => write!(
                f,
                "circuit breaker '{}' is open, will try half-open in {:.2}s",
                name,
                d.as_secs_f64()
            ),
            (State::HalfOpen, _) if self.probe_slots() == 1 => write!(
                f,
                "circuit breaker '{}' is half-open, its only probe slot is taken",
                name
            ),
            (State::HalfOpen, _) => write!(
                f,
                "circuit breaker '{}' is half-open, all {} probe slots are taken",
                name,
                self.probe_slots()
            ),
            (state, _) => write!(f, "circuit breaker '{}' is {state}", name),
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
        let r = Rejection::open(12_345_000_000).named(name("api"));
        assert_eq!(
            r.to_string(),
            "circuit breaker 'api' is open, will try half-open in 12.35s"
        );
        let r = Rejection::half_open(3).named(name("api"));
        assert_eq!(
            r.to_string(),
            "circuit breaker 'api' is half-open, all 3 probe slots are taken"
        );
        assert_eq!(r.retry_after(), None);
    }

    #[test]
    fn names_print_with_control_characters_escaped() {
        let given = "api\n[WARN] forged\u{1b}[2J\\\"'";
        let r = Rejection::half_open(1).named(name(given));
        assert_eq!(
            r.to_string(),
            r#"circuit breaker 'api\n[WARN] forged\u{1b}[2J\\"'' is half-open, its only probe slot is taken"#
        );
        // The name itself is kept as given; printable Unicode prints as is.
        assert_eq!(r.name(), given);
        assert_eq!(Escaped("zürich-€").to_string(), "zürich-€");
        assert_eq!(
            Escaped("tab\tbidi\u{202e}").to_string(),
            "tab\\tbidi\\u{202e}"
        );
    }

    #[test]
    fn long_and_unicode_names_survive() {
        let long = "ß".repeat(40);
        assert!(name("api_service_eu_west_1a_").is_inline(), "23 bytes");
        assert!(!name("api_service_eu_west_1a_b").is_inline(), "24 bytes");
        assert_eq!(
            name("api_service_eu_west_1a_").as_str(),
            "api_service_eu_west_1a_"
        );
        assert_eq!(std::mem::size_of::<Name>(), 32);
        assert_eq!(std::mem::size_of::<Rejected>(), 48);
        assert_eq!(name(&long).as_str(), long);
        assert_eq!(name("über-api").as_str(), "über-api");
        assert_eq!(name("").as_str(), "");
    }

    #[test]
    fn call_error_sources() {
        let e: CallError<std::io::Error> = CallError::Failed(std::io::Error::other("x"));
        assert_eq!(e.source().unwrap().to_string(), "x");
        let e: CallError<std::io::Error> = Rejection::half_open(1).named(name("a")).into();
        assert!(e.source().unwrap().is::<Rejected>());
        fn assert_traits<T: Error + Clone + Send + Sync + 'static>() {}
        assert_traits::<Rejected>();
    }
}
