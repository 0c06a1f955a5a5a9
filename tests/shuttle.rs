//! Schedule exploration of the read path with `shuttle`: hits under a shard's
//! shared lock, their promotions recorded in the striped access buffer, and the
//! exclusive sections that apply them first. Built only with `--cfg shuttle`,
//! which swaps the crate's reader-writer locks and atomics for shuttle's (see
//! `src/sync.rs`), so that shuttle decides every interleaving:
//!
//! ```text
//! RUSTFLAGS="--cfg shuttle" CARGO_TARGET_DIR=target/shuttle cargo test --test shuttle
//! ```
//!
//! CI runs it (`.ci/run`). Each test runs thousands of schedules, half random and
//! half PCT (which favours the rare orderings that find ordering bugs), and
//! checks exact invariants after each: every hit counted and applied once, each
//! thread's accesses applied in its order, the listener told once per entry,
//! `len()` exact, no deadlock (shuttle fails a schedule that deadlocks).
#![cfg(shuttle)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shuttle::thread;
use ttlru::{Cache, ManualClock, RemovalCause, SeenSet};

/// Random schedules per test.
const RANDOM_SCHEDULES: usize = 1500;
/// PCT schedules per test, at this depth (the number of priority changes).
const PCT_SCHEDULES: usize = 1500;
const PCT_DEPTH: usize = 3;

fn explore(test: impl Fn() + Send + Sync + Clone + 'static) {
    shuttle::check_random(test.clone(), RANDOM_SCHEDULES);
    shuttle::check_pct(test, PCT_SCHEDULES, PCT_DEPTH);
}

type Removals = Arc<Mutex<Vec<(u64, RemovalCause)>>>;

/// A one-shard cache (so every access meets in one access buffer) that records
/// what its listener is told, in order.
fn recorded_cache(capacity: u64, clock: Option<ManualClock>) -> (Cache<u64, u64>, Removals) {
    let removals = Removals::default();
    let told = removals.clone();
    let mut builder = Cache::builder()
        .max_capacity(capacity)
        .shards(1)
        .eviction_listener(move |key: &u64, _value, cause| {
            told.lock().unwrap().push((*key, cause));
        });
    if let Some(clock) = clock {
        builder = builder.time_to_idle(Duration::from_millis(10)).clock(clock);
    }
    (builder.build(), removals)
}

/// Readers hit their own keys, more times than a stripe holds (so full stripes
/// send readers to the exclusive path), while a writer's replacements force
/// exclusive sections in between. Afterwards the full LRU order is read out by
/// evicting everything: it must be each reader's own access order, every hit
/// must be counted once, and the keys no one touched must be the oldest.
#[test]
fn every_hit_is_applied_once_and_in_each_threads_order() {
    explore(|| {
        const READERS: u64 = 3;
        const KEYS_PER_READER: u64 = 4;
        const GETS_PER_READER: u64 = 40; // more than a stripe's 28 slots
        const UNTOUCHED: u64 = 2;
        const WRITER_KEY: u64 = 1_000;
        let keys = READERS * KEYS_PER_READER + UNTOUCHED + 1;
        let (cache, removals) = recorded_cache(keys, None);
        let cache = Arc::new(cache);
        // Untouched keys first, so they are the least recent.
        for key in (0..UNTOUCHED).map(|k| 500 + k) {
            cache.insert(key, key);
        }
        for key in 0..READERS * KEYS_PER_READER {
            cache.insert(key, key);
        }
        cache.insert(WRITER_KEY, 0);

        let readers: Vec<_> = (0..READERS)
            .map(|reader| {
                let cache = cache.clone();
                thread::spawn(move || {
                    // A fixed, uneven walk over this reader's keys.
                    let walk: Vec<u64> = (0..GETS_PER_READER)
                        .map(|i| reader * KEYS_PER_READER + (i * i + i / 3) % KEYS_PER_READER)
                        .collect();
                    for &key in &walk {
                        assert_eq!(cache.get(&key), Some(key), "every key is present");
                    }
                    walk
                })
            })
            .collect();
        let writer = {
            let cache = cache.clone();
            thread::spawn(move || {
                for value in 1..=3 {
                    cache.insert(WRITER_KEY, value);
                }
            })
        };
        let walks: Vec<Vec<u64>> = readers.into_iter().map(|r| r.join().unwrap()).collect();
        writer.join().unwrap();

        let stats = cache.stats();
        assert_eq!(
            stats.hits,
            READERS * GETS_PER_READER,
            "each hit counted once"
        );
        assert_eq!(stats.misses, 0);
        assert_eq!(cache.len() as u64, keys);

        // Evict everything, oldest first, by writing as many new keys.
        removals.lock().unwrap().clear();
        for key in 0..keys {
            cache.insert(10_000 + key, 0);
        }
        let evicted: Vec<u64> = removals
            .lock()
            .unwrap()
            .iter()
            .map(|&(key, cause)| {
                assert_eq!(cause, RemovalCause::Evicted);
                key
            })
            .collect();
        assert_eq!(
            evicted.len() as u64,
            keys,
            "each entry reached the listener once"
        );
        assert_eq!(&evicted[..UNTOUCHED as usize], &[500, 501]);
        let position: HashMap<u64, usize> =
            evicted.iter().enumerate().map(|(i, &k)| (k, i)).collect();
        for walk in &walks {
            // The reader's keys by their last access, oldest first.
            let mut by_last_access: Vec<u64> = Vec::new();
            for &key in walk {
                by_last_access.retain(|&k| k != key);
                by_last_access.push(key);
            }
            let mut by_eviction = by_last_access.clone();
            by_eviction.sort_by_key(|key| position[key]);
            assert_eq!(
                by_eviction, by_last_access,
                "a reader's accesses applied in its order"
            );
        }
    });
}

