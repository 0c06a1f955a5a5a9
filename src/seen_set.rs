//! The public seen set: [`SeenSet`], the drop-in for an unbounded `HashSet<String>`
//! that dedups events.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::ops::Deref;
use std::time::Duration;

use crate::builder::{CacheBuilder, DefaultHasher};
use crate::clock::ManualClock;
use crate::removal::RemovalCause;
use crate::set_engine::SetEngine;
#[cfg(feature = "serde")]
use crate::snapshot_format::SnapshotError;

/// A concurrent set of recently seen keys, bounded by capacity and by time: the
/// replacement for an unbounded `HashSet<String>` used to drop duplicate events.
///
/// [`insert`](Self::insert) returns `true` exactly once per key per window, even
/// when many threads insert the same key at once: that is the dedup guarantee. A
/// window ends when the key expires (its time to live, counted from the first
/// sighting, or its time to idle, counted from the last one), is evicted for
/// capacity (least recently seen first, per shard), or is removed.
///
/// ```
/// use std::time::Duration;
/// use ttlru::SeenSet;
///
/// let seen: SeenSet<String> = SeenSet::builder()
///     .max_capacity(1 << 20)
///     .time_to_live(Duration::from_secs(3600))
///     .build();
/// for event_id in ["evt-1", "evt-2", "evt-1"] {
///     if seen.insert(event_id.to_string()) {
///         // first sighting: process the event
///     }
/// }
/// assert!(seen.contains("evt-1")); // queried with a &str
/// assert_eq!(seen.len(), 2);
/// ```
pub struct SeenSet<K, S = DefaultHasher> {
    engine: SetEngine<K, S>,
}

/// Builds a [`SeenSet`]: see [`SeenSet::builder`]. The options mean what they mean
/// for a [`Cache`](crate::Cache), except where said.
///
/// ```
/// use std::time::Duration;
/// let seen: ttlru::SeenSet<u64> = ttlru::SeenSet::builder()
///     .max_capacity(1_000)
///     .time_to_idle(Duration::from_secs(60))
///     .build();
/// assert!(seen.insert(1));
/// ```
#[must_use = "a builder does nothing until .build()"]
pub struct SeenSetBuilder<K, S = DefaultHasher> {
    inner: CacheBuilder<K, (), S>,
}

impl<K> SeenSet<K> {
    /// A builder for every option: capacity, time to live and idle, weigher,
    /// shards, hasher, clock, eviction listener, background sweeper.
    ///
    /// ```
    /// use std::time::Duration;
    /// let seen: ttlru::SeenSet<String> = ttlru::SeenSet::builder()
    ///     .max_capacity(1 << 20)
    ///     .time_to_live(Duration::from_secs(3600))
    ///     .build();
    /// assert!(seen.is_empty());
    /// ```
    pub fn builder() -> SeenSetBuilder<K> {
        SeenSetBuilder {
            inner: CacheBuilder::new(),
        }
    }
}

impl<K: Hash + Eq> SeenSet<K> {
    /// A set holding at most `max_capacity` keys, with no expiry.
    ///
    /// ```
    /// let seen: ttlru::SeenSet<u64> = ttlru::SeenSet::new(1_000);
    /// assert!(seen.insert(7));
    /// assert!(!seen.insert(7));
    /// ```
    pub fn new(max_capacity: u64) -> Self {
        Self::builder().max_capacity(max_capacity).build()
    }
}

impl<K, S> SeenSetBuilder<K, S> {
    /// The most keys held (or total weight, with a [`weigher`](Self::weigher)).
    /// Default: unbounded. See [`CacheBuilder::max_capacity`].
    ///
    /// ```
    /// let seen: ttlru::SeenSet<u32> = ttlru::SeenSet::builder().max_capacity(100).build();
    /// (0..1_000).for_each(|i| { seen.insert(i); });
    /// assert!(seen.len() <= 100);
    /// ```
    pub fn max_capacity(self, max_capacity: u64) -> Self {
        self.map(|inner| inner.max_capacity(max_capacity))
    }

