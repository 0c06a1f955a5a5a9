//! A hierarchical timer wheel with intrusive lists, one per cache shard.
//!
//! The wheel owns only list heads: the `prev`/`next` links of its doubly linked lists live
//! in the shard's slab nodes and are reached through [`TimerNodes`], so scheduling a node
//! allocates nothing. Time is in milliseconds ("ticks") since the cache's clock origin.
//!
//! Layout (as in tokio's wheel): six levels of 64 slots; a slot at level `l` spans `64^l`
//! ms, so the levels reach 2^36 ms (about 795 days) ahead. A node goes to the level of the
//! highest 6-bit group in which its deadline differs from `elapsed` (the wheel's notion of
//! "now"), which gives the ordering everything relies on: nodes at a lower level are due
//! before nodes at a higher level. Deadlines in a later 2^36 ms block wait in an overflow
//! list. As time advances, `pop_expired` cascades the nodes of each slot it reaches down to
//! finer slots, until they land in a level-0 slot (one ms wide) and are returned.
//!
//! The first node of a list has `prev` set to a *slot marker*, a reserved index above
//! [`MAX_NODE_INDEX`] naming the list it heads, so any node can be unlinked in O(1) without
//! knowing where it was filed.

use crate::slab::{Links, NIL};

/// How the wheel reaches the nodes it links together (implemented by the shard's slab).
pub(crate) trait TimerNodes {
    /// The timer links of node `index`.
    fn timer_links(&mut self, index: u32) -> &mut Links;
    /// The node's absolute deadline in ms (only asked of scheduled nodes).
    fn deadline(&self, index: u32) -> u64;
}

/// Bits of time each level resolves: 64 slots per level.
const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;
const LEVELS: usize = 6;
/// The levels together cover one block of 2^36 ms; later deadlines go to the overflow list.
const WHEEL_BITS: u32 = SLOT_BITS * LEVELS as u32;
const WHEEL_MASK: u64 = (1 << WHEEL_BITS) - 1;

/// List ids: `level * SLOTS + slot` for the wheel's slots, then the two overflow lists.
const LEVEL_LISTS: usize = LEVELS * SLOTS;
/// Deadlines beyond the current 2^36 ms block.
const OVERFLOW: usize = LEVEL_LISTS;
/// Overflow nodes being re-filed after time entered a new block (see `pop_expired`). Kept
/// apart from `OVERFLOW` so that nodes which go straight back there are not met again.
const DRAINING: usize = LEVEL_LISTS + 1;
const LISTS: usize = LEVEL_LISTS + 2;

/// Index values reserved for slot markers (more than needed, to leave room).
const MARKERS: u32 = 1024;
const _: () = assert!(LISTS as u32 <= MARKERS);

/// Largest node index the wheel can link: indices above it are reserved as slot markers.
pub(crate) const MAX_NODE_INDEX: u32 = NIL - MARKERS - 1;
const FIRST_MARKER: u32 = MAX_NODE_INDEX + 1;

/// The marker stored in the `prev` link of the first node of `list`.
fn marker(list: usize) -> u32 {
    FIRST_MARKER + list as u32
}

/// The list that `prev` marks the head of, or `None` if `prev` is a node index.
fn marked_list(prev: u32) -> Option<usize> {
    debug_assert_ne!(prev, NIL, "node is not scheduled");
    prev.checked_sub(FIRST_MARKER).map(|list| list as usize)
}

/// Position of `time` within its level-`level` block: the slot it falls in.
fn slot_of(time: u64, level: usize) -> usize {
    ((time >> (SLOT_BITS * level as u32)) & SLOT_MASK) as usize
}

/// Start time of slot `slot` of level `level` in the block of `elapsed`. Cannot overflow: it
/// lies in the same level-`level + 1` block as `elapsed`. The caller keeps `slot` within the
/// block (at or after the current slot, as the search starts there), so no wrap-around.
fn slot_start(elapsed: u64, level: usize, slot: usize) -> u64 {
    let shift = SLOT_BITS * level as u32;
    let block_mask = (1u64 << (shift + SLOT_BITS)) - 1;
    (elapsed & !block_mask) | ((slot as u64) << shift)
}

