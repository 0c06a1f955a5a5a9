//! A concurrent map and set bounded by capacity and by time (LRU + TTL/TTI),
//! whose memory follows its live size down as well as up.
//!
//! The problem it solves: services keep "seen sets" of event IDs to drop
//! duplicates, written as an unbounded `HashSet<String>` that grows until the
//! process falls over, and deleting keys does not help, because hash tables keep
//! their bucket arrays. [`SeenSet`] is the drop-in that forgets keys after a time
//! window or past a capacity, gives the memory back, and keeps its dedup promise
//! across threads. [`FingerprintSet`] does the same without storing keys, in a fixed
//! ~45 bytes per entry. [`Cache`] is the same machinery as a map.
//!
//! ```
//! use std::time::Duration;
//! use ttlru::{Cache, SeenSet};
//!
//! let seen: SeenSet<String> = SeenSet::builder()
//!     .max_capacity(1 << 20)
//!     .time_to_live(Duration::from_secs(3600))
//!     .build();
//! assert!(seen.insert("user42:evt-9f3c".to_string())); // first sighting
//! assert!(!seen.insert("user42:evt-9f3c".to_string())); // duplicate
//!
//! let cache: Cache<String, u64> = Cache::new(10_000);
//! cache.insert("answer".to_string(), 42);
//! assert_eq!(cache.get("answer"), Some(42));
//! ```
//!
//! # Guarantees
//! - An expired entry is never observed: not by `get`, `peek`, `contains*`, nor
//!   an insert's return value; `len()` counts it only until it is purged.
//! - `len()` (or the total weight) never exceeds the capacity; each shard evicts
//!   its least recently used entry first. With one shard the cache is an exact LRU.
//! - Hits do not wait for each other: `get`, `peek`, `contains*` and a repeated
//!   set insert take their shard's lock shared. A hit's promotion is recorded and
//!   applied, in order, before the shard's next change, and never dropped, so one
//!   thread sees exactly the LRU order of applying it at once. Hits by different
//!   threads between two changes of a shard are applied in each thread's order,
//!   interleaved as those concurrent calls could have been. A time to idle is
//!   extended by a hit before any other call can see the entry as idle too long.
//! - [`SeenSet::insert`] returns `true` exactly once per key per window, however
//!   many threads insert it at once.
//! - Every removed entry reaches the eviction listener exactly once, with its
//!   [`RemovalCause`], after the shard's lock is released.
//! - Memory grows with the live entries and shrinks back when they go (tables and
//!   slabs shrink once a shard is under a quarter full).
//! - A panic in user code (`Hash`, `Eq`, `Clone`, `Drop`, weigher, listener,
//!   loader) leaves every shard consistent and usable, and every removed entry
//!   still reaches the listener: see [Panics in user code](#panics-in-user-code).
//! - A snapshot restores each shard as it was at one instant, in recency order,
//!   with the downtime counted against every deadline; a bad snapshot loads
//!   nothing and returns a [`SnapshotError`] that says what is wrong.
//!
//! # Panics in user code
//! The sets and the cache call user code: the `Hash`, `Eq`, `Clone` and `Drop` of
//! keys and values, the weigher, the eviction listener, and the loaders of
//! [`Cache::get_or_insert_with`] and its `try` and `async` forms. Any of it may
//! panic, in any operation. The panic reaches the operation's caller, and every
//! shard stays consistent and usable: `len()` stays exact, no entry is half
//! written, no key is left loading, no caller is left waiting, and every entry
//! that leaves reaches the listener exactly once. What the operation has done
//! depends on what panicked:
//! - `Hash`: nothing. A key is hashed before anything else.
//! - `Eq`, the weigher: nothing, since they run before any change; except while a
//!   load completes, after its key was claimed: the load gives up, as below.
//! - A loader (or its future): its load gives up. Nothing is stored, the key is
//!   released, and a caller waiting for it loads instead.
//! - `Clone` of a value: a read (`get`, `peek`, a hit) changed at most the
//!   entry's recency; a write that hands the old value back (`insert`, `remove`)
//!   is done, and the listener got the value itself; a load gives up if its
//!   value is copied before it is stored, and is done if the copy is for its
//!   waiters (they find the value).
//! - The listener, or `Drop` of a key or value: the operation's whole effect is
//!   done, and every other entry it removed has been delivered (or dropped),
//!   before the first panic is raised; [`clear`](Cache::clear) and
//!   [`purge_expired`](Cache::purge_expired) finish every shard first. The one
//!   exception: `get_or_insert_with` delivers its key's own expired entry when it
//!   claims the key, before loading, and a panic there gives up the load.
//!
//! A panic while a snapshot is saved (`Clone`, `Serialize`) changes nothing in the
//! set, and one while it is restored builds nothing. The background sweeper and
//! the periodic saver catch the panics of what they call, and keep going.
//!
//! # Where things live
//! - `cache`, `seen_set`, `fingerprint_set`: the public [`Cache`], [`SeenSet`] and
//!   [`FingerprintSet`]; `fingerprint`: the keyed 128-bit SipHash behind the last;
//!   `set_engine`: [`SetEngine`], the operations both sets share, written once.
//! - `builder`: options and the shard-count rule; `clock`: time, and [`ManualClock`].
//! - `store`: the shards together, the read and write paths, and listener
//!   delivery; `shard`: one shard's table, capacity and shrink rules.
//! - The read path: `shard_lock` puts a shard behind its reader-writer lock and
//!   starts every exclusive section by applying the `access_buffer`, where hits
//!   under the shared lock record their promotions; `sync` swaps both for
//!   `shuttle`'s in the schedule-exploration tests.
//! - `slab`: dense node storage with the intrusive LRU list; `timer_wheel`: the
//!   hierarchical timer wheel; `deadline`: 4-byte exact deadlines.
//! - `in_flight`: the waits of single-flight loading (`get_or_insert_with` and its
//!   `try` and `async` forms, which `store` runs); `removal`: causes and delivery;
//!   `sweeper`: background threads on a timer; `stats`: counters; `metrics`
//!   (feature `metrics`): publishing them through the `metrics` facade.
//! - Snapshots: `snapshot` saves a store shard by shard and restores it in
//!   recency order ([`SnapshotInfo`], [`SnapshotEntry`]); `snapshot_format` is the
//!   file layout and [`SnapshotError`]; `snapshot_file` the crash-safe file
//!   write; `checksum` the CRC-32C of every block; `persistence` the periodic
//!   saver behind `persist_to`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod access_buffer;
mod builder;
mod cache;
mod checksum;
mod clock;
mod deadline;
mod fingerprint;
mod fingerprint_set;
mod in_flight;
#[cfg(feature = "metrics")]
mod metrics;
mod persistence;
mod removal;
mod seen_set;
mod set_engine;
mod shard;
mod shard_lock;
mod slab;
mod snapshot;
mod snapshot_file;
mod snapshot_format;
mod stats;
mod store;
mod sweeper;
mod sync;
mod timer_wheel;

