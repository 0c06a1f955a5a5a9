//! `get_or_insert_with` coordination: the first thread to miss a key computes its
//! value outside the shard lock; threads that miss the same key meanwhile wait for
//! that value instead of computing their own.

use parking_lot::{Condvar, Mutex};
use std::sync::Arc;

/// A key whose value is being computed, parked in its shard while the lock is free.
pub(crate) struct InFlight<K, V> {
    pub(crate) hash: u32,
    pub(crate) key: K,
    pub(crate) pending: Arc<Pending<V>>,
}

/// Where the computing thread leaves its result for the waiting ones.
pub(crate) struct Pending<V> {
    state: Mutex<State<V>>,
    changed: Condvar,
}

enum State<V> {
    Running,
    Finished(V),
    /// The computing closure panicked: waiters retry (one of them computes).
    Abandoned,
}

impl<V: Clone> Pending<V> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Pending {
            state: Mutex::new(State::Running),
            changed: Condvar::new(),
        })
    }

    /// Blocks until the computing thread is done: `Some(value)`, or `None` if it
    /// panicked and the caller should try again.
    pub(crate) fn wait(&self) -> Option<V> {
        let mut state = self.state.lock();
        loop {
            match &*state {
                State::Running => self.changed.wait(&mut state),
                State::Finished(value) => return Some(value.clone()),
                State::Abandoned => return None,
            }
        }
    }

    /// Publishes the outcome and wakes every waiter.
    pub(crate) fn finish(&self, value: Option<V>) {
        *self.state.lock() = match value {
            Some(value) => State::Finished(value),
            None => State::Abandoned,
        };
        self.changed.notify_all();
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
    fn abandoned_work_tells_waiters_to_retry() {
        let pending: Arc<Pending<u8>> = Pending::new();
        pending.finish(None);
        assert_eq!(pending.wait(), None);
    }
}
