//! Snapshots: round trips, downtime, concurrency, crash safety and corrupt input.
//!
//! The `FingerprintSet` tests need no feature; the `SeenSet` and `Cache` ones run
//! with `--features serde`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use ttlru::{FingerprintSet, ManualClock, RemovalCause, SnapshotError};

/// A fresh directory under the target's temporary space, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "ttlru-snapshot-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fingerprint_set(shards: usize, capacity: u64, clock: &ManualClock) -> FingerprintSet<u32> {
    FingerprintSet::builder()
        .shards(shards)
        .max_capacity(capacity)
        .fingerprint_key(0x5eed)
        .clock(clock.clone())
        .time_to_live(Duration::from_secs(3600))
        .build()
}

fn save(set: &FingerprintSet<u32>) -> Vec<u8> {
    let mut bytes = Vec::new();
    let info = set.save_snapshot(&mut bytes).unwrap();
    assert_eq!(info.bytes, bytes.len() as u64);
    assert_eq!(info.entries, set.len() as u64);
    bytes
}

fn restore(bytes: &[u8], shards: usize, capacity: u64) -> FingerprintSet<u32> {
    FingerprintSet::builder()
        .shards(shards)
        .max_capacity(capacity)
        .clock(ManualClock::new())
        .build_from_snapshot(bytes)
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random contents (per-key TTLs, sightings that refresh recency and idle
    /// time) give the same answers after a round trip, and the same evictions
    /// afterwards: the recency order came back exactly.
    #[test]
    fn fingerprint_round_trip_keeps_answers_and_eviction_order(
        ops in proptest::collection::vec((0u32..300, 0u8..4), 1..600),
        shards in prop_oneof![Just(1usize), Just(4)],
        idle in any::<bool>(),
    ) {
        let clock = ManualClock::new();
        let mut builder = FingerprintSet::builder()
            .shards(shards)
            .max_capacity(128)
            .fingerprint_key(0x5eed)
            .clock(clock.clone())
            .time_to_live(Duration::from_secs(3600));
        if idle {
            builder = builder.time_to_idle(Duration::from_secs(1800));
        }
        let set: FingerprintSet<u32> = builder.build();
        for (key, op) in ops {
            match op {
                0 => { set.insert_with_ttl(&key, Duration::from_secs(60 + u64::from(key))); }
                1 => { set.remove(&key); }
                _ => { set.insert(&key); }
            }
            clock.advance(Duration::from_millis(1));
        }
        let bytes = save(&set);
        let restored = restore(&bytes, shards, 128);
        prop_assert_eq!(restored.len(), set.len());
        prop_assert_eq!(restored.fingerprint_key(), 0x5eed);
        for key in 0..300u32 {
            prop_assert_eq!(restored.contains(&key), set.contains(&key), "key {}", key);
        }
        // The same new keys now evict the same old ones.
        for key in 1_000..1_100u32 {
            set.insert(&key);
            restored.insert(&key);
        }
        for key in 0..1_100u32 {
            prop_assert_eq!(restored.contains(&key), set.contains(&key), "after evictions, key {}", key);
        }
    }
}

#[test]
fn restoring_into_fewer_shards_or_less_capacity_leaves_out_the_least_recent() {
    let clock = ManualClock::new();
    let set = fingerprint_set(1, 1_000, &clock);
    for key in 0..1_000u32 {
        set.insert(&key);
    }
    // Sightings make 0..100 the most recent.
    for key in 0..100u32 {
        set.insert(&key);
    }
    let bytes = save(&set);
    let smaller = restore(&bytes, 1, 300);
    assert_eq!(smaller.len(), 300);
    let kept: Vec<u32> = (0..1_000).filter(|key| smaller.contains(key)).collect();
    let expected: Vec<u32> = (0..100).chain(800..1_000).collect();
    assert_eq!(kept, expected, "the 300 most recent");

    // From 8 shards into 1 of half the size: the most recent half of each
    // saved shard stays.
    let eight = fingerprint_set(8, 8_000, &clock);
    for key in 0..8_000u32 {
        eight.insert(&key);
    }
    let one = restore(&save(&eight), 1, 4_000);
    assert_eq!(one.len(), 4_000);
    let old_kept = (0..4_000u32).filter(|key| one.contains(key)).count();
    assert!(old_kept < 400, "{old_kept} of the older half kept");
}

#[test]
fn a_builder_with_another_fingerprint_key_is_refused() {
    let set = fingerprint_set(2, 100, &ManualClock::new());
    set.insert(&1);
    let bytes = save(&set);
    let same: FingerprintSet<u32> = FingerprintSet::builder()
        .fingerprint_key(0x5eed)
        .build_from_snapshot(&bytes[..])
        .unwrap();
    assert!(same.contains(&1));
    let other = FingerprintSet::<u32>::builder()
        .fingerprint_key(0x5eee)
        .build_from_snapshot(&bytes[..]);
    assert!(matches!(other, Err(SnapshotError::KeyMismatch)));
}

#[test]
fn a_fingerprint_entry_takes_at_most_24_bytes() {
    let set: FingerprintSet<u32> = FingerprintSet::builder()
        .time_to_live(Duration::from_secs(3600))
        .build();
    for key in 0..100_000u32 {
        set.insert_with_ttl(&key, Duration::from_millis(u64::from(key) * 997 + 1));
    }
    let bytes = {
        let mut bytes = Vec::new();
        set.save_snapshot(&mut bytes).unwrap();
        bytes
    };
    let per_entry = bytes.len() as f64 / 100_000.0;
    assert!(per_entry <= 24.0, "{per_entry:.2} bytes per entry");
    let forever: FingerprintSet<u32> = FingerprintSet::new(1_000);
    (0..1_000u32).for_each(|key| {
        forever.insert(&key);
    });
    let mut bytes = Vec::new();
    forever.save_snapshot(&mut bytes).unwrap();
    assert!(bytes.len() <= 17 * 1_000 + 200, "{} bytes", bytes.len());
}

/// Real wall-clock downtime between save and restore counts against deadlines.
#[test]
fn downtime_counts_against_every_deadline() {
    let clock = ManualClock::new();
    let set: FingerprintSet<u32> = FingerprintSet::builder()
        .clock(clock.clone())
        .fingerprint_key(1)
        .build();
    for key in 0..100u32 {
        set.insert_with_ttl(&key, Duration::from_millis(100));
    }
    for key in 100..200u32 {
        set.insert_with_ttl(&key, Duration::from_millis(900));
    }
    for key in 200..300u32 {
        set.insert(&key);
    }
    let outer = Instant::now();
    let mut bytes = Vec::new();
    set.save_snapshot(&mut bytes).unwrap();
    let inner = Instant::now();
    std::thread::sleep(Duration::from_millis(250));
    let inner_elapsed = inner.elapsed();
    let restored_clock = ManualClock::new();
    let restored: FingerprintSet<u32> = FingerprintSet::builder()
        .clock(restored_clock.clone())
        .build_from_snapshot(&bytes[..])
        .unwrap();
    let outer_elapsed = outer.elapsed();
    assert_eq!(restored.len(), 200, "the 100 ms entries ended while down");
    assert!((0..100u32).all(|key| !restored.contains(&key)));
    assert!((100..300u32).all(|key| restored.contains(&key)));
    // What is left of 900 ms: between 900 - outer and 900 - inner, to the
    // millisecond, give or take the truncation of both wall-clock readings and
    // of the two elapsed times to whole milliseconds (and an entry is gone at
    // its deadline, not after it).
    let slack = 3;
    let least = 900 - outer_elapsed.as_millis() as u64 - slack;
    let most = 900 - inner_elapsed.as_millis() as u64 + slack;
    restored_clock.advance(Duration::from_millis(least));
    assert!(
        (100..200u32).all(|key| restored.contains(&key)),
        "alive at {least} ms"
    );
    restored_clock.advance(Duration::from_millis(most - least));
    assert!(
        (100..200u32).all(|key| !restored.contains(&key)),
        "gone at {most} ms"
    );
    assert!(
        (200..300u32).all(|key| restored.contains(&key)),
        "no deadline, no end"
    );
}

/// Saving while two threads insert and remove completes, and every key present
/// for the whole save is in the snapshot.
#[test]
fn a_save_under_concurrent_writes_holds_every_key_present_throughout() {
    let set: Arc<FingerprintSet<u64>> = Arc::new(
        FingerprintSet::builder()
            .shards(16)
            .fingerprint_key(3)
            .build(),
    );
    const STABLE: u64 = 200_000;
    for key in 0..STABLE {
        set.insert(&key);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2u64)
        .map(|thread| {
            let (set, stop) = (set.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut key = (thread + 1) << 40;
                let mut writes = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    set.insert(&key);
                    if key % 2 == 0 {
                        set.remove(&key);
                    }
                    key += 1;
                    writes += 1;
                }
                writes
            })
        })
        .collect();
    let mut saves = Vec::new();
    for _ in 0..3 {
        let mut bytes = Vec::new();
        let info = set.save_snapshot(&mut bytes).unwrap();
        assert!(info.entries >= STABLE);
        saves.push(bytes);
    }
    stop.store(true, Ordering::Relaxed);
    let writes: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(writes > 0);
    for bytes in saves {
        let restored: FingerprintSet<u64> = FingerprintSet::builder()
            .build_from_snapshot(&bytes[..])
            .unwrap();
        assert!((0..STABLE).all(|key| restored.contains(&key)));
    }
}

