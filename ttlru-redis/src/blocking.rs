//! The same set for synchronous code: every method blocks until the async one is
//! done, on a small runtime the set owns.
//!
//! ```no_run
//! use std::time::Duration;
//! use ttlru_redis::blocking::RedisSeenSet;
//!
//! let seen: RedisSeenSet<str> = RedisSeenSet::builder()
//!     .url("redis://127.0.0.1:6379/")
//!     .time_to_live(Duration::from_secs(3600))
//!     .fingerprint_key(0x5eed_u128)
//!     .build()?;
//! if seen.insert("user42:evt-9f3c")? {
//!     // first sighting fleet-wide: process it
//! }
//! # Ok::<(), ttlru_redis::Error>(())
//! ```

use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use tokio::runtime::Runtime;

use crate::builder::{BlockingMode, RedisSeenSetBuilder};
use crate::error::Error;
use crate::fleet_stats::FleetStats;

/// [`crate::RedisSeenSet`] for code that is not async: the same builder (in
/// [`BlockingMode`]), methods and guarantees, each call blocking the calling
/// thread. Cheap to clone, `Send + Sync`; calls from many threads run
/// concurrently over the shared connection.
///
/// The set owns a one-thread tokio runtime that drives its connection, and a call
/// waits on the calling thread for it. Any thread may call: a plain one, a
/// `spawn_blocking` one; even an async task may, though it then holds up its
/// worker thread for the call's duration (at most `call_timeout`), as any
/// blocking call would: use the async set there.
///
/// ```no_run
/// use std::time::Duration;
/// let seen: ttlru_redis::blocking::RedisSeenSet<str> = ttlru_redis::blocking::RedisSeenSet::builder()
///     .url("redis://127.0.0.1:6379/")
///     .time_to_live(Duration::from_secs(60))
///     .fingerprint_key(7)
///     .build()?;
/// assert!(seen.insert("evt-1")?);
/// assert!(!seen.insert("evt-1")?);
/// # Ok::<(), ttlru_redis::Error>(())
/// ```
pub struct RedisSeenSet<K: ?Sized> {
    set: crate::RedisSeenSet<K>,
    runtime: Arc<OwnedRuntime>,
}

/// The set's runtime, shut down in the background when the last clone (or claim)
/// goes, so dropping a blocking set is fine anywhere, even inside an async task
/// (where dropping a `Runtime` the ordinary way panics).
struct OwnedRuntime(Option<Runtime>);

impl OwnedRuntime {
    fn get(&self) -> &Runtime {
        self.0.as_ref().expect("present until dropped")
    }
}

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl<K: ?Sized> Clone for RedisSeenSet<K> {
    fn clone(&self) -> Self {
        RedisSeenSet {
            set: self.set.clone(),
            runtime: Arc::clone(&self.runtime),
        }
    }
}

/// Runs a future to completion on the calling thread, with the set's runtime as
/// the context (its timers, and the tasks that drive the connection, run on the
/// runtime's own thread). It works on any thread: a plain one, a
/// `spawn_blocking` one, even an async worker of another runtime, whose other
/// tasks then wait as for any blocking call but never deadlock, since nothing the
/// call waits for runs on that runtime.
fn run<T>(runtime: &OwnedRuntime, future: impl Future<Output = T>) -> T {
    let _context = runtime.get().enter();
    block_on(future)
}

/// Wakes the thread that waits in `block_on`.
struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` until it is ready, parking the thread in between. (Not the
/// runtime's own `block_on`, which refuses threads that belong to any runtime.)
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        // A wake between the poll and here leaves the token set: no lost wake-up.
        std::thread::park();
    }
}

impl<K: ?Sized> RedisSeenSet<K> {
    /// The builder, the same as [`crate::RedisSeenSet::builder`]'s, whose `build`
    /// blocks.
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = ttlru_redis::blocking::RedisSeenSet::<str>::builder()
    ///     .url("redis://127.0.0.1:6379/")
    ///     .time_to_live(Duration::from_secs(3600))
    ///     .fingerprint_key(0x5eed_u128);
    /// ```
    pub fn builder() -> RedisSeenSetBuilder<K, BlockingMode> {
        RedisSeenSetBuilder::new()
    }

    /// See [`crate::RedisSeenSet::stats`].
    ///
    /// ```no_run
    /// # fn demo(seen: ttlru_redis::blocking::RedisSeenSet<str>) {
    /// println!("{:?}", seen.stats());
    /// # }
    /// ```
    pub fn stats(&self) -> FleetStats {
        self.set.stats()
    }

    /// See [`crate::RedisSeenSet::local_len`].
    ///
    /// ```no_run
    /// # fn demo(seen: ttlru_redis::blocking::RedisSeenSet<str>) {
    /// println!("{} fingerprints held locally", seen.local_len());
    /// # }
    /// ```
    pub fn local_len(&self) -> usize {
        self.set.local_len()
    }

    /// See [`crate::RedisSeenSet::breaker_open`].
    ///
    /// ```no_run
    /// # fn demo(seen: ttlru_redis::blocking::RedisSeenSet<str>) {
    /// if seen.breaker_open() { eprintln!("Redis is down"); }
    /// # }
    /// ```
    pub fn breaker_open(&self) -> bool {
        self.set.breaker_open()
    }
}

