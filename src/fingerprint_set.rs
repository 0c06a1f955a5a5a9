//! The key-less seen set: [`FingerprintSet`] stores a keyed 128-bit fingerprint of
//! each key, never the key, so an insert allocates nothing and every entry costs
//! the same few bytes whatever the key's length.

use std::fmt;
use std::hash::Hash;
use std::io::Read;
use std::marker::PhantomData;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::builder::CacheBuilder;
use crate::clock::{ManualClock, duration_to_millis};
use crate::fingerprint::{keyed_fingerprint, random_key};
use crate::persistence::{self, PersistenceStart};
use crate::removal::RemovalCause;
use crate::set_engine::SetEngine;
use crate::snapshot;
use crate::snapshot_file;
use crate::snapshot_format::{SnapshotError, SnapshotKind};
use crate::store::Route;

/// What a [`FingerprintSet`] stores of a fingerprint: the 96 bits that are not
/// its table hash (the node keeps those 32 bits anyway). Opaque; it appears only
/// as the entry type of the set's [`SetEngine`]. Plain `u32`s keep the node
/// 4-aligned: 36 bytes, where a `u128` would force 16-byte alignment and 48.
///
/// ```
/// let seen: ttlru::FingerprintSet<str> = ttlru::FingerprintSet::new(10);
/// let engine: &ttlru::SetEngine<ttlru::StoredBits> = &seen;
/// assert!(engine.is_empty());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredBits([u32; 3]);

/// Splits a fingerprint into (shard bits, table hash, stored bits).
pub(crate) fn split(fingerprint: u128) -> (u64, u32, StoredBits) {
    let (low, high) = (fingerprint as u64, (fingerprint >> 64) as u64);
    let stored = StoredBits([(low >> 32) as u32, high as u32, (high >> 32) as u32]);
    (high, low as u32, stored)
}

pub(crate) fn join(hash: u32, StoredBits(stored): &StoredBits) -> u128 {
    let low = (u64::from(stored[0]) << 32) | u64::from(hash);
    let high = (u64::from(stored[2]) << 32) | u64::from(stored[1]);
    (u128::from(high) << 64) | u128::from(low)
}

/// A concurrent seen set that stores a 128-bit keyed fingerprint of each key
/// instead of the key: the answer to "have I seen this event ID in the last
/// hour?" for tens of millions of IDs, in a fixed ~40–50 bytes per entry whatever
/// the IDs' length, with no allocation per insert.
///
/// It has the semantics of [`SeenSet`](crate::SeenSet) (capacity, time to live and
/// idle, exactly one `true` per key per window across threads, memory that
/// shrinks back), but its methods take references: `insert("user42:evt-9f3c")`.
/// The key's `Hash` runs once per call, outside any lock, feeding SipHash-1-3
/// with a 128-bit output and a random 128-bit key drawn when the set is built.
///
/// # False positives
/// Two different keys are confused only if their fingerprints are equal. For an
/// unkeyed attacker, the fingerprints of distinct keys behave as independent
/// uniform 128-bit values, so an insert is wrongly taken for a duplicate with
/// probability at most n / 2^128 when n entries are live. At n = 32 M = 2^25
/// that is 2^25 / 2^128 = 2^-103 ≈ 10^-31 per insert; a billion inserts a
/// second for a thousand years (≈ 2^55 inserts) leaves it under 2^-48 ≈ 4·10^-15.
/// Because the key is secret and random per set, an attacker cannot craft
/// colliding keys: SipHash is a pseudo-random function of its key.
///
/// ```
/// use std::time::Duration;
/// use ttlru::FingerprintSet;
///
/// let seen: FingerprintSet<str> = FingerprintSet::builder()
///     .max_capacity(32 << 20)
///     .time_to_live(Duration::from_secs(3600))
///     .build();
/// assert!(seen.insert("user42:evt-9f3c")); // first sighting
/// assert!(!seen.insert("user42:evt-9f3c")); // duplicate
/// assert!(seen.contains("user42:evt-9f3c"));
/// ```
pub struct FingerprintSet<K: ?Sized> {
    engine: SetEngine<StoredBits>,
    _keys: PhantomData<fn(&K)>,
}

