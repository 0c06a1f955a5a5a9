//! Builders: capacity, time to live and idle, shards, hasher, clock, weigher,
//! eviction listener and background sweeper, and the rule that picks the number
//! of shards.

use std::fmt;
use std::hash::BuildHasher;
#[cfg(feature = "serde")]
use std::hash::Hash;
#[cfg(feature = "serde")]
use std::io::Read;
use std::marker::PhantomData;
use std::num::NonZeroUsize;
#[cfg(feature = "serde")]
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::cache::Cache;
use crate::clock::{Clock, ManualClock, duration_to_millis};
use crate::persistence::PersistenceStart;
use crate::removal::{Listener, RemovalCause};
use crate::shard::Policy;
#[cfg(feature = "serde")]
use crate::snapshot;
#[cfg(feature = "serde")]
use crate::snapshot_file;
#[cfg(feature = "serde")]
use crate::snapshot_format::{SnapshotError, SnapshotKind};
use crate::store::{Store, StoreConfig, Weigher};
use crate::sweeper::Sweeper;

/// The default hasher: `ahash`, randomly keyed per cache.
///
/// ```
/// let cache: ttlru::Cache<u32, u32, ttlru::DefaultHasher> = ttlru::Cache::new(10);
/// cache.insert(1, 1);
/// assert_eq!(cache.get(&1), Some(1));
/// ```
pub type DefaultHasher = ahash::RandomState;

/// The most shards a cache will use; larger requests are lowered to it.
///
/// ```
/// let cache: ttlru::Cache<u32, u32> = ttlru::Cache::builder().shards(usize::MAX).build();
/// assert_eq!(cache.shard_count(), ttlru::MAX_SHARDS);
/// ```
pub const MAX_SHARDS: usize = 1 << 16;
/// Default shard counts keep each shard under this many entries, because a shrink
/// rehashes a whole shard: shard size bounds the pause.
const MAX_ENTRIES_PER_SHARD: u64 = 256 * 1024;
/// ... and over this many, so each shard's LRU order means something.
const MIN_ENTRIES_PER_SHARD: u64 = 64;
/// Default for an unbounded cache, which may grow to any size.
const UNBOUNDED_SHARDS: usize = 128;

/// Picks the number of shards (a power of two) for a cache.
///
/// - Asked for: `0` becomes 1, other counts round up to a power of two, at most
///   [`MAX_SHARDS`].
/// - By default: `4 × available_parallelism` rounded up to a power of two; raised
///   so that no shard holds more than 256 Ki entries (or to 128 when unbounded);
///   lowered so that each shard has room for at least 64 (weight units, with a
///   weigher).
/// - Always lowered so that every shard can hold at least one entry.
pub(crate) fn shard_count(requested: Option<usize>, max_capacity: u64, weighted: bool) -> usize {
    let mut shards = match requested {
        Some(shards) => shards.clamp(1, MAX_SHARDS).next_power_of_two(),
        None => {
            let parallelism = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
            let mut shards = (4 * parallelism).next_power_of_two().min(MAX_SHARDS);
            if max_capacity == u64::MAX {
                shards = shards.max(UNBOUNDED_SHARDS);
            } else if !weighted {
                while shards < MAX_SHARDS && max_capacity / shards as u64 > MAX_ENTRIES_PER_SHARD {
                    shards *= 2;
                }
            }
            while shards > 1 && max_capacity / (shards as u64) < MIN_ENTRIES_PER_SHARD {
                shards /= 2;
            }
            shards
        }
    };
    while shards > 1 && shards as u64 > max_capacity {
        shards /= 2;
    }
    shards
}

/// The options every builder shares.
#[derive(Clone, Debug, Default)]
pub(crate) struct Options {
    pub(crate) max_capacity: Option<u64>,
    pub(crate) time_to_live: Option<Duration>,
    pub(crate) time_to_idle: Option<Duration>,
    pub(crate) shards: Option<usize>,
    pub(crate) clock: Option<ManualClock>,
    pub(crate) name: Option<String>,
}

impl Options {
    pub(crate) fn store_config<K, V>(
        &self,
        weigher: Option<Weigher<K, V>>,
        listener: Option<Listener<K, V>>,
    ) -> StoreConfig<K, V> {
        let max_capacity = self.max_capacity.unwrap_or(u64::MAX);
        let policy = Policy {
            time_to_live: self.time_to_live.map(duration_to_millis),
            time_to_idle: self.time_to_idle.map(duration_to_millis),
            weighted: weigher.is_some(),
        };
        StoreConfig {
            shards: shard_count(self.shards, max_capacity, policy.weighted),
            max_capacity,
            policy,
            clock: self.clock.clone().map_or_else(Clock::system, Clock::Manual),
            weigher,
            listener,
            name: self.name.clone(),
        }
    }
}