impl<K: ?Sized> RedisSeenSetBuilder<K, BlockingMode> {
    /// Checks the options and connects, blocking; errors as
    /// [`RedisSeenSetBuilder::build`](crate::RedisSeenSetBuilder#method.build).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// let seen: ttlru_redis::blocking::RedisSeenSet<str> = ttlru_redis::blocking::RedisSeenSet::builder()
    ///     .url("redis://127.0.0.1:6379/")
    ///     .time_to_live(Duration::from_secs(60))
    ///     .fingerprint_key(7)
    ///     .build()?;
    /// # Ok::<(), ttlru_redis::Error>(())
    /// ```
    pub fn build(self) -> Result<RedisSeenSet<K>, Error> {
        // Options are checked before a runtime is made.
        self.validate()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ttlru-redis")
            .enable_all()
            .build()
            .map_err(|error| Error::Connect(redis::RedisError::from(error)))?;
        let runtime = OwnedRuntime(Some(runtime));
        let set = run(&runtime, self.into_mode::<crate::AsyncMode>().build())?;
        Ok(RedisSeenSet {
            set,
            runtime: Arc::new(runtime),
        })
    }
}

impl<K: ?Sized + Hash> RedisSeenSet<K> {
    /// See [`crate::RedisSeenSet::insert`].
    ///
    /// ```no_run
    /// # fn demo(seen: ttlru_redis::blocking::RedisSeenSet<str>) -> Result<(), ttlru_redis::Error> {
    /// if seen.insert("evt-1")? { /* process it */ }
    /// # Ok(()) }
    /// ```
    pub fn insert(&self, key: &K) -> Result<bool, Error> {
        run(&self.runtime, self.set.insert(key))
    }

    /// See [`crate::RedisSeenSet::insert_many`].
    ///
    /// ```no_run
    /// # fn demo(seen: ttlru_redis::blocking::RedisSeenSet<str>) -> Result<(), ttlru_redis::Error> {
    /// let answers = seen.insert_many(&["evt-1", "evt-2"])?;
    /// assert_eq!(answers.len(), 2);
    /// # Ok(()) }
    /// ```
    pub fn insert_many(&self, keys: &[&K]) -> Result<Vec<bool>, Error> {
        run(&self.runtime, self.set.insert_many(keys))
    }

    /// See [`crate::RedisSeenSet::claim`].
    ///
    /// ```no_run
    /// # fn demo(seen: ttlru_redis::blocking::RedisSeenSet<str>) -> Result<(), ttlru_redis::Error> {
    /// if let Some(claim) = seen.claim("evt-1")? {
    ///     claim.release()?; // processing failed: let a redelivery through
    /// }
    /// # Ok(()) }
    /// ```
    pub fn claim(&self, key: &K) -> Result<Option<Claim>, Error> {
        let claim = run(&self.runtime, self.set.claim(key))?;
        Ok(claim.map(|claim| Claim {
            claim,
            runtime: Arc::clone(&self.runtime),
        }))
    }

    /// See [`crate::RedisSeenSet::contains`].
    ///
    /// ```no_run
    /// # fn demo(seen: ttlru_redis::blocking::RedisSeenSet<str>) -> Result<(), ttlru_redis::Error> {
    /// let seen_before = seen.contains("evt-1")?;
    /// # Ok(()) }
    /// ```
    pub fn contains(&self, key: &K) -> Result<bool, Error> {
        run(&self.runtime, self.set.contains(key))
    }

    /// See [`crate::RedisSeenSet::remove`].
    ///
    /// ```no_run
    /// # fn demo(seen: ttlru_redis::blocking::RedisSeenSet<str>) -> Result<(), ttlru_redis::Error> {
    /// seen.remove("evt-1")?;
    /// # Ok(()) }
    /// ```
    pub fn remove(&self, key: &K) -> Result<bool, Error> {
        run(&self.runtime, self.set.remove(key))
    }
}

impl<K: ?Sized> fmt::Debug for RedisSeenSet<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("blocking::RedisSeenSet")
            .field(&self.set)
            .finish()
    }
}

/// [`crate::Claim`] for synchronous code.
///
/// ```no_run
/// # fn demo(seen: ttlru_redis::blocking::RedisSeenSet<str>) -> Result<(), ttlru_redis::Error> {
/// let claim = seen.claim("evt-1")?.expect("first sighting");
/// assert!(claim.release()?);
/// # Ok(()) }
/// ```
#[must_use = "dropping a claim keeps it; call .release() if processing failed"]
pub struct Claim {
    claim: crate::Claim,
    runtime: Arc<OwnedRuntime>,
}

impl Claim {
    /// See [`crate::Claim::release`].
    ///
    /// ```no_run
    /// # fn demo(seen: ttlru_redis::blocking::RedisSeenSet<str>) -> Result<(), ttlru_redis::Error> {
    /// if let Some(claim) = seen.claim("evt-1")? { claim.release()?; }
    /// # Ok(()) }
    /// ```
    pub fn release(self) -> Result<bool, Error> {
        run(&self.runtime, self.claim.release())
    }

    /// See [`crate::Claim::fingerprint`].
    ///
    /// ```no_run
    /// # fn demo(seen: ttlru_redis::blocking::RedisSeenSet<str>) -> Result<(), ttlru_redis::Error> {
    /// let claim = seen.claim("evt-1")?.expect("first sighting");
    /// println!("{:032x}", claim.fingerprint());
    /// # Ok(()) }
    /// ```
    pub fn fingerprint(&self) -> u128 {
        self.claim.fingerprint()
    }
}

impl fmt::Debug for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("blocking::Claim").field(&self.claim).finish()
    }
}
