//! Bytes per entry of a seen set, whatever the key length: `FingerprintSet<str>`
//! against `SeenSet<String>`, `std::collections::HashSet<String>`, `quick_cache`
//! and `moka`, on the same keys, measured with a counting global allocator; then
//! what comes back (allocator and RSS) after every fingerprint is removed or
//! expires; then insert throughput on 20-byte keys.
//!
//! ```text
//! cargo run --release --example fingerprint_memory            # 1 M and 10 M entries
//! cargo run --release --example fingerprint_memory -- --quick # 100 k, for CI
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ttlru::{FingerprintSet, ManualClock, SeenSet};

/// Counts live heap bytes.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the counter is only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same layout, passed straight through.
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: `pointer` came from `alloc` with this layout.
        unsafe { System.dealloc(pointer, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's guarantees are System's.
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            LIVE.fetch_add(new_size, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Resident set size from `/proc/self/statm` (Linux), in bytes.
fn rss() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

/// Key number `i`, exactly `length` bytes: an event-ID-like prefix, zero-padded.
fn write_key(buffer: &mut String, i: u64, length: usize) {
    use std::fmt::Write;
    buffer.clear();
    let _ = write!(buffer, "evt-{i:0width$x}", width = length - 4);
}

fn key(i: u64, length: usize) -> String {
    let mut buffer = String::with_capacity(length);
    write_key(&mut buffer, i, length);
    buffer
}

/// Fills a structure with `n` keys and returns its live bytes per entry.
fn bytes_per_entry(n: u64, fill: impl FnOnce() -> Box<dyn std::any::Any>) -> f64 {
    let before = live();
    let structure = fill();
    let bytes = live() - before;
    drop(structure);
    bytes as f64 / n as f64
}

fn table_row(name: &str, length: usize, n: u64, per_entry: f64) {
    println!("| {name} | {length} | {n} | {per_entry:.1} |");
}

fn memory_table(sizes: &[u64], peers_up_to: u64) {
    let ttl = Duration::from_secs(3600);
    println!("## Live bytes per entry (LRU + 1 h TTL where supported)\n");
    println!("| structure | key bytes | entries | bytes/entry |");
    println!("|---|---|---|---|");
    for &n in sizes {
        for length in [16, 64] {
            let per_entry = bytes_per_entry(n, || {
                let set: FingerprintSet<str> = FingerprintSet::builder()
                    .max_capacity(n + n / 8)
                    .time_to_live(ttl)
                    .build();
                let mut buffer = String::with_capacity(length);
                for i in 0..n {
                    write_key(&mut buffer, i, length);
                    set.insert(&buffer);
                }
                Box::new(set)
            });
            table_row("ttlru::FingerprintSet<str>", length, n, per_entry);
            let per_entry = bytes_per_entry(n, || {
                let set: SeenSet<String> = SeenSet::builder()
                    .max_capacity(n + n / 8)
                    .time_to_live(ttl)
                    .build();
                for i in 0..n {
                    set.insert(key(i, length));
                }
                Box::new(set)
            });
            table_row("ttlru::SeenSet<String>", length, n, per_entry);
            if n > peers_up_to {
                continue;
            }
            let per_entry = bytes_per_entry(n, || {
                let mut set = HashSet::new();
                for i in 0..n {
                    set.insert(key(i, length));
                }
                Box::new(set)
            });
            table_row("std HashSet<String> (unbounded)", length, n, per_entry);
            let per_entry = bytes_per_entry(n, || {
                let cache = quick_cache::sync::Cache::<String, ()>::new((n + n / 8) as usize);
                for i in 0..n {
                    cache.insert(key(i, length), ());
                }
                Box::new(cache)
            });
            table_row("quick_cache::sync::Cache<String, ()>", length, n, per_entry);
            let per_entry = bytes_per_entry(n, || {
                let cache = moka::sync::Cache::<String, ()>::builder()
                    .max_capacity(n + n / 8)
                    .time_to_live(ttl)
                    .build();
                for i in 0..n {
                    cache.insert(key(i, length), ());
                }
                cache.run_pending_tasks();
                Box::new(cache)
            });
            table_row("moka::sync::Cache<String, ()>", length, n, per_entry);
        }
    }
}

/// Fills a FingerprintSet, empties it (by `remove`, or by expiry and
/// `purge_expired`), and reports what the allocator and the OS got back.
fn give_back(n: u64, by_expiry: bool) {
    let clock = ManualClock::new();
    let before = live();
    let set: FingerprintSet<str> = FingerprintSet::builder()
        .time_to_live(Duration::from_secs(60))
        .clock(clock.clone())
        .build();
    let mut buffer = String::new();
    for i in 0..n {
        write_key(&mut buffer, i, 20);
        set.insert(&buffer);
    }
    let peak = live() - before;
    let rss_peak = rss();
    if by_expiry {
        clock.advance(Duration::from_secs(61));
        assert_eq!(set.purge_expired() as u64, n);
    } else {
        for i in 0..n {
            write_key(&mut buffer, i, 20);
            assert!(set.remove(buffer.as_str()));
        }
    }
    let left = live() - before;
    let rss_after = rss();
    let how = if by_expiry {
        "expire + purge_expired()"
    } else {
        "remove() each"
    };
    let show_rss =
        |rss: Option<usize>| rss.map_or("n/a".to_string(), |b| format!("{:.1} MiB", mib(b)));
    println!(
        "| {how} | {:.1} MiB | {:.1} KiB | {:.3} % | {} | {} |",
        mib(peak),
        left as f64 / 1024.0,
        100.0 * left as f64 / peak as f64,
        show_rss(rss_peak),
        show_rss(rss_after),
    );
    drop(set);
}

fn give_back_table(n: u64) {
    println!("\n## After every fingerprint is gone ({n} entries, 20-byte keys)\n");
    println!("| how | peak live | left after | left / peak | RSS at peak | RSS after |");
    println!("|---|---|---|---|---|---|");
    // Each in a fresh process, so the RSS figures are this set's alone and not
    // memory the allocator kept from the structures measured before.
    for mode in ["remove", "expire"] {
        let status = std::process::Command::new(std::env::current_exe().expect("own path"))
            .args(["--give-back", &n.to_string(), mode])
            .status()
            .expect("run the give-back child");
        assert!(status.success());
    }
    println!(
        "\nWhat stays is per shard, not per entry: a 32-slot table and slab that are not\n\
         worth shrinking, and the timer wheel (freed by `purge_expired` once the shard is empty)."
    );
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Insert throughput of distinct 20-byte keys: `FingerprintSet<str>` given `&str`
/// against `SeenSet<String>` given pre-built `String`s (moved in, no allocation).
/// The two alternate within each run, so both see the same machine load.
fn throughput(n: u64, runs: usize) {
    println!("\n## Insert throughput, {n} distinct 20-byte keys, 1 thread (median of {runs})\n");
    let keys: Vec<String> = (0..n).map(|i| key(i, 20)).collect();
    let (mut fingerprints, mut strings) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let set: FingerprintSet<str> = FingerprintSet::builder()
            .max_capacity(2 * n)
            .time_to_live(Duration::from_secs(3600))
            .build();
        let start = Instant::now();
        for key in &keys {
            set.insert(key.as_str());
        }
        fingerprints.push(start.elapsed());
        let set: SeenSet<String> = SeenSet::builder()
            .max_capacity(2 * n)
            .time_to_live(Duration::from_secs(3600))
            .build();
        let owned = keys.clone();
        let start = Instant::now();
        for key in owned {
            set.insert(key);
        }
        strings.push(start.elapsed()); // dropping the set is not timed
    }
    let rate = |times: Vec<Duration>| n as f64 / median(times).as_secs_f64() / 1e6;
    let (fingerprints, strings) = (rate(fingerprints), rate(strings));
    println!("| structure | M inserts/s | ratio |");
    println!("|---|---|---|");
    println!(
        "| ttlru::FingerprintSet<str>, &str keys | {fingerprints:.2} | {:.2} |",
        fingerprints / strings
    );
    println!("| ttlru::SeenSet<String>, pre-built Strings | {strings:.2} | 1.00 |");
}

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let child: Vec<String> = std::env::args()
        .skip_while(|arg| arg != "--give-back")
        .collect();
    if let [_, n, mode] = child.as_slice() {
        give_back(n.parse().expect("--give-back N MODE"), mode == "expire");
        return;
    }
    let started = Instant::now();
    println!(
        "# FingerprintSet memory ({} cores, `cargo run --release --example fingerprint_memory{}`)\n",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        if quick { " -- --quick" } else { "" }
    );
    let (sizes, peers_up_to, give_back_entries, throughput_entries) = if quick {
        (vec![100_000], 100_000, 100_000, 100_000)
    } else {
        (
            vec![1_000_000, 10_000_000],
            1_000_000,
            10_000_000,
            1_000_000,
        )
    };
    memory_table(&sizes, peers_up_to);
    give_back_table(give_back_entries);
    throughput(throughput_entries, if quick { 3 } else { 9 });
    eprintln!("\ndone in {:.1} s", started.elapsed().as_secs_f64());
}
