//! A small bounded cache whose entries expire a fixed time after they were
//! fetched: for hot lookups on every request (an access key and its owner,
//! a KMS key's metadata) that must still notice changes made elsewhere.
//!
//! The node that makes a change forgets the entry at once; other nodes
//! sharing the database see it within one time-to-live. That bound is the
//! documented consistency of such lookups, as with AWS's own eventually
//! consistent authorisation data. Written here rather than taken from a
//! crate because it needs only a map, a clock and a bound, and the
//! invalidation rules are the interesting part, which live with the callers.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A bounded map of values that expire `ttl` after insertion.
#[derive(Debug)]
pub struct TtlCache<K, V> {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<K, (V, Instant)>>,
    /// Bumped by every forget, so a value read from the source before a
    /// change is not cached after it (see [`TtlCache::insert_fetched`]).
    generation: AtomicU64,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    /// A cache of at most `capacity` entries; a capacity or a time-to-live
    /// of zero disables caching.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        let capacity = if ttl.is_zero() { 0 } else { capacity };
        TtlCache { ttl, capacity, entries: Mutex::new(HashMap::new()), generation: AtomicU64::new(0) }
    }

    /// The value for `key`, if cached and not expired.
    pub fn get(&self, key: &K) -> Option<V> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        match entries.get(key) {
            Some((value, expires)) if *expires > Instant::now() => Some(value.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Caches `value` for `key`. When full, expired entries go first; if
    /// none has expired the whole map is dropped, which costs one round of
    /// misses and keeps the bound without bookkeeping on every hit.
    pub fn insert(&self, key: K, value: V) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        self.insert_locked(&mut entries, key, value);
    }

    fn insert_locked(&self, entries: &mut HashMap<K, (V, Instant)>, key: K, value: V) {
        if self.capacity == 0 {
            return;
        }
        let now = Instant::now();
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, (_, expires)| *expires > now);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (value, now + self.ttl));
    }

    /// The generation to pass to [`TtlCache::insert_fetched`]: take it
    /// before reading the value from its source.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches a value read from the source after [`TtlCache::generation`]
    /// returned `generation`, unless something was forgotten since: a read
    /// that raced with a change could hold the old value, and caching it
    /// would undo the change's forget for a whole time-to-live.
    pub fn insert_fetched(&self, key: K, value: V, generation: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if self.generation.load(Ordering::Acquire) == generation {
            self.insert_locked(&mut entries, key, value);
        }
    }

    /// Forgets `key`: called by whatever changes what it maps to, after the
    /// change is made.
    pub fn forget(&self, key: &K) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(key);
    }

    /// Forgets every entry whose value matches `pred`.
    pub fn forget_where(&self, pred: impl Fn(&V) -> bool) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.retain(|_, (v, _)| !pred(v));
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_the_ttl_and_can_be_forgotten() {
        let cache = TtlCache::new(Duration::from_millis(30), 10);
        cache.insert("a", 1);
        cache.insert("b", 2);
        assert_eq!(cache.get(&"a"), Some(1));
        cache.forget(&"a");
        assert_eq!(cache.get(&"a"), None);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(cache.get(&"b"), None, "expired");
        assert!(cache.is_empty());
    }

    #[test]
    fn the_bound_holds_and_predicate_forgetting_works() {
        let cache = TtlCache::new(Duration::from_secs(60), 3);
        for i in 0..10 {
            cache.insert(i, i % 2);
            assert!(cache.len() <= 3);
        }
        cache.insert(100, 1);
        cache.insert(101, 0);
        cache.forget_where(|v| *v == 1);
        assert!(cache.get(&100).is_none());
        assert_eq!(cache.get(&101), Some(0));
        let before = cache.generation();
        cache.forget(&55);
        cache.insert_fetched(7, 1, before);
        assert_eq!(cache.get(&7), None, "a value read before a forget is not cached after it");
        let now = cache.generation();
        cache.insert_fetched(7, 1, now);
        assert_eq!(cache.get(&7), Some(1));
        let off = TtlCache::new(Duration::from_secs(60), 0);
        off.insert(1, 1);
        assert_eq!(off.get(&1), None);
        let off = TtlCache::new(Duration::ZERO, 10);
        off.insert_fetched(1, 1, off.generation());
        assert!(off.is_empty(), "a zero time-to-live caches nothing");
    }
}