/// A save into a file keeps the previous file until it is complete, and leaves
/// no temporary file behind; the file is owner-only.
#[test]
fn save_snapshot_to_replaces_the_file_whole() {
    let scratch = Scratch::new("replace");
    let path = scratch.path("seen.snapshot");
    let set = fingerprint_set(4, 1_000, &ManualClock::new());
    set.insert(&1);
    set.save_snapshot_to(&path).unwrap();
    set.insert(&2);
    let info = set.save_snapshot_to(&path).unwrap();
    assert_eq!(info.entries, 2);
    let restored: FingerprintSet<u32> = FingerprintSet::builder()
        .build_from_snapshot_file(&path)
        .unwrap();
    assert!(restored.contains(&1) && restored.contains(&2));
    let names: Vec<_> = std::fs::read_dir(&scratch.0)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(names, ["seen.snapshot"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

const CHILD_PATH: &str = "TTLRU_SNAPSHOT_CHILD_PATH";
const CHILD_KEYS: u32 = 300_000;

/// In a child process: builds the "new" set and saves it over the file in a
/// loop, until the parent kills it. Does nothing when run as a normal test.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_PATH) else {
        return;
    };
    let set: FingerprintSet<u32> = FingerprintSet::builder().fingerprint_key(9).build();
    for key in CHILD_KEYS..2 * CHILD_KEYS {
        set.insert(&key);
    }
    println!("saving");
    loop {
        set.save_snapshot_to(&path).unwrap();
    }
}

fn restores_to_one_of(path: &Path) -> &'static str {
    let restored: FingerprintSet<u32> = FingerprintSet::builder()
        .build_from_snapshot_file(path)
        .expect("a killed save leaves a whole file");
    assert_eq!(restored.len(), CHILD_KEYS as usize);
    let old = (0..CHILD_KEYS)
        .step_by(997)
        .all(|key| restored.contains(&key));
    let new = (CHILD_KEYS..2 * CHILD_KEYS)
        .step_by(997)
        .all(|key| restored.contains(&key));
    match (old, new) {
        (true, false) => "old",
        (false, true) => "new",
        _ => panic!("a mix of old and new contents"),
    }
}