/// Builds a [`FingerprintSet`]: see [`FingerprintSet::builder`].
///
/// ```
/// let seen: ttlru::FingerprintSet<[u8]> = ttlru::FingerprintSet::builder()
///     .max_capacity(1_000)
///     .build();
/// assert!(seen.insert(b"id-1".as_slice()));
/// ```
#[must_use = "a builder does nothing until .build()"]
pub struct FingerprintSetBuilder<K: ?Sized> {
    inner: CacheBuilder<StoredBits, ()>,
    key: Option<u128>,
    /// `persist_to`: started at build, once the key is known.
    persist: Option<(PathBuf, Duration)>,
    _keys: PhantomData<fn(&K)>,
}

impl<K: ?Sized> FingerprintSet<K> {
    /// A builder with the options of [`SeenSet`](crate::SeenSet)'s, plus
    /// [`fingerprint_key`](FingerprintSetBuilder::fingerprint_key).
    ///
    /// ```
    /// use std::time::Duration;
    /// let seen: ttlru::FingerprintSet<str> = ttlru::FingerprintSet::builder()
    ///     .max_capacity(1 << 20)
    ///     .time_to_live(Duration::from_secs(3600))
    ///     .build();
    /// assert!(seen.is_empty());
    /// ```
    pub fn builder() -> FingerprintSetBuilder<K> {
        FingerprintSetBuilder {
            inner: CacheBuilder::new(),
            key: None,
            persist: None,
            _keys: PhantomData,
        }
    }

    /// A set holding at most `max_capacity` fingerprints, with no expiry.
    ///
    /// ```
    /// let seen: ttlru::FingerprintSet<str> = ttlru::FingerprintSet::new(1_000);
    /// assert!(seen.insert("a"));
    /// ```
    pub fn new(max_capacity: u64) -> Self {
        Self::builder().max_capacity(max_capacity).build()
    }
}

impl<K: ?Sized> FingerprintSetBuilder<K> {
    /// The most fingerprints held. See [`CacheBuilder::max_capacity`].
    ///
    /// ```
    /// let seen: ttlru::FingerprintSet<u64> = ttlru::FingerprintSet::builder().max_capacity(10).build();
    /// (0..100u64).for_each(|i| { seen.insert(&i); });
    /// assert!(seen.len() <= 10);
    /// ```
    pub fn max_capacity(self, max_capacity: u64) -> Self {
        self.map(|inner| inner.max_capacity(max_capacity))
    }

    /// How long a key is remembered after its first sighting. See
    /// [`SeenSetBuilder::time_to_live`](crate::SeenSetBuilder::time_to_live).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ttlru::{FingerprintSet, ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// let seen: FingerprintSet<str> = FingerprintSet::builder()
    ///     .time_to_live(Duration::from_secs(60))
    ///     .clock(clock.clone())
    ///     .build();
    /// assert!(seen.insert("a"));
    /// clock.advance(Duration::from_secs(60));
    /// assert!(seen.insert("a")); // a new window
    /// ```
    pub fn time_to_live(self, time_to_live: Duration) -> Self {
        self.map(|inner| inner.time_to_live(time_to_live))
    }

    /// How long a key is remembered after its last sighting. See
    /// [`SeenSetBuilder::time_to_idle`](crate::SeenSetBuilder::time_to_idle).
    ///
    /// ```
    /// use std::time::Duration;
    /// let seen: ttlru::FingerprintSet<str> = ttlru::FingerprintSet::builder()
    ///     .time_to_idle(Duration::from_secs(60))
    ///     .build();
    /// assert!(seen.insert("a"));
    /// ```
    pub fn time_to_idle(self, time_to_idle: Duration) -> Self {
        self.map(|inner| inner.time_to_idle(time_to_idle))
    }

    /// The number of shards. See [`CacheBuilder::shards`].
    ///
    /// ```
    /// let seen: ttlru::FingerprintSet<str> = ttlru::FingerprintSet::builder().shards(2).build();
    /// assert_eq!(seen.shard_count(), 2);
    /// ```
    pub fn shards(self, shards: usize) -> Self {
        self.map(|inner| inner.shards(shards))
    }

    /// The clock to read time from. See [`CacheBuilder::clock`].
    ///
    /// ```
    /// let seen: ttlru::FingerprintSet<str> =
    ///     ttlru::FingerprintSet::builder().clock(ttlru::ManualClock::new()).build();
    /// assert!(seen.insert("a"));
    /// ```
    pub fn clock(self, clock: ManualClock) -> Self {
        self.map(|inner| inner.clock(clock))
    }