    /// How long a key is remembered after its first sighting: repeated sightings
    /// do not extend it. See [`CacheBuilder::time_to_live`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use ttlru::{ManualClock, SeenSet};
    ///
    /// let clock = ManualClock::new();
    /// let seen: SeenSet<u32> = SeenSet::builder()
    ///     .time_to_live(Duration::from_secs(60))
    ///     .clock(clock.clone())
    ///     .build();
    /// assert!(seen.insert(1));
    /// clock.advance(Duration::from_secs(59));
    /// assert!(!seen.insert(1)); // a sighting: the window still ends at 60 s
    /// clock.advance(Duration::from_secs(1));
    /// assert!(seen.insert(1)); // a new window
    /// ```
    pub fn time_to_live(self, time_to_live: Duration) -> Self {
        self.map(|inner| inner.time_to_live(time_to_live))
    }

    /// How long a key is remembered after its last sighting: each repeated
    /// `insert` restarts it. See [`CacheBuilder::time_to_idle`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use ttlru::{ManualClock, SeenSet};
    ///
    /// let clock = ManualClock::new();
    /// let seen: SeenSet<u32> = SeenSet::builder()
    ///     .time_to_idle(Duration::from_secs(60))
    ///     .clock(clock.clone())
    ///     .build();
    /// assert!(seen.insert(1));
    /// clock.advance(Duration::from_secs(59));
    /// assert!(!seen.insert(1)); // restarts the idle time
    /// clock.advance(Duration::from_secs(59));
    /// assert!(!seen.insert(1));
    /// ```
    pub fn time_to_idle(self, time_to_idle: Duration) -> Self {
        self.map(|inner| inner.time_to_idle(time_to_idle))
    }

    /// The number of shards. See [`CacheBuilder::shards`].
    ///
    /// ```
    /// let seen: ttlru::SeenSet<u32> = ttlru::SeenSet::builder().shards(1).build();
    /// assert_eq!(seen.shard_count(), 1);
    /// ```
    pub fn shards(self, shards: usize) -> Self {
        self.map(|inner| inner.shards(shards))
    }

    /// The clock to read time from. See [`CacheBuilder::clock`].
    ///
    /// ```
    /// let seen: ttlru::SeenSet<u32> = ttlru::SeenSet::builder().clock(ttlru::ManualClock::new()).build();
    /// assert!(seen.insert(1));
    /// ```
    pub fn clock(self, clock: ManualClock) -> Self {
        self.map(|inner| inner.clock(clock))
    }

    /// The hasher for keys. See [`CacheBuilder::hasher`].
    ///
    /// ```
    /// use std::collections::hash_map::RandomState;
    /// let seen: ttlru::SeenSet<u32, RandomState> =
    ///     ttlru::SeenSet::builder().hasher(RandomState::new()).build();
    /// assert!(seen.insert(1));
    /// ```
    pub fn hasher<S2: BuildHasher>(self, hasher: S2) -> SeenSetBuilder<K, S2> {
        SeenSetBuilder {
            inner: self.inner.hasher(hasher),
        }
    }

    /// Weighs each key; the capacity is then the most total weight. See
    /// [`CacheBuilder::weigher`].
    ///
    /// ```
    /// let seen: ttlru::SeenSet<String> = ttlru::SeenSet::builder()
    ///     .max_capacity(1 << 20) // bytes of keys
    ///     .weigher(|k: &String| k.len() as u32)
    ///     .build();
    /// assert!(seen.insert("evt-1".to_string()));
    /// ```
    pub fn weigher(self, weigher: impl Fn(&K) -> u32 + Send + Sync + 'static) -> Self {
        self.map(|inner| inner.weigher(move |key: &K, _: &()| weigher(key)))
    }

    /// Called once for every key that leaves the set, with the reason, after the
    /// shard's lock has been released. See [`CacheBuilder::eviction_listener`].
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use ttlru::{RemovalCause, SeenSet};
    ///
    /// let gone = Arc::new(Mutex::new(Vec::new()));
    /// let sink = gone.clone();
    /// let seen: SeenSet<u32> = SeenSet::builder()
    ///     .max_capacity(1)
    ///     .eviction_listener(move |k: &u32, cause| sink.lock().unwrap().push((*k, cause)))
    ///     .build();
    /// seen.insert(1);
    /// seen.insert(2);
    /// assert_eq!(*gone.lock().unwrap(), [(1, RemovalCause::Evicted)]);
    /// ```
    pub fn eviction_listener(
        self,
        listener: impl Fn(&K, RemovalCause) + Send + Sync + 'static,
    ) -> Self {
        self.map(|inner| inner.eviction_listener(move |key: &K, (), cause| listener(key, cause)))
    }

