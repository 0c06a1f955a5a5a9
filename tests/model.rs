//! Model-based property tests: `Cache<u8, u32>` and `SeenSet<u8>` against [`Model`],
//! a plain reference model (a `Vec` of entries in recency order, each with key, value,
//! weight and deadlines, time in whole milliseconds).
//!
//! Each property builds a one-shard cache (or set) on a `ManualClock`, with an eviction
//! listener that logs every `(key, value, cause)`, runs a random sequence of 30 to 60
//! operations (keys from `0..12`, so replacements and collisions are frequent) on both
//! it and the model, and after every step asserts:
//! - every return value: `insert`'s previous value, `get`, `peek`, `contains*`,
//!   `remove`, `get_or_insert_with`'s value and whether its closure ran,
//!   `SeenSet::insert`, `purge_expired`'s count;
//! - the removals reported by the listener during that step: every removal the model
//!   makes must be reported with its cause; the only other reports allowed are
//!   `Expired` for entries the model holds that are already expired (the crate's
//!   budgeted background expiry, which the model does not predict: it learns of it
//!   from these reports and drops those entries too);
//! - `len()` equals exactly the number of entries the model holds (live ones plus
//!   expired ones not yet removed), so `live <= len() <= live + expired`, and right
//!   after `purge_expired` or `clear`, `len()` is the live count;
//! - `stats()`: hits, misses, inserts, evictions, expirations, removals and len; no
//!   table buckets left after `clear`, and a fitted table after `shrink_to_fit`.
//!
//! At the end `purge_expired()` and `clear()` run, and the multiset of everything the
//! listener reported must equal the model's removals exactly.
//!
//! Properties: `Cache` with capacity only, per-entry TTLs only, TTL, TTI, TTL + TTI,
//! and a weigher + TTL; `SeenSet` with capacity only, TTL, TTI, and a weigher (the
//! capacities include 0, 1 and unbounded); both on a scale of days (times up to 1000
//! days: far deadlines, deadline rebases, the timer wheel's overflow, the clock's
//! saturation); and both with any `u8` key and runs of up to 120 inserts or removes,
//! so that tables and slabs grow and shrink (swap-removes, rehashes).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use ttlru::{Cache, ManualClock, RemovalCause, SeenSet, Stats};

/// A deadline that never comes.
const NEVER: u64 = u64::MAX;
const DAY: Duration = Duration::from_secs(24 * 3600);

/// What the listener reports: key, value (0 for a `SeenSet`), cause.
type Event = (u8, u32, RemovalCause);
type Log = Arc<Mutex<Vec<Event>>>;
type Weigher = fn(u8, u32) -> u32;

/// Weights 0..=6 (0 counts as 1), and now and then one heavier than any capacity.
fn cache_weight(_key: u8, value: u32) -> u32 {
    if value >= 990 { u32::MAX } else { value % 7 }
}

/// Key-derived weights 0..=3 (0 counts as 1); key 11 is heavier than any capacity.
fn seen_weight(key: u8, _value: u32) -> u32 {
    if key == 11 { 1000 } else { u32::from(key % 4) }
}

/// A duration in whole milliseconds, rounded up (saturating).
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

/// How a cache or set is built.
#[derive(Clone, Copy, Debug)]
struct Setup {
    capacity: Option<u64>,
    ttl: Option<u64>,
    tti: Option<u64>,
    weigher: Option<Weigher>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    key: u8,
    value: u32,
    weight: u64,
    /// The deadline set by the last write alone (its time to live).
    write_deadline: u64,
    /// min(write deadline, last access + time to idle).
    deadline: u64,
}

/// The reference: what the one shard holds, in recency order, and what left it.
struct Model {
    clock_nanos: u64,
    capacity: u64,
    ttl: Option<u64>,
    tti: Option<u64>,
    weigher: Option<Weigher>,
    /// Every entry the crate holds (expired ones included), most recent first.
    entries: Vec<Entry>,
    hits: u64,
    misses: u64,
    inserts: u64,
    /// Removals made by the current step, to be matched with the listener's reports.
    pending: Vec<Event>,
    /// Every removal so far.
    removed: Vec<Event>,
}

impl Model {
    fn new(setup: Setup) -> Self {
        Model {
            clock_nanos: 0,
            capacity: setup.capacity.unwrap_or(u64::MAX),
            ttl: setup.ttl,
            tti: setup.tti,
            weigher: setup.weigher,
            entries: Vec::new(),
            hits: 0,
            misses: 0,
            inserts: 0,
            pending: Vec::new(),
            removed: Vec::new(),
        }
    }