/// SIGKILL at random points of `save_snapshot_to`, many times: the file always
/// restores to the old contents or the new, never anything else.
#[test]
fn a_save_killed_at_any_point_leaves_the_old_or_the_new_file() {
    let scratch = Scratch::new("crash");
    let path = scratch.path("seen.snapshot");
    let old: FingerprintSet<u32> = FingerprintSet::builder().fingerprint_key(9).build();
    for key in 0..CHILD_KEYS {
        old.insert(&key);
    }
    let save_time = old.save_snapshot_to(&path).unwrap().duration;
    let mut outcomes = Vec::new();
    let mut random = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..24 {
        old.save_snapshot_to(&path).unwrap();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_PATH, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        loop {
            let line = lines.next().expect("the child says when it saves").unwrap();
            if line.contains("saving") {
                break;
            }
        }
        // xorshift: a kill point anywhere in the first two saves.
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        let delay = Duration::from_micros(random % (2 * save_time.as_micros() as u64 + 1));
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL on unix
        child.wait().unwrap();
        outcomes.push(restores_to_one_of(&path));
    }
    println!("outcomes: {outcomes:?}");
}

/// A CRC-32C written bit by bit, independent of the crate's, to forge a header
/// with a valid checksum.
fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Rewrites header byte `at` to `value` and fixes the header checksum.
fn forge_header(bytes: &[u8], at: usize, value: u8) -> Vec<u8> {
    let mut forged = bytes.to_vec();
    forged[at] = value;
    let mut covered = forged[16..24].to_vec(); // the snapshot id seeds every checksum
    covered.extend_from_slice(&forged[..56]);
    forged[56..60].copy_from_slice(&crc32c(&covered).to_le_bytes());
    forged
}

