//! A bounded cache of unwrapped key material, keyed by key id and material
//! id, so a busy key is unwrapped by the keystore (an HSM round trip) once
//! per time-to-live instead of on every request.
//!
//! Entries expire a fixed time after they were inserted, not after their
//! last use: a key that is disabled or deleted elsewhere stops being usable
//! from this cache within one TTL however busy it is. When the cache is full
//! the least recently used entry goes. Material is held as
//! `Arc<MaterialKey>`, so an entry that is evicted while a request still
//! uses it is zeroized when that request lets go of it.
//!
//! The cache never formats, logs or copies the material; its `Debug` shows
//! only sizes and counters.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::KeystoreError;
use crate::blob::MaterialKey;
use crate::spec::{KeyId, MaterialId};

type Slot = (KeyId, MaterialId);
type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// How the cache has fared since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    /// Entries dropped to make room for a new one.
    pub evictions: u64,
    /// Entries dropped because their time-to-live had passed.
    pub expirations: u64,
}

struct Entry<T> {
    material: Arc<T>,
    expires: Instant,
    /// The entry's position in `Inner::recency`.
    tick: u64,
}

struct Inner<T> {
    entries: HashMap<Slot, Entry<T>>,
    /// Least recently used first: each use moves an entry to a new, larger tick.
    recency: BTreeMap<u64, Slot>,
    next_tick: u64,
    stats: CacheStats,
}

impl<T> Default for Inner<T> {
    fn default() -> Self {
        Inner { entries: HashMap::new(), recency: BTreeMap::new(), next_tick: 0, stats: CacheStats::default() }
    }
}

impl<T> Inner<T> {
    fn touch(&mut self, slot: Slot) {
        let tick = self.next_tick;
        self.next_tick += 1;
        if let Some(entry) = self.entries.get_mut(&slot) {
            self.recency.remove(&entry.tick);
            entry.tick = tick;
            self.recency.insert(tick, slot);
        }
    }

    fn remove(&mut self, slot: &Slot) -> bool {
        match self.entries.remove(slot) {
            Some(entry) => {
                self.recency.remove(&entry.tick);
                true
            }
            None => false,
        }
    }
}

/// Unwrapped material for at most `capacity` (key, material) pairs, each
/// for at most `ttl`. Cheap to share behind an `Arc`; every method takes a
/// short lock and never calls the keystore while holding it.
pub struct UnwrapCache<T = MaterialKey> {
    inner: Mutex<Inner<T>>,
    capacity: usize,
    ttl: Duration,
    clock: Clock,
}

impl<T> UnwrapCache<T> {
    /// A cache of at most `capacity` entries, each kept for at most `ttl`.
    /// A capacity of zero caches nothing.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self::with_clock(capacity, ttl, Arc::new(Instant::now))
    }

    /// The same with an injected clock, so tests can pass time without
    /// sleeping.
    pub fn with_clock(capacity: usize, ttl: Duration, clock: Arc<dyn Fn() -> Instant + Send + Sync>) -> Self {
        UnwrapCache { inner: Mutex::new(Inner::default()), capacity, ttl, clock }
    }

    /// The material for one key version, if cached and not expired.
    pub fn get(&self, key: KeyId, material: MaterialId) -> Option<Arc<T>> {
        let now = (self.clock)();
        let mut inner = self.lock();
        let slot = (key, material);
        let found = inner.entries.get(&slot).map(|entry| (entry.expires > now, Arc::clone(&entry.material)));
        match found {
            Some((true, material)) => {
                inner.stats.hits += 1;
                inner.touch(slot);
                Some(material)
            }
            Some((false, _)) => {
                inner.remove(&slot);
                inner.stats.expirations += 1;
                inner.stats.misses += 1;
                None
            }
            None => {
                inner.stats.misses += 1;
                None
            }
        }
    }

    /// Caches material, first dropping expired entries and then, if still
    /// full, the least recently used one.
    pub fn insert(&self, key: KeyId, material_id: MaterialId, material: Arc<T>) {
        if self.capacity == 0 {
            return;
        }
        let now = (self.clock)();
        // An overflowing deadline (a TTL of centuries) means "never expires".
        let Some(expires) = now.checked_add(self.ttl).or_else(|| now.checked_add(Duration::from_secs(u32::MAX.into())))
        else {
            return;
        };
        let mut inner = self.lock();
        let slot = (key, material_id);
        inner.remove(&slot);
        if inner.entries.len() >= self.capacity {
            let expired: Vec<Slot> =
                inner.entries.iter().filter(|(_, entry)| entry.expires <= now).map(|(slot, _)| *slot).collect();
            for slot in &expired {
                inner.remove(slot);
            }
            inner.stats.expirations += expired.len() as u64;
        }
        while inner.entries.len() >= self.capacity {
            let Some((_, oldest)) = inner.recency.pop_first() else { break };
            inner.entries.remove(&oldest);
            inner.stats.evictions += 1;
        }
        let tick = inner.next_tick;
        inner.next_tick += 1;
        inner.recency.insert(tick, slot);
        inner.entries.insert(slot, Entry { material, expires, tick });
    }

    /// The cached material, or else what `unwrap` returns, which is cached.
    /// The lock is not held while `unwrap` runs, so two requests that miss
    /// together may both unwrap; that costs an HSM call, not correctness.
    pub fn get_or_unwrap(
        &self,
        key: KeyId,
        material_id: MaterialId,
        unwrap: impl FnOnce() -> Result<T, KeystoreError>,
    ) -> Result<Arc<T>, KeystoreError> {
        if let Some(material) = self.get(key, material_id) {
            return Ok(material);
        }
        let material = Arc::new(unwrap()?);
        self.insert(key, material_id, Arc::clone(&material));
        Ok(material)
    }

    /// Forgets one key version (when it is deleted or its wrapping changes).
    pub fn remove(&self, key: KeyId, material: MaterialId) -> bool {
        self.lock().remove(&(key, material))
    }

    /// Forgets every version of a key (when the key is disabled, scheduled
    /// for deletion or deleted).
    pub fn remove_key(&self, key: KeyId) -> usize {
        let mut inner = self.lock();
        let slots: Vec<Slot> = inner.entries.keys().filter(|(k, _)| *k == key).copied().collect();
        for slot in &slots {
            inner.remove(slot);
        }
        slots.len()
    }

    /// Forgets everything (when the keystore is closed or the root key changes).
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.entries.clear();
        inner.recency.clear();
    }

    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn stats(&self) -> CacheStats {
        self.lock().stats
    }

    /// Nothing in this module panics while holding the lock, so a poisoned
    /// lock (a panic elsewhere on the same thread's stack) still guards a
    /// consistent map and is used as it is.
    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T> fmt::Debug for UnwrapCache<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("UnwrapCache")
            .field("entries", &inner.entries.len())
            .field("capacity", &self.capacity)
            .field("ttl", &self.ttl)
            .field("stats", &inner.stats)
            .finish()
    }
}