    fn now(&self) -> u64 {
        self.clock_nanos / 1_000_000
    }

    fn advance(&mut self, by: Duration) {
        // `ManualClock` saturates at u64::MAX nanoseconds (about 584 years).
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.clock_nanos = self.clock_nanos.saturating_add(by);
    }

    fn is_expired(&self, entry: &Entry) -> bool {
        entry.deadline <= self.now()
    }

    fn expired_count(&self) -> usize {
        self.entries.iter().filter(|e| self.is_expired(e)).count()
    }

    fn total_weight(&self) -> u64 {
        self.entries.iter().map(|e| e.weight).sum()
    }

    fn weight(&self, key: u8, value: u32) -> u64 {
        self.weigher.map_or(1, |w| u64::from(w(key, value).max(1)))
    }

    /// Takes entry `i` out, as removed for `cause`.
    fn take(&mut self, i: usize, cause: RemovalCause) -> Entry {
        let entry = self.entries.remove(i);
        self.pending.push((entry.key, entry.value, cause));
        entry
    }

    /// The position of the live entry for `key`; an expired one is removed.
    fn find_live(&mut self, key: u8) -> Option<usize> {
        let i = self.entries.iter().position(|e| e.key == key)?;
        if self.is_expired(&self.entries[i]) {
            self.take(i, RemovalCause::Expired);
            return None;
        }
        Some(i)
    }

    /// An access: most recent, and with a time to idle, a later deadline.
    fn touch(&mut self, i: usize) {
        let mut entry = self.entries.remove(i);
        if let Some(tti) = self.tti {
            entry.deadline = entry.write_deadline.min(self.now().saturating_add(tti));
        }
        self.entries.insert(0, entry);
    }

    /// `get`, `get_or_insert_with`'s lookup, `SeenSet::insert`'s lookup.
    fn access(&mut self, key: u8) -> Option<u32> {
        match self.find_live(key) {
            Some(i) => {
                self.hits += 1;
                let value = self.entries[i].value;
                self.touch(i);
                Some(value)
            }
            None => {
                self.misses += 1;
                None
            }
        }
    }

    /// `peek` and `contains*`.
    fn peek(&mut self, key: u8) -> Option<u32> {
        self.find_live(key).map(|i| self.entries[i].value)
    }

    /// (write deadline, deadline) of a write now.
    fn deadlines(&self, ttl: Option<u64>) -> (u64, u64) {
        let now = self.now();
        let write = ttl.or(self.ttl).map_or(NEVER, |t| now.saturating_add(t));
        let idle = self.tti.map_or(NEVER, |t| now.saturating_add(t));
        (write, write.min(idle))
    }

    /// Why a write is not kept, if it is not.
    fn refusal(&self, weight: u64, deadline: u64) -> Option<RemovalCause> {
        if weight > self.capacity {
            Some(RemovalCause::Evicted)
        } else if deadline <= self.now() {
            Some(RemovalCause::Expired)
        } else {
            None
        }
    }

    /// Over capacity: every expired entry goes, then the least recently used.
    fn evict_to_capacity(&mut self) {
        if self.total_weight() <= self.capacity {
            return;
        }
        let mut i = 0;
        while i < self.entries.len() {
            if self.is_expired(&self.entries[i]) {
                self.take(i, RemovalCause::Expired);
            } else {
                i += 1;
            }
        }
        while self.total_weight() > self.capacity {
            self.take(self.entries.len() - 1, RemovalCause::Evicted);
        }
    }

    /// A write of a key that has no live entry.
    fn insert_new(&mut self, key: u8, value: u32, ttl: Option<u64>) {
        self.inserts += 1;
        let weight = self.weight(key, value);
        let (write_deadline, deadline) = self.deadlines(ttl);
        if let Some(cause) = self.refusal(weight, deadline) {
            self.pending.push((key, value, cause));
            return;
        }
        self.entries.insert(
            0,
            Entry {
                key,
                value,
                weight,
                write_deadline,
                deadline,
            },
        );
        self.evict_to_capacity();
    }