fn sample_snapshot() -> Vec<u8> {
    let set: FingerprintSet<u32> = FingerprintSet::builder()
        .shards(4)
        .fingerprint_key(11)
        .time_to_live(Duration::from_secs(3600))
        .time_to_idle(Duration::from_secs(600))
        .build();
    for key in 0..10_000u32 {
        set.insert(&key);
    }
    let mut bytes = Vec::new();
    set.save_snapshot(&mut bytes).unwrap();
    bytes
}

fn load(bytes: &[u8]) -> Result<FingerprintSet<u32>, SnapshotError> {
    FingerprintSet::builder().build_from_snapshot(bytes)
}

/// The offsets where records start: after the header, each block, and the trailer.
fn record_boundaries(bytes: &[u8]) -> Vec<usize> {
    let mut at = 60;
    let mut boundaries = vec![0, at];
    while bytes[at] == b'B' {
        let length = u32::from_le_bytes(bytes[at + 21..at + 25].try_into().unwrap()) as usize;
        at += 25 + length + 4;
        boundaries.push(at);
    }
    assert_eq!(bytes[at], b'T');
    boundaries.push(bytes.len());
    boundaries
}

#[test]
fn empty_foreign_newer_and_other_kind_inputs_say_what_is_wrong() {
    let bytes = sample_snapshot();
    assert_eq!(load(&bytes).unwrap().len(), 10_000);
    assert!(matches!(load(&[]), Err(SnapshotError::Empty)));
    assert!(matches!(
        load(b"PK\x03\x04 a zip file, say"),
        Err(SnapshotError::NotASnapshot)
    ));
    let mut newer = bytes.clone();
    newer[8] = 2;
    assert!(matches!(
        load(&newer),
        Err(SnapshotError::UnsupportedVersion {
            found: 2,
            supported: 1
        })
    ));
    for kind in [2u8, 3] {
        let error = load(&forge_header(&bytes, 10, kind)).unwrap_err();
        assert!(
            matches!(
                error,
                SnapshotError::WrongKind {
                    expected: ttlru::SnapshotKind::FingerprintSet,
                    ..
                }
            ),
            "{error}"
        );
    }
    assert!(matches!(
        load(&forge_header(&bytes, 10, 77)),
        Err(SnapshotError::Corrupt(_))
    ));
    // Every error says something.
    assert!(!SnapshotError::Truncated.to_string().is_empty());
}

#[test]
fn truncation_at_every_record_boundary_is_truncated() {
    let bytes = sample_snapshot();
    let boundaries = record_boundaries(&bytes);
    assert!(boundaries.len() > 5, "several blocks");
    for &end in &boundaries[..boundaries.len() - 1] {
        let result = load(&bytes[..end]);
        let expected_empty = end == 0;
        match result {
            Err(SnapshotError::Empty) if expected_empty => {}
            Err(SnapshotError::Truncated) if !expected_empty => {}
            other => panic!("cut at {end}: {:?}", other.map(|set| set.len())),
        }
    }
}

