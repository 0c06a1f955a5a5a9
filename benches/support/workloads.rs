//! Workloads and peer adapters shared by `benches/peers.rs` (criterion) and
//! `examples/compare.rs` (the markdown report), so both measure the same thing.
//!
//! - Deterministic streams: own splitmix64 / xorshift64* generators, no `rand`.
//! - `dedup` / `dedup_far`: insert-if-absent over event-ID strings where a share of
//!   the events repeat one of the last `window` events ([`dedup_stream`]).
//! - `zipf`: get, then insert on a miss, over Zipf(θ)-distributed `u64` keys
//!   ([`Zipf`], [`zipf_stream`]).
//! - `read_mostly` (compare only): the same caches and operation, sized to hold
//!   the whole key space and warmed with every key ([`zipf_key_space`]), so every
//!   timed `get` hits.
//! - `expire`: fill with entries that have a time to live, let them all expire,
//!   time the cleanup ([`expire_ttlru`], [`expire_moka`]).
//!
//! Key strings are built before any timed loop. Each structure gets a fresh clone
//! of the stream per run, so owned-key structures take the `String`s out of it
//! (`mem::take`, no allocation) and borrowed-key ones (`FingerprintSet`,
//! `quick_cache`) read them in place.
//!
//! The structures are listed once, in [`each_dedup`] and [`each_get_insert`], and
//! handed to a visitor, so the timed loops are monomorphised per structure.
#![allow(dead_code)] // each includer uses a different part of this file

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::sync::{Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use moka::policy::EvictionPolicy;
use quick_cache::sync::GuardResult;
use ttlru::{Cache, FingerprintSet, ManualClock, SeenSet};

// ---------------------------------------------------------------------------
// Sizes
// ---------------------------------------------------------------------------

/// Every size a workload uses; [`Scale::full`] is the definition in issue 3.
#[derive(Clone, Copy, Debug)]
pub struct Scale {
    /// Events per `dedup` / `dedup_far` measurement.
    pub events: usize,
    /// Capacity of the bounded dedup structures.
    pub dedup_capacity: usize,
    /// `dedup`: repeats are drawn from this many most recent events.
    pub near_window: usize,
    /// `dedup_far`: repeats are drawn from this many most recent events.
    pub far_window: usize,
    /// `zipf`: number of distinct keys.
    pub zipf_keys: usize,
    /// `zipf`: cache capacity.
    pub zipf_capacity: usize,
    /// `zipf`: operations per measurement (and per warm-up pass).
    pub zipf_ops: usize,
    /// `read_mostly`: operations per measurement, over the `zipf` key space (gets
    /// are cheap: more of them than `zipf_ops`, so that a pass split over many
    /// threads still lasts long enough to time).
    pub read_ops: usize,
    /// `expire`: entries filled, then expired.
    pub expire_entries: usize,
    /// `expire`: the first TTL tried for moka (real clock); doubled if the fill
    /// takes longer than it.
    pub moka_ttl: Duration,
}

impl Scale {
    /// The sizes of issue 3.
    pub const fn full() -> Self {
        Scale {
            events: 1_000_000,
            dedup_capacity: 500_000,
            near_window: 10_000,
            far_window: 250_000,
            zipf_keys: 1_000_000,
            zipf_capacity: 100_000,
            zipf_ops: 1_000_000,
            read_ops: 4_000_000,
            expire_entries: 1_000_000,
            moka_ttl: Duration::from_secs(1),
        }
    }

    /// The criterion bench's default, smaller so that the whole bench (moka's slow
    /// rows and real-clock TTL sleeps included) takes about four minutes on 2
    /// cores: dedup streams of 200 000 events (capacity still half the stream, the
    /// far window still half the capacity), zipf shrunk the same way (200 000 ops
    /// over 200 000 keys, capacity 20 000: at issue 3's 1 M keys a short pass
    /// would barely fill the cache), 250 000 entries to expire.
    pub const fn bench() -> Self {
        Scale {
            events: 200_000,
            dedup_capacity: 100_000,
            near_window: 10_000,
            far_window: 50_000,
            zipf_keys: 200_000,
            zipf_capacity: 20_000,
            zipf_ops: 200_000,
            read_ops: 800_000,
            expire_entries: 250_000,
            ..Self::full()
        }
    }

    /// Everything 20× smaller, for CI: the same shapes, a few seconds in all.
    pub const fn quick() -> Self {
        Scale {
            events: 50_000,
            dedup_capacity: 25_000,
            near_window: 500,
            far_window: 12_500,
            zipf_keys: 50_000,
            zipf_capacity: 5_000,
            zipf_ops: 50_000,
            read_ops: 200_000,
            expire_entries: 50_000,
            moka_ttl: Duration::from_millis(200),
        }
    }
}

/// Share of `dedup` events that repeat an earlier one, in percent.
pub const REPEAT_PERCENT: u64 = 20;
/// Time to live of the dedup structures that support one.
pub const DEDUP_TTL: Duration = Duration::from_secs(3600);
/// Zipf exponent.
pub const ZIPF_THETA: f64 = 0.99;
/// With several threads, the stream is cut into chunks of this many events, dealt
/// round-robin to the threads, which run concurrently.
pub const CHUNK: usize = 1024;

// ---------------------------------------------------------------------------
// Random numbers
// ---------------------------------------------------------------------------

/// splitmix64's finaliser: a bijection on `u64` that scatters its input.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xorshift64*: small, fast, deterministic.
#[derive(Clone, Debug)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator seeded through splitmix64 (any seed, including 0, is fine).
    pub fn new(seed: u64) -> Self {
        XorShift(splitmix64(seed) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (multiply-shift; `n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

// ---------------------------------------------------------------------------
// Dedup streams
// ---------------------------------------------------------------------------

/// The event ID of event `id`: 30 bytes, e.g. `user31337:evt-9f3c0a1b2c3d4e5f`.
/// Distinct ids give distinct keys (the 16 hex digits are a bijection of `id`).
pub fn event_key(id: u64) -> String {
    let h = splitmix64(id);
    format!("user{:05}:evt-{:016x}", h % 100_000, h)
}

/// Length in bytes of every [`event_key`].
pub const KEY_LEN: usize = 30;

/// A prebuilt dedup stream.
#[derive(Clone, Debug)]
pub struct DedupStream {
    /// One `String` per event; a repeat is a separate `String` with the same text.
    pub keys: Vec<String>,
    /// Events whose key occurred earlier in the stream: what an exact, unbounded
    /// set reports as duplicates (whatever the order threads process them in).
    pub duplicates: u64,
}

/// `events` events; each, with probability [`REPEAT_PERCENT`] %, repeats one of
/// the `window` most recent events (uniformly), else is a new key.
pub fn dedup_stream(events: usize, window: usize, seed: u64) -> DedupStream {
    let mut rng = XorShift::new(seed);
    let mut ids: Vec<u64> = Vec::with_capacity(events);
    let mut next_new = seed.wrapping_mul(1 << 40); // disjoint id ranges per seed
    let mut duplicates = 0;
    for i in 0..events {
        if i > 0 && rng.below(100) < REPEAT_PERCENT {
            let back = 1 + rng.below(i.min(window) as u64) as usize;
            ids.push(ids[i - back]);
            duplicates += 1;
        } else {
            ids.push(next_new);
            next_new += 1;
        }
    }
    let keys = ids.into_iter().map(event_key).collect();
    DedupStream { keys, duplicates }
}

// ---------------------------------------------------------------------------
// Zipf
// ---------------------------------------------------------------------------

/// A Zipf(θ) sampler over ranks `0..n` (rank 0 the most popular), by inverting a
/// precomputed cumulative distribution (binary search; built once, 8 bytes a key).
#[derive(Clone, Debug)]
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    /// The distribution P(rank = i) ∝ 1 / (i + 1)^θ over `0..n`.
    pub fn new(n: usize, theta: f64) -> Self {
        let mut cdf = Vec::with_capacity(n);
        let mut sum = 0.0;
        for i in 0..n {
            sum += 1.0 / ((i + 1) as f64).powf(theta);
            cdf.push(sum);
        }
        for c in &mut cdf {
            *c /= sum;
        }
        Zipf { cdf }
    }

    /// One rank.
    pub fn sample(&self, rng: &mut XorShift) -> usize {
        let u = rng.next_f64();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

/// `ops` Zipf-distributed keys; rank `r` is the key `splitmix64(r)`, so popular
/// keys are scattered over the key space rather than small consecutive integers.
pub fn zipf_stream(zipf: &Zipf, ops: usize, seed: u64) -> Vec<u64> {
    let mut rng = XorShift::new(seed);
    (0..ops)
        .map(|_| splitmix64(zipf.sample(&mut rng) as u64))
        .collect()
}

/// Every key a [`zipf_stream`] over `n` ranks can draw, each once, least popular
/// first (so that the hottest keys are the most recently inserted).
pub fn zipf_key_space(n: usize) -> Vec<u64> {
    (0..n as u64).rev().map(splitmix64).collect()
}

// ---------------------------------------------------------------------------
// Driving a stream from one or more threads
// ---------------------------------------------------------------------------

/// Runs `op` on every item, from `threads` threads (chunks of [`CHUNK`] dealt
/// round-robin), and returns the wall time and the sum of `op`'s results. Thread
/// start-up is not timed: all threads wait on a barrier, then each reads the clock
/// as it starts and as it finishes, and the wall time runs from the first start to
/// the last finish. (Were the spawning thread to read the clock instead, it could
/// be descheduled when the barrier opens, and with more threads than cores the
/// workers could be done before it reads the start time.)
pub fn run_split<T: Send>(
    items: &mut [T],
    threads: usize,
    op: impl Fn(&mut T) -> u64 + Sync,
) -> (Duration, u64) {
    if threads <= 1 {
        let start = Instant::now();
        let mut sum = 0;
        for item in items.iter_mut() {
            sum += op(item);
        }
        return (start.elapsed(), sum);
    }
    let mut dealt: Vec<Vec<&mut [T]>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, chunk) in items.chunks_mut(CHUNK).enumerate() {
        dealt[i % threads].push(chunk);
    }
    let barrier = Barrier::new(threads);
    let (op, barrier) = (&op, &barrier);
    thread::scope(|scope| {
        let workers: Vec<_> = dealt
            .into_iter()
            .map(|chunks| {
                scope.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    let mut sum = 0;
                    for chunk in chunks {
                        for item in chunk.iter_mut() {
                            sum += op(item);
                        }
                    }
                    (start, Instant::now(), sum)
                })
            })
            .collect();
        let spans: Vec<(Instant, Instant, u64)> = workers
            .into_iter()
            .map(|w| w.join().expect("worker panicked"))
            .collect();
        let first_start = spans.iter().map(|s| s.0).min().expect("threads > 1");
        let last_finish = spans.iter().map(|s| s.1).max().expect("threads > 1");
        let sum = spans.iter().map(|s| s.2).sum();
        (last_finish - first_start, sum)
    })
}

// ---------------------------------------------------------------------------
// Dedup structures
// ---------------------------------------------------------------------------

/// How an adapter takes its key out of the prebuilt stream.
pub trait TakeKey<'a> {
    /// The key, from its slot in the stream.
    fn take(slot: &'a mut String) -> Self;
}

impl<'a> TakeKey<'a> for String {
    /// Moves the `String` out, leaving an empty one: no allocation.
    fn take(slot: &'a mut String) -> Self {
        std::mem::take(slot)
    }
}

impl<'a> TakeKey<'a> for &'a str {
    fn take(slot: &'a mut String) -> Self {
        slot.as_str()
    }
}

/// A structure used as a seen set: insert-if-absent.
pub trait Dedup: Sync {
    /// `String` for structures that own their keys, `&str` for those that take a
    /// reference (and copy or fingerprint it themselves).
    type Key<'a>: TakeKey<'a>;
    /// The row label.
    fn name(&self) -> String;
    /// `true` iff the key was absent (a first sighting), atomically.
    fn insert_if_absent(&self, key: Self::Key<'_>) -> bool;
    /// Entries held.
    fn len(&self) -> usize;
    /// Finishes deferred work (moka's pending tasks) so `len` and memory settle.
    fn settle(&self) {}
    /// Removes every key, the way a user of this structure would.
    fn remove_all(&self, keys: &mut dyn Iterator<Item = String>);
    /// How [`remove_all`](Self::remove_all) does it, for the report's notes.
    fn removal(&self) -> &'static str;
}

/// Receives each dedup structure's constructor, in report order.
pub trait DedupVisitor {
    /// One structure; `make` builds a fresh, empty one.
    fn visit<D: Dedup + 'static>(&mut self, make: impl Fn() -> D + Send + Sync + 'static);
}

/// Hands every dedup structure to `visitor`: the bounded ones with `capacity`
/// (and [`DEDUP_TTL`] where supported), the unbounded ones without either.
pub fn each_dedup(capacity: usize, visitor: &mut impl DedupVisitor) {
    visitor.visit(move || {
        SeenSetDedup(
            SeenSet::builder()
                .max_capacity(capacity as u64)
                .time_to_live(DEDUP_TTL)
                .build(),
        )
    });
    visitor.visit(move || {
        FingerprintDedup(
            FingerprintSet::builder()
                .max_capacity(capacity as u64)
                .time_to_live(DEDUP_TTL)
                .build(),
        )
    });
    visitor.visit(|| StdSetDedup(Mutex::new(HashSet::new())));
    visitor.visit(|| {
        HashbrownDedup(Mutex::new(hashbrown::HashSet::with_hasher(
            ahash::RandomState::new(),
        )))
    });
    visitor.visit(|| DashSetDedup(dashmap::DashSet::with_hasher(ahash::RandomState::new())));
    visitor.visit(move || LruDedup(Mutex::new(lru::LruCache::new(nonzero(capacity)))));
    visitor.visit(move || MokaDedup::new(capacity, EvictionPolicy::tiny_lfu(), "TinyLFU"));
    visitor.visit(move || MokaDedup::new(capacity, EvictionPolicy::lru(), "LRU"));
    visitor.visit(move || QuickDedup(quick_cache::sync::Cache::new(capacity)));
}

fn nonzero(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n.max(1)).expect("max(1) is nonzero")
}

/// Inserts every key of `keys` (taking `String`s out of it) into `d` from
/// `threads` threads; returns the wall time and the number of first sightings.
pub fn run_dedup<D: Dedup>(d: &D, keys: &mut [String], threads: usize) -> (Duration, u64) {
    run_split(keys, threads, |slot| {
        u64::from(d.insert_if_absent(TakeKey::take(slot)))
    })
}

/// Fills a fresh `d` with `n` distinct keys built on the fly (so owned keys'
/// text is allocated while `live` is watching), settles it, then removes them all.
/// `live` reads the live heap bytes; see [`Memory`].
pub fn dedup_memory<D: Dedup>(make: impl Fn() -> D, n: usize, live: &dyn Fn() -> isize) -> Memory {
    let base = live();
    let d = make();
    for id in 0..n as u64 {
        let mut key = event_key(id);
        d.insert_if_absent(TakeKey::take(&mut key));
    }
    d.settle();
    let len = d.len();
    let peak = live() - base;
    d.remove_all(&mut (0..n as u64).map(event_key));
    d.settle();
    let kept = live() - base;
    Memory { len, peak, kept }
}

/// Heap bytes of one structure, measured from before it was built.
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    /// Entries held when full.
    pub len: usize,
    /// Live bytes when full (structure plus the keys' own heap text).
    pub peak: isize,
    /// Live bytes still held after every key was removed (or expired and cleaned).
    pub kept: isize,
}

impl Memory {
    /// Live bytes per entry when full.
    pub fn per_entry(&self) -> f64 {
        self.peak as f64 / self.len.max(1) as f64
    }
}

/// `ttlru::SeenSet<String>`: capacity and TTL.
pub struct SeenSetDedup(pub SeenSet<String>);

impl Dedup for SeenSetDedup {
    type Key<'a> = String;
    fn name(&self) -> String {
        "ttlru::SeenSet".into()
    }
    fn insert_if_absent(&self, key: String) -> bool {
        self.0.insert(key)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn remove_all(&self, keys: &mut dyn Iterator<Item = String>) {
        keys.for_each(|k| {
            self.0.remove(k.as_str());
        });
    }
    fn removal(&self) -> &'static str {
        "`remove` of each key (shrinks by itself)"
    }
}

/// `ttlru::FingerprintSet<str>`: capacity and TTL; takes `&str`.
pub struct FingerprintDedup(pub FingerprintSet<str>);

impl Dedup for FingerprintDedup {
    type Key<'a> = &'a str;
    fn name(&self) -> String {
        "ttlru::FingerprintSet".into()
    }
    fn insert_if_absent(&self, key: &str) -> bool {
        self.0.insert(key)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn remove_all(&self, keys: &mut dyn Iterator<Item = String>) {
        keys.for_each(|k| {
            self.0.remove(k.as_str());
        });
    }
    fn removal(&self) -> &'static str {
        "`remove` of each key (shrinks by itself)"
    }
}

/// `Mutex<std::collections::HashSet<String>>`: unbounded, SipHash.
pub struct StdSetDedup(pub Mutex<HashSet<String>>);

impl Dedup for StdSetDedup {
    type Key<'a> = String;
    fn name(&self) -> String {
        "Mutex<std HashSet> (unbounded)".into()
    }
    fn insert_if_absent(&self, key: String) -> bool {
        self.0.lock().unwrap().insert(key)
    }
    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    fn remove_all(&self, keys: &mut dyn Iterator<Item = String>) {
        let mut set = self.0.lock().unwrap();
        keys.for_each(|k| {
            set.remove(k.as_str());
        });
    }
    fn removal(&self) -> &'static str {
        "`remove` of each key, no `shrink_to_fit` (the incident's code)"
    }
}

/// `Mutex<hashbrown::HashSet<String, ahash>>`: unbounded, no bookkeeping at all.
pub struct HashbrownDedup(pub Mutex<hashbrown::HashSet<String, ahash::RandomState>>);

impl Dedup for HashbrownDedup {
    type Key<'a> = String;
    fn name(&self) -> String {
        "Mutex<hashbrown+ahash> (unbounded)".into()
    }
    fn insert_if_absent(&self, key: String) -> bool {
        self.0.lock().unwrap().insert(key)
    }
    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    fn remove_all(&self, keys: &mut dyn Iterator<Item = String>) {
        let mut set = self.0.lock().unwrap();
        keys.for_each(|k| {
            set.remove(k.as_str());
        });
    }
    fn removal(&self) -> &'static str {
        "`remove` of each key, no `shrink_to_fit`"
    }
}

/// `dashmap::DashSet<String, ahash>`: unbounded, sharded.
pub struct DashSetDedup(pub dashmap::DashSet<String, ahash::RandomState>);

impl Dedup for DashSetDedup {
    type Key<'a> = String;
    fn name(&self) -> String {
        "DashSet+ahash (unbounded)".into()
    }
    fn insert_if_absent(&self, key: String) -> bool {
        self.0.insert(key)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn remove_all(&self, keys: &mut dyn Iterator<Item = String>) {
        keys.for_each(|k| {
            self.0.remove(k.as_str());
        });
    }
    fn removal(&self) -> &'static str {
        "`remove` of each key, no `shrink_to_fit`"
    }
}

/// `Mutex<lru::LruCache<String, ()>>`: exact LRU, capacity only.
pub struct LruDedup(pub Mutex<lru::LruCache<String, ()>>);

impl Dedup for LruDedup {
    type Key<'a> = String;
    fn name(&self) -> String {
        "Mutex<lru::LruCache>".into()
    }
    fn insert_if_absent(&self, key: String) -> bool {
        let mut lru = self.0.lock().unwrap();
        if lru.get(key.as_str()).is_some() {
            false
        } else {
            lru.put(key, ());
            true
        }
    }
    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    fn remove_all(&self, keys: &mut dyn Iterator<Item = String>) {
        let mut lru = self.0.lock().unwrap();
        keys.for_each(|k| {
            lru.pop(k.as_str());
        });
    }
    fn removal(&self) -> &'static str {
        "`pop` of each key"
    }
}

/// `moka::sync::Cache<String, ()>`: capacity and TTL, either policy.
pub struct MokaDedup {
    cache: moka::sync::Cache<String, ()>,
    policy: &'static str,
}

impl MokaDedup {
    fn new(capacity: usize, policy: EvictionPolicy, label: &'static str) -> Self {
        MokaDedup {
            cache: moka::sync::Cache::builder()
                .max_capacity(capacity as u64)
                .time_to_live(DEDUP_TTL)
                .eviction_policy(policy)
                .build(),
            policy: label,
        }
    }
}

impl Dedup for MokaDedup {
    type Key<'a> = String;
    fn name(&self) -> String {
        format!("moka ({})", self.policy)
    }
    fn insert_if_absent(&self, key: String) -> bool {
        self.cache.entry(key).or_insert(()).is_fresh()
    }
    fn len(&self) -> usize {
        self.cache.entry_count() as usize
    }
    fn settle(&self) {
        self.cache.run_pending_tasks();
    }
    fn remove_all(&self, _keys: &mut dyn Iterator<Item = String>) {
        self.cache.invalidate_all();
        self.cache.run_pending_tasks();
    }
    fn removal(&self) -> &'static str {
        "`invalidate_all` + `run_pending_tasks`"
    }
}

/// `quick_cache::sync::Cache<String, ()>`: capacity only; takes `&str` and copies
/// it on a miss. Insert-if-absent through the placeholder guard (atomic).
pub struct QuickDedup(pub quick_cache::sync::Cache<String, ()>);

impl Dedup for QuickDedup {
    type Key<'a> = &'a str;
    fn name(&self) -> String {
        "quick_cache".into()
    }
    fn insert_if_absent(&self, key: &str) -> bool {
        match self.0.get_value_or_guard(key, None) {
            GuardResult::Value(()) => false,
            GuardResult::Guard(guard) => {
                let _ = guard.insert(());
                true
            }
            GuardResult::Timeout => unreachable!("no timeout was given"),
        }
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn remove_all(&self, keys: &mut dyn Iterator<Item = String>) {
        keys.for_each(|k| {
            self.0.remove(k.as_str());
        });
    }
    fn removal(&self) -> &'static str {
        "`remove` of each key"
    }
}

// ---------------------------------------------------------------------------
// Get-then-insert caches (zipf)
// ---------------------------------------------------------------------------

/// A `u64 → u64` cache used cache-aside: `get`, and `insert` on a miss.
pub trait GetInsert: Sync {
    /// The row label.
    fn name(&self) -> String;
    /// `get(key)`; on a miss `insert(key, key)`. `true` on a hit.
    fn get_or_insert(&self, key: u64) -> bool;
    /// Entries held.
    fn len(&self) -> usize;
    /// Finishes deferred work (moka's pending tasks).
    fn settle(&self) {}
    /// Removes every key, the way a user of this structure would.
    fn remove_all(&self, keys: &mut dyn Iterator<Item = u64>);
    /// How [`remove_all`](Self::remove_all) does it.
    fn removal(&self) -> &'static str;
}

/// Receives each get-then-insert cache's constructor, in report order.
pub trait GetInsertVisitor {
    /// One cache; `make` builds a fresh, empty one.
    fn visit<C: GetInsert + 'static>(&mut self, make: impl Fn() -> C + Send + Sync + 'static);
}

/// Hands every zipf cache (capacity `capacity`, no TTL) to `visitor`.
pub fn each_get_insert(capacity: usize, visitor: &mut impl GetInsertVisitor) {
    visitor.visit(move || TtlruMap(Cache::new(capacity as u64)));
    visitor.visit(move || LruMap(Mutex::new(lru::LruCache::new(nonzero(capacity)))));
    visitor.visit(move || MokaMap::new(capacity, EvictionPolicy::tiny_lfu(), "TinyLFU"));
    visitor.visit(move || MokaMap::new(capacity, EvictionPolicy::lru(), "LRU"));
    visitor.visit(move || QuickMap(quick_cache::sync::Cache::new(capacity)));
}

/// Runs `keys` against `c` from `threads` threads; returns wall time and hits.
pub fn run_get_insert<C: GetInsert>(c: &C, keys: &mut [u64], threads: usize) -> (Duration, u64) {
    run_split(keys, threads, |key| u64::from(c.get_or_insert(*key)))
}

/// Like [`dedup_memory`], for `u64 → u64` caches: `n` distinct keys.
pub fn get_insert_memory<C: GetInsert>(
    make: impl Fn() -> C,
    n: usize,
    live: &dyn Fn() -> isize,
) -> Memory {
    let base = live();
    let c = make();
    for id in 0..n as u64 {
        c.get_or_insert(splitmix64(id));
    }
    c.settle();
    let len = c.len();
    let peak = live() - base;
    c.remove_all(&mut (0..n as u64).map(splitmix64));
    c.settle();
    let kept = live() - base;
    Memory { len, peak, kept }
}

/// `ttlru::Cache<u64, u64>`, default shards.
pub struct TtlruMap(pub Cache<u64, u64>);

impl GetInsert for TtlruMap {
    fn name(&self) -> String {
        "ttlru::Cache".into()
    }
    fn get_or_insert(&self, key: u64) -> bool {
        if self.0.get(&key).is_some() {
            true
        } else {
            self.0.insert(key, key);
            false
        }
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn remove_all(&self, keys: &mut dyn Iterator<Item = u64>) {
        keys.for_each(|k| {
            self.0.remove(&k);
        });
    }
    fn removal(&self) -> &'static str {
        "`remove` of each key"
    }
}

/// `Mutex<lru::LruCache<u64, u64>>`; get and put under one lock.
pub struct LruMap(pub Mutex<lru::LruCache<u64, u64>>);

impl GetInsert for LruMap {
    fn name(&self) -> String {
        "Mutex<lru::LruCache>".into()
    }
    fn get_or_insert(&self, key: u64) -> bool {
        let mut lru = self.0.lock().unwrap();
        if lru.get(&key).is_some() {
            true
        } else {
            lru.put(key, key);
            false
        }
    }
    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    fn remove_all(&self, keys: &mut dyn Iterator<Item = u64>) {
        let mut lru = self.0.lock().unwrap();
        keys.for_each(|k| {
            lru.pop(&k);
        });
    }
    fn removal(&self) -> &'static str {
        "`pop` of each key"
    }
}

/// `moka::sync::Cache<u64, u64>`, either policy.
pub struct MokaMap {
    cache: moka::sync::Cache<u64, u64>,
    policy: &'static str,
}

impl MokaMap {
    fn new(capacity: usize, policy: EvictionPolicy, label: &'static str) -> Self {
        MokaMap {
            cache: moka::sync::Cache::builder()
                .max_capacity(capacity as u64)
                .eviction_policy(policy)
                .build(),
            policy: label,
        }
    }
}

impl GetInsert for MokaMap {
    fn name(&self) -> String {
        format!("moka ({})", self.policy)
    }
    fn get_or_insert(&self, key: u64) -> bool {
        if self.cache.get(&key).is_some() {
            true
        } else {
            self.cache.insert(key, key);
            false
        }
    }
    fn len(&self) -> usize {
        self.cache.entry_count() as usize
    }
    fn settle(&self) {
        self.cache.run_pending_tasks();
    }
    fn remove_all(&self, _keys: &mut dyn Iterator<Item = u64>) {
        self.cache.invalidate_all();
        self.cache.run_pending_tasks();
    }
    fn removal(&self) -> &'static str {
        "`invalidate_all` + `run_pending_tasks`"
    }
}

/// `quick_cache::sync::Cache<u64, u64>`.
pub struct QuickMap(pub quick_cache::sync::Cache<u64, u64>);

impl GetInsert for QuickMap {
    fn name(&self) -> String {
        "quick_cache".into()
    }
    fn get_or_insert(&self, key: u64) -> bool {
        if self.0.get(&key).is_some() {
            true
        } else {
            self.0.insert(key, key);
            false
        }
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn remove_all(&self, keys: &mut dyn Iterator<Item = u64>) {
        keys.for_each(|k| {
            self.0.remove(&k);
        });
    }
    fn removal(&self) -> &'static str {
        "`remove` of each key"
    }
}

// ---------------------------------------------------------------------------
// Expire
// ---------------------------------------------------------------------------

/// Where an expire run is; the caller's probe reads memory at each point (read
/// the baseline before calling).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Filled, every write applied, nothing expired yet.
    Filled,
    /// Cleanup finished: the cache is empty (the cache is still alive).
    Cleaned,
}

/// One expire run.
#[derive(Clone, Copy, Debug)]
pub struct ExpireRun {
    /// The timed cleanup.
    pub cleanup: Duration,
    /// Entries removed by the cleanup.
    pub removed: u64,
    /// Entries held when filled.
    pub filled: u64,
}

/// `ttlru::Cache<u64, u64>` with a 1 s TTL on a [`ManualClock`]: fill with `n`
/// entries, advance the clock 2 s, time `purge_expired()`.
pub fn expire_ttlru(n: usize, probe: &mut dyn FnMut(Phase, &Cache<u64, u64>)) -> ExpireRun {
    let clock = ManualClock::new();
    let cache: Cache<u64, u64> = Cache::builder()
        .time_to_live(Duration::from_secs(1))
        .clock(clock.clone())
        .build();
    for id in 0..n as u64 {
        cache.insert(splitmix64(id), id);
    }
    let filled = cache.len() as u64;
    probe(Phase::Filled, &cache);
    clock.advance(Duration::from_secs(2));
    let start = Instant::now();
    let removed = cache.purge_expired() as u64;
    let cleanup = start.elapsed();
    assert_eq!(cache.len(), 0, "ttlru: entries left after purge_expired");
    probe(Phase::Cleaned, &cache);
    ExpireRun {
        cleanup,
        removed,
        filled,
    }
}

/// `moka::sync::Cache<u64, u64>` (default policy, no capacity) with a real-clock
/// TTL: fill with `n` entries, apply every pending write (untimed), sleep past the
/// TTL, then time `run_pending_tasks()` until `entry_count() == 0`. The TTL starts
/// at `ttl` and doubles while the fill takes so long that entries expire during it.
pub fn expire_moka(
    n: usize,
    mut ttl: Duration,
    probe: &mut dyn FnMut(Phase, &moka::sync::Cache<u64, u64>),
) -> ExpireRun {
    loop {
        let cache: moka::sync::Cache<u64, u64> =
            moka::sync::Cache::builder().time_to_live(ttl).build();
        let fill_start = Instant::now();
        for id in 0..n as u64 {
            cache.insert(splitmix64(id), id);
        }
        cache.run_pending_tasks();
        let filled = cache.entry_count();
        if filled < n as u64 || fill_start.elapsed() >= ttl {
            ttl *= 2;
            continue;
        }
        probe(Phase::Filled, &cache);
        // The last insert expires at most `ttl` after now.
        thread::sleep(ttl + Duration::from_millis(50));
        let start = Instant::now();
        loop {
            cache.run_pending_tasks();
            if cache.entry_count() == 0 {
                break;
            }
        }
        let cleanup = start.elapsed();
        probe(Phase::Cleaned, &cache);
        return ExpireRun {
            cleanup,
            removed: filled,
            filled,
        };
    }
}
