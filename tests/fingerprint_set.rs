//! `FingerprintSet` has `SeenSet`'s semantics: checked by running the same random
//! operations on both (on one shard, with the same clock) and comparing every
//! answer, plus the cross-thread dedup guarantee and its keying.

use std::collections::HashMap;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use proptest::prelude::*;
use ttlru::{FingerprintSet, ManualClock, RemovalCause, SeenSet};

#[derive(Clone, Debug)]
enum Op {
    Insert(u8),
    InsertWithTtl(u8, u64),
    Contains(u8),
    Remove(u8),
    Advance(u64),
    Purge,
    Clear,
    ShrinkToFit,
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..24;
    prop_oneof![
        8 => key.clone().prop_map(Op::Insert),
        2 => (key.clone(), prop_oneof![Just(0u64), 1u64..3_000, Just(u64::MAX)])
            .prop_map(|(k, t)| Op::InsertWithTtl(k, t)),
        3 => key.clone().prop_map(Op::Contains),
        2 => key.prop_map(Op::Remove),
        3 => prop_oneof![0u64..500, 0u64..3_000].prop_map(Op::Advance),
        1 => Just(Op::Purge),
        1 => Just(Op::Clear),
        1 => Just(Op::ShrinkToFit),
    ]
}

type Log = Arc<Mutex<HashMap<(u128, RemovalCause), usize>>>;

proptest! {
    #[test]
    fn behaves_exactly_like_a_seen_set(
        ops in proptest::collection::vec(op(), 1..200),
        capacity in prop_oneof![Just(0u64), 1u64..16, Just(u64::MAX)],
        ttl in proptest::option::of(1u64..2_000),
        tti in proptest::option::of(1u64..2_000),
    ) {
        let clock = ManualClock::new();
        let fingerprints: FingerprintSet<u8> = FingerprintSet::builder().fingerprint_key(7).build();
        let fingerprint = move |k: &u8| fingerprints.fingerprint(k);
        let (seen_log, fingerprint_log): (Log, Log) = Default::default();
        let mut seen = SeenSet::builder().max_capacity(capacity).shards(1).clock(clock.clone());
        let mut fps = FingerprintSet::builder()
            .max_capacity(capacity)
            .shards(1)
            .clock(clock.clone())
            .fingerprint_key(7);
        if let Some(ttl) = ttl {
            seen = seen.time_to_live(Duration::from_millis(ttl));
            fps = fps.time_to_live(Duration::from_millis(ttl));
        }
        if let Some(tti) = tti {
            seen = seen.time_to_idle(Duration::from_millis(tti));
            fps = fps.time_to_idle(Duration::from_millis(tti));
        }
        let sink = seen_log.clone();
        let seen: SeenSet<u8> = seen
            .eviction_listener(move |k: &u8, cause| {
                *sink.lock().unwrap().entry((fingerprint(k), cause)).or_default() += 1;
            })
            .build();
        let sink = fingerprint_log.clone();
        let fps: FingerprintSet<u8> = fps
            .eviction_listener(move |fp, cause| *sink.lock().unwrap().entry((fp, cause)).or_default() += 1)
            .build();
        for op in ops {
            match op {
                Op::Insert(k) => prop_assert_eq!(seen.insert(k), fps.insert(&k)),
                Op::InsertWithTtl(k, t) => {
                    let ttl = if t == u64::MAX { Duration::MAX } else { Duration::from_millis(t) };
                    prop_assert_eq!(seen.insert_with_ttl(k, ttl), fps.insert_with_ttl(&k, ttl));
                }
                Op::Contains(k) => prop_assert_eq!(seen.contains(&k), fps.contains(&k)),
                Op::Remove(k) => prop_assert_eq!(seen.remove(&k), fps.remove(&k)),
                Op::Advance(ms) => clock.advance(Duration::from_millis(ms)),
                Op::Purge => prop_assert_eq!(seen.purge_expired(), fps.purge_expired()),
                Op::Clear => { seen.clear(); fps.clear(); }
                Op::ShrinkToFit => { seen.shrink_to_fit(); fps.shrink_to_fit(); }
            }
            prop_assert_eq!(seen.len(), fps.len());
            prop_assert_eq!(seen.stats(), fps.stats());
        }
        seen.clear();
        fps.clear();
        prop_assert_eq!(&*seen_log.lock().unwrap(), &*fingerprint_log.lock().unwrap());
    }
}

