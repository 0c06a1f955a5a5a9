//! Single-flight loading for `get_or_insert_with` and its `try` and `async` forms:
//! the first caller to miss a key loads its value outside the shard lock; callers
//! that miss the same key meanwhile wait for that value instead of loading their own.
//! Blocking callers park their thread and async callers await, on the same notifier.

use event_listener::{Event, Listener};
use parking_lot::Mutex;
use std::sync::Arc;

/// A key whose value is being loaded, parked in its shard while the lock is free.
pub(crate) struct InFlight<K, V> {
    pub(crate) hash: u32,
    pub(crate) key: K,
    pub(crate) pending: Arc<Pending<V>>,
}

/// Where the loading caller leaves its outcome for the waiting ones.
pub(crate) struct Pending<V> {
    state: Mutex<State<V>>,
    changed: Event,
}

enum State<V> {
    Running,
    Finished(V),
    /// The loader panicked, failed or was dropped: waiters retry (one of them loads).
    Abandoned,
}

impl<V: Clone> Pending<V> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Pending {
            state: Mutex::new(State::Running),
            changed: Event::new(),
        })
    }

    /// `None` while the loader runs; then `Some(Some(value))`, or `Some(None)` if it
    /// gave up and the caller should try again. The lock is held only to look.
    fn outcome(&self) -> Option<Option<V>> {
        match &*self.state.lock() {
            State::Running => None,
            State::Finished(value) => Some(Some(value.clone())),
            State::Abandoned => Some(None),
        }
    }

    /// Blocks the thread until the loader is done: `Some(value)`, or `None` if it
    /// gave up and the caller should try again.
    pub(crate) fn wait(&self) -> Option<V> {
        loop {
            if let Some(outcome) = self.outcome() {
                return outcome;
            }
            // Listen, then look again: a `finish` in between is not missed.
            let listener = self.changed.listen();
            if let Some(outcome) = self.outcome() {
                return outcome;
            }
            listener.wait();
        }
    }

    /// Like [`wait`](Self::wait), awaiting instead of blocking. No lock is held
    /// across the await, and dropping the future leaves nothing behind.
    pub(crate) async fn wait_async(&self) -> Option<V> {
        loop {
            if let Some(outcome) = self.outcome() {
                return outcome;
            }
            let listener = self.changed.listen();
            if let Some(outcome) = self.outcome() {
                return outcome;
            }
            listener.await;
        }
    }

    /// Publishes the outcome and wakes every waiter. Only the first call counts,
    /// so a clean-up after a finished load cannot turn it into a retry.
    pub(crate) fn finish(&self, value: Option<V>) {
        {
            let mut state = self.state.lock();
            if !matches!(*state, State::Running) {
                return;
            }
            *state = match value {
                Some(value) => State::Finished(value),
                None => State::Abandoned,
            };
        }
        self.changed.notify(usize::MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiters_get_the_published_value() {
        let pending = Pending::new();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let pending = pending.clone();
                std::thread::spawn(move || pending.wait())
            })
            .collect();
        pending.finish(Some(7));
        for waiter in waiters {
            assert_eq!(waiter.join().unwrap(), Some(7));
        }
    }

    #[test]
    fn the_first_outcome_stays() {
        let pending = Pending::new();
        pending.finish(Some(1));
        pending.finish(None); // a clean-up after a finished load
        assert_eq!(pending.wait(), Some(1));
    }

    #[test]
    fn async_waiters_are_woken_by_a_blocking_finish() {
        let pending: Arc<Pending<u8>> = Pending::new();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let finisher = {
            let pending = pending.clone();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(20));
                pending.finish(Some(9));
            })
        };
        let waited = runtime.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(10), pending.wait_async()).await
        });
        finisher.join().unwrap();
        assert_eq!(waited, Ok(Some(9)));
    }

    #[test]
    fn abandoned_work_tells_waiters_to_retry() {
        let pending: Arc<Pending<u8>> = Pending::new();
        pending.finish(None);
        assert_eq!(pending.wait(), None);
    }
}