    /// `Cache::insert` / `insert_with_ttl`.
    fn insert(&mut self, key: u8, value: u32, ttl: Option<u64>) -> Option<u32> {
        let Some(i) = self.find_live(key) else {
            self.insert_new(key, value, ttl);
            return None;
        };
        self.inserts += 1;
        let weight = self.weight(key, value);
        let (write_deadline, deadline) = self.deadlines(ttl);
        let mut entry = self.entries.remove(i);
        let old = entry.value;
        self.pending.push((key, old, RemovalCause::Replaced));
        if let Some(cause) = self.refusal(weight, deadline) {
            self.pending.push((key, value, cause));
            return Some(old);
        }
        entry.value = value;
        entry.weight = weight;
        entry.write_deadline = write_deadline;
        entry.deadline = deadline;
        self.entries.insert(0, entry);
        self.evict_to_capacity();
        Some(old)
    }

    /// `get_or_insert_with(key, || value)`: the value returned, and whether it ran.
    fn get_or_insert_with(&mut self, key: u8, value: u32) -> (u32, bool) {
        match self.access(key) {
            Some(found) => (found, false),
            None => {
                self.insert_new(key, value, None);
                (value, true)
            }
        }
    }

    fn remove(&mut self, key: u8) -> Option<u32> {
        let i = self.find_live(key)?;
        Some(self.take(i, RemovalCause::Removed).value)
    }

    /// `SeenSet::insert` / `insert_with_ttl`.
    fn seen_insert(&mut self, key: u8, ttl: Option<u64>) -> bool {
        if self.access(key).is_some() {
            return false;
        }
        self.insert_new(key, 0, ttl);
        true
    }

    fn purge_expired(&mut self) -> usize {
        let before = self.entries.len();
        let mut i = 0;
        while i < self.entries.len() {
            if self.is_expired(&self.entries[i]) {
                self.take(i, RemovalCause::Expired);
            } else {
                i += 1;
            }
        }
        before - self.entries.len()
    }

    fn clear(&mut self) {
        while !self.entries.is_empty() {
            self.take(0, RemovalCause::Cleared);
        }
    }

    fn count(&self, cause: RemovalCause) -> u64 {
        self.removed.iter().filter(|e| e.2 == cause).count() as u64
    }

    /// Matches what the listener reported during one step with the model's removals
    /// (any extra report must be the background expiry of an expired entry), then
    /// compares `len()` and `stats()`.
    fn check_step(
        &mut self,
        reported: Vec<Event>,
        len: usize,
        stats: Stats,
    ) -> Result<(), TestCaseError> {
        let mut extra = reported;
        for event in std::mem::take(&mut self.pending) {
            let found = extra.iter().position(|e| *e == event);
            prop_assert!(
                found.is_some(),
                "removal {:?} not reported (reported: {:?})",
                event,
                extra
            );
            extra.swap_remove(found.unwrap());
            self.removed.push(event);
        }
        for event in extra {
            let (key, value, cause) = event;
            let held = self.entries.iter().position(|e| e.key == key);
            let ok = cause == RemovalCause::Expired
                && held.is_some_and(|i| {
                    self.entries[i].value == value && self.is_expired(&self.entries[i])
                });
            prop_assert!(
                ok,
                "unexpected removal {:?} (model holds {:?}, now {})",
                event,
                held.map(|i| self.entries[i]),
                self.now()
            );
            self.entries.remove(held.unwrap());
            self.removed.push(event);
        }
        let live = self.entries.len() - self.expired_count();
        prop_assert!(live <= len && len <= self.entries.len());
        prop_assert_eq!(len, self.entries.len(), "len()");
        if self.capacity != u64::MAX {
            prop_assert!(self.total_weight() <= self.capacity);
        }
        prop_assert_eq!(stats.len, len as u64, "stats.len");
        prop_assert_eq!(stats.hits, self.hits, "stats.hits");
        prop_assert_eq!(stats.misses, self.misses, "stats.misses");
        prop_assert_eq!(stats.inserts, self.inserts, "stats.inserts");
        prop_assert_eq!(
            stats.evictions,
            self.count(RemovalCause::Evicted),
            "stats.evictions"
        );
        prop_assert_eq!(
            stats.expirations,
            self.count(RemovalCause::Expired),
            "stats.expirations"
        );
        prop_assert_eq!(
            stats.removals,
            self.count(RemovalCause::Removed) + self.count(RemovalCause::Cleared),
            "stats.removals"
        );
        Ok(())
    }
}

/// After `shrink_to_fit`, the table fits the entries (none at all when empty).
fn check_fits(stats: Stats) -> Result<(), TestCaseError> {
    let bound = if stats.len == 0 {
        0
    } else {
        (4 * stats.len).max(8)
    };
    prop_assert!(
        stats.table_buckets <= bound,
        "{} buckets for {} entries after shrink_to_fit",
        stats.table_buckets,
        stats.len
    );
    Ok(())
}