/// Starts the sweeper for a built store (type-erased so `build` needs no bounds;
/// `Send + Sync` so that builders are).
pub(crate) type SweeperStart<K, V> = Box<dyn FnOnce(&Arc<Store<K, V>>) -> Sweeper + Send + Sync>;

/// Builds a [`Cache`]: see [`Cache::builder`].
///
/// ```
/// use std::time::Duration;
/// use ttlru::Cache;
///
/// let cache: Cache<String, u64> = Cache::builder()
///     .max_capacity(100_000)
///     .time_to_live(Duration::from_secs(600))
///     .time_to_idle(Duration::from_secs(60))
///     .build();
/// cache.insert("k".to_string(), 1);
/// assert_eq!(cache.get("k"), Some(1));
/// ```
#[must_use = "a builder does nothing until .build()"]
pub struct CacheBuilder<K, V, S = DefaultHasher> {
    pub(crate) options: Options,
    pub(crate) hasher: S,
    pub(crate) weigher: Option<Weigher<K, V>>,
    pub(crate) listener: Option<Listener<K, V>>,
    pub(crate) sweeper: Option<SweeperStart<K, V>>,
    pub(crate) persistence: Option<PersistenceStart<K, V>>,
    pub(crate) _types: PhantomData<fn(K, V)>,
}

impl<K, V> CacheBuilder<K, V> {
    pub(crate) fn new() -> Self {
        CacheBuilder {
            options: Options::default(),
            hasher: DefaultHasher::new(),
            weigher: None,
            listener: None,
            sweeper: None,
            persistence: None,
            _types: PhantomData,
        }
    }
}

impl<K, V, S> CacheBuilder<K, V, S> {
    /// The most entries the cache holds (or, with a [`weigher`](Self::weigher),
    /// the most total weight). Default: unbounded. Memory is never reserved up
    /// front: it grows with the live entries and shrinks back with them. `0` is
    /// allowed: such a cache keeps nothing (each insert is evicted at once).
    ///
    /// The capacity is split evenly over the shards (their shares add up to exactly
    /// this), and each shard evicts its own least recently used entry.
    ///
    /// ```
    /// let cache: ttlru::Cache<u32, u32> = ttlru::Cache::builder().max_capacity(2).build();
    /// for i in 0..10 {
    ///     cache.insert(i, i);
    /// }
    /// assert!(cache.len() <= 2);
    /// ```
    pub fn max_capacity(mut self, max_capacity: u64) -> Self {
        self.options.max_capacity = Some(max_capacity);
        self
    }

    /// Entries expire this long after they were last written. Deadlines are exact
    /// to the millisecond (shorter durations round up to 1 ms); `Duration::ZERO`
    /// expires entries at once (they are never stored); `Duration::MAX`, or
    /// anything past the year 500 million, means never. An expired entry is never
    /// returned, whether or not it has been purged yet.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ttlru::{Cache, ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// let cache: Cache<u32, u32> = Cache::builder()
    ///     .time_to_live(Duration::from_secs(10))
    ///     .clock(clock.clone())
    ///     .build();
    /// cache.insert(1, 1);
    /// clock.advance(Duration::from_secs(10));
    /// assert_eq!(cache.get(&1), None);
    /// ```
    pub fn time_to_live(mut self, time_to_live: Duration) -> Self {
        self.options.time_to_live = Some(time_to_live);
        self
    }

    /// Entries expire this long after they were last read or written (each `get`
    /// restarts the clock; `peek` and `contains_key` do not). Combined with a time
    /// to live, an entry expires at whichever comes first.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ttlru::{Cache, ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// let cache: Cache<u32, u32> = Cache::builder()
    ///     .time_to_idle(Duration::from_secs(10))
    ///     .clock(clock.clone())
    ///     .build();
    /// cache.insert(1, 1);
    /// clock.advance(Duration::from_secs(9));
    /// assert_eq!(cache.get(&1), Some(1)); // restarts the idle clock
    /// clock.advance(Duration::from_secs(9));
    /// assert_eq!(cache.get(&1), Some(1));
    /// clock.advance(Duration::from_secs(10));
    /// assert_eq!(cache.get(&1), None);
    /// ```
    pub fn time_to_idle(mut self, time_to_idle: Duration) -> Self {
        self.options.time_to_idle = Some(time_to_idle);
        self
    }

