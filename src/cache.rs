//! The public concurrent map: [`Cache`].

use std::borrow::Borrow;
use std::convert::Infallible;
use std::fmt;
use std::hash::{BuildHasher, Hash};
#[cfg(feature = "serde")]
use std::io::Write;
#[cfg(feature = "serde")]
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::builder::{CacheBuilder, DefaultHasher};
use crate::clock::duration_to_millis;
use crate::persistence::PersistenceStart;
#[cfg(feature = "serde")]
use crate::snapshot::{self, SnapshotInfo};
#[cfg(feature = "serde")]
use crate::snapshot_format::{SnapshotError, SnapshotKind};
use crate::stats::Stats;
use crate::store::{Claim, Route, Store};
use crate::sweeper::Sweeper;

/// A concurrent map bounded by capacity (count or weight) and by time (to live and
/// to idle), whose memory follows its live size down as well as up.
///
/// It is `Send + Sync` (for `K` and `V` that are) and used through `&self`: share
/// it with an `Arc`. Keys are spread over shards, each an exact LRU behind its own
/// reader-writer lock (see [`CacheBuilder::shards`]): hits take it shared and
/// record their promotion for the shard's next exclusive section, so readers of
/// a hot shard do not queue behind each other. Removed entries reach the eviction
/// listener exactly once, after the shard's lock is released.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use ttlru::Cache;
///
/// let cache: Arc<Cache<String, u64>> = Arc::new(
///     Cache::builder()
///         .max_capacity(10_000)
///         .time_to_live(Duration::from_secs(600))
///         .build(),
/// );
/// let writer = {
///     let cache = cache.clone();
///     std::thread::spawn(move || cache.insert("answer".to_string(), 42))
/// };
/// writer.join().unwrap();
/// assert_eq!(cache.get("answer"), Some(42)); // queried with a &str
/// ```
pub struct Cache<K, V, S = DefaultHasher> {
    store: Arc<Store<K, V>>,
    hasher: S,
    // Declared last: dropped (stopped and joined) after nothing else needs it.
    _sweeper: Option<Sweeper>,
    // Stopped after the sweeper: its last save runs as it stops.
    _persistence: Option<Sweeper>,
}

impl<K, V> Cache<K, V> {
    /// A builder for every option: capacity, time to live and idle, weigher,
    /// shards, hasher, clock, eviction listener, background sweeper.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ttlru::{Cache, ManualClock, RemovalCause};
    ///
    /// let cache: Cache<String, u64> = Cache::builder()
    ///     .max_capacity(100_000)
    ///     .time_to_live(Duration::from_secs(600))
    ///     .time_to_idle(Duration::from_secs(60))
    ///     .weigher(|k: &String, _v: &u64| k.len() as u32)
    ///     .shards(16)
    ///     .hasher(ahash::RandomState::new())
    ///     .clock(ManualClock::new())
    ///     .eviction_listener(|_k: &String, _v: u64, _cause: RemovalCause| {})
    ///     .build();
    /// assert_eq!(cache.shard_count(), 16);
    /// ```
    pub fn builder() -> CacheBuilder<K, V> {
        CacheBuilder::new()
    }
}

impl<K: Hash + Eq, V: Clone> Cache<K, V> {
    /// A cache holding at most `max_capacity` entries, with no expiry.
    ///
    /// ```
    /// let cache: ttlru::Cache<String, u64> = ttlru::Cache::new(10_000);
    /// cache.insert("a".into(), 1);
    /// assert_eq!(cache.len(), 1);
    /// ```
    #[must_use]
    pub fn new(max_capacity: u64) -> Self {
        Self::builder().max_capacity(max_capacity).build()
    }
}

impl<K, V, S> Cache<K, V, S> {
    pub(crate) fn store(&self) -> &Store<K, V> {
        &self.store
    }

