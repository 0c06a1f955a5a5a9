//! Single-flight loading for `get_or_insert_with` and its `try` and `async` forms:
//! the first caller to miss a key loads its value outside the shard lock; callers
//! that miss the same key meanwhile wait for that value instead of loading their own.
//! Async callers await; blocking callers run the same code and park their thread.

use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

use event_listener::Event;
use parking_lot::Mutex;

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

    /// Waits for the loader to be done: `Some(value)`, or `None` if it gave up and
    /// the caller should try again. No lock is held across the await, and dropping
    /// the future leaves nothing behind. Blocking callers run it with [`block_on`].
    pub(crate) async fn wait(&self) -> Option<V> {
        loop {
            if let Some(outcome) = self.outcome() {
                return outcome;
            }
            // Listen, then look again: a `finish` in between is not missed.
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

/// Runs a future on this thread, parking it while the future waits: how the
/// blocking loaders share the async ones' code. A future that never waits (a hit)
/// is polled once with a no-op waker, so it costs no allocation.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    /// Wakes the parked thread.
    struct Unpark(Thread);

    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }

    let mut future = pin!(future);
    if let Poll::Ready(output) = future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        return output;
    }
    // Polled again with the real waker before parking: a wake-up that came in
    // between is seen by this poll, not lost.
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    loop {
        match future.as_mut().poll(&mut context) {
            Poll::Ready(output) => return output,
            // Spurious unparks only cost another poll.
            Poll::Pending => std::thread::park(),
        }
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
                std::thread::spawn(move || block_on(pending.wait()))
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
        assert_eq!(block_on(pending.wait()), Some(1));
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
            tokio::time::timeout(std::time::Duration::from_secs(10), pending.wait()).await
        });
        finisher.join().unwrap();
        assert_eq!(waited, Ok(Some(9)));
    }

    #[test]
    fn abandoned_work_tells_waiters_to_retry() {
        let pending: Arc<Pending<u8>> = Pending::new();
        pending.finish(None);
        assert_eq!(block_on(pending.wait()), None);
    }
}