    /// Called once for every fingerprint that leaves the set, with the reason,
    /// after the shard's lock is released. The set does not know keys, only
    /// fingerprints: compare with [`FingerprintSet::fingerprint`].
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use ttlru::{FingerprintSet, RemovalCause};
    ///
    /// let gone = Arc::new(Mutex::new(Vec::new()));
    /// let sink = gone.clone();
    /// let seen: FingerprintSet<str> = FingerprintSet::builder()
    ///     .max_capacity(1)
    ///     .eviction_listener(move |fingerprint: u128, cause| sink.lock().unwrap().push((fingerprint, cause)))
    ///     .build();
    /// seen.insert("a");
    /// seen.insert("b");
    /// assert_eq!(*gone.lock().unwrap(), [(seen.fingerprint("a"), RemovalCause::Evicted)]);
    /// ```
    pub fn eviction_listener(
        mut self,
        listener: impl Fn(u128, RemovalCause) + Send + Sync + 'static,
    ) -> Self {
        self.inner.listener = Some(Box::new(move |hash, stored: &StoredBits, (), cause| {
            listener(join(hash, stored), cause)
        }));
        self
    }

    /// Purges expired fingerprints from a background thread every `every`. See
    /// [`CacheBuilder::background_sweeper`].
    ///
    /// ```
    /// use std::time::Duration;
    /// let seen: ttlru::FingerprintSet<str> = ttlru::FingerprintSet::builder()
    ///     .time_to_live(Duration::from_secs(3600))
    ///     .background_sweeper(Duration::from_secs(1))
    ///     .build();
    /// assert!(seen.insert("a"));
    /// ```
    pub fn background_sweeper(self, every: Duration) -> Self {
        self.map(|inner| inner.background_sweeper(every))
    }

    /// Fixes the fingerprint key instead of drawing a random one, so fingerprints
    /// are the same from run to run (for tests and reproducible benchmarks).
    /// Anyone who knows the key can craft colliding keys: keep a fixed key secret,
    /// or leave it random in production.
    ///
    /// ```
    /// let a: ttlru::FingerprintSet<str> = ttlru::FingerprintSet::builder().fingerprint_key(42).build();
    /// let b: ttlru::FingerprintSet<str> = ttlru::FingerprintSet::builder().fingerprint_key(42).build();
    /// assert_eq!(a.fingerprint("x"), b.fingerprint("x"));
    /// ```
    pub fn fingerprint_key(mut self, key: u128) -> Self {
        self.key = Some(key);
        self
    }

    /// Saves a snapshot of the set to `path` every `every` on a background
    /// thread, and once more when the set is dropped. The restart recipe for a
    /// service: build with [`build_from_snapshot_file`](Self::build_from_snapshot_file)
    /// at start (falling back to [`build`](Self::build) when there is no file
    /// yet) and this option; a restart then forgets at most `every` of
    /// sightings, and none on a clean shutdown. Each save is crash-safe (see
    /// [`save_snapshot_to`](SetEngine::save_snapshot_to)). Saves and failures are
    /// counted in [`Stats::snapshots_saved`](crate::Stats::snapshots_saved) and
    /// [`Stats::snapshot_failures`](crate::Stats::snapshot_failures), and the
    /// latest failure's reason is in
    /// [`last_snapshot_failure`](SetEngine::last_snapshot_failure); a failure
    /// leaves the previous file in place.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ttlru::FingerprintSet;
    ///
    /// let path = std::env::temp_dir().join(format!("ttlru-fp-persist-doc-{}.snapshot", std::process::id()));
    /// let seen: FingerprintSet<str> = FingerprintSet::builder()
    ///     .persist_to(&path, Duration::from_secs(60))
    ///     .build();
    /// seen.insert("evt-1");
    /// drop(seen); // saves once more
    /// let restored: FingerprintSet<str> = FingerprintSet::builder().build_from_snapshot_file(&path).unwrap();
    /// assert!(restored.contains("evt-1"));
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn persist_to(mut self, path: impl Into<PathBuf>, every: Duration) -> Self {
        self.persist = Some((path.into(), every));
        self
    }

    /// Builds the set.
    ///
    /// ```
    /// let seen: ttlru::FingerprintSet<str> = ttlru::FingerprintSet::builder().build();
    /// assert!(seen.is_empty());
    /// ```
    pub fn build(self) -> FingerprintSet<K> {
        let (mut set, persistence) = self.build_without_persistence();
        set.engine.cache.start_persistence(persistence);
        set
    }

