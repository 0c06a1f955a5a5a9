//! The shards together: routing a hash to its shard, locking, reading the clock,
//! and delivering removed entries to the listener once the lock is released.
//! `Cache`, `SeenSet` and `FingerprintSet` are thin front ends over this.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::clock::Clock;
use crate::deadline::NEVER;
use crate::in_flight::{Pending, block_on};
use crate::persistence::SaveCounters;
use crate::removal::{FirstPanic, Listener, RemovalCause, RemovedEntries, deliver};
use crate::shard::{Policy, Shard, SharedLookup, WRITE_BUDGET};
use crate::shard_lock::ShardLock;
use crate::stats::Stats;
use crate::sync::RwLockWriteGuard;

/// The weigher a cache calls on each write (clamped to at least 1).
pub(crate) type Weigher<K, V> = Box<dyn Fn(&K, &V) -> u32 + Send + Sync>;

/// How many expired entries `purge_expired` removes per lock hold, so a big purge
/// never keeps a shard locked for long.
const PURGE_CHUNK: usize = 4096;

/// Where a key lives: its shard and the 32 hash bits the shard's table uses.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Route {
    shard: usize,
    hash: u32,
}

/// Everything a store is made from (assembled by the builders).
pub(crate) struct StoreConfig<K, V> {
    pub(crate) shards: usize,
    pub(crate) max_capacity: u64,
    pub(crate) policy: Policy,
    pub(crate) clock: Clock,
    pub(crate) weigher: Option<Weigher<K, V>>,
    pub(crate) listener: Option<Listener<K, V>>,
    pub(crate) name: Option<String>,
}

pub(crate) struct Store<K, V> {
    slots: Box<[ShardLock<K, V>]>,
    shard_bits: u32,
    clock: Clock,
    /// False until some entry could have a deadline: until then the clock is not read.
    expiry_in_use: AtomicBool,
    weigher: Option<Weigher<K, V>>,
    listener: Option<Listener<K, V>>,
    name: Option<String>,
    /// Whether entries have a time to idle, so a snapshot keeps write deadlines.
    time_to_idle: bool,
    /// Background snapshot saves (see `persistence`).
    save_counters: SaveCounters,
}

/// Spreads a user hash so that both its top bits (the shard) and its low 32 bits
/// (the table) depend on all of it, even for weak hashers: a folded multiply.
fn spread(hash: u64) -> u64 {
    let product = u128::from(hash) * 0x9E37_79B9_7F4A_7C15_u128;
    (product as u64) ^ ((product >> 64) as u64)
}

/// An entry on its way back from a snapshot into its shard.
pub(crate) struct Restored<K, V> {
    pub(crate) hash: u32,
    pub(crate) key: K,
    pub(crate) value: V,
    /// From the weigher, which runs before any lock is taken.
    pub(crate) weight: u32,
    /// Clock time: (write deadline, deadline).
    pub(crate) deadlines: (u64, u64),
}

impl Route {
    pub(crate) fn shard(&self) -> usize {
        self.shard
    }

    pub(crate) fn hash(&self) -> u32 {
        self.hash
    }
}

impl<K, V> Store<K, V> {
    pub(crate) fn new(config: StoreConfig<K, V>) -> Self {
        let StoreConfig {
            shards,
            max_capacity,
            policy,
            clock,
            weigher,
            listener,
            name,
        } = config;
        debug_assert!(shards.is_power_of_two());
        let count = shards as u64;
        let slots = (0..count)
            .map(|i| {
                // Shard capacities add up to exactly `max_capacity`.
                let capacity = if max_capacity == u64::MAX {
                    u64::MAX
                } else {
                    max_capacity / count + u64::from(i < max_capacity % count)
                };
                ShardLock::new(Shard::new(capacity, policy))
            })
            .collect();
        let expires = policy.time_to_live.is_some() || policy.time_to_idle.is_some();
        Store {
            slots,
            shard_bits: shards.trailing_zeros(),
            clock,
            expiry_in_use: AtomicBool::new(expires),
            weigher,
            listener,
            name,
            time_to_idle: policy.time_to_idle.is_some(),
            save_counters: SaveCounters::default(),
        }
    }

