//! A panic in user code (`Hash`, `Eq`, `Clone`, weigher, listener, the closure of
//! `get_or_insert_with`) leaves the cache consistent and usable.

use std::hash::{Hash, Hasher};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use ttlru::{Cache, ManualClock, RemovalCause, SeenSet};

/// A key whose `Hash` panics when `hash_bomb` is set, and whose `Eq` panics when
/// either side has `eq_bomb` set. Only `id` decides hash and equality.
#[derive(Clone, Debug)]
struct Touchy {
    id: u64,
    hash_bomb: bool,
    eq_bomb: bool,
}

fn key(id: u64) -> Touchy {
    Touchy {
        id,
        hash_bomb: false,
        eq_bomb: false,
    }
}

impl Hash for Touchy {
    fn hash<H: Hasher>(&self, state: &mut H) {
        assert!(!self.hash_bomb, "Hash panics");
        self.id.hash(state);
    }
}

impl PartialEq for Touchy {
    fn eq(&self, other: &Self) -> bool {
        assert!(!self.eq_bomb && !other.eq_bomb, "Eq panics");
        self.id == other.id
    }
}

impl Eq for Touchy {}

fn panics(operation: impl FnOnce()) -> bool {
    catch_unwind(AssertUnwindSafe(operation)).is_err()
}

/// Every id in `0..n` that the cache holds reads back its value.
fn assert_readable(cache: &Cache<Touchy, u64>, n: u64) -> usize {
    let present = (0..n)
        .filter(|&id| cache.peek(&key(id)) == Some(id * 10))
        .count();
    assert_eq!(present, cache.len(), "len matches what can be read");
    present
}

#[test]
fn panicking_hash_changes_nothing() {
    let cache: Cache<Touchy, u64> = Cache::builder().max_capacity(500).build();
    for id in 0..400 {
        cache.insert(key(id), id * 10);
    }
    let bomb = Touchy {
        id: 7,
        hash_bomb: true,
        eq_bomb: false,
    };
    assert!(panics(|| {
        let _ = cache.insert(bomb.clone(), 0);
    }));
    assert!(panics(|| {
        let _ = cache.get(&bomb);
    }));
    assert!(panics(|| {
        let _ = cache.remove(&bomb);
    }));
    assert_eq!(assert_readable(&cache, 400), 400);
    for id in 400..1000 {
        cache.insert(key(id), id * 10);
    }
    assert_eq!(assert_readable(&cache, 1000), 500);
}

#[test]
fn panicking_eq_changes_nothing() {
    let clock = ManualClock::new();
    let gone = Arc::new(AtomicUsize::new(0));
    let counter = gone.clone();
    let cache: Cache<Touchy, u64> = Cache::builder()
        .max_capacity(100)
        .shards(1)
        .time_to_live(Duration::from_secs(10))
        .clock(clock.clone())
        .eviction_listener(move |_: &Touchy, _, _| {
            counter.fetch_add(1, Ordering::Relaxed);
        })
        .build();
    for id in 0..100 {
        cache.insert(key(id), id * 10);
    }
    clock.advance(Duration::from_secs(5));
    for id in 100..150 {
        cache.insert(key(id), id * 10); // evicts 0..50
    }
    clock.advance(Duration::from_secs(5)); // 50..100 are now expired, not yet purged
    let bomb = Touchy {
        id: 120,
        hash_bomb: false,
        eq_bomb: true,
    };
    assert!(panics(|| {
        let _ = cache.insert(bomb.clone(), 0);
    }));
    assert!(panics(|| {
        let _ = cache.get(&bomb);
    }));
    assert!(panics(|| {
        let _ = cache.remove(&bomb);
    }));
    assert!(panics(|| {
        let _ = cache.get_or_insert_with(bomb.clone(), || 0);
    }));
    assert_eq!(cache.peek(&key(120)), Some(1200));
    assert_eq!(cache.len(), 100);
    assert_eq!(cache.purge_expired(), 50);
    assert_eq!(assert_readable(&cache, 150), 50);
    assert_eq!(
        gone.load(Ordering::Relaxed),
        100,
        "each removed entry reported once"
    );
    // Still fully usable, the panicked key included.
    assert_eq!(cache.get_or_insert_with(key(999), || 9990), 9990);
    assert_eq!(cache.insert(key(120), 1200), Some(1200));
}

#[test]
fn panicking_listener_still_delivers_everything_and_keeps_the_cache_consistent() {
    let delivered = Arc::new(Mutex::new(Vec::new()));
    let sink = delivered.clone();
    let cache: Cache<Touchy, u64> = Cache::builder()
        .max_capacity(10)
        .shards(1)
        .eviction_listener(move |k: &Touchy, _, cause| {
            sink.lock().unwrap().push((k.id, cause));
            assert!(!k.id.is_multiple_of(3), "listener panics");
        })
        .build();
    let mut panicked = 0;
    for id in 0..100 {
        if panics(|| {
            let _ = cache.insert(key(id), id * 10);
        }) {
            panicked += 1;
        }
    }
    assert_eq!(panicked, 30, "the evictions of 0, 3, ..., 87 panicked");
    assert_eq!(delivered.lock().unwrap().len(), 90);
    assert_eq!(assert_readable(&cache, 100), 10);
    assert!(panics(|| cache.clear()));
    assert_eq!(cache.len(), 0);
    assert_eq!(
        delivered.lock().unwrap().len(),
        100,
        "clear delivered all ten"
    );
    let cleared = delivered
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, cause)| *cause == RemovalCause::Cleared)
        .count();
    assert_eq!(cleared, 10);
}