/// Threads insert overlapping keys into a SeenSet, each key several times:
/// exactly one `true` per key, every other answer a counted hit, `len()` exact.
#[test]
fn seen_set_answers_first_exactly_once_per_key() {
    explore(|| {
        const THREADS: usize = 3;
        const KEYS: u64 = 6;
        const ROUNDS: u64 = 3;
        let set = Arc::new(
            SeenSet::<u64>::builder()
                .max_capacity(100)
                .shards(1)
                .build(),
        );
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let set = set.clone();
                thread::spawn(move || {
                    let mut firsts = Vec::new();
                    for round in 0..ROUNDS {
                        for i in 0..KEYS {
                            let key = (i + t as u64 + round) % KEYS;
                            if set.insert(key) {
                                firsts.push(key);
                            }
                        }
                    }
                    firsts
                })
            })
            .collect();
        let mut firsts: Vec<u64> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        firsts.sort_unstable();
        assert_eq!(
            firsts,
            (0..KEYS).collect::<Vec<_>>(),
            "one first sighting per key"
        );
        assert_eq!(set.len() as u64, KEYS);
        let stats = set.stats();
        let answers = THREADS as u64 * ROUNDS * KEYS;
        assert_eq!(stats.hits, answers - KEYS, "every repeat counted once");
        assert_eq!(stats.inserts, KEYS);
    });
}

/// Time to idle stays exact while hits are only recorded: a key read every 6 ms
/// with a 10 ms time to idle never expires, even while another thread's writes
/// run the timer wheel and a third reader extends it too; 11 ms after its last
/// read it is gone, reported once as expired.
#[test]
fn time_to_idle_is_extended_by_every_recorded_hit() {
    explore(|| {
        const KEY: u64 = 7;
        let clock = ManualClock::new();
        let (cache, removals) = recorded_cache(1_000, Some(clock.clone()));
        let cache = Arc::new(cache);
        cache.insert(KEY, 70);
        let reader = {
            let (cache, clock) = (cache.clone(), clock.clone());
            thread::spawn(move || {
                for _ in 0..5 {
                    clock.advance(Duration::from_millis(6));
                    assert_eq!(cache.get(&KEY), Some(70), "read within its idle time");
                }
            })
        };
        let other_reader = {
            let cache = cache.clone();
            thread::spawn(move || {
                for _ in 0..5 {
                    // Present or not depends on nothing but the clock: always present.
                    assert_eq!(cache.get(&KEY), Some(70));
                }
            })
        };
        let writer = {
            let cache = cache.clone();
            thread::spawn(move || {
                for key in 100..106 {
                    cache.insert(key, key); // each write runs the wheel
                }
            })
        };
        reader.join().unwrap();
        other_reader.join().unwrap();
        writer.join().unwrap();

        assert!(removals.lock().unwrap().iter().all(|&(key, _)| key != KEY));
        clock.advance(Duration::from_millis(11));
        assert_eq!(
            cache.get(&KEY),
            None,
            "idle for longer than its time to idle"
        );
        // Every key has been idle for more than 10 ms by now.
        cache.purge_expired();
        assert_eq!(cache.len(), 0);
        let mut told = removals.lock().unwrap().clone();
        told.sort_unstable_by_key(|&(key, _)| key);
        let expected: Vec<_> = std::iter::once(KEY)
            .chain(100..106)
            .map(|key| (key, RemovalCause::Expired))
            .collect();
        assert_eq!(told, expected, "each entry reported once, as expired");
    });
}
