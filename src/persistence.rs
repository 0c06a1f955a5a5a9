//! Periodic persistence for services: a background thread that saves a snapshot
//! to a file every interval, and once more when the set or cache is dropped.
//! Failures (and panics in user `Serialize` code) are counted in
//! [`Stats::snapshot_failures`](crate::Stats::snapshot_failures), never silent.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::snapshot::{self, SnapshotInfo};
use crate::snapshot_format::{SnapshotError, SnapshotKind};
use crate::store::Store;
use crate::sweeper::Sweeper;

/// Counts of background saves, kept by the store so `stats()` reports them.
#[derive(Debug, Default)]
pub(crate) struct SaveCounters {
    pub(crate) saved: AtomicU64,
    pub(crate) failed: AtomicU64,
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
            let counter = match saved {
                Ok(Ok(_)) => &store.save_counters().saved,
                Ok(Err(_)) | Err(_) => &store.save_counters().failed,
            };
            counter.fetch_add(1, Ordering::Relaxed);
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