    /// Purges expired keys from a background thread every `every`. See
    /// [`CacheBuilder::background_sweeper`].
    ///
    /// ```
    /// use std::time::Duration;
    /// let seen: ttlru::SeenSet<u32> = ttlru::SeenSet::builder()
    ///     .time_to_live(Duration::from_secs(3600))
    ///     .background_sweeper(Duration::from_secs(1))
    ///     .build();
    /// assert!(seen.insert(1));
    /// ```
    pub fn background_sweeper(self, every: Duration) -> Self
    where
        K: Send + Sync + 'static,
    {
        self.map(|inner| inner.background_sweeper(every))
    }

    /// Saves a snapshot of the set to `path` every `every` on a background
    /// thread, and once more when the set is dropped (feature `serde`). See
    /// [`CacheBuilder::persist_to`]: the same restart recipe, counters and
    /// guarantees.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ttlru::SeenSet;
    ///
    /// let path = std::env::temp_dir().join(format!("ttlru-seen-persist-doc-{}.snapshot", std::process::id()));
    /// let seen: SeenSet<String> = SeenSet::builder().persist_to(&path, Duration::from_secs(60)).build();
    /// seen.insert("evt-1".to_string());
    /// drop(seen); // saves once more
    /// let restored: SeenSet<String> = SeenSet::builder().build_from_snapshot_file(&path).unwrap();
    /// assert!(restored.contains("evt-1"));
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    #[cfg(feature = "serde")]
    pub fn persist_to(self, path: impl Into<std::path::PathBuf>, every: Duration) -> Self
    where
        K: crate::SnapshotEntry + Send + Sync + 'static,
    {
        let path = path.into();
        self.map(|mut inner| {
            inner.persistence = Some(crate::persistence::start(
                K::KIND,
                0,
                path,
                every,
                crate::snapshot::encode_set_entry,
            ));
            inner
        })
    }

    /// Builds the set.
    ///
    /// ```
    /// let seen: ttlru::SeenSet<u32> = ttlru::SeenSet::builder().build();
    /// assert!(seen.is_empty());
    /// ```
    pub fn build(self) -> SeenSet<K, S> {
        SeenSet {
            engine: SetEngine::new(self.inner.build(), 0),
        }
    }

    /// Builds the set from a snapshot written by
    /// [`save_snapshot`](crate::SetEngine::save_snapshot) (feature `serde`), with
    /// this builder's options: its keys in their recency order, each with what
    /// was left of its window when it was saved, less the time since (a key whose
    /// window ended is left out). Into fewer shards or a smaller capacity, the
    /// least recently seen are left out. See
    /// [`CacheBuilder::build_from_snapshot`] for what a bad input returns:
    /// nothing is loaded from it.
    ///
    /// ```
    /// use ttlru::SeenSet;
    ///
    /// let seen: SeenSet<String> = SeenSet::new(1_000);
    /// seen.insert("evt-1".to_string());
    /// let mut bytes = Vec::new();
    /// seen.save_snapshot(&mut bytes).unwrap();
    /// let restored: SeenSet<String> = SeenSet::builder().build_from_snapshot(&bytes[..]).unwrap();
    /// assert!(!restored.insert("evt-1".to_string())); // still a duplicate
    /// ```
    #[cfg(feature = "serde")]
    pub fn build_from_snapshot(
        self,
        reader: impl std::io::Read,
    ) -> Result<SeenSet<K, S>, SnapshotError>
    where
        K: Hash + Eq + serde::de::DeserializeOwned,
        S: BuildHasher,
    {
        let cache = self
            .inner
            .build_from_snapshot_of(reader, crate::SnapshotKind::SeenSet)?;
        Ok(SeenSet {
            engine: SetEngine::new(cache, 0),
        })
    }

