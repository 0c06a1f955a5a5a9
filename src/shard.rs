//! One shard: a hash table of slab indices, the slab with its LRU list, the timer
//! wheel, and the capacity and shrink rules. It is single-threaded; the store puts
//! each shard behind its own lock.
//!
//! Panic safety: user code (`Eq`) runs only in lookups, before anything changes.
//! Every mutation below runs no user code, so a panic can never leave a shard half
//! updated. Removed keys and values are handed out in a [`RemovedEntries`] to be
//! dropped or passed to the listener after the lock is released.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use hashbrown::HashTable;

use crate::access_buffer::AccessBuffer;
use crate::deadline::{Deadlines, NEVER, NEVER_CODE};
use crate::in_flight::{InFlight, Pending};
use crate::removal::{RemovalCause, RemovedEntries};
use crate::slab::{Links, Node, Slab};
use crate::stats::Stats;
use crate::sync::AtomicU64;
use crate::timer_wheel::{MAX_NODE_INDEX, TimerNodes, TimerWheel};

/// Expiry and weighing rules, the same for every shard of a cache.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Policy {
    /// Milliseconds from a write to expiry, unless the write gives its own.
    pub(crate) time_to_live: Option<u64>,
    /// Milliseconds from the last access (or write) to expiry.
    pub(crate) time_to_idle: Option<u64>,
    /// Whether entries carry a weight from a weigher (otherwise each weighs 1).
    pub(crate) weighted: bool,
}

/// How many expired entries (or wheel moves) one write may handle on the side.
pub(crate) const WRITE_BUDGET: usize = 16;

/// Tables and slabs this small are not worth shrinking.
const MIN_SHRINK_CAPACITY: usize = 32;

/// The table hash from the 32 stored bits: low bits pick the bucket, and the top
/// seven (which hashbrown keeps in its control bytes) repeat bits 25..32, which
/// are independent of the bucket for tables of up to 2^25 buckets.
fn table_hash(hash: u32) -> u64 {
    let hash = u64::from(hash);
    hash | (hash << 32)
}

/// Per node, only with a time to idle: the deadline its last write set (which no
/// access can pass), and the idle deadline its latest access set. The latter is
/// atomic so that a hit under the shared lock extends it at once, before any
/// other reader can see the entry as idle for too long; the node's own deadline
/// (and its place in the wheel) catches up when the access is applied.
struct IdleTimes {
    write_deadline: u64,
    idle_deadline: AtomicU64,
}

/// What a lookup under the shared lock found.
pub(crate) enum SharedLookup {
    Live(u32),
    Absent,
    /// A match past its deadline: reported absent once an exclusive section has
    /// removed it (and told the listener).
    Expired,
}

pub(crate) struct Shard<K, V> {
    table: HashTable<u32>,
    slab: Slab<K, V>,
    deadlines: Deadlines,
    /// Allocated on the first deadline; freed by `purge_expired`, `clear` or
    /// `shrink_to_fit` once the shard is empty.
    wheel: Option<Box<TimerWheel>>,
    /// Per node, only with a weigher.
    weights: Vec<u32>,
    /// Per node, only with a time to idle.
    idle_times: Vec<IdleTimes>,
    policy: Policy,
    capacity: u64,
    weight: u64,
    /// The latest time seen, so time never runs backwards inside a shard even when
    /// threads read the clock in one order and take the lock in another. Atomic,
    /// because readers under the shared lock move it too.
    latest_now: AtomicU64,
    counters: Stats,
    /// Accesses made under the shared lock, applied by the next exclusive section.
    accesses: AccessBuffer,
    in_flight: Vec<InFlight<K, V>>,
}

/// The wheel's view of the nodes: their timer links and decoded deadlines.
struct WheelNodes<'a, K, V> {
    slab: &'a mut Slab<K, V>,
    deadlines: &'a Deadlines,
}

impl<K, V> TimerNodes for WheelNodes<'_, K, V> {
    fn timer_links(&mut self, index: u32) -> &mut Links {
        &mut self.slab.node_mut(index).timer
    }

    fn deadline(&self, index: u32) -> u64 {
        self.deadlines.decode(index, self.slab.node(index).deadline)
    }
}

