//! The locks and atomics of the read path, swapped for `shuttle`'s when the crate
//! is built with `--cfg shuttle`, so that the schedule-exploration tests
//! (`tests/shuttle.rs`) control every interleaving of the shared and exclusive
//! sections and of the access buffers. Nothing else in the crate changes under
//! that `cfg`; it is for those tests only.

#[cfg(not(shuttle))]
pub(crate) use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
#[cfg(not(shuttle))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};

#[cfg(shuttle)]
pub(crate) use shuttle::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
#[cfg(shuttle)]
pub(crate) use shuttle_lock::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// `shuttle`'s reader-writer lock with `parking_lot`'s interface (no poisoning).
#[cfg(shuttle)]
mod shuttle_lock {
    pub(crate) type RwLockReadGuard<'a, T> = shuttle::sync::RwLockReadGuard<'a, T>;
    pub(crate) type RwLockWriteGuard<'a, T> = shuttle::sync::RwLockWriteGuard<'a, T>;

    #[derive(Debug, Default)]
    pub(crate) struct RwLock<T>(shuttle::sync::RwLock<T>);

    impl<T> RwLock<T> {
        pub(crate) fn new(value: T) -> Self {
            RwLock(shuttle::sync::RwLock::new(value))
        }

        pub(crate) fn read(&self) -> RwLockReadGuard<'_, T> {
            self.0
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        }

        pub(crate) fn write(&self) -> RwLockWriteGuard<'_, T> {
            self.0
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        }

        pub(crate) fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
            match self.0.try_write() {
                Ok(guard) => Some(guard),
                Err(shuttle::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
                Err(shuttle::sync::TryLockError::WouldBlock) => None,
            }
        }
    }
}