    pub(crate) fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub(crate) fn save_counters(&self) -> &SaveCounters {
        &self.save_counters
    }

    pub(crate) fn has_time_to_idle(&self) -> bool {
        self.time_to_idle
    }

    pub(crate) fn shard_count(&self) -> usize {
        self.slots.len()
    }

    /// The route for a key's full 64-bit hash.
    pub(crate) fn route(&self, hash: u64) -> Route {
        let spread = spread(hash);
        self.route_parts(spread, spread as u32)
    }

    /// A route from already uniform bits: the shard from the top of `shard_bits`,
    /// the table hash as given.
    pub(crate) fn route_parts(&self, shard_bits: u64, hash: u32) -> Route {
        let shard = shard_bits.checked_shr(64 - self.shard_bits).unwrap_or(0) as usize;
        Route { shard, hash }
    }

    fn now(&self) -> u64 {
        if self.expiry_in_use.load(Ordering::Relaxed) {
            self.clock.now_millis()
        } else {
            0
        }
    }

    /// Called before a write that carries its own time to live.
    pub(crate) fn note_expiry_in_use(&self) {
        if !self.expiry_in_use.load(Ordering::Relaxed) {
            self.expiry_in_use.store(true, Ordering::Relaxed);
        }
    }

    pub(crate) fn weigh(&self, key: &K, value: &V) -> u32 {
        self.weigher
            .as_ref()
            .map_or(1, |weigher| weigher(key, value).max(1))
    }

    pub(crate) fn has_listener(&self) -> bool {
        self.listener.is_some()
    }

    /// Runs `operation` on a shard under its lock, with the time. What it removes
    /// goes into `removed`, to be delivered once the lock is released.
    fn locked<R>(
        &self,
        shard: usize,
        removed: &mut RemovedEntries<K, V>,
        operation: impl FnOnce(&mut Shard<K, V>, u64, &mut RemovedEntries<K, V>) -> R,
    ) -> R {
        let now = self.now();
        let slot = &self.slots[shard];
        Self::exclusive(slot, slot.write(), now, removed, operation)
    }

    /// Runs `operation` in an exclusive section already entered (`guard`).
    fn exclusive<R>(
        slot: &ShardLock<K, V>,
        mut guard: RwLockWriteGuard<'_, Shard<K, V>>,
        now: u64,
        removed: &mut RemovedEntries<K, V>,
        operation: impl FnOnce(&mut Shard<K, V>, u64, &mut RemovedEntries<K, V>) -> R,
    ) -> R {
        let now = guard.observe(now);
        let result = operation(&mut guard, now, removed);
        slot.set_len(guard.len());
        drop(guard);
        result
    }

    /// An operation that is a hit when its key is live and a write otherwise
    /// (`SeenSet::insert`, `get_or_insert_with`). When the shard's exclusive lock
    /// is free at once (always, with one thread), `write` runs there, as any
    /// write would. When it is not, a shared-lock lookup comes first, and a live
    /// key is answered by `on_hit` there, its access recorded, without waiting
    /// for an exclusive section; only a miss goes on to `write`.
    fn write_unless_live<R>(
        &self,
        route: Route,
        key: K,
        on_hit: impl FnOnce(&V) -> R,
        removed: &mut RemovedEntries<K, V>,
        write: impl FnOnce(&mut Shard<K, V>, K, u64, &mut RemovedEntries<K, V>) -> R,
    ) -> R
    where
        K: Eq,
    {
        let now = self.now();
        let slot = &self.slots[route.shard];
        if let Some(guard) = slot.try_write() {
            return Self::exclusive(slot, guard, now, removed, |shard, now, removed| {
                write(shard, key, now, removed)
            });
        }
        {
            let shard = slot.read();
            let now = shard.observe(now);
            if let SharedLookup::Live(index) = shard.find_shared(route.hash, |k| *k == key, now)
                && shard.record_access(index, now)
            {
                let hit = on_hit(shard.value(index));
                drop(shard);
                drop(key); // unlocked: user Drop code never runs under a shard lock
                return hit;
            }
        }
        // Absent, expired (removed there), or this thread's access buffer is full.
        Self::exclusive(slot, slot.write(), now, removed, |shard, now, removed| {
            write(shard, key, now, removed)
        })
    }