impl<K, V> Shard<K, V> {
    pub(crate) fn new(capacity: u64, policy: Policy) -> Self {
        Shard {
            table: HashTable::new(),
            slab: Slab::new(),
            deadlines: Deadlines::new(),
            wheel: None,
            weights: Vec::new(),
            idle_times: Vec::new(),
            policy,
            capacity,
            weight: 0,
            latest_now: AtomicU64::new(0),
            counters: Stats::default(),
            accesses: AccessBuffer::new(),
            in_flight: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.slab.len()
    }

    /// Moves the shard's time forward to `now` (never back) and returns it.
    /// Works under the shared lock too.
    pub(crate) fn observe(&self, now: u64) -> u64 {
        let latest = self.latest_now.load(Ordering::Relaxed);
        if now <= latest {
            return latest;
        }
        self.latest_now.fetch_max(now, Ordering::Relaxed).max(now)
    }

    /// Looks a key up under the shared lock, against each entry's exact deadline.
    /// Always inlined: as a call it saved and restored six registers per hit
    /// (callgrind: 36 of the 333 instructions of a `get` hit went with it and
    /// `is_expired`'s call).
    #[inline(always)]
    pub(crate) fn find_shared(
        &self,
        hash: u32,
        eq: impl FnMut(&K) -> bool,
        now: u64,
    ) -> SharedLookup {
        let Some(index) = self.find(hash, eq) else {
            return SharedLookup::Absent;
        };
        let live = match self.policy.time_to_idle {
            // The node's deadline may lag behind accesses not applied yet.
            Some(_) => {
                let times = &self.idle_times[index as usize];
                let deadline = times
                    .write_deadline
                    .min(times.idle_deadline.load(Ordering::Relaxed));
                deadline > now
            }
            None => !self
                .deadlines
                .is_expired(index, self.slab.node(index).deadline, now),
        };
        if live {
            SharedLookup::Live(index)
        } else {
            SharedLookup::Expired
        }
    }

    /// Records a hit on the node at `index` under the shared lock, for the next
    /// exclusive section to apply. False (nothing recorded) when this thread's
    /// stripe of the access buffer is full: the caller then makes the access
    /// under the exclusive lock, so no access is ever lost.
    pub(crate) fn record_access(&self, index: u32, now: u64) -> bool {
        if !self.accesses.record(index) {
            return false;
        }
        // Only once recorded: a drain applies every idle deadline a reader set, so
        // the node's own deadline never stays behind after an exclusive section.
        if let Some(time_to_idle) = self.policy.time_to_idle {
            let idle_deadline = &self.idle_times[index as usize].idle_deadline;
            let extended = now.saturating_add(time_to_idle);
            if idle_deadline.load(Ordering::Relaxed) < extended {
                idle_deadline.fetch_max(extended, Ordering::Relaxed);
            }
        }
        true
    }

    /// Counts a miss under the shared lock.
    pub(crate) fn count_miss(&self) {
        self.accesses.count_miss();
    }

    /// Applies, in order, the accesses recorded under the shared lock: the first
    /// step of every exclusive section, before any node can move.
    #[inline]
    pub(crate) fn apply_recorded_accesses(&mut self) {
        if self.accesses.is_empty() {
            return;
        }
        self.apply_recorded_accesses_now();
    }

    #[inline(never)]
    fn apply_recorded_accesses_now(&mut self) {
        if self.policy.time_to_idle.is_some() {
            return self.apply_recorded_accesses_with_idle_times();
        }
        let Shard {
            accesses,
            slab,
            counters,
            ..
        } = self;
        counters.hits += accesses.drain(|index| {
            debug_assert!((index as usize) < slab.len());
            slab.move_to_front(index);
        });
    }

    /// With a time to idle, an applied access also moves the node's deadline to
    /// the idle deadline its readers set.
    fn apply_recorded_accesses_with_idle_times(&mut self) {
        for index in self.accesses.take_all() {
            debug_assert!((index as usize) < self.slab.len());
            self.counters.hits += 1;
            self.slab.move_to_front(index);
            let times = &self.idle_times[index as usize];
            let deadline = times
                .write_deadline
                .min(times.idle_deadline.load(Ordering::Relaxed));
            self.set_deadline(index, deadline);
        }
    }

    pub(crate) fn value(&self, index: u32) -> &V {
        &self.slab.node(index).value
    }

    fn weight_of(&self, index: u32) -> u64 {
        if self.policy.weighted {
            u64::from(self.weights[index as usize])
        } else {
            1
        }
    }

    /// The index of the entry for a key, live or not. Read-only: safe to run user
    /// `Eq` in.
    pub(crate) fn find(&self, hash: u32, mut eq: impl FnMut(&K) -> bool) -> Option<u32> {
        let slab = &self.slab;
        self.table
            .find(table_hash(hash), |&index| {
                let node = slab.node(index);
                node.hash == hash && eq(&node.key)
            })
            .copied()
    }

    /// Finds the live entry for a key. An expired match is removed on the way, so
    /// it is never observed, whenever the wheel last ran.
    pub(crate) fn find_live(
        &mut self,
        hash: u32,
        eq: impl FnMut(&K) -> bool,
        now: u64,
        out: &mut RemovedEntries<K, V>,
    ) -> Option<u32> {
        let index = self.find(hash, eq)?;
        if self
            .deadlines
            .is_expired(index, self.slab.node(index).deadline, now)
        {
            self.remove_at(index, RemovalCause::Expired, out);
            self.maybe_shrink();
            return None;
        }
        Some(index)
    }

    /// A lookup that records an access (`get`, a repeated `SeenSet::insert`):
    /// counts the hit or miss and, on a hit, refreshes recency and idle time.
    pub(crate) fn access(
        &mut self,
        hash: u32,
        eq: impl FnMut(&K) -> bool,
        now: u64,
        out: &mut RemovedEntries<K, V>,
    ) -> Option<u32> {
        let found = self.find_live(hash, eq, now, out);
        match found {
            Some(index) => {
                self.counters.hits += 1;
                self.touch(index, now);
            }
            None => self.counters.misses += 1,
        }
        found
    }

    /// Records an access: most recently used, and with a time to idle, a later deadline.
    fn touch(&mut self, index: u32, now: u64) {
        self.slab.move_to_front(index);
        if let Some(time_to_idle) = self.policy.time_to_idle {
            let times = &self.idle_times[index as usize];
            let idle_deadline = times
                .idle_deadline
                .load(Ordering::Relaxed)
                .max(now.saturating_add(time_to_idle));
            times.idle_deadline.store(idle_deadline, Ordering::Relaxed);
            let deadline = times.write_deadline.min(idle_deadline);
            self.set_deadline(index, deadline);
        }
    }

    /// The deadline a write at `now` sets, and the part of it that comes from the
    /// time to live alone (kept for later accesses when there is a time to idle).
    fn write_deadlines_for(&self, time_to_live: Option<u64>, now: u64) -> (u64, u64) {
        let after_write = time_to_live
            .or(self.policy.time_to_live)
            .map_or(NEVER, |ttl| now.saturating_add(ttl));
        let after_idle = self
            .policy
            .time_to_idle
            .map_or(NEVER, |tti| now.saturating_add(tti));
        (after_write, after_write.min(after_idle))
    }

    fn set_deadline(&mut self, index: u32, deadline: u64) {
        let old_code = self.slab.node(index).deadline;
        if self.deadlines.decode(index, old_code) == deadline {
            return;
        }
        self.deadlines.forget(index, old_code);
        let code = self.deadlines.encode(index, deadline);
        self.slab.node_mut(index).deadline = code;
        if deadline != NEVER {
            self.file_in_wheel(index, deadline, true);
        } else if let Some(wheel) = &mut self.wheel {
            let mut nodes = WheelNodes {
                slab: &mut self.slab,
                deadlines: &self.deadlines,
            };
            wheel.cancel(&mut nodes, index);
        }
    }

    /// Files the node at `index` in the wheel at `deadline`, allocating the wheel
    /// on first use; `moving` when it may already be filed elsewhere.
    fn file_in_wheel(&mut self, index: u32, deadline: u64, moving: bool) {
        let latest_now = self.latest_now.load(Ordering::Relaxed);
        let wheel = self
            .wheel
            .get_or_insert_with(|| Box::new(TimerWheel::new(latest_now)));
        let mut nodes = WheelNodes {
            slab: &mut self.slab,
            deadlines: &self.deadlines,
        };
        if moving {
            wheel.reschedule(&mut nodes, index, deadline);
        } else {
            wheel.schedule(&mut nodes, index, deadline);
        }
    }

    /// Inserts an entry whose key is absent. Returns whether it was kept: an entry
    /// heavier than the shard's capacity, or already expired, goes straight to `out`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn insert_new(
        &mut self,
        hash: u32,
        key: K,
        value: V,
        weight: u32,
        time_to_live: Option<u64>,
        now: u64,
        out: &mut RemovedEntries<K, V>,
    ) -> bool {
        let deadlines = self.write_deadlines_for(time_to_live, now);
        self.insert_with_deadlines(hash, key, value, weight, deadlines, now, out)
    }

