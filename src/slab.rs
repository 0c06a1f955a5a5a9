//! The slab: a dense `Vec` of nodes with an intrusive LRU list threaded through it.

/// "No node": the end of a list, or a node that is in no list.
pub(crate) const NIL: u32 = u32::MAX;

/// A pair of intrusive links (slab indices) for one doubly-linked list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Links {
    pub(crate) prev: u32,
    pub(crate) next: u32,
}

impl Links {
    pub(crate) const UNLINKED: Links = Links {
        prev: NIL,
        next: NIL,
    };
}

/// One entry. Kept small on purpose: for `Cache<u64, u64>` this is 40 bytes.
///
/// `hash` is the 32 bits of the key's hash that the table uses, so growing or
/// shrinking the table never runs user `Hash` code. `deadline` is the compact
/// encoding from [`crate::deadline`].
#[derive(Debug)]
pub(crate) struct Node<K, V> {
    pub(crate) key: K,
    pub(crate) value: V,
    pub(crate) hash: u32,
    pub(crate) deadline: u32,
    pub(crate) lru: Links,
    pub(crate) timer: Links,
}

/// Dense storage for a shard's nodes, with the LRU list threaded through them.
///
/// Removal swap-removes, so the slab never has holes: index `i < len()` is always
/// a live node, and the `Vec` can shrink. The head of the LRU list is the most
/// recently used node, the tail the least.
#[derive(Debug)]
pub(crate) struct Slab<K, V> {
    nodes: Vec<Node<K, V>>,
    head: u32,
    tail: u32,
}

/// How much a full slab grows by. Not doubling: a doubled slab is up to half
/// empty, and bytes per entry are what this crate is about. Small slabs grow by a
/// quarter (copies are cheap there); large ones by 1/32, which keeps the slack
/// under ~3 %. Large blocks are usually grown in place or remapped by the
/// allocator, and a shard grows only while it fills, so the extra reallocations
/// cost little (measured: under 10 instructions per insert at 1 M entries).
fn growth(len: usize) -> usize {
    const SMALL: usize = 4096;
    let divisor = if len < SMALL { 4 } else { 32 };
    (len / divisor).max(8)
}

impl<K, V> Slab<K, V> {
    pub(crate) const fn new() -> Self {
        Slab {
            nodes: Vec::new(),
            head: NIL,
            tail: NIL,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.nodes.capacity()
    }

    pub(crate) fn allocation_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node<K, V>>()
    }

    pub(crate) fn node(&self, index: u32) -> &Node<K, V> {
        &self.nodes[index as usize]
    }

    pub(crate) fn node_mut(&mut self, index: u32) -> &mut Node<K, V> {
        &mut self.nodes[index as usize]
    }

    /// The least recently used node, if any.
    pub(crate) fn lru_tail(&self) -> Option<u32> {
        (self.tail != NIL).then_some(self.tail)
    }

    /// The index the next [`push_front`](Self::push_front) will use, checked against
    /// `max_index` before anything is changed, so hitting the limit never leaves a
    /// half-inserted entry behind.
    pub(crate) fn next_index(&self, max_index: u32) -> u32 {
        match u32::try_from(self.nodes.len()) {
            Ok(index) if index <= max_index => index,
            _ => panic!(
                "ttlru: a shard cannot hold more than {} entries; use more shards",
                u64::from(max_index) + 1
            ),
        }
    }

    /// Appends `node` as the most recently used and returns its index.
    /// The caller has checked the index with [`next_index`](Self::next_index).
    pub(crate) fn push_front(&mut self, node: Node<K, V>) -> u32 {
        let index = self.nodes.len() as u32;
        if self.nodes.len() == self.nodes.capacity() {
            self.nodes.reserve_exact(growth(self.nodes.len()));
        }
        self.nodes.push(node);
        self.link_front(index);
        index
    }

    /// Marks `index` as the most recently used. Always inlined: a drain calls it
    /// once per recorded hit.
    #[inline(always)]
    pub(crate) fn move_to_front(&mut self, index: u32) {
        if self.head != index {
            self.unlink(index);
            self.link_front(index);
        }
    }

    /// Puts the (unlinked) node at `index` at the head of the list.
    fn link_front(&mut self, index: u32) {
        let links = Links {
            prev: NIL,
            next: self.head,
        };
        self.nodes[index as usize].lru = links;
        // The head, and the old head (or the tail, if the list was empty), see it.
        self.point_neighbours(links, index, index);
    }

    /// Takes the node at `index` out of the list (its own links are left stale).
    fn unlink(&mut self, index: u32) {
        let links = self.nodes[index as usize].lru;
        self.point_neighbours(links, links.next, links.prev);
    }