    /// The number of shards, each with its own lock. `0` is taken as 1, and any
    /// other count is rounded up to a power of two (at most 65 536), then lowered
    /// if needed so that each shard can hold at least one entry. With one shard
    /// the cache is an exact LRU; with more, each shard is, which approximates a
    /// global LRU. Default: 4 × the available parallelism, adjusted for capacity
    /// (at most 256 Ki entries and at least 64 per shard).
    ///
    /// ```
    /// let cache: ttlru::Cache<u32, u32> = ttlru::Cache::builder().shards(3).build();
    /// assert_eq!(cache.shard_count(), 4);
    /// ```
    pub fn shards(mut self, shards: usize) -> Self {
        self.options.shards = Some(shards);
        self
    }

    /// A name for the cache: its `Debug` shows it, and with the `metrics` feature
    /// it is the `cache` label of every published metric, so give each cache its
    /// own. Default: none (the label is then `unnamed`).
    ///
    /// ```
    /// let cache: ttlru::Cache<String, u64> = ttlru::Cache::builder().name("orders-dedup").build();
    /// assert!(format!("{cache:?}").contains("orders-dedup"));
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.options.name = Some(name.into());
        self
    }

    /// The clock to read time from, instead of the system's monotonic clock.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ttlru::{Cache, ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// let cache: Cache<u32, u32> = Cache::builder()
    ///     .time_to_live(Duration::from_millis(5))
    ///     .clock(clock.clone())
    ///     .build();
    /// cache.insert(1, 1);
    /// clock.advance(Duration::from_millis(4));
    /// assert!(cache.contains_key(&1));
    /// ```
    pub fn clock(mut self, clock: ManualClock) -> Self {
        self.options.clock = Some(clock);
        self
    }

    /// The hasher for keys (any `BuildHasher`). Default: `ahash`, randomly keyed.
    ///
    /// ```
    /// use std::collections::hash_map::RandomState;
    /// use ttlru::Cache;
    ///
    /// let cache: Cache<u32, u32, RandomState> = Cache::builder().hasher(RandomState::new()).build();
    /// cache.insert(1, 2);
    /// assert_eq!(cache.get(&1), Some(2));
    /// ```
    pub fn hasher<S2: BuildHasher>(self, hasher: S2) -> CacheBuilder<K, V, S2> {
        CacheBuilder {
            options: self.options,
            hasher,
            weigher: self.weigher,
            listener: self.listener,
            sweeper: self.sweeper,
            persistence: self.persistence,
            _types: PhantomData,
        }
    }

    /// Weighs each entry: the capacity is then the most total weight. A weight of
    /// 0 counts as 1, so the number of entries stays bounded too. An entry heavier
    /// than its shard's share of the capacity is not kept (it goes to the listener
    /// as [`RemovalCause::Evicted`]).
    ///
    /// ```
    /// let cache: ttlru::Cache<String, u64> = ttlru::Cache::builder()
    ///     .max_capacity(100)
    ///     .shards(1)
    ///     .weigher(|k: &String, _v: &u64| k.len() as u32)
    ///     .build();
    /// cache.insert("x".repeat(60), 1);
    /// cache.insert("y".repeat(60), 2); // 120 > 100: the older one goes
    /// assert_eq!(cache.len(), 1);
    /// cache.insert("z".repeat(101), 3); // heavier than the whole cache
    /// assert!(!cache.contains_key(&"z".repeat(101)));
    /// ```
    pub fn weigher(mut self, weigher: impl Fn(&K, &V) -> u32 + Send + Sync + 'static) -> Self {
        self.weigher = Some(Box::new(weigher));
        self
    }

    /// Called once for every entry that leaves the cache, with the reason, after
    /// the shard's lock has been released (so it may use the cache). If it panics,
    /// the other entries removed by the same call still reach it, the cache stays
    /// consistent, and the first panic then propagates to the caller of the
    /// operation that removed them (whose own effect has already happened: see
    /// [Panics in user code](crate#panics-in-user-code)).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use ttlru::{Cache, RemovalCause};
    ///
    /// let evicted = Arc::new(AtomicUsize::new(0));
    /// let counter = evicted.clone();
    /// let cache: Cache<u32, u32> = Cache::builder()
    ///     .max_capacity(1)
    ///     .eviction_listener(move |_k: &u32, _v: u32, cause: RemovalCause| {
    ///         if cause == RemovalCause::Evicted {
    ///             counter.fetch_add(1, Ordering::Relaxed);
    ///         }
    ///     })
    ///     .build();
    /// cache.insert(1, 1);
    /// cache.insert(2, 2);
    /// assert_eq!(evicted.load(Ordering::Relaxed), 1);
    /// ```
    pub fn eviction_listener(
        mut self,
        listener: impl Fn(&K, V, RemovalCause) + Send + Sync + 'static,
    ) -> Self {
        self.listener = Some(Box::new(move |_hash, key: &K, value, cause| {
            listener(key, value, cause)
        }));
        self
    }

    /// Starts a background thread that calls `purge_expired` every `every`, so
    /// expired entries are removed (and their memory returned) even when no one
    /// writes to their shard. The thread stops when the cache is dropped. Off by
    /// default: without it, expiry work piggybacks on writes and `purge_expired`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let cache: ttlru::Cache<u32, u32> = ttlru::Cache::builder()
    ///     .time_to_live(Duration::from_millis(1))
    ///     .background_sweeper(Duration::from_millis(5))
    ///     .build();
    /// cache.insert(1, 1);
    /// std::thread::sleep(Duration::from_millis(100));
    /// assert_eq!(cache.len(), 0); // swept without any further call
    /// ```
    pub fn background_sweeper(mut self, every: Duration) -> Self
    where
        K: Send + Sync + 'static,
        V: Send + Sync + 'static,
    {
        let start: SweeperStart<K, V> =
            Box::new(move |store: &Arc<Store<K, V>>| Sweeper::spawn(store.clone(), every));
        self.sweeper = Some(start);
        self
    }

    /// Saves a snapshot of the cache to `path` every `every` on a background
    /// thread, and once more when the cache is dropped (feature `serde`): the
    /// service restart recipe is to build with
    /// [`build_from_snapshot_file`](Self::build_from_snapshot_file) at start and
    /// this option, so a restart loses at most `every` of writes (none on a clean
    /// shutdown). Each save is crash-safe (see [`Cache::save_snapshot_to`]).
    /// Saves and failures are counted in [`Stats::snapshots_saved`] and
    /// [`Stats::snapshot_failures`], and the latest failure's reason is in
    /// [`Cache::last_snapshot_failure`]; a failure leaves the previous file in
    /// place.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ttlru::Cache;
    ///
    /// let path = std::env::temp_dir().join(format!("ttlru-persist-doc-{}.snapshot", std::process::id()));
    /// let cache: Cache<u32, u32> = Cache::builder()
    ///     .persist_to(&path, Duration::from_secs(60))
    ///     .build();
    /// cache.insert(1, 1);
    /// drop(cache); // saves once more
    /// let restored: Cache<u32, u32> = Cache::builder().build_from_snapshot_file(&path).unwrap();
    /// assert_eq!(restored.get(&1), Some(1));
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    ///
    /// [`Stats::snapshots_saved`]: crate::Stats::snapshots_saved
    /// [`Stats::snapshot_failures`]: crate::Stats::snapshot_failures
    #[cfg(feature = "serde")]
    pub fn persist_to(mut self, path: impl Into<std::path::PathBuf>, every: Duration) -> Self
    where
        K: serde::Serialize + Clone + Send + Sync + 'static,
        V: serde::Serialize + Clone + Send + Sync + 'static,
    {
        self.persistence = Some(crate::persistence::start(
            SnapshotKind::Cache,
            0,
            path.into(),
            every,
            snapshot::encode_cache_entry,
        ));
        self
    }

    /// Builds the cache.
    ///
    /// ```
    /// let cache: ttlru::Cache<u32, &str> = ttlru::Cache::builder().max_capacity(10).build();
    /// assert!(cache.is_empty());
    /// ```
    #[must_use]
    pub fn build(self) -> Cache<K, V, S> {
        let (mut cache, persistence) = self.build_without_persistence();
        cache.start_persistence(persistence);
        cache
    }

    /// The cache, and the background saver to start once it holds what it should.
    pub(crate) fn build_without_persistence(
        self,
    ) -> (Cache<K, V, S>, Option<PersistenceStart<K, V>>) {
        let store = Arc::new(Store::new(
            self.options.store_config(self.weigher, self.listener),
        ));
        let sweeper = self.sweeper.map(|start| start(&store));
        (
            Cache::from_parts(store, self.hasher, sweeper),
            self.persistence,
        )
    }
}