    /// The set, and the background saver to start once it holds what it should.
    fn build_without_persistence(
        self,
    ) -> (FingerprintSet<K>, Option<PersistenceStart<StoredBits, ()>>) {
        let key = self.key.unwrap_or_else(random_key);
        let persistence = self.persist.map(|(path, every)| {
            persistence::start(
                SnapshotKind::FingerprintSet,
                key,
                path,
                every,
                snapshot::encode_set_entry,
            )
        });
        let (cache, _) = self.inner.build_without_persistence();
        let set = FingerprintSet {
            engine: SetEngine::new(cache, key),
            _keys: PhantomData,
        };
        (set, persistence)
    }

    /// Builds the set from a snapshot written by
    /// [`save_snapshot`](SetEngine::save_snapshot), with this builder's options:
    /// its fingerprints in their recency order, each with what was left of its
    /// time when it was saved, less the time since (an entry whose deadline has
    /// passed is left out). The set takes the snapshot's fingerprint key; a
    /// builder given another one with
    /// [`fingerprint_key`](Self::fingerprint_key) is refused with
    /// [`SnapshotError::KeyMismatch`]. Into fewer shards or a smaller capacity,
    /// the least recently seen are left out. Deadlines are kept as saved; this
    /// builder's time to live and idle apply from the next write or sighting.
    ///
    /// The whole snapshot is read and checked before anything is loaded: a
    /// truncated, corrupt, foreign or newer-version input returns its
    /// [`SnapshotError`], and nothing is built. Entries the restore leaves out do
    /// not reach the eviction listener.
    ///
    /// ```
    /// use ttlru::{FingerprintSet, SnapshotError};
    ///
    /// let seen: FingerprintSet<str> = FingerprintSet::builder().fingerprint_key(7).build();
    /// seen.insert("evt-1");
    /// let mut bytes = Vec::new();
    /// seen.save_snapshot(&mut bytes).unwrap();
    ///
    /// let restored: FingerprintSet<str> = FingerprintSet::builder().build_from_snapshot(&bytes[..]).unwrap();
    /// assert_eq!(restored.fingerprint_key(), 7);
    /// assert!(restored.contains("evt-1"));
    ///
    /// let other = FingerprintSet::<str>::builder().fingerprint_key(8).build_from_snapshot(&bytes[..]);
    /// assert!(matches!(other, Err(SnapshotError::KeyMismatch)));
    /// ```
    pub fn build_from_snapshot(
        self,
        reader: impl Read,
    ) -> Result<FingerprintSet<K>, SnapshotError> {
        let opened = snapshot::open(reader, SnapshotKind::FingerprintSet)?;
        let key = opened.header().fingerprint_key;
        if self.key.is_some_and(|given| given != key) {
            return Err(SnapshotError::KeyMismatch);
        }
        let (mut set, persistence) = self.fingerprint_key(key).build_without_persistence();
        let store = set.engine.cache.store();
        opened.restore_into(store, snapshot::decode_fingerprint, |fingerprint| {
            let (shard_bits, hash, stored) = split(fingerprint);
            (store.route_parts(shard_bits, hash), stored, ())
        })?;
        set.engine.cache.start_persistence(persistence);
        Ok(set)
    }

    /// [`build_from_snapshot`](Self::build_from_snapshot) from a file, such as one
    /// written by [`save_snapshot_to`](SetEngine::save_snapshot_to).
    ///
    /// ```
    /// use ttlru::{FingerprintSet, SnapshotError};
    ///
    /// let missing = FingerprintSet::<str>::builder().build_from_snapshot_file("/nonexistent/ttlru.snapshot");
    /// assert!(matches!(missing, Err(SnapshotError::Io(_))));
    /// ```
    pub fn build_from_snapshot_file(
        self,
        path: impl AsRef<Path>,
    ) -> Result<FingerprintSet<K>, SnapshotError> {
        self.build_from_snapshot(snapshot_file::open(path.as_ref())?)
    }