    /// Makes the neighbours named by `links` point onward: the one before (or the
    /// head) at `after_prev`, the one after (or the tail) at `before_next`.
    fn point_neighbours(&mut self, links: Links, after_prev: u32, before_next: u32) {
        match links.prev {
            NIL => self.head = after_prev,
            prev => self.nodes[prev as usize].lru.next = after_prev,
        }
        match links.next {
            NIL => self.tail = before_next,
            next => self.nodes[next as usize].lru.prev = before_next,
        }
    }

    /// Removes the node at `index`, moving the last node into its place.
    ///
    /// Returns the removed node and, if a node moved, its old index. The moved
    /// node's LRU neighbours are patched here; its table slot and timer links
    /// are the caller's to patch.
    pub(crate) fn swap_remove(&mut self, index: u32) -> (Node<K, V>, Option<u32>) {
        self.unlink(index);
        let last = (self.nodes.len() - 1) as u32;
        let removed = self.nodes.swap_remove(index as usize);
        if index == last {
            return (removed, None);
        }
        // The moved node's neighbours (or head and tail) now find it at `index`.
        self.point_neighbours(self.nodes[index as usize].lru, index, index);
        (removed, Some(last))
    }

    /// Puts `node` in the place of the node at `index`, as the most recently
    /// used, and returns the node it replaces. No node moves, so nothing else
    /// needs patching: the way an insert into a full shard reuses the slot of the
    /// entry it evicts.
    pub(crate) fn replace(&mut self, index: u32, node: Node<K, V>) -> Node<K, V> {
        self.unlink(index);
        let replaced = std::mem::replace(&mut self.nodes[index as usize], node);
        self.link_front(index);
        replaced
    }

    /// Removes every node, handing them back so they can be dropped later.
    pub(crate) fn take_all(&mut self) -> Vec<Node<K, V>> {
        self.head = NIL;
        self.tail = NIL;
        std::mem::take(&mut self.nodes)
    }

    /// Room for `additional` more nodes, exactly (a restore knows how many come).
    pub(crate) fn reserve_exact(&mut self, additional: usize) {
        self.nodes.reserve_exact(additional);
    }

    pub(crate) fn shrink_to(&mut self, min_capacity: usize) {
        self.nodes.shrink_to(min_capacity);
    }

    pub(crate) fn nodes_mut(&mut self) -> std::slice::IterMut<'_, Node<K, V>> {
        self.nodes.iter_mut()
    }

    /// The most recently used node, or `NIL`.
    pub(crate) fn lru_head(&self) -> u32 {
        self.head
    }

    /// Indices from most to least recently used (for tests and debugging).
    #[cfg(test)]
    pub(crate) fn lru_order(&self) -> Vec<u32> {
        let mut order = Vec::new();
        let mut at = self.head;
        while at != NIL {
            order.push(at);
            at = self.nodes[at as usize].lru.next;
        }
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(key: u32) -> Node<u32, ()> {
        Node {
            key,
            value: (),
            hash: 0,
            deadline: 0,
            lru: Links::UNLINKED,
            timer: Links::UNLINKED,
        }
    }

    fn keys_in_lru_order(slab: &Slab<u32, ()>) -> Vec<u32> {
        slab.lru_order()
            .into_iter()
            .map(|i| slab.node(i).key)
            .collect()
    }

    #[test]
    fn push_touch_and_swap_remove_keep_the_lru_order() {
        let mut slab = Slab::new();
        for key in 0..5 {
            let index = slab.next_index(u32::MAX - 1);
            assert_eq!(slab.push_front(node(key)), index);
        }
        assert_eq!(keys_in_lru_order(&slab), [4, 3, 2, 1, 0]);
        slab.move_to_front(1);
        assert_eq!(keys_in_lru_order(&slab), [1, 4, 3, 2, 0]);
        // Removing index 0 moves the last node (key 4, index 4) into slot 0.
        let (removed, moved) = slab.swap_remove(0);
        assert_eq!((removed.key, moved), (0, Some(4)));
        assert_eq!(slab.node(0).key, 4);
        assert_eq!(keys_in_lru_order(&slab), [1, 4, 3, 2]);
        assert_eq!(slab.lru_tail().map(|i| slab.node(i).key), Some(2));
        let (removed, moved) = slab.swap_remove(3);
        assert_eq!((removed.key, moved), (3, None));
        assert_eq!(keys_in_lru_order(&slab), [1, 4, 2]);
        while let Some(tail) = slab.lru_tail() {
            slab.swap_remove(tail);
        }
        assert_eq!(slab.len(), 0);
        assert!(keys_in_lru_order(&slab).is_empty());
    }

    #[test]
    #[should_panic(expected = "cannot hold more than 2 entries")]
    fn index_limit_is_a_clear_panic() {
        let mut slab = Slab::new();
        for key in 0..3 {
            slab.next_index(1);
            slab.push_front(node(key));
        }
    }
}