#[cfg(feature = "serde")]
impl<K, V, S> CacheBuilder<K, V, S>
where
    K: Hash + Eq + serde::de::DeserializeOwned,
    V: Clone + serde::de::DeserializeOwned,
    S: BuildHasher,
{
    /// Builds the cache from a snapshot written by
    /// [`Cache::save_snapshot`] (feature `serde`), with this builder's options:
    /// the entries in their recency order, each with what was left of its time
    /// when it was saved, less the time since (an entry whose deadline has passed
    /// is left out). Into fewer shards or a smaller capacity, the least recently
    /// used are left out. Deadlines are kept as saved; this builder's time to
    /// live and idle apply from the next write or access.
    ///
    /// The whole snapshot is read and checked before anything is loaded: a
    /// truncated, corrupt, foreign or newer-version input returns its
    /// [`SnapshotError`], and nothing is built. Entries the restore leaves out do
    /// not reach the eviction listener.
    ///
    /// ```
    /// use ttlru::{Cache, SnapshotError};
    ///
    /// let cache: Cache<u32, u32> = Cache::new(100);
    /// (0..10).for_each(|i| { cache.insert(i, i * i); });
    /// let mut bytes = Vec::new();
    /// cache.save_snapshot(&mut bytes).unwrap();
    /// let restored: Cache<u32, u32> = Cache::builder().max_capacity(100).build_from_snapshot(&bytes[..]).unwrap();
    /// assert_eq!(restored.get(&3), Some(9));
    ///
    /// bytes.truncate(bytes.len() - 1);
    /// let truncated = Cache::<u32, u32>::builder().build_from_snapshot(&bytes[..]);
    /// assert!(matches!(truncated, Err(SnapshotError::Truncated)));
    /// ```
    pub fn build_from_snapshot(self, reader: impl Read) -> Result<Cache<K, V, S>, SnapshotError> {
        self.build_from_snapshot_of(reader, SnapshotKind::Cache)
    }

    /// [`build_from_snapshot`](Self::build_from_snapshot) from a file, such as
    /// one written by [`Cache::save_snapshot_to`].
    ///
    /// ```
    /// let missing = ttlru::Cache::<u32, u32>::builder().build_from_snapshot_file("/nonexistent/ttlru.snapshot");
    /// assert!(matches!(missing, Err(ttlru::SnapshotError::Io(_))));
    /// ```
    pub fn build_from_snapshot_file(
        self,
        path: impl AsRef<Path>,
    ) -> Result<Cache<K, V, S>, SnapshotError> {
        self.build_from_snapshot(snapshot_file::open(path.as_ref())?)
    }

    /// Restores a snapshot of `kind`: a `SeenSet`'s is a cache's whose values are
    /// `()`, which postcard encodes in no bytes.
    pub(crate) fn build_from_snapshot_of(
        self,
        reader: impl Read,
        kind: SnapshotKind,
    ) -> Result<Cache<K, V, S>, SnapshotError> {
        let opened = snapshot::open(reader, kind)?;
        let (mut cache, persistence) = self.build_without_persistence();
        opened.restore_into(
            cache.store(),
            snapshot::decode_serde::<(K, V)>,
            |(key, value)| (cache.route(&key), key, value),
        )?;
        cache.start_persistence(persistence);
        Ok(cache)
    }
}

