//! Periodic persistence for services: a background thread that saves a snapshot
//! to a file every interval, and once more when the set or cache is dropped.
//! Failures (and panics in user `Serialize` code) are counted in
//! [`Stats::snapshot_failures`](crate::Stats::snapshot_failures), and the latest
//! one's reason is kept for `last_snapshot_failure`: never silent.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::snapshot::{self, SnapshotInfo};
use crate::snapshot_format::{SnapshotError, SnapshotKind};
use crate::store::Store;
use crate::sweeper::Sweeper;

/// Counts of background saves, kept by the store so `stats()` reports them, and
/// why the latest one failed, if it did.
#[derive(Debug, Default)]
pub(crate) struct SaveCounters {
    pub(crate) saved: AtomicU64,
    pub(crate) failed: AtomicU64,
    /// Written by the saver thread only, once per save; read on request.
    last_failure: Mutex<Option<String>>,
}

impl SaveCounters {
    /// Records one save's outcome: counted, and its failure reason kept (or the
    /// previous one cleared).
    fn record(&self, failure: Option<String>) {
        let counter = if failure.is_some() {
            &self.failed
        } else {
            &self.saved
        };
        // The reason first, then the count (released; `stats()` acquires it): a
        // caller who sees the count go up, then asks for the reason, gets this
        // save's or a later one's, never an older one.
        // Nothing panics while the lock is held, but a poisoned lock would still
        // hold a valid `Option`: use it rather than lose the reason.
        *self
            .last_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = failure;
        counter.fetch_add(1, Ordering::Release);
    }

    /// Why the latest save failed; `None` when none ran yet or it succeeded.
    pub(crate) fn last_failure(&self) -> Option<String> {
        self.last_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A panic's message, when it has one (`panic!` gives a `&str` or a `String`).
fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Starts the saver of a built store (type-erased so `build` needs no bounds).
pub(crate) type PersistenceStart<K, V> =
    Box<dyn FnOnce(&Arc<Store<K, V>>) -> Sweeper + Send + Sync>;

/// How an entry is encoded, as `snapshot::save` takes it.
pub(crate) type Encode<K, V> = fn(u32, &K, &V, &mut Vec<u8>) -> Result<(), SnapshotError>;

/// A saver of `kind` snapshots to `path` every `every`, for a store built later.
pub(crate) fn start<K, V>(
    kind: SnapshotKind,
    fingerprint_key: u128,
    path: PathBuf,
    every: Duration,
    encode: Encode<K, V>,
) -> PersistenceStart<K, V>
where
    K: Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    Box::new(move |store: &Arc<Store<K, V>>| {
        let store = store.clone();
        let save = Arc::new(move || {
            let saved: Result<Result<SnapshotInfo, SnapshotError>, _> =
                catch_unwind(AssertUnwindSafe(|| {
                    snapshot::save_to_path(&store, kind, fingerprint_key, &path, encode)
                }));
            // A failed save, in words: what happened, and to which file.
            let failure = match saved {
                Ok(Ok(_)) => None,
                Ok(Err(error)) => Some(format!(
                    "saving a snapshot to {} failed: {error}",
                    path.display()
                )),
                Err(panic) => Some(format!(
                    "saving a snapshot to {} panicked (in a key's or value's `Serialize`): {}",
                    path.display(),
                    panic_message(panic.as_ref())
                )),
            };
            store.save_counters().record(failure);
        });
        let last_save = save.clone();
        Sweeper::every(
            "ttlru-persistence",
            every,
            move || save(),
            move || last_save(),
        )
    })
}