fn cause_rank(cause: RemovalCause) -> u8 {
    match cause {
        RemovalCause::Expired => 0,
        RemovalCause::Evicted => 1,
        RemovalCause::Removed => 2,
        RemovalCause::Replaced => 3,
        RemovalCause::Cleared => 4,
        // RemovalCause is non-exhaustive; the model knows only the causes above.
        other => panic!("a removal cause the model does not know: {other:?}"),
    }
}

fn sorted(events: &[Event]) -> Vec<(u8, u32, u8)> {
    let mut events: Vec<_> = events
        .iter()
        .map(|&(k, v, c)| (k, v, cause_rank(c)))
        .collect();
    events.sort_unstable();
    events
}

fn drain(log: &Log, all: &mut Vec<Event>) -> Vec<Event> {
    let events = std::mem::take(&mut *log.lock().unwrap());
    all.extend_from_slice(&events);
    events
}

#[derive(Clone, Debug)]
enum CacheOp {
    Insert(u8, u32),
    InsertWithTtl(u8, u32, Duration),
    Get(u8),
    Peek(u8),
    ContainsKey(u8),
    GetOrInsertWith(u8, u32),
    Remove(u8),
    Clear,
    PurgeExpired,
    ShrinkToFit,
    Advance(Duration),
}

#[derive(Clone, Debug)]
enum SeenOp {
    Insert(u8),
    InsertWithTtl(u8, Duration),
    Contains(u8),
    Remove(u8),
    Clear,
    PurgeExpired,
    ShrinkToFit,
    Advance(Duration),
}

fn build_cache(setup: Setup, clock: &ManualClock, log: &Log) -> Cache<u8, u32> {
    let sink = log.clone();
    let mut builder = Cache::<u8, u32>::builder()
        .shards(1)
        .clock(clock.clone())
        .eviction_listener(move |k: &u8, v: u32, cause| sink.lock().unwrap().push((*k, v, cause)));
    if let Some(capacity) = setup.capacity {
        builder = builder.max_capacity(capacity);
    }
    if let Some(ttl) = setup.ttl {
        builder = builder.time_to_live(Duration::from_millis(ttl));
    }
    if let Some(tti) = setup.tti {
        builder = builder.time_to_idle(Duration::from_millis(tti));
    }
    if let Some(weigher) = setup.weigher {
        builder = builder.weigher(move |k: &u8, v: &u32| weigher(*k, *v));
    }
    let cache = builder.build();
    assert_eq!(cache.shard_count(), 1);
    cache
}

fn build_seen(setup: Setup, clock: &ManualClock, log: &Log) -> SeenSet<u8> {
    let sink = log.clone();
    let mut builder = SeenSet::<u8>::builder()
        .shards(1)
        .clock(clock.clone())
        .eviction_listener(move |k: &u8, cause| sink.lock().unwrap().push((*k, 0, cause)));
    if let Some(capacity) = setup.capacity {
        builder = builder.max_capacity(capacity);
    }
    if let Some(ttl) = setup.ttl {
        builder = builder.time_to_live(Duration::from_millis(ttl));
    }
    if let Some(tti) = setup.tti {
        builder = builder.time_to_idle(Duration::from_millis(tti));
    }
    if let Some(weigher) = setup.weigher {
        builder = builder.weigher(move |k: &u8| weigher(*k, 0));
    }
    let seen = builder.build();
    assert_eq!(seen.shard_count(), 1);
    seen
}

