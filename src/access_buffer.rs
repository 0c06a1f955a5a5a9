//! The access buffer: where a hit made under a shard's shared lock records its
//! promotion (the move to the front of the LRU list), for the next exclusive
//! section to apply, in order, before it does anything else.
//!
//! The protocol, and why it loses nothing:
//! - A reader claims a slot with one `fetch_add` and stores the node's index
//!   there, both under the shared lock. Exclusive sections are the only place
//!   where nodes move in the slab, and each starts by draining the buffer, so an
//!   index is still the same node when it is applied.
//! - A full stripe refuses the record; the reader then takes the exclusive lock
//!   (which drains everything) and makes its access there. An access is never
//!   dropped, so with one thread the LRU order is exactly that of applying every
//!   access at once.
//! - The buffer is striped: each thread records into one stripe (of
//!   [`STRIPES`], each on its own cache lines), so readers on different cores
//!   rarely write the same line. A thread's accesses keep their order within its
//!   stripe; accesses of different threads since the last exclusive section are
//!   applied stripe by stripe, which is an order those concurrent operations
//!   could have happened in.
//!
//! Misses counted under the shared lock go here too, per stripe, for the same
//! reason; hits are counted when they are applied.

use std::sync::atomic::Ordering;

use crate::sync::{AtomicBool, AtomicU32, AtomicU64};

/// Stripes per shard: enough that a few cores hitting one hot shard mostly write
/// different lines, few enough that an idle shard's buffer costs 512 bytes.
pub(crate) const STRIPES: usize = 4;

/// Recorded accesses per stripe: as many as fit in the stripe's two cache lines
/// beside its counters. A full stripe is drained by the reader that found it full.
pub(crate) const SLOTS_PER_STRIPE: usize = 28;

/// One stripe: 128 bytes, so neighbouring stripes never share a cache line
/// (two lines, for CPUs that prefetch lines in pairs).
#[repr(align(128))]
struct Stripe {
    /// Slots claimed since the last drain. It may run past `SLOTS_PER_STRIPE`
    /// (claims that found the stripe full); only the first ones hold indices.
    claimed: AtomicU32,
    misses: AtomicU64,
    slots: [AtomicU32; SLOTS_PER_STRIPE],
}

pub(crate) struct AccessBuffer {
    /// Set by the first record after a drain, so that an exclusive section with
    /// nothing to apply (always, with one thread and no hits) checks one flag, not
    /// every stripe. Readers only read it once it is set: it stays a shared line.
    pending: AtomicBool,
    stripes: [Stripe; STRIPES],
}

impl AccessBuffer {
    pub(crate) fn new() -> Self {
        AccessBuffer {
            pending: AtomicBool::new(false),
            stripes: std::array::from_fn(|_| Stripe {
                claimed: AtomicU32::new(0),
                misses: AtomicU64::new(0),
                slots: std::array::from_fn(|_| AtomicU32::new(0)),
            }),
        }
    }

    /// Records an access to the node at `index`; under the shared lock. Returns
    /// false, recording nothing, when this thread's stripe is full: the caller
    /// must then make the access under the exclusive lock.
    #[inline]
    pub(crate) fn record(&self, index: u32) -> bool {
        let stripe = &self.stripes[stripe_of_this_thread()];
        let position = stripe.claimed.fetch_add(1, Ordering::Relaxed) as usize;
        match stripe.slots.get(position) {
            Some(slot) => {
                // Relaxed is enough: the drain runs under the exclusive lock, which
                // is acquired after this reader releases the shared lock.
                slot.store(index, Ordering::Relaxed);
                if !self.pending.load(Ordering::Relaxed) {
                    self.pending.store(true, Ordering::Relaxed);
                }
                true
            }
            None => false,
        }
    }

    /// Counts a miss; under the shared lock.
    pub(crate) fn count_miss(&self) {
        self.stripes[stripe_of_this_thread()]
            .misses
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Calls `apply` with every recorded index, stripe by stripe and in the order
    /// recorded within each, and empties the buffer. Returns how many there were.
    /// `&mut self`: only an exclusive section drains.
    pub(crate) fn drain(&mut self, mut apply: impl FnMut(u32)) -> u64 {
        self.pending.store(false, Ordering::Relaxed);
        let mut applied = 0;
        for stripe in &self.stripes {
            let claimed = stripe.claimed.load(Ordering::Relaxed) as usize;
            if claimed == 0 {
                continue;
            }
            let recorded = claimed.min(SLOTS_PER_STRIPE);
            for slot in &stripe.slots[..recorded] {
                apply(slot.load(Ordering::Relaxed));
            }
            stripe.claimed.store(0, Ordering::Relaxed);
            applied += recorded as u64;
        }
        applied
    }

    /// [`drain`](Self::drain) for a caller that cannot keep the buffer borrowed
    /// while it applies: a copy of every recorded index, in the same order.
    pub(crate) fn take_all(&mut self) -> impl Iterator<Item = u32> + use<> {
        let mut indices = [0; STRIPES * SLOTS_PER_STRIPE];
        let mut taken = 0;
        self.drain(|index| {
            indices[taken] = index;
            taken += 1;
        });
        indices.into_iter().take(taken)
    }

    /// Whether no access is waiting to be applied.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        !self.pending.load(Ordering::Relaxed)
    }

    /// The misses counted so far.
    pub(crate) fn misses(&self) -> u64 {
        self.stripes
            .iter()
            .map(|stripe| stripe.misses.load(Ordering::Relaxed))
            .sum()
    }

    pub(crate) fn reset_misses(&mut self) {
        for stripe in &self.stripes {
            stripe.misses.store(0, Ordering::Relaxed);
        }
    }
}

impl std::fmt::Debug for AccessBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessBuffer").finish_non_exhaustive()
    }
}

/// This thread's stripe: threads take stripes round-robin as they first record,
/// so up to [`STRIPES`] threads each have one of their own.
#[cfg(not(shuttle))]
#[inline]
fn stripe_of_this_thread() -> usize {
    use std::cell::Cell;
    use std::sync::atomic::AtomicUsize;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    STRIPE.with(|stripe| {
        if stripe.get() == usize::MAX {
            stripe.set(NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES);
        }
        stripe.get()
    })
}

/// Under shuttle every simulated thread runs on one OS thread, so the stripe
/// comes from shuttle's thread id instead.
#[cfg(shuttle)]
fn stripe_of_this_thread() -> usize {
    let id: usize = shuttle::thread::current().id().into();
    id % STRIPES
}