    /// A name for the set, shown by `Debug` and, with the `metrics` feature, the
    /// `cache` label of its published figures. See [`CacheBuilder::name`].
    ///
    /// ```
    /// let seen: ttlru::FingerprintSet<str> = ttlru::FingerprintSet::builder().name("orders-dedup").build();
    /// assert!(format!("{seen:?}").contains("FingerprintSet"));
    /// ```
    pub fn name(self, name: impl Into<String>) -> Self {
        self.map(|inner| inner.name(name))
    }

    fn map(
        mut self,
        change: impl FnOnce(CacheBuilder<StoredBits, ()>) -> CacheBuilder<StoredBits, ()>,
    ) -> Self {
        self.inner = change(self.inner);
        self
    }
}

impl<K: ?Sized + Hash> FingerprintSet<K> {
    /// The set's fingerprint of `key`: SipHash-1-3, 128-bit output, under this
    /// set's key. Two sets built separately give different fingerprints.
    ///
    /// ```
    /// let a: ttlru::FingerprintSet<str> = ttlru::FingerprintSet::new(10);
    /// let b: ttlru::FingerprintSet<str> = ttlru::FingerprintSet::new(10);
    /// assert_eq!(a.fingerprint("x"), a.fingerprint("x"));
    /// assert_ne!(a.fingerprint("x"), b.fingerprint("x"));
    /// ```
    pub fn fingerprint(&self, key: &K) -> u128 {
        keyed_fingerprint(self.engine.fingerprint_key, key)
    }

    /// Records a sighting: `true` if the key's fingerprint was not present (a
    /// first sighting in this window), `false` if it was (recency and idle time
    /// refreshed, time to live kept). Allocates nothing.
    ///
    /// ```
    /// let seen: ttlru::FingerprintSet<str> = ttlru::FingerprintSet::new(1_000);
    /// assert!(seen.insert("evt-1"));
    /// assert!(!seen.insert("evt-1"));
    /// ```
    pub fn insert(&self, key: &K) -> bool {
        self.insert_fingerprint(self.fingerprint(key))
    }

    /// Like [`insert`](Self::insert), with this key's own time to live if it is
    /// new (ignored for a key already present).
    ///
    /// ```
    /// use std::time::Duration;
    /// let seen: ttlru::FingerprintSet<str> = ttlru::FingerprintSet::new(1_000);
    /// assert!(seen.insert_with_ttl("evt-1", Duration::from_secs(5)));
    /// ```
    pub fn insert_with_ttl(&self, key: &K, time_to_live: Duration) -> bool {
        self.insert_fingerprint_with_ttl(self.fingerprint(key), time_to_live)
    }

    /// Whether the key's fingerprint is present (and not expired), without
    /// recording a sighting.
    ///
    /// ```
    /// let seen: ttlru::FingerprintSet<str> = ttlru::FingerprintSet::new(10);
    /// seen.insert("a");
    /// assert!(seen.contains("a"));
    /// assert!(!seen.contains("b"));
    /// ```
    pub fn contains(&self, key: &K) -> bool {
        self.contains_fingerprint(self.fingerprint(key))
    }

    /// Forgets the key; returns whether it was present (and not expired).
    ///
    /// ```
    /// let seen: ttlru::FingerprintSet<str> = ttlru::FingerprintSet::new(10);
    /// seen.insert("a");
    /// assert!(seen.remove("a"));
    /// assert!(!seen.contains("a"));
    /// ```
    pub fn remove(&self, key: &K) -> bool {
        self.remove_fingerprint(self.fingerprint(key))
    }
}

/// The same operations on fingerprints already computed, for code that derives a
/// key's fingerprint once and uses it twice (`ttlru-redis` names its Redis key
/// after it, then records it here). A fingerprint must come from
/// [`fingerprint`](FingerprintSet::fingerprint) or [`keyed_fingerprint`](crate::keyed_fingerprint)
/// with this set's [`fingerprint_key`](FingerprintSet::fingerprint_key).
impl<K: ?Sized> FingerprintSet<K> {
    /// This set's 128-bit fingerprint key: the one given to
    /// [`FingerprintSetBuilder::fingerprint_key`], or the random one drawn at build.
    /// It is a secret: whoever knows it can craft keys with equal fingerprints.
    ///
    /// ```
    /// let seen: ttlru::FingerprintSet<str> = ttlru::FingerprintSet::builder().fingerprint_key(7).build();
    /// assert_eq!(seen.fingerprint_key(), 7);
    /// ```
    pub fn fingerprint_key(&self) -> u128 {
        self.engine.fingerprint_key
    }