/// Runs `ops` on a cache built from `setup` and on the model, checking every step.
fn run_cache(setup: Setup, ops: &[CacheOp]) -> Result<(), TestCaseError> {
    let clock = ManualClock::new();
    let log: Log = Arc::default();
    let cache = build_cache(setup, &clock, &log);
    let mut model = Model::new(setup);
    let mut all = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        match *op {
            CacheOp::Insert(k, v) => {
                prop_assert_eq!(
                    cache.insert(k, v),
                    model.insert(k, v, None),
                    "step {}: {:?}",
                    step,
                    op
                );
            }
            CacheOp::InsertWithTtl(k, v, ttl) => {
                let expected = model.insert(k, v, Some(millis(ttl)));
                prop_assert_eq!(
                    cache.insert_with_ttl(k, v, ttl),
                    expected,
                    "step {}: {:?}",
                    step,
                    op
                );
            }
            CacheOp::Get(k) => {
                prop_assert_eq!(cache.get(&k), model.access(k), "step {}: {:?}", step, op);
            }
            CacheOp::Peek(k) => {
                prop_assert_eq!(cache.peek(&k), model.peek(k), "step {}: {:?}", step, op);
            }
            CacheOp::ContainsKey(k) => {
                let expected = model.peek(k).is_some();
                prop_assert_eq!(cache.contains_key(&k), expected, "step {}: {:?}", step, op);
            }
            CacheOp::GetOrInsertWith(k, v) => {
                let mut ran = false;
                let got = cache.get_or_insert_with(k, || {
                    ran = true;
                    v
                });
                prop_assert_eq!(
                    (got, ran),
                    model.get_or_insert_with(k, v),
                    "step {}: {:?}",
                    step,
                    op
                );
            }
            CacheOp::Remove(k) => {
                prop_assert_eq!(cache.remove(&k), model.remove(k), "step {}: {:?}", step, op);
            }
            CacheOp::Clear => {
                cache.clear();
                model.clear();
                prop_assert_eq!(cache.stats().table_buckets, 0, "clear frees the table");
            }
            CacheOp::PurgeExpired => {
                prop_assert_eq!(
                    cache.purge_expired(),
                    model.purge_expired(),
                    "step {}: {:?}",
                    step,
                    op
                );
            }
            CacheOp::ShrinkToFit => {
                cache.shrink_to_fit();
                check_fits(cache.stats())?;
            }
            CacheOp::Advance(by) => {
                clock.advance(by);
                model.advance(by);
            }
        }
        let reported = drain(&log, &mut all);
        model
            .check_step(reported, cache.len(), cache.stats())
            .map_err(|e| TestCaseError::fail(format!("step {step} ({op:?}): {e}")))?;
        prop_assert_eq!(cache.is_empty(), model.entries.is_empty());
    }
    prop_assert_eq!(
        cache.purge_expired(),
        model.purge_expired(),
        "final purge_expired"
    );
    let reported = drain(&log, &mut all);
    model.check_step(reported, cache.len(), cache.stats())?;
    prop_assert_eq!(cache.len(), model.entries.len());
    cache.clear();
    model.clear();
    let reported = drain(&log, &mut all);
    model.check_step(reported, cache.len(), cache.stats())?;
    prop_assert_eq!(cache.len(), 0);
    prop_assert_eq!(
        sorted(&all),
        sorted(&model.removed),
        "every removal, exactly once"
    );
    Ok(())
}

/// Runs `ops` on a seen set built from `setup` and on the model, checking every step.
fn run_seen(setup: Setup, ops: &[SeenOp]) -> Result<(), TestCaseError> {
    let clock = ManualClock::new();
    let log: Log = Arc::default();
    let seen = build_seen(setup, &clock, &log);
    let mut model = Model::new(setup);
    let mut all = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        match *op {
            SeenOp::Insert(k) => {
                prop_assert_eq!(
                    seen.insert(k),
                    model.seen_insert(k, None),
                    "step {}: {:?}",
                    step,
                    op
                );
            }
            SeenOp::InsertWithTtl(k, ttl) => {
                let expected = model.seen_insert(k, Some(millis(ttl)));
                prop_assert_eq!(
                    seen.insert_with_ttl(k, ttl),
                    expected,
                    "step {}: {:?}",
                    step,
                    op
                );
            }
            SeenOp::Contains(k) => {
                let expected = model.peek(k).is_some();
                prop_assert_eq!(seen.contains(&k), expected, "step {}: {:?}", step, op);
            }
            SeenOp::Remove(k) => {
                let expected = model.remove(k).is_some();
                prop_assert_eq!(seen.remove(&k), expected, "step {}: {:?}", step, op);
            }
            SeenOp::Clear => {
                seen.clear();
                model.clear();
                prop_assert_eq!(seen.stats().table_buckets, 0, "clear frees the table");
            }
            SeenOp::PurgeExpired => {
                prop_assert_eq!(
                    seen.purge_expired(),
                    model.purge_expired(),
                    "step {}: {:?}",
                    step,
                    op
                );
            }
            SeenOp::ShrinkToFit => {
                seen.shrink_to_fit();
                check_fits(seen.stats())?;
            }
            SeenOp::Advance(by) => {
                clock.advance(by);
                model.advance(by);
            }
        }
        let reported = drain(&log, &mut all);
        model
            .check_step(reported, seen.len(), seen.stats())
            .map_err(|e| TestCaseError::fail(format!("step {step} ({op:?}): {e}")))?;
        prop_assert_eq!(seen.is_empty(), model.entries.is_empty());
    }
    prop_assert_eq!(
        seen.purge_expired(),
        model.purge_expired(),
        "final purge_expired"
    );
    let reported = drain(&log, &mut all);
    model.check_step(reported, seen.len(), seen.stats())?;
    seen.clear();
    model.clear();
    let reported = drain(&log, &mut all);
    model.check_step(reported, seen.len(), seen.stats())?;
    prop_assert_eq!(seen.len(), 0);
    prop_assert_eq!(
        sorted(&all),
        sorted(&model.removed),
        "every removal, exactly once"
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Strategies

/// Keys from `0..12` (frequent collisions), or with `wide`, any `u8` (enough entries
/// for tables and slabs to grow and shrink).
fn key(wide: bool) -> BoxedStrategy<u8> {
    if wide {
        any::<u8>().boxed()
    } else {
        (0..12u8).boxed()
    }
}

fn value() -> impl Strategy<Value = u32> {
    0..1000u32
}

/// Capacities for unit weights: 0, 1, small, room for every key, unbounded.
fn capacity() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![
        1 => Just(Some(0)),
        2 => Just(Some(1)),
        5 => (2..8u64).prop_map(Some),
        1 => Just(Some(12)),
        1 => Just(None),
    ]
}

