//! A shard behind its reader-writer lock. Hits take it shared; everything that
//! changes the shard takes it exclusively, and an exclusive section always starts
//! by applying the accesses recorded under the shared lock (see
//! [`crate::access_buffer`]). This type is the only way to the lock, so no
//! exclusive section can skip that step.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::shard::Shard;
use crate::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// One shard and its length, padded to its own cache lines so that threads
/// working on neighbouring shards do not slow each other down.
#[repr(align(128))]
pub(crate) struct ShardLock<K, V> {
    shard: RwLock<Shard<K, V>>,
    /// Kept equal to the shard's length, so `len()` takes no lock.
    len: AtomicUsize,
}

impl<K, V> ShardLock<K, V> {
    pub(crate) fn new(shard: Shard<K, V>) -> Self {
        ShardLock {
            shard: RwLock::new(shard),
            len: AtomicUsize::new(0),
        }
    }

    /// The shard for lookups and recorded hits.
    #[inline]
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Shard<K, V>> {
        self.shard.read()
    }

    /// The shard for changes, with the recorded accesses applied.
    #[inline]
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Shard<K, V>> {
        let mut shard = self.shard.write();
        shard.apply_recorded_accesses();
        shard
    }

    /// [`write`](Self::write) if the lock is free at once.
    #[inline]
    pub(crate) fn try_write(&self) -> Option<RwLockWriteGuard<'_, Shard<K, V>>> {
        let mut shard = self.shard.try_write()?;
        shard.apply_recorded_accesses();
        Some(shard)
    }

    /// The shard's length, read without its lock.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Publishes the length at the end of an exclusive section.
    pub(crate) fn set_len(&self, len: usize) {
        self.len.store(len, Ordering::Relaxed);
    }
}