#[derive(Debug)]
struct CloneBomb(u64);

impl Clone for CloneBomb {
    fn clone(&self) -> Self {
        assert!(self.0 != 13, "Clone panics");
        CloneBomb(self.0)
    }
}

#[test]
fn panicking_clone_and_weigher_change_nothing() {
    let cache: Cache<u64, CloneBomb> = Cache::builder()
        .max_capacity(1_000)
        .weigher(|k: &u64, _: &CloneBomb| {
            assert!(*k != 99, "weigher panics");
            1
        })
        .build();
    for id in 0..20 {
        cache.insert(id, CloneBomb(id));
    }
    assert!(panics(|| {
        let _ = cache.get(&13);
    }));
    assert!(panics(|| {
        let _ = cache.insert(99, CloneBomb(99));
    }));
    assert_eq!(cache.len(), 20);
    assert_eq!(cache.get(&12).map(|v| v.0), Some(12));
    assert!(cache.contains_key(&13));
    assert!(!cache.contains_key(&99));
}

#[test]
fn panicking_get_or_insert_with_lets_a_waiter_compute_instead() {
    let cache: Arc<Cache<u64, u64>> = Arc::new(Cache::new(100));
    let barrier = Arc::new(Barrier::new(2));
    let first = {
        let (cache, barrier) = (cache.clone(), barrier.clone());
        std::thread::spawn(move || {
            panics(|| {
                cache.get_or_insert_with(1, || {
                    barrier.wait(); // the other thread is about to wait on us
                    std::thread::sleep(Duration::from_millis(50));
                    panic!("make panics")
                });
            })
        })
    };
    barrier.wait();
    let value = cache.get_or_insert_with(1, || 11);
    assert!(first.join().unwrap());
    assert_eq!(value, 11);
    assert_eq!(cache.get(&1), Some(11));
    assert_eq!(cache.len(), 1);
}

#[test]
fn seen_set_survives_panicking_keys() {
    let seen: SeenSet<Touchy> = SeenSet::new(1_000);
    assert!(seen.insert(key(1)));
    assert!(panics(|| {
        let _ = seen.insert(Touchy {
            id: 1,
            hash_bomb: false,
            eq_bomb: true,
        });
    }));
    assert!(panics(|| {
        let _ = seen.insert(Touchy {
            id: 2,
            hash_bomb: true,
            eq_bomb: false,
        });
    }));
    assert!(!seen.insert(key(1)));
    assert!(seen.insert(key(2)));
    assert_eq!(seen.len(), 2);
}

/// Every (key, cause) the listener was handed.
type Deliveries = Arc<Mutex<Vec<(u64, RemovalCause)>>>;

/// A cache of 4 shards whose listener records every delivery, then panics.
fn cache_with_a_panicking_listener(clock: ManualClock) -> (Cache<u64, u64>, Deliveries) {
    let delivered = Arc::new(Mutex::new(Vec::new()));
    let log = delivered.clone();
    let cache = Cache::builder()
        .shards(4)
        .time_to_live(Duration::from_secs(10))
        .clock(clock)
        .eviction_listener(move |key: &u64, _value: u64, cause| {
            log.lock().unwrap().push((*key, cause));
            panic!("the listener panics");
        })
        .build();
    (cache, delivered)
}

/// Keys 0..100 each reached the listener exactly once, all with `cause`.
fn assert_each_of_the_100_delivered_once(delivered: &Deliveries, cause: RemovalCause) {
    let delivered = delivered.lock().unwrap();
    let mut keys: Vec<u64> = delivered.iter().map(|&(key, _)| key).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        (0..100).collect::<Vec<_>>(),
        "each entry exactly once"
    );
    assert!(
        delivered.iter().all(|&(_, given)| given == cause),
        "all {cause:?}"
    );
}

#[test]
fn clear_clears_every_shard_and_delivers_every_entry_before_a_listener_panic() {
    let (cache, delivered) = cache_with_a_panicking_listener(ManualClock::new());
    (0..100).for_each(|i| {
        cache.insert(i, i);
    });
    assert!(catch_unwind(AssertUnwindSafe(|| cache.clear())).is_err());
    assert_eq!(cache.len(), 0, "every shard was cleared");
    assert_each_of_the_100_delivered_once(&delivered, RemovalCause::Cleared);
}

#[test]
fn purge_expired_purges_every_shard_before_a_listener_panic() {
    let clock = ManualClock::new();
    let (cache, delivered) = cache_with_a_panicking_listener(clock.clone());
    (0..100).for_each(|i| {
        cache.insert(i, i);
    });
    clock.advance(Duration::from_secs(10));
    assert!(catch_unwind(AssertUnwindSafe(|| cache.purge_expired())).is_err());
    assert_eq!(cache.len(), 0, "every shard was purged");
    assert_each_of_the_100_delivered_once(&delivered, RemovalCause::Expired);
}