    pub(crate) fn from_parts(store: Arc<Store<K, V>>, hasher: S, sweeper: Option<Sweeper>) -> Self {
        Cache {
            store,
            hasher,
            _sweeper: sweeper,
            _persistence: None,
        }
    }

    /// Starts saving snapshots in the background, once the cache holds what it
    /// should (after a restore, so a half-loaded cache is never saved).
    pub(crate) fn start_persistence(&mut self, start: Option<PersistenceStart<K, V>>) {
        self._persistence = start.map(|start| start(&self.store));
    }

    /// The number of entries held, including expired ones not yet purged (they are
    /// never returned). Exact when no write is in flight; takes no lock.
    ///
    /// ```
    /// let cache: ttlru::Cache<u32, u32> = ttlru::Cache::new(10);
    /// cache.insert(1, 1);
    /// assert_eq!(cache.len(), 1);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// Whether [`len`](Self::len) is zero.
    ///
    /// ```
    /// let cache: ttlru::Cache<u32, u32> = ttlru::Cache::new(10);
    /// assert!(cache.is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every entry (each reaches the listener as `Cleared`) and frees the
    /// tables, slabs and wheels.
    ///
    /// ```
    /// let cache: ttlru::Cache<u32, u32> = ttlru::Cache::new(1_000);
    /// (0..1_000).for_each(|i| { cache.insert(i, i); });
    /// cache.clear();
    /// assert_eq!(cache.len(), 0);
    /// assert_eq!(cache.stats().table_buckets, 0);
    /// ```
    pub fn clear(&self) {
        self.store.clear();
    }

    /// Shrinks every shard's table and slab to fit its live entries.
    ///
    /// ```
    /// let cache: ttlru::Cache<u32, u32> = ttlru::Cache::new(1_000);
    /// (0..1_000).for_each(|i| { cache.insert(i, i); });
    /// let before = cache.memory_bytes();
    /// (0..900).for_each(|i| { cache.remove(&i); });
    /// cache.shrink_to_fit();
    /// assert!(cache.memory_bytes() < before / 2);
    /// ```
    pub fn shrink_to_fit(&self) {
        self.store.shrink_to_fit();
    }

    /// Removes every expired entry now and frees what emptied shards no longer
    /// need. Returns how many entries it removed. Writes do this work a little at
    /// a time; call this (or use a background sweeper) when writes stop.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ttlru::{Cache, ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// let cache: Cache<u32, u32> = Cache::builder()
    ///     .time_to_live(Duration::from_secs(1))
    ///     .clock(clock.clone())
    ///     .build();
    /// (0..100).for_each(|i| { cache.insert(i, i); });
    /// clock.advance(Duration::from_secs(1));
    /// assert_eq!(cache.purge_expired(), 100);
    /// assert_eq!(cache.len(), 0);
    /// ```
    pub fn purge_expired(&self) -> usize {
        self.store.purge_expired()
    }