/// The list a node due at `deadline` belongs in while the wheel is at `elapsed`.
fn list_for(elapsed: u64, deadline: u64) -> usize {
    if deadline <= elapsed {
        // Already due: file it under the current ms, which is the next slot processed.
        return slot_of(elapsed, 0);
    }
    // The highest bit in which they differ picks the level (`| SLOT_MASK` makes it level 0
    // when they differ only within the lowest group).
    let highest_difference = 63 - ((elapsed ^ deadline) | SLOT_MASK).leading_zeros();
    let level = (highest_difference / SLOT_BITS) as usize;
    if level < LEVELS {
        level * SLOTS + slot_of(deadline, level)
    } else {
        OVERFLOW
    }
}

/// A hierarchical timer wheel over intrusive lists; see the module documentation.
#[derive(Debug)]
pub(crate) struct TimerWheel {
    /// The wheel's current time: slots are placed relative to it. Only moves forward.
    elapsed: u64,
    /// First node of each list, or `NIL`.
    heads: [u32; LISTS],
    /// Per level, bit `s` is set iff slot `s` is non-empty.
    occupied: [u64; LEVELS],
    /// Number of scheduled nodes.
    len: usize,
    /// Lower bound on every scheduled deadline, so nothing is due before it: lowered by
    /// `schedule`, raised only when `pop_expired` finds no slot starting by `now`.
    next_due: u64,
    /// The list `pop_expired` is working through (its slot starts at `elapsed`), so
    /// a slot of many nodes costs one search for the earliest slot, not one each.
    current: Option<usize>,
}

impl TimerWheel {
    /// An empty wheel whose time starts at `now`.
    pub(crate) fn new(now: u64) -> Self {
        TimerWheel {
            elapsed: now,
            heads: [NIL; LISTS],
            occupied: [0; LEVELS],
            len: 0,
            next_due: u64::MAX,
            current: None,
        }
    }

    /// Whether `links` belong to a scheduled node.
    pub(crate) fn is_scheduled(links: Links) -> bool {
        links.prev != NIL
    }

    /// Number of scheduled nodes.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether no node is scheduled.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Schedules the unscheduled node `index` to become due at `deadline`. A deadline that
    /// has already passed makes it due at the next `pop_expired`.
    pub(crate) fn schedule(&mut self, nodes: &mut impl TimerNodes, index: u32, deadline: u64) {
        debug_assert!(index <= MAX_NODE_INDEX, "node index {index} is reserved");
        debug_assert!(
            !Self::is_scheduled(*nodes.timer_links(index)),
            "node {index} is already scheduled"
        );
        self.link(nodes, index, deadline);
        self.len += 1;
        self.next_due = self.next_due.min(deadline);
    }

    /// Unschedules node `index`, leaving its links `UNLINKED`; a no-op if it is not scheduled.
    pub(crate) fn cancel(&mut self, nodes: &mut impl TimerNodes, index: u32) {
        if Self::is_scheduled(*nodes.timer_links(index)) {
            self.unlink(nodes, index);
            self.len -= 1;
        }
    }

    /// Moves node `index` (scheduled or not) to `deadline`.
    pub(crate) fn reschedule(&mut self, nodes: &mut impl TimerNodes, index: u32, deadline: u64) {
        self.cancel(nodes, index);
        self.schedule(nodes, index, deadline);
    }

    /// The node that lived elsewhere now lives at `new_index` (the slab swap-removed and
    /// copied its links): patches whatever pointed at its old index, its neighbour's link
    /// or the list head. A no-op if the node is unscheduled. The node's old neighbours must
    /// still be in place, so a swap-removed node has to be cancelled before the move.
    pub(crate) fn relocate(&mut self, nodes: &mut impl TimerNodes, new_index: u32) {
        let links = *nodes.timer_links(new_index);
        if !Self::is_scheduled(links) {
            return;
        }
        match marked_list(links.prev) {
            Some(list) => self.heads[list] = new_index,
            None => nodes.timer_links(links.prev).next = new_index,
        }
        if links.next != NIL {
            nodes.timer_links(links.next).prev = new_index;
        }
    }

