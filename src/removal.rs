//! Why entries leave, and how they reach the eviction listener: collected while the
//! shard is locked, delivered (or dropped) only after it is unlocked.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

/// Why an entry left the cache, as told to the eviction listener.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use ttlru::{Cache, RemovalCause};
///
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let sink = log.clone();
/// let cache: Cache<u32, &str> = Cache::builder()
///     .max_capacity(1)
///     .shards(1)
///     .eviction_listener(move |k: &u32, v: &str, cause| sink.lock().unwrap().push((*k, v, cause)))
///     .build();
/// cache.insert(1, "a");
/// cache.insert(1, "b"); // replaces "a"
/// cache.insert(2, "c"); // evicts 1 to make room
/// cache.remove(&2);
/// assert_eq!(
///     *log.lock().unwrap(),
///     [(1, "a", RemovalCause::Replaced), (1, "b", RemovalCause::Evicted), (2, "c", RemovalCause::Removed)]
/// );
/// ```
///
/// More causes may come (it is `#[non_exhaustive]`): a `match` on it needs a `_` arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RemovalCause {
    /// Its time to live or time to idle ran out.
    Expired,
    /// It was the least recently used when room was needed, or it was too heavy to keep.
    Evicted,
    /// `remove` took it out.
    Removed,
    /// An `insert` of the same key wrote a new value over it.
    Replaced,
    /// `clear` took it out.
    Cleared,
}

/// The eviction listener a store calls with each removed entry. The first argument
/// is the entry's 32 stored hash bits: a fingerprint set needs them to rebuild the
/// fingerprint; the public listeners of `Cache` and `SeenSet` ignore them.
pub(crate) type Listener<K, V> = Box<dyn Fn(u32, &K, V, RemovalCause) + Send + Sync>;

/// A removed entry on its way to the listener: stored hash bits, key, value, cause.
pub(crate) type Removed<K, V> = (u32, K, V, RemovalCause);

/// Entries removed while a shard was locked. The first few live inline, so the
/// common write (which removes zero to a handful) allocates nothing.
pub(crate) struct RemovedEntries<K, V> {
    inline: [Option<Removed<K, V>>; INLINE],
    inline_len: usize,
    spilled: Vec<Removed<K, V>>,
}

const INLINE: usize = 4;

impl<K, V> RemovedEntries<K, V> {
    pub(crate) fn new() -> Self {
        RemovedEntries {
            inline: [const { None }; INLINE],
            inline_len: 0,
            spilled: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, hash: u32, key: K, value: V, cause: RemovalCause) {
        let entry = (hash, key, value, cause);
        if self.inline_len < INLINE {
            self.inline[self.inline_len] = Some(entry);
            self.inline_len += 1;
        } else {
            self.spilled.push(entry);
        }
    }

    #[cfg(test)]
    pub(crate) fn extend(&mut self, entries: impl IntoIterator<Item = Removed<K, V>>) {
        for (hash, key, value, cause) in entries {
            self.push(hash, key, value, cause);
        }
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.inline_len == 0
    }

    /// Hands every entry to `listener`, or drops it when there is none, leaving
    /// this empty.
    ///
    /// Inlined: the common cases (nothing removed; or no listener and nothing to
    /// free) make no call.
    #[inline(always)]
    pub(crate) fn deliver(&mut self, listener: Option<&Listener<K, V>>) {
        if self.inline_len == 0 {
            return;
        }
        if listener.is_none() && !std::mem::needs_drop::<(K, V)>() {
            // Nothing to call and nothing to free: forget the entries in place.
            self.inline_len = 0;
            self.spilled.clear();
            return;
        }
        self.deliver_some(listener);
    }

    #[inline(never)]
    fn deliver_some(&mut self, listener: Option<&Listener<K, V>>) {
        let inline = self.inline[..self.inline_len]
            .iter_mut()
            .filter_map(Option::take);
        self.inline_len = 0;
        deliver(inline.chain(self.spilled.drain(..)), listener);
    }
}

/// Hands every entry to `listener`, or drops it when there is none. A panic in the
/// listener, or in the `Drop` of a key or value, does not stop the other entries
/// from being delivered or dropped; the first one is raised again once all have
/// been.
pub(crate) fn deliver<K, V>(
    entries: impl IntoIterator<Item = Removed<K, V>>,
    listener: Option<&Listener<K, V>>,
) {
    let mut first_panic = None;
    for (hash, key, value, cause) in entries {
        // `move`: the key (and the value, with no listener) is dropped in there
        // too, so a panicking `Drop` does not stop the other entries either.
        let outcome = catch_unwind(AssertUnwindSafe(move || match listener {
            Some(listener) => listener(hash, &key, value, cause),
            None => drop((key, value)),
        }));
        if let Err(panic) = outcome {
            first_panic.get_or_insert(panic);
        }
    }
    if let Some(panic) = first_panic {
        resume_unwind(panic);
    }
}

/// The first panic of a multi-shard operation's deliveries, held back so the
/// operation finishes on every shard before the panic reaches its caller: the
/// listener's docs promise that an operation's own effect has happened when its
/// panic is raised.
#[derive(Default)]
pub(crate) struct FirstPanic(Option<Box<dyn std::any::Any + Send>>);

impl FirstPanic {
    /// Runs `delivery`, keeping its panic if it is the first.
    pub(crate) fn catch(&mut self, delivery: impl FnOnce()) {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(delivery)) {
            self.0.get_or_insert(panic);
        }
    }

