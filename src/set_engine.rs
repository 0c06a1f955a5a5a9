//! The one implementation behind both seen sets: [`SetEngine`] holds the shards
//! and carries every operation that does not depend on how a key is stored, so
//! [`SeenSet`](crate::SeenSet) and [`FingerprintSet`](crate::FingerprintSet) write
//! (and document) each of them once. Both sets dereference to it.

use std::fmt;
use std::io::Write;
use std::path::Path;

use crate::builder::DefaultHasher;
use crate::cache::Cache;
use crate::snapshot::{self, SnapshotEntry, SnapshotInfo};
use crate::snapshot_format::SnapshotError;
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
    /// A `FingerprintSet`'s key (0 for a `SeenSet`): snapshots carry it.
    pub(crate) fingerprint_key: u128,
}

impl<E, S> SetEngine<E, S> {
    pub(crate) fn new(cache: Cache<E, (), S>, fingerprint_key: u128) -> Self {
        SetEngine {
            cache,
            fingerprint_key,
        }
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

    /// Why the latest background save of `persist_to` failed, in words (the file,
    /// and the I/O error or the panic message), so a service can log it. `None`
    /// when the set does not persist, no save has run yet, or the latest one
    /// succeeded: a later success clears an earlier failure. Every failure is also
    /// counted in [`Stats::snapshot_failures`].
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// // A file in a directory that does not exist cannot be written.
    /// let path = std::env::temp_dir().join("ttlru-doc-no-such-directory/seen.snapshot");
    /// let seen: ttlru::FingerprintSet<str> = ttlru::FingerprintSet::builder()
    ///     .persist_to(&path, Duration::from_millis(10))
    ///     .build();
    /// let started = Instant::now();
    /// while seen.last_snapshot_failure().is_none() {
    ///     assert!(started.elapsed() < Duration::from_secs(10));
    ///     std::thread::sleep(Duration::from_millis(5));
    /// }
    /// assert!(seen.last_snapshot_failure().unwrap().contains("seen.snapshot"));
    /// ```
    #[must_use]
    pub fn last_snapshot_failure(&self) -> Option<String> {
        self.cache.last_snapshot_failure()
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

    /// Publishes the set's figures through the `metrics` facade now (feature
    /// `metrics`). See [`Cache::publish_metrics`](crate::Cache::publish_metrics).
    ///
    /// ```
    /// let seen: ttlru::SeenSet<u32> = ttlru::SeenSet::builder().name("orders-dedup").build();
    /// seen.insert(1);
    /// seen.publish_metrics(); // no recorder installed: nothing is recorded
    /// ```
    #[cfg(feature = "metrics")]
    pub fn publish_metrics(&self) {
        self.cache.publish_metrics();
    }
}

impl<E: SnapshotEntry, S> SetEngine<E, S> {
    /// Writes a snapshot of the set to `writer`: every live key (or fingerprint)
    /// with its deadlines as wall-clock time, in recency order. Shard by shard,
    /// each copied under its own lock and written after it is released, so
    /// writers to other shards never wait and one shard waits only for its copy
    /// ([`SnapshotInfo::longest_lock_hold`]). Under concurrent writes each shard
    /// is saved as it was at one instant; a key present for the whole save is
    /// always in it. A `SeenSet` needs the `serde` feature (keys
    /// `Serialize + DeserializeOwned + Clone`); a `FingerprintSet` needs none,
    /// and its snapshot carries its fingerprint key: keep the file private.
    ///
    /// ```
    /// use ttlru::FingerprintSet;
    ///
    /// let seen: FingerprintSet<str> = FingerprintSet::new(1_000);
    /// seen.insert("evt-1");
    /// let mut bytes = Vec::new();
    /// seen.save_snapshot(&mut bytes).unwrap();
    /// let restored: FingerprintSet<str> =
    ///     FingerprintSet::builder().max_capacity(1_000).build_from_snapshot(&bytes[..]).unwrap();
    /// assert!(!restored.insert("evt-1")); // still a duplicate
    /// ```
    pub fn save_snapshot<W: Write>(&self, writer: W) -> Result<SnapshotInfo, SnapshotError> {
        let (info, _) = snapshot::save(
            self.cache.store(),
            E::KIND,
            self.fingerprint_key,
            writer,
            snapshot::encode_set_entry,
        )?;
        Ok(info)
    }

    /// [`save_snapshot`](Self::save_snapshot) to a file, crash-safe: written to a
    /// temporary file beside `path` (owner-only, mode 0600 on unix), synced,
    /// renamed over `path`, and the directory synced. A crash or an error at any
    /// point leaves the previous file (or none) or the new one, never a torn one.
    ///
    /// ```
    /// use ttlru::FingerprintSet;
    ///
    /// let path = std::env::temp_dir().join(format!("ttlru-doc-{}.snapshot", std::process::id()));
    /// let seen: FingerprintSet<str> = FingerprintSet::new(1_000);
    /// seen.insert("evt-1");
    /// let info = seen.save_snapshot_to(&path).unwrap();
    /// assert_eq!(info.entries, 1);
    /// let restored: FingerprintSet<str> =
    ///     FingerprintSet::builder().build_from_snapshot_file(&path).unwrap();
    /// assert!(restored.contains("evt-1"));
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn save_snapshot_to(&self, path: impl AsRef<Path>) -> Result<SnapshotInfo, SnapshotError> {
        snapshot::save_to_path(
            self.cache.store(),
            E::KIND,
            self.fingerprint_key,
            path.as_ref(),
            snapshot::encode_set_entry,
        )
    }
}

impl<E, S> SetEngine<E, S> {
    /// The `Debug` output of a set named `name`: its size and shards.
    pub(crate) fn debug_as(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("len", &self.len())
            .field("shards", &self.shard_count())
            .finish_non_exhaustive()
    }
}

impl<E, S> fmt::Debug for SetEngine<E, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.debug_as("SetEngine", f)
    }
}
