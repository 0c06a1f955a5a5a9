//! One kind of operation repeated, for counting its instructions with valgrind's
//! callgrind (repeatable where wall-clock time on a shared machine is not):
//!
//! ```text
//! cargo build --release --example operation_cost
//! valgrind --tool=callgrind --toggle-collect='*operation_cost*measured*' \
//!     target/release/examples/operation_cost get-hit 200000
//! ```
//!
//! Only `measured` is counted (the set-up before it is not), so the total divided
//! by the count is the cost of one operation, amortised drains included. Every
//! kind works on a structure of `u64` keys with the default number of shards and
//! a fixed hasher (the same placement in every run): for hits, 100,000 keys
//! present; for new keys, full, so that each insert evicts one. The kinds:
//!
//! - `get-hit`, `get-miss`, `peek-hit`: `Cache::get` / `Cache::peek`.
//! - `insert-new`: `Cache::insert` of absent keys (each evicts the least recent).
//! - `seen-repeat`, `seen-new`: `SeenSet::insert` of a present / absent key.
//! - `fingerprint-repeat`, `fingerprint-new`: the same on a `FingerprintSet`.
//! - `get-or-insert-hit`: `Cache::get_or_insert_with` of a present key.

use std::hash::{BuildHasherDefault, DefaultHasher};
use std::hint::black_box;
use std::process::ExitCode;

use ttlru::{Cache, FingerprintSet, SeenSet};

const CAPACITY: u64 = 100_000;

/// A fixed hasher, so that every run (and the build before a change and the one
/// after it) puts each key in the same shard and table slot.
type FixedHasher = BuildHasherDefault<DefaultHasher>;

/// A fixed walk over the `CAPACITY` keys present, not sequential, so that the
/// hits spread over the shards and the LRU list as a real workload's would.
fn present(i: u64) -> u64 {
    i.wrapping_mul(7_919) % CAPACITY
}

/// Keys never inserted before.
fn absent(i: u64) -> u64 {
    2 * CAPACITY + i
}

/// How a structure is prepared: for hits, room for twice the keys, so that all
/// `CAPACITY` stay however they spread over the shards; for new keys, filled with
/// twice its capacity, so that every shard is full and each insert evicts one.
#[derive(Clone, Copy)]
enum Prepared {
    ForHits,
    Full,
}

impl Prepared {
    fn capacity_and_keys(self) -> (u64, u64) {
        match self {
            Prepared::ForHits => (2 * CAPACITY, CAPACITY),
            Prepared::Full => (CAPACITY, 2 * CAPACITY),
        }
    }
}

fn cache(prepared: Prepared) -> Cache<u64, u64, FixedHasher> {
    let (capacity, keys) = prepared.capacity_and_keys();
    let cache = Cache::builder()
        .max_capacity(capacity)
        .hasher(FixedHasher::default())
        .build();
    for key in 0..keys {
        cache.insert(key, key);
    }
    cache
}

fn seen_set(prepared: Prepared) -> SeenSet<u64, FixedHasher> {
    let (capacity, keys) = prepared.capacity_and_keys();
    let set = SeenSet::builder()
        .max_capacity(capacity)
        .hasher(FixedHasher::default())
        .build();
    for key in 0..keys {
        set.insert(key);
    }
    set
}

fn fingerprint_set(prepared: Prepared) -> FingerprintSet<u64> {
    let (capacity, keys) = prepared.capacity_and_keys();
    let set = FingerprintSet::builder()
        .max_capacity(capacity)
        .fingerprint_key(0x5eed)
        .build();
    for key in 0..keys {
        set.insert(&key);
    }
    set
}

/// The counted loop: `operation(i)` for `i` in `0..count`.
#[inline(never)]
fn measured(count: u64, mut operation: impl FnMut(u64)) {
    for i in 0..count {
        operation(i);
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (kind, count) = match args.as_slice() {
        [kind, count] => match count.parse::<u64>() {
            Ok(count) => (kind.as_str(), count),
            Err(_) => return usage(),
        },
        _ => return usage(),
    };
    match kind {
        "get-hit" => {
            let cache = cache(Prepared::ForHits);
            measured(count, |i| {
                black_box(cache.get(&present(i)));
            });
        }
        "get-miss" => {
            let cache = cache(Prepared::ForHits);
            measured(count, |i| {
                black_box(cache.get(&absent(i)));
            });
        }
        "peek-hit" => {
            let cache = cache(Prepared::ForHits);
            measured(count, |i| {
                black_box(cache.peek(&present(i)));
            });
        }
        "insert-new" => {
            let cache = cache(Prepared::Full);
            measured(count, |i| {
                black_box(cache.insert(absent(i), i));
            });
        }
        "get-or-insert-hit" => {
            let cache = cache(Prepared::ForHits);
            measured(count, |i| {
                black_box(cache.get_or_insert_with(present(i), || i));
            });
        }
        "seen-repeat" => {
            let set = seen_set(Prepared::ForHits);
            measured(count, |i| {
                black_box(set.insert(present(i)));
            });
        }
        "seen-new" => {
            let set = seen_set(Prepared::Full);
            measured(count, |i| {
                black_box(set.insert(absent(i)));
            });
        }
        "fingerprint-repeat" => {
            let set = fingerprint_set(Prepared::ForHits);
            measured(count, |i| {
                black_box(set.insert(&present(i)));
            });
        }
        "fingerprint-new" => {
            let set = fingerprint_set(Prepared::Full);
            measured(count, |i| {
                black_box(set.insert(&absent(i)));
            });
        }
        _ => return usage(),
    }
    ExitCode::SUCCESS
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: operation_cost KIND COUNT\n  KIND: get-hit get-miss peek-hit insert-new \
         get-or-insert-hit seen-repeat seen-new fingerprint-repeat fingerprint-new"
    );
    ExitCode::FAILURE
}