#[test]
fn blocks_spliced_from_another_snapshot_are_refused() {
    let first = sample_snapshot();
    let second = sample_snapshot(); // same contents, another snapshot id
    let a = record_boundaries(&first);
    let b = record_boundaries(&second);
    // The first's header and first block, then the second's remaining records.
    let mut spliced = first[..a[2]].to_vec();
    spliced.extend_from_slice(&second[b[2]..]);
    assert!(matches!(load(&spliced), Err(SnapshotError::Corrupt(_))));
    // A block dropped, or repeated, from the same snapshot.
    let mut dropped = first[..a[2]].to_vec();
    dropped.extend_from_slice(&first[a[3]..]);
    assert!(matches!(load(&dropped), Err(SnapshotError::Corrupt(_))));
    let mut repeated = first[..a[3]].to_vec();
    repeated.extend_from_slice(&first[a[2]..]);
    assert!(matches!(load(&repeated), Err(SnapshotError::Corrupt(_))));
    // Anything after the trailer.
    let mut longer = first.clone();
    longer.push(0);
    assert!(matches!(load(&longer), Err(SnapshotError::Corrupt(_))));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any byte changed anywhere: an error naming the damage, never a panic,
    /// never a set. A changed length field that now points past the end of the
    /// file reads as a file cut short (`Truncated`): a reader cannot tell a longer
    /// length from missing bytes before the block's checksum, which follows them.
    #[test]
    fn any_changed_byte_is_refused(at in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let bytes = sample_snapshot_cached();
        let mut damaged = bytes.to_vec();
        let at = at.index(damaged.len());
        damaged[at] ^= flip;
        let error = load(&damaged).map(|set| set.len()).unwrap_err();
        match at {
            0..8 => prop_assert!(matches!(error, SnapshotError::NotASnapshot), "{}", error),
            8..10 => prop_assert!(matches!(error, SnapshotError::UnsupportedVersion { .. }), "{}", error),
            _ => prop_assert!(
                matches!(error, SnapshotError::Corrupt(_) | SnapshotError::Truncated),
                "at {}: {}", at, error
            ),
        }
    }

    /// A cut anywhere: truncated (or empty), never a partial set.
    #[test]
    fn any_truncation_is_refused(cut in any::<prop::sample::Index>()) {
        let bytes = sample_snapshot_cached();
        let end = cut.index(bytes.len());
        let error = load(&bytes[..end]).map(|set| set.len()).unwrap_err();
        prop_assert!(
            matches!(error, SnapshotError::Truncated | SnapshotError::Empty),
            "cut at {}: {}", end, error
        );
    }

    /// Arbitrary bytes after a valid header: never a panic, never an allocation
    /// beyond what the input justifies (a length field of 4 GiB with nothing
    /// behind it must not reserve 4 GiB).
    #[test]
    fn arbitrary_records_after_a_valid_header_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..200)) {
        let bytes = sample_snapshot_cached();
        let mut input = bytes[..60].to_vec();
        input.push(b'B');
        input.extend_from_slice(&tail);
        prop_assert!(load(&input).is_err());
    }
}

fn sample_snapshot_cached() -> &'static [u8] {
    static SAMPLE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    SAMPLE.get_or_init(sample_snapshot)
}

#[test]
fn a_huge_length_field_allocates_nothing_it_cannot_fill() {
    let bytes = sample_snapshot_cached();
    let mut input = bytes[..60].to_vec();
    input.push(b'B');
    input.extend_from_slice(&0u32.to_le_bytes()); // shard
    input.extend_from_slice(&0u32.to_le_bytes()); // sequence
    input.extend_from_slice(&u32::MAX.to_le_bytes()); // entries
    input.extend_from_slice(&0u64.to_le_bytes()); // base
    input.extend_from_slice(&u32::MAX.to_le_bytes()); // payload length
    input.extend_from_slice(&[0u8; 100]);
    assert!(matches!(load(&input), Err(SnapshotError::Truncated)));
}

/// Evictions while restoring into a smaller set do not reach the listener.
#[test]
fn a_restore_reports_nothing_to_the_listener() {
    let set = fingerprint_set(1, 100, &ManualClock::new());
    (0..100u32).for_each(|key| {
        set.insert(&key);
    });
    let heard = Arc::new(Mutex::new(Vec::new()));
    let sink = heard.clone();
    let restored: FingerprintSet<u32> = FingerprintSet::builder()
        .shards(1)
        .max_capacity(10)
        .eviction_listener(move |fingerprint, cause: RemovalCause| {
            sink.lock().unwrap().push((fingerprint, cause))
        })
        .build_from_snapshot(&save(&set)[..])
        .unwrap();
    assert_eq!(restored.len(), 10);
    assert!(heard.lock().unwrap().is_empty());
    assert_eq!(
        restored.stats().inserts,
        0,
        "a restored set starts counting afresh"
    );
}