    /// Counters since the cache was built, and the current size: see [`Stats`].
    ///
    /// ```
    /// let cache: ttlru::Cache<u32, u32> = ttlru::Cache::new(10);
    /// cache.insert(1, 1);
    /// cache.get(&1);
    /// cache.get(&2);
    /// let stats = cache.stats();
    /// assert_eq!((stats.hits, stats.misses, stats.inserts), (1, 1, 1));
    /// ```
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.store.stats()
    }

    /// Why the latest background save of `persist_to` (feature `serde`) failed,
    /// in words (the file, and the I/O error or the panic message), so a
    /// service can log it. `None` when the cache does not persist, no save has run
    /// yet, or the latest one succeeded: a later success clears an earlier
    /// failure. Every failure is also counted in [`Stats::snapshot_failures`].
    ///
    /// ```
    /// # #[cfg(feature = "serde")] {
    /// use std::time::{Duration, Instant};
    /// // A file in a directory that does not exist cannot be written.
    /// let path = std::env::temp_dir().join("ttlru-doc-no-such-directory/cache.snapshot");
    /// let cache: ttlru::Cache<u32, u32> = ttlru::Cache::builder()
    ///     .persist_to(&path, Duration::from_millis(10))
    ///     .build();
    /// let started = Instant::now();
    /// while cache.last_snapshot_failure().is_none() {
    ///     assert!(started.elapsed() < Duration::from_secs(10));
    ///     std::thread::sleep(Duration::from_millis(5));
    /// }
    /// let reason = cache.last_snapshot_failure().unwrap();
    /// assert!(reason.contains("cache.snapshot"), "{reason}");
    /// assert!(cache.stats().snapshot_failures >= 1);
    /// # }
    /// ```
    #[must_use]
    pub fn last_snapshot_failure(&self) -> Option<String> {
        self.store.save_counters().last_failure()
    }

    /// Bytes held by the cache's tables, slabs and timer wheels, from their real
    /// capacities. It does not count heap memory owned by keys and values
    /// themselves (a `String`'s buffer, say).
    ///
    /// ```
    /// let cache: ttlru::Cache<u64, u64> = ttlru::Cache::new(1_000_000);
    /// let empty = cache.memory_bytes();
    /// (0..10_000).for_each(|i| { cache.insert(i, i); });
    /// assert!(cache.memory_bytes() > empty + 10_000 * 40);
    /// ```
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        self.store.memory_bytes()
    }

    /// Publishes [`stats`](Self::stats) and [`memory_bytes`](Self::memory_bytes)
    /// through the [`metrics`](https://docs.rs/metrics) facade, to whatever
    /// recorder the application installed (with none, it does nothing). Labelled
    /// `cache` = the builder's [`name`](CacheBuilder::name) (or `unnamed`):
    ///
    /// - gauges `ttlru_entries`, `ttlru_memory_bytes`, `ttlru_table_buckets`;
    /// - counters, set to their totals since the cache was built: `ttlru_hits_total`,
    ///   `ttlru_misses_total`, `ttlru_inserts_total`, `ttlru_evictions_total`,
    ///   `ttlru_expirations_total`, `ttlru_removals_total`.
    ///
    /// Operations count into per-shard fields as always, and pay nothing for this:
    /// the figures are summed only here, and on every tick of the
    /// [`background_sweeper`](CacheBuilder::background_sweeper), which calls this
    /// after each purge. Without a sweeper, call it before each scrape or on a
    /// timer. Needs the `metrics` feature.
    ///
    /// ```
    /// let cache: ttlru::Cache<String, u64> = ttlru::Cache::builder().name("orders-dedup").build();
    /// cache.insert("order-1".to_string(), 1);
    /// cache.publish_metrics(); // ttlru_entries{cache="orders-dedup"} 1, ...
    /// ```
    #[cfg(feature = "metrics")]
    pub fn publish_metrics(&self) {
        self.store.publish_metrics();
    }

    /// The number of shards (a power of two).
    ///
    /// ```
    /// let cache: ttlru::Cache<u32, u32> = ttlru::Cache::builder().shards(8).build();
    /// assert_eq!(cache.shard_count(), 8);
    /// ```
    #[must_use]
    pub fn shard_count(&self) -> usize {
        self.store.shard_count()
    }
}

impl<K: Hash + Eq, V: Clone, S: BuildHasher> Cache<K, V, S> {
    pub(crate) fn route<Q: Hash + ?Sized>(&self, key: &Q) -> Route {
        self.store.route(self.hasher.hash_one(key))
    }

    /// Inserts `value` for `key` and returns the previous live value. The time to
    /// live restarts. With a listener, the old value also reaches it as
    /// `Replaced`. If the entry is too heavy to keep, or the time to live is zero,
    /// the old entry is still removed (and returned) and the new one is not kept.
    ///
    /// ```
    /// let cache: ttlru::Cache<&str, u32> = ttlru::Cache::new(10);
    /// assert_eq!(cache.insert("a", 1), None);
    /// assert_eq!(cache.insert("a", 2), Some(1));
    /// ```
    pub fn insert(&self, key: K, value: V) -> Option<V> {
        let route = self.route(&key);
        self.store.insert(route, key, value, None)
    }