/// Capacities for weighted entries.
fn weighted_capacity() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![
        1 => Just(Some(0)),
        1 => Just(Some(1)),
        8 => (2..25u64).prop_map(Some),
        1 => Just(None),
    ]
}

/// A cache-wide time to live or idle, in ms: rarely zero, often short (so that
/// deadlines are hit exactly), mostly up to 3 s.
fn policy_time() -> impl Strategy<Value = u64> {
    prop_oneof![1 => Just(0u64), 10 => 1..=20u64, 20 => 1..=3000u64]
}

/// A per-entry time to live: zero, sub-millisecond, small, far (past the 4-byte
/// deadline range), beyond the timer wheel's reach, and `Duration::MAX`.
fn entry_ttl() -> impl Strategy<Value = Duration> {
    prop_oneof![
        2 => Just(Duration::ZERO),
        2 => (1..5000u64).prop_map(Duration::from_micros),
        8 => (1..3000u64).prop_map(Duration::from_millis),
        1 => Just(DAY * 60),
        1 => Just(DAY * 1000),
        2 => Just(Duration::MAX),
    ]
}

/// Clock steps: 0..3 s in ms (small ones more often), sub-ms, and now and then 400 days.
fn advance() -> impl Strategy<Value = Duration> {
    prop_oneof![
        4 => (0..50u64).prop_map(Duration::from_millis),
        4 => (0..3000u64).prop_map(Duration::from_millis),
        1 => (0..2000u64).prop_map(Duration::from_micros),
        1 => Just(DAY * 400),
    ]
}

/// Times on a scale of days, for the long-horizon properties: up to 1000 days (past
/// the 4-byte deadline range, the deadline rebase and the timer wheel's ~795 days).
fn long_time() -> impl Strategy<Value = u64> {
    const DAY_MS: u64 = 24 * 3_600_000;
    prop_oneof![
        1 => 1..=3000u64,
        3 => 1..=1000 * DAY_MS,
        1 => (1..=1000u64).prop_map(|days| days * DAY_MS),
    ]
}

fn long_entry_ttl() -> impl Strategy<Value = Duration> {
    prop_oneof![
        1 => Just(Duration::ZERO),
        8 => long_time().prop_map(Duration::from_millis),
        1 => Just(Duration::MAX),
    ]
}

/// Clock steps of up to 500 days, and now and then `Duration::MAX` (the clock
/// saturates at about 584 years; later steps change nothing).
fn long_advance() -> impl Strategy<Value = Duration> {
    prop_oneof![
        4 => (0..3000u64).prop_map(Duration::from_millis),
        8 => long_time().prop_map(|ms| Duration::from_millis(ms / 2)),
        1 => Just(Duration::MAX),
    ]
}

/// The time scale of a property's operations.
#[derive(Clone, Copy, Debug)]
enum Scale {
    /// Milliseconds to seconds, and now and then 400 days.
    Short,
    /// Days.
    Long,
}

fn ttl_for(scale: Scale) -> BoxedStrategy<Duration> {
    match scale {
        Scale::Short => entry_ttl().boxed(),
        Scale::Long => long_entry_ttl().boxed(),
    }
}

fn advance_for(scale: Scale) -> BoxedStrategy<Duration> {
    match scale {
        Scale::Short => advance().boxed(),
        Scale::Long => long_advance().boxed(),
    }
}

