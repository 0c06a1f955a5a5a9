//! Snapshots of `Cache` and `SeenSet` (feature `serde`): round trips with time
//! to live, time to idle and weights, kinds and types that do not match, and
//! panicking `Serialize` and `Deserialize` code.
#![cfg(feature = "serde")]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use proptest::prelude::*;
use serde::{Serialize, Serializer};
use ttlru::{
    Cache, CacheBuilder, FingerprintSet, ManualClock, SeenSet, SnapshotError, SnapshotKind,
};

#[derive(Clone, Debug)]
enum Op {
    Insert(u16, u32),
    InsertWithTtl(u16, u32, u64),
    Get(u16),
    Remove(u16),
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u16..200;
    prop_oneof![
        4 => (key.clone(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
        2 => (key.clone(), any::<u32>(), 1u64..20_000).prop_map(|(k, v, t)| Op::InsertWithTtl(k, v, t)),
        3 => key.clone().prop_map(Op::Get),
        1 => key.prop_map(Op::Remove),
        1 => (0u64..500).prop_map(Op::Advance),
    ]
}

/// One configuration of options, applied alike to the saved and restored cache.
fn builder(
    clock: &ManualClock,
    shards: usize,
    ttl: Option<u64>,
    tti: Option<u64>,
    weighted: bool,
) -> CacheBuilder<u16, u32, ahash::RandomState> {
    let mut builder = Cache::builder()
        .max_capacity(150)
        .shards(shards)
        .clock(clock.clone())
        // The same hash in both, so each key lands in the same shard.
        .hasher(ahash::RandomState::with_seeds(1, 2, 3, 4));
    if let Some(ttl) = ttl {
        builder = builder.time_to_live(Duration::from_secs(ttl));
    }
    if let Some(tti) = tti {
        builder = builder.time_to_idle(Duration::from_secs(tti));
    }
    if weighted {
        builder = builder.weigher(|key: &u16, _: &u32| u32::from(key % 3) + 1);
    }
    builder
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random contents with TTLs, TTI and weights: after a round trip, the same
    /// `get` answers, `len`, and the same evictions afterwards.
    #[test]
    fn cache_round_trip_keeps_answers_and_eviction_order(
        ops in proptest::collection::vec(op(), 1..400),
        shards in prop_oneof![Just(1usize), Just(4)],
        ttl in proptest::option::of(60u64..120),
        tti in proptest::option::of(30u64..60),
        weighted in any::<bool>(),
    ) {
        let clock = ManualClock::new();
        let cache = builder(&clock, shards, ttl, tti, weighted).build();
        for op in ops {
            match op {
                Op::Insert(k, v) => { cache.insert(k, v); }
                Op::InsertWithTtl(k, v, t) => { cache.insert_with_ttl(k, v, Duration::from_millis(t)); }
                Op::Get(k) => { let _ = cache.get(&k); }
                Op::Remove(k) => { cache.remove(&k); }
                Op::Advance(ms) => clock.advance(Duration::from_millis(ms)),
            }
        }
        cache.purge_expired();
        let mut bytes = Vec::new();
        let info = cache.save_snapshot(&mut bytes).unwrap();
        prop_assert_eq!(info.entries, cache.len() as u64);
        let restored_clock = ManualClock::new();
        restored_clock.advance(clock.elapsed());
        let restored = builder(&restored_clock, shards, ttl, tti, weighted)
            .build_from_snapshot(&bytes[..])
            .unwrap();
        prop_assert_eq!(restored.len(), cache.len());
        for key in 0..200u16 {
            prop_assert_eq!(restored.peek(&key), cache.peek(&key), "key {}", key);
        }
        for key in 1_000..1_100u16 {
            cache.insert(key, 0);
            restored.insert(key, 0);
        }
        for key in 0..1_100u16 {
            prop_assert_eq!(restored.peek(&key), cache.peek(&key), "after evictions, key {}", key);
        }
    }

    /// The same for a SeenSet of strings.
    #[test]
    fn seen_set_round_trip_keeps_answers_and_eviction_order(
        keys in proptest::collection::vec(0u16..300, 1..500),
    ) {
        let seen: SeenSet<String> = SeenSet::builder().shards(1).max_capacity(100).build();
        for key in &keys {
            seen.insert(format!("evt-{key}"));
        }
        let mut bytes = Vec::new();
        seen.save_snapshot(&mut bytes).unwrap();
        let restored: SeenSet<String> = SeenSet::builder()
            .shards(1)
            .max_capacity(100)
            .build_from_snapshot(&bytes[..])
            .unwrap();
        prop_assert_eq!(restored.len(), seen.len());
        for key in 0..400u16 {
            let key = format!("evt-{key}");
            prop_assert_eq!(restored.contains(&key), seen.contains(&key));
        }
        for key in 300..400u16 {
            prop_assert_eq!(restored.insert(format!("evt-{key}")), seen.insert(format!("evt-{key}")));
        }
        for key in 0..400u16 {
            let key = format!("evt-{key}");
            prop_assert_eq!(restored.contains(&key), seen.contains(&key));
        }
    }
}

#[test]
fn time_to_idle_keeps_the_write_deadline_across_a_restore() {
    let clock = ManualClock::new();
    let cache = builder(&clock, 1, Some(100), Some(10), false).build();
    cache.insert(1, 1);
    for _ in 0..10 {
        clock.advance(Duration::from_millis(9_500));
        assert_eq!(cache.get(&1), Some(1), "each access restarts the idle time");
    }
    let mut bytes = Vec::new();
    cache.save_snapshot(&mut bytes).unwrap();
    let restored_clock = ManualClock::new();
    let restored = builder(&restored_clock, 1, Some(100), Some(10), false)
        .build_from_snapshot(&bytes[..])
        .unwrap();
    // Idle time would give it 10 s more; its time to live ends in 5.
    restored_clock.advance(Duration::from_secs(4));
    assert_eq!(restored.get(&1), Some(1));
    restored_clock.advance(Duration::from_millis(1_100));
    assert_eq!(restored.get(&1), None, "the time to live still ends it");
}

#[test]
fn each_kind_is_read_only_by_its_own_builder() {
    let cache: Cache<u32, u32> = Cache::new(10);
    cache.insert(1, 2);
    let mut cache_bytes = Vec::new();
    cache.save_snapshot(&mut cache_bytes).unwrap();
    let seen: SeenSet<u32> = SeenSet::new(10);
    seen.insert(1);
    let mut seen_bytes = Vec::new();
    seen.save_snapshot(&mut seen_bytes).unwrap();
    let fingerprints: FingerprintSet<u32> = FingerprintSet::new(10);
    fingerprints.insert(&1);
    let mut fingerprint_bytes = Vec::new();
    fingerprints.save_snapshot(&mut fingerprint_bytes).unwrap();

    type Load = fn(&[u8]) -> Result<(), SnapshotError>;
    let as_seen_set: Load = |bytes| {
        SeenSet::<u32>::builder()
            .build_from_snapshot(bytes)
            .map(drop)
    };
    let as_cache: Load = |bytes| {
        Cache::<u32, u32>::builder()
            .build_from_snapshot(bytes)
            .map(drop)
    };
    let as_fingerprints: Load = |bytes| {
        FingerprintSet::<u32>::builder()
            .build_from_snapshot(bytes)
            .map(drop)
    };
    let cases: [(&[u8], Load, SnapshotKind, SnapshotKind); 4] = [
        (
            &cache_bytes,
            as_seen_set,
            SnapshotKind::Cache,
            SnapshotKind::SeenSet,
        ),
        (
            &seen_bytes,
            as_cache,
            SnapshotKind::SeenSet,
            SnapshotKind::Cache,
        ),
        (
            &seen_bytes,
            as_fingerprints,
            SnapshotKind::SeenSet,
            SnapshotKind::FingerprintSet,
        ),
        (
            &fingerprint_bytes,
            as_seen_set,
            SnapshotKind::FingerprintSet,
            SnapshotKind::SeenSet,
        ),
    ];
    for (bytes, load, found, expected) in cases {
        match load(bytes) {
            Err(SnapshotError::WrongKind {
                found: f,
                expected: e,
            }) => {
                assert_eq!((f, e), (found, expected))
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn other_key_types_are_a_decode_error() {
    let cache: Cache<String, String> = Cache::new(10);
    cache.insert("a".repeat(300), "b".to_string());
    let mut bytes = Vec::new();
    cache.save_snapshot(&mut bytes).unwrap();
    let result = Cache::<u8, String>::builder().build_from_snapshot(&bytes[..]);
    assert!(
        matches!(result, Err(SnapshotError::Decode(_))),
        "{result:?}"
    );
}

/// A new directory (under the temporary one, named for `name` and this process)
/// and the path of a `cache.snapshot` in it; the test removes the directory.
fn snapshot_file_in_fresh_directory(name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cache.snapshot");
    (dir, path)
}

/// A value whose `Serialize` panics when asked to.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
struct Bomb(bool);

impl Serialize for Bomb {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        assert!(!self.0, "Serialize panics");
        serializer.serialize_bool(self.0)
    }
}

/// A panicking `Serialize` leaves no lock held and no file written: the set
/// goes on, and the previous snapshot file is untouched.
#[test]
fn a_panicking_serialize_leaves_nothing_stuck_or_half_written() {
    let (dir, path) = snapshot_file_in_fresh_directory("ttlru-serde-bomb");
    let cache: Cache<u32, Bomb> = Cache::builder().shards(4).build();
    (0..100).for_each(|i| {
        cache.insert(i, Bomb(false));
    });
    cache.save_snapshot_to(&path).unwrap();
    let before = std::fs::read(&path).unwrap();
    cache.insert(7, Bomb(true));
    let panicked = catch_unwind(AssertUnwindSafe(|| cache.save_snapshot_to(&path)));
    assert!(panicked.is_err());
    assert_eq!(std::fs::read(&path).unwrap(), before, "the old file stands");
    let names: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(names.len(), 1, "no temporary file left");
    // Every shard is still usable.
    (100..200).for_each(|i| {
        cache.insert(i, Bomb(false));
    });
    assert_eq!(cache.len(), 200);
    cache.remove(&7);
    assert_eq!(cache.save_snapshot_to(&path).unwrap().entries, 199);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A background save whose `Serialize` panics is counted, its panic message is
/// the latest failure's reason, and the cache goes on.
#[test]
fn a_panicking_serialize_in_the_background_is_explained() {
    let (dir, path) = snapshot_file_in_fresh_directory("ttlru-serde-bomb-bg");
    let cache: Cache<u32, Bomb> = Cache::builder()
        .persist_to(&path, Duration::from_millis(5))
        .build();
    cache.insert(1, Bomb(true));
    let started = std::time::Instant::now();
    while cache.last_snapshot_failure().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no failure explained"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let reason = cache.last_snapshot_failure().unwrap();
    assert!(reason.contains("panicked"), "{reason}");
    assert!(reason.contains("Serialize panics"), "{reason}");
    assert!(cache.stats().snapshot_failures >= 1);
    cache.insert(1, Bomb(false));
    assert_eq!(cache.get(&1), Some(Bomb(false)));
    drop(cache); // its last save succeeds
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A value whose `Deserialize` panics on a `true`.
#[derive(Clone, Debug, PartialEq, Serialize)]
struct DecodeBomb(bool);

impl<'de> serde::Deserialize<'de> for DecodeBomb {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let armed = bool::deserialize(deserializer)?;
        assert!(!armed, "Deserialize panics");
        Ok(DecodeBomb(armed))
    }
}

/// A `Deserialize` that panics half-way through a restore builds nothing and
/// writes nothing: the builder's periodic saver, which would save on drop, is
/// started only once the restore has finished, so the snapshot it was restoring
/// is not overwritten by the half-restored set; and nothing is left running.
#[test]
fn a_panicking_deserialize_builds_nothing_and_writes_nothing() {
    let (dir, path) = snapshot_file_in_fresh_directory("ttlru-serde-decode");
    let saved: Cache<u32, DecodeBomb> = Cache::builder().shards(4).build();
    (0..100).for_each(|i| {
        saved.insert(i, DecodeBomb(i == 60));
    });
    saved.save_snapshot_to(&path).unwrap();
    let before = std::fs::read(&path).unwrap();

    let restore = || {
        Cache::<u32, DecodeBomb>::builder()
            .shards(4)
            .background_sweeper(Duration::from_millis(1))
            .persist_to(&path, Duration::from_millis(1))
            .build_from_snapshot_file(&path)
    };
    assert!(catch_unwind(AssertUnwindSafe(restore)).is_err());
    std::thread::sleep(Duration::from_millis(20)); // a saver left running would write by now
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the snapshot is untouched"
    );
    let names: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(names.len(), 1, "no temporary file left");

    // With the bomb gone, the same builder restores every entry.
    saved.insert(60, DecodeBomb(false));
    saved.save_snapshot_to(&path).unwrap();
    let restored = restore().unwrap();
    assert_eq!(restored.len(), 100);
    assert_eq!(restored.get(&60), Some(DecodeBomb(false)));
    drop(restored);
    std::fs::remove_dir_all(&dir).unwrap();
}