    /// Like [`insert`](Self::insert), with this entry's own time to live in place
    /// of the cache's (a time to idle still applies). `Duration::MAX` means never.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ttlru::{Cache, ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// let cache: Cache<&str, u32> = Cache::builder().clock(clock.clone()).build();
    /// cache.insert_with_ttl("short", 1, Duration::from_millis(10));
    /// cache.insert_with_ttl("forever", 2, Duration::MAX);
    /// clock.advance(Duration::from_secs(3600 * 24 * 365 * 100));
    /// assert_eq!(cache.get("short"), None);
    /// assert_eq!(cache.get("forever"), Some(2));
    /// ```
    pub fn insert_with_ttl(&self, key: K, value: V, time_to_live: Duration) -> Option<V> {
        let route = self.route(&key);
        self.store
            .insert(route, key, value, Some(duration_to_millis(time_to_live)))
    }

    /// A clone of the live value for `key`. Counts as an access: the entry becomes
    /// the most recently used, and its idle time restarts.
    ///
    /// ```
    /// let cache: ttlru::Cache<String, u32> = ttlru::Cache::new(10);
    /// cache.insert("a".to_string(), 1);
    /// assert_eq!(cache.get("a"), Some(1));
    /// assert_eq!(cache.get("b"), None);
    /// ```
    #[must_use = "if only the access is wanted, write `let _ = cache.get(..)`"]
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.store
            .read(self.route(key), |k| k.borrow() == key, true, V::clone)
    }

    /// A clone of the live value for `key`, without recording an access (recency
    /// and idle time are left alone, and no hit or miss is counted).
    ///
    /// ```
    /// let cache: ttlru::Cache<u32, u32> = ttlru::Cache::builder().max_capacity(1).build();
    /// cache.insert(1, 1);
    /// assert_eq!(cache.peek(&1), Some(1));
    /// ```
    #[must_use]
    pub fn peek<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.store
            .read(self.route(key), |k| k.borrow() == key, false, V::clone)
    }

    /// Whether `key` has a live entry, without recording an access.
    ///
    /// ```
    /// let cache: ttlru::Cache<String, u32> = ttlru::Cache::new(10);
    /// cache.insert("a".to_string(), 1);
    /// assert!(cache.contains_key("a"));
    /// ```
    #[must_use]
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.store
            .read(self.route(key), |k| k.borrow() == key, false, |_| ())
            .is_some()
    }

    /// The live value for `key`, or `make()`'s value, which is inserted and
    /// returned. Atomic: when many threads miss the same key at once, `make` runs
    /// once, outside every lock, and the others wait for its value. If `make`
    /// panics, the panic propagates, nothing is inserted, and one of the waiting
    /// threads (if any) runs its own `make` instead. `make` may use the cache, but
    /// must not ask for the same key again: it would wait for itself.
    ///
    /// ```
    /// let cache: ttlru::Cache<u32, String> = ttlru::Cache::new(10);
    /// let mut calls = 0;
    /// let v = cache.get_or_insert_with(7, || { calls += 1; "seven".to_string() });
    /// assert_eq!(v, "seven");
    /// let v = cache.get_or_insert_with(7, || { calls += 1; "again".to_string() });
    /// assert_eq!((v.as_str(), calls), ("seven", 1));
    /// ```
    pub fn get_or_insert_with(&self, key: K, make: impl FnOnce() -> V) -> V {
        let route = self.route(&key);
        let loaded = self
            .store
            .try_get_or_insert_with(route, key, || Ok::<V, Infallible>(make()));
        match loaded {
            Ok(value) => value,
        }
    }

    /// Like [`get_or_insert_with`](Self::get_or_insert_with), for a `load` that
    /// can fail. An error goes back to the caller whose `load` returned it, and
    /// nothing is cached; threads that were waiting for that load retry, and one
    /// of them runs its own `load`.
    ///
    /// ```
    /// let cache: ttlru::Cache<u32, String> = ttlru::Cache::new(10);
    /// let failed: Result<String, &str> = cache.try_get_or_insert_with(7, || Err("backend down"));
    /// assert_eq!(failed, Err("backend down"));
    /// assert!(!cache.contains_key(&7)); // nothing cached
    /// let loaded: Result<String, &str> = cache.try_get_or_insert_with(7, || Ok("seven".into()));
    /// assert_eq!(loaded.as_deref(), Ok("seven"));
    /// assert_eq!(cache.get(&7).as_deref(), Some("seven"));
    /// ```
    pub fn try_get_or_insert_with<E>(
        &self,
        key: K,
        load: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E> {
        let route = self.route(&key);
        self.store.try_get_or_insert_with(route, key, load)
    }

    /// The live value for `key`, or the value `load` resolves to, which is inserted
    /// and returned: the async form of
    /// [`get_or_insert_with`](Self::get_or_insert_with), with no runtime of its
    /// own (it works on any executor).
    ///
    /// When many tasks miss the same key at once, one of them awaits its `load`
    /// and the others await its value, without blocking a thread; their own
    /// `load` futures are dropped unpolled. No lock is held across an await. If
    /// the loading task is cancelled (its future dropped, say by a timeout) or
    /// its `load` panics, nothing is inserted and one of the waiting tasks awaits
    /// its own `load` instead: no task waits for a load that will never finish.
    /// On a hit, `load` is dropped unpolled and nothing is awaited. `load` must not
    /// ask for the same key again: it would wait for itself.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache: ttlru::Cache<u32, String> = ttlru::Cache::new(10);
    /// let v = cache.get_or_insert_with_async(7, async { "seven".to_string() }).await;
    /// assert_eq!(v, "seven");
    /// let v = cache.get_or_insert_with_async(7, async { unreachable!("a hit") }).await;
    /// assert_eq!(v, "seven");
    /// # });
    /// ```
    pub async fn get_or_insert_with_async(&self, key: K, load: impl Future<Output = V>) -> V {
        let route = self.route(&key);
        // Only the boxed miss is held across the await: the future stays small.
        let missed = match self.store.claim(route, key) {
            Claim::Found(value) => return value,
            Claim::Missed(miss) => {
                let load = async { Ok::<V, Infallible>(load.await) };
                self.store.load_or_wait(route, miss, load)
            }
        };
        match missed.await {
            Ok(value) => value,
        }
    }

    /// Like [`get_or_insert_with_async`](Self::get_or_insert_with_async), for a
    /// `load` that can fail. An error goes back to the task whose `load` returned
    /// it, and nothing is cached; tasks that were waiting for that load retry, and
    /// one of them awaits its own `load`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache: ttlru::Cache<u32, u64> = ttlru::Cache::new(10);
    /// let failed = cache.try_get_or_insert_with_async(7, async { Err("timeout") }).await;
    /// assert_eq!(failed, Err("timeout"));
    /// assert!(!cache.contains_key(&7)); // nothing cached
    /// let loaded = cache.try_get_or_insert_with_async(7, async { Ok::<_, &str>(70) }).await;
    /// assert_eq!(loaded, Ok(70));
    /// # });
    /// ```
    pub async fn try_get_or_insert_with_async<E>(
        &self,
        key: K,
        load: impl Future<Output = Result<V, E>>,
    ) -> Result<V, E> {
        let route = self.route(&key);
        // Only the boxed miss is held across the await: the future stays small.
        let missed = match self.store.claim(route, key) {
            Claim::Found(value) => return Ok(value),
            Claim::Missed(miss) => self.store.load_or_wait(route, miss, load),
        };
        missed.await
    }

    /// Removes the entry for `key` and returns its live value (an expired one is
    /// removed as expired, and `None` is returned). With a listener, the value
    /// also reaches it as `Removed`.
    ///
    /// ```
    /// let cache: ttlru::Cache<String, u32> = ttlru::Cache::new(10);
    /// cache.insert("a".to_string(), 1);
    /// assert_eq!(cache.remove("a"), Some(1));
    /// assert_eq!(cache.remove("a"), None);
    /// ```
    pub fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.store.remove(self.route(key), |k| k.borrow() == key)
    }

    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        self.store.check_invariants();
    }
}