/// Cache operations; without `ttl_ops`, `insert_with_ttl` becomes a plain `insert`.
fn cache_op(ttl_ops: bool, scale: Scale, wide: bool) -> impl Strategy<Value = CacheOp> {
    let key = || key(wide);
    prop_oneof![
        6 => (key(), value()).prop_map(|(k, v)| CacheOp::Insert(k, v)),
        3 => (key(), value(), ttl_for(scale)).prop_map(move |(k, v, ttl)| if ttl_ops {
            CacheOp::InsertWithTtl(k, v, ttl)
        } else {
            CacheOp::Insert(k, v)
        }),
        4 => key().prop_map(CacheOp::Get),
        2 => key().prop_map(CacheOp::Peek),
        2 => key().prop_map(CacheOp::ContainsKey),
        3 => (key(), value()).prop_map(|(k, v)| CacheOp::GetOrInsertWith(k, v)),
        2 => key().prop_map(CacheOp::Remove),
        1 => Just(CacheOp::Clear),
        1 => Just(CacheOp::PurgeExpired),
        1 => Just(CacheOp::ShrinkToFit),
        4 => advance_for(scale).prop_map(CacheOp::Advance),
    ]
}

fn cache_ops(ttl_ops: bool) -> impl Strategy<Value = Vec<CacheOp>> {
    prop::collection::vec(cache_op(ttl_ops, Scale::Short, false), 30..=60)
}

fn long_cache_ops() -> impl Strategy<Value = Vec<CacheOp>> {
    prop::collection::vec(cache_op(true, Scale::Long, false), 30..=60)
}

/// Seen-set operations; without `ttl_ops`, `insert_with_ttl` becomes a plain `insert`.
fn seen_op(ttl_ops: bool, scale: Scale, wide: bool) -> impl Strategy<Value = SeenOp> {
    let key = || key(wide);
    prop_oneof![
        8 => key().prop_map(SeenOp::Insert),
        3 => (key(), ttl_for(scale)).prop_map(move |(k, ttl)| if ttl_ops {
            SeenOp::InsertWithTtl(k, ttl)
        } else {
            SeenOp::Insert(k)
        }),
        3 => key().prop_map(SeenOp::Contains),
        2 => key().prop_map(SeenOp::Remove),
        1 => Just(SeenOp::Clear),
        1 => Just(SeenOp::PurgeExpired),
        1 => Just(SeenOp::ShrinkToFit),
        4 => advance_for(scale).prop_map(SeenOp::Advance),
    ]
}

fn seen_ops(ttl_ops: bool) -> impl Strategy<Value = Vec<SeenOp>> {
    prop::collection::vec(seen_op(ttl_ops, Scale::Short, false), 30..=60)
}

fn long_seen_ops() -> impl Strategy<Value = Vec<SeenOp>> {
    prop::collection::vec(seen_op(true, Scale::Long, false), 30..=60)
}

/// A run of consecutive keys (wrapping), and the TTL to write them with, if any.
fn key_run() -> impl Strategy<Value = (Vec<u8>, Option<Duration>)> {
    (any::<u8>(), 1..=120u8, prop::option::of(entry_ttl()))
        .prop_map(|(from, count, ttl)| ((0..count).map(|i| from.wrapping_add(i)).collect(), ttl))
}

/// Any keys, with runs of inserts and removes of up to 120 keys: the table and slab
/// grow past the size where shrinking starts, and shrink again.
fn wide_cache_ops() -> impl Strategy<Value = Vec<CacheOp>> {
    let block = prop_oneof![
        6 => cache_op(true, Scale::Short, true).prop_map(|op| vec![op]),
        1 => (key_run(), value()).prop_map(|((keys, ttl), value)| keys
            .into_iter()
            .map(|k| match ttl {
                Some(ttl) => CacheOp::InsertWithTtl(k, value + u32::from(k), ttl),
                None => CacheOp::Insert(k, value + u32::from(k)),
            })
            .collect()),
        1 => key_run().prop_map(|(keys, _)| keys.into_iter().map(CacheOp::Remove).collect()),
    ];
    prop::collection::vec(block, 20..=40).prop_map(|blocks| blocks.concat())
}

