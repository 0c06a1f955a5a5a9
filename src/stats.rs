//! Counters and gauges, summed over the shards by `stats()`.

use std::ops::AddAssign;

/// A snapshot of a cache's counters (since it was built) and gauges (now).
///
/// Each shard is read under its own lock, one after the other, so under concurrent
/// writes the snapshot is not one instant, but every counter only grows.
///
/// ```
/// use ttlru::SeenSet;
///
/// let seen: SeenSet<String> = SeenSet::new(1_000);
/// seen.insert("a".to_string());
/// seen.insert("a".to_string()); // a duplicate: a hit
/// let stats = seen.stats();
/// assert_eq!((stats.hits, stats.misses, stats.inserts, stats.len), (1, 1, 1, 1));
/// assert!(stats.table_buckets >= 1);
/// ```
///
/// More fields may come (it is `#[non_exhaustive]`): build one with
/// `Stats::default()` and field assignments, not a struct literal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Lookups that record an access and found a live entry: `Cache::get`,
    /// `get_or_insert_with`, and a `SeenSet::insert` of a key already present.
    pub hits: u64,
    /// Lookups that record an access and found nothing live.
    pub misses: u64,
    /// Entries written: new keys and replaced values.
    pub inserts: u64,
    /// Entries removed to stay within capacity, or refused for being too heavy.
    pub evictions: u64,
    /// Entries removed because their time to live or idle ran out.
    pub expirations: u64,
    /// Entries taken out by `remove` or `clear`.
    pub removals: u64,
    /// Entries held now, including expired ones not yet purged.
    pub len: u64,
    /// Hash-table buckets held now, over all shards: shows whether memory came back.
    pub table_buckets: u64,
    /// Snapshots written by the background saver of `persist_to`.
    pub snapshots_saved: u64,
    /// Background snapshot saves that failed (an I/O error, or a panic in user
    /// `Serialize` code); the previous file is left in place each time.
    pub snapshot_failures: u64,
}

impl AddAssign for Stats {
    fn add_assign(&mut self, other: Stats) {
        self.hits += other.hits;
        self.misses += other.misses;
        self.inserts += other.inserts;
        self.evictions += other.evictions;
        self.expirations += other.expirations;
        self.removals += other.removals;
        self.len += other.len;
        self.table_buckets += other.table_buckets;
        self.snapshots_saved += other.snapshots_saved;
        self.snapshot_failures += other.snapshot_failures;
    }
}

impl Stats {
    /// `hits / (hits + misses)`, or 0 before any lookup.
    ///
    /// ```
    /// let mut stats = ttlru::Stats::default();
    /// assert_eq!(stats.hit_ratio(), 0.0);
    /// (stats.hits, stats.misses) = (3, 1);
    /// assert_eq!(stats.hit_ratio(), 0.75);
    /// ```
    #[must_use]
    pub fn hit_ratio(&self) -> f64 {
        let lookups = self.hits + self.misses;
        if lookups == 0 {
            0.0
        } else {
            self.hits as f64 / lookups as f64
        }
    }
}