impl<K: Hash + Eq, S: BuildHasher> Cache<K, (), S> {
    /// `SeenSet::insert`: insert if absent, else record a sighting.
    pub(crate) fn insert_if_absent(&self, key: K, time_to_live: Option<Duration>) -> bool {
        let route = self.route(&key);
        self.store
            .insert_if_absent(route, key, (), time_to_live.map(duration_to_millis))
    }
}

#[cfg(feature = "serde")]
impl<K, V, S> Cache<K, V, S>
where
    K: serde::Serialize + Clone,
    V: serde::Serialize + Clone,
{
    /// Writes a snapshot of the cache to `writer` (feature `serde`): every live
    /// entry with its deadlines as wall-clock time, in recency order. Shard by
    /// shard: each is cloned under its own lock and serialized after it is
    /// released, so writers to other shards never wait, and user `Serialize` code
    /// never runs under a lock. Under concurrent writes each shard is saved as it
    /// was at one instant. See [`CacheBuilder::build_from_snapshot`].
    ///
    /// ```
    /// use ttlru::Cache;
    ///
    /// let cache: Cache<String, u64> = Cache::new(100);
    /// cache.insert("answer".to_string(), 42);
    /// let mut bytes = Vec::new();
    /// let info = cache.save_snapshot(&mut bytes).unwrap();
    /// assert_eq!(info.entries, 1);
    /// let restored: Cache<String, u64> = Cache::builder().build_from_snapshot(&bytes[..]).unwrap();
    /// assert_eq!(restored.get("answer"), Some(42));
    /// ```
    pub fn save_snapshot<W: Write>(&self, writer: W) -> Result<SnapshotInfo, SnapshotError> {
        let (info, _) = snapshot::save(
            &self.store,
            SnapshotKind::Cache,
            0,
            writer,
            snapshot::encode_cache_entry,
        )?;
        Ok(info)
    }

    /// [`save_snapshot`](Self::save_snapshot) to a file, crash-safe: a temporary
    /// file beside `path` (owner-only, mode 0600 on unix), synced, renamed over
    /// `path`, the directory synced. A crash at any point leaves the old file or
    /// the new one, never a torn one.
    ///
    /// ```
    /// use ttlru::Cache;
    ///
    /// let path = std::env::temp_dir().join(format!("ttlru-cache-doc-{}.snapshot", std::process::id()));
    /// let cache: Cache<u32, String> = Cache::new(100);
    /// cache.insert(1, "one".to_string());
    /// cache.save_snapshot_to(&path).unwrap();
    /// let restored: Cache<u32, String> = Cache::builder().build_from_snapshot_file(&path).unwrap();
    /// assert_eq!(restored.get(&1).as_deref(), Some("one"));
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn save_snapshot_to(&self, path: impl AsRef<Path>) -> Result<SnapshotInfo, SnapshotError> {
        snapshot::save_to_path(
            &self.store,
            SnapshotKind::Cache,
            0,
            path.as_ref(),
            snapshot::encode_cache_entry,
        )
    }
}