/// `persist_to` saves on its interval and once more on drop; the restart recipe
/// (restore at start, persist, save on shutdown) loses nothing on a clean stop.
#[test]
fn persistence_saves_periodically_and_on_drop() {
    let scratch = Scratch::new("persist");
    let path = scratch.path("seen.snapshot");
    let every = Duration::from_millis(20);
    let seen: FingerprintSet<str> = FingerprintSet::builder()
        .fingerprint_key(5)
        .persist_to(&path, every)
        .build();
    seen.insert("evt-1");
    let started = Instant::now();
    while seen.stats().snapshots_saved == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no periodic save"
        );
        std::thread::sleep(every);
    }
    let periodic: FingerprintSet<str> = FingerprintSet::builder()
        .build_from_snapshot_file(&path)
        .unwrap();
    assert!(periodic.contains("evt-1"));
    seen.insert("evt-2");
    assert_eq!(seen.stats().snapshot_failures, 0);
    drop(seen);
    // A restart: restore, keep persisting, stop again.
    let restarted: FingerprintSet<str> = FingerprintSet::builder()
        .persist_to(&path, Duration::from_secs(3600))
        .build_from_snapshot_file(&path)
        .unwrap();
    assert!(restarted.contains("evt-1") && restarted.contains("evt-2"));
    assert_eq!(restarted.fingerprint_key(), 5);
    restarted.insert("evt-3");
    drop(restarted);
    let last: FingerprintSet<str> = FingerprintSet::builder()
        .build_from_snapshot_file(&path)
        .unwrap();
    assert!(
        ["evt-1", "evt-2", "evt-3"]
            .iter()
            .all(|key| last.contains(key))
    );
}

/// A save that cannot be written is counted, not silent, and does not stop the
/// saver or the set.
#[test]
fn persistence_failures_are_counted() {
    let scratch = Scratch::new("persist-fail");
    let path = scratch.path("no-such-directory/seen.snapshot");
    let seen: FingerprintSet<str> = FingerprintSet::builder()
        .persist_to(&path, Duration::from_millis(10))
        .build();
    seen.insert("evt-1");
    let started = Instant::now();
    while seen.stats().snapshot_failures < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "failures not counted"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(seen.stats().snapshots_saved, 0);
    assert!(seen.contains("evt-1"));
}

/// The latest failed save's reason names the file and the I/O error, and the next
/// save that succeeds clears it; a set that does not persist has none.
#[test]
fn the_latest_failure_is_explained_until_a_save_succeeds() {
    let scratch = Scratch::new("persist-reason");
    let directory = scratch.path("created-later");
    let path = directory.join("seen.snapshot");
    let seen: FingerprintSet<str> = FingerprintSet::builder()
        .persist_to(&path, Duration::from_millis(10))
        .build();
    seen.insert("evt-1");
    let wait_until = |what: &str, done: &dyn Fn() -> bool| {
        let started = Instant::now();
        while !done() {
            assert!(started.elapsed() < Duration::from_secs(10), "{what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait_until("no failure explained", &|| {
        seen.last_snapshot_failure().is_some()
    });
    let reason = seen.last_snapshot_failure().unwrap();
    assert!(reason.contains(&path.display().to_string()), "{reason}");
    let not_found = std::io::Error::from(std::io::ErrorKind::NotFound).to_string();
    assert!(
        reason.contains("No such file or directory") || reason.contains(&not_found),
        "{reason}"
    );
    assert!(seen.stats().snapshot_failures >= 1);

    std::fs::create_dir(&directory).unwrap();
    let saved_before = seen.stats().snapshots_saved;
    wait_until("no save after the directory appeared", &|| {
        seen.stats().snapshots_saved > saved_before
    });
    // Saves run on one thread, so by the next check the latest may be newer
    // still, but with the directory in place it succeeds too.
    assert_eq!(seen.last_snapshot_failure(), None);

    let unpersisted: FingerprintSet<str> = FingerprintSet::builder().build();
    assert_eq!(unpersisted.last_snapshot_failure(), None);
}

/// A restore that fails never starts the saver, so a bad file is not replaced
/// by an empty one when the half-built set goes away.
#[test]
fn a_failed_restore_does_not_overwrite_the_file() {
    let scratch = Scratch::new("persist-bad");
    let path = scratch.path("seen.snapshot");
    let mut bytes = sample_snapshot_cached().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let result = FingerprintSet::<u32>::builder()
        .persist_to(&path, Duration::from_millis(1))
        .build_from_snapshot_file(&path);
    assert!(matches!(result, Err(SnapshotError::Corrupt(_))));
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}