    fn deliver(&self, removed: &mut RemovedEntries<K, V>) {
        removed.deliver(self.listener.as_ref());
    }

    /// Looks a key up and applies `read` to its live value. With `record_access`
    /// this is a `get` (hit or miss counted, recency and idle time refreshed).
    ///
    /// A live key is read under the shard's shared lock, its access (if any)
    /// recorded for the next exclusive section. An expired match, or a full
    /// access buffer, goes on to the exclusive path, which removes (and reports)
    /// the expired entry, or makes the access itself.
    pub(crate) fn read<R>(
        &self,
        route: Route,
        mut eq: impl FnMut(&K) -> bool,
        record_access: bool,
        read: impl FnOnce(&V) -> R,
    ) -> Option<R> {
        {
            let shard = self.slots[route.shard].read();
            let now = shard.observe(self.now());
            match shard.find_shared(route.hash, &mut eq, now) {
                SharedLookup::Live(index) => {
                    if !record_access || shard.record_access(index, now) {
                        return Some(read(shard.value(index)));
                    }
                }
                SharedLookup::Absent => {
                    if record_access {
                        shard.count_miss();
                    }
                    return None;
                }
                SharedLookup::Expired => {}
            }
        }
        self.read_exclusive(route, eq, record_access, read)
    }

    /// [`read`](Self::read) under the exclusive lock.
    #[cold]
    #[inline(never)]
    fn read_exclusive<R>(
        &self,
        route: Route,
        eq: impl FnMut(&K) -> bool,
        record_access: bool,
        read: impl FnOnce(&V) -> R,
    ) -> Option<R> {
        let mut removed = RemovedEntries::new();
        let result = self.locked(route.shard, &mut removed, |shard, now, removed| {
            let index = if record_access {
                shard.access(route.hash, eq, now, removed)
            } else {
                shard.find_live(route.hash, eq, now, removed)
            }?;
            Some(read(shard.value(index)))
        });
        self.deliver(&mut removed);
        result
    }

    /// `Cache::insert`: writes the entry and returns the previous live value.
    pub(crate) fn insert(
        &self,
        route: Route,
        key: K,
        value: V,
        time_to_live: Option<u64>,
    ) -> Option<V>
    where
        K: Eq,
        V: Clone,
    {
        let weight = self.weigh(&key, &value);
        if time_to_live.is_some() {
            self.note_expiry_in_use();
        }
        let mut removed = RemovedEntries::new();
        let replaced = self.locked(route.shard, &mut removed, |shard, now, removed| {
            let replaced = match shard.find_live(route.hash, |k| *k == key, now, removed) {
                Some(index) => {
                    Some(shard.replace(index, key, value, weight, time_to_live, now, removed))
                }
                None => {
                    shard.insert_new(route.hash, key, value, weight, time_to_live, now, removed);
                    None
                }
            };
            shard.expire(now, WRITE_BUDGET, removed);
            replaced
        });
        let previous = replaced.map(|(key, old)| {
            self.hand_back(route, key, old, RemovalCause::Replaced, &mut removed)
        });
        self.deliver(&mut removed);
        previous
    }

