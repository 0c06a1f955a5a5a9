//! Background threads on a timer: the opt-in sweeper, which purges expired
//! entries so memory comes back even when traffic to a shard stops (and, with the
//! `metrics` feature, publishes the figures after each purge), and the
//! periodic snapshot saver of `persistence`. Each is stopped (and joined) when
//! the cache that owns it is dropped.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// What the sweeper needs of a cache, without its key and value types.
pub(crate) trait Purge: Send + Sync {
    fn purge_expired(&self) -> usize;
    #[cfg(feature = "metrics")]
    fn publish_metrics(&self);
}

impl<K: Send + Sync, V: Send + Sync> Purge for crate::store::Store<K, V> {
    fn purge_expired(&self) -> usize {
        crate::store::Store::purge_expired(self)
    }

    #[cfg(feature = "metrics")]
    fn publish_metrics(&self) {
        crate::store::Store::publish_metrics(self);
    }
}

struct StopSignal {
    stopped: Mutex<bool>,
    changed: Condvar,
}

/// A running background thread; dropping it stops the thread, after its
/// `at_stop` work.
pub(crate) struct Sweeper {
    signal: Arc<StopSignal>,
    thread: Option<JoinHandle<()>>,
}

impl Sweeper {
    /// The sweeper: `purge_expired` every `every`.
    pub(crate) fn spawn(target: Arc<dyn Purge>, every: Duration) -> Sweeper {
        Sweeper::every(
            "ttlru-sweeper",
            every,
            move || {
                // A panicking eviction listener must not end the sweeping; every
                // removed entry was still delivered (see `removal::deliver`).
                let _ = catch_unwind(AssertUnwindSafe(|| target.purge_expired()));
                // After the purge, so the figures show what it gave back. The
                // recorder is the application's code: its panic must not end the
                // sweeping either.
                #[cfg(feature = "metrics")]
                let _ = catch_unwind(AssertUnwindSafe(|| target.publish_metrics()));
            },
            || {},
        )
    }

    /// A thread that runs `tick` every `every`, and `at_stop` once when stopped.
    pub(crate) fn every(
        name: &str,
        every: Duration,
        mut tick: impl FnMut() + Send + 'static,
        at_stop: impl FnOnce() + Send + 'static,
    ) -> Sweeper {
        let signal = Arc::new(StopSignal {
            stopped: Mutex::new(false),
            changed: Condvar::new(),
        });
        let thread_signal = signal.clone();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let mut stopped = thread_signal.stopped.lock();
                while !*stopped {
                    let timed_out = thread_signal
                        .changed
                        .wait_for(&mut stopped, every)
                        .timed_out();
                    if *stopped || !timed_out {
                        continue;
                    }
                    drop(stopped);
                    tick();
                    stopped = thread_signal.stopped.lock();
                }
                drop(stopped);
                at_stop();
            })
            .expect("ttlru: could not start a background thread");
        Sweeper {
            signal,
            thread: Some(thread),
        }
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        *self.signal.stopped.lock() = true;
        self.signal.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            // The last handle to a cache can be dropped by its own listener, on
            // the sweeper thread: joining itself would deadlock, so it just ends.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}