pub use builder::{CacheBuilder, DefaultHasher, MAX_SHARDS};
pub use cache::Cache;
pub use clock::ManualClock;
pub use fingerprint::keyed_fingerprint;
pub use fingerprint_set::{FingerprintSet, FingerprintSetBuilder, StoredBits};
pub use removal::RemovalCause;
pub use seen_set::{SeenSet, SeenSetBuilder};
pub use set_engine::SetEngine;
pub use snapshot::{SnapshotEntry, SnapshotInfo};
pub use snapshot_format::{SnapshotError, SnapshotKind};
pub use stats::Stats;

/// Compile-time checks, never called: every public type is `Send + Sync` when its
/// parameters are (so it can be shared through an `Arc`), and `Debug` whatever they
/// are (its `Debug` shows sizes and options, never entries).
#[allow(dead_code)]
fn public_types_are_send_sync_and_debug<K: Send + Sync, V: Send + Sync, S: Send + Sync>() {
    fn send_sync<T: Send + Sync + ?Sized>() {}
    fn debug<T: std::fmt::Debug + ?Sized>() {}
    send_sync::<Cache<K, V, S>>();
    send_sync::<CacheBuilder<K, V, S>>();
    send_sync::<SeenSet<K, S>>();
    send_sync::<SeenSetBuilder<K, S>>();
    send_sync::<FingerprintSet<str>>();
    send_sync::<FingerprintSetBuilder<str>>();
    send_sync::<ManualClock>();
    send_sync::<RemovalCause>();
    send_sync::<Stats>();
    send_sync::<SetEngine<K, S>>();
    send_sync::<SnapshotInfo>();
    send_sync::<SnapshotError>();
    send_sync::<SnapshotKind>();
    debug::<Cache<K, V, S>>();
    debug::<CacheBuilder<K, V, S>>();
    debug::<SeenSet<K, S>>();
    debug::<SeenSetBuilder<K, S>>();
    debug::<FingerprintSet<str>>();
    debug::<FingerprintSetBuilder<str>>();
    debug::<ManualClock>();
    debug::<RemovalCause>();
    debug::<Stats>();
    debug::<SetEngine<K, S>>();
    debug::<SnapshotInfo>();
    debug::<SnapshotError>();
    debug::<SnapshotKind>();
}

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