impl<K, V, S> fmt::Debug for Cache<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("name", &self.store.name())
            .field("len", &self.len())
            .field("shards", &self.shard_count())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ManualClock, RemovalCause};
    use proptest::prelude::*;
    use std::sync::Mutex;

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u8, u16),
        InsertWithTtl(u8, u16, u64),
        Get(u8),
        Peek(u8),
        GetOrInsert(u8, u16),
        Remove(u8),
        Advance(u64),
        Purge,
        Clear,
        ShrinkToFit,
    }

    fn op() -> impl Strategy<Value = Op> {
        let key = 0u8..40;
        prop_oneof![
            6 => (key.clone(), any::<u16>()).prop_map(|(k, v)| Op::Insert(k, v)),
            2 => (key.clone(), any::<u16>(), prop_oneof![Just(0), 1u64..5_000, Just(u64::MAX)])
                .prop_map(|(k, v, t)| Op::InsertWithTtl(k, v, t)),
            3 => key.clone().prop_map(Op::Get),
            1 => key.clone().prop_map(Op::Peek),
            2 => (key.clone(), any::<u16>()).prop_map(|(k, v)| Op::GetOrInsert(k, v)),
            3 => key.prop_map(Op::Remove),
            3 => prop_oneof![0u64..200, 0u64..5_000, Just(40 * 24 * 3_600_000)].prop_map(Op::Advance),
            1 => Just(Op::Purge),
            1 => Just(Op::Clear),
            1 => Just(Op::ShrinkToFit),
        ]
    }

    proptest! {
        /// Every internal invariant (table ↔ slab ↔ LRU list ↔ wheel ↔ weights)
        /// holds after every operation, in every configuration, and the listener
        /// hears of every entry exactly once.
        #[test]
        fn internal_invariants_hold(
            ops in proptest::collection::vec(op(), 1..300),
            capacity in prop_oneof![Just(0u64), 1u64..64, Just(u64::MAX)],
            shards in 1usize..4,
            ttl in proptest::option::of(1u64..3_000),
            tti in proptest::option::of(1u64..3_000),
            weighted in any::<bool>(),
        ) {
            let clock = ManualClock::new();
            let reported = std::sync::Arc::new(Mutex::new(0usize));
            let sink = reported.clone();
            let mut builder = Cache::builder()
                .max_capacity(capacity)
                .shards(shards)
                .clock(clock.clone())
                .eviction_listener(move |_: &u8, _: u16, _: RemovalCause| *sink.lock().unwrap() += 1);
            if let Some(ttl) = ttl {
                builder = builder.time_to_live(Duration::from_millis(ttl));
            }
            if let Some(tti) = tti {
                builder = builder.time_to_idle(Duration::from_millis(tti));
            }
            if weighted {
                builder = builder.weigher(|k: &u8, v: &u16| u32::from(*k % 4) + u32::from(*v % 3));
            }
            let cache: Cache<u8, u16> = builder.build();
            let mut written = 0usize;
            for op in ops {
                match op {
                    Op::Insert(k, v) => { written += 1; cache.insert(k, v); }
                    Op::InsertWithTtl(k, v, t) => {
                        written += 1;
                        let ttl = if t == u64::MAX { Duration::MAX } else { Duration::from_millis(t) };
                        cache.insert_with_ttl(k, v, ttl);
                    }
                    Op::Get(k) => { let _ = cache.get(&k); }
                    Op::Peek(k) => { let _ = cache.peek(&k); }
                    Op::GetOrInsert(k, v) => { cache.get_or_insert_with(k, || { written += 1; v }); }
                    Op::Remove(k) => { cache.remove(&k); }
                    Op::Advance(ms) => clock.advance(Duration::from_millis(ms)),
                    Op::Purge => { cache.purge_expired(); }
                    Op::Clear => cache.clear(),
                    Op::ShrinkToFit => cache.shrink_to_fit(),
                }
                cache.check_invariants();
                prop_assert!(cache.len() as u64 <= capacity);
            }
            cache.clear();
            prop_assert_eq!(*reported.lock().unwrap(), written);
        }
    }
}