    /// Raises the kept panic, if any.
    pub(crate) fn raise(self) {
        if let Some(panic) = self.0 {
            resume_unwind(panic);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn delivers_inline_and_spilled_entries_in_order() {
        let mut removed = RemovedEntries::new();
        assert!(removed.is_empty());
        removed.extend((0..10).map(|i| (0, i, i * 10, RemovalCause::Expired)));
        assert!(!removed.is_empty());
        let seen = Mutex::new(Vec::new());
        let listener: Listener<i32, i32> = Box::new(move |_, k, v, _| {
            assert_eq!(v, k * 10);
            seen.lock().unwrap().push(*k);
            if *k == 9 {
                assert_eq!(*seen.lock().unwrap(), (0..10).collect::<Vec<_>>());
            }
        });
        removed.deliver(Some(&listener));
        assert!(removed.is_empty());
    }

    #[test]
    fn a_panicking_listener_still_sees_every_entry_then_panics() {
        let count = std::sync::Arc::new(Mutex::new(0));
        let counter = count.clone();
        let listener: Listener<i32, ()> = Box::new(move |_, k, (), _| {
            *counter.lock().unwrap() += 1;
            assert!(*k != 2, "listener panics on 2");
        });
        let mut removed = RemovedEntries::new();
        removed.extend((0..6).map(|i| (0, i, (), RemovalCause::Removed)));
        let result = catch_unwind(AssertUnwindSafe(|| removed.deliver(Some(&listener))));
        assert!(result.is_err());
        assert_eq!(*count.lock().unwrap(), 6);
    }

    #[test]
    fn without_a_listener_every_entry_is_dropped_before_a_drop_panic_is_raised() {
        let dropped = std::sync::Arc::new(Mutex::new(0));
        struct Key(i32, std::sync::Arc<Mutex<i32>>);
        impl Drop for Key {
            fn drop(&mut self) {
                *self.1.lock().unwrap() += 1;
                assert!(self.0 != 2 || std::thread::panicking(), "Drop panics on 2");
            }
        }
        let mut removed = RemovedEntries::new();
        removed.extend((0..6).map(|i| (0, Key(i, dropped.clone()), (), RemovalCause::Expired)));
        let result = catch_unwind(AssertUnwindSafe(|| removed.deliver(None)));
        assert!(result.is_err());
        // All dropped by then, inline and spilled alike: none is left for later.
        assert_eq!(*dropped.lock().unwrap(), 6);
    }

    #[test]
    fn a_key_whose_drop_panics_does_not_stop_the_others() {
        struct Key(i32);
        impl Drop for Key {
            fn drop(&mut self) {
                assert!(self.0 != 2 || std::thread::panicking(), "Drop panics on 2");
            }
        }
        let count = std::sync::Arc::new(Mutex::new(0));
        let counter = count.clone();
        let listener: Listener<Key, ()> =
            Box::new(move |_, _, (), _| *counter.lock().unwrap() += 1);
        let mut removed = RemovedEntries::new();
        removed.extend((0..6).map(|i| (0, Key(i), (), RemovalCause::Removed)));
        let result = catch_unwind(AssertUnwindSafe(|| removed.deliver(Some(&listener))));
        assert!(result.is_err());
        assert_eq!(*count.lock().unwrap(), 6);
    }
}