/// Shows the options, not the hasher, weigher or listener themselves (closures
/// have no `Debug`): only whether they are set.
impl<K, V, S> fmt::Debug for CacheBuilder<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("options", &self.options)
            .field("weigher", &self.weigher.is_some())
            .field("eviction_listener", &self.listener.is_some())
            .field("background_sweeper", &self.sweeper.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requested_counts_are_corrected() {
        assert_eq!(shard_count(Some(0), u64::MAX, false), 1);
        assert_eq!(shard_count(Some(3), u64::MAX, false), 4);
        assert_eq!(shard_count(Some(usize::MAX), u64::MAX, false), MAX_SHARDS);
        // Never more shards than entries.
        assert_eq!(shard_count(Some(64), 5, false), 4);
        assert_eq!(shard_count(Some(64), 0, false), 1);
    }

    #[test]
    fn defaults_follow_capacity() {
        let parallel = (4 * std::thread::available_parallelism().map_or(1, NonZeroUsize::get))
            .next_power_of_two();
        assert_eq!(
            shard_count(None, u64::MAX, false),
            parallel.max(UNBOUNDED_SHARDS)
        );
        // 64 Mi entries need 256 shards of 256 Ki.
        assert_eq!(shard_count(None, 64 << 20, false), 256.max(parallel));
        // Small capacities get fewer shards, each with room for 64.
        assert_eq!(shard_count(None, 200, false), 2);
        assert_eq!(shard_count(None, 10, false), 1);
        assert_eq!(shard_count(None, 1 << 40, true), parallel);
    }
}
