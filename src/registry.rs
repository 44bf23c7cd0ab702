//! `Registry`: named breakers, shared, with lock-free reads.
//!
//! The map lives behind a [`SwapCell`](crate::sync): readers load the current
//! `Arc<Map>` without a lock (arc-swap); writers copy the map, change the
//! copy, and install it with a compare-and-swap, retrying if another writer
//! got there first. Writes are O(n) and rare; reads are a pointer load and a
//! hash lookup.
//!
//! # Orderings
//!
//! Publication is arc-swap's: a reader that loads a map sees it fully built.
//! Get-or-create races resolve on the CAS: the loser adopts the winner's
//! breaker and drops its own, so one name maps to one instance (R13).

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use crate::breaker::CircuitBreaker;
use crate::config::{Builder, ConfigError};
use crate::snapshot::Snapshot;
use crate::sync::{Arc, SwapCell};

type Map = HashMap<String, Arc<CircuitBreaker>>;

/// A thread-safe set of named breakers.
///
/// ```
/// use fusebox::{CircuitBreaker, Registry, State};
///
/// let registry = Registry::new();
/// let db = registry.create(CircuitBreaker::builder("database").consecutive_failure_threshold(5))?;
/// let same = registry.get("database").unwrap();
/// assert!(std::sync::Arc::ptr_eq(&db, &same));
/// assert_eq!(registry.get_states()["database"].state, State::Closed);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub struct Registry {
    map: SwapCell<Map>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let map = self.map.load_full();
        let mut names: Vec<&str> = map.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("Registry")
            .field("breakers", &names)
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry {
            map: SwapCell::new(Map::new()),
        }
    }

    /// The process-wide registry.
    #[cfg(not(fusebox_loom))]
    pub fn global() -> &'static Registry {
        use std::sync::OnceLock;
        static GLOBAL: OnceLock<Registry> = OnceLock::new();
        GLOBAL.get_or_init(Registry::new)
    }

    /// Returns the breaker named `builder.name()`, creating it from `builder`
    /// if there is none. An existing breaker wins: the builder is then
    /// ignored, even if invalid. Concurrent calls for one name return one
    /// instance.
    ///
    /// # Errors
    ///
    /// The builder's [`ConfigError`], only if the name is new.
    pub fn create(&self, builder: Builder) -> Result<Arc<CircuitBreaker>, ConfigError> {
        if let Some(existing) = self.get(builder.name()) {
            return Ok(existing);
        }
        let name = builder.name.clone();
        let fresh = Arc::new(builder.build()?);
        let mut current = self.map.load_full();
        loop {
            if let Some(existing) = current.get(&name) {
                return Ok(existing.clone());
            }
            let mut next = Map::clone(&current);
            next.insert(name.clone(), fresh.clone());
            match self.map.compare_and_swap(&current, Arc::new(next)) {
                Ok(()) => return Ok(fresh),
                Err(actual) => current = actual,
            }
        }
    }

    /// Inserts `breaker` under its name, replacing any breaker of that name.
    /// Returns the replaced one.
    pub fn register(&self, breaker: CircuitBreaker) -> Option<Arc<CircuitBreaker>> {
        let breaker = Arc::new(breaker);
        let name = breaker.name().to_owned();
        self.update(|map| map.insert(name.clone(), breaker.clone()))
    }

    /// Removes the breaker named `name`. Returns whether there was one.
    pub fn unregister(&self, name: &str) -> bool {
        self.update(|map| map.remove(name)).is_some()
    }

    fn update<R>(&self, mut change: impl FnMut(&mut Map) -> Option<R>) -> Option<R> {
        let mut current = self.map.load_full();
        loop {
            let mut next = Map::clone(&current);
            let result = change(&mut next);
            match self.map.compare_and_swap(&current, Arc::new(next)) {
                Ok(()) => return result,
                Err(actual) => current = actual,
            }
        }
    }

    /// The breaker named `name`. Takes no lock.
    ///
    /// The returned `Arc` is a clone: every `get` and every drop of its
    /// result is an atomic add on the breaker's reference count, one cache
    /// line that all threads looking up that name write. On a hot path,
    /// keep the `Arc` (or look the breaker up with [`with`](Self::with)).
    pub fn get(&self, name: &str) -> Option<Arc<CircuitBreaker>> {
        self.map.load().get(name).cloned()
    }

    /// Runs `f` on the breaker named `name`, without cloning its `Arc`:
    /// `None` (and `f` not run) if there is none. Takes no lock and writes
    /// no shared line, so lookups by many threads do not contend (unlike
    /// [`get`](Self::get), whose clone and drop write the breaker's
    /// reference count).
    ///
    /// `f` runs on the registry's map as loaded when `with` was called: a
    /// breaker that another thread replaces or unregisters meanwhile stays
    /// alive, and is the one `f` sees, until `f` returns.
    ///
    /// ```
    /// use fusebox::{CircuitBreaker, Registry};
    ///
    /// let registry = Registry::new();
    /// registry.create(CircuitBreaker::builder("database"))?;
    /// let rows = registry.with("database", |db| db.call(|| Ok::<_, ()>(3)));
    /// assert_eq!(rows.map(Result::ok), Some(Some(3)));
    /// assert!(registry.with("cache", |_| ()).is_none());
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn with<R>(&self, name: &str, f: impl FnOnce(&CircuitBreaker) -> R) -> Option<R> {
        let map = self.map.load();
        map.get(name).map(|breaker| f(breaker))
    }

    /// Every registered breaker, sorted by name.
    pub fn get_all(&self) -> Vec<Arc<CircuitBreaker>> {
        let map = self.map.load_full();
        let mut all: Vec<_> = map.values().cloned().collect();
        all.sort_by(|a, b| a.name().cmp(b.name()));
        all
    }

    /// A snapshot of every registered breaker, by name.
    pub fn get_states(&self) -> BTreeMap<String, Snapshot> {
        let map = self.map.load_full();
        map.iter()
            .map(|(name, cb)| (name.clone(), cb.snapshot()))
            .collect()
    }

    /// How many breakers are registered.
    pub fn len(&self) -> usize {
        self.map.load().len()
    }

    /// `true` if no breaker is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