    /// [`build_from_snapshot`](Self::build_from_snapshot) from a file, such as one
    /// written by [`save_snapshot_to`](crate::SetEngine::save_snapshot_to).
    ///
    /// ```
    /// let missing = ttlru::SeenSet::<String>::builder().build_from_snapshot_file("/nonexistent/ttlru.snapshot");
    /// assert!(matches!(missing, Err(ttlru::SnapshotError::Io(_))));
    /// ```
    #[cfg(feature = "serde")]
    pub fn build_from_snapshot_file(
        self,
        path: impl AsRef<std::path::Path>,
    ) -> Result<SeenSet<K, S>, SnapshotError>
    where
        K: Hash + Eq + serde::de::DeserializeOwned,
        S: BuildHasher,
    {
        self.build_from_snapshot(crate::snapshot_file::open(path.as_ref())?)
    }

    /// A name for the set, shown by `Debug` and, with the `metrics` feature, the
    /// `cache` label of its published figures. See [`CacheBuilder::name`].
    ///
    /// ```
    /// let seen: ttlru::SeenSet<String> = ttlru::SeenSet::builder().name("orders-dedup").build();
    /// assert!(format!("{seen:?}").contains("SeenSet"));
    /// ```
    pub fn name(self, name: impl Into<String>) -> Self {
        self.map(|inner| inner.name(name))
    }

    fn map(self, change: impl FnOnce(CacheBuilder<K, (), S>) -> CacheBuilder<K, (), S>) -> Self {
        SeenSetBuilder {
            inner: change(self.inner),
        }
    }
}

impl<K, S> Deref for SeenSet<K, S> {
    type Target = SetEngine<K, S>;

    /// The operations every seen set shares (`len`, `clear`, `purge_expired`,
    /// `stats`, ...): see [`SetEngine`].
    fn deref(&self) -> &SetEngine<K, S> {
        &self.engine
    }
}

impl<K: Hash + Eq, S: BuildHasher> SeenSet<K, S> {
    /// Records a sighting of `key`: `true` if it was not present (a first sighting
    /// in this window: process the event), `false` if it was (a duplicate; its
    /// recency and idle time are refreshed, its time to live is not).
    ///
    /// ```
    /// let seen: ttlru::SeenSet<String> = ttlru::SeenSet::new(1_000);
    /// assert!(seen.insert("evt-9f3c".to_string()));
    /// assert!(!seen.insert("evt-9f3c".to_string()));
    /// ```
    pub fn insert(&self, key: K) -> bool {
        self.engine.cache.insert_if_absent(key, None)
    }

    /// Like [`insert`](Self::insert), with this key's own time to live if it is
    /// new. For a key already present it is a sighting, and `time_to_live` is
    /// ignored.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ttlru::{ManualClock, SeenSet};
    ///
    /// let clock = ManualClock::new();
    /// let seen: SeenSet<&str> = SeenSet::builder().clock(clock.clone()).build();
    /// assert!(seen.insert_with_ttl("a", Duration::from_secs(5)));
    /// clock.advance(Duration::from_secs(5));
    /// assert!(seen.insert_with_ttl("a", Duration::from_secs(5)));
    /// ```
    pub fn insert_with_ttl(&self, key: K, time_to_live: Duration) -> bool {
        self.engine.cache.insert_if_absent(key, Some(time_to_live))
    }

    /// Whether `key` is present (and not expired), without recording a sighting.
    ///
    /// ```
    /// let seen: ttlru::SeenSet<String> = ttlru::SeenSet::new(10);
    /// seen.insert("a".to_string());
    /// assert!(seen.contains("a"));
    /// ```
    pub fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.engine.cache.contains_key(key)
    }

    /// Forgets `key`; returns whether it was present (and not expired).
    ///
    /// ```
    /// let seen: ttlru::SeenSet<String> = ttlru::SeenSet::new(10);
    /// seen.insert("a".to_string());
    /// assert!(seen.remove("a"));
    /// assert!(!seen.remove("a"));
    /// ```
    pub fn remove<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.engine.cache.remove(key).is_some()
    }
}

impl<K, S> fmt::Debug for SeenSetBuilder<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeenSetBuilder")
            .field("options", &self.inner)
            .finish()
    }
}

impl<K, S> fmt::Debug for SeenSet<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.engine.debug_as("SeenSet", f)
    }
}
