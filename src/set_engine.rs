//! The one implementation behind both seen sets: [`SetEngine`] holds the shards
//! and carries every operation that does not depend on how a key is stored, so
//! [`SeenSet`](crate::SeenSet) and [`FingerprintSet`](crate::FingerprintSet) write
//! (and document) each of them once. Both sets dereference to it.

use std::fmt;

use crate::builder::DefaultHasher;
use crate::cache::Cache;
use crate::stats::Stats;

/// The operations every seen set shares: size, clearing, purging, statistics.
///
/// A [`SeenSet`](crate::SeenSet) and a [`FingerprintSet`](crate::FingerprintSet)
/// dereference to their engine, so these methods are called on the set itself.
/// `E` is what the set stores per entry: the key for a `SeenSet`, an opaque part
/// of the fingerprint for a `FingerprintSet`.
///
/// ```
/// let seen: ttlru::SeenSet<u32> = ttlru::SeenSet::new(10);
/// let fingerprints: ttlru::FingerprintSet<u32> = ttlru::FingerprintSet::new(10);
/// seen.insert(1);
/// fingerprints.insert(&1);
/// assert_eq!((seen.len(), fingerprints.len()), (1, 1));
/// ```
pub struct SetEngine<E, S = DefaultHasher> {
    pub(crate) cache: Cache<E, (), S>,
}

impl<E, S> SetEngine<E, S> {
    pub(crate) fn new(cache: Cache<E, (), S>) -> Self {
        SetEngine { cache }
    }

    /// The number of keys held, including expired ones not yet purged (they are
    /// never reported as present). Takes no lock.
    ///
    /// ```
    /// let seen: ttlru::SeenSet<u32> = ttlru::SeenSet::new(10);
    /// seen.insert(1);
    /// seen.insert(1);
    /// assert_eq!(seen.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// Whether [`len`](Self::len) is zero.
    ///
    /// ```
    /// assert!(ttlru::SeenSet::<u32>::new(10).is_empty());
    /// assert!(ttlru::FingerprintSet::<str>::new(10).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }

    /// Forgets every key and frees the tables, slabs and wheels. Each key reaches
    /// the eviction listener as [`Cleared`](crate::RemovalCause::Cleared).
    ///
    /// ```
    /// let seen: ttlru::SeenSet<u32> = ttlru::SeenSet::new(10);
    /// seen.insert(1);
    /// seen.clear();
    /// assert!(seen.insert(1));
    /// ```
    pub fn clear(&self) {
        self.cache.clear();
    }

    /// Shrinks every shard's table and slab to fit its live keys.
    ///
    /// ```
    /// let seen: ttlru::SeenSet<u32> = ttlru::SeenSet::new(1_000);
    /// (0..1_000).for_each(|i| { seen.insert(i); });
    /// (0..1_000).for_each(|i| { seen.remove(&i); });
    /// seen.shrink_to_fit();
    /// assert_eq!(seen.stats().table_buckets, 0);
    /// ```
    pub fn shrink_to_fit(&self) {
        self.cache.shrink_to_fit();
    }

    /// Removes every expired key now and frees what emptied shards no longer
    /// need; returns how many it removed. See [`Cache::purge_expired`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use ttlru::{ManualClock, SeenSet};
    ///
    /// let clock = ManualClock::new();
    /// let seen: SeenSet<u32> = SeenSet::builder()
    ///     .time_to_live(Duration::from_secs(1))
    ///     .clock(clock.clone())
    ///     .build();
    /// seen.insert(1);
    /// clock.advance(Duration::from_secs(2));
    /// assert_eq!(seen.purge_expired(), 1);
    /// ```
    pub fn purge_expired(&self) -> usize {
        self.cache.purge_expired()
    }

    /// Counters and size: see [`Stats`]. A repeated `insert` counts as a hit, a
    /// first sighting as a miss.
    ///
    /// ```
    /// let seen: ttlru::SeenSet<u32> = ttlru::SeenSet::new(10);
    /// seen.insert(1);
    /// seen.insert(1);
    /// assert_eq!((seen.stats().hits, seen.stats().misses), (1, 1));
    /// ```
    pub fn stats(&self) -> Stats {
        self.cache.stats()
    }

    /// Bytes held by the tables, slabs and wheels (not a key's own heap memory,
    /// such as a `String`'s buffer; a `FingerprintSet` owns no keys, so for it
    /// this is everything).
    ///
    /// ```
    /// let seen: ttlru::SeenSet<u64> = ttlru::SeenSet::new(1_000);
    /// (0..1_000).for_each(|i| { seen.insert(i); });
    /// assert!(seen.memory_bytes() >= 1_000 * 32);
    /// ```
    pub fn memory_bytes(&self) -> usize {
        self.cache.memory_bytes()
    }

    /// The number of shards (a power of two).
    ///
    /// ```
    /// assert!(ttlru::SeenSet::<u32>::new(1_000).shard_count().is_power_of_two());
    /// ```
    pub fn shard_count(&self) -> usize {
        self.cache.shard_count()
    }
}

impl<E, S> fmt::Debug for SetEngine<E, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetEngine")
            .field("len", &self.len())
            .field("shards", &self.shard_count())
            .finish_non_exhaustive()
    }
}