    /// [`insert_new`](Self::insert_new) with the deadlines given: `(write deadline,
    /// deadline)`, as a snapshot restores them.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn insert_with_deadlines(
        &mut self,
        hash: u32,
        key: K,
        value: V,
        weight: u32,
        (write_deadline, deadline): (u64, u64),
        now: u64,
        out: &mut RemovedEntries<K, V>,
    ) -> bool {
        self.counters.inserts += 1;
        if u64::from(weight) > self.capacity {
            self.counters.evictions += 1;
            out.push(hash, key, value, RemovalCause::Evicted);
            return false;
        }
        if deadline <= now {
            self.counters.expirations += 1;
            out.push(hash, key, value, RemovalCause::Expired);
            return false;
        }
        let node = Node {
            key,
            value,
            hash,
            deadline: NEVER_CODE,
            lru: Links::UNLINKED,
            timer: Links::UNLINKED,
        };
        let idle_times = IdleTimes {
            write_deadline,
            idle_deadline: AtomicU64::new(deadline),
        };
        let index = match self.slot_to_reuse(now, out) {
            Some(index) => {
                self.evict_into(index, node, out);
                if self.policy.time_to_idle.is_some() {
                    self.idle_times[index as usize] = idle_times;
                }
                index
            }
            None => {
                // Checked before any change, so hitting the limit is a clean panic.
                let index = self.slab.next_index(MAX_NODE_INDEX);
                let pushed = self.slab.push_front(node);
                debug_assert_eq!(pushed, index);
                if self.policy.weighted {
                    self.weights.push(weight);
                }
                if self.policy.time_to_idle.is_some() {
                    self.idle_times.push(idle_times);
                }
                self.weight += u64::from(weight);
                index
            }
        };
        let slab = &self.slab;
        self.table
            .insert_unique(table_hash(hash), index, |&i| table_hash(slab.node(i).hash));
        if deadline != NEVER {
            // A new node has no deadline to forget and is in no wheel slot yet.
            let code = self.deadlines.encode(index, deadline);
            self.slab.node_mut(index).deadline = code;
            self.file_in_wheel(index, deadline, false);
        }
        self.evict_to_capacity(now, out);
        true
    }

    /// With every entry weighing 1 and the shard full, the slot of the entry a
    /// new one will evict: after every expired entry has gone (a live entry is
    /// never evicted while an expired one takes up room), the least recently
    /// used one, if the shard is still full. Reusing its slot saves moving the
    /// slab's last node into the hole and re-pointing everything at it.
    fn slot_to_reuse(&mut self, now: u64, out: &mut RemovedEntries<K, V>) -> Option<u32> {
        if self.policy.weighted || self.weight < self.capacity {
            return None;
        }
        self.expire(now, usize::MAX, out);
        if self.weight < self.capacity {
            return None;
        }
        self.slab.lru_tail()
    }

    /// Evicts the entry at `index` and puts `node` in its slot, as the most
    /// recently used. The caller files the new node in the table and the wheel.
    fn evict_into(&mut self, index: u32, node: Node<K, V>, out: &mut RemovedEntries<K, V>) {
        self.unfile(index);
        let old = self.slab.replace(index, node);
        self.count_removal(RemovalCause::Evicted);
        out.push(old.hash, old.key, old.value, RemovalCause::Evicted);
    }

    /// Writes a new value over the live entry at `index`. Returns the caller's key
    /// (the stored one is kept) and the old value. A new value too heavy to keep,
    /// or already expired, removes the entry instead.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn replace(
        &mut self,
        index: u32,
        key: K,
        value: V,
        weight: u32,
        time_to_live: Option<u64>,
        now: u64,
        out: &mut RemovedEntries<K, V>,
    ) -> (K, V) {
        let (write_deadline, deadline) = self.write_deadlines_for(time_to_live, now);
        let refused = if u64::from(weight) > self.capacity {
            Some(RemovalCause::Evicted)
        } else if deadline <= now {
            Some(RemovalCause::Expired)
        } else {
            None
        };
        self.counters.inserts += 1;
        if let Some(cause) = refused {
            let hash = self.slab.node(index).hash;
            let old = self.detach(index);
            self.count_removal(cause);
            out.push(hash, key, value, cause);
            self.maybe_shrink();
            return old;
        }
        let old_value = std::mem::replace(&mut self.slab.node_mut(index).value, value);
        self.weight = self.weight - self.weight_of(index) + u64::from(weight);
        if self.policy.weighted {
            self.weights[index as usize] = weight;
        }
        if self.policy.time_to_idle.is_some() {
            let times = &mut self.idle_times[index as usize];
            times.write_deadline = write_deadline;
            times.idle_deadline.store(deadline, Ordering::Relaxed);
        }
        self.set_deadline(index, deadline);
        self.slab.move_to_front(index);
        self.evict_to_capacity(now, out);
        (key, old_value)
    }

    /// Calls `copy` with every entry in slab order (sequential memory, so the
    /// lock is held briefly): its table hash, key, value, deadline, write
    /// deadline (the deadline its last write set, which a time to idle cannot
    /// pass; `NEVER` for none) and the index of the next less recently used
    /// entry. Returns the most recently used index; following the links from
    /// there in the copy gives the recency order, without the lock.
    pub(crate) fn copy_all(&self, mut copy: impl FnMut(u32, &K, &V, u64, u64, u32)) -> u32 {
        for index in 0..self.slab.len() as u32 {
            let node = self.slab.node(index);
            let deadline = self.deadlines.decode(index, node.deadline);
            let write_deadline = if self.policy.time_to_idle.is_some() {
                self.idle_times[index as usize].write_deadline
            } else {
                deadline
            };
            copy(
                node.hash,
                &node.key,
                &node.value,
                deadline,
                write_deadline,
                node.lru.next,
            );
        }
        self.slab.lru_head()
    }

    /// Zeroes the counters (a restored set starts its statistics afresh).
    pub(crate) fn reset_counters(&mut self) {
        self.counters = Stats::default();
        self.accesses.reset_misses();
    }

    /// Makes room: first every expired entry goes (a live entry is never evicted
    /// while an expired one still takes up room), then least recently used live
    /// entries until the weight fits. The entry just written always fits on its
    /// own and is the most recent, so it stays.
    ///
    /// Inlined, so that the common case (within capacity) makes no call.
    #[inline(always)]
    fn evict_to_capacity(&mut self, now: u64, out: &mut RemovedEntries<K, V>) {
        if self.weight > self.capacity {
            self.evict_over_capacity(now, out);
        }
    }

    #[inline(never)]
    fn evict_over_capacity(&mut self, now: u64, out: &mut RemovedEntries<K, V>) {
        self.expire(now, usize::MAX, out);
        while self.weight > self.capacity {
            let tail = self.slab.lru_tail().expect("over capacity, so not empty");
            self.remove_at(tail, RemovalCause::Evicted, out);
        }
    }

    /// Removes the live entry for a key (`remove`). An expired one is removed too,
    /// as expired, and not returned.
    pub(crate) fn remove(
        &mut self,
        hash: u32,
        eq: impl FnMut(&K) -> bool,
        now: u64,
        out: &mut RemovedEntries<K, V>,
    ) -> Option<(K, V)> {
        let index = self.find_live(hash, eq, now, out)?;
        let removed = self.detach(index);
        self.count_removal(RemovalCause::Removed);
        self.maybe_shrink();
        Some(removed)
    }

    fn count_removal(&mut self, cause: RemovalCause) {
        match cause {
            RemovalCause::Expired => self.counters.expirations += 1,
            RemovalCause::Evicted => self.counters.evictions += 1,
            RemovalCause::Removed | RemovalCause::Cleared => self.counters.removals += 1,
            RemovalCause::Replaced => {}
        }
    }

    fn remove_at(&mut self, index: u32, cause: RemovalCause, out: &mut RemovedEntries<K, V>) {
        let hash = self.slab.node(index).hash;
        let (key, value) = self.detach(index);
        self.count_removal(cause);
        out.push(hash, key, value, cause);
    }

    /// Takes the node at `index` out of the table, the wheel and the deadlines;
    /// its slab slot stays, for the caller to remove or reuse.
    #[inline(always)]
    fn unfile(&mut self, index: u32) {
        let node = self.slab.node(index);
        let (hash, code) = (node.hash, node.deadline);
        match self.table.find_entry(table_hash(hash), |&i| i == index) {
            Ok(slot) => drop(slot.remove()),
            Err(_) => unreachable!("every node has a table slot"),
        }
        if let Some(wheel) = &mut self.wheel {
            let mut nodes = WheelNodes {
                slab: &mut self.slab,
                deadlines: &self.deadlines,
            };
            wheel.cancel(&mut nodes, index);
        }
        self.deadlines.forget(index, code);
    }

    /// Takes the node at `index` out of the table, the wheel and the slab, and
    /// patches whatever pointed at the node that moved into its place.
    fn detach(&mut self, index: u32) -> (K, V) {
        self.unfile(index);
        self.weight -= self.weight_of(index);
        if self.policy.weighted {
            self.weights.swap_remove(index as usize);
        }
        if self.policy.time_to_idle.is_some() {
            self.idle_times.swap_remove(index as usize);
        }
        let (node, moved_from) = self.slab.swap_remove(index);
        if let Some(from) = moved_from {
            let moved = self.slab.node(index);
            let (moved_hash, moved_code) = (moved.hash, moved.deadline);
            *self
                .table
                .find_mut(table_hash(moved_hash), |&i| i == from)
                .expect("every node has a table slot") = index;
            self.deadlines.relocate(from, index, moved_code);
            if let Some(wheel) = &mut self.wheel {
                let mut nodes = WheelNodes {
                    slab: &mut self.slab,
                    deadlines: &self.deadlines,
                };
                wheel.relocate(&mut nodes, index);
            }
        }
        (node.key, node.value)
    }

    /// Expires up to `budget` due entries (each wheel move costs one too). Returns
    /// how many it removed and whether it stopped because the budget ran out. Also
    /// moves the deadline epoch when that is due.
    ///
    /// Inlined, so that a shard whose entries have no deadline (every write runs
    /// this) makes no call.
    #[inline(always)]
    pub(crate) fn expire(
        &mut self,
        now: u64,
        budget: usize,
        out: &mut RemovedEntries<K, V>,
    ) -> (usize, bool) {
        if self.wheel.is_none() {
            return (0, false); // no entry has a deadline, so none can expire
        }
        self.expire_with_wheel(now, budget, out)
    }

    #[inline(never)]
    fn expire_with_wheel(
        &mut self,
        now: u64,
        budget: usize,
        out: &mut RemovedEntries<K, V>,
    ) -> (usize, bool) {
        if self.deadlines.needs_rebase(now) {
            let codes = self.slab.nodes_mut().map(|node| &mut node.deadline);
            self.deadlines
                .rebase(now, codes.enumerate().map(|(i, code)| (i as u32, code)));
        }
        if !self.has_due(now) {
            return (0, false);
        }
        let mut budget = budget;
        let mut expired = 0;
        loop {
            let mut nodes = WheelNodes {
                slab: &mut self.slab,
                deadlines: &self.deadlines,
            };
            let Some(wheel) = &mut self.wheel else { break };
            let Some(index) = wheel.pop_expired(&mut nodes, now, &mut budget) else {
                break;
            };
            self.remove_at(index, RemovalCause::Expired, out);
            expired += 1;
        }
        if expired > 0 {
            self.maybe_shrink();
        }
        (expired, budget == 0)
    }

    /// Whether the wheel may still hold entries due at `now`.
    pub(crate) fn has_due(&self, now: u64) -> bool {
        self.wheel
            .as_ref()
            .is_some_and(|wheel| wheel.may_have_due(now))
    }

    /// Frees what an empty shard no longer needs, beyond what `maybe_shrink` does.
    pub(crate) fn release_if_empty(&mut self) {
        if self.slab.len() == 0 {
            self.wheel = None;
            self.deadlines.clear();
            self.shrink_to(0);
        }
    }

    /// Shrinks when the live count falls under a quarter of the table's or slab's
    /// capacity, to about twice the live count. Growing happens only at full
    /// capacity, so a shard must halve again before the next shrink: no thrashing.
    fn maybe_shrink(&mut self) {
        let len = self.slab.len();
        let roomy = |capacity: usize| capacity > MIN_SHRINK_CAPACITY && len * 4 < capacity;
        if roomy(self.table.capacity()) || roomy(self.slab.capacity()) {
            self.shrink_to(len * 2);
        }
    }

    /// Room for `additional` more entries, so a restore does not grow the table
    /// and slab step by step.
    pub(crate) fn reserve(&mut self, additional: usize) {
        let additional = additional.min(usize::try_from(self.capacity).unwrap_or(usize::MAX));
        let slab = &self.slab;
        self.table
            .reserve(additional, |&i| table_hash(slab.node(i).hash));
        self.slab.reserve_exact(additional);
    }

    fn shrink_to(&mut self, capacity: usize) {
        let slab = &self.slab;
        self.table
            .shrink_to(capacity, |&i| table_hash(slab.node(i).hash));
        self.slab.shrink_to(capacity);
        self.weights.shrink_to(capacity);
        self.idle_times.shrink_to(capacity);
        self.deadlines.shrink_to_fit();
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        self.shrink_to(self.slab.len());
        self.in_flight.shrink_to_fit();
        self.release_if_empty();
    }

    /// Empties the shard and frees its memory. The nodes are returned so they can
    /// be dropped (or reported) after the lock is released.
    pub(crate) fn clear(&mut self) -> Vec<Node<K, V>> {
        self.table = HashTable::new();
        self.wheel = None;
        self.deadlines.clear();
        self.weights = Vec::new();
        self.idle_times = Vec::new();
        self.weight = 0;
        let nodes = self.slab.take_all();
        self.counters.removals += nodes.len() as u64;
        nodes
    }

    pub(crate) fn stats(&self) -> Stats {
        Stats {
            len: self.slab.len() as u64,
            // An unallocated table still reports one (shared, static) bucket.
            table_buckets: if self.table.capacity() == 0 {
                0
            } else {
                self.table.num_buckets() as u64
            },
            misses: self.counters.misses + self.accesses.misses(),
            ..self.counters
        }
    }

    /// Bytes held by this shard's table, slab, side vectors and wheel.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.table.allocation_size()
            + self.slab.allocation_bytes()
            + self.weights.capacity() * std::mem::size_of::<u32>()
            + self.idle_times.capacity() * std::mem::size_of::<IdleTimes>()
            + self
                .wheel
                .as_ref()
                .map_or(0, |_| std::mem::size_of::<TimerWheel>())
            + self.deadlines.allocation_bytes()
            + self.in_flight.capacity() * std::mem::size_of::<InFlight<K, V>>()
    }

    /// The computation already running for a key, if any.
    pub(crate) fn find_in_flight(
        &self,
        hash: u32,
        mut eq: impl FnMut(&K) -> bool,
    ) -> Option<Arc<Pending<V>>>
    where
        V: Clone,
    {
        self.in_flight
            .iter()
            .find(|entry| entry.hash == hash && eq(&entry.key))
            .map(|entry| entry.pending.clone())
    }

    /// Parks `key` while its value is computed outside the lock.
    pub(crate) fn begin_in_flight(&mut self, hash: u32, key: K) -> Arc<Pending<V>>
    where
        V: Clone,
    {
        let pending = Pending::new();
        self.in_flight.push(InFlight {
            hash,
            key,
            pending: pending.clone(),
        });
        pending
    }

    fn in_flight_position(&self, pending: &Arc<Pending<V>>) -> Option<usize> {
        self.in_flight
            .iter()
            .position(|entry| Arc::ptr_eq(&entry.pending, pending))
    }

    /// The key parked by [`begin_in_flight`](Self::begin_in_flight).
    pub(crate) fn in_flight_key(&self, pending: &Arc<Pending<V>>) -> &K {
        let position = self
            .in_flight_position(pending)
            .expect("parked until completed");
        &self.in_flight[position].key
    }

    /// Takes back the parked key, if it is still there (it is gone only when a
    /// completion panicked half-way).
    pub(crate) fn abandon_in_flight(&mut self, pending: &Arc<Pending<V>>) -> Option<K> {
        let position = self.in_flight_position(pending)?;
        let entry = self.in_flight.swap_remove(position);
        if self.in_flight.is_empty() {
            self.in_flight = Vec::new();
        }
        Some(entry.key)
    }

    /// Stores the value computed for a parked key, unless a plain `insert` got
    /// there first: then that live value wins, and a clone of it is returned with
    /// the unused key and value (to be dropped once the lock is released).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn complete_in_flight(
        &mut self,
        hash: u32,
        pending: &Arc<Pending<V>>,
        value: V,
        weight: u32,
        now: u64,
        out: &mut RemovedEntries<K, V>,
    ) -> Option<(V, K, V)>
    where
        K: Eq,
        V: Clone,
    {
        // User `Eq` first, while nothing has changed.
        let found = self.find(hash, |key| key == self.in_flight_key(pending));
        let key = self
            .abandon_in_flight(pending)
            .expect("parked until completed");
        if let Some(index) = found {
            if !self
                .deadlines
                .is_expired(index, self.slab.node(index).deadline, now)
            {
                self.touch(index, now);
                return Some((self.value(index).clone(), key, value));
            }
            self.remove_at(index, RemovalCause::Expired, out);
        }
        self.insert_new(hash, key, value, weight, None, now, out);
        None
    }

    /// Checks every internal invariant (tests only).
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        let len = self.slab.len();
        assert_eq!(self.table.len(), len, "one table slot per node");
        for index in 0..len as u32 {
            let node = self.slab.node(index);
            assert!(
                self.table
                    .find(table_hash(node.hash), |&i| i == index)
                    .is_some(),
                "node {index} is in the table"
            );
            let scheduled = TimerWheel::is_scheduled(node.timer);
            assert_eq!(
                scheduled,
                node.deadline != NEVER_CODE,
                "node {index}: scheduled iff it has a deadline"
            );
        }
        assert_eq!(
            self.slab.lru_order().len(),
            len,
            "the LRU list holds every node"
        );
        let weight: u64 = (0..len as u32).map(|i| self.weight_of(i)).sum();
        assert_eq!(self.weight, weight);
        assert!(self.weight <= self.capacity);
        if let Some(wheel) = &self.wheel {
            let scheduled = (0..len as u32)
                .filter(|&i| self.slab.node(i).deadline != NEVER_CODE)
                .count();
            assert_eq!(wheel.len(), scheduled);
        }
    }
}
