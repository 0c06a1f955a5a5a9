//! Concurrent stress tests with exact invariants: the dedup guarantee, one
//! computation per key, every value accounted for exactly once, and capacity.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;

use ttlru::{Cache, RemovalCause, SeenSet};

const THREADS: usize = 4;

/// A different, deterministic order of `0..n` for each thread.
fn shuffled(n: u64, seed: u64) -> Vec<u64> {
    let mut order: Vec<u64> = (0..n).collect();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for i in (1..order.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        order.swap(i, (state % (i as u64 + 1)) as usize);
    }
    order
}

#[test]
fn seen_set_says_true_exactly_once_per_key_across_threads() {
    const KEYS: u64 = 200_000;
    let seen: Arc<SeenSet<String>> = Arc::new(SeenSet::builder().max_capacity(2 * KEYS).build());
    let barrier = Arc::new(Barrier::new(THREADS));
    let firsts: Vec<Vec<u64>> = (0..THREADS)
        .map(|t| {
            let (seen, barrier) = (seen.clone(), barrier.clone());
            thread::spawn(move || {
                let order = shuffled(KEYS, t as u64 + 1);
                barrier.wait();
                order
                    .into_iter()
                    .filter(|&k| seen.insert(format!("evt-{k}")))
                    .collect()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|handle| handle.join().unwrap())
        .collect();
    let mut count = vec![0u8; KEYS as usize];
    for key in firsts.iter().flatten() {
        count[*key as usize] += 1;
    }
    assert!(
        count.iter().all(|&c| c == 1),
        "every key is a first sighting exactly once"
    );
    assert_eq!(seen.len() as u64, KEYS);
    let stats = seen.stats();
    assert_eq!(stats.misses, KEYS);
    assert_eq!(stats.hits, KEYS * (THREADS as u64 - 1));
}

#[test]
fn get_or_insert_with_computes_once_per_key() {
    const KEYS: u64 = 50_000;
    let cache: Arc<Cache<u64, u64>> = Arc::new(Cache::new(2 * KEYS)); // headroom: capacity is per shard
    let calls: Arc<Vec<AtomicU32>> = Arc::new((0..KEYS).map(|_| AtomicU32::new(0)).collect());
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (cache, calls, barrier) = (cache.clone(), calls.clone(), barrier.clone());
            thread::spawn(move || {
                let order = shuffled(KEYS, t as u64 + 10);
                barrier.wait();
                for key in order {
                    let value = cache.get_or_insert_with(key, || {
                        calls[key as usize].fetch_add(1, Ordering::Relaxed);
                        thread::yield_now(); // widen the race window
                        key * 3 + t as u64 * KEYS * 10 // which thread computed it shows
                    });
                    assert_eq!(
                        value % (KEYS * 10),
                        key * 3,
                        "every thread sees the one value"
                    );
                    assert_eq!(cache.peek(&key), Some(value));
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    for (key, count) in calls.iter().enumerate() {
        assert_eq!(count.load(Ordering::Relaxed), 1, "key {key} computed once");
    }
}

#[test]
fn every_value_is_present_or_reached_the_listener_exactly_once() {
    const KEYS: u64 = 3_000;
    const WRITES: u64 = 40_000;
    const CAPACITY: u64 = 1_000;
    let delivered: Arc<Mutex<Vec<(u64, RemovalCause)>>> = Arc::default();
    let sink = delivered.clone();
    let cache: Arc<Cache<u64, u64>> = Arc::new(
        Cache::builder()
            .max_capacity(CAPACITY)
            .shards(4)
            .eviction_listener(move |_k: &u64, v: u64, cause| sink.lock().unwrap().push((v, cause)))
            .build(),
    );
    let barrier = Arc::new(Barrier::new(THREADS));
    let returned: Vec<Vec<u64>> = (0..THREADS as u64)
        .map(|t| {
            let (cache, barrier) = (cache.clone(), barrier.clone());
            thread::spawn(move || {
                let mut returned = Vec::new();
                barrier.wait();
                for (i, key) in shuffled(WRITES, t + 20).into_iter().enumerate() {
                    let key = key % KEYS;
                    let value = t * WRITES + i as u64; // unique per write
                    if i % 7 == 0 {
                        returned.extend(cache.remove(&key));
                    } else {
                        returned.extend(cache.insert(key, value));
                    }
                }
                returned
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|handle| handle.join().unwrap())
        .collect();
    let mut seen_where: HashMap<u64, usize> = HashMap::new();
    for (value, _) in delivered.lock().unwrap().iter() {
        *seen_where.entry(*value).or_default() += 1;
    }
    for key in 0..KEYS {
        if let Some(value) = cache.peek(&key) {
            *seen_where.entry(value).or_default() += 1;
        }
    }
    let written = THREADS as u64 * (WRITES - WRITES.div_ceil(7));
    assert_eq!(
        seen_where.len() as u64,
        written,
        "every written value accounted for"
    );
    assert!(seen_where.values().all(|&n| n == 1), "exactly once each");
    // What insert/remove returned also went to the listener (Replaced/Removed).
    let delivered = delivered.lock().unwrap();
    let replaced_or_removed = delivered
        .iter()
        .filter(|(_, cause)| matches!(cause, RemovalCause::Replaced | RemovalCause::Removed))
        .count();
    assert_eq!(
        replaced_or_removed,
        returned.iter().map(Vec::len).sum::<usize>()
    );
    assert!(cache.len() as u64 <= CAPACITY);
}

#[test]
fn len_never_exceeds_capacity_under_concurrent_writes() {
    const CAPACITY: u64 = 5_000;
    let seen: Arc<SeenSet<u64>> = Arc::new(SeenSet::new(CAPACITY));
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (seen, done) = (seen.clone(), done.clone());
        thread::spawn(move || {
            let mut samples = 0u64;
            while !done.load(Ordering::Relaxed) {
                assert!(seen.len() as u64 <= CAPACITY);
                samples += 1;
            }
            samples
        })
    };
    let writers: Vec<_> = (0..THREADS as u64)
        .map(|t| {
            let seen = seen.clone();
            thread::spawn(move || {
                for key in 0..100_000 {
                    seen.insert(key * THREADS as u64 + t);
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    assert!(watcher.join().unwrap() > 0);
    assert!(seen.len() as u64 <= CAPACITY);
    assert!(seen.len() as u64 > CAPACITY / 2, "shards fill up evenly");
}

#[test]
fn the_background_sweeper_purges_and_stops_with_its_cache() {
    use std::time::Duration;
    // The listener owns a clone of `alive`: it is dropped with the cache's
    // internals, which the sweeper thread keeps alive until it has stopped.
    let alive = Arc::new(());
    let held = alive.clone();
    let expired = Arc::new(AtomicU32::new(0));
    let counter = expired.clone();
    let cache: Cache<u64, u64> = Cache::builder()
        .time_to_live(Duration::from_millis(5))
        .background_sweeper(Duration::from_millis(2))
        .eviction_listener(move |_: &u64, _: u64, cause| {
            let _ = &held;
            if cause == RemovalCause::Expired {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        })
        .build();
    for key in 0..1_000 {
        cache.insert(key, key);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !cache.is_empty() && std::time::Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(cache.len(), 0, "swept without any call on the cache");
    assert_eq!(expired.load(Ordering::Relaxed), 1_000);
    assert_eq!(Arc::strong_count(&alive), 2);
    drop(cache); // stops and joins the sweeper
    assert_eq!(
        Arc::strong_count(&alive),
        1,
        "nothing of the cache is left running"
    );
}
