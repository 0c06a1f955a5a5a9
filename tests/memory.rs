//! Memory, measured by a counting global allocator: bytes per entry, and memory
//! given back after removal, expiry and `clear()`, and kept in proportion to the
//! live window of a steady stream.
//!
//! The allocator counts the bytes live in the whole process, so each scenario
//! takes [`serial`]'s lock and measures deltas around itself; the test harness's
//! own allocations in the meantime are a few kilobytes against the tens of
//! megabytes measured. Run with `--nocapture` to see the figures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ttlru::{Cache, ManualClock, SeenSet};

/// Bytes currently allocated, and the most ever allocated at once since the last
/// [`Measure::start`].
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// `System`, counting the bytes it hands out.
struct Counting;

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::SeqCst).wrapping_add(by);
    PEAK.fetch_max(now, Ordering::SeqCst);
}

fn shrank(by: usize) {
    LIVE.fetch_sub(by, Ordering::SeqCst);
}

// SAFETY: every method passes its arguments unchanged to `System`, which meets the
// `GlobalAlloc` contract; the counting around the calls only reads sizes and
// updates atomics, never touches the memory, and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller meets `alloc`'s requirements (a non-zero size).
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees `ptr` came from this allocator (so from
        // `System`) with this `layout`.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `ptr` came from this allocator (so from
        // `System`) with `layout`, and that `new_size` is valid for its alignment.
        let new_ptr = unsafe { System.realloc(ptr, layout, new_size) };
        if !new_ptr.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        new_ptr
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Scenarios run one at a time: the counters are global.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Allocator deltas from a starting point.
struct Measure {
    base: usize,
}

impl Measure {
    fn start() -> Self {
        let base = LIVE.load(Ordering::SeqCst);
        PEAK.store(base, Ordering::SeqCst);
        Measure { base }
    }

    /// Bytes allocated now beyond the start (negative if fewer).
    fn live(&self) -> isize {
        LIVE.load(Ordering::SeqCst).wrapping_sub(self.base) as isize
    }

    /// The most bytes allocated at once beyond the start.
    fn peak(&self) -> usize {
        PEAK.load(Ordering::SeqCst).saturating_sub(self.base)
    }
}

const N: u64 = 1_000_000;

/// A realistic event ID, built the way services build them.
fn key(i: u64) -> String {
    format!("user{i}:evt-{i:08x}")
}

fn mib(bytes: impl TryInto<i64>) -> f64 {
    bytes.try_into().unwrap_or(i64::MAX) as f64 / (1024.0 * 1024.0)
}

/// Checks what is left after everything went, against the peak.
fn assert_given_back(scenario: &str, left: isize, peak: usize, at_most_percent: f64) {
    let percent = left as f64 * 100.0 / peak as f64;
    println!(
        "{scenario}: {left} bytes ({:.3} MiB, {percent:.3} % of the peak) left",
        mib(left as i64)
    );
    assert!(
        percent < at_most_percent,
        "{scenario}: {left} bytes left of a {peak}-byte peak ({percent:.2} %); \
         expected under {at_most_percent} %"
    );
}

fn fill(seen: &SeenSet<String>) {
    for i in 0..N {
        assert!(seen.insert(key(i)), "key {i} is new");
    }
    assert_eq!(seen.len() as u64, N);
}

/// Scenario 1: a million `String` keys in, all removed: the tables and slabs
/// shrink as shards empty, and less than 5 % of the peak stays allocated.
#[test]
fn removing_every_key_gives_the_memory_back() {
    let _serial = serial();
    let started = Instant::now();
    let measure = Measure::start();
    let seen: SeenSet<String> = SeenSet::builder().build();
    fill(&seen);
    let filled = measure.live();
    let peak = measure.peak();
    println!(
        "remove: {N} keys in {} shards: {filled} bytes live ({:.1} bytes/key, strings included; \
         memory_bytes() {} = {:.1} bytes/key without them), peak {peak} ({:.1} bytes/key), \
         table buckets {}",
        seen.shard_count(),
        filled as f64 / N as f64,
        seen.memory_bytes(),
        seen.memory_bytes() as f64 / N as f64,
        peak as f64 / N as f64,
        seen.stats().table_buckets,
    );
    for i in 0..N {
        assert!(seen.remove(key(i).as_str()), "key {i} was present");
    }
    assert!(seen.is_empty());
    let stats = seen.stats();
    assert_eq!((stats.len, stats.removals), (0, N));
    println!(
        "remove: after removing all: memory_bytes() {}, table buckets {}",
        seen.memory_bytes(),
        stats.table_buckets
    );
    assert_given_back("remove", measure.live(), peak, 5.0);
    drop(seen);
    println!(
        "remove: after drop: {} bytes; took {:.2?}",
        measure.live(),
        started.elapsed()
    );
}

/// Scenario 2: a million keys with a time to live, all expired and purged: less
/// than 5 % of the peak stays allocated.
#[test]
fn expiring_every_key_gives_the_memory_back() {
    let _serial = serial();
    let started = Instant::now();
    let clock = ManualClock::new();
    let measure = Measure::start();
    let seen: SeenSet<String> = SeenSet::builder()
        .time_to_live(Duration::from_secs(60))
        .clock(clock.clone())
        .build();
    fill(&seen);
    let filled = measure.live();
    let peak = measure.peak();
    println!(
        "expire: {N} keys: {filled} bytes live ({:.1} bytes/key, strings included; \
         memory_bytes() {:.1} bytes/key), peak {peak} ({:.1} bytes/key)",
        filled as f64 / N as f64,
        seen.memory_bytes() as f64 / N as f64,
        peak as f64 / N as f64,
    );
    clock.advance(Duration::from_secs(61));
    assert_eq!(seen.purge_expired() as u64, N);
    assert!(seen.is_empty());
    let stats = seen.stats();
    assert_eq!((stats.len, stats.expirations), (0, N));
    assert!(!seen.contains(key(7).as_str()));
    println!(
        "expire: after purge_expired(): memory_bytes() {}, table buckets {}",
        seen.memory_bytes(),
        stats.table_buckets
    );
    assert_given_back("expire", measure.live(), peak, 5.0);
    drop(seen);
    println!("expire: took {:.2?}", started.elapsed());
}

/// Scenario 3: a steady stream of new keys, one per millisecond, with a 10 s time
/// to live and never a `purge_expired()`: writes do the housekeeping, so memory
/// stays within a small multiple of what the live window alone (10,000 keys)
/// takes in a fresh set.
#[test]
fn a_steady_stream_stays_near_its_live_window() {
    const TTL: Duration = Duration::from_secs(10);
    const WINDOW: u64 = 10_000; // TTL / 1 ms
    const SAMPLE_EVERY: u64 = 10_000;
    let _serial = serial();
    let started = Instant::now();

    // The yardstick: a fresh set holding just one window's keys.
    let window_bytes = {
        let clock = ManualClock::new();
        let measure = Measure::start();
        let seen: SeenSet<String> = SeenSet::builder()
            .time_to_live(TTL)
            .clock(clock.clone())
            .build();
        for i in N - WINDOW..N {
            assert!(seen.insert(key(i)));
        }
        let bytes = measure.live();
        println!(
            "stream: a fresh set with the {WINDOW}-key window: {bytes} bytes ({:.1} bytes/key), \
             memory_bytes() {}",
            bytes as f64 / WINDOW as f64,
            seen.memory_bytes()
        );
        bytes
    };

    let clock = ManualClock::new();
    let measure = Measure::start();
    let seen: SeenSet<String> = SeenSet::builder()
        .time_to_live(TTL)
        .clock(clock.clone())
        .build();
    let mut max_sampled = 0isize;
    let mut max_len = 0;
    for i in 0..N {
        assert!(seen.insert(key(i)), "key {i} is new");
        clock.advance(Duration::from_millis(1));
        if (i + 1) % SAMPLE_EVERY == 0 {
            max_sampled = max_sampled.max(measure.live());
            max_len = max_len.max(seen.len());
        }
    }
    let end = measure.live();
    let peak = measure.peak();
    let end_ratio = end as f64 / window_bytes as f64;
    let max_ratio = max_sampled as f64 / window_bytes as f64;
    println!(
        "stream: after {N} inserts: {end} bytes at the end ({end_ratio:.2}x the window), \
         {max_sampled} at most when sampled every {SAMPLE_EVERY} ({max_ratio:.2}x), \
         true peak {peak} ({:.2}x); len() {} at the end, {max_len} at most; took {:.2?}",
        peak as f64 / window_bytes as f64,
        seen.len(),
        started.elapsed()
    );
    assert!(
        end_ratio <= 3.0,
        "a steady stream ends with {end} bytes, {end_ratio:.2}x the {window_bytes} bytes \
         of its live window"
    );
    assert!(
        max_ratio <= 3.0,
        "a steady stream reached {max_sampled} bytes, {max_ratio:.2}x the {window_bytes} \
         bytes of its live window"
    );
}

/// Scenario 4: `clear()` frees the tables, slabs and keys: under 1 % of the peak
/// stays allocated, and no table buckets remain.
#[test]
fn clear_gives_the_memory_back() {
    let _serial = serial();
    let started = Instant::now();
    let measure = Measure::start();
    let seen: SeenSet<String> = SeenSet::builder().build();
    fill(&seen);
    let peak = measure.peak();
    println!(
        "clear: {N} keys: {} bytes live, peak {peak}",
        measure.live()
    );
    seen.clear();
    assert!(seen.is_empty());
    let stats = seen.stats();
    println!(
        "clear: after clear(): memory_bytes() {}, table buckets {}",
        seen.memory_bytes(),
        stats.table_buckets
    );
    assert_given_back("clear", measure.live(), peak, 1.0);
    println!("clear: took {:.2?}", started.elapsed());
    assert_eq!(
        stats.table_buckets,
        0,
        "after clear(), stats().table_buckets should be 0 (no table left) in each of the \
         {} shards",
        seen.shard_count()
    );
    // Still usable, and a key comes back as new.
    assert!(seen.insert(key(1)));
}

/// Scenario 5: `Cache<u64, u64>` with a time to live: bytes per entry, as the
/// allocator sees them and as `memory_bytes()` computes them, which must agree.
#[test]
fn bytes_per_entry_of_a_u64_cache() {
    let _serial = serial();
    let started = Instant::now();
    let clock = ManualClock::new();
    let measure = Measure::start();
    let cache: Cache<u64, u64> = Cache::builder()
        .time_to_live(Duration::from_secs(3600))
        .clock(clock.clone())
        .build();
    let empty = measure.live();
    for i in 0..N {
        assert_eq!(cache.insert(i, i), None);
    }
    assert_eq!(cache.len() as u64, N);
    let allocated = measure.live();
    let reported = cache.memory_bytes();
    let per_entry = allocated as f64 / N as f64;
    let reported_per_entry = reported as f64 / cache.len() as f64;
    let difference = (allocated as f64 - reported as f64) / allocated as f64 * 100.0;
    println!(
        "u64 cache: {N} entries in {} shards: allocator {allocated} bytes ({per_entry:.2} \
         bytes/entry; {empty} when empty), memory_bytes() {reported} ({reported_per_entry:.2} \
         bytes/entry), difference {difference:+.2} %, peak {} ({:.2} bytes/entry), table \
         buckets {}; took {:.2?}",
        cache.shard_count(),
        measure.peak(),
        measure.peak() as f64 / N as f64,
        cache.stats().table_buckets,
        started.elapsed()
    );
    assert!(
        difference.abs() <= 3.0,
        "memory_bytes() says {reported} bytes, the allocator {allocated} ({difference:+.2} %)"
    );
    assert!(
        per_entry <= 64.0,
        "{per_entry:.2} bytes per Cache<u64, u64> entry"
    );
}

/// A `FingerprintSet` of a million keys, emptied by `remove` and then (refilled)
/// by expiry and `purge_expired`: under 1 % of the peak stays each time, and a
/// live entry costs at most 48 bytes.
#[test]
fn a_fingerprint_set_gives_the_memory_back() {
    let _serial = serial();
    let clock = ManualClock::new();
    let measure = Measure::start();
    let set: ttlru::FingerprintSet<str> = ttlru::FingerprintSet::builder()
        .max_capacity(2 * N)
        .time_to_live(Duration::from_secs(60))
        .clock(clock.clone())
        .build();
    let mut buffer = String::new();
    let mut fill = |set: &ttlru::FingerprintSet<str>| {
        for i in 0..N {
            use std::fmt::Write;
            buffer.clear();
            write!(buffer, "user{i}:evt-{i:08x}").unwrap();
            assert!(set.insert(&buffer), "key {i} is new");
        }
    };
    fill(&set);
    let filled = measure.live();
    let per_entry = filled as f64 / N as f64;
    println!("fingerprints: {N} live take {filled} bytes, {per_entry:.1} bytes/entry");
    assert!(per_entry <= 48.0, "{per_entry:.1} bytes per entry");
    for i in 0..N {
        assert!(set.remove(format!("user{i}:evt-{i:08x}").as_str()));
    }
    assert_given_back(
        "fingerprints, removed",
        measure.live(),
        filled as usize,
        1.0,
    );
    fill(&set);
    clock.advance(Duration::from_secs(60));
    assert_eq!(set.purge_expired() as u64, N);
    assert_given_back(
        "fingerprints, expired",
        measure.live(),
        filled as usize,
        1.0,
    );
}