/// The same for seen sets.
fn wide_seen_ops() -> impl Strategy<Value = Vec<SeenOp>> {
    let block = prop_oneof![
        6 => seen_op(true, Scale::Short, true).prop_map(|op| vec![op]),
        1 => key_run().prop_map(|(keys, ttl)| keys
            .into_iter()
            .map(|k| match ttl {
                Some(ttl) => SeenOp::InsertWithTtl(k, ttl),
                None => SeenOp::Insert(k),
            })
            .collect()),
        1 => key_run().prop_map(|(keys, _)| keys.into_iter().map(SeenOp::Remove).collect()),
    ];
    prop::collection::vec(block, 20..=40).prop_map(|blocks| blocks.concat())
}

/// Capacities for the wide-key properties.
fn wide_capacity() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![
        1 => Just(Some(1)),
        4 => (2..300u64).prop_map(Some),
        2 => Just(None),
    ]
}

/// 500 cases per property unless `PROPTEST_CASES` says otherwise; no regression files.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(500);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn setup(capacity: Option<u64>) -> Setup {
    Setup {
        capacity,
        ttl: None,
        tti: None,
        weigher: None,
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn cache_capacity_only(capacity in capacity(), ops in cache_ops(false)) {
        run_cache(setup(capacity), &ops)?;
    }

    #[test]
    fn cache_per_entry_ttl_only(capacity in capacity(), ops in cache_ops(true)) {
        run_cache(setup(capacity), &ops)?;
    }

    #[test]
    fn cache_ttl(capacity in capacity(), ttl in policy_time(), ops in cache_ops(true)) {
        run_cache(Setup { ttl: Some(ttl), ..setup(capacity) }, &ops)?;
    }

    #[test]
    fn cache_tti(capacity in capacity(), tti in policy_time(), ops in cache_ops(true)) {
        run_cache(Setup { tti: Some(tti), ..setup(capacity) }, &ops)?;
    }

    #[test]
    fn cache_ttl_and_tti(
        capacity in capacity(),
        ttl in policy_time(),
        tti in policy_time(),
        ops in cache_ops(true),
    ) {
        run_cache(Setup { ttl: Some(ttl), tti: Some(tti), ..setup(capacity) }, &ops)?;
    }

    #[test]
    fn cache_weigher_and_ttl(
        capacity in weighted_capacity(),
        ttl in policy_time(),
        ops in cache_ops(true),
    ) {
        let weigher: Weigher = cache_weight;
        run_cache(Setup { ttl: Some(ttl), weigher: Some(weigher), ..setup(capacity) }, &ops)?;
    }

    #[test]
    fn seen_capacity_only(capacity in capacity(), ops in seen_ops(false)) {
        run_seen(setup(capacity), &ops)?;
    }

    #[test]
    fn seen_ttl(capacity in capacity(), ttl in policy_time(), ops in seen_ops(true)) {
        run_seen(Setup { ttl: Some(ttl), ..setup(capacity) }, &ops)?;
    }

    #[test]
    fn seen_tti(capacity in capacity(), tti in policy_time(), ops in seen_ops(true)) {
        run_seen(Setup { tti: Some(tti), ..setup(capacity) }, &ops)?;
    }

    #[test]
    fn seen_weigher(
        capacity in weighted_capacity(),
        ttl in prop::option::of(policy_time()),
        ops in seen_ops(true),
    ) {
        let weigher: Weigher = seen_weight;
        run_seen(Setup { ttl, weigher: Some(weigher), ..setup(capacity) }, &ops)?;
    }

    #[test]
    fn cache_wide_keys(
        capacity in wide_capacity(),
        ttl in prop::option::of(policy_time()),
        tti in prop::option::of(policy_time()),
        ops in wide_cache_ops(),
    ) {
        run_cache(Setup { ttl, tti, ..setup(capacity) }, &ops)?;
    }

    #[test]
    fn seen_wide_keys(
        capacity in wide_capacity(),
        ttl in prop::option::of(policy_time()),
        tti in prop::option::of(policy_time()),
        ops in wide_seen_ops(),
    ) {
        run_seen(Setup { ttl, tti, ..setup(capacity) }, &ops)?;
    }

    #[test]
    fn cache_long_horizon(
        capacity in capacity(),
        ttl in prop::option::of(long_time()),
        tti in prop::option::of(long_time()),
        ops in long_cache_ops(),
    ) {
        run_cache(Setup { ttl, tti, ..setup(capacity) }, &ops)?;
    }

    #[test]
    fn seen_long_horizon(
        capacity in capacity(),
        ttl in prop::option::of(long_time()),
        tti in prop::option::of(long_time()),
        ops in long_seen_ops(),
    ) {
        run_seen(Setup { ttl, tti, ..setup(capacity) }, &ops)?;
    }
}