    /// A removed value goes to the caller; with a listener, a clone goes there too.
    /// If the clone panics, the caller gets the panic instead of the value, so the
    /// listener gets the value itself, and the panic is raised once everything
    /// the operation removed has been delivered.
    fn hand_back(
        &self,
        route: Route,
        key: K,
        value: V,
        cause: RemovalCause,
        removed: &mut RemovedEntries<K, V>,
    ) -> V
    where
        V: Clone,
    {
        if self.has_listener() {
            match catch_unwind(AssertUnwindSafe(|| value.clone())) {
                Ok(clone) => removed.push(route.hash, key, clone, cause),
                Err(panic) => {
                    removed.push(route.hash, key, value, cause);
                    self.deliver_then_raise(removed, panic);
                }
            }
        }
        value
    }

    /// Delivers `removed`, then raises `panic`, a user panic that came first (one
    /// from the listener meanwhile is dropped): what an operation removed reaches
    /// the listener before a panic reaches its caller.
    fn deliver_then_raise(
        &self,
        removed: &mut RemovedEntries<K, V>,
        panic: Box<dyn Any + Send>,
    ) -> ! {
        let _later_panic = catch_unwind(AssertUnwindSafe(|| self.deliver(removed)));
        resume_unwind(panic)
    }

    /// `SeenSet::insert`: inserts if absent (returns true); a live key is a
    /// sighting instead (recency and idle time refreshed, time to live kept).
    pub(crate) fn insert_if_absent(
        &self,
        route: Route,
        key: K,
        value: V,
        time_to_live: Option<u64>,
    ) -> bool
    where
        K: Eq,
    {
        let weight = self.weigh(&key, &value);
        if time_to_live.is_some() {
            self.note_expiry_in_use();
        }
        let mut removed = RemovedEntries::new();
        // (first sighting, an unused key and value to drop once unlocked)
        let (first, unused) = self.write_unless_live(
            route,
            key,
            |_| (false, None),
            &mut removed,
            |shard, key, now, removed| {
                let outcome = match shard.access(route.hash, |k| *k == key, now, removed) {
                    Some(_) => (false, Some((key, value))),
                    None => {
                        shard.insert_new(
                            route.hash,
                            key,
                            value,
                            weight,
                            time_to_live,
                            now,
                            removed,
                        );
                        (true, None)
                    }
                };
                shard.expire(now, WRITE_BUDGET, removed);
                outcome
            },
        );
        self.deliver(&mut removed);
        // After the delivery: a panicking `Drop` must not keep removed entries from
        // the listener.
        drop(unused);
        first
    }

    /// `Cache::remove`.
    pub(crate) fn remove(&self, route: Route, eq: impl FnMut(&K) -> bool) -> Option<V>
    where
        V: Clone,
    {
        let mut removed = RemovedEntries::new();
        let taken = self.locked(route.shard, &mut removed, |shard, now, removed| {
            let taken = shard.remove(route.hash, eq, now, removed);
            shard.expire(now, WRITE_BUDGET, removed);
            taken
        });
        let value = taken.map(|(key, value)| {
            self.hand_back(route, key, value, RemovalCause::Removed, &mut removed)
        });
        self.deliver(&mut removed);
        value
    }

    /// The first step of every `get_or_insert_with` form: the live value, or the
    /// load already running for the key (to wait for), or the key parked as loading
    /// by this caller, with the guard that releases it however the load ends.
    pub(crate) fn claim(&self, route: Route, key: K) -> Claim<'_, K, V>
    where
        K: Eq,
        V: Clone,
    {
        enum Step<K, V> {
            Found(V),
            Wait(Arc<Pending<V>>, K),
            Load(Arc<Pending<V>>),
        }
        let mut removed = RemovedEntries::new();
        let step = self.write_unless_live(
            route,
            key,
            |value| Step::Found(value.clone()),
            &mut removed,
            |shard, key, now, removed| {
                // The load in flight is looked up first: `access` may remove the
                // key's expired entry, and no user `Eq` may run after a change (its
                // panic would leave the removed entry undelivered and the length
                // stale).
                let in_flight = shard.find_in_flight(route.hash, |k| *k == key);
                if let Some(index) = shard.access(route.hash, |k| *k == key, now, removed) {
                    return Step::Found(shard.value(index).clone());
                }
                match in_flight {
                    Some(pending) => Step::Wait(pending, key),
                    None => Step::Load(shard.begin_in_flight(route.hash, key)),
                }
            },
        );
        // The guard exists before the listener runs: if the listener panics, the
        // key is released instead of staying parked with its waiters asleep.
        let claim = match step {
            Step::Found(value) => Claim::Found(value),
            Step::Wait(pending, key) => Claim::Missed(Box::new(Miss::Wait(pending, key))),
            Step::Load(pending) => Claim::Missed(Box::new(Miss::Load(Loading {
                store: self,
                shard: route.shard,
                hash: route.hash,
                pending,
                released: false,
            }))),
        };
        self.deliver(&mut removed);
        claim
    }