    #[inline]
    fn locate_fingerprint(&self, fingerprint: u128) -> (Route, StoredBits) {
        let (shard_bits, hash, stored) = split(fingerprint);
        (
            self.engine.cache.store().route_parts(shard_bits, hash),
            stored,
        )
    }

    /// [`insert`](FingerprintSet::insert) of a key whose fingerprint is given.
    ///
    /// ```
    /// let seen: ttlru::FingerprintSet<str> = ttlru::FingerprintSet::new(10);
    /// let fingerprint = seen.fingerprint("evt-1");
    /// assert!(seen.insert_fingerprint(fingerprint));
    /// assert!(!seen.insert("evt-1"));
    /// ```
    pub fn insert_fingerprint(&self, fingerprint: u128) -> bool {
        let (route, stored) = self.locate_fingerprint(fingerprint);
        self.engine
            .cache
            .store()
            .insert_if_absent(route, stored, (), None)
    }

    /// [`insert_with_ttl`](FingerprintSet::insert_with_ttl) of a key whose
    /// fingerprint is given.
    ///
    /// ```
    /// use std::time::Duration;
    /// let seen: ttlru::FingerprintSet<str> = ttlru::FingerprintSet::new(10);
    /// let fingerprint = seen.fingerprint("evt-1");
    /// assert!(seen.insert_fingerprint_with_ttl(fingerprint, Duration::from_secs(5)));
    /// assert!(seen.contains("evt-1"));
    /// ```
    pub fn insert_fingerprint_with_ttl(&self, fingerprint: u128, time_to_live: Duration) -> bool {
        let (route, stored) = self.locate_fingerprint(fingerprint);
        let store = self.engine.cache.store();
        store.note_expiry_in_use();
        store.insert_if_absent(route, stored, (), Some(duration_to_millis(time_to_live)))
    }

    /// [`contains`](FingerprintSet::contains) of a key whose fingerprint is given.
    ///
    /// ```
    /// let seen: ttlru::FingerprintSet<str> = ttlru::FingerprintSet::new(10);
    /// seen.insert("a");
    /// assert!(seen.contains_fingerprint(seen.fingerprint("a")));
    /// ```
    pub fn contains_fingerprint(&self, fingerprint: u128) -> bool {
        let (route, stored) = self.locate_fingerprint(fingerprint);
        self.cache
            .store()
            .read(route, |bits| *bits == stored, false, |_| ())
            .is_some()
    }

    /// [`remove`](FingerprintSet::remove) of a key whose fingerprint is given.
    ///
    /// ```
    /// let seen: ttlru::FingerprintSet<str> = ttlru::FingerprintSet::new(10);
    /// seen.insert("a");
    /// assert!(seen.remove_fingerprint(seen.fingerprint("a")));
    /// assert!(!seen.contains("a"));
    /// ```
    pub fn remove_fingerprint(&self, fingerprint: u128) -> bool {
        let (route, stored) = self.locate_fingerprint(fingerprint);
        self.cache
            .store()
            .remove(route, |bits| *bits == stored)
            .is_some()
    }
}

impl<K: ?Sized> Deref for FingerprintSet<K> {
    type Target = SetEngine<StoredBits>;

    /// The operations every seen set shares (`len`, `clear`, `purge_expired`,
    /// `stats`, ...): see [`SetEngine`].
    fn deref(&self) -> &SetEngine<StoredBits> {
        &self.engine
    }
}

impl<K: ?Sized> fmt::Debug for FingerprintSetBuilder<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Whether a key is fixed, never the key: it is a secret.
        f.debug_struct("FingerprintSetBuilder")
            .field("options", &self.inner)
            .field("fingerprint_key_fixed", &self.key.is_some())
            .finish()
    }
}

impl<K: ?Sized> fmt::Debug for FingerprintSet<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.engine.debug_as("FingerprintSet", f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_join_are_inverse() {
        for fingerprint in [0, 1, u128::MAX, 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210] {
            let (_, hash, stored) = split(fingerprint);
            assert_eq!(join(hash, &stored), fingerprint);
        }
    }

    #[test]
    fn a_node_is_36_bytes() {
        assert_eq!(std::mem::size_of::<crate::slab::Node<StoredBits, ()>>(), 36);
        assert_eq!(std::mem::size_of::<crate::slab::Node<u64, u64>>(), 40);
    }
}