    /// Returns one scheduled node whose deadline is `<= now`, already unlinked, or `None`
    /// when nothing more is due at `now` or `budget` is spent. Each node returned or moved
    /// to a finer slot costs 1 from `budget`, which bounds the work of one call.
    ///
    /// Resumable: all progress lives in the lists and `elapsed`, so the caller may cancel,
    /// schedule and relocate nodes between calls. `now` should not decrease between calls;
    /// a smaller `now` is safe (nothing fires early) but may delay due nodes until `now`
    /// catches up again.
    pub(crate) fn pop_expired(
        &mut self,
        nodes: &mut impl TimerNodes,
        now: u64,
        budget: &mut usize,
    ) -> Option<u32> {
        while *budget > 0 {
            let current = self
                .current
                .filter(|&list| self.heads[list] != NIL && self.elapsed <= now);
            let list = if let Some(list) = current {
                // Still the earliest (nothing filed since starts before `elapsed`), and
                // due: it started at `elapsed`, which is not after `now`.
                list
            } else if self.heads[DRAINING] != NIL {
                // Finish re-filing the overflow before anything else: its nodes may be due
                // earlier than what the levels hold.
                DRAINING
            } else if let Some((list, start)) = self.earliest_slot() {
                if start > now {
                    return self.idle(now, start);
                }
                // All other slots start at or after `start`, so moving time there keeps
                // every slot's position (and so its time range) unchanged.
                self.elapsed = start;
                list
            } else if self.heads[OVERFLOW] != NIL {
                // The levels are empty; the overflow's nodes lie beyond the current block.
                // `elapsed | WHEEL_MASK` is u64::MAX only in the last block, where nothing
                // can be beyond, so the fallback is never taken.
                let next_block = (self.elapsed | WHEEL_MASK).checked_add(1);
                debug_assert!(next_block.is_some(), "overflow nodes in the last block");
                let start = next_block.unwrap_or(self.elapsed);
                if start > now {
                    return self.idle(now, start);
                }
                // With the levels empty, time can jump straight to `now`: every overflow
                // node is either due (returned) or lies beyond `now` (re-filed against it).
                self.elapsed = now;
                self.start_draining(nodes);
                DRAINING
            } else {
                return self.idle(now, u64::MAX);
            };
            self.current = Some(list);

            // Take the list's first node: return it if due, else file it afresh, which puts
            // it in a finer slot (or, while draining, possibly back in the overflow), never
            // back in this list.
            let index = self.heads[list];
            let deadline = nodes.deadline(index);
            self.unlink(nodes, index);
            *budget -= 1;
            if deadline <= now {
                self.len -= 1;
                return Some(index);
            }
            self.link(nodes, index, deadline);
        }
        None
    }

    /// Cheap O(1) check: false only when certainly nothing is due at `now`, so that
    /// callers can skip `pop_expired` on the hot path.
    pub(crate) fn may_have_due(&self, now: u64) -> bool {
        self.len != 0 && now >= self.next_due
    }

    /// Forgets every node (the caller resets or drops their links); keeps the time.
    #[cfg(test)]
    pub(crate) fn clear(&mut self) {
        *self = TimerWheel::new(self.elapsed);
    }

    /// Nothing is due before `next` (> `now`): advance time to `now` and remember `next`.
    ///
    /// Moving to `now` keeps every node in its slot: each occupied slot starts after `now`,
    /// so `now` still lies in the same block as the slot, before it.
    fn idle(&mut self, now: u64, next: u64) -> Option<u32> {
        // Time moves: the list being worked through no longer starts at `elapsed`.
        self.current = None;
        self.elapsed = self.elapsed.max(now);
        self.next_due = self.next_due.max(next);
        None
    }

    /// The occupied level slot that starts earliest, with its start time, or `None` if all
    /// levels are empty.
    ///
    /// Usually that is the first occupied slot of the lowest occupied level, but a
    /// higher-level slot whose cascade was cut short by the budget holds nodes due before
    /// some of those it already moved down. Its start is `elapsed`, the earliest possible,
    /// so choosing by start time finishes it before time moves on. Hence time never enters
    /// an occupied slot except at its start, and no slot starts before `elapsed`.
    fn earliest_slot(&self) -> Option<(usize, u64)> {
        let mut earliest: Option<(usize, u64)> = None;
        for (level, &occupied) in self.occupied.iter().enumerate() {
            if occupied == 0 {
                continue;
            }
            let current = slot_of(self.elapsed, level);
            let slot = current + occupied.rotate_right(current as u32).trailing_zeros() as usize;
            debug_assert!(slot < SLOTS, "occupied slot behind elapsed");
            let start = slot_start(self.elapsed, level, slot);
            debug_assert!(
                start >= self.elapsed,
                "occupied slot started before elapsed"
            );
            if earliest.is_none_or(|(_, best)| start < best) {
                earliest = Some((level * SLOTS + slot, start));
            }
        }
        earliest
    }

    /// Moves the whole overflow list to `DRAINING` (O(1): only its head names the list).
    fn start_draining(&mut self, nodes: &mut impl TimerNodes) {
        let head = std::mem::replace(&mut self.heads[OVERFLOW], NIL);
        nodes.timer_links(head).prev = marker(DRAINING);
        self.heads[DRAINING] = head;
    }