#[test]
fn says_true_exactly_once_per_key_across_threads() {
    const KEYS: u64 = 200_000;
    // Each thread visits all keys, in its own order (strides coprime to KEYS).
    const STRIDES: [u64; 4] = [1, 3, 7, 11];
    let name = |index: u64| format!("user{}:evt-{index:08x}", index % 977);
    let seen: Arc<FingerprintSet<str>> = Arc::new(FingerprintSet::new(2 * KEYS));
    let barrier = Arc::new(Barrier::new(STRIDES.len()));
    let handles: Vec<_> = STRIDES
        .into_iter()
        .map(|stride| {
            let (seen, barrier) = (seen.clone(), barrier.clone());
            thread::spawn(move || {
                let keys: Vec<(u64, String)> = (0..KEYS)
                    .map(|i| (i * stride + stride) % KEYS)
                    .map(|index| (index, name(index)))
                    .collect();
                barrier.wait();
                keys.into_iter()
                    .filter(|(_, key)| seen.insert(key.as_str()))
                    .map(|(index, _)| index)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut firsts = vec![0u8; KEYS as usize];
    for handle in handles {
        for index in handle.join().unwrap() {
            firsts[index as usize] += 1;
        }
    }
    assert!(firsts.iter().all(|&n| n == 1), "one true per key");
    assert_eq!(seen.len() as u64, KEYS);
}

#[test]
fn every_fingerprint_reaches_the_listener_exactly_once() {
    let log: Log = Default::default();
    let sink = log.clone();
    let seen: Arc<FingerprintSet<u64>> = Arc::new(
        FingerprintSet::builder()
            .max_capacity(1_000)
            .eviction_listener(move |fp, cause| {
                *sink.lock().unwrap().entry((fp, cause)).or_default() += 1
            })
            .build(),
    );
    thread::scope(|scope| {
        for t in 0..4u64 {
            let seen = &seen;
            scope.spawn(move || {
                for i in 0..20_000u64 {
                    seen.insert(&(i * 4 + t));
                }
            });
        }
    });
    let held = seen.len();
    seen.clear();
    let log = log.lock().unwrap();
    assert_eq!(
        log.values().sum::<usize>(),
        80_000,
        "every key left exactly once"
    );
    assert!(log.values().all(|&n| n == 1));
    let cleared = log
        .keys()
        .filter(|(_, cause)| *cause == RemovalCause::Cleared)
        .count();
    assert_eq!(cleared, held);
}

#[test]
fn separately_built_sets_use_different_keys_unless_fixed() {
    let a: FingerprintSet<str> = FingerprintSet::new(10);
    let b: FingerprintSet<str> = FingerprintSet::new(10);
    assert_ne!(
        a.fingerprint("user42:evt-9f3c"),
        b.fingerprint("user42:evt-9f3c")
    );
    let c: FingerprintSet<str> = FingerprintSet::builder().fingerprint_key(99).build();
    let d: FingerprintSet<str> = FingerprintSet::builder().fingerprint_key(99).build();
    assert_eq!(
        c.fingerprint("user42:evt-9f3c"),
        d.fingerprint("user42:evt-9f3c")
    );
    assert_ne!(
        c.fingerprint("user42:evt-9f3c"),
        c.fingerprint("user42:evt-9f3d")
    );
}

#[test]
fn keys_of_any_length_and_type_work() {
    let strings: FingerprintSet<str> = FingerprintSet::new(100);
    let long = "x".repeat(10_000);
    assert!(strings.insert(""));
    assert!(strings.insert(&long));
    assert!(!strings.insert(&long));
    let bytes: FingerprintSet<[u8]> = FingerprintSet::new(100);
    assert!(bytes.insert(b"evt".as_slice()));
    assert!(bytes.contains(b"evt".as_slice()));
    let tuples: FingerprintSet<(u32, &str)> = FingerprintSet::new(100);
    assert!(tuples.insert(&(1, "a")));
    assert!(!tuples.insert(&(1, "a")));
    assert!(tuples.insert(&(2, "a")));
}