    /// `Cache::try_get_or_insert_with`: `load` runs at most once per miss, outside
    /// any lock; callers missing the same key meanwhile block until it is done, and
    /// retry (one of them loading) if it fails or panics. A hit returns at once;
    /// anything else runs the async form's code on this thread.
    pub(crate) fn try_get_or_insert_with<E>(
        &self,
        route: Route,
        key: K,
        load: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E>
    where
        K: Eq,
        V: Clone,
    {
        match self.claim(route, key) {
            Claim::Found(value) => Ok(value),
            Claim::Missed(miss) => self.load_or_wait_blocking(route, miss, load),
        }
    }

    /// The blocking form's miss, out of line so that its hit stays small.
    #[cold]
    #[inline(never)]
    fn load_or_wait_blocking<E>(
        &self,
        route: Route,
        miss: Box<Miss<'_, K, V>>,
        load: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E>
    where
        K: Eq,
        V: Clone,
    {
        block_on(self.load_or_wait_unboxed(route, miss, async { load() }))
    }

    /// Everything after a claim that missed: load, or wait for the caller that
    /// loads and claim again if it gave up. `load` is awaited at most once per
    /// miss, with no lock held; dropping the future at any await releases what it
    /// holds. Boxed: this state is most of a loading future's size, and a hit,
    /// which never gets here, would otherwise pay for moving it; a miss pays one
    /// allocation.
    #[cold]
    #[inline(never)]
    pub(crate) fn load_or_wait<'a, E: 'a>(
        &'a self,
        route: Route,
        miss: Box<Miss<'a, K, V>>,
        load: impl Future<Output = Result<V, E>> + 'a,
    ) -> Pin<Box<impl Future<Output = Result<V, E>> + 'a>>
    where
        K: Eq,
        V: Clone,
    {
        Box::pin(self.load_or_wait_unboxed(route, miss, load))
    }

    /// [`load_or_wait`](Self::load_or_wait) unboxed, for the blocking form, which
    /// polls it where it stands on the thread's stack.
    async fn load_or_wait_unboxed<E>(
        &self,
        route: Route,
        mut miss: Box<Miss<'_, K, V>>,
        load: impl Future<Output = Result<V, E>>,
    ) -> Result<V, E>
    where
        K: Eq,
        V: Clone,
    {
        loop {
            let (pending, key) = match *miss {
                // On an error, a panic or a drop, `loading` releases the key.
                Miss::Load(loading) => return load.await.map(|value| loading.complete(value)),
                Miss::Wait(pending, key) => (pending, key),
            };
            if let Some(value) = pending.wait().await {
                return Ok(value);
            }
            // The load gave up: claim again, maybe loading this time.
            miss = match self.claim(route, key) {
                Claim::Found(value) => return Ok(value),
                Claim::Missed(miss) => miss,
            };
        }
    }

    /// The clock's time, whether or not any entry has a deadline yet.
    pub(crate) fn clock_now(&self) -> u64 {
        self.clock.now_millis()
    }

    /// One shard's length, read without its lock.
    pub(crate) fn shard_len(&self, shard: usize) -> usize {
        self.slots[shard].len()
    }

    /// Copies one shard under its lock (see `Shard::copy_all`): returns the
    /// shard's time, its most recently used index, and how long the lock was
    /// held. A snapshot copies one shard at a time, so writers to other shards
    /// never wait.
    pub(crate) fn copy_shard(
        &self,
        shard: usize,
        copy: impl FnMut(u32, &K, &V, u64, u64, u32),
    ) -> (u64, u32, std::time::Duration) {
        let now = self.now();
        let guard = self.slots[shard].write();
        let locked_at = std::time::Instant::now();
        let now = guard.observe(now);
        let head = guard.copy_all(copy);
        let held = locked_at.elapsed();
        drop(guard);
        (now, head, held)
    }

    /// Puts back entries read from a snapshot into one shard, in order, each as
    /// the most recently used so far, with the deadlines given (clock time:
    /// `(write deadline, deadline)`). A key already there is replaced. What this
    /// evicts or drops is not reported to the listener: it never was in this
    /// set as far as its users could see.
    pub(crate) fn restore_shard(
        &self,
        shard: usize,
        entries: impl ExactSizeIterator<Item = Restored<K, V>>,
        now: u64,
    ) where
        K: Eq,
    {
        let slot = &self.slots[shard];
        let mut removed = RemovedEntries::new();
        let mut guard = slot.write();
        let now = guard.observe(now);
        guard.reserve(entries.len());
        for entry in entries {
            let Restored {
                hash,
                key,
                value,
                weight,
                deadlines,
            } = entry;
            if deadlines.1 != NEVER {
                self.note_expiry_in_use();
            }
            if let Some((old_key, old_value)) = guard.remove(hash, |k| *k == key, now, &mut removed)
            {
                removed.push(hash, old_key, old_value, RemovalCause::Replaced);
            }
            guard.insert_with_deadlines(hash, key, value, weight, deadlines, now, &mut removed);
        }
        slot.set_len(guard.len());
        drop(guard);
        // Dropped here, unlocked, like every removed entry.
        drop(removed);
    }

    /// Zeroes every shard's counters: a restored set starts its statistics afresh.
    pub(crate) fn reset_counters(&self) {
        for slot in self.slots.iter() {
            slot.write().reset_counters();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.iter().map(ShardLock::len).sum()
    }

    pub(crate) fn clear(&self) {
        // Every shard is cleared, and every entry delivered, before a listener's
        // panic reaches the caller.
        let mut first_panic = FirstPanic::default();
        for slot in self.slots.iter() {
            let nodes = {
                let mut shard = slot.write();
                let nodes = shard.clear();
                slot.set_len(0);
                nodes
            };
            first_panic.catch(|| {
                deliver(
                    nodes
                        .into_iter()
                        .map(|node| (node.hash, node.key, node.value, RemovalCause::Cleared)),
                    self.listener.as_ref(),
                );
            });
        }
        first_panic.raise();
    }

    pub(crate) fn shrink_to_fit(&self) {
        for slot in self.slots.iter() {
            slot.write().shrink_to_fit();
        }
    }

    /// Removes every expired entry now, a chunk per lock hold, and frees what the
    /// emptied shards no longer need. Returns how many it removed.
    pub(crate) fn purge_expired(&self) -> usize {
        let mut total = 0;
        let mut first_panic = FirstPanic::default();
        for shard in 0..self.slots.len() {
            loop {
                let mut removed = RemovedEntries::new();
                let (expired, more) = self.locked(shard, &mut removed, |shard, now, removed| {
                    let (expired, budget_ran_out) = shard.expire(now, PURGE_CHUNK, removed);
                    if !budget_ran_out {
                        shard.release_if_empty();
                    }
                    (expired, budget_ran_out)
                });
                // Every shard is purged before a listener's panic reaches the caller.
                first_panic.catch(|| self.deliver(&mut removed));
                total += expired;
                if !more {
                    break;
                }
            }
        }
        first_panic.raise();
        total
    }

    pub(crate) fn stats(&self) -> Stats {
        let mut total = Stats::default();
        for slot in self.slots.iter() {
            total += slot.write().stats();
        }
        // Acquire: pairs with the saver's release, so the reason it recorded first
        // is visible to whoever reads these counts (see `SaveCounters::record`).
        total.snapshots_saved = self.save_counters.saved.load(Ordering::Acquire);
        total.snapshot_failures = self.save_counters.failed.load(Ordering::Acquire);
        total
    }

    /// Publishes the stats and memory through the `metrics` facade.
    #[cfg(feature = "metrics")]
    pub(crate) fn publish_metrics(&self) {
        crate::metrics::publish(self.name(), &self.stats(), self.memory_bytes());
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        let shards: usize = self
            .slots
            .iter()
            .map(|slot| slot.read().memory_bytes())
            .sum();
        shards + std::mem::size_of_val::<[ShardLock<K, V>]>(&self.slots)
    }

    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        for slot in self.slots.iter() {
            let shard = slot.write();
            shard.check_invariants();
            assert_eq!(slot.len(), shard.len());
        }
    }
}

/// The outcome of [`Store::claim`]: the live value, or what to do about a miss.
pub(crate) enum Claim<'a, K, V: Clone> {
    Found(V),
    /// Boxed, so that a hit's `Claim` stays small: for a small value it comes back
    /// in registers instead of being copied through memory. A miss pays one
    /// allocation.
    Missed(Box<Miss<'a, K, V>>),
}

/// What a caller that missed a key does next.
pub(crate) enum Miss<'a, K, V: Clone> {
    /// Another caller is loading the key: wait for it; on `None`, retry with the key.
    Wait(Arc<Pending<V>>, K),
    /// This caller loads the key.
    Load(Loading<'a, K, V>),
}

/// A key parked as loading by this caller. [`complete`](Self::complete) stores the
/// value and hands it to the waiters; dropped without that (the loader failed,
/// panicked, or its future was dropped), it un-parks the key and tells the waiters
/// to retry, so that no one waits forever.
pub(crate) struct Loading<'a, K, V: Clone> {
    store: &'a Store<K, V>,
    shard: usize,
    hash: u32,
    pending: Arc<Pending<V>>,
    /// Set once the waiters have their outcome.
    released: bool,
}

impl<K: Eq, V: Clone> Loading<'_, K, V> {
    /// Stores `value` (unless a plain `insert` got there first: then that value
    /// wins) and returns what is now live, after handing it to any waiters.
    pub(crate) fn complete(mut self, value: V) -> V {
        let store = self.store;
        let pending = &self.pending;
        let returned = value.clone();
        let mut removed = RemovedEntries::new();
        let outcome = store.locked(self.shard, &mut removed, |shard, now, removed| {
            let weight = store.weigh(shard.in_flight_key(pending), &value);
            shard.complete_in_flight(self.hash, pending, value, weight, now, removed)
        });
        let returned = match outcome {
            Some((current, _unused_key, _unused_value)) => current,
            None => returned,
        };
        // Waiters clone the Arc under the lock, and the key is no longer parked,
        // so this count can only fall: no waiter, no clone. If the clone panics,
        // the listener still gets what was removed before the panic leaves, and
        // `drop` still releases the waiters (they retry and find the value).
        if Arc::strong_count(pending) > 1 {
            match catch_unwind(AssertUnwindSafe(|| returned.clone())) {
                Ok(shared) => pending.finish(Some(shared)),
                Err(panic) => store.deliver_then_raise(&mut removed, panic),
            }
        }
        self.released = true;
        store.deliver(&mut removed);
        returned
    }
}

impl<K, V: Clone> Drop for Loading<'_, K, V> {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let key = self.store.slots[self.shard]
            .write()
            .abandon_in_flight(&self.pending);
        // The waiters are told first: if the key's `Drop` panics, they must not
        // wait for ever.
        self.pending.finish(None);
        drop(key); // unlocked: user Drop code never runs under a shard lock
    }
}