    /// Pushes node `index` onto the front of the list for `deadline`. Does not count it.
    fn link(&mut self, nodes: &mut impl TimerNodes, index: u32, deadline: u64) {
        let list = list_for(self.elapsed, deadline);
        let head = self.heads[list];
        *nodes.timer_links(index) = Links {
            prev: marker(list),
            next: head,
        };
        if head != NIL {
            nodes.timer_links(head).prev = index;
        }
        self.heads[list] = index;
        if list < LEVEL_LISTS {
            self.occupied[list / SLOTS] |= 1 << (list % SLOTS);
        }
    }

    /// Removes scheduled node `index` from its list and resets its links. Does not count it.
    fn unlink(&mut self, nodes: &mut impl TimerNodes, index: u32) {
        let Links { prev, next } = std::mem::replace(nodes.timer_links(index), Links::UNLINKED);
        if next != NIL {
            nodes.timer_links(next).prev = prev;
        }
        match marked_list(prev) {
            Some(list) => {
                self.heads[list] = next;
                if next == NIL && list < LEVEL_LISTS {
                    self.occupied[list / SLOTS] &= !(1 << (list % SLOTS));
                }
            }
            None => nodes.timer_links(prev).next = next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    /// Test nodes: (timer links, deadline) per index.
    #[derive(Default)]
    struct Nodes(Vec<(Links, u64)>);

    impl TimerNodes for Nodes {
        fn timer_links(&mut self, index: u32) -> &mut Links {
            &mut self.0[index as usize].0
        }
        fn deadline(&self, index: u32) -> u64 {
            self.0[index as usize].1
        }
    }

    impl Nodes {
        /// Adds a node and schedules it at `deadline`; returns its index.
        fn add(&mut self, wheel: &mut TimerWheel, deadline: u64) -> u32 {
            let index = self.0.len() as u32;
            self.0.push((Links::UNLINKED, deadline));
            wheel.schedule(self, index, deadline);
            index
        }

        fn links(&self, index: u32) -> Links {
            self.0[index as usize].0
        }

        /// Simulates the slab's swap-remove of (unscheduled) node `index`.
        fn swap_remove(&mut self, wheel: &mut TimerWheel, index: u32) {
            assert!(!TimerWheel::is_scheduled(self.links(index)));
            self.0.swap_remove(index as usize);
            if (index as usize) < self.0.len() {
                wheel.relocate(self, index);
            }
        }
    }

    /// Pops everything due at `now` with an unlimited budget.
    fn pop_all(wheel: &mut TimerWheel, nodes: &mut Nodes, now: u64) -> Vec<u32> {
        let mut fired = Vec::new();
        let mut budget = usize::MAX;
        while let Some(index) = wheel.pop_expired(nodes, now, &mut budget) {
            assert!(nodes.deadline(index) <= now, "node {index} fired early");
            assert_eq!(nodes.links(index), Links::UNLINKED);
            fired.push(index);
        }
        wheel.check(nodes);
        fired.sort_unstable();
        fired
    }

    fn sorted(indices: &[u32]) -> Vec<u32> {
        let mut v = indices.to_vec();
        v.sort_unstable();
        v
    }

    impl TimerWheel {
        /// Checks the wheel's structure against the nodes (`next_due` assumes `now` never
        /// went backwards).
        fn check(&self, nodes: &Nodes) {
            let mut count = 0;
            for list in 0..LISTS {
                if list < LEVEL_LISTS {
                    let bit = (self.occupied[list / SLOTS] >> (list % SLOTS)) & 1;
                    assert_eq!(
                        bit == 1,
                        self.heads[list] != NIL,
                        "occupancy of list {list}"
                    );
                }
                let mut prev = marker(list);
                let mut index = self.heads[list];
                while index != NIL {
                    let (links, deadline) = nodes.0[index as usize];
                    assert_eq!(links.prev, prev, "back link of {index}");
                    assert!(self.next_due <= deadline, "next_due above a deadline");
                    if list < LEVEL_LISTS {
                        // Never later than its slot's end (earlier only if due already).
                        let (level, slot) = (list / SLOTS, list % SLOTS);
                        let shift = SLOT_BITS * level as u32;
                        assert!(slot >= slot_of(self.elapsed, level), "slot behind time");
                        assert!(slot_start(self.elapsed, level, slot) >= self.elapsed);
                        let end = slot_start(self.elapsed, level, slot) as u128 + (1 << shift);
                        assert!((deadline as u128) < end, "deadline after its slot");
                    } else if list == OVERFLOW {
                        assert!(deadline > self.elapsed | WHEEL_MASK);
                    }
                    count += 1;
                    prev = index;
                    index = links.next;
                }
            }
            assert_eq!(count, self.len);
        }
    }

    const YEAR: u64 = 365 * 24 * 3600 * 1000;

    /// Distances from `start` around every level boundary, both in absolute terms and
    /// relative to the block `start` sits in.
    fn interesting_offsets(start: u64) -> Vec<u64> {
        let mut offsets = vec![0, 1, 2, 5 * YEAR, 100 * YEAR, 3 << WHEEL_BITS];
        for level in 0..=8u32 {
            let span = 1u64 << (SLOT_BITS * level);
            let to_boundary = (start | (span - 1)) - start + 1;
            for base in [span, 2 * span, to_boundary, to_boundary + span] {
                offsets.extend([base - 1, base, base + 1]);
            }
        }
        offsets.sort_unstable();
        offsets.dedup();
        offsets
    }

    const STARTS: [u64; 4] = [0, 1_000_003, (1 << 40) + 12_345, u64::MAX - (1 << 50) + 777];

    #[test]
    fn each_deadline_fires_exactly_at_its_time() {
        for start in STARTS {
            for offset in interesting_offsets(start) {
                let deadline = start + offset;
                // Straight to the deadline, and via a halfway point that cascades first.
                for halfway in [false, true] {
                    let mut wheel = TimerWheel::new(start);
                    let mut nodes = Nodes::default();
                    let index = nodes.add(&mut wheel, deadline);
                    if halfway && offset > 0 {
                        assert!(pop_all(&mut wheel, &mut nodes, start + offset / 2).is_empty());
                    }
                    if deadline > start {
                        assert!(!wheel.may_have_due(deadline - 1));
                        assert!(pop_all(&mut wheel, &mut nodes, deadline - 1).is_empty());
                        assert!(!wheel.may_have_due(deadline - 1));
                    }
                    assert!(wheel.may_have_due(deadline));
                    assert_eq!(pop_all(&mut wheel, &mut nodes, deadline), [index]);
                    assert!(wheel.is_empty());
                }
            }
        }
    }

    #[test]
    fn many_deadlines_fire_in_step() {
        for start in STARTS {
            let mut wheel = TimerWheel::new(start);
            let mut nodes = Nodes::default();
            let deadlines: Vec<u64> = interesting_offsets(start)
                .into_iter()
                .map(|offset| start + offset)
                .collect();
            for &deadline in &deadlines {
                nodes.add(&mut wheel, deadline);
            }
            let mut times: Vec<u64> = deadlines
                .iter()
                .flat_map(|&d| [d.saturating_sub(1), d])
                .collect();
            times.retain(|&t| t >= start);
            times.sort_unstable();
            times.dedup();
            let mut fired = Vec::new();
            for now in times {
                fired.extend(pop_all(&mut wheel, &mut nodes, now));
                let expected: Vec<u32> = (0..deadlines.len() as u32)
                    .filter(|&i| deadlines[i as usize] <= now)
                    .collect();
                assert_eq!(sorted(&fired), expected, "at {now}");
                assert_eq!(wheel.len(), deadlines.len() - fired.len());
            }
            assert!(wheel.is_empty());
        }
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        for start in [0, u64::MAX - 1000] {
            let mut wheel = TimerWheel::new(start);
            let mut nodes = Nodes::default();
            let a = nodes.add(&mut wheel, u64::MAX);
            let b = nodes.add(&mut wheel, u64::MAX - 1);
            let c = nodes.add(&mut wheel, start); // due at once
            assert_eq!(pop_all(&mut wheel, &mut nodes, start), [c]);
            assert!(pop_all(&mut wheel, &mut nodes, u64::MAX - 2).is_empty());
            assert_eq!(pop_all(&mut wheel, &mut nodes, u64::MAX - 1), [b]);
            assert_eq!(pop_all(&mut wheel, &mut nodes, u64::MAX), [a]);
            // Time is at the very end: new nodes are due at once.
            let d = nodes.add(&mut wheel, 5);
            let e = nodes.add(&mut wheel, u64::MAX);
            assert!(wheel.may_have_due(u64::MAX));
            assert_eq!(pop_all(&mut wheel, &mut nodes, u64::MAX), [d, e]);
            assert!(!wheel.may_have_due(u64::MAX));
        }
    }

    #[test]
    fn past_deadlines_are_due_at_once() {
        let mut wheel = TimerWheel::new(1000);
        let mut nodes = Nodes::default();
        let a = nodes.add(&mut wheel, 3);
        let b = nodes.add(&mut wheel, 1000);
        assert!(wheel.may_have_due(1000));
        assert_eq!(pop_all(&mut wheel, &mut nodes, 1000), [a, b]);
        // A `now` behind the wheel's time never fires anything early.
        let c = nodes.add(&mut wheel, 1500);
        assert!(pop_all(&mut wheel, &mut nodes, 900).is_empty());
        assert_eq!(pop_all(&mut wheel, &mut nodes, 1500), [c]);
    }

    #[test]
    fn cancel_head_middle_tail_and_overflow() {
        let mut wheel = TimerWheel::new(0);
        let mut nodes = Nodes::default();
        // Same slot; pushed at the front, so 4 is the head and 0 the tail.
        let same: Vec<u32> = (0..5).map(|_| nodes.add(&mut wheel, 100)).collect();
        let far = nodes.add(&mut wheel, 100 * YEAR);
        let far2 = nodes.add(&mut wheel, 100 * YEAR + 1);
        wheel.cancel(&mut nodes, same[2]); // middle
        wheel.cancel(&mut nodes, same[4]); // head
        wheel.cancel(&mut nodes, same[0]); // tail
        wheel.cancel(&mut nodes, far); // overflow head
        wheel.cancel(&mut nodes, same[0]); // no-op
        for index in [same[0], same[2], same[4], far] {
            assert_eq!(nodes.links(index), Links::UNLINKED);
        }
        wheel.check(&nodes);
        assert_eq!(wheel.len(), 3);
        assert!(pop_all(&mut wheel, &mut nodes, 99).is_empty());
        assert_eq!(pop_all(&mut wheel, &mut nodes, 100), [same[1], same[3]]);
        wheel.cancel(&mut nodes, far2); // sole overflow node
        assert!(wheel.is_empty());
        assert_eq!(wheel.occupied, [0; LEVELS]);
        assert!(wheel.heads.iter().all(|&head| head == NIL));
        assert!(!wheel.may_have_due(u64::MAX));
    }

    #[test]
    fn reschedule_moves_between_levels() {
        let mut wheel = TimerWheel::new(10);
        let mut nodes = Nodes::default();
        let a = nodes.add(&mut wheel, 50);
        let b = nodes.add(&mut wheel, 50);
        let c = nodes.add(&mut wheel, 10 * YEAR);
        nodes.0[a as usize].1 = 10 * YEAR;
        wheel.reschedule(&mut nodes, a, 10 * YEAR); // tail of a slot into the overflow
        nodes.0[c as usize].1 = 60;
        wheel.reschedule(&mut nodes, c, 60); // overflow into level 0
        nodes.0[b as usize].1 = 5000;
        wheel.reschedule(&mut nodes, b, 5000); // level 0 into level 2
        wheel.check(&nodes);
        assert!(pop_all(&mut wheel, &mut nodes, 59).is_empty());
        assert_eq!(pop_all(&mut wheel, &mut nodes, 60), [c]);
        assert!(pop_all(&mut wheel, &mut nodes, 4999).is_empty());
        assert_eq!(pop_all(&mut wheel, &mut nodes, 5000), [b]);
        assert!(pop_all(&mut wheel, &mut nodes, 10 * YEAR - 1).is_empty());
        assert_eq!(pop_all(&mut wheel, &mut nodes, 10 * YEAR), [a]);
    }

    #[test]
    fn relocate_after_swap_remove() {
        // The last node (which the swap-remove moves) sits at the head, middle or tail of a
        // slot, alone in a slot, or in the overflow; every other node is removed in turn.
        // Nodes are scheduled in `order`, and each list is pushed at the front.
        let cases: [(&[u64], [u32; 5]); 5] = [
            (&[7, 100, 100, 100, 100], [0, 1, 2, 3, 4]), // head
            (&[7, 100, 100, 100, 100], [0, 1, 2, 4, 3]), // middle
            (&[7, 100, 100, 100, 100], [0, 4, 1, 2, 3]), // tail
            (&[7, 100, 100, 100, 200], [0, 1, 2, 3, 4]), // alone
            (&[7, 1 << 40, 1 << 41, 9, 1 << 40], [0, 1, 4, 2, 3]), // overflow middle
        ];
        for (deadlines, order) in cases {
            for removed in 0..deadlines.len() as u32 {
                let mut wheel = TimerWheel::new(0);
                let mut nodes = Nodes(deadlines.iter().map(|&d| (Links::UNLINKED, d)).collect());
                for index in order {
                    wheel.schedule(&mut nodes, index, deadlines[index as usize]);
                }
                wheel.cancel(&mut nodes, removed);
                nodes.swap_remove(&mut wheel, removed);
                let mut deadlines = deadlines.to_vec();
                deadlines.swap_remove(removed as usize);
                wheel.check(&nodes);
                let mut fired = Vec::new();
                for now in [8, 99, 100, 200, 1 << 40, 1 << 41, u64::MAX] {
                    for index in pop_all(&mut wheel, &mut nodes, now) {
                        assert!(deadlines[index as usize] <= now);
                        fired.push(index);
                    }
                }
                assert_eq!(
                    sorted(&fired),
                    (0..deadlines.len() as u32).collect::<Vec<_>>()
                );
            }
        }
    }

    #[test]
    fn budget_one_is_resumable() {
        let deadlines: Vec<u64> = (0..300u64)
            .map(|i| match i % 4 {
                0 => 100,                     // one level-1 slot, many nodes
                1 => 64 + i,                  // spread over the same level-1 range
                2 => i * 977,                 // higher levels
                _ => (1 << 37) + i * 100_000, // overflow
            })
            .collect();
        for with_cancels in [false, true] {
            let mut wheel = TimerWheel::new(0);
            let mut nodes = Nodes::default();
            for &deadline in &deadlines {
                nodes.add(&mut wheel, deadline);
            }
            let mut cancelled = BTreeSet::new();
            let mut fired = BTreeSet::new();
            let mut calls = 0;
            for now in [0, 90, 100, 150, 100_000, 1 << 37, 1 << 38] {
                loop {
                    let mut budget = 1;
                    let popped = wheel.pop_expired(&mut nodes, now, &mut budget);
                    calls += 1;
                    if let Some(index) = popped {
                        assert_eq!(budget, 0);
                        assert!(deadlines[index as usize] <= now);
                        assert!(fired.insert(index));
                    } else if budget == 1 {
                        break; // nothing more due at `now`
                    }
                    if with_cancels && calls % 7 == 0 {
                        // Cancel some still-scheduled node between calls.
                        let victim = (calls * 31 % deadlines.len()) as u32;
                        if TimerWheel::is_scheduled(nodes.links(victim)) {
                            wheel.cancel(&mut nodes, victim);
                            cancelled.insert(victim);
                        }
                    }
                    wheel.check(&nodes);
                }
                let expected: BTreeSet<u32> = (0..deadlines.len() as u32)
                    .filter(|&i| deadlines[i as usize] <= now && !cancelled.contains(&i))
                    .collect();
                assert_eq!(fired, expected, "at {now}");
            }
            assert!(wheel.is_empty());
        }
    }

    #[test]
    fn zero_budget_does_nothing() {
        let mut wheel = TimerWheel::new(0);
        let mut nodes = Nodes::default();
        nodes.add(&mut wheel, 5);
        let mut budget = 0;
        assert_eq!(wheel.pop_expired(&mut nodes, 10, &mut budget), None);
        assert_eq!(wheel.len(), 1);
        assert!(wheel.may_have_due(10));
    }

    #[test]
    fn clear_forgets_everything_but_time() {
        let mut wheel = TimerWheel::new(0);
        let mut nodes = Nodes::default();
        nodes.add(&mut wheel, 5);
        nodes.add(&mut wheel, 1 << 40);
        assert!(pop_all(&mut wheel, &mut nodes, 3).is_empty());
        wheel.clear();
        assert!(wheel.is_empty());
        assert!(!wheel.may_have_due(u64::MAX));
        let mut nodes = Nodes::default();
        let a = nodes.add(&mut wheel, 1);
        assert_eq!(pop_all(&mut wheel, &mut nodes, 3), [a]);
    }

    #[derive(Clone, Debug)]
    enum Op {
        /// Adds a node due `delta` after (or, if `past`, before) now.
        Schedule {
            delta: u64,
            past: bool,
        },
        Reschedule {
            pick: usize,
            delta: u64,
        },
        Cancel {
            pick: usize,
        },
        /// Cancels a node and swap-removes it from the slab.
        SwapRemove {
            pick: usize,
        },
        Advance(u64),
        Pop {
            budget: usize,
        },
        PopAll,
    }

    fn delta() -> impl Strategy<Value = u64> {
        prop_oneof![
            0..4u64,
            0..200u64,
            0..100_000u64,
            0..1u64 << 40,
            any::<u64>(),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (delta(), prop::bool::weighted(0.1))
                .prop_map(|(delta, past)| Op::Schedule { delta, past }),
            2 => (any::<usize>(), delta()).prop_map(|(pick, delta)| Op::Reschedule { pick, delta }),
            1 => any::<usize>().prop_map(|pick| Op::Cancel { pick }),
            1 => any::<usize>().prop_map(|pick| Op::SwapRemove { pick }),
            3 => prop_oneof![
                5 => 0..3u64,
                5 => 0..100u64,
                3 => 0..10_000u64,
                2 => 0..1u64 << 30,
                1 => 0..1u64 << 40,
                1 => Just(u64::MAX),
            ]
            .prop_map(Op::Advance),
            2 => (0..5usize).prop_map(|budget| Op::Pop { budget }),
            2 => Just(Op::PopAll),
        ]
    }

    fn start() -> impl Strategy<Value = u64> {
        prop_oneof![Just(0), any::<u64>(), u64::MAX - 100_000..]
    }

    /// Records in the model that node `index` fired at `now`.
    fn fire(model: &mut [Option<u64>], index: u32, now: u64) -> Result<(), TestCaseError> {
        let deadline = model[index as usize].take();
        prop_assert!(deadline.is_some(), "unscheduled node {} fired", index);
        prop_assert!(deadline.unwrap() <= now, "node {} fired early", index);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn matches_a_model(start in start(), ops in prop::collection::vec(op(), 1..200)) {
            let mut now = start;
            let mut wheel = TimerWheel::new(now);
            let mut nodes = Nodes::default();
            // The model: each node's deadline while it is scheduled.
            let mut model: Vec<Option<u64>> = Vec::new();
            let due = |model: &[Option<u64>], now: u64| {
                model.iter().any(|d| d.is_some_and(|d| d <= now))
            };

            for op in ops {
                match op {
                    Op::Schedule { delta, past } => {
                        let deadline =
                            if past { now.saturating_sub(delta) } else { now.saturating_add(delta) };
                        nodes.add(&mut wheel, deadline);
                        model.push(Some(deadline));
                    }
                    Op::Reschedule { pick, delta } if !model.is_empty() => {
                        let index = pick % model.len();
                        let deadline = now.saturating_add(delta);
                        nodes.0[index].1 = deadline;
                        wheel.reschedule(&mut nodes, index as u32, deadline);
                        model[index] = Some(deadline);
                    }
                    Op::Cancel { pick } if !model.is_empty() => {
                        let index = pick % model.len();
                        wheel.cancel(&mut nodes, index as u32);
                        model[index] = None;
                    }
                    Op::SwapRemove { pick } if !model.is_empty() => {
                        let index = pick % model.len();
                        wheel.cancel(&mut nodes, index as u32);
                        nodes.swap_remove(&mut wheel, index as u32);
                        model.swap_remove(index);
                    }
                    Op::Advance(by) => {
                        now = now.saturating_add(by);
                        if due(&model, now) {
                            prop_assert!(wheel.may_have_due(now));
                        }
                    }
                    Op::Pop { budget } => {
                        let mut left = budget;
                        let popped = wheel.pop_expired(&mut nodes, now, &mut left);
                        prop_assert!(left <= budget);
                        if let Some(index) = popped {
                            prop_assert!(left < budget);
                            prop_assert_eq!(nodes.links(index), Links::UNLINKED);
                            fire(&mut model, index, now)?;
                        }
                    }
                    Op::PopAll => {
                        let mut budget = usize::MAX;
                        while let Some(index) = wheel.pop_expired(&mut nodes, now, &mut budget) {
                            prop_assert_eq!(nodes.links(index), Links::UNLINKED);
                            fire(&mut model, index, now)?;
                        }
                        prop_assert!(!due(&model, now), "a due node did not fire");
                        prop_assert!(!wheel.may_have_due(now));
                    }
                    _ => {}
                }
                wheel.check(&nodes);
                prop_assert_eq!(wheel.len(), model.iter().flatten().count());
                for (index, deadline) in model.iter().enumerate() {
                    let links = nodes.links(index as u32);
                    prop_assert_eq!(TimerWheel::is_scheduled(links), deadline.is_some());
                }
            }
        }
    }
}
